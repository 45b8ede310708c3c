/*
 * test_options.c - option parsing (ranges, garbage, duplicates, case),
 * server negotiation against limits, the OACK list, and the client's
 * OACK check.
 */
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "options.h"

/* Parse a single name=value; returns the resulting options. */
static struct tftp_opts
parse1(const char *name, const char *value)
{
	struct pkt_opt o = { name, value };
	struct tftp_opts t;

	options_init(&t);
	options_parse(&o, 1, &t);
	return t;
}

/* Is name=value accepted, and with which value? */
static int
accepted(const char *name, const char *value, unsigned bit, uint64_t want)
{
	struct tftp_opts t = parse1(name, value);
	uint64_t got;

	if (t.have != bit)
		return 0;
	switch (bit) {
	case OPT_BLKSIZE:
		got = t.blksize;
		break;
	case OPT_TIMEOUT:
		got = t.timeout;
		break;
	case OPT_TSIZE:
		got = t.tsize;
		break;
	case OPT_WINDOWSIZE:
		got = t.windowsize;
		break;
	default:
		got = t.rollover;
		break;
	}
	return got == want;
}

/* Field by field: memcmp would also compare the padding. */
static int
opts_eq(const struct tftp_opts *a, const struct tftp_opts *b)
{
	return a->have == b->have && a->blksize == b->blksize &&
	    a->timeout == b->timeout && a->tsize == b->tsize &&
	    a->windowsize == b->windowsize && a->rollover == b->rollover;
}

/* Ignored: the options stay exactly the defaults. */
static int
rejected(const char *name, const char *value)
{
	struct tftp_opts t = parse1(name, value), d;

	options_init(&d);
	return opts_eq(&t, &d);
}

static void
test_defaults(void)
{
	struct tftp_opts t;

	options_init(&t);
	CHECK_EQ(t.have, 0);
	CHECK_EQ(t.blksize, 512);
	CHECK_EQ(t.timeout, 0);
	CHECK_EQ(t.tsize, 0);
	CHECK_EQ(t.windowsize, 1);
	CHECK_EQ(t.rollover, 0);
}

static void
test_blksize_range(void)
{
	CHECK(rejected("blksize", "7"));
	CHECK(accepted("blksize", "8", OPT_BLKSIZE, 8));
	CHECK(accepted("blksize", "65464", OPT_BLKSIZE, 65464));
	CHECK(rejected("blksize", "65465"));
	CHECK(rejected("blksize", "0"));
	CHECK(accepted("blksize", "1468", OPT_BLKSIZE, 1468));
	CHECK(accepted("blksize", "000512", OPT_BLKSIZE, 512));
}

static void
test_garbage_values(void)
{
	CHECK(rejected("blksize", ""));
	CHECK(rejected("blksize", "abc"));
	CHECK(rejected("blksize", "12x"));
	CHECK(rejected("blksize", "-1"));
	CHECK(rejected("blksize", "+512"));
	CHECK(rejected("blksize", " 512"));
	CHECK(rejected("blksize", "512 "));
	CHECK(rejected("blksize", "0x200"));
	CHECK(rejected("blksize", "1e3"));
	/* Huge: wraps a 32-bit or 64-bit parse if overflow is not caught. */
	CHECK(rejected("blksize", "4294967808"));	/* 2^32 + 512 */
	CHECK(rejected("blksize", "18446744073709552128")); /* 2^64+512 */
	CHECK(rejected("blksize", "99999999999999999999999999999"));
	CHECK(rejected("windowsize", "4294967297"));	/* 2^32 + 1 */
}

static void
test_tsize_range(void)
{
	CHECK(accepted("tsize", "0", OPT_TSIZE, 0));
	CHECK(accepted("tsize", "123456789012", OPT_TSIZE, 123456789012ull));
	CHECK(accepted("tsize", "9223372036854775807", OPT_TSIZE,
	    INT64_MAX));
	CHECK(rejected("tsize", "9223372036854775808"));
	CHECK(rejected("tsize", "18446744073709551615"));
	CHECK(rejected("tsize", "18446744073709551616"));
	CHECK(rejected("tsize", "-1"));
	CHECK(rejected("tsize", ""));
}

