/* server.h - listeners, accepted connections, reads, buffered writes, flush.
 *
 * A connection knows nothing of HTTP or Engine.IO: bytes it reads go to its
 * handler (HTTP first, WebSocket after an upgrade), bytes written to it are
 * only appended to its output.  After each loop pass server_after_turn()
 * writes every connection with pending output in one writev, and frees the
 * connections closed during the pass (Redis's pending-write list and async
 * free).  Limits: max_connections and max_connections_per_ip (503 and
 * close, at accept; behind trusted_proxies, per client once it is known)
 * for client connections, cluster_max_unauthenticated and its _per_ip for
 * cluster_listen's until they show the cluster's token (a peer's are not
 * counted, nor outgoing ones), a PROXY protocol header within
 * header_timeout, max_output_buffer (the
 * connection is closed), linger_timeout (a connection closing once flushed
 * is reset when it passes), input held while a handler is paused.
 */
#ifndef ROOMCAST_SERVER_H
#define ROOMCAST_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>

#include <event2/event.h>
#include <event2/event_struct.h>

struct config;
struct conn;
struct server_input;
struct server_wait;
struct server_ip;

/* What a connection's owner does with it.  on_data gets the bytes read (the
 * buffer may be modified) and returns how many it consumed, or -1 if it
 * closed the connection.  Bytes not consumed are offered again, with more,
 * after the next read.  If on_data switches the handler (an upgrade), the
 * rest is offered to the new handler at once.  on_close runs once, when the
 * connection is freed at the end of the turn. */
struct conn_handler {
	int (*on_open)(struct conn *c);  /* first handler only; -1 closes */
	ssize_t (*on_data)(struct conn *c, uint8_t *data, size_t len);
	void (*on_close)(struct conn *c);
};

struct conn {
	int fd;
	uint32_t direct_slot;            /* 1 + its entry in this turn's direct writes, 0 = none */
	uint32_t id;                     /* for log lines (wraps after 4G connections) */
	/* Flags, packed beside the id: an idle connection should cost about
	 * 1 KiB in all, so struct conn stays within a 240-byte malloc chunk. */
	bool on_pending_list : 1;
	bool on_input_list : 1;
	bool want_write : 1;             /* EV_WRITE armed */
	bool read_paused : 1;
	bool closing : 1;                /* freed at the end of the turn */
	bool close_when_flushed : 1;
	bool draining : 1;               /* flushed and shut (FIN): input dropped until the peer closes */
	bool reset_on_free : 1;          /* linger_timeout passed: drop the output */
	bool is_admin : 1;               /* accepted on admin_listen */
	bool is_peer : 1;                /* accepted on cluster_listen (another instance) */
	bool client_slot : 1;            /* holds one of max_connections */
	bool unauthenticated : 1;        /* on cluster_listen, the cluster's token not seen yet */
	bool connecting : 1;             /* server_connect(): not established yet */
	bool awaits_proxy : 1;           /* a proxy_protocol listener's: no header read yet */
	bool has_client : 1;             /* the client is ip's address, not the socket's peer */
	uint16_t client_port;            /* with has_client: its port, 0 if unknown */
	struct event ev;                 /* EV_READ, plus EV_WRITE while output waits */
	const struct conn_handler *handler;
	void *ctx;                       /* the handler's per-connection state */
	struct evbuffer *out;            /* pending output, NULL when empty */
	struct server_input *in;         /* unconsumed input, NULL when none */
	struct conn *prev, *next;        /* all connections */
	struct conn *next_pending;       /* output to flush this turn */
	struct conn *next_input;         /* resumed with input held */
	struct conn *next_closing;       /* to free this turn */
	/* A flush delay's wait while open; once close_when_flushed, the
	 * linger_timeout wait (a closing connection's output is not held). */
	struct server_wait *wait;        /* owned */
	struct server_ip *ip;            /* its client's count, NULL if not counted; shared */
};

