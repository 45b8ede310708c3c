/*
 * server.c - `tftpx serve`: the wiring.
 *
 * One process, one event loop.  Requests arrive on the listening sockets
 * (listen.c); each gets intake's verdict (intake.c: a re-sent request is
 * dropped, a new one from the same port supersedes its transfer, limits)
 * and, when it is new, becomes a transfer (transfer.c) with its own
 * socket and session.  Here: that dispatch, refusals sent from the
 * address a request reached, signals, --idle-timeout and --once,
 * start-up and shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "events.h"
#include "files.h"
#include "intake.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "packet.h"
#include "server.h"
#include "server_int.h"
#include "server_priv.h"
#include "service.h"
#include "udp.h"

/*
 * The fuzz build (fuzz/fuzz_request.c) shrinks the two tables: a server
 * life per input must cost little, and small tables make chains and ring
 * reuse happen.
 */
#ifndef HASH_SIZE
#define HASH_SIZE	4096		/* buckets of the live table */
#endif
#ifndef DEDUP_CAP
#define DEDUP_CAP	16384		/* finished requests remembered */
#endif
#define BUSY_PER_SEC	100		/* "server busy" ERRORs sent per second */

void
server_cfg_init(struct server_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->dir = ".";
	cfg->port = 69;
	cfg->origin.cache_max = (uint64_t)1 << 30;
	cfg->origin.cache_ttl = 60;
	cfg->blksize_max = PKT_BLKSIZE_MAX;
	cfg->windowsize_max = 64;
	cfg->window_bytes_max = 1 << 20;
	cfg->timeout = 1;
	cfg->retries = 5;
	cfg->grace = 2;
	cfg->max_transfers = 1000;
	cfg->max_per_client = 64;
	cfg->rto_min = 10;
	cfg->spin = SERVER_SPIN;
	cfg->svc.idle_timeout = -1;
}

/* Live transfers. */
static size_t
live(const struct server *s)
{
	return intake_stats(s->intake)->live;
}

/* ---- requests -------------------------------------------------------- */

/*
 * Answer a request we refuse, from the address it reached.  msg is the
 * short ERROR text the client gets; reason (NULL: msg) is what the log
 * says first: what happened and what to do about it.  The text line
 * ends in "refused: error N: <msg>" as it always has, so a line can be
 * matched with what the client printed.
 */
void
server_refuse(struct server *s, int level, const struct udp_addr *local,
    const struct udp_addr *peer, const struct packet *p, int code,
    const char *msg, const char *reason)
{
	struct ev_who w = { peer, p->op, p->filename, p->mode };
	struct udp_addr a = *local;
	uint8_t pkt[PKT_ERRMSG_MAX + 8];
	size_t n;
	int fd;

	events_refusal(level, &w, code, msg, reason);
	n = packet_encode_error(pkt, sizeof(pkt), (uint16_t)code, msg);
	if (s->cfg->single_port && s->via != NULL) {
		/* from the port the request came to: a NAT lets it through */
		udp_send_from(s->via->w.fd, s->via->addr.ss.ss_family, pkt, n,
		    n, peer, local);
		return;
	}
	udp_set_port(&a, 0);
	if ((fd = udp_bind(&a, 0)) < 0)
		return;
	/* with --interface, not even an ERROR leaves through another NIC */
	if (service_bind_device(fd, s->cfg->svc.interface) == 0)
		udp_send(fd, pkt, n, peer);
	close(fd);
}


void
server_transfer_ended(struct server *s, int ok, int superseded)
{
	/*
	 * --once: the first transfer that ran to its end decides the exit
	 * status.  One ended by the client's own new request does not: the
	 * new one (UEFI retrying without options) is the real attempt.
	 */
	if (s->cfg->once && !s->once_done && !superseded) {
		s->once_done = 1;
		s->once_rc = ok ? 0 : 1;
		loop_stop(s->loop);
	}
	/* the last transfer ended: the idle time starts now */
	s->last_active = loop_now(s->loop);
	if (s->idle_us && live(s) == 0)
		loop_timer_set(s->loop, &s->idle, s->last_active + s->idle_us);
}

