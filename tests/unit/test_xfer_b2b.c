/*
 * test_xfer_b2b.c - a sender and a receiver back to back.
 *
 * The runs connect the two machines through a link that drops,
 * duplicates and swaps datagrams by a deterministic PRNG, so a failure
 * replays exactly.  Time only moves when nothing is in flight (plus a few
 * microseconds per delivery), so every timeout in those runs is one the
 * protocol could not avoid.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../ref_netascii.h"
#include "xfer_fixture.h"

#define STEP_US		20ull		/* fake time per delivery */

struct lossy {
	unsigned	drop_pct;
	unsigned	dup_pct;
	unsigned	swap_pct;
};

struct queue {
	struct dgram	*q;
	size_t		 head, n, cap;
};

static void
q_push(struct queue *q, const uint8_t *b, size_t len)
{
	if (q->head + q->n == q->cap) {
		if (q->head > 0) {
			memmove(q->q, q->q + q->head, q->n * sizeof(*q->q));
			q->head = 0;
		}
		if (q->n == q->cap) {
			q->cap = q->cap ? 2 * q->cap : 64;
			q->q = realloc(q->q, q->cap * sizeof(*q->q));
			if (q->q == NULL)
				abort();
		}
	}
	q->q[q->head + q->n].b = xmalloc(len);
	memcpy(q->q[q->head + q->n].b, b, len);
	q->q[q->head + q->n].len = len;
	q->n++;
}

static void
q_swap_last(struct queue *q)
{
	struct dgram t;

	if (q->n < 2)
		return;
	t = q->q[q->head + q->n - 1];
	q->q[q->head + q->n - 1] = q->q[q->head + q->n - 2];
	q->q[q->head + q->n - 2] = t;
}

static struct dgram
q_pop(struct queue *q)
{
	struct dgram d = q->q[q->head];

	q->head++;
	q->n--;
	if (q->n == 0)
		q->head = 0;
	return d;
}

static void
q_free(struct queue *q)
{
	while (q->n)
		free(q_pop(q).b);
	free(q->q);
}

struct b2b {
	/* setup */
	struct xfer	*snd, *rcv;
	struct mem	*ms, *mr;
	struct lossy	 to_rcv, to_snd;
	uint64_t	 seed;
	/* results */
	uint64_t	 now;
	unsigned long	 data_pkts;	/* DATA the sender emitted */
	unsigned long	 snd_other;	/* sender's request / OACKs */
	unsigned long	 midwin;	/* mid-window ACKs acted on */
	unsigned long	 steps;
	int		 stuck;
};

/*
 * Move what m sent onto q through the lossy link.  Requests are never
 * delivered: a client sends them to the server's port 69, not to the
 * transfer's TID, and the harness has no intake.
 */
static void
b2b_move(struct b2b *b, struct mem *m, struct queue *q,
    const struct lossy *l, int from_sender)
{
	size_t i;
	struct packet p;

	for (i = 0; i < m->nsent; i++) {
		int op = sent_pkt(m, i, &p);

		if (from_sender && op == TFTP_DATA)
			b->data_pkts++;
		if (from_sender && op != TFTP_DATA)
			b->snd_other++;
		if (op == TFTP_RRQ || op == TFTP_WRQ)
			continue;
		if (rng_pct() < l->drop_pct)
			continue;
		q_push(q, m->sent[i].b, m->sent[i].len);
		if (rng_pct() < l->dup_pct)
			q_push(q, m->sent[i].b, m->sent[i].len);
		if (rng_pct() < l->swap_pct)
			q_swap_last(q);
	}
	mem_clear_sent(m);
}

static void
b2b_deliver_to_sender(struct b2b *b, const struct dgram *d)
{
	struct xfer *s = b->snd;
	uint64_t acked = s->acked, next = s->next;
	int data = s->phase == XP_DATA;

	xfer_input(s, d->b, d->len, b->now);
	if (data && s->acked > acked && s->acked + 1 < next)
		b->midwin++;
}

