/* Leader election over a coordination.k8s.io/v1 Lease: one attempt per retry period (GET, then create or update
 * with the read resourceVersion, so two candidates never both win), a renew-deadline timer that ends leadership
 * when renewals stop succeeding, and a release on shutdown. */
#include "lease.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "json_text.h"
#include "kube.h"
#include "log.h"
#include "object.h"

enum stage { STAGE_IDLE, STAGE_GET, STAGE_WRITE, STAGE_RELEASE };

struct lease {
    struct ev_loop *loop;
    struct kube *kube;
    char *namespace, *name, *identity;
    char what[300]; /* "ns/name" for logs */
    double lease_seconds, renew_deadline, retry_period;
    void (*on_change)(void *ud, int leading);
    void *ud;
    ev_timer tick;      /* one attempt per retry period */
    ev_timer deadline;  /* running while leading: fires when no renewal succeeded for renew_deadline */
    ev_timer later;     /* calls release_done from the loop when there was nothing to release */
    struct kube_call *call;
    enum stage stage;
    cJSON *record;              /* the Lease as last read or written; owned */
    char *observed_version;     /* its resourceVersion, to see when the record changes */
    ev_tstamp observed_at;      /* loop time the record was last seen to change */
    char *last_holder;          /* last other holder logged, so a follower logs each new leader once */
    int leading, stopped;
    void (*release_done)(void *ud);
    void *release_ud;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The API's MicroTime: RFC 3339 in UTC with microseconds. */
static void micro_time_now(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char base[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.19s.%06uZ", base, (unsigned)(ts.tv_nsec / 1000) % 1000000u);
}

static void set_leading(struct lease *l, int leading, const char *why)
{
    if (l->leading == leading)
        return;
    l->leading = leading;
    if (leading) {
        log_msg(LOG_LEVEL_INFO, "leader election: leading", "lease", l->what, "identity", l->identity, NULL);
    } else {
        log_msg(LOG_LEVEL_WARN, "leader election: stopped leading", "lease", l->what, "identity", l->identity,
                "reason", why, NULL);
        ev_timer_stop(l->loop, &l->deadline);
    }
    if (l->on_change)
        l->on_change(l->ud, leading);
}

/* Keeps the Lease just read or written, noting the loop time whenever it changed. */
static void record_observe(struct lease *l, cJSON *obj)
{
    const char *rv = object_string_at(obj, "metadata.resourceVersion");
    if (l->observed_version == NULL || rv == NULL || strcmp(rv, l->observed_version) != 0) {
        free(l->observed_version);
        l->observed_version = dup_or_null(rv);
        l->observed_at = ev_now(l->loop);
    }
    cJSON_Delete(l->record);
    l->record = obj;
}

static void record_forget(struct lease *l)
{
    cJSON_Delete(l->record);
    l->record = NULL;
}

static void lease_path(const struct lease *l, char *buf, size_t len, int collection)
{
    if (collection)
        snprintf(buf, len, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", l->namespace);
    else
        snprintf(buf, len, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", l->namespace, l->name);
}

static void answered(void *ud, const struct kube_response *resp);

static void request(struct lease *l, enum stage stage, const char *method, const char *body)
{
    char path[512], err[256];
    lease_path(l, path, sizeof path, strcmp(method, "POST") == 0);
    l->stage = stage;
    l->call = kube_request(l->kube, method, path, NULL, body, "application/json", answered, l, err, sizeof err);
    if (l->call == NULL) {
        l->stage = STAGE_IDLE;
        log_msg(LOG_LEVEL_ERROR, "leader election: request not sent", "lease", l->what, "error", err, NULL);
    }
}

/* Writes the Lease with us as holder: a create when there is none, else an update carrying the resourceVersion
 * we read, which the API server refuses (409) if anyone wrote in between. release empties the holder instead. */
static void write_record(struct lease *l, int release)
{
    char now[64];
    micro_time_now(now, sizeof now);
    cJSON *obj = l->record ? cJSON_Duplicate(l->record, 1) : NULL;
    int create = obj == NULL;
    if (!create) /* the server's field bookkeeping: not ours to send back */
        cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItem(obj, "metadata"), "managedFields");
    if (create) {
        obj = cJSON_CreateObject();
        cJSON_AddStringToObject(obj, "apiVersion", "coordination.k8s.io/v1");
        cJSON_AddStringToObject(obj, "kind", "Lease");
        cJSON *meta = cJSON_AddObjectToObject(obj, "metadata");
        cJSON_AddStringToObject(meta, "name", l->name);
        cJSON_AddStringToObject(meta, "namespace", l->namespace);
    }
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (!cJSON_IsObject(spec)) {
        cJSON_DeleteItemFromObjectCaseSensitive(obj, "spec");
        spec = cJSON_AddObjectToObject(obj, "spec");
    }
    const char *holder = object_string_at(obj, "spec.holderIdentity");
    int ours = holder && strcmp(holder, l->identity) == 0;
    const cJSON *transitions = cJSON_GetObjectItemCaseSensitive(spec, "leaseTransitions");
    double count = cJSON_IsNumber(transitions) ? transitions->valuedouble : 0;
    if (!release && !create && !ours && holder && *holder)
        count += 1; /* taken over from another holder */
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseTransitions");
    cJSON_AddNumberToObject(spec, "leaseTransitions", count);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "holderIdentity");
    cJSON_AddStringToObject(spec, "holderIdentity", release ? "" : l->identity);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "leaseDurationSeconds");
    cJSON_AddNumberToObject(spec, "leaseDurationSeconds", release ? 1 : (int)l->lease_seconds);
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "renewTime");
    cJSON_AddStringToObject(spec, "renewTime", now);
    if (release || !ours) {
        cJSON_DeleteItemFromObjectCaseSensitive(spec, "acquireTime");
        cJSON_AddStringToObject(spec, "acquireTime", now);
    }
    char *body = json_print_sorted(obj);
    cJSON_Delete(obj);
    if (body == NULL) {
        log_msg(LOG_LEVEL_ERROR, "leader election: out of memory", "lease", l->what, NULL);
        return;
    }
    request(l, release ? STAGE_RELEASE : STAGE_WRITE, create ? "POST" : "PUT", body);
    free(body);
}

