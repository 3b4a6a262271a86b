/* config.c - roomcast.conf: lexer, key table, value parsers, defaults,
 * namespace blocks, and which room patterns a namespace applies.
 *
 * Owns the step from the file's bytes to a filled struct config: the lexer
 * (words, ends of line, and the braces of blocks), the key table (one row
 * per key: its handler, where it is valid (top level or namespace block),
 * how many values it takes, whether it may repeat, its default and why),
 * the typed value parsers (size, duration, count, boolean, listen address,
 * origin, room pattern, event name, Redis address), `namespace NAME {` ...
 * `}` blocks and the checks that span keys (redis_emit_channel against
 * redis_key among them).  Also owns config_room_allowed(): which of a
 * namespace's patterns apply and its separators; the matching itself is
 * glob.c's, on patterns whose syntax is checked here.  Does not own opening
 * the log file, binding listeners or deciding what a reload may change
 * (main.c), nor applying a namespace's policy (nsp.c).  Pure apart from
 * config_load() reading the file and config_dump() writing what it read
 * (roomcastd -T): no logging, no globals written, no name resolution.
 *
 * Flow: config_load() -> config_defaults() (each top-level row's default
 * text through its own handler, then "/" with each namespace row's) ->
 * config_parse(): lexer -> block or statement -> row -> handler, the block
 * checks at each `}`, then config_check().  Every error is
 * "FILE:LINE: message" in the caller's buffer, first error wins.
 * Limits: file 1 MiB; no NUL or other control bytes but tab, and CR only
 * before LF; CONFIG_MAX_LISTEN listeners, CONFIG_MAX_CORS_ORIGINS origins,
 * CONFIG_MAX_NAMESPACES namespaces ("/" included), CONFIG_MAX_CLIENT_JOIN
 * patterns per block; blocks do not nest.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/un.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "glob.h"

/* A config file is a few kilobytes; 1 MiB means a wrong file was named
 * (a log, a binary), and it bounds what config_load() allocates. */
#define CONFIG_MAX_FILE_BYTES (1024 * 1024)

/* Values stored per statement; the largest lists a key takes are
 * cors_origin and client_join.  Words past this are still counted, so
 * "too many values" stays exact. */
#define CONFIG_MAX_VALUES \
	(CONFIG_MAX_CORS_ORIGINS > CONFIG_MAX_CLIENT_JOIN ? CONFIG_MAX_CORS_ORIGINS \
							  : CONFIG_MAX_CLIENT_JOIN)

/* Bytes of a word quoted in an error message, as in our log lines. */
#define CONFIG_QUOTE_MAX 64

/* A limit's value as a string literal, for fixed messages. */
#define CONFIG_STR_(x) #x
#define CONFIG_STR(x) CONFIG_STR_(x)

#define CONFIG_KIB UINT64_C(1024)
#define CONFIG_MIB (1024 * CONFIG_KIB)
#define CONFIG_GIB (1024 * CONFIG_MIB)
#define CONFIG_SECOND_MS UINT64_C(1000)
#define CONFIG_MINUTE_MS (60 * CONFIG_SECOND_MS)
#define CONFIG_HOUR_MS (60 * CONFIG_MINUTE_MS)

/* Tokens.  Braces are tokens only when they stand alone, so that a value
 * such as a path or a room pattern ({auth.user}) may contain them while
 * `namespace /chat {` opens a block. */
enum config_tok_kind {
	CONFIG_TOK_WORD,
	CONFIG_TOK_OPEN,  /* { */
	CONFIG_TOK_CLOSE, /* } */
	CONFIG_TOK_EOL,
	CONFIG_TOK_END,
};

struct config_tok {
	enum config_tok_kind kind;
	const char *s; /* borrowed from the text being parsed; not NUL-terminated */
	size_t len;
	int line;
};

struct config_lexer {
	const char *p, *end;
	int line;
};

struct config_parser;
struct config_key;

/* A key's handler: sets the key from <v> (<n> values, 1..max_values,
 * already counted by the caller).  Returns 0, or -1 with the error set. */
typedef int config_set_cb(struct config_parser *ps, const struct config_key *key,
			  const struct config_tok *v, size_t n);

/* Where a key may be written. */
enum config_scope {
	CONFIG_SCOPE_TOP,       /* outside blocks; applies to the whole server */
	CONFIG_SCOPE_NAMESPACE, /* inside a namespace block only */
};

struct config_key {
	const char *name;
	config_set_cb *set;
	enum config_scope scope;
	size_t max_values;         /* every key takes at least one */
	bool repeatable;           /* each line adds; otherwise a second line is an error */
	size_t field;              /* offset in struct config (or config_namespace), for the
				    * generic handlers */
	uint64_t min, max;         /* accepted range, in the field's unit (bytes, ms, count) */
	const char *default_value; /* applied by config_defaults(); NULL = zero or empty */
	const char *why;           /* the reason for the default, one line */
	const char *applies_with;  /* "KEY" or "KEY VALUE": the statement of its block this
				    * key is refused without; NULL = none */
};

/* Offset of <field> in struct config, which must have type <type>: a row
 * whose generic handler writes the wrong width does not compile. */
#define CONFIG_FIELD(field, type) \
	_Generic(((struct config *)0)->field, type: offsetof(struct config, field))
/* The same for a namespace row's field in struct config_namespace. */
#define CONFIG_NS_FIELD(field, type) \
	_Generic(((struct config_namespace *)0)->field, \
		 type: offsetof(struct config_namespace, field))

static config_set_cb config_set_listen, config_set_path, config_set_transports,
	config_set_bool, config_set_duration, config_set_size, config_set_count,
	config_set_cors_origin, config_set_allowed_origins, config_set_log_level,
	config_set_admin_listen, config_set_log_file, config_set_access_log,
	config_set_client_join, config_set_event_name, config_set_redis, config_set_redis_password,
	config_set_redis_password_file,
	config_set_redis_key, config_set_redis_emit_channel, config_set_auth, config_set_jwt_key_file,
	config_set_jwks_ca_file, config_set_jwt_string, config_set_user_room, config_set_claim_name, config_set_forward,
	config_set_forward_events, config_set_backend_stream, config_set_backend_headers,
	config_set_cluster_listen, config_set_cluster_secret_file, config_set_trusted_proxies;

/* Every key, its default and why.  The reference server is Node socket.io
 * 4.8 (engine.io 6.6) on Node's http module; see
 * doc/protocol.md, "Reference defaults".
 * man/roomcast.conf.5 and conf/roomcast.conf describe the same rows. */
