/* test_record.c - unit tests for record.c, the backend record codec.
 *
 * A packet is decoded by packet.c from the text a client sends, encoded as
 * an XADD command, and the RESP bytes are parsed back here into words and
 * compared with the whole expected argv: XADD, the stream, MAXLEN ~ N, *,
 * then the fields in their documented order.  Covers text and binary
 * events (placeholders stay in args, attachments are binN with their raw
 * bytes), the ack and reply fields of an event sent with an ack id,
 * events without arguments, number event names, whitespace and escaped
 * quotes around the name, record_args_offset() on what is not
 * an event's array, and lifecycle records (record_encode_lifecycle()): each
 * kind's fields after the common ones, binary-safe values, the field
 * limit.  Not covered here: writing to Redis and the policy
 * (tests/integration/backend-streams.test.js).
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

#include "record.h"
#include "packet.h"

#define RECORD_TEST_MAX_WORDS 64

struct record_test_words {
	size_t n;
	const char *w[RECORD_TEST_MAX_WORDS];
	size_t len[RECORD_TEST_MAX_WORDS];
};

/* Parses the RESP array of bulk strings <cmd> into words pointing into it;
 * fails the test on anything else or on bytes left over. */
static void record_test_parse(const char *cmd, size_t len, struct record_test_words *out)
{
	const char *p = cmd, *end = cmd + len;
	char *e;

	assert_true(len > 4 && *p == '*');
	out->n = strtoul(p + 1, &e, 10);
	assert_true(out->n <= RECORD_TEST_MAX_WORDS);
	assert_memory_equal(e, "\r\n", 2);
	p = e + 2;
	for (size_t i = 0; i < out->n; i++) {
		assert_true(p < end && *p == '$');
		size_t n = strtoul(p + 1, &e, 10);
		assert_memory_equal(e, "\r\n", 2);
		p = e + 2;
		assert_true((size_t)(end - p) >= n + 2);
		out->w[i] = p;
		out->len[i] = n;
		assert_memory_equal(p + n, "\r\n", 2);
		p += n + 2;
	}
	assert_ptr_equal(p, end);
}

/* Decodes the text packet <text> (and its binary <bins>), encodes it and
 * checks the words after XADD's head against <fields> (NULL-terminated
 * pairs; a value "\x01" + hex stands for raw bytes). */
static void record_test_event(const char *text, const char *const *bins, const size_t *bin_lens,
			      unsigned n_bins, const char *const *fields)
{
	struct packet_reader r;
	struct packet p;
	struct record_target t = { "rc:events", 9, 100000, "abcdef", "rc:events:reply:abcdef" };
	struct record_socket sock = { "/chat", 5, "AAAAAAAAAAAAAAAAAAAA", "u1", 2, PACKET_NO_ACK };
	struct record_test_words w;
	size_t len;

	packet_reader_init(&r, 1 << 20);
	enum packet_result res = packet_reader_feed(&r, false, (const uint8_t *)text, strlen(text), &p);
	for (unsigned i = 0; i < n_bins; i++) {
		assert_int_equal(res, PACKET_MORE);
		res = packet_reader_feed(&r, true, (const uint8_t *)bins[i], bin_lens[i], &p);
	}
	assert_int_equal(res, PACKET_OK);
	sock.ack_id = p.ack_id;
	char *cmd = record_encode_event(&t, &sock, &p, &len);
	assert_non_null(cmd);
	record_test_parse(cmd, len, &w);
	static const char *const head[] = {
		"XADD", "rc:events", "MAXLEN", "~", "100000", "*", "type", "event", "nsp", "/chat",
		"sid", "AAAAAAAAAAAAAAAAAAAA", "instance", "abcdef", "user", "u1",
	};
	size_t n_head = sizeof head / sizeof head[0], i = 0;
	for (; i < n_head; i++) {
		assert_int_equal(w.len[i], strlen(head[i]));
		assert_memory_equal(w.w[i], head[i], w.len[i]);
	}
	for (size_t f = 0; fields[f]; f++, i++) {
		assert_true(i < w.n);
		assert_int_equal(w.len[i], strlen(fields[f]));
		assert_memory_equal(w.w[i], fields[f], w.len[i]);
	}
	assert_int_equal(i, w.n);
	free(cmd);
	packet_reader_cleanup(&r);
}

static void text_event_has_its_arguments_after_the_name_as_sent(void **state)
{
	static const char *const f[] = {
		"event", "hello", "args", "[{\"a\":1,\"b\":[true,null]},\"x\",3.5]", NULL,
	};
	record_test_event("2/chat,[\"hello\",{\"a\":1,\"b\":[true,null]},\"x\",3.5]", NULL, NULL, 0, f);
}

