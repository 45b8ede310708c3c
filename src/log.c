/*
 * log.c - human lines on stderr, transfer events to a sink.
 *
 * Every event is formatted into one buffer and written with one write(2),
 * so lines stay whole in a file shared with other writers (O_APPEND) and
 * on a terminal.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum sink {
	SINK_STDERR,
	SINK_FILE,
	SINK_SYSLOG,
};

static int level = LOG_NORMAL;
static int format = LOG_FMT_TEXT;
static enum sink sink = SINK_STDERR;
static int sink_fd = -1;		/* SINK_FILE */
static const char *sink_path;		/* SINK_FILE, for log_reopen() */

void
log_set_level(int l)
{
	level = l;
}

int
log_level(void)
{
	return level;
}

int
log_set_format(const char *name)
{
	if (strcmp(name, "text") == 0)
		format = LOG_FMT_TEXT;
	else if (strcmp(name, "json") == 0)
		format = LOG_FMT_JSON;
	else
		return -1;
	return 0;
}

int
log_format(void)
{
	return format;
}

static int
open_append(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0640);
}

int
log_open_file(const char *path)
{
	int fd;

	if ((fd = open_append(path)) < 0)
		return -1;
	if (sink_fd >= 0)
		close(sink_fd);
	sink_fd = fd;
	sink_path = path;
	sink = SINK_FILE;
	return 0;
}

int
log_reopen(void)
{
	int fd;

	if (sink != SINK_FILE)
		return 0;
	/* open first: when that fails, the old file is better than none */
	if ((fd = open_append(sink_path)) < 0)
		return -1;
	close(sink_fd);
	sink_fd = fd;
	return 0;
}

void
log_open_syslog(void)
{
	/* LOG_NDELAY: connect now, while /dev/log is still reachable */
	openlog("tftpx", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	sink = SINK_SYSLOG;
}

/* Write all of buf to fd; a short write to a full disk loses the rest. */
static void
write_all(int fd, const char *buf, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, buf, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		n -= (size_t)w;
	}
}

static void vline(const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
vline(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];
	int n, m;

	n = snprintf(buf, sizeof(buf), "%s", prefix);
	if (n < 0 || (size_t)n >= sizeof(buf) - 1)
		n = 0;
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* one write per line, so lines of concurrent writers stay whole */
	write_all(2, buf, (size_t)n);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline("tftpx: ", fmt, ap);
	va_end(ap);
}

void
log_notice(const char *fmt, ...)
{
	va_list ap;

	if (level < LOG_NORMAL)
		return;
	va_start(ap, fmt);
	vline("tftpx: ", fmt, ap);
	va_end(ap);
}

/* "2026-11-27T12:54:14.305Z" */
static void
stamp(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/*
 * Hand one event to the sink.  line is the whole line with its time
 * stamp; body is the part syslog gets (it stamps lines itself).
 */
static void
sink_put(int l, const char *line, size_t n, const char *body)
{
	int prio;

	switch (sink) {
	case SINK_SYSLOG:
		/* failures and refusals are worth a look; the rest is info */
		prio = l <= LOG_QUIET ? LOG_WARNING : l == LOG_NORMAL ?
		    LOG_INFO : LOG_DEBUG;
		syslog(prio, "%s", body);
		break;
	case SINK_FILE:
		write_all(sink_fd, line, n);
		break;
	case SINK_STDERR:
		write_all(2, line, n);
		break;
	}
}

/* ---- JSON records ---------------------------------------------------- */

/* Room kept for ,"truncated":true}} and the newline. */
#define REC_RESERVE	40

static int
rec_room(struct log_rec *r, size_t need)
{
	if (r->len + need + REC_RESERVE + (size_t)r->depth >= sizeof(r->buf)) {
		r->trunc = 1;
		return 0;
	}
	return 1;
}

static void
rec_raw(struct log_rec *r, const char *s, size_t n)
{
	memcpy(r->buf + r->len, s, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

/* ,"key": -- the caller has checked the room for key */
static void
rec_key(struct log_rec *r, const char *key)
{
	if (!r->first)
		rec_raw(r, ",", 1);
	r->first = 0;
	rec_raw(r, "\"", 1);
	rec_raw(r, key, strlen(key));
	rec_raw(r, "\":", 2);
}

/*
 * Length of the valid UTF-8 sequence at s (RFC 3629, Unicode table 3-7:
 * no overlong forms, no surrogates, nothing above U+10FFFF), or 0 when
 * it is not one, with *bad the bytes to replace by one U+FFFD: the
 * longest start of a valid sequence, at least 1 (Unicode's "maximal
 * subpart" practice, which Python and browsers follow).
 */
static size_t
utf8_len(const unsigned char *s, size_t *bad)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	*bad = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;		/* overlong */
	else if (c == 0xed)
		hi = 0x9f;		/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;		/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;		/* above U+10FFFF */
	/* a NUL ends the string and fails these tests too */
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*bad = i;
			return 0;
		}
	}
	return n;
}

