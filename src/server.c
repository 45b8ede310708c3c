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
 *  - one log line per transfer, when its outcome is known.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "dedup.h"
#include "files.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "packet.h"
#include "server.h"
#include "server_int.h"
#include "udp.h"
#include "xfer.h"

/*
 * The fuzz build (fuzz/fuzz_request.c) shrinks the two tables: a server
 * life per input must cost little, and small tables make chains and ring
 * reuse happen.
 */
#ifndef HASH_SIZE
#define HASH_SIZE	4096		/* buckets of the duplicate table */
#endif
#define RECV_BURST	64		/* datagrams read per wakeup and socket */
#define SOCKBUF		(4 << 20)	/* socket buffers for windowed sends */
#ifndef DEDUP_CAP
#define DEDUP_CAP	16384		/* finished requests remembered */
#endif
#define BUSY_PER_SEC	100		/* "server busy" ERRORs sent per second */

struct server;

struct listener {
	struct loop_fd	 w;
	struct udp_addr	 addr;
	struct server	*srv;
};

struct transfer {
	struct xfer		 x;
	struct server		*srv;
	struct loop_fd		 w;
	struct loop_timer	 t;
	int			 sock;
	struct udp_addr		 peer;
	int			 op;		/* TFTP_RRQ / TFTP_WRQ */
	int			 fd;		/* file being read, or -1 */
	struct upload		 up;		/* WRQ: the temp file */
	int			 committed;	/* upload made visible */
	int			 logged;	/* outcome line written */
	int			 dead;		/* ended; freed by its timer */
	uint64_t		 start;
	uint64_t		 dups;		/* duplicate requests dropped */
	struct dedup_key	 key;		/* peer addr:port */
	struct client_count	*cc;		/* live transfers of this host */
	dev_t			 up_dev;	/* WRQ: directory and name */
	ino_t			 up_ino;	/*  that one upload at a time owns */
	char			 name[FILES_NAME_MAX];
	char			 mode[16];
	uint64_t		 req_hash;	/* of the request datagram */
	struct transfer		*hnext;		/* duplicate-table chain */
	struct transfer		*unext;		/* live uploads list */
};

/* Live transfers per client host, for --max-per-client. */
struct client_count {
	struct dedup_key	 host;		/* port 0 */
	unsigned		 n;
	struct client_count	*next;
};

struct server {
	const struct server_cfg	*cfg;
	struct loop		*loop;
	int			 rootfd;
	struct listener		 ls[SERVER_LISTEN_MAX * 2];
	int			 nls;
	struct loop_fd		 sigw;
	struct options_limits	 lim;
	struct transfer		*hash[HASH_SIZE];
	struct client_count	*hosts[HASH_SIZE];
	struct transfer		*uploads;	/* live WRQs */
	struct dedup		*recent;	/* finished requests */
	size_t			 live;
	uint64_t		 busy_stamp;	/* busy ERROR rate limit */
	unsigned		 busy_sent;
	uint64_t		 dups;		/* duplicate requests dropped */
	uint64_t		 busy;		/* requests refused as busy */
	uint8_t			 rx[PKT_MAX + 1];
	uint8_t			 scratch[XFER_SCRATCH];
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
	cfg->grace = 15;
	cfg->max_transfers = 1000;
	cfg->max_per_client = 64;
	cfg->rto_min = 10;
}

/* ---- duplicate table ------------------------------------------------- */

static struct dedup_key
peer_key(const struct udp_addr *a)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
	struct dedup_key k;

	memset(&k, 0, sizeof(k));
	if (a->ss.ss_family == AF_INET6) {
		k.family = 6;
		memcpy(k.addr, &s6->sin6_addr, 16);
	} else {
		k.family = 4;
		memcpy(k.addr, &s4->sin_addr, 4);
	}
	k.port = (uint16_t)udp_port(a);
	return k;
}

