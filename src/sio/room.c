/* room.c - room index of one namespace, and the recipients of a broadcast
 * (see room.h for the contract).
 *
 * Owns the rooms (each with its name stored once, inside the room), the
 * memberships and the own-name table; does not own the members, which
 * sockets embed (nsp.c), nor their own names (the socket ids), nor the
 * bytes sent to them.  Layout:
 *
 *   index->rooms     uthash of rooms, keyed by the name inside the room
 *   index->own       open-addressing table of the members that have an own
 *                    room, keyed by own name (member->own_name, the socket's
 *                    id): a pointer per slot, linear probing, at most 3/4
 *                    full, doubled when it would pass that
 *   room->members    intrusive doubly linked list of its memberships, plus
 *                    a count (walked by broadcasts)
 *   member->rooms    intrusive doubly linked list of its memberships, plus
 *                    a count (walked by each_room and cleanup)
 *   index->members   every member, linked through the member
 *
 * Own rooms: every socket is in the room named by its id
 * (doc/protocol.md, "The socket's own room": to(<socket id>), fetchSockets,
 * allRooms), and that room never has another
 * member, so it is not a struct room: the member is found in index->own by
 * that name, and a flag on it says whether it left the room
 * (socket.leave(socket.id)); leaving and joining it again flip the flag and
 * allocate nothing.  A name may be both an own room and a real room, when
 * another socket joins a room named by this one's id: the room's members
 * are then the real room's plus the owner, who is never in the real room
 * too (joining one's own name sets the flag), so sizes add up and a
 * broadcast stamps each recipient once as everywhere else.  index->
 * n_shadowed counts such names so that the room count and the list of
 * rooms give them once.
 *
 * A membership is the pair it joins and its place in those two lists: six
 * pointers, 48 bytes, and no hash handle.  Join, leave and room_is_member()
 * compare the name with the member's own name, else find the room by name
 * (O(1)), then the membership by walking the shorter of the room's and the
 * member's lists: a socket is in few real rooms (nsp.c caps client and
 * server-side joins alike by max_rooms_per_socket), so the walk is a step
 * or two.  An index-wide table
 * of memberships would make that O(1), but cost a 56-byte hash handle per
 * membership plus its share of buckets.  Leaving unlinks from both lists in
 * O(1); a room is freed with its last membership.
 *
 * Idle memory: an idle socket is in its own room only, so it costs its
 * embedded member (56 bytes) and one slot of the own-name table, 8 bytes at
 * a load between 3/8 and 3/4: 11 to 22 bytes, 16 for 1000 sockets, in one
 * block with no malloc header per socket.  About 72 bytes in all
 * (test_room.c measures it), where a real id room cost 200 as requested
 * (the member, an 80-byte room plus its name, a membership and its share
 * of buckets), about 230 after malloc's headers and rounding.  The table
 * does not shrink, like uthash's buckets: after a peak it keeps 11 to 22
 * bytes per peak socket.
 *
 * Broadcast: each call takes the next index-wide serial, stamps it on the
 * members of the except rooms, then walks the target rooms' member lists
 * and visits each member not yet stamped, stamping it.  A member in several
 * target rooms is visited once; nothing is allocated and nothing is hashed
 * per recipient, only once per room named (one hash serves the room table
 * and the own-name table; a name that is no socket's id costs a probe
 * there, a few slots at a load of at most 3/4).
 *
 * Out of memory: uthash is built with HASH_NONFATAL_OOM, so a failed table
 * allocation is reported to the add that needed it instead of exiting, and
 * a join undoes what it had done and returns -1.  The own-name table grows
 * into a new block before freeing the old one, so a failed growth leaves it
 * as it was and room_member_init() returns -1.  Every allocation, uthash's
 * included, goes through one pair of function pointers that the tests swap
 * to fail the Nth allocation.
 */
#include <assert.h>
#include <limits.h>
#include <stdint.h>
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

/* A socket joins few rooms besides its own, so each byte here is paid
 * about once per busy socket (the top comment counts 48). */
_Static_assert(sizeof(struct room_membership) <= 48,
	       "a membership is its two ends and two list links: six pointers");
/* Every socket embeds one, idle or not (the top comment counts 56). */
_Static_assert(sizeof(struct room_member) <= 56,
	       "a member is five pointers, a serial, and a count, a length and a flag in one word");

/* The own-name table's first size; it doubles from there. */
#define ROOM_OWN_MIN_SLOTS 8

