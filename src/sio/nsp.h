/* nsp.h - Socket.IO namespaces and sockets over Engine.IO sessions.
 *
 * The application roomcastd runs on the engine: it decodes Socket.IO
 * packets (packet.c), connects sockets to the namespaces the config
 * declares, applies each namespace's room policy (client_join, join_event,
 * leave_event, max_rooms_per_socket) and relays clients' events to the
 * other members of their rooms.  What lies above it (the cluster, the
 * backend stream) it reaches only through the hooks main.c gives
 * nsp_init(), as socket.io's Namespace calls its Adapter; those modules
 * reach sockets through the operations below.
 * doc/protocol.md, "Socket.IO 5".
 */
#ifndef ROOMCAST_NSP_H
#define ROOMCAST_NSP_H

#include <event2/event.h>

#include <jansson.h>

#include "config.h"
#include "engine.h"
#include "packet.h"
#include "room.h"

struct nsp_socket;

/* --- what Socket.IO asks of the modules above it --------------------------- *
 * Set once at start-up, every one of them.  They run inside nsp's work on
 * a socket and must not change sockets or rooms; what they are given is
 * borrowed for the call.  Each implementation is a process-wide module,
 * so none takes a context. */
struct nsp_hooks {
	/* A client's event <p> relayed here to <rooms> of namespace <nsp>:
	 * the other instances of the cluster relay it too (cluster.c). */
	void (*relay)(const char *nsp, size_t nsp_len, const struct packet *p,
		      const struct room_name *rooms, size_t n_rooms, const char *sender_id);
	/* Whether namespace <ns> forwards client event <p> (no join or leave
	 * event) to its backends, given whether the policy relayed it. */
	bool (*wants_event)(const struct config_namespace *ns, const struct packet *p,
			    bool relayed);
	/* Forwards <p> from <sock>; <ack_id> (PACKET_NO_ACK for none) is the
	 * id a backend answers (nsp_backend_answer()).  Returns 0, or -1 if
	 * it was dropped (counted there): the ack is nsp's to answer. */
	int (*forward)(const struct nsp_socket *sock, const struct packet *p, int64_t ack_id);
	/* Lifecycle records: <sock> connected with CONNECT payload <auth> (an
	 * object or NULL), the verified <claims> (NULL without) and handshake
	 * <hs>; it joined or left room <name> on the client's request or by
	 * its token; it is leaving for Socket.IO's <reason>. */
	void (*connected)(const struct nsp_socket *sock, const json_t *auth, const json_t *claims,
			  const struct engine_handshake *hs);
	void (*room)(const struct nsp_socket *sock, bool is_join, const char *name, size_t len);
	void (*gone)(const struct nsp_socket *sock, const char *reason);
	/* Asks the backends to decide on a CONNECT to auth backend namespace
	 * <ns> held as socket <id> (ID_LEN bytes) under <ack_id>, with its
	 * payload <auth> and handshake <hs>.  Returns 0, or -1 if the request
	 * was dropped: no decision will come.  abandon: that CONNECT's session
	 * closed for <reason> before a decision. */
	int (*ask)(const struct config_namespace *ns, const char *id, int64_t ack_id,
		   const json_t *auth, const struct engine_handshake *hs)
		__attribute__((warn_unused_result));
	void (*abandon)(const struct config_namespace *ns, const char *id, const char *reason);
};

/* Sets up one room index per configured namespace; <hooks> (kept) is how
 * it calls outward.  Returns 0, or -1 if memory ran out. */
int nsp_init(struct event_base *base, const struct config *cfg, const struct nsp_hooks *hooks)
	__attribute__((warn_unused_result));
/* Frees the namespaces; every session must be gone (engine_cleanup()). */
void nsp_cleanup(void);
/* The config changed (reload.h): sets up the namespaces it added; waits
 * started from now on take the new timeouts; every other setting is read
 * where it applies.  Returns 0, or -1 if memory ran out. */
int nsp_reload(void) __attribute__((warn_unused_result));

/* What the engine calls for every session. */
extern const struct engine_callbacks nsp_engine_callbacks;

/* --- what the server side does to sockets (cluster, emitter) ------------- *
 * These run on the sockets of one namespace chosen by a target, the way
 * socket.io's BroadcastOperator chooses them, and never ask the room
 * policy: it is the server that acts, not a client. */

struct nsp_namespace;

/* The namespace named <name>, or NULL if the config declares none. */
struct nsp_namespace *nsp_namespace_find(const char *name, size_t len);

/* Sockets in any of <rooms> (every socket when n_rooms is 0) and in none
 * of <except>. */
struct nsp_target {
	const struct room_name *rooms;
	size_t n_rooms;
	const struct room_name *except;
	size_t n_except;
};

/* An event for clients: the JSON text of its data array (with attachment
 * placeholders) and the attachments, all borrowed for the call. */
struct nsp_event {
	const char *json;
	size_t json_len;
	const uint8_t *const *attachments;
	const size_t *attachment_lens;
	unsigned n_attachments;
};

/* Sends <ev> to every target socket, encoded once.  <is_volatile> skips the
 * sockets whose transport cannot take it now (engine_session_writable).
 * Returns the number of sockets it was queued to. */
size_t nsp_emit(struct nsp_namespace *ns, const struct nsp_target *t, const struct nsp_event *ev,
		bool is_volatile);

/* Who hears the answers to an event sent with an ack id.  on_ack gets each
 * target's first ACK (or BINARY_ACK) for that id, valid during the call;
 * on_done runs once when no more can come: every target answered or is
 * gone, or <timeout_ms> passed. */
