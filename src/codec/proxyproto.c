/* proxyproto.c - the PROXY protocol header codec (see proxyproto.h).
 *
 * Owns telling the two versions apart by their first bytes, and reading
 * each strictly: v1 is one line ("PROXY TCP4 SRC DST SPORT DPORT\r\n",
 * single spaces, numeric addresses of the named family, ports 0..65535),
 * v2 a 16-byte head (signature, version 2, command LOCAL or PROXY, family
 * and transport in their defined ranges, a length) and an address block
 * at least as long as its family needs, followed by TLVs that are not
 * read.  Every check is made as soon as its bytes are there, so a
 * connection that cannot be sending a header is refused without waiting
 * for more.  Does not own what a listener does with the answer (server.c).
 */
#include <arpa/inet.h>
#include <string.h>

#include "proxyproto.h"

static const uint8_t proxyproto_v1_sig[6] = { 'P', 'R', 'O', 'X', 'Y', ' ' };
static const uint8_t proxyproto_v2_sig[12] = { 0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
					       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A };

#define PROXYPROTO_V2_HEAD 16
/* The address block of a PROXY command, by family (v2 section 2.2). */
#define PROXYPROTO_V2_INET_LEN 12
#define PROXYPROTO_V2_INET6_LEN 36
#define PROXYPROTO_V2_UNIX_LEN 216

enum { PROXYPROTO_AF_UNSPEC, PROXYPROTO_AF_INET, PROXYPROTO_AF_INET6, PROXYPROTO_AF_UNIX };
enum { PROXYPROTO_CMD_LOCAL, PROXYPROTO_CMD_PROXY };
enum { PROXYPROTO_TR_UNSPEC, PROXYPROTO_TR_STREAM, PROXYPROTO_TR_DGRAM };

/* Whether the <len> bytes received agree with <sig> as far as both go. */
static bool proxyproto_starts(const uint8_t *data, size_t len, const uint8_t *sig, size_t sig_len)
{
	return memcmp(data, sig, len < sig_len ? len : sig_len) == 0;
}

static void proxyproto_set_v4(struct proxyproto_addr *out, const uint8_t a[4], uint16_t port)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	memcpy(out->addr, mapped, sizeof mapped);
	memcpy(out->addr + 12, a, 4);
	out->port = port;
	out->local = false;
}

static void proxyproto_set_v6(struct proxyproto_addr *out, const uint8_t a[16], uint16_t port)
{
	memcpy(out->addr, a, 16);
	out->port = port;
	out->local = false;
}

/* A v1 port: 1 to 5 decimal digits, at most 65535.  Returns it or -1. */
static long proxyproto_v1_port(const char *s)
{
	long port = 0;
	size_t n = strlen(s);

	if (n == 0 || n > 5)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (s[i] - '0');
	}
	return port <= 65535 ? port : -1;
}

/* The words after "PROXY " (NUL-terminated, CRLF removed) into <out>.
 * Returns 0, or -1 if they are not a valid v1 line. */
static int proxyproto_v1_words(char *s, struct proxyproto_addr *out)
{
	char *w[5];
	size_t n = 0;
	uint8_t src[16], dst[16];

	/* "UNKNOWN" may carry anything up to the CRLF; it is ignored. */
	if (strncmp(s, "UNKNOWN", 7) == 0 && (s[7] == '\0' || s[7] == ' ')) {
		memset(out, 0, sizeof *out);
		out->local = true;
		return 0;
	}
	for (char *p = s;;) {
		if (n == 5)
			return -1;
		w[n++] = p;
		if (!(p = strchr(p, ' ')))
			break;
		*p++ = '\0';
	}
	long sport = n == 5 ? proxyproto_v1_port(w[3]) : -1;
	if (sport < 0 || proxyproto_v1_port(w[4]) < 0)
		return -1;
	if (strcmp(w[0], "TCP4") == 0 && inet_pton(AF_INET, w[1], src) == 1 &&
	    inet_pton(AF_INET, w[2], dst) == 1) {
		proxyproto_set_v4(out, src, (uint16_t)sport);
		return 0;
	}
	if (strcmp(w[0], "TCP6") == 0 && inet_pton(AF_INET6, w[1], src) == 1 &&
	    inet_pton(AF_INET6, w[2], dst) == 1) {
		proxyproto_set_v6(out, src, (uint16_t)sport);
		return 0;
	}
	return -1;
}

