/* test_config.c - unit tests for config.c: defaults, every key, every error,
 * namespace blocks.  The room-pattern matcher's tests are test_glob.c's.
 *
 * Each error case checks the whole message, line number included, since
 * "FILE:LINE: message" is what an operator sees from `roomcastd -t`.  Limits
 * are tested at their value and one past it.  Texts and room names are
 * parsed from heap copies of exactly their length, so an over-read shows
 * under ASan.  The file tests run from the repository
 * root (conf/, man/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"

#define CONFIG_TEST_FILE "t.conf"

/* Every key, for the documentation checks; a new key goes here too. */
static const char *const config_test_keys[] = {
	"listen", "admin_listen", "path", "transports", "allow_upgrades", "ping_interval", "ping_timeout",
	"upgrade_timeout", "max_payload", "max_connections", "max_connections_per_ip", "trusted_proxies",
	"max_header_size",
	"max_output_buffer", "linger_timeout", "drain_timeout", "keepalive_timeout", "header_timeout", "body_timeout",
	"cors_origin", "allowed_origins", "allow_no_origin", "log_level", "log_file", "access_log",
	"connect_timeout", "max_namespaces_per_session", "max_room_name", "max_json_expansion",
	"max_auth_size", "max_acks_per_socket",
	"redis", "redis_password", "redis_password_file", "redis_db", "redis_key", "redis_request_timeout",
	"redis_emit_channel", "redis_max_message", "cluster_listen", "cluster_secret_file",
	"cluster_max_upstreams", "cluster_max_unauthenticated", "cluster_max_unauthenticated_per_ip",
	"backend_stream", "backend_stream_maxlen",
	"backend_streams", "backend_flush_delay",
	"max_backend_acks", "backend_ack_timeout", "backend_buffer", "backend_headers",
	"auth_backend_timeout", "max_pending_connects", "max_pending_connects_per_ip",
	"max_refused_connects_per_session", "max_refused_connects_per_ip",
	/* namespace blocks */
	"namespace", "client_join", "join_event", "leave_event", "max_rooms_per_socket", "relay",
	"flush_delay", "auth", "jwt_secret_file", "jwt_public_key_file", "jwt_jwks_file", "jwt_jwks_url",
	"jwt_jwks_ca_file", "jwt_jwks_refresh", "jwt_jwks_refresh_min", "jwt_jwks_timeout",
	"jwt_jwks_wait", "jwt_jwks_max_size", "jwt_jwks_max_keys", "jwt_issuer",
	"jwt_audience", "jwt_leeway", "jwt_redact_token", "user_room", "rooms_claim", "allow_join_claim", "forward",
	"forward_events",
};

/* Parses <len> bytes of <text> on top of <cfg>, from a heap copy of exactly
 * that length so that reading past the end trips ASan. */
static int config_test_parse_len(struct config *cfg, const char *text, size_t len, char *err)
{
	char *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, text, len);
	int rc = config_parse(cfg, copy, len, CONFIG_TEST_FILE, err, CONFIG_ERR_LEN);
	free(copy);
	return rc;
}

/* Defaults, then <text>; fails the test with the parser's message if the
 * text is refused. */
static void config_test_parse_ok(struct config *cfg, const char *text)
{
	char err[CONFIG_ERR_LEN];

	config_defaults(cfg);
	if (config_test_parse_len(cfg, text, strlen(text), err) != 0)
		fail_msg("unexpected error for \"%s\": %s", text, err);
}

static void config_test_expect_error_len(const char *text, size_t len, const char *message)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	config_defaults(&cfg);
	assert_int_equal(config_test_parse_len(&cfg, text, len, err), -1);
	assert_string_equal(err, message);
}

static void config_test_expect_error(const char *text, const char *message)
{
	config_test_expect_error_len(text, strlen(text), message);
}

/* "KEY VALUE" must fail with "t.conf:1: <message>". */
static void config_test_expect_value_error(const char *key, const char *value, const char *message)
{
	char text[1024], expected[CONFIG_ERR_LEN + 16];

	snprintf(text, sizeof text, "%s %s\n", key, value);
	snprintf(expected, sizeof expected, CONFIG_TEST_FILE ":1: %s", message);
	config_test_expect_error(text, expected);
}

static void config_test_assert_listen(const struct config_listen *l, int family,
				      const char *addr, unsigned port)
{
	char text[INET6_ADDRSTRLEN];

	assert_int_equal(l->addr.ss_family, family);
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&l->addr;
		assert_int_equal(l->addr_len, sizeof *sin);
		assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text));
		assert_int_equal(ntohs(sin->sin_port), port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l->addr;
		assert_int_equal(l->addr_len, sizeof *sin6);
		assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text));
		assert_int_equal(ntohs(sin6->sin6_port), port);
	}
	assert_string_equal(text, addr);
}

static char *config_test_repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- defaults and valid values ---- */

static void defaults_match_the_reference_server(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.n_listen, 1);
	config_test_assert_listen(&cfg.listen[0], AF_INET, "127.0.0.1", 3000);
	assert_string_equal(cfg.listen[0].text, "127.0.0.1:3000");
	assert_int_equal(cfg.listen[0].line, 0);
	assert_string_equal(cfg.path, "/socket.io/");
	assert_int_equal(cfg.transports, CONFIG_TRANSPORT_POLLING | CONFIG_TRANSPORT_WEBSOCKET);
	assert_true(cfg.allow_upgrades);
	assert_int_equal(cfg.ping_interval_ms, 25000);
	assert_int_equal(cfg.ping_timeout_ms, 20000);
	assert_int_equal(cfg.upgrade_timeout_ms, 10000);
	assert_int_equal(cfg.max_payload, 1000000);
	assert_int_equal(cfg.max_connections, 10000);
	assert_int_equal(cfg.max_header_size, 16384);
	assert_int_equal(cfg.max_output_buffer, 8 * 1024 * 1024);
	assert_int_equal(cfg.keepalive_timeout_ms, 5000);
	assert_int_equal(cfg.header_timeout_ms, 10000);
	assert_int_equal(cfg.body_timeout_ms, 10000);
	assert_int_equal(cfg.linger_timeout_ms, 10000);
	assert_int_equal(cfg.max_connections_per_ip, 0);
	assert_false(cfg.cors_any);
	assert_int_equal(cfg.n_cors_origins, 0);
	assert_int_equal(cfg.log_level, LOG_LEVEL_INFO);
	assert_string_equal(cfg.log_file, "");
}

static void empty_text_keeps_every_default(void **state)
{
	struct config cfg, defaults;

	config_defaults(&defaults);
	config_test_parse_ok(&cfg, "");
	assert_memory_equal(&cfg, &defaults, sizeof cfg);
	config_test_parse_ok(&cfg, "\n\n# only comments\n   \t\n");
	assert_memory_equal(&cfg, &defaults, sizeof cfg);
}

static void every_key_is_parsed_with_a_valid_value(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg,
			     "listen 0.0.0.0:8080\n"
			     "listen [::1]:8081\n"
			     "path /rt\n"
			     "transports websocket\n"
			     "allow_upgrades no\n"
			     "ping_interval 30s\n"
			     "ping_timeout 2m\n"
			     "upgrade_timeout 500ms\n"
			     "max_payload 64K\n"
			     "max_connections 500\n"
			     "max_header_size 8K\n"
			     "max_output_buffer 2M\n"
			     "keepalive_timeout 1h\n"
			     "cors_origin https://example.com http://localhost:8080\n"
			     "log_level debug\n"
			     "log_file /var/log/roomcast/roomcastd.log\n");
	assert_int_equal(cfg.n_listen, 2);
	config_test_assert_listen(&cfg.listen[0], AF_INET, "0.0.0.0", 8080);
	assert_int_equal(cfg.listen[0].line, 1);
	config_test_assert_listen(&cfg.listen[1], AF_INET6, "::1", 8081);
	assert_int_equal(cfg.listen[1].line, 2);
	assert_string_equal(cfg.path, "/rt/");
	assert_int_equal(cfg.transports, CONFIG_TRANSPORT_WEBSOCKET);
	assert_false(cfg.allow_upgrades);
	assert_int_equal(cfg.ping_interval_ms, 30000);
	assert_int_equal(cfg.ping_timeout_ms, 120000);
	assert_int_equal(cfg.upgrade_timeout_ms, 500);
	assert_int_equal(cfg.max_payload, 65536);
	assert_int_equal(cfg.max_connections, 500);
	assert_int_equal(cfg.max_header_size, 8192);
	assert_int_equal(cfg.max_output_buffer, 2 * 1024 * 1024);
	assert_int_equal(cfg.keepalive_timeout_ms, 3600000);
	assert_false(cfg.cors_any);
	assert_int_equal(cfg.n_cors_origins, 2);
	assert_string_equal(cfg.cors_origins[0], "https://example.com");
	assert_string_equal(cfg.cors_origins[1], "http://localhost:8080");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(cfg.log_file, "/var/log/roomcast/roomcastd.log");
}

static void parsing_on_top_replaces_values_and_the_listen_list(void **state)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];
	const char *second = "listen 127.0.0.1:3\nping_interval 1s\n";

	config_test_parse_ok(&cfg, "listen 127.0.0.1:1\nlisten 127.0.0.1:2\nping_interval 9s\n");
	assert_int_equal(cfg.n_listen, 2);
	assert_int_equal(config_test_parse_len(&cfg, second, strlen(second), err), 0);
	assert_int_equal(cfg.n_listen, 1);
	config_test_assert_listen(&cfg.listen[0], AF_INET, "127.0.0.1", 3);
	assert_int_equal(cfg.ping_interval_ms, 1000);
	/* A key the second text does not mention keeps its value. */
	assert_int_equal(config_test_parse_len(&cfg, "path /x/\n", 9, err), 0);
	assert_int_equal(cfg.n_listen, 1);
	assert_int_equal(cfg.ping_interval_ms, 1000);
}

/* ---- listen ---- */

static void listen_accepts_an_ipv4_literal(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "listen 192.168.1.20:65535\n");
	assert_int_equal(cfg.n_listen, 1);
	config_test_assert_listen(&cfg.listen[0], AF_INET, "192.168.1.20", 65535);
	assert_string_equal(cfg.listen[0].text, "192.168.1.20:65535");
	assert_int_equal(cfg.listen[0].line, 1);
}

static void listen_accepts_ipv6_in_brackets(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "# v6\nlisten [::1]:3000\nlisten [::]:1\nlisten [2001:db8::5]:443\n");
	assert_int_equal(cfg.n_listen, 3);
	config_test_assert_listen(&cfg.listen[0], AF_INET6, "::1", 3000);
	assert_string_equal(cfg.listen[0].text, "[::1]:3000");
	assert_int_equal(cfg.listen[0].line, 2);
	config_test_assert_listen(&cfg.listen[1], AF_INET6, "::", 1);
	config_test_assert_listen(&cfg.listen[2], AF_INET6, "2001:db8::5", 443);
}

static void listen_star_means_every_ipv4_address(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "listen *:3000\n");
	assert_int_equal(cfg.n_listen, 1);
	config_test_assert_listen(&cfg.listen[0], AF_INET, "0.0.0.0", 3000);
	assert_string_equal(cfg.listen[0].text, "*:3000");
}

static void listen_lines_replace_the_default_and_then_add(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "listen 10.0.0.1:80\nlisten 127.0.0.1:3000\n");
	assert_int_equal(cfg.n_listen, 2);
	config_test_assert_listen(&cfg.listen[0], AF_INET, "10.0.0.1", 80);
	config_test_assert_listen(&cfg.listen[1], AF_INET, "127.0.0.1", 3000);
	assert_int_equal(cfg.listen[1].line, 2);
}

static void listen_rejects_names_and_malformed_addresses(void **state)
{
	static const char *const bad[] = {
		"localhost:3000", "127.0.0.1", "127.0.0.1:", ":3000", "::1:3000", "[::1]3000",
		"[::1]", "[::1]:", "[::1", "1.2.3:80", "1.2.3.4.5:80", "127.0.0.1:http",
		"127.0.0.1:+80", "127.0.0.1:-1", "[fe80::1%eth0]:80", "[*]:80", "[127.0.0.1]:80",
		"*", "*:", "[]:80",
	};
	char message[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(message, sizeof message,
			 "listen: bad address '%s' (expected IPv4:PORT, [IPv6]:PORT, *:PORT or unix:PATH)",
			 bad[i]);
		config_test_expect_value_error("listen", bad[i], message);
	}
}

static void listen_takes_unix_sockets_and_options(void **state)
{
	struct config cfg;
	char long_path[200];

	config_test_parse_ok(&cfg, "listen 127.0.0.1:3000 reuseport\nlisten unix:/run/roomcast/a.sock\n"
				   "listen unix:/run/roomcast/b.sock mode=0660\n");
	assert_int_equal(cfg.n_listen, 3);
	assert_true(cfg.listen[0].reuseport);
	assert_int_equal(cfg.listen[1].addr.ss_family, AF_UNIX);
	assert_string_equal(((struct sockaddr_un *)&cfg.listen[1].addr)->sun_path, "/run/roomcast/a.sock");
	assert_int_equal(cfg.listen[1].mode, 0666);
	assert_int_equal(cfg.listen[2].mode, 0660);
	assert_string_equal(cfg.listen[2].text, "unix:/run/roomcast/b.sock");
	config_test_expect_value_error("listen", "unix:relative.sock",
				       "listen: bad unix socket 'unix:relative.sock' (unix:/absolute/path, at most 107 bytes)");
	snprintf(long_path, sizeof long_path, "unix:/%0108d", 0);
	config_test_expect_value_error("listen", long_path,
				       "listen: bad unix socket 'unix:/0000000000000000000000000000000000000000000000000000000000...' "
				       "(unix:/absolute/path, at most 107 bytes)");
	config_test_expect_value_error("listen", "unix:/a.sock reuseport",
				       "listen: unknown option 'reuseport' (a unix socket takes mode=OCTAL and proxy_protocol)");
	config_test_expect_value_error("listen", "unix:/a.sock mode=0999",
				       "listen: unknown option 'mode=0999' (a unix socket takes mode=OCTAL and proxy_protocol)");
	config_test_expect_value_error("listen", "127.0.0.1:3000 mode=0660",
				       "listen: unknown option 'mode=0660' (an address takes reuseport and proxy_protocol)");
	config_test_expect_error("listen unix:/a.sock\nlisten unix:/a.sock mode=0600\n",
				 "t.conf:2: listen: duplicate listener 'unix:/a.sock' (first declared on line 1)");
}

static void admin_listen_takes_one_address_apart_from_listen(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_false(cfg.has_admin_listen);
	config_test_parse_ok(&cfg, "listen 127.0.0.1:3000\nadmin_listen 127.0.0.1:9100\n");
	assert_true(cfg.has_admin_listen);
	config_test_assert_listen(&cfg.admin_listen, AF_INET, "127.0.0.1", 9100);
	assert_string_equal(cfg.admin_listen.text, "127.0.0.1:9100");
	config_test_expect_error("listen 127.0.0.1:3000\nadmin_listen 127.0.0.1:3000\n",
				 "t.conf:2: admin_listen: '127.0.0.1:3000' is also a listen address");
	config_test_expect_value_error("admin_listen", "unix:/a.sock",
				       "admin_listen: bad address 'unix:/a.sock' (expected IPv4:PORT, [IPv6]:PORT or *:PORT)");
}

static void cluster_connection_caps_take_their_ranges(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.cluster_max_unauthenticated, 4096);
	assert_int_equal(cfg.cluster_max_unauthenticated_per_ip, 1024);
	assert_int_equal(cfg.cluster_max_upstreams, 0);
	config_test_parse_ok(&cfg, "cluster_max_upstreams 1000000\n");
	assert_int_equal(cfg.cluster_max_upstreams, 1000000);
	config_test_expect_value_error("cluster_max_upstreams", "1000001",
				       "cluster_max_upstreams: '1000001' out of range (0..1000000)");
	config_test_parse_ok(&cfg, "cluster_max_unauthenticated 1\ncluster_max_unauthenticated_per_ip 1\n");
	assert_int_equal(cfg.cluster_max_unauthenticated, 1);
	assert_int_equal(cfg.cluster_max_unauthenticated_per_ip, 1);
	config_test_parse_ok(&cfg, "cluster_max_unauthenticated 65536\n"
				   "cluster_max_unauthenticated_per_ip 1000000\n");
	assert_int_equal(cfg.cluster_max_unauthenticated, 65536);
	assert_int_equal(cfg.cluster_max_unauthenticated_per_ip, 1000000);
	config_test_expect_value_error("cluster_max_unauthenticated", "0",
				       "cluster_max_unauthenticated: '0' out of range (1..65536)");
	config_test_expect_value_error("cluster_max_unauthenticated", "65537",
				       "cluster_max_unauthenticated: '65537' out of range (1..65536)");
	config_test_expect_value_error("cluster_max_unauthenticated_per_ip", "0",
				       "cluster_max_unauthenticated_per_ip: '0' out of range (1..1000000)");
}

static void cluster_listen_needs_its_secret_redis_and_an_address_peers_reach(void **state)
{
	struct config cfg;
	static const char base[] = "redis 127.0.0.1:6379\ncluster_secret_file /etc/s\n";
	char text[256];

	config_defaults(&cfg);
	assert_false(cfg.has_cluster_listen);
	snprintf(text, sizeof text, "%scluster_listen 127.0.0.1:0\n", base);
	config_test_parse_ok(&cfg, text);
	assert_true(cfg.has_cluster_listen);
	config_test_assert_listen(&cfg.cluster_listen, AF_INET, "127.0.0.1", 0);
	assert_string_equal(cfg.cluster_secret_file, "/etc/s");
	config_defaults(&cfg);
	snprintf(text, sizeof text, "%scluster_listen [::1]:7000\n", base);
	config_test_parse_ok(&cfg, text);
	config_test_assert_listen(&cfg.cluster_listen, AF_INET6, "::1", 7000);
	config_test_expect_error("redis 127.0.0.1:6379\ncluster_secret_file /etc/s\ncluster_listen *:7000\n",
				 "t.conf:3: cluster_listen: '*:7000' is announced to the other instances: "
				 "name an address of this host they can reach");
	config_test_expect_error("redis 127.0.0.1:6379\ncluster_secret_file /etc/s\n"
				 "cluster_listen [::]:7000\n",
				 "t.conf:3: cluster_listen: '[::]:7000' is announced to the other instances: "
				 "name an address of this host they can reach");
	config_test_expect_error("redis 127.0.0.1:6379\ncluster_listen 127.0.0.1:7000\n",
				 "t.conf:2: cluster_listen and cluster_secret_file go together: routing needs both");
	config_test_expect_error("redis 127.0.0.1:6379\ncluster_secret_file /etc/s\n",
				 "t.conf:2: cluster_listen and cluster_secret_file go together: routing needs both");
	config_test_expect_error("cluster_secret_file /etc/s\ncluster_listen 127.0.0.1:7000\n",
				 "t.conf:2: cluster_listen needs a redis key: instances find each other through Redis");
	config_test_expect_error("listen 127.0.0.1:3000\nredis 127.0.0.1:6379\ncluster_secret_file /etc/s\n"
				 "cluster_listen 127.0.0.1:3000\n",
				 "t.conf:4: cluster_listen: '127.0.0.1:3000' is also a listen address");
	config_test_expect_error("admin_listen 127.0.0.1:9100\nredis 127.0.0.1:6379\n"
				 "cluster_secret_file /etc/s\ncluster_listen 127.0.0.1:9100\n",
				 "t.conf:4: cluster_listen: '127.0.0.1:9100' is also the admin_listen address");
	config_test_expect_value_error("cluster_listen", "unix:/a.sock",
				       "cluster_listen: bad address 'unix:/a.sock' (expected IPv4:PORT or "
				       "[IPv6]:PORT; port 0 picks a free one)");
	/* port 0 only here: a client listener must say its port */
	config_test_expect_value_error("listen", "127.0.0.1:0",
				       "listen: port '0' out of range (1..65535)");
}

static void listen_port_outside_1_to_65535_is_rejected(void **state)
{
	config_test_expect_value_error("listen", "127.0.0.1:0", "listen: port '0' out of range (1..65535)");
	config_test_expect_value_error("listen", "127.0.0.1:65536",
				       "listen: port '65536' out of range (1..65535)");
	config_test_expect_value_error("listen", "[::1]:99999999999999999999",
				       "listen: port '99999999999999999999' out of range (1..65535)");
}

