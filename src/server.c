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
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
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
#include "events.h"
#include "files.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "packet.h"
#include "server.h"
#include "server_int.h"
#include "service.h"
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
	const char		*narrowed;	/* why the window was cut to 1 */
	int			 burst_logged;	/* the OACK burst's verdict */
	int			 superseded;	/* ended by a new request */
	uint64_t		 start;
	uint64_t		 dups;		/* duplicate requests dropped */
	uint64_t		 heard;		/* the client's first datagram here */
	struct dedup_key	 key;		/* peer addr:port */
	struct client_count	*cc;		/* live transfers of this host */
	char			 name[FILES_NAME_MAX];
	char			 mode[16];
	uint64_t		 req_hash;	/* of the request datagram */
	struct transfer		*hnext;		/* duplicate-table chain */
};

/* Live transfers per client host, for --max-per-client. */
struct client_count {
	struct dedup_key	 host;		/* port 0 */
	unsigned		 n;
	struct client_count	*next;
};

/*
 * Hosts whose last windowed download kept losing window tails: a NIC
 * that takes one or two packets of a burst (U-Boot's e1000 under QEMU,
 * doc/notes/uboot-e1000.md).  Windows cannot go faster than lock-step for
 * such a client and cost it probes, so for NARROW_US its next downloads
 * are granted windowsize 1.  Random loss also loses tails, but more
 * gap ACKs arrive than tails are lost (xfer.c probe_needed): not such a
 * host.  A small ring: forgetting early only costs one more windowed
 * download.
 */
#define NARROW_MAX	64
#define NARROW_US	(600 * 1000000ull)	/* ten minutes */
#define NARROW_TAILS	8		/* tails lost, and at least */
#define NARROW_PCT	2		/*  this percent of its windows */

#define OACK_BURST	3		/* OACK copies a U-Boot client is sent */

struct narrow {
	struct dedup_key	 host;		/* port 0 */
	uint64_t		 until;		/* 0: free */
	int			 burst;		/* found by the OACK burst */
};

