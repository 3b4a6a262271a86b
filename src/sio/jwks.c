/* jwks.c - JWK Sets fetched from an identity provider's URL (see jwks.h).
 *
 * Owns one source per distinct (jwt_jwks_url, jwt_jwks_ca_file): its TLS
 * context, its last good key set, the fetch in flight and the timer of
 * the next one.  Namespaces naming the same URL share a source (the first
 * block's bounds apply).  Does not own the parsing of the set (jwt.c) nor
 * what a refusal does (auth.c, nsp.c).
 *
 * A fetch: libevent's HTTP client over an OpenSSL bufferevent, the name
 * resolved by evdns (never the blocking getaddrinfo), TLS 1.2 or later,
 * the peer's chain checked against jwt_jwks_ca_file or the system's CA
 * store and its name against the URL's host (SNI sent for a DNS name).
 * GET with Connection: close; a 200 whose body parses as a JWKS of at most
 * jwt_jwks_max_keys keys replaces the set; anything else is a failure,
 * logged with its reason and counted, and the set in use stays.
 *
 * Schedule: the first fetch at start (or when a reload names a new URL);
 * after a success the next at jwt_jwks_refresh, after a failure at
 * jwt_jwks_refresh_min; a token with an unknown kid brings it forward to
 * jwt_jwks_refresh_min after the last fetch began.  One fetch per source
 * at a time.  The end of each fetch calls nsp.c back (jwks.fetch_end), so
 * that CONNECTs held for it are verified against the set it left.
 *
 * Limits: jwt_jwks_max_size bytes of body (JWKS_MAX_HEADERS of head),
 * jwt_jwks_timeout for the whole fetch from resolving to the last byte,
 * jwt_jwks_max_keys keys; counted in jwks_fetch_failures_total.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "jwks.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "version.h"

/* Longest response head: a JWKS endpoint sends a few headers. */
#define JWKS_MAX_HEADERS (16 * 1024)
#define JWKS_WHY_LEN 256

struct jwks_source {
	char url[CONFIG_MAX_FILE_PATH + 1];
	char ca_file[CONFIG_MAX_FILE_PATH + 1];
	struct config_url at;          /* at.path points into url */
	const struct config_namespace *ns; /* the first block naming it: its bounds */
	SSL_CTX *tls;
	struct jwt_keys *keys;         /* the last good set; NULL until one */
	struct evhttp_connection *conn; /* the fetch in flight, or one done and not yet freed */
	bool is_fetching;              /* conn's request has not ended */
	long verify_error;             /* the chain's first error in this fetch (X509_V_*) */
	char why[JWKS_WHY_LEN];        /* the failure of the fetch in flight, once known */
	struct event *next;            /* the next fetch */
	uint64_t next_ms;              /* when next fires; 0 = not scheduled */
	struct event *deadline;        /* jwt_jwks_timeout of the fetch in flight */
	struct event *reap;            /* frees conn once libevent has let go of it */
	uint64_t started_ms;           /* when the last fetch began; 0 = never */
	bool is_used;                  /* named by the config being applied */
};

static struct {
	struct event_base *base;
	struct evdns_base *dns;
	const struct config *cfg;
	struct jwks_source *sources[CONFIG_MAX_NAMESPACES];
	size_t n;
	struct jwks_source *of_ns[CONFIG_MAX_NAMESPACES]; /* by the config's namespace index */
	int ssl_index;                 /* SSL ex_data slot holding the source */
	void (*fetch_end)(void);       /* called at the end of every fetch, or NULL */
} jwks = { .ssl_index = -1 };

static uint64_t jwks_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct timeval jwks_tv(uint64_t ms)
{
	return (struct timeval){ .tv_sec = (time_t)(ms / 1000),
				 .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
}

int jwks_ca_check(const char *path, char *err, size_t err_len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int ok = ctx != NULL && SSL_CTX_load_verify_locations(ctx, path, NULL) == 1;

	SSL_CTX_free(ctx);
	ERR_clear_error();
	if (!ok)
		snprintf(err, err_len, "%s: no PEM certificate could be read", path);
	return ok ? 0 : -1;
}

/* Keeps the chain's first error for the log line: libevent reports a
 * refused handshake only as a closed connection. */
static int jwks_verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct jwks_source *src = ssl ? SSL_get_ex_data(ssl, jwks.ssl_index) : NULL;

	if (!ok && src && src->verify_error == X509_V_OK)
		src->verify_error = X509_STORE_CTX_get_error(store);
	return ok;
}

