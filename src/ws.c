/* ws.c - RFC 6455 codec: handshake key, client frame decoder, server frame
 * header encoder, UTF-8 checker (see ws.h for the contract).
 *
 * Owns the bytes of WebSocket framing only: the HTTP upgrade request, the
 * sockets and the meaning of a message belong to other modules.  The
 * decoder copies a frame header into hdr[] (at most 14 bytes) and checks
 * each part as soon as it is known, so a bad or oversized frame fails at
 * its header, not after its payload.  A control frame, or an unfragmented
 * data frame, whose whole payload sits in one feed's input is unmasked in
 * place and delivered from there; anything else is unmasked into msg (a
 * data message, reassembled across fragments) or ctrl (one control frame),
 * and those buffers are freed on the call after delivery, so an idle
 * connection holds no heap memory.
 *
 * Limits: max_message bytes per reassembled data message (the reference
 * server closes with 1009, protocol-notes.md 1.5); 125 bytes per control
 * frame (RFC 6455 5.5).  Strict: no extension is negotiated, so RSV bits
 * are errors; close codes follow RFC 6455 7.4 and text follows RFC 3629.
 * One leniency, as in the reference server's ws library: a length written
 * in a longer encoding than needed is accepted.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ws.h"

/* Bits of the first two header bytes (RFC 6455 5.2). */
#define WS_HDR_FIN 0x80
#define WS_HDR_RSV 0x70
#define WS_HDR_OPCODE 0x0f
#define WS_HDR_MASK 0x80
#define WS_HDR_LEN7 0x7f
#define WS_LEN7_16BIT 126
#define WS_LEN7_64BIT 127
#define WS_CONTROL_MAX 125
#define WS_MASK_BYTES 4

/* A message buffer starts here and doubles: most messages are small, and
 * doubling keeps a large one at O(log n) reallocations. */
#define WS_MSG_MIN_CAP 256

/* Where an empty payload that has no input byte to point at points. */
static const uint8_t ws_empty[1];

uint16_t ws_result_close_code(enum ws_result r)
{
	switch (r) {
#define WS_RESULT_CODE(name, value, code, text) \
	case name:                              \
		return code;
		WS_RESULT_MAP(WS_RESULT_CODE)
#undef WS_RESULT_CODE
	}
	return WS_CLOSE_INTERNAL;
}

const char *ws_result_text(enum ws_result r)
{
	switch (r) {
#define WS_RESULT_TEXT(name, value, code, text) \
	case name:                              \
		return text;
		WS_RESULT_MAP(WS_RESULT_TEXT)
#undef WS_RESULT_TEXT
	}
	return "unknown websocket result";
}

/* UTF-8 checker states (RFC 3629 section 4): how many continuation bytes
 * are still due, and for the four lead bytes whose next byte has a narrower
 * range, which range.  ACCEPT must be 0, as ws.h promises. */
enum ws_utf8_state {
	WS_UTF8_ACCEPT = 0,
	WS_UTF8_NEED1,  /* one more 80..BF */
	WS_UTF8_NEED2,  /* two more 80..BF */
	WS_UTF8_NEED3,  /* three more 80..BF */
	WS_UTF8_AFTER_E0, /* A0..BF: below is an overlong 3-byte form */
	WS_UTF8_AFTER_ED, /* 80..9F: above are the surrogates D800..DFFF */
	WS_UTF8_AFTER_F0, /* 90..BF: below is an overlong 4-byte form */
	WS_UTF8_AFTER_F4, /* 80..8F: above is past U+10FFFF */
	WS_UTF8_REJECT,
};

/* For each state but ACCEPT and REJECT: the accepted byte range and the
 * state after it. */
static const struct {
	uint8_t lo, hi, next;
} ws_utf8_cont[] = {
	[WS_UTF8_NEED1] = { 0x80, 0xbf, WS_UTF8_ACCEPT },
	[WS_UTF8_NEED2] = { 0x80, 0xbf, WS_UTF8_NEED1 },
	[WS_UTF8_NEED3] = { 0x80, 0xbf, WS_UTF8_NEED2 },
	[WS_UTF8_AFTER_E0] = { 0xa0, 0xbf, WS_UTF8_NEED1 },
	[WS_UTF8_AFTER_ED] = { 0x80, 0x9f, WS_UTF8_NEED1 },
	[WS_UTF8_AFTER_F0] = { 0x90, 0xbf, WS_UTF8_NEED2 },
	[WS_UTF8_AFTER_F4] = { 0x80, 0x8f, WS_UTF8_NEED2 },
};

