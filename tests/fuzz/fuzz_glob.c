/* fuzz_glob.c - libFuzzer target for the room-pattern matcher (glob.c).
 *
 * Input: PATTERN NUL NAME NUL VALUE; a missing part is empty.  Every
 * placeholder of the pattern has VALUE as its value.  Pattern, name and
 * value are each copied to a malloc'd block of exactly their size, so
 * ASan sees a read past any length.  The separators are the pattern's own.
 *
 * Beyond not crashing:
 * - a pattern with no '*', '?' or '{' matches exactly itself;
 * - a pattern with no '{' matches itself, and glob_match() and
 *   glob_match_plain() agree on it;
 * - up to 64 bytes of pattern with values expanded, and of name, the
 *   answer agrees with a dynamic-programming reference written apart from
 *   glob.c's backtracking walk;
 * - the lookup is asked only for names that sit between braces.
 *
 * Seeds: tests/fuzz/corpus/glob/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "glob.h"

#define FUZZ_GLOB_CHECK(cond)                                                 \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "fuzz_glob: %s failed\n", #cond);    \
			abort();                                              \
		}                                                             \
	} while (0)

/* Reference sizes: expanded pattern items and name bytes. */
#define FUZZ_GLOB_REF_MAX 64

struct fuzz_glob_input {
	const char *pattern, *name, *value;
	size_t pattern_len, name_len, value_len;
};

static const char *fuzz_glob_value(void *ctx, const char *name, size_t name_len,
				   size_t *value_len)
{
	const struct fuzz_glob_input *in = ctx;

	/* A placeholder's name lies inside the pattern, after a '{', and
	 * is followed by its '}'. */
	FUZZ_GLOB_CHECK(name > in->pattern && name + name_len < in->pattern + in->pattern_len);
	FUZZ_GLOB_CHECK(name[-1] == '{' && name[name_len] == '}');
	*value_len = in->value_len;
	return in->value;
}

/* A copy of <len> bytes in a block of exactly that size (1 if empty). */
static char *fuzz_glob_copy(const uint8_t *data, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (!p)
		abort();
	memcpy(p, data, len);
	return p;
}

/* Splits <data> at its first two NULs into <in>'s parts (copies). */
static void fuzz_glob_split(const uint8_t *data, size_t size, struct fuzz_glob_input *in)
{
	const uint8_t *end = data + size, *p = data;
	const uint8_t *cut[3] = { end, end, end };
	size_t lens[3];

	for (int i = 0; i < 2 && p < end; i++) {
		const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
		cut[i] = nul ? nul : end;
		p = nul ? nul + 1 : end;
	}
	lens[0] = (size_t)(cut[0] - data);
	lens[1] = cut[0] < end ? (size_t)(cut[1] - cut[0] - 1) : 0;
	lens[2] = cut[1] < end ? (size_t)(end - cut[1] - 1) : 0;
	in->pattern = fuzz_glob_copy(data, lens[0]);
	in->name = fuzz_glob_copy(cut[0] < end ? cut[0] + 1 : end, lens[1]);
	in->value = fuzz_glob_copy(cut[1] < end ? cut[1] + 1 : end, lens[2]);
	in->pattern_len = lens[0];
	in->name_len = lens[1];
	in->value_len = lens[2];
}

/* The pattern with every placeholder replaced by the value: item -1 is a
 * star, -2 a '?', else a byte.  Returns the count, -1 if the pattern
 * cannot match (an unclosed '{', a value holding a separator), or -2 if
 * it is longer than the reference takes. */
static int fuzz_glob_expand(const struct fuzz_glob_input *in, const struct glob_separators *sep,
			    int items[static FUZZ_GLOB_REF_MAX])
{
	int n = 0;

	for (size_t i = 0; i < in->pattern_len; i++) {
		char c = in->pattern[i];
		if (c == '{') {
			const char *close = memchr(in->pattern + i, '}', in->pattern_len - i);
			if (!close || !glob_value_is_separated(sep, in->value, in->value_len))
				return -1;
			for (size_t k = 0; k < in->value_len; k++) {
				if (n == FUZZ_GLOB_REF_MAX)
					return -2;
				items[n++] = (unsigned char)in->value[k];
			}
			i = (size_t)(close - in->pattern);
			continue;
		}
		if (n == FUZZ_GLOB_REF_MAX)
			return -2;
		items[n++] = c == '*' ? -1 : c == '?' ? -2 : (unsigned char)c;
	}
	return n;
}

/* at[i][j]: items from i on match the name from j on. */
static bool fuzz_glob_reference(const int *items, int n, const char *name, size_t len)
{
	static bool at[FUZZ_GLOB_REF_MAX + 1][FUZZ_GLOB_REF_MAX + 1];

	for (int i = n; i >= 0; i--) {
		for (size_t j = len + 1; j-- > 0;) {
			if (i == n)
				at[i][j] = j == len;
			else if (items[i] == -1)
				at[i][j] = at[i + 1][j] || (j < len && at[i][j + 1]);
			else if (j == len)
				at[i][j] = false;
			else
				at[i][j] = (items[i] == -2 || items[i] == (unsigned char)name[j]) &&
					   at[i + 1][j + 1];
		}
	}
	return at[0][0];
}

static void fuzz_glob_check(const struct fuzz_glob_input *in)
{
	struct glob_separators sep = { { false } };
	int items[FUZZ_GLOB_REF_MAX];
	bool wild = memchr(in->pattern, '*', in->pattern_len) || memchr(in->pattern, '?', in->pattern_len);
	bool braces = memchr(in->pattern, '{', in->pattern_len) != NULL;
	bool fits = in->pattern_len <= GLOB_MAX_PATTERN;

	glob_separators_add(&sep, in->pattern, in->pattern_len);
	bool got = glob_match(in->pattern, in->pattern_len, in->name, in->name_len, &sep,
			      fuzz_glob_value, (void *)in);
	if (!braces) {
		bool same = in->pattern_len == in->name_len &&
			    memcmp(in->pattern, in->name, in->name_len) == 0;
		FUZZ_GLOB_CHECK(got == glob_match_plain(in->pattern, in->pattern_len, in->name,
							in->name_len));
		FUZZ_GLOB_CHECK(!fits || glob_match(in->pattern, in->pattern_len, in->pattern,
						    in->pattern_len, &sep, NULL, NULL));
		if (!wild)
			FUZZ_GLOB_CHECK(got == (fits && same));
	}
	if (!fits || in->name_len > FUZZ_GLOB_REF_MAX)
		return;
	int n = fuzz_glob_expand(in, &sep, items);
	if (n != -2)
		FUZZ_GLOB_CHECK(got == (n >= 0 && fuzz_glob_reference(items, n, in->name, in->name_len)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_glob_input in;

	fuzz_glob_split(data, size, &in);
	fuzz_glob_check(&in);
	free((void *)in.pattern);
	free((void *)in.name);
	free((void *)in.value);
	return 0;
}
