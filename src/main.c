/*
 * main.c - the command line: `tftpx serve|get|put|bench`.
 *
 * Exit status: 0 ok, 1 the transfer (or the server) failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "client.h"
#include "log.h"
#include "metrics.h"
#include "origin.h"
#include "options.h"
#include "packet.h"
#include "names.h"
#include "server.h"
#include "udp.h"

#define TFTPX_VERSION	"0.1.0"

static const char usage_main[] =
"usage: tftpx COMMAND [OPTIONS] ...\n"
"\n"
"  tftpx serve [DIR]                     serve DIR (default .) on port 69, read-only\n"
"  tftpx serve --upload DIR              also accept new files (--overwrite: replace too)\n"
"  tftpx serve --listen 127.0.0.1:0 DIR  any free port; the start-up line says which\n"
"  tftpx get HOST[:PORT] REMOTE [LOCAL]  fetch a file (LOCAL - is stdout)\n"
"  tftpx put HOST[:PORT] LOCAL [REMOTE]  send a file (LOCAL - is stdin)\n"
"  tftpx bench -c 50 -n 500 HOST[:PORT] FILE\n"
"                                        load test: many transfers at once\n"
"\n"
"  tftpx COMMAND --help                  options of a command\n"
"  tftpx --version\n";

static const char usage_serve[] =
"usage: tftpx serve [OPTIONS] [DIR]\n"
"\n"
"Serve the files beneath DIR (default: the current directory) over TFTP.\n"
"\n"
"  -l, --listen ADDR[:PORT]  listen here (repeatable; IPv6 as [::1]:6969);\n"
"                            default: all IPv4 and IPv6 addresses\n"
"  -p, --port PORT           port when ADDR has none (default 69; 0: any free)\n"
"      --user NAME|UID[:GID] started as root, become this user once the\n"
"                            sockets and DIR are open (default: the sudo\n"
"                            user, else nobody)\n"
"      --allow-root          stay root (without --user)\n"
"      --interface IFACE     send and receive through this NIC only\n"
"      --inetd               the UDP socket is stdin (inetd dgram wait)\n"
"      --idle-timeout SECONDS  exit after this long without a request or\n"
"                            transfer (default 30 with --inetd, else never)\n"
"      --seccomp             once running, allow only the system calls a\n"
"                            server makes (any other kills it)\n"
"      --upload              accept uploads of new names\n"
"      --overwrite           accept uploads that replace existing names too\n"
"      --backslash           treat '\\' in names as '/' (Windows PXE clients)\n"
"      --blksize-max N       largest blksize granted (8..65464, default 65464)\n"
"      --windowsize-max N    largest windowsize granted (1..65535, default 64)\n"
"      --timeout SECONDS     first retransmission timeout (1..255, default 1)\n"
"      --retries N           give up after (N + 1) x --timeout without\n"
"                            progress (default 5)\n"
"      --grace SECONDS       drop a late copy of a finished upload request\n"
"                            until this long after its first DATA (default 2)\n"
"      --max-transfers N     live transfers in all (default 1000)\n"
"      --max-per-client N    live transfers per client host (default 64)\n"
"      --max-upload SIZE     largest upload, e.g. 64M (default: no limit)\n"
"      --rto-min MS          floor of the RTT-based retransmission and tail\n"
"                            probe timers (default 10)\n"
"      --classic-timers      fixed --timeout timers, no RTT (= --rto-min 0)\n"
"      --spin USEC           before sleeping, poll for a client's answer\n"
"                            for up to USEC, as long as answers come that\n"
"                            fast (default 200; 0: always sleep at once)\n"
"      --single-port         answer from the port the request came to, so\n"
"                            a NAT or a published container port (-p\n"
"                            69:69/udp) lets the answers through\n"
"      --port-range LOW:HIGH each transfer's port from this range (for a\n"
"                            firewall that opens only these)\n"
"      --mtu N               path MTU for the blksize cap (576..65535;\n"
"                            default: the route's toward each client)\n"
"      --map FILE            rewrite names with tftpd-hpa's remap rules\n"
"                            (its -m FILE, unchanged; SIGHUP reloads)\n"
"      --per-client ip|mac   serve DIR/<client IP>/NAME or DIR/<MAC>/NAME\n"
"                            (01-02-03-04-aa-bb) when that directory\n"
"                            exists, else DIR/NAME\n"
"      --lowercase           take every name asked in lower case\n"
"      --ignore-case         a name not found as asked: the one that\n"
"                            differs only in case (BOOT\\BCD, boot/bcd)\n"
"      --origin URL          a name not in DIR (every name, without DIR)\n"
"                            is fetched from URL/NAME over http or https\n"
"                            and served as it arrives\n"
"      --origin-ca FILE      trust this CA for an https origin\n"
"      --cache DIR           keep complete fetches here (atomic; LRU)\n"
"      --cache-max SIZE      at most this much in the cache (default 1G)\n"
"      --cache-ttl SECONDS   revalidate a cached file after this long\n"
"                            (ETag, Last-Modified; default 60)\n"
"      --origin-upload       with --upload: PUT each complete upload to\n"
"                            URL/NAME; the final ACK waits for its 2xx\n"
"      --metrics ADDR:PORT   Prometheus metrics on http://ADDR:PORT/metrics\n"
"                            (PORT alone: 127.0.0.1; 0: any free port)\n"
"      --log-format FMT      events as text lines (default) or json, one\n"
"                            object per line\n"
"      --log-file PATH       append events to PATH, not stderr (reopened\n"
"                            on SIGHUP, for logrotate)\n"
"      --syslog              send events to syslog (daemon, ident tftpx)\n"
"      --once                exit after the first transfer: 0 if it\n"
"                            succeeded, 1 if it failed\n"
"  -v, --verbose             also log each request and its options\n"
"  -q, --quiet               log errors only\n"
"  -h, --help                this text\n"
"\n"
"Uploads are atomic: a temp file beside the target, renamed when complete.\n"
"A request repeated by a client while its transfer runs is dropped.\n";

static const char usage_get[] =
"usage: tftpx get [OPTIONS] HOST[:PORT] REMOTE [LOCAL]\n"
"       tftpx get [OPTIONS] tftp://HOST[:PORT]/REMOTE [LOCAL]\n"
"\n"
"Fetch REMOTE into LOCAL (default: REMOTE's last component; - is stdout).\n"
"A failed get leaves LOCAL untouched.\n"
"\n";

static const char usage_put[] =
"usage: tftpx put [OPTIONS] HOST[:PORT] LOCAL [REMOTE]\n"
"\n"
"Send LOCAL (- is stdin) as REMOTE (default: LOCAL's last component).\n"
"\n";

static const char usage_client_opts[] =
"  -b, --blksize N       ask for N-byte blocks (8..65464)\n"
"  -w, --windowsize N    ask for N blocks per ACK (1..65535)\n"
"  -t, --timeout SECONDS first retransmission timeout (1..255, default 1);\n"
"                        also asked of the server with --timeout-option\n"
"  -r, --retries N       give up after (N + 1) x --timeout without progress\n"
"                        (default 5)\n"
"      --classic-timers  put: fixed --timeout timers instead of RTT-based\n"
"      --tsize           ask for (get) or announce (put) the size\n"
"      --ascii           netascii mode (text with CR LF line ends)\n"
"  -v, --verbose         add the server, options and timeouts to the summary\n"
"  -q, --quiet           print errors only: no progress bar, no summary\n"
"  -h, --help            this text\n"
"\n"
"On a terminal stderr shows a progress bar; a summary line ends a transfer.\n"
"Exit status: 0 ok, 1 transfer failed, 2 usage error.\n";

static const char usage_bench[] =
"usage: tftpx bench [OPTIONS] HOST[:PORT] FILE\n"
"\n"
"Run TOTAL transfers of FILE, CONCURRENCY at a time, from one event loop,\n"
"and print MB/s, transfers/s, p50/p99 transfer time, retransmits and\n"
"failures.  Downloads are discarded unless --verify compares them.\n"
"\n"
"  -c, --concurrency N   transfers at once (1..10000, default 1)\n"
"  -n, --total N         transfers in all (default: CONCURRENCY)\n"
"  -b, --blksize N       ask for N-byte blocks (8..65464)\n"
"  -w, --windowsize N    ask for N blocks per ACK (1..65535)\n"
"  -t, --timeout SECONDS first retransmission timeout (1..255, default 1)\n"
"  -r, --retries N       give up after (N + 1) x --timeout without progress\n"
"                        (default 5)\n"
"      --tsize           ask for (get) or announce (put) the size\n"
"      --verify          compare every byte received with the local FILE\n"
"      --local PATH      the local copy --verify reads (default: FILE)\n"
"      --put             upload the local FILE instead of fetching it\n"
"      --remote NAME     name of the uploads (default: FILE's last\n"
"                        component); with -c > 1 lane K uploads NAME.K\n"
"      --json            print one JSON object instead of the lines\n"
"  -q, --quiet           print one summary line\n"
"  -h, --help            this text\n"
"\n"
"The server must allow CONCURRENCY transfers from one host (tftpx serve\n"
"--max-per-client).  Exit status: 0 every transfer succeeded (and\n"
"verified), 1 otherwise, 2 usage error.\n";

static void die_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* One line naming the problem, then exit 2. */
static void
die_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tftpx %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'tftpx %s --help')\n", cmd);
	exit(2);
}