static const struct config_key config_keys[] = {
	{ .name = "listen", .set = config_set_listen, .max_values = 3, .repeatable = true,
	  .default_value = "127.0.0.1:3000",
	  .why = "loopback until the operator opts in; port 3000 as in the socket.io docs" },
	{ .name = "admin_listen", .set = config_set_admin_listen, .max_values = 1,
	  .why = "none: /metrics is served beside clients until the operator names a private address" },
	{ .name = "path", .set = config_set_path, .max_values = 1,
	  .default_value = "/socket.io/",
	  .why = "socket.io's path option, which every client uses unless told otherwise" },
	{ .name = "transports", .set = config_set_transports, .max_values = 2,
	  .default_value = "polling websocket",
	  .why = "socket.io's transports: polling gets through proxies that block WebSocket" },
	{ .name = "allow_upgrades", .set = config_set_bool, .max_values = 1,
	  .field = CONFIG_FIELD(allow_upgrades, bool),
	  .default_value = "yes",
	  .why = "socket.io's allowUpgrades: clients start on polling and move to WebSocket" },
	{ .name = "ping_interval", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(ping_interval_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "25s",
	  .why = "socket.io's pingInterval, sent to clients in the handshake" },
	{ .name = "ping_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(ping_timeout_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "20s",
	  .why = "socket.io's pingTimeout, sent to clients in the handshake" },
	{ .name = "upgrade_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(upgrade_timeout_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "10s",
	  .why = "engine.io's upgradeTimeout" },
	{ .name = "max_payload", .set = config_set_size, .max_values = 1,
	  .field = CONFIG_FIELD(max_payload, size_t), .min = 1, .max = CONFIG_GIB,
	  .default_value = "1000000",
	  .why = "socket.io's maxHttpBufferSize, 1e6 bytes (not 1M), sent as maxPayload" },
	{ .name = "max_connections", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_connections, uint32_t), .min = 1, .max = 1000000,
	  .default_value = "10000",
	  .why = "Node has no cap; ours bounds fds and memory under a flood (raise with LimitNOFILE)" },
	{ .name = "max_connections_per_ip", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_connections_per_ip, uint32_t), .min = 0, .max = 1000000,
	  .default_value = "0",
	  .why = "off: behind a load balancer every connection has the balancer's address" },
	{ .name = "trusted_proxies", .set = config_set_trusted_proxies,
	  .max_values = CONFIG_MAX_TRUSTED_PROXIES, .repeatable = true,
	  .why = "none: a PROXY header or X-Forwarded-For is believed only from a named balancer" },
	{ .name = "max_header_size", .set = config_set_size, .max_values = 1,
	  .field = CONFIG_FIELD(max_header_size, size_t), .min = CONFIG_KIB, .max = CONFIG_MIB,
	  .default_value = "16K",
	  .why = "Node's --max-http-header-size default, 16 KiB" },
	{ .name = "max_output_buffer", .set = config_set_size, .max_values = 1,
	  .field = CONFIG_FIELD(max_output_buffer, size_t), .min = 64 * CONFIG_KIB, .max = CONFIG_GIB,
	  .default_value = "8M",
	  .why = "Redis's pub/sub soft limit: a client 8 MiB behind is not catching up" },
	{ .name = "linger_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(linger_timeout_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "10s",
	  .why = "a reading peer takes its last bytes in well under it; one that does not never will" },
	{ .name = "drain_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(drain_timeout_ms, uint32_t), .min = 0, .max = 10 * 60 * 1000,
	  .default_value = "10s",
	  .why = "10,000 clients moved at 1,000/s: the other instances take them in their stride" },
	{ .name = "keepalive_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(keepalive_timeout_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "5s",
	  .why = "Node's http.Server keepAliveTimeout" },
	{ .name = "header_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(header_timeout_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "10s",
	  .why = "a head is one packet from a real client; 10s covers a slow link, as HAProxy advises" },
	{ .name = "body_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(body_timeout_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "10s",
	  .why = "the whole body from the end of its head: a max_payload POST needs 100 KB/s" },
	{ .name = "cors_origin", .set = config_set_cors_origin, .max_values = CONFIG_MAX_CORS_ORIGINS,
	  .why = "off, as socket.io without its cors option: no Access-Control-* headers" },
	{ .name = "allowed_origins", .set = config_set_allowed_origins,
	  .max_values = CONFIG_MAX_CORS_ORIGINS,
	  .why = "cors_origin's origins: a site CORS lets in may open sockets, no other" },
	{ .name = "allow_no_origin", .set = config_set_bool, .max_values = 1,
	  .field = CONFIG_FIELD(allow_no_origin, bool), .default_value = "yes",
	  .why = "non-browser clients send no Origin, and no browser omits it for a socket" },
	{ .name = "log_level", .set = config_set_log_level, .max_values = 1,
	  .default_value = "info",
	  .why = "one line per start, stop and error; per-client detail is debug" },
	{ .name = "log_file", .set = config_set_log_file, .max_values = 1,
	  .why = "stderr, which journald already timestamps and rotates" },
	{ .name = "access_log", .set = config_set_access_log, .max_values = 1,
	  .default_value = "off",
	  .why = "a line per session costs a write each; the metrics count sessions already" },
	{ .name = "max_namespaces_per_session", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_namespaces_per_session, uint32_t), .min = 1, .max = 1000,
	  .default_value = "16",
	  .why = "socket.io has no cap; each namespace costs a socket, and apps use a handful" },
	{ .name = "max_refused_connects_per_session", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_refused_connects_per_session, uint32_t), .min = 1,
	  .max = 1000, .default_value = "10",
	  .why = "a client retries a refused token after a refresh; ten refusals is a loop" },
	{ .name = "max_refused_connects_per_ip", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_refused_connects_per_ip, uint32_t), .min = 0, .max = 1000000,
	  .default_value = "0",
	  .why = "off, as max_connections_per_ip: behind a balancer one client would refuse all" },
	{ .name = "max_room_name", .set = config_set_size, .max_values = 1,
	  .field = CONFIG_FIELD(max_room_name, size_t), .min = 1, .max = CONFIG_MAX_ROOM_NAME,
	  .default_value = "256",
	  .why = "socket.io has no cap; 256 bytes holds an id or a user name with a prefix" },
	{ .name = "max_json_expansion", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_json_expansion, uint32_t), .min = 2, .max = 1000,
	  .default_value = "32",
	  .why = "jansson takes 6-20x typical text, ~38x for arrays of small objects, 44-80x for floods" },
	{ .name = "max_auth_size", .set = config_set_size, .max_values = 1,
	  .field = CONFIG_FIELD(max_auth_size, size_t), .min = 64, .max = CONFIG_MIB,
	  .default_value = "8K",
	  .why = "kept for the socket's life; a token with its claims is 1-2K, half a 16K header" },
	{ .name = "max_acks_per_socket", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_acks_per_socket, uint32_t), .min = 1, .max = 100000,
	  .default_value = "256",
	  .why = "socket.io has no cap; 256 unanswered acks is a client that is not answering" },
	{ .name = "connect_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(connect_timeout_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "45s",
	  .why = "socket.io's connectTimeout" },

	/* Redis: other instances, Node servers and backends (redis.c, cluster.c). */
	{ .name = "redis", .set = config_set_redis, .max_values = 1,
	  .why = "none: a single instance until the operator names a Redis to share" },
	{ .name = "redis_password", .set = config_set_redis_password, .max_values = 1,
	  .why = "none, as for a Redis without requirepass" },
	{ .name = "redis_password_file", .set = config_set_redis_password_file, .max_values = 1,
	  .why = "none: redis_password kept out of the config file (or a systemd credential)" },
	{ .name = "redis_db", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(redis_db, uint32_t), .min = 0, .max = 1000000,
	  .default_value = "0",
	  .why = "Redis's default database; a server may be configured with more than 16" },
	{ .name = "redis_key", .set = config_set_redis_key, .max_values = 1,
	  .field = CONFIG_FIELD(redis_key, char *), .max = CONFIG_MAX_REDIS_KEY,
	  .default_value = "socket.io",
	  .why = "the redis-adapter's and redis-emitter's key option: Node servers use it too" },
	{ .name = "redis_request_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(redis_request_timeout_ms, uint32_t), .min = 1,
	  .max = CONFIG_HOUR_MS,
	  .default_value = "5s",
	  .why = "the redis-adapter's requestsTimeout, 5000 ms" },
	{ .name = "redis_emit_channel", .set = config_set_redis_emit_channel, .max_values = 1,
	  .field = CONFIG_FIELD(redis_emit_channel, char *), .max = CONFIG_MAX_REDIS_KEY,
	  .default_value = "roomcast-emit",
	  .why = "outside redis_key's channels, where JSON kills Node servers"
		 " (doc/protocol.md, \"Poison on broadcast channels\")" },
	{ .name = "redis_max_message", .set = config_set_size, .max_values = 1,
	  .field = CONFIG_FIELD(redis_max_message, size_t), .min = CONFIG_KIB,
	  .max = 512 * CONFIG_MIB, .default_value = "1M",
	  .why = "max_payload's order: one message is decoded and queued for many clients" },

	/* Session routing: a request for another instance's session is
	 * forwarded to it (route.c, forward.c). */
	{ .name = "cluster_listen", .set = config_set_cluster_listen, .max_values = 1,
	  .why = "none: requests for another instance's session get code 1, as without stickiness" },
	{ .name = "cluster_max_upstreams", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(cluster_max_upstreams, uint32_t), .min = 0, .max = 1000000,
	  .default_value = "0",
	  .why = "as max_connections: a client connection has at most one upstream in flight" },
	{ .name = "cluster_max_unauthenticated", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(cluster_max_unauthenticated, uint32_t), .min = 1, .max = 65536,
	  .default_value = "4096",
	  .why = "room for peers' bursts of new upstreams (one per request in flight); ~1 KiB each" },
	{ .name = "cluster_max_unauthenticated_per_ip", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(cluster_max_unauthenticated_per_ip, uint32_t), .min = 1,
	  .max = 1000000, .default_value = "1024",
	  .why = "a peer forwarding 1024 new requests at once passes; one address cannot take every place" },
	{ .name = "cluster_secret_file", .set = config_set_cluster_secret_file, .max_values = 1,
	  .why = "none: a secret shared by the cluster signs session ids and peer requests" },

	/* Backends: client events written to a Redis Stream (backend.c). */
	{ .name = "backend_stream", .set = config_set_backend_stream, .max_values = 1,
	  .field = CONFIG_FIELD(backend_stream, char *), .max = CONFIG_MAX_REDIS_KEY,
	  .default_value = "roomcast:events",
	  .why = "a key of its own, apart from the adapter's channels" },
	{ .name = "backend_stream_maxlen", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(backend_stream_maxlen, uint32_t), .min = 1, .max = 1000000000,
	  .default_value = "100000",
	  .why = "XADD MAXLEN ~: minutes of events for workers that fall behind, not Redis's memory" },
	{ .name = "backend_streams", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(backend_streams, uint32_t), .min = 1, .max = CONFIG_MAX_BACKEND_STREAMS,
	  .default_value = "1",
	  .why = "one stream keeps every socket in order for one reader; K let K workers share it" },
	{ .name = "backend_buffer", .set = config_set_size, .max_values = 1,
	  .field = CONFIG_FIELD(backend_buffer, size_t), .min = 0, .max = CONFIG_GIB,
	  .default_value = "8M",
	  .why = "tens of thousands of small records: a Redis restart or failover, not a long outage" },
	{ .name = "backend_flush_delay", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(backend_flush_delay_ms, uint32_t), .min = 0,
	  .max = CONFIG_FLUSH_DELAY_MAX_MS, .default_value = "1ms",
	  .why = "pipelining per loop turn wrote every few records; 1ms makes it one write per burst" },
	{ .name = "max_backend_acks", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_backend_acks, uint32_t), .min = 1, .max = UINT16_MAX,
	  .default_value = "64",
	  .why = "a client rarely has more requests in flight; each costs a record until answered" },
	{ .name = "backend_ack_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(backend_ack_timeout_ms, uint32_t), .min = 1, .max = CONFIG_HOUR_MS,
	  .default_value = "30s",
	  .why = "a worker that has not answered in 30s will not; the client has timed out by then" },
	{ .name = "backend_headers", .set = config_set_backend_headers,
	  .max_values = CONFIG_MAX_BACKEND_HEADERS,
	  .why = "none: a session keeps no header it does not need (the cookie is a secret)" },
	{ .name = "auth_backend_timeout", .set = config_set_duration, .max_values = 1,
	  .field = CONFIG_FIELD(auth_backend_timeout_ms, uint32_t), .min = 1,
	  .max = CONFIG_HOUR_MS, .default_value = "10s",
	  .why = "a session lookup takes milliseconds; a user waits no longer than a page load" },
	{ .name = "max_pending_connects", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_pending_connects, uint32_t), .min = 1, .max = 1000000,
	  .default_value = "1000",
	  .why = "a reconnect storm of a busy instance; each waiting CONNECT holds its auth text" },
	{ .name = "max_pending_connects_per_ip", .set = config_set_count, .max_values = 1,
	  .field = CONFIG_FIELD(max_pending_connects_per_ip, uint32_t), .min = 0, .max = 1000000,
	  .default_value = "0",
	  .why = "off, as max_connections_per_ip: behind a balancer every client has its address" },

	/* Namespace blocks: each block starts from these defaults. */
	{ .name = "client_join", .set = config_set_client_join, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = CONFIG_MAX_CLIENT_JOIN,
	  .why = "none: rooms are the server's to assign until the operator names some" },
	{ .name = "join_event", .set = config_set_event_name, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(join_event, char *),
	  .default_value = "join",
	  .why = "what client code usually calls it: socket.emit(\"join\", room)" },
	{ .name = "leave_event", .set = config_set_event_name, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(leave_event, char *),
	  .default_value = "leave",
	  .why = "the counterpart of join" },
	{ .name = "max_rooms_per_socket", .set = config_set_count, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(max_rooms_per_socket, uint32_t),
	  .min = 0, .max = 100000, .default_value = "64",
	  .why = "socket.io has no cap; 64 is plenty for a chat client and bounds a socket's memory" },
	{ .name = "relay", .set = config_set_bool, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(relay, bool),
	  .default_value = "no",
	  .why = "client events go to backends only, until the operator opts in to client-to-client" },
	{ .name = "flush_delay", .set = config_set_duration, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(flush_delay_ms, uint32_t),
	  .min = 0, .max = CONFIG_FLUSH_DELAY_MAX_MS, .default_value = "0ms",
	  .why = "socket.io writes at once; a few ms let a burst to one client leave in one write" },
	{ .name = "auth", .set = config_set_auth, .scope = CONFIG_SCOPE_NAMESPACE, .max_values = 1,
	  .default_value = "none",
	  .why = "socket.io lets any client connect until the app adds a middleware" },
	{ .name = "jwt_secret_file", .set = config_set_jwt_key_file, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .why = "none: the operator names the key tokens are signed with" },
	{ .name = "jwt_public_key_file", .set = config_set_jwt_key_file,
	  .scope = CONFIG_SCOPE_NAMESPACE, .max_values = 1,
	  .why = "none: the operator names the key tokens are signed with" },
	{ .name = "jwt_jwks_file", .set = config_set_jwt_key_file, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .why = "none: the operator names the key tokens are signed with" },
	{ .name = "jwt_jwks_url", .set = config_set_jwt_key_file, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .why = "none: the operator names the identity provider's key set" },
	{ .name = "jwt_jwks_ca_file", .set = config_set_jwks_ca_file, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1,
	  .why = "none: the system's CA store, as for any public identity provider",
	  .applies_with = "jwt_jwks_url" },
	{ .name = "jwt_jwks_refresh", .set = config_set_duration, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_jwks_refresh_ms, uint32_t),
	  .min = CONFIG_SECOND_MS, .max = CONFIG_HOUR_MS, .default_value = "10m",
	  .why = "providers publish a new key well before they sign with it; 10m picks it up in time",
	  .applies_with = "jwt_jwks_url" },
	{ .name = "jwt_jwks_refresh_min", .set = config_set_duration,
	  .scope = CONFIG_SCOPE_NAMESPACE, .max_values = 1,
	  .field = CONFIG_NS_FIELD(jwt_jwks_refresh_min_ms, uint32_t), .min = CONFIG_SECOND_MS,
	  .max = CONFIG_HOUR_MS, .default_value = "30s",
	  .why = "tokens with made-up kids must not turn into a flood of fetches at the provider",
	  .applies_with = "jwt_jwks_url" },
	{ .name = "jwt_jwks_timeout", .set = config_set_duration, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_jwks_timeout_ms, uint32_t), .min = 1,
	  .max = CONFIG_MINUTE_MS, .default_value = "10s",
	  .why = "a key set is a few KiB: a provider that takes longer is down",
	  .applies_with = "jwt_jwks_url" },
	{ .name = "jwt_jwks_wait", .set = config_set_duration, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_jwks_wait_ms, uint32_t), .min = 0,
	  .max = CONFIG_MINUTE_MS, .default_value = "5s",
	  .why = "a fetch takes well under a second; clients give up on a connect after 20s",
	  .applies_with = "jwt_jwks_url" },
	{ .name = "jwt_jwks_max_size", .set = config_set_size, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_jwks_max_size, size_t),
	  .min = CONFIG_KIB, .max = 16 * CONFIG_MIB, .default_value = "1M",
	  .why = "real key sets are a few KiB; as large as a jwt_jwks_file may be",
	  .applies_with = "jwt_jwks_url" },
	{ .name = "jwt_jwks_max_keys", .set = config_set_count, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_jwks_max_keys, uint32_t), .min = 1,
	  .max = 10000, .default_value = "100",
	  .why = "providers list two or three keys; each costs a parsed public key",
	  .applies_with = "jwt_jwks_url" },
	{ .name = "jwt_issuer", .set = config_set_jwt_string, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_issuer, char *),
	  .max = CONFIG_MAX_JWT_STRING,
	  .why = "not checked unless named: one issuer per deployment is the common case" },
	{ .name = "jwt_audience", .set = config_set_jwt_string, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_audience, char *),
	  .max = CONFIG_MAX_JWT_STRING,
	  .why = "not checked unless named, as jsonwebtoken's verify() without an audience" },
	{ .name = "jwt_leeway", .set = config_set_duration, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_leeway_ms, uint32_t),
	  .min = 0, .max = CONFIG_HOUR_MS, .default_value = "30s",
	  .why = "forgives the clock of an issuer or of this host drifting from NTP" },
	{ .name = "jwt_redact_token", .set = config_set_bool, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(jwt_redact_token, bool),
	  .default_value = "no",
	  .why = "a backend reads the CONNECT payload as sent, as a Node middleware does",
	  .applies_with = "auth jwt" },
	{ .name = "user_room", .set = config_set_user_room, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .default_value = "user:{sub}",
	  .why = "one room per user, so a backend reaches every device of that user" },
	{ .name = "rooms_claim", .set = config_set_claim_name, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(rooms_claim, char *),
	  .default_value = "rooms",
	  .why = "the issuer decides the rooms a client is in from the start" },
	{ .name = "allow_join_claim", .set = config_set_claim_name, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .field = CONFIG_NS_FIELD(allow_join_claim, char *),
	  .default_value = "allow_join",
	  .why = "the issuer widens client_join for one client" },
	{ .name = "auth_backend_timeout", .set = config_set_duration,
	  .scope = CONFIG_SCOPE_NAMESPACE, .max_values = 1,
	  .field = CONFIG_NS_FIELD(auth_backend_timeout_ms, uint32_t), .min = 1,
	  .max = CONFIG_HOUR_MS,
	  .why = "the top-level auth_backend_timeout, unless one namespace's backend is slower" },
	{ .name = "forward", .set = config_set_forward, .scope = CONFIG_SCOPE_NAMESPACE,
	  .max_values = 1, .default_value = "unrelayed",
	  .why = "an event no client hears is meant for a backend" },
	{ .name = "forward_events", .set = config_set_forward_events,
	  .scope = CONFIG_SCOPE_NAMESPACE, .max_values = CONFIG_MAX_FORWARD_EVENTS,
	  .why = "every event: the namespace's policy says which ones, not a list" },
};

#define CONFIG_N_KEYS (sizeof config_keys / sizeof config_keys[0])

struct config_parser {
	struct config *cfg;
	const char *filename;
	char *err;
	size_t err_len;
	int line;                        /* of the statement being handled; 0 = none */
	bool is_first;                   /* the key's first line in this text (or block) */
	int first_line[CONFIG_N_KEYS];   /* where each key was first set in this text, or
					  * for a namespace row in this block; 0 = not yet */
	struct config_namespace *ns;     /* the open block's namespace; NULL outside blocks */
	bool had_block;                  /* this text has opened a block */
	struct config_dump *dump;        /* records each statement for config_dump(); or NULL */
};

/* One statement as the file wrote it, for config_dump(). */
struct config_dump_line {
	size_t row;                      /* in config_keys */
	size_t ns;                       /* index in cfg->namespaces, for a namespace row */
	char *text;                      /* its values, one space apart */
};

struct config_dump {
	struct config_dump_line *lines;
	size_t n, cap;
	bool out_of_memory;
};

/* Writes "FILE:LINE: message" (or "FILE: message" with no line) into the
 * caller's buffer.  Returns -1 so that handlers can `return config_fail()`. */
__attribute__((format(printf, 2, 3)))
static int config_fail(struct config_parser *ps, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ps->err_len == 0)
		return -1;
	if (ps->line > 0)
		n = snprintf(ps->err, ps->err_len, "%s:%d: ", ps->filename, ps->line);
	else
		n = snprintf(ps->err, ps->err_len, "%s: ", ps->filename);
	if (n < 0 || (size_t)n >= ps->err_len)
		return -1;
	va_start(ap, fmt);
	(void)vsnprintf(ps->err + n, ps->err_len - (size_t)n, fmt, ap); /* truncation is fine */
	va_end(ap);
	return -1;
}

/* <t> escaped for a message: at most CONFIG_QUOTE_MAX bytes, non-printable
 * bytes as \xNN, "..." when cut. */
static const char *config_quote(char out[static CONFIG_QUOTE_MAX * 4 + 4],
				const struct config_tok *t)
{
	log_escape(out, CONFIG_QUOTE_MAX * 4 + 1, t->s, t->len, CONFIG_QUOTE_MAX);
	if (t->len > CONFIG_QUOTE_MAX)
		strcat(out, "...");
	return out;
}

#define CONFIG_QUOTE_BUF(name) char name[CONFIG_QUOTE_MAX * 4 + 4]

static bool config_tok_is(const struct config_tok *t, const char *word)
{
	size_t len = strlen(word);

	return t->len == len && memcmp(t->s, word, len) == 0;
}

/* Copies <t> into <out> as a C string.  Returns -1 if it does not fit. */
static int config_tok_copy(char *out, size_t out_len, const struct config_tok *t)
{
	if (t->len >= out_len)
		return -1;
	memcpy(out, t->s, t->len);
	out[t->len] = '\0';
	return 0;
}

/* ---- lexer ---- */

static bool config_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool config_is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Reads the next token into <t>.  `#` opens a comment only at the start of
 * a word, so a value may contain it (and a path containing it is then
 * refused by its own check rather than silently cut).  Returns 0, or -1 on
 * a NUL or control byte, with the error set. */
