/*
 * rtx.c - when to send again: the RTT estimate, the retransmission timer,
 * late clients, and what probes taught about pacing and patience; see
 * rtx.h.  xfer.c decides what is sent; this file decides when.
 *
 * Pure: the time is an argument.
 */
#include <string.h>

#include "rtx.h"

#define RTX_GBN_MIN_US	100000	/* windowed go-back-N timer floor */
#define RTX_PACE_MIN_US	100	/* first gap between a window's packets */
#define RTX_PACE_MAX_US	2000	/* largest gap */
#define RTX_PACE_CLEAN	16	/* whole windows that halve the gap */
/* cap of the probe floor a slow client teaches: probes stop there anyway */
#define RTX_PATIENCE_MAX_US RTX_GBN_MIN_US
#define RTX_LATE_FAST	1024	/* quick samples in a row halve late_us */
#define RTX_DUP_GAP_US	1000	/* a client's two answers, back to back */

/*
 * RTT-driven timers (issue: loss costs milliseconds): a sender with a
 * nonzero rto_min.  Otherwise the classic RFC 1350 timers: the configured
 * timeout, doubled on each expiry, and a count of retries.
 */
void
rtx_init(struct rtx *r, uint64_t timeout_us, uint64_t timeout_max_us,
    unsigned retries, uint64_t rto_min_us, int sender)
{
	memset(r, 0, sizeof(*r));
	r->timeout_us = timeout_us;
	r->timeout_max_us = timeout_max_us;
	r->retries = retries;
	r->rto_min_us = rto_min_us;
	r->rtt = rto_min_us != 0 && sender;
	r->rto = timeout_us;
}

/* ---- the timer ------------------------------------------------------- */

void
rtx_start(struct rtx *r, uint64_t now)
{
	r->progress_at = now;
}

/*
 * srtt + 4 rttvar, floored at rto_min and capped at the negotiated
 * timeout; the timeout itself until the first sample (so before the
 * client has answered, a request draws one packet per timeout).
 */
uint64_t
rtx_base(const struct rtx *r)
{
	uint64_t t;

	if (!r->rtt || r->srtt == 0)
		return r->timeout_us;
	t = r->srtt + 4 * r->rttvar;
	if (t < r->rto_min_us)
		t = r->rto_min_us;
	if (t < r->late_us)
		t = r->late_us;
	if (t > r->timeout_us)
		t = r->timeout_us;
	return t;
}

void
rtx_progress(struct rtx *r, uint64_t now)
{
	r->tries = 0;
	r->progress_at = now;
	r->rto = rtx_base(r);
}

static uint64_t
backoff_cap(const struct rtx *r)
{
	if (r->timeout_max_us)
		return r->timeout_max_us;
	return 16 * r->timeout_us;
}

/*
 * A timer expiry: double the timeout.  Returns 0 when the caller may
 * retransmit, -1 when the transfer has given up.  RTT timers give up by
 * time without progress (timeout x (retries + 1)), never by a count of
 * short timers, so a fast timer does not make a transfer fragile.  A
 * receiver (no RTT estimate: it answers, it does not time) then re-sends
 * once per timeout, not doubling: before the peer's first answer that is
 * the RFC 1350 request retry, and a server's first packet lost in both
 * directions costs a second, not 1 + 2 + 4 ... (classic timers double).
 */
int
rtx_expire(struct rtx *r, uint64_t now)
{
	if (r->rto_min_us != 0) {
		if (now - r->progress_at >= r->timeout_us * (r->retries + 1))
			return -1;
		r->tries++;
		r->rto *= 2;
		if (r->rto > r->timeout_us)
			r->rto = r->timeout_us;
		return 0;
	}
	if (r->tries >= r->retries)
		return -1;
	r->tries++;
	r->rto *= 2;
	if (r->rto > backoff_cap(r))
		r->rto = backoff_cap(r);
	return 0;
}

/* A window resent at go-back-N is costly: not sooner than 100 ms. */
uint64_t
rtx_gbn(const struct rtx *r, int windowed)
{
	if (r->rtt && windowed && r->rto < RTX_GBN_MIN_US)
		return RTX_GBN_MIN_US;
	return r->rto;
}

/* ---- late clients ---------------------------------------------------- */

