/* fuzz_jwks.c - libFuzzer target for the JWK Set parser (jwt.c), the
 * document jwks.c fetches from an identity provider's URL.
 *
 * Input: the first byte is the most keys the set may list (0-15), the rest
 * the document, copied into a malloc'd block of exactly its size (ASan sees
 * any over-read).  Beyond not crashing: a parse succeeds with between 1 and
 * that many keys and no message, or fails with no keys and a message that
 * names the source; a parsed set then verifies one fixed RS256 token with
 * a kid to one of the table's results.  LeakSanitizer checks that every
 * path frees what it took (keys, OpenSSL objects).
 *
 * Seeds: tests/fuzz/corpus/jwks/ (sets of RSA, EC and OKP keys; skipped,
 * broken and over-long ones).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

#define FUZZ_JWKS_CHECK(cond)                                                 \
	do {                                                                  \
		if (!(cond))                                                  \
			abort();                                              \
	} while (0)

#define FUZZ_JWKS_NAME "https://idp.example/jwks"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 7515 A.2's token with a kid "rsa" added to its header (the
 * signature no longer matches: a result, not a crash, is what counts). */
static const char fuzz_jwks_token[] =
	"eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSJ9."
	"eyJpc3MiOiJqb2UifQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_policy policy = { .max_len = 4096 };
	struct jwt_keys *k = (struct jwt_keys *)1;
	char err[256] = "";
	uint8_t *copy;
	size_t max_keys;
	json_t *claims = NULL;
	int rc;

	if (size == 0)
		return 0;
	max_keys = data[0] & 15;
	copy = malloc(size - 1 ? size - 1 : 1);
	FUZZ_JWKS_CHECK(copy != NULL);
	memcpy(copy, data + 1, size - 1);
	rc = jwt_keys_parse(&k, JWT_KEY_JWKS, FUZZ_JWKS_NAME, copy, size - 1, max_keys, err,
			    sizeof(err));
	free(copy);
	if (rc != 0) {
		FUZZ_JWKS_CHECK(rc == -1 && k == NULL);
		FUZZ_JWKS_CHECK(strncmp(err, FUZZ_JWKS_NAME ": ", strlen(FUZZ_JWKS_NAME) + 2) == 0);
		return 0;
	}
	FUZZ_JWKS_CHECK(k != NULL && jwt_keys_count(k) >= 1 && jwt_keys_count(k) <= max_keys);
	enum jwt_result r = jwt_verify(k, &policy, fuzz_jwks_token, strlen(fuzz_jwks_token), 0,
				       &claims);
	FUZZ_JWKS_CHECK(strcmp(jwt_result_text(r), "unknown result") != 0);
	FUZZ_JWKS_CHECK((r == JWT_OK) == (claims != NULL));
	json_decref(claims);
	jwt_keys_free(k);
	return 0;
}
