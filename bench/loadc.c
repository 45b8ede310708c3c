/*
 * loadc.c - an independent TFTP load client, so `make bench`
 * (bench/run.py) can cross-check the figures of tftpx's own load
 * generator.  Not installed; not part of tftpx.  It shares no code with
 * src/ on purpose: a mistake the two had in common would not show.
 *
 *   loadc [-c CONCURRENCY] [-n TOTAL] [-b BLKSIZE] [-t TIMEOUT_MS]
 *         [-r RETRIES] HOST PORT FILE
 *
 * Downloads FILE (RRQ, octet) TOTAL times (default CONCURRENCY), at most
 * CONCURRENCY at once, counts what arrives and keeps none of it, and
 * prints one JSON object on one line:
 *
 *   {"transfers":N,"ok":N,"failed":N,"bytes":N,"seconds":F,"mbps":F,
 *    "dup_data":N,"dup_data_per_transfer":F,"retransmits":N,
 *    "max_dup_data":N,"first_error":"..."}
 *
 * Each transfer has a UDP socket of its own, bound to port 0 and closed
 * when the transfer ends, as so many separate ordinary clients would:
 * the kernel picks the ports and may hand one out again soon after, and
 * a server must tell such a new request from a re-sent old one.
 * Lock-step only (windowsize 1); the only option is blksize, asked with
 * -b.  One process drives every transfer from one epoll loop.
 *
 * dup_data counts DATA for the block already ACKed, i.e. re-sends by the
 * server that reached us; each is ACKed again, as lock-step clients do.
 * retransmits counts our own re-sends on timeout.  A transfer fails on
 * an ERROR from the server, on RETRIES re-sends in a row that brought no
 * progress, or when the run reaches its 600 s cap.
 *
 * Exit 0 if every transfer succeeded, 1 if not, 2 on a usage error.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OP_RRQ		1
#define OP_DATA		3
#define OP_ACK		4
#define OP_ERROR	5
#define OP_OACK		6

#define ERR_OPTION	8		/* RFC 2347: option negotiation */

#define HDR		4		/* opcode + block, or + error code */
#define DEF_BLKSIZE	512
#define MIN_BLKSIZE	8		/* RFC 2348 */
#define MAX_BLKSIZE	65464
#define REQ_MAX		512		/* longest RRQ we send */
#define PKT_MAX		65536		/* any UDP datagram fits */
#define WALL_CAP_MS	600000		/* no run lasts longer */
#define MAX_CONC	65536
#define MAX_TOTAL	100000000UL
#define MAX_TIMEOUT	60000		/* ms */
#define MAX_RETRIES	100
#define DRAIN		16		/* reads per wakeup, then the others */
#define EVENTS		256
#define ERRLEN		256

struct xfer {
	struct xfer		*prev, *next;	/* timer list, by deadline */
	int			 busy;		/* slot holds a transfer */
	int			 fd;
	int			 locked;	/* peer is the server's TID */
	int			 got_oack;
	int			 got_data;	/* acked is a DATA block */
	uint16_t		 acked;		/* last block ACKed */
	unsigned		 blksize;
	unsigned		 tries;		/* re-sends since progress */
	uint64_t		 deadline;	/* ms, CLOCK_MONOTONIC */
	uint64_t		 bytes;
	unsigned long		 dups;
	struct sockaddr_storage	 peer;		/* where we send */
	socklen_t		 peerlen;
	size_t			 lastlen;
	unsigned char		 last[REQ_MAX];	/* what a timeout re-sends */
};

struct run {
	/* settings */
	struct sockaddr_storage	 srv;		/* HOST PORT */
	socklen_t		 srvlen;
	unsigned		 conc;
	unsigned long		 total;
	unsigned		 blksize;	/* 0: ask no option */
	unsigned		 timeout;	/* ms */
	unsigned		 retries;
	unsigned char		 rrq[REQ_MAX];
	size_t			 rrqlen;
	/* state */
	int			 epfd;
	uint64_t		 now;		/* ms, as of the last wakeup */
	struct xfer		*slots;
	unsigned		*freeq;		/* indexes of idle slots */
	unsigned		 nfree;
	unsigned		 active;
	struct xfer		*head, *tail;	/* timer list */
	/* results */
	unsigned long		 started, ok, failed;
	unsigned long		 dup, retrans, maxdup;
	uint64_t		 bytes;
	char			 first_error[ERRLEN];
};