/* getopt found an unknown option or a missing argument: one line, exit 2. */
static void __attribute__((noreturn))
bad_option(const char *cmd, char **argv)
{
	const char *arg = argv[optind - 1];

	/* getopt sets optopt for a missing value, 0 for an unknown long one */
	if (strncmp(arg, "--", 2) == 0)
		die_usage(cmd, optopt ? "option '%s': missing or unexpected value" :
		    "unknown option '%s'", arg);
	if (optopt && strchr("lpbwtrcn", optopt))
		die_usage(cmd, "option '-%c' needs a value", optopt);
	die_usage(cmd, "unknown option '-%c'", optopt);
}

/* A decimal number in [min, max], or exit 2 naming the option. */
static unsigned long
num_arg(const char *cmd, const char *opt, const char *s, unsigned long min,
    unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno || v < min ||
	    v > max)
		die_usage(cmd, "%s needs a number from %lu to %lu, not '%s'",
		    opt, min, max, s);
	return v;
}

enum {
	OPT_UPLOAD = 256,
	OPT_OVERWRITE,
	OPT_BACKSLASH,
	OPT_BLKMAX,
	OPT_WINMAX,
	OPT_TIMEOUT_S,
	OPT_RETRIES_S,
	OPT_TSIZE_C,
	OPT_ASCII,
	OPT_TIMEOUT_OPT,
	OPT_GRACE,
	OPT_MAXXFER,
	OPT_MAXCLIENT,
	OPT_MAXUPLOAD,
	OPT_RTOMIN,
	OPT_CLASSIC,
	OPT_SPIN,
	OPT_PUT,
	OPT_VERIFY,
	OPT_LOCAL,
	OPT_REMOTE,
	OPT_JSON,
};