static int config_lex_next(struct config_parser *ps, struct config_lexer *lx, struct config_tok *t)
{
	for (;;) {
		t->line = lx->line;
		if (lx->p == lx->end) {
			t->kind = CONFIG_TOK_END;
			return 0;
		}
		unsigned char c = (unsigned char)*lx->p;
		if (config_is_blank((char)c)) {
			lx->p++;
		} else if (c == '#') {
			while (lx->p < lx->end && *lx->p != '\n') {
				if (*lx->p == '\0')
					goto bad_byte;
				lx->p++;
			}
		} else if (c == '\n') {
			lx->p++;
			lx->line++;
			t->kind = CONFIG_TOK_EOL;
			return 0;
		} else if (c == '\r' && lx->end - lx->p > 1 && lx->p[1] == '\n') {
			lx->p++; /* CRLF: the LF ends the line */
		} else if (config_is_control(c)) {
			goto bad_byte;
		} else {
			t->s = lx->p;
			while (lx->p < lx->end && !config_is_blank(*lx->p) &&
			       !config_is_control((unsigned char)*lx->p))
				lx->p++;
			t->len = (size_t)(lx->p - t->s);
			t->kind = CONFIG_TOK_WORD;
			if (t->len == 1 && (*t->s == '{' || *t->s == '}'))
				t->kind = *t->s == '{' ? CONFIG_TOK_OPEN : CONFIG_TOK_CLOSE;
			return 0;
		}
	}

bad_byte:
	ps->line = lx->line;
	if (*lx->p == '\0')
		return config_fail(ps, "NUL byte (not a text file?)");
	return config_fail(ps, "control character \\x%02x", (unsigned char)*lx->p);
}

/* ---- numbers with units ---- */

struct config_unit {
	const char *name;
	uint64_t scale;
};

static const struct config_unit config_size_units[] = {
	{ "", 1 },
	{ "K", CONFIG_KIB }, { "k", CONFIG_KIB },
	{ "M", CONFIG_MIB }, { "m", CONFIG_MIB },
	{ "G", CONFIG_GIB }, { "g", CONFIG_GIB },
	{ NULL, 0 },
};

static const struct config_unit config_duration_units[] = {
	{ "ms", 1 },
	{ "s", CONFIG_SECOND_MS },
	{ "m", CONFIG_MINUTE_MS },
	{ "h", CONFIG_HOUR_MS },
	{ NULL, 0 },
};

static const struct config_unit config_count_units[] = {
	{ "", 1 },
	{ NULL, 0 },
};

/* A kind of number: its units and what to say when the unit is wrong. */
struct config_number_kind {
	const struct config_unit *units; /* ends with a NULL name */
	const char *unit_hint;           /* NULL: a plain count, any unit is an error */
	const char *bare_error;          /* a bare number is this error; NULL = bytes or count */
};

static const struct config_number_kind config_size = { config_size_units, "K, M, G", NULL };
static const struct config_number_kind config_count = { config_count_units, NULL, NULL };
/* A bare "30" could mean seconds (Node's habit is ms): refuse to guess. */
static const struct config_number_kind config_duration = {
	config_duration_units, "ms, s, m, h", "duration needs a unit (ms, s, m, h)"
};

/* <v> in the largest unit of <units> that divides it exactly, so that
 * ranges in messages read as they would be written in the file. */
static const char *config_format_unit(char *out, size_t out_len, uint64_t v,
				      const struct config_unit *units)
{
	const struct config_unit *best = NULL;

	for (const struct config_unit *u = units; u->name; u++) {
		if (v % u->scale == 0 && (!best || u->scale > best->scale))
			best = u;
	}
	if (!best || v == 0)
		best = &units[0];
	snprintf(out, out_len, "%" PRIu64 "%s", v / best->scale, best->name);
	return out;
}

/* Parses <t> as decimal digits followed by a unit of <kind>, checks the
 * result against the key's range, and stores it in <out>.  Errors name the
 * key: bad number, bad unit, missing unit, out of range. */
static int config_parse_number(struct config_parser *ps, const struct config_key *key,
			       const struct config_tok *t, const struct config_number_kind *kind,
			       uint64_t *out)
{
	CONFIG_QUOTE_BUF(q);
	uint64_t v = 0;
	bool overflow = false;
	size_t i = 0;

	for (; i < t->len && t->s[i] >= '0' && t->s[i] <= '9'; i++) {
		unsigned digit = (unsigned)(t->s[i] - '0');
		if (v > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			v = v * 10 + digit;
	}
	if (i == 0)
		return config_fail(ps, "%s: bad number '%s'", key->name, config_quote(q, t));

	struct config_tok unit = { CONFIG_TOK_WORD, t->s + i, t->len - i, t->line };
	for (size_t j = 0; j < unit.len; j++) {
		char c = unit.s[j];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return config_fail(ps, "%s: bad number '%s'", key->name, config_quote(q, t));
	}

	const struct config_unit *u = kind->units;
	while (u->name && !config_tok_is(&unit, u->name))
		u++;
	if (!u->name) {
		if (!kind->unit_hint)
			return config_fail(ps, "%s: bad number '%s' (a plain count, no unit)",
					   key->name, config_quote(q, t));
		if (unit.len == 0 && kind->bare_error)
			return config_fail(ps, "%s: %s", key->name, kind->bare_error);
		return config_fail(ps, "%s: bad unit '%s' (%s)", key->name, config_quote(q, &unit),
				   kind->unit_hint);
	}

	if (overflow || v > UINT64_MAX / u->scale || v * u->scale < key->min ||
	    v * u->scale > key->max) {
		char lo[32], hi[32];
		return config_fail(ps, "%s: '%s' out of range (%s..%s)", key->name,
				   config_quote(q, t),
				   config_format_unit(lo, sizeof lo, key->min, kind->units),
				   config_format_unit(hi, sizeof hi, key->max, kind->units));
	}
	*out = v * u->scale;
	return 0;
}

/* The field a generic handler writes: in the open block's namespace for a
 * namespace row, else in the config. */
static void *config_field(struct config_parser *ps, const struct config_key *key)
{
	if (key->scope == CONFIG_SCOPE_NAMESPACE)
		return (char *)ps->ns + key->field;
	return (char *)ps->cfg + key->field;
}

static int config_set_duration(struct config_parser *ps, const struct config_key *key,
			       const struct config_tok *v, size_t n)
{
	uint64_t ms;

	if (config_parse_number(ps, key, &v[0], &config_duration, &ms) < 0)
		return -1;
	*(uint32_t *)config_field(ps, key) = (uint32_t)ms; /* rows keep max within the field */
	return 0;
}

static int config_set_size(struct config_parser *ps, const struct config_key *key,
			   const struct config_tok *v, size_t n)
{
	uint64_t bytes;

	if (config_parse_number(ps, key, &v[0], &config_size, &bytes) < 0)
		return -1;
	*(size_t *)config_field(ps, key) = (size_t)bytes;
	return 0;
}

static int config_set_count(struct config_parser *ps, const struct config_key *key,
			    const struct config_tok *v, size_t n)
{
	uint64_t count;

	if (config_parse_number(ps, key, &v[0], &config_count, &count) < 0)
		return -1;
	*(uint32_t *)config_field(ps, key) = (uint32_t)count;
	return 0;
}

static int config_set_bool(struct config_parser *ps, const struct config_key *key,
			   const struct config_tok *v, size_t n)
{
	static const char *const yes[] = { "yes", "on", "true" };
	static const char *const no[] = { "no", "off", "false" };
	bool *out = config_field(ps, key);
	CONFIG_QUOTE_BUF(q);

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (config_tok_is(&v[0], yes[i]) || config_tok_is(&v[0], no[i])) {
			*out = config_tok_is(&v[0], yes[i]);
			return 0;
		}
	}
	return config_fail(ps, "%s: bad boolean '%s' (yes/no, on/off, true/false)",
			   key->name, config_quote(q, &v[0]));
}

/* ---- listen ---- */

/* Returns the port in <s> (<len> decimal digits), 0 if it is not digits,
 * or -1 if the number is outside 1..65535. */
static long config_parse_port(const char *s, size_t len)
{
	long port = 0;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		if (port <= 65535) /* past it, stop growing: the answer is -1 anyway */
			port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535 ? port : -1;
}

static bool config_listen_equal(const struct config_listen *a, const struct config_listen *b)
{
	return a->addr_len == b->addr_len && memcmp(&a->addr, &b->addr, a->addr_len) == 0;
}

int config_inet_address(const char *s, size_t len, struct sockaddr_storage *addr,
			socklen_t *addr_len, bool port_zero_ok)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	size_t host_len;

	memset(addr, 0, sizeof *addr);
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close || close + 1 == s + len || close[1] != ':')
			return 1;
		colon = close + 1;
		host_len = (size_t)(close - s - 1);
		if (host_len >= sizeof host)
			return 1;
		memcpy(host, s + 1, host_len);
		host[host_len] = '\0';
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return 1;
		*addr_len = sizeof *sin6;
	} else {
		colon = memchr(s, ':', len);
		if (!colon || memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
			return 1; /* no port, or an IPv6 address without brackets */
		host_len = (size_t)(colon - s);
		if (host_len >= sizeof host)
			return 1;
		memcpy(host, s, host_len);
		host[host_len] = '\0';
		struct sockaddr_in *sin = (struct sockaddr_in *)addr;
		sin->sin_family = AF_INET;
		if (strcmp(host, "*") == 0)
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return 1;
		*addr_len = sizeof *sin;
	}

	const char *port_s = colon + 1;
	size_t port_len = len - (size_t)(port_s - s);
	/* Port 0 (the kernel picks one) only where the port is announced
	 * rather than configured into clients: cluster_listen. */
	bool any_port = port_zero_ok && port_len == 1 && port_s[0] == '0';
	long port = any_port ? 0 : config_parse_port(port_s, port_len);
	if (port == 0 && !any_port)
		return 1;
	if (port < 0)
		return 2;
	if (addr->ss_family == AF_INET6)
		((struct sockaddr_in6 *)addr)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
	return 0;
}

/* ADDR:PORT into <l>, as config_inet_address() reads it.  Returns 0, 1
 * if <v> is not such an address, or -1 (failed, said). */
static int config_listen_inet(struct config_parser *ps, const struct config_tok *v,
			      struct config_listen *l, bool port_zero_ok)
{
	if (v->len >= sizeof l->text)
		return 1;
	int rc = config_inet_address(v->s, v->len, &l->addr, &l->addr_len, port_zero_ok);
	if (rc == 2) {
		const char *colon = memrchr(v->s, ':', v->len);
		return config_fail(ps, "listen: port '%.*s' out of range (1..65535)",
				   (int)(v->len - (size_t)(colon + 1 - v->s)), colon + 1);
	}
	return rc;
}

/* unix:PATH into <l>: an absolute path of at most CONFIG_MAX_REDIS_UNIX
 * bytes (sun_path).  Returns 0, or -1 (failed, said). */
static int config_listen_unix(struct config_parser *ps, const struct config_tok *v,
			      struct config_listen *l)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&l->addr;
	size_t len = v->len - 5;
	CONFIG_QUOTE_BUF(q);

	if (len == 0 || v->s[5] != '/' || len >= sizeof sun->sun_path || v->len >= sizeof l->text ||
	    memchr(v->s + 5, '\0', len))
		return config_fail(ps, "listen: bad unix socket '%s' (unix:/absolute/path, at most "
				   "%zu bytes)", config_quote(q, v), sizeof sun->sun_path - 1);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, v->s + 5, len);
	l->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	l->mode = 0666;
	return 0;
}

/* The options after the address: `reuseport` (TCP), `mode=OCTAL` (unix),
 * `proxy_protocol` (both). */
static int config_listen_options(struct config_parser *ps, const struct config_tok *v,
				 size_t n, struct config_listen *l)
{
	bool is_unix = l->addr.ss_family == AF_UNIX;
	CONFIG_QUOTE_BUF(q);

	for (size_t i = 1; i < n; i++) {
		char *end;
		char digits[8];
		if (!is_unix && config_tok_is(&v[i], "reuseport")) {
			l->reuseport = true;
			continue;
		}
		if (config_tok_is(&v[i], "proxy_protocol")) {
			l->proxy_protocol = true;
			continue;
		}
		if (is_unix && v[i].len > 5 && v[i].len < 5 + sizeof digits &&
		    memcmp(v[i].s, "mode=", 5) == 0) {
			memcpy(digits, v[i].s + 5, v[i].len - 5);
			digits[v[i].len - 5] = '\0';
			unsigned long mode = strtoul(digits, &end, 8);
			if (!*end && mode <= 0777) {
				l->mode = (uint16_t)mode;
				continue;
			}
		}
		return config_fail(ps, "listen: unknown option '%s' (%s)", config_quote(q, &v[i]),
				   is_unix ? "a unix socket takes mode=OCTAL and proxy_protocol"
					   : "an address takes reuseport and proxy_protocol");
	}
	return 0;
}

/* The one address of <key> (admin_listen, cluster_listen) into <l>, as
 * written, with its line.  Returns 0, or -1 (failed, said). */
static int config_one_listen(struct config_parser *ps, const char *key, const struct config_tok *v,
			     struct config_listen *l, bool port_zero_ok, const char *expected)
{
	CONFIG_QUOTE_BUF(q);

	memset(l, 0, sizeof *l);
	int rc = config_listen_inet(ps, v, l, port_zero_ok);
	if (rc > 0)
		return config_fail(ps, "%s: bad address '%s' (expected %s)", key, config_quote(q, v),
				   expected);
	if (rc < 0)
		return -1;
	memcpy(l->text, v->s, v->len);
	l->text[v->len] = '\0';
	l->line = ps->line;
	return 0;
}

/* `admin_listen ADDR:PORT`: where /metrics and /healthz are served apart
 * from clients. */
static int config_set_admin_listen(struct config_parser *ps, const struct config_key *key,
				   const struct config_tok *v, size_t n)
{
	struct config_listen *l = &ps->cfg->admin_listen;
	CONFIG_QUOTE_BUF(q);

	if (config_one_listen(ps, key->name, &v[0], l, false,
			      "IPv4:PORT, [IPv6]:PORT or *:PORT") < 0)
		return -1;
	for (size_t i = 0; i < ps->cfg->n_listen; i++) {
		if (config_listen_equal(&ps->cfg->listen[i], l))
			return config_fail(ps, "admin_listen: '%s' is also a listen address",
					   config_quote(q, &v[0]));
	}
	ps->cfg->has_admin_listen = true;
	return 0;
}

/* `cluster_listen ADDR:PORT`: where other instances forward requests for
 * this one's sessions.  The address is announced to them, so it must be
 * one they can reach, not a wildcard; port 0 lets the kernel pick (several
 * processes sharing one file). */
