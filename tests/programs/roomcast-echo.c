/* roomcast-echo.c - roomcastd's server and engine with an echo application.
 *
 * For the integration tests of the Engine.IO layer before Socket.IO
 * exists: every message a client sends comes straight back to it, text as
 * text and binary as binary.  Same command line as roomcastd (-c FILE);
 * the daemon itself has no test-only behaviour.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "engine.h"
#include "log.h"

static void echo_message(struct engine_session *s, void *ctx, bool binary, uint8_t *data, size_t len)
{
	(void)engine_send(s, binary, data, len);
}

static const struct engine_callbacks echo_callbacks = {
	.on_message = echo_message,
};

int main(int argc, char **argv)
{
	static struct config cfg;
	char err[CONFIG_ERR_LEN];
	const char *path = "conf/roomcast.conf";
	int opt;

	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c') {
			fprintf(stderr, "usage: roomcast-echo [-c FILE]\n");
			return 1;
		}
		path = optarg;
	}
	if (config_load(&cfg, path, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (log_open(cfg.log_level, cfg.log_file) < 0) {
		fprintf(stderr, "log_file %s: %s\n", cfg.log_file, strerror(errno));
		return 1;
	}
	static const struct daemon_app echo = { .callbacks = &echo_callbacks };
	return daemon_run(&cfg, path, &echo);
}
