/* ws.c - RFC 6455 codec: handshake key, client frame decoder, server frame
 * header encoder, UTF-8 checker (see ws.h for the contract).
 *
 * Owns the bytes of WebSocket framing only: the HTTP upgrade request, the
 * sockets and the meaning of a message belong to other modules.  The
 * decoder checks each part of a frame header as soon as its bytes are
 * known, so a bad or oversized frame fails at its header, not after its
 * payload.  A control frame, or an unfragmented data frame, whose whole
 * payload sits in one feed's input is unmasked in place and delivered from
 * there; anything else is unmasked into the decoder's part: msg[] for a
 * data message (reassembled across fragments), ctrl[] for one control frame.
 *
 * Idle memory: every WebSocket connection embeds a decoder and nearly all
 * of them sit between frames, so struct ws_decoder is 16 bytes (the part
 * pointer, the 32-bit limit and the sticky error; asserted below).  The
 * rest, about 180 bytes plus the message so far, is struct
 * ws_decoder_part: one block allocated when a feed ends inside a header or
 * a payload, or a fragmented message begins, and freed when the decoder is
 * idle again: at once after an event delivered from the input, on the next
 * call after one delivered from the part (event data lives until then,
 * ws.h).  Whole frames in one read, the common case, allocate nothing; a
 * frame cut by a read costs one allocation of the part, which is cheaper
 * than carrying its ~90 bytes of state in every connection all the time.
 * The part comes from jansson's allocator (jsonmem.h), like the other
 * codecs' allocations, so that the unit tests can count and fail it; that
 * allocator has no realloc, so msg[] grows by moving the part to a block
 * twice as big (O(log n) moves per message).
 *
 * Limits: max_message bytes per reassembled data message (the reference
 * server closes with 1009, doc/protocol.md, "WebSocket transport"); 125
 * bytes per control frame (RFC 6455 5.5).  Strict: no extension is
 * negotiated, so RSV bits
 * are errors; close codes follow RFC 6455 7.4 and text follows RFC 3629.
 * One leniency, as in the reference server's ws library: a length written
 * in a longer encoding than needed is accepted.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "jsonmem.h"
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
 * doubling keeps a large one at O(log n) moves. */
#define WS_MSG_MIN_CAP 256

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

/* The longest frame header: 2 bytes, a 64-bit length, the mask key. */
#define WS_HDR_MAX (2 + 8 + WS_MASK_BYTES)

/* One frame, from its header on. */
struct ws_frame {
	uint64_t len;  /* payload bytes */
	uint64_t done; /* of which already consumed */
	uint8_t opcode;
	bool fin;
	uint8_t mask[WS_MASK_BYTES];
};

/* What a decoder holds only while a frame or message is incomplete: a
 * frame whose payload did not come whole, a fragmented message, or the
 * first bytes of a header.  One block from jansson's allocator, owned by
 * the decoder (d->part).  msg_len and msg_cap never exceed max_message, so
 * 32 bits hold them. */
struct ws_decoder_part {
	struct ws_frame frame; /* the frame being read, while in_payload */
	uint32_t msg_len;      /* bytes of the data message in msg[] so far */
	uint32_t msg_cap;      /* room in msg[] */
	uint32_t utf8_state;   /* of a text message, across fragments */
	bool in_payload;       /* header done, reading <frame>'s payload */
	uint8_t msg_opcode;    /* TEXT or BINARY of the message in msg[], 0 = none */
	uint8_t hdr_len;       /* bytes in hdr[] */
	uint8_t ctrl_len;      /* bytes in ctrl[] */
	uint8_t hdr[WS_HDR_MAX];      /* a header cut by the end of a feed */
	uint8_t ctrl[WS_CONTROL_MAX]; /* a control payload cut likewise */
	uint8_t msg[];                /* msg_cap bytes */
};

_Static_assert(sizeof(struct ws_decoder) <= 16,
	       "every WebSocket connection embeds a decoder: keep it small");

void ws_decoder_init(struct ws_decoder *d, size_t max_message)
{
	memset(d, 0, sizeof *d);
	d->max_message = max_message < UINT32_MAX ? (uint32_t)max_message : UINT32_MAX;
	d->failed = WS_MORE;
}

static void ws_decoder_free_part(struct ws_decoder *d)
{
	jsonmem_free(d->part);
	d->part = NULL;
}

void ws_decoder_cleanup(struct ws_decoder *d)
{
	ws_decoder_free_part(d);
	ws_decoder_init(d, d->max_message);
}

/* True while <p> holds part of a header, a frame or a message. */
static bool ws_decoder_part_busy(const struct ws_decoder_part *p)
{
	return p->hdr_len > 0 || p->in_payload || p->msg_opcode != 0;
}

