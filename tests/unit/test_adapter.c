/* test_adapter.c - unit tests of the redis-adapter wire format (adapter.c).
 *
 * The vectors are the messages captured from the real Node packages
 * (../shared/vectors/redis-*-messages.json, turned into
 * test_adapter_vectors.inc): each broadcast decodes to its fields, its data
 * converts to the JSON its clients received, and the adapter's own
 * messages encode back to the same bytes.  Then numbers and strings as
 * JSON.stringify writes them, and every kind of bad input: truncation at
 * each byte, lengths past the end, huge counts, deep nesting, trailing
 * bytes, wrong-typed fields, unknown types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapter.h"

struct test_adapter_bcast {
	const char *name, *hex, *uid, *nsp, *rooms, *except;
	int is_volatile;
	const char *json;
	unsigned n_attachments;
	int encodes_back;        /* the Node adapter's key order and no flags */
};

struct test_adapter_req {
	const char *name, *hex;
	int type;
	const char *request_id, *uid;
};

#include "test_adapter_vectors.inc"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static size_t test_adapter_unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		unsigned b;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
		out[i] = (uint8_t)b;
	}
	return n;
}

/* "a,b" against a decoded list. */
static void test_adapter_assert_names(const struct room_name *names, size_t n, const char *want)
{
	char got[512] = "";
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(got + len, sizeof got - len, "%s%.*s", i ? "," : "",
					(int)names[i].len, names[i].name);
	assert_string_equal(got, want);
}

static void test_adapter_assert_str(struct adapter_str s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.s, want, s.len);
}

static void every_captured_broadcast_decodes_to_its_fields_and_data(void **state)
{
	for (size_t i = 0; i < N_ELEMS(test_adapter_bcasts); i++) {
		const struct test_adapter_bcast *v = &test_adapter_bcasts[i];
		uint8_t msg[1024];
		size_t len = test_adapter_unhex(v->hex, msg, sizeof msg);
		struct adapter_broadcast b;
		struct adapter_payload pl;

		assert_int_equal(adapter_decode_broadcast(msg, len, &b), ADAPTER_OK);
		test_adapter_assert_str(b.uid, v->uid);
		test_adapter_assert_str(b.nsp, v->nsp);
		test_adapter_assert_names(b.rooms, b.n_rooms, v->rooms);
		test_adapter_assert_names(b.except, b.n_except, v->except);
		assert_int_equal(b.flags.is_volatile, v->is_volatile);
		assert_int_equal(adapter_payload_from_msgpack(b.data, b.data_len, &pl), ADAPTER_OK);
		assert_string_equal(pl.json, v->json);
		assert_int_equal(pl.n_attachments, v->n_attachments);
		adapter_payload_free(&pl);
		adapter_broadcast_free(&b);
	}
}

static void the_adapters_own_broadcasts_encode_back_to_the_captured_bytes(void **state)
{
	size_t n_checked = 0;

	for (size_t i = 0; i < N_ELEMS(test_adapter_bcasts); i++) {
		const struct test_adapter_bcast *v = &test_adapter_bcasts[i];
		uint8_t msg[1024];
		size_t len = test_adapter_unhex(v->hex, msg, sizeof msg);
		struct adapter_broadcast b;
		struct adapter_payload pl;
		struct adapter_buf out = { 0 };
		struct adapter_flags flags = { 0 };
		char uid[16];

		if (!v->encodes_back)
			continue;
		assert_int_equal(adapter_decode_broadcast(msg, len, &b), ADAPTER_OK);
		assert_int_equal(adapter_payload_from_msgpack(b.data, b.data_len, &pl), ADAPTER_OK);
		json_t *data = json_loads(pl.json, 0, NULL);
		assert_non_null(data);
		snprintf(uid, sizeof uid, "%s", v->uid);
		assert_int_equal(adapter_encode_broadcast(&out, uid, b.nsp.s, b.nsp.len, data,
							  pl.attachments, pl.attachment_lens,
							  pl.n_attachments, b.rooms, b.n_rooms, b.except,
							  b.n_except, &flags),
				 0);
		assert_int_equal(out.len, len);
		assert_memory_equal(out.data, msg, len);
		n_checked++;
		adapter_buf_free(&out);
		json_decref(data);
		adapter_payload_free(&pl);
		adapter_broadcast_free(&b);
	}
	assert_true(n_checked >= 6);
}

