/*
 * server_priv.h - the rooms of `tftpx serve` and what they share: the
 * server's state (server.c: start-up, requests, signals, shutdown) and
 * the served transfer (transfer.c: files, the session, log lines).  For
 * those two files only.
 */
#ifndef TFTPX_SERVER_PRIV_H
#define TFTPX_SERVER_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "dedup.h"
#include "files.h"
#include "intake.h"
#include "listen.h"
#include "loop.h"
#include "metrics.h"
#include "names.h"
#include "origin.h"
#include "options.h"
#include "packet.h"
#include "quirks.h"
#include "server.h"
#include "session.h"
#include "udp.h"

struct server {
	const struct server_cfg	*cfg;
	struct loop		*loop;
	int			 cpus;		/* usable_cpus() at start */
	int			 rootfd;
	struct listeners	 lis;		/* listen.c */
	struct loop_fd		 sigw;
	struct loop_timer	 idle;		/* --idle-timeout */
	uint64_t		 idle_us;	/*  0: never */
	uint64_t		 last_active;	/*  last request or end */
	struct options_limits	 lim;
	struct intake		*intake;	/* live table, limits, dedup */
	struct files_uploads	 uploads;	/* live WRQs: one per name */
	struct files_shared	 shared;	/* files read: one fd each */
	struct names		 names;		/* which file each client gets */
	struct quirks		 quirks;	/* hosts whose NIC drops bursts */
	int			 once_done;	/* --once: first transfer ended */
	int			 once_rc;	/*  and its exit status */
	/*
	 * The listener whose datagram is being handled (NULL outside
	 * request_cb): --single-port transfers and refusals use it.
	 */
	const struct listener	*via;
	unsigned		 port_next;	/* --port-range: next to try */
	struct session_hub	 hub;		/* what the transfers share */
	struct session_train	 train;		/*  a window in one send */
	struct udp_post		 post;		/*  --single-port: a batch's */
	struct origin		*origin;	/* --origin, or NULL */
	struct metrics		*metrics;	/* --metrics, or NULL */
};

/* ---- server.c, for transfer.c ---------------------------------------- */

/*
 * Answer a request we refuse, from the address it reached.  msg is the
 * short ERROR text the client gets; reason (NULL: msg) is what the log
 * says first: what happened and what to do about it.  level: LOG_QUIET
 * (always logged) or LOG_VERBOSE.
 */
void	server_refuse(struct server *s, int level, const struct udp_addr *local,
	    const struct udp_addr *peer, const struct packet *p, int code,
	    const char *msg, const char *reason);

/* A transfer ended (ok: it succeeded); it has left the intake. */
void	server_transfer_ended(struct server *s, int ok, int superseded);

/* ---- transfer.c, for server.c ---------------------------------------- */

struct transfer;

/*
 * Start a transfer for request p from peer that reached local (intake's
 * verdict was IN_NEW), or refuse it in words the operator can act on.
 */
void	transfer_start(struct server *s, const struct packet *p,
	    const struct udp_addr *local, const struct udp_addr *peer,
	    const struct dedup_key *key, uint64_t req_hash);

/* Read what waits in t's socket (its client's last ACK). */
void	transfer_read(struct transfer *t);

/*
 * --single-port: a datagram from from that reached local address to,
 * for t if t talks through that address.  Returns 0 when t took it, -1
 * when it is not t's.
 */
int	transfer_input(struct transfer *t, const struct udp_addr *to,
	    const struct udp_addr *from, const uint8_t *buf, size_t len);

/*
 * End t from outside: superseded by a new request from its port (no
 * word to the client), or the server shutting down (ERROR 0).
 */
void	transfer_supersede(struct transfer *t);
void	transfer_shutdown(struct transfer *t);

#endif
