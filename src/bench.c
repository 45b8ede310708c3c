/*
 * bench.c - `tftpx bench`: TOTAL transfers of one file, CONCURRENCY at a
 * time, from one event loop (the server's loop.c), each driven by the
 * same client state machine as `tftpx get`/`put` (xfer.c).
 *
 * A slot is one concurrent lane: it owns a socket (the transfer's TID)
 * and a struct xfer; when its transfer ends the slot starts the next of
 * TOTAL on a fresh socket.  Downloads are discarded, or with --verify
 * compared block by block with the same range of the local file (pread,
 * so memory does not grow with the file).  Uploads pread the local file.
 * One fd on the local file serves every slot: pread has no position.
 *
 * Failures (an ERROR from the server, a timeout, a verify mismatch) are
 * counted and the run goes on; the first one's reason is printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "files.h"
#include "log.h"
#include "loop.h"
#include "packet.h"
#include "session.h"
#include "udp.h"
#include "xfer.h"

#define BENCH_SOCKBUF	(4 << 20)	/* as `tftpx get`: windows need room */
#define BENCH_RTO_MIN_US 10000		/* RTT timer floor of a put */
#define NAME_MAX_B	512		/* a put's remote name with ".K" */
/*
 * A server that remembers finished uploads (tftpx serve: --grace, 2 s
 * after the first DATA by default; older servers: 15 s after the end,
 * and for downloads too) drops an identical request from the same
 * address and port as a late duplicate.  Every transfer of a lane sends
 * the same request, so a new socket must not reuse a port that finished
 * a transfer this recently; a port the kernel hands out again sooner is
 * refused and another one taken (a few tries, then taken anyway).
 */
#define PORT_REST_US	(20 * 1000000ull)
#define BIND_TRIES	16
#define REASON_MAX	(PKT_ERRMSG_MAX + 128)

struct bench;

struct slot {
	struct session		 ss;		/* sock -1: idle */
	struct bench		*b;
	unsigned		 idx;		/* lane number: put names */
	uint64_t		 seq;		/* transfer number, from 1 */
	uint64_t		 start;
	int			 lport;		/* our port */
	uint64_t		 off;		/* get: bytes received */
	int			 bad;		/* verify: differs */
	uint64_t		 bad_off;	/*  at this byte */
	char			 name[NAME_MAX_B];
};

struct bench {
	const struct bench_cfg	*cfg;
	struct loop		*loop;
	struct udp_addr		 server;
	struct udp_addr		 local;		/* wildcard of its family */
	int			 fd;		/* the local file, or -1 */
	const char		*fd_name;
	uint64_t		 fd_size;
	struct slot		*slots;
	unsigned		 nslots;
	uint64_t		 started, finished, ok, failed;
	uint64_t		 verify_errors, bytes, retransmits, timeouts;
	uint64_t		*times;		/* microseconds of each ok transfer */
	uint64_t		 ntimes, times_cap;
	uint64_t		 t0, t1;
	int			 reported;	/* first failure printed */
	uint64_t		*port_done;	/* [65536]: when a port was freed */
	int			 stopping;	/* interrupted: start nothing */
	struct session_hub	 hub;		/* a window in one recvmmsg */
	uint8_t			 cmp[PKT_MAX];
};

/* ---- xfer I/O callbacks ----------------------------------------------- */

/* Get without --verify: count and drop. */
static int
io_discard(void *ctx, const uint8_t *buf, size_t len)
{
	struct slot *s = session_owner(ctx);

	(void)buf;
	s->off += len;
	return 0;
}

/*
 * Get with --verify: compare with the same range of the local copy.  A
 * mismatch is noted (its first offset) and the transfer goes on, so the
 * server sees an ordinary client and the run its ordinary load.
 */
static int
io_verify(void *ctx, const uint8_t *buf, size_t len)
{
	struct slot *s = session_owner(ctx);
	struct bench *b = s->b;
	long n;
	size_t i;

	if (!s->bad) {
		n = files_pread_full(b->fd, b->cmp, len, s->off);
		if (n < 0)
			return (int)n;
		if ((size_t)n != len || memcmp(b->cmp, buf, len) != 0) {
			for (i = 0; i < (size_t)n && b->cmp[i] == buf[i]; i++)
				;
			s->bad = 1;
			s->bad_off = s->off + i;
		}
	}
	s->off += len;
	return 0;
}

