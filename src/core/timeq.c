/* timeq.c - fixed-duration timer queues (see timeq.h).
 *
 * The libevent timer is armed for the head when an entry joins an empty
 * queue and after each expiry.  Stopping the head does not touch it: the
 * timer then fires early, finds nothing due and re-arms for the new head,
 * which costs one wake-up instead of an event_add per stop.
 */
#include <assert.h>
#include <time.h>

#include "timeq.h"

int64_t timeq_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool timeq_empty(const struct timeq *q)
{
	return q->list.next == &q->list;
}

static void timeq_arm(struct timeq *q, int64_t now)
{
	int64_t wait = q->list.next->due_ms - now;

	if (wait < 0)
		wait = 0;
	struct timeval tv = { (time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000 };
	event_add(&q->ev, &tv);
}

static void timeq_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeq *q = arg;
	int64_t now = timeq_now_ms();

	/* fire() may start entries again, on this queue too: they go to the
	 * tail with a due time after now, which ends the loop. */
	while (!timeq_empty(q) && q->list.next->due_ms <= now) {
		struct timeq_entry *e = q->list.next;
		timeq_stop(e);
		q->fire(e);
	}
	if (!timeq_empty(q))
		timeq_arm(q, now);
}

void timeq_init(struct timeq *q, struct event_base *base, uint32_t duration_ms,
		void (*fire)(struct timeq_entry *e))
{
	q->list.prev = q->list.next = &q->list;
	q->duration_ms = duration_ms;
	q->fire = fire;
	evtimer_assign(&q->ev, base, timeq_cb, q);
}

void timeq_cleanup(struct timeq *q)
{
	assert(timeq_empty(q));
	event_del(&q->ev);
}

void timeq_set_duration(struct timeq *q, uint32_t duration_ms)
{
	q->duration_ms = duration_ms;
}

void timeq_start(struct timeq *q, struct timeq_entry *e)
{
	int64_t now = timeq_now_ms();
	struct timeq_entry *after = q->list.prev;

	timeq_stop(e);
	e->due_ms = now + q->duration_ms;
	/* Only after the duration was shortened can entries be due later
	 * than a new one: it goes in front of those, so that the list stays
	 * in due order; otherwise this is the tail at once. */
	while (after != &q->list && after->due_ms > e->due_ms)
		after = after->prev;
	e->prev = after;
	e->next = after->next;
	after->next->prev = e;
	after->next = e;
	if (q->list.next == e)
		timeq_arm(q, now);
}

void timeq_stop(struct timeq_entry *e)
{
	if (!e->next)
		return;
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

bool timeq_running(const struct timeq_entry *e)
{
	return e->next != NULL;
}
