/* test_proxyproto.c - unit tests for the PROXY protocol codec (proxyproto.c).
 *
 * Each case is a whole header, valid or not, perhaps with the connection's
 * first bytes after it.  Every case is fed as a server reads it: each
 * prefix in an exact-size heap block (ASan sees any read past it), from
 * one byte to the whole, which also covers every split point, since the
 * codec reads from the first byte each time.  A valid header answers 0
 * ("more") for every prefix shorter than itself, then its length, never
 * counting the bytes after it; an invalid one answers 0 up to the byte
 * that makes it invalid and -1 from there on, never its length.  The
 * limits (a v1 line of 107 bytes, a v2 header of 4096) are tested at the
 * limit and one past it.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proxyproto.h"

#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"

struct pp_case {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	ssize_t want;          /* the header's length, or -1 */
	size_t bad_at;         /* invalid: the prefix length from which -1 is answered */
	bool local;
	const char *addr;      /* the source as inet_ntop prints it (IPv4 bare) */
	uint16_t port;
};

#define TEXT(s) (const uint8_t *)(s), sizeof(s) - 1
/* An invalid case: -1 from the prefix of <at> bytes on. */
#define BAD(n, b, l, at) { .name = (n), .bytes = (b), .len = (l), .want = -1, .bad_at = (at) }
#define BADT(n, s, at) BAD(n, (const uint8_t *)(s), sizeof(s) - 1, at)

/* Feeds every prefix of <c> and checks the answers described above. */
static void pp_feed(const struct pp_case *c)
{
	for (size_t n = 0; n <= c->len; n++) {
		uint8_t *piece = malloc(n ? n : 1);
		struct proxyproto_addr out;
		assert_non_null(piece);
		memcpy(piece, c->bytes, n);
		memset(&out, 0xa5, sizeof out);
		ssize_t r = proxyproto_parse(piece, n, &out);
		free(piece);
		if (c->want < 0) {
			if (r != (n < c->bad_at ? 0 : -1))
				fail_msg("%s: prefix %zu answered %zd", c->name, n, r);
			continue;
		}
		if ((size_t)c->want > n) {
			if (r != 0)
				fail_msg("%s: prefix %zu of %zd answered %zd", c->name, n, c->want, r);
			continue;
		}
		if (r != c->want)
			fail_msg("%s: %zu bytes answered %zd, want %zd", c->name, n, r, c->want);
		assert_int_equal(out.local, c->local);
		if (c->local)
			continue;
		char text[INET6_ADDRSTRLEN];
		static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
		if (memcmp(out.addr, mapped, 12) == 0)
			inet_ntop(AF_INET, out.addr + 12, text, sizeof text);
		else
			inet_ntop(AF_INET6, out.addr, text, sizeof text);
		assert_string_equal(text, c->addr);
		assert_int_equal(out.port, c->port);
	}
}

static void pp_feed_all(const struct pp_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pp_feed(&cases[i]);
}

static void v1_headers_are_read_byte_by_byte_and_whole(void **state)
{
	const struct pp_case cases[] = {
		{ "tcp4", TEXT("PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n"), 41, 0, false, "192.0.2.7", 56324 },
		{ "tcp4 with the request behind", TEXT("PROXY TCP4 192.0.2.7 10.0.0.1 1 2\r\nGET / HTTP/1.1\r\n"),
		  35, 0, false, "192.0.2.7", 1 },
		{ "tcp6", TEXT("PROXY TCP6 2001:db8::1 2001:db8::2 65535 0\r\n"), 44, 0, false, "2001:db8::1", 65535 },
		{ "unknown", TEXT("PROXY UNKNOWN\r\n"), 15, 0, true, NULL, 0 },
		{ "unknown with addresses", TEXT("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 1 2\r\n"), 43, 0, true, NULL, 0 },
	};
	pp_feed_all(cases, sizeof cases / sizeof cases[0]);
}

