/* test_room.c - unit tests for the room index and broadcast (room.c).
 *
 * Covers join, leave and membership with their 0/1 results, a room not
 * joined left from either side of the membership lookup (room.c walks the
 * shorter of the room's and the member's lists); rooms freed with their
 * last member and by member cleanup; names as bytes (embedded NUL, equal
 * prefixes, empty); broadcasts to one room, to overlapping rooms, with
 * except rooms, with a skipped member and to everyone, each recipient
 * counted exactly; serials across many broadcasts; one member in 200 rooms,
 * joined and left in random order.
 *
 * Own rooms (the room named by a socket's id, virtual in room.c): in it
 * from init, counted and listed like any room; reached and excluded by its
 * name, once also when a target room holds the member; left and joined
 * again without allocating; a real room of the same name, joined by other
 * members before or after the owner exists, reaching both sides once and
 * listed once; own names as bytes; the own-name table's deletions, in any
 * order; cleanup of a member whose init failed, and a second cleanup.
 *
 * A 1000 member x 10 room random run, with 300 own rooms left, joined
 * again and joined by others, checked against a brute-force model; the
 * bytes an idle socket costs; a join failed at each of its allocations in
 * turn, from the first until it succeeds, as it creates rooms and grows
 * the room table, also beside own rooms; and an init failed the same way
 * as it creates and doubles the own-name table.
 *
 * room.c allocates through room_set_allocator(), wired here to the
 * failing allocator (failalloc.h) on cmocka's test_malloc(), so that every
 * test ends with its leaks and overruns checked, and so that one
 * allocation can be made to fail.  Not covered
 * here: what a socket does with a refused join (nsp tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <uthash.h>  /* only the size of a new table, for the growth count */

#include "room.h"
#include "failalloc.h"

/* A literal as the name and length arguments, embedded NULs included. */
#define NAME(s) (s), (sizeof(s) - 1)
#define ROOM_NAME(s) { (s), sizeof(s) - 1 }

/* ---- allocator: failalloc.h, counting uthash's table growths ---- */

/* Failed allocations bigger than a new table's buckets: uthash growing the
 * room table.  A failed join leaves the table as it was, and rooms hash by
 * name, so the retry grows it again: each growth fails once in a
 * failing-join loop. */
static unsigned test_room_n_growths_failed;

static void *test_room_malloc(size_t size)
{
	void *p = failalloc_malloc(size);

	if (p == NULL && size > HASH_INITIAL_NUM_BUCKETS * sizeof(UT_hash_bucket))
		test_room_n_growths_failed++;
	return p;
}

static int test_room_group_setup(void **state)
{
	room_set_allocator(test_room_malloc, failalloc_free);
	return 0;
}

static int test_room_group_teardown(void **state)
{
	room_set_allocator(NULL, NULL);
	return 0;
}

/* ---- sockets and visitors ---- */

/* Socket ids are 20 bytes (ID_LEN in id.h). */
#define TEST_ROOM_ID_LEN 20

/* What nsp.c would be: a socket that embeds its membership and owns the
 * bytes of its id, its own room's name. */
struct test_room_sock {
	struct room_member m;
	unsigned visits;        /* visits since the counts were last cleared */
	char id[TEST_ROOM_ID_LEN + 1];
};

struct test_room_visits {
	size_t n_calls;
	struct test_room_sock *last;
};

static void test_room_visit(void *owner, void *arg)
{
	struct test_room_sock *s = owner;
	struct test_room_visits *v = arg;

	s->visits++;
	v->n_calls++;
	v->last = s;
}

/* Socks with no own room. */
static void test_room_socks_init(struct room_index *idx, struct test_room_sock *socks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&socks[i], 0, sizeof socks[i]);
		assert_int_equal(room_member_init(idx, &socks[i].m, &socks[i], NULL, 0), 0);
	}
}

/* Sock <i>'s id: "sock-" and <i> in 15 digits, 20 bytes. */
static void test_room_sock_id(char id[TEST_ROOM_ID_LEN + 1], size_t i)
{
	snprintf(id, TEST_ROOM_ID_LEN + 1, "sock-%015zu", i);
}

/* Socks in their own rooms, named by their ids, as nsp.c makes them. */
static void test_room_socks_init_with_ids(struct room_index *idx, struct test_room_sock *socks,
					  size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&socks[i], 0, sizeof socks[i]);
		test_room_sock_id(socks[i].id, i);
		assert_int_equal(room_member_init(idx, &socks[i].m, &socks[i], socks[i].id,
						  TEST_ROOM_ID_LEN), 0);
	}
}

static void test_room_socks_clear_visits(struct test_room_sock *socks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		socks[i].visits = 0;
}

/* Cleans every sock up, then checks that no room is left and frees. */
static void test_room_finish(struct room_index *idx, struct test_room_sock *socks, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		room_member_cleanup(idx, &socks[i].m);
	assert_int_equal(room_index_room_count(idx), 0);
	room_index_free(idx);
}

static struct room_index *test_room_index_new(void)
{
	struct room_index *idx = room_index_new();

	assert_non_null(idx);
	return idx;
}

/* Broadcasts and returns the visit count after checking that it matches
 * the visitor's calls and that no sock was visited twice. */
static size_t test_room_broadcast(struct room_index *idx, struct test_room_sock *socks, size_t n,
				  const struct room_name *rooms, size_t n_rooms,
				  const struct room_name *except, size_t n_except,
				  const struct room_member *skip)
{
	struct test_room_visits v = { 0, NULL };
	size_t n_visited, i;

	test_room_socks_clear_visits(socks, n);
	n_visited = room_broadcast(idx, rooms, n_rooms, except, n_except, skip,
				   test_room_visit, &v);
	assert_int_equal(n_visited, v.n_calls);
	for (i = 0; i < n; i++)
		assert_in_range(socks[i].visits, 0, 1);
	return n_visited;
}

/* ---- a brute-force model of the index ---- */

#define TEST_ROOM_NAME_MAX 24

/* Sockets, room names and who is in which room, kept beside a real index.
 * An own room is a room like the others to the model: its owner is in it
 * from init, and leaves and joins it with the same results. */
struct test_room_model {
	struct room_index *idx;
	struct test_room_sock *socks;
	size_t n_socks;
	size_t n_shared;        /* rooms 0 .. n_shared-1 are nobody's own */
	size_t n_rooms;         /* n_shared, then one own room per sock that has one */
	char (*names)[TEST_ROOM_NAME_MAX];
	size_t *name_lens;
	bool *in;               /* in[sock * n_rooms + room] */
};

static bool *test_room_model_in(struct test_room_model *md, size_t s, size_t r)
{
	return &md->in[s * md->n_rooms + r];
}

/* Sock <s>'s own room in the model, or n_rooms if it has none. */
static size_t test_room_model_own(const struct test_room_model *md, size_t s)
{
	return md->n_shared + s < md->n_rooms ? md->n_shared + s : md->n_rooms;
}

/* Puts sock <s> in the index, in its own room if it has one. */
static void test_room_model_sock_init(struct test_room_model *md, size_t s)
{
	size_t own = test_room_model_own(md, s);

	if (own == md->n_rooms) {
		assert_int_equal(room_member_init(md->idx, &md->socks[s].m, &md->socks[s], NULL, 0),
				 0);
		return;
	}
	assert_int_equal(room_member_init(md->idx, &md->socks[s].m, &md->socks[s], md->names[own],
					  md->name_lens[own]), 0);
	*test_room_model_in(md, s, own) = true;
}

/* Shared room <r> is "r<r>" when r is even and "r<r-1>\0" when it is odd,
 * so that half the names are the other half plus a NUL byte.  Socks 0 ..
 * n_own-1 have own rooms, named like socket ids (test_room_sock_id()). */
static void test_room_model_init(struct test_room_model *md, size_t n_socks, size_t n_shared,
				 size_t n_own)
{
	size_t r, s;

	assert_true(n_own <= n_socks);
	md->idx = test_room_index_new();
	md->n_socks = n_socks;
	md->n_shared = n_shared;
	md->n_rooms = n_shared + n_own;
	md->socks = test_calloc(n_socks, sizeof *md->socks);
	md->names = test_calloc(md->n_rooms, sizeof *md->names);
	md->name_lens = test_calloc(md->n_rooms, sizeof *md->name_lens);
	md->in = test_calloc(n_socks * md->n_rooms, sizeof *md->in);
	for (r = 0; r < n_shared; r++) {
		int len = snprintf(md->names[r], TEST_ROOM_NAME_MAX, "r%zu", r & ~(size_t)1);

		md->name_lens[r] = (size_t)len + (r & 1);
	}
	for (s = 0; s < n_own; s++) {
		test_room_sock_id(md->names[n_shared + s], s);
		md->name_lens[n_shared + s] = TEST_ROOM_ID_LEN;
	}
	for (s = 0; s < n_socks; s++)
		test_room_model_sock_init(md, s);
}

/* Cleans sock <s> up and puts it back in the index, as a socket that
 * disconnects and one that connects with the same id would do. */
static void test_room_model_sock_reinit(struct test_room_model *md, size_t s)
{
	size_t r;

	room_member_cleanup(md->idx, &md->socks[s].m);
	for (r = 0; r < md->n_rooms; r++)
		*test_room_model_in(md, s, r) = false;
	test_room_model_sock_init(md, s);
}

static void test_room_model_finish(struct test_room_model *md)
{
	test_room_finish(md->idx, md->socks, md->n_socks);
	test_free(md->in);
	test_free(md->name_lens);
	test_free(md->names);
	test_free(md->socks);
}

