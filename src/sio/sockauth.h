/* sockauth.h - what a socket keeps of its CONNECT auth and its token.
 *
 * One block per socket, of at most about twice max_auth_size, never a
 * parsed tree (jansson's is many times the text):
 *   - the auth text as the client sent it, for fetchSockets;
 *   - the value of every placeholder the namespace's room patterns hold
 *     ({auth.FIELD}, {sub}, {claims.FIELD}), and with auth jwt or backend
 *     the user's `sub`, looked up once at CONNECT so that a join never
 *     parses the auth or the token again;
 *   - the globs of the token's allow_join claim.
 * A value that is absent, of another type or longer than a room name may
 * be is left out: it could never match; so is a glob longer than a room
 * pattern may be.
 */
#ifndef ROOMCAST_SOCKAUTH_H
#define ROOMCAST_SOCKAUTH_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "config.h"

/* A field entry is what the placeholder's braces hold, a NUL, a 2-byte
 * length and the value (a string as it is, an integer in decimal); a glob
 * entry is a 2-byte length and the glob. */
struct sockauth {
	struct event *expiry;          /* the owner's: closes the session when the token expires */
	char *backend_data;            /* auth backend: the data a backend gave, JSON text,
	                                  heap, at most max_auth_size; NULL if none */
	size_t json_len;
	size_t fields_len;
	size_t globs_len;
	char data[];                   /* json_len bytes of text, the fields, then the globs */
};

/* The block of namespace <ns>'s socket whose CONNECT auth is <json_len>
 * bytes of <json> (parsed: <payload>, an object or NULL) and whose token
 * has <claims> (NULL if none); values longer than <max_value> are left
 * out.  NULL if memory ran out.  sockauth_free() frees it, its expiry
 * event and its backend_data. */
struct sockauth *sockauth_new(const struct config_namespace *ns, const char *json,
			      size_t json_len, const json_t *payload, const json_t *claims,
			      size_t max_value) __attribute__((warn_unused_result));
void sockauth_free(struct sockauth *a);

/* The value kept for placeholder <field> (what its braces hold, e.g.
 * "auth.room" or "sub"), *<value_len> bytes, not NUL-terminated; NULL if
 * none was. */
const char *sockauth_find(const struct sockauth *a, const char *field, size_t field_len,
			  size_t *value_len);

/* Whether one of the allow_join globs <a> keeps (NULL: none) lets its
 * socket join <room>. */
bool sockauth_may_join(const struct sockauth *a, const char *room, size_t room_len);

#endif
