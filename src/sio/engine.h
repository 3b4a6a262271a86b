/* engine.h - Engine.IO v4 sessions over HTTP long-polling and WebSocket.
 *
 * Owns the sid table, both transports of a session, the upgrade from
 * polling to WebSocket, the heartbeat and the close paths, exactly as the
 * reference server behaves (doc/protocol.md, "Engine.IO 4").  The application
 * above (Socket.IO, or a test program) sees sessions open, messages arrive
 * and sessions close through engine_callbacks, and sends with engine_send().
 */
#ifndef ROOMCAST_ENGINE_H
#define ROOMCAST_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "http.h"

struct engine_session;

/* on_message gets one Engine.IO message; <data> may be modified and is
 * valid during the call only.  on_close runs exactly once per opened
 * session, with the reference server's reason ("transport close",
 * "transport error", "ping timeout", "parse error", "forced close",
 * "server shutting down"), at the end of the turn in which it closed: never
 * in the middle of a caller's work, so a broadcast that closes a slow
 * recipient does not see its rooms change under it.  Until then
 * engine_send() to it fails.  Any callback may be NULL. */
struct engine_callbacks {
	void (*on_open)(struct engine_session *s, void *app_ctx);
	void (*on_message)(struct engine_session *s, void *app_ctx, bool binary,
			   uint8_t *data, size_t len);
	void (*on_close)(struct engine_session *s, void *app_ctx, const char *reason);
};

void engine_init(struct event_base *base, const struct config *cfg,
		 const struct engine_callbacks *cb, void *app_ctx);
/* Frees every session at once, without telling clients (after shutdown). */
void engine_cleanup(void);
/* The config changed (reload.h): upgrades started from now on take the new
 * upgrade_timeout, handshakes keep a Bearer token if a namespace now
 * verifies them. */
void engine_reload(void);

/* The router's entry points for requests under the configured path. */
void engine_handle_head(struct http_conn *hc, struct http_request *req);
void engine_handle_request(struct http_conn *hc, struct http_request *req);

/* Sends one message.  Returns 0, or -1 if the session is closing or the
 * client is too slow (its queue passed max_output_buffer: the session is
 * then closed). */
int engine_send(struct engine_session *s, bool binary, const void *data, size_t len);

/* A message built once and sent to many sessions (a broadcast): the
 * WebSocket frame and the polling text are encoded once, each recipient
 * takes a reference (large frames are not even copied).  engine_msg_new()
 * copies <prefix> (may be NULL) followed by <data> as the message's bytes
 * and returns it with one reference for the caller, or NULL if memory ran
 * out; engine_msg_unref(NULL) does nothing. */
struct engine_msg;
struct engine_msg *engine_msg_new(bool binary, const void *prefix, size_t prefix_len,
				  const void *data, size_t data_len);
void engine_msg_unref(struct engine_msg *m);
/* Sends <m> to <s>; returns as engine_send(). */
int engine_send_msg(struct engine_session *s, struct engine_msg *m);

/* Whether <s> can take a packet now, as the reference server's transport
 * `writable`: a polling session holds a GET, a WebSocket is not waiting
 * for the kernel.  Volatile packets are sent only then. */
bool engine_session_writable(const struct engine_session *s);

/* Closes <s> gracefully: what is queued is delivered, then the close
 * (polling `1`, WebSocket close frame).  <reason> goes to on_close. */
void engine_close(struct engine_session *s, const char *reason);
/* engine_close() on every session (shutdown). */
void engine_close_all(const char *reason);
/* engine_close() on at most <n> open sessions, the oldest first (a
 * drain's batch); returns how many. */
size_t engine_close_some(size_t n, const char *reason);
/* Sessions open, not closing. */
size_t engine_open_count(void);

const char *engine_session_sid(const struct engine_session *s);

/* What the session's handshake request carried (a RemoteSocket's
 * handshake in the cluster).  The strings live as long as the session. */
struct engine_handshake {
	const char *address;           /* the client's IP address (http_client_address()) */
	const char *host;              /* the Host header, "" if none */
	const char *url;               /* the request target, query included */
	const char *bearer;            /* its Authorization: Bearer token, "" if none */
	const char *headers;           /* those backend_headers names: "name\0value\0"...,
	                                  ended by an empty name; lower-case names */
	bool websocket;                /* the handshake came over WebSocket */
};
void engine_session_handshake(const struct engine_session *s, struct engine_handshake *out);
/* The client's address (realip.h), as its handshake request gave it
 * (http_client_address(): the real client behind trusted_proxies): what
 * the per-address limits count.  NULL for a unix socket's peer. */
const uint8_t *engine_session_address(const struct engine_session *s);

/* The application's per-session pointer (NULL until set). */
void engine_session_set_data(struct engine_session *s, void *data);
void *engine_session_data(const struct engine_session *s);
size_t engine_session_count(void);

/* End-of-turn work: polling answers for what was queued this turn, and
 * freeing closed sessions.  engine_has_work() says if a pass is needed. */
void engine_after_turn(void);
bool engine_has_work(void);

#endif
