/* test_adapter.c - unit tests for the redis-adapter wire format (adapter.c).
 *
 * Covers every broadcast and request of tests/vectors/redis-adapter-messages.json
 * and tests/vectors/redis-emitter-messages.json (the bytes the real Node packages
 * published, typed into the tables below): each broadcast decodes to its
 * uid, namespace, rooms, except and flags, and its data to the JSON the
 * captured clients received (binary as placeholders); the Node adapter's
 * own broadcasts and BROADCAST_ACK come out of our encoder byte for byte,
 * and every other broadcast survives encode and decode.  Then the JSON
 * text: numbers as Number::toString prints them, string escapes, invalid
 * UTF-8, undefined, timestamps, nested bins, map keys, plain JSON emits
 * (adapter_payload_from_json); then every msgpack head notepack writes;
 * then refusals: every truncation of valid messages, lengths and counts
 * past the end, nesting at and past ADAPTER_MAX_DEPTH, trailing bytes,
 * wrong-typed and missing fields, bad JSON.  Last, each operation is run
 * failing its 1st, 2nd, ... allocation until it succeeds.
 *
 * Expected texts were checked against Node (notepack.io 3.0.1 decoding,
 * socket.io-parser 4.2.7 encoding) where the vectors have none.  Inputs
 * are decoded from test_malloc() blocks of their exact size, so ASan and
 * cmocka see any over-read.  adapter.c and jansson allocate through
 * json_set_alloc_funcs() hooks on cmocka's allocator (failalloc.h), which
 * count live bytes and fail the n-th allocation on request.  Not covered here: what
 * cluster.c does with a message (integration tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapter.h"
#include "failalloc.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- bytes ---- */

/* A message: hex (spaces allowed) or, when it starts with '{', JSON text. */
struct adapter_test_bytes {
	uint8_t *p;             /* test_malloc() block of exactly len bytes */
	size_t len;
};

