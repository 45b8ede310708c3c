/*
 * service.c - socket activation, inetd, readiness, one interface, and
 * least privilege for `tftpx serve`.
 *
 * Privileges.  Started as root, the server binds its sockets (port 69),
 * opens the served directory as a dirfd, and then becomes another user
 * for good: setgroups, setgid, setuid (all three IDs), which also empties
 * the permitted and effective capability sets; the bounding and ambient
 * sets are cleared too, and no_new_privs is set so no exec could give
 * anything back.  Every file is opened beneath the dirfd, so the served
 * tree keeps working as long as the new user may search it; an upload
 * is then created as that user.  Which user:
 *
 *   --user NAME|UID[:GID]  that one; if it cannot be done, or cannot
 *                          search DIR, the server refuses to run
 *   --allow-root           (without --user) stay root
 *   neither                the sudo user (SUDO_UID/SUDO_GID) or else
 *                          nobody; if that user does not exist, cannot
 *                          search DIR or (with --upload) cannot write
 *                          it, refuse to run, naming the way out: make
 *                          DIR reachable, --user its owner, or
 *                          --allow-root (never root by accident)
 *
 * Whether the user can search DIR is tried first in a forked child that
 * drops the same way, because the parent's drop cannot be undone.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "service.h"

#define GROUPS_MAX	256	/* supplementary groups kept */

/* ---- inherited sockets ---------------------------------------------- */

/* A decimal number with nothing around it, or -1. */
static long
dec(const char *s)
{
	unsigned long v;
	char *end;

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || errno || v > 0x7fffffffUL)
		return -1;
	return (long)v;
}

int
service_listen_fds(int *fds, int max, const char **why)
{
	long pid = dec(getenv("LISTEN_PID"));
	long n = dec(getenv("LISTEN_FDS"));
	int i, rc = 0;

	if (getenv("LISTEN_PID") == NULL || getenv("LISTEN_FDS") == NULL)
		goto out;
	if (pid < 0 || n < 0) {
		*why = "LISTEN_PID or LISTEN_FDS is not a number";
		rc = -1;
		goto out;
	}
	/* set for another process (we were exec'ed by it): not ours */
	if (pid != (long)getpid())
		goto out;
	if (n > max) {
		*why = "more sockets passed than tftpx serves (32)";
		rc = -1;
		goto out;
	}
	for (i = 0; i < (int)n; i++)
		fds[i] = 3 + i;
	rc = (int)n;
out:
	/* never hand them on to a child: it would take them as its own */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

int
service_adopt(int fd, struct udp_addr *a, const char **why)
{
	int type = 0, on = 1, fl;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
		*why = "not a socket";
		return -1;
	}
	if (type != SOCK_DGRAM) {
		*why = "not a datagram socket (ListenDatagram=, inetd dgram)";
		return -1;
	}
	a->len = sizeof(a->ss);
	if (getsockname(fd, (struct sockaddr *)&a->ss, &a->len) < 0) {
		*why = "getsockname failed";
		return -1;
	}
	if (a->ss.ss_family != AF_INET && a->ss.ss_family != AF_INET6) {
		*why = "not an IPv4 or IPv6 socket";
		return -1;
	}
	if ((fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		*why = "cannot make it non-blocking";
		return -1;
	}
	/*
	 * The destination of each request, so its transfer answers from
	 * there.  A dual-stack IPv6 socket (systemd's default) reports IPv4
	 * requests as IPv4-mapped addresses through IPV6_PKTINFO too.
	 */
	if (a->ss.ss_family == AF_INET ? setsockopt(fd, IPPROTO_IP,
	    IP_PKTINFO, &on, sizeof(on)) : setsockopt(fd, IPPROTO_IPV6,
	    IPV6_RECVPKTINFO, &on, sizeof(on))) {
		*why = "cannot ask for the destination addresses (PKTINFO)";
		return -1;
	}
	service_unmap(a);
	return 0;
}

/* fd is a copy of the socket on fd 0 (or not open at all). */
static int
is_stdin_sock(int fd, const struct stat *in)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return errno == EBADF;
	return st.st_dev == in->st_dev && st.st_ino == in->st_ino;
}