/* Longest input taken into one string value, in bytes. */
#define REC_STR_MAX	1024

int
log_rec_str(struct log_rec *r, const char *key, const char *val)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)val;
	char esc[8];
	size_t n, i, skip, mark = r->len;
	int bad = 0, first = r->first;

	if (!rec_room(r, strlen(key) + 6))
		return 0;
	rec_key(r, key);
	rec_raw(r, "\"", 1);
	for (i = 0; s[i] != '\0'; i += n) {
		if (i >= REC_STR_MAX) {
			r->trunc = 1;
			break;
		}
		n = utf8_len(s + i, &skip);
		if (n == 0) {
			/* not UTF-8: JSON strings cannot carry the bytes */
			bad = 1;
			n = skip;
			if (!rec_room(r, 6))
				goto toolong;
			rec_raw(r, "\\ufffd", 6);
		} else if (n == 1 && (s[i] < 0x20 || s[i] == 0x7f)) {
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[s[i] >> 4];
			esc[5] = hex[s[i] & 15];
			if (!rec_room(r, 6))
				goto toolong;
			rec_raw(r, esc, 6);
		} else if (n == 1 && (s[i] == '"' || s[i] == '\\')) {
			esc[0] = '\\';
			esc[1] = (char)s[i];
			if (!rec_room(r, 2))
				goto toolong;
			rec_raw(r, esc, 2);
		} else {
			if (!rec_room(r, n))
				goto toolong;
			rec_raw(r, (const char *)s + i, n);
		}
	}
	rec_raw(r, "\"", 1);
	return bad;
toolong:
	/* drop the whole field rather than leave half a string */
	r->len = mark;
	r->buf[mark] = '\0';
	r->first = first;
	return 0;
}

void
log_rec_hex(struct log_rec *r, const char *key, const char *val)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)val;
	size_t i, n = strnlen(val, REC_STR_MAX + 1);
	char two[2];

	if (n > REC_STR_MAX) {
		n = REC_STR_MAX;
		r->trunc = 1;
	}

	if (!rec_room(r, strlen(key) + 4 + 2 * n))
		return;
	rec_key(r, key);
	rec_raw(r, "\"", 1);
	for (i = 0; i < n; i++) {
		two[0] = hex[s[i] >> 4];
		two[1] = hex[s[i] & 15];
		rec_raw(r, two, 2);
	}
	rec_raw(r, "\"", 1);
}

/* A value already in JSON form (number, true, {). */
static void
rec_plain(struct log_rec *r, const char *key, const char *val)
{
	size_t n = strlen(val);

	if (!rec_room(r, strlen(key) + 4 + n))
		return;
	rec_key(r, key);
	rec_raw(r, val, n);
}

void
log_rec_u64(struct log_rec *r, const char *key, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
	rec_plain(r, key, num);
}

