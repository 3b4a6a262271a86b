/* test_ws.c - unit tests for the RFC 6455 codec (src/codec/ws.c).
 *
 * Decoder cases are byte strings built from masked client frames by
 * tw_frame_add(), with the events and the result they must give.
 * tw_check() feeds each one whole, one byte per call, cut in two at every
 * point and, when short, cut in three at every pair of points, each piece
 * in its own exact-size malloc block so that ASan sees any read or write
 * past it.  Every run must give the same events and result, consume its
 * whole input and keep an error once it has one.
 *
 * ws.c allocates through jansson's allocator (jsonmem.h); the failing
 * allocator (failalloc.h, on cmocka's, which reports leaks and overruns)
 * counts what the decoder holds.  After every call the decoder holds heap exactly while it is busy
 * or the event it returned points into that heap, and nothing once it
 * failed; event data lies in that call's input or in the decoder's heap.
 * The hooks also fail the 1st, 2nd, ... allocation of each case fed whole,
 * byte by byte and cut in two: the decoder must give the same events up to
 * there, then WS_ERR_NOMEM, and hold nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ws.h"
#include "failalloc.h"

/* Every connection embeds a decoder (ws.c asserts the same). */
_Static_assert(sizeof(struct ws_decoder) <= 16, "struct ws_decoder grew past 16 bytes");

/* ---- allocation hooks: failalloc.h, keeping a table of the blocks ---- */

/* Blocks the decoder may hold at once: its part, and the bigger one it
 * moves to while msg[] grows. */
#define TW_HEAP_BLOCKS 4

/* The blocks the decoder holds, to tell whether an event's data lies in
 * its heap. */
static struct {
	const uint8_t *p;
	size_t len;
} tw_blocks[TW_HEAP_BLOCKS];

static void *tw_heap_malloc(size_t size)
{
	uint8_t *p = failalloc_malloc(size);

	if (p == NULL)
		return NULL;
	for (size_t i = 0; i < TW_HEAP_BLOCKS; i++) {
		if (tw_blocks[i].p == NULL) {
			tw_blocks[i].p = p;
			tw_blocks[i].len = size;
			return p;
		}
	}
	fail_msg("the decoder holds more than %d blocks", TW_HEAP_BLOCKS);
	return NULL;
}

static void tw_heap_free(void *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < TW_HEAP_BLOCKS; i++) {
		if (tw_blocks[i].p == p) {
			tw_blocks[i].p = NULL;
			failalloc_free(p);
			return;
		}
	}
	fail_msg("free of a block the hooks did not allocate");
}

/* Per-test setup: a test that failed half-way may have left blocks and
 * counters behind (cmocka reports its leaks); the next one starts clean. */
static int tw_setup(void **state)
{
	memset(tw_blocks, 0, sizeof tw_blocks);
	return failalloc_setup(state);
}

/* True if the <len> bytes at <p> lie inside the <base_len> bytes at <base>. */
static bool tw_within(const uint8_t *p, size_t len, const uint8_t *base, size_t base_len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return base != NULL && a >= b && a - b <= base_len && len <= base_len - (a - b);
}

static size_t tw_heap_blocks(void)
{
	size_t n = 0;

	for (size_t i = 0; i < TW_HEAP_BLOCKS; i++)
		n += tw_blocks[i].p != NULL;
	return n;
}

/* True if the <len> bytes at <p> lie inside a block the decoder holds. */
static bool tw_heap_holds(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < TW_HEAP_BLOCKS; i++)
		if (tw_within(p, len, tw_blocks[i].p, tw_blocks[i].len))
			return true;
	return false;
}

/* The mask key of the raw WebSocket captures in tests/vectors/. */
static const uint8_t tw_default_mask[4] = { 0x11, 0x22, 0x33, 0x44 };

/* A growable byte string, on cmocka's allocator so a test that forgets
 * tw_buf_free() fails. */
struct tw_buf {
	uint8_t *p;
	size_t len, cap;
};

static void tw_buf_put(struct tw_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < b->len + n)
			cap *= 2;
		b->p = test_realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void tw_buf_byte(struct tw_buf *b, uint8_t c)
{
	tw_buf_put(b, &c, 1);
}

static void tw_buf_free(struct tw_buf *b)
{
	test_free(b->p);
	memset(b, 0, sizeof *b);
}

enum tw_len_enc {
	TW_LEN_MIN = 0, /* what a sender must use: 7, 16 or 64 bits */
	TW_LEN_16,
	TW_LEN_64,
};

/* One client frame.  The zero value of every field is the usual case:
 * FIN set, no RSV bit, masked with tw_default_mask, minimal length. */
struct tw_frame {
	uint8_t opcode;
	bool more;            /* FIN clear */
	uint8_t rsv;          /* RSV bits in place: 0x40, 0x20, 0x10 */
	bool unmasked;
	const uint8_t *mask;  /* NULL: tw_default_mask */
	enum tw_len_enc enc;
	bool announce;        /* write <announced> as the length, not <len> */
	uint64_t announced;
	const void *data;     /* <len> payload bytes, written masked */
	size_t len;
};

static void tw_frame_add(struct tw_buf *b, const struct tw_frame *f)
{
	uint64_t n = f->announce ? f->announced : f->len;
	const uint8_t *mask = f->mask ? f->mask : tw_default_mask;
	uint8_t mask_bit = f->unmasked ? 0 : 0x80;
	const uint8_t *data = f->data;

	tw_buf_byte(b, (uint8_t)((f->more ? 0 : 0x80) | f->rsv | f->opcode));
	if (f->enc == TW_LEN_MIN && n <= 125) {
		tw_buf_byte(b, (uint8_t)(mask_bit | n));
	} else if (f->enc != TW_LEN_64 && n <= 0xffff) {
		tw_buf_byte(b, mask_bit | 126);
		tw_buf_byte(b, (uint8_t)(n >> 8));
		tw_buf_byte(b, (uint8_t)n);
	} else {
		tw_buf_byte(b, mask_bit | 127);
		for (int i = 7; i >= 0; i--)
			tw_buf_byte(b, (uint8_t)(n >> (8 * i)));
	}
	if (!f->unmasked)
		tw_buf_put(b, mask, 4);
	for (size_t i = 0; i < f->len; i++)
		tw_buf_byte(b, f->unmasked ? data[i] : data[i] ^ mask[i & 3]);
}

#define TW_FRAME(b, ...) tw_frame_add((b), &(struct tw_frame){ __VA_ARGS__ })
/* .data and .len of a string literal */
#define TW_STR(s) .data = (s), .len = sizeof(s) - 1

/* A close frame body: status code and reason. */
static size_t tw_close_body(uint8_t *out, uint16_t code, const char *reason)
{
	size_t n = strlen(reason);

	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	memcpy(out + 2, reason, n);
	return 2 + n;
}

