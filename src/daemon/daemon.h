/* daemon.h - the running service: event loop, routing, signals, shutdown.
 *
 * Shared by roomcastd (main.c) and the test programs, which differ only in
 * the application callbacks they give the engine.  Start-up order: log,
 * event base, routes, engine, listeners, systemd READY; each loop pass is
 * followed by the end-of-turn work (polling flushes, one writev per
 * connection, frees), and a periodic trim gives free heap back to the
 * system.  SIGTERM/SIGINT: stop accepting, close the sessions in batches
 * over drain_timeout (a second signal: all at once), give clients and
 * Redis a few seconds to take their last bytes, exit 0.  SIGHUP: reload
 * the config file (reload.h).
 */
#ifndef ROOMCAST_DAEMON_H
#define ROOMCAST_DAEMON_H

#include <stdbool.h>

#include "config.h"
#include "engine.h"

/* The application on top of the engine: Socket.IO for roomcastd, an echo
 * for the Engine.IO tests.  init runs once the event base exists (0, or -1
 * to fail start-up); cleanup after every session is gone. */
struct daemon_app {
	const struct engine_callbacks *callbacks;
	int (*init)(struct event_base *base, const struct config *cfg);
	void (*cleanup)(void);
	/* Whether output the app still sends (to Redis) should hold a
	 * shutdown's drain.  May be NULL. */
	bool (*is_busy)(void);
	/* A line for /healthz after "ok" (NULL: none).  May be NULL. */
	const char *(*health)(void);
	/* A reload (reload.h): prepare readies what <next> needs (key files)
	 * without changing what runs: 0, or -1 with the reason in <err>;
	 * commit applies the new config, by then the running one: 0, or -1
	 * if memory ran out.  Either may be NULL. */
	int (*reload_prepare)(const struct config *next, char *err, size_t err_len);
	int (*reload_commit)(void);
};

/* Runs the service on <cfg>, read from <path>, until a stop signal; SIGHUP
 * reads <path> again into <cfg>.  Returns the process exit status (0 after
 * a clean stop, 1 if start-up failed). */
int daemon_run(struct config *cfg, const char *path, const struct daemon_app *app);

/* daemon_run()'s start-up without its loop, signals, timers or systemd:
 * the event base, the request router, the engine, <app>, the cluster
 * listener and route_start(), for a caller that runs the loop itself (the
 * server fuzz target, tests/fuzz/fuzz_server.c): it calls
 * server_accept_clients() when clients may come, and daemon_after_turn()
 * after each pass.  Returns the base, or NULL with the reason logged. */
struct event_base *daemon_open(struct config *cfg, const char *path, const struct daemon_app *app);
void daemon_after_turn(void);

#endif
