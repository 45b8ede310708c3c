/*
 * server.c - `tftpx serve`.
 *
 * One process, one event loop.  Requests arrive on the listening sockets;
 * each accepted request becomes a struct transfer with its own UDP socket
 * (its TID) bound to the local address the request reached, and a
 * struct xfer that does the protocol.  This file only moves datagrams,
 * opens files and keeps the books:
 *
 *  - the duplicate table: live transfers keyed by the client's addr:port.
 *    An identical request for a live key is a re-sent request (busybox
 *    re-sends after 100 ms) and is dropped; starting a second transfer
 *    for it is the bug that truncates uploads in fork-per-request
 *    servers.  A different request from the same key means the client
 *    gave up on the old one: the old transfer ends, the new one starts.
 *  - one log line per transfer, when its outcome is known, and the reason
 *    for every refusal in words a person can act on.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dedup.h"
#include "events.h"
#include "files.h"
#include "intake.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "quirks.h"
#include "packet.h"
#include "server.h"
#include "server_int.h"
#include "service.h"
#include "session.h"
#include "udp.h"
#include "xfer.h"

/*
 * The fuzz build (fuzz/fuzz_request.c) shrinks the two tables: a server
 * life per input must cost little, and small tables make chains and ring
 * reuse happen.
 */
#ifndef HASH_SIZE
#define HASH_SIZE	4096		/* buckets of the live table */
#endif
#define SOCKBUF		(4 << 20)	/* socket buffers for windowed sends */
#ifndef DEDUP_CAP
#define DEDUP_CAP	16384		/* finished requests remembered */
#endif
#define BUSY_PER_SEC	100		/* "server busy" ERRORs sent per second */

struct server;

struct transfer {
	struct session		 ss;		/* socket, peer, xfer: session.c */
	struct server		*srv;
	struct loop_timer	 gone;		/* frees the struct, see end */
	int			 op;		/* TFTP_RRQ / TFTP_WRQ */
	int			 fd;		/* file being read, or -1 */
	struct upload		 up;		/* WRQ: the temp file */
	int			 committed;	/* upload made visible */
	int			 logged;	/* outcome line written */
	int			 dead;		/* ended; freed by its timer */
	const char		*narrowed;	/* why the window was cut to 1 */
	int			 burst_logged;	/* the OACK burst's verdict */
	int			 superseded;	/* ended by a new request */
	uint64_t		 start;
	int			 size_known;	/* WRQ: tsize announced (octet) */
	uint64_t		 size;		/*  ... that size */
	struct dedup_key	 key;		/* peer addr:port */
	struct intake_live	 in;		/* in the live table (intake.c) */
	char			 name[FILES_NAME_MAX];
	char			 mode[16];
};

struct server {
	const struct server_cfg	*cfg;
	struct loop		*loop;
	int			 cpus;		/* usable_cpus() at start */
	int			 rootfd;
	struct listeners	 lis;		/* listen.c */
	struct loop_fd		 sigw;
	struct loop_timer	 idle;		/* --idle-timeout */
	uint64_t		 idle_us;	/*  0: never */
	uint64_t		 last_active;	/*  last request or end */
	struct options_limits	 lim;
	struct intake		*intake;	/* live table, limits, dedup */
	struct files_uploads	 uploads;	/* live WRQs: one per name */
	struct quirks		 quirks;	/* hosts whose NIC drops bursts */
	int			 once_done;	/* --once: first transfer ended */
	int			 once_rc;	/*  and its exit status */
	struct session_hub	 hub;		/* what the transfers share */
	struct session_train	 train;		/*  a window in one send */
};

void
server_cfg_init(struct server_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->dir = ".";
	cfg->port = 69;
	cfg->blksize_max = PKT_BLKSIZE_MAX;
	cfg->windowsize_max = 64;
	cfg->window_bytes_max = 1 << 20;
	cfg->timeout = 1;
	cfg->retries = 5;
	cfg->grace = 2;
	cfg->max_transfers = 1000;
	cfg->max_per_client = 64;
	cfg->rto_min = 10;
	cfg->spin = SERVER_SPIN;
	cfg->svc.idle_timeout = -1;
}

/* Live transfers. */
static size_t
live(const struct server *s)
{
	return intake_stats(s->intake)->live;
}

/* ---- transfer I/O callbacks ------------------------------------------ */

static long
io_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct transfer *t = session_owner(ctx);

	return files_pread_full(t->fd, buf, len, off);
}