/* A record read from the API: take the lease when it is free or expired, else follow its holder. */
static void consider(struct lease *l)
{
    const char *holder = object_string_at(l->record, "spec.holderIdentity");
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(l->record, "spec"),
                                                         "leaseDurationSeconds");
    double duration = cJSON_IsNumber(secs) && secs->valuedouble > 0 ? secs->valuedouble : l->lease_seconds;
    int other = holder && *holder && strcmp(holder, l->identity) != 0;
    if (other && ev_now(l->loop) - l->observed_at < duration) {
        set_leading(l, 0, "another replica holds the lease");
        if (l->last_holder == NULL || strcmp(l->last_holder, holder) != 0) {
            log_msg(LOG_LEVEL_INFO, "leader election: following", "lease", l->what, "holder", holder, NULL);
            free(l->last_holder);
            l->last_holder = strdup(holder);
        }
        return;
    }
    write_record(l, 0);
}

static void release_finish(struct lease *l)
{
    void (*done)(void *) = l->release_done;
    l->release_done = NULL;
    if (done)
        done(l->release_ud);
}

static void answered(void *ud, const struct kube_response *resp)
{
    struct lease *l = ud;
    enum stage stage = l->stage;
    l->call = NULL;
    l->stage = STAGE_IDLE;
    int ok = resp->status >= 200 && resp->status < 300;
    cJSON *obj = ok ? cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;
    if (stage == STAGE_RELEASE) {
        if (ok)
            log_msg(LOG_LEVEL_INFO, "leader election: released the lease", "lease", l->what, NULL);
        else
            log_msg(LOG_LEVEL_WARN, "leader election: release failed; the lease expires by itself", "lease",
                    l->what, "error", resp->error ? resp->error : resp->body, NULL);
        cJSON_Delete(obj);
        release_finish(l);
        return;
    }
    if (ok && obj) {
        record_observe(l, obj);
        if (stage == STAGE_GET) {
            consider(l);
        } else {
            /* Renewed: the deadline counts from now. Armed before on_change, which may want to know. */
            ev_timer_stop(l->loop, &l->deadline);
            ev_timer_set(&l->deadline, l->renew_deadline, 0.);
            ev_timer_start(l->loop, &l->deadline);
            set_leading(l, 1, NULL);
        }
        return;
    }
    cJSON_Delete(obj);
    if (stage == STAGE_GET && resp->status == 404) {
        record_forget(l);
        write_record(l, 0);
        return;
    }
    if (resp->status == 409 && stage == STAGE_WRITE) {
        /* Someone wrote in between: read it now, so a holder learns at once that another replica took over. */
        record_forget(l);
        request(l, STAGE_GET, "GET", NULL);
        return;
    }
    log_msg(l->leading ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG, "leader election: attempt failed", "lease", l->what,
            "status", resp->status ? (resp->status == 403 ? "403" : "error") : "no response", "error",
            resp->error ? resp->error : resp->body, NULL);
}

