/*
 * test_xfer_lockstep.c - the server sender one block at a time, on the
 * fake clock (STYLE.md section 6): every size, the OACK and ACK 0, a lost
 * DATA and its backoff up to the give-up, duplicate ACKs (no Sorcerer's
 * Apprentice), an ERROR from the peer and opcodes that do not belong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer_fixture.h"

/* ==== lock-step RRQ ===================================================== */

/*
 * Server sender without options, lock-step: DATA k+1 answers ACK k, and
 * the ACK of the short block ends it.
 */
static void
lockstep_size(size_t size)
{
	uint8_t *src = random_bytes(size, 1000 + size);
	size_t nblk = size / 512 + 1, i;
	struct fx f;
	uint64_t now = 5;
	int r;

	fx_init(&f, XFER_SEND, 0, src, size);
	r = xfer_start(&f.x, now);
	CHECK_EQ(r, XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_data(&f.m, 0, 1, src, blk_len(size, 512, 1)));
	for (i = 1; i <= nblk; i++) {
		CHECK_EQ(f.m.nsent, i);
		now += 1000;
		r = in_ack(&f.x, (uint16_t)i, now);
		if (i < nblk) {
			CHECK_EQ(r, XFER_RUNNING);
			CHECK_EQ(f.m.nsent, i + 1);
			CHECK(is_data(&f.m, i, (uint16_t)(i + 1),
			    src + i * 512, blk_len(size, 512, i + 1)));
		}
	}
	CHECK_EQ(r, XFER_DONE);
	CHECK_EQ(f.x.status, XFER_DONE);
	CHECK_EQ(f.x.phase, XP_END);
	CHECK_EQ(f.m.nsent, nblk);
	CHECK_EQ(f.x.st.bytes, size);
	CHECK_EQ(f.x.st.data_sent, nblk);
	CHECK_EQ(f.x.st.retransmits, 0);
	CHECK_EQ(f.x.deadline, 0);
	/* a late duplicate ACK after the end draws nothing */
	in_ack(&f.x, (uint16_t)nblk, now + 1);
	xfer_tick(&f.x, now + 100 * T_US);
	CHECK_EQ(f.m.nsent, nblk);
	CHECK_EQ(f.m.bad_reads, 0);
	fx_free(&f);
	free(src);
}

static void
test_lockstep_rrq_sizes(void)
{
	static const size_t sizes[] = { 0, 1, 511, 512, 513, 1024, 1536, 5000 };
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		lockstep_size(sizes[i]);
}

/* 512 bytes: DATA 1 full, DATA 2 empty, and nothing ends before ACK 2. */
static void
test_lockstep_exact_block(void)
{
	uint8_t *src = random_bytes(512, 7);
	struct fx f;

	fx_init(&f, XFER_SEND, 0, src, 512);
	xfer_start(&f.x, 0);
	CHECK(is_data(&f.m, 0, 1, src, 512));
	CHECK_EQ(in_ack(&f.x, 1, 10), XFER_RUNNING);
	CHECK(is_data(&f.m, 1, 2, NULL, 0));
	CHECK_EQ(f.m.sent[1].len, 4);
	CHECK_EQ(in_ack(&f.x, 2, 20), XFER_DONE);
	CHECK_EQ(f.x.st.bytes, 512);
	CHECK_EQ(f.m.nsent, 2);
	fx_free(&f);
	free(src);
}

/* ==== OACK then ACK 0 =================================================== */

static void
test_oack_then_ack0(void)
{
	uint8_t *src = random_bytes(4000, 11);
	struct fx f;

	fx_cfg(&f, XFER_SEND, 0);
	grant_blksize(&f.c.opts, 1468);
	fx_begin(&f, src, 4000);
	CHECK_EQ(xfer_start(&f.x, 0), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_bytes(&f.m, 0, LIT("\0\6blksize\0" "1468\0")));
	CHECK_EQ(f.x.phase, XP_OACK);
	CHECK(f.x.deadline == T_US);
	/* ACK 1 before ACK 0: not acted on */
	CHECK_EQ(in_ack(&f.x, 1, 100), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 1);
	CHECK_EQ(f.x.st.dup_acks, 1);
	/* ACK 0: DATA 1 at the granted size */
	CHECK_EQ(in_ack(&f.x, 0, 200), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_data(&f.m, 1, 1, src, 1468));
	/* a second ACK 0 is old now */
	in_ack(&f.x, 0, 300);
	CHECK_EQ(f.m.nsent, 2);
	CHECK_EQ(in_ack(&f.x, 1, 400), XFER_RUNNING);
	CHECK(is_data(&f.m, 2, 2, src + 1468, 1468));
	in_ack(&f.x, 2, 500);
	CHECK(is_data(&f.m, 3, 3, src + 2936, 4000 - 2936));
	CHECK_EQ(in_ack(&f.x, 3, 600), XFER_DONE);
	CHECK_EQ(f.x.st.bytes, 4000);
	fx_free(&f);
	free(src);
}

