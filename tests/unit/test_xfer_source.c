/*
 * test_xfer_source.c - a source whose bytes come late and unevenly (an
 * HTTP origin, not a disk): the sender sends what is there, neither
 * spins nor retransmits for a block it could not read (a block not yet
 * available is not a lost block), goes on at xfer_wake(), and gives up
 * only after time without progress from the client.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer_fixture.h"

/* Bytes of the source there so far; the rest answers "not yet". */
static size_t avail;
static unsigned eagain;

static long
late_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct mem *m = ctx;

	if (off + len > avail && avail < m->src_len) {
		eagain++;
		return -EAGAIN;
	}
	m->read_calls++;
	if (off > m->src_len)
		return 0;
	if (len > m->src_len - off)
		len = m->src_len - (size_t)off;
	memcpy(buf, m->src + off, len);
	return (long)len;
}

/* A server sender over the late source; windowsize w; RTT timers on. */
static void
late_sender(struct fx *f, const uint8_t *src, size_t n, unsigned w)
{
	fx_cfg(f, XFER_SEND, 0);
	f->c.rto_min_us = 10000;
	if (w > 1)
		grant_window(&f->c.opts, w);
	fx_begin(f, src, n);
	f->x.io.read = late_read;
	eagain = 0;
}

/* The DATA sent, in order, are the source's bytes; returns the count. */
static size_t
data_count(const struct fx *f)
{
	struct packet p;
	size_t i, n = 0;

	for (i = 0; i < f->m.nsent; i++)
		if (sent_pkt(&f->m, i, &p) == TFTP_DATA)
			n++;
	return n;
}

static void
test_source_late_lockstep(void)
{
	enum { N = 5000 };
	uint8_t *src = random_bytes(N, 77);
	uint64_t now = 1000;
	unsigned blk;
	struct fx f;

	avail = 1000;
	late_sender(&f, src, N, 1);
	xfer_start(&f.x, now);
	CHECK(is_data(&f.m, 0, 1, src, 512));
	now += 100;
	in_ack(&f.x, 1, now);
	/* block 2 needs bytes to 1024: nothing sent, and no timer */
	CHECK_EQ(f.m.nsent, 1);
	CHECK_EQ(f.x.starved, 1);
	CHECK_EQ(f.x.deadline, 0);
	/* a long wait draws nothing: no spin, no re-send, no give-up */
	now += 100 * T_US;
	CHECK_EQ(xfer_tick(&f.x, now), XFER_RUNNING);
	CHECK_EQ(f.m.nsent, 1);
	CHECK_EQ(eagain, 1);
	/* the bytes come unevenly; each wake sends what is there */
	avail = 3000;
	CHECK_EQ(xfer_wake(&f.x, now), XFER_RUNNING);
	CHECK(is_data(&f.m, 1, 2, src + 512, 512));
	for (blk = 2; f.x.status == XFER_RUNNING && blk < 100; blk++) {
		now += 100;
		in_ack(&f.x, (uint16_t)blk, now);
		if (f.x.starved) {
			CHECK_EQ(f.x.deadline, 0);
			avail = avail + 700 > N ? N : avail + 700;
			now += 5 * T_US;
			xfer_wake(&f.x, now);
		}
	}
	CHECK_EQ(f.x.status, XFER_DONE);
	CHECK_EQ(data_count(&f), N / 512 + 1);
	CHECK(is_data(&f.m, f.m.nsent - 1, N / 512 + 1, src + N / 512 * 512,
	    N % 512));
	CHECK_EQ(f.x.st.retransmits, 0);
	CHECK_EQ(f.x.st.timeouts, 0);
	fx_free(&f);
	free(src);
}

/*
 * A window is sent as far as the source goes; its timer runs for the
 * blocks in flight only, and once they are ACKed there is none.
 */
static void
test_source_late_window(void)
{
	enum { N = 8 * 512 + 10 };
	uint8_t *src = random_bytes(N, 78);
	uint64_t now = 1000;
	struct fx f;

	avail = 1024;
	late_sender(&f, src, N, 4);
	xfer_start(&f.x, now);			/* OACK */
	now += 100;
	in_ack(&f.x, 0, now);
	CHECK_EQ(data_count(&f), 2);		/* blocks 1 and 2 */
	CHECK_EQ(f.x.starved, 1);
	CHECK(f.x.deadline != 0);		/* they may be lost */
	now += 100;
	in_ack(&f.x, 2, now);
	CHECK_EQ(data_count(&f), 2);
	CHECK_EQ(f.x.deadline, 0);
	avail = N;
	now += 3 * T_US;
	xfer_wake(&f.x, now);
	CHECK_EQ(data_count(&f), 6);		/* blocks 3 to 6 */
	now += 100;
	in_ack(&f.x, 6, now);
	now += 100;
	in_ack(&f.x, 9, now);
	CHECK_EQ(f.x.status, XFER_DONE);
	CHECK_EQ(f.x.st.retransmits, 0);
	fx_free(&f);
	free(src);
}

/* Time the source took is not the client's silence: give-up runs from the wake. */
static void
test_source_give_up_from_wake(void)
{
	static uint8_t src[4 * 512 + 1];
	uint64_t now = 1000, woke;
	struct fx f;

	avail = 512;
	late_sender(&f, src, sizeof(src), 1);
	xfer_start(&f.x, now);
	now += 200;
	in_ack(&f.x, 1, now);			/* starved */
	now += 60 * T_US;			/* the origin is slow */
	avail = sizeof(src);
	woke = now;
	xfer_wake(&f.x, now);			/* DATA 2; the client is gone */
	while (f.x.status == XFER_RUNNING && f.x.deadline) {
		now = f.x.deadline;
		xfer_tick(&f.x, now);
	}
	CHECK_EQ(f.x.status, XFER_FAILED);
	CHECK_EQ(f.x.why, XW_TIMEOUT);
	CHECK(now >= woke + T_US * (f.c.retries + 1));
	CHECK(now < woke + T_US * (f.c.retries + 2));
	fx_free(&f);
}

int
main(void)
{
	RUN(test_source_late_lockstep);
	RUN(test_source_late_window);
	RUN(test_source_give_up_from_wake);
	return CHECK_EXIT();
}
