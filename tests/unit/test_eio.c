/* test_eio.c - unit tests for the Engine.IO packet and payload codec (eio.c).
 *
 * Covers every packet, payload and decode example of
 * tests/vectors/eio-parser-vectors.json (engine.io-parser 5.2.3), typed
 * into the tables below; the parse errors of doc/protocol.md, "Engine packets"
 * and "Polling"; base64 (RFC 4648 vectors, strictness, in-place decoding, round trips
 * of every length 0..300 and of random bytes); and the open packet's exact
 * bytes and buffer limit.  Inputs are copied into test_malloc() blocks of
 * their exact size so that cmocka sees writes past the end.  Not covered
 * here: what the engine does after a parse error (engine tests).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "eio.h"

#define RS "\x1e" /* record separator; kept apart so "\x1eb" is not one escape */

/* An expected packet; <data> is <len> bytes (text, or raw binary bytes). */
struct eio_test_packet {
	enum eio_packet_type type;
	bool binary;
	const char *data;
	size_t len;
};

#define TXT(t, s) { (t), false, (s), sizeof(s) - 1 }
#define BIN(s) { EIO_MESSAGE, true, (s), sizeof(s) - 1 }

/* 0{...} from the vectors' first packet: the reference server's open packet. */
#define EIO_TEST_OPEN_JSON                                                          \
	"{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"    \
	"\"pingTimeout\":20000,\"maxPayload\":1000000}"

/* "é€😀" spelled in UTF-8 bytes, so the test does not depend on the
 * compiler's source character set. */
#define EIO_TEST_UTF8 "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"

/* vectors "packets": the packet, its WebSocket text frame (NULL when the
 * frame is binary) and its polling form. */
static const struct eio_test_packet_vector {
	struct eio_test_packet packet;
	const char *ws_text;
	const char *polling;
} eio_test_packet_vectors[] = {
	{ TXT(EIO_OPEN, EIO_TEST_OPEN_JSON), "0" EIO_TEST_OPEN_JSON, "0" EIO_TEST_OPEN_JSON },
	{ TXT(EIO_CLOSE, ""), "1", "1" },
	{ TXT(EIO_PING, ""), "2", "2" },
	{ TXT(EIO_PONG, ""), "3", "3" },
	{ TXT(EIO_PING, "probe"), "2probe", "2probe" },
	{ TXT(EIO_PONG, "probe"), "3probe", "3probe" },
	{ TXT(EIO_MESSAGE, "hello"), "4hello", "4hello" },
	{ TXT(EIO_MESSAGE, EIO_TEST_UTF8), "4" EIO_TEST_UTF8, "4" EIO_TEST_UTF8 },
	{ BIN("\x01\x02\x03"), NULL, "bAQID" },
	{ TXT(EIO_UPGRADE, ""), "5", "5" },
	{ TXT(EIO_NOOP, ""), "6", "6" },
};

#define EIO_TEST_MAX_PACKETS 5

/* A polling body and what decoding it gives: <packets>, then either the
 * end of the body or (when <ends_in_error>) a parse error. */
struct eio_test_payload {
	const char *body;
	size_t body_len;
	struct eio_test_packet packets[EIO_TEST_MAX_PACKETS];
	size_t n_packets;
	bool ends_in_error;
	const char *body_hex; /* the vectors' capture, or NULL */
};

#define BODY(s) (s), sizeof(s) - 1

/* vectors "payloads": each body decodes to its packets, and encoding the
 * packets joined by 0x1e gives the body. */
static const struct eio_test_payload eio_test_payload_vectors[] = {
	{ BODY("440"), { TXT(EIO_MESSAGE, "40") }, 1, false, "343430" },
	{ BODY("442[\"a\"]" RS "442[\"b\"]"),
	  { TXT(EIO_MESSAGE, "42[\"a\"]"), TXT(EIO_MESSAGE, "42[\"b\"]") }, 2, false,
	  "3434325b2261225d1e3434325b2262225d" },
	{ BODY("4451-[\"x\",{\"_placeholder\":true,\"num\":0}]" RS "bAQID"),
	  { TXT(EIO_MESSAGE, "451-[\"x\",{\"_placeholder\":true,\"num\":0}]"),
	    BIN("\x01\x02\x03") },
	  2, false,
	  "343435312d5b2278222c7b225f706c616365686f6c646572223a747275652c226e756d223a307d5d1e"
	  "6241514944" },
	{ BODY("6" RS "1"), { TXT(EIO_NOOP, ""), TXT(EIO_CLOSE, "") }, 2, false, "361e31" },
	{ BODY("2"), { TXT(EIO_PING, "") }, 1, false, "32" },
};

