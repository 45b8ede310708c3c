/*
 * test_rtx.c - the retransmission module on its own (src/rtx.c): RFC
 * 6298 samples, the timer's floor, cap, backoff and give-up, re-sends a
 * late client did not need (doc/notes/late-clients.md) and what probes
 * teach about pacing and patience (doc/notes/uboot-e1000.md).  The
 * transfers that use it are tests/unit/test_xfer_rtt.c and
 * test_xfer_burst.c.
 */
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "rtx.h"

#define T	1000000ull	/* the negotiated timeout */
#define RMIN	10000ull	/* --rto-min */

/* A sender with RTT timers: timeout T, 5 retries, rto_min RMIN. */
static struct rtx
sender(void)
{
	struct rtx r;

	rtx_init(&r, T, 0, 5, RMIN, 1);
	return r;
}

/* A sender with an estimate of srtt 200 us, rttvar 100, rtt_min 200. */
static struct rtx
sender_200(void)
{
	struct rtx r = sender();

	rtx_sample(&r, 1000, 1200);
	rtx_progress(&r, 1200);
	return r;
}

/*
 * The client answers block seq's first copy lateness after it left, a
 * timer re-send having gone at RMIN, and the re-send 20 us later: the
 * duplicate-ACK rule finds it needless, late_us = 2 x lateness.
 * Returns the time of the last ACK.
 */
static uint64_t
learn_late(struct rtx *r, uint64_t seq, uint64_t first, uint64_t lateness)
{
	rtx_sent(r, seq, first, first + RMIN);
	CHECK_EQ(rtx_acked(r, seq, first + lateness), 0);
	CHECK_EQ(rtx_dup_ack(r, first + lateness + 20), 1);
	return first + lateness + 20;
}

/* RFC 6298: the first sample seeds, later ones smooth; rtt_min; Karn aside. */
static void
test_rtt_samples(void)
{
	struct rtx r = sender();

	CHECK_EQ(r.srtt, 0);
	CHECK_EQ(r.rto, T);
	rtx_sample(&r, 1000, 1200);		/* 200 us */
	CHECK_EQ(r.srtt, 200);
	CHECK_EQ(r.rttvar, 100);
	CHECK_EQ(r.rtt_min, 200);
	rtx_sample(&r, 2000, 2300);		/* 300 us */
	CHECK_EQ(r.srtt, (7 * 200 + 300) / 8);
	CHECK_EQ(r.rttvar, (3 * 100 + 100) / 4);
	CHECK_EQ(r.rtt_min, 200);
	rtx_sample(&r, 3000, 3100);		/* 100 us, below srtt 212 */
	CHECK_EQ(r.rttvar, (3 * 100 + (212 - 100)) / 4);
	CHECK_EQ(r.srtt, (7 * 212 + 100) / 8);
	CHECK_EQ(r.rtt_min, 100);
	rtx_sample(&r, 5000, 5000);		/* no time at all: 1 us */
	CHECK_EQ(r.rtt_min, 1);
	/* with an estimate, a long sample is taken */
	rtx_sample(&r, 0, 900000);
	CHECK(r.srtt > 100000);
	CHECK_EQ(r.rtt_min, 1);
}

/*
 * A first sample of half the timer in force or more is likely the peer's
 * re-ACK timer, not a round trip: refused.  Just below, it seeds.
 */
static void
test_rtt_first_sample_near_timer(void)
{
	struct rtx r = sender();

	rtx_sample(&r, 0, T / 2);
	CHECK_EQ(r.srtt, 0);
	CHECK_EQ(r.rttvar, 0);
	CHECK_EQ(r.rtt_min, 0);
	CHECK_EQ(rtx_base(&r), T);
	rtx_sample(&r, 0, T / 2 - 1);
	CHECK_EQ(r.srtt, T / 2 - 1);
	CHECK_EQ(r.rttvar, (T / 2 - 1) / 2);
	CHECK_EQ(r.rtt_min, T / 2 - 1);
}

