/* auth.h - who may connect to a namespace, and what a token grants.
 *
 * For every namespace with `auth jwt` the keys are read at start-up
 * (jwt.c).  A CONNECT to such a namespace must carry a token: the `token`
 * field of its auth object, else the Authorization: Bearer header of the
 * request that opened its session.  The token is verified against the
 * keys and the namespace's policy (jwt_issuer, jwt_audience, jwt_leeway,
 * at most max_auth_size bytes).  A refusal is the reason the client reads
 * in its connect_error, counted by reason in roomcast_auth_refused_total.
 * A verified token's claims grant the socket its user room (user_room),
 * the rooms of rooms_claim and the globs of allow_join_claim; nsp.c
 * applies them, and closes the session when the token expires.
 * With `auth backend` a backend decides instead (nsp.c holds the CONNECT
 * and asks it through the stream); its refusals are counted here too, by
 * the reasons of AUTH_BACKEND_MAP.
 */
#ifndef ROOMCAST_AUTH_H
#define ROOMCAST_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"

/* Reads the keys of every namespace of <cfg> with auth jwt.  Returns 0, or
 * -1 with "namespace NAME: PATH: reason" in <err>. */
int auth_init(const struct config *cfg, char *err, size_t err_len)
	__attribute__((warn_unused_result));
void auth_cleanup(void);

/* A reload (reload.h): reads the keys of <next> aside, the running ones
 * untouched (0, or -1 with the reason in <err>); once <next> has been
 * copied over the running config, commit puts them in use and frees the
 * old ones. */
int auth_reload_prepare(const struct config *next, char *err, size_t err_len)
	__attribute__((warn_unused_result));
void auth_reload_commit(void);

enum auth_verdict { AUTH_ACCEPT, AUTH_REFUSE, AUTH_WAIT };

/* Decides a CONNECT to namespace <ns> (one of the config's), whose auth
 * object is <payload> (NULL if none) on a session opened with bearer
 * token <bearer> ("" if none), at <now_s>.  AUTH_ACCEPT: the socket may
 * connect, with *<claims> the token's claims (a new reference the caller
 * owns; NULL under auth none).  AUTH_REFUSE: *<refusal> is the reason for
 * its connect_error, counted.  AUTH_WAIT, only when <may_wait> and the
 * namespace's jwt_jwks_wait is not 0: its jwt_jwks_url set lacks the
 * token's kid (or there is none yet) and a fetch that may bring it is
 * under way; the caller holds the CONNECT and asks again (without
 * <may_wait>) at the fetch's end.  Nothing is counted for it. */
enum auth_verdict auth_connect(const struct config_namespace *ns, const json_t *payload,
			       const char *bearer, int64_t now_s, bool may_wait, json_t **claims,
			       const char **refusal);

/* Why a CONNECT nsp.c held was refused (auth backend's wait for a
 * backend, or auth jwt's for a jwt_jwks_url fetch):
 * X(name, what the client reads, metrics label).  The client reads a
 * backend's own message when it refused. */
#define AUTH_BACKEND_MAP(X)                                                              \
	X(AUTH_BACKEND_REFUSED, "refused by the backend", "backend_refused")               \
	X(AUTH_BACKEND_TIMEOUT, "backend did not answer", "backend_did_not_answer")        \
	X(AUTH_BACKEND_BUSY, "too many connects waiting", "too_many_connects_waiting")     \
	X(AUTH_BACKEND_UNAVAILABLE, "backend unavailable", "backend_unavailable")          \
	X(AUTH_BACKEND_INVALID, "invalid backend answer", "invalid_backend_answer")        \
	X(AUTH_KEYS_TIMEOUT, "signing keys not fetched in time", "signing_keys_not_fetched_in_time")

enum auth_backend_reason {
#define AUTH_BACKEND_ENUM(name, text, label) name,
	AUTH_BACKEND_MAP(AUTH_BACKEND_ENUM)
#undef AUTH_BACKEND_ENUM
	AUTH_BACKEND_N_REASONS
};

/* Counts a refusal for <why>; returns what the client reads (for
 * AUTH_BACKEND_REFUSED the caller sends the backend's message instead). */
const char *auth_backend_refuse(enum auth_backend_reason why);

/* When a socket connected with <claims> must be closed: the token's exp
 * plus the leeway it was checked with, in seconds since the epoch; 0 if
 * it does not expire. */
int64_t auth_expiry(const struct config_namespace *ns, const json_t *claims);

/* The user room <claims> give under ns->user_room, written into <out>
 * (<out_len> bytes): its length, or 0 if there is none (no template, a
 * claim missing or of another type, a value holding one of the
 * namespace's separators (config_value_is_separated()), or a name longer
 * than <out_len>). */
size_t auth_user_room(const struct config_namespace *ns, const json_t *claims, char *out,
		      size_t out_len);

/* The value of the placeholder whose braces hold <name> (<name_len>
 * bytes): `auth.FIELD` from the CONNECT auth object <payload>, `sub` and
 * `claims.FIELD` from <claims> (either may be NULL).  A string is as it is,
 * an integer in decimal (written into <number>); anything else, or a
 * missing field, is NULL.  The bytes live as long as their object, or
 * until the next call with the same <number>. */
const char *auth_placeholder_value(const json_t *payload, const json_t *claims, const char *name,
				   size_t name_len, char number[static 24], size_t *len);

/* The claim <name> of <claims> if it is an array ("" or no such claim:
 * NULL): rooms_claim's rooms, allow_join_claim's globs.  Borrowed. */
const json_t *auth_claim_list(const json_t *claims, const char *name);

#endif
