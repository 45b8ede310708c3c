/*
 * files.c - the served root, path containment, and atomic uploads.
 *
 * Every name a client sends is opened relative to the root directory fd.
 * The kernel does the containment where it can: openat2() with
 * RESOLVE_BENEATH refuses "..", absolute symlinks and any symlink that
 * would climb out, while still serving symlinks that stay inside.  Where
 * openat2 is missing (Linux < 5.6, or a seccomp filter that answers ENOSYS
 * or EPERM) we walk the path one component at a time with O_NOFOLLOW and
 * refuse ".." and every symlink: stricter, but never looser.
 *
 * Two environment variables force the fallbacks so tests (unit and e2e,
 * on the real binary) exercise them on a modern kernel:
 *	TFTPX_NO_OPENAT2=1	always use the component walk
 *	TFTPX_NO_TMPFILE=1	uploads use a named temp, not O_TMPFILE
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "files.h"
#include "packet.h"

#if !defined(__GLIBC__) && !defined(RENAME_NOREPLACE)
/* musl (1.2.3) has no renameat2 wrapper: the system call itself */
#define RENAME_NOREPLACE	1
#define renameat2(ofd, old, nfd, new, flags) \
	((int)syscall(SYS_renameat2, (ofd), (old), (nfd), (new), (flags)))
#endif

#define FILES_PATH_MAX		4096	/* longest path the walk copies */
#define FILES_STALE_DEPTH	32	/* how deep files_remove_stale goes */
#define FILES_TMP_TRIES		8	/* named temp attempts before giving up */

/*
 * Set once openat2 answered ENOSYS: the kernel will not grow it while we
 * run, so later opens go straight to the walk.
 */
static int files_no_openat2;

static int
files_env_on(const char *name)
{
	const char *v;

	v = getenv(name);
	return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

void
files_set_err(struct files_err *err, int code, int why, int sys,
    const char *msg)
{
	err->code = code;
	err->why = why;
	err->sys = sys;
	err->msg = msg;
}

/*
 * Map an open errno to what the client is told.  walk says whether the
 * component walk produced it, where ELOOP means "we met a symlink".
 */
static void
files_open_err(int sys, int walk, struct files_err *err)
{
	switch (sys) {
	case ENOENT:
	case ENOTDIR:
		files_set_err(err, TFTP_ENOTFOUND, FW_NOT_FOUND, sys,
		    "file not found");
		break;
	case EXDEV:
		files_set_err(err, TFTP_EACCESS, FW_ESCAPE, sys,
		    "path leaves the root");
		break;
	case ELOOP:
		files_set_err(err, TFTP_EACCESS, walk ? FW_SYMLINK : FW_ESCAPE,
		    sys, walk ? "symlink refused" : "path leaves the root");
		break;
	case EACCES:
	case EPERM:
		files_set_err(err, TFTP_EACCESS, FW_PERM, sys,
		    "permission denied");
		break;
	case ENAMETOOLONG:
		files_set_err(err, TFTP_EACCESS, FW_BAD_NAME, sys,
		    "file name too long");
		break;
	default:
		files_set_err(err, TFTP_EUNDEF, FW_IO, sys,
		    "cannot open file");
		break;
	}
}

void
files_write_err(int sys, struct files_err *err)
{
	switch (sys) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		files_set_err(err, TFTP_ENOSPACE, FW_NO_SPACE, sys,
		    "disk full");
		break;
	default:
		files_set_err(err, TFTP_EUNDEF, FW_IO, sys, "write error");
		break;
	}
}

