/* record.h - the backend record codec: stream entries out, replies in.
 *
 * Pure, as ws.c is to websocket.c: a client event or a lifecycle event
 * (connect, disconnect, join, leave) in, the XADD command in RESP out,
 * built in one allocation sized first; a backend's JSON reply in, checked
 * as `{"sid","ack","args"}`.  No I/O, no logging, no globals.  Writing
 * the records to Redis, buffering them and delivering replies is
 * backend.c's; the fields are documented in README, "Backends".
 */
#ifndef ROOMCAST_RECORD_H
#define ROOMCAST_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "packet.h"

/* What a record says about the socket that sent it; borrowed. */
struct record_socket {
	const char *nsp;
	size_t nsp_len;
	const char *sid;               /* the socket id, ID_LEN bytes */
	const char *user;              /* the token's sub, "" without auth jwt */
	size_t user_len;
	int64_t ack_id;                /* the ack id a backend answers, or PACKET_NO_ACK */
};

/* The stream and the instance a record goes to and comes from. */
struct record_target {
	const char *stream;
	size_t stream_len;
	uint32_t maxlen;               /* XADD MAXLEN ~ */
	const char *instance;          /* the adapter uid */
	const char *reply;             /* the reply channel, for records with an ack */
};

/* A field of a lifecycle record, borrowed. */
struct record_field {
	const char *name;
	const void *value;
	size_t len;
};

/* The event name of <p> (its data's first element: a string as it is, a
 * number as its text) into *<name>, *<len>: borrowed from <p>.  Returns 0,
 * or -1 if <p> has no name (never for a packet the reader accepted). */
int record_event_name(const struct packet *p, const char **name, size_t *len);

/* Where the arguments after the event name start in the JSON text <json>
 * of an event's data array: the offset just past the comma after the name,
 * or of the closing `]` when there are none.  "[" followed by the text from
 * there is the arguments array, byte for byte as sent.  -1 if <json> is no
 * array starting with a string or a number. */
long record_args_offset(const uint8_t *json, size_t len);

/* Which of K streams a socket's records go to: FNV-1a 32-bit (offset basis
 * 2166136261, prime 16777619) of the <len> bytes of its id <sid>, modulo
 * <k>.  Documented in roomcast.conf(5) so that a backend can compute it;
 * one socket's records stay in one stream, in order.  0 when <k> is 1. */
uint32_t record_stream_index(const char *sid, size_t len, uint32_t k);

/* The XADD command (RESP, ready for redis_write()) of event <p> from
 * <sock>: fields type ("event"), nsp, sid, instance, user, event, args (the
 * JSON text of the arguments after the name, placeholders included) and,
 * per attachment N, binN with its raw bytes; with an ack id, ack (in
 * decimal) and reply (t->reply).  Returns the heap text (free()
 * it) with *<len>, or NULL if memory ran out. */
char *record_encode_event(const struct record_target *t, const struct record_socket *sock,
			  const struct packet *p, size_t *len)
	__attribute__((warn_unused_result));

/* The XADD command of a lifecycle record of kind <type> ("connect",
 * "disconnect", "join", "leave") from <sock>: fields type, nsp, sid,
 * instance, user as in an event record, then <fields> in order (at most
 * RECORD_MAX_FIELDS).  Returns the heap text (free() it) with *<len>, or
 * NULL if memory ran out or there are too many fields. */
#define RECORD_MAX_FIELDS 8
char *record_encode_lifecycle(const struct record_target *t, const struct record_socket *sock,
			      const char *type, const struct record_field *fields, size_t n_fields,
			      size_t *len)
	__attribute__((warn_unused_result));

/* Checks a backend's reply <root> as {"sid": a socket id, "ack": an ack
 * id (an integer >= 0), "args": an array or absent}; returns why not, or
 * NULL if it is one. */
const char *record_reply_check(const json_t *root);

#endif
