/*
 * test_quirks.c - U-Boot's request shape and the memory of hosts whose
 * NIC drops bursts (src/quirks.c, doc/notes/uboot-e1000.md).
 */
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "quirks.h"

/* A request of mode octet with the option names given, in that order. */
static struct packet
req(const char *mode, const char *const *names, size_t n)
{
	struct packet p;
	size_t i;

	memset(&p, 0, sizeof(p));
	p.op = TFTP_RRQ;
	p.filename = "uImage";
	p.mode = mode;
	for (i = 0; i < n; i++) {
		p.opts[i].name = names[i];
		p.opts[i].value = "1";
	}
	p.nopts = n;
	return p;
}

static struct dedup_key
host(uint8_t last, uint16_t port)
{
	struct dedup_key k;

	memset(&k, 0, sizeof(k));
	k.family = 4;
	k.addr[15] = last;
	k.port = port;
	return k;
}

static void
test_uboot_shape(void)
{
	static const char *const uboot[] = { "timeout", "tsize", "blksize",
	    "windowsize" };
	static const char *const uboot_short[] = { "timeout", "blksize" };
	static const char *const hpa[] = { "blksize", "timeout", "tsize" };
	static const char *const order[] = { "timeout", "windowsize",
	    "blksize" };
	static const char *const extra[] = { "timeout", "blksize", "foo" };
	struct packet p;

	p = req("octet", uboot, 4);
	CHECK_EQ(quirks_uboot_like(&p), 1);
	p = req("octet", uboot_short, 2);
	CHECK_EQ(quirks_uboot_like(&p), 1);
	p = req("netascii", uboot, 4);
	CHECK_EQ(quirks_uboot_like(&p), 0);
	p = req("octet", hpa, 3);
	CHECK_EQ(quirks_uboot_like(&p), 0);
	p = req("octet", order, 3);
	CHECK_EQ(quirks_uboot_like(&p), 0);
	p = req("octet", extra, 3);
	CHECK_EQ(quirks_uboot_like(&p), 0);
	p = req("octet", uboot, 1);		/* timeout alone */
	CHECK_EQ(quirks_uboot_like(&p), 0);
}

/* A finished windowed download as xfer left it. */
static struct xfer
download(unsigned window, uint64_t data, uint64_t tails, uint64_t gaps,
    int burst_narrowed)
{
	struct xfer x;

	memset(&x, 0, sizeof(x));
	x.opts.windowsize = window;
	x.st.data_sent = data;
	x.st.tails = tails;
	x.st.gaps = gaps;
	x.st.burst_narrowed = burst_narrowed;
	return x;
}

static void
test_host_memory(void)
{
	static const char *const uboot[] = { "timeout", "blksize",
	    "windowsize" };
	static const char *const other[] = { "blksize", "windowsize" };
	struct quirks q;
	struct dedup_key a = host(1, 1000), a2 = host(1, 2000);
	struct dedup_key b = host(2, 1000);
	struct xfer x;
	struct xfer_cfg c;
	struct packet p = req("octet", uboot, 3), po = req("octet", other, 2);
	uint64_t now = 5000000;
	const char *why;

	memset(&q, 0, sizeof(q));
	/* random loss: tails, but more gap ACKs; and too few tails */
	x = download(8, 8000, 40, 60, 0);
	quirks_note(&q, &a, &x, now);
	x = download(8, 8000, 7, 0, 0);
	quirks_note(&q, &a, &x, now);
	memset(&c, 0, sizeof(c));
	c.opts.have = OPT_WINDOWSIZE;
	c.opts.windowsize = 8;
	CHECK(quirks_adjust(&q, &a2, &po, &c, now) == NULL);
	CHECK_EQ(c.opts.windowsize, 8);
	CHECK_EQ(c.oack_burst, 0);
	/* a U-Boot request gets the burst, whatever its host */
	CHECK(quirks_adjust(&q, &b, &p, &c, now) == NULL);
	CHECK_EQ(c.oack_burst, QUIRKS_BURST);
	/* 20 of 1001 windows lost their tails: under 2 %, not enough */
	x = download(8, 8000, 20, 3, 0);
	quirks_note(&q, &a, &x, now);
	CHECK(quirks_adjust(&q, &a2, &po, &c, now + 1) == NULL);
	/* 21 of them: 2 % */
	x = download(8, 8000, 21, 3, 0);
	quirks_note(&q, &a, &x, now);
	c.oack_burst = 0;
	why = quirks_adjust(&q, &a2, &po, &c, now + 1);
	CHECK(why != NULL &&
	    strcmp(why, "this host's windows lost their tails lately") == 0);
	CHECK_EQ(c.opts.windowsize, 1);
	/* another host keeps its window */
	c.opts.windowsize = 8;
	CHECK(quirks_adjust(&q, &b, &po, &c, now + 1) == NULL);
	CHECK_EQ(c.opts.windowsize, 8);
	/* the OACK burst's verdict, and it is forgotten after ten minutes */
	x = download(1, 100, 0, 0, 1);
	quirks_note(&q, &b, &x, now);
	why = quirks_adjust(&q, &b, &po, &c, now + QUIRKS_KEEP_US - 1);
	CHECK(why != NULL && strcmp(why, "this host's NIC dropped "
	    "back-to-back packets lately") == 0);
	c.opts.windowsize = 8;
	CHECK(quirks_adjust(&q, &b, &po, &c, now + QUIRKS_KEEP_US) == NULL);
	CHECK_EQ(c.opts.windowsize, 8);
}

/* A flood of hosts: the ring forgets the oldest, never grows. */
static void
test_ring_bounded(void)
{
	static const char *const other[] = { "blksize", "windowsize" };
	struct packet po = req("octet", other, 2);
	struct quirks q;
	struct dedup_key k;
	struct xfer x = download(1, 10, 0, 0, 1);
	struct xfer_cfg c;
	unsigned i;

	memset(&q, 0, sizeof(q));
	for (i = 0; i < QUIRKS_HOSTS + 10; i++) {
		k = host((uint8_t)i, 7);
		quirks_note(&q, &k, &x, 1000);
	}
	memset(&c, 0, sizeof(c));
	c.opts.have = OPT_WINDOWSIZE;
	c.opts.windowsize = 4;
	k = host(3, 9);				/* overwritten */
	CHECK(quirks_adjust(&q, &k, &po, &c, 2000) == NULL);
	k = host(QUIRKS_HOSTS + 5, 9);		/* recent */
	CHECK(quirks_adjust(&q, &k, &po, &c, 2000) != NULL);
}

int
main(void)
{
	RUN(test_uboot_shape);
	RUN(test_host_memory);
	RUN(test_ring_bounded);
	return CHECK_EXIT();
}
