/* procmetrics.c - process metrics for /metrics (see procmetrics.h).
 *
 * Reads only what the process may see of itself under the unit's
 * ProcSubset=pid: getrusage() for CPU, /proc/self/statm for memory,
 * /proc/self/fd for descriptors.  The start time is taken at start-up
 * rather than from /proc/stat's btime, which that sandbox hides.
 */
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "procmetrics.h"

static double procmetrics_start_s;

static long procmetrics_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	long n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

static void procmetrics_gauge(struct metrics_writer *w, const char *name, const char *help,
			      double value)
{
	metrics_printf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, value);
}

static void procmetrics_collect(struct metrics_writer *w)
{
	struct rusage ru;
	struct rlimit rl;
	unsigned long pages_virt, pages_rss;
	long page = sysconf(_SC_PAGESIZE), fds = procmetrics_open_fds();
	FILE *f = fopen("/proc/self/statm", "r");

	if (getrusage(RUSAGE_SELF, &ru) == 0)
		metrics_printf(w, "# HELP process_cpu_seconds_total user and system CPU time spent\n"
			       "# TYPE process_cpu_seconds_total counter\n"
			       "process_cpu_seconds_total %.6f\n",
			       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
				       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	if (f && fscanf(f, "%lu %lu", &pages_virt, &pages_rss) == 2) {
		procmetrics_gauge(w, "process_virtual_memory_bytes", "virtual memory size",
				  (double)pages_virt * (double)page);
		procmetrics_gauge(w, "process_resident_memory_bytes", "resident memory size",
				  (double)pages_rss * (double)page);
	}
	if (f)
		fclose(f);
	if (fds >= 0)
		procmetrics_gauge(w, "process_open_fds", "open file descriptors", (double)fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		procmetrics_gauge(w, "process_max_fds", "the open file descriptor limit",
				  (double)rl.rlim_cur);
	procmetrics_gauge(w, "process_start_time_seconds",
			  "start time of the process since the epoch, in seconds", procmetrics_start_s);
}

void procmetrics_init(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	procmetrics_start_s = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	metrics_collector_register(procmetrics_collect);
}
