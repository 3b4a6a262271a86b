/* nspbackend.c - a socket's records on the backend stream (see nspbackend.h).
 *
 * Turns what nsp.c tells its hooks into backend.c's records: says which
 * socket a record is about (namespace, id, user), and builds the connect
 * record's fields (the CONNECT payload, the verified claims, the address
 * and the kept headers).  Owns nothing that lives past a call: the acks a
 * socket awaits from backends stay with the socket (nsp.c), the records
 * and their buffer with backend.c.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "backend.h"
#include "nsp.h"
#include "nspbackend.h"

/* What a backend record says about <sock>. */
static void nspbackend_socket(const struct nsp_socket *sock, int64_t ack_id,
			      struct record_socket *bs)
{
	const struct config_namespace *ns = nsp_socket_namespace(sock);
	size_t user_len;
	const char *user = nsp_socket_user(sock, &user_len);

	*bs = (struct record_socket){ ns->name, ns->name_len, nsp_socket_id(sock), user, user_len,
				       ack_id };
}

int nspbackend_forward(const struct nsp_socket *sock, const struct packet *p, int64_t ack_id)
{
	struct record_socket bs;

	nspbackend_socket(sock, ack_id, &bs);
	return backend_forward_event(&bs, p);
}

void nspbackend_room(const struct nsp_socket *sock, bool is_join, const char *name, size_t len)
{
	struct record_socket bs;

	if (!backend_wants_lifecycle(nsp_socket_namespace(sock)))
		return;
	nspbackend_socket(sock, PACKET_NO_ACK, &bs);
	backend_forward_room(&bs, is_join, name, len);
}

void nspbackend_gone(const struct nsp_socket *sock, const char *reason)
{
	struct record_socket bs;

	if (!backend_wants_lifecycle(nsp_socket_namespace(sock)))
		return;
	nspbackend_socket(sock, PACKET_NO_ACK, &bs);
	backend_forward_disconnect(&bs, reason);
}

/* The headers <hs> kept as JSON text, heap, or NULL if memory ran out. */
static char *nspbackend_headers_json(const struct engine_handshake *hs)
{
	json_t *o = nsp_headers_new(hs);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return text;
}

/* Writes the connect record of socket <bs>: its CONNECT payload <auth> (an
 * object or NULL) as the client sent it, or without its token when
 * <redact> (jwt_redact_token: a token verified here need not travel on),
 * the verified <claims> (NULL without), the address and the kept headers
 * of the handshake <hs>.  Every cluster member reads the same payload,
 * token included, through fetchSockets(): hiding it by default would
 * protect nothing and leave a backend with its own tokens blind.
 * Returns 0, or -1 if it was dropped (counted). */
static int nspbackend_connect_record(const struct record_socket *bs, const json_t *auth,
				     const json_t *claims, const struct engine_handshake *hs,
				     bool redact)
{
	/* A shallow copy: only the top-level token goes. */
	json_t *safe = json_is_object(auth) ? json_copy((json_t *)auth) : json_object();
	char *auth_text = NULL, *claims_text = NULL, *headers = nspbackend_headers_json(hs);

	if (safe && redact)
		json_object_del(safe, "token");
	if (safe)
		auth_text = json_dumps(safe, JSON_COMPACT);
	if (claims)
		claims_text = json_dumps(claims, JSON_COMPACT);
	struct backend_connect c = {
		auth_text, auth_text ? strlen(auth_text) : 0,
		claims ? claims_text : "", claims_text ? strlen(claims_text) : 0,
		hs->address, headers, headers ? strlen(headers) : 0,
	};
	int rc = backend_forward_connect(bs, &c);
	free(headers);
	free(claims_text);
	free(auth_text);
	json_decref(safe);
	return rc;
}

void nspbackend_connected(const struct nsp_socket *sock, const json_t *auth, const json_t *claims,
			  const struct engine_handshake *hs)
{
	const struct config_namespace *ns = nsp_socket_namespace(sock);
	struct record_socket bs;

	if (!backend_wants_lifecycle(ns))
		return;
	nspbackend_socket(sock, PACKET_NO_ACK, &bs);
	/* Nobody waits for it: a drop is counted there. */
	(void)nspbackend_connect_record(&bs, auth, claims, hs, ns->jwt_redact_token);
}

/* The held CONNECT has no socket yet, so no user: its record names the id
 * it will have if accepted, and the ack the decision must carry. */
int nspbackend_ask(const struct config_namespace *ns, const char *id, int64_t ack_id,
		   const json_t *auth, const struct engine_handshake *hs)
{
	struct record_socket bs = { ns->name, ns->name_len, id, "", 0, ack_id };

	return nspbackend_connect_record(&bs, auth, NULL, hs, false);
}

/* The connect record the backends have is followed by a disconnect
 * record, so that what a backend set up while deciding is undone. */
void nspbackend_abandon(const struct config_namespace *ns, const char *id, const char *reason)
{
	struct record_socket bs = { ns->name, ns->name_len, id, "", 0, PACKET_NO_ACK };

	if (backend_wants_lifecycle(ns))
		backend_forward_disconnect(&bs, reason);
}
