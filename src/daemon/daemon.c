/* daemon.c - event loop, routing, signals and shutdown (see daemon.h). */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "engine.h"
#include "forward.h"
#include "http.h"
#include "jsonmem.h"
#include "log.h"
#include "metrics.h"
#include "procmetrics.h"
#include "reload.h"
#include "route.h"
#include "server.h"
#include "timeq.h"
#include "version.h"

/* How long a stopping daemon waits for clients to take their last bytes. */
#define DAEMON_DRAIN_MS 3000
/* A drain closes one batch of sessions this often. */
#define DAEMON_DRAIN_TICK_MS 100
/* After the listeners close, requests already accepted are still read and
 * answered this long: a client that connected just before the stop gets
 * its answer, not a reset (the next process, on systemd's sockets, takes
 * the connections that come after). */
#define DAEMON_DRAIN_ACCEPTED_MS 100
/* How often the allocator is asked to give free heap back to the system,
 * and the least free heap worth the walk (see daemon_trim_cb). */
#define DAEMON_TRIM_INTERVAL_S 2
#define DAEMON_TRIM_MIN_FREE_BYTES (4u << 20)
/* The event loop's lag is sampled by a timer this often. */
#define DAEMON_LAG_INTERVAL_MS 250

/* roomcast_event_loop_lag_seconds: how late the sampling timer fired. */
static const double daemon_lag_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					    0.25, 0.5, 1 };
#define DAEMON_LAG_N_BOUNDS (sizeof daemon_lag_bounds / sizeof daemon_lag_bounds[0])
static uint64_t daemon_lag_counts[DAEMON_LAG_N_BOUNDS + 1];
static struct metrics_histogram daemon_lag = {
	.name = "event_loop_lag_seconds",
	.help = "how late a timer fired: the time the loop spent on other work first",
	.bounds = daemon_lag_bounds,
	.n = DAEMON_LAG_N_BOUNDS,
	.counts = daemon_lag_counts,
};

static void daemon_signal_cb(evutil_socket_t sig, short what, void *arg);
static void daemon_sighup_cb(evutil_socket_t sig, short what, void *arg);
static void daemon_sigusr1_cb(evutil_socket_t sig, short what, void *arg);
static void daemon_ignored_cb(evutil_socket_t sig, short what, void *arg);

/* Every signal an operator or a tool may send, and what it does
 * (roomcastd(8), SIGNALS).  A signal left at its default would kill the
 * daemon with every client on it: USR1 from a logrotate script written for
 * nginx, USR2 or ALRM sent by mistake.  TERM, INT and QUIT drain (QUIT is
 * nginx's graceful stop); the ignored ones leave a line saying so. */
static const struct {
	int signo;
	event_callback_fn cb;
} daemon_signals[] = {
	{ SIGTERM, daemon_signal_cb }, { SIGINT, daemon_signal_cb }, { SIGQUIT, daemon_signal_cb },
	{ SIGHUP, daemon_sighup_cb },  { SIGUSR1, daemon_sigusr1_cb },
	{ SIGUSR2, daemon_ignored_cb }, { SIGALRM, daemon_ignored_cb },
	{ SIGWINCH, daemon_ignored_cb },
};
#define DAEMON_N_SIGNALS (sizeof daemon_signals / sizeof daemon_signals[0])

