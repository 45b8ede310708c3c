/*
 * metrics.c - the server's counts and their Prometheus text format
 * (metrics_render).  Pure: no system call; metrics_http.c serves the
 * text.  See metrics.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

struct metrics_counts metrics_counts;

/* Upper bounds of the duration buckets; the last is +Inf. */
static const double bucket_le[METRICS_BUCKETS - 1] = {
	0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 120,
};

static const char *const dir_name[METRICS_DIRS] = { "get", "put" };

static const char *const refusal_name[MR_COUNT] = {
	"not_found", "access_violation", "disk_full", "illegal_operation",
	"file_exists", "option_refused", "busy", "other",
};

static const char *const origin_name[MO_COUNT] = {
	"miss", "shared", "hit", "revalidated", "stale", "failed",
};

void
metrics_transfer(int put, int ok, uint64_t bytes, uint64_t retransmits,
    uint64_t probes, double secs)
{
	struct metrics_counts *c = &metrics_counts;
	int d = put ? METRICS_PUT : METRICS_GET, b;

	c->transfers[d][ok ? 1 : 0]++;
	c->bytes[d] += bytes;
	c->retransmits += retransmits;
	c->probes += probes;
	for (b = 0; b < METRICS_BUCKETS - 1 && secs > bucket_le[b]; b++)
		;
	c->hist[d][b]++;
	c->hist_sum[d] += secs;
}

void
metrics_refusal(int code, const char *msg)
{
	enum metrics_refusal r;

	switch (code) {
	case 1: r = MR_NOT_FOUND; break;
	case 2: r = MR_ACCESS; break;
	case 3: r = MR_DISK_FULL; break;
	case 4: r = MR_ILLEGAL; break;
	case 6: r = MR_EXISTS; break;
	case 8: r = MR_OPTIONS; break;
	default:
		r = code == 0 && msg != NULL && strstr(msg, "busy") != NULL ?
		    MR_BUSY : MR_OTHER;
	}
	metrics_counts.refusals[r]++;
}

void
metrics_duplicate(void)
{
	metrics_counts.duplicates++;
}

void
metrics_origin(enum metrics_origin what)
{
	if (what < MO_COUNT)
		metrics_counts.origin[what]++;
}

/* ---- the text format ------------------------------------------------- */

struct text {
	char	*buf;
	size_t	 len, cap;
	int	 oom;
};

static void
put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		if (t->oom)
			return;
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t cap = t->cap * 2 + (size_t)n;
			char *b = realloc(t->buf, cap);

			if (b == NULL) {
				t->oom = 1;
				return;
			}
			t->buf = b;
			t->cap = cap;
		}
	}
}

