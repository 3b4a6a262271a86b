/* sockauth.c - what a socket keeps of its CONNECT auth and its token (see
 * sockauth.h).
 *
 * Owns the layout of the block: built in two passes over the same code,
 * measuring (no output) then writing, so that one allocation fits it
 * exactly.  Does not own what a placeholder's value is (auth.c:
 * auth_placeholder_value()), which placeholders a namespace uses
 * (config.c), nor when the block is made or dropped (nsp.c).
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "sockauth.h"

/* Building a block's fields: measured first (<out> NULL), then written. */
struct sockauth_build {
	const json_t *payload;         /* the CONNECT auth object, or NULL */
	const json_t *claims;          /* the token's claims, or NULL */
	size_t max_value;              /* longer values can match no room */
	struct sockauth *out;
	size_t len;                    /* bytes of fields measured or written */
};

const char *sockauth_find(const struct sockauth *a, const char *field, size_t field_len,
			  size_t *value_len)
{
	const char *p = a->data + a->json_len, *end = p + a->fields_len;

	while (p < end) {
		size_t name_len = strlen(p);
		const uint8_t *len = (const uint8_t *)p + name_len + 1;
		size_t n = (size_t)len[0] << 8 | len[1];
		if (name_len == field_len && memcmp(p, field, field_len) == 0) {
			*value_len = n;
			return (const char *)len + 2;
		}
		p = (const char *)len + 2 + n;
	}
	return NULL;
}

static void sockauth_add_field(void *ctx, const char *name, size_t name_len)
{
	struct sockauth_build *b = ctx;
	char number[24];
	size_t len, ignored;
	const char *value = auth_placeholder_value(b->payload, b->claims, name, name_len, number, &len);

	if (!value || len > b->max_value)
		return;
	if (b->out) {
		b->out->fields_len = b->len;
		if (sockauth_find(b->out, name, name_len, &ignored))
			return; /* named by two patterns: kept once */
		char *p = b->out->data + b->out->json_len + b->len;
		memcpy(p, name, name_len);
		p[name_len] = '\0';
		p[name_len + 1] = (char)(len >> 8);
		p[name_len + 2] = (char)(len & 0xff);
		memcpy(p + name_len + 3, value, len);
	}
	b->len += name_len + 3 + len;
}

/* Writes the globs of <list> (an array, may be NULL) at <out>, or only
 * measures them with <out> NULL; returns their bytes. */
static size_t sockauth_put_globs(const json_t *list, char *out)
{
	size_t n = 0, i;
	const json_t *v;

	json_array_foreach(list, i, v) {
		size_t len = json_string_length(v);
		if (!json_is_string(v) || len > CONFIG_MAX_ROOM_PATTERN)
			continue;
		if (out) {
			out[n] = (char)(len >> 8);
			out[n + 1] = (char)(len & 0xff);
			memcpy(out + n + 2, json_string_value(v), len);
		}
		n += 2 + len;
	}
	return n;
}

/* The fields a block keeps: its room patterns' placeholders, and with
 * auth jwt the token's sub (auth backend: the user a backend named), the
 * `user` of its backend records (measured twice when a pattern names it
 * too: a few bytes spare, never short). */
static void sockauth_add_fields(const struct config_namespace *ns, struct sockauth_build *b)
{
	config_each_placeholder(ns, sockauth_add_field, b);
	if (ns->auth != CONFIG_AUTH_NONE)
		sockauth_add_field(b, "sub", 3);
}

struct sockauth *sockauth_new(const struct config_namespace *ns, const char *json,
			      size_t json_len, const json_t *payload, const json_t *claims,
			      size_t max_value)
{
	struct sockauth_build b = { payload, claims, max_value, NULL, 0 };
	const json_t *globs = auth_claim_list(claims, ns->allow_join_claim);
	size_t globs_len = sockauth_put_globs(globs, NULL);

	sockauth_add_fields(ns, &b);
	struct sockauth *a = malloc(sizeof *a + json_len + b.len + globs_len);
	if (!a)
		return NULL;
	a->expiry = NULL;
	a->backend_data = NULL;
	a->json_len = json_len;
	if (json_len)
		memcpy(a->data, json, json_len);
	b.out = a;
	b.len = 0;
	sockauth_add_fields(ns, &b);
	a->fields_len = b.len;
	a->globs_len = sockauth_put_globs(globs, a->data + a->json_len + a->fields_len);
	return a;
}

void sockauth_free(struct sockauth *a)
{
	if (!a)
		return;
	if (a->expiry)
		event_free(a->expiry);
	free(a->backend_data);
	free(a);
}

bool sockauth_may_join(const struct sockauth *a, const char *room, size_t room_len)
{
	const char *p = a ? a->data + a->json_len + a->fields_len : NULL;
	const char *end = a ? p + a->globs_len : NULL;

	while (p < end) {
		size_t len = (size_t)(uint8_t)p[0] << 8 | (uint8_t)p[1];
		if (config_glob_allows(p + 2, len, room, room_len))
			return true;
		p += 2 + len;
	}
	return false;
}
