/* fuzz_eio.c - libFuzzer target for the Engine.IO payload codec (eio.c).
 *
 * Decodes the input as a polling body held in a malloc'd block of exactly
 * its size (so ASan sees any over-read), and as one WebSocket text message.
 * Beyond not crashing, it checks on every parse: each packet's data lies in
 * its own record inside the body; text data is the input's bytes untouched;
 * only messages are binary; the iterator stops where the input says (end
 * only after a last record without separator, error at the first bad record,
 * which is left unmodified); and re-encoding each packet gives back its
 * record byte for byte (base64 is canonical, so decoding is one-to-one),
 * with every binary packet also decoded again from that encoding.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc/codec tests/fuzz/fuzz_eio.c
 *        src/codec/eio.c -o /tmp/fuzz_eio
 * Seeds: tests/fuzz/corpus/eio/ (the vectors' bodies and records).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eio.h"

#define FUZZ_EIO_CHECK(cond)                                                  \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An exact-size heap copy; malloc(0) may give NULL, which the codec must
 * never dereference for an empty input. */
static uint8_t *fuzz_eio_copy(const uint8_t *bytes, size_t len)
{
	uint8_t *p = malloc(len);

	if (len != 0) {
		FUZZ_EIO_CHECK(p != NULL);
		memcpy(p, bytes, len);
	}
	return p;
}

/* Re-encodes <p> and checks it spells the record <rec>/<rec_len> it was
 * decoded from; a binary packet is decoded once more from that encoding. */
static void fuzz_eio_check_reencode(const struct eio_packet *p, const uint8_t *rec,
				    size_t rec_len)
{
	size_t enc_len = eio_polling_encoded_len(p->binary, p->len);
	uint8_t *enc = malloc(enc_len);
	struct eio_packet again;

	FUZZ_EIO_CHECK(enc != NULL);
	FUZZ_EIO_CHECK(eio_polling_encode(enc, p->type, p->binary, p->data, p->len) == enc_len);
	FUZZ_EIO_CHECK(enc_len == rec_len && memcmp(enc, rec, rec_len) == 0);
	if (p->binary) {
		FUZZ_EIO_CHECK(eio_decode_text(enc, enc_len, &again) == 0);
		FUZZ_EIO_CHECK(again.binary && again.type == EIO_MESSAGE);
		FUZZ_EIO_CHECK(again.len == p->len);
		FUZZ_EIO_CHECK(again.len == 0 || memcmp(again.data, p->data, p->len) == 0);
	}
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *body = fuzz_eio_copy(data, size);
	const uint8_t *first_sep = size ? memchr(data, EIO_RECORD_SEPARATOR, size) : NULL;
	struct eio_packet p;
	size_t pos = 0;
	size_t n_packets = 0;
	int first_rc = 0;
	int rc;

	for (;;) {
		size_t start = pos;
		const uint8_t *sep;
		size_t end;

		rc = eio_payload_next(body, size, &pos, &p);
		if (n_packets == 0)
			first_rc = rc;
		if (rc != 1)
			break;
		n_packets++;
		FUZZ_EIO_CHECK(start < size);
		sep = memchr(data + start, EIO_RECORD_SEPARATOR, size - start);
		end = sep ? (size_t)(sep - data) : size;
		FUZZ_EIO_CHECK(pos == (sep ? end + 1 : size + 1));

		FUZZ_EIO_CHECK(p.type >= EIO_OPEN && p.type <= EIO_NOOP);
		FUZZ_EIO_CHECK(!p.binary || p.type == EIO_MESSAGE);
		/* The data lies in its own record, after the type byte. */
		FUZZ_EIO_CHECK(p.data == body + start + 1);
		FUZZ_EIO_CHECK(p.len <= end - start - 1);
		if (p.binary) {
			FUZZ_EIO_CHECK(data[start] == 'b');
			FUZZ_EIO_CHECK(p.len <= (end - start - 1) / 4 * 3);
		} else {
			FUZZ_EIO_CHECK(data[start] == '0' + (int)p.type);
			FUZZ_EIO_CHECK(p.len == end - start - 1);
			FUZZ_EIO_CHECK(memcmp(p.data, data + start + 1, p.len) == 0);
		}
		fuzz_eio_check_reencode(&p, data + start, end - start);
	}

	if (rc == 0) {
		/* End only after a last record that had no separator behind it. */
		FUZZ_EIO_CHECK(n_packets > 0 && pos == size + 1);
		FUZZ_EIO_CHECK(data[size - 1] != EIO_RECORD_SEPARATOR);
	} else {
		FUZZ_EIO_CHECK(rc == -1);
		FUZZ_EIO_CHECK(pos <= size);
		FUZZ_EIO_CHECK(pos == 0 || data[pos - 1] == EIO_RECORD_SEPARATOR);
		/* The bad record and everything after it are as the client sent them. */
		FUZZ_EIO_CHECK(size == pos || memcmp(body + pos, data + pos, size - pos) == 0);
	}
	/* The iterator's last answer repeats. */
	FUZZ_EIO_CHECK(eio_payload_next(body, size, &pos, &p) == rc);
	free(body);

	/* The same bytes as one WebSocket text message: never split, so when
	 * there is no separator it must agree with the payload's first record. */
	body = fuzz_eio_copy(data, size);
	rc = eio_decode_text(body, size, &p);
	FUZZ_EIO_CHECK(rc == 0 || rc == -1);
	if (first_sep == NULL)
		FUZZ_EIO_CHECK((rc == 0) == (first_rc == 1));
	if (rc == 0) {
		FUZZ_EIO_CHECK(p.data == body + 1 && p.len <= size - 1);
		FUZZ_EIO_CHECK(!p.binary || p.type == EIO_MESSAGE);
		if (!p.binary)
			FUZZ_EIO_CHECK(memcmp(p.data, data + 1, p.len) == 0 && p.len == size - 1);
		fuzz_eio_check_reencode(&p, data, size);
	}
	free(body);
	return 0;
}
