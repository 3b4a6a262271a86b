/* metrics.c - counters and gauges in Prometheus text format (see metrics.h). */
#include <stdio.h>

#include "metrics.h"

uint64_t metrics_counters[METRICS_N_COUNTERS];
int64_t metrics_gauges[METRICS_N_GAUGES];

static const struct metrics_family *metrics_families[METRICS_MAX_FAMILIES];
static size_t metrics_n_families;

void metrics_family_register(const struct metrics_family *f)
{
	if (metrics_n_families < METRICS_MAX_FAMILIES)
		metrics_families[metrics_n_families++] = f;
}

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
	for (size_t i = 0; i < metrics_n_families; i++) {
		const struct metrics_family *f = metrics_families[i];
		METRICS_PUT("# HELP roomcast_%s %s\n# TYPE roomcast_%s counter\n", f->name, f->help,
			    f->name);
		for (size_t k = 0; k < f->n; k++)
			METRICS_PUT("roomcast_%s{%s=\"%s\"} %llu\n", f->name, f->label, f->values[k],
				    (unsigned long long)f->counts[k]);
	}
#undef METRICS_COUNTER
#undef METRICS_GAUGE
#undef METRICS_PUT
	return n;
}
