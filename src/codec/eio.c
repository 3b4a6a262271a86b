/* eio.c - Engine.IO protocol 4 packet and payload codec (see eio.h).
 *
 * Owns the byte forms of engine packets: the type digit, the polling
 * payload's 0x1e record separator, the `b` + base64 form of binary
 * messages, and the open packet's JSON.  Does not own sessions, timers or
 * limits (engine.c decides what a packet means and enforces maxPayload
 * before a body gets here), nor WebSocket framing (ws.c).
 *
 * Decoding follows engine.io-parser 5.2.3 (doc/protocol.md, "Engine packets"
 * and "Polling"; tests/vectors/eio-parser-vectors.json): a record is a
 * digit '0'..'6' plus data
 * returned as-is, or `b` plus base64; an empty record or any other first
 * byte is the reference "parser error".  Nothing allocates: packets point
 * into the caller's buffer, and base64 is decoded in place.
 *
 * Base64 is stricter than Node's Buffer.from(s, "base64"), which skips
 * unknown characters, accepts `-_`, stops at the first `=` and accepts
 * missing padding and stray low bits.  The official clients always send
 * canonical padded standard base64 (Buffer#toString("base64") in Node,
 * FileReader.readAsDataURL in browsers), so we accept exactly that: length
 * a multiple of 4, alphabet `A-Za-z0-9+/`, `=` only as one or two trailing
 * pads, and zero bits under the padding.  Canonical input also makes
 * decoding one-to-one, so re-encoding a decoded record gives its bytes back.
 */
#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "eio.h"

static const char eio_base64_alphabet[64] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define EIO_BASE64_INVALID 0xff

/* Value of each byte in the alphabet above; EIO_BASE64_INVALID for every
 * other byte, '=' included (padding is checked by position, not here). */
static const uint8_t eio_base64_value[256] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* ' ' .. '/': '+' = 62, '/' = 63 */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3e, 0xff, 0xff, 0xff, 0x3f,
	/* '0' .. '?': digits are 52..61 */
	0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* '@' .. '_': 'A'..'Z' are 0..25 */
	0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
	0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* '`' .. DEL: 'a'..'z' are 26..51 */
	0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff,
	/* 0x80 .. 0xff */
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* Callers keep <len> below SIZE_MAX / 4 * 3; the engine's maxPayload
 * keeps every real message far below that. */
size_t eio_base64_encoded_len(size_t len)
{
	return (len / 3 + (len % 3 != 0)) * 4;
}

size_t eio_base64_encode(uint8_t *out, const uint8_t *in, size_t len)
{
	size_t i = 0;
	uint8_t *o = out;

	for (; len - i >= 3; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*o++ = (uint8_t)eio_base64_alphabet[v >> 18];
		*o++ = (uint8_t)eio_base64_alphabet[(v >> 12) & 0x3f];
		*o++ = (uint8_t)eio_base64_alphabet[(v >> 6) & 0x3f];
		*o++ = (uint8_t)eio_base64_alphabet[v & 0x3f];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*o++ = (uint8_t)eio_base64_alphabet[v >> 18];
		*o++ = (uint8_t)eio_base64_alphabet[(v >> 12) & 0x3f];
		*o++ = '=';
		*o++ = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		*o++ = (uint8_t)eio_base64_alphabet[v >> 18];
		*o++ = (uint8_t)eio_base64_alphabet[(v >> 12) & 0x3f];
		*o++ = (uint8_t)eio_base64_alphabet[(v >> 6) & 0x3f];
		*o++ = '=';
	}
	return (size_t)(o - out);
}

/* Checks the whole input before writing anything, so a rejected record
 * leaves the caller's buffer as it was (an error log can quote it, and a
 * second eio_payload_next() call fails the same way).  In place is safe:
 * each group of 4 is read into locals before its 3 bytes are written, and
 * the write position never passes the read position. */
