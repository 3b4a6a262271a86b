/* connwait.h - CONNECTs held while something else decides them.
 *
 * A CONNECT to an `auth backend` namespace waits for a backend's
 * decision; one to an `auth jwt` namespace whose jwt_jwks_url set lacks
 * the token's kid waits for a fetch of the set.  nsp.c decides when a
 * CONNECT waits and what its outcome does; this module owns the waits
 * themselves: their table by id, the copy of each CONNECT payload, and
 * the bounds on how many there are (max_pending_connects in the process,
 * max_pending_connects_per_ip for one client address) with the gauge
 * connects_pending.  It knows no sockets or namespaces: the session and
 * the namespace of a wait are the caller's pointers, and its timer runs
 * on the caller's timeq.
 */
#ifndef ROOMCAST_CONNWAIT_H
#define ROOMCAST_CONNWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "config.h"
#include "id.h"
#include "server.h"
#include "timeq.h"

/* One held CONNECT.  Its id is the socket's if it is accepted, and names
 * it in the auth backend's request and reply. */
struct connwait {
	char id[ID_LEN + 1];
	UT_hash_handle hh;             /* the table, keyed by id */
	void *client;                  /* the session that sent it (nsp.c's), not owned */
	void *ns;                      /* the namespace it asks for (nsp.c's), not owned */
	int64_t ack_id;                /* the request's ack: a reply must name it */
	struct timeq_entry timer;      /* on the timeq connwait_add() was given */
	struct server_ip *ip;          /* its address's count, NULL if none */
	bool is_jwks;                  /* waits for a fetch, not a backend: no request, no reply */
	size_t json_len;
	char json[];                   /* the CONNECT payload's text, as sent */
};

enum connwait_result {
	CONNWAIT_OK,
	CONNWAIT_BUSY,                 /* max_pending_connects or max_pending_connects_per_ip */
	CONNWAIT_NO_MEMORY,
};

/* The bounds are read from <cfg> (kept) where they apply. */
void connwait_init(const struct config *cfg);

/* A wait for a CONNECT with payload <json> (<json_len> bytes) from
 * <client> at <address> (NULL: not counted per address) to <ns>, with a
 * fresh id, not yet in the table, in *<out>.  Returns CONNWAIT_OK, or why
 * none was made: past a bound (a refusal per address is counted here),
 * or out of memory. */
enum connwait_result connwait_new(void *client, void *ns, const uint8_t *address,
				  const void *json, size_t json_len, struct connwait **out)
	__attribute__((warn_unused_result));
/* <w> waits, in the table and the counts, its timer started on
 * <timeout>. */
void connwait_add(struct connwait *w, struct timeq *timeout);
/* <w> no longer waits nor counts; it stays the caller's (connwait_free()). */
void connwait_unlink(struct connwait *w);
/* Frees <w>, unlinked or never added. */
void connwait_free(struct connwait *w);
/* connwait_unlink() then connwait_free(). */
void connwait_end(struct connwait *w);

/* The wait with id <id> (ID_LEN bytes), or NULL. */
struct connwait *connwait_find(const char *id);
/* A wait of <client> for <ns> (any of its waits if <ns> is NULL), or
 * NULL.  A walk of the table: call it only for a client that has one. */
struct connwait *connwait_find_client(const void *client, const void *ns);
/* How many wait. */
size_t connwait_count(void);
/* Calls <fn> for every wait; <fn> must not add or end any. */
void connwait_each(void (*fn)(void *arg, struct connwait *w), void *arg);

#endif
