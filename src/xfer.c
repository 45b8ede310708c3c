/*
 * xfer.c - the TFTP transfer state machines (RFC 1350, 2347, 7440).
 *
 * Lock-step (windowsize 1), server sending an RRQ with options:
 *
 *	client			server
 *	RRQ file octet blksize 1468 ->
 *			<- OACK blksize 1468	(nothing else until ACK 0)
 *	ACK 0		->
 *			<- DATA 1 (1468 bytes)
 *	ACK 1		->
 *			<- DATA 2 (< 1468 bytes: the last one)
 *	ACK 2		->	done
 *
 * Windowed (RFC 7440, windowsize W): the sender sends blocks acked+1 ..
 * acked+W back to back; the receiver ACKs the window's last block, or at
 * once the last in-order block when one is missing.  An ACK above the
 * highest acknowledged block means "go on from the block after it" and is
 * acted on at once; an ACK at or below it is old and ignored (RFC 1123
 * 4.2.3.1: answering duplicate ACKs is the Sorcerer's Apprentice bug).
 * Packets are re-sent only when the timer expires, with backoff.
 *
 * Pure: bytes come and go through struct xfer_io; time is an argument.
 * When to send again (the timer, the RTT estimate, late clients, pacing
 * and probe patience) is rtx.c's; this file decides what is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xfer.h"

#define ROLL_CYCLE(r)	((r) ? 65535u : 65536u)
#define XFER_NIC_KEEP	2	/* blocks of a burst a one-descriptor NIC takes */
#define XFER_BURST_WAIT_MIN_US 2000 /* after an OACK burst's first answer */

uint16_t
xfer_wire_block(uint64_t seq, unsigned rollover)
{
	if (seq == 0)
		return 0;
	if (rollover)
		return (uint16_t)((seq - 1) % 65535u + 1);
	return (uint16_t)seq;
}

/*
 * The sequence number in [lo, hi] whose wire block is blk, or 0 when none
 * (hi - lo < cycle, so there is at most one).  lo may be 0 only for ACK 0.
 */
static uint64_t
seq_of_block(uint64_t lo, uint64_t hi, uint16_t blk, unsigned rollover)
{
	uint64_t cycle = ROLL_CYCLE(rollover);
	uint64_t back, s;

	if (hi < lo)
		return 0;
	back = ((uint64_t)xfer_wire_block(hi, rollover) + cycle - blk) % cycle;
	if (back > hi - lo)
		return 0;
	s = hi - back;
	if (xfer_wire_block(s, rollover) != blk)
		return 0;
	return s;
}

static void
emit(struct xfer *x, const uint8_t *pkt, size_t len)
{
	x->st.pkts_sent++;
	x->io.send(x->io.ctx, pkt, len);
}

static void
set_error(struct xfer *x, int code, int why, const char *msg)
{
	x->err_code = code;
	x->err_peer = why == XW_PEER;
	x->why = why;
	snprintf(x->err_msg, sizeof(x->err_msg), "%s", msg);
}

/*
 * Tell the peer and end.  The ERROR is sent once, never re-sent; a
 * negative code ends quietly (logged as code 0).
 */
static int
fail(struct xfer *x, int code, int why, const char *msg)
{
	size_t n;

	set_error(x, code < 0 ? TFTP_EUNDEF : code, why, msg);
	if (code >= 0) {
		n = packet_encode_error(x->io.scratch, PKT_MAX, (uint16_t)code,
		    msg);
		if (n)
			emit(x, x->io.scratch, n);
	}
	x->phase = XP_END;
	x->status = XFER_FAILED;
	x->deadline = 0;
	return x->status;
}

/* End without a word to the peer (it sent ERROR, or it vanished). */
static int
fail_quiet(struct xfer *x, int code, int why, const char *msg)
{
	set_error(x, code, why, msg);
	x->phase = XP_END;
	x->status = XFER_FAILED;
	x->deadline = 0;
	return x->status;
}

static int
finish_ok(struct xfer *x)
{
	x->phase = XP_END;
	x->status = XFER_DONE;
	x->deadline = 0;
	return x->status;
}

static void
arm(struct xfer *x, uint64_t now)
{
	x->deadline = now + x->rtx.rto;
}

/* Progress was made: the timer and the retry count start over. */
static void
progress(struct xfer *x, uint64_t now)
{
	rtx_progress(&x->rtx, now);
}

/*
 * A timer expiry: count it and back off (rtx_expire).  Returns 0 when the
 * caller may retransmit, -1 when the transfer has given up.
 */
static int
expire(struct xfer *x, uint64_t now)
{
	x->st.timeouts++;
	if (rtx_expire(&x->rtx, now) < 0) {
		fail_quiet(x, TFTP_EUNDEF, XW_TIMEOUT, "timeout");
		return -1;
	}
	return 0;
}

