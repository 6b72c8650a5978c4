/* One reconcile: ask the policy what a key wants, compare with the cache, and write only the differences:
 * server-side apply for what is missing or changed, delete for what we own and no longer want, the status through
 * its subresource, and Events. An object without our managed-by label is never written: it is a conflict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_state.h"
#include "desired.h"
#include "diff.h"
#include "event_body.h"
#include "event_seen.h"
#include "finalizer.h"
#include "flink_observer.h"
#include "json_text.h"
#include "kinds.h"
#include "log.h"
#include "object.h"
#include "plan.h"
#include "render.h"

#define APPLY_QUERY "fieldManager=flinkop&force=true"
#define APPLY_TYPE "application/apply-patch+yaml"

/* One key in progress: alive until its last request has answered. */
struct work {
    struct daemon *d;
    char *key;
    int pending;
    int failed;
    cJSON *bindings_later; /* RoleBindings held back until the Roles written with them exist; owned */
    int standalone;        /* not a queue key (an Event about the policy ConfigMap): no queue bookkeeping */
    double requeue_after;
    cJSON *actions;        /* the policy's Flink REST actions, done once every write succeeded (owned) */
    char flink_key[600];   /* the observer key the actions go to: the session cluster's for a FlinkSessionJob */
};

/* What a request of a work item is for, which decides what its answer means. */
enum step_action {
    STEP_APPLY,  /* server-side apply of an object; the answer goes into the cache */
    STEP_PROBE,  /* GET of an object we want but do not see under our label */
    STEP_DELETE, /* prune; 404 means already gone */
    STEP_STATUS, /* the resource's status subresource */
    STEP_EVENT,  /* a Kubernetes Event: a refused one never fails the work */
    STEP_FINALIZER, /* our finalizer added to or removed from a FlinkDeployment or FlinkSessionJob (finalizer.h) */
};

/* One request of a work item, with what to do with its answer. */
struct step {
    struct work *w;
    enum step_action action;
    char what[320];  /* "apply Deployment team-a/basic-example": for logs */
    struct informer *inf;
    cJSON *desired;  /* STEP_PROBE: the object to apply when it does not exist (owned) */
    char *event_key; /* STEP_EVENT: its dedupe key in d->events_sent (owned) */
};

static void step_free(struct step *s)
{
    cJSON_Delete(s->desired);
    free(s->event_key);
    free(s);
}

static void count_reconcile(struct daemon *d, const char *key, const char *result);

static void work_finish(struct work *w)
{
    struct queue *q = w->d->queue;
    if (w->standalone) {
        free(w->key);
        free(w);
        return;
    }
    count_reconcile(w->d, w->key, w->failed ? "error" : "ok");
    /* After the writes: the status that records what an action is for is stored before the action happens. */
    if (!w->failed && w->actions && w->d->flink && w->d->leading)
        flink_observer_act(w->d->flink, w->flink_key[0] ? w->flink_key : w->key, w->actions);
    cJSON_Delete(w->actions);
    if (w->failed && w->d->o->plan) /* a plan reports a failure; it does not retry */
        plan_error(w->d->o->plan, w->key);
    else if (w->failed)
        queue_add_rate_limited(q, w->key, NULL);
    else
        queue_forget(q, w->key);
    queue_done(q, w->key);
    access_check_end(w->d->access, w->key, !w->failed);
    if (!w->failed && w->requeue_after >= 0)
        queue_add_after(q, w->key, w->requeue_after);
    free(w->key);
    free(w);
}

static void objects_write(struct work *w, const cJSON *desired, int hold_bindings);

/* The last answer of a wave: write the held-back bindings (their Roles now exist), or finish. */
static void work_release(struct work *w)
{
    if (--w->pending != 0)
        return;
    cJSON *later = w->bindings_later;
    w->bindings_later = NULL;
    if (later && !w->failed) {
        w->pending = 1;
        objects_write(w, later, 0);
        cJSON_Delete(later);
        work_release(w);
        return;
    }
    cJSON_Delete(later);
    work_finish(w);
}

