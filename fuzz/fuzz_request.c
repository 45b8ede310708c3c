/*
 * fuzz_request.c - the server's request path: server.c, files.c and the
 * pure modules under it, over the fake loop and sockets of fake.h.
 *
 * Each input is one server life: server_new() on a small real directory
 * tree, datagrams to the listening address (server_datagram(), as
 * listener_cb hands them over) or to the transfers' sockets (through
 * their loop watchers, as the real loop calls them), time moved to the
 * next deadline or jumped; then, maybe, every timer run out; then
 * server_free().  Nothing leaks: the replay build runs under LSan, and
 * every socket and file the run opened must be closed at the end.
 *
 * The tree (created once per process, in a private temp directory):
 *	secret			0xa5 bytes, outside the root
 *	root/			served: a.txt (text), empty, b.bin (1500 B),
 *				c512 (one full block), big.bin (140000 B:
 *				blocks beyond a send train), sub/d.txt, fifo,
 *				in -> a.txt, out -> ../secret,
 *				sub/up -> ../../secret, abs -> /.../secret
 * After each run it is put back as it was: names uploads created are
 * removed, replaced files rewritten.
 *
 * Header (HDR bytes, missing ones read as 0):
 *	[0] bit 0 upload, 1 overwrite (implies upload), 2 backslash,
 *	    3 IPv6, 4-5 max-upload (none, 1, 512, 64 KiB), 6 classic
 *	    timers (rto-min 0), 7 run the timers out at the end
 *	[1] bits 0-2 blksize-max, 3-5 windowsize-max, 6-7 window bytes
 *	    (each from a table below)
 *	[2] bits 0-1 retries (5, 0, 1, 2), 2-3 timeout (1, 2, 5, 255 s),
 *	    4-5 max-transfers (8, 1, 2, 4), 6-7 max-per-client (64, 1, 2, 3)
 *	[3] bits 0-2: the n-th socket bind fails (0: none), 3-4 grace
 *	    (15, 0, 1, 255 s), 5 TFTPX_NO_OPENAT2 (the fallback walk),
 *	    6 TFTPX_NO_TMPFILE (named temps), 7 the first transfer's
 *	    watcher cannot be started
 * Then events, each a control byte c:
 *	c & 3 == 0: a datagram to the listening address; 1: to a live
 *	    transfer's socket, picked by bits 4-6 (with bit 3: delivered
 *	    twice in one wakeup).  The source, for the listener, bits 2-3:
 *	    0, 1 two ports of client A, 2 client B, 3 the other address
 *	    family (dropped); for a transfer, bit 2: A or B, and bit 7:
 *	    A's second port instead (a stranger to A's transfers).
 *	    Length: one byte, or 255 and two more (big endian); then the
 *	    bytes.
 *	c & 3 == 2: time moves to the next deadline plus (c >> 2) ms
 *	c & 3 == 3: time moves by a byte << (c >> 2 & 31) us
 * after each of which the due timers run, as the real loop does.
 *
 * Checked (abort() on failure, so libFuzzer keeps the input):
 *  - every datagram the server sends decodes, is no request, goes only to
 *    an address that sent us something, and from a socket bound to the
 *    local address the request reached (never the listening one);
 *  - DATA is at most max(512, blksize-max) bytes and never carries the
 *    secret's bytes; an OACK grants within the limits;
 *  - until a client has sent to a transfer's socket, that socket sends
 *    it one datagram and at most --retries identical copies (and at most
 *    one ERROR): the reflection bound; a stranger gets only ERROR 5;
 *  - an identical request from the port of a live transfer binds and
 *    sends nothing (the duplicate rule);
 *  - live transfers == watched sockets, within --max-transfers and
 *    --max-per-client;
 *  - with the timers run out every transfer ends, in bounded time;
 *  - after server_free(): no fd left open, the secret and the tree
 *    outside the root untouched, no temp file left, no file modified in
 *    place (an upload only ever links or renames a new inode).
 *
 * fuzz/seeds_request.py writes the seeds.  Built with -DFUZZ_REQUEST_TRACE
 * the target prints every datagram the server sends, to see what a seed
 * or a finding does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dedup.h"
#include "fake.h"
#include "fuzz.h"
#include "log.h"
#include "loop.h"
#include "packet.h"
#include "server.h"
#include "server_int.h"
#include "udp.h"

#define HDR		4
#define MAX_EVENTS	512
#define MAXFD		256
#define FD_SCAN		128	/* fds checked for leaks */
#define DRAIN_STEPS	200000
#define NSRC		4
#define SECRET_BYTE	0xa5
#define SECRET_LEN	1000