static int test_room_model_join(struct test_room_model *md, size_t s, size_t r)
{
	int rc = room_join(md->idx, &md->socks[s].m, md->names[r], md->name_lens[r]);

	if (rc == 0)
		*test_room_model_in(md, s, r) = true;
	return rc;
}

static int test_room_model_leave(struct test_room_model *md, size_t s, size_t r)
{
	int rc = room_leave(md->idx, &md->socks[s].m, md->names[r], md->name_lens[r]);

	*test_room_model_in(md, s, r) = false;
	return rc;
}

static size_t test_room_model_find_name(const struct test_room_model *md, const char *name,
					size_t len)
{
	size_t r;

	for (r = 0; r < md->n_rooms; r++)
		if (md->name_lens[r] == len && memcmp(md->names[r], name, len) == 0)
			return r;
	return md->n_rooms;
}

struct test_room_each {
	const struct test_room_model *md;
	size_t sock;
	bool *seen;             /* one per room of the model */
	size_t n_calls;
};

static void test_room_each_check(void *arg, const char *name, size_t len)
{
	struct test_room_each *e = arg;
	size_t r = test_room_model_find_name(e->md, name, len);

	assert_true(r < e->md->n_rooms);
	assert_true(e->md->in[e->sock * e->md->n_rooms + r]);
	assert_false(e->seen[r]);
	e->seen[r] = true;
	e->n_calls++;
}

struct test_room_index_each {
	const struct test_room_model *md;
	bool *seen;             /* one per room of the model */
	size_t n_calls;
};

/* Every room the index lists is a model room with a member, listed once. */
static void test_room_index_each_check(void *arg, const char *name, size_t len)
{
	struct test_room_index_each *e = arg;
	size_t r = test_room_model_find_name(e->md, name, len);
	size_t s;
	bool has_member = false;

	assert_true(r < e->md->n_rooms);
	for (s = 0; s < e->md->n_socks; s++)
		has_member |= e->md->in[s * e->md->n_rooms + r];
	assert_true(has_member);
	assert_false(e->seen[r]);
	e->seen[r] = true;
	e->n_calls++;
}

/* Checks every query of room.h against the model. */
static void test_room_model_check(struct test_room_model *md)
{
	bool *seen = test_calloc(md->n_rooms, sizeof *seen);
	size_t n_nonempty = 0;
	size_t s, r;

	for (r = 0; r < md->n_rooms; r++) {
		size_t n_members = 0;

		for (s = 0; s < md->n_socks; s++) {
			bool in = *test_room_model_in(md, s, r);

			n_members += in;
			assert_int_equal(room_is_member(md->idx, &md->socks[s].m, md->names[r],
							md->name_lens[r]), in);
		}
		assert_int_equal(room_size(md->idx, md->names[r], md->name_lens[r]), n_members);
		n_nonempty += n_members != 0;
	}
	assert_int_equal(room_index_room_count(md->idx), n_nonempty);
	{
		struct test_room_index_each e = { md, seen, 0 };

		room_index_each_room(md->idx, test_room_index_each_check, &e);
		assert_int_equal(e.n_calls, n_nonempty);
	}

	for (s = 0; s < md->n_socks; s++) {
		struct test_room_each e = { md, s, seen, 0 };
		size_t n_in = 0;

		memset(seen, 0, md->n_rooms * sizeof *seen);
		for (r = 0; r < md->n_rooms; r++)
			n_in += *test_room_model_in(md, s, r);
		assert_int_equal(room_member_room_count(&md->socks[s].m), n_in);
		room_member_each_room(&md->socks[s].m, test_room_each_check, &e);
		assert_int_equal(e.n_calls, n_in);
	}
	test_free(seen);
}

/* Broadcasts to model rooms <targets> except <excepts> (indexes, repeats
 * allowed) skipping sock <skip> (n_socks: none), and checks each sock was
 * visited exactly when the model says. */
static void test_room_model_broadcast(struct test_room_model *md, const size_t *targets,
				      size_t n_targets, const size_t *excepts, size_t n_excepts,
				      size_t skip)
{
	struct room_name rooms[8], except[8];
	size_t n_expected = 0, n_visited;
	size_t i, s;

	assert_true(n_targets <= 8 && n_excepts <= 8);
	for (i = 0; i < n_targets; i++)
		rooms[i] = (struct room_name){ md->names[targets[i]], md->name_lens[targets[i]] };
	for (i = 0; i < n_excepts; i++)
		except[i] = (struct room_name){ md->names[excepts[i]], md->name_lens[excepts[i]] };

	n_visited = test_room_broadcast(md->idx, md->socks, md->n_socks, rooms, n_targets, except,
					n_excepts, skip < md->n_socks ? &md->socks[skip].m : NULL);
	for (s = 0; s < md->n_socks; s++) {
		bool want = n_targets == 0;

		for (i = 0; i < n_targets; i++)
			want |= *test_room_model_in(md, s, targets[i]);
		for (i = 0; i < n_excepts; i++)
			want &= !*test_room_model_in(md, s, excepts[i]);
		want &= s != skip;
		assert_int_equal(md->socks[s].visits, want);
		n_expected += want;
	}
	assert_int_equal(n_visited, n_expected);
}

/* splitmix64: a fixed sequence on every platform, unlike rand(). */
static uint64_t test_room_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static size_t test_room_rand_below(uint64_t *state, size_t n)
{
	return (size_t)(test_room_rand(state) % n);
}

/* Fills <v> with 0 .. n-1 in a random order (Fisher-Yates). */
static void test_room_shuffle(uint64_t *state, size_t *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = i;
	for (i = n; i > 1; i--) {
		size_t j = test_room_rand_below(state, i);
		size_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* ---- the index ---- */

static void a_new_index_has_no_rooms(void **state)
{
	struct room_index *idx = test_room_index_new();

	assert_int_equal(room_index_room_count(idx), 0);
	assert_int_equal(room_size(idx, NAME("a")), 0);
	room_index_free(idx);
}

static void freeing_a_null_index_does_nothing(void **state)
{
	room_index_free(NULL);
}

static void an_index_that_cannot_be_allocated_is_null(void **state)
{
	failalloc_reset(1);
	assert_null(room_index_new());
	failalloc_reset(0);
}

/* ---- join, leave, membership ---- */

static void a_joined_member_is_in_the_room(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];

	test_room_socks_init(idx, s, 2);
	assert_int_equal(room_join(idx, &s[0].m, NAME("lobby")), 0);
	assert_true(room_is_member(idx, &s[0].m, NAME("lobby")));
	assert_false(room_is_member(idx, &s[1].m, NAME("lobby")));
	assert_int_equal(room_member_room_count(&s[0].m), 1);
	assert_int_equal(room_member_room_count(&s[1].m), 0);
	assert_int_equal(room_size(idx, NAME("lobby")), 1);
	assert_int_equal(room_index_room_count(idx), 1);

	assert_int_equal(room_join(idx, &s[1].m, NAME("lobby")), 0);
	assert_int_equal(room_size(idx, NAME("lobby")), 2);
	assert_int_equal(room_index_room_count(idx), 1);
	test_room_finish(idx, s, 2);
}

static void joining_a_room_twice_returns_1_and_changes_nothing(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[1];

	test_room_socks_init(idx, s, 1);
	assert_int_equal(room_join(idx, &s[0].m, NAME("lobby")), 0);
	failalloc_reset(0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("lobby")), 1);
	assert_int_equal(failalloc_heap.n_allocs, 0);
	assert_int_equal(room_member_room_count(&s[0].m), 1);
	assert_int_equal(room_size(idx, NAME("lobby")), 1);
	assert_int_equal(room_index_room_count(idx), 1);
	test_room_finish(idx, s, 1);
}

static void leaving_a_room_not_joined_returns_1(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];

	test_room_socks_init(idx, s, 2);
	/* A room nobody is in, then a room someone else is in. */
	assert_int_equal(room_leave(idx, &s[0].m, NAME("nowhere")), 1);
	assert_int_equal(room_join(idx, &s[1].m, NAME("lobby")), 0);
	assert_int_equal(room_leave(idx, &s[0].m, NAME("lobby")), 1);
	assert_int_equal(room_size(idx, NAME("lobby")), 1);
	assert_true(room_is_member(idx, &s[1].m, NAME("lobby")));
	assert_int_equal(room_index_room_count(idx), 1);
	test_room_finish(idx, s, 2);
}

/* room.c finds a membership by walking the shorter of two lists: the
 * room's members or the member's rooms.  A miss must walk either to its
 * end and change nothing. */
static void leaving_a_room_not_joined_changes_nothing_whichever_list_is_shorter(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[5];
	size_t i;

	test_room_socks_init(idx, s, 5);
	/* s0 is in 3 rooms; "small" has 1 member, "big" 4. */
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("b")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("c")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("small")), 0);
	for (i = 1; i < 5; i++)
		assert_int_equal(room_join(idx, &s[i].m, NAME("big")), 0);

	failalloc_reset(0);
	/* The room's list is the shorter, then the member's. */
	assert_false(room_is_member(idx, &s[0].m, NAME("small")));
	assert_int_equal(room_leave(idx, &s[0].m, NAME("small")), 1);
	assert_false(room_is_member(idx, &s[0].m, NAME("big")));
	assert_int_equal(room_leave(idx, &s[0].m, NAME("big")), 1);
	/* A member with no rooms at all. */
	room_member_cleanup(idx, &s[4].m);
	assert_int_equal(room_member_init(idx, &s[4].m, &s[4], NULL, 0), 0);
	assert_int_equal(room_leave(idx, &s[4].m, NAME("big")), 1);
	assert_int_equal(failalloc_heap.n_allocs, 0);

	assert_int_equal(room_member_room_count(&s[0].m), 3);
	assert_true(room_is_member(idx, &s[0].m, NAME("a")));
	assert_true(room_is_member(idx, &s[0].m, NAME("b")));
	assert_true(room_is_member(idx, &s[0].m, NAME("c")));
	assert_int_equal(room_size(idx, NAME("small")), 1);
	assert_int_equal(room_size(idx, NAME("big")), 3);
	assert_int_equal(room_index_room_count(idx), 5);
	/* And a member found from either side is left from either side. */
	assert_int_equal(room_leave(idx, &s[1].m, NAME("small")), 0);
	assert_int_equal(room_leave(idx, &s[1].m, NAME("big")), 0);
	assert_int_equal(room_size(idx, NAME("big")), 2);
	assert_int_equal(room_index_room_count(idx), 4);
	test_room_finish(idx, s, 5);
}

