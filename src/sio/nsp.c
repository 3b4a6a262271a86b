/* nsp.c - Socket.IO namespaces, sockets, room policy and relay (see nsp.h).
 *
 * Owns one struct nsp_client per Engine.IO session (its packet reader and
 * its sockets) and one struct nsp_socket per connected namespace (its id,
 * its room memberships, and what it keeps of its CONNECT auth, whose
 * layout sockauth.c owns).  Does not own sessions (engine.c) or rooms
 * (room.c).
 *
 * Flow: engine message -> packet_reader -> CONNECT (policy: declared
 * namespaces, max_namespaces_per_session), DISCONNECT, EVENT (join/leave
 * events under client_join and max_rooms_per_socket; other events relayed
 * when the namespace says relay, and written to the backend stream as its
 * forward policy says, else counted and dropped), ACK (to the
 * server's ack ids, from cluster.c's broadcasts with acks).  An event
 * forwarded with an ack id leaves the id awaiting a backend's reply
 * (nsp_backend_answer()), at most max_backend_acks per socket, each for
 * backend_ack_timeout (backendack.c keeps them).  In a namespace that
 * forwards, a socket's connect (auth as sent, claims, address), the joins
 * and leaves that changed its rooms (by the client or its token) and its
 * disconnect with Socket.IO's reason are lifecycle records too.  The
 * relay to other instances, forwarded events and records go out through
 * the hooks nsp_init() was given (nsp.h), never to cluster.c or
 * backend.c by name: those call down into this module.  Anything
 * the reference server refuses closes the whole engine session as it does
 * ("forced close"), counted and logged once at debug level; nobody else
 * notices.
 * A CONNECT to an `auth backend` namespace is held: no socket exists yet,
 * a connect record with ack and reply asks the backends, and the reply
 * (nsp_connect_answer()) accepts it, with a user, rooms and data, or
 * refuses it with a message.  Each wait (connwait.c holds them, at most
 * max_pending_connects in the whole process and
 * max_pending_connects_per_ip for one client address) keeps its CONNECT
 * payload (at most max_auth_size) and a timer on its namespace's
 * auth_backend_timeout; one per namespace of a session (a second CONNECT
 * while one waits is a protocol error, as a packet for a namespace not
 * connected is).
 * A CONNECT to an `auth jwt` namespace whose jwt_jwks_url set lacks the
 * token's kid (or has no set yet) waits the same way, in the same
 * accounting, while a fetch of the set is under way (jwks.c calls
 * nsp_jwks_fetch_end() when one ends), for at most jwt_jwks_wait; then it
 * is verified against the set the fetch left.
 * A CONNECT refused for the client's reasons (a bad token costs a
 * signature check) counts for its session, closed at
 * max_refused_connects_per_session, and for its address: past
 * max_refused_connects_per_ip in a window, the address's CONNECTs to
 * namespaces that check are refused unchecked.
 * A relayed packet is encoded once and the same bytes go to every
 * recipient.  Server-side joins (cluster.c) skip the policy but not the
 * limits: max_rooms_per_socket and max_room_name hold for them too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <uthash.h>

#include "auth.h"
#include "backendack.h"
#include "connwait.h"
#include "id.h"
#include "jsonmem.h"
#include "jwks.h"
#include "log.h"
#include "metrics.h"
#include "nsp.h"
#include "timeq.h"
#include "packet.h"
#include "room.h"
#include "server.h"
#include "sockauth.h"

/* Rooms of a sender gathered on the stack before the heap is needed. */
#define NSP_RELAY_STACK_ROOMS 64
/* Bytes of a backend's refusal message a client reads, at most: a reason
 * for a person, not a document. */
#define NSP_MAX_REFUSAL 256

/* A token's exp further ahead than this (about 68 years) is not timed: no
 * session lasts that long, and libevent's timeval arithmetic stays in range. */
#define NSP_EXPIRY_HORIZON_S ((int64_t)INT32_MAX)

struct nsp_namespace {
	const struct config_namespace *cfg;
	struct room_index *rooms;
	int64_t next_ack_id;           /* server-to-client ack ids, shared by its sockets */
	struct server_delay *flush_delay; /* held broadcasts, NULL when flush_delay is 0 */
	struct timeq auth_timeout;     /* every held CONNECT's timer: auth_backend_timeout or jwt_jwks_wait */
	size_t n_sockets;              /* connected to it */
};

struct nsp_ack;

/* The Socket.IO side of one Engine.IO session. */
struct nsp_client {
	struct engine_session *s;      /* not owned */
	struct packet_reader reader;
	struct nsp_socket *sockets;    /* connected namespaces, owned */
	unsigned n_sockets;
	unsigned n_pending;            /* its CONNECTs held (backend or fetch), in connwait.c */
	struct timeq_entry connect_timer; /* connect_timeout, until the first CONNECT */
	uint16_t n_refused;            /* CONNECTs refused for the client's reasons */
	bool failed;                   /* closing after bad input: ignore the rest */
};

/* Every connected namespace of every client has one: its fields are laid
 * out so that it stays a 144-byte malloc chunk (the count in the padding
 * after the id). */
struct nsp_socket {
	char id[ID_LEN + 1];
	uint16_t n_backend_acks;       /* <= max_backend_acks */
	struct nsp_client *client;     /* not owned */
	struct nsp_namespace *ns;      /* not owned */
	struct sockauth *auth;         /* what it keeps of its CONNECT payload, owned, NULL if none */
	int64_t issued_ms;             /* when it connected (handshake.issued) */
	struct room_member member;     /* in ns->rooms */
	struct nsp_ack *acks;          /* answers it owes the server, owned */
	struct backendack *backend_acks; /* ack ids it awaits from backends, oldest first, owned */
	struct nsp_socket *next;
};

/* An event sent with an ack id, shared by its targets until each answered,
 * left or the timeout passed. */
struct nsp_ack_wait {
	const struct nsp_ack_handler *h;
	void *arg;
	struct nsp_ack *owed;          /* one per target that has not answered */
	struct event timer;
};

/* One answer a socket owes: in its socket's list and in its wait's. */
struct nsp_ack {
	int64_t id;
	struct nsp_ack_wait *wait;
	struct nsp_ack *sock_next, **sock_pprev;
	struct nsp_ack *wait_next, **wait_pprev;
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	const struct nsp_hooks *hooks;
	struct nsp_namespace *namespaces;
	size_t n_namespaces;
	struct timeq connect_timeout;  /* every client's connect_timer */
	int64_t next_connect_ack;      /* the ack of the next connect record */
} nsp;

/* --- sending ------------------------------------------------------------- */

/* Sends one text packet to namespace <nsp> of <cl>: header then <json>.
 * The header is built in place; only packets too big for the stack buffer
 * are copied to the heap. */
static void nsp_send_attached(struct nsp_client *cl, enum packet_type type, unsigned n_attachments,
			      const char *nsp_name, size_t nsp_len, int64_t ack_id, const char *json,
			      size_t json_len)
{
	char stack[512];
	size_t cap = PACKET_HEADER_MAX(nsp_len) + json_len;
	char *buf = cap <= sizeof stack ? stack : malloc(cap);

	if (!buf) {
		engine_close(cl->s, "forced close");
		return;
	}
	size_t n = packet_encode_header(buf, cap, type, n_attachments, nsp_name, nsp_len, ack_id);
	memcpy(buf + n, json, json_len);
	(void)engine_send(cl->s, false, buf, n + json_len);
	if (buf != stack)
		free(buf);
}

static void nsp_send(struct nsp_client *cl, enum packet_type type, const char *nsp_name,
		     size_t nsp_len, int64_t ack_id, const char *json, size_t json_len)
{
	nsp_send_attached(cl, type, 0, nsp_name, nsp_len, ack_id, json, json_len);
}

static void nsp_send_ack(struct nsp_socket *sock, int64_t ack_id, const char *json)
{
	if (ack_id != PACKET_NO_ACK)
		nsp_send(sock->client, PACKET_ACK, sock->ns->cfg->name, sock->ns->cfg->name_len,
			 ack_id, json, strlen(json));
}

/* --- bad input ------------------------------------------------------------ */

/* Closes the client's engine session as the reference server does on a
 * protocol violation: what is queued is delivered, then the close. */
static void nsp_client_fail(struct nsp_client *cl, const char *why)
{
	if (cl->failed)
		return;
	cl->failed = true;
	metrics_inc(sio_protocol_errors_total);
	log_debug("Socket.IO protocol error: %s\tsid=%s", why, engine_session_sid(cl->s));
	engine_close(cl->s, "forced close");
}

