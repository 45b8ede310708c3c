/*
 * test_xfer_rtt.c - RTT-driven timers (rto_min set): the RFC 6298
 * estimate and Karn's rule, give-up by time, needless re-sends to slow
 * and late clients, real loss, and the estimate of a windowed sender
 * under loss and probes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer_fixture.h"

/* A server sender in lock-step (or windowsize w) with RTT timers on. */
static void
rtt_sender(struct fx *f, const uint8_t *src, size_t n, unsigned w)
{
	fx_cfg(f, XFER_SEND, 0);
	f->c.rto_min_us = 10000;
	if (w > 1)
		grant_window(&f->c.opts, w);
	fx_begin(f, src, n);
}

/*
 * RFC 6298 on the first sample, the timer from it (floored at rto_min),
 * doubling on expiry, and Karn's rule: an ACK of a re-sent block is no
 * sample.
 */
static void
test_rtt_estimate_timer_and_karn(void)
{
	static uint8_t src[512 * 4 + 1];
	struct fx f;
	uint64_t now = 1000;

	rtt_sender(&f, src, sizeof(src), 1);
	xfer_start(&f.x, now);			/* DATA 1, no sample yet */
	CHECK_EQ(f.x.deadline, now + T_US);	/* before any answer: T */
	now += 200;
	in_ack(&f.x, 1, now);			/* DATA 1 -> ACK 1: 200 us */
	CHECK_EQ(f.x.rtx.srtt, 200);
	CHECK_EQ(f.x.rtx.rttvar, 100);
	CHECK_EQ(f.x.deadline, now + 10000);	/* 600 us, floored at 10 ms */
	mem_clear_sent(&f.m);
	now = f.x.deadline;
	xfer_tick(&f.x, now);			/* DATA 2 lost: re-sent */
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_data(&f.m, 0, 2, src + 512, 512));
	CHECK_EQ(f.x.deadline, now + 20000);	/* doubled */
	now += 5000;
	in_ack(&f.x, 2, now);			/* ambiguous: no sample */
	CHECK_EQ(f.x.rtx.srtt, 200);
	CHECK_EQ(f.x.rtx.rttvar, 100);
	now += 300;
	in_ack(&f.x, 3, now);			/* DATA 3 went once: 300 us */
	CHECK_EQ(f.x.rtx.srtt, (7 * 200 + 300) / 8);
	CHECK_EQ(f.x.rtx.rttvar, (3 * 100 + 100) / 4);
	fx_free(&f);
}

/* With a 10 ms timer, a duplicate ACK still never causes a send. */
static void
test_rtt_duplicate_ack_no_send(void)
{
	static uint8_t src[512 * 4 + 1];
	struct fx f;
	uint64_t now = 1000;
	int i;

	rtt_sender(&f, src, sizeof(src), 1);
	xfer_start(&f.x, now);
	now += 100;
	in_ack(&f.x, 1, now);
	mem_clear_sent(&f.m);
	for (i = 0; i < 50; i++) {
		now += 100;			/* 5 ms, below the timer */
		in_ack(&f.x, 1, now);
		xfer_tick(&f.x, now);
	}
	CHECK_EQ(f.m.nsent, 0);
	CHECK_EQ(f.x.st.dup_acks, 50);
	fx_free(&f);
}

/*
 * Give-up is by time without progress: timeout x (retries + 1), however
 * many short timers fired in between.
 */
static void
test_rtt_give_up_by_time(void)
{
	static uint8_t src[512 * 4 + 1];
	struct fx f;
	uint64_t now = 1000, t_prog;
	unsigned sends;

	rtt_sender(&f, src, sizeof(src), 1);
	xfer_start(&f.x, now);
	now += 100;
	in_ack(&f.x, 1, now);
	t_prog = now;
	mem_clear_sent(&f.m);
	while (f.x.status == XFER_RUNNING && f.m.nsent < 1000) {
		now = f.x.deadline;
		xfer_tick(&f.x, now);
	}
	sends = (unsigned)f.m.nsent;
	CHECK_EQ(f.x.status, XFER_FAILED);
	CHECK_STR(f.x.err_msg, "timeout");
	CHECK_EQ(f.x.why, XW_TIMEOUT);
	/* retries 5, T 1 s: not before 6 s, and within one more T */
	CHECK(now - t_prog >= 6 * T_US);
	CHECK(now - t_prog < 7 * T_US);
	/* 10, 20, 40 ... ms then 1 s each: more sends than the count */
	CHECK(sends > 5);
	fx_free(&f);
}

