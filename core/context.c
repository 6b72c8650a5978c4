#include "context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *context_new(const struct context_opts *o, time_t now)
{
    char stamp[32];
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return NULL;
    cJSON *ctx = cJSON_CreateObject();
    if (ctx == NULL)
        return NULL;
    int ok = cJSON_AddNumberToObject(ctx, "api_version", 1) != NULL &&
             cJSON_AddStringToObject(ctx, "operator_namespace", o->operator_namespace) != NULL &&
             cJSON_AddBoolToObject(ctx, "dry_run", o->dry_run) != NULL &&
             cJSON_AddStringToObject(ctx, "now", stamp) != NULL &&
             cJSON_AddStringToObject(ctx, "managed_by", "flinkop") != NULL;
    if (ok && o->watch_namespaces != NULL) {
        cJSON *list = cJSON_AddArrayToObject(ctx, "watch_namespaces");
        for (size_t i = 0; ok && list && i < o->watch_count; i++) {
            cJSON *s = cJSON_CreateString(o->watch_namespaces[i]);
            ok = s != NULL && cJSON_AddItemToArray(list, s);
        }
        ok = ok && list != NULL;
    }
    if (!ok) {
        cJSON_Delete(ctx);
        return NULL;
    }
    return ctx;
}

int context_watches(const struct context_opts *o, const char *ns)
{
    if (o->watch_namespaces == NULL)
        return 1;
    for (size_t i = 0; i < o->watch_count; i++)
        if (strcmp(o->watch_namespaces[i], ns) == 0)
            return 1;
    return 0;
}

int context_split_namespaces(const char *list, char ***out, size_t *count, char *err, size_t errlen)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    char **items = calloc(n, sizeof *items);
    if (items == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *p = list;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        if (len == 0) {
            snprintf(err, errlen, "--watch-namespaces \"%s\": empty namespace name", list);
            context_free_namespaces(items, i);
            return -1;
        }
        items[i] = strndup(p, len);
        if (items[i] == NULL) {
            snprintf(err, errlen, "out of memory");
            context_free_namespaces(items, i);
            return -1;
        }
        p += len + 1;
    }
    *out = items;
    *count = n;
    return 0;
}

void context_free_namespaces(char **list, size_t count)
{
    for (size_t i = 0; list && i < count; i++)
        free(list[i]);
    free(list);
}