static size_t tw_hex(uint8_t *out, const char *hex)
{
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;

		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

/* An event a case expects. */
struct tw_event {
	enum ws_opcode opcode;
	uint16_t close_code;
	const uint8_t *data;
	size_t len;
};

#define TW_EV(op, s) { .opcode = (op), .data = (const uint8_t *)(s), .len = sizeof(s) - 1 }
#define TW_CLOSE_EV(code, s) \
	{ .opcode = WS_OPCODE_CLOSE, .close_code = (code), .data = (const uint8_t *)(s), .len = sizeof(s) - 1 }

/* How a run cuts its input, and which allocation it fails. */
enum tw_mode {
	TW_WHOLE,
	TW_BYTES,
	TW_SPLIT,  /* two pieces: [0, cut) and [cut, len) */
	TW_SPLIT3, /* three pieces: [0, cut), [cut, cut2) and [cut2, len) */
};

static const char *const tw_mode_names[] = { "whole", "byte by byte", "split", "split3" };

struct tw_cut {
	enum tw_mode mode;
	size_t cut, cut2;
	unsigned long fail_at; /* 0: none */
};

/* "split 3 7 (failing allocation 2)" for failure messages. */
static const char *tw_cut_name(const struct tw_cut *k)
{
	static char name[96];

	snprintf(name, sizeof name, "%s %zu %zu (failing allocation %lu)", tw_mode_names[k->mode],
		 k->cut, k->cut2, k->fail_at);
	return name;
}

struct tw_case {
	const uint8_t *in;
	size_t len;
	size_t max_message;
	const struct tw_event *want;
	size_t n_want;
	enum ws_result result; /* WS_MORE: all events, then idle */
};

static size_t tw_piece_len(const struct tw_cut *k, size_t pos, size_t len)
{
	if (k->mode == TW_BYTES)
		return 1;
	if ((k->mode == TW_SPLIT || k->mode == TW_SPLIT3) && pos < k->cut)
		return k->cut - pos;
	if (k->mode == TW_SPLIT3 && pos < k->cut2)
		return k->cut2 - pos;
	return len - pos;
}

/* Checks what the decoder holds after a call that returned <r> >= 0: heap
 * exactly while it is busy or <ev> points into its heap. */
static void tw_check_held(const struct ws_decoder *d, enum ws_result r, const struct ws_event *ev,
			  const struct tw_cut *k)
{
	bool event_in_heap = r == WS_EVENT && tw_heap_holds(ev->data, ev->len);
	bool busy = ws_decoder_busy(d);

	if ((failalloc_heap.live_bytes > 0) != (busy || event_in_heap))
		fail_msg("%s: %zu heap bytes held, busy %d, event in heap %d", tw_cut_name(k),
			 failalloc_heap.live_bytes, busy, event_in_heap);
}

/* Feeds <c> cut as <k> says and checks every event as it comes.  Returns
 * true if an allocation was failed (the run then ends in WS_ERR_NOMEM). */
static bool tw_run(const struct tw_case *c, const struct tw_cut *k)
{
	struct ws_decoder d;
	size_t pos = 0, n_ev = 0;
	enum ws_result r = WS_MORE;
	uint8_t spare[1] = { 0x81 };
	size_t used;
	struct ws_event ev;
	bool failed_alloc;

	if (failalloc_heap.live_bytes != 0)
		fail_msg("%s: %zu heap bytes held before the run", tw_cut_name(k), failalloc_heap.live_bytes);
	failalloc_reset(k->fail_at);
	ws_decoder_init(&d, c->max_message);
	while (pos < c->len && r >= 0) {
		size_t n = tw_piece_len(k, pos, c->len);
		uint8_t *piece = malloc(n);
		size_t off = 0;

		assert_non_null(piece);
		memcpy(piece, c->in + pos, n);
		for (;;) {
			used = SIZE_MAX;
			r = ws_decoder_feed(&d, piece + off, n - off, &used, &ev);
			if (used > n - off)
				fail_msg("%s: used %zu of %zu", tw_cut_name(k), used, n - off);
			if (r >= 0)
				tw_check_held(&d, r, &ev, k);
			else if (failalloc_heap.live_bytes != 0)
				fail_msg("%s: failed and holds %zu bytes", tw_cut_name(k), failalloc_heap.live_bytes);
			if (r != WS_EVENT) {
				off += used;
				break;
			}
			if (n_ev >= c->n_want)
				fail_msg("%s: unexpected event %d (len %zu)", tw_cut_name(k), ev.opcode, ev.len);
			const struct tw_event *w = &c->want[n_ev++];
			if (ev.opcode != w->opcode || ev.close_code != w->close_code ||
			    ev.len != w->len || ev.data == NULL || memcmp(ev.data, w->data, w->len) != 0)
				fail_msg("%s: event %zu is opcode %d code %u len %zu, want %d %u %zu",
					 tw_cut_name(k), n_ev - 1, ev.opcode, ev.close_code, ev.len,
					 w->opcode, w->close_code, w->len);
			if (!tw_within(ev.data, ev.len, piece + off, n - off) &&
			    !tw_heap_holds(ev.data, ev.len))
				fail_msg("%s: event %zu lies neither in the input nor in the decoder",
					 tw_cut_name(k), n_ev - 1);
			if (ev.opcode <= WS_OPCODE_BINARY && ev.len > c->max_message)
				fail_msg("event longer than max_message");
			off += used;
		}
		if (r == WS_MORE && off != n)
			fail_msg("%s: WS_MORE with %zu bytes left", tw_cut_name(k), n - off);
		free(piece);
		pos += n;
	}
	failed_alloc = failalloc_heap.n_failed > 0;
	if (failed_alloc && r != WS_ERR_NOMEM)
		fail_msg("%s: result %d after a failed allocation", tw_cut_name(k), r);
	if (!failed_alloc && (r != c->result || n_ev != c->n_want))
		fail_msg("%s: result %d after %zu events, want %d after %zu", tw_cut_name(k), r, n_ev,
			 c->result, c->n_want);
	if (r < 0) {
		/* Sticky: more input, even empty, gets the same answer. */
		assert_int_equal(ws_decoder_feed(&d, spare, 1, &used, &ev), r);
		assert_int_equal(used, 0);
		assert_int_equal(ws_decoder_feed(&d, spare, 0, &used, &ev), r);
		assert_true(ws_result_close_code(r) != 0);
		assert_false(ws_decoder_busy(&d));
	} else {
		/* Idle: after the call that follows the last event, no heap. */
		if (ws_decoder_busy(&d))
			fail_msg("%s: busy after the last frame", tw_cut_name(k));
		assert_int_equal(ws_decoder_feed(&d, spare, 0, &used, &ev), WS_MORE);
		assert_int_equal(used, 0);
	}
	assert_int_equal(failalloc_heap.live_bytes, 0);
	ws_decoder_cleanup(&d);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	return failed_alloc;
}

/* Above TW_SPLIT_ALL_MAX bytes an input is cut at every point of its first
 * and last TW_SPLIT_EDGE bytes (headers, the first and last 8-byte words of
 * unmasking and UTF-8) and at every TW_SPLIT_STRIDE-th in between: cutting a
 * 70 kB input at all of its points is 70k runs of 70 kB, a minute under
 * ASan, and the bytes in the middle of a long payload all take one path.
 * Inputs up to TW_SPLIT3_MAX bytes (a few short frames) are also cut in
 * three at every pair of points, so that a control frame inside a
 * fragmented message meets every mix of cut headers and payloads. */
#define TW_SPLIT_ALL_MAX 8192
#define TW_SPLIT_EDGE 300
#define TW_SPLIT_STRIDE 1021
#define TW_SPLIT3_MAX 160

static bool tw_cut_skipped(size_t len, size_t cut)
{
	return len > TW_SPLIT_ALL_MAX && cut > TW_SPLIT_EDGE && len - cut > TW_SPLIT_EDGE &&
	       cut % TW_SPLIT_STRIDE != 0;
}

/* Runs <k> with no failure, then failing its 1st, 2nd, ... allocation
 * until a run needs no more than were let through. */
static void tw_run_failing_each_allocation(const struct tw_case *c, struct tw_cut k)
{
	k.fail_at = 0;
	tw_run(c, &k);
	for (k.fail_at = 1; tw_run(c, &k); k.fail_at++)
		;
}

static void tw_check(const struct tw_case *c)
{
	struct tw_cut k = { .mode = TW_WHOLE };

	tw_run_failing_each_allocation(c, k);
	k.mode = TW_BYTES;
	tw_run_failing_each_allocation(c, k);
	k.mode = TW_SPLIT;
	for (k.cut = 1; k.cut < c->len; k.cut++)
		if (!tw_cut_skipped(c->len, k.cut))
			tw_run_failing_each_allocation(c, k);
	if (c->len > TW_SPLIT3_MAX)
		return;
	k.mode = TW_SPLIT3;
	for (k.cut = 1; k.cut < c->len; k.cut++)
		for (k.cut2 = k.cut + 1; k.cut2 < c->len; k.cut2++)
			tw_run(c, &k);
}

static void tw_expect(const struct tw_buf *in, size_t max_message, const struct tw_event *want,
		      size_t n_want, enum ws_result result)
{
	struct tw_case c = {
		.in = in->p,
		.len = in->len,
		.max_message = max_message,
		.want = want,
		.n_want = n_want,
		.result = result,
	};

	tw_check(&c);
}

#define TW_MAX 1000000 /* max_message where the limit is not under test */
#define TW_TEST(f) cmocka_unit_test_setup(f, tw_setup)
#define TW_N(a) (sizeof(a) / sizeof((a)[0]))

/* Expects exactly one error, after no event. */
static void tw_expect_error(const struct tw_buf *in, size_t max_message, enum ws_result r)
{
	tw_expect(in, max_message, NULL, 0, r);
}

/* ---- handshake ---- */

static void accept_key_of_rfc6455_sample_matches(void **state)
{
	char out[29];
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";

	memset(out, 'x', sizeof out);
	assert_int_equal(ws_accept_key(key, strlen(key), out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void accept_key_uses_only_key_len_bytes(void **state)
{
	char out[29];
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==\r\n";

	assert_int_equal(ws_accept_key(key, 24, out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void accept_key_refuses_keys_that_are_not_base64_of_16_bytes(void **state)
{
	static const char *const bad[] = {
		"",
		"dGhlIHNhbXBsZSBub25jZQ=",   /* 23 chars */
		"dGhlIHNhbXBsZSBub25jZQ===",  /* 25 chars */
		"dGhlIHNhbXBsZSBub25jZQab",   /* 18 bytes, no padding */
		"dGhlIHNhbXBsZSBub25jZ===",   /* 15 bytes and a stray = */
		"dGhlIHNhbXBsZSBub25j Q==",   /* space inside */
		"dGhlIHNhbXBsZSBub25jZ*==",   /* not in the alphabet */
		"dGhlIHNhbXBsZSBub25jZQ=-",   /* url-safe padding is not padding */
		"dGhlIHNhbXBsZSBub25jZ-==",   /* url-safe alphabet */
		"dGhlIHNhbXBsZSBub25jZQ",     /* no padding at all */
	};
	char out[29];

	for (size_t i = 0; i < TW_N(bad); i++)
		assert_int_equal(ws_accept_key(bad[i], strlen(bad[i]), out), -1);
	/* A NUL inside the 24 bytes. */
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZ\0Bub25jZQ==", 24, out), -1);
}

/* ---- masking and single frames ---- */

static void masked_text_frames_from_the_captures_are_decoded(void **state)
{
	static const struct {
		const char *hex, *text;
	} caps[] = {
		{ "81841122334423445c2b", "2foo" },
		{ "8186112233442352412b7347", "2probe" },
		{ "8182112233442512", "40" },
	};

	for (size_t i = 0; i < TW_N(caps); i++) {
		uint8_t raw[32];
		struct tw_buf b = { 0 };
		struct tw_event want = { .opcode = WS_OPCODE_TEXT,
					 .data = (const uint8_t *)caps[i].text,
					 .len = strlen(caps[i].text) };

		tw_buf_put(&b, raw, tw_hex(raw, caps[i].hex));
		tw_expect(&b, TW_MAX, &want, 1, WS_MORE);
		tw_buf_free(&b);
	}
}

static void any_mask_key_is_undone(void **state)
{
	static const uint8_t keys[][4] = {
		{ 0, 0, 0, 0 }, { 0xff, 0xff, 0xff, 0xff }, { 0x01, 0x80, 0x7f, 0xfe }, { 0xa5, 0, 0x5a, 0 },
	};
	uint8_t payload[37];

	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 37 + 1);
	for (size_t k = 0; k < TW_N(keys); k++) {
		struct tw_buf b = { 0 };
		struct tw_event want = { .opcode = WS_OPCODE_BINARY, .data = payload, .len = sizeof payload };

		TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .mask = keys[k], .data = payload, .len = sizeof payload);
		tw_expect(&b, TW_MAX, &want, 1, WS_MORE);
		tw_buf_free(&b);
	}
}

static void unmasked_client_frame_is_a_protocol_error(void **state)
{
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .unmasked = true, TW_STR("2foo"));
	tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
	tw_buf_free(&b);
	/* Control frames too. */
	TW_FRAME(&b, .opcode = WS_OPCODE_PING, .unmasked = true);
	tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
	tw_buf_free(&b);
	assert_int_equal(ws_result_close_code(WS_ERR_PROTOCOL), 1002);
}

static void frame_whole_in_one_feed_is_unmasked_in_place(void **state)
{
	uint8_t in[32];
	size_t len = tw_hex(in, "8186112233442352412b7347" "89821122334461" "4e" /* ping "pl" */);
	struct ws_decoder d;
	struct ws_event ev;
	size_t used;

	ws_decoder_init(&d, TW_MAX);
	assert_int_equal(ws_decoder_feed(&d, in, len, &used, &ev), WS_EVENT);
	assert_int_equal(used, 12);
	assert_int_equal(ev.opcode, WS_OPCODE_TEXT);
	assert_ptr_equal(ev.data, in + 6);
	assert_int_equal(ev.len, 6);
	assert_memory_equal(in + 6, "2probe", 6);
	assert_false(ws_decoder_busy(&d));

	assert_int_equal(ws_decoder_feed(&d, in + used, len - used, &used, &ev), WS_EVENT);
	assert_int_equal(used, 8);
	assert_int_equal(ev.opcode, WS_OPCODE_PING);
	assert_ptr_equal(ev.data, in + 18);
	assert_memory_equal(ev.data, "pl", 2);
	assert_int_equal(failalloc_heap.n_allocs, 0); /* whole frames: nothing allocated */
	ws_decoder_cleanup(&d);
}

static void frame_whose_payload_follows_a_split_header_is_unmasked_in_place(void **state)
{
	uint8_t in[16];
	size_t len = tw_hex(in, "8186112233442352412b7347");
	struct ws_decoder d;
	struct ws_event ev;
	size_t used;

	ws_decoder_init(&d, TW_MAX);
	assert_int_equal(ws_decoder_feed(&d, in, 3, &used, &ev), WS_MORE);
	assert_int_equal(used, 3);
	assert_true(ws_decoder_busy(&d));
	assert_true(failalloc_heap.live_bytes > 0); /* the 3 header bytes */
	assert_int_equal(ws_decoder_feed(&d, in + 3, len - 3, &used, &ev), WS_EVENT);
	assert_int_equal(used, len - 3);
	assert_ptr_equal(ev.data, in + 6);
	assert_memory_equal(ev.data, "2probe", 6);
	/* Nothing points into the part any more: it is gone already. */
	assert_int_equal(failalloc_heap.live_bytes, 0);
	ws_decoder_cleanup(&d);
}

static void frame_split_inside_its_payload_is_delivered_from_the_decoder_and_freed(void **state)
{
	uint8_t in[32];
	size_t len = tw_hex(in, "8186112233442352412b7347");
	size_t ctrl_len = tw_hex(in + len, "89821122334461" "4e");
	struct ws_decoder d;
	struct ws_event ev;
	const uint8_t *msg_data;
	size_t used;

	ws_decoder_init(&d, TW_MAX);
	assert_int_equal(ws_decoder_feed(&d, in, 8, &used, &ev), WS_MORE);
	assert_true(ws_decoder_busy(&d));
	assert_true(failalloc_heap.live_bytes > 0);
	assert_int_equal(ws_decoder_feed(&d, in + 8, len - 8, &used, &ev), WS_EVENT);
	assert_true(tw_heap_holds(ev.data, ev.len));
	assert_memory_equal(ev.data, "2probe", 6);
	assert_false(ws_decoder_busy(&d));
	msg_data = ev.data;

	/* The ping's payload is split too: it goes through the part's ctrl[].
	 * The call that starts it frees the message's part first. */
	assert_int_equal(ws_decoder_feed(&d, in + len, ctrl_len - 1, &used, &ev), WS_MORE);
	assert_int_equal(tw_heap_blocks(), 1);
	assert_false(tw_heap_holds(msg_data, 6));
	assert_int_equal(ws_decoder_feed(&d, in + len + ctrl_len - 1, 1, &used, &ev), WS_EVENT);
	assert_int_equal(ev.opcode, WS_OPCODE_PING);
	assert_true(tw_heap_holds(ev.data, ev.len));
	assert_memory_equal(ev.data, "pl", 2);
	assert_int_equal(ws_decoder_feed(&d, in, 0, &used, &ev), WS_MORE);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	ws_decoder_cleanup(&d);
}

static void feed_stops_at_each_event_and_says_how_much_it_used(void **state)
{
	struct tw_buf b = { 0 };
	struct ws_decoder d;
	struct ws_event ev;
	size_t used, off = 0;

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, TW_STR("4a"));
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, TW_STR("xyz"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PONG);
	ws_decoder_init(&d, TW_MAX);
	assert_int_equal(ws_decoder_feed(&d, b.p, b.len, &used, &ev), WS_EVENT);
	assert_int_equal(used, 2 + 4 + 2);
	assert_int_equal(ev.opcode, WS_OPCODE_TEXT);
	off += used;
	assert_int_equal(ws_decoder_feed(&d, b.p + off, b.len - off, &used, &ev), WS_EVENT);
	assert_int_equal(used, 2 + 4 + 3);
	assert_int_equal(ev.opcode, WS_OPCODE_BINARY);
	off += used;
	assert_int_equal(ws_decoder_feed(&d, b.p + off, b.len - off, &used, &ev), WS_EVENT);
	assert_int_equal(used, 2 + 4);
	assert_int_equal(ev.opcode, WS_OPCODE_PONG);
	assert_int_equal(ev.len, 0);
	assert_non_null(ev.data);
	off += used;
	assert_int_equal(off, b.len);
	assert_int_equal(ws_decoder_feed(&d, b.p + off, 0, &used, &ev), WS_MORE);
	assert_int_equal(used, 0);
	ws_decoder_cleanup(&d);
	tw_buf_free(&b);
}

static void several_messages_in_one_input_come_out_in_order(void **state)
{
	static const struct tw_event want[] = {
		TW_EV(WS_OPCODE_TEXT, "2probe"), TW_EV(WS_OPCODE_BINARY, "\x00\x01\x02"),
		TW_EV(WS_OPCODE_PING, ""),       TW_EV(WS_OPCODE_TEXT, ""),
		TW_EV(WS_OPCODE_BINARY, ""),     TW_EV(WS_OPCODE_PONG, "keepalive"),
		TW_EV(WS_OPCODE_TEXT, "5"),
	};
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, TW_STR("2probe"));
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, TW_STR("\x00\x01\x02"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PING);
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT);
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY);
	TW_FRAME(&b, .opcode = WS_OPCODE_PONG, TW_STR("keepalive"));
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, TW_STR("5"));
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

