/* eio.h - Engine.IO protocol 4 packet and payload codec.
 *
 * Pure: bytes in, values out; no sockets, no libevent, no logging.  A text
 * packet is one type digit and its data; a binary packet is always a
 * message and carries no type byte (a WebSocket binary frame, or `b` plus
 * standard base64 in a polling payload).  A polling payload joins packets
 * with the byte 0x1e.  doc/protocol.md, "Engine packets" and "Polling".
 */
#ifndef ROOMCAST_EIO_H
#define ROOMCAST_EIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum eio_packet_type {
	EIO_OPEN = 0,
	EIO_CLOSE = 1,
	EIO_PING = 2,
	EIO_PONG = 3,
	EIO_MESSAGE = 4,
	EIO_UPGRADE = 5,
	EIO_NOOP = 6,
};

#define EIO_RECORD_SEPARATOR 0x1e

/* One decoded packet.  <data> borrows from the decoder's input. */
struct eio_packet {
	enum eio_packet_type type;
	bool binary;          /* a binary message: data is raw bytes */
	const uint8_t *data;  /* what follows the type digit (or the decoded bytes) */
	size_t len;
};

/* Decodes one packet from a WebSocket text message.  Returns 0, or -1 if the
 * message is empty or its type is unknown (the reference server's "parse
 * error").  A text message starting with `b` is decoded as base64 binary in
 * place, as the reference parser does, so <msg> may be modified. */
int eio_decode_text(uint8_t *msg, size_t len, struct eio_packet *out)
	__attribute__((warn_unused_result));

/* Iterates the packets of a polling payload: call with *<pos> = 0, then
 * again while it returns 1.  Returns 1 with *<out> filled, 0 at the end of
 * the body, or -1 at the first packet that does not parse (an empty body,
 * an empty record such as after a trailing separator, an unknown type, bad
 * base64); packets before it stay valid.  `b` records are base64-decoded in
 * place, so <body> is modified. */
int eio_payload_next(uint8_t *body, size_t len, size_t *pos, struct eio_packet *out)
	__attribute__((warn_unused_result));

/* Bytes eio_polling_encode() writes for one packet (without separator). */
size_t eio_polling_encoded_len(bool binary, size_t data_len);

/* Writes one packet in polling form into <out> (eio_polling_encoded_len()
 * bytes): the type digit and <data>, or `b` and the base64 of <data> when
 * <binary>.  Returns the bytes written. */
size_t eio_polling_encode(uint8_t *out, enum eio_packet_type type, bool binary,
			  const uint8_t *data, size_t data_len);

/* Writes the open packet `0{"sid":...,"upgrades":[...],"pingInterval":N,
 * "pingTimeout":N,"maxPayload":N}` (keys in the reference server's order)
 * into <out>.  Returns its length, or 0 if <out_len> is too small. */
size_t eio_open_packet(char *out, size_t out_len, const char *sid, bool can_upgrade,
		       uint32_t ping_interval_ms, uint32_t ping_timeout_ms,
		       size_t max_payload);

/* A polling body is text: the reference server decodes it as UTF-8 with
 * each maximal invalid subsequence replaced by U+FFFD (EF BF BD), as Node's
 * Buffer.toString() does (Unicode 3.9, "maximal subpart").
 * eio_utf8_repaired_len() returns 0 when <in> is valid UTF-8 (the common
 * case: nothing to do), else the length of the repaired text, which
 * eio_utf8_repair() then writes into <out>. */
size_t eio_utf8_repaired_len(const uint8_t *in, size_t len);
size_t eio_utf8_repair(uint8_t *out, const uint8_t *in, size_t len);

/* Standard base64 (`+/`, padded).  Decoding rejects bad characters and bad
 * padding and may run in place (out == in).  Returns the decoded length, or
 * -1. */
size_t eio_base64_encoded_len(size_t len);
size_t eio_base64_encode(uint8_t *out, const uint8_t *in, size_t len);
long eio_base64_decode(uint8_t *out, const uint8_t *in, size_t len);

#endif
