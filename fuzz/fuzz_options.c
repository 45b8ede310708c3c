/*
 * fuzz_options.c - option parsing, server negotiation, the OACK round
 * trip and the client's OACK check, against a reference written here.
 *
 * Input:
 *	[0..1]	limits.blksize_max		(big-endian)
 *	[2..3]	limits.windowsize_max
 *	[4..6]	limits.window_bytes_max
 *	[7]	bit 0: is_rrq; bits 1-2: file size 0 / -1 / [8..11] / huge;
 *		bits 3-7: the OPT_* bits the client "requested" for
 *		options_check_oack()
 *	[8..11]	file size
 *	[12..13] requested blksize, [14..15] requested windowsize
 *	[16..]	one datagram; RRQ, WRQ and OACK go on, others stop here
 */
#include <string.h>

#include "fuzz.h"
#include "options.h"

#define HDR	16

struct ref_def {
	const char	*name;
	unsigned	 bit;
	uint64_t	 min, max;
};

/* Written from options.h and the RFCs, not copied from options.c. */
static const struct ref_def ref_tab[] = {
	{ "blksize", OPT_BLKSIZE, 8, 65464 },
	{ "timeout", OPT_TIMEOUT, 1, 255 },
	{ "tsize", OPT_TSIZE, 0, INT64_MAX },
	{ "windowsize", OPT_WINDOWSIZE, 1, 65535 },
	{ "rollover", OPT_ROLLOVER, 0, 1 },
};

#define REF_N	(sizeof(ref_tab) / sizeof(ref_tab[0]))

static const struct ref_def *
ref_lookup(const char *name)
{
	size_t i, k;
	unsigned char c;

	for (i = 0; i < REF_N; i++) {
		for (k = 0; ; k++) {
			c = (unsigned char)name[k];
			if (c >= 'A' && c <= 'Z')
				c = (unsigned char)(c + 32);
			if (c != (unsigned char)ref_tab[i].name[k])
				break;
			if (c == '\0')
				return &ref_tab[i];
		}
	}
	return NULL;
}

/* Decimal digits only, no overflow, inside the range. */
static int
ref_value(const struct ref_def *d, const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v < d->min || v > d->max)
		return -1;
	*out = v;
	return 0;
}

static uint64_t
get_opt(const struct tftp_opts *o, unsigned bit)
{
	switch (bit) {
	case OPT_BLKSIZE:
		return o->blksize;
	case OPT_TIMEOUT:
		return o->timeout;
	case OPT_TSIZE:
		return o->tsize;
	case OPT_WINDOWSIZE:
		return o->windowsize;
	default:
		return o->rollover;
	}
}

static void
set_opt(struct tftp_opts *o, unsigned bit, uint64_t v)
{
	switch (bit) {
	case OPT_BLKSIZE:
		o->blksize = (unsigned)v;
		break;
	case OPT_TIMEOUT:
		o->timeout = (unsigned)v;
		break;
	case OPT_TSIZE:
		o->tsize = v;
		break;
	case OPT_WINDOWSIZE:
		o->windowsize = (unsigned)v;
		break;
	default:
		o->rollover = (unsigned)v;
		break;
	}
	o->have |= bit;
}

static void
ref_init(struct tftp_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->blksize = 512;
	o->windowsize = 1;
}

/* options_parse(): unknown, malformed, out of range: ignored; first wins */
static void
ref_parse(const struct pkt_opt *opts, size_t n, struct tftp_opts *o)
{
	const struct ref_def *d;
	uint64_t v;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((d = ref_lookup(opts[i].name)) == NULL ||
		    (o->have & d->bit) || ref_value(d, opts[i].value, &v) < 0)
			continue;
		set_opt(o, d->bit, v);
	}
}

/* options_check_oack() as options.h describes it. */
static int
ref_check_oack(const struct tftp_opts *req, const struct pkt_opt *opts,
    size_t n, struct tftp_opts *acc)
{
	const struct ref_def *d;
	uint64_t v;
	size_t i;

	ref_init(acc);
	for (i = 0; i < n; i++) {
		if ((d = ref_lookup(opts[i].name)) == NULL ||
		    !(req->have & d->bit) || (acc->have & d->bit) ||
		    ref_value(d, opts[i].value, &v) < 0)
			return -1;
		if (d->bit == OPT_BLKSIZE && v > req->blksize)
			return -1;
		if (d->bit == OPT_WINDOWSIZE && v > req->windowsize)
			return -1;
		set_opt(acc, d->bit, v);
	}
	return 0;
}

