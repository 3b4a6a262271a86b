/* redis.c - the two Redis connections (see redis.h) on hiredis 0.14 async.
 *
 * Owns the hiredis contexts, their timers and their libevent watchers (our
 * own glue, not hiredis's adapter: it also refuses a reply past
 * redis_max_message while it arrives), the list of channels and
 * patterns the subscriber must hold with the handler of each, those told
 * of the link's state, the count of published bytes Redis
 * has not answered yet, and the log lines and metrics of the Redis link.
 * Does not own what the messages mean (their subscribers: cluster.c,
 * backend.c, route.c) nor the address syntax (config.c).
 *
 * Each link (subscriber, publisher) cycles WAITING -> CONNECTING -> READY.
 * Its timer starts an attempt (at once, later after the backoff).  Once
 * TCP is connected the handshake goes out pipelined: AUTH (redis_password),
 * SELECT (redis_db), then PING, whose answer makes the link READY: a
 * Redis that takes connections but never answers (stopped, wedged) is
 * not "up".  The subscriber then sends one (P)SUBSCRIBE per entry and
 * counts the confirmations.  While connecting, the same timer is the
 * deadline: a link not READY and fully subscribed REDIS_CONNECT_TIMEOUT_MS
 * after its attempt started is torn down and retried (hiredis 0.14 has no
 * connect timeout).  A failure goes back to WAITING for REDIS_BACKOFF_MIN_MS
 * doubling up to REDIS_BACKOFF_MAX_MS, reset once the link is READY and
 * fully subscribed.  A host
 * name is resolved by hiredis with getaddrinfo(), which blocks the loop
 * for the length of the lookup: the man page says to prefer an address.
 *
 * hiredis 0.14 lifetime rules followed here: hiredis frees a context itself
 * after a failed connect callback and after the disconnect callback, so
 * neither frees it.  redisAsyncFree() inside a reply callback only marks
 * the context (it is freed when the callback returns); outside hiredis
 * (our timer, cleanup) it frees at once.  Either way every pending reply
 * callback then runs with a NULL reply, and the disconnect callback
 * follows if the context had connected.  A context counts only while
 * link->ac points at it: a callback from any other is late news from a
 * context already given up and changes nothing, except that a PUBLISH
 * always gives its bytes back.  In 0.14 the callback passed with
 * (P)SUBSCRIBE gets the confirmation, then every message on that channel
 * or pattern, with the privdata given there: the subscription's index.
 *
 * PUBLISH and redis_write() share one budget of REDIS_MAX_PENDING_BYTES
 * unanswered bytes on the publisher: hiredis's output buffer has no cap of
 * its own.
 *
 * Logging: the first failure of an outage is one warning (or one error if
 * Redis refused AUTH or SELECT), the return is one info line, and retries
 * in between are debug lines.  Oversized messages and refused publishes
 * warn once per stretch between outages; the counters keep the count.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "metrics.h"
#include "redis.h"

/* Bytes of a channel name quoted in a log line. */
#define REDIS_QUOTE_MAX 64
/* What a reply may hold besides a message's payload before it is refused
 * while it arrives: RESP headers and the channel and pattern names.  Ours
 * are under 5 KiB (CONFIG_MAX_REDIS_KEY + CONFIG_MAX_NSP_NAME +
 * CONFIG_MAX_ROOM_NAME and separators, in cluster.c). */
#define REDIS_REPLY_SLACK (16u << 10)

enum redis_phase {
	REDIS_WAITING,    /* no context; the timer starts the next attempt */
	REDIS_CONNECTING, /* connecting or in the handshake; the timer is the deadline */
	REDIS_READY,      /* handshake answered; the subscriber may await confirmations */
};

/* One connection.  Owns <ac> while it points at it (see the top of the
 * file for when hiredis frees it instead) and <timer>. */