/* serve: logging and scripted use (kept apart from the options above) */
enum {
	OPT_LOGFORMAT = 512,
	OPT_LOGFILE,
	OPT_SYSLOG,
	OPT_ONCE,
};

/* "123", "64K", "64M", "2G" (powers of 1024), or exit 2. */
static uint64_t
size_arg(const char *cmd, const char *opt, const char *s)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno || v == 0 ||
	    v > (UINT64_MAX >> shift))
		die_usage(cmd, "%s needs a size such as 1048576, 512K or 64M, "
		    "not '%s'", opt, s);
	return (uint64_t)v << shift;
}

/* serve: NAT, firewalls, containers and paths */
enum {
	OPT_NET_SINGLE = 1024,	/* clear of other option blocks */
	OPT_NET_RANGE,
	OPT_NET_MTU,
	/* which file each client gets */
	OPT_NAME_MAP,
	OPT_NAME_PERCLIENT,
	OPT_NAME_LOWER,
	OPT_NAME_ICASE,
	/* the HTTP origin (origin.c) */
	OPT_ORIGIN,
	OPT_ORIGIN_CA,
	OPT_ORIGIN_UPLOAD,
	OPT_CACHE,
	OPT_CACHE_MAX,
	OPT_CACHE_TTL,
	OPT_METRICS,
};

/* "LOW:HIGH" with 1 <= LOW <= HIGH <= 65535, or exit 2. */
static void
port_range_arg(const char *s, int *lo, int *hi)
{
	unsigned long a, b;
	char *end;

	errno = 0;
	a = strtoul(s, &end, 10);
	if (s[0] >= '0' && s[0] <= '9' && *end == ':' && end[1] >= '0' &&
	    end[1] <= '9') {
		b = strtoul(end + 1, &end, 10);
		if (*end == '\0' && errno == 0 && a >= 1 && a <= b &&
		    b <= 65535) {
			*lo = (int)a;
			*hi = (int)b;
			return;
		}
	}
	die_usage("serve", "--port-range needs LOW:HIGH with 1 <= LOW <= HIGH "
	    "<= 65535, e.g. 40000:40999, not '%s'", s);
}