static void a_left_room_is_left_and_can_be_joined_again(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[1];

	test_room_socks_init(idx, s, 1);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("b")), 0);
	assert_int_equal(room_leave(idx, &s[0].m, NAME("a")), 0);
	assert_false(room_is_member(idx, &s[0].m, NAME("a")));
	assert_true(room_is_member(idx, &s[0].m, NAME("b")));
	assert_int_equal(room_member_room_count(&s[0].m), 1);
	assert_int_equal(room_leave(idx, &s[0].m, NAME("a")), 1);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_true(room_is_member(idx, &s[0].m, NAME("a")));
	assert_int_equal(room_member_room_count(&s[0].m), 2);
	test_room_finish(idx, s, 1);
}

static void a_room_is_freed_when_its_last_member_leaves(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];

	test_room_socks_init(idx, s, 2);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("b")), 0);
	assert_int_equal(room_index_room_count(idx), 2);

	assert_int_equal(room_leave(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_index_room_count(idx), 2);
	assert_int_equal(room_size(idx, NAME("a")), 1);
	assert_int_equal(room_leave(idx, &s[1].m, NAME("a")), 0);
	assert_int_equal(room_index_room_count(idx), 1);
	assert_int_equal(room_size(idx, NAME("a")), 0);
	assert_int_equal(room_leave(idx, &s[1].m, NAME("b")), 0);
	assert_int_equal(room_index_room_count(idx), 0);

	/* Only the members are left; the index frees without leaks. */
	test_room_finish(idx, s, 2);
}

static void cleanup_leaves_every_room_and_frees_the_empty_ones(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];
	struct test_room_visits v = { 0, NULL };

	test_room_socks_init(idx, s, 2);
	assert_int_equal(room_join(idx, &s[0].m, NAME("shared")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("own")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("other")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("shared")), 0);
	assert_int_equal(room_index_room_count(idx), 3);

	room_member_cleanup(idx, &s[0].m);
	assert_int_equal(room_index_room_count(idx), 1);
	assert_int_equal(room_size(idx, NAME("shared")), 1);
	assert_int_equal(room_size(idx, NAME("own")), 0);
	assert_int_equal(room_size(idx, NAME("other")), 0);
	assert_int_equal(room_member_room_count(&s[0].m), 0);

	/* Gone from the list of every member too. */
	assert_int_equal(room_broadcast(idx, NULL, 0, NULL, 0, NULL, test_room_visit, &v), 1);
	assert_ptr_equal(v.last, &s[1]);
	test_room_finish(idx, &s[1], 1);
}

static void cleanup_of_a_member_without_rooms_only_unlinks_it(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[3];
	const struct room_name everyone_but_none[1] = { ROOM_NAME("none") };

	test_room_socks_init(idx, s, 3);
	room_member_cleanup(idx, &s[1].m);
	assert_int_equal(test_room_broadcast(idx, s, 3, NULL, 0, everyone_but_none, 1, NULL), 2);
	assert_int_equal(s[0].visits, 1);
	assert_int_equal(s[1].visits, 0);
	assert_int_equal(s[2].visits, 1);
	room_member_cleanup(idx, &s[0].m);
	room_member_cleanup(idx, &s[2].m);
	assert_int_equal(test_room_broadcast(idx, s, 3, NULL, 0, NULL, 0, NULL), 0);
	room_index_free(idx);
}

struct test_room_names_seen {
	unsigned a, ab, a_nul, empty;
	unsigned other;
};

static void test_room_names_collect(void *arg, const char *name, size_t len)
{
	struct test_room_names_seen *seen = arg;

	if (len == 1 && memcmp(name, "a", 1) == 0)
		seen->a++;
	else if (len == 2 && memcmp(name, "ab", 2) == 0)
		seen->ab++;
	else if (len == 2 && memcmp(name, "a\0", 2) == 0)
		seen->a_nul++;
	else if (len == 0)
		seen->empty++;
	else
		seen->other++;
}

static void each_room_gives_every_room_of_the_member_once_with_its_bytes(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];
	struct test_room_names_seen seen = { 0 };

	test_room_socks_init(idx, s, 2);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("ab")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a\0")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("b")), 0);
	room_member_each_room(&s[0].m, test_room_names_collect, &seen);
	assert_int_equal(seen.a, 1);
	assert_int_equal(seen.ab, 1);
	assert_int_equal(seen.a_nul, 1);
	assert_int_equal(seen.empty, 1);
	assert_int_equal(seen.other, 0);
	test_room_finish(idx, s, 2);
}

static void each_room_of_the_index_gives_every_room_once(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];
	struct test_room_names_seen seen = { 0 };

	test_room_socks_init(idx, s, 2);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("ab")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("")), 0);
	assert_int_equal(room_leave(idx, &s[0].m, NAME("ab")), 0);
	room_index_each_room(idx, test_room_names_collect, &seen);
	assert_int_equal(seen.a, 1);
	assert_int_equal(seen.ab, 0);
	assert_int_equal(seen.empty, 1);
	assert_int_equal(seen.other, 0);
	test_room_finish(idx, s, 2);
}

/* ---- names are bytes ---- */

static void names_with_equal_prefixes_are_different_rooms(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];

	test_room_socks_init(idx, s, 2);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("ab")), 0);
	assert_true(room_is_member(idx, &s[0].m, NAME("a")));
	assert_false(room_is_member(idx, &s[0].m, NAME("ab")));
	assert_false(room_is_member(idx, &s[1].m, NAME("a")));
	assert_true(room_is_member(idx, &s[1].m, NAME("ab")));
	/* A length shorter than the bytes passed is a prefix, not the string. */
	assert_true(room_is_member(idx, &s[0].m, "ab", 1));
	assert_int_equal(room_size(idx, NAME("a")), 1);
	assert_int_equal(room_size(idx, NAME("ab")), 1);
	assert_int_equal(room_index_room_count(idx), 2);
	assert_int_equal(room_leave(idx, &s[0].m, NAME("ab")), 1);
	test_room_finish(idx, s, 2);
}

static void names_with_embedded_nul_are_compared_by_length(void **state)
{
	static const struct room_name names[] = {
		ROOM_NAME("a"), ROOM_NAME("a\0"), ROOM_NAME("a\0b"), ROOM_NAME("a\0c"),
		ROOM_NAME("\0"), ROOM_NAME("\0\0"), ROOM_NAME(""),
	};
	const size_t n = sizeof names / sizeof names[0];
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[7];
	size_t i, j;

	test_room_socks_init(idx, s, n);
	for (i = 0; i < n; i++)
		assert_int_equal(room_join(idx, &s[i].m, names[i].name, names[i].len), 0);
	assert_int_equal(room_index_room_count(idx), n);
	for (i = 0; i < n; i++) {
		assert_int_equal(room_size(idx, names[i].name, names[i].len), 1);
		for (j = 0; j < n; j++)
			assert_int_equal(room_is_member(idx, &s[i].m, names[j].name, names[j].len),
					 i == j);
	}
	for (i = 0; i < n; i++) {
		assert_int_equal(test_room_broadcast(idx, s, n, &names[i], 1, NULL, 0, NULL), 1);
		assert_int_equal(s[i].visits, 1);
	}
	test_room_finish(idx, s, n);
}

static void an_empty_name_may_come_as_null(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[1];
	const struct room_name null_name = { NULL, 0 };

	test_room_socks_init(idx, s, 1);
	assert_int_equal(room_join(idx, &s[0].m, NULL, 0), 0);
	assert_int_equal(room_join(idx, &s[0].m, NAME("")), 1);
	assert_true(room_is_member(idx, &s[0].m, NULL, 0));
	assert_int_equal(room_size(idx, NULL, 0), 1);
	assert_int_equal(test_room_broadcast(idx, s, 1, &null_name, 1, NULL, 0, NULL), 1);
	assert_int_equal(room_leave(idx, &s[0].m, NULL, 0), 0);
	assert_int_equal(room_index_room_count(idx), 0);
	test_room_finish(idx, s, 1);
}

/* ---- broadcast ---- */

/* s0 in a; s1 in a, b; s2 in b; s3 in c; s4 in no room. */
static struct room_index *test_room_five(struct test_room_sock *s)
{
	struct room_index *idx = test_room_index_new();

	test_room_socks_init(idx, s, 5);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("b")), 0);
	assert_int_equal(room_join(idx, &s[2].m, NAME("b")), 0);
	assert_int_equal(room_join(idx, &s[3].m, NAME("c")), 0);
	return idx;
}

