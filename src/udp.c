/*
 * udp.c - UDP sockets for tftpx.
 *
 * A window's packets leave as one train (udp_send_train): one sendmsg
 * with UDP_SEGMENT, which the kernel cuts into datagrams (GSO), or one
 * sendmmsg where GSO is missing.  TFTPX_NO_GSO=1 forces sendmmsg, so the
 * tests exercise both on a modern kernel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>		/* struct timespec, for musl */
#include <linux/errqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "udp.h"

int
udp_split_hostport(const char *s, int default_port, char *host, size_t cap,
    int *port, const char **why)
{
	const char *end, *colon = NULL;
	size_t n;
	char *e;
	long v;

	*port = default_port;
	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL) {
			*why = "missing ']' after an IPv6 address";
			return -1;
		}
		n = (size_t)(end - s - 1);
		if (n == 0 || n >= cap) {
			*why = "bad IPv6 address";
			return -1;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (end[1] == ':')
			colon = end + 1;
		else if (end[1] != '\0') {
			*why = "unexpected text after ']'";
			return -1;
		}
	} else {
		colon = strchr(s, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;	/* a bare IPv6 address */
		n = colon ? (size_t)(colon - s) : strlen(s);
		if (n >= cap) {
			*why = "host name too long";
			return -1;
		}
		memcpy(host, s, n);
		host[n] = '\0';
	}
	if (colon) {
		errno = 0;
		v = strtol(colon + 1, &e, 10);
		if (colon[1] < '0' || colon[1] > '9' || *e != '\0' ||
		    errno || v < 0 || v > 65535) {
			*why = "port must be a number from 0 to 65535";
			return -1;
		}
		*port = (int)v;
	}
	return 0;
}

int
udp_resolve(const char *host, int port, int family, struct udp_addr *a,
    const char **why)
{
	struct addrinfo hints, *res;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
	char pstr[8];
	int rc;

	memset(a, 0, sizeof(*a));
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		if (family == AF_INET6) {
			s6->sin6_family = AF_INET6;
			s6->sin6_addr = in6addr_any;
			s6->sin6_port = htons((uint16_t)port);
			a->len = sizeof(*s6);
		} else {
			s4->sin_family = AF_INET;
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
			s4->sin_port = htons((uint16_t)port);
			a->len = sizeof(*s4);
		}
		return 0;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(pstr, sizeof(pstr), "%d", port);
	rc = getaddrinfo(host, pstr, &hints, &res);
	if (rc == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(host, pstr, &hints, &res);
	}
	if (rc != 0) {
		*why = gai_strerror(rc);
		return -1;
	}
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
udp_port(const struct udp_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

void
udp_set_port(struct udp_addr *a, int port)
{
	if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port =
		    htons((uint16_t)port);
	else
		((struct sockaddr_in *)&a->ss)->sin_port =
		    htons((uint16_t)port);
}

const char *
udp_format(const struct udp_addr *a, char *buf)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
	char h[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof(h));
		snprintf(buf, UDP_ADDRSTR, "[%s]:%d", h, udp_port(a));
	} else if (a->ss.ss_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, h, sizeof(h));
		snprintf(buf, UDP_ADDRSTR, "%s:%d", h, udp_port(a));
	} else {
		snprintf(buf, UDP_ADDRSTR, "?");
	}
	return buf;
}

int
udp_same_host(const struct udp_addr *a, const struct udp_addr *b)
{
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a->ss;
	const struct sockaddr_in6 *b6 = (const struct sockaddr_in6 *)&b->ss;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in *b4 = (const struct sockaddr_in *)&b->ss;

	if (a->ss.ss_family != b->ss.ss_family)
		return 0;
	if (a->ss.ss_family == AF_INET6)
		return memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
	return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
}

int
udp_same(const struct udp_addr *a, const struct udp_addr *b)
{
	return udp_same_host(a, b) && udp_port(a) == udp_port(b);
}

int
udp_bind(struct udp_addr *a, int listening)
{
	int fd, on = 1, fam = a->ss.ss_family;

	fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (fam == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)
		goto fail;
	if (listening && fam == AF_INET &&
	    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) < 0)
		goto fail;
	if (listening && fam == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_RECVPKTINFO, &on, sizeof(on)) < 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&a->ss, a->len) < 0)
		goto fail;
	a->len = sizeof(a->ss);
	if (getsockname(fd, (struct sockaddr *)&a->ss, &a->len) < 0)
		goto fail;
	return fd;
