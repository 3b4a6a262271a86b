/* failalloc.h - the unit tests' counting allocator, which fails on request.
 *
 * A test installs failalloc_malloc() and failalloc_free() as a module's
 * allocator (json_set_alloc_funcs(), room_set_allocator()).  Every block
 * comes from cmocka's test_malloc(), so each test ends with its leaks and
 * overruns checked; the counters say what the module holds and asked for;
 * and allocation number fail_at fails, so that a test can fail the 1st,
 * 2nd, ... allocation of an operation until it succeeds and check that
 * each failure is clean.  Include after <cmocka.h>.
 */
#ifndef ROOMCAST_TESTS_FAILALLOC_H
#define ROOMCAST_TESTS_FAILALLOC_H

#include <stdbool.h>
#include <stddef.h>

struct failalloc_heap {
	size_t live_bytes;      /* asked for by the module, not yet freed */
	size_t requested_bytes; /* every size asked for since the last reset */
	unsigned long n_allocs; /* allocations tried since the last reset */
	unsigned long fail_at;  /* fail allocation number fail_at (1-based); 0: none */
	unsigned long n_failed;
	bool paused;            /* the test's own allocations: neither counted nor failed */
};

extern struct failalloc_heap failalloc_heap;

/* The hooks.  A failed allocation returns NULL and counts in n_failed. */
void *failalloc_malloc(size_t size);
void failalloc_free(void *p);

/* cmocka per-test setup: a test that failed half-way may have left blocks
 * and counters behind (cmocka reports its leaks); the next starts clean. */
int failalloc_setup(void **state);

/* Starts counting allocations from zero, failing number <fail_at> (0:
 * none); live_bytes carries on. */
void failalloc_reset(unsigned long fail_at);

#endif