static void
send_ack(struct xfer *x, uint64_t seq)
{
	uint8_t pkt[PKT_HDR];

	/* remember where a sender that lost this ACK will restart */
	if (x->ackpt[x->nackpt % XFER_ACKPTS] != seq) {
		x->nackpt++;
		x->ackpt[x->nackpt % XFER_ACKPTS] = seq;
	}

	packet_encode_ack(pkt, sizeof(pkt),
	    xfer_wire_block(seq, x->opts.rollover));
	emit(x, pkt, sizeof(pkt));
}

static void
send_request(struct xfer *x)
{
	struct opt_text t;
	struct pkt_opt list[8];
	size_t n, len;

	n = options_to_list(&x->cfg.opts, &t, list);
	len = packet_encode_request(x->io.scratch, PKT_MAX,
	    x->cfg.role == XFER_SEND ? TFTP_WRQ : TFTP_RRQ,
	    x->cfg.filename, x->cfg.mode, list, n);
	if (len)
		emit(x, x->io.scratch, len);
}

static void
send_oack(struct xfer *x)
{
	struct opt_text t;
	struct pkt_opt list[8];
	size_t n, len;

	n = options_to_list(&x->opts, &t, list);
	len = packet_encode_oack(x->io.scratch, PKT_MAX, list, n);
	if (len)
		emit(x, x->io.scratch, len);
}

/* ---- sender ---------------------------------------------------------- */

/*
 * A window's blocks read with one io.read (octet, unpaced) and built
 * from there (build_block), not one read a block: at 1468 x 16 one read
 * a window instead of 16.  It lives in the second half of the scratch,
 * so it serves only the send_window call that read it.
 */
struct ahead {
	const uint8_t	*buf;
	uint64_t	 off;		/* source offset of buf[0] */
	size_t		 len;		/* bytes read; 0 = none */
	int		 eof;		/* short read: the source ends there */
};

#define XFER_AHEAD_MAX	(XFER_SCRATCH - PKT_MAX - 4)

/*
 * Build block seq into pkt, starting at source offset *off with netascii
 * byte *pend owed; both are advanced to the start of the next block.
 * Returns the payload length (< blksize: the last block) or -errno.
 */
static long
build_block(struct xfer *x, uint64_t seq, uint64_t *off, int *pend,
    uint8_t *pkt, const struct ahead *a)
{
	uint8_t *dst = pkt + PKT_HDR;
	uint8_t *src = x->io.scratch + PKT_MAX + 4;
	size_t bs = x->opts.blksize, n = 0, used;
	uint64_t off0;
	struct netascii_enc enc;
	long r;

	packet_encode_data_hdr(pkt, PKT_HDR,
	    xfer_wire_block(seq, x->opts.rollover));
	if (a && a->len && *off >= a->off && *off <= a->off + a->len &&
	    (*off + bs <= a->off + a->len || a->eof)) {
		/* from the window read ahead (short only at the end) */
		n = a->off + a->len - *off;
		if (n > bs)
			n = bs;
		memcpy(dst, a->buf + (*off - a->off), n);
		*off += n;
		return (long)n;
	}
	if (!x->cfg.netascii) {
		r = x->io.read(x->io.ctx, *off, dst, bs);
		if (r < 0)
			return r;
		*off += (uint64_t)r;
		return r;
	}
	enc.pending = *pend;
	off0 = *off;
	while (n < bs) {
		/* each source byte makes at most two: read no more than fits */
		r = x->io.read(x->io.ctx, *off, src, bs - n);
		if (r < 0) {
			*off = off0;	/* "not yet" builds it again later */
			return r;
		}
		n += netascii_encode(&enc, src, (size_t)r, &used, dst + n,
		    bs - n);
		*off += used;
		/* end of source: the call above wrote any owed byte */
		if (r == 0)
			break;
	}
	*pend = enc.pending;
	return (long)n;
}

/* ---- round-trip time and tail probes --------------------------------- */

/*
 * The block or request being timed (rtt_on) was answered at now.  Samples
 * come only from a block (or the OACK or request) sent once and
 * acknowledged (Karn's rule); a window's sample runs from its first
 * block's send to the ACK covering it.  The arithmetic is rtx.c's.
 */
static void
rtt_sample(struct xfer *x, uint64_t now)
{
	x->rtt_on = 0;
	rtx_sample(&x->rtx, x->rtt_sent, now);
}

/*
 * A timer re-send proved needless (rtx_acked, rtx_dup_ack): the client
 * was late, not lost (doc/notes/late-clients.md), and the timer floor
 * may have risen.
 */