static SSL_CTX *jwks_tls_new(const char *ca_file)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, jwks_verify_cb);
	if ((ca_file[0] ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
			: SSL_CTX_set_default_verify_paths(ctx)) != 1) {
		log_error("jwt_jwks_ca_file %s: no PEM certificate could be read", ca_file);
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	ERR_clear_error();
	return ctx;
}

static void jwks_set_keys(struct jwks_source *src, struct jwt_keys *keys)
{
	metrics_gauge_add(jwks_keys, (int64_t)jwt_keys_count(keys) - (int64_t)jwt_keys_count(src->keys));
	jwt_keys_free(src->keys);
	src->keys = keys;
}

/* Brings the next fetch to <at_ms> unless one is due sooner. */
static void jwks_schedule(struct jwks_source *src, uint64_t at_ms)
{
	uint64_t now = jwks_now_ms();
	struct timeval tv;

	if (at_ms < now)
		at_ms = now;
	if (src->next_ms && src->next_ms <= at_ms)
		return;
	src->next_ms = at_ms;
	tv = jwks_tv(at_ms > now ? at_ms - now : 0);
	evtimer_add(src->next, &tv);
}

/* Ends the fetch in flight: its outcome (<keys> or, when NULL, src->why),
 * and the next one's time.  The connection is freed by src->reap, after
 * libevent's callback has returned. */
static void jwks_fetch_end(struct jwks_source *src, struct jwt_keys *keys)
{
	const struct config_namespace *ns = src->ns;

	src->is_fetching = false;
	evtimer_del(src->deadline);
	src->next_ms = 0;
	if (keys) {
		log_info("jwks: %s: %zu keys", src->url, jwt_keys_count(keys));
		jwks_set_keys(src, keys);
		jwks_schedule(src, src->started_ms + ns->jwt_jwks_refresh_ms);
	} else {
		metrics_inc(jwks_fetch_failures_total);
		log_warn("jwks: %s: %s; keeping the %zu keys in use", src->url, src->why,
			 jwt_keys_count(src->keys));
		jwks_schedule(src, jwks_now_ms() + ns->jwt_jwks_refresh_min_ms);
	}
	event_active(src->reap, 0, 0);
	if (jwks.fetch_end)
		jwks.fetch_end();
}

/* Why a request ended without a response, as far as we can tell. */
static void jwks_fail_reason(struct jwks_source *src, enum evhttp_request_error error)
{
	if (src->verify_error != X509_V_OK) {
		snprintf(src->why, sizeof src->why, "TLS: certificate refused: %s",
			 X509_verify_cert_error_string(src->verify_error));
		return;
	}
	switch (error) {
	case EVREQ_HTTP_TIMEOUT:
		snprintf(src->why, sizeof src->why, "no answer within jwt_jwks_timeout");
		break;
	case EVREQ_HTTP_DATA_TOO_LONG:
		snprintf(src->why, sizeof src->why, "body larger than jwt_jwks_max_size (%zu)",
			 src->ns->jwt_jwks_max_size);
		break;
	case EVREQ_HTTP_INVALID_HEADER:
		snprintf(src->why, sizeof src->why, "bad HTTP response head");
		break;
	default:
		snprintf(src->why, sizeof src->why,
			 "connection failed or closed (resolve, connect or TLS handshake)");
		break;
	}
}

static void jwks_request_error(enum evhttp_request_error error, void *arg)
{
	jwks_fail_reason(arg, error);
}

/* A 200 whose body is a JWKS within the bounds: the new set, or NULL with
 * src->why set. */
static struct jwt_keys *jwks_response_keys(struct jwks_source *src, struct evhttp_request *req)
{
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(body);
	const uint8_t *text = evbuffer_pullup(body, -1);
	struct jwt_keys *keys = NULL;
	int code = evhttp_request_get_response_code(req);