int
service_inetd_stdio(const char **why)
{
	struct stat in;
	int fd, i;

	if (fstat(0, &in) < 0 || !S_ISSOCK(in.st_mode)) {
		*why = "--inetd needs the UDP socket on stdin";
		return -1;
	}
	/*
	 * inetd gives the socket as fds 0, 1 and 2.  A log line written to
	 * an unconnected UDP socket goes nowhere (EDESTADDRREQ); worse, a
	 * later open() must not land on a closed 1 or 2.
	 */
	for (i = 1; i <= 2; i++) {
		if (!is_stdin_sock(i, &in))
			continue;
		if ((fd = open("/dev/null", O_WRONLY)) < 0) {
			*why = "cannot open /dev/null";
			return -1;
		}
		if (fd != i) {
			dup2(fd, i);
			close(fd);
		}
	}
	return 0;
}

void
service_unmap(struct udp_addr *a)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;

	if (a->ss.ss_family != AF_INET6)
		return;
	memcpy(&s6, &a->ss, sizeof(s6));
	if (!IN6_IS_ADDR_V4MAPPED(&s6.sin6_addr))
		return;
	memset(&s4, 0, sizeof(s4));
	s4.sin_family = AF_INET;
	s4.sin_port = s6.sin6_port;
	memcpy(&s4.sin_addr, &s6.sin6_addr.s6_addr[12], 4);
	memset(&a->ss, 0, sizeof(a->ss));
	memcpy(&a->ss, &s4, sizeof(s4));
	a->len = sizeof(s4);
}

int
service_bind_device(int fd, const char *ifname)
{
	if (ifname == NULL)
		return 0;
	/* unprivileged since Linux 5.7 for a socket not yet tied to one */
	return setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname,
	    (socklen_t)strlen(ifname));
}

/* ---- readiness -------------------------------------------------------- */

static int notify_fd = -1;

int
service_notify_open(void)
{
	const char *p = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t n;
	int fd, e;

	if (p == NULL || p[0] == '\0')
		return 0;
	n = strlen(p);
	if ((p[0] != '/' && p[0] != '@') || n >= sizeof(sun.sun_path)) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, p, n);
	if (p[0] == '@')
		sun.sun_path[0] = '\0';		/* abstract: no file */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	/*
	 * Connected now, while we may be root: the socket file need not be
	 * writable by the user we become.
	 */
	if (connect(fd, (struct sockaddr *)&sun, len) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	unsetenv("NOTIFY_SOCKET");
	notify_fd = fd;
	return 0;
}

void
service_notify(const char *state)
{
	if (notify_fd < 0)
		return;
	/* a lost notification is systemd's timeout to report, not ours */
	(void)send(notify_fd, state, strlen(state), MSG_NOSIGNAL);
}

/* ---- privileges ------------------------------------------------------- */

struct target {
	uid_t	uid;
	gid_t	gid;
	gid_t	groups[GROUPS_MAX];
	int	ngroups;
	char	label[96];		/* "nobody (uid 65534, gid 65534)" */
};

/* The supplementary groups of name, or none when it has no entry. */
static void
target_groups(struct target *t, const char *name)
{
	int n = GROUPS_MAX;

	t->ngroups = 0;
	if (name && getgrouplist(name, t->gid, t->groups, &n) >= 0)
		t->ngroups = n;
	/* over GROUPS_MAX: keep the primary group only */
}

/* "NAME" (from the user database) or "UID[:GID]" (works without one). */
static int
target_parse(const char *s, struct target *t, const char **why)
{
	const struct passwd *pw;
	const char *colon = strchr(s, ':');
	char num[32];
	long u, g = -1;

	memset(t, 0, sizeof(*t));
	if (s[0] >= '0' && s[0] <= '9') {
		if (colon && (size_t)(colon - s) >= sizeof(num)) {
			*why = "bad UID[:GID]";
			return -1;
		}
		snprintf(num, sizeof(num), "%.*s", colon ?
		    (int)(colon - s) : (int)strlen(s), s);
		u = dec(num);
		if (colon)
			g = dec(colon + 1);
		pw = u < 0 ? NULL : getpwuid((uid_t)u);
		if (u < 0 || (colon && g < 0) || (!colon && pw == NULL)) {
			*why = colon ? "bad UID:GID" : "no such user id "
			    "(give UID:GID)";
			return -1;
		}
		t->uid = (uid_t)u;
		/* without a GID the user's entry exists (checked above) */
		t->gid = colon || pw == NULL ? (gid_t)g : pw->pw_gid;
		/* groups only from the user database, and only if it agrees */
		target_groups(t, pw && pw->pw_gid == t->gid ? pw->pw_name :
		    NULL);
		snprintf(t->label, sizeof(t->label), "%s (uid %u, gid %u)",
		    pw ? pw->pw_name : "-", (unsigned)t->uid,
		    (unsigned)t->gid);
		return 0;
	}
	if (colon || (pw = getpwnam(s)) == NULL) {
		*why = "no such user";
		return -1;
	}
	t->uid = pw->pw_uid;
	t->gid = pw->pw_gid;
	target_groups(t, pw->pw_name);
	snprintf(t->label, sizeof(t->label), "%s (uid %u, gid %u)",
	    pw->pw_name, (unsigned)t->uid, (unsigned)t->gid);
	return 0;
}

