/* jwt.c - JSON Web Token verifier (see jwt.h).
 *
 * Owns the strict base64url decoder, the header and claims checks, the
 * choice of a key for a token, the signature check through OpenSSL 3's EVP
 * interface, and the loading of keys from a secret, PEM or JWKS file.
 * Does not own where tokens come from nor what a refusal does (nsp.c).
 *
 * Flow of jwt_verify(): the length against max_len; the split into exactly
 * three parts of the base64url alphabet; the header, decoded and parsed
 * with jsonmem_load() (duplicate keys refused: a second "alg" must not
 * mean one thing here and another in the issuer's library); alg, crit, typ
 * and kid; the key (jwt_key_fits() holds every algorithm/key-type rule);
 * the signature over the token's first two parts as sent; only then the
 * payload, decoded, parsed and checked against the policy.
 *
 * Keys are ours, never the token's: the jwk, jku, x5u and x5c headers are
 * ignored.  An algorithm is accepted only with a key of its own type, so
 * an HS256 token "signed" with an RSA public key's PEM text as the secret
 * meets an RSA key and is refused; an HMAC secret must be as long as the
 * algorithm's hash (RFC 7518 3.2).  ECDSA signatures are raw r||s (RFC
 * 7518 3.4) of exactly twice the curve's size, re-encoded in DER for
 * OpenSSL; PSS uses a salt of the digest's length (RFC 7518 3.5).
 *
 * Memory: the decode buffer, the key set and its copies come from
 * jansson's allocator (jsonmem_malloc), so a test's failing allocator
 * reaches them; OpenSSL allocates on its own and a failure there is
 * JWT_ERR_NOMEM too.  Every OpenSSL error is cleared before returning.
 * Limits: max_len per token; key files of JWT_KEY_FILE_MAX bytes; each
 * parsed part within jsonmem_budget() of its length.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jsonmem.h"
#include "jwt.h"

/* What a key is, as far as choosing an algorithm goes. */
enum jwt_kty {
	JWT_KTY_HMAC,
	JWT_KTY_RSA,
	JWT_KTY_P256,
	JWT_KTY_P384,
	JWT_KTY_P521,
	JWT_KTY_ED25519,
};

enum jwt_sig_kind {
	JWT_SIG_HMAC,
	JWT_SIG_PKCS1,
	JWT_SIG_PSS,
	JWT_SIG_ECDSA,
	JWT_SIG_EDDSA,
};

struct jwt_alg {
	const char *name;               /* the "alg" value, compared exactly */
	enum jwt_kty kty;               /* the only key type it runs with */
	enum jwt_sig_kind kind;
	const EVP_MD *(*md)(void);      /* NULL for EdDSA (it hashes itself) */
	size_t size;                    /* HMAC: shortest secret; ECDSA, EdDSA: signature bytes */
};

/* RFC 7518 3.1 and RFC 8037 3.1.  "none" is not here, in any case. */
static const struct jwt_alg jwt_algs[] = {
	{ "HS256", JWT_KTY_HMAC, JWT_SIG_HMAC, EVP_sha256, 32 },
	{ "HS384", JWT_KTY_HMAC, JWT_SIG_HMAC, EVP_sha384, 48 },
	{ "HS512", JWT_KTY_HMAC, JWT_SIG_HMAC, EVP_sha512, 64 },
	{ "RS256", JWT_KTY_RSA, JWT_SIG_PKCS1, EVP_sha256, 0 },
	{ "RS384", JWT_KTY_RSA, JWT_SIG_PKCS1, EVP_sha384, 0 },
	{ "RS512", JWT_KTY_RSA, JWT_SIG_PKCS1, EVP_sha512, 0 },
	{ "PS256", JWT_KTY_RSA, JWT_SIG_PSS, EVP_sha256, 0 },
	{ "PS384", JWT_KTY_RSA, JWT_SIG_PSS, EVP_sha384, 0 },
	{ "PS512", JWT_KTY_RSA, JWT_SIG_PSS, EVP_sha512, 0 },
	{ "ES256", JWT_KTY_P256, JWT_SIG_ECDSA, EVP_sha256, 64 },
	{ "ES384", JWT_KTY_P384, JWT_SIG_ECDSA, EVP_sha384, 96 },
	{ "ES512", JWT_KTY_P521, JWT_SIG_ECDSA, EVP_sha512, 132 },
	{ "EdDSA", JWT_KTY_ED25519, JWT_SIG_EDDSA, NULL, 64 },
};

#define JWT_N_ALGS (sizeof(jwt_algs) / sizeof(jwt_algs[0]))

/* The curves we verify with: JWK "crv", OpenSSL's group name, and the
 * bytes of one coordinate (the size of r and of s too). */
static const struct {
	const char *crv;
	const char *group;
	size_t coord_bytes;
	enum jwt_kty kty;
} jwt_curves[] = {
	{ "P-256", "prime256v1", 32, JWT_KTY_P256 },
	{ "P-384", "secp384r1", 48, JWT_KTY_P384 },
	{ "P-521", "secp521r1", 66, JWT_KTY_P521 },
};

#define JWT_N_CURVES (sizeof(jwt_curves) / sizeof(jwt_curves[0]))
#define JWT_COORD_MAX 66
#define JWT_ED25519_BYTES 32

