/* log.h - levelled log lines, one per event, to stderr (journald) or a file.
 *
 * A line is "LEVEL message" on stderr (journald adds the time) and
 * "YYYY-mm-ddTHH:MM:SS LEVEL message" in a file.  Lines above the configured
 * level cost one comparison.  Writes are unbuffered appends: a crash never
 * loses the line that explains it.
 */
#ifndef ROOMCAST_LOG_H
#define ROOMCAST_LOG_H

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
void log_close(void);

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

/* Writes at most <max> bytes of <data> into <out> (size <out_len>) with
 * non-printable bytes as \xNN, for quoting client input in a log line.
 * Returns <out>. */
char *log_escape(char *out, size_t out_len, const void *data, size_t len, size_t max);

#endif
