/* config.h - roomcastd's configuration: the values, their defaults, the parser.
 *
 * The syntax is `key value...` lines, `#` comments, sizes with units
 * (`64K`, `1M` = 1,048,576) and durations with units (`500ms`, `25s`, `2m`),
 * and `namespace NAME { ... }` blocks holding the Socket.IO policy of one
 * namespace.  Every error is reported as `FILE:LINE: message` in the
 * caller's buffer; the parser never prints, never exits and never touches
 * the network (a listen address must be a numeric IPv4 or IPv6 literal; a
 * Redis host name is only checked, and hiredis resolves it on connecting).
 * man/roomcast.conf.5 is the reference for every key.  Which room
 * patterns a namespace applies (config_room_allowed) is here because the
 * pattern syntax is the file's; the matching itself is glob.c's.
 */
#ifndef ROOMCAST_CONFIG_H
#define ROOMCAST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "log.h"

/* Read without -c.  `make install` builds the installed binary with its
 * SYSCONFDIR's path (-DCONFIG_DEFAULT_PATH=...). */
#ifndef CONFIG_DEFAULT_PATH
#define CONFIG_DEFAULT_PATH "/etc/roomcast/roomcast.conf"
#endif
#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_TRUSTED_PROXIES 16 /* trusted_proxies entries, all lines together */
#define CONFIG_MAX_CORS_ORIGINS 16
#define CONFIG_MAX_ORIGIN_LEN 256
#define CONFIG_MAX_URL_PATH 256
#define CONFIG_ERR_LEN 512

/* Namespace blocks.  "/" always exists and counts towards the maximum. */
#define CONFIG_MAX_NAMESPACES 64
#define CONFIG_MAX_NSP_NAME 128     /* bytes of a namespace name, without the NUL */
#define CONFIG_MAX_CLIENT_JOIN 16   /* patterns on one client_join line */
#define CONFIG_MAX_ROOM_PATTERN 256 /* bytes of one pattern, without the NUL */
/* Longest flush_delay: output held longer than this is latency nobody wants. */
#define CONFIG_FLUSH_DELAY_MAX_MS 1000
#define CONFIG_MAX_EVENT_NAME 64    /* bytes of join_event, leave_event */
#define CONFIG_MAX_ROOM_NAME 4096   /* the most max_room_name may be set to */
#define CONFIG_MAX_FILE_PATH 255    /* a key or secret file's path */
#define CONFIG_MAX_JWT_STRING 255   /* jwt_issuer, jwt_audience */
#define CONFIG_MAX_CLAIM_NAME 64    /* rooms_claim, allow_join_claim */
#define CONFIG_MAX_BACKEND_STREAMS 1024 /* backend_streams */

/* Redis keys. */
#define CONFIG_MAX_REDIS_HOST 255
#define CONFIG_MAX_REDIS_UNIX 107      /* sun_path less its NUL */
#define CONFIG_MAX_REDIS_PASSWORD 255
#define CONFIG_MAX_REDIS_KEY 127
/* forward_events globs on one line, and bytes of one glob. */
#define CONFIG_MAX_FORWARD_EVENTS 16
#define CONFIG_MAX_EVENT_GLOB CONFIG_MAX_EVENT_NAME
/* backend_headers: names on the line, and bytes of one (http.c reads a
 * header name into 40 bytes; a longer one never matches). */
#define CONFIG_MAX_BACKEND_HEADERS 16
#define CONFIG_MAX_HEADER_NAME 32

/* Which client events a namespace writes to the backend stream (`forward`). */
enum config_forward {
	CONFIG_FORWARD_UNRELAYED,      /* those not relayed to rooms (and not join/leave) */
	CONFIG_FORWARD_ALL,            /* relayed ones too */
	CONFIG_FORWARD_NONE,           /* none: counted as dropped when not relayed */
};

/* Who may connect to a namespace (`auth`). */
enum config_auth {
	CONFIG_AUTH_NONE,              /* anyone */
	CONFIG_AUTH_JWT,               /* a client with a valid token */
	CONFIG_AUTH_BACKEND,           /* a client a backend accepts (nsp.c asks it) */
};

