/* sid.c - session ids that name their owner (see sid.h).
 *
 * HMAC-SHA256 is computed from the key's inner and outer hash states,
 * prepared once (RFC 2104): a MAC is then two SHA-256 blocks, where
 * OpenSSL 3's one-shot HMAC() fetches its implementation and sets up a
 * context on every call, four times the cost, paid on every request for
 * a session that is not local.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "sid.h"

#define SID_BLOCK 64                /* SHA-256's block size */

struct sid_key {
	EVP_MD_CTX *inner;             /* after the key ^ ipad block */
	EVP_MD_CTX *outer;             /* after the key ^ opad block */
	EVP_MD_CTX *work;              /* scratch, copied from the two */
};

void sid_key_free(struct sid_key *k)
{
	if (!k)
		return;
	EVP_MD_CTX_free(k->inner);
	EVP_MD_CTX_free(k->outer);
	EVP_MD_CTX_free(k->work);
	free(k);
}

/* <ctx> started on SHA-256 and fed <block> xor <pad>. */
static int sid_pad_state(EVP_MD_CTX *ctx, const uint8_t block[SID_BLOCK], uint8_t pad)
{
	uint8_t padded[SID_BLOCK];

	for (int i = 0; i < SID_BLOCK; i++)
		padded[i] = block[i] ^ pad;
	int ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) && EVP_DigestUpdate(ctx, padded, SID_BLOCK);
	OPENSSL_cleanse(padded, sizeof padded);
	return ok ? 0 : -1;
}

struct sid_key *sid_key_new(const uint8_t *key, size_t key_len)
{
	struct sid_key *k = calloc(1, sizeof *k);
	uint8_t block[SID_BLOCK] = { 0 };
	unsigned n = 0;
	int ok;

	if (!k)
		return NULL;
	k->inner = EVP_MD_CTX_new();
	k->outer = EVP_MD_CTX_new();
	k->work = EVP_MD_CTX_new();
	/* A key longer than a block is hashed first, as HMAC does. */
	if (key_len > SID_BLOCK)
		ok = k->work && EVP_Digest(key, key_len, block, &n, EVP_sha256(), NULL);
	else
		ok = (memcpy(block, key, key_len), 1);
	ok = ok && k->inner && k->outer && k->work && sid_pad_state(k->inner, block, 0x36) == 0 &&
	     sid_pad_state(k->outer, block, 0x5c) == 0;
	OPENSSL_cleanse(block, sizeof block);
	if (!ok) {
		sid_key_free(k);
		return NULL;
	}
	return k;
}

/* The MAC characters of the first SID_INSTANCE_LEN + SID_RANDOM_LEN
 * characters of <sid>: the first 30 bits of
 * HMAC-SHA256(key, "sid:" instance random). */
static void sid_mac(char out[SID_MAC_LEN], const char *sid, struct sid_key *k)
{
	uint8_t inner[EVP_MAX_MD_SIZE], mac[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	if (!EVP_MD_CTX_copy_ex(k->work, k->inner) || !EVP_DigestUpdate(k->work, "sid:", 4) ||
	    !EVP_DigestUpdate(k->work, sid, SID_INSTANCE_LEN + SID_RANDOM_LEN) ||
	    !EVP_DigestFinal_ex(k->work, inner, &n) || !EVP_MD_CTX_copy_ex(k->work, k->outer) ||
	    !EVP_DigestUpdate(k->work, inner, n) || !EVP_DigestFinal_ex(k->work, mac, &n))
		memset(mac, 0, 4); /* never on a prepared SHA-256: an all-A MAC no sid carries by chance */
	uint32_t bits = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3];
	for (int i = 0; i < SID_MAC_LEN; i++)
		out[i] = id_alphabet[bits >> (26 - 6 * i) & 63];
}

void sid_make(char out[ID_LEN + 1], const char *instance, const char *random, struct sid_key *k)
{
	memcpy(out, instance, SID_INSTANCE_LEN);
	memcpy(out + SID_INSTANCE_LEN, random, SID_RANDOM_LEN);
	sid_mac(out + SID_INSTANCE_LEN + SID_RANDOM_LEN, out, k);
	out[ID_LEN] = '\0';
}

bool sid_valid(const char *sid, size_t len, struct sid_key *k)
{
	char mac[SID_MAC_LEN];

	if (len != ID_LEN || !id_chars_valid(sid, len))
		return false;
	sid_mac(mac, sid, k);
	return CRYPTO_memcmp(mac, sid + SID_INSTANCE_LEN + SID_RANDOM_LEN, SID_MAC_LEN) == 0;
}
