/* test_reload.c - unit tests for reload.c, what a SIGHUP may change.
 *
 * Two configurations are parsed from text, the running one and the file
 * as it is now, and merged.  Covers: restart-only keys (listen, ping,
 * redis, channel and stream names, a namespace's flush_delay) take their
 * running values back, one note each and none for keys that did not
 * change; live keys take the file's; running namespaces keep their index
 * whatever the file's order, new ones come after, a removed one stays; too
 * many namespaces, and auth backend without the Redis link the daemon
 * runs with, refuse the reload.  Not covered here: applying it to a
 * running daemon (tests/integration/reload.test.js).
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
#include "reload.h"

#define RELOAD_TEST_MAX_NOTES (CONFIG_MAX_NAMESPACES + 8)

static struct {
	struct config running, next;
	char notes[RELOAD_TEST_MAX_NOTES][512];
	size_t n_notes;
} t;

static void reload_test_note(void *arg, const char *line)
{
	assert_true(t.n_notes < RELOAD_TEST_MAX_NOTES);
	snprintf(t.notes[t.n_notes++], sizeof t.notes[0], "%s", line);
}

static void reload_test_parse(struct config *cfg, const char *text)
{
	char err[CONFIG_ERR_LEN];

	config_defaults(cfg);
	if (config_parse(cfg, text, strlen(text), "t.conf", err, sizeof err) < 0)
		fail_msg("%s", err);
}

/* Merges <next_text> into what <running_text> runs; returns reload_merge(). */
static int reload_test_merge(const char *running_text, const char *next_text, char *err,
			     size_t err_len)
{
	t.n_notes = 0;
	reload_test_parse(&t.running, running_text);
	reload_test_parse(&t.next, next_text);
	return reload_merge(&t.running, &t.next, reload_test_note, NULL, err, err_len);
}

static void reload_test_noted(const char *what)
{
	char want[256];

	snprintf(want, sizeof want, "%s changed in the file: needs a restart, the running value stays",
		 what);
	for (size_t i = 0; i < t.n_notes; i++) {
		if (strcmp(t.notes[i], want) == 0)
			return;
	}
	fail_msg("no note \"%s\"", want);
}

static void restart_keys_keep_their_running_values_and_are_noted(void **state)
{
	char err[CONFIG_ERR_LEN];

	assert_int_equal(reload_test_merge(
		"listen 127.0.0.1:3000\nping_interval 25s\nredis 127.0.0.1:6379\n"
		"redis_key socket.io\nbackend_stream ev\ncors_origin http://a.example\n"
		"max_payload 1M\n",
		"listen 127.0.0.1:4000\nping_interval 5s\nredis 10.0.0.9:6379\n"
		"redis_key other\nbackend_stream ev2\ncors_origin http://b.example\n"
		"max_payload 2M\nredis_password s3cret\n", err, sizeof err), 0);
	assert_int_equal(t.n_notes, 5);
	reload_test_noted("listen");
	reload_test_noted("ping_interval");
	reload_test_noted("redis");
	reload_test_noted("redis_key");
	reload_test_noted("backend_stream");
	assert_string_equal(t.next.listen[0].text, "127.0.0.1:3000");
	assert_int_equal(t.next.ping_interval_ms, 25000);
	assert_string_equal(t.next.redis_host, "127.0.0.1");
	assert_string_equal(t.next.redis_key, "socket.io");
	assert_string_equal(t.next.backend_stream, "ev");
	/* live keys: the file's */
	assert_string_equal(t.next.cors_origins[0], "http://b.example");
	assert_int_equal(t.next.max_payload, 2 << 20);
	assert_string_equal(t.next.redis_password, "s3cret");
}