/*
 * No estimate yet (the OACK exchange gave none), DATA 1 answered only
 * after 0.9 s: that is likely the peer's re-ACK timer, not a round trip.
 * It must not seed the estimate (it held the timer at 1 s for a whole
 * transfer at 30 % loss); the next clear sample does.
 */
static void
test_rtt_no_seed_from_peer_timer(void)
{
	static uint8_t src[512 * 4 + 1];
	struct fx f;
	uint64_t now = 1000;

	rtt_sender(&f, src, sizeof(src), 1);
	xfer_start(&f.x, now);			/* DATA 1 */
	now += 900000;
	in_ack(&f.x, 1, now);			/* 0.9 s: no seed */
	CHECK_EQ(f.x.rtx.srtt, 0);
	CHECK_EQ(f.x.deadline, now + T_US);	/* still the timeout */
	now += 300;
	in_ack(&f.x, 2, now);			/* DATA 2 once: 300 us */
	CHECK_EQ(f.x.rtx.srtt, 300);
	CHECK_EQ(f.x.rtx.rttvar, 150);
	CHECK_EQ(f.x.deadline, now + 10000);	/* floored at rto_min */
	fx_free(&f);
}

/*
 * A slow but healthy client (ACKs each window 30 ms after it left):
 * the probes it draws stay below one spurious packet per window on
 * average, because the estimate learns the 30 ms.
 */
static void
test_rtt_slow_client_few_spurious(void)
{
	enum { W = 8, BLOCKS = 400 };
	static uint8_t src[512 * BLOCKS + 7];
	struct fx f;
	uint64_t now = 1000, ack_at, probed, probed_before = 0;
	unsigned windows = 0, data = 0;
	size_t i;
	struct packet p;

	rtt_sender(&f, src, sizeof(src), W);
	xfer_start(&f.x, now);			/* OACK */
	now += 100;
	in_ack(&f.x, 0, now);			/* seeds srtt at 100 us */
	while (f.x.status == XFER_RUNNING && windows < 1000) {
		windows++;
		ack_at = now + 30000;
		while (f.x.deadline && f.x.deadline < ack_at) {
			now = f.x.deadline;
			xfer_tick(&f.x, now);
		}
		now = ack_at;
		probed = f.x.st.probes;
		in_ack(&f.x, xfer_wire_block(f.x.next - 1, 0), now);
		/*
		 * A client that had the window answers a probe's first block
		 * (old to it) with a duplicate of its ACK, as ours does.
		 */
		if (probed != probed_before) {
			now += 100;
			in_ack(&f.x, xfer_wire_block(f.x.acked, 0), now);
		}
		probed_before = f.x.st.probes;
	}
	for (i = 0; i < f.m.nsent; i++)
		if (sent_pkt(&f.m, i, &p) == TFTP_DATA)
			data++;
	printf("  %u windows, %u DATA for %u blocks, %llu probe blocks\n",
	    windows, data, (unsigned)BLOCKS + 1,
	    (unsigned long long)f.x.st.probes);
	CHECK_EQ(f.x.status, XFER_DONE);
	CHECK(data - (BLOCKS + 1) <= windows);
	CHECK_EQ(f.x.st.timeouts, 0);
	fx_free(&f);
}

/*
 * A lock-step client that answers in 100 us but pauses on every 20th
 * block (firmware writing to flash; GRUB under UEFI): the pauses grow
 * from 20 to 50 ms.  It gets every block it is sent, and answers each
 * copy of a block with an ACK, as lock-step receivers do.  Each pause
 * outlasts a 10 ms timer; a re-send found needless (the ACK came twice)
 * sets the timer above twice that pause, so only a pause longer than
 * half of that draws a re-send again.  Returns the re-sends.
 */
