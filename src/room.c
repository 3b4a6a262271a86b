/* room.c - room index of one namespace, and the recipients of a broadcast
 * (see room.h for the contract).
 *
 * Owns the rooms (each with its name stored once, inside the room) and the
 * memberships; does not own the members, which sockets embed (nsp.c), nor
 * the bytes sent to them.  Layout, chosen so that an idle socket, which
 * sits in the one room named by its id, costs one room and one membership:
 *
 *   index->rooms        uthash of rooms, keyed by the name inside the room
 *   index->memberships  ONE uthash of every membership of the index, keyed
 *                       by the pair (room pointer, member pointer)
 *   room->members       intrusive doubly linked list of its memberships,
 *                       plus a count (walked by broadcasts)
 *   member->rooms       intrusive doubly linked list of its memberships,
 *                       plus a count (walked by each_room and cleanup)
 *   index->members      every member, linked through the member
 *
 * A membership is its key (two pointers), one hash handle and four list
 * pointers; there is no table per room or per member, whose 32 initial
 * buckets cost more than the rest of an idle socket.  Join, leave and
 * room_is_member() find the room by name, then the membership by pair:
 * O(1).  Leaving unlinks from both lists in O(1).  A room is freed with its
 * last membership.
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

/* The key of room_index.memberships.  uthash hashes and compares it as
 * bytes, so it must have no padding (checked below) and every lookup key
 * is built whole. */
struct room_membership_key {
	struct room *room;
	struct room_member *member;
};

_Static_assert(sizeof(struct room_membership_key) == 2 * sizeof(void *),
	       "a membership key is two pointers and no padding");

/* One member in one room; owned by the index.  The key names the two ends
 * it links. */
struct room_membership {
	struct room_membership_key key;
	UT_hash_handle hh;                  /* in room_index.memberships */
	struct room_membership *room_prev, *room_next;     /* key.room->members */
	struct room_membership *member_prev, *member_next; /* key.member->rooms */
};

struct room_index {
	struct room *rooms;                 /* uthash (hh), keyed by name */
	struct room_membership *memberships; /* uthash (hh), keyed by (room, member) */
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

/* <m>'s membership of <r>, or NULL.  The casts drop const only to fill the
 * key, which is hashed and compared, never written through. */
static struct room_membership *room_membership_find(const struct room_index *idx,
						    const struct room *r,
						    const struct room_member *m)
{
	struct room_membership_key key = { (struct room *)r, (struct room_member *)m };
	struct room_membership *ms;

	HASH_FIND(hh, idx->memberships, &key, sizeof key, ms);
	return ms;
}

/* The adds: 0, or -1 if uthash could not allocate a table or grow one; the
 * table is then as it was. */
static int room_index_rooms_add(struct room_index *idx, struct room *r, unsigned hashv)
{
	bool room_oom = false;

	HASH_ADD_KEYPTR_BYHASHVALUE(hh, idx->rooms, r->name, (unsigned)r->name_len, hashv, r);
	return room_oom ? -1 : 0;
}

static int room_index_memberships_add(struct room_index *idx, struct room_membership *ms)
{
	bool room_oom = false;

	HASH_ADD(hh, idx->memberships, key, sizeof ms->key, ms);
	return room_oom ? -1 : 0;
}

/* Puts <ms>, already in the memberships table, at the head of both of its
 * lists.  Cannot fail. */
static void room_membership_link(struct room_membership *ms)
{
	struct room *r = ms->key.room;
	struct room_member *m = ms->key.member;

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
	assert(idx->members == NULL && idx->rooms == NULL && idx->memberships == NULL);
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

/* Unlinks <ms> from the table and both lists and frees it, and its room if
 * now empty.  Never allocates (a uthash delete does not). */
static void room_membership_remove(struct room_index *idx, struct room_membership *ms)
{
	struct room *r = ms->key.room;
	struct room_member *m = ms->key.member;

	HASH_DELETE(hh, idx->memberships, ms);

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
	if (r != NULL && room_membership_find(idx, r, m) != NULL)
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
	ms->key.room = r;
	ms->key.member = m;

	/* The new room goes into the index last and the lists are linked
	 * only once nothing can fail: each step below undoes the ones before
	 * it without allocating (a uthash delete never allocates). */
	if (room_index_memberships_add(idx, ms) < 0)
		goto fail_membership;
	if (is_new_room && room_index_rooms_add(idx, r, hashv) < 0)
		goto fail_memberships;
	room_membership_link(ms);
	return 0;

fail_memberships:
	HASH_DELETE(hh, idx->memberships, ms);
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
	ms = room_membership_find(idx, r, m);
	if (ms == NULL)
		return 1;
	room_membership_remove(idx, ms);
	return 0;
}

bool room_is_member(const struct room_index *idx, const struct room_member *m,
		    const char *name, size_t len)
{
	const struct room *r = room_lookup(idx, name, len);

	return r != NULL && room_membership_find(idx, r, m) != NULL;
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
		fn(arg, ms->key.room->name, ms->key.room->name_len);
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
			ms->key.member->serial = serial;
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
			mb = ms->key.member;
			if (mb->serial == serial || mb == skip)
				continue;
			mb->serial = serial;
			visit(mb->owner, arg);
			n_visited++;
		}
	}
	return n_visited;
}
