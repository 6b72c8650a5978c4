/* The `ctx` argument every policy call receives: how the operator is installed and what time it is. */
#ifndef FLINKOP_CONTEXT_H
#define FLINKOP_CONTEXT_H

#include <cjson/cJSON.h>
#include <time.h>

struct context_opts {
    const char *operator_namespace;
    char **watch_namespaces; /* NULL means cluster scope */
    size_t watch_count;
    int dry_run;
};

/* Builds ctx (see docs/policy-api.md) for time `now`. Returns a new tree the caller frees, or NULL when out of
 * memory. */
cJSON *context_new(const struct context_opts *o, time_t now);

/* Whether `ns` is watched (always true in cluster scope). */
int context_watches(const struct context_opts *o, const char *ns);

/* Splits "a,b,c" into a new array of new strings; empty items are an error. Returns 0 or -1 (message in err). */
int context_split_namespaces(const char *list, char ***out, size_t *count, char *err, size_t errlen);
void context_free_namespaces(char **list, size_t count);

#endif