static int config_set_cluster_listen(struct config_parser *ps, const struct config_key *key,
				     const struct config_tok *v, size_t n)
{
	struct config_listen *l = &ps->cfg->cluster_listen;
	CONFIG_QUOTE_BUF(q);

	if (config_one_listen(ps, key->name, &v[0], l, true,
			      "IPv4:PORT or [IPv6]:PORT; port 0 picks a free one") < 0)
		return -1;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;
	if ((l->addr.ss_family == AF_INET && sin->sin_addr.s_addr == htonl(INADDR_ANY)) ||
	    (l->addr.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr)))
		return config_fail(ps, "cluster_listen: '%s' is announced to the other instances: "
				   "name an address of this host they can reach", config_quote(q, &v[0]));
	ps->cfg->has_cluster_listen = true;
	return 0;
}

/* `listen ADDR:PORT [reuseport]` or `listen unix:PATH [mode=OCTAL]`.  The
 * first listen line of a text replaces the default; later ones add. */
static int config_set_listen(struct config_parser *ps, const struct config_key *key,
			     const struct config_tok *v, size_t n)
{
	struct config *cfg = ps->cfg;
	struct config_listen l;
	int rc;
	CONFIG_QUOTE_BUF(q);

	memset(&l, 0, sizeof l);
	if (ps->is_first)
		cfg->n_listen = 0;
	if (v[0].len > 5 && memcmp(v[0].s, "unix:", 5) == 0)
		rc = config_listen_unix(ps, &v[0], &l);
	else
		rc = config_listen_inet(ps, &v[0], &l, false);
	if (rc > 0)
		return config_fail(ps, "listen: bad address '%s' (expected IPv4:PORT, [IPv6]:PORT, "
				   "*:PORT or unix:PATH)", config_quote(q, &v[0]));
	if (rc < 0 || config_listen_options(ps, v, n, &l) < 0)
		return -1;
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (config_listen_equal(&cfg->listen[i], &l))
			return config_fail(ps, "listen: duplicate listener '%s' (first declared on line %d)",
					   config_quote(q, &v[0]), cfg->listen[i].line);
	}
	if (cfg->n_listen == CONFIG_MAX_LISTEN)
		return config_fail(ps, "listen: too many listeners (at most %d)", CONFIG_MAX_LISTEN);
	memcpy(l.text, v[0].s, v[0].len);
	l.text[v[0].len] = '\0';
	l.line = ps->line;
	cfg->listen[cfg->n_listen++] = l;
	return 0;
}

/* ---- trusted_proxies ---- */

/* ADDR or ADDR/BITS into <c>, the bits past the prefix cleared (an
 * operator writing 10.0.0.1/8 means the network).  Returns 0, or a reason. */
static const char *config_cidr_problem(const struct config_tok *t, struct config_cidr *c)
{
	char text[INET6_ADDRSTRLEN + 4];
	uint8_t v4[4];
	long bits = -1;

	if (t->len >= sizeof text)
		return "too long";
	memcpy(text, t->s, t->len);
	text[t->len] = '\0';
	char *slash = strchr(text, '/');
	if (slash) {
		char *end;
		*slash = '\0';
		if (!isdigit((unsigned char)slash[1]) || (bits = strtol(slash + 1, &end, 10)) > 128 || *end)
			return "bad prefix length";
	}
	memset(c, 0, sizeof *c);
	if (inet_pton(AF_INET, text, v4) == 1) {
		if (bits > 32)
			return "an IPv4 prefix is at most 32 bits";
		c->addr[10] = c->addr[11] = 0xff;
		memcpy(c->addr + 12, v4, 4);
		c->bits = (uint8_t)(bits < 0 ? 128 : 96 + bits);
	} else if (inet_pton(AF_INET6, text, c->addr) == 1) {
		c->bits = (uint8_t)(bits < 0 ? 128 : bits);
	} else {
		return "expected an IPv4 or IPv6 address, with /BITS for a network, or unix:";
	}
	for (unsigned i = c->bits; i < 128; i++)
		c->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return NULL;
}

/* `trusted_proxies ADDR[/BITS]... | unix:`: the balancers whose PROXY
 * header and X-Forwarded-For are believed.  Lines add up to
 * CONFIG_MAX_TRUSTED_PROXIES entries. */
static int config_set_trusted_proxies(struct config_parser *ps, const struct config_key *key,
				      const struct config_tok *v, size_t n)
{
	struct config *cfg = ps->cfg;
	CONFIG_QUOTE_BUF(q);

	if (ps->is_first) {
		cfg->n_trusted_proxies = 0;
		cfg->trust_unix = false;
	}
	for (size_t i = 0; i < n; i++) {
		if (config_tok_is(&v[i], "unix:")) {
			cfg->trust_unix = true;
			continue;
		}
		if (cfg->n_trusted_proxies == CONFIG_MAX_TRUSTED_PROXIES)
			return config_fail(ps, "trusted_proxies: too many networks (at most %d)",
					   CONFIG_MAX_TRUSTED_PROXIES);
		const char *problem = config_cidr_problem(&v[i], &cfg->trusted_proxies[cfg->n_trusted_proxies]);
		if (problem)
			return config_fail(ps, "trusted_proxies: bad network '%s' (%s)",
					   config_quote(q, &v[i]), problem);
		cfg->n_trusted_proxies++;
	}
	return 0;
}

/* ---- path, transports ---- */

/* RFC 3986 pchar plus '/': what may appear in a request path unescaped.
 * '?' and '#' would end the path, so a path holding them could never match. */
static bool config_is_path_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("/-._~!$&'()*+,;=:@%", c) != NULL);
}

static int config_set_path(struct config_parser *ps, const struct config_key *key,
			   const struct config_tok *v, size_t n)
{
	char *out = ps->cfg->path;
	size_t len = v[0].len;
	bool add_slash = v[0].s[len - 1] != '/';
	CONFIG_QUOTE_BUF(q);

	if (v[0].s[0] != '/')
		return config_fail(ps, "path: bad path '%s' (must start with '/')",
				   config_quote(q, &v[0]));
	for (size_t i = 0; i < len; i++) {
		if (v[0].s[i] == '%' && (i + 2 >= len || !isxdigit((unsigned char)v[0].s[i + 1]) ||
					 !isxdigit((unsigned char)v[0].s[i + 2])))
			return config_fail(ps, "path: bad path '%s' ('%%' must start a %%XX escape)",
					   config_quote(q, &v[0]));
		if (!config_is_path_char(v[0].s[i])) {
			unsigned char c = (unsigned char)v[0].s[i];
			if (c >= 0x21 && c < 0x7f)
				return config_fail(ps, "path: bad path '%s' (character '%c' not allowed)",
						   config_quote(q, &v[0]), c);
			return config_fail(ps, "path: bad path '%s' (byte \\x%02x not allowed; percent-encode it)",
					   config_quote(q, &v[0]), c);
		}
	}
	/* Clients always send the trailing slash
	 * (doc/protocol.md, "URL and query");
	 * storing it makes the prefix match exact at the segment boundary. */
	if (len + add_slash >= sizeof ps->cfg->path)
		return config_fail(ps, "path: bad path (longer than %zu bytes)",
				   sizeof ps->cfg->path - 1);
	memcpy(out, v[0].s, len);
	if (add_slash)
		out[len++] = '/';
	out[len] = '\0';
	return 0;
}

static int config_set_transports(struct config_parser *ps, const struct config_key *key,
				 const struct config_tok *v, size_t n)
{
	unsigned bits = 0;
	CONFIG_QUOTE_BUF(q);

	for (size_t i = 0; i < n; i++) {
		unsigned bit;
		if (config_tok_is(&v[i], "polling"))
			bit = CONFIG_TRANSPORT_POLLING;
		else if (config_tok_is(&v[i], "websocket"))
			bit = CONFIG_TRANSPORT_WEBSOCKET;
		else
			return config_fail(ps, "transports: unknown transport '%s' (polling, websocket)",
					   config_quote(q, &v[i]));
		if (bits & bit)
			return config_fail(ps, "transports: '%s' listed twice", config_quote(q, &v[i]));
		bits |= bit;
	}
	ps->cfg->transports = bits;
	return 0;
}

/* ---- cors_origin ---- */

/* Checks <t> against the form browsers send in Origin (RFC 6454
 * serialisation): scheme://host[:port], lowercase, no default port, no
 * path.  The http module compares origins as strings, so anything a
 * browser would never send could never match.  Returns NULL if good, else
 * why not. */
static const char *config_origin_problem(const struct config_tok *t)
{
	const char *s = t->s, *end = t->s + t->len, *host;
	const char *default_port;

	if (t->len >= CONFIG_MAX_ORIGIN_LEN)
		return "too long";
	if (t->len >= 7 && memcmp(s, "http://", 7) == 0) {
		host = s + 7;
		default_port = "80";
	} else if (t->len >= 8 && memcmp(s, "https://", 8) == 0) {
		host = s + 8;
		default_port = "443";
	} else {
		return "must start with http:// or https://";
	}

	const char *p = host;
	if (p < end && *p == '[') {
		char addr[INET6_ADDRSTRLEN];
		const char *close = memchr(p, ']', (size_t)(end - p));
		if (!close || (size_t)(close - p - 1) >= sizeof addr)
			return "bad IPv6 address";
		memcpy(addr, p + 1, (size_t)(close - p - 1));
		addr[close - p - 1] = '\0';
		struct in6_addr unused;
		if (inet_pton(AF_INET6, addr, &unused) != 1)
			return "bad IPv6 address";
		for (const char *c = addr; *c; c++) {
			if (*c >= 'A' && *c <= 'Z')
				return "host must be lowercase, as browsers send it";
		}
		p = close + 1;
	} else {
		for (; p < end && *p != ':' && *p != '/'; p++) {
			char c = *p;
			if (c >= 'A' && c <= 'Z')
				return "host must be lowercase, as browsers send it";
			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			      c == '.' || c == '_'))
				return "bad character in host (write names in punycode)";
		}
		if (p == host)
			return "no host";
	}

	const char *port = NULL;
	size_t port_len = 0;
	if (p < end && *p == ':') {
		port = ++p;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
		port_len = (size_t)(p - port);
		if (port_len == 0 || port[0] == '0' || config_parse_port(port, port_len) <= 0)
			return "bad port";
	}
	if (p < end)
		return *p == '/' ? "no path allowed, not even '/'" : "bad character after host";
	if (port && port_len == strlen(default_port) && memcmp(port, default_port, port_len) == 0)
		return "default port: browsers leave it out";
	return NULL;
}

