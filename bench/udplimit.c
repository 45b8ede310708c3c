/*
 * udplimit.c - what loopback UDP itself allows, as the yardstick for
 * `make bench` (bench/run.py).  Not installed; not part of tftpx.
 *
 *   udplimit pingpong SIZE [SECONDS]   one SIZE-byte datagram out, a 4-byte
 *                                      answer back, one in flight: the
 *                                      shape of lock-step TFTP (DATA, ACK)
 *   udplimit stream SIZE [SECONDS]     a sender blasting SIZE-byte datagrams
 *                                      (sendmmsg, 16 at a time), a receiver
 *                                      counting what arrives
 *
 * Both ends are plain processes on 127.0.0.1 (fork), so the figure includes
 * the scheduler work a real client and server pay.  Each run is bounded by
 * SECONDS (default 2, at most 60) and by a datagram count, and prints one
 * JSON object:
 *
 *   {"mode":"pingpong","size":1472,"seconds":2.000,"datagrams":N,
 *    "bytes":N,"mbps":N,"rtt_us":N}
 *
 * mbps is payload bytes (SIZE - 4, the TFTP DATA header left out) per
 * second in units of 10^6 bytes, as bench/run.py reports every rate.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXSIZE		65507		/* largest UDP payload over IPv4 */
#define MAXCOUNT	50000000UL	/* bound on datagrams in one run */
#define BATCH		16
#define ANSWER		4		/* an ACK's size */
#define BUFBYTES	(8 << 20)	/* socket buffers asked for */

static uint8_t	buf[BATCH][MAXSIZE];

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A socket on 127.0.0.1 port 0 with big buffers (the kernel caps them at
 * its rmem_max/wmem_max; as root SO_*BUFFORCE passes that cap, so a
 * receiver that is a moment late does not lose a burst).
 */
