#include "audit.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access_review.h"
#include "kinds.h"
#include "kube.h"
#include "kube_batch.h"
#include "kubeconfig.h"
#include "object.h"
#include "render.h"

#define AUDIT_IN_FLIGHT 8

/* Asked of every account everywhere, so that what nobody intended but someone granted shows as EXTRA. bind and
 * escalate are the verbs that let an account grant more than it holds. */
static const struct {
    const char *group, *resource, *verbs[4];
} sensitive[] = {
    {"", "secrets", {"get", "list", "watch", NULL}},
    {"", "pods/exec", {"create", NULL}},
    {"", "nodes", {"get", "list", NULL}},
    {"rbac.authorization.k8s.io", "roles", {"escalate", "bind", NULL}},
    {"rbac.authorization.k8s.io", "clusterroles", {"escalate", "bind", NULL}},
    {"*", "*", {"*", NULL}},
};

/* The lists the audit reads first; items get their kind stamped, as list items come without one. */
enum list { L_ACCOUNTS, L_NAMESPACES, L_FLINK_DEPLOYMENTS, L_FLINK_SESSION_JOBS, L_ROLES, L_ROLE_BINDINGS,
            L_CLUSTER_ROLES, L_CLUSTER_ROLE_BINDINGS, L_COUNT };
static const char *const list_kind[L_COUNT] = {"ServiceAccount", "Namespace", "FlinkDeployment", "FlinkSessionJob",
                                               "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"};

/* One account in one place its bindings reach. */
struct scope {
    char *ns;          /* NULL: cluster-wide */
    cJSON *intended;   /* the rules the policies grant the account there */
    cJSON *wildcards;  /* strings: live rules with "*" that reach it there, with where they come from */
    struct access_tuples tuples;
    size_t first;      /* batch index of tuples.items[0] */
};

struct account {
    char *ns, *name;
    struct scope *scopes;
    size_t nscopes;
};

struct audit {
    const struct audit_opts *o;
    FILE *out, *diag;
    struct ev_loop *loop;
    struct kube_config cfg;
    struct kube *kube;
    struct policy *policy;
    cJSON *ctx;
    cJSON *lists[L_COUNT];
    cJSON *live_rbac;  /* roles and bindings as they are, one array for access_binding_role */
    cJSON *intended;   /* what operator() and namespace() return */
    enum list *which;  /* the list each read of the batch is for */
    struct account *accounts;
    size_t naccounts;
    struct kube_batch *batch;
    int status;
};

static void audit_fail(struct audit *a, const char *what, const char *detail)
{
    fprintf(a->diag, "flinkop audit: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    a->status = 2;
}

static void reads_done(void *ud, struct kube_batch *b);
static void reviews_done(void *ud, struct kube_batch *b);

/* One list read: every namespace when ns is NULL. */
static int read_add(struct audit *a, enum list l, const char *ns)
{
    char path[512];
    const char *query = l == L_ACCOUNTS ? "labelSelector=" OBJECT_MANAGED_BY_LABEL "%3D" OBJECT_MANAGED_BY_VALUE : NULL;
    long i;
    if (kind_path(kind_lookup(list_kind[l]), ns, NULL, path, sizeof path) != 0 ||
        (i = kube_batch_add(a->batch, "GET", path, query, NULL)) < 0)
        return -1;
    enum list *grown = realloc(a->which, ((size_t)i + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    a->which = grown;
    a->which[i] = l;
    return 0;
}

/* Cluster scope reads each list across namespaces; namespaced scope reads the watched namespaces and the operator's
 * own, as the operator itself can. */
static int reads_start(struct audit *a)
{
    const struct context_opts *c = &a->o->ctx;
    int rc = (a->batch = kube_batch_new(a->loop, a->kube, AUDIT_IN_FLIGHT, reads_done, a)) ? 0 : -1;
    rc = rc ? rc : read_add(a, L_CLUSTER_ROLES, NULL);
    rc = rc ? rc : read_add(a, L_CLUSTER_ROLE_BINDINGS, NULL);
    size_t n = c->watch_namespaces ? c->watch_count + 1 : 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *ns = !c->watch_namespaces ? NULL : i < c->watch_count ? c->watch_namespaces[i]
                                                                          : c->operator_namespace;
        if (ns && i == c->watch_count && context_watches(c, ns))
            continue;
        for (enum list l = L_ACCOUNTS; rc == 0 && l <= L_ROLE_BINDINGS; l++)
            if (l != L_NAMESPACES || ns == NULL)
                rc = read_add(a, l, ns);
    }
    if (rc == 0)
        kube_batch_start(a->batch);
    return rc;
}

/* Moves a list's items into a->lists[l] with their kind. */
static void list_take(struct audit *a, enum list l, cJSON *page)
{
    cJSON *items = cJSON_GetObjectItemCaseSensitive(page, "items");
    while (cJSON_IsArray(items) && items->child) {
        cJSON *obj = cJSON_DetachItemViaPointer(items, items->child);
        if (!cJSON_GetObjectItemCaseSensitive(obj, "kind"))
            cJSON_AddStringToObject(obj, "kind", list_kind[l]);
        cJSON_AddItemToArray(l >= L_ROLES ? a->live_rbac : a->lists[l], obj);
    }
}

static int names_add(cJSON *list, const char *s)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list) if (strcmp(e->valuestring, s) == 0) return 0;
    return cJSON_AddItemToArray(list, cJSON_CreateString(s)) ? 0 : -1;
}