/* srtt + 4 rttvar, floored at rto_min, capped at the timeout. */
static void
test_rto_floor_and_cap(void)
{
	struct rtx r = sender();

	CHECK_EQ(rtx_base(&r), T);		/* no estimate: the timeout */
	rtx_sample(&r, 0, 200);			/* 200 + 4 x 100 = 600 us */
	CHECK_EQ(rtx_base(&r), RMIN);
	r = sender();
	rtx_sample(&r, 0, 30000);		/* 30 + 4 x 15 = 90 ms */
	CHECK_EQ(rtx_base(&r), 90000);
	rtx_progress(&r, 5000);
	CHECK_EQ(r.rto, 90000);
	CHECK_EQ(r.progress_at, 5000);
	rtx_init(&r, 500000, 0, 5, RMIN, 1);
	rtx_sample(&r, 0, 200000);		/* 200 + 4 x 100 = 600 ms */
	CHECK_EQ(rtx_base(&r), 500000);
	/* classic timers ignore the estimate */
	rtx_init(&r, T, 0, 5, 0, 1);
	rtx_sample(&r, 0, 200);
	CHECK_EQ(r.srtt, 200);
	CHECK_EQ(rtx_base(&r), T);
	/* so does a receiver (it answers, it does not time) */
	rtx_init(&r, T, 0, 5, RMIN, 0);
	rtx_sample(&r, 0, 200);
	CHECK_EQ(rtx_base(&r), T);
}

/*
 * RTT timers double up to the timeout and give up by time without
 * progress, timeout x (retries + 1); progress starts both over.
 */
static void
test_rto_backoff_rtt(void)
{
	static const uint64_t want[] = { 20000, 40000, 80000, 160000, 320000,
	    640000, T, T, T };
	struct rtx r = sender_200();
	uint64_t t0 = r.progress_at;
	unsigned i;

	CHECK_EQ(r.rto, RMIN);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		CHECK_EQ(rtx_expire(&r, t0 + i), 0);
		CHECK_EQ(r.rto, want[i]);
		CHECK_EQ(r.tries, i + 1);
	}
	CHECK_EQ(rtx_expire(&r, t0 + 6 * T - 1), 0);	/* not a count */
	CHECK_EQ(rtx_expire(&r, t0 + 6 * T), -1);
	rtx_progress(&r, t0 + 6 * T);
	CHECK_EQ(r.tries, 0);
	CHECK_EQ(r.rto, RMIN);
	CHECK_EQ(rtx_expire(&r, t0 + 12 * T - 1), 0);
	CHECK_EQ(rtx_expire(&r, t0 + 12 * T), -1);
}

/*
 * Classic timers double up to timeout_max (16 x timeout when 0) and give
 * up after retries expiries; a receiver with rto_min re-sends once per
 * timeout and gives up by time.
 */
static void
test_rto_backoff_classic(void)
{
	struct rtx r;

	rtx_init(&r, T, 0, 3, 0, 1);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(r.rto, 2 * T);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(r.rto, 4 * T);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(r.rto, 8 * T);
	CHECK_EQ(r.tries, 3);
	CHECK_EQ(rtx_expire(&r, 0), -1);
	rtx_init(&r, T, 0, 10, 0, 1);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(r.rto, 16 * T);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(r.rto, 16 * T);		/* the default cap */
	rtx_init(&r, T, 3 * T, 10, 0, 0);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(r.rto, 2 * T);
	CHECK_EQ(rtx_expire(&r, 0), 0);
	CHECK_EQ(r.rto, 3 * T);			/* timeout_max */
	/* a receiver with rto_min: once per timeout, give-up by time */
	rtx_init(&r, T, 0, 3, RMIN, 0);
	rtx_start(&r, 100);
	CHECK_EQ(rtx_expire(&r, 100 + T), 0);
	CHECK_EQ(r.rto, T);
	CHECK_EQ(rtx_expire(&r, 100 + 4 * T - 1), 0);
	CHECK_EQ(r.rto, T);
	CHECK_EQ(rtx_expire(&r, 100 + 4 * T), -1);
}

