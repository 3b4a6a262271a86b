/* metrics.h - process-wide counters and gauges, rendered as Prometheus text.
 *
 * Every drop, refusal and error has a counter here, named for what tripped;
 * the log says why once, the counter keeps the exact count.  Counters only
 * grow; gauges are set by their owner.  Single-threaded: plain integers.
 */
#ifndef ROOMCAST_METRICS_H
#define ROOMCAST_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(name, help) */
#define METRICS_COUNTERS(X)                                                              \
	X(connections_accepted_total, "TCP connections accepted")                          \
	X(connections_rejected_total, "connections refused past max_connections (503)")    \
	X(connections_rejected_per_ip_total, "connections refused past max_connections_per_ip (503)") \
	X(sessions_rejected_per_ip_total, "handshakes refused: the address has max_connections_per_ip sessions (503)") \
	X(proxy_protocol_refused_total, "connections to a proxy_protocol listener from outside trusted_proxies, closed") \
	X(proxy_protocol_bad_total, "connections closed on a malformed or too long PROXY protocol header") \
	X(proxy_protocol_timeouts_total, "connections closed with no whole PROXY protocol header by header_timeout") \
	X(forwarded_for_ignored_total, "X-Forwarded-For headers ignored: the peer is not in trusted_proxies") \
	X(forwarded_for_invalid_total, "X-Forwarded-For walks stopped at a bad entry, 32 hops or a cut") \
	X(connections_accept_errors_total, "accept() failures (e.g. out of descriptors)") \
	X(output_overflow_total, "connections closed past max_output_buffer")             \
	X(connections_linger_expired_total, "closing connections reset at linger_timeout, output unsent") \
	X(http_requests_total, "HTTP requests parsed")                                     \
	X(http_bad_requests_total, "HTTP requests refused as malformed or too large")      \
	X(http_timeouts_total, "idle keep-alive HTTP connections closed by keepalive_timeout") \
	X(http_header_timeouts_total, "request heads not complete within header_timeout (408)") \
	X(http_body_timeouts_total, "request bodies not complete within body_timeout (408)") \
	X(engine_errors_total, "Engine.IO requests answered with an error code")          \
	X(engine_sessions_opened_total, "Engine.IO sessions opened")                       \
	X(engine_sessions_closed_total, "Engine.IO sessions closed")                       \
	X(engine_parse_errors_total, "sessions closed on an Engine.IO parse error")        \
	X(engine_transport_errors_total, "sessions closed on a transport error")           \
	X(engine_origin_refused_total, "requests refused 403: their Origin may not use the engine") \
	X(engine_ping_timeouts_total, "sessions closed because no pong arrived")           \
	X(engine_upgrades_total, "polling sessions upgraded to WebSocket")                 \
	X(engine_upgrade_failures_total, "upgrade attempts that failed or timed out")      \
	X(engine_payload_too_large_total, "POST bodies refused with 413")                  \
	X(engine_messages_received_total, "Engine.IO messages received from clients")      \
	X(engine_messages_sent_total, "Engine.IO messages queued to clients")              \
	X(engine_messages_dropped_total, "messages received with no application to take them") \
	X(ws_protocol_errors_total, "WebSocket connections closed with 1002")              \
	X(ws_utf8_errors_total, "WebSocket connections closed with 1007")                  \
	X(ws_too_big_total, "WebSocket connections closed with 1009")                      \
	X(sio_connects_total, "sockets connected to a namespace")                          \
	X(sio_connect_errors_total, "CONNECT refused with CONNECT_ERROR")                  \
	X(sio_auth_too_large_total, "CONNECT refused: auth longer than max_auth_size")       \
	X(sio_sessions_refused_connects_total, "sessions closed: max_refused_connects_per_session CONNECTs refused") \
	X(sio_connects_refused_per_ip_total, "CONNECTs refused unchecked: the address passed max_refused_connects_per_ip") \
	X(sio_connects_pending_rejected_per_ip_total, "CONNECTs to auth backend refused: the address has max_pending_connects_per_ip waiting") \
	X(sio_json_too_costly_total, "sessions closed: a payload past max_json_expansion") \
	X(sio_connect_timeouts_total, "sessions closed with no namespace by connect_timeout") \
	X(sio_protocol_errors_total, "sessions closed on a Socket.IO protocol error")      \
	X(sio_events_received_total, "events received from clients")                      \
	X(sio_events_relayed_total, "client events relayed to their rooms")               \
	X(sio_events_dropped_total, "client events neither relayed nor forwarded")       \
	X(sio_deliveries_total, "relayed and broadcast packets queued to recipients")                   \
	X(sio_joins_total, "rooms joined by clients")                                      \
	X(sio_joins_refused_total, "joins or leaves refused by the room policy") \
	X(sio_server_disconnects_total, "sockets disconnected by the server (cluster, emitter)") \
	X(sio_acks_requested_total, "events sent to clients with an ack id")              \
	X(sio_acks_received_total, "client answers to the server's ack ids")              \
	X(sio_acks_expired_total, "ack ids given up on at their timeout")                 \
	X(sio_acks_overflow_total, "ack ids given up on past max_acks_per_socket")       \
	X(sio_volatile_dropped_total, "volatile packets not sent: transport busy")        \
	X(cluster_broadcasts_published_total, "client relays published to the cluster")   \
	X(cluster_broadcasts_received_total, "cluster broadcasts delivered to local sockets") \
	X(cluster_messages_ignored_total, "cluster messages not for this server (own, no such room)") \
	X(cluster_bad_messages_total, "cluster messages dropped as malformed, wrong-typed or unknown") \
	X(cluster_requests_total, "cluster requests handled")                             \
	X(cluster_responses_published_total, "answers published to cluster requests")     \
	X(cluster_json_emits_total, "plain JSON emits delivered from redis_emit_channel") \
	X(cluster_json_ops_total, "plain JSON joins, leaves and disconnects applied from redis_emit_channel") \
	X(cluster_oversized_total, "Redis messages dropped as longer than redis_max_message") \
	X(cluster_joins_refused_total, "server-side joins (socket, room) refused past max_rooms_per_socket or max_room_name") \
	X(redis_reconnects_total, "Redis connection attempts after a failure or a loss")  \
	X(redis_publish_failed_total, "PUBLISH refused (Redis away or behind) or failed") \
	X(memory_trims_total, "times free heap was given back to the system (malloc_trim)") \
	X(bytes_received_total, "bytes read from client connections")                     \
	X(bytes_sent_total, "bytes written to client connections")                      \
	X(config_reloads_total, "SIGHUP reloads of the config file applied")             \
	X(config_reload_failures_total, "SIGHUP reloads refused: the file had an error")   \
	X(auth_expired_total, "sessions closed because a socket's token expired") \
	X(jwks_fetches_total, "fetches of a jwt_jwks_url started") \
	X(jwks_fetch_failures_total, "jwt_jwks_url fetches that failed or were refused: the last good set kept") \
	X(jwks_kid_refreshes_total, "jwt_jwks_url fetches a token's unknown kid asked for (at most one per jwt_jwks_refresh_min)") \
	X(jwks_connect_waits_total, "CONNECTs held for a jwt_jwks_url fetch under way (a kid the set lacks, or no set yet)") \
	X(backend_records_total, "client records Redis added to the backend stream") \
	X(backend_replies_total, "backend replies delivered to clients as acks")       \
	X(backend_replies_dropped_total, "backend replies dropped: malformed, socket gone, ack id not awaited") \
	X(backend_acks_expired_total, "ack ids given up on at backend_ack_timeout")      \
	X(backend_acks_overflow_total, "ack ids given up on past max_backend_acks")       \
	X(backend_buffered_total, "client records that waited in backend_buffer for Redis") \
	X(backend_records_resent_total, "client records in flight when the Redis link dropped, written again") \
	X(backend_acks_unavailable_total, "acked events answered at once with error unavailable: record not kept") \
	X(route_forwarded_total, "requests for another instance's session forwarded to it") \
	X(route_forward_failures_total, "forwarded requests answered code 1: the owner could not be reached or went away") \
	X(route_relayed_upgrades_total, "WebSockets of another instance's session relayed to it") \
	X(route_forged_sids_total, "requests whose sid has a bad MAC: answered code 1, not forwarded") \
	X(route_unknown_instance_total, "requests for a valid sid of an instance gone, or not heard of within 1.5 s: code 1") \
	X(route_held_total, "requests for a valid sid of an instance not heard of yet, held while it is asked for") \
	X(route_held_overflow_total, "requests not held: 1024 waited already (code 1)") \
	X(route_asks_total, "asks to announce heard from other instances (answered at most every 100 ms)") \
	X(route_peer_refused_total, "requests on cluster_listen without the cluster's token (403)") \
	X(route_upstreams_rejected_total, "requests for another instance's session refused past cluster_max_upstreams (503)") \
	X(route_unauthenticated_rejected_total, "cluster_listen connections refused past cluster_max_unauthenticated_per_ip (503)") \
	X(route_unauthenticated_evicted_total, "cluster_listen connections without the token closed, the oldest, past cluster_max_unauthenticated") \
	X(route_bad_announcements_total, "instance announcements dropped: malformed or bad MAC") \
	X(route_stale_announcements_total, "instance announcements with a good MAC dropped: not later than the last from that instance, or over 5 s off this clock (replays)") \
	X(route_id_collisions_total, "another instance announced this one's instance id: a new one was picked")

