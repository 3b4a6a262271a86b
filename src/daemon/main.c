/* main.c - roomcastd's command line: pick the config, check it or run it.
 *
 * roomcastd [-c FILE] [-t | -T] [--version] [-h].  Everything else lives in
 * daemon.c, and the application it runs, Socket.IO, in app.c (which
 * starts nsp.c and, in a cluster, cluster.c and the rest).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "route.h"
#include "version.h"

static void main_usage(FILE *out)
{
	fprintf(out,
		"usage: roomcastd [-c FILE] [-t | -T] [--version] [-h]\n"
		"  -c, --config FILE  configuration file (default " CONFIG_DEFAULT_PATH ")\n"
		"  -t, --test         check the configuration and the files it names, and exit\n"
		"  -T, --dump         check, then print the configuration with every default\n"
		"      --version      print the version and exit\n"
		"  -h, --help         print this help and exit\n");
}

/* -t and -T: what start-up would refuse, checked without starting (the
 * key files are read by auth_init() already): the cluster secret and the
 * log file; then -T prints the configuration.  Returns the exit status. */
static int main_check(const struct config *cfg, const char *path, bool dump)
{
	char err[CONFIG_ERR_LEN];

	if (route_check(cfg) < 0)
		return 1; /* logged, to stderr */
	if (log_check(cfg->log_file) < 0) {
		fprintf(stderr, "%s: log_file %s: %s\n", path, cfg->log_file, strerror(errno));
		return 1;
	}
	if (dump && config_dump(path, stdout, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* -T's output is a config file: the verdict goes to stderr then */
	fprintf(dump ? stderr : stdout, "%s: ok\n", path);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "dump", no_argument, NULL, 'T' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = CONFIG_DEFAULT_PATH;
	bool check_only = false, dump = false;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:tTh", options, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 't': check_only = true; break;
		case 'T': check_only = dump = true; break;
		case 'V': printf("roomcastd %s\n", ROOMCAST_VERSION); return 0;
		case 'h': main_usage(stdout); return 0;
		default: main_usage(stderr); return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "roomcastd: unexpected argument '%s' (a file goes after -c)\n",
			argv[optind]);
		main_usage(stderr);
		return 1;
	}
	static struct config cfg;
	char err[CONFIG_ERR_LEN];
	if (config_load(&cfg, path, err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* Key files are read here, so that -t checks them too. */
	if (auth_init(&cfg, err, sizeof err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		return 1;
	}
	if (check_only) {
		int status = main_check(&cfg, path, dump);
		auth_cleanup();
		return status;
	}
	if (log_open(cfg.log_level, cfg.log_file) < 0) {
		fprintf(stderr, "%s: log_file %s: %s\n", path, cfg.log_file, strerror(errno));
		return 1;
	}
	log_set_access(cfg.access_log);
	/* until daemon_run() is ready: a failed start shows in the journal */
	log_echo_errors(true);
	int status = daemon_run(&cfg, path, &app_socketio);
	log_close();
	return status;
}