static void
test_timeout_window_rollover(void)
{
	CHECK(rejected("timeout", "0"));
	CHECK(accepted("timeout", "1", OPT_TIMEOUT, 1));
	CHECK(accepted("timeout", "255", OPT_TIMEOUT, 255));
	CHECK(rejected("timeout", "256"));
	CHECK(rejected("windowsize", "0"));
	CHECK(accepted("windowsize", "1", OPT_WINDOWSIZE, 1));
	CHECK(accepted("windowsize", "65535", OPT_WINDOWSIZE, 65535));
	CHECK(rejected("windowsize", "65536"));
	CHECK(accepted("rollover", "0", OPT_ROLLOVER, 0));
	CHECK(accepted("rollover", "1", OPT_ROLLOVER, 1));
	CHECK(rejected("rollover", "2"));
}

static void
test_names(void)
{
	CHECK(accepted("BLKSIZE", "1024", OPT_BLKSIZE, 1024));
	CHECK(accepted("BlkSize", "1024", OPT_BLKSIZE, 1024));
	CHECK(accepted("TSIZE", "5", OPT_TSIZE, 5));
	CHECK(accepted("WindowSize", "4", OPT_WINDOWSIZE, 4));
	CHECK(rejected("blksize2", "1024"));
	CHECK(rejected("blk", "1024"));
	CHECK(rejected("", "1024"));
	CHECK(rejected("multicast", ""));
	CHECK(rejected("utimeout", "1000"));
}

static void
test_duplicates(void)
{
	static const struct pkt_opt dup[] = {
		{ "blksize", "1024" },
		{ "BLKSIZE", "2048" },
		{ "blksize", "4096" },
	};
	static const struct pkt_opt bad_first[] = {
		{ "blksize", "abc" },
		{ "blksize", "9999999" },
		{ "blksize", "1428" },
		{ "blksize", "2048" },
	};
	static const struct pkt_opt mixed[] = {
		{ "foo", "bar" },
		{ "tsize", "0" },
		{ "timeout", "5" },
		{ "windowsize", "16" },
		{ "timeout", "7" },
		{ "rollover", "1" },
	};
	struct tftp_opts t;

	options_init(&t);
	options_parse(dup, 3, &t);
	CHECK_EQ(t.have, OPT_BLKSIZE);
	CHECK_EQ(t.blksize, 1024);

	/* The first valid occurrence wins. */
	options_init(&t);
	options_parse(bad_first, 4, &t);
	CHECK_EQ(t.have, OPT_BLKSIZE);
	CHECK_EQ(t.blksize, 1428);

	options_init(&t);
	options_parse(mixed, 6, &t);
	CHECK_EQ(t.have, OPT_TSIZE | OPT_TIMEOUT | OPT_WINDOWSIZE |
	    OPT_ROLLOVER);
	CHECK_EQ(t.tsize, 0);
	CHECK_EQ(t.timeout, 5);
	CHECK_EQ(t.windowsize, 16);
	CHECK_EQ(t.rollover, 1);
	CHECK_EQ(t.blksize, 512);
}

static struct tftp_opts
req_of(unsigned have, unsigned blksize, unsigned windowsize)
{
	struct tftp_opts r;

	options_init(&r);
	r.have = have;
	if (have & OPT_BLKSIZE)
		r.blksize = blksize;
	if (have & OPT_WINDOWSIZE)
		r.windowsize = windowsize;
	return r;
}

/* What became of each option sent: the -v line prints these. */
static void
test_fates(void)
{
	static const struct pkt_opt sent[] = {
		{ "BlkSize", "abc" },		/* malformed: ignored */
		{ "blksize", "1468" },		/* the first valid one */
		{ "blksize", "1024" },		/* repeated */
		{ "foo", "1" },			/* unknown */
		{ "windowsize", "0" },		/* out of range */
		{ "tsize", "0" },
		{ "timeout", "1" },
		{ "timeout", "x" },		/* repeated, not malformed */
	};
	static const unsigned char want[] = { OPT_BAD, OPT_TAKEN,
	    OPT_REPEATED, OPT_UNKNOWN, OPT_BAD, OPT_TAKEN, OPT_TAKEN,
	    OPT_REPEATED };
	unsigned char fate[8];
	struct tftp_opts o, plain;
	size_t i;

	options_init(&o);
	options_parse_fates(sent, 8, &o, fate);
	for (i = 0; i < 8; i++)
		CHECK_EQ(fate[i], want[i]);
	CHECK_EQ(o.blksize, 1468);
	/* the same options as options_parse() */
	options_init(&plain);
	options_parse(sent, 8, &plain);
	CHECK_EQ(o.have, plain.have);
	CHECK_EQ(o.blksize, plain.blksize);
	CHECK_EQ(o.timeout, plain.timeout);
	CHECK_EQ(o.tsize, plain.tsize);
	CHECK_EQ(o.windowsize, plain.windowsize);
	/* names and order, as written in an OACK */
	CHECK_STR(options_name(options_bit(0)), "blksize");
	CHECK_STR(options_name(OPT_WINDOWSIZE), "windowsize");
	CHECK_EQ(options_bit(5), 0);
	CHECK(options_name(0) == NULL);
}

