/*
 * names.h - which file each client gets for the name it asks.
 *
 * Between the request and files.c, in this order:
 *   1. --map FILE: tftpd-hpa's remap rules (remap.c) on the name as sent;
 *   2. files_normalize: leading '/' dropped, '\' to '/' with --backslash;
 *   3. --lowercase: the name in lower case;
 *   4. --per-client ip|mac: DIR/<client IP>/ or DIR/<MAC>/ in front when
 *      that directory exists (the MAC from the neighbour table, neigh.c);
 *   5. --ignore-case (RRQ): a name not found as it is, found ignoring case.
 * Containment stays files.c's: openat2(RESOLVE_BENEATH) judges the path
 * this gives as it judges any other, so no rule leads outside the root.
 * A name is relative to DIR as tftpd-hpa's are to its -s directory.
 */
#ifndef TFTPX_NAMES_H
#define TFTPX_NAMES_H

#include <stddef.h>

#include "files.h"
#include "remap.h"
#include "udp.h"

#define NAMES_PER_IP	1
#define NAMES_PER_MAC	2

struct server_cfg;

struct names {
	struct remap	*map;		/* --map's rules, or NULL */
	int		 map_dirfd;	/* the map file's directory (reload) */
	char		 map_base[256];	/*  and its name there */
	const char	*map_file;	/*  as given, for messages */
	int		 per_client;	/* NAMES_PER_IP, _MAC or 0 */
	int		 lowercase;
	int		 ignore_case;
	int		 backslash;
};

/*
 * From cfg; reads and parses --map's file.  Returns 0, or -1 having said
 * why in one line ("map file F: line 3: bad flag 'x'").
 */
int	names_open(struct names *n, const struct server_cfg *cfg);
/* SIGHUP: read the map file again; a bad one keeps the old rules. */
void	names_reload(struct names *n);
void	names_close(struct names *n);

/* What became of a name, for -v and the JSON events. */
struct names_out {
	char		 path[FILES_NAME_MAX];	/* beneath the root */
	int		 changed;		/* path is not the name asked */
	char		 how[160];		/* "map lines 2,5; client dir
						   10.0.0.2/; case" */
};

/*
 * The file for name asked by peer (local: where the request arrived,
 * its ifindex for the MAC); is_put for WRQ.  Returns 0 with out, or -1
 * with err: a map rule refused it (ERROR 2 with the rule's words, as
 * tftpd-hpa), or the name is not one (files_normalize).
 */
int	names_resolve(const struct names *n, int rootfd, const char *asked,
	    int is_put, const struct udp_addr *peer,
	    const struct udp_addr *local, struct names_out *out,
	    struct files_err *err, char *msg, size_t msgcap);

#endif
