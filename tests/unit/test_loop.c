/*
 * test_loop.c - the event loop's polling before sleeping (loop_spin):
 * the budget rule, and the real loop on a real pipe and real timers.
 */
#include <stdint.h>
#include <unistd.h>

#include "../check.h"
#include "loop.h"

static void
test_spin_rule_grows_keeps_shrinks(void)
{
	/* a wait that polling caught keeps the budget */
	CHECK_EQ(loop_spin_adapt(100, 200, 40), 100);
	CHECK_EQ(loop_spin_adapt(100, 200, 100), 100);
	/* a sleep shorter than the cap: poll longer next time */
	CHECK_EQ(loop_spin_adapt(0, 200, 90), LOOP_SPIN_START);
	CHECK_EQ(loop_spin_adapt(25, 200, 90), 50);
	CHECK_EQ(loop_spin_adapt(50, 200, 180), 100);
	CHECK_EQ(loop_spin_adapt(150, 200, 199), 200);	/* capped */
	/* a sleep past the cap: halve, and stop below half the start */
	CHECK_EQ(loop_spin_adapt(200, 200, 5000), 100);
	CHECK_EQ(loop_spin_adapt(25, 200, 5000), LOOP_SPIN_START / 2);
	CHECK_EQ(loop_spin_adapt(12, 200, 5000), 0);
	CHECK_EQ(loop_spin_adapt(0, 200, 5000), 0);
}

static void
stop_cb(struct loop_timer *t)
{
	loop_stop(t->arg);
}

/* one turn: sleep (or poll) until a timer us from now */
static void
wait_timer(struct loop *l, uint64_t us)
{
	struct loop_timer t;

	loop_timer_init(&t, stop_cb, l);
	CHECK_EQ(loop_timer_set(l, &t, loop_clock_us() + us), 0);
	CHECK_EQ(loop_run(l), 0);
	loop_timer_stop(l, &t);
}

static int got;

static void
read_cb(struct loop_fd *w, uint32_t ev)
{
	char c;

	(void)ev;
	if (read(w->fd, &c, 1) == 1)
		got++;
	loop_stop(w->arg);
}

static void
test_spin_catches_input_without_sleeping(void)
{
	struct loop *l = loop_new();
	struct loop_fd w;
	uint64_t caught, slept;
	int p[2];

	CHECK(l != NULL && pipe(p) == 0);
	CHECK_EQ(loop_fd_start(l, &w, p[0], read_cb, l), 0);
	/* the cap (100 ms) is far above any sleep of 400 us */
	loop_spin(l, 100000);
	CHECK_EQ(loop_spin_budget(l), 0);
	wait_timer(l, 400);
	CHECK_EQ(loop_spin_budget(l), LOOP_SPIN_START);
	loop_spin_counts(l, &caught, &slept);
	CHECK_EQ(caught, 0);
	CHECK_EQ(slept, 1);
	/* input already waiting: the first poll has it */
	CHECK_EQ(write(p[1], "x", 1), 1);
	got = 0;
	CHECK_EQ(loop_run(l), 0);
	CHECK_EQ(got, 1);
	loop_spin_counts(l, &caught, &slept);
	CHECK_EQ(caught, 1);
	CHECK_EQ(slept, 1);
	CHECK_EQ(loop_spin_budget(l), LOOP_SPIN_START);
	loop_fd_stop(l, &w);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static void
test_spin_runs_a_near_timer_without_sleeping(void)
{
	struct loop *l = loop_new();
	uint64_t caught, slept, t0;

	CHECK(l != NULL);
	loop_spin(l, 100000);
	/* two short sleeps: 0 -> 25 -> 50 */
	wait_timer(l, 400);
	wait_timer(l, 400);
	CHECK_EQ(loop_spin_budget(l), 2 * LOOP_SPIN_START);
	/* a deadline inside the budget is polled to, not slept to, and
	 * not early */
	t0 = loop_clock_us();
	wait_timer(l, 30);
	CHECK(loop_clock_us() - t0 >= 30);
	loop_spin_counts(l, &caught, &slept);
	CHECK_EQ(caught, 1);
	CHECK_EQ(slept, 2);
	CHECK_EQ(loop_spin_budget(l), 2 * LOOP_SPIN_START);
	loop_free(l);
}

static void
test_spin_long_sleeps_stop_polling(void)
{
	struct loop *l = loop_new();

	CHECK(l != NULL);
	loop_spin(l, 5000);
	wait_timer(l, 400);			/* 0 -> 25 */
	wait_timer(l, 400);			/* 25 -> 50 */
	CHECK_EQ(loop_spin_budget(l), 2 * LOOP_SPIN_START);
	/* an idle client: waits of 20 ms, past the 5 ms cap */
	wait_timer(l, 20000);
	CHECK_EQ(loop_spin_budget(l), LOOP_SPIN_START);
	wait_timer(l, 20000);
	wait_timer(l, 20000);
	CHECK_EQ(loop_spin_budget(l), 0);
	loop_free(l);
}

static void
test_spin_off_always_sleeps(void)
{
	struct loop *l = loop_new();
	uint64_t caught, slept;

	CHECK(l != NULL);
	wait_timer(l, 400);
	wait_timer(l, 400);
	CHECK_EQ(loop_spin_budget(l), 0);
	loop_spin_counts(l, &caught, &slept);
	CHECK_EQ(caught + slept, 0);		/* not even counted */
	loop_free(l);
}

int
main(void)
{
	RUN(test_spin_rule_grows_keeps_shrinks);
	RUN(test_spin_catches_input_without_sleeping);
	RUN(test_spin_runs_a_near_timer_without_sleeping);
	RUN(test_spin_long_sleeps_stop_polling);
	RUN(test_spin_off_always_sleeps);
	return CHECK_EXIT();
}
