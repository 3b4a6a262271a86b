/* backend.c - client events to backends (see backend.h).
 *
 * Owns the forwarding policy (`forward`, `forward_events`), writing the
 * records record.c encodes, and the counters of records written and
 * dropped.  Does not own the record codec (record.c), the Redis link or
 * its in-flight cap (redis.c: redis_write()), the sockets (nsp.c) or the
 * adapter uid (cluster.c, passed to backend_init()).
 *
 * Replies: each instance subscribes to its own channel,
 * `<backend_stream>:reply:<adapter uid>` (never under redis_key#, where a
 * Node server dies on a message that is not msgpack), named in each record
 * with an ack.  A reply is JSON `{"sid","ack","args"}` of at most
 * redis_max_message bytes, parsed with jsonmem_load(); nsp.c applies it
 * as the decision on a CONNECT waiting as that sid (auth backend, the
 * connect record's ack), or delivers it as the socket's ACK if the socket
 * awaits that id; else it is dropped and counted.
 *
 * Flow: nsp.c decides an event is not a join or leave, relays it if the
 * policy says so, then asks backend_wants_event(); the record is encoded
 * and handed to redis_write(), which queues it on the publisher: the
 * first record of a quiet spell holds the write for backend_flush_delay,
 * hiredis then writes everything queued meanwhile at once, and the answer
 * (the entry id) comes later to backend_written_cb(), which counts it.
 * Nothing waits for it.
 *
 * The outage buffer: a record the publisher cannot take now (Redis away,
 * or REDIS_MAX_PENDING_BYTES already in flight) waits, encoded, in one
 * FIFO per process, and so does every record after it while any waits, so
 * that one socket's records reach the stream in the order it sent them.
 * The FIFO is written out by backend_drain_cb(), at most
 * BACKEND_DRAIN_RECORDS or BACKEND_DRAIN_BYTES per loop turn so that a
 * full buffer does not hold the loop; it runs when Redis comes up
 * (backend_on_redis_state()), when Redis answers one of our records (room
 * in flight again), and after BACKEND_RETRY_MS when it stopped with no
 * answer to wait for (the budget taken by publishes alone).  A record that
 * Redis answers with an error is counted ("refused") and never retried:
 * retrying a WRONGTYPE would loop forever.  Records in flight when the link
 * dropped go back to the front of the buffer (Redis may have added some:
 * at least once, not exactly once).
 *
 * Limits: a record is at most about max_payload plus its fields' names and
 * the socket's short fields; records in flight share redis.c's
 * REDIS_MAX_PENDING_BYTES with publishes; records waiting hold at most
 * backend_buffer bytes of commands (plus a 24-byte link each), past which a
 * record is dropped ("buffer_full", logged once until the buffer has
 * drained) and, if the client asked for an ack, nsp.c answers it at once
 * with {"error":"unavailable"}.  Redis keeps about backend_stream_maxlen
 * entries per stream (MAXLEN ~ trims whole macro nodes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include <jansson.h>

#include "adapter.h"
#include "backend.h"
#include "id.h"
#include "jsonmem.h"
#include "log.h"
#include "metrics.h"
#include "nsp.h"
#include "record.h"
#include "redis.h"

/* Bad replies are logged at most once per this many seconds. */
#define BACKEND_LOG_INTERVAL_S 10
/* "<backend_stream>:reply:<uid>" */
#define BACKEND_REPLY_MAX (CONFIG_MAX_REDIS_KEY + 16)

/* Written out per loop turn from the buffer, at most: a few milliseconds
 * of copying into hiredis's output, then the loop polls again. */
#define BACKEND_DRAIN_RECORDS 512
#define BACKEND_DRAIN_BYTES (1u << 20)
/* When the buffer stopped on a full in-flight budget that none of our
 * records will give back (publishes took it), look again this much later. */
#define BACKEND_RETRY_MS 50

