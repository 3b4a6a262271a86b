/* reload.h - what a SIGHUP may change in the running configuration.
 *
 * The file is parsed again in full (config_load(): an error refuses the
 * whole reload and the running configuration stays); reload_merge() then
 * puts back in the new configuration what cannot change while running,
 * and the daemon copies it over the running one, which every module reads
 * through its pointer, and tells each module that keeps derived state.
 *
 * Needs a restart (the running value stays, each logged by name): listen,
 * admin_listen, path, ping_interval and ping_timeout (clients were told them at
 * handshake), redis, redis_db, redis_key, redis_emit_channel,
 * backend_stream and backend_streams (channels and streams in use), a
 * namespace's flush_delay, and a namespace removed from the file (it
 * stays, sockets and all).  Everything else changes live; timeouts apply
 * to waits that start after the reload.
 */
#ifndef ROOMCAST_RELOAD_H
#define ROOMCAST_RELOAD_H

#include <stddef.h>

#include "config.h"

/* Called once per setting that needs a restart, with a line for the log. */
typedef void reload_note_fn(void *arg, const char *line);

/* Turns <next>, freshly loaded, into what the daemon may run on instead of
 * <running>: restart-only settings take their running values back (each
 * reported through <note>), namespaces that run keep their index (new ones
 * come after them).  Returns 0, or -1 with the reason in <err> when <next>
 * cannot be taken at all. */
int reload_merge(const struct config *running, struct config *next, reload_note_fn *note,
		 void *arg, char *err, size_t err_len) __attribute__((warn_unused_result));

#endif
