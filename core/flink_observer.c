/* Background polls of each tracked JobManager, and the actions reconciles ask for (see flink_observer.h). A target
 * is one FlinkDeployment: its timer, its poll in flight (at most one), its actions in flight, and what its last
 * finished poll saw. A poll is GET /jobs/overview, then GET /jobs/:jobid/exceptions for each FAILED job not asked
 * about before, then GET /jobs/:jobid/savepoints/:triggerid for each savepoint in progress (and GET
 * /jobs/:jobid/checkpoints for one the JobManager has forgotten); only when the whole poll is done does the
 * observation change, so a reconcile never sees half a poll. */
#include "flink_observer.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flink_rest.h"
#include "jar_fetch.h"
#include "json_text.h"
#include "log.h"
#include "strmap.h"
#include "strutil.h"

struct flink_observer {
    struct flink_observer_opts o;
    struct strmap *targets; /* key -> struct target * */
    struct jar_fetch_config jars; /* where session jobs' jars are downloaded to, and their cap */
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
    char asking[33];       /* the job whose cause, or the trigger whose progress, is being asked for */
    int sp_next;           /* the next entry of `savepoints` this poll asks about */
    cJSON *savepoints;     /* trigger id -> {job_id, status, location, failure, error} (owned) */
    int cp_next;           /* the next entry of `checkpoints` this poll asks about */
    cJSON *checkpoints;    /* trigger id -> {job_id, status, checkpoint_id, failure, error} (owned) */
    cJSON *cancels;        /* job id -> ev_now() of the last cancel sent (owned) */
    cJSON *submissions;    /* job id -> {status = SUBMITTED | FAILED, error}: the session jobs submitted (owned) */
    cJSON *submits;        /* job id -> ev_now() of the last submission sent (owned) */
    cJSON *retriggers;     /* trigger id -> ev_now() of the last resend of a trigger Flink refused (owned) */
    cJSON *submit_failures; /* job id -> failed submissions in a row: the backoff of the next (owned) */
    struct act_call *acts; /* actions in flight */
};

enum act_type { ACT_SAVEPOINT, ACT_CANCEL, ACT_SUBMIT, ACT_CHECKPOINT };

/* One action in flight. */
struct act_call {
    struct target *t;
    struct flink_rest_call *call;
    enum act_type type;
    char job[33], trigger[33];
    char *jar_name;        /* ACT_SUBMIT: the jar to run, as GET /jars names it (owned) */
    char *run_body;        /* ACT_SUBMIT: the body of POST /jars/:jarid/run (owned) */
    char *jar_uri;         /* ACT_SUBMIT: where to fetch the jar when the JobManager holds none (owned), or NULL */
    char *jar_path;        /* ACT_SUBMIT: the jar being uploaded (owned) */
    int jar_temp;          /* jar_path is a download: deleted once uploaded */
    struct jar_fetch *fetch; /* ACT_SUBMIT: the download in flight */
    double fetch_started;
    double triggered_at;   /* ACT_SAVEPOINT: when the policy recorded the trigger (epoch ms), or -1 */
    char *post_body;       /* ACT_SAVEPOINT sent after a look at /checkpoints: the trigger's body (owned) */
    char post_path[128];   /* ... and its path */
    struct act_call *next;
};

static void target_poll(struct target *t);

static void utc_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Deletes a downloaded jar once it is no longer needed (uploaded, failed, or the action dropped). */
static void jar_drop(struct act_call *a)
{
    if (a->jar_temp && a->jar_path)
        unlink(a->jar_path);
    free(a->jar_path);
    a->jar_path = NULL;
    a->jar_temp = 0;
}

static void act_unlink(struct act_call *a)
{
    struct act_call **pp = &a->t->acts;
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
    jar_fetch_cancel(a->fetch);
    jar_drop(a);
    free(a->jar_uri);
    free(a->jar_name);
    free(a->run_body);
    free(a->post_body);
    free(a);
}

