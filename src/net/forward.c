/* forward.c - forwarded requests and relayed WebSockets (see forward.h).
 *
 * Owns every upstream: a connection to a peer's cluster_listen, with the
 * request it carries, the answer being read and, once an upgrade has been
 * answered 101, the client connection it is spliced to.  An upstream is
 * freed when its connection is (the server's on_close), which is also
 * where a client still waiting is answered.  Peers are roomcastd
 * instances of the same cluster (the request carried the secret's token),
 * so their answers are read as our own http.c writes them: a status line,
 * headers, Content-Length, a body.  Also owns the requests held for an
 * instance not heard of yet, until it is.  Reads route.c (the peer, the
 * token, asks) and hears of peers through the hooks it registers there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uthash.h>

#include "forward.h"
#include "log.h"
#include "metrics.h"
#include "server.h"
#include "timeq.h"

struct forward_up {
	struct conn *c;                /* the upstream; the server owns it */
	char peer_id[SID_INSTANCE_LEN + 1];
	struct sockaddr_storage addr;  /* the peer's, for a retry */
	socklen_t addr_len;
	struct http_conn *client;      /* the request awaiting the answer, NULL = none */
	struct conn *relay;            /* spliced to this client connection, NULL = none */
	uint8_t *request;              /* what was sent, kept for one retry; owned */
	size_t request_len;
	uint8_t *resp;                 /* the answer so far; owned */
	size_t resp_len, resp_cap;
	size_t head_len;               /* 0 until the answer's head is complete */
	size_t body_len;               /* its Content-Length */
	int status;
	bool reused;                   /* the request went on a kept connection */
	bool no_retry;                 /* the peer is gone: fail, do not retry */
	bool keep;                     /* the answer allows another request */
	bool counted;                  /* in forward.n_counted */
	int64_t idle_since;
	struct event connect_timer;
	struct forward_up *prev, *next; /* forward.all */
	struct forward_pool *pool;     /* kept idle in this pool, NULL = not idle */
	struct forward_up *prev_idle, *next_idle;
};

/* A client's request held until its sid's instance announces itself. */
struct forward_held {
	struct http_conn *client;
	struct http_request *req;      /* the client's, valid until it is answered */
	char peer_id[SID_INSTANCE_LEN + 1];
	struct timeq_entry wait;       /* on forward.hold_q */
	struct forward_held *prev, *next; /* forward.held */
};

/* The idle upstreams to one peer, the most recently used first: a request
 * takes the head, so the connections a steady load needs stay warm and
 * the surplus ages at the tail until the owner closes it. */
struct forward_pool {
	char peer_id[SID_INSTANCE_LEN + 1];
	struct forward_up *head;
	UT_hash_handle hh;             /* forward.pools, keyed by peer_id */
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	struct forward_up *all;
	struct forward_pool *pools;    /* uthash head */
	size_t n_idle;                 /* in all pools */
	size_t n_counted;              /* upstreams not being closed: <= cluster_max_upstreams */
	struct forward_held *held;
	size_t n_held;
	struct timeq hold_q;           /* FORWARD_HOLD_MS */
	bool stopping;
} forward;

static const struct conn_handler forward_up_handler;
static const struct conn_handler forward_relay_handler;

/* --- the request --------------------------------------------------------- */

/* The request as the owner needs it: what engine.c reads of a request
 * with a sid (method, URL, Origin and Host for the origin check, the body
 * and its type, the upgrade's key), and the cluster's token.  Returns the
 * bytes (malloc'd) and their length, or NULL if memory ran out. */
static uint8_t *forward_build_request(const struct http_request *req, size_t *len)
{
	size_t cap = req->url_len + sizeof req->host + sizeof req->origin + req->body_len + 512;
	char *out = malloc(cap);
	int n;

	if (!out)
		return NULL;
	n = snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: %s\r\nX-Roomcast-Peer: %s\r\n",
		     req->method_name, req->url, req->host, route_peer_token());
	if (req->has_origin)
		n += snprintf(out + n, cap - (size_t)n, "Origin: %s\r\n", req->origin);
	if (req->is_upgrade)
		n += snprintf(out + n, cap - (size_t)n,
			      "Connection: Upgrade\r\nUpgrade: websocket\r\n"
			      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n\r\n",
			      req->ws_key, req->ws_version);
	else
		n += snprintf(out + n, cap - (size_t)n,
			      "Connection: keep-alive\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
			      req->octet_stream ? "application/octet-stream" : "text/plain;charset=UTF-8",
			      req->body_len);
	if (!req->is_upgrade && req->body_len) {
		memcpy(out + n, req->body, req->body_len);
		n += (int)req->body_len;
	}
	*len = (size_t)n;
	return (uint8_t *)out;
}

