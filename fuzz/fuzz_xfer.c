/*
 * fuzz_xfer.c - the transfer state machines driven by scripted events.
 *
 * One machine (the harness plays the peer), or a pair: our client and our
 * server connected by a link the script controls (deliver, drop,
 * duplicate, reorder).  All io is memory: the source is generated from
 * the header, the sink checks what is written.
 *
 * Header (HDR bytes):
 *	[0]	bit 0: receiver (else sender)    bit 1: client
 *		bit 2: netascii                  bit 3: rollover requested
 *		bit 4: rto_min 10 ms             bit 5: server dallies
 *		bit 6: pair                      bit 7: drain at the end
 *	[1..2]	blksize (clamped to 8..65464)    [3] windowsize (0: 1)
 *	[4]	low nibble: retries (0..15); bits 4-5: timeout, 6-7: backoff cap
 *	[5..6]	source length                    [7] bits 0-1: text style,
 *		bits 2-3: fault (none, read error, disk full, finish fails),
 *		bits 5-7 = 101: huge source (past block 65535 at blksize 8)
 *	[8..11]	generator seed                   [12..13] fault offset / 16
 *	[14]	bits 0-4: options requested; bit 5: 64 KiB window budget;
 *		bit 6: server blksize limit 1468
 *	[15]	timeout option value (0: 1)
 * Then events, each a kind byte (bit 7 picks the machine in a pair) and a
 * few argument bytes; see run_event().  Missing bytes read as 0.
 *
 * Invariants checked after every call (they come from xfer.h and what
 * xfer.c does on purpose):
 *  - the return value is x->status; DONE and FAILED never change again;
 *  - nothing is emitted once XP_END is reached, nothing after an ERROR
 *    in the same call, and an ERROR ends the transfer;
 *  - phase END <=> deadline 0; REQUEST/OACK/DATA <=> RUNNING, DALLY <=>
 *    DONE; a tick that fired leaves the deadline in the future;
 *  - every datagram decodes; requests and OACKs say what was configured
 *    or granted; an ACK names the last in-order block; a DATA is at most
 *    blksize bytes, lies inside the window and carries exactly the bytes
 *    of the (netascii-encoded) source at its block;
 *  - read() never goes below release(), release() never goes back;
 *    write() never after finish(), and never more bytes in total than the
 *    DATA payloads delivered; finish() at most once;
 *  - at most windowsize + 2 datagrams per call; with no input the machine
 *    ends within 3 (retries + 1) + 1 ticks (more with RTT timers and
 *    pacing);
 *  - pair, nothing forged: written bytes are always a prefix of the
 *    source, a receiver DONE has all of it, a sender DONE means the
 *    receiver is DONE, and a lossless drain ends both within a number
 *    of steps linear in the blocks.
 */
#include <errno.h>
#include <string.h>

#include "../tests/ref_netascii.h"
#include "fuzz.h"
#include "xfer.h"

#define HDR		16
#define NKEEP		8	/* emitted datagrams kept for feedback */
#define NQ		64	/* link queue per direction (pair) */
#define MAX_EVENTS	4096
#define DRAIN_TAINTED	20000	/* drain steps after forged traffic */

struct dg {
	uint8_t	*b;
	size_t	 len, cap;
};

struct world;

struct side {
	struct world	*w;
	int		 exists;
	struct xfer	 x;
	struct xfer_cfg	 cfg;
	struct xfer_io	 io;
	uint8_t		*scratch;
	/* source */
	uint64_t	 released;
	uint64_t	 read_fail_at;	/* -EIO for reads reaching here */
	/* sink */
	uint64_t	 out_len;
	uint64_t	 delivered;	/* DATA payload bytes given to input */
	uint64_t	 enospc_at;
	int		 finished;
	int		 finish_ret;
	/* the current call */
	int		 in_call;
	int		 call_phase;	/* phase when it began */
	unsigned	 call_emits;
	int		 call_error;
	uint64_t	 emits;
	/* the last datagrams emitted; and, for a pair, those in flight to us */
	struct dg	 keep[NKEEP];
	unsigned	 keep_n;
	struct dg	 q[NQ];
	unsigned	 qn;
};

struct world {
	uint8_t		*src;
	size_t		 src_len;
	uint8_t		*wire;		/* src as the sender sends it */
	size_t		 wire_len;
	const uint8_t	*h;
	int		 pair;
	int		 tainted;	/* forged or injected traffic */
	uint64_t	 now;
	uint32_t	 rng;
	struct side	 s[2];
	/* events */
	const uint8_t	*ev;
	size_t		 ev_len;
};

static uint32_t
rng_next(struct world *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 17;
	w->rng ^= w->rng << 5;
	return w->rng;
}