static unsigned char	pkt[PKT_MAX];

static void fail(struct run *, struct xfer *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void
put16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/*
 * The deadline list.  Every transfer waits the same timeout, and "now"
 * never goes back, so appending keeps the list sorted: arming, moving
 * and stopping a timer are O(1) and the head is the next to expire.
 */
static void
timer_stop(struct run *r, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else if (r->head == x)
		r->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else if (r->tail == x)
		r->tail = x->prev;
	x->prev = x->next = NULL;
}

static void
timer_arm(struct run *r, struct xfer *x)
{
	timer_stop(r, x);
	x->deadline = r->now + r->timeout;
	x->prev = r->tail;
	if (r->tail)
		r->tail->next = x;
	else
		r->head = x;
	r->tail = x;
}

/* The slot goes back to the idle queue; refill() reuses it. */
static void
release(struct run *r, struct xfer *x)
{
	timer_stop(r, x);
	if (x->fd >= 0)
		close(x->fd);
	x->fd = -1;
	x->busy = 0;
	if (x->dups > r->maxdup)
		r->maxdup = x->dups;
	r->active--;
	r->freeq[r->nfree++] = (unsigned)(x - r->slots);
}

static void
succeed(struct run *r, struct xfer *x)
{
	r->ok++;
	r->bytes += x->bytes;
	release(r, x);
}

static void
fail(struct run *r, struct xfer *x, const char *fmt, ...)
{
	va_list ap;

	if (r->first_error[0] == '\0') {
		va_start(ap, fmt);
		(void)vsnprintf(r->first_error, sizeof(r->first_error), fmt,
		    ap);
		va_end(ap);
	}
	r->failed++;
	release(r, x);
}

/*
 * A full socket buffer is a lost datagram: the timer re-sends.  Anything
 * else ends the transfer; -1 tells the caller x is gone.
 */
static int
xsend(struct run *r, struct xfer *x, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = sendto(x->fd, buf, len, 0,
		    (const struct sockaddr *)&x->peer, x->peerlen);
	while (n < 0 && errno == EINTR);
	if (n >= 0 || errno == EAGAIN || errno == ENOBUFS)
		return 0;
	fail(r, x, "sendto: %s", strerror(errno));
	return -1;
}

static int
send_ack(struct run *r, struct xfer *x, unsigned block)
{
	put16(x->last, OP_ACK);
	put16(x->last + 2, block);
	x->lastlen = HDR;
	return xsend(r, x, x->last, x->lastlen);
}

/* Told once, not kept for re-sends: the transfer ends with it. */
static void
send_error(struct run *r, struct xfer *x, unsigned code, const char *msg)
{
	unsigned char b[HDR + 64];
	size_t n = strlen(msg);

	if (n > sizeof(b) - HDR - 1)
		n = sizeof(b) - HDR - 1;
	put16(b, OP_ERROR);
	put16(b + 2, code);
	memcpy(b + HDR, msg, n);
	b[HDR + n] = '\0';
	(void)xsend(r, x, b, HDR + n + 1);
}

static int
bind_any(int fd, int family)
{
	struct sockaddr_storage ss;
	socklen_t len;

	/* all zeros: the wildcard address, port 0 (the kernel picks) */
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	len = family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
	return bind(fd, (struct sockaddr *)&ss, len);
}

static void
start(struct run *r, struct xfer *x)
{
	struct epoll_event ev;
	int family = r->srv.ss_family;

	memset(x, 0, sizeof(*x));
	x->busy = 1;
	x->blksize = DEF_BLKSIZE;
	x->peer = r->srv;
	x->peerlen = r->srvlen;
	memcpy(x->last, r->rrq, r->rrqlen);
	x->lastlen = r->rrqlen;
	r->started++;
	r->active++;
	x->fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		fail(r, x, "socket: %s", strerror(errno));
		return;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = x;
	if (bind_any(x->fd, family) < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, x->fd, &ev) < 0) {
		fail(r, x, "bind/epoll_ctl: %s", strerror(errno));
		return;
	}
	if (xsend(r, x, x->last, x->lastlen) == 0)
		timer_arm(r, x);
}

static void
refill(struct run *r)
{
	while (r->nfree > 0 && r->started < r->total)
		start(r, &r->slots[r->freeq[--r->nfree]]);
}

