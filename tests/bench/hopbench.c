/* hopbench.c - a forwarded polling request: direct TCP hop vs the Redis bus.
 *
 * Session routing between instances, measured (README.md has the method): a
 * forwarder (parent, CPU 1) sends a polling request to the session's owner
 * (forked child, CPU 0) and takes back its answer, as HTTP/1.1 on one
 * keep-alive loopback connection (direct) or as PUBLISH on the owner's channel
 * answered on the forwarder's (redis).  Both ends find a message's end by its
 * Content-Length, as a relay must, and write a turn's output at once.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/adapters/libevent.h>

/* Output never fills: a turn sends at most 128 requests (37 KiB), or
 * answers at most the 223 requests one read can hold (33 KiB). */
#define HOP_BUF_BYTES 65536
#define HOP_MAX_WINDOW 128

struct hop {
	bool owner, via_redis;          /* via_redis: the forwarder's current run */
	struct event_base *base;
	int fd;                         /* the keep-alive TCP connection */
	char in[HOP_BUF_BYTES], out[HOP_BUF_BYTES];
	size_t in_len, out_len;
	redisAsyncContext *sub, *pub;
	char my_ch[64], peer_ch[64];    /* each end SUBSCRIBEs to my_ch */
	long window, total, sent, done;
	int64_t t_sent[HOP_MAX_WINDOW]; /* send times, by sequence % window */
	int64_t *rtt_ns;                /* RTT of each round trip of the run */
	pid_t pids[3];                  /* owner, forwarder, redis-server */
};

static struct hop h;
/* The sid is an engine.io base64id (20 characters); the body is 61 bytes. */
static const char hop_req[] = "POST /socket.io/?EIO=4&transport=polling"
	"&sid=Qm9vbTJGZ3hQbGFuZTQx HTTP/1.1\r\nHost: chat.example.com\r\n"
	"User-Agent: node-XMLHttpRequest\r\nAccept: */*\r\n"
	"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 61\r\nConnection: keep-alive\r\n"
	"\r\n42[\"chat\",\"hello from a polling client, routed to its owner\"]";
static const char hop_resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
	"Content-Length: 2\r\nDate: Mon, 02 Jun 2025 10:00:00 GMT\r\n"
	"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok";

static int64_t hop_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void hop_die(const char *what, const char *why)
{
	fprintf(stderr, "hopbench %s: %s: %s\n", h.owner ? "owner" : "forwarder", what,
		why ? why : strerror(errno));
	exit(1);
}

/* Length of the HTTP/1.1 message at p (head + Content-Length), 0 if partial. */
static long hop_http_len(const char *p, size_t n)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4);
	if (!end)
		return 0;
	long body = 0;
	for (const char *l = p; l < end; l++)   /* the blank line stops both calls */
		if (*l == '\n' && strncasecmp(l + 1, "Content-Length:", 15) == 0)
			body = strtol(l + 16, NULL, 10);
	long len = (long)(end - p) + 4 + body;
	return (size_t)len <= n ? len : 0;
}

/* utime + stime of pid in microseconds, -1 if /proc cannot say. */
static long long hop_cpu_us(pid_t pid)
{
	char path[64];
	unsigned long ut, st;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	int got = f ? fscanf(f, "%*d (%*[^)]) %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u"
			     " %lu %lu", &ut, &st) : 0;
	if (f)
		fclose(f);
	return got == 2 ? (long long)(ut + st) * 1000000 / sysconf(_SC_CLK_TCK) : -1;
}

/* Queues a request (forwarder, timed) or an answer (owner) for the peer. */
static void hop_send(const char *p, size_t n, bool via_redis)
{
	if (!h.owner)
		h.t_sent[h.sent++ % h.window] = hop_now_ns();
	if (!via_redis) {
		memcpy(h.out + h.out_len, p, n);
		h.out_len += n;
	} else if (redisAsyncCommand(h.pub, NULL, NULL, "PUBLISH %s %b", h.peer_ch, p, n)) {
		hop_die("PUBLISH", h.pub->errstr);
	}
}

/* A turn's output, far below the socket buffer: a short write is a bug. */
static void hop_flush(void)
{
	if (h.out_len && write(h.fd, h.out, h.out_len) != (ssize_t)h.out_len)
		hop_die("write", NULL);
	h.out_len = 0;
}

