/*
 * metrics.h - counters and gauges rendered in the Prometheus text format.
 *
 * A registry belongs to one service and is used from its loop thread only.
 * A metric is a family (name, help, type) with samples keyed by a label set
 * such as `endpoint="add"`. Slot pointers stay valid until metrics_free, so
 * hot paths keep the pointer and just increment it.
 */
#ifndef LB_METRICS_H
#define LB_METRICS_H

#include <stddef.h>

#include "errors.h"

struct metrics;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE };

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/*
 * The value slot of `name{labels}` (labels in Prometheus syntax without the
 * braces, "" for none), created at 0 on first use. The family's help and
 * type are fixed by its first call. Returns NULL when out of memory, or when
 * `name` is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) or `labels`
 * is not a valid label set (name="value" pairs, values escaped as \\, \" and
 * \n); an invalid name or label set registers nothing.
 */
double *metrics_slot(struct metrics *m, enum metric_type type, const char *name, const char *help,
                     const char *labels);

/* Renders every family, in registration order; *ret_text is malloc'd. */
enum lb_err metrics_render(const struct metrics *m, char **ret_text, size_t *ret_len);

#endif