static unsigned
get8(struct world *w)
{
	unsigned v;

	if (w->ev_len == 0)
		return 0;
	v = w->ev[0];
	w->ev++;
	w->ev_len--;
	return v;
}

static unsigned
get16(struct world *w)
{
	unsigned hi = get8(w);

	return hi << 8 | get8(w);
}

/* The wire block of seq, written out from xfer.h (not xfer.c). */
static uint16_t
ref_wire(uint64_t seq, unsigned rollover)
{
	if (seq == 0)
		return 0;
	if (rollover)
		return (uint16_t)((seq - 1) % 65535 + 1);
	return (uint16_t)(seq & 0xffff);
}

static int
is_sender(const struct side *s)
{
	return s->cfg.role == XFER_SEND;
}

/* ---- memory io ---------------------------------------------------------- */

static long
io_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct side *s = ctx;
	struct world *w = s->w;
	size_t n;

	FUZZ_CHECK(s->in_call && is_sender(s));
	FUZZ_CHECK(off >= s->released);
	FUZZ_CHECK(off <= w->src_len);
	if (off + len > s->read_fail_at)
		return -EIO;
	n = w->src_len - (size_t)off;
	if (n > len)
		n = len;
	memcpy(buf, w->src + off, n);
	return (long)n;
}

static void
io_release(void *ctx, uint64_t off)
{
	struct side *s = ctx;

	FUZZ_CHECK(s->in_call && is_sender(s));
	FUZZ_CHECK(off >= s->released);
	FUZZ_CHECK(off <= s->w->src_len);
	s->released = off;
}

static int
io_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct side *s = ctx;
	struct world *w = s->w;

	FUZZ_CHECK(s->in_call && !is_sender(s));
	FUZZ_CHECK(!s->finished);
	if (s->out_len + len > s->enospc_at)
		return -ENOSPC;
	if (w->pair && !w->tainted) {
		FUZZ_CHECK(s->out_len + len <= w->src_len);
		FUZZ_CHECK(memcmp(buf, w->src + s->out_len, len) == 0);
	}
	s->out_len += len;
	FUZZ_CHECK(s->out_len <= s->delivered);
	return 0;
}

static int
io_finish(void *ctx)
{
	struct side *s = ctx;

	FUZZ_CHECK(s->in_call && !is_sender(s));
	FUZZ_CHECK(!s->finished);
	s->finished = 1;
	return s->finish_ret;
}

/* Copy a datagram into d, reusing its buffer (fewer mallocs, faster). */
static void
dg_set(struct dg *d, const uint8_t *b, size_t len)
{
	if (d->b == NULL || d->cap < len) {
		free(d->b);
		d->cap = len < 600 ? 600 : len;
		if ((d->b = malloc(d->cap)) == NULL)
			abort();
	}
	memcpy(d->b, b, len);
	d->len = len;
}

/* options o says it has are all in the list with o's values */
static void
check_opts_list(const struct tftp_opts *o, const struct pkt_opt *opts,
    size_t n)
{
	struct tftp_opts got;

	options_init(&got);
	options_parse(opts, n, &got);
	FUZZ_CHECK(got.have == o->have);
	if (o->have & OPT_BLKSIZE)
		FUZZ_CHECK(got.blksize == o->blksize);
	if (o->have & OPT_TIMEOUT)
		FUZZ_CHECK(got.timeout == o->timeout);
	if (o->have & OPT_TSIZE)
		FUZZ_CHECK(got.tsize == o->tsize);
	if (o->have & OPT_WINDOWSIZE)
		FUZZ_CHECK(got.windowsize == o->windowsize);
	if (o->have & OPT_ROLLOVER)
		FUZZ_CHECK(got.rollover == o->rollover);
}

/* A DATA from a sender: inside the window, the right bytes. */
static void
check_data(struct side *s, const struct packet *p)
{
	struct world *w = s->w;
	struct xfer *x = &s->x;
	uint64_t lo = x->acked + 1, hi = x->next, cycle, back, seq, off, want;
	unsigned ro = x->opts.rollover;

	FUZZ_CHECK(p->data_len <= x->opts.blksize);
	FUZZ_CHECK(hi >= lo && hi - lo <= x->opts.windowsize);
	cycle = ro ? 65535 : 65536;
	back = ((uint64_t)ref_wire(hi, ro) + cycle - p->block) % cycle;
	FUZZ_CHECK(back <= hi - lo);
	seq = hi - back;
	FUZZ_CHECK(ref_wire(seq, ro) == p->block);
	FUZZ_CHECK(seq <= x->acked + x->opts.windowsize);
	off = (seq - 1) * x->opts.blksize;
	FUZZ_CHECK(off <= w->wire_len);
	want = w->wire_len - off;
	if (want > x->opts.blksize)
		want = x->opts.blksize;
	FUZZ_CHECK(p->data_len == want);
	FUZZ_CHECK(want == 0 || memcmp(p->data, w->wire + off, want) == 0);
}