static void
resend_needless(struct xfer *x)
{
	x->st.spurious++;
	/* the block in flight was timed with the old floor */
	if (x->phase == XP_DATA &&
	    x->to_deadline < x->window_at + x->rtx.rto) {
		x->to_deadline = x->window_at + x->rtx.rto;
		if (!x->probe_at && !x->pace_at)
			x->deadline = x->to_deadline;
	}
}

/*
 * Arm the sender's timers after a send: the go-back-N timeout (rtx_gbn)
 * and, with a window and an RTT estimate, a pair probe before it
 * (rtx_probe_ivl): a client whose NIC dropped the window's tail (U-Boot's
 * e1000 keeps one receive descriptor) sees nothing out of order and would
 * wait its own 5 s timeout; see doc/notes/uboot-e1000.md.
 */
static void
sender_arm(struct xfer *x, uint64_t now)
{
	uint64_t ivl;

	x->to_deadline = now + rtx_gbn(&x->rtx, x->opts.windowsize > 1);
	x->probe_at = 0;
	x->probes = 0;
	if (x->phase == XP_DATA && x->opts.windowsize > 1 &&
	    rtx_probe_ivl(&x->rtx, &ivl)) {
		x->probe_ivl = ivl;
		if (now + ivl < x->to_deadline)
			x->probe_at = now + ivl;
	}
	x->deadline = x->probe_at ? x->probe_at : x->to_deadline;
}

/*
 * Build block seq (acked < seq < next) into pkt without moving the
 * sending position.  netascii walks from the window base.
 */
static long
build_at(struct xfer *x, uint64_t seq, uint8_t *pkt)
{
	uint64_t off = x->base_off, s;
	int pend = x->base_pend;
	long r = 0;

	if (!x->cfg.netascii) {
		off = (seq - 1) * x->opts.blksize;
		return build_block(x, seq, &off, &pend, pkt, NULL);
	}
	for (s = x->acked + 1; s <= seq; s++)
		if ((r = build_block(x, s, &off, &pend, pkt, NULL)) < 0)
			return r;
	return r;
}

/*
 * The pair probe: block acked+1 and the last block sent, back to back.
 * For a client stuck after a lost tail the first is a duplicate or in
 * order and the second out of order: either draws an immediate ACK.
 */
static int
send_probe(struct xfer *x, uint64_t now)
{
	uint64_t seq[2] = { x->acked + 1, x->next - 1 };
	uint8_t *pkt = x->io.scratch;
	int i, n = seq[1] > seq[0] ? 2 : 1;
	long r;

	x->rtt_on = 0;
	for (i = 0; i < n; i++) {
		if ((r = build_at(x, seq[i], pkt)) < 0)
			return fail(x, TFTP_EUNDEF, XW_SOURCE, "read error");
		x->st.retransmits++;
		x->st.probes++;
		emit(x, pkt, PKT_HDR + (size_t)r);
	}
	x->probes++;
	x->probe_ivl *= 2;
	x->probe_at = 0;
	/* two pairs per window at most, then the go-back-N timeout */
	if (x->probes < 2 && now + x->probe_ivl < x->to_deadline)
		x->probe_at = now + x->probe_ivl;
	x->deadline = x->probe_at ? x->probe_at : x->to_deadline;
	return x->status;
}

/*
 * A probe recovered a window whose tail was missing: the client had
 * blocks up to seq only.  Probes are worth their timer again.  Only a
 * tail lost right after the first XFER_NIC_KEEP blocks is the mark of a
 * NIC that drops bursts (doc/notes/uboot-e1000.md) and turns pacing on;
 * random loss (a lost gap ACK, a lost last block) is not, and pacing
 * every window for it cost 2 ms a block at 30 % loss.
 */
static void
probe_needed(struct xfer *x, uint64_t seq)
{
	uint64_t pace;

	rtx_probe_needed(&x->rtx);
	if (seq > x->acked + XFER_NIC_KEEP)
		return;
	x->st.tails++;
	/*
	 * Random loss also loses early blocks with their gap ACK; it shows
	 * itself by the gap ACKs that do arrive.  A burst-dropping NIC
	 * makes few: its client sees a prefix, nothing out of order.
	 */
	if (x->st.tails <= x->st.gaps)
		return;
	pace = rtx_pace_lost(&x->rtx);
	if (pace > x->st.pace_max_us)
		x->st.pace_max_us = pace;
}

/* Read the blocks from x->next to end at once, when that is worth it. */
static int
read_ahead(struct xfer *x, uint64_t end, struct ahead *a)
{
	uint8_t *buf = x->io.scratch + PKT_MAX + 4;
	size_t bs = x->opts.blksize, want;
	long r;

	a->len = 0;
	if (x->cfg.netascii || x->rtx.pace_us || end <= x->next)
		return 0;
	want = (size_t)(end - x->next + 1) * bs;
	if (want > XFER_AHEAD_MAX)
		want = XFER_AHEAD_MAX / bs * bs;
	if (want < 2 * bs)
		return 0;
	if ((r = x->io.read(x->io.ctx, x->next_off, buf, want)) < 0)
		return r == -EAGAIN ? 0 : -1;	/* not all yet: a block at a time */
	a->buf = buf;
	a->off = x->next_off;
	a->len = (size_t)r;
	a->eof = (size_t)r < want;
	return 0;
}

