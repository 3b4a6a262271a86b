/* fuzz_server.c - libFuzzer target for the server as a whole: connections,
 * HTTP, the engine, Socket.IO and session routing, with a peer instance to
 * forward to.
 *
 * The other targets fuzz one codec each; this one runs roomcastd's own
 * modules in process (daemon_open(): the router, the engine, nsp, cluster,
 * route, backend and the listeners, as main.c starts them), the way h2o's
 * fuzz driver runs its HTTP server, and drives the event loop itself.
 * Routing is on (cluster_listen, cluster_secret_file), Redis is away (a
 * unix socket that does not exist: instances then keep the peers they
 * know), and one peer is announced through route_hear() with a line
 * signed by the secret, so that its sids are forwarded to it.  The peer is
 * scripted here: a TCP listener whose accepted connections (upstreams of
 * forward.c) collect the forwarded requests, which the input answers.
 *
 * Input: a little program, records separated by "~~~".  A record is an op
 * byte, an argument byte (counted from '0', so that seeds read "w0", "o2")
 * and data; after each the loop runs FUZZ_TURNS turns, enough for a
 * forwarded request to reach the peer.
 *   w I DATA   client I (mod FUZZ_CLIENTS) writes DATA, connecting first
 *              if it is not connected; in DATA, SID0..SID3 become the
 *              local sids clients have read in open packets, PSID a valid
 *              sid of the peer, GSID a valid sid of an instance never
 *              announced (code 1: with Redis away it cannot be asked for)
 *   h I        client I shuts its writing side (FIN)
 *   x I        client I closes its connection
 *   o K, n K   the peer answers its oldest, its newest held request with
 *              canned answer K (mod FUZZ_ANSWERS): 0 a long-poll's 200,
 *              1 a POST's "ok", 2 400 code 1, 3 an upgrade's 101 and a
 *              frame, 4 a close, 5 a reset, 6 a 200 with Connection:
 *              close, 7 an answer cut short, 8 bytes that are not our HTTP
 *   p I DATA   the peer writes DATA raw on its connection I (a relayed
 *              WebSocket's frames)
 *   r N        the loop runs N more turns
 * Other op bytes are ignored.  Clients connect over loopback TCP to the
 * server's listen address, so they come in through its own accept path.
 *
 * Every run ends clean: every session is freed (engine_cleanup(), then
 * engine_init() again), every socket closed, and the loop runs until the
 * server has no connection left, which is checked: runs are independent,
 * and LeakSanitizer sees what a run leaked at exit.
 *
 * Beyond the sanitizers, a line the server logs at level error is a
 * finding: the server logs at that level only what should never happen
 * (a second answer to one request, a request forwarded twice, a failed
 * getrandom or event_add), never what a client sends.  The log goes to an
 * unlinked file, checked empty after each run.
 *
 * Build: make fuzz (clang -fsanitize=fuzzer,address,undefined).
 * Seeds: tests/fuzz/corpus/server/ (handshakes, polling GET/POST and an
 * upgrade for a local session, a forwarded GET, POST and upgrade, and the
 * regress-* inputs this target found: a GET or DELETE with a body for a
 * peer's session, forwarded twice, whose first upstream then wrote into
 * the freed client); dictionary: tests/fuzz/server.dict.  Replay one
 * input: build/libfuzzer/fuzz/fuzz_server FILE (FUZZ_SERVER_TRACE=1 to
 * see the bytes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "app.h"
#include "auth.h"
#include "config.h"
#include "daemon.h"
#include "engine.h"
#include "log.h"
#include "nsp.h"
#include "route.h"
#include "server.h"
#include "sid.h"

#define FUZZ_CHECK(cond)                                                      \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "fuzz_server: %s failed\n", #cond);  \
			abort();                                              \
		}                                                             \
	} while (0)

#define FUZZ_CLIENTS 4
#define FUZZ_UPSTREAMS 32          /* the peer's connections held at once */
#define FUZZ_SIDS 4                /* SID0..SID3 */
#define FUZZ_TURNS 3               /* loop turns after each op */
#define FUZZ_MAX_OPS 64
#define FUZZ_MAX_TURNS 64          /* an op "r" runs at most this many */
#define FUZZ_END_TURNS 200         /* for the server to close everything */
#define FUZZ_SEPARATOR "~~~"
/* The secret the driver shares with the instance: it signs the peer's
 * announcement and makes its sids. */
