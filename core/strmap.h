/* A hash map from strings (copied) to borrowed pointers, for the caches and per-key bookkeeping. */
#ifndef FLINKOP_STRMAP_H
#define FLINKOP_STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);
/* Frees the map and its key copies; calls free_value on each value when it is not NULL. */
void strmap_free(struct strmap *m, void (*free_value)(void *));

/* Sets key to value. Returns the value it replaced (the caller owns it), or NULL. *failed is set on out of memory
 * (then nothing changed). */
void *strmap_put(struct strmap *m, const char *key, void *value, int *failed);
void *strmap_get(const struct strmap *m, const char *key);
/* Removes key; returns its value (the caller owns it), or NULL. */
void *strmap_remove(struct strmap *m, const char *key);
size_t strmap_count(const struct strmap *m);

/* Calls fn for every entry, in no particular order. The map must not change during the walk. */
void strmap_each(const struct strmap *m, void (*fn)(void *ud, const char *key, void *value), void *ud);

#endif
