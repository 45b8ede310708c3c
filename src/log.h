/*
 * log.h - lines for a person on stderr.
 *
 * Levels: LOG_QUIET shows only errors, LOG_NORMAL adds one line per
 * transfer and start-up, LOG_VERBOSE adds per-request detail.
 */
#ifndef TFTPX_LOG_H
#define TFTPX_LOG_H

#include <stddef.h>

enum log_level {
	LOG_QUIET = 0,
	LOG_NORMAL = 1,
	LOG_VERBOSE = 2,
};

void	log_set_level(int level);
int	log_level(void);

/* "tftpx: ..." lines (start-up, fatal errors); printed at any level. */
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tftpx: ..." at LOG_NORMAL and above. */
void	log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Timestamped event lines; log_event_err prints even at LOG_QUIET. */
void	log_event(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * Copy s into buf (cap bytes) with control characters, backslash, quote
 * and bytes >= 0x7f escaped as \xNN, so a hostile filename cannot forge
 * log lines or move the terminal.  Returns buf.
 */
const char *log_safe(const char *s, char *buf, size_t cap);

#endif