static void
io_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct side *s = ctx;
	struct world *w = s->w;
	struct side *peer;
	struct packet p;

	FUZZ_CHECK(s->in_call);
	FUZZ_CHECK(s->call_phase != XP_END);
	FUZZ_CHECK(!s->call_error);
	FUZZ_CHECK(len <= PKT_MAX);
	s->call_emits++;
	s->emits++;
	FUZZ_CHECK(packet_decode(pkt, len, &p) == 0);
	switch (p.op) {
	case TFTP_RRQ:
	case TFTP_WRQ:
		FUZZ_CHECK(s->cfg.client);
		FUZZ_CHECK(p.op == (is_sender(s) ? TFTP_WRQ : TFTP_RRQ));
		FUZZ_CHECK(strcmp(p.filename, s->cfg.filename) == 0);
		FUZZ_CHECK(strcmp(p.mode, s->cfg.mode) == 0);
		check_opts_list(&s->cfg.opts, p.opts, p.nopts);
		break;
	case TFTP_OACK:
		FUZZ_CHECK(!s->cfg.client);
		check_opts_list(&s->x.opts, p.opts, p.nopts);
		break;
	case TFTP_DATA:
		FUZZ_CHECK(is_sender(s));
		check_data(s, &p);
		break;
	case TFTP_ACK:
		FUZZ_CHECK(!is_sender(s));
		FUZZ_CHECK(len == PKT_HDR);
		FUZZ_CHECK(p.block == ref_wire(s->x.received,
		    s->x.opts.rollover));
		break;
	case TFTP_ERROR:
		s->call_error = 1;
		break;
	default:
		FUZZ_CHECK(0);
	}
	dg_set(&s->keep[s->keep_n++ % NKEEP], pkt, len);
	if (w->pair) {
		peer = &w->s[s == &w->s[0]];
		if (peer->qn < NQ)
			dg_set(&peer->q[peer->qn++], pkt, len);
	}
}

/* ---- checked calls ------------------------------------------------------ */

struct before {
	int		phase, status;
	uint64_t	deadline, acked, received;
};

static void
call_begin(struct side *s, struct before *b)
{
	b->phase = s->x.phase;
	b->status = s->x.status;
	b->deadline = s->x.deadline;
	b->acked = s->x.acked;
	b->received = s->x.received;
	s->in_call = 1;
	s->call_phase = s->x.phase;
	s->call_emits = 0;
	s->call_error = 0;
}

static void
call_end(struct side *s, const struct before *b, int ret)
{
	struct xfer *x = &s->x;

	s->in_call = 0;
	FUZZ_CHECK(ret == x->status);
	FUZZ_CHECK(x->status == XFER_RUNNING || x->status == XFER_DONE ||
	    x->status == XFER_FAILED);
	if (b->status != XFER_RUNNING)
		FUZZ_CHECK(x->status == b->status);
	if (b->phase == XP_END)
		FUZZ_CHECK(s->call_emits == 0 && x->phase == XP_END);
	if (s->call_error)
		FUZZ_CHECK(x->phase == XP_END && x->status == XFER_FAILED);
	switch (x->phase) {
	case XP_REQUEST:
	case XP_OACK:
	case XP_DATA:
		FUZZ_CHECK(x->status == XFER_RUNNING);
		FUZZ_CHECK(x->deadline != 0);
		break;
	case XP_DALLY:
		FUZZ_CHECK(x->status == XFER_DONE);
		FUZZ_CHECK(x->deadline != 0);
		break;
	case XP_END:
		FUZZ_CHECK(x->status != XFER_RUNNING);
		FUZZ_CHECK(x->deadline == 0);
		break;
	default:
		FUZZ_CHECK(0);
	}
	FUZZ_CHECK(x->opts.blksize >= PKT_BLKSIZE_MIN &&
	    x->opts.blksize <= PKT_BLKSIZE_MAX);
	FUZZ_CHECK(x->opts.windowsize >= 1);
	FUZZ_CHECK(s->call_emits <= x->opts.windowsize + 2);
	FUZZ_CHECK(x->st.pkts_sent == s->emits);
	if (is_sender(s)) {
		if (x->phase == XP_DATA)
			FUZZ_CHECK(x->acked >= b->acked && x->acked < x->next);
		if (x->status == XFER_DONE) {
			/* every block sent and acknowledged, the last short */
			FUZZ_CHECK(x->last == s->w->wire_len /
			    x->opts.blksize + 1);
			FUZZ_CHECK(x->acked == x->last);
			FUZZ_CHECK(x->st.bytes == s->w->src_len);
		}
	} else {
		FUZZ_CHECK(x->received >= b->received);
		FUZZ_CHECK(x->st.bytes == s->out_len);
		if (x->status == XFER_DONE) {
			FUZZ_CHECK(s->finished && s->finish_ret == 0);
			if (s->w->pair && !s->w->tainted)
				FUZZ_CHECK(s->out_len == s->w->src_len);
		}
	}
}