/* Binds every listener of <cfg>, or takes the socket systemd passed for
 * it (sd_listen_fds: matched by address; one no line names is an error);
 * accepted connections start with <handler>.  cluster_listen accepts at
 * once, the others from server_accept_clients() on: until then a client
 * waits in the backlog, or is refused (or, with reuseport, goes to the
 * processes already listening).  Returns 0, or -1 with the failing
 * address logged. */
int server_start(struct event_base *base, const struct config *cfg,
		 const struct conn_handler *handler)
	__attribute__((warn_unused_result));
/* Listens on the client and admin listeners.  Returns 0, or -1 with the
 * failing address logged. */
int server_accept_clients(void) __attribute__((warn_unused_result));
/* Closes the client listeners: no new clients from now on.  cluster_listen
 * stays open until server_cleanup(), so that peers can still reach the
 * sessions a drain has not closed yet. */
void server_stop_accepting(void);
/* The address cluster_listen is bound to (its port when the config said
 * 0); returns 0, or -1 when there is none. */
int server_cluster_address(struct sockaddr_storage *addr, socklen_t *len);
/* Opens a TCP connection to <addr>, handled by <handler> with <ctx> (its
 * on_open is not called); it holds no client slot (its owner bounds it).  Output written meanwhile waits for the
 * connection to be established; a connect that fails closes it (on_close
 * runs at the end of that turn).  Returns it, or NULL with errno set. */
struct conn *server_connect(const struct sockaddr *addr, socklen_t len,
			    const struct conn_handler *handler, void *ctx);
/* Closes every connection at once and frees them (shutdown). */
void server_cleanup(void);
/* Whether <c> came in on admin_listen (metrics and health only). */
bool server_conn_is_admin(const struct conn *c);
/* Whether <c> came in on cluster_listen (requests forwarded by peers). */
bool server_conn_is_peer(const struct conn *c);
/* <c>, on cluster_listen, showed the cluster's token: it is a peer's, and
 * leaves cluster_max_unauthenticated (peers are not capped). */
void server_conn_authenticated(struct conn *c);
/* The config changed (reload.h): lingering closes started from now on
 * take the new linger_timeout; limits are read where they apply. */
void server_reload(void);

/* Runs the end-of-turn work: input of resumed connections, one flush per
 * connection with output, then frees closed connections.  Whatever a
 * freed connection's on_close wrote or closed is left for another pass:
 * server_has_work() says if one is needed. */
void server_after_turn(void);
bool server_has_work(void);

/* Appends <len> bytes to <c>'s output (copied).  Returns 0, or -1 if <c> is
 * closing or its output would pass max_output_buffer (it is then closed). */
int server_write(struct conn *c, const void *data, size_t len);

/* Appends <len> bytes that stay owned by the caller and are shared with
 * other connections (a broadcast frame).  Returns 1 if <c> now references
 * them: <release>(data, len, arg) runs once when they are written, copied
 * or <c> is freed; 0 if they were copied (<release> never runs); -1 as
 * server_write().  A connection with nothing else queued is written from
 * <data> itself at the end of the turn, without a buffer of its own. */
int server_write_ref(struct conn *c, const void *data, size_t len,
		     void (*release)(const void *data, size_t len, void *arg), void *arg);

/* A flush delay (a namespace's flush_delay): output written while it is
 * held may wait up to that long, so that a burst leaves in one write. */
struct server_delay;
struct server_delay *server_delay_new(struct event_base *base, uint32_t ms);
/* Frees <d>; no connection may be waiting on it (free them first). */
void server_delay_free(struct server_delay *d);
/* From server_hold(d) to server_hold(NULL), a connection written to and
 * not already due for a flush this turn is flushed when <d>'s delay has
 * passed instead; any other write to it before then flushes everything at
 * the end of that turn, as usual. */
void server_hold(struct server_delay *d);

/* Bytes waiting in <c>'s output. */
size_t server_output_len(const struct conn *c);
/* Whether <c>'s output waits for the kernel to take more (a full socket
 * buffer): what a volatile packet is dropped on. */
bool server_conn_blocked(const struct conn *c);

/* Marks <c> closed: nothing more is read, queued output gets one last
 * write, and the connection is freed (on_close called) at the end of the
 * turn.  Safe to call twice. */
