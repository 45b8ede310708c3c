/*
 * test_files.c - containment and atomic uploads on a real directory.
 *
 * Everything happens in a mkdtemp() directory under /tmp laid out as
 *	base/root/	the served root
 *	base/x		a file just outside it ("../x")
 *	base/outside/	a directory the root's symlinks point into
 * The escape and upload cases run twice: through openat2 and through the
 * component walk (TFTPX_NO_OPENAT2=1); uploads also with a named temp
 * (TFTPX_NO_TMPFILE=1).  Permission cases are skipped: we may run as root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#include "../check.h"
#include "files.h"
#include "packet.h"

/* err.msg is NULL after a success; a wrong success must fail, not crash. */
#define CHECK_MSG(e, s) CHECK((e).msg != NULL && strcmp((e).msg, (s)) == 0)

static char base[] = "/tmp/tftpx-files-XXXXXX";
static int rootfd = -1;
static int have_openat2, have_tmpfile;

/* Write CONTENT to base/REL, creating or truncating it. */
static void
put(const char *rel, const char *content)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", base, rel);
	f = fopen(path, "w");
	if (f == NULL) {
		perror(path);
		exit(2);
	}
	fputs(content, f);
	fclose(f);
}

static void
mkdir_b(const char *rel)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", base, rel);
	if (mkdir(path, 0755) == -1) {
		perror(path);
		exit(2);
	}
}

static void
symlink_b(const char *target, const char *rel)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", base, rel);
	if (symlink(target, path) == -1) {
		perror(path);
		exit(2);
	}
}

/* Read all of fd into buf (NUL-terminated); returns the length. */
static size_t
slurp_fd(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

/* Contents of base/REL, or "<missing>". */
static const char *
slurp(const char *rel, char *buf, size_t cap)
{
	char path[512];
	int fd;

	snprintf(path, sizeof path, "%s/%s", base, rel);
	fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd == -1)
		return "<missing>";
	slurp_fd(fd, buf, cap);
	close(fd);
	return buf;
}

static int
exists_b(const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", base, rel);
	return lstat(path, &st) == 0;
}

/* How many entries of base/REL look like our temps? */
static int
count_tmp(const char *rel)
{
	char path[512];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "%s/%s", base, rel);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, FILES_TMP_PREFIX,
		    strlen(FILES_TMP_PREFIX)) == 0)
			n++;
	closedir(d);
	return n;
}

static void
walk_mode(int on)
{
	if (on)
		setenv("TFTPX_NO_OPENAT2", "1", 1);
	else
		unsetenv("TFTPX_NO_OPENAT2");
}

static void
named_mode(int on)
{
	if (on)
		setenv("TFTPX_NO_TMPFILE", "1", 1);
	else
		unsetenv("TFTPX_NO_TMPFILE");
}

/* Open PATH for reading; returns the TFTP code, or -1 on success. */
static int
read_code(const char *path, struct files_err *err)
{
	uint64_t size;
	int fd;

	memset(err, 0, sizeof *err);
	fd = files_open_read(rootfd, path, &size, err);
	if (fd == -1)
		return err->code;
	close(fd);
	return -1;
}

