/*
 * origin.c - files from an HTTP origin: libcurl's multi interface on the
 * server's loop, fetches shared while they run, the cache on disk, and
 * uploads handed on with PUT.  See origin.h and doc/ARCHITECTURE.md
 * ("The HTTP origin").
 *
 * The shape, for the next reader:
 * - libcurl tells us which sockets to watch (sock_cb) and when to call it
 *   back (timer_cb); the loop's events go back in with
 *   curl_multi_socket_action().  No thread, no blocking call.
 * - Inside libcurl's callbacks (head, body, done) we only record what
 *   happened and mark the fetch; pump() tells the readers afterwards, so
 *   a reader that ends (and drops) never runs inside libcurl.
 * - A fetch writes its body to a file as it comes: a temp file in the
 *   cache directory (linked in when complete, as uploads are) or a
 *   memfd.  Readers pread() it at their own offsets.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "origin.h"

#ifndef TFTPX_NO_CURL

/* calls go through the table lcurl below (its types are the header's) */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>

#include "dynlib.h"
#include "files.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

/* the shared object dlopen()ed (the Makefile may name another) */
#ifndef TFTPX_CURL_SO
#define TFTPX_CURL_SO "libcurl.so.4"
#endif

#define MAX_REDIRS	5
#define ETAG_MAX	192
#define LASTMOD_MAX	64
#define MSG_MAX		160
#define KEY_LEN		17		/* 16 hex digits and NUL */
#define META_MAX	8192

enum { JOB_FETCH, JOB_PUT };
enum { F_HEAD, F_BODY, F_DONE, F_FAILED };

/* One entry of the cache's index: a data file and its .meta beside it. */
struct cent {
	char		 key[KEY_LEN];
	char		*path;		/* the encoded path it holds */
	uint64_t	 size;
	int64_t		 fetched;	/* wall clock, s; 0: revalidate */
	uint64_t	 used;		/* LRU tick */
	char		 etag[ETAG_MAX];
	char		 lastmod[LASTMOD_MAX];
};

struct osock {
	struct loop_fd	 w;
	struct origin	*o;
	struct osock	*next_dead;
};

struct fetch {
	int		 kind;		/* JOB_FETCH: first, see job_of */
	struct origin	*o;
	struct fetch	*next;		/* o->fetches */
	int		 live;		/* may be joined */
	int		 solo;		/* never joined (a private answer) */
	CURL		*e;
	struct curl_slist *hdrs;
	char		*path;		/* encoded, the key */
	char		*url;
	char		 key[KEY_LEN];
	char		 err[CURL_ERROR_SIZE];
	int		 state;		/* F_* */
	int		 status;	/* HTTP status of the answer */
	int		 nostore, priv, vary, nocache;
	int		 store;		/* the body goes into the cache */
	int		 over;		/*  ... but grew past --cache-max */
	int64_t		 length;	/* Content-Length, or -1 */
	uint64_t	 have;		/* body bytes written to fd */
	int		 fd;		/* the body, readers pread it */
	struct upload	 up;		/* the cache's temp file */
	int		 reval;		/* a conditional GET of the entry key */
	char		 etag[ETAG_MAX];
	char		 lastmod[LASTMOD_MAX];
	int		 code;		/* F_FAILED: TFTP error, words */
	char		 msg[MSG_MAX];
	const char	*how;		/* miss, revalidated, ... for -v */
	struct origin_reader *readers;
	int		 refs;		/* readers, the handle, pump */
	int		 news;		/* readers are to be told */
	uint64_t	 started;
	struct loop_timer stall;	/* no byte for cfg->giveup: over */
	uint64_t	 last;		/*  the last byte or head, loop us */
};

struct origin_reader {
	struct fetch	*f;
	struct origin_reader *next;
	void		(*cb)(void *);
	void		*arg;
	struct origin_who who;		/* copies, after the struct */
};

struct origin_put {
	int		 kind;		/* JOB_PUT */
	struct origin	*o;
	struct origin_put *next;
	CURL		*e;
	struct curl_slist *hdrs;
	char		*url;
	char		 err[CURL_ERROR_SIZE];
	int		 fd;
	uint64_t	 size, off;
	int		 done, code;
	char		 msg[MSG_MAX];
	struct loop_timer stall;
	uint64_t	 last;
	void		(*cb)(void *, int, const char *);
	void		*arg;
};

struct origin {
	const struct origin_cfg *cfg;
	struct loop	*loop;
	CURLM		*multi;
	struct loop_timer timer;	/* libcurl's timeout */
	struct loop_timer reap;		/* frees dead socket watchers */
	struct osock	*dead;
	struct fetch	*fetches;
	struct origin_put *puts;
	int		 dirty;		/* some fetch or put has news */
	int		 pumping;
	int		 cachefd;	/* -1: no --cache */
	struct cent	*ents;
	size_t		 nents, cap;
	uint64_t	 total;		/* bytes in the cache */
	uint64_t	 tick;
};

static void pump(struct origin *o);
static struct fetch *fetch_start(struct origin *o, const char *path,
    const struct origin_who *who, struct cent *reval, int solo);

int
origin_available(void)
{
	return 1;
}

/*
 * libcurl, loaded by the first origin_check (dynlib.c says why): each
 * function of it that we call, as a pointer of the header's type.
 */
#define LCURL_FUNCS(X) \
	X(curl_global_init) X(curl_global_cleanup) X(curl_easy_init) \
	X(curl_easy_cleanup) X(curl_easy_setopt) X(curl_easy_getinfo) \
	X(curl_easy_strerror) X(curl_free) X(curl_multi_init) \
	X(curl_multi_cleanup) X(curl_multi_setopt) X(curl_multi_add_handle) \
	X(curl_multi_remove_handle) X(curl_multi_assign) \
	X(curl_multi_socket_action) X(curl_multi_info_read) \
	X(curl_slist_append) X(curl_slist_free_all) X(curl_url) \
	X(curl_url_cleanup) X(curl_url_get) X(curl_url_set)

static struct {
/* NOLINTNEXTLINE(bugprone-macro-parentheses): f names a member */
#define LCURL_MEMBER(f) __typeof__(&(f)) f;
	LCURL_FUNCS(LCURL_MEMBER)
#undef LCURL_MEMBER
} lcurl;

static int
lcurl_load(char *why, size_t cap)
{
#define LCURL_SYM(f) { #f, &lcurl.f },
	static const struct dynlib_sym syms[] = { LCURL_FUNCS(LCURL_SYM) };
#undef LCURL_SYM

	return dynlib_load(TFTPX_CURL_SO, "libcurl4", syms,
	    sizeof(syms) / sizeof(syms[0]), why, cap);
}

/* ---- names and URLs ----------------------------------------------------- */

