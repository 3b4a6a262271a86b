/* server.c - listeners, connections, reads, buffered writes, flush, reap.
 *
 * Reads land in one buffer shared by the whole loop; a connection keeps its
 * own input buffer only while its handler leaves bytes unconsumed (a partial
 * request, or a pipelined one behind a held long-poll).  Writes only append
 * to the connection's output and put it on the pending list; the flush at
 * the end of the turn sends each connection's output with one writev and
 * watches write-readiness only where the kernel did not take everything.
 *
 * The common case of a broadcast, one shared frame to a connection with
 * nothing else queued, skips the connection's buffer: the frame is noted in
 * the turn's list of direct writes and written from the shared bytes at the
 * end of the turn, so a recipient costs no allocation.  Any other write to
 * that connection in the same turn first moves the frame into its buffer,
 * which keeps the order; what the kernel does not take goes there too.
 * Closing marks the connection and queues it; the reap at the end of the
 * turn calls the handler's on_close and frees it, so no handler ever sees a
 * connection freed under its feet.  A connection closed once its output is
 * flushed is then shut for writing (FIN) and drained, its input dropped,
 * until the peer closes too: closing with unread input would send a reset
 * that can destroy the last answer before the peer reads it.  The whole
 * wait is at most linger_timeout (one timeq for all of them), then the
 * connection is reset with the rest dropped: a peer that stops reading, or
 * never closes, cannot keep a descriptor, a slot and its output forever.
 *
 * Listeners are bound here, or taken from systemd (socket activation,
 * server_take_passed): a socket it passes is matched by its address to a
 * listen, admin_listen or cluster_listen line and serves as that line's.
 *
 * With max_connections_per_ip set, the open connections of each peer
 * address are counted in a hash (an entry per address with at least one,
 * freed at zero); IPv4 is kept in its IPv4-mapped IPv6 form, so both
 * spellings of an address share one count.  A connection past the limit
 * is refused at accept as past max_connections (503 and close).  The same
 * entry counts what the layers above let one address hold (sessions,
 * CONNECTs waiting for a backend: enum server_ip_what), each against its
 * own limit, so that an address is one entry whatever it holds.
 *
 * Behind a trusted balancer (trusted_proxies) the socket's peer is the
 * balancer: such a connection is not counted at accept, but under its
 * real client once that is known (server_conn_set_client(): the PROXY
 * header's source, or the X-Forwarded-For client of each request, which
 * http.c names), and its hash entry then holds that address for
 * server_conn_client() whatever the limit: the address every per-address
 * count above takes (http_client_address()).  On a proxy_protocol
 * listener a peer outside trusted_proxies is closed at accept; the
 * handler's on_open runs once the header is read, and a header not
 * complete within header_timeout closes the connection.  cluster_listen
 * takes no options, so it never reads a PROXY header: peers connect to the
 * address this instance announces, with no balancer between, and its
 * connections before the token count under their socket's peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <systemd/sd-daemon.h>
#include <uthash.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "proxyproto.h"
#include "realip.h"
#include "server.h"
#include "timeq.h"

/* One read per event, at most this much: bounds the work of one callback
 * (STYLE.md section 5) and the size of the shared read buffer. */
#define SERVER_READ_CHUNK (64 * 1024)
/* Accepts per listener event, so a connection storm cannot starve I/O. */
#define SERVER_ACCEPTS_PER_EVENT 64
/* Shared output up to this size is copied rather than referenced: a
 * reference costs a chain allocation, a small copy usually none. */
#define SERVER_COPY_MAX 512
/* Input a paused handler may leave unconsumed before reading stops. */
#define SERVER_MAX_HELD_INPUT(cfg) ((cfg)->max_header_size + (cfg)->max_payload + SERVER_READ_CHUNK)

/* Input a handler left unconsumed, kept until more arrives. */
struct server_input {
	size_t len, cap;
	uint8_t data[];
};

/* A shared frame to write to <c> as it is (see the top comment). */
struct server_direct {
	struct conn *c;               /* NULL once written, moved or dropped */
	const void *data;
	size_t len;
	void (*release)(const void *data, size_t len, void *arg);
	void *arg;
};

struct server_delay {
	struct timeq queue;           /* of struct server_wait */
};

/* A connection's wait on a timeq: for a flush delay, or for its peer to
 * take its last bytes (linger_timeout).  Allocated only while it waits,
 * so that a connection pays one pointer per kind of wait. */
struct server_wait {
	struct timeq_entry entry;
	struct conn *c;
	struct server_wait **slot;    /* the connection's pointer to it */
	const struct timeq *queue;    /* which wait it is */
};

/* What one client address holds (enum server_ip_what), and the
 * refusals it earned in its current window. */
struct server_ip {
	uint8_t addr[16];             /* IPv6, or IPv4-mapped IPv6: the hash key */
	uint32_t n[SERVER_IP_N];
	uint32_t n_refused;           /* in the window */
	struct timeq_entry window;    /* on server.refusals while refusals count */
	UT_hash_handle hh;
};

struct server_listener {
	int fd;
	struct event ev;
	const struct config_listen *cfg; /* a unix socket's file is removed at close */
	bool is_admin;                 /* admin_listen */
	bool is_peer;                  /* cluster_listen */
	bool listening;                /* listen() done (server_accept_clients()) */
	bool is_passed;                /* systemd's socket: its file stays for the next start */
	bool proxy_protocol;           /* each connection opens with a PROXY header */
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	const struct conn_handler *first_handler; /* of every accepted connection */
	struct server_listener listeners[CONFIG_MAX_LISTEN + 2]; /* admin_listen, cluster_listen */
	size_t n_listeners;
	int spare_fd;                 /* closed to accept-and-refuse when out of fds */
	struct conn *all;             /* every open connection */
	size_t n_conns;
	size_t n_clients;             /* of them, holding a max_connections slot */
	struct conn **unauth;         /* cluster_listen's before their token, oldest first */
	size_t n_unauth, unauth_cap;
	uint64_t next_id;
	struct conn *pending;         /* output to flush this turn */
	struct conn *input;           /* resumed with input held */
	struct conn *closing;         /* to free this turn */
	struct server_delay *hold;    /* the delay writes may wait for, NULL = none */
	struct timeq linger;          /* of struct server_wait, linger_timeout */
	struct timeq refusals;        /* of struct server_ip, SERVER_IP_REFUSAL_WINDOW_MS */
	struct timeq proxy_header;    /* of struct server_wait, header_timeout */
	struct server_ip *ips;        /* uthash head: addresses with open connections */
	struct server_direct *direct; /* this turn's direct writes; kept for the next */
	size_t n_direct, direct_cap;
	uint8_t read_buf[SERVER_READ_CHUNK];
} server;