static void
call_input(struct side *s, const uint8_t *pkt, size_t len)
{
	struct before b;
	struct packet p;
	int r;

	if (!is_sender(s) && packet_decode(pkt, len, &p) == 0 &&
	    p.op == TFTP_DATA)
		s->delivered += p.data_len;
	call_begin(s, &b);
	r = xfer_input(&s->x, pkt, len, s->w->now);
	call_end(s, &b, r);
}

static void
call_tick(struct side *s)
{
	struct before b;
	uint64_t now = s->w->now;
	int r;

	call_begin(s, &b);
	r = xfer_tick(&s->x, now);
	call_end(s, &b, r);
	if (b.phase == XP_END || b.deadline == 0 || now < b.deadline)
		FUZZ_CHECK(s->call_emits == 0 && s->x.phase == b.phase &&
		    s->x.deadline == b.deadline);
	else if (s->x.phase != XP_END)
		FUZZ_CHECK(s->x.deadline > now);	/* no spinning */
}

static void
call_abort(struct side *s, int code)
{
	struct before b;
	struct packet p;

	call_begin(s, &b);
	xfer_abort(&s->x, code, "fuzz abort");
	call_end(s, &b, s->x.status);
	FUZZ_CHECK(s->x.phase == XP_END);
	if (b.phase == XP_END || b.phase == XP_DALLY) {
		FUZZ_CHECK(s->call_emits == 0);
		return;
	}
	FUZZ_CHECK(s->x.status == XFER_FAILED);
	FUZZ_CHECK(s->call_emits == (code >= 0 ? 1u : 0u));
	if (code >= 0) {
		const struct dg *d = &s->keep[(s->keep_n - 1) % NKEEP];

		FUZZ_CHECK(packet_decode(d->b, d->len, &p) == 0);
		FUZZ_CHECK(p.op == TFTP_ERROR && p.err_code == code);
	}
}

static void
call_start(struct side *s)
{
	struct before b;
	int r;

	call_begin(s, &b);
	r = xfer_start(&s->x, s->w->now);
	call_end(s, &b, r);
	FUZZ_CHECK(s->call_emits <= s->x.opts.windowsize + 1);
}

/* ---- set-up ------------------------------------------------------------- */

static uint64_t
timeout_of(unsigned sel)
{
	static const uint64_t t[4] = { 0, 1000, 50000, 1000000 };

	return t[sel & 3];
}

static void
side_init(struct world *w, struct side *s, int role, int client,
    const struct tftp_opts *opts)
{
	const uint8_t *h = w->h;
	uint64_t t = timeout_of(h[4] >> 4), fault;

	s->w = w;
	s->exists = 1;
	memset(&s->cfg, 0, sizeof(s->cfg));
	s->cfg.role = role;
	s->cfg.client = client;
	s->cfg.netascii = (h[0] >> 2) & 1;
	s->cfg.opts = *opts;
	s->cfg.filename = "f";
	s->cfg.mode = s->cfg.netascii ? "netascii" : "octet";
	s->cfg.timeout_us = t;
	switch (h[4] >> 6) {
	case 1:
		s->cfg.timeout_max_us = 2000;
		break;
	case 2:
		s->cfg.timeout_max_us = 5000000;
		break;
	}
	s->cfg.retries = h[4] & 15;
	s->cfg.dally_us = (h[0] & 0x20) ? 2 * (t ? t : 1000000) : 0;
	s->cfg.rto_min_us = (h[0] & 0x10) ? 10000 : 0;

	/* faults hit the machine the header names, never the pair's peer */
	s->read_fail_at = s->enospc_at = UINT64_MAX;
	s->finish_ret = 0;
	fault = (uint64_t)(h[12] << 8 | h[13]) * 16;
	if (client || !w->pair) {
		switch ((h[7] >> 2) & 3) {
		case 1:
			s->read_fail_at = fault;
			break;
		case 2:
			s->enospc_at = fault;
			break;
		case 3:
			s->finish_ret = -EIO;
			break;
		}
	}
	if ((s->scratch = malloc(XFER_SCRATCH)) == NULL)
		abort();
	memset(&s->io, 0, sizeof(s->io));
	s->io.ctx = s;
	s->io.read = io_read;
	s->io.release = io_release;
	s->io.write = io_write;
	s->io.finish = io_finish;
	s->io.send = io_send;
	s->io.scratch = s->scratch;
	xfer_init(&s->x, &s->cfg, &s->io);
}

