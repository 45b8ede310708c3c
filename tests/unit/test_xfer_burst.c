/*
 * test_xfer_burst.c - clients behind a NIC that drops bursts (U-Boot's
 * e1000 under QEMU, doc/notes/uboot-e1000.md): the OACK burst that finds
 * them and narrows the window, and the pair probes and pacing that
 * recover lost window tails.  Random loss is not taken for such a NIC:
 * test_random_loss_not_paced in test_xfer_b2b.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer_fixture.h"

/* ==== the OACK burst (U-Boot behind a NIC that drops bursts) ============= */

static void
burst_cfg(struct fx *f, unsigned window)
{
	fx_cfg(f, XFER_SEND, 0);
	grant_blksize(&f->c.opts, 512);
	grant_window(&f->c.opts, window);
	f->c.rto_min_us = 10000;
	f->c.oack_burst = 3;
}

#define BURST_SRC	(512 * 20 + 7)

/* A server sender of BURST_SRC bytes of src with the burst, started at 0. */
static void
burst_start(struct fx *f, const uint8_t *src, unsigned window)
{
	burst_cfg(f, window);
	fx_begin(f, src, BURST_SRC);
	xfer_start(&f->x, 0);
}

#define OACK_W8		LIT("\0\6blksize\0" "512\0windowsize\0" "8\0")
#define OACK_W1		LIT("\0\6blksize\0" "512\0windowsize\0" "1\0")

/*
 * Two of three OACK copies answered: the client's NIC drops bursts, so a
 * second OACK grants windowsize 1 before DATA 1, and the transfer runs in
 * lock-step to the end.
 */