/* --- upstreams ----------------------------------------------------------- */

static void forward_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct forward_up *up = arg;

	if (up->c->connecting) {
		log_limited(LOG_LEVEL_WARN, "cluster: no connection to instance %s within %d ms",
			    up->peer_id, FORWARD_CONNECT_TIMEOUT_MS);
		server_conn_close(up->c);
	}
}

static struct forward_up *forward_open(const char *peer_id, const struct sockaddr_storage *addr,
			       socklen_t addr_len)
{
	struct forward_up *up = calloc(1, sizeof *up);
	struct timeval tv = { 0, FORWARD_CONNECT_TIMEOUT_MS * 1000 };

	if (!up)
		return NULL;
	up->c = server_connect((const struct sockaddr *)addr, addr_len, &forward_up_handler, up);
	if (!up->c) {
		log_limited(LOG_LEVEL_WARN, "cluster: connecting to instance %s: %s", peer_id,
			    strerror(errno));
		free(up);
		return NULL;
	}
	memcpy(up->peer_id, peer_id, sizeof up->peer_id);
	up->addr = *addr;
	up->addr_len = addr_len;
	evtimer_assign(&up->connect_timer, forward.base, forward_connect_timeout, up);
	event_add(&up->connect_timer, &tv);
	up->next = forward.all;
	if (forward.all)
		forward.all->prev = up;
	forward.all = up;
	up->counted = true;
	forward.n_counted++;
	metrics_gauge_add(route_upstreams, 1);
	return up;
}

/* <up> is closing: it leaves the count at once, so that its place can be
 * taken in the same turn. */
static void forward_uncount(struct forward_up *up)
{
	if (!up->counted)
		return;
	up->counted = false;
	forward.n_counted--;
}

static void forward_idle_remove(struct forward_up *up)
{
	if (!up->pool)
		return;
	if (up->prev_idle)
		up->prev_idle->next_idle = up->next_idle;
	else
		up->pool->head = up->next_idle;
	if (up->next_idle)
		up->next_idle->prev_idle = up->prev_idle;
	up->pool = NULL;
	up->prev_idle = up->next_idle = NULL;
	forward.n_idle--;
}

static struct forward_pool *forward_pool_find(const char *peer_id)
{
	struct forward_pool *pool = NULL;

	HASH_FIND(hh, forward.pools, peer_id, SID_INSTANCE_LEN, pool);
	return pool;
}

/* Keeps <up> for the next request to its peer.  Returns 0, or -1 if it
 * cannot be kept (then close it). */
static int forward_idle_add(struct forward_up *up)
{
	struct forward_pool *pool = forward_pool_find(up->peer_id);

	if (forward.n_idle >= FORWARD_MAX_IDLE)
		return -1;
	if (!pool) {
		if (!(pool = calloc(1, sizeof *pool)))
			return -1;
		memcpy(pool->peer_id, up->peer_id, sizeof pool->peer_id);
		HASH_ADD(hh, forward.pools, peer_id, SID_INSTANCE_LEN, pool);
	}
	up->idle_since = timeq_now_ms();
	up->pool = pool;
	up->prev_idle = NULL;
	up->next_idle = pool->head;
	if (pool->head)
		pool->head->prev_idle = up;
	pool->head = up;
	forward.n_idle++;
	return 0;
}

/* A kept connection to <peer_id>, or NULL.  Once the most recently used
 * has been idle half of keepalive_timeout, all of them have, and the
 * owner may be closing them: they are closed instead. */
static struct forward_up *forward_take_idle(const char *peer_id)
{
	struct forward_pool *pool = forward_pool_find(peer_id);
	struct forward_up *up = pool ? pool->head : NULL;

