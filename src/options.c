/*
 * options.c - RFC 2347 option negotiation: blksize (RFC 2348), timeout
 * and tsize (RFC 2349), windowsize (RFC 7440) and rollover.
 *
 * Pure.  One table (FreeBSD tftp-options.c, OpenBSD strtonum ranges) gives
 * each option its name, bit and legal range; the order of the table is
 * the order options are written in, so OACKs are byte-for-byte stable.
 */
#include <stddef.h>
#include <stdint.h>

#include "options.h"

struct options_def {
	const char	*name;		/* lower case, as we send it */
	unsigned	 bit;		/* OPT_* */
	uint64_t	 min;
	uint64_t	 max;
};

static const struct options_def options_tab[] = {
	{ "blksize", OPT_BLKSIZE, PKT_BLKSIZE_MIN, PKT_BLKSIZE_MAX },
	{ "timeout", OPT_TIMEOUT, OPT_TIMEOUT_MIN, OPT_TIMEOUT_MAX },
	{ "tsize", OPT_TSIZE, 0, INT64_MAX },
	{ "windowsize", OPT_WINDOWSIZE, OPT_WINDOWSIZE_MIN,
	    OPT_WINDOWSIZE_MAX },
	{ "rollover", OPT_ROLLOVER, 0, 1 },
};

#define OPTIONS_N	(sizeof(options_tab) / sizeof(options_tab[0]))

/*
 * ASCII-only case folding: strcasecmp() follows the locale, and a peer's
 * option name must not match differently depending on LC_CTYPE.
 */
static int
options_name_eq(const char *a, const char *lower)
{
	unsigned char c;

	for (; *lower != '\0'; a++, lower++) {
		c = (unsigned char)*a;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)*lower)
			return 0;
	}
	return *a == '\0';
}

static const struct options_def *
options_lookup(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < OPTIONS_N; i++)
		if (options_name_eq(name, options_tab[i].name))
			return &options_tab[i];
	return NULL;
}

/*
 * Plain decimal digits only: no sign, no blanks, no "0x" (strtoull would
 * take all three).  Leading zeros are fine.  Returns -1 on an empty
 * string, a stray character or overflow.
 */
static int
options_parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	unsigned d;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Parse value for def; -1 if malformed or out of range. */
static int
options_value(const struct options_def *def, const char *value,
    uint64_t *out)
{
	uint64_t v;

	if (options_parse_u64(value, &v) < 0)
		return -1;
	if (v < def->min || v > def->max)
		return -1;
	*out = v;
	return 0;
}

/* Values fit: the table ranges keep all but tsize within unsigned. */
static void
options_set(struct tftp_opts *o, unsigned bit, uint64_t v)
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
	case OPT_ROLLOVER:
		o->rollover = (unsigned)v;
		break;
	}
	o->have |= bit;
}

uint64_t
options_get(const struct tftp_opts *o, unsigned bit)
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
	case OPT_ROLLOVER:
		return o->rollover;
	}
	return 0;
}

/*
 * Decimal text of v into buf (cap >= 21).  Hand-rolled so no format
 * string is involved.  Returns the length.
 */
static size_t
options_utoa(uint64_t v, char *buf)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 && n < sizeof(tmp));
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	buf[n] = '\0';
	return n;
}

/*
 * Append s at *off, truncating so that buf (cap >= 1) always stays
 * NUL-terminated.
 */
static void
options_append(char *buf, size_t cap, size_t *off, const char *s)
{
	for (; *s != '\0' && *off + 1 < cap; s++)
		buf[(*off)++] = *s;
	buf[*off] = '\0';
}

void
options_init(struct tftp_opts *o)
{
	o->have = 0;
	o->blksize = PKT_BLKSIZE_DEF;
	o->timeout = 0;
	o->tsize = 0;
	o->windowsize = 1;
	o->rollover = 0;
}

const char *
options_name(unsigned bit)
{
	size_t i;

	for (i = 0; i < OPTIONS_N; i++)
		if (options_tab[i].bit == bit)
			return options_tab[i].name;
	return NULL;
}

unsigned
options_bit(size_t i)
{
	return i < OPTIONS_N ? options_tab[i].bit : 0;
}

void
options_parse_fates(const struct pkt_opt *opts, size_t n, struct tftp_opts *o,
    unsigned char *fate)
{
	const struct options_def *def;
	unsigned char f;
	uint64_t v;
	size_t i;

	for (i = 0; i < n; i++) {
		def = options_lookup(opts[i].name);
		/* The first valid occurrence wins; later ones are ignored. */
		if (def == NULL)
			f = OPT_UNKNOWN;
		else if (o->have & def->bit)
			f = OPT_REPEATED;
		else if (options_value(def, opts[i].value, &v) < 0)
			f = OPT_BAD;
		else {
			options_set(o, def->bit, v);
			f = OPT_TAKEN;
		}
		if (fate != NULL)
			fate[i] = f;
	}
}