/*
 * Send blocks from x->next up to acked + windowsize (and not past the
 * last block); when paced, one block now and the next at pace_at.
 * Blocks at or below the highest ever sent count as retransmits.
 */
static int
send_window(struct xfer *x, uint64_t now)
{
	uint8_t *pkt = x->io.scratch;
	uint64_t end = x->acked + x->opts.windowsize;
	struct ahead a;
	int sent = 0;
	long r;

	if (x->last && end > x->last)
		end = x->last;
	if (x->rtx.pace_us && x->pace_at == 0 && x->next <= end) {
		/* a paced burst begins: its timeout runs from now */
		sender_arm(x, now);
	}
	if (read_ahead(x, end, &a) < 0)
		return fail(x, TFTP_EUNDEF, XW_SOURCE, "read error");
	x->starved = 0;
	while (x->next <= end) {
		if (sent && x->rtx.pace_us) {
			/* no probe until the window's last block has left */
			x->pace_at = now + x->rtx.pace_us;
			x->probe_at = 0;
			x->deadline = x->pace_at < x->to_deadline ?
			    x->pace_at : x->to_deadline;
			return x->status;
		}
		r = build_block(x, x->next, &x->next_off, &x->next_pend, pkt,
		    &a);
		if (r == -EAGAIN) {
			/* not there yet: a block not sent is not a lost one */
			x->starved = 1;
			break;
		}
		if (r < 0)
			return fail(x, TFTP_EUNDEF, XW_SOURCE, "read error");
		if ((size_t)r < x->opts.blksize) {
			x->last = x->next;
			x->last_end = x->next_off;
			end = x->last;
		}
		if (x->next <= x->hi) {
			x->st.retransmits++;
			x->rtt_on = 0;		/* Karn: ambiguous from here */
		} else {
			x->hi = x->next;
			x->st.data_sent++;
			x->st.wire_bytes += (uint64_t)r;
			/*
			 * Time the first block sent once since the last
			 * retransmit: any ACK at or past it answers this
			 * burst, a gap ACK too, and all of an unpaced burst
			 * leaves at once.  At 30 % loss an ACK covering the
			 * newest block almost never came, so no estimate ever
			 * formed and every loss cost the 1 s timeout.  A
			 * paced window times its newest block: the ACK that
			 * covers it follows it at once, not the pacing.
			 */
			if (!x->rtt_on || x->rtx.pace_us) {
				x->rtt_on = 1;
				x->rtt_seq = x->next;
				x->rtt_sent = now;
			}
		}
		emit(x, pkt, PKT_HDR + (size_t)r);
		x->next++;
		x->window_at = now;
		sent = 1;
	}
	x->pace_at = 0;
	if (x->starved && x->next == x->acked + 1) {
		/* nothing in flight: no timer until xfer_wake() */
		x->probe_at = 0;
		x->deadline = 0;
		return x->status;
	}
	sender_arm(x, now);
	return x->status;
}

/* Move the window base to just after seq (seq > acked). */
static int
advance_base(struct xfer *x, uint64_t seq)
{
	uint8_t *pkt = x->io.scratch;
	long r;

	if (seq + 1 == x->next) {
		x->base_off = x->next_off;
		x->base_pend = x->next_pend;
	} else if (!x->cfg.netascii) {
		/* only the last block may be short */
		x->base_off = x->last && seq == x->last ? x->last_end :
		    seq * x->opts.blksize;
	} else {
		/* netascii has no arithmetic offsets: walk the blocks again */
		while (x->acked < seq) {
			r = build_block(x, x->acked + 1, &x->base_off,
			    &x->base_pend, pkt, NULL);
			if (r < 0)
				return -1;
			x->acked++;
		}
	}
	x->acked = seq;
	if (x->io.release)
		x->io.release(x->io.ctx, x->base_off);
	return 0;
}

/* Rewind sending to the block after the base. */
static void
rewind_to_base(struct xfer *x)
{
	x->next = x->acked + 1;
	x->next_off = x->base_off;
	x->next_pend = x->base_pend;
}

static int
sender_start_data(struct xfer *x, uint64_t now)
{
	/* the OACK or request went once: its answer seeds the estimate */
	if (x->rtt_on && x->rtt_seq == 0)
		rtt_sample(x, now);
	x->rtt_on = 0;
	x->phase = XP_DATA;
	x->acked = 0;
	x->next = 1;
	x->base_off = x->next_off = 0;
	x->base_pend = x->next_pend = -1;
	progress(x, now);
	return send_window(x, now);
}

