/* cluster.c - roomcastd in a cluster of Socket.IO servers over Redis (see
 * cluster.h).
 *
 * Owns the adapter's side of each configured namespace: its channel names,
 * this process's adapter uid, and the broadcasts with acks it is answering
 * for.  Does not own the Redis connections (redis.c), the codec
 * (adapter.c) or the sockets (nsp.c).
 *
 * Channels per namespace, as a Node server with the redis adapter uses
 * them (doc/protocol.md, "Adapter channels"): PSUBSCRIBE
 * `<key>#<nsp>#*` for broadcasts
 * (the namespace channel and the per-room ones), SUBSCRIBE
 * `<key>-request#<nsp>#` for requests; answers go to
 * `<key>-response#<nsp>#`.  roomcastd never sends requests of its own, so
 * it listens to no response channel.  Plus redis_emit_channel for plain
 * JSON messages (emit, join, leave, disconnect), which is never under
 * `<key>#`: a Node server dies on a message there that is not msgpack.
 * Each subscription names its handler here (redis.h); backend.c and
 * route.c subscribe to their own channels.
 *
 * Flow: a client relay (nsp.c) is delivered locally there and published
 * here; a broadcast from Redis is delivered to local sockets only, never
 * published again.  Every request a Node server counts on is answered once
 * per namespace, with an empty answer when nothing matches, or the Node
 * side waits for its timeout.  Anything malformed is dropped, counted,
 * and logged at most once per CLUSTER_LOG_INTERVAL_S.
 *
 * Limits: a server-side join (REMOTE_JOIN) obeys the namespace's
 * max_rooms_per_socket and max_room_name as a client's join does, unlike
 * Node's adapter; refusals count as cluster_joins_refused_total.  Message
 * sizes are redis.c's (redis_max_message).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "adapter.h"
#include "cluster.h"
#include "id.h"
#include "jsonmem.h"
#include "log.h"
#include "metrics.h"
#include "nsp.h"
#include "redis.h"

/* The adapter's uid: 6 URL-safe base64 characters, as uid2(6) gives. */
#define CLUSTER_UID_LEN 6
/* Bad messages are logged at most once per this many seconds. */
#define CLUSTER_LOG_INTERVAL_S 10
/* The longest a broadcast with acks may keep asking for answers. */
#define CLUSTER_MAX_ACK_TIMEOUT_MS (3600u * 1000)
/* Channel names: "<key>-response#" + nsp + "#". */
#define CLUSTER_CHANNEL_MAX (CONFIG_MAX_REDIS_KEY + CONFIG_MAX_NSP_NAME + 16)

struct cluster_ns {
	struct nsp_namespace *ns;      /* not owned */
	const char *name;              /* the namespace's, not owned */
	size_t name_len;
	char bcast[CLUSTER_CHANNEL_MAX];    /* "<key>#<nsp>#", the broadcast prefix */
	size_t bcast_len;
	char request[CLUSTER_CHANNEL_MAX];  /* "<key>-request#<nsp>#" */
	char response[CLUSTER_CHANNEL_MAX]; /* "<key>-response#<nsp>#" */
};

/* A broadcast with acks from another server that local clients answer. */
struct cluster_ack_request {
	struct cluster_ns *cns;
	size_t request_id_len;
	char request_id[];
};

/* One kind of log line written at most once per CLUSTER_LOG_INTERVAL_S:
 * the first of a burst says what happened, the counter keeps the count. */
struct cluster_log_limit {
	time_t last;                   /* when the line was last written */
	uint64_t n_unlogged;           /* events since then that wrote none */
};

static struct {
	const struct config *cfg;
	bool active;                   /* a redis address is configured */
	bool up;
	char uid[CLUSTER_UID_LEN + 1];
	struct cluster_ns *namespaces;
	size_t n_namespaces;
	struct cluster_log_limit bad_log;
	struct cluster_log_limit join_log;
} cluster;

/* --- bad input --------------------------------------------------------- */

