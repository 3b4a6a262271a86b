/* loadgen.c - N Socket.IO clients against one server, for make bench.
 *
 * Owns every client connection of a benchmark run and the per-step receipt
 * statistics.  The orchestrator (bench.js) starts it, waits for the "ready"
 * line, then drives it with one command per line on stdin (emit, report,
 * stats, quit) and reads one JSON object per line on stdout.  Churn mode
 * instead opens and closes sessions for --seconds and prints one line.
 * Wire rules are in doc/protocol.md; this file only says where it leans
 * on one.
 *
 * It must never be the bottleneck, so: one level-triggered epoll loop holds
 * the sockets, stdin and a timerfd; every read takes up to 64 KiB into one
 * buffer shared by the loop and parses every frame in it; a client keeps a
 * malloc'd carry only while it holds a partial frame, packet or HTTP head,
 * and an output buffer only after a short write.  Events are counted by
 * scanning for "s": and "t": in the text, into per-step log-linear
 * histograms (bucket width under 1% of the value, no per-event storage).
 *
 * Polling sessions use one TCP connection each, with requests serialised: a
 * GET is pending until the server answers it; then the packets owed (pong,
 * CONNECT, join) are POSTed on that same connection and the next GET goes
 * out once the POST is answered.  That keeps one descriptor per session
 * (19,000 sessions fit under the 20,000 limit) and the connection is never
 * idle, so the server's keep-alive timeout never closes it.  The price:
 * polling clients receive events but never emit them.
 *
 * With --reconnect, a ready client whose connection ends (a drain, a
 * restart) starts a new session as the official client does: after
 * 1 s x 2^attempt (at most 5 s), randomized by +-50%, and joins its room
 * again.  `moves` reports how many were lost and are back, and the time
 * from loss to joined again; `received` the events each client counted,
 * for the broadcasts it missed while away.
 *
 * Limits: steps 0..1023 are counted (higher ones only in received_total);
 * a partial frame or polling packet kept between reads is at most 64 KiB
 * (a longer WebSocket frame is parsed from its first bytes and the rest
 * skipped); 4 MiB of unsent output per client before it counts as stuck.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
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
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#define LG_READ_BYTES (64 * 1024)       /* one read() */
#define LG_CARRY_MAX (64 * 1024)        /* partial frame/packet kept between reads */
#define LG_HEAD_MAX 8192                /* longest HTTP response head accepted */
#define LG_OUT_MAX (4 * 1024 * 1024)    /* unsent bytes before a client is stuck */
#define LG_FRAME_MAX 65535              /* largest --frame-bytes (16-bit length) */
#define LG_MAX_STEPS 1024
#define LG_HIST_SUB_BITS 7              /* 128 buckets per power of two: < 1% wide */
#define LG_HIST_SUB (1u << LG_HIST_SUB_BITS)
#define LG_HIST_TOP_EXP 32              /* from 2^32 us (71 min) on: last bucket */
#define LG_HIST_BUCKETS (LG_HIST_SUB + (LG_HIST_TOP_EXP - LG_HIST_SUB_BITS) * LG_HIST_SUB)
#define LG_SRC_ADDRS 20                 /* 127.0.0.1 .. 127.0.0.20 */
#define LG_CONNECT_TIMEOUT_US (60 * 1000000LL)
#define LG_ATTEMPT_TIMEOUT_US (10 * 1000000LL)
#define LG_TICK_IDLE_NS (100 * 1000000L)  /* timeouts only */
#define LG_TICK_EMIT_NS (1000000L)        /* emit pacing */
#define LG_LOG_PER_S 20
#define LG_EPOLL_BATCH 512
#define LG_STDIN_MAX 4096
#define LG_ROOM_MAX 100
#define LG_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* socket.io-client's reconnection: reconnectionDelay, reconnectionDelayMax,
 * randomizationFactor. */
#define LG_RETRY_BASE_MS 1000
#define LG_RETRY_MAX_MS 5000

enum lg_transport { LG_WEBSOCKET, LG_POLLING };
enum lg_churn { LG_CHURN_NONE, LG_CHURN_WEBSOCKET, LG_CHURN_UPGRADE };

/* What the client's connection expects next. */
enum lg_io {
	LG_IO_NONE,       /* no connection */
	LG_IO_CONNECTING, /* TCP connect in progress */
	LG_IO_HEAD,       /* HTTP response head (101 or polling 200) */
	LG_IO_BODY,       /* polling response body, body_left bytes */
	LG_IO_WS,         /* WebSocket frames */
};

/* How far the client got in its session. */
enum lg_phase {
	LG_PH_IDLE,    /* churn slot waiting for its next attempt, or not started */
	LG_PH_OPEN,    /* waiting for the Engine.IO open packet */
	LG_PH_SIO,     /* sent `40`, waiting for `40{"sid"...}` */
	LG_PH_JOIN,    /* sent the join, waiting for its ack */
	LG_PH_READY,   /* joined: counts events */
	LG_PH_UPGRADE, /* churn upgrade: connected over polling, WebSocket next */
	LG_PH_PROBE,   /* churn upgrade: sent `2probe`, waiting for `3probe` */
	LG_PH_DEAD,    /* failed or closed; never restarted in normal mode */
	LG_PH_RETRY,   /* --reconnect: lost, a new session starts at retry_us */
};

/* Packets a polling client owes the server, sent with its next POST. */
#define LG_POST_CONNECT 1u
#define LG_POST_JOIN 2u

struct lg_client {
	int fd;                /* -1 without a connection */
	uint32_t id;           /* index: room choice */
	uint8_t io;            /* enum lg_io */
	uint8_t phase;         /* enum lg_phase */
	uint8_t is_ws;         /* the current connection is a WebSocket */
	uint8_t is_post;       /* polling: the request in flight is a POST */
	uint8_t post_flags;    /* polling: LG_POST_* owed */
	uint8_t pongs;         /* polling: pongs owed */
	uint8_t sid_len;       /* polling/upgrade: Engine.IO sid known */
	uint32_t carry_len;    /* bytes in carry */
	char *carry;           /* unparsed tail of the last read, or NULL */
	char *out;             /* unsent output after a short write, or NULL */
	uint32_t out_len, out_cap;
	uint32_t body_left;    /* polling: response body bytes still to parse */
	uint32_t skip_len;     /* WebSocket: payload bytes of a long frame to skip */
	int64_t start_us;      /* session start: churn latency, timeouts */
	int64_t lost_us;       /* --reconnect: when the connection ended */
	int64_t retry_us;      /* --reconnect: when the next attempt starts */
	uint32_t received;     /* events counted, over every session */
	uint8_t attempts;      /* --reconnect: failed attempts since the loss */
	uint8_t was_ready;     /* joined once: a loss is retried (--reconnect) */
	char sid[24];          /* Engine.IO sid (20 characters) */
	char accept[29];       /* expected Sec-WebSocket-Accept */
};

/* Receipts of one step. */
struct lg_step {
	uint64_t count;
	uint64_t max_us;
	int64_t first_us, last_us; /* monotonic receipt times */
	uint32_t *hist;            /* LG_HIST_BUCKETS latencies, allocated on first use */
};

struct lg_opts {
	const char *host;
	unsigned port;
	unsigned clients;
	int transport;          /* enum lg_transport */
	unsigned rooms;
	const char *room_prefix;
	unsigned frame_bytes;
	unsigned concurrency;
	int churn;              /* enum lg_churn */
	double seconds;
	const char *connect;    /* the Socket.IO CONNECT packet (WebSocket only) */
	bool reconnect;         /* a lost client starts a new session */
};