static int
io_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct transfer *t = session_owner(ctx);
	uint64_t max = t->srv->cfg->max_upload;

	if (max && t->ss.x.st.bytes + len > max)
		return -EFBIG;
	return files_write_all(t->up.fd, buf, len);
}

static int
io_finish(void *ctx)
{
	struct transfer *t = session_owner(ctx);
	struct files_err err;

	/*
	 * A client that announced its size and sent another has gone wrong:
	 * curl 7.88 that lost its DATA 1 takes our re-sent OACK for a new
	 * start and goes on from where its file was, so DATA 1 carries the
	 * wrong bytes (found by make soak).  Keep the old file.
	 */
	if (t->size_known && t->ss.x.st.bytes != t->size)
		return -EBADMSG;
	if (files_upload_commit(&t->up, &err) < 0)
		return err.sys ? -err.sys : -EIO;
	t->committed = 1;
	/* the name is in place: the next upload of it may start now */
	files_upload_release(&t->srv->uploads, &t->up);
	return 0;
}

/* ---- transfer lifecycle ---------------------------------------------- */

/* What the events of transfer t are about. */
static struct ev_who
who_of(const struct transfer *t)
{
	struct ev_who w = { &t->ss.peer, t->op, t->name, t->mode };

	return w;
}

/* The transfer's end line, once. */
static void
log_outcome(struct transfer *t)
{
	struct ev_who w = who_of(t);

	if (t->logged)
		return;
	t->logged = 1;
	events_end(&w, &t->ss.x, t->in.dups,
	    (double)(loop_now(t->srv->loop) - t->start) / 1e6);
}

static void
transfer_gone_cb(struct loop_timer *lt)
{
	struct transfer *t = lt->arg;

	free(t);
}

/*
 * End a transfer: log, release the file and socket, leave the table.
 * The memory is freed by a timer that runs after this turn's input
 * callbacks, so a datagram event already collected for this socket in
 * the same turn still finds a valid (dead) struct.
 */
static void
transfer_end(struct transfer *t)
{
	struct server *s = t->srv;

	if (t->dead)
		return;
	t->dead = 1;
	/*
	 * --once: the first transfer that ran to its end decides the exit
	 * status.  One ended by the client's own new request does not: the
	 * new one (UEFI retrying without options) is the real attempt.
	 */
	if (s->cfg->once && !s->once_done && !t->superseded) {
		s->once_done = 1;
		s->once_rc = t->ss.x.status == XFER_DONE ? 0 : 1;
		loop_stop(s->loop);
	}
	session_close(&t->ss);
	if (t->fd >= 0)
		close(t->fd);
	if (t->op == TFTP_WRQ) {
		if (!t->committed)
			files_upload_abort(&t->up);
		files_upload_release(&s->uploads, &t->up);
	}
	/*
	 * Logged after the cleanup: whoever acts on the line (a person, a
	 * script, a test) finds no temp file of a failed upload left.
	 */
	log_outcome(t);
	if (t->op == TFTP_RRQ)
		quirks_note(&s->quirks, &t->key, &t->ss.x, loop_now(s->loop));
	/*
	 * A late copy of an upload request that was served must not start
	 * an upload again.  The client stopped re-sending it when our first
	 * answer reached it, which its first datagram here proves, so the
	 * grace runs from then (not from the end: a client on a fixed port
	 * that uploads again is not held for the length of the upload).
	 * A finished RRQ is not remembered: doc/notes/late-clients.md.
	 */
	intake_leave(s->intake, &t->in, t->ss.x.status == XFER_DONE &&
	    t->op == TFTP_WRQ, t->ss.heard ? t->ss.heard : loop_now(s->loop));
	/* the last transfer ended: the idle time starts now */
	s->last_active = loop_now(s->loop);
	if (s->idle_us && live(s) == 0)
		loop_timer_set(s->loop, &s->idle, s->last_active + s->idle_us);
	loop_timer_init(&t->gone, transfer_gone_cb, t);
	loop_timer_set(s->loop, &t->gone, 1);
}

/* The OACK burst found a NIC that drops bursts: say so at -v. */
static void
log_burst(struct transfer *t)
{
	struct ev_who w = who_of(t);

	t->burst_logged = 1;
	events_narrowed(&w, &t->ss.x);
}

/* The OACK burst's verdict, once it is in. */
static void
transfer_settled(struct session *ss)
{
	struct transfer *t = ss->owner;

	if (ss->x.st.burst_narrowed && !t->burst_logged)
		log_burst(t);
}

/*
 * A finished upload dallies to re-ACK a lost final DATA: log it now.
 * Any other end is logged by transfer_end(), after cleanup.
 */
