/* engine.c - Engine.IO v4 sessions (see engine.h).
 *
 * Owns every struct engine_session (the sid table), the polling queue of
 * each session, the upgrade probe and the heartbeat timer.  A session
 * points at its transports (a held GET, a POST being read, a WebSocket)
 * without owning them; it detaches from them when it closes, and is freed
 * at the end of the turn, so a callback never sees it vanish mid-call.
 *
 * Request flow under the configured path: verify (transport, sid, method,
 * EIO, in the reference server's order:
 * doc/protocol.md, "Error answers") -> a
 * handshake creates a session, a polling GET is held until something is
 * queued or the next ping, a POST's payload is decoded packet by packet, a
 * WebSocket with a sid is an upgrade probe ("Upgrade").  Limits: the polling
 * queue and WebSocket output are bounded by max_output_buffer, sessions by
 * max_connections and, per client address, max_connections_per_ip,
 * messages by max_payload.
 */
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "eio.h"
#include "engine.h"
#include "forward.h"
#include "id.h"
#include "log.h"
#include "metrics.h"
#include "route.h"
#include "timeq.h"
#include "websocket.h"

/* How long a session closed by the server waits for the GET that carries
 * its `1` before it is dropped anyway (engine.io's closeTimeout), unless
 * its heartbeat deadline comes first (engine_close_wait_start()). */
#define ENGINE_POLLING_CLOSE_WAIT_MS 30000

/* A packet prepared once for any number of sessions (see engine.h).  buf
 * holds WS_FRAME_HEADER_MAX bytes of room, the type digit, then the data:
 * the WebSocket frame's header is written into the room right before the
 * digit (text) or the data (binary), so the frame is one contiguous run,
 * and digit + data is already the polling form of a text packet. */
struct engine_msg {
	unsigned refs;
	enum eio_packet_type type;
	bool binary;
	size_t len;                    /* of the data */
	const uint8_t *frame;          /* the WebSocket frame, inside buf */
	size_t frame_len;
	uint8_t *polling;              /* `b` + base64 of binary data, built on first use */
	size_t polling_len;
	uint8_t buf[];
};

#define ENGINE_MSG_DIGIT WS_FRAME_HEADER_MAX

/* One entry of a session's polling queue: a reference to a message. */
struct engine_queued {
	struct engine_queued *next;
	struct engine_msg *msg;        /* one reference, owned */
};

/* A WebSocket opened to upgrade a polling session, until `5` arrives. */
struct engine_probe {
	struct engine_session *s;
	struct websocket *ws;          /* not owned: the connection owns it */
	struct event timer;            /* upgrade_timeout */
	bool probed;                   /* `2probe` answered */
};

enum engine_state {
	ENGINE_OPEN,
	ENGINE_CLOSING,                /* polling: `1` queued, waiting for a GET */
	ENGINE_CLOSED,                 /* detached, freed at the end of the turn */
};

/* Laid out for an idle connection's sake: the flags fill the padding after
 * the id, and the handshake's strings share the session's allocation. */
struct engine_session {
	char sid[ID_LEN + 1];
	bool opened;                   /* on_open ran: on_close must run too */
	bool is_websocket;             /* current transport */
	bool began_websocket;          /* the handshake came over WebSocket */
	bool awaiting_pong;
	bool on_flush_list;
	enum engine_state state;
	UT_hash_handle hh;             /* engine.sessions, keyed by sid */
	const char *close_reason;      /* of a close in progress or done */
	void *app_data;                /* the application's, not owned */
	struct websocket *ws;          /* WebSocket transport, not owned */
	struct engine_probe *probe;    /* upgrade in progress, owned */
	struct http_conn *get;         /* held long-poll, not owned */
	struct http_conn *post;        /* POST whose body is arriving, not owned */
	struct engine_queued *queue;   /* polling output, owned */
	struct engine_queued **queue_tail;
	size_t queue_bytes;            /* encoded size of the queue */
	struct timeq_entry timer;      /* ping interval, pong deadline, close wait */
	int64_t opened_ms;             /* timeq_now_ms() at the handshake, for access_log */
	struct engine_session *next_flush;
	struct engine_session *next_dead;
	struct server_ip *ip;          /* its address's count (max_connections_per_ip), NULL if none */
	uint8_t addr[16];              /* the client's, from http_client_address() (realip.h) */
	bool has_addr;                 /* false: a unix socket's peer, <addr> unset */
	char handshake[];              /* "address\0host\0url\0bearer\0" of the handshake
	                                  request, its kept headers ("name\0value\0"...), "\0" */
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	const struct engine_callbacks *cb;
	void *app_ctx;
	struct engine_session *sessions;  /* uthash head */
	size_t n_sessions;
	struct engine_session *flush;     /* polling sessions with output this turn */
	struct engine_session *dead;      /* closed, to free */
	struct timeq ping_interval;       /* the heartbeat timers of every session */
	struct timeq ping_timeout;
	struct timeq close_wait;
	const struct timeval *upgrade_timeout_tv;
	bool keep_bearer;                 /* some namespace verifies tokens (auth jwt) */
} engine;

static const struct websocket_callbacks engine_ws_cb;
static const struct websocket_callbacks engine_probe_cb;
static const struct websocket_callbacks engine_detached_cb;

static void engine_destroy(struct engine_session *s, const char *reason);

/* --- polling queue ------------------------------------------------------- */

static void engine_mark_flush(struct engine_session *s)
{
	if (s->on_flush_list || !s->get)
		return;
	s->on_flush_list = true;
	s->next_flush = engine.flush;
	engine.flush = s;
}

/* --- shared messages ----------------------------------------------------- */

