/* The in-memory copy of one kind's objects, as the informer last saw them, keyed "namespace/name". */
#ifndef FLINKOP_CACHE_H
#define FLINKOP_CACHE_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct cache;

struct cache *cache_new(void);
void cache_free(struct cache *c);

/* Stores obj (the cache takes ownership), replacing any object with the same namespace/name.
 * Returns 0, or -1 on out of memory or an object without metadata.name (obj is then freed). */
int cache_put(struct cache *c, cJSON *obj);

/* Removes and frees the object; absent is fine. */
void cache_remove(struct cache *c, const char *ns, const char *name);

/* Borrowed until the next change of the cache, or NULL. */
const cJSON *cache_get(const struct cache *c, const char *ns, const char *name);

size_t cache_count(const struct cache *c);

/* Calls fn for every object (no order). The cache must not change during the walk. */
void cache_each(const struct cache *c, void (*fn)(void *ud, const cJSON *obj), void *ud);

/* Replaces the whole content with the items of a fresh list (the array's items are moved out of `items`), and
 * calls gone(ud, obj) for every object that was cached but is not in the list, before freeing it: a relist
 * after a watch gap must still report the deletions it missed. Returns 0, or -1 on out of memory. */
int cache_replace(struct cache *c, cJSON *items, void (*gone)(void *ud, const cJSON *obj), void *ud);

#endif