void
log_rec_int(struct log_rec *r, const char *key, long v)
{
	char num[24];

	snprintf(num, sizeof(num), "%ld", v);
	rec_plain(r, key, num);
}

void
log_rec_num(struct log_rec *r, const char *key, double v, int prec)
{
	char num[64];

	/* JSON has no NaN or infinity */
	if (v != v || v > 1e300 || v < -1e300)
		v = 0;
	snprintf(num, sizeof(num), "%.*f", prec, v);
	rec_plain(r, key, num);
}

void
log_rec_bool(struct log_rec *r, const char *key, int v)
{
	rec_plain(r, key, v ? "true" : "false");
}

void
log_rec_open(struct log_rec *r, const char *key)
{
	/* the closing brace is room kept by rec_room() via depth */
	if (!rec_room(r, strlen(key) + 5))
		return;
	rec_key(r, key);
	rec_raw(r, "{", 1);
	r->first = 1;
	r->depth++;
}

void
log_rec_close(struct log_rec *r)
{
	if (r->depth == 0)
		return;
	rec_raw(r, "}", 1);
	r->depth--;
	r->first = 0;
}

void
log_rec_begin(struct log_rec *r, const char *event)
{
	char ts[128];

	r->len = 0;
	r->first = 1;
	r->depth = 0;
	r->trunc = 0;
	r->buf[0] = '\0';
	rec_raw(r, "{", 1);
	stamp(ts, sizeof(ts));
	log_rec_str(r, "ts", ts);
	log_rec_str(r, "event", event);
}

/* Close r and terminate it with a newline; r->buf is then the line. */
static void
rec_end(struct log_rec *r)
{
	while (r->depth > 0)
		log_rec_close(r);
	if (r->trunc)
		rec_raw(r, r->first ? "\"truncated\":true" :
		    ",\"truncated\":true", r->first ? 16 : 17);
	rec_raw(r, "}\n", 2);
}

/* ---- events ---------------------------------------------------------- */

static void vevent(int l, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* A text event line: "<stamp> <text>\n". */
static void
vevent(int l, const char *fmt, va_list ap)
{
	char buf[8192];
	size_t n, b;
	int m;

	stamp(buf, sizeof(buf));
	n = strlen(buf);
	buf[n++] = ' ';
	b = n;
	m = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n] = '\0';
	if (sink == SINK_SYSLOG) {
		sink_put(l, buf, n, buf + b);
		return;
	}
	buf[n++] = '\n';
	sink_put(l, buf, n, buf + b);
}

void
log_event(int l, const char *fmt, ...)
{
	struct log_rec r;
	char text[1024];
	va_list ap;

	if (level < l)
		return;
	va_start(ap, fmt);
	if (format == LOG_FMT_JSON) {
		/* a free-form line still has to be an object in a JSON log */
		vsnprintf(text, sizeof(text), fmt, ap);
		log_rec_begin(&r, "message");
		log_rec_str(&r, "text", text);
		rec_end(&r);
		sink_put(l, r.buf, r.len, r.buf);
	} else {
		vevent(l, fmt, ap);
	}
	va_end(ap);
}

void
log_emit(int l, struct log_rec *r, const char *fmt, ...)
{
	va_list ap;

	if (level < l)
		return;
	if (format == LOG_FMT_JSON && r != NULL) {
		rec_end(r);
		if (sink == SINK_SYSLOG)
			r->buf[--r->len] = '\0';	/* no newline */
		sink_put(l, r->buf, r->len, r->buf);
		return;
	}
	va_start(ap, fmt);
	vevent(l, fmt, ap);
	va_end(ap);
}

const char *
log_safe(const char *s, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	unsigned char c;

	if (cap == 0)
		return buf;
	for (; *s && o + 5 < cap; s++) {
		c = (unsigned char)*s;
		if (c < 0x20 || c >= 0x7f || c == '\\' || c == '"') {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
	return buf;
}

void
log_append(char *buf, size_t cap, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
}
