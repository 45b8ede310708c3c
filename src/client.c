/*
 * client.c - `tftpx get` and `tftpx put` over the same xfer machines the
 * server uses.
 *
 * The request goes to HOST:PORT; the first answer from that host fixes
 * the server's TID (its port), and datagrams from any other source get
 * ERROR 5 (RFC 1350 section 4).  A get writes into a temp file beside
 * LOCAL and renames it at the end, so a failed get leaves nothing behind
 * and never damages an existing LOCAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client.h"
#include "files.h"
#include "log.h"
#include "loop.h"
#include "packet.h"
#include "udp.h"
#include "xfer.h"

#define CLIENT_SOCKBUF	(4 << 20)
#define CLIENT_RTO_MIN_US 10000	/* RTT timer floor of a put */

struct client {
	const struct client_cfg	*cfg;
	int			 sock;
	struct udp_addr		 server;	/* where the request goes */
	struct udp_addr		 peer;		/* the server's TID */
	int			 locked;	/* peer is known */
	/* get */
	int			 out;		/* fd written */
	char			*tmp;		/* temp name, or NULL for stdout */
	/* put */
	int			 in;		/* fd read */
	uint8_t			*buf;		/* a pipe: bytes from buf_off */
	size_t			 buf_len, buf_cap;
	uint64_t		 buf_off;
	int			 eof;
	uint8_t			 rx[PKT_MAX + 1];
	uint8_t			 scratch[XFER_SCRATCH];
};

static void
io_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct client *c = ctx;

	udp_send(c->sock, pkt, len, c->locked ? &c->peer : &c->server);
}

static int
io_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct client *c = ctx;

	return files_write_all(c->out, buf, len);
}

static int
io_finish(void *ctx)
{
	struct client *c = ctx;

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
	struct client *c = ctx;

	return files_pread_full(c->in, buf, len, off);
}

/*
 * A pipe cannot seek, so the bytes the current window may still need are
 * kept in buf: from buf_off (the window base, see io_release) onwards.
 */
static long
io_stream_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct client *c = ctx;
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
	struct client *c = ctx;
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

static int
wait_packet(struct client *c, struct xfer *x)
{
	struct pollfd pfd = { .fd = c->sock, .events = POLLIN };
	uint64_t now = loop_clock_us(), d;
	struct timespec ts;
	int rc;

	/* to the microsecond: a paced window has 100 us gaps */
	d = x->deadline > now ? x->deadline - now : 0;
	ts.tv_sec = (time_t)(d / 1000000);
	ts.tv_nsec = (long)(d % 1000000) * 1000;
	rc = ppoll(&pfd, 1, &ts, NULL);
	if (rc < 0 && errno != EINTR)
		return -1;
	return rc > 0;
}

static void
drain(struct client *c, struct xfer *x)
{
	struct udp_addr from;
	uint8_t err[64];
	size_t n;
	long len;

	while (x->status == XFER_RUNNING) {
		len = udp_recv(c->sock, c->rx, sizeof(c->rx), &from, NULL);
		if (len < 0)
			return;
		if (!c->locked) {
			/* the first answer from the server's host is its TID */
			if (!udp_same_host(&from, &c->server))
				continue;
			c->peer = from;
			c->locked = 1;
		} else if (!udp_same(&from, &c->peer)) {
			n = packet_encode_error(err, sizeof(err), TFTP_EBADID,
			    NULL);
			udp_send(c->sock, err, n, &from);
			continue;
		}
		xfer_input(x, c->rx, (size_t)len, loop_clock_us());
	}
}

static void
report(const struct client *c, const struct xfer *x, uint64_t t0)
{
	const struct client_cfg *cfg = c->cfg;
	char srv[UDP_ADDRSTR];
	double secs = (double)(loop_clock_us() - t0) / 1e6;

	if (x->status == XFER_DONE) {
		if (!cfg->quiet && cfg->verbose)
			log_error("%s %s: %llu bytes in %.3f s (%.1f MB/s)",
			    cfg->put ? "put" : "get", cfg->remote,
			    (unsigned long long)x->st.bytes, secs,
			    secs > 0 ? (double)x->st.bytes / secs / 1e6 : 0);
		return;
	}
	if (x->err_peer)
		log_error("%s: server says: %s (error %d)", cfg->remote,
		    x->err_msg, x->err_code);
	else if (strcmp(x->err_msg, "timeout") == 0)
		log_error("%s: timeout: no answer from %s", cfg->remote,
		    udp_format(c->locked ? &c->peer : &c->server, srv));
	else
		log_error("%s: %s", cfg->remote, x->err_msg);
}

int
client_run(const struct client_cfg *cfg)
{
	struct client *c;
	struct xfer x;
	struct xfer_cfg xc;
	struct xfer_io io;
	struct udp_addr local;
	const char *why;
	uint64_t t0;
	int rc = 1, sz = CLIENT_SOCKBUF;

	signal(SIGPIPE, SIG_IGN);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_error("out of memory");
		return 1;
	}
	c->cfg = cfg;
	c->sock = c->out = c->in = -1;
	if (udp_resolve(cfg->host, cfg->port, AF_UNSPEC, &c->server,
	    &why) < 0) {
		log_error("%s: %s", cfg->host, why);
		goto out;
	}
	udp_resolve("", 0, c->server.ss.ss_family, &local, &why);
	if ((c->sock = udp_bind(&local, 0)) < 0) {
		log_error("cannot open a socket: %s", strerror(errno));
		goto out;
	}
	if (setsockopt(c->sock, SOL_SOCKET, SO_RCVBUFFORCE, &sz,
	    sizeof(sz)) < 0)
		setsockopt(c->sock, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

	memset(&xc, 0, sizeof(xc));
	memset(&io, 0, sizeof(io));
	xc.client = 1;
	xc.netascii = cfg->netascii;
	xc.opts = cfg->opts;
	xc.filename = cfg->remote;
	xc.mode = cfg->netascii ? "netascii" : "octet";
	xc.timeout_us = (uint64_t)cfg->timeout * 1000000u;
	xc.retries = cfg->retries;
	xc.rto_min_us = cfg->classic ? 0 : CLIENT_RTO_MIN_US;
	io.ctx = c;
	io.send = io_send;
	io.scratch = c->scratch;
	if (cfg->put) {
		xc.role = XFER_SEND;
		if (setup_source(c, &xc, &io) < 0)
			goto out;
	} else {
		xc.role = XFER_RECV;
		if (strcmp(cfg->local, "-") == 0)
			c->out = STDOUT_FILENO;
		else if ((c->out = open_local_tmp(c)) < 0) {
			log_error("%s: cannot create a file beside it: %s",
			    cfg->local, strerror(errno));
			goto out;
		}
		io.write = io_write;
		io.finish = io_finish;
	}
	xfer_init(&x, &xc, &io);
	t0 = loop_clock_us();
	xfer_start(&x, t0);
	while (x.status == XFER_RUNNING) {
		if (wait_packet(c, &x) < 0) {
			log_error("poll: %s", strerror(errno));
			goto out;
		}
		drain(c, &x);
		if (x.status == XFER_RUNNING)
			xfer_tick(&x, loop_clock_us());
	}
	report(c, &x, t0);
	rc = x.status == XFER_DONE ? 0 : 1;
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
	free(c->buf);
	free(c);
	return rc;
}