/*
 * The OACK burst (cfg.oack_burst): the OACK went K times back to back, and
 * a client answers each copy that reaches it with ACK 0, as it would a
 * retransmitted OACK.  A NIC with room for one waiting packet lets two of
 * three through: U-Boot's e1000 under QEMU answered 2 of 3 and virtio-net
 * 3 of 3 (x86_64 and arm64).  Windows cost such a NIC its tails (2.4x
 * slower than lock-step there), so it gets one more OACK, windowsize 1,
 * before any DATA.  The copies are 4 small packets once per transfer.
 */
static int
burst_wanted(const struct xfer *x)
{
	return x->cfg.oack_burst > 1 && x->cfg.role == XFER_SEND &&
	    !x->cfg.client && x->cfg.rto_min_us != 0 &&
	    x->opts.windowsize > XFER_NIC_KEEP;
}

/* An ACK 0 while the burst's answers are counted. */
static int
burst_ack(struct xfer *x, uint64_t now)
{
	uint64_t wait;

	if (++x->st.burst_acks == 1) {
		/* the first copy's answer: a round trip, and the wait */
		wait = 2 * (now - x->rtt_sent);
		if (x->rtt_on)
			rtt_sample(x, now);
		if (wait < XFER_BURST_WAIT_MIN_US)
			wait = XFER_BURST_WAIT_MIN_US;
		if (wait > x->cfg.timeout_us)
			wait = x->cfg.timeout_us;
		x->deadline = now + wait;
	}
	if (x->st.burst_acks < x->st.burst)
		return x->status;
	/* every copy answered: the client takes bursts */
	x->burst_on = 0;
	return sender_start_data(x, now);
}

/* The wait after the first answer is over: windows, or windowsize 1. */
static int
burst_decide(struct xfer *x, uint64_t now)
{
	x->burst_on = 0;
	/* one answer: the client ignores copies, so nothing is known */
	if (x->st.burst_acks < 2)
		return sender_start_data(x, now);
	x->opts.windowsize = 1;
	x->st.burst_narrowed = 1;
	send_oack(x);
	/*
	 * Its ACK 0 starts DATA 1.  A late answer to the burst may do that
	 * first; the client still reads this OACK before DATA 1.
	 */
	progress(x, now);
	arm(x, now);
	return x->status;
}

static int
sender_ack(struct xfer *x, uint16_t blk, uint64_t now)
{
	uint64_t seq, sent_max = x->hi;

	seq = seq_of_block(x->acked + 1, sent_max, blk, x->opts.rollover);
	if (seq == 0) {
		/* old, duplicate, or never sent: never answer it */
		x->st.dup_acks++;
		/* the ACK a timer re-send drew, again: the late-client test */
		if (blk == xfer_wire_block(x->rtx.seq, x->opts.rollover) &&
		    rtx_dup_ack(&x->rtx, now))
			resend_needless(x);
		if (x->spur_on && blk == xfer_wire_block(x->spur_seq,
		    x->opts.rollover)) {
			x->spur_on = 0;
			x->st.probes_answered--;
			x->st.probes_spurious++;
			rtx_probe_needless(&x->rtx, x->spur_wait);
		}
		return x->status;
	}
	if (rtx_acked(&x->rtx, seq, now))
		resend_needless(x);
	if (x->rtt_on && seq >= x->rtt_seq) {
		rtt_sample(x, now);
	} else if (x->rtx.srtt == 0 && x->rtx.rtt) {
		/*
		 * No estimate yet, and Karn's rule found no clean sample: at
		 * 30 % loss a windowed transfer went on for 40 s without one,
		 * every loss costing the 1 s first timeout.  Take the time
		 * since the last window left (no probe went out: probes need
		 * an estimate): a receiver answers an arrival at once, and
		 * an answer from its own timer is most likely near the
		 * timeout, which rtt_sample refuses for a first sample.
		 * A short guess is floored at rto_min, and later samples
		 * correct it.
		 */
		x->rtt_sent = x->window_at;
		rtt_sample(x, now);
	} else if (x->probes) {
		/*
		 * Probes went out for this window, so Karn forbids a sample.
		 * If this ACK covers the whole window, either the client had
		 * it and was slow (the probe was needless: it answers the
		 * probe's old blocks with duplicates of this ACK), or its
		 * window ACK was lost and this answers the probe.  A
		 * duplicate tells the first apart only roughly, so it does
		 * not feed the estimate (that pushed srtt to 150 ms at 30 %
		 * loss); it only lengthens the probe timer
		 * (rtx_probe_needless).
		 */
		x->st.probes_answered++;
		x->spur_on = seq == sent_max && seq >= x->rtt_seq;
		x->spur_seq = seq;
		x->spur_wait = now - x->window_at;
		if (seq < sent_max)
			probe_needed(x, seq);
	} else {
		x->spur_on = 0;
	}
	if (!x->probes) {
		/* the client answered without a probe: less patience */
		rtx_unprobed(&x->rtx);
		if (seq < sent_max)
			x->st.gaps++;
	}
	if (!x->probes && seq == sent_max && x->opts.windowsize > 1)
		rtx_pace_whole(&x->rtx);
	if (advance_base(x, seq) < 0)
		return fail(x, TFTP_EUNDEF, XW_SOURCE, "read error");
	x->st.bytes = x->base_off;
	progress(x, now);
	if (x->last && seq == x->last)
		return finish_ok(x);
	/* inside the window: the peer missed seq + 1; go on from there */
	rewind_to_base(x);
	x->pace_at = 0;
	return send_window(x, now);
}

