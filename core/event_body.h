/* The body of a new core/v1 Event, as client-go's recorder makes one: shared by the reconciles (sync.c) and the
 * access checks (access_check.c), which post Events about different objects. */
#ifndef FLINKOP_EVENT_BODY_H
#define FLINKOP_EVENT_BODY_H

#include <cjson/cJSON.h>

/* A JSON Event about `involved` (its apiVersion, kind, namespace, name and uid, when it has one), count 1, first
 * and last seen now, source flinkop. Returns a new string the caller frees, or NULL when out of memory. */
char *event_body(const cJSON *involved, const char *type, const char *reason, const char *message);

#endif