/* Why a record did not reach Redis: X(name, label). */
#define BACKEND_DROP_MAP(X)                        \
	X(BACKEND_DROP_BUFFER_FULL, "buffer_full") \
	X(BACKEND_DROP_REFUSED, "refused")         \
	X(BACKEND_DROP_NO_MEMORY, "no_memory")     \
	X(BACKEND_DROP_SHUTDOWN, "shutdown")

enum backend_drop {
#define BACKEND_DROP_ENUM(name, label) name,
	BACKEND_DROP_MAP(BACKEND_DROP_ENUM)
#undef BACKEND_DROP_ENUM
	BACKEND_N_DROPS
};

static const char *const backend_drop_labels[] = {
#define BACKEND_DROP_LABEL(name, label) label,
	BACKEND_DROP_MAP(BACKEND_DROP_LABEL)
#undef BACKEND_DROP_LABEL
};

/* A record, from its making until Redis has answered it; owns <cmd>. */
struct backend_record {
	struct backend_record *next;
	char *cmd;                     /* the XADD in RESP */
	size_t len;
};

/* Records in order, oldest first; owns them. */
struct backend_queue {
	struct backend_record *head;
	struct backend_record **tail;
};

static struct {
	const struct config *cfg;
	bool active;                   /* a redis address is configured */
	uint64_t dropped[BACKEND_N_DROPS];
	struct metrics_family dropped_family;
	bool is_refusal_logged;        /* since the last time Redis took a record */
	bool is_registered;            /* dropped_family is in /metrics (once per process) */
	char instance[BACKEND_INSTANCE_MAX + 1]; /* the adapter uid, given at start-up */
	char reply[BACKEND_REPLY_MAX]; /* this instance's reply channel */
	char stream_key[BACKEND_REPLY_MAX]; /* "<backend_stream>:<i>" of the record being made */
	time_t reply_logged;           /* when a dropped reply was last logged */
	struct backend_queue buffer;   /* waiting to be written */
	struct backend_queue in_flight; /* handed to redis_write(), answers come in this order */
	struct backend_queue lost;     /* in flight on a link that dropped, until the last is known */
	size_t buffered_bytes;         /* of the commands in the buffer, <= backend_buffer */
	size_t n_in_flight;            /* records in <in_flight> */
	struct event *drain;           /* backend_drain_cb(), owned */
	bool is_full_logged;           /* since the buffer last drained */
} backend;

/* --- policy ---------------------------------------------------------------- */

bool backend_wants_event(const struct config_namespace *ns, const struct packet *p, bool relayed)
{
	const char *name;
	size_t len;

	if (!backend.active || ns->forward == CONFIG_FORWARD_NONE ||
	    (relayed && ns->forward != CONFIG_FORWARD_ALL))
		return false;
	if (ns->n_forward_events == 0)
		return true;
	if (record_event_name(p, &name, &len) < 0)
		return false;
	for (size_t i = 0; i < ns->n_forward_events; i++) {
		if (config_glob_allows(ns->forward_events[i], strlen(ns->forward_events[i]), name,
				       len))
			return true;
	}
	return false;
}

bool backend_wants_lifecycle(const struct config_namespace *ns)
{
	return backend.active && ns->forward != CONFIG_FORWARD_NONE;
}

/* --- writing --------------------------------------------------------------- */

static void backend_drop(enum backend_drop why)
{
	backend.dropped[why]++;
}

static void backend_drain_arm(uint32_t ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	/* A pending retry must not put off a drain that may run now. */
	if (ms && evtimer_pending(backend.drain, NULL))
		return;
	if (evtimer_add(backend.drain, &tv) < 0)
		log_error("backend: evtimer_add failed; buffered records wait for the next one");
}

/* --- record queues ---------------------------------------------------------- */

static struct backend_record *backend_record_new(char *cmd, size_t len)
{
	struct backend_record *r = malloc(sizeof *r);

	if (r)
		*r = (struct backend_record){ NULL, cmd, len };
	return r;
}

static void backend_record_free(struct backend_record *r)
{
	free(r->cmd);
	free(r);
}

static void backend_queue_push(struct backend_queue *q, struct backend_record *r)
{
	r->next = NULL;
	*q->tail = r;
	q->tail = &r->next;
}