int
origin_path_ok(const char *path)
{
	const char *s = path, *e;
	size_t n;

	if (*path == '\0')
		return 0;
	while (*s) {
		e = strchr(s, '/');
		n = e ? (size_t)(e - s) : strlen(s);
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' &&
		    s[1] == '.'))
			return 0;
		s += n;
		while (*s == '/')
			s++;
	}
	return 1;
}

/* path with every byte outside [A-Za-z0-9-._~/] as %XX; "//" as "/". */
static char *
url_path(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(strlen(path) * 3 + 1), *p = out;
	const unsigned char *s = (const unsigned char *)path;

	if (out == NULL)
		return NULL;
	while (*s == '/')
		s++;
	for (; *s; s++) {
		if (*s == '/' && p > out && p[-1] == '/')
			continue;
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~/", *s)) {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	*p = '\0';
	return out;
}

static char *
url_of(const struct origin *o, const char *enc)
{
	size_t n = strlen(o->cfg->url) + strlen(enc) + 2;
	char *u = malloc(n);

	if (u != NULL)
		snprintf(u, n, "%s/%s", o->cfg->url, enc);
	return u;
}

/* The cache's file name of an encoded path: FNV-1a, 64 bits, in hex. */
static void
key_of(const char *enc, char key[KEY_LEN])
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *enc; enc++)
		h = (h ^ (unsigned char)*enc) * 0x100000001b3ull;
	snprintf(key, KEY_LEN, "%016llx", (unsigned long long)h);
}

int
origin_check(const struct origin_cfg *cfg, char *why, size_t cap)
{
	CURLU *u;
	char *scheme = NULL;
	int rc = -1;
	struct stat st;

	if (lcurl_load(why, cap) < 0)
		return -1;
	if ((u = lcurl.curl_url()) == NULL) {
		snprintf(why, cap, "out of memory");
		return -1;
	}
	if (lcurl.curl_url_set(u, CURLUPART_URL, cfg->url, 0) != CURLUE_OK ||
	    lcurl.curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		snprintf(why, cap, "--origin %s: not a URL (give "
		    "http://HOST[:PORT]/PATH or https://...)", cfg->url);
	else if (strcasecmp(scheme, "http") != 0 &&
	    strcasecmp(scheme, "https") != 0)
		snprintf(why, cap, "--origin %s: scheme %s is not supported "
		    "(http or https)", cfg->url, scheme);
	else if (strchr(cfg->url, '?') || strchr(cfg->url, '#'))
		snprintf(why, cap, "--origin %s: a query or fragment cannot "
		    "take a file name after it", cfg->url);
	else
		rc = 0;
	lcurl.curl_free(scheme);
	lcurl.curl_url_cleanup(u);
	if (rc == 0 && cfg->ca && access(cfg->ca, R_OK) < 0) {
		snprintf(why, cap, "--origin-ca %s: %s", cfg->ca,
		    strerror(errno));
		rc = -1;
	}
	if (rc == 0 && cfg->cache && stat(cfg->cache, &st) < 0) {
		snprintf(why, cap, "--cache %s: %s", cfg->cache,
		    strerror(errno));
		rc = -1;
	} else if (rc == 0 && cfg->cache && !S_ISDIR(st.st_mode)) {
		snprintf(why, cap, "--cache %s: not a directory", cfg->cache);
		rc = -1;
	}
	return rc;
}

/* ---- the cache: an index of data files and their .meta ----------------- */

static struct cent *
cache_find(struct origin *o, const char *key, const char *path)
{
	size_t i;

	for (i = 0; i < o->nents; i++)
		if (strcmp(o->ents[i].key, key) == 0)
			return path == NULL || strcmp(o->ents[i].path,
			    path) == 0 ? &o->ents[i] : NULL;
	return NULL;
}

static void
cache_forget(struct origin *o, struct cent *c)
{
	size_t i = (size_t)(c - o->ents);

	o->total -= c->size;
	free(c->path);
	memmove(&o->ents[i], &o->ents[i + 1],
	    (o->nents - i - 1) * sizeof(*c));
	o->nents--;
}

/* Remove entry c: its .meta first (a data file alone is a miss). */
static void
cache_remove(struct origin *o, struct cent *c)
{
	char meta[KEY_LEN + 8];

	snprintf(meta, sizeof(meta), "%s.meta", c->key);
	unlinkat(o->cachefd, meta, 0);
	unlinkat(o->cachefd, c->key, 0);
	cache_forget(o, c);
}

/* Least recently used leaves first, until the cache fits --cache-max. */
static void
cache_evict(struct origin *o)
{
	size_t i, lru;

	while (o->total > o->cfg->cache_max && o->nents > 0) {
		for (lru = 0, i = 1; i < o->nents; i++)
			if (o->ents[i].used < o->ents[lru].used)
				lru = i;
		log_event(LOG_VERBOSE, "origin: cache: %s leaves (%llu "
		    "bytes, least recently used)", o->ents[lru].path,
		    (unsigned long long)o->ents[lru].size);
		cache_remove(o, &o->ents[lru]);
	}
}

static struct cent *
cache_add(struct origin *o, const char *key, const char *path)
{
	struct cent *c, *n;

	if ((c = cache_find(o, key, NULL)) != NULL) {
		o->total -= c->size;
		free(c->path);
	} else {
		if (o->nents == o->cap) {
			size_t cap = o->cap ? 2 * o->cap : 64;

			if ((n = realloc(o->ents, cap * sizeof(*n))) == NULL)
				return NULL;
			o->ents = n;
			o->cap = cap;
		}
		c = &o->ents[o->nents++];
	}
	memset(c, 0, sizeof(*c));
	memcpy(c->key, key, KEY_LEN);
	if ((c->path = strdup(path)) == NULL) {
		*c = o->ents[--o->nents];
		return NULL;
	}
	c->used = ++o->tick;
	return c;
}

/* Write c's .meta atomically (temp file, rename). */
static int
meta_write(struct origin *o, const struct cent *c)
{
	char meta[KEY_LEN + 8], buf[META_MAX];
	struct files_err err;
	struct upload up;
	int n;

	snprintf(meta, sizeof(meta), "%s.meta", c->key);
	n = snprintf(buf, sizeof(buf), "name %s\nsize %llu\nfetched %lld\n"
	    "etag %s\nmodified %s\n", c->path, (unsigned long long)c->size,
	    (long long)c->fetched, c->etag, c->lastmod);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	memset(&up, 0, sizeof(up));
	up.fd = up.dirfd = -1;
	if (files_upload_begin(o->cachefd, meta, 1, &up, &err) < 0)
		return -1;
	if (files_write_all(up.fd, (const uint8_t *)buf, (size_t)n) < 0) {
		files_upload_abort(&up);
		return -1;
	}
	return files_upload_commit(&up, &err);
}

/* The value of "field " at the start of a line of text, into out. */
static int
meta_field(const char *text, const char *field, char *out, size_t cap)
{
	size_t fl = strlen(field);
	const char *p = text, *e;

	while (p && *p) {
		e = strchr(p, '\n');
		if (strncmp(p, field, fl) == 0 && p[fl] == ' ') {
			size_t n = (e ? (size_t)(e - p) : strlen(p)) - fl - 1;

			if (n >= cap)
				return -1;
			memcpy(out, p + fl + 1, n);
			out[n] = '\0';
			return 0;
		}
		p = e ? e + 1 : NULL;
	}
	return -1;
}

static int
is_key(const char *s)
{
	size_t i;

	for (i = 0; i < KEY_LEN - 1; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' &&
		    s[i] <= 'f')))
			return 0;
	return 1;
}