int
files_open_root(const char *dir)
{
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int
files_normalize(const char *name, int backslash, char *out, size_t cap,
    struct files_err *err)
{
	size_t len, i, n;
	char c;

	if (name == NULL || name[0] == '\0') {
		files_set_err(err, TFTP_EACCESS, FW_BAD_NAME, 0,
		    "empty file name");
		return -1;
	}
	len = strnlen(name, cap);
	if (len >= cap) {
		files_set_err(err, TFTP_EACCESS, FW_BAD_NAME, 0,
		    "file name too long");
		return -1;
	}
	/* '\' turns into '/' before stripping, so "\boot\x" is "boot/x". */
	for (i = 0; name[i] == '/' || (backslash && name[i] == '\\'); i++)
		;
	if (name[i] == '\0') {
		files_set_err(err, TFTP_EACCESS, FW_BAD_NAME, 0,
		    "empty file name");
		return -1;
	}
	for (n = 0; name[i] != '\0'; i++) {
		c = name[i];
		out[n++] = (backslash && c == '\\') ? '/' : c;
	}
	out[n] = '\0';
	return 0;
}

/*
 * One directory step of the walk.  O_PATH needs only search permission,
 * like ordinary path lookup.  A symlink opened O_PATH|O_NOFOLLOW is the
 * link itself, which O_DIRECTORY rejects as ENOTDIR; report it as ELOOP so
 * the client hears "symlink refused", not "file not found".
 */
static int
files_walk_dir(int cur, const char *name)
{
	struct stat st;
	int fd;

	fd = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOTDIR &&
	    fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		errno = ELOOP;
	return fd;
}

/*
 * The fallback: open PATH beneath ROOTFD one component at a time.  Empty
 * and "." components are skipped, ".." fails with EXDEV and any symlink
 * with ELOOP.  Returns an fd, or -1 with errno set.
 */
static int
files_walk(int rootfd, const char *path, int flags)
{
	char buf[FILES_PATH_MAX];
	char *p, *comp, *pending = NULL;
	struct stat st;
	size_t len;
	int cur = rootfd, fd = -1, trail = 0, slash, saved;

	len = strlen(path);
	if (len >= sizeof buf) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* openat2 refuses absolute paths with RESOLVE_BENEATH; so do we. */
	if (path[0] == '/') {
		errno = EXDEV;
		return -1;
	}
	memcpy(buf, path, len + 1);

	p = buf;
	for (;;) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		comp = p;
		while (*p != '\0' && *p != '/')
			p++;
		slash = *p == '/';
		if (slash)
			*p++ = '\0';
		/* A skipped "." leaves trail alone: "dir/." is a directory. */
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			errno = EXDEV;
			goto fail;
		}
		if (pending != NULL) {
			fd = files_walk_dir(cur, pending);
			if (fd == -1)
				goto fail;
			if (cur != rootfd)
				close(cur);
			cur = fd;
		}
		pending = comp;
		trail = slash;
	}
	if (pending == NULL)
		pending = ".";
	/* "name/" names a directory, as it would for the kernel's lookup. */
	if (trail)
		flags |= O_DIRECTORY;

	fd = openat(cur, pending, flags | O_NOFOLLOW);
	if (fd == -1 && errno == ENOTDIR && (flags & O_DIRECTORY) &&
	    fstatat(cur, pending, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		errno = ELOOP;
	/* O_PATH|O_NOFOLLOW opens a symlink itself instead of failing. */
	if (fd != -1 && (flags & O_PATH) &&
	    (fstat(fd, &st) == -1 || S_ISLNK(st.st_mode))) {
		close(fd);
		fd = -1;
		errno = ELOOP;
	}
	if (fd == -1)
		goto fail;
	if (cur != rootfd)
		close(cur);
	return fd;

fail:
	saved = errno;
	if (cur != rootfd)
		close(cur);
	errno = saved;
	return -1;
}

/*
 * Open PATH beneath ROOTFD with FLAGS (no O_CREAT).  Returns an fd, or -1
 * with err filled.
 */
static int
files_resolve(int rootfd, const char *path, int flags, struct files_err *err)
{
	struct open_how how;
	int fd;

	if (!files_no_openat2 && !files_env_on("TFTPX_NO_OPENAT2")) {
		memset(&how, 0, sizeof how);
		how.flags = (uint64_t)flags;
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
		if (fd >= 0)
			return fd;
		if (errno == ENOSYS)
			files_no_openat2 = 1;
		/*
		 * EPERM may be a seccomp filter hiding openat2, or a real
		 * refusal; the walk settles which, and it is never looser.
		 */
		else if (errno != EPERM) {
			files_open_err(errno, 0, err);
			return -1;
		}
	}
	fd = files_walk(rootfd, path, flags | O_CLOEXEC);
	if (fd == -1) {
		files_open_err(errno, 1, err);
		return -1;
	}
	return fd;
}

int
files_open_read(int rootfd, const char *path, uint64_t *size,
    struct files_err *err)
{
	struct stat st;
	int fd, fl;

	/* O_NONBLOCK so a FIFO planted in the root cannot hang the open. */
	fd = files_resolve(rootfd, path,
	    O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, err);
	if (fd == -1)
		return -1;
	/* Check the fd we hold, not the name: no stat->open race. */
	if (fstat(fd, &st) == -1) {
		files_open_err(errno, 0, err);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		files_set_err(err, TFTP_EACCESS, FW_NOT_REGULAR, 0,
		    "not a regular file");
		goto fail;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl == -1 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1) {
		files_open_err(errno, 0, err);
		goto fail;
	}
	*size = (uint64_t)st.st_size;
	return fd;

fail:
	close(fd);
	return -1;
}

/* Does path resolve beneath the root, opened with flags (O_PATH ...)? */
static int
files_resolves(int rootfd, const char *path, int flags)
{
	struct files_err err;
	int fd;

	fd = files_resolve(rootfd, path, flags | O_PATH | O_CLOEXEC, &err);
	if (fd == -1)
		return 0;
	close(fd);
	return 1;
}

int
files_exists(int rootfd, const char *path)
{
	return files_resolves(rootfd, path, 0);
}

int
files_is_dir(int rootfd, const char *path)
{
	return files_resolves(rootfd, path, O_DIRECTORY);
}

/*
 * The entry of directory dir (a path beneath the root, "" for the root)
 * equal to name but for ASCII case, into best (cap bytes): the first in
 * byte order when several are.  Returns 0, or -1 when none is.
 */
static int
icase_entry(int rootfd, const char *dir, const char *name, char *best,
    size_t cap)
{
	struct files_err err;
	struct dirent *d;
	DIR *dp;
	int fd;

	fd = dir[0] ? files_resolve(rootfd, dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC, &err) : openat(rootfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fd == -1)
		return -1;
	if ((dp = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	best[0] = '\0';
	while ((d = readdir(dp)) != NULL) {
		if (strcasecmp(d->d_name, name) != 0 ||
		    strlen(d->d_name) >= cap)
			continue;
		if (best[0] == '\0' || strcmp(d->d_name, best) < 0)
			snprintf(best, cap, "%s", d->d_name);
	}
	closedir(dp);
	return best[0] ? 0 : -1;
}

int
files_find_icase(int rootfd, const char *path, char *out, size_t cap)
{
	char comp[NAME_MAX + 1], real[NAME_MAX + 1];
	const char *p = path, *e;
	size_t n, len = 0;

	out[0] = '\0';
	/* "name/" names a directory, never the file "name" (as openat2) */
	if (path[0] == '\0' || path[strlen(path) - 1] == '/')
		return -1;
	while (*p != '\0') {
		for (e = p; *e != '\0' && *e != '/'; e++)
			;
		n = (size_t)(e - p);
		if (n > NAME_MAX)
			return -1;
		memcpy(comp, p, n);
		comp[n] = '\0';
		p = *e ? e + 1 : e;
		if (n == 0)
			continue;
		/* as asked where it exists; ".." is containment's to judge */
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0 ||
		    icase_entry(rootfd, out, comp, real, sizeof(real)) < 0)
			snprintf(real, sizeof(real), "%s", comp);
		if (len + (len ? 1 : 0) + strlen(real) + 1 > cap)
			return -1;
		len += (size_t)snprintf(out + len, cap - len, "%s%s",
		    len ? "/" : "", real);
	}
	return strcmp(out, path) != 0 && files_exists(rootfd, out) ? 0 : -1;
}

/* Is NAME one of our named temps? */
static int
files_is_tmp_name(const char *name)
{
	size_t len, plen, slen;

	len = strlen(name);
	plen = sizeof FILES_TMP_PREFIX - 1;
	slen = sizeof FILES_TMP_SUFFIX - 1;
	return len >= plen + slen &&
	    strncmp(name, FILES_TMP_PREFIX, plen) == 0 &&
	    strcmp(name + len - slen, FILES_TMP_SUFFIX) == 0;
}

/*
 * Random bytes for temp names.  Uniqueness is what matters (O_EXCL does
 * the rest), so when the kernel has no entropy to give we still get a
 * name from the clock and pid rather than failing the upload.
 */
static void
files_random(unsigned char *buf, size_t len)
{
	static uint64_t counter;
	uint64_t mix;
	struct timespec ts;
	ssize_t n;
	size_t i;
	int fd;

	n = getrandom(buf, len, GRND_NONBLOCK);
	if (n == (ssize_t)len)
		return;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd != -1) {
		n = read(fd, buf, len);
		close(fd);
		if (n == (ssize_t)len)
			return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	mix = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^
	    (uint64_t)getpid() << 40 ^ counter++;
	for (i = 0; i < len; i++) {
		/* xorshift: a different byte per position, cheap and enough */
		mix ^= mix << 13;
		mix ^= mix >> 7;
		mix ^= mix << 17;
		buf[i] = (unsigned char)mix;
	}
}

/* Fill tmp (at least 64 bytes) with a fresh ".tftpx-<hex>.tmp" name. */
static void
files_tmp_name(char *tmp, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[8];
	char txt[2 * sizeof rnd + 1];
	size_t i;

	files_random(rnd, sizeof rnd);
	for (i = 0; i < sizeof rnd; i++) {
		txt[2 * i] = hex[rnd[i] >> 4];
		txt[2 * i + 1] = hex[rnd[i] & 15];
	}
	txt[2 * sizeof rnd] = '\0';
	snprintf(tmp, cap, "%s%s%s", FILES_TMP_PREFIX, txt, FILES_TMP_SUFFIX);
}

/* Errors creating or placing the temp: a full disk is the client's 3. */
static void
files_create_err(int sys, struct files_err *err)
{
	if (sys == ENOSPC || sys == EDQUOT || sys == EFBIG)
		files_write_err(sys, err);
	else
		files_open_err(sys, 0, err);
}

/*
 * Split an upload's path into its directory (in dir, FILES_NAME_MAX
 * bytes; *dirpart is "." or dir) and its last component (into u->base),
 * refusing names that are not a file's or are our temps'.
 */
static int
upload_name(const char *path, char *dir, const char **dirpart,
    struct upload *u, struct files_err *err)
{
	const char *base;
	char *slash;
	size_t len = strlen(path);

	if (len >= FILES_NAME_MAX) {
		files_set_err(err, TFTP_EACCESS, FW_BAD_NAME, ENAMETOOLONG,
		    "file name too long");
		return -1;
	}
	memcpy(dir, path, len + 1);
	slash = strrchr(dir, '/');
	if (slash == NULL) {
		*dirpart = ".";
		base = dir;
	} else {
		*slash = '\0';
		*dirpart = dir[0] != '\0' ? dir : ".";
		base = slash + 1;
	}
	if (base[0] == '\0' || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0) {
		files_set_err(err, TFTP_EACCESS, FW_BAD_NAME, 0,
		    "not a file name");
		return -1;
	}
	/*
	 * files_remove_stale() deletes these at the next start, and a
	 * client must not collide with our own temps on purpose.
	 */
	if (files_is_tmp_name(base)) {
		files_set_err(err, TFTP_EACCESS, FW_RESERVED, 0,
		    "reserved file name");
		return -1;
	}
	memcpy(u->base, base, strlen(base) + 1);
	return 0;
}

/* Create a named temp in u->dirfd, recording its name in u->tmp. */
static int
files_named_tmp(struct upload *u, struct files_err *err)
{
	int i, fd;

	for (i = 0; i < FILES_TMP_TRIES; i++) {
		files_tmp_name(u->tmp, sizeof u->tmp);
		fd = openat(u->dirfd, u->tmp, O_CREAT | O_EXCL | O_RDWR |
		    O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd != -1) {
			u->fd = fd;
			u->named = 1;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	files_create_err(errno, err);
	u->tmp[0] = '\0';
	return -1;
}

int
files_upload_begin(int rootfd, const char *path, int overwrite,
    struct upload *u, struct files_err *err)
{
	char dir[FILES_NAME_MAX];
	const char *dirpart;
	struct stat st;

	/* Set first, so files_upload_abort() is safe after any failure. */
	u->dirfd = -1;
	u->fd = -1;
	u->named = 0;
	u->overwrite = overwrite;
	u->base[0] = '\0';
	u->tmp[0] = '\0';
	u->claimed = 0;
	u->next_live = NULL;
	if (upload_name(path, dir, &dirpart, u, err) < 0)
		return -1;

	/* O_RDONLY, not O_PATH: the directory is fsync'ed at commit. */
	u->dirfd = files_resolve(rootfd, dirpart,
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC, err);
	if (u->dirfd == -1) {
		if (err->code == TFTP_ENOTFOUND) {
			err->why = FW_NO_DIR;
			err->msg = "directory not found";
		}
		return -1;
	}

	if (fstatat(u->dirfd, u->base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!overwrite) {
			files_set_err(err, TFTP_EEXISTS, FW_EXISTS, EEXIST,
			    "file already exists "
			    "(run with --overwrite to replace it)");
			goto fail;
		}
		/* Renaming over a symlink or a directory is not ours to do. */
		if (!S_ISREG(st.st_mode)) {
			files_set_err(err, TFTP_EACCESS, FW_NOT_REGULAR, 0,
			    "not a regular file");
			goto fail;
		}
	} else if (errno != ENOENT) {
		files_open_err(errno, 0, err);
		goto fail;
	}

	/*
	 * O_TMPFILE has no name at all until commit, so a crash leaves
	 * nothing behind.  File systems without it (vfat, some network
	 * ones) answer EOPNOTSUPP, EISDIR or EINVAL: use a named temp.
	 */
	if (!files_env_on("TFTPX_NO_TMPFILE")) {
		u->fd = openat(u->dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC,
		    0644);
		if (u->fd != -1)
			return 0;
		if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
			files_create_err(errno, err);
			goto fail;
		}
	}
	if (files_named_tmp(u, err) == -1)
		goto fail;
	return 0;

fail:
	files_upload_abort(u);
	return -1;
}

/*
 * Give the anonymous O_TMPFILE a name in u->dirfd: NAME, or when NAME is
 * NULL a fresh temp name recorded in u->tmp.  Returns 0 or -1 with errno.
 */
static int
files_link_tmpfile(struct upload *u, const char *name)
{
	char proc[64];
	int i, rc = -1;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", u->fd);
	for (i = 0; i < FILES_TMP_TRIES; i++) {
		if (name == NULL)
			files_tmp_name(u->tmp, sizeof u->tmp);
		rc = linkat(AT_FDCWD, proc, u->dirfd,
		    name != NULL ? name : u->tmp, AT_SYMLINK_FOLLOW);
		/* No /proc (a bare chroot): AT_EMPTY_PATH needs privilege. */
		if (rc == -1 && errno == ENOENT)
			rc = linkat(u->fd, "", u->dirfd,
			    name != NULL ? name : u->tmp, AT_EMPTY_PATH);
		if (rc == 0 || name != NULL || errno != EEXIST)
			break;
	}
	if (rc == 0 && name == NULL)
		u->named = 1;
	if (rc == -1 && name == NULL)
		u->tmp[0] = '\0';
	return rc;
}

/* Create-only placement of a named temp: never replaces a name. */
static int
files_link_named(struct upload *u)
{
	if (linkat(u->dirfd, u->tmp, u->dirfd, u->base, 0) == 0) {
		/* A failed unlink leaves a stale temp for the next start. */
		unlinkat(u->dirfd, u->tmp, 0);
		return 0;
	}
	/* No hard links (vfat): the kernel can still refuse to replace. */
	if (errno == EPERM || errno == EOPNOTSUPP)
		return renameat2(u->dirfd, u->tmp, u->dirfd, u->base,
		    RENAME_NOREPLACE);
	return -1;
}

int
files_upload_commit(struct upload *u, struct files_err *err)
{
	if (u->fd == -1 || u->dirfd == -1) {
		files_set_err(err, TFTP_EUNDEF, FW_IO, EBADF,
		    "no upload in progress");
		goto fail;
	}
	/* Data first, then the name: a crash must not show a short file. */
	if (fsync(u->fd) == -1) {
		files_write_err(errno, err);
		goto fail;
	}
	if (!u->named && !u->overwrite) {
		if (files_link_tmpfile(u, u->base) == -1)
			goto place_err;
	} else {
		/* rename() replaces atomically; it needs a name to move. */
		if (!u->named && files_link_tmpfile(u, NULL) == -1)
			goto place_err;
		if (u->overwrite) {
			if (renameat(u->dirfd, u->tmp, u->dirfd, u->base) == -1)
				goto place_err;
		} else if (files_link_named(u) == -1)
			goto place_err;
	}
	u->named = 0;
	u->tmp[0] = '\0';
	/* The new name is durable only once its directory is. */
	if (fsync(u->dirfd) == -1 && errno != EINVAL) {
		files_write_err(errno, err);
		goto fail;
	}
	close(u->fd);
	close(u->dirfd);
	u->fd = -1;
	u->dirfd = -1;
	return 0;

place_err:
	if (errno == EEXIST)
		files_set_err(err, TFTP_EEXISTS, FW_EXISTS, EEXIST,
		    "file already exists "
		    "(run with --overwrite to replace it)");
	else
		files_create_err(errno, err);
fail:
	files_upload_abort(u);
	return -1;
}

void
files_upload_abort(struct upload *u)
{
	if (u->named && u->tmp[0] != '\0' && u->dirfd != -1)
		unlinkat(u->dirfd, u->tmp, 0);
	u->named = 0;
	u->tmp[0] = '\0';
	if (u->fd != -1)
		close(u->fd);
	if (u->dirfd != -1)
		close(u->dirfd);
	u->fd = -1;
	u->dirfd = -1;
}

/*
 * Remove stale temps in the directory DFD (consumed) and below it.  Only
 * real directories are entered (O_NOFOLLOW), so a symlink cannot lead the
 * sweep out of the root.
 */
static int
files_stale_dir(int dfd, int depth)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int n = 0, type, cfd;

	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		type = de->d_type;
		if (type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == -1)
				continue;
			type = S_ISDIR(st.st_mode) ? DT_DIR :
			    S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
		}
		if (type == DT_REG && files_is_tmp_name(de->d_name)) {
			if (unlinkat(dirfd(d), de->d_name, 0) == 0)
				n++;
		} else if (type == DT_DIR && depth < FILES_STALE_DEPTH) {
			cfd = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd != -1)
				n += files_stale_dir(cfd, depth + 1);
		}
	}
	closedir(d);
	return n;
}