static struct {
	struct lg_opts opt;
	struct sockaddr_in server;
	bool spread_src;        /* server on loopback: spread source addresses */
	unsigned src_next;
	int epfd, tfd;
	struct lg_client *clients;
	unsigned n_clients;     /* normal: --clients; churn: --connect-concurrency */
	unsigned next_start;    /* normal: next client to start */
	unsigned *free_slots;   /* churn: idle slots */
	unsigned n_free;
	unsigned in_flight, n_ready, n_failed, n_closed, n_connected;
	bool ready_printed;
	int64_t start_us, now_us;
	uint64_t t_seq;         /* polling cache buster */
	uint64_t rng;
	/* statistics */
	uint64_t received_total;
	bool step_warned;
	struct lg_step steps[LG_MAX_STEPS];
	int64_t mark_wall_us;   /* since the previous report (or ready) */
	double mark_cpu_s;
	/* emit command */
	bool emitting;
	unsigned emit_step;
	double emit_rate;
	int64_t emit_start_us, emit_end_us;
	uint64_t emit_total, emit_done, emit_sent;
	unsigned emit_rr;
	size_t emit_payload_len;
	/* --reconnect */
	unsigned n_retrying;
	uint64_t moves_lost, moves_back;
	uint64_t move_max_us;
	uint32_t move_hist[LG_HIST_BUCKETS];
	/* churn */
	int64_t churn_end_us;
	uint64_t churn_completed, churn_failed;
	uint32_t churn_hist[LG_HIST_BUCKETS];
	/* stdin */
	char in[LG_STDIN_MAX];
	size_t in_len;
	/* rate-limited stderr */
	int64_t log_sec;
	unsigned log_count, log_dropped;
	/* buffers */
	char buf[LG_CARRY_MAX + LG_READ_BYTES];
	char payload[LG_FRAME_MAX + 1];
	unsigned char frame[LG_FRAME_MAX + 16];
} lg;

/* Tags that tell the timer and stdin apart from clients in epoll data. */
static char lg_tag_timer, lg_tag_stdin;

/* ---- small utilities ------------------------------------------------ */

static int64_t lg_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double lg_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* xorshift64: WebSocket masks and keys need to vary, not to be secret. */
static uint32_t lg_rand32(void)
{
	lg.rng ^= lg.rng << 13;
	lg.rng ^= lg.rng >> 7;
	lg.rng ^= lg.rng << 17;
	return (uint32_t)(lg.rng >> 16);
}

/* Starts a new second of diagnostics, first saying how many lines the last
 * one suppressed.  <force>: say it now (exit). */
static void lg_log_flush(bool force)
{
	int64_t sec = lg_clock_us() / 1000000;

	if (sec == lg.log_sec && !force)
		return;
	if (lg.log_dropped)
		fprintf(stderr, "loadgen: (%u more messages suppressed)\n", lg.log_dropped);
	lg.log_sec = sec;
	lg.log_count = 0;
	lg.log_dropped = 0;
}

/* Diagnostics: at most LG_LOG_PER_S lines a second, the rest counted, so
 * 10,000 clients failing at once cannot flood the orchestrator's log. */
