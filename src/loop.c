/*
 * loop.c - epoll + a min-heap of deadlines.
 *
 * Each turn: wait until the nearest deadline (or input), run the input
 * callbacks, then every timer that is due.  Timers live in an array-backed
 * binary heap; each timer knows its slot, so moving or stopping one is
 * O(log n) (Redis's ae.c scans an unsorted list; at thousands of
 * transfers that scan is the loop).
 *
 * Polling before sleeping (loop_spin): a sleeping process that a packet
 * wakes from another CPU waits for that CPU to send an interrupt and for
 * its own to come out of idle; in a VM each is an exit to the host.  On
 * the 2-CPU VM of bench/ a loopback round trip costs 100 us that way and
 * 33 us when one side polls instead (udplimit pingpong;
 * doc/notes/vm-wakeups.md).  So before it
 * sleeps the loop first asks epoll without a timeout, for up to a budget
 * that adapts as the kernel's haltpoll cpuidle governor does: a sleep
 * that ended within the cap means polling would have caught it, so the
 * budget doubles; a sleep longer than the cap halves it, down to 0.  A
 * client that answers within the cap gets its answer seen at once; a slow
 * or idle one costs nothing after a few waits.  Each poll also yields
 * the CPU: a client on this CPU runs at once (a 5.5 us round trip, when
 * sleeping would cost one of its wakeups), and a poll that comes back
 * late means another process wanted the CPU, so polling stops there.
 * While /proc/loadavg shows more runnable tasks than this process has
 * CPUs, the loop does not poll at all: on a busy machine the CPU it
 * would spin on is someone's work (the loss table of make bench, 54
 * fetches at once, ran twice as slow before this check).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
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
	unsigned		 spin_max;	/* us; 0 = never poll */
	unsigned		 spin;		/* us, this wait's budget */
	uint64_t		 spin_caught;	/* waits ended by polling */
	uint64_t		 spin_slept;	/* waits that slept anyway */
	uint64_t		 spin_crowded;	/* polls cut short by others */
	uint64_t		 spin_busy;	/* waits not polled: busy machine */
	int			 spin_cpus;	/* CPUs the caller may use */
	int			 loadfd;	/* /proc/loadavg, or -1 */
	int			 busy;		/* more runnable than CPUs */
	uint64_t		 busy_at;	/* when busy was last read */
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
	l->loadfd = -1;
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	close(l->epfd);
	if (l->loadfd >= 0)
		close(l->loadfd);
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
	return loop_fd_start_events(l, w, fd, EPOLLIN, cb, arg);
}

int
loop_fd_start_events(struct loop *l, struct loop_fd *w, int fd,
    uint32_t events, void (*cb)(struct loop_fd *, uint32_t), void *arg)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	w->fd = fd;
	w->cb = cb;
	w->arg = arg;
	return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int