/* Whether the line of <l> may be written now.  If so, *<n_unlogged> is the
 * number of events that went unlogged since the last one. */
static bool cluster_log_due(struct cluster_log_limit *l, uint64_t *n_unlogged)
{
	time_t now = time(NULL);

	if (now - l->last < CLUSTER_LOG_INTERVAL_S) {
		l->n_unlogged++;
		return false;
	}
	*n_unlogged = l->n_unlogged;
	l->last = now;
	l->n_unlogged = 0;
	return true;
}

static void cluster_bad(const char *channel, const char *why)
{
	uint64_t n;

	metrics_inc(cluster_bad_messages_total);
	if (cluster_log_due(&cluster.bad_log, &n))
		log_warn("redis: message on %s dropped: %s (%llu more dropped since the last report)",
			 channel, why, (unsigned long long)n);
}

static bool cluster_str_is(struct adapter_str s, const char *text, size_t len)
{
	return s.len == len && memcmp(s.s, text, len) == 0;
}

static bool cluster_is_own(struct adapter_str uid)
{
	return cluster_str_is(uid, cluster.uid, CLUSTER_UID_LEN);
}

/* --- publishing ---------------------------------------------------------- */

static void cluster_publish(const char *channel, const void *msg, size_t len)
{
	if (redis_publish(channel, strlen(channel), msg, len) == 0)
		metrics_inc(cluster_responses_published_total);
}

/* Publishes <answer> (consumed) as JSON on the namespace's response channel. */
static void cluster_answer(struct cluster_ns *cns, json_t *answer)
{
	char *text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;

	if (text)
		cluster_publish(cns->response, text, strlen(text));
	else
		log_warn("redis: out of memory answering a request on %s", cns->request);
	free(text);
	json_decref(answer);
}

static json_t *cluster_answer_new(struct adapter_str request_id)
{
	return json_pack("{s:s%}", "requestId", request_id.s, request_id.len);
}

void cluster_publish_event(const char *nsp, size_t nsp_len, const struct packet *p,
			   const struct room_name *rooms, size_t n_rooms, const char *sender_id)
{
	struct adapter_buf msg = { 0 };
	struct room_name except = { sender_id, ID_LEN };
	struct adapter_flags flags = { 0 };
	char channel[CLUSTER_CHANNEL_MAX + CONFIG_MAX_ROOM_NAME];
	int n;

	if (!cluster.active)
		return;
	/* A single room has a channel of its own, which only servers that
	 * have that room decode. */
	n = snprintf(channel, sizeof channel, "%s#%.*s#", cluster.cfg->redis_key,
		     (int)nsp_len, nsp);
	if (n_rooms == 1 && rooms[0].len <= CONFIG_MAX_ROOM_NAME)
		n += snprintf(channel + n, sizeof channel - (size_t)n, "%.*s#", (int)rooms[0].len,
			      rooms[0].name);
	if (adapter_encode_broadcast(&msg, cluster.uid, nsp, nsp_len, p->data, p->attachments,
				     p->attachment_lens, p->n_attachments, rooms, n_rooms,
				     &except, 1, &flags) < 0) {
		log_warn("redis: out of memory encoding a relay");
	} else if (redis_publish(channel, (size_t)n, msg.data, msg.len) == 0) {
		metrics_inc(cluster_broadcasts_published_total);
	}
	adapter_buf_free(&msg);
}

/* --- broadcasts from the cluster ------------------------------------------ */

static void cluster_deliver(struct nsp_namespace *ns, const struct nsp_target *t,
			    const uint8_t *data, size_t data_len, bool is_volatile,
			    const char *channel)
{
	struct adapter_payload pl;
	enum adapter_result r = adapter_payload_from_msgpack(data, data_len, &pl);

	if (r != ADAPTER_OK) {
		cluster_bad(channel, adapter_result_text(r));
		return;
	}
	struct nsp_event ev = { pl.json, pl.json_len, pl.attachments, pl.attachment_lens,
				pl.n_attachments };
	nsp_emit(ns, t, &ev, is_volatile);
	metrics_inc(cluster_broadcasts_received_total);
	adapter_payload_free(&pl);
}