fail:
	on = errno;
	close(fd);
	errno = on;
	return -1;
}

/* The local address datagram mh reached (IP_PKTINFO, IPV6_PKTINFO). */
static void
pktinfo_to(struct msghdr *mh, struct udp_addr *to)
{
	struct cmsghdr *c;
	struct in_pktinfo pi;
	struct in6_pktinfo pi6;
	struct sockaddr_in *t4;
	struct sockaddr_in6 *t6;

	memset(to, 0, sizeof(*to));
	for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			t4 = (struct sockaddr_in *)&to->ss;
			t4->sin_family = AF_INET;
			/*
			 * The address a reply should come from (not a
			 * broadcast).  A datagram queued before the socket
			 * asked for pktinfo (inetd, socket activation) has
			 * none: then the header's destination.
			 */
			t4->sin_addr = pi.ipi_spec_dst.s_addr != 0 ?
			    pi.ipi_spec_dst : pi.ipi_addr;
			to->len = sizeof(*t4);
			to->ifindex = pi.ipi_ifindex;
		} else if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO) {
			memcpy(&pi6, CMSG_DATA(c), sizeof(pi6));
			t6 = (struct sockaddr_in6 *)&to->ss;
			t6->sin6_family = AF_INET6;
			t6->sin6_addr = pi6.ipi6_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&pi6.ipi6_addr))
				t6->sin6_scope_id = pi6.ipi6_ifindex;
			to->len = sizeof(*t6);
			to->ifindex = (int)pi6.ipi6_ifindex;
		}
	}
}

/* Room for the pktinfo of one datagram, either family. */
union pktinfo_cbuf {
	struct cmsghdr	align;
	char		buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			    CMSG_SPACE(sizeof(struct in_pktinfo))];
};

long
udp_recv(int fd, uint8_t *buf, size_t cap, struct udp_addr *from,
    struct udp_addr *to)
{
	union pktinfo_cbuf cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_name = &from->ss;
	mh.msg_namelen = sizeof(from->ss);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (to) {
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = sizeof(cbuf.buf);
	}
	n = recvmsg(fd, &mh, 0);
	if (n < 0)
		return -1;
	from->len = mh.msg_namelen;
	if (to != NULL)
		pktinfo_to(&mh, to);
	return (long)n;
}

int
udp_recv_many_to(int fd, uint8_t *bufs, size_t cap, unsigned n,
    struct udp_addr *from, struct udp_addr *to, size_t *lens)
{
	struct mmsghdr mm[UDP_TRAIN_MAX];
	struct iovec iov[UDP_TRAIN_MAX];
	union pktinfo_cbuf cb[UDP_TRAIN_MAX];
	unsigned i;
	int r;

