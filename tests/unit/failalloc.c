/* failalloc.c - the unit tests' counting allocator (see failalloc.h).
 *
 * The free hook is not told a block's size, so each block carries it in a
 * header before the caller's bytes; the header keeps the caller's bytes as
 * aligned as test_malloc()'s.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "failalloc.h"

struct failalloc_heap failalloc_heap;

union failalloc_header {
	size_t size;
	max_align_t align;
};

void *failalloc_malloc(size_t size)
{
	union failalloc_header *h;

	if (!failalloc_heap.paused && ++failalloc_heap.n_allocs == failalloc_heap.fail_at) {
		failalloc_heap.n_failed++;
		return NULL;
	}
	h = test_malloc(sizeof *h + size);
	h->size = size;
	failalloc_heap.live_bytes += size;
	failalloc_heap.requested_bytes += size;
	return h + 1;
}

void failalloc_free(void *p)
{
	union failalloc_header *h;

	if (p == NULL)
		return;
	h = (union failalloc_header *)p - 1;
	assert_true(h->size <= failalloc_heap.live_bytes);
	failalloc_heap.live_bytes -= h->size;
	test_free(h);
}

int failalloc_setup(void **state)
{
	memset(&failalloc_heap, 0, sizeof failalloc_heap);
	return 0;
}

void failalloc_reset(unsigned long fail_at)
{
	failalloc_heap.n_allocs = 0;
	failalloc_heap.fail_at = fail_at;
	failalloc_heap.n_failed = 0;
	failalloc_heap.requested_bytes = 0;
}