static void
expire(struct run *r, struct xfer *x)
{
	if (x->tries >= r->retries) {
		if (!x->locked)
			fail(r, x, "timeout: no answer to the RRQ after %u "
			    "re-sends", x->tries);
		else
			fail(r, x, "timeout: waiting for block %u after %u "
			    "re-sends", (x->acked + 1U) & 0xffff, x->tries);
		return;
	}
	x->tries++;
	r->retrans++;
	if (xsend(r, x, x->last, x->lastlen) == 0)
		timer_arm(r, x);
}

static void
on_data(struct run *r, struct xfer *x, size_t len)
{
	unsigned block;
	size_t n;

	if (len < HDR) {
		fail(r, x, "short DATA (%zu bytes)", len);
		return;
	}
	block = get16(pkt + 2);
	n = len - HDR;
	if (x->got_data && block == x->acked) {
		/* the server re-sent it: our ACK was lost or late */
		x->dups++;
		r->dup++;
		(void)xsend(r, x, x->last, x->lastlen);
		return;
	}
	if (block != ((x->acked + 1U) & 0xffff))
		return;			/* stale; the timer covers us */
	if (n > x->blksize) {
		fail(r, x, "DATA block %u of %zu bytes, blksize %u", block,
		    n, x->blksize);
		return;
	}
	x->bytes += n;
	x->acked = (uint16_t)block;
	x->got_data = 1;
	x->tries = 0;
	if (send_ack(r, x, block) < 0)
		return;
	if (n < x->blksize)
		succeed(r, x);
	else
		timer_arm(r, x);
}

/* 0 and the value, or -1 if OACK is not an answer to what we asked. */
static int
parse_oack(const struct run *r, size_t len, unsigned *bs)
{
	const char *p = (const char *)pkt + 2, *end = (const char *)pkt + len;
	const char *name, *val;
	unsigned long v;
	char *e;

	*bs = DEF_BLKSIZE;
	while (p < end) {
		name = p;
		if ((p = memchr(p, '\0', (size_t)(end - p))) == NULL)
			return -1;
		val = ++p;
		if (p >= end || (p = memchr(p, '\0', (size_t)(end - p))) ==
		    NULL)
			return -1;
		p++;
		if (strcasecmp(name, "blksize") != 0)
			return -1;
		if (*val < '0' || *val > '9')
			return -1;
		errno = 0;
		v = strtoul(val, &e, 10);
		if (errno || *e != '\0' || v < MIN_BLKSIZE ||
		    v > r->blksize)
			return -1;
		*bs = (unsigned)v;
	}
	return 0;
}

static void
on_oack(struct run *r, struct xfer *x, size_t len)
{
	unsigned bs;

	if (x->got_data)
		return;			/* a late copy; DATA has begun */
	if (x->got_oack) {
		/* the server re-sent it: our ACK 0 was lost or late */
		(void)xsend(r, x, x->last, x->lastlen);
		return;
	}
	if (r->blksize == 0 || parse_oack(r, len, &bs) < 0) {
		send_error(r, x, ERR_OPTION, "bad OACK");
		if (x->busy)
			fail(r, x, "%s", r->blksize == 0 ?
			    "OACK to a request without options" :
			    "OACK with an option or value not asked for");
		return;
	}
	x->blksize = bs;
	x->got_oack = 1;
	x->tries = 0;
	if (send_ack(r, x, 0) == 0)
		timer_arm(r, x);
}

static void
on_error(struct run *r, struct xfer *x, size_t len)
{
	const char *msg = (const char *)pkt + HDR;
	size_t n;

	if (len < HDR) {
		fail(r, x, "server error (short packet)");
		return;
	}
	n = strnlen(msg, len - HDR);
	fail(r, x, "server error %u: %.*s", get16(pkt + 2), (int)n, msg);
}

static void
on_packet(struct run *r, struct xfer *x, size_t len)
{
	unsigned op;

	if (len < 2) {
		fail(r, x, "short packet (%zu bytes)", len);
		return;
	}
	op = get16(pkt);
	switch (op) {
	case OP_DATA:
		on_data(r, x, len);
		break;
	case OP_OACK:
		on_oack(r, x, len);
		break;
	case OP_ERROR:
		on_error(r, x, len);
		break;
	default:
		fail(r, x, "unexpected opcode %u from the server", op);
		break;
	}
}

static int
same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;
	const struct sockaddr_in *b4 = (const struct sockaddr_in *)b;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)b;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return memcmp(&a6->sin6_addr, &b6->sin6_addr,
	    sizeof(a6->sin6_addr)) == 0;
}

