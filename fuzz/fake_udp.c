/*
 * fake_udp.c - udp_bind, udp_recv, udp_recv_many, udp_send,
 * udp_send_train and udp_send_from in memory, for fuzz_request (see
 * fake.h).  The rest of src/udp.h (address parsing, formatting,
 * comparing) is the real src/udp.c, built for this target with these six
 * names defined away.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake.h"
#include "fuzz.h"

#define QMAX		8
#define PORT_BASE	40000	/* first "ephemeral" port handed out */

struct qd {
	int		 fd;
	struct udp_addr	 from;
	uint8_t		*buf;
	size_t		 len;
};

static struct fake_udp_hooks hooks;
static struct qd q[QMAX];
static unsigned nq;
static int nullfd = -1;
static unsigned binds, fail_at;
static int max_fd = -1;

void
fake_udp_reset(const struct fake_udp_hooks *h, unsigned fail_bind)
{
	fake_udp_flush();
	/* opened before the run, so the fd is not counted as the run's */
	if (nullfd < 0 &&
	    (nullfd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		abort();
	hooks = *h;
	binds = 0;
	fail_at = fail_bind;
}

void
fake_udp_close(void)
{
	fake_udp_flush();
	if (nullfd >= 0)
		close(nullfd);
	nullfd = -1;
}

int
fake_udp_queue(int fd, const uint8_t *buf, size_t len,
    const struct udp_addr *from)
{
	struct qd *d;

	if (nq == QMAX)
		return -1;
	d = &q[nq];
	if ((d->buf = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(d->buf, buf, len);
	d->len = len;
	d->fd = fd;
	d->from = *from;
	nq++;
	return 0;
}

void
fake_udp_flush(void)
{
	while (nq > 0)
		free(q[--nq].buf);
}

unsigned
fake_udp_binds(void)
{
	return binds;
}

int
fake_udp_max_fd(void)
{
	return max_fd;
}

int
udp_bind(struct udp_addr *a, int listening)
{
	int fd, fam = a->ss.ss_family;

	FUZZ_CHECK(fam == AF_INET || fam == AF_INET6);
	if (++binds == fail_at) {
		errno = EMFILE;
		return -1;
	}
	if ((fd = fcntl(nullfd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -1;
	if (fd > max_fd)
		max_fd = fd;
	if (hooks.bind)
		hooks.bind(hooks.arg, fd, a, listening);
	/* what getsockname() would say: the address, a port of our own */
	if (udp_port(a) == 0)
		udp_set_port(a, PORT_BASE + (int)(binds % 20000));
	a->len = fam == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	return fd;
}

long
udp_recv(int fd, uint8_t *buf, size_t cap, struct udp_addr *from,
    struct udp_addr *to)
{
	struct qd d;
	unsigned i;
	size_t n;

	/* the listening sockets are not the harness's way in */
	FUZZ_CHECK(to == NULL);
	for (i = 0; i < nq; i++)
		if (q[i].fd == fd)
			break;
	if (i == nq) {
		errno = EAGAIN;
		return -1;
	}
	d = q[i];
	memmove(&q[i], &q[i + 1], (nq - i - 1) * sizeof(q[0]));
	nq--;
	/* a datagram longer than the buffer is cut, as recvmsg does */
	n = d.len < cap ? d.len : cap;
	memcpy(buf, d.buf, n);
	*from = d.from;
	free(d.buf);
	return (long)n;
}

/* recvmmsg: what udp_recv gives, up to n datagrams; 0 when none waits */
int
udp_recv_many(int fd, uint8_t *bufs, size_t cap, unsigned n,
    struct udp_addr *from, size_t *lens)
{
	unsigned i;
	long len;

	for (i = 0; i < n; i++) {
		if ((len = udp_recv(fd, bufs + i * cap, cap, &from[i],
		    NULL)) < 0)
			break;
		lens[i] = (size_t)len;
	}
	return (int)i;
}

int
udp_send(int fd, const uint8_t *buf, size_t len, const struct udp_addr *to)
{
	if (hooks.send)
		hooks.send(hooks.arg, fd, buf, len, to);
	return 0;
}

/* --single-port sends: the same, the source address aside. */
int
udp_send_from(int fd, int sock_family, const uint8_t *buf, size_t len,
    size_t seg, const struct udp_addr *to, const struct udp_addr *src)
{
	(void)sock_family;
	(void)src;
	return udp_send_train(fd, buf, len, seg, to);
}

/* A train is its datagrams, each seg bytes but the last: one send each. */
int
udp_send_train(int fd, const uint8_t *buf, size_t len, size_t seg,
    const struct udp_addr *to)
{
	size_t off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < seg ? len - off : seg;
		udp_send(fd, buf + off, n, to);
	}
	return 0;
}