/* vectors "decode": the reference "parser error" packet is <ends_in_error>. */
static const struct eio_test_payload eio_test_decode_vectors[] = {
	{ BODY("4hello" RS "2" RS "bAQID"),
	  { TXT(EIO_MESSAGE, "hello"), TXT(EIO_PING, ""), BIN("\x01\x02\x03") }, 3, false, NULL },
	{ BODY("0"), { TXT(EIO_OPEN, "") }, 1, false, NULL },
	{ BODY(""), { { 0 } }, 0, true, NULL },
	{ BODY("9"), { { 0 } }, 0, true, NULL },
	{ BODY("4a" RS), { TXT(EIO_MESSAGE, "a") }, 1, true, NULL },
	{ BODY("6" RS "1"), { TXT(EIO_NOOP, ""), TXT(EIO_CLOSE, "") }, 2, false, NULL },
	{ BODY("b"), { BIN("") }, 1, false, NULL },
	{ BODY("bAQ=="), { BIN("\x01") }, 1, false, NULL },
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A test_malloc() copy of exactly <len> bytes (at least one byte is
 * allocated so the pointer is never NULL). */
static uint8_t *eio_test_copy(const void *bytes, size_t len)
{
	uint8_t *p = test_malloc(len != 0 ? len : 1);

	if (len != 0)
		memcpy(p, bytes, len);
	return p;
}

/* Deterministic xorshift32, so a failure replays the same bytes. */
static uint32_t eio_test_rand(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static void eio_test_assert_packet(const struct eio_packet *got,
				   const struct eio_test_packet *want)
{
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->binary, want->binary);
	assert_int_equal(got->len, want->len);
	assert_memory_equal(got->data, want->data, want->len);
}

/* Decodes <v->body> as a polling payload and checks every packet, where
 * its data lies, how the body ends, and that the iterator's last answer
 * repeats. */
static void eio_test_assert_payload_decodes(const struct eio_test_payload *v)
{
	uint8_t *body = eio_test_copy(v->body, v->body_len);
	struct eio_packet p;
	size_t pos = 0;
	size_t n = 0;
	int rc;

	while ((rc = eio_payload_next(body, v->body_len, &pos, &p)) == 1) {
		assert_true(n < v->n_packets);
		assert_true(p.data >= body && p.data + p.len <= body + v->body_len);
		eio_test_assert_packet(&p, &v->packets[n]);
		n++;
	}
	assert_int_equal(n, v->n_packets);
	assert_int_equal(rc, v->ends_in_error ? -1 : 0);
	assert_int_equal(eio_payload_next(body, v->body_len, &pos, &p), rc);
	assert_int_equal(eio_payload_next(body, v->body_len, &pos, &p), rc);
	test_free(body);
}

/* Encodes <v->packets> joined by 0x1e and checks the bytes equal the body. */
static void eio_test_assert_payload_encodes(const struct eio_test_payload *v)
{
	size_t total = 0;
	uint8_t *out;
	size_t n = 0;

	for (size_t i = 0; i < v->n_packets; i++)
		total += (i ? 1 : 0) +
			 eio_polling_encoded_len(v->packets[i].binary, v->packets[i].len);
	assert_int_equal(total, v->body_len);
	out = test_malloc(total);
	for (size_t i = 0; i < v->n_packets; i++) {
		const struct eio_test_packet *tp = &v->packets[i];

		if (i)
			out[n++] = EIO_RECORD_SEPARATOR;
		n += eio_polling_encode(out + n, tp->type, tp->binary,
					(const uint8_t *)tp->data, tp->len);
	}
	assert_int_equal(n, v->body_len);
	assert_memory_equal(out, v->body, n);
	test_free(out);
}

static void every_packet_vector_encodes_to_its_polling_form(void **state)
{
	for (size_t i = 0; i < N_ELEMS(eio_test_packet_vectors); i++) {
		const struct eio_test_packet_vector *v = &eio_test_packet_vectors[i];
		size_t want_len = strlen(v->polling);
		size_t len = eio_polling_encoded_len(v->packet.binary, v->packet.len);
		uint8_t *out = test_malloc(len);

		assert_int_equal(len, want_len);
		assert_int_equal(eio_polling_encode(out, v->packet.type, v->packet.binary,
						    (const uint8_t *)v->packet.data,
						    v->packet.len),
				 want_len);
		assert_memory_equal(out, v->polling, want_len);
		test_free(out);
	}
}

static void every_packet_vector_decodes_from_its_polling_form(void **state)
{
	for (size_t i = 0; i < N_ELEMS(eio_test_packet_vectors); i++) {
		const struct eio_test_packet_vector *v = &eio_test_packet_vectors[i];
		struct eio_test_payload one = {
			.body = v->polling,
			.body_len = strlen(v->polling),
			.packets = { v->packet },
			.n_packets = 1,
		};

		eio_test_assert_payload_decodes(&one);
	}
}

static void every_text_packet_vector_decodes_from_its_websocket_text_frame(void **state)
{
	for (size_t i = 0; i < N_ELEMS(eio_test_packet_vectors); i++) {
		const struct eio_test_packet_vector *v = &eio_test_packet_vectors[i];
		size_t len;
		uint8_t *msg;
		struct eio_packet p;

		if (v->ws_text == NULL)
			continue; /* a binary frame is the bytes themselves: no codec */
		len = strlen(v->ws_text);
		msg = eio_test_copy(v->ws_text, len);
		assert_int_equal(eio_decode_text(msg, len, &p), 0);
		eio_test_assert_packet(&p, &v->packet);
		assert_ptr_equal(p.data, msg + 1);
		test_free(msg);
	}
}

static void every_payload_vector_body_matches_its_captured_hex(void **state)
{
	for (size_t i = 0; i < N_ELEMS(eio_test_payload_vectors); i++) {
		const struct eio_test_payload *v = &eio_test_payload_vectors[i];
		char hex[3];

		assert_int_equal(strlen(v->body_hex), 2 * v->body_len);
		for (size_t j = 0; j < v->body_len; j++) {
			snprintf(hex, sizeof hex, "%02x", (unsigned char)v->body[j]);
			assert_memory_equal(hex, v->body_hex + 2 * j, 2);
		}
	}
}

static void every_payload_vector_encodes_to_its_body(void **state)
{
	for (size_t i = 0; i < N_ELEMS(eio_test_payload_vectors); i++)
		eio_test_assert_payload_encodes(&eio_test_payload_vectors[i]);
}

static void every_payload_vector_decodes_to_its_packets(void **state)
{
	for (size_t i = 0; i < N_ELEMS(eio_test_payload_vectors); i++)
		eio_test_assert_payload_decodes(&eio_test_payload_vectors[i]);
}

static void every_decode_vector_gives_the_reference_packets_and_errors(void **state)
{
	for (size_t i = 0; i < N_ELEMS(eio_test_decode_vectors); i++)
		eio_test_assert_payload_decodes(&eio_test_decode_vectors[i]);
}

static void empty_body_is_a_parse_error(void **state)
{
	uint8_t byte = '4';
	size_t pos = 0;
	struct eio_packet p;

	assert_int_equal(eio_payload_next(&byte, 0, &pos, &p), -1);
	assert_int_equal(pos, 0);
}

static void trailing_separator_is_a_parse_error_after_the_good_packets(void **state)
{
	static const struct eio_test_payload v = {
		BODY("4a" RS "2" RS), { TXT(EIO_MESSAGE, "a"), TXT(EIO_PING, "") }, 2, true, NULL,
	};

	eio_test_assert_payload_decodes(&v);
}

static void empty_record_between_separators_is_a_parse_error_after_the_good_packets(void **state)
{
	static const struct eio_test_payload v = {
		BODY("4a" RS RS "4b"), { TXT(EIO_MESSAGE, "a") }, 1, true, NULL,
	};

	eio_test_assert_payload_decodes(&v);
}

static void leading_separator_is_a_parse_error_before_any_packet(void **state)
{
	static const struct eio_test_payload v = { BODY(RS "4a"), { { 0 } }, 0, true, NULL };

	eio_test_assert_payload_decodes(&v);
}

static void unknown_type_stops_the_payload_after_the_good_packets(void **state)
{
	static const struct eio_test_payload v = {
		BODY("4a" RS "7x" RS "4b"), { TXT(EIO_MESSAGE, "a") }, 1, true, NULL,
	};

	eio_test_assert_payload_decodes(&v);
}

static void bad_base64_record_stops_the_payload_after_the_good_packets(void **state)
{
	static const struct eio_test_payload v = {
		BODY("bAQID" RS "bAQ" RS "4b"), { BIN("\x01\x02\x03") }, 1, true, NULL,
	};

	eio_test_assert_payload_decodes(&v);
}

/* The engine quotes the offending input in its log line (STYLE.md 4), so
 * a rejected record must still hold what the client sent, and *pos must
 * point at it. */
static void rejected_record_is_left_unchanged_and_pos_points_at_it(void **state)
{
	static const char body_text[] = "4a" RS "bAQIDAQ=A" RS "2";
	size_t len = sizeof body_text - 1;
	uint8_t *body = eio_test_copy(body_text, len);
	struct eio_packet p;
	size_t pos = 0;

	assert_int_equal(eio_payload_next(body, len, &pos, &p), 1);
	assert_int_equal(pos, 3);
	assert_int_equal(eio_payload_next(body, len, &pos, &p), -1);
	assert_int_equal(pos, 3);
	assert_memory_equal(body, body_text, len);
	test_free(body);
}

static void every_first_byte_but_the_type_digits_and_b_is_a_parse_error(void **state)
{
	for (unsigned c = 0; c < 256; c++) {
		uint8_t rec[6] = { (uint8_t)c, 'h', 'e', 'l', 'l', 'o' };
		bool is_type = c >= '0' && c <= '6';
		struct eio_packet p;
		size_t pos = 0;

		if (c == 'b')
			continue; /* base64, covered below */
		assert_int_equal(eio_decode_text(rec, 1, &p), is_type ? 0 : -1);
		assert_int_equal(eio_decode_text(rec, sizeof rec, &p), is_type ? 0 : -1);
		assert_int_equal(eio_payload_next(rec, sizeof rec, &pos, &p), is_type ? 1 : -1);
		if (is_type) {
			assert_int_equal(p.type, (int)(c - '0'));
			assert_false(p.binary);
			assert_int_equal(p.len, 5);
			assert_memory_equal(p.data, "hello", 5);
		}
	}
}

static void data_after_the_type_digit_is_returned_as_is(void **state)
{
	/* Digits, `b`, spaces, NUL and a JSON-looking tail are all just data. */
	static const struct eio_test_payload v = {
		BODY("2probe" RS "4" RS "4 b \0x" RS "0{}" RS "40/chat,"),
		{ TXT(EIO_PING, "probe"), TXT(EIO_MESSAGE, ""), TXT(EIO_MESSAGE, " b \0x"),
		  TXT(EIO_OPEN, "{}"), TXT(EIO_MESSAGE, "0/chat,") },
		5, false, NULL,
	};

	eio_test_assert_payload_decodes(&v);
}

static void utf8_data_passes_through_untouched(void **state)
{
	static const char data[] = "42[\"" EIO_TEST_UTF8 "\",\"\xe4\xb8\xad\xe6\x96\x87\"]";
	static const char body_text[] = "4" "42[\"" EIO_TEST_UTF8 "\",\"\xe4\xb8\xad\xe6\x96\x87\"]"
					RS "4" EIO_TEST_UTF8;
	size_t len = sizeof body_text - 1;
	uint8_t *body = eio_test_copy(body_text, len);
	uint8_t *msg = eio_test_copy(body_text, sizeof data);
	uint8_t out[sizeof data];
	struct eio_packet p;
	size_t pos = 0;

	assert_int_equal(eio_payload_next(body, len, &pos, &p), 1);
	assert_int_equal(p.len, sizeof data - 1);
	assert_memory_equal(p.data, data, p.len);
	assert_int_equal(eio_payload_next(body, len, &pos, &p), 1);
	assert_int_equal(p.len, sizeof EIO_TEST_UTF8 - 1);
	assert_memory_equal(p.data, EIO_TEST_UTF8, p.len);
	assert_int_equal(eio_payload_next(body, len, &pos, &p), 0);
	assert_memory_equal(body, body_text, len);

	assert_int_equal(eio_decode_text(msg, sizeof data, &p), 0);
	assert_memory_equal(p.data, data, sizeof data - 1);

	assert_int_equal(eio_polling_encode(out, EIO_MESSAGE, false, (const uint8_t *)data,
					    sizeof data - 1),
			 sizeof data);
	assert_memory_equal(out, body_text, sizeof data);
	test_free(msg);
	test_free(body);
}

static void websocket_text_message_is_not_split_on_the_record_separator(void **state)
{
	static const char text[] = "4a" RS "4b";
	uint8_t *msg = eio_test_copy(text, sizeof text - 1);
	struct eio_packet p;

	assert_int_equal(eio_decode_text(msg, sizeof text - 1, &p), 0);
	assert_int_equal(p.type, EIO_MESSAGE);
	assert_int_equal(p.len, sizeof text - 2);
	assert_memory_equal(p.data, text + 1, p.len);
	test_free(msg);
}

static void empty_websocket_text_message_is_a_parse_error(void **state)
{
	uint8_t byte = '4';
	struct eio_packet p;

	assert_int_equal(eio_decode_text(&byte, 0, &p), -1);
}

/* doc/protocol.md, "Engine packets": the reference parser decodes a text frame
 * starting with `b` as base64 binary; nobody sends it, but we match. */
static void websocket_text_starting_with_b_is_base64_binary_like_the_reference(void **state)
{
	static const struct {
		const char *text;
		struct eio_test_packet want;
	} cases[] = {
		{ "b", BIN("") },
		{ "bAQID", BIN("\x01\x02\x03") },
		{ "b/w==", BIN("\xff") },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		size_t len = strlen(cases[i].text);
		uint8_t *msg = eio_test_copy(cases[i].text, len);
		struct eio_packet p;

		assert_int_equal(eio_decode_text(msg, len, &p), 0);
		eio_test_assert_packet(&p, &cases[i].want);
		assert_ptr_equal(p.data, msg + 1);
		test_free(msg);
	}
	{
		uint8_t *msg = eio_test_copy("bAQ", 3);
		struct eio_packet p;

		assert_int_equal(eio_decode_text(msg, 3, &p), -1);
		test_free(msg);
	}
}

/* Encodes <data> as a binary packet, decodes it back as a polling payload
 * and as a WebSocket text message, and checks the bytes survive. */
static void eio_test_assert_binary_round_trip(const uint8_t *data, size_t len)
{
	size_t enc_len = eio_polling_encoded_len(true, len);
	uint8_t *enc = test_malloc(enc_len);
	uint8_t *copy;
	struct eio_packet p;
	size_t pos = 0;

	assert_int_equal(enc_len, 1 + (len + 2) / 3 * 4);
	assert_int_equal(eio_polling_encode(enc, EIO_MESSAGE, true, data, len), enc_len);
	assert_int_equal(enc[0], 'b');
	copy = eio_test_copy(enc, enc_len);

	assert_int_equal(eio_payload_next(enc, enc_len, &pos, &p), 1);
	assert_int_equal(p.type, EIO_MESSAGE);
	assert_true(p.binary);
	assert_int_equal(p.len, len);
	if (len != 0)
		assert_memory_equal(p.data, data, len);
	assert_int_equal(eio_payload_next(enc, enc_len, &pos, &p), 0);

	assert_int_equal(eio_decode_text(copy, enc_len, &p), 0);
	assert_true(p.binary);
	assert_int_equal(p.len, len);
	if (len != 0)
		assert_memory_equal(p.data, data, len);
	test_free(copy);
	test_free(enc);
}

static void binary_round_trips_for_every_length_from_0_to_300(void **state)
{
	uint8_t data[300] = { 0 };

	for (size_t len = 0; len <= sizeof data; len++) {
		for (size_t i = 0; i < len; i++)
			data[i] = (uint8_t)(i * 7 + len);
		eio_test_assert_binary_round_trip(data, len);
	}
}

static void random_binary_round_trips_alone_and_in_one_payload(void **state)
{
	uint32_t seed = 0x9e3779b9;
	uint8_t data[8][300] = { { 0 } };
	size_t lens[8];
	size_t total = 0;
	uint8_t *body;
	size_t n = 0;
	size_t pos = 0;
	struct eio_packet p;

	for (int round = 0; round < 200; round++) {
		size_t len = eio_test_rand(&seed) % 301;

		for (size_t i = 0; i < len; i++)
			data[0][i] = (uint8_t)eio_test_rand(&seed);
		eio_test_assert_binary_round_trip(data[0], len);
	}

	/* Several binary packets in one body: each record is decoded in place
	 * without disturbing its neighbours. */
	for (size_t k = 0; k < N_ELEMS(lens); k++) {
		lens[k] = eio_test_rand(&seed) % 301;
		for (size_t i = 0; i < lens[k]; i++)
			data[k][i] = (uint8_t)eio_test_rand(&seed);
		total += (k ? 1 : 0) + eio_polling_encoded_len(true, lens[k]);
	}
	body = test_malloc(total);
	for (size_t k = 0; k < N_ELEMS(lens); k++) {
		if (k)
			body[n++] = EIO_RECORD_SEPARATOR;
		n += eio_polling_encode(body + n, EIO_MESSAGE, true, data[k], lens[k]);
	}
	assert_int_equal(n, total);
	for (size_t k = 0; k < N_ELEMS(lens); k++) {
		assert_int_equal(eio_payload_next(body, total, &pos, &p), 1);
		assert_true(p.binary);
		assert_int_equal(p.len, lens[k]);
		if (lens[k] != 0)
			assert_memory_equal(p.data, data[k], lens[k]);
	}
	assert_int_equal(eio_payload_next(body, total, &pos, &p), 0);
	test_free(body);
}

static void base64_of_010203_is_AQID_and_of_ff_is_slash_w_padded(void **state)
{
	uint8_t out[8];
	uint8_t back[8];

	assert_int_equal(eio_base64_encoded_len(3), 4);
	assert_int_equal(eio_base64_encode(out, (const uint8_t *)"\x01\x02\x03", 3), 4);
	assert_memory_equal(out, "AQID", 4);
	assert_int_equal(eio_base64_decode(back, out, 4), 3);
	assert_memory_equal(back, "\x01\x02\x03", 3);

	assert_int_equal(eio_base64_encoded_len(1), 4);
	assert_int_equal(eio_base64_encode(out, (const uint8_t *)"\xff", 1), 4);
	assert_memory_equal(out, "/w==", 4);
	assert_int_equal(eio_base64_decode(back, out, 4), 1);
	assert_int_equal(back[0], 0xff);
}

static void base64_matches_the_rfc_4648_test_vectors(void **state)
{
	static const struct {
		const char *plain;
		const char *b64;
	} cases[] = {
		{ "", "" },           { "f", "Zg==" },         { "fo", "Zm8=" },
		{ "foo", "Zm9v" },    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" },
		{ "\xfb\xff", "+/8=" }, /* both non-alphanumeric characters */
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		size_t plain_len = strlen(cases[i].plain);
		size_t b64_len = strlen(cases[i].b64);
		uint8_t out[16];

		assert_int_equal(eio_base64_encoded_len(plain_len), b64_len);
		assert_int_equal(eio_base64_encode(out, (const uint8_t *)cases[i].plain,
						   plain_len),
				 b64_len);
		assert_memory_equal(out, cases[i].b64, b64_len);
		assert_int_equal(eio_base64_decode(out, (const uint8_t *)cases[i].b64, b64_len),
				 (long)plain_len);
		assert_memory_equal(out, cases[i].plain, plain_len);
	}
}

static void base64_decodes_in_place(void **state)
{
	uint8_t buf[] = "Zm9vYmFyZm9vYg==";

	assert_int_equal(eio_base64_decode(buf, buf, 16), 10);
	assert_memory_equal(buf, "foobarfoob", 10);
}

/* Node's Buffer.from(s, "base64") would skip or map every one of these
 * (URL-safe `-_`, whitespace, junk); the official clients never send them. */
static void base64_rejects_a_character_outside_the_standard_alphabet(void **state)
{
	static const char bad[] = "-_ .\n\r\t!\"*,:@[`{~\x7f\x80\xc3\xff";

	for (size_t i = 0; i < sizeof bad; i++) { /* sizeof: NUL is bad too */
		for (size_t at = 0; at < 4; at++) {
			uint8_t in[4] = { 'A', 'Q', 'I', 'D' };
			uint8_t out[3] = { 0x55, 0x55, 0x55 };

			in[at] = (uint8_t)bad[i];
			assert_int_equal(eio_base64_decode(out, in, 4), -1);
			assert_memory_equal(out, "\x55\x55\x55", 3);
		}
	}
}

static void every_byte_outside_the_alphabet_is_rejected_and_every_byte_inside_accepted(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (unsigned c = 0; c < 256; c++) {
		bool inside = c != 0 && strchr(alphabet, (int)c) != NULL;
		uint8_t in[8] = { 'A', 'A', 'A', 'A', (uint8_t)c, 'A', 'A', 'A' };
		uint8_t out[6];

		assert_int_equal(eio_base64_decode(out, in, 8), inside ? 6 : -1);
	}
}

static void base64_rejects_bad_padding(void **state)
{
	static const char *const cases[] = {
		"A===", "====", "AQ=A", "A=ID", "=QID", "AQ==AQID", "AQI=AQID", "=AAA", "AA=A",
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		uint8_t out[8];

		assert_int_equal(
			eio_base64_decode(out, (const uint8_t *)cases[i], strlen(cases[i])), -1);
	}
}

/* Unpadded forms are what Node accepts and the clients never send. */
static void base64_rejects_a_length_that_is_not_a_multiple_of_4(void **state)
{
	static const char *const cases[] = { "A", "AQ", "AQI", "AQIDA", "AQID=", "Zm9vYg", "Zm9vYmE" };

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		uint8_t out[8];

		assert_int_equal(
			eio_base64_decode(out, (const uint8_t *)cases[i], strlen(cases[i])), -1);
	}
}

