/*
 * listen.c - the server's listening sockets and what start-up says about
 * them: sockets bound from --listen (default: all IPv4 and IPv6
 * addresses on one port) or adopted from systemd (LISTEN_FDS) or inetd
 * (fd 0), one "listening on" line each, the U-Boot line with a real
 * address of this host, and, when a port is taken, which process holds
 * it (from /proc).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "service.h"

#define LISTEN_BURST	64		/* datagrams read per wakeup */
#define LISTEN_CALLS	8		/*  recvmmsg calls a wakeup (batches) */
/* room for a boot storm's requests while a turn is busy */
#define LISTEN_SOCKBUF	(4 << 20)

/* One datagram to the owner, its addresses as a reply needs them. */
static void
hand_on(struct listener *l, const uint8_t *buf, size_t len,
    struct udp_addr *to, struct udp_addr *from)
{
	struct listeners *L = l->set;

	if (to->len == 0) {
		/* no pktinfo (should not happen): the bound address */
		*to = l->addr;
	}
	/*
	 * A dual-stack socket from systemd (ListenDatagram=69) gives IPv4
	 * peers as ::ffff:a.b.c.d; transfer sockets are IPv6-only or IPv4,
	 * so answer them as the IPv4 they are.
	 */
	service_unmap(from);
	service_unmap(to);
	L->datagram(L->owner, l, buf, len, to, from);
}

/*
 * A datagram longer than a batch's slot, cut short: handing it on would
 * give a transfer a short block.  Only a request can be that long
 * without a big upload (L->big) announced, and a request over 2 KiB is
 * no request a client sends (RFC 2347 keeps them to 512 bytes): say so.
 */
static void
too_long(struct listener *l, const uint8_t *buf, const struct udp_addr *to,
    const struct udp_addr *from)
{
	uint8_t err[64];
	size_t n;

	if (buf[0] != 0 || (buf[1] != TFTP_RRQ && buf[1] != TFTP_WRQ))
		return;
	n = packet_encode_error(err, sizeof(err), TFTP_EBADOP,
	    "request too long");
	udp_send_from(l->w.fd, l->addr.ss.ss_family, err, n, n, from, to);
}

/* --single-port: batches in, and what they release out in one post. */
static void
read_batches(struct listener *l)
{
	struct listeners *L = l->set;
	int i, n, calls;

	L->post->open = 1;
	for (calls = 0; calls < LISTEN_CALLS && L->big == 0; calls++) {
		n = udp_recv_many_to(l->w.fd, L->rx, LISTEN_SLOT,
		    LISTEN_BATCH, L->rx_from, L->rx_to, L->rx_len);
		for (i = 0; i < n; i++) {
			const uint8_t *b = L->rx + (size_t)i * LISTEN_SLOT;

			if (L->rx_len[i] == LISTEN_SLOT)
				too_long(l, b, &L->rx_to[i], &L->rx_from[i]);
			else
				hand_on(l, b, L->rx_len[i], &L->rx_to[i],
				    &L->rx_from[i]);
		}
		if (n < LISTEN_BATCH)
			break;
	}
	udp_post_flush(L->post);
	L->post->open = 0;
}

static void
listener_cb(struct loop_fd *w, uint32_t events)
{
	struct listener *l = w->arg;
	struct listeners *L = l->set;
	struct udp_addr from, to;
	long len;
	int i;

	(void)events;
	if (L->post != NULL && L->big == 0) {
		read_batches(l);
		return;
	}
	for (i = 0; i < LISTEN_BURST; i++) {
		len = udp_recv(l->w.fd, L->rx, PKT_MAX + 1, &from, &to);
		if (len < 0)
			break;
		hand_on(l, L->rx, (size_t)len, &to, &from);
	}
}

#define HOLDER_INODES	16	/* sockets on one port looked up at most */

/*
 * The inodes of the UDP sockets bound to port, from /proc/net/udp and
 * /proc/net/udp6.  Best effort: an unreadable file gives nothing.
 */
