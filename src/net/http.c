/* http.c - HTTP/1.1 on a connection, with http-parser (see http.h).
 *
 * Owns the per-connection parser, the request being read, the request's
 * deadline, response formatting and CORS headers.  Does not own sessions
 * (engine.c) or the socket (server.c).  Flow: bytes -> http_parser_execute
 * -> headers of interest kept in fixed fields, body appended up to
 * max_payload -> the parser pauses at the end of a message -> the router
 * answers now or later -> the parser resumes with any pipelined bytes.
 *
 * Deadlines, as nginx's client_header_timeout and client_body_timeout and
 * HAProxy's timeout http-request: each phase of a request has one fixed
 * deadline, started when the phase begins and never restarted by reads, so
 * a peer trickling bytes cannot hold its slot longer than the phase allows.
 *   idle (between keep-alive requests)  keepalive_timeout, then a silent close
 *   head (from accept, or the first byte after idle)  header_timeout, 408
 *   body (from the end of the head)  body_timeout for the whole body, 408
 *   held (routed, no answer yet)  none here: the engine's heartbeat ends it
 * A request with a body that the router answers from its head (an unknown
 * sid, a bad path, too big) is answered with Connection: close and its body
 * is never read.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "timeq.h"

enum http_header_id {
	HTTP_HDR_OTHER,
	HTTP_HDR_UPGRADE,
	HTTP_HDR_ORIGIN,
	HTTP_HDR_CONTENT_TYPE,
	HTTP_HDR_WS_KEY,
	HTTP_HDR_WS_VERSION,
	HTTP_HDR_ACR_HEADERS,
	HTTP_HDR_HOST,
	HTTP_HDR_AUTHORIZATION,
	HTTP_HDR_PEER,
	HTTP_HDR_FORWARDED_FOR,
};

/* What the connection waits for, and so which deadline runs. */
enum http_phase {
	HTTP_PHASE_IDLE,               /* keepalive_timeout */
	HTTP_PHASE_HEAD,               /* header_timeout */
	HTTP_PHASE_BODY,               /* body_timeout */
	HTTP_PHASE_HELD,               /* no deadline: the router answers */
};

struct http_conn {
	struct conn *c;                /* not owned; the server frees it */
	http_parser parser;
	struct http_request req;
	struct timeq_entry deadline;   /* on the queue of <phase>, stopped while held */
	enum http_phase phase;
	char name[40];                 /* header name being read */
	size_t name_len;
	enum http_header_id header;    /* of the value being read */
	size_t value_len;
	bool in_value;
	bool value_overflow;
	bool is_kept;                  /* the value being read is a backend header's */
	char upgrade[16];              /* Upgrade header value */
	char content_type[64];
	size_t body_cap;
	bool in_request;               /* bytes of a request have arrived */
	bool complete;                 /* message complete, parser paused */
	bool held;                     /* routed, no response yet */
	bool answered;                 /* responded from the head: the body is never read */
	bool in_on_data;
	/* Where the connection comes from: the socket's peer, or the client
	 * of its PROXY header; X-Forwarded-For is believed if it is trusted. */
	uint8_t from[16];
	uint16_t from_port;
	bool from_known;               /* the four fields are read (at the first need) */
	bool from_is_ip;               /* false: a unix socket's peer */
	bool from_named;               /* <from> is a PROXY header's client */
	bool client_named;             /* this request named the server its client */
	void (*abort_cb)(struct http_conn *, void *);
	void *abort_arg;
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	const struct http_router *router;
	http_parser_settings settings;
	struct timeq deadlines[HTTP_PHASE_HELD]; /* one fixed-duration queue per timed phase */
} http;