	if (n > UDP_TRAIN_MAX)
		n = UDP_TRAIN_MAX;
	memset(mm, 0, sizeof(mm[0]) * n);
	if (to != NULL)
		memset(cb, 0, sizeof(cb[0]) * n);	/* the kernel's to fill */
	for (i = 0; i < n; i++) {
		iov[i].iov_base = bufs + (size_t)i * cap;
		iov[i].iov_len = cap;
		mm[i].msg_hdr.msg_name = &from[i].ss;
		mm[i].msg_hdr.msg_namelen = sizeof(from[i].ss);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		if (to != NULL) {
			mm[i].msg_hdr.msg_control = cb[i].buf;
			mm[i].msg_hdr.msg_controllen = sizeof(cb[i].buf);
		}
	}
	do
		r = recvmmsg(fd, mm, n, MSG_DONTWAIT, NULL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	for (i = 0; i < (unsigned)r; i++) {
		/* a datagram cut short fills its slot: lens[i] == cap */
		lens[i] = mm[i].msg_len;
		from[i].len = mm[i].msg_hdr.msg_namelen;
		if (to != NULL)
			pktinfo_to(&mm[i].msg_hdr, &to[i]);
	}
	return r;
}

int
udp_recv_many(int fd, uint8_t *bufs, size_t cap, unsigned n,
    struct udp_addr *from, size_t *lens)
{
	return udp_recv_many_to(fd, bufs, cap, n, from, NULL, lens);
}

int
udp_send(int fd, const uint8_t *buf, size_t len, const struct udp_addr *to)
{
	ssize_t n;

	do
		n = sendto(fd, buf, len, 0, (const struct sockaddr *)&to->ss,
		    to->len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

#ifndef UDP_SEGMENT
#define UDP_SEGMENT	103
#endif

/*
 * GSO unsupported (old kernel) or TFTPX_NO_GSO set: no_gso > 0, sendmmsg
 * from then on (0: not decided yet).  A segment size the route refused
 * (over its MTU): sendmmsg for that size and larger.
 */
static int no_gso;
static size_t gso_bad_seg = SIZE_MAX;

static int
send_gso(int fd, const uint8_t *buf, size_t len, size_t seg,
    const struct udp_addr *to)
{
	char cbuf[CMSG_SPACE(sizeof(uint16_t))];
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr mh;
	struct cmsghdr *c;
	uint16_t gso = (uint16_t)seg;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_name = (void *)(uintptr_t)&to->ss;
	mh.msg_namelen = to->len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(gso));
	memcpy(CMSG_DATA(c), &gso, sizeof(gso));
	do
		n = sendmsg(fd, &mh, 0);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

static int
send_mmsg(int fd, const uint8_t *buf, size_t len, size_t seg,
    const struct udp_addr *to)
{
	struct mmsghdr mm[UDP_TRAIN_MAX];
	struct iovec iov[UDP_TRAIN_MAX];
	unsigned n = 0, done = 0;
	size_t off;
	int r;

	memset(mm, 0, sizeof(mm));
	for (off = 0; off < len && n < UDP_TRAIN_MAX; off += seg, n++) {
		iov[n].iov_base = (void *)(uintptr_t)(buf + off);
		iov[n].iov_len = len - off < seg ? len - off : seg;
		mm[n].msg_hdr.msg_name = (void *)(uintptr_t)&to->ss;
		mm[n].msg_hdr.msg_namelen = to->len;
		mm[n].msg_hdr.msg_iov = &iov[n];
		mm[n].msg_hdr.msg_iovlen = 1;
	}
	while (done < n) {
		r = sendmmsg(fd, mm + done, n - done, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (unsigned)r;
	}
	return 0;
}

/* May a train of seg-byte datagrams go as one GSO send? */
static int
gso_ok(size_t seg)
{
	if (no_gso == 0) {
		/* TFTPX_NO_GSO=1: sendmmsg always (tests run both paths) */
		const char *v = getenv("TFTPX_NO_GSO");

		no_gso = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0 ?
		    1 : -1;
	}
	return no_gso < 0 && seg < gso_bad_seg;
}

int
udp_send_train(int fd, const uint8_t *buf, size_t len, size_t seg,
    const struct udp_addr *to)
{
	if (len <= seg)
		return udp_send(fd, buf, len, to);
	if (gso_ok(seg)) {
		if (send_gso(fd, buf, len, seg, to) == 0)
			return 0;
		if (errno == ENOPROTOOPT || errno == EOPNOTSUPP)
			no_gso = 1;
		else if (errno == EINVAL || errno == EMSGSIZE || errno == EIO)
			gso_bad_seg = seg;
		else
			return -1;
	}
	return send_mmsg(fd, buf, len, seg, to);
}

/* a as an AF_INET6 socket that also takes IPv4 wants it: v4-mapped */
static void
map_v4(const struct udp_addr *a, struct udp_addr *out)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof(*out));
	s6->sin6_family = AF_INET6;
	s6->sin6_port = s4->sin_port;
	s6->sin6_addr.s6_addr[10] = 0xff;
	s6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&s6->sin6_addr.s6_addr[12], &s4->sin_addr, 4);
	out->len = sizeof(*s6);
}

/*
 * to and src as a socket of sock_family takes them: v4-mapped (into mto
 * and msrc) for an AF_INET6 socket that also takes IPv4 (from systemd).
 */
static void
for_socket(int sock_family, const struct udp_addr **to,
    const struct udp_addr **src, struct udp_addr *mto, struct udp_addr *msrc)
{
	if (sock_family != AF_INET6 || (*to)->ss.ss_family != AF_INET)
		return;
	map_v4(*to, mto);
	map_v4(*src, msrc);
	*to = mto;
	*src = msrc;
}

/* Room for the control data of src_cmsg(), aligned for cmsghdr. */
union src_cbuf {
	struct cmsghdr	 align;
	char		 buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) +
			     CMSG_SPACE(sizeof(uint16_t))];
};

