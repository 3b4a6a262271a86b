/* daemon.c - event loop, routing, signals and shutdown (see daemon.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "engine.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

/* How long a stopping daemon waits for clients to take their last bytes. */
#define DAEMON_DRAIN_MS 3000

static struct {
	struct event_base *base;
	const struct config *cfg;
	const struct daemon_app *app;
	volatile sig_atomic_t stopping;
	struct event *sigterm, *sigint;
	int stop_signal;
} daemon_state;

static bool daemon_path_is(const struct http_request *req, const char *path)
{
	size_t len = strlen(path);
	return req->path_len == len && memcmp(req->path, path, len) == 0;
}

static bool daemon_under_engine_path(const struct http_request *req)
{
	const char *p = daemon_state.cfg->path;
	size_t len = strlen(p);

	/* The reference server matches on the prefix, trailing '/' included. */
	return req->path_len >= len && memcmp(req->path, p, len) == 0;
}

/* 200 while the daemon serves its clients; the application may add a
 * line of its own state (Redis, which local clients do not depend on). */
static void daemon_health(struct http_conn *hc)
{
	const char *extra = daemon_state.app->health ? daemon_state.app->health() : NULL;
	char text[128];
	int n = snprintf(text, sizeof text, "ok\n%s%s", extra ? extra : "", extra ? "\n" : "");

	http_respond(hc, 200, "text/plain", NULL, text, (size_t)n);
}

static void daemon_on_request(struct http_conn *hc, struct http_request *req)
{
	static char text[32768];

	if (daemon_under_engine_path(req)) {
		engine_handle_request(hc, req);
	} else if (daemon_path_is(req, "/healthz")) {
		daemon_health(hc);
	} else if (daemon_path_is(req, "/metrics")) {
		size_t len = metrics_render(text, sizeof text);
		http_respond(hc, len ? 200 : 500, "text/plain; version=0.0.4", NULL, text, len);
	} else {
		http_respond(hc, 404, "text/plain", NULL, "not found\n", 10);
	}
}

static void daemon_on_head(struct http_conn *hc, struct http_request *req)
{
	/* Only polling POSTs under the engine path take a body; every other
	 * request is answered from its head, its body left unread. */
	if (daemon_under_engine_path(req))
		engine_handle_head(hc, req);
	else
		daemon_on_request(hc, req);
}

static const struct http_router daemon_router = {
	.on_head = daemon_on_head,
	.on_request = daemon_on_request,
};

static void daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (!daemon_state.stopping) {
		daemon_state.stopping = 1;
		daemon_state.stop_signal = (int)sig;
	}
}

/* The end of every loop pass: flushes and frees may cause more of each
 * (a freed connection ends a session, which answers a held GET). */
static void daemon_after_turn(void)
{
	do {
		engine_after_turn();
		server_after_turn();
	} while (engine_has_work());
}

/* Makes room for max_connections descriptors if the hard limit allows. */
static void daemon_raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_connections + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		log_warn("max_connections %u needs %llu descriptors, the limit is %llu",
			 cfg->max_connections, (unsigned long long)want,
			 (unsigned long long)rl.rlim_cur);
}

static void daemon_drain(const struct daemon_app *app)
{
	struct timeval tick = { 0, 50 * 1000 };

	server_stop_accepting();
	engine_close_all("server shutting down");
	daemon_after_turn();
	/* Polling sessions wait for their next GET to carry the close;
	 * WebSockets for their close frame to be written. */
	for (int waited = 0; waited < DAEMON_DRAIN_MS &&
	     (engine_session_count() > 0 || server_output_pending()); waited += 50) {
		event_base_loopexit(daemon_state.base, &tick);
		event_base_loop(daemon_state.base, 0);
		daemon_after_turn();
	}
	engine_cleanup();
	server_cleanup();
	daemon_after_turn();
	http_cleanup();
	if (app->cleanup)
		app->cleanup();
}

int daemon_run(const struct config *cfg, const struct daemon_app *app)
{
	daemon_state.cfg = cfg;
	daemon_state.app = app;
	daemon_raise_fd_limit(cfg);
	signal(SIGPIPE, SIG_IGN);
	daemon_state.base = event_base_new();
	if (!daemon_state.base) {
		log_error("event_base_new failed");
		return 1;
	}
	http_init(daemon_state.base, cfg, &daemon_router);
	engine_init(daemon_state.base, cfg, app->callbacks, NULL);
	if (app->init && app->init(daemon_state.base, cfg) < 0) {
		log_error("start-up failed: out of memory");
		return 1;
	}
	daemon_state.sigterm = evsignal_new(daemon_state.base, SIGTERM, daemon_signal_cb, NULL);
	daemon_state.sigint = evsignal_new(daemon_state.base, SIGINT, daemon_signal_cb, NULL);
	if (!daemon_state.sigterm || !daemon_state.sigint ||
	    event_add(daemon_state.sigterm, NULL) < 0 || event_add(daemon_state.sigint, NULL) < 0 ||
	    server_start(daemon_state.base, cfg, &http_conn_handler) < 0) {
		log_error("start-up failed");
		return 1;
	}
	log_info("roomcastd %s started (pid %d, %s)", DAEMON_VERSION, (int)getpid(),
		 event_base_get_method(daemon_state.base));
	(void)sd_notify(0, "READY=1");
	while (!daemon_state.stopping) {
		if (event_base_loop(daemon_state.base, EVLOOP_ONCE) < 0) {
			log_error("event loop failed: %s", strerror(errno));
			break;
		}
		daemon_after_turn();
	}
	(void)sd_notify(0, "STOPPING=1");
	log_info("stopping on signal %d: closing %zu sessions", daemon_state.stop_signal,
		 engine_session_count());
	daemon_drain(app);
	event_free(daemon_state.sigterm);
	event_free(daemon_state.sigint);
	event_base_free(daemon_state.base);
	log_info("stopped");
	return 0;
}