static void server_conn_event_cb(evutil_socket_t fd, short what, void *arg);
static void server_conn_finish(struct conn *c);
static void server_accept_conn(int fd, const struct server_listener *sl, struct server_ip *ip);

static void server_conn_arm(struct conn *c)
{
	short what = EV_PERSIST;

	if (!c->read_paused && !c->closing && (!c->close_when_flushed || c->draining))
		what |= EV_READ;
	if (c->want_write)
		what |= EV_WRITE;
	if (event_initialized(&c->ev))
		event_del(&c->ev);
	if (!(what & (EV_READ | EV_WRITE)))
		return;
	event_assign(&c->ev, server.base, c->fd, what, server_conn_event_cb, c);
	if (event_add(&c->ev, NULL) < 0)
		log_error("event_add failed\tconn=%llu", (unsigned long long)c->id);
}

static void server_mark_pending(struct conn *c)
{
	if (c->on_pending_list)
		return;
	c->on_pending_list = true;
	c->next_pending = server.pending;
	server.pending = c;
}

/* Starts <c>'s wait in *<slot> on <q>, unless one is running there.
 * Returns 0, or -1 if memory ran out (no wait). */
static int server_wait_start(struct server_wait **slot, struct conn *c, struct timeq *q)
{
	struct server_wait *w;

	if (*slot)
		return 0;
	if (!(w = calloc(1, sizeof *w)))
		return -1;
	w->c = c;
	w->slot = slot;
	w->queue = q;
	*slot = w;
	timeq_start(q, &w->entry);
	return 0;
}

/* Ends the wait in *<slot>, if any, before its time. */
static void server_wait_stop(struct server_wait **slot)
{
	if (!*slot)
		return;
	timeq_stop(&(*slot)->entry);
	free(*slot);
	*slot = NULL;
}

/* The connection whose wait <e> has just ended; the wait is freed. */
static struct conn *server_wait_fired(struct timeq_entry *e)
{
	struct server_wait *w = timeq_owner(e, struct server_wait, entry);
	struct conn *c = w->c;

	*w->slot = NULL;
	free(w);
	return c;
}

static void server_held_fire(struct timeq_entry *e)
{
	server_mark_pending(server_wait_fired(e));
}

/* Output was added to <c>: flush it at the end of this turn, or when the
 * hold's delay has passed if one is held and <c> is not due already. */
static void server_output_added(struct conn *c)
{
	if (!server.hold || c->on_pending_list || c->close_when_flushed) {
		server_mark_pending(c);
		return;
	}
	if (server_wait_start(&c->wait, c, &server.hold->queue) < 0)
		server_mark_pending(c);
}

struct server_delay *server_delay_new(struct event_base *base, uint32_t ms)
{
	struct server_delay *d = malloc(sizeof *d);

	if (d)
		timeq_init(&d->queue, base, ms, server_held_fire);
	return d;
}

void server_delay_free(struct server_delay *d)
{
	if (!d)
		return;
	timeq_cleanup(&d->queue);
	free(d);
}

void server_hold(struct server_delay *d)
{
	server.hold = d;
}

/* Takes <c>'s direct write out of the turn's list: the caller writes,
 * moves or drops it. */
static struct server_direct server_direct_take(struct conn *c)
{
	struct server_direct *e = &server.direct[c->direct_slot - 1];
	struct server_direct d = *e;

	e->c = NULL;
	c->direct_slot = 0;
	return d;
}

/* Notes <data> as <c>'s direct write.  Returns 0, or -1 if the list cannot
 * grow (the caller queues the frame as usual). */
static int server_direct_add(struct conn *c, const void *data, size_t len,
			     void (*release)(const void *data, size_t len, void *arg), void *arg)
{
	if (server.n_direct == server.direct_cap) {
		size_t cap = server.direct_cap ? 2 * server.direct_cap : 256;
		struct server_direct *d = realloc(server.direct, cap * sizeof *d);
		if (!d)
			return -1;
		server.direct = d;
		server.direct_cap = cap;
	}
	server.direct[server.n_direct++] = (struct server_direct){ c, data, len, release, arg };
	c->direct_slot = (uint32_t)server.n_direct;
	return 0;
}

/* Puts <d>'s bytes from <off> on into <c>'s buffer (copied: the frame is
 * released now).  Returns 0, or -1 if memory ran out (<c> is closed). */
static int server_direct_to_buffer(struct conn *c, const struct server_direct *d, size_t off)
{
	int r = 0;

	if (!c->out && !(c->out = evbuffer_new()))
		r = -1;
	else if (evbuffer_add(c->out, (const uint8_t *)d->data + off, d->len - off) < 0)
		r = -1;
	d->release(d->data, d->len, d->arg);
	if (r < 0)
		server_conn_close(c);
	return r;
}

/* Makes room in <c>'s output for <len> more bytes: 0, or -1 if <c> is
 * closing or would pass max_output_buffer (it is then closed). */
static int server_output_reserve(struct conn *c, size_t len)
{
	if (c->closing)
		return -1;
	if (c->direct_slot) {
		struct server_direct d = server_direct_take(c);
		if (server_direct_to_buffer(c, &d, 0) < 0)
			return -1;
	}
	if (!c->out && !(c->out = evbuffer_new())) {
		server_conn_close(c);
		return -1;
	}
	if (evbuffer_get_length(c->out) + len > server.cfg->max_output_buffer) {
		metrics_inc(output_overflow_total);
		log_limited(LOG_LEVEL_WARN, "output passed max_output_buffer, closing\tconn=%llu "
			    "peer=%s max_output_buffer=%zu", (unsigned long long)c->id,
			    server_conn_peer(c), server.cfg->max_output_buffer);
		server_conn_close(c);
		return -1;
	}
	return 0;
}

int server_write(struct conn *c, const void *data, size_t len)
{
	if (server_output_reserve(c, len) < 0)
		return -1;
	if (evbuffer_add(c->out, data, len) < 0) {
		server_conn_close(c);
		return -1;
	}
	server_output_added(c);
	return 0;
}

