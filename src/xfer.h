/*
 * xfer.h - the TFTP transfer state machines: a sender (server RRQ, client
 * put) and a receiver (server WRQ, client get).
 *
 * Pure: no sockets, no clock.  The owner feeds datagrams from the peer
 * (xfer_input) and the passage of time (xfer_tick, once now >= deadline);
 * the machine reads and writes file bytes and emits datagrams through the
 * struct xfer_io callbacks.  Time is in microseconds on any monotonic
 * clock the owner chooses (tests use a fake one).
 *
 * Block numbers are kept internally as 64-bit sequence numbers (block 1 is
 * seq 1) and only mapped to the 16-bit wire field on the way in and out,
 * so transfers past block 65535 wrap to 0 (default) or to 1 (rollover=1).
 */
#ifndef TFTPX_XFER_H
#define TFTPX_XFER_H

#include <stddef.h>
#include <stdint.h>

#include "netascii.h"
#include "options.h"
#include "packet.h"
#include "rtx.h"

enum xfer_role {
	XFER_SEND,		/* we send DATA: server RRQ, client put */
	XFER_RECV,		/* we receive DATA: server WRQ, client get */
};

enum xfer_status {
	XFER_RUNNING,
	XFER_DONE,
	XFER_FAILED,
};

/*
 * Why a transfer failed (x->why): what callers test.  err_code is the
 * TFTP code sent or received and err_msg its words, for people only.
 */
enum xfer_why {
	XW_NONE,
	XW_TIMEOUT,		/* no progress for timeout x (retries + 1) */
	XW_PEER,		/* the peer sent ERROR err_code */
	XW_ABORTED,		/* xfer_abort: shutdown, interrupt, superseded */
	XW_SOURCE,		/* reading the source failed */
	XW_SINK,		/* writing failed (err_code 3: no space) */
	XW_OPTIONS,		/* the OACK holds what we cannot take */
	XW_PROTOCOL,		/* a packet that has no place here */
	XW_UNREACHABLE,		/* the peer's port is closed (ICMP), session.c */
};

#define XFER_ACKPTS	4	/* recent ACKs a receiver remembers */

/* Size the owner's scratch buffer must have (see struct xfer_io). */
#define XFER_SCRATCH	(2 * PKT_MAX + 8)

struct xfer_io {
	void	*ctx;
	/*
	 * Sender: copy up to len source bytes starting at byte off into buf.
	 * Returns the count (short only at the end of the source) or -errno.
	 * A source whose bytes come later (an HTTP origin) answers -EAGAIN
	 * while off + len is not all there and the end is not known to come
	 * sooner; the sender then sends what it has and waits for
	 * xfer_wake(), with no timer for what it could not send.  Bytes once
	 * read stay readable (a re-send reads them again).  Offsets never go
	 * below the last value passed to release().
	 */
	long	(*read)(void *ctx, uint64_t off, uint8_t *buf, size_t len);
	/* Sender, optional: bytes below off will not be read again. */
	void	(*release)(void *ctx, uint64_t off);
	/* Receiver: append len bytes.  Returns 0 or -errno. */
	int	(*write)(void *ctx, const uint8_t *buf, size_t len);
	/*
	 * Receiver, optional: all data is written; make it durable and
	 * visible (upload commit).  Called before the final ACK is sent, so
	 * the peer hears of success only for a file that exists.  Returns 0,
	 * or -errno (the peer then gets an ERROR instead of the ACK;
	 * -EBADMSG: the size differs from the one announced).  -EINPROGRESS:
	 * the answer comes later (an upload that goes on to an HTTP origin);
	 * the receiver holds the final ACK, ignores the sender's copies of
	 * the last DATA and arms no timer until xfer_finished().
	 */
	int	(*finish)(void *ctx);
	/* Emit one datagram to the peer. */
	void	(*send)(void *ctx, const uint8_t *pkt, size_t len);
	/* XFER_SCRATCH bytes the machine may use during a call. */
	uint8_t	*scratch;
};