/* Counted when the last write of a reconcile has answered, so "ok" means the cluster took it all. */
static void count_reconcile(struct daemon *d, const char *key, const char *result)
{
    char kind[64];
    snprintf(kind, sizeof kind, "%.*s", (int)strcspn(key, "/"), key);
    metrics_counter_add(d->metrics, "flinkop_reconciles_total", NULL,
                        (const char *const[]){"kind", kind, "result", result, NULL}, 1);
}

static void step_done(void *ud, const struct kube_response *resp);
static void event_answered(struct step *s, const struct kube_response *resp);

/* Starts one request for w; the work stays alive until it answers. */
static void step_start(struct work *w, struct step *s, const char *method, const char *path, const char *query,
                       const char *body, const char *type)
{
    char err[256];
    s->w = w;
    if (!w->d->leading && strcmp(method, "GET") != 0) {
        /* Leadership lost mid-reconcile: write nothing. The next leader, or we when we lead again, redo it. */
        log_msg(LOG_LEVEL_DEBUG, "write skipped: not the leader", "step", s->what, NULL);
        step_free(s);
        return;
    }
    w->pending++;
    if (kube_request(w->d->kube, method, path, query, body, type, step_done, s, err, sizeof err) == NULL) {
        log_msg(LOG_LEVEL_ERROR, "request not sent", "step", s->what, "error", err, NULL);
        w->failed |= s->action != STEP_EVENT;
        if (s->event_key) /* not sent: let the next occurrence try again */
            event_seen_free(strmap_remove(w->d->events_sent, s->event_key));
        step_free(s);
        w->pending--;
    }
}

/* A new step, or NULL (and the work marked failed unless the step is an Event) when out of memory. */
static struct step *step_new(struct work *w, enum step_action action)
{
    struct step *s = calloc(1, sizeof *s);
    if (s)
        s->action = action;
    else
        w->failed |= action != STEP_EVENT;
    return s;
}

/* A new step about obj, with its API path in path and "VERB Kind ns/name" as its description; NULL (the work
 * marked failed) when out of memory or when the kind has no path. */
static struct step *object_step(struct work *w, enum step_action action, const char *verb, const cJSON *obj,
                                char *path, size_t pathlen)
{
    const struct kind_info *k = kind_lookup(object_kind(obj));
    const char *ns = object_namespace(obj);
    struct step *s = step_new(w, action);
    if (s == NULL)
        return NULL;
    if (k == NULL || kind_path(k, ns, object_name(obj), path, pathlen)) {
        free(s);
        w->failed = 1;
        return NULL;
    }
    snprintf(s->what, sizeof s->what, "%s %s %s/%s", verb, k->kind, ns ? ns : "", object_name(obj));
    return s;
}

/* Applies obj; live is what the cluster holds now (NULL: nothing), for `plan`'s diff. */
static void object_apply(struct work *w, const cJSON *obj, struct informer *inf, const cJSON *live)
{
    char path[512];
    if (w->d->o->plan) {
        w->failed |= plan_add(w->d->o->plan, live ? PLAN_UPDATE : PLAN_CREATE, obj, live) != 0;
        return;
    }
    struct step *s = object_step(w, STEP_APPLY, "apply", obj, path, sizeof path);
    char *body = s ? json_print_sorted(obj) : NULL;
    if (body == NULL) {
        free(s);
        w->failed = 1;
        return;
    }
    s->inf = inf;
    step_start(w, s, "PATCH", path, APPLY_QUERY, body, APPLY_TYPE);
    free(body);
}