/* --- sockets ------------------------------------------------------------- */

struct nsp_namespace *nsp_namespace_find(const char *name, size_t len)
{
	for (size_t i = 0; i < nsp.n_namespaces; i++) {
		const struct config_namespace *ns = nsp.namespaces[i].cfg;
		if (ns->name_len == len && memcmp(ns->name, name, len) == 0)
			return &nsp.namespaces[i];
	}
	return NULL;
}

static int64_t nsp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct nsp_socket *nsp_find_socket(struct nsp_client *cl, const char *name, size_t len)
{
	for (struct nsp_socket *sock = cl->sockets; sock; sock = sock->next) {
		const struct config_namespace *ns = sock->ns->cfg;
		if (ns->name_len == len && memcmp(ns->name, name, len) == 0)
			return sock;
	}
	return NULL;
}

static void nsp_ack_settle(struct nsp_ack *a);
static void nsp_socket_grant(struct nsp_socket *sock, const json_t *claims);

static void nsp_socket_free(struct nsp_socket *sock)
{
	while (sock->acks)
		nsp_ack_settle(sock->acks);
	backendack_clear(&sock->backend_acks);
	room_member_cleanup(sock->ns->rooms, &sock->member);
	sockauth_free(sock->auth);
	free(sock);
}

/* Removes <sock>, which leaves for Socket.IO's <reason> (its backend
 * record says so). */
static void nsp_socket_remove(struct nsp_client *cl, struct nsp_socket *sock, const char *reason)
{
	nsp.hooks->gone(sock, reason);
	for (struct nsp_socket **pp = &cl->sockets; *pp; pp = &(*pp)->next) {
		if (*pp == sock) {
			*pp = sock->next;
			break;
		}
	}
	cl->n_sockets--;
	sock->ns->n_sockets--;
	nsp_socket_free(sock);
	metrics_gauge_add(sockets_current, -1);
}

/* --- handshake headers ------------------------------------------------------ */

/* A header sent twice is one field, its values joined as Node joins them
 * ("; " for cookie, ", " otherwise); a value that is not UTF-8 is left out
 * (JSON cannot say it). */
json_t *nsp_headers_new(const struct engine_handshake *hs)
{
	json_t *o = json_object();

	for (const char *name = hs->headers; o && *name;) {
		const char *value = name + strlen(name) + 1;
		const json_t *old = json_object_get(o, name);
		json_t *v = old ? json_sprintf("%s%s%s", json_string_value(old),
					       strcmp(name, "cookie") == 0 ? "; " : ", ", value)
				: json_string(value);
		if (v)
			(void)json_object_set_new(o, name, v);
		name = value + strlen(value) + 1;
	}
	return o;
}

/* --- CONNECT auth ---------------------------------------------------------- */

/* config_room_allowed()'s view of the CONNECT auth object. */
static const char *nsp_auth_field(void *ctx, const char *field, size_t field_len, size_t *value_len)
{
	struct nsp_socket *sock = ctx;

	return sock->auth ? sockauth_find(sock->auth, field, field_len, value_len) : NULL;
}

/* CONNECT_ERROR {"message": <message>} (<len> bytes of UTF-8) to
 * namespace <nsp_name> of <cl>. */
static void nsp_connect_error(struct nsp_client *cl, const char *nsp_name, size_t nsp_len,
			      const char *message, size_t len)
{
	json_t *o = json_pack("{s:s%}", "message", message, len);
	char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;

	metrics_inc(sio_connect_errors_total);
	if (json)
		nsp_send(cl, PACKET_CONNECT_ERROR, nsp_name, nsp_len, PACKET_NO_ACK, json,
			 strlen(json));
	else
		engine_close(cl->s, "forced close");
	free(json);
	json_decref(o);
}

/* A CONNECT to <ns> refused by auth backend for <why>: counted, logged at
 * debug (a client's business), and the client reads <message> (<len>
 * bytes) or, if NULL, the reason's text. */
static void nsp_connect_refuse(struct nsp_client *cl, const struct nsp_namespace *ns,
			       enum auth_backend_reason why, const char *message, size_t len)
{
	const char *text = auth_backend_refuse(why);

	log_debug("CONNECT to %s refused: %s\tsid=%s", ns->cfg->name, text,
		  engine_session_sid(cl->s));
	if (!message) {
		message = text;
		len = strlen(text);
	}
	nsp_connect_error(cl, ns->cfg->name, ns->cfg->name_len, message, len);
}

/* Counts a refused CONNECT of <cl>'s: a session refused
 * max_refused_connects_per_session times is closed once its last
 * CONNECT_ERROR is out. */
static void nsp_session_refused(struct nsp_client *cl)
{
	if (++cl->n_refused < nsp.cfg->max_refused_connects_per_session || cl->failed)
		return;
	cl->failed = true;
	metrics_inc(sio_sessions_refused_connects_total);
	log_debug("session %s: max_refused_connects_per_session (%u) reached, closing",
		  engine_session_sid(cl->s), nsp.cfg->max_refused_connects_per_session);
	engine_close(cl->s, "forced close");
}

/* A CONNECT of <cl> was refused for a reason of the client's (not a
 * backend's state): a retry costs a signature check, or a backend's work,
 * every time.  Counted for the session and for its address
 * (max_refused_connects_per_ip over a window). */
static void nsp_connect_refused(struct nsp_client *cl)
{
	server_ip_refusal(engine_session_address(cl->s), nsp.cfg->max_refused_connects_per_ip);
	nsp_session_refused(cl);
}

/* Refuses CONNECT <p> unchecked if <cl>'s address was refused
 * max_refused_connects_per_ip times in its window: past that, checks
 * cost nothing more.  Returns whether it did. */
static bool nsp_connect_refused_enough(struct nsp_client *cl, const struct packet *p)
{
	static const char message[] = "too many refused connects";

	if (!server_ip_refused_enough(engine_session_address(cl->s),
				      nsp.cfg->max_refused_connects_per_ip))
		return false;
	metrics_inc(sio_connects_refused_per_ip_total);
	nsp_connect_error(cl, p->nsp, p->nsp_len, message, sizeof message - 1);
	nsp_session_refused(cl);
	return true;
}

/* A socket of <cl> in <ns>, in its own id room and no other: every
 * socket is, since to(<socket id>) from any server or emitter relies on
 * it.  NULL if memory ran out. */
static struct nsp_socket *nsp_socket_new(struct nsp_client *cl, struct nsp_namespace *ns,
					 const struct packet *p, const json_t *claims, const char *id)
{
	struct nsp_socket *sock = calloc(1, sizeof *sock);

	if (sock && id)
		memcpy(sock->id, id, ID_LEN);
	if (!sock || (!id && id_generate(sock->id) < 0) ||
	    ((p->data || claims) &&
	     !(sock->auth = sockauth_new(ns->cfg, (const char *)p->json, p->json_len, p->data,
					 claims, nsp.cfg->max_room_name)))) {
		free(sock);
		return NULL;
	}
	sock->client = cl;
	sock->ns = ns;
	sock->issued_ms = nsp_now_ms();
	if (room_member_init(ns->rooms, &sock->member, sock, sock->id, ID_LEN) < 0) {
		sockauth_free(sock->auth);
		free(sock);
		return NULL;
	}
	return sock;
}

/* <sock> is connected: the client gets its CONNECT. */
static void nsp_socket_attach(struct nsp_client *cl, struct nsp_socket *sock)
{
	const struct config_namespace *ns = sock->ns->cfg;

	sock->next = cl->sockets;
	cl->sockets = sock;
	cl->n_sockets++;
	sock->ns->n_sockets++;
	timeq_stop(&cl->connect_timer);
	metrics_inc(sio_connects_total);
	metrics_gauge_add(sockets_current, 1);

	char json[32 + ID_LEN];
	int n = snprintf(json, sizeof json, "{\"sid\":\"%s\"}", sock->id);
	nsp_send(cl, PACKET_CONNECT, ns->name, ns->name_len, PACKET_NO_ACK, json, (size_t)n);
}

/* <cl>'s held CONNECT to <ns> (any if NULL), or NULL.  The client keeps
 * only a count, not a list: waits are rare next to clients, and the walk
 * of the table (at most max_pending_connects) is done only for a client
 * that has one. */
static struct connwait *nsp_pending_find(const struct nsp_client *cl,
					 const struct nsp_namespace *ns)
{
	return cl->n_pending ? connwait_find_client(cl, ns) : NULL;
}

