/*
 * test_remap.c - tftpd-hpa's remapping rules (src/remap.c).  Every name
 * expected below is what Debian's in.tftpd 5.2+20150808 -m gives for the
 * same map file and request, checked by hand; the few places where we
 * differ on purpose (remap.h, "Fixed") say so.
 */
#include <arpa/inet.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "remap.h"

static struct remap_client v4, v6, mapped;

static void
clients(void)
{
	unsigned char a[16];

	inet_pton(AF_INET, "192.0.2.169", a);
	remap_client_set(&v4, 4, a);
	inet_pton(AF_INET6, "2001:db8::1", a);
	remap_client_set(&v6, 6, a);
	inet_pton(AF_INET6, "::ffff:192.0.2.169", a);
	remap_client_set(&mapped, 6, a);
}

static struct remap *
parse(const char *text)
{
	struct remap_err err;
	struct remap *m = NULL;

	if (remap_parse(text, strlen(text), &m, &err) < 0)
		printf("  unexpected: line %u: %s\n", err.line, err.msg);
	CHECK(m != NULL);
	return m;
}

/* The line of the first error in text (0 when it parses), and its msg. */
static unsigned
parse_err(const char *text, size_t len, char *msg, size_t msgsz)
{
	struct remap_err err;
	struct remap *m = (struct remap *)&err;	/* must become NULL */

	if (remap_parse(text, len, &m, &err) == 0) {
		CHECK(m != NULL);
		remap_free(m);
		return 0;
	}
	CHECK(m == NULL);
	CHECK(err.msg[0] != '\0');
	if (msg != NULL)
		snprintf(msg, msgsz, "%s", err.msg);
	return err.line;
}

/* The same for a C string. */
static unsigned
perr(const char *text, char *msg, size_t msgsz)
{
	return parse_err(text, strlen(text), msg, msgsz);
}

/* Run m on name (RRQ unless put) from c; out holds the result. */
static enum remap_result
run(const struct remap *m, const char *name, int put,
    const struct remap_client *c, char *out, size_t outsz,
    struct remap_trace *tr)
{
	struct remap_req req = { name, put, c };

	return remap_apply(m, &req, out, outsz, tr);
}

/* One map file, one RRQ from v4: the result must be res and want. */
#define EXPECT(text, name, res, want) do { \
	struct remap *m_ = parse(text); \
	char o_[REMAP_MAX]; \
	if (m_ != NULL) { \
		CHECK_EQ(run(m_, (name), 0, &v4, o_, sizeof(o_), NULL), \
		    (res)); \
		if (strcmp(o_, (want)) != 0) \
			printf("  %s:%d: got \"%s\", want \"%s\"\n", \
			    __FILE__, __LINE__, o_, (want)); \
		CHECK_STR(o_, (want)); \
		remap_free(m_); \
	} \
} while (0)

static void
test_blank_and_comments(void)
{
	struct remap *m;

	m = parse("");
	CHECK_EQ(remap_count(m), 0);
	remap_free(m);
	m = parse("\n\n   \n\t\r\n# a comment\n   # another\n");
	CHECK_EQ(remap_count(m), 0);
	remap_free(m);
	m = parse("# three rules\nr a b\n\ne ^x # trailing\n  a\t\\.pvt$\n");
	CHECK_EQ(remap_count(m), 3);
	remap_free(m);
	/* no rules: the name as sent */
	EXPECT("# nothing\n", "/a/b", REMAP_OK, "/a/b");
}