static int
key_eq(const struct dedup_key *a, const struct dedup_key *b)
{
	return a->family == b->family && a->port == b->port &&
	    memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

static struct transfer *
table_find(struct server *s, const struct dedup_key *k)
{
	struct transfer *t;

	for (t = s->hash[dedup_key_hash(k) % HASH_SIZE]; t; t = t->hnext)
		if (key_eq(&t->key, k))
			return t;
	return NULL;
}

static void
table_add(struct server *s, struct transfer *t)
{
	unsigned h = dedup_key_hash(&t->key) % HASH_SIZE;

	t->hnext = s->hash[h];
	s->hash[h] = t;
}

static void
table_del(struct server *s, struct transfer *t)
{
	struct transfer **pp;

	pp = &s->hash[dedup_key_hash(&t->key) % HASH_SIZE];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == t) {
			*pp = t->hnext;
			return;
		}
	}
}

/* ---- limits ---------------------------------------------------------- */

/* The live-transfer count of a host, created on first use (NULL: ENOMEM). */
static struct client_count *
host_get(struct server *s, const struct dedup_key *peer)
{
	struct dedup_key h = *peer;
	struct client_count *c;
	unsigned b;

	h.port = 0;
	b = dedup_key_hash(&h) % HASH_SIZE;
	for (c = s->hosts[b]; c; c = c->next)
		if (key_eq(&c->host, &h))
			return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->host = h;
	c->next = s->hosts[b];
	s->hosts[b] = c;
	return c;
}

/* Forget a host entry whose count is 0. */
static void
host_put_empty(struct server *s, struct client_count *c)
{
	struct client_count **pp;

	pp = &s->hosts[dedup_key_hash(&c->host) % HASH_SIZE];
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			free(c);
			return;
		}
	}
}

static void
host_put(struct server *s, struct client_count *c)
{
	if (--c->n == 0)
		host_put_empty(s, c);
}

/* Token bucket: may another "server busy" ERROR go out now? */
static int
busy_allowed(struct server *s)
{
	uint64_t now = loop_now(s->loop);

	if (now - s->busy_stamp >= 1000000) {
		s->busy_stamp = now;
		s->busy_sent = 0;
	}
	return s->busy_sent++ < BUSY_PER_SEC;
}

/* A live upload of the same directory entry, if any. */
static struct transfer *
upload_find(struct server *s, dev_t dev, ino_t ino, const char *base)
{
	struct transfer *t;

	for (t = s->uploads; t; t = t->unext)
		if (t->up_dev == dev && t->up_ino == ino &&
		    strcmp(t->up.base, base) == 0)
			return t;
	return NULL;
}

static void
upload_del(struct server *s, struct transfer *t)
{
	struct transfer **pp;

	for (pp = &s->uploads; *pp; pp = &(*pp)->unext) {
		if (*pp == t) {
			*pp = t->unext;
			return;
		}
	}
}

/* ---- transfer I/O callbacks ------------------------------------------ */

static long
io_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct transfer *t = ctx;

	return files_pread_full(t->fd, buf, len, off);
}

static int
io_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct transfer *t = ctx;
	uint64_t max = t->srv->cfg->max_upload;

	if (max && t->x.st.bytes + len > max)
		return -EFBIG;
	return files_write_all(t->up.fd, buf, len);
}

static int
io_finish(void *ctx)
{
	struct transfer *t = ctx;
	struct files_err err;

	if (files_upload_commit(&t->up, &err) < 0)
		return err.sys ? -err.sys : -EIO;
	t->committed = 1;
	/* the name is in place: the next upload of it may start now */
	upload_del(t->srv, t);
	return 0;
}

static void
io_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct transfer *t = ctx;

	/* a lost send is a lost packet: the timer recovers it */
	udp_send(t->sock, pkt, len, &t->peer);
}

/* ---- transfer lifecycle ---------------------------------------------- */

