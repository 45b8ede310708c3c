/*
 * test_xfer.c - the transfer state machines, driven by scripted exchanges
 * on a fake clock (STYLE.md section 6).
 *
 * The harness is all memory: a source (read over a byte array), a sink
 * (write appends to a growable buffer, with an optional -ENOSPC after N
 * bytes and a countable, optionally failing finish), and a send callback
 * that keeps a copy of every datagram so a test can decode it with
 * packet_decode() and check opcode, block, length and bytes.  Expected
 * packets are written out by hand, not with the encoders under test.
 *
 * The back-to-back runs connect a sender and a receiver through a link
 * that drops, duplicates and swaps datagrams by a deterministic PRNG, so
 * a failure replays exactly.  Time only moves when nothing is in flight
 * (plus a few microseconds per delivery), so every timeout in those runs
 * is one the protocol could not avoid.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "xfer.h"

#define T_US		1000000ull	/* first retransmission timeout */
#define STEP_US		20ull		/* fake time per delivery */

/* ---- PRNG -------------------------------------------------------------- */

static uint64_t rng_state;

static void
rng_seed(uint64_t s)
{
	rng_state = s ? s : 0x9E3779B97F4A7C15ull;
}

/* xorshift64*: deterministic, so a failure replays. */
static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static unsigned
rng_pct(void)
{
	return (unsigned)((rng() >> 33) % 100);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

static uint8_t *
random_bytes(size_t n, uint64_t seed)
{
	uint8_t *b = xmalloc(n);
	size_t i;

	rng_seed(seed);
	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(rng() >> 56);
	return b;
}

/* ---- memory io --------------------------------------------------------- */

struct dgram {
	uint8_t	*b;
	size_t	 len;
};

struct mem {
	/* source */
	const uint8_t	*src;
	size_t		 src_len;
	uint64_t	 released;
	unsigned	 bad_reads;	/* below release() or past end */
	unsigned	 read_calls;
	/* sink */
	uint8_t		*out;
	size_t		 out_len, out_cap;
	size_t		 enospc_at;	/* -ENOSPC past this many bytes */
	unsigned	 write_calls;
	unsigned	 finish_calls;
	int		 finish_ret;
	size_t		 finish_nsent;	/* nsent when finish ran */
	/* sends */
	struct dgram	*sent;
	size_t		 nsent, sent_cap;
	uint8_t		*scratch;
	struct xfer_io	 io;
};

static long
mem_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct mem *m = ctx;
	size_t n;

	m->read_calls++;
	if (off < m->released || off > m->src_len) {
		m->bad_reads++;
		return off > m->src_len ? 0 : -EINVAL;
	}
	n = m->src_len - (size_t)off;
	if (n > len)
		n = len;
	memcpy(buf, m->src + off, n);
	return (long)n;
}

static void
mem_release(void *ctx, uint64_t off)
{
	struct mem *m = ctx;

	if (off < m->released)
		m->bad_reads++;
	m->released = off;
}

static int
mem_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct mem *m = ctx;

	m->write_calls++;
	if (m->out_len + len > m->enospc_at)
		return -ENOSPC;
	if (m->out_len + len > m->out_cap) {
		m->out_cap = (m->out_len + len) * 2 + 64;
		m->out = realloc(m->out, m->out_cap);
		if (m->out == NULL)
			abort();
	}
	memcpy(m->out + m->out_len, buf, len);
	m->out_len += len;
	return 0;
}

static int
mem_finish(void *ctx)
{
	struct mem *m = ctx;

	m->finish_calls++;
	m->finish_nsent = m->nsent;
	return m->finish_ret;
}

static void
mem_send(void *ctx, const uint8_t *pkt, size_t len)
{
	struct mem *m = ctx;

	if (m->nsent == m->sent_cap) {
		m->sent_cap = m->sent_cap ? 2 * m->sent_cap : 64;
		m->sent = realloc(m->sent, m->sent_cap * sizeof(*m->sent));
		if (m->sent == NULL)
			abort();
	}
	m->sent[m->nsent].b = xmalloc(len);
	memcpy(m->sent[m->nsent].b, pkt, len);
	m->sent[m->nsent].len = len;
	m->nsent++;
}

static void
mem_init(struct mem *m, const uint8_t *src, size_t src_len)
{
	memset(m, 0, sizeof(*m));
	m->src = src;
	m->src_len = src_len;
	m->enospc_at = SIZE_MAX;
	m->scratch = xmalloc(XFER_SCRATCH);
	m->io.ctx = m;
	m->io.read = mem_read;
	m->io.release = mem_release;
	m->io.write = mem_write;
	m->io.finish = mem_finish;
	m->io.send = mem_send;
	m->io.scratch = m->scratch;
}

static void
mem_clear_sent(struct mem *m)
{
	size_t i;

	for (i = 0; i < m->nsent; i++)
		free(m->sent[i].b);
	m->nsent = 0;
}

static void
mem_free(struct mem *m)
{
	mem_clear_sent(m);
	free(m->sent);
	free(m->out);
	free(m->scratch);
}

/* ---- datagrams --------------------------------------------------------- */

static size_t
mk_ack(uint8_t *b, uint16_t blk)
{
	b[0] = 0;
	b[1] = 4;
	b[2] = (uint8_t)(blk >> 8);
	b[3] = (uint8_t)blk;
	return 4;
}

static size_t
mk_data(uint8_t *b, uint16_t blk, const uint8_t *d, size_t n)
{
	b[0] = 0;
	b[1] = 3;
	b[2] = (uint8_t)(blk >> 8);
	b[3] = (uint8_t)blk;
	if (n)
		memcpy(b + 4, d, n);
	return 4 + n;
}

/* A packet given as a string literal with its embedded NULs. */
#define LIT(s)	((const uint8_t *)(s)), (sizeof(s) - 1)

static int
in_raw(struct xfer *x, const uint8_t *b, size_t n, uint64_t now)
{
	return xfer_input(x, b, n, now);
}

static int
in_ack(struct xfer *x, uint16_t blk, uint64_t now)
{
	uint8_t b[4];

	return xfer_input(x, b, mk_ack(b, blk), now);
}

static int
in_data(struct xfer *x, uint16_t blk, const uint8_t *d, size_t n,
    uint64_t now)
{
	uint8_t *b = xmalloc(n + 4);
	int r = xfer_input(x, b, mk_data(b, blk, d, n), now);

	free(b);
	return r;
}

/* Decode sent[i]; returns its opcode, or -1 when absent or undecodable. */
static int
sent_pkt(const struct mem *m, size_t i, struct packet *p)
{
	if (i >= m->nsent) {
		memset(p, 0, sizeof(*p));
		return -1;
	}
	if (packet_decode(m->sent[i].b, m->sent[i].len, p) < 0)
		return -1;
	return p->op;
}

/* sent[i] is DATA blk carrying exactly exp[0..n). */
static int
is_data(const struct mem *m, size_t i, uint16_t blk, const uint8_t *exp,
    size_t n)
{
	struct packet p;
	int op = sent_pkt(m, i, &p);

	if (op == TFTP_DATA && p.block == blk && p.data_len == n &&
	    (n == 0 || memcmp(p.data, exp, n) == 0))
		return 1;
	printf("  sent[%zu]: op %d block %u len %zu; want DATA %u len %zu%s\n",
	    i, op, p.block, p.data_len, blk, n,
	    op == TFTP_DATA && p.block == blk && p.data_len == n ?
	    " (bytes differ)" : "");
	return 0;
}

static int
is_ack(const struct mem *m, size_t i, uint16_t blk)
{
	struct packet p;
	int op = sent_pkt(m, i, &p);

	if (op == TFTP_ACK && p.block == blk && m->sent[i].len == 4)
		return 1;
	printf("  sent[%zu]: op %d block %u; want ACK %u\n", i, op, p.block,
	    blk);
	return 0;
}

static int
is_error(const struct mem *m, size_t i, uint16_t code)
{
	struct packet p;
	int op = sent_pkt(m, i, &p);

	if (op == TFTP_ERROR && p.err_code == code)
		return 1;
	printf("  sent[%zu]: op %d code %u; want ERROR %u\n", i, op,
	    p.err_code, code);
	return 0;
}

/* sent[i] is byte for byte exp. */
static int
is_bytes(const struct mem *m, size_t i, const uint8_t *exp, size_t n)
{
	if (i < m->nsent && m->sent[i].len == n &&
	    memcmp(m->sent[i].b, exp, n) == 0)
		return 1;
	printf("  sent[%zu]: len %zu; want %zu bytes\n", i,
	    i < m->nsent ? m->sent[i].len : 0, n);
	return 0;
}

/* ---- configurations ---------------------------------------------------- */

static struct xfer_cfg
cfg_make(int role, int client)
{
	struct xfer_cfg c;

	memset(&c, 0, sizeof(c));
	c.role = role;
	c.client = client;
	options_init(&c.opts);
	c.filename = "file.bin";
	c.mode = "octet";
	c.timeout_us = T_US;
	c.retries = 5;
	return c;
}

static void
grant_blksize(struct tftp_opts *o, unsigned b)
{
	o->have |= OPT_BLKSIZE;
	o->blksize = b;
}

static void
grant_window(struct tftp_opts *o, unsigned w)
{
	o->have |= OPT_WINDOWSIZE;
	o->windowsize = w;
}

/* Reference netascii encoding, independent of netascii.c. */
static size_t
ref_encode(const uint8_t *src, size_t n, uint8_t *dst)
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

/* Payload length of block seq (1-based) of a wire stream of len bytes. */
static size_t
blk_len(size_t len, unsigned bs, uint64_t seq)
{
	uint64_t off = (seq - 1) * bs;

	if (off >= len)
		return 0;
	return len - off < bs ? len - (size_t)off : bs;
}

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
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;
	uint64_t now = 5;
	int r;

	mem_init(&m, src, size);
	xfer_init(&x, &c, &m.io);
	r = xfer_start(&x, now);
	CHECK_EQ(r, XFER_RUNNING);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_data(&m, 0, 1, src, blk_len(size, 512, 1)));
	for (i = 1; i <= nblk; i++) {
		CHECK_EQ(m.nsent, i);
		now += 1000;
		r = in_ack(&x, (uint16_t)i, now);
		if (i < nblk) {
			CHECK_EQ(r, XFER_RUNNING);
			CHECK_EQ(m.nsent, i + 1);
			CHECK(is_data(&m, i, (uint16_t)(i + 1),
			    src + i * 512, blk_len(size, 512, i + 1)));
		}
	}
	CHECK_EQ(r, XFER_DONE);
	CHECK_EQ(x.status, XFER_DONE);
	CHECK_EQ(x.phase, XP_END);
	CHECK_EQ(m.nsent, nblk);
	CHECK_EQ(x.st.bytes, size);
	CHECK_EQ(x.st.data_sent, nblk);
	CHECK_EQ(x.st.retransmits, 0);
	CHECK_EQ(x.deadline, 0);
	/* a late duplicate ACK after the end draws nothing */
	in_ack(&x, (uint16_t)nblk, now + 1);
	xfer_tick(&x, now + 100 * T_US);
	CHECK_EQ(m.nsent, nblk);
	CHECK_EQ(m.bad_reads, 0);
	mem_free(&m);
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
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;

	mem_init(&m, src, 512);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK(is_data(&m, 0, 1, src, 512));
	CHECK_EQ(in_ack(&x, 1, 10), XFER_RUNNING);
	CHECK(is_data(&m, 1, 2, NULL, 0));
	CHECK_EQ(m.sent[1].len, 4);
	CHECK_EQ(in_ack(&x, 2, 20), XFER_DONE);
	CHECK_EQ(x.st.bytes, 512);
	CHECK_EQ(m.nsent, 2);
	mem_free(&m);
	free(src);
}

/* ==== OACK then ACK 0 =================================================== */

static void
test_oack_then_ack0(void)
{
	uint8_t *src = random_bytes(4000, 11);
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;

	grant_blksize(&c.opts, 1468);
	mem_init(&m, src, 4000);
	xfer_init(&x, &c, &m.io);
	CHECK_EQ(xfer_start(&x, 0), XFER_RUNNING);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_bytes(&m, 0, LIT("\0\6blksize\0" "1468\0")));
	CHECK_EQ(x.phase, XP_OACK);
	CHECK(x.deadline == T_US);
	/* ACK 1 before ACK 0: not acted on */
	CHECK_EQ(in_ack(&x, 1, 100), XFER_RUNNING);
	CHECK_EQ(m.nsent, 1);
	CHECK_EQ(x.st.dup_acks, 1);
	/* ACK 0: DATA 1 at the granted size */
	CHECK_EQ(in_ack(&x, 0, 200), XFER_RUNNING);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_data(&m, 1, 1, src, 1468));
	/* a second ACK 0 is old now */
	in_ack(&x, 0, 300);
	CHECK_EQ(m.nsent, 2);
	CHECK_EQ(in_ack(&x, 1, 400), XFER_RUNNING);
	CHECK(is_data(&m, 2, 2, src + 1468, 1468));
	in_ack(&x, 2, 500);
	CHECK(is_data(&m, 3, 3, src + 2936, 4000 - 2936));
	CHECK_EQ(in_ack(&x, 3, 600), XFER_DONE);
	CHECK_EQ(x.st.bytes, 4000);
	mem_free(&m);
	free(src);
}