static int adapter_test_nibble(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static struct adapter_test_bytes adapter_test_bytes(const char *text)
{
	struct adapter_test_bytes b = { NULL, 0 };
	size_t n = 0;

	if (text[0] == '{' || text[0] == '[' || text[0] == '\0') {
		b.len = strlen(text);
		b.p = test_malloc(b.len != 0 ? b.len : 1);
		memcpy(b.p, text, b.len);
		return b;
	}
	for (const char *c = text; *c != '\0'; c++)
		n += *c != ' ';
	assert_int_equal(n % 2, 0);
	b.len = n / 2;
	b.p = test_malloc(b.len != 0 ? b.len : 1);
	n = 0;
	for (const char *c = text; *c != '\0'; c++) {
		if (*c == ' ')
			continue;
		if (n % 2 == 0)
			b.p[n / 2] = (uint8_t)(adapter_test_nibble(*c) << 4);
		else
			b.p[n / 2] |= (uint8_t)adapter_test_nibble(*c);
		n++;
	}
	return b;
}

/* A copy of bytes in a block of exactly <len>. */
static uint8_t *adapter_test_copy(const uint8_t *p, size_t len)
{
	uint8_t *q = test_malloc(len != 0 ? len : 1);

	if (len != 0)
		memcpy(q, p, len);
	return q;
}

static void adapter_test_hex_of(char *out, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
	out[2 * len] = '\0';
}

/* ---- msgpack pieces ---- */

#define K_TYPE "a4 74797065"
#define K_DATA "a4 64617461"
#define K_NSP "a3 6e7370"
#define K_ROOMS "a5 726f6f6d73"
#define K_EXCEPT "a6 657863657074"
#define K_FLAGS "a5 666c616773"
#define K_VOLATILE "a8 766f6c6174696c65"
#define K_LOCAL "a5 6c6f63616c"
#define K_TIMEOUT "a7 74696d656f7574"
#define K_UID "a3 756964"
#define K_REQUEST_ID "a9 726571756573744964"
#define K_PACKET "a6 7061636b6574"
#define K_OPTS "a4 6f707473"

/* ["u", {type: 2, data: ["q"], nsp: "/"}, {rooms: [], except: [], flags: {}}] */
#define T_UID "a1 75"
#define T_PACKET "83" K_TYPE "02" K_DATA "91 a1 71" K_NSP "a1 2f"
#define T_OPTS "83" K_ROOMS "90" K_EXCEPT "90" K_FLAGS "80"
#define T_BROADCAST "93" T_UID T_PACKET T_OPTS

/* {"_placeholder":true,"num":N} */
#define PH(n) "{\"_placeholder\":true,\"num\":" #n "}"

/* ---- payloads ---- */

static void adapter_test_payload_is(const char *hex, const char *json)
{
	struct adapter_test_bytes b = adapter_test_bytes(hex);
	struct adapter_payload p;
	enum adapter_result res = adapter_payload_from_msgpack(b.p, b.len, &p);

	if (res != ADAPTER_OK)
		fail_msg("%s: %s, want %s", hex, adapter_result_text(res), json);
	assert_string_equal(p.json, json);
	assert_int_equal(p.json_len, strlen(json));
	adapter_payload_free(&p);
	test_free(b.p);
}

static void adapter_test_payload_fails(const char *hex, enum adapter_result want)
{
	struct adapter_test_bytes b = adapter_test_bytes(hex);
	struct adapter_payload p;
	enum adapter_result res = adapter_payload_from_msgpack(b.p, b.len, &p);

	if (res != want)
		fail_msg("%s: %s, want %s", hex, adapter_result_text(res),
			 adapter_result_text(want));
	assert_null(p.json);
	assert_int_equal(p.n_attachments, 0);
	test_free(b.p);
}

/* ---- broadcast vectors ---- */

struct adapter_test_broadcast {
	const char *what;
	const char *hex;
	const char *uid, *nsp;
	const char *rooms[3], *except[3];  /* NULL-terminated */
	struct adapter_flags flags;
	const char *json;                  /* the data as clients get it */
	const char *bins[2];               /* hex of the attachments, in order */
	bool exact;                        /* our encoder writes these very bytes */
};

#define VOLATILE { true, false, false, 0 }

static const struct adapter_test_broadcast adapter_test_broadcasts[] = {
	/* redis-adapter-messages.json */
	{ "emit-all",
	  "93a662344a77693783a47479706502a46461746192a46e65777381a16101a36e7370a12f83a5726f6f6d7390"
	  "a665786365707490a5666c61677380",
	  "b4Jwi7", "/", { NULL }, { NULL }, { 0 }, "[\"news\",{\"a\":1}]", { NULL }, true },
	{ "emit-room",
	  "93a662344a77693783a47479706502a46461746192a46e657773a5746f207231a36e7370a12f83a5726f6f"
	  "6d7391a27231a665786365707490a5666c61677380",
	  "b4Jwi7", "/", { "r1" }, { NULL }, { 0 }, "[\"news\",\"to r1\"]", { NULL }, true },
	{ "emit-rooms",
	  "93a662344a77693783a47479706502a46461746192a46e657773a56d756c7469a36e7370a12f83a5726f6f"
	  "6d7392a27231a27232a665786365707491a27233a5666c61677380",
	  "b4Jwi7", "/", { "r1", "r2" }, { "r3" }, { 0 }, "[\"news\",\"multi\"]", { NULL }, true },
	{ "emit-except",
	  "93a662344a77693783a47479706502a46461746192a46e657773a9657863657074207233a36e7370a12f83"
	  "a5726f6f6d7390a665786365707491a27233a5666c61677380",
	  "b4Jwi7", "/", { NULL }, { "r3" }, { 0 }, "[\"news\",\"except r3\"]", { NULL }, true },
	{ "volatile",
	  "93a662344a77693783a47479706502a46461746192a17601a36e7370a12f83a5726f6f6d7390a665786365"
	  "707490a5666c61677381a8766f6c6174696c65c3",
	  "b4Jwi7", "/", { NULL }, { NULL }, VOLATILE, "[\"v\",1]", { NULL }, true },
	{ "compress (the flag is not ours to keep)",
	  "93a662344a77693783a47479706502a46461746192a16301a36e7370a12f83a5726f6f6d7390a665786365"
	  "707490a5666c61677381a8636f6d7072657373c2",
	  "b4Jwi7", "/", { NULL }, { NULL }, { 0 }, "[\"c\",1]", { NULL }, false },
	{ "bin",
	  "93a662344a77693783a47479706502a46461746193a362696ec40301020381a178c401ffa36e7370a12f83"
	  "a5726f6f6d7390a665786365707490a5666c61677380",
	  "b4Jwi7", "/", { NULL }, { NULL }, { 0 },
	  "[\"bin\"," PH(0) ",{\"x\":" PH(1) "}]", { "010203", "ff" }, true },
	{ "nsp-emit",
	  "93a631754f42456c83a47479706502a46461746192a361646da26869a36e7370a62f61646d696e83a5726f"
	  "6f6d7390a665786365707490a5666c61677380",
	  "1uOBEl", "/admin", { NULL }, { NULL }, { 0 }, "[\"adm\",\"hi\"]", { NULL }, true },
	{ "socket-relay",
	  "93a662344a77693783a47479706502a46461746192a772656c61796564b966726f6d207772714d6b727439"
	  "616b4339446b2d4841414141a36e7370a12f83a5726f6f6d7391a27231a665786365707491b47772714d6b"
	  "727439616b4339446b2d4841414141a5666c61677380",
	  "b4Jwi7", "/", { "r1" }, { "wrqMkrt9akC9Dk-HAAAA" }, { 0 },
	  "[\"relayed\",\"from wrqMkrt9akC9Dk-HAAAA\"]", { NULL }, true },
	{ "socket-broadcast",
	  "93a662344a77693783a47479706502a46461746192a772656c61796564a962726f616463617374a36e7370"
	  "a12f83a5726f6f6d7390a665786365707491b47772714d6b727439616b4339446b2d4841414141a5666c61"
	  "677380",
	  "b4Jwi7", "/", { NULL }, { "wrqMkrt9akC9Dk-HAAAA" }, { 0 },
	  "[\"relayed\",\"broadcast\"]", { NULL }, true },
	{ "packet without nsp",
	  "93a468616e6482a47479706502a46461746191ac6e6f2d6e73702d6669656c6482a5726f6f6d7390a66578"
	  "6365707490",
	  "hand", "/", { NULL }, { NULL }, { 0 }, "[\"no-nsp-field\"]", { NULL }, false },
	{ "opts without flags",
	  "93a468616e6483a47479706502a46461746191a86e6f2d666c616773a36e7370a12f82a5726f6f6d7390a6"
	  "65786365707490",
	  "hand", "/", { NULL }, { NULL }, { 0 }, "[\"no-flags\"]", { NULL }, false },
	{ "room nobody has",
	  "93a468616e6483a47479706502a46461746191a567686f7374a36e7370a12f82a5726f6f6d7391a567686f"
	  "7374a665786365707490",
	  "hand", "/", { "ghost" }, { NULL }, { 0 }, "[\"ghost\"]", { NULL }, false },
	{ "socket id room",
	  "93a468616e6483a47479706502a46461746191b1746f2d736f636b65742d69642d726f6f6da36e7370a12f"
	  "82a5726f6f6d7391b4695468627a55594b685a6e774654445641414141a665786365707490",
	  "hand", "/", { "iThbzUYKhZnwFTDVAAAA" }, { NULL }, { 0 }, "[\"to-socket-id-room\"]",
	  { NULL }, false },
	/* redis-emitter-messages.json: opts keys come as rooms, flags, except */
	{ "emitter emit",
	  "93a7656d697474657283a47479706502a46461746194a2657601a374776f81a5746872656503a36e7370a1"
	  "2f83a5726f6f6d7390a5666c61677380a665786365707490",
	  "emitter", "/", { NULL }, { NULL }, { 0 }, "[\"ev\",1,\"two\",{\"three\":3}]", { NULL },
	  false },
	{ "emitter to(r1)",
	  "93a7656d697474657283a47479706502a46461746192a26576a7726f6f6d207231a36e7370a12f83a5726f"
	  "6f6d7391a27231a5666c61677380a665786365707490",
	  "emitter", "/", { "r1" }, { NULL }, { 0 }, "[\"ev\",\"room r1\"]", { NULL }, false },
	{ "emitter to([r1,r2])",
	  "93a7656d697474657283a47479706502a46461746192a26576ab726f6f6d73207231207232a36e7370a12f"
	  "83a5726f6f6d7392a27231a27232a5666c61677380a665786365707490",
	  "emitter", "/", { "r1", "r2" }, { NULL }, { 0 }, "[\"ev\",\"rooms r1 r2\"]", { NULL },
	  false },
	{ "emitter except(r3)",
	  "93a7656d697474657283a47479706502a46461746192a26576aa616c6c20627574207233a36e7370a12f83"
	  "a5726f6f6d7390a5666c61677380a665786365707491a27233",
	  "emitter", "/", { NULL }, { "r3" }, { 0 }, "[\"ev\",\"all but r3\"]", { NULL }, false },
	{ "emitter to(r1).except(r2)",
	  "93a7656d697474657283a47479706502a46461746192a26576ab7231206d696e7573207232a36e7370a12f"
	  "83a5726f6f6d7391a27231a5666c61677380a665786365707491a27232",
	  "emitter", "/", { "r1" }, { "r2" }, { 0 }, "[\"ev\",\"r1 minus r2\"]", { NULL }, false },
	{ "emitter to(socketId)",
	  "93a7656d697474657283a47479706502a46461746192a26576b0746f206f6e6520736f636b6574206964a3"
	  "6e7370a12f83a5726f6f6d7391b4456176486a397a626b6b6f4e4434646d41414146a5666c61677380a665"
	  "786365707490",
	  "emitter", "/", { "EavHj9zbkkoND4dmAAAF" }, { NULL }, { 0 },
	  "[\"ev\",\"to one socket id\"]", { NULL }, false },
	{ "emitter volatile",
	  "93a7656d697474657283a47479706502a46461746192a26576a8766f6c6174696c65a36e7370a12f83a572"
	  "6f6f6d7390a5666c61677381a8766f6c6174696c65c3a665786365707490",
	  "emitter", "/", { NULL }, { NULL }, VOLATILE, "[\"ev\",\"volatile\"]", { NULL }, false },
	{ "emitter compress(false)",
	  "93a7656d697474657283a47479706502a46461746192a26576ac756e636f6d70726573736564a36e7370a1"
	  "2f83a5726f6f6d7390a5666c61677381a8636f6d7072657373c2a665786365707490",
	  "emitter", "/", { NULL }, { NULL }, { 0 }, "[\"ev\",\"uncompressed\"]", { NULL }, false },
	{ "emitter of('/admin')",
	  "93a7656d697474657283a47479706502a46461746192a26576a961646d696e206e7370a36e7370a62f6164"
	  "6d696e83a5726f6f6d7390a5666c61677380a665786365707490",
	  "emitter", "/admin", { NULL }, { NULL }, { 0 }, "[\"ev\",\"admin nsp\"]", { NULL },
	  false },
	{ "emitter of('admin')",
	  "93a7656d697474657283a47479706502a46461746192a26576b661646d696e206e73702c20736c61736820"
	  "6164646564a36e7370a62f61646d696e83a5726f6f6d7390a5666c61677380a665786365707490",
	  "emitter", "/admin", { NULL }, { NULL }, { 0 }, "[\"ev\",\"admin nsp, slash added\"]",
	  { NULL }, false },
	{ "emitter binary",
	  "93a7656d697474657283a47479706502a46461746193a362696ec40301020381a66e6573746564c401ffa3"
	  "6e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490",
	  "emitter", "/", { NULL }, { NULL }, { 0 },
	  "[\"bin\"," PH(0) ",{\"nested\":" PH(1) "}]", { "010203", "ff" }, false },
	{ "emitter Date, undefined, float, -1, 2^40",
	  "93a7656d697474657283a47479706502a46461746197a57479706573d6ff00000000c0c0cb3ff800000000"
	  "0000ffcf0000010000000000a36e7370a12f83a5726f6f6d7390a5666c61677380a665786365707490",
	  "emitter", "/", { NULL }, { NULL }, { 0 },
	  "[\"types\",\"1970-01-01T00:00:00.000Z\",null,null,1.5,-1,1099511627776]", { NULL },
	  false },
	{ "emitter to(r5)",
	  "93a7656d697474657283a47479706502a46461746192a26576a27235a36e7370a12f83a5726f6f6d7391a2"
	  "7235a5666c61677380a665786365707490",
	  "emitter", "/", { "r5" }, { NULL }, { 0 }, "[\"ev\",\"r5\"]", { NULL }, false },
};

static size_t adapter_test_n_names(const char *const *names)
{
	size_t n = 0;

	while (n < 3 && names[n] != NULL)
		n++;
	return n;
}

static void adapter_test_str_is(const char *what, struct adapter_str s, const char *want)
{
	size_t len = want != NULL ? strlen(want) : 0;

	if (s.len != len || (len != 0 && memcmp(s.s, want, len) != 0))
		fail_msg("%s: \"%.*s\", want \"%s\"", what, (int)s.len, s.s != NULL ? s.s : "",
			 want != NULL ? want : "");
}

static void adapter_test_names_are(const char *what, const struct room_name *names, size_t n,
				   const char *const *want)
{
	size_t n_want = adapter_test_n_names(want);

	if (n != n_want)
		fail_msg("%s: %zu names, want %zu", what, n, n_want);
	if (n == 0)
		assert_null(names);
	for (size_t i = 0; i < n; i++)
		adapter_test_str_is(what, (struct adapter_str){ names[i].name, names[i].len },
				    want[i]);
}

static void adapter_test_flags_are(const struct adapter_flags *f, const struct adapter_flags *want)
{
	assert_int_equal(f->is_volatile, want->is_volatile);
	assert_int_equal(f->local, want->local);
	assert_int_equal(f->has_timeout, want->has_timeout);
	assert_int_equal(f->timeout_ms, want->timeout_ms);
}

/* Converts <data> and checks the text and the attachments. */
static void adapter_test_data_is(const char *what, const uint8_t *data, size_t len,
				 const char *json, const char *const *bins)
{
	struct adapter_payload p;
	enum adapter_result res = adapter_payload_from_msgpack(data, len, &p);
	unsigned n_bins = bins[0] == NULL ? 0 : bins[1] == NULL ? 1 : 2;
	char hex[64];

	if (res != ADAPTER_OK)
		fail_msg("%s: data gives %s", what, adapter_result_text(res));
	if (strcmp(p.json, json) != 0)
		fail_msg("%s: data is %s, want %s", what, p.json, json);
	assert_int_equal(p.n_attachments, n_bins);
	for (unsigned i = 0; i < n_bins; i++) {
		adapter_test_hex_of(hex, p.attachments[i], p.attachment_lens[i]);
		assert_string_equal(hex, bins[i]);
	}
	adapter_payload_free(&p);
}

static void adapter_test_broadcast_is(const struct adapter_test_broadcast *c,
				      const struct adapter_broadcast *b)
{
	adapter_test_str_is(c->what, b->uid, c->uid);
	adapter_test_str_is(c->what, b->nsp, c->nsp);
	assert_int_equal(b->type, PACKET_EVENT);
	adapter_test_names_are(c->what, b->rooms, b->n_rooms, c->rooms);
	adapter_test_names_are(c->what, b->except, b->n_except, c->except);
	adapter_test_flags_are(&b->flags, &c->flags);
	adapter_test_data_is(c->what, b->data, b->data_len, c->json, c->bins);
}

static void every_broadcast_vector_decodes_to_its_fields_and_client_json(void **state)
{
	for (size_t i = 0; i < N_ELEMS(adapter_test_broadcasts); i++) {
		const struct adapter_test_broadcast *c = &adapter_test_broadcasts[i];
		struct adapter_test_bytes in = adapter_test_bytes(c->hex);
		struct adapter_broadcast b;
		enum adapter_result res = adapter_decode_broadcast(in.p, in.len, &b);

		if (res != ADAPTER_OK)
			fail_msg("%s: %s", c->what, adapter_result_text(res));
		/* data lies inside the message */
		assert_true(b.data > in.p && b.data + b.data_len <= in.p + in.len);
		adapter_test_broadcast_is(c, &b);
		adapter_broadcast_free(&b);
		test_free(in.p);
	}
}

/* Encodes the broadcast <c> describes into <out> from its client JSON. */
static void adapter_test_encode(const struct adapter_test_broadcast *c, struct adapter_buf *out)
{
	struct room_name rooms[3], except[3];
	size_t n_rooms = adapter_test_n_names(c->rooms), n_except = adapter_test_n_names(c->except);
	struct adapter_test_bytes bins[2] = { { NULL, 0 }, { NULL, 0 } };
	const uint8_t *att[2];
	size_t att_lens[2];
	unsigned n_bins = 0;
	json_t *data = json_loads(c->json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

	assert_non_null(data);
	for (size_t i = 0; i < n_rooms; i++)
		rooms[i] = (struct room_name){ c->rooms[i], strlen(c->rooms[i]) };
	for (size_t i = 0; i < n_except; i++)
		except[i] = (struct room_name){ c->except[i], strlen(c->except[i]) };
	for (; n_bins < 2 && c->bins[n_bins] != NULL; n_bins++) {
		bins[n_bins] = adapter_test_bytes(c->bins[n_bins]);
		att[n_bins] = bins[n_bins].p;
		att_lens[n_bins] = bins[n_bins].len;
	}
	assert_int_equal(adapter_encode_broadcast(out, c->uid, c->nsp, strlen(c->nsp), data, att,
						  att_lens, n_bins, rooms, n_rooms, except,
n_except,
						  &c->flags),
			 0);
	json_decref(data);
	for (unsigned i = 0; i < n_bins; i++)
		test_free(bins[i].p);
}

static void node_adapter_broadcasts_encode_to_the_captured_bytes(void **state)
{
	size_t n_exact = 0;

	for (size_t i = 0; i < N_ELEMS(adapter_test_broadcasts); i++) {
		const struct adapter_test_broadcast *c = &adapter_test_broadcasts[i];
		struct adapter_buf out = { NULL, 0, 0 };
		char hex[1024];

		if (!c->exact)
			continue;
		adapter_test_encode(c, &out);
		adapter_test_hex_of(hex, out.data, out.len);
		if (strcmp(hex, c->hex) != 0)
			fail_msg("%s:\n got %s\nwant %s", c->what, hex, c->hex);
		adapter_buf_free(&out);
		n_exact++;
	}
	assert_int_equal(n_exact, 9);
}

static void every_broadcast_vector_survives_encode_then_decode(void **state)
{
	for (size_t i = 0; i < N_ELEMS(adapter_test_broadcasts); i++) {
		const struct adapter_test_broadcast *c = &adapter_test_broadcasts[i];
		struct adapter_buf out = { NULL, 0, 0 };
		struct adapter_broadcast b;
		uint8_t *copy;

		adapter_test_encode(c, &out);
		copy = adapter_test_copy(out.data, out.len);
		assert_int_equal(adapter_decode_broadcast(copy, out.len, &b), ADAPTER_OK);
		adapter_test_broadcast_is(c, &b);
		adapter_broadcast_free(&b);
		test_free(copy);
		adapter_buf_free(&out);
	}
}

static void encoder_appends_to_what_the_buffer_holds(void **state)
{
	const struct adapter_test_broadcast *c = &adapter_test_broadcasts[0];
	struct adapter_buf out = { NULL, 0, 0 };
	char hex[1024];

	adapter_test_encode(c, &out);
	adapter_test_encode(c, &out);
	adapter_test_hex_of(hex, out.data, out.len);
	assert_int_equal(out.len, 2 * strlen(c->hex) / 2);
	assert_memory_equal(hex, c->hex, strlen(c->hex));
	assert_string_equal(hex + strlen(c->hex), c->hex);
	adapter_buf_free(&out);
	assert_null(out.data);
	adapter_buf_free(&out);        /* twice is harmless */
}

/* ---- request vectors ---- */

struct adapter_test_request {
	const char *what;
	const char *bytes;              /* JSON text, or msgpack hex */
	enum adapter_result result;
	enum adapter_request_type type;
	const char *uid, *request_id;   /* NULL: absent */
	const char *rooms[3], *opts_rooms[3], *opts_except[3];
	struct adapter_flags flags;
	bool close;
	const char *sid, *room;
	const char *emit_data;          /* json_dumps of emit_data, compact */
	const char *packet_nsp;         /* BROADCAST: nsp, and data as text */
	const char *packet_json;
};

/* Shorthands for the tables: designated initializers, the rest zero. */
#define WANT_OK(t) .result = ADAPTER_OK, .type = (t)
#define WANT_ERR(r) .result = (r)
#define UID(s) .uid = (s)
#define RID(s) .request_id = (s)

static const struct adapter_test_request adapter_test_requests[] = {
	/* redis-adapter-messages.json */
	{ "join", "{\"uid\":\"b4Jwi7\",\"type\":2,\"opts\":{\"rooms\":[\"r1\"],\"except\":[]},"
		  "\"rooms\":[\"r9\",\"r10\"]}",
	  WANT_OK(ADAPTER_REMOTE_JOIN), UID("b4Jwi7"), .rooms = { "r9", "r10" },
	  .opts_rooms = { "r1" } },
	{ "leave", "{\"uid\":\"b4Jwi7\",\"type\":3,\"opts\":{\"rooms\":[\"r1\"],\"except\":[]},"
		   "\"rooms\":[\"r9\"]}",
	  WANT_OK(ADAPTER_REMOTE_LEAVE), UID("b4Jwi7"), .rooms = { "r9" }, .opts_rooms = { "r1" } },
	{ "fetch", "{\"uid\":\"b4Jwi7\",\"requestId\":\"WEwZp3\",\"type\":5,\"opts\":{\"rooms\":[],"
		   "\"except\":[]}}",
	  WANT_OK(ADAPTER_REMOTE_FETCH), UID("b4Jwi7"), RID("WEwZp3") },
	{ "fetch-room",
	  "{\"uid\":\"b4Jwi7\",\"requestId\":\"MJdEld\",\"type\":5,\"opts\":{\"rooms\":"
	  "[\"r1\"],\"except\":[]}}",
	  WANT_OK(ADAPTER_REMOTE_FETCH), UID("b4Jwi7"), RID("MJdEld"), .opts_rooms = { "r1" } },
	{ "allrooms", "{\"uid\":\"b4Jwi7\",\"requestId\":\"LKQMe9\",\"type\":1}",
	  WANT_OK(ADAPTER_ALL_ROOMS), UID("b4Jwi7"), RID("LKQMe9") },
	{ "sse", "{\"uid\":\"b4Jwi7\",\"type\":6,\"data\":[\"hello-servers\",\"x\",1]}",
	  WANT_OK(ADAPTER_SERVER_SIDE_EMIT), UID("b4Jwi7"),
	  .emit_data = "[\"hello-servers\",\"x\",1]" },
	{ "disconnect",
	  "{\"uid\":\"b4Jwi7\",\"type\":4,\"opts\":{\"rooms\":[\"r1\"],\"except\":[]},"
	  "\"close\":false}",
	  WANT_OK(ADAPTER_REMOTE_DISCONNECT), UID("b4Jwi7"), .opts_rooms = { "r1" } },
	{ "disconnect-close", "{\"uid\":\"b4Jwi7\",\"type\":4,\"opts\":{\"rooms\":[\"r1\"],"
			      "\"except\":[]},\"close\":true}",
	  WANT_OK(ADAPTER_REMOTE_DISCONNECT), UID("b4Jwi7"), .opts_rooms = { "r1" },
	  .close = true },
	{ "sse-ack", "{\"uid\":\"mKTi__\",\"requestId\":\"iKbPDw\",\"type\":6,\"data\":"
		     "[\"hello-servers\",\"y\"]}",
	  WANT_OK(ADAPTER_SERVER_SIDE_EMIT), UID("mKTi__"), RID("iKbPDw"),
	  .emit_data = "[\"hello-servers\",\"y\"]" },
	{ "SOCKETS type 0", "{\"uid\":\"hand\",\"requestId\":\"req001\",\"type\":0,\"rooms\":[]}",
	  WANT_OK(ADAPTER_SOCKETS), UID("hand"), RID("req001") },
	{ "ALL_ROOMS without uid", "{\"requestId\":\"req002\",\"type\":1}",
	  WANT_OK(ADAPTER_ALL_ROOMS), RID("req002") },
	{ "REMOTE_FETCH type 5", "{\"uid\":\"hand\",\"requestId\":\"req003\",\"type\":5,\"opts\":"
				 "{\"rooms\":[\"nothing-here\"],\"except\":[]}}",
	  WANT_OK(ADAPTER_REMOTE_FETCH), UID("hand"), RID("req003"),
	  .opts_rooms = { "nothing-here" } },
	{ "unknown type 42", "{\"uid\":\"hand\",\"requestId\":\"req004\",\"type\":42}",
	  WANT_ERR(ADAPTER_ERR_TYPE) },
	{ "malformed JSON", "{\"uid\":", WANT_ERR(ADAPTER_ERR_MALFORMED) },
	{ "legacy REMOTE_JOIN", "{\"uid\":\"hand\",\"requestId\":\"req010\",\"type\":2,\"sid\":"
				"\"iThbzUYKhZnwFTDVAAAA\",\"room\":\"legacy-room\"}",
	  WANT_OK(ADAPTER_REMOTE_JOIN), UID("hand"), RID("req010"), .sid = "iThbzUYKhZnwFTDVAAAA",
	  .room = "legacy-room" },
	{ "msgpack REMOTE_FETCH",
	  "84a3756964a468616e64a9726571756573744964a6726571303131a47479706505a46f70747382a5726f6f"
	  "6d7391ab6c65676163792d726f6f6da665786365707490",
	  WANT_OK(ADAPTER_REMOTE_FETCH), UID("hand"), RID("req011"),
	  .opts_rooms = { "legacy-room" } },
	{ "legacy REMOTE_LEAVE", "{\"uid\":\"hand\",\"requestId\":\"req012\",\"type\":3,\"sid\":"
				 "\"iThbzUYKhZnwFTDVAAAA\",\"room\":\"legacy-room\"}",
	  WANT_OK(ADAPTER_REMOTE_LEAVE), UID("hand"), RID("req012"), .sid = "iThbzUYKhZnwFTDVAAAA",
	  .room = "legacy-room" },
	{ "BROADCAST with ack",
	  "85a3756964a662344a776937a9726571756573744964a6626f39616638a47479706507a67061636b657483"
	  "a47479706502a46461746192a171a461636b3fa36e7370a12fa46f70747383a5726f6f6d7390a665786365"
	  "707490a5666c61677381a774696d656f7574cd03e8",
	  WANT_OK(ADAPTER_BROADCAST), UID("b4Jwi7"), RID("bo9af8"),
	  .flags = { false, false, true, 1000 }, .packet_nsp = "/",
	  .packet_json = "[\"q\",\"ack?\"]" },
	{ "BROADCAST_CLIENT_COUNT response",
	  "{\"type\":8,\"requestId\":\"bo9af8\",\"clientCount\":2}",
	  WANT_OK(ADAPTER_BROADCAST_CLIENT_COUNT), RID("bo9af8") },
	{ "BROADCAST_ACK response",
	  "83a47479706509a9726571756573744964a6626f39616638a67061636b6574ad61636b2066726f6d206342"
	  "4042",
	  WANT_OK(ADAPTER_BROADCAST_ACK), RID("bo9af8") },
	{ "BROADCAST with ack to r-none",
	  "85a3756964a468616e64a9726571756573744964a6726571303133a47479706507a67061636b657483a474"
	  "79706502a46461746191a171a36e7370a12fa46f70747383a5726f6f6d7391a6722d6e6f6e65a665786365"
	  "707490a5666c61677381a774696d656f7574cd03e8",
	  WANT_OK(ADAPTER_BROADCAST), UID("hand"), RID("req013"), .opts_rooms = { "r-none" },
	  .flags = { false, false, true, 1000 }, .packet_nsp = "/", .packet_json = "[\"q\"]" },
	{ "legacy REMOTE_DISCONNECT",
	  "{\"uid\":\"hand\",\"requestId\":\"req014\",\"type\":4,\"sid\":"
	  "\"iThbzUYKhZnwFTDVAAAA\",\"close\":true}",
	  WANT_OK(ADAPTER_REMOTE_DISCONNECT), UID("hand"), RID("req014"), .close = true,
	  .sid = "iThbzUYKhZnwFTDVAAAA" },
	/* redis-emitter-messages.json: no uid on join, leave, disconnect */
	{ "emitter socketsJoin(r5)", "{\"type\":2,\"opts\":{\"rooms\":[],\"except\":[]},\"rooms\":"
				     "[\"r5\"]}",
	  WANT_OK(ADAPTER_REMOTE_JOIN), .rooms = { "r5" } },
	{ "emitter in(r1).socketsJoin([r6,r7])",
	  "{\"type\":2,\"opts\":{\"rooms\":[\"r1\"],\"except\":[]},\"rooms\":[\"r6\",\"r7\"]}",
	  WANT_OK(ADAPTER_REMOTE_JOIN), .rooms = { "r6", "r7" }, .opts_rooms = { "r1" } },
	{ "emitter in(r1).socketsLeave(r6)",
	  "{\"type\":3,\"opts\":{\"rooms\":[\"r1\"],\"except\":[]},\"rooms\":[\"r6\"]}",
	  WANT_OK(ADAPTER_REMOTE_LEAVE), .rooms = { "r6" }, .opts_rooms = { "r1" } },
	{ "emitter serverSideEmit",
	  "{\"uid\":\"emitter\",\"type\":6,\"data\":[\"hello-servers\",\"from emitter\"]}",
	  WANT_OK(ADAPTER_SERVER_SIDE_EMIT), UID("emitter"),
	  .emit_data = "[\"hello-servers\",\"from emitter\"]" },
	{ "emitter in(r3).disconnectSockets()",
	  "{\"type\":4,\"opts\":{\"rooms\":[\"r3\"],\"except\":[]},\"close\":false}",
	  WANT_OK(ADAPTER_REMOTE_DISCONNECT), .opts_rooms = { "r3" } },
	{ "emitter in(r1).disconnectSockets(true)",
	  "{\"type\":4,\"opts\":{\"rooms\":[\"r1\"],\"except\":[]},\"close\":true}",
	  WANT_OK(ADAPTER_REMOTE_DISCONNECT), .opts_rooms = { "r1" }, .close = true },
};

/* Requests beyond the captures: other shapes, and refusals. */
static const struct adapter_test_request adapter_test_more_requests[] = {
	{ "type as 2.0", "{\"type\":2.0,\"sid\":\"s\",\"room\":\"r\"}",
	  WANT_OK(ADAPTER_REMOTE_JOIN), .sid = "s", .room = "r" },
	{ "SOCKETS filter", "{\"type\":0,\"rooms\":[\"a\",\"b\"],\"requestId\":\"q\"}",
	  WANT_OK(ADAPTER_SOCKETS), RID("q"), .rooms = { "a", "b" } },
	{ "opts with except and flags", "{\"type\":5,\"opts\":{\"rooms\":[\"a\"],\"except\":[\"b\","
					"\"c\"],\"flags\":{\"local\":true}}}",
	  WANT_OK(ADAPTER_REMOTE_FETCH), .opts_rooms = { "a" }, .opts_except = { "b", "c" },
	  .flags = { false, true, false, 0 } },
	{ "whitespace after the object", "{\"type\":1} \n", WANT_OK(ADAPTER_ALL_ROOMS) },
	{ "integer past int64 parses as JavaScript's number",
	  "{\"type\":1,\"requestId\":\"q\",\"n\":18446744073709551616}",
	  WANT_OK(ADAPTER_ALL_ROOMS), RID("q") },
	{ "response type 9 with a JSON packet", "{\"type\":9,\"requestId\":\"q\",\"packet\":[1]}",
	  WANT_OK(ADAPTER_BROADCAST_ACK), RID("q") },
	{ "response skips other fields", "{\"type\":8,\"requestId\":\"q\",\"uid\":5}",
	  WANT_OK(ADAPTER_BROADCAST_CLIENT_COUNT), RID("q") },
	{ "msgpack SERVER_SIDE_EMIT",
	  "82" K_TYPE "06" K_DATA "94 a2 6576 cb 3ff8000000000000 d6ff 00000000"
	  " cf ffffffffffffffff",
	  WANT_OK(ADAPTER_SERVER_SIDE_EMIT),
	  .emit_data = "[\"ev\",1.5,\"1970-01-01T00:00:00.000Z\",1.8446744073709552e19]" },
	{ "msgpack BROADCAST, binary packet type 5, no nsp",
	  "83" K_TYPE "07" K_PACKET "82" K_TYPE "05" K_DATA "92 a1 62 c4 01 09" K_OPTS "80",
	  WANT_OK(ADAPTER_BROADCAST), .packet_nsp = "/", .packet_json = "[\"b\"," PH(0) "]" },
	{ "msgpack undefined field is absent", "82" K_TYPE "01" K_UID "d4 00 00",
	  WANT_OK(ADAPTER_ALL_ROOMS) },
	{ "last of equal keys wins (msgpack)", "82" K_TYPE "03" K_TYPE "01",
	  WANT_OK(ADAPTER_ALL_ROOMS) },

	{ "empty input", "", WANT_ERR(ADAPTER_ERR_MALFORMED) },
	{ "trailing garbage after JSON", "{\"type\":1} x", WANT_ERR(ADAPTER_ERR_MALFORMED) },
	{ "two JSON objects", "{\"type\":1}{}", WANT_ERR(ADAPTER_ERR_MALFORMED) },
	{ "JSON array (read as msgpack)", "[1,2]", WANT_ERR(ADAPTER_ERR_MALFORMED) },
	{ "msgpack array", "91 01", WANT_ERR(ADAPTER_ERR_MALFORMED) },
	{ "msgpack trailing byte", "81" K_TYPE "01 c0", WANT_ERR(ADAPTER_ERR_MALFORMED) },
	{ "no type", "{\"requestId\":\"q\"}", WANT_ERR(ADAPTER_ERR_TYPE) },
	{ "type as a string", "{\"type\":\"1\"}", WANT_ERR(ADAPTER_ERR_TYPE) },
	{ "type 10", "{\"type\":10}", WANT_ERR(ADAPTER_ERR_TYPE) },
	{ "type -1", "{\"type\":-1}", WANT_ERR(ADAPTER_ERR_TYPE) },
	{ "type 1.5", "{\"type\":1.5}", WANT_ERR(ADAPTER_ERR_TYPE) },
	{ "uid a number", "{\"type\":1,\"uid\":5}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "requestId null", "{\"type\":1,\"requestId\":null}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "rooms a string", "{\"type\":0,\"rooms\":\"r1\"}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "room not a string", "{\"type\":0,\"rooms\":[\"a\",1]}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "join with opts but no rooms", "{\"type\":2,\"opts\":{\"rooms\":[]}}",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "opts an array", "{\"type\":2,\"opts\":[],\"rooms\":[]}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "opts null", "{\"type\":5,\"opts\":null}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "opts.rooms a string", "{\"type\":2,\"opts\":{\"rooms\":\"x\"},\"rooms\":[]}",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "opts.except holds a number", "{\"type\":5,\"opts\":{\"except\":[1]}}",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "flags an array", "{\"type\":5,\"opts\":{\"flags\":[]}}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "legacy join without room", "{\"type\":2,\"sid\":\"s\"}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "legacy join without sid", "{\"type\":2,\"room\":\"r\"}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "legacy join with an empty sid", "{\"type\":2,\"sid\":\"\",\"room\":\"r\"}",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "disconnect with neither opts nor sid", "{\"type\":4,\"close\":true}",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "close a string", "{\"type\":4,\"sid\":\"s\",\"close\":\"yes\"}",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "fetch without opts", "{\"type\":5}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "server-side emit without data", "{\"type\":6}", WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "server-side emit with an object", "{\"type\":6,\"data\":{}}",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "BROADCAST as JSON", "{\"type\":7,\"packet\":{\"type\":2,\"data\":[\"q\"]},\"opts\":{}}",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "msgpack BROADCAST without opts", "82" K_TYPE "07" K_PACKET T_PACKET,
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "msgpack BROADCAST without packet", "82" K_TYPE "07" K_OPTS "80",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "msgpack BROADCAST of an ACK packet",
	  "83" K_TYPE "07" K_PACKET "82" K_TYPE "03" K_DATA "91 01" K_OPTS "80",
	  WANT_ERR(ADAPTER_ERR_TYPE) },
	{ "msgpack BROADCAST with empty data",
	  "83" K_TYPE "07" K_PACKET "82" K_TYPE "02" K_DATA "90" K_OPTS "80",
	  WANT_ERR(ADAPTER_ERR_FIELD) },
	{ "msgpack server-side emit with a bin", "82" K_TYPE "06" K_DATA "92 a1 62 c4 00",
	  WANT_ERR(ADAPTER_ERR_UNSUPPORTED) },
	{ "msgpack server-side emit with a NUL in a key (jansson has none)",
	  "82" K_TYPE "06" K_DATA "91 81 a1 00 01", WANT_ERR(ADAPTER_ERR_UNSUPPORTED) },
};

static void adapter_test_request_is(const struct adapter_test_request *c,
				    const struct adapter_request *r)
{
	char *dump;

	assert_int_equal(r->type, c->type);
	adapter_test_str_is(c->what, r->uid, c->uid);
	adapter_test_str_is(c->what, r->request_id, c->request_id);
	adapter_test_names_are(c->what, r->rooms, r->n_rooms, c->rooms);
	adapter_test_names_are(c->what, r->opts_rooms, r->n_opts_rooms, c->opts_rooms);
	adapter_test_names_are(c->what, r->opts_except, r->n_opts_except, c->opts_except);
	adapter_test_flags_are(&r->flags, &c->flags);
	assert_int_equal(r->close, c->close);
	adapter_test_str_is(c->what, r->sid, c->sid);
	adapter_test_str_is(c->what, r->room, c->room);
	if (c->emit_data == NULL) {
		assert_null(r->emit_data);
	} else {
		assert_true(json_is_array(r->emit_data));
		dump = json_dumps(r->emit_data, JSON_COMPACT | JSON_ENCODE_ANY);
		assert_string_equal(dump, c->emit_data);
		failalloc_free(dump);  /* jansson allocated it */
	}
	if (c->packet_json == NULL) {
		assert_null(r->data);
		return;
	}
	adapter_test_str_is(c->what, r->packet_nsp, c->packet_nsp);
	assert_true(r->packet_type == PACKET_EVENT || r->packet_type == PACKET_BINARY_EVENT);
	adapter_test_data_is(c->what, r->data, r->data_len, c->packet_json,
			     (const char *const[]){ strstr(c->packet_json, "_placeholder") ? "09"
											   : NULL,
						    NULL });
}

static void adapter_test_requests_decode(const struct adapter_test_request *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct adapter_test_request *c = &cases[i];
		struct adapter_test_bytes in = adapter_test_bytes(c->bytes);
		struct adapter_request r;
		enum adapter_result res = adapter_decode_request(in.p, in.len, &r);

		if (res != c->result)
			fail_msg("%s: %s, want %s", c->what, adapter_result_text(res),
				 adapter_result_text(c->result));
		if (res == ADAPTER_OK)
			adapter_test_request_is(c, &r);
		else
			assert_true(r.root == NULL && r.heap == NULL && r.emit_data == NULL);
		adapter_request_free(&r);
		test_free(in.p);
	}
}

static void every_request_vector_decodes_to_its_fields(void **state)
{
	adapter_test_requests_decode(adapter_test_requests, N_ELEMS(adapter_test_requests));
}

static void requests_of_other_shapes_decode_or_are_refused_with_their_reason(void **state)
{
	adapter_test_requests_decode(adapter_test_more_requests,
				     N_ELEMS(adapter_test_more_requests));
}

/* BROADCAST_ACK as the Node adapter publishes it (scenario "ack"). */
static void broadcast_ack_encodes_to_the_captured_bytes(void **state)
{
	static const char *const want =
		"83a47479706509a9726571756573744964a6626f39616638a67061636b6574ad61636b2066726f6d"
		"2063424042";
	struct adapter_buf out = { NULL, 0, 0 };
	json_t *arg = json_string("ack from cB@B");
	static const uint8_t bin[] = { 7, 8 };
	const uint8_t *att[1] = { bin };
	size_t att_len[1] = { sizeof(bin) };
	char hex[256];

	assert_int_equal(adapter_encode_broadcast_ack(&out, "bo9af8", 6, arg, NULL, NULL, 0), 0);
	adapter_test_hex_of(hex, out.data, out.len);
	assert_string_equal(hex, want);
	adapter_buf_free(&out);
	json_decref(arg);

	/* No argument: `packet` is left out, as notepack drops undefined. */
	assert_int_equal(adapter_encode_broadcast_ack(&out, "bo9af8", 6, NULL, NULL, NULL, 0), 0);
	adapter_test_hex_of(hex, out.data, out.len);
	assert_string_equal(hex, "82" "a474797065" "09" "a9726571756573744964" "a6626f39616638");
	adapter_buf_free(&out);

	/* A binary ack: its placeholder becomes the bin. */
	arg = json_loads("[" PH(0) "]", 0, NULL);
	assert_int_equal(adapter_encode_broadcast_ack(&out, "r", 1, arg, att, att_len, 1), 0);
	adapter_test_hex_of(hex, out.data, out.len);
	assert_string_equal(hex, "83" "a474797065" "09" "a9726571756573744964" "a172"
				 "a67061636b6574" "91c4020708");
	adapter_buf_free(&out);
	json_decref(arg);
}

/* ---- JSON text ---- */

/* A double as a float64 inside an array of one. */
static void adapter_test_number_is(double d, const char *want)
{
	char hex[32], json[64];
	uint64_t bits;

	memcpy(&bits, &d, sizeof(bits));
	snprintf(hex, sizeof(hex), "91 cb %016llx", (unsigned long long)bits);
	snprintf(json, sizeof(json), "[%s]", want);
	adapter_test_payload_is(hex, json);
}

static void numbers_print_as_javascript_prints_them(void **state)
{
	static const struct {
		double d;
		const char *text;
	} floats[] = {
		{ 0.1, "0.1" },
		{ 1e21, "1e+21" },
		{ 1e20, "100000000000000000000" },
		{ 123456789012345680000.0, "123456789012345680000" },
		{ 1e-7, "1e-7" },
		{ -1e-7, "-1e-7" },
		{ 1.5e-7, "1.5e-7" },
		{ 0.000001, "0.000001" },
		{ 0.0000123, "0.0000123" },
		{ 123e-20, "1.23e-18" },
		{ 5e-324, "5e-324" },
		{ 1.7976931348623157e308, "1.7976931348623157e+308" },
		{ 1e301, "1e+301" },
		{ 1.5e300, "1.5e+300" },
		{ -0.0, "0" },
		{ 0.0, "0" },
		{ 1.5, "1.5" },
		{ 4.35, "4.35" },
		{ 0.1 + 0.2, "0.30000000000000004" },
		{ 1.0 / 3, "0.3333333333333333" },
		{ 1e16, "10000000000000000" },
		{ 9007199254740992.0, "9007199254740992" },
		{ -9007199254740992.0, "-9007199254740992" },
		{ 9007199254740994.0, "9007199254740994" },
		{ -9223372036854775808.0, "-9223372036854776000" },
		{ 100, "100" },
		{ -3, "-3" },
		{ NAN, "null" },
		{ INFINITY, "null" },
		{ -INFINITY, "null" },
	};

	for (size_t i = 0; i < N_ELEMS(floats); i++)
		adapter_test_number_is(floats[i].d, floats[i].text);
	/* Integers of every width, rounded as JavaScript rounds them. */
	adapter_test_payload_is("91 cf 0020000000000001", "[9007199254740992]");
	adapter_test_payload_is("91 cf ffffffffffffffff", "[18446744073709552000]");
	adapter_test_payload_is("91 d3 8000000000000000", "[-9223372036854776000]");
	adapter_test_payload_is("91 d3 ffffffffffffffff", "[-1]");
	adapter_test_payload_is("95 7f ff e0 d0 80 cc ff", "[127,-1,-32,-128,255]");
	adapter_test_payload_is("94 cd ffff ce ffffffff d1 8000 d2 80000000",
				"[65535,4294967295,-32768,-2147483648]");
	/* float32 0.1 is not 0.1. */
	adapter_test_payload_is("92 ca 3dcccccd ca 7fc00000", "[0.10000000149011612,null]");
}

static void strings_get_json_stringify_escapes(void **state)
{
	/* Every control character, '"' and '\\'; DEL, U+2028 and U+2029 stay
	 * raw, as V8 leaves them. */
	adapter_test_payload_is("91 b0 00 01 08 09 0a 0b 0c 0d 1e 1f 22 5c 7f e2 80 a8",
				"[\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001e\\u001f\\\"\\\\\x7f"
				"\xe2\x80\xa8\"]");
	adapter_test_payload_is("91 a0", "[\"\"]");
	/* str8, str16, str32 */
	adapter_test_payload_is("93 d9 01 61 da 0001 62 db 00000001 63", "[\"a\",\"b\",\"c\"]");
}

static void invalid_utf8_becomes_u_fffd_as_node_decodes_it(void **state)
{
	/* A lone continuation byte, a truncated sequence, an overlong, a
	 * surrogate: each maximal invalid part is one U+FFFD. */
	adapter_test_payload_is("91 a9 61 80 62 e2 82 63 c0 af ed",
				"[\"a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
				"\xef\xbf\xbd\"]");
	adapter_test_payload_is("91 a4 ed a0 80 22",
				"[\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\\\"\"]");
	/* Keys too. */
	adapter_test_payload_is("91 81 a1 ff 01", "[{\"\xef\xbf\xbd\":1}]");
}

static void undefined_is_null_in_arrays_and_left_out_of_maps(void **state)
{
	adapter_test_payload_is("93 d4 00 00 c0 d4 00 7f", "[null,null,null]");
	adapter_test_payload_is("91 83 a1 61 d4 00 00 a1 62 01 a1 63 d4 00 00", "[{\"b\":1}]");
	adapter_test_payload_is("91 81 a1 61 d4 00 00", "[{}]");
	/* JSON.stringify(undefined) is no text at all. */
	adapter_test_payload_fails("d4 00 00", ADAPTER_ERR_UNSUPPORTED);
	/* Any other fixext1 or type is no undefined. */
	adapter_test_payload_fails("91 d4 01 00", ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 c7 01 00 00", ADAPTER_ERR_UNSUPPORTED);
}

static void timestamps_print_as_date_to_json(void **state)
{
	static const struct {
		const char *hex, *json;
	} dates[] = {
		{ "d6ff 00000000", "\"1970-01-01T00:00:00.000Z\"" },
		{ "d6ff ffffffff", "\"2106-02-07T06:28:15.000Z\"" },
		{ "d7ff 77359400 00000001", "\"1970-01-01T00:00:01.500Z\"" },
		{ "d7ff ffffffff ffffffff", "\"2514-05-30T01:53:04.073Z\"" },
		{ "c70cff 00000000 ffffffff ffffffff", "\"1969-12-31T23:59:59.000Z\"" },
		{ "c70cff 00000001 ffffffff ffffffff", "\"1969-12-31T23:59:59.001Z\"" },
		/* -15 s + 999.999999 ms: a Date truncates toward zero */
		{ "c70cff 3b9ac9ff ffffffff fffffff1", "\"1969-12-31T23:59:46.000Z\"" },
		/* notepack reads any ns, valid or not */
		{ "c70cff ffffffff ffffffff ffffffff", "\"1970-01-01T00:00:03.294Z\"" },
		{ "c70cff 00000000 fffffff1 868b8400", "\"0000-01-01T00:00:00.000Z\"" },
		{ "c70cff 00000000 fffffff1 84aa5080", "\"-000001-01-01T00:00:00.000Z\"" },
		{ "c70cff 00000000 0000003a fff44180", "\"+010000-01-01T00:00:00.000Z\"" },
		{ "c70cff 00000000 000007db a8218000", "\"+275760-09-13T00:00:00.000Z\"" },
		/* one second past the range: an invalid Date, which JSON writes as null */
		{ "c70cff 00000000 000007db a8218001", "null" },
		{ "c70cff 00000000 80000000 00000000", "null" },
	};
	char hex[64], json[64];

	for (size_t i = 0; i < N_ELEMS(dates); i++) {
		snprintf(hex, sizeof(hex), "91 %s", dates[i].hex);
		snprintf(json, sizeof(json), "[%s]", dates[i].json);
		adapter_test_payload_is(hex, json);
	}
	/* Forms notepack does not read as dates. */
	adapter_test_payload_fails("91 d4 ff 00", ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 c7 04 ff 00000000", ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 c8 000c ff 000000000000000000000000",
				   ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 d7 00 0000000000000000", ADAPTER_ERR_UNSUPPORTED);
}

static void other_ext_types_are_unsupported(void **state)
{
	static const char *const exts[] = {
		"91 d5 05 0000", "91 d6 05 00000000", "91 d8 05 00000000000000000000000000000000",
		"91 c7 00 05", "91 c8 0001 05 00", "91 c9 00000001 05 00",
	};

	for (size_t i = 0; i < N_ELEMS(exts); i++)
		adapter_test_payload_fails(exts[i], ADAPTER_ERR_UNSUPPORTED);
}

static void nested_bins_are_numbered_depth_first(void **state)
{
	struct adapter_test_bytes in = adapter_test_bytes(
		"94 c4 01 00 81 a1 61 92 c4 01 01 81 a1 62 c4 01 02 c4 00 91 c5 0001 03");
	struct adapter_payload p;

	assert_int_equal(adapter_payload_from_msgpack(in.p, in.len, &p), ADAPTER_OK);
	assert_string_equal(p.json, "[" PH(0) ",{\"a\":[" PH(1) ",{\"b\":" PH(2) "}]}," PH(3)
				    ",[" PH(4) "]]");
	assert_int_equal(p.n_attachments, 5);
	for (unsigned i = 0; i < 5; i++) {
		/* pointers into the input */
		assert_true(p.attachments[i] >= in.p && p.attachments[i] <= in.p + in.len);
		assert_int_equal(p.attachment_lens[i], i == 3 ? 0 : 1);
		if (i != 3)
			assert_int_equal(p.attachments[i][0], i < 3 ? i : 3);
	}
	for (unsigned i = 5; i < PACKET_MAX_ATTACHMENTS; i++)
		assert_null(p.attachments[i]);
	adapter_payload_free(&p);
	test_free(in.p);
	/* bin32 */
	adapter_test_payload_is("91 c6 00000002 0102", "[" PH(0) "]");
}

static void ten_bins_pass_and_eleven_are_unsupported(void **state)
{
	char hex[128];
	size_t n;

	for (unsigned bins = 10; bins <= 11; bins++) {
		n = (size_t)snprintf(hex, sizeof(hex), "%02x", 0x90 + bins);
		for (unsigned i = 0; i < bins; i++)
			n += (size_t)snprintf(hex + n, sizeof(hex) - n, " c4 00");
		if (bins == 10) {
			struct adapter_test_bytes in = adapter_test_bytes(hex);
			struct adapter_payload p;

			assert_int_equal(adapter_payload_from_msgpack(in.p, in.len, &p),
					 ADAPTER_OK);
			assert_int_equal(p.n_attachments, 10);
			assert_non_null(strstr(p.json, PH(9) "]"));
			adapter_payload_free(&p);
			test_free(in.p);
		} else {
			adapter_test_payload_fails(hex, ADAPTER_ERR_UNSUPPORTED);
		}
	}
}

static void map_keys_keep_their_order_and_numbers_become_their_text(void **state)
{
	adapter_test_payload_is("91 83 a1 62 01 a1 61 02 a1 7a 03", "[{\"b\":1,\"a\":2,\"z\":3}]");
	adapter_test_payload_is("91 84 01 c3 ff c2 cb 3ff8000000000000 c0 cf ffffffffffffffff 00",
				"[{\"1\":true,\"-1\":false,\"1.5\":null,"
				"\"18446744073709552000\":0}]");
	adapter_test_payload_is("91 83 cb 7ff8000000000000 01 cb 7ff0000000000000 02"
				" cb fff0000000000000 03",
				"[{\"NaN\":1,\"Infinity\":2,\"-Infinity\":3}]");
	adapter_test_payload_is("91 81 a2 0a 22 01", "[{\"\\n\\\"\":1}]");
	/* map16, map32 */
	adapter_test_payload_is("92 de 0001 a1 61 01 df 00000001 a1 62 02",
				"[{\"a\":1},{\"b\":2}]");
	/* Keys JavaScript would turn into other text. */
	adapter_test_payload_fails("91 81 c0 01", ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 81 c3 01", ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 81 91 01 01", ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 81 80 01", ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 81 c4 00 01", ADAPTER_ERR_UNSUPPORTED);
}

static void proto_key_is_left_out_as_javascript_leaves_it_out(void **state)
{
	/* notepack's `value["__proto__"] = x` sets the prototype (a map, an
	 * array, null) or does nothing (a primitive): never an own property. */
	adapter_test_payload_is("91 83 a1 61 01 a9 5f5f70726f746f5f5f 81 a1 78 c4 00 a1 62 02",
				"[{\"a\":1,\"b\":2}]");
	adapter_test_payload_is("91 81 a9 5f5f70726f746f5f5f 05", "[{}]");
	adapter_test_payload_is("91 81 a9 5f5f70726f746f5f5f c0", "[{}]");
	/* A Date or Buffer prototype would lend the object its toJSON. */
	adapter_test_payload_fails("91 81 a9 5f5f70726f746f5f5f c4 00", ADAPTER_ERR_UNSUPPORTED);
	adapter_test_payload_fails("91 81 a9 5f5f70726f746f5f5f d6 ff 00000000",
				   ADAPTER_ERR_UNSUPPORTED);
	/* Only in maps: in an array it is a string like any other. */
	adapter_test_payload_is("91 a9 5f5f70726f746f5f5f", "[\"__proto__\"]");
}

static void every_head_notepack_writes_is_read(void **state)
{
	adapter_test_payload_is("9f 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e",
				"[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14]");
	adapter_test_payload_is("dc 0002 c2 c3", "[false,true]");
	adapter_test_payload_is("dd 00000002 c0 a0", "[null,\"\"]");
	adapter_test_payload_is("93 cc 80 cd 0100 ce 00010000", "[128,256,65536]");
	adapter_test_payload_is("93 d0 df d1 ff7f d2 ffff7fff", "[-33,-129,-32769]");
	adapter_test_payload_is("92 c4 00 c5 0000", "[" PH(0) "," PH(1) "]");
	/* Not an array at the top: converted all the same. */
	adapter_test_payload_is("81 a1 61 01", "{\"a\":1}");
	adapter_test_payload_is("a1 61", "\"a\"");
}

/* ---- refusals ---- */

/* Every proper prefix of <text> fails to decode as <what> with MALFORMED. */
static void adapter_test_every_prefix_is_malformed(const char *text)
{
	struct adapter_test_bytes in = adapter_test_bytes(text);
	bool is_json = text[0] == '{';

	for (size_t cut = 0; cut < in.len; cut++) {
		uint8_t *copy = adapter_test_copy(in.p, cut);
		struct adapter_broadcast b;
		struct adapter_request r;
		struct adapter_payload p;

		if (!is_json)
			assert_int_equal(adapter_decode_broadcast(copy, cut, &b),
					 ADAPTER_ERR_MALFORMED);
		assert_int_equal(adapter_decode_request(copy, cut, &r), ADAPTER_ERR_MALFORMED);
		if (!is_json)
			assert_int_equal(adapter_payload_from_msgpack(copy, cut, &p),
					 ADAPTER_ERR_MALFORMED);
		test_free(copy);
	}
	test_free(in.p);
}

/* A JSON request is parsed under the budget of jsonmem.h: a flood of
 * empty arrays is refused without building its tree, as from a client. */
static void json_request_past_the_budget_is_too_costly(void **state)
{
	static const char head[] = "{\"type\":0,\"uid\":\"x\",\"requestId\":\"r\",\"x\":[";
	size_t n = 100000, len = strlen(head) + 3 * n + 1;
	uint8_t *in = test_malloc(len), *o = in;
	struct adapter_request r;

	memcpy(o, head, strlen(head));
	o += strlen(head);
	for (size_t i = 0; i < n; i++, o += 3)
		memcpy(o, "[],", 3);
	memcpy(o - 1, "]}", 2);
	assert_int_equal(adapter_decode_request(in, len, &r), ADAPTER_ERR_TOO_COSTLY);
	test_free(in);
}

static void every_truncation_of_a_valid_message_is_malformed(void **state)
{
	for (size_t i = 0; i < N_ELEMS(adapter_test_broadcasts); i++)
		adapter_test_every_prefix_is_malformed(adapter_test_broadcasts[i].hex);
	for (size_t i = 0; i < N_ELEMS(adapter_test_requests); i++)
		if (adapter_test_requests[i].result == ADAPTER_OK)
			adapter_test_every_prefix_is_malformed(adapter_test_requests[i].bytes);
	adapter_test_every_prefix_is_malformed(
		"96 cb 3ff8000000000000 ca 3dcccccd d7ff 77359400 00000001"
		" c7 0c ff 000000000000000000000000 d4 00 00 de 0001 a1 61 dd 00000001 c5 0001 ff");
}

static void lengths_and_counts_past_the_end_are_malformed(void **state)
{
	static const char *const bad[] = {
		"dd ffffffff",               /* array32 of 2^32 - 1 elements in 5 bytes */
		"df ffffffff",
		"db ffffffff",
		"c6 ffffffff",
		"c9 ffffffff ff",
		"dc ffff",
		"de 0001 01",                /* a map entry needs two bytes */
		"92 01",
		"a5 61 62",
		"d9 05 61",
		"c4 02 00",
		"cf 00 00",
		"d8 05 00",
		"c1",                        /* never used */
		"91 c1",
		"",
	};

	for (size_t i = 0; i < N_ELEMS(bad); i++) {
		struct adapter_test_bytes in = adapter_test_bytes(bad[i]);
		struct adapter_broadcast b;
		struct adapter_request r;
		struct adapter_payload p;

		assert_int_equal(adapter_payload_from_msgpack(in.p, in.len, &p),
				 ADAPTER_ERR_MALFORMED);
		assert_int_equal(adapter_decode_broadcast(in.p, in.len, &b), ADAPTER_ERR_MALFORMED);
		assert_int_equal(adapter_decode_request(in.p, in.len, &r), ADAPTER_ERR_MALFORMED);
		test_free(in.p);
	}
}

/* <n> arrays nested in each other, the innermost empty. */
static char *adapter_test_nested_hex(const char *prefix, unsigned n, const char *suffix)
{
	size_t len = strlen(prefix) + 2 * n + strlen(suffix) + 1;
	char *hex = test_malloc(len), *o = hex;

	o += sprintf(o, "%s", prefix);
	for (unsigned i = 1; i < n; i++)
		o += sprintf(o, "91");
	sprintf(o, "90%s", suffix);
	return hex;
}

static void nesting_of_32_passes_and_33_is_malformed(void **state)
{
	for (unsigned depth = 31; depth <= 34; depth++) {
		enum adapter_result want = depth <= ADAPTER_MAX_DEPTH ? ADAPTER_OK
								      : ADAPTER_ERR_MALFORMED;
		/* A payload counts from its own top; a message from the
		 * message's (array, packet map, then data). */
		char *payload = adapter_test_nested_hex("", depth, "");
		char *msg = adapter_test_nested_hex("93" T_UID "83" K_TYPE "02" K_NSP "a1 2f"
						    K_DATA, depth - 2, T_OPTS);
		struct adapter_test_bytes p_in = adapter_test_bytes(payload);
		struct adapter_test_bytes m_in = adapter_test_bytes(msg);
		struct adapter_payload p;
		struct adapter_broadcast b;

		assert_int_equal(adapter_payload_from_msgpack(p_in.p, p_in.len, &p), want);
		if (want == ADAPTER_OK)
			assert_int_equal(p.json_len, 2 * depth);
		adapter_payload_free(&p);
		assert_int_equal(adapter_decode_broadcast(m_in.p, m_in.len, &b), want);
		adapter_broadcast_free(&b);
		test_free(p_in.p);
		test_free(m_in.p);
		test_free(payload);
		test_free(msg);
	}
	/* Maps count the same. */
	adapter_test_payload_fails("81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61"
				   " 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61"
				   " 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61"
				   " 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61"
				   " 81 a1 61 81 a1 61 81 a1 61 81 a1 61 81 a1 61 01",
				   ADAPTER_ERR_MALFORMED);
}

static void trailing_bytes_are_malformed(void **state)
{
	struct adapter_test_bytes b_in = adapter_test_bytes(T_BROADCAST "c0");
	struct adapter_test_bytes ok_in = adapter_test_bytes(T_BROADCAST);
	struct adapter_broadcast b;

	assert_int_equal(adapter_decode_broadcast(b_in.p, b_in.len, &b), ADAPTER_ERR_MALFORMED);
	assert_int_equal(adapter_decode_broadcast(ok_in.p, ok_in.len, &b), ADAPTER_OK);
	adapter_broadcast_free(&b);
	test_free(b_in.p);
	test_free(ok_in.p);
	adapter_test_payload_fails("91 01 01", ADAPTER_ERR_MALFORMED);
	/* notepack's "8 trailing bytes": JSON on the broadcast channel. */
	adapter_test_payload_fails("{\"foo\":1}", ADAPTER_ERR_MALFORMED);
}

struct adapter_test_bad_broadcast {
	const char *what;
	const char *hex;
	enum adapter_result result;
};

static void wrong_typed_broadcast_fields_are_refused_with_their_reason(void **state)
{
	static const struct adapter_test_bad_broadcast cases[] = {
		{ "JSON on the broadcast channel", "{\"foo\":1}", ADAPTER_ERR_MALFORMED },
		{ "a map, not an array", "81 a1 61 01", ADAPTER_ERR_MALFORMED },
		{ "an array of 2", "92" T_UID T_PACKET, ADAPTER_ERR_MALFORMED },
		{ "an array of 4", "94" T_UID T_PACKET T_OPTS "c0", ADAPTER_ERR_MALFORMED },
		{ "uid not a string", "93 01" T_PACKET T_OPTS, ADAPTER_ERR_FIELD },
		{ "uid nil", "93 c0" T_PACKET T_OPTS, ADAPTER_ERR_FIELD },
		{ "packet not a map", "93" T_UID "91 02" T_OPTS, ADAPTER_ERR_FIELD },
		{ "packet type 3", "93" T_UID "82" K_TYPE "03" K_DATA "91 01" T_OPTS,
		  ADAPTER_ERR_TYPE },
		{ "packet type 0", "93" T_UID "82" K_TYPE "00" K_DATA "91 01" T_OPTS,
		  ADAPTER_ERR_TYPE },
		{ "packet type 2.5",
		  "93" T_UID "82" K_TYPE "cb 4004000000000000" K_DATA "91 01" T_OPTS,
		  ADAPTER_ERR_TYPE },
		{ "packet type a string", "93" T_UID "82" K_TYPE "a1 32" K_DATA "91 01" T_OPTS,
		  ADAPTER_ERR_FIELD },
		{ "packet without type", "93" T_UID "81" K_DATA "91 01" T_OPTS, ADAPTER_ERR_FIELD },
		{ "packet without data", "93" T_UID "81" K_TYPE "02" T_OPTS, ADAPTER_ERR_FIELD },
		{ "data a map", "93" T_UID "82" K_TYPE "02" K_DATA "80" T_OPTS, ADAPTER_ERR_FIELD },
		{ "data empty", "93" T_UID "82" K_TYPE "02" K_DATA "90" T_OPTS, ADAPTER_ERR_FIELD },
		{ "nsp not a string", "93" T_UID "83" K_TYPE "02" K_DATA "91 01" K_NSP "01" T_OPTS,
		  ADAPTER_ERR_FIELD },
		{ "opts not a map", "93" T_UID T_PACKET "90", ADAPTER_ERR_FIELD },
		{ "rooms not an array", "93" T_UID T_PACKET "81" K_ROOMS "a2 7231",
		  ADAPTER_ERR_FIELD },
		{ "room not a string", "93" T_UID T_PACKET "81" K_ROOMS "92 a1 61 01",
		  ADAPTER_ERR_FIELD },
		{ "except room not a string", "93" T_UID T_PACKET "81" K_EXCEPT "91 c4 00",
		  ADAPTER_ERR_FIELD },
		{ "flags not a map", "93" T_UID T_PACKET "81" K_FLAGS "90", ADAPTER_ERR_FIELD },
		{ "volatile not a bool", "93" T_UID T_PACKET "81" K_FLAGS "81" K_VOLATILE "01",
		  ADAPTER_ERR_FIELD },
		{ "local not a bool", "93" T_UID T_PACKET "81" K_FLAGS "81" K_LOCAL "c0",
		  ADAPTER_ERR_FIELD },
		{ "timeout negative", "93" T_UID T_PACKET "81" K_FLAGS "81" K_TIMEOUT "ff",
		  ADAPTER_ERR_FIELD },
		{ "timeout 1.5",
		  "93" T_UID T_PACKET "81" K_FLAGS "81" K_TIMEOUT "cb 3ff8000000000000",
		  ADAPTER_ERR_FIELD },
		{ "timeout a string", "93" T_UID T_PACKET "81" K_FLAGS "81" K_TIMEOUT "a1 31",
		  ADAPTER_ERR_FIELD },
		{ "timeout past 2^53", "93" T_UID T_PACKET "81" K_FLAGS "81" K_TIMEOUT
				       "cf 0020000000000002",
		  ADAPTER_ERR_FIELD },
	};

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct adapter_test_bytes in = adapter_test_bytes(cases[i].hex);
		struct adapter_broadcast b;
		enum adapter_result res = adapter_decode_broadcast(in.p, in.len, &b);

		if (res != cases[i].result)
			fail_msg("%s: %s, want %s", cases[i].what, adapter_result_text(res),
				 adapter_result_text(cases[i].result));
		assert_null(b.rooms);
		assert_null(b.except);
		test_free(in.p);
	}
}

static void broadcast_flags_and_fields_of_other_forms_are_read(void **state)
{
	static const char *const msgs[] = {
		/* flags in any order, timeout as float64, compress and unknown flags ignored */
		"93" T_UID T_PACKET "81" K_FLAGS "85 a8 636f6d7072657373 c2" K_TIMEOUT
		"cb 408f400000000000" K_LOCAL "c3 a1 7a 91 01" K_VOLATILE "c3",
		/* opts as the emitter orders it; except only, so the block starts there */
		"93" T_UID T_PACKET "83" K_ROOMS "90" K_FLAGS "80" K_EXCEPT "92 a1 61 a0",
		/* a packet id is ignored; binary packet type 5; nsp last; extra keys */
		"93" T_UID "85 a2 6964 05" K_TYPE "05" K_DATA "91 c4 01 aa a1 78 c0" K_NSP "a2 2f78"
		"80",
	};
	struct adapter_broadcast b;
	struct adapter_test_bytes in;

	in = adapter_test_bytes(msgs[0]);
	assert_int_equal(adapter_decode_broadcast(in.p, in.len, &b), ADAPTER_OK);
	assert_true(b.flags.is_volatile && b.flags.local && b.flags.has_timeout);
	assert_int_equal(b.flags.timeout_ms, 1000);
	adapter_broadcast_free(&b);
	test_free(in.p);

	in = adapter_test_bytes(msgs[1]);
	assert_int_equal(adapter_decode_broadcast(in.p, in.len, &b), ADAPTER_OK);
	assert_int_equal(b.n_rooms, 0);
	assert_null(b.rooms);
	assert_int_equal(b.n_except, 2);
	assert_int_equal(b.except[1].len, 0);
	adapter_broadcast_free(&b);
	test_free(in.p);

	in = adapter_test_bytes(msgs[2]);
	assert_int_equal(adapter_decode_broadcast(in.p, in.len, &b), ADAPTER_OK);
	assert_int_equal(b.type, PACKET_BINARY_EVENT);
	adapter_test_str_is("nsp", b.nsp, "/x");
	adapter_test_data_is("binary", b.data, b.data_len, "[" PH(0) "]",
			     (const char *const[]){ "aa", NULL });
	adapter_broadcast_free(&b);
	test_free(in.p);
}

/* ---- the encoder ---- */

static void adapter_test_encode_data_is(const char *json, unsigned n_bins, const char *want_hex)
{
	static const uint8_t bins[2][2] = { { 1, 2 }, { 3, 4 } };
	const uint8_t *att[2] = { bins[0], bins[1] };
	size_t lens[2] = { 2, 2 };
	struct adapter_buf out = { NULL, 0, 0 };
	struct adapter_flags flags = { 0 };
	json_t *data = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	char hex[512], want[512], *w = want;
	/* [uid "u", {type: 2, data: ...: the data starts at byte 15 */
	const size_t data_at = 1 + 2 + 1 + 5 + 1 + 5;
	const size_t tail = 4 + 2 + 1 + 6 + 1 + 7 + 1 + 6 + 1;

	for (const char *c = want_hex; *c != '\0'; c++)
		if (*c != ' ')
			*w++ = *c;
	*w = '\0';
	assert_non_null(data);
	assert_int_equal(adapter_encode_broadcast(&out, "u", "/", 1, data, att, lens, n_bins, NULL,
						  0, NULL, 0, &flags),
			 0);
	adapter_test_hex_of(hex, out.data + data_at, out.len - data_at - tail);
	if (strcmp(hex, want) != 0)
		fail_msg("%s: %s, want %s", json, hex, want);
	adapter_buf_free(&out);
	json_decref(data);
}

static void encoder_writes_numbers_and_placeholders_as_notepack_would(void **state)
{
	adapter_test_encode_data_is("[0,-1,127,128,-33,65536,-2147483649]",
				    0, "97 00 ff 7f cc80 d0df ce00010000 d3ffffffff7fffffff");
	/* Integral reals are integers, -0 is 0; past 2^53 float64. */
	adapter_test_encode_data_is("[1.0,-0.0,1e2,9007199254740993,9007199254740994,0.5]", 0,
				    "96 01 00 64 cf0020000000000000 cb4340000000000001"
				    " cb3fe0000000000000");
	adapter_test_encode_data_is("[18446744073709551615.0]", 0, "91 cb43f0000000000000");
	/* Placeholders with attachments become bins, in any key order and
	 * nesting; out of range, or without attachments, they stay objects. */
	adapter_test_encode_data_is("[" PH(1) ",{\"k\":{\"num\":0,\"_placeholder\":true}}]", 2,
				    "92 c4020304 81a16b c4020102");
	adapter_test_encode_data_is("[" PH(0) "]", 0,
				    "91 82 ac5f706c616365686f6c646572 c3 a36e756d 00");
	adapter_test_encode_data_is("[" PH(2) "]", 2,
				    "91 82 ac5f706c616365686f6c646572 c3 a36e756d 02");
	adapter_test_encode_data_is("[{\"_placeholder\":false,\"num\":0}]", 2,
				    "91 82 ac5f706c616365686f6c646572 c2 a36e756d 00");
	/* Strings with NUL, keys in their order, null, booleans. */
	adapter_test_encode_data_is("[\"a\\u0000b\",{\"z\":null,\"a\":[true,false]}]", 0,
				    "92 a3610062 82 a17a c0 a161 92c3c2");
}

/* A backend's msgpack reply (backend.c): its args become client JSON with
 * numbered bins, absent args are [], and other shapes are refused. */
static void backend_replies_decode_or_are_refused_with_their_reason(void **state)
{
	static const struct {
		const char *hex;
		enum adapter_result want;
		uint64_t ack;
		const char *json;
		size_t n_bins;
	} cases[] = {
		{ "83a3736964b46162636465666768696a6b6c6d6e6f7071727374a361636b07"
		  "a46172677392a26f6bc4020102", ADAPTER_OK, 7,
		  "[\"ok\",{\"_placeholder\":true,\"num\":0}]", 1 },
		{ "82a3736964b46162636465666768696a6b6c6d6e6f7071727374a361636b00",
		  ADAPTER_OK, 0, "[]", 0 },
		{ "83a3736964b46162636465666768696a6b6c6d6e6f7071727374a361636b01"
		  "a461726773a178", ADAPTER_ERR_FIELD, 0, NULL, 0 },
		{ "83a3736964b46162636465666768696a6b6c6d6e6f7071727374a361636bff"
		  "a46172677390", ADAPTER_ERR_FIELD, 0, NULL, 0 },
		{ "92b46162636465666768696a6b6c6d6e6f707172737401",
		  ADAPTER_ERR_MALFORMED, 0, NULL, 0 },
		{ "82a3736964b46162636465666768696a6b6c6d6e6f7071727374a361636b0000",
		  ADAPTER_ERR_MALFORMED, 0, NULL, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct adapter_test_bytes in = adapter_test_bytes(cases[i].hex);
		struct adapter_reply r;
		enum adapter_result res = adapter_decode_reply(in.p, in.len, &r);

		if (res != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, adapter_result_text(res),
				 adapter_result_text(cases[i].want));
		if (res == ADAPTER_OK) {
			adapter_test_str_is("sid", r.sid, "abcdefghijklmnopqrst");
			assert_int_equal(r.ack, cases[i].ack);
			assert_string_equal(r.args.json, cases[i].json);
			assert_int_equal(r.args.n_attachments, cases[i].n_bins);
		}
		adapter_payload_free(&r.args);
		/* msgpack is prefix-free: no cut of a whole value is one */
		for (size_t cut = 0; cut < in.len && res != ADAPTER_ERR_MALFORMED; cut++)
			assert_int_equal(adapter_decode_reply(in.p, cut, &r), ADAPTER_ERR_MALFORMED);
		test_free(in.p);
	}
}

static void encoder_writes_only_the_flags_that_are_set(void **state)
{
	static const struct {
		struct adapter_flags flags;
		const char *hex;
	} cases[] = {
		{ { 0 }, "80" },
		{ { true, false, false, 0 }, "81" K_VOLATILE "c3" },
		{ { false, true, false, 0 }, "81" K_LOCAL "c3" },
		{ { false, false, true, 1000 }, "81" K_TIMEOUT "cd03e8" },
		{ { true, true, true, 0 }, "83" K_VOLATILE "c3" K_LOCAL "c3" K_TIMEOUT "00" },
	};
	json_t *data = json_loads("[\"q\"]", 0, NULL);

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		struct adapter_buf out = { NULL, 0, 0 };
		struct adapter_test_bytes want = adapter_test_bytes(cases[i].hex);
		struct adapter_broadcast b;

		assert_int_equal(adapter_encode_broadcast(&out, "u", "/", 1, data, NULL, NULL, 0,
				 NULL,
							  0, NULL, 0, &cases[i].flags),
				 0);
		assert_true(out.len > want.len);
		assert_memory_equal(out.data + out.len - want.len, want.p, want.len);
		assert_int_equal(adapter_decode_broadcast(out.data, out.len, &b), ADAPTER_OK);
		adapter_test_flags_are(&b.flags, &cases[i].flags);
		adapter_broadcast_free(&b);
		adapter_buf_free(&out);
		test_free(want.p);
	}
	json_decref(data);
}

/* A plain JSON emit reads as a Node server would have sent it: through
 * the msgpack form, so integral reals are integers and placeholders stay
 * objects (there are no attachments). */
static void json_payloads_read_as_node_would_send_them(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "[\"ev\",1.0,-0.0,1e21,0.1,1e-7,18446744073709551615.0]",
		  "[\"ev\",1,0,1e+21,0.1,1e-7,18446744073709552000]" },
		{ "[\"a\\u0000\\u001f\\u2028\",{\"z\":null,\"a\":[true,false]}]",
		  "[\"a\\u0000\\u001f\xe2\x80\xa8\",{\"z\":null,\"a\":[true,false]}]" },
		{ "[" PH(0) "]", "[" PH(0) "]" },
		{ "{\"a\":1}", "{\"a\":1}" },
	};
	struct adapter_payload p;
	char deep[80];
	json_t *v;

	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		v = json_loads(cases[i].in, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		assert_non_null(v);
		assert_int_equal(adapter_payload_from_json(v, &p), ADAPTER_OK);
		assert_string_equal(p.json, cases[i].out);
		assert_int_equal(p.n_attachments, 0);
		adapter_payload_free(&p);
		json_decref(v);
	}
	/* The msgpack form has the reader's nesting limit. */
	for (unsigned depth = ADAPTER_MAX_DEPTH; depth <= ADAPTER_MAX_DEPTH + 1; depth++) {
		memset(deep, '[', depth);
		memset(deep + depth, ']', depth);
		deep[2 * depth] = '\0';
		v = json_loads(deep, 0, NULL);
		assert_non_null(v);
		assert_int_equal(adapter_payload_from_json(v, &p),
				 depth == ADAPTER_MAX_DEPTH ? ADAPTER_OK : ADAPTER_ERR_MALFORMED);
		adapter_payload_free(&p);
		json_decref(v);
	}
}

/* ---- allocation failures ---- */

/* One operation run under the failing allocator: it frees all it made and
 * returns its result.  <arg> is the test's. */
typedef enum adapter_result (*adapter_test_op)(const char *arg);

static enum adapter_result adapter_test_op_broadcast(const char *hex)
{
	struct adapter_test_bytes in = adapter_test_bytes(hex);
	struct adapter_broadcast b;
	struct adapter_payload p;
	enum adapter_result res = adapter_decode_broadcast(in.p, in.len, &b);

	if (res == ADAPTER_OK) {
		res = adapter_payload_from_msgpack(b.data, b.data_len, &p);
		adapter_payload_free(&p);
	}
	adapter_broadcast_free(&b);
	test_free(in.p);
	return res;
}

static enum adapter_result adapter_test_op_request(const char *text)
{
	struct adapter_test_bytes in = adapter_test_bytes(text);
	struct adapter_request r;
	enum adapter_result res = adapter_decode_request(in.p, in.len, &r);

	adapter_request_free(&r);
	test_free(in.p);
	return res;
}

static enum adapter_result adapter_test_op_encode(const char *json)
{
	static const uint8_t bin[3] = { 1, 2, 3 };
	const uint8_t *att[1] = { bin };
	size_t lens[1] = { sizeof(bin) };
	struct room_name rooms[2] = { { "r1", 2 }, { "r2", 2 } };
	struct adapter_flags flags = { true, false, true, 5000 };
	struct adapter_buf out = { NULL, 0, 0 };
	json_t *data;
	int rc;

	/* Only the encoder's allocations are counted and failed. */
	failalloc_heap.paused = true;
	data = json_loads(json, 0, NULL);
	failalloc_heap.paused = false;
	assert_non_null(data);
	rc = adapter_encode_broadcast(&out, "b4Jwi7", "/admin", 6, data, att, lens, 1, rooms, 2,
				      rooms + 1, 1, &flags);
	if (rc == 0)
		rc = adapter_encode_broadcast_ack(&out, "bo9af8", 6, data, att, lens, 1);
	adapter_buf_free(&out);
	json_decref(data);
	return rc == 0 ? ADAPTER_OK : ADAPTER_ERR_NOMEM;
}

static enum adapter_result adapter_test_op_from_json(const char *json)
{
	struct adapter_payload p;
	enum adapter_result res;
	json_t *data;

	failalloc_heap.paused = true;
	data = json_loads(json, 0, NULL);
	failalloc_heap.paused = false;
	assert_non_null(data);
	memset(&p, 0xa5, sizeof(p));   /* a failure must leave it empty */
	res = adapter_payload_from_json(data, &p);
	if (res != ADAPTER_OK)
		assert_true(p.json == NULL && p.n_attachments == 0);
	adapter_payload_free(&p);
	json_decref(data);
	return res;
}

/* Fails allocation 1, 2, ... of <op>(<arg>) until it succeeds.  Each
 * failed run must give NOMEM, or <also> where jansson cannot tell running
 * out of memory from bad input (its string scanner), and leave nothing
 * behind. */
static void adapter_test_fail_each_allocation(adapter_test_op op, const char *arg,
					      enum adapter_result also)
{
	unsigned long k;
	bool saw_nomem = false;

	for (k = 1;; k++) {
		enum adapter_result res;

		failalloc_reset(k);
		res = op(arg);
		if (failalloc_heap.n_failed == 0) {
			if (res != ADAPTER_OK)
				fail_msg("%s: %s", arg, adapter_result_text(res));
			break;
		}
		if (res != ADAPTER_ERR_NOMEM && res != also)
			fail_msg("%s: allocation %lu failed, got \"%s\"", arg, k,
				 adapter_result_text(res));
		saw_nomem |= res == ADAPTER_ERR_NOMEM;
		assert_int_equal(failalloc_heap.live_bytes, 0);
	}
	failalloc_reset(0);
	assert_true(k > 1);
	assert_true(saw_nomem);
	assert_int_equal(failalloc_heap.live_bytes, 0);
}

static void every_failed_allocation_fails_cleanly(void **state)
{
	/* Tokens stay under 16 bytes: jansson 2.14 drops a byte of a longer
	 * one when its buffer cannot grow (see packet.c). */
	static const char *const requests[] = {
		"{\"uid\":\"b4Jwi7\",\"type\":2,\"opts\":{\"rooms\":[\"r1\"],\"except\":[\"x\"]},"
		"\"rooms\":[\"r9\",\"r10\"]}",
		"{\"uid\":\"emitter\",\"type\":6,\"data\":[\"hello\",\"x\",1]}",
		"84a3756964a468616e64a9726571756573744964a6726571303131a47479706505a46f7074"
		"7382a5726f6f6d7391ab6c65676163792d726f6f6da665786365707490",
		"82" K_TYPE "06" K_DATA "93 a2 6576 81 a1 ff cb 3ff8000000000000 c0",
	};

	adapter_test_fail_each_allocation(adapter_test_op_broadcast,
					  "93a662344a77693783a47479706502a46461746193a362696ec4"
					  "0301020381a178c401ffa36e7370a12f83a5726f6f6d7392a27231"
					  "a27232a665786365707491a27233a5666c61677380",
					  ADAPTER_ERR_NOMEM);
	/* Long enough text to grow the buffer, and invalid UTF-8 to repair. */
	adapter_test_fail_each_allocation(adapter_test_op_broadcast,
					  T_BROADCAST, ADAPTER_ERR_NOMEM);
	adapter_test_fail_each_allocation(adapter_test_op_broadcast,
					  "93" T_UID "82" K_TYPE "02" K_DATA
					  "93 d9 50 6162636465666768697071727374757677787980"
					  "616263646566676869707172737475767778798061626364"
					  "656667686970717273747576777879806162636465666768"
					  "69707172737475767778797f"
					  " 81 a2 ff61 d6ff 00000000 cb 3fb999999999999a" T_OPTS,
					  ADAPTER_ERR_NOMEM);
	for (size_t i = 0; i < N_ELEMS(requests); i++)
		adapter_test_fail_each_allocation(adapter_test_op_request, requests[i],
						  i == 3 ? ADAPTER_ERR_UNSUPPORTED
							 : ADAPTER_ERR_MALFORMED);
	adapter_test_fail_each_allocation(adapter_test_op_from_json,
					  "[\"ev\",{\"k\":[1.5,null,\"0123456789abcdef"
					  "0123456789abcdef0123456789abcdef0123456789abcdef"
					  "\\u0001\"]}]",
					  ADAPTER_ERR_NOMEM);
	adapter_test_fail_each_allocation(adapter_test_op_encode,
					  "[\"ev\",1.5,{\"a\":[" PH(0) ",\"0123456789abcdef0123456"
					  "789abcdef0123456789abcdef0123456789abcdef\"]}]",
					  ADAPTER_ERR_NOMEM);
}

static void result_texts_name_every_result(void **state)
{
	assert_string_equal(adapter_result_text(ADAPTER_OK), "ok");
	assert_string_equal(adapter_result_text(ADAPTER_ERR_MALFORMED),
			    "malformed msgpack or JSON");
	assert_string_equal(adapter_result_text(ADAPTER_ERR_FIELD), "missing or wrong-typed field");
	assert_string_equal(adapter_result_text(ADAPTER_ERR_TYPE),
			    "unknown request or packet type");
	assert_string_equal(adapter_result_text(ADAPTER_ERR_UNSUPPORTED),
			    "value clients cannot be sent");
	assert_string_equal(adapter_result_text(ADAPTER_ERR_NOMEM), "out of memory");
	assert_string_equal(adapter_result_text((enum adapter_result)42), "unknown adapter result");
}

#define ADAPTER_TEST(f) cmocka_unit_test_setup(f, failalloc_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		ADAPTER_TEST(every_broadcast_vector_decodes_to_its_fields_and_client_json),
		ADAPTER_TEST(node_adapter_broadcasts_encode_to_the_captured_bytes),
		ADAPTER_TEST(every_broadcast_vector_survives_encode_then_decode),
		ADAPTER_TEST(encoder_appends_to_what_the_buffer_holds),
		ADAPTER_TEST(every_request_vector_decodes_to_its_fields),
		ADAPTER_TEST(requests_of_other_shapes_decode_or_are_refused_with_their_reason),
		ADAPTER_TEST(broadcast_ack_encodes_to_the_captured_bytes),
		ADAPTER_TEST(numbers_print_as_javascript_prints_them),
		ADAPTER_TEST(strings_get_json_stringify_escapes),
		ADAPTER_TEST(invalid_utf8_becomes_u_fffd_as_node_decodes_it),
		ADAPTER_TEST(undefined_is_null_in_arrays_and_left_out_of_maps),
		ADAPTER_TEST(timestamps_print_as_date_to_json),
		ADAPTER_TEST(other_ext_types_are_unsupported),
		ADAPTER_TEST(nested_bins_are_numbered_depth_first),
		ADAPTER_TEST(ten_bins_pass_and_eleven_are_unsupported),
		ADAPTER_TEST(map_keys_keep_their_order_and_numbers_become_their_text),
		ADAPTER_TEST(proto_key_is_left_out_as_javascript_leaves_it_out),
		ADAPTER_TEST(every_head_notepack_writes_is_read),
		ADAPTER_TEST(every_truncation_of_a_valid_message_is_malformed),
		ADAPTER_TEST(lengths_and_counts_past_the_end_are_malformed),
		ADAPTER_TEST(nesting_of_32_passes_and_33_is_malformed),
		ADAPTER_TEST(trailing_bytes_are_malformed),
		ADAPTER_TEST(wrong_typed_broadcast_fields_are_refused_with_their_reason),
		ADAPTER_TEST(broadcast_flags_and_fields_of_other_forms_are_read),
		ADAPTER_TEST(encoder_writes_numbers_and_placeholders_as_notepack_would),
		ADAPTER_TEST(encoder_writes_only_the_flags_that_are_set),
		ADAPTER_TEST(backend_replies_decode_or_are_refused_with_their_reason),
		ADAPTER_TEST(json_payloads_read_as_node_would_send_them),
		ADAPTER_TEST(every_failed_allocation_fails_cleanly),
		ADAPTER_TEST(result_texts_name_every_result),
		ADAPTER_TEST(json_request_past_the_budget_is_too_costly),
	};

	/* Before any other jansson call, so every json_t lives on these hooks. */
	json_set_alloc_funcs(failalloc_malloc, failalloc_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