static size_t
port_inodes(int port, unsigned long *ino, size_t cap)
{
	static const char *const tab[] = { "/proc/net/udp", "/proc/net/udp6" };
	char line[512];
	unsigned lport;
	unsigned long inode;
	size_t i, n = 0;
	FILE *f;

	for (i = 0; i < 2; i++) {
		if ((f = fopen(tab[i], "re")) == NULL)
			continue;
		/* "sl local rem st tx:rx tr:tm retr uid timeout inode" */
		while (n < cap && fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, " %*s %*[0-9A-Fa-f]:%x %*s %*s %*s "
			    "%*s %*s %*s %*s %lu", &lport, &inode) == 2 &&
			    (int)lport == port && inode != 0)
				ino[n++] = inode;
		}
		fclose(f);
	}
	return n;
}

/*
 * "pid 1234 (python3)" for the process holding UDP port, from the
 * socket inodes and the /proc/PID/fd links.  Best effort: processes we
 * may not look into are skipped.  Returns 0 or -1 (unknown).
 */
static int
port_holder(int port, char *buf, size_t cap)
{
	unsigned long ino[HOLDER_INODES], got;
	char dir[64], link[96], target[64], comm[64], *end;
	struct dirent *pe, *fe;
	long pid = 0, fdn;
	DIR *pd, *fd;
	size_t n, i;
	FILE *f;
	int found = 0;

	if ((n = port_inodes(port, ino, HOLDER_INODES)) == 0)
		return -1;
	if ((pd = opendir("/proc")) == NULL)
		return -1;
	while (!found && (pe = readdir(pd)) != NULL) {
		pid = strtol(pe->d_name, &end, 10);
		if (pid <= 0 || *end != '\0')
			continue;
		snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
		if ((fd = opendir(dir)) == NULL)
			continue;
		while (!found && (fe = readdir(fd)) != NULL) {
			ssize_t l;

			fdn = strtol(fe->d_name, &end, 10);
			if (fdn < 0 || *end != '\0' || fe->d_name[0] == '\0')
				continue;
			snprintf(link, sizeof(link), "%s/%ld", dir, fdn);
			l = readlink(link, target, sizeof(target) - 1);
			if (l <= 0)
				continue;
			target[l] = '\0';
			if (sscanf(target, "socket:[%lu]", &got) != 1)
				continue;
			for (i = 0; i < n; i++)
				if (ino[i] == got)
					found = 1;
		}
		closedir(fd);
	}
	closedir(pd);
	if (!found)
		return -1;
	comm[0] = '\0';
	snprintf(dir, sizeof(dir), "/proc/%ld/comm", pid);
	if ((f = fopen(dir, "re")) != NULL) {
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	comm[strcspn(comm, "\n")] = '\0';
	snprintf(buf, cap, "pid %ld (%s)", pid, comm[0] ? comm : "?");
	return 0;
}

/* Why a listening socket could not be had, and what to do, in one line. */
static void
listen_error(const char *verb, const struct udp_addr *a, int err)
{
	char buf[UDP_ADDRSTR], who[128];

	udp_format(a, buf);
	if (err == EADDRINUSE) {
		if (port_holder(udp_port(a), who, sizeof(who)) == 0)
			log_error("%s %s: port %d is in use by %s; stop it "
			    "or use another --port", verb, buf, udp_port(a),
			    who);
		else
			log_error("%s %s: port %d is in use (another TFTP "
			    "server?); stop it or use another --port", verb,
			    buf, udp_port(a));
	} else if (err == EACCES && udp_port(a) < 1024) {
		log_error("%s %s: permission denied for port %d; run as root, "
		    "grant CAP_NET_BIND_SERVICE, or use --port 6969", verb,
		    buf, udp_port(a));
	} else if (err == EADDRNOTAVAIL) {
		log_error("%s %s: no interface of this host has that address",
		    verb, buf);
	} else {
		log_error("%s %s: %s", verb, buf, strerror(err));
	}
}


#define HINT_MAX	16	/* addresses named at start-up */

struct hint {
	int	family;
	char	addr[INET6_ADDRSTRLEN];
	int	port;
};

static int
hint_add(struct hint *h, int n, int family, const void *addr, int port)
{
	char txt[INET6_ADDRSTRLEN];
	int i;

	if (n >= HINT_MAX ||
	    inet_ntop(family, addr, txt, sizeof(txt)) == NULL)
		return n;
	for (i = 0; i < n; i++)
		if (h[i].family == family && h[i].port == port &&
		    strcmp(h[i].addr, txt) == 0)
			return n;
	h[n].family = family;
	h[n].port = port;
	memcpy(h[n].addr, txt, sizeof(txt));
	return n + 1;
}

/*
 * The addresses of this host a device can reach, for a wildcard
 * listener of family.  Loopback only with lo (when nothing else is
 * there); IPv6 link-local never: it needs a zone a boot loader lacks.
 */
static int
hint_wildcard(struct hint *h, int n, int family, int port, int lo)
{
	struct ifaddrs *ifa, *i;
	const struct in6_addr *a6;
	const void *ad;

	if (getifaddrs(&ifa) < 0)
		return n;
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != family ||
		    !(i->ifa_flags & IFF_UP) ||
		    !(i->ifa_flags & IFF_LOOPBACK) != !lo)
			continue;
		if (family == AF_INET) {
			ad = &((const struct sockaddr_in *)
			    (const void *)i->ifa_addr)->sin_addr;
		} else {
			a6 = &((const struct sockaddr_in6 *)
			    (const void *)i->ifa_addr)->sin6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(a6))
				continue;
			ad = a6;
		}
		n = hint_add(h, n, family, ad, port);
	}
	freeifaddrs(ifa);
	return n;
}

