/* fuzz_proxyproto.c - libFuzzer target for the PROXY protocol codec
 * (src/codec/proxyproto.c).
 *
 * The input is what a balancer sent at the start of a connection.  Every
 * prefix, from empty to the whole, is parsed from its own exact-size heap
 * block (ASan sees any read past it), and the answers must agree as
 * proxyproto.h promises: a complete header of length L answers 0 for every
 * shorter prefix and L for every longer one with the same address; a
 * refusal, once given, is given for every longer prefix; nothing longer
 * than PROXYPROTO_V2_MAX (PROXYPROTO_V1_MAX for a text line) is ever
 * accepted, and a TCP source of a v1 line is one of its words.
 *
 * Build: make fuzz (clang -fsanitize=fuzzer,address,undefined).
 * Seeds: tests/fuzz/corpus/proxyproto/.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxyproto.h"

#define FUZZ_CHECK(cond)                 \
	do {                             \
		if (!(cond))             \
			__builtin_trap(); \
	} while (0)

/* Longer inputs say nothing new: past the limits every answer is fixed. */
#define FUZZ_MAX_INPUT (PROXYPROTO_V2_MAX + 64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ssize_t fuzz_parse(const uint8_t *data, size_t n, struct proxyproto_addr *out)
{
	uint8_t *piece = malloc(n ? n : 1);

	FUZZ_CHECK(piece);
	memcpy(piece, data, n);
	ssize_t r = proxyproto_parse(piece, n, out);
	free(piece);
	return r;
}

/* A v1 TCP source, printed back, is the third word of the line. */
static void fuzz_check_v1_source(const uint8_t *data, ssize_t len, const struct proxyproto_addr *a)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	char text[INET6_ADDRSTRLEN], line[PROXYPROTO_V1_MAX + 1];
	uint8_t again[16];

	if (a->local || data[0] != 'P')
		return;
	FUZZ_CHECK(len <= PROXYPROTO_V1_MAX);
	memcpy(line, data, (size_t)len);
	line[len] = '\0';
	const char *src = line + 11; /* after "PROXY TCP4 " or "PROXY TCP6 " */
	size_t src_len = strcspn(src, " ");
	bool v4 = memcmp(a->addr, mapped, 12) == 0 && line[9] == '4';
	FUZZ_CHECK(src_len < sizeof text);
	memcpy(text, src, src_len);
	text[src_len] = '\0';
	if (v4) {
		FUZZ_CHECK(inet_pton(AF_INET, text, again) == 1);
		FUZZ_CHECK(memcmp(again, a->addr + 12, 4) == 0);
	} else {
		FUZZ_CHECK(inet_pton(AF_INET6, text, again) == 1);
		FUZZ_CHECK(memcmp(again, a->addr, 16) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyproto_addr whole, part;

	if (size > FUZZ_MAX_INPUT)
		size = FUZZ_MAX_INPUT;
	ssize_t r = fuzz_parse(data, size, &whole);
	FUZZ_CHECK(r >= -1 && r <= (ssize_t)size && r <= PROXYPROTO_V2_MAX);
	if (r > 0)
		fuzz_check_v1_source(data, r, &whole);
	bool refused = false;
	for (size_t n = 0; n < size; n++) {
		ssize_t p = fuzz_parse(data, n, &part);
		if (r > 0 && (ssize_t)n < r) {
			FUZZ_CHECK(p == 0);
		} else if (r > 0) {
			FUZZ_CHECK(p == r && part.local == whole.local);
			FUZZ_CHECK(whole.local || (memcmp(part.addr, whole.addr, 16) == 0 &&
						   part.port == whole.port));
		} else {
			FUZZ_CHECK(p == 0 || p == -1);
			FUZZ_CHECK(!refused || p == -1);
			refused = p == -1;
		}
	}
	FUZZ_CHECK(r != 0 || !refused);
	return 0;
}