struct redis_link {
	const char *name;      /* "subscriber" or "publisher", for debug lines */
	redisAsyncContext *ac; /* NULL while WAITING */
	struct event *timer;   /* next attempt (WAITING), else the handshake deadline */
	enum redis_phase phase;
	uint32_t backoff_ms;   /* wait before the attempt after the next failure */
	size_t n_confirmed;    /* subscriber: (P)SUBSCRIBEs confirmed on <ac> */
	bool is_retry;         /* the next attempt follows a failure (counted) */
};

/* A channel or a pattern to hold, and who hears it; <name> is owned. */
struct redis_sub {
	char *name;
	bool is_pattern;
	redis_message_cb *cb;
	void *arg;
};

/* One of those told of the link's state. */
struct redis_state_listener {
	redis_state_cb *cb;
	void *arg;
};

static struct {
	struct event_base *base;
	const struct config *cfg;
	char where[CONFIG_MAX_REDIS_HOST + 16]; /* "10.0.0.9:6379", "[::1]:6379", "unix:/path" */
	struct redis_link sub, pub;
	struct redis_sub *subs;                 /* every subscription asked for, in order */
	size_t n_subs, cap_subs;
	struct redis_state_listener *listeners; /* in the order they were added */
	size_t n_listeners;
	size_t pending_bytes;                   /* PUBLISH bytes Redis has not answered */
	bool is_up;                             /* as last told to the listeners */
	bool was_up;                            /* up at least once: "reconnected" */
	bool is_loss_logged;                    /* this outage has had its line */
	bool is_handshake_error_logged;         /* AUTH or SELECT refused, logged */
	bool is_oversized_logged;               /* since the last outage */
	bool is_publish_error_logged;           /* since the last outage */
	bool is_behind_logged;                  /* until Redis has caught up */
	bool is_holding;                        /* redis_write() is queueing a record */
} redis;

static void redis_link_fail(struct redis_link *link, const char *why);

static void redis_link_arm(struct redis_link *link, uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (evtimer_add(link->timer, &tv) < 0)
		log_error("redis %s: %s: evtimer_add failed", redis.where, link->name);
}

/* READY, and for the subscriber every subscription confirmed. */
static bool redis_link_is_settled(const struct redis_link *link)
{
	return link->phase == REDIS_READY &&
	       (link != &redis.sub || redis.sub.n_confirmed == redis.n_subs);
}

/* Up means both links READY.  Going up also waits for every subscription
 * to be confirmed; once up, a subscription added later does not take it
 * down while it awaits its confirmation: that is no loss (and its deadline
 * still applies). */
static void redis_update_state(void)
{
	bool ready = redis.sub.phase == REDIS_READY && redis.pub.phase == REDIS_READY;
	bool up = redis.is_up ? ready : ready && redis_link_is_settled(&redis.sub);

	if (up == redis.is_up)
		return;
	redis.is_up = up;
	metrics_gauge_add(redis_up, up ? 1 : -1);
	if (up) {
		log_info("redis %s: %s, %zu subscriptions", redis.where,
			 redis.was_up ? "reconnected" : "connected", redis.n_subs);
		redis.was_up = true;
		redis.is_loss_logged = false;
		redis.is_handshake_error_logged = false;
		redis.is_oversized_logged = false;
		redis.is_publish_error_logged = false;
	}
	for (size_t i = 0; i < redis.n_listeners; i++)
		redis.listeners[i].cb(redis.listeners[i].arg, up);
}

/* The link is READY with every subscription confirmed: the attempt has
 * succeeded.  Only now is the backoff reset, so that a Redis refusing a
 * subscription (an ACL, say) is retried at the slowing pace of an outage
 * rather than every REDIS_BACKOFF_MIN_MS. */
static void redis_link_settled(struct redis_link *link)
{
	evtimer_del(link->timer);
	link->backoff_ms = REDIS_BACKOFF_MIN_MS;
	link->is_retry = false;
	redis_update_state();
}