static struct engine_msg *engine_msg_new_packet(enum eio_packet_type type, bool binary,
						const void *prefix, size_t prefix_len,
						const void *data, size_t data_len)
{
	size_t len = prefix_len + data_len;
	struct engine_msg *m = malloc(sizeof *m + ENGINE_MSG_DIGIT + 1 + len);
	uint8_t hdr[WS_FRAME_HEADER_MAX];

	if (!m)
		return NULL;
	m->refs = 1;
	m->type = type;
	m->binary = binary;
	m->len = len;
	m->polling = NULL;
	m->polling_len = 0;
	m->buf[ENGINE_MSG_DIGIT] = (uint8_t)('0' + type);
	if (prefix_len)
		memcpy(m->buf + ENGINE_MSG_DIGIT + 1, prefix, prefix_len);
	if (data_len)
		memcpy(m->buf + ENGINE_MSG_DIGIT + 1 + prefix_len, data, data_len);
	/* Binary frames carry no type digit: their header overwrites it. */
	size_t start = binary ? ENGINE_MSG_DIGIT + 1 : ENGINE_MSG_DIGIT;
	size_t h = ws_frame_header(hdr, binary ? WS_OPCODE_BINARY : WS_OPCODE_TEXT,
				   binary ? len : len + 1);
	memcpy(m->buf + start - h, hdr, h);
	m->frame = m->buf + start - h;
	m->frame_len = h + (binary ? len : len + 1);
	return m;
}

struct engine_msg *engine_msg_new(bool binary, const void *prefix, size_t prefix_len,
				  const void *data, size_t data_len)
{
	return engine_msg_new_packet(EIO_MESSAGE, binary, prefix, prefix_len, data, data_len);
}

void engine_msg_unref(struct engine_msg *m)
{
	if (!m || --m->refs > 0)
		return;
	free(m->polling);
	free(m);
}

static void engine_msg_release(const void *data, size_t len, void *arg)
{
	engine_msg_unref(arg);
}

/* The polling form of <m> (type digit and data, or `b` and base64), built
 * once.  Returns NULL if memory ran out. */
static const uint8_t *engine_msg_polling(struct engine_msg *m, size_t *len)
{
	if (!m->binary) {
		*len = m->len + 1;
		return m->buf + ENGINE_MSG_DIGIT;
	}
	if (!m->polling) {
		size_t n = eio_polling_encoded_len(true, m->len);
		if (!(m->polling = malloc(n)))
			return NULL;
		m->polling_len = eio_polling_encode(m->polling, m->type, true,
						    m->buf + ENGINE_MSG_DIGIT + 1, m->len);
	}
	*len = m->polling_len;
	return m->polling;
}

/* --- polling queue ------------------------------------------------------- */

static void engine_queue_free(struct engine_session *s)
{
	while (s->queue) {
		struct engine_queued *q = s->queue;
		s->queue = q->next;
		engine_msg_unref(q->msg);
		free(q);
	}
	s->queue_tail = &s->queue;
	s->queue_bytes = 0;
}

/* Queues a reference to <m> for the next GET.  Returns 0, or -1 if the
 * session was closed because its queue passed max_output_buffer. */
static int engine_enqueue_msg(struct engine_session *s, struct engine_msg *m)
{
	size_t encoded = eio_polling_encoded_len(m->binary, m->len) + 1;

	if (s->queue_bytes + encoded > engine.cfg->max_output_buffer) {
		metrics_inc(output_overflow_total);
		log_limited(LOG_LEVEL_WARN, "polling queue passed max_output_buffer, closing\tsid=%s",
			    s->sid);
		engine_destroy(s, "transport error");
		return -1;
	}
	struct engine_queued *q = malloc(sizeof *q);
	if (!q) {
		engine_destroy(s, "transport error");
		return -1;
	}
	m->refs++;
	q->msg = m;
	q->next = NULL;
	*s->queue_tail = q;
	s->queue_tail = &q->next;
	s->queue_bytes += encoded;
	engine_mark_flush(s);
	return 0;
}

/* Queues a packet for this session alone. */
static int engine_enqueue(struct engine_session *s, enum eio_packet_type type, bool binary,
			  const void *data, size_t len)
{
	struct engine_msg *m = engine_msg_new_packet(type, binary, NULL, 0, data, len);

	if (!m) {
		engine_destroy(s, "transport error");
		return -1;
	}
	int r = engine_enqueue_msg(s, m);
	engine_msg_unref(m);
	return r;
}

static void engine_get_release(struct engine_session *s)
{
	http_set_abort(s->get, NULL, NULL);
	s->get = NULL;
}

/* Answers the held GET with a fixed payload ("1", "6"). */
static void engine_get_answer(struct engine_session *s, const char *payload)
{
	struct http_conn *hc = s->get;

	engine_get_release(s);
	http_respond(hc, 200, "text/plain; charset=UTF-8", "cache-control: no-store\r\n",
		     payload, strlen(payload));
}

/* Answers the held GET with everything queued, in one payload. */
static void engine_polling_flush(struct engine_session *s)
{
	size_t len = 0;
	uint8_t *body = malloc(s->queue_bytes);

	if (!body) {
		engine_destroy(s, "transport error");
		return;
	}
	for (struct engine_queued *q = s->queue; q; q = q->next) {
		size_t n;
		const uint8_t *text = engine_msg_polling(q->msg, &n);
		if (!text) {
			free(body);
			engine_destroy(s, "transport error");
			return;
		}
		if (q != s->queue)
			body[len++] = EIO_RECORD_SEPARATOR;
		memcpy(body + len, text, n);
		len += n;
	}
	engine_queue_free(s);
	struct http_conn *hc = s->get;
	engine_get_release(s);
	http_respond(hc, 200, "text/plain; charset=UTF-8", "cache-control: no-store\r\n", body, len);
	free(body);
	if (s->state == ENGINE_CLOSING)
		engine_destroy(s, s->close_reason);
}

/* --- sending ------------------------------------------------------------- */

static int engine_send_packet(struct engine_session *s, enum eio_packet_type type, bool binary,
			      const void *data, size_t len)
{
	if (s->is_websocket) {
		uint8_t digit = (uint8_t)('0' + type);
		if (binary)
			return websocket_send(s->ws, WS_OPCODE_BINARY, NULL, 0, data, len);
		return websocket_send(s->ws, WS_OPCODE_TEXT, &digit, 1, data, len);
	}
	return engine_enqueue(s, type, binary, data, len);
}

/* Sends a shared message on a WebSocket: referenced, not copied, when it
 * is large. */
static int engine_ws_send_msg(struct engine_session *s, struct engine_msg *m)
{
	m->refs++;
	int r = websocket_send_frame(s->ws, m->frame, m->frame_len, engine_msg_release, m);
	if (r != 1)
		m->refs--;
	return r < 0 ? -1 : 0;
}

