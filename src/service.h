/*
 * service.h - running `tftpx serve` as a system service: sockets handed
 * over by systemd (LISTEN_FDS) or inetd (stdin), readiness notification
 * (NOTIFY_SOCKET), the interface the sockets are tied to, and dropping
 * root once the sockets and the served directory are open.
 *
 * No libsystemd: the protocol is a few environment variables and one
 * datagram, spelled out in sd_listen_fds(3) and sd_notify(3).
 */
#ifndef TFTPX_SERVICE_H
#define TFTPX_SERVICE_H

#include <stddef.h>

#include "udp.h"

#define SERVICE_FDS_MAX		32	/* inherited sockets served */
#define SERVICE_IDLE_INETD	30	/* seconds, --idle-timeout default */

struct service_cfg {
	const char	*user;		/* --user NAME|UID[:GID]; NULL: default */
	int		 allow_root;	/* --allow-root: keep root */
	int		 inetd;		/* --inetd: the socket is stdin */
	int		 idle_timeout;	/* seconds; 0 never, -1 default */
	const char	*interface;	/* --interface IFACE, or NULL */
	int		 seccomp;	/* --seccomp */
};

/*
 * The sockets systemd passed (fds 3.., when LISTEN_PID is this process
 * and LISTEN_FDS is set), into fds (at most max).  The variables are
 * removed from the environment either way.  Returns the count (0: none
 * passed), or -1 with a reason in *why.
 */
int	service_listen_fds(int *fds, int max, const char **why);

/*
 * Make an inherited socket fit to listen on: a UDP socket, non-blocking,
 * close-on-exec, reporting each datagram's destination address.  Its
 * bound address goes to a.  Returns 0, or -1 with a reason in *why.
 */
int	service_adopt(int fd, struct udp_addr *a, const char **why);

/*
 * --inetd: fd 0 is the socket.  inetd also gives it as stdout and
 * stderr, where log lines would go nowhere: those become /dev/null.
 * Returns 0 or -1 with a reason in *why.
 */
int	service_inetd_stdio(const char **why);

/* An IPv4-mapped IPv6 address (a dual-stack socket) as plain IPv4. */
void	service_unmap(struct udp_addr *a);

/*
 * SO_BINDTODEVICE: fd sends and receives through ifname only.  NULL
 * is a no-op.  Returns 0 or -1 with errno.
 */
int	service_bind_device(int fd, const char *ifname);

/*
 * Connect to $NOTIFY_SOCKET (a path, or '@' for an abstract name) now,
 * while we may still be root; later notifications go through this
 * socket.  No NOTIFY_SOCKET: 0 and nothing to do.  -1 with errno.
 */
int	service_notify_open(void);
/* Send "READY=1", "STOPPING=1", ...; silently nothing without a socket. */
void	service_notify(const char *state);

/*
 * Give up root after the sockets are bound and rootfd (the served
 * directory, dir its name for messages) is open.  As root: become
 * cfg->user, or by default the sudo user or nobody (see service.c for
 * the rules), drop every capability and set no_new_privs.  Not root:
 * drop capabilities (ambient or file ones that bound port 69) and set
 * no_new_privs.  Returns 0 (lines say what happened), or -1: the drop
 * that was asked for is impossible and the server must not run.
 */
int	service_drop(const struct service_cfg *cfg, int rootfd,
	    const char *dir, int upload);

/*
 * --seccomp: from here on only the system calls a running server makes
 * (x86_64, aarch64); any other kills the process.  After service_drop.
 * Returns 0, or -1 (logged): the server must not run without it.
 */
int	service_seccomp(void);

#endif