static void
test_parse_errors(void)
{
	char msg[160], want[160];
	regex_t rx;
	int rc;

	CHECK_EQ(perr("r a b\n# ok\nrx a b\n", msg, sizeof(msg)), 3);
	CHECK(strstr(msg, "invalid flag \"x\"") != NULL);
	/* flags tftpd-hpa 5.2 did not have yet (current tftp-hpa's E, j) */
	CHECK_EQ(perr("rE a b\n", msg, sizeof(msg)), 1);
	CHECK(strstr(msg, "\"E\"") != NULL);
	CHECK_EQ(perr("\nj a b\n", NULL, 0), 2);
	/* a byte that is no letter is shown as \xNN */
	CHECK_EQ(perr("r\x01 a\n", msg, sizeof(msg)), 1);
	CHECK(strstr(msg, "\\x01") != NULL);
	CHECK_EQ(perr("e a\nr~ a b\n", msg, sizeof(msg)), 2);
	CHECK(strstr(msg, "inverted") != NULL);
	/* G and P letters, i, 4 6 ~ are flags: no error */
	CHECK_EQ(perr("GPi46~e a\n", NULL, 0), 0);
	CHECK_EQ(perr("r\n", msg, sizeof(msg)), 1);
	CHECK(strstr(msg, "no regex") != NULL);
	/* '#' ends the line, also right after the flags */
	CHECK_EQ(perr("e x\nr#x a b\n", msg, sizeof(msg)), 2);
	CHECK(strstr(msg, "no regex") != NULL);
	CHECK_EQ(perr("r  # a b\n", NULL, 0), 1);
	/* a bad regex: regerror's words, from the same libc */
	CHECK_EQ(perr("e ok\n\n\nr (a b\n", msg, sizeof(msg)), 4);
	rc = regcomp(&rx, "(a", REG_EXTENDED);
	CHECK(rc != 0);
	regerror(rc, &rx, want, sizeof(want));
	CHECK(strstr(msg, "bad regex: ") == msg);
	CHECK_STR(msg + strlen("bad regex: "), want);
	CHECK_EQ(perr("ri [[:nope:]] x\n", NULL, 0), 1);
	CHECK_EQ(perr("r a{2,1} x\n", NULL, 0), 1);
	/* the first error counts */
	CHECK_EQ(perr("x a\ny b\n", NULL, 0), 1);
}

