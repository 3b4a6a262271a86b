/* route.h - session routing: which instance owns a session, and where the
 * others are.
 *
 * With cluster_listen and cluster_secret_file, every session id names the
 * instance that made it (sid.h), and every instance announces itself on
 * the Redis channel <redis_key>-route# once a second: its instance id and
 * the cluster_listen address peers forward to, signed with the secret.
 * A request for a sid that is not local then goes to route_sid_owner():
 * another live instance's sid is forwarded to it (forward.h); a sid with a
 * bad MAC, or of an instance no longer announced, is answered with the
 * reference server's code 1 at once, with nothing forwarded.
 *
 * Announcements carry the sender's time (route.c's top comment): one more
 * than ROUTE_CLOCK_SKEW_MS away from this instance's clock, or not later
 * than the last taken from its instance, is a replay (or a clock out of
 * step) and is dropped, so a captured line replayed on Redis cannot bring
 * back an instance that left, move it, or make a live one forgotten.
 *
 * An instance learns the others before it takes clients: at start it
 * announces itself and asks the others to announce ("?" as ADDR), and
 * route_ready() turns true ROUTE_START_SETTLE_MS after its ask came back
 * from Redis (so every instance has been sent it), or after
 * ROUTE_START_WAIT_MS at most (Redis away).  An instance answers asks at
 * most every ROUTE_ASK_MS, and asks at most that often.  A request for a
 * valid sid of an instance never heard of (or gone so long it was
 * dropped) is held while it is asked for (forward_hold()); one of an
 * instance that left gets code 1 at once.
 *
 * Bounds: at most ROUTE_MAX_PEERS instances are remembered, live or gone
 * (the one gone longest makes room); one not heard for ROUTE_PEER_TTL_MS
 * while Redis is up is forgotten, and its forwarded requests fail
 * (the peer hooks' on_gone); one gone is remembered ROUTE_GONE_KEEP_MS, its
 * sids answered code 1.  While Redis is away peers are kept: they cannot
 * announce, but may well be alive.
 */
#ifndef ROOMCAST_ROUTE_H
#define ROOMCAST_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "config.h"
#include "id.h"
#include "sid.h"

#define ROUTE_ANNOUNCE_MS 1000
#define ROUTE_PEER_TTL_MS 3500
#define ROUTE_MAX_PEERS 1024
/* How far an announcement's time may be from this instance's clock.  NTP
 * keeps hosts within milliseconds, and Redis delivers within them; 5 s
 * also lets hosts without NTP run for a day (a quartz clock drifts about
 * 4 s a day).  It is also the longest a goodbye can be undone for an
 * instance that did not hear it (started, or away from Redis, meanwhile):
 * a captured line is fresh for this long at most. */
#define ROUTE_CLOCK_SKEW_MS 5000
/* Asks to announce are sent, and answered, at most this often: whoever
 * replays asks on Redis makes each instance announce 10 times a second. */
#define ROUTE_ASK_MS 100
/* At start, how long the answers to this instance's ask may take once the
 * ask is back from Redis (an answer waits ROUTE_ASK_MS at most, plus a
 * loop turn at the peer), and the longest wait in all. */
#define ROUTE_START_SETTLE_MS 250
#define ROUTE_START_WAIT_MS 2000
/* How long an instance that left is remembered (its sids get code 1 at
 * once, no older line of it is taken); at least until its last line is
 * older than ROUTE_CLOCK_SKEW_MS. */
#define ROUTE_GONE_KEEP_MS 60000
/* The cluster secret: at least this long (a guessable one lets anyone
 * forge sids and talk to cluster_listen), at most a page. */
#define ROUTE_SECRET_MIN 16
#define ROUTE_SECRET_MAX 4096
/* X-Roomcast-Peer's value: hex of a MAC of the secret. */
#define ROUTE_TOKEN_LEN 32

/* Another instance, as its last announcement said. */
struct route_peer {
	char id[SID_INSTANCE_LEN + 1];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char text[64];                 /* the address as announced */
	int64_t heard_ms;
};

enum route_owner {
	ROUTE_OFF,                     /* routing is not configured */
	ROUTE_HERE,                    /* this instance's sid (closed or expired if not found) */
	ROUTE_PEER,                    /* a live peer's: forward it */
	ROUTE_FORGED,                  /* not a sid this cluster made */
	ROUTE_GONE,                    /* a valid sid of an instance gone (or Redis away) */
	ROUTE_UNKNOWN,                 /* a valid sid of an instance never heard of: ask */
};

/* Told of a peer's comings and goings, for the requests forwarded to it:
 * on_heard when it is heard at an address (a new one, or again after it
 * was gone), on_gone when it is gone, and when an instance already gone
 * says goodbye (requests held for it).  forward.c registers them (it
 * reads route; route never calls it by name). */
typedef void route_peer_cb(const struct route_peer *peer);
struct route_peer_hooks {
	route_peer_cb *on_heard;
	route_peer_cb *on_gone;
};

/* What route_init() reads, checked and forgotten (roomcastd -t): the
 * secret, when cfg routes.  Returns 0, or -1 with the reason logged. */
int route_check(const struct config *cfg) __attribute__((warn_unused_result));
/* Reads the secret and picks this instance's id, when cfg routes;
 * nothing otherwise.  Needs redis_init() done (it subscribes to the
 * announcement channel and hears the link's state).  Returns
 * 0, or -1 with the reason logged. */
int route_init(struct event_base *base, const struct config *cfg)
	__attribute__((warn_unused_result));
/* Starts announcing cluster_listen's bound address (server_start() done)
 * and asks the others to announce. */
int route_start(void) __attribute__((warn_unused_result));
/* Sets the peer hooks (<hooks> borrowed for as long as routing runs;
 * NULL: none). */
void route_set_peer_hooks(const struct route_peer_hooks *hooks);
/* Whether clients may come: routing is off, or the start's wait is over
 * (its own timer wakes the loop). */
bool route_ready(void);
/* Asks every instance to announce itself now (at most every ROUTE_ASK_MS:
 * the answers to an ask sent since come anyway). */
void route_ask(void);
/* A line of the announcement channel, <payload> (<len> bytes), handled as
 * when Redis delivers it: the channel's handler, public for the server
 * fuzz target, which runs with no Redis (tests/fuzz/fuzz_server.c). */
void route_hear(const uint8_t *payload, size_t len);
/* Stops announcing and says goodbye, so that peers fail this instance's
 * sids at once (a stop, once its sessions are closed). */
void route_leave(void);
/* route_leave(), then frees all. */
void route_cleanup(void);
bool route_enabled(void);

/* A fresh session id: routed (sid.h) when routing is on, else id.h's.
 * Returns 0, or -1 if the kernel gave no random bytes. */
int route_sid_new(char out[ID_LEN + 1]) __attribute__((warn_unused_result));
/* Who owns <sid>; *<peer> is set for ROUTE_PEER (valid for this turn). */
enum route_owner route_sid_owner(const char *sid, size_t len, const struct route_peer **peer);
/* Whether <sid>'s instance is a live peer, or one never heard of, its MAC
 * not checked: reason enough to read a POST's body, which
 * route_sid_owner() then decides on (one MAC per request). */
bool route_sid_names_peer(const char *sid, size_t len);

/* The value a forwarded request carries in X-Roomcast-Peer, and whether
 * <token> (NUL-terminated) is it (constant time). */
const char *route_peer_token(void);
bool route_peer_token_ok(const char *token);

#endif