bool ws_decoder_busy(const struct ws_decoder *d)
{
	if (d->failed != WS_MORE)
		return false; /* it holds nothing more it will ever finish */
	return d->part && ws_decoder_part_busy(d->part);
}

static enum ws_result ws_decoder_fail(struct ws_decoder *d, enum ws_result r)
{
	/* The connection is going away; give the memory back now. */
	ws_decoder_free_part(d);
	d->failed = r;
	return r;
}

/* Frees the part once it holds nothing in progress.  Called where no event
 * data can point into it: at the start of a feed (the previous event is
 * dead, ws.h), and after delivering a frame from the input. */
static void ws_decoder_release(struct ws_decoder *d)
{
	if (d->part && !ws_decoder_part_busy(d->part))
		ws_decoder_free_part(d);
}

/* The decoder's part, allocated (zeroed, msg[] empty) if it has none; NULL
 * if that fails. */
static struct ws_decoder_part *ws_decoder_get_part(struct ws_decoder *d)
{
	if (!d->part) {
		d->part = jsonmem_malloc(sizeof *d->part);
		if (d->part)
			memset(d->part, 0, sizeof *d->part);
	}
	return d->part;
}

/* Checks the first two header bytes against the decoder's state. */
static enum ws_result ws_decoder_check_start(const struct ws_decoder *d, uint8_t b0, uint8_t b1)
{
	uint8_t opcode = b0 & WS_HDR_OPCODE;
	uint8_t msg_opcode = d->part ? d->part->msg_opcode : 0;