/* <w> no longer waits nor counts; the caller frees it (connwait_free()). */
static void nsp_pending_unlink(struct connwait *w)
{
	struct nsp_client *cl = w->client;

	cl->n_pending--;
	connwait_unlink(w);
}

static void nsp_pending_end(struct connwait *w)
{
	nsp_pending_unlink(w);
	connwait_free(w);
}

/* A wait for CONNECT <p> of <cl> to <ns>, holding its payload, not yet
 * waiting (nsp_pending_add()).  NULL, the CONNECT refused at once, past
 * max_pending_connects or past max_pending_connects_per_ip (one address
 * cannot take every wait); or the session failed, out of memory. */
static struct connwait *nsp_pending_new(struct nsp_client *cl, struct nsp_namespace *ns,
					const struct packet *p)
{
	struct connwait *w;

	switch (connwait_new(cl, ns, engine_session_address(cl->s), p->json, p->json_len, &w)) {
	case CONNWAIT_OK:
		return w;
	case CONNWAIT_BUSY:
		nsp_connect_refuse(cl, ns, AUTH_BACKEND_BUSY, NULL, 0);
		return NULL;
	case CONNWAIT_NO_MEMORY:
		break;
	}
	nsp_client_fail(cl, "out of memory");
	return NULL;
}

/* <w> waits, for its namespace's auth_timeout at most. */
static void nsp_pending_add(struct connwait *w)
{
	struct nsp_namespace *ns = w->ns;
	struct nsp_client *cl = w->client;

	connwait_add(w, &ns->auth_timeout);
	cl->n_pending++;
}

/* Holds CONNECT <p> to auth backend namespace <ns> and asks the backends
 * with a connect record; refused at once past the bounds of
 * nsp_pending_new(), or when the record cannot even wait for Redis
 * (backend_buffer full). */
static void nsp_pending_start(struct nsp_client *cl, struct nsp_namespace *ns,
			      const struct packet *p, const struct engine_handshake *hs)
{
	struct connwait *w = nsp_pending_new(cl, ns, p);

	if (!w)
		return;
	w->ack_id = nsp.next_connect_ack++;
	if (nsp.hooks->ask(ns->cfg, w->id, w->ack_id, p->data, hs) < 0) {
		connwait_free(w);
		nsp_connect_refuse(cl, ns, AUTH_BACKEND_UNAVAILABLE, NULL, 0);
		return;
	}
	nsp_pending_add(w);
}

/* <w>'s session closed for <reason> while the backends decide: the
 * connect record they have is followed by a disconnect record, so that
 * what a backend set up while deciding is undone. */
static void nsp_pending_abandon(struct connwait *w, const char *reason)
{
	const struct nsp_namespace *ns = w->ns;

	if (!w->is_jwks)
		nsp.hooks->abandon(ns->cfg, w->id, reason);
	nsp_pending_end(w);
}

/* No decision within auth_backend_timeout, or no fetch ended within
 * jwt_jwks_wait. */
static void nsp_pending_fire(struct timeq_entry *e)
{
	struct connwait *w = timeq_owner(e, struct connwait, timer);
	struct nsp_client *cl = w->client;
	struct nsp_namespace *ns = w->ns;
	enum auth_backend_reason why = w->is_jwks ? AUTH_KEYS_TIMEOUT : AUTH_BACKEND_TIMEOUT;

	nsp_pending_end(w);
	nsp_connect_refuse(cl, ns, why, NULL, 0);
}

/* Verifies CONNECT <p> of <cl> to <ns> (auth none or jwt) and connects its
 * socket, or refuses it.  With <may_wait>, one whose jwt_jwks_url set may
 * get the token's kid from a fetch under way waits for the fetch's end
 * (nsp_jwks_fetch_end()), within the bounds of nsp_pending_new(). */
static void nsp_connect_verify(struct nsp_client *cl, struct nsp_namespace *ns,
			       const struct packet *p, const struct engine_handshake *hs,
			       bool may_wait)
{
	const char *refusal;
	json_t *claims;
	struct connwait *w;

	switch (auth_connect(ns->cfg, p->data, hs->bearer, nsp_now_ms() / 1000, may_wait, &claims,
			     &refusal)) {
	case AUTH_WAIT:
		if ((w = nsp_pending_new(cl, ns, p)) != NULL) {
			w->is_jwks = true;
			metrics_inc(jwks_connect_waits_total);
			nsp_pending_add(w);
		}
		return;
	case AUTH_REFUSE:
		nsp_connect_error(cl, p->nsp, p->nsp_len, refusal, strlen(refusal));
		nsp_connect_refused(cl);
		return;
	case AUTH_ACCEPT:
		break;
	}
	struct nsp_socket *sock = nsp_socket_new(cl, ns, p, claims, NULL);
	if (sock) {
		nsp.hooks->connected(sock, p->data, claims, hs);
		nsp_socket_grant(sock, claims);
	}
	json_decref(claims);
	if (!sock) {
		nsp_client_fail(cl, "out of memory");
		return;
	}
	nsp_socket_attach(cl, sock);
}

/* The CONNECT <w> holds, into <p>, its payload parsed again into p->data
 * (the caller's to json_decref()).  It was parsed once already, so only
 * memory can fail: returns 0, or -1 then. */
static int nsp_pending_packet(const struct connwait *w, struct packet *p)
{
	const struct nsp_namespace *ns = w->ns;

	*p = (struct packet){ .type = PACKET_CONNECT, .nsp = ns->cfg->name,
			      .nsp_len = ns->cfg->name_len, .json = (const uint8_t *)w->json,
			      .json_len = w->json_len };
	return w->json_len && jsonmem_load(p->json, p->json_len, 0, &p->data) != JSONMEM_OK ? -1
											     : 0;
}

/* The fetch <w> waited for ended: its CONNECT is verified against the set
 * the fetch left.  <w> leaves the accounting first and is freed last: its
 * payload is the packet's, and a refusal may close the session. */
static void nsp_pending_verify(struct connwait *w)
{
	struct nsp_client *cl = w->client;
	struct nsp_namespace *ns = w->ns;
	struct packet p;
	struct engine_handshake hs;

	nsp_pending_unlink(w);
	if (nsp_pending_packet(w, &p) < 0) {
		nsp_client_fail(cl, "out of memory");
	} else {
		engine_session_handshake(cl->s, &hs);
		nsp_connect_verify(cl, ns, &p, &hs, false);
	}
	json_decref(p.data);
	connwait_free(w);
}

/* A jwt_jwks_url fetch ended: every CONNECT waiting for a set no longer
 * being fetched is verified.  Their ids are taken first: a verification
 * may close a session, and with it another wait of that client. */
struct nsp_fetched {
	char (*ids)[ID_LEN];
	size_t n;
};

/* Takes the id of <w> if it waits for a set no longer being fetched. */
static void nsp_fetched_visit(void *arg, struct connwait *w)
{
	struct nsp_fetched *f = arg;
	const struct nsp_namespace *ns = w->ns;
	const struct config_namespace *cfg = ns->cfg;

	/* A reload may have made the namespace another kind meanwhile. */
	if (w->is_jwks && cfg->auth == CONFIG_AUTH_JWT && cfg->jwt_key == CONFIG_JWT_KEY_URL &&
	    !jwks_fetch_under_way(cfg))
		memcpy(f->ids[f->n++], w->id, ID_LEN);
}

static void nsp_jwks_fetch_end(void)
{
	struct nsp_fetched f = { NULL, 0 };
	struct connwait *w;

	if (!connwait_count())
		return;
	if (!(f.ids = malloc(connwait_count() * sizeof *f.ids))) {
		log_warn("out of memory: CONNECTs waiting for signing keys wait for jwt_jwks_wait");
		return;
	}
	connwait_each(nsp_fetched_visit, &f);
	for (size_t i = 0; i < f.n; i++) {
		if ((w = connwait_find(f.ids[i])) != NULL)
			nsp_pending_verify(w);
	}
	free(f.ids);
}

