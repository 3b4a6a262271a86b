/* room.c - room index of one namespace, and the recipients of a broadcast
 * (see room.h for the contract).
 *
 * Owns the rooms (each with its name stored once, inside the room) and the
 * memberships; does not own the members, which sockets embed (nsp.c), nor
 * the bytes sent to them.  Layout:
 *
 *   index->rooms     uthash of rooms, keyed by the name inside the room:
 *                    the only hash table
 *   room->members    intrusive doubly linked list of its memberships, plus
 *                    a count (walked by broadcasts)
 *   member->rooms    intrusive doubly linked list of its memberships, plus
 *                    a count (walked by each_room and cleanup)
 *   index->members   every member, linked through the member
 *
 * A membership is the pair it joins and its place in those two lists: six
 * pointers, 48 bytes, and no hash handle.  Join, leave and room_is_member()
 * find the room by name (O(1)), then the membership by walking the shorter
 * of the room's and the member's lists: a socket is in few rooms (its own
 * id room, usually one more; client joins are capped by
 * max_rooms_per_socket), and its own id room has one member, so the walk is
 * a step or two.  An index-wide table of memberships would make that O(1),
 * but cost a 56-byte hash handle per membership plus its share of buckets,
 * 60 more bytes for an idle socket.  Leaving unlinks from both lists in
 * O(1); a room is freed with its last membership.
 *
 * Idle memory: an idle socket sits in the one room named by its id (20
 * bytes, id.h), so it costs its embedded member (48 bytes), that room (80
 * bytes plus the name), one membership (48) and its share of the room
 * table's buckets (about 4): 200 bytes as requested (test_room.c measures
 * it), about 230 once glibc's malloc adds its headers and rounding.
 *
 * Broadcast: each call takes the next index-wide serial, stamps it on the
 * members of the except rooms, then walks the target rooms' member lists
 * and visits each member not yet stamped, stamping it.  A member in several
 * target rooms is visited once; nothing is allocated and nothing is hashed
 * per recipient, only once per room named.
 *
 * Out of memory: uthash is built with HASH_NONFATAL_OOM, so a failed table
 * allocation is reported to the add that needed it instead of exiting, and
 * a join undoes what it had done and returns -1.  Every allocation, uthash's
 * included, goes through one pair of function pointers that the tests swap
 * to fail the Nth allocation.
 */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "room.h"

static void *(*room_malloc_fn)(size_t) = malloc;
static void (*room_free_fn)(void *) = free;

/* uthash's documented hooks.  uthash_nonfatal_oom() expands inside the
 * room_*_add() helpers below, each of which declares a local bool room_oom:
 * an add outside them does not compile, so none can leave a failure
 * unchecked. */
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) room_malloc_fn(sz)
#define uthash_free(ptr, sz) room_free_fn(ptr)
#define uthash_nonfatal_oom(elt)                                                   \
	do {                                                                       \
		(void)(elt);                                                       \
		room_oom = true;                                                   \
	} while (0)
#include <uthash.h>

/* A room; owned by its index, freed when its last member leaves. */
struct room {
	UT_hash_handle hh;                  /* in room_index.rooms, keyed by name */
	struct room_membership *members;    /* list through room_prev/room_next */
	size_t n_members;
	size_t name_len;
	char name[];                        /* name_len bytes, no terminator */
};

/* One member in one room; owned by the index.  Found by walking a list
 * (room_membership_find), never hashed. */
struct room_membership {
	struct room *room;
	struct room_member *member;
	struct room_membership *room_prev, *room_next;     /* room->members */
	struct room_membership *member_prev, *member_next; /* member->rooms */
};

/* Every socket has one or two memberships, so each byte here is paid once
 * or twice per socket (the top comment counts 48). */
_Static_assert(sizeof(struct room_membership) <= 48,
	       "a membership is its two ends and two list links: six pointers");

struct room_index {
	struct room *rooms;                 /* uthash (hh), keyed by name */
	struct room_member *members;        /* every member, linked by prev/next */
	uint64_t serial;                    /* the last broadcast's serial */
};

void room_set_allocator(void *(*malloc_fn)(size_t), void (*free_fn)(void *))
{
	room_malloc_fn = malloc_fn != NULL ? malloc_fn : malloc;
	room_free_fn = free_fn != NULL ? free_fn : free;
}

/* uthash hashes and compares keys of at most UINT_MAX bytes.  A longer
 * name names no room, and cannot be joined. */
static bool room_name_fits(size_t len)
{
	return len <= UINT_MAX;
}

/* An empty name may come as NULL; memcmp() and memcpy() must not see it. */
static const char *room_name_bytes(const char *name)
{
	return name != NULL ? name : "";
}