struct xfer_cfg {
	int		 role;		/* enum xfer_role */
	int		 client;	/* we sent the request */
	int		 netascii;	/* mode netascii, else octet */
	/*
	 * Server: the granted options; have != 0 means an OACK is sent
	 * first.  Client: the options to request.
	 */
	struct tftp_opts opts;
	/* Client: what to put in the request. */
	const char	*filename;
	const char	*mode;
	uint64_t	 timeout_us;	/* first retransmission timeout */
	uint64_t	 timeout_max_us; /* backoff cap; 0 = 16 x timeout */
	unsigned	 retries;	/* retransmissions without progress */
	uint64_t	 dally_us;	/* server receiver: linger after last ACK */
	/*
	 * Sender with windowsize > 1: floor of the pair-probe timer that
	 * recovers a lost window tail in milliseconds; 0 = no probes.
	 */
	uint64_t	 rto_min_us;
	/*
	 * Server sender with windowsize > 2: send the OACK this many times
	 * back to back and count the ACK 0s.  A client that answers more
	 * than one copy but not all has a NIC that drops bursts (U-Boot's
	 * e1000 under QEMU keeps one packet waiting); it is sent one more
	 * OACK with windowsize 1 before any DATA, and U-Boot takes it.
	 * 0 or 1 = one OACK.  See doc/notes/uboot-e1000.md.
	 */
	unsigned	 oack_burst;
};

/* Where a transfer stands; internal, but visible so the owner can embed it. */
enum xfer_phase {
	XP_REQUEST,		/* client: request sent, waiting for the answer */
	XP_OACK,		/* server: OACK sent, waiting for ACK 0 / DATA 1 */
	XP_DATA,		/* moving blocks */
	XP_FINISH,		/* receiver: all data in, finish answers later */
	XP_DALLY,		/* receiver: final ACK sent, re-ACK late copies */
	XP_END,
};

struct xfer_stats {
	uint64_t	bytes;		/* file bytes moved (local side) */
	uint64_t	wire_bytes;	/* DATA payload bytes moved on the wire */
	uint64_t	pkts_sent;	/* every datagram emitted */
	uint64_t	data_sent;	/* DATA packets, first sends */
	uint64_t	retransmits;	/* packets re-sent (timeout or NAK-ACK) */
	uint64_t	timeouts;	/* timer expiries */
	uint64_t	dup_acks;	/* ACKs ignored as old or duplicate */
	uint64_t	dup_data;	/* DATA received again or out of order */
	uint64_t	probes;		/* blocks sent as tail probes */
	uint64_t	probes_answered; /* windows a probe recovered */
	uint64_t	probes_spurious; /* windows probed that had arrived */
	uint64_t	spurious;	/* timer re-sends the client had no
					   need of: it was late, not lost */
	uint64_t	pace_max_us;	/* largest pacing gap used */
	uint64_t	tails;		/* windows whose lost tail a probe found */
	uint64_t	gaps;		/* windows a gap ACK cut short */
	uint64_t	ignored;	/* undecodable or misfit datagrams */
	unsigned	burst;		/* OACK copies sent back to back */
	unsigned	burst_acks;	/* ACK 0s they drew */
	int		burst_narrowed;	/* so windowsize 1 was sent */
};

struct xfer {
	struct xfer_cfg	 cfg;
	struct xfer_io	 io;
	struct tftp_opts opts;		/* in force (negotiated) */
	int		 phase;		/* enum xfer_phase */
	int		 status;	/* enum xfer_status */
	uint64_t	 deadline;	/* next tick time, 0 = none */
	/*
	 * When to send again (rtx.c): the timer, the RTT estimate, late
	 * clients, the pacing gap and probe patience a client taught.
	 */
	struct rtx	 rtx;

