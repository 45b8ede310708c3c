/*
 * udp.h - sockets: address parsing, dual-stack listening sockets that
 * report the local address each request reached (IP_PKTINFO,
 * IPV6_RECVPKTINFO), and per-transfer sockets bound to that address so
 * replies leave from where the request arrived.
 */
#ifndef TFTPX_UDP_H
#define TFTPX_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UDP_ADDRSTR	64	/* "[v6%scope]:port" fits */

struct udp_addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
	int			ifindex;	/* a local address: the
						   interface a datagram came
						   in on (pktinfo); 0 unknown */
};

/*
 * Split "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address
 * into host (written to host, cap bytes) and port (default_port when
 * absent).  Returns 0, or -1 with a static reason in *why.
 */
int	udp_split_hostport(const char *s, int default_port, char *host,
	    size_t cap, int *port, const char **why);

/*
 * Resolve host (numeric first; names via getaddrinfo without
 * AI_ADDRCONFIG, so it works in a namespace with only lo) and port.
 * passive: an empty host is the wildcard of family (AF_INET/AF_INET6).
 * Returns 0, or -1 with a static reason in *why.
 */
int	udp_resolve(const char *host, int port, int family, struct udp_addr *a,
	    const char **why);

/* "127.0.0.1:69" or "[::1]:69" into buf (UDP_ADDRSTR bytes). */
const char *udp_format(const struct udp_addr *a, char *buf);
int	udp_port(const struct udp_addr *a);
void	udp_set_port(struct udp_addr *a, int port);
int	udp_same(const struct udp_addr *a, const struct udp_addr *b);
int	udp_same_host(const struct udp_addr *a, const struct udp_addr *b);

/*
 * A non-blocking, close-on-exec socket bound to a.  listening: ask for
 * the destination address of each datagram, and IPv6 only for IPv6.
 * The bound address (with the real port) is written back into a.
 * Returns the fd or -1 with errno.
 */
int	udp_bind(struct udp_addr *a, int listening);

/*
 * Ask for bytes of send and receive buffer; past net.core.wmem_max and
 * rmem_max only with CAP_NET_ADMIN (the FORCE variants, while root).
 */
void	udp_set_bufs(int fd, int bytes);

/*
 * Ask the kernel to report ICMP errors on fd, an unconnected socket
 * (IP_RECVERR, IPV6_RECVERR): a port unreachable then wakes the socket
 * (EPOLLERR) and udp_recv_err() reads it.  0 or -1.
 */
int	udp_set_recverr(int fd, int family);

/*
 * Read one queued ICMP error of fd: *dst is where the datagram that
 * caused it was going.  Returns the error (ECONNREFUSED: port
 * unreachable, EHOSTUNREACH, ...), or 0 when none is queued.
 */
int	udp_recv_err(int fd, struct udp_addr *dst);

/*
 * Receive one datagram: its source into from and, for listening sockets,
 * the local address it reached into to (port 0).  Returns the length,
 * or -1 with errno (EAGAIN when none waits).
 */
long	udp_recv(int fd, uint8_t *buf, size_t cap, struct udp_addr *from,
	    struct udp_addr *to);

/*
 * Receive up to n waiting datagrams in one system call (recvmmsg): the
 * i-th into bufs + i * cap, its length in lens[i] and its source in
 * from[i].  Returns the count (0 when none waits) or -1 with errno.
 */
int	udp_recv_many(int fd, uint8_t *bufs, size_t cap, unsigned n,
	    struct udp_addr *from, size_t *lens);

/*
 * udp_recv_many on a socket that is not bound to one address: also the
 * local address each datagram reached into to[i] (to[i].len 0: none
 * given; to NULL: not asked).  A datagram longer than cap is cut:
 * lens[i] == cap.
 */
int	udp_recv_many_to(int fd, uint8_t *bufs, size_t cap, unsigned n,
	    struct udp_addr *from, struct udp_addr *to, size_t *lens);

/* Send one datagram.  Returns 0 or -1 with errno. */
int	udp_send(int fd, const uint8_t *buf, size_t len,
	    const struct udp_addr *to);

/*
 * A train: up to UDP_TRAIN_MAX datagrams of seg bytes each, laid end to
 * end in buf (len bytes in all; only the last may be shorter), sent to
 * one address in one system call: sendmsg with UDP_SEGMENT (the kernel
 * cuts it, GSO) where the kernel has it, else sendmmsg.  len is at most
 * UDP_TRAIN_BYTES.  Returns 0 or -1 with errno.
 */
#define UDP_TRAIN_MAX	64
#define UDP_TRAIN_BYTES	65000
int	udp_send_train(int fd, const uint8_t *buf, size_t len, size_t seg,
	    const struct udp_addr *to);

/*
 * udp_send_train (len <= seg: one datagram) on a socket that is not bound
 * to one address (a listener, in --single-port mode): the datagrams leave
 * from local address src (IP_PKTINFO, IPV6_PKTINFO).  sock_family is the
 * socket's: an AF_INET6 socket that also takes IPv4 (from systemd) is
 * given v4-mapped addresses.  Returns 0 or -1 with errno.
 */
int	udp_send_from(int fd, int sock_family, const uint8_t *buf, size_t len,
	    size_t seg, const struct udp_addr *to, const struct udp_addr *src);

/*
 * The post: datagrams to many peers, from one listener, collected while
 * open and sent in one sendmmsg (udp_post_flush).  In --single-port mode
 * a batch of ACKs read in one recvmmsg releases the next DATA of many
 * transfers; they leave together instead of one sendmsg each.  Closed,
 * udp_post sends at once (udp_send_from).  Zero-initialised is closed
 * and empty.
 */
#define UDP_POST_MAX	32
struct udp_post {
	int		 open;
	int		 fd;		/* the socket of what it holds */
	unsigned	 n;
	size_t		 used;		/* bytes of buf */
	struct {
		struct udp_addr	 to, src;
		size_t		 off, len;
		uint16_t	 seg;	/* a GSO train of seg-byte datagrams */
	}		 m[UDP_POST_MAX];
	uint8_t		 buf[65536];
};

/*
 * udp_send_from through p: held while p is open (a train as one GSO
 * message where the kernel cuts it, else in pieces); p NULL or closed:
 * sent at once.
 */
int	udp_post(struct udp_post *p, int fd, int sock_family,
	    const uint8_t *buf, size_t len, size_t seg,
	    const struct udp_addr *to, const struct udp_addr *src);
void	udp_post_flush(struct udp_post *p);

#endif