static void test_room_assert_visited(const struct test_room_sock *s, unsigned v0, unsigned v1,
				     unsigned v2, unsigned v3, unsigned v4)
{
	assert_int_equal(s[0].visits, v0);
	assert_int_equal(s[1].visits, v1);
	assert_int_equal(s[2].visits, v2);
	assert_int_equal(s[3].visits, v3);
	assert_int_equal(s[4].visits, v4);
}

static void a_broadcast_to_one_room_visits_its_members(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name a[] = { ROOM_NAME("a") };

	assert_int_equal(test_room_broadcast(idx, s, 5, a, 1, NULL, 0, NULL), 2);
	test_room_assert_visited(s, 1, 1, 0, 0, 0);
	test_room_finish(idx, s, 5);
}

static void a_member_of_two_target_rooms_is_visited_once(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name ab[] = { ROOM_NAME("a"), ROOM_NAME("b") };

	assert_int_equal(test_room_broadcast(idx, s, 5, ab, 2, NULL, 0, NULL), 3);
	test_room_assert_visited(s, 1, 1, 1, 0, 0);
	test_room_finish(idx, s, 5);
}

static void a_target_room_named_twice_visits_its_members_once(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name aa[] = { ROOM_NAME("a"), ROOM_NAME("a") };

	assert_int_equal(test_room_broadcast(idx, s, 5, aa, 2, NULL, 0, NULL), 2);
	test_room_assert_visited(s, 1, 1, 0, 0, 0);
	test_room_finish(idx, s, 5);
}

static void a_broadcast_to_rooms_that_do_not_exist_visits_nobody(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name none[] = { ROOM_NAME("x"), ROOM_NAME("A"), ROOM_NAME("a\0") };

	assert_int_equal(test_room_broadcast(idx, s, 5, none, 3, NULL, 0, NULL), 0);
	test_room_assert_visited(s, 0, 0, 0, 0, 0);
	test_room_finish(idx, s, 5);
}

static void members_of_an_except_room_are_not_visited_even_in_a_target_room(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name ab[] = { ROOM_NAME("a"), ROOM_NAME("b") };
	const struct room_name except_b[] = { ROOM_NAME("b") };
	const struct room_name except_missing[] = { ROOM_NAME("x") };

	/* s1 is in target a and except b. */
	assert_int_equal(test_room_broadcast(idx, s, 5, ab, 1, except_b, 1, NULL), 1);
	test_room_assert_visited(s, 1, 0, 0, 0, 0);
	assert_int_equal(test_room_broadcast(idx, s, 5, ab, 2, except_b, 1, NULL), 1);
	test_room_assert_visited(s, 1, 0, 0, 0, 0);
	/* Excepting a target room leaves nobody of it. */
	assert_int_equal(test_room_broadcast(idx, s, 5, &ab[1], 1, except_b, 1, NULL), 0);
	/* An except room that does not exist excludes nobody. */
	assert_int_equal(test_room_broadcast(idx, s, 5, ab, 2, except_missing, 1, NULL), 3);
	test_room_assert_visited(s, 1, 1, 1, 0, 0);
	test_room_finish(idx, s, 5);
}

static void the_skipped_member_is_not_visited(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name ab[] = { ROOM_NAME("a"), ROOM_NAME("b") };

	assert_int_equal(test_room_broadcast(idx, s, 5, ab, 2, NULL, 0, &s[1].m), 2);
	test_room_assert_visited(s, 1, 0, 1, 0, 0);
	/* Skipping a member outside the target rooms changes nothing. */
	assert_int_equal(test_room_broadcast(idx, s, 5, ab, 2, NULL, 0, &s[3].m), 3);
	test_room_assert_visited(s, 1, 1, 1, 0, 0);
	test_room_finish(idx, s, 5);
}

static void a_broadcast_to_everyone_visits_members_without_rooms_too(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);

	assert_int_equal(test_room_broadcast(idx, s, 5, NULL, 0, NULL, 0, NULL), 5);
	test_room_assert_visited(s, 1, 1, 1, 1, 1);
	assert_int_equal(test_room_broadcast(idx, s, 5, NULL, 0, NULL, 0, &s[4].m), 4);
	test_room_assert_visited(s, 1, 1, 1, 1, 0);
	test_room_finish(idx, s, 5);
}

static void a_broadcast_to_everyone_leaves_out_the_except_rooms(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name except_bc[] = { ROOM_NAME("b"), ROOM_NAME("c") };

	assert_int_equal(test_room_broadcast(idx, s, 5, NULL, 0, except_bc, 2, NULL), 2);
	test_room_assert_visited(s, 1, 0, 0, 0, 1);
	assert_int_equal(test_room_broadcast(idx, s, 5, NULL, 0, except_bc, 1, &s[0].m), 2);
	test_room_assert_visited(s, 0, 0, 0, 1, 1);
	test_room_finish(idx, s, 5);
}

static void the_visitor_gets_each_owner_and_the_argument(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name c[] = { ROOM_NAME("c") };
	struct test_room_visits v = { 0, NULL };

	assert_int_equal(room_broadcast(idx, c, 1, NULL, 0, NULL, test_room_visit, &v), 1);
	assert_int_equal(v.n_calls, 1);
	assert_ptr_equal(v.last, &s[3]);
	test_room_finish(idx, s, 5);
}

static void a_broadcast_allocates_nothing(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name abc[] = { ROOM_NAME("a"), ROOM_NAME("b"), ROOM_NAME("c") };

	failalloc_reset(0);
	assert_int_equal(test_room_broadcast(idx, s, 5, abc, 3, &abc[2], 1, &s[0].m), 2);
	assert_int_equal(test_room_broadcast(idx, s, 5, NULL, 0, abc, 1, NULL), 3);
	assert_int_equal(failalloc_heap.n_allocs, 0);
	test_room_finish(idx, s, 5);
}

static void a_member_excluded_from_one_broadcast_is_visited_by_the_next(void **state)
{
	struct test_room_sock s[5];
	struct room_index *idx = test_room_five(s);
	const struct room_name ab[] = { ROOM_NAME("a"), ROOM_NAME("b") };
	const struct room_name except_b[] = { ROOM_NAME("b") };

	assert_int_equal(test_room_broadcast(idx, s, 5, ab, 2, except_b, 1, &s[0].m), 0);
	assert_int_equal(test_room_broadcast(idx, s, 5, ab, 2, NULL, 0, NULL), 3);
	test_room_assert_visited(s, 1, 1, 1, 0, 0);
	assert_int_equal(test_room_broadcast(idx, s, 5, NULL, 0, except_b, 1, NULL), 3);
	assert_int_equal(test_room_broadcast(idx, s, 5, NULL, 0, NULL, 0, NULL), 5);
	test_room_finish(idx, s, 5);
}

/* The stamp of each broadcast must count for that broadcast only, whatever
 * came before: 10000 broadcasts cycling through every mix of targets,
 * except rooms and skip, each checked against the model. */
static void many_broadcasts_each_visit_exactly_their_recipients(void **state)
{
	struct test_room_model md;
	unsigned long i;

	test_room_model_init(&md, 6, 4, 0);
	/* s0: r0; s1: r0 r1; s2: r1 r2; s3: r2 r3; s4: r0 r3; s5: none. */
	assert_int_equal(test_room_model_join(&md, 0, 0), 0);
	assert_int_equal(test_room_model_join(&md, 1, 0), 0);
	assert_int_equal(test_room_model_join(&md, 1, 1), 0);
	assert_int_equal(test_room_model_join(&md, 2, 1), 0);
	assert_int_equal(test_room_model_join(&md, 2, 2), 0);
	assert_int_equal(test_room_model_join(&md, 3, 2), 0);
	assert_int_equal(test_room_model_join(&md, 3, 3), 0);
	assert_int_equal(test_room_model_join(&md, 4, 0), 0);
	assert_int_equal(test_room_model_join(&md, 4, 3), 0);
	for (i = 0; i < 10000; i++) {
		size_t targets[4], excepts[4];
		size_t n_targets = 0, n_excepts = 0, r;

		/* Bits 0-3 pick targets, 4-7 except rooms, i % 7 the skip. */
		for (r = 0; r < 4; r++) {
			if (i & (1u << r))
				targets[n_targets++] = r;
			if (i & (16u << r))
				excepts[n_excepts++] = r;
		}
		test_room_model_broadcast(&md, targets, n_targets, excepts, n_excepts, i % 7);
	}
	test_room_model_check(&md);
	test_room_model_finish(&md);
}

/* ---- against a model ---- */

/* A room for sock <s> to act on: its own room (when it has one) a quarter
 * of the time, another sock's own room, where it makes a real room of that
 * name, a sixth, else a shared room. */
static size_t test_room_model_pick_room(const struct test_room_model *md, uint64_t *seed, size_t s)
{
	size_t n_own = md->n_rooms - md->n_shared;
	size_t pick = test_room_rand_below(seed, 12);

	if (pick < 3 && test_room_model_own(md, s) < md->n_rooms)
		return test_room_model_own(md, s);
	if (pick < 5 && n_own > 0)
		return md->n_shared + test_room_rand_below(seed, n_own);
	return test_room_rand_below(seed, md->n_shared);
}

/* 1000 socks, 300 of them with own rooms, and 10 shared rooms.  Socks
 * leave and join their own rooms again, join rooms named by other socks'
 * ids, disconnect and come back with the same id, and broadcasts name
 * shared rooms and ids, as targets and as except rooms. */