int server_write_ref(struct conn *c, const void *data, size_t len,
		     void (*release)(const void *data, size_t len, void *arg), void *arg)
{
	/* Held output waits in the buffer, on the delay's timer. */
	if (!c->closing && !server.hold && !c->direct_slot && server_output_len(c) == 0 &&
	    len <= server.cfg->max_output_buffer && server_direct_add(c, data, len, release, arg) == 0)
		return 1;
	if (len <= SERVER_COPY_MAX)
		return server_write(c, data, len);
	if (server_output_reserve(c, len) < 0)
		return -1;
	if (evbuffer_add_reference(c->out, data, len, release, arg) < 0) {
		server_conn_close(c);
		return -1;
	}
	server_output_added(c);
	return 1;
}

size_t server_output_len(const struct conn *c)
{
	size_t direct = c->direct_slot ? server.direct[c->direct_slot - 1].len : 0;

	return direct + (c->out ? evbuffer_get_length(c->out) : 0);
}

bool server_conn_blocked(const struct conn *c)
{
	return c->want_write;
}

/* Writes as much of <c>'s output as the kernel takes.  Returns 0, or -1 if
 * the connection failed (it is then closed). */
static int server_conn_write(struct conn *c)
{
	if (c->connecting)
		return 0; /* the output waits for the connection (server_conn_connected()) */
	while (c->out && evbuffer_get_length(c->out) > 0) {
		int n = evbuffer_write_atmost(c->out, c->fd, -1);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			log_debug("write: %s\tconn=%llu", strerror(errno), (unsigned long long)c->id);
			evbuffer_drain(c->out, evbuffer_get_length(c->out));
			server_conn_close(c);
			return -1;
		}
		if (n == 0)
			break;
		metrics_add(bytes_sent_total, (uint64_t)n);
	}
	bool remains = c->out && evbuffer_get_length(c->out) > 0;
	if (!remains && !c->close_when_flushed)
		server_wait_stop(&c->wait);   /* the flush delay: what it waited for has gone */
	if (!remains && c->out) {
		/* Drained buffers go back to the allocator: idle connections
		 * should cost as little as possible (STYLE.md section 6). */
		evbuffer_free(c->out);
		c->out = NULL;
	}
	if (remains != c->want_write && !c->closing) {
		c->want_write = remains;
		server_conn_arm(c);
	}
	if (!remains && c->close_when_flushed)
		server_conn_finish(c);
	return 0;
}

static size_t server_input_len(const struct conn *c)
{
	return c->in ? c->in->len : 0;
}

static void server_conn_keep_input(struct conn *c, const uint8_t *data, size_t len)
{
	if (len == 0) {
		free(c->in);
		c->in = NULL;
		return;
	}
	if (c->in && data >= c->in->data && data < c->in->data + c->in->cap) {
		memmove(c->in->data, data, len);
		c->in->len = len;
		return;
	}
	/* From the shared buffer: the connection keeps its own copy. */
	struct server_input *in = malloc(sizeof *in + len);
	if (!in) {
		server_conn_close(c);
		return;
	}
	memcpy(in->data, data, len);
	in->len = in->cap = len;
	free(c->in);
	c->in = in;
}

static const char server_busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
				  "Connection: close\r\nContent-Length: 0\r\n\r\n";

/* Reads <c>'s PROXY header from the start of its input (<len> bytes):
 * once it is complete, the client it names becomes <c>'s and the
 * handler's on_open runs.  Returns the bytes the header took, all of
 * them if <c> was refused (its client past max_connections_per_ip: 503,
 * closed once written), or 0 while the header is incomplete or if <c>
 * was closed (a malformed header). */
static size_t server_proxy_header(struct conn *c, const uint8_t *data, size_t len)
{
	struct proxyproto_addr pa;
	ssize_t n = proxyproto_parse(data, len, &pa);

	if (n == 0)
		return 0;
	if (n < 0) {
		metrics_inc(proxy_protocol_bad_total);
		log_limited(LOG_LEVEL_INFO, "bad PROXY protocol header, closing\tconn=%llu peer=%s",
			    (unsigned long long)c->id, server_conn_peer(c));
		server_conn_close(c);
		return 0;
	}
	server_wait_stop(&c->wait);
	c->awaits_proxy = false;
	/* LOCAL, UNKNOWN: the balancer's own connection (a health check). */
	if (!pa.local && server_conn_set_client(c, pa.addr, pa.port) < 0) {
		if (server_write(c, server_busy, sizeof server_busy - 1) == 0)
			server_conn_close_when_flushed(c);
		return len;
	}
	if (c->handler->on_open(c) < 0) {
		server_conn_close(c);
		return 0;
	}
	return (size_t)n;
}

/* A proxy_protocol listener's connection sent no whole header in time. */
static void server_proxy_timeout(struct timeq_entry *e)
{
	struct conn *c = server_wait_fired(e);

	metrics_inc(proxy_protocol_timeouts_total);
	log_debug("no PROXY protocol header within header_timeout\tconn=%llu peer=%s",
		  (unsigned long long)c->id, server_conn_peer(c));
	server_conn_close(c);
}

/* Offers <data> to the handler, and the rest to a new handler after an
 * upgrade.  Returns 0, or -1 if the connection closed. */
static int server_conn_deliver(struct conn *c, uint8_t *data, size_t len)
{
	size_t off = 0;

	if (c->awaits_proxy && (off = server_proxy_header(c, data, len)) == 0 && c->closing)
		return -1;
	while (off < len && !c->closing && !c->read_paused && !c->awaits_proxy) {
		const struct conn_handler *h = c->handler;
		ssize_t used = h->on_data(c, data + off, len - off);
		if (used < 0 || c->closing)
			return -1;
		off += (size_t)used;
		if (c->handler == h)
			break;
	}
	server_conn_keep_input(c, data + off, len - off);
	if (server_input_len(c) > SERVER_MAX_HELD_INPUT(server.cfg) && !c->read_paused) {
		c->read_paused = true;
		server_conn_arm(c);
	}
	return 0;
}

/* A draining connection's input is read and dropped until the peer closes
 * (server_conn_finish()). */
static void server_conn_drain(struct conn *c)
{
	ssize_t n = read(c->fd, server.read_buf, sizeof server.read_buf);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0)
		server_conn_close(c);
}

