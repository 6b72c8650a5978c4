/* Our finalizer on FlinkDeployments and FlinkSessionJobs (see finalizer.h). */
#include "finalizer.h"

#include <string.h>

#include "json_text.h"
#include "strutil.h"

static const cJSON *metadata_of(const cJSON *resource)
{
    return cJSON_GetObjectItemCaseSensitive(resource, "metadata");
}

/* Upstream names one finalizer per kind; anything else carries none of ours. */
static const char *name_of(const cJSON *resource)
{
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(resource, "kind"));
    if (kind && strcmp(kind, "FlinkDeployment") == 0)
        return FINALIZER_NAME;
    if (kind && strcmp(kind, "FlinkSessionJob") == 0)
        return FINALIZER_SESSION_JOB_NAME;
    return NULL;
}

int finalizer_applies(const cJSON *resource)
{
    return name_of(resource) != NULL;
}

int finalizer_present(const cJSON *resource)
{
    const cJSON *f;
    const char *name = name_of(resource);
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(metadata_of(resource), "finalizers"))
    {
        if (name && cJSON_IsString(f) && strcmp(f->valuestring, name) == 0)
            return 1;
    }
    return 0;
}

int finalizer_deleting(const cJSON *resource)
{
    return cJSON_IsString(cJSON_GetObjectItemCaseSensitive(metadata_of(resource), "deletionTimestamp"));
}

int finalizer_overdue(const cJSON *resource, time_t now)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(metadata_of(resource), "deletionTimestamp");
    time_t since;
    if (!cJSON_IsString(ts))
        return 0;
    /* A timestamp we cannot read counts as long past: better a finalizer gone early than a namespace stuck. */
    return strutil_rfc3339_parse(ts->valuestring, &since) != 0 || now - since >= FINALIZER_LIMIT;
}

char *finalizer_patch(const cJSON *resource, int add)
{
    const cJSON *meta = metadata_of(resource), *f;
    const cJSON *rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
    const char *name = name_of(resource);
    if (name == NULL || !cJSON_IsString(rv) || finalizer_present(resource) == (add != 0))
        return NULL;
    cJSON *patch = cJSON_CreateObject();
    cJSON *pm = cJSON_AddObjectToObject(patch, "metadata");
    cJSON *list = cJSON_AddArrayToObject(pm, "finalizers");
    cJSON_AddStringToObject(pm, "resourceVersion", rv->valuestring);
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(meta, "finalizers"))
    {
        if (!(cJSON_IsString(f) && strcmp(f->valuestring, name) == 0))
            cJSON_AddItemToArray(list, cJSON_Duplicate(f, 1));
    }
    if (add)
        cJSON_AddItemToArray(list, cJSON_CreateString(name));
    char *body = json_print_sorted(patch);
    cJSON_Delete(patch);
    return body;
}
