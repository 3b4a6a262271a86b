/* timeq.h - many timers of one fixed duration behind one libevent event.
 *
 * Every session waits the same few durations (ping interval, pong
 * deadline, connect timeout), so within one duration timers expire in the
 * order they were started: a queue is a FIFO list and only its head needs a
 * libevent timer.  An entry is three words where a struct event is 128
 * bytes, which matters when an idle connection should cost 1 KiB in all.
 */
#ifndef ROOMCAST_TIMEQ_H
#define ROOMCAST_TIMEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

/* Embedded in the object it times; zeroed (calloc) means stopped. */
struct timeq_entry {
	struct timeq_entry *prev, *next;  /* NULL when stopped */
	int64_t due_ms;                   /* CLOCK_MONOTONIC */
};

/* The object of type <type> whose member <member> is the entry <e>: what
 * a fire callback times. */
#define timeq_owner(e, type, member) ((type *)((char *)(e) - offsetof(type, member)))

struct timeq {
	struct timeq_entry list;          /* sentinel of a circular list, oldest first */
	uint32_t duration_ms;
	void (*fire)(struct timeq_entry *e); /* <e> is stopped when this runs */
	struct event ev;                  /* at the head's due time */
};

void timeq_init(struct timeq *q, struct event_base *base, uint32_t duration_ms,
		void (*fire)(struct timeq_entry *e));
/* Entries started from now on wait <duration_ms>; running ones keep their
 * due time (a reload's new timeout applies to waits that start after it). */
void timeq_set_duration(struct timeq *q, uint32_t duration_ms);
/* Stops the queue's event; every entry must have been stopped. */
void timeq_cleanup(struct timeq *q);

/* (Re)starts <e> on <q>: it fires duration_ms from now, after every entry
 * started on <q> before it (or, after the duration was shortened, before
 * those due later).  Stops it first wherever it was queued. */
void timeq_start(struct timeq *q, struct timeq_entry *e);
/* Stops <e>; harmless if it is not running. */
void timeq_stop(struct timeq_entry *e);
bool timeq_running(const struct timeq_entry *e);
/* The clock due_ms counts in (CLOCK_MONOTONIC, ms). */
int64_t timeq_now_ms(void);

#endif