int engine_send_msg(struct engine_session *s, struct engine_msg *m)
{
	if (s->state != ENGINE_OPEN)
		return -1;
	metrics_inc(engine_messages_sent_total);
	if (s->is_websocket)
		return engine_ws_send_msg(s, m);
	return engine_enqueue_msg(s, m);
}

bool engine_session_writable(const struct engine_session *s)
{
	if (s->state != ENGINE_OPEN)
		return false;
	return s->is_websocket ? !websocket_blocked(s->ws) : s->get != NULL;
}

int engine_send(struct engine_session *s, bool binary, const void *data, size_t len)
{
	if (s->state != ENGINE_OPEN)
		return -1;
	metrics_inc(engine_messages_sent_total);
	return engine_send_packet(s, EIO_MESSAGE, binary, data, len);
}

/* --- heartbeat ----------------------------------------------------------- */

static void engine_timer_fire(struct timeq_entry *e)
{
	struct engine_session *s = timeq_owner(e, struct engine_session, timer);

	if (s->state == ENGINE_CLOSING) {
		/* As the reference: no ping goes out on a closing session, but
		 * its pong deadline still runs (engine_close_wait_start()). */
		if (!s->awaiting_pong) {
			s->awaiting_pong = true;
			timeq_start(&engine.ping_timeout, &s->timer);
			return;
		}
		engine_destroy(s, s->close_reason);
		return;
	}
	if (s->awaiting_pong) {
		metrics_inc(engine_ping_timeouts_total);
		log_debug("ping timeout\tsid=%s", s->sid);
		engine_destroy(s, "ping timeout");
		return;
	}
	if (engine_send_packet(s, EIO_PING, false, NULL, 0) < 0)
		return;
	s->awaiting_pong = true;
	timeq_start(&engine.ping_timeout, &s->timer);
}

static void engine_heartbeat_restart(struct engine_session *s)
{
	s->awaiting_pong = false;
	timeq_start(&engine.ping_interval, &s->timer);
}

/* --- packets from the client --------------------------------------------- */

/* Ends <s> with the reference server's "transport error"; <why> is its
 * description, for the log. */
static void engine_transport_error(struct engine_session *s, const char *why)
{
	metrics_inc(engine_transport_errors_total);
	log_limited(LOG_LEVEL_INFO, "transport error: %s\tsid=%s", why, s->sid);
	engine_destroy(s, "transport error");
}

/* The same after answering <hc> with an empty 400, as the reference does
 * for overlapping requests and bad content. */
static void engine_refuse(struct engine_session *s, struct http_conn *hc, const char *why)
{
	http_respond(hc, 400, NULL, NULL, NULL, 0);
	engine_transport_error(s, why);
}

static void engine_parse_error(struct engine_session *s, const uint8_t *data, size_t len)
{
	char quoted[300];

	metrics_inc(engine_parse_errors_total);
	log_limited(LOG_LEVEL_INFO, "Engine.IO parse error\tsid=%s input=\"%s\"", s->sid,
		    log_field(quoted, sizeof quoted, data, len, 64));
	engine_destroy(s, "parse error");
}

static void engine_on_packet(struct engine_session *s, const struct eio_packet *pkt, bool via_ws)
{
	switch (pkt->type) {
	case EIO_MESSAGE:
		metrics_inc(engine_messages_received_total);
		if (engine.cb->on_message)
			engine.cb->on_message(s, engine.app_ctx, pkt->binary, (uint8_t *)pkt->data, pkt->len);
		else
			metrics_inc(engine_messages_dropped_total);
		break;
	case EIO_PONG:
		if (s->awaiting_pong)
			engine_heartbeat_restart(s);
		break;
	case EIO_PING:
		/* Protocol 4 pings from the server only. */
		engine_transport_error(s, "invalid heartbeat direction");
		break;
	case EIO_CLOSE:
		/* Over WebSocket the reference server ignores `1`: clients
		 * close the socket itself. */
		if (via_ws)
			break;
		if (s->get)
			engine_get_answer(s, "6");
		engine_destroy(s, "transport close");
		break;
	default:
		break; /* open, upgrade, noop: ignored, as the reference does */
	}
}

/* --- session life -------------------------------------------------------- */

static struct engine_session *engine_find(const struct http_request *req)
{
	const char *sid;
	size_t len;
	struct engine_session *s = NULL;

	if (!http_query_param(req, "sid", &sid, &len) || len != ID_LEN)
		return NULL;
	HASH_FIND(hh, engine.sessions, sid, ID_LEN, s);
	return s;
}

/* Who owns the session <req> names, when this instance has no such
 * session: a peer (*<peer> set), or nobody this instance should ask.  A
 * request a peer forwarded is never forwarded again. */
static enum route_owner engine_owner(struct http_conn *hc, const struct http_request *req,
				     const struct route_peer **peer)
{
	const char *sid = "";
	size_t len = 0;

	if (http_conn_is_peer(hc))
		return ROUTE_HERE;
	(void)http_query_param(req, "sid", &sid, &len);
	return route_sid_owner(sid, len, peer);
}

/* Whether <req>, with no local session, may be for a peer's session (or
 * an instance's not heard of yet), from its head: a POST's body is then
 * read and engine_owner() decides with it; any other request with a body
 * is refused there. */
static bool engine_may_forward(struct http_conn *hc, const struct http_request *req)
{
	const char *sid = "";
	size_t len = 0;

	(void)http_query_param(req, "sid", &sid, &len);
	return !http_conn_is_peer(hc) && route_sid_names_peer(sid, len);
}

/* A new session for the handshake <req> on <hc>.  It keeps what the
 * request carried, for the cluster's fetchSockets: the peer's address,
 * Host and the URL; its bearer token, for namespaces with auth jwt; and
 * the headers backend_headers names (http.c kept only those, at most
 * max_header_size), for connect records. */
