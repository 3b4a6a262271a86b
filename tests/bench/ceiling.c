/* ceiling.c - what the kernel allows: one frame to N loopback sockets.
 *
 * The bench's upper bound for a broadcast: the writer (this process, pinned
 * to CPU 0 by the caller) writes the same pre-built WebSocket bench frame to
 * N connected TCP sockets, K frames per writev, round after round, the way
 * roomcastd's flush would if it had nothing else to do.  A drainer child on
 * CPU 1 reads the other ends (epoll, 64 KiB reads) so the writer never waits.
 *
 * Setup keeps each process at N descriptors (the hard limit is 20,000 and
 * N goes to 10,000): the drainer is forked first and connects the clients,
 * the writer accepts them, in batches of CEIL_CONNECT_BATCH so the accept
 * queue never overflows (an overflow costs a 1 s SYN retry).  Clients bind
 * to 127.0.0.1..127.0.0.20 and both ends close with an RST (SO_LINGER 0),
 * so runs leave no TIME_WAIT behind.  The drainer exits once every
 * connection is closed.
 *
 * Writer sockets are non-blocking: a full socket is an EAGAIN, counted and
 * skipped, never a hidden wait.  CPU is getrusage(RUSAGE_SELF) of the writer
 * alone.  Round wall times are taken only on rounds that start with the
 * drainer idle: every 10th round is followed by a 2 ms pause, and the round
 * after it is timed (round_ms_* are null if the run had none).
 *
 * With --rate R the rounds are paced instead, R a second on an absolute
 * schedule, as broadcasts at R a second reach a server that is otherwise
 * idle: each round then wakes a drainer that was asleep, which is what a
 * paced broadcast costs the kernel (the receiver's wake-up runs in the
 * sender's context on loopback).  Every paced round is timed.
 * Prints {"event":"ceiling",...} and exits 0; 1 on any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CEIL_MAX_BATCH 64
#define CEIL_MAX_FRAME_BYTES 65536L
#define CEIL_SOURCE_ADDRS 20
/* Connections the drainer opens ahead of the writer's accepts: well under
 * any accept backlog, so no SYN is ever dropped. */
#define CEIL_CONNECT_BATCH 64
/* A drainer that dies during setup ends the writer's accepts after this. */
#define CEIL_ACCEPT_TIMEOUT_S 10
#define CEIL_READ_BYTES 65536
#define CEIL_EPOLL_EVENTS 1024
/* Every CEIL_PAUSE_EVERY rounds the writer sleeps CEIL_PAUSE_NS so the
 * drainer empties every socket; the next round is the one timed. */
#define CEIL_PAUSE_EVERY 10
#define CEIL_PAUSE_NS 2000000L

struct ceil_args {
	long clients;
	long frame_bytes;
	int batch;
	double seconds;
	double rate;		/* rounds a second, 0 = back to back */
};

struct ceil_result {
	long long bytes;	/* written; frames = bytes / B (a short write counts its part) */
	long long writes;	/* writev calls that wrote something */
	long long eagain;	/* writev calls refused by a full socket */
	double cpu_s;
	double wall_s;
	double *round_ms;	/* timed rounds, CEIL_PAUSE_EVERY apart */
	size_t n_rounds_timed;
	size_t max_rounds_timed;
};

static double ceil_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double ceil_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void ceil_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			perror("ceiling: setrlimit RLIMIT_NOFILE");
	}
}

