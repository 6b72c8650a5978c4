#include "render.h"

#include <stdio.h>
#include <string.h>

#include "object.h"

void render_result_free(struct render_result *r)
{
    cJSON_Delete(r->objects);
    cJSON_Delete(r->status);
    cJSON_Delete(r->events);
    *r = (struct render_result){.requeue_after = -1};
}

/* Checks every object of a policy's list and stamps it. An empty Lua table arrives as an empty JSON object and
 * means an empty list. On success *list is an array the caller owns. */
static int objects_accept(cJSON **list, const char *ns, int allow_cluster, const char *owner, char *err,
                          size_t errlen)
{
    char why[512];
    if (cJSON_IsObject(*list) && (*list)->child == NULL) {
        cJSON_Delete(*list);
        *list = cJSON_CreateArray();
        if (*list == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        return 0;
    }
    if (!cJSON_IsArray(*list)) {
        snprintf(err, errlen, "must return a list of objects");
        return -1;
    }
    for (cJSON *obj = (*list)->child; obj; obj = obj->next) {
        if (object_check_and_stamp(obj, ns, allow_cluster, owner, why, sizeof why) != 0) {
            snprintf(err, errlen, "refused: %s", why);
            return -1;
        }
    }
    return 0;
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
    char owner[300], why[1024];
    const char *name = object_name(ns);
    *out = (struct render_result){.requeue_after = -1};
    if (name == NULL || ctx_set(ctx, "flink_resources", inventory) != 0) {
        snprintf(err, errlen, "rbac.lua: namespace(): %s", name ? "out of memory" : "namespace without a name");
        return -1;
    }
    const cJSON *args[] = {ns, ctx};
    int rc = policy_call(p, "rbac", "namespace", args, 2, &out->objects, why, sizeof why);
    cJSON_DeleteItemFromObjectCaseSensitive(ctx, "flink_resources");
    if (rc != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    snprintf(owner, sizeof owner, "Namespace/%s", name);
    if (objects_accept(&out->objects, name, 0, owner, why, sizeof why) != 0) {
        snprintf(err, errlen, "rbac.lua: namespace(%s): %s", name, why);
        render_result_free(out);
        return -1;
    }
    return 0;
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
    const cJSON *requeue = cJSON_GetObjectItemCaseSensitive(result, "requeue_after");
    if (cJSON_IsNumber(requeue) && requeue->valuedouble >= 0)
        out->requeue_after = requeue->valuedouble;
    cJSON_Delete(result);

    const char *problem = NULL;
    if (out->status && !cJSON_IsObject(out->status))
        problem = "status must be a table";
    else if (out->events && !cJSON_IsArray(out->events) && !(cJSON_IsObject(out->events) && !out->events->child))
        problem = "events must be a list";
    if (problem == NULL && out->objects &&
        objects_accept(&out->objects, object_namespace(resource), 0, owner, why, sizeof why) != 0)
        problem = why;
    if (problem) {
        snprintf(err, errlen, "reconcile.lua: %s(%s): %s", fn, owner, problem);
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
    if (objects_accept(&out->objects, NULL, 1, "operator", why, sizeof why) != 0) {
        snprintf(err, errlen, "rbac.lua: operator(): %s", why);
        render_result_free(out);
        return -1;
    }
    return 0;
}