/* Run until both ends have ended; the client is started first. */
static void
b2b_run(struct b2b *b)
{
	struct queue qr = { 0 }, qs = { 0 };
	struct dgram d;
	uint64_t dl;

	rng_seed(b->seed);
	b->now = 1000;
	if (b->snd->cfg.client) {
		xfer_start(b->snd, b->now);
		xfer_start(b->rcv, b->now);
	} else {
		xfer_start(b->rcv, b->now);
		xfer_start(b->snd, b->now);
	}
	for (;;) {
		if (++b->steps > 20000000) {
			b->stuck = 1;
			break;
		}
		b2b_move(b, b->ms, &qr, &b->to_rcv, 1);
		b2b_move(b, b->mr, &qs, &b->to_snd, 0);
		if (qr.n) {
			d = q_pop(&qr);
			b->now += STEP_US;
			xfer_input(b->rcv, d.b, d.len, b->now);
			free(d.b);
			continue;
		}
		if (qs.n) {
			d = q_pop(&qs);
			b->now += STEP_US;
			b2b_deliver_to_sender(b, &d);
			free(d.b);
			continue;
		}
		if (b->snd->phase == XP_END && b->rcv->phase == XP_END)
			break;
		/* nothing in flight: jump to the nearest deadline */
		dl = 0;
		if (b->snd->phase != XP_END && b->snd->deadline)
			dl = b->snd->deadline;
		if (b->rcv->phase != XP_END && b->rcv->deadline &&
		    (dl == 0 || b->rcv->deadline < dl))
			dl = b->rcv->deadline;
		if (dl == 0) {
			b->stuck = 1;
			break;
		}
		if (dl > b->now)
			b->now = dl;
		xfer_tick(b->snd, b->now);
		xfer_tick(b->rcv, b->now);
	}
	q_free(&qr);
	q_free(&qs);
}

struct b2b_case {
	size_t		 size;
	unsigned	 blksize;
	unsigned	 window;
	unsigned	 rollover;
	int		 netascii;
	int		 download;	/* server sender, client recv */
	struct lossy	 to_rcv, to_snd;
	uint64_t	 seed;
	const uint8_t	*src;		/* NULL: random */
	uint64_t	 rto_min;	/* sender's RTT timers; 0: classic */
};

struct b2b_result {
	int		 snd_status, rcv_status;
	int		 exact;
	uint64_t	 nblk;
	unsigned long	 data_pkts, snd_other, midwin;
	struct xfer_stats ss, rs;
	int		 stuck;
	unsigned	 bad_reads;
};

static void
b2b_case_run(const struct b2b_case *k, struct b2b_result *res)
{
	uint8_t *rnd = NULL;
	const uint8_t *src = k->src;
	struct fx snd, rcv;
	struct tftp_opts o;
	struct b2b b;
	uint8_t *enc;

	if (src == NULL)
		src = rnd = random_bytes(k->size, k->seed ^ 0xabcdef);
	options_init(&o);
	if (k->blksize != 512)
		grant_blksize(&o, k->blksize);
	if (k->window != 1)
		grant_window(&o, k->window);
	if (k->rollover) {
		o.have |= OPT_ROLLOVER;
		o.rollover = 1;
	}
	fx_cfg(&snd, XFER_SEND, !k->download);
	fx_cfg(&rcv, XFER_RECV, k->download);
	snd.c.opts = rcv.c.opts = o;
	snd.c.retries = rcv.c.retries = 12;
	snd.c.netascii = rcv.c.netascii = k->netascii;
	snd.c.rto_min_us = k->rto_min;
	/* linger longer than the sender's whole backoff can reach */
	rcv.c.dally_us = 64 * T_US;
	fx_begin(&snd, src, k->size);
	fx_begin(&rcv, NULL, 0);
	memset(&b, 0, sizeof(b));
	b.snd = &snd.x;
	b.rcv = &rcv.x;
	b.ms = &snd.m;
	b.mr = &rcv.m;
	b.to_rcv = k->to_rcv;
	b.to_snd = k->to_snd;
	b.seed = k->seed;
	b2b_run(&b);

	memset(res, 0, sizeof(*res));
	res->snd_status = snd.x.status;
	res->rcv_status = rcv.x.status;
	res->exact = rcv.m.out_len == k->size &&
	    (k->size == 0 || memcmp(rcv.m.out, src, k->size) == 0);
	if (k->netascii) {
		enc = xmalloc(2 * k->size + 1);
		res->nblk = ref_netascii_encode(src, k->size, enc) /
		    k->blksize + 1;
		free(enc);
	} else
		res->nblk = k->size / k->blksize + 1;
	res->data_pkts = b.data_pkts;
	res->snd_other = b.snd_other;
	res->midwin = b.midwin;
	res->ss = snd.x.st;
	res->rs = rcv.x.st;
	res->stuck = b.stuck;
	res->bad_reads = snd.m.bad_reads;
	if (!res->exact || res->snd_status != XFER_DONE ||
	    res->rcv_status != XFER_DONE || b.stuck)
		printf("  b2b seed %llu: snd %d (%s) rcv %d (%s) got %zu/%zu "
		    "stuck %d\n", (unsigned long long)k->seed, snd.x.status,
		    snd.x.err_msg, rcv.x.status, rcv.x.err_msg, rcv.m.out_len,
		    k->size, b.stuck);
	fx_free(&snd);
	fx_free(&rcv);
	free(rnd);
}

