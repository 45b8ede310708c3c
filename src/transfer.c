/*
 * transfer.c - one transfer of `tftpx serve`: the request's file opened
 * (or an upload begun) and its options negotiated, a session on a socket
 * of its own (its TID) bound to the address the request reached, the
 * file I/O behind the xfer, and at the end the log line, the upload
 * committed or dropped, and the memory of it left with intake.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "names.h"
#include "server_priv.h"
#include "service.h"
#include "xfer.h"

#define SOCKBUF		(4 << 20)	/* socket buffers for windowed sends */

/*
 * An RRQ waiting for the origin's answer (its size, or why not): the
 * request as it came, kept until the transfer can start or be refused.
 */
struct pending {
	struct packet		 p;		/* strings in buf */
	struct udp_addr		 local;
	const struct listener	*via;		/* --single-port */
	struct tftp_opts	 req;
	unsigned char		 fate[PKT_OPT_MAX];
	int			 netascii;
	char			 buf[];
};

struct transfer {
	struct session		 ss;		/* socket, peer, xfer: session.c */
	struct server		*srv;
	struct loop_timer	 gone;		/* frees the struct, see end */
	int			 op;		/* TFTP_RRQ / TFTP_WRQ */
	int			 fd;		/* file being read, or -1 */
	struct files_shared_ent	*shared;	/*  its place in files_shared */
	struct upload		*up;		/* WRQ: the temp file (after t) */
	struct origin_reader	*org;		/* RRQ from the origin */
	struct pending		*pend;		/*  ... until its head is in */
	struct origin_put	*put;		/* WRQ: the PUT to the origin */
	char			*put_opts;	/*  its X-TFTP-Options */
	int			 committed;	/* upload made visible */
	int			 logged;	/* outcome line written */
	int			 dead;		/* ended; freed by its timer */
	const char		*narrowed;	/* why the window was cut to 1 */
	int			 burst_logged;	/* the OACK burst's verdict */
	int			 superseded;	/* ended by a new request */
	int			 big;		/* counted in lis.big */
	int			 unstarted;	/* refused before its xfer ran */
	uint64_t		 start;
	int			 size_known;	/* WRQ: tsize announced (octet) */
	uint64_t		 size;		/*  ... that size */
	struct dedup_key	 key;		/* peer addr:port */
	struct intake_live	 in;		/* in the live table (intake.c) */
	struct options_limits	 lim;		/* what may be granted */
	char			 mtu_why[32];	/* "path MTU 1500": blksize cut */
	char			*name;		/* as asked (after t) */
	char			*name_path;	/* the path it led to (after) */
	char			 mode[16];
};

/* ---- transfer I/O callbacks ------------------------------------------ */

static long
io_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct transfer *t = session_owner(ctx);

	return files_shared_read(t->shared, t->fd, buf, len, off);
}

static long
io_origin_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct transfer *t = session_owner(ctx);

	return origin_read(t->org, off, buf, len);
}

static int
io_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct transfer *t = session_owner(ctx);
	uint64_t max = t->srv->cfg->max_upload;

	if (max && t->ss.x.st.bytes + len > max)
		return -EFBIG;
	return files_write_all(t->up->fd, buf, len);
}

static void transfer_end(struct transfer *t);
static void origin_who(const struct transfer *t, const struct packet *p,
    struct origin_who *who, char *client, char *file, size_t fcap,
    char *opts, size_t ocap);

/* The origin took the upload, or refused it: the final ACK, or ERROR. */
static void
put_done(void *arg, int code, const char *msg)
{
	struct transfer *t = arg;

	t->put = NULL;
	/* the temp file was only the way to the origin */
	files_upload_abort(t->up);
	t->committed = code < 0;
	session_finished(&t->ss, code, msg);
}

