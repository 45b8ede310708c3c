/*
 * fake.h - the loop and the UDP sockets of src/loop.h and src/udp.h, in
 * memory, for fuzz_request: the server's request path runs unchanged,
 * deterministically, without a datagram on any network.
 *
 * fake_loop.c implements all of loop.h: a clock that moves only when the
 * harness says so, fd watchers kept in start order (the harness calls
 * their callbacks), timers fired by loop_run_due() in deadline order.
 *
 * fake_udp.c implements udp_bind, udp_recv, udp_recv_many, udp_send,
 * udp_send_train and udp_send_from (the address helpers are the real ones from src/udp.c,
 * built with these renamed away).  A bound "socket" is a dup of
 * /dev/null, so close() in the server works and a leaked one shows as an
 * open fd.  Datagrams for a socket are queued by the harness and read by
 * udp_recv or udp_recv_many; sends go to a hook.
 */
#ifndef TFTPX_FUZZ_FAKE_H
#define TFTPX_FUZZ_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "udp.h"

/* ---- loop ---- */

#define FAKE_T0		1000000000u	/* the clock at loop_new, us */

void	fake_loop_set_now(struct loop *l, uint64_t now);
/* The earliest armed timer's deadline, or 0 when none is armed. */
uint64_t fake_loop_next(const struct loop *l);
size_t	fake_loop_ntimers(const struct loop *l);
/* Watched fds, in the order they were started. */
size_t	fake_loop_nfds(const struct loop *l);
struct loop_fd *fake_loop_fd(const struct loop *l, size_t i);
/* The nth loop_fd_start() from now fails with ENOMEM (0: none does). */
void	fake_loop_fail_fd_start(unsigned nth);

/* ---- udp ---- */

struct fake_udp_hooks {
	void	*arg;
	/* before udp_bind hands out fd for a (port still as asked) */
	void	(*bind)(void *arg, int fd, const struct udp_addr *a,
		    int listening);
	void	(*send)(void *arg, int fd, const uint8_t *pkt, size_t len,
		    const struct udp_addr *to);
};

/* Start a run: no queued datagrams, hooks h, the n-th bind fails (0: none). */
void	fake_udp_reset(const struct fake_udp_hooks *h, unsigned fail_bind);
/* End of the process: close the /dev/null fd the sockets are dups of. */
void	fake_udp_close(void);
/* Queue a datagram from `from` for fd; returns -1 when the queue is full. */
int	fake_udp_queue(int fd, const uint8_t *buf, size_t len,
	    const struct udp_addr *from);
/* Drop what udp_recv has not taken. */
void	fake_udp_flush(void);
/* Binds so far in this run; the highest fd ever handed out. */
unsigned fake_udp_binds(void);
int	fake_udp_max_fd(void);

#endif
