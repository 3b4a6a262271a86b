/* backend.h - client events to backends: records in a Redis Stream.
 *
 * With a `redis` key, each namespace's `forward` policy picks the client
 * events no client hears (or all of them) and this module writes each one
 * as a stream entry, XADD <backend_stream> MAXLEN ~ <backend_stream_maxlen>
 * * field value..., through the publisher link without waiting for the
 * answer, so that a loop turn's records leave in one write; while Redis
 * cannot take them they wait, in order, in a buffer of backend_buffer
 * bytes.  Backends read the stream with consumer groups (README,
 * "Backends").  Without a `redis` key nothing is forwarded.  Every record
 * that does not reach Redis is counted in backend_dropped_total by reason;
 * those Redis took in backend_records_total.
 *
 * Besides events, a namespace that forwards writes lifecycle records:
 * connect, disconnect, join and leave (README, "Backends").
 *
 * The record codec, packet or fields in and the XADD command in RESP
 * out, is record.c's (pure).
 */
#ifndef ROOMCAST_BACKEND_H
#define ROOMCAST_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "packet.h"
#include "record.h"

/* Characters of backend_init()'s <instance> kept (the adapter uid has 6). */
#define BACKEND_INSTANCE_MAX 7

/* Starts forwarding when cfg has a Redis address (redis_init() has run);
 * nothing otherwise.  <instance> names this process in its records and
 * its reply channel: the adapter uid (cluster_uid()), copied.  Returns 0,
 * or -1 if memory ran out. */
int backend_init(struct event_base *base, const struct config *cfg, const char *instance)
	__attribute__((warn_unused_result));
void backend_cleanup(void);

/* Whether namespace <ns> writes client event <p> (an EVENT or
 * BINARY_EVENT that is no join or leave event) to the stream, given
 * whether the policy relayed it.  False when no Redis is configured. */
bool backend_wants_event(const struct config_namespace *ns, const struct packet *p, bool relayed);

/* Writes <p> from <sock> as a record (see backend_encode_event()), now or
 * once Redis can take it.  Returns 0, or -1 if the record was dropped
 * (backend_buffer full, out of memory; counted here): an ack it asked for
 * is the caller's to answer. */
int backend_forward_event(const struct record_socket *sock, const struct packet *p)
	__attribute__((warn_unused_result));

/* Whether namespace <ns> writes lifecycle records (connect, disconnect,
 * join, leave): whenever its forward policy is not none and a Redis is
 * configured.  forward_events does not filter them: they are no events. */
bool backend_wants_lifecycle(const struct config_namespace *ns);

/* What a connect record says besides the socket: <auth> the JSON text of
 * the CONNECT payload without its token, <claims> the verified token's
 * claims as JSON text ("" without), <address> the client's, <headers> a
 * JSON object of the handshake headers backend_headers names.  A NULL
 * text means memory ran out building it. */
struct backend_connect {
	const char *auth;
	size_t auth_len;
	const char *claims;
	size_t claims_len;
	const char *address;
	const char *headers;
	size_t headers_len;
};

/* Lifecycle records of <sock>, each counted by reason here if it is
 * dropped.  connect: <c>; with sock->ack_id, the record asks a backend
 * for a decision (auth backend): fields ack and reply as in an event
 * record.  Returns 0, or -1 if it was dropped (a NULL text in <c> counts
 * as no_memory): a decision asked for will not come.  disconnect: the
 * Socket.IO reason.  join, leave: the room; their ack_id is not used. */
int backend_forward_connect(const struct record_socket *sock, const struct backend_connect *c)
	__attribute__((warn_unused_result));
void backend_forward_disconnect(const struct record_socket *sock, const char *reason);
void backend_forward_room(const struct record_socket *sock, bool is_join, const char *room,
			  size_t room_len);

#endif