static void cluster_on_broadcast(struct cluster_ns *cns, const char *channel,
				 const char *room, size_t room_len,
				 const uint8_t *msg, size_t len)
{
	struct adapter_broadcast b;

	/* As the Node adapter: a room this server lacks is not decoded. */
	if (room_len > 0 && !nsp_has_room(cns->ns, room, room_len)) {
		metrics_inc(cluster_messages_ignored_total);
		return;
	}
	enum adapter_result r = adapter_decode_broadcast(msg, len, &b);
	if (r != ADAPTER_OK) {
		cluster_bad(channel, adapter_result_text(r));
		return;
	}
	if (cluster_is_own(b.uid) || !cluster_str_is(b.nsp, cns->name, cns->name_len)) {
		metrics_inc(cluster_messages_ignored_total);
	} else {
		struct nsp_target t = { b.rooms, b.n_rooms, b.except, b.n_except };
		cluster_deliver(cns->ns, &t, b.data, b.data_len, b.flags.is_volatile, channel);
	}
	adapter_broadcast_free(&b);
}

/* --- requests ------------------------------------------------------------ */

static void cluster_add_room(void *arg, const char *name, size_t len)
{
	(void)json_array_append_new(arg, json_stringn(name, len));
}

static void cluster_add_socket_id(void *arg, const struct nsp_socket *sock)
{
	(void)json_array_append_new(arg, json_string(nsp_socket_id(sock)));
}

static int cluster_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes one query component as Node's querystring does: `+` is a space,
 * %XX a byte, a bad escape stays as it is.  <out> has room for <len>. */
static size_t cluster_query_decode(char *out, const char *in, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (in[i] == '%' && i + 2 < len && cluster_hex(in[i + 1]) >= 0 &&
		    cluster_hex(in[i + 2]) >= 0) {
			out[n++] = (char)(cluster_hex(in[i + 1]) * 16 + cluster_hex(in[i + 2]));
			i += 2;
		} else {
			out[n++] = in[i] == '+' ? ' ' : in[i];
		}
	}
	return n;
}

/* handshake.query: the handshake URL's parameters (a repeated key keeps
 * its first value; a value that is not UTF-8 is left out). */
static json_t *cluster_query(const char *url)
{
	const char *q = strchr(url, '?');
	json_t *query = json_object();
	char *buf = malloc(strlen(url) + 1);

	for (q = q ? q + 1 : ""; query && buf && *q;) {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		size_t klen = cluster_query_decode(buf, q, eq ? (size_t)(eq - q) : len);
		buf[klen] = '\0';
		size_t vlen = eq ? cluster_query_decode(buf + klen + 1, eq + 1,
							len - (size_t)(eq - q) - 1) : 0;
		json_t *v = json_stringn(buf + klen + 1, vlen);
		if (klen > 0 && !json_object_get(query, buf) && v)
			json_object_set(query, buf, v);
		json_decref(v);
		q += len;
		q += *q == '&';
	}
	free(buf);
	return query;
}

/* handshake of a RemoteSocket, from what the engine kept of the handshake
 * request: of the headers Host and those backend_headers names (all of
 * them would cost every idle connection their size); time, issued and
 * auth are the socket's. */
static json_t *cluster_handshake(const struct nsp_socket *sock)
{
	int64_t issued = nsp_socket_issued_ms(sock);
	time_t secs = (time_t)(issued / 1000);
	struct engine_handshake hs;
	char when[96];
	struct tm tm;

	nsp_socket_handshake(sock, &hs);
	gmtime_r(&secs, &tm);
	strftime(when, sizeof when, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)",
		 &tm);
	return json_pack("{s:o,s:s,s:s,s:b,s:b,s:I,s:s,s:o,s:o}", "headers",
			 nsp_socket_headers_new(sock), "time", when, "address", hs.address, "xdomain", 0, "secure", 0,
			 "issued", (json_int_t)issued, "url", hs.url, "query", cluster_query(hs.url),
			 "auth", nsp_socket_auth_new(sock));
}

