/* nsp.h - Socket.IO namespaces and sockets over Engine.IO sessions.
 *
 * The application roomcastd runs on the engine: it decodes Socket.IO
 * packets (packet.c), connects sockets to the namespaces the config
 * declares, applies each namespace's room policy (client_join, join_event,
 * leave_event, max_rooms_per_socket) and relays clients' events to the
 * other members of their rooms.  protocol-notes.md section 2.
 */
#ifndef ROOMCAST_NSP_H
#define ROOMCAST_NSP_H

#include <event2/event.h>

#include "config.h"
#include "engine.h"

/* Sets up one room index per configured namespace.  Returns 0, or -1 if
 * memory ran out. */
int nsp_init(struct event_base *base, const struct config *cfg)
	__attribute__((warn_unused_result));
/* Frees the namespaces; every session must be gone (engine_cleanup()). */
void nsp_cleanup(void);

/* What the engine calls for every session. */
extern const struct engine_callbacks nsp_engine_callbacks;

#endif