/* At -v: a repeated request was dropped (late: its transfer had ended). */
static void
log_duplicate(const struct udp_addr *peer, const struct packet *p, int late)
{
	struct ev_who w = { peer, p->op, p->filename, p->mode };

	events_duplicate(&w, late);
}

/* Refuse a request over a limit, at most busy_per_sec a second. */
static void
refuse_busy(struct server *s, enum intake_verdict v,
    const struct udp_addr *local, const struct udp_addr *peer,
    const struct packet *p, const struct dedup_key *key)
{
	char why[128];

	/* a flood must not become a flood of ERRORs or log lines */
	if (!intake_busy_tell(s->intake, loop_now(s->loop)))
		return;
	if (v == IN_BUSY)
		snprintf(why, sizeof(why), "server busy: %zu transfers live "
		    "(--max-transfers)", live(s));
	else
		snprintf(why, sizeof(why), "server busy: %u transfers live "
		    "from this host (--max-per-client)",
		    intake_host_live(s->intake, key));
	server_refuse(s, LOG_VERBOSE, local, peer, p, TFTP_EUNDEF,
	    "server busy, try again later", why);
}

static void
handle_request(struct server *s, const uint8_t *buf, size_t len,
    const struct udp_addr *local, const struct udp_addr *peer)
{
	struct intake_live *old;
	enum intake_verdict v;
	struct dedup_key key;
	struct packet p;
	uint64_t h;

	if (packet_decode(buf, len, &p) < 0)
		return;
	/* anything but a request on the well-known port is noise */
	if (p.op != TFTP_RRQ && p.op != TFTP_WRQ)
		return;
	key = intake_key(&peer->ss);
	h = dedup_hash(buf, len);
	/*
	 * The client's last ACK may wait in its transfer's socket, read
	 * after this datagram in the same wakeup: a client on a fixed port
	 * that asks again at once (the same file, or the next one: U-Boot
	 * with tftpsrcp) sends both back to back.  Read it first; the
	 * transfer may end, as a success rather than superseded.
	 */
	if ((old = intake_find(s->intake, &key)) != NULL)
		transfer_read(old->owner);
	v = intake_judge(s->intake, &key, h, loop_now(s->loop), &old);
	if (v == IN_DUPLICATE || v == IN_LATE) {
		log_duplicate(peer, &p, v == IN_LATE);
		return;
	}
	if (v == IN_SUPERSEDE) {
		/* the client gave up on the old one */
		transfer_supersede(old->owner);
		v = intake_admit(s->intake, &key);
	}
	if (v != IN_NEW) {
		refuse_busy(s, v, local, peer, &p, &key);
		return;
	}
	transfer_start(s, &p, local, peer, &key, h);
}

void
server_datagram(struct server *s, const uint8_t *buf, size_t len,
    const struct udp_addr *to, const struct udp_addr *from)
{
	if (to->ss.ss_family != from->ss.ss_family)
		return;
	handle_request(s, buf, len, to, from);
}

/*
 * --single-port: a datagram that is not a request belongs to the
 * transfer of its client's address and port, if that transfer talks
 * through the local address it reached; anything else gets ERROR 5,
 * back to the address that sent it (RFC 1350 section 4), within the
 * ERROR budget.  An ERROR is never answered.
 */
static void
single_port_datagram(struct server *s, const uint8_t *buf, size_t len,
    const struct udp_addr *to, const struct udp_addr *from)
{
	const struct listener *l = s->via;
	struct intake_live *e;
	struct dedup_key key = intake_key(&from->ss);
	uint8_t err[64];
	size_t n;

	if ((e = intake_find(s->intake, &key)) != NULL &&
	    transfer_input(e->owner, to, from, buf, len) == 0)
		return;
	if (len < 4 || (buf[0] == 0 && buf[1] == TFTP_ERROR) ||
	    !intake_busy_tell(s->intake, loop_now(s->loop)))
		return;
	n = packet_encode_error(err, sizeof(err), TFTP_EBADID, NULL);
	udp_send_from(l->w.fd, l->addr.ss.ss_family, err, n, n, from, to);
}

