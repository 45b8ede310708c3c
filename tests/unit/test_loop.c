/*
 * test_loop.c - the event loop's polling before sleeping (loop_spin):
 * the budget rule, and the real loop on a real pipe and real timers.
 */
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check.h"
#include "loop.h"

static void
test_spin_busy_machine_read_from_loadavg(void)
{
	CHECK_EQ(loop_loadavg_busy("0.39 0.88 1.04 2/79 12213\n", 2), 0);
	CHECK_EQ(loop_loadavg_busy("0.39 0.88 1.04 3/79 12213\n", 2), 1);
	CHECK_EQ(loop_loadavg_busy("9.00 9.00 9.00 17/300 1\n", 16), 1);
	CHECK_EQ(loop_loadavg_busy("9.00 9.00 9.00 16/300 1\n", 16), 0);
	/* anything else: not known to be busy */
	CHECK_EQ(loop_loadavg_busy("", 1), 0);
	CHECK_EQ(loop_loadavg_busy("0.1 0.2", 1), 0);
	CHECK_EQ(loop_loadavg_busy("0.1 0.2 0.3 x/9 1", 1), 0);
}

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

/*
 * A stand-in for /proc/loadavg with a fixed number of runnable tasks, so
 * that whatever else this machine runs does not decide a test.
 */
static char quiet[] = "/tmp/tftpx-loadavg-XXXXXX";

static void
spin_quiet(struct loop *l, unsigned max_us)
{
	loop_spin(l, max_us, 2);
	CHECK_EQ(loop_spin_loadavg(l, quiet), 0);
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

/* *busy: waits the (quiet) run queue file kept from polling */
static void
catch_input(uint64_t *busy)
{
	struct loop *l = loop_new();
	struct loop_fd w;
	uint64_t caught, slept, crowded;
	int p[2];

	CHECK(l != NULL && pipe(p) == 0);
	CHECK_EQ(loop_fd_start(l, &w, p[0], read_cb, l), 0);
	/* the cap (100 ms) is far above any sleep of 400 us */
	spin_quiet(l, 100000);
	CHECK_EQ(loop_spin_budget(l), 0);
	wait_timer(l, 400);
	CHECK_EQ(loop_spin_budget(l), LOOP_SPIN_START);
	loop_spin_counts(l, &caught, &slept, &crowded, busy);
	CHECK_EQ(caught, 0);
	CHECK_EQ(slept, 1);
	/* input already waiting: the first poll has it */
	CHECK_EQ(write(p[1], "x", 1), 1);
	got = 0;
	CHECK_EQ(loop_run(l), 0);
	CHECK_EQ(got, 1);
	loop_spin_counts(l, &caught, &slept, &crowded, busy);
	CHECK_EQ(caught, 1);
	CHECK_EQ(slept, 1);
	CHECK_EQ(loop_spin_budget(l), LOOP_SPIN_START);
	loop_fd_stop(l, &w);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

static void
test_spin_catches_input_without_sleeping(void)
{
	uint64_t busy;

	catch_input(&busy);
	CHECK_EQ(busy, 0);
}

/*
 * Polling to a near deadline; again (at most 3 times) if another process
 * took this CPU meanwhile, which ends polling by design.
 */
static void
test_spin_runs_a_near_timer_without_sleeping(void)
{
	uint64_t caught = 0, slept = 0, crowded = 1, busy = 1, t0 = 0, t1 = 0;
	unsigned budget = 0;
	struct loop *l;
	int i;

	for (i = 0; i < 3 && (crowded || busy); i++) {
		if ((l = loop_new()) == NULL)
			break;
		spin_quiet(l, 100000);
		/* two short sleeps: 0 -> 25 -> 50 */
		wait_timer(l, 400);
		wait_timer(l, 400);
		budget = loop_spin_budget(l);
		/* a deadline inside the budget is polled to, not slept
		 * to, and not early */
		t0 = loop_clock_us();
		wait_timer(l, 30);
		t1 = loop_clock_us();
		loop_spin_counts(l, &caught, &slept, &crowded, &busy);
		loop_free(l);
	}
	CHECK_EQ(crowded + busy, 0);
	CHECK_EQ(budget, 2 * LOOP_SPIN_START);
	CHECK(t1 - t0 >= 30);
	CHECK_EQ(caught, 1);
	CHECK_EQ(slept, 2);
}

/*
 * A process that wants this CPU: polling yields to it, sees that it
 * ran, and sleeps instead of taking the CPU back.
 */
static void
test_spin_gives_way_to_a_busy_cpu(void)
{
	cpu_set_t old, one;
	uint64_t caught, slept, crowded, busy, t0, t1;
	struct loop *l;
	pid_t hog;
	int cpu, ready[2], try;
	char c;

	CHECK(sched_getaffinity(0, sizeof(old), &old) == 0);
	for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &old); cpu++)
		;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0);
	CHECK(pipe(ready) == 0);
	if ((hog = fork()) == 0) {
		alarm(5);		/* ends by itself, whatever happens */
		(void)!write(ready[1], "r", 1);	/* it runs: now spin */
		for (;;)
			;
	}
	CHECK(hog > 0);
	/* wait until the hog runs on this CPU, or the first poll may not
	 * see it (1 of 5 runs failed so, under ASan) */
	CHECK(read(ready[0], &c, 1) == 1);
	close(ready[0]);
	close(ready[1]);
	/* a scheduler may still let us run the whole wait: three tries */
	for (try = 0, crowded = 0; try < 3 && crowded == 0; try++) {
		l = loop_new();
		CHECK(l != NULL);
		spin_quiet(l, 100000);
		wait_timer(l, 400);
		CHECK_EQ(loop_spin_budget(l), LOOP_SPIN_START);
		/* nothing comes for 20 ms: the first poll yields to the hog */
		t0 = loop_clock_us();
		wait_timer(l, 20000);
		t1 = loop_clock_us();
		loop_spin_counts(l, &caught, &slept, &crowded, &busy);
		loop_free(l);
		/* the run queue file says quiet: polling itself saw the hog */
		CHECK_EQ(busy, 0);
		CHECK(t1 - t0 >= 20000);
	}
	CHECK(crowded >= 1);
	if (hog > 0) {
		kill(hog, SIGKILL);
		waitpid(hog, NULL, 0);
	}
	CHECK(sched_setaffinity(0, sizeof(old), &old) == 0);
}

