/*
 * client.c - `tftpx get` and `tftpx put` over the same xfer machines the
 * server uses.
 *
 * The request goes to HOST:PORT; the first answer from that host fixes
 * the server's TID (its port), and datagrams from any other source get
 * ERROR 5 (RFC 1350 section 4).  A get writes into a temp file beside
 * LOCAL and renames it at the end, so a failed get leaves nothing behind
 * and never damages an existing LOCAL.
 *
 * On a terminal the transfer shows a one-line bar on stderr, redrawn from
 * the receive path at most every BAR_IVL_US (so a fast transfer costs no
 * extra wakeups, and a stalled one leaves the bar as it was); at the end
 * one summary line says what moved.  stdout carries only file data.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "files.h"
#include "log.h"
#include "loop.h"
#include "packet.h"
#include "session.h"
#include "udp.h"
#include "xfer.h"

#define CLIENT_SOCKBUF	(4 << 20)
#define CLIENT_RTO_MIN_US 10000	/* RTT timer floor of a put */
#define BAR_IVL_US	100000	/* at most ten redraws a second */
#define BAR_COLS_MAX	300	/* wider terminals get a 300-column bar */

/* The progress bar; on = 0 when stderr is not a terminal or with -q. */
struct bar {
	int			 on;
	int			 drawn;		/* a line is on the screen */
	int			 known;		/* total is the size */
	uint64_t		 total;
	uint64_t		 t0;		/* the request went out */
	uint64_t		 at;		/* last redraw */
	char			 name[64];	/* escaped, shortened */
};

struct client {
	const struct client_cfg	*cfg;
	struct session		 ss;		/* the socket, the server's TID */
	struct session_hub	*hub;		/* its loop */
	int			 sock;
	struct udp_addr		 server;	/* where the request goes */
	/* get */
	int			 out;		/* fd written */
	char			*tmp;		/* temp name, or NULL for stdout */
	/* put */
	int			 in;		/* fd read */
	uint8_t			*buf;		/* a pipe: bytes from buf_off */
	size_t			 buf_len, buf_cap;
	uint64_t		 buf_off;
	int			 eof;
	struct bar		 bar;
};

static int
io_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct client *c = session_owner(ctx);

	return files_write_all(c->out, buf, len);
}

static int
io_finish(void *ctx)
{
	struct client *c = session_owner(ctx);

	if (c->tmp == NULL)
		return 0;
	if (fsync(c->out) < 0 && errno != EINVAL)
		return -errno;
	if (rename(c->tmp, c->cfg->local) < 0)
		return -errno;
	free(c->tmp);
	c->tmp = NULL;
	return 0;
}

static long
io_pread(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct client *c = session_owner(ctx);

	return files_pread_full(c->in, buf, len, off);
}

/*
 * A pipe cannot seek, so the bytes the current window may still need are
 * kept in buf: from buf_off (the window base, see io_release) onwards.
 */
static long
io_stream_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct client *c = session_owner(ctx);
	size_t have, want, cap;
	uint8_t *nb;
	ssize_t n;

	if (off < c->buf_off)
		return -EINVAL;
	want = (size_t)(off - c->buf_off) + len;
	while (c->buf_len < want && !c->eof) {
		if (c->buf_cap < want) {
			cap = c->buf_cap ? c->buf_cap : 65536;
			while (cap < want)
				cap *= 2;
			if ((nb = realloc(c->buf, cap)) == NULL)
				return -ENOMEM;
			c->buf = nb;
			c->buf_cap = cap;
		}
		n = read(c->in, c->buf + c->buf_len, c->buf_cap - c->buf_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			c->eof = 1;
		c->buf_len += (size_t)n;
	}
	if (off - c->buf_off >= c->buf_len)
		return 0;
	have = c->buf_len - (size_t)(off - c->buf_off);
	if (have > len)
		have = len;
	memcpy(buf, c->buf + (off - c->buf_off), have);
	return (long)have;
}

static void
io_release(void *ctx, uint64_t off)
{
	struct client *c = session_owner(ctx);
	size_t drop;

	if (off <= c->buf_off)
		return;
	drop = (size_t)(off - c->buf_off);
	if (drop > c->buf_len)
		drop = c->buf_len;
	memmove(c->buf, c->buf + drop, c->buf_len - drop);
	c->buf_len -= drop;
	c->buf_off += drop;
}

