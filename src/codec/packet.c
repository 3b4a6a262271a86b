/* packet.c - Socket.IO protocol 5 packet codec (see packet.h).
 *
 * Owns the text form of a Socket.IO packet, `<type>[<n>-][<nsp>,][<ack
 * id>][<JSON>]`, and the reassembly of a BINARY_EVENT / BINARY_ACK from its
 * header and attachments (doc/protocol.md, "Socket.IO text form" and
 * "Binary attachments").  Does not own what a
 * packet means (namespaces, acks, CONNECT state belong to the server side),
 * Engine.IO framing (eio.c, ws.c), nor the replacement of placeholders by
 * attachments: the reader only checks that every placeholder names one.
 *
 * Flow: a text message is parsed in place and returned at once, its nsp and
 * json pointing into the caller's bytes; the reader keeps only its parsed
 * data.  A binary header is copied (the caller's buffer is gone after the
 * call) into a struct packet_binary allocated for it, and parsed from the
 * copy; each following binary message is copied as one attachment; after
 * the last one the placeholders are checked and the packet is returned.
 * The previous packet's memory is given back at the start of the next
 * feed, in packet_reader_done() and in packet_reader_cleanup(); a failed
 * reader gives it back at once.
 *
 * Idle memory: every client embeds a reader and nearly all of them sit
 * between packets, so the reader itself is 32 bytes (the limit, the sticky
 * error and two pointers, asserted below) and the 320 bytes of a binary
 * packet's state (the packet, attachment pointers and counts, with the
 * header copy in the same block) exist only from a BINARY_* header until
 * that packet is given back.  Binary packets are rare next to text ones,
 * so the extra allocation per binary packet is the cheaper side.
 *
 * Limits: max_bytes over the header plus all attachments of one packet;
 * 1..PACKET_MAX_ATTACHMENTS attachments; ack ids up to 2^53 - 1; JSON
 * nesting up to jansson's JSON_PARSER_MAX_DEPTH (2048), which also bounds
 * the recursion of the placeholder walk; the parsed form of a payload at
 * most jsonmem_budget() of its length (max_json_expansion).
 *
 * Strict by default (doc/protocol.md, "Socket.IO text form").
 * socket.io-parser 4.2.7 tests
 * "is a digit" with `Number(c) == c`, which whitespace passes too, and
 * reads the type and the attachment count with Number().  We copy none of
 * what follows from that; refused here, accepted there:
 * - whitespace where an ack id or the payload starts (`2 ["x"]` is ack id
 *   0 there): invalid payload;
 * - an empty message, or whitespace as the type (Number() gives 0,
 *   CONNECT): unknown type;
 * - an attachment count that is not plain decimal digits (` 1`, `1.0`,
 *   `1e1`, `0x1`, `+1`): illegal attachments;
 * - an ack id past 2^53 - 1 (rounded there): invalid payload;
 * - EVENT, ACK and CONNECT_ERROR without a payload (`2`, `2/x`, `31`: the
 *   shape is checked there only when there is one): invalid payload;
 * - a placeholder num that is not an integer (`0.5` gives undefined there):
 *   illegal attachments.
 * PACKET_ERR_NSP is never returned: as there, text after the type that
 * does not start with `/` is not a namespace but the payload, so `0admin,`
 * is invalid payload.
 *
 * JSON: one value, as JSON.parse takes it (whitespace around it allowed,
 * except where it starts the payload; trailing bytes refused; \u0000
 * allowed in strings; a duplicate key keeps the last value).  Where
 * jansson 2.14 and JSON.parse differ:
 * - Integers past the int64 range: JSON.parse gives a double, jansson
 *   fails.  JSON.stringify writes numbers from 2^63 up to 1e21 as plain
 *   digits (2 ** 64 is `18446744073709552000`), so real clients send them:
 *   on that error the payload is parsed again with JSON_DECODE_INT_AS_REAL,
 *   and every number of that packet is then a json real, with the value
 *   JavaScript sees.
 * - Lone surrogates: JSON.stringify escapes a string holding one (a sliced
 *   emoji) as `"\ud83d"`; JSON.parse accepts it, jansson refuses it
 *   ("invalid Unicode"; its strings are UTF-8, which cannot hold one).  Not
 *   worked around: such a packet is invalid payload and the client's
 *   connection is closed.
 * - `\u0000` in an object key: JSON.parse accepts it, jansson refuses it
 *   (its keys are C strings).  Refused.
 * - Reals past the double range (`1e400`): JSON.parse gives Infinity,
 *   jansson fails.  JSON.stringify never writes one (Infinity is null).
 * - Nesting deeper than 2048: V8 parses it, jansson stops.  Refused.
 * - Invalid UTF-8: jansson refuses it.  It does not arrive: ws.c refuses
 *   such text frames and eio.c repairs polling bodies as Node does.
 *
 * Memory: every allocation, jansson's and ours, goes through jansson's
 * allocator (json_get_alloc_funcs()), so one hook sees, counts and fails
 * all of a packet's memory, as the unit tests do.  JSON is parsed by
 * jsonmem_load(), under a budget of bytes per byte of text: past it the
 * packet is PACKET_ERR_JSON_BUDGET.  A delivered text packet's tree is
 * given back once the caller is done with it; a binary packet's tree is
 * dropped as soon as its header is checked and built again when its last
 * attachment arrives, so a packet waiting for attachments holds its copied
 * bytes only (max_bytes).  jansson 2.14's loader
 * sets no error when an allocation fails, which is how PACKET_ERR_NOMEM is
 * told from a syntax error; a failure inside its string scanner still
 * reads as a syntax error (invalid payload).  Worse, it ignores a failed
 * growth of its token buffer (lex_save() in load.c): out of memory, a
 * token of 16 bytes or more can lose a byte and parse as another value
 * (the unit tests saw 18446744073709552000 become 1844674407370952000).
 * Not worked around.
 */