void
options_parse(const struct pkt_opt *opts, size_t n, struct tftp_opts *o)
{
	options_parse_fates(opts, n, o, NULL);
}

void
options_negotiate(const struct tftp_opts *req,
    const struct options_limits *lim, int is_rrq, int64_t file_size,
    struct tftp_opts *granted)
{
	unsigned bmax = PKT_BLKSIZE_MAX, wmax = OPT_WINDOWSIZE_MAX;
	uint64_t wbytes = 0, w;

	options_init(granted);
	if (lim != NULL) {
		/* 0 means "no limit of our own"; keep a limit legal. */
		if (lim->blksize_max != 0)
			bmax = lim->blksize_max;
		if (lim->windowsize_max != 0)
			wmax = lim->windowsize_max;
		wbytes = lim->window_bytes_max;
	}
	if (bmax > PKT_BLKSIZE_MAX)
		bmax = PKT_BLKSIZE_MAX;
	if (bmax < PKT_BLKSIZE_MIN)
		bmax = PKT_BLKSIZE_MIN;
	if (wmax > OPT_WINDOWSIZE_MAX)
		wmax = OPT_WINDOWSIZE_MAX;
	if (wmax < OPT_WINDOWSIZE_MIN)
		wmax = OPT_WINDOWSIZE_MIN;

	/* Clamp rather than refuse: a smaller answer is legal (RFC 2348). */
	if (req->have & OPT_BLKSIZE)
		options_set(granted, OPT_BLKSIZE,
		    req->blksize < bmax ? req->blksize : bmax);
	if (req->have & OPT_WINDOWSIZE) {
		w = req->windowsize < wmax ? req->windowsize : wmax;
		/*
		 * Bound the bytes in flight per window; granted->blksize is
		 * 512 here when blksize was not asked for.
		 */
		if (wbytes != 0 && (uint64_t)granted->blksize * w > wbytes) {
			w = wbytes / granted->blksize;
			if (w < 1)
				w = 1;
		}
		options_set(granted, OPT_WINDOWSIZE, w);
	}
	if (req->have & OPT_TIMEOUT)
		options_set(granted, OPT_TIMEOUT, req->timeout);
	if (req->have & OPT_ROLLOVER)
		options_set(granted, OPT_ROLLOVER, req->rollover);
	if (req->have & OPT_TSIZE) {
		/*
		 * RRQ: answer with the real size, and leave tsize out when it
		 * is unknown or 0 (curl 7.88 rejects "tsize 0").  WRQ: echo
		 * the size the client announced (RFC 2349).
		 */
		if (!is_rrq)
			options_set(granted, OPT_TSIZE, req->tsize);
		else if (file_size > 0)
			options_set(granted, OPT_TSIZE, (uint64_t)file_size);
	}
}

size_t
options_to_list(const struct tftp_opts *o, struct opt_text *t,
    struct pkt_opt *out)
{
	size_t i, n = 0;

	for (i = 0; i < OPTIONS_N; i++) {
		if (!(o->have & options_tab[i].bit))
			continue;
		options_utoa(options_get(o, options_tab[i].bit), t->value[i]);
		out[n].name = options_tab[i].name;
		out[n].value = t->value[i];
		n++;
	}
	return n;
}

int
options_check_oack(const struct tftp_opts *requested,
    const struct pkt_opt *opts, size_t n, struct tftp_opts *accepted)
{
	const struct options_def *def;
	uint64_t v;
	size_t i;

	options_init(accepted);
	for (i = 0; i < n; i++) {
		def = options_lookup(opts[i].name);
		/* RFC 2347: the server must not answer what was not asked. */
		if (def == NULL || !(requested->have & def->bit))
			return -1;
		if (accepted->have & def->bit)
			return -1;
		if (options_value(def, opts[i].value, &v) < 0)
			return -1;
		/* The server may lower blksize and windowsize, never raise. */
		if (def->bit == OPT_BLKSIZE && v > requested->blksize)
			return -1;
		if (def->bit == OPT_WINDOWSIZE && v > requested->windowsize)
			return -1;
		/*
		 * RFC 2349 wants timeout echoed exactly; any legal value is
		 * accepted since it only sets the server's own retransmit.
		 */
		options_set(accepted, def->bit, v);
	}
	return 0;
}

void
options_format(const struct tftp_opts *o, char *buf, size_t cap)
{
	char num[24];
	size_t i, off = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < OPTIONS_N; i++) {
		if (!(o->have & options_tab[i].bit))
			continue;
		options_utoa(options_get(o, options_tab[i].bit), num);
		if (off > 0)
			options_append(buf, cap, &off, " ");
		options_append(buf, cap, &off, options_tab[i].name);
		options_append(buf, cap, &off, "=");
		options_append(buf, cap, &off, num);
	}
}