static void lg_log(const char *fmt, ...)
{
	va_list ap;

	lg_log_flush(false);
	if (lg.log_count++ >= LG_LOG_PER_S) {
		lg.log_dropped++;
		return;
	}
	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void lg_die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* One JSON line on stdout, flushed: the orchestrator reads line by line. */
static void lg_print(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Writes <v> in decimal at <p>; returns the number of digits. */
static size_t lg_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* ---- histograms ----------------------------------------------------- */

/* Log-linear: values below 128 exact, then 128 buckets per power of two. */
static unsigned lg_hist_index(uint64_t v)
{
	unsigned e, shift;

	if (v < LG_HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	if (e >= LG_HIST_TOP_EXP)
		return LG_HIST_BUCKETS - 1;
	shift = e - LG_HIST_SUB_BITS;
	return LG_HIST_SUB + shift * LG_HIST_SUB + (unsigned)((v >> shift) - LG_HIST_SUB);
}

/* The middle of bucket <i>: within 0.4% of any value that landed in it. */
static uint64_t lg_hist_value(unsigned i)
{
	unsigned shift, sub;

	if (i < LG_HIST_SUB)
		return i;
	shift = (i - LG_HIST_SUB) / LG_HIST_SUB;
	sub = (i - LG_HIST_SUB) % LG_HIST_SUB;
	return ((uint64_t)(LG_HIST_SUB + sub) << shift) + ((1ull << shift) >> 1);
}

/* The value at quantile <q> of <count> samples, 0 when empty. */
static uint64_t lg_hist_quantile(const uint32_t *hist, uint64_t count, double q)
{
	uint64_t rank, seen = 0;
	unsigned i;

	if (!hist || !count)
		return 0;
	rank = (uint64_t)(q * (double)count + 0.999999);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += hist[i];
		if (seen >= rank)
			return lg_hist_value(i);
	}
	return lg_hist_value(LG_HIST_BUCKETS - 1);
}

/* ---- event counting ------------------------------------------------- */

/* Reads the unsigned integer after <key> in <p>; the scan starts at *pos and
 * leaves *pos after the digits.  False when the key or digits are missing. */
static bool lg_scan_uint(const char *p, size_t len, size_t *pos, const char *key,
			 uint64_t *out)
{
	size_t klen = strlen(key);
	const char *k = memmem(p + *pos, len - *pos, key, klen);
	size_t i;
	uint64_t v = 0;

	if (!k)
		return false;
	i = (size_t)(k - p) + klen;
	if (i >= len || p[i] < '0' || p[i] > '9')
		return false;
	while (i < len && p[i] >= '0' && p[i] <= '9')
		v = v * 10 + (uint64_t)(p[i++] - '0');
	*out = v;
	*pos = i;
	return true;
}

static void lg_record(uint64_t step, uint64_t t_us)
{
	struct lg_step *s;
	uint64_t lat;

	if (step >= LG_MAX_STEPS) {
		if (!lg.step_warned)
			lg_log("step %" PRIu64 " >= %d: counted in received_total only", step, LG_MAX_STEPS);
		lg.step_warned = true;
		return;
	}
	s = &lg.steps[step];
	if (!s->hist && !(s->hist = calloc(LG_HIST_BUCKETS, sizeof *s->hist)))
		lg_die("out of memory for step %" PRIu64, step);
	lat = (int64_t)t_us < lg.now_us ? (uint64_t)(lg.now_us - (int64_t)t_us) : 0;
	if (!s->count)
		s->first_us = lg.now_us;
	s->count++;
	s->last_us = lg.now_us;
	if (lat > s->max_us)
		s->max_us = lat;
	s->hist[lg_hist_index(lat)]++;
}

/* <p> is an EVENT's text after the `2`: `["bench",{"s":S,"t":T,...}]`.
 * Events without a step and time are counted in received_total only. */
static void lg_count_event(struct lg_client *c, const char *p, size_t len)
{
	size_t pos = 0;
	uint64_t step, t_us;

	c->received++;
	lg.received_total++;
	if (lg_scan_uint(p, len, &pos, "\"s\":", &step) &&
	    lg_scan_uint(p, len, &pos, "\"t\":", &t_us))
		lg_record(step, t_us);
}

/* ---- connections ---------------------------------------------------- */

static int lg_epoll_mod(struct lg_client *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	return epoll_ctl(lg.epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Closes <c>'s connection with an RST (SO_LINGER 0, set at connect) so no
 * TIME_WAIT is left to exhaust ephemeral ports across runs. */
static void lg_close_fd(struct lg_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->io = LG_IO_NONE;
	free(c->carry);
	c->carry = NULL;
	c->carry_len = 0;
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_cap = 0;
	c->skip_len = 0;
	c->body_left = 0;
}

static void lg_attempt_end(struct lg_client *c, bool ok);
static void lg_check_ready(void);

/* <c> failed before it was ready (normal mode) or during a churn attempt.
 * Closes its connection; in churn mode the slot is reused later. */
/* --reconnect: <c> (connection closed) tries again after the official
 * client's backoff for its <attempts>. */
static void lg_retry_later(struct lg_client *c)
{
	unsigned shift = c->attempts < 3 ? c->attempts : 3;
	double ms = LG_RETRY_BASE_MS * (double)(1u << shift);

	if (ms > LG_RETRY_MAX_MS)
		ms = LG_RETRY_MAX_MS;
	ms *= 0.5 + (double)(lg_rand32() % 1001) / 1000.0;
	c->phase = LG_PH_RETRY;
	c->retry_us = lg_clock_us() + (int64_t)(ms * 1000);
	lg.n_retrying++;
}

static void lg_client_fail(struct lg_client *c, const char *why)
{
	lg_log("client %u failed: %s", c->id, why);
	lg_close_fd(c);
	if (lg.opt.churn != LG_CHURN_NONE) {
		lg_attempt_end(c, false);
		return;
	}
	if (c->was_ready) {
		lg.in_flight--;
		if (c->attempts < UINT8_MAX)
			c->attempts++;
		lg_retry_later(c);
		return;
	}
	c->phase = LG_PH_DEAD;
	lg.in_flight--;
	lg.n_failed++;
	lg_check_ready();
}

/* The connection of <c> ended on the server's side (or broke).  A ready
 * client counts as closed and stays down, as the contract asks. */
static void lg_client_lost(struct lg_client *c, const char *why)
{
	if (c->phase != LG_PH_READY) {
		lg_client_fail(c, why);
		return;
	}
	lg_log("client %u closed: %s", c->id, why);
	lg_close_fd(c);
	lg.n_closed++;
	lg.n_connected--;
	if (!lg.opt.reconnect) {
		c->phase = LG_PH_DEAD;
		return;
	}
	lg.moves_lost++;
	c->lost_us = lg_clock_us();
	c->attempts = 0;
	lg_retry_later(c);
}

/* Starts a non-blocking connect for <c>; the result comes as EPOLLOUT.
 * Returns -1 with errno set when no connection could be started. */
static int lg_connect(struct lg_client *c, bool is_ws)
{
	struct linger lin = { 1, 0 };
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	int one = 1, fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lin, sizeof lin) < 0)
		goto fail;
	if (lg.spread_src) {
		/* The port is picked at connect(), per destination, so each
		 * source address has the whole ephemeral range. */
		struct sockaddr_in src = { .sin_family = AF_INET };

		src.sin_addr.s_addr = htonl(0x7f000001u + lg.src_next++ % LG_SRC_ADDRS);
		if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0 ||
		    bind(fd, (struct sockaddr *)&src, sizeof src) < 0)
			goto fail;
	}
	if (connect(fd, (struct sockaddr *)&lg.server, sizeof lg.server) < 0 && errno != EINPROGRESS)
		goto fail;
	if (epoll_ctl(lg.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto fail;
	c->fd = fd;
	c->is_ws = is_ws;
	c->io = LG_IO_CONNECTING;
	return 0;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

/* Queues what send() did not take and asks for EPOLLOUT.
 * Returns 0, or -1 when <c>'s connection is gone. */
static int lg_out_append(struct lg_client *c, const char *data, size_t len)
{
	size_t need = (size_t)c->out_len + len;

	if (need > LG_OUT_MAX) {
		lg_client_lost(c, "server not reading (output over 4 MiB)");
		return -1;
	}
	if (need > c->out_cap) {
		size_t cap = c->out_cap ? (size_t)c->out_cap * 2 : 4096;
		char *p;

		while (cap < need)
			cap *= 2;
		if (!(p = realloc(c->out, cap))) {
			lg_client_lost(c, "out of memory for output");
			return -1;
		}
		c->out = p;
		c->out_cap = (uint32_t)cap;
	}
	if (!c->out_len && lg_epoll_mod(c, EPOLLIN | EPOLLOUT) < 0) {
		lg_client_lost(c, "epoll_ctl failed");
		return -1;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len = (uint32_t)need;
	return 0;
}

/* Sends <len> bytes on <c>'s connection, behind any output still queued.
 * Returns 0, or -1 when the connection is gone. */
static int lg_write(struct lg_client *c, const void *data, size_t len)
{
	ssize_t n = 0;

	if (!c->out_len) {
		n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			lg_client_lost(c, strerror(errno));
			return -1;
		}
		if (n < 0)
			n = 0;
		if ((size_t)n == len)
			return 0;
	}
	return lg_out_append(c, (const char *)data + n, len - (size_t)n);
}

/* EPOLLOUT: writes queued output.  Returns 0, or -1 when the connection is
 * gone. */
static int lg_flush(struct lg_client *c)
{
	ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		lg_client_lost(c, strerror(errno));
		return -1;
	}
	c->out_len -= (uint32_t)n;
	memmove(c->out, c->out + n, c->out_len);
	if (c->out_len)
		return 0;
	free(c->out);
	c->out = NULL;
	c->out_cap = 0;
	if (lg_epoll_mod(c, EPOLLIN) < 0) {
		lg_client_lost(c, "epoll_ctl failed");
		return -1;
	}
	return 0;
}

/* ---- WebSocket ------------------------------------------------------ */

/* Sends one masked frame (RFC 6455 5.3: every client frame is masked, with
 * a fresh key).  <len> is at most LG_FRAME_MAX.  Returns as lg_write. */
static int lg_ws_send(struct lg_client *c, unsigned opcode, const char *data, size_t len)
{
	unsigned char *f = lg.frame, *m;
	size_t hl, i;
	uint32_t mask = lg_rand32();

	f[0] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		f[1] = (unsigned char)(0x80 | len);
		hl = 2;
	} else {
		f[1] = 0x80 | 126;
		f[2] = (unsigned char)(len >> 8);
		f[3] = (unsigned char)len;
		hl = 4;
	}
	m = f + hl;
	memcpy(m, &mask, 4);
	hl += 4;
	for (i = 0; i < len; i++)
		f[hl + i] = (unsigned char)data[i] ^ m[i & 3];
	return lg_write(c, f, hl + len);
}

static int lg_ws_text(struct lg_client *c, const char *text)
{
	return lg_ws_send(c, 0x1, text, strlen(text));
}

/* base64(SHA-1(key GUID)), RFC 6455 4.2.2; <out> holds 29 bytes. */
static void lg_ws_accept(const char *key, char *out)
{
	char in[64];
	unsigned char digest[SHA_DIGEST_LENGTH];
	int n = snprintf(in, sizeof in, "%s%s", key, LG_WS_GUID);

	SHA1((const unsigned char *)in, (size_t)n, digest);
	EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
}

/* Sends the upgrade request: a new session, or the upgrade of the polling
 * session whose sid <c> holds (doc/protocol.md, "Upgrade"). */
static int lg_ws_request(struct lg_client *c)
{
	unsigned char raw[16];
	char key[32], req[512];
	uint32_t r;
	int i, n;

	for (i = 0; i < 16; i += 4) {
		r = lg_rand32();
		memcpy(raw + i, &r, 4);
	}
	EVP_EncodeBlock((unsigned char *)key, raw, 16);
	lg_ws_accept(key, c->accept);
	n = snprintf(req, sizeof req,
		     "GET /socket.io/?EIO=4&transport=websocket%s%.*s HTTP/1.1\r\n"
		     "Host: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		     c->sid_len ? "&sid=" : "", (int)c->sid_len, c->sid,
		     lg.opt.host, lg.opt.port, key);
	c->io = LG_IO_HEAD;
	return lg_write(c, req, (size_t)n);
}

/* ---- Engine.IO / Socket.IO ------------------------------------------ */

/* The room client <id> joins: the prefix alone for one room, else
 * prefix<id % rooms>. */
static void lg_room(unsigned id, char *out, size_t size)
{
	if (lg.opt.rooms == 1)
		snprintf(out, size, "%s", lg.opt.room_prefix);
	else
		snprintf(out, size, "%s%u", lg.opt.room_prefix, id % lg.opt.rooms);
}

/* Writes the join event with ack id 1 into <out>; returns its length. */
static size_t lg_join_packet(const struct lg_client *c, char *out, size_t size)
{
	char room[LG_ROOM_MAX + 16];

	lg_room(c->id, room, sizeof room);
	return (size_t)snprintf(out, size, "421[\"join\",\"%s\"]", room);
}

/* Open packet: keep the sid (polling needs it in every URL), then CONNECT
 * (to "/", or --connect's packet: a namespace, an auth object with a
 * token).  Any `40...` back is the namespace's answer, any `44...` a
 * refusal.  Returns 0, or -1 when the connection is gone. */
static int lg_eio_open(struct lg_client *c, const char *p, size_t len)
{
	const char *sid = memmem(p, len, "\"sid\":\"", 7);

	if (c->phase != LG_PH_OPEN)
		return 0;
	if (!c->is_ws) {
		const char *end = sid ? memchr(sid + 7, '"', len - (size_t)(sid + 7 - p)) : NULL;

		if (!end || end - (sid + 7) >= (long)sizeof c->sid) {
			lg_client_fail(c, "open packet without a usable sid");
			return -1;
		}
		c->sid_len = (uint8_t)(end - (sid + 7));
		memcpy(c->sid, sid + 7, c->sid_len);
	}
	c->phase = LG_PH_SIO;
	if (!c->is_ws) {
		c->post_flags |= LG_POST_CONNECT;
		return 0;
	}
	return lg_ws_text(c, lg.opt.connect);
}

static int lg_eio_ping(struct lg_client *c, size_t len)
{
	if (len != 1)
		return 0;
	if (c->is_ws)
		return lg_ws_text(c, "3");
	if (c->pongs < 4)
		c->pongs++;
	return 0;
}

/* `3probe` on the upgrade WebSocket: finish with `5` (doc/protocol.md,
 * "Upgrade");
 * that ends a churn attempt. */
static int lg_eio_pong(struct lg_client *c, const char *p, size_t len)
{
	if (c->phase != LG_PH_PROBE || len != 5 || memcmp(p, "probe", 5) != 0)
		return 0;
	if (lg_ws_text(c, "5") < 0)
		return -1;
	lg_attempt_end(c, true);
	return -1;
}

static int lg_sio_connected(struct lg_client *c)
{
	char join[LG_ROOM_MAX + 32];

	if (c->phase != LG_PH_SIO)
		return 0;
	if (lg.opt.churn == LG_CHURN_WEBSOCKET) {
		lg_attempt_end(c, true);
		return -1;
	}
	if (lg.opt.churn == LG_CHURN_UPGRADE) {
		c->phase = LG_PH_UPGRADE; /* once this GET's response ends */
		return 0;
	}
	c->phase = LG_PH_JOIN;
	if (!c->is_ws) {
		c->post_flags |= LG_POST_JOIN;
		return 0;
	}
	lg_join_packet(c, join, sizeof join);
	return lg_ws_text(c, join);
}

static void lg_client_joined(struct lg_client *c)
{
	c->phase = LG_PH_READY;
	lg.in_flight--;
	lg.n_connected++;
	if (c->was_ready) {
		uint64_t away = (uint64_t)(lg_clock_us() - c->lost_us);

		lg.moves_back++;
		lg.move_hist[lg_hist_index(away)]++;
		if (away > lg.move_max_us)
			lg.move_max_us = away;
		return;
	}
	c->was_ready = 1;
	lg.n_ready++;
	lg_check_ready();
}

/* ACK: only the join's (id 1) matters; anything but ["ok"] is a refusal. */
static int lg_sio_ack(struct lg_client *c, const char *p, size_t len)
{
	if (c->phase != LG_PH_JOIN || len < 2 || p[0] != '1' || p[1] != '[')
		return 0;
	if (len != 7 || memcmp(p + 1, "[\"ok\"]", 6) != 0) {
		lg_client_fail(c, "join refused");
		return -1;
	}
	lg_client_joined(c);
	return 0;
}

/* A Socket.IO packet (the Engine.IO `4` stripped), doc/protocol.md,
 * "Socket.IO text form". */
static int lg_sio_packet(struct lg_client *c, const char *p, size_t len)
{
	if (!len)
		return 0;
	switch (p[0]) {
	case '0':
		return lg_sio_connected(c);
	case '1':
		lg_client_lost(c, "server disconnected the namespace");
		return -1;
	case '2':
		lg_count_event(c, p + 1, len - 1);
		return 0;
	case '3':
		return lg_sio_ack(c, p + 1, len - 1);
	case '4':
		lg_client_lost(c, "connect error");
		return -1;
	default:
		return 0;
	}
}

/* One Engine.IO packet, from a text frame or a polling payload.
 * Returns 0, or -1 when the connection is gone (closed or replaced). */
static int lg_eio_packet(struct lg_client *c, const char *p, size_t len)
{
	if (!len)
		return 0;
	switch (p[0]) {
	case '0':
		return lg_eio_open(c, p + 1, len - 1);
	case '1':
		lg_client_lost(c, "engine close packet");
		return -1;
	case '2':
		return lg_eio_ping(c, len);
	case '3':
		return lg_eio_pong(c, p + 1, len - 1);
	case '4':
		return lg_sio_packet(c, p + 1, len - 1);
	default:
		return 0; /* noop, binary: nothing to count */
	}
}

/* ---- polling -------------------------------------------------------- */

static int lg_poll_get(struct lg_client *c)
{
	char req[256];
	int n = snprintf(req, sizeof req,
			 "GET /socket.io/?EIO=4&transport=polling&t=%" PRIx64 "%s%.*s HTTP/1.1\r\n"
			 "Host: %s:%u\r\n\r\n",
			 ++lg.t_seq, c->sid_len ? "&sid=" : "", (int)c->sid_len, c->sid,
			 lg.opt.host, lg.opt.port);

	c->io = LG_IO_HEAD;
	c->is_post = 0;
	return lg_write(c, req, (size_t)n);
}

/* POSTs every packet owed, joined by \x1e (doc/protocol.md, "Polling"). */
static int lg_poll_post(struct lg_client *c)
{
	char body[LG_ROOM_MAX + 64], req[LG_ROOM_MAX + 512];
	size_t len = 0;
	int n;

	while (c->pongs) {
		memcpy(body + len, "3\x1e", 2);
		len += 2;
		c->pongs--;
	}
	if (c->post_flags & LG_POST_CONNECT) {
		memcpy(body + len, "40\x1e", 3);
		len += 3;
	}
	if (c->post_flags & LG_POST_JOIN) {
		len += lg_join_packet(c, body + len, sizeof body - len - 1);
		body[len++] = '\x1e';
	}
	c->post_flags = 0;
	len--; /* no trailing separator: it would be a parse error */
	n = snprintf(req, sizeof req,
		     "POST /socket.io/?EIO=4&transport=polling&t=%" PRIx64 "&sid=%.*s HTTP/1.1\r\n"
		     "Host: %s:%u\r\nContent-Type: text/plain;charset=UTF-8\r\n"
		     "Content-Length: %zu\r\n\r\n%.*s",
		     ++lg.t_seq, (int)c->sid_len, c->sid, lg.opt.host, lg.opt.port,
		     len, (int)len, body);
	c->io = LG_IO_HEAD;
	c->is_post = 1;
	return lg_write(c, req, (size_t)n);
}

/* Churn upgrade: the polling part is done; open the WebSocket with the sid.
 * No GET is pending, so closing the polling connection leaves the session
 * up (doc/protocol.md, "Polling").  Always returns -1: the old connection is gone. */
static int lg_upgrade_start(struct lg_client *c)
{
	lg_close_fd(c);
	if (lg_connect(c, true) < 0)
		lg_client_fail(c, strerror(errno));
	return -1;
}

/* The response in flight ended: send the next request on the same
 * connection (POST what is owed, else the next long-poll GET). */
static int lg_poll_done(struct lg_client *c)
{
	c->io = LG_IO_HEAD;
	if (c->phase == LG_PH_UPGRADE)
		return lg_upgrade_start(c);
	if (c->post_flags || c->pongs)
		return lg_poll_post(c);
	return lg_poll_get(c);
}

/* Parses a polling response body: packets up to each \x1e, and the last one
 * when the body is complete; a partial packet stays for the next read.
 * A POST's body ("ok") is skipped.  Returns bytes used, or -1 when the
 * connection is gone. */
static ssize_t lg_parse_body(struct lg_client *c, const char *p, size_t len)
{
	size_t avail = len < c->body_left ? len : c->body_left, off = 0;

	while (off < avail && !c->is_post) {
		const char *sep = memchr(p + off, 0x1e, avail - off);
		size_t end = sep ? (size_t)(sep - p) : avail;

		if (!sep && avail < c->body_left)
			break;
		if (lg_eio_packet(c, p + off, end - off) < 0)
			return -1;
		off = sep ? end + 1 : end;
	}
	if (c->is_post)
		off = avail;
	if (len - off > LG_CARRY_MAX) {
		lg_client_fail(c, "polling packet over 64 KiB");
		return -1;
	}
	c->body_left -= (uint32_t)off;
	if (!c->body_left && lg_poll_done(c) < 0)
		return -1;
	return (ssize_t)off;
}

/* ---- HTTP responses ------------------------------------------------- */

/* Finds header <name> (lower case) in <head>; sets the trimmed value. */
static bool lg_http_header(const char *head, size_t len, const char *name,
			   const char **val, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *p = memchr(head, '\n', len), *end = head + len;

	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *v = p + nlen + 1;

		if (!eol)
			return false;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*val = v;
			*vlen = (size_t)(eol - v);
			while (*vlen && (v[*vlen - 1] == '\r' || v[*vlen - 1] == ' '))
				(*vlen)--;
			return true;
		}
		p = eol;
	}
	return false;
}

