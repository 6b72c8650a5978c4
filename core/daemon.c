/* The daemon's wiring: configuration, informers, the queue worker, periodic resync, probes and metrics, signals.
 * What one reconcile does is in sync.c. */
#include "daemon.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon_state.h"
#include "event_seen.h"
#include "kinds.h"
#include "log.h"
#include "object.h"
#include "render.h"

#define DRAIN_LIMIT 10.0 /* seconds SIGTERM waits for in-flight writes */
#define PLAN_LIMIT 60.0  /* seconds `plan` waits for the caches and the reconciles */

const cJSON *daemon_lookup(const struct daemon *d, const char *kind, const char *ns, const char *name,
                           struct informer **from)
{
    for (size_t i = 0; i < d->informer_count; i++) {
        struct informer *inf = d->informers[i];
        const struct kind_info *k = informer_kind(inf);
        const char *ins = informer_namespace(inf);
        if (strcmp(k->kind, kind) != 0)
            continue;
        if (k->namespaced && ins && (ns == NULL || strcmp(ins, ns) != 0))
            continue;
        if (from)
            *from = inf;
        return cache_get(informer_cache(inf), k->namespaced ? ns : NULL, name);
    }
    if (from)
        *from = NULL;
    return NULL;
}

/* Queues the key the format builds; keys are "Kind/ns/name" or "Namespace/name". Nothing is queued once stopping. */
static void enqueue(struct daemon *d, const char *fmt, ...)
{
    char key[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    if (!d->stopping && n > 0 && (size_t)n < sizeof key)
        queue_add(d->queue, key);
}

struct session_walk {
    struct daemon *d;
    const char *cluster; /* "FlinkDeployment/ns/name" */
};

static void session_job_queue(void *ud, const cJSON *job)
{
    struct session_walk *sw = ud;
    char cluster[600];
    if (flink_observer_cluster_key(job, cluster, sizeof cluster) == 0 && strcmp(cluster, sw->cluster) == 0)
        enqueue(sw->d, "FlinkSessionJob/%s/%s", object_namespace(job), object_name(job));
}

/* Queues the FlinkSessionJobs that run on the session cluster `cluster` ("FlinkDeployment/ns/name"). */
static void session_jobs_enqueue(struct daemon *d, const char *cluster)
{
    struct session_walk sw = {d, cluster};
    for (size_t i = 0; i < d->informer_count; i++)
        if (strcmp(informer_kind(d->informers[i])->kind, "FlinkSessionJob") == 0)
            cache_each(informer_cache(d->informers[i]), session_job_queue, &sw);
}

/* The Flink observer saw a JobManager answer differently: reconcile that resource again, and the FlinkSessionJobs
 * that run on it, which decide on its observation. */
static void flink_changed(void *ud, const char *key)
{
    struct daemon *d = ud;
    enqueue(d, "%s", key);
    session_jobs_enqueue(d, key);
}

/* The JobManagers' REST client and the observer that fills observed.flink. `plan` asks no JobManager anything. */
static int flink_start(struct daemon *d, char *err, size_t errlen)
{
    struct flink_observer_opts fo = {.loop = d->loop, .changed = flink_changed, .ud = d};
    if (d->o->plan)
        return 0;
    if ((fo.rest = d->flink_rest = flink_rest_new(d->loop, d->o->flink_rest_url, err, errlen)) == NULL)
        return -1;
    if ((d->flink = flink_observer_new(&fo, err, errlen)) == NULL)
        return -1;
    return 0;
}

/* Level-triggered: any change to a Flink resource, a namespace or an object we own queues the key that decides
 * about it; the reconcile reads the whole state again. */
/* The policy ConfigMap's informer: its own kind entry, not ownable, so no prune, resync or inventory walks it. */
static struct kind_info policy_kind;

static void on_change(void *ud, const struct kind_info *kind, const char *type, const cJSON *obj)
{
    struct daemon *d = ud;
    const char *ns = object_namespace(obj), *name = object_name(obj);
    if (d->o->plan)
        return; /* a plan decides every key exactly once, when the caches are complete */
    if (kind == &policy_kind) {
        if (strcmp(type, "DELETED") == 0)
            log_object(LOG_LEVEL_WARN, ns, name, "policy ConfigMap deleted; the running policy stays", NULL);
        else
            policy_reload_offer(d, obj);
        return;
    }
    if (strcmp(kind->kind, "FlinkDeployment") == 0 || strcmp(kind->kind, "FlinkSessionJob") == 0) {
        enqueue(d, "%s/%s/%s", kind->kind, ns ? ns : "", name);
        /* The namespace's RBAC depends on which Flink resources it holds. */
        enqueue(d, "Namespace/%s", ns ? ns : "");
        /* A session cluster's session jobs wait for its JobManager to be READY (observed.session_cluster). */
        char cluster[600];
        if (strcmp(kind->kind, "FlinkDeployment") == 0 &&
            snprintf(cluster, sizeof cluster, "FlinkDeployment/%s/%s", ns ? ns : "", name) < (int)sizeof cluster)
            session_jobs_enqueue(d, cluster);
        return;
    }
    if (strcmp(kind->kind, "Namespace") == 0) {
        enqueue(d, "Namespace/%s", name);
        return;
    }
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(obj, "metadata"), "annotations");
    const cJSON *owner = cJSON_GetObjectItemCaseSensitive(ann, OBJECT_OWNER_ANNOTATION);
    if (cJSON_IsString(owner) && strcmp(owner->valuestring, "operator") != 0)
        enqueue(d, "%s", owner->valuestring);
}

