/*
 * files.h - the served root, path containment, and atomic uploads.
 *
 * The root is held as a directory fd; every open is relative to it through
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), or, where the kernel
 * lacks openat2, a component-by-component walk with O_NOFOLLOW that refuses
 * ".." and every symlink.  Files are opened first and checked with fstat()
 * on the fd afterwards (no stat->open race).
 *
 * An upload writes into a temp file in the target's directory (O_TMPFILE
 * where the file system has it, else a named ".tftpx-*.tmp" file created
 * with O_EXCL); only files_upload_commit() makes it visible: fsync, then
 * link (create-only) or rename (overwrite) onto the name, then fsync of the
 * directory.  files_upload_abort() leaves the old file untouched and no
 * temp behind.
 */
#ifndef TFTPX_FILES_H
#define TFTPX_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FILES_NAME_MAX	512	/* longest request name handled */
#define FILES_TMP_PREFIX ".tftpx-"
#define FILES_TMP_SUFFIX ".tmp"

/* Why an open failed: a TFTP error code for the client, words for a person. */
/* Why a name was refused: what callers test (msg is for the client). */
enum files_why {
	FW_IO,			/* an error of the system: see sys */
	FW_NOT_FOUND,		/* no such file */
	FW_NO_DIR,		/* an upload's directory does not exist */
	FW_EXISTS,		/* an upload's name exists, no overwrite */
	FW_ESCAPE,		/* the path leaves the root */
	FW_SYMLINK,		/* a symlink, where openat2 is missing */
	FW_NOT_REGULAR,		/* a directory, device, FIFO or symlink */
	FW_RESERVED,		/* the server's own temp file names */
	FW_PERM,		/* the server's user may not */
	FW_BAD_NAME,		/* empty, too long, or no file name at all */
	FW_NO_SPACE,		/* the file system is full */
	FW_BUSY,		/* another upload of the name is live */
	FW_MAPPED,		/* a --map rule refused it (names.c) */
};

struct files_err {
	int		 code;		/* enum tftp_err */
	int		 why;		/* enum files_why */
	int		 sys;		/* errno behind it, or 0 */
	const char	*msg;		/* static text, e.g. "file not found" */
};

struct upload {
	int	dirfd;			/* directory that receives the name */
	int	fd;			/* temp file being written */
	int	named;			/* temp has a name (no O_TMPFILE) */
	int	overwrite;		/* commit may replace an existing name */
	char	base[FILES_NAME_MAX];	/* last component of the target */
	/* the name's place in struct files_uploads, while claimed */
	dev_t	dir_dev;
	ino_t	dir_ino;
	int	claimed;
	struct upload *next_live;
	char	tmp[64];		/* temp name when named */
};

/* Fill err (msg: static words, or the caller's buffer). */
void	files_set_err(struct files_err *err, int code, int why, int sys,
	    const char *msg);

/* Is path a directory beneath the root (no escape, as files_resolve)? */
int	files_is_dir(int rootfd, const char *path);

/*
 * A path not found as asked: the existing one beneath the root whose
 * components equal path's but for ASCII case ("BOOT/BCD" finds
 * "boot/bcd"; where several do, the first in byte order), into out (cap
 * bytes).  Returns 0, or -1 when there is none (or only path itself).
 * Opening it is still files_open_read's: containment is unchanged.
 */
int	files_find_icase(int rootfd, const char *path, char *out, size_t cap);

/* Open DIR as the root.  Returns an fd, or -1 with errno set. */
int	files_open_root(const char *dir);

/*
 * Turn a request name into a path relative to the root: leading '/' are
 * dropped (PXE sends "/pxelinux.0"), and with backslash set '\' becomes
 * '/' (Windows PXE clients).  Returns 0, or -1 (empty, too long, or an
 * empty result) with err filled.
 */
int	files_normalize(const char *name, int backslash, char *out,
	    size_t cap, struct files_err *err);

/*
 * Open a normalized name for reading.  Returns an fd and sets *size, or
 * -1 with err: ENOENT -> 1 "file not found", escaping the root -> 2
 * "path leaves the root", not a regular file -> 2 "not a regular file",
 * permission -> 2 "permission denied".
 */
int	files_open_read(int rootfd, const char *path, uint64_t *size,
	    struct files_err *err);

/* Does a normalized name exist (any type) beneath the root?  1, 0. */
int	files_exists(int rootfd, const char *path);