struct server {
	const struct server_cfg	*cfg;
	struct loop		*loop;
	int			 cpus;		/* usable_cpus() at start */
	int			 rootfd;
	struct listener		 ls[SERVER_LISTEN_MAX * 2];
	int			 nls;
	struct loop_fd		 sigw;
	struct loop_timer	 idle;		/* --idle-timeout */
	uint64_t		 idle_us;	/*  0: never */
	uint64_t		 last_active;	/*  last request or end */
	struct options_limits	 lim;
	struct transfer		*hash[HASH_SIZE];
	struct client_count	*hosts[HASH_SIZE];
	struct files_uploads	 uploads;	/* live WRQs: one per name */
	struct dedup		*recent;	/* finished requests */
	struct narrow		 narrow[NARROW_MAX]; /* tail-losing hosts */
	unsigned		 narrow_next;	/* ring position */
	size_t			 live;
	uint64_t		 busy_stamp;	/* busy ERROR rate limit */
	unsigned		 busy_sent;
	uint64_t		 dups;		/* duplicate requests dropped */
	uint64_t		 busy;		/* requests refused as busy */
	int			 once_done;	/* --once: first transfer ended */
	int			 once_rc;	/*  and its exit status */
	uint8_t			 rx[PKT_MAX + 1];	/* transfers' datagrams */
	uint8_t			 req_rx[PKT_MAX + 1];	/* requests: kept while
							   a transfer reads */
	uint8_t			 scratch[XFER_SCRATCH];
	/*
	 * The train: datagrams one xfer call emits (a window) are
	 * collected here and leave in one system call when the call
	 * returns (train_flush), instead of one sendto each.
	 */
	struct transfer		*train_owner;
	size_t			 train_len;	/* bytes in train */
	size_t			 train_seg;	/* size of each but the last */
	unsigned		 train_n;
	uint8_t			 train[UDP_TRAIN_BYTES];
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

static struct narrow *
narrow_find(struct server *s, const struct dedup_key *peer)
{
	struct dedup_key h = *peer;
	uint64_t now = loop_now(s->loop);
	unsigned i;

	h.port = 0;
	for (i = 0; i < NARROW_MAX; i++)
		if (s->narrow[i].until > now &&
		    key_eq(&s->narrow[i].host, &h))
			return &s->narrow[i];
	return NULL;
}

/* A download ended: remember its host if its windows kept losing tails. */
static void
narrow_note(struct server *s, const struct transfer *t)
{
	const struct xfer *x = &t->x;
	uint64_t windows;
	struct narrow *n;

	if (t->op != TFTP_RRQ)
		return;
	/* the OACK burst found it; else the windows' tails must show it */
	if (!x->st.burst_narrowed) {
		if (x->opts.windowsize < 2)
			return;
		windows = x->st.data_sent / x->opts.windowsize + 1;
		if (x->st.tails < NARROW_TAILS || x->st.tails <= x->st.gaps ||
		    x->st.tails * 100 < windows * NARROW_PCT)
			return;
	}
	if ((n = narrow_find(s, &t->key)) == NULL) {
		n = &s->narrow[s->narrow_next++ % NARROW_MAX];
		n->host = t->key;
		n->host.port = 0;
	}
	n->until = loop_now(s->loop) + NARROW_US;
	n->burst = x->st.burst_narrowed;
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
	files_upload_release(&t->srv->uploads, &t->up);
	return 0;
}

/* Send the train (see struct server); a lost send is a lost packet. */
static void
train_flush(struct server *s)
{
	struct transfer *t = s->train_owner;

	if (t == NULL)
		return;
	if (s->train_len)
		udp_send_train(t->sock, s->train, s->train_len, s->train_seg,
		    &t->peer);
	s->train_owner = NULL;
	s->train_len = 0;
	s->train_n = 0;
}

/*
 * Add a datagram to the train.  A train is one transfer's datagrams of
 * one size (the last may be shorter), as GSO needs; anything else sends
 * what is there first.  Order is kept, so pacing and probes are as sent.
 */
static void
io_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct transfer *t = ctx;
	struct server *s = t->srv;

	if (len > sizeof(s->train)) {
		/* a block larger than a train (blksize near 65464): alone */
		train_flush(s);
		udp_send(t->sock, pkt, len, &t->peer);
		return;
	}
	if (s->train_owner != t || s->train_n == UDP_TRAIN_MAX ||
	    s->train_len + len > sizeof(s->train) ||
	    (s->train_n && (len > s->train_seg ||
	    s->train_len % s->train_seg != 0)))
		train_flush(s);
	if (s->train_n == 0) {
		s->train_owner = t;
		s->train_seg = len;
	}
	memcpy(s->train + s->train_len, pkt, len);
	s->train_len += len;
	s->train_n++;
}

/* ---- transfer lifecycle ---------------------------------------------- */