static int
same_port(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_port ==
		    ((const struct sockaddr_in *)b)->sin_port;
	return ((const struct sockaddr_in6 *)a)->sin6_port ==
	    ((const struct sockaddr_in6 *)b)->sin6_port;
}

/*
 * The first answer from HOST fixes the server's TID; from then on only
 * that address and port are heard.  Strangers are dropped in silence:
 * this tool measures the server, it does not police the network.
 */
static int
from_server(const struct run *r, struct xfer *x,
    const struct sockaddr_storage *from, socklen_t len)
{
	if (!same_host(from, &r->srv))
		return 0;
	if (x->locked)
		return same_port(from, &x->peer);
	memcpy(&x->peer, from, len);
	x->peerlen = len;
	x->locked = 1;
	return 1;
}

static void
on_readable(struct run *r, struct xfer *x)
{
	struct sockaddr_storage from;
	socklen_t fromlen;
	ssize_t n;
	int i;

	for (i = 0; i < DRAIN && x->busy; i++) {
		/* zeroed, so a short address never compares as a match */
		memset(&from, 0, sizeof(from));
		fromlen = sizeof(from);
		n = recvfrom(x->fd, pkt, sizeof(pkt), 0,
		    (struct sockaddr *)&from, &fromlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN)
				fail(r, x, "recvfrom: %s", strerror(errno));
			return;
		}
		if (fromlen <= sizeof(from) &&
		    from_server(r, x, &from, fromlen))
			on_packet(r, x, (size_t)n);
	}
}

/* ms until the next deadline or the end of the run, for epoll_wait */
static int
wait_ms(const struct run *r, uint64_t end)
{
	uint64_t t = end;

	if (r->head && r->head->deadline < t)
		t = r->head->deadline;
	return t > r->now ? (int)(t - r->now) : 0;
}

static void
fail_all(struct run *r, const char *why)
{
	unsigned i;

	for (i = 0; i < r->conc; i++)
		if (r->slots[i].busy)
			fail(r, &r->slots[i], "%s", why);
}

static void
run_loop(struct run *r)
{
	struct epoll_event ev[EVENTS];
	uint64_t end;
	int n, i;

	r->now = now_ms();
	end = r->now + WALL_CAP_MS;
	refill(r);
	while (r->active > 0) {
		n = epoll_wait(r->epfd, ev, EVENTS, wait_ms(r, end));
		if (n < 0 && errno != EINTR) {
			fail_all(r, "epoll_wait failed");
			return;
		}
		r->now = now_ms();
		for (i = 0; i < n; i++)
			on_readable(r, ev[i].data.ptr);
		while (r->head && r->head->deadline <= r->now)
			expire(r, r->head);
		if (r->now >= end) {
			fail_all(r, "wall-clock cap of 600 s reached");
			return;
		}
		refill(r);
	}
}