static void nsp_on_connect(struct nsp_client *cl, const struct packet *p)
{
	if (p->nsp_len > CONFIG_MAX_NSP_NAME) {
		nsp_client_fail(cl, "namespace name too long");
		return;
	}
	struct nsp_namespace *ns = nsp_namespace_find(p->nsp, p->nsp_len);
	if (!ns) {
		nsp_connect_error(cl, p->nsp, p->nsp_len, "Invalid namespace", 17);
		nsp_connect_refused(cl);
		return;
	}
	/* The reference server treats a second CONNECT as a violation; one
	 * while the first waits for a backend too, or each would hold a
	 * wait. */
	if (nsp_find_socket(cl, p->nsp, p->nsp_len) || nsp_pending_find(cl, ns)) {
		nsp_client_fail(cl, "CONNECT to a connected namespace");
		return;
	}
	if (cl->n_sockets + cl->n_pending >= nsp.cfg->max_namespaces_per_session) {
		nsp_connect_error(cl, p->nsp, p->nsp_len, "too many namespaces", 19);
		nsp_connect_refused(cl);
		return;
	}
	if (p->json_len > nsp.cfg->max_auth_size) {
		metrics_inc(sio_auth_too_large_total);
		nsp_connect_error(cl, p->nsp, p->nsp_len, "auth too large", 14);
		nsp_connect_refused(cl);
		return;
	}
	if (ns->cfg->auth != CONFIG_AUTH_NONE && nsp_connect_refused_enough(cl, p))
		return;
	struct engine_handshake hs;
	engine_session_handshake(cl->s, &hs);
	if (ns->cfg->auth == CONFIG_AUTH_BACKEND) {
		nsp_pending_start(cl, ns, p, &hs);
		return;
	}
	nsp_connect_verify(cl, ns, p, &hs, true);
}

/* --- room policy ---------------------------------------------------------- */

/* Whether <sock> is in max_rooms_per_socket rooms besides its own id room,
 * which is not counted against the limit (a socket never leaves it, so the
 * count always has it). */
static bool nsp_socket_is_full(const struct nsp_socket *sock)
{
	return room_member_room_count(&sock->member) - 1 >= sock->ns->cfg->max_rooms_per_socket;
}

/* A room a token gives (user_room, rooms_claim): joined within the
 * socket's limits, as any join. */
static void nsp_grant_join(struct nsp_socket *sock, const char *name, size_t len)
{
	if (len == 0 || len > nsp.cfg->max_room_name || nsp_socket_is_full(sock)) {
		metrics_inc(sio_joins_refused_total);
		return;
	}
	int joined = room_join(sock->ns->rooms, &sock->member, name, len);
	if (joined < 0) {
		log_warn("out of memory joining a room\tsocket=%s", sock->id);
		return;
	}
	metrics_inc(sio_joins_total);
	if (joined == 0)
		nsp.hooks->room(sock, true, name, len);
}

/* The session of a socket whose token expired is closed as a transport
 * close, not with a DISCONNECT: the official client then reconnects and
 * asks its auth function for a fresh token. */
static void nsp_expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct nsp_socket *sock = arg;

	metrics_inc(auth_expired_total);
	log_debug("token expired, closing its session\tsocket=%s", sock->id);
	engine_close(sock->client->s, "transport close");
}

/* Applies what a verified token grants <sock>: its user room, the rooms of
 * rooms_claim, and the close of its session when the token expires. */
static void nsp_socket_grant(struct nsp_socket *sock, const json_t *claims)
{
	const struct config_namespace *cfg = sock->ns->cfg;
	char room[CONFIG_MAX_ROOM_NAME];
	size_t len = auth_user_room(cfg, claims, room, nsp.cfg->max_room_name);
	size_t i;
	const json_t *v;

	if (!claims)
		return;
	if (len > 0)
		nsp_grant_join(sock, room, len);
	json_array_foreach(auth_claim_list(claims, cfg->rooms_claim), i, v) {
		if (json_is_string(v))
			nsp_grant_join(sock, json_string_value(v), json_string_length(v));
	}
	int64_t expiry = auth_expiry(cfg, claims), now_ms = nsp_now_ms();
	/* A token that outlives NSP_EXPIRY_HORIZON_S (any exp up to INT64_MAX)
	 * is a session that lives: no timer, and no product that overflows. */
	if (!expiry || expiry > now_ms / 1000 + NSP_EXPIRY_HORIZON_S)
		return;
	int64_t wait_ms = expiry * 1000 - now_ms;
	struct timeval tv = { wait_ms > 0 ? wait_ms / 1000 : 0, wait_ms > 0 ? (wait_ms % 1000) * 1000 : 0 };
	sock->auth->expiry = evtimer_new(nsp.base, nsp_expiry_cb, sock);
	if (!sock->auth->expiry || evtimer_add(sock->auth->expiry, &tv) < 0)
		log_warn("cannot time its token's expiry\tsocket=%s", sock->id);
}

/* Checks the room argument of a join or leave against the policy: returns
 * the refusal, or NULL with *<name> and *<len> set. */
static const char *nsp_room_check(struct nsp_socket *sock, const struct packet *p,
				  const char **name, size_t *len)
{
	json_t *room = json_array_get(p->data, 1);

	*len = json_string_length(room);
	if (!json_is_string(room) || *len == 0 || *len > nsp.cfg->max_room_name)
		return "invalid room name";
	*name = json_string_value(room);
	if (!config_room_allowed(sock->ns->cfg, *name, *len, nsp_auth_field, sock) &&
	    !sockauth_may_join(sock->auth, *name, *len))
		return "not allowed";
	return NULL;
}

/* Joins the room a join event names.  Returns the refusal, or NULL. */
static const char *nsp_join(struct nsp_socket *sock, const struct packet *p)
{
	const char *name;
	size_t len;
	const char *refusal = nsp_room_check(sock, p, &name, &len);

	if (refusal || room_is_member(sock->ns->rooms, &sock->member, name, len))
		return refusal;
	if (nsp_socket_is_full(sock))
		return "too many rooms";
	if (room_join(sock->ns->rooms, &sock->member, name, len) < 0)
		return "out of memory";
	metrics_inc(sio_joins_total);
	nsp.hooks->room(sock, true, name, len);
	return NULL;
}

/* Leaves the room a leave event names.  Returns the refusal, or NULL. */
static const char *nsp_leave(struct nsp_socket *sock, const struct packet *p)
{
	const char *name;
	size_t len;
	const char *refusal = nsp_room_check(sock, p, &name, &len);

	if (refusal)
		return refusal;
	if (len == ID_LEN && memcmp(name, sock->id, ID_LEN) == 0)
		return "not allowed";
	if (room_leave(sock->ns->rooms, &sock->member, name, len) == 0)
		nsp.hooks->room(sock, false, name, len);
	return NULL;
}

/* Answers a join or leave that asked for an ack: "ok" or the refusal. */
static void nsp_room_answer(struct nsp_socket *sock, const struct packet *p, const char *refusal)
{
	char answer[64];

	if (refusal)
		metrics_inc(sio_joins_refused_total);
	snprintf(answer, sizeof answer, "[\"%s\"]", refusal ? refusal : "ok");
	nsp_send_ack(sock, p->ack_id, answer);
}

/* --- acks the server asked for ------------------------------------------- */

static void nsp_ack_unlink(struct nsp_ack *a)
{
	*a->sock_pprev = a->sock_next;
	if (a->sock_next)
		a->sock_next->sock_pprev = a->sock_pprev;
	*a->wait_pprev = a->wait_next;
	if (a->wait_next)
		a->wait_next->wait_pprev = a->wait_pprev;
	free(a);
}

/* Ends <w>: the answers still owed will not be heard. */
static void nsp_ack_wait_end(struct nsp_ack_wait *w)
{
	while (w->owed)
		nsp_ack_unlink(w->owed);
	event_del(&w->timer);
	w->h->on_done(w->arg);
	free(w);
}

/* Takes <a> off its socket and its wait, which ends with its last. */
static void nsp_ack_settle(struct nsp_ack *a)
{
	struct nsp_ack_wait *w = a->wait;

	nsp_ack_unlink(a);
	if (!w->owed)
		nsp_ack_wait_end(w);
}

static void nsp_ack_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct nsp_ack_wait *w = arg;

	for (struct nsp_ack *a = w->owed; a; a = a->wait_next)
		metrics_inc(sio_acks_expired_total);
	nsp_ack_wait_end(w);
}

/* Makes room for one more answer owed by <sock>: at max_acks_per_socket
 * the oldest is given up, as if its timeout had passed.  The cap bounds a
 * socket's records (a client that never answers, under broadcasts with
 * acks that set hour-long timeouts) and the walk of each ACK it sends. */
static void nsp_ack_make_room(struct nsp_socket *sock)
{
	struct nsp_ack *oldest = NULL;
	size_t n = 0;

	for (struct nsp_ack *a = sock->acks; a; a = a->sock_next) {
		oldest = a;
		n++;
	}
	if (n < nsp.cfg->max_acks_per_socket)
		return;
	metrics_inc(sio_acks_overflow_total);
	nsp_ack_settle(oldest);
}