/* What the events of transfer t are about. */
static struct ev_who
who_of(const struct transfer *t)
{
	struct ev_who w = { &t->peer, t->op, t->name, t->mode };

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
	events_end(&w, &t->x, t->dups,
	    (double)(loop_now(t->srv->loop) - t->start) / 1e6);
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
	if (s->train_owner == t)
		train_flush(s);
	t->dead = 1;
	/*
	 * --once: the first transfer that ran to its end decides the exit
	 * status.  One ended by the client's own new request does not: the
	 * new one (UEFI retrying without options) is the real attempt.
	 */
	if (s->cfg->once && !s->once_done && !t->superseded) {
		s->once_done = 1;
		s->once_rc = t->x.status == XFER_DONE ? 0 : 1;
		loop_stop(s->loop);
	}
	loop_fd_stop(s->loop, &t->w);
	close(t->sock);
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
	narrow_note(s, t);
	/*
	 * A late copy of an upload request that was served must not start
	 * an upload again.  The client stopped re-sending it when our first
	 * answer reached it, which its first datagram here proves, so the
	 * grace runs from then (not from the end: a client on a fixed port
	 * that uploads again is not held for the length of the upload).
	 * A finished RRQ is not remembered: doc/notes/late-clients.md.
	 */
	if (t->x.status == XFER_DONE && t->op == TFTP_WRQ)
		dedup_remember(s->recent, &t->key, t->req_hash,
		    t->heard ? t->heard : loop_now(s->loop));
	table_del(s, t);
	host_put(s, t->cc);
	s->live--;
	/* the last transfer ended: the idle time starts now */
	s->last_active = loop_now(s->loop);
	if (s->idle_us && s->live == 0)
		loop_timer_set(s->loop, &s->idle, s->last_active + s->idle_us);
	loop_timer_stop(s->loop, &t->t);
	loop_timer_init(&t->t, transfer_free_cb, t);
	loop_timer_set(s->loop, &t->t, 1);
}

/* The OACK burst found a NIC that drops bursts: say so at -v. */
static void
log_burst(struct transfer *t)
{
	struct ev_who w = who_of(t);

	t->burst_logged = 1;
	events_narrowed(&w, &t->x);
}

/* After every input or tick: log, end, or re-arm. */
static void
transfer_settle(struct transfer *t)
{
	struct xfer *x = &t->x;

	train_flush(t->srv);
	if (x->st.burst_narrowed && !t->burst_logged)
		log_burst(t);
	/*
	 * A finished upload dallies to re-ACK a lost final DATA: log it
	 * now.  Any other end is logged by transfer_end(), after cleanup.
	 */
	if (x->status != XFER_RUNNING && x->phase != XP_END)
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
	uint64_t sent;
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
		if (t->heard == 0)
			t->heard = loop_now(s->loop);
		sent = t->x.st.pkts_sent;
		xfer_input(&t->x, s->rx, (size_t)len, loop_now(s->loop));
		transfer_settle(t);
		/*
		 * We answered: the peer's next packet is a round trip away,
		 * so another read now would only find nothing (in lock-step,
		 * one wasted system call per block).  Anything already
		 * queued wakes the loop again.
		 */
		if (t->x.st.pkts_sent != sent)
			break;
	}
}

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

/*
 * A request in U-Boot's form (net/tftp.c): mode octet, and the options in
 * its order, timeout first: timeout, [tsize], blksize, [windowsize].  Such
 * a client gets the OACK burst (struct xfer_cfg.oack_burst): U-Boot
 * answers every OACK copy and takes a second OACK's windowsize, which
 * RFC 2347 does not promise of other clients.
 */