/* "AR==" would decode to 01 like "AQ==": a second spelling of the same
 * bytes, which no encoder produces. */
static void base64_rejects_nonzero_bits_under_the_padding(void **state)
{
	static const char *const cases[] = { "AR==", "AB==", "/x==", "AQJ=", "AQL=", "Zm9=" };

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		uint8_t out[8];

		assert_int_equal(
			eio_base64_decode(out, (const uint8_t *)cases[i], strlen(cases[i])), -1);
	}
}

static void open_packet_with_the_websocket_upgrade_is_byte_exact(void **state)
{
	static const char want[] = "0" EIO_TEST_OPEN_JSON;
	char out[256];

	assert_int_equal(eio_open_packet(out, sizeof out, "abc", true, 25000, 20000, 1000000),
			 sizeof want - 1);
	assert_string_equal(out, want);
}

static void open_packet_without_the_upgrade_has_an_empty_upgrades_list(void **state)
{
	static const char want[] = "0{\"sid\":\"skkgjK-k9y70sMIDAAAA\",\"upgrades\":[],"
				   "\"pingInterval\":25000,\"pingTimeout\":20000,"
				   "\"maxPayload\":1000000}";
	char out[256];

	assert_int_equal(eio_open_packet(out, sizeof out, "skkgjK-k9y70sMIDAAAA", false, 25000,
					 20000, 1000000),
			 sizeof want - 1);
	assert_string_equal(out, want);
}