/* An object we want but do not see under our label: it may not exist, or someone else may own it. Ask. */
static void object_probe(struct work *w, const cJSON *obj, struct informer *inf)
{
    char path[512];
    struct step *s = object_step(w, STEP_PROBE, "get", obj, path, sizeof path);
    if (s == NULL || (s->desired = cJSON_Duplicate(obj, 1)) == NULL) {
        free(s);
        w->failed = 1;
        return;
    }
    s->inf = inf;
    step_start(w, s, "GET", path, NULL, NULL, NULL);
}

static void object_delete(struct work *w, const cJSON *live)
{
    char path[512], body[256];
    const char *uid = object_string_at(live, "metadata.uid");
    if (w->d->o->plan) {
        w->failed |= plan_add(w->d->o->plan, PLAN_DELETE, NULL, live) != 0;
        return;
    }
    struct step *s = object_step(w, STEP_DELETE, "delete", live, path, sizeof path);
    if (s == NULL)
        return;
    /* The uid precondition makes sure we delete the object we decided about, not a namesake made since. */
    snprintf(body, sizeof body, "{\"propagationPolicy\":\"Background\",\"preconditions\":{\"uid\":\"%s\"}}",
             uid ? uid : "");
    log_object(LOG_LEVEL_INFO, object_namespace(live), object_name(live), "pruning", "kind", object_kind(live), NULL);
    step_start(w, s, "DELETE", path, NULL, body, "application/json");
}

/* STEP_PROBE answered 200: apply only when the object is ours, else report the conflict and leave it. */
static void probe_found(struct step *s, const struct kube_response *resp)
{
    struct work *w = s->w;
    cJSON *live = cJSON_ParseWithLength(resp->body, resp->body_len);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(live, "metadata"), "labels");
    const cJSON *mine = cJSON_GetObjectItemCaseSensitive(labels, OBJECT_MANAGED_BY_LABEL);
    if (cJSON_IsString(mine) && strcmp(mine->valuestring, OBJECT_MANAGED_BY_VALUE) == 0) {
        if (!diff_satisfied(s->desired, live))
            object_apply(w, s->desired, s->inf, live);
    } else if (w->d->o->plan) {
        w->failed |= plan_add(w->d->o->plan, PLAN_CONFLICT, s->desired, live) != 0;
    } else {
        /* Not ours: never modify it. The user sees why their object stays as it is. */
        log_object(LOG_LEVEL_WARN, object_namespace(s->desired), object_name(s->desired),
                   "conflict: object exists without our managed-by label, left untouched", "kind",
                   object_kind(s->desired), "owner", w->key, NULL);
        metrics_counter_add(w->d->metrics, "flinkop_conflicts_total", "Objects a policy wants that someone else owns",
                            (const char *const[]){"kind", object_kind(s->desired), NULL}, 1);
        access_check_conflict(w->d->access, w->key, live);
    }
    cJSON_Delete(live);
}

static void step_done(void *ud, const struct kube_response *resp)
{
    struct step *s = ud;
    struct work *w = s->w;
    int ok = resp->status >= 200 && resp->status < 300;
    if (s->action == STEP_PROBE && resp->status == 404) {
        object_apply(w, s->desired, s->inf, NULL);
    } else if (s->action == STEP_PROBE && resp->status == 200) {
        probe_found(s, resp);
    } else if (s->action == STEP_EVENT) {
        event_answered(s, resp);
    } else if (ok) {
        if (s->action == STEP_APPLY) {
            cJSON *obj = cJSON_ParseWithLength(resp->body, resp->body_len);
            if (obj)
                informer_remember(s->inf, obj);
        }
        log_msg(LOG_LEVEL_INFO, "done", "step", s->what, NULL);
    } else if (s->action == STEP_DELETE && resp->status == 404) {
        /* Already gone: what we wanted. */
    } else {
        w->failed |= s->action != STEP_EVENT;
        log_msg(resp->status == 403 || s->action == STEP_EVENT ? LOG_LEVEL_WARN : LOG_LEVEL_ERROR, "request failed",
                "step", s->what, "status", resp->status == 403 ? "403 forbidden" : "error", "error",
                resp->error ? resp->error : resp->body, NULL);
    }
    step_free(s);
    work_release(w);
}

