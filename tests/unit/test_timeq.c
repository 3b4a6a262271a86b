/* test_timeq.c - unit tests for the fixed-duration timer queues (timeq.c).
 *
 * Runs a real libevent loop with durations of tens of milliseconds:
 * entries fire in the order they were started and not before their
 * duration; a stopped entry never fires, the head included; restarting
 * moves an entry to the tail, also onto another queue; an entry started
 * again from its own fire callback fires once more; and an entry fires
 * once however many times it is started.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "timeq.h"

#define TEST_MAX_FIRED 16

struct test_timer {
	struct timeq_entry entry;
	int id;
	int restarts;             /* times it starts itself again when fired */
};

static struct {
	struct event_base *base;
	struct timeq *requeue_on;  /* where a restarting timer goes */
	int fired[TEST_MAX_FIRED];
	int64_t fired_ms[TEST_MAX_FIRED];
	size_t n_fired;
} t;

static int64_t test_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_fire(struct timeq_entry *e)
{
	struct test_timer *tm = timeq_owner(e, struct test_timer, entry);

	assert_false(timeq_running(e));
	assert_true(t.n_fired < TEST_MAX_FIRED);
	t.fired_ms[t.n_fired] = test_now_ms();
	t.fired[t.n_fired++] = tm->id;
	if (tm->restarts > 0) {
		tm->restarts--;
		timeq_start(t.requeue_on, e);
	}
}

static int test_setup(void **state)
{
	t.base = event_base_new();
	t.n_fired = 0;
	t.requeue_on = NULL;
	return t.base ? 0 : -1;
}

static int test_teardown(void **state)
{
	event_base_free(t.base);
	return 0;
}

/* Runs the loop until nothing is pending (every queue empty). */
static void test_run(void)
{
	assert_int_equal(event_base_dispatch(t.base), 1);  /* 1: nothing left pending */
}

static void entries_fire_in_start_order_after_their_duration(void **state)
{
	struct timeq q;
	struct test_timer a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };

	timeq_init(&q, t.base, 30, test_fire);
	int64_t start = test_now_ms();
	timeq_start(&q, &a.entry);
	timeq_start(&q, &b.entry);
	timeq_start(&q, &c.entry);
	assert_true(timeq_running(&b.entry));
	test_run();
	assert_int_equal(t.n_fired, 3);
	assert_int_equal(t.fired[0], 1);
	assert_int_equal(t.fired[1], 2);
	assert_int_equal(t.fired[2], 3);
	assert_true(t.fired_ms[0] - start >= 30);
	timeq_cleanup(&q);
}

static void a_shorter_duration_applies_to_entries_started_after_it(void **state)
{
	struct timeq q;
	struct test_timer a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 }, d = { .id = 4 };

	timeq_init(&q, t.base, 200, test_fire);
	int64_t start = test_now_ms();
	timeq_start(&q, &a.entry);
	timeq_start(&q, &b.entry);
	timeq_set_duration(&q, 20);
	timeq_start(&q, &c.entry);  /* due long before a and b: fires first */
	timeq_start(&q, &d.entry);
	timeq_set_duration(&q, 500);
	test_run();
	assert_int_equal(t.n_fired, 4);
	assert_int_equal(t.fired[0], 3);
	assert_int_equal(t.fired[1], 4);
	assert_int_equal(t.fired[2], 1);
	assert_int_equal(t.fired[3], 2);
	assert_true(t.fired_ms[0] - start >= 20 && t.fired_ms[0] - start < 150);
	assert_true(t.fired_ms[2] - start >= 200 && t.fired_ms[2] - start < 450);
	timeq_cleanup(&q);
}

static void a_stopped_entry_never_fires_even_at_the_head(void **state)
{
	struct timeq q;
	struct test_timer a = { .id = 1 }, b = { .id = 2 }, c = { .id = 3 };

	timeq_init(&q, t.base, 20, test_fire);
	timeq_start(&q, &a.entry);
	timeq_start(&q, &b.entry);
	timeq_start(&q, &c.entry);
	timeq_stop(&a.entry);
	timeq_stop(&c.entry);
	timeq_stop(&c.entry);   /* twice: harmless */
	assert_false(timeq_running(&a.entry));
	test_run();
	assert_int_equal(t.n_fired, 1);
	assert_int_equal(t.fired[0], 2);
	timeq_cleanup(&q);
}

static void restarting_moves_an_entry_behind_the_others(void **state)
{
	struct timeq q;
	struct test_timer a = { .id = 1 }, b = { .id = 2 };

	timeq_init(&q, t.base, 20, test_fire);
	timeq_start(&q, &a.entry);
	timeq_start(&q, &b.entry);
	timeq_start(&q, &a.entry);
	test_run();
	assert_int_equal(t.n_fired, 2);
	assert_int_equal(t.fired[0], 2);
	assert_int_equal(t.fired[1], 1);
	timeq_cleanup(&q);
}

static void an_entry_moves_to_another_queue_and_fires_on_its_duration(void **state)
{
	struct timeq short_q, long_q;
	struct test_timer a = { .id = 1 }, b = { .id = 2 };

	timeq_init(&short_q, t.base, 10, test_fire);
	timeq_init(&long_q, t.base, 60, test_fire);
	int64_t start = test_now_ms();
	timeq_start(&short_q, &a.entry);
	timeq_start(&short_q, &b.entry);
	timeq_start(&long_q, &a.entry);
	test_run();
	assert_int_equal(t.n_fired, 2);
	assert_int_equal(t.fired[0], 2);
	assert_int_equal(t.fired[1], 1);
	assert_true(t.fired_ms[1] - start >= 60);
	timeq_cleanup(&short_q);
	timeq_cleanup(&long_q);
}

static void an_entry_started_again_from_its_callback_fires_again(void **state)
{
	struct timeq ping, pong;
	struct test_timer a = { .id = 1, .restarts = 2 };

	/* The heartbeat's pattern: the fire of one queue starts the entry on
	 * another, and back. */
	timeq_init(&ping, t.base, 10, test_fire);
	timeq_init(&pong, t.base, 10, test_fire);
	t.requeue_on = &pong;
	timeq_start(&ping, &a.entry);
	test_run();
	assert_int_equal(t.n_fired, 3);
	assert_true(t.fired_ms[2] - t.fired_ms[0] >= 20);
	timeq_cleanup(&ping);
	timeq_cleanup(&pong);
}

static void an_entry_started_on_its_own_queue_from_its_callback_waits_a_full_duration(void **state)
{
	struct timeq q;
	struct test_timer a = { .id = 1, .restarts = 1 };

	timeq_init(&q, t.base, 15, test_fire);
	t.requeue_on = &q;
	timeq_start(&q, &a.entry);
	test_run();
	assert_int_equal(t.n_fired, 2);
	assert_true(t.fired_ms[1] - t.fired_ms[0] >= 15);
	timeq_cleanup(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(entries_fire_in_start_order_after_their_duration,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(a_shorter_duration_applies_to_entries_started_after_it,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(a_stopped_entry_never_fires_even_at_the_head,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(restarting_moves_an_entry_behind_the_others,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(an_entry_moves_to_another_queue_and_fires_on_its_duration,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(an_entry_started_again_from_its_callback_fires_again,
						test_setup, test_teardown),
		cmocka_unit_test_setup_teardown(
			an_entry_started_on_its_own_queue_from_its_callback_waits_a_full_duration,
			test_setup, test_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
