/* connwait.c - the table of held CONNECTs and its bounds (see connwait.h).
 *
 * Owns every struct connwait from connwait_new() to connwait_free(), and
 * while one waits, its place in the table, in the process's count
 * (max_pending_connects, the gauge connects_pending) and in its
 * address's (max_pending_connects_per_ip: one address cannot take every
 * wait).  What a wait is for, how long it may last and what ends it is
 * nsp.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "connwait.h"
#include "metrics.h"

static struct {
	const struct config *cfg;
	struct connwait *table;        /* uthash, keyed by id */
	size_t n;                      /* <= max_pending_connects */
} connwait;

void connwait_init(const struct config *cfg)
{
	connwait.cfg = cfg;
}

enum connwait_result connwait_new(void *client, void *ns, const uint8_t *address,
				  const void *json, size_t json_len, struct connwait **out)
{
	struct connwait *w;
	struct server_ip *ip;
	bool refused;

	*out = NULL;
	if (connwait.n >= connwait.cfg->max_pending_connects)
		return CONNWAIT_BUSY;
	ip = server_ip_take(address, SERVER_IP_PENDING_CONNECTS,
			    connwait.cfg->max_pending_connects_per_ip, &refused);
	if (refused) {
		metrics_inc(sio_connects_pending_rejected_per_ip_total);
		return CONNWAIT_BUSY;
	}
	if (!(w = calloc(1, sizeof *w + json_len)) || id_generate(w->id) < 0) {
		free(w);
		server_ip_release(ip, SERVER_IP_PENDING_CONNECTS);
		return CONNWAIT_NO_MEMORY;
	}
	w->ip = ip;
	w->client = client;
	w->ns = ns;
	w->json_len = json_len;
	memcpy(w->json, json, json_len);
	*out = w;
	return CONNWAIT_OK;
}

void connwait_add(struct connwait *w, struct timeq *timeout)
{
	HASH_ADD(hh, connwait.table, id, ID_LEN, w);
	connwait.n++;
	metrics_gauge_add(connects_pending, 1);
	timeq_start(timeout, &w->timer);
}

void connwait_unlink(struct connwait *w)
{
	HASH_DEL(connwait.table, w);
	connwait.n--;
	metrics_gauge_add(connects_pending, -1);
	server_ip_release(w->ip, SERVER_IP_PENDING_CONNECTS);
	w->ip = NULL;
	timeq_stop(&w->timer);
}

void connwait_free(struct connwait *w)
{
	if (!w)
		return;
	server_ip_release(w->ip, SERVER_IP_PENDING_CONNECTS);
	free(w);
}

void connwait_end(struct connwait *w)
{
	connwait_unlink(w);
	connwait_free(w);
}

struct connwait *connwait_find(const char *id)
{
	struct connwait *w = NULL;

	HASH_FIND(hh, connwait.table, id, ID_LEN, w);
	return w;
}

struct connwait *connwait_find_client(const void *client, const void *ns)
{
	struct connwait *w, *tmp;

	HASH_ITER(hh, connwait.table, w, tmp) {
		if (w->client == client && (!ns || w->ns == ns))
			return w;
	}
	return NULL;
}

size_t connwait_count(void)
{
	return connwait.n;
}

void connwait_each(void (*fn)(void *arg, struct connwait *w), void *arg)
{
	struct connwait *w, *tmp;

	HASH_ITER(hh, connwait.table, w, tmp)
		fn(arg, w);
}
