/* log.c - levelled logfmt lines to stderr or a file (see log.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

enum log_level log_current_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;
static bool log_journal;       /* stderr is journald's: priority prefixes */
static char log_path[256];     /* the open file's name, "" = stderr; for log_reopen() */
static bool log_echo;          /* error lines to a file go to stderr too (start-up) */

static const char *const log_level_names[] = { "error", "warn", "info", "debug" };

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof log_level_names / sizeof log_level_names[0]; i++) {
		if (strcmp(name, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

int log_open(enum log_level level, const char *path)
{
	int fd = STDERR_FILENO;

	/* systemd sets it when stderr is a journal stream */
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	if (path && *path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0)
			return -1;
	}
	log_close();
	log_fd = fd;
	log_current_level = level;
	snprintf(log_path, sizeof log_path, "%s", path ? path : "");
	return 0;
}

int log_check(const char *path)
{
	char dir[sizeof log_path];

	if (!path || !*path)
		return 0;
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT)
		return -1;
	/* Not there yet: log_open() creates it, if its directory lets it. */
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	return access(dir, W_OK | X_OK);
}

void log_echo_errors(bool on)
{
	log_echo = on;
}

int log_reopen(void)
{
	char path[sizeof log_path];

	memcpy(path, log_path, sizeof path); /* log_open() rewrites log_path */
	return log_open(log_current_level, path);
}

void log_close(void)
{
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
}

/* Appends the <len> bytes of <value> to <line> quoted, '"' and '\\'
 * escaped, control bytes as \u00 and two hex digits in JSON, \x and two
 * in logfmt.  Returns the new length. */
static size_t log_put_quoted(char *line, size_t n, size_t cap, const char *value, size_t len,
			     bool json)
{
	static const char hex[] = "0123456789abcdef";

	line[n++] = '"';
	const unsigned char *p = (const unsigned char *)value, *end = p + len;

	for (; p < end && n + 8 < cap; p++) {
		if (*p == '"' || *p == '\\') {
			line[n++] = '\\';
			line[n++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			n += (size_t)snprintf(line + n, cap - n, json ? "\\u00%c%c" : "\\x%c%c",
					      hex[*p >> 4], hex[*p & 15]);
		} else {
			line[n++] = (char)*p;
		}
	}
	line[n++] = '"';
	return n;
}

/* msg="..." of <text> (up to a tab), quoted as log_put_quoted() does,
 * then what follows the tab as fields.  Returns the new length of <line>. */
static size_t log_put_message(char *line, size_t n, size_t cap, const char *text)
{
	const char *fields = strchr(text, '\t');
	size_t len = fields ? (size_t)(fields - text) : strlen(text);

	n += (size_t)snprintf(line + n, cap - n, "msg=");
	n = log_put_quoted(line, n, cap, text, len, false);
	if (fields && n < cap - 1)
		n += (size_t)snprintf(line + n, cap - n, " %s", fields + 1);
	return n < cap ? n : cap - 1;
}

/* One line, <head> then <body>, in one write: appends from two
 * processes never interleave.  A line that cannot be written has nowhere
 * better to go. */
static void log_put(int fd, const char *head, size_t head_len, const char *body, size_t len)
{
	struct iovec iov[2] = { { (void *)head, head_len }, { (void *)body, len } };

	(void)!writev(fd, iov, 2);
}

/* "2026-12-07T04:19:27.123Z" into <out>; returns its length. */
static size_t log_time(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", gmtime_r(&ts.tv_sec, &tm));
	return n + (size_t)snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Writes <line> (<n> bytes, its newline included) of <level>: in a file
 * after time= when <timed> (a JSON line carries its own), on stderr after
 * journald's priority when it is the journal's.  During start-up an error
 * line goes to both. */
static void log_emit(enum log_level level, const char *line, size_t n, bool timed)
{
	static const char priority[] = { '3', '4', '6', '7' };
	char head[40];
	int saved_errno = errno;

	if (log_fd != STDERR_FILENO) {
		size_t h = 0;
		if (timed) {
			h = (size_t)snprintf(head, sizeof head, "time=");
			h += log_time(head + h, sizeof head - h);
			head[h++] = ' ';
		}
		log_put(log_fd, head, h, line, n);
	}
	if (log_fd == STDERR_FILENO || (log_echo && level == LOG_LEVEL_ERROR)) {
		size_t h = log_journal ? (size_t)snprintf(head, sizeof head, "<%c>", priority[level]) : 0;
		log_put(STDERR_FILENO, head, h, line, n);
	}
	errno = saved_errno;
}

/* The line of <level> and the formatted message, plus <extra> fields. */
static void log_vwrite(enum log_level level, const char *extra, const char *fmt, va_list ap)
{
	char text[960], line[1280];
	size_t n;

	n = (size_t)snprintf(line, sizeof line, "level=%s ", log_level_names[level]);
	if (vsnprintf(text, sizeof text, fmt, ap) < 0)
		text[0] = '\0';
	n = log_put_message(line, n, sizeof line - 1, text);
	if (extra)
		n += (size_t)snprintf(line + n, sizeof line - 1 - n, " %s", extra);
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	log_emit(level, line, n, true);
}

/* --- access lines ----------------------------------------------------------- */

enum log_access log_access_format = LOG_ACCESS_OFF;

static const char *const log_access_names[] = { "off", "logfmt", "json" };

int log_access_parse(const char *name, enum log_access *out)
{
	for (size_t i = 0; i < sizeof log_access_names / sizeof log_access_names[0]; i++) {
		if (strcmp(name, log_access_names[i]) == 0) {
			*out = (enum log_access)i;
			return 0;
		}
	}
	return -1;
}

void log_set_access(enum log_access format)
{
	log_access_format = format;
}

/* Whether a logfmt value can go without quotes. */
static bool log_bare(const char *value)
{
	if (!*value)
		return false;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p >= 0x7f)
			return false;
	}
	return true;
}

void log_access(const char *msg, const struct log_pair *pairs, size_t n_pairs)
{
	bool json = log_access_format == LOG_ACCESS_JSON;
	char line[1024];
	size_t n = 0, cap = sizeof line - 2;

	if (log_access_format == LOG_ACCESS_OFF)
		return;
	if (json) {
		n += (size_t)snprintf(line, cap, "{\"time\":\"");
		n += log_time(line + n, cap - n);
		n += (size_t)snprintf(line + n, cap - n, "\",\"level\":\"info\",\"msg\":");
	} else {
		n += (size_t)snprintf(line, cap, "level=info msg=");
	}
	n = log_put_quoted(line, n, cap, msg, strlen(msg), json);
	for (size_t i = 0; i < n_pairs && n + 32 < cap; i++) {
		const struct log_pair *p = &pairs[i];
		n += (size_t)snprintf(line + n, cap - n, json ? ",\"%s\":" : " %s=", p->key);
		if (p->number || (!json && log_bare(p->value)))
			n += (size_t)snprintf(line + n, cap - n, "%s", p->value);
		else
			n = log_put_quoted(line, n, cap, p->value, strlen(p->value), json);
		if (n >= cap)
			n = cap - 1;
	}
	if (json)
		line[n++] = '}';
	line[n++] = '\n';
	log_emit(LOG_LEVEL_INFO, line, n, !json);
}

void log_write(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_current_level)
		return;
	va_start(ap, fmt);
	log_vwrite(level, NULL, fmt, ap);
	va_end(ap);
}

