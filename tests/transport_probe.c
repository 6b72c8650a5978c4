/* transport_probe: drives core/kube.h against a real apiserver for tests/transport_test.sh.
 *
 *   transport_probe basic NS        /version, list namespaces, create/apply/get/delete a ConfigMap, 404, limiter
 *   transport_probe watch NS NAME   watch ConfigMaps in NS; print "# ready" once the watch is open, then expect
 *                                   an ADDED event for NAME (the script creates it with kubectl)
 *   transport_probe gone NS RV      a watch from a compacted resourceVersion ends with 410
 *   transport_probe whoami NS SA    as a service account with no RBAC: 403 naming the account (token was sent)
 *   transport_probe burst NS N [S]  N concurrent lists of NS's ConfigMaps, all 200; with S, wait S seconds and
 *                                   send N more (a credential plugin's credential may expire in between)
 *   transport_probe refused NS      a list of NS's ConfigMaps fails without an HTTP status (the credential plugin
 *                                   fails); prints "# error: MESSAGE"; a second list at once fails the same way
 *
 * The config comes from $KUBECONFIG (kube_config_load). Prints TAP-like "ok - name" / "not ok - name # why"
 * lines; exits 0 when all passed. */
#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube.h"
#include "kubeconfig.h"
#include "loop_until.h"

static struct ev_loop *loop;
static struct kube *kube;
static int failures;
static char verbs[512];

static void check(int ok, const char *name, const char *fmt, ...)
{
    char why[600] = "";
    if (!ok && fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
    }
    printf("%s - %s%s%s\n", ok ? "ok" : "not ok", name, ok ? "" : " # ", ok ? "" : why);
    fflush(stdout);
    failures += !ok;
}

static void count(void *ud, const char *verb, int code)
{
    (void)ud;
    size_t n = strlen(verbs);
    snprintf(verbs + n, sizeof verbs - n, "%s%s=%d", n ? " " : "", verb, code);
}

/* Runs the loop until *flag is set or `seconds` pass; -1 when the time ran out first. */
static int run_until(const int *flag, double seconds)
{
    return loop_until(loop, flag, 1, seconds);
}

struct result {
    int done, status;
    char *body;
    char error[600];
};

static void on_done(void *ud, const struct kube_response *r)
{
    struct result *res = ud;
    res->done++;
    res->status = r->status;
    res->body = strdup(r->body);
    snprintf(res->error, sizeof res->error, "%s", r->error ? r->error : "");
}

/* One request, run to completion; the caller frees res->body. */
static struct result call(const char *method, const char *path, const char *query, const char *body,
                          const char *ctype)
{
    struct result res = {0};
    char err[600];
    if (!kube_request(kube, method, path, query, body, ctype, on_done, &res, err, sizeof err)) {
        snprintf(res.error, sizeof res.error, "%s", err);
        return res;
    }
    run_until(&res.done, 30);
    if (!res.done)
        snprintf(res.error, sizeof res.error, "no answer in 30 s");
    return res;
}

static const char *json_str(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void probe_basic(const char *ns)
{
    char path[300], want[400];
    struct result r = call("GET", "/version", NULL, NULL, NULL);
    cJSON *j = cJSON_Parse(r.body ? r.body : "");
    check(r.status == 200 && json_str(j, "gitVersion", NULL)[0], "GET /version is 200 with a gitVersion",
          "status %d %s %s", r.status, r.error, r.body ? r.body : "");
    cJSON_Delete(j);
    free(r.body);

    r = call("GET", "/api/v1/namespaces", NULL, NULL, NULL);
    j = cJSON_Parse(r.body ? r.body : "");
    int found = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "items")) found |=
        strcmp(json_str(it, "metadata", "name"), ns) == 0;
    check(r.status == 200 && strcmp(json_str(j, "kind", NULL), "NamespaceList") == 0 && found,
          "list namespaces includes the test namespace", "status %d %s", r.status, r.error);
    cJSON_Delete(j);
    free(r.body);

    snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps", ns);
    r = call("POST", path, NULL, "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"probe-a\"},"
                                 "\"data\":{\"k\":\"1\"}}", NULL);
    check(r.status == 201, "POST creates a ConfigMap (201)", "status %d %s %s", r.status, r.error,
          r.body ? r.body : "");
    free(r.body);

    snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps/probe-a", ns);
    r = call("PATCH", path, "fieldManager=flinkop-probe&force=true",
             "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe-a\ndata:\n  k: \"2\"\n",
             "application/apply-patch+yaml");
    j = cJSON_Parse(r.body ? r.body : "");
    check(r.status == 200 && strcmp(json_str(j, "data", "k"), "2") == 0, "server-side apply PATCH (200)",
          "status %d %s %s", r.status, r.error, r.body ? r.body : "");
    cJSON_Delete(j);
    free(r.body);

    r = call("GET", path, NULL, NULL, NULL);
    j = cJSON_Parse(r.body ? r.body : "");
    check(r.status == 200 && strcmp(json_str(j, "data", "k"), "2") == 0, "GET reads the applied ConfigMap",
          "status %d %s", r.status, r.error);
    cJSON_Delete(j);
    free(r.body);

    r = call("DELETE", path, NULL, NULL, NULL);
    check(r.status == 200, "DELETE removes it (200)", "status %d %s", r.status, r.error);
    free(r.body);

    r = call("GET", path, NULL, NULL, NULL);
    j = cJSON_Parse(r.body ? r.body : "");
    check(r.status == 404 && strcmp(json_str(j, "reason", NULL), "NotFound") == 0,
          "GET of a deleted object is 404 NotFound", "status %d %s", r.status, r.error);
    cJSON_Delete(j);
    free(r.body);

    snprintf(want, sizeof want, "get=200 list=200 create=201 patch=200 get=200 delete=200 get=404");
    check(strcmp(verbs, want) == 0, "on_response counts each request by verb and code", "got \"%s\"", verbs);
}