/* The accounting every run must satisfy. */
static void
check_b2b(const struct b2b_case *k, const struct b2b_result *r)
{
	CHECK_EQ(r->stuck, 0);
	CHECK_EQ(r->snd_status, XFER_DONE);
	CHECK_EQ(r->rcv_status, XFER_DONE);
	CHECK(r->exact);
	CHECK_EQ(r->bad_reads, 0);
	CHECK_EQ(r->ss.bytes, k->size);
	CHECK_EQ(r->rs.bytes, k->size);
	/* every block goes out first exactly once */
	CHECK_EQ(r->ss.data_sent, r->nblk);
	/* the first request or OACK is no re-send; later copies are */
	CHECK_EQ(r->data_pkts + r->snd_other, r->ss.pkts_sent);
	CHECK_EQ(r->data_pkts + (r->snd_other ? r->snd_other - 1 : 0),
	    r->ss.data_sent + r->ss.retransmits);
	/*
	 * Re-sends come only from timeouts (a window each) and mid-window
	 * ACKs (at most window - 1 old blocks each): duplicated ACKs must
	 * not add any.
	 */
	CHECK(r->ss.retransmits <= r->ss.timeouts * k->window +
	    r->midwin * (k->window - 1));
}

static void
test_b2b_lossless(void)
{
	static const unsigned win[] = { 1, 4, 8 };
	struct b2b_case k;
	struct b2b_result r;
	size_t i;
	int dl;

	for (dl = 0; dl < 2; dl++) {
		for (i = 0; i < 3; i++) {
			memset(&k, 0, sizeof(k));
			k.size = 100 * 1024 + 17;
			k.blksize = 1024;
			k.window = win[i];
			k.download = dl;
			k.seed = 500 + i + 10 * (unsigned)dl;
			b2b_case_run(&k, &r);
			check_b2b(&k, &r);
			CHECK_EQ(r.data_pkts, r.nblk);
			CHECK_EQ(r.ss.timeouts, 0);
			CHECK_EQ(r.rs.timeouts, 0);
		}
	}
	/* exact multiple of blksize, and empty */
	memset(&k, 0, sizeof(k));
	k.size = 64 * 512;
	k.blksize = 512;
	k.window = 8;
	k.seed = 520;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
	CHECK_EQ(r.nblk, 65);
	k.size = 0;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
}

/*
 * 200 KiB over a link with 10% loss, 5% duplicates and some swaps in both
 * directions, for windowsize 1 and 8 at blksize 512 and 1468.
 */