/* ---- lengths ---- */

/* Fills <p> with <len> bytes of valid UTF-8 mixing 1- to 4-byte forms. */
static void tw_fill_text(uint8_t *p, size_t len)
{
	static const char *const seqs[] = { "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80" };
	size_t i = 0, k = 0;

	while (i < len) {
		size_t n = strlen(seqs[k]);

		if (n > len - i) {
			p[i++] = 'z';
			continue;
		}
		memcpy(p + i, seqs[k], n);
		i += n;
		k = (k + 1) % TW_N(seqs);
	}
}

static void tw_check_length(uint8_t opcode, size_t len, enum tw_len_enc enc, size_t max_message)
{
	uint8_t *payload = test_malloc(len + 1);
	struct tw_buf b = { 0 };
	struct tw_event want = { .opcode = opcode, .data = payload, .len = len };

	if (opcode == WS_OPCODE_TEXT) {
		tw_fill_text(payload, len);
	} else {
		for (size_t i = 0; i < len; i++)
			payload[i] = (uint8_t)(i * 7 + 3);
	}
	TW_FRAME(&b, .opcode = opcode, .enc = enc, .data = payload, .len = len);
	tw_expect(&b, max_message, &want, 1, WS_MORE);
	tw_buf_free(&b);
	test_free(payload);
}

static void frames_of_every_length_encoding_boundary_are_decoded(void **state)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 70001 };

	for (size_t i = 0; i < TW_N(lens); i++) {
		tw_check_length(WS_OPCODE_BINARY, lens[i], TW_LEN_MIN, TW_MAX);
		tw_check_length(WS_OPCODE_TEXT, lens[i], TW_LEN_MIN, TW_MAX);
	}
}

static void length_written_longer_than_needed_is_accepted(void **state)
{
	/* RFC 6455 5.2's "minimal number of bytes" binds the sender; the ws
	 * library accepts longer forms and so do we (see ws.c). */
	tw_check_length(WS_OPCODE_TEXT, 5, TW_LEN_16, TW_MAX);
	tw_check_length(WS_OPCODE_TEXT, 5, TW_LEN_64, TW_MAX);
	tw_check_length(WS_OPCODE_BINARY, 300, TW_LEN_64, TW_MAX);
	tw_check_length(WS_OPCODE_BINARY, 0, TW_LEN_64, TW_MAX);
}

static void length_with_top_bit_set_is_a_protocol_error(void **state)
{
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .announce = true, .announced = UINT64_C(1) << 63);
	tw_expect_error(&b, SIZE_MAX, WS_ERR_PROTOCOL);
	tw_buf_free(&b);
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .announce = true, .announced = UINT64_MAX);
	tw_expect_error(&b, SIZE_MAX, WS_ERR_PROTOCOL);
	tw_buf_free(&b);
}

/* ---- max_message ---- */

static void single_frame_of_exactly_max_message_is_accepted(void **state)
{
	tw_check_length(WS_OPCODE_TEXT, 100, TW_LEN_MIN, 100);
	tw_check_length(WS_OPCODE_BINARY, 65536, TW_LEN_MIN, 65536);
	tw_check_length(WS_OPCODE_BINARY, 0, TW_LEN_MIN, 0);
}