static void server_conn_read(struct conn *c)
{
	uint8_t *buf;
	size_t room;

	if (c->draining) {
		server_conn_drain(c);
		return;
	}
	if (!c->in) {
		buf = server.read_buf;
		room = sizeof server.read_buf;
	} else {
		if (c->in->cap - c->in->len < SERVER_READ_CHUNK) {
			size_t cap = c->in->len + SERVER_READ_CHUNK;
			struct server_input *in = realloc(c->in, sizeof *in + cap);
			if (!in) {
				server_conn_close(c);
				return;
			}
			c->in = in;
			c->in->cap = cap;
		}
		buf = c->in->data + c->in->len;
		room = SERVER_READ_CHUNK;
	}
	ssize_t n = read(c->fd, buf, room);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (n < 0)
			log_debug("read: %s\tconn=%llu", strerror(errno), (unsigned long long)c->id);
		server_conn_close(c);
		return;
	}
	metrics_add(bytes_received_total, (uint64_t)n);
	if (buf == server.read_buf) {
		(void)server_conn_deliver(c, buf, (size_t)n);
	} else {
		c->in->len += (size_t)n;
		(void)server_conn_deliver(c, c->in->data, c->in->len);
	}
}

/* An outgoing connection's connect has ended.  Returns 0, or -1 if it
 * failed (the connection is then closed). */
static int server_conn_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		log_debug("connect: %s\tconn=%llu", strerror(err), (unsigned long long)c->id);
		server_conn_close(c);
		return -1;
	}
	c->connecting = false;
	return 0;
}

static void server_conn_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	if ((what & EV_WRITE) && c->connecting && server_conn_connected(c) < 0)
		return;
	if ((what & EV_WRITE) && server_conn_write(c) < 0)
		return;
	if ((what & EV_READ) && !c->closing)
		server_conn_read(c);
}

void server_conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->want_write = false;
	event_del(&c->ev);
	c->next_closing = server.closing;
	server.closing = c;
}

/* linger_timeout passed with output still unsent: the peer is not reading.
 * A reset (SO_LINGER 0) drops what the kernel holds for it too. */
static void server_linger_fire(struct timeq_entry *e)
{
	struct conn *c = server_wait_fired(e);
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	metrics_inc(connections_linger_expired_total);
	log_debug("linger_timeout, %zu bytes unsent, reset\tconn=%llu peer=%s", server_output_len(c),
		  (unsigned long long)c->id, server_conn_peer(c));
	(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
	c->reset_on_free = true;
	server_conn_close(c);
}

/* Starts <c>'s linger_timeout, unless it runs already.  Without memory
 * for it, <c> is closed now: its last bytes are lost, but no wait goes
 * unbounded.  Returns 0, or -1 if <c> was closed. */
static int server_linger_start(struct conn *c)
{
	/* A flush delay's wait gives way: a closing connection flushes now. */
	if (c->wait && c->wait->queue != &server.linger) {
		server_wait_stop(&c->wait);
		server_mark_pending(c);
	}
	if (server_wait_start(&c->wait, c, &server.linger) == 0)
		return 0;
	server_conn_close(c);
	return -1;
}

/* <c>'s last bytes are written: its side is shut (FIN), and what the peer
 * still sends is read and dropped until it closes too, or linger_timeout
 * passes.  Closing at once with unread input would send a reset, which
 * may destroy the answer (a 413, a 400 given from a request's head, a
 * WebSocket close) before the peer has read it: nginx's lingering close. */
static void server_conn_finish(struct conn *c)
{
	if (c->draining || c->closing)
		return;
	if (shutdown(c->fd, SHUT_WR) < 0) {
		server_conn_close(c);
		return;
	}
	if (server_linger_start(c) < 0)
		return;
	c->draining = true;
	c->read_paused = false;
	free(c->in);
	c->in = NULL;
	server_conn_arm(c);
}

void server_conn_close_when_flushed(struct conn *c)
{
	if (c->closing || c->close_when_flushed)
		return;
	c->close_when_flushed = true;
	if (server_output_len(c) == 0) {
		server_conn_finish(c);
		return;
	}
	if (server_linger_start(c) == 0)
		server_conn_arm(c);
}

void server_conn_pause_read(struct conn *c)
{
	if (c->read_paused || c->closing)
		return;
	c->read_paused = true;
	server_conn_arm(c);
}

void server_conn_resume_read(struct conn *c)
{
	if (c->closing)
		return;
	if (c->read_paused) {
		c->read_paused = false;
		server_conn_arm(c);
	}
	if (c->in && !c->on_input_list) {
		c->on_input_list = true;
		c->next_input = server.input;
		server.input = c;
	}
}

unsigned server_conn_peer_address(const struct conn *c, char host[INET6_ADDRSTRLEN])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (c->has_client) {
		realip_format(c->ip->addr, host);
		return c->client_port;
	}
	strcpy(host, "?");
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, INET6_ADDRSTRLEN);
		return ntohs(sin->sin_port);
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, INET6_ADDRSTRLEN);
		return ntohs(sin6->sin6_port);
	}
	if (ss.ss_family == AF_UNIX)
		strcpy(host, "unix");
	return 0;
}

const char *server_conn_peer(const struct conn *c)
{
	static char text[INET6_ADDRSTRLEN + 8];
	char host[INET6_ADDRSTRLEN];
	unsigned port = server_conn_peer_address(c, host);

	/* An X-Forwarded-For client has no port. */
	if (c->has_client && port == 0)
		snprintf(text, sizeof text, "%s", host);
	else
		snprintf(text, sizeof text, "%s:%u", host, port);
	return text;
}

bool server_conn_client(const struct conn *c, uint8_t addr[16], uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (c->has_client) {
		memcpy(addr, c->ip->addr, 16);
		*port = c->client_port;
		return true;
	}
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0 || !realip_key(&ss, addr))
		return false;
	*port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					      : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return true;
}

size_t server_conn_count(void)
{
	return server.n_conns;
}

bool server_output_pending(void)
{
	for (struct conn *c = server.all; c; c = c->next) {
		if (server_output_len(c) > 0 && !c->closing)
			return true;
	}
	return false;
}

/* <addr>'s entry (realip.h), NULL if it has none. */
static struct server_ip *server_ip_find(const uint8_t addr[16])
{
	struct server_ip *ip = NULL;

	HASH_FIND(hh, server.ips, addr, sizeof ip->addr, ip);
	return ip;
}

/* <addr>'s entry, made if it has none; NULL if memory ran out. */
static struct server_ip *server_ip_get(const uint8_t addr[16])
{
	struct server_ip *ip = server_ip_find(addr);

	if (ip || !(ip = calloc(1, sizeof *ip)))
		return ip;
	memcpy(ip->addr, addr, sizeof ip->addr);
	HASH_ADD(hh, server.ips, addr, sizeof ip->addr, ip);
	return ip;
}