/* A datagram reached listener l (listen.c). */
static void
request_cb(void *owner, const struct listener *l, const uint8_t *buf,
    size_t len, const struct udp_addr *to, const struct udp_addr *from)
{
	struct server *s = owner;

	s->last_active = loop_now(s->loop);
	if (to->ss.ss_family != from->ss.ss_family)
		return;
	s->via = l;
	if (s->cfg->single_port && !(len >= 2 && buf[0] == 0 &&
	    (buf[1] == TFTP_RRQ || buf[1] == TFTP_WRQ)))
		single_port_datagram(s, buf, len, to, from);
	else
		handle_request(s, buf, len, to, from);
	s->via = NULL;
}

static void
signal_cb(struct loop_fd *w, uint32_t events)
{
	struct server *s = w->arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		/* logrotate moved the file: write to a new one by that name */
		if (s->cfg->log_file && log_reopen() < 0)
			log_error("cannot reopen log file %s: %s; still writing "
			    "to the old one", s->cfg->log_file, strerror(errno));
		/* and the map file is read again (a bad one is not taken) */
		names_reload(&s->names);
		return;
	}
	loop_stop(s->loop);
}

/* ---- start-up ------------------------------------------------------- */

/* DIR cannot be served: say why and what to do, in one line. */
static void
dir_error(const char *dir, int err)
{
	switch (err) {
	case ENOENT:
		log_error("cannot serve '%s': no such directory; create it or "
		    "name another DIR", dir);
		break;
	case ENOTDIR:
		log_error("cannot serve '%s': not a directory; name the "
		    "directory that holds the files", dir);
		break;
	case EACCES:
	case EPERM:
		log_error("cannot serve '%s': permission denied for uid %u; "
		    "make it readable and searchable (chmod a+rx) or run as "
		    "its owner", dir, (unsigned)geteuid());
		break;
	default:
		log_error("cannot serve '%s': %s", dir, strerror(err));
		break;
	}
}

/* --idle-timeout: no transfer and no request for that long: exit. */
static void
idle_cb(struct loop_timer *lt)
{
	struct server *s = lt->arg;
	uint64_t due = s->last_active + s->idle_us;

	if (live(s))
		return;		/* re-armed when the last one ends */
	if (loop_now(s->loop) < due) {
		loop_timer_set(s->loop, &s->idle, due);
		return;
	}
	log_notice("idle for %llu s, exiting",
	    (unsigned long long)(s->idle_us / 1000000u));
	loop_stop(s->loop);
}

static int
open_signals(struct server *s)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	/*
	 * Only with something to read again (a log file, a map file):
	 * otherwise a hangup ends the server as ever.
	 */
	if (s->cfg->log_file || s->cfg->map_file)
		sigaddset(&set, SIGHUP);
	return loop_signal_start(s->loop, &s->sigw, &set, signal_cb, s);
}

static void
shutdown_all(struct server *s)
{
	struct intake_live *e;

	while (s->intake && (e = intake_any(s->intake)) != NULL)
		transfer_shutdown(e->owner);
}

/*
 * CPUs this process may run on.  Polling before sleeping needs two: on
 * one, the loop would poll while the client it waits for cannot run.
 */
static int
usable_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return CPU_COUNT(&set);
}

/* For a scrape of --metrics: transfers running, bytes in the cache. */
static uint64_t
metrics_live(void *arg)
{
	const struct server *s = arg;

	return (uint64_t)intake_stats(s->intake)->live;
}

static int64_t
metrics_cache(void *arg)
{
	const struct server *s = arg;

	return origin_cache_bytes(s->origin);
}

/*
 * Everything a server needs but its listening sockets and signals: the
 * root, the memory of finished requests, the loop.  NULL (logged) when
 * one of them cannot be had.
 */
