/*
 * server.h - `tftpx serve`: listening sockets, request intake, the
 * duplicate table, transfer lifecycle and log lines.
 */
#ifndef TFTPX_SERVER_H
#define TFTPX_SERVER_H

#include <stdint.h>

#include "origin.h"
#include "service.h"

#define SERVER_LISTEN_MAX	16
#define SERVER_SPIN		200	/* us, --spin default */
#define SERVER_SPIN_MAX		10000

struct server_cfg {
	const char	*dir;
	struct service_cfg svc;			/* sockets, privileges */
	const char	*listen[SERVER_LISTEN_MAX];	/* ADDR[:PORT] */
	int		 nlisten;
	int		 port;			/* default 69 */
	int		 upload;		/* create new names */
	int		 overwrite;		/* replace existing names too */
	int		 backslash;		/* map '\' to '/' in names */
	unsigned	 blksize_max;
	unsigned	 windowsize_max;
	uint64_t	 window_bytes_max;
	unsigned	 timeout;		/* seconds, first retransmission */
	unsigned	 retries;
	unsigned	 grace;			/* seconds after its client's
						   first DATA that a finished
						   WRQ's copy is dropped */
	unsigned	 max_transfers;		/* live transfers in all */
	unsigned	 max_per_client;	/* live transfers per host */
	uint64_t	 max_upload;		/* bytes, 0 = no limit */
	unsigned	 rto_min;		/* ms, tail-probe floor; 0 = off */
	unsigned	 spin;			/* us polled before sleeping, at
						   most (loop_spin); 0 = off */

	/* NAT, firewalls, containers and paths */
	int		 single_port;		/* transfers on the listener */
	int		 port_lo, port_hi;	/* --port-range, 0 = any */
	unsigned	 mtu;			/* --mtu, 0 = ask the route */

	/* which file each client gets (names.c) */
	const char	*map_file;		/* --map: tftpd-hpa's rules */
	int		 per_client;		/* NAMES_PER_IP, _MAC, or 0 */
	int		 lowercase;		/* names asked in lower case */
	int		 ignore_case;		/* not found: look up any case */

	/* the HTTP origin (origin.c): url NULL = none */
	struct origin_cfg origin;
	int		 origin_upload;		/* PUT uploads to the origin */

	/* operator: metrics (--metrics ADDR:PORT), or NULL */
	const char	*metrics;

	/* operator: where events go, scripted use */
	const char	*log_file;		/* events appended here, or NULL */
	int		 use_syslog;		/* events to syslog(3) */
	int		 once;			/* exit after the first transfer */
};

void	server_cfg_init(struct server_cfg *cfg);

/*
 * Serve until SIGINT/SIGTERM (with once: until the first transfer ends).
 * Returns a process exit status: 0, or 1 when start-up or (once) the
 * transfer failed, 2 for a bad listen address.
 */
int	server_run(const struct server_cfg *cfg);

#endif