static void single_frame_one_past_max_message_is_too_big(void **state)
{
	static const size_t maxes[] = { 0, 100, 125, 65535, 65536 };

	for (size_t i = 0; i < TW_N(maxes); i++) {
		size_t len = maxes[i] + 1;
		uint8_t *payload = test_calloc(1, len);
		struct tw_buf b = { 0 };

		TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .data = payload, .len = len);
		tw_expect_error(&b, maxes[i], WS_ERR_TOO_BIG);
		tw_buf_free(&b);
		TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .data = payload, .len = len);
		tw_expect_error(&b, maxes[i], WS_ERR_TOO_BIG);
		tw_buf_free(&b);
		test_free(payload);
	}
	assert_int_equal(ws_result_close_code(WS_ERR_TOO_BIG), 1009);
}

static void too_big_frame_is_refused_at_its_header(void **state)
{
	struct tw_buf b = { 0 };
	struct ws_decoder d;
	struct ws_event ev;
	size_t used;

	/* Only the header: the payload is never sent. */
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .announce = true, .announced = 1u << 30);
	tw_expect_error(&b, 1u << 20, WS_ERR_TOO_BIG);
	/* The 64-bit length alone decides, before the mask key arrives. */
	ws_decoder_init(&d, 1u << 20);
	assert_int_equal(ws_decoder_feed(&d, b.p, 10, &used, &ev), WS_ERR_TOO_BIG);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	ws_decoder_cleanup(&d);
	tw_buf_free(&b);
}

static void capture_of_134_byte_message_with_max_payload_100_is_closed_with_1009(void **state)
{
	/* tests/vectors/eio-websocket-maxpayload.txt: maxHttpBufferSize=100, the client sends
	 * 134 bytes, the reference server closes with 1009. */
	static const char hex[] =
		"81fe0086112233442510686679475f287e001f66695a4b3c695a4b3c695a4b3c695a4b3c"
		"695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c"
		"695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c"
		"695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c695a4b3c337f";
	uint8_t raw[sizeof hex / 2];
	struct tw_buf b = { 0 };
	struct tw_event want = { .opcode = WS_OPCODE_TEXT };
	uint8_t text[134];

	tw_buf_put(&b, raw, tw_hex(raw, hex));
	assert_int_equal(b.len, 8 + 134);
	tw_expect_error(&b, 100, WS_ERR_TOO_BIG);
	assert_int_equal(ws_result_close_code(WS_ERR_TOO_BIG), 1009);
	/* With room for it, it is the capture's text. */
	for (size_t i = 0; i < 134; i++)
		text[i] = raw[8 + i] ^ tw_default_mask[i & 3];
	assert_memory_equal(text, "42[\"hello\",\"xxx", 15);
	want.data = text;
	want.len = 134;
	tw_expect(&b, 134, &want, 1, WS_MORE);
	tw_buf_free(&b);
}

static void fragmented_message_of_exactly_max_message_is_accepted(void **state)
{
	uint8_t payload[300];
	struct tw_buf b = { 0 };
	struct tw_event want = { .opcode = WS_OPCODE_BINARY, .data = payload, .len = sizeof payload };

	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i ^ 0x5a);
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .more = true, .data = payload, .len = 100);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, .data = payload + 100, .len = 150);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .data = payload + 250, .len = 50);
	tw_expect(&b, sizeof payload, &want, 1, WS_MORE);
	tw_buf_free(&b);
}

static void fragmented_message_one_past_max_message_is_too_big(void **state)
{
	uint8_t payload[301] = { 0 };
	struct tw_buf b = { 0 };
	static const struct tw_event ping = TW_EV(WS_OPCODE_PING, "");

	/* The last fragment passes the limit by one. */
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .more = true, .data = payload, .len = 100);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, .data = payload + 100, .len = 150);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .data = payload + 250, .len = 51);
	tw_expect_error(&b, 300, WS_ERR_TOO_BIG);
	tw_buf_free(&b);

	/* A middle fragment passes it, with a ping before it delivered. */
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, .data = payload, .len = 300);
	TW_FRAME(&b, .opcode = WS_OPCODE_PING);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, .data = payload, .len = 1);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .data = payload, .len = 0);
	tw_expect(&b, 300, &ping, 1, WS_ERR_TOO_BIG);
	tw_buf_free(&b);
}

/* ---- fragmentation ---- */

static void text_message_in_two_fragments_is_reassembled(void **state)
{
	static const struct tw_event want[] = { TW_EV(WS_OPCODE_TEXT, "42[\"hi\",\"there\"]") };
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("42[\"hi\","));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("\"there\"]"));
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

