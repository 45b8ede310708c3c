/*
 * session.c - one transfer on the wire; see session.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "packet.h"
#include "session.h"

void *
session_owner(void *ctx)
{
	return ((struct session *)ctx)->owner;
}

/* ---- sending --------------------------------------------------------- */

/*
 * len bytes of seg-byte datagrams to to: from the session's own socket,
 * or from its local address on a shared one.  A lost send is a lost
 * packet: the xfer's timer recovers it.
 */
static void
emit(struct session *s, const uint8_t *buf, size_t len, size_t seg,
    const struct udp_addr *to)
{
	if (s->shared)
		udp_post(s->hub->post, s->sock, s->sock_family, buf, len, seg,
		    to, &s->local);
	else
		udp_send_train(s->sock, buf, len, seg, to);
}

static void
train_flush(struct session_train *tr)
{
	struct session *s = tr->owner;

	if (s == NULL)
		return;
	if (tr->len)
		emit(s, tr->buf, tr->len, tr->seg, &s->peer);
	tr->owner = NULL;
	tr->len = 0;
	tr->n = 0;
}

static void
train_add(struct session_train *tr, struct session *s, const uint8_t *pkt,
    size_t len)
{
	if (len > sizeof(tr->buf)) {
		/* a block larger than a train (blksize near 65464): alone */
		train_flush(tr);
		emit(s, pkt, len, len, &s->peer);
		return;
	}
	if (tr->owner != s || tr->n == UDP_TRAIN_MAX ||
	    tr->len + len > sizeof(tr->buf) ||
	    (tr->n && (len > tr->seg || tr->len % tr->seg != 0)))
		train_flush(tr);
	if (tr->n == 0) {
		tr->owner = s;
		tr->seg = len;
	}
	memcpy(tr->buf + tr->len, pkt, len);
	tr->len += len;
	tr->n++;
}

/* The xfer's send: to the peer (the server's address until locked). */
static void
session_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct session *s = ctx;

	if (s->hub->train != NULL)
		train_add(s->hub->train, s, pkt, len);
	else
		emit(s, pkt, len, len, &s->peer);
}

/* Stop the timer and the watcher (once: the fd may be another's later). */
static void
unwatch(struct session *s)
{
	struct loop *l = s->hub->loop;

	loop_timer_stop(l, &s->t);
	if (s->w.fd >= 0)
		loop_fd_stop(l, &s->w);
	s->w.fd = -1;
}

static void
flush_own(struct session *s)
{
	if (s->hub->train != NULL && s->hub->train->owner == s)
		train_flush(s->hub->train);
}

/* ---- events ---------------------------------------------------------- */

/*
 * After every event: send the train, tell the owner what became of the
 * transfer, re-arm the timer.
 */
static void
settle(struct session *s)
{
	struct loop *l = s->hub->loop;
	struct xfer *x = &s->x;

	flush_own(s);
	if (s->ops->settled)
		s->ops->settled(s);
	if (x->status != XFER_RUNNING && !s->told) {
		s->told = 1;
		if (s->ops->done)
			s->ops->done(s, (enum xfer_why)x->why);
	}
	if (x->phase != XP_END) {
		loop_timer_set(l, &s->t, x->deadline);
		return;
	}
	s->running = 0;
	unwatch(s);
	if (s->ops->end)
		s->ops->end(s);
}

static void
timer_cb(struct loop_timer *lt)
{
	struct session *s = lt->arg;

	if (!s->running)
		return;
	xfer_tick(&s->x, loop_now(s->hub->loop));
	settle(s);
}

/*
 * Whether a datagram from from is the peer's.  An unlocked session takes
 * the first one from the server's host as its TID and ignores others; a
 * locked one answers strangers with ERROR 5 (RFC 1350 section 4).
 */
static int
from_peer(struct session *s, const struct udp_addr *from)
{
	uint8_t err[64];
	size_t n;

	if (!s->locked) {
		if (!udp_same_host(from, &s->peer))
			return 0;
		s->peer = *from;
		s->locked = 1;
		return 1;
	}
	if (udp_same(from, &s->peer))
		return 1;
	s->strangers++;
	n = packet_encode_error(err, sizeof(err), TFTP_EBADID, NULL);
	emit(s, err, n, n, from);
	return 0;
}

/* The slot a datagram from the peer is read into (see session.h). */
static size_t
rx_slot(const struct xfer *x)
{
	size_t want = SESSION_SLOT_MIN;
	unsigned blk;

	if (x->cfg.role == XFER_RECV) {
		/* before the OACK, a client may get what it asked for */
		blk = x->phase == XP_REQUEST && (x->cfg.opts.have &
		    OPT_BLKSIZE) ? x->cfg.opts.blksize : x->opts.blksize;
		if ((size_t)blk + 5 > want)
			want = (size_t)blk + 5;
	} else if (x->phase == XP_REQUEST) {
		/* a client's put: the OACK may be long */
		want = PKT_MAX + 1;
	}
	return want > PKT_MAX + 1 ? PKT_MAX + 1 : want;
}

/*
 * One datagram from from: the peer's is fed to the xfer (1), a
 * stranger's is answered (0).  A dallying receiver still takes DATA: it
 * re-ACKs.
 */
static int
feed(struct session *s, const struct udp_addr *from, const uint8_t *pkt,
    size_t len, uint64_t now)
{
	if (s->x.phase == XP_END || !from_peer(s, from))
		return 0;
	if (s->heard == 0)
		s->heard = now;
	xfer_input(&s->x, pkt, len, now);
	return 1;
}

/*
 * Read and feed up to SESSION_CALLS batches.  After a batch that drew an
 * answer it stops: the peer's next datagram is a round trip away, so
 * another read would only find nothing (in lock-step, one wasted system
 * call per block); anything queued meanwhile wakes the loop again.
 */
