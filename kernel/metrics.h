/*
 * metrics.h — the kernel's metrics registry: counters, gauges and
 * histograms registered by name + labels, updated lock-free from any
 * thread, rendered in the Prometheus text exposition format (0.0.4).
 */
#ifndef KEEL_KERNEL_METRICS_H
#define KEEL_KERNEL_METRICS_H

#include <keel/keel.h>

typedef struct metrics_registry metrics_registry_t;

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type_t;

metrics_registry_t *metrics_new(void);
void metrics_free(metrics_registry_t *reg);

/*
 * Registers (or finds) a metric. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*;
 * `labels` is NULL/"" or `k="v",k2="v2"` (label names [a-zA-Z_][a-zA-Z0-9_]*,
 * values with \" \\ \n escaped). The same name+labels returns the same
 * metric; the same name with another type or (for histograms) other bounds
 * is KEEL_EINVAL. Thread-safe. Returns 0, KEEL_EINVAL or KEEL_ENOMEM.
 */
int metrics_register(metrics_registry_t *reg, metric_type_t type, const char *name,
                     const char *help, const char *labels, const double *bounds, size_t bound_count,
                     keel_metric_t **out);

void metrics_add(keel_metric_t *metric, double value);     /* counter: value >= 0 */
void metrics_set(keel_metric_t *metric, double value);     /* gauge */
void metrics_observe(keel_metric_t *metric, double value); /* histogram */
double metrics_value(const keel_metric_t *metric);         /* counter/gauge; tests */

/* Renders all metrics, grouped by name (one HELP/TYPE per name), names in
 * registration order. *out is malloc'd and NUL-terminated. 0 or KEEL_ENOMEM. */
int metrics_render(metrics_registry_t *reg, char **out, size_t *len);

#endif