static mode_t
umask_now(void)
{
	mode_t m = umask(022);

	umask(m);
	return m;
}

/* Create the temp file for a get beside LOCAL: ".LOCAL.tftpx-XXXXXX". */
static int
open_local_tmp(struct client *c)
{
	const char *local = c->cfg->local;
	char *d1 = strdup(local), *d2 = strdup(local);
	size_t n;
	int fd = -1;

	if (d1 == NULL || d2 == NULL)
		goto out;
	n = strlen(local) + 32;
	if ((c->tmp = malloc(n)) == NULL)
		goto out;
	snprintf(c->tmp, n, "%s/.%s.tftpx-XXXXXX", dirname(d1), basename(d2));
	fd = mkostemp(c->tmp, O_CLOEXEC);
	if (fd < 0) {
		free(c->tmp);
		c->tmp = NULL;
	} else {
		fchmod(fd, 0666 & ~umask_now());
	}
out:
	free(d1);
	free(d2);
	return fd;
}

static int
setup_source(struct client *c, struct xfer_cfg *xc, struct xfer_io *io)
{
	const struct client_cfg *cfg = c->cfg;
	struct stat st;

	if (strcmp(cfg->local, "-") == 0)
		c->in = STDIN_FILENO;
	else if ((c->in = open(cfg->local, O_RDONLY | O_CLOEXEC)) < 0) {
		log_error("%s: %s", cfg->local, strerror(errno));
		return -1;
	}
	if (fstat(c->in, &st) < 0 || S_ISDIR(st.st_mode)) {
		log_error("%s: not a file", cfg->local);
		return -1;
	}
	if (S_ISREG(st.st_mode) && lseek(c->in, 0, SEEK_CUR) == 0) {
		io->read = io_pread;
		c->bar.known = 1;
		c->bar.total = (uint64_t)st.st_size;
		/* tsize: the size is known, so it can be announced */
		if ((xc->opts.have & OPT_TSIZE) && !cfg->netascii)
			xc->opts.tsize = (uint64_t)st.st_size;
		else
			xc->opts.have &= ~OPT_TSIZE;
	} else {
		io->read = io_stream_read;
		io->release = io_release;
		xc->opts.have &= ~OPT_TSIZE;
	}
	return 0;
}

/* "512 B", "44.1 MB": decimal units, like the MB/s of the rates. */
static void
human(char *buf, size_t cap, double v)
{
	static const char *const unit[] = { "kB", "MB", "GB", "TB", "PB" };
	size_t u = 0;

	if (v < 999.5) {
		snprintf(buf, cap, "%.0f B", v);
		return;
	}
	v /= 1000;
	while (v >= 999.95 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1000;
		u++;
	}
	snprintf(buf, cap, "%.1f %s", v, unit[u]);
}