struct prune_walk {
    struct work *w;
    const cJSON *desired;
};

static void prune_one(void *ud, const cJSON *live)
{
    struct prune_walk *p = ud;
    if (!desired_owned_by(live, p->w->key))
        return;
    if (cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(live, "metadata"), "deletionTimestamp"))
        return;
    if (!desired_contains(p->desired, live))
        object_delete(p->w, live);
}

static int is_binding(const cJSON *o)
{
    const char *kind = object_kind(o);
    return strcmp(kind, "RoleBinding") == 0 || strcmp(kind, "ClusterRoleBinding") == 0;
}

static int is_role(const cJSON *o)
{
    const char *kind = object_kind(o);
    return strcmp(kind, "Role") == 0 || strcmp(kind, "ClusterRole") == 0;
}

/* Applies what differs and asks about what we do not see. With hold_bindings, bindings wait for a second wave
 * when a Role is written in this one: the API server refuses a binding to a Role it cannot find yet. */
static void objects_write(struct work *w, const cJSON *desired, int hold_bindings)
{
    struct daemon *d = w->d;
    char field[256];
    int roles_written = 0;
    const cJSON *o;
    /* Pass 0 writes all but bindings, pass 1 the bindings, so the order of the policy's list does not matter. */
    for (int pass = 0; pass < 2; pass++)
    cJSON_ArrayForEach(o, desired)
    {
        if (is_binding(o) != pass)
            continue;
        if (hold_bindings && roles_written && is_binding(o)) {
            if (w->bindings_later == NULL && (w->bindings_later = cJSON_CreateArray()) == NULL) {
                w->failed = 1;
                return;
            }
            cJSON_AddItemToArray(w->bindings_later, cJSON_Duplicate(o, 1));
            continue;
        }
        const struct kind_info *k = kind_lookup(object_kind(o));
        if (k == NULL || !k->ownable) {
            log_msg(LOG_LEVEL_ERROR, "policy emitted a kind the operator does not manage", "kind", object_kind(o),
                    "owner", w->key, NULL);
            w->failed = 1;
            continue;
        }
        struct informer *inf = NULL;
        const cJSON *live = daemon_lookup(d, k->kind, object_namespace(o), object_name(o), &inf);
        if (inf == NULL) {
            log_msg(LOG_LEVEL_WARN, "namespace not watched, object skipped", "kind", k->kind, "namespace",
                    object_namespace(o), NULL);
            continue;
        }
        if (live == NULL) {
            object_probe(w, o, inf);
            roles_written |= is_role(o);
        } else if (diff_first(o, live, field, sizeof field)) {
            log_object(LOG_LEVEL_DEBUG, object_namespace(o), object_name(o), "differs", "kind", k->kind, "field",
                       field, NULL);
            object_apply(w, o, inf, live);
            roles_written |= is_role(o);
        }
    }
}

/* Prunes what carries our owner key and is not wanted, then writes the rest. Deletions are collected before any
 * write changes the caches. */
static void objects_sync(struct work *w, const cJSON *desired)
{
    struct daemon *d = w->d;
    struct prune_walk p = {w, desired};
    for (size_t i = 0; i < d->informer_count; i++)
        if (informer_kind(d->informers[i])->ownable)
            cache_each(informer_cache(d->informers[i]), prune_one, &p);
    objects_write(w, desired, 1);
}

/* Drops JSON nulls: the API server stores no null, so a null we kept would look like a difference forever. */
static void nulls_strip(cJSON *v)
{
    cJSON *c = v ? v->child : NULL;
    while (c) {
        cJSON *next = c->next;
        if (cJSON_IsNull(c) && cJSON_IsObject(v))
            cJSON_Delete(cJSON_DetachItemViaPointer(v, c));
        else
            nulls_strip(c);
        c = next;
    }
}