struct room_index {
	struct room *rooms;                 /* uthash (hh), keyed by name */
	struct room_member *members;        /* every member, linked by prev/next */
	struct room_member **own;           /* own-name table, n_own_slots slots, NULL if empty */
	size_t n_own_slots;                 /* a power of two, or 0 before the first own name */
	size_t n_own;                       /* members in the table, in their own room or not */
	size_t n_in_own_room;               /* of those, the ones in their own room */
	size_t n_shadowed;                  /* names both a real room and an own room */
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

/* uthash's hash of a name (Jenkins), for both tables. */
static unsigned room_hash(const char *name, size_t len)
{
	unsigned hashv;

	HASH_VALUE(name, (unsigned)len, hashv);
	return hashv;
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
	if (!room_name_fits(len))
		return NULL;
	name = room_name_bytes(name);
	return room_find(idx, name, len, room_hash(name, len));
}

/* ---- own rooms ---- */

static bool room_own_name_is(const struct room_member *m, const char *name, size_t len)
{
	return m->own_len != 0 && m->own_len == len && memcmp(m->own_name, name, len) == 0;
}

static bool room_member_in_own_room(const struct room_member *m)
{
	return m->own_len != 0 && !m->is_out_of_own_room;
}

/* The member whose own name is <name> (hashed to <hashv>), in its own room
 * or not, or NULL. */
static struct room_member *room_own_find(const struct room_index *idx, const char *name,
					 size_t len, unsigned hashv)
{
	size_t mask = idx->n_own_slots - 1;
	struct room_member *m;
	size_t i;

	if (idx->n_own_slots == 0)
		return NULL;
	for (i = hashv & mask; (m = idx->own[i]) != NULL; i = (i + 1) & mask)
		if (room_own_name_is(m, name, len))
			return m;
	return NULL;
}

/* The member whose own room is <name>, if it is in it; else NULL. */
static struct room_member *room_own_room_find(const struct room_index *idx, const char *name,
					      size_t len, unsigned hashv)
{
	struct room_member *m = room_own_find(idx, name, len, hashv);

	return m != NULL && !m->is_out_of_own_room ? m : NULL;
}

/* Puts <m> in the first free slot from its home slot; the load stays
 * under 1, so there is one. */
static void room_own_place(struct room_member **slots, size_t n_slots, struct room_member *m,
			   unsigned hashv)
{
	size_t mask = n_slots - 1;
	size_t i = hashv & mask;

	while (slots[i] != NULL)
		i = (i + 1) & mask;
	slots[i] = m;
}

/* Doubles the table, placing every member anew.  0, or -1 if memory ran
 * out (the table is as it was). */
static int room_own_grow(struct room_index *idx)
{
	size_t n_slots = idx->n_own_slots != 0 ? idx->n_own_slots * 2 : ROOM_OWN_MIN_SLOTS;
	struct room_member **slots;
	size_t i;

	if (n_slots > SIZE_MAX / sizeof *slots)
		return -1;
	slots = room_malloc_fn(n_slots * sizeof *slots);
	if (slots == NULL)
		return -1;
	for (i = 0; i < n_slots; i++)
		slots[i] = NULL;
	for (i = 0; i < idx->n_own_slots; i++) {
		struct room_member *m = idx->own[i];

		if (m != NULL)
			room_own_place(slots, n_slots, m, room_hash(m->own_name, m->own_len));
	}
	room_free_fn(idx->own);
	idx->own = slots;
	idx->n_own_slots = n_slots;
	return 0;
}

/* Adds <m>, whose own name hashes to <hashv>.  0, or -1 if the table had
 * to grow and could not (nothing changed). */
static int room_own_add(struct room_index *idx, struct room_member *m, unsigned hashv)
{
	/* At most 3/4 full: every broadcast to a real room misses here once,
	 * and a linear-probing miss walks the run of full slots it lands in. */
	if ((idx->n_own + 1) * 4 > idx->n_own_slots * 3 && room_own_grow(idx) < 0)
		return -1;
	room_own_place(idx->own, idx->n_own_slots, m, hashv);
	idx->n_own++;
	return 0;
}

/* Takes <m> out of the table.  Never allocates. */
static void room_own_remove(struct room_index *idx, const struct room_member *m)
{
	size_t mask = idx->n_own_slots - 1;
	size_t hole = room_hash(m->own_name, m->own_len) & mask;
	size_t i;

	while (idx->own[hole] != m)
		hole = (hole + 1) & mask;
	/* Backward shift instead of a tombstone, so probes stay as short as
	 * the load allows: each member of the run after the hole moves into
	 * it unless its home slot lies after the hole (cyclically), where a
	 * probe for it starts past the hole and would not find it there. */
	for (i = (hole + 1) & mask; idx->own[i] != NULL; i = (i + 1) & mask) {
		struct room_member *e = idx->own[i];
		size_t home = room_hash(e->own_name, e->own_len) & mask;

		if (((i - home) & mask) >= ((i - hole) & mask)) {
			idx->own[hole] = e;
			hole = i;
		}
	}
	idx->own[hole] = NULL;
	idx->n_own--;
}

/* <m> enters (init, join) or leaves (leave, cleanup) its own room.  A real
 * room of the same name makes it a shadowed name, counted once. */
static void room_own_room_enter(struct room_index *idx, struct room_member *m)
{
	m->is_out_of_own_room = false;
	idx->n_in_own_room++;
	if (room_lookup(idx, m->own_name, m->own_len) != NULL)
		idx->n_shadowed++;
}

static void room_own_room_exit(struct room_index *idx, struct room_member *m)
{
	m->is_out_of_own_room = true;
	idx->n_in_own_room--;
	if (room_lookup(idx, m->own_name, m->own_len) != NULL)
		idx->n_shadowed--;
}

/* The real room called <name> and the member in its own room of that name,
 * either NULL (a name may be both); one hash serves the two tables. */
static struct room *room_lookup_both(const struct room_index *idx, const char *name, size_t len,
				     struct room_member **own)
{
	unsigned hashv;

