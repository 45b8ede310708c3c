/*
 * neigh.c - a neighbour's MAC address from the kernel's neighbour table,
 * asked over a NETLINK_ROUTE socket with RTM_GETNEIGH.
 *
 * With an interface: the get-one form, an ndmsg with the interface and
 * one NDA_DST, answered by one RTM_NEWNEIGH or ENOENT (Linux 5.0 and
 * later).  The kernel checks such a request strictly whether or not the
 * socket asked for it (NETLINK_GET_STRICT_CHK), so the header's other
 * fields are zero and NDA_DST is the only attribute.  Without an
 * interface, or on a kernel without the get form (EOPNOTSUPP): a dump of
 * the family's table, filtered by an NDA_IFINDEX attribute (a strict
 * dump wants the header's ifindex 0).  Every entry is checked here too
 * (family, interface, address), so a kernel that ignores the filter
 * gives the same answer.  No NETLINK_GET_STRICT_CHK: neither form needs
 * it, and it would cost a system call a lookup.
 *
 * A socket a lookup, closed before returning.  A lookup is one per
 * request, beside the dozens of system calls a transfer makes, and a
 * fresh socket carries nothing over from the last one: no late answer
 * to skip, no dump left half-read (the kernel refuses a new dump on a
 * socket whose dump is unfinished, EBUSY, and a dump is abandoned as
 * soon as the entry is found).  The price: a lookup needs a free fd;
 * without one it fails (-1, EMFILE) and the caller serves the shared
 * root.  The seccomp filter (service.c) already allows what it calls:
 * socket, setsockopt, sendto, recvmsg, close.
 */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "neigh.h"

#define NEIGH_WAIT_MS	100	/* for any one answer, and for them all */
#define NEIGH_PARTS	256	/* datagrams of a dump read at most */
/*
 * A dump's datagram is at most 8 KiB (NLMSG_GOODSIZE, or the size of an
 * earlier read); twice that, so that none is ever cut.
 */
#define NEIGH_RXBUF	16384
/* the states with a usable address: the kernel's NUD_VALID (not uapi) */
#define NEIGH_VALID	(NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | \
			 NUD_PROBE | NUD_STALE | NUD_DELAY)

/* What is looked up: the address as the kernel keys it, where. */
struct neigh_key {
	uint8_t		family;		/* AF_INET, AF_INET6 */
	uint8_t		len;		/* 4, 16 */
	uint8_t		addr[16];
	int		ifindex;	/* 0: any */
};

enum neigh_form { NEIGH_GET = 1, NEIGH_DUMP = 2 };	/* also the seq */

void
neigh_format(const uint8_t mac[6], char out[NEIGH_MACSTR])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	int i;

	for (i = 0; i < 6; i++) {
		*p++ = hex[mac[i] >> 4];
		*p++ = hex[mac[i] & 15];
		*p++ = '-';
	}
	p[-1] = '\0';
}

static int
key_of(const struct sockaddr_storage *ss, int ifindex, struct neigh_key *k)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	memset(k, 0, sizeof(*k));
	k->ifindex = ifindex > 0 ? ifindex : 0;
	if (ss->ss_family == AF_INET) {
		memcpy(&s4, ss, sizeof(s4));
		k->family = AF_INET;
		k->len = 4;
		memcpy(k->addr, &s4.sin_addr, 4);
		return 0;
	}
	if (ss->ss_family != AF_INET6)
		return -1;
	memcpy(&s6, ss, sizeof(s6));
	if (IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr)) {
		/* a dual-stack socket's IPv4 client: in the ARP table */
		k->family = AF_INET;
		k->len = 4;
		memcpy(k->addr, &s6.sin6_addr.s6_addr[12], 4);
		return 0;
	}
	k->family = AF_INET6;
	k->len = 16;
	memcpy(k->addr, &s6.sin6_addr, 16);
	if (k->ifindex == 0 && IN6_IS_ADDR_LINKLOCAL(&s6.sin6_addr))
		k->ifindex = (int)s6.sin6_scope_id;
	return 0;
}

