/*
 * origin.h - files from an HTTP origin (--origin URL): libcurl's multi
 * interface driven by the server's own loop (its sockets in the epoll,
 * its timeout in the timer heap), a fetch shared by every reader of a
 * name while it runs, the on-disk cache (--cache) with its revalidation
 * and LRU, and an upload handed on with PUT (--origin-upload).
 *
 * Nothing here blocks: a reader is told through its callback when the
 * answer's head is in (its size, or why it failed) and when more bytes
 * arrived; origin_read() answers -EAGAIN for bytes still on their way.
 * Callbacks run from the loop, never from inside origin_get/_put/_drop.
 */
#ifndef TFTPX_ORIGIN_H
#define TFTPX_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct origin;
struct origin_reader;
struct origin_put;

struct origin_cfg {
	const char	*url;		/* http:// or https://, no trailing / */
	const char	*ca;		/* --origin-ca FILE, or NULL */
	const char	*cache;		/* --cache DIR, or NULL */
	uint64_t	 cache_max;	/* bytes */
	unsigned	 cache_ttl;	/* seconds; 0: revalidate each time */
	unsigned	 giveup;	/* seconds the origin may stall */
	const char	*agent;		/* User-Agent: "tftpx/0.1.0" */
};

/* Who asks, for the X-TFTP-* request headers. */
struct origin_who {
	const char	*client;	/* "192.0.2.7:1234", "[::1]:1234" */
	const char	*file;		/* the name as asked */
	const char	*options;	/* "blksize=1468 tsize=0", or "" */
};

/* Is the origin built in (libcurl)?  1 or 0. */
int	origin_available(void);

/*
 * Check url (http or https) and the cache directory, before the server
 * starts.  Returns 0, or -1 with a one-line reason in why.
 */
int	origin_check(const struct origin_cfg *cfg, char *why, size_t cap);

/*
 * Start: libcurl, the multi handle on l, the cache directory opened and
 * its index read.  Returns NULL with why filled.
 */
struct origin *origin_open(struct loop *l, const struct origin_cfg *cfg,
	    char *why, size_t cap);
/* Stop every fetch and upload (their owners were ended), free. */
void	origin_close(struct origin *o);

/*
 * Is path something the origin may be asked for?  Paths with a "." or
 * ".." segment are not (an URL would climb out of the origin's base).
 */
int	origin_path_ok(const char *path);

enum origin_state {
	ORIGIN_WAIT,			/* the answer's head is not in yet */
	ORIGIN_READY,			/* bytes come; size known or -1 */
	ORIGIN_FAILED,			/* code and msg say why */
};

/*
 * A reader of path: from the cache when fresh, joining a fetch of path
 * under way, or a new GET.  cb(arg) is called when the state changes and
 * when more bytes arrived.  Returns NULL when out of memory.
 */
struct origin_reader *origin_get(struct origin *o, const char *path,
	    const struct origin_who *who, void (*cb)(void *), void *arg);
/*
 * Where r stands.  READY: *size is the length (-1: not known until the
 * end).  FAILED: *code is the TFTP error for the client, *msg its words.
 */
enum origin_state origin_state(const struct origin_reader *r, int64_t *size,
	    int *code, const char **msg);
/*
 * Copy bytes off .. off + len: the count (short only at the end), or
 * -EAGAIN while they are on their way, -EIO when the fetch failed.
 */
long	origin_read(struct origin_reader *r, uint64_t off, uint8_t *buf,
	    size_t len);
/* The reader is done; no callback after this. */
void	origin_drop(struct origin_reader *r);

/*
 * PUT size bytes of fd (read with pread; the caller keeps it open until
 * the callback) to path.  cb(arg, code, msg): code < 0 the origin took
 * it (2xx), else the TFTP error for the client and its words.  Returns
 * NULL when out of memory.
 */
struct origin_put *origin_put(struct origin *o, const char *path,
	    const struct origin_who *who, int fd, uint64_t size,
	    void (*cb)(void *, int, const char *), void *arg);
/* The upload's owner is gone: stop it; no callback after this. */
void	origin_put_cancel(struct origin_put *p);

/* Bytes in the cache directory, or -1 without --cache (metrics). */
int64_t	origin_cache_bytes(const struct origin *o);

#endif
