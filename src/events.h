/*
 * events.h - what the server tells about requests and transfers: one
 * function per event, each writing the text line and the JSON record
 * (--log-format json) from the same arguments, so the two cannot say
 * different things.  The words of every line are documented in the
 * README ("What it tells you"); the JSON fields in its events table.
 */
#ifndef TFTPX_EVENTS_H
#define TFTPX_EVENTS_H

#include <stdint.h>

#include "options.h"
#include "packet.h"
#include "udp.h"
#include "xfer.h"

/* Who and what an event is about: a request, or the transfer it began. */
struct ev_who {
	const struct udp_addr	*peer;
	int			 op;		/* TFTP_RRQ or TFTP_WRQ */
	const char		*file;		/* the name as asked */
	const char		*mode;
};

/* A transfer starts (-v): what was asked, granted and ignored, and why. */
struct ev_start {
	const struct packet	*req;		/* the request as sent */
	const unsigned char	*fate;		/* enum opt_fate per option */
	const struct tftp_opts	*asked;
	const struct tftp_opts	*granted;
	const char		*blksize_cut;	/* why blksize was lowered */
	const char		*window_cut;	/* why windowsize was */
	const char		*dropped;	/* why an asked one is absent */
};

void	events_start(const struct ev_who *w, const struct ev_start *e);

/* A transfer ended: its line, once (ok at LOG_NORMAL, failed always). */
void	events_end(const struct ev_who *w, const struct xfer *x,
	    uint64_t dups, double secs);

/* The OACK burst narrowed the window (-v). */
void	events_narrowed(const struct ev_who *w, const struct xfer *x);

/* A request was refused with ERROR code msg; reason is for people. */
void	events_refusal(int level, const struct ev_who *w, int code,
	    const char *msg, const char *reason);

/*
 * Which file a request's name led to (-v): the name asked is w->file,
 * served the path beneath the root, how the steps that changed it
 * ("map lines 2,5; client dir 10.0.0.2/; case ignored"; names.c).
 */
void	events_name(const struct ev_who *w, const char *served,
	    const char *how);

/* A repeated request was dropped (-v); finished: its transfer had ended. */
void	events_duplicate(const struct ev_who *w, int finished);

#endif