/* OACK lost: the OACK itself is re-sent on timeout, same bytes. */
static void
test_oack_lost(void)
{
	uint8_t src[10] = "0123456789";
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;

	grant_blksize(&c.opts, 1468);
	grant_window(&c.opts, 4);
	mem_init(&m, src, sizeof(src));
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK(is_bytes(&m, 0, LIT("\0\6blksize\0" "1468\0windowsize\0" "4\0")));
	xfer_tick(&x, T_US - 1);
	CHECK_EQ(m.nsent, 1);
	xfer_tick(&x, T_US);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_bytes(&m, 1, m.sent[0].b, m.sent[0].len));
	CHECK_EQ(in_ack(&x, 0, T_US + 5), XFER_RUNNING);
	CHECK(is_data(&m, 2, 1, src, 10));
	CHECK_EQ(in_ack(&x, 1, T_US + 6), XFER_DONE);
	mem_free(&m);
}

/* ==== the OACK burst (U-Boot behind a NIC that drops bursts) ============= */

static struct xfer_cfg
burst_cfg(unsigned window)
{
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);

	grant_blksize(&c.opts, 512);
	grant_window(&c.opts, window);
	c.rto_min_us = 10000;
	c.oack_burst = 3;
	return c;
}

#define BURST_SRC	(512 * 20 + 7)

/* A server sender of BURST_SRC bytes of src with the burst, started at 0. */
static void
burst_start(struct xfer *x, struct mem *m, const uint8_t *src,
    unsigned window)
{
	struct xfer_cfg c = burst_cfg(window);

	mem_init(m, src, BURST_SRC);
	xfer_init(x, &c, &m->io);
	xfer_start(x, 0);
}
#define OACK_W8		LIT("\0\6blksize\0" "512\0windowsize\0" "8\0")
#define OACK_W1		LIT("\0\6blksize\0" "512\0windowsize\0" "1\0")

/*
 * Two of three OACK copies answered: the client's NIC drops bursts, so a
 * second OACK grants windowsize 1 before DATA 1, and the transfer runs in
 * lock-step to the end.
 */
static void
test_oack_burst_narrows(void)
{
	uint8_t *src = random_bytes(BURST_SRC, 41);
	struct xfer x;
	struct mem m;
	uint64_t now;
	uint16_t b;

	burst_start(&x, &m, src, 8);
	CHECK_EQ(x.status, XFER_RUNNING);
	CHECK_EQ(m.nsent, 3);
	CHECK(is_bytes(&m, 0, OACK_W8));
	CHECK(is_bytes(&m, 1, OACK_W8));
	CHECK(is_bytes(&m, 2, OACK_W8));
	CHECK_EQ(x.st.burst, 3);
	/* the first answer after 400 us: wait 2 ms (the floor) for more */
	CHECK_EQ(in_ack(&x, 0, 400), XFER_RUNNING);
	CHECK_EQ(m.nsent, 3);
	CHECK(x.deadline == 2400);
	CHECK(x.srtt == 400);
	CHECK_EQ(in_ack(&x, 0, 420), XFER_RUNNING);
	CHECK_EQ(m.nsent, 3);
	xfer_tick(&x, 2399);
	CHECK_EQ(m.nsent, 3);
	xfer_tick(&x, 2400);
	CHECK_EQ(m.nsent, 4);
	CHECK(is_bytes(&m, 3, OACK_W1));
	CHECK_EQ(x.st.burst_acks, 2);
	CHECK_EQ(x.st.burst_narrowed, 1);
	CHECK_EQ(x.opts.windowsize, 1);
	/* its ACK 0: DATA 1 alone, then one block per ACK */
	now = 2800;
	CHECK_EQ(in_ack(&x, 0, now), XFER_RUNNING);
	CHECK_EQ(m.nsent, 5);
	CHECK(is_data(&m, 4, 1, src, 512));
	/* a late copy of ACK 0 is old */
	in_ack(&x, 0, now + 10);
	CHECK_EQ(m.nsent, 5);
	for (b = 1; b <= 20; b++) {
		now += 100;
		CHECK_EQ(in_ack(&x, b, now), XFER_RUNNING);
		CHECK_EQ(m.nsent, (size_t)5 + b);
		CHECK(is_data(&m, 4 + b, (uint16_t)(b + 1), src + 512 * b,
		    b < 20 ? 512 : 7));
	}
	CHECK_EQ(in_ack(&x, 21, now + 100), XFER_DONE);
	CHECK_EQ(x.st.bytes, BURST_SRC);
	CHECK_EQ(x.st.retransmits, 0);
	mem_free(&m);
	free(src);
}

/* Every copy answered: the client takes bursts; the window starts at once. */
static void
test_oack_burst_all_answered(void)
{
	uint8_t *src = random_bytes(BURST_SRC, 42);
	struct xfer x;
	struct mem m;
	int i;

	burst_start(&x, &m, src, 8);
	in_ack(&x, 0, 300);
	in_ack(&x, 0, 310);
	CHECK_EQ(m.nsent, 3);
	CHECK_EQ(in_ack(&x, 0, 320), XFER_RUNNING);
	CHECK_EQ(m.nsent, 3 + 8);
	for (i = 0; i < 8; i++)
		CHECK(is_data(&m, 3 + (size_t)i, (uint16_t)(i + 1),
		    src + 512 * i, 512));
	CHECK_EQ(x.st.burst_narrowed, 0);
	CHECK_EQ(x.opts.windowsize, 8);
	mem_free(&m);
	free(src);
}

/*
 * One answer: a client that ignores OACK copies tells nothing, and keeps
 * its window once the wait is over.  No answer at all: an ordinary lost
 * OACK, re-sent once (not as a burst) with the window unchanged.
 */
static void
test_oack_burst_one_or_none(void)
{
	uint8_t *src = random_bytes(BURST_SRC, 43);
	struct xfer x;
	struct mem m;

	burst_start(&x, &m, src, 8);
	in_ack(&x, 0, 1500);
	CHECK(x.deadline == 4500);
	xfer_tick(&x, 4500);
	CHECK_EQ(m.nsent, 3 + 8);
	CHECK(is_data(&m, 3, 1, src, 512));
	CHECK_EQ(x.opts.windowsize, 8);
	CHECK_EQ(x.st.burst_narrowed, 0);
	mem_free(&m);

	burst_start(&x, &m, src, 8);
	xfer_tick(&x, T_US);
	CHECK_EQ(m.nsent, 4);
	CHECK(is_bytes(&m, 3, OACK_W8));
	CHECK_EQ(x.st.retransmits, 1);
	CHECK_EQ(in_ack(&x, 0, T_US + 300), XFER_RUNNING);
	CHECK_EQ(m.nsent, 4 + 8);
	CHECK_EQ(x.opts.windowsize, 8);
	mem_free(&m);
	free(src);
}

/*
 * One OACK, no burst: windowsize 2 or less (a NIC that keeps one packet
 * waiting takes two), classic timers, or no burst asked for.
 */
static void
test_oack_burst_off(void)
{
	uint8_t src[600] = { 0 };
	struct xfer_cfg c;
	struct xfer x;
	struct mem m;
	int k;

	for (k = 0; k < 3; k++) {
		c = burst_cfg(k == 0 ? 2 : 8);
		if (k == 1)
			c.rto_min_us = 0;
		if (k == 2)
			c.oack_burst = 1;
		mem_init(&m, src, sizeof(src));
		xfer_init(&x, &c, &m.io);
		xfer_start(&x, 0);
		CHECK_EQ(m.nsent, 1);
		CHECK_EQ(in_ack(&x, 0, 300), XFER_RUNNING);
		CHECK(is_data(&m, 1, 1, src, 512));
		CHECK_EQ(x.st.burst, 0);
		mem_free(&m);
	}
}

/* ==== lost DATA, backoff, give up ======================================= */

static void
test_lost_data_backoff(void)
{
	uint8_t *src = random_bytes(2000, 21);
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;
	uint64_t t0 = 1000, dl, prev_gap, gap;
	unsigned i;

	c.retries = 3;
	mem_init(&m, src, 2000);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, t0);
	CHECK(is_data(&m, 0, 1, src, 512));
	/* progress: ACK 1 at t0 + 10 re-arms from there */
	in_ack(&x, 1, t0 + 10);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_data(&m, 1, 2, src + 512, 512));
	dl = x.deadline;
	CHECK_EQ(dl, t0 + 10 + T_US);
	/* before the deadline nothing happens */
	CHECK_EQ(xfer_tick(&x, dl - 1), XFER_RUNNING);
	CHECK_EQ(m.nsent, 2);
	prev_gap = T_US;
	for (i = 0; i < c.retries; i++) {
		uint64_t at = x.deadline;

		CHECK_EQ(xfer_tick(&x, at), XFER_RUNNING);
		CHECK_EQ(m.nsent, 3 + i);
		CHECK(is_data(&m, 2 + i, 2, src + 512, 512));
		gap = x.deadline - at;
		/* doubled each time (no cap reached with 3 retries) */
		CHECK_EQ(gap, 2 * prev_gap);
		prev_gap = gap;
		/* an early tick is harmless */
		xfer_tick(&x, x.deadline - 1);
		CHECK_EQ(m.nsent, 3 + i);
	}
	CHECK_EQ(x.st.retransmits, c.retries);
	/* the next expiry gives up, silently */
	CHECK_EQ(xfer_tick(&x, x.deadline), XFER_FAILED);
	CHECK_EQ(m.nsent, 2 + c.retries);
	CHECK_STR(x.err_msg, "timeout");
	CHECK_EQ(x.why, XW_TIMEOUT);
	CHECK_EQ(x.err_peer, 0);
	CHECK_EQ(x.phase, XP_END);
	CHECK_EQ(x.st.timeouts, c.retries + 1);
	/* dead: no more packets on ticks or input */
	xfer_tick(&x, 1000 * T_US);
	in_ack(&x, 2, 1000 * T_US);
	CHECK_EQ(m.nsent, 2 + c.retries);
	CHECK_EQ(x.status, XFER_FAILED);
	mem_free(&m);
	free(src);
}

/* The backoff stops at timeout_max_us, and progress resets it. */
static void
test_backoff_cap_and_reset(void)
{
	uint8_t *src = random_bytes(2000, 22);
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;
	uint64_t at;

	c.retries = 10;
	c.timeout_max_us = 3 * T_US;
	mem_init(&m, src, 2000);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	at = x.deadline;
	CHECK_EQ(at, T_US);
	xfer_tick(&x, at);
	CHECK_EQ(x.deadline - at, 2 * T_US);
	at = x.deadline;
	xfer_tick(&x, at);
	CHECK_EQ(x.deadline - at, 3 * T_US);
	at = x.deadline;
	xfer_tick(&x, at);
	CHECK_EQ(x.deadline - at, 3 * T_US);
	CHECK_EQ(m.nsent, 4);
	/* progress: back to the first timeout, retry count starts over */
	at += 5;
	in_ack(&x, 1, at);
	CHECK_EQ(x.deadline, at + T_US);
	CHECK_EQ(x.tries, 0);
	mem_free(&m);
	free(src);
}

/* ==== duplicate ACK: no Sorcerer's Apprentice ============================ */

static void
test_duplicate_ack(void)
{
	uint8_t *src = random_bytes(1500, 31);
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;

	mem_init(&m, src, 1500);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	in_ack(&x, 1, 10);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_data(&m, 1, 2, src + 512, 512));
	/* the same ACK again: nothing, counted */
	CHECK_EQ(in_ack(&x, 1, 20), XFER_RUNNING);
	CHECK_EQ(m.nsent, 2);
	CHECK_EQ(x.st.dup_acks, 1);
	in_ack(&x, 1, 21);
	CHECK_EQ(m.nsent, 2);
	CHECK_EQ(x.st.dup_acks, 2);
	/* and each further block goes out exactly once */
	in_ack(&x, 2, 30);
	in_ack(&x, 2, 31);
	CHECK_EQ(m.nsent, 3);
	CHECK(is_data(&m, 2, 3, src + 1024, 476));
	/* an ACK for a block never sent is not progress either */
	in_ack(&x, 9, 32);
	CHECK_EQ(m.nsent, 3);
	CHECK_EQ(x.st.dup_acks, 4);
	CHECK_EQ(in_ack(&x, 3, 40), XFER_DONE);
	CHECK_EQ(x.st.data_sent, 3);
	CHECK_EQ(x.st.retransmits, 0);
	mem_free(&m);
	free(src);
}

/* ==== lost ACK on the receiver side ===================================== */

