/* test_realip.c - unit tests for trusted peers and X-Forwarded-For
 * (realip.c).
 *
 * trusted_proxies matching at network boundaries (IPv4 kept IPv4-mapped,
 * prefixes that end inside a byte), and the X-Forwarded-For walk: each
 * header value in the table is fed whole and split at every point into
 * two appends (http-parser hands a value over in pieces), and as two
 * headers joined by the comma RFC 7230 puts between them, with the same
 * answer every time.  The bounds are tested at the limit and one past it:
 * 32 hops walked (the 32nd may be the client, a 33rd is not reached), and
 * 1024 bytes kept (a header of 1024 is whole; past it the oldest bytes go
 * up to a comma, so no cut address is ever read, and the rightmost hops
 * still name the client).
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

#include "config.h"
#include "realip.h"

static struct config cfg;

/* 16-byte form of <text> (IPv4 mapped). */
static void realip_test_addr(const char *text, uint8_t addr[16])
{
	uint8_t v4[4];

	memset(addr, 0, 16);
	if (inet_pton(AF_INET, text, v4) == 1) {
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, v4, 4);
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, text, addr), 1);
}

static int realip_test_setup(void **state)
{
	char err[CONFIG_ERR_LEN];
	static const char text[] = "trusted_proxies 10.0.0.0/8 127.0.0.1 2001:db8::/32 192.168.1.0/25\n";

	config_defaults(&cfg);
	return config_parse(&cfg, text, sizeof text - 1, "t.conf", err, sizeof err);
}

static bool realip_test_trusted(const char *text)
{
	uint8_t a[16];

	realip_test_addr(text, a);
	return realip_trusted(&cfg, a);
}

static void trusted_proxies_match_at_network_boundaries(void **state)
{
	assert_true(realip_test_trusted("10.0.0.0"));
	assert_true(realip_test_trusted("10.255.255.255"));
	assert_false(realip_test_trusted("11.0.0.0"));
	assert_false(realip_test_trusted("9.255.255.255"));
	assert_true(realip_test_trusted("127.0.0.1"));
	assert_false(realip_test_trusted("127.0.0.2"));
	assert_true(realip_test_trusted("::ffff:127.0.0.1"));   /* the same address */
	assert_false(realip_test_trusted("::127.0.0.1"));
	assert_true(realip_test_trusted("2001:db8:ffff::1"));
	assert_false(realip_test_trusted("2001:db9::1"));
	assert_true(realip_test_trusted("192.168.1.127"));      /* /25 ends inside a byte */
	assert_false(realip_test_trusted("192.168.1.128"));
}

static void trusted_peer_knows_unix_sockets(void **state)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof ss);
	ss.ss_family = AF_UNIX;
	assert_false(realip_trusted_peer(&cfg, &ss));
	cfg.trust_unix = true;
	assert_true(realip_trusted_peer(&cfg, &ss));
	cfg.trust_unix = false;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "10.1.2.3", &sin->sin_addr);
	assert_true(realip_trusted_peer(&cfg, &ss));
	inet_pton(AF_INET, "8.8.8.8", &sin->sin_addr);
	assert_false(realip_trusted_peer(&cfg, &ss));
}

struct xff_case {
	const char *value;
	const char *client;    /* what the walk answers */
	int rc;
};

/* Walks <fw> from the trusted peer 127.0.0.1; checks the answer. */
static void realip_test_walk(const struct realip_forwarded *fw, const struct xff_case *c,
			     const char *how)
{
	uint8_t from[16], client[16];
	char text[INET6_ADDRSTRLEN];

	realip_test_addr("127.0.0.1", from);
	int rc = realip_forwarded_for(&cfg, from, fw, client);
	realip_format(client, text);
	if (rc != c->rc || strcmp(text, c->client) != 0)
		fail_msg("'%s' (%s): %d %s, want %d %s", c->value, how, rc, text, c->rc, c->client);
}

