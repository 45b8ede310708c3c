/*
 * packet.h - the TFTP wire format (RFC 1350, RFC 2347 OACK).
 *
 * Pure: no allocation, no syscalls.  Decoding never trusts a NUL: every
 * string is found with a bounded walk inside the datagram, and the decoded
 * struct points into the caller's buffer (except the ERROR text, which is
 * copied because real peers send it without its NUL).
 */
#ifndef TFTPX_PACKET_H
#define TFTPX_PACKET_H

#include <stddef.h>
#include <stdint.h>

enum tftp_op {
	TFTP_RRQ = 1,
	TFTP_WRQ = 2,
	TFTP_DATA = 3,
	TFTP_ACK = 4,
	TFTP_ERROR = 5,
	TFTP_OACK = 6,
};

/* ERROR codes, RFC 1350 section 5 and RFC 2347 (8). */
enum tftp_err {
	TFTP_EUNDEF = 0,	/* not defined, see message */
	TFTP_ENOTFOUND = 1,	/* file not found */
	TFTP_EACCESS = 2,	/* access violation */
	TFTP_ENOSPACE = 3,	/* disk full or allocation exceeded */
	TFTP_EBADOP = 4,	/* illegal TFTP operation */
	TFTP_EBADID = 5,	/* unknown transfer ID */
	TFTP_EEXISTS = 6,	/* file already exists */
	TFTP_ENOUSER = 7,	/* no such user */
	TFTP_EOPTNEG = 8,	/* option negotiation refused (RFC 2347) */
};

#define PKT_HDR		4	/* opcode + block, or opcode + error code */
#define PKT_BLKSIZE_MIN	8	/* RFC 2348 */
#define PKT_BLKSIZE_MAX	65464	/* RFC 2348: 65535 - 20 (IP) - 8 (UDP) - 4 - ... */
#define PKT_BLKSIZE_DEF	512	/* RFC 1350 */
#define PKT_MAX		(PKT_BLKSIZE_MAX + PKT_HDR)
#define PKT_OPT_MAX	16	/* options kept from one request; extra ones ignored */
#define PKT_ERRMSG_MAX	256	/* ERROR text kept (truncated beyond) */

/* Decode failures (negative return of packet_decode). */
#define PKT_EMALFORMED	(-1)	/* truncated, missing NUL, empty string */
#define PKT_EBADOPCODE	(-2)	/* opcode not 1..6 */

struct pkt_opt {
	const char	*name;
	const char	*value;
};

struct packet {
	int		 op;		/* enum tftp_op */
	/* RRQ, WRQ: */
	const char	*filename;
	const char	*mode;
	/* RRQ, WRQ, OACK: options in wire order, at most PKT_OPT_MAX */
	struct pkt_opt	 opts[PKT_OPT_MAX];
	size_t		 nopts;
	/* DATA, ACK: */
	uint16_t	 block;
	/* DATA: */
	const uint8_t	*data;
	size_t		 data_len;
	/* ERROR: code and a NUL-terminated copy of the text */
	uint16_t	 err_code;
	char		 err_msg[PKT_ERRMSG_MAX];
};

static inline uint16_t
get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * Decode one datagram.  Returns 0, PKT_EMALFORMED or PKT_EBADOPCODE.
 * Request and OACK strings must be NUL-terminated inside buf (buf itself
 * need not be); a trailing incomplete option pair is ignored (some
 * firmware pads requests).  An ERROR text may lack its NUL.
 */
int	packet_decode(const uint8_t *buf, size_t len, struct packet *p);

/*
 * Encoders return the datagram length, or 0 if it does not fit in cap.
 * None of them writes past cap.
 */
size_t	packet_encode_request(uint8_t *buf, size_t cap, int op,
	    const char *filename, const char *mode,
	    const struct pkt_opt *opts, size_t nopts);
size_t	packet_encode_oack(uint8_t *buf, size_t cap,
	    const struct pkt_opt *opts, size_t nopts);
size_t	packet_encode_ack(uint8_t *buf, size_t cap, uint16_t block);
/* DATA header only: the caller places the payload at buf + PKT_HDR. */
size_t	packet_encode_data_hdr(uint8_t *buf, size_t cap, uint16_t block);
/* msg NULL means the standard text for code. */
size_t	packet_encode_error(uint8_t *buf, size_t cap, uint16_t code,
	    const char *msg);

/* Standard text for an error code ("File not found", ...). */
const char *packet_error_text(unsigned code);
/* "RRQ", "WRQ", "DATA", ... or "op?" */
const char *packet_op_name(int op);

#endif
