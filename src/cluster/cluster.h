/* cluster.h - roomcastd in a cluster of Socket.IO servers over Redis.
 *
 * Speaks @socket.io/redis-adapter 8.x on the namespaces the config
 * declares (doc/protocol.md, "Redis adapter"), so that roomcastd instances,
 * Node socket.io servers with that adapter and @socket.io/redis-emitter
 * backends reach each other's clients: client relays are published,
 * broadcasts from the others are delivered to local sockets, and every
 * request is answered (or applied) as a Node server would.  A plain JSON
 * message on redis_emit_channel (an emit, or a join, leave or disconnect)
 * reaches this instance's clients.  Without a
 * `redis` key none of this runs: the daemon is a single instance.
 */
#ifndef ROOMCAST_CLUSTER_H
#define ROOMCAST_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "config.h"
#include "packet.h"
#include "room.h"

/* Subscribes and starts connecting when cfg has a Redis address; nothing
 * otherwise.  Returns 0, or -1 if memory ran out. */
int cluster_init(struct event_base *base, const struct config *cfg)
	__attribute__((warn_unused_result));
void cluster_cleanup(void);
/* The config changed (reload.h): subscribes to the channels of the
 * namespaces it added.  Returns 0, or -1 if memory ran out. */
int cluster_reload(void) __attribute__((warn_unused_result));

/* Publishes client event <p> of namespace <nsp>, relayed by socket
 * <sender_id> to <rooms>: the adapter broadcast socket.to(rooms).emit()
 * sends, for the other servers to deliver.  Counted and dropped when Redis
 * is away; nothing when single instance. */
void cluster_publish_event(const char *nsp, size_t nsp_len, const struct packet *p,
			   const struct room_name *rooms, size_t n_rooms, const char *sender_id);

/* This process's adapter uid (6 characters), "" when single instance:
 * the `instance` of its backend records. */
const char *cluster_uid(void);

/* "redis up" or "redis down" for /healthz, NULL when single instance. */
const char *cluster_health(void);

#endif