/* The namespaces whose namespace() to ask: those holding a managed account, or the watched ones. */
static cJSON *namespaces_to_render(const struct audit *a)
{
    cJSON *names = cJSON_CreateArray();
    const struct context_opts *c = &a->o->ctx;
    const cJSON *sa;
    for (size_t i = 0; names && c->watch_namespaces && i < c->watch_count; i++)
        names_add(names, c->watch_namespaces[i]);
    cJSON_ArrayForEach(sa, a->lists[L_ACCOUNTS])
    {
        if (names && !c->watch_namespaces)
            names_add(names, object_namespace(sa));
    }
    return names;
}

/* {FlinkDeployment: [...], FlinkSessionJob: [...]} of ns, as the daemon hands it to namespace(). */
static cJSON *inventory_of(const struct audit *a, const char *ns)
{
    cJSON *inv = cJSON_CreateObject();
    for (enum list l = L_FLINK_DEPLOYMENTS; inv && l <= L_FLINK_SESSION_JOBS; l++) {
        cJSON *names = cJSON_AddArrayToObject(inv, list_kind[l]);
        const cJSON *o;
        cJSON_ArrayForEach(o, a->lists[l])
        {
            if (names && strcmp(object_namespace(o), ns) == 0)
                cJSON_AddItemToArray(names, cJSON_CreateString(object_name(o)));
        }
    }
    return inv;
}

static const cJSON *namespace_live(const struct audit *a, const char *name)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, a->lists[L_NAMESPACES]) if (strcmp(object_name(o), name) == 0) return o;
    return NULL;
}

/* The daemon leaves a terminating namespace alone, and so does the audit: what is in it is on its way out. */
static int namespace_terminating(const struct audit *a, const char *name)
{
    const cJSON *ns = namespace_live(a, name);
    const char *phase = object_string_at(ns, "status.phase");
    return (phase && strcmp(phase, "Terminating") == 0) || object_string_at(ns, "metadata.deletionTimestamp");
}

/* The Namespace object namespace() sees: the live one in cluster scope, only its name in namespaced scope (the
 * daemon cannot read Namespaces there either). NULL when it is gone or terminating. */
static cJSON *namespace_object(const struct audit *a, const char *name)
{
    const cJSON *live = namespace_live(a, name);
    if (live)
        return namespace_terminating(a, name) ? NULL : cJSON_Duplicate(live, 1);
    if (a->o->ctx.watch_namespaces == NULL)
        return NULL;
    cJSON *ns = cJSON_CreateObject();
    cJSON_AddStringToObject(ns, "apiVersion", "v1");
    cJSON_AddStringToObject(ns, "kind", "Namespace");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ns, "metadata"), "name", name);
    return ns;
}