/* OACK lost: the OACK itself is re-sent on timeout, same bytes. */
static void
test_oack_lost(void)
{
	uint8_t src[10] = "0123456789";
	struct fx f;

	fx_cfg(&f, XFER_SEND, 0);
	grant_blksize(&f.c.opts, 1468);
	grant_window(&f.c.opts, 4);
	fx_begin(&f, src, sizeof(src));
	xfer_start(&f.x, 0);
	CHECK(is_bytes(&f.m, 0,
	    LIT("\0\6blksize\0" "1468\0windowsize\0" "4\0")));
	xfer_tick(&f.x, T_US - 1);
	CHECK_EQ(f.m.nsent, 1);
	xfer_tick(&f.x, T_US);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_bytes(&f.m, 1, f.m.sent[0].b, f.m.sent[0].len));
	CHECK_EQ(in_ack(&f.x, 0, T_US + 5), XFER_RUNNING);
	CHECK(is_data(&f.m, 2, 1, src, 10));
	CHECK_EQ(in_ack(&f.x, 1, T_US + 6), XFER_DONE);
	fx_free(&f);
}

/* ==== lost DATA, backoff, give up ======================================= */

static void
test_lost_data_backoff(void)
{
	uint8_t *src = random_bytes(2000, 21);
	struct fx f;
	uint64_t t0 = 1000, dl, prev_gap, gap;
	unsigned i;

	fx_cfg(&f, XFER_SEND, 0);
	f.c.retries = 3;
	fx_begin(&f, src, 2000);
	xfer_start(&f.x, t0);
	CHECK(is_data(&f.m, 0, 1, src, 512));
	/* progress: ACK 1 at t0 + 10 re-arms from there */
	in_ack(&f.x, 1, t0 + 10);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_data(&f.m, 1, 2, src + 512, 512));
	dl = f.x.deadline;
	CHECK_EQ(dl, t0 + 10 + T_US);
	/* before the deadline nothing happens */
	CHECK_EQ(xfer_tick(&f.x, dl - 1), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 2);
	prev_gap = T_US;
	for (i = 0; i < f.c.retries; i++) {
		uint64_t at = f.x.deadline;

		CHECK_EQ(xfer_tick(&f.x, at), XFER_RUNNING);
		CHECK_EQ(f.m.nsent, 3 + i);
		CHECK(is_data(&f.m, 2 + i, 2, src + 512, 512));
		gap = f.x.deadline - at;
		/* doubled each time (no cap reached with 3 retries) */
		CHECK_EQ(gap, 2 * prev_gap);
		prev_gap = gap;
		/* an early tick is harmless */
		xfer_tick(&f.x, f.x.deadline - 1);
		CHECK_EQ(f.m.nsent, 3 + i);
	}
	CHECK_EQ(f.x.st.retransmits, f.c.retries);
	/* the next expiry gives up, silently */
	CHECK_EQ(xfer_tick(&f.x, f.x.deadline), XFER_FAILED);
	CHECK_EQ(f.m.nsent, 2 + f.c.retries);
	CHECK_STR(f.x.err_msg, "timeout");
	CHECK_EQ(f.x.why, XW_TIMEOUT);
	CHECK_EQ(f.x.err_peer, 0);
	CHECK_EQ(f.x.phase, XP_END);
	CHECK_EQ(f.x.st.timeouts, f.c.retries + 1);
	/* dead: no more packets on ticks or input */
	xfer_tick(&f.x, 1000 * T_US);
	in_ack(&f.x, 2, 1000 * T_US);
	CHECK_EQ(f.m.nsent, 2 + f.c.retries);
	CHECK_EQ(f.x.status, XFER_FAILED);
	fx_free(&f);
	free(src);
}

/* The backoff stops at timeout_max_us, and progress resets it. */
static void
test_backoff_cap_and_reset(void)
{
	uint8_t *src = random_bytes(2000, 22);
	struct fx f;
	uint64_t at;

	fx_cfg(&f, XFER_SEND, 0);
	f.c.retries = 10;
	f.c.timeout_max_us = 3 * T_US;
	fx_begin(&f, src, 2000);
	xfer_start(&f.x, 0);
	at = f.x.deadline;
	CHECK_EQ(at, T_US);
	xfer_tick(&f.x, at);
	CHECK_EQ(f.x.deadline - at, 2 * T_US);
	at = f.x.deadline;
	xfer_tick(&f.x, at);
	CHECK_EQ(f.x.deadline - at, 3 * T_US);
	at = f.x.deadline;
	xfer_tick(&f.x, at);
	CHECK_EQ(f.x.deadline - at, 3 * T_US);
	CHECK_EQ(f.m.nsent, 4);
	/* progress: back to the first timeout, retry count starts over */
	at += 5;
	in_ack(&f.x, 1, at);
	CHECK_EQ(f.x.deadline, at + T_US);
	CHECK_EQ(f.x.rtx.tries, 0);
	fx_free(&f);
	free(src);
}

/* ==== duplicate ACK: no Sorcerer's Apprentice ============================ */

