/* fuzz_jwt.c - libFuzzer target for the JWT verifier (jwt.c).
 *
 * Input: the token, whole.  Each input is verified twice, from a malloc'd
 * block of exactly its size (ASan sees any over-read): once with an HMAC
 * secret (RFC 7515 A.1's key) and once with a JWKS of the RSA, P-256,
 * P-521 and Ed25519 keys of RFC 7515 A.2-A.4 and RFC 8037 A.4, kids
 * "rsa", "p256", "p521" and "ed".  Policy: iss "joe", no leeway, at
 * 1300819379 (one second before the RFC examples' exp), so the seeds
 * (the RFC tokens) reach JWT_OK and the fuzzer mutates from there.
 *
 * Beyond not crashing: the result is one of the table's; claims are an
 * object exactly on JWT_OK, with iss "joe" and any exp after now; and a
 * JWT_OK is checked against a reference written apart from jwt.c: a
 * lenient split and base64url decode, the header's alg read with plain
 * jansson, and the signature checked with OpenSSL against the same keys
 * loaded from PEM (ECDSA re-encoded through ECDSA_SIG, not jwt.c's DER
 * writer), HMAC recomputed.  A token that passes jwt_verify() but not the
 * reference aborts.  LeakSanitizer checks every path frees what it took.
 *
 * Seeds: tests/fuzz/corpus/jwt/ (the RFC tokens, and broken variants).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwt.h"

#define FUZZ_JWT_CHECK(cond)                                                  \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

#define FUZZ_JWT_NOW INT64_C(1300819379)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 7515 A.1's HMAC key, base64url. */
static const char fuzz_jwt_hmac_b64[] =
	"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

static const char fuzz_jwt_jwks[] =
	"{\"keys\":["
	"{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPd"
	"dxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47so"
	"MZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTB"
	"QY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDT"
	"W9gb54h4FRWyuXpoQ\",\"e\":\"AQAB\"},"
	"{\"kty\":\"EC\",\"kid\":\"p256\",\"crv\":\"P-256\","
	"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
	"{\"kty\":\"EC\",\"kid\":\"p521\",\"crv\":\"P-521\","
	"\"x\":\"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk\","
	"\"y\":\"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2\"},"
	"{\"kty\":\"OKP\",\"kid\":\"ed\",\"crv\":\"Ed25519\","
	"\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}";

/* The same four public keys as SubjectPublicKeyInfo, for the reference. */
static const char *const fuzz_jwt_pems[] = {
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAofgWCuLjybRlzo0tZWJj\n"
	"NiuSfb4p4fAkd/wWJcyQoTbji9k0l8W26mPddxHmfHQp+Vaw+4qPCJrcS2mJPMEz\n"
	"P1Pt0Bm4d4QlL+yRT+SFd2lZS+pCgNMsD1W/YpRPEwOWvG6b32690r2jZ47soMZo\n"
	"9wGzjb/7OMg0LOL+bSf63kpaSHSXndS5z5rexMdbBYUsLA9e+KXBdQOS+UTo7WTB\n"
	"EMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6/I5IhlJH7aGhyxX\n"
	"FvUK+DWNmoudF8NAco9/h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXp\n"
	"oQIDAQAB\n"
	"-----END PUBLIC KEY-----\n",
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
	"6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
	"-----END PUBLIC KEY-----\n",
	"-----BEGIN PUBLIC KEY-----\n"
	"MIGbMBAGByqGSM49AgEGBSuBBAAjA4GGAAQB6SkFDxJPxrxVx9U5M2Xfne9KsMIs\n"
	"sleY+TTrBOPGuuNwGlenkQ6dgb82MVno68sVXWNJ9L22zPipTFxZx6rBAaQANKZE\n"
	"DjdnUNI3H9G9wsjztx0vTuXqNDLIFcyjFWD+XZOH7HdLVYOGMOXLv1qMvgqR3QBk\n"
	"xpmaH25uZ/rd7eTIyPY=\n"
	"-----END PUBLIC KEY-----\n",
	"-----BEGIN PUBLIC KEY-----\n"
	"MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n"
	"-----END PUBLIC KEY-----\n",
};

#define FUZZ_JWT_N_PKEYS (sizeof(fuzz_jwt_pems) / sizeof(fuzz_jwt_pems[0]))

static struct {
	struct jwt_keys *hmac, *jwks;
	uint8_t secret[64];
	size_t secret_len;
	EVP_PKEY *pkeys[FUZZ_JWT_N_PKEYS];
} fuzz_jwt;