static void cluster_add_socket(void *arg, const struct nsp_socket *sock)
{
	json_t *rooms = json_array();

	nsp_socket_each_room(sock, cluster_add_room, rooms);
	(void)json_array_append_new(arg, json_pack("{s:s,s:o,s:o,s:o}", "id", nsp_socket_id(sock),
						   "handshake", cluster_handshake(sock),
						   "rooms", rooms, "data", nsp_socket_data_new(sock)));
}

/* SOCKETS, ALL_ROOMS and REMOTE_FETCH: one answer listing what is here. */
static void cluster_answer_list(struct cluster_ns *cns, const struct adapter_request *r)
{
	struct nsp_target t = { r->rooms, r->n_rooms, NULL, 0 };
	json_t *answer = cluster_answer_new(r->request_id);
	json_t *list = json_array();
	const char *key = "sockets";

	if (r->type == ADAPTER_ALL_ROOMS) {
		key = "rooms";
		nsp_each_room(cns->ns, cluster_add_room, list);
	} else if (r->type == ADAPTER_SOCKETS) {
		nsp_each_socket(cns->ns, &t, cluster_add_socket_id, list);
	} else {
		struct nsp_target ft = { r->opts_rooms, r->n_opts_rooms, r->opts_except,
					 r->n_opts_except };
		nsp_each_socket(cns->ns, &ft, cluster_add_socket, list);
	}
	if (answer && list)
		json_object_set(answer, key, list);
	json_decref(list);
	cluster_answer(cns, answer);
}

/* The adapter side of namespace <ns>: every configured namespace has one. */
static struct cluster_ns *cluster_ns_of(const struct nsp_namespace *ns)
{
	for (size_t i = 0; i < cluster.n_namespaces; i++) {
		if (cluster.namespaces[i].ns == ns)
			return &cluster.namespaces[i];
	}
	return &cluster.namespaces[0];
}

/* A server-side join, within the namespace's room limits (nsp.h says why
 * and how); each refused (socket, room) pair is counted, and a request
 * with refusals is logged at most once per CLUSTER_LOG_INTERVAL_S. */
static void cluster_join(struct cluster_ns *cns, const struct nsp_target *t,
			 const struct room_name *rooms, size_t n_rooms)
{
	size_t refused = nsp_join_rooms(cns->ns, t, rooms, n_rooms);
	uint64_t n;

	if (refused == 0)
		return;
	metrics_add(cluster_joins_refused_total, refused);
	if (cluster_log_due(&cluster.join_log, &n))
		log_warn("redis: a join of %zu rooms on %s refused %zu joins past max_rooms_per_socket "
			 "or max_room_name (%llu more such joins since the last report)",
			 n_rooms, cns->request, refused, (unsigned long long)n);
}

/* REMOTE_JOIN, REMOTE_LEAVE and REMOTE_DISCONNECT, in the opts form or in
 * the legacy form naming one socket (answered only by its server). */
static void cluster_apply(struct cluster_ns *cns, const struct adapter_request *r)
{
	struct room_name sid = { r->sid.s, r->sid.len };
	struct room_name room = { r->room.s, r->room.len };
	bool legacy = r->sid.len > 0;
	struct nsp_target t = { r->opts_rooms, r->n_opts_rooms, r->opts_except, r->n_opts_except };
	const struct room_name *rooms = legacy ? &room : r->rooms;
	size_t n_rooms = legacy ? 1 : r->n_rooms;

	if (legacy) {
		if (!nsp_has_room(cns->ns, sid.name, sid.len))
			return;
		t = (struct nsp_target){ &sid, 1, NULL, 0 };
	}
	if (r->type == ADAPTER_REMOTE_JOIN)
		cluster_join(cns, &t, rooms, n_rooms);
	else if (r->type == ADAPTER_REMOTE_LEAVE)
		nsp_leave_rooms(cns->ns, &t, rooms, n_rooms);
	else
		nsp_disconnect(cns->ns, &t, r->close);
	if (legacy && r->request_id.len > 0)
		cluster_answer(cns, cluster_answer_new(r->request_id));
}

