/*
 * neigh.h - a neighbour's MAC address, from the kernel's neighbour table
 * (ARP for IPv4, neighbour discovery for IPv6) over rtnetlink: what
 * `--per-client mac` names a client's directory by.
 */
#ifndef TFTPX_NEIGH_H
#define TFTPX_NEIGH_H

#include <stdint.h>
#include <sys/socket.h>

#define NEIGH_MACSTR	18	/* "01-02-03-04-aa-bb" and its NUL */

/*
 * The 6-byte link-layer address the kernel holds for addr on interface
 * ifindex (0: any interface; for an IPv6 link-local address with a scope
 * id, that interface).  addr is IPv4 or IPv6; an IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) is looked up as the IPv4 address it is.
 *
 * Returns 0 with the address in mac.  -1 with errno ENOENT when the table
 * has no usable entry: none, or one still being resolved or given up on
 * (NUD_INCOMPLETE, NUD_FAILED, NUD_NONE), or one without a 6-byte,
 * non-zero address.  -1 with another errno when the table could not be
 * asked (no fd left, a kernel that did not answer within the time:
 * EAGAIN).  Takes at most about 0.2 s, whatever the kernel does; in
 * practice one round trip to the kernel, no waiting.
 */
int	neigh_mac(int ifindex, const struct sockaddr_storage *addr,
	    uint8_t mac[6]);

/*
 * mac as "01-02-03-04-aa-bb": lower-case hex, zero-padded, joined by
 * dashes (the spelling of dnsmasq's --tftp-unique-root=mac and, after
 * its "01-", of pxelinux's pxelinux.cfg/ names).
 */
void	neigh_format(const uint8_t mac[6], char out[NEIGH_MACSTR]);

#endif