static void duplicate_listener_names_the_earlier_line(void **state)
{
	config_test_expect_error("listen 127.0.0.1:3000\n# other\nlisten [::1]:3000\nlisten 127.0.0.1:3000\n",
				 "t.conf:4: listen: duplicate listener '127.0.0.1:3000' (first declared on line 1)");
	/* Same address written two ways is still the same listener. */
	config_test_expect_error("listen 0.0.0.0:80\nlisten *:80\n",
				 "t.conf:2: listen: duplicate listener '*:80' (first declared on line 1)");
	config_test_expect_error("listen [::]:80\nlisten [0:0::0]:80\n",
				 "t.conf:2: listen: duplicate listener '[0:0::0]:80' (first declared on line 1)");
}

static void same_address_on_another_port_is_not_a_duplicate(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "listen 127.0.0.1:80\nlisten 127.0.0.1:81\nlisten [::1]:80\n");
	assert_int_equal(cfg.n_listen, 3);
}

static void sixteen_listeners_are_accepted_and_a_seventeenth_is_rejected(void **state)
{
	struct config cfg;
	char text[2048];
	size_t off = 0;

	for (int i = 1; i <= CONFIG_MAX_LISTEN; i++)
		off += (size_t)snprintf(text + off, sizeof text - off, "listen 127.0.0.1:%d\n", i);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(cfg.n_listen, CONFIG_MAX_LISTEN);
	config_test_assert_listen(&cfg.listen[15], AF_INET, "127.0.0.1", 16);
	assert_int_equal(cfg.listen[15].line, 16);

	snprintf(text + off, sizeof text - off, "listen 127.0.0.1:17\n");
	config_test_expect_error(text, "t.conf:17: listen: too many listeners (at most 16)");
}

/* ---- path, transports, booleans ---- */

static void path_gets_a_trailing_slash_when_missing(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "path /chat\n");
	assert_string_equal(cfg.path, "/chat/");
	config_test_parse_ok(&cfg, "path /chat/io/\n");
	assert_string_equal(cfg.path, "/chat/io/");
	config_test_parse_ok(&cfg, "path /\n");
	assert_string_equal(cfg.path, "/");
	config_test_parse_ok(&cfg, "path /a-b_c.d~e%20f:@!$&'()*+,;=\n");
	assert_string_equal(cfg.path, "/a-b_c.d~e%20f:@!$&'()*+,;=/");
}

static void path_must_start_with_a_slash(void **state)
{
	config_test_expect_error("\npath socket.io/\n",
				 "t.conf:2: path: bad path 'socket.io/' (must start with '/')");
}

static void path_with_query_fragment_or_non_ascii_is_rejected(void **state)
{
	config_test_expect_value_error("path", "/a?b", "path: bad path '/a?b' (character '?' not allowed)");
	config_test_expect_value_error("path", "/a#b", "path: bad path '/a#b' (character '#' not allowed)");
	config_test_expect_value_error("path", "/a\"b", "path: bad path '/a\"b' (character '\"' not allowed)");
	config_test_expect_value_error("path", "/a%2", "path: bad path '/a%2' ('%' must start a %XX escape)");
	config_test_expect_value_error("path", "/a%zz/", "path: bad path '/a%zz/' ('%' must start a %XX escape)");
	config_test_expect_value_error("path", "/caf\xc3\xa9",
				       "path: bad path '/caf\\xc3\\xa9' (byte \\xc3 not allowed; percent-encode it)");
}

static void path_of_255_bytes_is_accepted_and_256_is_rejected(void **state)
{
	struct config cfg;
	char text[512];
	char *seg = config_test_repeat('a', 253);

	/* "/" + 253 + "/" = 255 bytes, the most that fits with the NUL. */
	snprintf(text, sizeof text, "path /%s/\n", seg);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(strlen(cfg.path), 255);
	/* 254 bytes without the slash: the added slash makes 255. */
	snprintf(text, sizeof text, "path /%s\n", seg);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(strlen(cfg.path), 255);
	assert_int_equal(cfg.path[254], '/');
	/* 255 bytes without the slash would need 256. */
	snprintf(text, sizeof text, "path /%sa\n", seg);
	config_test_expect_error(text, "t.conf:1: path: bad path (longer than 255 bytes)");
	snprintf(text, sizeof text, "path /%sa/\n", seg);
	config_test_expect_error(text, "t.conf:1: path: bad path (longer than 255 bytes)");
	free(seg);
}

static void transports_take_one_or_both_words_in_any_order(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "transports polling\n");
	assert_int_equal(cfg.transports, CONFIG_TRANSPORT_POLLING);
	config_test_parse_ok(&cfg, "transports websocket polling\n");
	assert_int_equal(cfg.transports, CONFIG_TRANSPORT_POLLING | CONFIG_TRANSPORT_WEBSOCKET);
	config_test_parse_ok(&cfg, "transports polling websocket\n");
	assert_int_equal(cfg.transports, CONFIG_TRANSPORT_POLLING | CONFIG_TRANSPORT_WEBSOCKET);
}

static void unknown_transport_is_rejected(void **state)
{
	config_test_expect_error("ping_interval 1s\ntransports polling flashsocket\n",
				 "t.conf:2: transports: unknown transport 'flashsocket' (polling, websocket)");
	config_test_expect_value_error("transports", "WebSocket",
				       "transports: unknown transport 'WebSocket' (polling, websocket)");
}

static void transport_listed_twice_is_rejected(void **state)
{
	config_test_expect_value_error("transports", "websocket websocket",
				       "transports: 'websocket' listed twice");
}

static void booleans_accept_yes_no_on_off_true_false(void **state)
{
	static const struct { const char *word; bool value; } words[] = {
		{ "yes", true }, { "no", false }, { "on", true },
		{ "off", false }, { "true", true }, { "false", false },
	};
	struct config cfg;
	char text[64];

	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		snprintf(text, sizeof text, "allow_upgrades %s\n", words[i].word);
		config_test_parse_ok(&cfg, text);
		assert_int_equal(cfg.allow_upgrades, words[i].value);
	}
}

static void bad_boolean_is_rejected(void **state)
{
	config_test_expect_value_error("allow_upgrades", "maybe",
				       "allow_upgrades: bad boolean 'maybe' (yes/no, on/off, true/false)");
	config_test_expect_value_error("allow_upgrades", "1",
				       "allow_upgrades: bad boolean '1' (yes/no, on/off, true/false)");
	config_test_expect_value_error("allow_upgrades", "Yes",
				       "allow_upgrades: bad boolean 'Yes' (yes/no, on/off, true/false)");
}

/* ---- numbers and units ---- */

static void size_suffixes_are_powers_of_1024_in_either_case(void **state)
{
	static const struct { const char *value; size_t bytes; } sizes[] = {
		{ "1M", 1048576 }, { "1m", 1048576 }, { "1K", 1024 }, { "1k", 1024 },
		{ "3K", 3072 }, { "1G", 1073741824 }, { "1g", 1073741824 },
		{ "1000000", 1000000 }, { "1", 1 }, { "007", 7 },
	};
	struct config cfg;
	char text[64];

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		snprintf(text, sizeof text, "max_payload %s\nmax_output_buffer 1G\n", sizes[i].value);
		config_test_parse_ok(&cfg, text);
		assert_int_equal(cfg.max_payload, sizes[i].bytes);
	}
}

static void durations_take_ms_s_m_and_h(void **state)
{
	static const struct { const char *value; uint32_t ms; } durations[] = {
		{ "500ms", 500 }, { "25s", 25000 }, { "2m", 120000 }, { "1h", 3600000 },
		{ "1ms", 1 }, { "90s", 90000 },
	};
	struct config cfg;
	char text[64];

	for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
		snprintf(text, sizeof text, "ping_timeout %s\n", durations[i].value);
		config_test_parse_ok(&cfg, text);
		assert_int_equal(cfg.ping_timeout_ms, durations[i].ms);
	}
}

static void duration_without_unit_is_rejected_with_line_number(void **state)
{
	config_test_expect_error("# heartbeat\n\nping_interval 25\n",
				 "t.conf:3: ping_interval: duration needs a unit (ms, s, m, h)");
	config_test_expect_value_error("keepalive_timeout", "0",
				       "keepalive_timeout: duration needs a unit (ms, s, m, h)");
}

static void duration_with_an_unknown_unit_is_rejected(void **state)
{
	config_test_expect_value_error("ping_timeout", "25x", "ping_timeout: bad unit 'x' (ms, s, m, h)");
	config_test_expect_value_error("ping_timeout", "25S", "ping_timeout: bad unit 'S' (ms, s, m, h)");
	config_test_expect_value_error("ping_timeout", "1sec", "ping_timeout: bad unit 'sec' (ms, s, m, h)");
	config_test_expect_value_error("upgrade_timeout", "10K", "upgrade_timeout: bad unit 'K' (ms, s, m, h)");
}

static void size_with_an_unknown_unit_is_rejected(void **state)
{
	config_test_expect_value_error("max_payload", "1T", "max_payload: bad unit 'T' (K, M, G)");
	config_test_expect_value_error("max_payload", "1KB", "max_payload: bad unit 'KB' (K, M, G)");
	config_test_expect_value_error("max_payload", "1s", "max_payload: bad unit 's' (K, M, G)");
}

static void malformed_numbers_are_rejected(void **state)
{
	static const char *const bad[] = { "abc", "-1", "+5", "1.5M", "0x10", "1_000", "M", "1M5" };
	char message[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(message, sizeof message, "max_header_size: bad number '%s'", bad[i]);
		config_test_expect_value_error("max_header_size", bad[i], message);
	}
	config_test_expect_value_error("ping_interval", "1.5s", "ping_interval: bad number '1.5s'");
	config_test_expect_value_error("ping_interval", "s", "ping_interval: bad number 's'");
}

static void zero_duration_is_out_of_range(void **state)
{
	config_test_expect_value_error("ping_interval", "0ms", "ping_interval: '0ms' out of range (1ms..1h)");
	config_test_expect_value_error("upgrade_timeout", "0s", "upgrade_timeout: '0s' out of range (1ms..1h)");
}

static void durations_up_to_one_hour_are_accepted_and_beyond_rejected(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "ping_interval 60m\nping_timeout 3600000ms\nupgrade_timeout 3600s\n");
	assert_int_equal(cfg.ping_interval_ms, 3600000);
	assert_int_equal(cfg.ping_timeout_ms, 3600000);
	assert_int_equal(cfg.upgrade_timeout_ms, 3600000);
	config_test_expect_value_error("ping_interval", "3600001ms",
				       "ping_interval: '3600001ms' out of range (1ms..1h)");
	config_test_expect_value_error("ping_interval", "61m", "ping_interval: '61m' out of range (1ms..1h)");
	config_test_expect_value_error("keepalive_timeout", "2h",
				       "keepalive_timeout: '2h' out of range (1ms..1h)");
}

static void header_and_body_timeouts_take_1ms_to_1h(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "header_timeout 1ms\nbody_timeout 1ms\n");
	assert_int_equal(cfg.header_timeout_ms, 1);
	assert_int_equal(cfg.body_timeout_ms, 1);
	config_test_parse_ok(&cfg, "header_timeout 1h\nbody_timeout 3600000ms\n");
	assert_int_equal(cfg.header_timeout_ms, 3600000);
	assert_int_equal(cfg.body_timeout_ms, 3600000);
	config_test_expect_value_error("header_timeout", "0ms",
				       "header_timeout: '0ms' out of range (1ms..1h)");
	config_test_expect_value_error("header_timeout", "3600001ms",
				       "header_timeout: '3600001ms' out of range (1ms..1h)");
	config_test_expect_value_error("body_timeout", "0ms",
				       "body_timeout: '0ms' out of range (1ms..1h)");
	config_test_expect_value_error("body_timeout", "3600001ms",
				       "body_timeout: '3600001ms' out of range (1ms..1h)");
}

static void max_connections_per_ip_takes_0_to_a_million(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_connections_per_ip 0\n");
	assert_int_equal(cfg.max_connections_per_ip, 0);
	config_test_parse_ok(&cfg, "max_connections_per_ip 1000000\n");
	assert_int_equal(cfg.max_connections_per_ip, 1000000);
	config_test_expect_value_error("max_connections_per_ip", "1000001",
				       "max_connections_per_ip: '1000001' out of range (0..1000000)");
	config_test_expect_value_error("max_connections_per_ip", "-1",
				       "max_connections_per_ip: bad number '-1'");
}

/* The network of entry <i> as text and its prefix, to compare. */
static void config_test_cidr(const struct config *cfg, size_t i, const char *addr, unsigned bits)
{
	char text[INET6_ADDRSTRLEN];
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	const struct config_cidr *c = &cfg->trusted_proxies[i];

	if (memcmp(c->addr, mapped, 12) == 0)
		inet_ntop(AF_INET, c->addr + 12, text, sizeof text);
	else
		inet_ntop(AF_INET6, c->addr, text, sizeof text);
	assert_string_equal(text, addr);
	assert_int_equal(c->bits, bits);
}

static void trusted_proxies_takes_addresses_networks_and_unix(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.n_trusted_proxies, 0);
	assert_false(cfg.trust_unix);
	config_test_parse_ok(&cfg, "trusted_proxies 127.0.0.1 10.1.2.3/8 unix:\n"
				   "trusted_proxies 2001:db8::1/32 ::1 0.0.0.0/0\n");
	assert_int_equal(cfg.n_trusted_proxies, 5);
	assert_true(cfg.trust_unix);
	config_test_cidr(&cfg, 0, "127.0.0.1", 128);
	config_test_cidr(&cfg, 1, "10.0.0.0", 104);     /* the host bits are cleared */
	config_test_cidr(&cfg, 2, "2001:db8::", 32);
	config_test_cidr(&cfg, 3, "::1", 128);
	config_test_cidr(&cfg, 4, "0.0.0.0", 96);
	config_test_expect_value_error("trusted_proxies", "proxy.example",
				       "trusted_proxies: bad network 'proxy.example' (expected an IPv4 or IPv6 "
				       "address, with /BITS for a network, or unix:)");
	config_test_expect_value_error("trusted_proxies", "10.0.0.0/33",
				       "trusted_proxies: bad network '10.0.0.0/33' (an IPv4 prefix is at most 32 bits)");
	config_test_expect_value_error("trusted_proxies", "::/129",
				       "trusted_proxies: bad network '::/129' (bad prefix length)");
	config_test_expect_value_error("trusted_proxies", "10.0.0.0/",
				       "trusted_proxies: bad network '10.0.0.0/' (bad prefix length)");
	config_test_expect_value_error("trusted_proxies", "10.0.0.0/-1",
				       "trusted_proxies: bad network '10.0.0.0/-1' (bad prefix length)");
	config_test_expect_value_error("trusted_proxies", "10.0.0.0/8x",
				       "trusted_proxies: bad network '10.0.0.0/8x' (bad prefix length)");
}

static void trusted_proxies_holds_16_networks_the_17th_is_refused(void **state)
{
	struct config cfg;
	char text[512];
	size_t n = 0;

	n += (size_t)snprintf(text + n, sizeof text - n, "trusted_proxies");
	for (int i = 0; i < 8; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, " 10.0.0.%d", i);
	n += (size_t)snprintf(text + n, sizeof text - n, "\ntrusted_proxies unix:");
	for (int i = 8; i < 16; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, " 10.0.0.%d", i);
	snprintf(text + n, sizeof text - n, "\n");
	config_test_parse_ok(&cfg, text);
	assert_int_equal(cfg.n_trusted_proxies, CONFIG_MAX_TRUSTED_PROXIES);
	config_test_cidr(&cfg, 15, "10.0.0.15", 128);
	snprintf(text + n, sizeof text - n, "\ntrusted_proxies 10.0.0.16\n");
	config_test_expect_error(text, "t.conf:3: trusted_proxies: too many networks (at most 16)");
}

static void listen_proxy_protocol_needs_trusted_proxies(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "listen 127.0.0.1:3000 reuseport proxy_protocol\n"
				   "listen unix:/run/rc.sock mode=0600 proxy_protocol\nlisten 127.0.0.1:3001\n"
				   "trusted_proxies 127.0.0.1 unix:\n");
	assert_true(cfg.listen[0].proxy_protocol && cfg.listen[0].reuseport);
	assert_true(cfg.listen[1].proxy_protocol);
	assert_int_equal(cfg.listen[1].mode, 0600);
	assert_false(cfg.listen[2].proxy_protocol);
	config_test_expect_error("listen 127.0.0.1:3000 proxy_protocol\n",
				 "t.conf:1: listen 127.0.0.1:3000 proxy_protocol: trusted_proxies names no "
				 "network: every connection would be refused");
	config_test_expect_error("trusted_proxies 127.0.0.1\nlisten unix:/run/rc.sock proxy_protocol\n",
				 "t.conf:2: listen unix:/run/rc.sock proxy_protocol: trusted_proxies names no "
				 "unix: peer: every connection would be refused");
	config_test_expect_error("trusted_proxies unix:\nlisten 127.0.0.1:3000 proxy_protocol\n",
				 "t.conf:2: listen 127.0.0.1:3000 proxy_protocol: trusted_proxies names no "
				 "network: every connection would be refused");
	/* Peers connect to cluster_listen directly: no balancer, no PROXY
	 * header, and its caps count each connection's own peer. */
	config_test_expect_error("trusted_proxies 127.0.0.1\ncluster_listen 127.0.0.1:0 proxy_protocol\n",
				 "t.conf:2: cluster_listen: too many values (takes one)");
}

static void linger_timeout_takes_1ms_to_1h(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "linger_timeout 1ms\n");
	assert_int_equal(cfg.linger_timeout_ms, 1);
	config_test_parse_ok(&cfg, "linger_timeout 1h\n");
	assert_int_equal(cfg.linger_timeout_ms, 3600000);
	config_test_expect_value_error("linger_timeout", "0ms",
				       "linger_timeout: '0ms' out of range (1ms..1h)");
	config_test_expect_value_error("linger_timeout", "3600001ms",
				       "linger_timeout: '3600001ms' out of range (1ms..1h)");
}

/* A top-level duration key of <cfg>'s uint32_t field at <offset>: its
 * default, 0ms and <top> (<top_ms>) taken, <past> refused as out of
 * <range>. */
static void config_test_duration_key(const char *key, size_t offset, uint32_t default_ms,
				     const char *top, uint32_t top_ms, const char *past,
				     const char *range)
{
	struct config cfg;
	char text[96], message[160];
	const uint32_t *field = (const uint32_t *)((const char *)&cfg + offset);

	config_defaults(&cfg);
	assert_int_equal(*field, default_ms);
	snprintf(text, sizeof text, "%s 0ms\n", key);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(*field, 0);
	snprintf(text, sizeof text, "%s %s\n", key, top);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(*field, top_ms);
	snprintf(message, sizeof message, "%s: '%s' out of range (%s)", key, past, range);
	config_test_expect_value_error(key, past, message);
}

static void drain_timeout_takes_0_to_10m(void **state)
{
	config_test_duration_key("drain_timeout", offsetof(struct config, drain_timeout_ms), 10000,
				 "10m", 600000, "601s", "0ms..10m");
}

static void flush_delay_takes_0_to_1s(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "namespace / {\n  flush_delay 0ms\n}\nnamespace /b {\n"
				   "  flush_delay 1s\n}\n");
	assert_int_equal(cfg.namespaces[0].flush_delay_ms, 0);
	assert_int_equal(cfg.namespaces[1].flush_delay_ms, 1000);
	config_test_expect_error("namespace / {\n  flush_delay 1001ms\n}\n",
				 "t.conf:2: flush_delay: '1001ms' out of range (0ms..1s)");
	config_test_expect_error("namespace / {\n  flush_delay 5\n}\n",
				 "t.conf:2: flush_delay: duration needs a unit (ms, s, m, h)");
}

static void numbers_too_large_for_64_bits_are_out_of_range(void **state)
{
	config_test_expect_value_error("ping_interval", "99999999999999999999999s",
				       "ping_interval: '99999999999999999999999s' out of range (1ms..1h)");
	/* Fits in 64 bits, overflows once multiplied by the unit. */
	config_test_expect_value_error("max_payload", "18446744073709551615G",
				       "max_payload: '18446744073709551615G' out of range (1..1G)");
	config_test_expect_value_error("max_connections", "18446744073709551616",
				       "max_connections: '18446744073709551616' out of range (1..1000000)");
}

static void max_payload_accepts_1_to_1G(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_payload 1\n");
	assert_int_equal(cfg.max_payload, 1);
	config_test_parse_ok(&cfg, "max_output_buffer 1G\nmax_payload 1G\n");
	assert_int_equal(cfg.max_payload, 1073741824);
	config_test_expect_value_error("max_payload", "0", "max_payload: '0' out of range (1..1G)");
	config_test_expect_value_error("max_payload", "1073741825",
				       "max_payload: '1073741825' out of range (1..1G)");
	config_test_expect_value_error("max_payload", "1048577K",
				       "max_payload: '1048577K' out of range (1..1G)");
}