static void
read_batches(struct session *s)
{
	struct session_hub *h = s->hub;
	struct xfer *x = &s->x;
	unsigned gen = s->gen;
	uint64_t sent, now;
	size_t slot;
	unsigned n;
	int i, j, got, fed;

	for (i = 0; i < SESSION_CALLS && s->running && s->gen == gen; i++) {
		slot = rx_slot(x);
		n = SESSION_RX_BYTES / slot;
		if (n > SESSION_BATCH)
			n = SESSION_BATCH;
		got = udp_recv_many(s->sock, h->rx, slot, n, h->rx_from,
		    h->rx_len);
		if (got <= 0)
			break;
		now = loop_now(h->loop);
		sent = x->st.pkts_sent;
		fed = 0;
		for (j = 0; j < got; j++)
			fed |= feed(s, &h->rx_from[j], h->rx + (size_t)j * slot,
			    h->rx_len[j], now);
		if (fed && s->ops->input)
			s->ops->input(s);
		settle(s);
		/* a short batch emptied the socket */
		if ((unsigned)got < n || x->st.pkts_sent != sent)
			break;
	}
}

/*
 * The socket holds ICMP errors (a client's socket asks for them with
 * udp_set_recverr): a port unreachable from the peer we talk to means
 * nothing listens there, and waiting out the timeout would only hide
 * it.  Errors about other addresses are dropped.
 */
static void
read_errors(struct session *s)
{
	char where[UDP_ADDRSTR], msg[UDP_ADDRSTR + 48];
	struct udp_addr dst;
	int e, n;

	for (n = 0; n < SESSION_BATCH && (e = udp_recv_err(s->sock,
	    &dst)) != 0; n++) {
		if (e != ECONNREFUSED || !udp_same(&dst, &s->peer))
			continue;
		snprintf(msg, sizeof(msg), "nothing listens on %s (port "
		    "unreachable)", udp_format(&dst, where));
		xfer_abort(&s->x, -1, msg);
		s->x.why = XW_UNREACHABLE;
		settle(s);
		return;
	}
}

static void
sock_cb(struct loop_fd *w, uint32_t events)
{
	struct session *s = w->arg;

	/* an event collected before the session ended */
	if (!s->running)
		return;
	if (events & EPOLLERR) {
		read_errors(s);
		if (!s->running)
			return;
	}
	read_batches(s);
}

/* ---- the owner's calls ----------------------------------------------- */

/* What session_open and session_attach set alike. */
static void
session_init(struct session *s, struct session_hub *hub, int sock,
    const struct udp_addr *peer, int locked, const struct session_ops *ops,
    void *owner)
{
	s->hub = hub;
	s->ops = ops;
	s->owner = owner;
	s->sock = sock;
	s->shared = 0;
	s->peer = *peer;
	s->locked = locked;
	s->heard = 0;
	s->strangers = 0;
	s->told = 0;
	s->running = 0;
	loop_timer_init(&s->t, timer_cb, s);
}

int
session_open(struct session *s, struct session_hub *hub, int sock,
    const struct udp_addr *peer, int locked,
    const struct session_ops *ops, void *owner)
{
	session_init(s, hub, sock, peer, locked, ops, owner);
	if (loop_fd_start(hub->loop, &s->w, sock, sock_cb, s) < 0) {
		s->w.fd = -1;
		s->sock = -1;
		return -1;
	}
	return 0;
}

void
session_attach(struct session *s, struct session_hub *hub, int sock,
    int sock_family, const struct udp_addr *local,
    const struct udp_addr *peer, const struct session_ops *ops,
    void *owner)
{
	session_init(s, hub, sock, peer, 1, ops, owner);
	s->shared = 1;
	s->sock_family = sock_family;
	s->local = *local;
	s->w.fd = -1;
}

void
session_start(struct session *s, const struct xfer_cfg *cfg,
    const struct xfer_io *io)
{
	struct xfer_io sio = *io;

	sio.ctx = s;
	sio.send = session_send;
	sio.scratch = s->hub->scratch;
	xfer_init(&s->x, cfg, &sio);
	s->gen++;
	s->told = 0;
	s->running = 1;
	xfer_start(&s->x, loop_now(s->hub->loop));
	settle(s);
}

void
session_read(struct session *s)
{
	if (s->running && !s->shared)
		read_batches(s);
}

void
session_input(struct session *s, const struct udp_addr *from,
    const uint8_t *pkt, size_t len)
{
	if (!s->running || !feed(s, from, pkt, len, loop_now(s->hub->loop)))
		return;
	if (s->ops->input)
		s->ops->input(s);
	settle(s);
}

void
session_wake(struct session *s)
{
	if (!s->running)
		return;
	xfer_wake(&s->x, loop_now(s->hub->loop));
	settle(s);
}

void
session_finished(struct session *s, int code, const char *msg)
{
	if (!s->running)
		return;
	xfer_finished(&s->x, loop_now(s->hub->loop), code, msg);
	settle(s);
}

void
session_abort(struct session *s, int code, const char *msg)
{
	if (!s->running)
		return;
	xfer_abort(&s->x, code, msg);
	settle(s);
}

void
session_close(struct session *s)
{
	if (s->sock < 0)
		return;
	flush_own(s);
	s->running = 0;
	unwatch(s);
	/* a shared socket is the listener's */
	if (!s->shared)
		close(s->sock);
	s->sock = -1;
}

unsigned long
session_fd_room(unsigned long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
		setrlimit(RLIMIT_NOFILE, &rl);
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			return 0;
	}
	return (unsigned long)rl.rlim_cur;
}
