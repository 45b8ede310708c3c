/*
 * fuzz_netascii.c - the streaming netascii codec under any chunking.
 *
 * Input:
 *	[0]	largest source chunk for the encoder - 1
 *	[1]	largest dst capacity for the encoder - 1
 *	[2]	largest chunk for the decoder - 1
 *	[3..6]	seed of the generator that picks the sizes
 *	[7..]	the text
 *
 * The text is encoded in chunks into dst buffers of random capacity (0
 * included), and must come out as the one-shot reference encoding; that
 * is decoded in random chunks and must give the text back.  The text is
 * also decoded as if it were netascii from the wire, against a one-shot
 * reference of the lenient rules.  Every dst is a heap buffer of exactly
 * the size the contract promises (dstcap, or len + 1 for the decoder), so
 * ASan catches a write one past it.
 */
#include <string.h>

#include "../tests/ref_netascii.h"
#include "fuzz.h"
#include "netascii.h"

#define HDR	7

struct rng {
	uint32_t s;
};

static uint32_t
rng_next(struct rng *r)
{
	/* xorshift32; a zero state would stick, so it never starts at 0 */
	r->s ^= r->s << 13;
	r->s ^= r->s >> 17;
	r->s ^= r->s << 5;
	return r->s;
}

/* CR LF -> LF, CR NUL -> CR, any other CR stays (lenient). */
static size_t
ref_decode(const uint8_t *s, size_t n, uint8_t *d)
{
	size_t i = 0, o = 0;

	while (i < n) {
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
			d[o++] = '\n';
			i += 2;
		} else if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\0') {
			d[o++] = '\r';
			i += 2;
		} else
			d[o++] = s[i++];
	}
	return o;
}

/*
 * Decode src in random chunks into out (room for n bytes), each call into
 * an exact len + 1 buffer.  Returns the length.
 */
static size_t
chunked_decode(struct rng *r, unsigned cmax, const uint8_t *src, size_t n,
    uint8_t *out)
{
	struct netascii_dec dec;
	size_t pos = 0, o = 0, len, w;
	uint8_t *dst;

	netascii_dec_init(&dec);
	while (pos < n) {
		len = rng_next(r) % (cmax + 1);	/* 0 now and then */
		if (len > n - pos)
			len = n - pos;
		if ((dst = malloc(len + 1)) == NULL)
			abort();
		w = netascii_decode(&dec, src + pos, len, dst);
		FUZZ_CHECK(w <= len + 1);
		FUZZ_CHECK(o + w <= n);
		memcpy(out + o, dst, w);
		free(dst);
		o += w;
		pos += len;
	}
	if ((dst = malloc(1)) == NULL)
		abort();
	w = netascii_decode_finish(&dec, dst);
	FUZZ_CHECK(w <= 1);
	FUZZ_CHECK(o + w <= n);
	if (w)
		out[o] = dst[0];
	free(dst);
	o += w;
	/* finished: a second finish has nothing left */
	FUZZ_CHECK(netascii_decode_finish(&dec, out) == 0);
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netascii_enc enc;
	struct rng r;
	const uint8_t *src;
	uint8_t *want, *got, *back, *dst;
	size_t n, wn, gn, pos, chunk, cpos, cap, used, w, calls = 0;
	unsigned smax, dmax, cmax;
	int last_zero = 0;

	if (size < HDR)
		return 0;
	smax = data[0] + 1u;
	dmax = data[1] + 1u;
	cmax = data[2] + 1u;
	r.s = (uint32_t)data[3] << 24 | (uint32_t)data[4] << 16 |
	    (uint32_t)data[5] << 8 | data[6];
	if (r.s == 0)
		r.s = 0x9e3779b9u;
	src = data + HDR;
	n = size - HDR;

	want = malloc(2 * n + 1);
	got = malloc(2 * n + 1);
	back = malloc(n + 1);
	if (want == NULL || got == NULL || back == NULL)
		abort();
	wn = ref_netascii_encode(src, n, want);

	/* encode: random source chunks, random dst capacities */
	netascii_enc_init(&enc);
	gn = 0;
	for (pos = 0; pos < n; pos += chunk) {
		chunk = 1 + rng_next(&r) % smax;
		if (chunk > n - pos)
			chunk = n - pos;
		for (cpos = 0; cpos < chunk; cpos += used) {
			/* a full dst now and then, but never twice running */
			if (!last_zero && rng_next(&r) % 8 == 0)
				cap = 0;
			else
				cap = 1 + rng_next(&r) % dmax;
			last_zero = cap == 0;
			if ((dst = malloc(cap ? cap : 1)) == NULL)
				abort();
			w = netascii_encode(&enc, src + pos + cpos,
			    chunk - cpos, &used, dst, cap);
			FUZZ_CHECK(used <= chunk - cpos);
			FUZZ_CHECK(w <= cap);
			/* room means progress; no room means nothing at all */
			FUZZ_CHECK(cap == 0 ? w == 0 && used == 0 : w > 0);
			FUZZ_CHECK(gn + w <= wn);
			memcpy(got + gn, dst, w);
			gn += w;
			free(dst);
			FUZZ_CHECK(++calls <= 4 * n + 4);
		}
	}
	/* an expansion cut at the last dst is still owed */
	while (enc.pending >= 0) {
		cap = 1 + rng_next(&r) % dmax;
		if ((dst = malloc(cap)) == NULL)
			abort();
		w = netascii_encode(&enc, src, 0, &used, dst, cap);
		FUZZ_CHECK(used == 0 && w == 1);
		FUZZ_CHECK(gn + w <= wn);
		memcpy(got + gn, dst, w);
		gn += w;
		free(dst);
	}
	/* nothing owed, nothing left: an empty call writes nothing */
	w = netascii_encode(&enc, src, 0, &used, got + gn, 2 * n + 1 - gn);
	FUZZ_CHECK(w == 0 && used == 0);
	FUZZ_CHECK(gn == wn);
	FUZZ_CHECK(memcmp(got, want, wn) == 0);

	/* decode what was encoded: the text again, no CR left over */
	FUZZ_CHECK(chunked_decode(&r, cmax, want, wn, got) == n);
	FUZZ_CHECK(memcmp(got, src, n) == 0);

	/* the text itself as wire bytes: lenient, never longer */
	wn = ref_decode(src, n, want);
	gn = chunked_decode(&r, cmax, src, n, back);
	FUZZ_CHECK(gn == wn);
	FUZZ_CHECK(memcmp(back, want, wn) == 0);

	free(want);
	free(got);
	free(back);
	return 0;
}