/* What a client asks for, from the header. */
static void
requested_opts(const struct world *w, int role, struct tftp_opts *o)
{
	const uint8_t *h = w->h;
	unsigned b = (unsigned)(h[1] << 8 | h[2]);

	options_init(o);
	o->have = h[14] & 0x1f;
	if (o->have & OPT_BLKSIZE)
		o->blksize = b < 8 ? 8 : b > 65464 ? 65464 : b;
	if (o->have & OPT_WINDOWSIZE)
		o->windowsize = h[3] ? h[3] : 1;
	if (o->have & OPT_TIMEOUT)
		o->timeout = h[15] ? h[15] : 1;
	if (o->have & OPT_TSIZE)
		o->tsize = role == XFER_SEND ? w->src_len : 0;
	if (o->have & OPT_ROLLOVER)
		o->rollover = (h[0] >> 3) & 1;
}

/* What the server grants, as server.c does it. */
static void
granted_opts(const struct world *w, const struct tftp_opts *req, int is_rrq,
    struct tftp_opts *g)
{
	struct options_limits lim;

	memset(&lim, 0, sizeof(lim));
	if (w->h[14] & 0x20)
		lim.window_bytes_max = 65536;
	if (w->h[14] & 0x40)
		lim.blksize_max = 1468;
	options_negotiate(req, &lim, is_rrq,
	    (w->h[0] & 4) ? -1 : (int64_t)w->src_len, g);
}

static void
make_source(struct world *w)
{
	const uint8_t *h = w->h;
	size_t i, n;
	uint32_t r = 0;

	n = (size_t)(h[5] << 8 | h[6]);
	/* rare on purpose (slow): not from a run of 0xff bytes */
	if ((h[7] & 0xe0) == 0xa0)
		n = 65535u * 8 + n % 4096;
	w->src_len = n;
	if ((w->src = malloc(n ? n : 1)) == NULL)
		abort();
	/* the switch outside the loops: this runs for every input */
	switch (h[7] & 3) {
	case 0:
		for (i = 0; i < n; i++) {
			if (i % 4 == 0)
				r = rng_next(w);
			w->src[i] = (uint8_t)(r >> (8 * (i % 4)));
		}
		break;
	case 1:		/* text: many line ends and bare CRs */
		for (i = 0; i < n; i++) {
			if (i % 8 == 0)
				r = rng_next(w);
			w->src[i] = (uint8_t)"\r\n\n\0abc\r"[(r >> (4 *
			    (i % 8))) & 7];
		}
		break;
	case 2:
		memset(w->src, '\n', n);
		break;
	default:
		memset(w->src, '\r', n);
		break;
	}
	if (!(h[0] & 4)) {
		w->wire = w->src;
		w->wire_len = n;
		return;
	}
	if ((w->wire = malloc(2 * n + 1)) == NULL)
		abort();
	w->wire_len = ref_netascii_encode(w->src, n, w->wire);
}

/* Pair: the client's request reaches the server's listening socket. */
static void
server_intake(struct world *w, const uint8_t *pkt, size_t len)
{
	struct side *srv = &w->s[1];
	struct tftp_opts req, g;
	struct packet p;
	int role;

	if (srv->exists)
		return;		/* a late copy: the live transfer has it */
	/* only our client's kind of request (a forged one may differ) */
	if (packet_decode(pkt, len, &p) < 0 ||
	    (p.op != TFTP_RRQ && p.op != TFTP_WRQ) ||
	    strcmp(p.mode, w->s[0].cfg.mode) != 0)
		return;
	options_init(&req);
	options_parse(p.opts, p.nopts, &req);
	granted_opts(w, &req, p.op == TFTP_RRQ, &g);
	role = p.op == TFTP_RRQ ? XFER_SEND : XFER_RECV;
	side_init(w, srv, role, 0, &g);
	call_start(srv);
}

/* One datagram into side i. */
static void
deliver(struct world *w, int i, const uint8_t *pkt, size_t len)
{
	struct side *s = &w->s[i];
	struct packet p;

	if (w->pair && i == 1) {
		if (!s->exists) {
			server_intake(w, pkt, len);
			return;
		}
		/* requests go to the listening socket, not to this one */
		if (packet_decode(pkt, len, &p) == 0 &&
		    (p.op == TFTP_RRQ || p.op == TFTP_WRQ))
			return;
	}
	if (!s->exists)
		return;
	call_input(s, pkt, len);
}

static void
inject(struct world *w, int i, const uint8_t *pkt, size_t len)
{
	w->tainted = 1;
	deliver(w, i, pkt, len);
}