long eio_base64_decode(uint8_t *out, const uint8_t *in, size_t len)
{
	size_t pad = 0;
	size_t n_chars;
	size_t i;
	uint8_t *o = out;

	if (len % 4 != 0 || len / 4 > LONG_MAX / 3)
		return -1;
	if (len == 0)
		return 0;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	n_chars = len - pad;
	for (i = 0; i < n_chars; i++) {
		if (eio_base64_value[in[i]] == EIO_BASE64_INVALID)
			return -1;
	}
	/* RFC 4648 section 3.5: the bits under the padding must be zero;
	 * nonzero bits would be a second spelling of the same bytes. */
	if (pad == 1 && (eio_base64_value[in[len - 2]] & 0x03) != 0)
		return -1;
	if (pad == 2 && (eio_base64_value[in[len - 3]] & 0x0f) != 0)
		return -1;

	for (i = 0; i + 4 <= n_chars; i += 4) {
		uint32_t v = (uint32_t)eio_base64_value[in[i]] << 18 |
			     (uint32_t)eio_base64_value[in[i + 1]] << 12 |
			     (uint32_t)eio_base64_value[in[i + 2]] << 6 |
			     eio_base64_value[in[i + 3]];

		*o++ = (uint8_t)(v >> 16);
		*o++ = (uint8_t)(v >> 8);
		*o++ = (uint8_t)v;
	}
	if (pad != 0) {
		uint32_t v = (uint32_t)eio_base64_value[in[i]] << 18 |
			     (uint32_t)eio_base64_value[in[i + 1]] << 12;

		if (pad == 1)
			v |= (uint32_t)eio_base64_value[in[i + 2]] << 6;
		*o++ = (uint8_t)(v >> 16);
		if (pad == 1)
			*o++ = (uint8_t)(v >> 8);
	}
	return (long)(o - out);
}

/* Decodes one record (a WebSocket text message or one polling element).
 * <out> is left alone on failure. */
static int eio_record_decode(uint8_t *rec, size_t len, struct eio_packet *out)
{
	if (len == 0)
		return -1;
	if (rec[0] == 'b') {
		long n = eio_base64_decode(rec + 1, rec + 1, len - 1);

		if (n < 0)
			return -1;
		out->type = EIO_MESSAGE;
		out->binary = true;
		out->data = rec + 1;
		out->len = (size_t)n;
		return 0;
	}
	if (rec[0] < '0' || rec[0] > '6')
		return -1;
	out->type = (enum eio_packet_type)(rec[0] - '0');
	out->binary = false;
	out->data = rec + 1;
	out->len = len - 1;
	return 0;
}

int eio_decode_text(uint8_t *msg, size_t len, struct eio_packet *out)
{
	return eio_record_decode(msg, len, out);
}

/* *<pos> is the offset of the next record.  After the last record it is set
 * to <len> + 1, so that "end of body" (return 0) differs from an empty
 * record at <len> (an empty body, or what follows a trailing separator:
 * -1).  On -1 *<pos> stays at the bad record, which is left unmodified, so
 * the caller can quote it and every later call fails the same way. */
int eio_payload_next(uint8_t *body, size_t len, size_t *pos, struct eio_packet *out)
{
	size_t start = *pos;
	const uint8_t *sep;
	size_t end;

	if (start > len)
		return 0;
	if (start == len)
		return -1;
	sep = memchr(body + start, EIO_RECORD_SEPARATOR, len - start);
	end = sep ? (size_t)(sep - body) : len;
	if (eio_record_decode(body + start, end - start, out) < 0)
		return -1;
	*pos = sep ? end + 1 : len + 1;
	return 1;
}

size_t eio_polling_encoded_len(bool binary, size_t data_len)
{
	return 1 + (binary ? eio_base64_encoded_len(data_len) : data_len);
}

/* A binary packet has no type of its own (it is always a message), so
 * <type> is only checked, not written, when <binary> is set. */