/* The network and naming options of serve; 1 if c was one of them. */
static int
net_option(int c, struct server_cfg *cfg)
{
	switch (c) {
	case OPT_NET_SINGLE:
		cfg->single_port = 1;
		return 1;
	case OPT_NET_RANGE:
		port_range_arg(optarg, &cfg->port_lo, &cfg->port_hi);
		return 1;
	case OPT_NET_MTU:
		cfg->mtu = (unsigned)num_arg("serve", "--mtu", optarg, 576,
		    65535);
		return 1;
	case OPT_NAME_MAP:
		cfg->map_file = optarg;
		return 1;
	case OPT_NAME_PERCLIENT:
		if (strcmp(optarg, "ip") == 0)
			cfg->per_client = NAMES_PER_IP;
		else if (strcmp(optarg, "mac") == 0)
			cfg->per_client = NAMES_PER_MAC;
		else
			die_usage("serve", "--per-client is ip or mac, not "
			    "'%s'", optarg);
		return 1;
	case OPT_NAME_LOWER:
		cfg->lowercase = 1;
		return 1;
	case OPT_NAME_ICASE:
		cfg->ignore_case = 1;
		return 1;
	case OPT_ORIGIN:
		if (!origin_available())
			die_usage("serve", "--origin: this tftpx was built "
			    "without libcurl (install libcurl4-openssl-dev "
			    "and build again)");
		cfg->origin.url = optarg;
		return 1;
	case OPT_ORIGIN_CA:
		cfg->origin.ca = optarg;
		return 1;
	case OPT_ORIGIN_UPLOAD:
		cfg->origin_upload = 1;
		return 1;
	case OPT_CACHE:
		cfg->origin.cache = optarg;
		return 1;
	case OPT_CACHE_MAX:
		cfg->origin.cache_max = size_arg("serve", "--cache-max",
		    optarg);
		return 1;
	case OPT_METRICS:
		if (!metrics_available())
			die_usage("serve", "--metrics: this tftpx was built "
			    "without libmicrohttpd (install libmicrohttpd-dev "
			    "and build again)");
		{
			char host[128];
			const char *why;
			int port;

			/* a bad address is a usage error, as for --listen */
			if (metrics_split(optarg, host, sizeof(host), &port,
			    &why) < 0)
				die_usage("serve", "--metrics %s: %s", optarg,
				    why);
		}
		cfg->metrics = optarg;
		return 1;
	case OPT_CACHE_TTL:
		cfg->origin.cache_ttl = (unsigned)num_arg("serve",
		    "--cache-ttl", optarg, 0, 31536000);
		return 1;
	}
	return 0;
}

/* The origin's options together, or exit 2 naming what is wrong. */
static void
origin_args(struct server_cfg *cfg, int dir_given)
{
	char why[512];
	/* the server's */
	static char agent[32];

	if (cfg->origin.url == NULL) {
		if (cfg->origin.ca || cfg->origin.cache || cfg->origin_upload)
			die_usage("serve", "--origin-ca, --cache and "
			    "--origin-upload need --origin URL");
		return;
	}
	if (cfg->origin.url[0] != '\0' &&
	    cfg->origin.url[strlen(cfg->origin.url) - 1] == '/') {
		/* "http://h/boot/" and "http://h/boot" are one base */
		static char url[4096];

		snprintf(url, sizeof(url), "%s", cfg->origin.url);
		while (strlen(url) > 1 && url[strlen(url) - 1] == '/')
			url[strlen(url) - 1] = '\0';
		cfg->origin.url = url;
	}
	if (origin_check(&cfg->origin, why, sizeof(why)) < 0)
		die_usage("serve", "%s", why);
	if (cfg->origin_upload && !cfg->upload)
		die_usage("serve", "--origin-upload hands uploads on: give "
		    "--upload too");
	if (!dir_given) {
		cfg->dir = NULL;
		if (cfg->upload && !cfg->origin_upload)
			die_usage("serve", "--upload without DIR keeps uploads "
			    "nowhere: give DIR, or --origin-upload");
	}
	snprintf(agent, sizeof(agent), "tftpx/%s", TFTPX_VERSION);
	cfg->origin.agent = agent;
	/* the origin may stall as long as a client may: the give-up time */
	cfg->origin.giveup = (cfg->retries + 1) * cfg->timeout;
}

/* serve: running as a service (service.c) */
enum {
	OPT_SVC_USER = 768,	/* clear of other option blocks */
	OPT_SVC_ALLOWROOT,
	OPT_SVC_INTERFACE,
	OPT_SVC_INETD,
	OPT_SVC_IDLE,
	OPT_SVC_SECCOMP,
};