static int
nl_open(void)
{
	struct timeval tv = { 0, NEIGH_WAIT_MS * 1000L };
	int fd, e;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Attribute type holding len bytes at off of buf; the offset after it. */
static size_t
put_attr(uint8_t *buf, size_t off, unsigned short type, const void *data,
    size_t len)
{
	struct rtattr a;

	a.rta_len = (unsigned short)RTA_LENGTH(len);
	a.rta_type = type;
	memcpy(buf + off, &a, sizeof(a));
	memcpy(buf + off + RTA_LENGTH(0), data, len);
	return off + RTA_SPACE(len);
}

/* Send the request of form for k. */
static int
ask(int fd, const struct neigh_key *k, enum neigh_form form)
{
	uint8_t req[NLMSG_SPACE(sizeof(struct ndmsg)) + RTA_SPACE(16)];
	struct sockaddr_nl to;
	struct nlmsghdr nh;
	struct ndmsg ndm;
	uint32_t ifx;
	size_t off;

	memset(req, 0, sizeof(req));
	memset(&ndm, 0, sizeof(ndm));
	ndm.ndm_family = k->family;
	off = NLMSG_SPACE(sizeof(ndm));
	if (form == NEIGH_GET) {
		ndm.ndm_ifindex = k->ifindex;
		off = put_attr(req, off, NDA_DST, k->addr, k->len);
	} else if (k->ifindex > 0) {
		ifx = (uint32_t)k->ifindex;
		off = put_attr(req, off, NDA_IFINDEX, &ifx, sizeof(ifx));
	}
	memset(&nh, 0, sizeof(nh));
	nh.nlmsg_len = (uint32_t)off;
	nh.nlmsg_type = RTM_GETNEIGH;
	nh.nlmsg_flags = NLM_F_REQUEST | (form == NEIGH_DUMP ? NLM_F_DUMP : 0);
	nh.nlmsg_seq = form;
	memcpy(req, &nh, sizeof(nh));
	memcpy(req + NLMSG_HDRLEN, &ndm, sizeof(ndm));
	memset(&to, 0, sizeof(to));
	to.nl_family = AF_NETLINK;
	if (sendto(fd, req, off, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -1;
	return 0;
}

/*
 * One RTM_NEWNEIGH message of len bytes at m: 0 with its address in mac
 * when it is k's entry and usable, else -1.
 */
static int
entry(const uint8_t *m, size_t len, const struct neigh_key *k,
    uint8_t mac[6])
{
	static const uint8_t zero[6];
	const uint8_t *dst = NULL, *ll = NULL;
	size_t off, dlen = 0, llen = 0, alen;
	struct ndmsg ndm;
	struct rtattr a;

	if (len < NLMSG_LENGTH(sizeof(ndm)))
		return -1;
	memcpy(&ndm, m + NLMSG_HDRLEN, sizeof(ndm));
	if (ndm.ndm_family != k->family ||
	    (k->ifindex > 0 && ndm.ndm_ifindex != k->ifindex) ||
	    (ndm.ndm_state & NEIGH_VALID) == 0)
		return -1;
	for (off = NLMSG_SPACE(sizeof(ndm)); off + sizeof(a) <= len;
	    off += RTA_ALIGN(a.rta_len)) {
		memcpy(&a, m + off, sizeof(a));
		if (a.rta_len < sizeof(a) || a.rta_len > len - off)
			return -1;
		alen = a.rta_len - RTA_LENGTH(0);
		if ((a.rta_type & NLA_TYPE_MASK) == NDA_DST) {
			dst = m + off + RTA_LENGTH(0);
			dlen = alen;
		} else if ((a.rta_type & NLA_TYPE_MASK) == NDA_LLADDR) {
			ll = m + off + RTA_LENGTH(0);
			llen = alen;
		}
	}
	if (dst == NULL || dlen != k->len || memcmp(dst, k->addr, dlen) != 0)
		return -1;
	if (ll == NULL || llen != 6 || memcmp(ll, zero, 6) == 0)
		return -1;
	memcpy(mac, ll, 6);
	return 0;
}

/*
 * The messages of one datagram (n bytes at b) answering form: 0 found,
 * -1 with errno (ENOENT: the answer is over without the entry), 1 when
 * the answer goes on in the next datagram.
 */
static int
walk(const uint8_t *b, size_t n, const struct neigh_key *k,
    enum neigh_form form, uint8_t mac[6])
{
	struct nlmsgerr ne;
	struct nlmsghdr nh;
	size_t off;

	for (off = 0; off + sizeof(nh) <= n; off += NLMSG_ALIGN(nh.nlmsg_len)) {
		memcpy(&nh, b + off, sizeof(nh));
		if (nh.nlmsg_len < sizeof(nh) || nh.nlmsg_len > n - off) {
			errno = EPROTO;
			return -1;
		}
		if (nh.nlmsg_seq != (uint32_t)form)
			continue;		/* not the answer to this */
		if (nh.nlmsg_type == NLMSG_DONE) {
			errno = ENOENT;
			return -1;
		}
		if (nh.nlmsg_type == NLMSG_ERROR) {
			if (nh.nlmsg_len < NLMSG_LENGTH(sizeof(ne))) {
				errno = EPROTO;
				return -1;
			}
			memcpy(&ne, b + off + NLMSG_HDRLEN, sizeof(ne));
			/* 0 is an acknowledgement: no entry came before it */
			errno = ne.error < 0 ? -ne.error : ENOENT;
			return -1;
		}
		if (nh.nlmsg_type == RTM_NEWNEIGH &&
		    entry(b + off, nh.nlmsg_len, k, mac) == 0)
			return 0;
		if ((nh.nlmsg_flags & NLM_F_MULTI) == 0) {
			/* the get form's one answer, not usable */
			errno = ENOENT;
			return -1;
		}
	}
	return 1;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ask in form and read the answer until it tells; by deadline (ms). */
static int
lookup(int fd, const struct neigh_key *k, enum neigh_form form,
    int64_t deadline, uint8_t mac[6])
{
	union {
		struct nlmsghdr	nh;		/* for the alignment */
		uint8_t		b[NEIGH_RXBUF];
	} rx;
	struct sockaddr_nl from;
	struct msghdr msg;
	struct iovec iov;
	ssize_t n;
	int parts, r;

	if (ask(fd, k, form) < 0)
		return -1;
	for (parts = 0; parts < NEIGH_PARTS; parts++) {
		if (now_ms() > deadline) {
			errno = EAGAIN;
			return -1;
		}
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = rx.b;
		iov.iov_len = sizeof(rx.b);
		msg.msg_name = &from;
		msg.msg_namelen = sizeof(from);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		n = recvmsg(fd, &msg, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;		/* EAGAIN: SO_RCVTIMEO */
		if (msg.msg_flags & MSG_TRUNC) {
			errno = EMSGSIZE;
			return -1;
		}
		if (from.nl_pid != 0)
			continue;		/* not from the kernel */
		r = walk(rx.b, (size_t)n, k, form, mac);
		if (r <= 0)
			return r;
	}
	errno = E2BIG;
	return -1;
}

int
neigh_mac(int ifindex, const struct sockaddr_storage *addr, uint8_t mac[6])
{
	int64_t deadline = now_ms() + NEIGH_WAIT_MS;
	struct neigh_key k;
	int fd, r, e;

	if (key_of(addr, ifindex, &k) < 0) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	fd = nl_open();
	if (fd < 0)
		return -1;
	if (k.ifindex > 0) {
		r = lookup(fd, &k, NEIGH_GET, deadline, mac);
		/* EOPNOTSUPP: no get form (before Linux 5.0); dump instead */
		if (r == 0 || (errno != EOPNOTSUPP && errno != EINVAL))
			goto out;
	}
	r = lookup(fd, &k, NEIGH_DUMP, deadline, mac);
out:
	e = errno;
	close(fd);
	errno = e;
	return r;
}