static const char *http_status_text(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* Enters <phase> and starts its deadline from now (none for HELD). */
static void http_phase_start(struct http_conn *hc, enum http_phase phase)
{
	hc->phase = phase;
	if (phase == HTTP_PHASE_HELD)
		timeq_stop(&hc->deadline);
	else
		timeq_start(&http.deadlines[phase], &hc->deadline);
}

static void http_request_reset(struct http_conn *hc)
{
	free(hc->req.url);
	free(hc->req.body);
	free(hc->req.authorization);
	free(hc->req.kept_headers);
	free(hc->req.forwarded_for);
	memset(&hc->req, 0, sizeof hc->req);
	hc->is_kept = false;
	hc->body_cap = 0;
	hc->name_len = 0;
	hc->value_len = 0;
	hc->in_value = false;
	hc->upgrade[0] = '\0';
	hc->content_type[0] = '\0';
	hc->in_request = false;
	hc->complete = false;
	hc->held = false;
	hc->answered = false;
	hc->abort_cb = NULL;
	hc->abort_arg = NULL;
}

/* --- parser callbacks: copy what the router needs, bounded ------------- */

static struct http_conn *http_of(http_parser *p)
{
	return p->data;
}

static int http_on_message_begin(http_parser *p)
{
	struct http_conn *hc = http_of(p);

	hc->in_request = true;
	/* The head's deadline counts from its first byte after an idle wait;
	 * on a new connection it has counted since accept. */
	if (hc->phase == HTTP_PHASE_IDLE)
		http_phase_start(hc, HTTP_PHASE_HEAD);
	return 0;
}

static int http_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *hc = http_of(p);
	char *url = realloc(hc->req.url, hc->req.url_len + len + 1);

	if (!url)
		return -1;
	memcpy(url + hc->req.url_len, at, len);
	hc->req.url = url;
	hc->req.url_len += len;
	url[hc->req.url_len] = '\0';
	return 0;
}

/* Appends <len> bytes to the kept headers.  Each entry is the configured
 * name, a NUL, the value and a NUL: never longer than its line in the
 * head ("Name: value\r\n"), so max_header_size bounds the whole. */
static int http_kept_append(struct http_request *req, const char *at, size_t len)
{
	char *v = realloc(req->kept_headers, req->kept_headers_len + len);

	if (!v)
		return -1;
	memcpy(v + req->kept_headers_len, at, len);
	req->kept_headers = v;
	req->kept_headers_len += len;
	return 0;
}

/* The end of a header value: a kept one gets its NUL. */
static int http_value_end(struct http_conn *hc)
{
	hc->in_value = false;
	if (!hc->is_kept)
		return 0;
	hc->is_kept = false;
	return http_kept_append(&hc->req, "", 1);
}

/* The backend_headers name equal to <name> without case, or NULL.  http.c
 * reads names into 40 bytes; a configured name is at most 32, so a longer
 * name cut short never matches one. */
static const char *http_kept_name(const char *name)
{
	for (size_t i = 0; i < http.cfg->n_backend_headers; i++) {
		if (strcasecmp(name, http.cfg->backend_headers[i]) == 0)
			return http.cfg->backend_headers[i];
	}
	return NULL;
}

static int http_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *hc = http_of(p);

	if (hc->in_value) {
		if (http_value_end(hc) < 0)
			return -1;
		hc->name_len = 0;
	}
	size_t n = len < sizeof hc->name - 1 - hc->name_len ? len : sizeof hc->name - 1 - hc->name_len;
	memcpy(hc->name + hc->name_len, at, n);
	hc->name_len += n;
	hc->name[hc->name_len] = '\0';
	return 0;
}

static enum http_header_id http_header_lookup(const char *name)
{
	static const struct {
		const char *name;
		enum http_header_id id;
	} known[] = {
		{ "upgrade", HTTP_HDR_UPGRADE },
		{ "origin", HTTP_HDR_ORIGIN },
		{ "content-type", HTTP_HDR_CONTENT_TYPE },
		{ "sec-websocket-key", HTTP_HDR_WS_KEY },
		{ "sec-websocket-version", HTTP_HDR_WS_VERSION },
		{ "access-control-request-headers", HTTP_HDR_ACR_HEADERS },
		{ "host", HTTP_HDR_HOST },
		{ "authorization", HTTP_HDR_AUTHORIZATION },
		{ "x-roomcast-peer", HTTP_HDR_PEER },
		{ "x-forwarded-for", HTTP_HDR_FORWARDED_FOR },
	};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
		if (strcasecmp(name, known[i].name) == 0)
			return known[i].id;
	}
	return HTTP_HDR_OTHER;
}