/* ---- messages ---- */

/* Counts a message dropped past redis_max_message.  Returns true for the
 * first of the stretch since the last outage, which the caller logs. */
static bool redis_oversized_first(void)
{
	metrics_inc(cluster_oversized_total);
	if (redis.is_oversized_logged)
		return false;
	redis.is_oversized_logged = true;
	return true;
}

/* A whole message past the limit.  Those that come within one read, or
 * within REDIS_REPLY_SLACK of the limit, are only seen here: the check as
 * they arrive (redis_ev_check_size) bounds memory, this one keeps the
 * limit exact. */
static void redis_drop_oversized(const redisReply *channel, const redisReply *payload)
{
	char q[REDIS_QUOTE_MAX * 4 + 1];

	if (!redis_oversized_first())
		return;
	log_escape(q, sizeof q, channel->str, channel->len, REDIS_QUOTE_MAX);
	log_warn("redis %s: dropped a %zu-byte message on '%s' (redis_max_message is %zu); "
		 "more are only counted until the next reconnection", redis.where, payload->len, q,
		 redis.cfg->redis_max_message);
}

static void redis_deliver(const struct redis_sub *s, const redisReply *channel,
			  const redisReply *payload)
{
	if (channel->type != REDIS_REPLY_STRING || payload->type != REDIS_REPLY_STRING)
		return;
	if (payload->len > redis.cfg->redis_max_message) {
		redis_drop_oversized(channel, payload);
		return;
	}
	s->cb(s->arg, channel->str, channel->len, (const uint8_t *)payload->str, payload->len);
}

/* The (P)SUBSCRIBE callback of subscription <privdata> (its index, which
 * never changes: the set only grows): its confirmation, then each message. */
static void redis_sub_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_link *link = &redis.sub;
	const redisReply *r = reply;
	size_t i = (size_t)(uintptr_t)privdata;

	if (!r || link->ac != ac || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
	    r->element[0]->type != REDIS_REPLY_STRING || i >= redis.n_subs)
		return;
	const char *kind = r->element[0]->str;
	if (strcmp(kind, "message") == 0) {
		redis_deliver(&redis.subs[i], r->element[1], r->element[2]);
	} else if (strcmp(kind, "pmessage") == 0 && r->elements >= 4) {
		redis_deliver(&redis.subs[i], r->element[2], r->element[3]);
	} else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "psubscribe") == 0) {
		link->n_confirmed++;
		if (redis_link_is_settled(link))
			redis_link_settled(link);
	}
}

/* Sends subscription <i> on the subscriber.  A failure (out of memory) is
 * left to the deadline, which the caller has armed: the confirmation never
 * comes and the link is retried. */
static void redis_sub_send(size_t i)
{
	const struct redis_sub *s = &redis.subs[i];
	const char *argv[2] = { s->is_pattern ? "PSUBSCRIBE" : "SUBSCRIBE", s->name };
	size_t lens[2] = { strlen(argv[0]), strlen(s->name) };

	(void)redisAsyncCommandArgv(redis.sub.ac, redis_sub_cb, (void *)(uintptr_t)i, 2, argv,
				    lens);
}

/* ---- handshake ---- */

static void redis_link_ready(struct redis_link *link)
{
	link->phase = REDIS_READY;
	if (link == &redis.sub) {
		for (size_t i = 0; i < redis.n_subs; i++)
			redis_sub_send(i);
	}
	if (redis_link_is_settled(link))
		redis_link_settled(link);
	else
		redis_update_state();
}