static struct backend_record *backend_queue_pop(struct backend_queue *q)
{
	struct backend_record *r = q->head;

	q->head = r->next;
	if (!q->head)
		q->tail = &q->head;
	return r;
}

/* Moves all of <from> in front of <to>, in order. */
static void backend_queue_prepend(struct backend_queue *to, struct backend_queue *from)
{
	if (!from->head)
		return;
	*from->tail = to->head;
	if (!to->head)
		to->tail = from->tail;
	to->head = from->head;
	from->head = NULL;
	from->tail = &from->head;
}

static void backend_buffer_count(const struct backend_record *r, int sign)
{
	if (sign > 0)
		backend.buffered_bytes += r->len;
	else
		backend.buffered_bytes -= r->len;
	metrics_gauge_add(backend_buffer_bytes, sign * (int64_t)r->len);
}

/* --- writing --------------------------------------------------------------- */

/* The records of a dropped link go back to the front of the buffer, in
 * order, once the last of them is known lost: they are older than any
 * record waiting there.  They may pass backend_buffer (by at most what
 * was in flight): they were taken already, and at least once to backends
 * means writing them again, though Redis may have added some. */
static void backend_requeue_lost(void)
{
	size_t n = 0;

	for (struct backend_record *r = backend.lost.head; r; r = r->next) {
		backend_buffer_count(r, +1);
		n++;
	}
	metrics_add(backend_records_resent_total, n);
	backend_queue_prepend(&backend.buffer, &backend.lost);
}

/* Redis's answer to the oldest record in flight.  A refusal (a key of
 * another type, an OOM Redis) is an operator's problem: one warning until
 * Redis takes a record again, the counter keeps the count.  Any answer
 * gives in-flight bytes back, so the buffer may move on. */
static void backend_written_cb(void *arg, enum redis_write_result res, const char *err)
{
	struct backend_record *r = backend_queue_pop(&backend.in_flight);

	backend.n_in_flight--;
	if (res == REDIS_WRITE_LOST) {
		backend_queue_push(&backend.lost, r);
		if (backend.n_in_flight == 0)
			backend_requeue_lost();
		return;
	}
	backend_record_free(r);
	if (backend.buffer.head)
		backend_drain_arm(0);
	if (res == REDIS_WRITE_OK) {
		metrics_inc(backend_records_total);
		backend.is_refusal_logged = false;
		return;
	}
	backend_drop(BACKEND_DROP_REFUSED);
	if (!backend.is_refusal_logged)
		log_warn("backend: XADD to %s refused: %s; more refusals are only counted",
			 backend.cfg->backend_stream, err ? err : "?");
	backend.is_refusal_logged = true;
}

/* Hands record <r> to Redis: OK, or why the publisher cannot take it now.
 * On OK the caller puts it in flight (backend_in_flight_add()) before
 * anything else is written: answers come in that order. */
static enum redis_write_result backend_write(const struct backend_record *r)
{
	return redis_write(r->cmd, r->len, backend_written_cb, NULL);
}

/* <r>, taken off any queue, waits for its answer. */
static void backend_in_flight_add(struct backend_record *r)
{
	backend_queue_push(&backend.in_flight, r);
	backend.n_in_flight++;
}

/* The buffer stopped on <res>.  Redis's return (backend_on_redis_state())
 * or an answer to a record in flight restarts it; with neither to come
 * (the in-flight budget is all publishes', or memory ran out), a retry. */
static void backend_stalled(enum redis_write_result res)
{
	if (res != REDIS_WRITE_DOWN && backend.n_in_flight == 0)
		backend_drain_arm(BACKEND_RETRY_MS);
}

static struct backend_record *backend_buffer_pop(void)
{
	struct backend_record *r = backend_queue_pop(&backend.buffer);

	if (!backend.buffer.head)
		backend.is_full_logged = false;
	backend_buffer_count(r, -1);
	return r;
}