static void captured_requests_decode_to_their_type_and_ids(void **state)
{
	for (size_t i = 0; i < N_ELEMS(test_adapter_reqs); i++) {
		const struct test_adapter_req *v = &test_adapter_reqs[i];
		uint8_t msg[1024];
		size_t len = test_adapter_unhex(v->hex, msg, sizeof msg);
		struct adapter_request r;

		assert_int_equal(adapter_decode_request(msg, len, &r), ADAPTER_OK);
		assert_int_equal(r.type, v->type);
		test_adapter_assert_str(r.request_id, v->request_id);
		test_adapter_assert_str(r.uid, v->uid);
		adapter_request_free(&r);
	}
}

static void json_requests_of_the_emitter_decode(void **state)
{
	static const char join[] =
		"{\"type\":2,\"opts\":{\"rooms\":[\"r1\"],\"except\":[\"r2\"]},\"rooms\":[\"a\",\"b\"]}";
	static const char disc[] = "{\"type\":4,\"opts\":{\"rooms\":[],\"except\":[]},\"close\":true}";
	static const char sse[] = "{\"uid\":\"emitter\",\"type\":6,\"data\":[\"ev\",1]}";
	struct adapter_request r;

	assert_int_equal(adapter_decode_request((const uint8_t *)join, strlen(join), &r), ADAPTER_OK);
	assert_int_equal(r.type, ADAPTER_REMOTE_JOIN);
	assert_int_equal(r.uid.len, 0);
	test_adapter_assert_names(r.rooms, r.n_rooms, "a,b");
	test_adapter_assert_names(r.opts_rooms, r.n_opts_rooms, "r1");
	test_adapter_assert_names(r.opts_except, r.n_opts_except, "r2");
	adapter_request_free(&r);

	assert_int_equal(adapter_decode_request((const uint8_t *)disc, strlen(disc), &r), ADAPTER_OK);
	assert_int_equal(r.type, ADAPTER_REMOTE_DISCONNECT);
	assert_true(r.close);
	adapter_request_free(&r);

	assert_int_equal(adapter_decode_request((const uint8_t *)sse, strlen(sse), &r), ADAPTER_OK);
	assert_int_equal(r.type, ADAPTER_SERVER_SIDE_EMIT);
	assert_true(json_is_array(r.emit_data));
	assert_int_equal(r.request_id.len, 0);
	adapter_request_free(&r);
}

/* ---- values as JSON.stringify writes them ---- */

/* Converts the msgpack array [<value>] given in hex and checks the text. */
static void test_adapter_assert_converts(const char *hex_value, const char *want)
{
	char hex[256];
	uint8_t msg[128];
	struct adapter_payload pl;

	snprintf(hex, sizeof hex, "91%s", hex_value);
	size_t len = test_adapter_unhex(hex, msg, sizeof msg);
	assert_int_equal(adapter_payload_from_msgpack(msg, len, &pl), ADAPTER_OK);
	assert_string_equal(pl.json, want);
	adapter_payload_free(&pl);
}

static void numbers_print_as_javascript_prints_them(void **state)
{
	test_adapter_assert_converts("cb3fb999999999999a", "[0.1]");
	test_adapter_assert_converts("cb444b1ae4d6e2ef50", "[1e+21]");
	test_adapter_assert_converts("cb3e7ad7f29abcaf48", "[1e-7]");
	test_adapter_assert_converts("cb3eb0c6f7a0b5ed8d", "[0.000001]");
	test_adapter_assert_converts("cb0000000000000001", "[5e-324]");
	test_adapter_assert_converts("cb7fefffffffffffff", "[1.7976931348623157e+308]");
	test_adapter_assert_converts("cb8000000000000000", "[0]");
	test_adapter_assert_converts("cb7ff8000000000000", "[null]");
	test_adapter_assert_converts("cb7ff0000000000000", "[null]");
	test_adapter_assert_converts("cb4415af1d78b58c40", "[100000000000000000000]");
	test_adapter_assert_converts("cf0020000000000001", "[9007199254740992]");
	test_adapter_assert_converts("cfffffffffffffffff", "[18446744073709552000]");
	test_adapter_assert_converts("d3ffffffffffffffff", "[-1]");
	test_adapter_assert_converts("ca3dcccccd", "[0.10000000149011612]");
	test_adapter_assert_converts("ff", "[-1]");
	test_adapter_assert_converts("cd0100", "[256]");
}