/* Take datagram k off side i's link queue; deliver it unless dropped. */
static void
link_take(struct world *w, int i, unsigned k, int drop, int keep)
{
	struct side *s = &w->s[i];
	struct dg d;

	if (s->qn == 0)
		return;
	k %= s->qn;
	d = s->q[k];
	if (keep) {
		/* duplicate: deliver a copy, the original stays queued */
		struct dg c = { NULL, 0, 0 };

		dg_set(&c, d.b, d.len);
		deliver(w, i, c.b, c.len);
		free(c.b);
		return;
	}
	memmove(&s->q[k], &s->q[k + 1], (s->qn - k - 1) * sizeof(s->q[0]));
	s->qn--;
	s->q[s->qn].b = NULL;
	if (!drop)
		deliver(w, i, d.b, d.len);
	free(d.b);
}

/* ---- events ------------------------------------------------------------- */

static size_t
mk_oack(struct world *w, struct side *s, uint8_t *buf, size_t cap)
{
	static const char *const names[5] = {
		"blksize", "timeout", "tsize", "windowsize", "rollover"
	};
	static const char *const junk[4] = {
		"", "-1", "99999999999999999999999", "0x10"
	};
	char nm[8][16], val[8][24];
	struct pkt_opt opts[8];
	unsigned mask = get8(w), i, v, n = 0, k;
	uint64_t want;

	for (i = 0; i < 5; i++) {
		if (!(mask & (1u << i)))
			continue;
		snprintf(nm[n], sizeof(nm[n]), "%s", names[i]);
		if (mask & 0x20)
			for (k = 0; nm[n][k]; k++)
				nm[n][k] = (char)(nm[n][k] - 32);
		v = get8(w);
		switch (i) {
		case 0: want = s->cfg.opts.blksize; break;
		case 1: want = s->cfg.opts.timeout; break;
		case 2: want = s->cfg.opts.tsize; break;
		case 3: want = s->cfg.opts.windowsize; break;
		default: want = s->cfg.opts.rollover; break;
		}
		switch (v >> 6) {
		case 0:
			snprintf(val[n], sizeof(val[n]), "%llu",
			    (unsigned long long)want);
			break;
		case 1:
			snprintf(val[n], sizeof(val[n]), "%u", v & 63);
			break;
		case 2:
			snprintf(val[n], sizeof(val[n]), "%u", get16(w));
			break;
		default:
			snprintf(val[n], sizeof(val[n]), "%s", junk[v & 3]);
			break;
		}
		opts[n].name = nm[n];
		opts[n].value = val[n];
		n++;
	}
	if (mask & 0x40) {
		opts[n].name = "multicast";
		opts[n].value = "";
		n++;
	}
	if ((mask & 0x80) && n > 0) {
		opts[n] = opts[0];
		n++;
	}
	return packet_encode_oack(buf, cap, opts, n);
}

static void
ev_data(struct world *w, int i, uint8_t *buf)
{
	struct side *s = &w->s[i];
	unsigned b = get8(w), c = get8(w), bs = s->x.opts.blksize;
	uint64_t seq;
	uint16_t blk;
	size_t n, k;

	if (b & 0x80)
		blk = (uint16_t)get16(w);
	else {
		seq = (is_sender(s) ? s->x.acked : s->x.received) + 1 +
		    (b & 0x0f);
		seq = seq > 4 ? seq - 4 : 0;
		blk = ref_wire(seq, s->x.opts.rollover);
	}
	switch (c >> 6) {
	case 0:
		n = bs;
		break;
	case 1:
		n = c & 63;
		break;
	case 2:
		n = bs > (c & 63) + 1u ? bs - 1 - (c & 63) : 0;
		break;
	default:
		n = (c & 1) ? bs + 1 : 0;
		break;
	}
	if (n > PKT_BLKSIZE_MAX)
		n = PKT_BLKSIZE_MAX;
	put_be16(buf, TFTP_DATA);
	put_be16(buf + 2, blk);
	for (k = 0; k < n; k++)
		buf[PKT_HDR + k] = (b & 0x40) ? "\r\n\0x"[rng_next(w) >> 30] :
		    (uint8_t)(rng_next(w) >> 24);
	inject(w, i, buf, PKT_HDR + n);
}

/* Pair: deliver whatever is in flight, in order, up to n datagrams. */
static void
pump(struct world *w, unsigned n)
{
	unsigned k;
	int i = 0;

	for (k = 0; k < n; k++) {
		if (w->s[i].qn == 0)
			i = !i;
		if (w->s[i].qn == 0)
			return;
		link_take(w, i, 0, 0, 0);
		i = !i;
	}
}