static void text_message_in_three_fragments_is_reassembled(void **state)
{
	static const struct tw_event want[] = { TW_EV(WS_OPCODE_TEXT, "Hello, world") };
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("Hel"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, TW_STR("lo, wor"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("ld"));
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

static void binary_message_in_two_and_three_fragments_is_reassembled(void **state)
{
	static const struct tw_event want[] = {
		TW_EV(WS_OPCODE_BINARY, "\xff\x00\xfe\x01"),
		TW_EV(WS_OPCODE_BINARY, "\x80\x81\x82\x83\x84\x85"),
	};
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .more = true, TW_STR("\xff\x00"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("\xfe\x01"));
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .more = true, TW_STR("\x80"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, TW_STR("\x81\x82\x83\x84"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("\x85"));
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

static void empty_fragments_make_an_empty_or_whole_message(void **state)
{
	static const struct tw_event want[] = {
		TW_EV(WS_OPCODE_TEXT, ""),
		TW_EV(WS_OPCODE_BINARY, "ab"),
	};
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT);
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .more = true);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, TW_STR("ab"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT);
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

static void ping_pong_and_close_between_fragments_are_delivered_at_once(void **state)
{
	uint8_t close_body[16];
	size_t close_len = tw_close_body(close_body, 1000, "bye");
	static const struct tw_event want[] = {
		TW_EV(WS_OPCODE_PING, "p1"),
		TW_EV(WS_OPCODE_PONG, ""),
		TW_CLOSE_EV(1000, "bye"),
		TW_EV(WS_OPCODE_PING, "\xff"),
		TW_EV(WS_OPCODE_TEXT, "Hello"),
		TW_EV(WS_OPCODE_PONG, "x"),
		TW_EV(WS_OPCODE_BINARY, "\x01\x02"),
	};
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("He"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PING, TW_STR("p1"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, TW_STR("ll"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PONG);
	TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE, .data = close_body, .len = close_len);
	TW_FRAME(&b, .opcode = WS_OPCODE_PING, TW_STR("\xff"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("o"));
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .more = true, TW_STR("\x01"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PONG, TW_STR("x"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("\x02"));
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

static void control_frame_between_fragments_keeps_utf8_state(void **state)
{
	/* "€" = E2 82 AC split around a ping. */
	static const struct tw_event want[] = {
		TW_EV(WS_OPCODE_PING, "\xe2"),
		TW_EV(WS_OPCODE_TEXT, "\xe2\x82\xac"),
	};
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("\xe2"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PING, TW_STR("\xe2"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("\x82\xac"));
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

/* ---- protocol errors: each closes with 1002 ---- */

static void rsv_bits_are_protocol_errors(void **state)
{
	static const uint8_t rsv[] = { 0x40, 0x20, 0x10, 0x70 };

	for (size_t i = 0; i < TW_N(rsv); i++) {
		struct tw_buf b = { 0 };

		TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .rsv = rsv[i], TW_STR("2"));
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
		TW_FRAME(&b, .opcode = WS_OPCODE_PING, .rsv = rsv[i]);
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
	}
}

static void reserved_opcodes_are_protocol_errors(void **state)
{
	static const uint8_t ops[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf };

	for (size_t i = 0; i < TW_N(ops); i++) {
		struct tw_buf b = { 0 };

		TW_FRAME(&b, .opcode = ops[i], TW_STR("ab"));
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
		/* Also in the middle of a fragmented message. */
		TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("a"));
		TW_FRAME(&b, .opcode = ops[i]);
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
	}
}

static void fragmented_control_frame_is_a_protocol_error(void **state)
{
	static const uint8_t ops[] = { WS_OPCODE_CLOSE, WS_OPCODE_PING, WS_OPCODE_PONG };

	for (size_t i = 0; i < TW_N(ops); i++) {
		struct tw_buf b = { 0 };

		TW_FRAME(&b, .opcode = ops[i], .more = true, TW_STR("\x03\xe8"));
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
	}
}

static void control_frame_of_125_bytes_is_accepted_and_126_is_a_protocol_error(void **state)
{
	static const uint8_t ops[] = { WS_OPCODE_PING, WS_OPCODE_PONG, WS_OPCODE_CLOSE };
	uint8_t payload[126];

	memset(payload, 'a', sizeof payload);
	payload[0] = 0x03; /* close code 1000 */
	payload[1] = 0xe8;
	for (size_t i = 0; i < TW_N(ops); i++) {
		struct tw_buf b = { 0 };
		bool close = ops[i] == WS_OPCODE_CLOSE;
		struct tw_event want = { .opcode = ops[i],
					 .close_code = close ? 1000 : 0,
					 .data = payload + (close ? 2 : 0),
					 .len = close ? 123 : 125 };

		TW_FRAME(&b, .opcode = ops[i], .data = payload, .len = 125);
		tw_expect(&b, TW_MAX, &want, 1, WS_MORE);
		tw_buf_free(&b);
		TW_FRAME(&b, .opcode = ops[i], .data = payload, .len = 126);
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
		/* Short, but written with a 16- or 64-bit length. */
		TW_FRAME(&b, .opcode = ops[i], .enc = TW_LEN_16, .data = payload, .len = 2);
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
		TW_FRAME(&b, .opcode = ops[i], .enc = TW_LEN_64, .data = payload, .len = 2);
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
	}
}

static void continuation_without_a_message_is_a_protocol_error(void **state)
{
	struct tw_buf b = { 0 };
	static const struct tw_event want[] = { TW_EV(WS_OPCODE_TEXT, "ab") };

	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("ab"));
	tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
	tw_buf_free(&b);
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true);
	tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
	tw_buf_free(&b);
	/* After a finished message, too. */
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("a"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("b"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("c"));
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_ERR_PROTOCOL);
	tw_buf_free(&b);
}

static void new_message_inside_a_fragmented_one_is_a_protocol_error(void **state)
{
	static const uint8_t first[] = { WS_OPCODE_TEXT, WS_OPCODE_BINARY };
	static const uint8_t second[] = { WS_OPCODE_TEXT, WS_OPCODE_BINARY };

	for (size_t i = 0; i < TW_N(first); i++) {
		for (size_t j = 0; j < TW_N(second); j++) {
			struct tw_buf b = { 0 };

			TW_FRAME(&b, .opcode = first[i], .more = true, TW_STR("a"));
			TW_FRAME(&b, .opcode = second[j], TW_STR("b"));
			tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
			tw_buf_free(&b);
		}
	}
}

/* ---- UTF-8 in text messages: each bad case closes with 1007 ---- */

static const char *const tw_bad_utf8[] = {
	"\x80",                 /* stray continuation byte */
	"a\xbf\x62",            /* stray continuation byte after ASCII */
	"\xc0\x80",             /* overlong NUL */
	"\xc1\xbf",             /* overlong 7F */
	"\xe0\x80\x80",         /* overlong 3-byte */
	"\xe0\x9f\xbf",         /* overlong U+07FF */
	"\xf0\x80\x80\x80",     /* overlong 4-byte */
	"\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
	"\xed\xa0\x80",         /* U+D800 */
	"\xed\xbf\xbf",         /* U+DFFF */
	"\xed\xa0\x80\xed\xb0\x80", /* surrogate pair written as two */
	"\xf4\x90\x80\x80",     /* U+110000 */
	"\xf5\x80\x80\x80",     /* lead byte past U+10FFFF */
	"\xfe",
	"\xff",
	"\xc2\x41",             /* lead byte then ASCII */
	"\xe2\x82\x41",
	"\xf0\x9f\x98\x41",
	"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
};

static const char *const tw_good_utf8[] = {
	"",
	"\x7f",
	"\xc2\x80",             /* U+0080 */
	"\xdf\xbf",             /* U+07FF */
	"\xe0\xa0\x80",         /* U+0800 */
	"\xed\x9f\xbf",         /* U+D7FF */
	"\xee\x80\x80",         /* U+E000 */
	"\xef\xbf\xbf",         /* U+FFFF */
	"\xf0\x90\x80\x80",     /* U+10000 */
	"\xf4\x8f\xbf\xbf",     /* U+10FFFF */
	"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", /* κόσμε */
	"\xef\xbb\xbf\x42OM is just a character",
};

static void invalid_utf8_in_one_text_frame_is_bad_data(void **state)
{
	for (size_t i = 0; i < TW_N(tw_bad_utf8); i++) {
		struct tw_buf b = { 0 };

		TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .data = tw_bad_utf8[i], .len = strlen(tw_bad_utf8[i]));
		tw_expect_error(&b, TW_MAX, WS_ERR_UTF8);
		tw_buf_free(&b);
	}
	assert_int_equal(ws_result_close_code(WS_ERR_UTF8), 1007);
}

static void valid_utf8_boundaries_in_text_frames_are_accepted(void **state)
{
	for (size_t i = 0; i < TW_N(tw_good_utf8); i++) {
		struct tw_buf b = { 0 };
		struct tw_event want = { .opcode = WS_OPCODE_TEXT,
					 .data = (const uint8_t *)tw_good_utf8[i],
					 .len = strlen(tw_good_utf8[i]) };

		TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .data = want.data, .len = want.len);
		tw_expect(&b, TW_MAX, &want, 1, WS_MORE);
		tw_buf_free(&b);
	}
}

static void binary_message_is_not_checked_as_utf8(void **state)
{
	for (size_t i = 0; i < TW_N(tw_bad_utf8); i++) {
		struct tw_buf b = { 0 };
		struct tw_event want = { .opcode = WS_OPCODE_BINARY,
					 .data = (const uint8_t *)tw_bad_utf8[i],
					 .len = strlen(tw_bad_utf8[i]) };

		TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .data = want.data, .len = want.len);
		tw_expect(&b, TW_MAX, &want, 1, WS_MORE);
		tw_buf_free(&b);
	}
}

static void text_frame_split_inside_utf8_sequence_is_accepted(void **state)
{
	/* Every valid sample cut at every byte into two fragments. */
	for (size_t i = 0; i < TW_N(tw_good_utf8); i++) {
		const char *s = tw_good_utf8[i];
		size_t len = strlen(s);

		for (size_t cut = 0; cut <= len; cut++) {
			struct tw_buf b = { 0 };
			struct tw_event want = { .opcode = WS_OPCODE_TEXT, .data = (const uint8_t *)s, .len = len };

			TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, .data = s, .len = cut);
			TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .data = s + cut, .len = len - cut);
			tw_expect(&b, TW_MAX, &want, 1, WS_MORE);
			tw_buf_free(&b);
		}
	}
}

static void text_frame_split_inside_invalid_utf8_sequence_is_bad_data(void **state)
{
	for (size_t i = 0; i < TW_N(tw_bad_utf8); i++) {
		const char *s = tw_bad_utf8[i];
		size_t len = strlen(s);

		for (size_t cut = 0; cut <= len; cut++) {
			struct tw_buf b = { 0 };

			TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, .data = s, .len = cut);
			TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, .data = s + cut, .len = len - cut);
			TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("ok"));
			tw_expect_error(&b, TW_MAX, WS_ERR_UTF8);
			tw_buf_free(&b);
		}
	}
}

static void invalid_utf8_fails_before_the_message_ends(void **state)
{
	struct tw_buf b = { 0 };

	/* A frame announcing 1000 bytes whose first three are bad: no need to
	 * wait for the other 997. */
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .announce = true, .announced = 1000, TW_STR("a\xed\xa0"));
	tw_expect_error(&b, TW_MAX, WS_ERR_UTF8);
	tw_buf_free(&b);
	/* A non-final fragment, with no final one sent. */
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("ok"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .more = true, TW_STR("\xf4\x90"));
	tw_expect_error(&b, TW_MAX, WS_ERR_UTF8);
	tw_buf_free(&b);
}

static void truncated_utf8_sequence_at_fin_is_bad_data(void **state)
{
	static const char *const cut_short[] = { "\xc3", "a\xe2\x82", "\xf0\x9f\x98", "\xf4" };

	for (size_t i = 0; i < TW_N(cut_short); i++) {
		struct tw_buf b = { 0 };
		size_t len = strlen(cut_short[i]);

		TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .data = cut_short[i], .len = len);
		tw_expect_error(&b, TW_MAX, WS_ERR_UTF8);
		tw_buf_free(&b);
		TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("abc"));
		TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .data = cut_short[i], .len = len);
		tw_expect_error(&b, TW_MAX, WS_ERR_UTF8);
		tw_buf_free(&b);
		/* An empty final fragment does not finish the sequence either. */
		TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, .data = cut_short[i], .len = len);
		TW_FRAME(&b, .opcode = WS_OPCODE_CONT);
		tw_expect_error(&b, TW_MAX, WS_ERR_UTF8);
		tw_buf_free(&b);
	}
}

/* ---- close frames ---- */

static void empty_close_has_code_zero(void **state)
{
	static const struct tw_event want[] = { TW_CLOSE_EV(0, "") };
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE);
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

static void close_with_valid_code_is_delivered(void **state)
{
	static const uint16_t codes[] = { 1000, 1001, 1002, 1003, 1007, 1008,
					  1009, 1010, 1011, 3000, 3999, 4000, 4999 };

	for (size_t i = 0; i < TW_N(codes); i++) {
		uint8_t body[8];
		struct tw_buf b = { 0 };
		struct tw_event want = { .opcode = WS_OPCODE_CLOSE, .close_code = codes[i],
					 .data = (const uint8_t *)"", .len = 0 };

		TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE, .data = body, .len = tw_close_body(body, codes[i], ""));
		tw_expect(&b, TW_MAX, &want, 1, WS_MORE);
		tw_buf_free(&b);
	}
}

static void close_with_invalid_code_is_a_protocol_error(void **state)
{
	static const uint16_t codes[] = { 0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014,
					  1015, 1016, 1100, 2000, 2999, 5000, 65535 };

	for (size_t i = 0; i < TW_N(codes); i++) {
		uint8_t body[8];
		struct tw_buf b = { 0 };

		TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE, .data = body, .len = tw_close_body(body, codes[i], "x"));
		tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
		tw_buf_free(&b);
	}
}

static void close_with_one_byte_body_is_a_protocol_error(void **state)
{
	struct tw_buf b = { 0 };

	TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE, TW_STR("\x03"));
	tw_expect_error(&b, TW_MAX, WS_ERR_PROTOCOL);
	tw_buf_free(&b);
}

static void close_with_reason_gives_code_and_reason(void **state)
{
	uint8_t body[128];
	static const struct tw_event want[] = {
		TW_CLOSE_EV(1001, "going away: \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
	};
	struct tw_buf b = { 0 };
	size_t len = tw_close_body(body, 1001, "going away: \xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");

	TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE, .data = body, .len = len);
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

static void close_reason_with_invalid_or_truncated_utf8_is_bad_data(void **state)
{
	static const char *const reasons[] = { "\xff", "bye\xed\xa0\x80", "bye\xe2\x82" };

	for (size_t i = 0; i < TW_N(reasons); i++) {
		uint8_t body[32];
		struct tw_buf b = { 0 };

		TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE, .data = body, .len = tw_close_body(body, 1000, reasons[i]));
		tw_expect_error(&b, TW_MAX, WS_ERR_UTF8);
		tw_buf_free(&b);
	}
}