/* Writes the buffer out in order, one batch per loop turn. */
static void backend_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	size_t n = 0, bytes = 0;

	while (backend.buffer.head && n < BACKEND_DRAIN_RECORDS && bytes < BACKEND_DRAIN_BYTES) {
		enum redis_write_result res = backend_write(backend.buffer.head);
		if (res != REDIS_WRITE_OK) {
			backend_stalled(res);
			return;
		}
		struct backend_record *r = backend_buffer_pop();
		backend_in_flight_add(r);
		n++;
		bytes += r->len;
	}
	if (backend.buffer.head)
		backend_drain_arm(0);
}

/* Counts and logs (once until the buffer drains) a record past
 * backend_buffer. */
static void backend_full(void)
{
	backend_drop(BACKEND_DROP_BUFFER_FULL);
	if (backend.is_full_logged)
		return;
	backend.is_full_logged = true;
	log_warn("backend: %zu bytes of records wait for Redis (backend_buffer); dropping new "
		 "records, acked events answered \"unavailable\", until they are written",
		 backend.buffered_bytes);
}

/* Puts <r> (taken) at the end of the buffer.  Returns 0, or -1 (dropped
 * and counted) past backend_buffer. */
static int backend_buffer_take(struct backend_record *r)
{
	if (backend.buffered_bytes > backend.cfg->backend_buffer ||
	    r->len > backend.cfg->backend_buffer - backend.buffered_bytes) {
		backend_full();
		backend_record_free(r);
		return -1;
	}
	backend_queue_push(&backend.buffer, r);
	backend_buffer_count(r, +1);
	metrics_inc(backend_buffered_total);
	return 0;
}

/* Writes <cmd> (heap, taken) now if nothing waits before it, else buffers
 * it.  Returns 0, or -1 if it was dropped (counted). */
static int backend_take(char *cmd, size_t len)
{
	struct backend_record *r = backend_record_new(cmd, len);

	if (!r) {
		free(cmd);
		backend_drop(BACKEND_DROP_NO_MEMORY);
		return -1;
	}
	if (!backend.buffer.head) {
		enum redis_write_result res = backend_write(r);
		if (res == REDIS_WRITE_OK) {
			backend_in_flight_add(r);
			return 0;
		}
		backend_stalled(res);
	}
	return backend_buffer_take(r);
}

/* Where <sock>'s records go: backend_stream, or with K streams
 * "<backend_stream>:<i>" by record_stream_index(), in a buffer that holds
 * until the next record is made (they are encoded one at a time). */
static void record_target(struct record_target *t, const struct record_socket *sock)
{
	const struct config *cfg = backend.cfg;

	t->stream = cfg->backend_stream;
	t->stream_len = strlen(cfg->backend_stream);
	if (cfg->backend_streams > 1) {
		int n = snprintf(backend.stream_key, sizeof backend.stream_key, "%s:%u",
				 cfg->backend_stream,
				 (unsigned)record_stream_index(sock->sid, ID_LEN, cfg->backend_streams));
		t->stream = backend.stream_key;
		t->stream_len = (size_t)n;
	}
	t->maxlen = cfg->backend_stream_maxlen;
	t->instance = backend.instance;
	t->reply = backend.reply;
}

int backend_forward_event(const struct record_socket *sock, const struct packet *p)
{
	struct record_target t;
	size_t len;
	char *cmd;

	record_target(&t, sock);
	if (!(cmd = record_encode_event(&t, sock, p, &len))) {
		backend_drop(BACKEND_DROP_NO_MEMORY);
		return -1;
	}
	return backend_take(cmd, len);
}

/* Encodes and writes one lifecycle record.  Returns 0, or -1 if it was
 * dropped (counted). */
static int backend_forward_record(const struct record_socket *sock, const char *type,
				  const struct record_field *fields, size_t n_fields)
{
	struct record_target t;
	size_t len;
	char *cmd;

	record_target(&t, sock);
	if (!(cmd = record_encode_lifecycle(&t, sock, type, fields, n_fields, &len))) {
		backend_drop(BACKEND_DROP_NO_MEMORY);
		return -1;
	}
	return backend_take(cmd, len);
}