static struct room *room_find(const struct room_index *idx, const char *name, size_t len,
			      unsigned hashv)
{
	struct room *r;

	HASH_FIND_BYHASHVALUE(hh, idx->rooms, name, (unsigned)len, hashv, r);
	return r;
}

/* The room called <name>, or NULL; for callers that hash only to look up. */
static struct room *room_lookup(const struct room_index *idx, const char *name, size_t len)
{
	unsigned hashv;

	if (!room_name_fits(len))
		return NULL;
	name = room_name_bytes(name);
	HASH_VALUE(name, (unsigned)len, hashv);
	return room_find(idx, name, len, hashv);
}

/* <m>'s membership of <r>, or NULL.  Both lists hold it; the shorter is
 * walked.  That is usually the socket's own (a room or two); the room's
 * when the room is small, as its own id room is, or when the socket was
 * put in many rooms by a server-side join, which max_rooms_per_socket does
 * not cap. */
static struct room_membership *room_membership_find(const struct room *r,
						    const struct room_member *m)
{
	struct room_membership *ms;

	if (m->n_rooms <= r->n_members) {
		for (ms = m->rooms; ms != NULL; ms = ms->member_next)
			if (ms->room == r)
				return ms;
	} else {
		for (ms = r->members; ms != NULL; ms = ms->room_next)
			if (ms->member == m)
				return ms;
	}
	return NULL;
}

/* 0, or -1 if uthash could not allocate the table or grow it; the table is
 * then as it was. */
static int room_index_rooms_add(struct room_index *idx, struct room *r, unsigned hashv)
{
	bool room_oom = false;

	HASH_ADD_KEYPTR_BYHASHVALUE(hh, idx->rooms, r->name, (unsigned)r->name_len, hashv, r);
	return room_oom ? -1 : 0;
}

/* Puts <ms> at the head of both of its lists.  Cannot fail. */
static void room_membership_link(struct room_membership *ms)
{
	struct room *r = ms->room;
	struct room_member *m = ms->member;

	ms->room_prev = NULL;
	ms->room_next = r->members;
	if (r->members != NULL)
		r->members->room_prev = ms;
	r->members = ms;
	r->n_members++;

	ms->member_prev = NULL;
	ms->member_next = m->rooms;
	if (m->rooms != NULL)
		m->rooms->member_prev = ms;
	m->rooms = ms;
	m->n_rooms++;
}

struct room_index *room_index_new(void)
{
	struct room_index *idx = room_malloc_fn(sizeof *idx);

	if (idx == NULL)
		return NULL;
	memset(idx, 0, sizeof *idx);
	return idx;
}

void room_index_free(struct room_index *idx)
{
	if (idx == NULL)
		return;
	/* Rooms live only as long as their members, and the members belong
	 * to sockets the index cannot free. */
	assert(idx->members == NULL && idx->rooms == NULL);
	room_free_fn(idx);
}

void room_member_init(struct room_index *idx, struct room_member *m, void *owner)
{
	m->owner = owner;
	m->rooms = NULL;
	m->n_rooms = 0;
	m->serial = 0;  /* broadcasts start at 1 */
	m->prev = NULL;
	m->next = idx->members;
	if (idx->members != NULL)
		idx->members->prev = m;
	idx->members = m;
}

/* Unlinks <ms> from both lists and frees it, and its room if now empty.
 * Never allocates (a uthash delete does not). */
static void room_membership_remove(struct room_index *idx, struct room_membership *ms)
{
	struct room *r = ms->room;
	struct room_member *m = ms->member;

	if (ms->room_prev != NULL)
		ms->room_prev->room_next = ms->room_next;
	else
		r->members = ms->room_next;
	if (ms->room_next != NULL)
		ms->room_next->room_prev = ms->room_prev;
	r->n_members--;

	if (ms->member_prev != NULL)
		ms->member_prev->member_next = ms->member_next;
	else
		m->rooms = ms->member_next;
	if (ms->member_next != NULL)
		ms->member_next->member_prev = ms->member_prev;
	m->n_rooms--;

	room_free_fn(ms);
	if (r->n_members == 0) {
		HASH_DELETE(hh, idx->rooms, r);
		room_free_fn(r);
	}
}

void room_member_cleanup(struct room_index *idx, struct room_member *m)
{
	while (m->rooms != NULL)
		room_membership_remove(idx, m->rooms);
	if (m->prev != NULL)
		m->prev->next = m->next;
	else
		idx->members = m->next;
	if (m->next != NULL)
		m->next->prev = m->prev;
	m->prev = m->next = NULL;
}