static void
test_negotiate_clamp(void)
{
	struct options_limits nolim = { 0, 0, 0 };
	struct options_limits lim = { 1468, 16, 0 };
	struct tftp_opts r, g;

	/* No limits: granted as asked, up to the protocol maximum. */
	r = req_of(OPT_BLKSIZE | OPT_WINDOWSIZE, 65464, 65535);
	options_negotiate(&r, &nolim, 1, -1, &g);
	CHECK_EQ(g.have, OPT_BLKSIZE | OPT_WINDOWSIZE);
	CHECK_EQ(g.blksize, 65464);
	CHECK_EQ(g.windowsize, 65535);

	/* Limits clamp. */
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.blksize, 1468);
	CHECK_EQ(g.windowsize, 16);

	/* Under the limits: as asked. */
	r = req_of(OPT_BLKSIZE | OPT_WINDOWSIZE, 512, 4);
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.blksize, 512);
	CHECK_EQ(g.windowsize, 4);

	/* A NULL limit means none. */
	r = req_of(OPT_BLKSIZE, 9000, 0);
	options_negotiate(&r, NULL, 0, -1, &g);
	CHECK_EQ(g.have, OPT_BLKSIZE);
	CHECK_EQ(g.blksize, 9000);
	CHECK_EQ(g.windowsize, 1);

	/* Nothing asked: nothing granted, defaults, no OACK. */
	options_init(&r);
	options_negotiate(&r, &lim, 1, 1000, &g);
	CHECK_EQ(g.have, 0);
	CHECK_EQ(g.blksize, 512);
	CHECK_EQ(g.windowsize, 1);
	CHECK_EQ(g.timeout, 0);
	CHECK_EQ(g.tsize, 0);
	CHECK_EQ(g.rollover, 0);
}

static void
test_negotiate_window_bytes(void)
{
	struct options_limits lim = { 0, 0, 65536 };
	struct tftp_opts r, g;

	r = req_of(OPT_BLKSIZE | OPT_WINDOWSIZE, 1468, 64);
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.blksize, 1468);
	CHECK_EQ(g.windowsize, 65536 / 1468);	/* 44 */

	/* Exactly at the bound: untouched. */
	r = req_of(OPT_BLKSIZE | OPT_WINDOWSIZE, 1024, 64);
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.windowsize, 64);

	/* A bound below one block still leaves a window of 1. */
	lim.window_bytes_max = 100;
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.blksize, 1024);
	CHECK_EQ(g.windowsize, 1);

	/* No blksize asked: the window is counted in 512-byte blocks. */
	lim.window_bytes_max = 10000;
	r = req_of(OPT_WINDOWSIZE, 0, 100);
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.have, OPT_WINDOWSIZE);
	CHECK_EQ(g.windowsize, 10000 / 512);

	/* The product does not overflow 32 bits. */
	lim.window_bytes_max = 1;
	lim.windowsize_max = 0;
	r = req_of(OPT_BLKSIZE | OPT_WINDOWSIZE, 65464, 65535);
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.windowsize, 1);
	lim.window_bytes_max = (uint64_t)65464 * 65535;
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.windowsize, 65535);
}

static void
test_negotiate_echo(void)
{
	struct options_limits lim = { 0, 0, 0 };
	struct tftp_opts r, g;

	options_init(&r);
	r.have = OPT_TIMEOUT | OPT_ROLLOVER;
	r.timeout = 3;
	r.rollover = 1;
	options_negotiate(&r, &lim, 1, 100, &g);
	CHECK_EQ(g.have, OPT_TIMEOUT | OPT_ROLLOVER);
	CHECK_EQ(g.timeout, 3);
	CHECK_EQ(g.rollover, 1);

	r.rollover = 0;
	options_negotiate(&r, &lim, 1, 100, &g);
	CHECK_EQ(g.have, OPT_TIMEOUT | OPT_ROLLOVER);
	CHECK_EQ(g.rollover, 0);
}