static void strings_get_json_stringify_escapes_and_bad_utf8_is_repaired(void **state)
{
	/* "a\"\\\n\x01/" then U+2028 raw, then an invalid byte */
	test_adapter_assert_converts("a6225c0a012f61", "[\"\\\"\\\\\\n\\u0001/a\"]");
	test_adapter_assert_converts("a3e280a8", "[\"\xe2\x80\xa8\"]");
	test_adapter_assert_converts("a261ff", "[\"a\xef\xbf\xbd\"]");
}

static void undefined_timestamps_and_nil_convert_like_node(void **state)
{
	test_adapter_assert_converts("c0", "[null]");
	test_adapter_assert_converts("d40000", "[null]");
	test_adapter_assert_converts("82a161d40000a162c0", "[{\"b\":null}]");
	test_adapter_assert_converts("d6ff00000000", "[\"1970-01-01T00:00:00.000Z\"]");
	test_adapter_assert_converts("d6ff5f5e1000", "[\"2020-09-13T12:26:40.000Z\"]");
	test_adapter_assert_converts("8101c3", "[{\"1\":true}]");
}

static void bins_become_placeholders_numbered_depth_first(void **state)
{
	uint8_t msg[] = { 0x93, 0xc4, 0x01, 0xaa, 0x81, 0xa1, 'x', 0x91, 0xc4, 0x00, 0xc4, 0x02, 1, 2 };
	struct adapter_payload pl;

	assert_int_equal(adapter_payload_from_msgpack(msg, sizeof msg, &pl), ADAPTER_OK);
	assert_string_equal(pl.json, "[{\"_placeholder\":true,\"num\":0},{\"x\":[{\"_placeholder\":"
				     "true,\"num\":1}]},{\"_placeholder\":true,\"num\":2}]");
	assert_int_equal(pl.n_attachments, 3);
	assert_int_equal(pl.attachment_lens[0], 1);
	assert_int_equal(pl.attachments[0][0], 0xaa);
	assert_int_equal(pl.attachment_lens[1], 0);
	assert_int_equal(pl.attachment_lens[2], 2);
	adapter_payload_free(&pl);
}

static void more_bins_than_a_client_takes_are_unsupported(void **state)
{
	uint8_t msg[1 + 11 * 2] = { 0x9b };
	struct adapter_payload pl;

	for (int i = 0; i < 11; i++) {
		msg[1 + 2 * i] = 0xc4;
		msg[2 + 2 * i] = 0x00;
	}
	assert_int_equal(adapter_payload_from_msgpack(msg, sizeof msg, &pl),
			 ADAPTER_ERR_UNSUPPORTED);
}

/* ---- bad input ---- */

static void every_truncation_of_a_valid_message_is_refused(void **state)
{
	const struct test_adapter_bcast *v = &test_adapter_bcasts[6]; /* "bin" */
	uint8_t msg[1024];
	size_t len = test_adapter_unhex(v->hex, msg, sizeof msg);

	for (size_t cut = 0; cut < len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		struct adapter_broadcast b;
		memcpy(copy, msg, cut);
		assert_int_not_equal(adapter_decode_broadcast(copy, cut, &b), ADAPTER_OK);
		free(copy);
	}
}

static void test_adapter_assert_broadcast_fails(const char *hex, enum adapter_result want)
{
	uint8_t msg[256];
	size_t len = test_adapter_unhex(hex, msg, sizeof msg);
	struct adapter_broadcast b;

	assert_int_equal(adapter_decode_broadcast(msg, len, &b), want);
}