int backend_forward_connect(const struct record_socket *sock, const struct backend_connect *c)
{
	char ack[24];
	struct record_field f[] = {
		{ "auth", c->auth, c->auth_len },
		{ "claims", c->claims, c->claims_len },
		{ "address", c->address, strlen(c->address) },
		{ "headers", c->headers, c->headers_len },
		{ "ack", ack, 0 },
		{ "reply", backend.reply, strlen(backend.reply) },
	};

	if (!c->auth || !c->claims || !c->headers) {
		backend_drop(BACKEND_DROP_NO_MEMORY);
		return -1;
	}
	if (sock->ack_id == PACKET_NO_ACK)
		return backend_forward_record(sock, "connect", f, 4);
	f[4].value = packet_write_decimal(ack + sizeof ack, (uint64_t)sock->ack_id);
	f[4].len = (size_t)(ack + sizeof ack - (const char *)f[4].value);
	return backend_forward_record(sock, "connect", f, 6);
}

void backend_forward_disconnect(const struct record_socket *sock, const char *reason)
{
	const struct record_field f = { "reason", reason, strlen(reason) };

	/* Nobody to answer for it: a drop is counted there. */
	(void)backend_forward_record(sock, "disconnect", &f, 1);
}

void backend_forward_room(const struct record_socket *sock, bool is_join, const char *room,
			  size_t room_len)
{
	const struct record_field f = { "room", room, room_len };

	(void)backend_forward_record(sock, is_join ? "join" : "leave", &f, 1);
}

/* Redis came up (<up>) or went: the buffer is written out once it is up. */
static void backend_on_redis_state(void *arg, bool up)
{
	if (up && backend.buffer.head)
		backend_drain_arm(0);
}

/* --- replies ----------------------------------------------------------------- */

/* Counts a dropped reply; logs the first of every BACKEND_LOG_INTERVAL_S
 * (a late or duplicate answer is a backend's normal hazard, so info). */
static void backend_reply_dropped(const char *why)
{
	time_t now = time(NULL);

	metrics_inc(backend_replies_dropped_total);
	if (now - backend.reply_logged < BACKEND_LOG_INTERVAL_S)
		return;
	backend.reply_logged = now;
	log_info("backend: reply on %s dropped: %s (further drops within %ds only counted)",
		 backend.reply, why, BACKEND_LOG_INTERVAL_S);
}

/* Hands a checked reply <root> to what waits for it: a CONNECT (auth
 * backend) or an acked event.  Returns NULL when delivered, else why not. */
static const char *backend_deliver(const json_t *root)
{
	const char *sid = json_string_value(json_object_get(root, "sid"));
	int64_t ack = json_integer_value(json_object_get(root, "ack"));
	json_t *args = json_object_get(root, "args");
	const char *why = nsp_connect_answer(sid, ack, args);
	struct adapter_payload pl = { 0 };
	json_t *none = NULL;

	if (why)
		return why[0] ? why : NULL;
	if (!args)
		args = none = json_array();
	if (!args || adapter_payload_from_json(args, &pl) != ADAPTER_OK) {
		why = "args cannot be sent";
	} else {
		struct nsp_event ev = { pl.json, pl.json_len, NULL, NULL, 0 };
		why = nsp_backend_answer(sid, ack, &ev);
	}
	adapter_payload_free(&pl);
	json_decref(none);
	return why;
}

/* A JSON reply: checked, then delivered.  Returns NULL, or why not. */
static const char *backend_reply_json(const uint8_t *msg, size_t len)
{
	json_t *root = NULL;
	enum jsonmem_result loaded = jsonmem_load(msg, len, 0, &root);
	const char *why = root ? record_reply_check(root) : jsonmem_result_text(loaded);

	if (!why)
		why = backend_deliver(root);
	json_decref(root);
	return why;
}

/* A CONNECT's decision from a msgpack reply's arguments, read from their
 * JSON form (a decision holds no binary).  Returns NULL, or why not. */
