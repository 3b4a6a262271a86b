/* log.h - levelled log lines, one per event, to stderr (journald) or a file.
 *
 * A line is logfmt: in a file `time=2026-12-07T04:19:27.123Z level=info
 * msg="..."`; on stderr the same without the time (journald adds it), and
 * under journald (JOURNAL_STREAM set) with the syslog priority prefix
 * (<3> error ... <7> debug) so that journalctl -p filters it.  A message
 * may carry fields: the text after its first tab is written after msg
 * as it is (`sid=... peer=...`).  Lines above the configured level cost
 * one comparison.  Writes are unbuffered appends: a crash never loses the
 * line that explains it.  Lines a client can cause go through
 * log_limited(): at most LOG_LIMIT_PER_S a second from one call site, the
 * rest counted and reported as suppressed=N on the next one.
 */
#ifndef ROOMCAST_LOG_H
#define ROOMCAST_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Parses "error", "warn", "info" or "debug".  Returns 0, or -1 if unknown. */
int log_level_parse(const char *name, enum log_level *out);

/* Sets the level and the destination: <path> NULL or "" means stderr.
 * Returns 0, or -1 (errno set) if the file cannot be opened for append; the
 * previous destination is then kept. */
int log_open(enum log_level level, const char *path);
/* Opens the current destination's file again (logrotate moved it away), at
 * the same level.  Returns 0, or -1 (errno set) with the old file kept. */
int log_reopen(void);
void log_close(void);

/* Whether log_open() could open <path> (NULL or "" is stderr: yes), without
 * creating it: an existing file must open for append, a new one's
 * directory let it be made.  Returns 0, or -1 with errno set (roomcastd -t). */
int log_check(const char *path);

/* While on, an error line written to a log file is written to stderr too:
 * a daemon that fails to start says why in the journal, not only in its
 * file.  Off by default; main.c turns it on until the daemon is ready. */
void log_echo_errors(bool on);

extern enum log_level log_current_level;

void log_write(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) \
	do { if (log_current_level >= LOG_LEVEL_WARN) log_write(LOG_LEVEL_WARN, __VA_ARGS__); } while (0)
#define log_info(...) \
	do { if (log_current_level >= LOG_LEVEL_INFO) log_write(LOG_LEVEL_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) \
	do { if (log_current_level >= LOG_LEVEL_DEBUG) log_write(LOG_LEVEL_DEBUG, __VA_ARGS__); } while (0)

/* Access lines (access_log): one per Engine.IO session opened and one per
 * session closed, whatever log_level says, to the same destination.
 * logfmt: `[time=...] level=info msg="session opened" sid=... peer=...`;
 * json: `{"time":"...","level":"info","msg":"session opened","sid":...}`,
 * the time always in it. */
enum log_access {
	LOG_ACCESS_OFF = 0,
	LOG_ACCESS_LOGFMT,
	LOG_ACCESS_JSON,
};

extern enum log_access log_access_format;

/* Parses "off", "logfmt" or "json".  Returns 0, or -1 if unknown. */
int log_access_parse(const char *name, enum log_access *out);
void log_set_access(enum log_access format);

/* A field of an access line: <number> values are written as they are
 * (JSON numbers), the others quoted where the format needs it. */
struct log_pair {
	const char *key;
	const char *value;
	bool number;
};

/* Writes the access line <msg> with <pairs>, unless access_log is off. */
void log_access(const char *msg, const struct log_pair *pairs, size_t n_pairs);

/* The budget of one call site of log_limited(). */
struct log_limit {
	long long second;              /* CLOCK_MONOTONIC second of the last line */
	unsigned n;                    /* lines written in it */
	unsigned long suppressed;      /* not written since the last line */
};

#define LOG_LIMIT_PER_S 10

void log_write_limited(struct log_limit *lim, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A line a client (or an attacker) can cause once per request. */
#define log_limited(level, ...)                                                   \
	do {                                                                      \
		static struct log_limit log_limit_;                               \
		if (log_current_level >= (level))                                 \
			log_write_limited(&log_limit_, (level), __VA_ARGS__);     \
	} while (0)

/* Writes at most <max> bytes of <data> into <out> (size <out_len>) with
 * non-printable bytes and '\\' as \xNN, for quoting input in a message.
 * Returns <out>.  log_field() also escapes '"', for a field's quotes. */
char *log_escape(char *out, size_t out_len, const void *data, size_t len, size_t max);
char *log_field(char *out, size_t out_len, const void *data, size_t len, size_t max);

#endif
