/* config.h - roomcastd's configuration: the values, their defaults, the parser.
 *
 * The syntax is `key value...` lines, `#` comments, sizes with units
 * (`64K`, `1M` = 1,048,576) and durations with units (`500ms`, `25s`, `2m`).
 * Every error is reported as `FILE:LINE: message` in the caller's buffer; the
 * parser never prints, never exits and never touches the network (a listen
 * address must be a numeric IPv4 or IPv6 literal).  man/roomcast.conf.5 is
 * the reference for every key.
 */
#ifndef ROOMCAST_CONFIG_H
#define ROOMCAST_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "log.h"

#define CONFIG_DEFAULT_PATH "/etc/roomcast/roomcast.conf"
#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_CORS_ORIGINS 16
#define CONFIG_MAX_ORIGIN_LEN 256
#define CONFIG_MAX_URL_PATH 256
#define CONFIG_ERR_LEN 512

/* Engine.IO transports, as a bit set in config.transports. */
#define CONFIG_TRANSPORT_POLLING 0x1u
#define CONFIG_TRANSPORT_WEBSOCKET 0x2u

struct config_listen {
	struct sockaddr_storage addr; /* numeric address and port, ready for bind() */
	socklen_t addr_len;
	char text[80];                /* as written in the file, for log lines */
	int line;                     /* where it was declared */
};

struct config {
	struct config_listen listen[CONFIG_MAX_LISTEN];
	size_t n_listen;                 /* 1..CONFIG_MAX_LISTEN: no listen line keeps the default 127.0.0.1:3000 */
	char path[CONFIG_MAX_URL_PATH];  /* Engine.IO path, starts and ends with '/' */
	unsigned transports;             /* CONFIG_TRANSPORT_* bits, never 0 */
	bool allow_upgrades;             /* polling sessions may upgrade to WebSocket */
	uint32_t ping_interval_ms;
	uint32_t ping_timeout_ms;
	uint32_t upgrade_timeout_ms;
	size_t max_payload;              /* bytes: POST body, WebSocket message */
	uint32_t max_connections;        /* open TCP connections, listeners excluded */
	size_t max_header_size;          /* bytes of one HTTP request head */
	size_t max_output_buffer;        /* bytes queued for one client before it is cut off */
	uint32_t keepalive_timeout_ms;   /* idle HTTP connection, or a request head in progress */
	bool cors_any;                   /* cors_origin * */
	size_t n_cors_origins;           /* cors_origin list; 0 and !cors_any = CORS off */
	char cors_origins[CONFIG_MAX_CORS_ORIGINS][CONFIG_MAX_ORIGIN_LEN];
	enum log_level log_level;
	char log_file[256];              /* "" = stderr (journald) */
};

/* Fills <cfg> with the defaults (the reference server's where it has one). */
void config_defaults(struct config *cfg);

/* Parses <text> (<len> bytes, need not be NUL-terminated) on top of the
 * values already in <cfg>: a key in <text> replaces its value, and the first
 * line of a repeatable key (listen) replaces its list, later lines add.
 * <filename> names the source in error messages.  Returns 0, or -1 with
 * "FILE:LINE: message" in <err> (<cfg> then holds a partial result the
 * caller must not use). */
int config_parse(struct config *cfg, const char *text, size_t len,
		 const char *filename, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* Sets the defaults, then reads and parses the file at <path>.  Returns 0,
 * or -1 with "FILE:LINE: message" (or "FILE: strerror") in <err>. */
int config_load(struct config *cfg, const char *path, char *err, size_t err_len)
	__attribute__((warn_unused_result));

#endif