/* Get with --verify: all data is in; a short download differs too. */
static int
io_verify_finish(void *ctx)
{
	struct slot *s = session_owner(ctx);

	if (!s->bad && s->off != s->b->fd_size) {
		s->bad = 1;
		s->bad_off = s->off;
	}
	return 0;
}

static long
io_pread(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct slot *s = session_owner(ctx);

	return files_pread_full(s->b->fd, buf, len, off);
}

/* ---- one transfer ----------------------------------------------------- */

/*
 * The reason a transfer failed, in the words `tftpx get` uses.
 */
static void
reason(const struct slot *s, char *buf, size_t cap)
{
	const struct xfer *x = &s->ss.x;
	const struct bench *b = s->b;
	char srv[UDP_ADDRSTR], msg[PKT_ERRMSG_MAX * 4 + 1];

	if (x->status == XFER_DONE && s->bad) {
		if (s->bad_off < s->off && s->bad_off < b->fd_size)
			snprintf(buf, cap, "verify: byte %llu differs from %s",
			    (unsigned long long)s->bad_off, b->fd_name);
		else
			snprintf(buf, cap, "verify: got %llu bytes, %s has "
			    "%llu", (unsigned long long)s->off, b->fd_name,
			    (unsigned long long)b->fd_size);
	} else if (x->why == XW_PEER)
		snprintf(buf, cap, "server says: %s (error %d)",
		    log_safe(x->err_msg, msg, sizeof(msg)), x->err_code);
	else if (x->why == XW_TIMEOUT)
		snprintf(buf, cap, "timeout: no answer from %s",
		    udp_format(&s->ss.peer, srv));
	else
		snprintf(buf, cap, "%s", x->err_msg);
}

static void
fail_first(struct bench *b, uint64_t seq, const char *why)
{
	if (b->reported)
		return;
	b->reported = 1;
	log_error("bench: transfer %llu of %llu failed: %s",
	    (unsigned long long)seq, (unsigned long long)b->cfg->total, why);
}

static void
record_time(struct bench *b, uint64_t us)
{
	uint64_t *nt, cap;

	if (b->ntimes == b->times_cap) {
		cap = b->times_cap ? 2 * b->times_cap : 1024;
		if ((nt = realloc(b->times, cap * sizeof(*nt))) == NULL)
			return;		/* percentiles of fewer: still honest */
		b->times = nt;
		b->times_cap = cap;
	}
	b->times[b->ntimes++] = us;
}

/* Book the outcome, release the socket.  The slot is then idle. */
static void
slot_end(struct slot *s)
{
	struct bench *b = s->b;
	struct xfer *x = &s->ss.x;
	char why[REASON_MAX];
	uint64_t now = loop_clock_us();

	session_close(&s->ss);
	b->port_done[s->lport & 0xffff] = now;
	b->finished++;
	b->bytes += x->st.bytes;
	b->retransmits += x->st.retransmits;
	b->timeouts += x->st.timeouts;
	b->t1 = now;
	if (x->status == XFER_DONE && s->bad)
		b->verify_errors++;
	if (x->status == XFER_DONE && !s->bad) {
		b->ok++;
		record_time(b, now - s->start);
		return;
	}
	b->failed++;
	reason(s, why, sizeof(why));
	fail_first(b, s->seq, why);
}

/*
 * A socket for the next transfer, on a port that has not carried a
 * transfer of this run for PORT_REST_US (see there).
 */
static int
slot_socket(struct slot *s)
{
	struct bench *b = s->b;
	struct udp_addr a;
	uint64_t now = loop_clock_us(), when;
	int fd, i;

	for (i = 0;; i++) {
		a = b->local;
		if ((fd = udp_bind(&a, 0)) < 0)
			return -1;
		when = b->port_done[udp_port(&a) & 0xffff];
		if (when == 0 || now - when >= PORT_REST_US ||
		    i + 1 >= BIND_TRIES)
			break;
		close(fd);
	}
	s->lport = udp_port(&a);
	udp_set_bufs(fd, BENCH_SOCKBUF);
	return fd;
}

