/*
 * test_xfer_netascii.c - netascii blocks: a sender whose CR LF and CR NUL
 * pairs straddle block edges, a windowed sender that walks the source
 * again after a mid-window ACK, and a receiver, all against the one-shot
 * reference encoding of tests/ref_netascii.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "../ref_netascii.h"
#include "xfer_fixture.h"

/*
 * Source text chosen so that at blksize 8 the encoded stream has a CR LF
 * split at the end of block 1 (offset 7/8) and a CR NUL split at the end
 * of block 2 (offset 15/16), plus pairs fully inside blocks and a bare CR
 * as the last byte.
 */
static const char na_text[] =
	"1234567\n"		/* enc 0..8: CR at 7, LF at 8 */
	"abcdef\r"		/* enc 9..16: CR at 15, NUL at 16 */
	"X\n\nY\r\n"		/* pairs inside block 3/4 */
	"tail text\r";

static void
test_netascii_sender(void)
{
	const uint8_t *src = (const uint8_t *)na_text;
	size_t n = sizeof(na_text) - 1, elen, nblk, k;
	uint8_t enc[256];
	struct fx f;
	uint64_t now = 0;

	elen = ref_netascii_encode(src, n, enc);
	CHECK(enc[7] == '\r' && enc[8] == '\n');
	CHECK(enc[15] == '\r' && enc[16] == '\0');
	nblk = elen / 8 + 1;
	fx_cfg(&f, XFER_SEND, 0);
	f.c.netascii = 1;
	f.c.mode = "netascii";
	grant_blksize(&f.c.opts, 8);
	fx_begin(&f, src, n);
	xfer_start(&f.x, now);
	CHECK(is_bytes(&f.m, 0, LIT("\0\6blksize\0" "8\0")));
	mem_clear_sent(&f.m);
	in_ack(&f.x, 0, ++now);
	/* DATA 2 is re-sent once on timeout: the same bytes */
	for (k = 1; k <= nblk; k++) {
		CHECK_EQ(f.m.nsent, 1);
		CHECK(is_data(&f.m, 0, (uint16_t)k, enc + (k - 1) * 8,
		    blk_len(elen, 8, k)));
		if (k == 2) {
			mem_clear_sent(&f.m);
			now = f.x.deadline;
			xfer_tick(&f.x, now);
			CHECK(is_data(&f.m, 0, 2, enc + 8, 8));
		}
		mem_clear_sent(&f.m);
		in_ack(&f.x, (uint16_t)k, ++now);
	}
	CHECK_EQ(f.x.status, XFER_DONE);
	CHECK_EQ(f.x.st.bytes, n);
	CHECK_EQ(f.x.st.wire_bytes, elen);
	CHECK_EQ(f.m.bad_reads, 0);
	fx_free(&f);
}

/* Windowed netascii: a mid-window ACK walks the blocks again. */
static void
test_netascii_window_rewalk(void)
{
	static char text[400];
	const uint8_t *src = (const uint8_t *)text;
	size_t n, elen, i;
	uint8_t enc[1024];
	struct fx f;

	/* dense line ends so many pairs straddle the 8-byte blocks */
	for (i = 0; i < sizeof(text) - 1; i++)
		text[i] = "ab\ncd\r\n\re"[i % 9];
	text[sizeof(text) - 1] = '\0';
	n = sizeof(text) - 1;
	elen = ref_netascii_encode(src, n, enc);
	fx_cfg(&f, XFER_SEND, 0);
	f.c.netascii = 1;
	grant_blksize(&f.c.opts, 8);
	grant_window(&f.c.opts, 4);
	fx_begin(&f, src, n);
	xfer_start(&f.x, 0);
	mem_clear_sent(&f.m);
	in_ack(&f.x, 0, 1);
	CHECK_EQ(f.m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 1), enc + i * 8, 8));
	mem_clear_sent(&f.m);
	/* ACK 2 mid-window: 3..6, built from a re-walked source offset */
	in_ack(&f.x, 2, 2);
	CHECK_EQ(f.m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 3),
		    enc + (i + 2) * 8, 8));
	mem_clear_sent(&f.m);
	/* ACK 3 mid-window again, then a timeout rewinds to 4 */
	in_ack(&f.x, 3, 3);
	CHECK_EQ(f.m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 4),
		    enc + (i + 3) * 8, 8));
	mem_clear_sent(&f.m);
	xfer_tick(&f.x, f.x.deadline);
	CHECK_EQ(f.m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 4),
		    enc + (i + 3) * 8, 8));
	mem_clear_sent(&f.m);
	/* ACK 5 (mid-window): 6..9 */
	in_ack(&f.x, 5, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 6),
		    enc + (i + 5) * 8, 8));
	CHECK_EQ(f.m.bad_reads, 0);
	CHECK(elen > 10 * 8);
	fx_free(&f);
}

static void
test_netascii_receiver(void)
{
	const uint8_t *src = (const uint8_t *)na_text;
	size_t n = sizeof(na_text) - 1, elen, nblk, k;
	uint8_t enc[256];
	struct fx f;
	int r = XFER_RUNNING;

	elen = ref_netascii_encode(src, n, enc);
	nblk = elen / 8 + 1;
	fx_cfg(&f, XFER_RECV, 0);
	f.c.netascii = 1;
	grant_blksize(&f.c.opts, 8);
	fx_begin(&f, NULL, 0);
	xfer_start(&f.x, 0);
	for (k = 1; k <= nblk; k++) {
		r = in_data(&f.x, (uint16_t)k, enc + (k - 1) * 8,
		    blk_len(elen, 8, k), k);
		/* a duplicate of each block changes nothing */
		if (k < nblk)
			in_data(&f.x, (uint16_t)k, enc + (k - 1) * 8,
			    blk_len(elen, 8, k), k);
	}
	CHECK_EQ(r, XFER_DONE);
	CHECK_EQ(f.m.out_len, n);
	CHECK(f.m.out_len == n && memcmp(f.m.out, src, n) == 0);
	CHECK_EQ(f.x.st.bytes, n);
	fx_free(&f);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_netascii_sender);
	RUN(test_netascii_window_rewalk);
	RUN(test_netascii_receiver);
	return CHECK_EXIT();
}
