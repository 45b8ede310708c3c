/*
 * session.h - one transfer on the wire: the driver every front end uses.
 *
 * A session is a struct xfer (the protocol) joined to a UDP socket (its
 * TID), the peer lock, a loop watcher and a timer.  It reads the
 * socket's datagrams in batches, answers strangers with ERROR 5 (RFC 1350
 * section 4), feeds the peer's datagrams and the passage of time to the
 * xfer, sends what the xfer emits (as one train per event when the hub
 * has one) and re-arms the timer.  What the transfer means
 * (a file opened, a log line, a progress bar, the next transfer of a
 * benchmark) is the owner's: it hears of the outcome through struct
 * session_ops.
 *
 *   tftpx serve   transfer.c: one session per accepted request, locked to
 *                 the client from the start
 *   tftpx get/put client.c: one session on a loop of its own, locked to
 *                 the server's TID by the first answer from its host
 *   tftpx bench   bench.c: N sessions on one loop, each started again
 *                 with a fresh socket when its transfer ends
 */
#ifndef TFTPX_SESSION_H
#define TFTPX_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "udp.h"
#include "xfer.h"

#define SESSION_BATCH	16	/* datagrams read per system call, at most */
/*
 * A batch is read into slots of the largest datagram the peer may send
 * now, plus one byte (a datagram that fills its slot is too long, as
 * one of PKT_MAX + 1 is): blksize + 4 for a receiver, else room for an
 * OACK or ERROR.  So 16 ACKs or 1468-byte DATA take 32 KiB, and a
 * server's memory does not grow by 16 x 64 KiB for the largest blocks.
 */
#define SESSION_RX_BYTES ((size_t)2 * (PKT_MAX + 1))
#define SESSION_SLOT_MIN 2048
#define SESSION_CALLS	4	/* calls per wakeup and session */

/*
 * What the sessions of one loop share: the loop, the buffers a batch is
 * read into, the xfer's scratch, and the train (NULL: each datagram is
 * sent on its own).  Used by one thread; a session's event runs to its
 * end before the next one's starts, so one set serves all.
 */
/*
 * The train: the datagrams one event of one session emits (a window) are
 * collected here and leave in one system call (udp_send_train) when the
 * event has been handled, instead of one sendto each.  A train is one
 * session's datagrams, all of one size but the last (as GSO needs);
 * anything else sends what is there first, so order is kept.
 */
struct session_train {
	struct session	*owner;		/* NULL: empty */
	size_t		 len;		/* bytes in buf */
	size_t		 seg;		/* size of each but the last */
	unsigned	 n;
	uint8_t		 buf[UDP_TRAIN_BYTES];
};

struct session_hub {
	struct loop		*loop;
	struct session_train	*train;
	struct udp_post		*post;		/* shared sockets' sends, or NULL */
	uint8_t			 rx[SESSION_RX_BYTES];
	struct udp_addr		 rx_from[SESSION_BATCH];
	size_t			 rx_len[SESSION_BATCH];
	uint8_t			 scratch[XFER_SCRATCH];
};

struct session;

struct session_ops {
	/*
	 * Optional: datagrams from the peer were fed to the xfer (a
	 * progress bar redraws here, not on timer events).
	 */
	void	(*input)(struct session *s);
	/* Optional: after every event, before the timer is re-armed. */
	void	(*settled)(struct session *s);
	/*
	 * Optional: the outcome is known (x.status is XFER_DONE or
	 * XFER_FAILED; why is x.why, XW_NONE on success).  Once per
	 * transfer.  A receiver that dallies (re-ACKs a lost final DATA)
	 * is still running: end comes later.
	 */
	void	(*done)(struct session *s, enum xfer_why why);
	/*
	 * Optional: the transfer is over (x.phase is XP_END; done has been
	 * called).  The watcher and the timer are stopped and the train
	 * sent; the socket is still open.  The owner calls session_close(),
	 * or session_open() again to run another transfer on it (a retried
	 * get) or on a new socket (the next transfer of a bench lane).
	 */
	void	(*end)(struct session *s);
};

struct session {
	struct xfer		 x;
	struct session_hub	*hub;
	const struct session_ops *ops;
	void			*owner;
	struct loop_fd		 w;
	struct loop_timer	 t;
	int			 sock;		/* -1: closed */
	/*
	 * The peer: the client (server), or the server's address until
	 * its first answer, then its TID (client).  A client session is
	 * not locked until then: datagrams from other hosts are ignored,
	 * the first one from the server's host fixes the TID.
	 */
	struct udp_addr		 peer;
	int			 locked;
	/*
	 * --single-port: the socket is a listener's, shared by many
	 * sessions; the owner hands each its datagrams (session_input)
	 * and sends leave from local, the address the request reached.
	 */
	int			 shared;
	int			 sock_family;	/* the shared socket's */
	struct udp_addr		 local;
	uint64_t		 heard;		/* the peer's first datagram here */
	uint64_t		 strangers;	/* datagrams from others: ERROR 5 */
	unsigned		 gen;		/* bumped by each start */
	int			 told;		/* done was called */
	int			 running;	/* between start and end */
};

/* The owner given to session_open(), from an xfer_io callback's ctx. */
void	*session_owner(void *ctx);

/*
 * Take sock (bound, non-blocking) for a session with peer; locked: the
 * peer's port is its TID already (server).  Watches the socket.  Also
 * for a session whose transfer has ended (its watcher is stopped).
 * Returns 0, or -1 with errno (the socket is still the caller's).
 */
int	session_open(struct session *s, struct session_hub *hub, int sock,
	    const struct udp_addr *peer, int locked,
	    const struct session_ops *ops, void *owner);

/*
 * A session on a shared socket (a listener's, --single-port): not
 * watched and not closed by the session; the owner demultiplexes and
 * calls session_input().  Sends leave from local.  The peer is locked.
 */
void	session_attach(struct session *s, struct session_hub *hub, int sock,
	    int sock_family, const struct udp_addr *local,
	    const struct udp_addr *peer, const struct session_ops *ops,
	    void *owner);

/*
 * Start a transfer on an open session: xfer_init with cfg and io (its
 * ctx is replaced by the session, see session_owner; send and scratch
 * are the session's), then the first packet.  May call done and end
 * before it returns.
 */
void	session_start(struct session *s, const struct xfer_cfg *cfg,
	    const struct xfer_io *io);

/*
 * Read and feed what waits in the socket now (a server that must see a
 * transfer's last ACK before a new request from the same port).
 */
void	session_read(struct session *s);

/* One datagram from from for a session on a shared socket. */
void	session_input(struct session *s, const struct udp_addr *from,
	    const uint8_t *pkt, size_t len);

/* The source has more bytes (xfer_wake), then settle. */
void	session_wake(struct session *s);

/* The sink's late finish is over (xfer_finished), then settle. */
void	session_finished(struct session *s, int code, const char *msg);

/* End the transfer now with ERROR code msg (xfer_abort), then settle. */
void	session_abort(struct session *s, int code, const char *msg);

/*
 * Stop watching, send the train, close the socket.  The xfer is left as
 * it is (end it first with xfer_abort when it still runs).  The struct
 * may be freed only after the current loop turn: an event collected for
 * the socket may still be handed to it (it is ignored).
 */
void	session_close(struct session *s);

/*
 * Let the soft limit on open files reach want, as far as the hard limit
 * allows (each session holds a socket).  Returns the limit now.
 */
unsigned long session_fd_room(unsigned long want);

#endif
