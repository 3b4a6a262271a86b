/* id.c - session and socket ids from the kernel's CSPRNG (see id.h). */
#include <errno.h>
#include <stdint.h>
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

int id_generate(char out[ID_LEN + 1])
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

	if (id_pool_used + ID_RANDOM_BYTES > sizeof id_pool && id_pool_fill() < 0)
		return -1;
	const uint8_t *p = id_pool + id_pool_used;
	for (int i = 0; i < ID_RANDOM_BYTES; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char *o = out + i / 3 * 4;
		o[0] = alphabet[v >> 18 & 63];
		o[1] = alphabet[v >> 12 & 63];
		o[2] = alphabet[v >> 6 & 63];
		o[3] = alphabet[v & 63];
	}
	/* Used bytes are wiped so that a later memory disclosure cannot
	 * reveal ids handed out before. */
	for (int i = 0; i < ID_RANDOM_BYTES; i++)
		id_pool[id_pool_used + (size_t)i] = 0;
	id_pool_used += ID_RANDOM_BYTES;
	out[ID_LEN] = '\0';
	return 0;
}
