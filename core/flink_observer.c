/* Background polls of each tracked JobManager (see flink_observer.h). A target is one FlinkDeployment: its timer,
 * its call in flight (at most one), and what its last finished poll saw. A poll is GET /jobs/overview, then, for
 * each FAILED job not asked about before, GET /jobs/:jobid/exceptions for the cause; only when the whole poll is
 * done does the observation change, so a reconcile never sees half a poll. */
#include "flink_observer.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flink_rest.h"
#include "json_text.h"
#include "log.h"
#include "strmap.h"
#include "strutil.h"

struct flink_observer {
    struct flink_observer_opts o;
    struct strmap *targets; /* key -> struct target * */
};

struct target {
    struct flink_observer *o;
    char *key, *ns, *name;
    ev_timer timer;
    struct flink_rest_call *call;
    int answered;          /* a poll has finished: there is an observation */
    int reachable;
    char since[32];        /* when `reachable` last changed */
    char observed_at[32];  /* when the last poll finished */
    char *error;           /* unreachable: why the first failed call of this outage failed */
    cJSON *jobs;           /* the jobs of the last poll, FAILED ones with their `failure` (owned) */
    cJSON *polling;        /* the jobs of the poll in progress, while causes of failures are fetched (owned) */
    cJSON *failures;       /* job id -> {class, message}: asked once per failed job (owned) */
    char asking[33];       /* the job whose cause is being asked for */
};

static void target_poll(struct target *t);

static void utc_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void target_free(void *p)
{
    struct target *t = p;
    if (t == NULL)
        return;
    flink_rest_call_cancel(t->call);
    ev_timer_stop(t->o->o.loop, &t->timer);
    cJSON_Delete(t->jobs);
    cJSON_Delete(t->polling);
    cJSON_Delete(t->failures);
    free(t->error);
    free(t->key);
    free(t->ns);
    free(t->name);
    free(t);
}

struct flink_observer *flink_observer_new(const struct flink_observer_opts *opts)
{
    struct flink_observer *o = calloc(1, sizeof *o);
    if (o == NULL || (o->targets = strmap_new()) == NULL) {
        free(o);
        return NULL;
    }
    o->o = *opts;
    return o;
}

void flink_observer_free(struct flink_observer *o)
{
    if (o == NULL)
        return;
    strmap_free(o->targets, target_free);
    free(o);
}

/* What a policy decides on, without the clock: two polls that saw the same thing compare equal. */
static cJSON *observation_core(const struct target *t)
{
    cJSON *core = cJSON_CreateObject();
    cJSON_AddBoolToObject(core, "reachable", t->reachable);
    cJSON_AddItemToObject(core, "jobs", t->jobs ? cJSON_Duplicate(t->jobs, 1) : cJSON_CreateArray());
    return core;
}

cJSON *flink_observer_get(const struct flink_observer *o, const char *key)
{
    const struct target *t = strmap_get(o->targets, key);
    if (t == NULL || !t->answered)
        return NULL;
    cJSON *obs = observation_core(t);
    cJSON_AddStringToObject(obs, "since", t->since);
    cJSON_AddStringToObject(obs, "observed_at", t->observed_at);
    if (!t->reachable && t->error)
        cJSON_AddStringToObject(obs, "error", t->error);
    return obs;
}

/* In transition: poll again soon. Steady (every job RUNNING or finished): poll seldom. */
static double poll_interval(const struct target *t)
{
    const cJSON *j;
    if (!t->reachable || cJSON_GetArraySize(t->jobs) == 0)
        return FLINK_OBSERVER_FAST;
    cJSON_ArrayForEach(j, t->jobs)
    {
        const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "state"));
        if (s == NULL || (strcmp(s, "RUNNING") != 0 && strcmp(s, "FINISHED") != 0 && strcmp(s, "FAILED") != 0 &&
                          strcmp(s, "CANCELED") != 0))
            return FLINK_OBSERVER_FAST;
    }
    return FLINK_OBSERVER_STEADY;
}

/* Ends a poll: records what it saw (jobs owned by the call, NULL when unreachable), tells `changed` when that
 * differs from the poll before, and schedules the next one. */
