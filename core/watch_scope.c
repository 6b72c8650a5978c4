/* The namespaces a namespaced-scope daemon watches, changeable while it runs: the policy ConfigMap's
 * `watch-namespaces` key replaces the --watch-namespaces list without a restart. A namespace joining the list
 * gets its informers at once; one leaving it is drained: its informers stay until no Flink resource and no object
 * of ours is left there (rbac.lua keeps a namespace that still holds a FlinkDeployment in scope, so a running
 * JobManager keeps its access), then they go. A watched namespace that refuses the operator (403) is reported
 * once, with the install objects that would grant the access, rendered from rbac.lua's operator(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_state.h"
#include "desired.h"
#include "log.h"
#include "object.h"
#include "render.h"

#define WATCH_KEY "watch-namespaces"

static int list_has(char **list, size_t n, const char *ns)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], ns) == 0)
            return 1;
    return 0;
}

static int list_add(char ***list, size_t *n, const char *ns)
{
    char **grown = realloc(*list, (*n + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    *list = grown;
    if ((grown[*n] = strdup(ns)) == NULL)
        return -1;
    (*n)++;
    return 0;
}

static void list_remove(char **list, size_t *n, size_t at)
{
    free(list[at]);
    memmove(&list[at], &list[at + 1], (*n - at - 1) * sizeof *list);
    (*n)--;
}

int scope_watch_namespace(struct daemon *d, const char *ns, int start)
{
    static const char *const flink[] = {"FlinkDeployment", "FlinkSessionJob"};
    const char *selector = "labelSelector=" OBJECT_MANAGED_BY_LABEL "%3D" OBJECT_MANAGED_BY_VALUE;
    size_t first = d->informer_count;
    for (size_t i = 0; i < 2; i++)
        if (daemon_informer_add(d, kind_lookup(flink[i]), ns, NULL) == NULL)
            return -1;
    const struct kind_info *k;
    for (size_t i = 0; (k = kind_at(i)) != NULL; i++)
        if (k->ownable && daemon_informer_add(d, k, ns, selector) == NULL)
            return -1;
    for (size_t i = first; start && i < d->informer_count; i++)
        informer_start(d->informers[i]);
    return 0;
}

/* Whether namespace ns has informers (watched, or draining). */
static int informed(const struct daemon *d, const char *ns)
{
    for (size_t i = 0; i < d->informer_count; i++) {
        const char *ins = informer_namespace(d->informers[i]);
        if (d->informers[i] != d->policy_informer && ins && strcmp(ins, ns) == 0)
            return 1;
    }
    return 0;
}

/* ctx.watch_namespaces follows the list, so rbac.lua sees the scope it now has. */
static int ctx_rebuild(struct daemon *d)
{
    struct context_opts co = d->o->ctx;
    co.operator_namespace = d->operator_namespace;
    co.dry_run = 0;
    co.watch_namespaces = d->watch;
    co.watch_count = d->watch_count;
    cJSON *ctx = context_new(&co, time(NULL));
    if (ctx == NULL)
        return -1;
    cJSON_Delete(d->ctx);
    d->ctx = ctx;
    return 0;
}

void scope_change(struct daemon *d, const cJSON *configmap)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(configmap, "data");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, WATCH_KEY);
    char **next = NULL, err[256];
    size_t count = 0;
    if (!cJSON_IsString(v))
        return; /* no key: --watch-namespaces stays as given */
    if (d->watch == NULL) {
        log_msg(LOG_LEVEL_WARN, "the policy ConfigMap's " WATCH_KEY " is ignored in cluster scope", NULL);
        return;
    }
    if (context_split_namespaces(v->valuestring, &next, &count, err, sizeof err) != 0) {
        log_msg(LOG_LEVEL_ERROR, "the policy ConfigMap's " WATCH_KEY " is refused; the watch list stays", "error",
                err, NULL);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        if (list_has(d->watch, d->watch_count, next[i]))
            continue;
        for (size_t j = 0; j < d->draining_count; j++)
            if (strcmp(d->draining[j], next[i]) == 0) {
                list_remove(d->draining, &d->draining_count, j); /* back before it was drained: informers live */
                break;
            }
        if (!informed(d, next[i]) && scope_watch_namespace(d, next[i], 1) != 0) {
            log_msg(LOG_LEVEL_ERROR, "cannot watch namespace", "namespace", next[i], "error", "out of memory", NULL);
            continue;
        }
        log_msg(LOG_LEVEL_INFO, "namespace joins the watch list", "namespace", next[i], NULL);
    }
    for (size_t i = 0; i < d->watch_count; i++)
        if (!list_has(next, count, d->watch[i])) {
            log_msg(LOG_LEVEL_INFO, "namespace leaves the watch list; drained once its Flink resources are gone",
                    "namespace", d->watch[i], NULL);
            list_add(&d->draining, &d->draining_count, d->watch[i]);
        }
    context_free_namespaces(d->watch, d->watch_count);
    d->watch = next;
    d->watch_count = count;
    if (ctx_rebuild(d) != 0)
        log_msg(LOG_LEVEL_ERROR, "cannot rebuild ctx", "error", "out of memory", NULL);
    /* The default RBAC ceiling is what operator() grants for the scope: work it out again for the new list. */
    if (d->policy && d->o->rbac_ceiling == NULL)
        render_use_ceiling(d->policy, NULL);
    daemon_requeue_all(d);
}