/* In a DATA payload: the secret was read (or a client uploaded this). */
static const uint8_t mark[4] = {
	SECRET_BYTE, SECRET_BYTE, SECRET_BYTE, SECRET_BYTE
};

/* ---- the tree ----------------------------------------------------------- */

enum { F_DIR, F_FILE, F_LINK, F_FIFO };
enum { C_TEXT, C_BIN };

struct fix {
	const char	*path;		/* beneath the root */
	const char	*target;	/* F_LINK; NULL: the secret, absolute */
	size_t		 size;		/* F_FILE */
	int		 kind;
	int		 style;
	ino_t		 ino;		/* as created */
	struct timespec	 mtime;
};

static struct fix fixtures[] = {
	{ "sub", NULL, 0, F_DIR, 0, 0, { 0, 0 } },
	{ "a.txt", NULL, 37, F_FILE, C_TEXT, 0, { 0, 0 } },
	{ "empty", NULL, 0, F_FILE, C_BIN, 0, { 0, 0 } },
	{ "b.bin", NULL, 1500, F_FILE, C_BIN, 0, { 0, 0 } },
	{ "c512", NULL, 512, F_FILE, C_BIN, 0, { 0, 0 } },
	/* blocks larger than a send train (65000 bytes) */
	{ "big.bin", NULL, 140000, F_FILE, C_BIN, 0, { 0, 0 } },
	{ "sub/d.txt", NULL, 700, F_FILE, C_TEXT, 0, { 0, 0 } },
	{ "fifo", NULL, 0, F_FIFO, 0, 0, { 0, 0 } },
	{ "in", "a.txt", 0, F_LINK, 0, 0, { 0, 0 } },
	{ "out", "../secret", 0, F_LINK, 0, 0, { 0, 0 } },
	{ "sub/up", "../../secret", 0, F_LINK, 0, 0, { 0, 0 } },
	{ "abs", NULL, 0, F_LINK, 0, 0, { 0, 0 } },
};
#define NFIX	(sizeof(fixtures) / sizeof(fixtures[0]))

static char base[PATH_MAX];		/* the temp directory */
static char rootdir[PATH_MAX + 8];	/* base/root */
static char secret[PATH_MAX + 8];	/* base/secret */
static struct stat secret_st;

/* File bytes: no 0xa5 anywhere, text with every kind of line end. */
static uint8_t
fix_byte(int style, size_t i)
{
	static const char text[] = "line\r\nbare\rcr\nnul\r\0x.";

	if (style == C_TEXT)
		return (uint8_t)text[i % (sizeof(text) - 1)];
	return (uint8_t)((i * 7 + 3) % 160);
}

static void
write_file(int dirfd, const char *path, size_t size, int style, int byte)
{
	uint8_t buf[2048];
	size_t i, n;
	int fd;

	if ((fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC, 0644)) < 0)
		abort();
	for (i = 0; i < size; i += n) {
		n = size - i < sizeof(buf) ? size - i : sizeof(buf);
		if (byte >= 0)
			memset(buf, byte, n);
		else {
			size_t k;

			for (k = 0; k < n; k++)
				buf[k] = fix_byte(style, i + k);
		}
		if (write(fd, buf, n) != (ssize_t)n)
			abort();
	}
	close(fd);
}

