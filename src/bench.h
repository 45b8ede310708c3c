/*
 * bench.h - `tftpx bench`: a load generator.  Many transfers of one file
 * run at once from one event loop, each with its own socket; the run
 * ends with throughput, transfers per second, transfer-time percentiles,
 * retransmits and failures.
 */
#ifndef TFTPX_BENCH_H
#define TFTPX_BENCH_H

#include <stdint.h>

#include "options.h"

#define BENCH_CONC_MAX	10000		/* -c: each transfer holds a port */
#define BENCH_TOTAL_MAX	10000000	/* -n: transfer times are kept */

struct bench_cfg {
	const char	*host;		/* as given (name or address) */
	int		 port;
	const char	*file;		/* get: remote name; put: local file */
	const char	*local;		/* --verify reads this (get) */
	const char	*remote;	/* put: the name uploads are given */
	unsigned	 concurrency;
	uint64_t	 total;
	struct tftp_opts opts;		/* options to request */
	unsigned	 timeout;	/* seconds, first retransmission */
	unsigned	 retries;
	int		 put;
	int		 verify;
	int		 json;
	int		 quiet;
};

/* Run the benchmark.  Returns the exit status: 0 all ok, 1 otherwise. */
int	bench_run(const struct bench_cfg *cfg);

#endif