/* 101 with the right Sec-WebSocket-Accept; then frames.  On an upgrade,
 * the probe goes out at once.  Returns 0 or -1 (connection gone). */
static int lg_head_ws(struct lg_client *c, const char *head, size_t len, int status)
{
	const char *v;
	size_t vlen;

	if (status != 101) {
		lg_client_fail(c, status ? "upgrade refused" : "bad HTTP response");
		return -1;
	}
	if (!lg_http_header(head, len, "sec-websocket-accept", &v, &vlen) ||
	    vlen != 28 || memcmp(v, c->accept, 28) != 0) {
		lg_client_fail(c, "bad Sec-WebSocket-Accept");
		return -1;
	}
	c->io = LG_IO_WS;
	if (c->phase != LG_PH_UPGRADE)
		return 0;
	c->phase = LG_PH_PROBE;
	return lg_ws_text(c, "2probe");
}

/* 200 with a Content-Length (no Accept-Encoding is sent, so never chunked
 * gzip); then the body.  Returns 0 or -1 (connection gone). */
static int lg_head_poll(struct lg_client *c, const char *head, size_t len, int status)
{
	const char *v;
	size_t vlen;
	char num[16];

	if (status != 200) {
		lg_client_fail(c, status ? "polling request refused" : "bad HTTP response");
		return -1;
	}
	if (!lg_http_header(head, len, "content-length", &v, &vlen) || !vlen || vlen >= sizeof num) {
		lg_client_fail(c, "polling response without Content-Length");
		return -1;
	}
	memcpy(num, v, vlen);
	num[vlen] = 0;
	c->body_left = (uint32_t)strtoul(num, NULL, 10);
	c->io = LG_IO_BODY;
	return c->body_left ? 0 : lg_poll_done(c);
}

