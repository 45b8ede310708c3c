/*
 * fake_loop.c - src/loop.h in memory, for fuzz_request (see fake.h).
 *
 * Time stands still unless the harness moves it.  Timers are a small
 * unsorted array (a fuzz run has a handful); the earliest fires first,
 * ties in the order of their slots, so a run is reproducible.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"
#include "fuzz.h"

#define FAKE_FDS	256
#define FAKE_TIMERS	1024

struct loop {
	uint64_t		 now;
	int			 stop;
	struct loop_fd		*fds[FAKE_FDS];
	size_t			 nfds;
	struct loop_timer	*timers[FAKE_TIMERS];
	size_t			 ntimers;
};

static unsigned fail_fd_start;

uint64_t
loop_clock_us(void)
{
	return FAKE_T0;
}

struct loop *
loop_new(void)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->now = FAKE_T0;
	return l;
}

void
loop_free(struct loop *l)
{
	free(l);
}

uint64_t
loop_now(const struct loop *l)
{
	return l->now;
}

/* The harness never starts server_run(): no signals here. */
int
loop_signal_start(struct loop *l, struct loop_fd *w, const sigset_t *set,
    void (*cb)(struct loop_fd *, uint32_t), void *arg)
{
	(void)l;
	(void)set;
	(void)cb;
	(void)arg;
	w->fd = -1;
	errno = ENOSYS;
	return -1;
}

void
loop_signal_stop(struct loop *l, struct loop_fd *w)
{
	(void)l;
	w->fd = -1;
}

int
loop_fd_start(struct loop *l, struct loop_fd *w, int fd,
    void (*cb)(struct loop_fd *, uint32_t), void *arg)
{
	size_t i;

	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	if (fail_fd_start && --fail_fd_start == 0) {
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < l->nfds; i++) {
		if (l->fds[i]->fd == fd) {
			errno = EEXIST;		/* as epoll_ctl says */
			return -1;
		}
	}
	FUZZ_CHECK(l->nfds < FAKE_FDS);
	l->fds[l->nfds++] = w;
	return 0;
}

void
loop_fd_stop(struct loop *l, struct loop_fd *w)
{
	size_t i;

	for (i = 0; i < l->nfds; i++) {
		if (l->fds[i] == w) {
			memmove(&l->fds[i], &l->fds[i + 1],
			    (l->nfds - i - 1) * sizeof(struct loop_fd *));
			l->nfds--;
			return;
		}
	}
}

void
loop_timer_init(struct loop_timer *t, void (*cb)(struct loop_timer *),
    void *arg)
{
	t->when = 0;
	t->idx = 0;
	t->cb = cb;
	t->arg = arg;
}

void
loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	size_t i;

	if (t->idx == 0)
		return;
	i = t->idx - 1;
	FUZZ_CHECK(i < l->ntimers && l->timers[i] == t);
	t->idx = 0;
	l->ntimers--;
	if (i != l->ntimers) {
		l->timers[i] = l->timers[l->ntimers];
		l->timers[i]->idx = i + 1;
	}
}

int
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t when)
{
	if (when == 0) {
		loop_timer_stop(l, t);
		return 0;
	}
	t->when = when;
	if (t->idx)
		return 0;
	FUZZ_CHECK(l->ntimers < FAKE_TIMERS);
	l->timers[l->ntimers++] = t;
	t->idx = l->ntimers;
	return 0;
}

static struct loop_timer *
earliest(const struct loop *l)
{
	struct loop_timer *t = NULL;
	size_t i;

	for (i = 0; i < l->ntimers; i++)
		if (t == NULL || l->timers[i]->when < t->when)
			t = l->timers[i];
	return t;
}

/* Not used by the harness: it drives the loop itself. */
int
loop_run(struct loop *l)
{
	(void)l;
	errno = ENOSYS;
	return -1;
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}

/* the fake never sleeps, so it never polls either */
void
loop_spin(struct loop *l, unsigned max_us, int cpus)
{
	(void)l;
	(void)max_us;
	(void)cpus;
}

unsigned
loop_spin_budget(const struct loop *l)
{
	(void)l;
	return 0;
}

void
loop_spin_counts(const struct loop *l, uint64_t *caught, uint64_t *slept,
    uint64_t *crowded, uint64_t *busy)
{
	(void)l;
	*caught = *slept = *crowded = *busy = 0;
}

void
loop_run_due(struct loop *l)
{
	struct loop_timer *t;

	while ((t = earliest(l)) != NULL && t->when <= l->now) {
		loop_timer_stop(l, t);
		t->cb(t);
	}
}

void
fake_loop_set_now(struct loop *l, uint64_t now)
{
	FUZZ_CHECK(now >= l->now);	/* monotonic, like the real one */
	l->now = now;
}

uint64_t
fake_loop_next(const struct loop *l)
{
	const struct loop_timer *t = earliest(l);

	return t ? t->when : 0;
}

size_t
fake_loop_ntimers(const struct loop *l)
{
	return l->ntimers;
}

size_t
fake_loop_nfds(const struct loop *l)
{
	return l->nfds;
}

struct loop_fd *
fake_loop_fd(const struct loop *l, size_t i)
{
	return i < l->nfds ? l->fds[i] : NULL;
}

void
fake_loop_fail_fd_start(unsigned nth)
{
	fail_fd_start = nth;
}