/* Where a namespace's token keys come from (jwt_*_file). */
enum config_jwt_key {
	CONFIG_JWT_KEY_NONE,
	CONFIG_JWT_KEY_SECRET,         /* jwt_secret_file: HMAC (HS256/384/512) */
	CONFIG_JWT_KEY_PEM,            /* jwt_public_key_file: RSA, EC or Ed25519 */
	CONFIG_JWT_KEY_JWKS,           /* jwt_jwks_file: keys chosen by kid */
	CONFIG_JWT_KEY_URL,            /* jwt_jwks_url: a JWKS fetched over HTTPS (jwks.c) */
};

/* Engine.IO transports, as a bit set in config.transports. */
#define CONFIG_TRANSPORT_POLLING 0x1u
#define CONFIG_TRANSPORT_WEBSOCKET 0x2u

struct config_listen {
	struct sockaddr_storage addr; /* numeric address and port, ready for bind() */
	socklen_t addr_len;
	char text[128];               /* as written in the file, for log lines */
	int line;                     /* where it was declared */
	bool reuseport;               /* SO_REUSEPORT: several processes on one port */
	bool proxy_protocol;          /* each connection opens with a PROXY protocol header */
	uint16_t mode;                /* unix socket: its file's permissions */
};

/* One trusted_proxies network: an address and how many of its leading
 * bits a peer must share with it.  IPv4 is kept IPv4-mapped (its prefix
 * plus 96), as peers are compared; bits past the prefix are zero. */
struct config_cidr {
	uint8_t addr[16];
	uint8_t bits;                 /* 0..128 */
};

/* One `namespace NAME { ... }` block, or the implicit "/" with the
 * defaults.  Strings are NUL-terminated and zero-filled to their end, so
 * two configs with the same values compare equal byte for byte. */
struct config_namespace {
	char name[CONFIG_MAX_NSP_NAME + 1]; /* starts with '/'; no ',', '#' or space */
	size_t name_len;
	int line;                                 /* of `namespace NAME {`; 0 = implicit "/" */
	size_t n_client_join;                     /* 0 = clients may not join or leave any room */
	char client_join[CONFIG_MAX_CLIENT_JOIN][CONFIG_MAX_ROOM_PATTERN + 1]; /* globs, syntax checked */
	char join_event[CONFIG_MAX_EVENT_NAME + 1];  /* event a client sends to join a room */
	char leave_event[CONFIG_MAX_EVENT_NAME + 1]; /* ... and to leave one; never equal */
	uint32_t max_rooms_per_socket;            /* rooms besides the socket's own id room */
	bool relay;                               /* other client events go to the socket's rooms */
	uint32_t flush_delay_ms;                  /* WebSocket output may wait this long, 0 = none */
	enum config_auth auth;                    /* who may connect */
	enum config_jwt_key jwt_key;              /* which jwt_*_file was set */
	char jwt_key_file[CONFIG_MAX_FILE_PATH + 1];  /* read at start-up (auth.c); jwt_jwks_url's URL */
	char jwt_jwks_ca_file[CONFIG_MAX_FILE_PATH + 1]; /* "" = the system's CA store */
	uint32_t jwt_jwks_refresh_ms;             /* a fetched JWKS is fetched again this often */
	uint32_t jwt_jwks_refresh_min_ms;         /* shortest gap between two fetches */
	uint32_t jwt_jwks_timeout_ms;             /* one fetch, from resolving to the last byte */
	uint32_t jwt_jwks_wait_ms;                /* a CONNECT held for a fetch; 0 = refused at once */
	size_t jwt_jwks_max_size;                 /* longest JWKS response body */
	uint32_t jwt_jwks_max_keys;               /* most keys a fetched JWKS may list */
	char jwt_issuer[CONFIG_MAX_JWT_STRING + 1];   /* "" = iss not checked */
	char jwt_audience[CONFIG_MAX_JWT_STRING + 1]; /* "" = aud not checked */
	uint32_t jwt_leeway_ms;                   /* clock skew allowed on exp and nbf */
	bool jwt_redact_token;                    /* the connect record's auth goes without its token */
	char user_room[CONFIG_MAX_ROOM_PATTERN + 1];  /* room joined at connect, from claims; "" = none */
	char rooms_claim[CONFIG_MAX_CLAIM_NAME + 1];  /* claim listing rooms joined at connect; "" = none */
	char allow_join_claim[CONFIG_MAX_CLAIM_NAME + 1]; /* claim listing globs the client may join; "" = none */
	uint32_t auth_backend_timeout_ms;         /* auth backend: how long a CONNECT waits;
	                                             0 = the top-level auth_backend_timeout */
	enum config_forward forward;              /* which events go to the backend stream */
	size_t n_forward_events;                  /* 0 = every event `forward` lets through */
	char forward_events[CONFIG_MAX_FORWARD_EVENTS][CONFIG_MAX_EVENT_GLOB + 1]; /* plain globs */
};