static int
uboot_like(const struct packet *p)
{
	static const char *const order[] = {
		"timeout", "tsize", "blksize", "windowsize",
	};
	size_t i, j = 0;

	if (p->nopts < 2 || strcmp(p->mode, "octet") != 0 ||
	    strcmp(p->opts[0].name, order[0]) != 0)
		return 0;
	for (i = 0; i < p->nopts; i++) {
		while (j < sizeof(order) / sizeof(order[0]) &&
		    strcmp(p->opts[i].name, order[j]) != 0)
			j++;
		if (j == sizeof(order) / sizeof(order[0]))
			return 0;
		j++;
	}
	return 1;
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
	struct files_err err = { .code = TFTP_EUNDEF, .why = FW_IO };
	struct udp_addr a;
	char path[FILES_NAME_MAX], why[FILES_NAME_MAX * 2];
	unsigned char fate[PKT_OPT_MAX];
	const char *msg, *reason = NULL;
	uint64_t size = 0;
	struct narrow *nw;
	int netascii;

	if (parse_mode(p->mode, &netascii, &msg) < 0) {
		snprintf(why, sizeof(why), "bad mode: %s", msg);
		refuse(s, local, peer, p, TFTP_EBADOP, msg, why);
		return 0;
	}
	if (p->op == TFTP_WRQ && !cfg->upload) {
		refuse(s, local, peer, p, TFTP_EACCESS,
		    "uploads are disabled (run the server with --upload)",
		    "upload refused: run with --upload");
		return 0;
	}
	if (files_normalize(p->filename, cfg->backslash, path, sizeof(path),
	    &err) < 0) {
		refuse(s, local, peer, p, err.code, err.msg, files_reason(&err,
		    p->op, p->filename, why, sizeof(why)));
		return 0;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		refuse(s, local, peer, p, TFTP_EUNDEF, "server out of memory",
		    NULL);
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
	options_parse_fates(p->opts, p->nopts, &req, fate);
	memset(&xc, 0, sizeof(xc));
	if (p->op == TFTP_RRQ) {
		t->fd = files_open_read(s->rootfd, path, &size, &err);
		if (t->fd < 0)
			goto refused;
		xc.role = XFER_SEND;
		options_negotiate(&req, &s->lim, 1,
		    netascii ? -1 : (int64_t)size, &xc.opts);
		if ((xc.opts.have & OPT_WINDOWSIZE) &&
		    xc.opts.windowsize > 1 &&
		    (nw = narrow_find(s, key)) != NULL) {
			xc.opts.windowsize = 1;
			t->narrowed = nw->burst ?
			    "this host's NIC dropped back-to-back packets "
			    "lately" :
			    "this host's windows lost their tails lately";
		}
		if (uboot_like(p))
			xc.oack_burst = OACK_BURST;
	} else {
		if (files_upload_begin(s->rootfd, path, cfg->overwrite,
		    &t->up, &err) < 0)
			goto refused;
		if (upload_size_ok(s, t, &req, &err, why, sizeof(why)) < 0) {
			reason = why;
			goto refused;
		}
		if (files_upload_claim(&s->uploads, &t->up, &err) < 0)
			goto refused;
		xc.role = XFER_RECV;
		options_negotiate(&req, &s->lim, 0, -1, &xc.opts);
	}
	a = *local;
	udp_set_port(&a, 0);
	if ((t->sock = udp_bind(&a, 0)) < 0) {
		err.code = TFTP_EUNDEF;
		err.msg = "server busy (out of sockets), try again later";
		snprintf(why, sizeof(why), "out of sockets: %s; raise the fd "
		    "limit (ulimit -n) or lower --max-transfers",
		    strerror(errno));
		reason = why;
		goto refused;
	}
	/* --interface: the transfer, too, talks through that NIC only */
	if (service_bind_device(t->sock, cfg->svc.interface) < 0) {
		err.code = TFTP_EUNDEF;
		err.msg = "server cannot use its interface";
		goto refused;
	}
	set_bufs(t->sock);
	xc.netascii = netascii;
	xc.timeout_us = (uint64_t)(xc.opts.have & OPT_TIMEOUT ?
	    xc.opts.timeout : cfg->timeout) * 1000000u;
	xc.retries = cfg->retries;
	/*
	 * A sender's retries of its last block come up to one timeout
	 * apart: linger two after each, so the next one still finds us.
	 */
	xc.dally_us = 2 * xc.timeout_us;
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
		reason = "server out of memory";
		goto refused;
	}
	t->cc = cc;
	cc->n++;
	table_add(s, t);
	s->live++;
	log_start(t, p, fate, &req, &xc.opts, netascii, size);
	xfer_start(&t->x, loop_now(s->loop));
	transfer_settle(t);
	return 1;
refused:
	if (reason == NULL)
		reason = files_reason(&err, p->op, path, why, sizeof(why));
	refuse(s, local, peer, p, err.code, err.msg, reason);
	if (t->sock >= 0)
		close(t->sock);
	if (t->fd >= 0)
		close(t->fd);
	if (t->op == TFTP_WRQ) {
		files_upload_release(&s->uploads, &t->up);
		files_upload_abort(&t->up);
	}
	free(t);
	return 0;
}