	if (code != 200) {
		snprintf(src->why, sizeof src->why, "HTTP status %d", code);
		return NULL;
	}
	if (jwt_keys_parse(&keys, JWT_KEY_JWKS, "JWKS", text ? text : (const uint8_t *)"", len,
			   src->ns->jwt_jwks_max_keys, src->why, sizeof src->why) < 0)
		return NULL;
	return keys;
}

static void jwks_request_done(struct evhttp_request *req, void *arg)
{
	struct jwks_source *src = arg;
	struct jwt_keys *keys = NULL;

	if (!src->is_fetching)
		return;
	if (req && evhttp_request_get_response_code(req) != 0)
		keys = jwks_response_keys(src, req);
	else if (!src->why[0])
		jwks_fail_reason(src, EVREQ_HTTP_EOF);
	jwks_fetch_end(src, keys);
}

static void jwks_reap(evutil_socket_t fd, short what, void *arg)
{
	struct jwks_source *src = arg;

	if (src->conn && !src->is_fetching) {
		evhttp_connection_free(src->conn);
		src->conn = NULL;
	}
}

/* The whole fetch took jwt_jwks_timeout: drop it (freeing the connection
 * frees its request without calling back). */
static void jwks_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct jwks_source *src = arg;

	if (!src->is_fetching)
		return;
	snprintf(src->why, sizeof src->why, "not done within jwt_jwks_timeout");
	evhttp_connection_free(src->conn);
	src->conn = NULL;
	jwks_fetch_end(src, NULL);
}

/* An SSL for one fetch: the host's name checked in the certificate, and
 * sent as SNI when it is a name. */
static SSL *jwks_ssl_new(struct jwks_source *src)
{
	SSL *ssl = SSL_new(src->tls);
	X509_VERIFY_PARAM *param = ssl ? SSL_get0_param(ssl) : NULL;
	bool ok = ssl != NULL && SSL_set_ex_data(ssl, jwks.ssl_index, src) == 1;

	if (ok && src->at.is_ip)
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, src->at.host) == 1;
	else if (ok)
		ok = SSL_set_tlsext_host_name(ssl, src->at.host) == 1 &&
		     SSL_set1_host(ssl, src->at.host) == 1;
	if (!ok) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

/* The request: GET path, with the headers evhttp does not add itself. */
static struct evhttp_request *jwks_request_new(struct jwks_source *src)
{
	struct evhttp_request *req = evhttp_request_new(jwks_request_done, src);
	struct evkeyvalq *h = req ? evhttp_request_get_output_headers(req) : NULL;
	bool is_v6 = strchr(src->at.host, ':') != NULL;
	char host[sizeof src->at.host + 10], port[8] = "";

	if (!req)
		return NULL;
	evhttp_request_set_error_cb(req, jwks_request_error);
	if (src->at.port != 443)
		snprintf(port, sizeof port, ":%u", (unsigned)src->at.port);
	snprintf(host, sizeof host, "%s%s%s%s", is_v6 ? "[" : "", src->at.host, is_v6 ? "]" : "", port);
	if (evhttp_add_header(h, "Host", host) < 0 ||
	    evhttp_add_header(h, "Accept", "application/json") < 0 ||
	    evhttp_add_header(h, "User-Agent", "roomcastd/" ROOMCAST_VERSION) < 0 ||
	    evhttp_add_header(h, "Connection", "close") < 0) {
		evhttp_request_free(req);
		return NULL;
	}
	return req;
}

