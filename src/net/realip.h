/* realip.h - the client's own address behind trusted balancers: which
 * peers are believed (trusted_proxies), and which client an
 * X-Forwarded-For header names (the rightmost hop that is not itself
 * trusted, as nginx's real_ip_recursive reads it).
 *
 * Addresses are 16 bytes: IPv6, or IPv4 in its IPv4-mapped IPv6 form, so
 * that both spellings of one address compare equal.  This is the one
 * spelling of a client address in the daemon: the per-address counts of
 * server.h and the sessions of engine.h keep it too.  Pure: no I/O, no
 * allocation.  Limits: the last REALIP_FORWARDED_MAX bytes of a request's
 * X-Forwarded-For headers are kept, REALIP_MAX_HOPS hops are walked.
 */
#ifndef ROOMCAST_REALIP_H
#define ROOMCAST_REALIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "config.h"

/* The rightmost hops are the ones trusted balancers wrote; 1 KiB holds
 * dozens of them, and a client cannot push them out (older bytes go). */
#define REALIP_FORWARDED_MAX 1024
/* More trusted balancers in a row than any deployment chains. */
#define REALIP_MAX_HOPS 32

/* A request's X-Forwarded-For headers, joined with commas. */
struct realip_forwarded {
	char text[REALIP_FORWARDED_MAX];
	size_t len;
	bool cut;                      /* older bytes were dropped to keep the last ones */
};

/* The 16-byte form of <sa>'s address into <key>; false for other
 * families (a unix socket's peer). */
bool realip_key(const struct sockaddr_storage *sa, uint8_t key[16]);
/* <addr> as text into <text>: IPv4-mapped addresses as IPv4; NULL (no
 * IP address: a unix socket's peer) as "unix". */
void realip_format(const uint8_t *addr, char text[INET6_ADDRSTRLEN]);
/* Whether <addr> is in one of <cfg>'s trusted_proxies networks. */
bool realip_trusted(const struct config *cfg, const uint8_t addr[16]);
/* Whether the peer <sa> is trusted: its address is, or it is a unix
 * socket's peer and trusted_proxies says unix:. */
bool realip_trusted_peer(const struct config *cfg, const struct sockaddr_storage *sa);

/* Appends <len> bytes of one header's value to <fw>; <first> starts a
 * new header (a comma joins it to the previous one, RFC 7230 3.2.2).
 * Past REALIP_FORWARDED_MAX the oldest bytes go, up to the next comma, so
 * that what is kept starts with a whole entry. */
void realip_forwarded_append(struct realip_forwarded *fw, bool first, const char *at, size_t len);

/* The client that the trusted peer <from> passed on with <fw>, into
 * <client>: walking from the right, the first address that is not in
 * trusted_proxies, or the leftmost if all are.  An entry may carry a port
 * (1.2.3.4:80, [::1]:80) and spaces around it.  Returns 0; or -1 when the
 * walk stopped at an entry that is not an address, at REALIP_MAX_HOPS, or
 * at the cut of a header too long to keep: <client> is then the nearest
 * trusted hop (<from> if none), the best address known. */
int realip_forwarded_for(const struct config *cfg, const uint8_t from[16],
			 const struct realip_forwarded *fw, uint8_t client[16]);

#endif
