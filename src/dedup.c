/*
 * dedup.c - a fixed ring of recent (key, request hash, time) entries with
 * a chained hash index over it.  Entries are added in about time order
 * (the server adds a request when its transfer ends, with the time its
 * client first answered), so the ring's oldest slot is about the first
 * to expire: reusing it is both the eviction and the expiry.
 */
#include <stdlib.h>
#include <string.h>

#include "dedup.h"

#define NIL	UINT32_MAX

struct entry {
	struct dedup_key key;
	uint64_t	 hash;
	uint64_t	 when;
	uint32_t	 next;		/* chain in the bucket, or NIL */
	uint8_t		 used;
};

struct dedup {
	struct entry	*ring;
	uint32_t	*bucket;
	uint32_t	 mask;		/* cap - 1 */
	uint32_t	 head;		/* next slot to fill */
	size_t		 count;
	uint64_t	 grace;
};

uint64_t
dedup_hash(const uint8_t *buf, size_t len)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ buf[i]) * 1099511628211ull;
	return h;
}

uint32_t
dedup_key_hash(const struct dedup_key *k)
{
	uint64_t h = dedup_hash(k->addr, sizeof(k->addr));

	h = (h ^ k->port) * 1099511628211ull;
	h = (h ^ k->family) * 1099511628211ull;
	return (uint32_t)(h ^ (h >> 32));
}

static uint32_t
key_bucket(const struct dedup *d, const struct dedup_key *k)
{
	return dedup_key_hash(k) & d->mask;
}

int
dedup_key_eq(const struct dedup_key *a, const struct dedup_key *b)
{
	return a->family == b->family && a->port == b->port &&
	    memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

struct dedup *
dedup_new(size_t cap, uint64_t grace_us)
{
	struct dedup *d;
	size_t n = 16, i;

	while (n < cap && n < (1u << 24))
		n <<= 1;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->ring = calloc(n, sizeof(*d->ring));
	d->bucket = malloc(n * sizeof(*d->bucket));
	if (d->ring == NULL || d->bucket == NULL) {
		dedup_free(d);
		return NULL;
	}
	for (i = 0; i < n; i++)
		d->bucket[i] = NIL;
	d->mask = (uint32_t)n - 1;
	d->grace = grace_us;
	return d;
}

void
dedup_free(struct dedup *d)
{
	if (d == NULL)
		return;
	free(d->ring);
	free(d->bucket);
	free(d);
}

/* Take slot i out of its chain. */
static void
unlink_slot(struct dedup *d, uint32_t i)
{
	uint32_t *pp = &d->bucket[key_bucket(d, &d->ring[i].key)];

	while (*pp != NIL) {
		if (*pp == i) {
			*pp = d->ring[i].next;
			break;
		}
		pp = &d->ring[*pp].next;
	}
	d->ring[i].used = 0;
	d->count--;
}

static uint32_t
find(const struct dedup *d, const struct dedup_key *k)
{
	uint32_t i;

	for (i = d->bucket[key_bucket(d, k)]; i != NIL; i = d->ring[i].next)
		if (dedup_key_eq(&d->ring[i].key, k))
			return i;
	return NIL;
}

void
dedup_remember(struct dedup *d, const struct dedup_key *k, uint64_t h,
    uint64_t now)
{
	uint32_t i, b;

	/* one entry per key: the newest request replaces an older one */
	if ((i = find(d, k)) != NIL)
		unlink_slot(d, i);
	i = d->head;
	d->head = (d->head + 1) & d->mask;
	if (d->ring[i].used)
		unlink_slot(d, i);
	d->ring[i].key = *k;
	d->ring[i].hash = h;
	d->ring[i].when = now;
	d->ring[i].used = 1;
	b = key_bucket(d, k);
	d->ring[i].next = d->bucket[b];
	d->bucket[b] = i;
	d->count++;
}

int
dedup_seen(struct dedup *d, const struct dedup_key *k, uint64_t h,
    uint64_t now)
{
	uint32_t i = find(d, k);

	if (i == NIL || now - d->ring[i].when > d->grace)
		return 0;
	return d->ring[i].hash == h;
}

size_t
dedup_count(const struct dedup *d)
{
	return d->count;
}