/* Records that <sock> owes an answer to <w> for ack id <id>. */
static int nsp_ack_owe(struct nsp_socket *sock, struct nsp_ack_wait *w, int64_t id)
{
	struct nsp_ack *a;

	nsp_ack_make_room(sock);
	if (!(a = malloc(sizeof *a)))
		return -1;
	a->id = id;
	a->wait = w;
	a->sock_next = sock->acks;
	a->sock_pprev = &sock->acks;
	if (sock->acks)
		sock->acks->sock_pprev = &a->sock_next;
	sock->acks = a;
	a->wait_next = w->owed;
	a->wait_pprev = &w->owed;
	if (w->owed)
		w->owed->wait_pprev = &a->wait_next;
	w->owed = a;
	return 0;
}

/* A client's ACK: handed to whoever waits for that id; an id the server
 * did not ask this socket for is ignored, as the reference does. */
static void nsp_on_ack(struct nsp_socket *sock, const struct packet *p)
{
	for (struct nsp_ack *a = sock->acks; a; a = a->sock_next) {
		if (a->id == p->ack_id) {
			metrics_inc(sio_acks_received_total);
			a->wait->h->on_ack(a->wait->arg, p);
			nsp_ack_settle(a);
			return;
		}
	}
}

/* --- sending to many ------------------------------------------------------ */

/* One packet encoded once for every recipient: the text part and each
 * attachment is one shared engine message. */
struct nsp_out {
	struct engine_msg *text;
	struct engine_msg *attachments[PACKET_MAX_ATTACHMENTS];
	unsigned n_attachments;
	bool is_volatile;              /* skip sockets that cannot take it now */
	struct nsp_ack_wait *wait;     /* sent with an ack id: each recipient owes one */
	int64_t ack_id;
	size_t n_delivered;
};

/* Encodes an EVENT (BINARY_EVENT with attachments) of namespace <ns>.
 * Returns 0, or -1 if memory ran out (nsp_out_free() still applies). */
static int nsp_out_encode(struct nsp_out *o, const struct nsp_namespace *ns, int64_t ack_id,
			  const struct nsp_event *ev)
{
	char header[PACKET_HEADER_MAX(CONFIG_MAX_NSP_NAME)];
	enum packet_type type = ev->n_attachments ? PACKET_BINARY_EVENT : PACKET_EVENT;
	size_t h = packet_encode_header(header, sizeof header, type, ev->n_attachments,
					ns->cfg->name, ns->cfg->name_len, ack_id);

	o->ack_id = ack_id;
	o->text = h ? engine_msg_new(false, header, h, ev->json, ev->json_len) : NULL;
	for (unsigned i = 0; o->text && i < ev->n_attachments; i++) {
		o->attachments[i] = engine_msg_new(true, NULL, 0, ev->attachments[i],
						   ev->attachment_lens[i]);
		if (!o->attachments[i])
			return -1;
		o->n_attachments++;
	}
	return o->text ? 0 : -1;
}

static void nsp_out_free(struct nsp_out *o)
{
	engine_msg_unref(o->text);
	for (unsigned i = 0; i < o->n_attachments; i++)
		engine_msg_unref(o->attachments[i]);
}

static void nsp_out_visit(void *owner, void *arg)
{
	struct nsp_socket *sock = owner;
	struct nsp_out *o = arg;
	struct engine_session *s = sock->client->s;

	if (o->is_volatile && !engine_session_writable(s)) {
		metrics_inc(sio_volatile_dropped_total);
		return;
	}
	if (engine_send_msg(s, o->text) < 0)
		return;
	for (unsigned i = 0; i < o->n_attachments; i++)
		(void)engine_send_msg(s, o->attachments[i]);
	if (o->wait && nsp_ack_owe(sock, o->wait, o->ack_id) < 0)
		return;
	o->n_delivered++;
}

/* Sends <o> to the target sockets of <ns> but <skip>; returns how many. */
static size_t nsp_out_send(struct nsp_out *o, struct nsp_namespace *ns,
			   const struct nsp_target *t, const struct room_member *skip)
{
	/* The namespace's flush_delay holds what the broadcast writes to
	 * WebSocket connections (server.h); polling answers are not held. */
	server_hold(ns->flush_delay);
	room_broadcast(ns->rooms, t->rooms, t->n_rooms, t->except, t->n_except, skip,
		       nsp_out_visit, o);
	server_hold(NULL);
	metrics_counters[METRIC_sio_deliveries_total] += o->n_delivered;
	return o->n_delivered;
}

size_t nsp_emit(struct nsp_namespace *ns, const struct nsp_target *t, const struct nsp_event *ev,
		bool is_volatile)
{
	struct nsp_out o = { .is_volatile = is_volatile };
	size_t n = 0;

	if (nsp_out_encode(&o, ns, PACKET_NO_ACK, ev) == 0)
		n = nsp_out_send(&o, ns, t, NULL);
	nsp_out_free(&o);
	return n;
}

size_t nsp_emit_with_ack(struct nsp_namespace *ns, const struct nsp_target *t,
			 const struct nsp_event *ev, uint32_t timeout_ms,
			 const struct nsp_ack_handler *h, void *arg)
{
	struct nsp_ack_wait *w = calloc(1, sizeof *w);
	struct nsp_out o = { .wait = w };
	size_t n = 0;

	if (!w)
		return 0;
	w->h = h;
	w->arg = arg;
	if (nsp_out_encode(&o, ns, ns->next_ack_id++, ev) == 0)
		n = nsp_out_send(&o, ns, t, NULL);
	nsp_out_free(&o);
	if (n == 0) {
		free(w);
		return 0;
	}
	metrics_counters[METRIC_sio_acks_requested_total] += n;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	evtimer_assign(&w->timer, nsp.base, nsp_ack_timeout_cb, w);
	event_add(&w->timer, &tv);
	return n;
}

/* --- relay --------------------------------------------------------------- */

struct nsp_room_list {
	struct room_name *names;
	size_t n, cap;
	const char *skip;              /* the sender's own id room */
	bool overflow;
};

static void nsp_collect_room(void *arg, const char *name, size_t len)
{
	struct nsp_room_list *l = arg;

	if (len == ID_LEN && memcmp(name, l->skip, ID_LEN) == 0)
		return;
	if (l->n == l->cap) {
		l->overflow = true;
		return;
	}
	l->names[l->n].name = name;
	l->names[l->n].len = len;
	l->n++;
}

/* Sends <p> to the other members of the rooms <sock> joined, here and on
 * the other servers of the cluster.  The ack id is left out: the sender's
 * ack is answered by the relay, not by the recipients. */
static void nsp_relay(struct nsp_socket *sock, const struct packet *p)
{
	struct room_name stack[NSP_RELAY_STACK_ROOMS];
	size_t n_rooms = room_member_room_count(&sock->member);
	struct nsp_room_list rooms = { stack, 0, NSP_RELAY_STACK_ROOMS, sock->id, false };

	if (n_rooms > NSP_RELAY_STACK_ROOMS) {
		rooms.names = malloc(n_rooms * sizeof *rooms.names);
		rooms.cap = n_rooms;
		if (!rooms.names) {
			metrics_inc(sio_events_dropped_total);
			return;
		}
	}
	room_member_each_room(&sock->member, nsp_collect_room, &rooms);
	if (rooms.n > 0) {
		struct nsp_out o = { 0 };
		struct nsp_event ev = { (const char *)p->json, p->json_len, p->attachments,
					p->attachment_lens, p->n_attachments };
		struct nsp_target t = { rooms.names, rooms.n, NULL, 0 };
		if (nsp_out_encode(&o, sock->ns, PACKET_NO_ACK, &ev) == 0)
			nsp_out_send(&o, sock->ns, &t, &sock->member);
		else
			metrics_inc(sio_events_dropped_total);
		nsp_out_free(&o);
		nsp.hooks->relay(p->nsp, p->nsp_len, p, rooms.names, rooms.n, sock->id);
	}
	if (rooms.names != stack)
		free(rooms.names);
	metrics_inc(sio_events_relayed_total);
	nsp_send_ack(sock, p->ack_id, "[]");
}

/* --- forward -------------------------------------------------------------- */

struct nsp_find_one {
	struct nsp_socket *sock;
};

static void nsp_find_one_visit(void *owner, void *arg)
{
	((struct nsp_find_one *)arg)->sock = owner;
}