/*
 * doc/notes/late-clients.md.  A client that answers late now and then
 * (firmware writing to flash, a busy CPU, an emulator: GRUB under UEFI
 * paused 10-50 ms) is not a lost packet, but it outlasts a timer floored
 * at 10 ms: each pause cost a re-send and a duplicate ACK.  A timer
 * re-send is put to the test the way TCP's Eifel and DSACK detection do
 * (RFC 3522, RFC 3708):
 *  - the ACK covering it came sooner than half the smallest round trip
 *    after it: the client sent that ACK before the copy could reach it;
 *  - or, when that ACK came well over a round trip (and over 1 ms) after
 *    the re-send, the same ACK came again within 1 ms of it: the client
 *    had both copies and answered them one after the other, so the first
 *    was not lost.  An ACK sooner after the re-send may answer the
 *    re-send itself (a copy of it proves nothing then: a network that
 *    duplicates packets makes the same pair), and a copy that comes
 *    later is the client's own re-send timer after an ACK was lost.
 * Either way the client was late by the time from the block's first
 * send to that ACK, and late_us keeps the timer at twice that (at most
 * half the negotiated timeout): at most a re-send per pause longer than
 * any before.  A lateness of a quarter of the timeout or more is not
 * counted: it looks the same as the client's own timer answering after
 * our re-sends and its ACKs were lost.  A re-send that proves needed (its
 * answer came within a round trip or 1 ms) halves the floor at once, so
 * under real loss the fast timer is back after a few losses (a floor kept
 * through 30 % loss made a 64 KiB get take 30-60 s); RTX_LATE_FAST quick
 * samples in a row halve it too.
 */

static void
late_decay(struct rtx *r, uint64_t t)
{
	if (r->late_us == 0)
		return;
	if (4 * t >= r->late_us) {
		r->late_fast = 0;
		return;
	}
	if (++r->late_fast < RTX_LATE_FAST)
		return;
	r->late_fast = 0;
	r->late_us /= 2;
	if (r->late_us < r->rto_min_us)
		r->late_us = 0;
}

void
rtx_sent(struct rtx *r, uint64_t seq, uint64_t first, uint64_t now)
{
	if (!r->rtt)
		return;
	if (r->state != RTX_SENT) {
		r->state = RTX_SENT;
		r->seq = seq;
		r->first = first;
	}
	r->sent_at = now;
}

/*
 * The re-send was needless: the client answered the first copy at ack_at.
 * Returns 1 when that counts (the floor and the timer are set again).
 */
static int
rtx_spurious(struct rtx *r, uint64_t ack_at)
{
	uint64_t late = 2 * (ack_at - r->first);

	r->state = 0;
	/*
	 * An answer a quarter of the timeout late is as likely the
	 * client's own re-send timer after a lost ACK: no pause we can
	 * wait out cheaply (at 30 % loss a floor raised by one stalled a
	 * 64 KiB get past 90 s).
	 */
	if (4 * (ack_at - r->first) >= r->timeout_us)
		return 0;
	if (late > r->timeout_us / 2)
		late = r->timeout_us / 2;
	if (late > r->late_us)
		r->late_us = late;
	r->late_fast = 0;
	r->rto = rtx_base(r);
	return 1;
}

int
rtx_acked(struct rtx *r, uint64_t seq, uint64_t now)
{
	if (r->state != RTX_SENT || seq < r->seq) {
		r->state = 0;
		return 0;
	}
	if (r->rtt_min && now - r->sent_at < r->rtt_min / 2)
		return rtx_spurious(r, now);
	if (now - r->sent_at <= 2 * r->srtt ||
	    now - r->sent_at <= RTX_DUP_GAP_US) {
		/*
		 * It answers the re-send: the block (or its ACK) was lost,
		 * so this client's losses are real, and what a pause taught
		 * counts for less.  At 30 % loss a floor kept for a pause
		 * made every loss cost it: a 64 KiB get took 30-60 s.
		 */
		r->state = 0;
		r->late_us /= 2;
		if (r->late_us < r->rto_min_us)
			r->late_us = 0;
		return 0;
	}
	r->state = RTX_ACKED;
	r->seq = seq;
	r->ack_at = now;
	return 0;
}

int
rtx_dup_ack(struct rtx *r, uint64_t now)
{
	if (r->state != RTX_ACKED || now - r->ack_at > RTX_DUP_GAP_US)
		return 0;
	return rtx_spurious(r, r->ack_at);
}

