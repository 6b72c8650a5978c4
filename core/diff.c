#include "diff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"

static void path_key(char *buf, size_t buflen, size_t at, const char *key)
{
    if (buf != NULL && at < buflen)
        snprintf(buf + at, buflen - at, "%s%s", at ? "." : "", key);
}

static void path_index(char *buf, size_t buflen, size_t at, int index)
{
    if (buf != NULL && at < buflen)
        snprintf(buf + at, buflen - at, "[%d]", index);
}

/* The value of a Kubernetes quantity ("2Gi", "2048Mi", "500m", "1e3"), or -1 when the text is not one. The API
 * server stores quantities in canonical form, so "2048Mi" comes back as "2Gi": equal, not a change. */
static long double quantity_value(const char *s)
{
    static const struct {
        const char *suffix;
        long double factor;
    } suffixes[] = {
        {"Ki", 1024.0L}, {"Mi", 1048576.0L}, {"Gi", 1073741824.0L}, {"Ti", 1099511627776.0L},
        {"Pi", 1125899906842624.0L}, {"Ei", 1152921504606846976.0L}, {"n", 1e-9L}, {"u", 1e-6L}, {"m", 1e-3L},
        {"k", 1e3L}, {"M", 1e6L}, {"G", 1e9L}, {"T", 1e12L}, {"P", 1e15L}, {"E", 1e18L}, {"", 1.0L},
    };
    char *end;
    if (s == NULL || *s == '\0' || !(*s == '+' || *s == '-' || *s == '.' || (*s >= '0' && *s <= '9')))
        return -1;
    long double v = strtold(s, &end);
    if (end == s)
        return -1;
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
        if (strcmp(end, suffixes[i].suffix) == 0)
            return v * suffixes[i].factor;
    return -1;
}

/* Resource amounts live in maps named limits, requests (containers) or hard (quotas). */
static int holds_quantities(const char *key)
{
    return key && (strcmp(key, "limits") == 0 || strcmp(key, "requests") == 0 || strcmp(key, "hard") == 0);
}

static int scalar_equal(const cJSON *desired, const cJSON *live, const char *parent_key)
{
    if (json_equal(desired, live))
        return 1;
    if (holds_quantities(parent_key) && cJSON_IsString(desired) && cJSON_IsString(live)) {
        long double a = quantity_value(desired->valuestring), b = quantity_value(live->valuestring);
        return a >= 0 && b >= 0 && fabsl(a - b) <= 1e-12L * (a > b ? a : b);
    }
    return 0;
}

/* Walks desired; on the first difference leaves its path in buf (when given) and returns 1. */
static int differs(const cJSON *desired, const cJSON *live, char *buf, size_t buflen, size_t at,
                   const char *parent_key)
{
    if (cJSON_IsObject(desired)) {
        if (!cJSON_IsObject(live))
            return 1;
        for (const cJSON *d = desired->child; d; d = d->next) {
            path_key(buf, buflen, at, d->string);
            size_t len = buf ? strlen(buf) : 0;
            if (differs(d, cJSON_GetObjectItemCaseSensitive(live, d->string), buf, buflen, len, desired->string))
                return 1;
            if (buf && at < buflen)
                buf[at] = '\0';
        }
        return 0;
    }
    if (cJSON_IsArray(desired)) {
        if (!cJSON_IsArray(live) || cJSON_GetArraySize(desired) != cJSON_GetArraySize(live))
            return 1;
        int i = 0;
        for (const cJSON *d = desired->child, *l = live->child; d && l; d = d->next, l = l->next, i++) {
            path_index(buf, buflen, at, i);
            size_t len = buf ? strlen(buf) : 0;
            if (differs(d, l, buf, buflen, len, NULL))
                return 1;
            if (buf && at < buflen)
                buf[at] = '\0';
        }
        return 0;
    }
    return live == NULL || !scalar_equal(desired, live, parent_key);
}

int diff_satisfied(const cJSON *desired, const cJSON *live)
{
    return !differs(desired, live, NULL, 0, 0, NULL);
}

int diff_first(const cJSON *desired, const cJSON *live, char *buf, size_t buflen)
{
    if (buflen)
        buf[0] = '\0';
    return differs(desired, live, buf, buflen, 0, NULL);
}