/* ---- sticky errors, busy, memory ---- */

static void errors_are_sticky(void **state)
{
	static const enum ws_result results[] = { WS_ERR_PROTOCOL, WS_ERR_TOO_BIG, WS_ERR_UTF8 };
	uint8_t good[16];
	size_t good_len = tw_hex(good, "81841122334423445c2b");

	for (size_t i = 0; i < TW_N(results); i++) {
		struct tw_buf b = { 0 };
		struct ws_decoder d;
		struct ws_event ev;
		size_t used;

		if (results[i] == WS_ERR_PROTOCOL)
			TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .unmasked = true, TW_STR("x"));
		else if (results[i] == WS_ERR_TOO_BIG)
			TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, TW_STR("xyz"));
		else
			TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, TW_STR("\xff"));
		ws_decoder_init(&d, 2);
		assert_int_equal(ws_decoder_feed(&d, b.p, b.len, &used, &ev), results[i]);
		/* A good frame afterwards changes nothing. */
		for (int k = 0; k < 3; k++) {
			uint8_t copy[16];

			memcpy(copy, good, good_len);
			assert_int_equal(ws_decoder_feed(&d, copy, good_len, &used, &ev), results[i]);
			assert_int_equal(used, 0);
		}
		assert_false(ws_decoder_busy(&d));
		assert_int_equal(failalloc_heap.live_bytes, 0);
		ws_decoder_cleanup(&d);
		tw_buf_free(&b);
	}
}

static void decoder_is_busy_only_while_it_holds_part_of_a_frame_or_message(void **state)
{
	struct tw_buf b = { 0 };
	struct ws_decoder d;
	struct ws_event ev;
	size_t used, off = 0;

	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, TW_STR("ab")); /* 8 bytes */
	TW_FRAME(&b, .opcode = WS_OPCODE_PING, TW_STR("p"));                /* 7 bytes */
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, TW_STR("c"));                /* 7 bytes */
	ws_decoder_init(&d, TW_MAX);
	assert_false(ws_decoder_busy(&d));
	assert_int_equal(ws_decoder_feed(&d, b.p, 1, &used, &ev), WS_MORE);
	assert_true(ws_decoder_busy(&d)); /* half a header */
	off += used;
	assert_int_equal(ws_decoder_feed(&d, b.p + off, 5, &used, &ev), WS_MORE);
	assert_true(ws_decoder_busy(&d)); /* a header, no payload */
	off += used;
	assert_int_equal(ws_decoder_feed(&d, b.p + off, 2, &used, &ev), WS_MORE);
	assert_true(ws_decoder_busy(&d)); /* a fragment */
	off += used;
	assert_int_equal(ws_decoder_feed(&d, b.p + off, 7, &used, &ev), WS_EVENT);
	assert_int_equal(ev.opcode, WS_OPCODE_PING);
	assert_true(ws_decoder_busy(&d)); /* the message is still open */
	off += used;
	assert_int_equal(ws_decoder_feed(&d, b.p + off, b.len - off, &used, &ev), WS_EVENT);
	assert_int_equal(ev.opcode, WS_OPCODE_TEXT);
	assert_memory_equal(ev.data, "abc", 3);
	assert_false(ws_decoder_busy(&d));
	assert_true(tw_heap_holds(ev.data, ev.len)); /* the part still backs ev.data */
	assert_int_equal(ws_decoder_feed(&d, b.p, 0, &used, &ev), WS_MORE);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	ws_decoder_cleanup(&d);
	tw_buf_free(&b);
}

static void cleanup_frees_a_partial_message_and_control_frame(void **state)
{
	struct tw_buf b = { 0 };
	struct ws_decoder d;
	struct ws_event ev;
	size_t used;

	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .more = true, TW_STR("0123456789"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PING, TW_STR("ping"));
	ws_decoder_init(&d, TW_MAX);
	assert_int_equal(ws_decoder_feed(&d, b.p, b.len - 2, &used, &ev), WS_MORE);
	assert_true(failalloc_heap.live_bytes > 10); /* the message so far and half a ping */
	ws_decoder_cleanup(&d);
	assert_int_equal(failalloc_heap.live_bytes, 0);
	assert_false(ws_decoder_busy(&d));
	ws_decoder_cleanup(&d); /* twice is harmless */
	tw_buf_free(&b);
}

static void message_buffer_grows_with_the_bytes_that_arrived(void **state)
{
	struct tw_buf b = { 0 };
	struct ws_decoder d;
	struct ws_event ev;
	size_t used;

	/* A 1 MB frame announced, 10 bytes sent: the buffer stays small. */
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .announce = true, .announced = 1u << 20,
		 TW_STR("0123456789"));
	ws_decoder_init(&d, 1u << 20);
	assert_int_equal(ws_decoder_feed(&d, b.p, b.len, &used, &ev), WS_MORE);
	assert_true(failalloc_heap.live_bytes < 4096);
	ws_decoder_cleanup(&d);
	tw_buf_free(&b);
}

/* ---- what an idle connection pays ---- */

static void decoder_is_16_bytes_and_whole_frames_allocate_nothing(void **state)
{
	struct tw_buf b = { 0 };
	struct ws_decoder d;
	struct ws_event ev;
	size_t used, off = 0;
	int n_ev = 0;

	assert_true(sizeof(struct ws_decoder) <= 16);
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, TW_STR("42[\"chat\",\"hi\"]"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PING, TW_STR("p"));
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .enc = TW_LEN_64, TW_STR("\x01\x02"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE);
	ws_decoder_init(&d, TW_MAX);
	while (ws_decoder_feed(&d, b.p + off, b.len - off, &used, &ev) == WS_EVENT) {
		off += used;
		n_ev++;
	}
	assert_int_equal(n_ev, 4);
	assert_int_equal(off, b.len);
	assert_int_equal(failalloc_heap.n_allocs, 0);
	ws_decoder_cleanup(&d);
	tw_buf_free(&b);
}

/* One frame of each header length: 7-bit (6-byte header), 16-bit (8) and
 * 64-bit (14), text so that UTF-8 is checked. */
static void tw_frames_of_each_header_length(struct tw_buf *out, const uint8_t *payload,
					   size_t len, size_t hdr_len[3])
{
	static const enum tw_len_enc encs[] = { TW_LEN_MIN, TW_LEN_16, TW_LEN_64 };

	for (size_t i = 0; i < 3; i++) {
		TW_FRAME(&out[i], .opcode = WS_OPCODE_TEXT, .enc = encs[i], .data = payload, .len = len);
		hdr_len[i] = out[i].len - len;
	}
}

static void header_cut_at_every_byte_is_kept_in_the_part_and_freed_on_delivery(void **state)
{
	static const char text[] = "2probe \xe2\x82\xac";
	struct tw_buf b[3] = { { 0 } };
	size_t hdr_len[3];

	tw_frames_of_each_header_length(b, (const uint8_t *)text, sizeof text - 1, hdr_len);
	for (size_t i = 0; i < 3; i++) {
		for (size_t cut = 1; cut < hdr_len[i]; cut++) {
			struct ws_decoder d;
			struct ws_event ev;
			size_t used;
			uint8_t *first = malloc(cut), *rest = malloc(b[i].len - cut);

			assert_non_null(first);
			assert_non_null(rest);
			memcpy(first, b[i].p, cut);
			memcpy(rest, b[i].p + cut, b[i].len - cut);
			failalloc_reset(0);
			ws_decoder_init(&d, TW_MAX);
			assert_int_equal(ws_decoder_feed(&d, first, cut, &used, &ev), WS_MORE);
			assert_int_equal(used, cut);
			assert_true(ws_decoder_busy(&d));
			assert_int_equal(tw_heap_blocks(), 1);
			/* The rest of the header and the whole payload: delivered
			 * from the input, and the part freed at once. */
			assert_int_equal(ws_decoder_feed(&d, rest, b[i].len - cut, &used, &ev), WS_EVENT);
			assert_int_equal(used, b[i].len - cut);
			assert_ptr_equal(ev.data, rest + hdr_len[i] - cut);
			assert_int_equal(ev.len, sizeof text - 1);
			assert_memory_equal(ev.data, text, sizeof text - 1);
			assert_false(ws_decoder_busy(&d));
			assert_int_equal(failalloc_heap.live_bytes, 0);
			assert_int_equal(failalloc_heap.n_allocs, 1);
			ws_decoder_cleanup(&d);
			free(first);
			free(rest);
		}
		tw_buf_free(&b[i]);
	}
}