static int jwks_fetch_begin(struct jwks_source *src)
{
	const struct config_namespace *ns = src->ns;
	struct timeval tv = jwks_tv(ns->jwt_jwks_timeout_ms);
	struct bufferevent *bev;
	struct evhttp_request *req;
	SSL *ssl;

	if (!src->tls) {
		snprintf(src->why, sizeof src->why, "no TLS context (jwt_jwks_ca_file unreadable)");
		return -1;
	}
	ssl = jwks_ssl_new(src);
	if (!ssl)
		return -1;
	bev = bufferevent_openssl_socket_new(jwks.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
					     BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!bev) {
		SSL_free(ssl);
		return -1;
	}
	/* Many servers close without a TLS close_notify after a
	 * Connection: close answer; the body's length still ends it. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	src->conn = evhttp_connection_base_bufferevent_new(jwks.base, jwks.dns, bev, src->at.host,
							   src->at.port);
	if (!src->conn) {
		bufferevent_free(bev);
		return -1;
	}
	evhttp_connection_set_max_body_size(src->conn, (ev_ssize_t)ns->jwt_jwks_max_size);
	evhttp_connection_set_max_headers_size(src->conn, JWKS_MAX_HEADERS);
	evhttp_connection_set_timeout_tv(src->conn, &tv);
	req = jwks_request_new(src);
	if (!req)
		return -1;
	evtimer_add(src->deadline, &tv);
	/* evhttp_make_request() frees the request when it fails. */
	return evhttp_make_request(src->conn, req, EVHTTP_REQ_GET, src->at.path) < 0 ? -1 : 0;
}

/* Called from our timer only, never inside libevent's HTTP callbacks, so
 * a finished connection not yet reaped may be freed here. */
static void jwks_fetch(struct jwks_source *src)
{
	if (src->is_fetching)
		return;
	if (src->conn) {
		evhttp_connection_free(src->conn);
		src->conn = NULL;
	}
	metrics_inc(jwks_fetches_total);
	src->started_ms = jwks_now_ms();
	src->verify_error = X509_V_OK;
	src->why[0] = '\0';
	src->is_fetching = true;
	/* A failure libevent reported through the callback has ended it. */
	if (jwks_fetch_begin(src) == 0 || !src->is_fetching)
		return;
	if (!src->why[0])
		snprintf(src->why, sizeof src->why, "could not start the request (out of memory?)");
	ERR_clear_error();
	jwks_fetch_end(src, NULL);
}

static void jwks_next_fire(evutil_socket_t fd, short what, void *arg)
{
	struct jwks_source *src = arg;

	src->next_ms = 0;
	jwks_fetch(src);
}

static void jwks_source_free(struct jwks_source *src)
{
	if (src->conn)
		evhttp_connection_free(src->conn);
	if (src->next)
		event_free(src->next);
	if (src->deadline)
		event_free(src->deadline);
	if (src->reap)
		event_free(src->reap);
	SSL_CTX_free(src->tls);
	jwks_set_keys(src, NULL);
	free(src);
}

static struct jwks_source *jwks_source_new(const struct config_namespace *ns)
{
	struct jwks_source *src = calloc(1, sizeof *src);
	char why[128];

	if (!src)
		return NULL;
	snprintf(src->url, sizeof src->url, "%s", ns->jwt_key_file);
	snprintf(src->ca_file, sizeof src->ca_file, "%s", ns->jwt_jwks_ca_file);
	src->ns = ns;
	src->tls = jwks_tls_new(src->ca_file);
	src->next = evtimer_new(jwks.base, jwks_next_fire, src);
	src->deadline = evtimer_new(jwks.base, jwks_deadline, src);
	src->reap = event_new(jwks.base, -1, 0, jwks_reap, src);
	/* config.c split it already: this cannot fail. */
	if (config_url_split(src->url, &src->at, why, sizeof why) < 0 || !src->next ||
	    !src->deadline || !src->reap) {
		jwks_source_free(src);
		return NULL;
	}
	jwks_schedule(src, jwks_now_ms());
	return src;
}

static struct jwks_source *jwks_source_find(const struct config_namespace *ns)
{
	for (size_t i = 0; i < jwks.n; i++) {
		struct jwks_source *src = jwks.sources[i];

		if (strcmp(src->url, ns->jwt_key_file) == 0 &&
		    strcmp(src->ca_file, ns->jwt_jwks_ca_file) == 0)
			return src;
	}
	return NULL;
}

/* Gives every jwt_jwks_url namespace of jwks.cfg its source, new ones
 * fetched at once, and drops the sources no namespace names. */