static void
run_event(struct world *w, uint8_t *buf)
{
	unsigned k = get8(w), a, n;
	int i = w->pair ? (int)(k >> 7) : 0;
	struct side *s = &w->s[i];
	uint64_t seq;
	size_t len;

	switch (k & 15) {
	case 0:		/* raw datagram */
		n = get8(w);
		if (n > w->ev_len)
			n = (unsigned)w->ev_len;
		memcpy(buf, w->ev, n);
		w->ev += n;
		w->ev_len -= n;
		inject(w, i, buf, n);
		break;
	case 1:
	case 2:		/* time reaches the deadline (plus a little) */
		if (s->exists && s->x.deadline > w->now)
			w->now = s->x.deadline;
		w->now += get8(w);
		if (s->exists)
			call_tick(s);
		break;
	case 3:		/* some time passes, then a tick (maybe early) */
		w->now += (uint64_t)get8(w) << ((k >> 4) & 7) << 8;
		if (s->exists)
			call_tick(s);
		break;
	case 4:
	case 5:		/* ACK near the window, or any block */
		if (!s->exists)
			break;
		a = get8(w);
		if (a & 0x80)
			seq = get16(w);
		else {
			seq = (is_sender(s) ? s->x.acked : s->x.received) +
			    (a & 0x3f);
			seq = seq > 8 ? seq - 8 : 0;
			seq = ref_wire(seq, s->x.opts.rollover);
		}
		put_be16(buf, TFTP_ACK);
		put_be16(buf + 2, (uint16_t)seq);
		len = PKT_HDR;
		if (a & 0x40) {		/* padded by some stack */
			memset(buf + len, 0, 3);
			len += 3;
		}
		inject(w, i, buf, len);
		break;
	case 6:
	case 7:		/* DATA near the expected block */
		if (s->exists)
			ev_data(w, i, buf);
		break;
	case 8:		/* OACK, good or bad */
		if (s->exists && (len = mk_oack(w, s, buf, PKT_MAX)) > 0)
			inject(w, i, buf, len);
		break;
	case 9:		/* ERROR */
		a = get8(w);
		n = get8(w) % 40;
		if (n > w->ev_len)
			n = (unsigned)w->ev_len;
		put_be16(buf, TFTP_ERROR);
		put_be16(buf + 2, (uint16_t)(a % 10));
		memcpy(buf + PKT_HDR, w->ev, n);
		w->ev += n;
		w->ev_len -= n;
		len = PKT_HDR + n;
		if (!(a & 0x80))
			buf[len++] = 0;
		inject(w, i, buf, len);
		break;
	case 10:
	case 11:	/* pair: the link; alone: our own datagram comes back */
		a = get8(w);
		if (w->pair)
			link_take(w, i, a >> 2, (a & 3) == 1, (a & 3) == 2);
		else if (s->keep_n > 0) {
			struct dg *d = &s->keep[(s->keep_n - 1 - a % NKEEP) %
			    NKEEP];

			if (d->b != NULL) {
				memcpy(buf, d->b, d->len);
				inject(w, i, buf, d->len);
			}
		}
		break;
	case 12:	/* pair: a lossless burst */
		if (w->pair)
			pump(w, get8(w) + 1);
		else
			call_tick(s);
		break;
	case 13: {	/* a request where none belongs */
		struct pkt_opt o = { "blksize", "1024" };

		a = get8(w);
		len = packet_encode_request(buf, PKT_MAX,
		    (a & 1) ? TFTP_WRQ : TFTP_RRQ, "f",
		    (a & 2) ? "netascii" : "octet", &o, (a >> 2) & 1);
		if (len)
			inject(w, i, buf, len);
		break;
	}
	case 14:	/* the owner ends it */
		a = get8(w);
		if (s->exists)
			call_abort(s, a < 128 ? (int)(a % 9) : -1);
		break;
	default:	/* time passes, no tick */
		w->now += (uint64_t)get16(w) * 1000;
		break;
	}
}

/* Alone: with nothing more from the peer, ticks end the machine. */
static void
drain_one(struct world *w)
{
	struct side *s = &w->s[0];
	unsigned k, bound = 3 * (s->cfg.retries + 1) + 1;

	/*
	 * RTT timers give up by time (timeout x (retries + 1)) from a short
	 * timer that doubles up to the timeout: a few more expiries (rto_min
	 * 10 ms to 1 s is 7 doublings), each with up to two probe pairs.
	 */
	if (s->cfg.rto_min_us && is_sender(s))
		bound += 3 * 16;
	/*
	 * A paced sender (a client that lost window tails) sends a window
	 * one block per tick: up to windowsize more ticks per expiry.
	 */
	if (s->cfg.rto_min_us && is_sender(s) && s->x.opts.windowsize > 1)
		bound += (s->cfg.retries + 1 + 16) * s->x.opts.windowsize;

	for (k = 0; s->x.phase != XP_END; k++) {
		FUZZ_CHECK(k < bound);
		if (s->x.deadline > w->now)
			w->now = s->x.deadline;
		call_tick(s);
	}
}