static void
test_negotiate_tsize(void)
{
	struct options_limits lim = { 0, 0, 0 };
	struct tftp_opts r, g;

	options_init(&r);
	r.have = OPT_TSIZE;
	r.tsize = 0;

	/* RRQ: the real size... */
	options_negotiate(&r, &lim, 1, 123456, &g);
	CHECK_EQ(g.have, OPT_TSIZE);
	CHECK_EQ(g.tsize, 123456);
	/* ...but not for an empty file or an unknown size. */
	options_negotiate(&r, &lim, 1, 0, &g);
	CHECK_EQ(g.have, 0);
	options_negotiate(&r, &lim, 1, -1, &g);
	CHECK_EQ(g.have, 0);

	/* WRQ: echo the announced size, whatever file_size says. */
	r.tsize = 999;
	options_negotiate(&r, &lim, 0, -1, &g);
	CHECK_EQ(g.have, OPT_TSIZE);
	CHECK_EQ(g.tsize, 999);
	r.tsize = 0;
	options_negotiate(&r, &lim, 0, 5, &g);
	CHECK_EQ(g.have, OPT_TSIZE);
	CHECK_EQ(g.tsize, 0);
}

static void
test_to_list(void)
{
	struct tftp_opts o;
	struct opt_text t;
	struct pkt_opt l[5];
	size_t n;

	options_init(&o);
	n = options_to_list(&o, &t, l);
	CHECK_EQ(n, 0);

	/* Set in a scrambled order: the list order is fixed. */
	o.have = OPT_ROLLOVER | OPT_WINDOWSIZE | OPT_TSIZE | OPT_TIMEOUT |
	    OPT_BLKSIZE;
	o.rollover = 1;
	o.windowsize = 65535;
	o.tsize = INT64_MAX;
	o.timeout = 255;
	o.blksize = 8;
	n = options_to_list(&o, &t, l);
	CHECK_EQ(n, 5);
	CHECK_STR(l[0].name, "blksize");
	CHECK_STR(l[0].value, "8");
	CHECK_STR(l[1].name, "timeout");
	CHECK_STR(l[1].value, "255");
	CHECK_STR(l[2].name, "tsize");
	CHECK_STR(l[2].value, "9223372036854775807");
	CHECK_STR(l[3].name, "windowsize");
	CHECK_STR(l[3].value, "65535");
	CHECK_STR(l[4].name, "rollover");
	CHECK_STR(l[4].value, "1");

	o.have = OPT_WINDOWSIZE | OPT_TSIZE;
	o.tsize = 0;
	n = options_to_list(&o, &t, l);
	CHECK_EQ(n, 2);
	CHECK_STR(l[0].name, "tsize");
	CHECK_STR(l[0].value, "0");
	CHECK_STR(l[1].name, "windowsize");
}

/* The list feeds the encoder and reads back through options_parse. */
static void
test_list_roundtrip(void)
{
	struct tftp_opts o, back;
	struct opt_text t;
	struct pkt_opt l[5];
	uint8_t buf[128];
	struct packet p;
	size_t n, len;

	options_init(&o);
	o.have = OPT_BLKSIZE | OPT_TSIZE | OPT_WINDOWSIZE;
	o.blksize = 1468;
	o.tsize = 12;
	o.windowsize = 8;
	n = options_to_list(&o, &t, l);
	len = packet_encode_oack(buf, sizeof(buf), l, n);
	CHECK(len > 0);
	CHECK_EQ(packet_decode(buf, len, &p), 0);
	options_init(&back);
	options_parse(p.opts, p.nopts, &back);
	CHECK(opts_eq(&back, &o));
}

static struct tftp_opts
requested_std(void)
{
	struct tftp_opts r;

	options_init(&r);
	r.have = OPT_BLKSIZE | OPT_TSIZE | OPT_WINDOWSIZE | OPT_TIMEOUT;
	r.blksize = 1468;
	r.tsize = 0;
	r.windowsize = 8;
	r.timeout = 2;
	return r;
}