/* At -v: a repeated request was dropped (late: its transfer had ended). */
static void
log_duplicate(const struct udp_addr *peer, const struct packet *p, int late)
{
	struct ev_who w = { peer, p->op, p->filename, p->mode };

	events_duplicate(&w, late);
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
	char why[128];

	if (packet_decode(buf, len, &p) < 0)
		return;
	/* anything but a request on the well-known port is noise */
	if (p.op != TFTP_RRQ && p.op != TFTP_WRQ)
		return;
	key = peer_key(peer);
	h = dedup_hash(buf, len);
	old = table_find(s, &key);
	if (old != NULL) {
		/*
		 * The client's last ACK may wait in the transfer's socket,
		 * read after this datagram in the same wakeup: a client on
		 * a fixed port that asks again at once (the same file, or
		 * the next one: U-Boot with tftpsrcp) sends both back to
		 * back.  Read it first; the transfer may end, as a success
		 * rather than superseded.
		 */
		transfer_sock_cb(&old->w, 0);
		old = table_find(s, &key);
	}
	if (old != NULL) {
		if (old->req_hash == h) {
			old->dups++;
			s->dups++;
			log_duplicate(peer, &p, 0);
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
		old->superseded = 1;
		transfer_end(old);
	} else if (dedup_seen(s->recent, &key, h, loop_now(s->loop))) {
		s->dups++;
		log_duplicate(peer, &p, 1);
		return;
	}
	if ((cc = host_get(s, &key)) == NULL) {
		refuse(s, local, peer, &p, TFTP_EUNDEF, "server out of memory",
		    NULL);
		return;
	}
	if (s->live >= cfg->max_transfers || cc->n >= cfg->max_per_client) {
		s->busy++;
		/* a flood must not become a flood of ERRORs or log lines */
		if (busy_allowed(s)) {
			if (s->live >= cfg->max_transfers)
				snprintf(why, sizeof(why), "server busy: %zu "
				    "transfers live (--max-transfers)",
				    s->live);
			else
				snprintf(why, sizeof(why), "server busy: %u "
				    "transfers live from this host "
				    "(--max-per-client)", cc->n);
			refuse_at(s, LOG_VERBOSE, local, peer, &p,
			    TFTP_EUNDEF, "server busy, try again later", why);
		}
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
		len = udp_recv(l->w.fd, s->req_rx, sizeof(s->req_rx), &from,
		    &to);
		if (len < 0)
			break;
		s->last_active = loop_now(s->loop);
		if (to.len == 0) {
			/* no pktinfo (should not happen): the bound address */
			to = l->addr;
		}
		/*
		 * A dual-stack socket from systemd (ListenDatagram=69) gives
		 * IPv4 peers as ::ffff:a.b.c.d; transfer sockets are IPv6-only
		 * or IPv4, so answer them as the IPv4 they are.
		 */
		service_unmap(&from);
		service_unmap(&to);
		server_datagram(s, s->req_rx, (size_t)len, &to, &from);
	}
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

#define HOLDER_INODES	16	/* sockets on one port looked up at most */

/*
 * The inodes of the UDP sockets bound to port, from /proc/net/udp and
 * /proc/net/udp6.  Best effort: an unreadable file gives nothing.
 */
static size_t
port_inodes(int port, unsigned long *ino, size_t cap)
{
	static const char *const tab[] = { "/proc/net/udp", "/proc/net/udp6" };
	char line[512];
	unsigned lport;
	unsigned long inode;
	size_t i, n = 0;
	FILE *f;

	for (i = 0; i < 2; i++) {
		if ((f = fopen(tab[i], "re")) == NULL)
			continue;
		/* "sl local rem st tx:rx tr:tm retr uid timeout inode" */
		while (n < cap && fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, " %*s %*[0-9A-Fa-f]:%x %*s %*s %*s "
			    "%*s %*s %*s %*s %lu", &lport, &inode) == 2 &&
			    (int)lport == port && inode != 0)
				ino[n++] = inode;
		}
		fclose(f);
	}
	return n;
}