static void status_sync(struct work *w, const cJSON *resource, cJSON *status)
{
    char path[512];
    if (w->d->o->plan)
        return; /* the operator's report, rewritten each pass: not part of a plan */
    nulls_strip(status);
    const cJSON *live = cJSON_GetObjectItemCaseSensitive(resource, "status");
    if (live && diff_satisfied(status, live))
        return;
    const struct kind_info *k = kind_lookup(object_kind(resource));
    cJSON *patch = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(patch, "metadata");
    cJSON_AddStringToObject(patch, "apiVersion", object_api_version(resource));
    cJSON_AddStringToObject(patch, "kind", k->kind);
    cJSON_AddStringToObject(meta, "name", object_name(resource));
    cJSON_AddStringToObject(meta, "namespace", object_namespace(resource));
    cJSON_AddItemReferenceToObject(patch, "status", status);
    char *body = json_print_sorted(patch);
    cJSON_Delete(patch);
    if (body == NULL || kind_path(k, object_namespace(resource), object_name(resource), path, sizeof path)) {
        free(body);
        w->failed = 1;
        return;
    }
    strncat(path, "/status", sizeof path - strlen(path) - 1);
    struct step *s = step_new(w, STEP_STATUS);
    if (s) {
        snprintf(s->what, sizeof s->what, "status %s", w->key);
        step_start(w, s, "PATCH", path, APPLY_QUERY, body, APPLY_TYPE);
    }
    free(body);
}