static void payload_cut_at_every_byte_is_delivered_from_the_part_and_freed_on_the_next_call(void **state)
{
	uint8_t text[300], ping[125];
	struct tw_buf b[4] = { { 0 } };
	size_t hdr_len[4];
	uint8_t spare[1];

	tw_fill_text(text, sizeof text);
	memset(ping, 'p', sizeof ping);
	tw_frames_of_each_header_length(b, text, sizeof text, hdr_len);
	TW_FRAME(&b[3], .opcode = WS_OPCODE_PING, .data = ping, .len = sizeof ping);
	hdr_len[3] = 6;
	for (size_t i = 0; i < 4; i++) {
		const uint8_t *payload = i < 3 ? text : ping;
		size_t payload_len = i < 3 ? sizeof text : sizeof ping;

		for (size_t cut = hdr_len[i]; cut < b[i].len; cut++) {
			struct ws_decoder d;
			struct ws_event ev;
			size_t used;
			uint8_t *first = malloc(cut), *rest = malloc(b[i].len - cut);

			assert_non_null(first);
			assert_non_null(rest);
			memcpy(first, b[i].p, cut);
			memcpy(rest, b[i].p + cut, b[i].len - cut);
			failalloc_reset(0);
			ws_decoder_init(&d, TW_MAX);
			assert_int_equal(ws_decoder_feed(&d, first, cut, &used, &ev), WS_MORE);
			assert_true(ws_decoder_busy(&d));
			assert_true(failalloc_heap.live_bytes > 0);
			assert_int_equal(ws_decoder_feed(&d, rest, b[i].len - cut, &used, &ev), WS_EVENT);
			assert_int_equal(used, b[i].len - cut);
			assert_int_equal(ev.len, payload_len);
			assert_memory_equal(ev.data, payload, payload_len);
			assert_false(ws_decoder_busy(&d));
			if (cut == hdr_len[i]) {
				/* Only the header came first: the payload is whole in
				 * the second feed and delivered from there. */
				assert_ptr_equal(ev.data, rest);
				assert_int_equal(failalloc_heap.live_bytes, 0);
			} else {
				/* The part backs the event until the next call. */
				assert_true(tw_heap_holds(ev.data, ev.len));
				assert_int_equal(ws_decoder_feed(&d, spare, 0, &used, &ev), WS_MORE);
				assert_int_equal(failalloc_heap.live_bytes, 0);
			}
			ws_decoder_cleanup(&d);
			free(first);
			free(rest);
		}
		tw_buf_free(&b[i]);
	}
}

static void control_frame_inside_a_fragmented_message_cut_anywhere_keeps_the_message(void **state)
{
	uint8_t close_body[16];
	size_t close_len = tw_close_body(close_body, 1001, "bye");
	static const struct tw_event want[] = {
		TW_EV(WS_OPCODE_PING, "ping"),
		TW_EV(WS_OPCODE_TEXT, "Hel\xe2\x82\xaclo"),
		TW_CLOSE_EV(1001, "bye"),
	};
	struct tw_buf b = { 0 };

	/* Every header length, a UTF-8 sequence cut by the ping, and a close
	 * after the message.  tw_check() cuts it at every point and every pair
	 * of points, and checks after each call that the part is held exactly
	 * while the message is open or an event points into it. */
	TW_FRAME(&b, .opcode = WS_OPCODE_TEXT, .more = true, .enc = TW_LEN_16, TW_STR("Hel\xe2"));
	TW_FRAME(&b, .opcode = WS_OPCODE_PING, TW_STR("ping"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .enc = TW_LEN_64, TW_STR("\x82\xaclo"));
	TW_FRAME(&b, .opcode = WS_OPCODE_CLOSE, .data = close_body, .len = close_len);
	assert_true(b.len <= TW_SPLIT3_MAX);
	tw_expect(&b, TW_MAX, want, TW_N(want), WS_MORE);
	tw_buf_free(&b);
}

static void each_failed_allocation_is_out_of_memory_and_frees_the_part(void **state)
{
	struct tw_buf b = { 0 };
	uint8_t payload[600];
	size_t first_len;
	/* Which allocation fails, after how many input bytes: the part of a
	 * cut header; the part of a fragment; msg[] for its bytes; msg[]
	 * growing for the next fragment. */
	const struct {
		unsigned long fail_at;
		size_t feed;
	} cases[] = { { 1, 3 }, { 1, 0 }, { 2, 0 }, { 3, SIZE_MAX } };

	memset(payload, 'x', sizeof payload);
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .more = true, .data = payload, .len = 100);
	first_len = b.len;
	TW_FRAME(&b, .opcode = WS_OPCODE_CONT, .data = payload, .len = sizeof payload);
	for (size_t i = 0; i < TW_N(cases); i++) {
		size_t len = cases[i].feed == 0 ? first_len : cases[i].feed == SIZE_MAX ? b.len : cases[i].feed;
		struct ws_decoder d;
		struct ws_event ev;
		size_t used, off = 0;
		enum ws_result r;

		failalloc_reset(cases[i].fail_at);
		ws_decoder_init(&d, TW_MAX);
		/* The first fragment alone gives WS_MORE; go on to the error. */
		while ((r = ws_decoder_feed(&d, b.p + off, len - off, &used, &ev)) == WS_MORE &&
		       off + used < len)
			off += used;
		assert_int_equal(r, WS_ERR_NOMEM);
		assert_int_equal(failalloc_heap.n_failed, 1);
		assert_int_equal(failalloc_heap.n_allocs, cases[i].fail_at);
		assert_int_equal(failalloc_heap.live_bytes, 0);
		assert_false(ws_decoder_busy(&d));
		assert_int_equal(ws_decoder_feed(&d, b.p, b.len, &used, &ev), WS_ERR_NOMEM);
		assert_int_equal(used, 0);
		assert_int_equal(ws_result_close_code(r), WS_CLOSE_INTERNAL);
		ws_decoder_cleanup(&d);
	}
	tw_buf_free(&b);
}

static void max_message_is_kept_in_32_bits(void **state)
{
	struct tw_buf b = { 0 };
	struct ws_decoder d;
	struct ws_event ev;
	size_t used;

	/* A larger limit counts as UINT32_MAX (max_payload is at most 1 GiB). */
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .announce = true, .announced = UINT32_MAX);
	ws_decoder_init(&d, SIZE_MAX);
	assert_int_equal(ws_decoder_feed(&d, b.p, b.len, &used, &ev), WS_MORE);
	assert_true(ws_decoder_busy(&d));
	ws_decoder_cleanup(&d);
	tw_buf_free(&b);
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .announce = true, .announced = UINT64_C(1) << 32);
	ws_decoder_init(&d, SIZE_MAX);
	assert_int_equal(ws_decoder_feed(&d, b.p, b.len, &used, &ev), WS_ERR_TOO_BIG);
	ws_decoder_cleanup(&d);
	tw_buf_free(&b);
	/* 1 GiB, the config's cap, is kept exactly. */
	TW_FRAME(&b, .opcode = WS_OPCODE_BINARY, .announce = true, .announced = (1u << 30) + 1);
	ws_decoder_init(&d, 1u << 30);
	assert_int_equal(ws_decoder_feed(&d, b.p, b.len, &used, &ev), WS_ERR_TOO_BIG);
	ws_decoder_cleanup(&d);
	tw_buf_free(&b);
}

/* ---- encoder ---- */

static void frame_header_uses_the_shortest_length_encoding(void **state)
{
	static const struct {
		uint8_t opcode;
		uint64_t len;
		const char *hex;
	} cases[] = {
		{ WS_OPCODE_TEXT, 0, "8100" },
		{ WS_OPCODE_TEXT, 1, "8101" },
		{ WS_OPCODE_BINARY, 125, "827d" },
		{ WS_OPCODE_TEXT, 126, "817e007e" },
		{ WS_OPCODE_TEXT, 65535, "817effff" },
		{ WS_OPCODE_BINARY, 65536, "827f0000000000010000" },
		{ WS_OPCODE_TEXT, UINT64_C(1) << 32, "817f0000000100000000" },
		{ WS_OPCODE_BINARY, (UINT64_C(1) << 63) - 1, "827f7fffffffffffffff" },
		{ WS_OPCODE_CLOSE, 0, "8800" }, /* the server's close, doc/protocol.md, "WebSocket transport" */
		{ WS_OPCODE_CLOSE, 2, "8802" },
		{ WS_OPCODE_PING, 0, "8900" },
		{ WS_OPCODE_PONG, 125, "8a7d" },
	};

	for (size_t i = 0; i < TW_N(cases); i++) {
		uint8_t out[WS_FRAME_HEADER_MAX], want[WS_FRAME_HEADER_MAX];
		size_t want_len = tw_hex(want, cases[i].hex);

		memset(out, 0xee, sizeof out);
		assert_int_equal(ws_frame_header(out, cases[i].opcode, cases[i].len), want_len);
		assert_memory_equal(out, want, want_len);
	}
}

static void frame_header_round_trips_through_the_decoder_once_masked(void **state)
{
	static const size_t lens[] = { 0, 125, 126, 65535, 65536 };
	static const uint8_t ops[] = { WS_OPCODE_TEXT, WS_OPCODE_BINARY };

	for (size_t i = 0; i < TW_N(lens); i++) {
		for (size_t o = 0; o < TW_N(ops); o++) {
			uint8_t hdr[WS_FRAME_HEADER_MAX];
			size_t hdr_len = ws_frame_header(hdr, ops[o], lens[i]);
			uint8_t *payload = test_malloc(lens[i] + 1);
			struct tw_buf b = { 0 };
			struct tw_event want = { .opcode = ops[o], .data = payload, .len = lens[i] };

			memset(payload, 'r', lens[i]);
			/* What a client would send: the same header with the mask
			 * bit and a key, then the masked payload. */
			hdr[1] |= 0x80;
			tw_buf_put(&b, hdr, hdr_len);
			tw_buf_put(&b, tw_default_mask, 4);
			for (size_t k = 0; k < lens[i]; k++)
				tw_buf_byte(&b, payload[k] ^ tw_default_mask[k & 3]);
			tw_expect(&b, TW_MAX, &want, 1, WS_MORE);
			tw_buf_free(&b);
			test_free(payload);
		}
	}
}

/* ---- result table ---- */

static void result_table_gives_each_error_its_close_code_and_text(void **state)
{
	assert_int_equal(ws_result_close_code(WS_MORE), 0);
	assert_int_equal(ws_result_close_code(WS_EVENT), 0);
	assert_int_equal(ws_result_close_code(WS_ERR_PROTOCOL), WS_CLOSE_PROTOCOL);
	assert_int_equal(ws_result_close_code(WS_ERR_TOO_BIG), WS_CLOSE_TOO_BIG);
	assert_int_equal(ws_result_close_code(WS_ERR_UTF8), WS_CLOSE_BAD_DATA);
	assert_int_equal(ws_result_close_code(WS_ERR_NOMEM), WS_CLOSE_INTERNAL);
	assert_string_equal(ws_result_text(WS_ERR_PROTOCOL), "websocket protocol error");
	assert_string_equal(ws_result_text(WS_ERR_TOO_BIG), "websocket message too big");
	assert_string_equal(ws_result_text(WS_ERR_UTF8), "invalid utf-8 in text frame");
	assert_string_equal(ws_result_text(WS_ERR_NOMEM), "out of memory");
	assert_non_null(ws_result_text((enum ws_result)42));
}

