/* jsonmem.c - untrusted JSON parsed under a memory budget (see jsonmem.h).
 *
 * jansson has no limit of its own but its nesting depth, and one allocator
 * for the whole process (json_set_alloc_funcs).  For the length of one
 * json_loadb() the allocator in place is wrapped by one that counts what
 * jansson asks for and fails the request that would pass the budget; the
 * loader then gives up, frees what it built and returns NULL, and the
 * budget's flag tells that failure from a real one.  The wrapper hands
 * every request to the allocator it wrapped, so trees built under it are
 * freed as any other, and a test's failing allocator still sees them.
 * Frees during the parse are not credited: the count is of bytes asked
 * for, which is what a flood of small values costs, growth included.
 */
#include <stdbool.h>
#include <string.h>

#include "jsonmem.h"

static uint32_t jsonmem_expansion = JSONMEM_DEFAULT_EXPANSION;

/* The parse under way: single-threaded, so one at a time. */
static struct {
	json_malloc_t malloc_fn;      /* the allocator wrapped */
	json_free_t free_fn;
	size_t left;                  /* bytes jansson may still ask for */
	bool exceeded;
} jsonmem_parse;

void jsonmem_set_expansion(uint32_t factor)
{
	jsonmem_expansion = factor;
}

size_t jsonmem_budget(size_t len)
{
	if (len > (SIZE_MAX - JSONMEM_FLOOR_BYTES) / jsonmem_expansion)
		return SIZE_MAX;
	return JSONMEM_FLOOR_BYTES + len * jsonmem_expansion;
}

static void *jsonmem_counted_malloc(size_t size)
{
	if (size > jsonmem_parse.left) {
		jsonmem_parse.exceeded = true;
		return NULL;
	}
	jsonmem_parse.left -= size;
	return jsonmem_parse.malloc_fn(size);
}

static void jsonmem_counted_free(void *p)
{
	jsonmem_parse.free_fn(p);
}

/* One json_loadb() under the budget; *<err> as jansson sets it. */
static json_t *jsonmem_loadb(const uint8_t *text, size_t len, size_t flags, json_error_t *err)
{
	json_t *v;

	json_get_alloc_funcs(&jsonmem_parse.malloc_fn, &jsonmem_parse.free_fn);
	jsonmem_parse.left = jsonmem_budget(len);
	jsonmem_parse.exceeded = false;
	json_set_alloc_funcs(jsonmem_counted_malloc, jsonmem_counted_free);
	memset(err, 0, sizeof(*err));
	v = json_loadb((const char *)text, len, flags, err);
	json_set_alloc_funcs(jsonmem_parse.malloc_fn, jsonmem_parse.free_fn);
	return v;
}

enum jsonmem_result jsonmem_load(const uint8_t *text, size_t len, size_t flags, json_t **out)
{
	json_error_t err;

	flags |= JSON_DECODE_ANY | JSON_ALLOW_NUL;
	*out = jsonmem_loadb(text, len, flags, &err);
	if (*out == NULL && !jsonmem_parse.exceeded && err.text[0] != '\0' &&
	    json_error_code(&err) == json_error_numeric_overflow)
		*out = jsonmem_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, &err);
	if (jsonmem_parse.exceeded) {
		/* jansson 2.14 ignores a failed growth of its token buffer
		 * (lex_save() in load.c): a tree may come back with a byte
		 * missing from a token.  Never use one built past the budget. */
		json_decref(*out);
		*out = NULL;
		return JSONMEM_ERR_BUDGET;
	}
	if (*out != NULL)
		return JSONMEM_OK;
	return err.text[0] == '\0' || json_error_code(&err) == json_error_out_of_memory
		       ? JSONMEM_ERR_NOMEM
		       : JSONMEM_ERR_SYNTAX;
}

const char *jsonmem_result_text(enum jsonmem_result r)
{
	switch (r) {
#define JSONMEM_RESULT_TEXT(name, value, text) \
	case name:                             \
		return text;
		JSONMEM_RESULT_MAP(JSONMEM_RESULT_TEXT)
#undef JSONMEM_RESULT_TEXT
	}
	return "unknown result";
}