static const char *backend_decide_msgpack(const char *sid, int64_t ack,
					  const struct adapter_payload *args)
{
	json_t *decision = NULL;
	const char *why;

	if (jsonmem_load((const uint8_t *)args->json, args->json_len, 0, &decision) != JSONMEM_OK)
		return "args cannot be read";
	why = nsp_connect_answer(sid, ack, decision);
	json_decref(decision);
	return why[0] ? why : NULL;
}

/* A msgpack reply, for arguments with binary values: an acked event gets
 * them as a BINARY_ACK.  Only a reply to a waiting CONNECT is parsed as
 * JSON; an ack's arguments go to the client as decoded.  Returns NULL, or
 * why not. */
static const char *backend_reply_msgpack(const uint8_t *msg, size_t len)
{
	struct adapter_reply r;
	enum adapter_result res = adapter_decode_reply(msg, len, &r);
	char sid[ID_LEN + 1];
	const char *why;

	if (res != ADAPTER_OK)
		return adapter_result_text(res);
	if (r.sid.len != ID_LEN || r.ack > INT64_MAX) {
		adapter_payload_free(&r.args);
		return "sid is not a socket id";
	}
	memcpy(sid, r.sid.s, ID_LEN);
	sid[ID_LEN] = '\0';
	if (nsp_connect_waits(sid)) {
		why = backend_decide_msgpack(sid, (int64_t)r.ack, &r.args);
	} else {
		struct nsp_event ev = { r.args.json, r.args.json_len, r.args.attachments,
					r.args.attachment_lens, r.args.n_attachments };
		why = nsp_backend_answer(sid, (int64_t)r.ack, &ev);
	}
	adapter_payload_free(&r.args);
	return why;
}

/* A message on the reply channel, `{"sid":S,"ack":N,"args":[...]}`: the
 * socket S gets ACK N with args, if it awaits N from a backend; anything
 * else is dropped and counted (backend_replies_dropped_total). */
static void backend_on_reply(void *arg, const char *channel, size_t channel_len,
			     const uint8_t *msg, size_t len)
{
	const char *why = len && msg[0] == '{' ? backend_reply_json(msg, len)
					       : backend_reply_msgpack(msg, len);

	if (why)
		backend_reply_dropped(why);
	else
		metrics_inc(backend_replies_total);
}

int backend_init(struct event_base *base, const struct config *cfg, const char *instance)
{
	backend.cfg = cfg;
	if (!backend.is_registered) {
		backend.is_registered = true;
		backend.dropped_family = (struct metrics_family){
			.name = "backend_dropped_total",
			.help = "client records not written to the backend stream, by reason",
			.label = "reason",
			.values = backend_drop_labels,
			.counts = backend.dropped,
			.n = BACKEND_N_DROPS,
		};
		metrics_family_register(&backend.dropped_family);
	}
	backend.active = cfg->redis_host[0] || cfg->redis_unix[0];
	backend.buffer.tail = &backend.buffer.head;
	backend.in_flight.tail = &backend.in_flight.head;
	backend.lost.tail = &backend.lost.head;
	if (!backend.active)
		return 0;
	if (!(backend.drain = evtimer_new(base, backend_drain_cb, NULL)))
		return -1;
	snprintf(backend.instance, sizeof backend.instance, "%s", instance);
	snprintf(backend.reply, sizeof backend.reply, "%s:reply:%s", cfg->backend_stream,
		 backend.instance);
	if (redis_subscribe(backend.reply, backend_on_reply, NULL) < 0 ||
	    redis_on_state(backend_on_redis_state, NULL) < 0)
		return -1;
	log_info("backend: client events to stream %s (MAXLEN ~ %u, buffer %zu bytes), replies "
		 "on %s", cfg->backend_stream, (unsigned)cfg->backend_stream_maxlen,
		 cfg->backend_buffer, backend.reply);
	return 0;
}

/* Records still waiting at exit are not written: Redis was away to the
 * end, and a shutdown does not wait for it. */
void backend_cleanup(void)
{
	while (backend.buffer.head) {
		backend_drop(BACKEND_DROP_SHUTDOWN);
		backend_record_free(backend_buffer_pop());
	}
	if (backend.drain)
		event_free(backend.drain);
	backend.drain = NULL;
	backend.active = false;
}