static void
transfer_done(struct session *ss, enum xfer_why why)
{
	(void)why;
	if (ss->x.phase != XP_END)
		log_outcome(ss->owner);
}

static void
transfer_over(struct session *ss)
{
	transfer_end(ss->owner);
}

static const struct session_ops transfer_ops = {
	.settled = transfer_settled,
	.done = transfer_done,
	.end = transfer_over,
};

/* ---- requests -------------------------------------------------------- */

/*
 * Answer a request we refuse, from the address it reached.  msg is the
 * short ERROR text the client gets; reason (NULL: msg) is what the log
 * says first: what happened and what to do about it.  The text line
 * ends in "refused: error N: <msg>" as it always has, so a line can be
 * matched with what the client printed.
 */
static void
refuse_at(struct server *s, int level, const struct udp_addr *local,
    const struct udp_addr *peer, const struct packet *p, int code,
    const char *msg, const char *reason)
{
	struct ev_who w = { peer, p->op, p->filename, p->mode };
	struct udp_addr a = *local;
	uint8_t pkt[PKT_ERRMSG_MAX + 8];
	size_t n;
	int fd;

	events_refusal(level, &w, code, msg, reason);
	n = packet_encode_error(pkt, sizeof(pkt), (uint16_t)code, msg);
	udp_set_port(&a, 0);
	if ((fd = udp_bind(&a, 0)) < 0)
		return;
	/* with --interface, not even an ERROR leaves through another NIC */
	if (service_bind_device(fd, s->cfg->svc.interface) == 0)
		udp_send(fd, pkt, n, peer);
	close(fd);
}

static void
refuse(struct server *s, const struct udp_addr *local,
    const struct udp_addr *peer, const struct packet *p, int code,
    const char *msg, const char *reason)
{
	refuse_at(s, LOG_QUIET, local, peer, p, code, msg, reason);
}

/*
 * The words for a refusal files.c decided: what was wrong with which
 * name, and what to do when the operator can do something.  path is the
 * normalized name (leading '/' gone, '\' mapped with --backslash).
 */
static const char *
files_reason(const struct files_err *err, int op, const char *path,
    char *buf, size_t cap)
{
	const char *m = err->msg ? err->msg : "refused";

	switch (err->why) {
	case FW_NOT_FOUND:
	case FW_NO_DIR:
		if (op == TFTP_WRQ)
			snprintf(buf, cap, "directory not found: %s (uploads "
			    "do not create directories)", path);
		else
			snprintf(buf, cap, "not found: %s", path);
		return buf;
	case FW_EXISTS:
		snprintf(buf, cap, "exists: %s; run with --overwrite to "
		    "replace", path);
		return buf;
	case FW_ESCAPE:
		return "access denied: path leaves the root";
	case FW_PERM:
		snprintf(buf, cap, "access denied: %s is not %s by the server "
		    "(uid %u)", path, op == TFTP_WRQ ? "writable" : "readable",
		    (unsigned)geteuid());
		return buf;
	case FW_SYMLINK:
		snprintf(buf, cap, "access denied: %s goes through a symlink "
		    "(without openat2 every symlink is refused)", path);
		return buf;
	case FW_NOT_REGULAR:
		snprintf(buf, cap, "access denied: %s is not a regular file",
		    path);
		return buf;
	case FW_RESERVED:
		return "access denied: names starting with .tftpx- are the "
		    "server's temp files";
	case FW_BAD_NAME:
		snprintf(buf, cap, "access denied: %s", m);
		return buf;
	case FW_NO_SPACE:
		snprintf(buf, cap, "no space: %s", m);
		return buf;
	case FW_BUSY:
		snprintf(buf, cap, "busy name: another upload of %s is in "
		    "progress", path);
		return buf;
	default:
		if (err->sys == 0)
			return m;
		snprintf(buf, cap, "%s: %s: %s", m, path, strerror(err->sys));
		return buf;
	}
}

static int
parse_mode(const char *mode, int *netascii, const char **why)
{
	if (strcasecmp(mode, "octet") == 0) {
		*netascii = 0;
		return 0;
	}
	if (strcasecmp(mode, "netascii") == 0) {
		*netascii = 1;
		return 0;
	}
	if (strcasecmp(mode, "mail") == 0)
		*why = "mode mail is not supported; use octet or netascii";
	else
		*why = "unknown transfer mode; use octet or netascii";
	return -1;
}


