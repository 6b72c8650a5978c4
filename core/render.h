/* One policy call and the checks on its answer, shared by the dry-run, the daemon and `plan`: the policy decides,
 * this module makes sure what it decided is something the core may act on. */
#ifndef FLINKOP_RENDER_H
#define FLINKOP_RENDER_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "policy.h"

/* A checked answer. Every member is owned by the result (free with render_result_free). */
struct render_result {
    cJSON *objects;       /* desired objects, checked and stamped; NULL means "no plan: leave everything" */
    cJSON *status;        /* reconcile only: the new status, or NULL */
    cJSON *events;        /* reconcile only: array of {type, reason, message}, or NULL */
    double requeue_after; /* reconcile only: seconds, or < 0 when the policy did not say */
    cJSON *actions;       /* reconcile only: array of Flink REST actions (flink_observer.h), or NULL */
    int remove_finalizer; /* reconcile only: the cleanup of a resource being deleted is done (finalizer.h) */
};

void render_result_free(struct render_result *r);

struct rbac_ceiling;

/* The RBAC ceiling every Role and RoleBinding of a namespace() or reconcile() answer is held to (docs/policy-api.md,
 * "The RBAC ceiling"). By default what rbac.operator(ctx) grants the operator, worked out on the first call that
 * needs it and kept with the policy. render_use_ceiling makes p use `c` instead (p owns it from then on; NULL goes
 * back to the default); render_use_ceiling_file reads it from a file (rbac_ceiling_load_file) and returns 0, or -1
 * with the reason in err. */
void render_use_ceiling(struct policy *p, struct rbac_ceiling *c);
int render_use_ceiling_file(struct policy *p, const char *path, char *err, size_t errlen);

/* rbac.namespace(ns, ctx) with ctx.flink_resources set to `inventory` ({FlinkDeployment: [...], ...}). The owner
 * key stamped on objects is "Namespace/<name>". Returns 0, or -1 with the reason in err (the policy failed, or
 * its answer was refused: nothing of it may be applied). A refusal names the policy line that made the refused
 * part: "rbac.lua:39: namespace(team-a): refused: Role team-a/flink rule 1: ...". */
int render_namespace(struct policy *p, const cJSON *ns, cJSON *ctx, const cJSON *inventory,
                     struct render_result *out, char *err, size_t errlen);

/* reconcile.reconcile(resource, observed, ctx), or reconcile_session_job for a FlinkSessionJob. The owner key is
 * "Kind/ns/name". Returns 0, 1 when reconcile.lua has no function for this kind (nothing to do), or -1 with the
 * reason in err. */
int render_resource(struct policy *p, const cJSON *resource, const cJSON *observed, const cJSON *ctx,
                    struct render_result *out, char *err, size_t errlen);

/* rbac.operator(ctx): the install objects; cluster-scoped kinds allowed. Owner key "operator". */
int render_operator(struct policy *p, const cJSON *ctx, struct render_result *out, char *err, size_t errlen);

/* The owner key of a Flink resource: "FlinkDeployment/ns/name". Returns 0, or -1 when buf is too small. */
int render_owner_key(const cJSON *resource, char *buf, size_t buflen);

#endif