/* AUTH, SELECT and PING answers; <privdata> names the command. */
static void redis_handshake_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_link *link = ac->data;
	const redisReply *r = reply;
	const char *command = privdata;
	char why[256];

	/* NULL: the context is going away, and that is handled once, by
	 * whoever let it go or by the disconnect callback. */
	if (!r || link->ac != ac)
		return;
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, sizeof why, "%s refused: %s", command, r->str);
		/* Wrong settings, not an outage: an error, but once, since
		 * each retry until someone fixes it would say the same. */
		if (!redis.is_handshake_error_logged) {
			log_error("redis %s: %s; retrying", redis.where, why);
			redis.is_handshake_error_logged = true;
			redis.is_loss_logged = true;
		}
		redis_link_fail(link, why);
		return;
	}
	if (strcmp(command, "PING") == 0)
		redis_link_ready(link);
}

/* Pipelines the handshake.  A command that cannot be queued (out of
 * memory) is left to the deadline, like a Redis that does not answer. */
static void redis_handshake_send(struct redis_link *link)
{
	const struct config *cfg = redis.cfg;

	if (cfg->redis_password[0]) {
		const char *argv[2] = { "AUTH", cfg->redis_password };
		size_t lens[2] = { 4, strlen(cfg->redis_password) };
		(void)redisAsyncCommandArgv(link->ac, redis_handshake_cb, "AUTH", 2, argv, lens);
	}
	if (cfg->redis_db != 0)
		(void)redisAsyncCommand(link->ac, redis_handshake_cb, "SELECT", "SELECT %u",
					(unsigned)cfg->redis_db);
	(void)redisAsyncCommand(link->ac, redis_handshake_cb, "PING", "PING");
}

/* ---- connect, loss, retry ---- */

static void redis_connect_cb(const redisAsyncContext *ac, int status)
{
	struct redis_link *link = ac->data;

	if (link->ac != ac)
		return;
	if (status != REDIS_OK) {
		link->ac = NULL; /* hiredis frees it when this returns */
		redis_link_fail(link, ac->c.errstr[0] ? ac->c.errstr : "connect failed");
		return;
	}
	redis_handshake_send(link);
}

/* Called for every loss of a connected context, and as it is freed by us
 * (then link->ac no longer points at it). */
static void redis_disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct redis_link *link = ac->data;

	if (link->ac != ac)
		return;
	link->ac = NULL; /* hiredis frees it when this returns */
	redis_link_fail(link, ac->c.err ? ac->c.errstr : "connection closed");
}

/* Logs a failure: the first of an outage at warn, the rest at debug. */
static void redis_log_failure(const struct redis_link *link, const char *why)
{
	if (redis.is_loss_logged) {
		log_debug("redis %s: %s: %s; next attempt in %u ms", redis.where, link->name, why,
			  (unsigned)link->backoff_ms);
		return;
	}
	if (redis.was_up)
		log_warn("redis %s: connection lost: %s; reconnecting", redis.where, why);
	else
		log_warn("redis %s: cannot connect: %s; retrying", redis.where, why);
	redis.is_loss_logged = true;
}

/* Gives the link's context up (if it still has one: the hiredis callbacks
 * clear link->ac first when hiredis frees it), logs, and schedules the
 * next attempt.  Must not run inside the connect or disconnect callback
 * with link->ac still set: freeing there is hiredis's job. */
static void redis_link_fail(struct redis_link *link, const char *why)
{
	redisAsyncContext *ac = link->ac;

	link->ac = NULL;
	link->phase = REDIS_WAITING;
	link->n_confirmed = 0;
	link->is_retry = true;
	if (ac)
		redisAsyncFree(ac); /* deferred by hiredis when inside a reply callback */
	redis_log_failure(link, why);
	evtimer_del(link->timer);
	redis_link_arm(link, link->backoff_ms);
	link->backoff_ms = link->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS
								       : link->backoff_ms * 2;
	redis_update_state();
}

/* ---- libevent glue ---- */