static struct engine_session *engine_session_new(const uint8_t *addr,
						 const struct http_request *req,
						 bool is_websocket)
{
	char address[INET6_ADDRSTRLEN];
	size_t a, h = strlen(req->host), b = 0;
	const char *bearer = "";

	realip_format(addr, address);
	a = strlen(address);
	/* Kept for the session's life only where a namespace may ask for it. */
	if (engine.keep_bearer)
		(void)http_bearer_token(req, &bearer, &b);
	size_t k = req->kept_headers_len;
	struct engine_session *s =
		calloc(1, sizeof *s + a + 1 + h + 1 + req->url_len + 1 + b + 1 + k + 1);
	if (!s)
		return NULL;
	char *o = s->handshake;
	memcpy(o, address, a + 1);
	memcpy(o += a + 1, req->host, h + 1);
	memcpy(o += h + 1, req->url, req->url_len);
	memcpy(o += req->url_len + 1, bearer, b);
	if (k)
		memcpy(o + b + 1, req->kept_headers, k);
	s->began_websocket = is_websocket;
	s->has_addr = addr != NULL;
	if (addr)
		memcpy(s->addr, addr, sizeof s->addr);
	if (route_sid_new(s->sid) < 0) {
		log_error("getrandom failed: no session id");
		free(s);
		return NULL;
	}
	s->is_websocket = is_websocket;
	s->queue_tail = &s->queue;
	HASH_ADD(hh, engine.sessions, sid, ID_LEN, s);
	engine.n_sessions++;
	metrics_inc(engine_sessions_opened_total);
	metrics_gauge_add(sessions_current, 1);
	return s;
}

/* The access_log line of <s>: its open, or with <reason> its close and
 * how long it lived.  The peer is the handshake's address. */
static void engine_access_line(const struct engine_session *s, const char *reason)
{
	char ms[24];
	struct log_pair pairs[5] = {
		{ "sid", s->sid, false },
		{ "peer", s->handshake, false },
		{ "transport", s->is_websocket ? "websocket" : "polling", false },
		{ "reason", reason, false },
		{ "duration_ms", ms, true },
	};

	if (log_access_format == LOG_ACCESS_OFF)
		return;
	snprintf(ms, sizeof ms, "%lld", (long long)(timeq_now_ms() - s->opened_ms));
	log_access(reason ? "session closed" : "session opened", pairs, reason ? 5 : 3);
}

static void engine_session_opened(struct engine_session *s)
{
	s->opened = true;
	s->opened_ms = timeq_now_ms();
	engine_access_line(s, NULL);
	engine_heartbeat_restart(s);
	if (engine.cb->on_open)
		engine.cb->on_open(s, engine.app_ctx);
}

static void engine_probe_end(struct engine_probe *probe)
{
	struct engine_session *s = probe->s;

	websocket_rebind(probe->ws, &engine_detached_cb, NULL);
	websocket_close(probe->ws, 0);
	event_del(&probe->timer);
	s->probe = NULL;
	free(probe);
}

/* Closes <s> at once: a held GET gets `1`, a WebSocket a close frame
 * without status, a POST in flight loses its connection. */
static void engine_destroy(struct engine_session *s, const char *reason)
{
	if (s->state == ENGINE_CLOSED)
		return;
	s->state = ENGINE_CLOSED;
	HASH_DELETE(hh, engine.sessions, s);
	engine.n_sessions--;
	server_ip_release(s->ip, SERVER_IP_SESSIONS);
	s->ip = NULL;
	timeq_stop(&s->timer);
	if (s->probe)
		engine_probe_end(s->probe);
	if (s->get)
		engine_get_answer(s, "1");
	if (s->post) {
		http_set_abort(s->post, NULL, NULL);
		server_conn_close(http_conn_peek(s->post));
		s->post = NULL;
	}
	if (s->ws) {
		websocket_rebind(s->ws, &engine_detached_cb, NULL);
		websocket_close(s->ws, 0);
		s->ws = NULL;
	}
	engine_queue_free(s);
	metrics_inc(engine_sessions_closed_total);
	metrics_gauge_add(sessions_current, -1);
	log_debug("session closed\tsid=%s reason=\"%s\"", s->sid, reason);
	if (s->opened)
		engine_access_line(s, reason);
	s->close_reason = reason;
	s->next_dead = engine.dead;
	engine.dead = s;
}

/* A polling session closed with no GET waiting ends when a GET takes its
 * `1`, at the close wait, or at its heartbeat deadline, whichever comes
 * first, so an abandoned session never outlives ping_interval +
 * ping_timeout.  This is the reference's behaviour: its polling close arms
 * closeTimeout (transports/polling.js doClose) while the socket's ping
 * timers keep running; sendPacket() sends nothing once closing, but
 * resetPingTimeout() still ends the socket with "ping timeout"
 * (engine.io 6.6 build/socket.js).  awaiting_pong set means the timer's
 * next fire ends the session (engine_timer_fire()). */
static void engine_close_wait_start(struct engine_session *s)
{
	int64_t heartbeat_due = s->timer.due_ms + (s->awaiting_pong ? 0 : engine.cfg->ping_timeout_ms);

	if (timeq_running(&s->timer) &&
	    heartbeat_due <= timeq_now_ms() + ENGINE_POLLING_CLOSE_WAIT_MS)
		return;
	s->awaiting_pong = true;
	timeq_start(&engine.close_wait, &s->timer);
}

void engine_close(struct engine_session *s, const char *reason)
{
	if (s->state != ENGINE_OPEN)
		return;
	if (s->is_websocket) {
		engine_destroy(s, reason);
		return;
	}
	if (s->probe)
		engine_probe_end(s->probe);
	/* The reference answers the next GET with `6\x1e1` when nothing
	 * else is queued; clients accept `1` alone as well. */
	if (!s->get && !s->queue && engine_enqueue(s, EIO_NOOP, false, NULL, 0) < 0)
		return;
	if (engine_enqueue(s, EIO_CLOSE, false, NULL, 0) < 0)
		return;
	s->state = ENGINE_CLOSING;
	s->close_reason = reason;
	if (!s->get)
		engine_close_wait_start(s);
}

size_t engine_close_some(size_t n, const char *reason)
{
	struct engine_session *s, *tmp;
	size_t closed = 0;

	HASH_ITER(hh, engine.sessions, s, tmp) {
		if (closed == n)
			break;
		if (s->state != ENGINE_OPEN)
			continue;
		engine_close(s, reason);
		closed++;
	}
	return closed;
}

