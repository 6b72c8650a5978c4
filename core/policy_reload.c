/* A new policy from the policy ConfigMap replaces the running one only after it has proved itself: it compiles in
 * a fresh sandbox, its own `tests` tables pass, it renders every key the caches know without failing where the
 * running policy succeeds, and it would not delete more than a set share of what flinkop owns. Anything else is
 * refused with file:line or the guard's numbers, as a log line, a metric and a Warning Event on the ConfigMap,
 * and the last good policy keeps running. The swap happens between reconciles (this runs on the loop, where no
 * render is in progress), and every key is queued again under the new policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_state.h"
#include "desired.h"
#include "log.h"
#include "object.h"
#include "render.h"

#define MAX_PRUNE_ANNOTATION "flinkop.apache.org/max-prune-percent"
#define DEFAULT_MAX_PRUNE 20

/* The ConfigMap's *.lua keys as a policy set; other keys (a README, say) are ignored. */
static int files_from_configmap(const cJSON *cm, struct policy_files *files, char *err, size_t errlen)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(cm, "data"), *v;
    cJSON_ArrayForEach(v, data)
    {
        size_t n = strlen(v->string);
        if (n < 5 || strcmp(v->string + n - 4, ".lua") != 0 || !cJSON_IsString(v))
            continue;
        if (policy_files_add(files, v->string, v->valuestring, strlen(v->valuestring), err, errlen) != 0)
            return -1;
    }
    return policy_files_check(files, err, errlen);
}

struct test_report {
    char first_failure[512];
};

static void test_line(void *ud, const char *line)
{
    struct test_report *t = ud;
    if (t->first_failure[0] == '\0' && strncmp(line, "not ok", 6) == 0)
        snprintf(t->first_failure, sizeof t->first_failure, "%s", line);
}

/* The policy's own tests, each in a fresh state. */
static int tests_pass(const struct policy_files *files, const struct policy_limits *limits, char *err, size_t errlen)
{
    struct test_report t = {""};
    char why[1024];
    int failed = policy_run_tests(files, limits, test_line, &t, why, sizeof why);
    if (failed < 0)
        snprintf(err, errlen, "%s", why);
    else if (failed > 0)
        snprintf(err, errlen, "%d self-test(s) failed; first: %s", failed, t.first_failure);
    return failed == 0 ? 0 : -1;
}

struct owned_walk {
    const char *owner;       /* count only this key's objects, or all when NULL */
    const cJSON *desired;    /* with owner: the objects the new policy wants for it */
    size_t count;
};

static void owned_count(void *ud, const cJSON *obj)
{
    struct owned_walk *o = ud;
    const cJSON *meta = cJSON_GetObjectItem(obj, "metadata");
    const cJSON *owner = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(meta, "annotations"),
                                                          OBJECT_OWNER_ANNOTATION);
    if (!cJSON_IsString(owner) || strcmp(owner->valuestring, "operator") == 0 ||
        cJSON_GetObjectItemCaseSensitive(meta, "deletionTimestamp"))
        return;
    if (o->owner == NULL)
        o->count++;
    else if (strcmp(owner->valuestring, o->owner) == 0 && !desired_contains(o->desired, obj))
        o->count++;
}

static size_t owned_walk_all(struct daemon *d, struct owned_walk *o)
{
    for (size_t i = 0; i < d->informer_count; i++)
        if (informer_kind(d->informers[i])->ownable)
            cache_each(informer_cache(d->informers[i]), owned_count, o);
    return o->count;
}

struct keys_walk {
    const char *kind;
    cJSON *keys;
};

static void key_add(void *ud, const cJSON *obj)
{
    struct keys_walk *k = ud;
    char key[600];
    if (strcmp(k->kind, "Namespace") == 0)
        snprintf(key, sizeof key, "Namespace/%s", object_name(obj));
    else
        snprintf(key, sizeof key, "%s/%s/%s", k->kind, object_namespace(obj), object_name(obj));
    cJSON_AddItemToArray(k->keys, cJSON_CreateString(key));
}

/* Every key a resync would queue. */
static cJSON *all_keys(struct daemon *d)
{
    cJSON *keys = cJSON_CreateArray();
    for (size_t i = 0; keys && i < d->informer_count; i++) {
        const struct kind_info *k = informer_kind(d->informers[i]);
        if (k->ownable || d->informers[i] == d->policy_informer)
            continue;
        struct keys_walk w = {k->kind, keys};
        cache_each(informer_cache(d->informers[i]), key_add, &w);
    }
    for (size_t i = 0; keys && i < d->watch_count + d->draining_count; i++) {
        char key[300];
        snprintf(key, sizeof key, "Namespace/%s",
                 i < d->watch_count ? d->watch[i] : d->draining[i - d->watch_count]);
        cJSON_AddItemToArray(keys, cJSON_CreateString(key));
    }
    return keys;
}

/* The guard's limit annotated on the ConfigMap, or NULL. (A dotted key: object_string_at cannot reach it.) */
static const char *limit_annotation(const cJSON *cm)
{
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(cm, "metadata"), "annotations");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ann, MAX_PRUNE_ANNOTATION);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int max_prune_percent(const struct daemon *d, const cJSON *cm)
{
    const char *v = limit_annotation(cm);
    char *end;
    if (v) {
        long n = strtol(v, &end, 10);
        if (*v && *end == '\0' && n >= 0 && n <= 100)
            return (int)n;
        log_msg(LOG_LEVEL_WARN, "ignoring a bad " MAX_PRUNE_ANNOTATION " annotation", "value", v, NULL);
    }
    return d->o->max_prune_percent > 0 ? d->o->max_prune_percent : DEFAULT_MAX_PRUNE;
}