/* One complete message came: the owner answers, the forwarder counts. */
static void hop_message(bool via_redis)
{
	if (h.owner) {
		hop_send(hop_resp, sizeof hop_resp - 1, via_redis);
		return;
	}
	h.rtt_ns[h.done] = hop_now_ns() - h.t_sent[h.done % h.window];
	if (++h.done == h.total)
		event_base_loopbreak(h.base);
	else if (h.sent < h.total)
		hop_send(hop_req, sizeof hop_req - 1, h.via_redis);
}

static void hop_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what, (void)arg;
	ssize_t n = read(fd, h.in + h.in_len, sizeof h.in - h.in_len);
	if (n == 0 && h.owner)
		exit(0);                /* the forwarder is done */
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0)
		hop_die("read", n ? NULL : "connection closed");
	h.in_len += (size_t)n;
	size_t off = 0;
	for (long m; (m = hop_http_len(h.in + off, h.in_len - off)) > 0; off += (size_t)m)
		hop_message(false);
	h.in_len -= off;
	memmove(h.in, h.in + off, h.in_len);
	hop_flush();
}

static void hop_sub_cb(redisAsyncContext *c, void *reply, void *arg)
{
	(void)arg;
	redisReply *r = reply;
	if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		hop_die("SUBSCRIBE", c->errstr[0] ? c->errstr : "unexpected reply");
	if (strcmp(r->element[0]->str, "message") == 0) {
		redisReply *m = r->element[2];
		if (hop_http_len(m->str, m->len) != (long)m->len)
			hop_die("message", "not one HTTP message");
		hop_message(true);
	} else if (!h.owner) {
		event_base_loopbreak(h.base);   /* subscribed: the runs may start */
	} else if (write(h.fd, "r", 1) != 1) {  /* tells the forwarder to start */
		hop_die("write", NULL);
	}
}

/* Pins this process, then watches h.fd and opens both Redis contexts. */
static void hop_start(const char *host, int port)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(h.owner ? 0 : 1, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0)
		hop_die("sched_setaffinity", NULL);
	int one = 1;
	struct event *ev;
	if (!(h.base = event_base_new()) ||
	    setsockopt(h.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
	    evutil_make_socket_nonblocking(h.fd) < 0 ||
	    !(ev = event_new(h.base, h.fd, EV_READ | EV_PERSIST, hop_conn_cb, NULL)) ||
	    event_add(ev, NULL) < 0)
		hop_die("event setup", NULL);
	h.sub = redisAsyncConnect(host, port);
	h.pub = redisAsyncConnect(host, port);
	if (!h.sub || !h.pub || h.sub->err || h.pub->err || redisLibeventAttach(h.sub, h.base) ||
	    redisLibeventAttach(h.pub, h.base))
		hop_die("redis", "cannot connect");
	redisAsyncCommand(h.sub, hop_sub_cb, NULL, "SUBSCRIBE %s", h.my_ch);
}

/* total round trips, h.window at a time. */
static void hop_run(long total)
{
	h.total = total;
	h.sent = h.done = 0;
	while (h.sent < h.window && h.sent < total)
		hop_send(hop_req, sizeof hop_req - 1, h.via_redis);
	hop_flush();
	event_base_dispatch(h.base);
}

