/* fuzz_adapter.c - libFuzzer target for the redis-adapter wire format
 * (adapter.c).
 *
 * Input: one message, given whole (from a malloc'd block of exactly its
 * size, so ASan sees any over-read) to each of the four readers: as a
 * broadcast, as a request (JSON when it starts with '{'), as a packet's
 * data and as a backend's msgpack reply.
 *
 * Beyond not crashing, it checks: every result is one of the table's; a
 * failed decode leaves its struct empty; what a decode borrows lies in the
 * input (JSON requests: in their parsed root); room lists are NULL exactly
 * when empty; a broadcast's packet type is 2 or 5 and a request's type
 * 0..9; a converted payload is NUL-terminated text that jansson parses
 * (unless a key holds \u0000, which jansson refuses), with no more
 * attachments than placeholders and each attachment inside the input.
 * Then round trips: a decoded broadcast is encoded again from its parsed
 * JSON and decoded to the same uid, namespace, rooms, except and flags;
 * its data, converted, encoded and converted once more, is a fixed point
 * (the first pass may fold repeated keys), and without attachments
 * adapter_payload_from_json() gives that same text; a payload encoded as a
 * BROADCAST_ACK decodes as one; a reply's sid lies in the input and its
 * args are a checked payload.  LeakSanitizer checks the frees.
 *
 * Build: make fuzz (clang -fsanitize=fuzzer,address,undefined).
 * Seeds: tests/fuzz/corpus/adapter/ (the captured vectors, requests and
 * the unit tests' payloads).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"

#define FUZZ_ADAPTER_CHECK(cond)                                              \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool fuzz_adapter_is_result(enum adapter_result r)
{
	switch (r) {
#define FUZZ_ADAPTER_CASE(name, value, text) case name:
		ADAPTER_RESULT_MAP(FUZZ_ADAPTER_CASE)
#undef FUZZ_ADAPTER_CASE
		return true;
	}
	return false;
}

static bool fuzz_adapter_within(const void *p, size_t len, const void *base, size_t base_len)
{
	const uint8_t *q = p, *b = base;

	return q >= b && len <= base_len && (size_t)(q - b) <= base_len - len;
}

static void fuzz_adapter_check_names(const struct room_name *names, size_t n, const uint8_t *in,
				     size_t len)
{
	FUZZ_ADAPTER_CHECK((names == NULL) == (n == 0));
	for (size_t i = 0; i < n; i++)
		FUZZ_ADAPTER_CHECK(fuzz_adapter_within(names[i].name, names[i].len, in, len));
}

static bool fuzz_adapter_same_names(const struct room_name *a, size_t n_a,
				    const struct room_name *b, size_t n_b)
{
	if (n_a != n_b)
		return false;
	for (size_t i = 0; i < n_a; i++)
		if (a[i].len != b[i].len || memcmp(a[i].name, b[i].name, a[i].len) != 0)
			return false;
	return true;
}

static bool fuzz_adapter_same_str(struct adapter_str a, struct adapter_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.s, b.s, a.len) == 0);
}

/* Parses converted text as adapter.c's readers parse JSON; NULL only when
 * a key holds \u0000, which jansson's keys cannot. */
static json_t *fuzz_adapter_parse(const struct adapter_payload *p)
{
	json_error_t err;
	json_t *v = json_loadb(p->json, p->json_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);

	if (v == NULL && json_error_code(&err) == json_error_numeric_overflow)
		v = json_loadb(p->json, p->json_len,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &err);
	FUZZ_ADAPTER_CHECK(v != NULL || strstr(p->json, "\\u0000") != NULL);
	return v;
}

/* Levels of arrays and objects in <v>. */
static unsigned fuzz_adapter_depth(const json_t *v)
{
	unsigned deepest = 0, d;
	const char *key;
	json_t *child;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
			if ((d = fuzz_adapter_depth(child)) > deepest)
				deepest = d;
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, child)
			if ((d = fuzz_adapter_depth(child)) > deepest)
				deepest = d;
	} else {
		return 0;
	}
	return deepest + 1;
}