static char *http_header_target(struct http_conn *hc, size_t *cap)
{
	switch (hc->header) {
	case HTTP_HDR_UPGRADE: *cap = sizeof hc->upgrade; return hc->upgrade;
	case HTTP_HDR_ORIGIN: *cap = sizeof hc->req.origin; return hc->req.origin;
	case HTTP_HDR_CONTENT_TYPE: *cap = sizeof hc->content_type; return hc->content_type;
	case HTTP_HDR_WS_KEY: *cap = sizeof hc->req.ws_key; return hc->req.ws_key;
	case HTTP_HDR_WS_VERSION: *cap = sizeof hc->req.ws_version; return hc->req.ws_version;
	case HTTP_HDR_ACR_HEADERS: *cap = sizeof hc->req.acr_headers; return hc->req.acr_headers;
	case HTTP_HDR_HOST: *cap = sizeof hc->req.host; return hc->req.host;
	case HTTP_HDR_PEER: *cap = sizeof hc->req.peer_token; return hc->req.peer_token;
	default: *cap = 0; return NULL;
	}
}

/* Authorization is kept on the heap, only by the requests that carry one
 * (a bearer token may be a few kilobytes; max_header_size bounds it). */
static int http_append_authorization(struct http_request *req, const char *at, size_t len)
{
	char *v = realloc(req->authorization, req->authorization_len + len + 1);

	if (!v)
		return -1;
	memcpy(v + req->authorization_len, at, len);
	req->authorization = v;
	req->authorization_len += len;
	v[req->authorization_len] = '\0';
	return 0;
}

/* Whether <hc>'s peer is trusted (trusted_proxies, read now: a reload
 * applies to the next request).  Where the connection comes from is read
 * once, at the first need, before any request has named a client: no
 * system call when no proxy is trusted. */
static bool http_from_trusted(struct http_conn *hc)
{
	if (!http.cfg->n_trusted_proxies && !http.cfg->trust_unix)
		return false;
	if (!hc->from_known) {
		hc->from_known = true;
		hc->from_named = hc->c->has_client;
		hc->from_is_ip = server_conn_client(hc->c, hc->from, &hc->from_port);
	}
	return hc->from_is_ip ? realip_trusted(http.cfg, hc->from) : http.cfg->trust_unix;
}

/* A piece of an X-Forwarded-For value (<first>: its first): kept from a
 * trusted peer, only noted from another. */
static int http_forwarded_append(struct http_conn *hc, bool first, const char *at, size_t len)
{
	struct http_request *req = &hc->req;

	if (server_conn_is_peer(hc->c))
		return 0; /* another instance: its requests name no client */
	if (!http_from_trusted(hc)) {
		req->forwarded_ignored = true;
		return 0;
	}
	if (!req->forwarded_for && !(req->forwarded_for = calloc(1, sizeof *req->forwarded_for)))
		return -1;
	realip_forwarded_append(req->forwarded_for, first, at, len);
	return 0;
}

static int http_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *hc = http_of(p);
	bool first = !hc->in_value;
	size_t cap;

	if (!hc->in_value) {
		hc->in_value = true;
		hc->header = http_header_lookup(hc->name);
		hc->value_len = 0;
		hc->value_overflow = false;
		if (hc->header == HTTP_HDR_ORIGIN)
			hc->req.has_origin = true;
		const char *kept = http_kept_name(hc->name);
		if (kept && http_kept_append(&hc->req, kept, strlen(kept) + 1) < 0)
			return -1;
		hc->is_kept = kept != NULL;
	}
	if (hc->is_kept && http_kept_append(&hc->req, at, len) < 0)
		return -1;
	if (hc->header == HTTP_HDR_AUTHORIZATION)
		return http_append_authorization(&hc->req, at, len);
	if (hc->header == HTTP_HDR_FORWARDED_FOR)
		return http_forwarded_append(hc, first, at, len);
	char *dst = http_header_target(hc, &cap);
	if (!dst)
		return 0;
	if (hc->value_len + len >= cap) {
		/* A value too long for its field can only be wrong (a key is
		 * 24 characters, an origin at most CONFIG_MAX_ORIGIN_LEN):
		 * keep it empty so that it never matches. */
		hc->value_overflow = true;
		dst[0] = '\0';
		return 0;
	}
	if (hc->value_overflow)
		return 0;
	memcpy(dst + hc->value_len, at, len);
	hc->value_len += len;
	dst[hc->value_len] = '\0';
	return 0;
}

