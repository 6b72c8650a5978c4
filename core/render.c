#include "render.h"

#include <stdio.h>
#include <string.h>

#include "flink_observer.h"
#include "object.h"
#include "rbac_ceiling.h"

void render_result_free(struct render_result *r)
{
    cJSON_Delete(r->objects);
    cJSON_Delete(r->status);
    cJSON_Delete(r->events);
    cJSON_Delete(r->actions);
    *r = (struct render_result){.requeue_after = -1};
}

static void ceiling_free(void *c)
{
    rbac_ceiling_free(c);
}

void render_use_ceiling(struct policy *p, struct rbac_ceiling *c)
{
    policy_attach(p, c, c ? ceiling_free : NULL);
}

int render_use_ceiling_file(struct policy *p, const char *path, char *err, size_t errlen)
{
    struct rbac_ceiling *c = rbac_ceiling_load_file(path, err, errlen);
    if (c == NULL)
        return -1;
    render_use_ceiling(p, c);
    return 0;
}

/* The ceiling p's answers are held to: the one set with render_use_ceiling, else what rbac.operator(ctx) grants
 * the operator, worked out now and kept with the policy (its answer depends only on the policy and the scope). */
static const struct rbac_ceiling *ceiling_of(struct policy *p, const cJSON *ctx, char *err, size_t errlen)
{
    struct rbac_ceiling *c = policy_attached(p);
    struct render_result install;
    char why[1024];
    if (c != NULL)
        return c;
    if (render_operator(p, ctx, &install, why, sizeof why) != 0) {
        snprintf(err, errlen, "the RBAC ceiling is what rbac.operator() grants, and it failed: %.900s", why);
        return NULL;
    }
    c = rbac_ceiling_from_install(install.objects, "the operator's own rules, from rbac.lua operator()", why,
                                  sizeof why);
    render_result_free(&install);
    if (c == NULL) {
        snprintf(err, errlen, "the RBAC ceiling from rbac.operator(): %.900s", why);
        return NULL;
    }
    render_use_ceiling(p, c);
    return c;
}

/* Whether an answer holds an object the ceiling checks. */
static int answer_has_rbac(const cJSON *list)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, list)
    {
        const char *kind = object_kind(o);
        if (kind && (strcmp(kind, "Role") == 0 || strcmp(kind, "RoleBinding") == 0))
            return 1;
    }
    return 0;
}

/* A refused answer: why, and where in it, as a policy_locate path with the value found there. */
struct refusal {
    char why[1024];
    char path[128];
    const cJSON *at;
};

/* Points the refusal at `below` (a path inside object `index`, 1-based; "" for the object) of list `base`. */
static void refusal_at(struct refusal *r, const char *base, long index, const char *below, const cJSON *at)
{
    snprintf(r->path, sizeof r->path, "%s%s%ld%s%s", base, *base ? "." : "", index, *below ? "." : "", below);
    r->at = at;
}

/* Checks every object of a policy's list and stamps it, then holds its Roles and RoleBindings to the ceiling (when
 * given). An empty Lua table arrives as an empty JSON object and means an empty list. `base` is the list's path in
 * the answer. On success *list is an array the caller owns. */
