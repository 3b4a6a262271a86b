/* proxyproto.h - the PROXY protocol header, v1 (text) and v2 (binary), as
 * HAProxy's doc/proxy-protocol.txt defines it: bytes in, the client's
 * address out.
 *
 * A balancer that speaks it (HAProxy `send-proxy-v2`, nginx
 * `proxy_protocol on`) sends one header at the start of each connection,
 * naming the client it accepted.  Both versions are read on one listener
 * (their first bytes differ).  Pure: no allocation, no I/O, no state; the
 * caller offers everything it has read so far, from the first byte.
 * Limits: a v1 header is at most PROXYPROTO_V1_MAX bytes with its CRLF, a
 * v2 header at most PROXYPROTO_V2_MAX bytes with its TLVs (which are
 * skipped); past them, the header is refused.
 */
#ifndef ROOMCAST_PROXYPROTO_H
#define ROOMCAST_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The spec's bound: "PROXY TCP6" and two full IPv6 addresses and ports. */
#define PROXYPROTO_V1_MAX 107
/* nginx's bound on a whole header (NGX_PROXY_PROTOCOL_MAX_HEADER): room
 * for the TLVs balancers add (AWS's endpoint id, HAProxy's SSL fields),
 * yet a connection holds no more before it is known. */
#define PROXYPROTO_V2_MAX 4096

struct proxyproto_addr {
	/* The header names no TCP client (v1 UNKNOWN; v2 LOCAL, UNSPEC, a
	 * unix or datagram source): the balancer speaks for itself, and the
	 * connection's own peer stands. */
	bool local;
	uint8_t addr[16];              /* the source: IPv6, or IPv4-mapped IPv6 */
	uint16_t port;                 /* the source port, host order */
};

/* Reads the header at the start of <data> (<len> bytes received so far).
 * Returns its length, with *<out> filled, once it is complete (bytes after
 * it are the connection's own); 0 while every byte so far may still start
 * a valid header; -1 if it cannot (not a PROXY header, malformed, or past
 * its limit).  The answer for a prefix never contradicts the answer for
 * the whole. */
ssize_t proxyproto_parse(const uint8_t *data, size_t len, struct proxyproto_addr *out);

#endif
