/* http.h - HTTP/1.1 requests on a connection: parse, route, respond, CORS.
 *
 * One request at a time per connection: once a request is complete the
 * parser pauses, and a pipelined request behind it waits until the router
 * has answered (a long-poll GET may be held for a whole ping interval).
 * The router answers with http_respond(), hands the connection over
 * (WebSocket upgrade), or holds the request and is told through its abort
 * callback if the connection dies first.  Limits: max_header_size (431),
 * max_payload for bodies (413 from the head when Content-Length says so),
 * header_timeout and body_timeout (408 and close), keepalive_timeout
 * between requests.  A request answered before its body is read is closed
 * after the answer.  From a peer in trusted_proxies, a request's client is
 * the one its X-Forwarded-For names (realip.h): the server then counts and
 * logs the connection under it while the request is handled
 * (server_conn_peer_address()), 503 answers a client past
 * max_connections_per_ip, and http_client_address() gives it to the
 * layers that count per address.
 */
#ifndef ROOMCAST_HTTP_H
#define ROOMCAST_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

#include "config.h"
#include "realip.h"
#include "server.h"

struct http_conn;

/* A parsed request.  Everything is owned by the connection and valid until
 * the response is sent or the connection is handed over. */
struct http_request {
	enum http_method method;
	const char *method_name;      /* "GET", ... */
	char *url;                    /* NUL-terminated request target */
	size_t url_len;
	const char *path;             /* into url; not NUL-terminated */
	size_t path_len;
	const char *query;            /* after '?', or "" */
	size_t query_len;
	bool keep_alive;              /* the client allows another request */
	bool is_upgrade;              /* Connection: upgrade + Upgrade: websocket */
	bool has_origin;
	bool octet_stream;            /* Content-Type: application/octet-stream */
	bool body_too_big;            /* body passed max_payload, discarded */
	char origin[CONFIG_MAX_ORIGIN_LEN];
	char ws_key[32];              /* Sec-WebSocket-Key, "" if absent or too long */
	char ws_version[8];           /* Sec-WebSocket-Version */
	char acr_headers[256];        /* Access-Control-Request-Headers */
	char host[256];               /* Host, "" if absent or too long */
	char peer_token[40];          /* X-Roomcast-Peer (forwarded by a peer), "" if absent */
	char *authorization;          /* Authorization, heap (NUL-terminated), NULL if absent */
	size_t authorization_len;
	struct realip_forwarded *forwarded_for; /* X-Forwarded-For from a trusted peer, heap,
	                                 NULL if none (its last 1024 bytes) */
	bool forwarded_ignored;       /* X-Forwarded-For from a peer not trusted */
	char *kept_headers;           /* the headers backend_headers names, heap, NULL if
	                                 none: "name\0value\0"... (lower-case names, in
	                                 the order sent); no longer than the head */
	size_t kept_headers_len;
	uint8_t *body;                /* heap, body_len bytes; the router may modify it
	                                 or replace it with another malloc'd buffer */
	size_t body_len;
};

/* The router: on_head runs once the head of a request with a body is
 * parsed (it may answer at once: the body is then never read and the
 * connection closes after the answer); on_request runs for every complete
 * request (for an upgrade, after the head). */
struct http_router {
	void (*on_head)(struct http_conn *hc, struct http_request *req);
	void (*on_request)(struct http_conn *hc, struct http_request *req);
};

/* The handler every accepted connection starts with. */
extern const struct conn_handler http_conn_handler;

/* Must be called before server_start(). */
void http_init(struct event_base *base, const struct config *cfg,
	       const struct http_router *router);
/* Stops the deadline timers; every connection must have been freed. */
void http_cleanup(void);
/* The config changed (reload.h): deadlines started from now on and request
 * heads take the new values. */
void http_reload(void);

/* Sends a complete response to the current request: status line, CORS
 * headers, Content-Type (if not NULL), <extra_headers> ("Name: v\r\n"
 * lines, or NULL), Content-Length, Connection, then <body>.  A refused
 * upgrade or a request without keep-alive closes the connection after it. */
void http_respond(struct http_conn *hc, int status, const char *content_type,
		  const char *extra_headers, const void *body, size_t body_len);

/* The address of the client that sent <req> on <hc> into <out>
 * (realip.h): what a session records and the per-address limits count
 * (connections, sessions, CONNECTs waiting and refused).  The one place
 * that decides it: from a peer in trusted_proxies, the client the
 * request's X-Forwarded-For names, else its PROXY header's source, else
 * the peer itself; from any other peer, the TCP peer.  Valid while <req>
 * is handled.  Returns false if there is none (a unix socket's peer). */
bool http_client_address(struct http_conn *hc, const struct http_request *req, uint8_t out[16]);

/* Whether <hc> came in on admin_listen, on cluster_listen. */
bool http_conn_is_admin(const struct http_conn *hc);
bool http_conn_is_peer(const struct http_conn *hc);

/* Answers a CORS preflight (OPTIONS) with 204 and the allowed methods and
 * headers, as the cors middleware in front of engine.io does. */
void http_respond_preflight(struct http_conn *hc);

/* Answers with the reference server's Engine.IO error JSON
 * {"code":N,"message":"..."} and status 400 (403 for code 4); on an upgrade
 * request the message goes as text/html and the connection is closed. */
void http_respond_error_code(struct http_conn *hc, int status, int code, const char *message);

/* Registers <cb>(<hc>, <arg>) to run if the connection closes while the
 * current request is held without an answer; NULL clears it. */
void http_set_abort(struct http_conn *hc, void (*cb)(struct http_conn *, void *), void *arg);

/* Whether a holder (an abort callback) is waiting to answer the current
 * request of <hc>: a second holder would answer it twice. */
bool http_is_held(const struct http_conn *hc);

/* Writes the CORS response headers for <req> under the configured
 * cors_origin into <out>; returns their length (0 when CORS is off). */
size_t http_cors_headers(const struct http_request *req, char *out, size_t out_len);

/* The token of an `Authorization: Bearer <token>` header (the scheme in
 * any case, spaces around the token dropped): 1 with *<token> and *<len>
 * pointing into the request, or 0 if there is none. */
int http_bearer_token(const struct http_request *req, const char **token, size_t *len);

/* Whether <s> (NUL-terminated) has no control byte (below 0x20, or DEL):
 * http-parser ends values at CR and LF but lets other control bytes into
 * header values and, lenient, tabs into the URL. */
bool http_text_clean(const char *s);

/* Finds query parameter <name>; returns 1 with *<val> and *<len> pointing into
 * the URL (not decoded), or 0 if absent. */
int http_query_param(const struct http_request *req, const char *name,
		     const char **val, size_t *len);

/* Hands the connection over to <handler>/<ctx> (WebSocket): the HTTP state
 * is freed; input after the request head goes to the new handler. */
struct conn *http_take_conn(struct http_conn *hc, const struct conn_handler *handler, void *ctx);

/* The connection of <hc>. */
struct conn *http_conn_peek(struct http_conn *hc);

#endif