static int
sender_input(struct xfer *x, const struct packet *p, uint64_t now)
{
	struct tftp_opts acc;

	switch (x->phase) {
	case XP_REQUEST:
		if (p->op == TFTP_OACK) {
			if (options_check_oack(&x->cfg.opts, p->opts, p->nopts,
			    &acc) < 0)
				return fail(x, TFTP_EOPTNEG, XW_OPTIONS,
				    "unacceptable option in OACK");
			x->opts = acc;
			return sender_start_data(x, now);
		}
		if (p->op == TFTP_ACK && p->block == 0) {
			/* the server ignored our options: RFC 1350 defaults */
			options_init(&x->opts);
			return sender_start_data(x, now);
		}
		break;
	case XP_OACK:
		if (p->op == TFTP_ACK && p->block == 0 && x->burst_on)
			return burst_ack(x, now);
		if (p->op == TFTP_ACK && p->block == 0)
			return sender_start_data(x, now);
		if (p->op == TFTP_ACK) {
			x->st.dup_acks++;
			return x->status;
		}
		break;
	case XP_DATA:
		if (p->op == TFTP_ACK)
			return sender_ack(x, p->block, now);
		break;
	}
	if (p->op == TFTP_DATA || p->op == TFTP_RRQ || p->op == TFTP_WRQ)
		return fail(x, TFTP_EBADOP, XW_PROTOCOL, "unexpected packet");
	x->st.ignored++;
	return x->status;
}

static int
sender_tick(struct xfer *x, uint64_t now)
{
	if (x->pace_at && now >= x->pace_at && now < x->to_deadline) {
		x->pace_at = 0;
		x->deadline = x->to_deadline;
		return send_window(x, now);
	}
	if (x->probe_at && now >= x->probe_at && now < x->to_deadline)
		return send_probe(x, now);
	if (x->burst_on && x->st.burst_acks)
		return burst_decide(x, now);
	/* no answer to the burst: an ordinary lost OACK from here */
	x->burst_on = 0;
	x->rtt_on = 0;
	if (expire(x, now) < 0)
		return x->status;
	switch (x->phase) {
	case XP_REQUEST:
		send_request(x);
		x->st.retransmits++;
		break;
	case XP_OACK:
		send_oack(x);
		x->st.retransmits++;
		break;
	case XP_DATA:
		rtx_sent(&x->rtx, x->next - 1, x->window_at, now);
		rewind_to_base(x);
		x->pace_at = 0;
		return send_window(x, now);
	}
	arm(x, now);
	return x->status;
}

/* ---- receiver -------------------------------------------------------- */

static int
write_err(struct xfer *x, int err)
{
	if (err == -ENOSPC || err == -EDQUOT)
		return fail(x, TFTP_ENOSPACE, XW_SINK, "disk full");
	if (err == -EFBIG)
		return fail(x, TFTP_ENOSPACE, XW_SINK, "file too large");
	if (err == -EBADMSG)
		return fail(x, TFTP_EUNDEF, XW_SINK,
		    "upload size differs from the announced tsize");
	return fail(x, TFTP_EUNDEF, XW_SINK, "write error");
}

/*
 * Should a block other than the expected one draw an ACK of the last
 * in-order block?
 *  - lock-step: always; an old block means our ACK was lost and the
 *    sender timed out, and each copy costs it one timeout.
 *  - windowed, a block ahead (a gap, RFC 7440): yes, once per burst.
 *  - windowed, an old block: only while we wait (nothing came since our
 *    last ACK) and when it is the first block after one of our recent
 *    ACKs: that is where a sender restarts (timeout, probe) when our ACK
 *    was lost, once per restart.  A copy the network duplicated is any
 *    block at any time; ACKing it mid-window would look like a gap to the
 *    sender, which would re-send the rest of its window, whose copies
 *    would draw ACKs again, to the end of the transfer.
 */