	if (!up)
		return NULL;
	if (up->idle_since < timeq_now_ms() - forward.cfg->keepalive_timeout_ms / 2) {
		while ((up = pool->head)) {
			forward_idle_remove(up);
			forward_uncount(up);
			server_conn_close(up->c);
		}
		return NULL;
	}
	forward_idle_remove(up);
	up->reused = true;
	return up;
}

/* Whether one more upstream may open: at cluster_max_upstreams an idle
 * one is closed to make room (idle ones are a cache, not a need), and
 * without one there is none. */
static bool forward_room(void)
{
	uint32_t max = forward.cfg->cluster_max_upstreams ? forward.cfg->cluster_max_upstreams
							  : forward.cfg->max_connections;
	struct forward_pool *pool, *tmp;

	if (forward.n_counted < max)
		return true;
	HASH_ITER(hh, forward.pools, pool, tmp) {
		struct forward_up *idle = pool->head;
		if (!idle)
			continue;
		forward_idle_remove(idle);
		forward_uncount(idle);
		server_conn_close(idle->c);
		return forward.n_counted < max;
	}
	return false;
}

static void forward_client_aborted(struct http_conn *hc, void *arg)
{
	struct forward_up *up = arg;

	/* The owner sees the abort it would have seen directly. */
	up->client = NULL;
	server_conn_close(up->c);
}

/* Sends the request held in <up> for <client>.  Returns 0, or -1 if the
 * upstream failed at once (it is closed; <client> is answered there). */
static int forward_send(struct forward_up *up, struct http_conn *client)
{
	up->client = client;
	http_set_abort(client, forward_client_aborted, up);
	return server_write(up->c, up->request, up->request_len);
}

static void forward_fail(struct http_conn *client)
{
	metrics_inc(route_forward_failures_total);
	http_respond_error_code(client, 400, 1, "Session ID unknown");
}

void forward_request(struct http_conn *hc, const struct http_request *req,
		     const struct route_peer *peer)
{
	size_t len;
	uint8_t *request;
	struct forward_up *up = NULL;

	/* A request already waits on a holder (an upstream, a session): a
	 * second one would answer it twice, and the first would outlive the
	 * connection.  Only a bug of ours gets here; the holder answers. */
	if (http_is_held(hc)) {
		log_limited(LOG_LEVEL_ERROR, "a request forwarded twice, the second dropped\tconn=%llu",
			    (unsigned long long)http_conn_peek(hc)->id);
		return;
	}
	/* The Origin was checked already (engine.c). */
	if (!http_text_clean(req->url) || !http_text_clean(req->host) ||
	    !http_text_clean(req->ws_key) || !http_text_clean(req->ws_version)) {
		http_respond_error_code(hc, 400, 3, "Bad request");
		return;
	}
	request = forward_build_request(req, &len);

	if (request)
		up = req->is_upgrade ? NULL : forward_take_idle(peer->id);
	if (request && !up && !forward_room()) {
		log_limited(LOG_LEVEL_WARN, "cluster_max_upstreams reached, refusing a request for "
			    "instance %s's session", peer->id);
		metrics_inc(route_upstreams_rejected_total);
		free(request);
		http_respond(hc, 503, NULL, NULL, NULL, 0);
		return;
	}
	if (request && !up)
		up = forward_open(peer->id, &peer->addr, peer->addr_len);
	if (!up) {
		free(request);
		forward_fail(hc);
		return;
	}
	metrics_inc(route_forwarded_total);
	up->request = request;
	up->request_len = len;
	(void)forward_send(up, hc);
}

/* The upstream closed before the answer: the kept connection the owner
 * had just closed gets the request once more on a new one; anything else
 * is answered code 1 (the owner is gone, or its session with it). */
static void forward_retry_or_fail(struct forward_up *up)
{
	struct http_conn *client = up->client;

	http_set_abort(client, NULL, NULL);
	up->client = NULL;
	if (up->reused && up->resp_len == 0 && !up->no_retry && !forward.stopping) {
		struct forward_up *fresh = forward_open(up->peer_id, &up->addr, up->addr_len);
		if (fresh) {
			fresh->request = up->request;
			fresh->request_len = up->request_len;
			up->request = NULL;
			(void)forward_send(fresh, client);
			return;
		}
	}
	forward_fail(client);
}

