/* fuzz_ws.c - libFuzzer target for the RFC 6455 frame decoder (src/codec/ws.c).
 *
 * The first input byte picks how the rest is cut into feeds: whole, one
 * byte at a time, fixed-size pieces, or pieces of pseudo-random sizes.
 * Each piece is copied into its own exact-size heap block (the decoder
 * unmasks in place, and ASan then sees any access past the piece), and fed
 * to a decoder with max_message 4096 until it is used up.
 *
 * Beyond "no crash", it checks what ws.h promises: *used never exceeds the
 * input, WS_MORE means all of it was used, event data lies in the piece or
 * in the decoder's own heap, data messages are at most max_message,
 * control payloads at most 125 bytes, text and close reasons are valid
 * UTF-8 (ws_utf8_feed), close codes are receivable ones, an error answers
 * every later call the same way and frees everything, and after every call
 * the decoder holds heap exactly while it is busy or its event points
 * into that heap (ws.c allocates through jansson's allocator, which this
 * target hooks to track the blocks), never more than max_message plus its
 * fixed part.  Each message and ping/pong is also encoded again with
 * ws_frame_header(), masked as a client would, and must decode to the same
 * bytes.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc/codec tests/fuzz/fuzz_ws.c
 *        src/codec/ws.c -lcrypto -ljansson -o fuzz_ws
 * Seeds: tests/fuzz/corpus/ws/ (first byte 0 = whole input).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ws.h"

#define FUZZ_MAX_MESSAGE 4096
/* Bound on the decoder's heap beyond the message bytes (ws.c's part: the
 * frame, a cut header and a control payload, about 180 bytes). */
#define FUZZ_PART_MAX 512

#define FUZZ_CHECK(cond)                 \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The decoder's blocks, through jansson's allocator: its part, and the
 * bigger one it moves to while msg[] grows. */
#define FUZZ_HEAP_BLOCKS 4

static struct {
	size_t live_bytes;
	struct {
		const uint8_t *p;
		size_t len;
	} blocks[FUZZ_HEAP_BLOCKS];
} fuzz_heap;

static void *fuzz_heap_malloc(size_t size)
{
	uint8_t *p = malloc(size);

	FUZZ_CHECK(p);
	for (size_t i = 0; i < FUZZ_HEAP_BLOCKS; i++) {
		if (fuzz_heap.blocks[i].p == NULL) {
			fuzz_heap.blocks[i].p = p;
			fuzz_heap.blocks[i].len = size;
			fuzz_heap.live_bytes += size;
			return p;
		}
	}
	FUZZ_CHECK(false); /* more blocks at once than the decoder ever needs */
	return NULL;
}

static void fuzz_heap_free(void *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < FUZZ_HEAP_BLOCKS; i++) {
		if (fuzz_heap.blocks[i].p == p) {
			fuzz_heap.live_bytes -= fuzz_heap.blocks[i].len;
			fuzz_heap.blocks[i].p = NULL;
			free(p);
			return;
		}
	}
	FUZZ_CHECK(false); /* not a block of ours */
}

/* The piece sizes a run uses, from the first input byte. */
struct fuzz_cut {
	uint8_t mode;  /* 0 whole, 1 bytes, 2 fixed, 3 random */
	size_t fixed;  /* piece size for mode 2 */
	uint32_t rng;  /* xorshift state for mode 3 */
};

static size_t fuzz_piece_len(struct fuzz_cut *c, size_t left)
{
	size_t n;

	switch (c->mode) {
	case 0:
		n = left;
		break;
	case 1:
		n = 1;
		break;
	case 2:
		n = c->fixed;
		break;
	default:
		c->rng ^= c->rng << 13;
		c->rng ^= c->rng >> 17;
		c->rng ^= c->rng << 5;
		/* Mostly short pieces, so that headers and UTF-8 sequences get
		 * cut, now and then a long one. */
		n = c->rng & 0x100 ? (c->rng >> 9) % 512 + 1 : (c->rng >> 9) % 8 + 1;
		break;
	}
	return n < left ? n : left;
}

static bool fuzz_within(const uint8_t *p, size_t len, const uint8_t *base, size_t base_len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;

	return base && a >= b && a - b <= base_len && len <= base_len - (a - b);
}

static bool fuzz_heap_holds(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < FUZZ_HEAP_BLOCKS; i++)
		if (fuzz_within(p, len, fuzz_heap.blocks[i].p, fuzz_heap.blocks[i].len))
			return true;
	return false;
}

/* After a call that returned <r>: heap exactly while the decoder is busy or
 * its event points into that heap, none once it failed, and at most the
 * message plus the fixed part. */
static void fuzz_check_held(const struct ws_decoder *d, enum ws_result r, const struct ws_event *ev)
{
	bool event_in_heap = r == WS_EVENT && fuzz_heap_holds(ev->data, ev->len);

	if (r < 0)
		FUZZ_CHECK(fuzz_heap.live_bytes == 0);
	else
		FUZZ_CHECK((fuzz_heap.live_bytes > 0) == (ws_decoder_busy(d) || event_in_heap));
	FUZZ_CHECK(fuzz_heap.live_bytes <= FUZZ_MAX_MESSAGE + FUZZ_PART_MAX);
}

static bool fuzz_utf8_ok(const uint8_t *p, size_t len)
{
	uint32_t state = 0;

	return ws_utf8_feed(&state, p, len) && state == 0;
}

