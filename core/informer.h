/* An informer: list, then watch from the list's resourceVersion, keeping an in-memory cache of one kind (in one
 * namespace or all), as client-go's reflector does. A watch that ends normally is resumed from the last
 * resourceVersion seen; 410 Gone relists (and reports the deletions the gap hid); other failures retry with capped
 * exponential backoff and jitter, which a completed list or a watch's first event resets; 403 marks the informer
 * forbidden and keeps retrying slowly. */
#ifndef FLINKOP_INFORMER_H
#define FLINKOP_INFORMER_H

#include <cjson/cJSON.h>

#include "cache.h"
#include "kinds.h"

struct ev_loop;
struct kube;
struct informer;

struct informer_handler {
    /* An object appeared, changed or went away ("ADDED", "MODIFIED", "DELETED"). obj is the new object, or the
     * last known one for DELETED; borrowed for the call. */
    void (*on_change)(void *ud, const struct kind_info *kind, const char *type, const cJSON *obj);
    /* The watch restarted (metrics): reason "relist" (410), "error", or "forbidden". May be NULL. */
    void (*on_restart)(void *ud, const struct kind_info *kind, const char *reason);
};

/* ns NULL watches every namespace. selector, a query fragment already escaped ("labelSelector=a%3Db",
 * "fieldSelector=metadata.name%3Dx"), may be NULL. handler is copied, ud borrowed. */
struct informer *informer_new(struct ev_loop *loop, struct kube *kube, const struct kind_info *kind, const char *ns,
                              const char *selector, const struct informer_handler *handler, void *ud);
void informer_start(struct informer *inf);
/* Cancels its calls and timers and frees the cache. */
void informer_free(struct informer *inf);

const struct cache *informer_cache(const struct informer *inf);
const struct kind_info *informer_kind(const struct informer *inf);
const char *informer_namespace(const struct informer *inf);
/* Whether the first list has completed. */
int informer_synced(const struct informer *inf);
/* Whether the last list or watch was refused with 403. */
int informer_forbidden(const struct informer *inf);

/* Puts an object the operator just wrote into the cache ahead of its watch event, so a reconcile right after a
 * write compares against what it wrote; not when the watch has already passed its resourceVersion (the cache holds
 * it or something newer). Takes ownership of obj. */
void informer_remember(struct informer *inf, cJSON *obj);

#endif