/*
 * Refuse a WRQ before any data moves when the announced size cannot fit:
 * over --max-upload, or more than the free space of the file system.
 */
static int
upload_size_ok(struct server *s, struct transfer *t,
    const struct tftp_opts *req, struct files_err *err, char *why,
    size_t cap)
{
	uint64_t max = s->cfg->max_upload;
	struct statvfs vfs;

	if (!(req->have & OPT_TSIZE))
		return 0;
	if (max && req->tsize > max) {
		err->code = TFTP_ENOSPACE;
		err->why = FW_NO_SPACE;
		err->msg = "file too large (over the server's --max-upload)";
		snprintf(why, cap, "too large: tsize %llu is over --max-upload "
		    "%llu", (unsigned long long)req->tsize,
		    (unsigned long long)max);
		return -1;
	}
	if (fstatvfs(t->up.dirfd, &vfs) == 0 &&
	    req->tsize > (uint64_t)vfs.f_bavail * vfs.f_frsize) {
		err->code = TFTP_ENOSPACE;
		err->why = FW_NO_SPACE;
		err->msg = "not enough free space for the announced tsize";
		snprintf(why, cap, "no space: tsize %llu, %llu bytes free in "
		    "the target directory", (unsigned long long)req->tsize,
		    (unsigned long long)vfs.f_bavail * vfs.f_frsize);
		return -1;
	}
	return 0;
}

/* ---- option negotiation, told at -v --------------------------------- */

/* Why a granted value is below the asked one. */
static const char *
clamp_reason(const struct server *s, unsigned bit, uint64_t asked)
{
	if (bit == OPT_BLKSIZE)
		return "--blksize-max";
	if (bit == OPT_WINDOWSIZE)
		return asked > s->cfg->windowsize_max ? "--windowsize-max" :
		    "blksize x windowsize at most 1 MiB";
	return "server limit";
}

/* At -v: the options asked, granted and ignored, and why (events.c). */
static void
log_start(struct transfer *t, const struct packet *p,
    const unsigned char *fate, const struct tftp_opts *req,
    const struct tftp_opts *got, int netascii, uint64_t size)
{
	struct ev_who w = who_of(t);
	struct ev_start e = { p, fate, req, got, NULL, NULL, NULL };

	if (log_level() < LOG_VERBOSE)
		return;
	e.blksize_cut = clamp_reason(t->srv, OPT_BLKSIZE, req->blksize);
	e.window_cut = t->narrowed ? t->narrowed :
	    clamp_reason(t->srv, OPT_WINDOWSIZE, req->windowsize);
	e.dropped = netascii ? "netascii size differs" : size == 0 ?
	    "empty file" : "not granted";
	events_start(&w, &e);
}


/* A transfer for request p, not yet started; NULL when out of memory. */
static struct transfer *
transfer_new(struct server *s, const struct packet *p,
    const struct udp_addr *peer, const struct dedup_key *key, int netascii)
{
	struct transfer *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->key = *key;
	t->srv = s;
	t->op = p->op;
	t->fd = -1;
	t->up.fd = t->up.dirfd = -1;
	t->ss.sock = -1;
	t->ss.peer = *peer;
	t->start = loop_now(s->loop);
	snprintf(t->name, sizeof(t->name), "%s", p->filename);
	snprintf(t->mode, sizeof(t->mode), "%s", netascii ? "netascii" :
	    "octet");
	return t;
}

/*
 * Open what t reads or writes and negotiate its options into xc.
 * Returns 0, or -1 with err and, when the words are not files_reason's,
 * *reason (in why).
 */
static int
transfer_open(struct server *s, struct transfer *t, const struct packet *p,
    const char *path, const struct tftp_opts *req, int netascii,
    struct xfer_cfg *xc, uint64_t *size, struct files_err *err, char *why,
    size_t cap, const char **reason)
{
	const struct server_cfg *cfg = s->cfg;

	if (p->op == TFTP_RRQ) {
		if ((t->fd = files_open_read(s->rootfd, path, size, err)) < 0)
			return -1;
		xc->role = XFER_SEND;
		options_negotiate(req, &s->lim, 1,
		    netascii ? -1 : (int64_t)*size, &xc->opts);
		t->narrowed = quirks_adjust(&s->quirks, &t->key, p, xc,
		    loop_now(s->loop));
		return 0;
	}
	if (files_upload_begin(s->rootfd, path, cfg->overwrite, &t->up,
	    err) < 0)
		return -1;
	if (upload_size_ok(s, t, req, err, why, cap) < 0) {
		*reason = why;
		return -1;
	}
	if (files_upload_claim(&s->uploads, &t->up, err) < 0)
		return -1;
	/* tsize 0 may mean "not known" (a pipe): nothing to hold it to */
	t->size_known = (req->have & OPT_TSIZE) && req->tsize && !netascii;
	t->size = req->tsize;
	xc->role = XFER_RECV;
	options_negotiate(req, &s->lim, 0, -1, &xc->opts);
	return 0;
}