/* A converted payload: its text and attachments. */
static void fuzz_adapter_check_payload(const struct adapter_payload *p, const uint8_t *in,
				       size_t len)
{
	unsigned n_placeholders = 0;

	FUZZ_ADAPTER_CHECK(p->json != NULL && p->json[p->json_len] == '\0');
	FUZZ_ADAPTER_CHECK(strlen(p->json) == p->json_len);
	FUZZ_ADAPTER_CHECK(p->n_attachments <= PACKET_MAX_ATTACHMENTS);
	for (const char *s = p->json; (s = strstr(s, "{\"_placeholder\":true,\"num\":")) != NULL;
	     s++)
		n_placeholders++;
	FUZZ_ADAPTER_CHECK(n_placeholders >= p->n_attachments);
	for (unsigned i = 0; i < PACKET_MAX_ATTACHMENTS; i++) {
		if (i < p->n_attachments)
			FUZZ_ADAPTER_CHECK(fuzz_adapter_within(p->attachments[i],
							      p->attachment_lens[i], in, len));
		else
			FUZZ_ADAPTER_CHECK(p->attachments[i] == NULL && p->attachment_lens[i] == 0);
	}
}

/* Encodes <v> as the data of a broadcast into <buf>, with <p>'s
 * attachments, and converts the data back into *<out>, whose attachments
 * then point into <buf>. */
static void fuzz_adapter_reencode(const json_t *v, const struct adapter_payload *p,
				  struct adapter_buf *buf, struct adapter_payload *out)
{
	struct adapter_flags flags = { 0 };
	struct adapter_broadcast b;

	FUZZ_ADAPTER_CHECK(adapter_encode_broadcast(buf, "u", "/", 1, v, p->attachments,
						    p->attachment_lens, p->n_attachments, NULL, 0,
						    NULL, 0, &flags) == 0);
	FUZZ_ADAPTER_CHECK(adapter_decode_broadcast(buf->data, buf->len, &b) == ADAPTER_OK);
	FUZZ_ADAPTER_CHECK(adapter_payload_from_msgpack(b.data, b.data_len, out) == ADAPTER_OK);
	adapter_broadcast_free(&b);
}

/* A plain JSON emit of <v> reads as the same data encoded in a broadcast
 * (<want>) does. */
static void fuzz_adapter_check_from_json(const json_t *v, const struct adapter_payload *want)
{
	struct adapter_payload p;

	FUZZ_ADAPTER_CHECK(adapter_payload_from_json(v, &p) == ADAPTER_OK);
	FUZZ_ADAPTER_CHECK(p.json_len == want->json_len &&
			   memcmp(p.json, want->json, p.json_len) == 0 && p.n_attachments == 0);
	adapter_payload_free(&p);
}

/* conv(encode(parse(text))) is a fixed point after one pass. */
static void fuzz_adapter_check_fixed_point(const struct adapter_payload *p)
{
	struct adapter_buf second_buf = { NULL, 0, 0 }, third_buf = { NULL, 0, 0 };
	struct adapter_payload second, third;
	json_t *v = fuzz_adapter_parse(p), *w;

	if (v == NULL)
		return;
	/* Not a broadcast's data, or too deep to be one: a message adds
	 * two levels around it. */
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    fuzz_adapter_depth(v) > ADAPTER_MAX_DEPTH - 2) {
		json_decref(v);
		return;
	}
	fuzz_adapter_reencode(v, p, &second_buf, &second);
	if (p->n_attachments == 0)
		fuzz_adapter_check_from_json(v, &second);
	w = fuzz_adapter_parse(&second);
	FUZZ_ADAPTER_CHECK(w != NULL);
	fuzz_adapter_reencode(w, &second, &third_buf, &third);
	FUZZ_ADAPTER_CHECK(third.json_len == second.json_len &&
			   memcmp(third.json, second.json, second.json_len) == 0);
	FUZZ_ADAPTER_CHECK(third.n_attachments == second.n_attachments);
	for (unsigned i = 0; i < third.n_attachments; i++)
		FUZZ_ADAPTER_CHECK(third.attachment_lens[i] == second.attachment_lens[i] &&
				   memcmp(third.attachments[i], second.attachments[i],
					  third.attachment_lens[i]) == 0);
	adapter_payload_free(&third);
	adapter_payload_free(&second);
	adapter_buf_free(&third_buf);
	adapter_buf_free(&second_buf);
	json_decref(w);
	json_decref(v);
}

/* Encodes the broadcast again, with its data from the converted text, and
 * decodes it. */
