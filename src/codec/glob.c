/* glob.c - the room-name matcher (see glob.h).
 *
 * Owns matching a name against one pattern: `*`, `?`, literal bytes and
 * `{NAME}` placeholders whose values the caller looks up, and the
 * separator rule that keeps one user's value from reaching another's
 * room.  Does not own the pattern syntax checks or which patterns apply
 * (config.c), nor where values come from (nsp.c, sockauth.c).
 *
 * Flow: glob_match() first turns the pattern into items (a star, a '?',
 * or a run of bytes from the pattern or a value), looking each placeholder
 * up once, then walks the name against them with one backtrack point.
 * Pure: no allocation (the items and values live on the stack), no globals.
 * Limits: GLOB_MAX_PATTERN bytes of pattern (one item per byte at most),
 * GLOB_MAX_NAME bytes of name (the values copied fit in the name).
 */
#include <stdint.h>
#include <string.h>

#include "glob.h"

/* One step of a pattern once its placeholders are looked up: a star, a
 * '?', or bytes to match as they are (from the pattern or a field value). */
struct glob_item {
	enum { GLOB_STAR, GLOB_ONE, GLOB_BYTES } kind;
	const char *s;
	size_t len;
};

/* A pattern has at most one item per byte. */
#define GLOB_MAX_ITEMS GLOB_MAX_PATTERN

void glob_separators_add(struct glob_separators *sep, const char *pattern, size_t len)
{
	const char *p = pattern, *end = pattern + len;

	while ((p = memchr(p, '{', (size_t)(end - p))) != NULL) {
		const char *close = memchr(p, '}', (size_t)(end - p));
		if (!close)
			return;
		if (close + 1 < end)
			sep->is_sep[(unsigned char)close[1]] = true;
		p = close + 1;
	}
}

bool glob_value_is_separated(const struct glob_separators *sep, const char *value, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (sep->is_sep[(unsigned char)value[i]])
			return false;
	}
	return true;
}

/* Turns <pattern> into <items> for a name of <name_len> bytes (at most
 * GLOB_MAX_NAME), looking each field up once and copying its value into
 * <values>: the callback's bytes need only last until its next call.
 * Returns the item count, or -1 if the pattern cannot match: a field is
 * missing or holds one of <sep>, the values alone are longer than the
 * name, or a '{' is not closed. */
static int glob_compile(struct glob_item items[static GLOB_MAX_ITEMS],
			char values[static GLOB_MAX_NAME], size_t name_len,
			const struct glob_separators *sep, const char *pattern, size_t len,
			glob_value_fn *placeholder, void *ctx)
{
	size_t n = 0, used = 0;
	const char *p = pattern, *end = pattern + len;

	while (p < end) {
		struct glob_item *it = &items[n];
		if (*p == '*' || *p == '?') {
			it->kind = *p == '*' ? GLOB_STAR : GLOB_ONE;
			p++;
		} else if (*p == '{') {
			const char *close = memchr(p, '}', (size_t)(end - p));
			size_t value_len = 0;
			if (!close || !placeholder)
				return -1;
			const char *value = placeholder(ctx, p + 1, (size_t)(close - p) - 1, &value_len);
			if (!value || value_len > name_len - used ||
			    !glob_value_is_separated(sep, value, value_len))
				return -1;
			memcpy(values + used, value, value_len);
			*it = (struct glob_item){ GLOB_BYTES, values + used, value_len };
			used += value_len;
			p = close + 1;
			if (value_len == 0)
				continue; /* an empty value matches nothing, so is no step */
		} else {
			const char *q = p;
			while (q < end && *q != '*' && *q != '?' && *q != '{')
				q++;
			*it = (struct glob_item){ GLOB_BYTES, p, (size_t)(q - p) };
			p = q;
		}
		n++;
	}
	return (int)n;
}

/* Whether <items> match all of <name>.  The classic wildcard walk: on a
 * mismatch, go back to the last star and let it take one more byte.  That
 * is enough because every other item has a fixed length, and it needs no
 * stack; a position is an item and an offset in its bytes. */
static bool glob_walk(const struct glob_item *items, size_t n, const char *name, size_t name_len)
{
	size_t i = 0, k = 0, r = 0;
	size_t star_i = SIZE_MAX, star_r = 0;

	while (r < name_len) {
		if (i < n) {
			const struct glob_item *it = &items[i];
			if (it->kind == GLOB_STAR) {
				star_i = i++;
				star_r = r;
				continue;
			}
			if (it->kind == GLOB_ONE) {
				i++;
				r++;
				continue;
			}
			if (name[r] == it->s[k]) {
				r++;
				if (++k == it->len) {
					i++;
					k = 0;
				}
				continue;
			}
		}
		if (star_i == SIZE_MAX)
			return false;
		i = star_i + 1;
		k = 0;
		r = ++star_r;
	}
	/* The name is used up: only stars may be left (a star taking more
	 * bytes would leave even fewer for the rest).  A half-matched item
	 * (k > 0) is bytes, so it fails here too. */
	while (i < n && items[i].kind == GLOB_STAR)
		i++;
	return i == n;
}

bool glob_match(const char *pattern, size_t pattern_len, const char *name, size_t name_len,
		const struct glob_separators *sep, glob_value_fn *value, void *ctx)
{
	struct glob_item items[GLOB_MAX_ITEMS];
	char values[GLOB_MAX_NAME];

	if (pattern_len > GLOB_MAX_PATTERN || name_len > GLOB_MAX_NAME)
		return false;
	int n = glob_compile(items, values, name_len, sep, pattern, pattern_len, value, ctx);
	return n >= 0 && glob_walk(items, (size_t)n, name, name_len);
}

bool glob_match_plain(const char *glob, size_t glob_len, const char *name, size_t name_len)
{
	struct glob_item items[GLOB_MAX_ITEMS];
	size_t n = 0;

	if (glob_len > GLOB_MAX_PATTERN || name_len > GLOB_MAX_NAME)
		return false;
	for (size_t i = 0; i < glob_len; n++) {
		struct glob_item *it = &items[n];
		if (glob[i] == '*' || glob[i] == '?') {
			it->kind = glob[i++] == '*' ? GLOB_STAR : GLOB_ONE;
			continue;
		}
		size_t j = i;
		while (j < glob_len && glob[j] != '*' && glob[j] != '?')
			j++;
		*it = (struct glob_item){ GLOB_BYTES, glob + i, j - i };
		i = j;
	}
	return glob_walk(items, n, name, name_len);
}

void glob_each_placeholder(const char *pattern, size_t len,
			   void (*fn)(void *ctx, const char *name, size_t name_len), void *ctx)
{
	const char *p = pattern, *end = pattern + len;

	while ((p = memchr(p, '{', (size_t)(end - p))) != NULL) {
		const char *close = memchr(p, '}', (size_t)(end - p));
		if (!close)
			return;
		fn(ctx, p + 1, (size_t)(close - p) - 1);
		p = close + 1;
	}
}