/* Parses one response head once it is complete.  Returns bytes used, 0 to
 * wait for more, or -1 when the connection is gone. */
static ssize_t lg_parse_head(struct lg_client *c, const char *p, size_t len)
{
	const char *end = memmem(p, len, "\r\n\r\n", 4);
	size_t head_len;
	int status = 0, r;

	if (!end) {
		if (len <= LG_HEAD_MAX)
			return 0;
		lg_client_fail(c, "HTTP response head too long");
		return -1;
	}
	head_len = (size_t)(end + 4 - p);
	if (head_len > 12 && memcmp(p, "HTTP/1.", 7) == 0 && p[8] == ' ')
		status = atoi(p + 9);
	r = c->is_ws ? lg_head_ws(c, p, head_len, status) : lg_head_poll(c, p, head_len, status);
	return r < 0 ? -1 : (ssize_t)head_len;
}

/* ---- WebSocket frames ----------------------------------------------- */

static int lg_ws_frame(struct lg_client *c, unsigned opcode, const char *p, size_t len)
{
	switch (opcode) {
	case 0x1:
		return lg_eio_packet(c, p, len);
	case 0x8:
		lg_client_lost(c, "close frame");
		return -1;
	case 0x9:
		return lg_ws_send(c, 0xA, p, len);
	default:
		/* binary, pong; a continuation only follows a message whose
		 * first fragment already held "s" and "t" */
		return 0;
	}
}

/* Parses every complete frame; a partial one stays for the next read, and
 * one longer than LG_CARRY_MAX is handled from its first bytes, the rest
 * skipped.  Returns bytes used, or -1 when the connection is gone. */
static ssize_t lg_parse_ws(struct lg_client *c, const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t off = 0;

	while (off < len) {
		size_t hl = 2, have = len - off, i;
		uint64_t plen;

		if (c->skip_len) {
			size_t k = have < c->skip_len ? have : c->skip_len;

			c->skip_len -= (uint32_t)k;
			off += k;
			continue;
		}
		if (have < 2)
			break;
		if (u[off + 1] & 0x80) {
			lg_client_lost(c, "masked frame from the server");
			return -1;
		}
		plen = u[off + 1] & 0x7f;
		if (plen >= 126) {
			hl = plen == 126 ? 4 : 10;
			if (have < hl)
				break;
			for (plen = 0, i = 2; i < hl; i++)
				plen = plen << 8 | u[off + i];
		}
		if (plen > UINT32_MAX) {
			lg_client_lost(c, "frame over 4 GiB");
			return -1;
		}
		if (have < hl + plen) {
			if (hl + plen <= LG_CARRY_MAX)
				break;
			c->skip_len = (uint32_t)(plen - (have - hl));
			plen = have - hl;
		}
		if (lg_ws_frame(c, u[off] & 0x0f, p + off + hl, (size_t)plen) < 0)
			return -1;
		off += hl + (size_t)plen;
	}
	return (ssize_t)off;
}

/* ---- reading -------------------------------------------------------- */

/* Parses <len> bytes by the connection's current state, which may change
 * mid-buffer (101 then frames, head then body).  Returns bytes used, or -1
 * when the connection is gone. */
static ssize_t lg_parse(struct lg_client *c, const char *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n;

		switch (c->io) {
		case LG_IO_HEAD:
			n = lg_parse_head(c, p + off, len - off);
			break;
		case LG_IO_BODY:
			n = lg_parse_body(c, p + off, len - off);
			break;
		case LG_IO_WS:
			n = lg_parse_ws(c, p + off, len - off);
			break;
		default:
			n = -1;
			break;
		}
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		off += (size_t)n;
	}
	return (ssize_t)off;
}

/* Keeps the unparsed tail of a read; only clients split mid-frame pay. */
static void lg_carry_keep(struct lg_client *c, const char *p, size_t len)
{
	if (len > LG_CARRY_MAX) {
		lg_client_lost(c, "partial frame over 64 KiB");
		return;
	}
	if (!(c->carry = malloc(len))) {
		lg_client_lost(c, "out of memory for a partial frame");
		return;
	}
	memcpy(c->carry, p, len);
	c->carry_len = (uint32_t)len;
}

/* One read of up to 64 KiB behind the carried tail, then every frame in
 * it.  The carry is copied in front only once the read returned data. */
static void lg_client_read(struct lg_client *c)
{
	size_t have = c->carry_len, len;
	ssize_t n = read(c->fd, lg.buf + have, LG_READ_BYTES), used;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		lg_client_lost(c, n ? strerror(errno) : "connection closed by the server");
		return;
	}
	if (have) {
		memcpy(lg.buf, c->carry, have);
		free(c->carry);
		c->carry = NULL;
		c->carry_len = 0;
	}
	lg.now_us = lg_clock_us();
	len = have + (size_t)n;
	used = lg_parse(c, lg.buf, len);
	if (used >= 0 && (size_t)used < len)
		lg_carry_keep(c, lg.buf + used, len - (size_t)used);
}