#include <stdlib.h>
#include <string.h>

#include "jsonmem.h"
#include "packet.h"

/* Ack ids are JavaScript numbers: larger ones would lose precision. */
#define PACKET_ACK_ID_MAX INT64_C(9007199254740991)

static const char packet_default_nsp[] = "/";

/* Where a zero-length attachment points: callers may pass it to memcpy(). */
static const uint8_t packet_empty[1];

/* socket.io-parser's RESERVED_EVENTS
 * (doc/protocol.md, "Reserved event names"). */
static const struct packet_name {
	const char *name;
	size_t len;
} packet_reserved_events[] = {
#define PACKET_NAME(s) { s, sizeof(s) - 1 }
	PACKET_NAME("connect"),
	PACKET_NAME("connect_error"),
	PACKET_NAME("disconnect"),
	PACKET_NAME("disconnecting"),
	PACKET_NAME("newListener"),
	PACKET_NAME("removeListener"),
#undef PACKET_NAME
};

const char *packet_result_text(enum packet_result r)
{
	switch (r) {
#define PACKET_RESULT_TEXT(name, value, text) \
	case name:                            \
		return text;
		PACKET_RESULT_MAP(PACKET_RESULT_TEXT)
#undef PACKET_RESULT_TEXT
	}
	return "unknown result";
}

bool packet_event_is_reserved(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(packet_reserved_events) / sizeof(packet_reserved_events[0]); i++) {
		const struct packet_name *n = &packet_reserved_events[i];

		if (n->len == len && memcmp(n->name, name, len) == 0)
			return true;
	}
	return false;
}

static bool packet_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* JSON's four whitespace bytes (RFC 8259 section 2). */
static bool packet_is_json_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses one JSON value under the budget (jsonmem.h). */
static enum packet_result packet_parse_json(const uint8_t *text, size_t len, json_t **out)
{
	switch (jsonmem_load(text, len, 0, out)) {
	case JSONMEM_OK: return PACKET_OK;
	case JSONMEM_ERR_NOMEM: return PACKET_ERR_NOMEM;
	case JSONMEM_ERR_BUDGET: return PACKET_ERR_JSON_BUDGET;
	case JSONMEM_ERR_SYNTAX: break;
	}
	return PACKET_ERR_PAYLOAD;
}

/* socket.io-parser's isPayloadValid(), with a payload required where the
 * type's shape needs one (see the top of the file).  <data> is NULL when
 * the packet has no payload. */