int
files_remove_stale(int rootfd)
{
	int fd;

	/* A fresh open: readdir must not move the root fd's offset. */
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	return files_stale_dir(fd, 0);
}

long
files_pread_full(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (long)got;
}

int
files_write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
files_upload_claim(struct files_uploads *reg, struct upload *u,
    struct files_err *err)
{
	struct upload *o;
	struct stat st;

	if (fstat(u->dirfd, &st) == -1) {
		files_set_err(err, TFTP_EUNDEF, FW_IO, errno,
		    "cannot stat the target directory");
		return -1;
	}
	for (o = reg->head; o != NULL; o = o->next_live) {
		if (o->dir_dev == st.st_dev && o->dir_ino == st.st_ino &&
		    strcmp(o->base, u->base) == 0) {
			files_set_err(err, TFTP_EACCESS, FW_BUSY, 0,
			    "another upload of this name is in progress");
			return -1;
		}
	}
	u->dir_dev = st.st_dev;
	u->dir_ino = st.st_ino;
	u->claimed = 1;
	u->next_live = reg->head;
	reg->head = u;
	return 0;
}

void
files_upload_release(struct files_uploads *reg, struct upload *u)
{
	struct upload **pp;

	if (!u->claimed)
		return;
	for (pp = &reg->head; *pp != NULL; pp = &(*pp)->next_live) {
		if (*pp == u) {
			*pp = u->next_live;
			break;
		}
	}
	u->claimed = 0;
	u->next_live = NULL;
}