static int
bound_socket(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd, v = BUFBYTES;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)sin, sizeof(*sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)sin, &len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Wait up to ms for fd to be readable: 1 yes, 0 timed out, -1 error. */
static int
wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int rc;

	do
		rc = poll(&p, 1, ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static void
print_result(const char *mode, size_t size, double secs, unsigned long n,
    double rtt_us)
{
	double bytes = (double)n * (double)(size - ANSWER);

	printf("{\"mode\":\"%s\",\"size\":%zu,\"seconds\":%.3f,"
	    "\"datagrams\":%lu,\"bytes\":%.0f,\"mbps\":%.1f", mode, size,
	    secs, n, bytes, secs > 0 ? bytes / secs / 1e6 : 0.0);
	if (rtt_us > 0)
		printf(",\"rtt_us\":%.2f", rtt_us);
	printf("}\n");
}

/*
 * The child echoes a 4-byte answer to each datagram; the parent sends the
 * next only when the answer is in.  Blocking recv, no poll: the fewest
 * system calls a round trip can cost, so the limit is a ceiling.  A lost
 * datagram (it should not happen on loopback) ends the run after 1 s of
 * silence (SO_RCVTIMEO) rather than hanging it.
 */
static int
pingpong(size_t size, double secs)
{
	struct timeval tv1 = { .tv_sec = 1 }, tv2 = { .tv_sec = 2 };
	struct sockaddr_in a, b;
	int fa, fb, status;
	unsigned long n = 0;
	double t0, t;
	pid_t pid;
	ssize_t r;

	if ((fa = bound_socket(&a)) < 0 || (fb = bound_socket(&b)) < 0 ||
	    connect(fa, (struct sockaddr *)&b, sizeof(b)) < 0 ||
	    connect(fb, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udplimit: socket");
		return 1;
	}
	if ((pid = fork()) < 0) {
		perror("udplimit: fork");
		return 1;
	}
	if (pid == 0) {
		close(fa);
		(void)setsockopt(fb, SOL_SOCKET, SO_RCVTIMEO, &tv2, sizeof(tv2));
		for (;;) {
			r = recv(fb, buf[0], MAXSIZE, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 1)		/* the end mark, or 2 s quiet */
				_exit(0);
			if (send(fb, buf[0], ANSWER, 0) < 0)
				_exit(1);
		}
	}
	close(fb);
	(void)setsockopt(fa, SOL_SOCKET, SO_RCVTIMEO, &tv1, sizeof(tv1));
	memset(buf[0], 0xa5, size);
	t0 = t = now_s();
	while (n < MAXCOUNT && t - t0 < secs) {
		if (send(fa, buf[0], size, 0) < 0 ||
		    recv(fa, buf[1], MAXSIZE, 0) != ANSWER)
			break;
		n++;
		/* the clock every 64 round trips: it costs a syscall-ish */
		if ((n & 63) == 0)
			t = now_s();
	}
	t = now_s();
	(void)send(fa, buf[0], 1, 0);
	(void)waitpid(pid, &status, 0);
	print_result("pingpong", size, t - t0, n,
	    n ? (t - t0) / (double)n * 1e6 : 0);
	return n ? 0 : 1;
}

/*
 * The child counts full-size datagrams from the first to the last one that
 * arrived and writes "count seconds" to a pipe; the parent sends batches
 * for secs, then a few 1-byte end marks.  What the receiver saw is the
 * rate: datagrams the kernel dropped because the receiver was behind do
 * not count.
 */
static int
stream(size_t size, double secs)
{
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in a, b;
	int fa, fb, pfd[2], status, i, got;
	unsigned long n = 0, sent = 0;
	double t0 = 0, t1 = 0, ts;
	char line[128];
	ssize_t r;
	pid_t pid;

	if ((fa = bound_socket(&a)) < 0 || (fb = bound_socket(&b)) < 0 ||
	    connect(fa, (struct sockaddr *)&b, sizeof(b)) < 0 ||
	    pipe(pfd) < 0) {
		perror("udplimit: socket");
		return 1;
	}
	memset(mm, 0, sizeof(mm));
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = size;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	if ((pid = fork()) < 0) {
		perror("udplimit: fork");
		return 1;
	}
	if (pid == 0) {
		close(fa);
		close(pfd[0]);
		for (;;) {
			if (wait_readable(fb, 1000) <= 0)
				break;
			got = recvmmsg(fb, mm, BATCH, MSG_DONTWAIT, NULL);
			if (got <= 0)
				continue;
			for (i = 0; i < got; i++) {
				if (mm[i].msg_len != size)
					goto done;
				if (n++ == 0)
					t0 = now_s();
			}
			t1 = now_s();
		}
done:
		i = snprintf(line, sizeof(line), "%lu %.9f\n", n,
		    n > 1 ? t1 - t0 : 0.0);
		if (write(pfd[1], line, (size_t)i) < 0)
			_exit(1);
		_exit(0);
	}
	close(fb);
	close(pfd[1]);
	memset(buf, 0x5a, sizeof(buf));
	/* let the receiver reach its poll, so the start is not a burst lost */
	usleep(50000);
	ts = now_s();
	while (sent < MAXCOUNT && now_s() - ts < secs) {
		got = sendmmsg(fa, mm, BATCH, 0);
		if (got < 0 && errno != ENOBUFS && errno != EAGAIN)
			break;
		if (got > 0)
			sent += (unsigned long)got;
	}
	usleep(20000);
	for (i = 0; i < 5; i++)
		(void)send(fa, buf[0], 1, 0);
	r = read(pfd[0], line, sizeof(line) - 1);
	(void)waitpid(pid, &status, 0);
	if (r <= 0)
		return 1;
	line[r] = '\0';
	if (sscanf(line, "%lu %lf", &n, &t1) != 2 || n < 2 || t1 <= 0)
		return 1;
	/* n - 1 intervals between the first and the last datagram */
	print_result("stream", size, t1, n - 1, 0);
	return 0;
}

int
main(int argc, char **argv)
{
	double secs = 2;
	long size;
	char *e;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 3 || argc > 4)
		goto usage;
	size = strtol(argv[2], &e, 10);
	if (*e != '\0' || size < ANSWER + 1 || size > MAXSIZE)
		goto usage;
	if (argc == 4) {
		secs = strtod(argv[3], &e);
		if (*e != '\0' || !(secs > 0 && secs <= 60))
			goto usage;
	}
	if (strcmp(argv[1], "pingpong") == 0)
		return pingpong((size_t)size, secs);
	if (strcmp(argv[1], "stream") == 0)
		return stream((size_t)size, secs);
usage:
	fprintf(stderr, "usage: udplimit pingpong|stream SIZE [SECONDS]\n"
	    "  SIZE 5..%d bytes per datagram, SECONDS up to 60 (default 2)\n",
	    MAXSIZE);
	return 2;
}
