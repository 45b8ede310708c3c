/*
 * options.h - RFC 2347 option negotiation: blksize (RFC 2348), timeout and
 * tsize (RFC 2349), windowsize (RFC 7440) and rollover.
 *
 * Pure.  Names are matched without regard to case; an option that is
 * unknown, out of range or malformed is ignored (never echoed), and a
 * repeated option keeps its first occurrence.  The server side clamps what
 * a client asks for to its limits instead of refusing.
 */
#ifndef TFTPX_OPTIONS_H
#define TFTPX_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"

/* Bits of struct tftp_opts.have */
#define OPT_BLKSIZE	0x01u
#define OPT_TIMEOUT	0x02u
#define OPT_TSIZE	0x04u
#define OPT_WINDOWSIZE	0x08u
#define OPT_ROLLOVER	0x10u

#define OPT_TIMEOUT_MIN		1
#define OPT_TIMEOUT_MAX		255
#define OPT_WINDOWSIZE_MIN	1
#define OPT_WINDOWSIZE_MAX	65535

struct tftp_opts {
	unsigned	have;		/* OPT_* present (request) or granted */
	unsigned	blksize;	/* PKT_BLKSIZE_DEF when absent */
	unsigned	timeout;	/* seconds; 0 when absent */
	uint64_t	tsize;		/* 0 when absent */
	unsigned	windowsize;	/* 1 when absent */
	unsigned	rollover;	/* 0 when absent */
};

struct options_limits {
	unsigned	blksize_max;	/* <= PKT_BLKSIZE_MAX */
	unsigned	windowsize_max;	/* <= OPT_WINDOWSIZE_MAX */
	/* blksize * windowsize is clamped (by lowering windowsize) to this */
	uint64_t	window_bytes_max;
};

/* Text storage for options_to_list(): one slot per option. */
struct opt_text {
	char	value[5][24];
};

/* Defaults of RFC 1350: blksize 512, windowsize 1, nothing present. */
void	options_init(struct tftp_opts *o);

/* The value of one option (bit: OPT_BLKSIZE ...), present or not. */
uint64_t options_get(const struct tftp_opts *o, unsigned bit);

/* Fill o (after options_init) from the options of a request. */
void	options_parse(const struct pkt_opt *opts, size_t n, struct tftp_opts *o);

/* What options_parse did with each option of a request. */
enum opt_fate {
	OPT_TAKEN,		/* known, well-formed, the first of its name */
	OPT_UNKNOWN,		/* a name we do not know */
	OPT_REPEATED,		/* a known name again: the first one stands */
	OPT_BAD,		/* malformed or out of range: ignored */
};

/* options_parse(), and fate[i] (enum opt_fate) for opts[i]; fate may be NULL. */
void	options_parse_fates(const struct pkt_opt *opts, size_t n,
	    struct tftp_opts *o, unsigned char *fate);

/* The name we write for an option bit ("blksize"), or NULL. */
const char *options_name(unsigned bit);

/* The i-th option bit in the order options are written; 0 past the end. */
unsigned options_bit(size_t i);

/*
 * Server: what to grant for a request.  is_rrq selects the tsize rule:
 * for an RRQ tsize is answered with file_size, and left out when
 * file_size < 0 (unknown) or == 0 (curl 7.88 rejects "tsize 0");
 * for a WRQ the announced size is echoed.  Values are clamped to lim.
 * granted->have says which options go in the OACK (none: no OACK).
 */
void	options_negotiate(const struct tftp_opts *req,
	    const struct options_limits *lim, int is_rrq, int64_t file_size,
	    struct tftp_opts *granted);

/*
 * The options in o->have as a list for packet_encode_request() or
 * packet_encode_oack(), in a fixed order (blksize, timeout, tsize,
 * windowsize, rollover), lower-case names, values written into t.
 * Returns the count.
 */
size_t	options_to_list(const struct tftp_opts *o, struct opt_text *t,
	    struct pkt_opt *out);

/*
 * Client: check an OACK against what was requested and fill accepted.
 * Returns 0, or -1 when the OACK names an option not requested, repeats
 * one, or grants a value the client cannot take (blksize or windowsize
 * above the request or out of range, timeout out of range, rollover not
 * 0/1): the client then answers ERROR 8.
 */
int	options_check_oack(const struct tftp_opts *requested,
	    const struct pkt_opt *opts, size_t n, struct tftp_opts *accepted);

/* "blksize=1468 windowsize=16" for logs; writes at most cap bytes. */
void	options_format(const struct tftp_opts *o, char *buf, size_t cap);

#endif