const char *nsp_backend_answer(const char *sid, int64_t ack_id, const struct nsp_event *args)
{
	struct room_name id = { sid, ID_LEN };
	struct nsp_find_one f = { NULL };

	/* Socket ids are unique across namespaces; each has its id room. */
	for (size_t i = 0; i < nsp.n_namespaces && !f.sock; i++)
		room_broadcast(nsp.namespaces[i].rooms, &id, 1, NULL, 0, NULL, nsp_find_one_visit, &f);
	if (!f.sock)
		return "no such socket";
	if (!backendack_take(&f.sock->backend_acks, ack_id, false))
		return "ack id not awaited (forged, late or answered)";
	const struct config_namespace *ns = f.sock->ns->cfg;
	nsp_send_attached(f.sock->client, args->n_attachments ? PACKET_BINARY_ACK : PACKET_ACK,
			  args->n_attachments, ns->name, ns->name_len, ack_id, args->json,
			  args->json_len);
	for (unsigned i = 0; i < args->n_attachments; i++)
		(void)engine_send(f.sock->client->s, true, args->attachments[i],
				  args->attachment_lens[i]);
	return NULL;
}

/* --- auth backend decisions ------------------------------------------------ */

/* The socket <w> waited for, accepted by decision <d>: its user (the sub
 * of its records and of user_room), its rooms (within the socket's
 * limits, as a token's) and its data.  Returns NULL, or why the decision
 * cannot be applied (the client is refused with it). */
static const char *nsp_pending_accept(struct connwait *w, const json_t *d)
{
	const json_t *user = json_object_get(d, "user");
	const json_t *rooms = json_object_get(d, "rooms");
	const json_t *data = json_object_get(d, "data");
	struct nsp_namespace *ns = w->ns;
	struct nsp_client *cl = w->client;
	struct packet p;
	char *data_text = NULL;
	json_t *claims = NULL;
	size_t i;
	const json_t *v;

	if ((user && !json_is_string(user)) || json_string_length(user) > nsp.cfg->max_room_name ||
	    (rooms && !json_is_array(rooms)))
		return "bad user or rooms";
	if (data && (!(data_text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY)) ||
		     strlen(data_text) > nsp.cfg->max_auth_size)) {
		free(data_text);
		return "data missing or too large";
	}
	if (nsp_pending_packet(w, &p) < 0 || (user && !(claims = json_pack("{s:O}", "sub", user)))) {
		free(data_text);
		json_decref(p.data);
		return "out of memory";
	}
	struct nsp_socket *sock = nsp_socket_new(cl, ns, &p, claims, w->id);
	if (sock && data_text && !sock->auth)
		sock->auth = sockauth_new(ns->cfg, NULL, 0, NULL, NULL, nsp.cfg->max_room_name);
	if (sock && data_text && sock->auth) {
		sock->auth->backend_data = data_text;
		data_text = NULL;
	}
	if (sock) {
		nsp_socket_grant(sock, claims);
		json_array_foreach(rooms, i, v) {
			if (json_is_string(v))
				nsp_grant_join(sock, json_string_value(v), json_string_length(v));
		}
		nsp_socket_attach(cl, sock);
	}
	free(data_text);
	json_decref(claims);
	json_decref(p.data);
	return sock ? NULL : "out of memory";
}

/* The message of a refusal <d>, cut to NSP_MAX_REFUSAL bytes on a UTF-8
 * character boundary; NULL (the reason's text) if it has none. */
static const char *nsp_refusal_message(const json_t *d, size_t *len)
{
	const json_t *m = json_object_get(d, "message");
	const char *text = json_string_value(m);

	if (!text)
		return NULL;
	*len = json_string_length(m);
	if (*len > NSP_MAX_REFUSAL) {
		*len = NSP_MAX_REFUSAL;
		while (*len > 0 && ((uint8_t)text[*len] & 0xc0) == 0x80)
			(*len)--;
	}
	return text;
}

/* Applies decision <args> (its first element) to <w>, which ends. */
static void nsp_pending_decide(struct connwait *w, const json_t *args)
{
	const json_t *d = json_array_get(args, 0);
	const json_t *accept = json_object_get(d, "accept");
	struct nsp_client *cl = w->client;
	const struct nsp_namespace *ns = w->ns;
	const char *bad = NULL;
	size_t len = 0;

	if (json_is_true(accept) && !(bad = nsp_pending_accept(w, d))) {
		nsp_pending_end(w);
		return;
	}
	nsp_pending_end(w);
	if (!bad && json_is_false(accept)) {
		const char *message = nsp_refusal_message(d, &len);
		nsp_connect_refuse(cl, ns, AUTH_BACKEND_REFUSED, message, len);
		nsp_connect_refused(cl);
		return;
	}
	log_debug("backend answer for %s: %s\tsid=%s", ns->cfg->name,
		  bad ? bad : "no accept: true or false", engine_session_sid(cl->s));
	nsp_connect_refuse(cl, ns, AUTH_BACKEND_INVALID, NULL, 0);
}

bool nsp_connect_waits(const char *sid)
{
	const struct connwait *w = connwait_find(sid);

	return w != NULL && !w->is_jwks;
}

const char *nsp_connect_answer(const char *sid, int64_t ack_id, const json_t *args)
{
	struct connwait *w = connwait_find(sid);

	if (!w || w->is_jwks)
		return NULL;
	if (w->ack_id != ack_id)
		return "ack id not awaited (forged, late or answered)";
	nsp_pending_decide(w, args);
	return "";
}

/* The record of <sock>'s event with ack <id> was dropped (backend.c says
 * why): the client hears it at once, as from a Node server's callback
 * called with an error, instead of waiting out its own timeout. */
static void nsp_backend_unavailable(struct nsp_socket *sock, int64_t id)
{
	static const char answer[] = "[{\"error\":\"unavailable\"}]";

	(void)backendack_take(&sock->backend_acks, id, true); /* the one just awaited */
	metrics_inc(backend_acks_unavailable_total);
	nsp_send(sock->client, PACKET_ACK, sock->ns->cfg->name, sock->ns->cfg->name_len, id,
		 answer, sizeof answer - 1);
}

/* Writes <p> to the backend stream as <sock>'s; an ack it asks for is the
 * backend's to answer unless the event was relayed (the relay did). */
static void nsp_forward(struct nsp_socket *sock, const struct packet *p, bool relayed)
{
	int64_t ack_id = PACKET_NO_ACK;

	if (p->ack_id != PACKET_NO_ACK && !relayed &&
	    backendack_await(&sock->backend_acks, &sock->n_backend_acks, p->ack_id) == 0)
		ack_id = p->ack_id;
	if (nsp.hooks->forward(sock, p, ack_id) < 0 && ack_id != PACKET_NO_ACK)
		nsp_backend_unavailable(sock, ack_id);
}

/* --- packets from the client --------------------------------------------- */

static bool nsp_event_is(const struct packet *p, const char *name)
{
	json_t *first = json_array_get(p->data, 0);
	return json_is_string(first) && strcmp(json_string_value(first), name) == 0 &&
	       json_string_length(first) == strlen(name);
}

static void nsp_on_event(struct nsp_socket *sock, const struct packet *p)
{
	const struct config_namespace *ns = sock->ns->cfg;

	metrics_inc(sio_events_received_total);
	if (nsp_event_is(p, ns->join_event)) {
		nsp_room_answer(sock, p, nsp_join(sock, p));
	} else if (nsp_event_is(p, ns->leave_event)) {
		nsp_room_answer(sock, p, nsp_leave(sock, p));
	} else {
		if (ns->relay)
			nsp_relay(sock, p);
		if (nsp.hooks->wants_event(ns, p, ns->relay)) {
			nsp_forward(sock, p, ns->relay);
		} else if (!ns->relay) {
			metrics_inc(sio_events_dropped_total);
			log_debug("event dropped (relay off, not forwarded)\tsocket=%s", sock->id);
		}
	}
}

static void nsp_on_packet(struct nsp_client *cl, const struct packet *p)
{
	if (p->type == PACKET_CONNECT) {
		nsp_on_connect(cl, p);
		return;
	}
	struct nsp_socket *sock = nsp_find_socket(cl, p->nsp, p->nsp_len);
	if (!sock || p->type == PACKET_CONNECT_ERROR) {
		/* A packet for a namespace not connected (or not yet: the
		 * reference refuses `40\x1e42[...]` in one POST too). */
		nsp_client_fail(cl, sock ? "CONNECT_ERROR from a client" : "namespace not connected");
		return;
	}
	switch (p->type) {
	case PACKET_DISCONNECT:
		nsp_socket_remove(cl, sock, "client namespace disconnect");
		break;
	case PACKET_EVENT:
	case PACKET_BINARY_EVENT:
		nsp_on_event(sock, p);
		break;
	case PACKET_ACK:
	case PACKET_BINARY_ACK:
		nsp_on_ack(sock, p);
		break;
	default:
		break;
	}
}