static void
test_normalize(void)
{
	struct files_err err;
	char out[16];
	char big[64];

	CHECK_EQ(files_normalize("/pxelinux.0", 0, out, sizeof out, &err), 0);
	CHECK_STR(out, "pxelinux.0");
	CHECK_EQ(files_normalize("///a//b", 0, out, sizeof out, &err), 0);
	CHECK_STR(out, "a//b");
	CHECK_EQ(files_normalize("plain", 0, out, sizeof out, &err), 0);
	CHECK_STR(out, "plain");

	/* Backslash off: '\' is an ordinary character. */
	CHECK_EQ(files_normalize("\\boot\\x", 0, out, sizeof out, &err), 0);
	CHECK_STR(out, "\\boot\\x");
	/* Backslash on: mapped, then the leading one stripped. */
	CHECK_EQ(files_normalize("\\boot\\x", 1, out, sizeof out, &err), 0);
	CHECK_STR(out, "boot/x");
	CHECK_EQ(files_normalize("/\\/a\\b", 1, out, sizeof out, &err), 0);
	CHECK_STR(out, "a/b");

	/* ".." is kept: containment is the open's job, not the name's. */
	CHECK_EQ(files_normalize("/../x", 0, out, sizeof out, &err), 0);
	CHECK_STR(out, "../x");

	err.code = -1;
	CHECK_EQ(files_normalize("", 0, out, sizeof out, &err), -1);
	CHECK(err.code >= 0 && err.msg != NULL);
	CHECK_EQ(err.why, FW_BAD_NAME);
	CHECK_EQ(files_normalize("///", 0, out, sizeof out, &err), -1);
	CHECK_EQ(files_normalize("\\\\", 1, out, sizeof out, &err), -1);
	CHECK_EQ(files_normalize("\\\\", 0, out, sizeof out, &err), 0);
	CHECK_STR(out, "\\\\");

	/* 15 characters fit in 16 bytes; 16 do not. */
	memset(big, 'a', sizeof big);
	big[15] = '\0';
	CHECK_EQ(files_normalize(big, 0, out, sizeof out, &err), 0);
	CHECK_EQ(strlen(out), 15);
	big[15] = 'a';
	big[16] = '\0';
	CHECK_EQ(files_normalize(big, 0, out, sizeof out, &err), -1);
	/* Too long even if the stripped result would fit. */
	memset(big, '/', 10);
	strcpy(big + 10, "abcdefgh");
	CHECK_EQ(files_normalize(big, 0, out, sizeof out, &err), -1);
}

static void
test_read_file(void)
{
	struct files_err err;
	uint64_t size = 0;
	char buf[64];
	int fd, fl;

	fd = files_open_read(rootfd, "hello.txt", &size, &err);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(size, 5);
	fl = fcntl(fd, F_GETFL);
	CHECK(!(fl & O_NONBLOCK));
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	slurp_fd(fd, buf, sizeof buf);
	CHECK_STR(buf, "hello");
	close(fd);

	fd = files_open_read(rootfd, "sub/./deep.txt", &size, &err);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ(files_exists(rootfd, "hello.txt"), 1);
	CHECK_EQ(files_exists(rootfd, "sub"), 1);
	CHECK_EQ(files_exists(rootfd, "nope"), 0);
}

static void
test_read_missing(void)
{
	struct files_err err;

	CHECK_EQ(read_code("nope.bin", &err), TFTP_ENOTFOUND);
	CHECK_MSG(err, "file not found");
	CHECK_EQ(err.sys, ENOENT);
	CHECK_EQ(read_code("nodir/nope.bin", &err), TFTP_ENOTFOUND);
	/* A file used as a directory is missing too (ENOTDIR). */
	CHECK_EQ(read_code("hello.txt/x", &err), TFTP_ENOTFOUND);
}

static void
test_read_not_regular(void)
{
	struct files_err err;
	char path[512];

	CHECK_EQ(read_code("sub", &err), TFTP_EACCESS);
	CHECK_MSG(err, "not a regular file");
	snprintf(path, sizeof path, "%s/root/fifo", base);
	CHECK_EQ(mkfifo(path, 0644), 0);
	/* alarm() in main kills us if this open blocks. */
	CHECK_EQ(read_code("fifo", &err), TFTP_EACCESS);
	CHECK_MSG(err, "not a regular file");
	walk_mode(1);
	CHECK_EQ(read_code("fifo", &err), TFTP_EACCESS);
	CHECK_EQ(read_code("sub", &err), TFTP_EACCESS);
	walk_mode(0);
}