/* A window's go-back-N timer is 100 ms at least, with RTT timers only. */
static void
test_rto_gbn(void)
{
	struct rtx r = sender_200();

	CHECK_EQ(rtx_gbn(&r, 1), 100000);
	CHECK_EQ(rtx_gbn(&r, 0), RMIN);
	r.rto = 200000;
	CHECK_EQ(rtx_gbn(&r, 1), 200000);
	rtx_init(&r, 50000, 0, 5, 0, 1);	/* classic */
	CHECK_EQ(rtx_gbn(&r, 1), 50000);
}

/*
 * Eifel: the ACK covering a re-send came sooner than half the smallest
 * round trip after it, so the client sent it before the copy arrived.
 */
static void
test_spurious_eifel(void)
{
	struct rtx r = sender_200();
	uint64_t first = 100000, at = first + RMIN, ack = at + 50;

	rtx_sent(&r, 2, first, at);
	CHECK_EQ(r.state, RTX_SENT);
	CHECK_EQ(r.seq, 2);
	CHECK_EQ(r.first, first);
	rtx_sent(&r, 2, first + 7, at + 5);	/* backed off, again */
	CHECK_EQ(r.first, first);		/* the first send stays */
	CHECK_EQ(r.sent_at, at + 5);
	CHECK_EQ(rtx_acked(&r, 2, ack), 1);
	CHECK_EQ(r.state, 0);
	CHECK_EQ(r.late_us, 2 * (ack - first));
	CHECK_EQ(r.rto, 2 * (ack - first));	/* the timer stays above it */
	CHECK_EQ(rtx_base(&r), r.late_us);
}

/*
 * DSACK-like: the ACK came well after the re-send (not its answer), and
 * the same ACK again within 1 ms: the client had both copies.  A copy
 * later than that is the client's own timer and proves nothing.
 */
static void
test_spurious_dup_ack(void)
{
	struct rtx r = sender_200();
	uint64_t first = 100000, ack = first + 30000;

	CHECK_EQ(rtx_dup_ack(&r, ack), 0);	/* nothing under test */
	rtx_sent(&r, 5, first, first + RMIN);
	CHECK_EQ(rtx_acked(&r, 5, ack), 0);	/* 20 ms after: no answer */
	CHECK_EQ(r.state, RTX_ACKED);
	CHECK_EQ(r.seq, 5);
	CHECK_EQ(r.ack_at, ack);
	CHECK_EQ(r.late_us, 0);
	CHECK_EQ(rtx_dup_ack(&r, ack + 1001), 0);	/* its own timer */
	CHECK_EQ(r.state, RTX_ACKED);
	CHECK_EQ(r.late_us, 0);
	CHECK_EQ(rtx_dup_ack(&r, ack + 20), 1);
	CHECK_EQ(r.state, 0);
	CHECK_EQ(r.late_us, 2 * 30000);
	CHECK_EQ(r.rto, 2 * 30000);
	CHECK_EQ(rtx_dup_ack(&r, ack + 40), 0);	/* once */
}

/*
 * Where the verdicts meet, with srtt and rtt_min 2 ms: an ACK sooner than
 * 1 ms (half rtt_min) after the re-send is Eifel's; up to 4 ms (2 srtt)
 * it answers the re-send; later it waits for a duplicate.
 */
static void
test_verdict_bounds(void)
{
	struct rtx r = sender();
	uint64_t at = 100000;

	rtx_sample(&r, 0, 2000);
	CHECK_EQ(r.rtt_min, 2000);
	rtx_sent(&r, 2, at - RMIN, at);
	CHECK_EQ(rtx_acked(&r, 2, at + 999), 1);
	CHECK_EQ(r.state, 0);
	at += 100000;
	rtx_sent(&r, 3, at - RMIN, at);
	CHECK_EQ(rtx_acked(&r, 3, at + 1000), 0);
	CHECK_EQ(r.state, 0);			/* needed */
	at += 100000;
	rtx_sent(&r, 4, at - RMIN, at);
	CHECK_EQ(rtx_acked(&r, 4, at + 4000), 0);
	CHECK_EQ(r.state, 0);			/* needed */
	at += 100000;
	rtx_sent(&r, 5, at - RMIN, at);
	CHECK_EQ(rtx_acked(&r, 5, at + 4001), 0);
	CHECK_EQ(r.state, RTX_ACKED);		/* no answer to the re-send */
}