struct server *
server_new(const struct server_cfg *cfg)
{
	struct intake_cfg ic = {
		.max_live = cfg->max_transfers,
		.max_per_host = cfg->max_per_client,
		.grace_us = (uint64_t)cfg->grace * 1000000u,
		.ring_cap = DEDUP_CAP,
		.buckets = HASH_SIZE,
		.busy_per_sec = BUSY_PER_SEC,
	};
	struct server *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_error("out of memory");
		return NULL;
	}
	s->cfg = cfg;
	s->rootfd = -1;
	s->names.map_dirfd = -1;
	s->lim.blksize_max = cfg->blksize_max;
	s->lim.windowsize_max = cfg->windowsize_max;
	s->lim.window_bytes_max = cfg->window_bytes_max;
	/* events go where asked before anything can happen */
	if (cfg->log_file && log_open_file(cfg->log_file) < 0) {
		log_error("cannot open log file '%s': %s; check that its "
		    "directory exists and is writable", cfg->log_file,
		    strerror(errno));
		goto fail;
	}
	if (cfg->use_syslog)
		log_open_syslog();
	/*
	 * An unsearchable root would refuse every request: say so now.
	 * With --origin and no DIR there is none: every name is fetched.
	 */
	if (cfg->dir != NULL && ((s->rootfd = files_open_root(cfg->dir)) < 0 ||
	    faccessat(AT_FDCWD, cfg->dir, R_OK | X_OK, AT_EACCESS) < 0)) {
		dir_error(cfg->dir, errno);
		goto fail;
	}
	if (names_open(&s->names, cfg) < 0)
		goto fail;
	if ((s->intake = intake_new(&ic)) == NULL) {
		log_error("out of memory");
		goto fail;
	}
	if ((s->loop = loop_new()) == NULL) {
		log_error("cannot create the event loop: %s", strerror(errno));
		goto fail;
	}
	s->hub.loop = s->loop;
	s->hub.train = &s->train;
	if (cfg->origin.url != NULL) {
		char why[512];

		if ((s->origin = origin_open(s->loop, &cfg->origin, why,
		    sizeof(why))) == NULL) {
			log_error("%s", why);
			goto fail;
		}
	}
	if (cfg->metrics != NULL) {
		char why[512];

		metrics_counts.origin_on = cfg->origin.url != NULL;
		if ((s->metrics = metrics_open(s->loop, cfg->metrics,
		    metrics_live, metrics_cache, s, why,
		    sizeof(why))) == NULL) {
			log_error("%s", why);
			goto fail;
		}
	}
	/* files read are mapped; without the guard they are read with pread */
	s->shared.map = files_map_guard() == 0;
	s->cpus = usable_cpus();
	if (cfg->spin && s->cpus > 1)
		loop_spin(s->loop, cfg->spin, s->cpus);
	return s;
fail:
	server_free(s);
	return NULL;
}

/* -v: what polling before sleeping did (see loop_spin) */
static void
log_spin(const struct server *s)
{
	uint64_t caught, slept, crowded, busy;

	if (s->cfg->spin == 0 || log_level() < LOG_VERBOSE)
		return;
	if (s->cpus < 2) {
		log_notice("no polling before sleeping: one CPU");
		return;
	}
	loop_spin_counts(s->loop, &caught, &slept, &crowded, &busy);
	log_notice("polling ended %llu waits, %llu slept (%llu of them "
	    "because another process wanted this CPU, %llu because the "
	    "machine was busy)", (unsigned long long)caught,
	    (unsigned long long)slept, (unsigned long long)crowded,
	    (unsigned long long)busy);
}

struct loop *
server_loop(const struct server *s)
{
	return s->loop;
}

size_t
server_live(const struct server *s)
{
	return live(s);
}

/* End every transfer (ERROR 0 to its client), close, free. */
void
server_free(struct server *s)
{
	const struct intake_stats *st;

	if (s == NULL)
		return;
	shutdown_all(s);
	listen_close(&s->lis);
	if (s->intake && (st = intake_stats(s->intake)) != NULL &&
	    (st->busy || st->dups))
		log_notice("%llu duplicate request%s dropped, %llu refused as "
		    "busy", (unsigned long long)st->dups, st->dups == 1 ? "" :
		    "s", (unsigned long long)st->busy);
	intake_free(s->intake);
	/* after the transfers: they dropped their readers and uploads */
	origin_close(s->origin);
	metrics_close(s->metrics);
	if (s->loop) {
		log_spin(s);
		/* run the deferred frees of ended transfers */
		loop_stop(s->loop);
		loop_run_due(s->loop);
		loop_free(s->loop);
	}
	if (s->rootfd >= 0)
		close(s->rootfd);
	names_close(&s->names);
	free(s);
}