	*own = NULL;
	if (!room_name_fits(len))
		return NULL;
	name = room_name_bytes(name);
	hashv = room_hash(name, len);
	*own = room_own_room_find(idx, name, len, hashv);
	return room_find(idx, name, len, hashv);
}

/* ---- real rooms and memberships ---- */

/* <m>'s membership of <r>, or NULL.  Both lists hold it; the shorter is
 * walked.  That is usually the socket's own (a room or two, never more
 * than max_rooms_per_socket, which nsp.c applies to server-side joins
 * too); the room's when the room is smaller. */
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
	assert(idx->members == NULL && idx->rooms == NULL && idx->n_own == 0);
	room_free_fn(idx->own);
	room_free_fn(idx);
}

int room_member_init(struct room_index *idx, struct room_member *m, void *owner,
		     const char *own_name, size_t own_len)
{
	m->owner = owner;
	m->rooms = NULL;
	m->n_rooms = 0;
	m->own_name = NULL;
	m->own_len = 0;
	m->is_out_of_own_room = false;
	m->serial = 0;  /* broadcasts start at 1 */
	m->prev = m->next = NULL;  /* not in the index until linked below */

	if (own_len != 0) {
		unsigned hashv = room_hash(own_name, own_len);

		assert(own_len <= ROOM_OWN_NAME_MAX);
		/* The table finds one member per name. */
		assert(room_own_find(idx, own_name, own_len, hashv) == NULL);
		m->own_name = own_name;
		m->own_len = (uint16_t)own_len;
		if (room_own_add(idx, m, hashv) < 0) {
			m->own_name = NULL;
			m->own_len = 0;
			return -1;
		}
		room_own_room_enter(idx, m);
	}

	m->next = idx->members;
	if (idx->members != NULL)
		idx->members->prev = m;
	idx->members = m;
	return 0;
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
		if (room_own_room_find(idx, r->name, r->name_len, r->hh.hashv) != NULL)
			idx->n_shadowed--;
		HASH_DELETE(hh, idx->rooms, r);
		room_free_fn(r);
	}
}