/* The service options of serve; 1 if c was one of them. */
static int
service_option(int c, struct service_cfg *svc)
{
	switch (c) {
	case OPT_SVC_USER:
		if (optarg[0] == '\0')
			die_usage("serve", "--user needs a NAME or UID[:GID]");
		svc->user = optarg;
		return 1;
	case OPT_SVC_ALLOWROOT:
		svc->allow_root = 1;
		return 1;
	case OPT_SVC_INTERFACE:
		/* IFNAMSIZ (16) with its NUL */
		if (optarg[0] == '\0' || strlen(optarg) > 15)
			die_usage("serve", "--interface needs an interface "
			    "name of 1 to 15 characters, not '%s'", optarg);
		svc->interface = optarg;
		return 1;
	case OPT_SVC_INETD:
		svc->inetd = 1;
		return 1;
	case OPT_SVC_SECCOMP:
		svc->seccomp = 1;
		return 1;
	case OPT_SVC_IDLE:
		svc->idle_timeout = (int)num_arg("serve", "--idle-timeout",
		    optarg, 0, 86400);
		return 1;
	}
	return 0;
}

static int
cmd_serve(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		/* service: see service_option() */
		{ "user", required_argument, NULL, OPT_SVC_USER },
		{ "allow-root", no_argument, NULL, OPT_SVC_ALLOWROOT },
		{ "interface", required_argument, NULL, OPT_SVC_INTERFACE },
		{ "inetd", no_argument, NULL, OPT_SVC_INETD },
		{ "idle-timeout", required_argument, NULL, OPT_SVC_IDLE },
		{ "seccomp", no_argument, NULL, OPT_SVC_SECCOMP },
		{ "upload", no_argument, NULL, OPT_UPLOAD },
		{ "overwrite", no_argument, NULL, OPT_OVERWRITE },
		{ "backslash", no_argument, NULL, OPT_BACKSLASH },
		{ "blksize-max", required_argument, NULL, OPT_BLKMAX },
		{ "windowsize-max", required_argument, NULL, OPT_WINMAX },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT_S },
		{ "retries", required_argument, NULL, OPT_RETRIES_S },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "max-transfers", required_argument, NULL, OPT_MAXXFER },
		{ "max-per-client", required_argument, NULL, OPT_MAXCLIENT },
		{ "max-upload", required_argument, NULL, OPT_MAXUPLOAD },
		{ "rto-min", required_argument, NULL, OPT_RTOMIN },
		{ "classic-timers", no_argument, NULL, OPT_CLASSIC },
		{ "spin", required_argument, NULL, OPT_SPIN },
		/* NAT and paths: see net_option() */
		{ "single-port", no_argument, NULL, OPT_NET_SINGLE },
		{ "port-range", required_argument, NULL, OPT_NET_RANGE },
		{ "mtu", required_argument, NULL, OPT_NET_MTU },
		{ "map", required_argument, NULL, OPT_NAME_MAP },
		{ "per-client", required_argument, NULL, OPT_NAME_PERCLIENT },
		{ "lowercase", no_argument, NULL, OPT_NAME_LOWER },
		{ "ignore-case", no_argument, NULL, OPT_NAME_ICASE },
		{ "origin", required_argument, NULL, OPT_ORIGIN },
		{ "origin-ca", required_argument, NULL, OPT_ORIGIN_CA },
		{ "origin-upload", no_argument, NULL, OPT_ORIGIN_UPLOAD },
		{ "cache", required_argument, NULL, OPT_CACHE },
		{ "cache-max", required_argument, NULL, OPT_CACHE_MAX },
		{ "cache-ttl", required_argument, NULL, OPT_CACHE_TTL },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		/* logging and scripted use */
		{ "log-format", required_argument, NULL, OPT_LOGFORMAT },
		{ "log-file", required_argument, NULL, OPT_LOGFILE },
		{ "syslog", no_argument, NULL, OPT_SYSLOG },
		{ "once", no_argument, NULL, OPT_ONCE },
		/* end of logging and scripted use */
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct server_cfg cfg;
	int c;

	server_cfg_init(&cfg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "l:p:vqh", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (cfg.nlisten == SERVER_LISTEN_MAX)
				die_usage("serve", "too many --listen (at most 16)");
			cfg.listen[cfg.nlisten++] = optarg;
			break;
		case 'p':
			cfg.port = (int)num_arg("serve", "--port", optarg, 0,
			    65535);
			break;
		case OPT_UPLOAD:
			cfg.upload = 1;
			break;
		case OPT_OVERWRITE:
			cfg.upload = cfg.overwrite = 1;
			break;
		case OPT_BACKSLASH:
			cfg.backslash = 1;
			break;
		case OPT_BLKMAX:
			cfg.blksize_max = (unsigned)num_arg("serve",
			    "--blksize-max", optarg, PKT_BLKSIZE_MIN,
			    PKT_BLKSIZE_MAX);
			break;
		case OPT_WINMAX:
			cfg.windowsize_max = (unsigned)num_arg("serve",
			    "--windowsize-max", optarg, OPT_WINDOWSIZE_MIN,
			    OPT_WINDOWSIZE_MAX);
			break;
		case OPT_TIMEOUT_S:
			cfg.timeout = (unsigned)num_arg("serve", "--timeout",
			    optarg, OPT_TIMEOUT_MIN, OPT_TIMEOUT_MAX);
			break;
		case OPT_RETRIES_S:
			cfg.retries = (unsigned)num_arg("serve", "--retries",
			    optarg, 0, 1000);
			break;
		case OPT_GRACE:
			cfg.grace = (unsigned)num_arg("serve", "--grace",
			    optarg, 0, 3600);
			break;
		case OPT_MAXXFER:
			cfg.max_transfers = (unsigned)num_arg("serve",
			    "--max-transfers", optarg, 1, 1000000);
			break;
		case OPT_MAXCLIENT:
			cfg.max_per_client = (unsigned)num_arg("serve",
			    "--max-per-client", optarg, 1, 1000000);
			break;
		case OPT_RTOMIN:
			cfg.rto_min = (unsigned)num_arg("serve", "--rto-min",
			    optarg, 0, 10000);
			break;
		case OPT_CLASSIC:
			cfg.rto_min = 0;
			break;
		case OPT_SPIN:
			cfg.spin = (unsigned)num_arg("serve", "--spin", optarg,
			    0, SERVER_SPIN_MAX);
			break;
		case OPT_MAXUPLOAD:
			cfg.max_upload = size_arg("serve", "--max-upload",
			    optarg);
			break;
		/* logging and scripted use */
		case OPT_LOGFORMAT:
			if (log_set_format(optarg) < 0)
				die_usage("serve", "--log-format is text or json, "
				    "not '%s'", optarg);
			break;
		case OPT_LOGFILE:
			cfg.log_file = optarg;
			break;
		case OPT_SYSLOG:
			cfg.use_syslog = 1;
			break;
		case OPT_ONCE:
			cfg.once = 1;
			break;
		/* end of logging and scripted use */
		case 'v':
			log_set_level(LOG_VERBOSE);
			break;
		case 'q':
			log_set_level(LOG_QUIET);
			break;
		case 'h':
			fputs(usage_serve, stdout);
			if (!origin_available())
				fputs("\nThis tftpx was built without libcurl: "
				    "no --origin, --cache or --origin-upload.\n",
				    stdout);
			if (!metrics_available())
				fputs("\nThis tftpx was built without "
				    "libmicrohttpd: no --metrics.\n", stdout);
			return 0;
		default:
			if (!service_option(c, &cfg.svc) &&
			    !net_option(c, &cfg))
				bad_option("serve", argv);
		}
	}
	if (argc - optind > 1)
		die_usage("serve", "one DIR only, extra argument '%s'",
		    argv[optind + 1]);
	if (cfg.svc.inetd && cfg.nlisten)
		die_usage("serve", "--inetd serves the socket on stdin; "
		    "drop --listen");
	if (optind < argc)
		cfg.dir = argv[optind];
	if (cfg.log_file && cfg.use_syslog)
		die_usage("serve", "--log-file and --syslog exclude each other");
	origin_args(&cfg, optind < argc);
	if (cfg.single_port && cfg.port_lo)
		die_usage("serve", "--single-port answers from the listening "
		    "port; drop --port-range");
	return server_run(&cfg);
}

