#include "desired.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon_state.h"
#include "finalizer.h"
#include "object.h"

int desired_owned_by(const cJSON *obj, const char *owner)
{
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(obj, "metadata"), "annotations");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(ann, OBJECT_OWNER_ANNOTATION);
    return cJSON_IsString(key) && strcmp(key->valuestring, owner) == 0;
}

int desired_contains(const cJSON *objects, const cJSON *live)
{
    const cJSON *o;
    const char *ns = object_namespace(live) ? object_namespace(live) : "";
    cJSON_ArrayForEach(o, objects)
    {
        if (strcmp(object_kind(o), object_kind(live)) == 0 && strcmp(object_name(o), object_name(live)) == 0 &&
            strcmp(object_namespace(o) ? object_namespace(o) : "", ns) == 0)
            return 1;
    }
    return 0;
}

/* {FlinkDeployment: [names], FlinkSessionJob: [names]} of namespace ns, from the caches. */
struct inventory_walk {
    const char *ns;
    cJSON *list;
};

static void inventory_add(void *ud, const cJSON *obj)
{
    struct inventory_walk *iw = ud;
    if (object_namespace(obj) && strcmp(object_namespace(obj), iw->ns) == 0)
        cJSON_AddItemToArray(iw->list, cJSON_CreateString(object_name(obj)));
}

static cJSON *namespace_inventory(struct daemon *d, const char *ns)
{
    cJSON *inv = cJSON_CreateObject();
    for (size_t i = 0; i < d->informer_count; i++) {
        const char *kind = informer_kind(d->informers[i])->kind;
        if (strcmp(kind, "FlinkDeployment") != 0 && strcmp(kind, "FlinkSessionJob") != 0)
            continue;
        cJSON *list = cJSON_GetObjectItemCaseSensitive(inv, kind);
        if (list == NULL)
            list = cJSON_AddArrayToObject(inv, kind);
        struct inventory_walk iw = {ns, list};
        cache_each(informer_cache(d->informers[i]), inventory_add, &iw);
    }
    return inv;
}

/* Whether namespace ns is going: Terminating, or marked for deletion. */
static int namespace_going(const cJSON *ns)
{
    const char *phase = object_string_at(ns, "status.phase");
    return (phase && strcmp(phase, "Terminating") == 0) ||
           cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(ns, "metadata"), "deletionTimestamp") != NULL;
}

static void namespace_render(struct daemon *d, struct policy *p, const char *name, struct desired *out, char *err,
                             size_t errlen)
{
    const cJSON *ns = daemon_lookup(d, "Namespace", NULL, name, NULL);
    out->policy = "rbac.lua";
    if (ns == NULL && d->watch == NULL)
        return; /* gone: its objects went with it */
    if (ns == NULL) {
        /* Namespaced scope cannot read Namespace objects; a watched name is all we know. */
        cJSON *made = out->made = cJSON_CreateObject();
        cJSON_AddStringToObject(made, "apiVersion", "v1");
        cJSON_AddStringToObject(made, "kind", "Namespace");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(made, "metadata"), "name", name);
        ns = made;
    }
    if (namespace_going(ns))
        return; /* never hold up a namespace's deletion */
    out->resource = ns;
    cJSON *inventory = namespace_inventory(d, name);
    out->outcome = render_namespace(p, ns, d->ctx, inventory, &out->r, err, errlen) == 0 ? DESIRED_PLAN
                                                                                        : DESIRED_FAILED;
    cJSON_Delete(inventory);
}

struct observed_walk {
    const char *owner;
    cJSON *into;
};

static void observed_add(void *ud, const cJSON *obj)
{
    struct observed_walk *ow = ud;
    char key[300];
    if (!desired_owned_by(obj, ow->owner))
        return;
    snprintf(key, sizeof key, "%s/%s", object_kind(obj), object_name(obj));
    cJSON_AddItemToObject(ow->into, key, cJSON_Duplicate(obj, 1));
}

/* observed.objects: what we own for this key now, keyed "Kind/name" (docs/policy-api.md). */
static cJSON *observed_objects(struct daemon *d, const char *owner)
{
    cJSON *observed = cJSON_CreateObject();
    struct observed_walk ow = {owner, cJSON_AddObjectToObject(observed, "objects")};
    for (size_t i = 0; i < d->informer_count; i++)
        if (informer_kind(d->informers[i])->ownable)
            cache_each(informer_cache(d->informers[i]), observed_add, &ow);
    return observed;
}

/* observed.session_cluster: whether the session FlinkDeployment a FlinkSessionJob names exists, and its
 * status.jobManagerDeploymentStatus; upstream reconciles a session job only once that is READY. */