struct jwt_key {
	enum jwt_kty kty;
	EVP_PKEY *pkey;            /* owned; NULL for an HMAC secret */
	uint8_t *secret;           /* owned; HMAC only, wiped when freed */
	size_t secret_len;
	char *kid;                 /* owned copy of the JWK's "kid"; NULL: none */
	size_t kid_len;            /* a kid may hold \u0000: compared by length */
	const struct jwt_alg *alg; /* the JWK's "alg"; NULL: any that fits kty */
};

struct jwt_keys {
	bool is_jwks;              /* kids are looked at only in a JWKS */
	size_t n;
	struct jwt_key keys[];
};

const char *jwt_result_text(enum jwt_result r)
{
	switch (r) {
#define JWT_RESULT_TEXT(name, value, reason) \
	case name:                           \
		return reason;
		JWT_RESULT_MAP(JWT_RESULT_TEXT)
#undef JWT_RESULT_TEXT
	}
	return "unknown result";
}

/* ---- base64url (RFC 7515 2, RFC 4648 5): no padding, no whitespace ---- */

static int jwt_b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* True if <len> characters of <s> can be base64url text: the alphabet,
 * and a length no encoding has (4n + 1) refused. */
static bool jwt_b64_is_text(const char *s, size_t len)
{
	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
		if (jwt_b64_value((uint8_t)s[i]) < 0)
			return false;
	return true;
}

/* Decodes <len> characters of <s> into <out> (room for len * 3 / 4
 * bytes); *<out_len> is the bytes written.  The bits a short last group
 * does not use must be zero, so every byte string has one spelling and a
 * signature cannot be altered without changing what it decodes to. */
static bool jwt_b64_decode(const char *s, size_t len, uint8_t *out, size_t *out_len)
{
	uint32_t acc = 0;
	size_t n = 0, i;

	if (!jwt_b64_is_text(s, len))
		return false;
	for (i = 0; i + 4 <= len; i += 4) {
		acc = (uint32_t)jwt_b64_value((uint8_t)s[i]) << 18 |
		      (uint32_t)jwt_b64_value((uint8_t)s[i + 1]) << 12 |
		      (uint32_t)jwt_b64_value((uint8_t)s[i + 2]) << 6 |
		      (uint32_t)jwt_b64_value((uint8_t)s[i + 3]);
		out[n++] = (uint8_t)(acc >> 16);
		out[n++] = (uint8_t)(acc >> 8);
		out[n++] = (uint8_t)acc;
	}
	if (len - i == 2) {
		acc = (uint32_t)jwt_b64_value((uint8_t)s[i]) << 6 |
		      (uint32_t)jwt_b64_value((uint8_t)s[i + 1]);
		if ((acc & 0x0f) != 0)
			return false;
		out[n++] = (uint8_t)(acc >> 4);
	} else if (len - i == 3) {
		acc = (uint32_t)jwt_b64_value((uint8_t)s[i]) << 12 |
		      (uint32_t)jwt_b64_value((uint8_t)s[i + 1]) << 6 |
		      (uint32_t)jwt_b64_value((uint8_t)s[i + 2]);
		if ((acc & 0x03) != 0)
			return false;
		out[n++] = (uint8_t)(acc >> 10);
		out[n++] = (uint8_t)(acc >> 2);
	}
	*out_len = n;
	return true;
}

/* ---- small helpers ---- */

/* True if the JSON string <s> is exactly <want> (a \u0000 inside <s>
 * never matches). */
static bool jwt_str_is(const json_t *s, const char *want)
{
	size_t len = strlen(want);

	return json_string_length(s) == len && memcmp(json_string_value(s), want, len) == 0;
}

static const struct jwt_alg *jwt_alg_find(const json_t *name)
{
	for (size_t i = 0; i < JWT_N_ALGS; i++)
		if (jwt_str_is(name, jwt_algs[i].name))
			return &jwt_algs[i];
	return NULL;
}

/* Parses <len> bytes of untrusted text that must be one JSON object. */
static enum jwt_result jwt_json_object(const uint8_t *text, size_t len, json_t **out)
{
	switch (jsonmem_load(text, len, JSON_REJECT_DUPLICATES, out)) {
	case JSONMEM_OK:
		break;
	case JSONMEM_ERR_NOMEM:
		return JWT_ERR_NOMEM;
	case JSONMEM_ERR_BUDGET:
		return JWT_ERR_JSON_BUDGET;
	default:
		return JWT_ERR_MALFORMED;
	}
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return JWT_ERR_MALFORMED;
	}
	return JWT_OK;
}

/* ---- the token's parts and header ---- */

struct jwt_part {
	const char *text;
	size_t len;
};

/* Exactly three parts, each of base64url text. */
static enum jwt_result jwt_token_split(const char *token, size_t len, struct jwt_part parts[3])
{
	size_t start = 0, n = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && token[i] != '.')
			continue;
		if (n == 3)
			return JWT_ERR_MALFORMED;
		parts[n].text = token + start;
		parts[n].len = i - start;
		if (!jwt_b64_is_text(parts[n].text, parts[n].len))
			return JWT_ERR_MALFORMED;
		n++;
		start = i + 1;
	}
	return n == 3 ? JWT_OK : JWT_ERR_MALFORMED;
}