void log_write_limited(struct log_limit *lim, enum log_level level, const char *fmt, ...)
{
	struct timespec ts;
	char extra[40] = "";
	va_list ap;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec != lim->second) {
		lim->second = ts.tv_sec;
		lim->n = 0;
	}
	if (lim->n >= LOG_LIMIT_PER_S) {
		lim->suppressed++;
		return;
	}
	lim->n++;
	if (lim->suppressed)
		snprintf(extra, sizeof extra, "suppressed=%lu", lim->suppressed);
	lim->suppressed = 0;
	va_start(ap, fmt);
	log_vwrite(level, extra[0] ? extra : NULL, fmt, ap);
	va_end(ap);
}

/* log_escape() and log_field(): <also> is escaped as well as what is not
 * printable and '\\'. */
static char *log_escape_with(char *out, size_t out_len, const void *data, size_t len, size_t max,
			     char also)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	size_t o = 0;

	if (out_len == 0)
		return out;
	for (size_t i = 0; i < len && i < max; i++) {
		unsigned char ch = p[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != (unsigned char)also) {
			if (o + 1 >= out_len)
				break;
			out[o++] = (char)ch;
		} else {
			if (o + 4 >= out_len)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return out;
}

char *log_escape(char *out, size_t out_len, const void *data, size_t len, size_t max)
{
	return log_escape_with(out, out_len, data, len, max, '\\');
}

char *log_field(char *out, size_t out_len, const void *data, size_t len, size_t max)
{
	return log_escape_with(out, out_len, data, len, max, '"');
}