int room_join(struct room_index *idx, struct room_member *m, const char *name, size_t len)
{
	struct room_membership *ms;
	struct room *r;
	bool is_new_room = false;
	unsigned hashv;

	if (!room_name_fits(len))
		return -1;
	name = room_name_bytes(name);
	/* One hash of the name serves the lookup and, for a new room, the add. */
	HASH_VALUE(name, (unsigned)len, hashv);
	r = room_find(idx, name, len, hashv);
	if (r != NULL && room_membership_find(r, m) != NULL)
		return 1;

	if (r == NULL) {
		r = room_malloc_fn(sizeof *r + len);
		if (r == NULL)
			return -1;
		memset(r, 0, sizeof *r);
		r->name_len = len;
		memcpy(r->name, name, len);
		is_new_room = true;
	}
	ms = room_malloc_fn(sizeof *ms);
	if (ms == NULL)
		goto fail_room;
	memset(ms, 0, sizeof *ms);
	ms->room = r;
	ms->member = m;

	/* Adding a new room to the index is the one step after the
	 * allocations that can fail; it comes before the lists are linked,
	 * so undoing it is only freeing. */
	if (is_new_room && room_index_rooms_add(idx, r, hashv) < 0)
		goto fail_membership;
	room_membership_link(ms);
	return 0;

fail_membership:
	room_free_fn(ms);
fail_room:
	if (is_new_room)
		room_free_fn(r);
	return -1;
}

int room_leave(struct room_index *idx, struct room_member *m, const char *name, size_t len)
{
	const struct room *r = room_lookup(idx, name, len);
	struct room_membership *ms;

	if (r == NULL)
		return 1;
	ms = room_membership_find(r, m);
	if (ms == NULL)
		return 1;
	room_membership_remove(idx, ms);
	return 0;
}

bool room_is_member(const struct room_index *idx, const struct room_member *m,
		    const char *name, size_t len)
{
	const struct room *r = room_lookup(idx, name, len);

	return r != NULL && room_membership_find(r, m) != NULL;
}

size_t room_member_room_count(const struct room_member *m)
{
	return m->n_rooms;
}

void room_member_each_room(const struct room_member *m,
			   void (*fn)(void *arg, const char *name, size_t len), void *arg)
{
	const struct room_membership *ms;

	for (ms = m->rooms; ms != NULL; ms = ms->member_next)
		fn(arg, ms->room->name, ms->room->name_len);
}

void room_index_each_room(const struct room_index *idx,
			  void (*fn)(void *arg, const char *name, size_t len), void *arg)
{
	const struct room *r;

	for (r = idx->rooms; r != NULL; r = r->hh.next)
		fn(arg, r->name, r->name_len);
}

size_t room_index_room_count(const struct room_index *idx)
{
	return HASH_CNT(hh, idx->rooms);
}

size_t room_size(const struct room_index *idx, const char *name, size_t len)
{
	const struct room *r = room_lookup(idx, name, len);

	return r != NULL ? r->n_members : 0;
}

size_t room_broadcast(struct room_index *idx, const struct room_name *rooms, size_t n_rooms,
		      const struct room_name *except, size_t n_except,
		      const struct room_member *skip,
		      void (*visit)(void *owner, void *arg), void *arg)
{
	/* 2^64 broadcasts do not happen, so a serial is never reused and a
	 * stamp left by an earlier broadcast never counts as this one's. */
	uint64_t serial = ++idx->serial;
	const struct room_membership *ms;
	struct room_member *mb;
	size_t n_visited = 0;
	size_t i;

	for (i = 0; i < n_except; i++) {
		const struct room *r = room_lookup(idx, except[i].name, except[i].len);

		if (r == NULL)
			continue;
		for (ms = r->members; ms != NULL; ms = ms->room_next)
			ms->member->serial = serial;
	}

	/* <skip> is compared, not stamped: it is const to the caller. */
	if (n_rooms == 0) {
		for (mb = idx->members; mb != NULL; mb = mb->next) {
			if (mb->serial == serial || mb == skip)
				continue;
			visit(mb->owner, arg);
			n_visited++;
		}
		return n_visited;
	}

	for (i = 0; i < n_rooms; i++) {
		const struct room *r = room_lookup(idx, rooms[i].name, rooms[i].len);

		if (r == NULL)
			continue;
		for (ms = r->members; ms != NULL; ms = ms->room_next) {
			mb = ms->member;
			if (mb->serial == serial || mb == skip)
				continue;
			mb->serial = serial;
			visit(mb->owner, arg);
			n_visited++;
		}
	}
	return n_visited;
}
