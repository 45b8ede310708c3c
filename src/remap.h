/*
 * remap.h - tftpd-hpa's filename remapping rules (--map FILE, issue 17).
 *
 * A map file written for tftpd-hpa's -m works unchanged: the names it
 * gives are those of Debian's in.tftpd 5.2+20150808, checked against it
 * by hand.  One rule a line, three fields split by white space:
 *
 *	FLAGS	REGEX		[REPLACEMENT]	# comment
 *	rgi	\\		/		# backslashes to slashes
 *
 * FLAGS, any of:
 *	r	rewrite the part REGEX matched with REPLACEMENT
 *	g	with r: again from the start of the name until no match
 *	i	REGEX ignores case (REG_ICASE)
 *	e	a match ends the rules (the name is what it is now)
 *	s	a match starts the rules over (see "kept", below)
 *	a	a match refuses the request; REPLACEMENT, if any, is the
 *		message (the name rewritten with it, see below)
 *	~	the rule fires when REGEX does not match (not with r)
 *	G P	RRQ only, WRQ only; of the two, the last one counts
 *	4 6	IPv4 clients only, IPv6 clients only
 * REGEX is POSIX extended (regcomp REG_EXTENDED, the C locale).
 * REPLACEMENT escapes: \0 the match, \1..\9 its groups (empty when a
 * group took no part), \i the client's address as text, \x as upper-case
 * hex (8 digits, or 32 for IPv6), \U \L upper or lower case what follows
 * (groups, \i, \x and literal letters), \E ends that, \\ a backslash;
 * a backslash before any other character (space, #) is that character.
 * A backslash in a field keeps the next character in it: "\ " and "\#"
 * do not end the field; the backslash stays for regcomp or the
 * replacement to read.  "#" outside a field's escape ends the line.
 *
 * Kept as tftpd-hpa 5.2 does it (a map file must give the same names):
 *  - s resumes at the second rule of the file: its loop steps past the
 *    first after the reset (current tftp-hpa resumes at the first);
 *  - REMAP_STEPS: the 1025th visit of an applicable rule fails the
 *    request ("Remap table failure"); rules skipped by G, P, 4 or 6 do
 *    not count;
 *  - an a rule's message is the name with the match replaced, the text
 *    before and after the match kept ("a \.pvt$ No" refuses /x.pvt with
 *    "/xNo"); without a REPLACEMENT the words are "Access denied";
 *  - a line is read as fgets(16384) does: a longer one goes on as the
 *    next line (and line number); after a NUL byte the line is ignored;
 *    a backslash before the newline keeps the newline in the field.
 * Fixed:
 *  - g repeats: tftpd-hpa 5.2 spins forever on "rg a a"; here they are
 *    bounded by REMAP_REPEATS (current tftp-hpa counts them as steps);
 *  - names: at most outsz - 1 bytes, also between rules (tftpd-hpa has
 *    no bound; the open fails with ENAMETOOLONG);
 *  - the message of an a~ rule is its REPLACEMENT alone (5.2 copies
 *    from one byte before the name: undefined);
 *  - \x: 5.2 counts it as 0 bytes, then writes 8 or 32 (a heap
 *    overflow); here the digits, as 5.2 shows them.
 *
 * Pure: no I/O, no globals; regcomp and regexec are libc's.  Whether the
 * name then stays beneath the root is files.c's (openat2), not ours.
 */
#ifndef TFTPX_REMAP_H
#define TFTPX_REMAP_H

#include <stddef.h>

/* Visits of applicable rules for one request: tftpd-hpa's deadman. */
#define REMAP_STEPS	1024
/* Repeats of g rules for one request (after each rule's first match). */
#define REMAP_REPEATS	16384
/* The longest name and message, NUL included (PATH_MAX). */
#define REMAP_MAX	4096
/* Rules that fired, kept in a trace (more are counted only). */
#define REMAP_TRACE_MAX	16

enum remap_result {
	REMAP_OK,		/* out: the name to serve */
	REMAP_REFUSED,		/* an a rule: out is the message (ERROR 2) */
	REMAP_LOOP,		/* out of steps or repeats: "Remap table failure" */
	REMAP_TOOLONG,		/* a name over outsz - 1: "File name too long" */
};

/* Why a map file was refused: line 1 is the first; 0 = out of memory. */
struct remap_err {
	unsigned	 line;
	char		 msg[160];	/* "bad regex: Unmatched ( or \\(" */
};

/*
 * The client as \i, \x, 4 and 6 see it.  tftpd-hpa on a dual-stack
 * socket ([::]) sees IPv4 clients as ::ffff:a.b.c.d, family 6; on ":69"
 * (Debian's default) as a.b.c.d, family 4.
 */
struct remap_client {
	int		 family;	/* 4 or 6; 0: neither 4 nor 6 rules */
	char		 ip[46];	/* \i: inet_ntop's text */
	char		 hex[33];	/* \x: "C00002A9", 32 digits for IPv6 */
};

struct remap_req {
	const char		 *name;		/* as the client sent it */
	int			  is_put;	/* WRQ: P rules, not G */
	const struct remap_client *client;	/* NULL: \i, \x empty */
};

/* What a rule that fired did next. */
enum remap_then {
	REMAP_NEXT,		/* on to the next rule */
	REMAP_END,		/* e */
	REMAP_RESTART,		/* s */
	REMAP_ABORT,		/* a */
};

struct remap_hit {
	unsigned	 line;		/* of the rule in the file */
	unsigned	 rewrites;	/* 0: matched only; g: can be more than 1 */
	enum remap_then	 then;
};

/* The rules that fired, in order, for -v lines and JSON events. */
struct remap_trace {
	struct remap_hit hit[REMAP_TRACE_MAX];
	unsigned	 nhit;		/* in hit[], at most REMAP_TRACE_MAX */
	unsigned	 fired;		/* rules that fired, all of them */
	unsigned	 steps;		/* visits, at most REMAP_STEPS */
	unsigned	 repeats;	/* g repeats, at most REMAP_REPEATS */
};

struct remap;

/*
 * Parse a map file's text (len bytes, NULs allowed).  Returns 0 and
 * *out (free it with remap_free), or -1 and err: the first bad line and
 * what is wrong with it (an invalid flag, r with ~, no regex, a bad
 * regex in regerror's words).  A file without rules is valid.
 */
int	remap_parse(const char *text, size_t len, struct remap **out,
	    struct remap_err *err);
void	remap_free(struct remap *m);

/* Rules in m (blank and comment lines are not rules). */
size_t	remap_count(const struct remap *m);

/* Fill c from an address: family 4 (addr: 4 bytes) or 6 (16 bytes). */
void	remap_client_set(struct remap_client *c, int family,
	    const void *addr);

/*
 * Run the rules on req->name.  out (outsz bytes, at most REMAP_MAX
 * used) always ends in a NUL: the new name, or the words of the
 * refusal.  trace, if not NULL, says which rules fired.
 */
enum remap_result remap_apply(const struct remap *m,
	    const struct remap_req *req, char *out, size_t outsz,
	    struct remap_trace *trace);

#endif