static void target_free(void *p)
{
    struct target *t = p;
    if (t == NULL)
        return;
    while (t->acts) {
        flink_rest_call_cancel(t->acts->call);
        act_unlink(t->acts);
    }
    cJSON_Delete(t->savepoints);
    cJSON_Delete(t->checkpoints);
    cJSON_Delete(t->cancels);
    cJSON_Delete(t->submissions);
    cJSON_Delete(t->submits);
    cJSON_Delete(t->retriggers);
    cJSON_Delete(t->submit_failures);
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

struct flink_observer *flink_observer_new(const struct flink_observer_opts *opts, char *err, size_t errlen)
{
    struct flink_observer *o = calloc(1, sizeof *o);
    if (o == NULL || (o->targets = strmap_new()) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(o);
        return NULL;
    }
    if (jar_fetch_config_env(&o->jars, err, errlen) != 0) {
        strmap_free(o->targets, target_free);
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
    cJSON_AddItemToObject(core, "savepoints", t->savepoints ? cJSON_Duplicate(t->savepoints, 1) : cJSON_CreateObject());
    cJSON_AddItemToObject(core, "checkpoints",
                          t->checkpoints ? cJSON_Duplicate(t->checkpoints, 1) : cJSON_CreateObject());
    cJSON_AddItemToObject(core, "submissions",
                          t->submissions ? cJSON_Duplicate(t->submissions, 1) : cJSON_CreateObject());
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

static const char *status_of(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static int savepoint_in_progress(const cJSON *entry)
{
    const char *s = status_of(entry, "status");
    return s && strcmp(s, "IN_PROGRESS") == 0;
}

/* In transition: poll again soon. Steady (every job RUNNING or finished, no savepoint or checkpoint in flight): poll
 * seldom. */
static double poll_interval(const struct target *t)
{
    const cJSON *j;
    if (!t->reachable || cJSON_GetArraySize(t->jobs) == 0)
        return FLINK_OBSERVER_FAST;
    cJSON_ArrayForEach(j, t->savepoints)
    {
        if (savepoint_in_progress(j))
            return FLINK_OBSERVER_FAST;
    }
    cJSON_ArrayForEach(j, t->checkpoints)
    {
        if (savepoint_in_progress(j))
            return FLINK_OBSERVER_FAST;
    }
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
static void poll_savepoints(struct target *t);
static void poll_checkpoints(struct target *t);

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
    t->sp_next = 0;
    t->cp_next = 0;
    poll_savepoints(t);
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

static void on_savepoint(void *ud, const struct flink_rest_answer *a);

/* Asks GET /jobs/:jobid/<what>/:triggerid for the next entry of map from *next on that is in progress; done gets
 * the answer. Returns whether a question was sent (0: none left). */
static int poll_progress(struct target *t, const cJSON *map, int *next, const char *what, flink_rest_done_fn done)
{
    char path[128], err[256];
    const cJSON *e;
    while ((e = cJSON_GetArrayItem(map, *next)) != NULL) {
        (*next)++;
        if (!savepoint_in_progress(e))
            continue;
        snprintf(t->asking, sizeof t->asking, "%s", e->string);
        snprintf(path, sizeof path, "/jobs/%s/%s/%s", status_of(e, "job_id"), what, e->string);
        if ((t->call = flink_rest_request(t->o->o.rest, t->ns, t->name, "GET", path, NULL, done, t, err,
                                          sizeof err)) != NULL)
            return 1;
    }
    return 0;
}

/* Asks how each savepoint in progress is doing, one after the other, then about the checkpoints. */
static void poll_savepoints(struct target *t)
{
    if (!poll_progress(t, t->savepoints, &t->sp_next, "savepoints", on_savepoint))
        poll_checkpoints(t);
}

static void on_checkpoint(void *ud, const struct flink_rest_answer *a);

/* Asks how each manual checkpoint in progress is doing (GET /jobs/:jobid/checkpoints/:triggerid), one after the
 * other, then ends the poll. */
static void poll_checkpoints(struct target *t)
{
    if (poll_progress(t, t->checkpoints, &t->cp_next, "checkpoints", on_checkpoint))
        return;
    cJSON *jobs = t->polling;
    t->polling = NULL;
    failures_attach(t, jobs);
    poll_end(t, jobs, NULL);
}

/* Sets (*map)[key] to value (owned by the map from then on), making the map when there is none yet. */
static void map_put(cJSON **map, const char *key, cJSON *value)
{
    if (*map == NULL)
        *map = cJSON_CreateObject();
    if (!cJSON_ReplaceItemInObjectCaseSensitive(*map, key, value))
        cJSON_AddItemToObject(*map, key, value);
}

/* Sets (*map)[trigger] to a new entry for job (`from`, or a new object); replaces one that is there. */
static void snapshot_set(cJSON **map, const char *trigger, const char *job, const char *status, cJSON *from,
                         const char *error)
{
    cJSON *e = from ? from : cJSON_CreateObject();
    cJSON_AddStringToObject(e, "job_id", job);
    if (status)
        cJSON_AddStringToObject(e, "status", status);
    if (error)
        cJSON_AddStringToObject(e, "error", error);
    map_put(map, trigger, e);
}

static void savepoint_set(struct target *t, const char *trigger, const char *job, const char *status, cJSON *from,
                          const char *error)
{
    snapshot_set(&t->savepoints, trigger, job, status, from, error);
}

/* When the savepoints entry `e` was triggered (epoch ms, from the policy's action), or -1 when not said. */
static double entry_triggered_at(const cJSON *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(e, "triggered_at");
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void on_savepoint_checkpoints(void *ud, const struct flink_rest_answer *a);

/* Records in (*map)[t->asking] what a progress question for job's trigger was answered, as `parse` reads it; an
 * answer of another shape, or a 404 (the JobManager does not know the trigger), has FAILED; any other error records
 * nothing, so the trigger stays in progress and is asked about again. */
static void progress_record(struct target *t, cJSON **map, const char *job, const struct flink_rest_answer *a,
                            cJSON *(*parse)(const cJSON *, char *, size_t))
{
    char job_id[33], why[512];
    snprintf(job_id, sizeof job_id, "%s", job); /* job lives in the entry that is replaced */
    cJSON *progress = a->error ? NULL : parse(a->body, why, sizeof why);
    if (progress == NULL && (a->status == 404 || !a->error)) {
        progress = cJSON_CreateObject();
        cJSON_AddStringToObject(progress, "status", "FAILED");
        cJSON_AddStringToObject(progress, "failure", a->error ? a->error : why);
    }
    if (progress)
        snapshot_set(map, t->asking, job_id, NULL, progress, NULL);
}

/* A trigger the JobManager no longer knows (404): Flink keeps a finished operation for minutes only, so its
 * savepoint is looked for in the job's checkpoint statistics (latest.savepoint, triggered since the trigger was
 * recorded). Returns whether that question was sent; on_savepoint_checkpoints then continues the poll. */
static int savepoint_lookup(struct target *t, const cJSON *e)
{
    char path[128], err[256];
    if (entry_triggered_at(e) < 0)
        return 0;
    snprintf(path, sizeof path, "/jobs/%s/checkpoints", status_of(e, "job_id"));
    t->call = flink_rest_request(t->o->o.rest, t->ns, t->name, "GET", path, NULL, on_savepoint_checkpoints, t, err,
                                 sizeof err);
    return t->call != NULL;
}

/* A savepoint's progress. A trigger the JobManager does not know (404: it restarted, or forgot it) is looked for in
 * /checkpoints (savepoint_lookup), and has failed when it is not there; any other error leaves it in progress, to
 * be asked again. */
static void on_savepoint(void *ud, const struct flink_rest_answer *a)
{
    struct target *t = ud;
    t->call = NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(t->savepoints, t->asking);
    const char *job = e ? status_of(e, "job_id") : NULL;
    if (job != NULL && a->status == 404 && savepoint_lookup(t, e))
        return;
    if (job != NULL)
        progress_record(t, &t->savepoints, job, a, flink_rest_savepoint_parse);
    poll_savepoints(t);
}

/* /checkpoints answered for a trigger the JobManager forgot: its savepoint, or failed. An answer that is no answer
 * (a timeout, a 5xx) leaves the trigger in progress, to be looked for again on the next poll. */
static void on_savepoint_checkpoints(void *ud, const struct flink_rest_answer *a)
{
    struct target *t = ud;
    t->call = NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(t->savepoints, t->asking);
    const char *job = e ? status_of(e, "job_id") : NULL;
    if (job != NULL && (!a->error || (a->status >= 400 && a->status < 500))) {
        char job_id[33], failure[700];
        double since = entry_triggered_at(e);
        snprintf(job_id, sizeof job_id, "%s", job);
        cJSON *found = a->error ? NULL : flink_rest_checkpoints_savepoint(a->body, since);
        if (found == NULL) {
            snprintf(failure, sizeof failure, "the JobManager no longer knows trigger %s, and %s", t->asking,
                     a->error ? a->error : "its checkpoint statistics list no savepoint taken since it was triggered");
            found = cJSON_CreateObject();
            cJSON_AddStringToObject(found, "status", "FAILED");
            cJSON_AddStringToObject(found, "failure", failure);
        } else {
            cJSON_AddStringToObject(found, "source", "checkpoints");
            log_object(LOG_LEVEL_INFO, t->ns, t->name, "savepoint found in checkpoint statistics", "trigger",
                       t->asking, "location", status_of(found, "location"), NULL);
        }
        cJSON_AddNumberToObject(found, "triggered_at", since);
        savepoint_set(t, t->asking, job_id, NULL, found, NULL);
    }
    poll_savepoints(t);
}

/* A manual checkpoint's progress. A trigger the JobManager does not know (404: it restarted, or forgot the finished
 * operation) has failed; any other error leaves it in progress, to be asked again. */
static void on_checkpoint(void *ud, const struct flink_rest_answer *a)
{
    struct target *t = ud;
    t->call = NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(t->checkpoints, t->asking);
    const char *job = e ? status_of(e, "job_id") : NULL;
    if (job != NULL)
        progress_record(t, &t->checkpoints, job, a, flink_rest_checkpoint_parse);
    poll_checkpoints(t);
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

/* Whether s can name a jar in a URL path: what Flink's upload names them ("<uuid>_<file>.jar"), nothing more. */
static int jar_name_ok(const char *s)
{
    size_t n = s ? strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") : 0;
    return s && n > 0 && n <= 200 && s[n] == '\0' && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* The extra members of a submit action: what POST /jars/:jarid/run takes. */
static int submit_check(const cJSON *a, char *err, size_t errlen)
{
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(a, "args"), *v;
    const cJSON *par = cJSON_GetObjectItemCaseSensitive(a, "parallelism");
    if (!jar_name_ok(status_of(a, "jar_name"))) {
        strutil_errf(err, errlen, "submit action: jar_name must be a file name (letters, digits, . _ -)");
        return -1;
    }
    if (args && !(cJSON_IsArray(args) || (cJSON_IsObject(args) && args->child == NULL))) {
        strutil_errf(err, errlen, "submit action: args must be a list of strings");
        return -1;
    }
    cJSON_ArrayForEach(v, args)
    {
        if (!cJSON_IsString(v)) {
            strutil_errf(err, errlen, "submit action: args must be a list of strings");
            return -1;
        }
    }
    if (par && !(cJSON_IsNumber(par) && par->valuedouble >= 1 && par->valuedouble <= 1e6 &&
                 par->valuedouble == (double)(long)par->valuedouble)) {
        strutil_errf(err, errlen, "submit action: parallelism must be a whole number from 1");
        return -1;
    }
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(a, "jar_uri");
    char name[256];
    if (uri && (!cJSON_IsString(uri) || strlen(uri->valuestring) > 2048 ||
                jar_fetch_name(uri->valuestring, name, sizeof name) != 0 ||
                strcmp(name, status_of(a, "jar_name")) != 0)) {
        strutil_errf(err, errlen, "submit action: jar_uri must be a URI (at most 2048 bytes) whose last path segment "
                                  "is jar_name");
        return -1;
    }
    const char *members[] = {"entry_class", "savepoint_path"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(a, members[i]);
        if (m && !cJSON_IsString(m)) {
            strutil_errf(err, errlen, "submit action: %s must be a string", members[i]);
            return -1;
        }
    }
    return 0;
}

int flink_observer_action_check(const cJSON *a, char *err, size_t errlen)
{
    const char *type = status_of(a, "type");
    const cJSON *dir = cJSON_GetObjectItemCaseSensitive(a, "target_directory");
    if (!cJSON_IsObject(a) || type == NULL ||
        (strcmp(type, "stop") != 0 && strcmp(type, "savepoint") != 0 && strcmp(type, "checkpoint") != 0 &&
         strcmp(type, "cancel") != 0 && strcmp(type, "submit") != 0 && strcmp(type, "delete_ha_configmaps") != 0)) {
        strutil_errf(err, errlen, "an action is a table whose type is stop, savepoint, checkpoint, cancel, submit or "
                                  "delete_ha_configmaps");
        return -1;
    }
    if (strcmp(type, "delete_ha_configmaps") == 0)
        return 0; /* the core builds its only selector from the resource's name */
    if (!flink_rest_is_id(status_of(a, "job_id"))) {
        strutil_errf(err, errlen, "%s action: job_id must be a Flink job id (32 hexadecimal digits)", type);
        return -1;
    }
    if (strcmp(type, "submit") == 0)
        return submit_check(a, err, errlen);
    if (strcmp(type, "cancel") != 0 && !flink_rest_is_id(status_of(a, "trigger_id"))) {
        strutil_errf(err, errlen, "%s action: trigger_id must be 32 hexadecimal digits", type);
        return -1;
    }
    if (dir && !cJSON_IsString(dir)) {
        strutil_errf(err, errlen, "%s action: target_directory must be a string", type);
        return -1;
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(a, "checkpoint_type");
    if (ct && (strcmp(type, "checkpoint") != 0 || !cJSON_IsString(ct) ||
               (strcmp(ct->valuestring, "FULL") != 0 && strcmp(ct->valuestring, "INCREMENTAL") != 0 &&
                strcmp(ct->valuestring, "CONFIGURED") != 0))) {
        strutil_errf(err, errlen, "%s action: checkpoint_type is a checkpoint's only, one of FULL, INCREMENTAL or "
                                  "CONFIGURED", type);
        return -1;
    }
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(a, "triggered_at");
    if (at && !(cJSON_IsNumber(at) && at->valuedouble >= 0 && at->valuedouble < 9007199254740992.0)) {
        strutil_errf(err, errlen, "%s action: triggered_at must be epoch milliseconds", type);
        return -1;
    }
    return 0;
}

/* A poll right away, unless one is under way (which will see what changed, or its successor will). */
static void target_poll_soon(struct target *t)
{
    if (t->call)
        return;
    ev_timer_stop(t->o->o.loop, &t->timer);
    ev_timer_set(&t->timer, 0., 0.);
    ev_timer_start(t->o->o.loop, &t->timer);
}

/* Drops the savepoints (or checkpoints) of map that are over: a new trigger means the policy has recorded what it
 * needed of them. */
static void snapshots_prune(cJSON *map)
{
    cJSON *e = map ? map->child : NULL;
    while (e) {
        cJSON *next = e->next;
        if (!savepoint_in_progress(e))
            cJSON_Delete(cJSON_DetachItemViaPointer(map, e));
        e = next;
    }
}

/* Records what became of a submission: the next poll sees it in observed.flink.submissions. */
static void submission_set(struct target *t, const char *job, const char *status, const char *error)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "status", status);
    if (error)
        cJSON_AddStringToObject(e, "error", error);
    map_put(&t->submissions, job, e);
}

/* Counts a submission's failures in a row (its backoff); a success forgets them. */
static void submit_failures_note(struct target *t, const char *job, int failed)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(t->submit_failures, job);
    if (failed)
        map_put(&t->submit_failures, job, cJSON_CreateNumber((n ? n->valuedouble : 0) + 1));
    else
        cJSON_DeleteItemFromObjectCaseSensitive(t->submit_failures, job);
}

/* How long after a failed submission the next is sent: 10 s, doubled for each failure in a row, at most 5 min, so
 * a jar that cannot be fetched or uploaded is not fetched again and again. */
static double submit_backoff(const struct target *t, const char *job)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(t->submit_failures, job);
    double every = FLINK_OBSERVER_STEADY;
    for (int i = 1; n && i < n->valuedouble && every < 300; i++)
        every *= 2;
    return every < 300 ? every : 300;
}

static const char *act_name(enum act_type type)
{
    return type == ACT_CANCEL ? "cancel" : type == ACT_SUBMIT ? "submit" : type == ACT_CHECKPOINT ? "checkpoint"
                                                                                                  : "savepoint";
}

static void on_act(void *ud, const struct flink_rest_answer *a)
{
    struct act_call *c = ud;
    struct target *t = c->t;
    const char *trigger = c->type == ACT_SAVEPOINT || c->type == ACT_CHECKPOINT ? c->trigger : NULL;
    if (a->error)
        log_object(LOG_LEVEL_WARN, t->ns, t->name, "flink action failed", "action", act_name(c->type), "job",
                   c->job, "error", a->error, trigger ? "trigger" : NULL, trigger, NULL);
    else
        log_object(LOG_LEVEL_INFO, t->ns, t->name, "flink action accepted", "action", act_name(c->type), "job",
                   c->job, trigger ? "trigger" : NULL, trigger, NULL);
    if (c->type == ACT_CHECKPOINT) {
        if (!a->error)
            snapshots_prune(t->checkpoints);
        snapshot_set(&t->checkpoints, c->trigger, c->job, a->error ? "TRIGGER_FAILED" : "IN_PROGRESS", NULL, a->error);
    } else if (c->type == ACT_SAVEPOINT) {
        if (!a->error)
            snapshots_prune(t->savepoints);
        cJSON *e = cJSON_CreateObject();
        if (c->triggered_at >= 0) /* for the look at /checkpoints should Flink forget the trigger */
            cJSON_AddNumberToObject(e, "triggered_at", c->triggered_at);
        savepoint_set(t, c->trigger, c->job, a->error ? "TRIGGER_FAILED" : "IN_PROGRESS", e, a->error);
    } else if (c->type == ACT_SUBMIT) {
        submission_set(t, c->job, a->error ? "FAILED" : "SUBMITTED", a->error);
        submit_failures_note(t, c->job, a->error != NULL);
    }
    act_unlink(c);
    target_poll_soon(t);
}

/* The newest jar of GET /jars ({"files": [{id, name, uploaded}]}) whose name is `name`, or NULL. Borrowed. */
static const char *jar_find(const cJSON *jars, const char *name)
{
    const cJSON *f, *best = NULL;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(jars, "files"))
    {
        const char *n = status_of(f, "name"), *id = status_of(f, "id");
        const cJSON *up = cJSON_GetObjectItemCaseSensitive(f, "uploaded");
        if (n == NULL || strcmp(n, name) != 0 || !jar_name_ok(id))
            continue;
        if (best == NULL || (cJSON_IsNumber(up) &&
                             up->valuedouble > cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(best, "uploaded"))))
            best = f;
    }
    return best ? status_of(best, "id") : NULL;
}

/* POST /jars/:jarid/run of the submission's body; its answer ends the action. */
static void submit_run(struct act_call *c, const char *jar_id)
{
    struct target *t = c->t;
    char path[300], err[512];
    snprintf(path, sizeof path, "/jars/%s/run", jar_id);
    if ((c->call = flink_rest_request(t->o->o.rest, t->ns, t->name, "POST", path, c->run_body, on_act, c, err,
                                      sizeof err)) == NULL)
        on_act(c, &(struct flink_rest_answer){.error = err});
}

/* POST /jars/upload answered {"filename": ".../<jarid>"}: the temporary jar goes, the uploaded one is run. */
static void on_uploaded(void *ud, const struct flink_rest_answer *a)
{
    struct act_call *c = ud;
    struct target *t = c->t;
    const char *file = a->error ? NULL : status_of(a->body, "filename");
    const char *id = file ? strrchr(file, '/') : NULL;
    char why[300];
    id = id ? id + 1 : file;
    c->call = NULL;
    jar_drop(c);
    if (a->error || !jar_name_ok(id)) {
        if (!a->error)
            snprintf(why, sizeof why, "POST /jars/upload: the answer names no jar id (filename %.100s)",
                     file ? file : "missing");
        on_act(c, &(struct flink_rest_answer){.status = a->status, .error = a->error ? a->error : why});
        return;
    }
    log_object(LOG_LEVEL_INFO, t->ns, t->name, "jar uploaded", "job", c->job, "jar", id, NULL);
    submit_run(c, id);
}

/* Uploads c->jar_path to the session cluster as c->jar_name. */
static void submit_upload(struct act_call *c)
{
    struct target *t = c->t;
    char err[512];
    if ((c->call = flink_rest_upload(t->o->o.rest, t->ns, t->name, c->jar_path, c->jar_name, on_uploaded, c, err,
                                     sizeof err)) == NULL) {
        jar_drop(c);
        on_act(c, &(struct flink_rest_answer){.error = err});
    }
}

/* The download of jar_uri ended: upload it, or record why not. */
static void on_fetched(void *ud, const char *path, long long bytes, const char *error)
{
    struct act_call *c = ud;
    struct target *t = c->t;
    char size[32], took[32];
    c->fetch = NULL;
    if (error || (c->jar_path = strutil_dup(path)) == NULL) {
        if (path)
            unlink(path);
        on_act(c, &(struct flink_rest_answer){.error = error ? error : "out of memory"});
        return;
    }
    c->jar_temp = 1;
    snprintf(size, sizeof size, "%lld", bytes);
    snprintf(took, sizeof took, "%.3f", ev_now(t->o->o.loop) - c->fetch_started);
    log_object(LOG_LEVEL_INFO, t->ns, t->name, "jar fetched", "job", c->job, "bytes", size, "seconds", took, NULL);
    submit_upload(c);
}

/* The JobManager holds no jar named c->jar_name: fetch c->jar_uri (http(s):// downloaded, file:// read where it
 * is) and upload it, or record why that cannot be. */
static void submit_fetch(struct act_call *c)
{
    struct target *t = c->t;
    char path[600], err[900];
    enum jar_scheme scheme = jar_fetch_scheme(c->jar_uri);
    if (scheme == JAR_SCHEME_OTHER) {
        const char *colon = strstr(c->jar_uri, "://");
        jar_fetch_shown(c->jar_uri, path, sizeof path);
        snprintf(err, sizeof err, "spec.job.jarURI %s: the scheme %.*s:// is not supported; this operator fetches "
                 "http://, https:// and file:// (a file of the operator's) jars", path,
                 colon ? (int)(colon - c->jar_uri) : 0, c->jar_uri);
        on_act(c, &(struct flink_rest_answer){.error = err});
    } else if (scheme == JAR_SCHEME_FILE) {
        if (jar_fetch_local(&t->o->jars, c->jar_uri, path, sizeof path, err, sizeof err) != 0 ||
            (c->jar_path = strutil_dup(path)) == NULL) {
            on_act(c, &(struct flink_rest_answer){.error = err});
            return;
        }
        submit_upload(c);
    } else {
        c->fetch_started = ev_now(t->o->o.loop);
        log_object(LOG_LEVEL_INFO, t->ns, t->name, "jar fetch", "job", c->job, "jar", c->jar_name, NULL);
        if ((c->fetch = jar_fetch_start(flink_rest_http(t->o->o.rest), &t->o->jars, c->jar_uri, on_fetched, c, err,
                                        sizeof err)) == NULL)
            on_act(c, &(struct flink_rest_answer){.error = err});
    }
}

/* GET /jars answered: run the jar the submission names; fetch and upload it first when the JobManager holds none
 * and the action says where it is; else record why it cannot be run. */
static void on_jars(void *ud, const struct flink_rest_answer *a)
{
    struct act_call *c = ud;
    char why[600];
    const char *id = a->error ? NULL : jar_find(a->body, c->jar_name);
    c->call = NULL;
    if (id == NULL && !a->error && c->jar_uri) {
        submit_fetch(c);
        return;
    }
    if (id == NULL) {
        if (!a->error)
            snprintf(why, sizeof why, "the JobManager holds no jar named %s (GET /jars) and the submission says "
                     "nowhere to fetch it from", c->jar_name);
        on_act(c, &(struct flink_rest_answer){.status = a->status, .error = a->error ? a->error : why});
        return;
    }
    submit_run(c, id);
}

/* The body of POST /jars/:jarid/run for a submit action: Flink's JarRunRequestBody. */
static char *run_body(const cJSON *a)
{
    cJSON *body = cJSON_CreateObject();
    const char *entry = status_of(a, "entry_class"), *sp = status_of(a, "savepoint_path");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(a, "args");
    const cJSON *par = cJSON_GetObjectItemCaseSensitive(a, "parallelism");
    cJSON_AddStringToObject(body, "jobId", status_of(a, "job_id"));
    if (entry)
        cJSON_AddStringToObject(body, "entryClass", entry);
    cJSON_AddItemToObject(body, "programArgsList", cJSON_IsArray(args) ? cJSON_Duplicate(args, 1)
                                                                       : cJSON_CreateArray());
    if (par) /* json_print_sorted writes a whole number as one */
        cJSON_AddNumberToObject(body, "parallelism", par->valuedouble);
    if (sp)
        cJSON_AddStringToObject(body, "savepointPath", sp);
    char *out = json_print_sorted(body);
    cJSON_Delete(body);
    return out;
}

static int act_in_flight(const struct target *t, const char *job, const char *trigger)
{
    for (const struct act_call *c = t->acts; c; c = c->next)
        if (strcmp(c->job, job) == 0 && strcmp(c->trigger, trigger) == 0)
            return 1;
    return 0;
}

/* Whether the action sent_map notes under key (a job id for cancels and submissions, a trigger id for refused
 * triggers) may be sent now: not in flight as (key, tag), not sent less than `every` seconds ago. Notes it as sent
 * when so. */
static int resend_due(struct target *t, cJSON **sent_map, const char *key, const char *tag, double every)
{
    double now = ev_now(t->o->o.loop);
    const cJSON *sent = cJSON_GetObjectItemCaseSensitive(*sent_map, key);
    if (act_in_flight(t, key, tag) || (sent && now - sent->valuedouble < every))
        return 0;
    if (*sent_map == NULL)
        *sent_map = cJSON_CreateObject();
    cJSON_DeleteItemFromObjectCaseSensitive(*sent_map, key);
    cJSON_AddNumberToObject(*sent_map, key, now);
    return 1;
}

/* The request of one action, or NULL when it is not to be sent now: a trigger already accepted, a cancel sent
 * less than FLINK_OBSERVER_STEADY seconds ago, a submission accepted less than 3 * FLINK_OBSERVER_STEADY seconds
 * ago (the job id makes a second one a duplicate Flink refuses, but it is not sent while the first is being
 * listed), the same action in flight. *method, path and body are set; a submission starts with GET /jars. */
static char *act_request(struct target *t, const cJSON *a, const char **method, char *path, size_t pathlen)
{
    const char *type = status_of(a, "type"), *job = status_of(a, "job_id"), *trigger = status_of(a, "trigger_id");
    const char *dir = status_of(a, "target_directory");
    if (strcmp(type, "cancel") == 0) {
        if (!resend_due(t, &t->cancels, job, "", FLINK_OBSERVER_STEADY))
            return NULL;
        *method = "PATCH";
        snprintf(path, pathlen, "/jobs/%s?mode=cancel", job);
        return strutil_dup("{}");
    }
    if (strcmp(type, "submit") == 0) {
        const char *st = status_of(cJSON_GetObjectItemCaseSensitive(t->submissions, job), "status");
        double every = st && strcmp(st, "SUBMITTED") == 0 ? 3 * FLINK_OBSERVER_STEADY
                       : st && strcmp(st, "FAILED") == 0     ? submit_backoff(t, job)
                                                             : FLINK_OBSERVER_STEADY;
        if (!resend_due(t, &t->submits, job, "submit", every))
            return NULL;
        *method = "GET";
        snprintf(path, pathlen, "/jars");
        return run_body(a);
    }
    int checkpoint = strcmp(type, "checkpoint") == 0;
    const cJSON *known = cJSON_GetObjectItemCaseSensitive(checkpoint ? t->checkpoints : t->savepoints, trigger);
    const char *st = status_of(known, "status");
    if ((st && strcmp(st, "TRIGGER_FAILED") != 0) || act_in_flight(t, job, trigger))
        return NULL;
    /* A refused trigger is sent again when asked, but not on every reconcile: a refusal whose text changes would
     * otherwise make each answer a new observation, a reconcile and another send. */
    if (st && !resend_due(t, &t->retriggers, trigger, trigger, FLINK_OBSERVER_FAST))
        return NULL;
    int stop = strcmp(type, "stop") == 0;
    cJSON *body = cJSON_CreateObject();
    if (checkpoint) { /* Flink's CheckpointTriggerRequestBody */
        const char *kind = status_of(a, "checkpoint_type");
        cJSON_AddStringToObject(body, "checkpointType", kind ? kind : "FULL");
        cJSON_AddStringToObject(body, "triggerId", trigger);
        *method = "POST";
        snprintf(path, pathlen, "/jobs/%s/checkpoints", job);
        char *text = json_print_sorted(body);
        cJSON_Delete(body);
        return text;
    }
    cJSON_AddBoolToObject(body, stop ? "drain" : "cancel-job", 0);
    if (dir)
        cJSON_AddStringToObject(body, stop ? "targetDirectory" : "target-directory", dir);
    cJSON_AddStringToObject(body, "triggerId", trigger);
    *method = "POST";
    snprintf(path, pathlen, "/jobs/%s/%s", job, stop ? "stop" : "savepoints");
    char *text = json_print_sorted(body);
    cJSON_Delete(body);
    return text;
}

/* /checkpoints answered before a trigger this process has not sent: a savepoint completed since the policy recorded
 * the trigger is its result (a restarted operator whose trigger Flink has forgotten: taking it again would be a
 * second savepoint, or fail on a stopped job); else the trigger is sent. */
static void on_act_checkpoints(void *ud, const struct flink_rest_answer *a)
{
    struct act_call *c = ud;
    struct target *t = c->t;
    char err[512];
    cJSON *found = a->error ? NULL : flink_rest_checkpoints_savepoint(a->body, c->triggered_at);
    c->call = NULL;
    if (found) {
        log_object(LOG_LEVEL_INFO, t->ns, t->name, "savepoint found in checkpoint statistics", "job", c->job,
                   "trigger", c->trigger, "location", status_of(found, "location"), NULL);
        cJSON_AddStringToObject(found, "source", "checkpoints");
        cJSON_AddNumberToObject(found, "triggered_at", c->triggered_at);
        savepoint_set(t, c->trigger, c->job, NULL, found, NULL);
        act_unlink(c);
        target_poll_soon(t);
        return;
    }
    if ((c->call = flink_rest_request(t->o->o.rest, t->ns, t->name, "POST", c->post_path, c->post_body, on_act, c,
                                      err, sizeof err)) == NULL)
        on_act(c, &(struct flink_rest_answer){.error = err});
}

void flink_observer_act(struct flink_observer *o, const char *key, const cJSON *actions)
{
    struct target *t = strmap_get(o->targets, key);
    const cJSON *a;
    cJSON_ArrayForEach(a, actions)
    {
        char path[128], err[512] = "out of memory";
        const char *method = NULL, *type = status_of(a, "type");
        if (strcmp(type, "delete_ha_configmaps") == 0)
            continue; /* the Kubernetes API's, not Flink's: the core performs it (sync.c) */
        if (t == NULL) {
            log_msg(LOG_LEVEL_WARN, "action dropped: no JobManager is observed for it", "key", key, "action", type,
                    NULL);
            continue;
        }
        char *body = act_request(t, a, &method, path, sizeof path);
        struct act_call *c = body ? calloc(1, sizeof *c) : NULL;
        if (c == NULL) {
            free(body);
            continue;
        }
        c->t = t;
        c->type = strcmp(type, "cancel") == 0       ? ACT_CANCEL
                  : strcmp(type, "submit") == 0     ? ACT_SUBMIT
                  : strcmp(type, "checkpoint") == 0 ? ACT_CHECKPOINT
                                                    : ACT_SAVEPOINT;
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(a, "triggered_at");
        c->triggered_at = c->type == ACT_SAVEPOINT && cJSON_IsNumber(at) ? at->valuedouble : -1;
        snprintf(c->job, sizeof c->job, "%s", status_of(a, "job_id"));
        int snapshot = c->type == ACT_SAVEPOINT || c->type == ACT_CHECKPOINT;
        snprintf(c->trigger, sizeof c->trigger, "%s",
                 snapshot ? status_of(a, "trigger_id") : c->type == ACT_SUBMIT ? "submit" : "");
        if (c->type == ACT_SUBMIT) { /* GET /jars first; its answer sends the run with this body */
            c->run_body = body;
            body = NULL;
            c->jar_name = strutil_dup(status_of(a, "jar_name"));
            c->jar_uri = strutil_dup(status_of(a, "jar_uri")); /* NULL: none given, or out of memory (then the
                                                                  JobManager's jar or nothing is run) */
        }
        c->next = t->acts;
        t->acts = c;
        /* Only a savepoint or checkpoint has a trigger: the NULL key ends the list there for the others. */
        log_object(LOG_LEVEL_INFO, t->ns, t->name, "flink action", "action", type, "job", c->job,
                   snapshot ? "trigger" : NULL, c->trigger, NULL);
        if (c->triggered_at >= 0) { /* a trigger not sent by this process: /checkpoints first (on_act_checkpoints) */
            snprintf(c->post_path, sizeof c->post_path, "%s", path);
            c->post_body = body;
            body = NULL;
            snprintf(path, sizeof path, "/jobs/%s/checkpoints", c->job);
            method = "GET";
        }
        if ((c->run_body && c->jar_name == NULL) ||
            (c->call = flink_rest_request(o->o.rest, t->ns, t->name, method, path, c->run_body ? NULL : body,
                                          c->type == ACT_SUBMIT         ? on_jars
                                          : c->post_body != NULL        ? on_act_checkpoints
                                                                        : on_act,
                                          c, err, sizeof err)) == NULL) {
            log_object(LOG_LEVEL_WARN, t->ns, t->name, "flink action not sent", "action", type, "error", err, NULL);
            act_unlink(c);
        }
        free(body);
    }
}

int flink_observer_cluster_key(const cJSON *resource, char *buf, size_t len)
{
    const char *kind = status_of(resource, "kind");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(resource, "metadata");
    const char *ns = status_of(meta, "namespace"), *name = status_of(meta, "name");
    if (kind && strcmp(kind, "FlinkSessionJob") == 0)
        name = status_of(cJSON_GetObjectItemCaseSensitive(resource, "spec"), "deploymentName");
    else if (!(kind && strcmp(kind, "FlinkDeployment") == 0))
        name = NULL;
    if (name == NULL || *name == '\0')
        return -1;
    int n = snprintf(buf, len, "FlinkDeployment/%s/%s", ns ? ns : "", name);
    return n > 0 && (size_t)n < len ? 0 : -1;
}