static void open_packet_with_max_payload_100_says_100(void **state)
{
	static const char want[] = "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],"
				   "\"pingInterval\":25000,\"pingTimeout\":20000,"
				   "\"maxPayload\":100}";
	char out[256];

	assert_int_equal(eio_open_packet(out, sizeof out, "abc", true, 25000, 20000, 100),
			 sizeof want - 1);
	assert_string_equal(out, want);
}

static void open_packet_writes_the_largest_numbers_in_plain_decimal(void **state)
{
	char want[256];
	char out[256];

	snprintf(want, sizeof want,
		 "0{\"sid\":\"a_-Z9\",\"upgrades\":[],\"pingInterval\":4294967295,"
		 "\"pingTimeout\":0,\"maxPayload\":%zu}",
		 (size_t)SIZE_MAX);
	assert_int_equal(eio_open_packet(out, sizeof out, "a_-Z9", false, UINT32_MAX, 0, SIZE_MAX),
			 strlen(want));
	assert_string_equal(out, want);
}

/* The packet is written with its NUL: a buffer of its length plus one is
 * the smallest that works (N+1 passes, N fails with an empty string). */
static void open_packet_needs_room_for_its_bytes_and_a_nul(void **state)
{
	static const char want[] = "0" EIO_TEST_OPEN_JSON;
	size_t n = sizeof want - 1;
	char *out = test_malloc(n + 1);

	assert_int_equal(eio_open_packet(out, n + 1, "abc", true, 25000, 20000, 1000000), n);
	assert_string_equal(out, want);
	assert_int_equal(eio_open_packet(out, n, "abc", true, 25000, 20000, 1000000), 0);
	assert_string_equal(out, "");
	assert_int_equal(eio_open_packet(out, 1, "abc", true, 25000, 20000, 1000000), 0);
	assert_string_equal(out, "");
	assert_int_equal(eio_open_packet(NULL, 0, "abc", true, 25000, 20000, 1000000), 0);
	test_free(out);
}

