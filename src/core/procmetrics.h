/* procmetrics.h - the process metrics Prometheus client libraries export
 * (process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds), computed when /metrics is scraped.
 */
#ifndef ROOMCAST_PROCMETRICS_H
#define ROOMCAST_PROCMETRICS_H

/* Notes the start time and registers the collector with metrics.c. */
void procmetrics_init(void);

#endif