/* Lenient base64url: any length, stops at the first byte outside the
 * alphabet (the reference need not be strict, only independent). */
static size_t fuzz_jwt_unb64(uint8_t *out, const char *in, size_t len)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		const char *c = in[i] != '\0' ? memchr(abc, in[i], 64) : NULL;

		if (c == NULL)
			break;
		acc = acc << 6 | (uint32_t)(c - abc);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

static void fuzz_jwt_write(const char *path, const void *bytes, size_t len)
{
	FILE *f = fopen(path, "wb");

	FUZZ_JWT_CHECK(f != NULL && fwrite(bytes, 1, len, f) == len);
	FUZZ_JWT_CHECK(fclose(f) == 0);
}

static void fuzz_jwt_init(void)
{
	char dir[] = "/tmp/roomcast-fuzz-jwt-XXXXXX", path[64], err[256];

	FUZZ_JWT_CHECK(mkdtemp(dir) != NULL);
	fuzz_jwt.secret_len = fuzz_jwt_unb64(fuzz_jwt.secret, fuzz_jwt_hmac_b64,
					     strlen(fuzz_jwt_hmac_b64));
	snprintf(path, sizeof(path), "%s/secret", dir);
	fuzz_jwt_write(path, fuzz_jwt.secret, fuzz_jwt.secret_len);
	FUZZ_JWT_CHECK(jwt_keys_load(&fuzz_jwt.hmac, JWT_KEY_SECRET, path, err, sizeof(err)) == 0);
	FUZZ_JWT_CHECK(unlink(path) == 0);
	snprintf(path, sizeof(path), "%s/jwks", dir);
	fuzz_jwt_write(path, fuzz_jwt_jwks, strlen(fuzz_jwt_jwks));
	FUZZ_JWT_CHECK(jwt_keys_load(&fuzz_jwt.jwks, JWT_KEY_JWKS, path, err, sizeof(err)) == 0);
	FUZZ_JWT_CHECK(unlink(path) == 0);
	FUZZ_JWT_CHECK(rmdir(dir) == 0);
	for (size_t i = 0; i < FUZZ_JWT_N_PKEYS; i++) {
		BIO *bio = BIO_new_mem_buf(fuzz_jwt_pems[i], -1);

		FUZZ_JWT_CHECK(bio != NULL);
		fuzz_jwt.pkeys[i] = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
		FUZZ_JWT_CHECK(fuzz_jwt.pkeys[i] != NULL);
		BIO_free(bio);
	}
}

static const EVP_MD *fuzz_jwt_md(const char *alg)
{
	if (strcmp(alg + 2, "256") == 0)
		return EVP_sha256();
	if (strcmp(alg + 2, "384") == 0)
		return EVP_sha384();
	if (strcmp(alg + 2, "512") == 0)
		return EVP_sha512();
	return NULL;
}

/* r||s to DER through OpenSSL; 0 if the length does not split evenly. */
static size_t fuzz_jwt_ecdsa_der(const uint8_t *sig, size_t len, uint8_t *der)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL), *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
	uint8_t *p = der;
	int n;

	FUZZ_JWT_CHECK(es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1);
	n = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	FUZZ_JWT_CHECK(n > 0);
	return (size_t)n;
}