void server_conn_close(struct conn *c);
/* Stops reading and closes <c> once its output has been written and the
 * peer has closed its side (what it sends meanwhile is dropped), or resets
 * it when linger_timeout has passed first (the peer does not read or does
 * not close). */
void server_conn_close_when_flushed(struct conn *c);

/* Stop / resume reading <c> (back-pressure while a request is pending).
 * Resuming also offers the input already held to the handler again at the
 * end of this turn (a pipelined request behind an answered long-poll). */
void server_conn_pause_read(struct conn *c);
void server_conn_resume_read(struct conn *c);

/* What the per-address limits count: an address has an entry while it
 * holds any of them (or refusals are counted for it, below).  An address
 * is 16 bytes (realip.h: IPv6, or IPv4 in its IPv4-mapped form), the
 * client's behind trusted_proxies (server_conn_client()); NULL stands for
 * a unix socket's peer, which is not counted. */
enum server_ip_what {
	SERVER_IP_CONNECTIONS,         /* client connections (max_connections_per_ip) */
	SERVER_IP_SESSIONS,            /* Engine.IO sessions (max_connections_per_ip) */
	SERVER_IP_PENDING_CONNECTS,    /* CONNECTs awaiting a backend (max_pending_connects_per_ip) */
	SERVER_IP_UNAUTHENTICATED,     /* cluster_listen connections before their token
	                                  (cluster_max_unauthenticated_per_ip) */
	SERVER_IP_N
};
/* Counts one more <what> for <addr>.  Returns its entry (release it with
 * the same <what>), or NULL with *<refused> set if <addr> has <max>
 * already (or memory ran out); NULL without it when <max> is 0 or <addr>
 * is NULL: not counted. */
struct server_ip *server_ip_take(const uint8_t *addr, enum server_ip_what what,
				 uint32_t max, bool *refused);
/* Counts one <what> less for <ip> (NULL: not counted). */
void server_ip_release(struct server_ip *ip, enum server_ip_what what);

/* Refusals an address earned (a refused CONNECT costs a signature check):
 * counted over SERVER_IP_REFUSAL_WINDOW_MS from the first one, the entry
 * kept that long even when the address holds nothing else.  <max> 0 (or
 * a NULL <addr>) counts nothing. */
#define SERVER_IP_REFUSAL_WINDOW_MS 10000
void server_ip_refusal(const uint8_t *addr, uint32_t max);
/* Whether <addr> has <max> refusals in its current window (never for <max> 0). */
bool server_ip_refused_enough(const uint8_t *addr, uint32_t max);

/* "ADDR:PORT" of the client, for log lines (static buffer). */
const char *server_conn_peer(const struct conn *c);
/* The client's address as text into <host> ("?" if unknown, "unix" for a
 * unix socket's peer); returns its port (0 if unknown).  The client is
 * the one server_conn_set_client() named (a PROXY header's, or the
 * X-Forwarded-For client of the request being handled), else the
 * socket's peer: the real client address behind trusted_proxies, for log
 * lines. */
unsigned server_conn_peer_address(const struct conn *c, char host[INET6_ADDRSTRLEN]);
/* <c>'s client address (as above) as 16 bytes into <addr> (realip.h)
 * and its port into *<port>; false if it has none (a unix socket's peer).
 * What http_client_address() gives the per-address limits. */
bool server_conn_client(const struct conn *c, uint8_t addr[16], uint16_t *port);
/* Makes <addr> (realip.h) and <port> <c>'s client, counted under that
 * address for max_connections_per_ip instead of the one before.  Returns
 * 0, or -1 if the address already holds max_connections_per_ip (counted
 * and logged here; the caller answers 503 and closes), <c> unchanged. */
int server_conn_set_client(struct conn *c, const uint8_t addr[16], uint16_t port);
/* <c>'s client is the socket's peer again, and <c> is counted under no
 * address (a balancer's keep-alive connection between two requests). */
void server_conn_clear_client(struct conn *c);

size_t server_conn_count(void);
/* True while some connection still has output to write (a scan: for the
 * shutdown drain only). */
bool server_output_pending(void);

#endif
