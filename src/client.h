/*
 * client.h - `tftpx get` and `tftpx put`.
 */
#ifndef TFTPX_CLIENT_H
#define TFTPX_CLIENT_H

#include "options.h"

struct client_cfg {
	int		 put;		/* 0 = get */
	const char	*host;		/* as given (name or address) */
	int		 port;
	const char	*remote;
	const char	*local;		/* "-" = stdout / stdin */
	struct tftp_opts opts;		/* options to request */
	int		 netascii;
	unsigned	 timeout;	/* seconds, first retransmission */
	unsigned	 retries;
	int		 classic;	/* fixed timers, no RTT estimate */
	int		 verbose;
	int		 quiet;
};

/* Run one transfer.  Returns the exit status: 0 ok, 1 failed. */
int	client_run(const struct client_cfg *cfg);

#endif