struct jwt_header {
	json_t *json;              /* owned; kid points into it */
	const struct jwt_alg *alg;
	const json_t *kid;         /* a string, or NULL */
};

/* RFC 7515 4.1: crit names extensions we would have to understand, and
 * we understand none; typ, when given, says JWT (RFC 7519 5.1). */
static enum jwt_result jwt_header_check(struct jwt_header *h)
{
	const json_t *alg = json_object_get(h->json, "alg");
	const json_t *typ = json_object_get(h->json, "typ");

	if (!json_is_string(alg))
		return JWT_ERR_MALFORMED;
	if (json_object_get(h->json, "crit") != NULL)
		return JWT_ERR_CRIT;
	if (typ != NULL && !(json_is_string(typ) && json_string_length(typ) == 3 &&
			     strncasecmp(json_string_value(typ), "JWT", 3) == 0))
		return JWT_ERR_TYP;
	h->kid = json_object_get(h->json, "kid");
	if (h->kid != NULL && !json_is_string(h->kid))
		return JWT_ERR_MALFORMED;
	h->alg = jwt_alg_find(alg);
	return h->alg != NULL ? JWT_OK : JWT_ERR_ALG;
}

static enum jwt_result jwt_header_read(const struct jwt_part *part, uint8_t *buf,
				       struct jwt_header *h)
{
	size_t len;
	enum jwt_result r;

	if (!jwt_b64_decode(part->text, part->len, buf, &len))
		return JWT_ERR_MALFORMED;
	r = jwt_json_object(buf, len, &h->json);
	return r == JWT_OK ? jwt_header_check(h) : r;
}

/* ---- signatures ---- */

static enum jwt_result jwt_hmac_check(const struct jwt_key *key, const struct jwt_alg *alg,
				      const uint8_t *input, size_t input_len,
				      const uint8_t *sig, size_t sig_len)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (HMAC(alg->md(), key->secret, (int)key->secret_len, input, input_len, mac, &mac_len) ==
	    NULL)
		return JWT_ERR_NOMEM;
	/* The length is public (the algorithm's); the bytes are compared in
	 * constant time, so a forger learns nothing from how long we took. */
	if (sig_len != mac_len || CRYPTO_memcmp(mac, sig, mac_len) != 0)
		return JWT_ERR_SIGNATURE;
	return JWT_OK;
}

/* Writes the DER INTEGER of the unsigned big-endian <v> (<n> bytes, at
 * most JWT_COORD_MAX); returns the bytes written (at most n + 3). */
static size_t jwt_der_integer(uint8_t *out, const uint8_t *v, size_t n)
{
	size_t pad;

	while (n > 1 && v[0] == 0) {
		v++;
		n--;
	}
	pad = (v[0] & 0x80) != 0;
	out[0] = 0x02;
	out[1] = (uint8_t)(n + pad);
	out[2] = 0;
	memcpy(out + 2 + pad, v, n);
	return 2 + pad + n;
}

/* Room for SEQUENCE { INTEGER r, INTEGER s } of the largest curve. */
#define JWT_DER_SIG_MAX (3 + 2 * (3 + JWT_COORD_MAX))

/* JWS carries ECDSA as r||s (RFC 7518 3.4), OpenSSL wants DER. */
static size_t jwt_ecdsa_der(uint8_t out[JWT_DER_SIG_MAX], const uint8_t *sig, size_t sig_len)
{
	uint8_t body[2 * (3 + JWT_COORD_MAX)];
	size_t half = sig_len / 2, n, h = 0;

	n = jwt_der_integer(body, sig, half);
	n += jwt_der_integer(body + n, sig + half, half);
	out[h++] = 0x30;
	if (n >= 0x80)
		out[h++] = 0x81;
	out[h++] = (uint8_t)n;
	memcpy(out + h, body, n);
	return h + n;
}

/* One EVP_DigestVerify.  Given a key that loaded and a digest from our
 * table, setting up fails only for want of memory. */