static void max_connections_accepts_1_to_a_million_without_unit(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_connections 1\n");
	assert_int_equal(cfg.max_connections, 1);
	config_test_parse_ok(&cfg, "max_connections 1000000\n");
	assert_int_equal(cfg.max_connections, 1000000);
	config_test_expect_value_error("max_connections", "0",
				       "max_connections: '0' out of range (1..1000000)");
	config_test_expect_value_error("max_connections", "1000001",
				       "max_connections: '1000001' out of range (1..1000000)");
	config_test_expect_value_error("max_connections", "10k",
				       "max_connections: bad number '10k' (a plain count, no unit)");
}

static void max_header_size_accepts_1K_to_1M(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_header_size 1024\n");
	assert_int_equal(cfg.max_header_size, 1024);
	config_test_parse_ok(&cfg, "max_header_size 1M\n");
	assert_int_equal(cfg.max_header_size, 1048576);
	config_test_expect_value_error("max_header_size", "1023",
				       "max_header_size: '1023' out of range (1K..1M)");
	config_test_expect_value_error("max_header_size", "1025K",
				       "max_header_size: '1025K' out of range (1K..1M)");
}

static void max_output_buffer_accepts_64K_to_1G(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_payload 64K\nmax_output_buffer 64K\n");
	assert_int_equal(cfg.max_output_buffer, 65536);
	config_test_parse_ok(&cfg, "max_output_buffer 1G\n");
	assert_int_equal(cfg.max_output_buffer, 1073741824);
	config_test_expect_value_error("max_output_buffer", "65535",
				       "max_output_buffer: '65535' out of range (64K..1G)");
	config_test_expect_value_error("max_output_buffer", "1025M",
				       "max_output_buffer: '1025M' out of range (64K..1G)");
}

static void output_buffer_smaller_than_max_payload_is_rejected(void **state)
{
	config_test_expect_error("max_payload 16M\n",
				 "t.conf:1: max_output_buffer (8388608 bytes) is smaller than max_payload "
				 "(16777216 bytes): one full-size message would cut a client off");
	/* Both set: the later line is the one to fix. */
	config_test_expect_error("max_output_buffer 1M\n\nmax_payload 2M\n",
				 "t.conf:3: max_output_buffer (1048576 bytes) is smaller than max_payload "
				 "(2097152 bytes): one full-size message would cut a client off");
	config_test_expect_error("max_payload 2M\nmax_output_buffer 1M\n",
				 "t.conf:2: max_output_buffer (1048576 bytes) is smaller than max_payload "
				 "(2097152 bytes): one full-size message would cut a client off");
}

static void keepalive_timeout_is_a_duration(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "keepalive_timeout 750ms\n");
	assert_int_equal(cfg.keepalive_timeout_ms, 750);
}

/* ---- cors_origin ---- */

static void cors_origin_star_allows_any_origin(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "cors_origin *\n");
	assert_true(cfg.cors_any);
	assert_int_equal(cfg.n_cors_origins, 0);
}

static void cors_origin_takes_a_list_of_origins(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "cors_origin http://example.com https://app.example.com:8443 "
				   "http://[::1]:3000 http://127.0.0.1 https://my-app_1.test\n");
	assert_false(cfg.cors_any);
	assert_int_equal(cfg.n_cors_origins, 5);
	assert_string_equal(cfg.cors_origins[0], "http://example.com");
	assert_string_equal(cfg.cors_origins[1], "https://app.example.com:8443");
	assert_string_equal(cfg.cors_origins[2], "http://[::1]:3000");
	assert_string_equal(cfg.cors_origins[3], "http://127.0.0.1");
	assert_string_equal(cfg.cors_origins[4], "https://my-app_1.test");
}

static void allowed_origins_and_allow_no_origin_parse_apart_from_cors(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_false(cfg.has_allowed_origins);
	assert_true(cfg.allow_no_origin);
	config_test_parse_ok(&cfg, "cors_origin *\nallowed_origins https://a.example http://b.test:8080\n"
				   "allow_no_origin no\n");
	assert_true(cfg.cors_any);
	assert_true(cfg.has_allowed_origins);
	assert_false(cfg.allowed_any);
	assert_int_equal(cfg.n_allowed_origins, 2);
	assert_string_equal(cfg.allowed_origins[1], "http://b.test:8080");
	assert_false(cfg.allow_no_origin);
	config_test_parse_ok(&cfg, "allowed_origins *\n");
	assert_true(cfg.allowed_any);
	assert_int_equal(cfg.n_allowed_origins, 0);
	config_test_expect_value_error("allowed_origins", "https://a.example *",
				       "allowed_origins: '*' cannot be mixed with origins");
	config_test_expect_value_error("allowed_origins", "https://a.example/",
				       "allowed_origins: bad origin 'https://a.example/' (no path allowed, not even '/')");
}

static void cors_origin_star_mixed_with_origins_is_rejected(void **state)
{
	config_test_expect_value_error("cors_origin", "http://a.example *",
				       "cors_origin: '*' cannot be mixed with origins");
	config_test_expect_value_error("cors_origin", "* *", "cors_origin: '*' cannot be mixed with origins");
}

static void cors_origin_not_as_a_browser_sends_it_is_rejected(void **state)
{
	static const struct { const char *origin, *why; } bad[] = {
		{ "example.com", "must start with http:// or https://" },
		{ "ftp://example.com", "must start with http:// or https://" },
		{ "HTTP://example.com", "must start with http:// or https://" },
		{ "http://", "no host" },
		{ "https://:8080", "no host" },
		{ "http://Example.com", "host must be lowercase, as browsers send it" },
		{ "http://[::ABCD]", "host must be lowercase, as browsers send it" },
		{ "http://example.com/", "no path allowed, not even '/'" },
		{ "https://example.com/app", "no path allowed, not even '/'" },
		{ "http://example.com:80", "default port: browsers leave it out" },
		{ "https://example.com:443", "default port: browsers leave it out" },
		{ "http://example.com:", "bad port" },
		{ "http://example.com:0", "bad port" },
		{ "http://example.com:08080", "bad port" },
		{ "http://example.com:65536", "bad port" },
		{ "http://example.com:x", "bad port" },
		{ "http://example.com:80x", "bad character after host" },
		{ "http://ex%61mple.com", "bad character in host (write names in punycode)" },
		{ "http://user@example.com", "bad character in host (write names in punycode)" },
		{ "http://example.com?x=1", "bad character in host (write names in punycode)" },
		{ "http://[::1", "bad IPv6 address" },
		{ "http://[zz]", "bad IPv6 address" },
		{ "http://[::1]x", "bad character after host" },
	};
	char message[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(message, sizeof message, "cors_origin: bad origin '%s' (%s)", bad[i].origin, bad[i].why);
		config_test_expect_value_error("cors_origin", bad[i].origin, message);
	}
	/* Ending at the very end of the text: nothing past it is read. */
	config_test_expect_error("cors_origin http://", "t.conf:1: cors_origin: bad origin 'http://' (no host)");
	config_test_expect_error("cors_origin http://a.test:", "t.conf:1: cors_origin: bad origin 'http://a.test:' (bad port)");
	/* https on port 80 and http on 443 are not defaults and stay. */
	struct config cfg;
	config_test_parse_ok(&cfg, "cors_origin https://a.test:80 http://a.test:443\n");
	assert_int_equal(cfg.n_cors_origins, 2);
}

static void cors_origin_of_255_bytes_is_accepted_and_256_is_rejected(void **state)
{
	struct config cfg;
	char *host = config_test_repeat('a', 255 - strlen("http://"));
	char text[512], message[CONFIG_ERR_LEN];

	snprintf(text, sizeof text, "cors_origin http://%s\n", host);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(strlen(cfg.cors_origins[0]), 255);
	snprintf(text, sizeof text, "cors_origin http://%sa\n", host);
	/* The quote in the message stops at 64 bytes. */
	snprintf(message, sizeof message, "t.conf:1: cors_origin: bad origin 'http://%.57s...' (too long)", host);
	config_test_expect_error(text, message);
	free(host);
}

static void sixteen_cors_origins_are_accepted_and_seventeen_rejected(void **state)
{
	struct config cfg;
	char text[1024];
	size_t off = (size_t)snprintf(text, sizeof text, "cors_origin");

	for (int i = 1; i <= CONFIG_MAX_CORS_ORIGINS; i++)
		off += (size_t)snprintf(text + off, sizeof text - off, " https://h%d.test", i);
	snprintf(text + off, sizeof text - off, "\n");
	config_test_parse_ok(&cfg, text);
	assert_int_equal(cfg.n_cors_origins, CONFIG_MAX_CORS_ORIGINS);
	assert_string_equal(cfg.cors_origins[15], "https://h16.test");

	snprintf(text + off, sizeof text - off, " https://h17.test\n");
	config_test_expect_error(text, "t.conf:1: cors_origin: too many values (takes at most 16)");
}

static void cors_origin_listed_twice_is_rejected(void **state)
{
	config_test_expect_value_error("cors_origin", "http://a.test https://a.test http://a.test",
				       "cors_origin: 'http://a.test' listed twice");
}

/* ---- log ---- */

static void log_level_takes_the_four_levels(void **state)
{
	static const struct { const char *word; enum log_level level; } levels[] = {
		{ "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN },
		{ "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG },
	};
	struct config cfg;
	char text[64];

	for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
		snprintf(text, sizeof text, "log_level %s\n", levels[i].word);
		config_test_parse_ok(&cfg, text);
		assert_int_equal(cfg.log_level, levels[i].level);
	}
}

static void unknown_log_level_is_rejected(void **state)
{
	config_test_expect_value_error("log_level", "verbose",
				       "log_level: unknown level 'verbose' (error, warn, info, debug)");
	config_test_expect_value_error("log_level", "INFO",
				       "log_level: unknown level 'INFO' (error, warn, info, debug)");
	config_test_expect_value_error("log_level", "debugdebugdebugdebug",
				       "log_level: unknown level 'debugdebugdebugdebug' (error, warn, info, debug)");
}

static void log_file_of_255_bytes_is_accepted_and_256_is_rejected(void **state)
{
	struct config cfg;
	char *name = config_test_repeat('l', 254);
	char text[512];

	snprintf(text, sizeof text, "log_file /%s\n", name);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(strlen(cfg.log_file), 255);
	snprintf(text, sizeof text, "log_file /%sl\n", name);
	config_test_expect_error(text, "t.conf:1: log_file: path longer than 255 bytes");
	free(name);
}

/* ---- syntax ---- */

static void unknown_key_is_rejected_with_line_number(void **state)
{
	config_test_expect_error("# c\n\nfoo 1\n", "t.conf:3: unknown key 'foo'");
	config_test_expect_error("Listen 127.0.0.1:3000\n",
				 "t.conf:1: unknown key 'Listen' (did you mean 'listen'?)");
	config_test_expect_error("ping_interval=25s\n", "t.conf:1: unknown key 'ping_interval=25s'");
}

static void access_log_is_off_logfmt_or_json(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "");
	assert_int_equal(cfg.access_log, LOG_ACCESS_OFF);
	config_test_parse_ok(&cfg, "access_log logfmt\n");
	assert_int_equal(cfg.access_log, LOG_ACCESS_LOGFMT);
	config_test_parse_ok(&cfg, "access_log json\n");
	assert_int_equal(cfg.access_log, LOG_ACCESS_JSON);
	config_test_parse_ok(&cfg, "access_log off\n");
	assert_int_equal(cfg.access_log, LOG_ACCESS_OFF);
	config_test_expect_error("access_log JSON\n",
				 "t.conf:1: access_log: unknown format 'JSON' (off, logfmt, json)");
	config_test_expect_error("access_log on\n",
				 "t.conf:1: access_log: unknown format 'on' (off, logfmt, json)");
}

static void unknown_key_suggests_the_nearest_key_of_its_scope(void **state)
{
	/* one letter missing, extra, wrong, or two swapped */
	config_test_expect_error("max_conections 5\n",
				 "t.conf:1: unknown key 'max_conections' (did you mean 'max_connections'?)");
	config_test_expect_error("ping_intervall 1s\n",
				 "t.conf:1: unknown key 'ping_intervall' (did you mean 'ping_interval'?)");
	config_test_expect_error("ping_intrevalx 1s\n",
				 "t.conf:1: unknown key 'ping_intrevalx' (did you mean 'ping_interval'?)");
	config_test_expect_error("drian_timeout 1s\n",
				 "t.conf:1: unknown key 'drian_timeout' (did you mean 'drain_timeout'?)");
	/* inside a block, the block's keys */
	config_test_expect_error("namespace /a {\n  relya yes\n}\n",
				 "t.conf:2: unknown key 'relya' (did you mean 'relay'?)");
	/* a short word takes one edit in three; three edits are no guess */
	config_test_expect_error("pth /x/\n", "t.conf:1: unknown key 'pth' (did you mean 'path'?)");
	config_test_expect_error("rdis x:1\n", "t.conf:1: unknown key 'rdis' (did you mean 'redis'?)");
	config_test_expect_error("namespace /a {\n  ath none\n}\n",
				 "t.conf:2: unknown key 'ath' (did you mean 'auth'?)");
	config_test_expect_error("max_cnnctns 5\n", "t.conf:1: unknown key 'max_cnnctns'");
}

static void unknown_key_is_quoted_escaped_and_cut_at_64_bytes(void **state)
{
	char *key = config_test_repeat('k', 100);
	char text[256], message[CONFIG_ERR_LEN];

	/* A UTF-8 byte order mark is not whitespace: it shows in the key. */
	config_test_expect_error("\xef\xbb\xbflisten 127.0.0.1:3000\n",
				 "t.conf:1: unknown key '\\xef\\xbb\\xbflisten'");
	snprintf(text, sizeof text, "%s 1\n", key);
	snprintf(message, sizeof message, "t.conf:1: unknown key '%.64s...'", key);
	config_test_expect_error(text, message);
	free(key);
}

static void stray_braces_are_rejected(void **state)
{
	config_test_expect_error("\n}\n", "t.conf:2: unexpected '}'");
	config_test_expect_error("{\n", "t.conf:1: unexpected '{'");
	config_test_expect_error("path /x {\n", "t.conf:1: path: unexpected '{' (no block here)");
	config_test_expect_error("path /x }\n", "t.conf:1: path: unexpected '}' (no block here)");
}

static void braces_inside_a_word_are_part_of_the_value(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "log_file /tmp/{x}\n");
	assert_string_equal(cfg.log_file, "/tmp/{x}");
	config_test_expect_value_error("path", "/a{b}", "path: bad path '/a{b}' (character '{' not allowed)");
}

static void missing_value_is_rejected(void **state)
{
	config_test_expect_error("listen 127.0.0.1:3000\nping_interval\n", "t.conf:2: ping_interval: missing value");
	config_test_expect_error("log_file   # later\n", "t.conf:1: log_file: missing value");
	config_test_expect_error("cors_origin", "t.conf:1: cors_origin: missing value");
}

static void too_many_values_are_rejected(void **state)
{
	config_test_expect_value_error("ping_interval", "1s 2s", "ping_interval: too many values (takes one)");
	config_test_expect_value_error("listen", "127.0.0.1:1 reuseport reuseport reuseport",
				       "listen: too many values (takes at most 3)");
	config_test_expect_value_error("transports", "polling websocket polling",
				       "transports: too many values (takes at most 2)");
	config_test_expect_value_error("max_payload", "1 M", "max_payload: too many values (takes one)");
}

static void duplicate_key_names_the_first_line(void **state)
{
	config_test_expect_error("listen 127.0.0.1:3000\n\nping_interval 25s\nping_timeout 5s\nping_interval 30s\n",
				 "t.conf:5: duplicate key 'ping_interval' (first set on line 3)");
	config_test_expect_error("cors_origin *\ncors_origin http://a.test\n",
				 "t.conf:2: duplicate key 'cors_origin' (first set on line 1)");
	config_test_expect_error("transports polling\ntransports polling\n",
				 "t.conf:2: duplicate key 'transports' (first set on line 1)");
}

static void comments_and_blank_lines_are_ignored(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg,
			     "# full line\n"
			     "\n"
			     "   \t\n"
			     "    # indented comment\n"
			     "ping_interval 30s # trailing comment\n"
			     "\tping_timeout\t\t5s\t# tab-separated\n"
			     "#ping_timeout 1s\n"
			     "transports polling # websocket\n");
	assert_int_equal(cfg.ping_interval_ms, 30000);
	assert_int_equal(cfg.transports, CONFIG_TRANSPORT_POLLING);
	assert_int_equal(cfg.ping_timeout_ms, 5000);
}

/* '#' opens a comment only at the start of a word: glued to a value it is
 * part of it, so a bad path is refused instead of silently cut. */
static void hash_inside_a_word_is_part_of_the_value(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "log_file /tmp/a#b # comment\n");
	assert_string_equal(cfg.log_file, "/tmp/a#b");
	config_test_expect_value_error("ping_timeout", "5s#x", "ping_timeout: bad number '5s#x'");
}

static void crlf_line_endings_are_accepted(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "# windows\r\nlisten [::1]:3000\r\n\r\nping_interval 30s\r\n"
				   "log_file /tmp/x.log # c\r\npath /io\r\n");
	config_test_assert_listen(&cfg.listen[0], AF_INET6, "::1", 3000);
	assert_int_equal(cfg.ping_interval_ms, 30000);
	assert_string_equal(cfg.log_file, "/tmp/x.log");
	assert_string_equal(cfg.path, "/io/");
	config_test_expect_error("ping_interval 30s\r\n\r\n# c\r\nbogus 1\r\n", "t.conf:4: unknown key 'bogus'");
}

static void carriage_return_without_newline_is_rejected(void **state)
{
	config_test_expect_error("ping_interval 1s\nping_timeout 2s\rpath /x\n",
				 "t.conf:2: control character \\x0d");
}

static void nul_byte_is_rejected_with_line_number(void **state)
{
	static const char text[] = "listen 127.0.0.1:3000\npath /x\0y\n";
	static const char in_comment[] = "\n\n# a\0b\n";

	config_test_expect_error_len(text, sizeof text - 1, "t.conf:2: NUL byte (not a text file?)");
	config_test_expect_error_len(in_comment, sizeof in_comment - 1, "t.conf:3: NUL byte (not a text file?)");
}

static void control_character_is_rejected(void **state)
{
	config_test_expect_error("path /x\x1b[0m\n", "t.conf:1: control character \\x1b");
	config_test_expect_error("\n\x7f\n", "t.conf:2: control character \\x7f");
	config_test_expect_error("path /x\f\n", "t.conf:1: control character \\x0c");
}

static void last_line_needs_no_newline(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "ping_interval 1s\nping_timeout 30s");
	assert_int_equal(cfg.ping_timeout_ms, 30000);
	config_test_parse_ok(&cfg, "ping_timeout 31s # no newline");
	assert_int_equal(cfg.ping_timeout_ms, 31000);
	config_test_expect_error("\nping_interval", "t.conf:2: ping_interval: missing value");
}

static void text_is_read_only_up_to_its_length(void **state)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];
	const char *text = "ping_interval 30s9";

	config_defaults(&cfg);
	assert_int_equal(config_test_parse_len(&cfg, text, strlen(text) - 1, err), 0);
	assert_int_equal(cfg.ping_interval_ms, 30000);
}

static void error_buffer_is_never_overrun(void **state)
{
	struct config cfg;
	char err[16];

	config_defaults(&cfg);
	memset(err, 'x', sizeof err);
	assert_int_equal(config_parse(&cfg, "foo 1\n", 6, "t.conf", err, 12), -1);
	assert_string_equal(err, "t.conf:1: u");
	assert_int_equal(err[12], 'x');
	/* A prefix that does not fit still leaves a terminated string. */
	assert_int_equal(config_parse(&cfg, "foo 1\n", 6, "roomcast.conf", err, 8), -1);
	assert_string_equal(err, "roomcas");
	assert_int_equal(config_parse(&cfg, "foo 1\n", 6, "t.conf", NULL, 0), -1);
}

/* ---- socket.io-level keys ---- */

static void socket_io_level_keys_default_to_the_reference_server(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.connect_timeout_ms, 45000);
	assert_int_equal(cfg.max_namespaces_per_session, 16);
	assert_int_equal(cfg.max_room_name, 256);
	assert_int_equal(cfg.max_json_expansion, 32);
	assert_int_equal(cfg.max_auth_size, 8192);
	assert_int_equal(cfg.max_acks_per_socket, 256);
}

