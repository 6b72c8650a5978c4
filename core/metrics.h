/* A registry of counters, gauges and histograms with labels, rendered in the Prometheus text format 0.0.4.
 *
 * Labels are a NULL-terminated array of name, value strings (NULL itself for none), e.g.
 *     metrics_counter_add(m, "flinkop_reconciles_total", "Reconciles finished.",
 *                         (const char *[]){"kind", "FlinkDeployment", "result", "ok", NULL}, 1);
 * Label order does not matter: a series is identified by its labels sorted by name. The help text of the first call
 * that creates a family is kept; later calls may pass NULL. All strings are copied.
 *
 * The daemon's families: flinkop_reconciles_total{kind,result}, flinkop_queue_depth,
 * flinkop_api_requests_total{verb,code}, flinkop_watch_restarts_total{resource},
 * flinkop_policy_evaluation_seconds (histogram), flinkop_policy_errors_total{policy},
 * flinkop_policy_reloads_total{result}, flinkop_policy_info{hash}; metrics_render adds
 * process_resident_memory_bytes itself. */
#ifndef FLINKOP_METRICS_H
#define FLINKOP_METRICS_H

#include <stddef.h>

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics;

/* An empty registry, or NULL when out of memory. The caller frees it with metrics_free. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Creates the family (no series yet) so its type and help are fixed up front; a family with no series is not
 * rendered. Histograms get the default buckets (0.0005 s to 10 s). Returns 0, or -1 when the name is not a valid
 * metric name, the family exists with another type, or out of memory. Declaring an existing family of the same
 * type is a no-op. */
int metrics_declare(struct metrics *m, const char *name, enum metrics_type type, const char *help);

/* A histogram with the given upper bounds (strictly increasing, finite; +Inf is implicit), for when the default
 * buckets do not fit. Returns 0, or -1 as metrics_declare or when the family already exists. */
int metrics_declare_histogram(struct metrics *m, const char *name, const char *help, const double *bounds,
                              size_t nbounds);

/* Adds `value` (>= 0: counters never go down) to a counter series, creating family and series as needed.
 * Returns 0, or -1 when a name or label is invalid, value is negative or NaN, the family has another type, or out
 * of memory. Invalid label names: not [a-zA-Z_][a-zA-Z0-9_]*, starting "__", repeated, or "le" on a histogram. */
int metrics_counter_add(struct metrics *m, const char *name, const char *help, const char *const *labels,
                        double value);

/* Sets / adds to a gauge series, as metrics_counter_add (any value). */
int metrics_gauge_set(struct metrics *m, const char *name, const char *help, const char *const *labels,
                      double value);
int metrics_gauge_add(struct metrics *m, const char *name, const char *help, const char *const *labels,
                      double value);

/* Records one observation in a histogram series (_bucket, _sum, _count). Returns 0 or -1 as above. */
int metrics_histogram_observe(struct metrics *m, const char *name, const char *help, const char *const *labels,
                              double value);

/* Drops every series of a family (keeping its type and help), e.g. before setting flinkop_policy_info to a new
 * hash. Unknown names are a no-op. */
void metrics_reset(struct metrics *m, const char *name);

/* The current value of a counter or gauge series (a histogram's count), or NaN when there is no such series. For
 * tests and for the daemon's own checks. */
double metrics_value(const struct metrics *m, const char *name, const char *const *labels);

/* The whole registry as Prometheus text 0.0.4: families sorted by name, each with # HELP and # TYPE, series sorted
 * by their label text. Refreshes process_resident_memory_bytes from /proc/self/statm first (left out where that
 * file cannot be read). Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *metrics_render(struct metrics *m);

#endif