static bool packet_payload_fits(enum packet_type type, const json_t *data)
{
	const json_t *name;

	switch (type) {
	case PACKET_CONNECT:
		return data == NULL || json_is_object(data);
	case PACKET_DISCONNECT:
		return data == NULL;
	case PACKET_EVENT:
	case PACKET_BINARY_EVENT:
		if (!json_is_array(data))
			return false;
		/* NULL for an empty array, which is then neither. */
		name = json_array_get(data, 0);
		if (json_is_number(name))
			return true;
		return json_is_string(name) &&
		       !packet_event_is_reserved(json_string_value(name), json_string_length(name));
	case PACKET_ACK:
	case PACKET_BINARY_ACK:
		return json_is_array(data);
	case PACKET_CONNECT_ERROR:
		return json_is_object(data) || json_is_string(data);
	}
	return false;
}

/* Parses the text packet <s>/<len> into *<p>, which then borrows from <s>;
 * p->data is set (and owned by the caller) even when the shape check
 * fails.  Follows socket.io-parser's decodeString(), step by step. */
static enum packet_result packet_parse(const uint8_t *s, size_t len, struct packet *p)
{
	size_t i = 1;
	enum packet_result res;

	if (len == 0 || s[0] < '0' || s[0] > '6')
		return PACKET_ERR_TYPE;
	p->type = (enum packet_type)(s[0] - '0');
	p->ack_id = PACKET_NO_ACK;

	if (p->type == PACKET_BINARY_EVENT || p->type == PACKET_BINARY_ACK) {
		unsigned n = 0;

		/* Saturates past the limit so a long run cannot wrap around.
		 * No digits at all leaves n at 0, illegal like a written 0. */
		for (; i < len && packet_is_digit(s[i]); i++)
			n = n > PACKET_MAX_ATTACHMENTS ? n : n * 10 + (unsigned)(s[i] - '0');
		if (i == len || s[i] != '-' || n == 0)
			return PACKET_ERR_ATTACHMENTS;
		if (n > PACKET_MAX_ATTACHMENTS)
			return PACKET_ERR_TOO_MANY_ATTACHMENTS;
		p->n_attachments = n;
		i++;
	}

	/* The namespace runs to the first ',' or, without one, to the end. */
	if (i < len && s[i] == '/') {
		const uint8_t *comma = memchr(s + i, ',', len - i);
		size_t end = comma != NULL ? (size_t)(comma - s) : len;

		p->nsp = (const char *)s + i;
		p->nsp_len = end - i;
		i = comma != NULL ? end + 1 : len;
	} else {
		p->nsp = packet_default_nsp;
		p->nsp_len = 1;
	}

	if (i < len && packet_is_digit(s[i])) {
		int64_t id = 0;

		for (; i < len && packet_is_digit(s[i]); i++) {
			id = id * 10 + (s[i] - '0');
			if (id > PACKET_ACK_ID_MAX)
				return PACKET_ERR_PAYLOAD;
		}
		p->ack_id = id;
	}

	p->json = s + i;
	p->json_len = len - i;
	if (i < len) {
		/* The reference reads leading whitespace as an ack id. */
		if (packet_is_json_space(s[i]))
			return PACKET_ERR_PAYLOAD;
		res = packet_parse_json(p->json, p->json_len, &p->data);
		if (res != PACKET_OK)
			return res;
	}
	return packet_payload_fits(p->type, p->data) ? PACKET_OK : PACKET_ERR_PAYLOAD;
}

/* socket.io-parser's _reconstructPacket() without the replacing: every
 * object whose `_placeholder` is true must have an integral `num` in
 * 0..<n>-1, and such an object is not looked into.  Recursion is bounded
 * by jansson's parsing depth. */