static int jwks_sync(void)
{
	size_t kept = 0;
	int rc = 0;

	for (size_t i = 0; i < jwks.n; i++)
		jwks.sources[i]->is_used = false;
	memset(jwks.of_ns, 0, sizeof jwks.of_ns);
	for (size_t i = 0; i < jwks.cfg->n_namespaces; i++) {
		const struct config_namespace *ns = &jwks.cfg->namespaces[i];
		struct jwks_source *src;

		if (ns->auth != CONFIG_AUTH_JWT || ns->jwt_key != CONFIG_JWT_KEY_URL)
			continue;
		src = jwks_source_find(ns);
		if (src && !src->is_used)
			src->ns = ns;
		if (!src && (src = jwks_source_new(ns)) != NULL)
			jwks.sources[jwks.n++] = src;
		if (!src) {
			rc = -1;
			continue;
		}
		src->is_used = true;
		jwks.of_ns[i] = src;
	}
	for (size_t i = 0; i < jwks.n; i++) {
		if (jwks.sources[i]->is_used)
			jwks.sources[kept++] = jwks.sources[i];
		else
			jwks_source_free(jwks.sources[i]);
	}
	jwks.n = kept;
	return rc;
}

/* The resolver, made once the first URL needs it: /etc/resolv.conf and
 * /etc/hosts, read at start. */
static int jwks_dns_init(void)
{
	if (jwks.dns)
		return 0;
	jwks.dns = evdns_base_new(jwks.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (!jwks.dns) {
		log_error("jwks: cannot set up the DNS resolver");
		return -1;
	}
	return 0;
}

static bool jwks_any_url(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		if (cfg->namespaces[i].auth == CONFIG_AUTH_JWT &&
		    cfg->namespaces[i].jwt_key == CONFIG_JWT_KEY_URL)
			return true;
	}
	return false;
}

int jwks_init(struct event_base *base, const struct config *cfg)
{
	jwks.base = base;
	jwks.cfg = cfg;
	if (jwks.ssl_index < 0)
		jwks.ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (jwks.ssl_index < 0)
		return -1;
	if (!jwks_any_url(cfg))
		return 0;
	if (jwks_dns_init() < 0)
		return -1;
	return jwks_sync();
}

int jwks_reload(void)
{
	if (jwks_any_url(jwks.cfg) && jwks_dns_init() < 0)
		return -1;
	return jwks_sync();
}

void jwks_cleanup(void)
{
	for (size_t i = 0; i < jwks.n; i++)
		jwks_source_free(jwks.sources[i]);
	jwks.n = 0;
	memset(jwks.of_ns, 0, sizeof jwks.of_ns);
	if (jwks.dns)
		evdns_base_free(jwks.dns, 0);
	jwks.dns = NULL;
}

static struct jwks_source *jwks_of(const struct config_namespace *ns)
{
	if (!jwks.cfg || ns < jwks.cfg->namespaces ||
	    ns >= jwks.cfg->namespaces + jwks.cfg->n_namespaces)
		return NULL;
	return jwks.of_ns[ns - jwks.cfg->namespaces];
}

const struct jwt_keys *jwks_keys(const struct config_namespace *ns)
{
	struct jwks_source *src = jwks_of(ns);

	return src ? src->keys : NULL;
}

static bool jwks_is_under_way(const struct jwks_source *src)
{
	return src->is_fetching || (src->next_ms && src->next_ms <= jwks_now_ms());
}

bool jwks_fetch_under_way(const struct config_namespace *ns)
{
	struct jwks_source *src = jwks_of(ns);

	return src && jwks_is_under_way(src);
}

bool jwks_refresh_wanted(const struct config_namespace *ns)
{
	struct jwks_source *src = jwks_of(ns);
	uint64_t at;

	if (!src || src->is_fetching)
		return src != NULL;
	at = src->started_ms + src->ns->jwt_jwks_refresh_min_ms;
	if (at < jwks_now_ms())
		at = jwks_now_ms();
	if (!src->next_ms || src->next_ms > at) {
		metrics_inc(jwks_kid_refreshes_total);
		jwks_schedule(src, at);
	}
	return jwks_is_under_way(src);
}

void jwks_set_fetch_end(void (*cb)(void))
{
	jwks.fetch_end = cb;
}