static void
test_lines_as_fgets_reads_them(void)
{
	static char big[20100];
	struct remap *m;
	size_t n;

	/* CRLF: '\r' is white space */
	EXPECT("r\t^\tX\r\ne\tq\r\n", "a", REMAP_OK, "Xa");
	/* after a NUL byte the rest of the line is gone, not the file */
	m = NULL;
	{
		static const char t[] = "r ^ A\0B\ne zz\0[\nr ^ C\n";
		struct remap_err err;
		char o[64];

		CHECK_EQ(remap_parse(t, sizeof(t) - 1, &m, &err), 0);
		CHECK_EQ(remap_count(m), 3);
		CHECK_EQ(run(m, "x", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
		CHECK_STR(o, "CAx");
		remap_free(m);
	}
	/* 16383 bytes a line at most: the rest is the next line (line 2) */
	n = (size_t)snprintf(big, sizeof(big), "r a ");
	memset(big + n, 'b', 20000 - n);
	big[20000] = '\n';
	CHECK_EQ(parse_err(big, 20001, NULL, 0), 2);
	/* ... and when the rest is a rule, it is one */
	snprintf(big + 16383, sizeof(big) - 16383, "e ^ \n");
	CHECK_EQ(parse_err(big, 16388, NULL, 0), 0);
	/* no newline at the end of the file */
	EXPECT("r ^ X", "a", REMAP_OK, "Xa");
}

static void
test_fields(void)
{
	/* a fourth field is ignored */
	EXPECT("r a b c d\n", "xa", REMAP_OK, "xb");
	/* '#' ends a field and the line; "\#" and "\ " do not */
	EXPECT("r ^ a#b\n", "x", REMAP_OK, "ax");
	EXPECT("r ^ c\\#d\\ e f\n", "x", REMAP_OK, "c#d ex");
	EXPECT("r x\\#y Z\n", "ax#yb", REMAP_OK, "aZb");
	EXPECT("r x\\ y Z\n", "ax yb", REMAP_OK, "aZb");
	/* no replacement: the match is removed */
	EXPECT("rg a\n", "banana", REMAP_OK, "bnn");
	/* a backslash before the newline keeps it in the field */
	EXPECT("r ^ A\\\nr ^ Q\\\n", "x", REMAP_OK, "Q\nA\nx");
	/* a lone backslash at the end of the file is itself */
	EXPECT("r ^ a\\", "x", REMAP_OK, "a\\x");
}

static void
test_rewrite_and_groups(void)
{
	EXPECT("r b X\n", "abcb", REMAP_OK, "aXcb");
	EXPECT("r ^(.)(.*)$ \\2\\1\n", "abc", REMAP_OK, "bca");
	EXPECT("r ^(/tftpboot/) [\\0|\\1|\\2|\\9]\n", "/tftpboot/x",
	    REMAP_OK, "[/tftpboot/|/tftpboot/||]x");
	/* a group that took no part is empty */
	EXPECT("r ^(a)|(b) [\\1\\2\\3]\n", "bz", REMAP_OK, "[b]z");
	/* no match: no change */
	EXPECT("r ^zz X\n", "abc", REMAP_OK, "abc");
	/* an empty match at the start */
	EXPECT("r ^ /tftpboot/\n", "pxelinux.0", REMAP_OK,
	    "/tftpboot/pxelinux.0");
	/* rules run in order, each on the name the one before left */
	EXPECT("r ^ 1\nr ^ 2\nr ^ 3\n", "x", REMAP_OK, "321x");
}

static void
test_escapes(void)
{
	EXPECT("r ^(.)(.*)$ [\\U\\1\\2\\Ex\\Lq\\2AB\\EAB]\\q\\\\\n", "hello",
	    REMAP_OK, "[HELLOxqelloabAB]q\\");
	/* \\ is one backslash; any other escaped character is itself */
	EXPECT("r ^ \\\\\\z\\%\n", "x", REMAP_OK, "\\z%x");
	/* only ASCII letters change case */
	EXPECT("r .* \\U\\0\n", "a\xc3\xa9z-1", REMAP_OK, "A\xc3\xa9Z-1");
	/* text around the match keeps its case */
	EXPECT("r b(c) \\U\\1\n", "abcd", REMAP_OK, "aCd");
}

static void
test_client_macros(void)
{
	struct remap *m = parse("r ^ \\i/\\x/\n");
	char o[128];

	CHECK_STR(v4.ip, "192.0.2.169");
	CHECK_STR(v4.hex, "C00002A9");
	CHECK_STR(v6.ip, "2001:db8::1");
	CHECK_STR(v6.hex, "20010DB8000000000000000000000001");
	CHECK_EQ(run(m, "f", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "192.0.2.169/C00002A9/f");
	CHECK_EQ(run(m, "f", 0, &v6, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "2001:db8::1/20010DB8000000000000000000000001/f");
	/* tftpd-hpa on a [::] socket sees IPv4 clients so */
	CHECK_EQ(run(m, "f", 0, &mapped, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "::ffff:192.0.2.169/00000000000000000000FFFFC00002A9/f");
	CHECK_EQ(run(m, "f", 0, NULL, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "//f");
	remap_free(m);
	/* \U and \L reach \i and \x too */
	m = parse("r ^ \\U\\i\\E\\L\\x\n");
	CHECK_EQ(run(m, "f", 0, &v6, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "2001:DB8::120010db8000000000000000000000001f");
	remap_free(m);
	/* the common per-client directory */
	EXPECT("r ^/?pxelinux.cfg/default$ /pxelinux.cfg/\\x\n",
	    "pxelinux.cfg/default", REMAP_OK, "/pxelinux.cfg/C00002A9");
}

static void
test_flag_g_and_i(void)
{
	EXPECT("rg \\\\ /\n", "a\\b\\c\\\\d", REMAP_OK, "a/b/c//d");
	/* without g, the first match only */
	EXPECT("r \\\\ /\n", "a\\b\\c", REMAP_OK, "a/b\\c");
	/* g without r means nothing */
	EXPECT("g a\nr ^ X\n", "aa", REMAP_OK, "Xaa");
	EXPECT("r boot/bcd X\n", "Boot/BCD", REMAP_OK, "Boot/BCD");
	EXPECT("ri boot/bcd X\n", "Boot/BCD", REMAP_OK, "X");
	/* g again from the start of the name: a rewrite can match anew */
	EXPECT("rg ab ba\n", "aabb", REMAP_OK, "bbaa");
}

static void
test_flag_e(void)
{
	EXPECT("re ^a X\nr ^ Y\n", "ab", REMAP_OK, "Xb");
	EXPECT("re ^a X\nr ^ Y\n", "bb", REMAP_OK, "Ybb");
	/* e without r: ends, name unchanged */
	EXPECT("e ^ok/\nr ^ /tftpboot/\n", "ok/x", REMAP_OK, "ok/x");
	/* e and s: e wins */
	EXPECT("r ^ 1\nres ^1 2\nr ^ 3\n", "x", REMAP_OK, "2x");
}

static void
test_flag_s_resumes_at_second_rule(void)
{
	struct remap_trace tr;
	struct remap *m;
	char o[64];

	/* tftpd-hpa 5.2: after s the first rule is not visited again */
	EXPECT("r ^ 1\nr ^ 2\nrs ^21x$ Z\na .* \\0\n", "x", REMAP_REFUSED,
	    "2Z");
	/* a lone s rule: there is no second rule, the run ends */
	EXPECT("rs ^a b\n", "aaa", REMAP_OK, "baa");
	m = parse("r ^y D\ne ^Dx{3}$\nrs ^(D?x*)$ \\1x\n");
	CHECK_EQ(run(m, "y", 0, &v4, o, sizeof(o), &tr), REMAP_OK);
	CHECK_STR(o, "Dxxx");
	/* 3 visits, then 2 a round: the first rule stays behind */
	CHECK_EQ(tr.steps, 3 + 2 * 2 + 1);
	CHECK_EQ(tr.fired, 1 + 3 + 1);
	CHECK_EQ(tr.hit[0].line, 1);
	CHECK_EQ(tr.hit[1].line, 3);
	CHECK_EQ(tr.hit[1].then, REMAP_RESTART);
	CHECK_EQ(tr.hit[4].line, 2);
	CHECK_EQ(tr.hit[4].then, REMAP_END);
	remap_free(m);
}

static void
test_deadman(void)
{
	struct remap_trace tr;
	struct remap *m;
	char o[REMAP_MAX];

	/* 3 + 2 * 510 + 1 = 1024 visits: the last one allowed */
	m = parse("r ^y D\ne ^Dx{511}$\nrs ^(D?x*)$ \\1x\n");
	CHECK_EQ(run(m, "y", 0, &v4, o, sizeof(o), &tr), REMAP_OK);
	CHECK_EQ(strlen(o), 512);
	CHECK_EQ(tr.steps, REMAP_STEPS);
	remap_free(m);
	/* one x more: the 1025th visit fails, as in tftpd-hpa */
	m = parse("r ^y D\ne ^Dx{512}$\nrs ^(D?x*)$ \\1x\n");
	CHECK_EQ(run(m, "y", 0, &v4, o, sizeof(o), &tr), REMAP_LOOP);
	CHECK_STR(o, "Remap table failure");
	CHECK_EQ(tr.steps, REMAP_STEPS);
	CHECK_EQ(tr.nhit, REMAP_TRACE_MAX);
	CHECK(tr.fired > REMAP_TRACE_MAX);
	remap_free(m);
	/* the plain s loop of two rules that always match */
	EXPECT("s a\ns a\n", "a", REMAP_LOOP, "Remap table failure");
	/* rules that do not apply are not visits */
	m = parse("P x\nP x\nP x\ns a\ns a\n");
	CHECK_EQ(run(m, "a", 0, &v4, o, sizeof(o), &tr), REMAP_LOOP);
	CHECK_EQ(tr.steps, REMAP_STEPS);
	remap_free(m);
}

static void
test_g_repeats_bounded(void)
{
	struct remap_trace tr;
	struct remap *m;
	char o[64];

	/* tftpd-hpa 5.2 spins forever on this one */
	m = parse("rg a a\n");
	CHECK_EQ(run(m, "abc", 0, &v4, o, sizeof(o), &tr), REMAP_LOOP);
	CHECK_STR(o, "Remap table failure");
	CHECK_EQ(tr.repeats, REMAP_REPEATS);
	CHECK_EQ(tr.steps, 1);
	CHECK_EQ(tr.nhit, 1);
	CHECK_EQ(tr.hit[0].rewrites, REMAP_REPEATS + 1);
	/* no a: no repeat */
	CHECK_EQ(run(m, "xyz", 0, &v4, o, sizeof(o), &tr), REMAP_OK);
	CHECK_EQ(tr.repeats, 0);
	remap_free(m);
	/* ... and on this one it grows until memory runs out */
	EXPECT("rg ^ X/\\i\n", "a", REMAP_TOOLONG, "File name too long");
}

static void
test_flag_a(void)
{
	struct remap_trace tr;
	struct remap *m;
	char o[64];

	EXPECT("a \\.pvt$\n", "/etc/x.pvt", REMAP_REFUSED, "Access denied");
	/* the message is the name with the match replaced */
	EXPECT("a \\.pvt$ No\n", "/foo.pvt", REMAP_REFUSED, "/fooNo");
	EXPECT("a \\.pvt Private\n", "/foo.pvt/bar", REMAP_REFUSED,
	    "/fooPrivate/bar");
	EXPECT("a ^.*$ [\\0]\n", "hello", REMAP_REFUSED, "[hello]");
	/* a message that expands to nothing is empty, not the default */
	EXPECT("a ^(z)?q$ \\1\n", "q", REMAP_REFUSED, "");
	/* a~: the message alone (5.2 reads before its buffer here) */
	EXPECT("a~ ^/ nope[\\0]\n", "foo", REMAP_REFUSED, "nope[]");
	EXPECT("a~ ^/\n", "foo", REMAP_REFUSED, "Access denied");
	EXPECT("a~ ^/\n", "/foo", REMAP_OK, "/foo");
	/* a comes before e and before r's rewrite */
	EXPECT("ea ^q\nr ^ X\n", "q", REMAP_REFUSED, "Access denied");
	EXPECT("ra ^q MSG\\0\n", "q", REMAP_REFUSED, "MSGq");
	m = parse("r ^ /\na ^/etc/ Denied\n");
	CHECK_EQ(run(m, "etc/passwd", 0, &v4, o, sizeof(o), &tr),
	    REMAP_REFUSED);
	CHECK_STR(o, "Deniedpasswd");
	CHECK_EQ(tr.nhit, 2);
	CHECK_EQ(tr.hit[0].rewrites, 1);
	CHECK_EQ(tr.hit[0].then, REMAP_NEXT);
	CHECK_EQ(tr.hit[1].line, 2);
	CHECK_EQ(tr.hit[1].rewrites, 0);
	CHECK_EQ(tr.hit[1].then, REMAP_ABORT);
	remap_free(m);
}

static void
test_flags_G_P_4_6(void)
{
	static const char map[] =
	    "rG ^ G\nrP ^ P\nrGP ^ Q\nrPG ^ R\n"
	    "r4 ^ 4\nr6 ^ 6\nr46 ^ B\n";
	struct remap *m = parse(map);
	char o[64];

	/* of G and P the last one counts; 4 and 6 together: never */
	CHECK_EQ(run(m, "x", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "4RGx");
	CHECK_EQ(run(m, "x", 1, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "4QPx");
	CHECK_EQ(run(m, "x", 0, &v6, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "6RGx");
	CHECK_EQ(run(m, "x", 0, &mapped, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "6RGx");
	CHECK_EQ(run(m, "x", 1, NULL, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "QPx");
	remap_free(m);
}

static void
test_flag_inverse(void)
{
	EXPECT("e~ ^/\nr ^ Z\n", "x", REMAP_OK, "x");
	EXPECT("e~ ^/\nr ^ Z\n", "/x", REMAP_OK, "Z/x");
	/* s~: starts over while a slash is left */
	EXPECT("e ^done\nr ^([^/]*)/ \\1-\ns~ ^[^/]*$\n", "a/b/c", REMAP_OK,
	    "a-b-c");
}

static void
test_too_long(void)
{
	struct remap *m = parse("r ^ abc\n");
	static char name[REMAP_MAX + 10], big[REMAP_MAX + 10];
	char o[8];

	CHECK_EQ(run(m, "1234", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "abc1234");
	CHECK_EQ(run(m, "12345", 0, &v4, o, sizeof(o), NULL),
	    REMAP_TOOLONG);
	CHECK_STR(o, "File na");
	CHECK_EQ(run(m, "12345678", 0, &v4, o, sizeof(o), NULL),
	    REMAP_TOOLONG);
	CHECK_EQ(run(m, "", 0, &v4, o, 1, NULL), REMAP_TOOLONG);
	CHECK_STR(o, "");
	CHECK_EQ(run(m, "", 0, &v4, o, 0, NULL), REMAP_TOOLONG);
	remap_free(m);
	/* a message is cut to fit, not refused */
	m = parse("a ^ 0123456789\n");
	CHECK_EQ(run(m, "x", 0, &v4, o, sizeof(o), NULL), REMAP_REFUSED);
	CHECK_STR(o, "0123456");
	remap_free(m);
	/* at most REMAP_MAX of a bigger buffer */
	m = parse("r ^ 1\n");
	memset(name, 'a', REMAP_MAX - 2);
	name[REMAP_MAX - 2] = '\0';
	CHECK_EQ(run(m, name, 0, &v4, big, sizeof(big), NULL), REMAP_OK);
	CHECK_EQ(strlen(big), REMAP_MAX - 1);
	CHECK_EQ(big[0], '1');
	name[REMAP_MAX - 2] = 'a';
	name[REMAP_MAX - 1] = '\0';
	CHECK_EQ(run(m, name, 0, &v4, big, sizeof(big), NULL), REMAP_TOOLONG);
	remap_free(m);
}

static void
test_trace_is_optional_and_reset(void)
{
	struct remap *m = parse("r a b\nr x y\n");
	struct remap_trace tr;
	char o[16];

	memset(&tr, 0xff, sizeof(tr));
	CHECK_EQ(run(m, "zzz", 0, &v4, o, sizeof(o), &tr), REMAP_OK);
	CHECK_EQ(tr.nhit, 0);
	CHECK_EQ(tr.fired, 0);
	CHECK_EQ(tr.steps, 2);
	CHECK_EQ(tr.repeats, 0);
	CHECK_EQ(run(m, "ax", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "by");
	remap_free(m);
}

/* OpenStack Ironic's map file for tftpd-hpa (re: rewrite and end). */
static void
test_ironic(void)
{
	static const char map[] =
	    "re ^(/tftpboot/) /tftpboot/\\2\n"
	    "re ^/tftpboot/ /tftpboot/\n"
	    "re ^(^/) /tftpboot/\\1\n"
	    "re ^([^/]) /tftpboot/\\1\n";
	struct remap *m = parse(map);
	struct remap_trace tr;
	char o[256];

	CHECK_EQ(remap_count(m), 4);
	CHECK_EQ(run(m, "/tftpboot/pxelinux.0", 0, &v4, o, sizeof(o), &tr),
	    REMAP_OK);
	CHECK_STR(o, "/tftpboot/pxelinux.0");
	CHECK_EQ(tr.nhit, 1);
	CHECK_EQ(tr.hit[0].line, 1);
	CHECK_EQ(tr.hit[0].then, REMAP_END);
	CHECK_EQ(run(m, "pxelinux.0", 0, &v4, o, sizeof(o), &tr), REMAP_OK);
	CHECK_STR(o, "/tftpboot/pxelinux.0");
	CHECK_EQ(tr.hit[0].line, 4);
	CHECK_EQ(run(m, "0a1b2c/deploy_kernel", 0, &v4, o, sizeof(o), NULL),
	    REMAP_OK);
	CHECK_STR(o, "/tftpboot/0a1b2c/deploy_kernel");
	/* the slash stays: "//"; the open decides what it means */
	CHECK_EQ(run(m, "/pxelinux.0", 0, &v4, o, sizeof(o), &tr), REMAP_OK);
	CHECK_STR(o, "/tftpboot//pxelinux.0");
	CHECK_EQ(tr.hit[0].line, 3);
	CHECK_EQ(run(m, "//x", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "/tftpboot///x");
	remap_free(m);
}

/* Windows Deployment Services booting over tftpd-hpa. */
static void
test_windows_pxe(void)
{
	static const char map[] =
	    "# WDS / WinPE over PXE\n"
	    "rgi\t\\\\\t\t/\t\t# backslashes to slashes\n"
	    "ri\t^[a-z]:\t\t\t# no drive letters\n"
	    "ri\t^/?boot/bcd$\t/Boot/BCD\t# the BCD store, any case\n"
	    "ri\t^/?boot/(.*)$\t/Boot/\\1\n"
	    "ri\t^/?sources/boot\\.wim$\t/sources/boot.wim\n"
	    "r\t^([^/])\t\t/\\1\t\t# relative names from the root\n";
	static const char *const cases[][2] = {
		{ "\\Boot\\BCD", "/Boot/BCD" },
		{ "boot\\bcd", "/Boot/BCD" },
		{ "/boot/BCD", "/Boot/BCD" },
		{ "\\boot\\boot.sdi", "/Boot/boot.sdi" },
		{ "C:\\Sources\\BOOT.WIM", "/sources/boot.wim" },
		{ "pxeboot.n12", "/pxeboot.n12" },
		{ "\\Boot\\Fonts\\wgl4_boot.ttf", "/Boot/Fonts/wgl4_boot.ttf" },
	};
	struct remap *m = parse(map);
	char o[256];
	size_t i;

	CHECK_EQ(remap_count(m), 6);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(run(m, cases[i][0], 0, &v4, o, sizeof(o), NULL),
		    REMAP_OK);
		if (strcmp(o, cases[i][1]) != 0)
			printf("  %s: got \"%s\"\n", cases[i][0], o);
		CHECK_STR(o, cases[i][1]);
	}
	remap_free(m);
}

/* The sample.rules Debian ships with tftpd-hpa. */
static void
test_debian_sample(void)
{
	static const char map[] =
	    "ri\t^[a-z]:\t\t\t\t# Remove \"drive letters\"\n"
	    "rg\t\\\\\t\t/\t\t# Convert backslashes to slashes\n"
	    "rg\t\\#\t\t@\t\t# Convert hash marks to @ signs\n"
	    "rg\t/../\t\t/..no../\t# Convert /../ to /..no../\n"
	    "e\t^ok/\t\t\t\t# These are always ok\n"
	    "r\t^[^/]\t\t/tftpboot/\\0\t# Convert non-absolute files\n"
	    "a\t\\.pvt$\t\t\t\t# Reject requests for private files\n";
	struct remap *m = parse(map);
	char o[256];

	CHECK_EQ(run(m, "C:\\dos\\autoexec.bat", 0, &v4, o, sizeof(o), NULL),
	    REMAP_OK);
	CHECK_STR(o, "/dos/autoexec.bat");
	CHECK_EQ(run(m, "ok/x/../y", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "ok/x/..no../y");
	CHECK_EQ(run(m, "a/b/../c", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "/tftpboot/a/b/..no../c");
	CHECK_EQ(run(m, "x#y", 0, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "/tftpboot/x@y");
	CHECK_EQ(run(m, "/etc/secret.pvt", 0, &v4, o, sizeof(o), NULL),
	    REMAP_REFUSED);
	CHECK_STR(o, "Access denied");
	CHECK_EQ(run(m, "up/file", 1, &v4, o, sizeof(o), NULL), REMAP_OK);
	CHECK_STR(o, "/tftpboot/up/file");
	remap_free(m);
}

int
main(void)
{
	clients();
	RUN(test_blank_and_comments);
	RUN(test_parse_errors);
	RUN(test_lines_as_fgets_reads_them);
	RUN(test_fields);
	RUN(test_rewrite_and_groups);
	RUN(test_escapes);
	RUN(test_client_macros);
	RUN(test_flag_g_and_i);
	RUN(test_flag_e);
	RUN(test_flag_s_resumes_at_second_rule);
	RUN(test_deadman);
	RUN(test_g_repeats_bounded);
	RUN(test_flag_a);
	RUN(test_flags_G_P_4_6);
	RUN(test_flag_inverse);
	RUN(test_too_long);
	RUN(test_trace_is_optional_and_reset);
	RUN(test_ironic);
	RUN(test_windows_pxe);
	RUN(test_debian_sample);
	return CHECK_EXIT();
}