/*
 * t's own socket (its TID), on the address the request reached, and its
 * session on it.
 */
static int
transfer_socket(struct server *s, struct transfer *t,
    const struct udp_addr *local, struct files_err *err, char *why,
    size_t cap, const char **reason)
{
	struct udp_addr a = *local;
	int sock;

	udp_set_port(&a, 0);
	if ((sock = udp_bind(&a, 0)) < 0) {
		err->code = TFTP_EUNDEF;
		err->msg = "server busy (out of sockets), try again later";
		snprintf(why, cap, "out of sockets: %s; raise the fd limit "
		    "(ulimit -n) or lower --max-transfers", strerror(errno));
		*reason = why;
		return -1;
	}
	/* --interface: the transfer, too, talks through that NIC only */
	if (service_bind_device(sock, s->cfg->svc.interface) < 0) {
		close(sock);
		err->code = TFTP_EUNDEF;
		err->msg = "server cannot use its interface";
		return -1;
	}
	udp_set_bufs(sock, SOCKBUF);
	if (session_open(&t->ss, &s->hub, sock, &t->ss.peer, 1,
	    &transfer_ops, t) < 0) {
		close(sock);
		err->code = TFTP_EUNDEF;
		err->msg = "server out of memory";
		*reason = "server out of memory";
		return -1;
	}
	return 0;
}

/* The timers of t's xfer and its io (session_start sends). */
static void
transfer_xfer_cfg(struct server *s, struct xfer_cfg *xc,
    struct xfer_io *io, int netascii)
{
	const struct server_cfg *cfg = s->cfg;

	xc->netascii = netascii;
	xc->timeout_us = (uint64_t)(xc->opts.have & OPT_TIMEOUT ?
	    xc->opts.timeout : cfg->timeout) * 1000000u;
	xc->retries = cfg->retries;
	/*
	 * A sender's retries of its last block come up to one timeout
	 * apart: linger two after each, so the next one still finds us.
	 */
	xc->dally_us = 2 * xc->timeout_us;
	xc->rto_min_us = (uint64_t)cfg->rto_min * 1000u;
	memset(io, 0, sizeof(*io));
	io->read = io_read;
	io->write = io_write;
	io->finish = io_finish;
}

static void
start_transfer(struct server *s, const struct packet *p,
    const struct udp_addr *local, const struct udp_addr *peer,
    const struct dedup_key *key, uint64_t req_hash)
{
	const struct server_cfg *cfg = s->cfg;
	struct transfer *t;
	struct tftp_opts req;
	struct xfer_cfg xc;
	struct xfer_io io;
	struct files_err err = { .code = TFTP_EUNDEF, .why = FW_IO };
	char path[FILES_NAME_MAX], why[FILES_NAME_MAX * 2];
	unsigned char fate[PKT_OPT_MAX];
	const char *msg, *reason = NULL;
	uint64_t size = 0;
	int netascii;

	if (parse_mode(p->mode, &netascii, &msg) < 0) {
		snprintf(why, sizeof(why), "bad mode: %s", msg);
		refuse(s, local, peer, p, TFTP_EBADOP, msg, why);
		return;
	}
	if (p->op == TFTP_WRQ && !cfg->upload) {
		refuse(s, local, peer, p, TFTP_EACCESS,
		    "uploads are disabled (run the server with --upload)",
		    "upload refused: run with --upload");
		return;
	}
	if (files_normalize(p->filename, cfg->backslash, path, sizeof(path),
	    &err) < 0) {
		refuse(s, local, peer, p, err.code, err.msg, files_reason(&err,
		    p->op, p->filename, why, sizeof(why)));
		return;
	}
	if ((t = transfer_new(s, p, peer, key, netascii)) == NULL) {
		refuse(s, local, peer, p, TFTP_EUNDEF, "server out of memory",
		    NULL);
		return;
	}
	options_init(&req);
	options_parse_fates(p->opts, p->nopts, &req, fate);
	memset(&xc, 0, sizeof(xc));
	if (transfer_open(s, t, p, path, &req, netascii, &xc, &size, &err,
	    why, sizeof(why), &reason) < 0 ||
	    transfer_socket(s, t, local, &err, why, sizeof(why), &reason) < 0)
		goto refused;
	if (intake_join(s->intake, &t->in, key, req_hash, t) < 0) {
		err.code = TFTP_EUNDEF;
		err.msg = reason = "server out of memory";
		goto refused;
	}
	transfer_xfer_cfg(s, &xc, &io, netascii);
	log_start(t, p, fate, &req, &xc.opts, netascii, size);
	session_start(&t->ss, &xc, &io);
	return;
refused:
	if (reason == NULL)
		reason = files_reason(&err, p->op, path, why, sizeof(why));
	refuse(s, local, peer, p, err.code, err.msg, reason);
	session_close(&t->ss);
	if (t->fd >= 0)
		close(t->fd);
	if (t->op == TFTP_WRQ) {
		files_upload_release(&s->uploads, &t->up);
		files_upload_abort(&t->up);
	}
	free(t);
}

