/*
 * rtx.h - when to send again: the RTT estimate (RFC 6298), the
 * retransmission timer with its backoff and give-up, re-sends a late
 * client had no need of (doc/notes/late-clients.md), and what the pair
 * probes of a window taught about a client: its pacing gap and the
 * patience a slow one needs (doc/notes/uboot-e1000.md).
 *
 * Pure: no clock, no sockets, no globals.  xfer.c keeps the blocks and
 * windows, embeds a struct rtx (x->rtx) and tells it what happened, with
 * the time in microseconds on the owner's monotonic clock and plain
 * values; it reads the timer (rto) and the estimate (srtt) from it.
 */
#ifndef TFTPX_RTX_H
#define TFTPX_RTX_H

#include <stdint.h>

#define RTX_SENT	1	/* a timer re-sent blocks up to seq */
#define RTX_ACKED	2	/* ... and an ACK covering them came */

struct rtx {
	/* configuration (rtx_init) */
	uint64_t	 timeout_us;	/* the negotiated timeout */
	uint64_t	 timeout_max_us; /* classic backoff cap; 0 = 16 x */
	uint64_t	 rto_min_us;	/* RTT timer floor; 0 = classic */
	unsigned	 retries;	/* retransmissions without progress */
	int		 rtt;		/* RTT timers: a sender with rto_min */

	/* the timer */
	uint64_t	 rto;		/* current retransmission timeout */
	uint64_t	 progress_at;	/* time of the last progress */
	unsigned	 tries;		/* timeouts since the last progress */

	/* the estimate */
	uint64_t	 srtt, rttvar;	/* RFC 6298, microseconds; 0 = none */
	uint64_t	 rtt_min;	/* smallest sample, 0 = none */

	/*
	 * A timer re-send under test (rtx_sent, rtx_acked, rtx_dup_ack):
	 * was the client late, not lost?  Then late_us keeps the timer
	 * above how late it was.
	 */
	int		 state;		/* 0, RTX_SENT or RTX_ACKED */
	uint64_t	 seq;		/* highest block re-sent / its ACK */
	uint64_t	 first;		/* that block first left then */
	uint64_t	 sent_at;	/* re-sent (last) then */
	uint64_t	 ack_at;	/* its first ACK came then */
	uint64_t	 late_us;	/* timer floor a late client taught */
	unsigned	 late_fast;	/* samples in a row well below it */

	/* what probes taught (windowsize > 1) */
	uint64_t	 pace_us;	/* gap between a window's packets */
	unsigned	 pace_clean;	/* whole windows since the last loss */
	uint64_t	 patience_us;	/* probe floor a slow client taught */
};

/*
 * Set up r: timeout_us is the first timeout (nonzero), timeout_max_us
 * the classic backoff cap (0 = 16 x timeout), rto_min_us the floor of
 * RTT timers (0: classic timers), sender: we send DATA (only a sender
 * times round trips).
 */
void	rtx_init(struct rtx *r, uint64_t timeout_us, uint64_t timeout_max_us,
	    unsigned retries, uint64_t rto_min_us, int sender);

/* ---- the timer ------------------------------------------------------- */

/* The first packet left at now: the give-up time runs from there. */
void	rtx_start(struct rtx *r, uint64_t now);
/* The timeout after progress: from the estimate, or the timeout itself. */
uint64_t rtx_base(const struct rtx *r);
/* Progress at now: the timer and the give-up count start over. */
void	rtx_progress(struct rtx *r, uint64_t now);
/* The timer expired at now: 0, send again (rto backed off); -1, give up. */
int	rtx_expire(struct rtx *r, uint64_t now);
/* The go-back-N timeout of a window just sent (windowed: windowsize > 1). */
uint64_t rtx_gbn(const struct rtx *r, int windowed);

/* ---- the estimate ---------------------------------------------------- */

/*
 * A round trip: something sent once at sent was answered at now (the
 * caller keeps Karn's rule).  A first sample near the timer is refused.
 */
void	rtx_sample(struct rtx *r, uint64_t sent, uint64_t now);

/* ---- late clients ---------------------------------------------------- */

/* The timer re-sent blocks up to seq at now; seq first left at first. */
void	rtx_sent(struct rtx *r, uint64_t seq, uint64_t first, uint64_t now);
/*
 * An ACK that moved the window up to seq came at now.  Returns 1 when it
 * proves the last timer re-send needless (late_us and rto may have
 * risen: re-time what is in flight), else 0.
 */
int	rtx_acked(struct rtx *r, uint64_t seq, uint64_t now);
/*
 * The ACK of block r->seq came again at now (the caller matched the wire
 * block).  Returns 1 as rtx_acked does.
 */
int	rtx_dup_ack(struct rtx *r, uint64_t now);

/* ---- probes and pacing (windowsize > 1) ------------------------------ */

/*
 * The first pair-probe interval of a window into *ivl.  Returns 0 when no
 * probe is sent (classic timers, or no estimate yet), else 1.
 */
int	rtx_probe_ivl(const struct rtx *r, uint64_t *ivl);
/* A probe recovered a lost tail: patience is over. */
void	rtx_probe_needed(struct rtx *r);
/* A probed window had arrived whole, its ACK wait after it: more patience. */
void	rtx_probe_needless(struct rtx *r, uint64_t wait);
/* An ACK came for a window no probe went out for: less patience. */
void	rtx_unprobed(struct rtx *r);
/* A burst-dropping NIC lost a window's tail: a wider gap.  Returns it. */
uint64_t rtx_pace_lost(struct rtx *r);
/* A window arrived whole without a probe: after enough, a narrower gap. */
void	rtx_pace_whole(struct rtx *r);

#endif
