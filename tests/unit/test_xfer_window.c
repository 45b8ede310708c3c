/*
 * test_xfer_window.c - windowsize (RFC 7440) on the fake clock: a sender's
 * mid-window ACKs, old ACKs and timeouts; a receiver's ACKs on its window
 * grid, on gaps and on a restart; one io.read per window.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer_fixture.h"

static void
test_window_midack(void)
{
	size_t size = 20 * 512 + 100, i;
	uint8_t *src = random_bytes(size, 81);
	struct fx f;

	fx_cfg(&f, XFER_SEND, 0);
	grant_window(&f.c.opts, 4);
	fx_begin(&f, src, size);
	xfer_start(&f.x, 0);
	CHECK(is_bytes(&f.m, 0, LIT("\0\6windowsize\0" "4\0")));
	mem_clear_sent(&f.m);
	in_ack(&f.x, 0, 10);
	CHECK_EQ(f.m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 1), src + i * 512, 512));
	mem_clear_sent(&f.m);
	/* mid-window ACK 2: go on from 3 */
	in_ack(&f.x, 2, 20);
	CHECK_EQ(f.m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 3), src + (i + 2) * 512,
		    512));
	CHECK_EQ(f.x.st.retransmits, 2);
	CHECK_EQ(f.x.st.data_sent, 6);
	mem_clear_sent(&f.m);
	/* an old ACK: nothing */
	in_ack(&f.x, 1, 30);
	in_ack(&f.x, 2, 31);
	CHECK_EQ(f.m.nsent, 0);
	CHECK_EQ(f.x.st.dup_acks, 2);
	/* the window's end: the next four */
	in_ack(&f.x, 6, 40);
	CHECK_EQ(f.m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 7), src + (i + 6) * 512,
		    512));
	mem_clear_sent(&f.m);
	/* timeout: the whole window from the base again */
	xfer_tick(&f.x, f.x.deadline);
	CHECK_EQ(f.m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 7), src + (i + 6) * 512,
		    512));
	mem_clear_sent(&f.m);
	/* to the end: 21 blocks, the last one short */
	in_ack(&f.x, 10, 50);
	in_ack(&f.x, 14, 60);
	in_ack(&f.x, 18, 70);
	CHECK_EQ(f.m.nsent, 11);
	CHECK(is_data(&f.m, 10, 21, src + 20 * 512, 100));
	mem_clear_sent(&f.m);
	in_ack(&f.x, 20, 80);		/* only block 21 is left */
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_data(&f.m, 0, 21, src + 20 * 512, 100));
	CHECK_EQ(in_ack(&f.x, 21, 90), XFER_DONE);
	CHECK_EQ(f.x.st.bytes, size);
	CHECK_EQ(f.m.bad_reads, 0);
	fx_free(&f);
	free(src);
}

/* blocks 1,2,... of a stream of fixed-size pieces */
#define BLK(src, k)	((src) + ((k) - 1) * 512)

