/* fuzz_packet.c - libFuzzer target for the Socket.IO packet codec (packet.c).
 *
 * Input: one byte choosing the reader's max_bytes (below 0x40: that times
 * 8, else no limit), then messages, each a byte <kind> and its bytes: bit 7
 * of <kind> says binary, the low 7 bits the length, 126 meaning "the next
 * two bytes give it (big-endian)" and 127 "the rest of the input"; a length
 * past the end is cut to the rest.  Each message is fed from a malloc'd block of exactly its
 * size (so ASan sees any over-read), freed right after the call unless a
 * text packet borrows from it.
 *
 * Beyond not crashing, it checks after every feed: the result is one of
 * the table's; an error sticks and frees everything; PACKET_MORE exactly
 * while a binary packet is pending; the reader points at a binary packet's
 * state exactly while it holds one and at a text packet's data exactly
 * while it holds that; unexpected text and binary exactly
 * when the reference would say so; and for each packet delivered: the type,
 * a namespace that starts with '/' and holds no ',', an ack id up to
 * 2^53 - 1, 1 to 10 attachments equal to the bytes fed (none for text
 * types), json lying inside the message it came from, data present exactly
 * when json is, the payload shape of its type, header plus attachments
 * within max_bytes.  Then header and json are encoded again and decoded on
 * a fresh reader (with the attachments): the same fields must come back.
 * LeakSanitizer checks that cleanup frees everything.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc/codec tests/fuzz/fuzz_packet.c
 *        src/codec/packet.c -ljansson -o /tmp/fuzz_packet
 * Seeds: tests/fuzz/corpus/packet/ (the unit tests' vectors in this format).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"

#define FUZZ_PACKET_CHECK(cond)                                               \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

#define FUZZ_PACKET_ACK_MAX INT64_C(9007199254740991)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One message of the input: where it lies in the fuzzer's buffer. */
struct fuzz_packet_msg {
	bool binary;
	const uint8_t *bytes;
	size_t len;
};

static uint8_t *fuzz_packet_copy(const uint8_t *bytes, size_t len)
{
	uint8_t *p = malloc(len != 0 ? len : 1);

	FUZZ_PACKET_CHECK(p != NULL);
	if (len != 0)
		memcpy(p, bytes, len);
	return p;
}

static bool fuzz_packet_within(const void *p, size_t len, const void *base, size_t base_len)
{
	const uint8_t *q = p, *b = base;

	return q >= b && len <= base_len && (size_t)(q - b) <= base_len - len;
}

static bool fuzz_packet_is_result(enum packet_result r)
{
	switch (r) {
#define FUZZ_PACKET_CASE(name, value, text) case name:
		PACKET_RESULT_MAP(FUZZ_PACKET_CASE)
#undef FUZZ_PACKET_CASE
		return true;
	}
	return false;
}

/* The payload shapes of packet.h, checked independently of packet.c. */
static void fuzz_packet_check_shape(const struct packet *p)
{
	const json_t *d = p->data, *name;

	switch (p->type) {
	case PACKET_CONNECT:
		FUZZ_PACKET_CHECK(d == NULL || json_is_object(d));
		break;
	case PACKET_DISCONNECT:
		FUZZ_PACKET_CHECK(d == NULL);
		break;
	case PACKET_EVENT:
	case PACKET_BINARY_EVENT:
		FUZZ_PACKET_CHECK(json_is_array(d) && json_array_size(d) > 0);
		name = json_array_get(d, 0);
		FUZZ_PACKET_CHECK(json_is_number(name) ||
				  (json_is_string(name) &&
				   !packet_event_is_reserved(json_string_value(name),
							     json_string_length(name))));
		break;
	case PACKET_ACK:
	case PACKET_BINARY_ACK:
		FUZZ_PACKET_CHECK(json_is_array(d));
		break;
	case PACKET_CONNECT_ERROR:
		FUZZ_PACKET_CHECK(json_is_object(d) || json_is_string(d));
		break;
	default:
		abort();
	}
}