static void
test_receiver_lost_ack(void)
{
	uint8_t *src = random_bytes(612, 41);
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;

	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	CHECK_EQ(xfer_start(&x, 0), XFER_RUNNING);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_ack(&m, 0, 0));
	CHECK_EQ(in_data(&x, 1, src, 512, 10), XFER_RUNNING);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_ack(&m, 1, 1));
	/* our ACK 1 was lost: DATA 1 again, ACK 1 again, written once */
	CHECK_EQ(in_data(&x, 1, src, 512, 20), XFER_RUNNING);
	CHECK_EQ(m.nsent, 3);
	CHECK(is_ack(&m, 2, 1));
	CHECK_EQ(m.out_len, 512);
	CHECK_EQ(x.st.dup_data, 1);
	/* lock-step: every copy draws its ACK */
	in_data(&x, 1, src, 512, 30);
	CHECK_EQ(m.nsent, 4);
	CHECK(is_ack(&m, 3, 1));
	CHECK_EQ(in_data(&x, 2, src + 512, 100, 40), XFER_DONE);
	CHECK(is_ack(&m, 4, 2));
	CHECK_EQ(m.out_len, 612);
	CHECK_MEM(m.out, src, 612);
	CHECK_EQ(x.st.bytes, 612);
	CHECK_EQ(m.finish_calls, 1);
	mem_free(&m);
	free(src);
}

/* Receiver timeout: the last ACK is re-sent on its own timer. */
static void
test_receiver_timeout_reack(void)
{
	uint8_t *src = random_bytes(1024, 42);
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;

	c.retries = 2;
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	in_data(&x, 1, src, 512, 10);
	CHECK(is_ack(&m, 1, 1));
	xfer_tick(&x, 10 + T_US - 1);
	CHECK_EQ(m.nsent, 2);
	xfer_tick(&x, 10 + T_US);
	CHECK_EQ(m.nsent, 3);
	CHECK(is_ack(&m, 2, 1));
	xfer_tick(&x, x.deadline);
	CHECK_EQ(m.nsent, 4);
	CHECK_EQ(xfer_tick(&x, x.deadline), XFER_FAILED);
	CHECK_EQ(m.nsent, 4);
	CHECK_STR(x.err_msg, "timeout");
	mem_free(&m);
	free(src);
}

/* ==== ERROR from the peer; unexpected opcodes =========================== */

static void
test_peer_error_midway(void)
{
	uint8_t *src = random_bytes(3000, 51);
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;

	mem_init(&m, src, 3000);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	in_ack(&x, 1, 10);
	CHECK_EQ(m.nsent, 2);
	CHECK_EQ(in_raw(&x, LIT("\0\5\0\3Disk is full here\0"), 20),
	    XFER_FAILED);
	CHECK_EQ(m.nsent, 2);
	CHECK_EQ(x.err_peer, 1);
	CHECK_EQ(x.why, XW_PEER);
	CHECK_EQ(x.err_code, 3);
	CHECK_STR(x.err_msg, "Disk is full here");
	CHECK_EQ(x.phase, XP_END);
	CHECK_EQ(x.deadline, 0);
	xfer_tick(&x, 100 * T_US);
	in_ack(&x, 2, 100 * T_US);
	CHECK_EQ(m.nsent, 2);
	mem_free(&m);
	free(src);

	/* the same for a receiver, with a text lacking its NUL */
	c = cfg_make(XFER_RECV, 0);
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK_EQ(in_raw(&x, LIT("\0\5\0\0gone"), 5), XFER_FAILED);
	CHECK_EQ(m.nsent, 1);
	CHECK_EQ(x.err_peer, 1);
	CHECK_EQ(x.err_code, 0);
	CHECK_STR(x.err_msg, "gone");
	mem_free(&m);
}

static void
test_unexpected_opcode(void)
{
	uint8_t src[600] = { 0 };
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;

	/* DATA to a sender */
	mem_init(&m, src, sizeof(src));
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK_EQ(in_data(&x, 1, src, 10, 5), XFER_FAILED);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_error(&m, 1, TFTP_EBADOP));
	CHECK_EQ(x.err_code, TFTP_EBADOP);
	CHECK_EQ(x.err_peer, 0);
	CHECK_EQ(x.why, XW_PROTOCOL);
	/* the ERROR is sent once, never re-sent */
	xfer_tick(&x, 100 * T_US);
	in_ack(&x, 1, 100 * T_US);
	CHECK_EQ(m.nsent, 2);
	mem_free(&m);

	/* a request to a receiver's transfer TID */
	c = cfg_make(XFER_RECV, 0);
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK_EQ(in_raw(&x, LIT("\0\2x\0octet\0"), 5), XFER_FAILED);
	CHECK(is_error(&m, 1, TFTP_EBADOP));
	mem_free(&m);

	/* garbage is ignored, not fatal */
	c = cfg_make(XFER_SEND, 0);
	mem_init(&m, src, sizeof(src));
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK_EQ(in_raw(&x, LIT("\0\11zz"), 5), XFER_RUNNING);
	CHECK_EQ(in_raw(&x, LIT("\0"), 5), XFER_RUNNING);
	CHECK_EQ(m.nsent, 1);
	CHECK_EQ(x.st.ignored, 2);
	mem_free(&m);
}

/* ==== rollover ========================================================== */

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

#define ROLL_BS		8
#define ROLL_SIZE	(ROLL_BS * 65540 + 3)	/* 65541 blocks */

static void
rollover_sender(unsigned rollover)
{
	uint8_t *src = random_bytes(ROLL_SIZE, 61 + rollover);
	uint64_t nblk = ROLL_SIZE / ROLL_BS + 1, seq, now = 0;
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;
	struct packet p;
	unsigned bad = 0;
	uint16_t around[3] = { 0, 0, 0 };
	int r = XFER_RUNNING, op;

	grant_blksize(&c.opts, ROLL_BS);
	if (rollover) {
		c.opts.have |= OPT_ROLLOVER;
		c.opts.rollover = 1;
	}
	mem_init(&m, src, ROLL_SIZE);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, now);
	if (rollover)
		CHECK(is_bytes(&m, 0,
		    LIT("\0\6blksize\0" "8\0rollover\0" "1\0")));
	else
		CHECK(is_bytes(&m, 0, LIT("\0\6blksize\0" "8\0")));
	mem_clear_sent(&m);
	in_ack(&x, 0, ++now);
	for (seq = 1; seq <= nblk; seq++) {
		op = sent_pkt(&m, 0, &p);
		if (m.nsent != 1 || op != TFTP_DATA ||
		    p.block != ref_wire(seq, rollover) ||
		    p.data_len != blk_len(ROLL_SIZE, ROLL_BS, seq) ||
		    memcmp(p.data, src + (seq - 1) * ROLL_BS, p.data_len)) {
			if (bad++ < 3)
				printf("  seq %llu: bad DATA (n %zu blk %u)\n",
				    (unsigned long long)seq, m.nsent, p.block);
		}
		if (seq >= 65535 && seq <= 65537)
			around[seq - 65535] = p.block;
		mem_clear_sent(&m);
		r = in_ack(&x, ref_wire(seq, rollover), ++now);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(around[0], 65535);
	CHECK_EQ(around[1], rollover ? 1 : 0);
	CHECK_EQ(around[2], rollover ? 2 : 1);
	CHECK_EQ(r, XFER_DONE);
	CHECK_EQ(x.st.bytes, ROLL_SIZE);
	CHECK_EQ(x.st.data_sent, nblk);
	CHECK_EQ(x.st.dup_acks, 0);
	CHECK_EQ(m.nsent, 0);
	mem_free(&m);
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
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;
	unsigned bad = 0;
	int r = XFER_RUNNING;

	grant_blksize(&c.opts, ROLL_BS);
	if (rollover) {
		c.opts.have |= OPT_ROLLOVER;
		c.opts.rollover = 1;
	}
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, now);
	CHECK_EQ(m.nsent, 1);		/* the OACK */
	mem_clear_sent(&m);
	for (seq = 1; seq <= nblk; seq++) {
		if (seq == 65536) {
			/* the other rule's number: a gap, not data */
			uint16_t wrong = rollover ? 0 : 1;

			in_data(&x, wrong, src + (seq - 1) * ROLL_BS, ROLL_BS,
			    ++now);
			CHECK_EQ(m.out_len, (seq - 1) * ROLL_BS);
			CHECK_EQ(m.nsent, 1);
			CHECK(is_ack(&m, 0, 65535));
			mem_clear_sent(&m);
		}
		r = in_data(&x, ref_wire(seq, rollover),
		    src + (seq - 1) * ROLL_BS,
		    blk_len(ROLL_SIZE, ROLL_BS, seq), ++now);
		if (m.nsent != 1 || !is_ack(&m, 0, ref_wire(seq, rollover))) {
			if (bad++ < 3)
				printf("  seq %llu: bad ACK\n",
				    (unsigned long long)seq);
		}
		mem_clear_sent(&m);
	}
	CHECK_EQ(bad, 0);
	CHECK_EQ(r, XFER_DONE);
	CHECK_EQ(m.out_len, ROLL_SIZE);
	CHECK(m.out_len == ROLL_SIZE && memcmp(m.out, src, ROLL_SIZE) == 0);
	CHECK_EQ(x.st.bytes, ROLL_SIZE);
	mem_free(&m);
	free(src);
}

static void
test_rollover_receiver(void)
{
	rollover_receiver(0);
	rollover_receiver(1);
}

/* ==== windowsize ======================================================== */

static void
test_window_midack(void)
{
	size_t size = 20 * 512 + 100, i;
	uint8_t *src = random_bytes(size, 81);
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;

	grant_window(&c.opts, 4);
	mem_init(&m, src, size);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK(is_bytes(&m, 0, LIT("\0\6windowsize\0" "4\0")));
	mem_clear_sent(&m);
	in_ack(&x, 0, 10);
	CHECK_EQ(m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 1), src + i * 512, 512));
	mem_clear_sent(&m);
	/* mid-window ACK 2: go on from 3 */
	in_ack(&x, 2, 20);
	CHECK_EQ(m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 3), src + (i + 2) * 512,
		    512));
	CHECK_EQ(x.st.retransmits, 2);
	CHECK_EQ(x.st.data_sent, 6);
	mem_clear_sent(&m);
	/* an old ACK: nothing */
	in_ack(&x, 1, 30);
	in_ack(&x, 2, 31);
	CHECK_EQ(m.nsent, 0);
	CHECK_EQ(x.st.dup_acks, 2);
	/* the window's end: the next four */
	in_ack(&x, 6, 40);
	CHECK_EQ(m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 7), src + (i + 6) * 512,
		    512));
	mem_clear_sent(&m);
	/* timeout: the whole window from the base again */
	xfer_tick(&x, x.deadline);
	CHECK_EQ(m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 7), src + (i + 6) * 512,
		    512));
	mem_clear_sent(&m);
	/* to the end: 21 blocks, the last one short */
	in_ack(&x, 10, 50);
	in_ack(&x, 14, 60);
	in_ack(&x, 18, 70);
	CHECK_EQ(m.nsent, 11);
	CHECK(is_data(&m, 10, 21, src + 20 * 512, 100));
	mem_clear_sent(&m);
	in_ack(&x, 20, 80);		/* only block 21 is left */
	CHECK_EQ(m.nsent, 1);
	CHECK(is_data(&m, 0, 21, src + 20 * 512, 100));
	CHECK_EQ(in_ack(&x, 21, 90), XFER_DONE);
	CHECK_EQ(x.st.bytes, size);
	CHECK_EQ(m.bad_reads, 0);
	mem_free(&m);
	free(src);
}

/* blocks 1,2,... of a stream of fixed-size pieces */
#define BLK(src, k)	((src) + ((k) - 1) * 512)

