/* app.h - the Socket.IO application that daemon.c runs: its modules, in
 * the order they start, wired together.
 *
 * Socket.IO (nsp.c) starts first and reaches the modules above it only
 * through the hooks set here (the cluster relays, the backend stream takes
 * records); the cluster, routing and its forwarding, the backend stream
 * and the identity providers' key sets follow.  main.c runs it, and so
 * does the server fuzz target (tests/fuzz/fuzz_server.c), so that both
 * start the same application.
 */
#ifndef ROOMCAST_APP_H
#define ROOMCAST_APP_H

#include "daemon.h"

extern const struct daemon_app app_socketio;

#endif
