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
 * The record codec (backend_encode_event(), backend_encode_record()) is
 * pure, for the unit tests: packet or fields in, the XADD command in RESP
 * out.
 */
#ifndef ROOMCAST_BACKEND_H
#define ROOMCAST_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "packet.h"

/* Characters of backend_init()'s <instance> kept (the adapter uid has 6). */
#define BACKEND_INSTANCE_MAX 7

/* Starts forwarding when cfg has a Redis address (redis_init() has run);
 * nothing otherwise.  <instance> names this process in its records and
 * its reply channel: the adapter uid (cluster_uid()), copied.  Returns 0,
 * or -1 if memory ran out. */
int backend_init(struct event_base *base, const struct config *cfg, const char *instance)
	__attribute__((warn_unused_result));
void backend_cleanup(void);

/* What a record says about the socket that sent it; borrowed. */
struct backend_socket {
	const char *nsp;
	size_t nsp_len;
	const char *sid;               /* the socket id, ID_LEN bytes */
	const char *user;              /* the token's sub, "" without auth jwt */
	size_t user_len;
	int64_t ack_id;                /* the ack id a backend answers, or PACKET_NO_ACK */
};

/* Whether namespace <ns> writes client event <p> (an EVENT or
 * BINARY_EVENT that is no join or leave event) to the stream, given
 * whether the policy relayed it.  False when no Redis is configured. */
bool backend_wants_event(const struct config_namespace *ns, const struct packet *p, bool relayed);

/* Writes <p> from <sock> as a record (see backend_encode_event()), now or
 * once Redis can take it.  Returns 0, or -1 if the record was dropped
 * (backend_buffer full, out of memory; counted here): an ack it asked for
 * is the caller's to answer. */
int backend_forward_event(const struct backend_socket *sock, const struct packet *p)
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
int backend_forward_connect(const struct backend_socket *sock, const struct backend_connect *c)
	__attribute__((warn_unused_result));
void backend_forward_disconnect(const struct backend_socket *sock, const char *reason);
void backend_forward_room(const struct backend_socket *sock, bool is_join, const char *room,
			  size_t room_len);

/* --- the codec (pure) ------------------------------------------------------ */

/* The event name of <p> (its data's first element: a string as it is, a
 * number as its text) into *<name>, *<len>: borrowed from <p>.  Returns 0,
 * or -1 if <p> has no name (never for a packet the reader accepted). */
int backend_event_name(const struct packet *p, const char **name, size_t *len);

/* Where the arguments after the event name start in the JSON text <json>
 * of an event's data array: the offset just past the comma after the name,
 * or of the closing `]` when there are none.  "[" followed by the text from
 * there is the arguments array, byte for byte as sent.  -1 if <json> is no
 * array starting with a string or a number. */
long backend_args_offset(const uint8_t *json, size_t len);

/* Which of K streams a socket's records go to: FNV-1a 32-bit (offset basis
 * 2166136261, prime 16777619) of the <len> bytes of its id <sid>, modulo
 * <k>.  Documented in roomcast.conf(5) so that a backend can compute it;
 * one socket's records stay in one stream, in order.  0 when <k> is 1. */
uint32_t backend_stream_index(const char *sid, size_t len, uint32_t k);

/* The stream and the instance a record goes to and comes from. */
struct backend_target {
	const char *stream;
	size_t stream_len;
	uint32_t maxlen;               /* XADD MAXLEN ~ */
	const char *instance;          /* the adapter uid */
	const char *reply;             /* the reply channel, for records with an ack */
};

/* The XADD command (RESP, ready for redis_write()) of event <p> from
 * <sock>: fields type ("event"), nsp, sid, instance, user, event, args (the
 * JSON text of the arguments after the name, placeholders included) and,
 * per attachment N, binN with its raw bytes; with an ack id, ack (in
 * decimal) and reply (t->reply).  Returns the heap text (free()
 * it) with *<len>, or NULL if memory ran out. */
char *backend_encode_event(const struct backend_target *t, const struct backend_socket *sock,
			   const struct packet *p, size_t *len)
	__attribute__((warn_unused_result));

/* A field of a lifecycle record, borrowed. */
struct backend_field {
	const char *name;
	const void *value;
	size_t len;
};

/* The XADD command of a lifecycle record of kind <type> ("connect",
 * "disconnect", "join", "leave") from <sock>: fields type, nsp, sid,
 * instance, user as in an event record, then <fields> in order (at most
 * BACKEND_MAX_RECORD_FIELDS).  Returns the heap text (free() it) with
 * *<len>, or NULL if memory ran out or there are too many fields. */
#define BACKEND_MAX_RECORD_FIELDS 8
char *backend_encode_record(const struct backend_target *t, const struct backend_socket *sock,
			    const char *type, const struct backend_field *fields, size_t n_fields,
			    size_t *len)
	__attribute__((warn_unused_result));

#endif