/* The containment cases, the same answer from openat2 and the walk. */
static void
escape_cases(void)
{
	struct files_err err;
	char out[FILES_NAME_MAX], buf[64];
	uint64_t size;
	int fd;

	CHECK_EQ(read_code("../x", &err), TFTP_EACCESS);
	CHECK_MSG(err, "path leaves the root");
	CHECK_EQ(read_code("sub/../../x", &err), TFTP_EACCESS);
	CHECK_EQ(read_code("sub/../../root/hello.txt", &err), TFTP_EACCESS);
	CHECK_EQ(files_exists(rootfd, "../x"), 0);

	/* "/etc/passwd" from a client is root/etc/passwd. */
	CHECK_EQ(files_normalize("/etc/passwd", 0, out, sizeof out, &err), 0);
	fd = files_open_read(rootfd, out, &size, &err);
	CHECK(fd >= 0);
	if (fd >= 0) {
		slurp_fd(fd, buf, sizeof buf);
		CHECK_STR(buf, "inside");
		close(fd);
	}
	/* An unnormalized absolute name never reaches the host's /etc. */
	CHECK_EQ(read_code("/etc/passwd", &err), TFTP_EACCESS);

	CHECK_EQ(read_code("out", &err), TFTP_EACCESS);	/* -> ../x */
	CHECK_EQ(read_code("abs", &err), TFTP_EACCESS);	/* -> /etc/passwd */
	CHECK_EQ(read_code("absin", &err), TFTP_EACCESS); /* -> base/root/... */
	CHECK_EQ(read_code("outdir/secret", &err), TFTP_EACCESS);
	CHECK_EQ(read_code("sub/up", &err), TFTP_EACCESS); /* -> ../../x */
	CHECK_EQ(files_exists(rootfd, "out"), 0);
	CHECK_EQ(files_exists(rootfd, "outdir/secret"), 0);
}

static void
test_escape_openat2(void)
{
	struct files_err err;

	if (!have_openat2) {
		printf("SKIP test_escape_openat2: kernel has no openat2\n");
		return;
	}
	walk_mode(0);
	escape_cases();
	/* Symlinks that stay inside are served: proof openat2 ran. */
	CHECK_EQ(read_code("in", &err), -1);
	CHECK_EQ(read_code("indir/deep.txt", &err), -1);
	CHECK_EQ(files_exists(rootfd, "in"), 1);
}

static void
test_escape_walk(void)
{
	struct files_err err;

	walk_mode(1);
	escape_cases();
	/* The walk refuses every symlink, even one that stays inside. */
	CHECK_EQ(read_code("in", &err), TFTP_EACCESS);
	CHECK_MSG(err, "symlink refused");
	CHECK_EQ(err.sys, ELOOP);
	CHECK_EQ(read_code("indir/deep.txt", &err), TFTP_EACCESS);
	CHECK_MSG(err, "symlink refused");
	CHECK_EQ(read_code("../x", &err), TFTP_EACCESS);
	CHECK_EQ(err.sys, EXDEV);
	CHECK_EQ(files_exists(rootfd, "in"), 0);
	CHECK_EQ(files_exists(rootfd, "sub/deep.txt"), 1);
	CHECK_EQ(files_exists(rootfd, "sub/"), 1);
	CHECK_EQ(files_exists(rootfd, "hello.txt/"), 0);
	CHECK_EQ(read_code("hello.txt", &err), -1);
	CHECK_EQ(read_code("sub//deep.txt", &err), -1);
	walk_mode(0);
}

/* Write s into the upload's temp. */
static void
upload_write(struct upload *u, const char *s)
{
	CHECK_EQ(write(u->fd, s, strlen(s)), (long long)strlen(s));
}