void engine_close_all(const char *reason)
{
	(void)engine_close_some(SIZE_MAX, reason);
}

size_t engine_open_count(void)
{
	struct engine_session *s, *tmp;
	size_t n = 0;

	HASH_ITER(hh, engine.sessions, s, tmp)
		n += s->state == ENGINE_OPEN;
	return n;
}

const char *engine_session_sid(const struct engine_session *s)
{
	return s->sid;
}

void engine_session_set_data(struct engine_session *s, void *data)
{
	s->app_data = data;
}

void *engine_session_data(const struct engine_session *s)
{
	return s->app_data;
}

size_t engine_session_count(void)
{
	return engine.n_sessions;
}

/* --- WebSocket transport ------------------------------------------------- */

static void engine_ws_message(struct websocket *ws, void *arg, bool binary, uint8_t *data, size_t len)
{
	struct engine_session *s = arg;
	struct eio_packet pkt = { EIO_MESSAGE, true, data, len };

	if (s->state != ENGINE_OPEN)
		return;
	if (!binary && eio_decode_text(data, len, &pkt) < 0) {
		engine_parse_error(s, data, len);
		return;
	}
	engine_on_packet(s, &pkt, true);
}

static void engine_ws_close(struct websocket *ws, void *arg)
{
	struct engine_session *s = arg;

	s->ws = NULL;
	engine_destroy(s, "transport close");
}

static const struct websocket_callbacks engine_ws_cb = {
	.on_message = engine_ws_message,
	.on_close = engine_ws_close,
};

static void engine_detached_message(struct websocket *ws, void *arg, bool binary,
				    uint8_t *data, size_t len)
{
}

static void engine_detached_close(struct websocket *ws, void *arg)
{
}

/* For WebSockets whose session is gone or that were refused after the
 * 101: their input is ignored until the close completes. */
static const struct websocket_callbacks engine_detached_cb = {
	.on_message = engine_detached_message,
	.on_close = engine_detached_close,
};

/* --- upgrade (doc/protocol.md, "Upgrade") -------------------------------- */

static void engine_upgrade_fail(struct engine_probe *probe, const char *why)
{
	metrics_inc(engine_upgrade_failures_total);
	log_debug("upgrade failed: %s\tsid=%s", why, probe->s->sid);
	engine_probe_end(probe);
}

static void engine_upgrade_finish(struct engine_probe *probe)
{
	struct engine_session *s = probe->s;
	struct websocket *ws = probe->ws;

	event_del(&probe->timer);
	s->probe = NULL;
	free(probe);
	s->is_websocket = true;
	s->ws = ws;
	websocket_rebind(ws, &engine_ws_cb, s);
	if (s->get)
		engine_get_answer(s, "6");
	/* What waited for a GET leaves on the WebSocket, in order. */
	for (struct engine_queued *q = s->queue; q; q = q->next) {
		if (q->msg->type == EIO_NOOP)
			continue;
		if (engine_ws_send_msg(s, q->msg) < 0)
			break;
	}
	engine_queue_free(s);
	metrics_inc(engine_upgrades_total);
}

static void engine_probe_message(struct websocket *ws, void *arg, bool binary, uint8_t *data, size_t len)
{
	struct engine_probe *probe = arg;
	struct engine_session *s = probe->s;
	struct eio_packet pkt;

	if (binary || eio_decode_text(data, len, &pkt) < 0) {
		engine_upgrade_fail(probe, "bad packet on probe");
		return;
	}
	if (pkt.type == EIO_PING && pkt.len == 5 && memcmp(pkt.data, "probe", 5) == 0) {
		(void)websocket_send(ws, WS_OPCODE_TEXT, "3", 1, "probe", 5);
		probe->probed = true;
		/* Release the held GET so the client can pause polling and
		 * send `5` (the reference sends this noop every 100 ms). */
		if (s->get && !s->queue)
			(void)engine_enqueue(s, EIO_NOOP, false, NULL, 0);
	} else if (pkt.type == EIO_UPGRADE) {
		engine_upgrade_finish(probe);
	} else {
		engine_upgrade_fail(probe, "unexpected packet before upgrade");
	}
}

static void engine_probe_close(struct websocket *ws, void *arg)
{
	struct engine_probe *probe = arg;

	metrics_inc(engine_upgrade_failures_total);
	event_del(&probe->timer);
	probe->s->probe = NULL;
	free(probe);
}

static const struct websocket_callbacks engine_probe_cb = {
	.on_message = engine_probe_message,
	.on_close = engine_probe_close,
};

static void engine_upgrade_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	engine_upgrade_fail(arg, "upgrade_timeout");
}

static void engine_upgrade_start(struct engine_session *s, struct http_conn *hc,
				 struct http_request *req)
{
	if (s->is_websocket || s->probe || s->state != ENGINE_OPEN ||
	    !engine.cfg->allow_upgrades) {
		/* As the reference: the handshake completes, then the
		 * socket is closed at once. */
		struct websocket *ws = websocket_accept(hc, req, engine.cfg->max_payload,
							&engine_detached_cb, NULL);
		if (ws)
			websocket_close(ws, 0);
		return;
	}
	struct engine_probe *probe = calloc(1, sizeof *probe);
	if (!probe) {
		http_respond(hc, 503, NULL, NULL, NULL, 0);
		return;
	}
	probe->s = s;
	probe->ws = websocket_accept(hc, req, engine.cfg->max_payload, &engine_probe_cb, probe);
	if (!probe->ws) {
		free(probe);
		return;
	}
	s->probe = probe;
	evtimer_assign(&probe->timer, engine.base, engine_upgrade_timeout_cb, probe);
	event_add(&probe->timer, engine.upgrade_timeout_tv);
}

/* --- polling requests ---------------------------------------------------- */

static void engine_get_aborted(struct http_conn *hc, void *arg)
{
	struct engine_session *s = arg;

	s->get = NULL;
	engine_transport_error(s, "poll connection closed prematurely");
}

static void engine_post_aborted(struct http_conn *hc, void *arg)
{
	struct engine_session *s = arg;

	s->post = NULL;
	engine_transport_error(s, "data request connection closed prematurely");
}

