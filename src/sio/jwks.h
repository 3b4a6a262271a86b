/* jwks.h - JWK Sets fetched from an identity provider's URL (jwt_jwks_url).
 *
 * Identity providers (Auth0, Keycloak, Cognito, ...) publish the keys
 * their tokens are signed with at a URL and rotate them.  For each
 * namespace with jwt_jwks_url this module fetches that set over HTTPS
 * without blocking the loop, keeps the last good one, fetches it again
 * every jwt_jwks_refresh, and sooner when a token names a kid it does
 * not know (at most once per jwt_jwks_refresh_min).  A failed fetch keeps
 * the last good set.  auth.c asks it for the keys of a CONNECT's
 * namespace and whether a fetch is under way; nsp.c holds such a CONNECT
 * until jwks calls it back at the end of the fetch (jwks_set_fetch_end()).
 */
#ifndef ROOMCAST_JWKS_H
#define ROOMCAST_JWKS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct event_base;
struct jwt_keys;

/* Whether the CA file <path> holds at least one certificate we can read;
 * -1 with "PATH: reason" in <err>.  For -t and a reload's checks. */
int jwks_ca_check(const char *path, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* Starts a fetch for every namespace of <cfg> with jwt_jwks_url.  A fetch
 * that fails is not a start-up failure (the provider may be down); -1 only
 * when the TLS or DNS machinery cannot be set up. */
int jwks_init(struct event_base *base, const struct config *cfg)
	__attribute__((warn_unused_result));

/* After a reload: a URL (and CA file) still in use keeps its set and its
 * schedule, with the new block's bounds; a new one is fetched at once;
 * one no longer named is dropped.  0, or -1 if memory ran out. */
int jwks_reload(void);

void jwks_cleanup(void);

/* The last good set of <ns>'s jwt_jwks_url, NULL before the first fetch
 * succeeded.  Borrowed: valid until the loop runs again. */
const struct jwt_keys *jwks_keys(const struct config_namespace *ns);

/* A token for <ns> named a kid its set does not hold (or there is no set
 * yet): fetch again now, or at jwt_jwks_refresh_min after the last fetch
 * started, whichever is later.  Does nothing while a fetch is running.
 * Returns jwks_fetch_under_way(<ns>): whether waiting for the fetch may
 * bring the kid, or only a later one (rate-limited) can. */
bool jwks_refresh_wanted(const struct config_namespace *ns);

/* Whether a fetch of <ns>'s set is running or due now (it starts once the
 * loop runs again): its end will call the fetch_end callback. */
bool jwks_fetch_under_way(const struct config_namespace *ns);

/* <cb> is called at the end of every fetch, whatever its outcome, once
 * the set is replaced or kept (from the loop; no fetch is running for that
 * set then).  Set once at start-up: nsp.c ends the CONNECTs it holds. */
void jwks_set_fetch_end(void (*cb)(void));

#endif