static void intended_take(struct audit *a, struct render_result *r)
{
    while (cJSON_IsArray(r->objects) && r->objects->child)
        cJSON_AddItemToArray(a->intended, cJSON_DetachItemViaPointer(r->objects, r->objects->child));
    render_result_free(r);
}

/* Everything the policies want: operator(ctx), then namespace(ns, ctx) for each namespace to audit. */
static int intended_render(struct audit *a)
{
    char err[2048];
    struct render_result r;
    if (render_operator(a->policy, a->ctx, &r, err, sizeof err) != 0) {
        audit_fail(a, "policy failed", err);
        return -1;
    }
    intended_take(a, &r);
    cJSON *names = namespaces_to_render(a);
    const cJSON *n;
    int rc = names ? 0 : -1;
    cJSON_ArrayForEach(n, names)
    {
        cJSON *ns = namespace_object(a, n->valuestring), *inv = inventory_of(a, n->valuestring);
        if (ns && inv && render_namespace(a->policy, ns, a->ctx, inv, &r, err, sizeof err) != 0) {
            audit_fail(a, "policy failed", err);
            rc = -1;
        } else if (ns && inv) {
            intended_take(a, &r);
        }
        cJSON_Delete(ns);
        cJSON_Delete(inv);
    }
    cJSON_Delete(names);
    return rc;
}

