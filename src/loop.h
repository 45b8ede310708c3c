/*
 * loop.h - the event loop: epoll for readiness, a binary min-heap of
 * deadlines on CLOCK_MONOTONIC (microseconds).  The only epoll user.
 *
 * Watchers are embedded in the caller's structs (no allocation per fd or
 * timer), in the manner of libuEv: init once, then start/stop.
 */
#ifndef TFTPX_LOOP_H
#define TFTPX_LOOP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct loop;

struct loop_fd {
	int	  fd;
	void	(*cb)(struct loop_fd *w, uint32_t events);
	void	 *arg;
};

struct loop_timer {
	uint64_t  when;			/* microseconds, loop clock */
	size_t	  idx;			/* heap slot + 1; 0 = not armed */
	void	(*cb)(struct loop_timer *t);
	void	 *arg;
};

/* Monotonic clock in microseconds. */
uint64_t loop_clock_us(void);

struct loop *loop_new(void);
void	loop_free(struct loop *l);

/* The time cached at the last wakeup (cheap; use it for protocol time). */
uint64_t loop_now(const struct loop *l);

/* Watch fd for input (EPOLLIN).  Returns 0 or -1 with errno. */
int	loop_fd_start(struct loop *l, struct loop_fd *w, int fd,
	    void (*cb)(struct loop_fd *, uint32_t), void *arg);
void	loop_fd_stop(struct loop *l, struct loop_fd *w);
/*
 * Watch fd for events (EPOLLIN, EPOLLOUT or both; an HTTP connection of
 * origin.c), or change what a started watcher waits for.  0 or -1.
 */
int	loop_fd_start_events(struct loop *l, struct loop_fd *w, int fd,
	    uint32_t events, void (*cb)(struct loop_fd *, uint32_t), void *arg);
int	loop_fd_modify(struct loop *l, struct loop_fd *w, uint32_t events);

/*
 * Block the signals of set and watch them through a signalfd (read a
 * struct signalfd_siginfo from w->fd in cb).  Returns 0 or -1 with errno;
 * loop_signal_stop() closes it.
 */
int	loop_signal_start(struct loop *l, struct loop_fd *w, const sigset_t *set,
	    void (*cb)(struct loop_fd *, uint32_t), void *arg);
void	loop_signal_stop(struct loop *l, struct loop_fd *w);

void	loop_timer_init(struct loop_timer *t,
	    void (*cb)(struct loop_timer *), void *arg);
/* Arm (or move) the timer to fire at when; 0 disarms.  -1 on ENOMEM. */
int	loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t when);
void	loop_timer_stop(struct loop *l, struct loop_timer *t);

/*
 * Before sleeping, poll for input for up to an adaptive budget of at most
 * max_us (0: always sleep at once; the default), except while more tasks
 * are runnable than cpus, the CPUs the caller may run on.  See loop.c.
 */
#define LOOP_SPIN_START	25		/* us, the first budget */
#define LOOP_SPIN_CROWDED 50		/* us between two polls: others ran */
#define LOOP_SPIN_LOAD_US 20000		/* how often the run queue is read */
void	loop_spin(struct loop *l, unsigned max_us, int cpus);
/* The budget the next wait polls for, in us. */
unsigned loop_spin_budget(const struct loop *l);
/*
 * Waits that polling ended, waits that slept, polls cut short by another
 * process, and waits not polled because the machine was busy.
 */
void	loop_spin_counts(const struct loop *l, uint64_t *caught,
	    uint64_t *slept, uint64_t *crowded, uint64_t *busy);
/*
 * Does a /proc/loadavg text say more tasks are runnable than cpus?  Then
 * the loop does not poll (a busy machine: its CPU is someone's work).
 */
int	loop_loadavg_busy(const char *loadavg, int cpus);
/* Read that text from path instead of /proc/loadavg (tests).  0 or -1. */
int	loop_spin_loadavg(struct loop *l, const char *path);
/* The next budget after a wait of waited us (the rule, for tests). */
unsigned loop_spin_adapt(unsigned spin, unsigned max, uint64_t waited);

/* Run until loop_stop().  Returns 0, or -1 if epoll_wait fails. */
int	loop_run(struct loop *l);
void	loop_stop(struct loop *l);
/* Run the timers that are due now (used once more at shutdown). */
void	loop_run_due(struct loop *l);

#endif