/* SERVER_SIDE_EMIT: roomcastd has no server-side listeners; an emit that
 * wants acks gets one answer with no data, so the sender does not wait. */
static void cluster_server_side_emit(struct cluster_ns *cns, const struct adapter_request *r)
{
	if (r->request_id.len > 0)
		cluster_answer(cns, json_pack("{s:i,s:s%,s:n}", "type", ADAPTER_SERVER_SIDE_EMIT,
					      "requestId", r->request_id.s, r->request_id.len,
					      "data"));
}

static void cluster_ack_on_ack(void *arg, const struct packet *ack)
{
	struct cluster_ack_request *req = arg;
	struct adapter_buf msg = { 0 };

	if (adapter_encode_broadcast_ack(&msg, req->request_id, req->request_id_len,
					 json_array_get(ack->data, 0), ack->attachments,
					 ack->attachment_lens, ack->n_attachments) == 0)
		cluster_publish(req->cns->response, msg.data, msg.len);
	adapter_buf_free(&msg);
}

static void cluster_ack_on_done(void *arg)
{
	free(arg);
}

static const struct nsp_ack_handler cluster_ack_handler = {
	.on_ack = cluster_ack_on_ack,
	.on_done = cluster_ack_on_done,
};

static size_t cluster_broadcast_with_ack(struct cluster_ns *cns, const struct adapter_request *r,
					 const char *channel)
{
	struct nsp_target t = { r->opts_rooms, r->n_opts_rooms, r->opts_except, r->n_opts_except };
	uint64_t timeout = r->flags.has_timeout ? r->flags.timeout_ms
						: cluster.cfg->redis_request_timeout_ms;
	struct adapter_payload pl;
	enum adapter_result res = adapter_payload_from_msgpack(r->data, r->data_len, &pl);
	struct cluster_ack_request *req;
	size_t n = 0;

	if (res != ADAPTER_OK) {
		cluster_bad(channel, adapter_result_text(res));
		return 0;
	}
	req = malloc(sizeof *req + r->request_id.len);
	if (req) {
		struct nsp_event ev = { pl.json, pl.json_len, pl.attachments, pl.attachment_lens,
					pl.n_attachments };
		req->cns = cns;
		req->request_id_len = r->request_id.len;
		memcpy(req->request_id, r->request_id.s, r->request_id.len);
		if (timeout > CLUSTER_MAX_ACK_TIMEOUT_MS)
			timeout = CLUSTER_MAX_ACK_TIMEOUT_MS;
		n = nsp_emit_with_ack(cns->ns, &t, &ev, (uint32_t)timeout, &cluster_ack_handler, req);
		if (n == 0)
			free(req);
	}
	adapter_payload_free(&pl);
	return n;
}

/* BROADCAST with acks: the event goes out with an ack id, the client count
 * is answered at once (0 included: the sender waits for every server's),
 * then each client's answer as it comes. */
static void cluster_broadcast(struct cluster_ns *cns, const struct adapter_request *r,
			      const char *channel)
{
	size_t n = cluster_broadcast_with_ack(cns, r, channel);

	cluster_answer(cns, json_pack("{s:i,s:s%,s:I}", "type", ADAPTER_BROADCAST_CLIENT_COUNT,
				      "requestId", r->request_id.s, r->request_id.len,
				      "clientCount", (json_int_t)n));
}