#define FUZZ_SECRET "fuzz-server-cluster-secret-0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__asan_default_options(void);

/* A run frees some 64 KiB (connections' buffers, sessions): ASan's
 * default 256 MiB quarantine of freed memory made every allocation touch
 * fresh pages, and halved the runs per second.  64 MiB still keeps what
 * a run freed for a thousand runs, far longer than a use after free
 * within one needs.  ASAN_OPTIONS overrides it. */
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=64";
}

/* A connection the peer accepted: a forwarder's upstream. */
struct fuzz_up {
	int fd;
	uint64_t held;             /* order of the request it holds, 0 = none */
	bool relayed;              /* answered 101: bytes are frames now */
};

static struct {
	struct config cfg;
	struct event_base *base;
	char dir[64];              /* for the secret's and the log's files, at set-up */
	struct sockaddr_in client_addr; /* the listen address clients connect to */
	int log_fd;                /* the server's log (error lines only), read back */
	int peer_fd;               /* the peer's listener */
	char psid[ID_LEN + 1];     /* the peer's sid */
	char gsid[ID_LEN + 1];     /* a sid of an instance never announced */
	int clients[FUZZ_CLIENTS];
	struct fuzz_up ups[FUZZ_UPSTREAMS];
	size_t n_ups;
	uint64_t next_held;
	bool trace;                /* FUZZ_SERVER_TRACE set: print what is read */
	char sids[FUZZ_SIDS][ID_LEN + 1]; /* seen in answers, the first first */
	size_t n_sids;
} fuzz;

/* --- the canned answers of the peer ---------------------------------------- */

/* An answer of the peer: an HTTP/1.1 answer as http.c writes it, or raw
 * bytes (status NULL), or the connection closed (raw NULL too; reset if
 * <reset>). */
struct fuzz_answer {
	const char *status, *type, *connection, *body;
	const char *raw;
	bool reset;
};

static const struct fuzz_answer fuzz_answers[] = {
	{ "200 OK", "text/plain; charset=UTF-8", "keep-alive", "42[\"hello\"]", NULL, false },
	{ "200 OK", "text/html", "keep-alive", "ok", NULL, false },             /* a POST's */
	{ "400 Bad Request", "application/json", "keep-alive",
	  "{\"code\":1,\"message\":\"Session ID unknown\"}", NULL, false },
	{ .raw = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x06" "3probe" },
	{ .raw = NULL },                                                          /* close */
	{ .reset = true },
	{ "200 OK", "text/plain; charset=UTF-8", "close", "6", NULL, false },
	{ .raw = "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n4part" },           /* cut short */
	{ .raw = "HTTP/1.0 200 nonsense\r\n\r\n" },
};
#define FUZZ_ANSWERS (sizeof fuzz_answers / sizeof fuzz_answers[0])

/* With FUZZ_SERVER_TRACE set in the environment, what each side reads is
 * printed, to follow a run. */
static void fuzz_trace(const char *who, size_t i, const uint8_t *data, size_t len)
{
	if (!fuzz.trace)
		return;
	fprintf(stderr, "-- %s %zu read %zu bytes:\n", who, i, len);
	for (size_t j = 0; j < len; j++)
		fputc(data[j] == '\n' || (data[j] >= 0x20 && data[j] < 0x7f) ? data[j] : '.', stderr);
	fputc('\n', stderr);
}

/* --- set-up, once ------------------------------------------------------------ */

static void fuzz_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	FUZZ_CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

static int fuzz_listen_peer(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(fd, 64) == 0);
	return fd;
}

/* The peer joins as every instance does: a line on the route channel,
 * "2 ID ADDR TIME MAC", TIME the sender's clock in ms since the epoch, MAC
 * the first 8 bytes of HMAC-SHA256(secret, "announce:2 ID ADDR TIME") in
 * hex (route.c). */
