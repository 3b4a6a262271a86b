/* adapter.h - the wire format of @socket.io/redis-adapter 8.x and of
 * @socket.io/redis-emitter 5.x (doc/protocol.md, "Redis adapter" and
 * "Redis emitter").
 *
 * Pure: bytes in, values out; no Redis, no libevent, no logging.
 * Broadcasts are msgpack `[uid, packet, opts]`; requests are JSON, or
 * msgpack when the first byte is not '{' (BROADCAST with acks); the
 * BROADCAST_ACK response is msgpack.  Maps are read by key, never by
 * position.  The reader is bounded: a declared length or count larger than
 * the bytes left is an error before anything is allocated, nesting is
 * limited to ADAPTER_MAX_DEPTH.
 *
 * The Socket.IO payload crosses between the two worlds here: a msgpack
 * `data` array becomes the JSON text a client receives, each `bin` an
 * attachment replaced by its placeholder, byte for byte what a Node server
 * would have sent (JSON.stringify's numbers and escapes); and a client's
 * JSON with attachments becomes msgpack with `bin` values back in place,
 * as notepack.io would have written it.
 *
 * Memory: everything the module allocates, jansson values included, comes
 * from jansson's allocator (json_set_alloc_funcs()); free it only with the
 * _free functions below.
 */
#ifndef ROOMCAST_ADAPTER_H
#define ROOMCAST_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "packet.h"
#include "room.h"

/* Deepest nesting of arrays and maps accepted in a message. */
#define ADAPTER_MAX_DEPTH 32

/* Results: X(name, value, description) */
#define ADAPTER_RESULT_MAP(X)                                              \
	X(ADAPTER_OK, 0, "ok")                                             \
	X(ADAPTER_ERR_MALFORMED, -1, "malformed msgpack or JSON")          \
	X(ADAPTER_ERR_FIELD, -2, "missing or wrong-typed field")           \
	X(ADAPTER_ERR_TYPE, -3, "unknown request or packet type")          \
	X(ADAPTER_ERR_UNSUPPORTED, -4, "value clients cannot be sent")     \
	X(ADAPTER_ERR_NOMEM, -5, "out of memory")                          \
	X(ADAPTER_ERR_TOO_COSTLY, -6, "JSON too costly to parse (max_json_expansion)")

enum adapter_result {
#define ADAPTER_RESULT_ENUM(name, value, text) name = value,
	ADAPTER_RESULT_MAP(ADAPTER_RESULT_ENUM)
#undef ADAPTER_RESULT_ENUM
};

const char *adapter_result_text(enum adapter_result r);

/* Bytes, not NUL-terminated, borrowed from a message. */
struct adapter_str {
	const char *s;
	size_t len;                    /* 0 when absent */
};

/* opts.flags.  Unknown flags are ignored; `compress` has no meaning here. */
struct adapter_flags {
	bool is_volatile;              /* volatile: true */
	bool local;                    /* local: true */
	bool has_timeout;              /* timeout: a non-negative number (ms) */
	uint64_t timeout_ms;
};

/* A growing output buffer.  Start zeroed; adapter_buf_free() releases it
 * (not free(): see "Memory" above). */
struct adapter_buf {
	uint8_t *data;
	size_t len, cap;
};

void adapter_buf_free(struct adapter_buf *b);

/* --- messages from the cluster ------------------------------------------ */

/* A broadcast `[uid, {type, data, nsp}, {rooms, except, flags}]`.  Strings
 * and <data> borrow from the decoded message; <rooms> and <except> point
 * into one heap array owned by the struct. */
struct adapter_broadcast {
	struct adapter_str uid;        /* the sender adapter's uid, or "emitter" */
	struct adapter_str nsp;        /* "/" when the packet has none */
	enum packet_type type;         /* PACKET_EVENT or PACKET_BINARY_EVENT */
	const uint8_t *data;           /* packet.data: the msgpack array, not yet converted */
	size_t data_len;
	struct room_name *rooms;       /* opts.rooms; NULL when n_rooms is 0 */
	size_t n_rooms;
	struct room_name *except;      /* opts.except */
	size_t n_except;
	struct adapter_flags flags;
};

