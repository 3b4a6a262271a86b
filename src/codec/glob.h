/* glob.h - room-name patterns: `*`, `?` and `{NAME}` placeholders.
 *
 * The matcher behind client_join, a token's allow_join claim and
 * forward_events.  Pure: bytes and a lookup callback in, a yes or no out;
 * no allocation, no globals, no config.  Which patterns a namespace has,
 * and that they are well formed, is config.c's business; what a
 * placeholder's value is belongs to the caller (nsp.c reads the CONNECT
 * auth object and the token's claims).
 */
#ifndef ROOMCAST_GLOB_H
#define ROOMCAST_GLOB_H

#include <stdbool.h>
#include <stddef.h>

#define GLOB_MAX_PATTERN 256 /* bytes of one pattern; a longer one never matches */
#define GLOB_MAX_NAME 4096   /* bytes of a name; a longer one never matches */

/* The separators of a set of patterns: the bytes that follow a
 * placeholder in any of them.  A placeholder's value that holds one names
 * no room (glob_value_is_separated()). */
struct glob_separators {
	bool is_sep[256];
};

/* Returns the value of the placeholder whose braces hold <name>
 * (<name_len> bytes, not NUL-terminated) and sets <value_len>, or NULL if
 * there is none.  Its bytes need only last until its next call. */
typedef const char *glob_value_fn(void *ctx, const char *name, size_t name_len,
				  size_t *value_len);

/* Marks in <sep> the byte after each `{...}` of <pattern> (<len> bytes).
 * Start from a zeroed struct; call once per pattern of the set. */
void glob_separators_add(struct glob_separators *sep, const char *pattern, size_t len);

/* Whether <value> (<len> bytes, any bytes) holds none of <sep>. */
bool glob_value_is_separated(const struct glob_separators *sep, const char *value, size_t len);

/* Whether pattern <pattern> (<pattern_len> bytes) matches all of <name>
 * (<name_len> bytes, not NUL-terminated, may be empty).  `*` matches any
 * run of bytes (also none), `?` exactly one byte, `{NAME}` the value
 * <value>(<ctx>, NAME) gives, byte for byte (a `*` in the value is a plain
 * '*'), every other byte itself.  A placeholder with no value, a value
 * holding one of <sep>, an unclosed '{', a NULL <value> for a pattern
 * with a placeholder, a pattern longer than GLOB_MAX_PATTERN or a name
 * longer than GLOB_MAX_NAME: false.  O(name_len x pattern_len). */
bool glob_match(const char *pattern, size_t pattern_len, const char *name, size_t name_len,
		const struct glob_separators *sep, glob_value_fn *value, void *ctx);

/* Whether plain glob <glob> matches all of <name>: `*` and `?` as in
 * glob_match(), every other byte itself (a `{` too).  A glob longer than
 * GLOB_MAX_PATTERN or a name longer than GLOB_MAX_NAME: false. */
bool glob_match_plain(const char *glob, size_t glob_len, const char *name, size_t name_len);

/* Calls <fn>(<ctx>, NAME, length) for each `{NAME}` of <pattern> (<len>
 * bytes), in order; an unclosed '{' ends the walk. */
void glob_each_placeholder(const char *pattern, size_t len,
			   void (*fn)(void *ctx, const char *name, size_t name_len), void *ctx);

#endif
