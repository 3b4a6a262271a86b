/* room.h - room index of one namespace, and the recipients of a broadcast.
 *
 * Maps room names to members and each member to its rooms.  A room is found
 * by name in O(1) (uthash); join, leave and membership tests then walk the
 * shorter of the room's members and the member's rooms.  A room's name is
 * stored once in the room and freed with its last member.  Members are
 * owned by their sockets (nsp.c), which embed a struct room_member; the
 * index owns rooms and memberships, and a membership is not hashed (room.c).
 * A member may also have an own room, named by bytes its socket owns (the
 * socket id): that room is virtual, found through a table of members keyed
 * by own name, and costs no room and no membership; from the outside it is
 * a room like any other.
 * A broadcast to several rooms visits each recipient once, without
 * allocating: a broadcast serial is stamped on each member as it is
 * visited, and on the members of the except rooms before the walk.
 */
#ifndef ROOMCAST_ROOM_H
#define ROOMCAST_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct room_index;
struct room_membership;

/* Longest own room name a member may have (its own_len field). */
#define ROOM_OWN_NAME_MAX UINT16_MAX

/* A socket's presence in one index.  Fields are private to room.c. */
struct room_member {
	void *owner;                        /* the socket, handed to visitors */
	struct room_membership *rooms;      /* list of this member's memberships */
	const char *own_name;               /* its own room's name, not owned; NULL: none */
	uint32_t n_rooms;                   /* length of the rooms list */
	uint16_t own_len;                   /* length of own_name; 0: no own room */
	bool is_out_of_own_room;            /* left it (room_leave), still in the table */
	uint64_t serial;                    /* last broadcast that visited or excluded it */
	struct room_member *prev, *next;    /* every member of the index */
};

/* A room name for a broadcast: bytes, not NUL-terminated. */
struct room_name {
	const char *name;
	size_t len;
};

struct room_index *room_index_new(void);
/* Frees the index; every member must have been cleaned up first. */
void room_index_free(struct room_index *idx);

/* Adds <m> (embedded in <owner>) to <idx>, in its own room <own_name>
 * (<own_len> bytes, 1 to ROOM_OWN_NAME_MAX, distinct from every other
 * member's own name in <idx>) and no other.  <own_name> is borrowed until
 * room_member_cleanup(): the index keeps the pointer, not a copy.  With
 * <own_len> 0 (<own_name> may be NULL) <m> has no own room.  Returns 0, or
 * -1 if memory ran out: <idx> is unchanged and <m> is not in it, and
 * room_member_cleanup(<m>) then does nothing. */
int room_member_init(struct room_index *idx, struct room_member *m, void *owner,
		     const char *own_name, size_t own_len) __attribute__((warn_unused_result));
/* Leaves every room (freeing the rooms left empty) and removes <m>.  Does
 * nothing for a member not in <idx> (init failed, or cleaned up already). */
void room_member_cleanup(struct room_index *idx, struct room_member *m);

/* Puts <m> in room <name>.  Returns 0, 1 if it was already there, or -1 if
 * memory ran out (nothing changed).  <m>'s own room never allocates: it is
 * only a flag, cleared here and set by room_leave(). */
int room_join(struct room_index *idx, struct room_member *m, const char *name, size_t len)
	__attribute__((warn_unused_result));
/* Takes <m> out of room <name>.  Returns 0, or 1 if it was not there.
 * Out of its own room, <m> is no longer reached or listed by that name
 * until it joins it again (Socket.IO lets socket.leave(socket.id) do so). */
int room_leave(struct room_index *idx, struct room_member *m, const char *name, size_t len);
/* Whether <m> is in room <name> of <idx>. */
bool room_is_member(const struct room_index *idx, const struct room_member *m,
		    const char *name, size_t len);
size_t room_member_room_count(const struct room_member *m);

/* Calls <fn>(<arg>, name, len) for each room of <m>, in no set order; <fn>
 * must not change <m>'s rooms. */
void room_member_each_room(const struct room_member *m,
			   void (*fn)(void *arg, const char *name, size_t len), void *arg);

/* Calls <fn>(<arg>, name, len) for each room of <idx>, in no set order;
 * <fn> must not join or leave. */
void room_index_each_room(const struct room_index *idx,
			  void (*fn)(void *arg, const char *name, size_t len), void *arg);

/* Number of rooms in <idx>, and of members of room <name> (0 if none). */
size_t room_index_room_count(const struct room_index *idx);
size_t room_size(const struct room_index *idx, const char *name, size_t len);

/* Calls <visit>(<owner>, <arg>) once for every member that is in at least
 * one of <rooms> (every member of the index when <n_rooms> is 0) and in
 * none of <except>, skipping <skip> (may be NULL: the sender of a relay).
 * <visit> must not join, leave or clean up members.  Returns the number of
 * members visited. */
size_t room_broadcast(struct room_index *idx, const struct room_name *rooms, size_t n_rooms,
		      const struct room_name *except, size_t n_except,
		      const struct room_member *skip,
		      void (*visit)(void *owner, void *arg), void *arg);

/* For tests: every allocation of room.c, uthash's tables included, goes
 * through <malloc_fn> and <free_fn> (NULL: malloc and free).  Switch only
 * while no index exists. */
void room_set_allocator(void *(*malloc_fn)(size_t), void (*free_fn)(void *));

#endif