/* Fields two decodings of one packet must share. */
static void fuzz_packet_check_same(const struct packet *a, const struct packet *b)
{
	FUZZ_PACKET_CHECK(a->type == b->type);
	FUZZ_PACKET_CHECK(a->nsp_len == b->nsp_len && memcmp(a->nsp, b->nsp, a->nsp_len) == 0);
	FUZZ_PACKET_CHECK(a->ack_id == b->ack_id);
	FUZZ_PACKET_CHECK(a->n_attachments == b->n_attachments);
	FUZZ_PACKET_CHECK(a->json_len == b->json_len);
	FUZZ_PACKET_CHECK(a->json_len == 0 || memcmp(a->json, b->json, a->json_len) == 0);
	FUZZ_PACKET_CHECK((a->data == NULL) == (b->data == NULL));
	FUZZ_PACKET_CHECK(a->data == NULL || json_equal(a->data, b->data));
	for (unsigned i = 0; i < a->n_attachments; i++) {
		FUZZ_PACKET_CHECK(a->attachment_lens[i] == b->attachment_lens[i]);
		FUZZ_PACKET_CHECK(a->attachment_lens[i] == 0 ||
				  memcmp(a->attachments[i], b->attachments[i], a->attachment_lens[i]) == 0);
	}
}

/* Encodes *<p> again and decodes it on a fresh reader. */
static void fuzz_packet_check_round_trip(const struct packet *p)
{
	size_t cap = PACKET_HEADER_MAX(p->nsp_len) + p->json_len;
	uint8_t *text = malloc(cap);
	struct packet_reader r;
	struct packet q;
	enum packet_result res;
	size_t hlen;

	FUZZ_PACKET_CHECK(text != NULL);
	hlen = packet_encode_header((char *)text, cap, p->type, p->n_attachments, p->nsp, p->nsp_len,
				    p->ack_id);
	FUZZ_PACKET_CHECK(hlen != 0 && hlen < PACKET_HEADER_MAX(p->nsp_len));
	if (p->json_len != 0)
		memcpy(text + hlen, p->json, p->json_len);

	packet_reader_init(&r, SIZE_MAX);
	res = packet_reader_feed(&r, false, text, hlen + p->json_len, &q);
	for (unsigned i = 0; i < p->n_attachments; i++) {
		FUZZ_PACKET_CHECK(res == PACKET_MORE);
		res = packet_reader_feed(&r, true, p->attachments[i], p->attachment_lens[i], &q);
	}
	FUZZ_PACKET_CHECK(res == PACKET_OK);
	fuzz_packet_check_same(p, &q);
	packet_reader_cleanup(&r);
	free(text);
}

/* A delivered packet.  <msgs> from <header> on are its messages. */
static void fuzz_packet_check_packet(const struct packet *p, const struct packet_reader *r,
				     const struct fuzz_packet_msg *msgs, size_t header,
				     size_t n_msgs, const uint8_t *text_copy)
{
	size_t bytes = msgs[header].len;

	FUZZ_PACKET_CHECK(p->type >= PACKET_CONNECT && p->type <= PACKET_BINARY_ACK);
	FUZZ_PACKET_CHECK(p->nsp != NULL && p->nsp_len >= 1 && p->nsp[0] == '/');
	FUZZ_PACKET_CHECK(memchr(p->nsp, ',', p->nsp_len) == NULL);
	FUZZ_PACKET_CHECK(p->ack_id == PACKET_NO_ACK ||
			  (p->ack_id >= 0 && p->ack_id <= FUZZ_PACKET_ACK_MAX));
	FUZZ_PACKET_CHECK(p->n_attachments <= PACKET_MAX_ATTACHMENTS);
	FUZZ_PACKET_CHECK((p->data == NULL) == (p->json_len == 0));
	FUZZ_PACKET_CHECK(p->json != NULL);
	/* The header's first byte is its type; the payload never starts with
	 * whitespace (the reference reads that as an ack id). */
	FUZZ_PACKET_CHECK(msgs[header].bytes[0] == '0' + (int)p->type);
	if (p->json_len != 0)
		FUZZ_PACKET_CHECK(memchr(" \t\r\n", p->json[0], 4) == NULL);

	if (p->type == PACKET_BINARY_EVENT || p->type == PACKET_BINARY_ACK) {
		FUZZ_PACKET_CHECK(text_copy == NULL);
		FUZZ_PACKET_CHECK(p->n_attachments >= 1 && n_msgs - header - 1 == p->n_attachments);
		/* The json is the header's tail, read from the reader's copy
		 * (the caller's is freed: ASan catches a borrowed pointer). */
		FUZZ_PACKET_CHECK(p->json_len <= msgs[header].len &&
				  memcmp(p->json, msgs[header].bytes + msgs[header].len - p->json_len,
					 p->json_len) == 0);
		FUZZ_PACKET_CHECK(r->binary != NULL && r->delivered == NULL);
		for (unsigned i = 0; i < p->n_attachments; i++) {
			const struct fuzz_packet_msg *m = &msgs[header + 1 + i];

			FUZZ_PACKET_CHECK(m->binary && p->attachments[i] != NULL);
			FUZZ_PACKET_CHECK(p->attachment_lens[i] == m->len);
			FUZZ_PACKET_CHECK(m->len == 0 || memcmp(p->attachments[i], m->bytes, m->len) == 0);
			bytes += m->len;
		}
	} else {
		FUZZ_PACKET_CHECK(text_copy != NULL && n_msgs - header == 1);
		FUZZ_PACKET_CHECK(p->n_attachments == 0);
		FUZZ_PACKET_CHECK(fuzz_packet_within(p->json, p->json_len, text_copy, msgs[header].len));
		/* The json is the message's tail. */
		FUZZ_PACKET_CHECK(p->json + p->json_len == text_copy + msgs[header].len);
		FUZZ_PACKET_CHECK(r->delivered == p->data && r->binary == NULL);
	}
	for (unsigned i = p->n_attachments; i < PACKET_MAX_ATTACHMENTS; i++)
		FUZZ_PACKET_CHECK(p->attachments[i] == NULL && p->attachment_lens[i] == 0);
	FUZZ_PACKET_CHECK(bytes <= r->max_bytes);
	fuzz_packet_check_shape(p);
	fuzz_packet_check_round_trip(p);
}