/* ---- UTF-8 checker ---- */

/* A reference written differently from ws.c: decode the code point, then
 * judge it (RFC 3629 section 3).  True if <p> is complete, valid UTF-8. */
static bool tw_utf8_reference(const uint8_t *p, size_t len)
{
	static const uint32_t min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t i = 0;

	while (i < len) {
		uint8_t c = p[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4, cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

static void tw_utf8_compare(const uint8_t *p, size_t len)
{
	uint32_t whole = 0, bytes = 0;
	bool ok_whole = ws_utf8_feed(&whole, p, len) && whole == 0;
	bool ok_bytes = true;

	for (size_t i = 0; i < len && ok_bytes; i++)
		ok_bytes = ws_utf8_feed(&bytes, p + i, 1);
	ok_bytes = ok_bytes && bytes == 0;
	if (ok_whole != tw_utf8_reference(p, len) || ok_bytes != ok_whole)
		fail_msg("utf-8 %zu bytes %02x %02x %02x %02x: whole %d, bytes %d", len, p[0],
			 len > 1 ? p[1] : 0, len > 2 ? p[2] : 0, len > 3 ? p[3] : 0, ok_whole, ok_bytes);
}

static void utf8_checker_agrees_with_a_reference_decoder(void **state)
{
	/* Every string of one or two bytes, every three-byte string that does
	 * not start with ASCII, and four-byte strings over the bytes where the
	 * ranges change. */
	static const uint8_t edges[] = { 0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff };
	uint8_t s[4];

	for (unsigned a = 0; a < 256; a++) {
		s[0] = (uint8_t)a;
		tw_utf8_compare(s, 1);
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (uint8_t)b;
			tw_utf8_compare(s, 2);
			if (a < 0x80)
				continue;
			for (unsigned c = 0; c < 256; c++) {
				s[2] = (uint8_t)c;
				tw_utf8_compare(s, 3);
			}
		}
	}
	for (unsigned a = 0xf0; a < 0x100; a++) {
		s[0] = (uint8_t)a;
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (uint8_t)b;
			for (size_t c = 0; c < TW_N(edges); c++) {
				s[2] = edges[c];
				for (size_t d = 0; d < TW_N(edges); d++) {
					s[3] = edges[d];
					tw_utf8_compare(s, 4);
				}
			}
		}
	}
}

static void utf8_checker_fails_at_the_first_impossible_byte(void **state)
{
	/* Each prefix below can't begin any valid string, so the checker must
	 * say so without waiting for the rest of the sequence. */
	static const char *const prefixes[] = {
		"\x80", "\xc0", "\xc1", "\xe0\x80", "\xe0\x9f", "\xed\xa0", "\xed\xbf", "\xf0\x80",
		"\xf0\x8f", "\xf4\x90", "\xf4\xbf", "\xf5", "\xff", "abc\xc3\xa9\xe2",
	};
	static const size_t ok_prefix_len[] = { 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 5 };

	for (size_t i = 0; i < TW_N(prefixes); i++) {
		uint32_t st = 0;
		const uint8_t *p = (const uint8_t *)prefixes[i];
		size_t len = strlen(prefixes[i]);

		if (i == TW_N(prefixes) - 1) {
			/* "abc é" then a lead byte: fine so far, just unfinished. */
			assert_true(ws_utf8_feed(&st, p, len));
			assert_int_not_equal(st, 0);
			continue;
		}
		assert_true(ws_utf8_feed(&st, p, ok_prefix_len[i]));
		assert_false(ws_utf8_feed(&st, p + ok_prefix_len[i], len - ok_prefix_len[i]));
		/* Once rejected, always rejected. */
		assert_false(ws_utf8_feed(&st, (const uint8_t *)"a", 1));
		assert_false(ws_utf8_feed(&st, NULL, 0));
	}
}

static void utf8_checker_handles_long_ascii_runs_around_multibyte_text(void **state)
{
	/* The checker skips ASCII eight bytes at a time: put the bad and good
	 * bytes at every offset of a long run. */
	uint8_t s[64];

	for (size_t at = 0; at + 4 <= sizeof s; at++) {
		uint32_t st = 0;

		memset(s, 'a', sizeof s);
		memcpy(s + at, "\xf0\x9f\x98\x80", 4);
		assert_true(ws_utf8_feed(&st, s, sizeof s));
		assert_int_equal(st, 0);
		s[at + 3] = 'a';
		st = 0;
		assert_false(ws_utf8_feed(&st, s, sizeof s));
		memset(s, 'a', sizeof s);
		s[at] = 0x80;
		st = 0;
		assert_false(ws_utf8_feed(&st, s, sizeof s));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TW_TEST(accept_key_of_rfc6455_sample_matches),
		TW_TEST(accept_key_uses_only_key_len_bytes),
		TW_TEST(accept_key_refuses_keys_that_are_not_base64_of_16_bytes),
		TW_TEST(masked_text_frames_from_the_captures_are_decoded),
		TW_TEST(any_mask_key_is_undone),
		TW_TEST(unmasked_client_frame_is_a_protocol_error),
		TW_TEST(frame_whole_in_one_feed_is_unmasked_in_place),
		TW_TEST(frame_whose_payload_follows_a_split_header_is_unmasked_in_place),
		TW_TEST(frame_split_inside_its_payload_is_delivered_from_the_decoder_and_freed),
		TW_TEST(feed_stops_at_each_event_and_says_how_much_it_used),
		TW_TEST(several_messages_in_one_input_come_out_in_order),
		TW_TEST(frames_of_every_length_encoding_boundary_are_decoded),
		TW_TEST(length_written_longer_than_needed_is_accepted),
		TW_TEST(length_with_top_bit_set_is_a_protocol_error),
		TW_TEST(single_frame_of_exactly_max_message_is_accepted),
		TW_TEST(single_frame_one_past_max_message_is_too_big),
		TW_TEST(too_big_frame_is_refused_at_its_header),
		TW_TEST(capture_of_134_byte_message_with_max_payload_100_is_closed_with_1009),
		TW_TEST(fragmented_message_of_exactly_max_message_is_accepted),
		TW_TEST(fragmented_message_one_past_max_message_is_too_big),
		TW_TEST(text_message_in_two_fragments_is_reassembled),
		TW_TEST(text_message_in_three_fragments_is_reassembled),
		TW_TEST(binary_message_in_two_and_three_fragments_is_reassembled),
		TW_TEST(empty_fragments_make_an_empty_or_whole_message),
		TW_TEST(ping_pong_and_close_between_fragments_are_delivered_at_once),
		TW_TEST(control_frame_between_fragments_keeps_utf8_state),
		TW_TEST(rsv_bits_are_protocol_errors),
		TW_TEST(reserved_opcodes_are_protocol_errors),
		TW_TEST(fragmented_control_frame_is_a_protocol_error),
		TW_TEST(control_frame_of_125_bytes_is_accepted_and_126_is_a_protocol_error),
		TW_TEST(continuation_without_a_message_is_a_protocol_error),
		TW_TEST(new_message_inside_a_fragmented_one_is_a_protocol_error),
		TW_TEST(invalid_utf8_in_one_text_frame_is_bad_data),
		TW_TEST(valid_utf8_boundaries_in_text_frames_are_accepted),
		TW_TEST(binary_message_is_not_checked_as_utf8),
		TW_TEST(text_frame_split_inside_utf8_sequence_is_accepted),
		TW_TEST(text_frame_split_inside_invalid_utf8_sequence_is_bad_data),
		TW_TEST(invalid_utf8_fails_before_the_message_ends),
		TW_TEST(truncated_utf8_sequence_at_fin_is_bad_data),
		TW_TEST(empty_close_has_code_zero),
		TW_TEST(close_with_valid_code_is_delivered),
		TW_TEST(close_with_invalid_code_is_a_protocol_error),
		TW_TEST(close_with_one_byte_body_is_a_protocol_error),
		TW_TEST(close_with_reason_gives_code_and_reason),
		TW_TEST(close_reason_with_invalid_or_truncated_utf8_is_bad_data),
		TW_TEST(errors_are_sticky),
		TW_TEST(decoder_is_busy_only_while_it_holds_part_of_a_frame_or_message),
		TW_TEST(cleanup_frees_a_partial_message_and_control_frame),
		TW_TEST(message_buffer_grows_with_the_bytes_that_arrived),
		TW_TEST(decoder_is_16_bytes_and_whole_frames_allocate_nothing),
		TW_TEST(header_cut_at_every_byte_is_kept_in_the_part_and_freed_on_delivery),
		TW_TEST(payload_cut_at_every_byte_is_delivered_from_the_part_and_freed_on_the_next_call),
		TW_TEST(control_frame_inside_a_fragmented_message_cut_anywhere_keeps_the_message),
		TW_TEST(each_failed_allocation_is_out_of_memory_and_frees_the_part),
		TW_TEST(max_message_is_kept_in_32_bits),
		TW_TEST(frame_header_uses_the_shortest_length_encoding),
		TW_TEST(frame_header_round_trips_through_the_decoder_once_masked),
		TW_TEST(result_table_gives_each_error_its_close_code_and_text),
		TW_TEST(utf8_checker_agrees_with_a_reference_decoder),
		TW_TEST(utf8_checker_fails_at_the_first_impossible_byte),
		TW_TEST(utf8_checker_handles_long_ascii_runs_around_multibyte_text),
	};

	/* ws.c allocates through jansson's allocator (jsonmem.h). */
	json_set_alloc_funcs(tw_heap_malloc, tw_heap_free);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