int
server_run(const struct server_cfg *cfg)
{
	struct server *s;
	char *abs;
	int rc = 1, n;

	signal(SIGPIPE, SIG_IGN);
	/* before anything drops the right to reach systemd's socket */
	if (service_notify_open() < 0)
		log_error("cannot reach NOTIFY_SOCKET: %s", strerror(errno));
	if ((s = server_new(cfg)) == NULL)
		return 1;
	/* each transfer holds a socket and a file */
	session_fd_room((unsigned long)cfg->max_transfers * 2 + 64);
	if (open_signals(s) < 0) {
		log_error("cannot set up signals: %s", strerror(errno));
		goto out;
	}
	if (cfg->upload && s->rootfd >= 0 &&
	    (n = files_remove_stale(s->rootfd)) > 0)
		log_notice("removed %d stale temp file%s left by a crash", n,
		    n == 1 ? "" : "s");
	s->lis.cfg = cfg;
	s->lis.loop = s->loop;
	s->lis.datagram = request_cb;
	s->lis.owner = s;
	if (cfg->single_port) {
		/* a batch of ACKs in, the DATA they release out: one call each */
		s->lis.post = &s->post;
		s->hub.post = &s->post;
	}
	if ((n = listen_open(&s->lis)) < 0) {
		rc = n == -2 ? 2 : 1;	/* a bad address is a usage error */
		goto out;
	}
	if (cfg->svc.interface)
		log_error("only through interface %s", cfg->svc.interface);
	abs = cfg->dir ? realpath(cfg->dir, NULL) : NULL;
	/* sockets bound and the root open: root is not needed any more */
	if (service_drop(&cfg->svc, s->rootfd, abs ? abs : cfg->dir,
	    cfg->upload && s->rootfd >= 0) < 0) {
		free(abs);
		goto out;
	}
	if (cfg->svc.seccomp && service_seccomp() < 0) {
		free(abs);
		goto out;
	}
	if (cfg->dir != NULL)
		log_error("serving %s %s", abs ? abs : cfg->dir,
		    cfg->overwrite ? "with uploads and overwrite" :
		    cfg->upload && cfg->origin_upload ? "with uploads to the "
		    "origin" : cfg->upload ? "with uploads" : "read-only");
	if (s->metrics != NULL) {
		char where[UDP_ADDRSTR];

		log_error("metrics on http://%s/metrics",
		    metrics_where(s->metrics, where));
	}
	if (cfg->origin.url != NULL)
		log_error("%s %s%s%s", cfg->dir ? "and what is not there from" :
		    "serving", cfg->origin.url, cfg->origin.cache ?
		    ", cached in " : "", cfg->origin.cache ?
		    cfg->origin.cache : "");
	s->idle_us = (uint64_t)(cfg->svc.idle_timeout < 0 ? (cfg->svc.inetd ?
	    SERVICE_IDLE_INETD : 0) : cfg->svc.idle_timeout) * 1000000u;
	if (s->idle_us) {
		s->last_active = loop_now(s->loop);
		loop_timer_init(&s->idle, idle_cb, s);
		loop_timer_set(s->loop, &s->idle, s->last_active + s->idle_us);
	}
	service_notify("READY=1");
	free(abs);
	listen_hints(&s->lis);
	if (loop_run(s->loop) < 0) {
		log_error("event loop failed: %s", strerror(errno));
		goto out;
	}
	/* --once: the first transfer's outcome (0 when stopped before) */
	rc = s->once_done ? s->once_rc : 0;
out:
	service_notify("STOPPING=1");
	server_free(s);
	return rc;
}