void room_member_cleanup(struct room_index *idx, struct room_member *m)
{
	/* Not in the index: its init failed, or it was cleaned up already. */
	if (m->prev == NULL && idx->members != m)
		return;
	while (m->rooms != NULL)
		room_membership_remove(idx, m->rooms);
	if (m->own_len != 0) {
		if (!m->is_out_of_own_room)
			room_own_room_exit(idx, m);
		room_own_remove(idx, m);
		m->own_name = NULL;
		m->own_len = 0;
	}
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

	if (room_own_name_is(m, name, len)) {
		if (!m->is_out_of_own_room)
			return 1;
		room_own_room_enter(idx, m);
		return 0;
	}
	if (!room_name_fits(len))
		return -1;
	name = room_name_bytes(name);
	/* One hash of the name serves the lookup and, for a new room, the add. */
	hashv = room_hash(name, len);
	r = room_find(idx, name, len, hashv);
	if (r != NULL && room_membership_find(r, m) != NULL)
		return 1;
	/* Memory runs out long before 2^32 memberships (48 bytes each). */
	if (m->n_rooms == UINT32_MAX)
		return -1;

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
	if (is_new_room) {
		if (room_index_rooms_add(idx, r, hashv) < 0)
			goto fail_membership;
		if (room_own_room_find(idx, name, len, hashv) != NULL)
			idx->n_shadowed++;
	}
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
	const struct room *r;
	struct room_membership *ms;

	if (room_own_name_is(m, name, len)) {
		if (m->is_out_of_own_room)
			return 1;
		room_own_room_exit(idx, m);
		return 0;
	}
	r = room_lookup(idx, name, len);
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
	const struct room *r;

	/* A member is never in the real room named by its own name too. */
	if (room_own_name_is(m, name, len))
		return !m->is_out_of_own_room;
	r = room_lookup(idx, name, len);
	return r != NULL && room_membership_find(r, m) != NULL;
}

size_t room_member_room_count(const struct room_member *m)
{
	return (size_t)m->n_rooms + room_member_in_own_room(m);
}

void room_member_each_room(const struct room_member *m,
			   void (*fn)(void *arg, const char *name, size_t len), void *arg)
{
	const struct room_membership *ms;

	if (room_member_in_own_room(m))
		fn(arg, m->own_name, m->own_len);
	for (ms = m->rooms; ms != NULL; ms = ms->member_next)
		fn(arg, ms->room->name, ms->room->name_len);
}

void room_index_each_room(const struct room_index *idx,
			  void (*fn)(void *arg, const char *name, size_t len), void *arg)
{
	const struct room *r;
	size_t i;

	for (r = idx->rooms; r != NULL; r = r->hh.next)
		fn(arg, r->name, r->name_len);
	for (i = 0; i < idx->n_own_slots; i++) {
		const struct room_member *m = idx->own[i];

		if (m == NULL || m->is_out_of_own_room)
			continue;
		/* A shadowed name was given above, as a real room. */
		if (idx->n_shadowed != 0 && room_lookup(idx, m->own_name, m->own_len) != NULL)
			continue;
		fn(arg, m->own_name, m->own_len);
	}
}

size_t room_index_room_count(const struct room_index *idx)
{
	return HASH_CNT(hh, idx->rooms) + idx->n_in_own_room - idx->n_shadowed;
}

size_t room_size(const struct room_index *idx, const char *name, size_t len)
{
	struct room_member *own;
	const struct room *r = room_lookup_both(idx, name, len, &own);

	return (r != NULL ? r->n_members : 0) + (own != NULL);
}

/* Visits <mb> unless this broadcast (<serial>) has stamped it already or
 * it is <skip>, stamping it.  Returns 1 if it was visited. */
static size_t room_visit_once(struct room_member *mb, uint64_t serial,
			      const struct room_member *skip,
			      void (*visit)(void *owner, void *arg), void *arg)
{
	/* <skip> is compared, not stamped: it is const to the caller. */
	if (mb->serial == serial || mb == skip)
		return 0;
	mb->serial = serial;
	visit(mb->owner, arg);
	return 1;
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
		const struct room *r = room_lookup_both(idx, except[i].name, except[i].len, &mb);

		if (mb != NULL)
			mb->serial = serial;
		if (r == NULL)
			continue;
		for (ms = r->members; ms != NULL; ms = ms->room_next)
			ms->member->serial = serial;
	}

	if (n_rooms == 0) {
		for (mb = idx->members; mb != NULL; mb = mb->next)
			n_visited += room_visit_once(mb, serial, skip, visit, arg);
		return n_visited;
	}

	for (i = 0; i < n_rooms; i++) {
		const struct room *r = room_lookup_both(idx, rooms[i].name, rooms[i].len, &mb);

		if (mb != NULL)
			n_visited += room_visit_once(mb, serial, skip, visit, arg);
		if (r == NULL)
			continue;
		for (ms = r->members; ms != NULL; ms = ms->room_next)
			n_visited += room_visit_once(ms->member, serial, skip, visit, arg);
	}
	return n_visited;
}