/* Renders every key with the new policy: a failure where the running policy succeeds refuses it, and so does
 * deleting more than the allowed share of what we own. */
static int dry_render(struct daemon *d, struct policy *next, const cJSON *cm, char *err, size_t errlen)
{
    char why[1500];
    struct owned_walk total = {NULL, NULL, 0};
    size_t owned = owned_walk_all(d, &total), doomed = 0;
    cJSON *keys = all_keys(d);
    const cJSON *key;
    int rc = keys ? 0 : -1;
    if (keys == NULL)
        snprintf(err, errlen, "out of memory");
    cJSON_ArrayForEach(key, keys)
    {
        struct desired ds;
        desired_render(d, next, key->valuestring, &ds, why, sizeof why);
        if (ds.outcome == DESIRED_FAILED) {
            struct desired was;
            char old[64];
            desired_render(d, d->policy, key->valuestring, &was, old, sizeof old);
            int failed_before = was.outcome == DESIRED_FAILED;
            desired_free(&was);
            if (!failed_before) {
                snprintf(err, errlen, "%.300s: %s", key->valuestring, why);
                rc = -1;
            }
        } else if (ds.outcome == DESIRED_PLAN && ds.r.objects) {
            struct owned_walk mine = {key->valuestring, ds.r.objects, 0};
            doomed += owned_walk_all(d, &mine);
        }
        desired_free(&ds);
        if (rc != 0)
            break;
    }
    cJSON_Delete(keys);
    int limit = max_prune_percent(d, cm);
    if (rc == 0 && doomed > 0 && doomed * 100 > owned * (size_t)limit) {
        snprintf(err, errlen,
                 "blast-radius guard: the new policy would delete %zu of the %zu objects flinkop owns (%zu%% > %d%%); "
                 "annotate the ConfigMap with " MAX_PRUNE_ANNOTATION " to allow it",
                 doomed, owned, doomed * 100 / (owned ? owned : 1), limit);
        rc = -1;
    }
    return rc;
}

/* What a refusal was about: the files and the guard's annotation, so raising the limit is a new decision. */
static void decision_key(const cJSON *cm, const char *hash, char *out, size_t len)
{
    const char *limit = limit_annotation(cm);
    snprintf(out, len, "%s:%.8s", hash, limit ? limit : "");
}

static void refuse(struct daemon *d, const cJSON *cm, const char *hash, const char *reason)
{
    char decided[sizeof d->refused_hash];
    decision_key(cm, hash, decided, sizeof decided);
    metrics_counter_add(d->metrics, "flinkop_policy_reloads_total", NULL,
                        (const char *const[]){"result", "refused", NULL}, 1);
    log_object(LOG_LEVEL_ERROR, object_namespace(cm), object_name(cm), "policy refused; the running policy stays",
               "hash", hash, "running", d->policy_hash[0] ? d->policy_hash : "none", "error", reason, NULL);
    if (strcmp(d->refused_hash, decided) != 0)
        sync_event(d, cm, "Warning", "PolicyRefused", reason);
    snprintf(d->refused_hash, sizeof d->refused_hash, "%s", decided);
}

void policy_reload_offer(struct daemon *d, const cJSON *cm)
{
    char err[2048], hash[20], decided[40], message[128];
    struct policy_files files = {0};
    struct policy *next = NULL;
    scope_change(d, cm); /* the watch list is the ConfigMap's too, whatever becomes of its policy */
    if (files_from_configmap(cm, &files, err, sizeof err) != 0) {
        refuse(d, cm, "unreadable", err);
        goto out;
    }
    policy_files_hash(&files, hash, sizeof hash);
    decision_key(cm, hash, decided, sizeof decided);
    if (strcmp(hash, d->policy_hash) == 0 || strcmp(decided, d->refused_hash) == 0)
        goto out; /* the same files again (a relist, a label change): decided already */
    if ((next = policy_load(&files, &d->o->limits, err, sizeof err)) == NULL ||
        (d->o->rbac_ceiling && render_use_ceiling_file(next, d->o->rbac_ceiling, err, sizeof err) != 0) ||
        tests_pass(&files, &d->o->limits, err, sizeof err) != 0 ||
        (d->policy && dry_render(d, next, cm, err, sizeof err) != 0)) {
        refuse(d, cm, hash, err);
        goto out;
    }
    if (d->policy_hash[0])
        metrics_gauge_set(d->metrics, "flinkop_policy_info", NULL,
                          (const char *const[]){"hash", d->policy_hash, NULL}, 0);
    log_object(LOG_LEVEL_INFO, object_namespace(cm), object_name(cm), "policy loaded", "hash", hash, "previous",
               d->policy_hash[0] ? d->policy_hash : "none", NULL);
    policy_free(d->policy);
    d->policy = next;
    next = NULL;
    snprintf(d->policy_hash, sizeof d->policy_hash, "%s", hash);
    d->refused_hash[0] = '\0';
    metrics_gauge_set(d->metrics, "flinkop_policy_info", NULL, (const char *const[]){"hash", hash, NULL}, 1);
    metrics_counter_add(d->metrics, "flinkop_policy_reloads_total", NULL,
                        (const char *const[]){"result", "loaded", NULL}, 1);
    snprintf(message, sizeof message, "policy %s loaded", hash);
    sync_event(d, cm, "Normal", "PolicyLoaded", message);
    daemon_requeue_all(d);
out:
    policy_free(next);
    policy_files_free(&files);
}