/* Take "tftp://host[:port]/path" apart; the strings are in buf. */
static int
split_url(const char *url, char *buf, size_t cap, char **hostport,
    char **path)
{
	size_t n;
	char *slash;

	if (strncmp(url, "tftp://", 7) != 0)
		return 0;
	if ((n = strlen(url + 7)) >= cap)
		return -1;
	memcpy(buf, url + 7, n + 1);
	if ((slash = strchr(buf, '/')) == NULL || slash[1] == '\0')
		return -1;
	*slash = '\0';
	*hostport = buf;
	*path = slash + 1;
	return 1;
}

static const char *
last_component(const char *p)
{
	const char *s = strrchr(p, '/');

	return s && s[1] ? s + 1 : p;
}

/*
 * The transfer options get, put and bench share (-b, -w, -t, -r,
 * --tsize): store c's value and return 1, or return 0 for another option.
 */
static int
xfer_opt(const char *cmd, int c, struct tftp_opts *o, unsigned *timeout,
    unsigned *retries)
{
	switch (c) {
	case 'b':
		o->blksize = (unsigned)num_arg(cmd, "--blksize", optarg,
		    PKT_BLKSIZE_MIN, PKT_BLKSIZE_MAX);
		o->have |= OPT_BLKSIZE;
		return 1;
	case 'w':
		o->windowsize = (unsigned)num_arg(cmd, "--windowsize", optarg,
		    OPT_WINDOWSIZE_MIN, OPT_WINDOWSIZE_MAX);
		o->have |= OPT_WINDOWSIZE;
		return 1;
	case 't':
		*timeout = (unsigned)num_arg(cmd, "--timeout", optarg,
		    OPT_TIMEOUT_MIN, OPT_TIMEOUT_MAX);
		return 1;
	case 'r':
		*retries = (unsigned)num_arg(cmd, "--retries", optarg, 0, 1000);
		return 1;
	case OPT_TSIZE_C:
		o->have |= OPT_TSIZE;
		o->tsize = 0;
		return 1;
	}
	return 0;
}