static struct {
	struct event_base *base;
	struct config *cfg;            /* the running one, which every module reads */
	const char *path;              /* where it was read, read again at SIGHUP */
	const struct daemon_app *app;
	volatile sig_atomic_t stopping;
	bool stop_now;                 /* a second stop signal: no more waiting */
	bool reload_asked;             /* SIGHUP: reload after this loop turn */
	struct event *signals[DAEMON_N_SIGNALS]; /* daemon_signals[i]'s event */
	struct event *trim;
	struct event *lag;
	struct timespec lag_due;       /* when the lag timer should fire */
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

static void daemon_metrics(struct http_conn *hc)
{
	static char text[65536];
	size_t len = metrics_render(text, sizeof text);

	http_respond(hc, len ? 200 : 500, "text/plain; version=0.0.4", NULL, text, len);
}

/* /healthz and /metrics: GET (or HEAD) only.  With admin_listen, /metrics
 * is served there alone and the engine not at all; /healthz on both, for
 * balancers that check the client port. */
/* Whether a request that came in on cluster_listen may go on: it carries
 * the cluster's token and asks for the engine, the only thing peers
 * forward.  Answers it otherwise. */
static bool daemon_peer_allowed(struct http_conn *hc, struct http_request *req)
{
	if (!route_peer_token_ok(req->peer_token)) {
		metrics_inc(route_peer_refused_total);
		log_limited(LOG_LEVEL_WARN, "cluster_listen: request without the cluster's token "
			    "refused (another cluster_secret_file?)\tpeer=%s",
			    server_conn_peer(http_conn_peek(hc)));
		/* Closed after it: whoever reaches cluster_listen without the
		 * token gets no keep-alive (it held an unauthenticated slot). */
		http_respond(hc, 403, "text/plain", NULL, "forbidden\n", 10);
		server_conn_close_when_flushed(http_conn_peek(hc));
		return false;
	}
	server_conn_authenticated(http_conn_peek(hc));
	if (!daemon_under_engine_path(req)) {
		http_respond(hc, 404, "text/plain", NULL, "not found\n", 10);
		return false;
	}
	return true;
}

static void daemon_on_request(struct http_conn *hc, struct http_request *req)
{
	if (http_conn_is_peer(hc)) {
		if (daemon_peer_allowed(hc, req))
			engine_handle_request(hc, req);
		return;
	}
	bool admin = http_conn_is_admin(hc);
	bool health = daemon_path_is(req, "/healthz");
	bool metrics = daemon_path_is(req, "/metrics") && (admin || !daemon_state.cfg->has_admin_listen);

	if (!admin && daemon_under_engine_path(req))
		engine_handle_request(hc, req);
	else if ((health || metrics) && req->method != HTTP_GET && req->method != HTTP_HEAD)
		http_respond(hc, 405, "text/plain", "Allow: GET, HEAD\r\n", "method not allowed\n", 19);
	else if (health)
		daemon_health(hc);
	else if (metrics)
		daemon_metrics(hc);
	else
		http_respond(hc, 404, "text/plain", NULL, "not found\n", 10);
}

static void daemon_on_head(struct http_conn *hc, struct http_request *req)
{
	/* Only polling POSTs under the engine path take a body; every other
	 * request is answered from its head, its body left unread. */
	if (http_conn_is_peer(hc)) {
		if (daemon_peer_allowed(hc, req))
			engine_handle_head(hc, req);
	} else if (!http_conn_is_admin(hc) && daemon_under_engine_path(req)) {
		engine_handle_head(hc, req);
	} else {
		daemon_on_request(hc, req);
	}
}

static const struct http_router daemon_router = {
	.on_head = daemon_on_head,
	.on_request = daemon_on_request,
};

static void daemon_sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	daemon_state.reload_asked = true;
}

/* Opens log_file again, where logrotate has moved the old one away; on
 * failure logging goes on where it did. */
static void daemon_reopen_log(const char *why)
{
	if (log_reopen() < 0)
		log_error("%s: log_file %s: %s; logging where it did", why,
			  daemon_state.cfg->log_file, strerror(errno));
}

/* SIGUSR1: the log file only, as nginx does (logrotate scripts send it). */
static void daemon_sigusr1_cb(evutil_socket_t sig, short what, void *arg)
{
	daemon_reopen_log("SIGUSR1");
	log_info("SIGUSR1: log file reopened");
}

static void daemon_ignored_cb(evutil_socket_t sig, short what, void *arg)
{
	log_warn("SIG%s ignored (roomcastd(8) lists the signals it takes)",
		 sigabbrev_np((int)sig));
}

static void daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	if (!daemon_state.stopping) {
		daemon_state.stopping = 1;
		daemon_state.stop_signal = (int)sig;
	} else if (!daemon_state.stop_now) {
		daemon_state.stop_now = true;
		log_info("signal %d again: closing every session now", (int)sig);
	}
}

/* The end of every loop pass: flushes and frees may cause more of each
 * (a freed connection ends a session, which answers a held GET). */
void daemon_after_turn(void)
{
	do {
		engine_after_turn();
		server_after_turn();
	} while (engine_has_work() || server_has_work());
}

