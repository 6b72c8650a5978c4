#include "informer.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "log.h"
#include "object.h"

#define LIST_PAGE 500
#define BACKOFF_FIRST 0.5
#define BACKOFF_CAP 30.0

struct informer {
    struct ev_loop *loop;
    struct kube *kube;
    const struct kind_info *kind;
    char *ns;
    char *selector;  /* "&labelSelector=..." or "" */
    struct informer_handler handler;
    void *ud;
    struct cache *cache;
    struct kube_call *call;
    cJSON *pending;      /* items of a list in progress, across pages */
    char *rv;            /* resourceVersion to watch from */
    ev_timer retry;
    ev_tstamp watch_started;
    int watch_events;    /* events seen by the current watch */
    int failures;
    int synced, forbidden;
};

static void list_start(struct informer *inf, const char *cont);
static void watch_start(struct informer *inf);

static const char *where(const struct informer *inf)
{
    return inf->ns ? inf->ns : "*";
}

/* Capped exponential backoff with jitter, so many informers failing together do not retry in lockstep. */
static void retry_later(struct informer *inf, const char *reason)
{
    double delay = BACKOFF_FIRST;
    for (int i = 0; i < inf->failures && delay < BACKOFF_CAP; i++)
        delay *= 2;
    if (delay > BACKOFF_CAP)
        delay = BACKOFF_CAP;
    delay *= 0.75 + 0.5 * ((double)rand() / RAND_MAX);
    inf->failures++;
    if (inf->handler.on_restart)
        inf->handler.on_restart(inf->ud, inf->kind, reason);
    ev_timer_stop(inf->loop, &inf->retry);
    ev_timer_set(&inf->retry, delay, 0);
    ev_timer_start(inf->loop, &inf->retry);
}

static void retry_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct informer *inf = w->data;
    if (inf->rv)
        watch_start(inf);
    else
        list_start(inf, NULL);
}

static void set_rv(struct informer *inf, const char *rv)
{
    if (rv == NULL)
        return;
    char *copy = strdup(rv);
    if (copy) {
        free(inf->rv);
        inf->rv = copy;
    }
}

/* List items come without kind and apiVersion; policies and checks expect them. */
static void item_complete(const struct informer *inf, cJSON *obj)
{
    if (!cJSON_GetObjectItemCaseSensitive(obj, "kind"))
        cJSON_AddStringToObject(obj, "kind", inf->kind->kind);
    if (!cJSON_GetObjectItemCaseSensitive(obj, "apiVersion"))
        cJSON_AddStringToObject(obj, "apiVersion", inf->kind->api_version);
}

static void report_gone(void *ud, const cJSON *obj)
{
    struct informer *inf = ud;
    inf->handler.on_change(inf->ud, inf->kind, "DELETED", obj);
}

static void report_present(void *ud, const cJSON *obj)
{
    struct informer *inf = ud;
    inf->handler.on_change(inf->ud, inf->kind, "MODIFIED", obj);
}

static void list_done(void *ud, const struct kube_response *resp)
{
    struct informer *inf = ud;
    inf->call = NULL;
    if (resp->status != 200) {
        inf->forbidden = resp->status == 403;
        log_msg(inf->forbidden ? LOG_LEVEL_WARN : LOG_LEVEL_ERROR, "list failed", "kind", inf->kind->kind,
                "namespace", where(inf), "error", resp->error ? resp->error : resp->body, NULL);
        cJSON_Delete(inf->pending);
        inf->pending = NULL;
        retry_later(inf, inf->forbidden ? "forbidden" : "error");
        return;
    }
    inf->forbidden = 0;
    cJSON *page = cJSON_ParseWithLength(resp->body, resp->body_len);
    cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(page, "items");
    const char *cont = object_string_at(page, "metadata.continue");
    if (inf->pending == NULL)
        inf->pending = cJSON_CreateArray();
    if (page == NULL || inf->pending == NULL) {
        cJSON_Delete(page);
        cJSON_Delete(items);
        retry_later(inf, "error");
        return;
    }
    while (cJSON_IsArray(items) && items->child) {
        cJSON *obj = cJSON_DetachItemViaPointer(items, items->child);
        item_complete(inf, obj);
        cJSON_AddItemToArray(inf->pending, obj);
    }
    cJSON_Delete(items);
    if (cont && *cont) {
        char *c = strdup(cont);
        cJSON_Delete(page);
        list_start(inf, c);
        free(c);
        return;
    }
    set_rv(inf, object_string_at(page, "metadata.resourceVersion"));
    cJSON_Delete(page);
    cJSON *all = inf->pending;
    inf->pending = NULL;
    if (cache_replace(inf->cache, all, report_gone, inf) != 0) {
        cJSON_Delete(all);
        retry_later(inf, "error");
        return;
    }
    cJSON_Delete(all);
    inf->synced = 1;
    inf->failures = 0;
    log_msg(LOG_LEVEL_DEBUG, "listed", "kind", inf->kind->kind, "namespace", where(inf), "rv", inf->rv, NULL);
    cache_each(inf->cache, report_present, inf);
    watch_start(inf);
}

