/*
 * fuzz_dedup.c - the finished-request memory against a reference model.
 *
 * Input:
 *	[0]	cap (0..255)
 *	[1..2]	grace in milliseconds
 *	[3..]	events of 3 bytes: op, key, time step
 *		op bit 0: remember (else seen); bits 1-2: which of four
 *		request hashes; bit 3: the step is in ms (else us)
 *		key: one of 64 keys (IPv4 and IPv6, a few ports)
 *
 * Only what dedup.h promises is checked:
 *  - no false positive: seen() is 1 only if that key was remembered with
 *    that hash within grace;
 *  - no early forgetting: the newest request of a key, remembered less
 *    than grace ago and with fewer than cap remembers since, is seen;
 *  - the count never exceeds the keys remembered, and covers every key
 *    remembered in the last cap remembers;
 *  - the key hash looks at the fields only, not at padding.
 */
#include <string.h>

#include "dedup.h"
#include "fuzz.h"

#define NKEYS	64
#define NHASH	4

struct model {
	int		 known;		/* remembered at least once */
	unsigned	 last_h;	/* newest remember: hash index */
	uint64_t	 last_when;
	uint64_t	 last_n;	/* ... and its number */
	int		 had[NHASH];
	uint64_t	 when[NHASH];	/* newest remember with that hash */
};

static void
make_key(unsigned id, struct dedup_key *k, int pad)
{
	memset(k, pad, sizeof(*k));
	k->family = (id & 1) ? 6 : 4;
	memset(k->addr, 0, sizeof(k->addr));
	k->addr[0] = 10;
	k->addr[3] = (uint8_t)(id >> 2);
	if (k->family == 6)
		k->addr[15] = (uint8_t)id;
	k->port = (uint16_t)(1000 + (id & 3));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model m[NKEYS];
	struct dedup_key k, k2;
	struct dedup *d;
	uint64_t hash[NHASH], grace, now = 1, nrem = 0;
	size_t cap, i, count, recent, distinct;
	unsigned op, id, hi;
	int r;

	if (size < 3)
		return 0;
	cap = data[0];
	grace = (uint64_t)(data[1] << 8 | data[2]) * 1000;
	if ((d = dedup_new(cap, grace)) == NULL)
		abort();
	for (i = 0; i < NHASH; i++) {
		uint8_t req[8] = { 0, 1, 'f', (uint8_t)i, 0, 'o', 0, 0 };

		hash[i] = dedup_hash(req, sizeof(req));
		/* a pure function */
		FUZZ_CHECK(hash[i] == dedup_hash(req, sizeof(req)));
	}
	memset(m, 0, sizeof(m));

	for (i = 3; i + 3 <= size; i += 3) {
		op = data[i];
		id = data[i + 1] % NKEYS;
		hi = (op >> 1) & 3;
		now += (op & 8) ? (uint64_t)data[i + 2] * 1000 : data[i + 2];
		make_key(id, &k, 0);
		make_key(id, &k2, 0xff);
		FUZZ_CHECK(dedup_key_hash(&k) == dedup_key_hash(&k2));

		if (op & 1) {
			dedup_remember(d, &k2, hash[hi], now);
			m[id].known = 1;
			m[id].last_h = hi;
			m[id].last_when = now;
			m[id].last_n = nrem++;
			m[id].had[hi] = 1;
			m[id].when[hi] = now;
		} else {
			r = dedup_seen(d, &k, hash[hi], now);
			FUZZ_CHECK(r == 0 || r == 1);
			if (r)
				FUZZ_CHECK(m[id].had[hi] &&
				    now - m[id].when[hi] <= grace);
			if (m[id].known && m[id].last_h == hi &&
			    now - m[id].last_when < grace &&
			    nrem - m[id].last_n <= cap)
				FUZZ_CHECK(r == 1);
		}

		count = dedup_count(d);
		recent = distinct = 0;
		for (id = 0; id < NKEYS; id++) {
			distinct += m[id].known;
			recent += m[id].known && nrem - m[id].last_n <= cap;
		}
		FUZZ_CHECK(count <= distinct);
		FUZZ_CHECK(count >= recent);
	}
	dedup_free(d);
	return 0;
}