static void on_restart(void *ud, const struct kind_info *kind, const char *reason)
{
    struct daemon *d = ud;
    metrics_counter_add(d->metrics, "flinkop_watch_restarts_total", NULL,
                        (const char *const[]){"resource", kind->plural, "reason", reason, NULL}, 1);
}

static void count_response(struct daemon *d, const char *metric, const char *verb, int code)
{
    char c[16];
    snprintf(c, sizeof c, "%d", code);
    metrics_counter_add(d->metrics, metric, NULL, (const char *const[]){"verb", verb, "code", c, NULL}, 1);
}

static void on_response(void *ud, const char *verb, int code)
{
    count_response(ud, "flinkop_api_requests_total", verb, code);
}

/* Lease traffic is counted apart, so "API writes" means writes of the objects we manage. */
static void on_lease_response(void *ud, const char *verb, int code)
{
    count_response(ud, "flinkop_lease_requests_total", verb, code);
}

static int informers_synced(const struct daemon *d)
{
    for (size_t i = 0; i < d->informer_count; i++)
        if (!informer_synced(d->informers[i]) && !informer_forbidden(d->informers[i]))
            return 0;
    return 1;
}

static void worker_run(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct daemon *d = w->data;
    if (!d->leading || d->policy == NULL) {
        ev_idle_stop(loop, w); /* a follower keeps its caches warm and waits; leader_changed restarts us */
        return;
    }
    if (!informers_synced(d)) {
        ev_idle_stop(loop, w); /* the resync timer restarts us; until then the caches are incomplete */
        return;
    }
    const char *key = queue_get(d->queue);
    if (key == NULL) {
        ev_idle_stop(loop, w);
        return;
    }
    sync_key(d, key);
}

static void queue_ready(struct queue *q, void *data)
{
    (void)q;
    struct daemon *d = data;
    ev_idle_start(d->loop, &d->worker);
}

struct resync_walk {
    struct daemon *d;
    const char *kind;
};

static void resync_one(void *ud, const cJSON *obj)
{
    struct resync_walk *r = ud;
    if (strcmp(r->kind, "Namespace") == 0)
        enqueue(r->d, "Namespace/%s", object_name(obj));
    else
        enqueue(r->d, "%s/%s/%s", r->kind, object_namespace(obj), object_name(obj));
}

