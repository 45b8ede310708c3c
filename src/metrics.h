/*
 * metrics.h - what the server did, counted, and served to Prometheus in
 * its text format on GET /metrics (--metrics ADDR:PORT).  The counters
 * are fed by the server's events (events.c) and the origin (origin.c);
 * the HTTP side is libmicrohttpd in its external-epoll mode, its epoll
 * fd watched by the server's loop: no thread.
 */
#ifndef TFTPX_METRICS_H
#define TFTPX_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct loop;

/* The buckets of the duration histogram, in seconds (and +Inf). */
#define METRICS_BUCKETS	10

enum metrics_dir { METRICS_GET, METRICS_PUT, METRICS_DIRS };

enum metrics_refusal {
	MR_NOT_FOUND,		/* ERROR 1 */
	MR_ACCESS,		/* ERROR 2 */
	MR_DISK_FULL,		/* ERROR 3 */
	MR_ILLEGAL,		/* ERROR 4 */
	MR_EXISTS,		/* ERROR 6 */
	MR_OPTIONS,		/* ERROR 8 */
	MR_BUSY,		/* ERROR 0 "server busy ..." */
	MR_OTHER,		/* any other */
	MR_COUNT,
};

enum metrics_origin {
	MO_MISS,		/* fetched, nobody had it */
	MO_SHARED,		/* joined a fetch under way */
	MO_HIT,			/* from the cache, fresh */
	MO_REVALIDATED,		/* the origin said 304 */
	MO_STALE,		/* the origin failed; the old copy served */
	MO_FAILED,		/* the fetch failed */
	MO_COUNT,
};

struct metrics_counts {
	uint64_t	transfers[METRICS_DIRS][2];	/* [dir][ok] */
	uint64_t	bytes[METRICS_DIRS];
	uint64_t	retransmits;
	uint64_t	probes;
	uint64_t	refusals[MR_COUNT];
	uint64_t	duplicates;
	uint64_t	hist[METRICS_DIRS][METRICS_BUCKETS];	/* not cumulative */
	double		hist_sum[METRICS_DIRS];
	uint64_t	origin[MO_COUNT];
	uint64_t	puts_ok, puts_failed;			/* --origin-upload */
	int		origin_on;	/* the origin's series exist */
};

/* The server's counts (one server a process). */
extern struct metrics_counts metrics_counts;

/* A transfer ended (events_end). */
void	metrics_transfer(int put, int ok, uint64_t bytes, uint64_t retransmits,
	    uint64_t probes, double secs);
/* A request was refused with ERROR code msg (events_refusal). */
void	metrics_refusal(int code, const char *msg);
void	metrics_duplicate(void);
void	metrics_origin(enum metrics_origin what);

/*
 * The text format of counts c, with live transfers and the cache's
 * bytes (-1: no cache), into a malloc'd string (*len its length).
 * NULL when out of memory.  Pure: the unit test reads it.
 */
char	*metrics_render(const struct metrics_counts *c, uint64_t live,
	    int64_t cache_bytes, size_t *len);

/*
 * Take --metrics apart: "ADDR:PORT", "[V6]:PORT", ":PORT" or "PORT" (the
 * last two: 127.0.0.1).  0, or -1 with a static reason in *why.
 */
int	metrics_split(const char *addr, char *host, size_t cap, int *port,
	    const char **why);

/* Built with libmicrohttpd?  1 or 0. */
int	metrics_available(void);

struct metrics;

/*
 * Serve GET /metrics on addr ("127.0.0.1:9169", "[::1]:0", ":9169" or
 * "9169": loopback).  live(arg) and cache(arg) are read at each scrape.
 * NULL with why filled.
 */
struct metrics *metrics_open(struct loop *l, const char *addr,
	    uint64_t (*live)(void *), int64_t (*cache)(void *), void *arg,
	    char *why, size_t cap);
/* The address it listens on ("127.0.0.1:9169") into buf (64 bytes). */
const char *metrics_where(const struct metrics *m, char *buf);
void	metrics_close(struct metrics *m);

#endif