/* Splits the input into messages; returns how many (at most <cap>). */
static size_t fuzz_packet_split(const uint8_t *data, size_t size, struct fuzz_packet_msg *msgs,
				size_t cap)
{
	size_t n = 0, pos = 0;

	while (pos < size && n < cap) {
		uint8_t kind = data[pos++];
		size_t len = kind & 0x7f;

		if (len == 0x7e && size - pos >= 2) {
			len = (size_t)data[pos] << 8 | data[pos + 1];
			pos += 2;
		}
		if (len == 0x7f || len > size - pos)
			len = size - pos;
		msgs[n++] = (struct fuzz_packet_msg){ (kind & 0x80) != 0, data + pos, len };
		pos += len;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_packet_msg msgs[256];
	struct packet_reader r;
	struct packet p;
	size_t n_msgs, header = 0, max_bytes, n_ok = 0;
	enum packet_result failed = PACKET_OK;
	bool pending = false;

	if (size == 0)
		return 0;
	max_bytes = data[0] < 0x40 ? (size_t)data[0] * 8 : SIZE_MAX;
	n_msgs = fuzz_packet_split(data + 1, size - 1, msgs, sizeof(msgs) / sizeof(msgs[0]));

	packet_reader_init(&r, max_bytes);
	for (size_t i = 0; i < n_msgs; i++) {
		const struct fuzz_packet_msg *m = &msgs[i];
		uint8_t *copy = fuzz_packet_copy(m->bytes, m->len);
		bool was_pending = pending;
		enum packet_result res;

		memset(&p, 0, sizeof(p));
		res = packet_reader_feed(&r, m->binary, copy, m->len, &p);
		FUZZ_PACKET_CHECK(fuzz_packet_is_result(res));
		if (failed != PACKET_OK) {
			FUZZ_PACKET_CHECK(res == failed && r.failed == failed);
			free(copy);
			continue;
		}
		if (!was_pending && !m->binary)
			header = i;
		if (m->binary && !was_pending)
			FUZZ_PACKET_CHECK(res == PACKET_ERR_UNEXPECTED_BINARY);
		if (!m->binary && was_pending)
			FUZZ_PACKET_CHECK(res == PACKET_ERR_UNEXPECTED_TEXT);
		if (res == PACKET_ERR_UNEXPECTED_BINARY)
			FUZZ_PACKET_CHECK(m->binary && !was_pending);
		if (res == PACKET_ERR_UNEXPECTED_TEXT)
			FUZZ_PACKET_CHECK(!m->binary && was_pending);
		pending = res == PACKET_MORE;
		if (pending)
			FUZZ_PACKET_CHECK((m->binary || m->bytes[0] == '5' || m->bytes[0] == '6') &&
					  r.binary != NULL && r.delivered == NULL);

		if (res < 0) {
			failed = res;
			FUZZ_PACKET_CHECK(r.failed == res);
			/* A failed reader holds nothing. */
			FUZZ_PACKET_CHECK(r.binary == NULL && r.delivered == NULL);
		} else if (res == PACKET_OK) {
			fuzz_packet_check_packet(&p, &r, msgs, header, i + 1,
						 m->binary ? NULL : copy);
			/* Alternate between giving the packet back at once and
			 * leaving it to the next feed. */
			if (++n_ok % 2 == 0) {
				packet_reader_done(&r);
				FUZZ_PACKET_CHECK(r.binary == NULL && r.delivered == NULL);
			}
		}
		free(copy);
	}
	packet_reader_cleanup(&r);
	return 0;
}