/* What hiredis's adapters/libevent.h does, plus a look at the reader after
 * each read.  hiredis 0.14's reader has no size limit: it keeps every byte
 * of a reply until the reply is complete (reader->buf from reader->pos on),
 * so a 100 MB message cost 100 MB before redis_deliver() could refuse it.
 * Here a reply is refused while it arrives, once its unparsed bytes pass
 * redis_max_message + REDIS_REPLY_SLACK: the peak is then about that, plus
 * one read (16 KiB) and the reader's growth step.  A partial RESP reply
 * cannot be skipped, so the link is dropped and reconnected, which
 * subscribes again; messages published meanwhile are lost, as in any
 * outage.
 *
 * Owned by its context: hiredis calls redis_ev_cleanup() as it frees the
 * context, which may happen inside redis_ev_cb() (a reply callback gave
 * the link up, the read failed, or the size check did); <is_entered> then
 * defers the free until the callback is done with <e>. */
struct redis_ev {
	redisAsyncContext *ac;
	struct event *rev, *wev;
	struct event *hold;  /* backend_flush_delay: arms <wev> when it expires */
	bool is_entered;   /* inside redis_ev_cb() */
	bool is_freed;     /* the context is gone: free <e> on the way out */
};

static void redis_ev_free(struct redis_ev *e)
{
	if (e->rev)
		event_free(e->rev);
	if (e->wev)
		event_free(e->wev);
	if (e->hold)
		event_free(e->hold);
	free(e);
}

/* The link is dropped rather than resynchronised: the bytes of the reply
 * that are still to come cannot be told from the next reply's. */
static void redis_ev_refuse(struct redis_link *link, size_t unparsed)
{
	if (redis_oversized_first()) {
		log_warn("redis %s: dropped a message of more than %zu bytes as it arrived "
			 "(redis_max_message is %zu); reconnecting to skip it, and more are only "
			 "counted until the next reconnection", redis.where, unparsed,
			 redis.cfg->redis_max_message);
		redis.is_loss_logged = true; /* that line says why the link goes */
	}
	redis_link_fail(link, "a message longer than redis_max_message");
}

static void redis_ev_check_size(struct redis_ev *e)
{
	const redisReader *reader = e->ac->c.reader;
	struct redis_link *link = e->ac->data;
	size_t unparsed = reader->len - reader->pos;

	if (unparsed > redis.cfg->redis_max_message + REDIS_REPLY_SLACK && link->ac == e->ac)
		redis_ev_refuse(link, unparsed);
}

static void redis_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;

	e->is_entered = true;
	if (what & EV_READ) {
		redisAsyncHandleRead(e->ac);
		if (!e->is_freed)
			redis_ev_check_size(e);
	} else {
		redisAsyncHandleWrite(e->ac);
	}
	e->is_entered = false;
	if (e->is_freed)
		redis_ev_free(e);
}

/* hiredis's hooks; it calls them idempotently, as event_add() and
 * event_del() are. */
static void redis_ev_add_read(void *arg)
{
	(void)event_add(((struct redis_ev *)arg)->rev, NULL); /* fails only on bad arguments */
}

static void redis_ev_del_read(void *arg)
{
	(void)event_del(((struct redis_ev *)arg)->rev);
}

/* A held write (backend_flush_delay) goes out now, with whatever was
 * queued behind it; if the socket cannot take it all, hiredis watches for
 * room itself. */
static void redis_ev_hold_cb(evutil_socket_t fd, short what, void *arg)
{
	redis_ev_cb(fd, EV_WRITE, arg);
}

/* Inside redis_write(), the first record of a quiet spell starts the
 * hold rather than the write watcher: records that follow within
 * backend_flush_delay join its write.  Anything else (a PUBLISH, a partial
 * write) arms the watcher at once and takes held records with it. */
static void redis_ev_add_write(void *arg)
{
	struct redis_ev *e = arg;
	uint32_t ms = redis.cfg->backend_flush_delay_ms;

	if (redis.is_holding && ms > 0 && !event_pending(e->wev, EV_WRITE, NULL)) {
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
		if (evtimer_pending(e->hold, NULL) || evtimer_add(e->hold, &tv) == 0)
			return;
	}
	/* the watcher writes what the hold kept: the hold has nothing left */
	(void)event_del(e->hold);
	(void)event_add(e->wev, NULL);
}