static void
test_oack_burst_narrows(void)
{
	uint8_t *src = random_bytes(BURST_SRC, 41);
	struct fx f;
	uint64_t now;
	uint16_t b;

	burst_start(&f, src, 8);
	CHECK_EQ(f.x.status, XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_bytes(&f.m, 0, OACK_W8));
	CHECK(is_bytes(&f.m, 1, OACK_W8));
	CHECK(is_bytes(&f.m, 2, OACK_W8));
	CHECK_EQ(f.x.st.burst, 3);
	/* the first answer after 400 us: wait 2 ms (the floor) for more */
	CHECK_EQ(in_ack(&f.x, 0, 400), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(f.x.deadline == 2400);
	CHECK(f.x.rtx.srtt == 400);
	CHECK_EQ(in_ack(&f.x, 0, 420), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 3);
	xfer_tick(&f.x, 2399);
	CHECK_EQ(f.m.nsent, 3);
	xfer_tick(&f.x, 2400);
	CHECK_EQ(f.m.nsent, 4);
	CHECK(is_bytes(&f.m, 3, OACK_W1));
	CHECK_EQ(f.x.st.burst_acks, 2);
	CHECK_EQ(f.x.st.burst_narrowed, 1);
	CHECK_EQ(f.x.opts.windowsize, 1);
	/* its ACK 0: DATA 1 alone, then one block per ACK */
	now = 2800;
	CHECK_EQ(in_ack(&f.x, 0, now), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 5);
	CHECK(is_data(&f.m, 4, 1, src, 512));
	/* a late copy of ACK 0 is old */
	in_ack(&f.x, 0, now + 10);
	CHECK_EQ(f.m.nsent, 5);
	for (b = 1; b <= 20; b++) {
		now += 100;
		CHECK_EQ(in_ack(&f.x, b, now), XFER_RUNNING);
		CHECK_EQ(f.m.nsent, (size_t)5 + b);
		CHECK(is_data(&f.m, 4 + b, (uint16_t)(b + 1), src + 512 * b,
		    b < 20 ? 512 : 7));
	}
	CHECK_EQ(in_ack(&f.x, 21, now + 100), XFER_DONE);
	CHECK_EQ(f.x.st.bytes, BURST_SRC);
	CHECK_EQ(f.x.st.retransmits, 0);
	fx_free(&f);
	free(src);
}

/* Every copy answered: the client takes bursts; the window starts at once. */
static void
test_oack_burst_all_answered(void)
{
	uint8_t *src = random_bytes(BURST_SRC, 42);
	struct fx f;
	int i;

	burst_start(&f, src, 8);
	in_ack(&f.x, 0, 300);
	in_ack(&f.x, 0, 310);
	CHECK_EQ(f.m.nsent, 3);
	CHECK_EQ(in_ack(&f.x, 0, 320), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 3 + 8);
	for (i = 0; i < 8; i++)
		CHECK(is_data(&f.m, 3 + (size_t)i, (uint16_t)(i + 1),
		    src + 512 * i, 512));
	CHECK_EQ(f.x.st.burst_narrowed, 0);
	CHECK_EQ(f.x.opts.windowsize, 8);
	fx_free(&f);
	free(src);
}

/*
 * One answer: a client that ignores OACK copies tells nothing, and keeps
 * its window once the wait is over.  No answer at all: an ordinary lost
 * OACK, re-sent once (not as a burst) with the window unchanged.
 */
static void
test_oack_burst_one_or_none(void)
{
	uint8_t *src = random_bytes(BURST_SRC, 43);
	struct fx f;

	burst_start(&f, src, 8);
	in_ack(&f.x, 0, 1500);
	CHECK(f.x.deadline == 4500);
	xfer_tick(&f.x, 4500);
	CHECK_EQ(f.m.nsent, 3 + 8);
	CHECK(is_data(&f.m, 3, 1, src, 512));
	CHECK_EQ(f.x.opts.windowsize, 8);
	CHECK_EQ(f.x.st.burst_narrowed, 0);
	fx_free(&f);

	burst_start(&f, src, 8);
	xfer_tick(&f.x, T_US);
	CHECK_EQ(f.m.nsent, 4);
	CHECK(is_bytes(&f.m, 3, OACK_W8));
	CHECK_EQ(f.x.st.retransmits, 1);
	CHECK_EQ(in_ack(&f.x, 0, T_US + 300), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 4 + 8);
	CHECK_EQ(f.x.opts.windowsize, 8);
	fx_free(&f);
	free(src);
}

/*
 * One OACK, no burst: windowsize 2 or less (a NIC that keeps one packet
 * waiting takes two), classic timers, or no burst asked for.
 */
static void
test_oack_burst_off(void)
{
	uint8_t src[600] = { 0 };
	struct fx f;
	int k;

	for (k = 0; k < 3; k++) {
		burst_cfg(&f, k == 0 ? 2 : 8);
		if (k == 1)
			f.c.rto_min_us = 0;
		if (k == 2)
			f.c.oack_burst = 1;
		fx_begin(&f, src, sizeof(src));
		xfer_start(&f.x, 0);
		CHECK_EQ(f.m.nsent, 1);
		CHECK_EQ(in_ack(&f.x, 0, 300), XFER_RUNNING);
		CHECK(is_data(&f.m, 1, 1, src, 512));
		CHECK_EQ(f.x.st.burst, 0);
		fx_free(&f);
	}
}

/* ==== tail probes ======================================================= */

struct tail_run {
	uint64_t	elapsed;	/* fake microseconds to finish */
	uint64_t	timeouts;	/* sender go-back-N expiries */
	uint64_t	probes;
	uint64_t	pace_max;	/* largest pacing gap used */
	int		ok;
};

/*
 * A NIC that keeps one receive descriptor (U-Boot's e1000 under QEMU):
 * of each burst the sender emits in one call, only the first keep DATA
 * arrive.  The client is our windowed receiver, which (like U-Boot) ACKs
 * on its window grid or at once on a gap, so a lost tail draws nothing.
 */
static void
tail_drop_run(uint64_t rto_min, unsigned keep, struct tail_run *r)
{
	enum { N = 300 * 1468 + 77, HOP = 50 };
	uint8_t *src = xmalloc(N);
	struct fx snd, rcv;
	struct packet p;
	uint64_t now = 1000, t0;
	size_t i, steps = 0;
	unsigned data;

	for (i = 0; i < N; i++)
		src[i] = (uint8_t)rng();
	fx_cfg(&snd, XFER_SEND, 0);
	fx_cfg(&rcv, XFER_RECV, 1);
	grant_blksize(&snd.c.opts, 1468);
	grant_window(&snd.c.opts, 8);
	snd.c.rto_min_us = rto_min;
	rcv.c.opts = snd.c.opts;
	fx_begin(&snd, src, N);
	fx_begin(&rcv, NULL, 0);
	xfer_start(&rcv.x, now);
	mem_clear_sent(&rcv.m);		/* the RRQ goes to port 69 */
	t0 = now;
	xfer_start(&snd.x, now);	/* OACK */
	while (snd.x.phase != XP_END && ++steps < 1000000) {
		/* sender -> client: the first two DATA of the burst only */
		data = 0;
		for (i = 0; i < snd.m.nsent; i++) {
			if (sent_pkt(&snd.m, i, &p) == TFTP_DATA &&
			    ++data > keep)
				continue;
			now += HOP;
			xfer_input(&rcv.x, snd.m.sent[i].b, snd.m.sent[i].len,
			    now);
		}
		mem_clear_sent(&snd.m);
		if (rcv.m.nsent) {
			for (i = 0; i < rcv.m.nsent; i++) {
				now += HOP;
				xfer_input(&snd.x, rcv.m.sent[i].b,
				    rcv.m.sent[i].len, now);
			}
			mem_clear_sent(&rcv.m);
			continue;
		}
		/* silence: the earlier deadline fires */
		if (rcv.x.phase != XP_END && rcv.x.deadline &&
		    rcv.x.deadline < snd.x.deadline) {
			now = rcv.x.deadline;
			xfer_tick(&rcv.x, now);
		} else {
			now = snd.x.deadline;
			xfer_tick(&snd.x, now);
		}
	}
	r->elapsed = now - t0;
	r->timeouts = snd.x.st.timeouts;
	r->probes = snd.x.st.probes;
	r->pace_max = snd.x.st.pace_max_us;
	r->ok = snd.x.status == XFER_DONE && rcv.m.out_len == N &&
	    memcmp(rcv.m.out, src, N) == 0;
	fx_free(&snd);
	fx_free(&rcv);
	free(src);
}

/*
 * doc/notes/uboot-e1000.md: with plain go-back-N every window of a client
 * that loses window tails costs a full timeout; the pair probe recovers
 * each in about rto_min, with no timeout at all, and the lost tails turn
 * pacing on, after which windows arrive whole.
 */
static void
test_tail_probe_recovers_lost_window_tails(void)
{
	struct tail_run with, without;

	tail_drop_run(10000, 2, &with);
	tail_drop_run(0, 2, &without);
	printf("  probes: %.3f s, %llu timeouts, %llu probe blocks; "
	    "none: %.3f s, %llu timeouts\n", (double)with.elapsed / 1e6,
	    (unsigned long long)with.timeouts,
	    (unsigned long long)with.probes,
	    (double)without.elapsed / 1e6,
	    (unsigned long long)without.timeouts);
	CHECK(with.ok);
	CHECK(without.ok);
	CHECK_EQ(with.timeouts, 0);
	CHECK(with.probes > 0);
	/* after the first lost tails the window is paced, one block a call */
	CHECK(with.pace_max > 0);
	CHECK(with.probes < 20);
	/* about 150 windows of 2 delivered blocks, ~10 ms each */
	CHECK(with.elapsed < 4000000);
	CHECK(without.timeouts > 100);
}

/* A client that keeps up never sees a probe: its ACK beats the timer. */
static void
test_tail_probe_silent_when_client_keeps_up(void)
{
	struct tail_run r;

	tail_drop_run(10000, 1000, &r);
	CHECK(r.ok);
	CHECK_EQ(r.probes, 0);
	CHECK_EQ(r.pace_max, 0);
	CHECK_EQ(r.timeouts, 0);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_tail_probe_recovers_lost_window_tails);
	RUN(test_tail_probe_silent_when_client_keeps_up);
	RUN(test_oack_burst_narrows);
	RUN(test_oack_burst_all_answered);
	RUN(test_oack_burst_one_or_none);
	RUN(test_oack_burst_off);
	return CHECK_EXIT();
}