/* The words of why; see files.h. */
const char *
files_reason(const struct files_err *err, int op, const char *path,
    char *buf, size_t cap)
{
	const char *m = err->msg ? err->msg : "refused";

	switch (err->why) {
	case FW_NOT_FOUND:
	case FW_NO_DIR:
		if (op == TFTP_WRQ)
			snprintf(buf, cap, "directory not found: %s (uploads "
			    "do not create directories)", path);
		else
			snprintf(buf, cap, "not found: %s", path);
		return buf;
	case FW_EXISTS:
		snprintf(buf, cap, "exists: %s; run with --overwrite to "
		    "replace", path);
		return buf;
	case FW_ESCAPE:
		return "access denied: path leaves the root";
	case FW_PERM:
		snprintf(buf, cap, "access denied: %s is not %s by the server "
		    "(uid %u)", path, op == TFTP_WRQ ? "writable" : "readable",
		    (unsigned)geteuid());
		return buf;
	case FW_SYMLINK:
		snprintf(buf, cap, "access denied: %s goes through a symlink "
		    "(without openat2 every symlink is refused)", path);
		return buf;
	case FW_NOT_REGULAR:
		snprintf(buf, cap, "access denied: %s is not a regular file",
		    path);
		return buf;
	case FW_RESERVED:
		return "access denied: names starting with .tftpx- are the "
		    "server's temp files";
	case FW_BAD_NAME:
		snprintf(buf, cap, "access denied: %s", m);
		return buf;
	case FW_MAPPED:
		snprintf(buf, cap, "refused by a --map rule: %s", m);
		return buf;
	case FW_NO_SPACE:
		snprintf(buf, cap, "no space: %s", m);
		return buf;
	case FW_BUSY:
		snprintf(buf, cap, "busy name: another upload of %s is in "
		    "progress", path);
		return buf;
	default:
		if (err->sys == 0)
			return m;
		snprintf(buf, cap, "%s: %s: %s", m, path, strerror(err->sys));
		return buf;
	}
}