	if (b0 & WS_HDR_RSV) /* no extension was negotiated (RFC 6455 5.2) */
		return WS_ERR_PROTOCOL;
	if (!(b1 & WS_HDR_MASK)) /* clients must mask (RFC 6455 5.1) */
		return WS_ERR_PROTOCOL;
	switch (opcode) {
	case WS_OPCODE_CONT:
		if (msg_opcode == 0)
			return WS_ERR_PROTOCOL;
		break;
	case WS_OPCODE_TEXT:
	case WS_OPCODE_BINARY:
		/* A new message may not start inside a fragmented one (5.4). */
		if (msg_opcode != 0)
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

/* Checks the first <n> bytes of a header, <h>, and once all of it is there
 * decodes it into <f>.  Returns an error as soon as the bytes known show
 * one, else WS_MORE with *<hdr_len> the header's whole length (0 while
 * fewer than two bytes are known); <f> is filled if n >= *hdr_len > 0. */
static enum ws_result ws_decoder_parse_header(const struct ws_decoder *d, const uint8_t *h,
					      size_t n, size_t *hdr_len, struct ws_frame *f)
{
	enum ws_result r;
	size_t ext_len;
	uint8_t len7, opcode;
	uint64_t frame_len = 0;

	*hdr_len = 0;
	if (n < 2)
		return WS_MORE;
	r = ws_decoder_check_start(d, h[0], h[1]);
	if (r != WS_MORE)
		return r;
	opcode = h[0] & WS_HDR_OPCODE;
	len7 = h[1] & WS_HDR_LEN7;
	ext_len = len7 == WS_LEN7_16BIT ? 2 : len7 == WS_LEN7_64BIT ? 8 : 0;
	*hdr_len = 2 + ext_len + WS_MASK_BYTES;
	if (n < 2 + ext_len)
		return WS_MORE;
	if (ext_len == 0) {
		frame_len = len7;
	} else {
		for (size_t i = 0; i < ext_len; i++)
			frame_len = frame_len << 8 | h[2 + i];
		if (frame_len >> 63) /* RFC 6455 5.2: the top bit must be 0 */
			return WS_ERR_PROTOCOL;
	}
	/* Refuse an oversized message before reading (or buffering) any of it.
	 * msg_len counts what earlier fragments brought. */
	if (!ws_opcode_is_control(opcode)) {
		uint32_t done = opcode == WS_OPCODE_CONT ? d->part->msg_len : 0;

		if (frame_len > d->max_message - done)
			return WS_ERR_TOO_BIG;
	}
	if (n < *hdr_len)
		return WS_MORE;
	f->len = frame_len;
	f->done = 0;
	f->opcode = opcode;
	f->fin = h[0] & WS_HDR_FIN;
	memcpy(f->mask, h + 2 + ext_len, WS_MASK_BYTES);
	return WS_MORE;
}

/* Reads a frame header from <in> at *<pos>, after the bytes earlier feeds
 * left in the part, if any.  Returns WS_MORE with *<complete> set and <f>
 * filled once the header is whole, WS_MORE with the input used up and its
 * bytes kept in the part otherwise, or an error. */
static enum ws_result ws_decoder_header(struct ws_decoder *d, const uint8_t *in, size_t len,
					size_t *pos, struct ws_frame *f, bool *complete)
{
	struct ws_decoder_part *p = d->part;
	size_t have = p ? p->hdr_len : 0;
	size_t take = len - *pos < WS_HDR_MAX - have ? len - *pos : WS_HDR_MAX - have;
	const uint8_t *h = in + *pos;
	uint8_t joined[WS_HDR_MAX];
	size_t hdr_len;
	enum ws_result r;

	if (have > 0) {
		/* The header continues one cut by an earlier feed. */
		memcpy(joined, p->hdr, have);
		memcpy(joined + have, in + *pos, take);
		h = joined;
	}
	*complete = false;
	r = ws_decoder_parse_header(d, h, have + take, &hdr_len, f);
	if (r != WS_MORE)
		return r;
	if (hdr_len > 0 && have + take >= hdr_len) {
		*pos += hdr_len - have;
		if (p)
			p->hdr_len = 0;
		*complete = true;
		return WS_MORE;
	}
	/* The input ends inside the header (take is all of it). */
	p = ws_decoder_get_part(d);
	if (!p)
		return WS_ERR_NOMEM;
	memcpy(p->hdr + have, in + *pos, take);
	p->hdr_len = (uint8_t)(have + take);
	*pos += take;
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

/* True if <f>'s whole payload is in the <avail> input bytes and no earlier
 * fragment or piece of it was copied: it can be delivered from the input. */
static bool ws_frame_in_place(const struct ws_frame *f, size_t avail)
{
	return f->done == 0 && f->len <= avail &&
	       (ws_opcode_is_control(f->opcode) || (f->fin && f->opcode != WS_OPCODE_CONT));
}

/* Unmasks the <n>-byte payload at <p>, in the input, and delivers it.
 * <opcode> and <mask> are copies: the part they may come from is freed
 * here when nothing else is in progress. */
static enum ws_result ws_decoder_in_place(struct ws_decoder *d, uint8_t opcode,
					  const uint8_t mask[WS_MASK_BYTES], uint8_t *p,
					  size_t n, size_t *pos, struct ws_event *ev)
{
	uint32_t utf8 = WS_UTF8_ACCEPT;

	ws_unmask(p, p, n, mask, 0);
	*pos += n;
	if (d->part) {
		d->part->in_payload = false;
		ws_decoder_release(d);
	}
	if (ws_opcode_is_control(opcode))
		return ws_decoder_control(opcode, p, n, ev);
	if (opcode == WS_OPCODE_TEXT && (!ws_utf8_feed(&utf8, p, n) || utf8 != WS_UTF8_ACCEPT))
		return WS_ERR_UTF8;
	ev->opcode = (enum ws_opcode)opcode;
	ev->data = p;
	ev->len = n;
	ev->close_code = 0;
	return WS_EVENT;
}

/* Makes room for <n> more bytes in msg[], moving the part to a bigger
 * block (jansson's allocator has no realloc).  The caller has checked that
 * the message stays within max_message. */
static enum ws_result ws_decoder_reserve(struct ws_decoder *d, size_t n)
{
	struct ws_decoder_part *p = d->part, *grown;
	size_t want = (size_t)p->msg_len + n;
	size_t cap = p->msg_cap ? p->msg_cap : WS_MSG_MIN_CAP;
	uint64_t left = p->frame.len - p->frame.done;

	if (want <= p->msg_cap)
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
	if (p->frame.fin && cap - p->msg_len > left)
		cap = p->msg_len + (size_t)left;
	if (cap > SIZE_MAX - sizeof *grown)
		return WS_ERR_NOMEM;
	grown = jsonmem_malloc(sizeof *grown + cap);
	if (!grown)
		return WS_ERR_NOMEM;
	memcpy(grown, p, offsetof(struct ws_decoder_part, msg) + p->msg_len);
	grown->msg_cap = (uint32_t)cap;
	jsonmem_free(p);
	d->part = grown;
	return WS_MORE;
}

/* Keeps the frame whose header was just read in the part: its payload is
 * not all in this input, or it is a fragment. */
static enum ws_result ws_decoder_hold(struct ws_decoder *d, const struct ws_frame *f)
{
	struct ws_decoder_part *p = ws_decoder_get_part(d);

	if (!p)
		return WS_ERR_NOMEM;
	p->frame = *f;
	p->in_payload = true;
	if (ws_opcode_is_control(f->opcode)) {
		p->ctrl_len = 0;
	} else if (f->opcode != WS_OPCODE_CONT) {
		p->utf8_state = WS_UTF8_ACCEPT;
		p->msg_len = 0;
		if (!f->fin)
			p->msg_opcode = f->opcode;
	}
	return WS_MORE;
}

/* Reads payload bytes of the frame held in the part.  Returns WS_EVENT when
 * the frame completes a message or is a control frame, WS_MORE when the
 * input ran out or a non-final fragment ended, or an error. */
static enum ws_result ws_decoder_payload(struct ws_decoder *d, uint8_t *in, size_t len,
					 size_t *pos, struct ws_event *ev)
{
	struct ws_decoder_part *p = d->part;
	size_t avail = len - *pos;
	uint64_t left = p->frame.len - p->frame.done;
	size_t n = avail < left ? avail : (size_t)left;
	uint8_t opcode = p->frame.opcode;
	bool control = ws_opcode_is_control(opcode);
	enum ws_result r;

	if (ws_frame_in_place(&p->frame, avail)) {
		/* Its header ended the previous feed; the payload came whole. */
		uint8_t mask[WS_MASK_BYTES];

		memcpy(mask, p->frame.mask, WS_MASK_BYTES);
		return ws_decoder_in_place(d, opcode, mask, in + *pos, n, pos, ev);
	}
	if (n > 0 && control) {
		ws_unmask(p->ctrl + p->ctrl_len, in + *pos, n, p->frame.mask, p->frame.done);
		p->ctrl_len += (uint8_t)n; /* frame.len <= 125 */
	} else if (n > 0) {
		uint8_t *dst;

		/* An unfragmented frame cut by the end of a feed: from its first
		 * copied byte on, msg[] holds a message in progress. */
		if (p->msg_opcode == 0)
			p->msg_opcode = opcode;
		r = ws_decoder_reserve(d, n);
		if (r != WS_MORE)
			return r;
		p = d->part; /* it may have moved */
		dst = p->msg + p->msg_len;
		ws_unmask(dst, in + *pos, n, p->frame.mask, p->frame.done);
		/* Check text as it arrives: a bad byte fails now, not after
		 * the rest of a large message. */
		if (p->msg_opcode == WS_OPCODE_TEXT && !ws_utf8_feed(&p->utf8_state, dst, n))
			return WS_ERR_UTF8;
		p->msg_len += (uint32_t)n;
	}
	*pos += n;
	p->frame.done += n;
	if (p->frame.done < p->frame.len)
		return WS_MORE;

	p->in_payload = false;
	if (control)
		return ws_decoder_control(opcode, p->ctrl, p->ctrl_len, ev);
	if (!p->frame.fin)
		return WS_MORE;
	/* The message is complete: msg[] is delivered now, and the part freed
	 * on the next call. */
	opcode = p->msg_opcode;
	p->msg_opcode = 0;
	if (opcode == WS_OPCODE_TEXT && p->utf8_state != WS_UTF8_ACCEPT)
		return WS_ERR_UTF8; /* the text ends inside a sequence */
	ev->opcode = (enum ws_opcode)opcode;
	ev->data = p->msg; /* an empty message too: it points into the part */
	ev->len = p->msg_len;
	ev->close_code = 0;
	return WS_EVENT;
}

/* Reads the payload of the frame whose header <f> was just read from this
 * input: from the input if it is all there, else through the part. */
static enum ws_result ws_decoder_frame(struct ws_decoder *d, const struct ws_frame *f,
				       uint8_t *in, size_t len, size_t *pos, struct ws_event *ev)
{
	enum ws_result r;

	if (ws_frame_in_place(f, len - *pos))
		return ws_decoder_in_place(d, f->opcode, f->mask, in + *pos, (size_t)f->len, pos, ev);
	r = ws_decoder_hold(d, f);
	if (r != WS_MORE)
		return r;
	return ws_decoder_payload(d, in, len, pos, ev);
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
		if (d->part && d->part->in_payload) {
			r = ws_decoder_payload(d, in, len, &pos, ev);
		} else {
			struct ws_frame f;
			bool complete;

			if (pos == len) {
				r = WS_MORE;
				break;
			}
			r = ws_decoder_header(d, in, len, &pos, &f, &complete);
			if (r != WS_MORE || !complete)
				break;
			r = ws_decoder_frame(d, &f, in, len, &pos, ev);
		}
		/* Stop at an event or error, or when the frame is unfinished
		 * (the input is used up); go on after a finished fragment. */
		if (r != WS_MORE || (d->part && d->part->in_payload))
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