/* `cors_origin` and `allowed_origins`: `*`, or up to 16 origins. */
static int config_set_origins(struct config_parser *ps, const struct config_key *key,
			      const struct config_tok *v, size_t n, bool *any,
			      char list[][CONFIG_MAX_ORIGIN_LEN], size_t *n_list)
{
	CONFIG_QUOTE_BUF(q);

	*any = false;
	*n_list = 0;
	for (size_t i = 0; i < n; i++) {
		if (config_tok_is(&v[i], "*")) {
			if (n > 1)
				return config_fail(ps, "%s: '*' cannot be mixed with origins",
						   key->name);
			*any = true;
			return 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const char *problem = config_origin_problem(&v[i]);
		if (problem)
			return config_fail(ps, "%s: bad origin '%s' (%s)", key->name,
					   config_quote(q, &v[i]), problem);
		for (size_t j = 0; j < i; j++) {
			if (config_tok_is(&v[i], list[j]))
				return config_fail(ps, "%s: '%s' listed twice", key->name,
						   config_quote(q, &v[i]));
		}
		/* Cannot fail: config_origin_problem() checked the length. */
		(void)config_tok_copy(list[i], CONFIG_MAX_ORIGIN_LEN, &v[i]);
		*n_list = i + 1;
	}
	return 0;
}

static int config_set_cors_origin(struct config_parser *ps, const struct config_key *key,
				  const struct config_tok *v, size_t n)
{
	struct config *cfg = ps->cfg;

	return config_set_origins(ps, key, v, n, &cfg->cors_any, cfg->cors_origins,
				  &cfg->n_cors_origins);
}

static int config_set_allowed_origins(struct config_parser *ps, const struct config_key *key,
				      const struct config_tok *v, size_t n)
{
	struct config *cfg = ps->cfg;

	cfg->has_allowed_origins = true;
	return config_set_origins(ps, key, v, n, &cfg->allowed_any, cfg->allowed_origins,
				  &cfg->n_allowed_origins);
}

/* ---- log ---- */

static int config_set_log_level(struct config_parser *ps, const struct config_key *key,
				const struct config_tok *v, size_t n)
{
	char name[16];
	CONFIG_QUOTE_BUF(q);

	if (config_tok_copy(name, sizeof name, &v[0]) < 0 ||
	    log_level_parse(name, &ps->cfg->log_level) < 0)
		return config_fail(ps, "log_level: unknown level '%s' (error, warn, info, debug)",
				   config_quote(q, &v[0]));
	return 0;
}

static int config_set_access_log(struct config_parser *ps, const struct config_key *key,
				 const struct config_tok *v, size_t n)
{
	char name[16];
	CONFIG_QUOTE_BUF(q);

	if (config_tok_copy(name, sizeof name, &v[0]) < 0 ||
	    log_access_parse(name, &ps->cfg->access_log) < 0)
		return config_fail(ps, "access_log: unknown format '%s' (off, logfmt, json)",
				   config_quote(q, &v[0]));
	return 0;
}

/* The parser only stores the path: opening it is main.c's, at start-up and
 * on reload, where a failure can keep the previous destination. */
static int config_set_log_file(struct config_parser *ps, const struct config_key *key,
			       const struct config_tok *v, size_t n)
{
	if (config_tok_copy(ps->cfg->log_file, sizeof ps->cfg->log_file, &v[0]) < 0)
		return config_fail(ps, "log_file: path longer than %zu bytes",
				   sizeof ps->cfg->log_file - 1);
	return 0;
}

/* ---- namespace values ---- */

/* Copies <len> bytes of <s> into <out> (<out_len> bytes) as a C string and
 * zeroes the rest, so that equal configs stay equal byte for byte even
 * after a shorter value replaces a longer one.  The caller checked the
 * length. */
static void config_copy_filled(char *out, size_t out_len, const char *s, size_t len)
{
	assert(len < out_len);
	memset(out, 0, out_len);
	memcpy(out, s, len);
}

/* Why <t> cannot name a namespace, written into <why>, or NULL if it can.
 * Clients send the name as the path of their URL, so it is held to the same
 * characters as `path`, minus the two that would break it on the wire. */
static const char *config_namespace_name_problem(char *why, size_t why_len,
						 const struct config_tok *t)
{
	if (t->s[0] != '/')
		return "must start with '/'";
	for (size_t i = 0; i < t->len; i++) {
		unsigned char c = (unsigned char)t->s[i];
		if (c == ',')
			return "character ',' not allowed: a packet ends the namespace at ','";
		if (c == '#')
			return "character '#' not allowed: the Redis adapter's channels use it";
		if (c == '%' && (i + 2 >= t->len || !isxdigit((unsigned char)t->s[i + 1]) ||
				 !isxdigit((unsigned char)t->s[i + 2])))
			return "'%' must start a %XX escape";
		if (!config_is_path_char((char)c)) {
			if (c >= 0x21 && c < 0x7f)
				snprintf(why, why_len, "character '%c' not allowed", c);
			else
				snprintf(why, why_len, "byte \\x%02x not allowed; percent-encode it", c);
			return why;
		}
	}
	return NULL;
}

static bool config_is_field_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Whether the <len> bytes inside a `{...}` are `sub` or `claims.FIELD`. */
static bool config_claim_placeholder(const char *s, size_t len)
{
	size_t prefix = strlen("claims.");

	if (len == 3 && memcmp(s, "sub", 3) == 0)
		return true;
	if (len <= prefix || len - prefix > CONFIG_MAX_CLAIM_NAME || memcmp(s, "claims.", prefix) != 0)
		return false;
	for (size_t i = prefix; i < len; i++) {
		if (!config_is_field_char(s[i]))
			return false;
	}
	return true;
}

/* Why <t> is not a room pattern, written into <why>, or NULL if it is.
 * '{' always opens a placeholder, so a malformed one is an error here
 * rather than a pattern that silently never matches. */
static const char *config_pattern_problem(char *why, size_t why_len, const struct config_tok *t)
{
	CONFIG_QUOTE_BUF(q);

	if (t->len > CONFIG_MAX_ROOM_PATTERN) {
		snprintf(why, why_len, "longer than %d bytes", CONFIG_MAX_ROOM_PATTERN);
		return why;
	}
	for (size_t i = 0; i < t->len; i++) {
		if (t->s[i] != '{')
			continue;
		const char *open = t->s + i;
		const char *close = memchr(open, '}', t->len - i);
		if (!close)
			return "'{' without a closing '}'";
		struct config_tok ph = { CONFIG_TOK_WORD, open, (size_t)(close + 1 - open), t->line };
		i = (size_t)(close - t->s);
		if (config_claim_placeholder(open + 1, ph.len - 2))
			continue;
		if (ph.len < 2 + strlen("auth.") || memcmp(open + 1, "auth.", strlen("auth.")) != 0) {
			snprintf(why, why_len, "placeholder '%s' is not {auth.FIELD}, {sub} or {claims.FIELD}",
				 config_quote(q, &ph));
			return why;
		}
		const char *field = open + 1 + strlen("auth.");
		if (field == close) {
			snprintf(why, why_len, "placeholder '%s' has no field name", config_quote(q, &ph));
			return why;
		}
		for (const char *f = field; f < close; f++) {
			if (!config_is_field_char(*f)) {
				snprintf(why, why_len,
					 "placeholder '%s': a field name holds only letters, digits and '_'",
					 config_quote(q, &ph));
				return why;
			}
		}
	}
	return NULL;
}

/* Why pattern or template <t>, whose placeholders are well formed, could
 * let one value reach a room another value names, or NULL.  A value is
 * cut off by the separator that follows its placeholder, which it may not
 * hold (config_value_is_separated()), so each placeholder must end <t> or
 * be followed by a literal byte; and a '*' before a placeholder could
 * take a value's head ("*:{sub}" lets "b" reach the room of "a:b"). */
static const char *config_placeholder_problem(char *why, size_t why_len, const struct config_tok *t)
{
	CONFIG_QUOTE_BUF(q);
	const char *end = t->s + t->len, *star = NULL;

	for (const char *p = t->s; p < end; p++) {
		if (*p == '*' && !star)
			star = p;
		if (*p != '{')
			continue;
		const char *close = memchr(p, '}', (size_t)(end - p));
		struct config_tok ph = { CONFIG_TOK_WORD, p, (size_t)(close + 1 - p), t->line };
		if (star) {
			snprintf(why, why_len, "'*' before placeholder '%s' could take another user's value",
				 config_quote(q, &ph));
			return why;
		}
		if (close + 1 < end && strchr("*?{", close[1])) {
			snprintf(why, why_len, "placeholder '%s' is followed by '%c': end the pattern or "
				 "follow it with a separator such as ':'", config_quote(q, &ph), close[1]);
			return why;
		}
		p = close;
	}
	return NULL;
}

/* Whether one of the placeholders of <t> (well formed) is {sub} or
 * {claims.FIELD}: a value a client cannot choose. */
static bool config_tok_has_claim(const struct config_tok *t)
{
	const char *end = t->s + t->len;

	for (const char *p = t->s; (p = memchr(p, '{', (size_t)(end - p))) != NULL; p++) {
		const char *close = memchr(p, '}', (size_t)(end - p));
		if (config_claim_placeholder(p + 1, (size_t)(close - p) - 1))
			return true;
	}
	return false;
}

/* `client_join PATTERN...`: checks every pattern's syntax now, so that
 * config_room_allowed() never meets a bad one from the file.  A pattern
 * with only {auth.FIELD} placeholders names values the client chose, so
 * only one with a claim must keep users apart. */
static int config_set_client_join(struct config_parser *ps, const struct config_key *key,
				  const struct config_tok *v, size_t n)
{
	struct config_namespace *ns = ps->ns;
	char why[CONFIG_QUOTE_MAX * 4 + 96];
	CONFIG_QUOTE_BUF(q);

	ns->n_client_join = 0;
	for (size_t i = 0; i < n; i++) {
		const char *problem = config_pattern_problem(why, sizeof why, &v[i]);
		if (!problem && config_tok_has_claim(&v[i]))
			problem = config_placeholder_problem(why, sizeof why, &v[i]);
		if (problem)
			return config_fail(ps, "client_join: bad pattern '%s' (%s)",
					   config_quote(q, &v[i]), problem);
		for (size_t j = 0; j < i; j++) {
			if (config_tok_is(&v[i], ns->client_join[j]))
				return config_fail(ps, "client_join: '%s' listed twice",
						   config_quote(q, &v[i]));
		}
		config_copy_filled(ns->client_join[i], sizeof ns->client_join[i], v[i].s, v[i].len);
		ns->n_client_join = i + 1;
	}
	return 0;
}

/* Names socket.io reserves (doc/protocol.md, "Reserved event names"): a
 * client cannot emit
 * them, so a join or leave event by one of these names could never come. */
static const char *const config_reserved_events[] = {
	"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

/* join_event, leave_event: a char[CONFIG_MAX_EVENT_NAME + 1] at the row's
 * field.  That the two differ is checked when the block closes. */
static int config_set_event_name(struct config_parser *ps, const struct config_key *key,
				 const struct config_tok *v, size_t n)
{
	CONFIG_QUOTE_BUF(q);

	if (v[0].len > CONFIG_MAX_EVENT_NAME)
		return config_fail(ps, "%s: name longer than %d bytes", key->name, CONFIG_MAX_EVENT_NAME);
	for (size_t i = 0; i < sizeof config_reserved_events / sizeof config_reserved_events[0]; i++) {
		if (config_tok_is(&v[0], config_reserved_events[i]))
			return config_fail(ps, "%s: '%s' is a reserved event name", key->name,
					   config_quote(q, &v[0]));
	}
	config_copy_filled(config_field(ps, key), CONFIG_MAX_EVENT_NAME + 1, v[0].s, v[0].len);
	return 0;
}

/* ---- who may connect ---- */

static int config_set_auth(struct config_parser *ps, const struct config_key *key,
			   const struct config_tok *v, size_t n)
{
	CONFIG_QUOTE_BUF(q);

	if (config_tok_is(&v[0], "none"))
		ps->ns->auth = CONFIG_AUTH_NONE;
	else if (config_tok_is(&v[0], "jwt"))
		ps->ns->auth = CONFIG_AUTH_JWT;
	else if (config_tok_is(&v[0], "backend"))
		ps->ns->auth = CONFIG_AUTH_BACKEND;
	else
		return config_fail(ps, "auth: unknown mode '%s' (none, jwt, backend)",
				   config_quote(q, &v[0]));
	return 0;
}

/* The value of a key naming a file to read (every `*_file` key but
 * log_file), into <out> (CONFIG_MAX_FILE_PATH + 1 bytes): a path, or
 * `credential:NAME`, the file systemd's LoadCredential=NAME:PATH puts in
 * $CREDENTIALS_DIRECTORY.  That copy is readable by the service's
 * DynamicUser, where a root-owned 0600 file is not, and the name does not
 * depend on the unit's name as the directory does. */
static int config_set_file_path(struct config_parser *ps, const struct config_key *key,
				const struct config_tok *v, char *out)
{
	static const char prefix[] = "credential:";
	const size_t prefix_len = sizeof prefix - 1;
	char path[CONFIG_MAX_FILE_PATH + 2];
	CONFIG_QUOTE_BUF(q);

	if (v->len < prefix_len || memcmp(v->s, prefix, prefix_len) != 0) {
		if (v->len > CONFIG_MAX_FILE_PATH)
			return config_fail(ps, "%s: path longer than %d bytes", key->name,
					   CONFIG_MAX_FILE_PATH);
		config_copy_filled(out, CONFIG_MAX_FILE_PATH + 1, v->s, v->len);
		return 0;
	}
	const char *name = v->s + prefix_len;
	int name_len = (int)(v->len - prefix_len);
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	if (name_len == 0 || memchr(name, '/', (size_t)name_len) ||
	    (name_len <= 2 && memcmp(name, "..", (size_t)name_len) == 0))
		return config_fail(ps, "%s: bad credential name '%s' (a file name: not empty, no '/')",
				   key->name, config_quote(q, v));
	if (!dir || !dir[0])
		return config_fail(ps, "%s: %s needs $CREDENTIALS_DIRECTORY, which systemd sets "
				   "for a unit with LoadCredential=%.*s:PATH", key->name,
				   config_quote(q, v), name_len, name);
	int n = snprintf(path, sizeof path, "%s/%.*s", dir, name_len, name);
	if (n < 0 || n > CONFIG_MAX_FILE_PATH)
		return config_fail(ps, "%s: $CREDENTIALS_DIRECTORY/%.*s is longer than %d bytes",
				   key->name, name_len, name, CONFIG_MAX_FILE_PATH);
	config_copy_filled(out, CONFIG_MAX_FILE_PATH + 1, path, (size_t)n);
	return 0;
}

/* jwt_secret_file, jwt_public_key_file, jwt_jwks_file: the parser only
 * stores the path; auth.c reads the key at start-up.  One per block. */
static int config_set_jwt_key_file(struct config_parser *ps, const struct config_key *key,
				   const struct config_tok *v, size_t n)
{
	struct config_namespace *ns = ps->ns;
	enum config_jwt_key kind = strcmp(key->name, "jwt_secret_file") == 0   ? CONFIG_JWT_KEY_SECRET
				   : strcmp(key->name, "jwt_public_key_file") == 0 ? CONFIG_JWT_KEY_PEM
				   : strcmp(key->name, "jwt_jwks_file") == 0       ? CONFIG_JWT_KEY_JWKS
										   : CONFIG_JWT_KEY_URL;
	struct config_url url;
	char why[128];

	if (ns->jwt_key != CONFIG_JWT_KEY_NONE && ns->jwt_key != kind)
		return config_fail(ps, "%s: only one of jwt_secret_file, jwt_public_key_file, "
				   "jwt_jwks_file and jwt_jwks_url may be set", key->name);
	if (kind != CONFIG_JWT_KEY_URL) {
		if (config_set_file_path(ps, key, &v[0], ns->jwt_key_file) < 0)
			return -1;
		ns->jwt_key = kind;
		return 0;
	}
	if (v[0].len > CONFIG_MAX_FILE_PATH)
		return config_fail(ps, "%s: URL longer than %d bytes", key->name, CONFIG_MAX_FILE_PATH);
	config_copy_filled(ns->jwt_key_file, sizeof ns->jwt_key_file, v[0].s, v[0].len);
	if (config_url_split(ns->jwt_key_file, &url, why, sizeof why) < 0)
		return config_fail(ps, "%s: %s", key->name, why);
	ns->jwt_key = kind;
	return 0;
}

/* `jwt_jwks_ca_file PATH`: the CAs a jwt_jwks_url's server is checked
 * against instead of the system's; auth.c reads it at start-up. */
static int config_set_jwks_ca_file(struct config_parser *ps, const struct config_key *key,
				   const struct config_tok *v, size_t n)
{
	return config_set_file_path(ps, key, &v[0], ps->ns->jwt_jwks_ca_file);
}

/* The host of an https URL: a bracketed IPv6 literal, or the characters of
 * a DNS name (an IPv4 literal is one).  Returns where it ends, or NULL. */
static const char *config_url_host(const char *p, struct config_url *out, char *why,
				   size_t why_len)
{
	const char *end;
	struct in6_addr a6;
	struct in_addr a4;

	if (*p == '[') {
		end = strchr(p, ']');
		if (!end || (size_t)(end - p - 1) >= sizeof out->host) {
			snprintf(why, why_len, "an IPv6 host is [ADDRESS]");
			return NULL;
		}
		memcpy(out->host, p + 1, (size_t)(end - p - 1));
		out->host[end - p - 1] = '\0';
		if (inet_pton(AF_INET6, out->host, &a6) != 1) {
			snprintf(why, why_len, "'%s' is not an IPv6 address", out->host);
			return NULL;
		}
		out->is_ip = true;
		return end + 1;
	}
	end = p + strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
	if (end == p || (size_t)(end - p) > 253) {
		snprintf(why, why_len, "no host name (letters, digits, '.', '-') after https://");
		return NULL;
	}
	memcpy(out->host, p, (size_t)(end - p));
	out->host[end - p] = '\0';
	out->is_ip = inet_pton(AF_INET, out->host, &a4) == 1;
	return end;
}

int config_url_split(const char *url, struct config_url *out, char *why, size_t why_len)
{
	const char *p;

	memset(out, 0, sizeof *out);
	if (strncasecmp(url, "https://", 8) != 0) {
		/* A key set fetched in clear can be swapped by anyone on the path. */
		snprintf(why, why_len, "only https:// URLs: the key set must come over TLS");
		return -1;
	}
	for (p = url; *p; p++) {
		if (*p <= ' ' || *p > '~' || *p == '#') {
			snprintf(why, why_len, "a space, control byte, non-ASCII byte or '#' in the URL");
			return -1;
		}
	}
	p = config_url_host(url + 8, out, why, why_len);
	if (!p)
		return -1;
	out->port = 443;
	if (*p == ':') {
		char *end;
		unsigned long port = strtoul(p + 1, &end, 10);

		if (end == p + 1 || !isdigit((unsigned char)p[1]) || port == 0 || port > 65535) {
			snprintf(why, why_len, "port must be 1 to 65535");
			return -1;
		}
		out->port = (uint16_t)port;
		p = end;
	}
	if (*p != '\0' && *p != '/' && *p != '?') {
		snprintf(why, why_len, "unexpected '%c' after the host (no user@ part)", *p);
		return -1;
	}
	out->path = *p ? p : "/";
	return 0;
}

/* `cluster_secret_file PATH`: the parser stores the path; route.c reads
 * the secret at start-up. */
static int config_set_cluster_secret_file(struct config_parser *ps, const struct config_key *key,
					  const struct config_tok *v, size_t n)
{
	return config_set_file_path(ps, key, &v[0], ps->cfg->cluster_secret_file);
}

/* jwt_issuer, jwt_audience: compared byte for byte with the token's. */
static int config_set_jwt_string(struct config_parser *ps, const struct config_key *key,
				 const struct config_tok *v, size_t n)
{
	if (v[0].len > key->max)
		return config_fail(ps, "%s: longer than %" PRIu64 " bytes", key->name, key->max);
	config_copy_filled(config_field(ps, key), (size_t)key->max + 1, v[0].s, v[0].len);
	return 0;
}

/* `user_room TEMPLATE` or `none`: a room name with {sub} or
 * {claims.FIELD} placeholders, filled from the token's claims.  It names
 * one room, so the glob characters of client_join are refused. */
static int config_set_user_room(struct config_parser *ps, const struct config_key *key,
				const struct config_tok *v, size_t n)
{
	struct config_namespace *ns = ps->ns;
	CONFIG_QUOTE_BUF(q);

	if (config_tok_is(&v[0], "none")) {
		config_copy_filled(ns->user_room, sizeof ns->user_room, "", 0);
		return 0;
	}
	if (v[0].len > CONFIG_MAX_ROOM_PATTERN)
		return config_fail(ps, "user_room: longer than %d bytes", CONFIG_MAX_ROOM_PATTERN);
	for (size_t i = 0; i < v[0].len; i++) {
		if (v[0].s[i] == '*' || v[0].s[i] == '?')
			return config_fail(ps, "user_room: bad template '%s' (it names one room: no '*' or '?')",
					   config_quote(q, &v[0]));
		if (v[0].s[i] != '{')
			continue;
		const char *close = memchr(v[0].s + i, '}', v[0].len - i);
		size_t inner = close ? (size_t)(close - v[0].s) - i - 1 : 0;
		if (!close || !config_claim_placeholder(v[0].s + i + 1, inner))
			return config_fail(ps, "user_room: bad template '%s' (placeholders are {sub} and "
					   "{claims.FIELD})", config_quote(q, &v[0]));
		i = (size_t)(close - v[0].s);
	}
	char why[CONFIG_QUOTE_MAX * 4 + 128];
	if (config_placeholder_problem(why, sizeof why, &v[0]))
		return config_fail(ps, "user_room: bad template '%s' (%s)", config_quote(q, &v[0]), why);
	config_copy_filled(ns->user_room, sizeof ns->user_room, v[0].s, v[0].len);
	return 0;
}

/* rooms_claim, allow_join_claim: a claim name, or `none`. */
static int config_set_claim_name(struct config_parser *ps, const struct config_key *key,
				 const struct config_tok *v, size_t n)
{
	CONFIG_QUOTE_BUF(q);
	size_t len = config_tok_is(&v[0], "none") ? 0 : v[0].len;

	if (len > CONFIG_MAX_CLAIM_NAME)
		return config_fail(ps, "%s: longer than %d bytes", key->name, CONFIG_MAX_CLAIM_NAME);
	for (size_t i = 0; i < len; i++) {
		if (!config_is_field_char(v[0].s[i]))
			return config_fail(ps, "%s: bad claim name '%s' (letters, digits and '_')",
					   key->name, config_quote(q, &v[0]));
	}
	config_copy_filled(config_field(ps, key), CONFIG_MAX_CLAIM_NAME + 1, v[0].s, len);
	return 0;
}

/* ---- backends ---- */

static int config_set_forward(struct config_parser *ps, const struct config_key *key,
			      const struct config_tok *v, size_t n)
{
	static const char *const modes[] = {
		[CONFIG_FORWARD_UNRELAYED] = "unrelayed",
		[CONFIG_FORWARD_ALL] = "all",
		[CONFIG_FORWARD_NONE] = "none",
	};
	CONFIG_QUOTE_BUF(q);

	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		if (config_tok_is(&v[0], modes[i])) {
			ps->ns->forward = (enum config_forward)i;
			return 0;
		}
	}
	return config_fail(ps, "forward: unknown mode '%s' (unrelayed, all, none)",
			   config_quote(q, &v[0]));
}

/* `forward_events GLOB...`: plain globs (config_glob_allows()) on event
 * names, so no longer than an event name may be. */
static int config_set_forward_events(struct config_parser *ps, const struct config_key *key,
				     const struct config_tok *v, size_t n)
{
	struct config_namespace *ns = ps->ns;
	CONFIG_QUOTE_BUF(q);

	ns->n_forward_events = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].len > CONFIG_MAX_EVENT_GLOB)
			return config_fail(ps, "forward_events: '%s' longer than %d bytes",
					   config_quote(q, &v[i]), CONFIG_MAX_EVENT_GLOB);
		config_copy_filled(ns->forward_events[i], sizeof ns->forward_events[i], v[i].s,
				   v[i].len);
		ns->n_forward_events = i + 1;
	}
	return 0;
}