/* Decodes a broadcast message.  Requires: an array of 3; uid a string;
 * packet a map with `type` 2 or 5 (else ADAPTER_ERR_TYPE) and `data` an
 * array with at least one element, `nsp` optional (a string), `id` ignored;
 * opts a map whose `rooms` and `except` are optional arrays of strings and
 * `flags` an optional map.  The whole message must be consumed (trailing
 * bytes: malformed).  <data> is checked for being one well-formed msgpack
 * array only; adapter_payload_from_msgpack() converts it, so that a
 * message the caller drops (its own uid, a room it lacks) costs no
 * conversion.  On error nothing needs freeing. */
enum adapter_result adapter_decode_broadcast(const uint8_t *in, size_t len,
					     struct adapter_broadcast *out)
	__attribute__((warn_unused_result));
void adapter_broadcast_free(struct adapter_broadcast *b);

/* Request and response types (doc/protocol.md, "Adapter requests"). */
enum adapter_request_type {
	ADAPTER_SOCKETS = 0,
	ADAPTER_ALL_ROOMS = 1,
	ADAPTER_REMOTE_JOIN = 2,
	ADAPTER_REMOTE_LEAVE = 3,
	ADAPTER_REMOTE_DISCONNECT = 4,
	ADAPTER_REMOTE_FETCH = 5,
	ADAPTER_SERVER_SIDE_EMIT = 6,
	ADAPTER_BROADCAST = 7,
	ADAPTER_BROADCAST_CLIENT_COUNT = 8,
	ADAPTER_BROADCAST_ACK = 9,
};

/* A request from the request channel.  Strings borrow from the input
 * (msgpack) or from the parsed JSON the struct owns; room arrays are one
 * heap block the struct owns. */
struct adapter_request {
	enum adapter_request_type type;
	struct adapter_str uid;        /* absent in the emitter's join/leave/disconnect */
	struct adapter_str request_id; /* absent when no answer is expected */
	/* SOCKETS: the rooms filter; REMOTE_JOIN/LEAVE: the rooms to join or leave */
	struct room_name *rooms;
	size_t n_rooms;
	/* opts of REMOTE_JOIN/LEAVE/DISCONNECT/FETCH and BROADCAST: which sockets */
	struct room_name *opts_rooms;
	size_t n_opts_rooms;
	struct room_name *opts_except;
	size_t n_opts_except;
	struct adapter_flags flags;    /* opts.flags */
	bool close;                    /* REMOTE_DISCONNECT: close the whole connection */
	/* Legacy sid form of REMOTE_JOIN/LEAVE/DISCONNECT (older adapters):
	 * sid.len > 0, and room for JOIN/LEAVE; opts and rooms then absent. */
	struct adapter_str sid;
	struct adapter_str room;
	/* SERVER_SIDE_EMIT: data, a JSON array [event, args...] (owned by the
	 * struct, NULL otherwise), for logging or forwarding as it is. */
	json_t *emit_data;
	/* BROADCAST: packet.type, packet.nsp ("/" when absent) and packet.data
	 * as in struct adapter_broadcast. */
	enum packet_type packet_type;
	struct adapter_str packet_nsp;
	const uint8_t *data;
	size_t data_len;
	/* private */
	json_t *root;
	void *heap;
};

/* Decodes a request: JSON when in[0] is '{', msgpack otherwise; both carry
 * the same map (anything else, or JSON with trailing bytes, is
 * ADAPTER_ERR_MALFORMED).  Requires `type` to be an integer 0..9 (else
 * ADAPTER_ERR_TYPE); per type, the fields above must have their types when
 * present (a wrong type is ADAPTER_ERR_FIELD); what a type needs must be
 * present: REMOTE_JOIN/LEAVE rooms and opts, or (no opts) a non-empty sid
 * and room; REMOTE_DISCONNECT opts or a non-empty sid; REMOTE_FETCH opts;
 * SERVER_SIDE_EMIT data (an array); BROADCAST packet with data (msgpack
 * only: a JSON one is ADAPTER_ERR_FIELD) and opts.  As in the Node
 * adapter, opts decides between the two forms of REMOTE_JOIN/LEAVE/
 * DISCONNECT.  Responses (8, 9) decode to their type with request_id only.
 * On error nothing needs freeing. */
enum adapter_result adapter_decode_request(const uint8_t *in, size_t len,
					   struct adapter_request *out)
	__attribute__((warn_unused_result));
void adapter_request_free(struct adapter_request *r);

/* --- Socket.IO payloads --------------------------------------------------- */

/* A packet's data as clients receive it: the JSON text (owned) and its
 * binary attachments (borrowed from the msgpack input), placeholders
 * `{"_placeholder":true,"num":N}` numbered depth-first in order. */
