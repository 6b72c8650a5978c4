#include "cache.h"

#include <stdio.h>
#include <stdlib.h>

#include "object.h"
#include "strmap.h"

struct cache {
    struct strmap *objects; /* "ns/name" -> cJSON * (owned) */
};

static void value_free(void *v)
{
    cJSON_Delete(v);
}

static int key_of(const char *ns, const char *name, char *buf, size_t buflen)
{
    int n = snprintf(buf, buflen, "%s/%s", ns ? ns : "", name);
    return n < 0 || (size_t)n >= buflen ? -1 : 0;
}

struct cache *cache_new(void)
{
    struct cache *c = calloc(1, sizeof *c);
    if (c && (c->objects = strmap_new()) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void cache_free(struct cache *c)
{
    if (c == NULL)
        return;
    strmap_free(c->objects, value_free);
    free(c);
}

int cache_put(struct cache *c, cJSON *obj)
{
    char key[512];
    int failed;
    const char *name = object_name(obj);
    if (name == NULL || key_of(object_namespace(obj), name, key, sizeof key) != 0) {
        cJSON_Delete(obj);
        return -1;
    }
    cJSON *old = strmap_put(c->objects, key, obj, &failed);
    if (failed) {
        cJSON_Delete(obj);
        return -1;
    }
    cJSON_Delete(old);
    return 0;
}

void cache_remove(struct cache *c, const char *ns, const char *name)
{
    char key[512];
    if (key_of(ns, name, key, sizeof key) == 0)
        cJSON_Delete(strmap_remove(c->objects, key));
}

const cJSON *cache_get(const struct cache *c, const char *ns, const char *name)
{
    char key[512];
    return key_of(ns, name, key, sizeof key) == 0 ? strmap_get(c->objects, key) : NULL;
}

size_t cache_count(const struct cache *c)
{
    return strmap_count(c->objects);
}

struct each_ctx {
    void (*fn)(void *ud, const cJSON *obj);
    void *ud;
    const struct strmap *keep; /* cache_replace: the new content */
};

static void each_value(void *ud, const char *key, void *value)
{
    struct each_ctx *e = ud;
    if (e->keep == NULL || strmap_get(e->keep, key) == NULL)
        e->fn(e->ud, value);
}

void cache_each(const struct cache *c, void (*fn)(void *ud, const cJSON *obj), void *ud)
{
    struct each_ctx e = {fn, ud, NULL};
    strmap_each(c->objects, each_value, &e);
}

int cache_replace(struct cache *c, cJSON *items, void (*gone)(void *ud, const cJSON *obj), void *ud)
{
    struct cache *fresh = cache_new();
    if (fresh == NULL)
        return -1;
    while (items && items->child) {
        cJSON *obj = cJSON_DetachItemViaPointer(items, items->child);
        if (object_name(obj) == NULL) {
            cJSON_Delete(obj); /* the API server never lists a nameless object; skip rather than fail */
            continue;
        }
        if (cache_put(fresh, obj) != 0) {
            cache_free(fresh);
            return -1;
        }
    }
    if (gone) {
        struct each_ctx e = {gone, ud, fresh->objects};
        strmap_each(c->objects, each_value, &e);
    }
    strmap_free(c->objects, value_free);
    c->objects = fresh->objects;
    free(fresh);
    return 0;
}