struct config {
	struct config_listen listen[CONFIG_MAX_LISTEN];
	size_t n_listen;
	struct config_listen admin_listen; /* /metrics and /healthz only, when has_admin_listen */
	bool has_admin_listen;                 /* 1..CONFIG_MAX_LISTEN: no listen line keeps the default 127.0.0.1:3000 */
	char path[CONFIG_MAX_URL_PATH];  /* Engine.IO path, starts and ends with '/' */
	unsigned transports;             /* CONFIG_TRANSPORT_* bits, never 0 */
	bool allow_upgrades;             /* polling sessions may upgrade to WebSocket */
	uint32_t ping_interval_ms;
	uint32_t ping_timeout_ms;
	uint32_t upgrade_timeout_ms;
	size_t max_payload;              /* bytes: POST body, WebSocket message */
	uint32_t max_connections;        /* open TCP connections, listeners excluded */
	uint32_t max_connections_per_ip; /* open connections from one peer address, 0 = no limit */
	/* Peers whose PROXY header and X-Forwarded-For name the client (realip.h). */
	struct config_cidr trusted_proxies[CONFIG_MAX_TRUSTED_PROXIES];
	size_t n_trusted_proxies;
	bool trust_unix;                 /* trusted_proxies unix: peers on unix sockets */
	size_t max_header_size;          /* bytes of one HTTP request head */
	size_t max_output_buffer;        /* bytes queued for one client before it is cut off */
	uint32_t linger_timeout_ms;      /* a connection closing once flushed, at most */
	uint32_t drain_timeout_ms;       /* SIGTERM closes sessions in batches over this long */
	uint32_t keepalive_timeout_ms;   /* idle keep-alive HTTP connection between requests */
	uint32_t header_timeout_ms;      /* a request head, from accept or its first byte */
	uint32_t body_timeout_ms;        /* a whole request body, from the end of its head */
	bool cors_any;                   /* cors_origin * */
	size_t n_cors_origins;           /* cors_origin list; 0 and !cors_any = CORS off */
	bool has_allowed_origins;        /* allowed_origins was given: it decides, not cors_origin */
	bool allowed_any;                /* allowed_origins * */
	size_t n_allowed_origins;
	char allowed_origins[CONFIG_MAX_CORS_ORIGINS][CONFIG_MAX_ORIGIN_LEN];
	bool allow_no_origin;            /* a request without Origin may open or use a session */
	char cors_origins[CONFIG_MAX_CORS_ORIGINS][CONFIG_MAX_ORIGIN_LEN];
	enum log_level log_level;
	char log_file[256];              /* "" = stderr (journald) */
	enum log_access access_log;      /* a line per session opened and closed, or off */
	uint32_t max_namespaces_per_session; /* namespaces one Engine.IO session may have connected */
	size_t max_room_name;            /* bytes: longest room name a client may join */
	uint32_t connect_timeout_ms;     /* a session with no namespace connected by then is closed */
	uint32_t max_json_expansion;     /* parsed JSON may take this many times its text (+64K) */
	size_t max_auth_size;            /* bytes of CONNECT auth a socket keeps for its life */
	uint32_t max_acks_per_socket;    /* answers a socket may owe to broadcasts with acks */
	/* Redis: no `redis` key leaves redis_host and redis_unix empty, a
	 * single instance. */
	char redis_host[CONFIG_MAX_REDIS_HOST + 1];  /* host name or IP literal, "" = none */
	uint16_t redis_port;                     /* with redis_host */
	char redis_unix[CONFIG_MAX_REDIS_UNIX + 1];  /* `unix:/path` form, "" = none */
	char redis_password[CONFIG_MAX_REDIS_PASSWORD + 1]; /* "" = no AUTH */
	char redis_password_file[CONFIG_MAX_FILE_PATH + 1]; /* "" = none; read into redis_password by config_load() */
	uint32_t redis_db;                       /* SELECT, 0 = none needed */
	char redis_key[CONFIG_MAX_REDIS_KEY + 1];    /* the adapter's channel prefix, "socket.io" */
	uint32_t redis_request_timeout_ms;       /* waiting for cluster answers and client acks */
	char redis_emit_channel[CONFIG_MAX_REDIS_KEY + 1]; /* plain JSON emits; never under redis_key# */
	size_t redis_max_message;                /* bytes: longer Redis messages are dropped */
	/* Session routing (route.h): both or neither, and only with redis. */
	struct config_listen cluster_listen;     /* where peers forward requests, when has_cluster_listen */
	bool has_cluster_listen;
	uint32_t cluster_max_upstreams;          /* connections to peers, 0 = max_connections */
	uint32_t cluster_max_unauthenticated;    /* cluster_listen connections before their token */
	uint32_t cluster_max_unauthenticated_per_ip; /* of them from one address */
	char cluster_secret_file[CONFIG_MAX_FILE_PATH + 1]; /* "" = none; read at start-up (route.c) */
	char backend_stream[CONFIG_MAX_REDIS_KEY + 1]; /* XADD key of client events for backends */
	uint32_t backend_stream_maxlen;          /* XADD MAXLEN ~: entries Redis keeps per stream */
	uint32_t backend_streams;                /* K: records spread over <stream>:<i> by socket, 1 = one */
	size_t backend_buffer;                   /* bytes of encoded records waiting for Redis */
	uint32_t backend_flush_delay_ms;         /* records held so that a burst is one write */
	uint32_t max_backend_acks;               /* ack ids one socket awaits from backends */
	uint32_t backend_ack_timeout_ms;         /* how long a backend may take to answer one */
	size_t n_backend_headers;                /* handshake headers kept for connect records */
	char backend_headers[CONFIG_MAX_BACKEND_HEADERS][CONFIG_MAX_HEADER_NAME + 1]; /* lower case */
	uint32_t auth_backend_timeout_ms;        /* auth backend namespaces without their own */
	uint32_t max_pending_connects;           /* CONNECTs waiting for a backend, whole process */
	uint32_t max_pending_connects_per_ip;    /* of them from one client address, 0 = no limit */
	uint32_t max_refused_connects_per_session; /* then the session is closed */
	uint32_t max_refused_connects_per_ip;    /* in SERVER_IP_REFUSAL_WINDOW_MS, 0 = no limit */
	struct config_namespace namespaces[CONFIG_MAX_NAMESPACES]; /* [0] is always "/" */
	size_t n_namespaces;             /* 1..CONFIG_MAX_NAMESPACES */
};

