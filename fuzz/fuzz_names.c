/*
 * fuzz_names.c - issue 17's promise, end to end: remap, then the
 * per-client root, then containment, and openat2(RESOLVE_BENEATH) still
 * decides: no rule, no name leads outside the root.
 *
 * A map file and a name go through names_resolve() (src/names.c: the
 * rules of remap.c, files_normalize, --lowercase, --per-client ip,
 * --ignore-case), and what it gives is opened with files_open_read(), as
 * transfer.c does, in a real tree (made once per process in a private
 * temp directory, removed at exit):
 *	marker			outside the root
 *	outside/		marker, pxelinux.0, cfg: names a client could
 *				ask, outside the root
 *	root/			served: pxelinux.0, Upper.TXT, empty,
 *				Boot/BCD, Boot/boot.sdi, tftpboot/x,
 *				tftpboot/pxelinux.0, 127.0.0.1/cfg,
 *				127.0.0.1/pxelinux.0 (the IPv4 client's
 *				directory), fifo,
 *				in-link -> pxelinux.0, in-dir -> Boot,
 *				tftpboot/up-link -> ../pxelinux.0 (climbs,
 *				stays inside), abs-out -> BASE/outside/marker,
 *				rel-out -> ../outside/marker,
 *				out-dir -> BASE/outside, rel-out-dir ->
 *				../outside, tftpboot/deep-out ->
 *				../../marker, loop -> loop, and
 *				::1 -> BASE/outside (the IPv6 client's
 *				directory is a symlink out of the root)
 *
 * Input (as fuzz_remap's, with other header bits):
 *	[0]	bit 0: WRQ (else RRQ); 1: --lowercase; 2: --ignore-case;
 *		3: --backslash; 4: --per-client ip; 5: the client is
 *		[::1]:1234 (else 127.0.0.1:1234); 6: no --map (the map
 *		file's bytes are ignored); 7: names_resolve runs with
 *		TFTPX_NO_OPENAT2=1 (files.c's component walk)
 *	[1..]	the name, up to the first NUL (or the end)
 *	then	the map file, every byte of it (NULs too)
 * --per-client mac is not fuzzed: it asks the kernel's neighbour table
 * (netlink, neigh.c), a system call per input with nothing to find for
 * 127.0.0.1; ip mode takes the same path through place() after it.
 * Map files remap_parse refuses are skipped (fuzz_remap checks those),
 * and so are those glibc's regcomp cannot take (see fuzz_remap.c).
 *
 * Checked (abort() on failure, so libFuzzer keeps the input):
 *  - names_resolve returns (libFuzzer's -timeout watches that it does so
 *    in bounded time: REMAP_STEPS, REMAP_REPEATS), 0 or -1;
 *  - -1: a refusal with words; a map rule's words fit and end in msg;
 *  - 0: out.path is a NUL-terminated relative name within
 *    FILES_NAME_MAX, out.how ends within its bytes, out.changed says
 *    whether the path is the name asked; --backslash leaves no '\',
 *    --lowercase (without --ignore-case on a get) no upper case; with no
 *    map and no option the path is the name without its leading '/';
 *  - an RRQ: files_open_read() on out.path, through openat2 and through
 *    the walk.  An fd it returns is a regular file of the root, by
 *    (st_dev, st_ino), never one outside it; the walk is never looser
 *    than openat2 (a file it opens, openat2 opens too, the same one);
 *  - no fd is left open by names_resolve or the opens.
 * A WRQ is resolved only: files_upload_begin would create files, which
 * fuzz_request covers.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "fuzz.h"
#include "names.h"
#include "remap.h"
#include "udp.h"

#define MAP_MAX		2048
#define NAME_MAX_IN	1024
#define IDS_MAX		32
#define STALE_PREFIX	"tftpx-fuzz-names-"

#define F_WRQ		0x01
#define F_LOWER		0x02
#define F_ICASE		0x04
#define F_BACKSLASH	0x08
#define F_PER_CLIENT	0x10
#define F_IPV6		0x20
#define F_NO_MAP	0x40
#define F_WALK		0x80

struct fid {
	dev_t	dev;
	ino_t	ino;
};

struct fids {
	struct fid	id[IDS_MAX];
	unsigned	n;
};

static char base[1024];		/* the tree; "" until made */
static int rootfd = -1;
static struct fids allowed;	/* every regular file beneath root/ */
static struct fids outside;	/* every regular file outside it */

