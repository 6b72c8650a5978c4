#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Separate chaining; the bucket count doubles when the load passes 1, so lookups stay short. */
struct strmap_entry {
    char *key;
    void *value;
    struct strmap_entry *next;
};

struct strmap {
    struct strmap_entry **buckets;
    size_t nbuckets;
    size_t count;
};

/* FNV-1a: short keys, no adversary that could choose them to collide except through object names, which the
 * API server has already bounded in length. */
static size_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

struct strmap *strmap_new(void)
{
    struct strmap *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void strmap_free(struct strmap *m, void (*free_value)(void *))
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            if (free_value && e->value)
                free_value(e->value);
            free(e->key);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    free(m);
}

static struct strmap_entry **slot_find(const struct strmap *m, const char *key)
{
    struct strmap_entry **at = &m->buckets[hash_key(key) % m->nbuckets];
    while (*at && strcmp((*at)->key, key) != 0)
        at = &(*at)->next;
    return at;
}

/* Growing is best effort: a failed allocation leaves the map as it was, only slower. */
static void table_grow(struct strmap *m)
{
    size_t n = m->nbuckets * 2;
    struct strmap_entry **b = calloc(n, sizeof *b);
    if (b == NULL)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct strmap_entry *e = m->buckets[i];
        while (e) {
            struct strmap_entry *next = e->next;
            size_t j = hash_key(e->key) % n;
            e->next = b[j];
            b[j] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

void *strmap_put(struct strmap *m, const char *key, void *value, int *failed)
{
    *failed = 0;
    struct strmap_entry **at = slot_find(m, key);
    if (*at) {
        void *old = (*at)->value;
        (*at)->value = value;
        return old;
    }
    struct strmap_entry *e = malloc(sizeof *e);
    char *copy = strdup(key);
    if (e == NULL || copy == NULL) {
        free(e);
        free(copy);
        *failed = 1;
        return NULL;
    }
    *e = (struct strmap_entry){copy, value, NULL};
    *at = e;
    if (++m->count > m->nbuckets)
        table_grow(m);
    return NULL;
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_entry *e = *slot_find(m, key);
    return e ? e->value : NULL;
}

void *strmap_remove(struct strmap *m, const char *key)
{
    struct strmap_entry **at = slot_find(m, key);
    struct strmap_entry *e = *at;
    if (e == NULL)
        return NULL;
    void *value = e->value;
    *at = e->next;
    free(e->key);
    free(e);
    m->count--;
    return value;
}

size_t strmap_count(const struct strmap *m)
{
    return m->count;
}

void strmap_each(const struct strmap *m, void (*fn)(void *ud, const char *key, void *value), void *ud)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (struct strmap_entry *e = m->buckets[i]; e; e = e->next)
            fn(ud, e->key, e->value);
}