/* Frees <ip> if it counts nothing any more. */
static void server_ip_put(struct server_ip *ip)
{
	for (int i = 0; i < SERVER_IP_N; i++) {
		if (ip->n[i])
			return;
	}
	if (timeq_running(&ip->window))
		return;
	HASH_DEL(server.ips, ip);
	free(ip);
}

struct server_ip *server_ip_take(const uint8_t *addr, enum server_ip_what what,
				 uint32_t max, bool *refused)
{
	struct server_ip *ip;

	*refused = false;
	if (!max || !addr)
		return NULL;
	ip = server_ip_get(addr);
	if (!ip || ip->n[what] >= max) {
		*refused = true;
		return NULL;
	}
	ip->n[what]++;
	return ip;
}

void server_ip_release(struct server_ip *ip, enum server_ip_what what)
{
	if (!ip)
		return;
	ip->n[what]--;
	server_ip_put(ip);
}

void server_ip_refusal(const uint8_t *addr, uint32_t max)
{
	struct server_ip *ip;

	if (!max || !addr || !(ip = server_ip_get(addr)))
		return;
	if (!timeq_running(&ip->window))
		timeq_start(&server.refusals, &ip->window);
	if (ip->n_refused < UINT32_MAX)
		ip->n_refused++;
}

bool server_ip_refused_enough(const uint8_t *addr, uint32_t max)
{
	struct server_ip *ip;

	if (!max || !addr || !(ip = server_ip_find(addr)))
		return false;
	return ip->n_refused >= max;
}

/* An address's refusal window has passed: it starts again from none. */
static void server_ip_window_fire(struct timeq_entry *e)
{
	struct server_ip *ip = timeq_owner(e, struct server_ip, window);

	ip->n_refused = 0;
	server_ip_put(ip);
}

/* <c> leaves the list of cluster_listen's connections without a token: a
 * scan, of at most cluster_max_unauthenticated entries. */
static void server_unauthenticated_end(struct conn *c)
{
	size_t i = 0;

	if (!c->unauthenticated)
		return;
	c->unauthenticated = false;
	while (server.unauth[i] != c)
		i++;
	memmove(&server.unauth[i], &server.unauth[i + 1], (--server.n_unauth - i) * sizeof *server.unauth);
	metrics_gauge_add(route_unauthenticated, -1);
	server_ip_release(c->ip, SERVER_IP_UNAUTHENTICATED);
	c->ip = NULL;
}

void server_conn_authenticated(struct conn *c)
{
	server_unauthenticated_end(c);
}

/* Frees the entries only refusal windows kept (shutdown). */
static void server_ip_cleanup(void)
{
	struct server_ip *ip, *tmp;

	HASH_ITER(hh, server.ips, ip, tmp) {
		timeq_stop(&ip->window);
		server_ip_put(ip);
	}
	timeq_cleanup(&server.refusals);
}

static void server_conn_free(struct conn *c)
{
	if (c->handler && c->handler->on_close)
		c->handler->on_close(c);
	/* Best effort: whatever the kernel takes now is sent, the rest of a
	 * closing connection's output is dropped. */
	if (c->out) {
		if (!c->reset_on_free)
			(void)evbuffer_write_atmost(c->out, c->fd, -1);
		evbuffer_free(c->out);
	}
	event_del(&c->ev);
	close(c->fd);
	server_wait_stop(&c->wait);
	if (c->direct_slot) {
		struct server_direct d = server_direct_take(c);
		d.release(d.data, d.len, d.arg);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		server.all = c->next;
	if (c->next)
		c->next->prev = c->prev;
	server.n_conns--;
	server.n_clients -= c->client_slot;
	server_unauthenticated_end(c);
	server_ip_release(c->ip, SERVER_IP_CONNECTIONS);
	metrics_gauge_add(connections_current, -1);
	free(c->in);
	free(c);
}

/* Writes <d> to <c>; what the kernel does not take goes to <c>'s buffer,
 * to be written as any other output. */
static void server_direct_write(struct conn *c, const struct server_direct *d)
{
	ssize_t n;

	do
		n = write(c->fd, d->data, d->len);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		log_debug("write: %s\tconn=%llu", strerror(errno), (unsigned long long)c->id);
		d->release(d->data, d->len, d->arg);
		server_conn_close(c);
		return;
	}
	if (n > 0)
		metrics_add(bytes_sent_total, (uint64_t)n);
	if (n == (ssize_t)d->len) {
		d->release(d->data, d->len, d->arg);
		if (c->close_when_flushed && server_output_len(c) == 0)
			server_conn_finish(c);
		return;
	}
	if (server_direct_to_buffer(c, d, n > 0 ? (size_t)n : 0) == 0)
		server_mark_pending(c);
}

/* The turn's direct writes, before the buffered ones: a connection is in
 * one list or the other, never both. */
static void server_direct_flush(void)
{
	for (size_t i = 0; i < server.n_direct; i++) {
		struct conn *c = server.direct[i].c;
		if (!c)
			continue;
		struct server_direct d = server_direct_take(c);
		if (c->closing) {
			/* Best effort, as server_conn_free() gives a buffer. */
			(void)!write(c->fd, d.data, d.len);
			d.release(d.data, d.len, d.arg);
		} else {
			server_direct_write(c, &d);
		}
	}
	server.n_direct = 0;
}

void server_after_turn(void)
{
	while (server.input) {
		struct conn *c = server.input;
		server.input = c->next_input;
		c->on_input_list = false;
		if (c->closing || c->read_paused || !c->in)
			continue;
		(void)server_conn_deliver(c, c->in->data, c->in->len);
	}
	server_direct_flush();
	while (server.pending) {
		struct conn *c = server.pending;
		server.pending = c->next_pending;
		c->on_pending_list = false;
		if (!c->closing)
			(void)server_conn_write(c);
	}
	while (server.closing) {
		struct conn *c = server.closing;
		server.closing = c->next_closing;
		server_conn_free(c);
	}
}

bool server_has_work(void)
{
	return server.pending || server.closing || server.input || server.n_direct;
}

/* Best-effort refusal of a connection we cannot take: the write is not
 * checked because the socket is closed right after either way.  The
 * caller counts it. */
static void server_refuse(int fd)
{
	(void)!write(fd, server_busy, sizeof server_busy - 1);
	close(fd);
}

/* Whether a limit's warning may be logged now: at most once a second per
 * limit (<last> is the limit's own), the counter keeps the exact count. */
static bool server_warn_due(time_t *last)
{
	time_t now = time(NULL);

	if (now == *last)
		return false;
	*last = now;
	return true;
}

