/* sid.c - session ids that name their owner (see sid.h). */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sid.h"

static const char sid_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The MAC characters of the first SID_INSTANCE_LEN + SID_RANDOM_LEN
 * characters of <sid>. */
static void sid_mac(char out[SID_MAC_LEN], const char *sid, const uint8_t *key, size_t key_len)
{
	uint8_t input[4 + SID_INSTANCE_LEN + SID_RANDOM_LEN];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;

	memcpy(input, "sid:", 4);
	memcpy(input + 4, sid, SID_INSTANCE_LEN + SID_RANDOM_LEN);
	if (!HMAC(EVP_sha256(), key, (int)key_len, input, sizeof input, mac, &mac_len))
		memset(mac, 0, 4); /* never: HMAC-SHA256 cannot fail on these arguments */
	uint32_t bits = (uint32_t)mac[0] << 24 | (uint32_t)mac[1] << 16 | (uint32_t)mac[2] << 8 | mac[3];
	for (int i = 0; i < SID_MAC_LEN; i++)
		out[i] = sid_alphabet[bits >> (26 - 6 * i) & 63];
}

void sid_make(char out[ID_LEN + 1], const char *instance, const char *random,
	      const uint8_t *key, size_t key_len)
{
	memcpy(out, instance, SID_INSTANCE_LEN);
	memcpy(out + SID_INSTANCE_LEN, random, SID_RANDOM_LEN);
	sid_mac(out + SID_INSTANCE_LEN + SID_RANDOM_LEN, out, key, key_len);
	out[ID_LEN] = '\0';
}

bool sid_chars_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool sid_valid(const char *sid, size_t len, const uint8_t *key, size_t key_len)
{
	char mac[SID_MAC_LEN];

	if (len != ID_LEN || !sid_chars_valid(sid, len))
		return false;
	sid_mac(mac, sid, key, key_len);
	return CRYPTO_memcmp(mac, sid + SID_INSTANCE_LEN + SID_RANDOM_LEN, SID_MAC_LEN) == 0;
}