/* The connect finished (or failed): send the first request. */
static void lg_client_connected(struct lg_client *c)
{
	int err = 0;
	socklen_t elen = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		lg_client_fail(c, strerror(err));
		return;
	}
	if (lg_epoll_mod(c, EPOLLIN) < 0) {
		lg_client_fail(c, "epoll_ctl failed");
		return;
	}
	c->io = LG_IO_HEAD;
	if (c->is_ws)
		lg_ws_request(c);
	else
		lg_poll_get(c);
}

static void lg_client_event(struct lg_client *c, uint32_t events)
{
	if (c->fd < 0)
		return;
	if (c->io == LG_IO_CONNECTING) {
		lg_client_connected(c);
		return;
	}
	if ((events & EPOLLOUT) && c->out_len && lg_flush(c) < 0)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		lg_client_read(c);
}

/* ---- starting sessions ---------------------------------------------- */

/* Starts a new session on <c>: WebSocket or polling handshake. */
static void lg_client_start(struct lg_client *c)
{
	bool is_ws = lg.opt.churn == LG_CHURN_WEBSOCKET ||
		     (lg.opt.churn == LG_CHURN_NONE && lg.opt.transport == LG_WEBSOCKET);

	c->phase = LG_PH_OPEN;
	c->post_flags = 0;
	c->pongs = 0;
	c->sid_len = 0;
	c->start_us = lg_clock_us();
	lg.in_flight++;
	if (lg_connect(c, is_ws) < 0)
		lg_client_fail(c, strerror(errno));
}

/* --reconnect: starts the lost clients whose backoff has passed, within
 * --connect-concurrency. */
static void lg_retry_due(void)
{
	int64_t now;

	if (!lg.n_retrying)
		return;
	now = lg_clock_us();
	for (unsigned i = 0; i < lg.n_clients && lg.in_flight < lg.opt.concurrency; i++) {
		struct lg_client *c = &lg.clients[i];

		if (c->phase == LG_PH_RETRY && c->retry_us <= now) {
			lg.n_retrying--;
			lg_client_start(c);
		}
	}
}

/* Tops handshakes in flight up to --connect-concurrency.  Runs after each
 * epoll batch, never inside one, so a slot's new descriptor cannot receive
 * an event queued for its old one. */
static void lg_start_more(void)
{
	unsigned budget = lg.opt.concurrency;

	if (lg.opt.churn == LG_CHURN_NONE) {
		while (lg.in_flight < lg.opt.concurrency && lg.next_start < lg.n_clients && budget--)
			lg_client_start(&lg.clients[lg.next_start++]);
		lg_retry_due();
		return;
	}
	while (lg.in_flight < lg.opt.concurrency && lg.n_free && budget-- &&
	       lg_clock_us() < lg.churn_end_us)
		lg_client_start(&lg.clients[lg.free_slots[--lg.n_free]]);
}

/* ---- normal mode: ready, commands ----------------------------------- */

static void lg_mark(void)
{
	lg.mark_wall_us = lg_clock_us();
	lg.mark_cpu_s = lg_cpu_s();
}

static void lg_stdin_start(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lg_tag_stdin };
	int fl = fcntl(0, F_GETFL);

	if (fl < 0 || fcntl(0, F_SETFL, fl | O_NONBLOCK) < 0)
		lg_die("stdin: %s", strerror(errno));
	if (epoll_ctl(lg.epfd, EPOLL_CTL_ADD, 0, &ev) < 0)
		lg_die("stdin must be a pipe or terminal: %s", strerror(errno));
}

/* Prints ready once every client is joined or failed; commands are read
 * from then on. */
static void lg_check_ready(void)
{
	if (lg.ready_printed || lg.opt.churn != LG_CHURN_NONE ||
	    lg.n_ready + lg.n_failed < lg.n_clients)
		return;
	lg.ready_printed = true;
	lg_print("{\"event\":\"ready\",\"clients\":%u,\"failed\":%u,\"seconds\":%.3f}",
		 lg.n_clients, lg.n_failed, (lg_clock_us() - lg.start_us) / 1e6);
	lg_mark();
	lg_stdin_start();
}

/* After LG_CONNECT_TIMEOUT_US the stragglers count as failed, so a slow or
 * stuck server still gets a ready line and a result. */
static void lg_connect_timeout(void)
{
	unsigned i;

	for (i = lg.next_start; i < lg.n_clients; i++) {
		lg.clients[i].phase = LG_PH_DEAD;
		lg.n_failed++;
	}
	lg.next_start = lg.n_clients;
	for (i = 0; i < lg.n_clients && !lg.ready_printed; i++) {
		struct lg_client *c = &lg.clients[i];

		if (c->phase != LG_PH_READY && c->phase != LG_PH_DEAD)
			lg_client_fail(c, "connect timeout");
	}
	lg_check_ready();
}

static void lg_set_tick(bool fast)
{
	long ns = fast ? LG_TICK_EMIT_NS : LG_TICK_IDLE_NS;
	struct itimerspec its = { { 0, ns }, { 0, ns } };

	if (timerfd_settime(lg.tfd, 0, &its, NULL) < 0)
		lg_die("timerfd_settime: %s", strerror(errno));
}

/* Payload length that makes the frame a client receives --frame-bytes long
 * (2-byte header below 126 payload bytes, 4 up to 65535). */
static size_t lg_payload_for_frame(size_t frame_bytes)
{
	return frame_bytes <= 127 ? frame_bytes - 2 : frame_bytes - 4;
}

/* `42["relay",{"s":S,"t":T,"p":"..."}]`, p padded to emit_payload_len. */
static size_t lg_emit_payload(char *out, unsigned step, int64_t t_us)
{
	static const char tail[] = "\"}]";
	size_t n = 0, pad;

	memcpy(out, "42[\"relay\",{\"s\":", 16);
	n = 16;
	n += lg_put_u64(out + n, step);
	memcpy(out + n, ",\"t\":", 5);
	n += 5;
	n += lg_put_u64(out + n, (uint64_t)t_us);
	memcpy(out + n, ",\"p\":\"", 6);
	n += 6;
	pad = lg.emit_payload_len > n + 3 ? lg.emit_payload_len - n - 3 : 0;
	memset(out + n, 'x', pad);
	memcpy(out + n + pad, tail, 3);
	return n + pad + 3;
}

/* The next ready WebSocket client after the last one that emitted; NULL if
 * none (polling clients never emit, see the top of the file). */
static struct lg_client *lg_next_emitter(void)
{
	unsigned i;

	if (lg.opt.transport != LG_WEBSOCKET || !lg.n_connected)
		return NULL;
	for (i = 0; i < lg.n_clients; i++) {
		struct lg_client *c = &lg.clients[lg.emit_rr++ % lg.n_clients];

		if (c->phase == LG_PH_READY && c->fd >= 0)
			return c;
	}
	return NULL;
}

static void lg_emit_finish(void)
{
	lg.emitting = false;
	lg_set_tick(false);
	lg_print("{\"event\":\"emitted\",\"step\":%u,\"sent\":%" PRIu64 "}", lg.emit_step, lg.emit_sent);
}

/* Absolute schedule: by now, rate x elapsed events are due; send what is
 * missing, so a late tick catches up instead of drifting. */
static void lg_emit_tick(void)
{
	int64_t now = lg_clock_us();
	int64_t upto = now < lg.emit_end_us ? now : lg.emit_end_us;
	uint64_t due = (uint64_t)(lg.emit_rate * (double)(upto - lg.emit_start_us) / 1e6);

	if (due > lg.emit_total || now >= lg.emit_end_us)
		due = lg.emit_total;
	while (lg.emit_done < due) {
		struct lg_client *c = lg_next_emitter();
		size_t len;

		if (!c) {
			lg.emit_done = due;
			break;
		}
		len = lg_emit_payload(lg.payload, lg.emit_step, lg_clock_us());
		lg.emit_done++;
		if (lg_ws_send(c, 0x1, lg.payload, len) == 0)
			lg.emit_sent++;
	}
	if (now >= lg.emit_end_us)
		lg_emit_finish();
}

