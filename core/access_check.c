#include "access_check.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access_review.h"
#include "event_body.h"
#include "json_text.h"
#include "kube_batch.h"
#include "log.h"
#include "object.h"
#include "strmap.h"

/* Reviews in flight per check: a check is a few dozen small POSTs that share the daemon's client with its writes. */
#define CHECK_IN_FLIGHT 4
/* RBAC changes reach the API server's authorizer through its own informers, so a review sent the instant our
 * own Role or RoleBinding was written could still see the old rules. A check waits this long after the reconcile
 * that asked for it. */
#define CHECK_SETTLE_S 1.0
#define EVENT_REASON "InsufficientRBAC"

/* What one ServiceAccount is checked for. */
struct account {
    char ns[254], name[254];
    struct access_tuples tuples;
    size_t first; /* batch index of tuples.items[0] */
};

/* One check: its reviews, then its Events. */
struct run {
    struct ns_state *st;
    char *fingerprint;
    cJSON *conflicts; /* the user's objects the check is about */
    struct account *accounts;
    size_t naccounts;
    struct kube_batch *batch;
};

/* A namespace whose reconcile is running or whose user-made RBAC we checked. */
struct ns_state {
    struct access_check *ac;
    char *key, *ns;
    int round_open;
    cJSON *desired;      /* this round's ServiceAccounts, Roles and RoleBindings of the policy */
    cJSON *round;        /* this round's conflicting objects */
    char *checked;       /* fingerprint of the last check that finished */
    char *ready;         /* fingerprint waiting for the settle timer */
    cJSON *ready_desired, *ready_conflicts;
    ev_timer settle;
    struct run *run;
    int gauge_set;
};

struct access_check {
    struct ev_loop *loop;
    struct kube *kube;
    struct metrics *metrics;
    const int *may_write;
    struct strmap *states; /* work key -> struct ns_state * */
};

static int kind_checked(const char *kind)
{
    return kind && (strcmp(kind, "ServiceAccount") == 0 || strcmp(kind, "Role") == 0 ||
                    strcmp(kind, "RoleBinding") == 0);
}

static void run_free(struct run *r)
{
    if (r == NULL)
        return;
    kube_batch_free(r->batch);
    for (size_t i = 0; i < r->naccounts; i++)
        access_tuples_free(&r->accounts[i].tuples);
    free(r->accounts);
    free(r->fingerprint);
    cJSON_Delete(r->conflicts);
    free(r);
}

static void ready_clear(struct ns_state *st)
{
    ev_timer_stop(st->ac->loop, &st->settle);
    free(st->ready);
    cJSON_Delete(st->ready_desired);
    cJSON_Delete(st->ready_conflicts);
    st->ready = NULL;
    st->ready_desired = st->ready_conflicts = NULL;
}

static void state_free(void *p)
{
    struct ns_state *st = p;
    if (st == NULL)
        return;
    ready_clear(st);
    run_free(st->run);
    cJSON_Delete(st->desired);
    cJSON_Delete(st->round);
    free(st->checked);
    free(st->key);
    free(st);
}

static void missing_gauge(struct ns_state *st, double missing)
{
    metrics_gauge_set(st->ac->metrics, "flinkop_access_missing",
                      "Permissions user-made RBAC lacks that the policy grants, by namespace",
                      (const char *const[]){"namespace", st->ns, NULL}, missing);
    st->gauge_set = 1;
}

/* The namespace has no user-made RBAC left (or is gone): forget it, and what a check in flight would say. */
static void state_drop(struct access_check *ac, struct ns_state *st)
{
    if (st->gauge_set)
        missing_gauge(st, 0);
    state_free(strmap_remove(ac->states, st->key));
}

static void count_check(struct access_check *ac, const char *result)
{
    metrics_counter_add(ac->metrics, "flinkop_access_checks_total", "Checks of user-made RBAC by result",
                        (const char *const[]){"result", result, NULL}, 1);
}

static void settle_fire(struct ev_loop *loop, ev_timer *w, int revents);

struct access_check *access_check_new(struct ev_loop *loop, struct kube *kube, struct metrics *metrics,
                                      const int *may_write)
{
    struct access_check *ac = calloc(1, sizeof *ac);
    if (ac == NULL || (ac->states = strmap_new()) == NULL) {
        free(ac);
        return NULL;
    }
    ac->loop = loop;
    ac->kube = kube;
    ac->metrics = metrics;
    ac->may_write = may_write;
    metrics_declare(metrics, "flinkop_access_checks_total", METRICS_COUNTER, "Checks of user-made RBAC by result");
    return ac;
}

void access_check_free(struct access_check *ac)
{
    if (ac == NULL)
        return;
    strmap_free(ac->states, state_free);
    free(ac);
}