/* The default: whoever ran sudo, or nobody. */
static int
target_default(struct target *t, const char **why)
{
	const struct passwd *pw;
	long u = dec(getenv("SUDO_UID")), g = dec(getenv("SUDO_GID"));

	memset(t, 0, sizeof(*t));
	if (u > 0 && g >= 0) {
		t->uid = (uid_t)u;
		t->gid = (gid_t)g;
		pw = getpwuid(t->uid);
		target_groups(t, pw ? pw->pw_name : NULL);
		snprintf(t->label, sizeof(t->label), "%s (uid %u, gid %u, "
		    "from sudo)", pw ? pw->pw_name : "-", (unsigned)t->uid,
		    (unsigned)t->gid);
		return 0;
	}
	return target_parse("nobody", t, why);
}

/* Become t: groups, then gid, then uid (after it nothing else may be). */
static int
become(const struct target *t, const char **why)
{
	if (setgroups((size_t)t->ngroups, t->groups) < 0) {
		*why = "setgroups";
		return -1;
	}
	if (setresgid(t->gid, t->gid, t->gid) < 0) {
		*why = "setgid";
		return -1;
	}
	if (setresuid(t->uid, t->uid, t->uid) < 0) {
		*why = "setuid";
		return -1;
	}
	return 0;
}

/*
 * What t could do with the served directory, tried in a child that
 * becomes t: bit 0 set = cannot search it, bit 1 = cannot write it.
 * -1: the child could not become t (or not be forked).
 */
static int
probe(const struct target *t, int rootfd)
{
	const char *why;
	pid_t pid;
	int st, r;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (become(t, &why) < 0)
			_exit(100);
		r = faccessat(rootfd, ".", X_OK, 0) < 0 ? 1 : 0;
		if (faccessat(rootfd, ".", W_OK | X_OK, 0) < 0)
			r |= 2;
		_exit(r);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) > 3)
		return -1;
	return WEXITSTATUS(st);
}

/* The capability sets of this process from /proc: 0 all empty. */
static int
caps_left(void)
{
	char line[256];
	unsigned long long v;
	FILE *f;
	int left = 0;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return 0;		/* no /proc: trust the kernel's rule */
	while (fgets(line, sizeof(line), f)) {
		if ((strncmp(line, "CapEff:", 7) == 0 ||
		    strncmp(line, "CapPrm:", 7) == 0 ||
		    strncmp(line, "CapAmb:", 7) == 0) &&
		    sscanf(line + 7, "%llx", &v) == 1 && v != 0)
			left = 1;
	}
	fclose(f);
	return left;
}

/* Empty the permitted, effective, inheritable and ambient sets. */
static int
caps_clear(void)
{
	struct __user_cap_header_struct h;
	struct __user_cap_data_struct d[2];

	memset(&h, 0, sizeof(h));
	memset(d, 0, sizeof(d));
	h.version = _LINUX_CAPABILITY_VERSION_3;
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return (int)syscall(SYS_capset, &h, d);
}

/* As root: take every capability out of the bounding set. */
static void
bounding_clear(void)
{
	int c;

	/* EINVAL past the last capability this kernel knows */
	for (c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL)
			break;
}

