/* `flinkop plan`: what the daemon would write, collected instead of written, and printed like `kubectl diff`
 * but field by field: creations, changes (each field we manage that differs, with both values) and deletions. */
#ifndef FLINKOP_PLAN_H
#define FLINKOP_PLAN_H

#include <stdio.h>
#include <cjson/cJSON.h>

struct plan;

enum plan_action { PLAN_CREATE, PLAN_UPDATE, PLAN_DELETE, PLAN_CONFLICT };

struct plan *plan_new(void);
void plan_free(struct plan *p);

/* Records one decision about an object: desired is what the policy wants (NULL for a deletion), live what the
 * cluster holds (NULL for a creation). Both are copied. Returns 0, or -1 when out of memory. */
int plan_add(struct plan *p, enum plan_action action, const cJSON *desired, const cJSON *live);

/* Records a failure (a policy error, a refused read) that makes the plan incomplete. */
void plan_error(struct plan *p, const char *what);

/* Prints the plan sorted by namespace, kind and name, then a summary line. Returns the exit status of `plan`:
 * 0 nothing would change, 1 something would, 2 the plan is incomplete (errors were recorded). */
int plan_print(const struct plan *p, FILE *out);

#endif
