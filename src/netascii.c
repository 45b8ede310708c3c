/*
 * netascii.c - streaming conversion between local text (LF line ends) and
 * netascii (RFC 764: CR LF for a line end, CR NUL for a bare CR).
 *
 * Pure.  Blocks are cut at arbitrary byte offsets, so either half of a
 * two-byte sequence may sit in the next call: the encoder owes one byte
 * (pending), the decoder holds one CR (cr) until it sees what follows.
 */
#include "netascii.h"

void
netascii_enc_init(struct netascii_enc *st)
{
	st->pending = -1;
}

void
netascii_dec_init(struct netascii_dec *st)
{
	st->cr = 0;
}

size_t
netascii_encode(struct netascii_enc *st, const uint8_t *src,
    size_t srclen, size_t *consumed, uint8_t *dst, size_t dstcap)
{
	size_t in = 0, out = 0;
	uint8_t c, second;

	/* Finish the expansion the last call cut at its dst boundary. */
	if (st->pending >= 0) {
		if (dstcap == 0) {
			*consumed = 0;
			return 0;
		}
		dst[out++] = (uint8_t)st->pending;
		st->pending = -1;
	}
	while (in < srclen && out < dstcap) {
		c = src[in++];
		if (c != '\n' && c != '\r') {
			dst[out++] = c;
			continue;
		}
		second = c == '\n' ? '\n' : '\0';
		dst[out++] = '\r';
		if (out < dstcap)
			dst[out++] = second;
		else
			st->pending = second;
	}
	*consumed = in;
	return out;
}

size_t
netascii_decode(struct netascii_dec *st, const uint8_t *src,
    size_t len, uint8_t *dst)
{
	size_t i, out = 0;
	uint8_t c;

	/*
	 * A CR writes nothing when read and one byte once decided, so the
	 * output is at most the input plus a CR held from the last call:
	 * the len + 1 of the contract.
	 */
	for (i = 0; i < len; i++) {
		c = src[i];
		if (st->cr) {
			st->cr = 0;
			if (c == '\n') {
				dst[out++] = '\n';
				continue;
			}
			if (c == '\0') {
				dst[out++] = '\r';
				continue;
			}
			/* CR x is kept as is (lenient); x itself goes below. */
			dst[out++] = '\r';
		}
		if (c == '\r')
			st->cr = 1;
		else
			dst[out++] = c;
	}
	return out;
}

size_t
netascii_decode_finish(struct netascii_dec *st, uint8_t *dst)
{
	if (!st->cr)
		return 0;
	st->cr = 0;
	dst[0] = '\r';
	return 1;
}
