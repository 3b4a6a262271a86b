/* jsonmem.h - the codecs' own allocations through jansson's allocator, and
 * untrusted JSON parsed under a memory budget.
 *
 * packet.c and adapter.c allocate beside the JSON values they build; going
 * through json_get_alloc_funcs() means one allocator for both, so a test
 * that installs a failing one (json_set_alloc_funcs) reaches every
 * allocation of a decode.  ws.c builds no JSON but uses the same hook, so
 * its tests can count and fail its allocations the same way.
 *
 * jansson's trees are large next to their text: 6-20 times for typical
 * payloads, about 38 for arrays of one-key objects, and 44-80 for a flood
 * of empty arrays or objects (`[[],[],...]`).  jsonmem_load() is the one
 * place where text from a client or from Redis becomes a tree, and it
 * refuses a text whose tree would need more than its budget:
 * JSONMEM_FLOOR_BYTES plus the expansion factor (max_json_expansion) times
 * the text's length.  The bytes counted are those jansson asks for while it
 * parses, growth of its arrays and tables included.  Nothing parsed is kept
 * past the message that carried it, so this also bounds what parsed JSON
 * holds at any moment: one tree of at most that budget.
 */
#ifndef ROOMCAST_JSONMEM_H
#define ROOMCAST_JSONMEM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* What any text may use, however short: a small packet is never refused. */
#define JSONMEM_FLOOR_BYTES (64 * 1024)
/* max_json_expansion's default: above typical payloads and arrays of small
 * objects, below floods of empty containers. */
#define JSONMEM_DEFAULT_EXPANSION 32

/* Results of jsonmem_load(), X(name, value, description). */
#define JSONMEM_RESULT_MAP(X)                                          \
	X(JSONMEM_OK, 0, "ok")                                         \
	X(JSONMEM_ERR_SYNTAX, -1, "invalid JSON")                      \
	X(JSONMEM_ERR_NOMEM, -2, "out of memory")                      \
	X(JSONMEM_ERR_BUDGET, -3, "JSON too costly to parse (max_json_expansion)")

enum jsonmem_result {
#define JSONMEM_RESULT_ENUM(name, value, text) name = value,
	JSONMEM_RESULT_MAP(JSONMEM_RESULT_ENUM)
#undef JSONMEM_RESULT_ENUM
};

static inline void *jsonmem_malloc(size_t size)
{
	json_malloc_t malloc_fn;
	json_free_t free_fn;

	json_get_alloc_funcs(&malloc_fn, &free_fn);
	return malloc_fn(size);
}

static inline void jsonmem_free(void *p)
{
	json_malloc_t malloc_fn;
	json_free_t free_fn;

	if (p == NULL)
		return;
	json_get_alloc_funcs(&malloc_fn, &free_fn);
	free_fn(p);
}

/* Sets the expansion factor every later jsonmem_load() applies (the
 * process's max_json_expansion; JSONMEM_DEFAULT_EXPANSION until set). */
void jsonmem_set_expansion(uint32_t factor);

/* The most bytes parsing <len> bytes of text may ask for. */
size_t jsonmem_budget(size_t len);

/* Parses one JSON value from <text> as JSON.parse takes it: any value
 * (JSON_DECODE_ANY), \u0000 in strings (JSON_ALLOW_NUL), integers past the
 * int64 range as reals (parsed again with JSON_DECODE_INT_AS_REAL, so that
 * every number of that text is a real, as JavaScript sees it).  <flags>
 * adds to those.  On JSONMEM_OK *<out> is the tree, owned by the caller;
 * otherwise NULL.  A text whose tree would pass jsonmem_budget(<len>) is
 * JSONMEM_ERR_BUDGET.  jansson 2.14's loader sets no error text when an
 * allocation fails, which is how NOMEM is told from a syntax error. */
enum jsonmem_result jsonmem_load(const uint8_t *text, size_t len, size_t flags, json_t **out)
	__attribute__((warn_unused_result));

const char *jsonmem_result_text(enum jsonmem_result r);

#endif