static void tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct lease *l = w->data;
    if (l->stopped || l->call)
        return;
    /* A holder renews from the record it wrote last; anyone else reads first. */
    if (l->leading && l->record)
        write_record(l, 0);
    else
        request(l, STAGE_GET, "GET", NULL);
}

static void deadline_passed(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct lease *l = w->data;
    record_forget(l);
    set_leading(l, 0, "no renewal succeeded within the renew deadline");
}

static void later_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    release_finish(w->data);
}

struct lease *lease_start(struct ev_loop *loop, struct kube *kube, const struct lease_opts *o, char *err,
                          size_t errlen)
{
    if (o->namespace == NULL || *o->namespace == '\0' || o->name == NULL || *o->name == '\0' ||
        o->identity == NULL || *o->identity == '\0') {
        snprintf(err, errlen, "leader election needs a namespace, a lease name and an identity");
        return NULL;
    }
    struct lease *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->loop = loop;
    l->kube = kube;
    l->namespace = strdup(o->namespace);
    l->name = strdup(o->name);
    l->identity = strdup(o->identity);
    l->lease_seconds = o->lease_seconds > 0 ? o->lease_seconds : 15;
    l->renew_deadline = o->renew_deadline > 0 ? o->renew_deadline : 10;
    l->retry_period = o->retry_period > 0 ? o->retry_period : 2;
    l->on_change = o->on_change;
    l->ud = o->ud;
    if (l->namespace == NULL || l->name == NULL || l->identity == NULL) {
        lease_free(l);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (l->renew_deadline >= l->lease_seconds || l->retry_period >= l->renew_deadline) {
        lease_free(l);
        snprintf(err, errlen, "leader election needs retry period < renew deadline < lease duration");
        return NULL;
    }
    snprintf(l->what, sizeof l->what, "%s/%s", l->namespace, l->name);
    ev_timer_init(&l->tick, tick, 0., l->retry_period);
    ev_timer_init(&l->deadline, deadline_passed, l->renew_deadline, 0.);
    ev_timer_init(&l->later, later_fire, 0., 0.);
    l->tick.data = l->deadline.data = l->later.data = l;
    ev_timer_start(loop, &l->tick);
    return l;
}

int lease_leading(const struct lease *l)
{
    return l && l->leading;
}

void lease_release(struct lease *l, void (*done)(void *ud), void *ud)
{
    int was_leading = l->leading && l->record;
    l->stopped = 1;
    l->release_done = done;
    l->release_ud = ud;
    ev_timer_stop(l->loop, &l->tick);
    if (l->call) {
        kube_call_cancel(l->call);
        l->call = NULL;
    }
    set_leading(l, 0, "shutting down");
    if (was_leading)
        write_record(l, 1);
    if (l->stage != STAGE_RELEASE)
        ev_timer_start(l->loop, &l->later);
}

void lease_free(struct lease *l)
{
    if (l == NULL)
        return;
    if (l->call)
        kube_call_cancel(l->call);
    if (l->loop) {
        ev_timer_stop(l->loop, &l->tick);
        ev_timer_stop(l->loop, &l->deadline);
        ev_timer_stop(l->loop, &l->later);
    }
    cJSON_Delete(l->record);
    free(l->observed_version);
    free(l->last_holder);
    free(l->namespace);
    free(l->name);
    free(l->identity);
    free(l);
}