static void http_split_url(struct http_request *req)
{
	char *q = req->url ? memchr(req->url, '?', req->url_len) : NULL;

	req->path = req->url ? req->url : "";
	if (q) {
		req->path_len = (size_t)(q - req->url);
		req->query = q + 1;
		req->query_len = req->url_len - req->path_len - 1;
	} else {
		req->path_len = req->url_len;
		req->query = "";
		req->query_len = 0;
	}
}

/* Names the request's client to the server: from a trusted peer, the one
 * its X-Forwarded-For names, else the peer itself; from any other peer
 * nothing changes (its headers are ignored, and counted).  Returns 0, or
 * -1 if that client already holds max_connections_per_ip (answered 503,
 * the connection closes). */
static int http_client_resolve(struct http_conn *hc)
{
	struct http_request *req = &hc->req;
	uint8_t client[16];
	uint16_t port = hc->from_port;

	if (req->forwarded_ignored)
		metrics_inc(forwarded_for_ignored_total);
	if (server_conn_is_peer(hc->c) ||
	    (!req->forwarded_for && (!http_from_trusted(hc) || !hc->from_is_ip)))
		return 0; /* nothing named: the count taken at accept stands */
	memcpy(client, hc->from, sizeof client);
	if (req->forwarded_for) {
		port = 0;
		if (realip_forwarded_for(http.cfg, hc->from, req->forwarded_for, client) < 0) {
			metrics_inc(forwarded_for_invalid_total);
			log_limited(LOG_LEVEL_INFO, "X-Forwarded-For stopped at a bad entry, 32 hops or "
				    "its 1024-byte cut: the nearest trusted hop stands\tconn=%llu peer=%s",
				    (unsigned long long)hc->c->id, server_conn_peer(hc->c));
		}
	}
	hc->client_named = true;
	if (server_conn_set_client(hc->c, client, port) == 0)
		return 0;
	req->keep_alive = false;
	http_respond(hc, 503, NULL, NULL, NULL, 0);
	return -1;
}

/* The request that named <hc>'s client is done: an idle connection of a
 * balancer carries no client, or the one its PROXY header named. */
static void http_client_release(struct http_conn *hc)
{
	if (!hc->client_named)
		return;
	hc->client_named = false;
	if (!hc->from_named || server_conn_set_client(hc->c, hc->from, hc->from_port) < 0)
		server_conn_clear_client(hc->c);
}

static int http_on_headers_complete(http_parser *p)
{
	struct http_conn *hc = http_of(p);
	struct http_request *req = &hc->req;

	if (hc->in_value && http_value_end(hc) < 0)
		return -1;
	req->method = (enum http_method)p->method;
	req->method_name = http_method_str((enum http_method)p->method);
	req->keep_alive = http_should_keep_alive(p);
	req->is_upgrade = p->upgrade && strcasecmp(hc->upgrade, "websocket") == 0;
	req->octet_stream = strncasecmp(hc->content_type, "application/octet-stream", 24) == 0;
	http_split_url(req);
	if (http_client_resolve(hc) < 0) {
		http_parser_pause(p, 1); /* answered from the head: nothing more is read */
		return 0;
	}
	bool has_body = (p->flags & F_CHUNKED) ||
			(p->content_length > 0 && p->content_length != ULLONG_MAX);
	if (has_body && p->content_length != ULLONG_MAX && p->content_length > http.cfg->max_payload)
		req->body_too_big = true;
	if (!has_body)
		return 0;
	http_phase_start(hc, HTTP_PHASE_BODY);
	if (http.router->on_head)
		http.router->on_head(hc, req);
	/* Answered from the head: stop here, the body is not read. */
	if (hc->answered)
		http_parser_pause(p, 1);
	return 0;
}