static enum jwt_result jwt_evp_check(const struct jwt_key *key, const struct jwt_alg *alg,
				     const uint8_t *input, size_t input_len,
				     const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	enum jwt_result r = JWT_ERR_NOMEM;

	if (ctx == NULL)
		return JWT_ERR_NOMEM;
	if (EVP_DigestVerifyInit(ctx, &pctx, alg->md != NULL ? alg->md() : NULL, NULL,
				 key->pkey) != 1)
		goto out;
	if (alg->kind == JWT_SIG_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		goto out;
	r = EVP_DigestVerify(ctx, sig, sig_len, input, input_len) == 1 ? JWT_OK
									 : JWT_ERR_SIGNATURE;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

static enum jwt_result jwt_sig_check(const struct jwt_key *key, const struct jwt_alg *alg,
				     const uint8_t *input, size_t input_len,
				     const uint8_t *sig, size_t sig_len)
{
	uint8_t der[JWT_DER_SIG_MAX];

	switch (alg->kind) {
	case JWT_SIG_HMAC:
		return jwt_hmac_check(key, alg, input, input_len, sig, sig_len);
	case JWT_SIG_ECDSA:
		if (sig_len != alg->size)
			return JWT_ERR_SIGNATURE;
		return jwt_evp_check(key, alg, input, input_len, der,
				     jwt_ecdsa_der(der, sig, sig_len));
	case JWT_SIG_EDDSA:
		if (sig_len != alg->size)
			return JWT_ERR_SIGNATURE;
		return jwt_evp_check(key, alg, input, input_len, sig, sig_len);
	case JWT_SIG_PKCS1:
	case JWT_SIG_PSS:
		return jwt_evp_check(key, alg, input, input_len, sig, sig_len);
	}
	return JWT_ERR_ALG;
}

/* ---- choosing the key ---- */

/* Every rule tying an algorithm to a key: its type (so no HS/RS or RS/EC
 * confusion, ES256 only on P-256), the JWK's own alg, and an HMAC secret
 * at least as long as the hash. */
static bool jwt_key_fits(const struct jwt_key *key, const struct jwt_alg *alg)
{
	if (key->kty != alg->kty || (key->alg != NULL && key->alg != alg))
		return false;
	return alg->kind != JWT_SIG_HMAC || key->secret_len >= alg->size;
}

static bool jwt_key_has_kid(const struct jwt_key *key, const json_t *kid)
{
	return key->kid != NULL && key->kid_len == json_string_length(kid) &&
	       memcmp(key->kid, json_string_value(kid), key->kid_len) == 0;
}

/* With a kid (JWKS only), the keys of that kid that fit the algorithm
 * are tried in turn: RFC 7517 4.5 lets one kid name a key in several
 * forms.  Without one, the single key fitting the algorithm, if there is
 * exactly one. */
static enum jwt_result jwt_keys_check(const struct jwt_keys *k, const struct jwt_header *h,
				      const uint8_t *input, size_t input_len,
				      const uint8_t *sig, size_t sig_len)
{
	const struct jwt_key *only = NULL;
	bool kid_seen = false;
	enum jwt_result r = JWT_ERR_KEY_ALG;

	for (size_t i = 0; i < k->n; i++) {
		const struct jwt_key *key = &k->keys[i];

		if (k->is_jwks && h->kid != NULL) {
			if (!jwt_key_has_kid(key, h->kid))
				continue;
			kid_seen = true;
			if (!jwt_key_fits(key, h->alg))
				continue;
			r = jwt_sig_check(key, h->alg, input, input_len, sig, sig_len);
			if (r != JWT_ERR_SIGNATURE)
				return r;
		} else if (jwt_key_fits(key, h->alg)) {
			if (only != NULL)
				return JWT_ERR_KID_NEEDED;
			only = key;
		}
	}
	if (k->is_jwks && h->kid != NULL)
		return kid_seen ? r : JWT_ERR_NO_KEY_FOR_KID;
	if (only == NULL)
		return JWT_ERR_KEY_ALG;
	return jwt_sig_check(only, h->alg, input, input_len, sig, sig_len);
}

/* ---- claims (RFC 7519 4.1) ---- */

/* NumericDate may be an integer or a real.  long double holds every
 * int64 and every double exactly, so now +- leeway compares exactly. */
static long double jwt_number(const json_t *v)
{
	return json_is_integer(v) ? (long double)json_integer_value(v)
				  : (long double)json_real_value(v);
}

static bool jwt_aud_is_valid(const json_t *aud)
{
	size_t i;
	const json_t *v;

	if (aud == NULL || json_is_string(aud))
		return true;
	if (!json_is_array(aud))
		return false;
	json_array_foreach(aud, i, v)
		if (!json_is_string(v))
			return false;
	return true;
}

static bool jwt_aud_has(const json_t *aud, const char *want)
{
	size_t i;
	const json_t *v;

	if (json_is_string(aud))
		return jwt_str_is(aud, want);
	json_array_foreach(aud, i, v)
		if (jwt_str_is(v, want))
			return true;
	return false;
}

/* Types first, whatever the policy: a wrong type is the issuer's bug,
 * told as such.  sub is the caller's user id, used as a C string. */
static bool jwt_claims_are_typed(const json_t *c)
{
	const json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
	const json_t *iss = json_object_get(c, "iss"), *sub = json_object_get(c, "sub");

	if ((exp != NULL && !json_is_number(exp)) || (nbf != NULL && !json_is_number(nbf)))
		return false;
	if (iss != NULL && !json_is_string(iss))
		return false;
	if (sub != NULL && !(json_is_string(sub) &&
			     strlen(json_string_value(sub)) == json_string_length(sub)))
		return false;
	return jwt_aud_is_valid(json_object_get(c, "aud"));
}

static enum jwt_result jwt_claims_check(const json_t *c, const struct jwt_policy *p,
					int64_t now_s)
{
	const json_t *exp = json_object_get(c, "exp"), *nbf = json_object_get(c, "nbf");
	const json_t *iss = json_object_get(c, "iss"), *aud = json_object_get(c, "aud");
	long double now = (long double)now_s, leeway = (long double)p->leeway_s;

	if (!jwt_claims_are_typed(c))
		return JWT_ERR_MALFORMED;
	/* Valid while now < exp (RFC 7519 4.1.4) and from nbf on (4.1.5). */
	if (exp != NULL && now - leeway >= jwt_number(exp))
		return JWT_ERR_EXPIRED;
	if (nbf != NULL && now + leeway < jwt_number(nbf))
		return JWT_ERR_NOT_YET_VALID;
	if (p->issuer != NULL && (iss == NULL || !jwt_str_is(iss, p->issuer)))
		return JWT_ERR_ISSUER;
	if (p->audience != NULL && (aud == NULL || !jwt_aud_has(aud, p->audience)))
		return JWT_ERR_AUDIENCE;
	return JWT_OK;
}

static enum jwt_result jwt_claims_read(const struct jwt_part *part, uint8_t *buf,
				       const struct jwt_policy *p, int64_t now_s, json_t **claims)
{
	size_t len;
	enum jwt_result r;

	if (!jwt_b64_decode(part->text, part->len, buf, &len))
		return JWT_ERR_MALFORMED;
	r = jwt_json_object(buf, len, claims);
	if (r == JWT_OK)
		r = jwt_claims_check(*claims, p, now_s);
	if (r != JWT_OK) {
		json_decref(*claims);
		*claims = NULL;
	}
	return r;
}

/* ---- jwt_verify ---- */

/* After the header: the signature, then the payload.  <buf> has room for
 * every part decoded. */
static enum jwt_result jwt_verify_parts(const struct jwt_keys *k, const struct jwt_policy *p,
					const struct jwt_part parts[3], const struct jwt_header *h,
					uint8_t *buf, int64_t now_s, json_t **claims)
{
	size_t sig_len, input_len = parts[0].len + 1 + parts[1].len;
	enum jwt_result r;

	if (!jwt_b64_decode(parts[2].text, parts[2].len, buf, &sig_len))
		return JWT_ERR_MALFORMED;
	if (k == NULL)
		return JWT_ERR_NO_KEYS;
	r = jwt_keys_check(k, h, (const uint8_t *)parts[0].text, input_len, buf, sig_len);
	if (r != JWT_OK)
		return r;
	return jwt_claims_read(&parts[1], buf, p, now_s, claims);
}

enum jwt_result jwt_verify(const struct jwt_keys *k, const struct jwt_policy *p,
			   const char *token, size_t len, int64_t now_s, json_t **claims)
{
	struct jwt_part parts[3];
	struct jwt_header h = { NULL, NULL, NULL };
	uint8_t *buf;
	enum jwt_result r;

	*claims = NULL;
	if (len > p->max_len)
		return JWT_ERR_TOO_LONG;
	r = jwt_token_split(token, len, parts);
	if (r != JWT_OK)
		return r;
	/* Each part decodes to fewer bytes than its text. */
	buf = jsonmem_malloc(len);
	if (buf == NULL)
		return JWT_ERR_NOMEM;
	r = jwt_header_read(&parts[0], buf, &h);
	if (r == JWT_OK)
		r = jwt_verify_parts(k, p, parts, &h, buf, now_s, claims);
	json_decref(h.json);
	jsonmem_free(buf);
	ERR_clear_error();
	return r;
}

int64_t jwt_claims_exp(const json_t *claims)
{
	const json_t *exp = json_object_get(claims, "exp");
	long double v, t;

	if (!json_is_number(exp))
		return 0;
	v = jwt_number(exp);
	if (v >= 9223372036854775807.0L)
		return INT64_MAX;
	if (v <= -9223372036854775807.0L)
		return INT64_MIN;
	t = (long double)(int64_t)v;
	return (int64_t)v - (t > v ? 1 : 0);
}

/* ---- loading keys ---- */

/* Where a load reports: "<path>: <reason>", and the most keys a JWKS
 * may list. */
struct jwt_load {
	const char *path;
	char *err;
	size_t err_len;
	size_t max_keys;
};

__attribute__((format(printf, 2, 3)))
static int jwt_load_fail(const struct jwt_load *ld, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->err_len == 0)
		return -1;
	n = snprintf(ld->err, ld->err_len, "%s: ", ld->path);
	if (n >= 0 && (size_t)n < ld->err_len) {
		va_start(ap, fmt);
		vsnprintf(ld->err + n, ld->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void jwt_key_cleanup(struct jwt_key *key)
{
	EVP_PKEY_free(key->pkey);
	if (key->secret != NULL) {
		OPENSSL_cleanse(key->secret, key->secret_len);
		jsonmem_free(key->secret);
	}
	jsonmem_free(key->kid);
}

void jwt_keys_free(struct jwt_keys *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->n; i++)
		jwt_key_cleanup(&k->keys[i]);
	jsonmem_free(k);
}

static struct jwt_keys *jwt_keys_new(size_t cap, bool is_jwks)
{
	struct jwt_keys *k;

	if (cap > (SIZE_MAX - sizeof(*k)) / sizeof(k->keys[0]))
		return NULL;
	k = jsonmem_malloc(sizeof(*k) + cap * sizeof(k->keys[0]));
	if (k != NULL) {
		k->is_jwks = is_jwks;
		k->n = 0;
	}
	return k;
}

/* The whole file, at most JWT_KEY_FILE_MAX bytes, in a new buffer. */
static int jwt_file_read(const struct jwt_load *ld, uint8_t **out, size_t *out_len)
{
	FILE *f = fopen(ld->path, "rb");
	uint8_t *buf;
	size_t len;
	bool failed;

	if (f == NULL)
		return jwt_load_fail(ld, "%s", strerror(errno));
	buf = jsonmem_malloc(JWT_KEY_FILE_MAX + 1);
	if (buf == NULL) {
		fclose(f);
		return jwt_load_fail(ld, "out of memory");
	}
	len = fread(buf, 1, JWT_KEY_FILE_MAX + 1, f);
	failed = ferror(f) != 0;
	fclose(f);
	if (failed || len > JWT_KEY_FILE_MAX) {
		jsonmem_free(buf);
		return failed ? jwt_load_fail(ld, "read error")
			      : jwt_load_fail(ld, "larger than %d bytes", JWT_KEY_FILE_MAX);
	}
	*out = buf;
	*out_len = len;
	return 0;
}

static int jwt_keys_from_secret(const struct jwt_load *ld, const uint8_t *text, size_t len,
				struct jwt_keys **out)
{
	struct jwt_keys *k;
	struct jwt_key *key;

	/* Written by `echo` or an editor, the file ends in one newline that
	 * is not part of the secret. */
	if (len > 0 && text[len - 1] == '\n')
		len--;
	if (len < JWT_SECRET_MIN_BYTES)
		return jwt_load_fail(ld, "HMAC secret of %zu bytes: at least %d", len,
				     JWT_SECRET_MIN_BYTES);
	k = jwt_keys_new(1, false);
	if (k == NULL)
		return jwt_load_fail(ld, "out of memory");
	key = &k->keys[0];
	memset(key, 0, sizeof(*key));
	key->kty = JWT_KTY_HMAC;
	key->secret = jsonmem_malloc(len);
	if (key->secret == NULL) {
		jwt_keys_free(k);
		return jwt_load_fail(ld, "out of memory");
	}
	memcpy(key->secret, text, len);
	key->secret_len = len;
	k->n = 1;
	*out = k;
	return 0;
}

/* The curve of an EC key, and a check that its point is on it. */
static int jwt_pkey_curve(EVP_PKEY *pkey, enum jwt_kty *kty, char *why, size_t why_len)
{
	char group[64];
	size_t glen = 0;
	EVP_PKEY_CTX *ctx;
	int ok;

	if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1) {
		snprintf(why, why_len, "EC key without a named curve");
		return -1;
	}
	for (size_t i = 0; i < JWT_N_CURVES; i++) {
		if (strcmp(group, jwt_curves[i].group) != 0)
			continue;
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
		ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
		EVP_PKEY_CTX_free(ctx);
		if (!ok) {
			snprintf(why, why_len, "EC public key is not a point of %s",
				 jwt_curves[i].crv);
			return -1;
		}
		*kty = jwt_curves[i].kty;
		return 0;
	}
	snprintf(why, why_len, "EC key on curve %s: P-256, P-384 or P-521", group);
	return -1;
}

/* What <pkey> is to us, or -1 with the reason it is refused in <why>. */
static int jwt_pkey_kty(EVP_PKEY *pkey, enum jwt_kty *kty, char *why, size_t why_len)
{
	int bits;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		bits = EVP_PKEY_get_bits(pkey);
		if (bits < JWT_RSA_MIN_BITS) {
			snprintf(why, why_len, "RSA key of %d bits: at least %d", bits,
				 JWT_RSA_MIN_BITS);
			return -1;
		}
		*kty = JWT_KTY_RSA;
		return 0;
	}
	if (EVP_PKEY_is_a(pkey, "EC"))
		return jwt_pkey_curve(pkey, kty, why, why_len);
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*kty = JWT_KTY_ED25519;
		return 0;
	}
	snprintf(why, why_len, "unsupported key type %s", EVP_PKEY_get0_type_name(pkey));
	return -1;
}