/* ---- redis ---- */

/* Letters, digits, '-', '.' and '_': a DNS name or an IPv4 literal. */
static bool config_is_host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* `unix:PATH`, the prefix already checked: PATH into cfg->redis_unix.
 * Returns NULL, or why the path is refused. */
static const char *config_redis_unix(struct config *cfg, const char *path, size_t path_len)
{
	if (path_len == 0)
		return "no socket path after 'unix:'";
	if (path_len > CONFIG_MAX_REDIS_UNIX)
		return "socket path longer than " CONFIG_STR(CONFIG_MAX_REDIS_UNIX) " bytes";
	config_copy_filled(cfg->redis_unix, sizeof cfg->redis_unix, path, path_len);
	return NULL;
}

/* The host part of `HOST:PORT` or `[IPv6]:PORT`, up to the port's colon:
 * checked and copied into cfg->redis_host (without brackets).  Returns
 * NULL, or why it is refused. */
static const char *config_redis_host(struct config *cfg, const char *s, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr unused;

	if (len == 0)
		return "missing host";
	if (s[0] == '[') {
		if (len < 2 || s[len - 1] != ']' || len - 2 >= sizeof addr)
			return "bad IPv6 address";
		memcpy(addr, s + 1, len - 2);
		addr[len - 2] = '\0';
		if (inet_pton(AF_INET6, addr, &unused) != 1)
			return "bad IPv6 address";
		config_copy_filled(cfg->redis_host, sizeof cfg->redis_host, s + 1, len - 2);
		return NULL;
	}
	if (len > CONFIG_MAX_REDIS_HOST)
		return "host longer than " CONFIG_STR(CONFIG_MAX_REDIS_HOST) " bytes";
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ':' && !config_is_host_char(s[i]))
			return "bad character in host";
	}
	if (memchr(s, ':', len))
		return "an IPv6 address goes in brackets: [ADDRESS]:PORT";
	config_copy_filled(cfg->redis_host, sizeof cfg->redis_host, s, len);
	return NULL;
}

/* `redis HOST:PORT`, `redis [IPv6]:PORT` or `redis unix:PATH`.  A host name
 * is kept as written: hiredis resolves it each time it connects (redis.c),
 * so only its characters are checked here.  One form clears the other. */
static int config_set_redis(struct config_parser *ps, const struct config_key *key,
			    const struct config_tok *v, size_t n)
{
	struct config *cfg = ps->cfg;
	const char *s = v[0].s, *problem, *colon = NULL;
	size_t len = v[0].len, unix_len = strlen("unix:");
	CONFIG_QUOTE_BUF(q);

	memset(cfg->redis_host, 0, sizeof cfg->redis_host);
	memset(cfg->redis_unix, 0, sizeof cfg->redis_unix);
	cfg->redis_port = 0;
	if (len >= unix_len && memcmp(s, "unix:", unix_len) == 0) {
		problem = config_redis_unix(cfg, s + unix_len, len - unix_len);
		goto done;
	}
	/* The port follows the last colon; an IPv6 literal's own colons sit
	 * inside brackets before it. */
	for (size_t i = len; i > 0; i--) {
		if (s[i - 1] == ':') {
			colon = s + i - 1;
			break;
		}
		if (s[i - 1] == ']')
			break;
	}
	if (!colon) {
		problem = "missing :PORT";
		goto done;
	}
	problem = config_redis_host(cfg, s, (size_t)(colon - s));
	if (problem)
		goto done;
	const char *port_s = colon + 1;
	size_t port_len = len - (size_t)(port_s - s);
	long port = config_parse_port(port_s, port_len);
	if (port_len == 0) {
		problem = "missing port after ':'";
	} else if (port == 0) {
		problem = "bad port";
	} else if (port < 0) {
		memset(cfg->redis_host, 0, sizeof cfg->redis_host);
		return config_fail(ps, "redis: port '%.*s' out of range (1..65535)",
				   (int)port_len, port_s);
	} else {
		cfg->redis_port = (uint16_t)port;
	}

done:
	if (!problem)
		return 0;
	memset(cfg->redis_host, 0, sizeof cfg->redis_host);
	return config_fail(ps, "redis: bad address '%s' (%s; expected HOST:PORT, [IPv6]:PORT "
			   "or unix:PATH)", config_quote(q, &v[0]), problem);
}

static int config_set_redis_password(struct config_parser *ps, const struct config_key *key,
				     const struct config_tok *v, size_t n)
{
	if (v[0].len > CONFIG_MAX_REDIS_PASSWORD)
		return config_fail(ps, "redis_password: longer than %d bytes",
				   CONFIG_MAX_REDIS_PASSWORD);
	config_copy_filled(ps->cfg->redis_password, sizeof ps->cfg->redis_password, v[0].s,
			   v[0].len);
	return 0;
}

/* `redis_password_file PATH`: the parser stores the path; config_load()
 * reads the password, at start-up, -t and every reload. */
static int config_set_redis_password_file(struct config_parser *ps, const struct config_key *key,
					  const struct config_tok *v, size_t n)
{
	return config_set_file_path(ps, key, &v[0], ps->cfg->redis_password_file);
}

/* A channel name or prefix of at most key->max bytes, into the row's
 * char[key->max + 1] field. */
static int config_set_redis_name(struct config_parser *ps, const struct config_key *key,
				 const struct config_tok *v)
{
	if (v[0].len > key->max)
		return config_fail(ps, "%s: longer than %" PRIu64 " bytes", key->name, key->max);
	config_copy_filled(config_field(ps, key), (size_t)key->max + 1, v[0].s, v[0].len);
	return 0;
}

/* The adapter builds every channel as KEY#NSP#... or KEY-request#...: a
 * '#' in the key would make those names ambiguous to every server. */
static int config_set_redis_key(struct config_parser *ps, const struct config_key *key,
				const struct config_tok *v, size_t n)
{
	CONFIG_QUOTE_BUF(q);

	if (memchr(v[0].s, '#', v[0].len))
		return config_fail(ps, "redis_key: bad prefix '%s' (character '#' not allowed: "
				   "it separates the parts of the adapter's channel names)",
				   config_quote(q, &v[0]));
	return config_set_redis_name(ps, key, v);
}

/* The stream's key also names the reply channel (backend.c); without a
 * '#' that channel can never fall among the adapter's, where a message
 * that is not msgpack makes Node servers exit
 * (doc/protocol.md, "Poison on broadcast channels"). */
static int config_set_backend_stream(struct config_parser *ps, const struct config_key *key,
				     const struct config_tok *v, size_t n)
{
	CONFIG_QUOTE_BUF(q);

	if (v[0].len == 0 || memchr(v[0].s, '#', v[0].len))
		return config_fail(ps, "backend_stream: bad key '%s' (character '#' not allowed: "
				   "its reply channel must stay outside the adapter's)",
				   config_quote(q, &v[0]));
	return config_set_redis_name(ps, key, v);
}

/* `backend_headers NAME...`: HTTP header names (RFC 9110 tokens), kept in
 * lower case, since http.c compares them without case.  A repeated name
 * is refused: it would be kept twice. */
static int config_set_backend_headers(struct config_parser *ps, const struct config_key *key,
				      const struct config_tok *v, size_t n)
{
	struct config *cfg = ps->cfg;
	CONFIG_QUOTE_BUF(q);

	cfg->n_backend_headers = 0;
	for (size_t i = 0; i < n; i++) {
		char *name = cfg->backend_headers[i];
		if (v[i].len == 0 || v[i].len > CONFIG_MAX_HEADER_NAME ||
		    strspn(v[i].s, "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ") < v[i].len)
			return config_fail(ps, "backend_headers: '%s' is no header name of at most "
					   "%d bytes", config_quote(q, &v[i]), CONFIG_MAX_HEADER_NAME);
		config_copy_filled(name, CONFIG_MAX_HEADER_NAME + 1, v[i].s, v[i].len);
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (size_t k = 0; k < i; k++) {
			if (strcmp(cfg->backend_headers[k], name) == 0)
				return config_fail(ps, "backend_headers: '%s' named twice",
						   config_quote(q, &v[i]));
		}
		cfg->n_backend_headers = i + 1;
	}
	return 0;
}

/* Whether it collides with redis_key is checked once both are known
 * (config_check), since either line may come first. */
static int config_set_redis_emit_channel(struct config_parser *ps, const struct config_key *key,
					 const struct config_tok *v, size_t n)
{
	return config_set_redis_name(ps, key, v);
}

/* The channel family of redis_key that redis_emit_channel falls in, as the
 * prefix it starts with ("socket.io#"), written into <prefix>; NULL if none.
 * Node servers subscribe to all three families and decode whatever arrives
 * there as msgpack: a JSON text on `KEY#...` makes every one of them exit
 * (doc/protocol.md, "Poison on broadcast channels"). */
static const char *config_emit_channel_clash(char *prefix, size_t prefix_len,
					     const struct config *cfg)
{
	static const char *const families[] = { "#", "-request#", "-response#" };

	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
		snprintf(prefix, prefix_len, "%s%s", cfg->redis_key, families[i]);
		if (strncmp(cfg->redis_emit_channel, prefix, strlen(prefix)) == 0)
			return prefix;
	}
	return NULL;
}

/* ---- statements ---- */

/* Keeps statement <row>'s values <v> (<n>) for config_dump(), when it is
 * asked for. */
static void config_dump_note(struct config_parser *ps, size_t row, const struct config_tok *v,
			     size_t n)
{
	struct config_dump *d = ps->dump;
	size_t len = 0;

	if (!d || d->out_of_memory)
		return;
	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 64;
		struct config_dump_line *lines = realloc(d->lines, cap * sizeof *lines);
		if (!lines) {
			d->out_of_memory = true;
			return;
		}
		d->lines = lines;
		d->cap = cap;
	}
	for (size_t i = 0; i < n; i++)
		len += v[i].len + 1;
	char *text = malloc(len);
	if (!text) {
		d->out_of_memory = true;
		return;
	}
	for (size_t i = 0, at = 0; i < n; i++) {
		memcpy(text + at, v[i].s, v[i].len);
		at += v[i].len;
		text[at++] = i + 1 < n ? ' ' : '\0';
	}
	d->lines[d->n++] = (struct config_dump_line){
		.row = row, .ns = ps->ns ? (size_t)(ps->ns - ps->cfg->namespaces) : 0, .text = text,
	};
}