static void
test_window_receiver(void)
{
	size_t size = 12 * 512 + 7;
	uint8_t *src = random_bytes(size, 91);
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;
	uint64_t now = 0;
	unsigned k;

	grant_window(&c.opts, 4);
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, now);
	CHECK(is_bytes(&m, 0, LIT("\0\6windowsize\0" "4\0")));
	mem_clear_sent(&m);
	/* 1..3: no ACK; 4: ACK 4 */
	for (k = 1; k <= 3; k++) {
		in_data(&x, (uint16_t)k, BLK(src, k), 512, ++now);
		CHECK_EQ(m.nsent, 0);
	}
	in_data(&x, 4, BLK(src, 4), 512, ++now);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_ack(&m, 0, 4));
	mem_clear_sent(&m);
	/* 5, 6, then 8: block 7 is missing, ACK 6 at once */
	in_data(&x, 5, BLK(src, 5), 512, ++now);
	in_data(&x, 6, BLK(src, 6), 512, ++now);
	CHECK_EQ(m.nsent, 0);
	in_data(&x, 8, BLK(src, 8), 512, ++now);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_ack(&m, 0, 6));
	/* more out-of-order blocks of the same burst: no more ACKs */
	in_data(&x, 9, BLK(src, 9), 512, ++now);
	in_data(&x, 10, BLK(src, 10), 512, ++now);
	CHECK_EQ(m.nsent, 1);
	/*
	 * 5 is where a sender restarts that lost ACK 4, and we wait: it
	 * draws our last ACK again, never a new position mid-window
	 */
	in_data(&x, 5, BLK(src, 5), 512, ++now);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_ack(&m, 1, 6));
	/* 6 is no restart point: nothing */
	in_data(&x, 6, BLK(src, 6), 512, ++now);
	CHECK_EQ(m.nsent, 2);
	CHECK_EQ(m.out_len, 6 * 512);
	mem_clear_sent(&m);
	/* progress (7), then another gap: one new ACK */
	in_data(&x, 7, BLK(src, 7), 512, ++now);
	CHECK_EQ(m.nsent, 0);
	in_data(&x, 9, BLK(src, 9), 512, ++now);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_ack(&m, 0, 7));
	in_data(&x, 10, BLK(src, 10), 512, ++now);
	CHECK_EQ(m.nsent, 1);
	mem_clear_sent(&m);
	/* the sender goes on from 8: a full window 8..11 draws ACK 11 */
	for (k = 8; k <= 10; k++) {
		in_data(&x, (uint16_t)k, BLK(src, k), 512, ++now);
		CHECK_EQ(m.nsent, 0);
	}
	in_data(&x, 11, BLK(src, 11), 512, ++now);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_ack(&m, 0, 11));
	mem_clear_sent(&m);
	in_data(&x, 12, BLK(src, 12), 512, ++now);
	CHECK_EQ(m.nsent, 0);
	/* the short block ends it at once, mid-window */
	CHECK_EQ(in_data(&x, 13, BLK(src, 13), 7, ++now), XFER_DONE);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_ack(&m, 0, 13));
	CHECK_EQ(m.out_len, size);
	CHECK(m.out_len == size && memcmp(m.out, src, size) == 0);
	mem_free(&m);
	free(src);
}

/* ==== client receiver (get) ============================================= */

static void
client_get_setup(struct xfer *x, struct mem *m, struct xfer_cfg *c)
{
	*c = cfg_make(XFER_RECV, 1);
	c->filename = "boot/pxe.0";
	grant_blksize(&c->opts, 1024);
	c->opts.have |= OPT_TSIZE;
	c->opts.tsize = 0;
	grant_window(&c->opts, 4);
	mem_init(m, NULL, 0);
	xfer_init(x, c, &m->io);
}

static void
test_client_get_request_oack(void)
{
	uint8_t *src = random_bytes(1500, 101);
	struct xfer_cfg c;
	struct xfer x;
	struct mem m;

	client_get_setup(&x, &m, &c);
	CHECK_EQ(xfer_start(&x, 0), XFER_RUNNING);
	CHECK_EQ(m.nsent, 1);
	CHECK(is_bytes(&m, 0, LIT("\0\1boot/pxe.0\0octet\0blksize\0" "1024\0"
	    "tsize\0" "0\0windowsize\0" "4\0")));
	CHECK_EQ(x.phase, XP_REQUEST);
	/* no answer: the request is re-sent */
	xfer_tick(&x, T_US);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_bytes(&m, 1, m.sent[0].b, m.sent[0].len));
	/* OACK, lowered blksize and windowsize: ACK 0, and in force */
	CHECK_EQ(in_raw(&x, LIT("\0\6blksize\0" "600\0tsize\0" "1500\0"
	    "windowsize\0" "2\0"), T_US + 10), XFER_RUNNING);
	CHECK_EQ(m.nsent, 3);
	CHECK(is_ack(&m, 2, 0));
	CHECK_EQ(x.opts.blksize, 600);
	CHECK_EQ(x.opts.windowsize, 2);
	CHECK_EQ(x.opts.tsize, 1500);
	/* the server did not hear ACK 0 and re-sends the OACK */
	in_raw(&x, LIT("\0\6blksize\0" "600\0tsize\0" "1500\0"
	    "windowsize\0" "2\0"), T_US + 20);
	CHECK_EQ(m.nsent, 4);
	CHECK(is_ack(&m, 3, 0));
	/* DATA at the negotiated size; windowsize 2: ACK after block 2 */
	in_data(&x, 1, src, 600, T_US + 30);
	CHECK_EQ(m.nsent, 4);
	in_data(&x, 2, src + 600, 600, T_US + 31);
	CHECK_EQ(m.nsent, 5);
	CHECK(is_ack(&m, 4, 2));
	CHECK_EQ(in_data(&x, 3, src + 1200, 300, T_US + 32), XFER_DONE);
	CHECK(is_ack(&m, 5, 3));
	CHECK(m.out_len == 1500 && memcmp(m.out, src, 1500) == 0);
	/* a client does not dally */
	CHECK_EQ(x.phase, XP_END);
	mem_free(&m);
	free(src);
}

static void
test_client_get_no_oack(void)
{
	uint8_t *src = random_bytes(700, 102);
	struct xfer_cfg c;
	struct xfer x;
	struct mem m;

	client_get_setup(&x, &m, &c);
	xfer_start(&x, 0);
	/* the server ignored the options: DATA 1 at 512 */
	CHECK_EQ(in_data(&x, 1, src, 512, 10), XFER_RUNNING);
	CHECK_EQ(x.opts.blksize, 512);
	CHECK_EQ(x.opts.windowsize, 1);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_ack(&m, 1, 1));
	CHECK_EQ(m.out_len, 512);
	CHECK_EQ(in_data(&x, 2, src + 512, 188, 20), XFER_DONE);
	CHECK(is_ack(&m, 2, 2));
	CHECK(m.out_len == 700 && memcmp(m.out, src, 700) == 0);
	mem_free(&m);
	free(src);
}

static void
test_client_get_bad_oack(void)
{
	struct xfer_cfg c;
	struct xfer x;
	struct mem m;

	/* an option we did not ask for */
	client_get_setup(&x, &m, &c);
	xfer_start(&x, 0);
	CHECK_EQ(in_raw(&x, LIT("\0\6blksize\0" "1024\0rollover\0" "1\0"), 5),
	    XFER_FAILED);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_error(&m, 1, TFTP_EOPTNEG));
	CHECK_EQ(x.err_code, TFTP_EOPTNEG);
	CHECK_EQ(x.err_peer, 0);
	CHECK_EQ(x.why, XW_OPTIONS);
	mem_free(&m);

	/* blksize above what we asked */
	client_get_setup(&x, &m, &c);
	xfer_start(&x, 0);
	CHECK_EQ(in_raw(&x, LIT("\0\6blksize\0" "1025\0"), 5), XFER_FAILED);
	CHECK(is_error(&m, 1, TFTP_EOPTNEG));
	CHECK_EQ(m.nsent, 2);
	xfer_tick(&x, 100 * T_US);
	CHECK_EQ(m.nsent, 2);
	mem_free(&m);

	/* windowsize above what we asked */
	client_get_setup(&x, &m, &c);
	xfer_start(&x, 0);
	CHECK_EQ(in_raw(&x, LIT("\0\6windowsize\0" "5\0"), 5), XFER_FAILED);
	CHECK(is_error(&m, 1, TFTP_EOPTNEG));
	mem_free(&m);
}

/* ==== client sender (put) =============================================== */

static void
test_client_put(void)
{
	uint8_t *src = random_bytes(3000, 111);
	struct xfer_cfg c = cfg_make(XFER_SEND, 1);
	struct xfer x;
	struct mem m;

	/* no options: WRQ, ACK 0, DATA 1 of 512 */
	c.filename = "up.img";
	mem_init(&m, src, 3000);
	xfer_init(&x, &c, &m.io);
	CHECK_EQ(xfer_start(&x, 0), XFER_RUNNING);
	CHECK(is_bytes(&m, 0, LIT("\0\2up.img\0octet\0")));
	CHECK_EQ(m.nsent, 1);
	/* ACK 1 is no answer to a WRQ */
	in_ack(&x, 1, 5);
	CHECK_EQ(m.nsent, 1);
	CHECK_EQ(in_ack(&x, 0, 10), XFER_RUNNING);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_data(&m, 1, 1, src, 512));
	in_ack(&x, 1, 20);
	CHECK(is_data(&m, 2, 2, src + 512, 512));
	mem_free(&m);

	/* with options: WRQ with them, OACK, DATA 1 at the granted size */
	c = cfg_make(XFER_SEND, 1);
	c.filename = "up.img";
	grant_blksize(&c.opts, 1468);
	c.opts.have |= OPT_TSIZE;
	c.opts.tsize = 3000;
	mem_init(&m, src, 3000);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK(is_bytes(&m, 0, LIT("\0\2up.img\0octet\0blksize\0" "1468\0"
	    "tsize\0" "3000\0")));
	CHECK_EQ(in_raw(&x, LIT("\0\6blksize\0" "1000\0tsize\0" "3000\0"), 10),
	    XFER_RUNNING);
	CHECK_EQ(m.nsent, 2);
	CHECK(is_data(&m, 1, 1, src, 1000));
	in_ack(&x, 1, 20);
	CHECK(is_data(&m, 2, 2, src + 1000, 1000));
	in_ack(&x, 2, 30);
	CHECK(is_data(&m, 3, 3, src + 2000, 1000));
	in_ack(&x, 3, 40);
	CHECK(is_data(&m, 4, 4, NULL, 0));
	CHECK_EQ(in_ack(&x, 4, 50), XFER_DONE);
	CHECK_EQ(x.st.bytes, 3000);
	mem_free(&m);

	/* an OACK granting more than asked: ERROR 8 */
	c = cfg_make(XFER_SEND, 1);
	grant_blksize(&c.opts, 1468);
	mem_init(&m, src, 3000);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK_EQ(in_raw(&x, LIT("\0\6blksize\0" "2000\0"), 10), XFER_FAILED);
	CHECK(is_error(&m, 1, TFTP_EOPTNEG));
	mem_free(&m);
	free(src);
}

/* ==== receiver: disk full, finish ======================================= */

static void
test_receiver_disk_full(void)
{
	uint8_t *src = random_bytes(2048, 121);
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;

	mem_init(&m, NULL, 0);
	m.enospc_at = 700;
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK_EQ(in_data(&x, 1, src, 512, 10), XFER_RUNNING);
	CHECK(is_ack(&m, 1, 1));
	CHECK_EQ(in_data(&x, 2, src + 512, 512, 20), XFER_FAILED);
	CHECK_EQ(m.nsent, 3);
	CHECK(is_error(&m, 2, TFTP_ENOSPACE));
	CHECK_EQ(x.err_code, TFTP_ENOSPACE);
	CHECK_EQ(x.why, XW_SINK);
	CHECK_EQ(m.finish_calls, 0);
	/* and nothing after */
	in_data(&x, 2, src + 512, 512, 30);
	xfer_tick(&x, 100 * T_US);
	CHECK_EQ(m.nsent, 3);
	mem_free(&m);
	free(src);
}

static void
test_receiver_finish(void)
{
	uint8_t *src = random_bytes(1000, 122);
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;

	/* finish fails (EIO): an ERROR instead of the final ACK */
	mem_init(&m, NULL, 0);
	m.finish_ret = -EIO;
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	in_data(&x, 1, src, 512, 10);
	CHECK_EQ(in_data(&x, 2, src + 512, 488, 20), XFER_FAILED);
	CHECK_EQ(m.finish_calls, 1);
	CHECK_EQ(m.nsent, 3);
	CHECK(is_error(&m, 2, TFTP_EUNDEF));
	CHECK_EQ(x.err_peer, 0);
	mem_free(&m);

	/* finish fails with ENOSPC (commit ran out of room): ERROR 3 */
	mem_init(&m, NULL, 0);
	m.finish_ret = -ENOSPC;
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	CHECK_EQ(in_data(&x, 1, src, 300, 20), XFER_FAILED);
	CHECK(is_error(&m, 1, TFTP_ENOSPACE));
	CHECK_EQ(m.nsent, 2);
	mem_free(&m);

	/* success: called once, before the final ACK goes out */
	c.dally_us = 3 * T_US;
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	in_data(&x, 1, src, 512, 10);
	CHECK_EQ(m.finish_calls, 0);
	CHECK_EQ(in_data(&x, 2, src + 512, 488, 20), XFER_DONE);
	CHECK_EQ(m.finish_calls, 1);
	CHECK_EQ(m.finish_nsent, 2);	/* ACK 0, 1 out; ACK 2 not yet */
	CHECK_EQ(m.nsent, 3);
	CHECK(is_ack(&m, 2, 2));
	/* a re-sent last block in the dally: ACK again, no second finish */
	in_data(&x, 2, src + 512, 488, 30);
	CHECK_EQ(m.finish_calls, 1);
	CHECK_EQ(m.out_len, 1000);
	mem_free(&m);
	free(src);
}