/* Read one .meta into the index; a pair that does not agree is removed. */
static void
cache_load_one(struct origin *o, const char *key)
{
	char meta[KEY_LEN + 8], text[META_MAX], path[META_MAX], num[32];
	struct cent *c;
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(meta, sizeof(meta), "%s.meta", key);
	if ((fd = openat(o->cachefd, meta, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0)
		return;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		goto bad;
	text[n] = '\0';
	if (meta_field(text, "name", path, sizeof(path)) < 0 ||
	    meta_field(text, "size", num, sizeof(num)) < 0 ||
	    fstatat(o->cachefd, key, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != strtoull(num, NULL, 10))
		goto bad;
	if ((c = cache_add(o, key, path)) == NULL)
		return;
	c->size = (uint64_t)st.st_size;
	if (meta_field(text, "fetched", num, sizeof(num)) == 0)
		c->fetched = strtoll(num, NULL, 10);
	meta_field(text, "etag", c->etag, sizeof(c->etag));
	meta_field(text, "modified", c->lastmod, sizeof(c->lastmod));
	/* oldest fetch first: the order of use is not kept across runs */
	c->used = (uint64_t)(c->fetched > 0 ? c->fetched : 0);
	o->total += c->size;
	return;
bad:
	unlinkat(o->cachefd, meta, 0);
	unlinkat(o->cachefd, key, 0);
}

/* The index from the cache directory; data files without .meta go. */
static void
cache_load(struct origin *o)
{
	struct dirent *d;
	DIR *dir;
	int fd;

	if ((fd = dup(o->cachefd)) < 0 || (dir = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		size_t n = strlen(d->d_name);

		if (n == KEY_LEN - 1 + 5 && is_key(d->d_name) &&
		    strcmp(d->d_name + KEY_LEN - 1, ".meta") == 0) {
			char key[KEY_LEN];

			memcpy(key, d->d_name, KEY_LEN - 1);
			key[KEY_LEN - 1] = '\0';
			cache_load_one(o, key);
		}
	}
	rewinddir(dir);
	while ((d = readdir(dir)) != NULL)
		if (strlen(d->d_name) == KEY_LEN - 1 && is_key(d->d_name) &&
		    cache_find(o, d->d_name, NULL) == NULL)
			unlinkat(o->cachefd, d->d_name, 0);
	closedir(dir);
	/* the LRU ticks go on after the oldest */
	for (size_t i = 0; i < o->nents; i++)
		if (o->ents[i].used > o->tick)
			o->tick = o->ents[i].used;
	cache_evict(o);
}

/* ---- libcurl on the loop ------------------------------------------------ */

static void check_done(struct origin *o);

static void
reap_cb(struct loop_timer *t)
{
	struct origin *o = t->arg;
	struct osock *s;

	while ((s = o->dead) != NULL) {
		o->dead = s->next_dead;
		free(s);
	}
}

static void
act(struct origin *o, curl_socket_t fd, int flags)
{
	int running;

	lcurl.curl_multi_socket_action(o->multi, fd, flags, &running);
	check_done(o);
	pump(o);
}

static void
fd_cb(struct loop_fd *w, uint32_t events)
{
	struct osock *s = w->arg;
	int flags = 0;

	if (events & EPOLLIN)
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		flags |= CURL_CSELECT_ERR;
	act(s->o, w->fd, flags);
}

static int
sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
	struct origin *o = userp;
	struct osock *s = sockp;
	uint32_t ev = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			loop_fd_stop(o->loop, &s->w);
			s->w.fd = -1;
			/* an event of this turn may still name it */
			s->next_dead = o->dead;
			o->dead = s;
			loop_timer_set(o->loop, &o->reap, 1);
			lcurl.curl_multi_assign(o->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		s->o = o;
		if (loop_fd_start_events(o->loop, &s->w, fd, ev, fd_cb,
		    s) < 0) {
			free(s);
			return -1;
		}
		lcurl.curl_multi_assign(o->multi, fd, s);
		return 0;
	}
	return loop_fd_modify(o->loop, &s->w, ev) < 0 ? -1 : 0;
}

static void
curl_timer_fired(struct loop_timer *t)
{
	act(t->arg, CURL_SOCKET_TIMEOUT, 0);
}

static int
timer_cb(CURLM *m, long ms, void *userp)
{
	struct origin *o = userp;

	(void)m;
	if (ms < 0)
		loop_timer_stop(o->loop, &o->timer);
	else
		loop_timer_set(o->loop, &o->timer, loop_now(o->loop) +
		    (uint64_t)ms * 1000u + 1);
	return 0;
}

/* ---- fetches ------------------------------------------------------------ */

/* Stop the request of handle *e (outside libcurl's callbacks). */
static void
easy_release(struct origin *o, CURL **e)
{
	if (*e == NULL)
		return;
	lcurl.curl_multi_remove_handle(o->multi, *e);
	lcurl.curl_easy_cleanup(*e);
	*e = NULL;
}

static void
fetch_free(struct fetch *f)
{
	struct origin *o = f->o;
	struct fetch **pp;

	for (pp = &o->fetches; *pp; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	easy_release(o, &f->e);
	loop_timer_stop(o->loop, &f->stall);
	lcurl.curl_slist_free_all(f->hdrs);
	files_upload_abort(&f->up);
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->url);
	free(f);
}

/* Drop a fetch's reference and free it when nobody holds it. */
static void
fetch_put(struct fetch *f)
{
	if (--f->refs == 0)
		fetch_free(f);
}

static void
tell(struct fetch *f)
{
	f->news = 1;
	f->o->dirty = 1;
}

/* The fetch failed: code and words for its readers, one log line. */
static void
fetch_fail(struct fetch *f, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
fetch_fail(struct fetch *f, int code, const char *fmt, ...)
{
	va_list ap;

	if (f->state == F_FAILED || f->state == F_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof(f->msg), fmt, ap);
	va_end(ap);
	f->code = code;
	f->state = F_FAILED;
	f->live = 0;
	metrics_origin(MO_FAILED);
	files_upload_abort(&f->up);
	tell(f);
}

/*
 * Serve the cached copy of the entry being revalidated: the origin said
 * 304, or it failed and a stale copy is better than none.
 */
static int
fetch_use_cache(struct fetch *f, struct cent *c)
{
	struct stat st;
	int fd;

	if ((fd = openat(f->o->cachefd, c->key, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) < 0 || fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size != c->size) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = fd;
	f->length = (int64_t)c->size;
	f->have = c->size;
	f->state = F_DONE;
	f->live = 0;
	c->used = ++f->o->tick;
	tell(f);
	return 0;
}

/*
 * A revalidation failed (not a 404): serve the cached copy of f's name
 * if it is still there, and say so.  0 when served, -1 when not.
 */
static int
serve_stale(struct fetch *f)
{
	struct cent *c;

	if (!f->reval || (c = cache_find(f->o, f->key, f->path)) == NULL ||
	    fetch_use_cache(f, c) < 0)
		return -1;
	f->how = "stale";
	metrics_origin(MO_STALE);
	log_event(LOG_QUIET, "origin: serving the cached copy of %s (the "
	    "origin failed to revalidate it)", f->path);
	return 0;
}

/*
 * libcurl is done with a request: its HTTP status, the handle released,
 * the stall timer stopped.
 */
static long
easy_finish(struct origin *o, CURL **e, struct loop_timer *stall)
{
	long status = 0;

	lcurl.curl_easy_getinfo(*e, CURLINFO_RESPONSE_CODE, &status);
	easy_release(o, e);
	loop_timer_stop(o->loop, stall);
	return status;
}

/*
 * A stall timer fired: 1 when it is not due yet (moved to last plus
 * the give-up time), 0 when the request is to end.
 */
static int
not_due(struct origin *o, struct loop_timer *lt, uint64_t last)
{
	uint64_t due = last + (uint64_t)o->cfg->giveup * 1000000u;

	if (loop_now(o->loop) >= due)
		return 0;
	loop_timer_set(o->loop, lt, due);
	return 1;
}

/* The words of a status for the client, and its TFTP code. */
static int
status_code(int status, char *msg, size_t cap)
{
	if (status == 404) {
		snprintf(msg, cap, "file not found");
		return 1;
	}
	if (status == 403 || status == 401) {
		snprintf(msg, cap, "access violation (origin: HTTP %d)", status);
		return 2;
	}
	snprintf(msg, cap, "origin: HTTP %d", status);
	return 0;
}

/* A body begins: where it is written, whether it is cached. */
static int
fetch_body(struct fetch *f)
{
	struct origin *o = f->o;
	struct files_err err;
	curl_off_t len = -1;

	lcurl.curl_easy_getinfo(f->e, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	f->length = len >= 0 ? (int64_t)len : -1;
	if (f->priv || f->vary || f->nostore)
		f->live = 0;
	f->store = o->cachefd >= 0 && !f->priv && !f->vary && !f->nostore &&
	    f->status == 200 && (f->length < 0 ||
	    (uint64_t)f->length <= o->cfg->cache_max);
	if (f->store && files_upload_begin(o->cachefd, f->key, 1, &f->up,
	    &err) == 0 && (f->fd = dup(f->up.fd)) >= 0)
		goto ok;
	files_upload_abort(&f->up);
	f->store = 0;
	if ((f->fd = memfd_create("tftpx-origin", MFD_CLOEXEC)) < 0) {
		fetch_fail(f, 0, "server cannot hold the body: %s",
		    strerror(errno));
		return -1;
	}
ok:
	f->state = F_BODY;
	tell(f);
	return 0;
}

/* The head of the final answer is in. */
static int
fetch_head(struct fetch *f, int status)
{
	struct origin *o = f->o;
	struct cent *c = f->reval ? cache_find(o, f->key, f->path) : NULL;
	char msg[MSG_MAX];
	int code;

	f->status = status;
	if (c != NULL && status == 304) {
		c->fetched = f->nocache ? 0 : (int64_t)time(NULL);
		meta_write(o, c);
		f->how = "revalidated";
		if (fetch_use_cache(f, c) == 0) {
			metrics_origin(MO_REVALIDATED);
			log_event(LOG_VERBOSE, "origin: GET %s: 304, %llu bytes "
			    "from the cache (revalidated)", f->url,
			    (unsigned long long)c->size);
			return 0;
		}
	}
	if (status >= 200 && status < 300)
		return fetch_body(f);
	code = status_code(status, msg, sizeof(msg));
	log_event(LOG_QUIET, "origin: GET %s: HTTP %d", f->url, status);
	if (c != NULL && status == 404)
		cache_remove(o, c);
	else if (serve_stale(f) == 0)
		return -1;
	fetch_fail(f, code, "%s", msg);
	return -1;
}

/* Does a Cache-Control or Vary value say the answer is one client's? */
static void
head_field(struct fetch *f, const char *line, size_t n)
{
	char v[ETAG_MAX];
	const char *c = memchr(line, ':', n);
	size_t k, vl;

	if (c == NULL)
		return;
	k = (size_t)(c - line);
	c++;
	while (c < line + n && (*c == ' ' || *c == '\t'))
		c++;
	vl = (size_t)(line + n - c);
	while (vl && (c[vl - 1] == '\r' || c[vl - 1] == '\n' ||
	    c[vl - 1] == ' '))
		vl--;
	if (vl >= sizeof(v))
		vl = sizeof(v) - 1;
	memcpy(v, c, vl);
	v[vl] = '\0';
	if (k == 4 && strncasecmp(line, "etag", 4) == 0)
		snprintf(f->etag, sizeof(f->etag), "%s", v);
	else if (k == 13 && strncasecmp(line, "last-modified", 13) == 0)
		snprintf(f->lastmod, sizeof(f->lastmod), "%.*s",
		    (int)sizeof(f->lastmod) - 1, v);
	else if (k == 13 && strncasecmp(line, "cache-control", 13) == 0) {
		if (strcasestr(v, "no-store"))
			f->nostore = 1;
		if (strcasestr(v, "private"))
			f->priv = 1;
		if (strcasestr(v, "no-cache"))
			f->nocache = 1;
	} else if (k == 4 && strncasecmp(line, "vary", 4) == 0) {
		if (strcasecmp(v, "accept-encoding") != 0)
			f->vary = 1;
	}
}

static size_t
head_cb(char *line, size_t size, size_t nitems, void *arg)
{
	struct fetch *f = arg;
	size_t n = size * nitems;
	long status = 0;

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* a new answer (after a redirect or a 100): forget the old */
		f->etag[0] = f->lastmod[0] = '\0';
		f->nostore = f->priv = f->vary = f->nocache = 0;
		return n;
	}
	if (!(n <= 2 && (line[0] == '\r' || line[0] == '\n'))) {
		head_field(f, line, n);
		return n;
	}
	f->last = loop_now(f->o->loop);
	if (f->state != F_HEAD)
		return n;
	lcurl.curl_easy_getinfo(f->e, CURLINFO_RESPONSE_CODE, &status);
	/* a 1xx, or a redirect libcurl follows: not the answer yet */
	if (status < 200 || (status >= 300 && status < 400 && status != 304))
		return n;
	return fetch_head(f, (int)status) < 0 && f->state == F_FAILED ? 0 : n;
}

static size_t
body_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct fetch *f = arg;
	size_t n = size * nitems, done = 0;
	ssize_t w;

	if (f->state != F_BODY)
		return f->state == F_DONE ? n : 0;
	while (done < n) {
		w = pwrite(f->fd, data + done, n - done, (off_t)(f->have + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			log_event(LOG_QUIET, "origin: GET %s: cannot store the "
			    "body: %s", f->url, strerror(errno));
			fetch_fail(f, 0, "server cannot store the file");
			return 0;
		}
		done += (size_t)w;
	}
	f->have += n;
	f->last = loop_now(f->o->loop);
	if (f->store && f->length < 0 && f->have > f->o->cfg->cache_max)
		f->over = 1;
	tell(f);
	return n;
}

/* Link a complete body into the cache and record it. */
static void
fetch_store(struct fetch *f)
{
	struct origin *o = f->o;
	struct files_err err;
	struct cent *c;

	if (!f->store || f->over) {
		files_upload_abort(&f->up);
		return;
	}
	if (files_upload_commit(&f->up, &err) < 0) {
		log_event(LOG_QUIET, "origin: cache: cannot store %s: %s",
		    f->path, err.msg);
		return;
	}
	if ((c = cache_add(o, f->key, f->path)) == NULL)
		return;
	c->size = f->have;
	c->fetched = f->nocache ? 0 : (int64_t)time(NULL);
	snprintf(c->etag, sizeof(c->etag), "%s", f->etag);
	snprintf(c->lastmod, sizeof(c->lastmod), "%s", f->lastmod);
	o->total += c->size;
	if (meta_write(o, c) < 0) {
		log_event(LOG_QUIET, "origin: cache: cannot write the record "
		    "of %s", f->path);
		cache_remove(o, c);
		return;
	}
	cache_evict(o);
}

/* libcurl's verdict on a fetch. */
static void
fetch_done(struct fetch *f, CURLcode res)
{
	const char *what = f->err[0] ? f->err : lcurl.curl_easy_strerror(res);
	long status = easy_finish(f->o, &f->e, &f->stall);

	if (f->state == F_HEAD && res == CURLE_OK) {
		if (fetch_head(f, (int)status) < 0 || f->state != F_BODY)
			goto out;
	}
	if (f->state == F_BODY && res == CURLE_OK) {
		f->state = F_DONE;
		f->live = 0;
		if (f->length < 0)
			f->length = (int64_t)f->have;
		fetch_store(f);
		metrics_origin(f->reval ? MO_REVALIDATED : MO_MISS);
		log_event(LOG_VERBOSE, "origin: GET %s: %d, %llu bytes in "
		    "%.3f s (%s)", f->url, f->status,
		    (unsigned long long)f->have, (double)(loop_now(f->o->loop) -
		    f->started) / 1e6, f->how);
		tell(f);
		goto out;
	}
	if (f->state == F_HEAD || f->state == F_BODY) {
		char words[MSG_MAX];

		if (res == CURLE_OPERATION_TIMEDOUT)
			snprintf(words, sizeof(words), "timed out (%u s "
			    "without a byte)", f->o->cfg->giveup);
		else
			snprintf(words, sizeof(words), "%.150s", what);
		log_event(LOG_QUIET, "origin: GET %s: %s", f->url, words);
		if (f->state != F_HEAD || serve_stale(f) < 0)
			fetch_fail(f, 0, "origin: %s", words);
	}
out:
	fetch_put(f);
}

/* The request headers of who, and the conditional ones of entry c. */
static struct curl_slist *
who_headers(const struct origin_who *who, const struct cent *c)
{
	struct curl_slist *h = NULL, *n;
	char line[2048];
	const char *v[3] = { who->client, who->file, who->options };
	const char *k[3] = { "X-TFTP-Client", "X-TFTP-File",
	    "X-TFTP-Options" };
	int i;

	for (i = 0; i < 3; i++) {
		if (v[i] == NULL || v[i][0] == '\0')
			snprintf(line, sizeof(line), "%s;", k[i]);
		else
			snprintf(line, sizeof(line), "%s: %s", k[i], v[i]);
		if ((n = lcurl.curl_slist_append(h, line)) == NULL)
			goto fail;
		h = n;
	}
	if (c != NULL && c->etag[0]) {
		snprintf(line, sizeof(line), "If-None-Match: %s", c->etag);
		if ((n = lcurl.curl_slist_append(h, line)) == NULL)
			goto fail;
		h = n;
	}
	if (c != NULL && c->lastmod[0]) {
		snprintf(line, sizeof(line), "If-Modified-Since: %s",
		    c->lastmod);
		if ((n = lcurl.curl_slist_append(h, line)) == NULL)
			goto fail;
		h = n;
	}
	return h;
fail:
	lcurl.curl_slist_free_all(h);
	return NULL;
}

/* What every request of ours sets. */
static void
easy_common(struct origin *o, CURL *e, const char *url, char *err,
    struct curl_slist *hdrs, void *job)
{
	lcurl.curl_easy_setopt(e, CURLOPT_URL, url);
	lcurl.curl_easy_setopt(e, CURLOPT_PRIVATE, job);
	lcurl.curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
	lcurl.curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	lcurl.curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	lcurl.curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	lcurl.curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	lcurl.curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	lcurl.curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)MAX_REDIRS);
	lcurl.curl_easy_setopt(e, CURLOPT_USERAGENT, o->cfg->agent);
	lcurl.curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)o->cfg->giveup);
	/*
	 * A stall (no byte for the give-up time) is told by our own timer
	 * (fetch_stalled): libcurl's low-speed check averages over seconds
	 * of history and would let a stalled body run on for 5 s more
	 * (doc/notes/http-origin.md).
	 */
	if (o->cfg->ca)
		lcurl.curl_easy_setopt(e, CURLOPT_CAINFO, o->cfg->ca);
}

static void
fetch_stalled(struct loop_timer *lt)
{
	struct fetch *f = lt->arg;
	struct origin *o = f->o;

	if (f->e == NULL || not_due(o, lt, f->last))
		return;
	log_event(LOG_QUIET, "origin: GET %s: timed out (%u s without a "
	    "byte)", f->url, o->cfg->giveup);
	easy_release(o, &f->e);
	/* a stalled revalidation: the stale copy, as for other failures */
	if (f->state != F_HEAD || serve_stale(f) < 0)
		fetch_fail(f, 0, "origin: timed out (%u s without a byte)",
		    o->cfg->giveup);
	pump(o);
	fetch_put(f);			/* the handle's reference */
}

static void
put_stalled(struct loop_timer *lt)
{
	struct origin_put *p = lt->arg;
	struct origin *o = p->o;

	if (p->e == NULL || p->done || not_due(o, lt, p->last))
		return;
	log_event(LOG_QUIET, "origin: PUT %s: timed out (%u s without "
	    "progress)", p->url, o->cfg->giveup);
	easy_release(o, &p->e);
	p->done = 1;
	p->code = 0;
	metrics_counts.puts_failed++;
	snprintf(p->msg, sizeof(p->msg), "origin: timed out");
	o->dirty = 1;
	pump(o);
}

static struct fetch *
fetch_start(struct origin *o, const char *path, const struct origin_who *who,
    struct cent *reval, int solo)
{
	struct fetch *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->kind = JOB_FETCH;
	f->o = o;
	f->fd = -1;
	f->up.fd = f->up.dirfd = -1;
	f->length = -1;
	f->live = !solo;
	f->solo = solo;
	f->reval = reval != NULL;
	f->how = reval ? "revalidated" : "miss";
	f->started = loop_now(o->loop);
	key_of(path, f->key);
	if ((f->path = strdup(path)) == NULL ||
	    (f->url = url_of(o, path)) == NULL ||
	    (f->hdrs = who_headers(who, reval)) == NULL ||
	    (f->e = lcurl.curl_easy_init()) == NULL)
		goto fail;
	easy_common(o, f->e, f->url, f->err, f->hdrs, f);
	lcurl.curl_easy_setopt(f->e, CURLOPT_HEADERFUNCTION, head_cb);
	lcurl.curl_easy_setopt(f->e, CURLOPT_HEADERDATA, f);
	lcurl.curl_easy_setopt(f->e, CURLOPT_WRITEFUNCTION, body_cb);
	lcurl.curl_easy_setopt(f->e, CURLOPT_WRITEDATA, f);
	/*
	 * Bodies in 256 KiB pieces, not libcurl's 16 KiB: fewer wakes of
	 * the readers (a 64 MiB cold get, python's http.server as origin:
	 * 211-269 MB/s before, 289-300 after; 345 from DIR)
	 */
	lcurl.curl_easy_setopt(f->e, CURLOPT_BUFFERSIZE, 262144L);
	if (lcurl.curl_multi_add_handle(o->multi, f->e) != CURLM_OK)
		goto fail;
	f->refs = 1;			/* the handle's, until fetch_done */
	f->next = o->fetches;
	o->fetches = f;
	f->last = f->started;
	loop_timer_init(&f->stall, fetch_stalled, f);
	loop_timer_set(o->loop, &f->stall, f->started +
	    (uint64_t)o->cfg->giveup * 1000000u);
	return f;
fail:
	if (f->e)
		lcurl.curl_easy_cleanup(f->e);
	lcurl.curl_slist_free_all(f->hdrs);
	free(f->url);
	free(f->path);
	free(f);
	return NULL;
}

/* A fetch that is the cache's copy already (a fresh hit). */
static struct fetch *
fetch_cached(struct origin *o, struct cent *c)
{
	struct fetch *f;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->kind = JOB_FETCH;
	f->o = o;
	f->fd = -1;
	f->up.fd = f->up.dirfd = -1;
	memcpy(f->key, c->key, KEY_LEN);
	f->status = 200;
	f->how = "hit";
	if ((f->path = strdup(c->path)) == NULL ||
	    fetch_use_cache(f, c) < 0) {
		free(f->path);
		if (f->fd >= 0)
			close(f->fd);
		free(f);
		return NULL;
	}
	f->news = 0;
	f->next = o->fetches;
	o->fetches = f;
	return f;
}

/* ---- readers ------------------------------------------------------------ */

static void
attach(struct fetch *f, struct origin_reader *r)
{
	r->f = f;
	r->next = f->readers;
	f->readers = r;
	f->refs++;
}

static void
detach(struct origin_reader *r)
{
	struct origin_reader **pp;
	struct fetch *f = r->f;

	for (pp = &f->readers; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	r->f = NULL;
}

static struct origin_reader *
reader_new(const struct origin_who *who, void (*cb)(void *), void *arg)
{
	size_t a = strlen(who->client) + 1, b = strlen(who->file) + 1,
	    c = strlen(who->options) + 1;
	struct origin_reader *r = calloc(1, sizeof(*r) + a + b + c);
	char *p;

	if (r == NULL)
		return NULL;
	p = (char *)(r + 1);
	r->who.client = memcpy(p, who->client, a);
	r->who.file = memcpy(p + a, who->file, b);
	r->who.options = memcpy(p + a + b, who->options, c);
	r->cb = cb;
	r->arg = arg;
	return r;
}

struct origin_reader *
origin_get(struct origin *o, const char *path, const struct origin_who *who,
    void (*cb)(void *), void *arg)
{
	struct origin_reader *r;
	struct fetch *f;
	struct cent *c = NULL;
	char key[KEY_LEN], *enc;

	if ((r = reader_new(who, cb, arg)) == NULL)
		return NULL;
	if ((enc = url_path(path)) == NULL)
		goto fail;
	/* a fetch of the name under way: a rack booting costs one GET */
	for (f = o->fetches; f; f = f->next)
		if (f->live && strcmp(f->path, enc) == 0) {
			attach(f, r);
			metrics_origin(MO_SHARED);
			log_event(LOG_VERBOSE, "origin: GET %s: shared with the "
			    "fetch under way", f->url);
			free(enc);
			return r;
		}
	key_of(enc, key);
	if (o->cachefd >= 0 && (c = cache_find(o, key, enc)) != NULL &&
	    (o->cfg->cache_ttl > 0 && c->fetched > 0 &&
	    time(NULL) - c->fetched < (int64_t)o->cfg->cache_ttl)) {
		if ((f = fetch_cached(o, c)) != NULL) {
			attach(f, r);
			metrics_origin(MO_HIT);
			log_event(LOG_VERBOSE, "origin: %s: cache hit", enc);
			free(enc);
			return r;
		}
		/* the copy went away under us: fetch it again */
		cache_forget(o, c);
		c = NULL;
	}
	f = fetch_start(o, enc, who, c, 0);
	free(enc);
	if (f == NULL)
		goto fail;
	attach(f, r);
	return r;
fail:
	free(r);
	return NULL;
}

enum origin_state
origin_state(const struct origin_reader *r, int64_t *size, int *code,
    const char **msg)
{
	const struct fetch *f = r->f;

	switch (f->state) {
	case F_HEAD:
		return ORIGIN_WAIT;
	case F_FAILED:
		*code = f->code;
		*msg = f->msg;
		return ORIGIN_FAILED;
	default:
		*size = f->length;
		return ORIGIN_READY;
	}
}

long
origin_read(struct origin_reader *r, uint64_t off, uint8_t *buf, size_t len)
{
	const struct fetch *f = r->f;
	int whole = f->state == F_DONE || (f->length >= 0 &&
	    f->have >= (uint64_t)f->length);
	ssize_t n;

	if (f->state == F_FAILED || f->fd < 0)
		return -EIO;
	if (!whole && off + len > f->have)
		return -EAGAIN;
	if (off >= f->have)
		return 0;
	if (len > f->have - off)
		len = (size_t)(f->have - off);
	do
		n = pread(f->fd, buf, len, (off_t)off);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : (long)n;
}

void
origin_drop(struct origin_reader *r)
{
	struct fetch *f;

	if (r == NULL)
		return;
	f = r->f;
	detach(r);
	free(r);
	/*
	 * The last reader of a fetch under way: go on when the body is for
	 * the cache (the next device asks for it too), else stop it.
	 */
	if (f->readers == NULL && f->e != NULL && !(f->store ||
	    (f->state == F_HEAD && f->o->cachefd >= 0 && !f->solo))) {
		easy_release(f->o, &f->e);
		f->live = 0;
		f->refs--;
	}
	fetch_put(f);
}

/*
 * A private answer (Cache-Control: private, no-store, or Vary) was
 * joined by readers it is not for: each of them asks on its own.
 */
static void
split(struct fetch *f)
{
	struct origin_reader *r, *keep;
	struct fetch *n;

	if (f->state == F_HEAD || f->state == F_FAILED || f->live || f->solo ||
	    !(f->priv || f->vary || f->nostore) || f->readers == NULL)
		return;
	f->solo = 1;
	/* the first to ask is the last in the list: it keeps the answer */
	for (keep = f->readers; keep->next; keep = keep->next)
		;
	while ((r = f->readers) != keep) {
		detach(r);
		f->refs--;
		if ((n = fetch_start(f->o, f->path, &r->who, NULL, 1)) != NULL) {
			attach(n, r);
			continue;
		}
		/* no memory for a fetch of its own: it fails */
		if ((n = calloc(1, sizeof(*n))) == NULL) {
			r->cb = NULL;
			continue;
		}
		n->kind = JOB_FETCH;
		n->o = f->o;
		n->fd = n->up.fd = n->up.dirfd = -1;
		n->state = F_FAILED;
		n->code = 0;
		snprintf(n->msg, sizeof(n->msg), "server out of memory");
		n->next = f->o->fetches;
		f->o->fetches = n;
		attach(n, r);
		tell(n);
	}
}

/* ---- uploads ------------------------------------------------------------ */

static size_t
put_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct origin_put *p = arg;
	size_t n = size * nitems;
	ssize_t r;

	if (n > p->size - p->off)
		n = (size_t)(p->size - p->off);
	if (n == 0)
		return 0;
	do
		r = pread(p->fd, buf, n, (off_t)p->off);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return CURL_READFUNC_ABORT;
	p->off += (uint64_t)r;
	p->last = loop_now(p->o->loop);
	return (size_t)r;
}

/* What the origin says to a PUT beyond its status is not ours to keep. */
static size_t
put_body_cb(char *data, size_t size, size_t nitems, void *arg)
{
	(void)data, (void)arg;
	return size * nitems;
}

static void
put_free(struct origin_put *p)
{
	struct origin_put **pp;

	for (pp = &p->o->puts; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	easy_release(p->o, &p->e);
	loop_timer_stop(p->o->loop, &p->stall);
	lcurl.curl_slist_free_all(p->hdrs);
	free(p->url);
	free(p);
}

static void
put_done(struct origin_put *p, CURLcode res)
{
	const char *what = p->err[0] ? p->err : lcurl.curl_easy_strerror(res);
	long status = easy_finish(p->o, &p->e, &p->stall);

	p->done = 1;
	p->o->dirty = 1;
	if (res == CURLE_OK && status >= 200 && status < 300) {
		p->code = -1;
		metrics_counts.puts_ok++;
		log_event(LOG_VERBOSE, "origin: PUT %s: %ld, %llu bytes",
		    p->url, status, (unsigned long long)p->size);
		return;
	}
	metrics_counts.puts_failed++;
	if (res == CURLE_OK) {
		log_event(LOG_QUIET, "origin: PUT %s: HTTP %ld", p->url, status);
		if (status == 403 || status == 401) {
			p->code = 2;
			snprintf(p->msg, sizeof(p->msg), "access violation "
			    "(origin refused the upload: HTTP %ld)", status);
		} else if (status == 413 || status == 507) {
			p->code = 3;
			snprintf(p->msg, sizeof(p->msg), "disk full or "
			    "too large (origin: HTTP %ld)", status);
		} else {
			p->code = 0;
			snprintf(p->msg, sizeof(p->msg), "origin refused the "
			    "upload: HTTP %ld", status);
		}
		return;
	}
	log_event(LOG_QUIET, "origin: PUT %s: %s", p->url,
	    res == CURLE_OPERATION_TIMEDOUT ? "timed out" : what);
	p->code = 0;
	snprintf(p->msg, sizeof(p->msg), "origin: %.140s",
	    res == CURLE_OPERATION_TIMEDOUT ? "timed out" : what);
}

struct origin_put *
origin_put(struct origin *o, const char *path, const struct origin_who *who,
    int fd, uint64_t size, void (*cb)(void *, int, const char *), void *arg)
{
	struct origin_put *p;
	struct curl_slist *n;
	char *enc;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->kind = JOB_PUT;
	p->o = o;
	p->fd = fd;
	p->size = size;
	p->cb = cb;
	p->arg = arg;
	if ((enc = url_path(path)) == NULL)
		goto fail;
	p->url = url_of(o, enc);
	free(enc);
	if (p->url == NULL || (p->hdrs = who_headers(who, NULL)) == NULL)
		goto fail;
	/* no "Expect: 100-continue" wait: the body is here, whole */
	if ((n = lcurl.curl_slist_append(p->hdrs, "Expect:")) == NULL)
		goto fail;
	p->hdrs = n;
	if ((p->e = lcurl.curl_easy_init()) == NULL)
		goto fail;
	easy_common(o, p->e, p->url, p->err, p->hdrs, p);
	lcurl.curl_easy_setopt(p->e, CURLOPT_UPLOAD, 1L);
	lcurl.curl_easy_setopt(p->e, CURLOPT_INFILESIZE_LARGE,
	    (curl_off_t)size);
	lcurl.curl_easy_setopt(p->e, CURLOPT_READFUNCTION, put_read_cb);
	lcurl.curl_easy_setopt(p->e, CURLOPT_READDATA, p);
	lcurl.curl_easy_setopt(p->e, CURLOPT_WRITEFUNCTION, put_body_cb);
	/* a redirect would send the body where it was not meant to go */
	lcurl.curl_easy_setopt(p->e, CURLOPT_FOLLOWLOCATION, 0L);
	if (lcurl.curl_multi_add_handle(o->multi, p->e) != CURLM_OK)
		goto fail;
	p->next = o->puts;
	o->puts = p;
	p->last = loop_now(o->loop);
	loop_timer_init(&p->stall, put_stalled, p);
	loop_timer_set(o->loop, &p->stall, p->last +
	    (uint64_t)o->cfg->giveup * 1000000u);
	return p;
fail:
	if (p->e)
		lcurl.curl_easy_cleanup(p->e);
	lcurl.curl_slist_free_all(p->hdrs);
	free(p->url);
	free(p);
	return NULL;
}

void
origin_put_cancel(struct origin_put *p)
{
	if (p != NULL)
		put_free(p);
}

/* ---- telling the owners ------------------------------------------------- */

static void
check_done(struct origin *o)
{
	CURLMsg *m;
	int left;
	void *job;

	while ((m = lcurl.curl_multi_info_read(o->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		job = NULL;
		lcurl.curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &job);
		if (job == NULL)
			continue;
		if (*(int *)job == JOB_FETCH)
			fetch_done(job, m->data.result);
		else
			put_done(job, m->data.result);
	}
}

/* One fetch's news to its readers; returns 1 when it told any. */
static int
pump_fetch(struct fetch *f)
{
	struct origin_reader *r, *next;

	if (!f->news)
		return 0;
	f->news = 0;
	f->refs++;
	split(f);
	for (r = f->readers; r; r = next) {
		next = r->next;
		if (r->cb)
			r->cb(r->arg);
	}
	fetch_put(f);
	return 1;
}

static void
pump(struct origin *o)
{
	struct origin_put *p;
	struct fetch *f;
	int again;

	if (o->pumping)
		return;
	o->pumping = 1;
	while (o->dirty) {
		o->dirty = 0;
		/* a reader told may end and free fetches: start over each time */
		do {
			again = 0;
			for (f = o->fetches; f; f = f->next)
				if (pump_fetch(f)) {
					again = 1;
					break;
				}
		} while (again);
		do {
			again = 0;
			for (p = o->puts; p; p = p->next)
				if (p->done) {
					void (*cb)(void *, int, const char *) =
					    p->cb;
					void *arg = p->arg;
					int code = p->code;
					char msg[MSG_MAX];

					memcpy(msg, p->msg, sizeof(msg));
					put_free(p);
					cb(arg, code, msg);
					again = 1;
					break;
				}
		} while (again);
	}
	o->pumping = 0;
}

/* ---- start and stop ----------------------------------------------------- */

struct origin *
origin_open(struct loop *l, const struct origin_cfg *cfg, char *why,
    size_t cap)
{
	struct origin *o;

	if (origin_check(cfg, why, cap) < 0)
		return NULL;
	if (lcurl.curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, cap, "cannot start libcurl");
		return NULL;
	}
	if ((o = calloc(1, sizeof(*o))) == NULL ||
	    (o->multi = lcurl.curl_multi_init()) == NULL) {
		free(o);
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	o->cfg = cfg;
	o->loop = l;
	o->cachefd = -1;
	loop_timer_init(&o->timer, curl_timer_fired, o);
	loop_timer_init(&o->reap, reap_cb, o);
	lcurl.curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	lcurl.curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o);
	lcurl.curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	lcurl.curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o);
	if (cfg->cache) {
		if ((o->cachefd = files_open_root(cfg->cache)) < 0) {
			snprintf(why, cap, "--cache %s: %s", cfg->cache,
			    strerror(errno));
			origin_close(o);
			return NULL;
		}
		cache_load(o);
	}
	return o;
}

void
origin_close(struct origin *o)
{
	struct origin_put *p, *pn;
	struct fetch *f, *fn;
	size_t i;

	if (o == NULL)
		return;

	/* off the lists first: the frees below find them empty */
	p = o->puts;
	o->puts = NULL;
	for (; p != NULL; p = pn) {
		pn = p->next;
		put_free(p);
	}
	f = o->fetches;
	o->fetches = NULL;
	for (; f != NULL; f = fn) {
		struct origin_reader *r, *rn;

		fn = f->next;
		for (r = f->readers; r != NULL; r = rn) {
			rn = r->next;
			free(r);
		}
		f->readers = NULL;
		fetch_free(f);
	}
	lcurl.curl_multi_cleanup(o->multi);
	loop_timer_stop(o->loop, &o->timer);
	reap_cb(&o->reap);
	loop_timer_stop(o->loop, &o->reap);
	for (i = 0; i < o->nents; i++)
		free(o->ents[i].path);
	free(o->ents);
	if (o->cachefd >= 0)
		close(o->cachefd);
	free(o);
	lcurl.curl_global_cleanup();
}

int64_t
origin_cache_bytes(const struct origin *o)
{
	return o != NULL && o->cachefd >= 0 ? (int64_t)o->total : -1;
}

#else /* TFTPX_NO_CURL: built without libcurl */

int64_t
origin_cache_bytes(const struct origin *o)
{
	(void)o;
	return -1;
}

int
origin_available(void)
{
	return 0;
}

int
origin_check(const struct origin_cfg *cfg, char *why, size_t cap)
{
	(void)cfg;
	snprintf(why, cap, "--origin: this tftpx was built without libcurl "
	    "(install libcurl4-openssl-dev and run make again)");
	return -1;
}

struct origin *
origin_open(struct loop *l, const struct origin_cfg *cfg, char *why,
    size_t cap)
{
	(void)l;
	origin_check(cfg, why, cap);
	return NULL;
}

void
origin_close(struct origin *o)
{
	(void)o;
}

int
origin_path_ok(const char *path)
{
	(void)path;
	return 0;
}

struct origin_reader *
origin_get(struct origin *o, const char *path, const struct origin_who *who,
    void (*cb)(void *), void *arg)
{
	(void)o, (void)path, (void)who, (void)cb, (void)arg;
	return NULL;
}

enum origin_state
origin_state(const struct origin_reader *r, int64_t *size, int *code,
    const char **msg)
{
	(void)r, (void)size;
	*code = 0;
	*msg = "no origin";
	return ORIGIN_FAILED;
}

long
origin_read(struct origin_reader *r, uint64_t off, uint8_t *buf, size_t len)
{
	(void)r, (void)off, (void)buf, (void)len;
	return -EIO;
}

void
origin_drop(struct origin_reader *r)
{
	(void)r;
}

struct origin_put *
origin_put(struct origin *o, const char *path, const struct origin_who *who,
    int fd, uint64_t size, void (*cb)(void *, int, const char *), void *arg)
{
	(void)o, (void)path, (void)who, (void)fd, (void)size, (void)cb;
	(void)arg;
	return NULL;
}

void
origin_put_cancel(struct origin_put *p)
{
	(void)p;
}

#endif
