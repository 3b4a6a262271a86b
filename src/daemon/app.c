/* app.c - the Socket.IO application that daemon.c runs (see app.h).
 *
 * Owns the start-up order of the application's modules, the hooks through
 * which nsp.c calls the modules above it, what a reload hands each module
 * and the order they stop in.  Owns no state of its own.
 */
#include "app.h"
#include "auth.h"
#include "backend.h"
#include "cluster.h"
#include "forward.h"
#include "jwks.h"
#include "nsp.h"
#include "nspbackend.h"
#include "redis.h"
#include "route.h"

/* How Socket.IO reaches the modules above it, which call down into it:
 * the cluster relays, the backend stream takes records. */
static const struct nsp_hooks app_nsp_hooks = {
	.relay = cluster_publish_event,
	.wants_event = backend_wants_event,
	.forward = nspbackend_forward,
	.connected = nspbackend_connected,
	.room = nspbackend_room,
	.gone = nspbackend_gone,
	.ask = nspbackend_ask,
	.abandon = nspbackend_abandon,
};

/* Socket.IO first: the cluster delivers to its namespaces; forwarding
 * after routing, whose peers it serves. */
static int app_init(struct event_base *base, const struct config *cfg)
{
	if (nsp_init(base, cfg, &app_nsp_hooks) < 0 || cluster_init(base, cfg) < 0 ||
	    route_init(base, cfg) < 0)
		return -1;
	forward_init(base, cfg);
	return backend_init(base, cfg, cluster_uid()) < 0 || jwks_init(base, cfg) < 0 ? -1 : 0;
}

/* The modules that keep state derived from the config, auth's keys first
 * (prepared by auth_reload_prepare()). */
static int app_reload(void)
{
	auth_reload_commit();
	return nsp_reload() < 0 || cluster_reload() < 0 || jwks_reload() < 0 ? -1 : 0;
}

static void app_cleanup(void)
{
	route_cleanup();
	cluster_cleanup();
	backend_cleanup();
	nsp_cleanup();
	jwks_cleanup();
	auth_cleanup();
}

const struct daemon_app app_socketio = {
	.callbacks = &nsp_engine_callbacks,
	.init = app_init,
	.cleanup = app_cleanup,
	.is_busy = redis_has_unanswered,
	.health = cluster_health,
	.reload_prepare = auth_reload_prepare,
	.reload_commit = app_reload,
};