/* ==== server receiver dally ============================================= */

static void
test_receiver_dally(void)
{
	uint8_t *src = random_bytes(1024 + 5, 131);
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;
	uint64_t t_end;

	c.dally_us = 4 * T_US;
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	in_data(&x, 1, src, 512, 10);
	in_data(&x, 2, src + 512, 512, 20);
	t_end = 30;
	CHECK_EQ(in_data(&x, 3, src + 1024, 5, t_end), XFER_DONE);
	CHECK_EQ(x.status, XFER_DONE);
	CHECK_EQ(x.phase, XP_DALLY);
	CHECK_EQ(x.deadline, t_end + c.dally_us);
	CHECK_EQ(m.nsent, 4);
	CHECK(is_ack(&m, 3, 3));
	/* our final ACK was lost: the sender re-sends DATA 3 */
	CHECK_EQ(in_data(&x, 3, src + 1024, 5, t_end + T_US), XFER_DONE);
	CHECK_EQ(m.nsent, 5);
	CHECK(is_ack(&m, 4, 3));
	CHECK_EQ(m.out_len, 1029);
	/* an older block is not answered in the dally */
	in_data(&x, 2, src + 512, 512, t_end + T_US + 1);
	CHECK_EQ(m.nsent, 5);
	/* the re-sent last block restarted the dally from its arrival */
	CHECK_EQ(x.deadline, t_end + T_US + c.dally_us);
	xfer_tick(&x, t_end + T_US + c.dally_us - 1);
	CHECK_EQ(x.phase, XP_DALLY);
	CHECK_EQ(m.nsent, 5);
	/* after: ended, done, silent */
	CHECK_EQ(xfer_tick(&x, t_end + T_US + c.dally_us), XFER_DONE);
	CHECK_EQ(x.phase, XP_END);
	CHECK_EQ(m.nsent, 5);
	in_data(&x, 3, src + 1024, 5, t_end + T_US + c.dally_us + 1);
	CHECK_EQ(m.nsent, 5);
	CHECK(memcmp(m.out, src, 1029) == 0);
	mem_free(&m);
	free(src);
}

/* ==== netascii ========================================================== */

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
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;
	uint64_t now = 0;

	elen = ref_encode(src, n, enc);
	CHECK(enc[7] == '\r' && enc[8] == '\n');
	CHECK(enc[15] == '\r' && enc[16] == '\0');
	nblk = elen / 8 + 1;
	c.netascii = 1;
	c.mode = "netascii";
	grant_blksize(&c.opts, 8);
	mem_init(&m, src, n);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, now);
	CHECK(is_bytes(&m, 0, LIT("\0\6blksize\0" "8\0")));
	mem_clear_sent(&m);
	in_ack(&x, 0, ++now);
	/* DATA 2 is re-sent once on timeout: the same bytes */
	for (k = 1; k <= nblk; k++) {
		CHECK_EQ(m.nsent, 1);
		CHECK(is_data(&m, 0, (uint16_t)k, enc + (k - 1) * 8,
		    blk_len(elen, 8, k)));
		if (k == 2) {
			mem_clear_sent(&m);
			now = x.deadline;
			xfer_tick(&x, now);
			CHECK(is_data(&m, 0, 2, enc + 8, 8));
		}
		mem_clear_sent(&m);
		in_ack(&x, (uint16_t)k, ++now);
	}
	CHECK_EQ(x.status, XFER_DONE);
	CHECK_EQ(x.st.bytes, n);
	CHECK_EQ(x.st.wire_bytes, elen);
	CHECK_EQ(m.bad_reads, 0);
	mem_free(&m);
}

/* Windowed netascii: a mid-window ACK walks the blocks again. */
static void
test_netascii_window_rewalk(void)
{
	static char text[400];
	const uint8_t *src = (const uint8_t *)text;
	size_t n, elen, i;
	uint8_t enc[1024];
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);
	struct xfer x;
	struct mem m;

	/* dense line ends so many pairs straddle the 8-byte blocks */
	for (i = 0; i < sizeof(text) - 1; i++)
		text[i] = "ab\ncd\r\n\re"[i % 9];
	text[sizeof(text) - 1] = '\0';
	n = sizeof(text) - 1;
	elen = ref_encode(src, n, enc);
	c.netascii = 1;
	grant_blksize(&c.opts, 8);
	grant_window(&c.opts, 4);
	mem_init(&m, src, n);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	mem_clear_sent(&m);
	in_ack(&x, 0, 1);
	CHECK_EQ(m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 1), enc + i * 8, 8));
	mem_clear_sent(&m);
	/* ACK 2 mid-window: 3..6, built from a re-walked source offset */
	in_ack(&x, 2, 2);
	CHECK_EQ(m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 3), enc + (i + 2) * 8, 8));
	mem_clear_sent(&m);
	/* ACK 3 mid-window again, then a timeout rewinds to 4 */
	in_ack(&x, 3, 3);
	CHECK_EQ(m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 4), enc + (i + 3) * 8, 8));
	mem_clear_sent(&m);
	xfer_tick(&x, x.deadline);
	CHECK_EQ(m.nsent, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 4), enc + (i + 3) * 8, 8));
	mem_clear_sent(&m);
	/* ACK 5 (mid-window): 6..9 */
	in_ack(&x, 5, 4);
	for (i = 0; i < 4; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 6), enc + (i + 5) * 8, 8));
	CHECK_EQ(m.bad_reads, 0);
	CHECK(elen > 10 * 8);
	mem_free(&m);
}

static void
test_netascii_receiver(void)
{
	const uint8_t *src = (const uint8_t *)na_text;
	size_t n = sizeof(na_text) - 1, elen, nblk, k;
	uint8_t enc[256];
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;
	int r = XFER_RUNNING;

	elen = ref_encode(src, n, enc);
	nblk = elen / 8 + 1;
	c.netascii = 1;
	grant_blksize(&c.opts, 8);
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);
	for (k = 1; k <= nblk; k++) {
		r = in_data(&x, (uint16_t)k, enc + (k - 1) * 8,
		    blk_len(elen, 8, k), k);
		/* a duplicate of each block changes nothing */
		if (k < nblk)
			in_data(&x, (uint16_t)k, enc + (k - 1) * 8,
			    blk_len(elen, 8, k), k);
	}
	CHECK_EQ(r, XFER_DONE);
	CHECK_EQ(m.out_len, n);
	CHECK(m.out_len == n && memcmp(m.out, src, n) == 0);
	CHECK_EQ(x.st.bytes, n);
	mem_free(&m);
}

/* ==== back to back ====================================================== */

struct lossy {
	unsigned	drop_pct;
	unsigned	dup_pct;
	unsigned	swap_pct;
};

struct queue {
	struct dgram	*q;
	size_t		 head, n, cap;
};

static void
q_push(struct queue *q, const uint8_t *b, size_t len)
{
	if (q->head + q->n == q->cap) {
		if (q->head > 0) {
			memmove(q->q, q->q + q->head, q->n * sizeof(*q->q));
			q->head = 0;
		}
		if (q->n == q->cap) {
			q->cap = q->cap ? 2 * q->cap : 64;
			q->q = realloc(q->q, q->cap * sizeof(*q->q));
			if (q->q == NULL)
				abort();
		}
	}
	q->q[q->head + q->n].b = xmalloc(len);
	memcpy(q->q[q->head + q->n].b, b, len);
	q->q[q->head + q->n].len = len;
	q->n++;
}

static void
q_swap_last(struct queue *q)
{
	struct dgram t;

	if (q->n < 2)
		return;
	t = q->q[q->head + q->n - 1];
	q->q[q->head + q->n - 1] = q->q[q->head + q->n - 2];
	q->q[q->head + q->n - 2] = t;
}

static struct dgram
q_pop(struct queue *q)
{
	struct dgram d = q->q[q->head];

	q->head++;
	q->n--;
	if (q->n == 0)
		q->head = 0;
	return d;
}

static void
q_free(struct queue *q)
{
	while (q->n)
		free(q_pop(q).b);
	free(q->q);
}

struct b2b {
	/* setup */
	struct xfer	*snd, *rcv;
	struct mem	*ms, *mr;
	struct lossy	 to_rcv, to_snd;
	uint64_t	 seed;
	/* results */
	uint64_t	 now;
	unsigned long	 data_pkts;	/* DATA the sender emitted */
	unsigned long	 snd_other;	/* sender's request / OACKs */
	unsigned long	 midwin;	/* mid-window ACKs acted on */
	unsigned long	 steps;
	int		 stuck;
};

/*
 * Move what m sent onto q through the lossy link.  Requests are never
 * delivered: a client sends them to the server's port 69, not to the
 * transfer's TID, and the harness has no intake.
 */
static void
b2b_move(struct b2b *b, struct mem *m, struct queue *q,
    const struct lossy *l, int from_sender)
{
	size_t i;
	struct packet p;

	for (i = 0; i < m->nsent; i++) {
		int op = sent_pkt(m, i, &p);

		if (from_sender && op == TFTP_DATA)
			b->data_pkts++;
		if (from_sender && op != TFTP_DATA)
			b->snd_other++;
		if (op == TFTP_RRQ || op == TFTP_WRQ)
			continue;
		if (rng_pct() < l->drop_pct)
			continue;
		q_push(q, m->sent[i].b, m->sent[i].len);
		if (rng_pct() < l->dup_pct)
			q_push(q, m->sent[i].b, m->sent[i].len);
		if (rng_pct() < l->swap_pct)
			q_swap_last(q);
	}
	mem_clear_sent(m);
}

static void
b2b_deliver_to_sender(struct b2b *b, const struct dgram *d)
{
	struct xfer *s = b->snd;
	uint64_t acked = s->acked, next = s->next;
	int data = s->phase == XP_DATA;

	xfer_input(s, d->b, d->len, b->now);
	if (data && s->acked > acked && s->acked + 1 < next)
		b->midwin++;
}

/* Run until both ends have ended; the client is started first. */
static void
b2b_run(struct b2b *b)
{
	struct queue qr = { 0 }, qs = { 0 };
	struct dgram d;
	uint64_t dl;

	rng_seed(b->seed);
	b->now = 1000;
	if (b->snd->cfg.client) {
		xfer_start(b->snd, b->now);
		xfer_start(b->rcv, b->now);
	} else {
		xfer_start(b->rcv, b->now);
		xfer_start(b->snd, b->now);
	}
	for (;;) {
		if (++b->steps > 20000000) {
			b->stuck = 1;
			break;
		}
		b2b_move(b, b->ms, &qr, &b->to_rcv, 1);
		b2b_move(b, b->mr, &qs, &b->to_snd, 0);
		if (qr.n) {
			d = q_pop(&qr);
			b->now += STEP_US;
			xfer_input(b->rcv, d.b, d.len, b->now);
			free(d.b);
			continue;
		}
		if (qs.n) {
			d = q_pop(&qs);
			b->now += STEP_US;
			b2b_deliver_to_sender(b, &d);
			free(d.b);
			continue;
		}
		if (b->snd->phase == XP_END && b->rcv->phase == XP_END)
			break;
		/* nothing in flight: jump to the nearest deadline */
		dl = 0;
		if (b->snd->phase != XP_END && b->snd->deadline)
			dl = b->snd->deadline;
		if (b->rcv->phase != XP_END && b->rcv->deadline &&
		    (dl == 0 || b->rcv->deadline < dl))
			dl = b->rcv->deadline;
		if (dl == 0) {
			b->stuck = 1;
			break;
		}
		if (dl > b->now)
			b->now = dl;
		xfer_tick(b->snd, b->now);
		xfer_tick(b->rcv, b->now);
	}
	q_free(&qr);
	q_free(&qs);
}

struct b2b_case {
	size_t		 size;
	unsigned	 blksize;
	unsigned	 window;
	unsigned	 rollover;
	int		 netascii;
	int		 download;	/* server sender, client recv */
	struct lossy	 to_rcv, to_snd;
	uint64_t	 seed;
	const uint8_t	*src;		/* NULL: random */
	uint64_t	 rto_min;	/* sender's RTT timers; 0: classic */
};

struct b2b_result {
	int		 snd_status, rcv_status;
	int		 exact;
	uint64_t	 nblk;
	unsigned long	 data_pkts, snd_other, midwin;
	struct xfer_stats ss, rs;
	int		 stuck;
	unsigned	 bad_reads;
};

