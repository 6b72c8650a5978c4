#include "event_body.h"

#include <stdio.h>
#include <time.h>

#include "json_text.h"
#include "object.h"

char *event_body(const cJSON *involved, const char *type, const char *reason, const char *message)
{
    char stamp[32], name[300];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(name, sizeof name, "%s.", object_name(involved));
    const char *uid = object_string_at(involved, "metadata.uid");
    cJSON *ev = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(ev, "metadata");
    cJSON_AddStringToObject(meta, "generateName", name);
    cJSON_AddStringToObject(meta, "namespace", object_namespace(involved));
    cJSON *inv = cJSON_AddObjectToObject(ev, "involvedObject");
    cJSON_AddStringToObject(inv, "apiVersion", object_api_version(involved));
    cJSON_AddStringToObject(inv, "kind", object_kind(involved));
    cJSON_AddStringToObject(inv, "name", object_name(involved));
    cJSON_AddStringToObject(inv, "namespace", object_namespace(involved));
    if (uid)
        cJSON_AddStringToObject(inv, "uid", uid);
    cJSON_AddStringToObject(ev, "type", type);
    cJSON_AddStringToObject(ev, "reason", reason);
    cJSON_AddStringToObject(ev, "message", message);
    cJSON_AddStringToObject(ev, "firstTimestamp", stamp);
    cJSON_AddStringToObject(ev, "lastTimestamp", stamp);
    cJSON_AddNumberToObject(ev, "count", 1);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(ev, "source"), "component", "flinkop");
    char *body = json_print_sorted(ev);
    cJSON_Delete(ev);
    return body;
}
