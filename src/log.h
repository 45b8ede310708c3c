/*
 * log.h - lines for a person, events for a machine.
 *
 * Levels: LOG_QUIET shows only errors, LOG_NORMAL adds one line per
 * transfer and start-up, LOG_VERBOSE adds per-request detail.
 *
 * "tftpx: ..." lines (start-up, fatal errors) always go to stderr: the
 * person or script that started the server reads them there.  Transfer
 * events (start, end, refusal, duplicate) go to the event sink: stderr
 * (default), a file (--log-file, reopened by log_reopen() on SIGHUP) or
 * syslog (--syslog), as a text line or one JSON object per line.
 */
#ifndef TFTPX_LOG_H
#define TFTPX_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_QUIET = 0,
	LOG_NORMAL = 1,
	LOG_VERBOSE = 2,
};

enum log_format {
	LOG_FMT_TEXT = 0,
	LOG_FMT_JSON = 1,
};

void	log_set_level(int level);
int	log_level(void);

/* "text" or "json"; -1 for anything else. */
int	log_set_format(const char *name);
int	log_format(void);

/*
 * Send events to path (opened O_APPEND, created 0640).  Returns 0, or -1
 * with errno; the sink is unchanged on failure.
 */
int	log_open_file(const char *path);
/*
 * Open the --log-file path again (logrotate renamed it).  Returns 0, or
 * -1 with errno, and then keeps writing to the old file.
 */
int	log_reopen(void);
/* Send events to syslog(3): facility LOG_DAEMON, ident "tftpx". */
void	log_open_syslog(void);

/* Append printf-style text to the NUL-terminated buf of cap bytes. */
void	log_append(char *buf, size_t cap, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* "tftpx: ..." lines (start-up, fatal errors); printed at any level. */
void	log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tftpx: ..." at LOG_NORMAL and above. */
void	log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A timestamped text event line; level LOG_QUIET prints at any level. */
void	log_event(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * One event as a JSON object, built field by field.  A field that does
 * not fit is left out and "truncated":true is added, so the object is
 * always valid JSON.
 */
#define LOG_REC_MAX	8192

struct log_rec {
	char	buf[LOG_REC_MAX];
	size_t	len;
	int	first;		/* no field yet at this depth */
	int	depth;		/* open nested objects */
	int	trunc;
};

/* {"ts":"...","event":"<event>" */
void	log_rec_begin(struct log_rec *r, const char *event);
/*
 * A string field.  Valid UTF-8 is kept, control characters, quote and
 * backslash are escaped; a byte that is not UTF-8 becomes U+FFFD and
 * the return is 1 (else 0), so the caller can add the exact bytes with
 * log_rec_hex().
 */
int	log_rec_str(struct log_rec *r, const char *key, const char *val);
void	log_rec_hex(struct log_rec *r, const char *key, const char *val);
void	log_rec_u64(struct log_rec *r, const char *key, uint64_t v);
void	log_rec_int(struct log_rec *r, const char *key, long v);
/* A number with prec decimals, e.g. 0.004 */
void	log_rec_num(struct log_rec *r, const char *key, double v, int prec);
void	log_rec_bool(struct log_rec *r, const char *key, int v);
/* "key":{ ... } */
void	log_rec_open(struct log_rec *r, const char *key);
void	log_rec_close(struct log_rec *r);

/*
 * Emit one event at level: with --log-format json the record r (closed
 * here), else the text line fmt.  r may be NULL in text format only
 * when the caller skipped building it (log_format() is text).
 */
void	log_emit(int level, struct log_rec *r, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/*
 * Copy s into buf (cap bytes) with control characters, backslash, quote
 * and bytes >= 0x7f escaped as \xNN, so a hostile filename cannot forge
 * log lines or move the terminal.  Returns buf.
 */
const char *log_safe(const char *s, char *buf, size_t cap);

#endif