/* JSON string body: quote, backslash and every non-printable escaped */
static void
json_escape(char *out, size_t outlen, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t o = 0;

	for (; *s != '\0' && o + 7 < outlen; s++) {
		c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			/* bytes past ASCII too: the server's text may not
			 * be UTF-8, and the line must stay valid JSON */
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

static void
print_json(const struct run *r, double secs)
{
	char err[ERRLEN * 6 + 8];

	json_escape(err, sizeof(err), r->first_error);
	printf("{\"transfers\":%lu,\"ok\":%lu,\"failed\":%lu,\"bytes\":%llu,"
	    "\"seconds\":%.6f,\"mbps\":%.3f,\"dup_data\":%lu,"
	    "\"dup_data_per_transfer\":%.6f,\"retransmits\":%lu,"
	    "\"max_dup_data\":%lu,\"first_error\":\"%s\"}\n",
	    r->started, r->ok, r->failed, (unsigned long long)r->bytes, secs,
	    secs > 0 ? (double)r->bytes / secs / 1e6 : 0.0, r->dup,
	    r->started ? (double)r->dup / (double)r->started : 0.0,
	    r->retrans, r->maxdup, err);
}

static int
build_rrq(struct run *r, const char *file)
{
	char opt[32] = "blksize";	/* "blksize\0N\0", or nothing */
	size_t flen = strlen(file) + 1, olen = 0;
	int n;

	if (r->blksize) {
		n = snprintf(opt + 8, sizeof(opt) - 8, "%u", r->blksize);
		if (n < 0 || (size_t)n >= sizeof(opt) - 8)
			return -1;
		olen = 8 + (size_t)n + 1;
	}
	if (2 + flen + sizeof("octet") + olen > sizeof(r->rrq))
		return -1;
	put16(r->rrq, OP_RRQ);
	memcpy(r->rrq + 2, file, flen);
	memcpy(r->rrq + 2 + flen, "octet", sizeof("octet"));
	memcpy(r->rrq + 2 + flen + sizeof("octet"), opt, olen);
	r->rrqlen = 2 + flen + sizeof("octet") + olen;
	return 0;
}

static int
parse_ul(const char *s, unsigned long lo, unsigned long hi,
    unsigned long *v)
{
	char *e;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &e, 10);
	return errno || *e != '\0' || *v < lo || *v > hi ? -1 : 0;
}

static int
parse_host(struct run *r, const char *host, const char *port)
{
	struct addrinfo hints, *ai;
	unsigned long p;

	if (parse_ul(port, 1, 65535, &p) < 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -1;
	if (ai->ai_addrlen > sizeof(r->srv) ||
	    (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)) {
		freeaddrinfo(ai);
		return -1;
	}
	memcpy(&r->srv, ai->ai_addr, ai->ai_addrlen);
	r->srvlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* -c, -n, -b, -t, -r; 0 if all are well formed and in range */
static int
parse_opts(struct run *r, int argc, char **argv)
{
	unsigned long v;
	int c, total_set = 0;

	r->conc = 1;
	r->timeout = 1000;
	r->retries = 5;
	opterr = 0;			/* main prints the one usage line */
	while ((c = getopt(argc, argv, "+c:n:b:t:r:")) != -1) {
		switch (c) {
		case 'c':
			if (parse_ul(optarg, 1, MAX_CONC, &v) < 0)
				return -1;
			r->conc = (unsigned)v;
			break;
		case 'n':
			if (parse_ul(optarg, 1, MAX_TOTAL, &r->total) < 0)
				return -1;
			total_set = 1;
			break;
		case 'b':
			if (parse_ul(optarg, MIN_BLKSIZE, MAX_BLKSIZE, &v) < 0)
				return -1;
			r->blksize = (unsigned)v;
			break;
		case 't':
			if (parse_ul(optarg, 1, MAX_TIMEOUT, &v) < 0)
				return -1;
			r->timeout = (unsigned)v;
			break;
		case 'r':
			if (parse_ul(optarg, 0, MAX_RETRIES, &v) < 0)
				return -1;
			r->retries = (unsigned)v;
			break;
		default:
			return -1;
		}
	}
	if (!total_set)
		r->total = r->conc;
	if (r->total < r->conc)
		r->conc = (unsigned)r->total;	/* no idle slots */
	return argc - optind == 3 ? 0 : -1;
}

/* A thousand transfers are a thousand sockets; the soft limit is 1024. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
setup(struct run *r)
{
	unsigned i;

	r->slots = calloc(r->conc, sizeof(*r->slots));
	r->freeq = calloc(r->conc, sizeof(*r->freeq));
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->slots == NULL || r->freeq == NULL || r->epfd < 0)
		return -1;
	/* reversed, so the first transfers take the first slots */
	for (i = 0; i < r->conc; i++) {
		r->slots[i].fd = -1;
		r->freeq[r->nfree++] = r->conc - 1 - i;
	}
	return 0;
}

static void
teardown(struct run *r)
{
	if (r->epfd >= 0)
		close(r->epfd);
	free(r->slots);
	free(r->freeq);
}

int
main(int argc, char **argv)
{
	static struct run run;
	struct run *r = &run;
	double t0;
	int rc;

	r->epfd = -1;
	if (parse_opts(r, argc, argv) < 0 ||
	    parse_host(r, argv[optind], argv[optind + 1]) < 0 ||
	    build_rrq(r, argv[optind + 2]) < 0) {
		fprintf(stderr, "usage: loadc [-c CONCURRENCY] [-n TOTAL] "
		    "[-b BLKSIZE] [-t TIMEOUT_MS] [-r RETRIES] HOST PORT "
		    "FILE\n");
		return 2;
	}
	raise_nofile();
	if (setup(r) < 0) {
		perror("loadc: setup");
		teardown(r);
		return 1;
	}
	t0 = now_s();
	run_loop(r);
	print_json(r, now_s() - t0);
	teardown(r);
	rc = r->ok == r->started ? 0 : 1;
	return rc;
}