static void forward_up_closed(struct conn *c)
{
	struct forward_up *up = c->ctx;

	event_del(&up->connect_timer);
	forward_uncount(up);
	if (up->client)
		forward_retry_or_fail(up);
	if (up->relay) {
		up->relay->ctx = NULL;
		server_conn_close_when_flushed(up->relay);
	}
	forward_idle_remove(up);
	if (up->prev)
		up->prev->next = up->next;
	else
		forward.all = up->next;
	if (up->next)
		up->next->prev = up->prev;
	metrics_gauge_add(route_upstreams, -1);
	free(up->request);
	free(up->resp);
	free(up);
}

/* --- the answer ---------------------------------------------------------- */

/* The value of header <name> in <head> (lines after the status line),
 * into <out>; returns its length, or -1 if absent or too long. */
static int forward_header(const char *head, size_t head_len, const char *name, char *out,
			  size_t cap)
{
	size_t name_len = strlen(name);
	const char *p = memchr(head, '\n', head_len), *end = head + head_len;

	while (p && p + 1 < end) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\r', (size_t)(end - line));
		if (!eol)
			break;
		if ((size_t)(eol - line) > name_len && line[name_len] == ':' &&
		    strncasecmp(line, name, name_len) == 0) {
			const char *v = line + name_len + 1;
			while (v < eol && *v == ' ')
				v++;
			if ((size_t)(eol - v) >= cap)
				return -1;
			memcpy(out, v, (size_t)(eol - v));
			out[eol - v] = '\0';
			return (int)(eol - v);
		}
		p = memchr(eol, '\n', (size_t)(end - eol));
	}
	return -1;
}

/* Parses the head once "\r\n\r\n" has arrived.  Returns 1 when parsed, 0
 * if more is needed, -1 if it is not an answer we wrote. */
static int forward_parse_head(struct forward_up *up)
{
	const char *text = (const char *)up->resp;
	char value[64], *end;
	const char *blank = memmem(text, up->resp_len, "\r\n\r\n", 4);

	if (!blank)
		return up->resp_len > FORWARD_MAX_HEAD ? -1 : 0;
	up->head_len = (size_t)(blank - text) + 4;
	if (up->head_len < 13 || memcmp(text, "HTTP/1.1 ", 9) != 0)
		return -1;
	up->status = (int)strtol(text + 9, &end, 10);
	if (end != text + 12 || up->status < 100 || up->status > 599)
		return -1;
	up->body_len = 0;
	if (forward_header(text, up->head_len, "Content-Length", value, sizeof value) > 0) {
		unsigned long long n = strtoull(value, &end, 10);
		if (*end || n > forward.cfg->max_output_buffer)
			return -1;
		up->body_len = (size_t)n;
	}
	up->keep = !(forward_header(text, up->head_len, "Connection", value, sizeof value) > 0 &&
		     strcasecmp(value, "close") == 0);
	return 1;
}

/* The whole answer is in: the client gets it, the upstream is kept. */
static void forward_answer(struct forward_up *up)
{
	struct http_conn *client = up->client;
	const char *head = (const char *)up->resp;
	char type[128], cache[64], extra[96] = "";

	if (forward_header(head, up->head_len, "Cache-Control", cache, sizeof cache) > 0)
		snprintf(extra, sizeof extra, "cache-control: %s\r\n", cache);
	bool typed = forward_header(head, up->head_len, "Content-Type", type, sizeof type) > 0;
	http_set_abort(client, NULL, NULL);
	up->client = NULL;
	http_respond(client, up->status, typed ? type : NULL, extra[0] ? extra : NULL,
		     up->resp + up->head_len, up->body_len);
	bool extra_bytes = up->resp_len > up->head_len + up->body_len;
	up->resp_len = up->head_len = 0;
	free(up->request);
	up->request = NULL;
	up->reused = false;
	if (!up->keep || extra_bytes || forward.stopping || forward_idle_add(up) < 0)
		server_conn_close(up->c);
}