static int jwt_keys_from_pem(const struct jwt_load *ld, const uint8_t *text, size_t len,
			     struct jwt_keys **out)
{
	BIO *bio = BIO_new_mem_buf(text, (int)len);
	EVP_PKEY *pkey;
	struct jwt_keys *k;
	enum jwt_kty kty;
	char why[128];

	if (bio == NULL)
		return jwt_load_fail(ld, "out of memory");
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL)
		return jwt_load_fail(ld, "no PEM public key in file");
	if (jwt_pkey_kty(pkey, &kty, why, sizeof(why)) != 0) {
		EVP_PKEY_free(pkey);
		return jwt_load_fail(ld, "%s", why);
	}
	k = jwt_keys_new(1, false);
	if (k == NULL) {
		EVP_PKEY_free(pkey);
		return jwt_load_fail(ld, "out of memory");
	}
	memset(&k->keys[0], 0, sizeof(k->keys[0]));
	k->keys[0].kty = kty;
	k->keys[0].pkey = pkey;
	k->n = 1;
	*out = k;
	return 0;
}

/* ---- JWKS (RFC 7517 5, RFC 7518 6, RFC 8037 2) ---- */

/* One JWK being read: its index for messages, and where it goes. */
struct jwt_jwk {
	const struct jwt_load *ld;
	size_t index;
	const json_t *json;
	struct jwt_key *key;
};