/*
 * "pid 1234 (python3)" for the process holding UDP port, from the
 * socket inodes and the /proc/PID/fd links.  Best effort: processes we
 * may not look into are skipped.  Returns 0 or -1 (unknown).
 */
static int
port_holder(int port, char *buf, size_t cap)
{
	unsigned long ino[HOLDER_INODES], got;
	char dir[64], link[96], target[64], comm[64], *end;
	struct dirent *pe, *fe;
	long pid = 0, fdn;
	DIR *pd, *fd;
	size_t n, i;
	FILE *f;
	int found = 0;

	if ((n = port_inodes(port, ino, HOLDER_INODES)) == 0)
		return -1;
	if ((pd = opendir("/proc")) == NULL)
		return -1;
	while (!found && (pe = readdir(pd)) != NULL) {
		pid = strtol(pe->d_name, &end, 10);
		if (pid <= 0 || *end != '\0')
			continue;
		snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
		if ((fd = opendir(dir)) == NULL)
			continue;
		while (!found && (fe = readdir(fd)) != NULL) {
			ssize_t l;

			fdn = strtol(fe->d_name, &end, 10);
			if (fdn < 0 || *end != '\0' || fe->d_name[0] == '\0')
				continue;
			snprintf(link, sizeof(link), "%s/%ld", dir, fdn);
			l = readlink(link, target, sizeof(target) - 1);
			if (l <= 0)
				continue;
			target[l] = '\0';
			if (sscanf(target, "socket:[%lu]", &got) != 1)
				continue;
			for (i = 0; i < n; i++)
				if (ino[i] == got)
					found = 1;
		}
		closedir(fd);
	}
	closedir(pd);
	if (!found)
		return -1;
	comm[0] = '\0';
	snprintf(dir, sizeof(dir), "/proc/%ld/comm", pid);
	if ((f = fopen(dir, "re")) != NULL) {
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(buf, cap, "pid %ld (%s)", pid, comm[0] ? comm : "?");
	return 0;
}

/* Why a listening socket could not be had, and what to do, in one line. */
static void
listen_error(const char *verb, const struct udp_addr *a, int err)
{
	char buf[UDP_ADDRSTR], who[128];

	udp_format(a, buf);
	if (err == EADDRINUSE) {
		if (port_holder(udp_port(a), who, sizeof(who)) == 0)
			log_error("%s %s: port %d is in use by %s; stop it "
			    "or use another --port", verb, buf, udp_port(a),
			    who);
		else
			log_error("%s %s: port %d is in use (another TFTP "
			    "server?); stop it or use another --port", verb,
			    buf, udp_port(a));
	} else if (err == EACCES && udp_port(a) < 1024) {
		log_error("%s %s: permission denied for port %d; run as root, "
		    "grant CAP_NET_BIND_SERVICE, or use --port 6969", verb,
		    buf, udp_port(a));
	} else if (err == EADDRNOTAVAIL) {
		log_error("%s %s: no interface of this host has that address",
		    verb, buf);
	} else {
		log_error("%s %s: %s", verb, buf, strerror(err));
	}
}

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

#define HINT_MAX	16	/* addresses named at start-up */

struct hint {
	int	family;
	char	addr[INET6_ADDRSTRLEN];
	int	port;
};

static int
hint_add(struct hint *h, int n, int family, const void *addr, int port)
{
	char txt[INET6_ADDRSTRLEN];
	int i;

	if (n >= HINT_MAX ||
	    inet_ntop(family, addr, txt, sizeof(txt)) == NULL)
		return n;
	for (i = 0; i < n; i++)
		if (h[i].family == family && h[i].port == port &&
		    strcmp(h[i].addr, txt) == 0)
			return n;
	h[n].family = family;
	h[n].port = port;
	memcpy(h[n].addr, txt, sizeof(txt));
	return n + 1;
}

/*
 * The addresses of this host a device can reach, for a wildcard
 * listener of family.  Loopback only with lo (when nothing else is
 * there); IPv6 link-local never: it needs a zone a boot loader lacks.
 */
static int
hint_wildcard(struct hint *h, int n, int family, int port, int lo)
{
	struct ifaddrs *ifa, *i;
	const struct in6_addr *a6;
	const void *ad;

	if (getifaddrs(&ifa) < 0)
		return n;
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family ||
		    !(i->ifa_flags & IFF_UP) ||
		    !(i->ifa_flags & IFF_LOOPBACK) != !lo)
			continue;
		if (family == AF_INET) {
			ad = &((const struct sockaddr_in *)
			    (const void *)i->ifa_addr)->sin_addr;
		} else {
			a6 = &((const struct sockaddr_in6 *)
			    (const void *)i->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(a6))
				continue;
			ad = a6;
		}
		n = hint_add(h, n, family, ad, port);
	}
	freeifaddrs(ifa);
	return n;
}