/* ---- files shared by readers ------------------------------------------ */

struct files_shared_ent {
	dev_t			 dev;
	ino_t			 ino;
	int			 fd;
	unsigned		 refs;
	const uint8_t		*map;		/* the file's first maplen bytes */
	size_t			 maplen;	/*  or NULL, 0: pread only */
	struct files_shared_ent	*next;
};

/* The longest read copied from a mapping; longer ones are one pread. */
#define FILES_MAP_READ_MAX	8192

/*
 * Largest file mapped.  A mapped page counts in the server's RSS once a
 * reader touched it (page cache the kernel holds either way, but RSS is
 * what people watch): kernels and initrds of a fleet's boot, not a root
 * file system image, which is read with pread.
 */
#define FILES_MAP_MAX	((uint64_t)64 << 20)

static unsigned
shared_bucket(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)ino;

	h *= 0xff51afd7ed558ccdull;
	return (unsigned)(h >> 56) % FILES_SHARED_BUCKETS;
}

/*
 * The guard of copies from mappings.  A served file truncated in place
 * (not replaced: an upload or `cp` to a new name and rename keeps the old
 * inode whole) leaves pages past its end that fault with SIGBUS.  While
 * map_copy runs, the handler jumps back out of the copy; any other
 * SIGBUS is a bug and kills the server as it would without a handler.
 * sigsetjmp without the mask and SA_NODEFER keep the copy free of system
 * calls: SIGBUS is never blocked, so there is no mask to restore.
 */