/* At -v: a repeated request was dropped (late: its transfer had ended). */
static void
log_duplicate(const struct udp_addr *peer, const struct packet *p, int late)
{
	struct ev_who w = { peer, p->op, p->filename, p->mode };

	events_duplicate(&w, late);
}

/* Refuse a request over a limit, at most busy_per_sec a second. */
static void
refuse_busy(struct server *s, enum intake_verdict v,
    const struct udp_addr *local, const struct udp_addr *peer,
    const struct packet *p, const struct dedup_key *key)
{
	char why[128];

	/* a flood must not become a flood of ERRORs or log lines */
	if (!intake_busy_tell(s->intake, loop_now(s->loop)))
		return;
	if (v == IN_BUSY)
		snprintf(why, sizeof(why), "server busy: %zu transfers live "
		    "(--max-transfers)", live(s));
	else
		snprintf(why, sizeof(why), "server busy: %u transfers live "
		    "from this host (--max-per-client)",
		    intake_host_live(s->intake, key));
	refuse_at(s, LOG_VERBOSE, local, peer, p, TFTP_EUNDEF,
	    "server busy, try again later", why);
}

static void
handle_request(struct server *s, const uint8_t *buf, size_t len,
    const struct udp_addr *local, const struct udp_addr *peer)
{
	struct intake_live *old;
	enum intake_verdict v;
	struct dedup_key key;
	struct packet p;
	uint64_t h;

	if (packet_decode(buf, len, &p) < 0)
		return;
	/* anything but a request on the well-known port is noise */
	if (p.op != TFTP_RRQ && p.op != TFTP_WRQ)
		return;
	key = intake_key(&peer->ss);
	h = dedup_hash(buf, len);
	/*
	 * The client's last ACK may wait in its transfer's socket, read
	 * after this datagram in the same wakeup: a client on a fixed port
	 * that asks again at once (the same file, or the next one: U-Boot
	 * with tftpsrcp) sends both back to back.  Read it first; the
	 * transfer may end, as a success rather than superseded.
	 */
	if ((old = intake_find(s->intake, &key)) != NULL)
		session_read(&((struct transfer *)old->owner)->ss);
	v = intake_judge(s->intake, &key, h, loop_now(s->loop), &old);
	if (v == IN_DUPLICATE || v == IN_LATE) {
		log_duplicate(peer, &p, v == IN_LATE);
		return;
	}
	if (v == IN_SUPERSEDE) {
		/*
		 * The client gave up on the old transfer.  End it without a
		 * word: an ERROR from the old TID would reach the client
		 * first and be taken as the answer to its new request.
		 */
		struct transfer *t = old->owner;

		xfer_abort(&t->ss.x, -1,
		    "superseded by a new request from the same port");
		t->superseded = 1;
		transfer_end(t);
		v = intake_admit(s->intake, &key);
	}
	if (v != IN_NEW) {
		refuse_busy(s, v, local, peer, &p, &key);
		return;
	}
	start_transfer(s, &p, local, peer, &key, h);
}

void
server_datagram(struct server *s, const uint8_t *buf, size_t len,
    const struct udp_addr *to, const struct udp_addr *from)
{
	if (to->ss.ss_family != from->ss.ss_family)
		return;
	handle_request(s, buf, len, to, from);
}

/* A request reached a listening socket (listen.c). */
static void
request_cb(void *owner, const uint8_t *buf, size_t len,
    const struct udp_addr *to, const struct udp_addr *from)
{
	struct server *s = owner;

	s->last_active = loop_now(s->loop);
	server_datagram(s, buf, len, to, from);
}

