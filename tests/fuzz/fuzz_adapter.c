/* fuzz_adapter.c - libFuzzer target for the redis-adapter codec (adapter.c).
 *
 * Input: one byte choosing what the rest is (bit 0: a request, else a
 * broadcast), then the message, fed from a malloc'd block of exactly its
 * size so that ASan sees any over-read.
 *
 * Beyond not crashing or leaking, it checks: a result is one of the
 * table's; a decoded broadcast or request has its room names and data
 * inside the message; a payload converted from msgpack is valid JSON with
 * at most PACKET_MAX_ATTACHMENTS attachments inside the message, and going
 * once more through JSON -> msgpack (adapter_encode_broadcast, placeholders
 * back to bin) -> decode -> JSON gives the same text and attachments: the
 * conversion is stable, as a relay of a relay must be.
 *
 * Seeds: tests/fuzz/corpus/adapter/ (the captured vectors, with the kind
 * byte in front).
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

static bool fuzz_adapter_within(const void *p, size_t len, const uint8_t *base, size_t base_len)
{
	const uint8_t *q = p;

	return len == 0 || (q >= base && len <= base_len && (size_t)(q - base) <= base_len - len);
}

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

static void fuzz_adapter_check_names(const struct room_name *names, size_t n, const uint8_t *in,
				     size_t len, bool borrowed)
{
	for (size_t i = 0; i < n; i++)
		FUZZ_ADAPTER_CHECK(!borrowed || fuzz_adapter_within(names[i].name, names[i].len, in, len));
}

/* Converts the JSON text of <a> back to msgpack and again to JSON. */
static void fuzz_adapter_check_stable(const struct adapter_payload *a)
{
	json_error_t err;
	json_t *data = json_loadb(a->json, a->json_len, JSON_REJECT_DUPLICATES, &err);
	struct adapter_buf msg = { 0 };
	struct adapter_broadcast b;
	struct adapter_payload again;
	struct adapter_flags flags = { 0 };

	/* Integers past 2^63 are JavaScript's, not jansson's, and a map with a
	 * key twice has no JSON object to go back to (JavaScript would have
	 * kept the last value): nothing to redo. */
	if (!data)
		return;
	FUZZ_ADAPTER_CHECK(json_is_array(data));
	if (json_array_size(data) == 0 ||
	    adapter_encode_broadcast(&msg, "fuzzer", "/", 1, data, a->attachments, a->attachment_lens,
				     a->n_attachments, NULL, 0, NULL, 0, &flags) < 0) {
		adapter_buf_free(&msg);
		json_decref(data);
		return;
	}
	FUZZ_ADAPTER_CHECK(adapter_decode_broadcast(msg.data, msg.len, &b) == ADAPTER_OK);
	FUZZ_ADAPTER_CHECK(adapter_payload_from_msgpack(b.data, b.data_len, &again) == ADAPTER_OK);
	FUZZ_ADAPTER_CHECK(again.json_len == a->json_len &&
			   memcmp(again.json, a->json, a->json_len) == 0);
	FUZZ_ADAPTER_CHECK(again.n_attachments == a->n_attachments);
	for (unsigned i = 0; i < a->n_attachments; i++)
		FUZZ_ADAPTER_CHECK(again.attachment_lens[i] == a->attachment_lens[i] &&
				   (a->attachment_lens[i] == 0 ||
				    memcmp(again.attachments[i], a->attachments[i],
					   a->attachment_lens[i]) == 0));
	adapter_payload_free(&again);
	adapter_broadcast_free(&b);
	adapter_buf_free(&msg);
	json_decref(data);
}

static void fuzz_adapter_check_payload(const uint8_t *mp, size_t mp_len, const uint8_t *in,
				       size_t len)
{
	struct adapter_payload pl;
	enum adapter_result r;

	FUZZ_ADAPTER_CHECK(fuzz_adapter_within(mp, mp_len, in, len));
	r = adapter_payload_from_msgpack(mp, mp_len, &pl);
	FUZZ_ADAPTER_CHECK(fuzz_adapter_is_result(r));
	if (r != ADAPTER_OK)
		return;
	FUZZ_ADAPTER_CHECK(pl.json != NULL && pl.json[pl.json_len] == '\0');
	FUZZ_ADAPTER_CHECK(pl.n_attachments <= PACKET_MAX_ATTACHMENTS);
	for (unsigned i = 0; i < pl.n_attachments; i++)
		FUZZ_ADAPTER_CHECK(fuzz_adapter_within(pl.attachments[i], pl.attachment_lens[i], in,
						       len));
	fuzz_adapter_check_stable(&pl);
	adapter_payload_free(&pl);
}

static void fuzz_adapter_broadcast(const uint8_t *in, size_t len)
{
	struct adapter_broadcast b;
	enum adapter_result r = adapter_decode_broadcast(in, len, &b);

	FUZZ_ADAPTER_CHECK(fuzz_adapter_is_result(r));
	if (r != ADAPTER_OK)
		return;
	FUZZ_ADAPTER_CHECK(b.type == PACKET_EVENT || b.type == PACKET_BINARY_EVENT);
	FUZZ_ADAPTER_CHECK(fuzz_adapter_within(b.uid.s, b.uid.len, in, len));
	fuzz_adapter_check_names(b.rooms, b.n_rooms, in, len, true);
	fuzz_adapter_check_names(b.except, b.n_except, in, len, true);
	fuzz_adapter_check_payload(b.data, b.data_len, in, len);
	adapter_broadcast_free(&b);
}

static void fuzz_adapter_request(const uint8_t *in, size_t len)
{
	struct adapter_request q;
	enum adapter_result r = adapter_decode_request(in, len, &q);
	bool borrowed = len > 0 && in[0] != '{';

	FUZZ_ADAPTER_CHECK(fuzz_adapter_is_result(r));
	if (r != ADAPTER_OK)
		return;
	FUZZ_ADAPTER_CHECK(q.type >= ADAPTER_SOCKETS && q.type <= ADAPTER_BROADCAST_ACK);
	fuzz_adapter_check_names(q.rooms, q.n_rooms, in, len, borrowed);
	fuzz_adapter_check_names(q.opts_rooms, q.n_opts_rooms, in, len, borrowed);
	fuzz_adapter_check_names(q.opts_except, q.n_opts_except, in, len, borrowed);
	if (q.type == ADAPTER_BROADCAST)
		fuzz_adapter_check_payload(q.data, q.data_len, in, len);
	adapter_request_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size == 0)
		return 0;
	copy = malloc(size - 1 ? size - 1 : 1);
	FUZZ_ADAPTER_CHECK(copy != NULL);
	memcpy(copy, data + 1, size - 1);
	if (data[0] & 1)
		fuzz_adapter_request(copy, size - 1);
	else
		fuzz_adapter_broadcast(copy, size - 1);
	free(copy);
	return 0;
}
