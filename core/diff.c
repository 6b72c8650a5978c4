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

struct walk {
    char *buf;
    size_t buflen;
    diff_report_fn report; /* NULL: stop at the first difference, its path left in buf */
    void *ud;
};

static int difference(struct walk *w, const cJSON *desired, const cJSON *live)
{
    if (w->report)
        w->report(w->ud, w->buf, desired, live);
    return 1;
}

/* Walks desired; counts the differences (just the first, leaving its path in buf, without a report function). */
static int differs(struct walk *w, const cJSON *desired, const cJSON *live, size_t at, const char *parent_key)
{
    int n = 0;
    /* The API server drops empty lists and maps (omitempty): `env: []` comes back as no env at all. */
    if (live == NULL && (cJSON_IsArray(desired) || cJSON_IsObject(desired)) && desired->child == NULL)
        return 0;
    if (cJSON_IsObject(desired)) {
        if (!cJSON_IsObject(live))
            return difference(w, desired, live);
        for (const cJSON *d = desired->child; d; d = d->next) {
            path_key(w->buf, w->buflen, at, d->string);
            size_t len = w->buf ? strlen(w->buf) : 0;
            n += differs(w, d, cJSON_GetObjectItemCaseSensitive(live, d->string), len, desired->string);
            if (n && !w->report)
                return n;
            if (w->buf && at < w->buflen)
                w->buf[at] = '\0';
        }
        return n;
    }
    if (cJSON_IsArray(desired)) {
        if (!cJSON_IsArray(live) || cJSON_GetArraySize(desired) != cJSON_GetArraySize(live))
            return difference(w, desired, live);
        int i = 0;
        for (const cJSON *d = desired->child, *l = live->child; d && l; d = d->next, l = l->next, i++) {
            path_index(w->buf, w->buflen, at, i);
            size_t len = w->buf ? strlen(w->buf) : 0;
            n += differs(w, d, l, len, NULL);
            if (n && !w->report)
                return n;
            if (w->buf && at < w->buflen)
                w->buf[at] = '\0';
        }
        return n;
    }
    return live == NULL || !scalar_equal(desired, live, parent_key) ? difference(w, desired, live) : 0;
}

int diff_satisfied(const cJSON *desired, const cJSON *live)
{
    struct walk w = {0};
    return !differs(&w, desired, live, 0, NULL);
}

int diff_first(const cJSON *desired, const cJSON *live, char *buf, size_t buflen)
{
    struct walk w = {buf, buflen, NULL, NULL};
    if (buflen)
        buf[0] = '\0';
    return differs(&w, desired, live, 0, NULL);
}

int diff_each(const cJSON *desired, const cJSON *live, diff_report_fn report, void *ud)
{
    char path[1024] = "";
    struct walk w = {path, sizeof path, report, ud};
    return differs(&w, desired, live, 0, NULL);
}