static void random_joins_leaves_and_broadcasts_match_a_brute_force_model(void **state)
{
	enum { N_SOCKS = 1000, N_SHARED = 10, N_OWN = 300, N_OPS = 20000 };
	struct test_room_model md;
	uint64_t seed = 20240601;
	size_t s, r, op;

	test_room_model_init(&md, N_SOCKS, N_SHARED, N_OWN);
	for (s = 0; s < N_SOCKS; s++)
		for (r = 0; r < N_SHARED; r++)
			if (test_room_rand_below(&seed, 10) < 3)
				assert_int_equal(test_room_model_join(&md, s, r), 0);
	test_room_model_check(&md);

	for (op = 0; op < N_OPS; op++) {
		size_t kind = test_room_rand_below(&seed, 100);

		s = test_room_rand_below(&seed, N_SOCKS);
		r = test_room_model_pick_room(&md, &seed, s);
		if (kind < 40) {
			bool was_in = *test_room_model_in(&md, s, r);

			assert_int_equal(test_room_model_join(&md, s, r), was_in ? 1 : 0);
		} else if (kind < 70) {
			bool was_in = *test_room_model_in(&md, s, r);

			assert_int_equal(test_room_model_leave(&md, s, r), was_in ? 0 : 1);
		} else if (kind < 72) {
			test_room_model_sock_reinit(&md, s);
		} else {
			size_t targets[3], excepts[2];
			size_t n_targets = test_room_rand_below(&seed, 4);
			size_t n_excepts = test_room_rand_below(&seed, 3);
			size_t i;

			for (i = 0; i < n_targets; i++)
				targets[i] = test_room_model_pick_room(
					&md, &seed, test_room_rand_below(&seed, N_SOCKS));
			for (i = 0; i < n_excepts; i++)
				excepts[i] = test_room_model_pick_room(
					&md, &seed, test_room_rand_below(&seed, N_SOCKS));
			/* Half the broadcasts skip a sender, half none. */
			test_room_model_broadcast(&md, targets, n_targets, excepts, n_excepts,
						  test_room_rand_below(&seed, 2) ? s : N_SOCKS);
		}
		if (op % 1000 == 999)
			test_room_model_check(&md);
	}
	test_room_model_finish(&md);
}

/* ---- one member in many rooms ---- */

/* Client joins are capped by max_rooms_per_socket, up to the operator, and
 * server-side joins not at all, so one member may be in many rooms, and
 * room.c finds a membership by walking the member's list or the room's.
 * Sock 0 joins 200 rooms in a random order and leaves them in another.  A
 * crowd shares room 0 with it, so there its own list is the shorter; sock 1
 * shares every third room, where the room's list is. */
static void a_member_in_200_rooms_joins_finds_and_leaves_them_in_any_order(void **state)
{
	enum { N_ROOMS = 200, N_CROWD = 250 };
	struct test_room_model md;
	struct room_name all[N_ROOMS];
	size_t order[N_ROOMS];
	uint64_t seed = 20240602;
	size_t i, r, s;

	test_room_model_init(&md, 2 + N_CROWD, N_ROOMS, 0);
	for (s = 2; s < 2 + N_CROWD; s++)
		assert_int_equal(test_room_model_join(&md, s, 0), 0);
	for (r = 0; r < N_ROOMS; r += 3)
		assert_int_equal(test_room_model_join(&md, 1, r), 0);
	for (r = 0; r < N_ROOMS; r++)
		all[r] = (struct room_name){ md.names[r], md.name_lens[r] };

	test_room_shuffle(&seed, order, N_ROOMS);
	for (i = 0; i < N_ROOMS; i++) {
		r = order[i];
		assert_false(room_is_member(md.idx, &md.socks[0].m, md.names[r], md.name_lens[r]));
		assert_int_equal(test_room_model_join(&md, 0, r), 0);
		assert_true(room_is_member(md.idx, &md.socks[0].m, md.names[r], md.name_lens[r]));
	}
	assert_int_equal(room_member_room_count(&md.socks[0].m), N_ROOMS);
	test_room_model_check(&md);

	/* Every room again, in another order: already in, nothing allocated. */
	test_room_shuffle(&seed, order, N_ROOMS);
	failalloc_reset(0);
	for (i = 0; i < N_ROOMS; i++)
		assert_int_equal(test_room_model_join(&md, 0, order[i]), 1);
	assert_int_equal(failalloc_heap.n_allocs, 0);

	/* All 200 rooms at once: sock 0 is in every one, sock 1 in 67 and the
	 * crowd in room 0, and each is visited once (test_room_broadcast
	 * checks).  Except room 3 leaves only the crowd. */
	assert_int_equal(test_room_broadcast(md.idx, md.socks, md.n_socks, all, N_ROOMS, NULL, 0,
					     NULL), md.n_socks);
	assert_int_equal(test_room_broadcast(md.idx, md.socks, md.n_socks, all, N_ROOMS, &all[3], 1,
					     NULL), N_CROWD);
	assert_int_equal(md.socks[0].visits, 0);
	assert_int_equal(md.socks[1].visits, 0);

	test_room_shuffle(&seed, order, N_ROOMS);
	for (i = 0; i < N_ROOMS; i++) {
		r = order[i];
		assert_int_equal(test_room_model_leave(&md, 0, r), 0);
		assert_false(room_is_member(md.idx, &md.socks[0].m, md.names[r], md.name_lens[r]));
		assert_int_equal(test_room_model_leave(&md, 0, r), 1);
		assert_int_equal(room_member_room_count(&md.socks[0].m), N_ROOMS - 1 - i);
		if (i % 20 == 0) {
			size_t targets[8];
			size_t n_targets = 1 + test_room_rand_below(&seed, 8);
			size_t j;

			for (j = 0; j < n_targets; j++)
				targets[j] = test_room_rand_below(&seed, N_ROOMS);
			test_room_model_broadcast(&md, targets, n_targets, &r, 1, md.n_socks);
			test_room_model_check(&md);
		}
	}
	/* Rooms 0, 3, ... 198 are left, with sock 1 in them. */
	assert_int_equal(room_index_room_count(md.idx), (N_ROOMS + 2) / 3);
	test_room_model_check(&md);
	test_room_model_finish(&md);
}

/* ---- own rooms ---- */

/* How many times a member, or the index, lists room <name>. */
struct test_room_listed {
	const char *name;
	size_t len;
	unsigned n;             /* times <name> was given */
	size_t n_calls;         /* names given in all */
};

static void test_room_listed_count(void *arg, const char *name, size_t len)
{
	struct test_room_listed *l = arg;

	l->n_calls++;
	if (len == l->len && memcmp(name, l->name, len) == 0)
		l->n++;
}

static unsigned test_room_member_lists(const struct room_member *m, const char *name, size_t len,
				       size_t *n_calls)
{
	struct test_room_listed l = { name, len, 0, 0 };

	room_member_each_room(m, test_room_listed_count, &l);
	if (n_calls != NULL)
		*n_calls = l.n_calls;
	return l.n;
}

static unsigned test_room_index_lists(const struct room_index *idx, const char *name, size_t len,
				      size_t *n_calls)
{
	struct test_room_listed l = { name, len, 0, 0 };

	room_index_each_room(idx, test_room_listed_count, &l);
	if (n_calls != NULL)
		*n_calls = l.n_calls;
	return l.n;
}

/* A sock's id as the name and length arguments. */
#define ID(sock) (sock).id, TEST_ROOM_ID_LEN

static void a_member_is_in_its_own_room_from_init(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[3];
	size_t n_calls;

	test_room_socks_init_with_ids(idx, s, 2);
	test_room_socks_init(idx, &s[2], 1);
	assert_true(room_is_member(idx, &s[0].m, ID(s[0])));
	assert_false(room_is_member(idx, &s[1].m, ID(s[0])));
	assert_false(room_is_member(idx, &s[2].m, ID(s[0])));
	assert_int_equal(room_size(idx, ID(s[0])), 1);
	assert_int_equal(room_size(idx, ID(s[1])), 1);
	assert_int_equal(room_member_room_count(&s[0].m), 1);
	assert_int_equal(room_member_room_count(&s[2].m), 0);
	assert_int_equal(test_room_member_lists(&s[0].m, ID(s[0]), &n_calls), 1);
	assert_int_equal(n_calls, 1);
	assert_int_equal(test_room_member_lists(&s[2].m, ID(s[0]), &n_calls), 0);
	assert_int_equal(n_calls, 0);
	/* Two own rooms, and the sock without one adds none. */
	assert_int_equal(room_index_room_count(idx), 2);
	assert_int_equal(test_room_index_lists(idx, ID(s[0]), &n_calls), 1);
	assert_int_equal(test_room_index_lists(idx, ID(s[1]), NULL), 1);
	assert_int_equal(n_calls, 2);

	/* A real room joined beside it is counted and listed as before. */
	assert_int_equal(room_join(idx, &s[0].m, NAME("lobby")), 0);
	assert_int_equal(room_member_room_count(&s[0].m), 2);
	assert_int_equal(test_room_member_lists(&s[0].m, ID(s[0]), &n_calls), 1);
	assert_int_equal(n_calls, 2);
	assert_int_equal(room_index_room_count(idx), 3);
	test_room_finish(idx, s, 3);
}

static void joining_its_own_room_returns_1_and_allocates_nothing(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];

	test_room_socks_init_with_ids(idx, s, 2);
	failalloc_reset(0);
	assert_int_equal(room_join(idx, &s[0].m, ID(s[0])), 1);
	assert_int_equal(failalloc_heap.n_allocs, 0);
	assert_int_equal(room_member_room_count(&s[0].m), 1);
	assert_int_equal(room_size(idx, ID(s[0])), 1);
	assert_int_equal(room_index_room_count(idx), 2);
	test_room_finish(idx, s, 2);
}