static void list_start(struct informer *inf, const char *cont)
{
    char path[512], query[1024], err[256];
    kind_path(inf->kind, inf->ns, NULL, path, sizeof path);
    snprintf(query, sizeof query, "limit=%d%s%s%s", LIST_PAGE, inf->selector, cont ? "&continue=" : "", cont ? cont : "");
    free(inf->rv);
    inf->rv = NULL;
    inf->call = kube_request(inf->kube, "GET", path, query, NULL, NULL, list_done, inf, err, sizeof err);
    if (inf->call == NULL) {
        log_msg(LOG_LEVEL_ERROR, "list failed", "kind", inf->kind->kind, "error", err, NULL);
        retry_later(inf, "error");
    }
}

static void watch_event(void *ud, cJSON *event)
{
    struct informer *inf = ud;
    const char *type = object_string_at(event, "type");
    cJSON *obj = cJSON_GetObjectItemCaseSensitive(event, "object");
    if (type == NULL || !cJSON_IsObject(obj))
        return;
    /* An event, even a BOOKMARK, proves the server serves us again: the outage is over, and the next one starts
     * from the shortest backoff (client-go's reflector resets its backoff once connected too). A quiet watch gets
     * a BOOKMARK about once a minute. Waiting for the watch's normal end instead would keep a second outage within
     * its 5-10 min on the first one's grown backoff. */
    if (inf->watch_events == 0)
        inf->failures = 0;
    inf->watch_events++;
    set_rv(inf, object_string_at(obj, "metadata.resourceVersion"));
    if (strcmp(type, "BOOKMARK") == 0)
        return;
    item_complete(inf, obj);
    if (strcmp(type, "DELETED") == 0) {
        inf->handler.on_change(inf->ud, inf->kind, type, obj);
        cache_remove(inf->cache, object_namespace(obj), object_name(obj));
        return;
    }
    /* The cache takes the object over; after a successful put it is the cached copy itself. */
    cJSON *keep = cJSON_DetachItemFromObjectCaseSensitive(event, "object");
    if (cache_put(inf->cache, keep) == 0)
        inf->handler.on_change(inf->ud, inf->kind, type, keep);
}

static void watch_end(void *ud, int status, const char *err)
{
    struct informer *inf = ud;
    inf->call = NULL;
    if (status == 410) {
        /* Our resourceVersion is gone: relist, and let cache_replace report what we missed. */
        log_msg(LOG_LEVEL_INFO, "watch expired, relisting", "kind", inf->kind->kind, "namespace", where(inf), NULL);
        free(inf->rv);
        inf->rv = NULL;
        if (inf->handler.on_restart)
            inf->handler.on_restart(inf->ud, inf->kind, "relist");
        list_start(inf, NULL);
        return;
    }
    int quick = ev_now(inf->loop) - inf->watch_started < 1.0 && inf->watch_events == 0;
    if (status == 200 && !quick) {
        inf->failures = 0;
        watch_start(inf);
        return;
    }
    inf->forbidden = status == 403;
    log_msg(LOG_LEVEL_WARN, "watch ended", "kind", inf->kind->kind, "namespace", where(inf), "error",
            err ? err : "closed at once with no event", NULL);
    retry_later(inf, inf->forbidden ? "forbidden" : "error");
}