static void connect_timeout_is_a_duration_up_to_one_hour(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "connect_timeout 1ms\n");
	assert_int_equal(cfg.connect_timeout_ms, 1);
	config_test_parse_ok(&cfg, "connect_timeout 1h\n");
	assert_int_equal(cfg.connect_timeout_ms, 3600000);
	config_test_parse_ok(&cfg, "connect_timeout 90s\n");
	assert_int_equal(cfg.connect_timeout_ms, 90000);
	config_test_expect_value_error("connect_timeout", "0s", "connect_timeout: '0s' out of range (1ms..1h)");
	config_test_expect_value_error("connect_timeout", "3601s",
				       "connect_timeout: '3601s' out of range (1ms..1h)");
	config_test_expect_value_error("connect_timeout", "45",
				       "connect_timeout: duration needs a unit (ms, s, m, h)");
}

static void max_namespaces_per_session_accepts_1_to_1000(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_namespaces_per_session 1\n");
	assert_int_equal(cfg.max_namespaces_per_session, 1);
	config_test_parse_ok(&cfg, "max_namespaces_per_session 1000\n");
	assert_int_equal(cfg.max_namespaces_per_session, 1000);
	config_test_expect_value_error("max_namespaces_per_session", "0",
				       "max_namespaces_per_session: '0' out of range (1..1000)");
	config_test_expect_value_error("max_namespaces_per_session", "1001",
				       "max_namespaces_per_session: '1001' out of range (1..1000)");
	config_test_expect_value_error("max_namespaces_per_session", "1k",
				       "max_namespaces_per_session: bad number '1k' (a plain count, no unit)");
}

static void max_room_name_accepts_1_to_4K(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_room_name 1\n");
	assert_int_equal(cfg.max_room_name, 1);
	config_test_parse_ok(&cfg, "max_room_name 4K\n");
	assert_int_equal(cfg.max_room_name, 4096);
	config_test_parse_ok(&cfg, "max_room_name 4096\n");
	assert_int_equal(cfg.max_room_name, CONFIG_MAX_ROOM_NAME);
	config_test_expect_value_error("max_room_name", "0", "max_room_name: '0' out of range (1..4K)");
	config_test_expect_value_error("max_room_name", "4097", "max_room_name: '4097' out of range (1..4K)");
	config_test_expect_value_error("max_room_name", "5K", "max_room_name: '5K' out of range (1..4K)");
}

static void max_json_expansion_accepts_2_to_1000(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_json_expansion 2\n");
	assert_int_equal(cfg.max_json_expansion, 2);
	config_test_parse_ok(&cfg, "max_json_expansion 1000\n");
	assert_int_equal(cfg.max_json_expansion, 1000);
	config_test_expect_value_error("max_json_expansion", "1",
				       "max_json_expansion: '1' out of range (2..1000)");
	config_test_expect_value_error("max_json_expansion", "1001",
				       "max_json_expansion: '1001' out of range (2..1000)");
}

static void max_auth_size_accepts_64_bytes_to_1M(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_auth_size 64\n");
	assert_int_equal(cfg.max_auth_size, 64);
	config_test_parse_ok(&cfg, "max_auth_size 1M\n");
	assert_int_equal(cfg.max_auth_size, 1048576);
	config_test_expect_value_error("max_auth_size", "63", "max_auth_size: '63' out of range (64..1M)");
	config_test_expect_value_error("max_auth_size", "1048577",
				       "max_auth_size: '1048577' out of range (64..1M)");
}

static void max_acks_per_socket_accepts_1_to_100000(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "max_acks_per_socket 1\n");
	assert_int_equal(cfg.max_acks_per_socket, 1);
	config_test_parse_ok(&cfg, "max_acks_per_socket 100000\n");
	assert_int_equal(cfg.max_acks_per_socket, 100000);
	config_test_expect_value_error("max_acks_per_socket", "0",
				       "max_acks_per_socket: '0' out of range (1..100000)");
	config_test_expect_value_error("max_acks_per_socket", "100001",
				       "max_acks_per_socket: '100001' out of range (1..100000)");
}

/* ---- namespace blocks ---- */

/* "namespace / {\n    KEY VALUE\n}\n" must fail with "t.conf:2: <message>". */
static void config_test_expect_block_value_error(const char *key, const char *value,
						 const char *message)
{
	char text[2048], expected[CONFIG_ERR_LEN + 16];

	snprintf(text, sizeof text, "namespace / {\n    %s %s\n}\n", key, value);
	snprintf(expected, sizeof expected, CONFIG_TEST_FILE ":2: %s", message);
	config_test_expect_error(text, expected);
}

static void config_test_assert_namespace_defaults(const struct config_namespace *ns)
{
	assert_int_equal(ns->n_client_join, 0);
	assert_string_equal(ns->join_event, "join");
	assert_string_equal(ns->leave_event, "leave");
	assert_int_equal(ns->max_rooms_per_socket, 64);
	assert_false(ns->relay);
	assert_int_equal(ns->flush_delay_ms, 0);
	assert_int_equal(ns->forward, CONFIG_FORWARD_UNRELAYED);
	assert_int_equal(ns->n_forward_events, 0);
}

static void root_namespace_exists_with_the_defaults_when_the_file_has_no_block(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.n_namespaces, 1);
	assert_string_equal(cfg.namespaces[0].name, "/");
	assert_int_equal(cfg.namespaces[0].name_len, 1);
	assert_int_equal(cfg.namespaces[0].line, 0);
	config_test_assert_namespace_defaults(&cfg.namespaces[0]);
	/* Declaring only another namespace keeps the implicit "/" first. */
	config_test_parse_ok(&cfg, "namespace /admin {\n}\n");
	assert_int_equal(cfg.n_namespaces, 2);
	assert_string_equal(cfg.namespaces[0].name, "/");
	assert_int_equal(cfg.namespaces[0].line, 0);
	config_test_assert_namespace_defaults(&cfg.namespaces[0]);
	assert_string_equal(cfg.namespaces[1].name, "/admin");
	assert_int_equal(cfg.namespaces[1].name_len, 6);
	assert_int_equal(cfg.namespaces[1].line, 1);
}

static void namespace_blocks_are_parsed_with_their_keys(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg,
			     "listen 127.0.0.1:3000\n"
			     "namespace / {\n"
			     "    client_join           chat:* user:{auth.user}:*\n"
			     "    join_event            enter\n"
			     "    leave_event           exit\n"
			     "    max_rooms_per_socket  10\n"
			     "    relay                 yes\n"
			     "    flush_delay           5ms\n"
			     "}\n"
			     "namespace /admin {\n"
			     "\trelay on\n"
			     "}\n"
			     "max_room_name 100\n");
	assert_int_equal(cfg.n_namespaces, 2);
	const struct config_namespace *root = &cfg.namespaces[0], *admin = &cfg.namespaces[1];
	assert_string_equal(root->name, "/");
	assert_int_equal(root->line, 2);
	assert_int_equal(root->n_client_join, 2);
	assert_string_equal(root->client_join[0], "chat:*");
	assert_string_equal(root->client_join[1], "user:{auth.user}:*");
	assert_string_equal(root->join_event, "enter");
	assert_string_equal(root->leave_event, "exit");
	assert_int_equal(root->max_rooms_per_socket, 10);
	assert_true(root->relay);
	assert_int_equal(root->flush_delay_ms, 5);
	assert_string_equal(admin->name, "/admin");
	assert_int_equal(admin->line, 10);
	assert_int_equal(admin->flush_delay_ms, 0);
	assert_int_equal(admin->n_client_join, 0);
	assert_string_equal(admin->join_event, "join");
	assert_string_equal(admin->leave_event, "leave");
	assert_int_equal(admin->max_rooms_per_socket, 64);
	assert_true(admin->relay);
	assert_int_equal(cfg.max_room_name, 100);
}

static void root_namespace_declared_after_others_stays_first(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "namespace /b {\n}\nnamespace /a {\n}\nnamespace / {\n  relay yes\n}\n");
	assert_int_equal(cfg.n_namespaces, 3);
	assert_string_equal(cfg.namespaces[0].name, "/");
	assert_int_equal(cfg.namespaces[0].line, 5);
	assert_true(cfg.namespaces[0].relay);
	assert_string_equal(cfg.namespaces[1].name, "/b");
	assert_string_equal(cfg.namespaces[2].name, "/a");
}

static void empty_block_declares_a_namespace_with_the_defaults(void **state)
{
	struct config cfg, defaults;

	config_test_parse_ok(&cfg, "namespace /chat {\n}\n");
	assert_int_equal(cfg.n_namespaces, 2);
	config_test_assert_namespace_defaults(&cfg.namespaces[1]);
	/* Declaring "/" with nothing in it is the same as not declaring it. */
	config_defaults(&defaults);
	config_test_parse_ok(&cfg, "namespace / {\n}\n");
	cfg.namespaces[0].line = 0;
	assert_memory_equal(&cfg, &defaults, sizeof cfg);
}

static void each_block_starts_from_the_defaults(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "namespace /a {\n  client_join x\n  join_event j\n  relay yes\n"
				   "  max_rooms_per_socket 1\n}\nnamespace /b {\n}\n");
	config_test_assert_namespace_defaults(&cfg.namespaces[2]);
}

static void comments_blank_lines_and_crlf_work_inside_blocks(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg,
			     "namespace /chat {   # the chat\r\n"
			     "\r\n"
			     "    # rooms\r\n"
			     "    client_join chat:*   # public\r\n"
			     "} # end of /chat\r\n"
			     "namespace /x {\n"
			     "}");
	assert_int_equal(cfg.n_namespaces, 3);
	assert_string_equal(cfg.namespaces[1].client_join[0], "chat:*");
	assert_string_equal(cfg.namespaces[2].name, "/x");
}

static void first_block_of_a_text_replaces_the_namespaces_and_a_text_without_blocks_keeps_them(void **state)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];
	const char *second = "namespace /b {\n}\n";

	config_test_parse_ok(&cfg, "namespace / {\n  relay yes\n}\nnamespace /a {\n}\n");
	assert_int_equal(cfg.n_namespaces, 2);
	assert_int_equal(config_test_parse_len(&cfg, second, strlen(second), err), 0);
	assert_int_equal(cfg.n_namespaces, 2);
	assert_string_equal(cfg.namespaces[0].name, "/");
	assert_false(cfg.namespaces[0].relay); /* back to the implicit "/" */
	assert_int_equal(cfg.namespaces[0].line, 0);
	assert_string_equal(cfg.namespaces[1].name, "/b");
	assert_int_equal(config_test_parse_len(&cfg, "path /x/\n", 9, err), 0);
	assert_int_equal(cfg.n_namespaces, 2);
	assert_string_equal(cfg.namespaces[1].name, "/b");
	/* A name from the earlier text is no duplicate in a later one. */
	assert_int_equal(config_test_parse_len(&cfg, second, strlen(second), err), 0);
}

static void unclosed_block_is_reported_at_its_namespace_line(void **state)
{
	config_test_expect_error("listen 127.0.0.1:3000\nnamespace /chat {\n  relay yes\n\n",
				 "t.conf:2: namespace '/chat' is not closed (missing '}')");
	config_test_expect_error("namespace /a {\n}\n\nnamespace /b {\n  relay yes\n# }\n",
				 "t.conf:4: namespace '/b' is not closed (missing '}')");
	config_test_expect_error("namespace / {", "t.conf:1: namespace '/' is not closed (missing '}')");
}

static void closing_brace_without_a_block_is_rejected(void **state)
{
	config_test_expect_error("namespace /a {\n}\n}\n", "t.conf:3: unexpected '}'");
	config_test_expect_error("relay yes\n", "t.conf:1: 'relay' is only valid inside a namespace block");
	config_test_expect_error("namespace /a {\n{\n}\n", "t.conf:2: unexpected '{'");
}

static void closing_brace_must_be_alone_on_its_line(void **state)
{
	config_test_expect_error("namespace /a {\n} relay yes\n", "t.conf:2: '}' must be alone on its line");
	config_test_expect_error("namespace /a {\n} }\n", "t.conf:2: '}' must be alone on its line");
	config_test_expect_error("namespace /a {\n  relay yes }\n}\n",
				 "t.conf:2: relay: unexpected '}' (a block ends with '}' alone on a line)");
	config_test_expect_error("namespace /a {\n  relay yes {\n}\n",
				 "t.conf:2: relay: unexpected '{' (no block here)");
}

static void namespace_line_needs_a_name_then_an_opening_brace_and_nothing_else(void **state)
{
	config_test_expect_error("\nnamespace\n", "t.conf:2: namespace: missing name");
	config_test_expect_error("namespace {\n}\n", "t.conf:1: namespace: missing name");
	config_test_expect_error("namespace # /chat {\n", "t.conf:1: namespace: missing name");
	config_test_expect_error("namespace /chat\n{\n}\n",
				 "t.conf:1: namespace: missing '{' after the name (on the same line)");
	config_test_expect_error("namespace /chat", "t.conf:1: namespace: missing '{' after the name (on the same line)");
	config_test_expect_error("namespace /a /b {\n}\n", "t.conf:1: namespace: unexpected '/b' (expected '{')");
	config_test_expect_error("namespace /a }\n", "t.conf:1: namespace: unexpected '}' (expected '{')");
	config_test_expect_error("namespace /a { relay yes\n}\n",
				 "t.conf:1: namespace: unexpected 'relay' after '{' (each key goes on its own line)");
	config_test_expect_error("namespace /a { }\n",
				 "t.conf:1: namespace: unexpected '}' after '{' (each key goes on its own line)");
	config_test_expect_error("namespace /a {{\n}\n", "t.conf:1: namespace: unexpected '{{' (expected '{')");
}

static void blocks_do_not_nest(void **state)
{
	config_test_expect_error("namespace /a {\n  relay yes\n  namespace /b {\n  }\n}\n",
				 "t.conf:3: namespace: blocks do not nest (close the block opened on line 1 first)");
}

static void namespace_name_must_start_with_a_slash(void **state)
{
	config_test_expect_error("namespace chat {\n}\n", "t.conf:1: namespace: bad name 'chat' (must start with '/')");
	config_test_expect_error("namespace {x} {\n}\n", "t.conf:1: namespace: bad name '{x}' (must start with '/')");
}

static void namespace_name_with_a_comma_hash_or_non_path_character_is_rejected(void **state)
{
	/* <quoted> is the name as the message quotes it: escaped. */
	static const struct { const char *name, *quoted, *why; } bad[] = {
		{ "/a,b", "/a,b", "character ',' not allowed: a packet ends the namespace at ','" },
		{ "/,", "/,", "character ',' not allowed: a packet ends the namespace at ','" },
		{ "/a#b", "/a#b", "character '#' not allowed: the Redis adapter's channels use it" },
		{ "/a?b", "/a?b", "character '?' not allowed" },
		{ "/a\"b", "/a\"b", "character '\"' not allowed" },
		{ "/a{b}", "/a{b}", "character '{' not allowed" },
		{ "/a\\b", "/a\\x5cb", "character '\\' not allowed" },
		{ "/a%2", "/a%2", "'%' must start a %XX escape" },
		{ "/a%zz", "/a%zz", "'%' must start a %XX escape" },
		{ "/caf\xc3\xa9", "/caf\\xc3\\xa9", "byte \\xc3 not allowed; percent-encode it" },
	};
	char text[256], message[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "namespace %s {\n}\n", bad[i].name);
		snprintf(message, sizeof message, "t.conf:1: namespace: bad name '%s' (%s)",
			 bad[i].quoted, bad[i].why);
		config_test_expect_error(text, message);
	}
}

static void namespace_name_takes_the_characters_of_a_url_path(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "namespace /a-b_c.d~e%20f:@!$&'()*+;=/g/ {\n}\nnamespace /chat/ {\n}\n"
				   "namespace /chat {\n}\n");
	assert_int_equal(cfg.n_namespaces, 4);
	assert_string_equal(cfg.namespaces[1].name, "/a-b_c.d~e%20f:@!$&'()*+;=/g/");
	/* Compared byte for byte: a trailing slash makes another namespace. */
	assert_string_equal(cfg.namespaces[2].name, "/chat/");
	assert_string_equal(cfg.namespaces[3].name, "/chat");
}

static void namespace_name_of_128_bytes_is_accepted_and_129_is_rejected(void **state)
{
	struct config cfg;
	char *seg = config_test_repeat('n', 127);
	char text[512];

	snprintf(text, sizeof text, "namespace /%s {\n}\n", seg);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(strlen(cfg.namespaces[1].name), 128);
	assert_int_equal(cfg.namespaces[1].name_len, 128);
	snprintf(text, sizeof text, "namespace /%sn {\n}\n", seg);
	config_test_expect_error(text, "t.conf:1: namespace: bad name (longer than 128 bytes)");
	free(seg);
}

static void duplicate_namespace_names_the_first_line(void **state)
{
	config_test_expect_error("namespace /chat {\n}\n\nnamespace /admin {\n}\nnamespace /chat {\n}\n",
				 "t.conf:6: namespace: duplicate namespace '/chat' (first declared on line 1)");
	config_test_expect_error("# root\nnamespace / {\n  relay yes\n}\nnamespace / {\n}\n",
				 "t.conf:5: namespace: duplicate namespace '/' (first declared on line 2)");
}

static void sixty_four_namespaces_are_accepted_and_a_sixty_fifth_is_rejected(void **state)
{
	struct config cfg;
	char text[4096];
	size_t off = 0;

	/* The implicit "/" counts: 63 more make 64. */
	for (int i = 1; i < CONFIG_MAX_NAMESPACES; i++)
		off += (size_t)snprintf(text + off, sizeof text - off, "namespace /n%d {\n}\n", i);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(cfg.n_namespaces, CONFIG_MAX_NAMESPACES);
	assert_string_equal(cfg.namespaces[0].name, "/");
	assert_string_equal(cfg.namespaces[63].name, "/n63");
	assert_int_equal(cfg.namespaces[63].line, 125);

	/* Declaring "/" as well takes no extra slot. */
	char with_root[4200];
	snprintf(with_root, sizeof with_root, "%snamespace / {\n}\n", text);
	config_test_parse_ok(&cfg, with_root);
	assert_int_equal(cfg.n_namespaces, CONFIG_MAX_NAMESPACES);
	assert_int_equal(cfg.namespaces[0].line, 127);

	snprintf(text + off, sizeof text - off, "namespace /n64 {\n}\n");
	config_test_expect_error(text, "t.conf:127: namespace: too many namespaces (at most 64, '/' included)");
}

static void namespace_keys_outside_a_block_are_rejected(void **state)
{
	static const char *const lines[] = {
		"client_join chat:*", "join_event j", "leave_event l", "max_rooms_per_socket 1", "relay yes",
		"flush_delay 5ms",
	};
	char text[128], message[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		snprintf(text, sizeof text, "namespace / {\n}\n%s\n", lines[i]);
		snprintf(message, sizeof message, "t.conf:3: '%.*s' is only valid inside a namespace block",
			 (int)strcspn(lines[i], " "), lines[i]);
		config_test_expect_error(text, message);
	}
}

static void top_level_keys_inside_a_block_are_rejected(void **state)
{
	static const char *const lines[] = {
		"listen 127.0.0.1:3001", "path /x", "max_room_name 10", "connect_timeout 1s",
		"max_namespaces_per_session 2", "log_level debug",
	};
	char text[128], message[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
		snprintf(text, sizeof text, "\nnamespace /a {\n  relay yes\n  %s\n}\n", lines[i]);
		snprintf(message, sizeof message,
			 "t.conf:4: '%.*s' is not valid inside a namespace block (opened on line 2)",
			 (int)strcspn(lines[i], " "), lines[i]);
		config_test_expect_error(text, message);
	}
}

static void namespace_key_twice_in_a_block_names_the_first_line(void **state)
{
	struct config cfg;

	config_test_expect_error("namespace / {\n  relay yes\n  max_rooms_per_socket 1\n  relay no\n}\n",
				 "t.conf:4: duplicate key 'relay' (first set on line 2)");
	config_test_expect_error("namespace / {\n  client_join a\n  client_join b\n}\n",
				 "t.conf:3: duplicate key 'client_join' (first set on line 2)");
	/* Once per block: the same key in two blocks is fine. */
	config_test_parse_ok(&cfg, "namespace /a {\n  relay yes\n}\nnamespace /b {\n  relay yes\n}\n");
	assert_true(cfg.namespaces[1].relay);
	assert_true(cfg.namespaces[2].relay);
}

