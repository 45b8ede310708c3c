/*
 * test_xfer_receiver.c - the server receiver (an upload) on the fake
 * clock: a lost ACK and the re-ACK timer, a full disk, finish() and its
 * failures, the dally after the final ACK, and the flat re-ACK timer of a
 * receiver with RTT timers on.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer_fixture.h"

/* ==== lost ACK on the receiver side ===================================== */

static void
test_receiver_lost_ack(void)
{
	uint8_t *src = random_bytes(612, 41);
	struct fx f;

	fx_init(&f, XFER_RECV, 0, NULL, 0);
	CHECK_EQ(xfer_start(&f.x, 0), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 1);
	CHECK(is_ack(&f.m, 0, 0));
	CHECK_EQ(in_data(&f.x, 1, src, 512, 10), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_ack(&f.m, 1, 1));
	/* our ACK 1 was lost: DATA 1 again, ACK 1 again, written once */
	CHECK_EQ(in_data(&f.x, 1, src, 512, 20), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_ack(&f.m, 2, 1));
	CHECK_EQ(f.m.out_len, 512);
	CHECK_EQ(f.x.st.dup_data, 1);
	/* lock-step: every copy draws its ACK */
	in_data(&f.x, 1, src, 512, 30);
	CHECK_EQ(f.m.nsent, 4);
	CHECK(is_ack(&f.m, 3, 1));
	CHECK_EQ(in_data(&f.x, 2, src + 512, 100, 40), XFER_DONE);
	CHECK(is_ack(&f.m, 4, 2));
	CHECK_EQ(f.m.out_len, 612);
	CHECK_MEM(f.m.out, src, 612);
	CHECK_EQ(f.x.st.bytes, 612);
	CHECK_EQ(f.m.finish_calls, 1);
	fx_free(&f);
	free(src);
}

/* Receiver timeout: the last ACK is re-sent on its own timer. */
static void
test_receiver_timeout_reack(void)
{
	uint8_t *src = random_bytes(1024, 42);
	struct fx f;

	fx_cfg(&f, XFER_RECV, 0);
	f.c.retries = 2;
	fx_begin(&f, NULL, 0);
	xfer_start(&f.x, 0);
	in_data(&f.x, 1, src, 512, 10);
	CHECK(is_ack(&f.m, 1, 1));
	xfer_tick(&f.x, 10 + T_US - 1);
	CHECK_EQ(f.m.nsent, 2);
	xfer_tick(&f.x, 10 + T_US);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_ack(&f.m, 2, 1));
	xfer_tick(&f.x, f.x.deadline);
	CHECK_EQ(f.m.nsent, 4);
	CHECK_EQ(xfer_tick(&f.x, f.x.deadline), XFER_FAILED);
	CHECK_EQ(f.m.nsent, 4);
	CHECK_STR(f.x.err_msg, "timeout");
	fx_free(&f);
	free(src);
}

/* ==== receiver: disk full, finish ======================================= */

static void
test_receiver_disk_full(void)
{
	uint8_t *src = random_bytes(2048, 121);
	struct fx f;

	fx_init(&f, XFER_RECV, 0, NULL, 0);
	f.m.enospc_at = 700;
	xfer_start(&f.x, 0);
	CHECK_EQ(in_data(&f.x, 1, src, 512, 10), XFER_RUNNING);
	CHECK(is_ack(&f.m, 1, 1));
	CHECK_EQ(in_data(&f.x, 2, src + 512, 512, 20), XFER_FAILED);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_error(&f.m, 2, TFTP_ENOSPACE));
	CHECK_EQ(f.x.err_code, TFTP_ENOSPACE);
	CHECK_EQ(f.x.why, XW_SINK);
	CHECK_EQ(f.m.finish_calls, 0);
	/* and nothing after */
	in_data(&f.x, 2, src + 512, 512, 30);
	xfer_tick(&f.x, 100 * T_US);
	CHECK_EQ(f.m.nsent, 3);
	fx_free(&f);
	free(src);
}

