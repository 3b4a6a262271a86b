/* jsonmem.h - the codecs' own allocations, through jansson's allocator.
 *
 * packet.c and adapter.c allocate beside the JSON values they build; going
 * through json_get_alloc_funcs() means one allocator for both, so a test
 * that installs a failing one (json_set_alloc_funcs) reaches every
 * allocation of a decode.  ws.c builds no JSON but uses the same hook, so
 * its tests can count and fail its allocations the same way.
 */
#ifndef ROOMCAST_JSONMEM_H
#define ROOMCAST_JSONMEM_H

#include <stddef.h>

#include <jansson.h>

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

#endif