static void
log_outcome(struct transfer *t)
{
	struct xfer *x = &t->x;
	char peer[UDP_ADDRSTR], name[FILES_NAME_MAX * 4 + 1], opts[160];
	char outcome[PKT_ERRMSG_MAX * 4 + 32], msg[PKT_ERRMSG_MAX * 4 + 1];
	double secs = (double)(loop_now(t->srv->loop) - t->start) / 1e6;
	double rate = secs > 0 ? (double)x->st.bytes / secs / 1e6 : 0;
	int ok = x->status == XFER_DONE;

	if (t->logged)
		return;
	t->logged = 1;
	if (ok)
		snprintf(outcome, sizeof(outcome), "ok");
	else
		snprintf(outcome, sizeof(outcome), "error %d: %s%s",
		    x->err_code, x->err_peer ? "from client: " : "",
		    log_safe(x->err_msg, msg, sizeof(msg)));
	options_format(&x->opts, opts, sizeof(opts));
	log_event(ok ? LOG_NORMAL : LOG_QUIET,
	    "%s %s \"%s\" %s%s%s %llu bytes %.3f s %.1f MB/s "
	    "retransmits=%llu probes=%llu answered=%llu dupacks=%llu "
	    "dupreqs=%llu srtt=%.2fms pace=%lluus %s",
	    udp_format(&t->peer, peer), packet_op_name(t->op),
	    log_safe(t->name, name, sizeof(name)), t->mode,
	    opts[0] ? " " : "", opts, (unsigned long long)x->st.bytes, secs,
	    rate, (unsigned long long)x->st.retransmits,
	    (unsigned long long)x->st.probes,
	    (unsigned long long)x->st.probes_answered,
	    (unsigned long long)x->st.dup_acks, (unsigned long long)t->dups,
	    (double)x->srtt / 1000.0,
	    (unsigned long long)x->st.pace_max_us, outcome);
}

static void
transfer_free_cb(struct loop_timer *lt)
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
	log_outcome(t);
	t->dead = 1;
	loop_fd_stop(s->loop, &t->w);
	close(t->sock);
	if (t->fd >= 0)
		close(t->fd);
	if (t->op == TFTP_WRQ) {
		if (!t->committed)
			files_upload_abort(&t->up);
		upload_del(s, t);
	}
	/* a late copy of a request that was served must not run again */
	if (t->x.status == XFER_DONE)
		dedup_remember(s->recent, &t->key, t->req_hash,
		    loop_now(s->loop));
	table_del(s, t);
	host_put(s, t->cc);
	s->live--;
	loop_timer_stop(s->loop, &t->t);
	loop_timer_init(&t->t, transfer_free_cb, t);
	loop_timer_set(s->loop, &t->t, 1);
}

/* After every input or tick: log, end, or re-arm. */
static void
transfer_settle(struct transfer *t)
{
	struct xfer *x = &t->x;

	if (x->status != XFER_RUNNING)
		log_outcome(t);
	if (x->phase == XP_END) {
		transfer_end(t);
		return;
	}
	loop_timer_set(t->srv->loop, &t->t, x->deadline);
}

static void
transfer_timer_cb(struct loop_timer *lt)
{
	struct transfer *t = lt->arg;

	if (t->dead)
		return;
	xfer_tick(&t->x, loop_now(t->srv->loop));
	transfer_settle(t);
}

static void
transfer_sock_cb(struct loop_fd *w, uint32_t events)
{
	struct transfer *t = w->arg;
	struct server *s = t->srv;
	struct udp_addr from;
	uint8_t err[64];
	size_t n;
	long len;
	int i;

	(void)events;
	for (i = 0; i < RECV_BURST && !t->dead; i++) {
		len = udp_recv(t->sock, s->rx, sizeof(s->rx), &from, NULL);
		if (len < 0)
			break;
		if (!udp_same(&from, &t->peer)) {
			/* RFC 1350 section 4: a stranger gets ERROR 5 */
			n = packet_encode_error(err, sizeof(err), TFTP_EBADID,
			    NULL);
			udp_send(t->sock, err, n, &from);
			continue;
		}
		xfer_input(&t->x, s->rx, (size_t)len, loop_now(s->loop));
		transfer_settle(t);
	}
}

/* ---- requests -------------------------------------------------------- */