static struct account *account_get(struct audit *a, const char *ns, const char *name)
{
    for (size_t i = 0; i < a->naccounts; i++)
        if (strcmp(a->accounts[i].ns, ns) == 0 && strcmp(a->accounts[i].name, name) == 0)
            return &a->accounts[i];
    struct account *grown = realloc(a->accounts, (a->naccounts + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    a->accounts = grown;
    struct account *acc = &a->accounts[a->naccounts];
    *acc = (struct account){.ns = strdup(ns), .name = strdup(name)};
    if (acc->ns == NULL || acc->name == NULL) {
        free(acc->ns);
        free(acc->name);
        return NULL;
    }
    a->naccounts++;
    return acc;
}

static struct scope *scope_get(struct account *acc, const char *ns)
{
    for (size_t i = 0; i < acc->nscopes; i++)
        if (ns == NULL ? acc->scopes[i].ns == NULL : acc->scopes[i].ns && strcmp(ns, acc->scopes[i].ns) == 0)
            return &acc->scopes[i];
    struct scope *grown = realloc(acc->scopes, (acc->nscopes + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    acc->scopes = grown;
    struct scope *s = &acc->scopes[acc->nscopes];
    *s = (struct scope){.ns = ns ? strdup(ns) : NULL, .intended = cJSON_CreateArray(),
                        .wildcards = cJSON_CreateArray()};
    if ((ns && s->ns == NULL) || s->intended == NULL || s->wildcards == NULL) {
        free(s->ns);
        cJSON_Delete(s->intended);
        cJSON_Delete(s->wildcards);
        return NULL;
    }
    acc->nscopes++;
    return s;
}

static int is_binding(const cJSON *o, int *cluster)
{
    const char *kind = object_kind(o);
    *cluster = kind && strcmp(kind, "ClusterRoleBinding") == 0;
    return kind && (*cluster || strcmp(kind, "RoleBinding") == 0);
}

/* Appends copies of the rules to the array into. */
static int rules_append(cJSON *into, const cJSON *rules)
{
    const cJSON *rule;
    cJSON_ArrayForEach(rule, rules)
    {
        if (!cJSON_AddItemToArray(into, cJSON_Duplicate(rule, 1)))
            return -1;
    }
    return 0;
}

/* The places the account's bindings reach: each intended binding's (cluster-wide for a ClusterRoleBinding), each
 * live RoleBinding's, else its own namespace. A ClusterRoleBinding's rules hold in every place. */
static int scopes_collect(struct account *acc, const cJSON *intended, const cJSON *live)
{
    cJSON *everywhere = cJSON_CreateArray();
    const cJSON *b;
    int cluster, rc = everywhere ? 0 : -1;
    cJSON_ArrayForEach(b, intended)
    {
        if (rc || !is_binding(b, &cluster) || !access_binding_covers(b, acc->ns, acc->name))
            continue;
        struct scope *s = scope_get(acc, cluster ? NULL : object_namespace(b));
        const cJSON *role = access_binding_role(intended, b);
        rc = s == NULL || (role && rules_append(cluster ? everywhere : s->intended,
                                               cJSON_GetObjectItemCaseSensitive(role, "rules")) != 0) ? -1 : 0;
    }
    cJSON_ArrayForEach(b, live)
    {
        if (rc == 0 && is_binding(b, &cluster) && !cluster && access_binding_covers(b, acc->ns, acc->name))
            rc = scope_get(acc, object_namespace(b)) ? 0 : -1;
    }
    if (rc == 0 && acc->nscopes == 0 && scope_get(acc, acc->ns) == NULL)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < acc->nscopes; i++)
        rc = rules_append(acc->scopes[i].intended, everywhere);
    cJSON_Delete(everywhere);
    return rc;
}

/* Live roles with "*" bound to the account in scope s: noted, and their tuples asked about. */
static int wildcards_collect(struct scope *s, const struct account *acc, const cJSON *live, struct access_tuples *ts)
{
    char where[1024];
    const cJSON *b;
    int cluster;
    cJSON_ArrayForEach(b, live)
    {
        if (!is_binding(b, &cluster) || !access_binding_covers(b, acc->ns, acc->name) ||
            (!cluster && (s->ns == NULL || strcmp(s->ns, object_namespace(b)) != 0)))
            continue;
        const cJSON *role = access_binding_role(live, b);
        const cJSON *rules = cJSON_GetObjectItemCaseSensitive(role, "rules");
        if (role == NULL || !access_rules_have_wildcard(rules))
            continue;
        snprintf(where, sizeof where, "%s %s%s%s via %s %s%s%s", object_kind(role),
                 object_namespace(role) ? object_namespace(role) : "", object_namespace(role) ? "/" : "",
                 object_name(role), object_kind(b), object_namespace(b) ? object_namespace(b) : "",
                 object_namespace(b) ? "/" : "", object_name(b));
        if (!cJSON_AddItemToArray(s->wildcards, cJSON_CreateString(where)) || access_tuples_add_rules(ts, rules) != 0)
            return -1;
    }
    return 0;
}

/* What to ask in one place: the intended tuples, the sensitive ones, then those of live wildcard rules. */
static int tuples_collect(struct scope *s, const struct account *acc, const cJSON *live)
{
    if (access_tuples_add_rules(&s->tuples, s->intended) != 0)
        return -1;
    for (size_t i = 0; i < sizeof sensitive / sizeof *sensitive; i++)
        for (size_t v = 0; sensitive[i].verbs[v]; v++)
            if (access_tuples_add(&s->tuples, sensitive[i].group, sensitive[i].resource, sensitive[i].verbs[v],
                                  "") != 0)
                return -1;
    return wildcards_collect(s, acc, live, &s->tuples);
}

/* Every account the policies make or that carries our label, with where to ask and what. */
static int accounts_collect(struct audit *a)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, a->intended)
    {
        if (strcmp(object_kind(o), "ServiceAccount") == 0 && !account_get(a, object_namespace(o), object_name(o)))
            return -1;
    }
    cJSON_ArrayForEach(o, a->lists[L_ACCOUNTS])
    {
        if (!namespace_terminating(a, object_namespace(o)) && !account_get(a, object_namespace(o), object_name(o)))
            return -1;
    }
    for (size_t i = 0; i < a->naccounts; i++) {
        struct account *acc = &a->accounts[i];
        if (scopes_collect(acc, a->intended, a->live_rbac) != 0)
            return -1;
        for (size_t j = 0; j < acc->nscopes; j++)
            if (tuples_collect(&acc->scopes[j], acc, a->live_rbac) != 0)
                return -1;
    }
    return 0;
}

static int reviews_start(struct audit *a)
{
    char path[512];
    kube_batch_free(a->batch);
    if ((a->batch = kube_batch_new(a->loop, a->kube, AUDIT_IN_FLIGHT, reviews_done, a)) == NULL)
        return -1;
    for (size_t i = 0; i < a->naccounts; i++) {
        struct account *acc = &a->accounts[i];
        for (size_t j = 0; j < acc->nscopes; j++) {
            struct scope *s = &acc->scopes[j];
            s->first = kube_batch_count(a->batch);
            if (access_review_path(s->ns, path, sizeof path) != 0)
                return -1;
            for (size_t t = 0; t < s->tuples.count; t++) {
                char *body = access_review_body(s->ns, acc->ns, acc->name, &s->tuples.items[t]);
                long added = body ? kube_batch_add(a->batch, "POST", path, NULL, body) : -1;
                free(body);
                if (added < 0)
                    return -1;
            }
        }
    }
    kube_batch_start(a->batch);
    return 0;
}

static void reads_done(void *ud, struct kube_batch *b)
{
    struct audit *a = ud;
    char what[128];
    for (size_t i = 0; i < kube_batch_count(b); i++) {
        const struct kube_batch_result *r = kube_batch_result(b, i);
        enum list l = a->which[i];
        if (r->status == 404 && (l == L_FLINK_DEPLOYMENTS || l == L_FLINK_SESSION_JOBS))
            continue; /* the Flink CRDs are not installed: there are none */
        if (r->status < 200 || r->status >= 300) {
            snprintf(what, sizeof what, "cannot list %ss", list_kind[l]);
            audit_fail(a, what, r->error);
            continue;
        }
        list_take(a, l, r->json);
    }
    if (a->status == 0 && intended_render(a) == 0 && (accounts_collect(a) != 0 || reviews_start(a) != 0))
        audit_fail(a, "out of memory", NULL);
    if (a->status != 0)
        ev_break(a->loop, EVBREAK_ALL);
}

struct totals {
    size_t checks, missing, extra, wildcard;
};

static void scope_print(struct audit *a, const struct account *acc, const struct scope *s, struct totals *t)
{
    char res[600], flag[32];
    int w = (int)strlen("RESOURCE");
    for (size_t i = 0; i < s->tuples.count; i++) {
        int n = (int)strlen(access_tuple_resource(&s->tuples.items[i], res, sizeof res));
        w = n > w ? n : w;
    }
    if (s->ns)
        fprintf(a->out, "\nServiceAccount %s/%s in namespace %s (LocalSubjectAccessReview)\n", acc->ns, acc->name,
                s->ns);
    else
        fprintf(a->out, "\nServiceAccount %s/%s cluster-wide (SubjectAccessReview)\n", acc->ns, acc->name);
    fprintf(a->out, "%-*s  %-16s  %-8s  %-7s  FLAG\n", w, "RESOURCE", "VERB", "INTENDED", "ALLOWED");
    for (size_t i = 0; i < s->tuples.count; i++) {
        const struct access_tuple *tp = &s->tuples.items[i];
        const struct kube_batch_result *r = kube_batch_result(a->batch, s->first + i);
        int intended = access_rules_cover(s->intended, tp);
        int allowed = r->status >= 200 && r->status < 300 ? access_review_allowed(r->json) : -1;
        int missing = intended && allowed == 0, extra = !intended && allowed == 1;
        int wildcard = access_tuple_has_wildcard(tp) && (intended || allowed == 1);
        if (allowed < 0 && a->status != 2)
            audit_fail(a, "review failed", r->error[0] ? r->error : "answer without status.allowed");
        t->checks++;
        t->missing += missing;
        t->extra += extra;
        t->wildcard += wildcard;
        snprintf(flag, sizeof flag, "%s%s%s", missing ? "MISSING" : extra ? "EXTRA" : "",
                 (missing || extra) && wildcard ? " " : "", wildcard ? "WILDCARD" : "");
        fprintf(a->out, "%-*s  %-16s  %-8s  %-*s%s%s\n", w, access_tuple_resource(tp, res, sizeof res), tp->verb,
                intended ? "yes" : "no", *flag ? 7 : 0, allowed < 0 ? "error" : allowed ? "yes" : "no",
                *flag ? "  " : "", flag);
    }
    const cJSON *wc;
    cJSON_ArrayForEach(wc, s->wildcards) fprintf(a->out, "WILDCARD: %s\n", wc->valuestring);
}

static void reviews_done(void *ud, struct kube_batch *b)
{
    struct audit *a = ud;
    struct totals t = {0};
    (void)b;
    for (size_t i = 0; i < a->naccounts; i++)
        for (size_t j = 0; j < a->accounts[i].nscopes; j++)
            scope_print(a, &a->accounts[i], &a->accounts[i].scopes[j], &t);
    fprintf(a->out, "\naudit: %zu accounts, %zu checks: %zu missing, %zu extra, %zu wildcard\n", a->naccounts,
            t.checks, t.missing, t.extra, t.wildcard);
    if (a->status == 0 && (t.missing || t.extra))
        a->status = 1;
    ev_break(a->loop, EVBREAK_ALL);
}

/* Loads the policies and the cluster configuration. */
static int audit_open(struct audit *a)
{
    char err[2048];
    struct policy_files files = {0};
    if (policy_files_read_dir(a->o->script_dir, &files, err, sizeof err) != 0 ||
        (a->policy = policy_load(&files, &a->o->limits, err, sizeof err)) == NULL) {
        policy_files_free(&files);
        audit_fail(a, "policy refused", err);
        return -1;
    }
    policy_files_free(&files);
    if (kube_config_load(&a->cfg, a->o->kubeconfig, a->o->context, err, sizeof err) != 0) {
        audit_fail(a, "cannot load the cluster configuration", err);
        return -1;
    }
    struct kube_opts ko = {.qps = 50, .burst = 100};
    struct context_opts co = a->o->ctx;
    co.dry_run = 0;
    for (enum list l = 0; l < L_COUNT; l++)
        if ((a->lists[l] = cJSON_CreateArray()) == NULL) {
            audit_fail(a, "out of memory", NULL);
            return -1;
        }
    if ((a->ctx = context_new(&co, time(NULL))) == NULL || (a->intended = cJSON_CreateArray()) == NULL ||
        (a->live_rbac = cJSON_CreateArray()) == NULL ||
        (a->kube = kube_new(a->loop, &a->cfg, &ko, err, sizeof err)) == NULL) {
        audit_fail(a, "cannot start", a->ctx && a->intended && a->live_rbac ? err : "out of memory");
        return -1;
    }
    return 0;
}

static void audit_close(struct audit *a)
{
    kube_batch_free(a->batch);
    for (size_t i = 0; i < a->naccounts; i++) {
        for (size_t j = 0; j < a->accounts[i].nscopes; j++) {
            struct scope *s = &a->accounts[i].scopes[j];
            free(s->ns);
            cJSON_Delete(s->intended);
            cJSON_Delete(s->wildcards);
            access_tuples_free(&s->tuples);
        }
        free(a->accounts[i].scopes);
        free(a->accounts[i].ns);
        free(a->accounts[i].name);
    }
    free(a->accounts);
    free(a->which);
    for (enum list l = 0; l < L_COUNT; l++)
        cJSON_Delete(a->lists[l]);
    cJSON_Delete(a->live_rbac);
    cJSON_Delete(a->intended);
    cJSON_Delete(a->ctx);
    kube_free(a->kube);
    policy_free(a->policy);
    kube_config_free(&a->cfg);
}

int audit_run(const struct audit_opts *o, FILE *out, FILE *diag)
{
    struct audit a = {.o = o, .out = out, .diag = diag};
    if ((a.loop = ev_loop_new(EVFLAG_AUTO)) == NULL) {
        fprintf(diag, "flinkop audit: cannot make an event loop\n");
        return 2;
    }
    if (audit_open(&a) == 0) {
        if (reads_start(&a) != 0)
            audit_fail(&a, "out of memory", NULL);
        else
            ev_run(a.loop, 0);
    }
    audit_close(&a);
    ev_loop_destroy(a.loop);
    return a.status;
}