static void
upload_cases(int named)
{
	struct files_err err;
	struct upload u;
	char buf[64];

	/* Create-only: the name appears at commit, with the bytes. */
	CHECK_EQ(files_upload_begin(rootfd, "new1.bin", 0, &u, &err), 0);
	if (have_tmpfile || named)
		CHECK_EQ(u.named, named);
	upload_write(&u, "payload");
	CHECK(!exists_b("root/new1.bin"));
	CHECK_EQ(count_tmp("root"), u.named ? 1 : 0);
	CHECK_EQ(files_upload_commit(&u, &err), 0);
	CHECK_EQ(u.fd, -1);
	CHECK_EQ(u.dirfd, -1);
	CHECK_STR(slurp("root/new1.bin", buf, sizeof buf), "payload");
	CHECK_EQ(count_tmp("root"), 0);
	files_upload_abort(&u);		/* harmless after commit */
	CHECK_STR(slurp("root/new1.bin", buf, sizeof buf), "payload");
	unlink(strcat(strcpy(buf, base), "/root/new1.bin"));

	/* Abort leaves nothing, and is safe twice. */
	CHECK_EQ(files_upload_begin(rootfd, "new2.bin", 0, &u, &err), 0);
	upload_write(&u, "partial");
	files_upload_abort(&u);
	CHECK_EQ(u.fd, -1);
	CHECK_EQ(u.dirfd, -1);
	files_upload_abort(&u);
	CHECK(!exists_b("root/new2.bin"));
	CHECK_EQ(count_tmp("root"), 0);

	/* An existing name without overwrite. */
	CHECK_EQ(files_upload_begin(rootfd, "hello.txt", 0, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EEXISTS);
	CHECK_EQ(err.why, FW_EXISTS);
	CHECK_EQ(u.fd, -1);
	CHECK_EQ(u.dirfd, -1);
	CHECK_STR(slurp("root/hello.txt", buf, sizeof buf), "hello");

	/* Overwrite: the old bytes stay until commit, then all new ones. */
	put("root/ow.txt", "old content, longer than the new");
	CHECK_EQ(files_upload_begin(rootfd, "ow.txt", 1, &u, &err), 0);
	upload_write(&u, "brand new");
	CHECK_STR(slurp("root/ow.txt", buf, sizeof buf),
	    "old content, longer than the new");
	CHECK_EQ(files_upload_commit(&u, &err), 0);
	CHECK_STR(slurp("root/ow.txt", buf, sizeof buf), "brand new");
	CHECK_EQ(count_tmp("root"), 0);

	/* Overwrite aborted: old file untouched. */
	CHECK_EQ(files_upload_begin(rootfd, "ow.txt", 1, &u, &err), 0);
	upload_write(&u, "never seen");
	files_upload_abort(&u);
	CHECK_STR(slurp("root/ow.txt", buf, sizeof buf), "brand new");
	CHECK_EQ(count_tmp("root"), 0);

	/* Overwrite of a fresh name works like create. */
	CHECK_EQ(files_upload_begin(rootfd, "ow2.txt", 1, &u, &err), 0);
	upload_write(&u, "two");
	CHECK_EQ(files_upload_commit(&u, &err), 0);
	CHECK_STR(slurp("root/ow2.txt", buf, sizeof buf), "two");
	unlink(strcat(strcpy(buf, base), "/root/ow2.txt"));

	/* A name created meanwhile wins over a create-only commit. */
	CHECK_EQ(files_upload_begin(rootfd, "race.txt", 0, &u, &err), 0);
	upload_write(&u, "late");
	put("root/race.txt", "first");
	CHECK_EQ(files_upload_commit(&u, &err), -1);
	CHECK_EQ(err.code, TFTP_EEXISTS);
	CHECK_EQ(err.why, FW_EXISTS);
	CHECK_EQ(u.fd, -1);
	CHECK_EQ(u.dirfd, -1);
	CHECK_STR(slurp("root/race.txt", buf, sizeof buf), "first");
	CHECK_EQ(count_tmp("root"), 0);
	unlink(strcat(strcpy(buf, base), "/root/race.txt"));

	/* Into a subdirectory. */
	CHECK_EQ(files_upload_begin(rootfd, "sub/up.txt", 0, &u, &err), 0);
	upload_write(&u, "in sub");
	CHECK_EQ(count_tmp("root/sub"), u.named ? 1 : 0);
	CHECK_EQ(files_upload_commit(&u, &err), 0);
	CHECK_STR(slurp("root/sub/up.txt", buf, sizeof buf), "in sub");
	CHECK_EQ(count_tmp("root/sub"), 0);
	unlink(strcat(strcpy(buf, base), "/root/sub/up.txt"));

	/* Refusals. */
	CHECK_EQ(files_upload_begin(rootfd, "nodir/x", 0, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_ENOTFOUND);
	CHECK_EQ(err.why, FW_NO_DIR);
	CHECK_MSG(err, "directory not found");
	CHECK_EQ(u.fd, -1);
	CHECK_EQ(u.dirfd, -1);
	CHECK_EQ(files_upload_begin(rootfd, "hello.txt/x", 0, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_ENOTFOUND);
	CHECK_EQ(files_upload_begin(rootfd, "../up", 0, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK_EQ(err.why, FW_ESCAPE);
	CHECK_EQ(files_upload_begin(rootfd, "outdir/up", 1, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK(!exists_b("outside/up"));
	CHECK(!exists_b("up"));
	CHECK_EQ(count_tmp("outside"), 1);	/* only the planted one */
	CHECK_EQ(files_upload_begin(rootfd, "sub/", 0, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK_EQ(files_upload_begin(rootfd, "sub/..", 1, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK_EQ(files_upload_begin(rootfd, ".", 1, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK_EQ(files_upload_begin(rootfd, "sub", 1, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK_EQ(err.why, FW_NOT_REGULAR);
	CHECK_MSG(err, "not a regular file");
	/* Overwriting a symlink would replace the link, not its target. */
	CHECK_EQ(files_upload_begin(rootfd, "out", 1, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK_EQ(files_upload_begin(rootfd, ".tftpx-1.tmp", 0, &u, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK_EQ(err.why, FW_RESERVED);
	CHECK_EQ(u.fd, -1);
	CHECK_EQ(count_tmp("root"), 0);
	CHECK_STR(slurp("x", buf, sizeof buf), "outside");
}

static void
test_upload_tmpfile(void)
{
	if (!have_tmpfile)
		printf("  (no O_TMPFILE in /tmp: named temps used)\n");
	named_mode(0);
	upload_cases(0);
}

static void
test_upload_named(void)
{
	named_mode(1);
	upload_cases(1);
	named_mode(0);
}

static void
test_upload_walk(void)
{
	walk_mode(1);
	upload_cases(0);
	named_mode(1);
	upload_cases(1);
	named_mode(0);
	walk_mode(0);
}

static void
test_commit_without_begin(void)
{
	struct files_err err;
	struct upload u;

	/* A refused begin leaves u closed; commit on it is an error. */
	CHECK_EQ(files_upload_begin(rootfd, "nodir/x", 0, &u, &err), -1);
	CHECK_EQ(files_upload_commit(&u, &err), -1);
	CHECK_EQ(u.fd, -1);
	files_upload_abort(&u);
}

static void
test_remove_stale(void)
{
	int n;

	put("root/.tftpx-abc.tmp", "stale");
	put("root/sub/.tftpx-def.tmp", "stale");
	put("root/.tftpx-keep", "no suffix");
	put("root/keep.tmp", "no prefix");
	mkdir_b("root/.tftpx-dir.tmp");		/* a directory: kept */
	symlink_b("hello.txt", "root/.tftpx-link.tmp");	/* not regular */
	mkdir_b("outside2");
	put("outside2/.tftpx-zzz.tmp", "not ours");
	symlink_b("../outside2", "root/stalelink");

	n = files_remove_stale(rootfd);
	CHECK_EQ(n, 2);
	CHECK(!exists_b("root/.tftpx-abc.tmp"));
	CHECK(!exists_b("root/sub/.tftpx-def.tmp"));
	CHECK(exists_b("root/.tftpx-keep"));
	CHECK(exists_b("root/keep.tmp"));
	CHECK(exists_b("root/.tftpx-dir.tmp"));
	CHECK(exists_b("root/.tftpx-link.tmp"));
	CHECK(exists_b("root/hello.txt"));
	CHECK(exists_b("root/sub/deep.txt"));
	CHECK(exists_b("outside2/.tftpx-zzz.tmp"));
	CHECK(exists_b("outside/.tftpx-planted.tmp"));
	CHECK_EQ(files_remove_stale(rootfd), 0);
}

/* One upload per name: the registry the server keeps its WRQs in. */
static void
test_upload_registry(void)
{
	struct files_uploads reg = { NULL };
	struct files_err err;
	struct upload a, b, c;
	int temps = count_tmp("root");

	CHECK_EQ(files_upload_begin(rootfd, "reg.bin", 1, &a, &err), 0);
	CHECK_EQ(files_upload_begin(rootfd, "reg.bin", 1, &b, &err), 0);
	CHECK_EQ(files_upload_begin(rootfd, "sub/reg.bin", 1, &c, &err), 0);
	CHECK_EQ(files_upload_claim(&reg, &a, &err), 0);
	CHECK_EQ(files_upload_claim(&reg, &b, &err), -1);
	CHECK_EQ(err.code, TFTP_EACCESS);
	CHECK_EQ(err.why, FW_BUSY);
	/* the same name in another directory is another entry */
	CHECK_EQ(files_upload_claim(&reg, &c, &err), 0);
	files_upload_release(&reg, &a);
	files_upload_release(&reg, &a);		/* twice is harmless */
	CHECK_EQ(files_upload_claim(&reg, &b, &err), 0);
	files_upload_release(&reg, &b);
	files_upload_release(&reg, &c);
	CHECK(reg.head == NULL);
	files_upload_abort(&a);
	files_upload_abort(&b);
	files_upload_abort(&c);
	CHECK_EQ(count_tmp("root"), temps);
}

/* Is fd open? */
static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
test_shared_reads(void)
{
	struct files_shared sh;
	struct files_err err;
	uint64_t size;
	struct files_shared_ent *ea, *eb, *ec;
	int a, b, c, fa, fb, fc;

	memset(&sh, 0, sizeof(sh));
	a = files_open_read(rootfd, "hello.txt", &size, &err);
	b = files_open_read(rootfd, "hello.txt", &size, &err);
	c = files_open_read(rootfd, "sub/deep.txt", &size, &err);
	CHECK(a >= 0 && b >= 0 && c >= 0);
	fa = files_share(&sh, a, &ea);
	fb = files_share(&sh, b, &eb);
	fc = files_share(&sh, c, &ec);
	/* one fd for the two readers of hello.txt; b was closed */
	CHECK_EQ(fa, a);
	CHECK_EQ(fb, a);
	CHECK(!fd_open(b));
	CHECK_EQ(fc, c);
	CHECK(ea != NULL && ea == eb && ec != NULL && ec != ea);
	CHECK_EQ(sh.open, 2);
	/* the first reader is done: the second still reads */
	files_unshare(&sh, ea, fa);
	CHECK(fd_open(fb));
	CHECK_EQ(sh.open, 2);
	files_unshare(&sh, eb, fb);
	CHECK(!fd_open(a));
	CHECK(fd_open(c));
	CHECK_EQ(sh.open, 1);
	files_unshare(&sh, ec, fc);
	CHECK_EQ(sh.open, 0);
}

/* Write n bytes of a pattern that names each byte's offset to base/REL. */
static void
put_pattern(const char *rel, size_t n)
{
	char path[512];
	FILE *f;
	size_t i;

	snprintf(path, sizeof path, "%s/%s", base, rel);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(2);
	}
	for (i = 0; i < n; i++)
		fputc((int)((i * 7 + i / 251) & 0xff), f);
	fclose(f);
}

static int
is_pattern(const uint8_t *buf, size_t len, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != (uint8_t)(((off + i) * 7 + (off + i) / 251) & 0xff))
			return 0;
	return 1;
}

/*
 * Mapped reads: the same bytes as pread, pread past the mapping when the
 * file grew, and -EIO (not SIGBUS) when it was truncated under a reader.
 */
static void
test_mapped_reads(void)
{
	struct files_shared sh;
	struct files_shared_ent *e, *e2;
	struct files_err err;
	static uint8_t buf[20000];
	char path[512];
	uint64_t size;
	int fd, fd2, i;

	put_pattern("root/mapped.bin", 3 * 4096 + 100);
	memset(&sh, 0, sizeof(sh));
	CHECK_EQ(files_map_guard(), 0);
	sh.map = 1;
	fd = files_open_read(rootfd, "mapped.bin", &size, &err);
	CHECK(fd >= 0);
	fd = files_share(&sh, fd, &e);
	CHECK(e != NULL);
	/* one reader: pread; a second one maps the file for both */
	fd2 = files_open_read(rootfd, "mapped.bin", &size, &err);
	fd2 = files_share(&sh, fd2, &e2);
	CHECK(e2 == e && fd2 == fd);
	CHECK_EQ(files_shared_read(e, fd, buf, 1468, 0), 1468);
	CHECK(is_pattern(buf, 1468, 0));
	CHECK_EQ(files_shared_read(e, fd, buf, 1468, 11000), 1388);
	CHECK(is_pattern(buf, 1388, 11000));
	CHECK_EQ(files_shared_read(e, fd, buf, 512, size), 0);

	/* it grew: a read reaching the mapping's end is one pread */
	put_pattern("root/mapped.bin", 5 * 4096);
	CHECK_EQ(files_shared_read(e, fd, buf, 4000, 12000), 4000);
	CHECK(is_pattern(buf, 4000, 12000));
	CHECK_EQ(files_shared_read(e, fd, buf, 4000, 16000), 4000);
	CHECK(is_pattern(buf, 4000, 16000));

	/* truncated in place: pages past the end fail the read, again */
	snprintf(path, sizeof path, "%s/root/mapped.bin", base);
	CHECK_EQ(truncate(path, 100), 0);
	for (i = 0; i < 2; i++)
		CHECK_EQ(files_shared_read(e, fd, buf, 1468, 8192), -EIO);
	CHECK_EQ(files_shared_read(e, fd, buf, 50, 0), 50);
	CHECK(is_pattern(buf, 50, 0));
	/* a window read ahead is one pread: the short file, no error */
	CHECK_EQ(files_shared_read(e, fd, buf, 16 * 1468, 0), 100);
	files_unshare(&sh, e2, fd2);
	files_unshare(&sh, e, fd);
	CHECK_EQ(sh.open, 0);

	/* one reader alone is not mapped: pread sees the short file */
	put_pattern("root/mapped.bin", 3 * 4096);
	fd = files_open_read(rootfd, "mapped.bin", &size, &err);
	fd = files_share(&sh, fd, &e);
	CHECK_EQ(truncate(path, 100), 0);
	CHECK_EQ(files_shared_read(e, fd, buf, 1468, 8192), 0);
	files_unshare(&sh, e, fd);
}

/* A name in another case: found component by component, inside only. */
static void
test_find_icase(void)
{
	char out[FILES_NAME_MAX];

	mkdir_b("root/Boot");
	put("root/Boot/BCD", "bcd");
	put("root/Boot/bcd.log", "log");
	CHECK_EQ(files_find_icase(rootfd, "boot/bcd", out, sizeof(out)), 0);
	CHECK(strcmp(out, "Boot/BCD") == 0);
	CHECK_EQ(files_find_icase(rootfd, "BOOT//Bcd.LOG", out, sizeof(out)),
	    0);
	CHECK(strcmp(out, "Boot/bcd.log") == 0);
	/* as asked already, or in no case at all: nothing to find */
	CHECK_EQ(files_find_icase(rootfd, "Boot/BCD", out, sizeof(out)), -1);
	CHECK_EQ(files_find_icase(rootfd, "boot/none", out, sizeof(out)), -1);
	CHECK_EQ(files_find_icase(rootfd, "boot/bcd/", out, sizeof(out)), -1);
	/* ".." is not matched against anything: containment refuses it */
	CHECK_EQ(files_find_icase(rootfd, "../X", out, sizeof(out)), -1);
	CHECK_EQ(files_find_icase(rootfd, "boot/bcd", out, 5), -1);
	CHECK(files_is_dir(rootfd, "boot") == 0);
	CHECK(files_is_dir(rootfd, "Boot") == 1);
	CHECK(files_is_dir(rootfd, "Boot/BCD") == 0);
	CHECK(files_is_dir(rootfd, "..") == 0);
}

static void
test_write_err(void)
{
	struct files_err err;

	files_write_err(ENOSPC, &err);
	CHECK_EQ(err.code, TFTP_ENOSPACE);
	CHECK_EQ(err.why, FW_NO_SPACE);
	CHECK_EQ(err.sys, ENOSPC);
	files_write_err(EDQUOT, &err);
	CHECK_EQ(err.code, TFTP_ENOSPACE);
	files_write_err(EFBIG, &err);
	CHECK_EQ(err.code, TFTP_ENOSPACE);
	files_write_err(EIO, &err);
	CHECK_EQ(err.code, TFTP_EUNDEF);
	CHECK_EQ(err.why, FW_IO);
	CHECK_MSG(err, "write error");
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
setup(void)
{
	struct open_how how;
	char path[512];
	int fd;

	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
	mkdir_b("root");
	mkdir_b("root/sub");
	mkdir_b("root/etc");
	mkdir_b("outside");
	put("x", "outside");
	put("outside/secret", "secret");
	put("outside/.tftpx-planted.tmp", "not ours");
	put("root/hello.txt", "hello");
	put("root/sub/deep.txt", "deep");
	put("root/etc/passwd", "inside");
	symlink_b("hello.txt", "root/in");
	symlink_b("sub", "root/indir");
	symlink_b("../x", "root/out");
	symlink_b("/etc/passwd", "root/abs");
	snprintf(path, sizeof path, "%s/root/hello.txt", base);
	symlink_b(path, "root/absin");
	symlink_b("../outside", "root/outdir");
	symlink_b("../../x", "root/sub/up");

	snprintf(path, sizeof path, "%s/root", base);
	rootfd = files_open_root(path);
	if (rootfd == -1) {
		perror(path);
		exit(2);
	}

	memset(&how, 0, sizeof how);
	how.flags = O_PATH | O_CLOEXEC;
	how.resolve = RESOLVE_BENEATH;
	fd = (int)syscall(SYS_openat2, rootfd, "hello.txt", &how, sizeof how);
	have_openat2 = fd >= 0;
	if (fd >= 0)
		close(fd);
	fd = openat(rootfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	have_tmpfile = fd >= 0;
	if (fd >= 0)
		close(fd);
}

int
main(void)
{
	/* A FIFO open that blocks must fail the run, not hang it. */
	alarm(20);
	unsetenv("TFTPX_NO_OPENAT2");
	unsetenv("TFTPX_NO_TMPFILE");
	setup();

	RUN(test_normalize);
	RUN(test_read_file);
	RUN(test_read_missing);
	RUN(test_read_not_regular);
	RUN(test_escape_openat2);
	RUN(test_escape_walk);
	RUN(test_upload_tmpfile);
	RUN(test_upload_named);
	RUN(test_upload_walk);
	RUN(test_commit_without_begin);
	RUN(test_remove_stale);
	RUN(test_write_err);
	RUN(test_upload_registry);
	RUN(test_shared_reads);
	RUN(test_mapped_reads);
	RUN(test_find_icase);

	close(rootfd);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return CHECK_EXIT();
}