static void cluster_dispatch(struct cluster_ns *cns, const struct adapter_request *r,
			     const char *channel)
{
	switch (r->type) {
	case ADAPTER_REMOTE_JOIN:
	case ADAPTER_REMOTE_LEAVE:
	case ADAPTER_REMOTE_DISCONNECT:
		/* Applied from anyone, this process included (3.4). */
		cluster_apply(cns, r);
		return;
	case ADAPTER_BROADCAST_CLIENT_COUNT:
	case ADAPTER_BROADCAST_ACK:
		metrics_inc(cluster_messages_ignored_total);
		return;
	default:
		break;
	}
	if (cluster_is_own(r->uid)) {
		metrics_inc(cluster_messages_ignored_total);
		return;
	}
	if (r->type == ADAPTER_SERVER_SIDE_EMIT)
		cluster_server_side_emit(cns, r);
	else if (r->type == ADAPTER_BROADCAST)
		cluster_broadcast(cns, r, channel);
	else
		cluster_answer_list(cns, r);
}

static void cluster_on_request(struct cluster_ns *cns, const char *channel,
			       const uint8_t *msg, size_t len)
{
	struct adapter_request r;
	enum adapter_result res = adapter_decode_request(msg, len, &r);

	if (res != ADAPTER_OK) {
		cluster_bad(channel, adapter_result_text(res));
		return;
	}
	metrics_inc(cluster_requests_total);
	cluster_dispatch(cns, &r, channel);
	adapter_request_free(&r);
}

/* --- plain JSON messages --------------------------------------------------- */

/* Reads a JSON array of strings into a heap array of names borrowed from
 * it.  Returns 0 (a missing array is empty), or -1 if it is not one. */
static int cluster_json_rooms(json_t *v, struct room_name **out, size_t *n)
{
	size_t i;
	json_t *room;

	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return -1;
	if (json_array_size(v) == 0)
		return 0;
	*out = malloc(json_array_size(v) * sizeof **out);
	if (!*out)
		return -1;
	json_array_foreach(v, i, room) {
		if (!json_is_string(room))
			return -1;
		(*out)[i].name = json_string_value(room);
		(*out)[i].len = json_string_length(room);
	}
	*n = i;
	return 0;
}

/* What a plain JSON message does: the one of these keys it has. */
enum cluster_json_op {
	CLUSTER_JSON_EMIT,             /* "data": ["event", args...] */
	CLUSTER_JSON_JOIN,             /* "join": ["room", ...] (socketsJoin) */
	CLUSTER_JSON_LEAVE,            /* "leave": ["room", ...] (socketsLeave) */
	CLUSTER_JSON_DISCONNECT,       /* "disconnect": close (disconnectSockets) */
};

static const char *const cluster_json_op_keys[] = { "data", "join", "leave", "disconnect" };

/* Checks {"nsp", ...} and that exactly one operation is named; returns the
 * refusal, or NULL with *<ns> and *<op> set. */
static const char *cluster_json_check(json_t *root, struct nsp_namespace **ns,
				      enum cluster_json_op *op)
{
	json_t *nsp = json_object_get(root, "nsp");
	size_t n_ops = 0;

	if (!json_is_object(root))
		return "not a JSON object";
	if (nsp && !json_is_string(nsp))
		return "nsp is not a string";
	*ns = nsp ? nsp_namespace_find(json_string_value(nsp), json_string_length(nsp))
		  : nsp_namespace_find("/", 1);
	if (!*ns)
		return "no such namespace";
	for (size_t i = 0; i < sizeof cluster_json_op_keys / sizeof cluster_json_op_keys[0]; i++) {
		if (json_object_get(root, cluster_json_op_keys[i])) {
			*op = (enum cluster_json_op)i;
			n_ops++;
		}
	}
	return n_ops == 1 ? NULL : "needs exactly one of data, join, leave and disconnect";
}