/* ---- the estimate ---------------------------------------------------- */

/*
 * RFC 6298 smoothing.  The caller takes samples only from a block (or the
 * OACK or request) sent once and acknowledged (Karn's rule).
 */
void
rtx_sample(struct rtx *r, uint64_t sent, uint64_t now)
{
	uint64_t t = now - sent, d;

	if (t == 0)
		t = 1;
	/*
	 * No estimate yet, so the timer in force is the whole timeout, as
	 * is the peer's re-ACK timer: an answer near it is likely the
	 * peer's timer re-sending an ACK whose first copy was lost, not a
	 * round trip.  Seeding with it left the timer at a second for the
	 * whole transfer (measured at 30 % loss); wait for a clear sample.
	 */
	if (r->srtt == 0 && 2 * t >= r->rto)
		return;
	if (r->rtt_min == 0 || t < r->rtt_min)
		r->rtt_min = t;
	late_decay(r, t);
	if (r->srtt == 0) {
		r->srtt = t;
		r->rttvar = t / 2;
		return;
	}
	d = t > r->srtt ? t - r->srtt : r->srtt - t;
	r->rttvar = (3 * r->rttvar + d) / 4;
	r->srtt = (7 * r->srtt + t) / 8;
}

/* ---- probes and pacing ----------------------------------------------- */

/*
 * The pair probe comes first at max(rto_min, 2 srtt + 4 rttvar): a client
 * whose NIC dropped the window's tail (U-Boot's e1000 keeps one receive
 * descriptor) sees nothing out of order and would wait its own 5 s
 * timeout; see doc/notes/uboot-e1000.md.
 */
int
rtx_probe_ivl(const struct rtx *r, uint64_t *ivl)
{
	uint64_t t;

	if (r->rto_min_us == 0 || r->srtt == 0)
		return 0;
	t = 2 * r->srtt + 4 * r->rttvar;
	/*
	 * A client known to lose tails (paced) is probed sooner: its next
	 * loss is likely, and a slow client is never paced.
	 */
	if (t < r->rto_min_us)
		t = r->pace_us ? r->rto_min_us / 4 : r->rto_min_us;
	/* a client that answered whole windows after a probe */
	if (t < r->patience_us)
		t = r->patience_us;
	*ivl = t;
	return 1;
}

/* Probes are worth their timer again. */
void
rtx_probe_needed(struct rtx *r)
{
	r->patience_us = 0;
}

/*
 * A probed window had arrived whole, its ACK came wait after its last
 * block left: a slow client.  Wait longer than that before the next
 * probe (up to the go-back-N timer, where probes stop anyway); ACKs that
 * come without a probe shrink it again (rtx_unprobed), a needed probe
 * clears it.
 */
void
rtx_probe_needless(struct rtx *r, uint64_t wait)
{
	wait += wait / 2;
	if (wait > RTX_PATIENCE_MAX_US)
		wait = RTX_PATIENCE_MAX_US;
	if (wait > r->patience_us)
		r->patience_us = wait;
}

/* The client answered without a probe: less patience. */
void
rtx_unprobed(struct rtx *r)
{
	r->patience_us -= r->patience_us / 8;
}

/*
 * Pacing, for clients whose NIC drops the tail of a burst (U-Boot's
 * e1000 takes one or two packets of a back-to-back window;
 * doc/notes/uboot-e1000.md): each window whose tail a probe had to
 * recover doubles a gap between the window's packets (from
 * RTX_PACE_MIN_US up to RTX_PACE_MAX_US); RTX_PACE_CLEAN windows in a row
 * that arrive whole halve it, down to none.  A client that keeps up never
 * sees a probe, so it is never paced.
 */
uint64_t
rtx_pace_lost(struct rtx *r)
{
	r->pace_clean = 0;
	if (r->pace_us == 0)
		r->pace_us = RTX_PACE_MIN_US;
	else if ((r->pace_us *= 2) > RTX_PACE_MAX_US)
		r->pace_us = RTX_PACE_MAX_US;
	return r->pace_us;
}

void
rtx_pace_whole(struct rtx *r)
{
	if (r->pace_us == 0 || ++r->pace_clean < RTX_PACE_CLEAN)
		return;
	r->pace_clean = 0;
	r->pace_us /= 2;
	if (r->pace_us < RTX_PACE_MIN_US)
		r->pace_us = 0;
}
