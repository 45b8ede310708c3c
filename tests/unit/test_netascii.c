/*
 * test_netascii.c - streaming netascii: fixed cases, both block-edge
 * splits, and random round trips through every small dst capacity and
 * random chunking.
 *
 * Output buffers are exact-size heap blocks so that a write one past
 * dstcap (encode) or past len + 1 (decode) is an ASan report.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../ref_netascii.h"
#include "netascii.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* xorshift64: deterministic, so a failure replays. */
static uint64_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint8_t *
xmalloc(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

/* Encode all of src with one dst capacity, in random source chunks. */
static size_t
enc_stream(const uint8_t *src, size_t n, size_t dstcap, uint8_t *out)
{
	struct netascii_enc st;
	uint8_t *dst = xmalloc(dstcap);
	size_t in = 0, total = 0, used, w, chunk, calls = 0;

	netascii_enc_init(&st);
	while (in < n || st.pending >= 0) {
		chunk = (size_t)(rng() % 18);
		if (chunk > n - in)
			chunk = n - in;
		used = (size_t)-1;
		w = netascii_encode(&st, src + in, chunk, &used, dst, dstcap);
		CHECK(used <= chunk);
		CHECK(w <= dstcap);
		memcpy(out + total, dst, w);
		total += w;
		in += used;
		/* Bounded: each call with data or a debt must progress. */
		if (++calls > 8 * n + 100) {
			CHECK(!"encoder made no progress");
			break;
		}
	}
	free(dst);
	return total;
}

/* Decode all of src in random chunks into out. */
static size_t
dec_stream(const uint8_t *src, size_t n, uint8_t *out)
{
	struct netascii_dec st;
	uint8_t *dst;
	size_t in = 0, total = 0, chunk, w;

	netascii_dec_init(&st);
	while (in < n) {
		chunk = 1 + (size_t)(rng() % 23);
		if (chunk > n - in)
			chunk = n - in;
		dst = xmalloc(chunk + 1);
		w = netascii_decode(&st, src + in, chunk, dst);
		CHECK(w <= chunk + 1);
		memcpy(out + total, dst, w);
		free(dst);
		total += w;
		in += chunk;
	}
	dst = xmalloc(1);
	w = netascii_decode_finish(&st, dst);
	memcpy(out + total, dst, w);
	free(dst);
	return total + w;
}

static void
test_roundtrip_random(void)
{
	enum { N = 300 };
	/* src zeroed only to quiet cppcheck (a false uninitvar when n is 0) */
	uint8_t src[N] = { 0 }, ref[2 * N], enc[2 * N], dec[2 * N + 1];
	size_t iter, n, cap, i, rn, en, dn;
	unsigned r;

	for (iter = 0; iter < 60; iter++) {
		n = (size_t)(rng() % (N + 1));
		/* Mostly CR, LF and NUL so every pairing shows up. */
		for (i = 0; i < n; i++) {
			r = (unsigned)(rng() % 8);
			src[i] = r == 0 ? '\r' : r == 1 ? '\n' : r == 2 ? 0 :
			    r == 3 ? 'a' : (uint8_t)rng();
		}
		/* End on a CR now and then: it must not be lost. */
		if (n > 0 && iter % 5 == 0)
			src[n - 1] = '\r';
		rn = ref_netascii_encode(src, n, ref);
		for (cap = 1; cap <= 10; cap++) {
			en = enc_stream(src, n, cap, enc);
			CHECK_EQ(en, rn);
			CHECK(en == rn && memcmp(enc, ref, rn) == 0);
			dn = dec_stream(enc, en, dec);
			CHECK_EQ(dn, n);
			CHECK(dn == n && memcmp(dec, src, n) == 0);
		}
	}
}

static void
test_encode_basic(void)
{
	static const uint8_t src[] = "a\nb\rc";
	uint8_t dst[16];
	struct netascii_enc st;
	size_t used, w;

	netascii_enc_init(&st);
	w = netascii_encode(&st, src, 5, &used, dst, sizeof(dst));
	CHECK_EQ(used, 5);
	CHECK_EQ(w, 7);
	CHECK_MEM(dst, "a\r\nb\r\0c", 7);
	CHECK_EQ(st.pending, -1);
}

/* A CR LF or CR NUL cut by the end of dst finishes in the next call. */
static void
test_encode_split(void)
{
	struct netascii_enc st;
	uint8_t dst[4];
	size_t used, w;

	netascii_enc_init(&st);
	w = netascii_encode(&st, (const uint8_t *)"ab\n", 3, &used, dst, 3);
	CHECK_EQ(w, 3);
	CHECK_EQ(used, 3);
	CHECK_MEM(dst, "ab\r", 3);
	CHECK_EQ(st.pending, '\n');

	/* dst of 0: nothing happens, the debt stays. */
	w = netascii_encode(&st, (const uint8_t *)"x", 1, &used, dst, 0);
	CHECK_EQ(w, 0);
	CHECK_EQ(used, 0);
	CHECK_EQ(st.pending, '\n');

	/* The debt comes out first, then the source. */
	w = netascii_encode(&st, (const uint8_t *)"\r", 1, &used, dst, 2);
	CHECK_EQ(w, 2);
	CHECK_EQ(used, 1);
	CHECK_MEM(dst, "\n\r", 2);
	CHECK_EQ(st.pending, 0);

	/* End of source: a call with no input pays the debt. */
	w = netascii_encode(&st, NULL, 0, &used, dst, 4);
	CHECK_EQ(w, 1);
	CHECK_EQ(used, 0);
	CHECK_EQ(dst[0], 0);
	CHECK_EQ(st.pending, -1);

	/* dst of 1 with a debt: only the debt. */
	netascii_enc_init(&st);
	w = netascii_encode(&st, (const uint8_t *)"\nz", 2, &used, dst, 1);
	CHECK_EQ(w, 1);
	CHECK_EQ(used, 1);
	w = netascii_encode(&st, (const uint8_t *)"z", 1, &used, dst, 1);
	CHECK_EQ(w, 1);
	CHECK_EQ(used, 0);
	CHECK_EQ(dst[0], '\n');
	w = netascii_encode(&st, (const uint8_t *)"z", 1, &used, dst, 1);
	CHECK_EQ(w, 1);
	CHECK_EQ(used, 1);
	CHECK_EQ(dst[0], 'z');
}

/* Decode one buffer in a single call plus finish. */
static size_t
dec1(const char *src, size_t n, uint8_t *out)
{
	struct netascii_dec st;
	uint8_t *dst = xmalloc(n + 1);
	size_t w;

	netascii_dec_init(&st);
	w = netascii_decode(&st, (const uint8_t *)src, n, dst);
	memcpy(out, dst, w);
	free(dst);
	return w + netascii_decode_finish(&st, out + w);
}

static void
test_decode_basic(void)
{
	uint8_t out[16];

	CHECK_EQ(dec1("a\r\nb", 4, out), 3);
	CHECK_MEM(out, "a\nb", 3);
	CHECK_EQ(dec1("\r\0", 2, out), 1);
	CHECK_EQ(out[0], '\r');
	CHECK_EQ(dec1("\rx", 2, out), 2);		/* lenient */
	CHECK_MEM(out, "\rx", 2);
	CHECK_EQ(dec1("\r\r\n", 3, out), 2);		/* CR CR LF */
	CHECK_MEM(out, "\r\n", 2);
	CHECK_EQ(dec1("\r\r\0", 3, out), 2);
	CHECK_MEM(out, "\r\r", 2);
	CHECK_EQ(dec1("\r\r\r", 3, out), 3);		/* last CR at end */
	CHECK_MEM(out, "\r\r\r", 3);
	CHECK_EQ(dec1("ab\r", 3, out), 3);		/* lone CR at end */
	CHECK_MEM(out, "ab\r", 3);
	CHECK_EQ(dec1("\n\0", 2, out), 2);	/* bare LF, NUL kept */
	CHECK_MEM(out, "\n\0", 2);
	CHECK_EQ(dec1("", 0, out), 0);
}

/* A CR that ends one block decides on the first byte of the next. */
static void
test_decode_split(void)
{
	struct netascii_dec st;
	uint8_t *dst;
	size_t w;

	netascii_dec_init(&st);
	dst = xmalloc(3);
	w = netascii_decode(&st, (const uint8_t *)"ab\r", 3, dst);
	CHECK_EQ(w, 2);
	CHECK_MEM(dst, "ab", 2);
	CHECK_EQ(st.cr, 1);
	free(dst);

	/* CR | LF */
	dst = xmalloc(2);
	w = netascii_decode(&st, (const uint8_t *)"\n", 1, dst);
	CHECK_EQ(w, 1);
	CHECK_EQ(dst[0], '\n');
	free(dst);

	/* CR | NUL */
	netascii_dec_init(&st);
	dst = xmalloc(2);
	CHECK_EQ(netascii_decode(&st, (const uint8_t *)"\r", 1, dst), 0);
	free(dst);
	dst = xmalloc(2);
	w = netascii_decode(&st, (const uint8_t *)"\0", 1, dst);
	CHECK_EQ(w, 1);
	CHECK_EQ(dst[0], '\r');
	free(dst);

	/* CR | x: the full len + 1 bytes are written. */
	netascii_dec_init(&st);
	dst = xmalloc(2);
	CHECK_EQ(netascii_decode(&st, (const uint8_t *)"\r", 1, dst), 0);
	free(dst);
	dst = xmalloc(2);
	w = netascii_decode(&st, (const uint8_t *)"x", 1, dst);
	CHECK_EQ(w, 2);
	CHECK_MEM(dst, "\rx", 2);
	free(dst);

	/* CR | CR: first CR out, second held, flushed by finish. */
	netascii_dec_init(&st);
	dst = xmalloc(2);
	CHECK_EQ(netascii_decode(&st, (const uint8_t *)"\r", 1, dst), 0);
	w = netascii_decode(&st, (const uint8_t *)"\r", 1, dst);
	CHECK_EQ(w, 1);
	CHECK_EQ(dst[0], '\r');
	CHECK_EQ(st.cr, 1);
	w = netascii_decode_finish(&st, dst);
	CHECK_EQ(w, 1);
	CHECK_EQ(dst[0], '\r');
	CHECK_EQ(st.cr, 0);
	CHECK_EQ(netascii_decode_finish(&st, dst), 0);
	free(dst);

	/* An empty block keeps the held CR. */
	netascii_dec_init(&st);
	dst = xmalloc(2);
	CHECK_EQ(netascii_decode(&st, (const uint8_t *)"\r", 1, dst), 0);
	CHECK_EQ(netascii_decode(&st, NULL, 0, dst), 0);
	CHECK_EQ(netascii_decode(&st, (const uint8_t *)"\n", 1, dst), 1);
	CHECK_EQ(dst[0], '\n');
	free(dst);
}

int
main(void)
{
	RUN(test_encode_basic);
	RUN(test_encode_split);
	RUN(test_decode_basic);
	RUN(test_decode_split);
	RUN(test_roundtrip_random);
	return CHECK_EXIT();
}