/* X(name, help) */
#define METRICS_GAUGES(X)                                               \
	X(connections_current, "open TCP connections")                 \
	X(sessions_current, "open Engine.IO sessions")                 \
	X(sockets_current, "sockets connected to namespaces")         \
	X(connects_pending, "CONNECTs waiting for a backend's decision (auth backend)") \
	X(jwks_keys, "keys held from every jwt_jwks_url's last good set") \
	X(redis_up, "1 while both Redis connections are up and subscribed") \
	X(config_last_reload_successful, "1 if the last load of the config file (start or SIGHUP) was applied, 0 if refused") \
	X(config_last_reload_success_timestamp_seconds, "when the config file was last applied (start or SIGHUP), Unix time") \
	X(backend_buffer_bytes, "bytes of client records waiting in backend_buffer") \
	X(route_peers, "other instances announced and not expired (session routing)") \
	X(route_upstreams, "connections to peers for forwarded requests and relayed WebSockets") \
	X(route_unauthenticated, "cluster_listen connections that have not shown the cluster's token yet") \
	X(route_held, "requests waiting for their sid's instance to announce itself")

enum metrics_counter {
#define METRICS_ENUM(name, help) METRIC_##name,
	METRICS_COUNTERS(METRICS_ENUM)
#undef METRICS_ENUM
	METRICS_N_COUNTERS
};