static void
test_b2b_lossy(void)
{
	static const unsigned win[] = { 1, 8 }, bs[] = { 512, 1468 };
	struct lossy l = { 10, 5, 3 };
	struct b2b_case k;
	struct b2b_result r;
	size_t i, j;

	for (i = 0; i < 2; i++) {
		for (j = 0; j < 2; j++) {
			memset(&k, 0, sizeof(k));
			k.size = 200 * 1024;
			k.blksize = bs[j];
			k.window = win[i];
			k.to_rcv = k.to_snd = l;
			k.seed = 1000 + 10 * i + j;
			b2b_case_run(&k, &r);
			check_b2b(&k, &r);
			printf("  w%u bs%u: blocks %llu data %lu retx %llu "
			    "timeouts %llu midwin %lu\n", k.window, k.blksize,
			    (unsigned long long)r.nblk, r.data_pkts,
			    (unsigned long long)r.ss.retransmits,
			    (unsigned long long)r.ss.timeouts, r.midwin);
		}
	}
}

/*
 * Duplicated ACKs cost nothing: with no loss, a run where 30% of the ACKs
 * arrive twice sends exactly as many DATA packets as a clean run.
 */
static void
test_b2b_dup_acks_no_extra_data(void)
{
	static const unsigned win[] = { 1, 8 };
	struct b2b_case k;
	struct b2b_result clean, dup;
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&k, 0, sizeof(k));
		k.size = 200 * 1024;
		k.blksize = 512;
		k.window = win[i];
		k.seed = 2000 + i;
		b2b_case_run(&k, &clean);
		check_b2b(&k, &clean);
		k.to_snd.dup_pct = 30;
		b2b_case_run(&k, &dup);
		check_b2b(&k, &dup);
		CHECK(dup.ss.dup_acks > 0);
		CHECK_EQ(dup.data_pkts, clean.data_pkts);
		CHECK_EQ(dup.data_pkts, dup.nblk);
		CHECK_EQ(dup.ss.retransmits, 0);
	}
}

/*
 * Duplicated DATA in a windowed, otherwise clean run: each duplicate may
 * cost one extra ACK and one window of re-sends, but must not set off a
 * chain of mid-window ACKs for the rest of the transfer.  One duplicate
 * of DATA 3 in a 401-block transfer at windowsize 8.
 *
 * The bug this test was written against (the receiver's want_reack in
 * xfer.c now prevents it): the copy of DATA 3 drew an immediate ACK 3 and
 * reset the receiver's window count, so its ACKs no longer fell on the
 * sender's window ends.  The sender took each one as a mid-window ACK
 * and re-sent blocks still in flight, whose first copy drew the next
 * early ACK: about 2x DATA to the end of the transfer (799 DATA for 401
 * blocks), in a network that lost nothing.
 */
static void
test_b2b_window_dup_data_no_ack_cascade(void)
{
	size_t size = 400 * 512 + 100;
	uint8_t *src = random_bytes(size, 3001);
	struct fx snd, rcv;
	struct tftp_opts o;
	struct packet p;
	uint64_t now = 0;
	unsigned long data_pkts = 0;
	int duped = 0, guard = 0;
	size_t i;

	options_init(&o);
	grant_window(&o, 8);
	fx_cfg(&snd, XFER_SEND, 1);
	fx_cfg(&rcv, XFER_RECV, 0);
	snd.c.opts = rcv.c.opts = o;
	fx_begin(&snd, src, size);
	fx_begin(&rcv, NULL, 0);
	xfer_start(&snd.x, now);
	mem_clear_sent(&snd.m);		/* the WRQ */
	xfer_start(&rcv.x, now);	/* the OACK */
	while ((rcv.m.nsent || snd.m.nsent) && guard++ < 100000) {
		/* whole bursts each way, as over a link with some delay */
		for (i = 0; i < rcv.m.nsent; i++)
			xfer_input(&snd.x, rcv.m.sent[i].b, rcv.m.sent[i].len,
			    ++now);
		mem_clear_sent(&rcv.m);
		for (i = 0; i < snd.m.nsent; i++) {
			if (sent_pkt(&snd.m, i, &p) != TFTP_DATA)
				continue;
			data_pkts++;
			xfer_input(&rcv.x, snd.m.sent[i].b, snd.m.sent[i].len,
			    ++now);
			if (p.block == 3 && !duped) {
				duped = 1;
				xfer_input(&rcv.x, snd.m.sent[i].b,
				    snd.m.sent[i].len, ++now);
			}
		}
		mem_clear_sent(&snd.m);
	}
	CHECK_EQ(snd.x.status, XFER_DONE);
	CHECK_EQ(rcv.x.status, XFER_DONE);
	CHECK(rcv.m.out_len == size && memcmp(rcv.m.out, src, size) == 0);
	printf("  one duplicated DATA: %lu DATA sent for %zu blocks, "
	    "%llu re-sent\n", data_pkts, size / 512 + 1,
	    (unsigned long long)snd.x.st.retransmits);
	CHECK(data_pkts <= size / 512 + 1 + 8);
	fx_free(&snd);
	fx_free(&rcv);
	free(src);
}