/* A connection was refused past max_connections_per_ip: counted, and
 * logged at most once a second. */
static void server_ip_refused(void)
{
	static time_t last_warn;

	if (server_warn_due(&last_warn))
		log_warn("max_connections_per_ip (%u) reached by an address, refusing its connections",
			 server.cfg->max_connections_per_ip);
	metrics_inc(connections_rejected_per_ip_total);
}

int server_conn_set_client(struct conn *c, const uint8_t addr[16], uint16_t port)
{
	if (!c->ip || memcmp(c->ip->addr, addr, sizeof c->ip->addr) != 0) {
		/* Without a limit the entry is still taken: it holds the address. */
		uint32_t max = server.cfg->max_connections_per_ip;
		bool refused;
		struct server_ip *ip = server_ip_take(addr, SERVER_IP_CONNECTIONS, max ? max : UINT32_MAX,
						      &refused);
		if (!ip) {
			server_ip_refused();
			return -1;
		}
		server_ip_release(c->ip, SERVER_IP_CONNECTIONS);
		c->ip = ip;
	}
	c->has_client = true;
	c->client_port = port;
	return 0;
}

void server_conn_clear_client(struct conn *c)
{
	server_ip_release(c->ip, SERVER_IP_CONNECTIONS);
	c->ip = NULL;
	c->has_client = false;
	c->client_port = 0;
}

/* A connection on <fd>, linked in and counted; not armed yet. */
static struct conn *server_conn_new(int fd, const struct conn_handler *handler)
{
	struct conn *c = calloc(1, sizeof *c);
	int one = 1;

	if (!c)
		return NULL;
	/* Engine.IO packets are small and latency matters more than
	 * segment count; the flush already batches a turn's output. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->fd = fd;
	c->id = (uint32_t)++server.next_id;
	c->handler = handler;
	c->next = server.all;
	if (server.all)
		server.all->prev = c;
	server.all = c;
	server.n_conns++;
	metrics_gauge_add(connections_current, 1);
	return c;
}

/* Makes room for one more connection on cluster_listen without a token:
 * past cluster_max_unauthenticated the oldest is closed.  A peer shows
 * its token with its first request, at once; the oldest is an idle one
 * that has not, and refusing the newcomer instead would let a few
 * addresses lock every peer's new connections out.  Returns 0, or -1 if
 * memory ran out. */
static int server_unauthenticated_room(void)
{
	static time_t last_warn;

	while (server.n_unauth && server.n_unauth >= server.cfg->cluster_max_unauthenticated) {
		struct conn *oldest = server.unauth[0];
		if (server_warn_due(&last_warn))
			log_warn("cluster_listen: cluster_max_unauthenticated (%u) reached, closing the "
				 "oldest connection without the cluster's token",
				 server.cfg->cluster_max_unauthenticated);
		metrics_inc(route_unauthenticated_evicted_total);
		server_unauthenticated_end(oldest);
		server_conn_close(oldest);
	}
	if (server.n_unauth == server.unauth_cap) {
		size_t cap = server.unauth_cap ? 2 * server.unauth_cap : 64;
		struct conn **grown = realloc(server.unauth, cap * sizeof *grown);
		if (!grown)
			return -1;
		server.unauth = grown;
		server.unauth_cap = cap;
	}
	return 0;
}

/* Counts a connection on cluster_listen: until it shows the cluster's
 * token it is anyone's, and holds a place among cluster_max_unauthenticated
 * and one of its address's cluster_max_unauthenticated_per_ip instead of
 * a client's slot (idle connections without a token must not lock clients
 * out).  Returns its address's entry, or NULL with *<refused> set. */
static struct server_ip *server_unauthenticated_take(const uint8_t *addr, bool *refused)
{
	static time_t last_warn;
	const struct config *cfg = server.cfg;
	struct server_ip *ip = server_ip_take(addr, SERVER_IP_UNAUTHENTICATED,
					      cfg->cluster_max_unauthenticated_per_ip, refused);