void daemon_requeue_all(struct daemon *d)
{
    for (size_t i = 0; i < d->informer_count; i++) {
        const struct kind_info *k = informer_kind(d->informers[i]);
        if (k->ownable || d->informers[i] == d->policy_informer)
            continue;
        struct resync_walk r = {d, k->kind};
        cache_each(informer_cache(d->informers[i]), resync_one, &r);
    }
    for (size_t i = 0; i < d->watch_count; i++)
        enqueue(d, "Namespace/%s", d->watch[i]);
    for (size_t i = 0; i < d->draining_count; i++)
        enqueue(d, "Namespace/%s", d->draining[i]);
    ev_idle_start(d->loop, &d->worker);
}

/* Re-queues every key, so drift nobody told us about (and a missed event) is corrected within one interval. */
static void resync_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct daemon *d = w->data;
    scope_tick(d);
    event_seen_prune(d->events_sent, time(NULL), EVENT_TTL_SECONDS);
    daemon_requeue_all(d);
}

/* Only the leader writes. Taking over re-queues everything, since the caches may have moved on meanwhile;
 * losing stops the worker at once (sync.c refuses any write that a running reconcile still tries). */
static void leader_changed(void *ud, int leading)
{
    struct daemon *d = ud;
    d->leading = leading;
    metrics_gauge_set(d->metrics, "flinkop_leader", NULL, NULL, leading);
    if (leading && !d->stopping)
        daemon_requeue_all(d);
    else
        ev_idle_stop(d->loop, &d->worker);
}

static int ready_check(void *data, char *reason, size_t reasonlen)
{
    struct daemon *d = data;
    if (d->stopping) {
        snprintf(reason, reasonlen, "stopping");
        return 0;
    }
    if (!informers_synced(d)) {
        snprintf(reason, reasonlen, "informers not synced");
        return 0;
    }
    if (d->policy == NULL) {
        snprintf(reason, reasonlen, "no policy loaded yet from ConfigMap %s/%s", d->policy_cm_ns, d->policy_cm_name);
        return 0;
    }
    return 1;
}

static char *metrics_text(void *data)
{
    struct daemon *d = data;
    metrics_gauge_set(d->metrics, "flinkop_queue_depth", NULL, NULL, (double)queue_len(d->queue));
    return metrics_render(d->metrics);
}

/* `plan`: once the caches are filled, queue every key once; when the last reconcile has answered, stop. */
static void plan_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct daemon *d = w->data;
    if (d->stopping) {
        plan_error(d->o->plan, "interrupted");
        ev_break(loop, EVBREAK_ALL);
    } else if (ev_now(loop) - d->stop_started > PLAN_LIMIT) {
        log_msg(LOG_LEVEL_ERROR, "plan: the cluster did not answer in time", NULL);
        plan_error(d->o->plan, "timeout");
        ev_break(loop, EVBREAK_ALL);
    } else if (!d->planned && informers_synced(d)) {
        d->planned = 1;
        daemon_requeue_all(d);
    } else if (d->planned && queue_len(d->queue) == 0 && queue_in_flight(d->queue) == 0) {
        ev_break(loop, EVBREAK_ALL);
    }
}

static void lease_released(void *ud)
{
    struct daemon *d = ud;
    ev_break(d->loop, EVBREAK_ALL);
}

/* Leaves the loop once in-flight writes are done, giving the lease up first so a standby takes over at once. */
static void drain_check(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct daemon *d = w->data;
    if (ev_now(loop) - d->stop_started > DRAIN_LIMIT) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (queue_in_flight(d->queue) != 0 || d->releasing)
        return;
    if (d->lease == NULL) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    d->releasing = 1;
    lease_release(d->lease, lease_released, d);
}

/* SIGTERM/SIGINT: take no new work, let in-flight writes finish, then leave the loop. */
static void signal_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    struct daemon *d = w->data;
    if (d->stopping)
        return;
    d->stopping = 1;
    d->stop_started = ev_now(loop);
    char in_flight[32];
    snprintf(in_flight, sizeof in_flight, "%zu", queue_shutdown(d->queue));
    log_msg(LOG_LEVEL_INFO, "stopping", "signal", w->signum == SIGTERM ? "TERM" : "INT", "in_flight", in_flight, NULL);
    ev_timer_stop(loop, &d->resync);
    ev_idle_stop(loop, &d->worker);
    ev_timer_start(loop, &d->drain);
}