/* The row of key <t> for <scope>; a key with a row in each scope
 * (auth_backend_timeout) is found by where it is written.  A row of the
 * other scope if there is no such row, for the caller's message. */
static const struct config_key *config_key_find(const struct config_tok *t,
						enum config_scope scope)
{
	const struct config_key *other = NULL;

	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		if (!config_tok_is(t, config_keys[i].name))
			continue;
		if (config_keys[i].scope == scope)
			return &config_keys[i];
		other = &config_keys[i];
	}
	return other;
}

/* The optimal-string-alignment distance between <a> and <b> (insertions,
 * deletions, substitutions and swaps of neighbours, one each), or a value
 * above <max> once it cannot be <max> or less.  Key names are short. */
static size_t config_distance(const char *a, size_t alen, const char *b, size_t blen, size_t max)
{
	enum { LONGEST = 40 };
	size_t d[LONGEST + 1][LONGEST + 1];

	if (alen > LONGEST || blen > LONGEST || (alen > blen ? alen - blen : blen - alen) > max)
		return max + 1;
	for (size_t i = 0; i <= alen; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= blen; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= alen; i++) {
		for (size_t j = 1; j <= blen; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[alen][blen];
}

/* The key of <scope> nearest to the unknown word <t>, as git and cargo
 * suggest a command: at most 2 edits, and fewer than a third of the word
 * (so "foo" suggests nothing).  NULL if none is that near. */
static const char *config_nearest_key(const struct config_tok *t, enum config_scope scope)
{
	const char *best = NULL;
	size_t best_d = 2;

	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		const char *name = config_keys[i].name;
		size_t d = config_distance(t->s, t->len, name, strlen(name), best_d);
		if (config_keys[i].scope == scope && d * 3 <= t->len &&
		    (d < best_d || (d == best_d && !best))) {
			best = name;
			best_d = d;
		}
	}
	return best;
}

/* One `key value...` line, its key already read.  Counts the values,
 * refuses a second line of a key that does not repeat, then hands the
 * values to the row's handler. */
static int config_statement(struct config_parser *ps, struct config_lexer *lx,
			    const struct config_tok *key_tok)
{
	struct config_tok v[CONFIG_MAX_VALUES], t;
	size_t n = 0;
	CONFIG_QUOTE_BUF(q);

	ps->line = key_tok->line;
	const struct config_key *key =
		config_key_find(key_tok, ps->ns ? CONFIG_SCOPE_NAMESPACE : CONFIG_SCOPE_TOP);
	if (!key) {
		const char *near = config_nearest_key(key_tok, ps->ns ? CONFIG_SCOPE_NAMESPACE
								 : CONFIG_SCOPE_TOP);
		if (near)
			return config_fail(ps, "unknown key '%s' (did you mean '%s'?)",
					   config_quote(q, key_tok), near);
		return config_fail(ps, "unknown key '%s'", config_quote(q, key_tok));
	}
	if (key->scope == CONFIG_SCOPE_NAMESPACE && !ps->ns)
		return config_fail(ps, "'%s' is only valid inside a namespace block", key->name);
	if (key->scope == CONFIG_SCOPE_TOP && ps->ns)
		return config_fail(ps, "'%s' is not valid inside a namespace block (opened on line %d)",
				   key->name, ps->ns->line);

	for (;;) {
		if (config_lex_next(ps, lx, &t) < 0)
			return -1;
		if (t.kind == CONFIG_TOK_EOL || t.kind == CONFIG_TOK_END)
			break;
		if (t.kind == CONFIG_TOK_CLOSE && ps->ns)
			return config_fail(ps, "%s: unexpected '}' (a block ends with '}' alone on a line)",
					   key->name);
		if (t.kind != CONFIG_TOK_WORD) {
			return config_fail(ps, "%s: unexpected '%c' (no block here)", key->name,
					   t.kind == CONFIG_TOK_OPEN ? '{' : '}');
		}
		if (n < CONFIG_MAX_VALUES)
			v[n] = t;
		n++;
	}

	if (n == 0)
		return config_fail(ps, "%s: missing value", key->name);
	if (n > key->max_values) {
		if (key->max_values == 1)
			return config_fail(ps, "%s: too many values (takes one)", key->name);
		return config_fail(ps, "%s: too many values (takes at most %zu)", key->name,
				   key->max_values);
	}
	size_t row = (size_t)(key - config_keys);
	if (ps->first_line[row] && !key->repeatable)
		return config_fail(ps, "duplicate key '%s' (first set on line %d)", key->name,
				   ps->first_line[row]);
	ps->is_first = ps->first_line[row] == 0;
	if (ps->is_first)
		ps->first_line[row] = ps->line;
	if (key->set(ps, key, v, n) < 0)
		return -1;
	config_dump_note(ps, row, v, n);
	return 0;
}

static int config_first_line(const struct config_parser *ps, const char *name)
{
	enum config_scope scope = ps->ns ? CONFIG_SCOPE_NAMESPACE : CONFIG_SCOPE_TOP;

	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		if (strcmp(config_keys[i].name, name) == 0 && config_keys[i].scope == scope)
			return ps->first_line[i];
	}
	return 0;
}

/* <t> for a message: a word quoted and escaped, or the brace, or the end. */
static const char *config_tok_describe(char out[static CONFIG_QUOTE_MAX * 4 + 4],
				       const struct config_tok *t)
{
	switch (t->kind) {
	case CONFIG_TOK_WORD: {
		CONFIG_QUOTE_BUF(q);
		snprintf(out, CONFIG_QUOTE_MAX * 4 + 4, "'%s'", config_quote(q, t));
		return out;
	}
	case CONFIG_TOK_OPEN: return "'{'";
	case CONFIG_TOK_CLOSE: return "'}'";
	default: return "end of line";
	}
}

/* Runs <key>'s default text through its own handler, into <cfg> or, for a
 * namespace row, into <ns>. */
static void config_apply_default(struct config *cfg, struct config_namespace *ns,
				 const struct config_key *key)
{
	struct config_tok v[CONFIG_MAX_VALUES], t;
	char err[CONFIG_ERR_LEN];
	struct config_parser ps = {
		.cfg = cfg, .ns = ns, .filename = "(defaults)", .err = err, .err_len = sizeof err,
		.is_first = true,
	};
	const char *text = key->default_value;
	struct config_lexer lx = { .p = text, .end = text ? text + strlen(text) : text, .line = 0 };
	size_t n = 0;

	if (!text)
		return;
	while (config_lex_next(&ps, &lx, &t) == 0 && t.kind == CONFIG_TOK_WORD &&
	       n < CONFIG_MAX_VALUES)
		v[n++] = t;
	int rc = key->set(&ps, key, v, n);
	/* A default its own parser refuses is our bug; the defaults unit
	 * test fails on it, and a release build keeps the zeroed field. */
	assert(rc == 0);
	(void)rc;
}

/* Sets <ns> to namespace <name> (checked by the caller) with every
 * namespace row's default; <line> 0 means not declared. */
static void config_namespace_init(struct config_namespace *ns, const char *name, size_t name_len,
				  int line)
{
	memset(ns, 0, sizeof *ns);
	config_copy_filled(ns->name, sizeof ns->name, name, name_len);
	ns->name_len = name_len;
	ns->line = line;
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		if (config_keys[i].scope == CONFIG_SCOPE_NAMESPACE)
			config_apply_default(NULL, ns, &config_keys[i]);
	}
}

/* The namespace list of a config with no blocks: "/" alone, at defaults. */
static void config_namespaces_reset(struct config *cfg)
{
	memset(cfg->namespaces, 0, sizeof cfg->namespaces);
	config_namespace_init(&cfg->namespaces[0], "/", 1, 0);
	cfg->n_namespaces = 1;
}

/* `namespace NAME {`, the first word already read: checks the line and the
 * name, then opens the block on a fresh namespace at its defaults.  The
 * first block of a text replaces the namespace list (see config.h). */
static int config_block_open(struct config_parser *ps, struct config_lexer *lx,
			     const struct config_tok *kw)
{
	struct config *cfg = ps->cfg;
	struct config_tok name, t;
	char why[64], d[CONFIG_QUOTE_MAX * 4 + 4];
	CONFIG_QUOTE_BUF(q);

	ps->line = kw->line;
	if (ps->ns)
		return config_fail(ps, "namespace: blocks do not nest (close the block opened on line %d first)",
				   ps->ns->line);
	if (config_lex_next(ps, lx, &name) < 0)
		return -1;
	if (name.kind != CONFIG_TOK_WORD)
		return config_fail(ps, "namespace: missing name");
	if (name.len > CONFIG_MAX_NSP_NAME)
		return config_fail(ps, "namespace: bad name (longer than %d bytes)",
				   CONFIG_MAX_NSP_NAME);
	const char *problem = config_namespace_name_problem(why, sizeof why, &name);
	if (problem)
		return config_fail(ps, "namespace: bad name '%s' (%s)", config_quote(q, &name), problem);

	if (config_lex_next(ps, lx, &t) < 0)
		return -1;
	if (t.kind == CONFIG_TOK_EOL || t.kind == CONFIG_TOK_END)
		return config_fail(ps, "namespace: missing '{' after the name (on the same line)");
	if (t.kind != CONFIG_TOK_OPEN)
		return config_fail(ps, "namespace: unexpected %s (expected '{')", config_tok_describe(d, &t));
	if (config_lex_next(ps, lx, &t) < 0)
		return -1;
	if (t.kind != CONFIG_TOK_EOL && t.kind != CONFIG_TOK_END)
		return config_fail(ps, "namespace: unexpected %s after '{' (each key goes on its own line)",
				   config_tok_describe(d, &t));

	if (!ps->had_block) {
		config_namespaces_reset(cfg);
		ps->had_block = true;
	}
	struct config_namespace *ns = NULL;
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		if (!config_tok_is(&name, cfg->namespaces[i].name))
			continue;
		if (cfg->namespaces[i].line > 0)
			return config_fail(ps, "namespace: duplicate namespace '%s' (first declared on line %d)",
					   config_quote(q, &name), cfg->namespaces[i].line);
		ns = &cfg->namespaces[i]; /* the implicit "/" */
	}
	if (!ns) {
		if (cfg->n_namespaces == CONFIG_MAX_NAMESPACES)
			return config_fail(ps, "namespace: too many namespaces (at most %d, '/' included)",
					   CONFIG_MAX_NAMESPACES);
		ns = &cfg->namespaces[cfg->n_namespaces++];
	}
	config_namespace_init(ns, name.s, name.len, ps->line);
	ps->ns = ns;
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		if (config_keys[i].scope == CONFIG_SCOPE_NAMESPACE)
			ps->first_line[i] = 0;
	}
	return 0;
}

static void config_note_claim(void *ctx, const char *name, size_t len)
{
	*(bool *)ctx |= config_claim_placeholder(name, len);
}

/* `auth jwt` needs a key, and the jwt_* keys (and claims in patterns) mean
 * nothing without it: a block that sets them without it was meant to
 * check tokens. */
static int config_auth_problem(struct config_parser *ps, const struct config_namespace *ns)
{
	static const char *const jwt_keys[] = { "jwt_secret_file", "jwt_public_key_file",
						"jwt_jwks_file", "jwt_jwks_url", "jwt_issuer",
						"jwt_audience", "jwt_redact_token" };
	static const char *const url_keys[] = { "jwt_jwks_ca_file", "jwt_jwks_refresh",
						"jwt_jwks_refresh_min", "jwt_jwks_timeout",
						"jwt_jwks_wait", "jwt_jwks_max_size",
						"jwt_jwks_max_keys" };

	if (ns->auth == CONFIG_AUTH_JWT && ns->jwt_key == CONFIG_JWT_KEY_NONE) {
		ps->line = config_first_line(ps, "auth");
		return config_fail(ps, "auth jwt needs one of jwt_secret_file, jwt_public_key_file, "
				   "jwt_jwks_file or jwt_jwks_url");
	}
	for (size_t i = 0; ns->jwt_key != CONFIG_JWT_KEY_URL && i < sizeof url_keys / sizeof url_keys[0]; i++) {
		int line = config_first_line(ps, url_keys[i]);
		if (line) {
			ps->line = line;
			return config_fail(ps, "%s needs jwt_jwks_url in the same block", url_keys[i]);
		}
	}
	int timeout_line = config_first_line(ps, "auth_backend_timeout");
	if (ns->auth != CONFIG_AUTH_BACKEND && timeout_line) {
		ps->line = timeout_line;
		return config_fail(ps, "auth_backend_timeout needs auth backend in the same block");
	}
	if (ns->auth == CONFIG_AUTH_JWT)
		return 0;
	bool claims = false;
	config_each_placeholder(ns, config_note_claim, &claims);
	if (claims) {
		ps->line = config_first_line(ps, "client_join");
		return config_fail(ps, "client_join: {sub} and {claims.FIELD} need auth jwt in the same block");
	}
	for (size_t i = 0; i < sizeof jwt_keys / sizeof jwt_keys[0]; i++) {
		int line = config_first_line(ps, jwt_keys[i]);
		if (line) {
			ps->line = line;
			return config_fail(ps, "%s needs auth jwt in the same block", jwt_keys[i]);
		}
	}
	return 0;
}

/* A `}`: alone on its line, it closes the open block after the checks that
 * span the block's keys. */
static int config_block_close(struct config_parser *ps, struct config_lexer *lx,
			      const struct config_tok *brace)
{
	const struct config_namespace *ns = ps->ns;
	struct config_tok t;

	ps->line = brace->line;
	if (!ns)
		return config_fail(ps, "unexpected '}'");
	if (config_lex_next(ps, lx, &t) < 0)
		return -1;
	if (t.kind != CONFIG_TOK_EOL && t.kind != CONFIG_TOK_END)
		return config_fail(ps, "'}' must be alone on its line");
	/* One event cannot mean both; the later line is the one to fix. */
	if (strcmp(ns->join_event, ns->leave_event) == 0) {
		int a = config_first_line(ps, "join_event");
		int b = config_first_line(ps, "leave_event");
		ps->line = a > b ? a : b;
		return config_fail(ps, "join_event and leave_event must differ (both are '%s')",
				   ns->join_event);
	}
	if (config_auth_problem(ps, ns) < 0)
		return -1;
	ps->ns = NULL;
	return 0;
}

/* Session routing needs its listener, its secret and Redis (where the
 * instances find each other), and a listener of its own. */