static void engine_polling_get(struct engine_session *s, struct http_conn *hc)
{
	if (s->get) {
		/* The reference answers the new GET 400, the held one `1`,
		 * and ends the session. */
		engine_refuse(s, hc, "overlap from client");
		return;
	}
	s->get = hc;
	http_set_abort(hc, engine_get_aborted, s);
	if (s->queue)
		engine_mark_flush(s);
	else if (s->probe && s->probe->probed)
		(void)engine_enqueue(s, EIO_NOOP, false, NULL, 0);
}

/* Forward declarations of the request checks used by both entry points. */
static unsigned engine_transport_of(const struct http_request *req);
static bool engine_is_eio4(const struct http_request *req);

/* Whether Origin names the site the request asks for (its Host): a page
 * served beside the engine, behind the same proxy. */
static bool engine_origin_is_host(const struct http_request *req)
{
	const char *site = strstr(req->origin, "://");

	return site && req->host[0] && strcasecmp(site + 3, req->host) == 0;
}

/* Whether the request's Origin may use the engine, so that a page of
 * another site cannot open a socket with the user's cookies (cross-site
 * WebSocket hijacking).  allowed_origins decides, else cors_origin's
 * origins; with neither, or `*`, any origin may.  The page's own site
 * always may; no Origin (a client that is not a browser) as
 * allow_no_origin says. */
static bool engine_origin_allowed(const struct http_request *req)
{
	const struct config *cfg = engine.cfg;
	bool own = cfg->has_allowed_origins;
	bool any = own ? cfg->allowed_any : cfg->cors_any || cfg->n_cors_origins == 0;
	size_t n = own ? cfg->n_allowed_origins : cfg->n_cors_origins;
	const char(*list)[CONFIG_MAX_ORIGIN_LEN] = own ? cfg->allowed_origins : cfg->cors_origins;

	if (!req->has_origin)
		return cfg->allow_no_origin;
	if (any)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(req->origin, list[i]) == 0)
			return true;
	}
	return engine_origin_is_host(req);
}

/* Answers a request whose Origin may not use the engine as the reference
 * answers one its allowRequest refuses: 403, code 4.  Returns whether it
 * did. */
static bool engine_origin_refuse(struct http_conn *hc, const struct http_request *req)
{
	if (engine_origin_allowed(req))
		return false;
	metrics_inc(engine_origin_refused_total);
	log_debug("refused a request from origin \"%s\"", req->has_origin ? req->origin : "");
	http_respond_error_code(hc, 403, 4, "Forbidden");
	return true;
}

static void engine_payload_too_large(struct http_conn *hc)
{
	metrics_inc(engine_payload_too_large_total);
	http_respond(hc, 413, NULL, NULL, NULL, 0);
}

void engine_handle_head(struct http_conn *hc, struct http_request *req)
{
	struct engine_session *s = engine_find(req);
	bool live = s && s->state != ENGINE_CLOSED;

	if (req->method == HTTP_POST && !req->is_upgrade && live && !s->is_websocket &&
	    engine_is_eio4(req) && engine_transport_of(req) == CONFIG_TRANSPORT_POLLING) {
		/* Before the overlap check: another site's page must not end
		 * a session either.  The other paths are checked, once, by
		 * engine_handle_request(). */
		if (engine_origin_refuse(hc, req))
			return;
		if (s->post) {
			engine_refuse(s, hc, "data request overlap from client");
			return;
		}
		if (req->body_too_big) {
			/* Content-Length says it already: refused unread. */
			engine_payload_too_large(hc);
			return;
		}
		s->post = hc;
		http_set_abort(hc, engine_post_aborted, s);
		return;
	}
	/* A POST for a peer's session is forwarded with its body, refused
	 * here when it is too big, as its owner would. */
	if (req->method == HTTP_POST && !req->is_upgrade && !live && engine_may_forward(hc, req)) {
		if (req->body_too_big)
			engine_payload_too_large(hc);
		return;
	}
	/* Every other request with a body is refused, so it is answered from
	 * its head rather than after reading a body it would discard, with the
	 * reference's error for its sid, transport or method.  Those that
	 * engine_handle_request() would not answer at once, a long-poll GET,
	 * an upgrade and any request for a peer's session (forwarded), carry
	 * no body from any client: "Bad request".  Routing one of them from
	 * its head would route it again once its body is read: two holders
	 * (two upstreams) for one request, and two answers. */
	if (req->is_upgrade || (req->method == HTTP_GET && live) || engine_may_forward(hc, req))
		http_respond_error_code(hc, 400, 3, "Bad request");
	else
		engine_handle_request(hc, req);
}

/* Forgets <hc> as <s>'s POST in flight: its body is complete. */
static void engine_post_release(struct engine_session *s, struct http_conn *hc)
{
	if (s->post != hc)
		return;
	s->post = NULL;
	http_set_abort(hc, NULL, NULL);
}

/* A POST body is text to the reference server: invalid UTF-8 reaches the
 * application as U+FFFD, and can then never make an invalid WebSocket text
 * frame after an upgrade.  Valid bodies (all real clients) cost one scan. */
static int engine_polling_text(struct http_request *req)
{
	size_t len = eio_utf8_repaired_len(req->body, req->body_len);
	if (!len)
		return 0;
	uint8_t *text = malloc(len);
	if (!text)
		return -1;
	eio_utf8_repair(text, req->body, req->body_len);
	free(req->body);
	req->body = text;
	req->body_len = len;
	return 0;
}

static void engine_polling_post(struct engine_session *s, struct http_conn *hc,
				struct http_request *req)
{
	if (req->octet_stream) {
		/* Protocol 4 posts text only. */
		engine_refuse(s, hc, "invalid content");
		return;
	}
	if (req->body_too_big) {
		engine_payload_too_large(hc);
		return;
	}
	if (engine_polling_text(req) < 0) {
		engine_transport_error(s, "out of memory");
		http_respond(hc, 503, NULL, NULL, NULL, 0);
		return;
	}
	size_t pos = 0;
	struct eio_packet pkt;
	while (s->state == ENGINE_OPEN) {
		int r = eio_payload_next(req->body, req->body_len, &pos, &pkt);
		if (r == 0)
			break;
		if (r < 0) {
			engine_parse_error(s, req->body, req->body_len);
			break;
		}
		engine_on_packet(s, &pkt, false);
	}
	/* `ok` even when a packet was bad, as the reference answers. */
	http_respond(hc, 200, "text/html", "cache-control: no-store\r\n", "ok", 2);
}