/*
 * Lateness of a quarter of the timeout or more is no pause to wait out
 * (the client's own timer looks the same): not counted.  Classic timers
 * test nothing.
 */
static void
test_spurious_not_counted(void)
{
	struct rtx r = sender_200();
	uint64_t first = 100000, at = first + T / 4;

	rtx_sent(&r, 2, first, at);
	CHECK_EQ(rtx_acked(&r, 2, at + 50), 0);	/* Eifel, but too late */
	CHECK_EQ(r.state, 0);
	CHECK_EQ(r.late_us, 0);
	CHECK_EQ(r.rto, RMIN);
	rtx_init(&r, T, 0, 5, 0, 1);
	rtx_sample(&r, 1000, 1200);
	rtx_sent(&r, 2, first, at);
	CHECK_EQ(r.state, 0);
	CHECK_EQ(rtx_acked(&r, 2, at + 50), 0);
	CHECK_EQ(r.late_us, 0);
}

/*
 * A re-send answered within a round trip (or 1 ms) was needed: real
 * loss halves the floor a pause taught, and under rto_min it is gone.
 * An ACK below the re-sent block ends the test without a verdict.
 */
static void
test_needed_resend_halves(void)
{
	struct rtx r = sender_200();
	uint64_t now;

	now = learn_late(&r, 2, 100000, 30000);
	CHECK_EQ(r.late_us, 60000);
	now += 100000;
	rtx_sent(&r, 3, now - RMIN, now);
	CHECK_EQ(rtx_acked(&r, 3, now + 200), 0);	/* a round trip */
	CHECK_EQ(r.state, 0);
	CHECK_EQ(r.late_us, 30000);
	now += 100000;
	rtx_sent(&r, 4, now - RMIN, now);
	CHECK_EQ(rtx_acked(&r, 4, now + 1000), 0);	/* over 2 srtt, 1 ms */
	CHECK_EQ(r.late_us, 15000);
	now += 100000;
	rtx_sent(&r, 6, now - RMIN, now);
	CHECK_EQ(rtx_acked(&r, 5, now + 200), 0);	/* below: no verdict */
	CHECK_EQ(r.state, 0);
	CHECK_EQ(r.late_us, 15000);
	rtx_sent(&r, 6, now - RMIN, now);
	CHECK_EQ(rtx_acked(&r, 6, now + 200), 0);
	CHECK_EQ(r.late_us, 0);			/* 7.5 ms < rto_min */
	rtx_progress(&r, now + 200);
	CHECK_EQ(r.rto, RMIN);
}

/*
 * RTX_LATE_FAST (1024) samples in a row under a quarter of late_us halve
 * it; a slower one starts the count over.
 */
static void
test_late_decay(void)
{
	struct rtx r = sender_200();
	uint64_t now;
	unsigned i;

	now = learn_late(&r, 2, 100000, 30000);
	CHECK_EQ(r.late_us, 60000);
	for (i = 0; i < 1023; i++, now += 1000)
		rtx_sample(&r, now, now + 1000);
	CHECK_EQ(r.late_us, 60000);
	CHECK_EQ(r.late_fast, 1023);
	rtx_sample(&r, now, now + 15000);	/* 4 x 15 ms: not quick */
	CHECK_EQ(r.late_fast, 0);
	for (i = 0; i < 1023; i++, now += 1000)
		rtx_sample(&r, now, now + 1000);
	CHECK_EQ(r.late_us, 60000);
	rtx_sample(&r, now, now + 1000);
	CHECK_EQ(r.late_us, 30000);
	CHECK_EQ(r.late_fast, 0);
	for (i = 0; i < 2 * 1024; i++, now += 1000)
		rtx_sample(&r, now, now + 1000);
	CHECK_EQ(r.late_us, 0);			/* 15 ms, then under 10 */
	rtx_progress(&r, now);
	CHECK_EQ(r.rto, RMIN);
}

