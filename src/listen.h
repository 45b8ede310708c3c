/*
 * listen.h - the server's listening sockets: opened from the server's
 * configuration (or adopted from systemd or inetd), watched by the loop,
 * every request datagram handed to one callback.  Start-up lines and
 * their diagnostics (who holds a port) are said here too.
 */
#ifndef TFTPX_LISTEN_H
#define TFTPX_LISTEN_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"
#include "packet.h"
#include "server.h"
#include "udp.h"

struct listeners;

#define LISTEN_SLOT	2048		/* bytes a datagram of a batch */
#define LISTEN_BATCH	32		/* datagrams a recvmmsg */
#define LISTEN_RX_BYTES	(LISTEN_SLOT * LISTEN_BATCH)
_Static_assert(LISTEN_RX_BYTES >= PKT_MAX + 1, "a whole datagram fits rx");

struct listener {
	struct loop_fd		 w;
	struct udp_addr		 addr;		/* as bound (or adopted) */
	struct listeners	*set;
};

struct listeners {
	/* set by the owner before listen_open() */
	const struct server_cfg	*cfg;
	struct loop		*loop;
	/* a datagram that reached local address to of listener l from from */
	void	(*datagram)(void *owner, const struct listener *l,
		    const uint8_t *buf, size_t len, const struct udp_addr *to,
		    const struct udp_addr *from);
	void			*owner;
	/*
	 * --single-port: datagrams are read in batches (recvmmsg) into
	 * slots of LISTEN_SLOT bytes, and what the callbacks send while a
	 * batch is handled leaves through post in one sendmmsg.  big counts
	 * the transfers whose DATA may not fit a slot (uploads with blksize
	 * LISTEN_SLOT - 4 or more): while there are any, one datagram a
	 * call, whole.  NULL post: one at a time, as without --single-port.
	 */
	struct udp_post		*post;
	unsigned		 big;

	struct listener		 ls[SERVER_LISTEN_MAX * 2];
	int			 n;
	/* a request (or a batch) stays here while the callback runs */
	uint8_t			 rx[LISTEN_RX_BYTES];
	struct udp_addr		 rx_from[LISTEN_BATCH];
	struct udp_addr		 rx_to[LISTEN_BATCH];
	size_t			 rx_len[LISTEN_BATCH];
};

/*
 * Bind (or adopt) every listening socket and say "listening on" for
 * each.  Returns 0; -1 when a socket could not be had (said why, in one
 * line); -2 for a bad --listen address (a usage error).
 */
int	listen_open(struct listeners *L);

/* The U-Boot line for the first address and the others it answers on. */
void	listen_hints(const struct listeners *L);

/* Close every listening socket (the loop is going away). */
void	listen_close(struct listeners *L);

#endif