static void
b2b_case_run(const struct b2b_case *k, struct b2b_result *res)
{
	uint8_t *rnd = NULL;
	const uint8_t *src = k->src;
	struct xfer_cfg cs, cr;
	struct xfer xs, xr;
	struct mem ms, mr;
	struct tftp_opts o;
	struct b2b b;
	uint8_t *enc;

	if (src == NULL)
		src = rnd = random_bytes(k->size, k->seed ^ 0xabcdef);
	options_init(&o);
	if (k->blksize != 512)
		grant_blksize(&o, k->blksize);
	if (k->window != 1)
		grant_window(&o, k->window);
	if (k->rollover) {
		o.have |= OPT_ROLLOVER;
		o.rollover = 1;
	}
	cs = cfg_make(XFER_SEND, !k->download);
	cr = cfg_make(XFER_RECV, k->download);
	cs.opts = cr.opts = o;
	cs.retries = cr.retries = 12;
	cs.netascii = cr.netascii = k->netascii;
	cs.rto_min_us = k->rto_min;
	/* linger longer than the sender's whole backoff can reach */
	cr.dally_us = 64 * T_US;
	mem_init(&ms, src, k->size);
	mem_init(&mr, NULL, 0);
	xfer_init(&xs, &cs, &ms.io);
	xfer_init(&xr, &cr, &mr.io);
	memset(&b, 0, sizeof(b));
	b.snd = &xs;
	b.rcv = &xr;
	b.ms = &ms;
	b.mr = &mr;
	b.to_rcv = k->to_rcv;
	b.to_snd = k->to_snd;
	b.seed = k->seed;
	b2b_run(&b);

	memset(res, 0, sizeof(*res));
	res->snd_status = xs.status;
	res->rcv_status = xr.status;
	res->exact = mr.out_len == k->size &&
	    (k->size == 0 || memcmp(mr.out, src, k->size) == 0);
	if (k->netascii) {
		enc = xmalloc(2 * k->size + 1);
		res->nblk = ref_encode(src, k->size, enc) / k->blksize + 1;
		free(enc);
	} else
		res->nblk = k->size / k->blksize + 1;
	res->data_pkts = b.data_pkts;
	res->snd_other = b.snd_other;
	res->midwin = b.midwin;
	res->ss = xs.st;
	res->rs = xr.st;
	res->stuck = b.stuck;
	res->bad_reads = ms.bad_reads;
	if (!res->exact || res->snd_status != XFER_DONE ||
	    res->rcv_status != XFER_DONE || b.stuck)
		printf("  b2b seed %llu: snd %d (%s) rcv %d (%s) got %zu/%zu "
		    "stuck %d\n", (unsigned long long)k->seed, xs.status,
		    xs.err_msg, xr.status, xr.err_msg, mr.out_len, k->size,
		    b.stuck);
	mem_free(&ms);
	mem_free(&mr);
	free(rnd);
}

/* The accounting every run must satisfy. */
static void
check_b2b(const struct b2b_case *k, const struct b2b_result *r)
{
	CHECK_EQ(r->stuck, 0);
	CHECK_EQ(r->snd_status, XFER_DONE);
	CHECK_EQ(r->rcv_status, XFER_DONE);
	CHECK(r->exact);
	CHECK_EQ(r->bad_reads, 0);
	CHECK_EQ(r->ss.bytes, k->size);
	CHECK_EQ(r->rs.bytes, k->size);
	/* every block goes out first exactly once */
	CHECK_EQ(r->ss.data_sent, r->nblk);
	/* the first request or OACK is no re-send; later copies are */
	CHECK_EQ(r->data_pkts + r->snd_other, r->ss.pkts_sent);
	CHECK_EQ(r->data_pkts + (r->snd_other ? r->snd_other - 1 : 0),
	    r->ss.data_sent + r->ss.retransmits);
	/*
	 * Re-sends come only from timeouts (a window each) and mid-window
	 * ACKs (at most window - 1 old blocks each): duplicated ACKs must
	 * not add any.
	 */
	CHECK(r->ss.retransmits <= r->ss.timeouts * k->window +
	    r->midwin * (k->window - 1));
}

static void
test_b2b_lossless(void)
{
	static const unsigned win[] = { 1, 4, 8 };
	struct b2b_case k;
	struct b2b_result r;
	size_t i;
	int dl;

	for (dl = 0; dl < 2; dl++) {
		for (i = 0; i < 3; i++) {
			memset(&k, 0, sizeof(k));
			k.size = 100 * 1024 + 17;
			k.blksize = 1024;
			k.window = win[i];
			k.download = dl;
			k.seed = 500 + i + 10 * (unsigned)dl;
			b2b_case_run(&k, &r);
			check_b2b(&k, &r);
			CHECK_EQ(r.data_pkts, r.nblk);
			CHECK_EQ(r.ss.timeouts, 0);
			CHECK_EQ(r.rs.timeouts, 0);
		}
	}
	/* exact multiple of blksize, and empty */
	memset(&k, 0, sizeof(k));
	k.size = 64 * 512;
	k.blksize = 512;
	k.window = 8;
	k.seed = 520;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
	CHECK_EQ(r.nblk, 65);
	k.size = 0;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
}

/*
 * 200 KiB over a link with 10% loss, 5% duplicates and some swaps in both
 * directions, for windowsize 1 and 8 at blksize 512 and 1468.
 */
static void
test_b2b_lossy(void)
{
	static const unsigned win[] = { 1, 8 }, bs[] = { 512, 1468 };
	struct lossy l = { 10, 5, 3 };
	struct b2b_case k;
	struct b2b_result r;
	size_t i, j;

	for (i = 0; i < 2; i++) {
		for (j = 0; j < 2; j++) {
			memset(&k, 0, sizeof(k));
			k.size = 200 * 1024;
			k.blksize = bs[j];
			k.window = win[i];
			k.to_rcv = k.to_snd = l;
			k.seed = 1000 + 10 * i + j;
			b2b_case_run(&k, &r);
			check_b2b(&k, &r);
			printf("  w%u bs%u: blocks %llu data %lu retx %llu "
			    "timeouts %llu midwin %lu\n", k.window, k.blksize,
			    (unsigned long long)r.nblk, r.data_pkts,
			    (unsigned long long)r.ss.retransmits,
			    (unsigned long long)r.ss.timeouts, r.midwin);
		}
	}
}

/*
 * Duplicated ACKs cost nothing: with no loss, a run where 30% of the ACKs
 * arrive twice sends exactly as many DATA packets as a clean run.
 */
static void
test_b2b_dup_acks_no_extra_data(void)
{
	static const unsigned win[] = { 1, 8 };
	struct b2b_case k;
	struct b2b_result clean, dup;
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&k, 0, sizeof(k));
		k.size = 200 * 1024;
		k.blksize = 512;
		k.window = win[i];
		k.seed = 2000 + i;
		b2b_case_run(&k, &clean);
		check_b2b(&k, &clean);
		k.to_snd.dup_pct = 30;
		b2b_case_run(&k, &dup);
		check_b2b(&k, &dup);
		CHECK(dup.ss.dup_acks > 0);
		CHECK_EQ(dup.data_pkts, clean.data_pkts);
		CHECK_EQ(dup.data_pkts, dup.nblk);
		CHECK_EQ(dup.ss.retransmits, 0);
	}
}

/*
 * Duplicated DATA in a windowed, otherwise clean run: each duplicate may
 * cost one extra ACK and one window of re-sends, but must not set off a
 * chain of mid-window ACKs for the rest of the transfer.  One duplicate
 * of DATA 3 in a 401-block transfer at windowsize 8.
 *
 * KNOWN BUG in xfer.c (fails on purpose): the copy of DATA 3 draws an
 * immediate ACK 3 and resets the receiver's window count, so its ACKs no
 * longer fall on the sender's window ends.  The sender takes each one as
 * a mid-window ACK and re-sends blocks still in flight, whose first copy
 * draws the next early ACK: about 2x DATA to the end of the transfer
 * (799 DATA for 401 blocks), in a network that lost nothing.
 */
static void
test_b2b_window_dup_data_no_ack_cascade(void)
{
	size_t size = 400 * 512 + 100;
	uint8_t *src = random_bytes(size, 3001);
	struct xfer_cfg cs, cr;
	struct xfer xs, xr;
	struct mem ms, mr;
	struct tftp_opts o;
	struct packet p;
	uint64_t now = 0;
	unsigned long data_pkts = 0;
	int duped = 0, guard = 0;
	size_t i;

	options_init(&o);
	grant_window(&o, 8);
	cs = cfg_make(XFER_SEND, 1);
	cr = cfg_make(XFER_RECV, 0);
	cs.opts = cr.opts = o;
	mem_init(&ms, src, size);
	mem_init(&mr, NULL, 0);
	xfer_init(&xs, &cs, &ms.io);
	xfer_init(&xr, &cr, &mr.io);
	xfer_start(&xs, now);
	mem_clear_sent(&ms);		/* the WRQ */
	xfer_start(&xr, now);		/* the OACK */
	while ((mr.nsent || ms.nsent) && guard++ < 100000) {
		/* whole bursts each way, as over a link with some delay */
		for (i = 0; i < mr.nsent; i++)
			xfer_input(&xs, mr.sent[i].b, mr.sent[i].len, ++now);
		mem_clear_sent(&mr);
		for (i = 0; i < ms.nsent; i++) {
			if (sent_pkt(&ms, i, &p) != TFTP_DATA)
				continue;
			data_pkts++;
			xfer_input(&xr, ms.sent[i].b, ms.sent[i].len, ++now);
			if (p.block == 3 && !duped) {
				duped = 1;
				xfer_input(&xr, ms.sent[i].b, ms.sent[i].len,
				    ++now);
			}
		}
		mem_clear_sent(&ms);
	}
	CHECK_EQ(xs.status, XFER_DONE);
	CHECK_EQ(xr.status, XFER_DONE);
	CHECK(mr.out_len == size && memcmp(mr.out, src, size) == 0);
	printf("  one duplicated DATA: %lu DATA sent for %zu blocks, "
	    "%llu re-sent\n", data_pkts, size / 512 + 1,
	    (unsigned long long)xs.st.retransmits);
	CHECK(data_pkts <= size / 512 + 1 + 8);
	mem_free(&ms);
	mem_free(&mr);
	free(src);
}

/* Past block 65535 over the link: rollover 0 and 1, windowed, with loss. */
static void
test_b2b_rollover(void)
{
	struct b2b_case k;
	struct b2b_result r;
	unsigned ro;

	for (ro = 0; ro < 2; ro++) {
		memset(&k, 0, sizeof(k));
		k.size = ROLL_SIZE;
		k.blksize = ROLL_BS;
		k.window = 4;
		k.rollover = ro;
		k.to_rcv.drop_pct = 1;
		k.to_snd.drop_pct = 1;
		k.seed = 4000 + ro;
		b2b_case_run(&k, &r);
		check_b2b(&k, &r);
		CHECK(r.nblk > 65536);
	}
}

/* netascii both ways, lock-step and windowed with drops (re-walks). */
static void
test_b2b_netascii(void)
{
	size_t n = 30000, i;
	uint8_t *text = xmalloc(n);
	struct b2b_case k;
	struct b2b_result r;

	rng_seed(5000);
	for (i = 0; i < n; i++) {
		unsigned v = rng_pct();

		text[i] = v < 12 ? '\n' : v < 20 ? '\r' :
		    v < 22 ? '\0' : (uint8_t)('a' + v % 26);
	}
	memset(&k, 0, sizeof(k));
	k.size = n;
	k.src = text;
	k.blksize = 8;
	k.window = 1;
	k.netascii = 1;
	k.seed = 5001;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);

	k.window = 3;
	k.to_rcv.drop_pct = 8;
	k.to_rcv.dup_pct = 3;
	k.to_rcv.swap_pct = 3;
	k.to_snd.drop_pct = 8;
	k.seed = 5002;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
	CHECK(r.midwin > 0);		/* the re-walk was exercised */

	k.blksize = 512;
	k.window = 8;
	k.download = 1;
	k.to_snd.drop_pct = 0;		/* a client does not dally */
	k.seed = 5003;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
	free(text);
}

/* ==== tail probes ======================================================= */

struct tail_run {
	uint64_t	elapsed;	/* fake microseconds to finish */
	uint64_t	timeouts;	/* sender go-back-N expiries */
	uint64_t	probes;
	uint64_t	pace_max;	/* largest pacing gap used */
	int		ok;
};

/*
 * A NIC that keeps one receive descriptor (U-Boot's e1000 under QEMU):
 * of each burst the sender emits in one call, only the first keep DATA
 * arrive.  The client is our windowed receiver, which (like U-Boot) ACKs
 * on its window grid or at once on a gap, so a lost tail draws nothing.
 */