/* The addresses of the listeners, IPv4 first; lo: see hint_wildcard(). */
static int
hint_collect(const struct server *s, struct hint *h, int lo)
{
	const struct udp_addr *a;
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;
	int i, n = 0, v6;

	for (v6 = 0; v6 < 2; v6++) {
		for (i = 0; i < s->nls; i++) {
			a = &s->ls[i].addr;
			s4 = (const struct sockaddr_in *)(const void *)&a->ss;
			s6 = (const struct sockaddr_in6 *)(const void *)&a->ss;
			if (!v6 && a->ss.ss_family == AF_INET) {
				if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
					n = hint_wildcard(h, n, AF_INET,
					    udp_port(a), lo);
				else if (!lo)
					n = hint_add(h, n, AF_INET,
					    &s4->sin_addr, udp_port(a));
			} else if (v6 && a->ss.ss_family == AF_INET6) {
				if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
					n = hint_wildcard(h, n, AF_INET6,
					    udp_port(a), lo);
				else if (!lo)
					n = hint_add(h, n, AF_INET6,
					    &s6->sin6_addr, udp_port(a));
			}
		}
	}
	return n;
}

/*
 * After the "serving" line: what to type on a device, with a real
 * address of this host (IPv4 first: most boot loaders speak only that),
 * and the other addresses it answers on.
 */
static void
log_hints(const struct server *s)
{
	struct hint h[HINT_MAX];
	char also[512] = "", port[32] = "";
	int i, n, best;

	if ((n = hint_collect(s, h, 0)) == 0)
		n = hint_collect(s, h, 1);
	if (n == 0)
		return;
	best = 0;
	if (h[best].port != 69)
		snprintf(port, sizeof(port), "setenv tftpdstp %d; ",
		    h[best].port);
	if (h[best].family == AF_INET)
		log_notice("U-Boot: setenv serverip %s; %stftpboot ${loadaddr} "
		    "<file>", h[best].addr, port);
	else
		log_notice("U-Boot: setenv serverip6 %s; %stftpboot "
		    "${loadaddr} <file> -ipv6", h[best].addr, port);
	for (i = 1; i < n; i++) {
		log_append(also, sizeof(also), "%s%s%s%s", i > 1 ? ", " : "",
		    h[i].family == AF_INET6 ? "[" : "", h[i].addr,
		    h[i].family == AF_INET6 ? "]" : "");
		if (h[i].port != h[best].port)
			log_append(also, sizeof(also), ":%d", h[i].port);
	}
	if (also[0])
		log_notice("also reachable at %s", also);
}