/*
 * The control data of a datagram sent from src: IP_PKTINFO or
 * IPV6_PKTINFO, and UDP_SEGMENT when gso.  Returns its length.
 */
static size_t
src_cmsg(union src_cbuf *cb, const struct udp_addr *src, uint16_t gso)
{
	struct cmsghdr *c = (struct cmsghdr *)cb->buf;
	struct in6_pktinfo pi6;
	struct in_pktinfo pi;
	const void *data;
	size_t n, off;

	memset(cb, 0, sizeof(*cb));
	if (src->ss.ss_family == AF_INET6) {
		memset(&pi6, 0, sizeof(pi6));
		pi6.ipi6_addr =
		    ((const struct sockaddr_in6 *)&src->ss)->sin6_addr;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		data = &pi6;
		n = sizeof(pi6);
	} else {
		memset(&pi, 0, sizeof(pi));
		pi.ipi_spec_dst =
		    ((const struct sockaddr_in *)&src->ss)->sin_addr;
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		data = &pi;
		n = sizeof(pi);
	}
	c->cmsg_len = CMSG_LEN(n);
	memcpy(CMSG_DATA(c), data, n);
	off = CMSG_SPACE(n);
	if (gso) {
		c = (struct cmsghdr *)(cb->buf + off);
		c->cmsg_level = SOL_UDP;
		c->cmsg_type = UDP_SEGMENT;
		c->cmsg_len = CMSG_LEN(sizeof(gso));
		memcpy(CMSG_DATA(c), &gso, sizeof(gso));
		off += CMSG_SPACE(sizeof(gso));
	}
	return off;
}

/* One sendmsg of len bytes from src (cut into seg-byte datagrams: gso). */
static int
send_src(int fd, const uint8_t *buf, size_t len, const struct udp_addr *to,
    const struct udp_addr *src, uint16_t gso)
{
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	union src_cbuf cb;
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)(uintptr_t)&to->ss;
	mh.msg_namelen = to->len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cb.buf;
	mh.msg_controllen = src_cmsg(&cb, src, gso);
	do
		n = sendmsg(fd, &mh, 0);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

int
udp_send_from(int fd, int sock_family, const uint8_t *buf, size_t len,
    size_t seg, const struct udp_addr *to, const struct udp_addr *src)
{
	struct udp_addr mto, msrc;
	size_t off, n;

	for_socket(sock_family, &to, &src, &mto, &msrc);
	if (len <= seg)
		return send_src(fd, buf, len, to, src, 0);
	if (gso_ok(seg) && send_src(fd, buf, len, to, src,
	    (uint16_t)seg) == 0)
		return 0;
	/* no GSO here: one datagram each */
	for (off = 0; off < len; off += n) {
		n = len - off < seg ? len - off : seg;
		if (send_src(fd, buf + off, n, to, src, 0) < 0)
			return -1;
	}
	return 0;
}

/* Message i of p, a GSO train that failed with err, one datagram each. */
static void
post_ungso(struct udp_post *p, unsigned i, int err)
{
	size_t seg = p->m[i].seg, off, n;
	const uint8_t *b = p->buf + p->m[i].off;

	if (err == ENOPROTOOPT || err == EOPNOTSUPP)
		no_gso = 1;
	else if (err == EINVAL || err == EMSGSIZE || err == EIO)
		gso_bad_seg = seg;
	else
		return;
	for (off = 0; off < p->m[i].len; off += n) {
		n = p->m[i].len - off < seg ? p->m[i].len - off : seg;
		if (send_src(p->fd, b + off, n, &p->m[i].to, &p->m[i].src,
		    0) < 0)
			return;
	}
}