/* More runnable tasks than CPUs: the loop sleeps without polling. */
static void
test_spin_busy_machine_sleeps_at_once(void)
{
	char busyf[] = "/tmp/tftpx-loadavg-XXXXXX";
	uint64_t caught, slept, crowded, busy;
	struct loop *l = loop_new();
	int fd;

	CHECK(l != NULL);
	fd = mkstemp(busyf);
	CHECK(fd >= 0 && write(fd, "9.00 9.00 9.00 4097/5000 1\n", 27) == 27);
	close(fd);
	loop_spin(l, 100000, 2);
	CHECK_EQ(loop_spin_loadavg(l, busyf), 0);
	wait_timer(l, 400);			/* 0 -> 25 */
	wait_timer(l, 400);
	wait_timer(l, 400);
	loop_spin_counts(l, &caught, &slept, &crowded, &busy);
	CHECK_EQ(caught, 0);
	CHECK_EQ(slept, 3);
	CHECK_EQ(busy, 2);			/* the two with a budget */
	unlink(busyf);
	loop_free(l);
}

/*
 * Again (at most 8 times, 50 ms apart) if another process took this CPU
 * meanwhile: a build running beside the tests crowded 3 tries in a row.
 */
static void
test_spin_long_sleeps_stop_polling(void)
{
	uint64_t caught, slept, crowded = 1, busy = 1;
	unsigned b[3] = { 0, 0, 1 };
	struct loop *l;
	int i;

	for (i = 0; i < 8 && (crowded || busy); i++) {
		if (i > 0)
			usleep(50000);
		if ((l = loop_new()) == NULL)
			break;
		spin_quiet(l, 5000);
		wait_timer(l, 400);		/* 0 -> 25 */
		wait_timer(l, 400);		/* 25 -> 50 */
		b[0] = loop_spin_budget(l);
		/* an idle client: waits of 20 ms, past the 5 ms cap */
		wait_timer(l, 20000);
		b[1] = loop_spin_budget(l);
		wait_timer(l, 20000);
		wait_timer(l, 20000);
		b[2] = loop_spin_budget(l);
		loop_spin_counts(l, &caught, &slept, &crowded, &busy);
		loop_free(l);
	}
	CHECK_EQ(crowded + busy, 0);
	CHECK_EQ(b[0], 2 * LOOP_SPIN_START);
	CHECK_EQ(b[1], LOOP_SPIN_START);
	CHECK_EQ(b[2], 0);
}

static void
test_spin_off_always_sleeps(void)
{
	struct loop *l = loop_new();
	uint64_t caught, slept, crowded, busy;

	CHECK(l != NULL);
	wait_timer(l, 400);
	wait_timer(l, 400);
	CHECK_EQ(loop_spin_budget(l), 0);
	loop_spin_counts(l, &caught, &slept, &crowded, &busy);
	CHECK_EQ(caught + slept, 0);		/* not even counted */
	loop_free(l);
}

int
main(void)
{
	int fd = mkstemp(quiet);

	if (fd < 0 || write(fd, "0.00 0.00 0.00 1/100 1\n", 23) != 23) {
		printf("FAIL main: cannot write %s\n", quiet);
		return 1;
	}
	close(fd);
	RUN(test_spin_rule_grows_keeps_shrinks);
	RUN(test_spin_busy_machine_read_from_loadavg);
	RUN(test_spin_catches_input_without_sleeping);
	RUN(test_spin_runs_a_near_timer_without_sleeping);
	RUN(test_spin_gives_way_to_a_busy_cpu);
	RUN(test_spin_long_sleeps_stop_polling);
	RUN(test_spin_off_always_sleeps);
	RUN(test_spin_busy_machine_sleeps_at_once);
	unlink(quiet);
	return CHECK_EXIT();
}