static int config_cluster_problem(struct config_parser *ps)
{
	const struct config *cfg = ps->cfg;
	bool has_secret = cfg->cluster_secret_file[0] != '\0';

	if (!cfg->has_cluster_listen && !has_secret)
		return 0;
	if (!has_secret || !cfg->has_cluster_listen) {
		ps->line = config_first_line(ps, has_secret ? "cluster_secret_file" : "cluster_listen");
		return config_fail(ps, "cluster_listen and cluster_secret_file go together: "
				   "routing needs both");
	}
	ps->line = config_first_line(ps, "cluster_listen");
	if (!cfg->redis_host[0] && !cfg->redis_unix[0])
		return config_fail(ps, "cluster_listen needs a redis key: instances find each "
				   "other through Redis");
	for (size_t i = 0; i < cfg->n_listen; i++) {
		if (config_listen_equal(&cfg->listen[i], &cfg->cluster_listen))
			return config_fail(ps, "cluster_listen: '%s' is also a listen address",
					   cfg->cluster_listen.text);
	}
	if (cfg->has_admin_listen && config_listen_equal(&cfg->admin_listen, &cfg->cluster_listen))
		return config_fail(ps, "cluster_listen: '%s' is also the admin_listen address",
				   cfg->cluster_listen.text);
	return 0;
}

/* A listener that takes only balancers' connections needs the balancers
 * named: otherwise it would refuse every connection. */
static int config_proxy_protocol_problem(struct config_parser *ps)
{
	const struct config *cfg = ps->cfg;

	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct config_listen *l = &cfg->listen[i];
		bool is_unix = l->addr.ss_family == AF_UNIX;
		if (!l->proxy_protocol || (is_unix ? cfg->trust_unix : cfg->n_trusted_proxies > 0))
			continue;
		ps->line = l->line;
		return config_fail(ps, "listen %s proxy_protocol: trusted_proxies names no %s: "
				   "every connection would be refused", l->text,
				   is_unix ? "unix: peer" : "network");
	}
	return 0;
}

/* Checks that span keys, once every line is in.  The error points at the
 * later of the lines involved, or has no line if both are defaults. */
static int config_check(struct config_parser *ps)
{
	const struct config *cfg = ps->cfg;

	if (cfg->transports == 0) {
		ps->line = config_first_line(ps, "transports");
		return config_fail(ps, "transports: none enabled");
	}
	/* A message relayed to a room is queued whole for each member: with
	 * less room than max_payload, every member would be cut off by it. */
	if (cfg->max_output_buffer < cfg->max_payload) {
		int a = config_first_line(ps, "max_payload");
		int b = config_first_line(ps, "max_output_buffer");
		ps->line = a > b ? a : b;
		return config_fail(ps, "max_output_buffer (%zu bytes) is smaller than max_payload "
				   "(%zu bytes): one full-size message would cut a client off",
				   cfg->max_output_buffer, cfg->max_payload);
	}
	for (size_t i = 0; i < cfg->n_namespaces; i++) {
		const struct config_namespace *ns = &cfg->namespaces[i];
		if (ns->auth != CONFIG_AUTH_BACKEND || cfg->redis_host[0] || cfg->redis_unix[0])
			continue;
		ps->line = ns->line;
		return config_fail(ps, "namespace %s: auth backend needs a redis key: backends "
				   "answer through Redis", ns->name);
	}
	if (cfg->redis_password[0] && cfg->redis_password_file[0]) {
		int a = config_first_line(ps, "redis_password");
		int b = config_first_line(ps, "redis_password_file");
		ps->line = a > b ? a : b;
		return config_fail(ps, "redis_password and redis_password_file: set one of them");
	}
	if (config_cluster_problem(ps) < 0 || config_proxy_protocol_problem(ps) < 0)
		return -1;
	char prefix[CONFIG_MAX_REDIS_KEY + 16];
	if (config_emit_channel_clash(prefix, sizeof prefix, cfg)) {
		struct config_tok channel = {
			CONFIG_TOK_WORD, cfg->redis_emit_channel, strlen(cfg->redis_emit_channel), 0
		};
		struct config_tok pre = { CONFIG_TOK_WORD, prefix, strlen(prefix), 0 };
		CONFIG_QUOTE_BUF(q);
		CONFIG_QUOTE_BUF(p);
		int a = config_first_line(ps, "redis_key");
		int b = config_first_line(ps, "redis_emit_channel");
		ps->line = a > b ? a : b;
		return config_fail(ps, "redis_emit_channel '%s' is one of redis_key's adapter "
				   "channels ('%s...'): its JSON would crash Node servers",
				   config_quote(q, &channel), config_quote(p, &pre));
	}
	return 0;
}

/* config_parse(), each statement kept in <dump> if not NULL. */
static int config_parse_dump(struct config *cfg, const char *text, size_t len,
			     const char *filename, char *err, size_t err_len,
			     struct config_dump *dump)
{
	struct config_parser ps = {
		.cfg = cfg, .filename = filename, .err = err, .err_len = err_len, .dump = dump,
	};
	struct config_lexer lx = { .p = text, .end = len ? text + len : text, .line = 1 };
	struct config_tok t;

	if (err_len > 0)
		err[0] = '\0';
	for (;;) {
		if (config_lex_next(&ps, &lx, &t) < 0)
			return -1;
		if (t.kind == CONFIG_TOK_END)
			break;
		if (t.kind == CONFIG_TOK_EOL)
			continue;
		if (t.kind == CONFIG_TOK_OPEN) {
			ps.line = t.line;
			return config_fail(&ps, "unexpected '{'");
		}
		int rc;
		if (t.kind == CONFIG_TOK_CLOSE)
			rc = config_block_close(&ps, &lx, &t);
		else if (config_tok_is(&t, "namespace"))
			rc = config_block_open(&ps, &lx, &t);
		else
			rc = config_statement(&ps, &lx, &t);
		if (rc < 0)
			return -1;
	}
	if (ps.ns) {
		ps.line = ps.ns->line;
		return config_fail(&ps, "namespace '%s' is not closed (missing '}')", ps.ns->name);
	}
	ps.line = 0;
	return config_check(&ps);
}

int config_parse(struct config *cfg, const char *text, size_t len,
		 const char *filename, char *err, size_t err_len)
{
	return config_parse_dump(cfg, text, len, filename, err, err_len, NULL);
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		if (config_keys[i].scope == CONFIG_SCOPE_TOP)
			config_apply_default(cfg, NULL, &config_keys[i]);
	}
	config_namespaces_reset(cfg);
}

int config_read_secret(const char *path, void *buf, size_t max, size_t *len)
{
	uint8_t *out = buf;
	size_t cap = max + CONFIG_SECRET_SLACK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t r = read(fd, out + *len, cap - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
		if (r == 0 || (*len += (size_t)r) == cap)
			break;
	}
	close(fd);
	while (*len > 0 && (out[*len - 1] == '\n' || out[*len - 1] == '\r'))
		(*len)--;
	return 0;
}

/* redis_password_file's content into redis_password: one line (its
 * newline is the editor's), 1 to CONFIG_MAX_REDIS_PASSWORD bytes, no NUL
 * (the AUTH argument is a C string).  Returns 0, or -1 with
 * "PATH: redis_password_file FILE: reason" in <err>. */
static int config_read_redis_password(struct config *cfg, const char *path, char *err,
				      size_t err_len)
{
	char buf[CONFIG_MAX_REDIS_PASSWORD + CONFIG_SECRET_SLACK];
	const char *why = NULL;
	size_t len = 0;

	if (config_read_secret(cfg->redis_password_file, buf, CONFIG_MAX_REDIS_PASSWORD, &len) < 0)
		why = strerror(errno);
	else if (len == 0)
		why = "empty";
	else if (len > CONFIG_MAX_REDIS_PASSWORD)
		why = "longer than " CONFIG_STR(CONFIG_MAX_REDIS_PASSWORD) " bytes";
	else if (memchr(buf, '\0', len))
		why = "holds a NUL byte";
	if (!why)
		config_copy_filled(cfg->redis_password, sizeof cfg->redis_password, buf, len);
	else if (err_len > 0)
		snprintf(err, err_len, "%s: redis_password_file %s: %s", path,
			 cfg->redis_password_file, why);
	explicit_bzero(buf, sizeof buf);
	return why ? -1 : 0;
}

/* config_load(), each statement kept in <dump> if not NULL. */
static int config_load_dump(struct config *cfg, const char *path, char *err, size_t err_len,
			    struct config_dump *dump)
{
	char *buf;
	size_t len = 0;
	int fd, rc;

	config_defaults(cfg);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail_errno;
	/* One byte more than allowed tells "exactly 1 MiB" from "larger". */
	buf = malloc(CONFIG_MAX_FILE_BYTES + 1);
	if (!buf) {
		close(fd);
		errno = ENOMEM;
		goto fail_errno;
	}
	while (len < CONFIG_MAX_FILE_BYTES + 1) {
		ssize_t r = read(fd, buf + len, CONFIG_MAX_FILE_BYTES + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			goto fail_errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len > CONFIG_MAX_FILE_BYTES) {
		free(buf);
		if (err_len > 0)
			snprintf(err, err_len, "%s: larger than 1 MiB (not a config file?)", path);
		return -1;
	}
	rc = config_parse_dump(cfg, buf, len, path, err, err_len, dump);
	free(buf);
	if (rc == 0 && cfg->redis_password_file[0])
		rc = config_read_redis_password(cfg, path, err, err_len);
	return rc;

fail_errno:
	if (err_len > 0)
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
	return -1;
}

int config_load(struct config *cfg, const char *path, char *err, size_t err_len)
{
	return config_load_dump(cfg, path, err, err_len, NULL);
}

/* ---- the effective configuration (roomcastd -T) ---- */

/* Whether <key> applies in namespace <ns> (or at the top): the statement
 * its applies_with names is in <d>.  A default is written only where it
 * applies; elsewhere the file would be refused. */
static bool config_dump_applies(const struct config_dump *d, const struct config_key *key,
				size_t ns)
{
	if (!key->applies_with)
		return true;
	const char *value = strchr(key->applies_with, ' ');
	size_t name_len = value ? (size_t)(value - key->applies_with) : strlen(key->applies_with);

	for (size_t i = 0; i < d->n; i++) {
		const struct config_key *k = &config_keys[d->lines[i].row];
		if ((key->scope == CONFIG_SCOPE_TOP || d->lines[i].ns == ns) &&
		    strlen(k->name) == name_len && strncmp(k->name, key->applies_with, name_len) == 0 &&
		    (!value || strcmp(d->lines[i].text, value + 1) == 0))
			return true;
	}
	return false;
}

/* Row <row> (of namespace <ns> for a namespace row) as <d> has it from
 * the file, else its default, else a comment saying it is not set. */
static void config_dump_row(FILE *out, const struct config_dump *d, size_t row, size_t ns)
{
	const struct config_key *key = &config_keys[row];
	const char *indent = key->scope == CONFIG_SCOPE_NAMESPACE ? "    " : "";
	bool written = false;

	for (size_t i = 0; i < d->n; i++) {
		const struct config_dump_line *l = &d->lines[i];
		if (l->row == row && (key->scope == CONFIG_SCOPE_TOP || l->ns == ns)) {
			fprintf(out, "%s%s %s\n", indent, key->name, l->text);
			written = true;
		}
	}
	if (written)
		return;
	if (key->default_value && !config_dump_applies(d, key, ns))
		fprintf(out, "%s# %s %s (with %s)\n", indent, key->name, key->default_value,
			key->applies_with);
	else if (key->default_value)
		fprintf(out, "%s%s %s\n", indent, key->name, key->default_value);
	else
		fprintf(out, "%s# %s: not set (%s)\n", indent, key->name, key->why);
}

static void config_dump_scope(FILE *out, const struct config_dump *d, enum config_scope scope,
			      size_t ns)
{
	for (size_t row = 0; row < CONFIG_N_KEYS; row++) {
		if (config_keys[row].scope == scope)
			config_dump_row(out, d, row, ns);
	}
}

int config_dump(const char *path, FILE *out, char *err, size_t err_len)
{
	static struct config cfg; /* large: not on the stack */
	struct config_dump d = { 0 };
	int rc = config_load_dump(&cfg, path, err, err_len, &d);

	if (rc == 0 && d.out_of_memory) {
		snprintf(err, err_len, "%s: out of memory", path);
		rc = -1;
	}
	if (rc == 0) {
		fprintf(out, "# the effective configuration of %s: every key, as the file sets it "
			"or by default\n", path);
		config_dump_scope(out, &d, CONFIG_SCOPE_TOP, 0);
		for (size_t i = 0; i < cfg.n_namespaces; i++) {
			fprintf(out, "\nnamespace %s {\n", cfg.namespaces[i].name);
			config_dump_scope(out, &d, CONFIG_SCOPE_NAMESPACE, i);
			fprintf(out, "}\n");
		}
	}
	for (size_t i = 0; i < d.n; i++)
		free(d.lines[i].text);
	free(d.lines);
	return rc;
}

/* ---- room patterns ---- */

/* glob.c matches; the limits it keeps are the ones this file promises. */
_Static_assert(CONFIG_MAX_ROOM_PATTERN == GLOB_MAX_PATTERN, "one pattern limit");
_Static_assert(CONFIG_MAX_ROOM_NAME == GLOB_MAX_NAME, "one room name limit");

/* The separators of a namespace: the bytes that follow a placeholder in
 * its client_join patterns or its user_room (config_value_is_separated()). */
static void config_separators_of(const struct config_namespace *ns, struct glob_separators *sep)
{
	memset(sep, 0, sizeof *sep);
	glob_separators_add(sep, ns->user_room, strnlen(ns->user_room, CONFIG_MAX_ROOM_PATTERN));
	for (size_t i = 0; i < ns->n_client_join && i < CONFIG_MAX_CLIENT_JOIN; i++)
		glob_separators_add(sep, ns->client_join[i],
				    strnlen(ns->client_join[i], CONFIG_MAX_ROOM_PATTERN));
}

bool config_value_is_separated(const struct config_namespace *ns, const char *value, size_t len)
{
	struct glob_separators sep;

	config_separators_of(ns, &sep);
	return glob_value_is_separated(&sep, value, len);
}

bool config_glob_allows(const char *glob, size_t glob_len, const char *room, size_t room_len)
{
	return glob_match_plain(glob, glob_len, room, room_len);
}

void config_each_placeholder(const struct config_namespace *ns,
			     void (*fn)(void *ctx, const char *name, size_t name_len), void *ctx)
{
	for (size_t i = 0; i < ns->n_client_join && i < CONFIG_MAX_CLIENT_JOIN; i++)
		glob_each_placeholder(ns->client_join[i],
				      strnlen(ns->client_join[i], CONFIG_MAX_ROOM_PATTERN), fn, ctx);
}

bool config_room_allowed(const struct config_namespace *ns, const char *room, size_t room_len,
			 const char *(*value)(void *ctx, const char *name, size_t name_len,
						   size_t *value_len),
			 void *ctx)
{
	struct glob_separators sep;

	if (room_len > CONFIG_MAX_ROOM_NAME)
		return false;
	config_separators_of(ns, &sep);
	for (size_t i = 0; i < ns->n_client_join && i < CONFIG_MAX_CLIENT_JOIN; i++) {
		const char *p = ns->client_join[i];
		if (glob_match(p, strnlen(p, CONFIG_MAX_ROOM_PATTERN + 1), room, room_len, &sep, value,
			       ctx))
			return true;
	}
	return false;
}
