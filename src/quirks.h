/*
 * quirks.h - what the server learns about clients it cannot ask: the
 * shape of U-Boot's requests, and hosts whose NIC drops bursts, so that
 * their next downloads are granted windowsize 1
 * (doc/notes/uboot-e1000.md).  It gives adjustments to a transfer's
 * configuration; xfer.c does the rest (the OACK burst itself, probes).
 *
 * Pure: time is an argument.  Bounded: a ring of QUIRKS_HOSTS hosts;
 * forgetting one early only costs it one more windowed download.
 */
#ifndef TFTPX_QUIRKS_H
#define TFTPX_QUIRKS_H

#include <stdint.h>

#include "dedup.h"
#include "packet.h"
#include "xfer.h"

#define QUIRKS_HOSTS	64
#define QUIRKS_KEEP_US	(600 * 1000000ull)	/* ten minutes */
#define QUIRKS_TAILS	8		/* tails lost, and at least */
#define QUIRKS_PCT	2		/*  this percent of its windows */
#define QUIRKS_BURST	3		/* OACK copies a U-Boot client gets */

struct quirk_host {
	struct dedup_key	 host;		/* port 0 */
	uint64_t		 until;		/* 0: free */
	int			 burst;		/* found by the OACK burst */
};

/* Zero-initialised is empty. */
struct quirks {
	struct quirk_host	 h[QUIRKS_HOSTS];
	unsigned		 next;		/* ring position */
};

/*
 * A request in U-Boot's form (net/tftp.c): mode octet, and the options
 * in its order, timeout first: timeout, [tsize], blksize, [windowsize].
 */
int	quirks_uboot_like(const struct packet *p);

/*
 * A download from peer ended: remember its host for QUIRKS_KEEP_US when
 * the OACK burst narrowed its window, or when its windows kept losing
 * their tails right after the first blocks (at least QUIRKS_TAILS and
 * QUIRKS_PCT % of its windows, more often than it sent gap ACKs: random
 * loss makes gap ACKs too).
 */
void	quirks_note(struct quirks *q, const struct dedup_key *peer,
	    const struct xfer *x, uint64_t now);

/*
 * Adjust a new download's configuration (its granted options in
 * xc->opts): windowsize 1 for a remembered host, the OACK burst for a
 * request in U-Boot's form.  Returns why the window was cut, or NULL.
 */
const char *quirks_adjust(const struct quirks *q, const struct dedup_key *peer,
	    const struct packet *p, struct xfer_cfg *xc, uint64_t now);

#endif
