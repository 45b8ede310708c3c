/*
 * log.c - human log lines on stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

static int level = LOG_NORMAL;

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

static void vline(const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
vline(const char *prefix, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* one write per line, so lines of concurrent writers stay whole */
	fprintf(stderr, "%s%s\n", prefix, buf);
	fflush(stderr);
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

void
log_event(int l, const char *fmt, ...)
{
	struct timespec ts;
	struct tm tm;
	char stamp[64];
	va_list ap;

	if (level < l)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vline(stamp, fmt, ap);
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