static void fuzz_adapter_check_broadcast_round_trip(const struct adapter_broadcast *b,
						    const struct adapter_payload *p)
{
	struct adapter_buf buf = { NULL, 0, 0 };
	struct adapter_broadcast again;
	char *uid;
	json_t *v;

	if (memchr(b->uid.s, '\0', b->uid.len) != NULL)
		return;                        /* the encoder takes a C string */
	v = fuzz_adapter_parse(p);
	if (v == NULL)
		return;
	uid = malloc(b->uid.len + 1);
	FUZZ_ADAPTER_CHECK(uid != NULL);
	memcpy(uid, b->uid.s, b->uid.len);
	uid[b->uid.len] = '\0';
	FUZZ_ADAPTER_CHECK(adapter_encode_broadcast(&buf, uid, b->nsp.s, b->nsp.len, v,
						    p->attachments, p->attachment_lens,
						    p->n_attachments, b->rooms, b->n_rooms,
						    b->except, b->n_except, &b->flags) == 0);
	FUZZ_ADAPTER_CHECK(adapter_decode_broadcast(buf.data, buf.len, &again) == ADAPTER_OK);
	FUZZ_ADAPTER_CHECK(fuzz_adapter_same_str(again.uid, b->uid));
	FUZZ_ADAPTER_CHECK(fuzz_adapter_same_str(again.nsp, b->nsp));
	FUZZ_ADAPTER_CHECK(again.type == PACKET_EVENT);
	FUZZ_ADAPTER_CHECK(fuzz_adapter_same_names(again.rooms, again.n_rooms, b->rooms,
						   b->n_rooms));
	FUZZ_ADAPTER_CHECK(fuzz_adapter_same_names(again.except, again.n_except, b->except,
						   b->n_except));
	FUZZ_ADAPTER_CHECK(again.flags.is_volatile == b->flags.is_volatile &&
			   again.flags.local == b->flags.local &&
			   again.flags.has_timeout == b->flags.has_timeout &&
			   again.flags.timeout_ms == b->flags.timeout_ms);
	adapter_broadcast_free(&again);
	adapter_buf_free(&buf);
	json_decref(v);
	free(uid);
}

static void fuzz_adapter_broadcast(const uint8_t *in, size_t len)
{
	struct adapter_broadcast b;
	struct adapter_payload p;
	enum adapter_result res = adapter_decode_broadcast(in, len, &b);

	FUZZ_ADAPTER_CHECK(fuzz_adapter_is_result(res));
	if (res != ADAPTER_OK) {
		FUZZ_ADAPTER_CHECK(b.rooms == NULL && b.except == NULL && b.data == NULL);
		return;
	}
	FUZZ_ADAPTER_CHECK(b.type == PACKET_EVENT || b.type == PACKET_BINARY_EVENT);
	FUZZ_ADAPTER_CHECK(fuzz_adapter_within(b.uid.s, b.uid.len, in, len));
	FUZZ_ADAPTER_CHECK(b.nsp.len >= 1);
	FUZZ_ADAPTER_CHECK(fuzz_adapter_within(b.data, b.data_len, in, len) && b.data_len >= 2);
	fuzz_adapter_check_names(b.rooms, b.n_rooms, in, len);
	fuzz_adapter_check_names(b.except, b.n_except, in, len);
	FUZZ_ADAPTER_CHECK(b.flags.timeout_ms == 0 || b.flags.has_timeout);

	res = adapter_payload_from_msgpack(b.data, b.data_len, &p);
	FUZZ_ADAPTER_CHECK(res == ADAPTER_OK || res == ADAPTER_ERR_UNSUPPORTED);
	if (res == ADAPTER_OK) {
		fuzz_adapter_check_payload(&p, b.data, b.data_len);
		fuzz_adapter_check_broadcast_round_trip(&b, &p);
		adapter_payload_free(&p);
	}
	adapter_broadcast_free(&b);
}