/* Answer a request we refuse, from the address it reached. */
static void
refuse_at(struct server *s, int level, const struct udp_addr *local,
    const struct udp_addr *peer, int op, const char *name, int code,
    const char *msg)
{
	struct udp_addr a = *local;
	char p[UDP_ADDRSTR], safe[FILES_NAME_MAX * 4 + 1];
	uint8_t pkt[PKT_ERRMSG_MAX + 8];
	size_t n;
	int fd;

	log_event(level, "%s %s \"%s\" refused: error %d: %s",
	    udp_format(peer, p), packet_op_name(op),
	    log_safe(name, safe, sizeof(safe)), code, msg);
	n = packet_encode_error(pkt, sizeof(pkt), (uint16_t)code, msg);
	udp_set_port(&a, 0);
	if ((fd = udp_bind(&a, 0)) < 0)
		return;
	udp_send(fd, pkt, n, peer);
	close(fd);
	(void)s;
}

static void
refuse(struct server *s, const struct udp_addr *local,
    const struct udp_addr *peer, int op, const char *name, int code,
    const char *msg)
{
	refuse_at(s, LOG_QUIET, local, peer, op, name, code, msg);
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

static void
set_bufs(int fd)
{
	int sz = SOCKBUF;

	/* the force variants pass rmem_max/wmem_max when we are root */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

/*
 * Refuse a WRQ before any data moves when the announced size cannot fit:
 * over --max-upload, or more than the free space of the file system.
 */
static int
upload_size_ok(struct server *s, struct transfer *t,
    const struct tftp_opts *req, struct files_err *err)
{
	uint64_t max = s->cfg->max_upload;
	struct statvfs vfs;

	if (!(req->have & OPT_TSIZE))
		return 0;
	if (max && req->tsize > max) {
		err->code = TFTP_ENOSPACE;
		err->msg = "file too large (over the server's --max-upload)";
		return -1;
	}
	if (fstatvfs(t->up.dirfd, &vfs) == 0 &&
	    req->tsize > (uint64_t)vfs.f_bavail * vfs.f_frsize) {
		err->code = TFTP_ENOSPACE;
		err->msg = "not enough free space for the announced tsize";
		return -1;
	}
	return 0;
}

/* Claim the target name: one upload per name at a time. */
static int
upload_claim(struct server *s, struct transfer *t, struct files_err *err)
{
	struct stat st;

	if (fstat(t->up.dirfd, &st) < 0) {
		err->code = TFTP_EUNDEF;
		err->msg = "cannot stat the target directory";
		return -1;
	}
	if (upload_find(s, st.st_dev, st.st_ino, t->up.base)) {
		err->code = TFTP_EACCESS;
		err->msg = "another upload of this name is in progress";
		return -1;
	}
	t->up_dev = st.st_dev;
	t->up_ino = st.st_ino;
	t->unext = s->uploads;
	s->uploads = t;
	return 0;
}

static int
start_transfer(struct server *s, const struct packet *p,
    const struct udp_addr *local, const struct udp_addr *peer,
    const struct dedup_key *key, uint64_t req_hash,
    struct client_count *cc)
{
	const struct server_cfg *cfg = s->cfg;
	struct transfer *t;
	struct tftp_opts req;
	struct xfer_cfg xc;
	struct xfer_io io;
	struct files_err err;
	struct udp_addr a;
	char path[FILES_NAME_MAX];
	const char *why;
	uint64_t size = 0;
	int netascii;

	if (parse_mode(p->mode, &netascii, &why) < 0) {
		refuse(s, local, peer, p->op, p->filename, TFTP_EBADOP, why);
		return 0;
	}
	if (p->op == TFTP_WRQ && !cfg->upload) {
		refuse(s, local, peer, p->op, p->filename, TFTP_EACCESS,
		    "uploads are disabled (run the server with --upload)");
		return 0;
	}
	if (files_normalize(p->filename, cfg->backslash, path, sizeof(path),
	    &err) < 0) {
		refuse(s, local, peer, p->op, p->filename, err.code, err.msg);
		return 0;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		refuse(s, local, peer, p->op, p->filename, TFTP_EUNDEF,
		    "server out of memory");
		return 0;
	}
	t->req_hash = req_hash;
	t->key = *key;
	t->srv = s;
	t->op = p->op;
	t->fd = -1;
	t->up.fd = t->up.dirfd = -1;
	t->sock = -1;
	t->peer = *peer;
	t->start = loop_now(s->loop);
	snprintf(t->name, sizeof(t->name), "%s", p->filename);
	snprintf(t->mode, sizeof(t->mode), "%s", netascii ? "netascii" :
	    "octet");
	loop_timer_init(&t->t, transfer_timer_cb, t);

	options_init(&req);
	options_parse(p->opts, p->nopts, &req);
	memset(&xc, 0, sizeof(xc));
	if (p->op == TFTP_RRQ) {
		t->fd = files_open_read(s->rootfd, path, &size, &err);
		if (t->fd < 0)
			goto refused;
		xc.role = XFER_SEND;
		options_negotiate(&req, &s->lim, 1,
		    netascii ? -1 : (int64_t)size, &xc.opts);
	} else {
		if (files_upload_begin(s->rootfd, path, cfg->overwrite,
		    &t->up, &err) < 0)
			goto refused;
		if (upload_size_ok(s, t, &req, &err) < 0 ||
		    upload_claim(s, t, &err) < 0)
			goto refused;
		xc.role = XFER_RECV;
		options_negotiate(&req, &s->lim, 0, -1, &xc.opts);
	}
	a = *local;
	udp_set_port(&a, 0);
	if ((t->sock = udp_bind(&a, 0)) < 0) {
		err.code = TFTP_EUNDEF;
		err.msg = "server busy (out of sockets), try again later";
		goto refused;
	}
	set_bufs(t->sock);
	xc.netascii = netascii;
	xc.timeout_us = (uint64_t)(xc.opts.have & OPT_TIMEOUT ?
	    xc.opts.timeout : cfg->timeout) * 1000000u;
	xc.retries = cfg->retries;
	xc.dally_us = xc.timeout_us;
	xc.rto_min_us = (uint64_t)cfg->rto_min * 1000u;
	io.ctx = t;
	io.read = io_read;
	io.release = NULL;
	io.write = io_write;
	io.finish = io_finish;
	io.send = io_send;
	io.scratch = s->scratch;
	xfer_init(&t->x, &xc, &io);
	if (loop_fd_start(s->loop, &t->w, t->sock, transfer_sock_cb, t) < 0) {
		err.code = TFTP_EUNDEF;
		err.msg = "server out of memory";
		goto refused;
	}
	t->cc = cc;
	cc->n++;
	table_add(s, t);
	s->live++;
	if (log_level() >= LOG_VERBOSE) {
		char pa[UDP_ADDRSTR], safe[FILES_NAME_MAX * 4 + 1], o[160];

		options_format(&xc.opts, o, sizeof(o));
		log_event(LOG_VERBOSE, "%s %s \"%s\" %s start%s%s",
		    udp_format(peer, pa), packet_op_name(t->op),
		    log_safe(t->name, safe, sizeof(safe)), t->mode,
		    o[0] ? ", granted " : "", o);
	}
	xfer_start(&t->x, loop_now(s->loop));
	transfer_settle(t);
	return 1;
refused:
	refuse(s, local, peer, p->op, p->filename, err.code, err.msg);
	if (t->sock >= 0)
		close(t->sock);
	if (t->fd >= 0)
		close(t->fd);
	if (t->op == TFTP_WRQ) {
		upload_del(s, t);
		files_upload_abort(&t->up);
	}
	free(t);
	return 0;
}

static void
handle_request(struct server *s, const uint8_t *buf, size_t len,
    const struct udp_addr *local, const struct udp_addr *peer)
{
	const struct server_cfg *cfg = s->cfg;
	struct dedup_key key;
	struct client_count *cc;
	struct transfer *old;
	struct packet p;
	uint64_t h;
	char pa[UDP_ADDRSTR], safe[FILES_NAME_MAX * 4 + 1];

	if (packet_decode(buf, len, &p) < 0)
		return;
	/* anything but a request on the well-known port is noise */
	if (p.op != TFTP_RRQ && p.op != TFTP_WRQ)
		return;
	key = peer_key(peer);
	h = dedup_hash(buf, len);
	if ((old = table_find(s, &key)) != NULL) {
		if (old->req_hash == h) {
			old->dups++;
			s->dups++;
			log_event(LOG_VERBOSE, "%s %s \"%s\" duplicate request "
			    "dropped", udp_format(peer, pa),
			    packet_op_name(p.op),
			    log_safe(p.filename, safe, sizeof(safe)));
			return;
		}
		/*
		 * A new request from the same port: the client gave up on
		 * the old one.  End it without a word: an ERROR from the old
		 * TID would reach the client first and be taken as the
		 * answer to its new request.
		 */
		xfer_abort(&old->x, -1,
		    "superseded by a new request from the same port");
		transfer_end(old);
	} else if (dedup_seen(s->recent, &key, h, loop_now(s->loop))) {
		s->dups++;
		log_event(LOG_VERBOSE, "%s %s \"%s\" late duplicate of a "
		    "finished transfer dropped", udp_format(peer, pa),
		    packet_op_name(p.op),
		    log_safe(p.filename, safe, sizeof(safe)));
		return;
	}
	if ((cc = host_get(s, &key)) == NULL) {
		refuse(s, local, peer, p.op, p.filename, TFTP_EUNDEF,
		    "server out of memory");
		return;
	}
	if (s->live >= cfg->max_transfers || cc->n >= cfg->max_per_client) {
		s->busy++;
		/* a flood must not become a flood of ERRORs or log lines */
		if (busy_allowed(s))
			refuse_at(s, LOG_VERBOSE, local, peer, p.op,
			    p.filename, TFTP_EUNDEF,
			    "server busy, try again later");
		/* a refused request leaves no host entry behind */
		if (cc->n == 0)
			host_put_empty(s, cc);
		return;
	}
	/* started, the transfer owns a count of cc (and may have ended) */
	if (!start_transfer(s, &p, local, peer, &key, h, cc) && cc->n == 0)
		host_put_empty(s, cc);
}

void
server_datagram(struct server *s, const uint8_t *buf, size_t len,
    const struct udp_addr *to, const struct udp_addr *from)
{
	if (to->ss.ss_family != from->ss.ss_family)
		return;
	handle_request(s, buf, len, to, from);
}

static void
listener_cb(struct loop_fd *w, uint32_t events)
{
	struct listener *l = w->arg;
	struct server *s = l->srv;
	struct udp_addr from, to;
	long len;
	int i;

	(void)events;
	for (i = 0; i < RECV_BURST; i++) {
		len = udp_recv(l->w.fd, s->rx, sizeof(s->rx), &from, &to);
		if (len < 0)
			break;
		if (to.len == 0) {
			/* no pktinfo (should not happen): the bound address */
			to = l->addr;
		}
		server_datagram(s, s->rx, (size_t)len, &to, &from);
	}
}

static void
signal_cb(struct loop_fd *w, uint32_t events)
{
	struct server *s = w->arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(w->fd, &si, sizeof(si)) > 0)
		loop_stop(s->loop);
}

/* ---- start-up -------------------------------------------------------- */

static int
add_listener(struct server *s, struct udp_addr *a)
{
	struct listener *l = &s->ls[s->nls];
	char buf[UDP_ADDRSTR];
	int fd;

	if ((fd = udp_bind(a, 1)) < 0)
		return -1;
	/* room for a boot storm's requests while a turn is busy */
	set_bufs(fd);
	l->addr = *a;
	l->srv = s;
	if (loop_fd_start(s->loop, &l->w, fd, listener_cb, l) < 0) {
		close(fd);
		return -1;
	}
	s->nls++;
	/* printed even with -q: with port 0 it is the only way to know */
	log_error("listening on %s", udp_format(a, buf));
	return 0;
}

static int
open_listeners(struct server *s)
{
	const struct server_cfg *cfg = s->cfg;
	struct udp_addr a;
	char host[256], buf[UDP_ADDRSTR];
	const char *why;
	int i, port;

	if (cfg->nlisten == 0) {
		/* all IPv4 and IPv6 addresses, on one port */
		udp_resolve("", cfg->port, AF_INET, &a, &why);
		if (add_listener(s, &a) < 0) {
			log_error("cannot listen on %s: %s",
			    udp_format(&a, buf), strerror(errno));
			return -1;
		}
		port = udp_port(&a);
		udp_resolve("", port, AF_INET6, &a, &why);
		if (add_listener(s, &a) < 0 && errno != EAFNOSUPPORT)
			log_error("not listening on %s: %s",
			    udp_format(&a, buf), strerror(errno));
		return 0;
	}
	for (i = 0; i < cfg->nlisten; i++) {
		if (udp_split_hostport(cfg->listen[i], cfg->port, host,
		    sizeof(host), &port, &why) < 0 ||
		    udp_resolve(host, port, AF_UNSPEC, &a, &why) < 0) {
			log_error("bad listen address '%s': %s",
			    cfg->listen[i], why);
			return -2;
		}
		if (add_listener(s, &a) < 0) {
			log_error("cannot listen on %s: %s%s",
			    udp_format(&a, buf), strerror(errno),
			    errno == EACCES ? " (ports below 1024 need root "
			    "or CAP_NET_BIND_SERVICE; try --port 6969)" : "");
			return -1;
		}
	}
	return 0;
}

static int
open_signals(struct server *s)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	if ((fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -1;
	return loop_fd_start(s->loop, &s->sigw, fd, signal_cb, s);
}

static void
shutdown_all(struct server *s)
{
	struct transfer *t;
	unsigned i;

	for (i = 0; i < HASH_SIZE; i++) {
		while ((t = s->hash[i]) != NULL) {
			xfer_abort(&t->x, TFTP_EUNDEF, "server shutting down");
			transfer_end(t);
		}
	}
}

/*
 * Each transfer holds a socket and a file: let the soft fd limit reach
 * what --max-transfers needs, as far as the hard limit allows.
 */
static void
raise_fd_limit(const struct server_cfg *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_transfers * 2 + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * Everything a server needs but its listening sockets and signals: the
 * root, the memory of finished requests, the loop.  NULL (logged) when
 * one of them cannot be had.
 */
struct server *
server_new(const struct server_cfg *cfg)
{
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
	if ((s->rootfd = files_open_root(cfg->dir)) < 0) {
		log_error("cannot serve '%s': %s", cfg->dir, strerror(errno));
		goto fail;
	}
	if ((s->recent = dedup_new(DEDUP_CAP,
	    (uint64_t)cfg->grace * 1000000u)) == NULL) {
		log_error("out of memory");
		goto fail;
	}
	if ((s->loop = loop_new()) == NULL) {
		log_error("cannot create the event loop: %s", strerror(errno));
		goto fail;
	}
	return s;
fail:
	server_free(s);
	return NULL;
}

struct loop *
server_loop(const struct server *s)
{
	return s->loop;
}

size_t
server_live(const struct server *s)
{
	return s->live;
}

/* End every transfer (ERROR 0 to its client), close, free. */
void
server_free(struct server *s)
{
	int i;

	if (s == NULL)
		return;
	shutdown_all(s);
	for (i = 0; i < s->nls; i++)
		close(s->ls[i].w.fd);
	dedup_free(s->recent);
	if (s->busy || s->dups)
		log_notice("%llu duplicate request%s dropped, %llu refused as "
		    "busy", (unsigned long long)s->dups, s->dups == 1 ? "" :
		    "s", (unsigned long long)s->busy);
	if (s->loop) {
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
	if ((s = server_new(cfg)) == NULL)
		return 1;
	raise_fd_limit(cfg);
	if (open_signals(s) < 0) {
		log_error("cannot set up signals: %s", strerror(errno));
		goto out;
	}
	if (cfg->upload && (n = files_remove_stale(s->rootfd)) > 0)
		log_notice("removed %d stale temp file%s left by a crash", n,
		    n == 1 ? "" : "s");
	if ((n = open_listeners(s)) < 0) {
		rc = n == -2 ? 2 : 1;	/* a bad address is a usage error */
		goto out;
	}
	abs = realpath(cfg->dir, NULL);
	log_error("serving %s %s", abs ? abs : cfg->dir,
	    cfg->overwrite ? "with uploads and overwrite" :
	    cfg->upload ? "with uploads" : "read-only");
	free(abs);
	if (loop_run(s->loop) < 0) {
		log_error("event loop failed: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	server_free(s);
	return rc;
}
