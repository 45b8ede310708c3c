/*
 * names.c - which file each client gets: remap rules, per-client roots,
 * names in any case.  The order and the reasons are in names.h.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "log.h"
#include "names.h"
#include "neigh.h"
#include "packet.h"
#include "server.h"

#define MAP_FILE_MAX	(1 << 20)	/* a map file this long is a mistake */

/*
 * Read and parse the map file (through n->map_dirfd, so a reload works
 * after the server dropped root).  Returns the rules, or NULL having said
 * why in *why (cap bytes).
 */
static struct remap *
map_read(const struct names *n, char *why, size_t cap)
{
	struct remap_err rerr;
	struct remap *m = NULL;
	struct stat st;
	char *text;
	long got;
	int fd;

	fd = openat(n->map_dirfd, n->map_base, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(why, cap, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > MAP_FILE_MAX) {
		snprintf(why, cap, "not a regular file of at most 1 MiB");
		close(fd);
		return NULL;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(why, cap, "out of memory");
		close(fd);
		return NULL;
	}
	got = files_pread_full(fd, (uint8_t *)text, (size_t)st.st_size, 0);
	close(fd);
	if (got < 0) {
		snprintf(why, cap, "%s", strerror((int)-got));
	} else if (remap_parse(text, (size_t)got, &m, &rerr) < 0) {
		if (rerr.line)
			snprintf(why, cap, "line %u: %s", rerr.line, rerr.msg);
		else
			snprintf(why, cap, "out of memory");
		m = NULL;
	}
	free(text);
	return m;
}

/* The map file's directory and name, kept for reloads. */
static int
map_place(struct names *n, const char *file)
{
	const char *slash = strrchr(file, '/');
	char dir[4096];
	size_t dl;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
		slash = file - 1;
	} else {
		dl = slash == file ? 1 : (size_t)(slash - file);
		if (dl >= sizeof(dir)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(dir, file, dl);
		dir[dl] = '\0';
	}
	if (strlen(slash + 1) >= sizeof(n->map_base) || slash[1] == '\0') {
		errno = slash[1] ? ENAMETOOLONG : EISDIR;
		return -1;
	}
	snprintf(n->map_base, sizeof(n->map_base), "%s", slash + 1);
	n->map_dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return n->map_dirfd < 0 ? -1 : 0;
}

int
names_open(struct names *n, const struct server_cfg *cfg)
{
	char why[256];

	memset(n, 0, sizeof(*n));
	n->map_dirfd = -1;
	n->per_client = cfg->per_client;
	n->lowercase = cfg->lowercase;
	n->ignore_case = cfg->ignore_case;
	n->backslash = cfg->backslash;
	if (cfg->map_file == NULL)
		return 0;
	n->map_file = cfg->map_file;
	if (map_place(n, cfg->map_file) < 0) {
		log_error("cannot read map file %s: %s", cfg->map_file,
		    strerror(errno));
		return -1;
	}
	if ((n->map = map_read(n, why, sizeof(why))) == NULL) {
		log_error("map file %s: %s", cfg->map_file, why);
		return -1;
	}
	log_notice("map file %s: %zu rules", cfg->map_file,
	    remap_count(n->map));
	return 0;
}

void
names_reload(struct names *n)
{
	struct remap *m;
	char why[256];

	if (n->map_file == NULL)
		return;
	if ((m = map_read(n, why, sizeof(why))) == NULL) {
		log_error("map file %s: %s; keeping the %zu rules loaded "
		    "before", n->map_file, why, remap_count(n->map));
		return;
	}
	remap_free(n->map);
	n->map = m;
	log_notice("map file %s reloaded: %zu rules", n->map_file,
	    remap_count(m));
}

void
names_close(struct names *n)
{
	remap_free(n->map);
	n->map = NULL;
	if (n->map_dirfd >= 0)
		close(n->map_dirfd);
	n->map_dirfd = -1;
}

/* The client as \i, \x, 4 and 6 see it: the address it sent from. */
static void
client_of(const struct udp_addr *peer, struct remap_client *c)
{
	const struct sockaddr_in *s4 = (const void *)&peer->ss;
	const struct sockaddr_in6 *s6 = (const void *)&peer->ss;

	if (peer->ss.ss_family == AF_INET6)
		remap_client_set(c, 6, &s6->sin6_addr);
	else
		remap_client_set(c, 4, &s4->sin_addr);
}

/* Append words to out->how, "; " between. */
static void
how_add(struct names_out *out, const char *words)
{
	size_t l = strlen(out->how);

	snprintf(out->how + l, sizeof(out->how) - l, "%s%s", l ? "; " : "",
	    words);
}

/* "map lines 2,5" from a trace. */
static void
how_map(struct names_out *out, const struct remap_trace *tr)
{
	char buf[120];
	size_t l;
	unsigned i;

	l = (size_t)snprintf(buf, sizeof(buf), "map line%s",
	    tr->fired == 1 ? "" : "s");
	for (i = 0; i < tr->nhit && l < sizeof(buf); i++)
		l += (size_t)snprintf(buf + l, sizeof(buf) - l, "%s%u",
		    i ? "," : " ", tr->hit[i].line);
	if (tr->fired > tr->nhit && l < sizeof(buf))
		snprintf(buf + l, sizeof(buf) - l, ",...");
	how_add(out, buf);
}

/*
 * Step 1: the rules.  Returns 0 with the new name in name (cap bytes),
 * or -1 with err and msg: refused as tftpd-hpa refuses, ERROR 2.
 */
static int
map_step(const struct names *n, const char *asked, int is_put,
    const struct udp_addr *peer, char *name, size_t cap,
    struct names_out *out, struct files_err *err, char *msg, size_t msgcap)
{
	struct remap_client c;
	struct remap_trace tr;
	struct remap_req rq = { asked, is_put, &c };
	char res[REMAP_MAX];

	client_of(peer, &c);
	memset(&tr, 0, sizeof(tr));
	switch (remap_apply(n->map, &rq, res, sizeof(res), &tr)) {
	case REMAP_OK:
		if (tr.fired)
			how_map(out, &tr);
		if (strlen(res) >= cap)
			break;
		memcpy(name, res, strlen(res) + 1);
		return 0;
	case REMAP_REFUSED:
		snprintf(msg, msgcap, "%s", res);
		how_map(out, &tr);
		files_set_err(err, TFTP_EACCESS, FW_MAPPED, 0, msg);
		return -1;
	case REMAP_LOOP:
		how_map(out, &tr);
		files_set_err(err, TFTP_EACCESS, FW_MAPPED, 0,
		    "Remap table failure");
		return -1;
	case REMAP_TOOLONG:
		break;
	}
	files_set_err(err, TFTP_EACCESS, FW_BAD_NAME, 0,
	    "file name too long");
	return -1;
}

/* Step 4: the client's directory name, or 0 when it has none. */
static int
client_dir(const struct names *n, const struct udp_addr *peer,
    const struct udp_addr *local, char *dir, size_t cap)
{
	const struct sockaddr_in *s4 = (const void *)&peer->ss;
	const struct sockaddr_in6 *s6 = (const void *)&peer->ss;
	uint8_t mac[6];
	char m[18];

	if (n->per_client == NAMES_PER_MAC) {
		if (neigh_mac(local->ifindex, &peer->ss, mac) < 0) {
			if (errno != ENOENT)
				log_event(LOG_VERBOSE, "cannot ask the "
				    "neighbour table: %s; the shared root "
				    "serves", strerror(errno));
			return 0;
		}
		neigh_format(mac, m);
		snprintf(dir, cap, "%s", m);
		return 1;
	}
	if (peer->ss.ss_family == AF_INET6)
		return inet_ntop(AF_INET6, &s6->sin6_addr, dir,
		    (socklen_t)cap) != NULL;
	return inet_ntop(AF_INET, &s4->sin_addr, dir, (socklen_t)cap) != NULL;
}

/*
 * Is path there (as it is, or with --ignore-case in another case)?  1
 * with the path to open in found (FILES_NAME_MAX bytes), *icase set when
 * its case differs.
 */
static int
lookup(const struct names *n, int rootfd, const char *path, char *found,
    int *icase)
{
	*icase = 0;
	if (files_exists(rootfd, path)) {
		snprintf(found, FILES_NAME_MAX, "%s", path);
		return 1;
	}
	if (n->ignore_case &&
	    files_find_icase(rootfd, path, found, FILES_NAME_MAX) == 0) {
		*icase = 1;
		return 1;
	}
	return 0;
}

/*
 * Steps 3 to 5 on out->path.  The client's directory serves a get when
 * the name is there: dnsmasq serves nothing else once the directory
 * exists, here the shared files stay reachable (pxelinux.0 need not be
 * copied into every client's directory).  A put lands there.
 */
static void
place(const struct names *n, int rootfd, int is_put,
    const struct udp_addr *peer, const struct udp_addr *local,
    struct names_out *out)
{
	char dir[64], own[FILES_NAME_MAX], found[FILES_NAME_MAX];
	char words[96];
	size_t i;
	int icase = 0, mine;

	if (n->lowercase)
		for (i = 0; out->path[i]; i++)
			out->path[i] = (char)tolower((unsigned char)out->path[i]);
	if (!n->per_client && !n->ignore_case)
		return;		/* the path as it is: no lookup to make */
	mine = n->per_client && client_dir(n, peer, local, dir, sizeof(dir)) &&
	    files_is_dir(rootfd, dir) &&
	    (size_t)snprintf(own, sizeof(own), "%s/%s", dir, out->path) <
	    sizeof(own);
	if (is_put) {
		if (!mine)
			return;
		snprintf(found, sizeof(found), "%s", own);
	} else if (mine && lookup(n, rootfd, own, found, &icase)) {
		/* the client's own */
	} else if (lookup(n, rootfd, out->path, found, &icase)) {
		mine = 0;	/* the shared one */
	} else {
		return;		/* not found: said as asked */
	}
	memcpy(out->path, found, strlen(found) + 1);
	if (mine) {
		snprintf(words, sizeof(words), "client dir %s/", dir);
		how_add(out, words);
	}
	if (icase)
		how_add(out, "case ignored");
}

int
names_resolve(const struct names *n, int rootfd, const char *asked,
    int is_put, const struct udp_addr *peer, const struct udp_addr *local,
    struct names_out *out, struct files_err *err, char *msg, size_t msgcap)
{
	char name[FILES_NAME_MAX];
	const char *from = asked;

	out->how[0] = '\0';
	out->changed = 0;
	if (n->map != NULL) {
		if (map_step(n, asked, is_put, peer, name, sizeof(name), out,
		    err, msg, msgcap) < 0)
			return -1;
		from = name;
	}
	if (files_normalize(from, n->backslash, out->path, sizeof(out->path),
	    err) < 0)
		return -1;
	place(n, rootfd, is_put, peer, local, out);
	out->changed = strcmp(out->path, asked) != 0;
	return 0;
}
