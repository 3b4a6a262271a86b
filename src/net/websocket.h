/* websocket.h - a WebSocket connection: handshake answer, frames in and out.
 *
 * Glue between a server connection and the pure codec in ws.c: completes
 * the RFC 6455 handshake on an HTTP upgrade request, feeds input to the
 * decoder, answers pings and the close handshake, closes with the codec's
 * status code on bad input, and writes frames.  What the messages mean is
 * the owner's business (engine.c), reached through callbacks.
 */
#ifndef ROOMCAST_WEBSOCKET_H
#define ROOMCAST_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "ws.h"

struct websocket;

/* on_message gets one complete data message; <data> may be modified and is
 * valid during the call only.  on_close runs once when the connection is
 * gone, whoever closed it; the websocket is freed right after. */
struct websocket_callbacks {
	void (*on_message)(struct websocket *ws, void *arg, bool binary, uint8_t *data, size_t len);
	void (*on_close)(struct websocket *ws, void *arg);
};

/* Answers <req> with 101 and turns its connection into a WebSocket with a
 * message limit of <max_message> bytes.  Returns the websocket, or NULL
 * after answering 400 (bad key or version). */
struct websocket *websocket_accept(struct http_conn *hc, struct http_request *req,
				   size_t max_message, const struct websocket_callbacks *cb,
				   void *arg);

/* Moves <ws> to a new owner (the upgrade hands a probe to its session). */
void websocket_rebind(struct websocket *ws, const struct websocket_callbacks *cb, void *arg);

/* Queues one frame: <prefix> (may be NULL) then <data> as the payload.
 * Returns 0, or -1 if the connection is closing or its output is full (it
 * is then closed). */
int websocket_send(struct websocket *ws, enum ws_opcode opcode, const void *prefix,
		   size_t prefix_len, const void *data, size_t len);

/* Queues a complete frame built once for many connections (ws_frame_header
 * and payload), without copying it when it is large.  Returns as
 * server_write_ref(): 1 if <release> will run, 0 if copied, -1 if the
 * connection is closing or full. */
int websocket_send_frame(struct websocket *ws, const void *frame, size_t len,
			 void (*release)(const void *data, size_t len, void *arg), void *arg);

/* Whether earlier frames still wait for the kernel (server_conn_blocked). */
bool websocket_blocked(const struct websocket *ws);

/* Sends a close frame (<code> 0 = no status code, as the reference server
 * sends when it ends a session) and closes once it is written.  No message
 * is delivered after this; on_close still runs. */
void websocket_close(struct websocket *ws, uint16_t code);

#endif