__attribute__((format(printf, 2, 3)))
static int jwt_jwk_fail(const struct jwt_jwk *j, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return jwt_load_fail(j->ld, "key %zu: %s", j->index, why);
}

/* Decodes the JWK member <name> into a new buffer. */
static int jwt_jwk_bytes(const struct jwt_jwk *j, const char *name, uint8_t **out,
			 size_t *out_len)
{
	const json_t *v = json_object_get(j->json, name);

	if (!json_is_string(v))
		return jwt_jwk_fail(j, "no \"%s\"", name);
	*out = jsonmem_malloc(json_string_length(v) + 1);
	if (*out == NULL)
		return jwt_jwk_fail(j, "out of memory");
	if (!jwt_b64_decode(json_string_value(v), json_string_length(v), *out, out_len) ||
	    *out_len == 0) {
		jsonmem_free(*out);
		*out = NULL;
		return jwt_jwk_fail(j, "\"%s\" is not base64url", name);
	}
	return 0;
}

/* Builds a public key of <type> from <params>; NULL when OpenSSL refuses
 * it (not a valid key, or out of memory). */
static EVP_PKEY *jwt_pkey_fromdata(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;

	if (ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static EVP_PKEY *jwt_rsa_fromdata(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len)
{
	BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_bin2bn(e, (int)e_len, NULL);
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pkey = NULL;

	if (bn_n != NULL && bn_e != NULL && bld != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1)
		params = OSSL_PARAM_BLD_to_param(bld);
	if (params != NULL)
		pkey = jwt_pkey_fromdata("RSA", params);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn_n);
	BN_free(bn_e);
	return pkey;
}

static int jwt_jwk_rsa(const struct jwt_jwk *j)
{
	uint8_t *n = NULL, *e = NULL;
	size_t n_len, e_len;
	int rc = -1;

	if (jwt_jwk_bytes(j, "n", &n, &n_len) == 0 && jwt_jwk_bytes(j, "e", &e, &e_len) == 0) {
		j->key->pkey = jwt_rsa_fromdata(n, n_len, e, e_len);
		rc = j->key->pkey != NULL ? 0 : jwt_jwk_fail(j, "not a valid RSA public key");
	}
	jsonmem_free(n);
	jsonmem_free(e);
	return rc;
}

/* One coordinate, exactly the curve's size (RFC 7518 6.2.1.2). */
static int jwt_jwk_coord(const struct jwt_jwk *j, const char *name, size_t size, uint8_t *out)
{
	uint8_t *v;
	size_t len;

	if (jwt_jwk_bytes(j, name, &v, &len) != 0)
		return -1;
	if (len != size) {
		jsonmem_free(v);
		return jwt_jwk_fail(j, "\"%s\" of %zu bytes: the curve needs %zu", name, len, size);
	}
	memcpy(out, v, size);
	jsonmem_free(v);
	return 0;
}

static int jwt_jwk_ec(const struct jwt_jwk *j, size_t curve)
{
	uint8_t point[1 + 2 * JWT_COORD_MAX];
	size_t size = jwt_curves[curve].coord_bytes;
	char group[16];
	OSSL_PARAM params[3];

	/* An uncompressed point: 0x04 || x || y (SEC 1 2.3.3). */
	point[0] = 0x04;
	if (jwt_jwk_coord(j, "x", size, point + 1) != 0 ||
	    jwt_jwk_coord(j, "y", size, point + 1 + size) != 0)
		return -1;
	snprintf(group, sizeof(group), "%s", jwt_curves[curve].group);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * size);
	params[2] = OSSL_PARAM_construct_end();
	j->key->pkey = jwt_pkey_fromdata("EC", params);
	return j->key->pkey != NULL ? 0 : jwt_jwk_fail(j, "not a point of %s", jwt_curves[curve].crv);
}