/* --- handshake and routing ----------------------------------------------- */

const uint8_t *engine_session_address(const struct engine_session *s)
{
	return s->has_addr ? s->addr : NULL;
}

void engine_session_handshake(const struct engine_session *s, struct engine_handshake *out)
{
	out->address = s->handshake;
	out->host = out->address + strlen(out->address) + 1;
	out->url = out->host + strlen(out->host) + 1;
	out->bearer = out->url + strlen(out->url) + 1;
	out->headers = out->bearer + strlen(out->bearer) + 1;
	out->websocket = s->began_websocket;
}

/* Counts a session more for <addr>: an address holds at most
 * max_connections_per_ip sessions, as it holds that many connections.
 * Returns 0 with *<ip> its entry (NULL: not counted), or -1 if refused. */
static int engine_ip_take(const uint8_t *addr, struct server_ip **ip)
{
	char text[INET6_ADDRSTRLEN];
	bool refused;

	*ip = server_ip_take(addr, SERVER_IP_SESSIONS, engine.cfg->max_connections_per_ip, &refused);
	if (!refused)
		return 0;
	metrics_inc(sessions_rejected_per_ip_total);
	realip_format(addr, text);
	log_limited(LOG_LEVEL_WARN, "max_connections_per_ip (%u) sessions reached by an address, "
		    "refusing its handshakes\tpeer=%s", engine.cfg->max_connections_per_ip, text);
	return -1;
}

static void engine_handshake(struct http_conn *hc, struct http_request *req, bool is_websocket)
{
	char open[256];
	uint8_t key[16];
	const uint8_t *addr;
	struct server_ip *ip;

	if (engine.n_sessions >= engine.cfg->max_connections) {
		metrics_inc(connections_rejected_total);
		http_respond(hc, 503, NULL, NULL, NULL, 0);
		return;
	}
	addr = http_client_address(hc, req, key) ? key : NULL;
	if (engine_ip_take(addr, &ip) < 0) {
		http_respond(hc, 503, NULL, NULL, NULL, 0);
		return;
	}
	struct engine_session *s = engine_session_new(addr, req, is_websocket);
	if (!s) {
		server_ip_release(ip, SERVER_IP_SESSIONS);
		http_respond(hc, 503, NULL, NULL, NULL, 0);
		return;
	}
	s->ip = ip;
	bool can_upgrade = !is_websocket && engine.cfg->allow_upgrades &&
			   (engine.cfg->transports & CONFIG_TRANSPORT_WEBSOCKET);
	size_t open_len = eio_open_packet(open, sizeof open, s->sid, can_upgrade,
					  engine.cfg->ping_interval_ms, engine.cfg->ping_timeout_ms,
					  engine.cfg->max_payload);
	if (is_websocket) {
		s->ws = websocket_accept(hc, req, engine.cfg->max_payload, &engine_ws_cb, s);
		if (!s->ws) {
			engine_destroy(s, "transport error");
			return;
		}
		(void)websocket_send(s->ws, WS_OPCODE_TEXT, NULL, 0, open, open_len);
	} else {
		http_respond(hc, 200, "text/plain; charset=UTF-8", "cache-control: no-store\r\n",
			     open, open_len);
	}
	engine_session_opened(s);
}

static unsigned engine_transport_of(const struct http_request *req)
{
	const char *t;
	size_t len;

	if (!http_query_param(req, "transport", &t, &len))
		return 0;
	unsigned id = 0;
	if (len == 7 && memcmp(t, "polling", 7) == 0)
		id = CONFIG_TRANSPORT_POLLING;
	else if (len == 9 && memcmp(t, "websocket", 9) == 0)
		id = CONFIG_TRANSPORT_WEBSOCKET;
	return id & engine.cfg->transports;
}

static bool engine_is_eio4(const struct http_request *req)
{
	const char *v;
	size_t len;

	return http_query_param(req, "EIO", &v, &len) && len == 1 && v[0] == '4';
}

/* Whether another instance could have made the sid of a request this
 * one cannot answer: without routing, only in a cluster (redis) or beside
 * other processes on one port (reuseport); with it, only for a valid sid
 * of an instance that is gone.  A poll after a normal close on a lone
 * instance is none of these. */
static bool engine_may_be_misrouted(enum route_owner owner)
{
	if (owner != ROUTE_OFF)
		return owner == ROUTE_GONE;
	if (engine.cfg->redis_host[0] || engine.cfg->redis_unix[0])
		return true;
	for (size_t i = 0; i < engine.cfg->n_listen; i++) {
		if (engine.cfg->listen[i].reuseport)
			return true;
	}
	return false;
}

/* A request for a session this instance does not hold, whose owner is
 * <owner>: closed, expired, forged, or another instance's, which is what
 * a balancer that is not sticky for polling causes.  Answered as the
 * reference does, logged at warn only where the routing could be the
 * cause, else at info (a client can cause it at will: rate-limited). */
static void engine_unknown_sid(struct http_conn *hc, const struct http_request *req,
			       enum route_owner owner)
{
	char address[INET6_ADDRSTRLEN], quoted[100];
	const char *sid = "";
	size_t sid_len = 0;
	const char *why = "closed or expired";

	(void)http_query_param(req, "sid", &sid, &sid_len);
	(void)server_conn_peer_address(http_conn_peek(hc), address);
	bool misrouted = engine_may_be_misrouted(owner);
	/* With routing, another instance's live sids never get here. */
	if (owner == ROUTE_GONE)
		why = "of an instance that is gone";
	else if (owner == ROUTE_FORGED)
		why = "forged";
	else if (misrouted)
		why = "closed, expired, or another instance's (is the balancer sticky for polling? "
		      "see cluster_listen)";
	log_limited(misrouted ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
		    "400 for an unknown session id: %s\tsid=\"%s\" peer=%s", why,
		    log_field(quoted, sizeof quoted, sid, sid_len, 24), address);
	http_respond_error_code(hc, 400, 1, "Session ID unknown");
}

