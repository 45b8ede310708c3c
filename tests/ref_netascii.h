/*
 * ref_netascii.h - the one-shot reference netascii encoder the tests and
 * fuzz targets check src/netascii.c (and xfer's netascii blocks) against.
 *
 * Written independently of the streamer on purpose: no state, no block
 * edges, nothing shared with src/netascii.c, so a bug there cannot hide
 * in its own oracle.  LF -> CR LF, CR -> CR NUL (RFC 764), every other
 * byte as it is; dst needs room for 2 n bytes.
 *
 * Included from tests/unit/ ("../ref_netascii.h") and fuzz/
 * ("../tests/ref_netascii.h"), so no extra -I is needed.
 */
#ifndef TFTPX_REF_NETASCII_H
#define TFTPX_REF_NETASCII_H

#include <stddef.h>
#include <stdint.h>

static inline size_t
ref_netascii_encode(const uint8_t *src, size_t n, uint8_t *dst)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (src[i] == '\n') {
			dst[o++] = '\r';
			dst[o++] = '\n';
		} else if (src[i] == '\r') {
			dst[o++] = '\r';
			dst[o++] = '\0';
		} else
			dst[o++] = src[i];
	}
	return o;
}

#endif
