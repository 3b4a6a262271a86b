/* realip.c - trusted peers and X-Forwarded-For (see realip.h).
 *
 * Owns matching an address against trusted_proxies, keeping the tail of a
 * request's X-Forwarded-For headers, and walking it from the right.  Does
 * not own where the answer goes: the PROXY header and the per-address
 * counts are server.c's, the request's client http.c's.
 */
#include <arpa/inet.h>
#include <string.h>

#include "realip.h"

static const uint8_t realip_mapped[12] = { [10] = 0xff, [11] = 0xff };

bool realip_key(const struct sockaddr_storage *sa, uint8_t key[16])
{
	if (sa->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	if (sa->ss_family == AF_INET) {
		memcpy(key, realip_mapped, sizeof realip_mapped);
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	return false;
}

void realip_format(const uint8_t *addr, char text[INET6_ADDRSTRLEN])
{
	if (!addr)
		strcpy(text, "unix");
	else if (memcmp(addr, realip_mapped, sizeof realip_mapped) == 0)
		inet_ntop(AF_INET, addr + 12, text, INET6_ADDRSTRLEN);
	else
		inet_ntop(AF_INET6, addr, text, INET6_ADDRSTRLEN);
}

static bool realip_in(const struct config_cidr *net, const uint8_t addr[16])
{
	unsigned full = net->bits / 8, rest = net->bits % 8;

	if (memcmp(net->addr, addr, full) != 0)
		return false;
	return rest == 0 || ((net->addr[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

bool realip_trusted(const struct config *cfg, const uint8_t addr[16])
{
	for (size_t i = 0; i < cfg->n_trusted_proxies; i++) {
		if (realip_in(&cfg->trusted_proxies[i], addr))
			return true;
	}
	return false;
}

bool realip_trusted_peer(const struct config *cfg, const struct sockaddr_storage *sa)
{
	uint8_t key[16];

	if (sa->ss_family == AF_UNIX)
		return cfg->trust_unix;
	return realip_key(sa, key) && realip_trusted(cfg, key);
}

void realip_forwarded_append(struct realip_forwarded *fw, bool first, const char *at, size_t len)
{
	if (first && fw->len > 0)
		realip_forwarded_append(fw, false, ",", 1);
	if (fw->len + len <= REALIP_FORWARDED_MAX) {
		memcpy(fw->text + fw->len, at, len);
		fw->len += len;
		return;
	}
	/* The last REALIP_FORWARDED_MAX bytes of what was kept and <at>. */
	if (len >= REALIP_FORWARDED_MAX) {
		memcpy(fw->text, at + len - REALIP_FORWARDED_MAX, REALIP_FORWARDED_MAX);
	} else {
		size_t keep = REALIP_FORWARDED_MAX - len;
		memmove(fw->text, fw->text + fw->len - keep, keep);
		memcpy(fw->text + keep, at, len);
	}
	fw->len = REALIP_FORWARDED_MAX;
	fw->cut = true;
	/* What is kept starts inside an entry: drop it to the next comma,
	 * else a cut address (10.1.2.3 kept as 0.1.2.3) would read as
	 * another valid one. */
	char *comma = memchr(fw->text, ',', fw->len);
	size_t drop = comma ? (size_t)(comma - fw->text) + 1 : fw->len;
	memmove(fw->text, fw->text + drop, fw->len - drop);
	fw->len -= drop;
}

/* Whether [<s>, <end>) is a port: 1 to 5 digits. */
static bool realip_port(const char *s, const char *end)
{
	if (s == end || end - s > 5)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
	}
	return true;
}

/* The address of one entry, [<s>, <end>), into <addr>: spaces and tabs
 * around it dropped, then IPv4, IPv6, IPv4:PORT or [IPv6]:PORT.  Returns
 * false for anything else (a name, "unknown", an obfuscated node). */
static bool realip_entry(const char *s, const char *end, uint8_t addr[16])
{
	char text[INET6_ADDRSTRLEN];
	uint8_t v4[4];

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	const char *host = s, *host_end = end, *port = NULL;
	if (s < end && *s == '[') {
		host = s + 1;
		if (!(host_end = memchr(host, ']', (size_t)(end - host))))
			return false;
		if (host_end + 1 < end && host_end[1] != ':')
			return false;
		port = host_end + 1 < end ? host_end + 2 : NULL;
	} else {
		const char *colon = memchr(s, ':', (size_t)(end - s));
		if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
			host_end = colon; /* one colon: IPv4:PORT */
			port = colon + 1;
		}
	}
	if (port && !realip_port(port, end))
		return false;
	size_t n = (size_t)(host_end - host);
	if (n == 0 || n >= sizeof text)
		return false;
	memcpy(text, host, n);
	text[n] = '\0';
	if (inet_pton(AF_INET, text, v4) == 1) {
		if (s[0] == '[')
			return false;
		memcpy(addr, realip_mapped, sizeof realip_mapped);
		memcpy(addr + 12, v4, 4);
		return true;
	}
	if (port && s[0] != '[')
		return false; /* an IPv6 address with a port needs its brackets */
	return inet_pton(AF_INET6, text, addr) == 1;
}

int realip_forwarded_for(const struct config *cfg, const uint8_t from[16],
			 const struct realip_forwarded *fw, uint8_t client[16])
{
	const char *end = fw->text + fw->len;

	memcpy(client, from, 16);
	if (fw->len == 0)
		return fw->cut ? -1 : 0;
	for (size_t hops = 0;; hops++) {
		uint8_t addr[16];
		const char *comma = memrchr(fw->text, ',', (size_t)(end - fw->text));
		const char *start = comma ? comma + 1 : fw->text;
		if (hops == REALIP_MAX_HOPS || !realip_entry(start, end, addr))
			return -1;
		memcpy(client, addr, 16);
		if (!realip_trusted(cfg, addr))
			return 0;
		if (!comma)
			return fw->cut ? -1 : 0;
		end = comma;
	}
}
