/* route.c - session routing: ids, the secret, the peer table (see route.h).
 *
 * Owns this instance's id, the cluster secret (wiped at exit), the table
 * of announced peers and the announcement timer.  An announcement is one
 * line of text, "2 ID ADDR TIME MAC":
 *   2     the format's version (1, without TIME, is refused: replayable);
 *   ID    the instance id, 3 sid characters;
 *   ADDR  the cluster_listen address as IPv4:PORT or [IPv6]:PORT, "-"
 *         when the instance is leaving (its goodbye), or "?" to ask every
 *         instance to announce itself now (one starting, or holding a
 *         request for an instance it has not heard of);
 *   TIME  the sender's clock, ms since the Unix epoch, in decimal, strictly
 *         increasing from one line to the next of one sender;
 *   MAC   16 hex digits of HMAC-SHA256(secret, "announce:2 ID ADDR TIME"),
 *         so that whoever can publish on Redis without the secret cannot
 *         steer forwarded requests (and their bodies) to an address of
 *         their choosing.
 * Whoever can publish on Redis may also have captured every line ever
 * sent, and replay them: a line is taken only if TIME is within
 * ROUTE_CLOCK_SKEW_MS of this instance's clock, and later than the last
 * line taken from that ID.  An instance that left, by goodbye or silence,
 * is remembered ROUTE_GONE_KEEP_MS with its last TIME (and at least until
 * that TIME is out of the window), so that no line it sent before can
 * bring it back, move it, or, replayed after a newer one, make it
 * forgotten.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <uthash.h>

#include "log.h"
#include "metrics.h"
#include "redis.h"
#include "route.h"
#include "server.h"
#include "timeq.h"

#define ROUTE_ANNOUNCE_MAX 160
#define ROUTE_MAC_HEX 16

/* An instance heard from: a live peer, or one gone and remembered. */
struct route_entry {
	struct route_peer peer;
	int64_t time;                  /* TIME of the last line taken from it, its clock */
	bool gone;                     /* said goodbye or stopped announcing */
	int64_t gone_ms;               /* since when (timeq_now_ms()) */
	UT_hash_handle hh;             /* route.peers, keyed by peer.id */
};

static struct {
	bool enabled;
	bool redis_up;
	const struct config *cfg;
	struct event_base *base;
	uint8_t secret[ROUTE_SECRET_MAX];
	size_t secret_len;
	char id[SID_INSTANCE_LEN + 1];
	char addr_text[64];            /* cluster_listen as bound, announced */
	struct sid_key *sid_key;        /* the secret, prepared for sid MACs */
	char token[ROUTE_TOKEN_LEN + 1];
	char channel[CONFIG_MAX_REDIS_KEY + 8];
	struct route_entry *peers;     /* uthash head: live and gone */
	size_t n_peers;                /* live ones */
	size_t n_entries;              /* all */
	int64_t last_time;             /* TIME of the last line this instance sent */
	int64_t started;               /* the clock when this id was picked */
	struct event *timer;           /* announcing; NULL before the start and after the goodbye */
	bool starting;                 /* route_ready() is false */
	bool ask_back;                 /* this start's ask came back from Redis */
	struct event *start_timer;     /* the start's deadline, then its settling */
	int64_t asked_ms, answered_ms; /* the last ask sent, the last answer (timeq_now_ms()) */
	struct event *answer_timer;    /* an answer due, ROUTE_ASK_MS after the last */
	const struct route_peer_hooks *hooks; /* not owned; NULL: none */
} route;

void route_set_peer_hooks(const struct route_peer_hooks *hooks)
{
	route.hooks = hooks;
}

static void route_peer_gone(const struct route_entry *e)
{
	if (route.hooks && route.hooks->on_gone)
		route.hooks->on_gone(&e->peer);
}