static void observed_session_cluster(struct daemon *d, const cJSON *resource, const char *ns, cJSON *observed)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(resource, "spec"), "deploymentName");
    if (!cJSON_IsString(name))
        return; /* the policy's validation says so */
    const cJSON *fd = daemon_lookup(d, "FlinkDeployment", ns, name->valuestring, NULL);
    cJSON *sc = cJSON_AddObjectToObject(observed, "session_cluster");
    cJSON_AddBoolToObject(sc, "found", fd != NULL);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(fd, "status"), "jobManagerDeploymentStatus");
    if (cJSON_IsString(st))
        cJSON_AddStringToObject(sc, "jobManagerDeploymentStatus", st->valuestring);
}

/* observed.flink: what the Flink observer last saw of this FlinkDeployment's JobManager, which it polls while the
 * JobManager Deployment exists; a FlinkSessionJob sees its session cluster's (which that cluster's reconciles
 * keep polled). Absent until a first answer (and in `plan`, which asks no JobManager). */
static void observed_flink(struct daemon *d, const cJSON *resource, const char *key, const char *kind,
                           const char *ns, const char *name, cJSON *observed)
{
    char dep[300], cluster[600];
    if (strcmp(kind, "FlinkSessionJob") == 0)
        observed_session_cluster(d, resource, ns, observed);
    if (d->flink && strcmp(kind, "FlinkSessionJob") == 0 &&
        flink_observer_cluster_key(resource, cluster, sizeof cluster) == 0) {
        cJSON *flink = flink_observer_get(d->flink, cluster);
        if (flink)
            cJSON_AddItemToObject(observed, "flink", flink);
        return;
    }
    if (d->flink == NULL || strcmp(kind, "FlinkDeployment") != 0)
        return;
    snprintf(dep, sizeof dep, "Deployment/%s", name);
    int exists = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(observed, "objects"), dep) != NULL;
    flink_observer_track(d->flink, key, ns, name, exists);
    cJSON *flink = flink_observer_get(d->flink, key);
    if (flink)
        cJSON_AddItemToObject(observed, "flink", flink);
}

static void resource_render(struct daemon *d, struct policy *p, const char *key, const char *kind, const char *ns,
                            const char *name, struct desired *out, char *err, size_t errlen)
{
    const cJSON *resource = daemon_lookup(d, kind, ns, name, NULL);
    out->policy = "reconcile.lua";
    if (resource == NULL) {
        if (d->flink)
            flink_observer_track(d->flink, key, ns, name, 0);
        out->outcome = DESIRED_GONE;
        return;
    }
    /* Being deleted: decided about once more while our finalizer holds it (the cleanup), else left alone. In a
     * namespace that is going, nothing is made any more: its resources are about to be deleted (and cleaned up). */
    if (finalizer_deleting(resource) && !finalizer_present(resource))
        return;
    const cJSON *home = daemon_lookup(d, "Namespace", NULL, ns, NULL);
    if (!finalizer_deleting(resource) && home && namespace_going(home))
        return;
    out->resource = resource;
    cJSON *observed = observed_objects(d, key);
    observed_flink(d, resource, key, kind, ns, name, observed);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = render_resource(p, resource, observed, d->ctx, &out->r, err, errlen);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    metrics_histogram_observe(d->metrics, "flinkop_policy_evaluation_seconds", NULL, NULL,
                              (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    cJSON_Delete(observed);
    out->outcome = rc == 0 ? DESIRED_PLAN : rc == 1 ? DESIRED_SKIP : DESIRED_FAILED;
}

/* ctx.now is the time of the call (docs/policy-api.md): a policy measures durations with it. */
static void ctx_now_refresh(cJSON *ctx)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *s = cJSON_CreateString(stamp);
    if (s && !cJSON_ReplaceItemInObjectCaseSensitive(ctx, "now", s))
        cJSON_Delete(s);
}

void desired_render(struct daemon *d, struct policy *p, const char *key, struct desired *out, char *err,
                    size_t errlen)
{
    char kind[64], ns[256], name[256];
    *out = (struct desired){.outcome = DESIRED_SKIP, .r = {.requeue_after = -1}};
    ctx_now_refresh(d->ctx);
    if (sscanf(key, "Namespace/%255[^/]", name) == 1) {
        namespace_render(d, p, name, out, err, errlen);
    } else if (sscanf(key, "%63[^/]/%255[^/]/%255[^/]", kind, ns, name) == 3) {
        resource_render(d, p, key, kind, ns, name, out, err, errlen);
    } else {
        snprintf(err, errlen, "unknown queue key \"%s\"", key);
        out->outcome = DESIRED_FAILED;
    }
}

void desired_free(struct desired *ds)
{
    if (ds->outcome == DESIRED_PLAN)
        render_result_free(&ds->r);
    cJSON_Delete(ds->made);
    ds->made = NULL;
}
