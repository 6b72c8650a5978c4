#include "diff.h"

#include <stdio.h>
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

/* Walks desired; on the first difference leaves its path in buf (when given) and returns 1. */
static int differs(const cJSON *desired, const cJSON *live, char *buf, size_t buflen, size_t at)
{
    if (cJSON_IsObject(desired)) {
        if (!cJSON_IsObject(live))
            return 1;
        for (const cJSON *d = desired->child; d; d = d->next) {
            path_key(buf, buflen, at, d->string);
            size_t len = buf ? strlen(buf) : 0;
            if (differs(d, cJSON_GetObjectItemCaseSensitive(live, d->string), buf, buflen, len))
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
            if (differs(d, l, buf, buflen, len))
                return 1;
            if (buf && at < buflen)
                buf[at] = '\0';
        }
        return 0;
    }
    return live == NULL || !json_equal(desired, live);
}

int diff_satisfied(const cJSON *desired, const cJSON *live)
{
    return !differs(desired, live, NULL, 0, 0);
}

int diff_first(const cJSON *desired, const cJSON *live, char *buf, size_t buflen)
{
    if (buflen)
        buf[0] = '\0';
    return differs(desired, live, buf, buflen, 0);
}