enum metrics_gauge {
#define METRICS_ENUM(name, help) GAUGE_##name,
	METRICS_GAUGES(METRICS_ENUM)
#undef METRICS_ENUM
	METRICS_N_GAUGES
};

extern uint64_t metrics_counters[METRICS_N_COUNTERS];
extern int64_t metrics_gauges[METRICS_N_GAUGES];

#define metrics_inc(name) (metrics_counters[METRIC_##name]++)
#define metrics_add(name, n) (metrics_counters[METRIC_##name] += (n))
#define metrics_gauge_add(name, delta) (metrics_gauges[GAUGE_##name] += (delta))
#define metrics_gauge_set(name, value) (metrics_gauges[GAUGE_##name] = (value))

/* A counter with one label, registered by the module that owns its
 * values (auth.c's refusals by reason): counts[i] is rendered as
 * roomcast_<name>{<label>="<values[i]>"}.  The struct and its arrays must
 * outlive the process's rendering (static storage). */
struct metrics_family {
	const char *name;              /* without the roomcast_ prefix */
	const char *help;
	const char *label;
	const char *const *values;     /* label values: no '"', '\\' or newline */
	uint64_t *counts;
	size_t n;
};

#define METRICS_MAX_FAMILIES 4

/* Adds <f> to what metrics_render() writes; at most METRICS_MAX_FAMILIES. */
void metrics_family_register(const struct metrics_family *f);

/* A histogram: counts[i] observations <= bounds[i] (not cumulative),
 * counts[n] above the last; rendered cumulatively with _sum and _count.
 * Static storage, registered by its owner. */
struct metrics_histogram {
	const char *name;              /* without the roomcast_ prefix */
	const char *help;
	const double *bounds;          /* ascending */
	size_t n;
	uint64_t *counts;              /* n + 1 */
	double sum;
	uint64_t count;
};

void metrics_histogram_observe(struct metrics_histogram *h, double v);
/* At most one, for now the event loop's lag. */
void metrics_histogram_register(struct metrics_histogram *h);

/* Where a collector writes its part of the exposition. */
struct metrics_writer {
	char *out;
	size_t len, cap;
	bool overflow;
};

/* printf into <w>; once it overflows, nothing more is written. */
void metrics_printf(struct metrics_writer *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Writes <value> as a label value: '\\', '"' and newline escaped. */
void metrics_label(struct metrics_writer *w, const char *value, size_t len);

/* A module's metrics computed when scraped (process, namespaces): at most
 * METRICS_MAX_COLLECTORS, called in registration order. */
#define METRICS_MAX_COLLECTORS 4
void metrics_collector_register(void (*collect)(struct metrics_writer *w));

/* Writes the Prometheus text exposition of every metric into <out>
 * (<out_len> bytes).  Returns the length, or 0 if it does not fit. */
size_t metrics_render(char *out, size_t out_len);

#endif
