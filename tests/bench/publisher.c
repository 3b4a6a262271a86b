/* publisher.c - bench broadcasts through Redis, as @socket.io/redis-emitter.
 *
 * Publishes what @socket.io/redis-emitter 5.1.0 publishes for
 * `emitter.to(ROOM).emit("bench", {s, t, p})`: PUBLISH on KEY#/#ROOM# of
 * the msgpack array ["emitter", {type, data, nsp}, {rooms, flags, except}],
 * packed with notepack's choices (smallest int and str formats; byte layout
 * as "to(r1).emit" in tests/vectors/redis-emitter-messages.json).
 * p pads every event so the WebSocket frame a client receives is
 * --frame-bytes long; the digits of s and t vary, so it is sized per message.
 *
 * Pacing: an absolute 1 ms schedule, each tick sends RATE x elapsed - sent,
 * so a late tick catches up. One blocking hiredis context, pipelined: a
 * tick appends its commands, writes them, then reads whatever replies have
 * arrived without waiting; past PUB_MAX_IN_FLIGHT unread replies it waits
 * for them, which bounds both hiredis buffers.
 * Prints {"event":"published",...} on stdout and exits 0; 1 on any error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <msgpack.h>

#define PUB_EVENT "bench"
/* Unread replies before a tick waits for some: 10 ms of the top rate, a
 * few hundred KiB of commands, well inside Redis's default limits. */
#define PUB_MAX_IN_FLIGHT 1000
/* Commands appended before a write, so hiredis's output buffer stays small
 * even when a late tick catches up on many messages. */
#define PUB_WRITE_BATCH 256
#define PUB_TICK_NS 1000000L
/* The largest frame; the padding is a static buffer of 'x'. */
#define PUB_MAX_FRAME_BYTES 65536L
/* Integers above 2^53 lose precision in JavaScript. */
#define PUB_MAX_SAFE_INT 9007199254740991LL

struct pub_args {
	const char *redis_host;
	int redis_port;
	const char *key;
	const char *room;
	double rate;
	double seconds;
	long long step;
	long frame_bytes;
};

struct pub {
	struct pub_args args;
	redisContext *redis;
	char channel[512];
	size_t channel_len;
	long payload_len;	/* the event text's length in every frame */
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
	long long sent;
	long long replied;
	long long receivers;	/* sum of PUBLISH replies: subscribers reached */
};

static char pub_pad[PUB_MAX_FRAME_BYTES];

static int64_t pub_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double pub_ts_diff_s(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) + (a->tv_nsec - b->tv_nsec) / 1e9;
}

static void pub_ts_add_ns(struct timespec *ts, long ns)
{
	ts->tv_nsec += ns;
	while (ts->tv_nsec >= 1000000000L) {
		ts->tv_nsec -= 1000000000L;
		ts->tv_sec++;
	}
}

static void pub_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			perror("publisher: setrlimit RLIMIT_NOFILE");
	}
}

/* Payload length of an unmasked server frame of frame_bytes bytes in all
 * (RFC 6455 5.2: 2-byte header below 126, 4 below 65536); -1 when no
 * payload gives exactly that size (128 and 129) or it is out of range. */
static long pub_payload_len(long frame_bytes)
{
	if (frame_bytes - 2 < 126)
		return frame_bytes - 2;
	if (frame_bytes - 4 >= 126 && frame_bytes - 4 < 65536)
		return frame_bytes - 4;
	return -1;
}

