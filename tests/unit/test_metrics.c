/*
 * test_metrics.c - the counts fed by the server's events and their
 * Prometheus text format: series, labels, cumulative buckets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "metrics.h"

/* Does text hold the line exactly (a whole line, value included)? */
static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

static char *
render(uint64_t live, int64_t cache)
{
	size_t len = 0;
	char *t = metrics_render(&metrics_counts, live, cache, &len);

	CHECK(t != NULL);
	if (t != NULL)
		CHECK_EQ(strlen(t), len);
	return t;
}

static void
test_transfers_and_bytes(void)
{
	char *t;

	memset(&metrics_counts, 0, sizeof(metrics_counts));
	metrics_transfer(0, 1, 1000, 2, 1, 0.02);
	metrics_transfer(0, 1, 500, 0, 0, 3.0);
	metrics_transfer(0, 0, 10, 5, 0, 200.0);
	metrics_transfer(1, 1, 70000, 1, 0, 0.5);
	t = render(3, -1);
	CHECK(has_line(t, "tftpx_transfers_total{direction=\"get\","
	    "outcome=\"ok\"} 2"));
	CHECK(has_line(t, "tftpx_transfers_total{direction=\"get\","
	    "outcome=\"failed\"} 1"));
	CHECK(has_line(t, "tftpx_transfers_total{direction=\"put\","
	    "outcome=\"ok\"} 1"));
	CHECK(has_line(t, "tftpx_bytes_total{direction=\"get\"} 1510"));
	CHECK(has_line(t, "tftpx_bytes_total{direction=\"put\"} 70000"));
	CHECK(has_line(t, "tftpx_retransmits_total 8"));
	CHECK(has_line(t, "tftpx_probes_total 1"));
	CHECK(has_line(t, "tftpx_transfers_live 3"));
	CHECK(has_line(t, "# TYPE tftpx_transfers_total counter"));
	CHECK(has_line(t, "# TYPE tftpx_transfers_live gauge"));
	/* no origin: no origin series */
	CHECK(strstr(t, "tftpx_origin_") == NULL);
	free(t);
}

static void
test_histogram_is_cumulative(void)
{
	char *t;

	memset(&metrics_counts, 0, sizeof(metrics_counts));
	metrics_transfer(0, 1, 1, 0, 0, 0.01);	/* on a bound: in it */
	metrics_transfer(0, 1, 1, 0, 0, 0.2);
	metrics_transfer(0, 1, 1, 0, 0, 7.5);
	metrics_transfer(0, 0, 1, 0, 0, 500);	/* past the last: +Inf */
	t = render(0, -1);
	CHECK(has_line(t, "# TYPE tftpx_transfer_duration_seconds "
	    "histogram"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_bucket{direction="
	    "\"get\",le=\"0.01\"} 1"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_bucket{direction="
	    "\"get\",le=\"0.1\"} 1"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_bucket{direction="
	    "\"get\",le=\"0.5\"} 2"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_bucket{direction="
	    "\"get\",le=\"10\"} 3"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_bucket{direction="
	    "\"get\",le=\"120\"} 3"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_bucket{direction="
	    "\"get\",le=\"+Inf\"} 4"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_count{direction="
	    "\"get\"} 4"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_sum{direction="
	    "\"get\"} 507.710000"));
	CHECK(has_line(t, "tftpx_transfer_duration_seconds_count{direction="
	    "\"put\"} 0"));
	free(t);
}

static void
test_refusals_by_reason(void)
{
	char *t;

	memset(&metrics_counts, 0, sizeof(metrics_counts));
	metrics_refusal(1, "file not found");
	metrics_refusal(1, "file not found");
	metrics_refusal(2, "path leaves the root");
	metrics_refusal(0, "server busy, try again later");
	metrics_refusal(0, "origin: HTTP 500");
	metrics_refusal(8, "unacceptable option");
	metrics_duplicate();
	t = render(0, -1);
	CHECK(has_line(t, "tftpx_refusals_total{reason=\"not_found\"} 2"));
	CHECK(has_line(t, "tftpx_refusals_total{reason=\"access_violation\"}"
	    " 1"));
	CHECK(has_line(t, "tftpx_refusals_total{reason=\"busy\"} 1"));
	CHECK(has_line(t, "tftpx_refusals_total{reason=\"other\"} 1"));
	CHECK(has_line(t, "tftpx_refusals_total{reason=\"option_refused\"}"
	    " 1"));
	CHECK(has_line(t, "tftpx_refusals_total{reason=\"disk_full\"} 0"));
	CHECK(has_line(t, "tftpx_duplicate_requests_total 1"));
	free(t);
}

static void
test_origin_series(void)
{
	char *t;

	memset(&metrics_counts, 0, sizeof(metrics_counts));
	metrics_counts.origin_on = 1;
	metrics_origin(MO_MISS);
	metrics_origin(MO_SHARED);
	metrics_origin(MO_SHARED);
	metrics_origin(MO_HIT);
	metrics_origin(MO_REVALIDATED);
	metrics_origin(MO_FAILED);
	metrics_counts.puts_ok = 4;
	t = render(0, 123456);
	CHECK(has_line(t, "tftpx_origin_requests_total{result=\"shared\"} 2"));
	CHECK(has_line(t, "tftpx_origin_requests_total{result=\"stale\"} 0"));
	/* GETs: a miss, a revalidation, a failure */
	CHECK(has_line(t, "tftpx_origin_fetches_total 3"));
	CHECK(has_line(t, "tftpx_origin_cache_hits_total 2"));
	CHECK(has_line(t, "tftpx_origin_uploads_total{outcome=\"ok\"} 4"));
	CHECK(has_line(t, "tftpx_origin_cache_bytes 123456"));
	free(t);
	/* no --cache: no cache gauge */
	t = render(0, -1);
	CHECK(strstr(t, "tftpx_origin_cache_bytes") == NULL);
	free(t);
}

int
main(void)
{
	RUN(test_transfers_and_bytes);
	RUN(test_histogram_is_cumulative);
	RUN(test_refusals_by_reason);
	RUN(test_origin_series);
	return CHECK_EXIT();
}