static void
tail_drop_run(uint64_t rto_min, unsigned keep, struct tail_run *r)
{
	enum { N = 300 * 1468 + 77, HOP = 50 };
	uint8_t *src = xmalloc(N);
	struct xfer snd, rcv;
	struct xfer_cfg cs = cfg_make(XFER_SEND, 0);
	struct xfer_cfg cr = cfg_make(XFER_RECV, 1);
	struct mem ms, mr;
	struct packet p;
	uint64_t now = 1000, t0;
	size_t i, steps = 0;
	unsigned data;

	for (i = 0; i < N; i++)
		src[i] = (uint8_t)rng();
	grant_blksize(&cs.opts, 1468);
	grant_window(&cs.opts, 8);
	cs.rto_min_us = rto_min;
	cr.opts = cs.opts;
	mem_init(&ms, src, N);
	mem_init(&mr, NULL, 0);
	xfer_init(&snd, &cs, &ms.io);
	xfer_init(&rcv, &cr, &mr.io);
	xfer_start(&rcv, now);
	mem_clear_sent(&mr);		/* the RRQ goes to port 69 */
	t0 = now;
	xfer_start(&snd, now);		/* OACK */
	while (snd.phase != XP_END && ++steps < 1000000) {
		/* sender -> client: the first two DATA of the burst only */
		data = 0;
		for (i = 0; i < ms.nsent; i++) {
			if (sent_pkt(&ms, i, &p) == TFTP_DATA && ++data > keep)
				continue;
			now += HOP;
			xfer_input(&rcv, ms.sent[i].b, ms.sent[i].len, now);
		}
		mem_clear_sent(&ms);
		if (mr.nsent) {
			for (i = 0; i < mr.nsent; i++) {
				now += HOP;
				xfer_input(&snd, mr.sent[i].b, mr.sent[i].len,
				    now);
			}
			mem_clear_sent(&mr);
			continue;
		}
		/* silence: the earlier deadline fires */
		if (rcv.phase != XP_END && rcv.deadline &&
		    rcv.deadline < snd.deadline) {
			now = rcv.deadline;
			xfer_tick(&rcv, now);
		} else {
			now = snd.deadline;
			xfer_tick(&snd, now);
		}
	}
	r->elapsed = now - t0;
	r->timeouts = snd.st.timeouts;
	r->probes = snd.st.probes;
	r->pace_max = snd.st.pace_max_us;
	r->ok = snd.status == XFER_DONE && mr.out_len == N &&
	    memcmp(mr.out, src, N) == 0;
	mem_free(&ms);
	mem_free(&mr);
	free(src);
}

/*
 * doc/notes/uboot-e1000.md: with plain go-back-N every window of a client
 * that loses window tails costs a full timeout; the pair probe recovers
 * each in about rto_min, with no timeout at all, and the lost tails turn
 * pacing on, after which windows arrive whole.
 */
static void
test_tail_probe_recovers_lost_window_tails(void)
{
	struct tail_run with, without;

	tail_drop_run(10000, 2, &with);
	tail_drop_run(0, 2, &without);
	printf("  probes: %.3f s, %llu timeouts, %llu probe blocks; "
	    "none: %.3f s, %llu timeouts\n", (double)with.elapsed / 1e6,
	    (unsigned long long)with.timeouts,
	    (unsigned long long)with.probes,
	    (double)without.elapsed / 1e6,
	    (unsigned long long)without.timeouts);
	CHECK(with.ok);
	CHECK(without.ok);
	CHECK_EQ(with.timeouts, 0);
	CHECK(with.probes > 0);
	/* after the first lost tails the window is paced, one block a call */
	CHECK(with.pace_max > 0);
	CHECK(with.probes < 20);
	/* about 150 windows of 2 delivered blocks, ~10 ms each */
	CHECK(with.elapsed < 4000000);
	CHECK(without.timeouts > 100);
}

/* A client that keeps up never sees a probe: its ACK beats the timer. */
static void
test_tail_probe_silent_when_client_keeps_up(void)
{
	struct tail_run r;

	tail_drop_run(10000, 1000, &r);
	CHECK(r.ok);
	CHECK_EQ(r.probes, 0);
	CHECK_EQ(r.pace_max, 0);
	CHECK_EQ(r.timeouts, 0);
}

/* ==== RTT-driven timers ================================================= */

/* A server sender in lock-step (or windowsize w) with RTT timers on. */
static void
rtt_sender(struct xfer *x, struct mem *m, const uint8_t *src, size_t n,
    unsigned w)
{
	struct xfer_cfg c = cfg_make(XFER_SEND, 0);

	c.rto_min_us = 10000;
	if (w > 1)
		grant_window(&c.opts, w);
	mem_init(m, src, n);
	xfer_init(x, &c, &m->io);
}

/*
 * RFC 6298 on the first sample, the timer from it (floored at rto_min),
 * doubling on expiry, and Karn's rule: an ACK of a re-sent block is no
 * sample.
 */
static void
test_rtt_estimate_timer_and_karn(void)
{
	static uint8_t src[512 * 4 + 1];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000;

	rtt_sender(&x, &m, src, sizeof(src), 1);
	xfer_start(&x, now);			/* DATA 1, no sample yet */
	CHECK_EQ(x.deadline, now + T_US);	/* before any answer: T */
	now += 200;
	in_ack(&x, 1, now);			/* DATA 1 -> ACK 1: 200 us */
	CHECK_EQ(x.srtt, 200);
	CHECK_EQ(x.rttvar, 100);
	CHECK_EQ(x.deadline, now + 10000);	/* 600 us, floored at 10 ms */
	mem_clear_sent(&m);
	now = x.deadline;
	xfer_tick(&x, now);			/* DATA 2 lost: re-sent */
	CHECK_EQ(m.nsent, 1);
	CHECK(is_data(&m, 0, 2, src + 512, 512));
	CHECK_EQ(x.deadline, now + 20000);	/* doubled */
	now += 5000;
	in_ack(&x, 2, now);			/* ambiguous: no sample */
	CHECK_EQ(x.srtt, 200);
	CHECK_EQ(x.rttvar, 100);
	now += 300;
	in_ack(&x, 3, now);			/* DATA 3 went once: 300 us */
	CHECK_EQ(x.srtt, (7 * 200 + 300) / 8);
	CHECK_EQ(x.rttvar, (3 * 100 + 100) / 4);
	mem_free(&m);
}

/* With a 10 ms timer, a duplicate ACK still never causes a send. */
static void
test_rtt_duplicate_ack_no_send(void)
{
	static uint8_t src[512 * 4 + 1];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000;
	int i;

	rtt_sender(&x, &m, src, sizeof(src), 1);
	xfer_start(&x, now);
	now += 100;
	in_ack(&x, 1, now);
	mem_clear_sent(&m);
	for (i = 0; i < 50; i++) {
		now += 100;			/* 5 ms, below the timer */
		in_ack(&x, 1, now);
		xfer_tick(&x, now);
	}
	CHECK_EQ(m.nsent, 0);
	CHECK_EQ(x.st.dup_acks, 50);
	mem_free(&m);
}

/*
 * Give-up is by time without progress: timeout x (retries + 1), however
 * many short timers fired in between.
 */
static void
test_rtt_give_up_by_time(void)
{
	static uint8_t src[512 * 4 + 1];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000, t_prog;
	unsigned sends;

	rtt_sender(&x, &m, src, sizeof(src), 1);
	xfer_start(&x, now);
	now += 100;
	in_ack(&x, 1, now);
	t_prog = now;
	mem_clear_sent(&m);
	while (x.status == XFER_RUNNING && m.nsent < 1000) {
		now = x.deadline;
		xfer_tick(&x, now);
	}
	sends = (unsigned)m.nsent;
	CHECK_EQ(x.status, XFER_FAILED);
	CHECK_STR(x.err_msg, "timeout");
	CHECK_EQ(x.why, XW_TIMEOUT);
	/* retries 5, T 1 s: not before 6 s, and within one more T */
	CHECK(now - t_prog >= 6 * T_US);
	CHECK(now - t_prog < 7 * T_US);
	/* 10, 20, 40 ... ms then 1 s each: more sends than the count */
	CHECK(sends > 5);
	mem_free(&m);
}

/*
 * No estimate yet (the OACK exchange gave none), DATA 1 answered only
 * after 0.9 s: that is likely the peer's re-ACK timer, not a round trip.
 * It must not seed the estimate (it held the timer at 1 s for a whole
 * transfer at 30 % loss); the next clear sample does.
 */
static void
test_rtt_no_seed_from_peer_timer(void)
{
	static uint8_t src[512 * 4 + 1];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000;

	rtt_sender(&x, &m, src, sizeof(src), 1);
	xfer_start(&x, now);			/* DATA 1 */
	now += 900000;
	in_ack(&x, 1, now);			/* 0.9 s: no seed */
	CHECK_EQ(x.srtt, 0);
	CHECK_EQ(x.deadline, now + T_US);	/* still the timeout */
	now += 300;
	in_ack(&x, 2, now);			/* DATA 2 once: 300 us */
	CHECK_EQ(x.srtt, 300);
	CHECK_EQ(x.rttvar, 150);
	CHECK_EQ(x.deadline, now + 10000);	/* floored at rto_min */
	mem_free(&m);
}

/*
 * A receiver with RTT timers on (rto_min set) re-sends its last ACK once
 * per timeout, not doubling, and gives up by time without progress:
 * timeout x (retries + 1).
 */
static void
test_receiver_flat_timer_give_up_by_time(void)
{
	uint8_t *src = random_bytes(1024, 43);
	struct xfer_cfg c = cfg_make(XFER_RECV, 0);
	struct xfer x;
	struct mem m;
	uint64_t now = 10, prev;
	unsigned n = 0;

	c.rto_min_us = 10000;
	c.retries = 3;
	mem_init(&m, NULL, 0);
	xfer_init(&x, &c, &m.io);
	xfer_start(&x, 0);			/* ACK 0 */
	in_data(&x, 1, src, 512, now);		/* ACK 1, progress */
	CHECK_EQ(m.nsent, 2);
	prev = now;
	while (x.status == XFER_RUNNING && n < 20) {
		CHECK_EQ(x.deadline - prev, T_US);	/* flat: 1 s each */
		prev = now = x.deadline;
		xfer_tick(&x, now);
		n++;
	}
	CHECK_EQ(x.status, XFER_FAILED);
	CHECK_STR(x.err_msg, "timeout");
	/* re-ACKs at 1, 2, 3 s; at 4 s = (3 + 1) x T without progress: out */
	CHECK_EQ(n, 4);
	CHECK_EQ(m.nsent, 5);
	CHECK(is_ack(&m, 4, 1));
	CHECK_EQ(now - 10, 4 * T_US);
	mem_free(&m);
	free(src);
}

/*
 * A slow but healthy client (ACKs each window 30 ms after it left):
 * the probes it draws stay below one spurious packet per window on
 * average, because the estimate learns the 30 ms.
 */
static void
test_rtt_slow_client_few_spurious(void)
{
	enum { W = 8, BLOCKS = 400 };
	static uint8_t src[512 * BLOCKS + 7];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000, ack_at, probed, probed_before = 0;
	unsigned windows = 0, data = 0;
	size_t i;
	struct packet p;

	rtt_sender(&x, &m, src, sizeof(src), W);
	xfer_start(&x, now);			/* OACK */
	now += 100;
	in_ack(&x, 0, now);			/* seeds srtt at 100 us */
	while (x.status == XFER_RUNNING && windows < 1000) {
		windows++;
		ack_at = now + 30000;
		while (x.deadline && x.deadline < ack_at) {
			now = x.deadline;
			xfer_tick(&x, now);
		}
		now = ack_at;
		probed = x.st.probes;
		in_ack(&x, xfer_wire_block(x.next - 1, 0), now);
		/*
		 * A client that had the window answers a probe's first block
		 * (old to it) with a duplicate of its ACK, as ours does.
		 */
		if (probed != probed_before) {
			now += 100;
			in_ack(&x, xfer_wire_block(x.acked, 0), now);
		}
		probed_before = x.st.probes;
	}
	for (i = 0; i < m.nsent; i++)
		if (sent_pkt(&m, i, &p) == TFTP_DATA)
			data++;
	printf("  %u windows, %u DATA for %u blocks, %llu probe blocks\n",
	    windows, data, BLOCKS + 1, (unsigned long long)x.st.probes);
	CHECK_EQ(x.status, XFER_DONE);
	CHECK(data - (BLOCKS + 1) <= windows);
	CHECK_EQ(x.st.timeouts, 0);
	mem_free(&m);
}

/*
 * A lock-step client that answers in 100 us but pauses on every 20th
 * block (firmware writing to flash; GRUB under UEFI): the pauses grow
 * from 20 to 50 ms.  It gets every block it is sent, and answers each
 * copy of a block with an ACK, as lock-step receivers do.  Each pause
 * outlasts a 10 ms timer; a re-send found needless (the ACK came twice)
 * sets the timer above twice that pause, so only a pause longer than
 * half of that draws a re-send again.  Returns the re-sends.
 */
static uint64_t
late_client_run(struct xfer *x, struct mem *m, const uint64_t *pause,
    size_t npause)
{
	uint64_t now = 1000, answer, copies;
	size_t blk = 0;

	xfer_start(x, now);
	while (x->status == XFER_RUNNING && blk < 100000) {
		blk++;
		answer = now + 100;
		if (blk % 20 == 0)
			answer = now + pause[(blk / 20 - 1) % npause];
		copies = x->st.retransmits;
		while (x->deadline && x->deadline < answer) {
			now = x->deadline;
			xfer_tick(x, now);
		}
		copies = x->st.retransmits - copies;
		now = answer;
		in_ack(x, xfer_wire_block(blk, 0), now);
		while (copies--) {
			now += 20;
			in_ack(x, xfer_wire_block(blk, 0), now);
		}
	}
	(void)m;
	return x->st.retransmits;
}