size_t eio_polling_encode(uint8_t *out, enum eio_packet_type type, bool binary,
			  const uint8_t *data, size_t data_len)
{
	assert(type >= EIO_OPEN && type <= EIO_NOOP);
	assert(!binary || type == EIO_MESSAGE);

	if (binary) {
		out[0] = 'b';
		return 1 + eio_base64_encode(out + 1, data, data_len);
	}
	out[0] = (uint8_t)('0' + type);
	/* memcpy's arguments must not be NULL even for 0 bytes. */
	if (data_len != 0)
		memcpy(out + 1, data, data_len);
	return 1 + data_len;
}

/* The sid goes into the JSON unescaped, so it must be URL-safe base64
 * (doc/protocol.md, "Handshake and open packet"), which needs no
 * escaping.  Anything else is our
 * own bug; refusing it keeps a bad sid off the wire. */
/* Length of the well-formed UTF-8 sequence at <p> (Unicode table 3-7), or
 * 0 with *<bad> = the length of its maximal invalid subpart (at least 1). */
static size_t eio_utf8_sequence(const uint8_t *p, size_t n, size_t *bad)
{
	uint8_t lead = p[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (lead < 0x80)
		return 1;
	if (lead >= 0xc2 && lead <= 0xdf)
		need = 1;
	else if (lead >= 0xe0 && lead <= 0xef)
		need = 2;
	else if (lead >= 0xf0 && lead <= 0xf4)
		need = 3;
	else {
		*bad = 1;
		return 0;
	}
	/* The second byte's range excludes overlongs, surrogates and
	 * code points past U+10FFFF. */
	if (lead == 0xe0)
		lo = 0xa0;
	else if (lead == 0xed)
		hi = 0x9f;
	else if (lead == 0xf0)
		lo = 0x90;
	else if (lead == 0xf4)
		hi = 0x8f;
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || p[i] < lo || p[i] > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

static size_t eio_utf8_walk(uint8_t *out, const uint8_t *in, size_t len)
{
	static const uint8_t replacement[3] = { 0xef, 0xbf, 0xbd };
	size_t o = 0, bad = 0;

	for (size_t i = 0; i < len;) {
		size_t n = eio_utf8_sequence(in + i, len - i, &bad);
		if (n) {
			if (out)
				memcpy(out + o, in + i, n);
			o += n;
			i += n;
		} else {
			if (out)
				memcpy(out + o, replacement, 3);
			o += 3;
			i += bad;
		}
	}
	return o;
}

size_t eio_utf8_repaired_len(const uint8_t *in, size_t len)
{
	size_t bad;

	for (size_t i = 0; i < len;) {
		size_t n = eio_utf8_sequence(in + i, len - i, &bad);
		if (!n)
			return eio_utf8_walk(NULL, in, len);
		i += n;
	}
	return 0;
}

size_t eio_utf8_repair(uint8_t *out, const uint8_t *in, size_t len)
{
	return eio_utf8_walk(out, in, len);
}

static bool eio_sid_is_valid(const char *sid)
{
	if (sid == NULL || sid[0] == '\0')
		return false;
	for (const char *p = sid; *p != '\0'; p++) {
		char c = *p;

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* Also writes a terminating NUL, so <out_len> must exceed the packet's
 * length by one; on failure <out> holds an empty string (if it has room)
 * rather than a cut-off packet. */
size_t eio_open_packet(char *out, size_t out_len, const char *sid, bool can_upgrade,
		       uint32_t ping_interval_ms, uint32_t ping_timeout_ms,
		       size_t max_payload)
{
	int n;

	if (out_len != 0)
		out[0] = '\0';
	if (!eio_sid_is_valid(sid))
		return 0;
	n = snprintf(out, out_len,
		     "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%" PRIu32
		     ",\"pingTimeout\":%" PRIu32 ",\"maxPayload\":%zu}",
		     sid, can_upgrade ? "\"websocket\"" : "", ping_interval_ms,
		     ping_timeout_ms, max_payload);
	if (n < 0 || (size_t)n >= out_len) {
		if (out_len != 0)
			out[0] = '\0';
		return 0;
	}
	return (size_t)n;
}