static void fuzz_announce_peer(const char *id, int port)
{
	char line[160], signed_text[160];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	struct timespec now;

	FUZZ_CHECK(clock_gettime(CLOCK_REALTIME, &now) == 0);
	int n = snprintf(line, sizeof line, "2 %s 127.0.0.1:%d %lld", id, port,
			 (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	int m = snprintf(signed_text, sizeof signed_text, "announce:%s", line);

	FUZZ_CHECK(HMAC(EVP_sha256(), FUZZ_SECRET, (int)strlen(FUZZ_SECRET),
			(const uint8_t *)signed_text, (size_t)m, mac, &mac_len));
	n += snprintf(line + n, sizeof line - (size_t)n, " ");
	for (int i = 0; i < 8; i++)
		n += snprintf(line + n, sizeof line - (size_t)n, "%02x", mac[i]);
	route_hear((const uint8_t *)line, (size_t)n);
}

/* A free port for the client listener: listen takes no port 0 (only
 * cluster_listen does, and says where it bound), so one below the
 * kernel's ephemeral range, where no outgoing connection takes it
 * meanwhile, is tried and left for the server to bind. */
static void fuzz_pick_client_port(void)
{
	int one = 1;

	fuzz.client_addr = (struct sockaddr_in){ .sin_family = AF_INET,
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	for (int tries = 0; tries < 100; tries++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		FUZZ_CHECK(fd >= 0);
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		fuzz.client_addr.sin_port = htons((uint16_t)(20000 + (getpid() + tries * 7919) % 12000));
		int r = bind(fd, (struct sockaddr *)&fuzz.client_addr, sizeof fuzz.client_addr);
		close(fd);
		if (r == 0)
			return;
	}
	FUZZ_CHECK(!"a free port between 20000 and 32000");
}

/* The instance: the config from text, with routing on and a Redis that
 * is never there (peers are then kept however long ago they announced;
 * records for backends are dropped at once, rather than held from one run
 * to the next until backend_buffer is full), a namespace with relay and
 * one with a room pattern, then its modules
 * started as daemon_run() starts them.  The files it reads or writes are
 * unlinked once open: a run that ends in a crash leaves nothing behind. */
static void fuzz_start_instance(void)
{
	char secret_path[192], log_path[192], text[1024], err[CONFIG_ERR_LEN];

	snprintf(fuzz.dir, sizeof fuzz.dir, "/tmp/fuzz_server.XXXXXX");
	FUZZ_CHECK(mkdtemp(fuzz.dir));
	snprintf(secret_path, sizeof secret_path, "%s/secret", fuzz.dir);
	snprintf(log_path, sizeof log_path, "%s/log", fuzz.dir);
	fuzz_write_file(secret_path, FUZZ_SECRET "\n");
	fuzz_pick_client_port();
	snprintf(text, sizeof text,
		 "listen 127.0.0.1:%u\n"
		 "cluster_listen 127.0.0.1:0\n"
		 "cluster_secret_file %s\n"
		 "redis unix:%s/no-redis.sock\n"
		 "log_level error\n"
		 "backend_buffer 0\n"
		 "cors_origin *\n"
		 "namespace / {\n  client_join *\n  relay yes\n}\n"
		 "namespace /chat {\n  client_join room:*\n}\n",
		 ntohs(fuzz.client_addr.sin_port), secret_path, fuzz.dir);
	config_defaults(&fuzz.cfg);
	if (config_parse(&fuzz.cfg, text, strlen(text), "fuzz_server", err, sizeof err) < 0 ||
	    auth_init(&fuzz.cfg, err, sizeof err) < 0) {
		fprintf(stderr, "fuzz_server: %s\n", err);
		abort();
	}
	FUZZ_CHECK(log_open(fuzz.cfg.log_level, log_path) == 0);
	FUZZ_CHECK((fuzz.log_fd = open(log_path, O_RDONLY | O_CLOEXEC)) >= 0);
	FUZZ_CHECK((fuzz.base = daemon_open(&fuzz.cfg, "fuzz_server", &app_socketio)) != NULL);
	/* No wait for route_ready(), as daemon_run() has: it waits for Redis's
	 * announcements, and Redis is away; the peer is announced directly. */
	FUZZ_CHECK(server_accept_clients() == 0);
	unlink(secret_path);
	unlink(log_path);
	rmdir(fuzz.dir);
}

/* The peer: its listener, announced to the instance, and the sids the
 * input's PSID and GSID stand for. */
static void fuzz_start_peer(void)
{
	char own[ID_LEN + 1];
	struct sockaddr_in sin;
	socklen_t sin_len = sizeof sin;
	const struct route_peer *peer = NULL;

	fuzz.peer_fd = fuzz_listen_peer();
	FUZZ_CHECK(getsockname(fuzz.peer_fd, (struct sockaddr *)&sin, &sin_len) == 0);
	/* The peer's instance id, and the one never announced, are not ours. */
	FUZZ_CHECK(route_sid_new(own) == 0);
	const char *peer_id = memcmp(own, "Pee", 3) != 0 ? "Pee" : "Pef";
	const char *gone_id = memcmp(own, "Gon", 3) != 0 ? "Gon" : "Goo";
	fuzz_announce_peer(peer_id, ntohs(sin.sin_port));

	struct sid_key *k = sid_key_new((const uint8_t *)FUZZ_SECRET, strlen(FUZZ_SECRET));
	FUZZ_CHECK(k);
	sid_make(fuzz.psid, peer_id, "fuzzfuzzfuzz", k);
	sid_make(fuzz.gsid, gone_id, "fuzzfuzzfuzz", k);
	sid_key_free(k);
	FUZZ_CHECK(route_sid_owner(fuzz.psid, ID_LEN, &peer) == ROUTE_PEER);
	FUZZ_CHECK(route_sid_owner(fuzz.gsid, ID_LEN, &peer) == ROUTE_GONE);
}

static void fuzz_setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	fuzz.trace = getenv("FUZZ_SERVER_TRACE") != NULL;
	fuzz_start_instance();
	fuzz_start_peer();
	for (size_t i = 0; i < FUZZ_CLIENTS; i++)
		fuzz.clients[i] = -1;
}

/* --- the clients ------------------------------------------------------------- */

static int *fuzz_client(uint8_t arg)
{
	return &fuzz.clients[arg % FUZZ_CLIENTS];
}

/* Connects (on loopback at once: the kernel completes the handshake, the
 * server accepts on its next turn), then stops blocking. */
static void fuzz_client_connect(int *fd)
{
	if (*fd >= 0)
		return;
	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_CHECK(*fd >= 0);
	FUZZ_CHECK(connect(*fd, (struct sockaddr *)&fuzz.client_addr, sizeof fuzz.client_addr) == 0);
	FUZZ_CHECK(fcntl(*fd, F_SETFL, O_NONBLOCK) == 0);
}

static void fuzz_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Remembers the sid of an Engine.IO open packet
 * (0{"sid":"...","upgrades":...) in what a client read, for SID0..SID3. */
static void fuzz_learn_sids(const uint8_t *data, size_t len)
{
	static const char key[] = "0{\"sid\":\"", after[] = "\",\"upgrades\"";
	const uint8_t *p = data, *end = data + len;

	while ((p = memmem(p, (size_t)(end - p), key, sizeof key - 1))) {
		p += sizeof key - 1;
		if ((size_t)(end - p) < ID_LEN + sizeof after - 1)
			return;
		if (memcmp(p + ID_LEN, after, sizeof after - 1) != 0)
			continue;
		memcpy(fuzz.sids[fuzz.n_sids % FUZZ_SIDS], p, ID_LEN);
		fuzz.sids[fuzz.n_sids % FUZZ_SIDS][ID_LEN] = '\0';
		fuzz.n_sids++;
	}
}

/* Reads what the server wrote to the clients (so that their buffers never
 * fill), learning sids. */
static void fuzz_clients_read(void)
{
	static uint8_t buf[65536];

	for (size_t i = 0; i < FUZZ_CLIENTS; i++) {
		ssize_t n;
		while (fuzz.clients[i] >= 0 && (n = read(fuzz.clients[i], buf, sizeof buf)) > 0) {
			fuzz_trace("client", i, buf, (size_t)n);
			fuzz_learn_sids(buf, (size_t)n);
		}
	}
}

/* The value a placeholder at <p> (4 bytes at least) stands for, or NULL. */
static const char *fuzz_placeholder(const uint8_t *p)
{
	if (memcmp(p, "PSID", 4) == 0)
		return fuzz.psid;
	if (memcmp(p, "GSID", 4) == 0)
		return fuzz.gsid;
	if (memcmp(p, "SID", 3) == 0 && p[3] >= '0' && p[3] < '0' + FUZZ_SIDS) {
		size_t i = (size_t)(p[3] - '0');
		return i < fuzz.n_sids ? fuzz.sids[i] : NULL;
	}
	return NULL;
}

static void fuzz_client_write(int fd, const uint8_t *data, size_t len)
{
	uint8_t *out = malloc(len * (ID_LEN / 4 + 1) + 1);
	size_t n = 0;

	FUZZ_CHECK(out);
	for (size_t i = 0; i < len;) {
		const char *sub = len - i >= 4 ? fuzz_placeholder(data + i) : NULL;
		if (sub) {
			memcpy(out + n, sub, ID_LEN);
			n += ID_LEN;
			i += 4;
		} else {
			out[n++] = data[i++];
		}
	}
	/* What the socket does not take now is dropped, as a client that
	 * gives up would. */
	(void)!write(fd, out, n);
	free(out);
}

/* --- the peer ---------------------------------------------------------------- */

static void fuzz_up_remove(size_t i)
{
	close(fuzz.ups[i].fd);
	fuzz.ups[i] = fuzz.ups[--fuzz.n_ups];
}

static void fuzz_peer_accept(void)
{
	int fd;

	while ((fd = accept4(fuzz.peer_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (fuzz.n_ups == FUZZ_UPSTREAMS) {
			close(fd);
			continue;
		}
		fuzz.ups[fuzz.n_ups++] = (struct fuzz_up){ .fd = fd };
	}
}

/* Reads the forwarded requests: a connection that sent bytes since its
 * last answer holds a request. */
static void fuzz_peer_read(void)
{
	static uint8_t buf[65536];

	for (size_t i = 0; i < fuzz.n_ups;) {
		struct fuzz_up *up = &fuzz.ups[i];
		ssize_t n, total = 0;
		while ((n = read(up->fd, buf, sizeof buf)) > 0) {
			fuzz_trace("peer's connection", i, buf, (size_t)n);
			total += n;
		}
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			fuzz_up_remove(i);
			continue;
		}
		if (total > 0 && !up->held && !up->relayed)
			up->held = ++fuzz.next_held;
		i++;
	}
}

/* The connection holding the oldest (or newest) request, or -1. */
static ssize_t fuzz_peer_held(bool newest)
{
	ssize_t best = -1;

	for (size_t i = 0; i < fuzz.n_ups; i++) {
		uint64_t h = fuzz.ups[i].held;
		if (h && (best < 0 || (newest ? h > fuzz.ups[best].held : h < fuzz.ups[best].held)))
			best = (ssize_t)i;
	}
	return best;
}

static void fuzz_peer_answer(bool newest, uint8_t k)
{
	const struct fuzz_answer *a = &fuzz_answers[k % FUZZ_ANSWERS];
	ssize_t i = fuzz_peer_held(newest);
	char text[512];
	int n;

	if (i < 0)
		return;
	struct fuzz_up *up = &fuzz.ups[i];
	if (a->status)
		n = snprintf(text, sizeof text,
			     "HTTP/1.1 %s\r\nContent-Type: %s\r\ncache-control: no-store\r\n"
			     "Content-Length: %zu\r\nConnection: %s\r\n\r\n%s",
			     a->status, a->type, strlen(a->body), a->connection, a->body);
	else if (a->raw)
		n = snprintf(text, sizeof text, "%s", a->raw);
	else {
		if (a->reset) {
			struct linger reset = { 1, 0 };
			(void)setsockopt(up->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
		}
		fuzz_up_remove((size_t)i);
		return;
	}
	(void)!write(up->fd, text, (size_t)n);
	up->held = 0;
	up->relayed = strncmp(text, "HTTP/1.1 101", 12) == 0;
}

static void fuzz_peer_write(uint8_t arg, const uint8_t *data, size_t len)
{
	if (fuzz.n_ups)
		(void)!write(fuzz.ups[arg % fuzz.n_ups].fd, data, len);
}

/* --- the loop ---------------------------------------------------------------- */

static void fuzz_turn(void)
{
	FUZZ_CHECK(event_base_loop(fuzz.base, EVLOOP_NONBLOCK) >= 0);
	daemon_after_turn();
	fuzz_clients_read();
	fuzz_peer_accept();
	fuzz_peer_read();
}

static void fuzz_turns(size_t n)
{
	for (size_t i = 0; i < n; i++)
		fuzz_turn();
}

/* <arg> counts from '0', so that seeds read "w0", "o2". */
static void fuzz_op(uint8_t op, uint8_t arg, const uint8_t *data, size_t len)
{
	arg = (uint8_t)(arg - '0');
	switch (op) {
	case 'w':
		fuzz_client_connect(fuzz_client(arg));
		fuzz_client_write(*fuzz_client(arg), data, len);
		break;
	case 'h':
		if (*fuzz_client(arg) >= 0)
			(void)shutdown(*fuzz_client(arg), SHUT_WR);
		break;
	case 'x':
		fuzz_close(fuzz_client(arg));
		break;
	case 'o':
	case 'n':
		fuzz_peer_answer(op == 'n', arg);
		break;
	case 'p':
		fuzz_peer_write(arg, data, len);
		break;
	case 'r':
		fuzz_turns(arg % FUZZ_MAX_TURNS);
		break;
	default:
		break;
	}
	fuzz_turns(FUZZ_TURNS);
}

/* Aborts, with what was logged, if the server logged a line (at level
 * error, the config's log_level). */
static void fuzz_check_log(void)
{
	char text[4096];
	ssize_t n = pread(fuzz.log_fd, text, sizeof text - 1, 0);

	if (n <= 0)
		return;
	text[n] = '\0';
	fprintf(stderr, "fuzz_server: the server logged an error, which only a bug of ours "
		"causes:\n%s", text);
	abort();
}

/* Frees every session and closes every socket, then runs the loop until
 * the server has let go of every connection. */
static void fuzz_end_run(void)
{
	engine_cleanup();
	engine_init(fuzz.base, &fuzz.cfg, &nsp_engine_callbacks, NULL);
	for (size_t i = 0; i < FUZZ_CLIENTS; i++)
		fuzz_close(&fuzz.clients[i]);
	for (size_t turns = 0; server_conn_count() > 0 || fuzz.n_ups > 0; turns++) {
		if (turns == FUZZ_END_TURNS) {
			fprintf(stderr, "fuzz_server: %zu connections left open after the run\n",
				server_conn_count());
			abort();
		}
		fuzz_turn();
		while (fuzz.n_ups)
			fuzz_up_remove(0);
	}
	fuzz.n_sids = 0;
	fuzz.next_held = 0;
	fuzz_check_log();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	const uint8_t *p = data, *end = data + size;

	if (!ready) {
		fuzz_setup();
		ready = true;
	}
	for (int ops = 0; p < end && ops < FUZZ_MAX_OPS; ops++) {
		const uint8_t *sep = memmem(p, (size_t)(end - p), FUZZ_SEPARATOR,
					    sizeof FUZZ_SEPARATOR - 1);
		const uint8_t *rec_end = sep ? sep : end;
		if (rec_end - p >= 2)
			fuzz_op(p[0], p[1], p + 2, (size_t)(rec_end - p - 2));
		else if (rec_end - p == 1)
			fuzz_op(p[0], '0', NULL, 0);
		p = sep ? sep + sizeof FUZZ_SEPARATOR - 1 : end;
	}
	fuzz_end_run();
	return 0;
}
