/*
 * test_xfer_rollover.c - block numbers past 65535: the wire number of a
 * sequence number under both rollover rules, and a sender and a receiver
 * through 65541 blocks of 8 bytes with rollover 0 and 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer_fixture.h"

static void
test_wire_block(void)
{
	CHECK_EQ(xfer_wire_block(0, 0), 0);
	CHECK_EQ(xfer_wire_block(1, 0), 1);
	CHECK_EQ(xfer_wire_block(65535, 0), 65535);
	CHECK_EQ(xfer_wire_block(65536, 0), 0);
	CHECK_EQ(xfer_wire_block(65537, 0), 1);
	CHECK_EQ(xfer_wire_block(131071, 0), 65535);
	CHECK_EQ(xfer_wire_block(131072, 0), 0);
	CHECK_EQ(xfer_wire_block(0, 1), 0);
	CHECK_EQ(xfer_wire_block(1, 1), 1);
	CHECK_EQ(xfer_wire_block(65535, 1), 65535);
	CHECK_EQ(xfer_wire_block(65536, 1), 1);
	CHECK_EQ(xfer_wire_block(65537, 1), 2);
	CHECK_EQ(xfer_wire_block(131070, 1), 65535);
	CHECK_EQ(xfer_wire_block(131071, 1), 1);
	CHECK_EQ(xfer_wire_block(131072, 1), 2);
}

/* The wire block of seq, written out independently of xfer.c. */
static uint16_t
ref_wire(uint64_t seq, unsigned rollover)
{
	if (rollover)
		return (uint16_t)((seq - 1) % 65535 + 1);
	return (uint16_t)(seq & 0xffff);
}

static void
rollover_sender(unsigned rollover)
{
	uint8_t *src = random_bytes(ROLL_SIZE, 61 + rollover);
	uint64_t nblk = ROLL_SIZE / ROLL_BS + 1, seq, now = 0;
	struct fx f;
	struct packet p;
	unsigned bad = 0;
	uint16_t around[3] = { 0, 0, 0 };
	int r = XFER_RUNNING, op;

	fx_cfg(&f, XFER_SEND, 0);
	grant_blksize(&f.c.opts, ROLL_BS);
	if (rollover) {
		f.c.opts.have |= OPT_ROLLOVER;
		f.c.opts.rollover = 1;
	}
	fx_begin(&f, src, ROLL_SIZE);
	xfer_start(&f.x, now);
	if (rollover)
		CHECK(is_bytes(&f.m, 0,
		    LIT("\0\6blksize\0" "8\0rollover\0" "1\0")));
	else
		CHECK(is_bytes(&f.m, 0, LIT("\0\6blksize\0" "8\0")));
	mem_clear_sent(&f.m);
	in_ack(&f.x, 0, ++now);
	for (seq = 1; seq <= nblk; seq++) {
		op = sent_pkt(&f.m, 0, &p);
		if (f.m.nsent != 1 || op != TFTP_DATA ||
		    p.block != ref_wire(seq, rollover) ||
		    p.data_len != blk_len(ROLL_SIZE, ROLL_BS, seq) ||
		    memcmp(p.data, src + (seq - 1) * ROLL_BS, p.data_len)) {
			if (bad++ < 3)
				printf("  seq %llu: bad DATA (n %zu blk %u)\n",
				    (unsigned long long)seq, f.m.nsent,
				    p.block);
		}
		if (seq >= 65535 && seq <= 65537)
			around[seq - 65535] = p.block;
		mem_clear_sent(&f.m);
		r = in_ack(&f.x, ref_wire(seq, rollover), ++now);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(around[0], 65535);
	CHECK_EQ(around[1], rollover ? 1 : 0);
	CHECK_EQ(around[2], rollover ? 2 : 1);
	CHECK_EQ(r, XFER_DONE);
	CHECK_EQ(f.x.st.bytes, ROLL_SIZE);
	CHECK_EQ(f.x.st.data_sent, nblk);
	CHECK_EQ(f.x.st.dup_acks, 0);
	CHECK_EQ(f.m.nsent, 0);
	fx_free(&f);
	free(src);
}

static void
test_rollover_sender(void)
{
	rollover_sender(0);
	rollover_sender(1);
}

static void
rollover_receiver(unsigned rollover)
{
	uint8_t *src = random_bytes(ROLL_SIZE, 71 + rollover);
	uint64_t nblk = ROLL_SIZE / ROLL_BS + 1, seq, now = 0;
	struct fx f;
	unsigned bad = 0;
	int r = XFER_RUNNING;

	fx_cfg(&f, XFER_RECV, 0);
	grant_blksize(&f.c.opts, ROLL_BS);
	if (rollover) {
		f.c.opts.have |= OPT_ROLLOVER;
		f.c.opts.rollover = 1;
	}
	fx_begin(&f, NULL, 0);
	xfer_start(&f.x, now);
	CHECK_EQ(f.m.nsent, 1);		/* the OACK */
	mem_clear_sent(&f.m);
	for (seq = 1; seq <= nblk; seq++) {
		if (seq == 65536) {
			/* the other rule's number: a gap, not data */
			uint16_t wrong = rollover ? 0 : 1;

			in_data(&f.x, wrong, src + (seq - 1) * ROLL_BS, ROLL_BS,
			    ++now);
			CHECK_EQ(f.m.out_len, (seq - 1) * ROLL_BS);
			CHECK_EQ(f.m.nsent, 1);
			CHECK(is_ack(&f.m, 0, 65535));
			mem_clear_sent(&f.m);
		}
		r = in_data(&f.x, ref_wire(seq, rollover),
		    src + (seq - 1) * ROLL_BS,
		    blk_len(ROLL_SIZE, ROLL_BS, seq), ++now);
		if (f.m.nsent != 1 ||
		    !is_ack(&f.m, 0, ref_wire(seq, rollover))) {
			if (bad++ < 3)
				printf("  seq %llu: bad ACK\n",
				    (unsigned long long)seq);
		}
		mem_clear_sent(&f.m);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(r, XFER_DONE);
	CHECK_EQ(f.m.out_len, ROLL_SIZE);
	CHECK(f.m.out_len == ROLL_SIZE && memcmp(f.m.out, src, ROLL_SIZE) == 0);
	CHECK_EQ(f.x.st.bytes, ROLL_SIZE);
	fx_free(&f);
	free(src);
}

static void
test_rollover_receiver(void)
{
	rollover_receiver(0);
	rollover_receiver(1);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_wire_block);
	RUN(test_rollover_sender);
	RUN(test_rollover_receiver);
	return CHECK_EXIT();
}