static void redis_ev_del_write(void *arg)
{
	(void)event_del(((struct redis_ev *)arg)->wev);
}

static void redis_ev_cleanup(void *arg)
{
	struct redis_ev *e = arg;

	if (e->is_entered)
		e->is_freed = true;
	else
		redis_ev_free(e);
}

/* Watches <ac>'s socket on the loop, as redisLibeventAttach() does.
 * Returns 0, or -1 if memory ran out (nothing attached). */
static int redis_ev_attach(redisAsyncContext *ac)
{
	struct redis_ev *e = calloc(1, sizeof *e);

	if (!e)
		return -1;
	e->ac = ac;
	e->rev = event_new(redis.base, ac->c.fd, EV_READ, redis_ev_cb, e);
	e->wev = event_new(redis.base, ac->c.fd, EV_WRITE, redis_ev_cb, e);
	e->hold = evtimer_new(redis.base, redis_ev_hold_cb, e);
	if (!e->rev || !e->wev || !e->hold) {
		redis_ev_free(e);
		return -1;
	}
	ac->ev.addRead = redis_ev_add_read;
	ac->ev.delRead = redis_ev_del_read;
	ac->ev.addWrite = redis_ev_add_write;
	ac->ev.delWrite = redis_ev_del_write;
	ac->ev.cleanup = redis_ev_cleanup;
	ac->ev.data = e;
	/* As the adapter: the write event reports the connect, the read
	 * event whatever Redis sends. */
	redis_ev_add_read(e);
	redis_ev_add_write(e);
	return 0;
}

/* Creates the context and starts the non-blocking connect. */
static void redis_link_connect(struct redis_link *link)
{
	const struct config *cfg = redis.cfg;
	redisAsyncContext *ac;
	char why[160];

	if (link->is_retry)
		metrics_inc(redis_reconnects_total);
	ac = cfg->redis_unix[0] ? redisAsyncConnectUnix(cfg->redis_unix)
				: redisAsyncConnect(cfg->redis_host, cfg->redis_port);
	if (!ac) {
		redis_link_fail(link, "out of memory");
		return;
	}
	if (ac->err) {
		/* Refused or unresolvable at once: nothing attached yet. */
		snprintf(why, sizeof why, "%s", ac->errstr);
		redisAsyncFree(ac);
		redis_link_fail(link, why);
		return;
	}
	ac->data = link;
	if (redis_ev_attach(ac) < 0 ||
	    redisAsyncSetConnectCallback(ac, redis_connect_cb) != REDIS_OK ||
	    redisAsyncSetDisconnectCallback(ac, redis_disconnect_cb) != REDIS_OK) {
		redisAsyncFree(ac);
		redis_link_fail(link, "cannot watch the socket");
		return;
	}
	/* Best effort: without keepalive a vanished host is only noticed
	 * when something is next sent to it. */
	if (!cfg->redis_unix[0])
		(void)redisEnableKeepAlive(&ac->c);
	link->ac = ac;
	link->phase = REDIS_CONNECTING;
	link->n_confirmed = 0;
	redis_link_arm(link, REDIS_CONNECT_TIMEOUT_MS);
}

static void redis_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct redis_link *link = arg;
	char why[96];

	if (link->phase == REDIS_WAITING) {
		redis_link_connect(link);
		return;
	}
	if (redis_link_is_settled(link))
		return;
	snprintf(why, sizeof why, "%s within %d ms",
		 link->phase == REDIS_CONNECTING ? "no answer" : "subscriptions not confirmed",
		 REDIS_CONNECT_TIMEOUT_MS);
	redis_link_fail(link, why);
}

/* ---- public ---- */