static void a_broadcast_to_an_own_name_visits_that_member_only(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[3];

	test_room_socks_init_with_ids(idx, s, 3);
	{
		const struct room_name one[] = { { ID(s[1]) } };
		const struct room_name twice[] = { { ID(s[1]) }, { ID(s[1]) } };
		const struct room_name two[] = { { ID(s[0]) }, { ID(s[2]) } };
		/* A prefix of an id, and the id with its terminating NUL. */
		const struct room_name near[] = { { s[1].id, TEST_ROOM_ID_LEN - 1 },
						  { s[1].id, TEST_ROOM_ID_LEN + 1 } };

		failalloc_reset(0);
		assert_int_equal(test_room_broadcast(idx, s, 3, one, 1, NULL, 0, NULL), 1);
		assert_int_equal(s[1].visits, 1);
		assert_int_equal(test_room_broadcast(idx, s, 3, twice, 2, NULL, 0, NULL), 1);
		assert_int_equal(s[1].visits, 1);
		assert_int_equal(test_room_broadcast(idx, s, 3, two, 2, NULL, 0, NULL), 2);
		assert_int_equal(s[1].visits, 0);
		assert_int_equal(test_room_broadcast(idx, s, 3, near, 2, NULL, 0, NULL), 0);
		assert_int_equal(test_room_broadcast(idx, s, 3, one, 1, NULL, 0, &s[1].m), 0);
		assert_int_equal(failalloc_heap.n_allocs, 0);
	}
	test_room_finish(idx, s, 3);
}

static void an_own_name_in_the_except_rooms_excludes_its_member(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[3];
	char nobody[TEST_ROOM_ID_LEN + 1];
	size_t i;

	test_room_socks_init_with_ids(idx, s, 3);
	test_room_sock_id(nobody, 999);
	for (i = 0; i < 3; i++)
		assert_int_equal(room_join(idx, &s[i].m, NAME("a")), 0);
	{
		const struct room_name a[] = { ROOM_NAME("a") };
		const struct room_name except_s1[] = { { ID(s[1]) } };
		const struct room_name except_s0_s2[] = { { ID(s[0]) }, { ID(s[2]) } };
		const struct room_name except_nobody[] = { { nobody, TEST_ROOM_ID_LEN } };

		assert_int_equal(test_room_broadcast(idx, s, 3, a, 1, except_s1, 1, NULL), 2);
		assert_int_equal(s[1].visits, 0);
		assert_int_equal(test_room_broadcast(idx, s, 3, NULL, 0, except_s0_s2, 2, NULL), 1);
		assert_int_equal(s[1].visits, 1);
		assert_int_equal(test_room_broadcast(idx, s, 3, a, 1, except_nobody, 1, NULL), 3);
		/* Its own name as target and except room: excepted. */
		assert_int_equal(test_room_broadcast(idx, s, 3, except_s1, 1, except_s1, 1, NULL),
				 0);
	}
	test_room_finish(idx, s, 3);
}

static void a_member_in_a_target_room_and_named_by_its_id_is_visited_once(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[3];

	test_room_socks_init_with_ids(idx, s, 3);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	assert_int_equal(room_join(idx, &s[1].m, NAME("a")), 0);
	{
		const struct room_name a_s0[] = { ROOM_NAME("a"), { ID(s[0]) } };
		const struct room_name s0_a_s0[] = { { ID(s[0]) }, ROOM_NAME("a"), { ID(s[0]) } };
		const struct room_name s2_a[] = { { ID(s[2]) }, ROOM_NAME("a") };

		/* test_room_broadcast() checks that nobody is visited twice. */
		assert_int_equal(test_room_broadcast(idx, s, 3, a_s0, 2, NULL, 0, NULL), 2);
		assert_int_equal(test_room_broadcast(idx, s, 3, s0_a_s0, 3, NULL, 0, NULL), 2);
		assert_int_equal(s[0].visits, 1);
		assert_int_equal(test_room_broadcast(idx, s, 3, s2_a, 2, NULL, 0, NULL), 3);
	}
	test_room_finish(idx, s, 3);
}

/* Socket.IO lets socket.leave(socket.id) take a socket out of its own
 * room; to(id) then misses it until it joins again. */
static void leaving_its_own_room_takes_a_member_out_until_it_joins_again(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];
	size_t n_calls;

	test_room_socks_init_with_ids(idx, s, 2);
	assert_int_equal(room_join(idx, &s[0].m, NAME("a")), 0);
	failalloc_reset(0);
	assert_int_equal(room_leave(idx, &s[0].m, ID(s[0])), 0);
	assert_int_equal(room_leave(idx, &s[0].m, ID(s[0])), 1);
	assert_false(room_is_member(idx, &s[0].m, ID(s[0])));
	assert_true(room_is_member(idx, &s[0].m, NAME("a")));
	assert_int_equal(room_size(idx, ID(s[0])), 0);
	assert_int_equal(room_member_room_count(&s[0].m), 1);
	assert_int_equal(test_room_member_lists(&s[0].m, ID(s[0]), &n_calls), 0);
	assert_int_equal(n_calls, 1);
	assert_int_equal(test_room_index_lists(idx, ID(s[0]), &n_calls), 0);
	assert_int_equal(n_calls, 2);
	assert_int_equal(room_index_room_count(idx), 2);
	{
		const struct room_name s0[] = { { ID(s[0]) } };

		assert_int_equal(test_room_broadcast(idx, s, 2, s0, 1, NULL, 0, NULL), 0);
		/* Out of the room, it is not excluded by its name either. */
		assert_int_equal(test_room_broadcast(idx, s, 2, NULL, 0, s0, 1, NULL), 2);
	}

	assert_int_equal(room_join(idx, &s[0].m, ID(s[0])), 0);
	assert_int_equal(room_join(idx, &s[0].m, ID(s[0])), 1);
	assert_int_equal(failalloc_heap.n_allocs, 0);
	assert_true(room_is_member(idx, &s[0].m, ID(s[0])));
	assert_int_equal(room_size(idx, ID(s[0])), 1);
	assert_int_equal(room_member_room_count(&s[0].m), 2);
	assert_int_equal(test_room_index_lists(idx, ID(s[0]), NULL), 1);
	assert_int_equal(room_index_room_count(idx), 3);

	/* Cleaned up while out of its own room. */
	assert_int_equal(room_leave(idx, &s[1].m, ID(s[1])), 0);
	test_room_finish(idx, s, 2);
}

/* A client may join a room named by another socket's id: that is a real
 * room, and the id's owner is in the room of that name too. */
static void a_room_named_by_another_members_id_is_real_and_reaches_both(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[3];
	const struct room_name s0[] = { { s[0].id, TEST_ROOM_ID_LEN } };
	size_t n_calls;

	test_room_socks_init_with_ids(idx, s, 3);
	assert_int_equal(room_join(idx, &s[1].m, ID(s[0])), 0);
	assert_true(room_is_member(idx, &s[0].m, ID(s[0])));
	assert_true(room_is_member(idx, &s[1].m, ID(s[0])));
	assert_false(room_is_member(idx, &s[2].m, ID(s[0])));
	assert_int_equal(room_size(idx, ID(s[0])), 2);
	assert_int_equal(room_member_room_count(&s[1].m), 2);
	assert_int_equal(test_room_member_lists(&s[1].m, ID(s[0]), NULL), 1);
	/* Three names, s0's given once. */
	assert_int_equal(room_index_room_count(idx), 3);
	assert_int_equal(test_room_index_lists(idx, ID(s[0]), &n_calls), 1);
	assert_int_equal(n_calls, 3);
	assert_int_equal(test_room_broadcast(idx, s, 3, s0, 1, NULL, 0, NULL), 2);
	assert_int_equal(s[2].visits, 0);
	assert_int_equal(test_room_broadcast(idx, s, 3, NULL, 0, s0, 1, NULL), 1);
	assert_int_equal(s[2].visits, 1);

	/* The owner leaves its own room: the real room stays, without it. */
	assert_int_equal(room_join(idx, &s[2].m, ID(s[0])), 0);
	assert_int_equal(room_size(idx, ID(s[0])), 3);
	assert_int_equal(room_leave(idx, &s[0].m, ID(s[0])), 0);
	assert_int_equal(room_size(idx, ID(s[0])), 2);
	assert_int_equal(room_index_room_count(idx), 3);
	assert_int_equal(test_room_index_lists(idx, ID(s[0]), NULL), 1);
	assert_int_equal(test_room_broadcast(idx, s, 3, s0, 1, NULL, 0, NULL), 2);
	assert_int_equal(s[0].visits, 0);
	assert_int_equal(room_join(idx, &s[0].m, ID(s[0])), 0);
	assert_int_equal(room_size(idx, ID(s[0])), 3);
	assert_int_equal(room_index_room_count(idx), 3);

	/* The real room empties: the owner's own room is left. */
	assert_int_equal(room_leave(idx, &s[1].m, ID(s[0])), 0);
	assert_int_equal(room_leave(idx, &s[2].m, ID(s[0])), 0);
	assert_int_equal(room_size(idx, ID(s[0])), 1);
	assert_int_equal(room_index_room_count(idx), 3);
	assert_int_equal(test_room_index_lists(idx, ID(s[0]), &n_calls), 1);
	assert_int_equal(n_calls, 3);

	/* The owner goes while the real room has a member. */
	assert_int_equal(room_join(idx, &s[1].m, ID(s[0])), 0);
	room_member_cleanup(idx, &s[0].m);
	assert_int_equal(room_size(idx, ID(s[0])), 1);
	assert_true(room_is_member(idx, &s[1].m, ID(s[0])));
	assert_int_equal(room_index_room_count(idx), 3);
	assert_int_equal(test_room_broadcast(idx, s, 3, s0, 1, NULL, 0, NULL), 1);
	assert_int_equal(s[1].visits, 1);

	/* And a socket whose id already names a real room. */
	assert_int_equal(room_member_init(idx, &s[0].m, &s[0], ID(s[0])), 0);
	assert_int_equal(room_size(idx, ID(s[0])), 2);
	assert_int_equal(room_index_room_count(idx), 3);
	assert_int_equal(test_room_index_lists(idx, ID(s[0]), &n_calls), 1);
	assert_int_equal(n_calls, 3);
	assert_int_equal(test_room_broadcast(idx, s, 3, s0, 1, NULL, 0, NULL), 2);
	test_room_finish(idx, s, 3);
}