struct adapter_payload {
	char *json;                    /* heap, NUL-terminated */
	size_t json_len;
	unsigned n_attachments;
	const uint8_t *attachments[PACKET_MAX_ATTACHMENTS];
	size_t attachment_lens[PACKET_MAX_ATTACHMENTS];
};

/* Converts msgpack <in> (a packet's data) into what JSON.stringify writes
 * after notepack.io decoded it: map keys in their order (number keys as
 * String(n) writes them, other key types ADAPTER_ERR_UNSUPPORTED; a
 * `__proto__` key left out, as it is no own property there), numbers as
 * JavaScript prints them (shortest round trip; integers past 2^53 lose
 * precision as they do in JavaScript; NaN and infinities as null), strings
 * with JSON.stringify's escapes (invalid UTF-8 repaired to U+FFFD), nil as
 * null, fixext1 type 0 (undefined) as null in arrays and left out of maps,
 * ext -1 (timestamp 32, 64 or 96) as the ISO 8601 string Date.toJSON()
 * gives (null for a Date out of range, past +-8.64e15 ms), bin as an
 * attachment.  Other ext types, more than PACKET_MAX_ATTACHMENTS bins, a
 * top-level undefined: ADAPTER_ERR_UNSUPPORTED.  On error nothing needs
 * freeing. */
enum adapter_result adapter_payload_from_msgpack(const uint8_t *in, size_t len,
						 struct adapter_payload *out)
	__attribute__((warn_unused_result));
void adapter_payload_free(struct adapter_payload *p);

/* The same from parsed JSON (a plain JSON emit): <data> goes through the
 * msgpack form, so numbers and strings read exactly as a Node server would
 * have sent them.  Never has attachments. */
enum adapter_result adapter_payload_from_json(const json_t *data, struct adapter_payload *out)
	__attribute__((warn_unused_result));

/* --- backend replies ------------------------------------------------------ */

/* A backend's answer to a client's ack in msgpack: the map
 * {"sid": str, "ack": int, "args": array}, args optional (none: []).
 * <sid> borrows from the input; <args> is converted as a packet's data,
 * so a bin in it becomes an attachment (borrowed from the input) and the
 * client gets a BINARY_ACK.  On error nothing needs freeing; else free
 * <args> with adapter_payload_free(). */
struct adapter_reply {
	struct adapter_str sid;
	uint64_t ack;
	struct adapter_payload args;
};

enum adapter_result adapter_decode_reply(const uint8_t *in, size_t len, struct adapter_reply *out)
	__attribute__((warn_unused_result));

/* --- messages to the cluster ------------------------------------------- */

/* Appends to <out> the broadcast message `[uid, {type:2, data, nsp},
 * {rooms, except, flags}]` for a client's event: <data> is the parsed
 * packet data (a JSON array), its placeholders replaced by the
 * <n_attachments> binary attachments as msgpack bin.  Numbers go as
 * notepack writes them: integral values within 2^53 as the smallest
 * integer encoding, others as float64.  flags is written with the set
 * fields of <flags> only (`{}` for none).  Returns 0, or -1 if memory ran
 * out (<out> then holds a partial message to free).  Data nested deeper
 * than ADAPTER_MAX_DEPTH - 2 levels is encoded all the same: Node servers
 * take it, other roomcastd instances refuse the message as malformed. */
int adapter_encode_broadcast(struct adapter_buf *out, const char *uid,
			     const char *nsp, size_t nsp_len, const json_t *data,
			     const uint8_t *const *attachments, const size_t *attachment_lens,
			     unsigned n_attachments,
			     const struct room_name *rooms, size_t n_rooms,
			     const struct room_name *except, size_t n_except,
			     const struct adapter_flags *flags)
	__attribute__((warn_unused_result));

/* Appends the BROADCAST_ACK response `{type:9, requestId, packet}` where
 * packet is <arg> (a client's first ack argument, attachments put back as
 * bin); <arg> NULL leaves `packet` out, as notepack drops undefined.
 * Returns 0 or -1 as above. */
int adapter_encode_broadcast_ack(struct adapter_buf *out, const char *request_id,
				 size_t request_id_len, const json_t *arg,
				 const uint8_t *const *attachments, const size_t *attachment_lens,
				 unsigned n_attachments)
	__attribute__((warn_unused_result));

#endif