static void v1_malformed_lines_are_refused_at_the_byte_that_decides(void **state)
{
	const struct pp_case cases[] = {
		BADT("not a header", "GET / HTTP/1.1\r\n", 1),
		BADT("lower case", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 1),
		BADT("no space after PROXY", "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", 6),
		BADT("LF without CR", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 31),
		BADT("CR inside", "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", 32),
		BAD("NUL inside", (const uint8_t *)"PROXY TCP4 1.2.3.4\0005.6.7.8 1 2\r\n", 32, 32),
		BADT("two spaces", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", 33),
		BADT("no ports", "PROXY TCP4 1.2.3.4 5.6.7.8\r\n", 28),
		BADT("one port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 30),
		BADT("a sixth word", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 34),
		BADT("trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 33),
		BADT("port past 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 36),
		BADT("six-digit port", "PROXY TCP4 1.2.3.4 5.6.7.8 000001 2\r\n", 37),
		BADT("signed port", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", 33),
		BADT("IPv6 in TCP4", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", 28),
		BADT("IPv4 in TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", 28),
		BADT("bad destination", "PROXY TCP4 1.2.3.4 5.6.7 1 2\r\n", 30),
		BADT("a name, not an address", "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", 34),
		BADT("UDP4", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 32),
		BADT("UNKNOWNX", "PROXY UNKNOWNX\r\n", 16),
	};
	pp_feed_all(cases, sizeof cases / sizeof cases[0]);
}

/* "PROXY UNKNOWN " and filler up to <total> bytes with the CRLF. */
static size_t pp_unknown_line(uint8_t *buf, size_t total)
{
	memcpy(buf, "PROXY UNKNOWN ", 14);
	memset(buf + 14, 'x', total - 16);
	memcpy(buf + total - 2, "\r\n", 2);
	return total;
}

static void v1_line_of_107_bytes_passes_108_is_refused(void **state)
{
	uint8_t at[PROXYPROTO_V1_MAX], past[PROXYPROTO_V1_MAX + 1];
	const struct pp_case cases[] = {
		{ "at the limit", at, pp_unknown_line(at, sizeof at), PROXYPROTO_V1_MAX, 0, true, NULL, 0 },
		/* no LF among the first 107 bytes: refused there */
		BAD("past the limit", past, pp_unknown_line(past, sizeof past), PROXYPROTO_V1_MAX),
	};
	pp_feed_all(cases, sizeof cases / sizeof cases[0]);
	/* the longest TCP6 line is within it */
	const char *full = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
			   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
	const struct pp_case longest = { "longest tcp6", (const uint8_t *)full, strlen(full),
					 (ssize_t)strlen(full), 0, false,
					 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535 };
	assert_true(strlen(full) <= PROXYPROTO_V1_MAX);
	pp_feed(&longest);
}

/* A v2 header in <buf>: <ver_cmd>, <fam>, a block of <block> bytes
 * (addresses first, then zeros as TLV filler), and <extra> bytes after. */
static size_t pp_v2(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, const uint8_t *addrs,
		    size_t addrs_len, size_t block, size_t extra)
{
	memcpy(buf, V2_SIG, 12);
	buf[12] = ver_cmd;
	buf[13] = fam;
	buf[14] = (uint8_t)(block >> 8);
	buf[15] = (uint8_t)block;
	memset(buf + 16, 0, block + extra);
	if (addrs_len)
		memcpy(buf + 16, addrs, addrs_len);
	if (extra)
		memset(buf + 16 + block, 'G', extra);
	return 16 + block + extra;
}

static const uint8_t inet_block[12] = { 198, 51, 100, 9, 10, 0, 0, 1, 0xdc, 0x05, 0x01, 0xbb };
static const uint8_t inet6_block[36] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42,
					 0x20, 0x01, 0x0d, 0xb8, [31] = 1, [32] = 0x00, [33] = 0x50 };

static void v2_headers_are_read_byte_by_byte_and_whole(void **state)
{
	static uint8_t b[8][128];
	const struct pp_case cases[] = {
		{ "proxy tcp4", b[0], pp_v2(b[0], 0x21, 0x11, inet_block, 12, 12, 0), 28, 0, false,
		  "198.51.100.9", 0xdc05 },
		{ "proxy tcp4, TLVs skipped, request behind", b[1],
		  pp_v2(b[1], 0x21, 0x11, inet_block, 12, 40, 20), 56, 0, false, "198.51.100.9", 0xdc05 },
		{ "proxy tcp6", b[2], pp_v2(b[2], 0x21, 0x21, inet6_block, 36, 36, 0), 52, 0, false,
		  "2001:db8::42", 80 },
		{ "local", b[3], pp_v2(b[3], 0x20, 0x00, NULL, 0, 0, 3), 16, 0, true, NULL, 0 },
		{ "local with a block", b[4], pp_v2(b[4], 0x20, 0x11, inet_block, 12, 12, 0), 28, 0, true, NULL, 0 },
		{ "proxy unspec", b[5], pp_v2(b[5], 0x21, 0x00, NULL, 0, 0, 0), 16, 0, true, NULL, 0 },
		{ "proxy tcp4 over dgram", b[6], pp_v2(b[6], 0x21, 0x12, inet_block, 12, 12, 0), 28, 0, true, NULL, 0 },
		{ "proxy inet, transport unspec", b[7], pp_v2(b[7], 0x21, 0x10, inet_block, 12, 12, 0),
		  28, 0, true, NULL, 0 },
	};
	pp_feed_all(cases, sizeof cases / sizeof cases[0]);
	static uint8_t unix_hdr[16 + 216];
	const struct pp_case unix_case = { "proxy unix", unix_hdr,
		pp_v2(unix_hdr, 0x21, 0x31, NULL, 0, 216, 0), 232, 0, true, NULL, 0 };
	pp_feed(&unix_case);
}

/* A PROXY TCP4 header whose signature's 8th byte is wrong. */
static size_t pp_v2_bad_signature(uint8_t *buf)
{
	size_t len = pp_v2(buf, 0x21, 0x11, inet_block, 12, 12, 0);

	buf[7] = 'q';
	return len;
}

static void v2_malformed_heads_are_refused_at_the_byte_that_decides(void **state)
{
	static uint8_t b[10][64];
	const struct pp_case cases[] = {
		BAD("version 1", b[0], pp_v2(b[0], 0x11, 0x11, inet_block, 12, 12, 0), 13),
		BAD("version 3", b[1], pp_v2(b[1], 0x31, 0x11, inet_block, 12, 12, 0), 13),
		BAD("command 2", b[2], pp_v2(b[2], 0x22, 0x11, inet_block, 12, 12, 0), 13),
		BAD("family 4", b[3], pp_v2(b[3], 0x21, 0x41, inet_block, 12, 12, 0), 14),
		BAD("transport 3", b[4], pp_v2(b[4], 0x21, 0x13, inet_block, 12, 12, 0), 14),
		BAD("tcp4 block too short", b[5], pp_v2(b[5], 0x21, 0x11, inet_block, 11, 11, 0), 16),
		BAD("tcp6 block too short", b[6], pp_v2(b[6], 0x21, 0x21, inet6_block, 35, 35, 0), 16),
		BAD("bad signature", b[7], pp_v2_bad_signature(b[7]), 8),
		BAD("unix block too short", b[8], pp_v2(b[8], 0x21, 0x31, NULL, 0, 40, 0), 16),
	};
	pp_feed_all(cases, sizeof cases / sizeof cases[0]);
}

static void v2_header_of_4096_bytes_passes_4097_is_refused(void **state)
{
	static uint8_t at[PROXYPROTO_V2_MAX], past[PROXYPROTO_V2_MAX + 1];
	const struct pp_case cases[] = {
		{ "at the limit", at, pp_v2(at, 0x21, 0x11, inet_block, 12, PROXYPROTO_V2_MAX - 16, 0),
		  PROXYPROTO_V2_MAX, 0, false, "198.51.100.9", 0xdc05 },
		/* refused from its length field, not after 4 KiB */
		BAD("past the limit", past,
		    pp_v2(past, 0x21, 0x11, inet_block, 12, PROXYPROTO_V2_MAX - 15, 0), 16),
	};
	pp_feed_all(cases, sizeof cases / sizeof cases[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v1_headers_are_read_byte_by_byte_and_whole),
		cmocka_unit_test(v1_malformed_lines_are_refused_at_the_byte_that_decides),
		cmocka_unit_test(v1_line_of_107_bytes_passes_108_is_refused),
		cmocka_unit_test(v2_headers_are_read_byte_by_byte_and_whole),
		cmocka_unit_test(v2_malformed_heads_are_refused_at_the_byte_that_decides),
		cmocka_unit_test(v2_header_of_4096_bytes_passes_4097_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
