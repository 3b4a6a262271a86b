/* fuzz_config.c - libFuzzer target for the config parser and room matcher.
 *
 * Parses the input as a config file (from an exact-size heap copy, so any
 * read past the end is caught) and checks what a successful parse promises:
 * at least one listener, a transport, a path framed by '/', an output cap
 * that holds one full message, "/" first among 1..64 well-formed
 * namespaces, distinct join and leave events, a jwt_jwks_url that splits
 * into host, port and path; a failed parse reports
 * "FILE:LINE: ...".  Then every namespace's patterns are matched against
 * rooms cut from the input (the whole of it, each line, and a comment line
 * "#ROOM" as ROOM; exact-size copies too), with an auth callback
 * that answers from the input, so the matcher sees the parser's output and
 * arbitrary values, and must agree that "*" allows anything.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A placeholder's value: for <name> (what its braces hold: auth.FIELD,
 * sub or claims.FIELD), FIELD "empty" is "" and "missing" absent; any
 * other value is the name doubled, handed out of one static buffer as
 * nsp.c's numbers are. */
static const char *fuzz_auth_field(void *ctx, const char *name, size_t name_len,
				   size_t *value_len)
{
	static char value[2 * CONFIG_MAX_ROOM_PATTERN];
	const char *dot = memchr(name, '.', name_len);
	const char *field = dot ? dot + 1 : name;
	size_t field_len = name_len - (size_t)(field - name);

	(void)ctx;
	assert(name_len > 0 && name_len <= CONFIG_MAX_ROOM_PATTERN);
	if (field_len == 7 && memcmp(field, "missing", 7) == 0)
		return NULL;
	if (field_len == 5 && memcmp(field, "empty", 5) == 0) {
		*value_len = 0;
		return value;
	}
	memcpy(value, name, name_len);
	memcpy(value + name_len, name, name_len);
	*value_len = 2 * name_len;
	return value;
}

static void fuzz_check_namespaces(const struct config *cfg)
{
	assert(cfg->n_namespaces >= 1 && cfg->n_namespaces <= CONFIG_MAX_NAMESPACES);
	assert(strcmp(cfg->namespaces[0].name, "/") == 0);
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const struct config_namespace *ns = &cfg->namespaces[i];
		assert(ns->name[0] == '/' && strlen(ns->name) == ns->name_len);
		assert(ns->name_len <= CONFIG_MAX_NSP_NAME);
		assert(!strpbrk(ns->name, ",# "));
		assert(i == 0 || ns->line > 0);
		for (size_t j = 0; j < i; j++)
			assert(strcmp(cfg->namespaces[j].name, ns->name) != 0);
		assert(ns->n_client_join <= CONFIG_MAX_CLIENT_JOIN);
		for (size_t j = 0; j < ns->n_client_join; j++)
			assert(ns->client_join[j][0] != '\0');
		assert(ns->join_event[0] != '\0' && ns->leave_event[0] != '\0');
		assert(strcmp(ns->join_event, ns->leave_event) != 0);
		assert(ns->max_rooms_per_socket <= 100000);
		if (ns->jwt_key == CONFIG_JWT_KEY_URL) {
			/* what jwks.c splits again at run time, never failing */
			struct config_url url;
			char why[128];

			assert(ns->auth == CONFIG_AUTH_JWT);
			assert(config_url_split(ns->jwt_key_file, &url, why, sizeof why) == 0);
			assert(url.host[0] != '\0' && url.port != 0 && url.path[0] != '\0');
		}
	}
}

static void fuzz_match_rooms(const struct config *cfg, const uint8_t *data, size_t size)
{
	/* Rooms: the whole input when it fits, then its lines. */
	size_t start = 0;

	for (size_t end = 0; end <= size; end++) {
		if (end < size && data[end] != '\n')
			continue;
		if (start < end && data[start] == '#')
			start++;
		size_t len = end - start;
		if (start == 0 && size <= CONFIG_MAX_ROOM_NAME)
			len = size;
		if (len <= CONFIG_MAX_ROOM_NAME) {
			char *room = malloc(len ? len : 1);
			memcpy(room, data + start, len);
			for (size_t i = 0; i < cfg->n_namespaces; i++) {
				const struct config_namespace *ns = &cfg->namespaces[i];
				bool ok = config_room_allowed(ns, room, len, fuzz_auth_field, NULL);
				for (size_t j = 0; j < ns->n_client_join; j++) {
					if (strcmp(ns->client_join[j], "*") == 0)
						assert(ok);
				}
				(void)config_room_allowed(ns, room, len, NULL, NULL);
			}
			free(room);
		}
		start = end + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = malloc(sizeof *cfg);
	char err[CONFIG_ERR_LEN];
	char *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	config_defaults(cfg);
	if (config_parse(cfg, copy, size, "f", err, sizeof err) == 0) {
		assert(cfg->n_listen >= 1 && cfg->n_listen <= CONFIG_MAX_LISTEN);
		assert(cfg->transports != 0);
		assert(cfg->path[0] == '/' && cfg->path[strlen(cfg->path) - 1] == '/');
		assert(cfg->max_output_buffer >= cfg->max_payload);
		fuzz_check_namespaces(cfg);
		fuzz_match_rooms(cfg, data, size);
	} else {
		assert(strncmp(err, "f:", 2) == 0);
	}
	free(copy);
	free(cfg);
	return 0;
}