/* --- what the server side does to sockets ---------------------------------- */

struct nsp_socket_list {
	struct nsp_socket **v;
	size_t n;
};

static void nsp_count_visit(void *owner, void *arg)
{
	(*(size_t *)arg)++;
}

static void nsp_list_visit(void *owner, void *arg)
{
	struct nsp_socket_list *l = arg;

	l->v[l->n++] = owner;
}

/* The target sockets of <ns>, gathered before anything changes them (a
 * broadcast walk must not see joins, leaves or frees).  Returns the heap
 * array (free() it) with *<n> set; NULL with *<n> 0 for none or if memory
 * ran out. */
static struct nsp_socket **nsp_targets(struct nsp_namespace *ns, const struct nsp_target *t,
				       size_t *n)
{
	struct nsp_socket_list l = { NULL, 0 };
	size_t count = 0;

	*n = 0;
	room_broadcast(ns->rooms, t->rooms, t->n_rooms, t->except, t->n_except, NULL,
		       nsp_count_visit, &count);
	if (count == 0 || !(l.v = malloc(count * sizeof *l.v)))
		return NULL;
	room_broadcast(ns->rooms, t->rooms, t->n_rooms, t->except, t->n_except, NULL,
		       nsp_list_visit, &l);
	*n = l.n;
	return l.v;
}

/* Joins the rooms of a server-side join, up to the limit.  Once <sock> is
 * full the names left are refused without looking, even one it is in
 * already (joining it would change nothing): a full socket costs no more
 * lookups.  Returns the number refused. */
static size_t nsp_socket_join_rooms(struct nsp_socket *sock, const struct room_name *rooms,
				    size_t n_rooms)
{
	for (size_t i = 0; i < n_rooms; i++) {
		if (nsp_socket_is_full(sock))
			return n_rooms - i;
		if (room_join(sock->ns->rooms, &sock->member, rooms[i].name, rooms[i].len) < 0) {
			log_warn("out of memory joining a room\tsocket=%s", sock->id);
			return n_rooms - i;
		}
	}
	return 0;
}

static void nsp_socket_leave_rooms(struct nsp_socket *sock, const struct room_name *rooms,
				   size_t n_rooms)
{
	for (size_t i = 0; i < n_rooms; i++) {
		if (rooms[i].len != ID_LEN || memcmp(rooms[i].name, sock->id, ID_LEN) != 0)
			(void)room_leave(sock->ns->rooms, &sock->member, rooms[i].name, rooms[i].len);
	}
}

/* The names of a server-side join a socket may take: the first
 * max_rooms_per_socket of those no longer than max_room_name, in a heap
 * array (free() it) of *<n_kept>.  No socket can hold more, so the names
 * past them would be refused by every target anyway; cutting them here,
 * once, keeps each socket's work within the limit however many names the
 * request brings.  (A name repeated among the kept ones makes a socket
 * take one room fewer than it could: the sender's loss.)  Returns NULL
 * with *<n_kept> 0 when none is kept, or if memory ran out (logged). */
static struct room_name *nsp_join_names(const struct nsp_namespace *ns,
					const struct room_name *rooms, size_t n_rooms,
					size_t *n_kept)
{
	size_t max = ns->cfg->max_rooms_per_socket;
	struct room_name *kept;

	*n_kept = 0;
	if (max == 0 || n_rooms == 0)
		return NULL;
	kept = malloc((n_rooms < max ? n_rooms : max) * sizeof *kept);
	if (!kept) {
		log_warn("namespace %s: out of memory for a server-side join", ns->cfg->name);
		return NULL;
	}
	for (size_t i = 0; i < n_rooms && *n_kept < max; i++) {
		if (rooms[i].len <= nsp.cfg->max_room_name)
			kept[(*n_kept)++] = rooms[i];
	}
	return kept;
}

size_t nsp_join_rooms(struct nsp_namespace *ns, const struct nsp_target *t,
		      const struct room_name *rooms, size_t n_rooms)
{
	size_t n, n_kept = 0;
	struct nsp_socket **v = nsp_targets(ns, t, &n);
	struct room_name *kept = n ? nsp_join_names(ns, rooms, n_rooms, &n_kept) : NULL;
	size_t refused = n * (n_rooms - n_kept);

	for (size_t i = 0; kept && i < n; i++)
		refused += nsp_socket_join_rooms(v[i], kept, n_kept);
	free(kept);
	free(v);
	return refused;
}

/* The names of a server-side leave that name a room of <ns>, in a heap
 * array (free() it) of *<n_found>: a name no socket is in is looked up
 * once here instead of once per target socket, so a request naming many
 * rooms nobody has costs one lookup a name.  NULL with *<n_found> 0 when
 * none is found, or if memory ran out (logged). */
static struct room_name *nsp_leave_names(const struct nsp_namespace *ns,
					 const struct room_name *rooms, size_t n_rooms,
					 size_t *n_found)
{
	struct room_name *found;

	*n_found = 0;
	if (n_rooms == 0)
		return NULL;
	found = malloc(n_rooms * sizeof *found);
	if (!found) {
		log_warn("namespace %s: out of memory for a server-side leave", ns->cfg->name);
		return NULL;
	}
	for (size_t i = 0; i < n_rooms; i++) {
		if (room_size(ns->rooms, rooms[i].name, rooms[i].len) > 0)
			found[(*n_found)++] = rooms[i];
	}
	return found;
}

void nsp_leave_rooms(struct nsp_namespace *ns, const struct nsp_target *t,
		     const struct room_name *rooms, size_t n_rooms)
{
	size_t n, n_found = 0;
	struct nsp_socket **v = nsp_targets(ns, t, &n);
	struct room_name *found = n ? nsp_leave_names(ns, rooms, n_rooms, &n_found) : NULL;

	for (size_t i = 0; i < n; i++)
		nsp_socket_leave_rooms(v[i], found, n_found);
	free(found);
	free(v);
}

static void nsp_socket_disconnect(struct nsp_socket *sock)
{
	struct nsp_client *cl = sock->client;

	nsp_send(cl, PACKET_DISCONNECT, sock->ns->cfg->name, sock->ns->cfg->name_len,
		 PACKET_NO_ACK, "", 0);
	nsp_socket_remove(cl, sock, "server namespace disconnect");
	metrics_inc(sio_server_disconnects_total);
}

/* The reference's socket.disconnect(close): DISCONNECT to the client and
 * the socket gone; with <close>, every namespace of its connection goes
 * the same way and the connection is closed (Client._disconnect()). */
static void nsp_socket_disconnect_all(struct nsp_socket *sock, bool close)
{
	struct nsp_client *cl = sock->client;

	nsp_socket_disconnect(sock);
	if (!close)
		return;
	while (cl->sockets)
		nsp_socket_disconnect(cl->sockets);
	engine_close(cl->s, "forced close");
}

size_t nsp_disconnect(struct nsp_namespace *ns, const struct nsp_target *t, bool close)
{
	size_t n;
	struct nsp_socket **v = nsp_targets(ns, t, &n);

	for (size_t i = 0; i < n; i++)
		nsp_socket_disconnect_all(v[i], close);
	free(v);
	return n;
}

struct nsp_each {
	void (*fn)(void *arg, const struct nsp_socket *sock);
	void *arg;
};

static void nsp_each_visit(void *owner, void *arg)
{
	struct nsp_each *e = arg;

	e->fn(e->arg, owner);
}

void nsp_each_socket(struct nsp_namespace *ns, const struct nsp_target *t,
		     void (*fn)(void *arg, const struct nsp_socket *sock), void *arg)
{
	struct nsp_each e = { fn, arg };

	room_broadcast(ns->rooms, t->rooms, t->n_rooms, t->except, t->n_except, NULL,
		       nsp_each_visit, &e);
}

bool nsp_has_room(const struct nsp_namespace *ns, const char *name, size_t len)
{
	return room_size(ns->rooms, name, len) > 0;
}

void nsp_each_room(struct nsp_namespace *ns,
		   void (*fn)(void *arg, const char *name, size_t len), void *arg)
{
	room_index_each_room(ns->rooms, fn, arg);
}

const char *nsp_socket_id(const struct nsp_socket *sock)
{
	return sock->id;
}

const struct config_namespace *nsp_socket_namespace(const struct nsp_socket *sock)
{
	return sock->ns->cfg;
}