	if (*refused) {
		if (server_warn_due(&last_warn))
			log_warn("cluster_listen: cluster_max_unauthenticated_per_ip (%u) reached by an "
				 "address, refusing its connections", cfg->cluster_max_unauthenticated_per_ip);
		metrics_inc(route_unauthenticated_rejected_total);
	} else if (server_unauthenticated_room() < 0) {
		server_ip_release(ip, SERVER_IP_UNAUTHENTICATED);
		*refused = true;
		ip = NULL;
	}
	return ip;
}

/* Whether <sa> may connect to <sl>: on a proxy_protocol listener, only a
 * trusted balancer; anyone else is closed unread, as nginx refuses a
 * connection without the header there. */
static bool server_proxy_allowed(const struct server_listener *sl, const struct sockaddr_storage *sa)
{
	uint8_t key[16];
	char host[INET6_ADDRSTRLEN];

	if (!sl->proxy_protocol || realip_trusted_peer(server.cfg, sa))
		return true;
	realip_format(realip_key(sa, key) ? key : NULL, host);
	metrics_inc(proxy_protocol_refused_total);
	log_limited(LOG_LEVEL_WARN, "connection to a proxy_protocol listener from outside "
		    "trusted_proxies, closed\tpeer=%s listen=%s", host, sl->cfg->text);
	return false;
}

/* The count a new client connection from <addr> (NULL: a unix socket's
 * peer) joins: NULL with *<refused> false when it is not counted at
 * accept.  A trusted balancer's connection is counted under its client
 * once that is known (server_conn_set_client()). */
static struct server_ip *server_accept_ip(const uint8_t *addr, bool *refused)
{
	*refused = false;
	if (addr && realip_trusted(server.cfg, addr))
		return NULL;
	return server_ip_take(addr, SERVER_IP_CONNECTIONS, server.cfg->max_connections_per_ip, refused);
}

static void server_accept_one(int fd, const struct sockaddr_storage *sa,
			      const struct server_listener *sl)
{
	static time_t last_warn_total;
	bool refused = false;
	uint8_t key[16];
	const uint8_t *addr = realip_key(sa, key) ? key : NULL;

	/* cluster_listen is never a proxy_protocol listener (no options). */
	if (sl->is_peer) {
		struct server_ip *ip = server_unauthenticated_take(addr, &refused);
		if (!refused)
			server_accept_conn(fd, sl, ip);
		else
			server_refuse(fd);
		return;
	}
	if (!server_proxy_allowed(sl, sa)) {
		close(fd);
		return;
	}
	if (server.n_clients >= server.cfg->max_connections) {
		if (server_warn_due(&last_warn_total))
			log_warn("max_connections (%u) reached, refusing connections",
				 server.cfg->max_connections);
		server_refuse(fd);
		metrics_inc(connections_rejected_total);
		return;
	}
	struct server_ip *ip = server_accept_ip(addr, &refused);
	if (refused) {
		server_ip_refused();
		server_refuse(fd);
		return;
	}
	server_accept_conn(fd, sl, ip);
}

/* Opens the connection accepted on <fd>, which holds <ip>'s count of its
 * kind (a client's, or cluster_listen's before its token). */
static void server_accept_conn(int fd, const struct server_listener *sl, struct server_ip *ip)
{
	struct conn *c = server_conn_new(fd, server.first_handler);
	if (!c) {
		server_ip_release(ip, sl->is_peer ? SERVER_IP_UNAUTHENTICATED : SERVER_IP_CONNECTIONS);
		server_refuse(fd);
		metrics_inc(connections_rejected_total);
		return;
	}
	c->ip = ip;
	c->is_admin = sl->is_admin;
	c->is_peer = sl->is_peer;
	c->client_slot = !sl->is_peer;
	c->unauthenticated = sl->is_peer;
	server.n_clients += c->client_slot;
	if (c->unauthenticated) {
		server.unauth[server.n_unauth++] = c; /* room was made */
		metrics_gauge_add(route_unauthenticated, 1);
	}
	metrics_inc(connections_accepted_total);
	server_conn_arm(c);
	if (sl->proxy_protocol) {
		/* on_open once the header is read (server_proxy_header()) */
		c->awaits_proxy = true;
		if (server_wait_start(&c->wait, c, &server.proxy_header) < 0)
			server_conn_close(c);
		return;
	}
	if (c->handler->on_open(c) < 0)
		server_conn_close(c);
}

struct conn *server_connect(const struct sockaddr *addr, socklen_t len,
			    const struct conn_handler *handler, void *ctx)
{
	int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return NULL;
	if (connect(fd, addr, len) < 0 && errno != EINPROGRESS) {
		int err = errno;
		close(fd);
		errno = err;
		return NULL;
	}
	struct conn *c = server_conn_new(fd, handler);
	if (!c) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	c->ctx = ctx;
	c->connecting = true;
	c->want_write = true;
	server_conn_arm(c);
	return c;
}

static void server_accept_cb(evutil_socket_t lfd, short what, void *arg)
{
	const struct server_listener *sl = arg;

	for (int i = 0; i < SERVER_ACCEPTS_PER_EVENT; i++) {
		struct sockaddr_storage sa;
		socklen_t sa_len = sizeof sa;
		int fd = accept4(lfd, (struct sockaddr *)&sa, &sa_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			server_accept_one(fd, &sa, sl);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			/* Out of descriptors: free the spare one to accept and
			 * refuse, so the client is told instead of left waiting
			 * in the backlog while we spin on the listener. */
			metrics_inc(connections_accept_errors_total);
			if (server.spare_fd >= 0) {
				close(server.spare_fd);
				fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd >= 0) {
					server_refuse(fd);
					metrics_inc(connections_rejected_total);
				}
				server.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			}
			log_warn("accept: %s", strerror(errno));
		}
		break;
	}
}

static const char *server_unix_path(const struct config_listen *l)
{
	return l->addr.ss_family == AF_UNIX ? ((const struct sockaddr_un *)&l->addr)->sun_path
					    : NULL;
}

/* Binds a unix socket's file: one left by a daemon that did not exit
 * cleanly is replaced, anything else at the path is not; the file gets
 * the listener's mode (not the umask's: the balancer runs as another
 * user).  Returns bind()'s result. */
static int server_bind_unix(int fd, const struct config_listen *l)
{
	const char *path = server_unix_path(l);
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	if (bind(fd, (const struct sockaddr *)&l->addr, l->addr_len) < 0)
		return -1;
	return chmod(path, l->mode);
}

/* listen() on <sl> and accept from it. */
static int server_accept_on(struct server_listener *sl)
{
	/* systemd's socket listens already, and its backlog has waited for us */
	if (!sl->is_passed && listen(sl->fd, SOMAXCONN) < 0) {
		log_error("listen %s: %s", sl->cfg->text, strerror(errno));
		return -1;
	}
	event_assign(&sl->ev, server.base, sl->fd, EV_READ | EV_PERSIST, server_accept_cb, sl);
	if (event_add(&sl->ev, NULL) < 0) {
		log_error("listen %s: event_add failed", sl->cfg->text);
		return -1;
	}
	sl->listening = true;
	log_info("listening on %s%s%s", sl->cfg->text,
		 sl->is_admin ? " (admin: /metrics, /healthz)"
		 : sl->is_peer ? " (cluster: peers' requests)"
		 : sl->proxy_protocol ? " (PROXY protocol from trusted_proxies)" : "",
		 sl->is_passed ? " (socket from systemd)" : "");
	return 0;
}

/* A socket of its own for <l>, bound (listen() comes with accepting:
 * server_accept_on()), or -1 (logged). */