/* The addresses of the listeners, IPv4 first; lo: see hint_wildcard(). */
static int
hint_collect(const struct listeners *L, struct hint *h, int lo)
{
	const struct udp_addr *a;
	const struct sockaddr_in *s4;
	const struct sockaddr_in6 *s6;
	int i, n = 0, v6;

	for (v6 = 0; v6 < 2; v6++) {
		for (i = 0; i < L->n; i++) {
			a = &L->ls[i].addr;
			s4 = (const struct sockaddr_in *)(const void *)&a->ss;
			s6 = (const struct sockaddr_in6 *)(const void *)&a->ss;
			if (!v6 && a->ss.ss_family == AF_INET) {
				if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
					n = hint_wildcard(h, n, AF_INET,
					    udp_port(a), lo);
				else if (!lo)
					n = hint_add(h, n, AF_INET,
					    &s4->sin_addr, udp_port(a));
			} else if (v6 && a->ss.ss_family == AF_INET6) {
				if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
					n = hint_wildcard(h, n, AF_INET6,
					    udp_port(a), lo);
				else if (!lo)
					n = hint_add(h, n, AF_INET6,
					    &s6->sin6_addr, udp_port(a));
			}
		}
	}
	return n;
}

/*
 * After the "serving" line: what to type on a device, with a real
 * address of this host (IPv4 first: most boot loaders speak only that),
 * and the other addresses it answers on.
 */
void
listen_hints(const struct listeners *L)
{
	struct hint h[HINT_MAX];
	char also[512] = "", port[32] = "";
	int i, n, best;

	if ((n = hint_collect(L, h, 0)) == 0)
		n = hint_collect(L, h, 1);
	if (n == 0)
		return;
	best = 0;
	if (h[best].port != 69)
		snprintf(port, sizeof(port), "setenv tftpdstp %d; ",
		    h[best].port);
	if (h[best].family == AF_INET)
		log_notice("U-Boot: setenv serverip %s; %stftpboot ${loadaddr} "
		    "<file>", h[best].addr, port);
	else
		log_notice("U-Boot: setenv serverip6 %s; %stftpboot "
		    "${loadaddr} <file> -ipv6", h[best].addr, port);
	for (i = 1; i < n; i++) {
		log_append(also, sizeof(also), "%s%s%s%s", i > 1 ? ", " : "",
		    h[i].family == AF_INET6 ? "[" : "", h[i].addr,
		    h[i].family == AF_INET6 ? "]" : "");
		if (h[i].port != h[best].port)
			log_append(also, sizeof(also), ":%d", h[i].port);
	}
	if (also[0])
		log_notice("also reachable at %s", also);
}

