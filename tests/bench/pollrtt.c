/* pollrtt.c - polling round trips, direct or forwarded, for make bench.
 *
 * Owns the clients of bench.js's route scenario: N raw Engine.IO v4 /
 * Socket.IO v5 polling clients, each on one HTTP/1.1 keep-alive connection
 * with one request in flight.  Each client opens its session on --port-a
 * (GET /socket.io/?EIO=4&transport=polling), then, on --port-b (the same
 * port for "direct", another instance for "forwarded", which must pass
 * every request on to the session's owner), connects the namespace (POST
 * `40`, GET until `40{"sid":...}`) and loops: POST `42N["join","ROOM"]`
 * with an increasing ack id N, then GET until `43N["ok"]` arrives.  One
 * round trip is from the POST's write to the arrival of the GET response
 * that holds the ack.
 *
 * Set-up is sequential with blocking sockets (a few ms for 100 clients);
 * then {"event":"ready",...} on stdout, and the round trips start when a
 * line `go` arrives on stdin, so that the orchestrator samples the servers'
 * CPU around the round trips alone.  They run in one epoll loop: --count K
 * round trips per client, or as many as fit in --seconds S (round trips in
 * flight at the deadline finish and count).  Then {"event":"done",...}
 * with p50/p99/max µs, round trips per second and this process's CPU, each
 * session is closed with a `1` packet, and it exits 0.  Any unexpected
 * answer (status, packet, closed connection) is an error: exit 1 with the
 * reason on stderr.  A ping met on the way is answered with the next POST.
 *
 * Limits: a response of at most 64 KiB (head and body), a room name of at
 * most 64 bytes, 100,000 clients.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PR_BUF_BYTES (64 * 1024)    /* one response, head and body */
#define PR_REQ_BYTES 512            /* one request */
#define PR_SID_MAX 64
#define PR_ROOM_MAX 64
#define PR_EPOLL_BATCH 256

enum pr_wait {
	PR_WAIT_NONE,  /* finished, or not started */
	PR_WAIT_POST,  /* the join POST's "ok" */
	PR_WAIT_GET,   /* a GET's packets, until the ack */
};

struct pr_client {
	int fd;
	char sid[PR_SID_MAX + 1];
	enum pr_wait wait;
	unsigned ack_id;            /* of the join in flight */
	unsigned pongs;             /* pings answered with the next POST */
	unsigned done;              /* round trips completed */
	int64_t t_start_us;         /* the round trip's POST */
	size_t in_len;
	char in[PR_BUF_BYTES];
};

struct pr_opts {
	const char *host;
	unsigned port_a, port_b, clients, count;
	double seconds;
	const char *room;
};

static struct {
	struct pr_opts opt;
	struct sockaddr_in addr_a, addr_b;
	struct pr_client *clients;
	int epfd;
	uint32_t *rtt_us;           /* every round trip, in completion order */
	size_t n_rtt, rtt_cap;
	uint64_t rtt_sum_us;
	uint64_t gets, posts;       /* requests of the timed part */
	unsigned active;            /* clients still looping */
	int64_t go_us, deadline_us, last_us;
} pr;

