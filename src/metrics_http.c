/*
 * metrics_http.c - GET /metrics over HTTP: libmicrohttpd in its
 * external-epoll mode, its epoll fd one more watcher of the server's
 * loop and its timeout one more timer, so a scrape needs no thread and
 * no call that blocks.  Built without libmicrohttpd (-DTFTPX_NO_MHD),
 * --metrics says so.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#include "udp.h"

int
metrics_split(const char *addr, char *host, size_t cap, int *port,
    const char **why)
{
	const char *p = addr;
	char *end;
	unsigned long v;

	/* "9169" or ":9169": loopback, not every address */
	if (addr[0] == ':' || strchr(addr, ':') == NULL) {
		snprintf(host, cap, "127.0.0.1");
		p = addr[0] == ':' ? addr + 1 : addr;
	} else if (udp_split_hostport(addr, -1, host, cap, port, why) < 0) {
		return -1;
	} else if (*port < 0) {
		*why = "give ADDR:PORT, the port too";
		return -1;
	} else {
		return 0;
	}
	errno = 0;
	v = strtoul(p, &end, 10);
	if (*p < '0' || *p > '9' || *end != '\0' || errno || v > 65535) {
		*why = "the port is a number from 0 to 65535 (0: any free "
		    "port)";
		return -1;
	}
	*port = (int)v;
	return 0;
}

#ifndef TFTPX_NO_MHD

#include <microhttpd.h>
#include <sys/epoll.h>

#include "dynlib.h"
#include "log.h"
#include "loop.h"

/* the shared object dlopen()ed (the Makefile may name another) */
#ifndef TFTPX_MHD_SO
#define TFTPX_MHD_SO "libmicrohttpd.so.12"
#endif

struct metrics {
	struct MHD_Daemon	*d;
	struct loop		*loop;
	struct loop_fd		 w;		/* MHD's epoll fd */
	struct loop_timer	 t;		/* MHD's timeout */
	uint64_t		(*live)(void *);
	int64_t			(*cache)(void *);
	void			*arg;
	struct udp_addr		 addr;
};

int
metrics_available(void)
{
	return 1;
}

/*
 * libmicrohttpd, loaded by metrics_open (dynlib.c says why): each
 * function of it that we call, as a pointer of the header's type.
 */
#define MHD_FUNCS(X) \
	X(MHD_start_daemon) X(MHD_stop_daemon) X(MHD_get_daemon_info) \
	X(MHD_get_timeout) X(MHD_run) X(MHD_create_response_from_buffer) \
	X(MHD_add_response_header) X(MHD_queue_response) \
	X(MHD_destroy_response)

static struct {
/* NOLINTNEXTLINE(bugprone-macro-parentheses): f names a member */
#define MHD_MEMBER(f) __typeof__(&(f)) f;
	MHD_FUNCS(MHD_MEMBER)
#undef MHD_MEMBER
} mhd;

static int
mhd_load(char *why, size_t cap)
{
#define MHD_SYM(f) { #f, &mhd.f },
	static const struct dynlib_sym syms[] = { MHD_FUNCS(MHD_SYM) };
#undef MHD_SYM

	return dynlib_load(TFTPX_MHD_SO, "libmicrohttpd12", syms,
	    sizeof(syms) / sizeof(syms[0]), why, cap);
}

/* libmicrohttpd's own words go where the server's go, as one line. */
static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_event(LOG_VERBOSE, "metrics: %s", line);
}

static enum MHD_Result
answer(struct MHD_Response *r, struct MHD_Connection *c, unsigned status)
{
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	ret = mhd.MHD_queue_response(c, status, r);
	mhd.MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **req)
{
	static const char not_found[] = "not found: metrics are at /metrics\n";
	static const char no_method[] = "only GET\n";
	struct metrics *m = cls;
	struct MHD_Response *r;
	char *text;
	size_t len;

	(void)version, (void)upload_data, (void)req;
	if (*upload_size != 0)
		return MHD_NO;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		r = mhd.MHD_create_response_from_buffer(sizeof(no_method) - 1,
		    (void *)no_method, MHD_RESPMEM_PERSISTENT);
		if (r != NULL)
			mhd.MHD_add_response_header(r, "Allow", "GET, HEAD");
		return answer(r, c, MHD_HTTP_METHOD_NOT_ALLOWED);
	}
	if (strcmp(url, "/metrics") != 0)
		return answer(mhd.MHD_create_response_from_buffer(
		    sizeof(not_found) - 1, (void *)not_found,
		    MHD_RESPMEM_PERSISTENT), c, MHD_HTTP_NOT_FOUND);
	if ((text = metrics_render(&metrics_counts, m->live(m->arg),
	    m->cache(m->arg), &len)) == NULL)
		return MHD_NO;
	r = mhd.MHD_create_response_from_buffer(len, text,
	    MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(text);
		return MHD_NO;
	}
	mhd.MHD_add_response_header(r, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	return answer(r, c, MHD_HTTP_OK);
}