loop_fd_modify(struct loop *l, struct loop_fd *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void
loop_fd_stop(struct loop *l, struct loop_fd *w)
{
	if (w->fd >= 0)
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
}

int
loop_signal_start(struct loop *l, struct loop_fd *w, const sigset_t *set,
    void (*cb)(struct loop_fd *, uint32_t), void *arg)
{
	int fd, e;

	w->fd = -1;
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -1;
	if ((fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -1;
	if (loop_fd_start(l, w, fd, cb, arg) < 0) {
		e = errno;
		close(fd);
		w->fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

void
loop_signal_stop(struct loop *l, struct loop_fd *w)
{
	if (w->fd < 0)
		return;
	loop_fd_stop(l, w);
	close(w->fd);
	w->fd = -1;
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

void
loop_spin(struct loop *l, unsigned max_us, int cpus)
{
	l->spin_max = max_us;
	l->spin = 0;
	l->spin_cpus = cpus;
	/* opened now: the server may drop privileges and filter calls */
	if (max_us && l->loadfd < 0)
		loop_spin_loadavg(l, "/proc/loadavg");
}

int
loop_spin_loadavg(struct loop *l, const char *path)
{
	if (l->loadfd >= 0)
		close(l->loadfd);
	l->busy = 0;
	l->busy_at = 0;
	l->loadfd = open(path, O_RDONLY | O_CLOEXEC);
	return l->loadfd < 0 ? -1 : 0;
}

int
loop_loadavg_busy(const char *loadavg, int cpus)
{
	const char *p = loadavg;
	long running;
	int i;

	/* "0.39 0.88 1.04 2/79 12213": the fourth field, before '/' */
	for (i = 0; i < 3 && p; i++)
		if ((p = strchr(p, ' ')) != NULL)
			p++;
	if (p == NULL || *p < '0' || *p > '9')
		return 0;
	running = strtol(p, NULL, 10);
	return running > cpus;
}

/*
 * Are more tasks runnable than this process has CPUs?  The run queue is
 * read at most every LOOP_SPIN_LOAD_US.
 */
static int
run_queue_full(struct loop *l, uint64_t now)
{
	char buf[128];
	ssize_t n;

	if (l->loadfd < 0 || now - l->busy_at < LOOP_SPIN_LOAD_US)
		return l->busy;
	l->busy_at = now;
	if ((n = pread(l->loadfd, buf, sizeof(buf) - 1, 0)) <= 0)
		return l->busy = 0;
	buf[n] = '\0';
	return l->busy = loop_loadavg_busy(buf, l->spin_cpus);
}

unsigned
loop_spin_budget(const struct loop *l)
{
	return l->spin;
}

void
loop_spin_counts(const struct loop *l, uint64_t *caught, uint64_t *slept,
    uint64_t *crowded, uint64_t *busy)
{
	*caught = l->spin_caught;
	*slept = l->spin_slept;
	*crowded = l->spin_crowded;
	*busy = l->spin_busy;
}

unsigned
loop_spin_adapt(unsigned spin, unsigned max, uint64_t waited)
{
	if (waited <= spin)
		return spin;		/* polling caught it: keep */
	if (waited <= max) {		/* a short sleep: poll longer */
		spin = spin ? 2 * spin : LOOP_SPIN_START;
		return spin < max ? spin : max;
	}
	spin /= 2;			/* a long sleep: poll less */
	return spin < LOOP_SPIN_START / 2 ? 0 : spin;
}

/*
 * Wait for input until the nearest deadline (now, if zero), to the
 * microsecond where the kernel has epoll_pwait2 (pacing a window needs
 * gaps of 100 us), else rounded up to the millisecond.
 */
static int
wait_until(struct loop *l, struct epoll_event *ev, int max, int zero)
{
	struct timespec ts, *tp = NULL;
	uint64_t when, now, d = 0;
	int n;

	if (zero || l->n) {
		when = zero ? 0 : l->heap[0]->when;
		now = zero ? 0 : loop_clock_us();
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

/*
 * Poll for up to the budget (or to the nearest deadline, if sooner: a
 * pacing gap is then kept to the microsecond), then sleep; adapt the
 * budget to how long the whole wait took.  Each poll yields the CPU to
 * whatever else wants it, the client this loop waits for perhaps; a
 * poll that came back LOOP_SPIN_CROWDED us after the one before means
 * others were running here, and polling would take their CPU, so the
 * loop stops polling and sleeps.
 */
static int
wait_events(struct loop *l, struct epoll_event *ev, int max)
{
	uint64_t t0, t, prev, until;
	int n;

	if (l->spin_max == 0)
		return wait_until(l, ev, max, 0);
	t0 = loop_clock_us();
	if (l->spin && run_queue_full(l, t0))
		l->spin_busy++;
	else if (l->spin) {
		until = t0 + l->spin;
		if (l->n && l->heap[0]->when < until)
			until = l->heap[0]->when;
		prev = t0;
		for (;;) {
			if ((n = wait_until(l, ev, max, 1)) != 0) {
				l->spin_caught += n > 0;
				return n;
			}
			t = loop_clock_us();
			if (t - prev > LOOP_SPIN_CROWDED) {
				l->spin = 0;
				l->spin_crowded++;
				break;
			}
			if (t >= until)
				break;
			prev = t;
			(void)sched_yield();
		}
		if (l->n && l->heap[0]->when <= t) {
			l->spin_caught++;
			return 0;	/* a deadline came first */
		}
	}
	n = wait_until(l, ev, max, 0);
	l->spin_slept++;
	l->spin = loop_spin_adapt(l->spin, l->spin_max,
	    loop_clock_us() - t0);
	return n;
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