/* qps 5, burst 1: six requests need at least a second. */
static void probe_limiter(struct kube_config *cfg)
{
    struct kube_opts o = {.qps = 5, .burst = 1};
    char err[600];
    struct kube *k = kube_new(loop, cfg, &o, err, sizeof err);
    struct result res[6] = {{0}};
    int all = 0;
    ev_now_update(loop);
    ev_tstamp t0 = ev_now(loop);
    for (int i = 0; i < 6; i++)
        if (!kube_request(k, "GET", "/version", NULL, NULL, NULL, on_done, &res[i], err, sizeof err))
            break;
    for (;;) {
        all = 1;
        for (int i = 0; i < 6; i++)
            all &= res[i].done;
        if (all)
            break;
        if (run_until(&res[5].done, 10))
            break;
    }
    ev_now_update(loop);
    double took = ev_now(loop) - t0;
    check(all && took >= 0.9 && took < 5, "rate limiter spaces 6 requests at 5 qps burst 1 over >= 1 s",
          "done=%d took %.2f s", all, took);
    for (int i = 0; i < 6; i++)
        free(res[i].body);
    kube_free(k);
}

struct watch_state {
    const char *want;
    int added, ended, end_status, other;
    char end_err[600];
    struct kube_call *call;
};

static void on_event(void *ud, cJSON *ev)
{
    struct watch_state *w = ud;
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    if (w->want && strcmp(json_str(ev, "type", NULL), "ADDED") == 0 &&
        strcmp(json_str(obj, "metadata", "name"), w->want) == 0) {
        w->added = 1;
        kube_call_cancel(w->call); /* cancel from inside on_event: no on_end follows */
    } else {
        w->other++;
    }
}

static void on_end(void *ud, int status, const char *err)
{
    struct watch_state *w = ud;
    w->ended = 1;
    w->end_status = status;
    snprintf(w->end_err, sizeof w->end_err, "%s", err ? err : "");
}

static void probe_watch(const char *ns, const char *name)
{
    char path[300], q[300], err[600];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps", ns);
    struct result r = call("GET", path, NULL, NULL, NULL);
    cJSON *j = cJSON_Parse(r.body ? r.body : "");
    const char *rv = json_str(j, "metadata", "resourceVersion");
    check(r.status == 200 && rv[0], "list configmaps gives a resourceVersion", "status %d %s", r.status, r.error);
    snprintf(q, sizeof q, "resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=60", rv);
    cJSON_Delete(j);
    free(r.body);

    struct watch_state w = {.want = name};
    struct kube_watch_callbacks cb = {on_event, on_end};
    w.call = kube_watch_start(kube, path, q, &cb, &w, err, sizeof err);
    check(w.call != NULL, "watch starts", "%s", err);
    if (!w.call)
        return;
    /* Let the request reach the server before the script creates the object. */
    int never = 0;
    run_until(&never, 1.0);
    printf("# ready\n");
    fflush(stdout);
    run_until(&w.added, 30);
    check(w.added && !w.ended, "watch sees ADDED for the ConfigMap kubectl created",
          "added=%d ended=%d status=%d %s", w.added, w.ended, w.end_status, w.end_err);
    if (!w.added && !w.ended)
        kube_call_cancel(w.call);
    check(strstr(verbs, "list=200") != NULL, "the list was counted", "verbs \"%s\"", verbs);
}

