/*
 * intake.h - whether a request starts a transfer: the server's books.
 *
 * The live table (transfers by client addr:port), the memory of finished
 * uploads (dedup.c), the live count of each client host and the bucket
 * that rate-limits "server busy" ERRORs.  A request gets one verdict:
 *
 *   IN_NEW        start it
 *   IN_DUPLICATE  an identical request from a port with a live transfer:
 *                 a re-sent request (busybox re-sends after 100 ms);
 *                 starting a second transfer for it is the bug that
 *                 truncates uploads in fork-per-request servers
 *   IN_LATE       an identical request from a port whose upload finished
 *                 within --grace (doc/notes/late-clients.md)
 *   IN_SUPERSEDE  a different request from a port with a live transfer:
 *                 the client gave up on it (UEFI retrying without
 *                 options); the owner ends it (intake_leave), then asks
 *                 intake_admit
 *   IN_BUSY       --max-transfers transfers are live
 *   IN_BUSY_HOST  --max-per-client transfers of this host are live
 *
 * Pure: time is an argument; no system call.  What to do with a verdict
 * (drop, refuse with which words, start) is server.c's.
 */
#ifndef TFTPX_INTAKE_H
#define TFTPX_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "dedup.h"

enum intake_verdict {
	IN_NEW,
	IN_DUPLICATE,
	IN_LATE,
	IN_SUPERSEDE,
	IN_BUSY,
	IN_BUSY_HOST,
};

struct intake_cfg {
	size_t		 max_live;	/* --max-transfers */
	unsigned	 max_per_host;	/* --max-per-client */
	uint64_t	 grace_us;	/* --grace: finished uploads remembered */
	size_t		 ring_cap;	/* finished uploads at most */
	unsigned	 buckets;	/* of the live table and the hosts */
	unsigned	 busy_per_sec;	/* "server busy" ERRORs a second */
};

struct intake_host;

/* A live transfer as intake knows it; embedded in the owner's struct. */
struct intake_live {
	struct dedup_key	 key;		/* client addr:port */
	uint64_t		 hash;		/* of its request datagram */
	uint64_t		 dups;		/* copies of it dropped */
	void			*owner;
	struct intake_host	*host;
	struct intake_live	*next;		/* bucket chain */
};

struct intake_stats {
	size_t		 live;		/* transfers joined and not left */
	uint64_t	 dups;		/* IN_DUPLICATE and IN_LATE verdicts */
	uint64_t	 busy;		/* IN_BUSY and IN_BUSY_HOST verdicts */
};

struct intake;

/* NULL when out of memory. */
struct intake *intake_new(const struct intake_cfg *cfg);
void	intake_free(struct intake *in);

/* The key of a client address (AF_INET or AF_INET6 sockaddr). */
struct dedup_key intake_key(const void *sockaddr);

/* The live transfer of key, or NULL. */
struct intake_live *intake_find(struct intake *in, const struct dedup_key *key);

/*
 * The verdict on a request with hash from key at now.  IN_DUPLICATE and
 * IN_SUPERSEDE set *old to the live transfer of key.
 */
enum intake_verdict intake_judge(struct intake *in,
	    const struct dedup_key *key, uint64_t hash, uint64_t now,
	    struct intake_live **old);

/*
 * The limits alone (IN_NEW, IN_BUSY or IN_BUSY_HOST): for a request
 * that superseded a live transfer, once that one has left.
 */
enum intake_verdict intake_admit(struct intake *in,
	    const struct dedup_key *key);

/*
 * May a "server busy" ERROR go out now?  A flood must not become a flood
 * of ERRORs or log lines: busy_per_sec a second.
 */
int	intake_busy_tell(struct intake *in, uint64_t now);

/* Live transfers of key's host (port ignored). */
unsigned intake_host_live(struct intake *in, const struct dedup_key *key);

/*
 * A transfer for key's request (hash) starts: count it and put e in the
 * live table.  Returns 0, or -1 when out of memory (nothing counted).
 */
int	intake_join(struct intake *in, struct intake_live *e,
	    const struct dedup_key *key, uint64_t hash, void *owner);

/*
 * The transfer of e ended.  remember: it was an upload that finished;
 * identical requests from its key are IN_LATE for grace_us from since
 * (when its client first answered: it re-sent nothing after that).
 */
void	intake_leave(struct intake *in, struct intake_live *e, int remember,
	    uint64_t since);

/* Some live transfer, or NULL (shutdown ends them one by one). */
struct intake_live *intake_any(struct intake *in);

const struct intake_stats *intake_stats(const struct intake *in);

#endif