	/* sender */
	uint64_t	 acked;		/* highest seq acknowledged */
	uint64_t	 next;		/* next seq to send */
	uint64_t	 last;		/* seq of the final block, 0 = not yet known */
	uint64_t	 last_end;	/* source offset where it ends */
	uint64_t	 base_off;	/* source offset of block acked + 1 */
	int		 base_pend;	/* netascii byte owed at acked + 1 */
	uint64_t	 next_off;	/* source offset of block next */
	int		 next_pend;
	uint64_t	 to_deadline;	/* go-back-N timeout */
	uint64_t	 probe_at;	/* next pair probe, 0 = none */
	uint64_t	 probe_ivl;	/* its interval (doubles) */
	unsigned	 probes;	/* pairs sent for this window */
	uint64_t	 hi;		/* highest seq ever sent */
	uint64_t	 pace_at;	/* next paced packet, 0 = none */
	int		 spur_on;	/* a probed window was ACKed whole: */
	uint64_t	 spur_seq;	/*  its ACK, */
	uint64_t	 spur_wait;	/*  that long after the window */
	int		 rtt_on;	/* a sample is being timed */
	uint64_t	 rtt_seq;	/* ... for this block (0: OACK/request) */
	uint64_t	 rtt_sent;	/* ... sent at this time */
	uint64_t	 window_at;	/* last DATA sent, probes aside */
	int		 burst_on;	/* counting ACK 0s of an OACK burst */
	int		 starved;	/* the source answered "not yet" */

	/* receiver */
	uint64_t	 received;	/* highest in-order seq received */
	unsigned	 unacked;	/* blocks received since the last ACK */
	int		 reacked;	/* re-ACK sent since last progress */
	uint64_t	 ackpt[XFER_ACKPTS]; /* our last ACKs (ring) */
	unsigned	 nackpt;
	struct netascii_dec dec;

	/* outcome */
	int		 why;		/* enum xfer_why, XW_NONE unless failed */
	int		 err_code;	/* TFTP code sent or received */
	int		 err_peer;	/* the peer sent the ERROR (why == XW_PEER) */
	char		 err_msg[PKT_ERRMSG_MAX];
	struct xfer_stats st;
};

/*
 * Set up x (no allocation).  The cfg strings must outlive x.  io is
 * copied.
 */
void	xfer_init(struct xfer *x, const struct xfer_cfg *cfg,
	    const struct xfer_io *io);

/*
 * Send the first packet: the request (client), the OACK (server with
 * options), DATA 1 (server RRQ) or ACK 0 (server WRQ).  Returns status.
 */
int	xfer_start(struct xfer *x, uint64_t now);

/* One datagram from the peer's TID.  Returns status. */
int	xfer_input(struct xfer *x, const uint8_t *pkt, size_t len,
	    uint64_t now);

/* Time passed; call when now >= x->deadline.  Returns status. */
int	xfer_tick(struct xfer *x, uint64_t now);

/*
 * Sender: the source has more bytes (it answered -EAGAIN before).  Sends
 * what it can; when nothing was in flight, the give-up time starts over,
 * since the client waited for us.  Returns status.
 */
int	xfer_wake(struct xfer *x, uint64_t now);

/*
 * Receiver: the finish that answered -EINPROGRESS is over.  code < 0:
 * it succeeded, the final ACK goes out and the receiver dallies; else
 * the peer gets ERROR code msg.  Returns status.
 */
int	xfer_finished(struct xfer *x, uint64_t now, int code, const char *msg);

/*
 * End a running transfer from outside (shutdown, superseded request):
 * sends ERROR code/msg to the peer when code >= 0; with a negative code
 * it ends quietly and records code 0 with msg.
 */
void	xfer_abort(struct xfer *x, int code, const char *msg);

/* The 16-bit wire block of a sequence number under the rollover rule. */
uint16_t xfer_wire_block(uint64_t seq, unsigned rollover);

#endif