static void open_packet_refuses_a_sid_outside_url_safe_base64(void **state)
{
	static const char *const bad[] = {
		"", "a\"b", "a\\b", "a b", "a+b", "a/b", "a=b", "a.b", "a\x7f", "\xc3\xa9", "a\nb",
	};
	char out[256];

	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		assert_int_equal(eio_open_packet(out, sizeof out, bad[i], true, 25000, 20000, 100), 0);
		assert_string_equal(out, "");
	}
	assert_int_equal(eio_open_packet(out, sizeof out, NULL, true, 25000, 20000, 100), 0);
}

/* --- UTF-8 repair of polling bodies -------------------------------------- */

static void assert_repair(const char *in, size_t in_len, const char *want, size_t want_len)
{
	uint8_t out[64];
	size_t n = eio_utf8_repaired_len((const uint8_t *)in, in_len);

	if (!want) {
		assert_int_equal(n, 0);
		return;
	}
	assert_int_equal(n, want_len);
	assert_true(n <= sizeof out);
	assert_int_equal(eio_utf8_repair(out, (const uint8_t *)in, in_len), want_len);
	assert_memory_equal(out, want, want_len);
}

static void valid_utf8_needs_no_repair(void **state)
{
	(void)state;
	assert_repair("", 0, NULL, 0);
	assert_repair("42[\"a\"]", 7, NULL, 0);
	assert_repair("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, NULL, 0);
	assert_repair("\xed\x9f\xbf\xf4\x8f\xbf\xbf", 7, NULL, 0); /* U+D7FF, U+10FFFF */
}

static void a_stray_byte_becomes_one_replacement_character(void **state)
{
	(void)state;
	/* The case Node was seen to answer: 34 ff 41 -> 34 ef bf bd 41. */
	assert_repair("4\xff" "A", 3, "4\xef\xbf\xbd" "A", 5);
	assert_repair("\x80", 1, "\xef\xbf\xbd", 3);
	assert_repair("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6); /* overlong lead */
}

static void a_truncated_sequence_is_one_maximal_subpart(void **state)
{
	(void)state;
	assert_repair("\xe2\x82" "A", 3, "\xef\xbf\xbd" "A", 4);
	assert_repair("\xf0\x9f\x98", 3, "\xef\xbf\xbd", 3);
	assert_repair("x\xe2", 2, "x\xef\xbf\xbd", 4);
}

static void surrogates_and_code_points_past_10ffff_are_replaced_byte_by_byte(void **state)
{
	(void)state;
	/* ED A0 80 (a surrogate): A0 is outside ED's second-byte range, so
	 * each byte is its own maximal subpart, as in Unicode's example. */
	assert_repair("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9);
	assert_repair("\xf4\x90\x80\x80", 4,
		      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12);
	assert_repair("\xe0\x80\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_packet_vector_encodes_to_its_polling_form),
		cmocka_unit_test(every_packet_vector_decodes_from_its_polling_form),
		cmocka_unit_test(every_text_packet_vector_decodes_from_its_websocket_text_frame),
		cmocka_unit_test(every_payload_vector_body_matches_its_captured_hex),
		cmocka_unit_test(every_payload_vector_encodes_to_its_body),
		cmocka_unit_test(every_payload_vector_decodes_to_its_packets),
		cmocka_unit_test(every_decode_vector_gives_the_reference_packets_and_errors),
		cmocka_unit_test(empty_body_is_a_parse_error),
		cmocka_unit_test(trailing_separator_is_a_parse_error_after_the_good_packets),
		cmocka_unit_test(empty_record_between_separators_is_a_parse_error_after_the_good_packets),
		cmocka_unit_test(leading_separator_is_a_parse_error_before_any_packet),
		cmocka_unit_test(unknown_type_stops_the_payload_after_the_good_packets),
		cmocka_unit_test(bad_base64_record_stops_the_payload_after_the_good_packets),
		cmocka_unit_test(rejected_record_is_left_unchanged_and_pos_points_at_it),
		cmocka_unit_test(every_first_byte_but_the_type_digits_and_b_is_a_parse_error),
		cmocka_unit_test(data_after_the_type_digit_is_returned_as_is),
		cmocka_unit_test(utf8_data_passes_through_untouched),
		cmocka_unit_test(websocket_text_message_is_not_split_on_the_record_separator),
		cmocka_unit_test(empty_websocket_text_message_is_a_parse_error),
		cmocka_unit_test(websocket_text_starting_with_b_is_base64_binary_like_the_reference),
		cmocka_unit_test(binary_round_trips_for_every_length_from_0_to_300),
		cmocka_unit_test(random_binary_round_trips_alone_and_in_one_payload),
		cmocka_unit_test(base64_of_010203_is_AQID_and_of_ff_is_slash_w_padded),
		cmocka_unit_test(base64_matches_the_rfc_4648_test_vectors),
		cmocka_unit_test(base64_decodes_in_place),
		cmocka_unit_test(base64_rejects_a_character_outside_the_standard_alphabet),
		cmocka_unit_test(every_byte_outside_the_alphabet_is_rejected_and_every_byte_inside_accepted),
		cmocka_unit_test(base64_rejects_bad_padding),
		cmocka_unit_test(base64_rejects_a_length_that_is_not_a_multiple_of_4),
		cmocka_unit_test(base64_rejects_nonzero_bits_under_the_padding),
		cmocka_unit_test(open_packet_with_the_websocket_upgrade_is_byte_exact),
		cmocka_unit_test(open_packet_without_the_upgrade_has_an_empty_upgrades_list),
		cmocka_unit_test(open_packet_with_max_payload_100_says_100),
		cmocka_unit_test(open_packet_writes_the_largest_numbers_in_plain_decimal),
		cmocka_unit_test(open_packet_needs_room_for_its_bytes_and_a_nul),
		cmocka_unit_test(open_packet_refuses_a_sid_outside_url_safe_base64),
		cmocka_unit_test(valid_utf8_needs_no_repair),
		cmocka_unit_test(a_stray_byte_becomes_one_replacement_character),
		cmocka_unit_test(a_truncated_sequence_is_one_maximal_subpart),
		cmocka_unit_test(surrogates_and_code_points_past_10ffff_are_replaced_byte_by_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