/* The first probe: 2 srtt + 4 rttvar, floored; a paced client sooner. */
static void
test_probe_ivl(void)
{
	struct rtx r = sender();
	uint64_t ivl = 7;

	CHECK_EQ(rtx_probe_ivl(&r, &ivl), 0);	/* no estimate */
	CHECK_EQ(ivl, 7);
	rtx_sample(&r, 0, 100);			/* 200 + 4 x 50 = 400 us */
	CHECK_EQ(rtx_probe_ivl(&r, &ivl), 1);
	CHECK_EQ(ivl, RMIN);
	CHECK_EQ(rtx_pace_lost(&r), 100);
	CHECK_EQ(rtx_probe_ivl(&r, &ivl), 1);
	CHECK_EQ(ivl, RMIN / 4);
	r = sender();
	rtx_sample(&r, 0, 5000);		/* 10 + 4 x 2.5 = 20 ms */
	CHECK_EQ(rtx_probe_ivl(&r, &ivl), 1);
	CHECK_EQ(ivl, 20000);
	rtx_init(&r, T, 0, 5, 0, 1);		/* classic: no probes */
	rtx_sample(&r, 0, 100);
	CHECK_EQ(rtx_probe_ivl(&r, &ivl), 0);
}

/* Patience: 1.5 x a slow window's wait (at most 100 ms), less without. */
static void
test_probe_patience(void)
{
	struct rtx r = sender();
	uint64_t ivl;

	rtx_sample(&r, 0, 100);
	rtx_probe_needless(&r, 10000);
	CHECK_EQ(r.patience_us, 15000);
	CHECK_EQ(rtx_probe_ivl(&r, &ivl), 1);
	CHECK_EQ(ivl, 15000);
	rtx_probe_needless(&r, 5000);		/* shorter: kept */
	CHECK_EQ(r.patience_us, 15000);
	rtx_probe_needless(&r, 90000);
	CHECK_EQ(r.patience_us, 100000);	/* the go-back-N floor */
	rtx_unprobed(&r);
	CHECK_EQ(r.patience_us, 100000 - 100000 / 8);
	rtx_probe_needed(&r);
	CHECK_EQ(r.patience_us, 0);
	CHECK_EQ(rtx_probe_ivl(&r, &ivl), 1);
	CHECK_EQ(ivl, RMIN);
}

/* Pacing doubles per lost tail up to 2 ms, halves per 16 whole windows. */
static void
test_pacing(void)
{
	static const uint64_t up[] = { 100, 200, 400, 800, 1600, 2000, 2000 };
	static const uint64_t down[] = { 1000, 500, 250, 125, 0 };
	struct rtx r = sender();
	unsigned i, k;

	rtx_pace_whole(&r);			/* unpaced: nothing */
	CHECK_EQ(r.pace_us, 0);
	CHECK_EQ(r.pace_clean, 0);
	for (i = 0; i < sizeof(up) / sizeof(up[0]); i++)
		CHECK_EQ(rtx_pace_lost(&r), up[i]);
	for (k = 0; k < 10; k++)
		rtx_pace_whole(&r);
	CHECK_EQ(rtx_pace_lost(&r), 2000);	/* and the count restarts */
	CHECK_EQ(r.pace_clean, 0);
	for (i = 0; i < sizeof(down) / sizeof(down[0]); i++) {
		for (k = 0; k < 15; k++)
			rtx_pace_whole(&r);
		CHECK_EQ(r.pace_us, i ? down[i - 1] : 2000);
		rtx_pace_whole(&r);
		CHECK_EQ(r.pace_us, down[i]);
	}
}

int
main(void)
{
	RUN(test_rtt_samples);
	RUN(test_rtt_first_sample_near_timer);
	RUN(test_rto_floor_and_cap);
	RUN(test_rto_backoff_rtt);
	RUN(test_rto_backoff_classic);
	RUN(test_rto_gbn);
	RUN(test_spurious_eifel);
	RUN(test_spurious_dup_ack);
	RUN(test_verdict_bounds);
	RUN(test_spurious_not_counted);
	RUN(test_needed_resend_halves);
	RUN(test_late_decay);
	RUN(test_probe_ivl);
	RUN(test_probe_patience);
	RUN(test_pacing);
	return CHECK_EXIT();
}
