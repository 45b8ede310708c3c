/*
 * loop.c - epoll + a min-heap of deadlines.
 *
 * Each turn: wait until the nearest deadline (or input), run the input
 * callbacks, then every timer that is due.  Timers live in an array-backed
 * binary heap; each timer knows its slot, so moving or stopping one is
 * O(log n) (Redis's ae.c scans an unsorted list; at thousands of
 * transfers that scan is the loop).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#if !defined(__GLIBC__) && defined(SYS_epoll_pwait2)
/* musl (1.2.3) knows the system call but has no wrapper for it */
#define epoll_pwait2(fd, ev, max, ts, mask) \
	((int)syscall(SYS_epoll_pwait2, (fd), (ev), (max), (ts), (mask), \
	    (size_t)8))
#endif

#define LOOP_EVENTS	64

struct loop {
	int			 epfd;
	int			 stop;
	int			 no_pwait2;	/* kernel lacks epoll_pwait2 */
	uint64_t		 now;
	struct loop_timer	**heap;
	size_t			 n, cap;
};

uint64_t
loop_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct loop *
loop_new(void)
{
	struct loop *l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		free(l);
		return NULL;
	}
	l->now = loop_clock_us();
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	free(l->heap);
	free(l);
}

uint64_t
loop_now(const struct loop *l)
{
	return l->now;
}

int
loop_fd_start(struct loop *l, struct loop_fd *w, int fd,
    void (*cb)(struct loop_fd *, uint32_t), void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void
loop_fd_stop(struct loop *l, struct loop_fd *w)
{
	if (w->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
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

static void
heap_place(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->idx = i + 1;
}

static void
heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	size_t p;

	while (i > 0) {
		p = (i - 1) / 2;
		if (l->heap[p]->when <= t->when)
			break;
		heap_place(l, i, l->heap[p]);
		i = p;
	}
	heap_place(l, i, t);
}

static void
heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= l->n)
			break;
		if (c + 1 < l->n && l->heap[c + 1]->when < l->heap[c]->when)
			c++;
		if (t->when <= l->heap[c]->when)
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, t);
}

void
loop_timer_stop(struct loop *l, struct loop_timer *t)
{
	size_t i;

	if (t->idx == 0)
		return;
	i = t->idx - 1;
	t->idx = 0;
	if (--l->n == i)
		return;
	heap_place(l, i, l->heap[l->n]);
	heap_up(l, i);
	heap_down(l, l->heap[i]->idx - 1);
}

int
loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t when)
{
	struct loop_timer **h;
	size_t cap;

	if (when == 0) {
		loop_timer_stop(l, t);
		return 0;
	}
	if (t->idx) {
		t->when = when;
		heap_up(l, t->idx - 1);
		heap_down(l, t->idx - 1);
		return 0;
	}
	if (l->n == l->cap) {
		cap = l->cap ? 2 * l->cap : 64;
		h = realloc(l->heap, cap * sizeof(struct loop_timer *));
		if (h == NULL)
			return -1;
		l->heap = h;
		l->cap = cap;
	}
	t->when = when;
	heap_place(l, l->n, t);
	l->n++;
	heap_up(l, l->n - 1);
	return 0;
}

/*
 * Wait for input until the nearest deadline, to the microsecond where
 * the kernel has epoll_pwait2 (pacing a window needs gaps of 100 us),
 * else rounded up to the millisecond.
 */
static int
wait_events(struct loop *l, struct epoll_event *ev, int max)
{
	struct timespec ts, *tp = NULL;
	uint64_t when, now, d = 0;
	int n;

	if (l->n) {
		when = l->heap[0]->when;
		now = loop_clock_us();
		d = when > now ? when - now : 0;
		ts.tv_sec = (time_t)(d / 1000000);
		ts.tv_nsec = (long)(d % 1000000) * 1000;
		tp = &ts;
	}
	if (!l->no_pwait2) {
		n = epoll_pwait2(l->epfd, ev, max, tp, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		l->no_pwait2 = 1;
	}
	return epoll_wait(l->epfd, ev, max, tp ? (int)((d + 999) / 1000) :
	    -1);
}

int
loop_run(struct loop *l)
{
	struct epoll_event ev[LOOP_EVENTS];
	struct loop_fd *w;
	int i, n;

	l->stop = 0;
	while (!l->stop) {
		n = wait_events(l, ev, LOOP_EVENTS);
		if (n < 0 && errno != EINTR)
			return -1;
		l->now = loop_clock_us();
		for (i = 0; i < n; i++) {
			w = ev[i].data.ptr;
			w->cb(w, ev[i].events);
		}
		loop_run_due(l);
	}
	return 0;
}

void
loop_run_due(struct loop *l)
{
	struct loop_timer *t;

	l->now = loop_clock_us();
	while (l->n && l->heap[0]->when <= l->now) {
		t = l->heap[0];
		loop_timer_stop(l, t);
		t->cb(t);
	}
}

void
loop_stop(struct loop *l)
{
	l->stop = 1;
}