static int
want_reack(const struct xfer *x, uint16_t blk)
{
	uint64_t cycle = ROLL_CYCLE(x->opts.rollover);
	uint16_t want = xfer_wire_block(x->received + 1, x->opts.rollover);
	uint64_t ahead = ((uint64_t)blk + cycle - want) % cycle;
	unsigned i;

	if (x->opts.windowsize == 1)
		return 1;
	if (ahead < x->opts.windowsize)
		return !x->reacked;
	if (x->ackpt[x->nackpt % XFER_ACKPTS] != x->received)
		return 0;
	for (i = 0; i < XFER_ACKPTS; i++)
		if (xfer_wire_block(x->ackpt[i] + 1, x->opts.rollover) == blk)
			return 1;
	return 0;
}

/* All data is in and durable: the final ACK, then linger. */
static int
final_ack(struct xfer *x, uint64_t now)
{
	send_ack(x, x->received);
	if (x->cfg.client || x->cfg.dally_us == 0)
		return finish_ok(x);
	/* linger: our final ACK may be lost, the sender will ask again */
	x->phase = XP_DALLY;
	x->status = XFER_DONE;
	x->deadline = now + x->cfg.dally_us;
	return x->status;
}

static int
receiver_data(struct xfer *x, const struct packet *p, uint64_t now)
{
	uint8_t *out = x->io.scratch + PKT_MAX + 4;
	uint64_t expect = x->received + 1;
	size_t n;
	int err;

	if (xfer_wire_block(expect, x->opts.rollover) != p->block) {
		x->st.dup_data++;
		if (x->phase == XP_DATA && want_reack(x, p->block)) {
			/* tell the sender where we are: it goes on from there */
			send_ack(x, x->received);
			x->unacked = 0;
			x->reacked = 1;
		}
		return x->status;
	}
	if (p->data_len > x->opts.blksize) {
		x->st.ignored++;
		return x->status;
	}
	if (x->cfg.netascii) {
		n = netascii_decode(&x->dec, p->data, p->data_len, out);
		if (p->data_len < x->opts.blksize)
			n += netascii_decode_finish(&x->dec, out + n);
		err = n ? x->io.write(x->io.ctx, out, n) : 0;
	} else {
		n = p->data_len;
		err = n ? x->io.write(x->io.ctx, p->data, n) : 0;
	}
	if (err < 0)
		return write_err(x, err);
	x->received = expect;
	x->st.bytes += n;
	x->st.wire_bytes += p->data_len;
	x->reacked = 0;
	x->phase = XP_DATA;
	progress(x, now);
	if (p->data_len < x->opts.blksize) {
		err = x->io.finish ? x->io.finish(x->io.ctx) : 0;
		if (err == -EINPROGRESS) {
			/* no ACK until the owner's xfer_finished() */
			x->phase = XP_FINISH;
			x->deadline = 0;
			return x->status;
		}
		if (err < 0)
			return write_err(x, err);
		return final_ack(x, now);
	}
	if (++x->unacked >= x->opts.windowsize) {
		send_ack(x, x->received);
		x->unacked = 0;
	}
	arm(x, now);
	return x->status;
}

static int
receiver_input(struct xfer *x, const struct packet *p, uint64_t now)
{
	struct tftp_opts acc;

	if (x->phase == XP_DALLY) {
		if (p->op == TFTP_DATA && p->block ==
		    xfer_wire_block(x->received, x->opts.rollover)) {
			/*
			 * The sender is still asking: it has not heard our
			 * final ACK.  Answer, and linger a full dally from
			 * here, so the sender's backed-off retries (up to a
			 * timeout apart) still find us until it hears.
			 */
			send_ack(x, x->received);
			x->deadline = now + x->cfg.dally_us;
		} else {
			x->st.ignored++;
		}
		return x->status;
	}
	if (x->phase == XP_FINISH) {
		/* the sender asks again for the ACK we hold back */
		x->st.dup_data++;
		return x->status;
	}
	switch (p->op) {
	case TFTP_OACK:
		if (x->phase == XP_OACK && x->cfg.client) {
			/* the server did not hear our ACK 0 */
			x->st.dup_data++;
			send_ack(x, 0);
			return x->status;
		}
		if (x->phase != XP_REQUEST) {
			x->st.ignored++;
			return x->status;
		}
		if (options_check_oack(&x->cfg.opts, p->opts, p->nopts,
		    &acc) < 0)
			return fail(x, TFTP_EOPTNEG, XW_OPTIONS,
			    "unacceptable option in OACK");
		x->opts = acc;
		x->phase = XP_OACK;
		progress(x, now);
		send_ack(x, 0);
		arm(x, now);
		return x->status;
	case TFTP_DATA:
		if (x->phase == XP_REQUEST) {
			if (p->block != 1) {
				x->st.ignored++;
				return x->status;
			}
			/* the server ignored our options: RFC 1350 defaults */
			options_init(&x->opts);
			x->phase = XP_DATA;
		}
		return receiver_data(x, p, now);
	case TFTP_ACK:
		x->st.ignored++;
		return x->status;
	}
	return fail(x, TFTP_EBADOP, XW_PROTOCOL, "unexpected packet");
}