static void client_join_takes_up_to_sixteen_patterns(void **state)
{
	struct config cfg;
	char text[1024];
	size_t off = (size_t)snprintf(text, sizeof text, "namespace / {\nclient_join");

	for (int i = 1; i <= CONFIG_MAX_CLIENT_JOIN; i++)
		off += (size_t)snprintf(text + off, sizeof text - off, " r%d:*", i);
	snprintf(text + off, sizeof text - off, "\n}\n");
	config_test_parse_ok(&cfg, text);
	assert_int_equal(cfg.namespaces[0].n_client_join, CONFIG_MAX_CLIENT_JOIN);
	assert_string_equal(cfg.namespaces[0].client_join[15], "r16:*");

	snprintf(text + off, sizeof text - off, " r17:*\n}\n");
	config_test_expect_error(text, "t.conf:2: client_join: too many values (takes at most 16)");
	config_test_expect_error("namespace / {\n  client_join\n}\n", "t.conf:2: client_join: missing value");
}

static void client_join_pattern_of_256_bytes_is_accepted_and_257_is_rejected(void **state)
{
	struct config cfg;
	char *pattern = config_test_repeat('p', 256);
	char text[512], message[CONFIG_ERR_LEN];

	snprintf(text, sizeof text, "namespace / {\nclient_join %s\n}\n", pattern);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(strlen(cfg.namespaces[0].client_join[0]), 256);
	snprintf(text, sizeof text, "namespace / {\nclient_join %sp\n}\n", pattern);
	snprintf(message, sizeof message,
		 "t.conf:2: client_join: bad pattern '%.64s...' (longer than 256 bytes)", pattern);
	config_test_expect_error(text, message);
	free(pattern);
}

static void client_join_accepts_globs_and_auth_placeholders(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "namespace / {\n  client_join * ? a}b x{auth.user_ID9}{auth.t}y "
				   "{auth.a}:*:{auth.b}\n}\n");
	assert_int_equal(cfg.namespaces[0].n_client_join, 5);
	assert_string_equal(cfg.namespaces[0].client_join[2], "a}b");
	assert_string_equal(cfg.namespaces[0].client_join[3], "x{auth.user_ID9}{auth.t}y");
}

static void client_join_placeholder_syntax_is_checked(void **state)
{
	static const struct { const char *pattern, *why; } bad[] = {
		{ "chat:{auth.}", "placeholder '{auth.}' has no field name" },
		{ "{foo}", "placeholder '{foo}' is not {auth.FIELD}, {sub} or {claims.FIELD}" },
		{ "{auth}", "placeholder '{auth}' is not {auth.FIELD}, {sub} or {claims.FIELD}" },
		{ "{}", "placeholder '{}' is not {auth.FIELD}, {sub} or {claims.FIELD}" },
		{ "{Auth.user}", "placeholder '{Auth.user}' is not {auth.FIELD}, {sub} or {claims.FIELD}" },
		{ "user:{auth.user", "'{' without a closing '}'" },
		{ "a{", "'{' without a closing '}'" },
		{ "{auth.a}{", "'{' without a closing '}'" },
		{ "{auth.us-er}", "placeholder '{auth.us-er}': a field name holds only letters, digits and '_'" },
		{ "{auth.a.b}", "placeholder '{auth.a.b}': a field name holds only letters, digits and '_'" },
		{ "{auth.a{auth.b}}", "placeholder '{auth.a{auth.b}': a field name holds only letters, digits and '_'" },
	};
	char message[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(message, sizeof message, "client_join: bad pattern '%s' (%s)", bad[i].pattern, bad[i].why);
		config_test_expect_block_value_error("client_join", bad[i].pattern, message);
	}
	/* A lone '{' word is a brace token, not a pattern. */
	config_test_expect_block_value_error("client_join", "{ auth.user}", "client_join: unexpected '{' (no block here)");
	/* The first bad pattern of a line is the one reported. */
	config_test_expect_block_value_error("client_join", "ok:* {x} {y}",
					     "client_join: bad pattern '{x}' (placeholder '{x}' is not {auth.FIELD}, {sub} or {claims.FIELD})");
}

static void client_join_pattern_listed_twice_is_rejected(void **state)
{
	config_test_expect_block_value_error("client_join", "a:* b:* a:*", "client_join: 'a:*' listed twice");
}

static void event_names_of_64_bytes_are_accepted_and_65_rejected(void **state)
{
	struct config cfg;
	char *name = config_test_repeat('e', 64);
	char text[256];

	snprintf(text, sizeof text, "namespace / {\n  join_event %s\n  leave_event x\n}\n", name);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.namespaces[0].join_event, name);
	assert_string_equal(cfg.namespaces[0].leave_event, "x");
	snprintf(text, sizeof text, "namespace / {\n  join_event j\n  leave_event %s\n}\n", name);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.namespaces[0].leave_event, name);
	/* Shorter after longer leaves no bytes of the old name behind. */
	config_test_parse_ok(&cfg, "namespace / {\n  join_event j\n}\n");
	assert_memory_equal(cfg.namespaces[0].join_event, "j\0\0\0\0", 5);

	char longer[80];
	snprintf(longer, sizeof longer, "%se", name);
	config_test_expect_block_value_error("join_event", longer, "join_event: name longer than 64 bytes");
	config_test_expect_block_value_error("leave_event", longer, "leave_event: name longer than 64 bytes");
	config_test_expect_block_value_error("join_event", "", "join_event: missing value");
	free(name);
}

static void reserved_event_names_are_rejected(void **state)
{
	static const char *const reserved[] = {
		"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
	};
	struct config cfg;
	char message[CONFIG_ERR_LEN];

	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
		snprintf(message, sizeof message, "join_event: '%s' is a reserved event name", reserved[i]);
		config_test_expect_block_value_error("join_event", reserved[i], message);
		snprintf(message, sizeof message, "leave_event: '%s' is a reserved event name", reserved[i]);
		config_test_expect_block_value_error("leave_event", reserved[i], message);
	}
	/* Near misses are ordinary names; "error" is not reserved. */
	config_test_parse_ok(&cfg, "namespace / {\n  join_event Connect\n  leave_event error\n}\n");
	config_test_parse_ok(&cfg, "namespace / {\n  join_event connect_\n  leave_event 1\n}\n");
}

static void join_and_leave_events_must_differ(void **state)
{
	struct config cfg;

	config_test_expect_error("namespace /a {\n  leave_event join\n}\n",
				 "t.conf:2: join_event and leave_event must differ (both are 'join')");
	config_test_expect_error("namespace /a {\n  join_event leave\n  relay yes\n}\n",
				 "t.conf:2: join_event and leave_event must differ (both are 'leave')");
	/* Both set: the later line is the one to fix. */
	config_test_expect_error("namespace / {\n  join_event x\n  leave_event x\n}\n",
				 "t.conf:3: join_event and leave_event must differ (both are 'x')");
	config_test_expect_error("namespace / {\n  leave_event x\n\n  join_event x\n}\n",
				 "t.conf:4: join_event and leave_event must differ (both are 'x')");
	/* Swapped is fine. */
	config_test_parse_ok(&cfg, "namespace / {\n  join_event leave\n  leave_event join\n}\n");
	assert_string_equal(cfg.namespaces[0].join_event, "leave");
	assert_string_equal(cfg.namespaces[0].leave_event, "join");
}

static void max_rooms_per_socket_accepts_0_to_100000(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "namespace / {\n  max_rooms_per_socket 0\n}\n");
	assert_int_equal(cfg.namespaces[0].max_rooms_per_socket, 0);
	config_test_parse_ok(&cfg, "namespace / {\n  max_rooms_per_socket 100000\n}\n");
	assert_int_equal(cfg.namespaces[0].max_rooms_per_socket, 100000);
	config_test_expect_block_value_error("max_rooms_per_socket", "100001",
					     "max_rooms_per_socket: '100001' out of range (0..100000)");
	config_test_expect_block_value_error("max_rooms_per_socket", "-1", "max_rooms_per_socket: bad number '-1'");
	config_test_expect_block_value_error("max_rooms_per_socket", "64K",
					     "max_rooms_per_socket: bad number '64K' (a plain count, no unit)");
}

static void relay_takes_a_boolean(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "namespace / {\n  relay yes\n}\n");
	assert_true(cfg.namespaces[0].relay);
	config_test_parse_ok(&cfg, "namespace / {\n  relay off\n}\n");
	assert_false(cfg.namespaces[0].relay);
	config_test_expect_block_value_error("relay", "maybe",
					     "relay: bad boolean 'maybe' (yes/no, on/off, true/false)");
	config_test_expect_block_value_error("relay", "yes no", "relay: too many values (takes one)");
}

static void forward_takes_unrelayed_all_or_none(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "namespace / {\n  forward all\n}\n");
	assert_int_equal(cfg.namespaces[0].forward, CONFIG_FORWARD_ALL);
	config_test_parse_ok(&cfg, "namespace / {\n  forward none\n}\n");
	assert_int_equal(cfg.namespaces[0].forward, CONFIG_FORWARD_NONE);
	config_test_parse_ok(&cfg, "namespace / {\n  forward unrelayed\n}\n");
	assert_int_equal(cfg.namespaces[0].forward, CONFIG_FORWARD_UNRELAYED);
	config_test_expect_block_value_error("forward", "some",
					     "forward: unknown mode 'some' (unrelayed, all, none)");
	config_test_expect_block_value_error("forward", "all none",
					     "forward: too many values (takes one)");
}

static void forward_events_takes_1_to_16_globs_of_up_to_64_bytes(void **state)
{
	struct config cfg;
	char text[2048], glob[CONFIG_MAX_EVENT_GLOB + 2];
	size_t n = 0;

	config_test_parse_ok(&cfg, "namespace / {\n  forward_events chat.* ping\n}\n");
	assert_int_equal(cfg.namespaces[0].n_forward_events, 2);
	assert_string_equal(cfg.namespaces[0].forward_events[0], "chat.*");
	assert_string_equal(cfg.namespaces[0].forward_events[1], "ping");
	n = (size_t)snprintf(text, sizeof text, "namespace / {\n  forward_events");
	for (int i = 0; i < CONFIG_MAX_FORWARD_EVENTS; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, " e%d", i);
	snprintf(text + n, sizeof text - n, "\n}\n");
	config_test_parse_ok(&cfg, text);
	assert_int_equal(cfg.namespaces[0].n_forward_events, CONFIG_MAX_FORWARD_EVENTS);
	snprintf(text + n, sizeof text - n, " e16\n}\n");
	config_test_expect_error(text, "t.conf:2: forward_events: too many values (takes at most 16)");
	memset(glob, 'g', CONFIG_MAX_EVENT_GLOB);
	glob[CONFIG_MAX_EVENT_GLOB] = '\0';
	snprintf(text, sizeof text, "namespace / {\n  forward_events %s\n}\n", glob);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.namespaces[0].forward_events[0], glob);
	snprintf(text, sizeof text, "namespace / {\n  forward_events %sg\n}\n", glob);
	config_test_expect_error(text, "t.conf:2: forward_events: "
			       "'gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg...' "
			       "longer than 64 bytes");
}

static void backend_stream_keys_take_a_key_and_a_length(void **state)
{
	struct config cfg;
	char text[512], *name = config_test_repeat('k', CONFIG_MAX_REDIS_KEY);

	config_defaults(&cfg);
	assert_string_equal(cfg.backend_stream, "roomcast:events");
	assert_int_equal(cfg.backend_stream_maxlen, 100000);
	snprintf(text, sizeof text, "backend_stream %s\n", name);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.backend_stream, name);
	snprintf(text, sizeof text, "backend_stream %sk\n", name);
	config_test_expect_error(text, "t.conf:1: backend_stream: longer than 127 bytes");
	config_test_expect_value_error("backend_stream", "socket.io#/#",
				       "backend_stream: bad key 'socket.io#/#' (character '#' not "
				       "allowed: its reply channel must stay outside the adapter's)");
	config_test_parse_ok(&cfg, "backend_stream_maxlen 1\n");
	assert_int_equal(cfg.backend_stream_maxlen, 1);
	config_test_parse_ok(&cfg, "backend_stream_maxlen 1000000000\n");
	assert_int_equal(cfg.backend_stream_maxlen, 1000000000);
	config_test_expect_value_error("backend_stream_maxlen", "0",
				       "backend_stream_maxlen: '0' out of range (1..1000000000)");
	config_test_expect_value_error("backend_stream_maxlen", "1000000001",
				       "backend_stream_maxlen: '1000000001' out of range (1..1000000000)");
	config_test_parse_ok(&cfg, "backend_streams 1\n");
	assert_int_equal(cfg.backend_streams, 1);
	config_test_parse_ok(&cfg, "backend_streams 1024\n");
	assert_int_equal(cfg.backend_streams, 1024);
	config_test_expect_value_error("backend_streams", "0", "backend_streams: '0' out of range (1..1024)");
	config_test_expect_value_error("backend_streams", "1025",
				       "backend_streams: '1025' out of range (1..1024)");
	free(name);
}

static void backend_ack_keys_take_a_count_and_a_duration(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.max_backend_acks, 64);
	assert_int_equal(cfg.backend_ack_timeout_ms, 30000);
	config_test_parse_ok(&cfg, "max_backend_acks 1\nbackend_ack_timeout 1ms\n");
	assert_int_equal(cfg.max_backend_acks, 1);
	assert_int_equal(cfg.backend_ack_timeout_ms, 1);
	config_test_parse_ok(&cfg, "max_backend_acks 65535\nbackend_ack_timeout 1h\n");
	assert_int_equal(cfg.max_backend_acks, 65535);
	assert_int_equal(cfg.backend_ack_timeout_ms, 3600000);
	config_test_expect_value_error("max_backend_acks", "0",
				       "max_backend_acks: '0' out of range (1..65535)");
	config_test_expect_value_error("max_backend_acks", "65536",
				       "max_backend_acks: '65536' out of range (1..65535)");
	config_test_expect_value_error("backend_ack_timeout", "0ms",
				       "backend_ack_timeout: '0ms' out of range (1ms..1h)");
	config_test_expect_value_error("backend_ack_timeout", "3600001ms",
				       "backend_ack_timeout: '3600001ms' out of range (1ms..1h)");
}

static void backend_headers_take_up_to_16_names_kept_in_lower_case(void **state)
{
	struct config cfg;
	char text[1024] = "backend_headers", name[64];

	config_defaults(&cfg);
	assert_int_equal(cfg.n_backend_headers, 0);
	config_test_parse_ok(&cfg, "backend_headers Cookie X-Forwarded-For\n");
	assert_int_equal(cfg.n_backend_headers, 2);
	assert_string_equal(cfg.backend_headers[0], "cookie");
	assert_string_equal(cfg.backend_headers[1], "x-forwarded-for");
	for (int i = 0; i < CONFIG_MAX_BACKEND_HEADERS; i++) {
		snprintf(name, sizeof name, " h%d", i);
		strcat(text, name);
	}
	config_test_parse_ok(&cfg, strcat(text, "\n"));
	assert_int_equal(cfg.n_backend_headers, 16);
	config_test_expect_value_error("backend_headers", "a b c d e f g h i j k l m n o p q",
				       "backend_headers: too many values (takes at most 16)");
	config_test_parse_ok(&cfg, "backend_headers abcdefghijklmnopqrstuvwxyz012345\n");
	assert_int_equal(strlen(cfg.backend_headers[0]), 32);
	config_test_expect_value_error("backend_headers", "abcdefghijklmnopqrstuvwxyz0123456",
				       "backend_headers: 'abcdefghijklmnopqrstuvwxyz0123456' is no "
				       "header name of at most 32 bytes");
	config_test_expect_value_error("backend_headers", "a:b",
				       "backend_headers: 'a:b' is no header name of at most 32 bytes");
	config_test_expect_value_error("backend_headers", "Cookie cookie",
				       "backend_headers: 'cookie' named twice");
}

static void auth_backend_keys_take_their_ranges(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.auth_backend_timeout_ms, 10000);
	assert_int_equal(cfg.max_pending_connects, 1000);
	assert_int_equal(cfg.namespaces[0].auth_backend_timeout_ms, 0);
	config_test_parse_ok(&cfg, "auth_backend_timeout 1ms\nmax_pending_connects 1\n");
	assert_int_equal(cfg.auth_backend_timeout_ms, 1);
	assert_int_equal(cfg.max_pending_connects, 1);
	config_test_parse_ok(&cfg, "auth_backend_timeout 1h\nmax_pending_connects 1000000\n");
	assert_int_equal(cfg.auth_backend_timeout_ms, 3600000);
	assert_int_equal(cfg.max_pending_connects, 1000000);
	config_test_expect_value_error("auth_backend_timeout", "0ms",
				       "auth_backend_timeout: '0ms' out of range (1ms..1h)");
	config_test_expect_value_error("auth_backend_timeout", "3600001ms",
				       "auth_backend_timeout: '3600001ms' out of range (1ms..1h)");
	config_test_expect_value_error("max_pending_connects", "0",
				       "max_pending_connects: '0' out of range (1..1000000)");
	config_test_expect_value_error("max_pending_connects", "1000001",
				       "max_pending_connects: '1000001' out of range (1..1000000)");
	assert_int_equal(cfg.max_pending_connects_per_ip, 0);
	config_test_parse_ok(&cfg, "max_pending_connects_per_ip 1000000\n");
	assert_int_equal(cfg.max_pending_connects_per_ip, 1000000);
	config_test_expect_value_error("max_pending_connects_per_ip", "1000001",
				       "max_pending_connects_per_ip: '1000001' out of range (0..1000000)");
	assert_int_equal(cfg.max_refused_connects_per_session, 10);
	assert_int_equal(cfg.max_refused_connects_per_ip, 0);
	config_test_parse_ok(&cfg, "max_refused_connects_per_session 1\n"
				   "max_refused_connects_per_ip 1000000\n");
	assert_int_equal(cfg.max_refused_connects_per_session, 1);
	assert_int_equal(cfg.max_refused_connects_per_ip, 1000000);
	config_test_expect_value_error("max_refused_connects_per_session", "0",
				       "max_refused_connects_per_session: '0' out of range (1..1000)");
	config_test_expect_value_error("max_refused_connects_per_session", "1001",
				       "max_refused_connects_per_session: '1001' out of range (1..1000)");
	config_test_parse_ok(&cfg, "redis 127.0.0.1:6379\nnamespace /a {\n  auth backend\n"
				   "  auth_backend_timeout 1ms\n}\nnamespace /b {\n  auth backend\n"
				   "  auth_backend_timeout 1h\n}\n");
	assert_int_equal(cfg.namespaces[1].auth, CONFIG_AUTH_BACKEND);
	assert_int_equal(cfg.namespaces[1].auth_backend_timeout_ms, 1);
	assert_int_equal(cfg.namespaces[2].auth_backend_timeout_ms, 3600000);
	config_test_expect_block_value_error("auth_backend_timeout", "0ms",
					     "auth_backend_timeout: '0ms' out of range (1ms..1h)");
	config_test_expect_block_value_error("auth_backend_timeout", "3600001ms",
					     "auth_backend_timeout: '3600001ms' out of range (1ms..1h)");
	config_test_expect_error("namespace /a {\n  auth_backend_timeout 1s\n}\n",
				 CONFIG_TEST_FILE ":2: auth_backend_timeout needs auth backend in the same block");
	config_test_expect_error("namespace /a {\n  auth backend\n}\n",
				 CONFIG_TEST_FILE ":1: namespace /a: auth backend needs a redis key: "
				 "backends answer through Redis");
	config_test_expect_error("namespace /a {\n  auth magic\n}\n",
				 CONFIG_TEST_FILE ":2: auth: unknown mode 'magic' (none, jwt, backend)");
}

static void backend_flush_delay_is_a_duration_up_to_1s(void **state)
{
	config_test_duration_key("backend_flush_delay", offsetof(struct config, backend_flush_delay_ms),
				 1, "1s", 1000, "1001ms", "0ms..1s");
}

static void backend_buffer_takes_a_size_from_0_to_1g(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.backend_buffer, 8 << 20);
	config_test_parse_ok(&cfg, "backend_buffer 0\n");
	assert_int_equal(cfg.backend_buffer, 0);
	config_test_parse_ok(&cfg, "backend_buffer 1G\n");
	assert_int_equal(cfg.backend_buffer, 1 << 30);
	config_test_parse_ok(&cfg, "backend_buffer 64K\n");
	assert_int_equal(cfg.backend_buffer, 64 << 10);
	config_test_expect_value_error("backend_buffer", "1073741825",
				       "backend_buffer: '1073741825' out of range (0..1G)");
}

/* ---- redis ---- */

static void redis_keys_default_to_a_single_instance_and_the_adapter_s_values(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_string_equal(cfg.redis_host, "");
	assert_int_equal(cfg.redis_port, 0);
	assert_string_equal(cfg.redis_unix, "");
	assert_string_equal(cfg.redis_password, "");
	assert_int_equal(cfg.redis_db, 0);
	assert_string_equal(cfg.redis_key, "socket.io");
	assert_int_equal(cfg.redis_request_timeout_ms, 5000);
	assert_string_equal(cfg.redis_emit_channel, "roomcast-emit");
	assert_int_equal(cfg.redis_max_message, 1024 * 1024);
}