static bool packet_placeholders_fit(const json_t *v, unsigned n)
{
	const char *key;
	json_t *child;
	size_t index;

	if (json_is_object(v)) {
		if (json_is_true(json_object_get(v, "_placeholder"))) {
			const json_t *num = json_object_get(v, "num");

			if (json_is_integer(num))
				return json_integer_value(num) >= 0 &&
				       json_integer_value(num) < (json_int_t)n;
			/* A real here comes from JSON_DECODE_INT_AS_REAL or a
			 * `0.0`; the bounds go first so the cast is defined. */
			if (json_is_real(num)) {
				double d = json_real_value(num);

				return d >= 0 && d < n && (double)(unsigned)d == d;
			}
			return false;
		}
		json_object_foreach((json_t *)v, key, child)
			if (!packet_placeholders_fit(child, n))
				return false;
	} else if (json_is_array(v)) {
		json_array_foreach(v, index, child)
			if (!packet_placeholders_fit(child, n))
				return false;
	}
	return true;
}

/* A binary packet, from its header until the packet after it: one block,
 * the header copy at its end.  packet.nsp and packet.json point into
 * <header>, packet.attachments[k] at blobs[k] (or packet_empty), and
 * packet.data is owned here. */
struct packet_binary {
	struct packet packet;
	uint8_t *blobs[PACKET_MAX_ATTACHMENTS]; /* heap copies of received attachments */
	unsigned n_received;
	size_t bytes;                  /* header + attachments received so far */
	uint8_t header[];              /* the header as sent */
};

_Static_assert(sizeof(struct packet_reader) <= 32,
	       "the reader is embedded in every client: keep it small");

/* A binary packet waits for attachments (once delivered, all have come). */
static bool packet_reader_pending(const struct packet_reader *r)
{
	return r->binary != NULL && r->binary->n_received < r->binary->packet.n_attachments;
}

/* Gives back everything the last packet held; keeps max_bytes and the
 * sticky error. */
static void packet_reader_release(struct packet_reader *r)
{
	struct packet_binary *b = r->binary;

	json_decref(r->delivered);
	r->delivered = NULL;
	if (b == NULL)
		return;
	for (unsigned i = 0; i < b->n_received; i++)
		jsonmem_free(b->blobs[i]);
	json_decref(b->packet.data);
	jsonmem_free(b);
	r->binary = NULL;
}

static enum packet_result packet_reader_fail(struct packet_reader *r, enum packet_result res)
{
	packet_reader_release(r);
	r->failed = res;
	return res;
}

void packet_reader_init(struct packet_reader *r, size_t max_bytes)
{
	memset(r, 0, sizeof(*r));
	r->max_bytes = max_bytes;
	r->failed = PACKET_OK;
}

void packet_reader_cleanup(struct packet_reader *r)
{
	packet_reader_release(r);
}

void packet_reader_done(struct packet_reader *r)
{
	if (!packet_reader_pending(r))
		packet_reader_release(r);
}

/* A text packet other than BINARY_*: parsed in place, only its data kept. */
static enum packet_result packet_reader_text(struct packet_reader *r, const uint8_t *data,
					     size_t len, struct packet *out)
{
	struct packet p;
	enum packet_result res;

	memset(&p, 0, sizeof(p));
	res = packet_parse(data, len, &p);
	if (res != PACKET_OK) {
		json_decref(p.data);
		return res;
	}
	r->delivered = p.data;
	*out = p;
	return PACKET_OK;
}

/* A BINARY_* header: parsed from a copy that lives until the packet's
 * successor, since nsp and json point into it. */
static enum packet_result packet_reader_start_binary(struct packet_reader *r,
						     const uint8_t *data, size_t len)
{
	struct packet_binary *b;
	enum packet_result res;

	if (len > SIZE_MAX - sizeof(*b))
		return PACKET_ERR_NOMEM;
	b = jsonmem_malloc(sizeof(*b) + len);
	if (b == NULL)
		return PACKET_ERR_NOMEM;
	memset(b, 0, sizeof(*b));
	memcpy(b->header, data, len);
	b->bytes = len;
	r->binary = b;
	res = packet_parse(b->header, len, &b->packet);
	/* The tree is many times the header's size and attachments may take
	 * their time: only the header is held, parsed again at the end. */
	json_decref(b->packet.data);
	b->packet.data = NULL;
	return res != PACKET_OK ? res : PACKET_MORE;
}

static enum packet_result packet_reader_add_attachment(struct packet_reader *r,
						       const uint8_t *data, size_t len,
						       struct packet *out)
{
	struct packet_binary *b = r->binary;
	struct packet *p = &b->packet;
	unsigned k = b->n_received;
	enum packet_result res;

