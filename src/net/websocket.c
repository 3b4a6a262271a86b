/* websocket.c - WebSocket connections over server.c and ws.c (see websocket.h).
 *
 * Owns the decoder of each upgraded connection and the close handshake.
 * Errors found by the decoder close the connection with the code its table
 * gives (1002, 1007, 1009), counted and logged once here at info level:
 * the client broke the protocol, the server is fine.
 *
 * Memory: every upgraded connection holds one struct websocket for its
 * whole life, mostly idle, so it stays at 48 bytes (asserted below); the
 * decoder inside it is 16 of those and allocates only while a frame or
 * message is incomplete (ws.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "server.h"
#include "websocket.h"

struct websocket {
	struct conn *c;                       /* not owned */
	struct ws_decoder dec;
	const struct websocket_callbacks *cb;
	void *arg;
	bool closing;                         /* close frame sent or being sent */
};

_Static_assert(sizeof(struct websocket) <= 48,
	       "every WebSocket connection holds one: keep it small");

static void websocket_fail(struct websocket *ws, enum ws_result r, const uint8_t *data, size_t len)
{
	char quoted[300];

	switch (r) {
	case WS_ERR_UTF8: metrics_inc(ws_utf8_errors_total); break;
	case WS_ERR_TOO_BIG: metrics_inc(ws_too_big_total); break;
	default: metrics_inc(ws_protocol_errors_total); break;
	}
	log_limited(LOG_LEVEL_INFO, "%s, closing with %u\tconn=%llu peer=%s input=\"%s\"",
		    ws_result_text(r), ws_result_close_code(r), (unsigned long long)ws->c->id,
		    server_conn_peer(ws->c), log_field(quoted, sizeof quoted, data, len, 64));
	websocket_close(ws, ws_result_close_code(r));
}

static void websocket_on_control(struct websocket *ws, const struct ws_event *ev)
{
	switch (ev->opcode) {
	case WS_OPCODE_PING:
		(void)websocket_send(ws, WS_OPCODE_PONG, NULL, 0, ev->data, ev->len);
		break;
	case WS_OPCODE_CLOSE:
		/* Echo the peer's status, as ws does; a close without one is
		 * answered without one. */
		websocket_close(ws, ev->close_code);
		break;
	default:
		break;
	}
}

static ssize_t websocket_conn_data(struct conn *c, uint8_t *data, size_t len)
{
	struct websocket *ws = c->ctx;
	size_t off = 0;

	while (off < len && !ws->closing && !c->closing) {
		struct ws_event ev;
		size_t used = 0;
		enum ws_result r = ws_decoder_feed(&ws->dec, data + off, len - off, &used, &ev);
		if (r < 0) {
			websocket_fail(ws, r, data + off, len - off);
			break;
		}
		off += used;
		if (r == WS_MORE)
			break;
		if (ev.opcode == WS_OPCODE_TEXT || ev.opcode == WS_OPCODE_BINARY) {
			/* The event points into our own input or the decoder's
			 * buffer, both writable: the owner may decode in place. */
			ws->cb->on_message(ws, ws->arg, ev.opcode == WS_OPCODE_BINARY,
					   (uint8_t *)ev.data, ev.len);
		} else {
			websocket_on_control(ws, &ev);
		}
	}
	/* Whatever follows a close is ignored: consume it all. */
	return c->closing ? -1 : (ssize_t)len;
}

static void websocket_conn_close(struct conn *c)
{
	struct websocket *ws = c->ctx;

	ws->cb->on_close(ws, ws->arg);
	ws_decoder_cleanup(&ws->dec);
	free(ws);
	c->ctx = NULL;
}

static const struct conn_handler websocket_conn_handler = {
	.on_data = websocket_conn_data,
	.on_close = websocket_conn_close,
};

struct websocket *websocket_accept(struct http_conn *hc, struct http_request *req,
				   size_t max_message, const struct websocket_callbacks *cb,
				   void *arg)
{
	char accept[29];
	char head[1024];
	char cors[512];

	/* ws, under the reference server, takes the final version 13 and
	 * draft 8 (same framing). */
	if ((strcmp(req->ws_version, "13") != 0 && strcmp(req->ws_version, "8") != 0) ||
	    ws_accept_key(req->ws_key, strlen(req->ws_key), accept) < 0) {
		metrics_inc(ws_protocol_errors_total);
		http_respond(hc, 400, "text/html", "Sec-WebSocket-Version: 13\r\n",
			     "Bad WebSocket handshake", 23);
		return NULL;
	}
	struct websocket *ws = calloc(1, sizeof *ws);
	if (!ws) {
		http_respond(hc, 503, NULL, NULL, NULL, 0);
		return NULL;
	}
	size_t cors_len = http_cors_headers(req, cors, sizeof cors);
	cors[cors_len] = '\0';
	int n = snprintf(head, sizeof head,
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
			 accept, cors);
	ws_decoder_init(&ws->dec, max_message);
	ws->cb = cb;
	ws->arg = arg;
	ws->c = http_take_conn(hc, &websocket_conn_handler, ws);
	if (server_write(ws->c, head, (size_t)n) < 0) {
		/* The connection is closing: on_close will still run. */
		ws->closing = true;
	}
	return ws;
}

void websocket_rebind(struct websocket *ws, const struct websocket_callbacks *cb, void *arg)
{
	ws->cb = cb;
	ws->arg = arg;
}

int websocket_send(struct websocket *ws, enum ws_opcode opcode, const void *prefix,
		   size_t prefix_len, const void *data, size_t len)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t hdr_len = ws_frame_header(hdr, opcode, prefix_len + len);

	if (ws->closing)
		return -1;
	if (server_write(ws->c, hdr, hdr_len) < 0 ||
	    (prefix_len && server_write(ws->c, prefix, prefix_len) < 0) ||
	    (len && server_write(ws->c, data, len) < 0))
		return -1;
	return 0;
}

int websocket_send_frame(struct websocket *ws, const void *frame, size_t len,
			 void (*release)(const void *data, size_t len, void *arg), void *arg)
{
	if (ws->closing)
		return -1;
	return server_write_ref(ws->c, frame, len, release, arg);
}

bool websocket_blocked(const struct websocket *ws)
{
	return server_conn_blocked(ws->c);
}

void websocket_close(struct websocket *ws, uint16_t code)
{
	uint8_t status[2] = { (uint8_t)(code >> 8), (uint8_t)(code & 0xff) };

	if (ws->closing)
		return;
	(void)websocket_send(ws, WS_OPCODE_CLOSE, NULL, 0, status, code ? 2 : 0);
	ws->closing = true;
	server_conn_close_when_flushed(ws->c);
}