/* glibc keeps freed heap for reuse: after an attack ends (thousands of
 * connections, big bodies, parsed JSON) the process would stay at its peak
 * RSS.  When enough of the heap is free, malloc_trim() gives back every
 * free page, from the middle of the heap too.  mallinfo2() walks the free
 * lists, cheap next to the trim, and a trim finds little to do when the
 * heap is busy, so a fixed interval is enough to catch the quiet moment
 * after an attack. */
static void daemon_trim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mallinfo2 mi = mallinfo2();

	if (mi.fordblks < DAEMON_TRIM_MIN_FREE_BYTES)
		return;
	if (malloc_trim(0))
		metrics_inc(memory_trims_total);
	log_debug("malloc_trim: %zu bytes of heap were free", mi.fordblks);
}

static void daemon_lag_arm(void)
{
	struct timeval tv = { 0, DAEMON_LAG_INTERVAL_MS * 1000 };

	clock_gettime(CLOCK_MONOTONIC, &daemon_state.lag_due);
	daemon_state.lag_due.tv_nsec += DAEMON_LAG_INTERVAL_MS * 1000000L;
	if (daemon_state.lag_due.tv_nsec >= 1000000000L) {
		daemon_state.lag_due.tv_sec++;
		daemon_state.lag_due.tv_nsec -= 1000000000L;
	}
	(void)event_add(daemon_state.lag, &tv); /* fails only on bad arguments */
}

static void daemon_lag_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	double late = (double)(now.tv_sec - daemon_state.lag_due.tv_sec) +
		      (double)(now.tv_nsec - daemon_state.lag_due.tv_nsec) / 1e9;
	metrics_histogram_observe(&daemon_lag, late > 0 ? late : 0);
	daemon_lag_arm();
}

/* Makes room for max_connections descriptors if the hard limit allows. */
/* Descriptors for max_connections clients, and with routing for the
 * upstreams and the connections on cluster_listen before their token,
 * which hold no client slot.  Only the clients' share is warned about:
 * the rest is taken as far as the hard limit allows. */
static void daemon_raise_fd_limit(const struct config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_connections + 64, routed = want;

	if (cfg->has_cluster_listen)
		routed += (rlim_t)(cfg->cluster_max_upstreams ? cfg->cluster_max_upstreams
							     : cfg->max_connections) +
			  cfg->cluster_max_unauthenticated;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= routed)
		return;
	rl.rlim_cur = routed < rl.rlim_max ? routed : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		log_warn("max_connections %u needs %llu descriptors, the limit is %llu",
			 cfg->max_connections, (unsigned long long)want,
			 (unsigned long long)rl.rlim_cur);
}

static void daemon_reload_note(void *arg, const char *line)
{
	log_warn("reload: %s", line);
}

/* Prometheus's own pair for "did the last reload work, and when did one
 * last work", so that an alert written for Prometheus fits. */
static void daemon_note_load(bool applied)
{
	metrics_gauge_set(config_last_reload_successful, applied);
	if (applied)
		metrics_gauge_set(config_last_reload_success_timestamp_seconds, (int64_t)time(NULL));
}

/* Loads the file again into <next> and makes it fit to run (reload.h).
 * Returns 0, or -1 with why not in <err>, nothing changed. */
static int daemon_reload_load(struct config *next, char *err, size_t err_len)
{
	const struct daemon_app *app = daemon_state.app;
	char why[CONFIG_ERR_LEN];

	if (config_load(next, daemon_state.path, err, err_len) < 0)
		return -1; /* "FILE:LINE: message" already */
	if (reload_merge(daemon_state.cfg, next, daemon_reload_note, NULL, why, sizeof why) < 0 ||
	    (app->reload_prepare && app->reload_prepare(next, why, sizeof why) < 0)) {
		/* the reason's length bounded: a long path cuts it short, never out */
		snprintf(err, err_len, "%s: %.*s", daemon_state.path, (int)(err_len / 2), why);
		return -1;
	}
	return 0;
}

/* SIGHUP: the file again, applied live where it can be (reload.h), the
 * log file reopened (logrotate moved it).  A file with an error changes
 * nothing but the reopen. */
