/* log.c - levelled log lines to stderr or a file (see log.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum log_level log_current_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;

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

	if (path && *path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0)
			return -1;
	}
	log_close();
	log_fd = fd;
	log_current_level = level;
	return 0;
}

void log_close(void)
{
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
}

void log_write(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	size_t n = 0;
	va_list ap;
	int saved_errno = errno;

	if (level > log_current_level)
		return;
	if (log_fd != STDERR_FILENO) {
		time_t now = time(NULL);
		struct tm tm;
		n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S ", gmtime_r(&now, &tm));
	}
	n += (size_t)snprintf(line + n, sizeof line - n, "%s ", log_level_names[level]);
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += (size_t)m;
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* A log line that cannot be written has nowhere better to go. */
	(void)!write(log_fd, line, n);
	errno = saved_errno;
}

char *log_escape(char *out, size_t out_len, const void *data, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	size_t o = 0;

	if (out_len == 0)
		return out;
	for (size_t i = 0; i < len && i < max; i++) {
		unsigned char ch = p[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
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