static void	slot_next(struct slot *s);

/* A transfer is over: book it, start the lane's next one. */
static void
slot_over(struct session *ss)
{
	struct slot *s = ss->owner;

	slot_end(s);
	slot_next(s);
}

static const struct session_ops slot_ops = {
	.end = slot_over,
};

/*
 * Start transfer number b->started + 1 in slot s.  Returns 0 when it
 * runs, -1 when it failed at once (booked as a failure).
 */
static int
slot_start(struct slot *s)
{
	const struct bench_cfg *cfg = s->b->cfg;
	struct bench *b = s->b;
	struct xfer_cfg xc;
	struct xfer_io io;
	char why[REASON_MAX];
	int sock;

	s->seq = ++b->started;
	s->off = 0;
	s->bad = 0;
	s->bad_off = 0;
	memset(&xc, 0, sizeof(xc));
	memset(&io, 0, sizeof(io));
	xc.client = 1;
	xc.opts = cfg->opts;
	xc.filename = s->name;
	xc.mode = "octet";
	xc.timeout_us = (uint64_t)cfg->timeout * 1000000u;
	xc.retries = cfg->retries;
	xc.rto_min_us = BENCH_RTO_MIN_US;
	if (cfg->put) {
		xc.role = XFER_SEND;
		io.read = io_pread;
		if (xc.opts.have & OPT_TSIZE)
			xc.opts.tsize = b->fd_size;
	} else {
		xc.role = XFER_RECV;
		io.write = cfg->verify ? io_verify : io_discard;
		io.finish = cfg->verify ? io_verify_finish : NULL;
	}
	if ((sock = slot_socket(s)) < 0 || session_open(&s->ss, &b->hub,
	    sock, &b->server, 0, &slot_ops, s) < 0) {
		snprintf(why, sizeof(why), "cannot open a socket: %s",
		    strerror(errno));
		if (sock >= 0)
			close(sock);
		s->ss.sock = -1;
		b->finished++;
		b->failed++;
		fail_first(b, s->seq, why);
		return -1;
	}
	s->start = loop_clock_us();
	session_start(&s->ss, &xc, &io);
	return 0;
}

/*
 * Start the lane's next transfer; one that fails at once is booked and
 * the next tried, so this is bounded by TOTAL.  The last one to end
 * stops the loop.
 */
static void
slot_next(struct slot *s)
{
	struct bench *b = s->b;

	while (!b->stopping && b->started < b->cfg->total)
		if (slot_start(s) == 0)
			return;
	if (b->finished >= b->cfg->total)
		loop_stop(b->loop);
}

static void
signal_cb(struct loop_fd *w, uint32_t events)
{
	struct bench *b = w->arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(w->fd, &si, sizeof(si)) > 0)
		loop_stop(b->loop);
}

/*
 * Interrupted: tell the server about each live transfer.  They are not
 * counted as transfers, but the bytes they moved until now are, so the
 * rate stays the rate of the run.
 */
static void
abort_all(struct bench *b)
{
	struct xfer *x;
	unsigned i;

	b->t1 = loop_clock_us();
	b->stopping = 1;
	for (i = 0; i < b->nslots; i++) {
		if (b->slots[i].ss.sock < 0)
			continue;
		x = &b->slots[i].ss.x;
		b->bytes += x->st.bytes;
		b->retransmits += x->st.retransmits;
		b->timeouts += x->st.timeouts;
		xfer_abort(x, TFTP_EUNDEF, "bench interrupted");
		session_close(&b->slots[i].ss);
	}
}

/* ---- start-up and report ---------------------------------------------- */

/*
 * Each slot holds a socket: let the soft fd limit reach what -c needs.
 * Where the hard limit forbids it, say so and do not start: lanes that
 * cannot open a socket would burn through TOTAL as instant failures.
 */