static void probe_gone(const char *ns, const char *rv)
{
    char path[300], q[300], err[600];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps", ns);
    snprintf(q, sizeof q, "resourceVersion=%s&timeoutSeconds=30", rv);
    struct watch_state w = {0};
    struct kube_watch_callbacks cb = {on_event, on_end};
    w.call = kube_watch_start(kube, path, q, &cb, &w, err, sizeof err);
    check(w.call != NULL, "watch from a compacted resourceVersion starts", "%s", err);
    if (!w.call)
        return;
    run_until(&w.ended, 30);
    check(w.ended && w.end_status == 410, "watch from a compacted resourceVersion ends with 410",
          "ended=%d status=%d %s", w.ended, w.end_status, w.end_err);
    if (!w.ended)
        kube_call_cancel(w.call);
    check(strstr(verbs, "watch=") != NULL, "the watch was counted", "verbs \"%s\"", verbs);
}

static void probe_whoami(const char *ns, const char *sa)
{
    char path[300], want[300];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", ns);
    snprintf(want, sizeof want, "system:serviceaccount:%s:%s", ns, sa);
    struct result r = call("GET", path, NULL, NULL, NULL);
    check(r.status == 403 && r.body && strstr(r.body, want), "bearer token is sent: 403 names the service account",
          "status %d %s %s", r.status, r.error, r.body ? r.body : "");
    free(r.body);
}

/* N list requests started together; all must answer 200. */
static void burst_round(const char *ns, int n, const char *name)
{
    char path[300], err[600];
    struct result res[32] = {{0}};
    int started = 0, all = 0, ok = 0;
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps", ns);
    for (; started < n && started < 32; started++)
        if (!kube_request(kube, "GET", path, NULL, NULL, NULL, on_done, &res[started], err, sizeof err))
            break;
    for (int tries = 0; !all && tries < 600; tries++) {
        int never = 0;
        all = 1;
        for (int i = 0; i < started; i++)
            all &= res[i].done;
        if (!all)
            run_until(&never, 0.05);
    }
    for (int i = 0; i < started; i++)
        ok += res[i].status == 200;
    check(started == n && ok == n, name, "%d of %d answered 200; first: status %d %s", ok, n, res[0].status,
          res[0].error);
    for (int i = 0; i < started; i++)
        free(res[i].body);
}

static void probe_burst(const char *ns, int n, double pause)
{
    char name[200];
    snprintf(name, sizeof name, "%d concurrent lists through the credential plugin all answer 200", n);
    burst_round(ns, n, name);
    if (pause > 0) {
        int never = 0;
        run_until(&never, pause);
        snprintf(name, sizeof name, "%d more lists after %.0f s all answer 200", n, pause);
        burst_round(ns, n, name);
    }
    printf("# verbs: %s\n", verbs);
}

static void probe_refused(const char *ns)
{
    char path[300];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps", ns);
    for (int i = 0; i < 2; i++) {
        struct result r = call("GET", path, NULL, NULL, NULL);
        check(r.done && r.status == 0 && r.error[0], i ? "a second list fails the same way at once"
                                                       : "a list fails when the credential plugin fails",
              "done %d status %d", r.done, r.status);
        printf("# error: %s\n", r.error);
        free(r.body);
    }
    check(strcmp(verbs, "list=0 list=0") == 0, "both are counted as failed without a response", "verbs \"%s\"",
          verbs);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s basic|watch|gone|whoami|burst|refused NS [ARG...]\n", argv[0]);
        return 2;
    }
    struct kube_config cfg;
    char err[600];
    if (kube_config_load(&cfg, NULL, NULL, err, sizeof err)) {
        check(0, "load the kubeconfig", "%s", err);
        return 1;
    }
    loop = ev_default_loop(0);
    struct kube_opts o = {.on_response = count};
    kube = kube_new(loop, &cfg, &o, err, sizeof err);
    if (!kube) {
        check(0, "make the client", "%s", err);
        kube_config_free(&cfg);
        return 1;
    }
    if (strcmp(argv[1], "basic") == 0) {
        probe_basic(argv[2]);
        probe_limiter(&cfg);
    } else if (strcmp(argv[1], "watch") == 0 && argc > 3) {
        probe_watch(argv[2], argv[3]);
    } else if (strcmp(argv[1], "gone") == 0 && argc > 3) {
        probe_gone(argv[2], argv[3]);
    } else if (strcmp(argv[1], "whoami") == 0 && argc > 3) {
        probe_whoami(argv[2], argv[3]);
    } else if (strcmp(argv[1], "burst") == 0 && argc > 3) {
        probe_burst(argv[2], atoi(argv[3]), argc > 4 ? atof(argv[4]) : 0);
    } else if (strcmp(argv[1], "refused") == 0) {
        probe_refused(argv[2]);
    } else {
        check(0, "known subcommand", "%s", argv[1]);
    }
    kube_free(kube);
    kube_config_free(&cfg);
    ev_loop_destroy(loop);
    return failures ? 1 : 0;
}