static int http_on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *hc = http_of(p);
	struct http_request *req = &hc->req;

	if (req->body_too_big || hc->answered)
		return 0;
	if (req->body_len + len > http.cfg->max_payload) {
		req->body_too_big = true;
		free(req->body);
		req->body = NULL;
		req->body_len = 0;
		return 0;
	}
	if (req->body_len + len > hc->body_cap) {
		size_t cap = hc->body_cap ? hc->body_cap * 2 : 4096;
		if (p->content_length != ULLONG_MAX && p->content_length + req->body_len > cap)
			cap = p->content_length + req->body_len;
		if (cap < req->body_len + len)
			cap = req->body_len + len;
		if (cap > http.cfg->max_payload)
			cap = http.cfg->max_payload;
		uint8_t *body = realloc(req->body, cap);
		if (!body)
			return -1;
		req->body = body;
		hc->body_cap = cap;
	}
	memcpy(req->body + req->body_len, at, len);
	req->body_len += len;
	return 0;
}

static int http_on_message_complete(http_parser *p)
{
	struct http_conn *hc = http_of(p);

	hc->complete = true;
	/* One request at a time: the rest of the input waits until this one
	 * has been answered. */
	http_parser_pause(p, 1);
	return 0;
}

/* --- responses ---------------------------------------------------------- */

/* The CORS headers of the npm cors middleware as engine.io runs it; a
 * preflight also names Access-Control-Request-Headers in Vary. */
static size_t http_cors_format(const struct http_request *req, bool preflight, char *out,
			       size_t out_len)
{
	const struct config *cfg = http.cfg;
	const char *vary = preflight ? "Vary: Origin, Access-Control-Request-Headers\r\n"
				     : "Vary: Origin\r\n";
	const char *origin = NULL;
	int n = 0;

	if (cfg->cors_any) {
		n = snprintf(out, out_len, "Access-Control-Allow-Origin: *\r\n%s",
			     preflight ? "Vary: Access-Control-Request-Headers\r\n" : "");
	} else if (cfg->n_cors_origins > 0) {
		/* One origin behaves as the reference server's fixed origin
		 * string: always sent, whatever the request says.  With a
		 * list, only a listed Origin is reflected. */
		if (cfg->n_cors_origins == 1)
			origin = cfg->cors_origins[0];
		for (size_t i = 0; !origin && req->has_origin && i < cfg->n_cors_origins; i++) {
			if (strcmp(req->origin, cfg->cors_origins[i]) == 0)
				origin = cfg->cors_origins[i];
		}
		if (origin)
			n = snprintf(out, out_len,
				     "Access-Control-Allow-Origin: %s\r\n%s"
				     "Access-Control-Allow-Credentials: true\r\n", origin, vary);
		else
			n = snprintf(out, out_len, "%s", vary);
	}
	if (n < 0 || (size_t)n >= out_len)
		return 0;
	return (size_t)n;
}

size_t http_cors_headers(const struct http_request *req, char *out, size_t out_len)
{
	return http_cors_format(req, false, out, out_len);
}

/* Ends the current request after its response: the connection is closed,
 * or waits for the next request. */
static void http_request_done(struct http_conn *hc, bool close)
{
	struct conn *c = hc->c;

	if (!hc->complete) {
		/* Answered before the request was complete (from its head,
		 * or on a deadline): nothing more is read, the connection
		 * ends once the answer is written (the server bounds that
		 * wait by linger_timeout). */
		hc->answered = true;
		hc->held = false;
		timeq_stop(&hc->deadline);
		server_conn_close_when_flushed(c);
		return;
	}
	http_request_reset(hc);
	if (close) {
		timeq_stop(&hc->deadline);
		server_conn_close_when_flushed(c);
		return;
	}
	http_client_release(hc);
	http_phase_start(hc, HTTP_PHASE_IDLE);
	if (!hc->in_on_data)
		server_conn_resume_read(c);
}

/* Whether the current request has had no answer yet: the request being
 * read or held, or a connection that sent nothing (or nothing parsable)
 * yet, which its header deadline or a parse error answers. */
