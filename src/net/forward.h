/* forward.h - requests for another instance's session, forwarded to it.
 *
 * The forwarding half of session routing (route.h): a polling GET or POST
 * for a peer's session is sent to the peer's cluster_listen as an HTTP/1.1
 * request carrying X-Roomcast-Peer, and the client gets the peer's answer
 * (status, type, body; CORS as this instance's own answers).  A WebSocket
 * upgrade for a peer's session is sent the same way; once the peer
 * answers 101 the two connections are spliced, bytes relayed both ways
 * unread, so the owner keeps its probe, its noop and its heartbeats.
 * A client that goes away closes its upstream, so the owner sees the same
 * abort it would have seen directly.
 *
 * Bounds: one upstream per forwarded request in flight (each client
 * connection has at most one), at most cluster_max_upstreams in all (they
 * hold no client slot; at the bound an idle one gives way, else the
 * request gets 503); FORWARD_MAX_IDLE idle keep-alive upstreams
 * for all peers (enough for the requests a busy instance has in flight: a
 * request that finds none opens a connection), reused most recent first
 * and at most half of keepalive_timeout (the owner closes them at
 * keepalive_timeout); FORWARD_CONNECT_TIMEOUT_MS to connect; an
 * answer's head at most FORWARD_MAX_HEAD bytes and its body at most
 * max_output_buffer (a polling answer is at most one queue); relayed
 * WebSocket output is bounded by max_output_buffer on each side, as a
 * client's own.  An upstream that fails before the answer (connection
 * refused or reset, connect timeout, the peer forgotten) is answered with
 * the reference server's 400 code 1, and the client starts a new session;
 * a request on a reused connection that the owner closed while idle is
 * sent once more on a new one.
 *
 * A request for an instance not heard of yet (route.h's ROUTE_UNKNOWN:
 * it may have started a moment ago) is held, its instance asked for on
 * Redis, and forwarded once that instance announces itself; after
 * FORWARD_HOLD_MS (an announcement period and a half: a live instance
 * announces once a second even if the ask was lost) it is answered code 1.
 * At most FORWARD_MAX_HELD wait at once; past it, code 1 at once.  Each
 * holds its client connection only (counted in max_connections).
 */
#ifndef ROOMCAST_FORWARD_H
#define ROOMCAST_FORWARD_H

#include <event2/event.h>

#include "config.h"
#include "http.h"
#include "route.h"

#define FORWARD_MAX_IDLE 1024
#define FORWARD_CONNECT_TIMEOUT_MS 1000
#define FORWARD_MAX_HEAD 8192
#define FORWARD_HOLD_MS 1500
#define FORWARD_MAX_HELD 1024

/* Sets up forwarding when routing is on (route_init() done: route_enabled()),
 * and registers for route's peer events; nothing otherwise. */
void forward_init(struct event_base *base, const struct config *cfg);
/* Closes every upstream (shutdown; the server frees them). */
void forward_cleanup(void);

/* Sends <req> on <hc> to <peer> and answers <hc> with what it says. */
void forward_request(struct http_conn *hc, const struct http_request *req,
		     const struct route_peer *peer);

/* Holds <req> on <hc>, whose sid names an instance not heard of yet, until
 * it is heard (route's on_heard), gone, or FORWARD_HOLD_MS passed. */
void forward_hold(struct http_conn *hc, struct http_request *req);

#endif