static int
receiver_tick(struct xfer *x, uint64_t now)
{
	if (x->phase == XP_DALLY)
		return finish_ok(x);
	if (expire(x, now) < 0)
		return x->status;
	x->st.retransmits++;
	switch (x->phase) {
	case XP_REQUEST:
		send_request(x);
		break;
	case XP_OACK:
		if (x->cfg.client || !x->opts.have)
			send_ack(x, 0);
		else
			send_oack(x);
		break;
	default:
		send_ack(x, x->received);
		x->unacked = 0;
		break;
	}
	x->reacked = 0;
	arm(x, now);
	return x->status;
}

/* ---- common ---------------------------------------------------------- */

void
xfer_init(struct xfer *x, const struct xfer_cfg *cfg, const struct xfer_io *io)
{
	memset(x, 0, sizeof(*x));
	x->cfg = *cfg;
	x->io = *io;
	if (x->cfg.timeout_us == 0)
		x->cfg.timeout_us = 1000000;
	rtx_init(&x->rtx, x->cfg.timeout_us, x->cfg.timeout_max_us,
	    x->cfg.retries, x->cfg.rto_min_us, x->cfg.role == XFER_SEND);
	if (cfg->client)
		options_init(&x->opts);
	else
		x->opts = cfg->opts;
	if (x->opts.blksize == 0)
		x->opts.blksize = PKT_BLKSIZE_DEF;
	if (x->opts.windowsize == 0)
		x->opts.windowsize = 1;
	x->base_pend = x->next_pend = -1;
	netascii_dec_init(&x->dec);
	x->phase = XP_REQUEST;
	x->status = XFER_RUNNING;
}

int
xfer_start(struct xfer *x, uint64_t now)
{
	unsigned i;

	rtx_start(&x->rtx, now);
	/* time the first exchange: it seeds the RTT estimate */
	x->rtt_on = 1;
	x->rtt_seq = 0;
	x->rtt_sent = now;
	if (x->cfg.client) {
		send_request(x);
		x->phase = XP_REQUEST;
		arm(x, now);
		return x->status;
	}
	if (x->opts.have) {
		send_oack(x);
		if (burst_wanted(x)) {
			for (i = 1; i < x->cfg.oack_burst; i++)
				send_oack(x);
			x->st.burst = x->cfg.oack_burst;
			x->burst_on = 1;
		}
		x->phase = XP_OACK;
		arm(x, now);
		return x->status;
	}
	x->rtt_on = 0;
	if (x->cfg.role == XFER_SEND)
		return sender_start_data(x, now);
	send_ack(x, 0);
	x->phase = XP_OACK;	/* waiting for DATA 1, as after an OACK */
	arm(x, now);
	return x->status;
}

int
xfer_input(struct xfer *x, const uint8_t *pkt, size_t len, uint64_t now)
{
	struct packet p;

	if (x->phase == XP_END)
		return x->status;
	if (packet_decode(pkt, len, &p) < 0) {
		x->st.ignored++;
		return x->status;
	}
	if (p.op == TFTP_ERROR) {
		if (x->phase == XP_DALLY)
			return finish_ok(x);
		return fail_quiet(x, p.err_code, XW_PEER, p.err_msg);
	}
	if (x->cfg.role == XFER_SEND)
		return sender_input(x, &p, now);
	return receiver_input(x, &p, now);
}

int
xfer_tick(struct xfer *x, uint64_t now)
{
	if (x->phase == XP_END || x->deadline == 0 || now < x->deadline)
		return x->status;
	if (x->cfg.role == XFER_SEND)
		return sender_tick(x, now);
	return receiver_tick(x, now);
}

int
xfer_wake(struct xfer *x, uint64_t now)
{
	if (x->phase != XP_DATA || x->cfg.role != XFER_SEND || !x->starved)
		return x->status;
	/* nothing was in flight: the client waited for us, not we for it */
	if (x->next == x->acked + 1)
		progress(x, now);
	return send_window(x, now);
}

int
xfer_finished(struct xfer *x, uint64_t now, int code, const char *msg)
{
	if (x->phase != XP_FINISH)
		return x->status;
	if (code < 0)
		return final_ack(x, now);
	return fail(x, code, XW_SINK, msg);
}

void
xfer_abort(struct xfer *x, int code, const char *msg)
{
	if (x->phase == XP_END)
		return;
	if (x->phase == XP_DALLY) {
		finish_ok(x);
		return;
	}
	fail(x, code, XW_ABORTED, msg);
}