static void poll_end(struct target *t, cJSON *jobs, const char *error)
{
    cJSON *before = t->answered ? observation_core(t) : NULL;
    int reachable = jobs != NULL;
    if (!t->answered || reachable != t->reachable) {
        utc_now(t->since, sizeof t->since);
        free(t->error);
        t->error = reachable ? NULL : strutil_dup(error);
        if (reachable)
            log_object(LOG_LEVEL_INFO, t->ns, t->name, "flink rest api reachable", NULL);
        else
            log_object(LOG_LEVEL_WARN, t->ns, t->name, "flink rest api unreachable", "error", error, NULL);
    }
    t->reachable = reachable;
    if (reachable) {
        cJSON_Delete(t->jobs);
        t->jobs = jobs;
    }
    t->answered = 1;
    utc_now(t->observed_at, sizeof t->observed_at);
    cJSON *after = observation_core(t);
    int changed = before == NULL || !json_equal(before, after);
    cJSON_Delete(before);
    cJSON_Delete(after);
    ev_timer_stop(t->o->o.loop, &t->timer);
    ev_timer_set(&t->timer, poll_interval(t), 0.);
    ev_timer_start(t->o->o.loop, &t->timer);
    if (changed && t->o->o.changed)
        t->o->o.changed(t->o->o.ud, t->key);
}

/* Keeps the causes of the jobs still listed only, and puts them on the FAILED jobs. */
static void failures_attach(struct target *t, cJSON *jobs)
{
    cJSON *kept = cJSON_CreateObject();
    const cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id"));
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(t->failures, id);
        if (f == NULL)
            continue;
        cJSON_AddItemToObject(kept, id, cJSON_Duplicate(f, 1));
        if (cJSON_GetObjectItemCaseSensitive(f, "class"))
            cJSON_AddItemToObject((cJSON *)j, "failure", cJSON_Duplicate(f, 1));
    }
    cJSON_Delete(t->failures);
    t->failures = kept;
}

static void on_exceptions(void *ud, const struct flink_rest_answer *a);

/* Asks for the cause of the next FAILED job of the poll that has none yet, or ends the poll. */
static void poll_failures(struct target *t)
{
    char path[128], err[256];
    const cJSON *j;
    if (t->failures == NULL)
        t->failures = cJSON_CreateObject();
    cJSON_ArrayForEach(j, t->polling)
    {
        const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "id"));
        const char *state = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "state"));
        if (strcmp(state, "FAILED") != 0 || cJSON_GetObjectItemCaseSensitive(t->failures, id))
            continue;
        snprintf(path, sizeof path, "/jobs/%s/exceptions", id);
        snprintf(t->asking, sizeof t->asking, "%s", id);
        /* Asked once: a cause that cannot be had now is not asked for on every poll. */
        cJSON_AddItemToObject(t->failures, id, cJSON_CreateObject());
        if ((t->call = flink_rest_request(t->o->o.rest, t->ns, t->name, "GET", path, NULL, on_exceptions, t, err,
                                          sizeof err)) != NULL)
            return;
    }
    cJSON *jobs = t->polling;
    t->polling = NULL;
    failures_attach(t, jobs);
    poll_end(t, jobs, NULL);
}

static void on_exceptions(void *ud, const struct flink_rest_answer *a)
{
    struct target *t = ud;
    t->call = NULL;
    cJSON *cause = a->error ? NULL : flink_rest_failure_parse(a->body);
    if (cause && !cJSON_ReplaceItemInObjectCaseSensitive(t->failures, t->asking, cause))
        cJSON_Delete(cause);
    poll_failures(t);
}

static void on_overview(void *ud, const struct flink_rest_answer *a)
{
    struct target *t = ud;
    char why[512];
    t->call = NULL;
    if (a->error) {
        poll_end(t, NULL, a->error);
        return;
    }
    cJSON *jobs = flink_rest_jobs_parse(a->body, why, sizeof why);
    if (jobs == NULL) {
        poll_end(t, NULL, why);
        return;
    }
    cJSON_Delete(t->polling);
    t->polling = jobs;
    poll_failures(t);
}

static void target_poll(struct target *t)
{
    char err[512];
    if (t->call)
        return;
    t->call = flink_rest_request(t->o->o.rest, t->ns, t->name, "GET", "/jobs/overview", NULL, on_overview, t, err,
                                 sizeof err);
    if (t->call == NULL)
        poll_end(t, NULL, err);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    target_poll(w->data);
}

void flink_observer_track(struct flink_observer *o, const char *key, const char *ns, const char *name, int wanted)
{
    struct target *t = strmap_get(o->targets, key);
    int failed = 0;
    if (!wanted) {
        target_free(strmap_remove(o->targets, key));
        return;
    }
    if (t != NULL)
        return;
    if ((t = calloc(1, sizeof *t)) == NULL || (t->key = strutil_dup(key)) == NULL ||
        (t->ns = strutil_dup(ns)) == NULL || (t->name = strutil_dup(name)) == NULL) {
        if (t) {
            free(t->key);
            free(t->ns);
        }
        free(t);
        return;
    }
    t->o = o;
    ev_timer_init(&t->timer, on_timer, 0., 0.);
    t->timer.data = t;
    strmap_put(o->targets, key, t, &failed);
    if (failed) {
        target_free(t);
        return;
    }
    ev_timer_start(o->o.loop, &t->timer); /* the first poll on the next loop turn, never inside a reconcile */
}