/* A request for a session this instance does not hold: forwarded to its
 * owner (held until it is heard, if it is not yet), or answered code 1 as
 * the reference answers an unknown sid. */
static void engine_route_away(struct http_conn *hc, struct http_request *req)
{
	const struct route_peer *peer = NULL;
	enum route_owner owner = engine_owner(hc, req, &peer);

	switch (owner) {
	case ROUTE_PEER:
	case ROUTE_UNKNOWN:
		if (req->body_too_big)
			engine_payload_too_large(hc);
		else if (peer)
			forward_request(hc, req, peer);
		else
			forward_hold(hc, req);
		return;
	case ROUTE_FORGED:
		metrics_inc(route_forged_sids_total);
		break;
	case ROUTE_GONE:
		metrics_inc(route_unknown_instance_total);
		break;
	default:
		break;
	}
	engine_unknown_sid(hc, req, owner);
}

static void engine_handle_with_sid(struct http_conn *hc, struct http_request *req,
				   unsigned transport)
{
	struct engine_session *s = engine_find(req);

	if (!s || s->state == ENGINE_CLOSED) {
		engine_route_away(hc, req);
		return;
	}
	engine_post_release(s, hc);
	if (!engine_is_eio4(req)) {
		http_respond_error_code(hc, 400, 3, "Bad request");
		return;
	}
	if (req->is_upgrade) {
		if (transport != CONFIG_TRANSPORT_WEBSOCKET)
			http_respond_error_code(hc, 400, 3, "Bad request");
		else
			engine_upgrade_start(s, hc, req);
		return;
	}
	if (transport != CONFIG_TRANSPORT_POLLING || s->is_websocket) {
		http_respond_error_code(hc, 400, 3, "Bad request");
		return;
	}
	if (req->method == HTTP_GET)
		engine_polling_get(s, hc);
	else if (req->method == HTTP_POST)
		engine_polling_post(s, hc, req);
	else
		http_respond(hc, 500, NULL, NULL, NULL, 0);
}

void engine_handle_request(struct http_conn *hc, struct http_request *req)
{
	const char *sid;
	size_t sid_len;
	const struct config *cfg = engine.cfg;

	if (req->method == HTTP_OPTIONS && !req->is_upgrade &&
	    (cfg->cors_any || cfg->n_cors_origins > 0)) {
		http_respond_preflight(hc);
		return;
	}
	unsigned transport = engine_transport_of(req);
	if (!transport) {
		http_respond_error_code(hc, 400, 0, "Transport unknown");
		return;
	}
	if (req->has_origin && !http_text_clean(req->origin)) {
		http_respond_error_code(hc, 400, 3, "Bad request");
		return;
	}
	if (engine_origin_refuse(hc, req))
		return;
	/* An empty sid= is no sid, as in the reference server. */
	if (http_query_param(req, "sid", &sid, &sid_len) && sid_len > 0) {
		engine_handle_with_sid(hc, req, transport);
		return;
	}
	if (req->method != HTTP_GET) {
		http_respond_error_code(hc, 400, 2, "Bad handshake method");
		return;
	}
	if (http_conn_is_peer(hc)) {
		/* Peers forward requests with a sid only. */
		http_respond_error_code(hc, 400, 3, "Bad request");
		return;
	}
	if (!engine_is_eio4(req)) {
		http_respond_error_code(hc, 400, 5, "Unsupported protocol version");
		return;
	}
	bool ws = transport == CONFIG_TRANSPORT_WEBSOCKET;
	if (ws != req->is_upgrade) {
		http_respond_error_code(hc, 400, 3, "Bad request");
		return;
	}
	engine_handshake(hc, req, ws);
}

/* --- turn ---------------------------------------------------------------- */

bool engine_has_work(void)
{
	return engine.flush || engine.dead;
}

void engine_after_turn(void)
{
	while (engine.flush) {
		struct engine_session *s = engine.flush;
		engine.flush = s->next_flush;
		s->on_flush_list = false;
		if (s->state != ENGINE_CLOSED && s->get && s->queue)
			engine_polling_flush(s);
	}
	while (engine.dead) {
		struct engine_session *s = engine.dead;
		engine.dead = s->next_dead;
		if (s->opened && engine.cb->on_close)
			engine.cb->on_close(s, engine.app_ctx, s->close_reason);
		free(s);
	}
}

void engine_init(struct event_base *base, const struct config *cfg,
		 const struct engine_callbacks *cb, void *app_ctx)
{
	static const struct engine_callbacks none;

	engine.base = base;
	engine.cfg = cfg;
	engine.cb = cb ? cb : &none;
	engine.app_ctx = app_ctx;
	/* Every session waits the same few durations: one FIFO queue per
	 * duration instead of a struct event per session (timeq.h). */
	timeq_init(&engine.ping_interval, base, cfg->ping_interval_ms, engine_timer_fire);
	timeq_init(&engine.ping_timeout, base, cfg->ping_timeout_ms, engine_timer_fire);
	timeq_init(&engine.close_wait, base, ENGINE_POLLING_CLOSE_WAIT_MS, engine_timer_fire);
	engine_reload();
}

void engine_reload(void)
{
	const struct config *cfg = engine.cfg;
	struct timeval tv = { cfg->upgrade_timeout_ms / 1000, (cfg->upgrade_timeout_ms % 1000) * 1000 };

	engine.keep_bearer = false;
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		engine.keep_bearer |= cfg->namespaces[i].auth == CONFIG_AUTH_JWT;
	/* Upgrades are few and short: libevent's common timeout is enough
	 * (one that is running keeps its own). */
	const struct timeval *common = event_base_init_common_timeout(engine.base, &tv);
	if (common)
		engine.upgrade_timeout_tv = common;
}

void engine_cleanup(void)
{
	struct engine_session *s, *tmp;

	HASH_ITER(hh, engine.sessions, s, tmp)
		engine_destroy(s, "server shutting down");
	engine_after_turn();
	timeq_cleanup(&engine.ping_interval);
	timeq_cleanup(&engine.ping_timeout);
	timeq_cleanup(&engine.close_wait);
}