/* "IPv4:PORT", "[IPv6]:PORT" or "*:PORT" (<len> bytes) into <addr>: never
 * a name, since resolving would block and could change later; port 0 only
 * with <port_zero_ok>.  Returns 0, 1 if it is not such an address, or 2
 * if the port is out of 1..65535.  Pure: also reads the addresses peers
 * announce (route.c). */
int config_inet_address(const char *s, size_t len, struct sockaddr_storage *addr,
			socklen_t *addr_len, bool port_zero_ok);

/* Fills <cfg> with the defaults (the reference server's where it has one),
 * including the namespace "/" at index 0 with the namespace defaults. */
void config_defaults(struct config *cfg);

/* Parses <text> (<len> bytes, need not be NUL-terminated) on top of the
 * values already in <cfg>: a key in <text> replaces its value, and the first
 * line of a repeatable key (listen) replaces its list, later lines add.
 * Likewise the first namespace block of <text> replaces the namespace list
 * with a lone "/" at its defaults before it is read; a text without blocks
 * keeps the namespaces it was parsed on top of.
 * <filename> names the source in error messages.  Returns 0, or -1 with
 * "FILE:LINE: message" in <err> (<cfg> then holds a partial result the
 * caller must not use). */
int config_parse(struct config *cfg, const char *text, size_t len,
		 const char *filename, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* Reads a secret of at most <max> bytes from the file at <path> into <buf>
 * (room for max + CONFIG_SECRET_SLACK bytes), its length into *<len>:
 * the final line ends ("\n", "\r\n": the editor's) are not part of it,
 * and a file too long for <max> gives *<len> > <max>.  Returns 0, or -1
 * with errno set if the file could not be opened or read.  The caller
 * wipes <buf> when it is done. */
#define CONFIG_SECRET_SLACK 3
int config_read_secret(const char *path, void *buf, size_t max, size_t *len)
	__attribute__((warn_unused_result));

/* Sets the defaults, then reads and parses the file at <path>.  Returns 0,
 * or -1 with "FILE:LINE: message" (or "FILE: strerror") in <err>. */
int config_load(struct config *cfg, const char *path, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* An https:// URL split for a client (jwt_jwks_url): <host> without
 * brackets, <port> (443 unless given), <path> from the first '/' or '?'
 * of the URL it was split from ("/" when it has none). */
struct config_url {
	char host[256];
	uint16_t port;
	bool is_ip;                    /* host is an IPv4 or IPv6 literal */
	const char *path;
};

/* Splits <url>: https://HOST[:PORT][/PATH][?QUERY], HOST a DNS name, an
 * IPv4 literal or a bracketed IPv6 one; no user, no fragment, no byte
 * outside printable ASCII or a space.  Returns 0, or -1 with the reason in
 * <why>.  Pure. */
int config_url_split(const char *url, struct config_url *out, char *why, size_t why_len);

/* Loads the file at <path> as config_load() does and writes to <out> the
 * configuration it gives: every key on a line of its own, with the values
 * the file wrote or else its default, a key with no default and not set as
 * a comment, and every namespace as a block ("/" included).  Comments and
 * spacing of the file are not kept.  The text is a config file that parses
 * to the same values (roomcastd -T).  Returns 0, or -1 with the reason in
 * <err> and nothing written. */
int config_dump(const char *path, FILE *out, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* Whether a client may join or leave room <room> (<room_len> bytes, not
 * NUL-terminated, may be empty) of namespace <ns> by itself: true if any of
 * ns->client_join matches the whole name (glob_match(), with the
 * namespace's separators).  In a pattern `*` matches any run
 * of bytes (also none), `?` exactly one byte, and a placeholder the value
 * it names, byte for byte (a `*` in the value is a plain '*'):
 * `{auth.FIELD}` FIELD of the client's CONNECT auth object, `{sub}` and
 * `{claims.FIELD}` its token's subject and claim FIELD; every other byte
 * matches itself.  No patterns, or a room longer than
 * CONFIG_MAX_ROOM_NAME: false.  Pure, no allocation; O(room_len x pattern
 * length) per pattern.  The caller checks max_room_name first.
 * <value>(<ctx>, name, name_len, &value_len) returns the value of the
 * placeholder whose braces hold <name> (auth.FIELD, sub or claims.FIELD;
 * not NUL-terminated, at most CONFIG_MAX_ROOM_PATTERN bytes) and its
 * length, or NULL if there is none; it decides how a non-string value
 * reads (a number's JSON text, say) or refuses it with NULL.  Its bytes
 * need only last until its next call (a static buffer will do).  A pattern
 * whose placeholder has no value, or a value config_value_is_separated()
 * refuses, does not match, nor does any placeholder pattern when <value>
 * is NULL. */
bool config_room_allowed(const struct config_namespace *ns, const char *room, size_t room_len,
			 const char *(*value)(void *ctx, const char *name, size_t name_len,
					      size_t *value_len),
			 void *ctx);

/* Whether placeholder value <value> (<len> bytes, any bytes) holds none
 * of <ns>'s separators: the bytes that follow a placeholder in its
 * client_join patterns or its user_room.  A value that holds one names no
 * room, so in a pattern like "own:{sub}:*" the value ends at the first
 * ':' and the user "a" never reaches a room of the user "a:b" (who has
 * none there).  config_parse() makes every placeholder of a pattern with
 * a claim, and of user_room, end it or be followed by a literal byte, with
 * no '*' before it, so that each room holds at most one value per place. */
bool config_value_is_separated(const struct config_namespace *ns, const char *value, size_t len);

/* Whether <room> matches the plain glob <glob>: `*` any run of bytes, `?`
 * one byte, every other byte itself (a `{` too): the globs a token's
 * allow_join claim lists.  A glob longer than CONFIG_MAX_ROOM_PATTERN, or
 * a room longer than CONFIG_MAX_ROOM_NAME, never matches.  Pure
 * (glob_match_plain()). */
bool config_glob_allows(const char *glob, size_t glob_len, const char *room, size_t room_len);

/* Calls <fn>(<ctx>, NAME, length) for each placeholder of <ns>'s
 * client_join patterns, in order, repeats included: NAME is what the
 * braces hold (auth.FIELD, sub or claims.FIELD), what config_room_allowed()
 * may ask for.  <name> is not NUL-terminated. */
void config_each_placeholder(const struct config_namespace *ns,
			     void (*fn)(void *ctx, const char *name, size_t name_len), void *ctx);

#endif