static int redis_link_init(struct redis_link *link, const char *name)
{
	link->name = name;
	link->phase = REDIS_WAITING;
	link->backoff_ms = REDIS_BACKOFF_MIN_MS;
	link->timer = evtimer_new(redis.base, redis_timer_cb, link);
	if (!link->timer)
		return -1;
	redis_link_arm(link, 0); /* the first attempt, on the loop */
	return 0;
}

int redis_init(struct event_base *base, const struct config *cfg)
{
	assert(cfg->redis_host[0] || cfg->redis_unix[0]);
	redis.base = base;
	redis.cfg = cfg;
	if (cfg->redis_unix[0])
		snprintf(redis.where, sizeof redis.where, "unix:%s", cfg->redis_unix);
	else if (strchr(cfg->redis_host, ':'))
		snprintf(redis.where, sizeof redis.where, "[%s]:%u", cfg->redis_host,
			 (unsigned)cfg->redis_port);
	else
		snprintf(redis.where, sizeof redis.where, "%s:%u", cfg->redis_host,
			 (unsigned)cfg->redis_port);
	if (redis_link_init(&redis.sub, "subscriber") < 0 ||
	    redis_link_init(&redis.pub, "publisher") < 0)
		return -1;
	return 0;
}

static void redis_link_cleanup(struct redis_link *link)
{
	redisAsyncContext *ac = link->ac;

	link->ac = NULL; /* so the callbacks the free runs change nothing */
	if (ac)
		redisAsyncFree(ac);
	if (link->timer)
		event_free(link->timer);
	link->timer = NULL;
}

void redis_cleanup(void)
{
	redis_link_cleanup(&redis.sub);
	redis_link_cleanup(&redis.pub);
	if (redis.is_up)
		metrics_gauge_add(redis_up, -1);
	for (size_t i = 0; i < redis.n_subs; i++)
		free(redis.subs[i].name);
	free(redis.subs);
	free(redis.listeners);
	memset(&redis, 0, sizeof redis);
}

static int redis_sub_add(const char *name, bool is_pattern, redis_message_cb *cb, void *arg)
{
	for (size_t i = 0; i < redis.n_subs; i++) {
		if (redis.subs[i].is_pattern == is_pattern && strcmp(redis.subs[i].name, name) == 0)
			return 0; /* Redis would confirm it twice but hold it once */
	}
	if (redis.n_subs == redis.cap_subs) {
		size_t cap = redis.cap_subs ? redis.cap_subs * 2 : 16;
		struct redis_sub *subs = realloc(redis.subs, cap * sizeof *subs);
		if (!subs)
			return -1;
		redis.subs = subs;
		redis.cap_subs = cap;
	}
	char *copy = strdup(name);
	if (!copy)
		return -1;
	redis.subs[redis.n_subs++] = (struct redis_sub){ copy, is_pattern, cb, arg };
	if (redis.sub.phase == REDIS_READY) {
		if (!evtimer_pending(redis.sub.timer, NULL))
			redis_link_arm(&redis.sub, REDIS_CONNECT_TIMEOUT_MS);
		redis_sub_send(redis.n_subs - 1);
	}
	return 0;
}

int redis_subscribe(const char *channel, redis_message_cb *cb, void *arg)
{
	return redis_sub_add(channel, false, cb, arg);
}

int redis_psubscribe(const char *pattern, redis_message_cb *cb, void *arg)
{
	return redis_sub_add(pattern, true, cb, arg);
}

int redis_on_state(redis_state_cb *cb, void *arg)
{
	struct redis_state_listener *grown =
		realloc(redis.listeners, (redis.n_listeners + 1) * sizeof *grown);

	if (!grown)
		return -1;
	redis.listeners = grown;
	redis.listeners[redis.n_listeners++] = (struct redis_state_listener){ cb, arg };
	return 0;
}