static void redis_takes_an_ip_literal_or_a_host_name_with_a_port(void **state)
{
	static const struct { const char *value, *host; unsigned port; } good[] = {
		{ "127.0.0.1:6379", "127.0.0.1", 6379 },
		{ "redis:1", "redis", 1 },
		{ "Redis-1.internal_net.example.com:65535", "Redis-1.internal_net.example.com", 65535 },
		{ "[::1]:6379", "::1", 6379 },
		{ "[2001:db8::7]:6380", "2001:db8::7", 6380 },
		{ "10.0.0.7:06379", "10.0.0.7", 6379 },
	};
	struct config cfg;
	char text[128];

	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(text, sizeof text, "redis %s\n", good[i].value);
		config_test_parse_ok(&cfg, text);
		assert_string_equal(cfg.redis_host, good[i].host);
		assert_int_equal(cfg.redis_port, good[i].port);
		assert_string_equal(cfg.redis_unix, "");
	}
}

static void redis_takes_a_unix_socket_path(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "redis unix:/run/redis/redis-server.sock\n");
	assert_string_equal(cfg.redis_unix, "/run/redis/redis-server.sock");
	assert_string_equal(cfg.redis_host, "");
	assert_int_equal(cfg.redis_port, 0);
	/* A relative path is taken from the working directory, as log_file. */
	config_test_parse_ok(&cfg, "redis unix:redis.sock\n");
	assert_string_equal(cfg.redis_unix, "redis.sock");
}

static void redis_address_parsed_on_top_replaces_the_other_form(void **state)
{
	struct config cfg, defaults;
	char err[CONFIG_ERR_LEN];
	const char *tcp = "redis [::1]:6379\n", *unix_path = "redis unix:/tmp/r.sock\n";

	config_test_parse_ok(&cfg, "redis 10.1.2.3:6379\n");
	assert_int_equal(config_test_parse_len(&cfg, unix_path, strlen(unix_path), err), 0);
	assert_string_equal(cfg.redis_unix, "/tmp/r.sock");
	assert_string_equal(cfg.redis_host, "");
	assert_int_equal(cfg.redis_port, 0);
	assert_int_equal(config_test_parse_len(&cfg, tcp, strlen(tcp), err), 0);
	assert_string_equal(cfg.redis_unix, "");
	assert_string_equal(cfg.redis_host, "::1");
	assert_int_equal(cfg.redis_port, 6379);
	/* Zero-filled: the same address compares equal however it was reached. */
	config_test_parse_ok(&defaults, tcp);
	assert_memory_equal(&cfg, &defaults, sizeof cfg);
}

static void redis_malformed_address_is_rejected_with_the_reason(void **state)
{
	static const struct { const char *value, *why; } bad[] = {
		{ "localhost", "missing :PORT" },
		{ "127.0.0.1", "missing :PORT" },
		{ "[::1]", "missing :PORT" },
		{ "[::1]6379", "missing :PORT" },
		{ ":6379", "missing host" },
		{ "localhost:", "missing port after ':'" },
		{ "[::1]:", "missing port after ':'" },
		{ "localhost:redis", "bad port" },
		{ "localhost:-1", "bad port" },
		{ "localhost:+80", "bad port" },
		{ "::1:6379", "an IPv6 address goes in brackets: [ADDRESS]:PORT" },
		{ "[::1:6379", "bad IPv6 address" },
		{ "[]:6379", "bad IPv6 address" },
		{ "[127.0.0.1]:6379", "bad IPv6 address" },
		{ "[fe80::1%eth0]:6379", "bad IPv6 address" },
		{ "redis://localhost:6379", "bad character in host" },
		{ "user@host:6379", "bad character in host" },
		{ "h\xc3\xa9:6379", "bad character in host" },
		{ "unix:", "no socket path after 'unix:'" },
	};
	char message[CONFIG_ERR_LEN], quoted[64];

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(quoted, sizeof quoted, "%s", bad[i].value);
		if (strcmp(bad[i].value, "h\xc3\xa9:6379") == 0)
			snprintf(quoted, sizeof quoted, "h\\xc3\\xa9:6379");
		snprintf(message, sizeof message,
			 "redis: bad address '%s' (%s; expected HOST:PORT, [IPv6]:PORT or unix:PATH)",
			 quoted, bad[i].why);
		config_test_expect_value_error("redis", bad[i].value, message);
	}
	config_test_expect_error("# cluster\nredis\n", "t.conf:2: redis: missing value");
	config_test_expect_value_error("redis", "a:1 b:2", "redis: too many values (takes one)");
	config_test_expect_error("redis a:1\nredis b:2\n",
				 "t.conf:2: duplicate key 'redis' (first set on line 1)");
}

static void redis_port_outside_1_to_65535_is_rejected(void **state)
{
	config_test_expect_value_error("redis", "localhost:0", "redis: port '0' out of range (1..65535)");
	config_test_expect_value_error("redis", "127.0.0.1:65536",
				       "redis: port '65536' out of range (1..65535)");
	config_test_expect_value_error("redis", "[::1]:99999999999999999999",
				       "redis: port '99999999999999999999' out of range (1..65535)");
}

static void redis_host_of_255_bytes_is_accepted_and_256_is_rejected(void **state)
{
	struct config cfg;
	char *host = config_test_repeat('h', 255);
	char text[512], message[CONFIG_ERR_LEN];

	snprintf(text, sizeof text, "redis %s:6379\n", host);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.redis_host, host);
	snprintf(text, sizeof text, "redis %sh:6379\n", host);
	snprintf(message, sizeof message, "t.conf:1: redis: bad address '%.64s...' (host longer "
		 "than 255 bytes; expected HOST:PORT, [IPv6]:PORT or unix:PATH)", host);
	config_test_expect_error(text, message);
	free(host);
}

static void redis_unix_path_of_107_bytes_is_accepted_and_108_is_rejected(void **state)
{
	struct config cfg;
	char *path = config_test_repeat('s', 106);
	char text[256], message[CONFIG_ERR_LEN];

	snprintf(text, sizeof text, "redis unix:/%s\n", path);
	config_test_parse_ok(&cfg, text);
	assert_int_equal(strlen(cfg.redis_unix), CONFIG_MAX_REDIS_UNIX);
	snprintf(text, sizeof text, "redis unix:/%ss\n", path);
	snprintf(message, sizeof message, "t.conf:1: redis: bad address 'unix:/%.58s...' (socket "
		 "path longer than 107 bytes; expected HOST:PORT, [IPv6]:PORT or unix:PATH)", path);
	config_test_expect_error(text, message);
	free(path);
}

static void redis_password_is_taken_as_written_up_to_255_bytes(void **state)
{
	struct config cfg;
	char *secret = config_test_repeat('p', 255);
	char text[512];

	config_test_parse_ok(&cfg, "redis_password s3cr#t!\"'{x}\n");
	assert_string_equal(cfg.redis_password, "s3cr#t!\"'{x}");
	snprintf(text, sizeof text, "redis_password %s\n", secret);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.redis_password, secret);
	snprintf(text, sizeof text, "\nredis_password %sp\n", secret);
	config_test_expect_error(text, "t.conf:2: redis_password: longer than 255 bytes");
	config_test_expect_error("redis_password # none\n", "t.conf:1: redis_password: missing value");
	free(secret);
}

/* Writes <len> bytes of <data> to a new temporary file named in <path>
 * (a mkstemp template). */
static void config_test_write_file(char *path, const char *data, size_t len)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Loads "redis_password_file <secret file holding <len> bytes of <data>>"
 * from a file; returns config_load()'s result, the error in <err> with the
 * two paths replaced by CONF and SECRET. */
static int config_test_load_password(struct config *cfg, const char *data, size_t len,
				     char *err)
{
	char conf[] = "/tmp/test_config_XXXXXX", secret[] = "/tmp/test_config_XXXXXX";
	char text[128], raw[CONFIG_ERR_LEN];

	config_test_write_file(secret, data, len);
	int n = snprintf(text, sizeof text, "redis_password_file %s\n", secret);
	config_test_write_file(conf, text, (size_t)n);
	int rc = config_load(cfg, conf, raw, sizeof raw);
	unlink(conf);
	unlink(secret);
	if (rc < 0) {
		size_t conf_len = strlen(conf), secret_len = strlen(secret);
		assert_memory_equal(raw, conf, conf_len);
		const char *rest = strstr(raw, secret);
		assert_non_null(rest);
		snprintf(err, CONFIG_ERR_LEN, "CONF%.*sSECRET%s", (int)(rest - raw - conf_len),
			 raw + conf_len, rest + secret_len);
	}
	return rc;
}

static void redis_password_file_is_read_at_load_up_to_255_bytes(void **state)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];
	char *secret = config_test_repeat('p', 256);

	assert_int_equal(config_test_load_password(&cfg, "s3cr#t pw\n", 10, err), 0);
	assert_string_equal(cfg.redis_password, "s3cr#t pw");
	assert_int_equal(config_test_load_password(&cfg, "crlf\r\n", 6, err), 0);
	assert_string_equal(cfg.redis_password, "crlf");
	assert_int_equal(config_test_load_password(&cfg, secret, 255, err), 0);
	assert_int_equal(strlen(cfg.redis_password), 255);
	assert_int_equal(config_test_load_password(&cfg, secret, 256, err), -1);
	assert_string_equal(err, "CONF: redis_password_file SECRET: longer than 255 bytes");
	assert_int_equal(config_test_load_password(&cfg, "\n", 1, err), -1);
	assert_string_equal(err, "CONF: redis_password_file SECRET: empty");
	assert_int_equal(config_test_load_password(&cfg, "a\0b", 3, err), -1);
	assert_string_equal(err, "CONF: redis_password_file SECRET: holds a NUL byte");
	free(secret);

	char conf[] = "/tmp/test_config_XXXXXX", raw[CONFIG_ERR_LEN], expected[CONFIG_ERR_LEN];
	static const char text[] = "redis_password_file /nonexistent/pw\n";
	config_test_write_file(conf, text, sizeof text - 1);
	assert_int_equal(config_load(&cfg, conf, raw, sizeof raw), -1);
	snprintf(expected, sizeof expected, "%s: redis_password_file /nonexistent/pw: No such file or directory", conf);
	assert_string_equal(raw, expected);
	unlink(conf);
	config_test_expect_error("redis_password_file /a\nredis_password b\n",
				 "t.conf:2: redis_password and redis_password_file: set one of them");
}

static void file_keys_name_systemd_credentials_under_credentials_directory(void **state)
{
	struct config cfg;
	static const char text[] =
		"redis 127.0.0.1:6379\nredis_password_file credential:redis\n"
		"cluster_secret_file credential:cluster\ncluster_listen 127.0.0.1:7000\n"
		"namespace / {\n    auth jwt\n    jwt_secret_file credential:jwt.key\n}\n";

	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", "/run/credentials/roomcastd.service", 1), 0);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.redis_password_file, "/run/credentials/roomcastd.service/redis");
	assert_string_equal(cfg.cluster_secret_file, "/run/credentials/roomcastd.service/cluster");
	assert_string_equal(cfg.namespaces[0].jwt_key_file, "/run/credentials/roomcastd.service/jwt.key");
	config_test_parse_ok(&cfg, "namespace / {\n    auth jwt\n    jwt_jwks_file credentials/j\n}\n");
	assert_string_equal(cfg.namespaces[0].jwt_key_file, "credentials/j");
	config_test_expect_error("redis_password_file credential:\n",
				 "t.conf:1: redis_password_file: bad credential name 'credential:' "
				 "(a file name: not empty, no '/')");
	config_test_expect_error("\ncluster_secret_file credential:a/b\n",
				 "t.conf:2: cluster_secret_file: bad credential name 'credential:a/b' "
				 "(a file name: not empty, no '/')");
	config_test_expect_error("redis_password_file credential:..\n",
				 "t.conf:1: redis_password_file: bad credential name 'credential:..' "
				 "(a file name: not empty, no '/')");
	config_test_parse_ok(&cfg, "redis_password_file credential:...\n");

	char *dir = config_test_repeat('d', 250);
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
	config_test_parse_ok(&cfg, "redis_password_file credential:abcd\n");
	assert_int_equal(strlen(cfg.redis_password_file), 255);
	config_test_expect_error("redis_password_file credential:abcde\n",
				 "t.conf:1: redis_password_file: $CREDENTIALS_DIRECTORY/abcde is longer "
				 "than 255 bytes");
	free(dir);

	assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	config_test_expect_error("redis_password_file credential:redis\n",
				 "t.conf:1: redis_password_file: credential:redis needs "
				 "$CREDENTIALS_DIRECTORY, which systemd sets for a unit with "
				 "LoadCredential=redis:PATH");
}

static void redis_keys_without_a_redis_address_are_accepted(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "redis_password x\nredis_db 3\nredis_key app\n");
	assert_string_equal(cfg.redis_host, "");
	assert_string_equal(cfg.redis_unix, "");
	assert_int_equal(cfg.redis_db, 3);
}

static void redis_db_accepts_0_to_a_million_without_unit(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "redis_db 15\n");
	assert_int_equal(cfg.redis_db, 15);
	config_test_parse_ok(&cfg, "redis_db 1000000\n");
	assert_int_equal(cfg.redis_db, 1000000);
	config_test_parse_ok(&cfg, "redis_db 0\n");
	assert_int_equal(cfg.redis_db, 0);
	config_test_expect_value_error("redis_db", "1000001", "redis_db: '1000001' out of range (0..1000000)");
	config_test_expect_value_error("redis_db", "-1", "redis_db: bad number '-1'");
	config_test_expect_value_error("redis_db", "1k", "redis_db: bad number '1k' (a plain count, no unit)");
}

static void redis_key_takes_a_prefix_without_hash_up_to_127_bytes(void **state)
{
	struct config cfg;
	char *prefix = config_test_repeat('k', 127);
	char text[256];

	config_test_parse_ok(&cfg, "redis_key myapp.io\n");
	assert_string_equal(cfg.redis_key, "myapp.io");
	snprintf(text, sizeof text, "redis_key %s\n", prefix);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.redis_key, prefix);
	snprintf(text, sizeof text, "redis_key %sk\n", prefix);
	config_test_expect_error(text, "t.conf:1: redis_key: longer than 127 bytes");
	config_test_expect_value_error("redis_key", "socket.io#",
				       "redis_key: bad prefix 'socket.io#' (character '#' not allowed: "
				       "it separates the parts of the adapter's channel names)");
	config_test_expect_value_error("redis_key", "a#b",
				       "redis_key: bad prefix 'a#b' (character '#' not allowed: "
				       "it separates the parts of the adapter's channel names)");
	free(prefix);
}

static void redis_request_timeout_is_a_duration_up_to_one_hour(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "redis_request_timeout 1ms\n");
	assert_int_equal(cfg.redis_request_timeout_ms, 1);
	config_test_parse_ok(&cfg, "redis_request_timeout 1h\n");
	assert_int_equal(cfg.redis_request_timeout_ms, 3600000);
	config_test_expect_value_error("redis_request_timeout", "0ms",
				       "redis_request_timeout: '0ms' out of range (1ms..1h)");
	config_test_expect_value_error("redis_request_timeout", "3600001ms",
				       "redis_request_timeout: '3600001ms' out of range (1ms..1h)");
	config_test_expect_value_error("redis_request_timeout", "5000",
				       "redis_request_timeout: duration needs a unit (ms, s, m, h)");
}

static void redis_emit_channel_takes_a_name_up_to_127_bytes(void **state)
{
	struct config cfg;
	char *name = config_test_repeat('e', 127);
	char text[256];

	config_test_parse_ok(&cfg, "redis_emit_channel app:emit#1\n");
	assert_string_equal(cfg.redis_emit_channel, "app:emit#1");
	/* Near the adapter's names but outside them. */
	config_test_parse_ok(&cfg, "redis_emit_channel socket.io\n");
	config_test_parse_ok(&cfg, "redis_emit_channel socket.io-emit\n");
	config_test_parse_ok(&cfg, "redis_emit_channel socket.io-requests#\n");
	config_test_parse_ok(&cfg, "redis_emit_channel xsocket.io#/#\n");
	snprintf(text, sizeof text, "redis_emit_channel %s\n", name);
	config_test_parse_ok(&cfg, text);
	assert_string_equal(cfg.redis_emit_channel, name);
	snprintf(text, sizeof text, "redis_emit_channel %se\n", name);
	config_test_expect_error(text, "t.conf:1: redis_emit_channel: longer than 127 bytes");
	free(name);
}

static void redis_emit_channel_under_the_adapter_s_channels_is_rejected(void **state)
{
	config_test_expect_error("redis_emit_channel socket.io#/#\n",
				 "t.conf:1: redis_emit_channel 'socket.io#/#' is one of redis_key's "
				 "adapter channels ('socket.io#...'): its JSON would crash Node servers");
	config_test_expect_error("redis_emit_channel socket.io#\n",
				 "t.conf:1: redis_emit_channel 'socket.io#' is one of redis_key's "
				 "adapter channels ('socket.io#...'): its JSON would crash Node servers");
	config_test_expect_error("redis_emit_channel socket.io-request#/#\n",
				 "t.conf:1: redis_emit_channel 'socket.io-request#/#' is one of redis_key's "
				 "adapter channels ('socket.io-request#...'): its JSON would crash Node servers");
	config_test_expect_error("redis_emit_channel socket.io-response#/#abc#\n",
				 "t.conf:1: redis_emit_channel 'socket.io-response#/#abc#' is one of "
				 "redis_key's adapter channels ('socket.io-response#...'): its JSON would "
				 "crash Node servers");
	/* The later of the two lines is the one reported, whichever it is. */
	config_test_expect_error("redis_key app\n\nredis_emit_channel app#in\n",
				 "t.conf:3: redis_emit_channel 'app#in' is one of redis_key's "
				 "adapter channels ('app#...'): its JSON would crash Node servers");
	config_test_expect_error("redis_emit_channel app#in\nredis_db 1\nredis_key app\n",
				 "t.conf:3: redis_emit_channel 'app#in' is one of redis_key's "
				 "adapter channels ('app#...'): its JSON would crash Node servers");
	/* With its own key the old default prefix is free. */
	struct config cfg;
	config_test_parse_ok(&cfg, "redis_key app\nredis_emit_channel socket.io#/#\n");
	assert_string_equal(cfg.redis_emit_channel, "socket.io#/#");
}

static void redis_emit_channel_clash_from_an_earlier_text_names_the_line_of_this_one(void **state)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];
	const char *second = "\nredis_key app\n";

	config_test_parse_ok(&cfg, "redis_emit_channel app-response#x\n");
	assert_int_equal(config_test_parse_len(&cfg, second, strlen(second), err), -1);
	assert_string_equal(err, "t.conf:2: redis_emit_channel 'app-response#x' is one of "
			    "redis_key's adapter channels ('app-response#...'): its JSON would "
			    "crash Node servers");
}

static void redis_max_message_accepts_1K_to_512M(void **state)
{
	struct config cfg;

	config_test_parse_ok(&cfg, "redis_max_message 1K\n");
	assert_int_equal(cfg.redis_max_message, 1024);
	config_test_parse_ok(&cfg, "redis_max_message 512M\n");
	assert_int_equal(cfg.redis_max_message, 512 * 1024 * 1024);
	config_test_expect_value_error("redis_max_message", "1023",
				       "redis_max_message: '1023' out of range (1K..512M)");
	config_test_expect_value_error("redis_max_message", "536870913",
				       "redis_max_message: '536870913' out of range (1K..512M)");
	config_test_expect_value_error("redis_max_message", "1G",
				       "redis_max_message: '1G' out of range (1K..512M)");
	config_test_expect_value_error("redis_max_message", "1MB",
				       "redis_max_message: bad unit 'MB' (K, M, G)");
}

static void redis_keys_inside_a_namespace_block_are_rejected(void **state)
{
	config_test_expect_error("namespace /a {\n    redis 127.0.0.1:6379\n}\n",
				 "t.conf:2: 'redis' is not valid inside a namespace block (opened on line 1)");
}

/* ---- files ---- */

/* <cfg> without where each value was written, which a dump changes. */
static void config_test_forget_lines(struct config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		cfg->listen[i].line = 0;
	cfg->admin_listen.line = 0;
	cfg->cluster_listen.line = 0;
	for (size_t i = 0; i < cfg->n_namespaces; i++)
		cfg->namespaces[i].line = 0;
}

/* config_dump() of the file at <path> into <out> (malloc'd, NUL-terminated). */
static char *config_test_dump(const char *path)
{
	char err[CONFIG_ERR_LEN], *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	if (config_dump(path, out, err, sizeof err) != 0)
		fail_msg("%s", err);
	fclose(out);
	return text;
}