static int ceil_set_linger0(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	return setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* The bench frame: an unmasked text frame (RFC 6455 5.2) carrying
 * 42["bench",{"s":0,"t":T,"p":"xx…"}], padded to frame_bytes in all.
 * Returns its length, or -1 if no frame is exactly that size. */
static long ceil_build_frame(char *out, long frame_bytes)
{
	struct timespec ts;
	long header = frame_bytes - 2 < 126 ? 2 : 4;
	long payload = frame_bytes - header;
	long long t_us;
	int n;

	if ((header == 4 && payload < 126) || payload >= 65536)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t_us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	n = snprintf(out + header, (size_t)payload + 1,
		     "42[\"bench\",{\"s\":0,\"t\":%lld,\"p\":\"", t_us);
	if (n < 0 || n + 3 > payload)
		return -1;
	memset(out + header + n, 'x', (size_t)(payload - n - 3));
	memcpy(out + frame_bytes - 3, "\"}]", 3);
	out[0] = (char)0x81;	/* FIN, text */
	if (header == 2) {
		out[1] = (char)payload;
	} else {
		out[1] = 126;
		out[2] = (char)(payload >> 8);
		out[3] = (char)(payload & 0xff);
	}
	return frame_bytes;
}

/* A client socket bound to the i-th source address, connected to addr.
 * IP_BIND_ADDRESS_NO_PORT leaves the port to connect(), which picks it
 * per destination, so 20 addresses give 20 ephemeral ranges. */
static int ceil_connect_one(const struct sockaddr_in *addr, long i)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i % CEIL_SOURCE_ADDRS));
	if (ceil_set_linger0(fd) < 0 ||
	    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0 ||
	    bind(fd, (const struct sockaddr *)&src, sizeof src) < 0 ||
	    connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0 ||
	    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Drainer setup: connects n clients, registering each with epoll; waits
 * for one credit byte from the writer before each batch after the first. */
static int ceil_drainer_connect(int epfd, const struct sockaddr_in *addr, long n,
				int credit_fd)
{
	char credit;

	for (long i = 0; i < n; i++) {
		if (i > 0 && i % CEIL_CONNECT_BATCH == 0 && read(credit_fd, &credit, 1) != 1) {
			fprintf(stderr, "ceiling: drainer: writer gone during setup\n");
			return -1;
		}
		int fd = ceil_connect_one(addr, i);
		struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

		if (fd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			fprintf(stderr, "ceiling: drainer: client %ld: %s\n", i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Reads everything until every connection is closed. Level-triggered, one
 * read per ready socket per wakeup, so no socket starves the others. */
static void ceil_drainer_loop(int epfd, long open)
{
	static char buf[CEIL_READ_BYTES];
	struct epoll_event evs[CEIL_EPOLL_EVENTS];

	while (open > 0) {
		int n = epoll_wait(epfd, evs, CEIL_EPOLL_EVENTS, -1);

		if (n < 0 && errno != EINTR) {
			perror("ceiling: drainer: epoll_wait");
			return;
		}
		for (int i = 0; i < n; i++) {
			ssize_t r = read(evs[i].data.fd, buf, sizeof buf);

			if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR)))
				continue;
			close(evs[i].data.fd);	/* EOF or RST from the writer */
			open--;
		}
	}
}

/* The child: pins itself to CPU 1, connects, signals ready, drains. */
static void ceil_drainer_run(const struct sockaddr_in *addr, long n, int credit_fd,
			     int ready_fd)
{
	cpu_set_t cpus;
	int epfd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	CPU_ZERO(&cpus);
	CPU_SET(1, &cpus);
	if (sched_setaffinity(0, sizeof cpus, &cpus) < 0)
		perror("ceiling: drainer: sched_setaffinity CPU 1");
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0 || ceil_drainer_connect(epfd, addr, n, credit_fd) < 0)
		_exit(1);
	close(credit_fd);
	if (write(ready_fd, "r", 1) != 1)
		_exit(1);
	close(ready_fd);
	ceil_drainer_loop(epfd, n);
	_exit(0);
}

static int ceil_listen(struct sockaddr_in *addr)
{
	struct timeval tv = { .tv_sec = CEIL_ACCEPT_TIMEOUT_S };
	socklen_t len = sizeof *addr;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*addr = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
	    bind(fd, (struct sockaddr *)addr, sizeof *addr) < 0 ||
	    listen(fd, 4 * CEIL_CONNECT_BATCH) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
		perror("ceiling: listen");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Writer setup: accepts n connections as the drainer makes them, giving it
 * one credit per batch; the writer's ends are non-blocking, TCP_NODELAY. */
static int ceil_accept_all(int lfd, int *fds, long n, int credit_fd)
{
	int one = 1;

	for (long i = 0; i < n; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
		    ceil_set_linger0(fd) < 0) {
			fprintf(stderr, "ceiling: accept %ld: %s\n", i,
				errno == EAGAIN ? "drainer stopped connecting" : strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		fds[i] = fd;
		if ((i + 1) % CEIL_CONNECT_BATCH == 0 && i + 1 < n &&
		    write(credit_fd, "c", 1) != 1) {
			perror("ceiling: credit");
			return -1;
		}
	}
	return 0;
}

/* One round: K frames in one writev to every socket, in order. Returns -1
 * on any error but a full socket (the drainer died). */
static int ceil_round(const int *fds, long n, const struct iovec *iov, int batch,
		      struct ceil_result *res)
{
	for (long i = 0; i < n; i++) {
		ssize_t w = writev(fds[i], iov, batch);

		if (w > 0) {
			res->bytes += w;
			res->writes++;
		} else if (w < 0 && errno == EAGAIN) {
			res->eagain++;
		} else {
			fprintf(stderr, "ceiling: writev: %s\n", w < 0 ? strerror(errno) : "wrote 0");
			return -1;
		}
	}
	return 0;
}

/* Sleeps until <start> + <round> / <rate> on the monotonic clock. */
static void ceil_wait_round(double start, long round, double rate)
{
	double at = start + round / rate;
	struct timespec ts = { .tv_sec = (time_t)at,
			       .tv_nsec = (long)((at - (double)(time_t)at) * 1e9) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int ceil_run(const int *fds, const struct ceil_args *a, const char *frame,
		    struct ceil_result *res)
{
	struct iovec iov[CEIL_MAX_BATCH];
	const struct timespec pause = { .tv_nsec = CEIL_PAUSE_NS };
	double start, cpu0;

	for (int k = 0; k < a->batch; k++)
		iov[k] = (struct iovec){ .iov_base = (void *)frame,
					 .iov_len = (size_t)a->frame_bytes };
	cpu0 = ceil_cpu_s();
	start = ceil_now_s();
	for (long round = 0;; round++) {
		bool paced = a->rate > 0;
		bool timed = (paced || (round > 0 && round % CEIL_PAUSE_EVERY == 0)) &&
			     res->n_rounds_timed < res->max_rounds_timed;
		double t0, t1;

		if (paced)
			ceil_wait_round(start, round, a->rate);
		t0 = ceil_now_s();

		if (ceil_round(fds, a->clients, iov, a->batch, res) < 0)
			return -1;
		t1 = ceil_now_s();
		if (timed)
			res->round_ms[res->n_rounds_timed++] = (t1 - t0) * 1e3;
		if (t1 - start >= a->seconds)
			break;
		if (!paced && (round + 1) % CEIL_PAUSE_EVERY == 0)
			nanosleep(&pause, NULL);
	}
	res->wall_s = ceil_now_s() - start;
	res->cpu_s = ceil_cpu_s() - cpu0;
	return 0;
}

static int ceil_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* round_ms_* are null when the run was too short for a timed round (fewer
 * than CEIL_PAUSE_EVERY + 1 rounds: raise --seconds for large N). */
static void ceil_print(const struct ceil_args *a, struct ceil_result *res)
{
	long long frames = res->bytes / a->frame_bytes;
	char p50[32] = "null", min[32] = "null";

	if (res->n_rounds_timed > 0) {
		qsort(res->round_ms, res->n_rounds_timed, sizeof *res->round_ms, ceil_cmp_double);
		snprintf(p50, sizeof p50, "%.3f", res->round_ms[res->n_rounds_timed / 2]);
		snprintf(min, sizeof min, "%.3f", res->round_ms[0]);
	}
	printf("{\"event\":\"ceiling\",\"clients\":%ld,\"batch\":%d,\"rate\":%g,\"frames\":%lld,"
	       "\"writes\":%lld,\"eagain\":%lld,\"cpu_s\":%.3f,\"wall_s\":%.3f,"
	       "\"us_per_frame\":%.3f,\"us_per_write\":%.3f,\"frames_per_cpu_s\":%.0f,"
	       "\"round_ms_p50\":%s,\"round_ms_min\":%s}\n",
	       a->clients, a->batch, a->rate, frames, res->writes, res->eagain, res->cpu_s, res->wall_s,
	       frames ? res->cpu_s * 1e6 / frames : 0.0,
	       res->writes ? res->cpu_s * 1e6 / res->writes : 0.0,
	       res->cpu_s > 0 ? frames / res->cpu_s : 0.0, p50, min);
}

static void ceil_usage(void)
{
	fprintf(stderr, "usage: ceiling --clients N [--frame-bytes B] [--batch K] [--seconds S]"
			" [--rate R]\n");
}

static int ceil_parse_args(struct ceil_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "clients", required_argument, NULL, 'c' },
		{ "frame-bytes", required_argument, NULL, 'b' },
		{ "batch", required_argument, NULL, 'k' },
		{ "seconds", required_argument, NULL, 's' },
		{ "rate", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	long batch = 1;
	char *end = NULL;
	int c;

	*a = (struct ceil_args){ .clients = -1, .frame_bytes = 100, .seconds = 3 };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		errno = 0;
		switch (c) {
		case 'c': a->clients = strtol(optarg, &end, 10); break;
		case 'b': a->frame_bytes = strtol(optarg, &end, 10); break;
		case 'k': batch = strtol(optarg, &end, 10); break;
		case 's': a->seconds = strtod(optarg, &end); break;
		case 'r': a->rate = strtod(optarg, &end); break;
		default: ceil_usage(); return -1;
		}
		if (errno || end == optarg || *end != '\0') {
			ceil_usage();
			return -1;
		}
	}
	if (optind != argc || a->clients < 1 || batch < 1 || batch > CEIL_MAX_BATCH ||
	    a->frame_bytes < 2 || a->frame_bytes > CEIL_MAX_FRAME_BYTES ||
	    !(a->seconds > 0) || !(a->rate >= 0)) {
		ceil_usage();
		return -1;
	}
	a->batch = (int)batch;
	return 0;
}

/* Forks the drainer and accepts its connections into fds; returns its pid,
 * or -1 (drainer killed) on failure. */
static pid_t ceil_setup(int *fds, long n)
{
	struct sockaddr_in addr;
	int credit[2], ready[2];
	char byte;
	pid_t pid;
	int lfd = ceil_listen(&addr);

	if (lfd < 0)
		return -1;
	if (pipe2(credit, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
		perror("ceiling: pipe");
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		perror("ceiling: fork");
		return -1;
	}
	if (pid == 0) {
		close(lfd);
		close(credit[1]);
		close(ready[0]);
		ceil_drainer_run(&addr, n, credit[0], ready[1]);
	}
	close(credit[0]);
	close(ready[1]);
	int rc = ceil_accept_all(lfd, fds, n, credit[1]);

	close(lfd);
	close(credit[1]);
	if (rc == 0 && read(ready[0], &byte, 1) != 1) {
		fprintf(stderr, "ceiling: drainer failed during setup\n");
		rc = -1;
	}
	close(ready[0]);
	if (rc < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	return pid;
}

int main(int argc, char **argv)
{
	static char frame[CEIL_MAX_FRAME_BYTES];
	struct ceil_args a;
	struct ceil_result res = { 0 };
	int *fds;
	pid_t drainer;

	if (ceil_parse_args(&a, argc, argv) < 0)
		return 1;
	if (ceil_build_frame(frame, a.frame_bytes) < 0) {
		fprintf(stderr, "ceiling: no bench frame is exactly %ld bytes\n", a.frame_bytes);
		return 1;
	}
	ceil_raise_nofile();
	res.max_rounds_timed = (size_t)(a.seconds * fmax(a.rate, 1e3 / (CEIL_PAUSE_NS / 1e6))) + 16;
	res.round_ms = calloc(res.max_rounds_timed, sizeof *res.round_ms);
	fds = calloc((size_t)a.clients, sizeof *fds);
	if (res.round_ms == NULL || fds == NULL) {
		fprintf(stderr, "ceiling: out of memory\n");
		return 1;
	}
	drainer = ceil_setup(fds, a.clients);
	if (drainer < 0)
		return 1;
	int rc = ceil_run(fds, &a, frame, &res);

	/* the RSTs end the drainer, which exits after its last close */
	for (long i = 0; i < a.clients; i++)
		close(fds[i]);
	if (waitpid(drainer, NULL, 0) < 0)
		perror("ceiling: waitpid");
	if (rc == 0)
		ceil_print(&a, &res);
	free(fds);
	free(res.round_ms);
	return rc == 0 ? 0 : 1;
}
