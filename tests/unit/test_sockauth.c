/* test_sockauth.c - unit tests for sockauth.c, the block a socket keeps of
 * its CONNECT auth and its token.
 *
 * A namespace is parsed from config text whose client_join patterns name
 * {auth.FIELD}, {sub} and {claims.FIELD}.  Covers: the auth text kept as
 * sent; each placeholder's value found (strings as they are, integers in
 * decimal), named twice and kept once; `sub` kept for a namespace with
 * auth even when no pattern names it; values past max_value, of another
 * type or absent left out; allow_join globs (strings only, too long ones
 * left out) and a NULL block joining nothing.  Not covered here: when
 * nsp.c makes the block (tests/integration/auth-jwt.test.js,
 * sio-rooms.test.js).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "sockauth.h"

static const char sockauth_test_conf[] =
	"namespace /a {\n"
	"    auth jwt\n"
	"    jwt_secret_file /nonexistent/read/by/auth_init/only\n"
	"    client_join room:{auth.room} n:{auth.n} u:{sub} t:{claims.team} again:{auth.room}\n"
	"    allow_join_claim aj\n"
	"}\n"
	"namespace /open {\n"
	"    client_join room:{auth.room}\n"
	"}\n";

static struct config sockauth_test_cfg;

static int sockauth_test_setup(void **state)
{
	char err[256];

	config_defaults(&sockauth_test_cfg);
	if (config_parse(&sockauth_test_cfg, sockauth_test_conf, strlen(sockauth_test_conf),
			 "t.conf", err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	return 0;
}

static const struct config_namespace *sockauth_test_ns(const char *name)
{
	for (size_t i = 0; i < sockauth_test_cfg.n_namespaces; i++) {
		if (strcmp(sockauth_test_cfg.namespaces[i].name, name) == 0)
			return &sockauth_test_cfg.namespaces[i];
	}
	fail_msg("no namespace %s", name);
	return NULL;
}

/* The block for auth text <json> and claims text <claims> (NULL: none). */
static struct sockauth *sockauth_test_new(const char *nsp, const char *json, const char *claims,
					  size_t max_value)
{
	json_t *payload = json ? json_loads(json, 0, NULL) : NULL;
	json_t *c = claims ? json_loads(claims, 0, NULL) : NULL;
	struct sockauth *a = sockauth_new(sockauth_test_ns(nsp), json, json ? strlen(json) : 0,
					  payload, c, max_value);

	json_decref(payload);
	json_decref(c);
	assert_non_null(a);
	return a;
}

static void sockauth_test_value(const struct sockauth *a, const char *field, const char *want)
{
	size_t len = 0;
	const char *got = sockauth_find(a, field, strlen(field), &len);

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(got, want, len);
}

static void keeps_the_text_and_each_placeholder_value_once(void **state)
{
	const char *json = "{ \"room\": \"lobby\", \"n\": 42, \"token\": \"t\" }";
	struct sockauth *a = sockauth_test_new("/a", json, "{\"sub\":\"alice\",\"team\":\"red\"}", 64);

	assert_int_equal(a->json_len, strlen(json));
	assert_memory_equal(a->data, json, a->json_len);
	sockauth_test_value(a, "auth.room", "lobby");
	sockauth_test_value(a, "auth.n", "42");
	sockauth_test_value(a, "sub", "alice");
	sockauth_test_value(a, "claims.team", "red");
	sockauth_test_value(a, "auth.token", NULL); /* no pattern names it */
	/* auth.room named twice, kept once: the fields are exactly these */
	assert_int_equal(a->fields_len, (9 + 3 + 5) + (6 + 3 + 2) + (3 + 3 + 5) + (11 + 3 + 3));
	assert_null(a->expiry);
	assert_null(a->backend_data);
	sockauth_free(a);
}

static void leaves_out_what_could_never_match(void **state)
{
	struct sockauth *a = sockauth_test_new("/a", "{\"room\":\"toolong\",\"n\":[1]}",
					       "{\"sub\":\"bob\",\"team\":7}", 5);

	sockauth_test_value(a, "auth.room", NULL); /* past max_value */
	sockauth_test_value(a, "auth.n", NULL);    /* not a string or an integer */
	sockauth_test_value(a, "sub", "bob");
	sockauth_test_value(a, "claims.team", "7");
	sockauth_free(a);

	/* no auth, no claims: an empty block (auth backend's data may hang on it) */
	a = sockauth_test_new("/a", NULL, NULL, 64);
	assert_int_equal(a->json_len + a->fields_len + a->globs_len, 0);
	sockauth_test_value(a, "sub", NULL);
	sockauth_free(a);
}

static void sub_is_kept_only_under_auth(void **state)
{
	struct sockauth *a = sockauth_test_new("/open", "{\"room\":\"x\"}", "{\"sub\":\"carol\"}", 64);

	sockauth_test_value(a, "auth.room", "x");
	sockauth_test_value(a, "sub", NULL);
	sockauth_free(a);
}

static void allow_join_globs_let_a_socket_join(void **state)
{
	char long_glob[CONFIG_MAX_ROOM_PATTERN + 2];

	memset(long_glob, 'x', sizeof long_glob - 1);
	long_glob[sizeof long_glob - 1] = '\0';
	char claims[sizeof long_glob + 64];
	snprintf(claims, sizeof claims, "{\"aj\":[\"game:*\", 7, \"dm:?\", \"%s\"]}", long_glob);
	struct sockauth *a = sockauth_test_new("/a", NULL, claims, 64);

	assert_true(sockauth_may_join(a, "game:1", 6));
	assert_true(sockauth_may_join(a, "dm:x", 4));
	assert_false(sockauth_may_join(a, "dm:xy", 5));
	assert_false(sockauth_may_join(a, "chat", 4));
	assert_false(sockauth_may_join(a, long_glob, strlen(long_glob)));
	assert_int_equal(a->globs_len, (2 + 6) + (2 + 4));
	sockauth_free(a);
	assert_false(sockauth_may_join(NULL, "game:1", 6));
}

static void frees_what_the_owner_hung_on_it(void **state)
{
	struct sockauth *a = sockauth_test_new("/a", NULL, NULL, 64);
	struct event_base *base = event_base_new();

	a->backend_data = strdup("{\"plan\":\"pro\"}");
	a->expiry = evtimer_new(base, NULL, NULL);
	sockauth_free(a); /* valgrind and ASan see the rest */
	sockauth_free(NULL);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(keeps_the_text_and_each_placeholder_value_once),
		cmocka_unit_test(leaves_out_what_could_never_match),
		cmocka_unit_test(sub_is_kept_only_under_auth),
		cmocka_unit_test(allow_join_globs_let_a_socket_join),
		cmocka_unit_test(frees_what_the_owner_hung_on_it),
	};

	return cmocka_run_group_tests(tests, sockauth_test_setup, NULL);
}