static void watch_start(struct informer *inf)
{
    char path[512], query[1024], err[256];
    static const struct kube_watch_callbacks cb = {watch_event, watch_end};
    kind_path(inf->kind, inf->ns, NULL, path, sizeof path);
    /* A randomised timeout spreads the reconnects of many watches. */
    snprintf(query, sizeof query, "resourceVersion=%s&allowWatchBookmarks=true&timeoutSeconds=%d%s", inf->rv,
             300 + rand() % 300, inf->selector);
    inf->watch_started = ev_now(inf->loop);
    inf->watch_events = 0;
    inf->call = kube_watch_start(inf->kube, path, query, &cb, inf, err, sizeof err);
    if (inf->call == NULL) {
        log_msg(LOG_LEVEL_ERROR, "watch failed", "kind", inf->kind->kind, "error", err, NULL);
        retry_later(inf, "error");
    }
}

struct informer *informer_new(struct ev_loop *loop, struct kube *kube, const struct kind_info *kind, const char *ns,
                              const char *selector, const struct informer_handler *handler, void *ud)
{
    struct informer *inf = calloc(1, sizeof *inf);
    if (inf == NULL)
        return NULL;
    *inf = (struct informer){.loop = loop, .kube = kube, .kind = kind, .handler = *handler, .ud = ud};
    inf->cache = cache_new();
    inf->ns = ns ? strdup(ns) : NULL;
    /* Kept as the "&..." the list and the watch both append. */
    size_t sel_len = selector ? strlen(selector) + 2 : 1;
    if ((inf->selector = malloc(sel_len)) != NULL)
        snprintf(inf->selector, sel_len, "%s%s", selector ? "&" : "", selector ? selector : "");
    if (inf->cache == NULL || (ns && !inf->ns) || inf->selector == NULL) {
        informer_free(inf);
        return NULL;
    }
    ev_timer_init(&inf->retry, retry_fire, 0, 0);
    inf->retry.data = inf;
    return inf;
}

void informer_start(struct informer *inf)
{
    list_start(inf, NULL);
}

void informer_free(struct informer *inf)
{
    if (inf == NULL)
        return;
    if (inf->call)
        kube_call_cancel(inf->call);
    if (inf->loop)
        ev_timer_stop(inf->loop, &inf->retry);
    cJSON_Delete(inf->pending);
    cache_free(inf->cache);
    free(inf->ns);
    free(inf->selector);
    free(inf->rv);
    free(inf);
}

const struct cache *informer_cache(const struct informer *inf) { return inf->cache; }
const struct kind_info *informer_kind(const struct informer *inf) { return inf->kind; }
const char *informer_namespace(const struct informer *inf) { return inf->ns; }
int informer_synced(const struct informer *inf) { return inf->synced; }
int informer_forbidden(const struct informer *inf) { return inf->forbidden; }

/* A resourceVersion as the etcd revision it is, or 0 when it is not a plain decimal number (the API calls it opaque;
 * then nothing is compared). */
static unsigned long long rv_number(const char *rv)
{
    char *end;
    if (rv == NULL || *rv < '0' || *rv > '9')
        return 0;
    errno = 0;
    unsigned long long n = strtoull(rv, &end, 10);
    return *end == '\0' && errno == 0 ? n : 0;
}

/* The answer of a write comes on another connection than the watch: on a busy loop it can be read after watch
 * events newer than itself (a Deployment's status from the deployment controller, a deletion). Put in the cache
 * then, it would hide them until the object changes again, and a reconcile would decide on the old object; so a
 * write the watch has already passed is left out: the cache holds it, or what came after it. client-go's
 * MutationCache keeps the newer of the two the same way. */
void informer_remember(struct informer *inf, cJSON *obj)
{
    const char *rv = object_string_at(obj, "metadata.resourceVersion");
    unsigned long long written = rv_number(rv), watched = rv_number(inf->rv);
    if (written && watched && written <= watched) {
        if (written < watched) /* equal: the watch brought this very version */
            log_object(LOG_LEVEL_DEBUG, object_namespace(obj), object_name(obj),
                       "write older than the watch: not cached", "kind", inf->kind->kind, "rv", rv, "watch_rv",
                       inf->rv, NULL);
        cJSON_Delete(obj);
        return;
    }
    item_complete(inf, obj);
    cache_put(inf->cache, obj);
}