static void own_names_are_bytes_compared_by_length(void **state)
{
	static const struct room_name names[] = {
		ROOM_NAME("a"), ROOM_NAME("a\0"), ROOM_NAME("a\0b"), ROOM_NAME("a\0c"),
		ROOM_NAME("\0"), ROOM_NAME("\0\0"), ROOM_NAME("ab"),
	};
	const size_t n = sizeof names / sizeof names[0];
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[7];
	size_t i, j;

	for (i = 0; i < n; i++) {
		memset(&s[i], 0, sizeof s[i]);
		assert_int_equal(room_member_init(idx, &s[i].m, &s[i], names[i].name, names[i].len),
				 0);
	}
	assert_int_equal(room_index_room_count(idx), n);
	for (i = 0; i < n; i++) {
		assert_int_equal(room_size(idx, names[i].name, names[i].len), 1);
		for (j = 0; j < n; j++)
			assert_int_equal(room_is_member(idx, &s[i].m, names[j].name, names[j].len),
					 i == j);
		assert_int_equal(test_room_broadcast(idx, s, n, &names[i], 1, NULL, 0, NULL), 1);
		assert_int_equal(s[i].visits, 1);
	}
	/* "a\0" as a real room beside s1's own room of that name: s0 joins. */
	assert_int_equal(room_join(idx, &s[0].m, NAME("a\0")), 0);
	assert_int_equal(room_size(idx, NAME("a\0")), 2);
	assert_int_equal(room_size(idx, NAME("a")), 1);
	assert_int_equal(room_index_room_count(idx), n);
	test_room_finish(idx, s, n);
}

/* nsp.c frees a socket whose init failed as it frees any other, cleanup
 * included. */
static void cleanup_does_nothing_for_a_member_not_in_the_index(void **state)
{
	struct room_index *idx = test_room_index_new();
	struct test_room_sock s[2];

	memset(&s[1], 0, sizeof s[1]);
	test_room_sock_id(s[1].id, 1);
	/* The first own name allocates the table. */
	failalloc_reset(1);
	assert_int_equal(room_member_init(idx, &s[1].m, &s[1], ID(s[1])), -1);
	failalloc_reset(0);
	room_member_cleanup(idx, &s[1].m);
	assert_int_equal(room_index_room_count(idx), 0);
	assert_int_equal(room_size(idx, ID(s[1])), 0);

	/* A second cleanup. */
	test_room_socks_init_with_ids(idx, s, 2);
	assert_int_equal(room_join(idx, &s[1].m, NAME("a")), 0);
	room_member_cleanup(idx, &s[1].m);
	room_member_cleanup(idx, &s[1].m);
	assert_int_equal(room_index_room_count(idx), 1);
	assert_int_equal(test_room_broadcast(idx, s, 2, NULL, 0, NULL, 0, NULL), 1);
	assert_int_equal(s[0].visits, 1);
	test_room_finish(idx, s, 2);
}

/* The own-name table is one block of pointers: removing a member shifts
 * the members after it back (room.c), and every other member must still
 * be found.  500 members leave in a random order and come back. */
static void members_cleaned_up_in_any_order_leave_the_others_findable(void **state)
{
	enum { N_SOCKS = 500 };
	struct test_room_sock *s = test_calloc(N_SOCKS, sizeof *s);
	struct room_index *idx = test_room_index_new();
	size_t order[N_SOCKS];
	bool *gone = test_calloc(N_SOCKS, sizeof *gone);
	uint64_t seed = 20240603;
	size_t i, j, round;

	test_room_socks_init_with_ids(idx, s, N_SOCKS);
	for (round = 0; round < 2; round++) {
		test_room_shuffle(&seed, order, N_SOCKS);
		for (i = 0; i < N_SOCKS; i++) {
			room_member_cleanup(idx, &s[order[i]].m);
			gone[order[i]] = true;
			assert_int_equal(room_index_room_count(idx), N_SOCKS - 1 - i);
			for (j = 0; j < N_SOCKS; j++)
				assert_int_equal(room_size(idx, ID(s[j])), !gone[j]);
		}
		test_room_shuffle(&seed, order, N_SOCKS);
		for (i = 0; i < N_SOCKS; i++) {
			struct test_room_sock *sk = &s[order[i]];

			assert_int_equal(room_member_init(idx, &sk->m, sk, ID(*sk)), 0);
			gone[order[i]] = false;
		}
		for (j = 0; j < N_SOCKS; j++)
			assert_int_equal(room_size(idx, ID(s[j])), 1);
	}
	test_room_finish(idx, s, N_SOCKS);
	test_free(gone);
	test_free(s);
}

/* ---- memory ---- */

/* Every socket is in the room named by its id (ID_LEN, 20 bytes, in id.h)
 * and, idle, in no other, so that is an idle connection's share of the
 * index: the member it embeds and its share of what room.c allocates, as
 * requested (malloc's headers are not counted; the own-name table is one
 * block).  The daemon's budget for the whole idle connection is 1 KiB;
 * room.c's top comment counts 72 bytes here, 56 embedded and a table slot
 * of 8 bytes at a load between 3/8 and 3/4, so at most 56 + 22.  The id
 * bytes are the socket's, not counted. */
static void an_idle_socket_in_its_own_room_costs_at_most_80_bytes(void **state)
{
	enum { N_SOCKS = 1000 };
	size_t n_live_before = failalloc_heap.live_bytes;
	struct test_room_sock *s = test_calloc(N_SOCKS, sizeof *s);
	struct room_index *idx = test_room_index_new();
	size_t n_index_bytes = failalloc_heap.live_bytes - n_live_before;
	size_t heap_per_sock, per_sock;

	test_room_socks_init_with_ids(idx, s, N_SOCKS);
	heap_per_sock = (failalloc_heap.live_bytes - n_live_before - n_index_bytes) / N_SOCKS;
	per_sock = heap_per_sock + sizeof(struct room_member);
	print_message("idle socket: %zu bytes (%zu allocated by room.c, %zu embedded)\n",
		      per_sock, heap_per_sock, sizeof(struct room_member));
	assert_true(sizeof(struct room_member) <= 56);
	assert_true(heap_per_sock <= 22);
	assert_true(per_sock <= 80);
	assert_int_equal(room_index_room_count(idx), N_SOCKS);

	test_room_finish(idx, s, N_SOCKS);
	test_free(s);
	assert_int_equal(failalloc_heap.live_bytes, n_live_before);
}

/* ---- out of memory ---- */

/* Joins sock <s> to room <r>, failing its 1st, 2nd, ... allocation until
 * the join succeeds; after each failure the index must be exactly as
 * before.  Returns how many allocations were failed. */
static unsigned long test_room_join_failing_each_allocation(struct test_room_model *md, size_t s,
							    size_t r, bool check_all)
{
	unsigned long fail_at;

	for (fail_at = 1;; fail_at++) {
		size_t size_before = room_size(md->idx, md->names[r], md->name_lens[r]);
		size_t n_rooms_before = room_index_room_count(md->idx);
		size_t n_joined_before = room_member_room_count(&md->socks[s].m);
		int rc;

		failalloc_reset(fail_at);
		rc = test_room_model_join(md, s, r);
		failalloc_reset(0);
		if (rc == 0)
			return fail_at - 1;
		assert_int_equal(rc, -1);
		assert_false(room_is_member(md->idx, &md->socks[s].m, md->names[r], md->name_lens[r]));
		assert_int_equal(room_size(md->idx, md->names[r], md->name_lens[r]), size_before);
		assert_int_equal(room_index_room_count(md->idx), n_rooms_before);
		assert_int_equal(room_member_room_count(&md->socks[s].m), n_joined_before);
		if (check_all)
			test_room_model_check(md);
	}
}

static void a_first_join_fails_cleanly_at_each_of_its_allocations(void **state)
{
	struct test_room_model md;
	size_t targets[1] = { 0 };

	test_room_model_init(&md, 2, 1, 0);
	/* The room, the membership, and the room table and its buckets. */
	assert_int_equal(test_room_join_failing_each_allocation(&md, 0, 0, true), 4);
	/* An existing room: the membership alone. */
	assert_int_equal(test_room_join_failing_each_allocation(&md, 1, 0, true), 1);
	test_room_model_check(&md);
	test_room_model_broadcast(&md, targets, 1, NULL, 0, 2);
	test_room_model_finish(&md);
}

/* 400 rooms are more than 32 buckets can hold below uthash's chain limit
 * of 10, so the room table grows while sock 0 creates them.  Memberships
 * are in no table: joining a room that exists allocates the membership and
 * nothing else, however many there are. */