static int
no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_error("cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Not root: keep the uid, lose what bound the port (file or ambient). */
static int
drop_not_root(const struct service_cfg *cfg)
{
	struct target t;
	const char *why = NULL;

	if (cfg->user && (target_parse(cfg->user, &t, &why) < 0 ||
	    t.uid != geteuid())) {
		log_error("--user %s: %s", cfg->user, why ? why :
		    "only a server started as root can change its user");
		return -1;
	}
	if (caps_left() && caps_clear() < 0) {
		log_error("cannot drop capabilities: %s", strerror(errno));
		return -1;
	}
	return no_new_privs();
}

int
service_drop(const struct service_cfg *cfg, int rootfd, const char *dir,
    int upload)
{
	struct target t;
	const char *why = "";
	int p, explicit = cfg->user != NULL;

	if (geteuid() != 0)
		return drop_not_root(cfg);
	if (!explicit && cfg->allow_root) {
		log_notice("running as root (--allow-root)");
		return no_new_privs();
	}
	if (explicit ? target_parse(cfg->user, &t, &why) :
	    target_default(&t, &why)) {
		if (explicit) {
			log_error("--user %s: %s", cfg->user, why);
			return -1;
		}
		log_error("refusing to serve as root: no user 'nobody' to "
		    "become (give --user NAME or UID:GID, or --allow-root)");
		return -1;
	}
	if (t.uid == 0) {
		if (cfg->allow_root)
			return no_new_privs();
		log_error("--user %s is root: give --allow-root to run as "
		    "root", cfg->user);
		return -1;
	}
	/* no DIR (--origin serves every name): nothing to search */
	if ((p = rootfd >= 0 ? probe(&t, rootfd) : 0) < 0) {
		log_error("cannot become %s: %s", t.label, strerror(errno));
		return -1;
	}
	if (p & 1) {
		if (explicit) {
			log_error("user %s cannot search %s: fix its "
			    "permissions or give another --user", t.label, dir);
			return -1;
		}
		log_error("refusing to serve as root: user %s cannot search "
		    "%s (make it searchable, or give --user with its owner, "
		    "or --allow-root)", t.label, dir);
		return -1;
	}
	if (!explicit && upload && (p & 2)) {
		log_error("refusing to serve as root: user %s cannot write "
		    "%s for --upload (give --user with its owner, or "
		    "--allow-root)", t.label, dir);
		return -1;
	}
	bounding_clear();
	if (become(&t, &why) < 0) {
		log_error("cannot become %s: %s: %s", t.label, why,
		    strerror(errno));
		return -1;
	}
	/* belt and braces: the way back must be closed */
	if (setuid(0) == 0 || geteuid() == 0 || getuid() == 0) {
		log_error("still root after dropping to %s", t.label);
		return -1;
	}
	if (no_new_privs() < 0)
		return -1;
	if (caps_left() && (caps_clear() < 0 || caps_left())) {
		log_error("capabilities left after dropping to %s", t.label);
		return -1;
	}
	log_notice("running as user %s", t.label);
	if (upload && (p & 2))
		log_error("warning: user %s cannot write %s: uploads into it "
		    "will be refused", t.label, dir);
	return 0;
}

/* ---- seccomp ----------------------------------------------------------- */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SECCOMP_SANITIZED	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define SECCOMP_SANITIZED	1
#endif
#endif

#if defined(__x86_64__)
#define SECCOMP_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SECCOMP_ARCH	AUDIT_ARCH_AARCH64
#endif

#if defined(SECCOMP_ARCH) && !defined(SECCOMP_SANITIZED)

#define NR_OFF		offsetof(struct seccomp_data, nr)
#define ALLOW(nr)	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

/*
 * What the server does once it runs: datagrams, files beneath the root
 * (read, upload, link or rename into place), the loop, memory, the
 * clock, log lines (also to syslog or a reopened --log-file), and
 * leaving.  Not there: exec, fork, ptrace, mounts, namespaces, module
 * and key calls, new listening ports (no listen/accept), chmod/chown of
 * other files, and everything else; such a call kills the process.
 */
static const struct sock_filter seccomp_prog[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_ARCH, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NR_OFF),
#ifdef __x86_64__
	/* the x32 ABI shares the architecture value: refuse it whole */
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
	/* files */
	ALLOW(__NR_read), ALLOW(__NR_write), ALLOW(__NR_readv),
	ALLOW(__NR_writev), ALLOW(__NR_pread64), ALLOW(__NR_preadv),
	ALLOW(__NR_pwrite64), ALLOW(__NR_close), ALLOW(__NR_openat),
#ifdef __NR_openat2
	ALLOW(__NR_openat2),
#endif
#ifdef __NR_fstat
	ALLOW(__NR_fstat),
#endif
#ifdef __NR_newfstatat
	ALLOW(__NR_newfstatat),
#endif
#ifdef __NR_statx
	ALLOW(__NR_statx),
#endif
	ALLOW(__NR_lseek), ALLOW(__NR_fcntl), ALLOW(__NR_fstatfs),
	ALLOW(__NR_fsync), ALLOW(__NR_fdatasync), ALLOW(__NR_linkat),
#ifdef __NR_renameat
	ALLOW(__NR_renameat),
#endif
	ALLOW(__NR_renameat2), ALLOW(__NR_unlinkat),
	ALLOW(__NR_fchmod), ALLOW(__NR_getrandom), ALLOW(__NR_faccessat),
	/* memory */
	ALLOW(__NR_mmap), ALLOW(__NR_munmap), ALLOW(__NR_mremap),
	ALLOW(__NR_brk), ALLOW(__NR_madvise), ALLOW(__NR_mprotect),
	/* datagrams (and a syslog socket) */
	ALLOW(__NR_socket), ALLOW(__NR_bind), ALLOW(__NR_connect),
	ALLOW(__NR_sendto), ALLOW(__NR_sendmsg), ALLOW(__NR_sendmmsg),
	ALLOW(__NR_recvfrom), ALLOW(__NR_recvmsg), ALLOW(__NR_recvmmsg),
	ALLOW(__NR_setsockopt), ALLOW(__NR_getsockopt),
	ALLOW(__NR_getsockname), ALLOW(__NR_getpeername),
	/* the loop, signals, time */
#ifdef __NR_epoll_wait
	ALLOW(__NR_epoll_wait),
#endif
	ALLOW(__NR_epoll_pwait),
#ifdef __NR_epoll_pwait2
	ALLOW(__NR_epoll_pwait2),
#endif
	ALLOW(__NR_epoll_ctl), ALLOW(__NR_rt_sigprocmask),
	ALLOW(__NR_rt_sigreturn), ALLOW(__NR_rt_sigaction),
	ALLOW(__NR_restart_syscall), ALLOW(__NR_clock_gettime),
	ALLOW(__NR_clock_nanosleep), ALLOW(__NR_nanosleep),
	ALLOW(__NR_gettimeofday), ALLOW(__NR_sched_yield),
#ifdef __NR_time
	ALLOW(__NR_time),
#endif
	ALLOW(__NR_futex), ALLOW(__NR_getpid), ALLOW(__NR_gettid),
	ALLOW(__NR_tgkill), ALLOW(__NR_exit), ALLOW(__NR_exit_group),
	/*
	 * the HTTP origin: libcurl waits on a connection with poll, wakes
	 * itself through a socketpair, resolves names in a thread of its
	 * own where built so; bodies go to a memfd
	 */
#ifdef __NR_poll
	ALLOW(__NR_poll),
#endif
	ALLOW(__NR_ppoll), ALLOW(__NR_socketpair), ALLOW(__NR_pipe2),
	ALLOW(__NR_eventfd2), ALLOW(__NR_memfd_create), ALLOW(__NR_dup),
	ALLOW(__NR_dup3), ALLOW(__NR_sysinfo), ALLOW(__NR_clone),
#ifdef __NR_clone3
	ALLOW(__NR_clone3),
#endif
	ALLOW(__NR_set_robust_list),
	/* --metrics: libmicrohttpd takes a scrape's connection */
	ALLOW(__NR_accept4), ALLOW(__NR_shutdown),
#ifdef __NR_rseq
	ALLOW(__NR_rseq),
#endif
	/* isatty() and other ioctls: "not a terminal" */
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOTTY),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
};

int
service_seccomp(void)
{
	struct sock_fprog prog;

	prog.len = (unsigned short)(sizeof(seccomp_prog) /
	    sizeof(seccomp_prog[0]));
	prog.filter = (struct sock_filter *)seccomp_prog;
	/* no_new_privs is set by service_drop (the kernel insists) */
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
		log_error("cannot install the seccomp filter: %s",
		    strerror(errno));
		return -1;
	}
	log_notice("seccomp filter on");
	return 0;
}

#else

int
service_seccomp(void)
{
#ifdef SECCOMP_SANITIZED
	log_error("--seccomp: not in a sanitizer build (its runtime needs "
	    "more system calls)");
#else
	log_error("--seccomp: not supported on this architecture");
#endif
	return -1;
}

#endif