/* The owner accepted the upgrade: its 101 (and whatever followed) goes to
 * the client, and from now on bytes pass both ways unread. */
static void forward_splice(struct forward_up *up)
{
	struct conn *client = http_take_conn(up->client, &forward_relay_handler, up);

	up->client = NULL;
	up->relay = client;
	metrics_inc(route_relayed_upgrades_total);
	(void)server_write(client, up->resp, up->resp_len);
	free(up->resp);
	up->resp = NULL;
	up->resp_len = up->resp_cap = 0;
}

static int forward_append(struct forward_up *up, const uint8_t *data, size_t len)
{
	size_t limit = FORWARD_MAX_HEAD + forward.cfg->max_output_buffer;

	if (up->resp_len + len > limit)
		return -1;
	if (up->resp_len + len > up->resp_cap) {
		size_t cap = up->resp_cap ? up->resp_cap * 2 : 4096;
		while (cap < up->resp_len + len)
			cap *= 2;
		uint8_t *grown = realloc(up->resp, cap < limit ? cap : limit);
		if (!grown)
			return -1;
		up->resp = grown;
		up->resp_cap = cap < limit ? cap : limit;
	}
	memcpy(up->resp + up->resp_len, data, len);
	up->resp_len += len;
	return 0;
}

static ssize_t forward_up_data(struct conn *c, uint8_t *data, size_t len)
{
	struct forward_up *up = c->ctx;

	if (up->relay) {
		(void)server_write(up->relay, data, len);
		return (ssize_t)len;
	}
	if (!up->client || forward_append(up, data, len) < 0) {
		/* Bytes nobody asked for, or an answer past its bounds. */
		server_conn_close(c);
		return -1;
	}
	if (!up->head_len) {
		int r = forward_parse_head(up);
		if (r < 0) {
			log_limited(LOG_LEVEL_WARN, "cluster: instance %s answered a forwarded "
				    "request with something else than our HTTP", up->peer_id);
			server_conn_close(c);
			return -1;
		}
		if (r == 0)
			return (ssize_t)len;
	}
	if (up->status == 101)
		forward_splice(up);
	else if (up->resp_len >= up->head_len + up->body_len)
		forward_answer(up);
	return (ssize_t)len;
}

static const struct conn_handler forward_up_handler = {
	.on_data = forward_up_data,
	.on_close = forward_up_closed,
};

/* --- relayed WebSockets: the client's side ------------------------------- */

static ssize_t forward_relay_data(struct conn *c, uint8_t *data, size_t len)
{
	struct forward_up *up = c->ctx;

	if (up)
		(void)server_write(up->c, data, len);
	return (ssize_t)len;
}

static void forward_relay_closed(struct conn *c)
{
	struct forward_up *up = c->ctx;

	if (!up)
		return;
	up->relay = NULL;
	server_conn_close_when_flushed(up->c);
}

static const struct conn_handler forward_relay_handler = {
	.on_data = forward_relay_data,
	.on_close = forward_relay_closed,
};

/* --- requests held for an instance not heard of yet -------------------- */

/* Takes <w> off the list and its timer; it is still allocated. */
static void forward_held_unlink(struct forward_held *w)
{
	timeq_stop(&w->wait);
	if (w->prev)
		w->prev->next = w->next;
	else
		forward.held = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	forward.n_held--;
	metrics_gauge_add(route_held, -1);
}

static void forward_held_free(struct forward_held *w)
{
	forward_held_unlink(w);
	free(w);
}

static void forward_held_aborted(struct http_conn *hc, void *arg)
{
	forward_held_free(arg);
}

/* Lets go of <w>: its client is for the caller to answer. */
static struct http_conn *forward_held_release(struct forward_held *w)
{
	struct http_conn *client = w->client;

	http_set_abort(client, NULL, NULL);
	forward_held_free(w);
	return client;
}

static void forward_unknown(struct http_conn *client)
{
	metrics_inc(route_unknown_instance_total);
	http_respond_error_code(client, 400, 1, "Session ID unknown");
}

static void forward_hold_expired(struct timeq_entry *e)
{
	forward_unknown(forward_held_release(timeq_owner(e, struct forward_held, wait)));
}