static int
cmd_client(int put, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "blksize", required_argument, NULL, 'b' },
		{ "windowsize", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "timeout-option", no_argument, NULL, OPT_TIMEOUT_OPT },
		{ "classic-timers", no_argument, NULL, OPT_CLASSIC },
		{ "retries", required_argument, NULL, 'r' },
		{ "tsize", no_argument, NULL, OPT_TSIZE_C },
		{ "ascii", no_argument, NULL, OPT_ASCII },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = put ? "put" : "get";
	struct client_cfg cfg;
	char urlbuf[1024], host[256];
	char *hostport = NULL, *path = NULL;
	const char *why;
	int c, n, url, timeout_opt = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.put = put;
	cfg.timeout = 1;
	cfg.retries = 5;
	options_init(&cfg.opts);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "b:w:t:r:vqh", lo, NULL)) != -1) {
		if (xfer_opt(cmd, c, &cfg.opts, &cfg.timeout, &cfg.retries))
			continue;
		switch (c) {
		case OPT_TIMEOUT_OPT:
			timeout_opt = 1;
			break;
		case OPT_CLASSIC:
			cfg.classic = 1;
			break;
		case OPT_ASCII:
			cfg.netascii = 1;
			break;
		case 'v':
			cfg.verbose = 1;
			break;
		case 'q':
			cfg.quiet = 1;
			log_set_level(LOG_QUIET);
			break;
		case 'h':
			fputs(put ? usage_put : usage_get, stdout);
			fputs(usage_client_opts, stdout);
			return 0;
		default:
			bad_option(cmd, argv);
		}
	}
	if (timeout_opt) {
		cfg.opts.timeout = cfg.timeout;
		cfg.opts.have |= OPT_TIMEOUT;
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		die_usage(cmd, "missing HOST");
	url = split_url(argv[0], urlbuf, sizeof(urlbuf), &hostport, &path);
	if (url < 0)
		die_usage(cmd, "bad URL '%s' (tftp://HOST[:PORT]/FILE)",
		    argv[0]);
	if (url) {
		if (put) {
			if (argc < 2)
				die_usage(cmd, "missing LOCAL");
			cfg.local = argv[1];
			cfg.remote = path;
			n = 2;
		} else {
			cfg.remote = path;
			cfg.local = argc > 1 ? argv[1] : NULL;
			n = argc > 1 ? 2 : 1;
		}
	} else {
		hostport = argv[0];
		if (argc < 2)
			die_usage(cmd, "missing %s", put ? "LOCAL" : "REMOTE");
		if (put) {
			cfg.local = argv[1];
			cfg.remote = argc > 2 ? argv[2] : NULL;
		} else {
			cfg.remote = argv[1];
			cfg.local = argc > 2 ? argv[2] : NULL;
		}
		n = argc > 2 ? 3 : 2;
	}
	if (argc > n)
		die_usage(cmd, "unexpected argument '%s'", argv[n]);
	if (put && cfg.remote == NULL) {
		if (strcmp(cfg.local, "-") == 0)
			die_usage(cmd, "REMOTE is needed when LOCAL is -");
		cfg.remote = last_component(cfg.local);
	}
	if (!put && cfg.local == NULL)
		cfg.local = last_component(cfg.remote);
	if (cfg.remote[0] == '\0')
		die_usage(cmd, "empty REMOTE name");
	if (udp_split_hostport(hostport, 69, host, sizeof(host), &cfg.port,
	    &why) < 0)
		die_usage(cmd, "bad HOST[:PORT] '%s'", hostport);
	if (host[0] == '\0')
		die_usage(cmd, "missing HOST in '%s'", hostport);
	cfg.host = host;
	return client_run(&cfg);
}