static void event_without_arguments_has_empty_args(void **state)
{
	static const char *const f[] = { "event", "ping", "args", "[]", NULL };
	record_test_event("2/chat,[\"ping\"]", NULL, NULL, 0, f);
}

static void event_with_an_ack_id_has_ack_and_reply_after_its_arguments(void **state)
{
	static const char *const f[] = {
		"event", "q", "args", "[1]", "ack", "9007199254740991", "reply", "rc:events:reply:abcdef",
		NULL,
	};
	record_test_event("2/chat,9007199254740991[\"q\",1]", NULL, NULL, 0, f);
}

static void escaped_name_is_unescaped_and_whitespace_is_kept_in_args(void **state)
{
	static const char *const f[] = { "event", "a\"b,]", "args", "[ 1 , \"]\" ]", NULL };
	record_test_event("2/chat,[ \"a\\\"b,]\" , 1 , \"]\" ]", NULL, NULL, 0, f);
}

static void number_event_name_is_its_text(void **state)
{
	static const char *const f[] = { "event", "42", "args", "[\"x\"]", NULL };
	record_test_event("2/chat,[42,\"x\"]", NULL, NULL, 0, f);
}

static void binary_event_keeps_placeholders_and_adds_raw_attachments(void **state)
{
	static const char *const bins[] = { "\x01\x02\x03", "\x00\xff\r\n" };
	static const size_t lens[] = { 3, 4 };
	static const char *const f[] = {
		"event", "file",
		"args", "[{\"_placeholder\":true,\"num\":0},{\"d\":{\"_placeholder\":true,\"num\":1}}]",
		"bin0", "\x01\x02\x03", "bin1", NULL,
	};
	/* bin1's value holds a NUL: checked by hand below, so the table ends
	 * at its name; the helper would stop at the NUL. */
	struct packet_reader r;
	struct packet p;
	struct record_target t = { "rc:events", 9, 7, "abcdef", "r" };
	struct record_socket sock = { "/", 1, "BBBBBBBBBBBBBBBBBBBB", "", 0, PACKET_NO_ACK };
	struct record_test_words w;
	size_t len;
	const char *text = "52-[\"file\",{\"_placeholder\":true,\"num\":0},"
			   "{\"d\":{\"_placeholder\":true,\"num\":1}}]";

	packet_reader_init(&r, 1 << 20);
	assert_int_equal(packet_reader_feed(&r, false, (const uint8_t *)text, strlen(text), &p),
			 PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)bins[0], lens[0], &p),
			 PACKET_MORE);
	assert_int_equal(packet_reader_feed(&r, true, (const uint8_t *)bins[1], lens[1], &p),
			 PACKET_OK);
	char *cmd = record_encode_event(&t, &sock, &p, &len);
	assert_non_null(cmd);
	record_test_parse(cmd, len, &w);
	assert_int_equal(w.n, 16 + 8);
	assert_memory_equal(w.w[4], "7", 1);
	assert_int_equal(w.len[15], 0); /* user: empty */
	for (size_t i = 0; f[i]; i++) {
		assert_int_equal(w.len[16 + i], strlen(f[i]));
		assert_memory_equal(w.w[16 + i], f[i], w.len[16 + i]);
	}
	assert_int_equal(w.len[23], 4);
	assert_memory_equal(w.w[23], "\x00\xff\r\n", 4);
	free(cmd);
	packet_reader_cleanup(&r);
}

/* Checks the words of <cmd> against <want> (NULL-terminated), whole. */
static void record_test_words_are(const char *cmd, size_t len, const char *const *want)
{
	struct record_test_words w;
	size_t i = 0;

	record_test_parse(cmd, len, &w);
	for (; want[i]; i++) {
		assert_true(i < w.n);
		assert_int_equal(w.len[i], strlen(want[i]));
		assert_memory_equal(w.w[i], want[i], w.len[i]);
	}
	assert_int_equal(i, w.n);
}

static const struct record_target record_test_target = {
	"rc:events", 9, 50, "abcdef", "rc:events:reply:abcdef",
};
static const struct record_socket record_test_socket = {
	"/", 1, "BBBBBBBBBBBBBBBBBBBB", "", 0, PACKET_NO_ACK,
};