static sigjmp_buf		 map_jmp;
static volatile sig_atomic_t	 map_copying;
static int			 map_guarded;

static void
map_bus(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (map_copying) {
		map_copying = 0;
		siglongjmp(map_jmp, 1);
	}
	signal(sig, SIG_DFL);	/* fault again, without us: the default */
}

int
files_map_guard(void)
{
	struct sigaction sa;

	if (map_guarded)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = map_bus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) == -1)
		return -1;
	map_guarded = 1;
	return 0;
}

/* Copy len bytes from a mapping: 0, or -EIO when the file shrank. */
static int
map_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
	if (sigsetjmp(map_jmp, 0) != 0)
		return -EIO;
	map_copying = 1;
	atomic_signal_fence(memory_order_seq_cst);	/* not across the flag */
	memcpy(dst, src, len);
	atomic_signal_fence(memory_order_seq_cst);
	map_copying = 0;
	return 0;
}

/* Map e's file when sh maps and it is a size worth mapping. */
static void
shared_map(const struct files_shared *sh, struct files_shared_ent *e,
    off_t size)
{
	void *m;

	if (!sh->map || !map_guarded || size <= 0 ||
	    (uint64_t)size > FILES_MAP_MAX)
		return;
	m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, e->fd, 0);
	if (m == MAP_FAILED)
		return;		/* pread serves it all the same */
	e->map = m;
	e->maplen = (size_t)size;
}