void access_check_begin(struct access_check *ac, const char *key, const cJSON *desired)
{
    struct ns_state *st = strmap_get(ac->states, key);
    int failed = 0;
    if (strncmp(key, "Namespace/", 10) != 0)
        return;
    if (st == NULL) {
        if ((st = calloc(1, sizeof *st)) == NULL || (st->key = strdup(key)) == NULL) {
            free(st);
            return;
        }
        st->ns = st->key + 10;
        st->ac = ac;
        ev_timer_init(&st->settle, settle_fire, CHECK_SETTLE_S, 0.);
        st->settle.data = st;
        strmap_put(ac->states, key, st, &failed);
        if (failed) {
            state_free(st);
            return;
        }
    }
    cJSON_Delete(st->desired);
    cJSON_Delete(st->round);
    st->desired = cJSON_CreateArray();
    st->round = cJSON_CreateArray();
    const cJSON *o;
    cJSON_ArrayForEach(o, desired)
    {
        if (kind_checked(object_kind(o)))
            cJSON_AddItemToArray(st->desired, cJSON_Duplicate(o, 1));
    }
    st->round_open = 1;
}

/* Copies what identifies obj's version (name, namespace, uid, resourceVersion) from its metadata into `into`. */
static void identity_copy(cJSON *into, const cJSON *obj)
{
    static const char *const fields[] = {"name", "namespace", "uid", "resourceVersion"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(obj, "metadata"), fields[i]);
        if (cJSON_IsString(v))
            cJSON_AddStringToObject(into, fields[i], v->valuestring);
    }
}

void access_check_conflict(struct access_check *ac, const char *key, const cJSON *live)
{
    struct ns_state *st = strmap_get(ac->states, key);
    if (st == NULL || !st->round_open || !kind_checked(object_kind(live)))
        return;
    /* Only what names the object and its version: enough for the fingerprint and the Event. */
    cJSON *keep = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(keep, "metadata");
    cJSON_AddStringToObject(keep, "apiVersion", object_api_version(live) ? object_api_version(live) : "");
    cJSON_AddStringToObject(keep, "kind", object_kind(live));
    identity_copy(meta, live);
    cJSON_AddItemToArray(st->round, keep);
}

static int text_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "Kind/name@rv ..." of the conflicts, sorted (probes answer in any order), then the policy's RBAC: a change in
 * either means the answer may have changed. */
static char *fingerprint(const cJSON *conflicts, const cJSON *desired)
{
    size_t n = (size_t)cJSON_GetArraySize(conflicts), len = 1, i = 0;
    char **parts = calloc(n ? n : 1, sizeof *parts);
    char *policy = json_print_sorted(desired), *fp = NULL;
    const cJSON *c;
    cJSON_ArrayForEach(c, conflicts)
    {
        const char *rv = object_string_at(c, "metadata.resourceVersion");
        size_t l = strlen(object_kind(c)) + strlen(object_name(c)) + strlen(rv ? rv : "") + 4;
        if (parts == NULL || (parts[i] = malloc(l)) == NULL)
            break;
        snprintf(parts[i], l, "%s/%s@%s ", object_kind(c), object_name(c), rv ? rv : "");
        len += l;
        i++;
    }
    if (parts && policy && i == n && (fp = malloc(len + strlen(policy))) != NULL) {
        qsort(parts, n, sizeof *parts, text_cmp);
        fp[0] = '\0';
        for (i = 0; i < n; i++)
            strcat(fp, parts[i]);
        strcat(fp, policy);
    }
    for (size_t j = 0; parts && j < n; j++)
        free(parts[j]);
    free(parts);
    free(policy);
    return fp;
}

void access_check_end(struct access_check *ac, const char *key, int ok)
{
    struct ns_state *st = strmap_get(ac->states, key);
    if (st == NULL)
        return;
    int was_open = st->round_open;
    st->round_open = 0;
    if (!ok) {
        /* A failed round says nothing about the conflicts; keep what we knew. */
        if (st->checked == NULL && st->run == NULL && st->ready == NULL)
            state_drop(ac, st);
        return;
    }
    if (!was_open || cJSON_GetArraySize(st->round) == 0) {
        state_drop(ac, st); /* the namespace is gone, skipped, or has no user-made RBAC any more */
        return;
    }
    char *fp = fingerprint(st->round, st->desired);
    if (fp == NULL)
        return;
    const char *running = st->run ? st->run->fingerprint : NULL; /* NULL once its reviews answered */
    if ((st->checked && strcmp(fp, st->checked) == 0) || (running && strcmp(fp, running) == 0)) {
        ready_clear(st); /* back to what was (or is being) checked */
        free(fp);
        return;
    }
    if (st->ready && strcmp(fp, st->ready) == 0) {
        free(fp);
        return;
    }
    ready_clear(st);
    st->ready = fp;
    st->ready_desired = st->desired;
    st->ready_conflicts = st->round;
    st->desired = st->round = NULL;
    ev_timer_set(&st->settle, CHECK_SETTLE_S, 0.);
    ev_timer_start(ac->loop, &st->settle);
}