static void utc_stamp(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Posts the policy's event e about resource, or bumps the count of the same Event posted before. */
static void event_post(struct work *w, const cJSON *resource, const cJSON *e)
{
    char dedupe[1024], path[512], stamp[32], body[128];
    const char *type = object_string_at(e, "type"), *reason = object_string_at(e, "reason");
    const char *message = object_string_at(e, "message"), *uid = object_string_at(resource, "metadata.uid");
    if (!type || !reason || !message || w->d->o->plan)
        return;
    snprintf(dedupe, sizeof dedupe, "%s|%s|%s|%s|%s", w->key, uid ? uid : "", type, reason, message);
    struct event_seen *seen = strmap_get(w->d->events_sent, dedupe);
    time_t now = time(NULL);
    /* In flight, or bumped within this resync interval: a condition that persists counts once per resync, while
     * the reconciles a burst of watch events causes add no writes. */
    if (!w->d->leading || (seen && (seen->name == NULL || now - seen->written < w->d->o->resync_seconds)))
        return;
    int failed = 0;
    if (seen == NULL && ((seen = calloc(1, sizeof *seen)) == NULL ||
                         (strmap_put(w->d->events_sent, dedupe, seen, &failed), failed))) {
        free(seen);
        return;
    }
    struct step *s = step_new(w, STEP_EVENT);
    if (s == NULL || (s->event_key = strdup(dedupe)) == NULL) {
        free(s);
        return;
    }
    seen->written = now;
    utc_stamp(stamp, sizeof stamp);
    snprintf(s->what, sizeof s->what, "event %s %s", reason, w->key);
    if (seen->name == NULL) {
        char *create = event_body(resource, type, reason, message);
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", object_namespace(resource));
        if (create)
            step_start(w, s, "POST", path, NULL, create, "application/json");
        else
            step_free(s);
        free(create);
        return;
    }
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events/%s", object_namespace(resource), seen->name);
    snprintf(body, sizeof body, "{\"count\":%.0f,\"lastTimestamp\":\"%s\"}", seen->count + 1, stamp);
    step_start(w, s, "PATCH", path, NULL, body, "application/merge-patch+json");
}

/* Remembers a created Event's name and count; an Event gone (they expire after an hour) is made anew next time. */
static void event_answered(struct step *s, const struct kube_response *resp)
{
    struct strmap *sent = s->w->d->events_sent;
    struct event_seen *seen = strmap_get(sent, s->event_key);
    int ok = resp->status >= 200 && resp->status < 300;
    cJSON *ev = ok ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
    const char *name = object_string_at(ev, "metadata.name");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(ev, "count");
    if (seen && ok && name && (seen->name || (seen->name = strdup(name)))) {
        seen->count = cJSON_IsNumber(count) ? count->valuedouble : seen->count + 1;
    } else if (seen && (seen->name == NULL || resp->status == 404)) {
        event_seen_free(strmap_remove(sent, s->event_key));
    }
    if (!ok) /* never fails the work: a user without Events still gets the objects and the status */
        log_msg(LOG_LEVEL_WARN, "event not recorded", "step", s->what, "status",
                resp->status == 403 ? "403 forbidden" : "error", "error", resp->error ? resp->error : resp->body, NULL);
    cJSON_Delete(ev);
}

/* Adds (add != 0) or removes our finalizer on resource; nothing when it is already so. The answer
 * is not put in the cache: the watch brings it, and an object deleted meanwhile must not come back there. */
static void finalizer_write(struct work *w, const cJSON *resource, int add)
{
    char path[512];
    char *body = finalizer_patch(resource, add);
    const struct kind_info *k = kind_lookup(object_kind(resource));
    struct step *s = body ? step_new(w, STEP_FINALIZER) : NULL;
    if (s == NULL || kind_path(k, object_namespace(resource), object_name(resource), path, sizeof path)) {
        w->failed |= body != NULL;
        free(s);
        free(body);
        return;
    }
    snprintf(s->what, sizeof s->what, "%s finalizer %s", add ? "add" : "remove", w->key);
    step_start(w, s, "PATCH", path, NULL, body, "application/merge-patch+json");
    free(body);
}

/* A FlinkDeployment or FlinkSessionJob gets our finalizer before anything else is done for it, as the only write of
 * that pass (the watch brings it back with the finalizer); one being deleted loses it when its cleanup is done, or
 * when that takes too long whatever the policy says. Returns 1 when the pass is to write nothing more. */
static int finalizer_sync(struct work *w, const cJSON *resource, int cleaned_up)
{
    if (w->d->o->plan || resource == NULL || !finalizer_applies(resource))
        return 0; /* `plan` shows what the policy wants, not the finalizer's bookkeeping */
    if (!finalizer_deleting(resource) && !finalizer_present(resource)) {
        finalizer_write(w, resource, 1);
        return 1;
    }
    if (finalizer_deleting(resource) && (cleaned_up || finalizer_overdue(resource, time(NULL))))
        finalizer_write(w, resource, 0);
    return 0;
}

/* The delete_ha_configmaps action of a FlinkDeployment: one DELETE of the ConfigMaps Flink's Kubernetes HA services
 * made for the cluster. The selector is built here from the resource's name, never taken from the policy, so the
 * action can delete nothing else. Flink makes them, not us, so no cache holds them; a 404 is nothing left. */
static void ha_configmaps_delete(struct work *w, const cJSON *resource, const cJSON *actions)
{
    char path[512], query[400];
    const cJSON *a;
    const char *ns = object_namespace(resource), *name = object_name(resource), *kind = object_kind(resource);
    cJSON_ArrayForEach(a, actions)
    {
        const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "type"));
        if (type == NULL || strcmp(type, "delete_ha_configmaps") != 0)
            continue;
        if (w->d->o->plan || strcmp(kind, "FlinkDeployment") != 0 || ns == NULL)
            return;
        struct step *s = step_new(w, STEP_DELETE);
        if (s == NULL)
            return;
        /* Names are DNS labels: nothing in them needs escaping in a query. */
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps", ns);
        snprintf(query, sizeof query, "labelSelector=app%%3D%s,configmap-type%%3Dhigh-availability", name);
        snprintf(s->what, sizeof s->what, "delete HA ConfigMaps %s/%s", ns, name);
        log_object(LOG_LEVEL_INFO, ns, name, "deleting HA ConfigMaps", "selector", query + 14, NULL);
        step_start(w, s, "DELETE", path, query, NULL, NULL);
        return;
    }
}