/* Gives back <cost> bytes of the publisher's in-flight budget. */
static void redis_pub_release(size_t cost)
{
	redis.pending_bytes = redis.pending_bytes > cost ? redis.pending_bytes - cost : 0;
	/* Half the cap: hovering at the cap would warn at every crossing. */
	if (redis.pending_bytes < REDIS_MAX_PENDING_BYTES / 2)
		redis.is_behind_logged = false;
}

/* Whether the publisher may take <cost> more bytes now: REDIS_WRITE_OK,
 * or why not (the first refusal past the cap is logged, until Redis has
 * caught up; an outage is logged where it was seen). */
static enum redis_write_result redis_pub_admit(const char *what)
{
	if (redis.pub.phase != REDIS_READY)
		return REDIS_WRITE_DOWN;
	if (redis.pending_bytes >= REDIS_MAX_PENDING_BYTES) {
		if (!redis.is_behind_logged)
			log_warn("redis %s: %zu written bytes unanswered; dropping %s until Redis "
				 "catches up", redis.where, redis.pending_bytes, what);
		redis.is_behind_logged = true;
		return REDIS_WRITE_BEHIND;
	}
	return REDIS_WRITE_OK;
}

/* Gives a PUBLISH's bytes back, also when the context is going away
 * (NULL reply): they are no longer in flight either way. */
static void redis_publish_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	const redisReply *r = reply;

	redis_pub_release((size_t)(uintptr_t)privdata);
	if (r && r->type == REDIS_REPLY_ERROR) {
		metrics_inc(redis_publish_failed_total);
		if (!redis.is_publish_error_logged)
			log_warn("redis %s: PUBLISH refused: %s; more are only counted",
				 redis.where, r->str);
		redis.is_publish_error_logged = true;
	}
}

int redis_publish(const char *channel, size_t channel_len, const void *payload, size_t len)
{
	const char *argv[3] = { "PUBLISH", channel, payload };
	size_t lens[3] = { 7, channel_len, len };
	size_t cost = channel_len + len;

	if (redis_pub_admit("publishes") != REDIS_WRITE_OK ||
	    redisAsyncCommandArgv(redis.pub.ac, redis_publish_cb, (void *)(uintptr_t)cost, 3, argv,
				  lens) != REDIS_OK) {
		metrics_inc(redis_publish_failed_total);
		return -1;
	}
	redis.pending_bytes += cost;
	return 0;
}

/* A command of redis_write() waiting for its answer. */
struct redis_write {
	size_t cost;
	redis_write_cb *cb;
	void *arg;
};

static void redis_write_reply_cb(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_write *w = privdata;
	const redisReply *r = reply;

	redis_pub_release(w->cost);
	if (!r)
		w->cb(w->arg, REDIS_WRITE_LOST, "connection lost");
	else if (r->type == REDIS_REPLY_ERROR)
		w->cb(w->arg, REDIS_WRITE_REFUSED, r->str);
	else
		w->cb(w->arg, REDIS_WRITE_OK, NULL);
	free(w);
}

enum redis_write_result redis_write(const char *cmd, size_t len, redis_write_cb *cb, void *arg)
{
	enum redis_write_result res = redis_pub_admit("backend records");
	struct redis_write *w;

	if (res != REDIS_WRITE_OK)
		return res;
	if (!(w = malloc(sizeof *w)))
		return REDIS_WRITE_NOMEM;
	*w = (struct redis_write){ len, cb, arg };
	redis.is_holding = true;
	int rc = redisAsyncFormattedCommand(redis.pub.ac, redis_write_reply_cb, w, cmd, len);
	redis.is_holding = false;
	if (rc != REDIS_OK) {
		free(w);
		return REDIS_WRITE_NOMEM;
	}
	redis.pending_bytes += len;
	return REDIS_WRITE_OK;
}

bool redis_is_up(void)
{
	return redis.is_up;
}

bool redis_has_unanswered(void)
{
	return redis.pub.phase == REDIS_READY && redis.pending_bytes > 0;
}