static void
test_receiver_finish(void)
{
	uint8_t *src = random_bytes(1000, 122);
	struct fx f;

	/* one configuration for the three runs */
	fx_cfg(&f, XFER_RECV, 0);
	/* finish fails (EIO): an ERROR instead of the final ACK */
	fx_begin(&f, NULL, 0);
	f.m.finish_ret = -EIO;
	xfer_start(&f.x, 0);
	in_data(&f.x, 1, src, 512, 10);
	CHECK_EQ(in_data(&f.x, 2, src + 512, 488, 20), XFER_FAILED);
	CHECK_EQ(f.m.finish_calls, 1);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_error(&f.m, 2, TFTP_EUNDEF));
	CHECK_EQ(f.x.err_peer, 0);
	fx_free(&f);

	/* finish fails with ENOSPC (commit ran out of room): ERROR 3 */
	fx_begin(&f, NULL, 0);
	f.m.finish_ret = -ENOSPC;
	xfer_start(&f.x, 0);
	CHECK_EQ(in_data(&f.x, 1, src, 300, 20), XFER_FAILED);
	CHECK(is_error(&f.m, 1, TFTP_ENOSPACE));
	CHECK_EQ(f.m.nsent, 2);
	fx_free(&f);

	/* success: called once, before the final ACK goes out */
	f.c.dally_us = 3 * T_US;
	fx_begin(&f, NULL, 0);
	xfer_start(&f.x, 0);
	in_data(&f.x, 1, src, 512, 10);
	CHECK_EQ(f.m.finish_calls, 0);
	CHECK_EQ(in_data(&f.x, 2, src + 512, 488, 20), XFER_DONE);
	CHECK_EQ(f.m.finish_calls, 1);
	CHECK_EQ(f.m.finish_nsent, 2);	/* ACK 0, 1 out; ACK 2 not yet */
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_ack(&f.m, 2, 2));
	/* a re-sent last block in the dally: ACK again, no second finish */
	in_data(&f.x, 2, src + 512, 488, 30);
	CHECK_EQ(f.m.finish_calls, 1);
	CHECK_EQ(f.m.out_len, 1000);
	fx_free(&f);
	free(src);
}

/*
 * A finish that answers later (--origin-upload's PUT): no final ACK
 * and no timer until xfer_finished(); copies of the last DATA wait.
 */
static void
test_receiver_finish_later(void)
{
	uint8_t *src = random_bytes(700, 123);
	struct fx f;

	fx_cfg(&f, XFER_RECV, 0);
	f.c.dally_us = 3 * T_US;
	fx_begin(&f, NULL, 0);
	f.m.finish_ret = -EINPROGRESS;
	xfer_start(&f.x, 0);
	in_data(&f.x, 1, src, 512, 10);
	CHECK_EQ(in_data(&f.x, 2, src + 512, 188, 20), XFER_RUNNING);
	CHECK_EQ(f.m.finish_calls, 1);
	CHECK_EQ(f.m.nsent, 2);			/* ACK 0, ACK 1: no ACK 2 */
	CHECK_EQ(f.x.deadline, 0);		/* no timer: the owner's */
	/* the sender asks again: nothing goes out, no second finish */
	CHECK_EQ(in_data(&f.x, 2, src + 512, 188, 5 * T_US), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 2);
	CHECK_EQ(f.m.finish_calls, 1);
	CHECK_EQ(xfer_tick(&f.x, 50 * T_US), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 2);
	/* the origin took it: the final ACK, then the dally re-ACKs */
	CHECK_EQ(xfer_finished(&f.x, 60 * T_US, -1, NULL), XFER_DONE);
	CHECK_EQ(f.m.nsent, 3);
	CHECK(is_ack(&f.m, 2, 2));
	in_data(&f.x, 2, src + 512, 188, 61 * T_US);
	CHECK_EQ(f.m.nsent, 4);
	CHECK(is_ack(&f.m, 3, 2));
	CHECK_EQ(f.m.out_len, 700);
	fx_free(&f);

	/* the origin refused it: ERROR, never the final ACK */
	fx_begin(&f, NULL, 0);
	f.m.finish_ret = -EINPROGRESS;
	xfer_start(&f.x, 0);
	CHECK_EQ(in_data(&f.x, 1, src, 100, 10), XFER_RUNNING);
	CHECK_EQ(xfer_finished(&f.x, 20, TFTP_EACCESS, "refused"),
	    XFER_FAILED);
	CHECK_EQ(f.m.nsent, 2);
	CHECK(is_error(&f.m, 1, TFTP_EACCESS));
	/* once over, a second verdict changes nothing */
	CHECK_EQ(xfer_finished(&f.x, 30, -1, NULL), XFER_FAILED);
	CHECK_EQ(f.m.nsent, 2);
	fx_free(&f);
	free(src);
}

/* ==== server receiver dally ============================================= */