static void daemon_reload(void)
{
	static struct config next;    /* large: not on the stack */
	struct config *cfg = daemon_state.cfg;
	char err[CONFIG_ERR_LEN];

	daemon_state.reload_asked = false;
	(void)sd_notify(0, "RELOADING=1");
	if (daemon_reload_load(&next, err, sizeof err) < 0) {
		/* logrotate moved the file whether or not the new config is good */
		daemon_reopen_log("reload");
		metrics_inc(config_reload_failures_total);
		daemon_note_load(false);
		log_error("reload refused: %s; the running configuration stays", err);
		(void)sd_notify(0, "READY=1");
		return;
	}
	*cfg = next;
	if (log_open(cfg->log_level, cfg->log_file) < 0)
		log_error("reload: log_file %s: %s; logging where it did", cfg->log_file,
			  strerror(errno));
	log_set_access(cfg->access_log);
	jsonmem_set_expansion(cfg->max_json_expansion);
	daemon_raise_fd_limit(cfg);
	http_reload();
	server_reload();
	engine_reload();
	if (daemon_state.app->reload_commit && daemon_state.app->reload_commit() < 0)
		log_error("reload: out of memory setting up new namespaces; they refuse clients");
	metrics_inc(config_reloads_total);
	daemon_note_load(true);
	log_info("reloaded %s", daemon_state.path);
	(void)sd_notify(0, "READY=1");
}

/* With session routing, a client's next request may name a session of an
 * instance this one has not heard of yet: the loop runs (Redis, peers'
 * answers) until route_ready(), bounded by route's own timer, before any
 * client is accepted. */
static void daemon_wait_for_peers(void)
{
	if (route_ready())
		return;
	(void)sd_notify(0, "STATUS=learning the other instances of the cluster");
	while (!daemon_state.stopping && !route_ready()) {
		if (event_base_loop(daemon_state.base, EVLOOP_ONCE) < 0)
			break;
		daemon_after_turn();
	}
}

/* Runs the loop for <ms>, or less if a second stop signal comes. */
static void daemon_run_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(daemon_state.base, &tv);
	event_base_loop(daemon_state.base, 0);
	daemon_after_turn();
}

/* Moves the clients off in batches spread over drain_timeout, each
 * session closed as a transport close (the official client reconnects,
 * through the balancer, to another instance, with its own backoff), so
 * that the other instances are not hit by every reconnect at once.  What
 * a session has queued goes out before its close. */
static void daemon_move_clients(void)
{
	uint64_t total = daemon_state.cfg->drain_timeout_ms;
	int64_t start = timeq_now_ms();
	size_t initial = engine_open_count(), moved = 0, open;

	log_info("stopping on signal %d: moving %zu sessions off over %u ms",
		 daemon_state.stop_signal, initial, (unsigned)total);
	/* Paced by the clock, not by counting ticks: a busy loop (thousands
	 * of clients reconnecting elsewhere on the same machine) still ends
	 * the drain at drain_timeout. */
	while (!daemon_state.stop_now && (open = engine_open_count()) > 0) {
		uint64_t elapsed = (uint64_t)(timeq_now_ms() - start);
		if (elapsed >= total)
			break;
		uint64_t end = elapsed + DAEMON_DRAIN_TICK_MS < total ? elapsed + DAEMON_DRAIN_TICK_MS : total;
		size_t due = (size_t)((uint64_t)initial * end / total);
		if (due > moved)
			moved += engine_close_some(due - moved, "server shutting down");
		daemon_after_turn();
		(void)sd_notifyf(0, "STATUS=draining: %zu sessions to move, %zu closing",
				 engine_open_count(), engine_session_count());
		daemon_run_for(DAEMON_DRAIN_TICK_MS);
	}
	engine_close_all("server shutting down");
	daemon_after_turn();
}

static void daemon_drain(const struct daemon_app *app)
{
	server_stop_accepting();
	(void)sd_notify(0, "STOPPING=1");
	daemon_run_for(DAEMON_DRAIN_ACCEPTED_MS);
	daemon_move_clients();
	/* Its sessions are closing: peers may stop forwarding to it.  The
	 * goodbye leaves with the last writes waited for below. */
	route_leave();
	/* Polling sessions wait for their next GET to carry the close;
	 * WebSockets for their close frame to be written; the app for Redis
	 * to take the disconnect records the closes wrote. */
	for (int waited = 0; waited < DAEMON_DRAIN_MS && !daemon_state.stop_now &&
	     (engine_session_count() > 0 || server_output_pending() ||
	      (app->is_busy && app->is_busy())); waited += 50)
		daemon_run_for(50);
	engine_cleanup();
	forward_cleanup();
	server_cleanup();
	daemon_after_turn();
	http_cleanup();
	if (app->cleanup)
		app->cleanup();
}