static void joins_that_grow_the_room_table_fail_cleanly_at_each_allocation(void **state)
{
	enum { N_ROOMS = 400, N_CROWD = 400 };
	struct test_room_model md;
	unsigned long n_failed;
	size_t r, s;

	test_room_model_init(&md, 2 + N_CROWD, N_ROOMS, 0);
	/* Sock 0 creates every room: the room and the membership, and one
	 * more allocation when the room table grows.  The first join also
	 * creates the table. */
	test_room_n_growths_failed = 0;
	assert_int_equal(test_room_join_failing_each_allocation(&md, 0, 0, true), 4);
	for (r = 1; r < N_ROOMS; r++) {
		n_failed = test_room_join_failing_each_allocation(&md, 0, r, r % 50 == 0);
		assert_in_range(n_failed, 2, 3);
	}
	assert_true(test_room_n_growths_failed >= 1);

	/* Sock 1 joins them again, the other way round, and the crowd joins
	 * room 0: the membership alone each time. */
	test_room_n_growths_failed = 0;
	for (r = 0; r < N_ROOMS; r++) {
		n_failed = test_room_join_failing_each_allocation(&md, 1, N_ROOMS - 1 - r,
								  r % 50 == 0);
		assert_int_equal(n_failed, 1);
	}
	for (s = 2; s < 2 + N_CROWD; s++) {
		n_failed = test_room_join_failing_each_allocation(&md, s, 0, s % 100 == 0);
		assert_int_equal(n_failed, 1);
	}
	assert_int_equal(test_room_n_growths_failed, 0);

	test_room_model_check(&md);
	{
		size_t targets[3] = { 0, 1, N_ROOMS - 1 }, excepts[1] = { 2 };

		test_room_model_broadcast(&md, targets, 3, excepts, 1, 1);
		test_room_model_broadcast(&md, targets, 0, excepts, 1, md.n_socks);
	}
	test_room_model_finish(&md);
}

/* Inits sock <sk> in its own room, failing its 1st, 2nd, ... allocation
 * until the init succeeds; after each failure the index must be as before
 * and cleaning the sock up must do nothing.  <n_before> is the number of
 * socks in the index, each in its own room only.  Returns how many
 * allocations were failed. */
static unsigned long test_room_init_failing_each_allocation(struct room_index *idx,
							    struct test_room_sock *socks,
							    size_t n_before,
							    struct test_room_sock *sk)
{
	unsigned long fail_at;

	for (fail_at = 1;; fail_at++) {
		int rc;

		failalloc_reset(fail_at);
		rc = room_member_init(idx, &sk->m, sk, ID(*sk));
		failalloc_reset(0);
		if (rc == 0)
			return fail_at - 1;
		assert_int_equal(rc, -1);
		room_member_cleanup(idx, &sk->m);
		assert_int_equal(room_size(idx, ID(*sk)), 0);
		assert_int_equal(room_index_room_count(idx), n_before);
		assert_int_equal(test_room_broadcast(idx, socks, n_before, NULL, 0, NULL, 0, NULL),
				 n_before);
	}
}

/* An init allocates only when the own-name table is created or doubled;
 * 500 inits double it 8 times (8 slots, grown when it would pass 3/4:
 * at the 1st, 7th, 13th, 25th, ... 385th init), and each growth fails
 * once with the table left as it was. */
static void inits_that_grow_the_own_name_table_fail_cleanly_at_each_allocation(void **state)
{
	enum { N_SOCKS = 500 };
	struct test_room_sock *s = test_calloc(N_SOCKS, sizeof *s);
	struct room_index *idx = test_room_index_new();
	unsigned long n_failed, n_growths = 0;
	size_t i, j;

	for (i = 0; i < N_SOCKS; i++) {
		test_room_sock_id(s[i].id, i);
		n_failed = test_room_init_failing_each_allocation(idx, s, i, &s[i]);
		assert_in_range(n_failed, 0, 1);
		n_growths += n_failed;
		if (n_failed == 0 && i % 50 != 0)
			continue;
		for (j = 0; j <= i; j++)
			assert_int_equal(room_size(idx, ID(s[j])), 1);
	}
	assert_int_equal(n_growths, 8);
	assert_int_equal(room_index_room_count(idx), N_SOCKS);
	for (i = 0; i < N_SOCKS; i++) {
		const struct room_name own[] = { { ID(s[i]) } };

		assert_int_equal(test_room_broadcast(idx, s, N_SOCKS, own, 1, NULL, 0, NULL), 1);
		assert_int_equal(s[i].visits, 1);
	}
	test_room_finish(idx, s, N_SOCKS);
	test_free(s);
}

/* Joining a room named by another sock's id creates a real room as any
 * join does, and fails as cleanly; joining one's own room again allocates
 * nothing, so it cannot fail. */
static void joins_beside_own_rooms_fail_cleanly_at_each_allocation(void **state)
{
	struct test_room_model md;
	size_t own0, own1;

	test_room_model_init(&md, 4, 2, 3);
	own0 = test_room_model_own(&md, 0);
	own1 = test_room_model_own(&md, 1);
	/* The room, the membership, and the room table and its buckets. */
	assert_int_equal(test_room_join_failing_each_allocation(&md, 1, own0, true), 4);
	/* The real room exists now: the membership alone. */
	assert_int_equal(test_room_join_failing_each_allocation(&md, 3, own0, true), 1);
	assert_int_equal(test_room_join_failing_each_allocation(&md, 0, 0, true), 2);
	assert_int_equal(test_room_model_leave(&md, 1, own1), 0);
	assert_int_equal(test_room_join_failing_each_allocation(&md, 1, own1, true), 0);
	test_room_model_check(&md);
	{
		size_t targets[2] = { own0, 0 }, excepts[1] = { own1 };

		test_room_model_broadcast(&md, targets, 2, excepts, 1, md.n_socks);
		test_room_model_broadcast(&md, targets, 0, targets, 1, 3);
	}
	test_room_model_finish(&md);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_new_index_has_no_rooms),
		cmocka_unit_test(freeing_a_null_index_does_nothing),
		cmocka_unit_test(an_index_that_cannot_be_allocated_is_null),
		cmocka_unit_test(a_joined_member_is_in_the_room),
		cmocka_unit_test(joining_a_room_twice_returns_1_and_changes_nothing),
		cmocka_unit_test(leaving_a_room_not_joined_returns_1),
		cmocka_unit_test(leaving_a_room_not_joined_changes_nothing_whichever_list_is_shorter),
		cmocka_unit_test(a_left_room_is_left_and_can_be_joined_again),
		cmocka_unit_test(a_room_is_freed_when_its_last_member_leaves),
		cmocka_unit_test(cleanup_leaves_every_room_and_frees_the_empty_ones),
		cmocka_unit_test(cleanup_of_a_member_without_rooms_only_unlinks_it),
		cmocka_unit_test(each_room_gives_every_room_of_the_member_once_with_its_bytes),
		cmocka_unit_test(each_room_of_the_index_gives_every_room_once),
		cmocka_unit_test(names_with_equal_prefixes_are_different_rooms),
		cmocka_unit_test(names_with_embedded_nul_are_compared_by_length),
		cmocka_unit_test(an_empty_name_may_come_as_null),
		cmocka_unit_test(a_broadcast_to_one_room_visits_its_members),
		cmocka_unit_test(a_member_of_two_target_rooms_is_visited_once),
		cmocka_unit_test(a_target_room_named_twice_visits_its_members_once),
		cmocka_unit_test(a_broadcast_to_rooms_that_do_not_exist_visits_nobody),
		cmocka_unit_test(members_of_an_except_room_are_not_visited_even_in_a_target_room),
		cmocka_unit_test(the_skipped_member_is_not_visited),
		cmocka_unit_test(a_broadcast_to_everyone_visits_members_without_rooms_too),
		cmocka_unit_test(a_broadcast_to_everyone_leaves_out_the_except_rooms),
		cmocka_unit_test(the_visitor_gets_each_owner_and_the_argument),
		cmocka_unit_test(a_broadcast_allocates_nothing),
		cmocka_unit_test(a_member_excluded_from_one_broadcast_is_visited_by_the_next),
		cmocka_unit_test(many_broadcasts_each_visit_exactly_their_recipients),
		cmocka_unit_test(a_member_in_200_rooms_joins_finds_and_leaves_them_in_any_order),
		cmocka_unit_test(random_joins_leaves_and_broadcasts_match_a_brute_force_model),
		cmocka_unit_test(a_member_is_in_its_own_room_from_init),
		cmocka_unit_test(joining_its_own_room_returns_1_and_allocates_nothing),
		cmocka_unit_test(a_broadcast_to_an_own_name_visits_that_member_only),
		cmocka_unit_test(an_own_name_in_the_except_rooms_excludes_its_member),
		cmocka_unit_test(a_member_in_a_target_room_and_named_by_its_id_is_visited_once),
		cmocka_unit_test(leaving_its_own_room_takes_a_member_out_until_it_joins_again),
		cmocka_unit_test(a_room_named_by_another_members_id_is_real_and_reaches_both),
		cmocka_unit_test(own_names_are_bytes_compared_by_length),
		cmocka_unit_test(cleanup_does_nothing_for_a_member_not_in_the_index),
		cmocka_unit_test(members_cleaned_up_in_any_order_leave_the_others_findable),
		cmocka_unit_test(an_idle_socket_in_its_own_room_costs_at_most_80_bytes),
		cmocka_unit_test(a_first_join_fails_cleanly_at_each_of_its_allocations),
		cmocka_unit_test(joins_that_grow_the_room_table_fail_cleanly_at_each_allocation),
		cmocka_unit_test(inits_that_grow_the_own_name_table_fail_cleanly_at_each_allocation),
		cmocka_unit_test(joins_beside_own_rooms_fail_cleanly_at_each_allocation),
	};

	return cmocka_run_group_tests(tests, test_room_group_setup, test_room_group_teardown);
}
