/* metrics.c - counters and gauges in Prometheus text format (see metrics.h). */
#include <stdio.h>

#include "metrics.h"

uint64_t metrics_counters[METRICS_N_COUNTERS];
int64_t metrics_gauges[METRICS_N_GAUGES];

size_t metrics_render(char *out, size_t out_len)
{
	size_t n = 0;
	int m;

#define METRICS_PUT(...)                                                  \
	do {                                                              \
		m = snprintf(out + n, out_len - n, __VA_ARGS__);          \
		if (m < 0 || (size_t)m >= out_len - n)                    \
			return 0;                                         \
		n += (size_t)m;                                           \
	} while (0)
#define METRICS_COUNTER(name, help)                                                       \
	METRICS_PUT("# HELP roomcast_" #name " " help "\n# TYPE roomcast_" #name " counter\n" \
		    "roomcast_" #name " %llu\n",                                              \
		    (unsigned long long)metrics_counters[METRIC_##name]);
#define METRICS_GAUGE(name, help)                                                       \
	METRICS_PUT("# HELP roomcast_" #name " " help "\n# TYPE roomcast_" #name " gauge\n" \
		    "roomcast_" #name " %lld\n", (long long)metrics_gauges[GAUGE_##name]);

	METRICS_COUNTERS(METRICS_COUNTER)
	METRICS_GAUGES(METRICS_GAUGE)
#undef METRICS_COUNTER
#undef METRICS_GAUGE
#undef METRICS_PUT
	return n;
}