const char *nsp_socket_user(const struct nsp_socket *sock, size_t *len)
{
	const char *user = sock->auth && sock->ns->cfg->auth != CONFIG_AUTH_NONE
				   ? sockauth_find(sock->auth, "sub", 3, len)
				   : NULL;

	if (!user)
		*len = 0;
	return user ? user : "";
}

json_t *nsp_socket_auth_new(const struct nsp_socket *sock)
{
	json_t *auth = NULL;

	if (sock->auth && jsonmem_load((const uint8_t *)sock->auth->data, sock->auth->json_len, 0,
				       &auth) != JSONMEM_OK)
		auth = NULL;
	return auth ? auth : json_object();
}

json_t *nsp_socket_data_new(const struct nsp_socket *sock)
{
	json_t *data = NULL;

	const char *text = sock->auth ? sock->auth->backend_data : NULL;

	if (text && jsonmem_load((const uint8_t *)text, strlen(text), 0, &data) != JSONMEM_OK)
		data = NULL;
	return data ? data : json_object();
}

int64_t nsp_socket_issued_ms(const struct nsp_socket *sock)
{
	return sock->issued_ms;
}

void nsp_socket_handshake(const struct nsp_socket *sock, struct engine_handshake *out)
{
	engine_session_handshake(sock->client->s, out);
}

json_t *nsp_socket_headers_new(const struct nsp_socket *sock)
{
	struct engine_handshake hs;

	nsp_socket_handshake(sock, &hs);
	json_t *o = nsp_headers_new(&hs);
	if (o && json_object_set_new(o, "host", json_string(hs.host)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

void nsp_socket_each_room(const struct nsp_socket *sock,
			  void (*fn)(void *arg, const char *name, size_t len), void *arg)
{
	room_member_each_room(&sock->member, fn, arg);
}

/* --- engine callbacks ----------------------------------------------------- */

static void nsp_connect_timeout_fire(struct timeq_entry *e)
{
	struct nsp_client *cl = timeq_owner(e, struct nsp_client, connect_timer);

	if (cl->n_sockets > 0)
		return;
	metrics_inc(sio_connect_timeouts_total);
	log_debug("no namespace connected within connect_timeout\tsid=%s",
		  engine_session_sid(cl->s));
	engine_close(cl->s, "forced close");
}

static void nsp_session_open(struct engine_session *s, void *app_ctx)
{
	struct nsp_client *cl = calloc(1, sizeof *cl);

	if (!cl) {
		engine_close(s, "forced close");
		return;
	}
	cl->s = s;
	packet_reader_init(&cl->reader, nsp.cfg->max_payload);
	timeq_start(&nsp.connect_timeout, &cl->connect_timer);
	engine_session_set_data(s, cl);
}

static void nsp_session_message(struct engine_session *s, void *app_ctx, bool binary,
				uint8_t *data, size_t len)
{
	struct nsp_client *cl = engine_session_data(s);
	struct packet p;

	if (!cl || cl->failed)
		return;
	enum packet_result r = packet_reader_feed(&cl->reader, binary, data, len, &p);
	if (r == PACKET_MORE)
		return;
	if (r != PACKET_OK) {
		if (r == PACKET_ERR_JSON_BUDGET)
			metrics_inc(sio_json_too_costly_total);
		nsp_client_fail(cl, packet_result_text(r));
		return;
	}
	nsp_on_packet(cl, &p);
	/* An idle client holds no packet: the reader frees it now. */
	packet_reader_done(&cl->reader);
}

static void nsp_session_close(struct engine_session *s, void *app_ctx, const char *reason)
{
	struct nsp_client *cl = engine_session_data(s);

	if (!cl)
		return;
	while (cl->sockets)
		nsp_socket_remove(cl, cl->sockets, reason);
	/* A backend's late decision finds no wait and is counted dropped. */
	for (struct connwait *w; (w = nsp_pending_find(cl, NULL));)
		nsp_pending_abandon(w, reason);
	timeq_stop(&cl->connect_timer);
	packet_reader_cleanup(&cl->reader);
	engine_session_set_data(s, NULL);
	free(cl);
}

const struct engine_callbacks nsp_engine_callbacks = {
	.on_open = nsp_session_open,
	.on_message = nsp_session_message,
	.on_close = nsp_session_close,
};

/* How long a CONNECT to <ns> may wait: for a jwt_jwks_url fetch, or for
 * a backend's decision. */
static uint32_t nsp_auth_timeout_ms(const struct config_namespace *ns)
{
	if (ns->auth == CONFIG_AUTH_JWT)
		return ns->jwt_jwks_wait_ms;
	return ns->auth_backend_timeout_ms ? ns->auth_backend_timeout_ms
					   : nsp.cfg->auth_backend_timeout_ms;
}

/* Sets up namespace <i> of the config, the next one.  Returns 0, or -1 if
 * memory ran out. */
static int nsp_namespace_add(size_t i)
{
	const struct config_namespace *cfg = &nsp.cfg->namespaces[i];
	struct nsp_namespace *ns = &nsp.namespaces[i];

	timeq_init(&ns->auth_timeout, nsp.base, nsp_auth_timeout_ms(cfg), nsp_pending_fire);
	ns->cfg = cfg;
	ns->rooms = room_index_new();
	nsp.n_namespaces++;
	if (cfg->flush_delay_ms > 0)
		ns->flush_delay = server_delay_new(nsp.base, cfg->flush_delay_ms);
	return !ns->rooms || (cfg->flush_delay_ms > 0 && !ns->flush_delay) ? -1 : 0;
}

/* roomcast_namespace_sockets and roomcast_namespace_rooms, by namespace. */
static void nsp_collect(struct metrics_writer *w)
{
	static const char *const help[2] = {
		"sockets connected to a namespace",
		"rooms of a namespace, as allRooms() counts them (each socket's own room included)",
	};
	static const char *const name[2] = { "namespace_sockets", "namespace_rooms" };

	for (int k = 0; k < 2; k++) {
		metrics_printf(w, "# HELP roomcast_%s %s\n# TYPE roomcast_%s gauge\n", name[k], help[k],
			       name[k]);
		for (size_t i = 0; i < nsp.n_namespaces; i++) {
			const struct nsp_namespace *ns = &nsp.namespaces[i];
			metrics_printf(w, "roomcast_%s{namespace=\"", name[k]);
			metrics_label(w, ns->cfg->name, ns->cfg->name_len);
			metrics_printf(w, "\"} %zu\n",
				       k == 0 ? ns->n_sockets : room_index_room_count(ns->rooms));
		}
	}
}

int nsp_init(struct event_base *base, const struct config *cfg, const struct nsp_hooks *hooks)
{
	nsp.base = base;
	nsp.hooks = hooks;
	nsp.cfg = cfg;
	timeq_init(&nsp.connect_timeout, base, cfg->connect_timeout_ms, nsp_connect_timeout_fire);
	backendack_init(base, cfg);
	/* Room for every namespace a reload may add: their slots never move. */
	nsp.namespaces = calloc(CONFIG_MAX_NAMESPACES, sizeof *nsp.namespaces);
	if (!nsp.namespaces)
		return -1;
	nsp.next_connect_ack = 1;
	connwait_init(cfg);
	metrics_collector_register(nsp_collect);
	jwks_set_fetch_end(nsp_jwks_fetch_end);
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		if (nsp_namespace_add(i) < 0) {
			nsp_cleanup();
			return -1;
		}
	}
	return 0;
}

int nsp_reload(void)
{
	const struct config *cfg = nsp.cfg;

	timeq_set_duration(&nsp.connect_timeout, cfg->connect_timeout_ms);
	backendack_reload();
	for (size_t i = 0; i < nsp.n_namespaces; i++)
		timeq_set_duration(&nsp.namespaces[i].auth_timeout,
				   nsp_auth_timeout_ms(&cfg->namespaces[i]));
	while (nsp.n_namespaces < cfg->n_namespaces) {
		if (nsp_namespace_add(nsp.n_namespaces) < 0)
			return -1;
	}
	return 0;
}

void nsp_cleanup(void)
{
	for (size_t i = 0; i < nsp.n_namespaces; i++) {
		room_index_free(nsp.namespaces[i].rooms);
		server_delay_free(nsp.namespaces[i].flush_delay);
		timeq_cleanup(&nsp.namespaces[i].auth_timeout);
	}
	jwks_set_fetch_end(NULL);
	free(nsp.namespaces);
	nsp.namespaces = NULL;
	nsp.n_namespaces = 0;
	timeq_cleanup(&nsp.connect_timeout);
	backendack_cleanup();
}