static uint32_t ws_utf8_lead(uint8_t c)
{
	if (c < 0x80)
		return WS_UTF8_ACCEPT;
	if (c < 0xc2) /* a stray continuation byte, or C0/C1 (overlong) */
		return WS_UTF8_REJECT;
	if (c < 0xe0)
		return WS_UTF8_NEED1;
	if (c == 0xe0)
		return WS_UTF8_AFTER_E0;
	if (c == 0xed)
		return WS_UTF8_AFTER_ED;
	if (c < 0xf0)
		return WS_UTF8_NEED2;
	if (c == 0xf0)
		return WS_UTF8_AFTER_F0;
	if (c < 0xf4)
		return WS_UTF8_NEED3;
	if (c == 0xf4)
		return WS_UTF8_AFTER_F4;
	return WS_UTF8_REJECT; /* F5..FF would encode past U+10FFFF */
}

bool ws_utf8_feed(uint32_t *state, const uint8_t *p, size_t len)
{
	uint32_t s = *state;
	size_t i = 0;

	while (i < len) {
		if (s == WS_UTF8_ACCEPT) {
			/* Socket.IO text is mostly ASCII: skip it eight bytes at a time. */
			uint64_t w;

			while (len - i >= 8) {
				memcpy(&w, p + i, 8);
				if (w & 0x8080808080808080u)
					break;
				i += 8;
			}
			if (i == len)
				break;
			s = ws_utf8_lead(p[i]);
		} else if (s < WS_UTF8_REJECT) {
			s = p[i] >= ws_utf8_cont[s].lo && p[i] <= ws_utf8_cont[s].hi ?
				    ws_utf8_cont[s].next :
				    WS_UTF8_REJECT;
		} else {
			s = WS_UTF8_REJECT; /* rejected before: stays rejected */
		}
		if (s == WS_UTF8_REJECT) {
			*state = s;
			return false;
		}
		i++;
	}
	*state = s;
	return s != WS_UTF8_REJECT;
}

/* XORs <n> bytes of <src> into <dst> (which may be <src>) with <mask>,
 * starting at byte <offset> of the payload: a payload split across feeds
 * continues the mask where the previous piece stopped. */