static void realip_test_case(const struct xff_case *c)
{
	size_t len = strlen(c->value);
	struct realip_forwarded *fw = malloc(sizeof *fw);

	assert_non_null(fw);
	for (size_t cut = 0; cut <= len; cut++) {
		memset(fw, 0, sizeof *fw);
		realip_forwarded_append(fw, true, c->value, cut);
		realip_forwarded_append(fw, false, c->value + cut, len - cut);
		realip_test_walk(fw, c, "split");
	}
	/* two headers: "A, B" sent as "A" then "B" */
	const char *comma = strrchr(c->value, ',');
	if (comma) {
		memset(fw, 0, sizeof *fw);
		realip_forwarded_append(fw, true, c->value, (size_t)(comma - c->value));
		realip_forwarded_append(fw, true, comma + 1, strlen(comma + 1));
		realip_test_walk(fw, c, "two headers");
	}
	free(fw);
}

static void forwarded_for_takes_the_rightmost_untrusted_hop(void **state)
{
	static const struct xff_case cases[] = {
		{ "203.0.113.9", "203.0.113.9", 0 },
		{ "  203.0.113.9\t", "203.0.113.9", 0 },
		{ "198.51.100.1, 203.0.113.9", "203.0.113.9", 0 },        /* a client's own claim is left of it */
		{ "198.51.100.1, 203.0.113.9, 10.0.0.5", "203.0.113.9", 0 }, /* through a second balancer */
		{ "203.0.113.9,10.0.0.5,10.9.9.9", "203.0.113.9", 0 },
		{ "10.0.0.7, 10.0.0.5", "10.0.0.7", 0 },                   /* all trusted: the leftmost */
		{ "2001:db8::7, 2001:db9::1", "2001:db9::1", 0 },
		{ "::ffff:203.0.113.9", "203.0.113.9", 0 },
		{ "203.0.113.9:5678", "203.0.113.9", 0 },
		{ "[2001:db9::1]:443", "2001:db9::1", 0 },
		{ "[2001:db9::1]", "2001:db9::1", 0 },
		{ "", "127.0.0.1", 0 },                                    /* nothing named: the peer */
		/* invalid entries stop the walk: the nearest trusted hop stands */
		{ "unknown", "127.0.0.1", -1 },
		{ "203.0.113.9, proxy.example", "127.0.0.1", -1 },
		{ "evil.example, 10.0.0.5", "10.0.0.5", -1 },
		{ "203.0.113.9, ", "127.0.0.1", -1 },
		{ "203.0.113.9,,10.0.0.5", "10.0.0.5", -1 },
		{ "2001:db9::1:443", "2001:db9::1:443", 0 },                /* a valid IPv6 address */
		{ "[203.0.113.9]:80", "127.0.0.1", -1 },
		{ "[2001:db9::1]x", "127.0.0.1", -1 },
		{ "[2001:db9::1", "127.0.0.1", -1 },
		{ "203.0.113.9:", "127.0.0.1", -1 },
		{ "203.0.113.9:123456", "127.0.0.1", -1 },
		{ "203.0.113.9:80a", "127.0.0.1", -1 },
		{ "203.0.113.256", "127.0.0.1", -1 },
		{ "1.2.3", "127.0.0.1", -1 },
		{ "203.0.113.9 10.0.0.5", "127.0.0.1", -1 },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255x", "127.0.0.1", -1 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		realip_test_case(&cases[i]);
}

/* "203.0.113.9" then <trusted> hops of 10.0.0.N. */
static void realip_test_hops(char *buf, size_t cap, int trusted)
{
	size_t n = (size_t)snprintf(buf, cap, "203.0.113.9");
	for (int i = 0; i < trusted; i++)
		n += (size_t)snprintf(buf + n, cap - n, ", 10.0.0.%d", i);
}

static void forwarded_for_walks_32_hops_not_33(void **state)
{
	char at[1024], past[1024];

	/* the client is the 32nd hop from the right: reached */
	realip_test_hops(at, sizeof at, REALIP_MAX_HOPS - 1);
	realip_test_case(&(struct xff_case){ at, "203.0.113.9", 0 });
	/* the 33rd: the walk stops at the 32nd, a trusted hop */
	realip_test_hops(past, sizeof past, REALIP_MAX_HOPS);
	realip_test_case(&(struct xff_case){ past, "10.0.0.0", -1 });
}

/* "203.0.113.9" right-aligned in <len> bytes after filler entries. */
static char *realip_test_long(size_t len)
{
	char *v = malloc(len + 1);
	const char *tail = ", 203.0.113.9";

	assert_non_null(v);
	memset(v, '1', len - strlen(tail));
	for (size_t i = 1; i + 1 < len - strlen(tail); i += 9)
		v[i] = ',';
	memcpy(v + len - strlen(tail), tail, strlen(tail) + 1);
	return v;
}

static void forwarded_for_keeps_1024_bytes_then_the_last_ones(void **state)
{
	struct realip_forwarded *fw = calloc(1, sizeof *fw);
	uint8_t from[16], client[16];
	char text[INET6_ADDRSTRLEN];
	char *v;

	assert_non_null(fw);
	realip_test_addr("127.0.0.1", from);
	/* at the limit: kept whole */
	v = realip_test_long(REALIP_FORWARDED_MAX);
	realip_forwarded_append(fw, true, v, strlen(v));
	assert_int_equal(fw->len, REALIP_FORWARDED_MAX);
	assert_false(fw->cut);
	assert_memory_equal(fw->text, v, REALIP_FORWARDED_MAX);
	assert_int_equal(realip_forwarded_for(&cfg, from, fw, client), 0);
	realip_format(client, text);
	assert_string_equal(text, "203.0.113.9");
	free(v);
	/* past it, in one piece and in two: the oldest bytes go, to a comma */
	v = realip_test_long(REALIP_FORWARDED_MAX + 1);
	for (size_t split = 0; split <= REALIP_FORWARDED_MAX + 1; split += 97) {
		memset(fw, 0, sizeof *fw);
		realip_forwarded_append(fw, true, v, split);
		realip_forwarded_append(fw, false, v + split, REALIP_FORWARDED_MAX + 1 - split);
		assert_true(fw->cut);
		assert_true(fw->len < REALIP_FORWARDED_MAX);
		assert_memory_equal(fw->text, v + REALIP_FORWARDED_MAX + 1 - fw->len, fw->len);
		assert_true(v[REALIP_FORWARDED_MAX - fw->len] == ',');
		assert_int_equal(realip_forwarded_for(&cfg, from, fw, client), 0);
		realip_format(client, text);
		assert_string_equal(text, "203.0.113.9");
	}
	free(v);
	/* a cut header of trusted hops only: the leftmost kept is not the
	 * leftmost sent, so the walk says it stopped */
	memset(fw, 0, sizeof *fw);
	for (int i = 0; i < 200; i++)
		realip_forwarded_append(fw, true, "10.0.0.1", 8);
	assert_true(fw->cut);
	assert_int_equal(realip_forwarded_for(&cfg, from, fw, client), -1);
	realip_format(client, text);
	assert_string_equal(text, "10.0.0.1");
	/* one entry longer than the whole: nothing is kept */
	memset(fw, 0, sizeof *fw);
	v = malloc(3000);
	assert_non_null(v);
	memset(v, '7', 3000);
	realip_forwarded_append(fw, true, v, 3000);
	assert_int_equal(fw->len, 0);
	assert_int_equal(realip_forwarded_for(&cfg, from, fw, client), -1);
	realip_format(client, text);
	assert_string_equal(text, "127.0.0.1");
	free(v);
	free(fw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(trusted_proxies_match_at_network_boundaries),
		cmocka_unit_test(trusted_peer_knows_unix_sockets),
		cmocka_unit_test(forwarded_for_takes_the_rightmost_untrusted_hop),
		cmocka_unit_test(forwarded_for_walks_32_hops_not_33),
		cmocka_unit_test(forwarded_for_keeps_1024_bytes_then_the_last_ones),
	};
	return cmocka_run_group_tests(tests, realip_test_setup, NULL);
}