/* Run MHD, then arm our timer for its next timeout. */
static void
step(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG ms;

	mhd.MHD_run(m->d);
	if (mhd.MHD_get_timeout(m->d, &ms) == MHD_YES)
		loop_timer_set(m->loop, &m->t, loop_now(m->loop) +
		    (uint64_t)ms * 1000u + 1);
	else
		loop_timer_stop(m->loop, &m->t);
}

static void
epoll_cb(struct loop_fd *w, uint32_t events)
{
	(void)events;
	step(w->arg);
}

static void
timer_cb(struct loop_timer *t)
{
	step(t->arg);
}

struct metrics *
metrics_open(struct loop *l, const char *addr, uint64_t (*live)(void *),
    int64_t (*cache)(void *), void *arg, char *why, size_t cap)
{
	const union MHD_DaemonInfo *info;
	char host[128];
	const char *err;
	struct metrics *m;
	int port;

	if (mhd_load(why, cap) < 0)
		return NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	m->loop = l;
	m->live = live;
	m->cache = cache;
	m->arg = arg;
	if (metrics_split(addr, host, sizeof(host), &port, &err) < 0) {
		snprintf(why, cap, "--metrics %s: %s", addr, err);
		free(m);
		return NULL;
	}
	if (udp_resolve(host, port, 0, &m->addr, &err) < 0) {
		snprintf(why, cap, "--metrics %s: %s", addr, err);
		free(m);
		return NULL;
	}
	m->d = mhd.MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
	    (m->addr.ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	    (uint16_t)port, NULL, NULL, handler, m,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&m->addr.ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)32,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	    MHD_OPTION_END);
	if (m->d == NULL) {
		snprintf(why, cap, "--metrics %s: cannot listen there: %s",
		    addr, strerror(errno ? errno : EADDRINUSE));
		free(m);
		return NULL;
	}
	info = mhd.MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	if (info != NULL)
		udp_set_port(&m->addr, info->port);
	info = mhd.MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	loop_timer_init(&m->t, timer_cb, m);
	if (info == NULL || loop_fd_start(l, &m->w, info->epoll_fd, epoll_cb,
	    m) < 0) {
		snprintf(why, cap, "--metrics %s: cannot watch its sockets",
		    addr);
		mhd.MHD_stop_daemon(m->d);
		free(m);
		return NULL;
	}
	return m;
}

const char *
metrics_where(const struct metrics *m, char *buf)
{
	return udp_format(&m->addr, buf);
}

void
metrics_close(struct metrics *m)
{
	if (m == NULL)
		return;
	loop_fd_stop(m->loop, &m->w);
	loop_timer_stop(m->loop, &m->t);
	mhd.MHD_stop_daemon(m->d);
	free(m);
}

#else /* TFTPX_NO_MHD */

int
metrics_available(void)
{
	return 0;
}

struct metrics *
metrics_open(struct loop *l, const char *addr, uint64_t (*live)(void *),
    int64_t (*cache)(void *), void *arg, char *why, size_t cap)
{
	(void)l, (void)addr, (void)live, (void)cache, (void)arg;
	snprintf(why, cap, "--metrics: this tftpx was built without "
	    "libmicrohttpd (install libmicrohttpd-dev and build again)");
	return NULL;
}

const char *
metrics_where(const struct metrics *m, char *buf)
{
	(void)m;
	buf[0] = '\0';
	return buf;
}

void
metrics_close(struct metrics *m)
{
	(void)m;
}

#endif