static uint64_t
late_client_run(struct xfer *x, struct mem *m, const uint64_t *pause,
    size_t npause)
{
	uint64_t now = 1000, answer, copies;
	size_t blk = 0;

	xfer_start(x, now);
	while (x->status == XFER_RUNNING && blk < 100000) {
		blk++;
		answer = now + 100;
		if (blk % 20 == 0)
			answer = now + pause[(blk / 20 - 1) % npause];
		copies = x->st.retransmits;
		while (x->deadline && x->deadline < answer) {
			now = x->deadline;
			xfer_tick(x, now);
		}
		copies = x->st.retransmits - copies;
		now = answer;
		in_ack(x, xfer_wire_block(blk, 0), now);
		while (copies--) {
			now += 20;
			in_ack(x, xfer_wire_block(blk, 0), now);
		}
	}
	(void)m;
	return x->st.retransmits;
}

static void
test_rtt_late_client_backs_off(void)
{
	static const uint64_t pause[] = { 20000, 20000, 30000, 25000, 50000,
	    20000, 45000, 35000, 50000, 20000 };
	enum { BLOCKS = 1000 };
	static uint8_t src[512 * BLOCKS + 1];
	struct fx f;
	uint64_t rtx;

	rtt_sender(&f, src, sizeof(src), 1);
	rtx = late_client_run(&f.x, &f.m, pause, 10);
	printf("  50 pauses of 20-50 ms: %llu re-sends, %llu found needless, "
	    "timer floor %.1f ms\n", (unsigned long long)rtx,
	    (unsigned long long)f.x.st.spurious,
	    (double)f.x.rtx.late_us / 1000.0);
	CHECK_EQ(f.x.status, XFER_DONE);
	/*
	 * The first 20 ms pause: re-sends at 10 ms (and none at 30: the
	 * ACK came at 20), found needless, floor 40 ms.  The 50 ms pause:
	 * one more, floor 100 ms.  No other pause draws one.
	 */
	CHECK_EQ(rtx, 2);
	CHECK_EQ(f.x.st.spurious, 2);
	CHECK_EQ(f.x.rtx.late_us, 2 * 50000);
	fx_free(&f);
}

/*
 * Real loss keeps the fast timer: a lost block's re-send draws one ACK a
 * round trip later, even when the network duplicates that ACK, and the
 * next loss is re-sent after 10 ms again.
 */
static void
test_rtt_real_loss_keeps_timer(void)
{
	static uint8_t src[512 * 8 + 1];
	struct fx f;
	uint64_t now = 1000, sent;

	rtt_sender(&f, src, sizeof(src), 1);
	xfer_start(&f.x, now);
	now += 200;
	in_ack(&f.x, 1, now);			/* srtt 200 us */
	now = f.x.deadline;			/* DATA 2 lost */
	xfer_tick(&f.x, now);
	now += 200;
	in_ack(&f.x, 2, now);			/* answers the re-send */
	now += 5;
	in_ack(&f.x, 2, now);			/* a copy the network made */
	CHECK_EQ(f.x.st.spurious, 0);
	CHECK_EQ(f.x.rtx.late_us, 0);
	CHECK_EQ(f.x.deadline, now - 5 + 10000);
	now = f.x.deadline;			/* DATA 3 lost too */
	xfer_tick(&f.x, now);
	CHECK_EQ(f.x.st.retransmits, 2);
	now += 200;
	in_ack(&f.x, 3, now);
	CHECK_EQ(f.x.st.spurious, 0);
	CHECK_EQ(f.x.deadline, now + 10000);
	/*
	 * ACK 4 lost, and every re-send of DATA 4 too: the client's own
	 * timer re-sends ACK 4 (100 ms), DATA 5 is lost, and its timer
	 * sends ACK 4 again.  Both ACKs came long after a re-send, but
	 * 100 ms apart: the client's timer, not two copies it had.
	 */
	sent = now;				/* DATA 4 arrived, ACK lost */
	while (f.x.deadline < sent + 100000) {
		now = f.x.deadline;
		xfer_tick(&f.x, now);
	}
	now = sent + 100000;
	in_ack(&f.x, 4, now);			/* the client's timer */
	CHECK_EQ(f.x.rtx.state, 2);		/* long after the re-send */
	now += 100000;
	in_ack(&f.x, 4, now);			/* ... again: DATA 5 lost */
	CHECK_EQ(f.x.st.spurious, 0);
	CHECK_EQ(f.x.rtx.late_us, 0);
	fx_free(&f);
}