static bool http_awaits_answer(const struct http_conn *hc)
{
	return !hc->answered && (hc->in_request || hc->phase == HTTP_PHASE_HEAD);
}

static void http_respond_cors(struct http_conn *hc, int status, bool preflight,
			      const char *content_type, const char *extra_headers,
			      const void *body, size_t body_len)
{
	struct http_request *req = &hc->req;
	char head[2048];
	char cors[512];

	/* One answer per request: a second one would be read by the client
	 * as the answer to its next request.  Only a bug of ours gets here. */
	if (!http_awaits_answer(hc)) {
		log_limited(LOG_LEVEL_ERROR, "a second answer (%d) to one request, dropped\tconn=%llu",
			    status, (unsigned long long)hc->c->id);
		return;
	}
	/* An answer before the request is complete leaves its body unread,
	 * so the connection cannot carry another request. */
	bool close = !req->keep_alive || req->is_upgrade || !hc->complete;
	size_t cors_len = http_cors_format(req, preflight, cors, sizeof cors);
	int n;

	char connection[64];
	cors[cors_len] = '\0';
	if (close)
		snprintf(connection, sizeof connection, "Connection: close\r\n");
	else
		snprintf(connection, sizeof connection, "Connection: keep-alive\r\nKeep-Alive: timeout=%u\r\n",
			 (unsigned)(http.cfg->keepalive_timeout_ms / 1000));
	n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n%s%s%s%s%sContent-Length: %zu\r\n%s\r\n",
		     status, http_status_text(status), cors,
		     content_type ? "Content-Type: " : "", content_type ? content_type : "",
		     content_type ? "\r\n" : "", extra_headers ? extra_headers : "", body_len,
		     connection);
	if (n < 0 || (size_t)n >= sizeof head) {
		log_error("response head too long\tconn=%llu", (unsigned long long)hc->c->id);
		server_conn_close(hc->c);
		return;
	}
	if (server_write(hc->c, head, (size_t)n) < 0 ||
	    (body_len && server_write(hc->c, body, body_len) < 0))
		return;
	if (status >= 400) {
		char url[4 * 200 + 1];
		log_debug("%d for %s\tconn=%llu peer=%s url=\"%s\"", status,
			  req->method_name ? req->method_name : "?", (unsigned long long)hc->c->id,
			  server_conn_peer(hc->c),
			  log_field(url, sizeof url, req->url ? req->url : "", req->url_len, 200));
	}
	http_request_done(hc, close);
}

void http_respond(struct http_conn *hc, int status, const char *content_type,
		  const char *extra_headers, const void *body, size_t body_len)
{
	http_respond_cors(hc, status, false, content_type, extra_headers, body, body_len);
}

void http_respond_preflight(struct http_conn *hc)
{
	struct http_request *req = &hc->req;
	char extra[512];

	snprintf(extra, sizeof extra,
		 "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n%s%s%s",
		 req->acr_headers[0] ? "Access-Control-Allow-Headers: " : "", req->acr_headers,
		 req->acr_headers[0] ? "\r\n" : "");
	http_respond_cors(hc, 204, true, NULL, extra, NULL, 0);
}

void http_respond_error_code(struct http_conn *hc, int status, int code, const char *message)
{
	char body[160];

	metrics_inc(engine_errors_total);
	if (hc->req.is_upgrade) {
		/* As engine.io's abortUpgrade: plain text, then the socket is
		 * destroyed (http_respond closes refused upgrades). */
		http_respond(hc, status, "text/html", NULL, message, strlen(message));
		return;
	}
	int n = snprintf(body, sizeof body, "{\"code\":%d,\"message\":\"%s\"}", code, message);
	http_respond(hc, status, "application/json", NULL, body, (size_t)n);
}

bool http_conn_is_admin(const struct http_conn *hc)
{
	return server_conn_is_admin(hc->c);
}

bool http_text_clean(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	}
	return true;
}

bool http_client_address(struct http_conn *hc, const struct http_request *req, uint8_t out[16])
{
	uint16_t port;

	(void)req; /* its client was named to the server when its head was read */
	return server_conn_client(hc->c, out, &port);
}