struct informer *daemon_informer_add(struct daemon *d, const struct kind_info *kind, const char *ns,
                                     const char *selector)
{
    static const struct informer_handler handler = {on_change, on_restart};
    struct informer **grown = realloc(d->informers, (d->informer_count + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    d->informers = grown;
    struct informer *inf = informer_new(d->loop, d->kube, kind, ns, selector, &handler, d);
    if (inf != NULL)
        d->informers[d->informer_count++] = inf;
    return inf;
}

/* Cluster scope: one informer per kind across namespaces, plus Namespaces. Namespaced scope: one per kind and
 * watched namespace, so a namespace that refuses us (403) fails alone. Plus the policy ConfigMap's, if any. */
static int informers_create(struct daemon *d)
{
    if (d->watch == NULL && (daemon_informer_add(d, kind_lookup("Namespace"), NULL, NULL) == NULL ||
                             scope_watch_namespace(d, NULL, 0) != 0))
        return -1;
    for (size_t n = 0; n < d->watch_count; n++)
        if (scope_watch_namespace(d, d->watch[n], 0) != 0)
            return -1;
    if (d->policy_cm_ns) {
        /* Last, so lookups of owned ConfigMaps find the owned-object informers first. */
        char field[400];
        policy_kind = *kind_lookup("ConfigMap");
        policy_kind.ownable = 0;
        snprintf(field, sizeof field, "fieldSelector=metadata.name%%3D%s", d->policy_cm_name);
        if ((d->policy_informer = daemon_informer_add(d, &policy_kind, d->policy_cm_ns, field)) == NULL)
            return -1;
    }
    return 0;
}

static void metrics_declare_all(struct metrics *m)
{
    metrics_declare(m, "flinkop_reconciles_total", METRICS_COUNTER, "Reconciles by kind and result");
    metrics_declare(m, "flinkop_queue_depth", METRICS_GAUGE, "Keys waiting in the work queue");
    metrics_declare(m, "flinkop_api_requests_total", METRICS_COUNTER, "API server requests by verb and HTTP code");
    metrics_declare(m, "flinkop_watch_restarts_total", METRICS_COUNTER, "Watch restarts by resource and reason");
    metrics_declare(m, "flinkop_policy_errors_total", METRICS_COUNTER, "Policy calls that failed or were refused");
    metrics_declare_histogram(m, "flinkop_policy_evaluation_seconds", "Time spent in one policy call", NULL, 0);
    metrics_declare(m, "flinkop_policy_info", METRICS_GAUGE, "1 for the running policy, by its files' hash");
    metrics_declare(m, "flinkop_policy_reloads_total", METRICS_COUNTER, "Policy ConfigMap changes by result");
    metrics_declare(m, "flinkop_leader", METRICS_GAUGE, "1 while this replica may write (leads, or no election)");
    metrics_declare(m, "flinkop_lease_requests_total", METRICS_COUNTER, "Leader election requests by verb and code");
}

/* --leader-elect: a client of its own for the Lease, and a campaign under a per-process identity. */
static int election_start(struct daemon *d, char *err, size_t errlen)
{
    char host[128] = "flinkop", identity[200];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "flinkop");
    host[sizeof host - 1] = '\0';
    snprintf(identity, sizeof identity, "%s_%ld_%08x", host, (long)getpid(), (unsigned)rand());
    /* One attempt per retry period, each bounded well inside the renew deadline; the campaign is the retry. */
    struct kube_opts ko = {.qps = -1, .max_attempts = 1, .timeout_ms = 5000, .on_response = on_lease_response,
                           .on_response_ud = d};
    if ((d->lease_kube = kube_new(d->loop, &d->cfg, &ko, err, errlen)) == NULL)
        return -1;
    struct lease_opts lo = {.namespace = d->operator_namespace,
                            .name = d->o->lease_name ? d->o->lease_name : "flinkop-leader",
                            .identity = identity, .on_change = leader_changed, .ud = d};
    return (d->lease = lease_start(d->loop, d->lease_kube, &lo, err, errlen)) ? 0 : -1;
}

/* --script-dir: load it now, or fail to start. Otherwise the policy ConfigMap's informer brings the policy. */
static int policy_source_start(struct daemon *d, char *err, size_t errlen)
{
    struct policy_files files = {0};
    if (d->o->script_dir == NULL) {
        char def[300];
        snprintf(def, sizeof def, "%s/%s", d->operator_namespace, DAEMON_POLICY_CONFIGMAP);
        const char *ref = d->o->policy_configmap ? d->o->policy_configmap : def;
        const char *slash = strchr(ref, '/');
        if (slash == NULL || slash == ref || slash[1] == '\0' || strchr(slash + 1, '/')) {
            snprintf(err, errlen, "--policy-configmap \"%.200s\": expected NAMESPACE/NAME", ref);
            return -1;
        }
        d->policy_cm_ns = strndup(ref, (size_t)(slash - ref));
        d->policy_cm_name = strdup(slash + 1);
        if (d->policy_cm_ns == NULL || d->policy_cm_name == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        log_msg(LOG_LEVEL_INFO, "policy from ConfigMap", "configmap", ref, NULL);
        return 0;
    }
    if (policy_files_read_dir(d->o->script_dir, &files, err, errlen) != 0 ||
        (d->policy = policy_load(&files, &d->o->limits, err, errlen)) == NULL) {
        policy_files_free(&files);
        return -1;
    }
    policy_files_hash(&files, d->policy_hash, sizeof d->policy_hash);
    policy_files_free(&files);
    if (d->o->rbac_ceiling && render_use_ceiling_file(d->policy, d->o->rbac_ceiling, err, errlen) != 0)
        return -1;
    metrics_gauge_set(d->metrics, "flinkop_policy_info", NULL, (const char *const[]){"hash", d->policy_hash, NULL}, 1);
    log_msg(LOG_LEVEL_INFO, "policy loaded", "script_dir", d->o->script_dir, "hash", d->policy_hash, NULL);
    return 0;
}

static int daemon_start(struct daemon *d)
{
    char err[2048];
    if (kube_config_load(&d->cfg, d->o->kubeconfig, d->o->context, err, sizeof err) != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot load the cluster configuration", "error", err, NULL);
        return -1;
    }
    d->operator_namespace = d->o->ctx.operator_namespace ? d->o->ctx.operator_namespace : d->cfg.namespace;
    struct context_opts co = d->o->ctx;
    co.operator_namespace = d->operator_namespace;
    co.dry_run = 0;
    if (scope_start(d) != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start", "error", "out of memory", NULL);
        return -1;
    }
    co.watch_namespaces = d->watch;
    co.watch_count = d->watch_count;
    d->ctx = context_new(&co, time(NULL));
    d->metrics = metrics_new();
    d->events_sent = strmap_new();
    struct kube_opts ko = {.qps = d->o->kube_qps, .on_response = on_response, .on_response_ud = d};
    d->kube = kube_new(d->loop, &d->cfg, &ko, err, sizeof err);
    struct queue_opts qo = {.ready = queue_ready, .ready_data = d};
    d->queue = queue_new(d->loop, &qo);
    if (d->ctx == NULL || d->metrics == NULL || d->events_sent == NULL || d->kube == NULL || d->queue == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cannot start", "error", d->kube ? "out of memory" : err, NULL);
        return -1;
    }
    metrics_declare_all(d->metrics);
    if (flink_start(d, err, sizeof err) != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start the Flink observer", "error", err, NULL);
        return -1;
    }
    if (policy_source_start(d, err, sizeof err) != 0) {
        log_msg(LOG_LEVEL_ERROR, "policy refused", "error", err, NULL);
        return -1;
    }
    if ((d->access = access_check_new(d->loop, d->kube, d->metrics, &d->leading)) == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cannot start", "error", "out of memory", NULL);
        return -1;
    }
    d->leading = !d->o->leader_elect;
    metrics_gauge_set(d->metrics, "flinkop_leader", NULL, NULL, d->leading);
    if (d->o->leader_elect && election_start(d, err, sizeof err) != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start leader election", "error", err, NULL);
        return -1;
    }
    struct probe_opts po = {.host = d->o->probe_host, .port = d->o->probe_port, .ready = ready_check,
                            .metrics = metrics_text, .data = d};
    if (!d->o->plan && (d->probe = probe_start(d->loop, &po, err, sizeof err)) == NULL) {
        log_msg(LOG_LEVEL_ERROR, "cannot start the probe server", "error", err, NULL);
        return -1;
    }
    if (informers_create(d) != 0) {
        log_msg(LOG_LEVEL_ERROR, "cannot start", "error", "out of memory", NULL);
        return -1;
    }
    for (size_t i = 0; i < d->informer_count; i++)
        informer_start(d->informers[i]);
    char port[16];
    snprintf(port, sizeof port, "%d", d->probe ? probe_port(d->probe) : 0);
    log_msg(LOG_LEVEL_INFO, "started", "server", d->cfg.server, "config", d->cfg.source, "operator_namespace",
            d->operator_namespace, "scope", d->watch ? "namespaced" : "cluster", "probe_port",
            port, "leader_elect", d->o->leader_elect ? "true" : "false", NULL);
    return 0;
}

static void daemon_free(struct daemon *d)
{
    for (size_t i = 0; i < d->informer_count; i++)
        informer_free(d->informers[i]);
    free(d->informers);
    queue_free(d->queue);
    access_check_free(d->access);
    flink_observer_free(d->flink);
    flink_rest_free(d->flink_rest);
    lease_free(d->lease);
    kube_free(d->lease_kube);
    kube_free(d->kube);
    probe_stop(d->probe);
    metrics_free(d->metrics);
    strmap_free(d->events_sent, event_seen_free);
    policy_free(d->policy);
    free(d->policy_cm_ns);
    free(d->policy_cm_name);
    cJSON_Delete(d->ctx);
    scope_free(d);
    kube_config_free(&d->cfg);
}

int daemon_run(const struct daemon_opts *o)
{
    struct daemon d = {.o = o};
    d.loop = ev_default_loop(0);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    ev_idle_init(&d.worker, worker_run);
    d.worker.data = &d;
    ev_timer_init(&d.resync, resync_fire, 1.0, o->resync_seconds);
    d.resync.data = &d;
    ev_timer_init(&d.drain, drain_check, 0.05, 0.05);
    d.drain.data = &d;
    ev_signal_init(&d.sigterm, signal_stop, SIGTERM);
    ev_signal_init(&d.sigint, signal_stop, SIGINT);
    d.sigterm.data = d.sigint.data = &d;
    int status = 2;
    if (daemon_start(&d) == 0) {
        ev_signal_start(d.loop, &d.sigterm);
        ev_signal_start(d.loop, &d.sigint);
        if (o->plan) {
            d.stop_started = ev_now(d.loop);
            ev_timer_init(&d.drain, plan_check, 0.05, 0.05);
            d.drain.data = &d;
            ev_timer_start(d.loop, &d.drain);
        } else {
            ev_timer_start(d.loop, &d.resync);
        }
        ev_run(d.loop, 0);
        ev_signal_stop(d.loop, &d.sigterm);
        ev_signal_stop(d.loop, &d.sigint);
        ev_timer_stop(d.loop, &d.drain);
        ev_timer_stop(d.loop, &d.resync);
        ev_idle_stop(d.loop, &d.worker);
        log_msg(LOG_LEVEL_INFO, "stopped", NULL);
        status = 0;
    }
    daemon_free(&d);
    ev_loop_destroy(d.loop);
    return status;
}