/* Pair: a lossless link, time moving only when nothing is in flight. */
static void
drain_pair(struct world *w)
{
	struct side *a = &w->s[0], *b = &w->s[1], *t;
	unsigned long k, bound;
	int i = 0;

	/*
	 * Bounded by the blocks: a window of DATA and an ACK per window, a
	 * few timeouts.  Forged traffic can leave the two sides disagreeing
	 * (a forged DATA 1 makes the client drop its options: windowsize 1
	 * against the server's 16, each ACK then re-sends the window), so
	 * then the drain just stops.
	 */
	bound = 4 * (w->wire_len / PKT_BLKSIZE_MIN + 2) + 10000;
	for (k = 0; ; k++) {
		if (w->tainted && k >= DRAIN_TAINTED)
			return;
		FUZZ_CHECK(k < bound);
		if (a->qn || b->qn) {
			if (w->s[i].qn == 0)
				i = !i;
			link_take(w, i, 0, 0, 0);
			i = !i;
			continue;
		}
		t = NULL;
		if (a->x.phase != XP_END)
			t = a;
		if (b->exists && b->x.phase != XP_END &&
		    (t == NULL || b->x.deadline < t->x.deadline))
			t = b;
		if (t == NULL)
			break;
		if (t->x.deadline > w->now)
			w->now = t->x.deadline;
		call_tick(t);
	}
	if (w->tainted)
		return;
	t = is_sender(a) ? b : a;	/* the receiver */
	if (is_sender(a) ? a->x.status == XFER_DONE :
	    b->exists && b->x.status == XFER_DONE)
		FUZZ_CHECK(t->exists && t->x.status == XFER_DONE);
	if (t->exists && t->x.status == XFER_DONE)
		FUZZ_CHECK(t->out_len == w->src_len);
}

static void
side_free(struct side *s)
{
	unsigned i;

	for (i = 0; i < NKEEP; i++)
		free(s->keep[i].b);
	for (i = 0; i < NQ; i++)
		free(s->q[i].b);
	free(s->scratch);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t h[HDR];
	struct world *w;
	struct tftp_opts req, g;
	uint8_t *buf;
	unsigned n;
	int role, client;

	memset(h, 0, HDR);
	if (size)
		memcpy(h, data, size < HDR ? size : HDR);
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (buf = malloc(PKT_MAX + 8)) == NULL)
		abort();
	w->h = h;
	w->ev = data + (size < HDR ? size : HDR);
	w->ev_len = size < HDR ? 0 : size - HDR;
	w->rng = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
	    (uint32_t)h[10] << 8 | h[11];
	if (w->rng == 0)
		w->rng = 0x9e3779b9u;
	w->now = 1000000;
	w->pair = (h[0] >> 6) & 1;
	make_source(w);

	role = (h[0] & 1) ? XFER_RECV : XFER_SEND;
	client = w->pair || (h[0] & 2);
	requested_opts(w, role, &req);
	if (client)
		side_init(w, &w->s[0], role, 1, &req);
	else {
		granted_opts(w, &req, role == XFER_SEND, &g);
		side_init(w, &w->s[0], role, 0, &g);
	}
	w->s[1].w = w;
	call_start(&w->s[0]);

	for (n = 0; w->ev_len > 0 && n < MAX_EVENTS; n++)
		run_event(w, buf);
	if (h[0] & 0x80) {
		if (w->pair)
			drain_pair(w);
		else
			drain_one(w);
	}

#ifdef FUZZ_XFER_TRACE
	/* -DFUZZ_XFER_TRACE: where a seed ends, to check it does its job */
	for (n = 0; n < 2; n++)
		if (w->s[n].exists)
			fprintf(stderr, "side %u: %s %s phase %d status %d "
			    "emits %llu out %llu/%zu acked %llu received %llu "
			    "tainted %d\n", n, w->s[n].cfg.client ? "client" :
			    "server", is_sender(&w->s[n]) ? "send" : "recv",
			    w->s[n].x.phase, w->s[n].x.status,
			    (unsigned long long)w->s[n].emits,
			    (unsigned long long)w->s[n].out_len, w->src_len,
			    (unsigned long long)w->s[n].x.acked,
			    (unsigned long long)w->s[n].x.received,
			    w->tainted);
#endif
	side_free(&w->s[0]);
	side_free(&w->s[1]);
	if (w->wire != w->src)
		free(w->wire);
	free(w->src);
	free(w);
	free(buf);
	return 0;
}