/* An event base on CLOCK_MONOTONIC: by default libevent 2.1 reads
 * CLOCK_MONOTONIC_COARSE, whose tick (4 ms here) made a 1 ms flush_delay
 * or backend_flush_delay wait 2 to 5 ms: the loop woke on time, found the
 * coarse clock not yet past the deadline, and slept again. */
static struct event_base *daemon_base_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base = NULL;

	if (ec && event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER) == 0)
		base = event_base_new_with_config(ec);
	if (ec)
		event_config_free(ec);
	return base;
}

/* Takes every signal of daemon_signals.  Returns 0, or -1 out of memory. */
static int daemon_signals_add(void)
{
	for (size_t i = 0; i < DAEMON_N_SIGNALS; i++) {
		daemon_state.signals[i] = evsignal_new(daemon_state.base, daemon_signals[i].signo,
						       daemon_signals[i].cb, NULL);
		if (!daemon_state.signals[i] || event_add(daemon_state.signals[i], NULL) < 0)
			return -1;
	}
	return 0;
}

struct event_base *daemon_open(struct config *cfg, const char *path, const struct daemon_app *app)
{
	daemon_state.cfg = cfg;
	daemon_state.path = path;
	daemon_state.app = app;
	jsonmem_set_expansion(cfg->max_json_expansion);
	daemon_state.base = daemon_base_new();
	if (!daemon_state.base) {
		log_error("event_base_new failed");
		return NULL;
	}
	http_init(daemon_state.base, cfg, &daemon_router);
	engine_init(daemon_state.base, cfg, app->callbacks, NULL);
	if (app->init && app->init(daemon_state.base, cfg) < 0) {
		log_error("start-up failed: out of memory");
		return NULL;
	}
	if (server_start(daemon_state.base, cfg, &http_conn_handler) < 0 || route_start() < 0) {
		log_error("start-up failed");
		return NULL;
	}
	return daemon_state.base;
}

int daemon_run(struct config *cfg, const char *path, const struct daemon_app *app)
{
	daemon_raise_fd_limit(cfg);
	/* A write to a closed socket is EPIPE, and one past the file size
	 * limit EFBIG (a log file): errors handled where they happen. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	if (!daemon_open(cfg, path, app))
		return 1;
	daemon_state.trim = event_new(daemon_state.base, -1, EV_PERSIST, daemon_trim_cb, NULL);
	daemon_state.lag = evtimer_new(daemon_state.base, daemon_lag_cb, NULL);
	struct timeval trim_tv = { DAEMON_TRIM_INTERVAL_S, 0 };
	if (daemon_signals_add() < 0 || !daemon_state.trim || !daemon_state.lag ||
	    event_add(daemon_state.trim, &trim_tv) < 0) {
		log_error("start-up failed");
		return 1;
	}
	daemon_note_load(true);
	daemon_wait_for_peers();
	if (!daemon_state.stopping && server_accept_clients() < 0) {
		log_error("start-up failed");
		return 1;
	}
	metrics_histogram_register(&daemon_lag);
	procmetrics_init();
	daemon_lag_arm();
	log_info("roomcastd %s started (pid %d, %s)", ROOMCAST_VERSION, (int)getpid(),
		 event_base_get_method(daemon_state.base));
	log_echo_errors(false); /* started: the log file alone from here */
	(void)sd_notify(0, "READY=1");
	while (!daemon_state.stopping) {
		if (event_base_loop(daemon_state.base, EVLOOP_ONCE) < 0) {
			log_error("event loop failed: %s", strerror(errno));
			break;
		}
		daemon_after_turn();
		if (daemon_state.reload_asked && !daemon_state.stopping)
			daemon_reload();
	}
	daemon_drain(app);
	for (size_t i = 0; i < DAEMON_N_SIGNALS; i++)
		event_free(daemon_state.signals[i]);
	event_free(daemon_state.trim);
	event_free(daemon_state.lag);
	event_base_free(daemon_state.base);
	log_info("stopped");
	return 0;
}