static void
test_receiver_dally(void)
{
	uint8_t *src = random_bytes(1024 + 5, 131);
	struct fx f;
	uint64_t t_end;

	fx_cfg(&f, XFER_RECV, 0);
	f.c.dally_us = 4 * T_US;
	fx_begin(&f, NULL, 0);
	xfer_start(&f.x, 0);
	in_data(&f.x, 1, src, 512, 10);
	in_data(&f.x, 2, src + 512, 512, 20);
	t_end = 30;
	CHECK_EQ(in_data(&f.x, 3, src + 1024, 5, t_end), XFER_DONE);
	CHECK_EQ(f.x.status, XFER_DONE);
	CHECK_EQ(f.x.phase, XP_DALLY);
	CHECK_EQ(f.x.deadline, t_end + f.c.dally_us);
	CHECK_EQ(f.m.nsent, 4);
	CHECK(is_ack(&f.m, 3, 3));
	/* our final ACK was lost: the sender re-sends DATA 3 */
	CHECK_EQ(in_data(&f.x, 3, src + 1024, 5, t_end + T_US), XFER_DONE);
	CHECK_EQ(f.m.nsent, 5);
	CHECK(is_ack(&f.m, 4, 3));
	CHECK_EQ(f.m.out_len, 1029);
	/* an older block is not answered in the dally */
	in_data(&f.x, 2, src + 512, 512, t_end + T_US + 1);
	CHECK_EQ(f.m.nsent, 5);
	/* the re-sent last block restarted the dally from its arrival */
	CHECK_EQ(f.x.deadline, t_end + T_US + f.c.dally_us);
	xfer_tick(&f.x, t_end + T_US + f.c.dally_us - 1);
	CHECK_EQ(f.x.phase, XP_DALLY);
	CHECK_EQ(f.m.nsent, 5);
	/* after: ended, done, silent */
	CHECK_EQ(xfer_tick(&f.x, t_end + T_US + f.c.dally_us), XFER_DONE);
	CHECK_EQ(f.x.phase, XP_END);
	CHECK_EQ(f.m.nsent, 5);
	in_data(&f.x, 3, src + 1024, 5, t_end + T_US + f.c.dally_us + 1);
	CHECK_EQ(f.m.nsent, 5);
	CHECK(memcmp(f.m.out, src, 1029) == 0);
	fx_free(&f);
	free(src);
}

/* ==== RTT timers on a receiver ========================================== */

/*
 * A receiver with RTT timers on (rto_min set) re-sends its last ACK once
 * per timeout, not doubling, and gives up by time without progress:
 * timeout x (retries + 1).
 */
static void
test_receiver_flat_timer_give_up_by_time(void)
{
	uint8_t *src = random_bytes(1024, 43);
	struct fx f;
	uint64_t now = 10, prev;
	unsigned n = 0;

	fx_cfg(&f, XFER_RECV, 0);
	f.c.rto_min_us = 10000;
	f.c.retries = 3;
	fx_begin(&f, NULL, 0);
	xfer_start(&f.x, 0);			/* ACK 0 */
	in_data(&f.x, 1, src, 512, now);	/* ACK 1, progress */
	CHECK_EQ(f.m.nsent, 2);
	prev = now;
	while (f.x.status == XFER_RUNNING && n < 20) {
		CHECK_EQ(f.x.deadline - prev, T_US);	/* flat: 1 s each */
		prev = now = f.x.deadline;
		xfer_tick(&f.x, now);
		n++;
	}
	CHECK_EQ(f.x.status, XFER_FAILED);
	CHECK_STR(f.x.err_msg, "timeout");
	/* re-ACKs at 1, 2, 3 s; at 4 s = (3 + 1) x T without progress: out */
	CHECK_EQ(n, 4);
	CHECK_EQ(f.m.nsent, 5);
	CHECK(is_ack(&f.m, 4, 1));
	CHECK_EQ(now - 10, 4 * T_US);
	fx_free(&f);
	free(src);
}

int
main(void)
{
	/* line-buffered, so a crash or a sanitizer exit loses no output */
	setvbuf(stdout, NULL, _IOLBF, 0);
	RUN(test_receiver_lost_ack);
	RUN(test_receiver_timeout_reack);
	RUN(test_receiver_disk_full);
	RUN(test_receiver_finish);
	RUN(test_receiver_finish_later);
	RUN(test_receiver_dally);
	RUN(test_receiver_flat_timer_give_up_by_time);
	return CHECK_EXIT();
}