/* True if <sig> over <input> verifies with <pkey> under <alg>. */
static bool fuzz_jwt_ref_pkey(EVP_PKEY *pkey, const char *alg, const uint8_t *input,
			      size_t input_len, const uint8_t *sig, size_t sig_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t der[512];
	bool eddsa = strcmp(alg, "EdDSA") == 0, ok;
	const EVP_MD *md = eddsa ? NULL : fuzz_jwt_md(alg);

	FUZZ_JWT_CHECK(ctx != NULL);
	if (alg[0] == 'E' && !eddsa) {
		/* r and s each exactly the curve's size. */
		if (sig_len != 2 * (size_t)((EVP_PKEY_get_bits(pkey) + 7) / 8)) {
			EVP_MD_CTX_free(ctx);
			return false;
		}
		sig_len = fuzz_jwt_ecdsa_der(sig, sig_len, der);
		sig = der;
	}
	ok = EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey) == 1;
	if (ok && alg[0] == 'P')
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
	ok = ok && EVP_DigestVerify(ctx, sig, sig_len, input, input_len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

/* The reference: does some key of the set, of a type that runs <alg>,
 * verify the token's signature? */
static bool fuzz_jwt_reference(bool hmac, const char *token, size_t len)
{
	const char *dot1 = memchr(token, '.', len), *dot2;
	uint8_t *buf = malloc(len + 1);
	size_t hlen, slen;
	json_t *header;
	const char *alg;
	bool ok = false;

	FUZZ_JWT_CHECK(buf != NULL && dot1 != NULL);
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	FUZZ_JWT_CHECK(dot2 != NULL);
	hlen = fuzz_jwt_unb64(buf, token, (size_t)(dot1 - token));
	header = json_loadb((const char *)buf, hlen, 0, NULL);
	FUZZ_JWT_CHECK(json_is_object(header));
	alg = json_string_value(json_object_get(header, "alg"));
	FUZZ_JWT_CHECK(alg != NULL);
	slen = fuzz_jwt_unb64(buf, dot2 + 1, len - (size_t)(dot2 + 1 - token));

	if (hmac) {
		uint8_t mac[EVP_MAX_MD_SIZE];
		unsigned int mac_len = 0;

		FUZZ_JWT_CHECK(alg[0] == 'H' && fuzz_jwt_md(alg) != NULL);
		FUZZ_JWT_CHECK(HMAC(fuzz_jwt_md(alg), fuzz_jwt.secret, (int)fuzz_jwt.secret_len,
				    (const uint8_t *)token, (size_t)(dot2 - token), mac, &mac_len));
		ok = slen == mac_len && memcmp(mac, buf, mac_len) == 0;
	} else {
		for (size_t i = 0; i < FUZZ_JWT_N_PKEYS && !ok; i++) {
			EVP_PKEY *pk = fuzz_jwt.pkeys[i];
			bool fits = (alg[0] == 'R' || alg[0] == 'P') ? EVP_PKEY_is_a(pk, "RSA")
				  : strcmp(alg, "EdDSA") == 0       ? EVP_PKEY_is_a(pk, "ED25519")
				  : strcmp(alg, "ES256") == 0       ? EVP_PKEY_get_bits(pk) == 256 &&
									EVP_PKEY_is_a(pk, "EC")
				  : strcmp(alg, "ES512") == 0       ? EVP_PKEY_get_bits(pk) == 521
								     : false;

			ok = fits && fuzz_jwt_ref_pkey(pk, alg, (const uint8_t *)token,
						       (size_t)(dot2 - token), buf, slen);
		}
	}
	json_decref(header);
	free(buf);
	return ok;
}

static bool fuzz_jwt_is_result(enum jwt_result r)
{
	switch (r) {
#define FUZZ_JWT_CASE(name, value, reason) case name:
		JWT_RESULT_MAP(FUZZ_JWT_CASE)
#undef FUZZ_JWT_CASE
		return true;
	}
	return false;
}

static void fuzz_jwt_one(bool hmac, const char *token, size_t len)
{
	static const struct jwt_policy policy = { "joe", NULL, 0, 8192 };
	json_t *claims = (json_t *)1;
	const json_t *iss;
	enum jwt_result r;

	r = jwt_verify(hmac ? fuzz_jwt.hmac : fuzz_jwt.jwks, &policy, token, len, FUZZ_JWT_NOW,
		       &claims);
	FUZZ_JWT_CHECK(fuzz_jwt_is_result(r));
	FUZZ_JWT_CHECK(r != JWT_ERR_TOO_LONG || len > policy.max_len);
	if (r != JWT_OK) {
		FUZZ_JWT_CHECK(claims == NULL);
		return;
	}
	FUZZ_JWT_CHECK(json_is_object(claims));
	iss = json_object_get(claims, "iss");
	FUZZ_JWT_CHECK(json_is_string(iss) && strcmp(json_string_value(iss), "joe") == 0);
	FUZZ_JWT_CHECK(jwt_claims_exp(claims) == 0 || jwt_claims_exp(claims) >= FUZZ_JWT_NOW);
	FUZZ_JWT_CHECK(fuzz_jwt_reference(hmac, token, len));
	json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	char *token;

	if (!ready) {
		fuzz_jwt_init();
		ready = true;
	}
	token = malloc(size != 0 ? size : 1);
	FUZZ_JWT_CHECK(token != NULL);
	if (size != 0)
		memcpy(token, data, size);
	fuzz_jwt_one(true, token, size);
	fuzz_jwt_one(false, token, size);
	free(token);
	return 0;
}
