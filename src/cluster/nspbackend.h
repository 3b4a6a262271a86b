/* nspbackend.h - the backend stream's side of Socket.IO sockets.
 *
 * nsp.c calls outward only through its hooks (nsp.h); these are the ones
 * that write a socket's life and events as backend records (backend.c):
 * its connect, joins, leaves and disconnect, the client events its
 * namespace forwards, and the request for a decision on a CONNECT held
 * for an auth backend.  main.c puts them in the hooks it gives
 * nsp_init().  Each does nothing in a namespace that does not forward
 * (backend_wants_lifecycle()).
 */
#ifndef ROOMCAST_NSPBACKEND_H
#define ROOMCAST_NSPBACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "engine.h"
#include "nsp.h"
#include "packet.h"

/* The hooks of the same names in struct nsp_hooks, whose comments say
 * what each is given and returns. */
int nspbackend_forward(const struct nsp_socket *sock, const struct packet *p, int64_t ack_id)
	__attribute__((warn_unused_result));
void nspbackend_connected(const struct nsp_socket *sock, const json_t *auth, const json_t *claims,
			  const struct engine_handshake *hs);
void nspbackend_room(const struct nsp_socket *sock, bool is_join, const char *name, size_t len);
void nspbackend_gone(const struct nsp_socket *sock, const char *reason);
int nspbackend_ask(const struct config_namespace *ns, const char *id, int64_t ack_id,
		   const json_t *auth, const struct engine_handshake *hs)
	__attribute__((warn_unused_result));
void nspbackend_abandon(const struct config_namespace *ns, const char *id, const char *reason);

#endif
