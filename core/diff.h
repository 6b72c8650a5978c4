/* Whether an object in the cluster already is what a policy wants, so the operator can skip the write. */
#ifndef FLINKOP_DIFF_H
#define FLINKOP_DIFF_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* True when every field `desired` sets has the same value in `live`: objects compare key by key (live may hold
 * more: defaults the API server filled in), arrays element by element with the same length, scalars exactly; an
 * empty list or map live lacks is no difference (the API server omits empty ones).
 * This is what server-side apply would leave unchanged for the fields we manage. */
int diff_satisfied(const cJSON *desired, const cJSON *live);

/* Writes the dotted path of the first field where `live` differs from `desired` ("spec.replicas",
 * "spec.template.spec.containers[0].image") into buf. Returns 1 when there is a difference, 0 when satisfied. */
int diff_first(const cJSON *desired, const cJSON *live, char *buf, size_t buflen);

/* Calls report for every field where live differs from desired, with its path and both values (live NULL when it
 * lacks the field; an array of another length is one difference at the array's path). Returns how many. */
typedef void (*diff_report_fn)(void *ud, const char *path, const cJSON *desired, const cJSON *live);
int diff_each(const cJSON *desired, const cJSON *live, diff_report_fn report, void *ud);

#endif