/* (Re)create fixture f beneath the root and note its inode. */
static void
fix_make(int rootfd, struct fix *f)
{
	struct stat st;

	switch (f->kind) {
	case F_DIR:
		if (mkdirat(rootfd, f->path, 0755) < 0 && errno != EEXIST)
			abort();
		break;
	case F_FILE:
		write_file(rootfd, f->path, f->size, f->style, -1);
		break;
	case F_LINK:
		if (symlinkat(f->target ? f->target : secret, rootfd,
		    f->path) < 0)
			abort();
		break;
	default:
		if (mkfifoat(rootfd, f->path, 0644) < 0)
			abort();
		break;
	}
	if (fstatat(rootfd, f->path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		abort();
	f->ino = st.st_ino;
	f->mtime = st.st_mtim;
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
	if (base[0])
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	fake_udp_close();
}

/*
 * A run that dies (a finding) leaves its tree behind: remove those of
 * processes that are gone, named tftpx-fuzz-PID-*.
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
		if (strncmp(e->d_name, "tftpx-fuzz-", 11) != 0)
			continue;
		pid = strtol(e->d_name + 11, &end, 10);
		if (*end != '-' || pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", top, e->d_name);
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	closedir(d);
}

static void
tree_make(void)
{
	static const char *const tops[] = { "/dev/shm", NULL, "/tmp" };
	const char *t;
	unsigned i;
	int rootfd;

	/* tmpfs when there is one: uploads fsync */
	for (i = 0; i < 3; i++) {
		t = tops[i] ? tops[i] : getenv("TMPDIR");
		if (t == NULL || t[0] == '\0')
			continue;
		tree_remove_stale(t);
		snprintf(base, sizeof(base), "%s/tftpx-fuzz-%ld-XXXXXX", t,
		    (long)getpid());
		if (mkdtemp(base) != NULL)
			break;
		base[0] = '\0';
	}
	if (base[0] == '\0')
		abort();
	atexit(tree_remove);
	snprintf(rootdir, sizeof(rootdir), "%s/root", base);
	snprintf(secret, sizeof(secret), "%s/secret", base);
	if (mkdir(rootdir, 0755) < 0)
		abort();
	write_file(AT_FDCWD, secret, SECRET_LEN, 0, SECRET_BYTE);
	if (stat(secret, &secret_st) < 0)
		abort();
	if ((rootfd = open(rootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	for (i = 0; i < NFIX; i++)
		fix_make(rootfd, &fixtures[i]);
	close(rootfd);
}

static const struct fix *
fix_find(const char *path)
{
	unsigned i;

	for (i = 0; i < NFIX; i++)
		if (strcmp(fixtures[i].path, path) == 0)
			return &fixtures[i];
	return NULL;
}

/* Remove the names uploads created in dir (beneath the root). */
static void
sweep_dir(int rootfd, const char *dir)
{
	char path[512];
	struct dirent *e;
	DIR *d;
	int fd;

	if ((fd = openat(rootfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;		/* "sub" was replaced: tree_check() puts it back */
	if ((d = fdopendir(fd)) == NULL)
		abort();
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		/* a temp is never left behind, by any outcome */
		FUZZ_CHECK(strncmp(e->d_name, ".tftpx-", 7) != 0);
		snprintf(path, sizeof(path), "%s%s%s", strcmp(dir, ".") ?
		    dir : "", strcmp(dir, ".") ? "/" : "", e->d_name);
		if (fix_find(path) == NULL) {
			/* only regular files are ever created */
			FUZZ_CHECK(e->d_type == DT_REG);
			if (unlinkat(rootfd, path, 0) < 0)
				abort();
		}
	}
	closedir(d);
}

/* After a run: outside the root untouched; the root put back. */
static void
tree_check(void)
{
	struct dirent *e;
	struct stat st;
	unsigned i, n = 0;
	int rootfd;
	DIR *d;

	if ((d = opendir(base)) == NULL)
		abort();
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		FUZZ_CHECK(strcmp(e->d_name, "root") == 0 ||
		    strcmp(e->d_name, "secret") == 0);
		n++;
	}
	closedir(d);
	FUZZ_CHECK(n == 2);
	FUZZ_CHECK(lstat(secret, &st) == 0);
	FUZZ_CHECK(st.st_ino == secret_st.st_ino &&
	    st.st_size == secret_st.st_size &&
	    st.st_mtim.tv_sec == secret_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == secret_st.st_mtim.tv_nsec);

	if ((rootfd = open(rootdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	sweep_dir(rootfd, ".");
	sweep_dir(rootfd, "sub");
	for (i = 0; i < NFIX; i++) {
		struct fix *f = &fixtures[i];

		if (fstatat(rootfd, f->path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_ino == f->ino) {
			/* the same inode: never written in place */
			FUZZ_CHECK(f->kind == F_DIR ||
			    (st.st_mtim.tv_sec == f->mtime.tv_sec &&
			    st.st_mtim.tv_nsec == f->mtime.tv_nsec));
			FUZZ_CHECK(f->kind != F_FILE ||
			    (size_t)st.st_size == f->size);
			continue;
		}
		/* replaced by an upload (a new inode): put it back */
		if (f->kind == F_DIR)
			FUZZ_CHECK(0);	/* a directory is never replaced */
		unlinkat(rootfd, f->path, 0);
		fix_make(rootfd, f);
	}
	close(rootfd);
}

/* ---- one run ------------------------------------------------------------ */

struct sock {
	int		 bound;		/* handed out by udp_bind this run */
	unsigned	 gen;		/* the bind count then */
	int		 has_peer;
	struct udp_addr	 peer;		/* the first destination */
	int		 heard;		/* the peer sent to this socket */
	unsigned	 copies;	/* non-ERROR sends to it before that */
	uint64_t	 first;		/* hash of the first of them */
	unsigned	 errors;	/* ERRORs to it before that */
};

struct run {
	const uint8_t	*ev;
	size_t		 ev_len;
	struct server_cfg cfg;
	struct server	*s;
	struct loop	*l;
	struct udp_addr	 local;		/* the listening address */
	struct udp_addr	 src[NSRC];
	int		 spoke[NSRC];	/* src[i] has sent a datagram */
	int		 mark_in;	/* a client sent the secret's bytes */
	unsigned	 sends;
	int		 last_fd;	/* the last socket bound */
	/* the transfer each source's last request started */
	int		 req_fd[NSRC];
	unsigned	 req_gen[NSRC];
	uint8_t		*req[NSRC];
	size_t		 req_len[NSRC];
	struct sock	 socks[MAXFD];
};

static unsigned
get8(struct run *r)
{
	unsigned v;

	if (r->ev_len == 0)
		return 0;
	v = r->ev[0];
	r->ev++;
	r->ev_len--;
	return v;
}

static void
mk_addr(struct udp_addr *a, int v6, unsigned host, int port)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (v6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr.s6_addr[0] = 0xfd;
		s6->sin6_addr.s6_addr[15] = (uint8_t)host;
		a->len = sizeof(*s6);
	} else {
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(0x7f000000u | host);
		a->len = sizeof(*s4);
	}
	udp_set_port(a, port);
}

static int
src_of(const struct run *r, const struct udp_addr *a)
{
	int i;

	for (i = 0; i < NSRC; i++)
		if (udp_same(a, &r->src[i]))
			return i;
	return -1;
}

static int
watched(const struct run *r, int fd, unsigned gen)
{
	size_t i;

	if (fd < 0 || !r->socks[fd].bound || r->socks[fd].gen != gen)
		return 0;
	for (i = 0; i < fake_loop_nfds(r->l); i++)
		if (fake_loop_fd(r->l, i)->fd == fd)
			return 1;
	return 0;
}

static void
hook_bind(void *arg, int fd, const struct udp_addr *a, int listening)
{
	struct run *r = arg;
	struct sock *k;

	FUZZ_CHECK(!listening);
	FUZZ_CHECK(fd >= 0 && fd < MAXFD);
	/* a fresh port on the very address the request reached */
	FUZZ_CHECK(udp_port(a) == 0);
	FUZZ_CHECK(udp_same_host(a, &r->local));
	k = &r->socks[fd];
	memset(k, 0, sizeof(*k));
	k->bound = 1;
	k->gen = fake_udp_binds();
	r->last_fd = fd;
}

static unsigned long long
num(const char *s)
{
	char *e;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &e, 10);
	FUZZ_CHECK(errno == 0 && e != s && *e == '\0');
	return v;
}

static void
check_oack(const struct run *r, const struct packet *p)
{
	unsigned long long bs = 512, ws = 1, v;
	size_t i;

	for (i = 0; i < p->nopts; i++) {
		v = num(p->opts[i].value);
		if (strcasecmp(p->opts[i].name, "blksize") == 0) {
			FUZZ_CHECK(v >= PKT_BLKSIZE_MIN &&
			    v <= r->cfg.blksize_max);
			bs = v;
		} else if (strcasecmp(p->opts[i].name, "windowsize") == 0) {
			FUZZ_CHECK(v >= 1 && v <= r->cfg.windowsize_max);
			ws = v;
		} else if (strcasecmp(p->opts[i].name, "timeout") == 0)
			FUZZ_CHECK(v >= 1 && v <= 255);
	}
	FUZZ_CHECK(ws == 1 || bs * ws <= r->cfg.window_bytes_max);
}

static void
hook_send(void *arg, int fd, const uint8_t *pkt, size_t len,
    const struct udp_addr *to)
{
	struct run *r = arg;
	struct packet p;
	struct sock *k;
	int i;

	r->sends++;
	FUZZ_CHECK(fd >= 0 && fd < MAXFD && r->socks[fd].bound);
	k = &r->socks[fd];
	/* only to whoever sent us something: no third party */
	i = src_of(r, to);
	FUZZ_CHECK(i >= 0 && r->spoke[i]);
	FUZZ_CHECK(packet_decode(pkt, len, &p) == 0);
#ifdef FUZZ_REQUEST_TRACE
	/* -DFUZZ_REQUEST_TRACE: what a seed makes the server say */
	fprintf(stderr, "t=%llu fd %d -> src %d: %s", (unsigned long long)
	    (loop_now(r->l) - FAKE_T0), fd, i, packet_op_name(p.op));
	if (p.op == TFTP_DATA)
		fprintf(stderr, " %u (%zu bytes)", p.block, p.data_len);
	else if (p.op == TFTP_ACK)
		fprintf(stderr, " %u", p.block);
	else if (p.op == TFTP_ERROR)
		fprintf(stderr, " %u \"%s\"", p.err_code, p.err_msg);
	for (size_t o = 0; p.op == TFTP_OACK && o < p.nopts; o++)
		fprintf(stderr, " %s=%s", p.opts[o].name, p.opts[o].value);
	fprintf(stderr, "\n");
#endif
	switch (p.op) {
	case TFTP_DATA:
		FUZZ_CHECK(p.data_len <= PKT_BLKSIZE_DEF ||
		    p.data_len <= r->cfg.blksize_max);
		FUZZ_CHECK(r->mark_in ||
		    memmem(p.data, p.data_len, mark, sizeof(mark)) == NULL);
		break;
	case TFTP_OACK:
		check_oack(r, &p);
		break;
	case TFTP_ERROR:
		FUZZ_CHECK(p.err_code <= 8);
		break;
	case TFTP_ACK:
		break;
	default:
		FUZZ_CHECK(0);		/* the server sends no requests */
	}
	if (!k->has_peer) {
		k->has_peer = 1;
		k->peer = *to;
	}
	if (!udp_same(to, &k->peer)) {
		/* RFC 1350 section 4: a stranger gets ERROR 5, nothing more */
		FUZZ_CHECK(p.op == TFTP_ERROR && p.err_code == TFTP_EBADID);
		return;
	}
	if (k->heard)
		return;
	/* the reflection bound: one packet and its retransmits */
	if (p.op == TFTP_ERROR) {
		FUZZ_CHECK(++k->errors <= 1);
		return;
	}
	if (k->copies == 0)
		k->first = dedup_hash(pkt, len);
	else
		FUZZ_CHECK(dedup_hash(pkt, len) == k->first);
	FUZZ_CHECK(++k->copies <= r->cfg.retries + 1);
}

/* Live transfers are the watched sockets, within the limits. */
static void
check_live(const struct run *r)
{
	size_t n = fake_loop_nfds(r->l), i, j, same;
	const struct sock *a, *b;

	FUZZ_CHECK(server_live(r->s) == n);
	FUZZ_CHECK(n <= r->cfg.max_transfers);
	for (i = 0; i < n; i++) {
		a = &r->socks[fake_loop_fd(r->l, i)->fd];
		FUZZ_CHECK(a->bound && a->has_peer);
		for (j = same = 0; j < n; j++) {
			b = &r->socks[fake_loop_fd(r->l, j)->fd];
			same += udp_same_host(&a->peer, &b->peer);
		}
		FUZZ_CHECK(same <= r->cfg.max_per_client);
	}
}

/* One byte, or 255 and two more (big endian); cut to what is left. */
static size_t
get_len(struct run *r)
{
	size_t n = get8(r);

	if (n == 255) {
		n = get8(r) << 8;
		n |= get8(r);
	}
	return n < r->ev_len ? n : r->ev_len;
}

static void
ev_listener(struct run *r, unsigned c)
{
	int i = (int)(c >> 2 & 3), dup;
	size_t len = get_len(r);
	const uint8_t *buf = r->ev;
	unsigned binds = fake_udp_binds(), sends = r->sends;

	r->ev += len;
	r->ev_len -= len;
	r->spoke[i] = 1;
	dup = r->req[i] != NULL && r->req_len[i] == len &&
	    memcmp(r->req[i], buf, len) == 0 &&
	    watched(r, r->req_fd[i], r->req_gen[i]);
	server_datagram(r->s, buf, len, &r->local, &r->src[i]);
	if (dup) {
		/* a re-sent request of a live transfer: dropped, silently */
		FUZZ_CHECK(fake_udp_binds() == binds && r->sends == sends);
		return;
	}
	if (fake_udp_binds() != binds &&
	    watched(r, r->last_fd, fake_udp_binds())) {
		/* it started a transfer */
		free(r->req[i]);
		if ((r->req[i] = malloc(len ? len : 1)) == NULL)
			abort();
		memcpy(r->req[i], buf, len);
		r->req_len[i] = len;
		r->req_fd[i] = r->last_fd;
		r->req_gen[i] = fake_udp_binds();
	}
}

static void
ev_transfer(struct run *r, unsigned c)
{
	size_t n = fake_loop_nfds(r->l), len = get_len(r);
	const uint8_t *buf = r->ev;
	struct loop_fd *w;
	struct sock *k;
	int i;

	r->ev += len;
	r->ev_len -= len;
	if (n == 0)
		return;
	w = fake_loop_fd(r->l, (c >> 4 & 7) % n);
	k = &r->socks[w->fd];
	i = (c & 0x80) ? 1 : (int)(c >> 2 & 1) * 2;
	r->spoke[i] = 1;
	if (k->has_peer && udp_same(&r->src[i], &k->peer))
		k->heard = 1;
	/* an upload of the secret's bytes would read back as a leak */
	if (memmem(buf, len, mark, sizeof(mark)) != NULL)
		r->mark_in = 1;
	fake_udp_queue(w->fd, buf, len, &r->src[i]);
	if (c & 8)
		fake_udp_queue(w->fd, buf, len, &r->src[i]);
	w->cb(w, 1);
	fake_udp_flush();
}

/* With no more datagrams, timers alone end every transfer, in time. */
static void
drain(struct run *r)
{
	uint64_t start = loop_now(r->l), next, bound;
	unsigned k;

	/* give-up: (retries + 1) expiries, each at most 16 x 255 s */
	bound = (uint64_t)(r->cfg.retries + 2) * 16 * 255 * 1000000u;
	for (k = 0; (next = fake_loop_next(r->l)) != 0; k++) {
		FUZZ_CHECK(k < DRAIN_STEPS);
		if (next > loop_now(r->l))
			fake_loop_set_now(r->l, next);
		loop_run_due(r->l);
		check_live(r);
	}
	FUZZ_CHECK(server_live(r->s) == 0);
	FUZZ_CHECK(loop_now(r->l) - start <= bound);
}

static void
configure(struct run *r, const uint8_t *h)
{
	static const unsigned blk[8] = {
		65464, 512, 1468, 8, 9, 1024, 4096, 511
	};
	static const unsigned win[8] = { 64, 1, 2, 4, 16, 65535, 8, 3 };
	static const uint64_t wbytes[4] = { 1 << 20, 65536, 4096, 1 << 20 };
	static const uint64_t maxup[4] = { 0, 1, 512, 65536 };
	static const unsigned retries[4] = { 5, 0, 1, 2 };
	static const unsigned timeout[4] = { 1, 2, 5, 255 };
	static const unsigned maxt[4] = { 8, 1, 2, 4 };
	static const unsigned maxpc[4] = { 64, 1, 2, 3 };
	static const unsigned grace[4] = { 15, 0, 1, 255 };
	struct server_cfg *c = &r->cfg;
	int v6 = h[0] >> 3 & 1;

	server_cfg_init(c);
	c->dir = rootdir;
	c->upload = h[0] & 3 ? 1 : 0;
	c->overwrite = h[0] >> 1 & 1;
	c->backslash = h[0] >> 2 & 1;
	c->max_upload = maxup[h[0] >> 4 & 3];
	if (h[0] & 0x40)
		c->rto_min = 0;
	c->blksize_max = blk[h[1] & 7];
	c->windowsize_max = win[h[1] >> 3 & 7];
	c->window_bytes_max = wbytes[h[1] >> 6];
	c->retries = retries[h[2] & 3];
	c->timeout = timeout[h[2] >> 2 & 3];
	c->max_transfers = maxt[h[2] >> 4 & 3];
	c->max_per_client = maxpc[h[2] >> 6];
	c->grace = grace[h[3] >> 3 & 3];

	mk_addr(&r->local, v6, 1, 69);
	mk_addr(&r->src[0], v6, 10, 1000);	/* client A */
	mk_addr(&r->src[1], v6, 10, 1001);	/* A, another port */
	mk_addr(&r->src[2], v6, 20, 2000);	/* client B */
	mk_addr(&r->src[3], !v6, 10, 1000);	/* the other family */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t preopen[FD_SCAN];
	static int ready;
	struct fake_udp_hooks hooks;
	uint8_t h[HDR];
	struct run *r;
	unsigned n, c;
	uint64_t next;
	int fd, i;

	if (!ready) {
		tree_make();
		/* no log lines: refusals are the common case here */
		log_set_level(-1);
		ready = 1;
	}
	memset(h, 0, sizeof(h));
	memcpy(h, data, size < HDR ? size : HDR);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		abort();
	r->ev = data + (size < HDR ? size : HDR);
	r->ev_len = size < HDR ? 0 : size - HDR;
	r->last_fd = -1;
	for (i = 0; i < NSRC; i++)
		r->req_fd[i] = -1;
	configure(r, h);
	if (h[3] & 0x20)
		setenv("TFTPX_NO_OPENAT2", "1", 1);
	if (h[3] & 0x40)
		setenv("TFTPX_NO_TMPFILE", "1", 1);

	hooks.arg = r;
	hooks.bind = hook_bind;
	hooks.send = hook_send;
	fake_udp_reset(&hooks, h[3] & 7);
	fake_loop_fail_fd_start(h[3] >> 7);
	/*
	 * The fds open before the run (libFuzzer's and the sanitizers' come
	 * and go between runs, a symbolizer's pipe say).
	 */
	for (fd = 0; fd < FD_SCAN; fd++)
		preopen[fd] = fcntl(fd, F_GETFD) != -1;
	if ((r->s = server_new(&r->cfg)) == NULL)
		abort();
	r->l = server_loop(r->s);
	for (n = 0; r->ev_len > 0 && n < MAX_EVENTS; n++) {
		c = get8(r);
		switch (c & 3) {
		case 0:
			ev_listener(r, c);
			break;
		case 1:
			ev_transfer(r, c);
			break;
		case 2:
			if ((next = fake_loop_next(r->l)) != 0 &&
			    next > loop_now(r->l))
				fake_loop_set_now(r->l, next);
			fake_loop_set_now(r->l, loop_now(r->l) +
			    (uint64_t)(c >> 2) * 1000);
			break;
		default:
			fake_loop_set_now(r->l, loop_now(r->l) +
			    ((uint64_t)get8(r) << (c >> 2 & 31)));
			break;
		}
		loop_run_due(r->l);
		check_live(r);
	}
	if (h[0] & 0x80)
		drain(r);
	server_free(r->s);

	/* every socket and file the run opened is closed */
	FUZZ_CHECK(fake_udp_max_fd() < FD_SCAN - 16);
	for (fd = 0; fd < FD_SCAN; fd++)
		FUZZ_CHECK(preopen[fd] || fcntl(fd, F_GETFD) == -1);
	unsetenv("TFTPX_NO_OPENAT2");
	unsetenv("TFTPX_NO_TMPFILE");
	tree_check();
	for (i = 0; i < NSRC; i++)
		free(r->req[i]);
	free(r);
	return 0;
}