/*
 * A floor a pause taught gives way to real loss: each re-send that
 * proves needed (answered a round trip after it) halves it, so a lossy
 * path gets the fast timer back after a few losses.
 */
static void
test_rtt_late_floor_yields_to_loss(void)
{
	static uint8_t src[512 * 16 + 1];
	struct fx f;
	uint64_t now = 1000, sent;

	rtt_sender(&f, src, sizeof(src), 1);
	xfer_start(&f.x, now);
	now += 200;
	in_ack(&f.x, 1, now);			/* srtt 200 us */
	sent = now;				/* DATA 2: the client pauses */
	now = f.x.deadline;
	xfer_tick(&f.x, now);			/* re-sent at 10 ms */
	now = sent + 30000;
	in_ack(&f.x, 2, now);			/* the first copy's answer */
	now += 20;
	in_ack(&f.x, 2, now);			/* ... and the copy's */
	CHECK_EQ(f.x.st.spurious, 1);
	CHECK_EQ(f.x.rtx.late_us, 60000);
	/* now DATA 3, 4, 5 are lost: each re-send is answered at once */
	now = f.x.deadline;
	CHECK(now >= sent + 30000 + 60000);	/* the floor held */
	xfer_tick(&f.x, now);
	now += 200;
	in_ack(&f.x, 3, now);
	CHECK_EQ(f.x.rtx.late_us, 30000);
	now = f.x.deadline;
	xfer_tick(&f.x, now);
	now += 200;
	in_ack(&f.x, 4, now);
	CHECK_EQ(f.x.rtx.late_us, 15000);
	now = f.x.deadline;
	xfer_tick(&f.x, now);
	now += 200;
	in_ack(&f.x, 5, now);
	CHECK_EQ(f.x.rtx.late_us, 0);		/* under --rto-min: gone */
	CHECK_EQ(f.x.deadline, now + 10000);
	CHECK_EQ(f.x.st.spurious, 1);
	fx_free(&f);
}

/*
 * Eifel's test: an ACK that comes sooner than half the smallest round
 * trip after a re-send left the client before the copy reached it.
 */
static void
test_rtt_ack_before_resend_could_arrive(void)
{
	static uint8_t src[512 * 8 + 1];
	struct fx f;
	uint64_t now = 1000, sent;

	rtt_sender(&f, src, sizeof(src), 1);
	xfer_start(&f.x, now);
	now += 200;
	in_ack(&f.x, 1, now);			/* rtt_min 200 us */
	sent = now;				/* DATA 2 leaves */
	now = f.x.deadline;
	xfer_tick(&f.x, now);			/* re-sent at 10 ms */
	now += 50;
	in_ack(&f.x, 2, now);
	CHECK_EQ(f.x.st.spurious, 1);
	CHECK_EQ(f.x.rtx.late_us, 2 * (now - sent));
	CHECK_EQ(f.x.deadline, now + 2 * (now - sent));
	fx_free(&f);
}

/*
 * At heavy loss a window's ACK rarely covers a block sent only once after
 * the retransmits before it, so Karn's rule alone left a windowed sender
 * without an estimate (no probes, every loss a 1 s timeout; measured:
 * 40 s and more for 1 MiB at 30 %).  A gap ACK past the first block sent
 * once is a sample; with none at all, the time since the last burst
 * seeds the estimate.
 */
