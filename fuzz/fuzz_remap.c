/*
 * fuzz_remap.c - a map file and a name through src/remap.c.
 *
 * Input:
 *	[0]	bit 0: WRQ (else RRQ); bits 1-2: the client (IPv4, IPv6,
 *		IPv4 as ::ffff:a.b.c.d, none); bits 3-7: outsz (0: 1 byte,
 *		31: REMAP_MAX, else 16 a step)
 *	[1..]	the name, up to the first NUL (or the end)
 *	then	the map file, every byte of it (NULs too)
 *
 * What remap.h promises, checked:
 *  - a refused file: no map, a line in the file, words that end;
 *  - out is a heap buffer of exactly outsz bytes (ASan sees a write past
 *    it) and holds a NUL;
 *  - the deadman and the g bound hold: steps <= REMAP_STEPS, repeats <=
 *    REMAP_REPEATS, and REMAP_LOOP only when one of them ran out;
 *  - the trace: hits in the file's lines, as many as fired up to
 *    REMAP_TRACE_MAX, each hit a step; an a rule last when refused;
 *  - a name no rule rewrote comes out as it went in;
 *  - the same run again gives the same answer, with or without a trace.
 * Inputs glibc's regcomp cannot take are skipped: it is exponential in
 * memory for stacked quantifiers ("a" and 20 "+": 700 MB) and in nested
 * counts ("((a{1,99}){1,99}){1,99}"), so a map file has at most 8 of
 * "*+?" and one "{", and at most 2048 bytes (a name: 1024).  That is
 * glibc's and the map file's author's to mind (tftpd-hpa has the same
 * exposure); the fuzzer is after remap.c.
 */
#include <arpa/inet.h>
#include <string.h>

#include "fuzz.h"
#include "remap.h"

#define MAP_MAX		2048
#define NAME_MAX_IN	1024

static size_t
lines_in(const uint8_t *p, size_t n)
{
	size_t i, lines = 1;

	for (i = 0; i < n; i++)
		lines += p[i] == '\n';
	return lines;
}

static void
client_of(unsigned sel, struct remap_client *c)
{
	unsigned char a[16];

	memset(a, 0, sizeof(a));
	if (sel == 0) {
		inet_pton(AF_INET, "192.0.2.169", a);
		remap_client_set(c, 4, a);
	} else if (sel == 1) {
		inet_pton(AF_INET6, "2001:db8::1", a);
		remap_client_set(c, 6, a);
	} else {
		inet_pton(AF_INET6, "::ffff:192.0.2.169", a);
		remap_client_set(c, 6, a);
	}
	FUZZ_CHECK(strlen(c->ip) < sizeof(c->ip));
	FUZZ_CHECK(strlen(c->hex) == (c->family == 4 ? 8 : 32));
}

static void
check_trace(const struct remap_trace *tr, enum remap_result res,
    size_t lines)
{
	unsigned i;

	FUZZ_CHECK(tr->steps <= REMAP_STEPS);
	FUZZ_CHECK(tr->repeats <= REMAP_REPEATS);
	FUZZ_CHECK(tr->fired <= tr->steps);
	FUZZ_CHECK(tr->nhit == (tr->fired < REMAP_TRACE_MAX ?
	    tr->fired : REMAP_TRACE_MAX));
	if (res == REMAP_LOOP)
		FUZZ_CHECK(tr->steps == REMAP_STEPS ||
		    tr->repeats == REMAP_REPEATS);
	for (i = 0; i < tr->nhit; i++) {
		FUZZ_CHECK(tr->hit[i].line >= 1 && tr->hit[i].line <= lines);
		FUZZ_CHECK(tr->hit[i].then <= REMAP_ABORT);
		/* only the last hit can end, abort, or give up */
		if (i + 1 < tr->fired)
			FUZZ_CHECK(tr->hit[i].then == REMAP_NEXT ||
			    tr->hit[i].then == REMAP_RESTART);
	}
	if (res == REMAP_REFUSED && tr->nhit == tr->fired)
		FUZZ_CHECK(tr->nhit > 0 &&
		    tr->hit[tr->nhit - 1].then == REMAP_ABORT);
	if (res != REMAP_REFUSED && tr->nhit > 0)
		FUZZ_CHECK(tr->hit[tr->nhit - 1].then != REMAP_ABORT);
}

static int
rewrote_any(const struct remap_trace *tr)
{
	unsigned i;

	/* past REMAP_TRACE_MAX hits we cannot tell */
	if (tr->fired > tr->nhit)
		return 1;
	for (i = 0; i < tr->nhit; i++)
		if (tr->hit[i].rewrites > 0)
			return 1;
	return 0;
}

static void
run(const struct remap *m, const struct remap_req *req, size_t outsz,
    size_t lines)
{
	struct remap_trace tr;
	enum remap_result res, again;
	char *out, *out2;

	out = malloc(outsz);
	out2 = malloc(outsz);
	FUZZ_CHECK(out != NULL && out2 != NULL);
	res = remap_apply(m, req, out, outsz, &tr);
	FUZZ_CHECK(res == REMAP_OK || res == REMAP_REFUSED ||
	    res == REMAP_LOOP || res == REMAP_TOOLONG);
	FUZZ_CHECK(memchr(out, '\0', outsz) != NULL);
	check_trace(&tr, res, lines);
	if (strlen(req->name) >= outsz)
		FUZZ_CHECK(res == REMAP_TOOLONG && tr.steps == 0);
	if (res == REMAP_OK && !rewrote_any(&tr))
		FUZZ_CHECK(strcmp(out, req->name) == 0);
	/* a pure function of its arguments; the trace changes nothing */
	again = remap_apply(m, req, out2, outsz, NULL);
	FUZZ_CHECK(again == res);
	FUZZ_CHECK(strcmp(out, out2) == 0);
	free(out);
	free(out2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remap_client client;
	struct remap_req req;
	struct remap_err err;
	struct remap *m = NULL;
	const uint8_t *nul, *map;
	size_t mapn, outsz, namen;
	unsigned sel;
	char *name;

	if (size < 1)
		return 0;
	sel = data[0] >> 3;
	outsz = sel == 0 ? 1 : sel == 31 ? REMAP_MAX : sel * 16;
	nul = memchr(data + 1, '\0', size - 1);
	namen = nul ? (size_t)(nul - data - 1) : size - 1;
	map = nul ? nul + 1 : data + size;
	mapn = (size_t)(data + size - map);
	if (namen > NAME_MAX_IN || mapn > MAP_MAX ||
	    fuzz_regex_too_hard(map, mapn))
		return 0;

	if (remap_parse((const char *)map, mapn, &m, &err) < 0) {
		FUZZ_CHECK(m == NULL);
		FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) != NULL);
		FUZZ_CHECK(err.msg[0] != '\0');
		FUZZ_CHECK(err.line >= 1 && err.line <= lines_in(map, mapn));
		return 0;
	}
	FUZZ_CHECK(m != NULL);
	FUZZ_CHECK(remap_count(m) <= lines_in(map, mapn));

	if ((name = malloc(namen + 1)) == NULL)
		abort();
	memcpy(name, data + 1, namen);
	name[namen] = '\0';
	memset(&client, 0, sizeof(client));
	if (((data[0] >> 1) & 3) != 3)
		client_of((data[0] >> 1) & 3, &client);
	req.name = name;
	req.is_put = data[0] & 1;
	req.client = ((data[0] >> 1) & 3) != 3 ? &client : NULL;
	run(m, &req, outsz, lines_in(map, mapn));
	free(name);
	remap_free(m);
	return 0;
}