static int jwt_jwk_ed25519(const struct jwt_jwk *j)
{
	uint8_t x[JWT_ED25519_BYTES];

	if (jwt_jwk_coord(j, "x", sizeof(x), x) != 0)
		return -1;
	j->key->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, sizeof(x));
	return j->key->pkey != NULL ? 0 : jwt_jwk_fail(j, "not a valid Ed25519 key");
}

/* Builds the key of a JWK whose type we implement.  Returns 1 when built,
 * 0 when the type is one we skip (another kty, crv), -1 on an error. */
static int jwt_jwk_build(const struct jwt_jwk *j)
{
	const json_t *kty = json_object_get(j->json, "kty"), *crv = json_object_get(j->json, "crv");
	char why[128];

	if (!json_is_string(kty))
		return jwt_jwk_fail(j, "no \"kty\"");
	if (jwt_str_is(kty, "RSA")) {
		if (jwt_jwk_rsa(j) != 0)
			return -1;
	} else if (jwt_str_is(kty, "EC") && json_is_string(crv)) {
		size_t c = 0;

		while (c < JWT_N_CURVES && !jwt_str_is(crv, jwt_curves[c].crv))
			c++;
		if (c == JWT_N_CURVES)
			return 0;
		if (jwt_jwk_ec(j, c) != 0)
			return -1;
	} else if (jwt_str_is(kty, "OKP") && json_is_string(crv) && jwt_str_is(crv, "Ed25519")) {
		if (jwt_jwk_ed25519(j) != 0)
			return -1;
	} else {
		return 0;
	}
	if (jwt_pkey_kty(j->key->pkey, &j->key->kty, why, sizeof(why)) != 0)
		return jwt_jwk_fail(j, "%s", why);
	return 1;
}

/* "use" other than "sig" (RFC 7517 4.2) or an "alg" we do not implement:
 * the key is not for us.  Returns 1 to use it, 0 to skip, -1 on error. */
