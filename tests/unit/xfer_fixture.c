/*
 * xfer_fixture.c - the fake clock's companions for tests/unit/test_xfer_*.c:
 * the PRNG, memory io, datagram helpers and the set-up of one transfer
 * (xfer_fixture.h says how to use them).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xfer_fixture.h"

/* ---- PRNG -------------------------------------------------------------- */

/* never 0 (xorshift would stay there), also before the first rng_seed() */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

void
rng_seed(uint64_t s)
{
	rng_state = s ? s : 0x9E3779B97F4A7C15ull;
}

/* xorshift64*: deterministic, so a failure replays. */
uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

unsigned
rng_pct(void)
{
	return (unsigned)((rng() >> 33) % 100);
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

uint8_t *
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

void
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

void
mem_clear_sent(struct mem *m)
{
	size_t i;

	for (i = 0; i < m->nsent; i++)
		free(m->sent[i].b);
	m->nsent = 0;
}

void
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

int
in_raw(struct xfer *x, const uint8_t *b, size_t n, uint64_t now)
{
	return xfer_input(x, b, n, now);
}

int
in_ack(struct xfer *x, uint16_t blk, uint64_t now)
{
	uint8_t b[4];

	return xfer_input(x, b, mk_ack(b, blk), now);
}

int
in_data(struct xfer *x, uint16_t blk, const uint8_t *d, size_t n,
    uint64_t now)
{
	uint8_t *b = xmalloc(n + 4);
	int r = xfer_input(x, b, mk_data(b, blk, d, n), now);

	free(b);
	return r;
}

/* Decode sent[i]; returns its opcode, or -1 when absent or undecodable. */
int
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
int
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

int
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

int
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
int
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

struct xfer_cfg
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

void
grant_blksize(struct tftp_opts *o, unsigned b)
{
	o->have |= OPT_BLKSIZE;
	o->blksize = b;
}

void
grant_window(struct tftp_opts *o, unsigned w)
{
	o->have |= OPT_WINDOWSIZE;
	o->windowsize = w;
}

/* Payload length of block seq (1-based) of a wire stream of len bytes. */
size_t
blk_len(size_t len, unsigned bs, uint64_t seq)
{
	uint64_t off = (seq - 1) * bs;

	if (off >= len)
		return 0;
	return len - off < bs ? len - (size_t)off : bs;
}

/* ---- one transfer over memory ------------------------------------------ */

void
fx_cfg(struct fx *f, int role, int client)
{
	f->c = cfg_make(role, client);
}

void
fx_begin(struct fx *f, const uint8_t *src, size_t n)
{
	mem_init(&f->m, src, n);
	xfer_init(&f->x, &f->c, &f->m.io);
}

void
fx_init(struct fx *f, int role, int client, const uint8_t *src, size_t n)
{
	fx_cfg(f, role, client);
	fx_begin(f, src, n);
}

void
fx_free(struct fx *f)
{
	mem_free(&f->m);
}
