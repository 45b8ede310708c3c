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

	struct listener		 ls[SERVER_LISTEN_MAX * 2];
	int			 n;
	/* a request stays here while the callback runs */
	uint8_t			 rx[PKT_MAX + 1];
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