static void malformed_and_wrong_typed_broadcasts_are_refused(void **state)
{
	/* An array32 claiming 2^32 - 1 elements in 5 bytes. */
	test_adapter_assert_broadcast_fails("ddffffffff", ADAPTER_ERR_MALFORMED);
	/* A str32 longer than the message. */
	test_adapter_assert_broadcast_fails("93dbffffff00", ADAPTER_ERR_MALFORMED);
	/* Trailing bytes after a valid message. */
	test_adapter_assert_broadcast_fails("93a17581a464617461919100a36e7370a12f8000",
					    ADAPTER_ERR_MALFORMED);
	/* uid a number. */
	test_adapter_assert_broadcast_fails("930182a47479706502a46461746191a17880", ADAPTER_ERR_FIELD);
	/* rooms not an array. */
	test_adapter_assert_broadcast_fails("93a17582a47479706502a46461746191a17881a5726f6f6d7301",
					    ADAPTER_ERR_FIELD);
	/* a room not a string. */
	test_adapter_assert_broadcast_fails("93a17582a47479706502a46461746191a17881a5726f6f6d739101",
					    ADAPTER_ERR_FIELD);
	/* flags not a map. */
	test_adapter_assert_broadcast_fails("93a17582a47479706502a46461746191a17881a5666c61677301",
					    ADAPTER_ERR_FIELD);
	/* packet type 3 (an ACK) in a broadcast. */
	test_adapter_assert_broadcast_fails("93a17582a47479706503a46461746191a17880", ADAPTER_ERR_TYPE);
	/* 0xc1 is never used. */
	test_adapter_assert_broadcast_fails("c1", ADAPTER_ERR_MALFORMED);
}

static void nesting_past_the_limit_is_refused(void **state)
{
	uint8_t msg[64];
	struct adapter_payload pl;

	memset(msg, 0x91, ADAPTER_MAX_DEPTH + 1);
	msg[ADAPTER_MAX_DEPTH + 1] = 0xc0;
	assert_int_equal(adapter_payload_from_msgpack(msg, ADAPTER_MAX_DEPTH + 2, &pl),
			 ADAPTER_ERR_MALFORMED);
	assert_int_equal(adapter_payload_from_msgpack(msg + 1, ADAPTER_MAX_DEPTH + 1, &pl),
			 ADAPTER_OK);
	adapter_payload_free(&pl);
}

static void test_adapter_assert_request_fails(const char *text, enum adapter_result want)
{
	struct adapter_request r;

	assert_int_equal(adapter_decode_request((const uint8_t *)text, strlen(text), &r), want);
}

static void bad_requests_are_refused(void **state)
{
	test_adapter_assert_request_fails("{\"type\":", ADAPTER_ERR_MALFORMED);
	test_adapter_assert_request_fails("{\"type\":2} x", ADAPTER_ERR_MALFORMED);
	test_adapter_assert_request_fails("{\"type\":42,\"requestId\":\"x\"}", ADAPTER_ERR_TYPE);
	test_adapter_assert_request_fails("{\"requestId\":\"x\"}", ADAPTER_ERR_TYPE);
	test_adapter_assert_request_fails("{\"type\":2,\"rooms\":\"r\"}", ADAPTER_ERR_FIELD);
	test_adapter_assert_request_fails("{\"type\":2,\"rooms\":[1]}", ADAPTER_ERR_FIELD);
	test_adapter_assert_request_fails("{\"type\":1,\"uid\":7,\"requestId\":\"x\"}",
					  ADAPTER_ERR_FIELD);
	test_adapter_assert_request_fails("{\"type\":7,\"requestId\":\"x\",\"packet\":{}}",
					  ADAPTER_ERR_FIELD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_captured_broadcast_decodes_to_its_fields_and_data),
		cmocka_unit_test(the_adapters_own_broadcasts_encode_back_to_the_captured_bytes),
		cmocka_unit_test(captured_requests_decode_to_their_type_and_ids),
		cmocka_unit_test(json_requests_of_the_emitter_decode),
		cmocka_unit_test(numbers_print_as_javascript_prints_them),
		cmocka_unit_test(strings_get_json_stringify_escapes_and_bad_utf8_is_repaired),
		cmocka_unit_test(undefined_timestamps_and_nil_convert_like_node),
		cmocka_unit_test(bins_become_placeholders_numbered_depth_first),
		cmocka_unit_test(more_bins_than_a_client_takes_are_unsupported),
		cmocka_unit_test(every_truncation_of_a_valid_message_is_refused),
		cmocka_unit_test(malformed_and_wrong_typed_broadcasts_are_refused),
		cmocka_unit_test(nesting_past_the_limit_is_refused),
		cmocka_unit_test(bad_requests_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