/* {"data": ["event", args...], "volatile": bool}: an emit to the targets. */
static const char *cluster_json_emit(json_t *root, struct nsp_namespace *ns,
				     const struct nsp_target *t)
{
	json_t *data = json_object_get(root, "data");
	json_t *event = json_array_get(data, 0);
	json_t *vol = json_object_get(root, "volatile");
	struct adapter_payload pl = { 0 };

	if (!json_is_array(data) || !json_is_string(event))
		return "data is not an array starting with the event name";
	if (packet_event_is_reserved(json_string_value(event), json_string_length(event)))
		return "reserved event name";
	if (vol && !json_is_boolean(vol))
		return "volatile is not a boolean";
	if (adapter_payload_from_json(data, &pl) != ADAPTER_OK) {
		adapter_payload_free(&pl);
		return "data cannot be sent";
	}
	struct nsp_event ev = { pl.json, pl.json_len, NULL, NULL, 0 };
	nsp_emit(ns, t, &ev, json_is_true(vol));
	adapter_payload_free(&pl);
	metrics_inc(cluster_json_emits_total);
	return NULL;
}

/* {"join": [...]}, {"leave": [...]}, {"disconnect": close}: what the
 * emitter's socketsJoin, socketsLeave and disconnectSockets do, to this
 * instance's sockets, with the same limits. */
static const char *cluster_json_apply(json_t *root, struct nsp_namespace *ns,
				      const struct nsp_target *t, enum cluster_json_op op)
{
	json_t *close = json_object_get(root, "disconnect");
	struct room_name *rooms = NULL;
	size_t n_rooms = 0;

	if (op == CLUSTER_JSON_DISCONNECT) {
		if (!json_is_boolean(close))
			return "disconnect is not a boolean";
		nsp_disconnect(ns, t, json_is_true(close));
		metrics_inc(cluster_json_ops_total);
		return NULL;
	}
	if (cluster_json_rooms(json_object_get(root, cluster_json_op_keys[op]), &rooms, &n_rooms) < 0) {
		free(rooms);
		return "join and leave must be arrays of strings";
	}
	if (op == CLUSTER_JSON_JOIN)
		cluster_join(cluster_ns_of(ns), t, rooms, n_rooms);
	else
		nsp_leave_rooms(ns, t, rooms, n_rooms);
	free(rooms);
	metrics_inc(cluster_json_ops_total);
	return NULL;
}

static void cluster_on_json(const char *channel, const uint8_t *msg, size_t len)
{
	json_t *root;
	enum jsonmem_result loaded = jsonmem_load(msg, len, 0, &root);
	struct nsp_namespace *ns = NULL;
	enum cluster_json_op op = CLUSTER_JSON_EMIT;
	struct nsp_target t = { 0 };
	struct room_name *rooms = NULL, *except = NULL;
	const char *why = root ? cluster_json_check(root, &ns, &op) : jsonmem_result_text(loaded);

	if (!why && (cluster_json_rooms(json_object_get(root, "rooms"), &rooms, &t.n_rooms) < 0 ||
		     cluster_json_rooms(json_object_get(root, "except"), &except, &t.n_except) < 0))
		why = "rooms and except must be arrays of strings";
	t.rooms = rooms;
	t.except = except;
	if (!why)
		why = op == CLUSTER_JSON_EMIT ? cluster_json_emit(root, ns, &t)
					      : cluster_json_apply(root, ns, &t, op);
	if (why)
		cluster_bad(channel, why);
	free(rooms);
	free(except);
	json_decref(root);
}

/* --- Redis --------------------------------------------------------------- */

/* redis_emit_channel's messages. */
static void cluster_on_emit_channel(void *arg, const char *channel, size_t channel_len,
				    const uint8_t *payload, size_t len)
{
	cluster_on_json(cluster.cfg->redis_emit_channel, payload, len);
}

/* The messages of a namespace's request channel (<arg>). */
static void cluster_on_request_channel(void *arg, const char *channel, size_t channel_len,
				       const uint8_t *payload, size_t len)
{
	struct cluster_ns *cns = arg;

	cluster_on_request(cns, cns->request, payload, len);
}

/* The messages of a namespace's (<arg>) broadcast pattern: its own
 * channel and its rooms'. */