static int64_t pr_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double pr_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void pr_die(const char *fmt, ...)
{
	va_list ap;

	fputs("pollrtt: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* One JSON line on stdout, flushed: the orchestrator reads line by line. */
static void pr_print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ---- requests and responses ----------------------------------------- */

static int pr_connect(const struct sockaddr_in *addr)
{
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
		pr_die("connect to port %u: %s", ntohs(addr->sin_port), strerror(errno));
	/* each request is one write, answered before the next: nothing to
	 * coalesce, and Nagle would hold a POST behind the last ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Writes a GET (body NULL) or a POST of <body> for the client's session on
 * <port>, in one write.  A request is a few hundred bytes into an empty
 * socket buffer: a short write does not happen, and is an error. */
static void pr_send(struct pr_client *c, unsigned port, const char *body, size_t body_len)
{
	char req[PR_REQ_BYTES];
	int n;

	if (!body)
		n = snprintf(req, sizeof req,
			     "GET /socket.io/?EIO=4&transport=polling%s%s HTTP/1.1\r\n"
			     "Host: %s:%u\r\n\r\n",
			     *c->sid ? "&sid=" : "", c->sid, pr.opt.host, port);
	else
		n = snprintf(req, sizeof req,
			     "POST /socket.io/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
			     "Host: %s:%u\r\nContent-Type: text/plain;charset=UTF-8\r\n"
			     "Content-Length: %zu\r\n\r\n%.*s",
			     c->sid, pr.opt.host, port, body_len, (int)body_len, body);
	if (n < 0 || (size_t)n >= sizeof req)
		pr_die("request over %d bytes", PR_REQ_BYTES);
	if (write(c->fd, req, (size_t)n) != n)
		pr_die("short write to port %u: %s", port, strerror(errno));
}

/* Parses the client's buffer: once a whole 200 response with its
 * Content-Length body is there, points <body> at the body and returns the
 * response's length (the next one starts there); 0 when incomplete. */
static size_t pr_response(struct pr_client *c, const char **body, size_t *body_len)
{
	const char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4), *p;
	size_t head_len, len;

	if (!end)
		return 0;
	head_len = (size_t)(end + 4 - c->in);
	if (head_len < 12 || memcmp(c->in, "HTTP/1.1 200", 12) != 0)
		pr_die("session %s: %.*s", c->sid, (int)strcspn(c->in, "\r\n"), c->in);
	p = strcasestr(c->in, "\r\ncontent-length:");
	if (!p || p > end)
		pr_die("session %s: a response without Content-Length", c->sid);
	len = strtoul(p + 17, NULL, 10);
	if (head_len + len > sizeof c->in - 1)
		pr_die("session %s: a response over %d bytes", c->sid, PR_BUF_BYTES);
	if (c->in_len < head_len + len)
		return 0;
	*body = c->in + head_len;
	*body_len = len;
	return head_len + len;
}

/* Drops the response just handled from the client's buffer. */
static void pr_consume(struct pr_client *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
}

/* Set-up only: blocks until a whole response is in. */
static void pr_read_blocking(struct pr_client *c, const char **body, size_t *body_len, size_t *used)
{
	for (;;) {
		ssize_t n;

		c->in[c->in_len] = 0;
		if ((*used = pr_response(c, body, body_len)))
			return;
		n = read(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len);
		if (n <= 0)
			pr_die("session %s: connection %s during set-up", *c->sid ? c->sid : "(new)",
			       n ? strerror(errno) : "closed");
		c->in_len += (size_t)n;
	}
}

/* Handles one GET body's packets (separated by \x1e): counts pings owed,
 * returns true when the ack `43<ack_id>[...` is among them. */
static bool pr_packets(struct pr_client *c, const char *p, size_t len)
{
	char ack[24];
	size_t ack_len = (size_t)snprintf(ack, sizeof ack, "43%u[", c->ack_id);
	bool acked = false;

	while (len) {
		const char *sep = memchr(p, 0x1e, len);
		size_t n = sep ? (size_t)(sep - p) : len;

		if (n == 1 && *p == '2')
			c->pongs++;
		else if (n > ack_len && memcmp(p, ack, ack_len) == 0)
			acked = true;
		else if (n && *p == '1')
			pr_die("session %s: closed by the server", c->sid);
		p += sep ? n + 1 : n;
		len -= sep ? n + 1 : n;
	}
	return acked;
}

/* ---- set-up ----------------------------------------------------------- */

/* Handshake on A; on B (a new connection if B differs) the namespace
 * CONNECT and its answer. */
static void pr_client_open(struct pr_client *c)
{
	const char *body, *s;
	size_t len, used;

	c->fd = pr_connect(&pr.addr_a);
	pr_send(c, pr.opt.port_a, NULL, 0);
	pr_read_blocking(c, &body, &len, &used);
	s = memmem(body, len, "\"sid\":\"", 7);
	if (len < 2 || body[0] != '0' || !s || strcspn(s + 7, "\"") > PR_SID_MAX)
		pr_die("bad handshake answer: %.*s", (int)len, body);
	memcpy(c->sid, s + 7, strcspn(s + 7, "\""));
	pr_consume(c, used);
	if (pr.opt.port_b != pr.opt.port_a) {
		close(c->fd);
		c->fd = pr_connect(&pr.addr_b);
	}
	pr_send(c, pr.opt.port_b, "40", 2);
	pr_read_blocking(c, &body, &len, &used);
	pr_consume(c, used);
	for (;;) {
		pr_send(c, pr.opt.port_b, NULL, 0);
		pr_read_blocking(c, &body, &len, &used);
		if (memmem(body, len, "40{\"sid\":", 9)) {
			pr_consume(c, used);
			return;
		}
		if (pr_packets(c, body, len))
			pr_die("session %s: an ack before any join", c->sid);
		pr_consume(c, used);
	}
}

/* At the end: a close packet for each session, so that the servers free
 * them now rather than at their heartbeat deadline. */
static void pr_close_all(void)
{
	for (unsigned i = 0; i < pr.opt.clients; i++) {
		struct pr_client *c = &pr.clients[i];
		const char *body;
		size_t len, used;

		pr_send(c, pr.opt.port_b, "1", 1);
		pr_read_blocking(c, &body, &len, &used);
		close(c->fd);
	}
}

/* ---- the timed loop ------------------------------------------------- */

static void pr_record(uint32_t us)
{
	if (pr.n_rtt == pr.rtt_cap) {
		pr.rtt_cap = pr.rtt_cap ? pr.rtt_cap * 2 : 65536;
		pr.rtt_us = realloc(pr.rtt_us, pr.rtt_cap * sizeof *pr.rtt_us);
		if (!pr.rtt_us)
			pr_die("out of memory for %zu round trips", pr.rtt_cap);
	}
	pr.rtt_us[pr.n_rtt++] = us;
	pr.rtt_sum_us += us;
}

/* Starts the client's next round trip: pongs owed, then the join. */
static void pr_round_start(struct pr_client *c)
{
	char body[PR_ROOM_MAX + 64];
	size_t len = 0;

	for (; c->pongs; c->pongs--) {
		memcpy(body + len, "3\x1e", 2);
		len += 2;
	}
	c->ack_id++;
	len += (size_t)snprintf(body + len, sizeof body - len, "42%u[\"join\",\"%s\"]",
				c->ack_id, pr.opt.room);
	c->t_start_us = pr_clock_us();
	c->wait = PR_WAIT_POST;
	pr.posts++;
	pr_send(c, pr.opt.port_b, body, len);
}

/* A round trip ended: the next one, or this client is finished. */
static void pr_round_end(struct pr_client *c, int64_t now)
{
	int64_t us = now - c->t_start_us;

	pr_record(us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
	c->done++;
	pr.last_us = now;
	if ((pr.opt.count && c->done >= pr.opt.count) || (pr.deadline_us && now >= pr.deadline_us)) {
		c->wait = PR_WAIT_NONE;
		pr.active--;
		return;
	}
	pr_round_start(c);
}

static void pr_client_read(struct pr_client *c)
{
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len);
	const char *body;
	size_t len, used;

	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		pr_die("session %s: connection %s", c->sid, n ? strerror(errno) : "closed by the server");
	}
	c->in_len += (size_t)n;
	c->in[c->in_len] = 0;
	while (c->wait != PR_WAIT_NONE && (used = pr_response(c, &body, &len))) {
		if (c->wait == PR_WAIT_POST) {
			if (len != 2 || memcmp(body, "ok", 2) != 0)
				pr_die("session %s: POST answered %.*s", c->sid, (int)len, body);
			pr_consume(c, used);
			c->wait = PR_WAIT_GET;
			pr.gets++;
			pr_send(c, pr.opt.port_b, NULL, 0);
		} else {
			bool acked = pr_packets(c, body, len);

			pr_consume(c, used);
			if (acked) {
				pr_round_end(c, pr_clock_us());
			} else {
				pr.gets++;
				pr_send(c, pr.opt.port_b, NULL, 0);
			}
		}
		c->in[c->in_len] = 0;
	}
}

static void pr_run(void)
{
	struct epoll_event ev[PR_EPOLL_BATCH];

	pr.go_us = pr_clock_us();
	if (pr.opt.seconds > 0)
		pr.deadline_us = pr.go_us + (int64_t)(pr.opt.seconds * 1e6);
	pr.active = pr.opt.clients;
	for (unsigned i = 0; i < pr.opt.clients; i++)
		pr_round_start(&pr.clients[i]);
	while (pr.active) {
		int n = epoll_wait(pr.epfd, ev, PR_EPOLL_BATCH, 1000);

		if (n < 0 && errno != EINTR)
			pr_die("epoll_wait: %s", strerror(errno));
		if (n == 0)
			pr_die("no answer for 1 s (%u clients waiting)", pr.active);
		for (int i = 0; i < n; i++)
			pr_client_read(ev[i].data.ptr);
	}
}

static int pr_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void pr_report(double cpu0)
{
	double wall_s = (pr.last_us - pr.go_us) / 1e6, cpu_s = pr_cpu_s() - cpu0;
	size_t n = pr.n_rtt;

	qsort(pr.rtt_us, n, sizeof *pr.rtt_us, pr_cmp_u32);
#define PR_Q(q) (n ? pr.rtt_us[(size_t)((q) * (n - 1) + 0.5)] : 0)
	pr_print("{\"event\":\"done\",\"clients\":%u,\"round_trips\":%zu,\"wall_s\":%.4f,\"per_s\":%.1f,"
		 "\"min_us\":%u,\"p50_us\":%u,\"p99_us\":%u,\"max_us\":%u,\"mean_us\":%.1f,"
		 "\"gets_per_round_trip\":%.3f,\"posts\":%" PRIu64 ",\"gets\":%" PRIu64 ","
		 "\"cpu_s\":%.3f,\"saturated\":%s}",
		 pr.opt.clients, n, wall_s, wall_s > 0 ? n / wall_s : 0.0,
		 PR_Q(0), PR_Q(0.50), PR_Q(0.99), PR_Q(1), n ? (double)pr.rtt_sum_us / n : 0.0,
		 n ? (double)pr.gets / n : 0.0, pr.posts, pr.gets, cpu_s,
		 wall_s > 0 && cpu_s / wall_s > 0.90 ? "true" : "false");
#undef PR_Q
}

/* ---- options and main ----------------------------------------------- */

static void pr_usage(void)
{
	fprintf(stderr,
		"usage: pollrtt --port-a P [--port-b P] [--host 127.0.0.1] [--clients N]\n"
		"               (--count K | --seconds S) [--room NAME]\n"
		"Prints {\"event\":\"ready\"}, starts on a line `go` on stdin, prints\n"
		"{\"event\":\"done\",...} and exits.\n");
	exit(2);
}

static unsigned pr_opt_uint(const char *s, unsigned min, unsigned max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v < min || v > max)
		pr_die("bad number '%s' (must be %u..%u)", s, min, max);
	return (unsigned)v;
}