static void fuzz_adapter_request(const uint8_t *in, size_t len)
{
	struct adapter_request r;
	struct adapter_payload p;
	enum adapter_result res = adapter_decode_request(in, len, &r);

	FUZZ_ADAPTER_CHECK(fuzz_adapter_is_result(res));
	if (res != ADAPTER_OK) {
		FUZZ_ADAPTER_CHECK(r.root == NULL && r.heap == NULL && r.emit_data == NULL);
		return;
	}
	FUZZ_ADAPTER_CHECK(r.type <= ADAPTER_BROADCAST_ACK);
	FUZZ_ADAPTER_CHECK((r.root != NULL) == (in[0] == '{'));
	if (r.root == NULL) {
		fuzz_adapter_check_names(r.rooms, r.n_rooms, in, len);
		fuzz_adapter_check_names(r.opts_rooms, r.n_opts_rooms, in, len);
		fuzz_adapter_check_names(r.opts_except, r.n_opts_except, in, len);
	}
	FUZZ_ADAPTER_CHECK((r.emit_data != NULL) == (r.type == ADAPTER_SERVER_SIDE_EMIT));
	FUZZ_ADAPTER_CHECK(r.emit_data == NULL || json_is_array(r.emit_data));
	FUZZ_ADAPTER_CHECK((r.data != NULL) == (r.type == ADAPTER_BROADCAST));
	if (r.type >= ADAPTER_BROADCAST_CLIENT_COUNT)
		FUZZ_ADAPTER_CHECK(r.uid.len == 0 && r.heap == NULL);
	if (r.sid.len != 0)
		FUZZ_ADAPTER_CHECK(r.type >= ADAPTER_REMOTE_JOIN &&
				   r.type <= ADAPTER_REMOTE_DISCONNECT && r.heap == NULL);
	if (r.type == ADAPTER_BROADCAST) {
		FUZZ_ADAPTER_CHECK(fuzz_adapter_within(r.data, r.data_len, in, len));
		res = adapter_payload_from_msgpack(r.data, r.data_len, &p);
		FUZZ_ADAPTER_CHECK(res == ADAPTER_OK || res == ADAPTER_ERR_UNSUPPORTED);
		if (res == ADAPTER_OK) {
			fuzz_adapter_check_payload(&p, r.data, r.data_len);
			adapter_payload_free(&p);
		}
	}
	adapter_request_free(&r);
}

/* The payload sent back as a client's ack decodes as a BROADCAST_ACK. */
static void fuzz_adapter_check_ack(const struct adapter_payload *p)
{
	struct adapter_buf buf = { NULL, 0, 0 };
	struct adapter_request r;
	json_t *v = fuzz_adapter_parse(p);

	if (v == NULL || fuzz_adapter_depth(v) > ADAPTER_MAX_DEPTH - 1) {
		json_decref(v);        /* the response map adds a level */
		return;
	}
	FUZZ_ADAPTER_CHECK(adapter_encode_broadcast_ack(&buf, "rq", 2, v, p->attachments,
							p->attachment_lens,
							p->n_attachments) == 0);
	FUZZ_ADAPTER_CHECK(adapter_decode_request(buf.data, buf.len, &r) == ADAPTER_OK);
	FUZZ_ADAPTER_CHECK(r.type == ADAPTER_BROADCAST_ACK && r.request_id.len == 2);
	adapter_request_free(&r);
	adapter_buf_free(&buf);
	json_decref(v);
}

static void fuzz_adapter_payload(const uint8_t *in, size_t len)
{
	struct adapter_payload p;
	enum adapter_result res = adapter_payload_from_msgpack(in, len, &p);

	FUZZ_ADAPTER_CHECK(fuzz_adapter_is_result(res) && res != ADAPTER_ERR_NOMEM);
	if (res != ADAPTER_OK) {
		FUZZ_ADAPTER_CHECK(p.json == NULL && p.n_attachments == 0);
		return;
	}
	fuzz_adapter_check_payload(&p, in, len);
	fuzz_adapter_check_fixed_point(&p);
	fuzz_adapter_check_ack(&p);
	adapter_payload_free(&p);
}

static void fuzz_adapter_reply(const uint8_t *in, size_t len)
{
	struct adapter_reply r;
	enum adapter_result res = adapter_decode_reply(in, len, &r);

	FUZZ_ADAPTER_CHECK(fuzz_adapter_is_result(res) && res != ADAPTER_ERR_NOMEM);
	if (res != ADAPTER_OK) {
		FUZZ_ADAPTER_CHECK(r.args.json == NULL && r.args.n_attachments == 0);
		return;
	}
	FUZZ_ADAPTER_CHECK(fuzz_adapter_within(r.sid.s, r.sid.len, in, len));
	FUZZ_ADAPTER_CHECK(r.args.json[0] == '[');
	fuzz_adapter_check_payload(&r.args, in, len);
	adapter_payload_free(&r.args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size != 0 ? size : 1);

	FUZZ_ADAPTER_CHECK(copy != NULL);
	if (size != 0)
		memcpy(copy, data, size);
	fuzz_adapter_broadcast(copy, size);
	fuzz_adapter_request(copy, size);
	fuzz_adapter_payload(copy, size);
	fuzz_adapter_reply(copy, size);
	free(copy);
	return 0;
}