static int objects_accept(cJSON **list, const char *ns, int allow_cluster, const char *owner,
                          const struct rbac_ceiling *ceiling, const char *base, struct refusal *r)
{
    char why[512];
    long i = 0;
    *r = (struct refusal){.at = NULL};
    snprintf(r->path, sizeof r->path, "%s", base);
    if (cJSON_IsObject(*list) && (*list)->child == NULL) {
        cJSON_Delete(*list);
        *list = cJSON_CreateArray();
        if (*list == NULL) {
            snprintf(r->why, sizeof r->why, "out of memory");
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsArray(*list)) {
        snprintf(r->why, sizeof r->why, "must return a list of objects");
        return -1;
    }
    for (cJSON *obj = (*list)->child; obj; obj = obj->next) {
        i++;
        if (object_check_and_stamp(obj, ns, allow_cluster, owner, why, sizeof why) != 0) {
            const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(metadata, "name");
            int named = cJSON_IsString(name);
            snprintf(r->why, sizeof r->why, "refused: %s", why);
            refusal_at(r, base, i, named ? "metadata.name" : "", named ? name : NULL);
            return -1;
        }
    }
    i = 0;
    for (const cJSON *obj = (*list)->child; ceiling && obj; obj = obj->next) {
        struct rbac_finding f;
        i++;
        if (rbac_ceiling_check_object(ceiling, obj, *list, &f) != 0) {
            snprintf(r->why, sizeof r->why, "refused: %s", f.why);
            refusal_at(r, base, i, f.path, f.at);
            return -1;
        }
    }
    return 0;
}

/* Writes "<file:line>: <call>: <why>" for a refused answer, the line found by calling the policy again
 * (policy_locate); "<module>.lua: ..." when no line is known. */
static void refusal_report(struct policy *p, const char *module, const char *fn, const cJSON *const *args,
                           int nargs, const struct refusal *r, const char *call, char *err, size_t errlen)
{
    char where[300];
    if (policy_locate(p, module, fn, args, nargs, r->path, r->at, where, sizeof where) != 0)
        snprintf(where, sizeof where, "%s.lua", module);
    snprintf(err, errlen, "%s: %s: %s", where, call, r->why);
}

static int ctx_set(cJSON *ctx, const char *key, const cJSON *value)
{
    cJSON *copy = cJSON_Duplicate(value, 1);
    if (copy == NULL)
        return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, key);
    return cJSON_AddItemToObject(ctx, key, copy) ? 0 : (cJSON_Delete(copy), -1);
}

int render_namespace(struct policy *p, const cJSON *ns, cJSON *ctx, const cJSON *inventory,
                     struct render_result *out, char *err, size_t errlen)
{
    char owner[300], call[300], why[1024];
    struct refusal refused;
    const char *name = object_name(ns);
    *out = (struct render_result){.requeue_after = -1};
    if (name == NULL) {
        snprintf(err, errlen, "rbac.lua: namespace(): namespace without a name");
        return -1;
    }
    const struct rbac_ceiling *ceiling = ceiling_of(p, ctx, why, sizeof why);
    if (ceiling == NULL || ctx_set(ctx, "flink_resources", inventory) != 0) {
        snprintf(err, errlen, "rbac.lua: namespace(%s): %s", name, ceiling ? "out of memory" : why);
        return -1;
    }
    const cJSON *args[] = {ns, ctx};
    int rc = policy_call(p, "rbac", "namespace", args, 2, &out->objects, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "%s", why);
    } else {
        snprintf(owner, sizeof owner, "Namespace/%s", name);
        if (objects_accept(&out->objects, name, 0, owner, ceiling, "", &refused) != 0) {
            snprintf(call, sizeof call, "namespace(%s)", name);
            refusal_report(p, "rbac", "namespace", args, 2, &refused, call, err, errlen);
            render_result_free(out);
            rc = -1;
        }
    }
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "flink_resources");
    return rc;
}

int render_owner_key(const cJSON *resource, char *buf, size_t buflen)
{
    const char *kind = object_kind(resource), *ns = object_namespace(resource), *name = object_name(resource);
    int n = snprintf(buf, buflen, "%s/%s/%s", kind ? kind : "", ns ? ns : "", name ? name : "");
    return n < 0 || (size_t)n >= buflen ? -1 : 0;
}

/* Moves member `key` of `from` into *to (absent or null leaves *to NULL). */
static void member_take(cJSON *from, const char *key, cJSON **to)
{
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(from, key);
    if (cJSON_IsNull(v)) {
        cJSON_Delete(v);
        v = NULL;
    }
    *to = v;
}