static void
signal_cb(struct loop_fd *w, uint32_t events)
{
	struct server *s = w->arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		/* logrotate moved the file: write to a new one by that name */
		if (log_reopen() < 0)
			log_error("cannot reopen log file %s: %s; still writing "
			    "to the old one", s->cfg->log_file, strerror(errno));
		return;
	}
	loop_stop(s->loop);
}

/* ---- start-up ------------------------------------------------------- */

/* DIR cannot be served: say why and what to do, in one line. */
static void
dir_error(const char *dir, int err)
{
	switch (err) {
	case ENOENT:
		log_error("cannot serve '%s': no such directory; create it or "
		    "name another DIR", dir);
		break;
	case ENOTDIR:
		log_error("cannot serve '%s': not a directory; name the "
		    "directory that holds the files", dir);
		break;
	case EACCES:
	case EPERM:
		log_error("cannot serve '%s': permission denied for uid %u; "
		    "make it readable and searchable (chmod a+rx) or run as "
		    "its owner", dir, (unsigned)geteuid());
		break;
	default:
		log_error("cannot serve '%s': %s", dir, strerror(err));
		break;
	}
}

/* --idle-timeout: no transfer and no request for that long: exit. */
static void
idle_cb(struct loop_timer *lt)
{
	struct server *s = lt->arg;
	uint64_t due = s->last_active + s->idle_us;

	if (live(s))
		return;		/* re-armed when the last one ends */
	if (loop_now(s->loop) < due) {
		loop_timer_set(s->loop, &s->idle, due);
		return;
	}
	log_notice("idle for %llu s, exiting",
	    (unsigned long long)(s->idle_us / 1000000u));
	loop_stop(s->loop);
}

static int
open_signals(struct server *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* only with a log file: otherwise a hangup ends the server as ever */
	if (s->cfg->log_file)
		sigaddset(&set, SIGHUP);
	return loop_signal_start(s->loop, &s->sigw, &set, signal_cb, s);
}

static void
shutdown_all(struct server *s)
{
	struct intake_live *e;
	struct transfer *t;

	while (s->intake && (e = intake_any(s->intake)) != NULL) {
		t = e->owner;
		xfer_abort(&t->ss.x, TFTP_EUNDEF, "server shutting down");
		transfer_end(t);
	}
}

/*
 * CPUs this process may run on.  Polling before sleeping needs two: on
 * one, the loop would poll while the client it waits for cannot run.
 */
static int
usable_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return CPU_COUNT(&set);
}

/*
 * Everything a server needs but its listening sockets and signals: the
 * root, the memory of finished requests, the loop.  NULL (logged) when
 * one of them cannot be had.
 */
struct server *
server_new(const struct server_cfg *cfg)
{
	struct intake_cfg ic = {
		.max_live = cfg->max_transfers,
		.max_per_host = cfg->max_per_client,
		.grace_us = (uint64_t)cfg->grace * 1000000u,
		.ring_cap = DEDUP_CAP,
		.buckets = HASH_SIZE,
		.busy_per_sec = BUSY_PER_SEC,
	};
	struct server *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_error("out of memory");
		return NULL;
	}
	s->cfg = cfg;
	s->rootfd = -1;
	s->lim.blksize_max = cfg->blksize_max;
	s->lim.windowsize_max = cfg->windowsize_max;
	s->lim.window_bytes_max = cfg->window_bytes_max;
	/* events go where asked before anything can happen */
	if (cfg->log_file && log_open_file(cfg->log_file) < 0) {
		log_error("cannot open log file '%s': %s; check that its "
		    "directory exists and is writable", cfg->log_file,
		    strerror(errno));
		goto fail;
	}
	if (cfg->use_syslog)
		log_open_syslog();
	/* an unsearchable root would refuse every request: say so now */
	if ((s->rootfd = files_open_root(cfg->dir)) < 0 ||
	    faccessat(AT_FDCWD, cfg->dir, R_OK | X_OK, AT_EACCESS) < 0) {
		dir_error(cfg->dir, errno);
		goto fail;
	}
	if ((s->intake = intake_new(&ic)) == NULL) {
		log_error("out of memory");
		goto fail;
	}
	if ((s->loop = loop_new()) == NULL) {
		log_error("cannot create the event loop: %s", strerror(errno));
		goto fail;
	}
	s->hub.loop = s->loop;
	s->hub.train = &s->train;
	s->cpus = usable_cpus();
	if (cfg->spin && s->cpus > 1)
		loop_spin(s->loop, cfg->spin, s->cpus);
	return s;