static void connect_record_has_auth_claims_and_address(void **state)
{
	const struct record_field f[] = {
		{ "auth", "{\"room\":1}", 10 },
		{ "claims", "", 0 },
		{ "address", "127.0.0.1", 9 },
	};
	static const char *const want[] = {
		"XADD", "rc:events", "MAXLEN", "~", "50", "*", "type", "connect", "nsp", "/", "sid",
		"BBBBBBBBBBBBBBBBBBBB", "instance", "abcdef", "user", "", "auth", "{\"room\":1}",
		"claims", "", "address", "127.0.0.1", NULL,
	};
	size_t len;
	char *cmd = record_encode_lifecycle(&record_test_target, &record_test_socket, "connect", f,
					  3, &len);

	assert_non_null(cmd);
	record_test_words_are(cmd, len, want);
	free(cmd);
}

static void disconnect_join_and_leave_records_have_their_one_field(void **state)
{
	static const char *const kinds[][3] = {
		{ "disconnect", "reason", "ping timeout" },
		{ "join", "room", "chat:1" },
		{ "leave", "room", "chat:\r\n2" },
	};

	for (size_t k = 0; k < 3; k++) {
		const struct record_field f = { kinds[k][1], kinds[k][2], strlen(kinds[k][2]) };
		const char *const want[] = {
			"XADD", "rc:events", "MAXLEN", "~", "50", "*", "type", kinds[k][0], "nsp",
			"/", "sid", "BBBBBBBBBBBBBBBBBBBB", "instance", "abcdef", "user", "",
			kinds[k][1], kinds[k][2], NULL,
		};
		size_t len;
		char *cmd = record_encode_lifecycle(&record_test_target, &record_test_socket,
						  kinds[k][0], &f, 1, &len);
		assert_non_null(cmd);
		record_test_words_are(cmd, len, want);
		free(cmd);
	}
}

static void record_with_too_many_fields_is_refused(void **state)
{
	struct record_field f[RECORD_MAX_FIELDS + 1];
	size_t len;
	char *cmd;

	for (size_t i = 0; i <= RECORD_MAX_FIELDS; i++)
		f[i] = (struct record_field){ "f", "v", 1 };
	cmd = record_encode_lifecycle(&record_test_target, &record_test_socket, "join", f,
				    RECORD_MAX_FIELDS, &len);
	assert_non_null(cmd);
	free(cmd);
	assert_null(record_encode_lifecycle(&record_test_target, &record_test_socket, "join", f,
					  RECORD_MAX_FIELDS + 1, &len));
}

static void args_offset_refuses_what_is_not_an_event_array(void **state)
{
	static const char *const bad[] = { "", "{}", "[", "[]", "[\"a\"", "[\"a\" 1]", "[true]", "[\"a" };

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(record_args_offset((const uint8_t *)bad[i], strlen(bad[i])), -1);
	assert_int_equal(record_args_offset((const uint8_t *)"[\"a\"]", 5), 4);
	assert_int_equal(record_args_offset((const uint8_t *)"[\"a\",1]", 7), 5);
	assert_int_equal(record_args_offset((const uint8_t *)"[-1.5e3,1]", 10), 8);
}

/* The hash roomcast.conf(5) documents, on its worked example and on the
 * FNV-1a test vectors ("" and "a"), so a backend in any language can
 * compute where a socket's records go. */
static void stream_index_is_fnv1a_of_the_socket_id_modulo_k(void **state)
{
	assert_int_equal(record_stream_index("AAAAAAAAAAAAAAAAAAAA", 20, 4), 1633785929u % 4);
	assert_int_equal(record_stream_index("AAAAAAAAAAAAAAAAAAAA", 20, 16), 9);
	assert_int_equal(record_stream_index("", 0, 1000), 2166136261u % 1000);
	assert_int_equal(record_stream_index("a", 1, 1u << 31), 0xe40c292cu % (1u << 31));
	assert_int_equal(record_stream_index("AAAAAAAAAAAAAAAAAAAA", 20, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_event_has_its_arguments_after_the_name_as_sent),
		cmocka_unit_test(event_without_arguments_has_empty_args),
		cmocka_unit_test(event_with_an_ack_id_has_ack_and_reply_after_its_arguments),
		cmocka_unit_test(escaped_name_is_unescaped_and_whitespace_is_kept_in_args),
		cmocka_unit_test(number_event_name_is_its_text),
		cmocka_unit_test(binary_event_keeps_placeholders_and_adds_raw_attachments),
		cmocka_unit_test(args_offset_refuses_what_is_not_an_event_array),
		cmocka_unit_test(connect_record_has_auth_claims_and_address),
		cmocka_unit_test(disconnect_join_and_leave_records_have_their_one_field),
		cmocka_unit_test(record_with_too_many_fields_is_refused),
		cmocka_unit_test(stream_index_is_fnv1a_of_the_socket_id_modulo_k),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