static void pr_parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port-a", required_argument, NULL, 'a' },
		{ "port-b", required_argument, NULL, 'b' },
		{ "clients", required_argument, NULL, 'n' },
		{ "count", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 's' },
		{ "room", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct pr_opts *o = &pr.opt;
	int ch;

	*o = (struct pr_opts){ .host = "127.0.0.1", .clients = 1, .room = "r" };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h': o->host = optarg; break;
		case 'a': o->port_a = pr_opt_uint(optarg, 1, 65535); break;
		case 'b': o->port_b = pr_opt_uint(optarg, 1, 65535); break;
		case 'n': o->clients = pr_opt_uint(optarg, 1, 100000); break;
		case 'k': o->count = pr_opt_uint(optarg, 1, 100000000); break;
		case 's': o->seconds = strtod(optarg, NULL); break;
		case 'r': o->room = optarg; break;
		default: pr_usage();
		}
	}
	if (optind != argc || !o->port_a || (!o->count == !(o->seconds > 0)))
		pr_usage();
	if (!o->port_b)
		o->port_b = o->port_a;
	/* the room goes into JSON unescaped */
	if (!*o->room || strlen(o->room) > PR_ROOM_MAX || strcspn(o->room, "\"\\") != strlen(o->room))
		pr_die("--room: 1..%d bytes, no quote or backslash", PR_ROOM_MAX);
}

static void pr_addr(struct sockaddr_in *sa, unsigned port)
{
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, pr.opt.host, &sa->sin_addr) != 1)
		pr_die("--host: a numeric IPv4 address");
}

int main(int argc, char **argv)
{
	char line[64];
	double cpu0;

	pr_parse_opts(argc, argv);
	pr_addr(&pr.addr_a, pr.opt.port_a);
	pr_addr(&pr.addr_b, pr.opt.port_b);
	pr.clients = calloc(pr.opt.clients, sizeof *pr.clients);
	pr.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!pr.clients || pr.epfd < 0)
		pr_die("set-up: %s", strerror(errno));
	for (unsigned i = 0; i < pr.opt.clients; i++) {
		struct pr_client *c = &pr.clients[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		pr_client_open(c);
		if (epoll_ctl(pr.epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			pr_die("epoll_ctl: %s", strerror(errno));
	}
	pr_print("{\"event\":\"ready\",\"clients\":%u}", pr.opt.clients);
	if (!fgets(line, sizeof line, stdin) || strncmp(line, "go", 2) != 0)
		pr_die("expected `go` on stdin");
	cpu0 = pr_cpu_s();
	pr_run();
	pr_report(cpu0);
	pr_close_all();
	return 0;
}