/* Serve on fd (bound to a); the listener owns fd from here on. */
static int
listener_attach(struct server *s, int fd, const struct udp_addr *a)
{
	struct listener *l = &s->ls[s->nls];
	char buf[UDP_ADDRSTR];
	int e;

	if (s->nls == (int)(sizeof(s->ls) / sizeof(s->ls[0]))) {
		errno = EMFILE;
		goto fail;
	}
	if (service_bind_device(fd, s->cfg->svc.interface) < 0)
		goto fail;
	/* room for a boot storm's requests while a turn is busy */
	set_bufs(fd);
	l->addr = *a;
	l->srv = s;
	if (loop_fd_start(s->loop, &l->w, fd, listener_cb, l) < 0)
		goto fail;
	s->nls++;
	/* printed even with -q: with port 0 it is the only way to know */
	log_error("listening on %s", udp_format(a, buf));
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int
add_listener(struct server *s, struct udp_addr *a)
{
	int fd;

	if ((fd = udp_bind(a, 1)) < 0)
		return -1;
	return listener_attach(s, fd, a);
}

/*
 * Sockets someone else bound: systemd's (LISTEN_FDS) or inetd's (fd 0).
 * Returns 1 when there were some, 0 when we bind our own, -1 on error.
 */
static int
adopt_listeners(struct server *s)
{
	const struct service_cfg *svc = &s->cfg->svc;
	struct udp_addr a;
	const char *why = NULL, *from;
	int fds[SERVICE_FDS_MAX], i, n;

	if (svc->inetd) {
		if (service_inetd_stdio(&why) < 0) {
			log_error("%s", why);
			return -1;
		}
		fds[0] = 0;
		n = 1;
		from = "inetd";
	} else {
		if ((n = service_listen_fds(fds, SERVICE_FDS_MAX, &why)) < 0) {
			log_error("socket activation: %s", why);
			return -1;
		}
		if (n == 0)
			return 0;
		from = "systemd";
	}
	if (s->cfg->nlisten)
		log_error("--listen ignored, using the socket%s from %s",
		    n == 1 ? "" : "s", from);
	for (i = 0; i < n; i++) {
		if (service_adopt(fds[i], &a, &why) < 0) {
			log_error("socket %d from %s: %s", fds[i], from, why);
			return -1;
		}
		if (listener_attach(s, fds[i], &a) < 0) {
			log_error("socket %d from %s: %s", fds[i], from,
			    strerror(errno));
			return -1;
		}
	}
	return 1;
}

static int
open_listeners(struct server *s)
{
	const struct server_cfg *cfg = s->cfg;
	struct udp_addr a;
	char host[256];
	const char *why;
	int i, port;

	if ((i = adopt_listeners(s)) != 0)
		return i < 0 ? -1 : 0;
	if (cfg->nlisten == 0) {
		/* all IPv4 and IPv6 addresses, on one port */
		udp_resolve("", cfg->port, AF_INET, &a, &why);
		if (add_listener(s, &a) < 0) {
			listen_error("cannot listen on", &a, errno);
			return -1;
		}
		port = udp_port(&a);
		udp_resolve("", port, AF_INET6, &a, &why);
		if (add_listener(s, &a) < 0 && errno != EAFNOSUPPORT)
			listen_error("not listening on", &a, errno);
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
			listen_error("cannot listen on", &a, errno);
			return -1;
		}
	}
	return 0;
}

/* --idle-timeout: no transfer and no request for that long: exit. */
static void
idle_cb(struct loop_timer *lt)
{
	struct server *s = lt->arg;
	uint64_t due = s->last_active + s->idle_us;

	if (s->live)
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
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/* only with a log file: otherwise a hangup ends the server as ever */
	if (s->cfg->log_file)
		sigaddset(&set, SIGHUP);
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
	if ((s->recent = dedup_new(DEDUP_CAP,
	    (uint64_t)cfg->grace * 1000000u)) == NULL) {
		log_error("out of memory");
		goto fail;
	}
	if ((s->loop = loop_new()) == NULL) {
		log_error("cannot create the event loop: %s", strerror(errno));
		goto fail;
	}
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
	log_hints(s);
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