static int jwt_jwk_wanted(const struct jwt_jwk *j)
{
	const json_t *use = json_object_get(j->json, "use"), *alg = json_object_get(j->json, "alg");
	const json_t *kid = json_object_get(j->json, "kid");

	if (!json_is_object(j->json))
		return jwt_jwk_fail(j, "not an object");
	if ((use != NULL && !json_is_string(use)) || (alg != NULL && !json_is_string(alg)) ||
	    (kid != NULL && !json_is_string(kid)))
		return jwt_jwk_fail(j, "\"use\", \"alg\" and \"kid\" must be strings");
	if (use != NULL && !jwt_str_is(use, "sig"))
		return 0;
	return alg == NULL || jwt_alg_find(alg) != NULL;
}

/* Reads JWK <j> into j->key (zeroed).  1: a key; 0: skipped; -1: error. */
static int jwt_jwk_read(const struct jwt_jwk *j)
{
	const json_t *alg, *kid;
	int rc = jwt_jwk_wanted(j);

	if (rc == 1)
		rc = jwt_jwk_build(j);
	if (rc != 1)
		return rc;
	alg = json_object_get(j->json, "alg");
	kid = json_object_get(j->json, "kid");
	if (alg != NULL) {
		j->key->alg = jwt_alg_find(alg);
		if (j->key->alg->kty != j->key->kty)
			return jwt_jwk_fail(j, "\"alg\" %s does not fit its key", j->key->alg->name);
	}
	if (kid != NULL) {
		j->key->kid_len = json_string_length(kid);
		j->key->kid = jsonmem_malloc(j->key->kid_len + 1);
		if (j->key->kid == NULL)
			return jwt_jwk_fail(j, "out of memory");
		memcpy(j->key->kid, json_string_value(kid), j->key->kid_len + 1);
	}
	return 1;
}

static int jwt_keys_from_jwks_doc(const struct jwt_load *ld, const json_t *doc,
				  struct jwt_keys **out)
{
	const json_t *list = json_object_get(doc, "keys");
	struct jwt_keys *k;
	size_t skipped = 0;

	if (!json_is_array(list) || json_array_size(list) == 0)
		return jwt_load_fail(ld, "no key in file (a JWKS is {\"keys\":[...]})");
	if (json_array_size(list) > ld->max_keys)
		return jwt_load_fail(ld, "%zu keys: at most %zu", json_array_size(list),
				     ld->max_keys);
	k = jwt_keys_new(json_array_size(list), true);
	if (k == NULL)
		return jwt_load_fail(ld, "out of memory");
	for (size_t i = 0; i < json_array_size(list); i++) {
		struct jwt_jwk j = { ld, i, json_array_get(list, i), &k->keys[k->n] };
		int rc;

		memset(j.key, 0, sizeof(*j.key));
		rc = jwt_jwk_read(&j);
		if (rc == 1) {
			k->n++;
			continue;
		}
		jwt_key_cleanup(j.key);
		if (rc < 0) {
			jwt_keys_free(k);
			return -1;
		}
		skipped++;
	}
	if (k->n == 0) {
		jwt_keys_free(k);
		return jwt_load_fail(ld, "no usable key in file (%zu skipped)", skipped);
	}
	*out = k;
	return 0;
}

static int jwt_keys_from_jwks(const struct jwt_load *ld, const uint8_t *text, size_t len,
			      struct jwt_keys **out)
{
	json_t *doc;
	int rc;

	switch (jsonmem_load(text, len, JSON_REJECT_DUPLICATES, &doc)) {
	case JSONMEM_OK:
		break;
	case JSONMEM_ERR_NOMEM:
		return jwt_load_fail(ld, "out of memory");
	default:
		return jwt_load_fail(ld, "not a JSON document");
	}
	rc = json_is_object(doc) ? jwt_keys_from_jwks_doc(ld, doc, out)
				 : jwt_load_fail(ld, "not a JSON object");
	json_decref(doc);
	return rc;
}

int jwt_keys_parse(struct jwt_keys **out, enum jwt_key_source src, const char *name,
		   const uint8_t *text, size_t len, size_t max_keys, char *err, size_t err_len)
{
	const struct jwt_load ld = { name, err, err_len, max_keys };
	int rc;

	*out = NULL;
	switch (src) {
	case JWT_KEY_SECRET:
		rc = jwt_keys_from_secret(&ld, text, len, out);
		break;
	case JWT_KEY_PEM:
		rc = jwt_keys_from_pem(&ld, text, len, out);
		break;
	case JWT_KEY_JWKS:
		rc = jwt_keys_from_jwks(&ld, text, len, out);
		break;
	default:
		rc = jwt_load_fail(&ld, "unknown key source");
		break;
	}
	ERR_clear_error();
	return rc;
}

size_t jwt_keys_count(const struct jwt_keys *k)
{
	return k != NULL ? k->n : 0;
}

int jwt_keys_load(struct jwt_keys **out, enum jwt_key_source src, const char *path,
		  char *err, size_t err_len)
{
	const struct jwt_load ld = { path, err, err_len, SIZE_MAX };
	uint8_t *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (jwt_file_read(&ld, &text, &len) != 0)
		return -1;
	rc = jwt_keys_parse(out, src, path, text, len, SIZE_MAX, err, err_len);
	/* The buffer may hold a secret. */
	OPENSSL_cleanse(text, len);
	jsonmem_free(text);
	return rc;
}
