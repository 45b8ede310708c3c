/*
 * intake.c - whether a request starts a transfer; see intake.h.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "intake.h"

/* The live-transfer count of one client host (--max-per-client). */
struct intake_host {
	struct dedup_key	 key;		/* port 0 */
	unsigned		 n;
	struct intake_host	*next;
};

struct intake {
	struct intake_cfg	 cfg;
	struct intake_live	**live;		/* [buckets] */
	struct intake_host	**hosts;	/* [buckets] */
	struct dedup		*recent;	/* finished uploads */
	uint64_t		 busy_stamp;	/* the bucket's second */
	unsigned		 busy_sent;	/*  and its ERRORs so far */
	struct intake_stats	 st;
};

static unsigned
bucket(const struct intake *in, const struct dedup_key *k)
{
	return dedup_key_hash(k) % in->cfg.buckets;
}

struct intake *
intake_new(const struct intake_cfg *cfg)
{
	struct intake *in;

	if ((in = calloc(1, sizeof(*in))) == NULL)
		return NULL;
	in->cfg = *cfg;
	if (in->cfg.buckets == 0)
		in->cfg.buckets = 1;
	in->live = calloc(in->cfg.buckets, sizeof(struct intake_live *));
	in->hosts = calloc(in->cfg.buckets, sizeof(struct intake_host *));
	in->recent = dedup_new(cfg->ring_cap, cfg->grace_us);
	if (in->live == NULL || in->hosts == NULL || in->recent == NULL) {
		intake_free(in);
		return NULL;
	}
	return in;
}

/* The owner ends its transfers first (intake_any); hosts left go here. */
void
intake_free(struct intake *in)
{
	struct intake_host *h, *next;
	unsigned i;

	if (in == NULL)
		return;
	for (i = 0; in->hosts && i < in->cfg.buckets; i++)
		for (h = in->hosts[i]; h; h = next) {
			next = h->next;
			free(h);
		}
	dedup_free(in->recent);
	free(in->hosts);
	free(in->live);
	free(in);
}

struct dedup_key
intake_key(const void *sockaddr)
{
	const struct sockaddr_in6 *s6 = sockaddr;
	const struct sockaddr_in *s4 = sockaddr;
	struct dedup_key k;

	memset(&k, 0, sizeof(k));
	if (s6->sin6_family == AF_INET6) {
		k.family = 6;
		memcpy(k.addr, &s6->sin6_addr, 16);
		k.port = ntohs(s6->sin6_port);
	} else {
		k.family = 4;
		memcpy(k.addr, &s4->sin_addr, 4);
		k.port = ntohs(s4->sin_port);
	}
	return k;
}

struct intake_live *
intake_find(struct intake *in, const struct dedup_key *key)
{
	struct intake_live *e;

	for (e = in->live[bucket(in, key)]; e; e = e->next)
		if (dedup_key_eq(&e->key, key))
			return e;
	return NULL;
}

static struct intake_host *
host_find(struct intake *in, const struct dedup_key *key)
{
	struct dedup_key h = *key;
	struct intake_host *c;

	h.port = 0;
	for (c = in->hosts[bucket(in, &h)]; c; c = c->next)
		if (dedup_key_eq(&c->key, &h))
			return c;
	return NULL;
}

unsigned
intake_host_live(struct intake *in, const struct dedup_key *key)
{
	struct intake_host *c = host_find(in, key);

	return c ? c->n : 0;
}

enum intake_verdict
intake_judge(struct intake *in, const struct dedup_key *key, uint64_t hash,
    uint64_t now, struct intake_live **old)
{
	struct intake_live *e = intake_find(in, key);

	*old = e;
	if (e != NULL && e->hash == hash) {
		e->dups++;
		in->st.dups++;
		return IN_DUPLICATE;
	}
	if (e != NULL)
		return IN_SUPERSEDE;
	if (dedup_seen(in->recent, key, hash, now)) {
		in->st.dups++;
		return IN_LATE;
	}
	return intake_admit(in, key);
}

enum intake_verdict
intake_admit(struct intake *in, const struct dedup_key *key)
{
	if (in->st.live >= in->cfg.max_live) {
		in->st.busy++;
		return IN_BUSY;
	}
	if (intake_host_live(in, key) >= in->cfg.max_per_host) {
		in->st.busy++;
		return IN_BUSY_HOST;
	}
	return IN_NEW;
}

int
intake_busy_tell(struct intake *in, uint64_t now)
{
	if (now - in->busy_stamp >= 1000000) {
		in->busy_stamp = now;
		in->busy_sent = 0;
	}
	return in->busy_sent++ < in->cfg.busy_per_sec;
}

int
intake_join(struct intake *in, struct intake_live *e,
    const struct dedup_key *key, uint64_t hash, void *owner)
{
	struct intake_host *c = host_find(in, key);
	unsigned b;

	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return -1;
		c->key = *key;
		c->key.port = 0;
		b = bucket(in, &c->key);
		c->next = in->hosts[b];
		in->hosts[b] = c;
	}
	c->n++;
	e->key = *key;
	e->hash = hash;
	e->dups = 0;
	e->owner = owner;
	e->host = c;
	b = bucket(in, key);
	e->next = in->live[b];
	in->live[b] = e;
	in->st.live++;
	return 0;
}

static void
host_drop(struct intake *in, struct intake_host *c)
{
	struct intake_host **pp;

	if (--c->n > 0)
		return;
	for (pp = &in->hosts[bucket(in, &c->key)]; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			free(c);
			return;
		}
	}
}

void
intake_leave(struct intake *in, struct intake_live *e, int remember,
    uint64_t since)
{
	struct intake_live **pp;

	for (pp = &in->live[bucket(in, &e->key)]; *pp; pp = &(*pp)->next) {
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	}
	if (remember)
		dedup_remember(in->recent, &e->key, e->hash, since);
	host_drop(in, e->host);
	e->host = NULL;
	in->st.live--;
}

struct intake_live *
intake_any(struct intake *in)
{
	unsigned i;

	for (i = 0; i < in->cfg.buckets; i++)
		if (in->live[i] != NULL)
			return in->live[i];
	return NULL;
}

const struct intake_stats *
intake_stats(const struct intake *in)
{
	return &in->st;
}