static void lg_emit_start(unsigned step, double rate, double seconds)
{
	if (lg.emitting) {
		lg_log("emit ignored: step %u is still being emitted", lg.emit_step);
		return;
	}
	if (rate < 0 || seconds < 0) {
		lg_log("emit ignored: negative rate or duration");
		return;
	}
	if (lg.opt.transport == LG_POLLING)
		lg_log("emit: polling clients send nothing (see the top of loadgen.c)");
	lg.emitting = true;
	lg.emit_step = step;
	lg.emit_rate = rate;
	lg.emit_start_us = lg_clock_us();
	lg.emit_end_us = lg.emit_start_us + (int64_t)(seconds * 1e6);
	lg.emit_total = (uint64_t)(rate * seconds + 0.5);
	lg.emit_done = lg.emit_sent = 0;
	lg_set_tick(true);
	lg_emit_tick();
}

static void lg_report(unsigned step)
{
	static const struct lg_step none;
	const struct lg_step *s = step < LG_MAX_STEPS ? &lg.steps[step] : &none;
	int64_t now = lg_clock_us();
	double cpu = lg_cpu_s(), cpu_s = cpu - lg.mark_cpu_s;
	double wall_s = (now - lg.mark_wall_us) / 1e6;
	uint64_t p50 = lg_hist_quantile(s->hist, s->count, 0.50);
	uint64_t p99 = lg_hist_quantile(s->hist, s->count, 0.99);

	lg.mark_cpu_s = cpu;
	lg.mark_wall_us = now;
	lg_print("{\"event\":\"report\",\"step\":%u,\"received\":%" PRIu64 ",\"p50_us\":%" PRIu64
		 ",\"p99_us\":%" PRIu64 ",\"max_us\":%" PRIu64 ",\"first_us\":%" PRId64
		 ",\"last_us\":%" PRId64 ",\"cpu_s\":%.3f,\"wall_s\":%.3f,\"saturated\":%s}",
		 step, s->count, p50 < s->max_us ? p50 : s->max_us, p99 < s->max_us ? p99 : s->max_us,
		 s->max_us, s->first_us, s->last_us, cpu_s, wall_s,
		 wall_s > 0 && cpu_s / wall_s > 0.90 ? "true" : "false");
}

/* --reconnect: clients lost and back, and how long they were away. */
static void lg_moves(void)
{
	uint64_t p50 = lg_hist_quantile(lg.move_hist, lg.moves_back, 0.50);
	uint64_t p99 = lg_hist_quantile(lg.move_hist, lg.moves_back, 0.99);

	lg_print("{\"event\":\"moves\",\"connected\":%u,\"lost\":%" PRIu64 ",\"back\":%" PRIu64
		 ",\"retrying\":%u,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f}",
		 lg.n_connected, lg.moves_lost, lg.moves_back, lg.n_retrying, p50 / 1e3,
		 (p99 < lg.move_max_us ? p99 : lg.move_max_us) / 1e3, lg.move_max_us / 1e3);
}

static int lg_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Prints `"name":{"clients":N,"min":..,"p50":..,"max":..}` of the events
 * counted by the clients that were ever ready and were (<moved>) or were
 * not lost since. */
static void lg_received_of(const char *name, bool moved, uint32_t *v, const char *sep)
{
	unsigned n = 0;

	for (unsigned i = 0; i < lg.n_clients; i++) {
		const struct lg_client *c = &lg.clients[i];

		if (c->was_ready && (c->lost_us != 0) == moved)
			v[n++] = c->received;
	}
	qsort(v, n, sizeof *v, lg_cmp_u32);
	printf("\"%s\":{\"clients\":%u,\"min\":%u,\"p50\":%u,\"max\":%u}%s", name, n,
	       n ? v[0] : 0, n ? v[n / 2] : 0, n ? v[n - 1] : 0, sep);
}

/* Events counted per client, for those that moved and those that stayed. */
static void lg_received(void)
{
	uint32_t *v = malloc(lg.n_clients * sizeof *v);

	if (!v)
		lg_die("out of memory");
	printf("{\"event\":\"received\",");
	lg_received_of("moved", true, v, ",");
	lg_received_of("stayed", false, v, "}\n");
	fflush(stdout);
	free(v);
}

static void lg_close_all(void)
{
	unsigned i;

	for (i = 0; i < lg.n_clients; i++)
		lg_close_fd(&lg.clients[i]);
}

static void lg_quit(void)
{
	lg_close_all();
	lg_log_flush(true);
	lg_print("{\"event\":\"bye\"}");
	exit(0);
}

static void lg_command(char *line)
{
	unsigned step;
	double rate, seconds;
	char extra;

	while (*line == ' ' || *line == '\t')
		line++;
	line[strcspn(line, "\r")] = 0;
	if (sscanf(line, "emit %u %lf %lf %c", &step, &rate, &seconds, &extra) == 3)
		lg_emit_start(step, rate, seconds);
	else if (sscanf(line, "report %u %c", &step, &extra) == 1)
		lg_report(step);
	else if (strcmp(line, "stats") == 0)
		lg_print("{\"event\":\"stats\",\"received_total\":%" PRIu64 ",\"connected\":%u,\"closed\":%u}",
			 lg.received_total, lg.n_connected, lg.n_closed);
	else if (strcmp(line, "moves") == 0)
		lg_moves();
	else if (strcmp(line, "received") == 0)
		lg_received();
	else if (strcmp(line, "quit") == 0)
		lg_quit();
	else if (*line)
		lg_log("unknown command: %.80s", line);
}

/* Commands, one per line; EOF means the orchestrator is gone: quit. */
static void lg_on_stdin(void)
{
	ssize_t n = read(0, lg.in + lg.in_len, sizeof lg.in - lg.in_len);
	char *line, *nl;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		lg_quit();
	lg.in_len += (size_t)n;
	line = lg.in;
	while ((nl = memchr(line, '\n', lg.in_len - (size_t)(line - lg.in)))) {
		*nl = 0;
		lg_command(line);
		line = nl + 1;
	}
	lg.in_len -= (size_t)(line - lg.in);
	memmove(lg.in, line, lg.in_len);
	if (lg.in_len == sizeof lg.in) {
		lg_log("command line over %d bytes dropped", LG_STDIN_MAX);
		lg.in_len = 0;
	}
}

/* ---- churn mode ----------------------------------------------------- */

/* Ends a churn attempt: record it, close, free the slot for the next. */
static void lg_attempt_end(struct lg_client *c, bool ok)
{
	lg_close_fd(c);
	if (lg_clock_us() < lg.churn_end_us) {
		if (ok) {
			lg.churn_completed++;
			lg.churn_hist[lg_hist_index((uint64_t)(lg_clock_us() - c->start_us))]++;
		} else {
			lg.churn_failed++;
		}
	}
	c->phase = LG_PH_IDLE;
	lg.in_flight--;
	lg.free_slots[lg.n_free++] = c->id;
}

static void lg_churn_finish(void)
{
	double wall_s = (lg_clock_us() - lg.start_us) / 1e6, cpu_s = lg_cpu_s();
	uint64_t n = lg.churn_completed;

	lg_close_all();
	lg_log_flush(true);
	lg_print("{\"event\":\"churn\",\"mode\":\"%s\",\"completed\":%" PRIu64 ",\"failed\":%" PRIu64
		 ",\"per_s\":%.1f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"cpu_s\":%.3f,\"wall_s\":%.3f,"
		 "\"saturated\":%s}",
		 lg.opt.churn == LG_CHURN_WEBSOCKET ? "websocket" : "upgrade", n, lg.churn_failed,
		 n / wall_s, lg_hist_quantile(lg.churn_hist, n, 0.50) / 1e3,
		 lg_hist_quantile(lg.churn_hist, n, 0.99) / 1e3, cpu_s, wall_s,
		 cpu_s / wall_s > 0.90 ? "true" : "false");
	exit(0);
}

static void lg_churn_timeouts(int64_t now)
{
	unsigned i;

	for (i = 0; i < lg.n_clients; i++) {
		struct lg_client *c = &lg.clients[i];

		if (c->phase != LG_PH_IDLE && now - c->start_us > LG_ATTEMPT_TIMEOUT_US)
			lg_client_fail(c, "handshake timeout");
	}
}