/* --origin-upload: the whole upload, made durable, goes on with PUT. */
static int
finish_to_origin(struct transfer *t)
{
	struct origin_who who;
	char client[UDP_ADDRSTR], file[FILES_NAME_MAX * 3];

	if (fsync(t->up->fd) < 0 && errno != EINVAL)
		return -errno;
	origin_who(t, NULL, &who, client, file, sizeof(file), NULL, 0);
	if (t->put_opts != NULL)
		who.options = t->put_opts;
	t->put = origin_put(t->srv->origin, t->name_path, &who, t->up->fd,
	    t->ss.x.st.bytes, put_done, t);
	return t->put != NULL ? -EINPROGRESS : -ENOMEM;
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
	if (t->srv->cfg->origin_upload)
		return finish_to_origin(t);
	if (files_upload_commit(t->up, &err) < 0)
		return err.sys ? -err.sys : -EIO;
	t->committed = 1;
	/* the name is in place: the next upload of it may start now */
	files_upload_release(&t->srv->uploads, t->up);
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
	session_close(&t->ss);
	origin_drop(t->org);
	t->org = NULL;
	origin_put_cancel(t->put);
	t->put = NULL;
	free(t->put_opts);
	t->put_opts = NULL;
	if (t->big)
		s->lis.big--;
	if (t->fd >= 0)
		files_unshare(&s->shared, t->shared, t->fd);
	if (t->op == TFTP_WRQ) {
		if (!t->committed)
			files_upload_abort(t->up);
		files_upload_release(&s->uploads, t->up);
	}
	/*
	 * Logged after the cleanup: whoever acts on the line (a person, a
	 * script, a test) finds no temp file of a failed upload left.
	 */
	log_outcome(t);
	if (t->op == TFTP_RRQ && !t->unstarted)
		quirks_note(&s->quirks, &t->key, &t->ss.x, loop_now(s->loop));
	free(t->pend);
	t->pend = NULL;
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
	server_transfer_ended(s, t->ss.x.status == XFER_DONE, t->superseded);
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
	if (fstatvfs(t->up->dirfd, &vfs) == 0 &&
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
clamp_reason(const struct transfer *t, unsigned bit, uint64_t asked)
{
	const struct server *s = t->srv;

	if (bit == OPT_BLKSIZE)
		return t->mtu_why[0] ? t->mtu_why : "--blksize-max";
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
	e.blksize_cut = clamp_reason(t, OPT_BLKSIZE, req->blksize);
	e.window_cut = t->narrowed ? t->narrowed :
	    clamp_reason(t, OPT_WINDOWSIZE, req->windowsize);
	e.dropped = netascii ? "netascii size differs" : size == 0 ?
	    "empty file" : "not granted";
	events_start(&w, &e);
}


/* A transfer for request p, not yet started; NULL when out of memory. */
static struct transfer *
transfer_new(struct server *s, const struct packet *p, const char *path,
    const struct udp_addr *peer, const struct dedup_key *key, int netascii)
{
	size_t up = p->op == TFTP_WRQ ? sizeof(struct upload) : 0;
	size_t len = strlen(p->filename), plen = strlen(path);
	struct transfer *t;

	/*
	 * One allocation: the struct, an upload's state for a WRQ alone,
	 * the name as long as it is.  10,000 live transfers hold 11 MB less
	 * than with both in every struct.
	 */
	if ((t = calloc(1, sizeof(*t) + up + len + 1 + plen + 1)) == NULL)
		return NULL;
	if (up) {
		t->up = (struct upload *)(t + 1);
		t->up->fd = t->up->dirfd = -1;
	}
	t->name = (char *)(t + 1) + up;
	memcpy(t->name, p->filename, len);
	t->name_path = t->name + len + 1;
	memcpy(t->name_path, path, plen);
	t->key = *key;
	t->srv = s;
	t->op = p->op;
	t->fd = -1;
	t->ss.sock = -1;
	t->ss.peer = *peer;
	t->start = loop_now(s->loop);
	snprintf(t->mode, sizeof(t->mode), "%s", netascii ? "netascii" :
	    "octet");
	return t;
}

/*
 * The MTU toward peer: --mtu, else the route's (IP_MTU of a socket
 * connected to peer: the interface's, or less where the kernel learned
 * a smaller path MTU).  0 when it cannot be told.
 */
static unsigned
path_mtu(const struct server *s, const struct udp_addr *peer)
{
	int fd, v = 0, v6 = peer->ss.ss_family == AF_INET6;
	socklen_t len = sizeof(v);

	if (s->cfg->mtu)
		return s->cfg->mtu;
	if ((fd = socket(peer->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC,
	    0)) < 0)
		return 0;
	/* --interface: the route through that NIC */
	service_bind_device(fd, s->cfg->svc.interface);
	if (connect(fd, (const struct sockaddr *)&peer->ss, peer->len) < 0 ||
	    getsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP,
	    v6 ? IPV6_MTU : IP_MTU, &v, &len) < 0)
		v = 0;
	close(fd);
	return v > 0 ? (unsigned)v : 0;
}

/*
 * What t may be granted: the server's limits, and a blksize whose DATA
 * leaves unfragmented: the MTU less the IP, UDP and TFTP headers (32
 * bytes over IPv4, 52 over IPv6).  A request for at most 512 fits any
 * path (IPv4 guarantees 576) and asks nothing of the route.
 */
static void
transfer_limits(struct server *s, struct transfer *t,
    const struct tftp_opts *req)
{
	unsigned mtu, hdr = t->ss.peer.ss.ss_family == AF_INET6 ? 52 : 32;

	t->lim = s->lim;
	if (!(req->have & OPT_BLKSIZE) || req->blksize <= PKT_BLKSIZE_DEF ||
	    (mtu = path_mtu(s, &t->ss.peer)) <= hdr + PKT_BLKSIZE_MIN ||
	    mtu - hdr >= t->lim.blksize_max)
		return;
	t->lim.blksize_max = mtu - hdr;
	snprintf(t->mtu_why, sizeof(t->mtu_why), "path MTU %u", mtu);
}

/*
 * --origin-upload: the upload is held in a nameless file until the
 * origin has it: beneath DIR (O_TMPFILE, durable by fsync) or, without
 * DIR, in memory.
 */
static int
upload_to_origin_begin(struct server *s, struct transfer *t,
    const struct packet *p, struct files_err *err)
{
	char client[UDP_ADDRSTR], file[FILES_NAME_MAX * 3], opts[1024];
	struct origin_who who;
	int fd = -1;

	/* the options as asked, for the PUT's X-TFTP-Options */
	origin_who(t, p, &who, client, file, sizeof(file), opts, sizeof(opts));
	if ((t->put_opts = strdup(opts)) == NULL) {
		files_write_err(ENOMEM, err);
		return -1;
	}
	if (s->rootfd >= 0)
		fd = openat(s->rootfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
		    0600);
	if (fd < 0)
		fd = memfd_create("tftpx-upload", MFD_CLOEXEC);
	if (fd < 0) {
		files_write_err(errno, err);
		return -1;
	}
	t->up->fd = fd;
	return 0;
}

/*
 * Open what t reads or writes and negotiate its options into xc.
 * Returns 0, 1 when an RRQ's name is for the origin (not in DIR), or -1
 * with err and, when the words are not files_reason's, *reason (in why).
 */
static int
transfer_open(struct server *s, struct transfer *t, const struct packet *p,
    const char *path, const struct tftp_opts *req, int netascii,
    struct xfer_cfg *xc, uint64_t *size, struct files_err *err, char *why,
    size_t cap, const char **reason)
{
	const struct server_cfg *cfg = s->cfg;

	if (p->op == TFTP_RRQ) {
		if (s->rootfd < 0) {
			files_set_err(err, TFTP_ENOTFOUND, FW_NOT_FOUND, ENOENT,
			    "file not found");
			return s->origin != NULL ? 1 : -1;
		}
		if ((t->fd = files_open_read(s->rootfd, path, size, err)) < 0)
			/* not here: the origin may have it */
			return s->origin != NULL && err->why == FW_NOT_FOUND ?
			    1 : -1;
		/* one fd per file, however many read it */
		t->fd = files_share(&s->shared, t->fd, &t->shared);
		xc->role = XFER_SEND;
		options_negotiate(req, &t->lim, 1,
		    netascii ? -1 : (int64_t)*size, &xc->opts);
		t->narrowed = quirks_adjust(&s->quirks, &t->key, p, xc,
		    loop_now(s->loop));
		return 0;
	}
	if (cfg->origin_upload) {
		/* the upload goes on to the origin: a temp file, no name */
		if (upload_to_origin_begin(s, t, p, err) < 0)
			return -1;
	} else if (files_upload_begin(s->rootfd, path, cfg->overwrite, t->up,
	    err) < 0)
		return -1;
	if (upload_size_ok(s, t, req, err, why, cap) < 0) {
		*reason = why;
		return -1;
	}
	if (!cfg->origin_upload &&
	    files_upload_claim(&s->uploads, t->up, err) < 0)
		return -1;
	/* tsize 0 may mean "not known" (a pipe): nothing to hold it to */
	t->size_known = (req->have & OPT_TSIZE) && req->tsize && !netascii;
	t->size = req->tsize;
	xc->role = XFER_RECV;
	options_negotiate(req, &t->lim, 0, -1, &xc->opts);
	return 0;
}

/*
 * A socket bound to local with a port from --port-range, starting after
 * the last one handed out; -1 with errno EADDRINUSE when every port of
 * the range is taken.
 */
static int
bind_in_range(struct server *s, const struct udp_addr *local)
{
	unsigned span = (unsigned)(s->cfg->port_hi - s->cfg->port_lo) + 1, i;
	struct udp_addr a;
	int fd;

	for (i = 0; i < span; i++) {
		a = *local;
		udp_set_port(&a, s->cfg->port_lo + (int)(s->port_next++ % span));
		if ((fd = udp_bind(&a, 0)) >= 0 || errno != EADDRINUSE)
			return fd;
	}
	errno = EADDRINUSE;
	return -1;
}

/* Why a transfer could not have a socket, in words for both ends. */
static void
socket_refusal(struct server *s, int e, struct files_err *err, char *why,
    size_t cap, const char **reason)
{
	err->code = TFTP_EUNDEF;
	if (s->cfg->port_lo && e == EADDRINUSE) {
		err->msg = "server busy (no free port), try again later";
		snprintf(why, cap, "no free port in --port-range %d:%d (%zu "
		    "transfers live); widen the range or lower "
		    "--max-transfers", s->cfg->port_lo, s->cfg->port_hi,
		    intake_stats(s->intake)->live);
	} else {
		err->msg = "server busy (out of sockets), try again later";
		snprintf(why, cap, "out of sockets: %s; raise the fd limit "
		    "(ulimit -n) or lower --max-transfers", strerror(e));
	}
	*reason = why;
}

/*
 * t's session: on a socket of its own (its TID), bound to the address
 * the request reached (in --port-range); with --single-port, on the
 * listener the request came to.
 */
static int
transfer_socket(struct server *s, struct transfer *t,
    const struct udp_addr *local, struct files_err *err, char *why,
    size_t cap, const char **reason)
{
	struct udp_addr a = *local;
	int sock;

	if (s->cfg->single_port && s->via != NULL) {
		session_attach(&t->ss, &s->hub, s->via->w.fd,
		    s->via->addr.ss.ss_family, local, &t->ss.peer,
		    &transfer_ops, t);
		return 0;
	}
	udp_set_port(&a, 0);
	if ((sock = s->cfg->port_lo ? bind_in_range(s, local) :
	    udp_bind(&a, 0)) < 0) {
		socket_refusal(s, errno, err, why, cap, reason);
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

/* ---- an RRQ served from the origin ---------------------------------- */

/* s with every byte outside printable ASCII, and '%', as %XX. */
static void
header_safe(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;

	for (; *u && n + 4 < cap; u++) {
		if (*u >= 0x20 && *u < 0x7f && *u != '%') {
			out[n++] = (char)*u;
		} else {
			out[n++] = '%';
			out[n++] = hex[*u >> 4];
			out[n++] = hex[*u & 15];
		}
	}
	out[n] = '\0';
}

/* Who asks, for the origin's X-TFTP-* headers. */
static void
origin_who(const struct transfer *t, const struct packet *p,
    struct origin_who *who, char *client, char *file, size_t fcap,
    char *opts, size_t ocap)
{
	char word[FILES_NAME_MAX];
	size_t i, n = 0;

	who->client = udp_format(&t->ss.peer, client);
	header_safe(t->name, file, fcap);
	who->file = file;
	who->options = "";
	if (p == NULL || opts == NULL || ocap == 0)
		return;
	opts[0] = '\0';
	for (i = 0; i < p->nopts && n + 1 < ocap; i++) {
		header_safe(p->opts[i].name, word, sizeof(word));
		n += (size_t)snprintf(opts + n, ocap - n, "%s%s=", i ? " " : "",
		    word);
		if (n >= ocap)
			break;
		header_safe(p->opts[i].value, word, sizeof(word));
		n += (size_t)snprintf(opts + n, ocap - n, "%s", word);
	}
	if (n >= ocap)
		opts[ocap - 1] = '\0';
	who->options = opts;
}

/* The request, kept while the origin's answer is on its way. */
static struct pending *
pending_new(const struct packet *p, const struct udp_addr *local,
    const struct listener *via, const struct tftp_opts *req,
    const unsigned char *fate, int netascii)
{
	size_t i, len = strlen(p->filename) + strlen(p->mode) + 2;
	struct pending *pd;
	char *b;

	for (i = 0; i < p->nopts; i++)
		len += strlen(p->opts[i].name) + strlen(p->opts[i].value) + 2;
	if ((pd = calloc(1, sizeof(*pd) + len)) == NULL)
		return NULL;
	pd->p.op = p->op;
	pd->p.nopts = p->nopts;
	b = pd->buf;
#define KEEP(dst, src) do { size_t k_ = strlen(src) + 1; \
	memcpy(b, (src), k_); (dst) = b; b += k_; } while (0)
	KEEP(pd->p.filename, p->filename);
	KEEP(pd->p.mode, p->mode);
	for (i = 0; i < p->nopts; i++) {
		KEEP(pd->p.opts[i].name, p->opts[i].name);
		KEEP(pd->p.opts[i].value, p->opts[i].value);
	}
#undef KEEP
	pd->local = *local;
	pd->via = via;
	pd->req = *req;
	memcpy(pd->fate, fate, sizeof(pd->fate));
	pd->netascii = netascii;
	return pd;
}

/*
 * Refuse an RRQ the origin could not serve (or the server could not
 * start), from the address it reached, and end it without a line of
 * its own: the refusal is its line.
 */
static void
origin_refuse(struct transfer *t, const struct packet *p,
    const struct udp_addr *local, int code, const char *msg)
{
	char why[PKT_ERRMSG_MAX + 32];

	snprintf(why, sizeof(why), "from the origin: %s", msg);
	server_refuse(t->srv, LOG_QUIET, local, &t->ss.peer, p, code, msg,
	    why);
	t->unstarted = 1;
	t->logged = 1;
	t->ss.x.status = XFER_FAILED;
	transfer_end(t);
}

/* The origin's head is in: negotiate with its size and start. */
static void
origin_go(struct transfer *t, const struct packet *p,
    const struct udp_addr *local, const struct tftp_opts *req,
    const unsigned char *fate, int netascii, int64_t size)
{
	struct server *s = t->srv;
	struct files_err err = { .code = TFTP_EUNDEF, .why = FW_IO };
	struct xfer_cfg xc;
	struct xfer_io io;
	const char *reason = NULL;
	char why[256];

	memset(&xc, 0, sizeof(xc));
	xc.role = XFER_SEND;
	/* tsize from Content-Length; none when the origin sent none */
	options_negotiate(req, &t->lim, 1, netascii || size < 0 ? -1 : size,
	    &xc.opts);
	t->narrowed = quirks_adjust(&s->quirks, &t->key, p, &xc,
	    loop_now(s->loop));
	if (transfer_socket(s, t, local, &err, why, sizeof(why),
	    &reason) < 0) {
		origin_refuse(t, p, local, err.code, err.msg);
		return;
	}
	transfer_xfer_cfg(s, &xc, &io, netascii);
	io.read = io_origin_read;
	log_start(t, p, fate, req, &xc.opts, netascii,
	    size < 0 ? 1 : (uint64_t)size);
	session_start(&t->ss, &xc, &io);
}

/* The origin has news for t: its head, more bytes, or a failure. */
static void
origin_cb(void *arg)
{
	struct transfer *t = arg;
	struct server *s = t->srv;
	const struct listener *via = s->via;
	struct pending *pd;
	const char *msg = NULL;
	int64_t size = -1;
	int code = 0;
	enum origin_state st;

	if (t->dead)
		return;
	st = origin_state(t->org, &size, &code, &msg);
	if ((pd = t->pend) == NULL) {
		if (st == ORIGIN_FAILED)
			session_abort(&t->ss, code, msg);
		else
			session_wake(&t->ss);
		return;
	}
	if (st == ORIGIN_WAIT)
		return;
	t->pend = NULL;
	/* answered from the listener the request came to */
	s->via = pd->via;
	if (st == ORIGIN_READY)
		origin_go(t, &pd->p, &pd->local, &pd->req, pd->fate,
		    pd->netascii, size);
	else
		origin_refuse(t, &pd->p, &pd->local, code, msg);
	s->via = via;
	free(pd);
}

/* An RRQ for a name not in DIR: ask the origin. */
static void
origin_begin(struct transfer *t, const struct packet *p,
    const struct udp_addr *local, const struct tftp_opts *req,
    const unsigned char *fate, int netascii)
{
	struct server *s = t->srv;
	char client[UDP_ADDRSTR], file[FILES_NAME_MAX * 3], opts[1024];
	struct origin_who who;
	const char *msg = NULL;
	int64_t size = -1;
	int code = 0;

	if (!origin_path_ok(t->name_path)) {
		origin_refuse(t, p, local, TFTP_EACCESS, "path leaves the root");
		return;
	}
	origin_who(t, p, &who, client, file, sizeof(file), opts, sizeof(opts));
	if ((t->org = origin_get(s->origin, t->name_path, &who, origin_cb,
	    t)) == NULL) {
		origin_refuse(t, p, local, TFTP_EUNDEF, "server out of memory");
		return;
	}
	switch (origin_state(t->org, &size, &code, &msg)) {
	case ORIGIN_READY:
		origin_go(t, p, local, req, fate, netascii, size);
		return;
	case ORIGIN_FAILED:
		origin_refuse(t, p, local, code, msg);
		return;
	case ORIGIN_WAIT:
		break;
	}
	if ((t->pend = pending_new(p, local, s->via, req, fate,
	    netascii)) == NULL)
		origin_refuse(t, p, local, TFTP_EUNDEF, "server out of memory");
}

void
transfer_start(struct server *s, const struct packet *p,
    const struct udp_addr *local, const struct udp_addr *peer,
    const struct dedup_key *key, uint64_t req_hash)
{
	const struct server_cfg *cfg = s->cfg;
	struct transfer *t;
	struct tftp_opts req;
	struct xfer_cfg xc;
	struct xfer_io io;
	struct files_err err = { .code = TFTP_EUNDEF, .why = FW_IO };
	char why[FILES_NAME_MAX * 2], refusal[REMAP_MAX];
	struct names_out no;
	const char *path = no.path;
	unsigned char fate[PKT_OPT_MAX];
	const char *msg, *reason = NULL;
	uint64_t size = 0;
	int netascii, rc;

	if (parse_mode(p->mode, &netascii, &msg) < 0) {
		snprintf(why, sizeof(why), "bad mode: %s", msg);
		server_refuse(s, LOG_QUIET, local, peer, p, TFTP_EBADOP, msg, why);
		return;
	}
	if (p->op == TFTP_WRQ && !cfg->upload) {
		server_refuse(s, LOG_QUIET, local, peer, p, TFTP_EACCESS,
		    "uploads are disabled (run the server with --upload)",
		    "upload refused: run with --upload");
		return;
	}
	if (names_resolve(&s->names, s->rootfd, p->filename,
	    p->op == TFTP_WRQ, peer, local, &no, &err, refusal,
	    sizeof(refusal)) < 0) {
		server_refuse(s, LOG_QUIET, local, peer, p, err.code, err.msg,
		    files_reason(&err, p->op, p->filename, why, sizeof(why)));
		return;
	}
	if ((t = transfer_new(s, p, path, peer, key, netascii)) == NULL) {
		server_refuse(s, LOG_QUIET, local, peer, p, TFTP_EUNDEF, "server out of memory",
		    NULL);
		return;
	}
	if (no.how[0]) {
		struct ev_who w = who_of(t);

		events_name(&w, no.path, no.how);
	}
	options_init(&req);
	options_parse_fates(p->opts, p->nopts, &req, fate);
	transfer_limits(s, t, &req);
	memset(&xc, 0, sizeof(xc));
	if ((rc = transfer_open(s, t, p, path, &req, netascii, &xc, &size,
	    &err, why, sizeof(why), &reason)) < 0 || (rc == 0 &&
	    transfer_socket(s, t, local, &err, why, sizeof(why), &reason) < 0))
		goto refused;
	if (intake_join(s->intake, &t->in, key, req_hash, t) < 0) {
		err.code = TFTP_EUNDEF;
		err.msg = reason = "server out of memory";
		goto refused;
	}
	if (rc == 1) {
		/* not in DIR: the origin's, once its answer is in */
		origin_begin(t, p, local, &req, fate, netascii);
		return;
	}
	transfer_xfer_cfg(s, &xc, &io, netascii);
	if (t->ss.shared && t->op == TFTP_WRQ &&
	    xc.opts.blksize + 4 >= LISTEN_SLOT) {
		/* its DATA would not fit the listener's batch slots */
		t->big = 1;
		s->lis.big++;
	}
	log_start(t, p, fate, &req, &xc.opts, netascii, size);
	session_start(&t->ss, &xc, &io);
	return;
refused:
	if (reason == NULL)
		reason = files_reason(&err, p->op, path, why, sizeof(why));
	server_refuse(s, LOG_QUIET, local, peer, p, err.code, err.msg, reason);
	session_close(&t->ss);
	if (t->fd >= 0)
		files_unshare(&s->shared, t->shared, t->fd);
	if (t->op == TFTP_WRQ) {
		files_upload_release(&s->uploads, t->up);
		files_upload_abort(t->up);
	}
	free(t->put_opts);
	free(t);
}

void
transfer_read(struct transfer *t)
{
	if (t->pend == NULL)
		session_read(&t->ss);
}

int
transfer_input(struct transfer *t, const struct udp_addr *to,
    const struct udp_addr *from, const uint8_t *buf, size_t len)
{
	if (t->dead || !t->ss.shared || !udp_same_host(to, &t->ss.local))
		return -1;
	session_input(&t->ss, from, buf, len);
	return 0;
}

void
transfer_supersede(struct transfer *t)
{
	/*
	 * The client gave up on it.  End it without a word: an ERROR from
	 * the old TID would reach the client first and be taken as the
	 * answer to its new request.
	 */
	if (t->pend != NULL) {
		/* still waiting for the origin: nothing was sent */
		t->unstarted = t->logged = 1;
		t->ss.x.status = XFER_FAILED;
	} else {
		xfer_abort(&t->ss.x, -1, "superseded by a new request from "
		    "the same port");
	}
	t->superseded = 1;
	transfer_end(t);
}

void
transfer_shutdown(struct transfer *t)
{
	if (t->pend != NULL) {
		t->unstarted = t->logged = 1;
		t->ss.x.status = XFER_FAILED;
	} else {
		xfer_abort(&t->ss.x, TFTP_EUNDEF, "server shutting down");
	}
	transfer_end(t);
}