/* result.actions: a list (an empty table is an empty list) of actions the Flink observer can perform. */
static int actions_check(cJSON **actions, char *err, size_t errlen)
{
    char why[256];
    int i = 0;
    const cJSON *a;
    if (*actions == NULL || (cJSON_IsObject(*actions) && (*actions)->child == NULL)) {
        cJSON_Delete(*actions);
        *actions = NULL;
        return 0;
    }
    if (!cJSON_IsArray(*actions)) {
        snprintf(err, errlen, "actions must be a list");
        return -1;
    }
    cJSON_ArrayForEach(a, *actions)
    {
        i++;
        if (flink_observer_action_check(a, why, sizeof why) != 0) {
            snprintf(err, errlen, "actions[%d]: %s", i, why);
            return -1;
        }
    }
    return 0;
}

int render_resource(struct policy *p, const cJSON *resource, const cJSON *observed, const cJSON *ctx,
                    struct render_result *out, char *err, size_t errlen)
{
    char owner[400], why[1024];
    const char *kind = object_kind(resource);
    const char *fn = kind && strcmp(kind, "FlinkDeployment") == 0 ? "reconcile" : "reconcile_session_job";
    *out = (struct render_result){.requeue_after = -1};
    if (render_owner_key(resource, owner, sizeof owner) != 0) {
        snprintf(err, errlen, "reconcile.lua: resource name too long");
        return -1;
    }
    if (!policy_has(p, "reconcile", fn))
        return 1;
    cJSON *result = NULL;
    const cJSON *args[] = {resource, observed, ctx};
    if (policy_call(p, "reconcile", fn, args, 3, &result, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    if (!cJSON_IsObject(result)) {
        snprintf(err, errlen, "reconcile.lua: %s(%s): must return a table {objects, status, events, requeue_after}",
                 fn, owner);
        cJSON_Delete(result);
        return -1;
    }
    member_take(result, "objects", &out->objects);
    member_take(result, "status", &out->status);
    member_take(result, "events", &out->events);
    member_take(result, "actions", &out->actions);
    out->remove_finalizer = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "remove_finalizer"));
    const cJSON *requeue = cJSON_GetObjectItemCaseSensitive(result, "requeue_after");
    if (cJSON_IsNumber(requeue) && requeue->valuedouble >= 0)
        out->requeue_after = requeue->valuedouble;
    cJSON_Delete(result);

    const char *problem = NULL;
    const struct rbac_ceiling *ceiling = NULL;
    if (out->status && !cJSON_IsObject(out->status))
        problem = "status must be a table";
    else if (out->events && !cJSON_IsArray(out->events) && !(cJSON_IsObject(out->events) && !out->events->child))
        problem = "events must be a list";
    else if (actions_check(&out->actions, why, sizeof why) != 0)
        problem = why;
    else if (answer_has_rbac(out->objects) && (ceiling = ceiling_of(p, ctx, why, sizeof why)) == NULL)
        problem = why;
    if (problem) {
        snprintf(err, errlen, "reconcile.lua: %s(%s): %s", fn, owner, problem);
        render_result_free(out);
        return -1;
    }
    struct refusal refused;
    if (out->objects &&
        objects_accept(&out->objects, object_namespace(resource), 0, owner, ceiling, "objects", &refused) != 0) {
        char call[500];
        snprintf(call, sizeof call, "%s(%s)", fn, owner);
        refusal_report(p, "reconcile", fn, args, 3, &refused, call, err, errlen);
        render_result_free(out);
        return -1;
    }
    return 0;
}

int render_operator(struct policy *p, const cJSON *ctx, struct render_result *out, char *err, size_t errlen)
{
    char why[1024];
    const cJSON *args[] = {ctx};
    *out = (struct render_result){.requeue_after = -1};
    if (policy_call(p, "rbac", "operator", args, 1, &out->objects, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    struct refusal refused;
    if (objects_accept(&out->objects, NULL, 1, "operator", NULL, "", &refused) != 0) {
        refusal_report(p, "rbac", "operator", args, 1, &refused, "operator()", err, errlen);
        render_result_free(out);
        return -1;
    }
    return 0;
}