static ssize_t proxyproto_v1(const uint8_t *data, size_t len, struct proxyproto_addr *out)
{
	char words[PROXYPROTO_V1_MAX];
	size_t n = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX;
	const uint8_t *lf = memchr(data, '\n', n);

	if (!lf)
		return len < PROXYPROTO_V1_MAX ? 0 : -1;
	size_t end = (size_t)(lf - data); /* the LF; the CR before it ends the words */
	if (end < sizeof proxyproto_v1_sig + 1 || data[end - 1] != '\r')
		return -1;
	size_t wlen = end - 1 - sizeof proxyproto_v1_sig;
	memcpy(words, data + sizeof proxyproto_v1_sig, wlen);
	words[wlen] = '\0';
	if (memchr(words, '\0', wlen) || memchr(words, '\r', wlen))
		return -1;
	return proxyproto_v1_words(words, out) < 0 ? -1 : (ssize_t)end + 1;
}

/* The address block of a complete v2 header <d> (<len> bytes) into
 * <out>: a TCP source over IPv4 or IPv6, or `local` for the rest. */
static void proxyproto_v2_address(const uint8_t *d, struct proxyproto_addr *out)
{
	unsigned cmd = d[12] & 0x0f, family = d[13] >> 4, transport = d[13] & 0x0f;
	const uint8_t *block = d + PROXYPROTO_V2_HEAD;

	memset(out, 0, sizeof *out);
	out->local = true;
	if (cmd != PROXYPROTO_CMD_PROXY || transport != PROXYPROTO_TR_STREAM)
		return;
	if (family == PROXYPROTO_AF_INET)
		proxyproto_set_v4(out, block, (uint16_t)(block[8] << 8 | block[9]));
	else if (family == PROXYPROTO_AF_INET6)
		proxyproto_set_v6(out, block, (uint16_t)(block[32] << 8 | block[33]));
}

/* The address block a v2 head announces must hold, 0 for none. */
static size_t proxyproto_v2_min_block(const uint8_t *d)
{
	if ((d[12] & 0x0f) != PROXYPROTO_CMD_PROXY)
		return 0; /* LOCAL: the block is discarded whatever it holds */
	switch (d[13] >> 4) {
	case PROXYPROTO_AF_INET: return PROXYPROTO_V2_INET_LEN;
	case PROXYPROTO_AF_INET6: return PROXYPROTO_V2_INET6_LEN;
	case PROXYPROTO_AF_UNIX: return PROXYPROTO_V2_UNIX_LEN;
	default: return 0;
	}
}

static ssize_t proxyproto_v2(const uint8_t *d, size_t len, struct proxyproto_addr *out)
{
	/* Version 2; commands and families past the defined ones must be
	 * refused, not guessed at (section 2.2). */
	if (len > 12 && ((d[12] >> 4) != 2 || (d[12] & 0x0f) > PROXYPROTO_CMD_PROXY))
		return -1;
	if (len > 13 && ((d[13] >> 4) > PROXYPROTO_AF_UNIX || (d[13] & 0x0f) > PROXYPROTO_TR_DGRAM))
		return -1;
	if (len < PROXYPROTO_V2_HEAD)
		return 0;
	size_t block = (size_t)d[14] << 8 | d[15];
	if (PROXYPROTO_V2_HEAD + block > PROXYPROTO_V2_MAX || block < proxyproto_v2_min_block(d))
		return -1;
	if (len < PROXYPROTO_V2_HEAD + block)
		return 0;
	proxyproto_v2_address(d, out);
	return (ssize_t)(PROXYPROTO_V2_HEAD + block);
}

ssize_t proxyproto_parse(const uint8_t *data, size_t len, struct proxyproto_addr *out)
{
	if (proxyproto_starts(data, len, proxyproto_v1_sig, sizeof proxyproto_v1_sig))
		return proxyproto_v1(data, len, out);
	if (proxyproto_starts(data, len, proxyproto_v2_sig, sizeof proxyproto_v2_sig))
		return proxyproto_v2(data, len, out);
	return -1;
}