long
files_shared_read(const struct files_shared_ent *ent, int fd, uint8_t *buf,
    size_t len, uint64_t off)
{
	/*
	 * A window's read ahead (16 x 1468, or one 65464 block) is one
	 * pread: the kernel copies from the page cache, where a copy from
	 * the mapping would take a page fault a page, dear on this VM
	 * (doc/notes/syscalls.md).  Mapped reads are for the blocks read
	 * one at a time, a system call each.
	 */
	if (ent == NULL || ent->map == NULL || len > FILES_MAP_READ_MAX ||
	    off >= ent->maplen || len > ent->maplen - off)
		return files_pread_full(fd, buf, len, off);	/* or the end */
	return map_copy(buf, ent->map + off, len) < 0 ? -EIO : (long)len;
}

int
files_share(struct files_shared *sh, int fd, struct files_shared_ent **ent)
{
	struct files_shared_ent *e;
	struct stat st;
	unsigned b;

	*ent = NULL;
	if (fstat(fd, &st) < 0)
		return fd;
	b = shared_bucket(st.st_dev, st.st_ino);
	for (e = sh->b[b]; e; e = e->next) {
		if (e->dev == st.st_dev && e->ino == st.st_ino) {
			/*
			 * Mapped when a second reader comes: many clients of
			 * one file save a pread a block; one client alone
			 * keeps its RSS small.
			 */
			if (++e->refs == 2 && e->map == NULL)
				shared_map(sh, e, st.st_size);
			close(fd);
			*ent = e;
			return e->fd;
		}
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return fd;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->fd = fd;
	e->refs = 1;
	e->next = sh->b[b];
	sh->b[b] = e;
	sh->open++;
	*ent = e;
	return fd;
}

void
files_unshare(struct files_shared *sh, struct files_shared_ent *ent, int fd)
{
	struct files_shared_ent **pp;

	if (ent != NULL) {
		if (--ent->refs > 0)
			return;
		pp = &sh->b[shared_bucket(ent->dev, ent->ino)];
		while (*pp != ent)
			pp = &(*pp)->next;
		*pp = ent->next;
		if (ent->map != NULL)
			munmap((void *)ent->map, ent->maplen);
		free(ent);
		sh->open--;
	}
	close(fd);
}