/* -T's round trip: the dump of a file is a config file that gives the same
 * values, byte for byte, and dumps to itself (but for the name in its
 * first line). */
static void config_test_dump_round_trip(const char *path)
{
	static struct config a, b;
	char err[CONFIG_ERR_LEN], dumped[] = "/tmp/roomcast-dump-XXXXXX";

	if (config_load(&a, path, err, sizeof err) != 0)
		fail_msg("%s", err);
	char *text = config_test_dump(path);
	int fd = mkstemp(dumped);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	if (config_load(&b, dumped, err, sizeof err) != 0)
		fail_msg("the dump of %s is refused: %s\n%s", path, err, text);
	config_test_forget_lines(&a);
	config_test_forget_lines(&b);
	assert_memory_equal(&a, &b, sizeof a);
	char *again = config_test_dump(dumped);
	assert_string_equal(strchr(again, '\n'), strchr(text, '\n'));
	unlink(dumped);
	free(again);
	free(text);
}

static void dump_gives_the_same_configuration_and_dumps_to_itself(void **state)
{
	char path[] = "/tmp/roomcast-conf-XXXXXX";
	static const char text[] =
		"listen 127.0.0.1:1\nlisten [::1]:2 reuseport\nadmin_listen 127.0.0.1:3\n"
		"cors_origin https://a.example https://b.example\nping_interval 30s\n"
		"redis 127.0.0.1:6379\nredis_password pw\nbackend_headers cookie x-user\n"
		"cluster_listen 127.0.0.1:4\ncluster_secret_file /etc/secret\n"
		"namespace /chat {\n  client_join chat:* {auth.team}:*\n  relay yes\n"
		"  flush_delay 2ms\n  forward all\n  forward_events msg:*\n}\n"
		"namespace /jwt {\n  auth jwt\n  jwt_secret_file /etc/jwt\n  jwt_issuer me\n"
		"  client_join own:{sub}:*\n}\n"
		"namespace /b {\n  auth backend\n  auth_backend_timeout 2s\n}\n";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(fd);
	config_test_dump_round_trip(path);
	unlink(path);
	config_test_dump_round_trip("conf/roomcast.conf");
	config_test_dump_round_trip("conf/installed.conf");
}

static void shipped_sample_config_listens_on_127_0_0_1_port_3000(void **state)
{
	struct config cfg, defaults;
	char err[CONFIG_ERR_LEN];

	if (config_load(&cfg, "conf/roomcast.conf", err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg.n_listen, 1);
	config_test_assert_listen(&cfg.listen[0], AF_INET, "127.0.0.1", 3000);
	assert_string_equal(cfg.listen[0].text, "127.0.0.1:3000");
	assert_true(cfg.listen[0].line > 0);
	/* "/" is set up for a chat, so that `make run` gives one. */
	struct config_namespace *root = &cfg.namespaces[0];
	assert_int_equal(cfg.n_namespaces, 1);
	assert_string_equal(root->name, "/");
	assert_true(root->line > 0);
	assert_int_equal(root->n_client_join, 1);
	assert_string_equal(root->client_join[0], "chat:*");
	assert_true(root->relay);
	assert_int_equal(root->max_rooms_per_socket, 64);
	assert_true(config_room_allowed(root, "chat:lobby", 10, NULL, NULL));
	assert_false(config_room_allowed(root, "lobby", 5, NULL, NULL));
	/* Everything else in the sample is a commented-out default. */
	config_defaults(&defaults);
	cfg.listen[0].line = 0;
	root->line = 0;
	root->n_client_join = 0;
	memset(root->client_join, 0, sizeof root->client_join);
	root->relay = false;
	assert_memory_equal(&cfg, &defaults, sizeof cfg);
}

/* Whether a line of <text> is "KEY ..." or "#KEY ...", after any blanks
 * (keys inside a namespace block are indented). */
static bool config_test_sample_has_key(const char *text, const char *key)
{
	size_t key_len = strlen(key);

	for (const char *line = text; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		const char *p = line + strspn(line, " \t");
		if (*p == '#')
			p++;
		if (strncmp(p, key, key_len) == 0 && (p[key_len] == ' ' || p[key_len] == '\t'))
			return true;
	}
	return false;
}

/* The sample config and the man page describe every key: a key added to
 * the table without its documentation fails here. */
static void every_key_is_in_the_sample_config_and_the_man_page(void **state)
{
	static const char *const files[] = { "conf/roomcast.conf", "man/roomcast.conf.5" };

	for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
		FILE *fp = fopen(files[f], "r");
		char *text = calloc(1, 256 * 1024);
		assert_non_null(fp);
		assert_non_null(text);
		size_t n = fread(text, 1, 256 * 1024 - 1, fp);
		assert_true(n > 0);
		fclose(fp);
		for (size_t k = 0; k < sizeof config_test_keys / sizeof config_test_keys[0]; k++) {
			char needle[64];
			bool found;
			if (f == 0) {
				found = config_test_sample_has_key(text, config_test_keys[k]);
			} else {
				snprintf(needle, sizeof needle, "\n\\fB%s\\fR", config_test_keys[k]);
				/* "namespace" is a section of the man page, not a key. */
				found = strstr(text, needle) != NULL ||
					(strcmp(config_test_keys[k], "namespace") == 0 &&
					 strstr(text, "\n.SH NAMESPACES\n") != NULL);
			}
			if (!found)
				fail_msg("%s does not describe '%s'", files[f], config_test_keys[k]);
		}
		free(text);
	}
}

/* A namespace block that fetches its keys from an identity provider. */
#define CONFIG_TEST_JWKS_BLOCK "  auth jwt\n  jwt_jwks_url https://idp.example/jwks.json\n"

/* Every duration key, whether it is written in a namespace block, and the
 * lines it needs beside it (top level, and in its block). */
static const struct {
	const char *key;
	bool ns;
	const char *with_top, *with_block;
} config_test_durations[] = {
	{ "ping_interval", false, NULL, NULL }, { "ping_timeout", false, NULL, NULL },
	{ "upgrade_timeout", false, NULL, NULL }, { "linger_timeout", false, NULL, NULL },
	{ "drain_timeout", false, NULL, NULL }, { "keepalive_timeout", false, NULL, NULL },
	{ "header_timeout", false, NULL, NULL }, { "body_timeout", false, NULL, NULL },
	{ "connect_timeout", false, NULL, NULL }, { "redis_request_timeout", false, NULL, NULL },
	{ "backend_flush_delay", false, NULL, NULL }, { "backend_ack_timeout", false, NULL, NULL },
	{ "auth_backend_timeout", false, NULL, NULL }, { "flush_delay", true, NULL, NULL },
	{ "jwt_leeway", true, NULL, NULL },
	{ "auth_backend_timeout", true, "redis 127.0.0.1:6379\n", "  auth backend\n" },
	{ "jwt_jwks_refresh", true, "", CONFIG_TEST_JWKS_BLOCK },
	{ "jwt_jwks_refresh_min", true, "", CONFIG_TEST_JWKS_BLOCK },
	{ "jwt_jwks_timeout", true, "", CONFIG_TEST_JWKS_BLOCK },
	{ "jwt_jwks_wait", true, "", CONFIG_TEST_JWKS_BLOCK },
};

/* <text> (a duration as the man page writes it) in milliseconds. */
static uint64_t config_test_ms(const char *text)
{
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	char *end;
	uint64_t v = strtoull(text, &end, 10);

	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].unit) == 0)
			return v * units[i].ms;
	}
	fail_msg("'%s' is not a duration", text);
	return 0;
}

/* Parses <key> <value> where the key is written (a namespace block for a
 * namespace key, with what it needs).  Returns the parser's result. */
static int config_test_duration_parse(size_t k, const char *value, char *err)
{
	struct config cfg;
	char text[256];
	const char *key = config_test_durations[k].key;

	if (!config_test_durations[k].ns)
		snprintf(text, sizeof text, "%s %s\n", key, value);
	else
		snprintf(text, sizeof text, "%snamespace /a {\n%s  %s %s\n}\n",
			 config_test_durations[k].with_top ? config_test_durations[k].with_top : "",
			 config_test_durations[k].with_block ? config_test_durations[k].with_block : "",
			 key, value);
	config_defaults(&cfg);
	return config_test_parse_len(&cfg, text, strlen(text), err);
}

/* One rule for durations: a unit always, and each key's range as its entry
 * in roomcast.conf(5) states it ("Range LOW to HIGH."), enforced at both
 * ends.  The man page's duration keys are exactly the list above. */
static void each_duration_key_takes_exactly_the_range_its_entry_states(void **state)
{
	FILE *fp = fopen("man/roomcast.conf.5", "r");
	char *text = calloc(1, 256 * 1024);
	char err[CONFIG_ERR_LEN], value[32], expected[160];
	size_t entries = 0;

	assert_non_null(fp);
	assert_non_null(text);
	assert_true(fread(text, 1, 256 * 1024 - 1, fp) > 0);
	fclose(fp);
	const char *ns_from = strstr(text, "\n.SH NAMESPACES\n"), *ns_to = strstr(text, "\n.SH REDIS\n");
	assert_non_null(ns_from);
	assert_non_null(ns_to);
	for (const char *p = text; (p = strstr(p, "\\fR \\fIduration\\fR\n")); p++)
		entries++;
	assert_int_equal(entries, sizeof config_test_durations / sizeof config_test_durations[0]);
	/* A range said of every duration, in VALUES, must hold for each key. */
	const char *values = strstr(text, "\n.I duration\n");
	assert_non_null(values);
	const char *values_end = strstr(values + 1, "\n.TP\n");
	char all_low[16] = "0ms", all_high[16] = "";
	const char *between = strstr(values, "between ");
	if (between && between < values_end &&
	    sscanf(between, "between %15s and %15[^.]", all_low, all_high) != 2)
		fail_msg("VALUES: cannot read the range of every duration");

	for (size_t k = 0; k < sizeof config_test_durations / sizeof config_test_durations[0]; k++) {
		const char *key = config_test_durations[k].key, *entry = text;
		char header[80], low[16], high[16];
		snprintf(header, sizeof header, "\n\\fB%s\\fR \\fIduration\\fR\n", key);
		/* the entry in the namespace section for a namespace key, else outside it */
		while ((entry = strstr(entry + 1, header)) &&
		       (entry > ns_from && entry < ns_to) != config_test_durations[k].ns)
			;
		if (!entry)
			fail_msg("roomcast.conf(5) has no entry for %s", key);
		const char *range = strstr(entry, "\nRange "), *next = strstr(entry + 1, "\n.TP\n");
		if (!range || (next && range > next))
			fail_msg("roomcast.conf(5) states no range for %s", key);
		if (sscanf(range, "\nRange %15s", low) != 1 || !strstr(range, " to ") ||
		    sscanf(strstr(range, " to "), " to %15[^.]", high) != 1)
			fail_msg("%s: cannot read its range", key);

		if (config_test_ms(low) < config_test_ms(all_low) ||
		    (all_high[0] && config_test_ms(high) > config_test_ms(all_high)))
			fail_msg("%s takes %s to %s: not 'between %s and %s' as VALUES says", key, low,
				 high, all_low, all_high);
		if (config_test_duration_parse(k, low, err) != 0 ||
		    config_test_duration_parse(k, high, err) != 0)
			fail_msg("%s: its documented range %s to %s is refused: %s", key, low, high, err);
		snprintf(value, sizeof value, "%llums", (unsigned long long)config_test_ms(high) + 1);
		assert_int_equal(config_test_duration_parse(k, value, err), -1);
		snprintf(expected, sizeof expected, "%s: '%s' out of range (%s..%s)", key, value, low, high);
		if (!strstr(err, expected))
			fail_msg("%s: \"%s\" does not say \"%s\"", key, err, expected);
		if (config_test_ms(low) > 0) {
			snprintf(value, sizeof value, "%llums", (unsigned long long)config_test_ms(low) - 1);
			assert_int_equal(config_test_duration_parse(k, value, err), -1);
			assert_non_null(strstr(err, "out of range"));
		}
		/* a bare number, 0 included, has no unit */
		assert_int_equal(config_test_duration_parse(k, "0", err), -1);
		snprintf(expected, sizeof expected, "%s: duration needs a unit (ms, s, m, h)", key);
		if (!strstr(err, expected))
			fail_msg("%s: \"%s\" does not say \"%s\"", key, err, expected);
	}
	free(text);
}

static void missing_file_is_reported_with_strerror(void **state)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	assert_int_equal(config_load(&cfg, "no/such/roomcast.conf", err, sizeof err), -1);
	assert_string_equal(err, "no/such/roomcast.conf: No such file or directory");
	assert_int_equal(config_load(&cfg, "tests", err, sizeof err), -1);
	assert_string_equal(err, "tests: Is a directory");
}

/* Writes <len> bytes of comment lines to a temporary file; returns its path. */
static void config_test_write_comments(char *path, size_t len)
{
	int fd = mkstemp(path);
	char *text = malloc(len);
	assert_true(fd >= 0);
	assert_non_null(text);
	for (size_t i = 0; i < len; i++)
		text[i] = i % 64 == 0 ? '#' : i % 64 == 63 ? '\n' : 'c';
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	free(text);
}

static void file_of_1_MiB_is_accepted_and_one_byte_more_is_rejected(void **state)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN], expected[CONFIG_ERR_LEN];
	char path[] = "/tmp/test_config_XXXXXX";

	config_test_write_comments(path, 1024 * 1024);
	assert_int_equal(config_load(&cfg, path, err, sizeof err), 0);
	assert_int_equal(unlink(path), 0);

	strcpy(path, "/tmp/test_config_XXXXXX");
	config_test_write_comments(path, 1024 * 1024 + 1);
	assert_int_equal(config_load(&cfg, path, err, sizeof err), -1);
	snprintf(expected, sizeof expected, "%s: larger than 1 MiB (not a config file?)", path);
	assert_string_equal(err, expected);
	assert_int_equal(unlink(path), 0);
}

static void load_errors_name_the_file_and_line(void **state)
{
	struct config cfg;
	char err[CONFIG_ERR_LEN], expected[CONFIG_ERR_LEN];
	char path[] = "/tmp/test_config_XXXXXX";
	static const char text[] = "listen *:3000\n# c\nping_timeout 20\n";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(fd);
	assert_int_equal(config_load(&cfg, path, err, sizeof err), -1);
	snprintf(expected, sizeof expected, "%s:3: ping_timeout: duration needs a unit (ms, s, m, h)", path);
	assert_string_equal(err, expected);
	assert_int_equal(unlink(path), 0);
}

/* ---- who may connect ---- */

static void auth_defaults_to_none_with_the_user_room_and_claims_named(void **state)
{
	struct config cfg;

	config_defaults(&cfg);
	assert_int_equal(cfg.namespaces[0].auth, CONFIG_AUTH_NONE);
	assert_int_equal(cfg.namespaces[0].jwt_key, CONFIG_JWT_KEY_NONE);
	assert_int_equal(cfg.namespaces[0].jwt_leeway_ms, 30000);
	assert_false(cfg.namespaces[0].jwt_redact_token);
	assert_string_equal(cfg.namespaces[0].user_room, "user:{sub}");
	assert_string_equal(cfg.namespaces[0].rooms_claim, "rooms");
	assert_string_equal(cfg.namespaces[0].allow_join_claim, "allow_join");
}

static void auth_jwt_takes_one_key_file_and_its_checks(void **state)
{
	struct config cfg;
	const struct config_namespace *ns = &cfg.namespaces[0];

	config_test_parse_ok(&cfg, "namespace / {\n auth jwt\n jwt_jwks_file /k/jwks.json\n"
				   " jwt_issuer https://id.example/\n jwt_audience chat\n jwt_leeway 0ms\n"
				   " jwt_redact_token yes\n"
				   " user_room u:{claims.tenant}:{sub}\n rooms_claim none\n"
				   " allow_join_claim may\n}\n");
	assert_int_equal(ns->auth, CONFIG_AUTH_JWT);
	assert_int_equal(ns->jwt_key, CONFIG_JWT_KEY_JWKS);
	assert_string_equal(ns->jwt_key_file, "/k/jwks.json");
	assert_string_equal(ns->jwt_issuer, "https://id.example/");
	assert_string_equal(ns->jwt_audience, "chat");
	assert_int_equal(ns->jwt_leeway_ms, 0);
	assert_true(ns->jwt_redact_token);
	assert_string_equal(ns->user_room, "u:{claims.tenant}:{sub}");
	assert_string_equal(ns->rooms_claim, "");
	assert_string_equal(ns->allow_join_claim, "may");
	config_test_parse_ok(&cfg, "namespace / {\n auth jwt\n jwt_secret_file s\n user_room none\n}\n");
	assert_int_equal(ns->jwt_key, CONFIG_JWT_KEY_SECRET);
	assert_string_equal(ns->user_room, "");
	config_test_parse_ok(&cfg, "namespace / {\n auth jwt\n jwt_public_key_file k.pem\n}\n");
	assert_int_equal(ns->jwt_key, CONFIG_JWT_KEY_PEM);
}

static void jwks_url_is_https_with_its_bounds_and_defaults(void **state)
{
	struct config cfg;
	const struct config_namespace *ns = &cfg.namespaces[0];
	struct config_url u;
	char why[128];

	config_test_parse_ok(&cfg, "namespace / {\n auth jwt\n"
				   " jwt_jwks_url https://id.example:8443/.well-known/jwks.json?v=1\n}\n");
	assert_int_equal(ns->jwt_key, CONFIG_JWT_KEY_URL);
	assert_string_equal(ns->jwt_key_file, "https://id.example:8443/.well-known/jwks.json?v=1");
	assert_string_equal(ns->jwt_jwks_ca_file, "");
	assert_int_equal(ns->jwt_jwks_refresh_ms, 600000);
	assert_int_equal(ns->jwt_jwks_refresh_min_ms, 30000);
	assert_int_equal(ns->jwt_jwks_timeout_ms, 10000);
	assert_int_equal(ns->jwt_jwks_wait_ms, 5000);
	assert_int_equal(ns->jwt_jwks_max_size, 1024 * 1024);
	assert_int_equal(ns->jwt_jwks_max_keys, 100);
	config_test_parse_ok(&cfg, "namespace / {\n auth jwt\n jwt_jwks_url https://[::1]\n"
				   " jwt_jwks_ca_file /etc/ca.pem\n jwt_jwks_refresh 1h\n"
				   " jwt_jwks_refresh_min 1s\n jwt_jwks_timeout 1m\n jwt_jwks_wait 1m\n"
				   " jwt_jwks_max_size 1K\n jwt_jwks_max_keys 10000\n}\n");
	assert_string_equal(ns->jwt_jwks_ca_file, "/etc/ca.pem");
	assert_int_equal(ns->jwt_jwks_refresh_ms, 3600000);
	assert_int_equal(ns->jwt_jwks_refresh_min_ms, 1000);
	assert_int_equal(ns->jwt_jwks_timeout_ms, 60000);
	assert_int_equal(ns->jwt_jwks_wait_ms, 60000);
	assert_int_equal(ns->jwt_jwks_max_size, 1024);
	assert_int_equal(ns->jwt_jwks_max_keys, 10000);

	/* The split a fetch uses. */
	assert_int_equal(config_url_split("https://id.example:8443/k?v=1", &u, why, sizeof why), 0);
	assert_string_equal(u.host, "id.example");
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.path, "/k?v=1");
	assert_false(u.is_ip);
	assert_int_equal(config_url_split("HTTPS://127.0.0.1", &u, why, sizeof why), 0);
	assert_string_equal(u.path, "/");
	assert_int_equal(u.port, 443);
	assert_true(u.is_ip);
	assert_int_equal(config_url_split("https://[::1]:65535?x", &u, why, sizeof why), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 65535);
	assert_string_equal(u.path, "?x");
	assert_true(u.is_ip);

	config_test_expect_block_value_error("jwt_jwks_url", "http://id.example/jwks",
					     "jwt_jwks_url: only https:// URLs: the key set must come over TLS");
	config_test_expect_block_value_error("jwt_jwks_url", "https://user@id.example/",
					     "jwt_jwks_url: unexpected '@' after the host (no user@ part)");
	config_test_expect_block_value_error("jwt_jwks_url", "https://id.example:65536/",
					     "jwt_jwks_url: port must be 1 to 65535");
	config_test_expect_block_value_error("jwt_jwks_url", "https://id.example:0/",
					     "jwt_jwks_url: port must be 1 to 65535");
	config_test_expect_block_value_error("jwt_jwks_url", "https://id.example/#k",
					     "jwt_jwks_url: a space, control byte, non-ASCII byte or '#' in the URL");
	config_test_expect_block_value_error("jwt_jwks_url", "https:///jwks",
					     "jwt_jwks_url: no host name (letters, digits, '.', '-') after https://");
	config_test_expect_block_value_error("jwt_jwks_url", "https://[::g]/",
					     "jwt_jwks_url: '::g' is not an IPv6 address");
	config_test_expect_error("namespace / {\n auth jwt\n jwt_jwks_file f\n jwt_jwks_timeout 1s\n}\n",
				 CONFIG_TEST_FILE ":4: jwt_jwks_timeout needs jwt_jwks_url in the same block");
	config_test_expect_error("namespace / {\n jwt_jwks_url https://a/\n}\n",
				 CONFIG_TEST_FILE ":2: jwt_jwks_url needs auth jwt in the same block");
	config_test_expect_block_value_error("jwt_jwks_refresh_min", "999ms",
					     "jwt_jwks_refresh_min: '999ms' out of range (1s..1h)");
	config_test_expect_block_value_error("jwt_jwks_refresh", "61m",
					     "jwt_jwks_refresh: '61m' out of range (1s..1h)");
	/* 0: a CONNECT never waits for a fetch (refused at once, as before). */
	config_test_parse_ok(&cfg, "namespace / {\n auth jwt\n jwt_jwks_url https://a/\n"
				   " jwt_jwks_wait 0ms\n}\n");
	assert_int_equal(ns->jwt_jwks_wait_ms, 0);
	config_test_expect_block_value_error("jwt_jwks_wait", "61s",
					     "jwt_jwks_wait: '61s' out of range (0ms..1m)");
	config_test_expect_error("namespace / {\n auth jwt\n jwt_jwks_file f\n jwt_jwks_wait 1s\n}\n",
				 CONFIG_TEST_FILE ":4: jwt_jwks_wait needs jwt_jwks_url in the same block");
	config_test_expect_block_value_error("jwt_jwks_max_size", "17M",
					     "jwt_jwks_max_size: '17M' out of range (1K..16M)");
	config_test_expect_block_value_error("jwt_jwks_max_keys", "10001",
					     "jwt_jwks_max_keys: '10001' out of range (1..10000)");
	config_test_expect_block_value_error("jwt_jwks_max_keys", "0",
					     "jwt_jwks_max_keys: '0' out of range (1..10000)");
}