static void
test_duplicate_ack(void)
{
	uint8_t *src = random_bytes(1500, 31);
	struct fx f;

	fx_init(&f, XFER_SEND, 0, src, 1500);
	xfer_start(&f.x, 0);
	in_ack(&f.x, 1, 10);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_data(&f.m, 1, 2, src + 512, 512));
	/* the same ACK again: nothing, counted */
	CHECK_EQ(in_ack(&f.x, 1, 20), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 2);
	CHECK_EQ(f.x.st.dup_acks, 1);
	in_ack(&f.x, 1, 21);
	CHECK_EQ(f.m.nsent, 2);
	CHECK_EQ(f.x.st.dup_acks, 2);
	/* and each further block goes out exactly once */
	in_ack(&f.x, 2, 30);
	in_ack(&f.x, 2, 31);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_data(&f.m, 2, 3, src + 1024, 476));
	/* an ACK for a block never sent is not progress either */
	in_ack(&f.x, 9, 32);
	CHECK_EQ(f.m.nsent, 3);
	CHECK_EQ(f.x.st.dup_acks, 4);
	CHECK_EQ(in_ack(&f.x, 3, 40), XFER_DONE);
	CHECK_EQ(f.x.st.data_sent, 3);
	CHECK_EQ(f.x.st.retransmits, 0);
	fx_free(&f);
	free(src);
}

/* ==== ERROR from the peer; unexpected opcodes =========================== */

static void
test_peer_error_midway(void)
{
	uint8_t *src = random_bytes(3000, 51);
	struct fx f;

	fx_init(&f, XFER_SEND, 0, src, 3000);
	xfer_start(&f.x, 0);
	in_ack(&f.x, 1, 10);
	CHECK_EQ(f.m.nsent, 2);
	CHECK_EQ(in_raw(&f.x, LIT("\0\5\0\3Disk is full here\0"), 20),
	    XFER_FAILED);
	CHECK_EQ(f.m.nsent, 2);
	CHECK_EQ(f.x.err_peer, 1);
	CHECK_EQ(f.x.why, XW_PEER);
	CHECK_EQ(f.x.err_code, 3);
	CHECK_STR(f.x.err_msg, "Disk is full here");
	CHECK_EQ(f.x.phase, XP_END);
	CHECK_EQ(f.x.deadline, 0);
	xfer_tick(&f.x, 100 * T_US);
	in_ack(&f.x, 2, 100 * T_US);
	CHECK_EQ(f.m.nsent, 2);
	fx_free(&f);
	free(src);

	/* the same for a receiver, with a text lacking its NUL */
	fx_init(&f, XFER_RECV, 0, NULL, 0);
	xfer_start(&f.x, 0);
	CHECK_EQ(in_raw(&f.x, LIT("\0\5\0\0gone"), 5), XFER_FAILED);
	CHECK_EQ(f.m.nsent, 1);
	CHECK_EQ(f.x.err_peer, 1);
	CHECK_EQ(f.x.err_code, 0);
	CHECK_STR(f.x.err_msg, "gone");
	fx_free(&f);
}

static void
test_unexpected_opcode(void)
{
	uint8_t src[600] = { 0 };
	struct fx f;

	/* DATA to a sender */
	fx_init(&f, XFER_SEND, 0, src, sizeof(src));
	xfer_start(&f.x, 0);
	CHECK_EQ(in_data(&f.x, 1, src, 10, 5), XFER_FAILED);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_error(&f.m, 1, TFTP_EBADOP));
	CHECK_EQ(f.x.err_code, TFTP_EBADOP);
	CHECK_EQ(f.x.err_peer, 0);
	CHECK_EQ(f.x.why, XW_PROTOCOL);
	/* the ERROR is sent once, never re-sent */
	xfer_tick(&f.x, 100 * T_US);
	in_ack(&f.x, 1, 100 * T_US);
	CHECK_EQ(f.m.nsent, 2);
	fx_free(&f);

	/* a request to a receiver's transfer TID */
	fx_init(&f, XFER_RECV, 0, NULL, 0);
	xfer_start(&f.x, 0);
	CHECK_EQ(in_raw(&f.x, LIT("\0\2x\0octet\0"), 5), XFER_FAILED);
	CHECK(is_error(&f.m, 1, TFTP_EBADOP));
	fx_free(&f);

	/* garbage is ignored, not fatal */
	fx_init(&f, XFER_SEND, 0, src, sizeof(src));
	xfer_start(&f.x, 0);
	CHECK_EQ(in_raw(&f.x, LIT("\0\11zz"), 5), XFER_RUNNING);
	CHECK_EQ(in_raw(&f.x, LIT("\0"), 5), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 1);
	CHECK_EQ(f.x.st.ignored, 2);
	fx_free(&f);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_lockstep_rrq_sizes);
	RUN(test_lockstep_exact_block);
	RUN(test_oack_then_ack0);
	RUN(test_oack_lost);
	RUN(test_lost_data_backoff);
	RUN(test_backoff_cap_and_reset);
	RUN(test_duplicate_ack);
	RUN(test_peer_error_midway);
	RUN(test_unexpected_opcode);
	return CHECK_EXIT();
}