/* "0:03", "1:02:03"; "--:--" when there is no telling. */
static void
eta(char *buf, size_t cap, double secs)
{
	unsigned long s;

	if (!(secs >= 0) || secs > 99.0 * 3600) {
		snprintf(buf, cap, "--:--");
		return;
	}
	/* rounded up: "0:00" is for done, not for a third of a second left */
	s = (unsigned long)secs;
	if ((double)s < secs)
		s++;
	if (s >= 3600)
		snprintf(buf, cap, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(buf, cap, "%lu:%02lu", s / 60, s % 60);
}

/* Asked on every redraw, so a resized terminal is followed. */
static int
bar_cols(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col < BAR_COLS_MAX ? ws.ws_col : BAR_COLS_MAX;
	return 80;
}

/*
 * Whether to draw: stderr is a terminal, no -q, and the terminal is not
 * also where the file bytes go (get to a stdout that is a terminal) or
 * come from (put from a stdin that is one): the bar would garble them.
 */
static void
bar_init(struct client *c, uint64_t now)
{
	const struct client_cfg *cfg = c->cfg;
	const char *name = strrchr(cfg->remote, '/');
	struct bar *b = &c->bar;

	b->on = 0;
	if (cfg->quiet || !isatty(STDERR_FILENO))
		return;
	if (strcmp(cfg->local, "-") == 0 &&
	    isatty(cfg->put ? STDIN_FILENO : STDOUT_FILENO))
		return;
	b->on = 1;
	b->t0 = b->at = now;
	log_safe(name && name[1] ? name + 1 : cfg->remote, b->name,
	    sizeof(b->name));
}

/*
 * Redraw the line: "NAME  42% [=====>    ] 44.1 MB  12.3 MB/s  ETA 0:03"
 * when the size is known, else "NAME  44.1 MB  12.3 MB/s".  The line is
 * padded to one column short of the width, so it overwrites a longer one
 * and never wraps (a wrapped line cannot be redrawn with '\r').
 */
static void
bar_draw(struct bar *b, const struct xfer *x, uint64_t now)
{
	char line[BAR_COLS_MAX + 2], amt[16], rate[24], left[48];
	char head[96], tail[128];
	double secs = (double)(now - b->t0) / 1e6, r, frac = 1;
	uint64_t done = x->st.bytes;
	int cols = bar_cols() - 1, w, fill, i, nmax;
	size_t n;

	/* the name gets at most a third of the line */
	nmax = cols / 3 > 8 ? cols / 3 : 8;
	r = secs > 0 ? (double)done / secs : 0;
	human(amt, sizeof(amt), (double)done);
	human(rate, sizeof(rate), r);
	if (b->known) {
		/* a file that grew since the server measured it: 100 % */
		if (done < b->total)
			frac = (double)done / (double)b->total;
		eta(left, sizeof(left), frac >= 1 ? 0 : r > 0 ?
		    (double)(b->total - done) / r : -1);
		snprintf(head, sizeof(head), "%.*s %3d%% ", nmax, b->name,
		    (int)(frac * 100));
		snprintf(tail, sizeof(tail), " %s  %s/s  ETA %s", amt, rate,
		    left);
	} else {
		snprintf(head, sizeof(head), "%.*s  ", nmax, b->name);
		snprintf(tail, sizeof(tail), "%s  %s/s", amt, rate);
	}
	/* the bar takes what is left; on a narrow terminal it goes */
	w = cols - (int)strlen(head) - (int)strlen(tail) - 2;
	n = (size_t)snprintf(line, sizeof(line), "\r%s", head);
	if (b->known && w >= 5) {
		fill = (int)(frac * w);
		line[n++] = '[';
		for (i = 0; i < w; i++)
			line[n++] = i < fill ? '=' : i == fill ? '>' : ' ';
		line[n++] = ']';
		line[n] = '\0';
	}
	snprintf(line + n, sizeof(line) - n, "%s", tail);
	n = strlen(line);
	if (n > (size_t)cols + 1)
		n = (size_t)cols + 1;
	while (n < (size_t)cols + 1)
		line[n++] = ' ';
	fwrite(line, 1, n, stderr);
	fflush(stderr);
	b->drawn = 1;
	b->at = now;
}

/* From the receive path: redraw when BAR_IVL_US has passed. */
static void
bar_tick(struct client *c, const struct xfer *x, uint64_t now)
{
	struct bar *b = &c->bar;

	if (!b->on || now - b->at < BAR_IVL_US)
		return;
	/* a get learns the size from the OACK's tsize */
	if (!b->known && !c->cfg->put && x->phase != XP_REQUEST &&
	    (x->opts.have & OPT_TSIZE)) {
		b->known = 1;
		b->total = x->opts.tsize;
	}
	bar_draw(b, x, now);
}

/* Blank the bar's line, so what is printed next starts on a clean one. */
static void
bar_clear(struct bar *b)
{
	char line[BAR_COLS_MAX + 3];
	int cols;

	if (!b->drawn)
		return;
	cols = bar_cols() - 1;
	line[0] = '\r';
	memset(line + 1, ' ', (size_t)cols);
	line[cols + 1] = '\r';
	fwrite(line, 1, (size_t)cols + 2, stderr);
	fflush(stderr);
	b->drawn = 0;
}

/* Datagrams from the server moved the transfer: the bar may redraw. */
static void
client_input(struct session *ss)
{
	bar_tick(ss->owner, &ss->x, loop_now(ss->hub->loop));
}

static void
client_done(struct session *ss, enum xfer_why why)
{
	(void)why;
	loop_stop(ss->hub->loop);
}

static const struct session_ops client_ops = {
	.input = client_input,
	.done = client_done,
};

/*
 * Run one transfer on the session, from the request to its outcome.
 * Returns -1 when the socket cannot be waited on.
 */
static int
pump(struct client *c, const struct xfer_cfg *xc, const struct xfer_io *io)
{
	if (session_open(&c->ss, c->hub, c->sock, &c->server, 0, &client_ops,
	    c) < 0) {
		log_error("cannot watch the socket: %s", strerror(errno));
		return -1;
	}
	session_start(&c->ss, xc, io);
	if (c->ss.x.status == XFER_RUNNING && loop_run(c->hub->loop) < 0) {
		bar_clear(&c->bar);
		log_error("event loop failed: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The end: one summary line on success ("got NAME (N bytes) in 3.58 s,
 * 12.3 MB/s, 0 retransmits"; -v adds the server, the options in force and
 * the timer expiries; -q none), the reason on failure.
 */
static void
report(struct client *c, const struct xfer *x, uint64_t t0)
{
	const struct client_cfg *cfg = c->cfg;
	char srv[UDP_ADDRSTR], name[256], rate[24], opts[160], more[256];
	uint64_t rt = x->st.retransmits;
	double secs = (double)(loop_clock_us() - t0) / 1e6;

	bar_clear(&c->bar);
	if (x->status == XFER_DONE) {
		if (cfg->quiet)
			return;
		human(rate, sizeof(rate),
		    secs > 0 ? (double)x->st.bytes / secs : 0);
		more[0] = '\0';
		if (cfg->verbose) {
			options_format(&x->opts, opts, sizeof(opts));
			snprintf(more, sizeof(more), "; server %s, %s, %llu "
			    "timeouts", udp_format(&c->ss.peer, srv),
			    opts[0] ? opts : "no options",
			    (unsigned long long)x->st.timeouts);
		}
		log_notice("%s %s (%llu bytes) in %.2f s, %s/s, %llu "
		    "retransmit%s%s", cfg->put ? "sent" : "got",
		    log_safe(cfg->remote, name, sizeof(name)),
		    (unsigned long long)x->st.bytes, secs, rate,
		    (unsigned long long)rt, rt == 1 ? "" : "s", more);
		return;
	}
	if (x->why == XW_PEER)
		log_error("%s: server says: %s (error %d)", cfg->remote,
		    x->err_msg, x->err_code);
	else if (x->why == XW_TIMEOUT)
		log_error("%s: timeout: no answer from %s", cfg->remote,
		    udp_format(&c->ss.peer, srv));
	else
		log_error("%s: %s", cfg->remote, x->err_msg);
}

/* Where a get writes: stdout, a device or FIFO, or a temp beside LOCAL. */
static int
setup_sink(struct client *c, struct xfer_io *io)
{
	const char *local = c->cfg->local;
	struct stat lst;

	if (strcmp(local, "-") == 0)
		c->out = STDOUT_FILENO;
	else if (stat(local, &lst) == 0 && !S_ISREG(lst.st_mode) &&
	    !S_ISDIR(lst.st_mode)) {
		/*
		 * A device or a FIFO (/dev/null, a flash partition, a pipe to
		 * a flasher): write into it.  A temp file renamed over it
		 * would replace the device node.
		 */
		if ((c->out = open(local, O_WRONLY | O_CLOEXEC |
		    O_NOCTTY)) < 0) {
			log_error("%s: %s", local, strerror(errno));
			return -1;
		}
	} else if ((c->out = open_local_tmp(c)) < 0) {
		log_error("%s: cannot create a file beside it: %s", local,
		    strerror(errno));
		return -1;
	}
	io->write = io_write;
	io->finish = io_finish;
	return 0;
}

/* The socket and the loop its session runs on. */
static int
setup_net(struct client *c)
{
	const struct client_cfg *cfg = c->cfg;
	struct udp_addr local;
	const char *why;

	if (udp_resolve(cfg->host, cfg->port, AF_UNSPEC, &c->server,
	    &why) < 0) {
		log_error("%s: %s", cfg->host, why);
		return -1;
	}
	udp_resolve("", 0, c->server.ss.ss_family, &local, &why);
	if ((c->sock = udp_bind(&local, 0)) < 0) {
		log_error("cannot open a socket: %s", strerror(errno));
		return -1;
	}
	udp_set_bufs(c->sock, CLIENT_SOCKBUF);
	/* a closed port answers ICMP: say so at once, not after the timeout */
	udp_set_recverr(c->sock, c->server.ss.ss_family);
	if ((c->hub = calloc(1, sizeof(*c->hub))) == NULL ||
	    (c->hub->loop = loop_new()) == NULL) {
		log_error("cannot create the event loop: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void
xfer_cfg_of(const struct client_cfg *cfg, struct xfer_cfg *xc)
{
	memset(xc, 0, sizeof(*xc));
	xc->client = 1;
	xc->role = cfg->put ? XFER_SEND : XFER_RECV;
	xc->netascii = cfg->netascii;
	xc->opts = cfg->opts;
	xc->filename = cfg->remote;
	xc->mode = cfg->netascii ? "netascii" : "octet";
	xc->timeout_us = (uint64_t)cfg->timeout * 1000000u;
	xc->retries = cfg->retries;
	xc->rto_min_us = cfg->classic ? 0 : CLIENT_RTO_MIN_US;
}

/*
 * The transfer, and once more without tsize when the server refused the
 * tsize we added for the bar.  Returns -1 when the loop failed.
 */
static int
transfer(struct client *c, struct xfer_cfg *xc, const struct xfer_io *io,
    int added)
{
	const struct xfer *x = &c->ss.x;

	if (pump(c, xc, io) < 0)
		return -1;
	/*
	 * That tsize was our idea, not the user's: a server that refuses the
	 * request over it (ERROR 8, RFC 2347) is asked again without it.
	 */
	if (added && x->status == XFER_FAILED && x->why == XW_PEER &&
	    x->err_code == TFTP_EOPTNEG && x->received == 0) {
		bar_clear(&c->bar);
		if (c->cfg->verbose)
			log_notice("%s: server refused tsize (%s); asking "
			    "again without it", c->cfg->remote, x->err_msg);
		xc->opts.have &= ~OPT_TSIZE;
		return pump(c, xc, io);
	}
	return 0;
}

int
client_run(const struct client_cfg *cfg)
{
	struct client *c;
	struct xfer_cfg xc;
	struct xfer_io io;
	uint64_t t0;
	int rc = 1, added;

	signal(SIGPIPE, SIG_IGN);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("out of memory");
		return 1;
	}
	c->cfg = cfg;
	c->sock = c->out = c->in = -1;
	if (setup_net(c) < 0)
		goto out;
	xfer_cfg_of(cfg, &xc);
	memset(&io, 0, sizeof(io));
	if ((cfg->put ? setup_source(c, &xc, &io) : setup_sink(c, &io)) < 0)
		goto out;
	t0 = loop_clock_us();
	bar_init(c, t0);
	/*
	 * A get that draws the bar asks for tsize, so the bar can show a
	 * percent and an ETA; a server that ignores it leaves bytes and rate.
	 * Not in netascii: the size on the server's disk is not the count
	 * of bytes that arrive.
	 */
	added = c->bar.on && !cfg->put && !cfg->netascii &&
	    !(xc.opts.have & OPT_TSIZE);
	if (added) {
		xc.opts.have |= OPT_TSIZE;
		xc.opts.tsize = 0;
	}
	if (transfer(c, &xc, &io, added) < 0)
		goto out;
	report(c, &c->ss.x, t0);
	rc = c->ss.x.status == XFER_DONE ? 0 : 1;
out:
	if (c->tmp) {
		unlink(c->tmp);
		free(c->tmp);
	}
	if (c->out > STDERR_FILENO)
		close(c->out);
	if (c->in > STDERR_FILENO)
		close(c->in);
	if (c->sock >= 0)
		close(c->sock);
	if (c->hub)
		loop_free(c->hub->loop);
	free(c->hub);
	free(c->buf);
	free(c);
	return rc;
}