/* Serve on fd (bound to a); the listener owns fd from here on. */
static int
listener_attach(struct listeners *L, int fd, const struct udp_addr *a)
{
	struct listener *l = &L->ls[L->n];
	char buf[UDP_ADDRSTR];
	int e;

	if (L->n == (int)(sizeof(L->ls) / sizeof(L->ls[0]))) {
		errno = EMFILE;
		goto fail;
	}
	if (service_bind_device(fd, L->cfg->svc.interface) < 0)
		goto fail;
	/* room for a boot storm's requests while a turn is busy */
	udp_set_bufs(fd, LISTEN_SOCKBUF);
	l->addr = *a;
	l->set = L;
	if (loop_fd_start(L->loop, &l->w, fd, listener_cb, l) < 0)
		goto fail;
	L->n++;
	/* printed even with -q: with port 0 it is the only way to know */
	log_error("listening on %s", udp_format(a, buf));
	return 0;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static int
add_listener(struct listeners *L, struct udp_addr *a)
{
	int fd;

	if ((fd = udp_bind(a, 1)) < 0)
		return -1;
	return listener_attach(L, fd, a);
}

/*
 * Sockets someone else bound: systemd's (LISTEN_FDS) or inetd's (fd 0).
 * Returns 1 when there were some, 0 when we bind our own, -1 on error.
 */
static int
adopt_listeners(struct listeners *L)
{
	const struct service_cfg *svc = &L->cfg->svc;
	struct udp_addr a;
	const char *why = NULL, *from;
	int fds[SERVICE_FDS_MAX], i, n;

	if (svc->inetd) {
		if (service_inetd_stdio(&why) < 0) {
			log_error("%s", why);
			return -1;
		}
		fds[0] = 0;
		n = 1;
		from = "inetd";
	} else {
		if ((n = service_listen_fds(fds, SERVICE_FDS_MAX, &why)) < 0) {
			log_error("socket activation: %s", why);
			return -1;
		}
		if (n == 0)
			return 0;
		from = "systemd";
	}
	if (L->cfg->nlisten)
		log_error("--listen ignored, using the socket%s from %s",
		    n == 1 ? "" : "s", from);
	for (i = 0; i < n; i++) {
		if (service_adopt(fds[i], &a, &why) < 0) {
			log_error("socket %d from %s: %s", fds[i], from, why);
			return -1;
		}
		if (listener_attach(L, fds[i], &a) < 0) {
			log_error("socket %d from %s: %s", fds[i], from,
			    strerror(errno));
			return -1;
		}
	}
	return 1;
}

int
listen_open(struct listeners *L)
{
	const struct server_cfg *cfg = L->cfg;
	struct udp_addr a;
	char host[256];
	const char *why;
	int i, port;

	if ((i = adopt_listeners(L)) != 0)
		return i < 0 ? -1 : 0;
	if (cfg->nlisten == 0) {
		/* all IPv4 and IPv6 addresses, on one port */
		udp_resolve("", cfg->port, AF_INET, &a, &why);
		if (add_listener(L, &a) < 0) {
			listen_error("cannot listen on", &a, errno);
			return -1;
		}
		port = udp_port(&a);
		udp_resolve("", port, AF_INET6, &a, &why);
		if (add_listener(L, &a) < 0 && errno != EAFNOSUPPORT)
			listen_error("not listening on", &a, errno);
		return 0;
	}
	for (i = 0; i < cfg->nlisten; i++) {
		if (udp_split_hostport(cfg->listen[i], cfg->port, host,
		    sizeof(host), &port, &why) < 0 ||
		    udp_resolve(host, port, AF_UNSPEC, &a, &why) < 0) {
			log_error("bad listen address '%s': %s",
			    cfg->listen[i], why);
			return -2;
		}
		if (add_listener(L, &a) < 0) {
			listen_error("cannot listen on", &a, errno);
			return -1;
		}
	}
	return 0;
}


void
listen_close(struct listeners *L)
{
	int i;

	for (i = 0; i < L->n; i++)
		close(L->ls[i].w.fd);
	L->n = 0;
}