/*
 * Start an upload of a normalized name.  With overwrite == 0 an existing
 * name is refused (6 "file already exists"); a missing directory is
 * 1 "directory not found"; a path escaping the root 2.  Returns 0 and
 * fills u, or -1 with err.  u->fd is open for reading too (origin.c's
 * readers read a fetch while it is written).
 */
int	files_upload_begin(int rootfd, const char *path, int overwrite,
	    struct upload *u, struct files_err *err);

/*
 * Make the upload visible.  Returns 0, or -1 with err (ENOSPC/EDQUOT ->
 * 3, a name created meanwhile without overwrite -> 6); on failure the temp
 * is removed and u is closed, as after files_upload_abort().
 */
int	files_upload_commit(struct upload *u, struct files_err *err);

/* Drop the upload: close and remove the temp.  Safe to call twice. */
void	files_upload_abort(struct upload *u);

/*
 * The live uploads, one per name: a second WRQ for a name whose upload
 * runs would race the first to the rename.  Zero-initialised is empty.
 */
struct files_uploads {
	struct upload	*head;
};

/*
 * Files open for reading, shared: one fd per file (device and inode)
 * however many transfers read it, since pread has no position.  A fleet
 * fetching one kernel holds one fd, not one per client.  Zero-initialised
 * is empty.
 */
#define FILES_SHARED_BUCKETS	256
struct files_shared_ent;
struct files_shared {
	struct files_shared_ent	*b[FILES_SHARED_BUCKETS];
	size_t			 open;		/* distinct files held */
	int			 map;		/* map files: files_map_guard() */
};

/*
 * Take fd (open for reading): returns the fd to read, fd itself or one
 * already open for the same file (fd is then closed), and in *ent its
 * place in sh.  Out of memory, fd is returned unshared (*ent NULL):
 * files_unshare() closes it all the same.
 */
int	files_share(struct files_shared *sh, int fd,
	    struct files_shared_ent **ent);
/* A reader of fd (ent from files_share) is done: closed with the last. */
void	files_unshare(struct files_shared *sh, struct files_shared_ent *ent,
	    int fd);

/*
 * Read len bytes at off of a shared file (fd and ent from files_share), as
 * files_pread_full().  A file of at most 64 MiB read by two or more at
 * once (sh->map set) is mapped, and a read of a block or two inside the
 * mapping is a copy, not a system call: pread was a third of the served
 * transfer's system calls (doc/notes/syscalls.md).  Longer reads, and
 * reads that reach the mapping's end (the last block; the file grew),
 * are one pread.
 */
long	files_shared_read(const struct files_shared_ent *ent, int fd,
	    uint8_t *buf, size_t len, uint64_t off);
/*
 * Make copies from mappings safe: a file truncated under its readers
 * raises SIGBUS on a page past its new end, and the handler set here
 * turns that into -EIO for the one read, not a dead server.  Call once,
 * before any read that sets sh->map; returns 0, or -1 with errno.
 */
int	files_map_guard(void);

/*
 * Claim the name of u (after files_upload_begin; u must stay where it
 * is until released).  Returns 0, or -1 with err: FW_BUSY (code 2) when
 * another upload of the same directory entry is live.
 */
int	files_upload_claim(struct files_uploads *reg, struct upload *u,
	    struct files_err *err);

/* Give the name back: the next upload of it may start.  Safe twice. */
void	files_upload_release(struct files_uploads *reg, struct upload *u);

/*
 * Remove temp files a crashed server left (FILES_TMP_PREFIX "*"
 * FILES_TMP_SUFFIX) anywhere beneath the root, not following symlinks.
 * Returns the number removed.
 */
int	files_remove_stale(int rootfd);

/*
 * pread() until len bytes or the end of the file.  Returns the count or
 * -errno.  The xfer read callbacks of server and client are this.
 */
long	files_pread_full(int fd, uint8_t *buf, size_t len, uint64_t off);

/* write() all of buf.  Returns 0 or -errno. */
int	files_write_all(int fd, const uint8_t *buf, size_t len);

/* Map a write errno to a TFTP error (ENOSPC, EDQUOT, EFBIG -> 3, else 0). */
void	files_write_err(int sys, struct files_err *err);

/*
 * The words of a refusal, for the operator: what was wrong with which
 * name, and what to do when the operator can do something.  op is
 * TFTP_RRQ or TFTP_WRQ, path the normalized name.  Returns buf (cap
 * bytes) or a static string.
 */
const char *files_reason(const struct files_err *err, int op,
	    const char *path, char *buf, size_t cap);

#endif