static int hop_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* One run after its warm-up, printed.  Redis CPU is null in direct mode. */
static void hop_measure(bool via_redis, long window, long warmup, long total)
{
	long long cpu0[3];
	char per_rt[3][32];
	int64_t *rtt = h.rtt_ns = malloc((size_t)(total > warmup ? total : warmup) * sizeof *rtt);
	if (!rtt)
		hop_die("malloc", NULL);
	h.via_redis = via_redis;
	h.window = window;
	hop_run(warmup);
	for (int i = 0; i < 3; i++)
		cpu0[i] = i < 2 || via_redis ? hop_cpu_us(h.pids[i]) : -1;
	int64_t t0 = hop_now_ns();
	hop_run(total);
	double sec = (double)(hop_now_ns() - t0) / 1e9;
	for (int i = 0; i < 3; i++) {
		long long cpu1 = hop_cpu_us(h.pids[i]);
		snprintf(per_rt[i], sizeof per_rt[i], cpu0[i] < 0 || cpu1 < 0 ? "null" : "%.2f",
			 (double)(cpu1 - cpu0[i]) / (double)total);
	}
	qsort(rtt, (size_t)total, sizeof *rtt, hop_cmp);
	printf("{\"event\":\"hop\",\"mode\":\"%s\",\"window\":%ld,\"round_trips\":%ld,"
	       "\"req_bytes\":%zu,\"resp_bytes\":%zu,\"seconds\":%.3f,\"rt_per_s\":%.0f,"
	       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"owner_cpu_us_per_rt\":%s,"
	       "\"forwarder_cpu_us_per_rt\":%s,\"redis_cpu_us_per_rt\":%s}\n",
	       via_redis ? "redis" : "direct", window, total, sizeof hop_req - 1,
	       sizeof hop_resp - 1, sec, (double)total / sec, (double)rtt[total / 2] / 1e3,
	       (double)rtt[total * 99 / 100] / 1e3, per_rt[0], per_rt[1], per_rt[2]);
	free(rtt);
}

int main(int argc, char **argv)
{
	char host[256] = "";
	int port = 0, bad = 0;
	long n = 20000, pipe_n = 1000000, warmup = 1000, window = 64;
	for (int i = 1; i < argc; i += 2) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
		if (!strcmp(o, "--redis")) bad |= sscanf(v, "%255[^:]:%d", host, &port) != 2;
		else if (!strcmp(o, "--n")) n = atol(v);
		else if (!strcmp(o, "--pipe-n")) pipe_n = atol(v);
		else if (!strcmp(o, "--warmup")) warmup = atol(v);
		else if (!strcmp(o, "--window")) window = atol(v);
		else bad = 1;
	}
	if (bad || port <= 0 || n < 1 || pipe_n < 1 || warmup < 1 || window < 1 ||
	    window > HOP_MAX_WINDOW) {
		fprintf(stderr, "usage: hopbench --redis HOST:PORT [--n 20000] [--pipe-n 1000000]"
			" [--warmup 1000] [--window 64]\n");
		return 1;
	}
	/* Listening before the fork lets the forwarder connect at once. */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM, 0), me = (int)getpid();
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sl) < 0 || listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0 ||
	    (h.pids[0] = fork()) < 0)
		hop_die("listen", NULL);
	h.owner = h.pids[0] == 0;
	snprintf(h.my_ch, sizeof h.my_ch, "hop:%d:%s", me, h.owner ? "owner" : "fwd");
	snprintf(h.peer_ch, sizeof h.peer_ch, "hop:%d:%s", me, h.owner ? "fwd" : "owner");
	if (h.owner) {
		if ((h.fd = accept(lfd, NULL, NULL)) < 0)
			hop_die("accept", NULL);
		hop_start(host, port);
		event_base_dispatch(h.base);
		hop_die("event loop", "ended");
	}
	close(lfd);
	/* The owner writes one byte once subscribed: then PUBLISH reaches it. */
	if ((h.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(h.fd, (struct sockaddr *)&sa, sl) < 0 || read(h.fd, &(char){0}, 1) != 1)
		hop_die("connect", NULL);
	hop_start(host, port);
	event_base_dispatch(h.base);    /* until our SUBSCRIBE is confirmed */
	/* INFO server's process_id: the redis-server whose CPU redis mode adds. */
	redisContext *rc = redisConnect(host, port);
	redisReply *r = rc && !rc->err ? redisCommand(rc, "INFO server") : NULL;
	const char *pid = r && r->type == REDIS_REPLY_STRING ? strstr(r->str, "process_id:") : NULL;
	h.pids[1] = getpid();
	h.pids[2] = pid ? (pid_t)atoi(pid + 11) : -1;
	freeReplyObject(r);
	redisFree(rc);
	for (int i = 0; i < 4; i++)     /* direct, direct pipelined, redis, ... */
		hop_measure(i >= 2, i % 2 ? window : 1, warmup, i % 2 ? pipe_n : n);
	close(h.fd);                    /* the owner exits on EOF */
	return waitpid(h.pids[0], NULL, 0) < 0;
}
