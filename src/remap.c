/*
 * remap.c - tftpd-hpa's filename remapping rules; see remap.h.
 *
 * Parsing follows tftpd-hpa 5.2's parserulefile: fgets-sized lines, a
 * field ends at white space or '#' not after a backslash, and the
 * backslashes stay for regcomp and the replacement.  Running follows its
 * rewrite_string, with the two loops it leaves open (g repeats, the
 * length of a name) bounded.  A name is rewritten between two buffers
 * of outsz bytes: the caller's and one on the stack.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remap.h"

#define RM_REWRITE	0x001	/* r */
#define RM_GLOBAL	0x002	/* g, with r only */
#define RM_END		0x004	/* e */
#define RM_RESTART	0x008	/* s */
#define RM_ABORT	0x010	/* a */
#define RM_INVERSE	0x020	/* ~ */
#define RM_V4		0x040	/* 4 */
#define RM_V6		0x080	/* 6 */
#define RM_GET		0x100	/* G */
#define RM_PUT		0x200	/* P */

/* tftpd-hpa reads with fgets(line, 16384, f): 16383 bytes at most. */
#define LINE_READ	16383
/* \0 .. \9 */
#define NMATCH		10
/* visit(): the rule did not fire (no remap_result has this value) */
#define NO_FIRE		(-1)

enum letter_case { CASE_ASIS, CASE_UPPER, CASE_LOWER };

struct rule {
	regex_t		 rx;
	char		*repl;		/* the third field, "" if none */
	unsigned	 line;
	unsigned	 flags;		/* RM_* */
};

struct remap {
	struct rule	*rule;
	size_t		 n;
	size_t		 cap;
};

/* A string being built in a buffer of cap bytes; it always ends in NUL. */
struct sbuf {
	char		*b;
	size_t		 cap;
	size_t		 len;
	int		 over;		/* something did not fit */
	enum letter_case lc;		/* \U, \L, \E */
};

/* One run of the rules on a name. */
struct run {
	const struct remap_req	*req;
	char			*cur;	/* the name now */
	char			*alt;	/* where the next one is built */
	size_t			 cap;
	struct remap_trace	*tr;
};

static const struct {
	char		 c;
	unsigned	 set;
	unsigned	 clear;
} flag_tab[] = {
	{ 'r', RM_REWRITE, 0 },
	{ 'g', RM_GLOBAL, 0 },
	{ 'e', RM_END, 0 },
	{ 's', RM_RESTART, 0 },
	{ 'a', RM_ABORT, 0 },
	{ '~', RM_INVERSE, 0 },
	{ '4', RM_V4, 0 },
	{ '6', RM_V6, 0 },
	/* tftpd-hpa keeps one mode letter: the last of G and P */
	{ 'G', RM_GET, RM_PUT },
	{ 'P', RM_PUT, RM_GET },
};

