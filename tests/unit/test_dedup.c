/*
 * test_dedup.c - the memory of finished requests: grace, identity,
 * bounded size.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../check.h"
#include "dedup.h"

static struct dedup_key
key(uint8_t fam, uint8_t last, uint16_t port)
{
	struct dedup_key k;

	memset(&k, 0, sizeof(k));
	k.family = fam;
	k.addr[15] = last;
	k.port = port;
	return k;
}

static void
test_late_duplicate_dropped_within_grace(void)
{
	struct dedup *d = dedup_new(64, 10000000);
	struct dedup_key k = key(4, 1, 5555);
	uint64_t h = dedup_hash((const uint8_t *)"\0\2a\0octet\0", 11);

	CHECK(d != NULL);
	CHECK_EQ(dedup_seen(d, &k, h, 0), 0);
	dedup_remember(d, &k, h, 1000);
	CHECK_EQ(dedup_seen(d, &k, h, 1000), 1);
	CHECK_EQ(dedup_seen(d, &k, h, 1000 + 10000000), 1);
	/* past the grace period the same request is served again */
	CHECK_EQ(dedup_seen(d, &k, h, 1000 + 10000001), 0);
	dedup_free(d);
}

static void
test_different_request_or_key_not_dropped(void)
{
	struct dedup *d = dedup_new(64, 10000000);
	struct dedup_key k = key(4, 1, 5555), k2 = key(4, 1, 5556);
	struct dedup_key k6 = key(6, 1, 5555), k3 = key(4, 2, 5555);
	uint64_t h = dedup_hash((const uint8_t *)"abc", 3);
	uint64_t h2 = dedup_hash((const uint8_t *)"abd", 3);

	CHECK(h != h2);
	dedup_remember(d, &k, h, 0);
	CHECK_EQ(dedup_seen(d, &k, h2, 1), 0);
	CHECK_EQ(dedup_seen(d, &k2, h, 1), 0);
	CHECK_EQ(dedup_seen(d, &k6, h, 1), 0);
	CHECK_EQ(dedup_seen(d, &k3, h, 1), 0);
	/* the newest request of a key replaces the older one */
	dedup_remember(d, &k, h2, 2);
	CHECK_EQ(dedup_seen(d, &k, h2, 3), 1);
	CHECK_EQ(dedup_seen(d, &k, h, 3), 0);
	CHECK_EQ(dedup_count(d), 1);
	dedup_free(d);
}

static void
test_flood_is_bounded(void)
{
	struct dedup *d = dedup_new(100, 10000000);	/* rounds to 128 */
	struct dedup_key k;
	unsigned i;

	for (i = 0; i < 100000; i++) {
		k = key(4, (uint8_t)(i >> 16), (uint16_t)i);
		k.addr[14] = (uint8_t)(i >> 8);
		dedup_remember(d, &k, i, i);
	}
	CHECK_EQ(dedup_count(d), 128);
	/* the newest are remembered, the oldest forgotten */
	k = key(4, (uint8_t)(99999 >> 16), (uint16_t)99999);
	k.addr[14] = (uint8_t)(99999 >> 8);
	CHECK_EQ(dedup_seen(d, &k, 99999, 100000), 1);
	k = key(4, 0, 0);
	CHECK_EQ(dedup_seen(d, &k, 0, 100000), 0);
	dedup_free(d);
}

static void
test_chains_survive_eviction(void)
{
	struct dedup *d = dedup_new(16, 1000);
	struct dedup_key k;
	unsigned i, seen = 0;

	/* many keys per bucket, evicted in ring order */
	for (i = 0; i < 40; i++) {
		k = key(4, 7, (uint16_t)(i * 16));
		dedup_remember(d, &k, i, 10);
	}
	for (i = 0; i < 40; i++) {
		k = key(4, 7, (uint16_t)(i * 16));
		seen += (unsigned)dedup_seen(d, &k, i, 11);
	}
	CHECK_EQ(seen, 16);
	CHECK_EQ(dedup_count(d), 16);
	dedup_free(d);
}

int
main(void)
{
	RUN(test_late_duplicate_dropped_within_grace);
	RUN(test_different_request_or_key_not_dropped);
	RUN(test_flood_is_bounded);
	RUN(test_chains_survive_eviction);
	return CHECK_EXIT();
}
