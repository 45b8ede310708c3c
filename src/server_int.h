/*
 * server_int.h - the server's request path without its sockets, for the
 * fuzz target (fuzz/fuzz_request.c) and nothing else.
 *
 * server_run() is server_new() + listening sockets + signals + loop_run()
 * + server_free().  A harness that links its own udp_bind/recv/send and
 * loop can instead hand datagrams to server_datagram(), as listener_cb
 * does for each one it reads, and drive the transfers through the loop's
 * fd watchers and timers.
 */
#ifndef TFTPX_SERVER_INT_H
#define TFTPX_SERVER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"
#include "udp.h"

struct server;
struct loop;

/* The root, the duplicate memory and the loop.  NULL (logged) on failure. */
struct server *server_new(const struct server_cfg *cfg);

/* End every live transfer (ERROR 0 to its client), close and free all. */
void	server_free(struct server *s);

/*
 * One datagram that reached a listening socket at local address to
 * (port ignored) from from: a request starts or is refused, anything
 * else is dropped.
 */
void	server_datagram(struct server *s, const uint8_t *buf, size_t len,
	    const struct udp_addr *to, const struct udp_addr *from);

struct loop *server_loop(const struct server *s);
/* Live transfers (each has one socket watched by the loop). */
size_t	server_live(const struct server *s);

#endif