bool http_conn_is_peer(const struct http_conn *hc)
{
	return server_conn_is_peer(hc->c);
}

void http_set_abort(struct http_conn *hc, void (*cb)(struct http_conn *, void *), void *arg)
{
	hc->abort_cb = cb;
	hc->abort_arg = arg;
}

bool http_is_held(const struct http_conn *hc)
{
	return hc->abort_cb != NULL;
}

int http_bearer_token(const struct http_request *req, const char **token, size_t *len)
{
	const char *p = req->authorization, *end;

	if (!p || req->authorization_len < 7 || strncasecmp(p, "bearer ", 7) != 0)
		return 0;
	end = p + req->authorization_len;
	for (p += 7; p < end && *p == ' '; p++)
		;
	while (end > p && end[-1] == ' ')
		end--;
	if (p == end)
		return 0;
	*token = p;
	*len = (size_t)(end - p);
	return 1;
}

int http_query_param(const struct http_request *req, const char *name,
		     const char **val, size_t *len)
{
	size_t name_len = strlen(name);
	const char *p = req->query;
	const char *end = req->query + req->query_len;

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - p) >= name_len && memcmp(p, name, name_len) == 0 &&
		    (p + name_len == stop || p[name_len] == '=')) {
			*val = p + name_len == stop ? stop : p + name_len + 1;
			*len = (size_t)(stop - *val);
			return 1;
		}
		p = stop + 1;
	}
	return 0;
}

struct conn *http_conn_peek(struct http_conn *hc)
{
	return hc->c;
}

static void http_conn_free(struct http_conn *hc)
{
	timeq_stop(&hc->deadline);
	http_request_reset(hc);
	free(hc);
}

struct conn *http_take_conn(struct http_conn *hc, const struct conn_handler *handler, void *ctx)
{
	struct conn *c = hc->c;

	c->handler = handler;
	c->ctx = ctx;
	http_conn_free(hc);
	return c;
}

/* --- the connection handler ---------------------------------------------- */

/* A phase's deadline passed: an idle keep-alive connection is closed
 * quietly, as Node and nginx do; a request too slow to arrive is told 408
 * (HAProxy's answer) and the connection closed after it. */
static void http_deadline_fire(struct timeq_entry *e)
{
	struct http_conn *hc = timeq_owner(e, struct http_conn, deadline);
	const char *what;

	switch (hc->phase) {
	case HTTP_PHASE_IDLE:
		metrics_inc(http_timeouts_total);
		log_debug("keepalive_timeout\tconn=%llu", (unsigned long long)hc->c->id);
		server_conn_close(hc->c);
		return;
	case HTTP_PHASE_HEAD:
		metrics_inc(http_header_timeouts_total);
		what = "header_timeout";
		break;
	case HTTP_PHASE_BODY:
		metrics_inc(http_body_timeouts_total);
		what = "body_timeout";
		break;
	default:
		return; /* held requests have no deadline: never started */
	}
	log_debug("%s\tconn=%llu peer=%s", what, (unsigned long long)hc->c->id, server_conn_peer(hc->c));
	hc->req.keep_alive = false;
	http_respond(hc, 408, NULL, NULL, NULL, 0);
}

static int http_conn_open(struct conn *c)
{
	struct http_conn *hc = calloc(1, sizeof *hc);

	if (!hc)
		return -1;
	hc->c = c;
	c->ctx = hc;
	http_parser_init(&hc->parser, HTTP_REQUEST);
	hc->parser.data = hc;
	/* From accept, as nginx's client_header_timeout: a connection that
	 * sends nothing holds its slot no longer than one that trickles. */
	http_phase_start(hc, HTTP_PHASE_HEAD);
	return 0;
}