fail:
	server_free(s);
	return NULL;
}

/* -v: what polling before sleeping did (see loop_spin) */
static void
log_spin(const struct server *s)
{
	uint64_t caught, slept, crowded, busy;

	if (s->cfg->spin == 0 || log_level() < LOG_VERBOSE)
		return;
	if (s->cpus < 2) {
		log_notice("no polling before sleeping: one CPU");
		return;
	}
	loop_spin_counts(s->loop, &caught, &slept, &crowded, &busy);
	log_notice("polling ended %llu waits, %llu slept (%llu of them "
	    "because another process wanted this CPU, %llu because the "
	    "machine was busy)", (unsigned long long)caught,
	    (unsigned long long)slept, (unsigned long long)crowded,
	    (unsigned long long)busy);
}

struct loop *
server_loop(const struct server *s)
{
	return s->loop;
}

size_t
server_live(const struct server *s)
{
	return live(s);
}

/* End every transfer (ERROR 0 to its client), close, free. */
void
server_free(struct server *s)
{
	const struct intake_stats *st;

	if (s == NULL)
		return;
	shutdown_all(s);
	listen_close(&s->lis);
	if (s->intake && (st = intake_stats(s->intake)) != NULL &&
	    (st->busy || st->dups))
		log_notice("%llu duplicate request%s dropped, %llu refused as "
		    "busy", (unsigned long long)st->dups, st->dups == 1 ? "" :
		    "s", (unsigned long long)st->busy);
	intake_free(s->intake);
	if (s->loop) {
		log_spin(s);
		/* run the deferred frees of ended transfers */
		loop_stop(s->loop);
		loop_run_due(s->loop);
		loop_free(s->loop);
	}
	if (s->rootfd >= 0)
		close(s->rootfd);
	free(s);
}

int
server_run(const struct server_cfg *cfg)
{
	struct server *s;
	char *abs;
	int rc = 1, n;

	signal(SIGPIPE, SIG_IGN);
	/* before anything drops the right to reach systemd's socket */
	if (service_notify_open() < 0)
		log_error("cannot reach NOTIFY_SOCKET: %s", strerror(errno));
	if ((s = server_new(cfg)) == NULL)
		return 1;
	/* each transfer holds a socket and a file */
	session_fd_room((unsigned long)cfg->max_transfers * 2 + 64);
	if (open_signals(s) < 0) {
		log_error("cannot set up signals: %s", strerror(errno));
		goto out;
	}
	if (cfg->upload && (n = files_remove_stale(s->rootfd)) > 0)
		log_notice("removed %d stale temp file%s left by a crash", n,
		    n == 1 ? "" : "s");
	s->lis.cfg = cfg;
	s->lis.loop = s->loop;
	s->lis.datagram = request_cb;
	s->lis.owner = s;
	if ((n = listen_open(&s->lis)) < 0) {
		rc = n == -2 ? 2 : 1;	/* a bad address is a usage error */
		goto out;
	}
	if (cfg->svc.interface)
		log_error("only through interface %s", cfg->svc.interface);
	abs = realpath(cfg->dir, NULL);
	/* sockets bound and the root open: root is not needed any more */
	if (service_drop(&cfg->svc, s->rootfd, abs ? abs : cfg->dir,
	    cfg->upload) < 0) {
		free(abs);
		goto out;
	}
	if (cfg->svc.seccomp && service_seccomp() < 0) {
		free(abs);
		goto out;
	}
	log_error("serving %s %s", abs ? abs : cfg->dir,
	    cfg->overwrite ? "with uploads and overwrite" :
	    cfg->upload ? "with uploads" : "read-only");
	s->idle_us = (uint64_t)(cfg->svc.idle_timeout < 0 ? (cfg->svc.inetd ?
	    SERVICE_IDLE_INETD : 0) : cfg->svc.idle_timeout) * 1000000u;
	if (s->idle_us) {
		s->last_active = loop_now(s->loop);
		loop_timer_init(&s->idle, idle_cb, s);
		loop_timer_set(s->loop, &s->idle, s->last_active + s->idle_us);
	}
	service_notify("READY=1");
	free(abs);
	listen_hints(&s->lis);
	if (loop_run(s->loop) < 0) {
		log_error("event loop failed: %s", strerror(errno));
		goto out;
	}
	/* --once: the first transfer's outcome (0 when stopped before) */
	rc = s->once_done ? s->once_rc : 0;
out:
	service_notify("STOPPING=1");
	server_free(s);
	return rc;
}