static int
fids_has(const struct fids *s, const struct stat *st)
{
	unsigned i;

	for (i = 0; i < s->n; i++)
		if (s->id[i].dev == st->st_dev && s->id[i].ino == st->st_ino)
			return 1;
	return 0;
}

static struct fids *collecting;	/* nftw's callback has no argument */

static int
collect_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F && S_ISREG(st->st_mode)) {
		FUZZ_CHECK(collecting->n < IDS_MAX);
		collecting->id[collecting->n].dev = st->st_dev;
		collecting->id[collecting->n].ino = st->st_ino;
		collecting->n++;
	}
	return 0;
}

static void
collect(const char *top, struct fids *into)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", base, top);
	collecting = into;
	FUZZ_CHECK(nftw(path, collect_one, 16, FTW_PHYS) == 0);
	collecting = NULL;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void
tree_remove(void)
{
	if (rootfd >= 0)
		close(rootfd);
	rootfd = -1;
	if (base[0])
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	base[0] = '\0';
}

/*
 * A run that died (a finding) left its tree: remove those of processes
 * that are gone, named STALE_PREFIX "PID-*".
 */
static void
tree_remove_stale(const char *top)
{
	char path[PATH_MAX];
	struct dirent *e;
	long pid;
	char *end;
	DIR *d;

	if ((d = opendir(top)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, STALE_PREFIX,
		    sizeof(STALE_PREFIX) - 1) != 0)
			continue;
		pid = strtol(e->d_name + sizeof(STALE_PREFIX) - 1, &end, 10);
		if (*end != '-' || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", top, e->d_name);
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

static void
put_file(const char *rel)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	f = fopen(path, "w");
	FUZZ_CHECK(f != NULL);
	fprintf(f, "%s\n", rel);	/* each its own contents */
	FUZZ_CHECK(fclose(f) == 0);
}

static void
put_dir(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	FUZZ_CHECK(mkdir(path, 0755) == 0);
}

/* A symlink at rel; a target starting "BASE/" is made absolute. */
static void
put_link(const char *target, const char *rel)
{
	char path[PATH_MAX], abs[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", base, rel);
	if (strncmp(target, "BASE/", 5) == 0) {
		snprintf(abs, sizeof(abs), "%s/%s", base, target + 5);
		target = abs;
	}
	FUZZ_CHECK(symlink(target, path) == 0);
}

static void
tree_make(void)
{
	static const char *const dirs[] = {
		"root", "outside", "root/Boot", "root/tftpboot",
		"root/127.0.0.1",
	};
	static const char *const files[] = {
		"marker", "outside/marker", "outside/pxelinux.0",
		"outside/cfg", "root/pxelinux.0", "root/Upper.TXT",
		"root/empty", "root/Boot/BCD", "root/Boot/boot.sdi",
		"root/tftpboot/x", "root/tftpboot/pxelinux.0",
		"root/127.0.0.1/cfg", "root/127.0.0.1/pxelinux.0",
	};
	static const char *const links[][2] = {
		{ "pxelinux.0", "root/in-link" },
		{ "Boot", "root/in-dir" },
		{ "../pxelinux.0", "root/tftpboot/up-link" },
		{ "BASE/outside/marker", "root/abs-out" },
		{ "../outside/marker", "root/rel-out" },
		{ "BASE/outside", "root/out-dir" },
		{ "../outside", "root/rel-out-dir" },
		{ "../../marker", "root/tftpboot/deep-out" },
		{ "loop", "root/loop" },
		{ "BASE/outside", "root/::1" },
	};
	char path[PATH_MAX];
	const char *t;
	unsigned i, j;

	t = getenv("TMPDIR");
	if (t == NULL || t[0] == '\0')
		t = "/tmp";
	tree_remove_stale(t);
	if ((size_t)snprintf(base, sizeof(base), "%s/" STALE_PREFIX
	    "%ld-XXXXXX", t, (long)getpid()) >= sizeof(base) ||
	    mkdtemp(base) == NULL) {
		fprintf(stderr, "fuzz_names: mkdtemp %s: %s\n", base,
		    strerror(errno));
		abort();
	}
	atexit(tree_remove);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		put_dir(dirs[i]);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		put_file(files[i]);
	for (i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		put_link(links[i][0], links[i][1]);
	snprintf(path, sizeof(path), "%s/root/fifo", base);
	FUZZ_CHECK(mkfifo(path, 0644) == 0);

	collect("root", &allowed);
	collect("outside", &outside);
	collect("marker", &outside);
	FUZZ_CHECK(allowed.n == 9 && outside.n == 4);
	for (i = 0; i < allowed.n; i++)
		for (j = 0; j < outside.n; j++)
			FUZZ_CHECK(allowed.id[i].dev != outside.id[j].dev ||
			    allowed.id[i].ino != outside.id[j].ino);

	snprintf(path, sizeof(path), "%s/root", base);
	rootfd = files_open_root(path);
	FUZZ_CHECK(rootfd >= 0);
}

/* The lowest free fd: what a leak would move. */
static int
fd_probe(void)
{
	int fd = dup(2);

	FUZZ_CHECK(fd >= 0);
	close(fd);
	return fd;
}

static void
walk_mode(int on)
{
	if (on)
		FUZZ_CHECK(setenv("TFTPX_NO_OPENAT2", "1", 1) == 0);
	else
		FUZZ_CHECK(unsetenv("TFTPX_NO_OPENAT2") == 0);
}

/*
 * Open path as transfer.c does, through openat2 (walk 0) or the walk.
 * Returns 1 with the file's identity in *st, or 0.
 */
static int
open_one(const char *path, int walk, struct stat *st)
{
	struct files_err err;
	uint64_t size = 0;
	int fd;

	memset(&err, 0, sizeof(err));
	walk_mode(walk);
	fd = files_open_read(rootfd, path, &size, &err);
	walk_mode(0);
	if (fd < 0) {
		FUZZ_CHECK(err.msg != NULL && err.msg[0] != '\0');
		return 0;
	}
	FUZZ_CHECK(fstat(fd, st) == 0);
	close(fd);
	FUZZ_CHECK(S_ISREG(st->st_mode));
	FUZZ_CHECK((uint64_t)st->st_size == size);
	if (fids_has(&outside, st) || !fids_has(&allowed, st)) {
		fprintf(stderr, "fuzz_names: \"%s\" (%s) opened a file outside "
		    "the root: dev %lu ino %lu\n", path, walk ? "walk" :
		    "openat2", (unsigned long)st->st_dev,
		    (unsigned long)st->st_ino);
		FUZZ_CHECK(!fids_has(&outside, st));
		FUZZ_CHECK(fids_has(&allowed, st));
	}
	return 1;
}

static void
check_open(const char *path)
{
	struct stat a, w;
	int by_openat2, by_walk;

	by_openat2 = open_one(path, 0, &a);
	by_walk = open_one(path, 1, &w);
	/* the walk refuses more ("..", every symlink), never less */
	if (by_walk) {
		FUZZ_CHECK(by_openat2);
		FUZZ_CHECK(a.st_dev == w.st_dev && a.st_ino == w.st_ino);
	}
}

static void
set_peer(struct udp_addr *peer, struct udp_addr *local, int v6)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&peer->ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&peer->ss;

	memset(peer, 0, sizeof(*peer));
	memset(local, 0, sizeof(*local));
	if (v6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(1234);
		s6->sin6_addr = in6addr_loopback;
		peer->len = sizeof(*s6);
		local->ss.ss_family = AF_INET6;
		local->len = sizeof(struct sockaddr_in6);
	} else {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(1234);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		peer->len = sizeof(*s4);
		local->ss.ss_family = AF_INET;
		local->len = sizeof(struct sockaddr_in);
	}
	local->ifindex = 0;
}

static int
has_upper(const char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			return 1;
	return 0;
}

static void
check_out(const struct names *n, unsigned flags, const char *name,
    const struct names_out *out)
{
	const char *bare = name;

	FUZZ_CHECK(memchr(out->path, '\0', sizeof(out->path)) != NULL);
	FUZZ_CHECK(memchr(out->how, '\0', sizeof(out->how)) != NULL);
	FUZZ_CHECK(out->path[0] != '\0' && out->path[0] != '/');
	FUZZ_CHECK(out->changed == (strcmp(out->path, name) != 0));
	if (n->backslash)
		FUZZ_CHECK(strchr(out->path, '\\') == NULL);
	/* a get with --ignore-case may find "Boot" for "boot" */
	if (n->lowercase && (!n->ignore_case || (flags & F_WRQ)))
		FUZZ_CHECK(!has_upper(out->path));
	if (n->map == NULL && !n->lowercase && !n->ignore_case &&
	    !n->backslash && !n->per_client) {
		while (*bare == '/')
			bare++;
		FUZZ_CHECK(strcmp(out->path, bare) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct udp_addr peer, local;
	struct names_out out;
	struct files_err err;
	struct remap_err rerr;
	struct names n;
	const uint8_t *nul, *map;
	size_t mapn, namen;
	char msg[REMAP_MAX], *name;
	unsigned flags;
	int fd0, r;

	if (rootfd < 0)
		tree_make();
	if (size < 1)
		return 0;
	flags = data[0];
	nul = memchr(data + 1, '\0', size - 1);
	namen = nul ? (size_t)(nul - data - 1) : size - 1;
	map = nul ? nul + 1 : data + size;
	mapn = (size_t)(data + size - map);
	if (flags & F_NO_MAP)
		mapn = 0;
	if (namen > NAME_MAX_IN || mapn > MAP_MAX ||
	    fuzz_regex_too_hard(map, mapn))
		return 0;

	fd0 = fd_probe();
	memset(&n, 0, sizeof(n));
	/* names_resolve reads no map file: map_dirfd is names_reload's */
	n.map_dirfd = -1;
	if (!(flags & F_NO_MAP) &&
	    remap_parse((const char *)map, mapn, &n.map, &rerr) < 0)
		return 0;
	n.per_client = flags & F_PER_CLIENT ? NAMES_PER_IP : 0;
	n.lowercase = !!(flags & F_LOWER);
	n.ignore_case = !!(flags & F_ICASE);
	n.backslash = !!(flags & F_BACKSLASH);
	set_peer(&peer, &local, !!(flags & F_IPV6));

	if ((name = malloc(namen + 1)) == NULL)
		abort();
	memcpy(name, data + 1, namen);
	name[namen] = '\0';
	memset(&out, 0, sizeof(out));
	memset(&err, 0, sizeof(err));
	memset(msg, 0, sizeof(msg));

	walk_mode(!!(flags & F_WALK));
	r = names_resolve(&n, rootfd, name, flags & F_WRQ, &peer, &local,
	    &out, &err, msg, sizeof(msg));
	walk_mode(0);
	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK(memchr(out.how, '\0', sizeof(out.how)) != NULL);
	if (r < 0) {
		FUZZ_CHECK(err.msg != NULL && err.msg[0] != '\0');
		FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
		if (err.why == FW_MAPPED)
			FUZZ_CHECK(n.map != NULL);
	} else {
		check_out(&n, flags, name, &out);
		if (!(flags & F_WRQ))
			check_open(out.path);
	}

	free(name);
	remap_free(n.map);
	FUZZ_CHECK(fd_probe() == fd0);
	return 0;
}
