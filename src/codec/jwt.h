/* jwt.h - JSON Web Token verifier: a namespace's keys, and the check of a
 * compact JWS token against them and a policy (issue #12).
 *
 * Owns the keys one namespace trusts and the verdict on one token: the
 * compact serialization (RFC 7515 7.1), the algorithms of RFC 7518 3 and
 * RFC 8037 (HS*, RS*, PS*, ES*, EdDSA with Ed25519), and the registered
 * claims exp, nbf, iss, aud and sub (RFC 7519 4.1).  Does not own where a
 * token comes from (CONNECT auth.token, Authorization: Bearer), which
 * namespace asks, nor what a refusal does to the client: the caller sends
 * jwt_result_text() in its connect_error and counts it.
 *
 * jwt_verify() is pure (no I/O, no logging, no globals written but
 * OpenSSL's per-thread error queue, which it leaves empty): it can be unit
 * tested and fuzzed.  jwt_keys_load() reads one file, at start-up or on
 * reload.  Never accepted: alg "none" in any case, a key named or carried
 * by the token itself (jwk, jku, x5u, x5c are ignored), an algorithm that
 * does not fit the key's type (the HS/RS confusion), a crit header.
 */
#ifndef ROOMCAST_JWT_H
#define ROOMCAST_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Longest key file jwt_keys_load() reads. */
#define JWT_KEY_FILE_MAX (1024 * 1024)
/* Shortest HMAC secret: RFC 7518 3.2 asks for at least the hash's size;
 * HS384 and HS512 ask for 48 and 64 bytes at verify time. */
#define JWT_SECRET_MIN_BYTES 32
/* Smallest RSA modulus accepted (RFC 7518 3.3). */
#define JWT_RSA_MIN_BITS 2048

/* Results: X(name, value, reason).  <reason> is what a client developer
 * reads in its connect_error, and the metrics label: short, and saying
 * what to fix. */
#define JWT_RESULT_MAP(X)                                                   \
	X(JWT_OK, 0, "ok")                                                  \
	X(JWT_ERR_TOO_LONG, -1, "token too long")                           \
	X(JWT_ERR_MALFORMED, -2, "malformed token")                         \
	X(JWT_ERR_ALG, -3, "unsupported algorithm")                         \
	X(JWT_ERR_CRIT, -4, "unsupported critical header")                  \
	X(JWT_ERR_TYP, -5, "token type is not JWT")                         \
	X(JWT_ERR_NO_KEY_FOR_KID, -6, "no key for kid")                     \
	X(JWT_ERR_KID_NEEDED, -7, "token needs a kid")                      \
	X(JWT_ERR_KEY_ALG, -8, "algorithm does not match the key")          \
	X(JWT_ERR_SIGNATURE, -9, "bad signature")                           \
	X(JWT_ERR_EXPIRED, -10, "token expired")                            \
	X(JWT_ERR_NOT_YET_VALID, -11, "token not yet valid")                \
	X(JWT_ERR_ISSUER, -12, "wrong issuer")                              \
	X(JWT_ERR_AUDIENCE, -13, "wrong audience")                          \
	X(JWT_ERR_JSON_BUDGET, -14, "token JSON too costly to parse")       \
	X(JWT_ERR_NOMEM, -15, "out of memory")                              \
	X(JWT_ERR_NO_KEYS, -16, "signing keys not fetched yet")

enum jwt_result {
#define JWT_RESULT_ENUM(name, value, reason) name = value,
	JWT_RESULT_MAP(JWT_RESULT_ENUM)
#undef JWT_RESULT_ENUM
};

const char *jwt_result_text(enum jwt_result r);

/* The verification keys of one namespace: private to jwt.c. */
struct jwt_keys;

enum jwt_key_source {
	JWT_KEY_SECRET, /* HMAC secret: the file's bytes, one trailing '\n' dropped */
	JWT_KEY_PEM,    /* one PEM "PUBLIC KEY": RSA, EC P-256/384/521, Ed25519 */
	JWT_KEY_JWKS,   /* a JWK Set: {"keys":[...]} of RSA, EC and OKP keys */
};

/* Reads the file at <path> (at most JWT_KEY_FILE_MAX bytes) as <src>.
 * Refused: a secret under JWT_SECRET_MIN_BYTES, an RSA key under
 * JWT_RSA_MIN_BITS, another curve, a JWKS key of a supported type that
 * does not parse, a file with no usable key.  In a JWKS, keys whose "use"
 * is not "sig", or whose kty, crv or alg we do not implement, are skipped.
 * Returns 0 with *<out> set (free with jwt_keys_free()), or -1 with
 * "<path>: <reason>" in <err>. */
int jwt_keys_load(struct jwt_keys **out, enum jwt_key_source src, const char *path,
		  char *err, size_t err_len) __attribute__((warn_unused_result));

/* The same from the <len> bytes at <text> (a fetched JWKS, jwks.c),
 * named <name> in <err>; a JWKS listing more than <max_keys> keys is
 * refused. */
int jwt_keys_parse(struct jwt_keys **out, enum jwt_key_source src, const char *name,
		   const uint8_t *text, size_t len, size_t max_keys, char *err, size_t err_len)
	__attribute__((warn_unused_result));

/* How many keys <k> holds (0 for NULL). */
size_t jwt_keys_count(const struct jwt_keys *k);

/* Does nothing for NULL. */
void jwt_keys_free(struct jwt_keys *k);

struct jwt_policy {
	const char *issuer;   /* "iss" must equal it; NULL: not checked */
	const char *audience; /* "aud" (a string, or an array holding it) must match; NULL: not checked */
	uint32_t leeway_s;    /* clock skew allowed for exp and nbf */
	size_t max_len;       /* longest token accepted, in bytes */
};

/* Verifies the compact JWS <token> (<len> bytes, no NUL needed) with <k>
 * (NULL: no keys yet, JWT_ERR_NO_KEYS once the token's shape is checked)
 * and <p> at <now_s> (seconds since the epoch).  Order: length, shape and
 * header, key choice, signature, then the claims, so that nothing about
 * the claims is told for a token whose signature does not verify.  On
 * JWT_OK *<claims> is the payload object, a new reference the caller
 * owns; otherwise NULL. */
enum jwt_result jwt_verify(const struct jwt_keys *k, const struct jwt_policy *p,
			   const char *token, size_t len, int64_t now_s, json_t **claims)
	__attribute__((warn_unused_result));

/* The "exp" of claims jwt_verify() accepted, in whole seconds rounded
 * down (0 when there is none), for closing the session when it passes. */
int64_t jwt_claims_exp(const json_t *claims);

#endif