/* Past block 65535 over the link: rollover 0 and 1, windowed, with loss. */
static void
test_b2b_rollover(void)
{
	struct b2b_case k;
	struct b2b_result r;
	unsigned ro;

	for (ro = 0; ro < 2; ro++) {
		memset(&k, 0, sizeof(k));
		k.size = ROLL_SIZE;
		k.blksize = ROLL_BS;
		k.window = 4;
		k.rollover = ro;
		k.to_rcv.drop_pct = 1;
		k.to_snd.drop_pct = 1;
		k.seed = 4000 + ro;
		b2b_case_run(&k, &r);
		check_b2b(&k, &r);
		CHECK(r.nblk > 65536);
	}
}

/* netascii both ways, lock-step and windowed with drops (re-walks). */
static void
test_b2b_netascii(void)
{
	size_t n = 30000, i;
	uint8_t *text = xmalloc(n);
	struct b2b_case k;
	struct b2b_result r;

	rng_seed(5000);
	for (i = 0; i < n; i++) {
		unsigned v = rng_pct();

		text[i] = v < 12 ? '\n' : v < 20 ? '\r' :
		    v < 22 ? '\0' : (uint8_t)('a' + v % 26);
	}
	memset(&k, 0, sizeof(k));
	k.size = n;
	k.src = text;
	k.blksize = 8;
	k.window = 1;
	k.netascii = 1;
	k.seed = 5001;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);

	k.window = 3;
	k.to_rcv.drop_pct = 8;
	k.to_rcv.dup_pct = 3;
	k.to_rcv.swap_pct = 3;
	k.to_snd.drop_pct = 8;
	k.seed = 5002;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
	CHECK(r.midwin > 0);		/* the re-walk was exercised */

	k.blksize = 512;
	k.window = 8;
	k.download = 1;
	k.to_snd.drop_pct = 0;		/* a client does not dally */
	k.seed = 5003;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
	free(text);
}

/*
 * Random loss loses window tails too (30 % here), but it also makes gap
 * ACKs, and more of them: that is not a NIC dropping bursts, so the
 * windows are not paced (paced 2 ms a block, a 1 MiB transfer at 30 %
 * loss took 30 s instead of 20).
 */
static void
test_random_loss_not_paced(void)
{
	struct lossy l = { 30, 0, 0 };
	struct b2b_case k;
	struct b2b_result r;

	memset(&k, 0, sizeof(k));
	k.size = 300 * 1024;
	k.blksize = 512;
	k.window = 16;
	k.download = 1;
	k.to_rcv = k.to_snd = l;
	k.rto_min = 10000;
	k.seed = 7007;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
	printf("  30 %% loss, w16: %llu tails, %llu gap ACKs, pace %llu us\n",
	    (unsigned long long)r.ss.tails, (unsigned long long)r.ss.gaps,
	    (unsigned long long)r.ss.pace_max_us);
	CHECK(r.ss.gaps > r.ss.tails);
	CHECK(r.ss.pace_max_us <= 200);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_b2b_lossless);
	RUN(test_b2b_lossy);
	RUN(test_b2b_dup_acks_no_extra_data);
	RUN(test_b2b_window_dup_data_no_ack_cascade);
	RUN(test_b2b_rollover);
	RUN(test_b2b_netascii);
	RUN(test_random_loss_not_paced);
	return CHECK_EXIT();
}