/* Send what p holds, in one sendmmsg while none fails; p is emptied. */
void
udp_post_flush(struct udp_post *p)
{
	struct mmsghdr mm[UDP_POST_MAX];
	struct iovec iov[UDP_POST_MAX];
	union src_cbuf cb[UDP_POST_MAX];
	unsigned i, done = 0;
	int r;

	memset(mm, 0, sizeof(mm[0]) * p->n);
	memset(cb, 0, sizeof(cb[0]) * p->n);
	for (i = 0; i < p->n; i++) {
		iov[i].iov_base = p->buf + p->m[i].off;
		iov[i].iov_len = p->m[i].len;
		mm[i].msg_hdr.msg_name = &p->m[i].to.ss;
		mm[i].msg_hdr.msg_namelen = p->m[i].to.len;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = cb[i].buf;
		mm[i].msg_hdr.msg_controllen = src_cmsg(&cb[i], &p->m[i].src,
		    p->m[i].seg);
	}
	while (done < p->n) {
		r = sendmmsg(p->fd, mm + done, p->n - done, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r > 0) {
			done += (unsigned)r;
			continue;
		}
		/*
		 * The first one could not leave: a train the route would
		 * not cut (GSO) goes again a datagram at a time, as
		 * udp_send_train does; anything else is a lost datagram.
		 */
		if (p->m[done].seg)
			post_ungso(p, done, errno);
		done++;
	}
	p->n = 0;
	p->used = 0;
}

int
udp_post(struct udp_post *p, int fd, int sock_family, const uint8_t *buf,
    size_t len, size_t seg, const struct udp_addr *to,
    const struct udp_addr *src)
{
	struct udp_addr mto, msrc;
	size_t off, n;
	int gso;

	if (p == NULL || !p->open || len > sizeof(p->buf))
		return udp_send_from(fd, sock_family, buf, len, seg, to, src);
	for_socket(sock_family, &to, &src, &mto, &msrc);
	/* a train is one message the kernel cuts (GSO), where it can */
	gso = len > seg && gso_ok(seg) && len <= UDP_TRAIN_BYTES;
	for (off = 0; off < len; off += n) {
		n = gso ? len : len - off < seg ? len - off : seg;
		if (p->n && (p->fd != fd || p->n == UDP_POST_MAX ||
		    p->used + n > sizeof(p->buf)))
			udp_post_flush(p);
		p->fd = fd;
		p->m[p->n].to = *to;
		p->m[p->n].src = *src;
		p->m[p->n].off = p->used;
		p->m[p->n].len = n;
		p->m[p->n].seg = gso ? (uint16_t)seg : 0;
		memcpy(p->buf + p->used, buf + off, n);
		p->used += n;
		p->n++;
	}
	return 0;
}

void
udp_set_bufs(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes,
	    sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes,
	    sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

int
udp_set_recverr(int fd, int family)
{
	int on = 1;

	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR,
	    &on, sizeof(on)) < 0)
		return -1;
	/* also for IPv4 on a dual-stack socket, and for AF_INET */
	if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on)) < 0 &&
	    family == AF_INET)
		return -1;
	return 0;
}

int
udp_recv_err(int fd, struct udp_addr *dst)
{
	union {
		char		buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
				    sizeof(struct sockaddr_in6))];
		struct cmsghdr	align;
	} ctl;
	struct msghdr mh;
	struct cmsghdr *c;
	struct sock_extended_err *ee;
	char data[64];
	struct iovec iov = { data, sizeof(data) };

	memset(&mh, 0, sizeof(mh));
	memset(dst, 0, sizeof(*dst));
	mh.msg_name = &dst->ss;
	mh.msg_namelen = sizeof(dst->ss);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
		return 0;
	dst->len = mh.msg_namelen;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type ==
		    IP_RECVERR) || (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_RECVERR)))
			continue;
		ee = (struct sock_extended_err *)(void *)CMSG_DATA(c);
		if (ee->ee_origin == SO_EE_ORIGIN_ICMP ||
		    ee->ee_origin == SO_EE_ORIGIN_ICMP6)
			return ee->ee_errno ? (int)ee->ee_errno : EIO;
	}
	/* an error of another origin (local): not the peer's answer */
	return EAGAIN;
}