static int
raise_fd_limit(unsigned conc)
{
	unsigned long want = (unsigned long)conc + 64, got;

	if ((got = session_fd_room(want)) >= want)
		return 0;
	log_error("bench: -c %u needs %lu open files, the limit is %lu "
	    "(ulimit -n)", conc, want, got);
	return -1;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p (0..100) of the sorted times, in ms. */
static double
pct_ms(const struct bench *b, unsigned p)
{
	uint64_t k;

	if (b->ntimes == 0)
		return 0;
	k = (b->ntimes * p + 99) / 100;
	if (k == 0)
		k = 1;
	return (double)b->times[k - 1] / 1000.0;
}

static void
report(struct bench *b, int interrupted)
{
	const struct bench_cfg *cfg = b->cfg;
	double secs = b->t1 > b->t0 ? (double)(b->t1 - b->t0) / 1e6 : 0;
	double mbps = secs > 0 ? (double)b->bytes / secs / 1e6 : 0;
	double tps = secs > 0 ? (double)b->ok / secs : 0;
	double p50, p99, pmax;
	char opts[160], srv[UDP_ADDRSTR];

	if (b->ntimes)		/* qsort's base must not be NULL */
		qsort(b->times, b->ntimes, sizeof(*b->times), cmp_u64);
	p50 = pct_ms(b, 50);
	p99 = pct_ms(b, 99);
	pmax = pct_ms(b, 100);
	if (cfg->json) {
		printf("{\"transfers\": %llu, \"ok\": %llu, \"failed\": %llu, "
		    "\"bytes\": %llu, \"seconds\": %.6f, \"mbps\": %.3f, "
		    "\"tps\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
		    "\"max_ms\": %.3f, \"retransmits\": %llu, "
		    "\"timeouts\": %llu, \"verify_errors\": %llu}\n",
		    (unsigned long long)b->finished, (unsigned long long)b->ok,
		    (unsigned long long)b->failed, (unsigned long long)b->bytes,
		    secs, mbps, tps, p50, p99, pmax,
		    (unsigned long long)b->retransmits,
		    (unsigned long long)b->timeouts,
		    (unsigned long long)b->verify_errors);
		return;
	}
	if (cfg->quiet) {
		printf("%s %s: %llu ok, %llu failed, %.2f MB/s, %.2f "
		    "transfers/s, p50 %.3f ms, p99 %.3f ms\n",
		    cfg->put ? "put" : "get", cfg->file,
		    (unsigned long long)b->ok, (unsigned long long)b->failed,
		    mbps, tps, p50, p99);
		return;
	}
	options_format(&cfg->opts, opts, sizeof(opts));
	printf("====== tftpx bench: %s %s%s %s %s ======\n",
	    cfg->put ? "put" : "get", cfg->put ? cfg->remote : cfg->file,
	    cfg->put && b->nslots > 1 ? ".K" : "", cfg->put ? "to" : "from",
	    udp_format(&b->server, srv));
	printf("  options        %s\n", opts[0] ? opts : "none");
	printf("  transfers      %llu of %llu, %u at once%s\n",
	    (unsigned long long)b->finished, (unsigned long long)cfg->total,
	    b->nslots, interrupted ? " (interrupted)" : "");
	printf("  outcome        %llu ok, %llu failed\n",
	    (unsigned long long)b->ok, (unsigned long long)b->failed);
	printf("  bytes          %llu in %.3f s\n",
	    (unsigned long long)b->bytes, secs);
	printf("  throughput     %.2f MB/s, %.2f transfers/s\n", mbps, tps);
	printf("  transfer time  p50 %.3f ms, p99 %.3f ms, max %.3f ms\n",
	    p50, p99, pmax);
	printf("  loss           %llu retransmits, %llu timeouts\n",
	    (unsigned long long)b->retransmits,
	    (unsigned long long)b->timeouts);
	if (cfg->verify)
		printf("  verify         %llu transfers differ from %s\n",
		    (unsigned long long)b->verify_errors, b->fd_name);
}

/* The local file: --verify's copy for a get, the source of a put. */
static int
open_local(struct bench *b)
{
	const struct bench_cfg *cfg = b->cfg;
	struct stat st;

	if (!cfg->put && !cfg->verify)
		return 0;
	b->fd_name = cfg->put || cfg->local == NULL ? cfg->file : cfg->local;
	if ((b->fd = open(b->fd_name, O_RDONLY | O_CLOEXEC)) < 0) {
		log_error("%s: %s", b->fd_name, strerror(errno));
		return -1;
	}
	if (fstat(b->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("%s: not a regular file", b->fd_name);
		return -1;
	}
	b->fd_size = (uint64_t)st.st_size;
	return 0;
}

/*
 * Name slot i's transfers: the remote file for a get; for a put the
 * upload name, with ".K" per slot when several run at once, so that
 * concurrent uploads do not race for one name (tftpx serve refuses a
 * second live upload of a name; other servers interleave them).
 */
static int
name_slot(struct bench *b, struct slot *s)
{
	const struct bench_cfg *cfg = b->cfg;
	int n;

	if (cfg->put && b->nslots > 1)
		n = snprintf(s->name, sizeof(s->name), "%s.%u", cfg->remote,
		    s->idx);
	else
		n = snprintf(s->name, sizeof(s->name), "%s",
		    cfg->put ? cfg->remote : cfg->file);
	return n < 0 || (size_t)n >= sizeof(s->name) ? -1 : 0;
}

/* The lanes, the server's address, the local file, the fd limit. */
static int
setup(struct bench *b)
{
	const struct bench_cfg *cfg = b->cfg;
	const char *why;
	unsigned i;

	b->nslots = cfg->concurrency;
	if ((uint64_t)b->nslots > cfg->total)
		b->nslots = (unsigned)cfg->total;
	b->slots = calloc(b->nslots, sizeof(*b->slots));
	b->port_done = calloc(65536, sizeof(*b->port_done));
	if (b->slots == NULL || b->port_done == NULL) {
		log_error("out of memory");
		return -1;
	}
	for (i = 0; i < b->nslots; i++)
		b->slots[i].ss.sock = -1;
	if (udp_resolve(cfg->host, cfg->port, AF_UNSPEC, &b->server,
	    &why) < 0) {
		log_error("%s: %s", cfg->host, why);
		return -1;
	}
	udp_resolve("", 0, b->server.ss.ss_family, &b->local, &why);
	if (open_local(b) < 0)
		return -1;
	for (i = 0; i < b->nslots; i++) {
		b->slots[i].b = b;
		b->slots[i].idx = i;
		if (name_slot(b, &b->slots[i]) < 0) {
			log_error("remote name too long");
			return -1;
		}
	}
	return raise_fd_limit(b->nslots);
}

int
bench_run(const struct bench_cfg *cfg)
{
	struct bench *b;
	struct loop_fd sigw = { .fd = -1 };
	sigset_t set;
	unsigned i;
	int rc = 1, interrupted = 0;

	signal(SIGPIPE, SIG_IGN);
	if ((b = calloc(1, sizeof(*b))) == NULL) {
		log_error("out of memory");
		return 1;
	}
	b->cfg = cfg;
	b->fd = -1;
	if (setup(b) < 0)
		goto out;
	if ((b->loop = loop_new()) == NULL) {
		log_error("cannot create the event loop: %s", strerror(errno));
		goto out;
	}
	b->hub.loop = b->loop;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (loop_signal_start(b->loop, &sigw, &set, signal_cb, b) < 0) {
		log_error("cannot set up signals: %s", strerror(errno));
		goto out;
	}
	b->t0 = b->t1 = loop_clock_us();
	for (i = 0; i < b->nslots; i++)
		slot_next(&b->slots[i]);
	if (b->finished < cfg->total && loop_run(b->loop) < 0) {
		log_error("event loop failed: %s", strerror(errno));
		goto out;
	}
	if (b->finished < cfg->total) {
		interrupted = 1;
		abort_all(b);
	}
	report(b, interrupted);
	rc = b->ok == cfg->total ? 0 : 1;
out:
	if (b->loop)
		loop_signal_stop(b->loop, &sigw);
	if (b->slots)
		for (i = 0; i < b->nslots; i++)
			if (b->slots[i].ss.sock >= 0)
				close(b->slots[i].ss.sock);
	loop_free(b->loop);
	if (b->fd >= 0)
		close(b->fd);
	free(b->times);
	free(b->port_done);
	free(b->slots);
	free(b);
	return rc;
}
