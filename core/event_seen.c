#include "event_seen.h"

#include <stdlib.h>
#include <string.h>

void event_seen_free(void *p)
{
    struct event_seen *e = p;
    if (e)
        free(e->name);
    free(e);
}

struct stale {
    time_t now;
    double max_age;
    char **keys; /* the keys to remove, copied: the map must not change during the walk */
    size_t n, cap;
    int failed;
};

static void stale_collect(void *ud, const char *key, void *value)
{
    struct stale *s = ud;
    const struct event_seen *e = value;
    if (s->failed || difftime(s->now, e->written) <= s->max_age)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        char **keys = realloc(s->keys, cap * sizeof *keys);
        if (keys == NULL) {
            s->failed = 1;
            return;
        }
        s->keys = keys;
        s->cap = cap;
    }
    if ((s->keys[s->n] = strdup(key)) == NULL)
        s->failed = 1;
    else
        s->n++;
}

/* Age alone decides, not the deletion of the involved object: the key holds the object's uid, so the entries of a
 * deleted object are never looked up again and age out like those of a condition that went away, with one rule
 * and no path back from the informers. Past the Event TTL an entry names an Event the apiserver has dropped (a
 * bump would get 404 and start a new one anyway), so forgetting it loses nothing; with a longer --event-ttl the
 * cost is a new Event where a bump would have done. The map then holds at most an hour of distinct Events. Out of
 * memory, fewer go now and the rest at the next call. */
size_t event_seen_prune(struct strmap *sent, time_t now, double max_age)
{
    struct stale s = {.now = now, .max_age = max_age};
    strmap_each(sent, stale_collect, &s);
    for (size_t i = 0; i < s.n; i++) {
        event_seen_free(strmap_remove(sent, s.keys[i]));
        free(s.keys[i]);
    }
    free(s.keys);
    return s.n;
}