/* Writes what a rendered key wants: its objects, then its Events and status. */
static void desired_apply(struct work *w, struct desired *ds)
{
    const cJSON *e;
    if (finalizer_sync(w, ds->resource, ds->r.remove_finalizer))
        return;
    w->requeue_after = ds->r.requeue_after;
    w->actions = ds->r.actions;
    ds->r.actions = NULL;
    if (flink_observer_cluster_key(ds->resource, w->flink_key, sizeof w->flink_key) != 0)
        w->flink_key[0] = '\0';
    ha_configmaps_delete(w, ds->resource, w->actions);
    /* Collect writes before the status write, which changes the cached resource. */
    if (ds->r.objects)
        objects_sync(w, ds->r.objects);
    if (cJSON_IsArray(ds->r.events))
        cJSON_ArrayForEach(e, ds->r.events) event_post(w, ds->resource, e);
    if (cJSON_IsObject(ds->r.status))
        status_sync(w, ds->resource, ds->r.status);
}

void sync_key(struct daemon *d, const char *key)
{
    char err[2048];
    struct work *w = calloc(1, sizeof *w);
    if (w == NULL || (w->key = strdup(key)) == NULL) {
        free(w);
        queue_add_rate_limited(d->queue, key, NULL);
        queue_done(d->queue, key);
        return;
    }
    w->d = d;
    w->requeue_after = -1;
    w->pending = 1; /* sync_key's own hold, released below */
    struct desired ds;
    desired_render(d, d->policy, key, &ds, err, sizeof err);
    if (ds.outcome == DESIRED_PLAN) {
        if (strncmp(key, "Namespace/", 10) == 0 && !d->o->plan) /* a plan asks nothing of the API server */
            access_check_begin(d->access, key, ds.r.objects);
        desired_apply(w, &ds);
    } else if (ds.outcome == DESIRED_GONE) {
        /* Deleted: garbage collection removes what hangs off its owner references; prune the rest. */
        cJSON *none = cJSON_CreateArray();
        objects_sync(w, none);
        cJSON_Delete(none);
    } else if (ds.outcome == DESIRED_FAILED) {
        log_msg(LOG_LEVEL_ERROR, "policy failed", "key", key, "error", err, NULL);
        metrics_counter_add(d->metrics, "flinkop_policy_errors_total", NULL,
                            (const char *const[]){"policy", ds.policy ? ds.policy : "", NULL}, 1);
        finalizer_sync(w, ds.resource, 0); /* a failing policy holds a deletion up for FINALIZER_LIMIT at most */
        w->failed = 1;
    }
    desired_free(&ds);
    work_release(w);
}

void sync_event(struct daemon *d, const cJSON *obj, const char *type, const char *reason, const char *message)
{
    char key[600];
    struct work *w = calloc(1, sizeof *w);
    cJSON *e = cJSON_CreateObject();
    snprintf(key, sizeof key, "%s/%s/%s", object_kind(obj), object_namespace(obj) ? object_namespace(obj) : "",
             object_name(obj));
    if (w == NULL || e == NULL || (w->key = strdup(key)) == NULL || !cJSON_AddStringToObject(e, "type", type) ||
        !cJSON_AddStringToObject(e, "reason", reason) || !cJSON_AddStringToObject(e, "message", message)) {
        free(w);
        cJSON_Delete(e);
        return;
    }
    w->d = d;
    w->standalone = 1;
    w->pending = 1;
    event_post(w, obj, e);
    cJSON_Delete(e);
    work_release(w);
}
