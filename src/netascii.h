/*
 * netascii.h - streaming conversion between local text (LF line ends) and
 * netascii (RFC 764: CR LF for a line end, CR NUL for a bare CR).
 *
 * Pure.  Both directions keep their state across calls, so a CR that ends
 * one block and its LF or NUL that starts the next are handled.
 */
#ifndef TFTPX_NETASCII_H
#define TFTPX_NETASCII_H

#include <stddef.h>
#include <stdint.h>

struct netascii_enc {
	int	pending;	/* byte owed to the output, or -1 */
};

struct netascii_dec {
	int	cr;		/* last input byte was a CR not yet decided */
};

void	netascii_enc_init(struct netascii_enc *st);
void	netascii_dec_init(struct netascii_dec *st);

/*
 * Encode src into dst until dst is full or src is used up.  *consumed is
 * set to the source bytes used; returns the bytes written to dst.  A
 * two-byte expansion split at the end of dst is finished by the next call
 * (st->pending), which then writes before consuming anything.
 */
size_t	netascii_encode(struct netascii_enc *st, const uint8_t *src,
	    size_t srclen, size_t *consumed, uint8_t *dst, size_t dstcap);

/*
 * Decode len bytes of src into dst, which must have room for len + 1
 * bytes (a CR held back from the previous call may be written out).
 * CR LF -> LF, CR NUL -> CR, CR x -> CR x (lenient).  Returns bytes written.
 * src and dst must not overlap: a held CR puts the output one byte ahead
 * of the input.
 */
size_t	netascii_decode(struct netascii_dec *st, const uint8_t *src,
	    size_t len, uint8_t *dst);

/* End of input: a held-back CR is written as CR.  Returns 0 or 1. */
size_t	netascii_decode_finish(struct netascii_dec *st, uint8_t *dst);

#endif
