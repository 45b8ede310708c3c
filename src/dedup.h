/*
 * dedup.h - the memory of recently finished requests.
 *
 * busybox re-sends its request after 100, 250, 475 and 813 ms; a copy can
 * arrive after the transfer it belongs to has already finished.  Serving
 * that late copy of a WRQ would start a second upload of the name just
 * written.  The server remembers the key (client addr:port) and a hash
 * of the request of every upload that finished, from the time its
 * client first answered (it re-sent nothing after that) for a grace
 * period, and drops an identical request from that key meanwhile.
 *
 * Pure: time is an argument.  Bounded: a ring of cap entries; when a
 * flood of distinct keys fills it, the oldest entries are forgotten early.
 */
#ifndef TFTPX_DEDUP_H
#define TFTPX_DEDUP_H

#include <stddef.h>
#include <stdint.h>

struct dedup_key {
	uint8_t		family;		/* 4 or 6 */
	uint8_t		addr[16];
	uint16_t	port;
};

struct dedup;

/* cap entries (rounded up to a power of two), remembered for grace_us. */
struct dedup *dedup_new(size_t cap, uint64_t grace_us);
void	dedup_free(struct dedup *d);

/* FNV-1a of a request datagram, the fingerprint compared. */
uint64_t dedup_hash(const uint8_t *buf, size_t len);

/* Same address family, address and port. */
int	dedup_key_eq(const struct dedup_key *a, const struct dedup_key *b);

/* A well-mixed hash of a key (also used by intake's live table). */
uint32_t dedup_key_hash(const struct dedup_key *k);

/* Remember that key finished a transfer for request hash h at now. */
void	dedup_remember(struct dedup *d, const struct dedup_key *k,
	    uint64_t h, uint64_t now);

/* 1 when key finished a transfer for the same request hash within grace. */
int	dedup_seen(struct dedup *d, const struct dedup_key *k, uint64_t h,
	    uint64_t now);

/* Entries currently held (expired ones included until reused). */
size_t	dedup_count(const struct dedup *d);

#endif