struct any_walk {
    int found;
};

/* Anything but the operator's own install objects (its Role there), which stay as the install made them. */
static void any_object(void *ud, const cJSON *obj)
{
    if (!desired_owned_by(obj, "operator"))
        ((struct any_walk *)ud)->found = 1;
}

/* Whether the caches of namespace ns still hold anything: a Flink resource or an object a key of ours owns. */
static int namespace_holds_anything(const struct daemon *d, const char *ns)
{
    struct any_walk w = {0};
    for (size_t i = 0; i < d->informer_count && !w.found; i++) {
        const char *ins = informer_namespace(d->informers[i]);
        if (d->informers[i] != d->policy_informer && ins && strcmp(ins, ns) == 0)
            cache_each(informer_cache(d->informers[i]), any_object, &w);
    }
    return w.found;
}

/* Frees the informers of a drained namespace. Only between reconciles: a write in flight may hold one. */
static void namespace_unwatch(struct daemon *d, const char *ns)
{
    size_t kept = 0;
    for (size_t i = 0; i < d->informer_count; i++) {
        const char *ins = informer_namespace(d->informers[i]);
        if (d->informers[i] != d->policy_informer && ins && strcmp(ins, ns) == 0)
            informer_free(d->informers[i]);
        else
            d->informers[kept++] = d->informers[i];
    }
    d->informer_count = kept;
    log_msg(LOG_LEVEL_INFO, "namespace drained; no longer watched", "namespace", ns, NULL);
}

static int namespace_forbidden(const struct daemon *d, const char *ns)
{
    for (size_t i = 0; i < d->informer_count; i++) {
        const char *ins = informer_namespace(d->informers[i]);
        if (d->informers[i] != d->policy_informer && ins && strcmp(ins, ns) == 0 &&
            informer_forbidden(d->informers[i]))
            return 1;
    }
    return 0;
}

/* Names the install objects of namespace ns that operator() renders: what must be applied for access there. */
static void report_missing_access(struct daemon *d, const char *ns)
{
    char err[1024], objects[1024] = "", list[1024] = "", message[2600];
    struct render_result r;
    if (d->policy == NULL || render_operator(d->policy, d->ctx, &r, err, sizeof err) != 0)
        snprintf(objects, sizeof objects, "(operator() did not render: %.900s)", d->policy ? err : "no policy");
    else {
        const cJSON *o;
        cJSON_ArrayForEach(o, r.objects)
        {
            const char *ons = object_namespace(o);
            size_t n = strlen(objects);
            if (ons && strcmp(ons, ns) == 0)
                snprintf(objects + n, sizeof objects - n, "%s%s %s/%s", n ? ", " : "", object_kind(o), ns,
                         object_name(o));
        }
        render_result_free(&r);
    }
    for (size_t i = 0; i < d->watch_count; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", i ? "," : "", d->watch[i]);
    }
    snprintf(message, sizeof message,
             "the operator may not watch namespace %s: apply %s (flinkop install --only operator "
             "--operator-namespace %s --watch-namespaces %s | kubectl apply -f -)",
             ns, objects[0] ? objects : "its install objects", d->operator_namespace, list);
    log_msg(LOG_LEVEL_WARN, message, "namespace", ns, NULL);
    const cJSON *cm = d->policy_informer ? daemon_lookup(d, "ConfigMap", d->policy_cm_ns, d->policy_cm_name, NULL)
                                         : NULL;
    if (cm)
        sync_event(d, cm, "Warning", "NamespaceForbidden", message);
}

void scope_tick(struct daemon *d)
{
    if (d->watch == NULL)
        return;
    for (size_t i = 0; i < d->watch_count; i++) {
        int forbidden = namespace_forbidden(d, d->watch[i]);
        void *told = strmap_get(d->forbidden_told, d->watch[i]);
        int failed = 0;
        if (forbidden && !told) {
            report_missing_access(d, d->watch[i]);
            strmap_put(d->forbidden_told, d->watch[i], (void *)1, &failed);
        } else if (!forbidden && told) {
            strmap_remove(d->forbidden_told, d->watch[i]);
        }
    }
    for (size_t i = 0; i < d->draining_count;) {
        if (queue_in_flight(d->queue) == 0 && !namespace_holds_anything(d, d->draining[i])) {
            namespace_unwatch(d, d->draining[i]);
            list_remove(d->draining, &d->draining_count, i);
        } else {
            i++;
        }
    }
}

int scope_start(struct daemon *d)
{
    for (size_t i = 0; d->o->ctx.watch_namespaces && i < d->o->ctx.watch_count; i++)
        if (list_add(&d->watch, &d->watch_count, d->o->ctx.watch_namespaces[i]) != 0)
            return -1;
    if (d->o->ctx.watch_namespaces && d->watch == NULL)
        return -1;
    return (d->forbidden_told = strmap_new()) ? 0 : -1;
}

void scope_free(struct daemon *d)
{
    context_free_namespaces(d->watch, d->watch_count);
    context_free_namespaces(d->draining, d->draining_count);
    strmap_free(d->forbidden_told, NULL);
}