static void
test_window_receiver(void)
{
	size_t size = 12 * 512 + 7;
	uint8_t *src = random_bytes(size, 91);
	struct fx f;
	uint64_t now = 0;
	unsigned k;

	fx_cfg(&f, XFER_RECV, 0);
	grant_window(&f.c.opts, 4);
	fx_begin(&f, NULL, 0);
	xfer_start(&f.x, now);
	CHECK(is_bytes(&f.m, 0, LIT("\0\6windowsize\0" "4\0")));
	mem_clear_sent(&f.m);
	/* 1..3: no ACK; 4: ACK 4 */
	for (k = 1; k <= 3; k++) {
		in_data(&f.x, (uint16_t)k, BLK(src, k), 512, ++now);
		CHECK_EQ(f.m.nsent, 0);
	}
	in_data(&f.x, 4, BLK(src, 4), 512, ++now);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_ack(&f.m, 0, 4));
	mem_clear_sent(&f.m);
	/* 5, 6, then 8: block 7 is missing, ACK 6 at once */
	in_data(&f.x, 5, BLK(src, 5), 512, ++now);
	in_data(&f.x, 6, BLK(src, 6), 512, ++now);
	CHECK_EQ(f.m.nsent, 0);
	in_data(&f.x, 8, BLK(src, 8), 512, ++now);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_ack(&f.m, 0, 6));
	/* more out-of-order blocks of the same burst: no more ACKs */
	in_data(&f.x, 9, BLK(src, 9), 512, ++now);
	in_data(&f.x, 10, BLK(src, 10), 512, ++now);
	CHECK_EQ(f.m.nsent, 1);
	/*
	 * 5 is where a sender restarts that lost ACK 4, and we wait: it
	 * draws our last ACK again, never a new position mid-window
	 */
	in_data(&f.x, 5, BLK(src, 5), 512, ++now);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_ack(&f.m, 1, 6));
	/* 6 is no restart point: nothing */
	in_data(&f.x, 6, BLK(src, 6), 512, ++now);
	CHECK_EQ(f.m.nsent, 2);
	CHECK_EQ(f.m.out_len, 6 * 512);
	mem_clear_sent(&f.m);
	/* progress (7), then another gap: one new ACK */
	in_data(&f.x, 7, BLK(src, 7), 512, ++now);
	CHECK_EQ(f.m.nsent, 0);
	in_data(&f.x, 9, BLK(src, 9), 512, ++now);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_ack(&f.m, 0, 7));
	in_data(&f.x, 10, BLK(src, 10), 512, ++now);
	CHECK_EQ(f.m.nsent, 1);
	mem_clear_sent(&f.m);
	/* the sender goes on from 8: a full window 8..11 draws ACK 11 */
	for (k = 8; k <= 10; k++) {
		in_data(&f.x, (uint16_t)k, BLK(src, k), 512, ++now);
		CHECK_EQ(f.m.nsent, 0);
	}
	in_data(&f.x, 11, BLK(src, 11), 512, ++now);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_ack(&f.m, 0, 11));
	mem_clear_sent(&f.m);
	in_data(&f.x, 12, BLK(src, 12), 512, ++now);
	CHECK_EQ(f.m.nsent, 0);
	/* the short block ends it at once, mid-window */
	CHECK_EQ(in_data(&f.x, 13, BLK(src, 13), 7, ++now), XFER_DONE);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_ack(&f.m, 0, 13));
	CHECK_EQ(f.m.out_len, size);
	CHECK(f.m.out_len == size && memcmp(f.m.out, src, size) == 0);
	fx_free(&f);
	free(src);
}

/*
 * An unpaced octet window is read with one io.read and its blocks built
 * from there; the last window ends short, its last block too.
 */
static void
test_window_one_read(void)
{
	enum { W = 16, BS = 512 };
	static uint8_t src[BS * W * 2 + 100];
	struct fx f;
	uint64_t now = 1000;
	size_t i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + i / 512);
	/* a server sender with RTT timers on */
	fx_cfg(&f, XFER_SEND, 0);
	f.c.rto_min_us = 10000;
	grant_window(&f.c.opts, W);
	fx_begin(&f, src, sizeof(src));
	xfer_start(&f.x, now);			/* OACK */
	mem_clear_sent(&f.m);
	f.m.read_calls = 0;
	in_ack(&f.x, 0, now += 100);		/* blocks 1..16 */
	CHECK_EQ(f.m.read_calls, 1);
	CHECK_EQ(f.m.nsent, W);
	for (i = 0; i < W; i++)
		CHECK(is_data(&f.m, i, (uint16_t)(i + 1), src + i * BS, BS));
	mem_clear_sent(&f.m);
	in_ack(&f.x, 5, now += 100);		/* a gap: 6..21 */
	CHECK_EQ(f.m.read_calls, 2);
	CHECK_EQ(f.m.nsent, W);
	CHECK(is_data(&f.m, 0, 6, src + 5 * BS, BS));
	CHECK(is_data(&f.m, W - 1, 21, src + 20 * BS, BS));
	mem_clear_sent(&f.m);
	in_ack(&f.x, 21, now += 100);		/* 22..32, then 33 of 100 */
	CHECK_EQ(f.m.read_calls, 3);
	CHECK_EQ(f.m.nsent, 12);
	CHECK(is_data(&f.m, 10, 32, src + 31 * BS, BS));
	CHECK(is_data(&f.m, 11, 33, src + 32 * BS, 100));
	in_ack(&f.x, 33, now += 100);
	CHECK_EQ(f.x.status, XFER_DONE);
	CHECK_EQ(f.m.bad_reads, 0);
	fx_free(&f);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_window_midack);
	RUN(test_window_receiver);
	RUN(test_window_one_read);
	return CHECK_EXIT();
}
