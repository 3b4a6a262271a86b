/* ws.h - RFC 6455 codec: handshake key, frame decoder and encoder, UTF-8.
 *
 * Pure: bytes in, events out; no sockets, no libevent, no logging, no
 * globals.  The decoder takes client frames (masking required), reassembles
 * fragmented messages, validates UTF-8 of text messages across fragments
 * (and of close reasons), delivers control frames that arrive between
 * fragments, and enforces a maximum message size.  A decoder that failed
 * stays failed: the connection must be closed with ws_result_close_code().
 * The encoder writes unmasked server frames (FIN set, no extensions).
 */
#ifndef ROOMCAST_WS_H
#define ROOMCAST_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OPCODE_CONT = 0x0,
	WS_OPCODE_TEXT = 0x1,
	WS_OPCODE_BINARY = 0x2,
	WS_OPCODE_CLOSE = 0x8,
	WS_OPCODE_PING = 0x9,
	WS_OPCODE_PONG = 0xA,
};

/* Close status codes we send (RFC 6455 section 7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL 1002
#define WS_CLOSE_BAD_DATA 1007
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL 1011

/* Decoder results: X(name, value, close code, description).  The table is
 * the one place that ties an error to its wire answer and its log text. */
#define WS_RESULT_MAP(X)                                                          \
	X(WS_MORE, 0, 0, "need more input")                                       \
	X(WS_EVENT, 1, 0, "event ready")                                          \
	X(WS_ERR_PROTOCOL, -1, WS_CLOSE_PROTOCOL, "websocket protocol error")     \
	X(WS_ERR_TOO_BIG, -2, WS_CLOSE_TOO_BIG, "websocket message too big")      \
	X(WS_ERR_UTF8, -3, WS_CLOSE_BAD_DATA, "invalid utf-8 in text frame")      \
	X(WS_ERR_NOMEM, -4, WS_CLOSE_INTERNAL, "out of memory")

enum ws_result {
#define WS_RESULT_ENUM(name, value, code, text) name = value,
	WS_RESULT_MAP(WS_RESULT_ENUM)
#undef WS_RESULT_ENUM
};

/* The close code to send for an error result (0 for WS_MORE/WS_EVENT). */
uint16_t ws_result_close_code(enum ws_result r);
/* A short description of a result, for log lines. */
const char *ws_result_text(enum ws_result r);

/* One complete data message or one control frame.  <data> points either
 * into the input given to ws_decoder_feed() (unmasked in place) or into the
 * decoder's own buffer; it is valid until the next call on the decoder.
 * For WS_OPCODE_CLOSE, <close_code> is the status (0 if the frame had no
 * body) and <data>/<len> the reason, already checked as UTF-8. */
struct ws_event {
	enum ws_opcode opcode; /* TEXT, BINARY, CLOSE, PING or PONG */
	const uint8_t *data;
	size_t len;
	uint16_t close_code;
};

/* Decoder state.  The fields are private; the struct is public only so that
 * a connection can embed it.  It is 16 bytes, because every connection
 * embeds one and nearly all of them sit between whole frames: what matters
 * only while a frame or message is incomplete (header bytes so far, the
 * frame's length, mask and progress, the reassembly buffer, a control
 * payload, the UTF-8 state across fragments) lives in one heap block,
 * <part>, allocated when such state first appears and freed once the
 * decoder is idle and no event points into it.  An idle decoder holds no
 * heap memory. */
struct ws_decoder_part;

struct ws_decoder {
	struct ws_decoder_part *part; /* heap, see ws.c; NULL when idle */
	uint32_t max_message;  /* bytes of one data message after reassembly */
	enum ws_result failed; /* sticky error, WS_MORE while healthy */
};

/* Sets up <d> for messages of at most <max_message> bytes.  The limit is
 * kept in 32 bits: a larger value counts as UINT32_MAX (max_payload, its
 * only source, is at most 1 GiB). */
void ws_decoder_init(struct ws_decoder *d, size_t max_message);
/* Frees what <d> holds and sets it up again with the same limit; calling it
 * twice is harmless. */
void ws_decoder_cleanup(struct ws_decoder *d);

/* Consumes bytes from <in> (<len> bytes; the decoder may unmask them in
 * place) and stores in *<used> how many it consumed.  Returns WS_EVENT with
 * *<ev> filled as soon as one message or control frame is complete (call
 * again with the rest of the input), WS_MORE once all input is consumed
 * without completing one, or an error (sticky).  Data messages larger than
 * max_message give WS_ERR_TOO_BIG as soon as the header announces it. */
enum ws_result ws_decoder_feed(struct ws_decoder *d, uint8_t *in, size_t len,
			       size_t *used, struct ws_event *ev)
	__attribute__((warn_unused_result));

/* True while the decoder holds part of a frame or message. */
bool ws_decoder_busy(const struct ws_decoder *d);

/* Largest header ws_frame_header() writes. */
#define WS_FRAME_HEADER_MAX 10

/* Writes the header of one unmasked, final server frame with <opcode> and a
 * payload of <payload_len> bytes into <out>; returns its length (2, 4 or 10). */
size_t ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], enum ws_opcode opcode,
		       uint64_t payload_len);

/* Computes Sec-WebSocket-Accept for the client's Sec-WebSocket-Key: base64
 * of SHA-1(key + GUID), 28 characters plus NUL.  Returns 0, or -1 if <key>
 * is not the base64 of 16 bytes (RFC 6455 section 4.2.1). */
int ws_accept_key(const char *key, size_t key_len, char out[29])
	__attribute__((warn_unused_result));

/* Incremental UTF-8 check (RFC 3629: no overlongs, no surrogates, at most
 * U+10FFFF).  Start with *state = 0.  Returns false at the first invalid
 * byte; *state != 0 after a true result means a sequence is unfinished. */
bool ws_utf8_feed(uint32_t *state, const uint8_t *p, size_t len);

#endif
