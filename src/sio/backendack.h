/* backendack.h - ack ids a client awaits from backends.
 *
 * A client event forwarded to the backend stream with an ack id leaves
 * that id awaiting a backend's reply.  This module keeps those ids: at
 * most max_backend_acks per socket (past it the oldest is given up,
 * backend_acks_overflow_total), each for backend_ack_timeout
 * (backend_acks_expired_total), all on one timeq.  A socket's ids are a
 * list it holds, oldest first, with their count beside it (nsp.c keeps
 * both in struct nsp_socket, where the count fits in padding); what
 * answers the client is nsp.c's.
 */
#ifndef ROOMCAST_BACKENDACK_H
#define ROOMCAST_BACKENDACK_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"

struct backendack;

/* Starts the timeout queue; <cfg> (kept) gives the bounds where they
 * apply.  backendack_reload(): backend_ack_timeout changed, for the ids
 * awaited from now on. */
void backendack_init(struct event_base *base, const struct config *cfg);
void backendack_reload(void);
void backendack_cleanup(void);

/* Adds <id> at the end of the list <*head> whose count is <*n> (both
 * kept, until the id ends): at max_backend_acks the oldest is given up
 * first, so a client that floods events with acks costs at most that
 * many.  Returns 0, or -1 if memory ran out. */
int backendack_await(struct backendack **head, uint16_t *n, int64_t id)
	__attribute__((warn_unused_result));
/* Ends the first id <id> of the list (the last with <newest>: a client
 * may reuse ids, and the one just awaited is the last).  Returns whether
 * there was one. */
bool backendack_take(struct backendack **head, int64_t id, bool newest);
/* Ends every id of the list. */
void backendack_clear(struct backendack **head);

#endif
