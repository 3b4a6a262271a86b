/* id.c - session and socket ids from the kernel's CSPRNG (see id.h). */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "id.h"

#define ID_RANDOM_BYTES 15
#define ID_POOL_BYTES (ID_RANDOM_BYTES * 256)

static uint8_t id_pool[ID_POOL_BYTES];
static size_t id_pool_used = ID_POOL_BYTES;

static int id_pool_fill(void)
{
	size_t got = 0;

	while (got < sizeof id_pool) {
		ssize_t n = getrandom(id_pool + got, sizeof id_pool - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	id_pool_used = 0;
	return 0;
}

const char id_alphabet[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int id_generate(char out[ID_LEN + 1])
{
	if (id_pool_used + ID_RANDOM_BYTES > sizeof id_pool && id_pool_fill() < 0)
		return -1;
	const uint8_t *p = id_pool + id_pool_used;
	for (int i = 0; i < ID_RANDOM_BYTES; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char *o = out + i / 3 * 4;
		o[0] = id_alphabet[v >> 18 & 63];
		o[1] = id_alphabet[v >> 12 & 63];
		o[2] = id_alphabet[v >> 6 & 63];
		o[3] = id_alphabet[v & 63];
	}
	/* Used bytes are wiped so that a later memory disclosure cannot
	 * reveal ids handed out before. */
	for (int i = 0; i < ID_RANDOM_BYTES; i++)
		id_pool[id_pool_used + (size_t)i] = 0;
	id_pool_used += ID_RANDOM_BYTES;
	out[ID_LEN] = '\0';
	return 0;
}

int id_generate_short(char *out, size_t n)
{
	char fresh[ID_LEN + 1];

	if (id_generate(fresh) < 0)
		return -1;
	memcpy(out, fresh, n);
	out[n] = '\0';
	return 0;
}

bool id_chars_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0' || !strchr(id_alphabet, s[i]))
			return false;
	}
	return true;
}