static int
cmd_bench(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "concurrency", required_argument, NULL, 'c' },
		{ "total", required_argument, NULL, 'n' },
		{ "blksize", required_argument, NULL, 'b' },
		{ "windowsize", required_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'r' },
		{ "tsize", no_argument, NULL, OPT_TSIZE_C },
		{ "put", no_argument, NULL, OPT_PUT },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "local", required_argument, NULL, OPT_LOCAL },
		{ "remote", required_argument, NULL, OPT_REMOTE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_cfg cfg;
	char host[256];
	const char *why;
	int c, have_n = 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.concurrency = 1;
	cfg.timeout = 1;
	cfg.retries = 5;
	options_init(&cfg.opts);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:n:b:w:t:r:qh", lo, NULL)) !=
	    -1) {
		if (xfer_opt("bench", c, &cfg.opts, &cfg.timeout,
		    &cfg.retries))
			continue;
		switch (c) {
		case 'c':
			cfg.concurrency = (unsigned)num_arg("bench",
			    "--concurrency", optarg, 1, BENCH_CONC_MAX);
			break;
		case 'n':
			cfg.total = num_arg("bench", "--total", optarg, 1,
			    BENCH_TOTAL_MAX);
			have_n = 1;
			break;
		case OPT_PUT:
			cfg.put = 1;
			break;
		case OPT_VERIFY:
			cfg.verify = 1;
			break;
		case OPT_LOCAL:
			cfg.local = optarg;
			break;
		case OPT_REMOTE:
			cfg.remote = optarg;
			break;
		case OPT_JSON:
			cfg.json = 1;
			break;
		case 'q':
			cfg.quiet = 1;
			break;
		case 'h':
			fputs(usage_bench, stdout);
			return 0;
		default:
			bad_option("bench", argv);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		die_usage("bench", "missing HOST");
	if (argc < 2)
		die_usage("bench", "missing FILE");
	if (argc > 2)
		die_usage("bench", "unexpected argument '%s'", argv[2]);
	cfg.file = argv[1];
	if (cfg.file[0] == '\0')
		die_usage("bench", "empty FILE name");
	if (cfg.put && cfg.verify)
		die_usage("bench", "--verify checks downloads; compare the "
		    "server's copies of a --put yourself");
	if (cfg.put && cfg.local)
		die_usage("bench", "--local is for --verify; with --put FILE "
		    "is the local file");
	if (!cfg.put && cfg.remote)
		die_usage("bench", "--remote names uploads (--put); a get "
		    "fetches FILE");
	if (!cfg.put && cfg.local && !cfg.verify)
		die_usage("bench", "--local is the copy --verify reads");
	if (cfg.put && cfg.remote == NULL)
		cfg.remote = last_component(cfg.file);
	if (cfg.put && cfg.remote[0] == '\0')
		die_usage("bench", "empty --remote name");
	if (!have_n)
		cfg.total = cfg.concurrency;
	if (udp_split_hostport(argv[0], 69, host, sizeof(host), &cfg.port,
	    &why) < 0)
		die_usage("bench", "bad HOST[:PORT] '%s'", argv[0]);
	if (host[0] == '\0')
		die_usage("bench", "missing HOST in '%s'", argv[0]);
	cfg.host = host;
	return bench_run(&cfg);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_main, stderr);
		return 2;
	}
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "get") == 0)
		return cmd_client(0, argc - 1, argv + 1);
	if (strcmp(argv[1], "put") == 0)
		return cmd_client(1, argc - 1, argv + 1);
	if (strcmp(argv[1], "bench") == 0)
		return cmd_bench(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 ||
	    strcmp(argv[1], "version") == 0) {
		printf("tftpx %s\n", TFTPX_VERSION);
		return 0;
	}
	fprintf(stderr, "tftpx: unknown command '%s' (see 'tftpx --help')\n",
	    argv[1]);
	return 2;
}