/* A placeholder lookup that counts its calls and finds no value. */
static const char *config_test_no_value(void *ctx, const char *name, size_t name_len,
					size_t *value_len)
{
	(*(int *)ctx)++;
	return NULL;
}

static void claims_in_client_join_need_auth_jwt_and_reach_the_callback_whole(void **state)
{
	struct config cfg;
	int calls = 0;

	config_test_expect_error("namespace / {\n client_join u:{sub}\n}\n",
				 CONFIG_TEST_FILE ":2: client_join: {sub} and {claims.FIELD} need auth jwt "
				 "in the same block");
	config_test_expect_error("namespace / {\n client_join t:{claims.team}:*\n}\n",
				 CONFIG_TEST_FILE ":2: client_join: {sub} and {claims.FIELD} need auth jwt "
				 "in the same block");
	config_test_parse_ok(&cfg, "namespace / {\n auth jwt\n jwt_secret_file s\n"
				   " client_join u:{sub} t:{claims.team}:*\n}\n");
	/* The claims are asked for, one call per pattern and, here, have no
	 * value. */
	assert_false(config_room_allowed(&cfg.namespaces[0], "u:ana", 5, config_test_no_value, &calls));
	assert_int_equal(calls, 2);
	/* A claim's pattern keeps every value to its own place (#19). */
	static const struct { const char *pattern, *why; } ambiguous[] = {
		{ "*:{sub}", "'*' before placeholder '{sub}' could take another user's value" },
		{ "{auth.a}:*{claims.t}:x", "'*' before placeholder '{claims.t}' could take another user's value" },
		{ "own:{sub}*", "placeholder '{sub}' is followed by '*': end the pattern or follow it with "
				"a separator such as ':'" },
		{ "own:{sub}?", "placeholder '{sub}' is followed by '?': end the pattern or follow it with "
				"a separator such as ':'" },
		{ "{auth.a}{sub}", "placeholder '{auth.a}' is followed by '{': end the pattern or follow it "
				   "with a separator such as ':'" },
	};
	char message[CONFIG_ERR_LEN], text[256];
	for (size_t i = 0; i < sizeof ambiguous / sizeof ambiguous[0]; i++) {
		snprintf(text, sizeof text, "namespace / {\n auth jwt\n jwt_secret_file s\n client_join %s\n}\n",
			 ambiguous[i].pattern);
		snprintf(message, sizeof message, CONFIG_TEST_FILE ":4: client_join: bad pattern '%s' (%s)",
			 ambiguous[i].pattern, ambiguous[i].why);
		config_test_expect_error(text, message);
	}
	config_test_expect_error("namespace / {\n auth jwt\n jwt_secret_file s\n user_room u:{sub}{claims.t}\n}\n",
				 CONFIG_TEST_FILE ":4: user_room: bad template 'u:{sub}{claims.t}' (placeholder "
				 "'{sub}' is followed by '{': end the pattern or follow it with a separator such as ':')");
	/* Only {auth.FIELD}: values the client chose anyway, as before. */
	config_test_parse_ok(&cfg, "namespace / {\n client_join *:{auth.a} {auth.a}*\n}\n");
	config_test_parse_ok(&cfg, "namespace / {\n auth jwt\n jwt_secret_file s\n"
				   " client_join ?{sub}:* own:{sub} {claims.t}/{sub}:*:x\n}\n");
	config_test_expect_block_value_error("client_join", "{claims.}",
					     "client_join: bad pattern '{claims.}' (placeholder '{claims.}' is "
					     "not {auth.FIELD}, {sub} or {claims.FIELD})");
}

static void auth_keys_are_refused_where_they_cannot_work(void **state)
{
	char path[300];

	config_test_expect_block_value_error("auth", "oauth", "auth: unknown mode 'oauth' (none, jwt, backend)");
	config_test_expect_error("namespace / {\n auth jwt\n}\n",
				 CONFIG_TEST_FILE ":2: auth jwt needs one of jwt_secret_file, "
				 "jwt_public_key_file, jwt_jwks_file or jwt_jwks_url");
	config_test_expect_error("namespace / {\n jwt_audience chat\n}\n",
				 CONFIG_TEST_FILE ":2: jwt_audience needs auth jwt in the same block");
	config_test_expect_error("namespace / {\n auth jwt\n jwt_secret_file s\n jwt_jwks_file j\n}\n",
				 CONFIG_TEST_FILE ":4: jwt_jwks_file: only one of jwt_secret_file, "
				 "jwt_public_key_file, jwt_jwks_file and jwt_jwks_url may be set");
	memset(path, 'p', 256);
	path[256] = '\0';
	config_test_expect_block_value_error("jwt_secret_file", path,
					     "jwt_secret_file: path longer than 255 bytes");
	path[255] = '\0';
	config_test_expect_error("namespace / {\n jwt_issuer x\n}\n",
				 CONFIG_TEST_FILE ":2: jwt_issuer needs auth jwt in the same block");
	/* Without a verified token, the payload's token is the backend's to check (#19). */
	config_test_expect_error("namespace / {\n auth backend\n jwt_redact_token yes\n}\n",
				 CONFIG_TEST_FILE ":3: jwt_redact_token needs auth jwt in the same block");
	config_test_expect_block_value_error("user_room", "user:*",
					     "user_room: bad template 'user:*' (it names one room: no '*' or '?')");
	config_test_expect_block_value_error("user_room", "user:{auth.x}",
					     "user_room: bad template 'user:{auth.x}' (placeholders are {sub} "
					     "and {claims.FIELD})");
	config_test_expect_block_value_error("user_room", "user:{sub",
					     "user_room: bad template 'user:{sub' (placeholders are {sub} "
					     "and {claims.FIELD})");
	config_test_expect_block_value_error("rooms_claim", "a-b",
					     "rooms_claim: bad claim name 'a-b' (letters, digits and '_')");
	config_test_expect_block_value_error("jwt_leeway", "61m", "jwt_leeway: '61m' out of range (0ms..1h)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_match_the_reference_server),
		cmocka_unit_test(empty_text_keeps_every_default),
		cmocka_unit_test(every_key_is_parsed_with_a_valid_value),
		cmocka_unit_test(dump_gives_the_same_configuration_and_dumps_to_itself),
		cmocka_unit_test(parsing_on_top_replaces_values_and_the_listen_list),
		cmocka_unit_test(listen_accepts_an_ipv4_literal),
		cmocka_unit_test(listen_accepts_ipv6_in_brackets),
		cmocka_unit_test(listen_star_means_every_ipv4_address),
		cmocka_unit_test(listen_lines_replace_the_default_and_then_add),
		cmocka_unit_test(listen_rejects_names_and_malformed_addresses),
		cmocka_unit_test(listen_port_outside_1_to_65535_is_rejected),
		cmocka_unit_test(duplicate_listener_names_the_earlier_line),
		cmocka_unit_test(same_address_on_another_port_is_not_a_duplicate),
		cmocka_unit_test(sixteen_listeners_are_accepted_and_a_seventeenth_is_rejected),
		cmocka_unit_test(path_gets_a_trailing_slash_when_missing),
		cmocka_unit_test(path_must_start_with_a_slash),
		cmocka_unit_test(path_with_query_fragment_or_non_ascii_is_rejected),
		cmocka_unit_test(path_of_255_bytes_is_accepted_and_256_is_rejected),
		cmocka_unit_test(transports_take_one_or_both_words_in_any_order),
		cmocka_unit_test(unknown_transport_is_rejected),
		cmocka_unit_test(transport_listed_twice_is_rejected),
		cmocka_unit_test(booleans_accept_yes_no_on_off_true_false),
		cmocka_unit_test(bad_boolean_is_rejected),
		cmocka_unit_test(size_suffixes_are_powers_of_1024_in_either_case),
		cmocka_unit_test(durations_take_ms_s_m_and_h),
		cmocka_unit_test(duration_without_unit_is_rejected_with_line_number),
		cmocka_unit_test(duration_with_an_unknown_unit_is_rejected),
		cmocka_unit_test(size_with_an_unknown_unit_is_rejected),
		cmocka_unit_test(malformed_numbers_are_rejected),
		cmocka_unit_test(zero_duration_is_out_of_range),
		cmocka_unit_test(header_and_body_timeouts_take_1ms_to_1h),
		cmocka_unit_test(max_connections_per_ip_takes_0_to_a_million),
		cmocka_unit_test(trusted_proxies_takes_addresses_networks_and_unix),
		cmocka_unit_test(trusted_proxies_holds_16_networks_the_17th_is_refused),
		cmocka_unit_test(listen_proxy_protocol_needs_trusted_proxies),
		cmocka_unit_test(linger_timeout_takes_1ms_to_1h),
		cmocka_unit_test(drain_timeout_takes_0_to_10m),
		cmocka_unit_test(flush_delay_takes_0_to_1s),
		cmocka_unit_test(durations_up_to_one_hour_are_accepted_and_beyond_rejected),
		cmocka_unit_test(numbers_too_large_for_64_bits_are_out_of_range),
		cmocka_unit_test(max_payload_accepts_1_to_1G),
		cmocka_unit_test(max_connections_accepts_1_to_a_million_without_unit),
		cmocka_unit_test(max_header_size_accepts_1K_to_1M),
		cmocka_unit_test(max_output_buffer_accepts_64K_to_1G),
		cmocka_unit_test(output_buffer_smaller_than_max_payload_is_rejected),
		cmocka_unit_test(keepalive_timeout_is_a_duration),
		cmocka_unit_test(cors_origin_star_allows_any_origin),
		cmocka_unit_test(cors_origin_takes_a_list_of_origins),
		cmocka_unit_test(cors_origin_star_mixed_with_origins_is_rejected),
		cmocka_unit_test(allowed_origins_and_allow_no_origin_parse_apart_from_cors),
		cmocka_unit_test(cors_origin_not_as_a_browser_sends_it_is_rejected),
		cmocka_unit_test(cors_origin_of_255_bytes_is_accepted_and_256_is_rejected),
		cmocka_unit_test(sixteen_cors_origins_are_accepted_and_seventeen_rejected),
		cmocka_unit_test(cors_origin_listed_twice_is_rejected),
		cmocka_unit_test(log_level_takes_the_four_levels),
		cmocka_unit_test(unknown_log_level_is_rejected),
		cmocka_unit_test(log_file_of_255_bytes_is_accepted_and_256_is_rejected),
		cmocka_unit_test(unknown_key_is_rejected_with_line_number),
		cmocka_unit_test(unknown_key_suggests_the_nearest_key_of_its_scope),
		cmocka_unit_test(access_log_is_off_logfmt_or_json),
		cmocka_unit_test(unknown_key_is_quoted_escaped_and_cut_at_64_bytes),
		cmocka_unit_test(stray_braces_are_rejected),
		cmocka_unit_test(braces_inside_a_word_are_part_of_the_value),
		cmocka_unit_test(missing_value_is_rejected),
		cmocka_unit_test(too_many_values_are_rejected),
		cmocka_unit_test(listen_takes_unix_sockets_and_options),
		cmocka_unit_test(admin_listen_takes_one_address_apart_from_listen),
		cmocka_unit_test(cluster_connection_caps_take_their_ranges),
		cmocka_unit_test(cluster_listen_needs_its_secret_redis_and_an_address_peers_reach),
		cmocka_unit_test(duplicate_key_names_the_first_line),
		cmocka_unit_test(comments_and_blank_lines_are_ignored),
		cmocka_unit_test(hash_inside_a_word_is_part_of_the_value),
		cmocka_unit_test(crlf_line_endings_are_accepted),
		cmocka_unit_test(carriage_return_without_newline_is_rejected),
		cmocka_unit_test(nul_byte_is_rejected_with_line_number),
		cmocka_unit_test(control_character_is_rejected),
		cmocka_unit_test(last_line_needs_no_newline),
		cmocka_unit_test(text_is_read_only_up_to_its_length),
		cmocka_unit_test(error_buffer_is_never_overrun),
		cmocka_unit_test(socket_io_level_keys_default_to_the_reference_server),
		cmocka_unit_test(connect_timeout_is_a_duration_up_to_one_hour),
		cmocka_unit_test(max_namespaces_per_session_accepts_1_to_1000),
		cmocka_unit_test(max_room_name_accepts_1_to_4K),
		cmocka_unit_test(max_json_expansion_accepts_2_to_1000),
		cmocka_unit_test(max_auth_size_accepts_64_bytes_to_1M),
		cmocka_unit_test(max_acks_per_socket_accepts_1_to_100000),
		cmocka_unit_test(auth_defaults_to_none_with_the_user_room_and_claims_named),
		cmocka_unit_test(auth_jwt_takes_one_key_file_and_its_checks),
		cmocka_unit_test(jwks_url_is_https_with_its_bounds_and_defaults),
		cmocka_unit_test(auth_keys_are_refused_where_they_cannot_work),
		cmocka_unit_test(claims_in_client_join_need_auth_jwt_and_reach_the_callback_whole),
		cmocka_unit_test(root_namespace_exists_with_the_defaults_when_the_file_has_no_block),
		cmocka_unit_test(namespace_blocks_are_parsed_with_their_keys),
		cmocka_unit_test(root_namespace_declared_after_others_stays_first),
		cmocka_unit_test(empty_block_declares_a_namespace_with_the_defaults),
		cmocka_unit_test(each_block_starts_from_the_defaults),
		cmocka_unit_test(comments_blank_lines_and_crlf_work_inside_blocks),
		cmocka_unit_test(first_block_of_a_text_replaces_the_namespaces_and_a_text_without_blocks_keeps_them),
		cmocka_unit_test(unclosed_block_is_reported_at_its_namespace_line),
		cmocka_unit_test(closing_brace_without_a_block_is_rejected),
		cmocka_unit_test(closing_brace_must_be_alone_on_its_line),
		cmocka_unit_test(namespace_line_needs_a_name_then_an_opening_brace_and_nothing_else),
		cmocka_unit_test(blocks_do_not_nest),
		cmocka_unit_test(namespace_name_must_start_with_a_slash),
		cmocka_unit_test(namespace_name_with_a_comma_hash_or_non_path_character_is_rejected),
		cmocka_unit_test(namespace_name_takes_the_characters_of_a_url_path),
		cmocka_unit_test(namespace_name_of_128_bytes_is_accepted_and_129_is_rejected),
		cmocka_unit_test(duplicate_namespace_names_the_first_line),
		cmocka_unit_test(sixty_four_namespaces_are_accepted_and_a_sixty_fifth_is_rejected),
		cmocka_unit_test(namespace_keys_outside_a_block_are_rejected),
		cmocka_unit_test(top_level_keys_inside_a_block_are_rejected),
		cmocka_unit_test(namespace_key_twice_in_a_block_names_the_first_line),
		cmocka_unit_test(client_join_takes_up_to_sixteen_patterns),
		cmocka_unit_test(client_join_pattern_of_256_bytes_is_accepted_and_257_is_rejected),
		cmocka_unit_test(client_join_accepts_globs_and_auth_placeholders),
		cmocka_unit_test(client_join_placeholder_syntax_is_checked),
		cmocka_unit_test(client_join_pattern_listed_twice_is_rejected),
		cmocka_unit_test(event_names_of_64_bytes_are_accepted_and_65_rejected),
		cmocka_unit_test(reserved_event_names_are_rejected),
		cmocka_unit_test(join_and_leave_events_must_differ),
		cmocka_unit_test(max_rooms_per_socket_accepts_0_to_100000),
		cmocka_unit_test(relay_takes_a_boolean),
		cmocka_unit_test(forward_takes_unrelayed_all_or_none),
		cmocka_unit_test(forward_events_takes_1_to_16_globs_of_up_to_64_bytes),
		cmocka_unit_test(backend_stream_keys_take_a_key_and_a_length),
		cmocka_unit_test(backend_ack_keys_take_a_count_and_a_duration),
		cmocka_unit_test(backend_flush_delay_is_a_duration_up_to_1s),
		cmocka_unit_test(backend_buffer_takes_a_size_from_0_to_1g),
		cmocka_unit_test(backend_headers_take_up_to_16_names_kept_in_lower_case),
		cmocka_unit_test(auth_backend_keys_take_their_ranges),
		cmocka_unit_test(redis_keys_default_to_a_single_instance_and_the_adapter_s_values),
		cmocka_unit_test(redis_takes_an_ip_literal_or_a_host_name_with_a_port),
		cmocka_unit_test(redis_takes_a_unix_socket_path),
		cmocka_unit_test(redis_address_parsed_on_top_replaces_the_other_form),
		cmocka_unit_test(redis_malformed_address_is_rejected_with_the_reason),
		cmocka_unit_test(redis_port_outside_1_to_65535_is_rejected),
		cmocka_unit_test(redis_host_of_255_bytes_is_accepted_and_256_is_rejected),
		cmocka_unit_test(redis_unix_path_of_107_bytes_is_accepted_and_108_is_rejected),
		cmocka_unit_test(redis_password_is_taken_as_written_up_to_255_bytes),
		cmocka_unit_test(redis_password_file_is_read_at_load_up_to_255_bytes),
		cmocka_unit_test(file_keys_name_systemd_credentials_under_credentials_directory),
		cmocka_unit_test(redis_keys_without_a_redis_address_are_accepted),
		cmocka_unit_test(redis_db_accepts_0_to_a_million_without_unit),
		cmocka_unit_test(redis_key_takes_a_prefix_without_hash_up_to_127_bytes),
		cmocka_unit_test(redis_request_timeout_is_a_duration_up_to_one_hour),
		cmocka_unit_test(redis_emit_channel_takes_a_name_up_to_127_bytes),
		cmocka_unit_test(redis_emit_channel_under_the_adapter_s_channels_is_rejected),
		cmocka_unit_test(redis_emit_channel_clash_from_an_earlier_text_names_the_line_of_this_one),
		cmocka_unit_test(redis_max_message_accepts_1K_to_512M),
		cmocka_unit_test(redis_keys_inside_a_namespace_block_are_rejected),
		cmocka_unit_test(shipped_sample_config_listens_on_127_0_0_1_port_3000),
		cmocka_unit_test(every_key_is_in_the_sample_config_and_the_man_page),
		cmocka_unit_test(each_duration_key_takes_exactly_the_range_its_entry_states),
		cmocka_unit_test(missing_file_is_reported_with_strerror),
		cmocka_unit_test(file_of_1_MiB_is_accepted_and_one_byte_more_is_rejected),
		cmocka_unit_test(load_errors_name_the_file_and_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