static void
check_same_opts(const struct tftp_opts *a, const struct tftp_opts *b)
{
	size_t i;

	FUZZ_CHECK(a->have == b->have);
	/* absent ones must hold the RFC 1350 defaults on both sides */
	for (i = 0; i < REF_N; i++)
		FUZZ_CHECK(get_opt(a, ref_tab[i].bit) ==
		    get_opt(b, ref_tab[i].bit));
}

static void
check_negotiated(const struct tftp_opts *req, const struct options_limits *lim,
    int is_rrq, int64_t fsize, const struct tftp_opts *g)
{
	uint64_t bmax = lim->blksize_max ? lim->blksize_max : 65464;
	uint64_t wmax = lim->windowsize_max ? lim->windowsize_max : 65535;
	uint64_t b, w;

	if (bmax > 65464)
		bmax = 65464;
	if (bmax < 8)
		bmax = 8;
	if (wmax > 65535)
		wmax = 65535;
	if (wmax < 1)
		wmax = 1;
	/* nothing granted that was not asked */
	FUZZ_CHECK((g->have & ~req->have) == 0);
	if (req->have & OPT_BLKSIZE) {
		b = req->blksize < bmax ? req->blksize : bmax;
		FUZZ_CHECK(g->have & OPT_BLKSIZE);
		FUZZ_CHECK(g->blksize == b);
	} else
		FUZZ_CHECK(g->blksize == 512);
	FUZZ_CHECK(g->blksize >= 8 && g->blksize <= 65464);
	if (req->have & OPT_WINDOWSIZE) {
		FUZZ_CHECK(g->have & OPT_WINDOWSIZE);
		w = req->windowsize < wmax ? req->windowsize : wmax;
		FUZZ_CHECK(g->windowsize >= 1 && g->windowsize <= w);
		/* lowered only to respect the byte budget, and only so far */
		if (lim->window_bytes_max == 0 ||
		    (uint64_t)g->blksize * w <= lim->window_bytes_max)
			FUZZ_CHECK(g->windowsize == w);
		else if (g->windowsize > 1)
			FUZZ_CHECK((uint64_t)g->blksize * g->windowsize <=
			    lim->window_bytes_max &&
			    (uint64_t)g->blksize * (g->windowsize + 1) >
			    lim->window_bytes_max);
	} else
		FUZZ_CHECK(g->windowsize == 1);
	FUZZ_CHECK(!!(g->have & OPT_TIMEOUT) == !!(req->have & OPT_TIMEOUT));
	FUZZ_CHECK(g->timeout == req->timeout);
	FUZZ_CHECK(!!(g->have & OPT_ROLLOVER) == !!(req->have & OPT_ROLLOVER));
	FUZZ_CHECK(g->rollover == req->rollover);
	if (!(req->have & OPT_TSIZE))
		FUZZ_CHECK(!(g->have & OPT_TSIZE) && g->tsize == 0);
	else if (!is_rrq)
		FUZZ_CHECK((g->have & OPT_TSIZE) && g->tsize == req->tsize);
	else if (fsize > 0)
		FUZZ_CHECK((g->have & OPT_TSIZE) &&
		    g->tsize == (uint64_t)fsize);
	else
		FUZZ_CHECK(!(g->have & OPT_TSIZE) && g->tsize == 0);
}

/* The OACK for g, sent and read back by a client that asked for req. */
static void
check_oack_round_trip(const struct tftp_opts *req, const struct tftp_opts *g)
{
	struct opt_text t;
	struct pkt_opt list[8];
	struct tftp_opts acc, parsed;
	struct packet p;
	uint8_t *buf;
	size_t n, len, i, cap = 2;
	unsigned bits = 0;

	n = options_to_list(g, &t, list);
	FUZZ_CHECK(n <= REF_N);
	for (i = 0; i < n; i++) {
		const struct ref_def *d = ref_lookup(list[i].name);

		/* lower case, fixed order, each once, what g has */
		FUZZ_CHECK(d != NULL && strcmp(d->name, list[i].name) == 0);
		FUZZ_CHECK(i == 0 || ref_lookup(list[i - 1].name) < d);
		FUZZ_CHECK(g->have & d->bit);
		bits |= d->bit;
		cap += strlen(list[i].name) + strlen(list[i].value) + 2;
	}
	FUZZ_CHECK(bits == g->have);

	if ((buf = malloc(cap)) == NULL)
		abort();
	len = packet_encode_oack(buf, cap, list, n);
	FUZZ_CHECK(len == cap);
	FUZZ_CHECK(packet_decode(buf, len, &p) == 0);
	FUZZ_CHECK(p.op == TFTP_OACK && p.nopts == n);
	options_init(&parsed);
	options_parse(p.opts, p.nopts, &parsed);
	check_same_opts(&parsed, g);
	/* what the server grants, the requesting client accepts */
	FUZZ_CHECK(options_check_oack(req, p.opts, p.nopts, &acc) == 0);
	check_same_opts(&acc, g);
	free(buf);
}

