/* redis.h - the daemon's two Redis connections: hiredis async on libevent.
 *
 * One connection subscribes (SUBSCRIBE, PSUBSCRIBE) and hands each
 * message to the handler its subscription was made with; the other
 * publishes.  Both authenticate
 * (redis_password) and select redis_db when they connect, give up a
 * connect that takes longer than REDIS_CONNECT_TIMEOUT_MS, and reconnect
 * after a loss with a capped exponential backoff; the subscriber then
 * subscribes again to everything it was asked to.  An outage is logged
 * once when it starts and once when it ends, never per message.  While
 * Redis is away or slow nothing waits and nothing grows: a publish fails
 * at once (counted as redis_publish_failed_total) when the publisher is
 * not connected or already has REDIS_MAX_PENDING_BYTES in flight.
 * Messages longer than redis_max_message are dropped before a handler sees
 * them, counted (cluster_oversized_total) and logged once per outage-free
 * stretch.  One that is still arriving when the bytes held for it pass
 * redis_max_message (plus a little for the channel name and framing) is
 * refused there and then, and the subscriber reconnects to skip the rest:
 * a message costs about redis_max_message at most, never its own size.
 * Metrics: redis_up (gauge), redis_reconnects_total.
 */
#ifndef ROOMCAST_REDIS_H
#define ROOMCAST_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"

#define REDIS_CONNECT_TIMEOUT_MS 2000
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 5000
/* Published bytes not yet confirmed by Redis, past which publishes fail. */
#define REDIS_MAX_PENDING_BYTES (64u << 20)

/* A message on a subscribed channel (or on a channel matching a subscribed
 * pattern: <channel> is the real channel), to the handler given with the
 * subscription.  The bytes are valid during the call only. */
typedef void redis_message_cb(void *arg, const char *channel, size_t channel_len,
			      const uint8_t *payload, size_t len);
/* Both connections are up and every subscription is confirmed (<up>
 * true), or one of them was lost (<up> false).  Called on changes only.
 * A subscription added while up does not make it false while it awaits
 * its confirmation. */
typedef void redis_state_cb(void *arg, bool up);

/* Starts connecting to cfg->redis_* (cfg must have a redis address) and
 * returns; the connections come up on the loop.  Returns 0, or -1 if
 * memory ran out. */
int redis_init(struct event_base *base, const struct config *cfg)
	__attribute__((warn_unused_result));
/* Closes both connections and frees everything (shutdown). */
void redis_cleanup(void);

/* Adds a channel (exact) or a pattern to the subscriber's set, its
 * messages to <cb> with <arg>: sent now if connected, and after every
 * reconnect.  A name already in the set keeps the handler it was first
 * added with.  Returns 0, or -1 if memory ran out. */
int redis_subscribe(const char *channel, redis_message_cb *cb, void *arg)
	__attribute__((warn_unused_result));
int redis_psubscribe(const char *pattern, redis_message_cb *cb, void *arg)
	__attribute__((warn_unused_result));

/* Adds <cb> to those told of each change of redis_is_up(), in the order
 * they were added (from the next change on).  Returns 0, or -1 if memory
 * ran out. */
int redis_on_state(redis_state_cb *cb, void *arg) __attribute__((warn_unused_result));

/* PUBLISH <channel> <payload>, binary-safe.  Returns 0 when queued, -1
 * when Redis is away or too far behind (nothing is kept; counted here, so
 * the caller need not). */
int redis_publish(const char *channel, size_t channel_len, const void *payload, size_t len);

/* Results of redis_write(), and what its callback hears. */
enum redis_write_result {
	REDIS_WRITE_OK = 0,            /* queued; to the callback: Redis answered, not an error */
	REDIS_WRITE_DOWN = -1,         /* the publisher is not connected */
	REDIS_WRITE_BEHIND = -2,       /* REDIS_MAX_PENDING_BYTES are in flight already */
	REDIS_WRITE_NOMEM = -3,        /* out of memory */
	REDIS_WRITE_REFUSED = -4,      /* to the callback: Redis answered with an error */
	REDIS_WRITE_LOST = -5,         /* to the callback: the link went before the answer */
};

/* Called exactly once per queued command, with <err> Redis's error text
 * for REDIS_WRITE_REFUSED (valid during the call), else NULL or a reason. */
typedef void redis_write_cb(void *arg, enum redis_write_result res, const char *err);

/* Sends <cmd> (<len> bytes of a command already in the RESP protocol) on
 * the publisher, under the same in-flight byte cap as redis_publish(), and
 * returns without waiting: commands queued in one loop turn leave in one
 * write.  Returns REDIS_WRITE_OK when queued (then <cb> runs once, later,
 * also at shutdown), or why not (then <cb> never runs; nothing counted). */
enum redis_write_result redis_write(const char *cmd, size_t len, redis_write_cb *cb, void *arg)
	__attribute__((warn_unused_result));

/* Whether both connections are up and subscribed. */
bool redis_is_up(void);

/* Whether the publisher is up with writes Redis has not answered yet: a
 * shutdown waits for them (lifecycle records, last publishes). */
bool redis_has_unanswered(void);

#endif