static void
head(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *
metrics_render(const struct metrics_counts *c, uint64_t live,
    int64_t cache_bytes, size_t *len)
{
	struct text t = { NULL, 0, 4096, 0 };
	uint64_t cum, fetches, hits;
	int d, i;

	if ((t.buf = malloc(t.cap)) == NULL)
		return NULL;
	t.buf[0] = '\0';
	head(&t, "tftpx_transfers_total", "counter",
	    "Transfers ended, by direction and outcome.");
	for (d = 0; d < METRICS_DIRS; d++)
		for (i = 1; i >= 0; i--)
			put(&t, "tftpx_transfers_total{direction=\"%s\","
			    "outcome=\"%s\"} %llu\n", dir_name[d],
			    i ? "ok" : "failed",
			    (unsigned long long)c->transfers[d][i]);
	head(&t, "tftpx_bytes_total", "counter",
	    "File bytes moved by ended transfers.");
	for (d = 0; d < METRICS_DIRS; d++)
		put(&t, "tftpx_bytes_total{direction=\"%s\"} %llu\n",
		    dir_name[d], (unsigned long long)c->bytes[d]);
	head(&t, "tftpx_retransmits_total", "counter",
	    "Packets sent again by ended transfers.");
	put(&t, "tftpx_retransmits_total %llu\n",
	    (unsigned long long)c->retransmits);
	head(&t, "tftpx_probes_total", "counter",
	    "Blocks sent as tail probes by ended transfers.");
	put(&t, "tftpx_probes_total %llu\n", (unsigned long long)c->probes);
	head(&t, "tftpx_refusals_total", "counter",
	    "Requests refused with an ERROR, by reason.");
	for (i = 0; i < MR_COUNT; i++)
		put(&t, "tftpx_refusals_total{reason=\"%s\"} %llu\n",
		    refusal_name[i], (unsigned long long)c->refusals[i]);
	head(&t, "tftpx_duplicate_requests_total", "counter",
	    "Repeated requests dropped while their transfer ran.");
	put(&t, "tftpx_duplicate_requests_total %llu\n",
	    (unsigned long long)c->duplicates);
	head(&t, "tftpx_transfers_live", "gauge", "Transfers running now.");
	put(&t, "tftpx_transfers_live %llu\n", (unsigned long long)live);
	head(&t, "tftpx_transfer_duration_seconds", "histogram",
	    "Time from request to end of ended transfers.");
	for (d = 0; d < METRICS_DIRS; d++) {
		for (cum = 0, i = 0; i < METRICS_BUCKETS; i++) {
			cum += c->hist[d][i];
			if (i < METRICS_BUCKETS - 1)
				put(&t, "tftpx_transfer_duration_seconds_bucket"
				    "{direction=\"%s\",le=\"%g\"} %llu\n",
				    dir_name[d], bucket_le[i],
				    (unsigned long long)cum);
			else
				put(&t, "tftpx_transfer_duration_seconds_bucket"
				    "{direction=\"%s\",le=\"+Inf\"} %llu\n",
				    dir_name[d], (unsigned long long)cum);
		}
		put(&t, "tftpx_transfer_duration_seconds_sum{direction="
		    "\"%s\"} %.6f\n", dir_name[d], c->hist_sum[d]);
		put(&t, "tftpx_transfer_duration_seconds_count{direction="
		    "\"%s\"} %llu\n", dir_name[d], (unsigned long long)cum);
	}
	if (c->origin_on) {
		head(&t, "tftpx_origin_requests_total", "counter",
		    "Gets for names not in DIR, by how the origin served them.");
		for (i = 0; i < MO_COUNT; i++)
			put(&t, "tftpx_origin_requests_total{result=\"%s\"} "
			    "%llu\n", origin_name[i],
			    (unsigned long long)c->origin[i]);
		fetches = c->origin[MO_MISS] + c->origin[MO_REVALIDATED] +
		    c->origin[MO_STALE] + c->origin[MO_FAILED];
		hits = c->origin[MO_HIT] + c->origin[MO_REVALIDATED];
		head(&t, "tftpx_origin_fetches_total", "counter",
		    "GETs sent to the origin (misses and revalidations).");
		put(&t, "tftpx_origin_fetches_total %llu\n",
		    (unsigned long long)fetches);
		head(&t, "tftpx_origin_cache_hits_total", "counter",
		    "Gets served from the cache (fresh, or revalidated).");
		put(&t, "tftpx_origin_cache_hits_total %llu\n",
		    (unsigned long long)hits);
		head(&t, "tftpx_origin_uploads_total", "counter",
		    "Uploads handed on to the origin with PUT, by outcome.");
		put(&t, "tftpx_origin_uploads_total{outcome=\"ok\"} %llu\n",
		    (unsigned long long)c->puts_ok);
		put(&t, "tftpx_origin_uploads_total{outcome=\"failed\"} "
		    "%llu\n", (unsigned long long)c->puts_failed);
		if (cache_bytes >= 0) {
			head(&t, "tftpx_origin_cache_bytes", "gauge",
			    "Bytes in the --cache directory.");
			put(&t, "tftpx_origin_cache_bytes %lld\n",
			    (long long)cache_bytes);
		}
	}
	if (t.oom) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