/* isspace() in the C locale; tftpd-hpa sets no other. */
static int
is_space(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int __attribute__((format(printf, 3, 4)))
fail(struct remap_err *err, unsigned line, const char *fmt, ...)
{
	va_list ap;

	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* src for an error message: printable ASCII, \xNN for the rest. */
static void
quote(char *dst, size_t dstsz, const char *src)
{
	size_t n = 0;

	for (; *src && n + 5 < dstsz; src++) {
		if (*src >= ' ' && *src <= '~' && *src != '"' && *src != '\\')
			dst[n++] = *src;
		else
			n += (size_t)snprintf(dst + n, dstsz - n, "\\x%02x",
			    (unsigned char)*src);
	}
	dst[n] = '\0';
}

/*
 * The length of the next line as fgets(buf, 16384) reads it: through
 * the newline, or 16383 bytes of a longer line (the rest is read as the
 * next line).
 */
static size_t
line_len(const char *text, size_t left)
{
	size_t max = left < LINE_READ ? left : LINE_READ;
	const char *nl = memchr(text, '\n', max);

	return nl != NULL ? (size_t)(nl - text) + 1 : max;
}

/*
 * The next field of a line into buf (as long as the line): white space
 * skipped, then up to white space or '#' that no backslash escapes; the
 * backslashes stay.  Returns its length, 0 when there is none.
 */
static size_t
next_field(const char **p, char *buf)
{
	const char *s = *p;
	size_t n = 0;
	int bs = 0;

	while (*s != '\0' && is_space(*s))
		s++;
	while (*s != '\0' && (bs || (!is_space(*s) && *s != '#'))) {
		/* "\\" leaves no escape behind it */
		bs = !bs && *s == '\\';
		buf[n++] = *s++;
	}
	buf[n] = '\0';
	*p = s;
	return n;
}

static int
parse_flags(const char *f, struct rule *r, int *cflags, struct remap_err *err)
{
	char shown[48], what[8];
	size_t i;

	for (; *f != '\0'; f++) {
		if (*f == 'i') {
			*cflags |= REG_ICASE;
			continue;
		}
		for (i = 0; i < sizeof(flag_tab) / sizeof(flag_tab[0]); i++)
			if (flag_tab[i].c == *f)
				break;
		if (i == sizeof(flag_tab) / sizeof(flag_tab[0])) {
			what[0] = *f;
			what[1] = '\0';
			quote(shown, sizeof(shown), what);
			return fail(err, r->line,
			    "invalid flag \"%s\" (flags are r g e s a i ~ 4 6 G P)",
			    shown);
		}
		r->flags = (r->flags & ~flag_tab[i].clear) | flag_tab[i].set;
	}
	if ((r->flags & (RM_REWRITE | RM_INVERSE)) ==
	    (RM_REWRITE | RM_INVERSE))
		return fail(err, r->line, "r rules cannot be inverted (~)");
	if (!(r->flags & RM_REWRITE))
		r->flags &= ~RM_GLOBAL;
	return 0;
}

static int
add_rule(struct remap *m, const struct rule *r)
{
	struct rule *grown;
	size_t cap;

	if (m->n == m->cap) {
		cap = m->cap ? m->cap * 2 : 8;
		if ((grown = realloc(m->rule, cap * sizeof(*grown))) == NULL)
			return -1;
		m->rule = grown;
		m->cap = cap;
	}
	m->rule[m->n++] = *r;
	return 0;
}

/*
 * One line (a C string: what follows a NUL byte is gone, as with
 * fgets).  field has room for the line.  Returns 1 for a rule, 0 for
 * none (blank, comment), -1 with err.
 */
static int
parse_line(struct remap *m, const char *line, unsigned lineno, char *field,
    struct remap_err *err)
{
	struct rule r;
	char why[128];
	int cflags = REG_EXTENDED, rc;

	memset(&r, 0, sizeof(r));
	r.line = lineno;
	if (next_field(&line, field) == 0)
		return 0;
	if (parse_flags(field, &r, &cflags, err) < 0)
		return -1;
	if (next_field(&line, field) == 0)
		return fail(err, lineno, "no regex after the flags");
	if ((rc = regcomp(&r.rx, field, cflags)) != 0) {
		regerror(rc, &r.rx, why, sizeof(why));
		return fail(err, lineno, "bad regex: %s", why);
	}
	/* a fourth field and beyond: ignored, as tftpd-hpa does */
	next_field(&line, field);
	if ((r.repl = strdup(field)) == NULL || add_rule(m, &r) < 0) {
		free(r.repl);
		regfree(&r.rx);
		return fail(err, 0, "out of memory");
	}
	return 1;
}

int
remap_parse(const char *text, size_t len, struct remap **out,
    struct remap_err *err)
{
	struct remap *m;
	char *line = NULL, *field = NULL;
	size_t off, n;
	unsigned lineno = 0;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	m = calloc(1, sizeof(*m));
	line = malloc(LINE_READ + 1);
	field = malloc(LINE_READ + 1);
	if (m == NULL || line == NULL || field == NULL) {
		fail(err, 0, "out of memory");
		goto fail;
	}
	for (off = 0; off < len; off += n) {
		n = line_len(text + off, len - off);
		memcpy(line, text + off, n);
		line[n] = '\0';
		if (parse_line(m, line, ++lineno, field, err) < 0)
			goto fail;
	}
	free(line);
	free(field);
	*out = m;
	return 0;
fail:
	free(line);
	free(field);
	remap_free(m);
	return -1;
}

void
remap_free(struct remap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		regfree(&m->rule[i].rx);
		free(m->rule[i].repl);
	}
	free(m->rule);
	free(m);
}

size_t
remap_count(const struct remap *m)
{
	return m->n;
}

void
remap_client_set(struct remap_client *c, int family, const void *addr)
{
	const unsigned char *a = addr;
	size_t i, n = family == 4 ? 4 : 16;

	memset(c, 0, sizeof(*c));
	if (family != 4 && family != 6)
		return;
	c->family = family;
	inet_ntop(family == 4 ? AF_INET : AF_INET6, addr, c->ip,
	    sizeof(c->ip));
	/* tftpd-hpa: "%08lX" of the IPv4 address, "%02X" a byte for IPv6 */
	for (i = 0; i < n; i++)
		snprintf(c->hex + 2 * i, 3, "%02X", a[i]);
}

/* out: the words tftpd-hpa sends (cut to fit). */
static void
words(char *out, size_t outsz, const char *s)
{
	snprintf(out, outsz, "%s", s);
}

/* ---- running the rules --------------------------------------------- */

static char
to_case(char c, enum letter_case lc)
{
	/* toupper() and tolower() of the C locale: ASCII letters only */
	if (lc == CASE_UPPER && c >= 'a' && c <= 'z')
		return (char)(c - 'a' + 'A');
	if (lc == CASE_LOWER && c >= 'A' && c <= 'Z')
		return (char)(c - 'A' + 'a');
	return c;
}

static void
sb_put(struct sbuf *s, const char *p, size_t n, enum letter_case lc)
{
	for (; n > 0; n--, p++) {
		if (s->len + 1 >= s->cap) {
			s->over = 1;
			break;
		}
		s->b[s->len++] = to_case(*p, lc);
	}
	s->b[s->len] = '\0';
}

/* The replacement pattern with its escapes, after what s holds. */
static void
expand(struct sbuf *s, const char *pat, const char *cur,
    const regmatch_t *pm, const struct remap_client *cl)
{
	const regmatch_t *g;
	char c;

	for (; *pat != '\0'; pat++) {
		/* a lone backslash at the end is itself */
		if (pat[0] != '\\' || pat[1] == '\0') {
			sb_put(s, pat, 1, s->lc);
			continue;
		}
		c = *++pat;
		if (c >= '0' && c <= '9') {
			g = &pm[c - '0'];
			if (g->rm_so >= 0)
				sb_put(s, cur + g->rm_so,
				    (size_t)(g->rm_eo - g->rm_so), s->lc);
		} else if (c == 'U') {
			s->lc = CASE_UPPER;
		} else if (c == 'L') {
			s->lc = CASE_LOWER;
		} else if (c == 'E') {
			s->lc = CASE_ASIS;
		} else if (c == 'i' || c == 'x') {
			if (cl != NULL)
				sb_put(s, c == 'i' ? cl->ip : cl->hex,
				    strlen(c == 'i' ? cl->ip : cl->hex), s->lc);
		} else {
			sb_put(s, &c, 1, s->lc);
		}
	}
}

/*
 * The name with the match replaced by r's pattern, into st->alt, which
 * then is the name.  keep_ends: the text around the match stays (an a~
 * rule has no match: its message is the pattern alone).  Returns -1
 * when it does not fit (for a message: cut short, and 0).
 */
static int
replace(struct run *st, const struct rule *r, const regmatch_t *pm,
    int keep_ends)
{
	struct sbuf s = { st->alt, st->cap, 0, 0, CASE_ASIS };
	const char *tail;
	char *t;

	st->alt[0] = '\0';
	if (keep_ends)
		sb_put(&s, st->cur, (size_t)pm[0].rm_so, CASE_ASIS);
	expand(&s, r->repl, st->cur, pm, st->req->client);
	if (keep_ends) {
		tail = st->cur + pm[0].rm_eo;
		sb_put(&s, tail, strlen(tail), CASE_ASIS);
	}
	t = st->cur;
	st->cur = st->alt;
	st->alt = t;
	return s.over && !(r->flags & RM_ABORT) ? -1 : 0;
}

/* Does r fire on the name?  pm: the match (none for a ~ rule). */
static int
fires(const struct rule *r, const char *name, regmatch_t *pm)
{
	int rc = regexec(&r->rx, name, NMATCH, pm, 0), i;

	if (!(r->flags & RM_INVERSE))
		return rc == 0;
	for (i = 0; i < NMATCH; i++)
		pm[i].rm_so = pm[i].rm_eo = -1;
	return rc == REG_NOMATCH;
}

static int
applies(const struct rule *r, const struct remap_req *req)
{
	int family = req->client ? req->client->family : 0;

	if ((r->flags & RM_GET) && req->is_put)
		return 0;
	if ((r->flags & RM_PUT) && !req->is_put)
		return 0;
	if ((r->flags & RM_V4) && family != 4)
		return 0;
	if ((r->flags & RM_V6) && family != 6)
		return 0;
	return 1;
}

/*
 * One visit of rule r: match, refuse, rewrite (again and again for g).
 * Returns NO_FIRE, or a remap_result with hit telling what r did.
 */
static int
visit(struct run *st, const struct rule *r, struct remap_hit *hit)
{
	regmatch_t pm[NMATCH];

	hit->line = r->line;
	hit->rewrites = 0;
	hit->then = REMAP_NEXT;
	if (!fires(r, st->cur, pm))
		return NO_FIRE;
	if (r->flags & RM_ABORT) {
		hit->then = REMAP_ABORT;
		/* tftpd-hpa: nak(EACCESS, NULL) sends "Access denied" */
		if (r->repl[0] == '\0')
			words(st->cur, st->cap, "Access denied");
		else
			replace(st, r, pm, !(r->flags & RM_INVERSE));
		return REMAP_REFUSED;
	}
	while (r->flags & RM_REWRITE) {
		if (replace(st, r, pm, 1) < 0)
			return REMAP_TOOLONG;
		hit->rewrites++;
		if (!(r->flags & RM_GLOBAL) || !fires(r, st->cur, pm))
			break;
		/* tftpd-hpa 5.2 has no bound here: "rg a a" spins */
		if (st->tr->repeats == REMAP_REPEATS)
			return REMAP_LOOP;
		st->tr->repeats++;
	}
	if (r->flags & RM_END)
		hit->then = REMAP_END;
	else if (r->flags & RM_RESTART)
		hit->then = REMAP_RESTART;
	return REMAP_OK;
}

static void
record(struct remap_trace *tr, const struct remap_hit *hit)
{
	if (tr->nhit < REMAP_TRACE_MAX)
		tr->hit[tr->nhit++] = *hit;
	tr->fired++;
}

/* Every rule in turn, as tftpd-hpa's rewrite_string. */
static int
run_rules(const struct remap *m, struct run *st)
{
	struct remap_hit hit;
	size_t i;
	int res;

	for (i = 0; i < m->n; i++) {
		if (!applies(&m->rule[i], st->req))
			continue;
		if (st->tr->steps == REMAP_STEPS)
			return REMAP_LOOP;
		st->tr->steps++;
		if ((res = visit(st, &m->rule[i], &hit)) == NO_FIRE)
			continue;
		record(st->tr, &hit);
		if (res != REMAP_OK || hit.then == REMAP_END)
			return res;
		/*
		 * tftpd-hpa 5.2 sets its rule pointer to the first rule and
		 * its for loop then steps to the second: the first rule is
		 * not visited again.  Map files were written against that.
		 */
		if (hit.then == REMAP_RESTART)
			i = 0;
	}
	return REMAP_OK;
}

enum remap_result
remap_apply(const struct remap *m, const struct remap_req *req, char *out,
    size_t outsz, struct remap_trace *trace)
{
	/* zeroed: clang's analyzer cannot follow the two buffers' swaps */
	char scratch[REMAP_MAX] = { 0 };
	struct remap_trace local;
	struct run st;
	size_t n;
	int res;

	if (outsz == 0)
		return REMAP_TOOLONG;
	if (outsz > REMAP_MAX)
		outsz = REMAP_MAX;
	memset(&local, 0, sizeof(local));
	st.tr = trace != NULL ? trace : &local;
	memset(st.tr, 0, sizeof(*st.tr));
	if ((n = strlen(req->name)) >= outsz) {
		words(out, outsz, "File name too long");
		return REMAP_TOOLONG;
	}
	memmove(out, req->name, n + 1);
	st.req = req;
	st.cur = out;
	st.alt = scratch;
	st.cap = outsz;
	res = run_rules(m, &st);
	if (res == REMAP_LOOP)
		words(out, outsz, "Remap table failure");
	else if (res == REMAP_TOOLONG)
		words(out, outsz, "File name too long");
	else if (st.cur != out)
		memcpy(out, st.cur, strlen(st.cur) + 1);
	return (enum remap_result)res;
}
