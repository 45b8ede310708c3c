/*
 * quirks.c - U-Boot's request shape and the memory of hosts whose NIC
 * drops bursts; see quirks.h and doc/notes/uboot-e1000.md.
 */
#include <string.h>

#include "quirks.h"

int
quirks_uboot_like(const struct packet *p)
{
	static const char *const order[] = {
		"timeout", "tsize", "blksize", "windowsize",
	};
	size_t i, j = 0;

	if (p->nopts < 2 || strcmp(p->mode, "octet") != 0 ||
	    strcmp(p->opts[0].name, order[0]) != 0)
		return 0;
	for (i = 0; i < p->nopts; i++) {
		while (j < sizeof(order) / sizeof(order[0]) &&
		    strcmp(p->opts[i].name, order[j]) != 0)
			j++;
		if (j == sizeof(order) / sizeof(order[0]))
			return 0;
		j++;
	}
	return 1;
}

static struct quirk_host *
host_find(const struct quirks *q, const struct dedup_key *peer,
    uint64_t now)
{
	struct dedup_key h = *peer;
	unsigned i;

	h.port = 0;
	for (i = 0; i < QUIRKS_HOSTS; i++)
		if (q->h[i].until > now && q->h[i].host.family == h.family &&
		    memcmp(q->h[i].host.addr, h.addr, sizeof(h.addr)) == 0)
			return (struct quirk_host *)&q->h[i];
	return NULL;
}

void
quirks_note(struct quirks *q, const struct dedup_key *peer,
    const struct xfer *x, uint64_t now)
{
	struct quirk_host *n;
	uint64_t windows;

	/* the OACK burst found it; else the windows' tails must show it */
	if (!x->st.burst_narrowed) {
		if (x->opts.windowsize < 2)
			return;
		windows = x->st.data_sent / x->opts.windowsize + 1;
		if (x->st.tails < QUIRKS_TAILS || x->st.tails <= x->st.gaps ||
		    x->st.tails * 100 < windows * QUIRKS_PCT)
			return;
	}
	if ((n = host_find(q, peer, now)) == NULL) {
		n = &q->h[q->next++ % QUIRKS_HOSTS];
		n->host = *peer;
		n->host.port = 0;
	}
	n->until = now + QUIRKS_KEEP_US;
	n->burst = x->st.burst_narrowed;
}

const char *
quirks_adjust(const struct quirks *q, const struct dedup_key *peer,
    const struct packet *p, struct xfer_cfg *xc, uint64_t now)
{
	const struct quirk_host *n;
	const char *why = NULL;

	if ((xc->opts.have & OPT_WINDOWSIZE) && xc->opts.windowsize > 1 &&
	    (n = host_find(q, peer, now)) != NULL) {
		xc->opts.windowsize = 1;
		why = n->burst ? "this host's NIC dropped back-to-back packets "
		    "lately" : "this host's windows lost their tails lately";
	}
	if (quirks_uboot_like(p))
		xc->oack_burst = QUIRKS_BURST;
	return why;
}