static struct account *account_get(struct run *r, const char *ns, const char *name)
{
    for (size_t i = 0; i < r->naccounts; i++)
        if (strcmp(r->accounts[i].ns, ns) == 0 && strcmp(r->accounts[i].name, name) == 0)
            return &r->accounts[i];
    if (strlen(ns) >= sizeof r->accounts->ns || strlen(name) >= sizeof r->accounts->name)
        return NULL;
    struct account *grown = realloc(r->accounts, (r->naccounts + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    r->accounts = grown;
    struct account *a = &r->accounts[r->naccounts++];
    *a = (struct account){0};
    strcpy(a->ns, ns);
    strcpy(a->name, name);
    return a;
}

/* Every ServiceAccount the policy's RoleBindings name, with the rules of the policy's Role each is bound to. */
static int accounts_collect(struct run *r, const cJSON *desired)
{
    const cJSON *b, *subject;
    cJSON_ArrayForEach(b, desired)
    {
        const cJSON *role = strcmp(object_kind(b), "RoleBinding") == 0 ? access_binding_role(desired, b) : NULL;
        if (role == NULL)
            continue;
        cJSON_ArrayForEach(subject, cJSON_GetObjectItemCaseSensitive(b, "subjects"))
        {
            const char *ns, *name;
            struct account *a;
            if (!access_subject_account(subject, b, &ns, &name))
                continue;
            if ((a = account_get(r, ns, name)) == NULL ||
                access_tuples_add_rules(&a->tuples, cJSON_GetObjectItemCaseSensitive(role, "rules")) != 0)
                return -1;
        }
    }
    return 0;
}

static void reviews_done(void *ud, struct kube_batch *b);

static void run_start(struct ns_state *st)
{
    char path[512];
    struct run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return;
    r->st = st;
    r->fingerprint = st->ready;
    r->conflicts = st->ready_conflicts;
    st->ready = NULL;
    st->ready_conflicts = NULL;
    int ok = accounts_collect(r, st->ready_desired) == 0 && access_review_path(st->ns, path, sizeof path) == 0 &&
             (r->batch = kube_batch_new(st->ac->loop, st->ac->kube, CHECK_IN_FLIGHT, reviews_done, r)) != NULL;
    cJSON_Delete(st->ready_desired);
    st->ready_desired = NULL;
    if (ok && r->naccounts == 0) { /* no RoleBinding of the policy names an account: nothing to ask */
        free(st->checked);
        st->checked = r->fingerprint;
        r->fingerprint = NULL;
        run_free(r);
        return;
    }
    for (size_t i = 0; ok && i < r->naccounts; i++) {
        struct account *a = &r->accounts[i];
        a->first = kube_batch_count(r->batch);
        for (size_t j = 0; ok && j < a->tuples.count; j++) {
            char *body = access_review_body(st->ns, a->ns, a->name, &a->tuples.items[j]);
            ok = body && kube_batch_add(r->batch, "POST", path, NULL, body) >= 0;
            free(body);
        }
    }
    if (!ok) {
        log_msg(LOG_LEVEL_ERROR, "cannot check user-made RBAC", "namespace", st->ns, "error", "out of memory", NULL);
        run_free(r);
        return;
    }
    st->run = r;
    log_msg(LOG_LEVEL_DEBUG, "checking user-made RBAC", "namespace", st->ns, NULL);
    kube_batch_start(r->batch);
}

static void settle_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct ns_state *st = w->data;
    if (st->run) { /* one check at a time: this one goes when that one is done */
        ev_timer_set(w, CHECK_SETTLE_S, 0.);
        ev_timer_start(loop, w);
        return;
    }
    run_start(st);
}

/* "Role/flink, ServiceAccount/flink": what the user made, for messages. */
static void conflicts_text(const cJSON *conflicts, char *buf, size_t len)
{
    const cJSON *c;
    size_t used = 0;
    buf[0] = '\0';
    cJSON_ArrayForEach(c, conflicts)
    {
        int n = snprintf(buf + used, len - used, "%s%s/%s", used ? ", " : "", object_kind(c), object_name(c));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
}

/* The user's object the Event is about: their Role if they made one, else their RoleBinding, else the account. */
static const cJSON *event_target(const cJSON *conflicts)
{
    static const char *const order[] = {"Role", "RoleBinding", "ServiceAccount"};
    const cJSON *c;
    for (size_t i = 0; i < 3; i++)
        cJSON_ArrayForEach(c, conflicts) if (strcmp(object_kind(c), order[i]) == 0) return c;
    return NULL;
}

static void events_done(void *ud, struct kube_batch *b)
{
    struct run *r = ud;
    for (size_t i = 0; i < kube_batch_count(b); i++) {
        const struct kube_batch_result *res = kube_batch_result(b, i);
        if (res->status < 200 || res->status >= 300)
            log_msg(LOG_LEVEL_WARN, "event not recorded", "namespace", r->st->ns, "reason", EVENT_REASON, "error",
                    res->error, NULL);
    }
    r->st->run = NULL;
    run_free(r);
}

/* "create pods, update deployments.apps/finalizers" of one account's denied tuples; returns how many. */
static size_t missing_text(const struct account *a, struct kube_batch *b, char *buf, size_t len)
{
    size_t missing = 0, used = 0;
    char res[600];
    buf[0] = '\0';
    for (size_t j = 0; j < a->tuples.count; j++) {
        if (access_review_allowed(kube_batch_result(b, a->first + j)->json) != 0)
            continue;
        missing++;
        int n = snprintf(buf + used, len - used, "%s%s %s", used ? ", " : "", a->tuples.items[j].verb,
                         access_tuple_resource(&a->tuples.items[j], res, sizeof res));
        if (n > 0 && (size_t)n < len - used)
            used += (size_t)n;
    }
    return missing;
}

/* How many reviews got no usable answer; *error is the first one's reason. */
static size_t reviews_failed(struct kube_batch *b, const char **error, int *forbidden)
{
    size_t failed = 0;
    for (size_t i = 0; i < kube_batch_count(b); i++) {
        const struct kube_batch_result *res = kube_batch_result(b, i);
        if (res->status >= 200 && res->status < 300 && access_review_allowed(res->json) >= 0)
            continue;
        if (failed++ == 0)
            *error = res->error[0] ? res->error : "answer without status.allowed";
        *forbidden |= res->status == 403;
    }
    return failed;
}

/* Every review answered: say what the user's RBAC lacks, or that it is enough, then post the Events. */
static void reviews_done(void *ud, struct kube_batch *b)
{
    struct run *r = ud;
    struct ns_state *st = r->st;
    struct access_check *ac = st->ac;
    const char *error = NULL;
    int forbidden = 0;
    char made[512], missing[4096], message[2048];
    conflicts_text(r->conflicts, made, sizeof made);
    if (reviews_failed(b, &error, &forbidden)) {
        /* Forbidden will not change by asking again: wait for the objects to change. Anything else: next round. */
        log_msg(LOG_LEVEL_WARN, forbidden ? "cannot check user-made RBAC: creating localsubjectaccessreviews is "
                                            "forbidden (apply the operator's install again)"
                                          : "cannot check user-made RBAC",
                "namespace", st->ns, "user_made", made, "error", error, NULL);
        count_check(ac, "error");
        if (forbidden) {
            free(st->checked);
            st->checked = r->fingerprint;
            r->fingerprint = NULL;
        }
        st->run = NULL;
        run_free(r);
        return;
    }
    struct kube_batch *events = kube_batch_new(ac->loop, ac->kube, 1, events_done, r);
    const cJSON *target = event_target(r->conflicts);
    size_t total = 0;
    for (size_t i = 0; i < r->naccounts; i++) {
        const struct account *a = &r->accounts[i];
        size_t n = missing_text(a, b, missing, sizeof missing);
        total += n;
        if (n == 0) {
            log_object(LOG_LEVEL_INFO, a->ns, a->name, "user-made RBAC grants what the policy wants", "user_made",
                       made, NULL);
            continue;
        }
        log_object(LOG_LEVEL_WARN, a->ns, a->name, "user-made RBAC lacks permissions the policy grants, left as is",
                   "user_made", made, "missing", missing, NULL);
        snprintf(message, sizeof message, "ServiceAccount %s/%s lacks %.700s; the user-made %s is left as it is",
                 a->ns, a->name, missing, made);
        char *body = events && target && *ac->may_write ? event_body(target, "Warning", EVENT_REASON, message) : NULL;
        if (body) {
            char path[400];
            snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", st->ns);
            kube_batch_add(events, "POST", path, NULL, body);
        }
        free(body);
    }
    count_check(ac, total ? "insufficient" : "sufficient");
    missing_gauge(st, (double)total);
    free(st->checked);
    st->checked = r->fingerprint;
    r->fingerprint = NULL;
    kube_batch_free(r->batch);
    r->batch = events;
    if (events && kube_batch_count(events) > 0) {
        kube_batch_start(events);
        return;
    }
    st->run = NULL;
    run_free(r);
}