static void http_bad_request(struct http_conn *hc, enum http_errno err)
{
	int status = err == HPE_HEADER_OVERFLOW ? 431 : 400;

	/* Bytes that do not parse after a keep-alive request are a request
	 * too: http-parser fails before on_message_begin. */
	hc->in_request = true;
	metrics_inc(http_bad_requests_total);
	log_limited(LOG_LEVEL_INFO, "bad HTTP request: %s\tconn=%llu peer=%s",
		    http_errno_description(err), (unsigned long long)hc->c->id, server_conn_peer(hc->c));
	hc->req.keep_alive = false;
	http_respond(hc, status, NULL, NULL, NULL, 0);
}

/* Routes the request the parser just completed. */
static void http_dispatch(struct http_conn *hc)
{
	struct http_request *req = &hc->req;

	metrics_inc(http_requests_total);
	if (!req->url)
		http_split_url(req);
	hc->held = true;
	http_phase_start(hc, HTTP_PHASE_HELD);
	http.router->on_request(hc, req);
}

static ssize_t http_conn_data(struct conn *c, uint8_t *data, size_t len)
{
	struct http_conn *hc = c->ctx;
	size_t off = 0;

	if (hc->complete)
		return 0; /* a request is held: pipelined bytes wait */
	if (hc->answered)
		return (ssize_t)len; /* an unread body: dropped, reading has stopped */
	hc->in_on_data = true;
	while (off < len && !c->closing) {
		off += http_parser_execute(&hc->parser, &http.settings, (const char *)data + off, len - off);
		enum http_errno err = HTTP_PARSER_ERRNO(&hc->parser);
		if (err == HPE_PAUSED && hc->answered) {
			off = len; /* paused at an answered head: see above */
			break;
		}
		if (err == HPE_PAUSED) {
			http_parser_pause(&hc->parser, 0);
			http_dispatch(hc);
			if (c->ctx != hc)
				return (ssize_t)off; /* handed over: hc is gone */
			if (hc->complete)
				break;    /* held: the rest waits */
			continue;
		}
		if (err != HPE_OK) {
			http_bad_request(hc, err);
			break;
		}
	}
	hc->in_on_data = false;
	return c->closing ? -1 : (ssize_t)off;
}

static void http_conn_close(struct conn *c)
{
	struct http_conn *hc = c->ctx;

	if (!hc)
		return;
	if (hc->abort_cb)
		hc->abort_cb(hc, hc->abort_arg);
	http_conn_free(hc);
	c->ctx = NULL;
}

const struct conn_handler http_conn_handler = {
	.on_open = http_conn_open,
	.on_data = http_conn_data,
	.on_close = http_conn_close,
};

void http_init(struct event_base *base, const struct config *cfg,
	       const struct http_router *router)
{
	http.base = base;
	http.cfg = cfg;
	http.router = router;
	timeq_init(&http.deadlines[HTTP_PHASE_IDLE], base, cfg->keepalive_timeout_ms,
		   http_deadline_fire);
	timeq_init(&http.deadlines[HTTP_PHASE_HEAD], base, cfg->header_timeout_ms,
		   http_deadline_fire);
	timeq_init(&http.deadlines[HTTP_PHASE_BODY], base, cfg->body_timeout_ms,
		   http_deadline_fire);
	http_reload();
	memset(&http.settings, 0, sizeof http.settings);
	http.settings.on_message_begin = http_on_message_begin;
	http.settings.on_url = http_on_url;
	http.settings.on_header_field = http_on_header_field;
	http.settings.on_header_value = http_on_header_value;
	http.settings.on_headers_complete = http_on_headers_complete;
	http.settings.on_body = http_on_body;
	http.settings.on_message_complete = http_on_message_complete;
}

void http_reload(void)
{
	timeq_set_duration(&http.deadlines[HTTP_PHASE_IDLE], http.cfg->keepalive_timeout_ms);
	timeq_set_duration(&http.deadlines[HTTP_PHASE_HEAD], http.cfg->header_timeout_ms);
	timeq_set_duration(&http.deadlines[HTTP_PHASE_BODY], http.cfg->body_timeout_ms);
	http_parser_set_max_header_size((uint32_t)http.cfg->max_header_size);
}

void http_cleanup(void)
{
	for (size_t i = 0; i < sizeof http.deadlines / sizeof http.deadlines[0]; i++)
		timeq_cleanup(&http.deadlines[i]);
}