static void
test_rtt_late_client_backs_off(void)
{
	static const uint64_t pause[] = { 20000, 20000, 30000, 25000, 50000,
	    20000, 45000, 35000, 50000, 20000 };
	enum { BLOCKS = 1000 };
	static uint8_t src[512 * BLOCKS + 1];
	struct xfer x;
	struct mem m;
	uint64_t rtx;

	rtt_sender(&x, &m, src, sizeof(src), 1);
	rtx = late_client_run(&x, &m, pause, 10);
	printf("  50 pauses of 20-50 ms: %llu re-sends, %llu found needless, "
	    "timer floor %.1f ms\n", (unsigned long long)rtx,
	    (unsigned long long)x.st.spurious, (double)x.late_us / 1000.0);
	CHECK_EQ(x.status, XFER_DONE);
	/*
	 * The first 20 ms pause: re-sends at 10 ms (and none at 30: the
	 * ACK came at 20), found needless, floor 40 ms.  The 50 ms pause:
	 * one more, floor 100 ms.  No other pause draws one.
	 */
	CHECK_EQ(rtx, 2);
	CHECK_EQ(x.st.spurious, 2);
	CHECK_EQ(x.late_us, 2 * 50000);
	mem_free(&m);
}

/*
 * Real loss keeps the fast timer: a lost block's re-send draws one ACK a
 * round trip later, even when the network duplicates that ACK, and the
 * next loss is re-sent after 10 ms again.
 */
static void
test_rtt_real_loss_keeps_timer(void)
{
	static uint8_t src[512 * 8 + 1];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000, sent;

	rtt_sender(&x, &m, src, sizeof(src), 1);
	xfer_start(&x, now);
	now += 200;
	in_ack(&x, 1, now);			/* srtt 200 us */
	now = x.deadline;			/* DATA 2 lost */
	xfer_tick(&x, now);
	now += 200;
	in_ack(&x, 2, now);			/* answers the re-send */
	now += 5;
	in_ack(&x, 2, now);			/* a copy the network made */
	CHECK_EQ(x.st.spurious, 0);
	CHECK_EQ(x.late_us, 0);
	CHECK_EQ(x.deadline, now - 5 + 10000);
	now = x.deadline;			/* DATA 3 lost too */
	xfer_tick(&x, now);
	CHECK_EQ(x.st.retransmits, 2);
	now += 200;
	in_ack(&x, 3, now);
	CHECK_EQ(x.st.spurious, 0);
	CHECK_EQ(x.deadline, now + 10000);
	/*
	 * ACK 4 lost, and every re-send of DATA 4 too: the client's own
	 * timer re-sends ACK 4 (100 ms), DATA 5 is lost, and its timer
	 * sends ACK 4 again.  Both ACKs came long after a re-send, but
	 * 100 ms apart: the client's timer, not two copies it had.
	 */
	sent = now;				/* DATA 4 arrived, ACK lost */
	while (x.deadline < sent + 100000) {
		now = x.deadline;
		xfer_tick(&x, now);
	}
	now = sent + 100000;
	in_ack(&x, 4, now);			/* the client's timer */
	CHECK_EQ(x.rtx_state, 2);		/* long after the re-send */
	now += 100000;
	in_ack(&x, 4, now);			/* ... again: DATA 5 lost */
	CHECK_EQ(x.st.spurious, 0);
	CHECK_EQ(x.late_us, 0);
	mem_free(&m);
}

/*
 * Eifel's test: an ACK that comes sooner than half the smallest round
 * trip after a re-send left the client before the copy reached it.
 */
static void
test_rtt_ack_before_resend_could_arrive(void)
{
	static uint8_t src[512 * 8 + 1];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000, sent;

	rtt_sender(&x, &m, src, sizeof(src), 1);
	xfer_start(&x, now);
	now += 200;
	in_ack(&x, 1, now);			/* rtt_min 200 us */
	sent = now;				/* DATA 2 leaves */
	now = x.deadline;
	xfer_tick(&x, now);			/* re-sent at 10 ms */
	now += 50;
	in_ack(&x, 2, now);
	CHECK_EQ(x.st.spurious, 1);
	CHECK_EQ(x.late_us, 2 * (now - sent));
	CHECK_EQ(x.deadline, now + 2 * (now - sent));
	mem_free(&m);
}

/*
 * At heavy loss a window's ACK rarely covers a block sent only once after
 * the retransmits before it, so Karn's rule alone left a windowed sender
 * without an estimate (no probes, every loss a 1 s timeout; measured:
 * 40 s and more for 1 MiB at 30 %).  A gap ACK past the first block sent
 * once is a sample; with none at all, the time since the last burst
 * seeds the estimate.
 */
static void
test_rtt_window_estimate_under_loss(void)
{
	static uint8_t src[512 * 40 + 1];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000;

	rtt_sender(&x, &m, src, sizeof(src), 8);
	xfer_start(&x, now);			/* OACK, lost */
	now = x.deadline;
	xfer_tick(&x, now);			/* OACK again: no sample */
	now += 100;
	in_ack(&x, 0, now);			/* DATA 1..8, all lost */
	CHECK_EQ(x.srtt, 0);
	CHECK_EQ(x.probe_at, 0);		/* no estimate: no probe */
	now = x.deadline;
	CHECK_EQ(now, 1000 + 2 * T_US + 100);	/* the whole timeout */
	mem_clear_sent(&m);
	xfer_tick(&x, now);			/* DATA 1..8 again */
	CHECK_EQ(m.nsent, 8);
	now += 150;
	in_ack(&x, 3, now);			/* 4 lost: gap ACK of 3 */
	CHECK_EQ(x.srtt, 150);			/* from the burst */
	CHECK(x.probe_at != 0);			/* probes from now on */
	/* DATA 4..8 again, then 9..11 sent once: 10 answers those */
	now += 200;
	in_ack(&x, 10, now);
	CHECK_EQ(x.srtt, (7 * 150 + 200) / 8);
	mem_free(&m);
}

/*
 * A probe answered by the window's ACK, and the probe's old block by a
 * duplicate of it: the client either was slow (the probe was needless)
 * or lost its window ACK (the probe was the answer).  That is no RTT
 * sample (it pushed srtt to 150 ms at 30 % loss); it only makes the
 * next probe wait longer, and ACKs that come without a probe shorten
 * the wait again.
 */
static void
test_rtt_probe_answer_no_sample(void)
{
	static uint8_t src[512 * 64 + 1];
	struct xfer x;
	struct mem m;
	uint64_t now = 1000, sent, patience;

	rtt_sender(&x, &m, src, sizeof(src), 8);
	xfer_start(&x, now);			/* OACK */
	now += 100;
	in_ack(&x, 0, now);			/* srtt 100 us; DATA 1..8 */
	CHECK_EQ(x.srtt, 100);
	sent = now;
	now = x.deadline;			/* ACK 8 lost: a probe */
	CHECK_EQ(now, sent + 10000);
	mem_clear_sent(&m);
	xfer_tick(&x, now);
	CHECK_EQ(m.nsent, 2);			/* blocks 1 and 8 */
	now += 100;
	in_ack(&x, 8, now);			/* answers block 1 (old) */
	now += 20;
	in_ack(&x, 8, now);			/* and block 8: duplicate */
	CHECK_EQ(x.srtt, 100);
	CHECK_EQ(x.rttvar, 50);
	CHECK_EQ(x.st.probes_spurious, 1);
	/* later probes wait 1.5 x the 10.1 ms that window took */
	CHECK(x.patience_us >= 15000);
	patience = x.patience_us;
	now += 100;
	in_ack(&x, 16, now);		/* 9..16 went once: a sample */
	CHECK_EQ(x.srtt, (7 * 100 + 120) / 8);
	CHECK_EQ(x.patience_us, patience - patience / 8);
	CHECK(x.patience_us > 10000);
	CHECK_EQ(x.probe_at, now + x.patience_us);
	mem_free(&m);
}

/*
 * Random loss loses window tails too (30 % here), but it also makes gap
 * ACKs, and more of them: that is not a NIC dropping bursts, so the
 * windows are not paced (paced 2 ms a block, a 1 MiB transfer at 30 %
 * loss took 30 s instead of 20).
 */
static void
test_random_loss_not_paced(void)
{
	struct lossy l = { 30, 0, 0 };
	struct b2b_case k;
	struct b2b_result r;

	memset(&k, 0, sizeof(k));
	k.size = 300 * 1024;
	k.blksize = 512;
	k.window = 16;
	k.download = 1;
	k.to_rcv = k.to_snd = l;
	k.rto_min = 10000;
	k.seed = 7007;
	b2b_case_run(&k, &r);
	check_b2b(&k, &r);
	printf("  30 %% loss, w16: %llu tails, %llu gap ACKs, pace %llu us\n",
	    (unsigned long long)r.ss.tails, (unsigned long long)r.ss.gaps,
	    (unsigned long long)r.ss.pace_max_us);
	CHECK(r.ss.gaps > r.ss.tails);
	CHECK(r.ss.pace_max_us <= 200);
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
	struct xfer x;
	struct mem m;
	uint64_t now = 1000;
	size_t i;

	for (i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + i / 512);
	rtt_sender(&x, &m, src, sizeof(src), W);
	xfer_start(&x, now);			/* OACK */
	mem_clear_sent(&m);
	m.read_calls = 0;
	in_ack(&x, 0, now += 100);		/* blocks 1..16 */
	CHECK_EQ(m.read_calls, 1);
	CHECK_EQ(m.nsent, W);
	for (i = 0; i < W; i++)
		CHECK(is_data(&m, i, (uint16_t)(i + 1), src + i * BS, BS));
	mem_clear_sent(&m);
	in_ack(&x, 5, now += 100);		/* a gap: 6..21 */
	CHECK_EQ(m.read_calls, 2);
	CHECK_EQ(m.nsent, W);
	CHECK(is_data(&m, 0, 6, src + 5 * BS, BS));
	CHECK(is_data(&m, W - 1, 21, src + 20 * BS, BS));
	mem_clear_sent(&m);
	in_ack(&x, 21, now += 100);		/* 22..32, then 33 of 100 */
	CHECK_EQ(m.read_calls, 3);
	CHECK_EQ(m.nsent, 12);
	CHECK(is_data(&m, 10, 32, src + 31 * BS, BS));
	CHECK(is_data(&m, 11, 33, src + 32 * BS, 100));
	in_ack(&x, 33, now += 100);
	CHECK_EQ(x.status, XFER_DONE);
	CHECK_EQ(m.bad_reads, 0);
	mem_free(&m);
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
	RUN(test_receiver_lost_ack);
	RUN(test_receiver_timeout_reack);
	RUN(test_peer_error_midway);
	RUN(test_unexpected_opcode);
	RUN(test_wire_block);
	RUN(test_rollover_sender);
	RUN(test_rollover_receiver);
	RUN(test_window_midack);
	RUN(test_window_receiver);
	RUN(test_client_get_request_oack);
	RUN(test_client_get_no_oack);
	RUN(test_client_get_bad_oack);
	RUN(test_client_put);
	RUN(test_receiver_disk_full);
	RUN(test_receiver_finish);
	RUN(test_receiver_dally);
	RUN(test_netascii_sender);
	RUN(test_netascii_window_rewalk);
	RUN(test_netascii_receiver);
	RUN(test_b2b_lossless);
	RUN(test_b2b_lossy);
	RUN(test_b2b_dup_acks_no_extra_data);
	RUN(test_b2b_window_dup_data_no_ack_cascade);
	RUN(test_b2b_rollover);
	RUN(test_b2b_netascii);
	RUN(test_tail_probe_recovers_lost_window_tails);
	RUN(test_tail_probe_silent_when_client_keeps_up);
	RUN(test_rtt_estimate_timer_and_karn);
	RUN(test_rtt_duplicate_ack_no_send);
	RUN(test_rtt_give_up_by_time);
	RUN(test_rtt_slow_client_few_spurious);
	RUN(test_rtt_late_client_backs_off);
	RUN(test_rtt_real_loss_keeps_timer);
	RUN(test_rtt_ack_before_resend_could_arrive);
	RUN(test_rtt_window_estimate_under_loss);
	RUN(test_rtt_probe_answer_no_sample);
	RUN(test_random_loss_not_paced);
	RUN(test_window_one_read);
	RUN(test_rtt_no_seed_from_peer_timer);
	RUN(test_receiver_flat_timer_give_up_by_time);
	RUN(test_oack_burst_narrows);
	RUN(test_oack_burst_all_answered);
	RUN(test_oack_burst_one_or_none);
	RUN(test_oack_burst_off);
	return CHECK_EXIT();
}