static int pub_dec_len(long long v)
{
	int n = v < 0 ? 2 : 1;

	if (v < 0)
		v = -v;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* Padding for 42["bench",{"s":S,"t":T,"p":"PAD"}] to reach payload_len;
 * -1 if the event without padding is already longer. */
static long pub_pad_len(long payload_len, long long s, int64_t t)
{
	long fixed = (long)strlen("42[\"" PUB_EVENT "\",{\"s\":,\"t\":,\"p\":\"\"}]");

	return payload_len - fixed - pub_dec_len(s) - pub_dec_len(t);
}

static void pub_pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

/* Packs ["emitter", {"type":2,"data":["bench",{"s","t","p"}],"nsp":"/"},
 * {"rooms":[ROOM],"flags":{},"except":[]}] into p->sbuf, key order as the
 * emitter's object literals. msgpack-c picks the same smallest formats as
 * notepack.io for non-negative ints and strings. Returns -1 if t has grown
 * too many digits for the frame size. */
static int pub_pack(struct pub *p, int64_t t)
{
	msgpack_packer *pk = &p->pk;
	long pad = pub_pad_len(p->payload_len, p->args.step, t);

	if (pad < 0)
		return -1;
	msgpack_sbuffer_clear(&p->sbuf);
	msgpack_pack_array(pk, 3);
	pub_pack_cstr(pk, "emitter");

	msgpack_pack_map(pk, 3);
	pub_pack_cstr(pk, "type");
	msgpack_pack_int(pk, 2);	/* socket.io-parser EVENT */
	pub_pack_cstr(pk, "data");
	msgpack_pack_array(pk, 2);
	pub_pack_cstr(pk, PUB_EVENT);
	msgpack_pack_map(pk, 3);
	pub_pack_cstr(pk, "s");
	msgpack_pack_int64(pk, p->args.step);
	pub_pack_cstr(pk, "t");
	msgpack_pack_int64(pk, t);
	pub_pack_cstr(pk, "p");
	msgpack_pack_str(pk, (size_t)pad);
	msgpack_pack_str_body(pk, pub_pad, (size_t)pad);
	pub_pack_cstr(pk, "nsp");
	pub_pack_cstr(pk, "/");

	msgpack_pack_map(pk, 3);
	pub_pack_cstr(pk, "rooms");
	msgpack_pack_array(pk, 1);
	pub_pack_cstr(pk, p->args.room);
	pub_pack_cstr(pk, "flags");
	msgpack_pack_map(pk, 0);
	pub_pack_cstr(pk, "except");
	msgpack_pack_array(pk, 0);
	return 0;
}

static int pub_append(struct pub *p)
{
	if (pub_pack(p, pub_now_us()) < 0) {
		fprintf(stderr, "publisher: --frame-bytes %ld too small for the event\n",
			p->args.frame_bytes);
		return -1;
	}
	const char *argv[3] = { "PUBLISH", p->channel, p->sbuf.data };
	size_t argvlen[3] = { 7, p->channel_len, p->sbuf.size };

	if (redisAppendCommandArgv(p->redis, 3, argv, argvlen) != REDIS_OK) {
		fprintf(stderr, "publisher: redis: %s\n", p->redis->errstr);
		return -1;
	}
	p->sent++;
	return 0;
}

static int pub_write(struct pub *p)
{
	int done = 0;

	while (!done) {
		if (redisBufferWrite(p->redis, &done) != REDIS_OK) {
			fprintf(stderr, "publisher: redis write: %s\n", p->redis->errstr);
			return -1;
		}
	}
	return 0;
}

static int pub_take_reply(struct pub *p, redisReply *r)
{
	int ok = r->type == REDIS_REPLY_INTEGER;

	if (ok)
		p->receivers += r->integer;
	else
		fprintf(stderr, "publisher: PUBLISH answered %s\n",
			r->type == REDIS_REPLY_ERROR ? r->str : "a non-integer");
	freeReplyObject(r);
	p->replied++;
	return ok ? 0 : -1;
}

/* Replies already parsed by hiredis, without touching the socket. */
static int pub_take_buffered(struct pub *p)
{
	void *r;

	for (;;) {
		if (redisGetReplyFromReader(p->redis, &r) != REDIS_OK) {
			fprintf(stderr, "publisher: redis: %s\n", p->redis->errstr);
			return -1;
		}
		if (r == NULL)
			return 0;
		if (pub_take_reply(p, r) < 0)
			return -1;
	}
}

/* Reads the replies that have arrived, never blocking: one read per
 * readable socket (hiredis reads 16 KiB, some 4000 replies). */
static int pub_read_ready(struct pub *p)
{
	struct pollfd pfd = { .fd = p->redis->fd, .events = POLLIN };

	while (p->replied < p->sent && poll(&pfd, 1, 0) == 1) {
		if (redisBufferRead(p->redis) != REDIS_OK) {
			fprintf(stderr, "publisher: redis read: %s\n", p->redis->errstr);
			return -1;
		}
		if (pub_take_buffered(p) < 0)
			return -1;
	}
	return 0;
}

/* Waits (blocking redisGetReply) until at most max_unread replies are due. */
static int pub_wait_replies(struct pub *p, long long max_unread)
{
	void *r;

	while (p->sent - p->replied > max_unread) {
		if (redisGetReply(p->redis, &r) != REDIS_OK || r == NULL) {
			fprintf(stderr, "publisher: redis: %s\n", p->redis->errstr);
			return -1;
		}
		if (pub_take_reply(p, r) < 0)
			return -1;
	}
	return 0;
}

/* Sends count messages: appends in batches, writes each, reads replies. */
static int pub_send(struct pub *p, long long count)
{
	while (count > 0) {
		long long n = count < PUB_WRITE_BATCH ? count : PUB_WRITE_BATCH;

		for (long long i = 0; i < n; i++)
			if (pub_append(p) < 0)
				return -1;
		count -= n;
		if (pub_write(p) < 0 || pub_read_ready(p) < 0 ||
		    pub_wait_replies(p, PUB_MAX_IN_FLIGHT) < 0)
			return -1;
	}
	return 0;
}

/* How late the schedule is at elapsed seconds: message i is due once
 * rate x elapsed reaches i + 1, so the first unsent one was due at
 * (sent + 1) / rate. */
static double pub_lag_s(const struct pub *p, double elapsed)
{
	return elapsed - (p->sent + 1) / p->args.rate;
}

/* Runs the schedule, then waits for every reply. At the first tick past
 * the deadline, *behind tells whether the messages still unsent were due
 * more than 1% of the run or 50 ms ago; if so they are dropped, not sent
 * late. *send_s is the wall time from the start to the last send. */
static int pub_run(struct pub *p, bool *behind, double *send_s)
{
	long long total = llround(p->args.rate * p->args.seconds);
	double max_lag_s = fmin(0.01 * p->args.seconds, 0.05);
	struct timespec start, tick, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	tick = start;
	*behind = false;
	while (p->sent < total) {
		pub_ts_add_ns(&tick, PUB_TICK_NS);
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		double elapsed = pub_ts_diff_s(&now, &start);
		long long due = total;

		if (elapsed < p->args.seconds)
			due = (long long)floor(p->args.rate * elapsed);
		else if (pub_lag_s(p, elapsed) > max_lag_s) {
			*behind = true;
			break;
		}
		if (due > p->sent && pub_send(p, due - p->sent) < 0)
			return -1;
		/* a tick that overran the next one restarts the grid from now
		 * instead of firing the missed ticks back to back; the count
		 * above is absolute, so nothing is lost */
		if (pub_ts_diff_s(&now, &tick) > PUB_TICK_NS / 1e9)
			tick = now;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	*send_s = pub_ts_diff_s(&now, &start);
	return pub_wait_replies(p, 0);
}

static void pub_usage(void)
{
	fprintf(stderr,
		"usage: publisher [--redis HOST:PORT] [--key socket.io] [--room bench]\n"
		"                 --rate R --seconds S [--step N] [--frame-bytes B]\n");
}

static int pub_parse_redis(struct pub_args *a, char *arg)
{
	char *colon = strrchr(arg, ':');
	char *end;
	long port;

	if (colon == NULL || colon == arg)
		return -1;
	*colon = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -1;
	a->redis_host = arg;
	a->redis_port = (int)port;
	return 0;
}

static int pub_parse_num(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return (errno || end == s || *end != '\0' || !isfinite(*out)) ? -1 : 0;
}

static int pub_parse_int(const char *s, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return (errno || end == s || *end != '\0') ? -1 : 0;
}

static int pub_parse_args(struct pub_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "redis", required_argument, NULL, 'r' },
		{ "key", required_argument, NULL, 'k' },
		{ "room", required_argument, NULL, 'o' },
		{ "rate", required_argument, NULL, 'R' },
		{ "seconds", required_argument, NULL, 's' },
		{ "step", required_argument, NULL, 'n' },
		{ "frame-bytes", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	long long frame_bytes = 100;
	int c;

	*a = (struct pub_args){ .redis_host = "127.0.0.1", .redis_port = 6379,
		.key = "socket.io", .room = "bench", .rate = -1, .seconds = -1 };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int bad = 0;

		switch (c) {
		case 'r': bad = pub_parse_redis(a, optarg); break;
		case 'k': a->key = optarg; break;
		case 'o': a->room = optarg; break;
		case 'R': bad = pub_parse_num(optarg, &a->rate); break;
		case 's': bad = pub_parse_num(optarg, &a->seconds); break;
		case 'n': bad = pub_parse_int(optarg, &a->step); break;
		case 'b': bad = pub_parse_int(optarg, &frame_bytes); break;
		default: bad = -1; break;
		}
		if (bad) {
			pub_usage();
			return -1;
		}
	}
	if (optind != argc || a->rate < 0 || a->seconds < 0 ||
	    llabs(a->step) > PUB_MAX_SAFE_INT ||
	    frame_bytes < 2 || frame_bytes > PUB_MAX_FRAME_BYTES) {
		pub_usage();
		return -1;
	}
	a->frame_bytes = (long)frame_bytes;
	return 0;
}

static int pub_init(struct pub *p)
{
	struct timeval tv = { .tv_sec = 5 };
	int n;

	p->payload_len = pub_payload_len(p->args.frame_bytes);
	/* the current t plus one digit of growth must fit */
	if (p->payload_len < 0 ||
	    pub_pad_len(p->payload_len, p->args.step, pub_now_us() * 10) < 0) {
		fprintf(stderr, "publisher: no bench frame is exactly %ld bytes\n",
			p->args.frame_bytes);
		return -1;
	}
	n = snprintf(p->channel, sizeof p->channel, "%s#/#%s#", p->args.key, p->args.room);
	if (n < 0 || (size_t)n >= sizeof p->channel) {
		fprintf(stderr, "publisher: --key and --room too long\n");
		return -1;
	}
	p->channel_len = (size_t)n;
	memset(pub_pad, 'x', sizeof pub_pad);
	msgpack_sbuffer_init(&p->sbuf);
	msgpack_packer_init(&p->pk, &p->sbuf, msgpack_sbuffer_write);

	p->redis = redisConnectWithTimeout(p->args.redis_host, p->args.redis_port, tv);
	if (p->redis == NULL || p->redis->err) {
		fprintf(stderr, "publisher: redis %s:%d: %s\n", p->args.redis_host,
			p->args.redis_port, p->redis ? p->redis->errstr : "out of memory");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct pub p;
	bool behind;
	double send_s = 0;
	int rc;

	if (pub_parse_args(&p.args, argc, argv) < 0)
		return 1;
	pub_raise_nofile();
	if (pub_init(&p) < 0)
		return 1;
	rc = pub_run(&p, &behind, &send_s);
	redisFree(p.redis);
	msgpack_sbuffer_destroy(&p.sbuf);
	if (rc < 0)
		return 1;
	if (p.sent > 0 && p.receivers == 0)
		fprintf(stderr, "publisher: no subscriber received any message\n");
	printf("{\"event\":\"published\",\"step\":%lld,\"sent\":%lld,\"seconds\":%.3f,"
	       "\"rate\":%.1f,\"behind\":%s}\n", p.args.step, p.sent, send_s,
	       send_s > 0 ? p.sent / send_s : 0.0, behind ? "true" : "false");
	return 0;
}