static void
test_check_oack_ok(void)
{
	static const struct pkt_opt ok[] = {
		{ "blksize", "1468" },
		{ "TSIZE", "12" },
		{ "windowsize", "4" },
		{ "timeout", "9" },
	};
	static const struct pkt_opt smaller[] = {
		{ "blksize", "512" },
	};
	struct tftp_opts r = requested_std(), a;

	CHECK_EQ(options_check_oack(&r, ok, 4, &a), 0);
	CHECK_EQ(a.have, OPT_BLKSIZE | OPT_TSIZE | OPT_WINDOWSIZE |
	    OPT_TIMEOUT);
	CHECK_EQ(a.blksize, 1468);
	CHECK_EQ(a.tsize, 12);
	CHECK_EQ(a.windowsize, 4);
	CHECK_EQ(a.timeout, 9);

	/* Only part of the request granted: the rest stays default. */
	CHECK_EQ(options_check_oack(&r, smaller, 1, &a), 0);
	CHECK_EQ(a.have, OPT_BLKSIZE);
	CHECK_EQ(a.blksize, 512);
	CHECK_EQ(a.windowsize, 1);
	CHECK_EQ(a.timeout, 0);

	/* An empty OACK: all defaults. */
	CHECK_EQ(options_check_oack(&r, NULL, 0, &a), 0);
	CHECK_EQ(a.have, 0);
	CHECK_EQ(a.blksize, 512);
}

static int
oack1(const char *name, const char *value)
{
	struct pkt_opt o = { name, value };
	struct tftp_opts r = requested_std(), a;

	return options_check_oack(&r, &o, 1, &a);
}

static void
test_check_oack_reject(void)
{
	static const struct pkt_opt dup[] = {
		{ "blksize", "1024" },
		{ "BLKSIZE", "1024" },
	};
	struct tftp_opts r = requested_std(), a;

	CHECK_EQ(oack1("rollover", "0"), -1);		/* not requested */
	CHECK_EQ(oack1("foo", "1"), -1);		/* unknown */
	CHECK_EQ(oack1("blksize", "1469"), -1);		/* bigger */
	CHECK_EQ(oack1("blksize", "7"), -1);		/* out of range */
	CHECK_EQ(oack1("blksize", "abc"), -1);
	CHECK_EQ(oack1("blksize", ""), -1);
	CHECK_EQ(oack1("windowsize", "9"), -1);		/* bigger */
	CHECK_EQ(oack1("windowsize", "0"), -1);
	CHECK_EQ(oack1("timeout", "0"), -1);
	CHECK_EQ(oack1("timeout", "256"), -1);
	CHECK_EQ(oack1("tsize", "-5"), -1);
	CHECK_EQ(oack1("tsize", "18446744073709551615"), -1);
	CHECK_EQ(options_check_oack(&r, dup, 2, &a), -1);

	r.have |= OPT_ROLLOVER;
	{
		struct pkt_opt o = { "rollover", "2" };

		CHECK_EQ(options_check_oack(&r, &o, 1, &a), -1);
		o.value = "1";
		CHECK_EQ(options_check_oack(&r, &o, 1, &a), 0);
		CHECK_EQ(a.rollover, 1);
	}

	CHECK_EQ(oack1("blksize", "1468"), 0);
	CHECK_EQ(oack1("tsize", "0"), 0);
}

static void
test_format(void)
{
	struct tftp_opts o;
	char buf[64];
	char small[10];
	size_t i;

	options_init(&o);
	memset(buf, 'z', sizeof(buf));
	options_format(&o, buf, sizeof(buf));
	CHECK_STR(buf, "");

	o.have = OPT_BLKSIZE | OPT_TSIZE | OPT_WINDOWSIZE;
	o.blksize = 1468;
	o.tsize = 12;
	o.windowsize = 8;
	options_format(&o, buf, sizeof(buf));
	CHECK_STR(buf, "blksize=1468 tsize=12 windowsize=8");

	/* Truncated, still terminated, nothing past cap. */
	memset(small, 'z', sizeof(small));
	options_format(&o, small, 6);
	CHECK_STR(small, "blksi");
	for (i = 6; i < sizeof(small); i++)
		CHECK_EQ(small[i], 'z');
	options_format(&o, small, 1);
	CHECK_STR(small, "");
	memset(small, 'z', sizeof(small));
	options_format(&o, small, 0);
	CHECK_EQ(small[0], 'z');
}

int
main(void)
{
	RUN(test_defaults);
	RUN(test_blksize_range);
	RUN(test_garbage_values);
	RUN(test_tsize_range);
	RUN(test_timeout_window_rollover);
	RUN(test_names);
	RUN(test_duplicates);
	RUN(test_fates);
	RUN(test_negotiate_clamp);
	RUN(test_negotiate_window_bytes);
	RUN(test_negotiate_echo);
	RUN(test_negotiate_tsize);
	RUN(test_to_list);
	RUN(test_list_roundtrip);
	RUN(test_check_oack_ok);
	RUN(test_check_oack_reject);
	RUN(test_format);
	return CHECK_EXIT();
}