static void cluster_on_broadcast_channel(void *arg, const char *channel, size_t channel_len,
					 const uint8_t *payload, size_t len)
{
	struct cluster_ns *cns = arg;
	char name[CLUSTER_CHANNEL_MAX + CONFIG_MAX_ROOM_NAME];

	/* NUL-terminated for log lines; longer names cannot be ours. */
	if (channel_len >= sizeof name || channel_len < cns->bcast_len) {
		metrics_inc(cluster_messages_ignored_total);
		return;
	}
	memcpy(name, channel, channel_len);
	name[channel_len] = '\0';
	/* The rest is empty or "<room>#". */
	size_t rest = channel_len - cns->bcast_len;
	cluster_on_broadcast(cns, name, name + cns->bcast_len, rest ? rest - 1 : 0, payload, len);
}

static void cluster_on_state(void *arg, bool up)
{
	cluster.up = up;
}

/* Writes <text> into <out> with the glob characters of a PSUBSCRIBE
 * pattern escaped. */
static void cluster_glob_escape(char *out, size_t out_len, const char *text)
{
	size_t n = 0;

	for (; *text && n + 2 < out_len; text++) {
		if (strchr("*?[]\\", *text))
			out[n++] = '\\';
		out[n++] = *text;
	}
	out[n] = '\0';
}

static int cluster_ns_init(struct cluster_ns *cns, const struct config_namespace *ns)
{
	const char *key = cluster.cfg->redis_key;
	char pattern[2 * CLUSTER_CHANNEL_MAX + 2];

	cns->ns = nsp_namespace_find(ns->name, ns->name_len);
	cns->name = ns->name;
	cns->name_len = ns->name_len;
	cns->bcast_len = (size_t)snprintf(cns->bcast, sizeof cns->bcast, "%s#%s#", key, ns->name);
	snprintf(cns->request, sizeof cns->request, "%s-request#%s#", key, ns->name);
	snprintf(cns->response, sizeof cns->response, "%s-response#%s#", key, ns->name);
	cluster_glob_escape(pattern, sizeof pattern - 1, cns->bcast);
	strcat(pattern, "*");
	if (!cns->ns)
		return -1;
	return redis_psubscribe(pattern, cluster_on_broadcast_channel, cns) < 0 ||
	       redis_subscribe(cns->request, cluster_on_request_channel, cns) < 0 ? -1 : 0;
}

int cluster_reload(void)
{
	const struct config *cfg = cluster.cfg;

	if (!cluster.active)
		return 0;
	for (; cluster.n_namespaces < cfg->n_namespaces; cluster.n_namespaces++) {
		size_t i = cluster.n_namespaces;
		if (cluster_ns_init(&cluster.namespaces[i], &cfg->namespaces[i]) < 0)
			return -1;
	}
	return 0;
}

int cluster_init(struct event_base *base, const struct config *cfg)
{
	cluster.cfg = cfg;
	if (!cfg->redis_host[0] && !cfg->redis_unix[0])
		return 0;
	cluster.active = true;
	if (id_generate_short(cluster.uid, CLUSTER_UID_LEN) < 0)
		return -1;
	/* Room for every namespace a reload may add: their slots never move. */
	cluster.namespaces = calloc(CONFIG_MAX_NAMESPACES, sizeof *cluster.namespaces);
	if (!cluster.namespaces)
		return -1;
	if (redis_init(base, cfg) < 0 || redis_on_state(cluster_on_state, NULL) < 0 ||
	    cluster_reload() < 0)
		return -1;
	if (redis_subscribe(cfg->redis_emit_channel, cluster_on_emit_channel, NULL) < 0)
		return -1;
	log_info("cluster: adapter uid %s, key %s, %zu namespaces", cluster.uid, cfg->redis_key,
		 cluster.n_namespaces);
	return 0;
}

void cluster_cleanup(void)
{
	if (!cluster.active)
		return;
	redis_cleanup();
	free(cluster.namespaces);
	cluster.namespaces = NULL;
	cluster.n_namespaces = 0;
	cluster.active = false;
}

const char *cluster_uid(void)
{
	return cluster.uid;
}

const char *cluster_health(void)
{
	if (!cluster.active)
		return NULL;
	return cluster.up ? "redis up" : "redis down";
}