struct nsp_ack_handler {
	void (*on_ack)(void *arg, const struct packet *ack);
	void (*on_done)(void *arg);
};

/* Sends <ev> to every target socket with one ack id taken from the
 * namespace's counter (as the reference server numbers a broadcast with
 * acks).  Returns the number of targets; when it is 0 nothing is kept and
 * on_done is not called: <arg> stays the caller's. */
size_t nsp_emit_with_ack(struct nsp_namespace *ns, const struct nsp_target *t,
			 const struct nsp_event *ev, uint32_t timeout_ms,
			 const struct nsp_ack_handler *h, void *arg);

/* Server-side join of <rooms> by every target socket (socketsJoin): no
 * policy, but the namespace's limits, unlike Node's adapter (one Redis
 * message must not cost every socket a room per name it carries): names
 * longer than max_room_name are skipped, and each socket stops at
 * max_rooms_per_socket rooms besides its id room.  Only the first
 * max_rooms_per_socket acceptable names are tried, so the work per socket
 * is bounded by the limit, not by the request.  Returns the number of
 * (socket, name) joins refused, for the caller to count and log. */
size_t nsp_join_rooms(struct nsp_namespace *ns, const struct nsp_target *t,
		      const struct room_name *rooms, size_t n_rooms)
	__attribute__((warn_unused_result));
/* Server-side leave (socketsLeave).  A socket never leaves its id room.
 * Names of rooms nobody is in are dropped first, one lookup each, so the
 * work per target socket is bounded by the rooms that exist. */
void nsp_leave_rooms(struct nsp_namespace *ns, const struct nsp_target *t,
		     const struct room_name *rooms, size_t n_rooms);

/* Disconnects every target socket from the namespace: the client gets a
 * DISCONNECT ("io server disconnect"); with <close> its whole Engine.IO
 * session is closed after it.  Returns the number of sockets. */
size_t nsp_disconnect(struct nsp_namespace *ns, const struct nsp_target *t, bool close);

/* Calls <fn> for every target socket; <fn> must not change sockets or
 * rooms. */
void nsp_each_socket(struct nsp_namespace *ns, const struct nsp_target *t,
		     void (*fn)(void *arg, const struct nsp_socket *sock), void *arg);
/* Whether some socket of <ns> is in room <name>. */
bool nsp_has_room(const struct nsp_namespace *ns, const char *name, size_t len);
/* Calls <fn> for every room of the namespace, socket id rooms included. */
void nsp_each_room(struct nsp_namespace *ns,
		   void (*fn)(void *arg, const char *name, size_t len), void *arg);

/* A backend's answer to the event socket <sid> (ID_LEN bytes) sent with
 * ack id <ack_id>: the socket gets ACK <ack_id> with <args> (the text of
 * the arguments array), or a BINARY_ACK followed by its attachments when
 * it has some, once.  Returns NULL when delivered, else why not (no such
 * socket, or an id it does not await from a backend: forged, late or
 * answered already), for the caller to count. */
const char *nsp_backend_answer(const char *sid, int64_t ack_id, const struct nsp_event *args);

/* A backend's decision on the CONNECT waiting as socket <sid> (ID_LEN
 * bytes, auth backend) under ack <ack_id>: <args> is the reply's array,
 * its first element {"accept": true, "user", "rooms", "data"} or
 * {"accept": false, "message"}.  Returns NULL when no CONNECT waits as
 * <sid> (the caller tries nsp_backend_answer()), "" when the decision was
 * applied, else why the reply was dropped (forged or late ack id). */
const char *nsp_connect_answer(const char *sid, int64_t ack_id, const json_t *args);

/* Whether a CONNECT waits as socket <sid> (ID_LEN bytes): a reply that
 * arrived as msgpack is parsed into a decision only then. */
bool nsp_connect_waits(const char *sid);

/* What a socket shows to the cluster (fetchSockets) and its records. */
const char *nsp_socket_id(const struct nsp_socket *sock);
const struct config_namespace *nsp_socket_namespace(const struct nsp_socket *sock);
/* Its user: the sub of its token or of a backend's decision, into
 * *<len>, borrowed; "" in a namespace without auth jwt or backend,
 * whatever a room pattern named {sub}. */
const char *nsp_socket_user(const struct nsp_socket *sock, size_t *len);
/* The CONNECT auth object, parsed again from the text the socket keeps:
 * a new tree the caller owns ({} if none), or NULL if memory ran out. */
json_t *nsp_socket_auth_new(const struct nsp_socket *sock);
/* The data a backend gave it at connect (auth backend): a new tree the
 * caller owns ({} if none), or NULL if memory ran out. */
json_t *nsp_socket_data_new(const struct nsp_socket *sock);
int64_t nsp_socket_issued_ms(const struct nsp_socket *sock);    /* when it connected */
void nsp_socket_handshake(const struct nsp_socket *sock, struct engine_handshake *out);
/* Its handshake request's Host header and the headers backend_headers
 * keeps, as a JSON object with lower-case names: a new tree the caller
 * owns, or NULL if memory ran out. */
json_t *nsp_socket_headers_new(const struct nsp_socket *sock);
/* The headers handshake <hs> kept (backend_headers), without Host, the
 * same way: a new tree the caller owns, or NULL if memory ran out. */
json_t *nsp_headers_new(const struct engine_handshake *hs);
void nsp_socket_each_room(const struct nsp_socket *sock,
			  void (*fn)(void *arg, const char *name, size_t len), void *arg);

#endif
