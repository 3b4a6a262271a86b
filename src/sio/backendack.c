/* backendack.c - ack ids awaited from backends (see backendack.h).
 *
 * Owns each struct backendack from backendack_await() until its reply
 * (backendack_take()), its timeout, the overflow of its socket's list, or
 * the socket's end (backendack_clear()).  The lists are the sockets';
 * every id shares one duration, so a list, oldest first, is also in
 * expiry order, and one timeq times them all.
 */
#include <stdlib.h>

#include "backendack.h"
#include "metrics.h"
#include "timeq.h"

struct backendack {
	int64_t id;
	uint16_t *n;                   /* its list's count, not owned */
	struct timeq_entry timer;      /* on backendack.timeout */
	struct backendack *next, **pprev;
};

static struct {
	const struct config *cfg;
	struct timeq timeout;          /* every id's timer: backend_ack_timeout */
} backendack;

static void backendack_end(struct backendack *a)
{
	*a->pprev = a->next;
	if (a->next)
		a->next->pprev = a->pprev;
	(*a->n)--;
	timeq_stop(&a->timer);
	free(a);
}

/* The backend did not answer within backend_ack_timeout; the client's own
 * timeout (if it set one) tells it, as with a Node server that never
 * calls back. */
static void backendack_fire(struct timeq_entry *e)
{
	metrics_inc(backend_acks_expired_total);
	backendack_end(timeq_owner(e, struct backendack, timer));
}

void backendack_init(struct event_base *base, const struct config *cfg)
{
	backendack.cfg = cfg;
	timeq_init(&backendack.timeout, base, cfg->backend_ack_timeout_ms, backendack_fire);
}

void backendack_reload(void)
{
	timeq_set_duration(&backendack.timeout, backendack.cfg->backend_ack_timeout_ms);
}

void backendack_cleanup(void)
{
	timeq_cleanup(&backendack.timeout);
}

int backendack_await(struct backendack **head, uint16_t *n, int64_t id)
{
	struct backendack *a, **tail = head;

	if (*n >= backendack.cfg->max_backend_acks) {
		metrics_inc(backend_acks_overflow_total);
		backendack_end(*head);
	}
	if (!(a = calloc(1, sizeof *a)))
		return -1;
	while (*tail)
		tail = &(*tail)->next;
	a->id = id;
	a->n = n;
	a->pprev = tail;
	*tail = a;
	(*n)++;
	timeq_start(&backendack.timeout, &a->timer);
	return 0;
}

bool backendack_take(struct backendack **head, int64_t id, bool newest)
{
	struct backendack *found = NULL;

	for (struct backendack *a = *head; a && !(found && !newest); a = a->next) {
		if (a->id == id)
			found = a;
	}
	if (found)
		backendack_end(found);
	return found != NULL;
}

void backendack_clear(struct backendack **head)
{
	while (*head)
		backendack_end(*head);
}