static void
test_rtt_window_estimate_under_loss(void)
{
	static uint8_t src[512 * 40 + 1];
	struct fx f;
	uint64_t now = 1000;

	rtt_sender(&f, src, sizeof(src), 8);
	xfer_start(&f.x, now);			/* OACK, lost */
	now = f.x.deadline;
	xfer_tick(&f.x, now);			/* OACK again: no sample */
	now += 100;
	in_ack(&f.x, 0, now);			/* DATA 1..8, all lost */
	CHECK_EQ(f.x.rtx.srtt, 0);
	CHECK_EQ(f.x.probe_at, 0);		/* no estimate: no probe */
	now = f.x.deadline;
	CHECK_EQ(now, 1000 + 2 * T_US + 100);	/* the whole timeout */
	mem_clear_sent(&f.m);
	xfer_tick(&f.x, now);			/* DATA 1..8 again */
	CHECK_EQ(f.m.nsent, 8);
	now += 150;
	in_ack(&f.x, 3, now);			/* 4 lost: gap ACK of 3 */
	CHECK_EQ(f.x.rtx.srtt, 150);		/* from the burst */
	CHECK(f.x.probe_at != 0);		/* probes from now on */
	/* DATA 4..8 again, then 9..11 sent once: 10 answers those */
	now += 200;
	in_ack(&f.x, 10, now);
	CHECK_EQ(f.x.rtx.srtt, (7 * 150 + 200) / 8);
	fx_free(&f);
}

/*
 * A probe answered by the window's ACK, and the probe's old block by a
 * duplicate of it: the client either was slow (the probe was needless)
 * or lost its window ACK (the probe was the answer).  That is no RTT
 * sample (it pushed srtt to 150 ms at 30 % loss); it only makes the
 * next probe wait longer, and ACKs that come without a probe shorten
 * the wait again.
 */
static void
test_rtt_probe_answer_no_sample(void)
{
	static uint8_t src[512 * 64 + 1];
	struct fx f;
	uint64_t now = 1000, sent, patience;

	rtt_sender(&f, src, sizeof(src), 8);
	xfer_start(&f.x, now);			/* OACK */
	now += 100;
	in_ack(&f.x, 0, now);			/* srtt 100 us; DATA 1..8 */
	CHECK_EQ(f.x.rtx.srtt, 100);
	sent = now;
	now = f.x.deadline;			/* ACK 8 lost: a probe */
	CHECK_EQ(now, sent + 10000);
	mem_clear_sent(&f.m);
	xfer_tick(&f.x, now);
	CHECK_EQ(f.m.nsent, 2);			/* blocks 1 and 8 */
	now += 100;
	in_ack(&f.x, 8, now);			/* answers block 1 (old) */
	now += 20;
	in_ack(&f.x, 8, now);			/* and block 8: duplicate */
	CHECK_EQ(f.x.rtx.srtt, 100);
	CHECK_EQ(f.x.rtx.rttvar, 50);
	CHECK_EQ(f.x.st.probes_spurious, 1);
	/* later probes wait 1.5 x the 10.1 ms that window took */
	CHECK(f.x.rtx.patience_us >= 15000);
	patience = f.x.rtx.patience_us;
	now += 100;
	in_ack(&f.x, 16, now);		/* 9..16 went once: a sample */
	CHECK_EQ(f.x.rtx.srtt, (7 * 100 + 120) / 8);
	CHECK_EQ(f.x.rtx.patience_us, patience - patience / 8);
	CHECK(f.x.rtx.patience_us > 10000);
	CHECK_EQ(f.x.probe_at, now + f.x.rtx.patience_us);
	fx_free(&f);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_rtt_estimate_timer_and_karn);
	RUN(test_rtt_duplicate_ack_no_send);
	RUN(test_rtt_give_up_by_time);
	RUN(test_rtt_slow_client_few_spurious);
	RUN(test_rtt_late_client_backs_off);
	RUN(test_rtt_real_loss_keeps_timer);
	RUN(test_rtt_ack_before_resend_could_arrive);
	RUN(test_rtt_late_floor_yields_to_loss);
	RUN(test_rtt_window_estimate_under_loss);
	RUN(test_rtt_probe_answer_no_sample);
	RUN(test_rtt_no_seed_from_peer_timer);
	return CHECK_EXIT();
}
