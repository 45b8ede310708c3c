/*
 * xfer_fixture.h - what the transfer tests (tests/unit/test_xfer_*.c)
 * share: a fake clock, memory io, hand-written datagrams and the set-up
 * of one transfer.  xfer_fixture.c is linked into each of them.
 *
 * The harness is all memory: a source (read over a byte array), a sink
 * (write appends to a growable buffer, with an optional -ENOSPC after N
 * bytes and a countable, optionally failing finish), and a send callback
 * that keeps a copy of every datagram so a test can decode it with
 * packet_decode() and check opcode, block, length and bytes.  Expected
 * packets are written out by hand, not with the encoders under test.
 *
 * The usual set-up is one call:
 *
 *	struct fx f;
 *
 *	fx_init(&f, XFER_SEND, 0, src, n);	(not started: xfer_start)
 *	...
 *	fx_free(&f);
 *
 * A test that tweaks the configuration or the sink splits it in two and
 * shows its tweaks between the halves:
 *
 *	fx_cfg(&f, XFER_RECV, 0);
 *	f.c.retries = 2;
 *	fx_begin(&f, NULL, 0);
 *	f.m.enospc_at = 700;		(the sink is read at each write)
 */
#ifndef TFTPX_XFER_FIXTURE_H
#define TFTPX_XFER_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "xfer.h"

#define T_US		1000000ull	/* first retransmission timeout */

/* A packet given as a string literal with its embedded NULs. */
#define LIT(s)	((const uint8_t *)(s)), (sizeof(s) - 1)

/* Past block 65535 at blksize 8: 65541 blocks (rollover and back to back). */
#define ROLL_BS		8
#define ROLL_SIZE	(ROLL_BS * 65540 + 3)

/* ---- PRNG: xorshift64*, deterministic, so a failure replays ------------ */

void		 rng_seed(uint64_t s);
uint64_t	 rng(void);
unsigned	 rng_pct(void);
void		*xmalloc(size_t n);
uint8_t		*random_bytes(size_t n, uint64_t seed);

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

void	mem_init(struct mem *m, const uint8_t *src, size_t src_len);
void	mem_clear_sent(struct mem *m);
void	mem_free(struct mem *m);

/* ---- datagrams --------------------------------------------------------- */

int	in_raw(struct xfer *x, const uint8_t *b, size_t n, uint64_t now);
int	in_ack(struct xfer *x, uint16_t blk, uint64_t now);
int	in_data(struct xfer *x, uint16_t blk, const uint8_t *d, size_t n,
	    uint64_t now);
/* Decode sent[i]; returns its opcode, or -1 when absent or undecodable. */
int	sent_pkt(const struct mem *m, size_t i, struct packet *p);
/*
 * sent[i] is DATA blk carrying exactly exp[0..n), ACK blk, ERROR code, or
 * byte for byte exp; each says what it found instead when it is not.
 */
int	is_data(const struct mem *m, size_t i, uint16_t blk,
	    const uint8_t *exp, size_t n);
int	is_ack(const struct mem *m, size_t i, uint16_t blk);
int	is_error(const struct mem *m, size_t i, uint16_t code);
int	is_bytes(const struct mem *m, size_t i, const uint8_t *exp, size_t n);

/* ---- configurations ---------------------------------------------------- */

/* file.bin, octet, T_US, 5 retries, no options */
struct xfer_cfg	cfg_make(int role, int client);
void		grant_blksize(struct tftp_opts *o, unsigned b);
void		grant_window(struct tftp_opts *o, unsigned w);
/* Payload length of block seq (1-based) of a wire stream of len bytes. */
size_t		blk_len(size_t len, unsigned bs, uint64_t seq);

/* ---- one transfer over memory ------------------------------------------ */

struct fx {
	struct xfer_cfg	 c;	/* fx_cfg fills it; tweak it before fx_begin */
	struct mem	 m;
	struct xfer	 x;
};

/* cfg_make(role, client) into f->c. */
void	fx_cfg(struct fx *f, int role, int client);
/* The memory io over src[0..n) (NULL, 0: a receiver), x from f->c. */
void	fx_begin(struct fx *f, const uint8_t *src, size_t n);
/* Both: the plain set-up. */
void	fx_init(struct fx *f, int role, int client, const uint8_t *src,
	    size_t n);
void	fx_free(struct fx *f);

#endif