	if (len > r->max_bytes - b->bytes)
		return PACKET_ERR_PAYLOAD;
	if (len == 0) {
		p->attachments[k] = packet_empty;
	} else {
		b->blobs[k] = jsonmem_malloc(len);
		if (b->blobs[k] == NULL)
			return PACKET_ERR_NOMEM;
		memcpy(b->blobs[k], data, len);
		p->attachments[k] = b->blobs[k];
	}
	p->attachment_lens[k] = len;
	b->n_received++;
	b->bytes += len;
	if (b->n_received < p->n_attachments)
		return PACKET_MORE;
	res = packet_parse_json(p->json, p->json_len, &p->data);
	if (res != PACKET_OK)
		return res;
	if (!packet_placeholders_fit(p->data, p->n_attachments))
		return PACKET_ERR_ATTACHMENTS;
	*out = *p;
	return PACKET_OK;
}

enum packet_result packet_reader_feed(struct packet_reader *r, bool binary,
				      const uint8_t *data, size_t len, struct packet *out)
{
	enum packet_result res;
	bool pending;

	if (r->failed != PACKET_OK)
		return r->failed;
	pending = packet_reader_pending(r);
	if (!pending)
		packet_reader_release(r);

	if (binary) {
		if (!pending)
			return packet_reader_fail(r, PACKET_ERR_UNEXPECTED_BINARY);
		res = packet_reader_add_attachment(r, data, len, out);
	} else if (pending) {
		res = PACKET_ERR_UNEXPECTED_TEXT;
	} else if (len > r->max_bytes) {
		res = PACKET_ERR_PAYLOAD;
	} else if (len != 0 && (data[0] == '0' + PACKET_BINARY_EVENT ||
				data[0] == '0' + PACKET_BINARY_ACK)) {
		res = packet_reader_start_binary(r, data, len);
	} else {
		res = packet_reader_text(r, data, len, out);
	}
	return res < 0 ? packet_reader_fail(r, res) : res;
}

char *packet_write_decimal(char *end, uint64_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

size_t packet_encode_header(char *out, size_t out_len, enum packet_type type,
			    unsigned n_attachments, const char *nsp, size_t nsp_len,
			    int64_t ack_id)
{
	bool binary = type == PACKET_BINARY_EVENT || type == PACKET_BINARY_ACK;
	bool named = !(nsp_len == 1 && nsp[0] == '/');
	char n_buf[3], ack_buf[16];
	char *n_text = n_buf + sizeof(n_buf), *ack_text = ack_buf + sizeof(ack_buf);
	size_t len = 1, n_len = 0, ack_len = 0;

	if ((unsigned)type > PACKET_BINARY_ACK)
		return 0;
	if (binary) {
		if (n_attachments == 0 || n_attachments > PACKET_MAX_ATTACHMENTS)
			return 0;
		n_text = packet_write_decimal(n_text, n_attachments);
		n_len = (size_t)(n_buf + sizeof(n_buf) - n_text);
		len += n_len + 1;
	}
	/* The decoder would split a namespace at its ',' or read one without
	 * '/' as payload: neither can be written. */
	if (named) {
		if (nsp_len == 0 || nsp[0] != '/' || memchr(nsp, ',', nsp_len) != NULL)
			return 0;
		len += nsp_len + 1;
	}
	if (ack_id != PACKET_NO_ACK) {
		if (ack_id < 0 || ack_id > PACKET_ACK_ID_MAX)
			return 0;
		ack_text = packet_write_decimal(ack_text, (uint64_t)ack_id);
		ack_len = (size_t)(ack_buf + sizeof(ack_buf) - ack_text);
		len += ack_len;
	}
	if (len >= out_len)
		return 0;

	char *o = out;

	*o++ = (char)('0' + type);
	if (binary) {
		memcpy(o, n_text, n_len);
		o += n_len;
		*o++ = '-';
	}
	if (named) {
		memcpy(o, nsp, nsp_len);
		o += nsp_len;
		*o++ = ',';
	}
	memcpy(o, ack_text, ack_len);
	o += ack_len;
	*o = '\0';
	return len;
}