static int server_bind_one(const struct config_listen *l)
{
	int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0) {
		log_error("listen %s: socket: %s", l->text, strerror(errno));
		return -1;
	}
	if (l->addr.ss_family != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (l->addr.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if ((l->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) ||
	    (l->addr.ss_family == AF_UNIX ? server_bind_unix(fd, l)
					  : bind(fd, (const struct sockaddr *)&l->addr, l->addr_len)) < 0) {
		log_error("listen %s: %s", l->text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Listens on <l> with <passed_fd>, systemd's socket for it, or with a
 * socket of its own when that is -1. */
static int server_listen_one(const struct config_listen *l, bool is_admin, bool is_peer,
			     int passed_fd)
{
	int fd = passed_fd >= 0 ? passed_fd : server_bind_one(l);

	if (fd < 0)
		return -1;
	if (passed_fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		log_error("listen %s: systemd's socket: %s", l->text, strerror(errno));
		return -1;
	}
	struct server_listener *sl = &server.listeners[server.n_listeners++];
	sl->fd = fd;
	sl->cfg = l;
	sl->is_admin = is_admin;
	sl->is_peer = is_peer;
	sl->is_passed = passed_fd >= 0;
	sl->proxy_protocol = l->proxy_protocol;
	return is_peer ? server_accept_on(sl) : 0;
}

int server_accept_clients(void)
{
	for (size_t i = 0; i < server.n_listeners; i++) {
		struct server_listener *sl = &server.listeners[i];
		if (sl->fd >= 0 && !sl->listening && server_accept_on(sl) < 0)
			return -1;
	}
	return 0;
}

/* Whether the socket <fd> is bound to <l>'s address: the same family,
 * address and port, or the same unix path. */
static bool server_fd_is_at(int fd, const struct config_listen *l)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 || ss.ss_family != l->addr.ss_family)
		return false;
	if (ss.ss_family == AF_UNIX)
		return strcmp(((struct sockaddr_un *)&ss)->sun_path, server_unix_path(l)) == 0;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
		const struct sockaddr_in *b = (const struct sockaddr_in *)&l->addr;
		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
	const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&l->addr;
	return ss.ss_family == AF_INET6 && a->sin6_port == b->sin6_port &&
	       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
}

/* The address socket <fd> is bound to, for a log line. */
static const char *server_fd_address(int fd)
{
	static char text[sizeof(struct sockaddr_storage) + 16];
	char host[INET6_ADDRSTRLEN] = "?";
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	memset(&ss, 0, sizeof ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		snprintf(text, sizeof text, "?");
	else if (ss.ss_family == AF_UNIX)
		snprintf(text, sizeof text, "unix:%s", ((struct sockaddr_un *)&ss)->sun_path);
	else if (ss.ss_family == AF_INET)
		snprintf(text, sizeof text, "%s:%u",
			 inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host),
			 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	else if (ss.ss_family == AF_INET6)
		snprintf(text, sizeof text, "[%s]:%u",
			 inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host),
			 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	else
		snprintf(text, sizeof text, "family %d", (int)ss.ss_family);
	return text;
}

/* Socket activation (roomcastd.socket): systemd holds the listening
 * sockets across restarts and binds ports below 1024, and passes them as
 * descriptors 3... with $LISTEN_FDS.  Each is matched to the line of <l>
 * (<n> lines) bound to its address, into <fds> (-1: none passed; that
 * line binds its own).  A passed socket that is not a listening stream,
 * matches no line or the same line as another is refused: connections
 * would queue on it that nobody accepts.  Returns 0, or -1 (logged). */
static int server_take_passed(const struct config_listen *const *l, size_t n, int *fds)
{
	int n_passed = sd_listen_fds(1);

	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	if (n_passed < 0) {
		log_error("socket activation: %s", strerror(-n_passed));
		return -1;
	}
	for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n_passed; fd++) {
		size_t i = 0;
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			log_error("socket activation: descriptor %d (%s) is not a listening stream "
				  "socket (ListenStream= in roomcastd.socket)", fd, server_fd_address(fd));
			return -1;
		}
		while (i < n && !server_fd_is_at(fd, l[i]))
			i++;
		if (i == n || fds[i] >= 0) {
			log_error("socket activation: systemd passed %s, %s", server_fd_address(fd),
				  i == n ? "which no listen, admin_listen or cluster_listen line names: "
					   "the socket unit and the config must name the same addresses"
					 : "twice");
			return -1;
		}
		fds[i] = fd;
	}
	return 0;
}

int server_start(struct event_base *base, const struct config *cfg,
		 const struct conn_handler *handler)
{
	const struct config_listen *lines[CONFIG_MAX_LISTEN + 2];
	int fds[CONFIG_MAX_LISTEN + 2];
	size_t n = 0;

	server.base = base;
	server.first_handler = handler;
	server.cfg = cfg;
	server.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	timeq_init(&server.linger, base, cfg->linger_timeout_ms, server_linger_fire);
	timeq_init(&server.refusals, base, SERVER_IP_REFUSAL_WINDOW_MS, server_ip_window_fire);
	timeq_init(&server.proxy_header, base, cfg->header_timeout_ms, server_proxy_timeout);
	for (size_t i = 0; i < cfg->n_listen; i++)
		lines[n++] = &cfg->listen[i];
	if (cfg->has_cluster_listen)
		lines[n++] = &cfg->cluster_listen;
	if (cfg->has_admin_listen)
		lines[n++] = &cfg->admin_listen;
	if (server_take_passed(lines, n, fds) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (server_listen_one(lines[i], lines[i] == &cfg->admin_listen,
				      lines[i] == &cfg->cluster_listen, fds[i]) < 0)
			return -1;
	}
	return 0;
}

static void server_listener_close(struct server_listener *sl)
{
	const char *path = server_unix_path(sl->cfg);

	if (sl->fd < 0)
		return;
	if (sl->listening)
		event_del(&sl->ev);
	close(sl->fd);
	sl->fd = -1;
	/* A balancer that connects now is refused, as on a closed port; on
	 * systemd's socket it waits in the backlog for the next start. */
	if (path && !sl->is_passed)
		(void)unlink(path);
}

void server_stop_accepting(void)
{
	for (size_t i = 0; i < server.n_listeners; i++) {
		if (!server.listeners[i].is_peer)
			server_listener_close(&server.listeners[i]);
	}
}

int server_cluster_address(struct sockaddr_storage *addr, socklen_t *len)
{
	for (size_t i = 0; i < server.n_listeners; i++) {
		if (!server.listeners[i].is_peer || server.listeners[i].fd < 0)
			continue;
		*len = sizeof *addr;
		return getsockname(server.listeners[i].fd, (struct sockaddr *)addr, len);
	}
	return -1;
}

bool server_conn_is_admin(const struct conn *c)
{
	return c->is_admin;
}

bool server_conn_is_peer(const struct conn *c)
{
	return c->is_peer;
}

void server_reload(void)
{
	timeq_set_duration(&server.linger, server.cfg->linger_timeout_ms);
	timeq_set_duration(&server.proxy_header, server.cfg->header_timeout_ms);
}

void server_cleanup(void)
{
	server_stop_accepting();
	for (size_t i = 0; i < server.n_listeners; i++)
		server_listener_close(&server.listeners[i]);
	server.n_listeners = 0;
	for (struct conn *c = server.all; c; c = c->next)
		server_conn_close(c);
	server_after_turn();
	if (server.spare_fd >= 0)
		close(server.spare_fd);
	server.spare_fd = -1;
	free(server.direct);
	server.direct = NULL;
	free(server.unauth);
	server.unauth = NULL;
	server.n_unauth = server.unauth_cap = 0;
	server.n_direct = server.direct_cap = 0;
	timeq_cleanup(&server.linger);
	timeq_cleanup(&server.proxy_header);
	server_ip_cleanup();
}