static void routing_keys_need_a_restart(void **state)
{
	char err[CONFIG_ERR_LEN];

	assert_int_equal(reload_test_merge(
		"redis 127.0.0.1:6379\ncluster_listen 127.0.0.1:0\ncluster_secret_file /etc/a\n",
		"redis 127.0.0.1:6379\ncluster_listen 127.0.0.1:7000\ncluster_secret_file /etc/b\n",
		err, sizeof err), 0);
	assert_int_equal(t.n_notes, 2);
	reload_test_noted("cluster_listen");
	reload_test_noted("cluster_secret_file");
	assert_true(t.next.has_cluster_listen);
	assert_string_equal(t.next.cluster_listen.text, "127.0.0.1:0");
	assert_string_equal(t.next.cluster_secret_file, "/etc/a");
	/* taking routing out needs a restart as well */
	assert_int_equal(reload_test_merge(
		"redis 127.0.0.1:6379\ncluster_listen 127.0.0.1:0\ncluster_secret_file /etc/a\n",
		"redis 127.0.0.1:6379\n", err, sizeof err), 0);
	assert_int_equal(t.n_notes, 2);
	assert_true(t.next.has_cluster_listen);
}

static void an_unchanged_file_notes_nothing(void **state)
{
	const char *text = "listen 127.0.0.1:3000\nlisten [::1]:3001\nnamespace /a {\n"
			   "  flush_delay 5ms\n}\n";
	char err[CONFIG_ERR_LEN];

	assert_int_equal(reload_test_merge(text, text, err, sizeof err), 0);
	assert_int_equal(t.n_notes, 0);
	assert_int_equal(t.next.n_listen, 2);
	assert_int_equal(t.next.n_namespaces, 2);
}

static void namespaces_keep_their_index_new_ones_follow_removed_ones_stay(void **state)
{
	char err[CONFIG_ERR_LEN];

	assert_int_equal(reload_test_merge(
		"namespace /a {\n  flush_delay 5ms\n  relay no\n}\nnamespace /gone {\n}\n"
		"namespace /b {\n}\n",
		"namespace /new {\n  relay yes\n}\nnamespace /b {\n  relay yes\n}\n"
		"namespace /a {\n  flush_delay 10ms\n  relay yes\n}\n", err, sizeof err), 0);
	assert_int_equal(t.next.n_namespaces, 5);
	const char *order[] = { "/", "/a", "/gone", "/b", "/new" };
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(t.next.namespaces[i].name, order[i]);
	assert_int_equal(t.next.namespaces[1].flush_delay_ms, 5);  /* kept */
	assert_true(t.next.namespaces[1].relay);                   /* live */
	assert_true(t.next.namespaces[3].relay);
	assert_true(t.next.namespaces[4].relay);
	assert_int_equal(t.n_notes, 2);
	reload_test_noted("namespace /a: flush_delay");
	reload_test_noted("namespace /gone (removed)");
}

static void too_many_namespaces_with_the_removed_ones_refuse_the_reload(void **state)
{
	static char running[CONFIG_MAX_NAMESPACES * 32], next[CONFIG_MAX_NAMESPACES * 32];
	char err[CONFIG_ERR_LEN];
	size_t r = 0, n = 0;

	for (int i = 1; i < CONFIG_MAX_NAMESPACES; i++) {
		r += (size_t)snprintf(running + r, sizeof running - r, "namespace /r%d {\n}\n", i);
		n += (size_t)snprintf(next + n, sizeof next - n, "namespace /n%d {\n}\n", i);
	}
	assert_int_equal(reload_test_merge(running, next, err, sizeof err), -1);
	assert_string_equal(err, "more than 64 namespaces with the removed ones that still run: "
				 "restart to drop them");
}

static void auth_backend_needs_the_redis_link_that_runs(void **state)
{
	char err[CONFIG_ERR_LEN];

	assert_int_equal(reload_test_merge("", "redis 127.0.0.1:6379\nnamespace /x {\n"
					       "  auth backend\n}\n", err, sizeof err), -1);
	assert_string_equal(err, "namespace /x: auth backend needs the redis link the running "
				 "daemon has not got: restart");
	reload_test_noted("redis");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(restart_keys_keep_their_running_values_and_are_noted),
		cmocka_unit_test(routing_keys_need_a_restart),
		cmocka_unit_test(an_unchanged_file_notes_nothing),
		cmocka_unit_test(namespaces_keep_their_index_new_ones_follow_removed_ones_stay),
		cmocka_unit_test(too_many_namespaces_with_the_removed_ones_refuse_the_reload),
		cmocka_unit_test(auth_backend_needs_the_redis_link_that_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