/* ---- loop and set-up ------------------------------------------------ */

/* --reconnect: an attempt that has not joined within
 * LG_ATTEMPT_TIMEOUT_US fails and waits its backoff, as the official
 * client's connect timeout. */
static void lg_reconnect_timeouts(int64_t now)
{
	for (unsigned i = 0; i < lg.n_clients; i++) {
		struct lg_client *c = &lg.clients[i];

		if (c->was_ready && c->phase != LG_PH_READY && c->phase != LG_PH_RETRY &&
		    now - c->start_us > LG_ATTEMPT_TIMEOUT_US)
			lg_client_fail(c, "reconnect timeout");
	}
}

static void lg_on_tick(void)
{
	uint64_t expirations;
	int64_t now = lg_clock_us();

	if (read(lg.tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		lg_die("timerfd read: %s", strerror(errno));
	if (lg.log_dropped)
		lg_log_flush(false);
	if (lg.emitting)
		lg_emit_tick();
	if (lg.opt.churn != LG_CHURN_NONE) {
		if (now >= lg.churn_end_us)
			lg_churn_finish();
		lg_churn_timeouts(now);
	} else if (!lg.ready_printed && now - lg.start_us > LG_CONNECT_TIMEOUT_US) {
		lg_connect_timeout();
	} else if (lg.opt.reconnect) {
		lg_reconnect_timeouts(now);
	}
}

static void lg_run(void)
{
	struct epoll_event ev[LG_EPOLL_BATCH];

	for (;;) {
		int i, n;

		lg_start_more();
		n = epoll_wait(lg.epfd, ev, LG_EPOLL_BATCH, -1);
		if (n < 0 && errno != EINTR)
			lg_die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			void *tag = ev[i].data.ptr;

			if (tag == &lg_tag_timer)
				lg_on_tick();
			else if (tag == &lg_tag_stdin)
				lg_on_stdin();
			else
				lg_client_event(tag, ev[i].events);
		}
	}
}

static void lg_usage(void)
{
	fprintf(stderr,
		"usage: loadgen [--host 127.0.0.1] [--port 3000] [--clients N]\n"
		"               [--transport websocket|polling] [--rooms K] [--room-prefix NAME]\n"
		"               [--frame-bytes B] [--connect-concurrency C]\n"
		"               [--churn websocket|upgrade --seconds S] [--connect PACKET]\n"
		"               [--reconnect]\n"
		"--connect replaces the CONNECT packet `40` (e.g. `40/app,{\"token\":\"...\"}`),\n"
		"for WebSocket clients only.\n");
	exit(2);
}

static unsigned lg_opt_uint(const char *s, unsigned min, unsigned max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v < min || v > max)
		lg_die("bad number '%s' (must be %u..%u)", s, min, max);
	return (unsigned)v;
}

static void lg_parse_opts(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "clients", required_argument, NULL, 'n' },
		{ "transport", required_argument, NULL, 't' },
		{ "rooms", required_argument, NULL, 'r' },
		{ "room-prefix", required_argument, NULL, 'R' },
		{ "frame-bytes", required_argument, NULL, 'b' },
		{ "connect-concurrency", required_argument, NULL, 'c' },
		{ "churn", required_argument, NULL, 'C' },
		{ "seconds", required_argument, NULL, 's' },
		{ "connect", required_argument, NULL, 'o' },
		{ "reconnect", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 },
	};
	struct lg_opts *o = &lg.opt;
	int ch;

	*o = (struct lg_opts){ .host = "127.0.0.1", .port = 3000, .clients = 1, .rooms = 1,
			       .room_prefix = "bench", .frame_bytes = 100, .concurrency = 200,
			       .connect = "40" };
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h': o->host = optarg; break;
		case 'p': o->port = lg_opt_uint(optarg, 1, 65535); break;
		case 'n': o->clients = lg_opt_uint(optarg, 1, 1000000); break;
		case 'r': o->rooms = lg_opt_uint(optarg, 1, 1000000); break;
		case 'R': o->room_prefix = optarg; break;
		case 'b': o->frame_bytes = lg_opt_uint(optarg, 64, LG_FRAME_MAX); break;
		case 'c': o->concurrency = lg_opt_uint(optarg, 1, 100000); break;
		case 's': o->seconds = strtod(optarg, NULL); break;
		case 'o': o->connect = optarg; break;
		case 'x': o->reconnect = true; break;
		case 't':
			if (strcmp(optarg, "websocket") && strcmp(optarg, "polling"))
				lg_usage();
			o->transport = strcmp(optarg, "polling") ? LG_WEBSOCKET : LG_POLLING;
			break;
		case 'C':
			if (strcmp(optarg, "websocket") && strcmp(optarg, "upgrade"))
				lg_usage();
			o->churn = strcmp(optarg, "upgrade") ? LG_CHURN_WEBSOCKET : LG_CHURN_UPGRADE;
			break;
		default: lg_usage();
		}
	}
	if (optind != argc || (o->churn != LG_CHURN_NONE && !(o->seconds > 0)))
		lg_usage();
	if (strcmp(o->connect, "40") != 0 &&
	    (o->churn == LG_CHURN_UPGRADE || (o->churn == LG_CHURN_NONE && o->transport == LG_POLLING)))
		lg_die("--connect: WebSocket clients only");
	/* the room name goes into JSON and URLs unescaped */
	if (!*o->room_prefix || strlen(o->room_prefix) > LG_ROOM_MAX ||
	    strspn(o->room_prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_:.") !=
		    strlen(o->room_prefix))
		lg_die("--room-prefix: 1..%d letters, digits or -_:.", LG_ROOM_MAX);
}

static void lg_resolve(void)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	int err = getaddrinfo(lg.opt.host, NULL, &hints, &ai);

	if (err)
		lg_die("%s: %s", lg.opt.host, gai_strerror(err));
	memcpy(&lg.server, ai->ai_addr, sizeof lg.server);
	lg.server.sin_port = htons((uint16_t)lg.opt.port);
	freeaddrinfo(ai);
	lg.spread_src = (ntohl(lg.server.sin_addr.s_addr) >> 24) == 127;
}

/* Every program of the bench raises its soft descriptor limit to the hard
 * one: 19,000 idle clients need it. */
static void lg_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			lg_log("setrlimit: %s", strerror(errno));
	}
}

static void lg_setup(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &lg_tag_timer };
	unsigned i;

	signal(SIGPIPE, SIG_IGN);
	lg.rng = (uint64_t)lg_clock_us() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
	if (!lg.rng)
		lg.rng = 1;
	lg.epfd = epoll_create1(EPOLL_CLOEXEC);
	lg.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (lg.epfd < 0 || lg.tfd < 0 || epoll_ctl(lg.epfd, EPOLL_CTL_ADD, lg.tfd, &ev) < 0)
		lg_die("epoll/timerfd: %s", strerror(errno));
	lg_set_tick(false);
	lg.n_clients = lg.opt.churn != LG_CHURN_NONE ? lg.opt.concurrency : lg.opt.clients;
	lg.clients = calloc(lg.n_clients, sizeof *lg.clients);
	lg.free_slots = calloc(lg.n_clients, sizeof *lg.free_slots);
	if (!lg.clients || !lg.free_slots)
		lg_die("out of memory for %u clients", lg.n_clients);
	for (i = 0; i < lg.n_clients; i++) {
		lg.clients[i].fd = -1;
		lg.clients[i].id = i;
		lg.free_slots[i] = lg.n_clients - 1 - i;
	}
	lg.n_free = lg.opt.churn != LG_CHURN_NONE ? lg.n_clients : 0;
	lg.emit_payload_len = lg_payload_for_frame(lg.opt.frame_bytes);
}

int main(int argc, char **argv)
{
	lg_parse_opts(argc, argv);
	lg_raise_nofile();
	lg_resolve();
	lg_setup();
	lg.start_us = lg_clock_us();
	lg.churn_end_us = lg.start_us + (int64_t)(lg.opt.seconds * 1e6);
	lg_run();
	return 0;
}