static void ws_unmask(uint8_t *dst, const uint8_t *src, size_t n,
		      const uint8_t mask[WS_MASK_BYTES], uint64_t offset)
{
	uint8_t m[8];
	uint64_t m64;
	size_t i = 0;

	for (size_t k = 0; k < 8; k++)
		m[k] = mask[(offset + k) & 3];
	memcpy(&m64, m, 8);
	for (; n - i >= 8; i += 8) {
		uint64_t w;

		memcpy(&w, src + i, 8);
		w ^= m64;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ m[i & 7];
}

static bool ws_opcode_is_control(uint8_t opcode)
{
	return opcode & 0x8;
}

void ws_decoder_init(struct ws_decoder *d, size_t max_message)
{
	memset(d, 0, sizeof *d);
	d->max_message = max_message;
	d->failed = WS_MORE;
}

static void ws_decoder_free_buffers(struct ws_decoder *d)
{
	free(d->msg);
	d->msg = NULL;
	d->msg_len = 0;
	d->msg_cap = 0;
	free(d->ctrl);
	d->ctrl = NULL;
	d->ctrl_len = 0;
}

void ws_decoder_cleanup(struct ws_decoder *d)
{
	ws_decoder_free_buffers(d);
	ws_decoder_init(d, d->max_message);
}

bool ws_decoder_busy(const struct ws_decoder *d)
{
	if (d->failed != WS_MORE)
		return false; /* it holds nothing more it will ever finish */
	return d->hdr_len > 0 || d->in_payload || d->msg_opcode != 0;
}

static enum ws_result ws_decoder_fail(struct ws_decoder *d, enum ws_result r)
{
	/* The connection is going away; give the memory back now. */
	ws_decoder_free_buffers(d);
	d->failed = r;
	return r;
}

/* Buffers delivered by the previous call are dead now (ws.h: event data is
 * valid until the next call), so an idle decoder gives them back. */
static void ws_decoder_release(struct ws_decoder *d)
{
	if (d->msg && d->msg_opcode == 0) {
		free(d->msg);
		d->msg = NULL;
		d->msg_len = 0;
		d->msg_cap = 0;
	}
	if (d->ctrl && !(d->in_payload && ws_opcode_is_control(d->frame_opcode))) {
		free(d->ctrl);
		d->ctrl = NULL;
		d->ctrl_len = 0;
	}
}

/* Copies header bytes from <in> until hdr[] holds <want>; false if the
 * input ran out first. */
static bool ws_decoder_fill(struct ws_decoder *d, const uint8_t *in, size_t len,
			    size_t *pos, size_t want)
{
	if (d->hdr_len < want) {
		size_t n = want - d->hdr_len;

		if (n > len - *pos)
			n = len - *pos;
		memcpy(d->hdr + d->hdr_len, in + *pos, n);
		d->hdr_len += (uint8_t)n;
		*pos += n;
	}
	return d->hdr_len >= want;
}

/* Checks the first two header bytes against the decoder's state. */
static enum ws_result ws_decoder_check_start(const struct ws_decoder *d)
{
	uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
	uint8_t opcode = b0 & WS_HDR_OPCODE;

	if (b0 & WS_HDR_RSV) /* no extension was negotiated (RFC 6455 5.2) */
		return WS_ERR_PROTOCOL;
	if (!(b1 & WS_HDR_MASK)) /* clients must mask (RFC 6455 5.1) */
		return WS_ERR_PROTOCOL;
	switch (opcode) {
	case WS_OPCODE_CONT:
		if (d->msg_opcode == 0)
			return WS_ERR_PROTOCOL;
		break;
	case WS_OPCODE_TEXT:
	case WS_OPCODE_BINARY:
		/* A new message may not start inside a fragmented one (5.4). */
		if (d->msg_opcode != 0)
			return WS_ERR_PROTOCOL;
		break;
	case WS_OPCODE_CLOSE:
	case WS_OPCODE_PING:
	case WS_OPCODE_PONG:
		/* Control frames are never fragmented and fit in 125 bytes (5.5). */
		if (!(b0 & WS_HDR_FIN) || (b1 & WS_HDR_LEN7) > WS_CONTROL_MAX)
			return WS_ERR_PROTOCOL;
		break;
	default:
		return WS_ERR_PROTOCOL;
	}
	return WS_MORE;
}

/* Reads header bytes.  Returns WS_MORE, with d->in_payload set once the
 * header is complete (and the input possibly used up either way), or an
 * error as soon as the bytes read so far show one. */
static enum ws_result ws_decoder_header(struct ws_decoder *d, const uint8_t *in,
					size_t len, size_t *pos)
{
	enum ws_result r;
	size_t ext_len;
	uint8_t len7, opcode;
	uint64_t frame_len = 0;

	if (!ws_decoder_fill(d, in, len, pos, 2))
		return WS_MORE;
	/* Each check below may run again on a later call if the header is
	 * still incomplete; they depend only on hdr[] and the message state,
	 * which do not change in between. */
	r = ws_decoder_check_start(d);
	if (r != WS_MORE)
		return r;
	opcode = d->hdr[0] & WS_HDR_OPCODE;
	len7 = d->hdr[1] & WS_HDR_LEN7;
	ext_len = len7 == WS_LEN7_16BIT ? 2 : len7 == WS_LEN7_64BIT ? 8 : 0;
	if (!ws_decoder_fill(d, in, len, pos, 2 + ext_len))
		return WS_MORE;
	if (ext_len == 0) {
		frame_len = len7;
	} else {
		for (size_t i = 0; i < ext_len; i++)
			frame_len = frame_len << 8 | d->hdr[2 + i];
		if (frame_len >> 63) /* RFC 6455 5.2: the top bit must be 0 */
			return WS_ERR_PROTOCOL;
	}
	/* Refuse an oversized message before reading (or buffering) any of it.
	 * msg_len counts what earlier fragments brought; it is 0 for a frame
	 * that starts a message. */
	if (!ws_opcode_is_control(opcode)) {
		size_t done = opcode == WS_OPCODE_CONT ? d->msg_len : 0;

		if (frame_len > d->max_message - done)
			return WS_ERR_TOO_BIG;
	}
	if (!ws_decoder_fill(d, in, len, pos, 2 + ext_len + WS_MASK_BYTES))
		return WS_MORE;

	memcpy(d->mask, d->hdr + 2 + ext_len, WS_MASK_BYTES);
	d->frame_opcode = opcode;
	d->frame_fin = d->hdr[0] & WS_HDR_FIN;
	d->frame_len = frame_len;
	d->frame_done = 0;
	d->hdr_len = 0;
	d->in_payload = true;
	if (opcode == WS_OPCODE_TEXT || opcode == WS_OPCODE_BINARY) {
		d->utf8_state = WS_UTF8_ACCEPT;
		d->msg_len = 0;
		if (!d->frame_fin)
			d->msg_opcode = opcode;
	}
	return WS_MORE;
}

/* Fills <ev> for a complete control frame, after checking a close body:
 * empty, or a status code that may be received (RFC 6455 7.4) and a UTF-8
 * reason (8.1). */
static enum ws_result ws_decoder_control(uint8_t opcode, const uint8_t *p,
					 size_t len, struct ws_event *ev)
{
	ev->opcode = (enum ws_opcode)opcode;
	ev->data = p;
	ev->len = len;
	ev->close_code = 0;
	if (opcode != WS_OPCODE_CLOSE || len == 0)
		return WS_EVENT;
	if (len == 1)
		return WS_ERR_PROTOCOL;

	uint16_t code = (uint16_t)(p[0] << 8 | p[1]);
	uint32_t utf8 = 0;
	/* 1004-1006 and 1015 are reserved or only reported locally, never
	 * sent; 1012-1014 are server-only codes; 0-999 and 2000-2999 are not
	 * assigned. */
	bool ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
		  (code >= 3000 && code <= 4999);

	if (!ok)
		return WS_ERR_PROTOCOL;
	if (!ws_utf8_feed(&utf8, p + 2, len - 2) || utf8 != WS_UTF8_ACCEPT)
		return WS_ERR_UTF8;
	ev->close_code = code;
	ev->data = p + 2;
	ev->len = len - 2;
	return WS_EVENT;
}

/* Makes room for <n> more bytes in msg.  The caller has checked that the
 * message stays within max_message. */
static enum ws_result ws_decoder_reserve(struct ws_decoder *d, size_t n)
{
	size_t want = d->msg_len + n;
	size_t cap = d->msg_cap ? d->msg_cap : WS_MSG_MIN_CAP;
	uint8_t *p;

	if (want <= d->msg_cap)
		return WS_MORE;
	if (want > d->max_message) /* the header check makes this unreachable */
		return WS_ERR_TOO_BIG;
	/* Grow with the bytes that arrived, not with the length a header
	 * announced: a client that announces a big frame and sends nothing
	 * must not make us allocate it. */
	while (cap < want)
		cap = cap > d->max_message / 2 ? d->max_message : cap * 2;
	if (cap > d->max_message)
		cap = d->max_message;
	/* A final frame's end is known: don't grow past it. */
	if (d->frame_fin && cap - d->msg_len > d->frame_len - d->frame_done)
		cap = d->msg_len + (size_t)(d->frame_len - d->frame_done);
	p = realloc(d->msg, cap);
	if (!p)
		return WS_ERR_NOMEM;
	d->msg = p;
	d->msg_cap = cap;
	return WS_MORE;
}

/* Reads payload bytes of the current frame.  Returns WS_EVENT when the
 * frame completes a message or is a control frame, WS_MORE when the input
 * ran out or a non-final fragment ended, or an error. */
static enum ws_result ws_decoder_payload(struct ws_decoder *d, uint8_t *in, size_t len,
					 size_t *pos, struct ws_event *ev)
{
	uint8_t opcode = d->frame_opcode;
	bool control = ws_opcode_is_control(opcode);
	size_t avail = len - *pos;
	uint64_t left = d->frame_len - d->frame_done;
	size_t n = avail < left ? avail : (size_t)left;
	enum ws_result r;

	if (d->frame_done == 0 && left <= avail &&
	    (control || (d->frame_fin && opcode != WS_OPCODE_CONT))) {
		/* The whole payload is here and no fragment precedes it. */
		uint8_t *p = in + *pos;

		ws_unmask(p, p, n, d->mask, 0);
		*pos += n;
		d->in_payload = false;
		if (control)
			return ws_decoder_control(opcode, p, n, ev);
		if (opcode == WS_OPCODE_TEXT &&
		    (!ws_utf8_feed(&d->utf8_state, p, n) || d->utf8_state != WS_UTF8_ACCEPT))
			return WS_ERR_UTF8;
		ev->opcode = (enum ws_opcode)opcode;
		ev->data = p;
		ev->len = n;
		ev->close_code = 0;
		return WS_EVENT;
	}

	if (control) {
		if (n > 0) {
			if (!d->ctrl) {
				/* frame_len is 1..125: an empty frame took the path above. */
				d->ctrl = malloc((size_t)d->frame_len);
				if (!d->ctrl)
					return WS_ERR_NOMEM;
				d->ctrl_len = 0;
			}
			ws_unmask(d->ctrl + d->ctrl_len, in + *pos, n, d->mask, d->frame_done);
			d->ctrl_len += n;
		}
	} else {
		if (n > 0) {
			uint8_t *dst;

			/* An unfragmented frame split across feeds: from its first
			 * copied byte on, msg holds a message in progress. */
			if (d->msg_opcode == 0)
				d->msg_opcode = opcode;

			r = ws_decoder_reserve(d, n);
			if (r != WS_MORE)
				return r;
			dst = d->msg + d->msg_len;
			ws_unmask(dst, in + *pos, n, d->mask, d->frame_done);
			/* Check text as it arrives: a bad byte fails now, not after
			 * the rest of a large message. */
			if (d->msg_opcode == WS_OPCODE_TEXT && !ws_utf8_feed(&d->utf8_state, dst, n))
				return WS_ERR_UTF8;
			d->msg_len += n;
		}
	}
	*pos += n;
	d->frame_done += n;
	if (d->frame_done < d->frame_len)
		return WS_MORE;

	d->in_payload = false;
	if (control)
		return ws_decoder_control(opcode, d->ctrl, d->ctrl_len, ev);
	if (!d->frame_fin)
		return WS_MORE;
	/* The message is complete: msg is delivered now and freed next call. */
	opcode = d->msg_opcode;
	d->msg_opcode = 0;
	if (opcode == WS_OPCODE_TEXT && d->utf8_state != WS_UTF8_ACCEPT)
		return WS_ERR_UTF8; /* the text ends inside a sequence */
	ev->opcode = (enum ws_opcode)opcode;
	ev->data = d->msg ? d->msg : ws_empty;
	ev->len = d->msg_len;
	ev->close_code = 0;
	return WS_EVENT;
}

enum ws_result ws_decoder_feed(struct ws_decoder *d, uint8_t *in, size_t len,
			       size_t *used, struct ws_event *ev)
{
	size_t pos = 0;
	enum ws_result r;

	*used = 0;
	if (d->failed != WS_MORE)
		return d->failed;
	ws_decoder_release(d);
	for (;;) {
		if (!d->in_payload) {
			if (pos == len) {
				r = WS_MORE;
				break;
			}
			r = ws_decoder_header(d, in, len, &pos);
			if (r != WS_MORE || !d->in_payload)
				break;
		}
		r = ws_decoder_payload(d, in, len, &pos, ev);
		/* Stop at an event or error, or when the frame is unfinished
		 * (the input is used up); go on after a finished fragment. */
		if (r != WS_MORE || d->in_payload)
			break;
	}
	*used = pos;
	if (r < 0)
		return ws_decoder_fail(d, r);
	return r;
}

size_t ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], enum ws_opcode opcode,
		       uint64_t payload_len)
{
	out[0] = WS_HDR_FIN | (uint8_t)opcode;
	if (payload_len <= WS_CONTROL_MAX) {
		out[1] = (uint8_t)payload_len;
		return 2;
	}
	if (payload_len <= 0xffff) {
		out[1] = WS_LEN7_16BIT;
		out[2] = (uint8_t)(payload_len >> 8);
		out[3] = (uint8_t)payload_len;
		return 4;
	}
	out[1] = WS_LEN7_64BIT;
	for (size_t i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
	return 10;
}

/* RFC 6455 4.2.2: the GUID appended to the key before hashing. */
static const char ws_accept_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool ws_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int ws_accept_key(const char *key, size_t key_len, char out[29])
{
	/* 16 bytes encode as 22 base64 characters and "==".  The low bits of
	 * the 22nd are not checked, as the ws library doesn't: it is the
	 * key's length that RFC 6455 4.2.1 asks about. */
	char buf[24 + sizeof ws_accept_guid - 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (key_len != 24 || key[22] != '=' || key[23] != '=')
		return -1;
	for (size_t i = 0; i < 22; i++)
		if (!ws_base64_char(key[i]))
			return -1;
	memcpy(buf, key, 24);
	memcpy(buf + 24, ws_accept_guid, sizeof ws_accept_guid - 1);
	if (EVP_Digest(buf, sizeof buf, md, &md_len, EVP_sha1(), NULL) != 1 || md_len != 20)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)out, md, (int)md_len) != 28)
		return -1;
	return 0;
}