void forward_hold(struct http_conn *hc, struct http_request *req)
{
	const char *sid = "";
	size_t len = 0;
	struct forward_held *w = NULL;

	/* One holder per request, as in forward_request(). */
	if (http_is_held(hc)) {
		log_limited(LOG_LEVEL_ERROR, "a request held twice, the second dropped\tconn=%llu",
			    (unsigned long long)http_conn_peek(hc)->id);
		return;
	}
	(void)http_query_param(req, "sid", &sid, &len);
	if (forward.stopping || len < SID_INSTANCE_LEN) {
		forward_unknown(hc);
		return;
	}
	if (forward.n_held >= FORWARD_MAX_HELD || !(w = calloc(1, sizeof *w))) {
		metrics_inc(route_held_overflow_total);
		forward_unknown(hc);
		return;
	}
	w->client = hc;
	w->req = req;
	memcpy(w->peer_id, sid, SID_INSTANCE_LEN);
	w->next = forward.held;
	if (forward.held)
		forward.held->prev = w;
	forward.held = w;
	forward.n_held++;
	metrics_gauge_add(route_held, 1);
	metrics_inc(route_held_total);
	http_set_abort(hc, forward_held_aborted, w);
	timeq_start(&forward.hold_q, &w->wait);
	route_ask();
}

/* The requests held for <peer_id>, taken off the list (so that answering
 * one cannot touch the walk) and linked through ->next; the caller
 * answers each and frees it. */
static struct forward_held *forward_held_take(const char *peer_id)
{
	struct forward_held *w, *next, *taken = NULL;

	for (w = forward.held; w; w = next) {
		next = w->next;
		if (memcmp(w->peer_id, peer_id, SID_INSTANCE_LEN) != 0)
			continue;
		http_set_abort(w->client, NULL, NULL);
		forward_held_unlink(w);
		w->next = taken;
		taken = w;
	}
	return taken;
}

/* Answers the requests held for <peer_id>: each is sent to <peer>, or,
 * with NULL (the instance left), gets code 1. */
static void forward_held_settle(const char *peer_id, const struct route_peer *peer)
{
	struct forward_held *w = forward_held_take(peer_id), *next;

	for (; w; w = next) {
		next = w->next;
		if (peer)
			forward_request(w->client, w->req, peer);
		else
			forward_unknown(w->client);
		free(w);
	}
}

/* <peer> was heard: the requests held for it are sent to it. */
static void forward_peer_heard(const struct route_peer *peer)
{
	forward_held_settle(peer->id, peer);
}

/* --- peers and life ------------------------------------------------------ */

/* <peer> is gone: its upstreams are closed, their clients answered, and
 * so are the requests held for it. */
static void forward_peer_gone(const struct route_peer *peer)
{
	struct forward_pool *pool = forward_pool_find(peer->id);

	forward_held_settle(peer->id, NULL);
	for (struct forward_up *up = forward.all; up; up = up->next) {
		if (strcmp(up->peer_id, peer->id) != 0)
			continue;
		forward_idle_remove(up);
		up->no_retry = true;
		server_conn_close(up->c);
	}
	if (pool) {
		HASH_DEL(forward.pools, pool);
		free(pool);
	}
}

static const struct route_peer_hooks forward_peer_hooks = {
	.on_heard = forward_peer_heard,
	.on_gone = forward_peer_gone,
};

void forward_init(struct event_base *base, const struct config *cfg)
{
	if (!route_enabled())
		return;
	forward.base = base;
	forward.cfg = cfg;
	timeq_init(&forward.hold_q, base, FORWARD_HOLD_MS, forward_hold_expired);
	route_set_peer_hooks(&forward_peer_hooks);
}

void forward_cleanup(void)
{
	struct forward_pool *pool, *tmp;

	forward.stopping = true;
	while (forward.held)
		forward_unknown(forward_held_release(forward.held));
	if (forward.base)
		timeq_cleanup(&forward.hold_q);
	for (struct forward_up *up = forward.all; up; up = up->next) {
		forward_idle_remove(up);
		up->no_retry = true;
		server_conn_close(up->c);
	}
	HASH_ITER(hh, forward.pools, pool, tmp) {
		HASH_DEL(forward.pools, pool);
		free(pool);
	}
}