static void route_mac(const char *label, const void *data, size_t len, uint8_t out[32])
{
	uint8_t input[ROUTE_ANNOUNCE_MAX + 16];
	size_t label_len = strlen(label);
	unsigned out_len = 0;

	memcpy(input, label, label_len);
	memcpy(input + label_len, data, len);
	if (!HMAC(EVP_sha256(), route.secret, (int)route.secret_len, input, label_len + len, out,
		  &out_len))
		memset(out, 0, 32); /* never: HMAC-SHA256 cannot fail on these arguments */
}

static void route_hex(char *out, const uint8_t *bytes, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

/* --- the secret ---------------------------------------------------------- */

static int route_read_secret(const char *path)
{
	uint8_t buf[ROUTE_SECRET_MAX + CONFIG_SECRET_SLACK];
	size_t len = 0;

	if (config_read_secret(path, buf, ROUTE_SECRET_MAX, &len) < 0) {
		log_error("cluster_secret_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (len < ROUTE_SECRET_MIN || len > ROUTE_SECRET_MAX) {
		log_error("cluster_secret_file %s: the secret must be %d to %d bytes (e.g. "
			  "`openssl rand -base64 32`)", path, ROUTE_SECRET_MIN, ROUTE_SECRET_MAX);
		OPENSSL_cleanse(buf, sizeof buf);
		return -1;
	}
	memcpy(route.secret, buf, len);
	route.secret_len = len;
	OPENSSL_cleanse(buf, sizeof buf);
	return 0;
}

/* --- ids ----------------------------------------------------------------- */

static int64_t route_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int route_pick_id(void)
{
	route.started = route_clock_ms();
	return id_generate_short(route.id, SID_INSTANCE_LEN);
}

int route_sid_new(char out[ID_LEN + 1])
{
	char fresh[ID_LEN + 1];

	if (id_generate(fresh) < 0)
		return -1;
	if (!route.enabled) {
		memcpy(out, fresh, ID_LEN + 1);
		return 0;
	}
	sid_make(out, route.id, fresh, route.sid_key);
	return 0;
}

static struct route_entry *route_find(const char *id)
{
	struct route_entry *e = NULL;

	HASH_FIND(hh, route.peers, id, SID_INSTANCE_LEN, e);
	return e;
}

static bool route_expired(const struct route_entry *e, int64_t now)
{
	return route.redis_up && now - e->peer.heard_ms > ROUTE_PEER_TTL_MS;
}

/* The live peer <sid>'s first characters name, or NULL (this instance's,
 * gone, or not announced). */
static struct route_entry *route_live_peer(const char *sid)
{
	if (memcmp(sid, route.id, SID_INSTANCE_LEN) == 0)
		return NULL;
	struct route_entry *e = route_find(sid);
	return e && !e->gone && !route_expired(e, timeq_now_ms()) ? e : NULL;
}

enum route_owner route_sid_owner(const char *sid, size_t len, const struct route_peer **peer)
{
	if (!route.enabled)
		return ROUTE_OFF;
	if (!sid_valid(sid, len, route.sid_key))
		return ROUTE_FORGED;
	if (memcmp(sid, route.id, SID_INSTANCE_LEN) == 0)
		return ROUTE_HERE;
	struct route_entry *e = route_live_peer(sid);
	if (e) {
		*peer = &e->peer;
		return ROUTE_PEER;
	}
	/* One never heard of may have started a moment ago, or its lines been
	 * missed: worth asking for while Redis can answer.  One gone is
	 * gone: its clients must reconnect at once. */
	return route_find(sid) || !route.redis_up ? ROUTE_GONE : ROUTE_UNKNOWN;
}

bool route_sid_names_peer(const char *sid, size_t len)
{
	if (!route.enabled || len != ID_LEN || memcmp(sid, route.id, SID_INSTANCE_LEN) == 0)
		return false;
	return route_live_peer(sid) || (route.redis_up && !route_find(sid));
}

const char *route_peer_token(void)
{
	return route.token;
}

bool route_peer_token_ok(const char *token)
{
	return route.enabled && strlen(token) == ROUTE_TOKEN_LEN &&
	       CRYPTO_memcmp(token, route.token, ROUTE_TOKEN_LEN) == 0;
}

/* --- the peer table ------------------------------------------------------ */

/* <e> is gone: its upstreams fail, its sids get code 1, and it is
 * remembered with its last TIME (route_tick() drops it later). */
static void route_forget(struct route_entry *e, const char *why)
{
	log_info("cluster: instance %s at %s %s", e->peer.id, e->peer.text, why);
	route_peer_gone(e);
	e->gone = true;
	e->gone_ms = timeq_now_ms();
	route.n_peers--;
	metrics_gauge_add(route_peers, -1);
}

static void route_drop(struct route_entry *e)
{
	if (!e->gone) {
		route.n_peers--;
		metrics_gauge_add(route_peers, -1);
	}
	HASH_DEL(route.peers, e);
	route.n_entries--;
	free(e);
}

/* A new entry for <id>, gone until route_revive() (room is made by
 * dropping the instance gone longest), or NULL when the table holds
 * ROUTE_MAX_PEERS live ones. */
static struct route_entry *route_entry_new(const char *id)
{
	struct route_entry *e, *tmp, *oldest = NULL;

	if (route.n_entries >= ROUTE_MAX_PEERS) {
		HASH_ITER(hh, route.peers, e, tmp) {
			if (e->gone && (!oldest || e->gone_ms < oldest->gone_ms))
				oldest = e;
		}
		if (!oldest) {
			metrics_inc(route_bad_announcements_total);
			log_limited(LOG_LEVEL_WARN, "cluster: more than %d instances announced: %s "
				    "ignored", ROUTE_MAX_PEERS, id);
			return NULL;
		}
		route_drop(oldest);
	}
	if (!(e = calloc(1, sizeof *e)))
		return NULL;
	memcpy(e->peer.id, id, SID_INSTANCE_LEN + 1);
	e->gone = true;
	e->gone_ms = timeq_now_ms();
	HASH_ADD(hh, route.peers, peer.id, SID_INSTANCE_LEN, e);
	route.n_entries++;
	return e;
}

/* Makes gone <e> a live peer at <addr_text>.  Returns 0, or -1 if the
 * address does not parse (it stays gone). */
static int route_revive(struct route_entry *e, const char *addr_text)
{
	if (strlen(addr_text) >= sizeof e->peer.text ||
	    config_inet_address(addr_text, strlen(addr_text), &e->peer.addr, &e->peer.addr_len,
				false) != 0) {
		metrics_inc(route_bad_announcements_total);
		return -1;
	}
	strcpy(e->peer.text, addr_text);
	e->peer.heard_ms = timeq_now_ms();
	e->gone = false;
	route.n_peers++;
	metrics_gauge_add(route_peers, 1);
	log_info("cluster: instance %s at %s joined", e->peer.id, addr_text);
	if (route.hooks && route.hooks->on_heard)
		route.hooks->on_heard(&e->peer);
	return 0;
}

/* Another instance announced our id: both pick a new one for the
 * sessions they make from now on. */
static void route_collision(const char *addr_text)
{
	metrics_inc(route_id_collisions_total);
	log_warn("cluster: instance %s at %s announces this instance's id: picking another",
		 route.id, addr_text);
	if (route_pick_id() < 0)
		log_error("getrandom failed: instance id kept");
}

/* An announcement, its MAC checked: "2 ID ADDR TIME", split. */
struct route_line {
	char id[8];
	char addr[72];
	int64_t time;
};

static void route_stale(const struct route_line *l, const char *why)
{
	metrics_inc(route_stale_announcements_total);
	log_limited(LOG_LEVEL_WARN, "cluster: announcement of instance %s at %s dropped: %s",
		    l->id, l->addr, why);
}

/* A fresh line of another instance: its TIME must pass the last one
 * taken from it, replays of older lines are dropped. */
static void route_heard(const struct route_line *l)
{
	struct route_entry *e = route_find(l->id);

	if (e && l->time <= e->time) {
		route_stale(l, "not later than the last line from it (a replay?)");
		return;
	}
	if (!e && !(e = route_entry_new(l->id)))
		return;
	e->time = l->time;
	if (strcmp(l->addr, "-") == 0) {
		if (!e->gone)
			route_forget(e, "left the cluster");
		else
			route_peer_gone(e); /* requests held for it */
		return;
	}
	if (!e->gone && strcmp(e->peer.text, l->addr) == 0) {
		e->peer.heard_ms = timeq_now_ms();
		return;
	}
	if (!e->gone)
		route_forget(e, "is announced at another address");
	(void)route_revive(e, l->addr);
}

/* Splits and checks a line; returns 0, or -1 (malformed, bad MAC, an
 * older format) with the reason in *<why>. */
static int route_parse(const uint8_t *payload, size_t len, struct route_line *l,
		       const char **why)
{
	char text[ROUTE_ANNOUNCE_MAX + 1], time_text[20], mac[ROUTE_MAC_HEX + 2];
	char expect[ROUTE_MAC_HEX + 1];
	uint8_t digest[32];
	int body_len = 0;

	*why = "malformed or bad MAC (wrong cluster_secret_file?)";
	if (len > ROUTE_ANNOUNCE_MAX || memchr(payload, '\0', len))
		return -1;
	memcpy(text, payload, len);
	text[len] = '\0';
	if (strncmp(text, "1 ", 2) == 0) {
		*why = "format 1, without a time (an older roomcastd, or a replay)";
		return -1;
	}
	if (sscanf(text, "2 %7s %71s %19s %n%17s", l->id, l->addr, time_text, &body_len, mac) != 4 ||
	    strlen(l->id) != SID_INSTANCE_LEN || !id_chars_valid(l->id, SID_INSTANCE_LEN) ||
	    strlen(mac) != ROUTE_MAC_HEX || (size_t)body_len + ROUTE_MAC_HEX != len ||
	    strspn(time_text, "0123456789") != strlen(time_text) || strlen(time_text) > 16)
		return -1;
	l->time = strtoll(time_text, NULL, 10);
	route_mac("announce:", text, (size_t)body_len - 1, digest);
	route_hex(expect, digest, ROUTE_MAC_HEX / 2);
	return CRYPTO_memcmp(expect, mac, ROUTE_MAC_HEX) == 0 ? 0 : -1;
}

/* --- asks and the start ------------------------------------------------ */

static void route_announce(const char *addr_text);

/* An answer to an ask is an announcement sent after the ask arrived (one
 * sent before may have reached Redis before the asker subscribed). */
static void route_answer_now(evutil_socket_t fd, short what, void *arg)
{
	route.answered_ms = timeq_now_ms();
	/* never after the goodbye: it would undo it */
	if (route.redis_up && route.timer)
		route_announce(route.addr_text);
}

static void route_answer_ask(void)
{
	int64_t wait = route.answered_ms + ROUTE_ASK_MS - timeq_now_ms();

	metrics_inc(route_asks_total);
	if (!route.answer_timer || evtimer_pending(route.answer_timer, NULL))
		return; /* an answer is due already */
	if (wait <= 0) {
		route_answer_now(-1, 0, NULL);
		return;
	}
	struct timeval tv = { 0, (suseconds_t)wait * 1000 };
	(void)evtimer_add(route.answer_timer, &tv);
}

void route_ask(void)
{
	int64_t now = timeq_now_ms();

	if (!route.enabled || !route.timer || !route.redis_up ||
	    (route.asked_ms && now - route.asked_ms < ROUTE_ASK_MS))
		return;
	route.asked_ms = now;
	route_announce("?");
}

static void route_started(evutil_socket_t fd, short what, void *arg)
{
	route.starting = false;
	if (route.ask_back)
		log_info("cluster: %zu other instances known, taking clients", route.n_peers);
	else
		log_warn("cluster: Redis did not answer within %d ms: taking clients without knowing "
			 "the other instances (their sessions get code 1 until they are heard)",
			 ROUTE_START_WAIT_MS);
}

/* This start's ask is back from Redis: every instance has been sent it,
 * and their answers are on their way. */
static void route_ask_back(void)
{
	struct timeval tv = { 0, ROUTE_START_SETTLE_MS * 1000 };

	if (!route.starting || route.ask_back)
		return;
	route.ask_back = true;
	(void)evtimer_add(route.start_timer, &tv);
}

bool route_ready(void)
{
	return !route.starting;
}

/* A message on the announcement channel. */
static void route_on_message(void *arg, const char *channel, size_t channel_len,
			     const uint8_t *payload, size_t len)
{
	route_hear(payload, len);
}

void route_hear(const uint8_t *payload, size_t len)
{
	struct route_line l;
	const char *why;

	if (route_parse(payload, len, &l, &why) < 0) {
		metrics_inc(route_bad_announcements_total);
		log_limited(LOG_LEVEL_WARN, "cluster: bad announcement on %s: %s", route.channel, why);
		return;
	}
	int64_t off = l.time - route_clock_ms();
	if (off > ROUTE_CLOCK_SKEW_MS || off < -ROUTE_CLOCK_SKEW_MS) {
		char why_text[128];
		snprintf(why_text, sizeof why_text, "its time is %lld ms %s this clock (at most %d: "
			 "a replay, or clocks out of step?)", (long long)(off < 0 ? -off : off),
			 off < 0 ? "behind" : "ahead of", ROUTE_CLOCK_SKEW_MS);
		route_stale(&l, why_text);
		return;
	}
	if (strcmp(l.addr, "?") == 0) {
		if (strcmp(l.id, route.id) == 0)
			route_ask_back();
		else
			route_answer_ask();
		return;
	}
	if (strcmp(l.id, route.id) == 0) {
		/* Lines of an earlier instance with this id are replays. */
		if (l.time > route.started && strcmp(l.addr, route.addr_text) != 0 &&
		    strcmp(l.addr, "-") != 0)
			route_collision(l.addr);
		return; /* our own, back from Redis */
	}
	route_heard(&l);
}

/* --- announcing ---------------------------------------------------------- */

/* TIME for the next line: the clock, or one past the last line's if the
 * clock stands still or went back (a goodbye sent in the same millisecond
 * as an announcement must still be later). */
static int64_t route_next_time(void)
{
	int64_t t = route_clock_ms();

	if (t <= route.last_time)
		t = route.last_time + 1;
	return route.last_time = t;
}

static void route_announce(const char *addr_text)
{
	char text[ROUTE_ANNOUNCE_MAX + 1];
	uint8_t digest[32];
	int n = snprintf(text, sizeof text, "2 %s %s %lld ", route.id, addr_text,
			 (long long)route_next_time());

	route_mac("announce:", text, (size_t)n - 1, digest);
	route_hex(text + n, digest, ROUTE_MAC_HEX / 2);
	(void)redis_publish(route.channel, strlen(route.channel), text, (size_t)n + ROUTE_MAC_HEX);
}

/* Whether gone <e> may be dropped: remembered long enough, and no line it
 * sent before it went can be fresh any more. */
static bool route_forgettable(const struct route_entry *e, int64_t now, int64_t clock)
{
	return now - e->gone_ms > ROUTE_GONE_KEEP_MS && e->time < clock - ROUTE_CLOCK_SKEW_MS;
}

/* Once a second: announce, forget the peers that stopped, drop the
 * instances gone long enough. */
static void route_tick(evutil_socket_t fd, short what, void *arg)
{
	struct route_entry *e, *tmp;
	int64_t now = timeq_now_ms(), clock = route_clock_ms();

	if (route.redis_up)
		route_announce(route.addr_text);
	HASH_ITER(hh, route.peers, e, tmp) {
		if (!e->gone && route_expired(e, now))
			route_forget(e, "stopped announcing");
		else if (e->gone && route_forgettable(e, now, clock))
			route_drop(e);
	}
}

static void route_on_redis_state(void *arg, bool up)
{
	struct route_entry *e, *tmp;

	route.redis_up = up;
	if (!route.enabled || !up || !route.timer)
		return;
	/* Nobody could announce while the link was down: a fresh start. */
	HASH_ITER(hh, route.peers, e, tmp) {
		if (!e->gone)
			e->peer.heard_ms = timeq_now_ms();
	}
	route_announce(route.addr_text);
	/* and whoever started meanwhile */
	route_ask();
}

static void route_format_addr(const struct sockaddr_storage *sa, char *out, size_t out_len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
		snprintf(out, out_len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
		snprintf(out, out_len, "%s:%u", host, ntohs(sin->sin_port));
	}
}

int route_start(void)
{
	struct sockaddr_storage sa;
	socklen_t len;

	if (!route.enabled)
		return 0;
	if (server_cluster_address(&sa, &len) < 0) {
		log_error("cluster_listen: no bound address: %s", strerror(errno));
		return -1;
	}
	route_format_addr(&sa, route.addr_text, sizeof route.addr_text);
	route.timer = event_new(route.base, -1, EV_PERSIST, route_tick, NULL);
	route.start_timer = evtimer_new(route.base, route_started, NULL);
	route.answer_timer = evtimer_new(route.base, route_answer_now, NULL);
	struct timeval tv = { ROUTE_ANNOUNCE_MS / 1000, (ROUTE_ANNOUNCE_MS % 1000) * 1000 };
	struct timeval wait = { ROUTE_START_WAIT_MS / 1000, (ROUTE_START_WAIT_MS % 1000) * 1000 };
	if (!route.timer || !route.start_timer || !route.answer_timer ||
	    event_add(route.timer, &tv) < 0 || evtimer_add(route.start_timer, &wait) < 0)
		return -1;
	route.starting = true;
	log_info("cluster: instance %s, peers forward to %s", route.id, route.addr_text);
	if (route.redis_up) {
		route_announce(route.addr_text);
		route_ask();
	}
	return 0;
}

int route_check(const struct config *cfg)
{
	if (!cfg->has_cluster_listen)
		return 0;
	int rc = route_read_secret(cfg->cluster_secret_file);
	OPENSSL_cleanse(route.secret, sizeof route.secret);
	route.secret_len = 0;
	return rc;
}

int route_init(struct event_base *base, const struct config *cfg)
{
	uint8_t digest[32];

	route.cfg = cfg;
	route.base = base;
	if (!cfg->has_cluster_listen)
		return 0;
	if (route_read_secret(cfg->cluster_secret_file) < 0)
		return -1;
	if (route_pick_id() < 0) {
		log_error("getrandom failed: no instance id");
		return -1;
	}
	if (!(route.sid_key = sid_key_new(route.secret, route.secret_len))) {
		log_error("cluster_secret_file: out of memory");
		return -1;
	}
	route_mac("peer", "", 0, digest);
	route_hex(route.token, digest, ROUTE_TOKEN_LEN / 2);
	snprintf(route.channel, sizeof route.channel, "%s-route#", cfg->redis_key);
	route.enabled = true;
	return redis_subscribe(route.channel, route_on_message, NULL) < 0 ||
	       redis_on_state(route_on_redis_state, NULL) < 0 ? -1 : 0;
}

bool route_enabled(void)
{
	return route.enabled;
}

void route_leave(void)
{
	if (!route.enabled || !route.timer)
		return;
	event_free(route.timer);
	route.timer = NULL;
	event_free(route.start_timer);
	event_free(route.answer_timer);
	route.start_timer = route.answer_timer = NULL;
	route.starting = false;
	if (route.redis_up)
		route_announce("-");
}

void route_cleanup(void)
{
	struct route_entry *e, *tmp;

	if (!route.enabled)
		return;
	route_leave();
	HASH_ITER(hh, route.peers, e, tmp) {
		HASH_DEL(route.peers, e);
		free(e);
	}
	route.n_peers = route.n_entries = 0;
	metrics_gauges[GAUGE_route_peers] = 0;
	OPENSSL_cleanse(route.secret, sizeof route.secret);
	sid_key_free(route.sid_key);
	route.sid_key = NULL;
	route.enabled = false;
}