/* options_format() into every small cap: NUL-terminated, a prefix. */
static void
check_format(const struct tftp_opts *o)
{
	char full[256], want[256], num[32], one = 'X', *b;
	size_t cap, i, off = 0, len;

	want[0] = '\0';
	for (i = 0; i < REF_N; i++) {
		if (!(o->have & ref_tab[i].bit))
			continue;
		snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)get_opt(o, ref_tab[i].bit));
		off += (size_t)snprintf(want + off, sizeof(want) - off,
		    "%s%s=%s", off ? " " : "", ref_tab[i].name, num);
	}
	options_format(o, full, sizeof(full));
	FUZZ_CHECK(strcmp(full, want) == 0);
	len = strlen(full);
	options_format(o, &one, 0);		/* cap 0: must not touch buf */
	FUZZ_CHECK(one == 'X');
	for (cap = 1; cap <= len + 2; cap++) {
		if ((b = malloc(cap)) == NULL)
			abort();
		memset(b, 'X', cap);
		options_format(o, b, cap);
		FUZZ_CHECK(memchr(b, 0, cap) != NULL);
		FUZZ_CHECK(strlen(b) == (len < cap - 1 ? len : cap - 1));
		FUZZ_CHECK(strncmp(b, full, strlen(b)) == 0);
		free(b);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct options_limits lim;
	struct tftp_opts req, ref, g, creq, acc, racc;
	struct packet p;
	int64_t fsize;
	int is_rrq, r;

	if (size < HDR)
		return 0;
	if (packet_decode(data + HDR, size - HDR, &p) < 0)
		return 0;
	if (p.op != TFTP_RRQ && p.op != TFTP_WRQ && p.op != TFTP_OACK)
		return 0;

	memset(&lim, 0, sizeof(lim));
	lim.blksize_max = get_be16(data);
	lim.windowsize_max = get_be16(data + 2);
	lim.window_bytes_max = (uint64_t)data[4] << 16 |
	    (uint64_t)data[5] << 8 | data[6];
	is_rrq = data[7] & 1;
	switch ((data[7] >> 1) & 3) {
	case 0:
		fsize = 0;
		break;
	case 1:
		fsize = -1;
		break;
	case 2:
		fsize = (int64_t)((uint32_t)data[8] << 24 |
		    (uint32_t)data[9] << 16 | (uint32_t)data[10] << 8 |
		    data[11]);
		break;
	default:
		fsize = INT64_MAX - data[11];
		break;
	}

	/* parse, against the reference */
	options_init(&req);
	options_parse(p.opts, p.nopts, &req);
	ref_init(&ref);
	ref_parse(p.opts, p.nopts, &ref);
	check_same_opts(&req, &ref);

	/* negotiate, check the grant, send it as an OACK and read it back */
	options_negotiate(&req, &lim, is_rrq, fsize, &g);
	check_negotiated(&req, &lim, is_rrq, fsize, &g);
	check_oack_round_trip(&req, &g);
	/* with no limits at all */
	options_negotiate(&req, NULL, is_rrq, fsize, &g);
	check_negotiated(&req, &(struct options_limits){ 0, 0, 0 }, is_rrq,
	    fsize, &g);
	check_oack_round_trip(&req, &g);

	/* this datagram's options as the OACK to a request made here */
	ref_init(&creq);
	creq.have = (unsigned)data[7] >> 3;
	creq.blksize = get_be16(data + 12);
	creq.windowsize = get_be16(data + 14);
	creq.timeout = data[8];
	creq.tsize = data[9];
	creq.rollover = data[10] & 1;
	r = options_check_oack(&creq, p.opts, p.nopts, &acc);
	FUZZ_CHECK(r == ref_check_oack(&creq, p.opts, p.nopts, &racc));
	FUZZ_CHECK(r == 0 || r == -1);
	if (r == 0)
		check_same_opts(&acc, &racc);

	check_format(&req);
	check_format(&g);
	if (r == 0)
		check_format(&acc);
	return 0;
}
