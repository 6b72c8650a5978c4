/* What one queue key wants, rendered from the caches: the reading half of a reconcile, shared by the reconcile
 * itself (sync.c) and by the check a new policy must pass before it replaces the running one (policy_reload.c).
 * Internal to the daemon's modules. */
#ifndef FLINKOP_DESIRED_H
#define FLINKOP_DESIRED_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "render.h"

struct daemon;
struct policy;

enum desired_outcome {
    DESIRED_PLAN,   /* r holds the policy's answer (r.objects NULL: "no plan", leave the objects as they are) */
    DESIRED_SKIP,   /* nothing to decide: namespace gone or terminating, resource being deleted, kind not handled */
    DESIRED_GONE,   /* the resource was deleted: what it owns is no longer wanted */
    DESIRED_FAILED, /* the policy failed or its answer was refused: err says why; change nothing */
};

struct desired {
    enum desired_outcome outcome;
    const cJSON *resource;  /* the Flink resource or Namespace decided about; borrowed from the cache or `made` */
    cJSON *made;            /* a Namespace object synthesised in namespaced scope; owned */
    const char *policy;     /* "rbac.lua" or "reconcile.lua", for metrics and logs */
    struct render_result r;
};

/* Renders queue key ("Namespace/name" or "Kind/ns/name") with policy p against the caches. Always fills *out;
 * free it with desired_free. */
void desired_render(struct daemon *d, struct policy *p, const char *key, struct desired *out, char *err,
                    size_t errlen);
void desired_free(struct desired *ds);

/* Whether the list `objects` holds an object of live's kind, namespace and name. */
int desired_contains(const cJSON *objects, const cJSON *live);

/* Whether obj carries our owner annotation with the value owner ("FlinkDeployment/ns/name", ...). */
int desired_owned_by(const cJSON *obj, const char *owner);

#endif