static bool fuzz_close_code_ok(uint16_t code)
{
	return code == 0 || (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
	       (code >= 3000 && code <= 4999);
}

/* Encodes <ev> again as a masked client frame and checks that a fresh
 * decoder gives it back whole. */
static void fuzz_round_trip(const struct ws_event *ev)
{
	static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t hdr_len = ws_frame_header(hdr, ev->opcode, ev->len);
	size_t len = hdr_len + 4 + ev->len, used;
	uint8_t *frame = malloc(len);
	struct ws_decoder d;
	struct ws_event back;

	FUZZ_CHECK(frame);
	hdr[1] |= 0x80;
	memcpy(frame, hdr, hdr_len);
	memcpy(frame + hdr_len, key, 4);
	for (size_t i = 0; i < ev->len; i++)
		frame[hdr_len + 4 + i] = ev->data[i] ^ key[i & 3];
	ws_decoder_init(&d, FUZZ_MAX_MESSAGE);
	FUZZ_CHECK(ws_decoder_feed(&d, frame, len, &used, &back) == WS_EVENT);
	FUZZ_CHECK(used == len);
	FUZZ_CHECK(back.opcode == ev->opcode && back.len == ev->len);
	FUZZ_CHECK(back.data == frame + hdr_len + 4); /* whole frame: in place */
	FUZZ_CHECK(memcmp(back.data, ev->data, ev->len) == 0);
	ws_decoder_cleanup(&d);
	free(frame);
}

static void fuzz_check_event(const struct ws_event *ev, const uint8_t *piece, size_t piece_len)
{
	FUZZ_CHECK(ev->data != NULL);
	FUZZ_CHECK(fuzz_within(ev->data, ev->len, piece, piece_len) ||
		   fuzz_heap_holds(ev->data, ev->len));
	switch (ev->opcode) {
	case WS_OPCODE_TEXT:
	case WS_OPCODE_BINARY:
		FUZZ_CHECK(ev->opcode != WS_OPCODE_TEXT || fuzz_utf8_ok(ev->data, ev->len));
		FUZZ_CHECK(ev->len <= FUZZ_MAX_MESSAGE);
		FUZZ_CHECK(ev->close_code == 0);
		break;
	case WS_OPCODE_PING:
	case WS_OPCODE_PONG:
		FUZZ_CHECK(ev->len <= 125);
		FUZZ_CHECK(ev->close_code == 0);
		break;
	case WS_OPCODE_CLOSE:
		/* <data> is the reason, after the 2-byte code. */
		FUZZ_CHECK(ev->len <= 123);
		FUZZ_CHECK(fuzz_close_code_ok(ev->close_code));
		FUZZ_CHECK(ev->close_code != 0 || ev->len == 0);
		FUZZ_CHECK(fuzz_utf8_ok(ev->data, ev->len));
		return; /* a close body is not re-encoded from the event alone */
	default:
		FUZZ_CHECK(false);
	}
	fuzz_round_trip(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_cut cut;
	struct ws_decoder d;
	struct ws_event ev;
	enum ws_result failed = WS_MORE;
	size_t pos = 1, used;
	uint8_t spare[1] = { 0x81 };

	if (size < 1)
		return 0;
	json_set_alloc_funcs(fuzz_heap_malloc, fuzz_heap_free);
	FUZZ_CHECK(fuzz_heap.live_bytes == 0);
	cut.mode = data[0] & 3;
	cut.fixed = (size_t)(data[0] >> 2) + 2;
	cut.rng = 0x9e3779b9u ^ data[0];
	ws_decoder_init(&d, FUZZ_MAX_MESSAGE);
	while (pos < size && failed == WS_MORE) {
		size_t n = fuzz_piece_len(&cut, size - pos), off = 0;
		uint8_t *piece = malloc(n);

		FUZZ_CHECK(piece);
		memcpy(piece, data + pos, n);
		for (;;) {
			enum ws_result r = ws_decoder_feed(&d, piece + off, n - off, &used, &ev);

			FUZZ_CHECK(used <= n - off);
			fuzz_check_held(&d, r, &ev);
			if (r == WS_EVENT)
				fuzz_check_event(&ev, piece + off, n - off);
			off += used;
			if (r == WS_EVENT)
				continue;
			if (r == WS_MORE) {
				FUZZ_CHECK(off == n);
				break;
			}
			FUZZ_CHECK(r == WS_ERR_PROTOCOL || r == WS_ERR_TOO_BIG || r == WS_ERR_UTF8 ||
				   r == WS_ERR_NOMEM);
			FUZZ_CHECK(ws_result_close_code(r) != 0);
			failed = r;
			/* Sticky: the rest of the piece, and more, get the same answer. */
			FUZZ_CHECK(ws_decoder_feed(&d, piece + off, n - off, &used, &ev) == r);
			FUZZ_CHECK(used == 0);
			break;
		}
		free(piece);
		pos += n;
	}
	if (failed != WS_MORE) {
		FUZZ_CHECK(ws_decoder_feed(&d, spare, 1, &used, &ev) == failed && used == 0);
		FUZZ_CHECK(!ws_decoder_busy(&d));
		FUZZ_CHECK(fuzz_heap.live_bytes == 0);
	} else {
		FUZZ_CHECK(ws_decoder_feed(&d, spare, 0, &used, &ev) == WS_MORE && used == 0);
		fuzz_check_held(&d, WS_MORE, &ev);
	}
	ws_decoder_cleanup(&d);
	FUZZ_CHECK(fuzz_heap.live_bytes == 0);
	return 0;
}
