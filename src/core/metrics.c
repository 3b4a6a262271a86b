/* metrics.c - counters, gauges, labelled families, a histogram and the
 * collectors of other modules, in Prometheus text format (see metrics.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "metrics.h"
#include "version.h"

uint64_t metrics_counters[METRICS_N_COUNTERS];
int64_t metrics_gauges[METRICS_N_GAUGES];

static const struct metrics_family *metrics_families[METRICS_MAX_FAMILIES];
static size_t metrics_n_families;
static struct metrics_histogram *metrics_hist;
static void (*metrics_collectors[METRICS_MAX_COLLECTORS])(struct metrics_writer *w);
static size_t metrics_n_collectors;

void metrics_family_register(const struct metrics_family *f)
{
	if (metrics_n_families < METRICS_MAX_FAMILIES)
		metrics_families[metrics_n_families++] = f;
}

void metrics_histogram_register(struct metrics_histogram *h)
{
	metrics_hist = h;
}

void metrics_collector_register(void (*collect)(struct metrics_writer *w))
{
	for (size_t i = 0; i < metrics_n_collectors; i++) {
		if (metrics_collectors[i] == collect)
			return;
	}
	if (metrics_n_collectors < METRICS_MAX_COLLECTORS)
		metrics_collectors[metrics_n_collectors++] = collect;
}

void metrics_histogram_observe(struct metrics_histogram *h, double v)
{
	size_t i = 0;

	while (i < h->n && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->sum += v;
	h->count++;
}

void metrics_printf(struct metrics_writer *w, const char *fmt, ...)
{
	va_list ap;

	if (w->overflow)
		return;
	va_start(ap, fmt);
	int m = vsnprintf(w->out + w->len, w->cap - w->len, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)m >= w->cap - w->len) {
		w->overflow = true;
		return;
	}
	w->len += (size_t)m;
}

void metrics_label(struct metrics_writer *w, const char *value, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = value[i];
		if (c == '\\' || c == '"')
			metrics_printf(w, "\\%c", c);
		else if (c == '\n')
			metrics_printf(w, "\\n");
		else
			metrics_printf(w, "%c", c);
	}
}

static void metrics_render_histogram(struct metrics_writer *w, const struct metrics_histogram *h)
{
	uint64_t cumulative = 0;

	metrics_printf(w, "# HELP roomcast_%s %s\n# TYPE roomcast_%s histogram\n", h->name, h->help,
		       h->name);
	for (size_t i = 0; i < h->n; i++) {
		cumulative += h->counts[i];
		metrics_printf(w, "roomcast_%s_bucket{le=\"%g\"} %llu\n", h->name, h->bounds[i],
			       (unsigned long long)cumulative);
	}
	metrics_printf(w, "roomcast_%s_bucket{le=\"+Inf\"} %llu\nroomcast_%s_sum %.6f\n"
		       "roomcast_%s_count %llu\n", h->name, (unsigned long long)h->count, h->name,
		       h->sum, h->name, (unsigned long long)h->count);
}

size_t metrics_render(char *out, size_t out_len)
{
	struct metrics_writer w = { out, 0, out_len, false };

#define METRICS_COUNTER(name, help)                                                       \
	metrics_printf(&w, "# HELP roomcast_" #name " " help "\n# TYPE roomcast_" #name    \
		       " counter\nroomcast_" #name " %llu\n",                                  \
		       (unsigned long long)metrics_counters[METRIC_##name]);
#define METRICS_GAUGE(name, help)                                                       \
	metrics_printf(&w, "# HELP roomcast_" #name " " help "\n# TYPE roomcast_" #name  \
		       " gauge\nroomcast_" #name " %lld\n", (long long)metrics_gauges[GAUGE_##name]);

	metrics_printf(&w, "# HELP roomcast_build_info the running roomcastd's version\n"
		       "# TYPE roomcast_build_info gauge\nroomcast_build_info{version=\"%s\"} 1\n",
		       ROOMCAST_VERSION);
	METRICS_COUNTERS(METRICS_COUNTER)
	METRICS_GAUGES(METRICS_GAUGE)
	for (size_t i = 0; i < metrics_n_families; i++) {
		const struct metrics_family *f = metrics_families[i];
		metrics_printf(&w, "# HELP roomcast_%s %s\n# TYPE roomcast_%s counter\n", f->name,
			       f->help, f->name);
		for (size_t k = 0; k < f->n; k++)
			metrics_printf(&w, "roomcast_%s{%s=\"%s\"} %llu\n", f->name, f->label,
				       f->values[k], (unsigned long long)f->counts[k]);
	}
	if (metrics_hist)
		metrics_render_histogram(&w, metrics_hist);
	for (size_t i = 0; i < metrics_n_collectors; i++)
		metrics_collectors[i](&w);
#undef METRICS_COUNTER
#undef METRICS_GAUGE
	return w.overflow ? 0 : w.len;
}
