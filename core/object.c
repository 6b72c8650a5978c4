#include "object.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *member_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *object_kind(const cJSON *obj) { return member_string(obj, "kind"); }
const char *object_api_version(const cJSON *obj) { return member_string(obj, "apiVersion"); }

const char *object_name(const cJSON *obj)
{
    return member_string(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name");
}

const char *object_namespace(const cJSON *obj)
{
    return member_string(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "namespace");
}

const char *object_string_at(const cJSON *obj, const char *path)
{
    char key[128];
    const cJSON *at = obj;
    while (at && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        at = cJSON_IsObject(at) ? cJSON_GetObjectItemCaseSensitive(at, key) : NULL;
        path += n + (path[n] == '.');
    }
    return cJSON_IsString(at) ? at->valuestring : NULL;
}

int object_member_string(const cJSON *obj, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring[0] ? v->valuestring : NULL;
    return 0;
}

/* The cluster-scoped kinds a Flink operator's policy could plausibly emit; anything else is namespaced. */
static const char *const cluster_kinds[] = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass",
    "StorageClass", "PersistentVolume", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "IngressClass", "Node",
};

int object_kind_is_cluster_scoped(const char *kind)
{
    for (size_t i = 0; i < sizeof cluster_kinds / sizeof *cluster_kinds; i++)
        if (strcmp(kind, cluster_kinds[i]) == 0)
            return 1;
    return 0;
}

/* Returns the object member `key`, adding an empty object there when it is absent; NULL when it is not an object. */
static cJSON *member_object(cJSON *parent, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, key);
    if (v == NULL || cJSON_IsNull(v)) {
        cJSON_DeleteItemFromObjectCaseSensitive(parent, key);
        v = cJSON_AddObjectToObject(parent, key);
    }
    return cJSON_IsObject(v) ? v : NULL;
}

static int set_string(cJSON *obj, const char *key, const char *value)
{
    cJSON *s = cJSON_CreateString(value);
    if (s == NULL)
        return -1;
    if (cJSON_GetObjectItemCaseSensitive(obj, key))
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, s) ? 0 : (cJSON_Delete(s), -1);
    return cJSON_AddItemToObject(obj, key, s) ? 0 : (cJSON_Delete(s), -1);
}

int object_check_and_stamp(cJSON *obj, const char *namespace, int allow_cluster, const char *owner, char *err,
                           size_t errlen)
{
    if (!cJSON_IsObject(obj)) {
        snprintf(err, errlen, "an emitted object is not a table");
        return -1;
    }
    const char *kind = object_kind(obj), *name = object_name(obj);
    if (object_api_version(obj) == NULL || kind == NULL || name == NULL || *name == '\0') {
        snprintf(err, errlen, "an emitted object lacks apiVersion, kind or metadata.name (kind %s, name %s)",
                 kind ? kind : "?", name ? name : "?");
        return -1;
    }
    cJSON *metadata = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const char *ns = object_namespace(obj);
    if (object_kind_is_cluster_scoped(kind)) {
        if (!allow_cluster) {
            snprintf(err, errlen, "%s %s is cluster-scoped; only rbac.operator() may emit cluster-scoped objects",
                     kind, name);
            return -1;
        }
        if (ns != NULL) {
            snprintf(err, errlen, "%s %s is cluster-scoped but names namespace %s", kind, name, ns);
            return -1;
        }
    } else if (namespace != NULL && ns != NULL && strcmp(ns, namespace) != 0) {
        snprintf(err, errlen, "%s %s/%s is in namespace %s; this policy call may only emit objects in %s", kind,
                 ns, name, ns, namespace);
        return -1;
    } else if (ns == NULL) {
        if (namespace == NULL) {
            snprintf(err, errlen, "%s %s needs metadata.namespace", kind, name);
            return -1;
        }
        if (set_string(metadata, "namespace", namespace) != 0)
            goto oom;
    }
    cJSON *labels = member_object(metadata, "labels");
    cJSON *annotations = member_object(metadata, "annotations");
    if (labels == NULL || annotations == NULL) {
        snprintf(err, errlen, "%s %s: metadata.labels and metadata.annotations must be maps", kind, name);
        return -1;
    }
    if (set_string(labels, OBJECT_MANAGED_BY_LABEL, OBJECT_MANAGED_BY_VALUE) != 0 ||
        set_string(annotations, OBJECT_OWNER_ANNOTATION, owner) != 0)
        goto oom;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* Creation order, as Helm installs: what others refer to comes first. Unlisted kinds go last. */
static const char *const apply_order[] = {
    "Namespace", "CustomResourceDefinition", "ServiceAccount", "Secret", "ConfigMap", "ClusterRole",
    "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment", "StatefulSet", "Job", "Ingress",
};

static size_t apply_rank(const char *kind)
{
    size_t n = sizeof apply_order / sizeof *apply_order;
    for (size_t i = 0; kind && i < n; i++)
        if (strcmp(kind, apply_order[i]) == 0)
            return i;
    return n;
}

static int compare_strings(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

int object_apply_order_compare(const void *pa, const void *pb)
{
    const cJSON *a = *(const cJSON *const *)pa, *b = *(const cJSON *const *)pb;
    size_t ra = apply_rank(object_kind(a)), rb = apply_rank(object_kind(b));
    if (ra != rb)
        return ra < rb ? -1 : 1;
    int c = compare_strings(object_kind(a), object_kind(b));
    if (c == 0)
        c = compare_strings(object_namespace(a), object_namespace(b));
    if (c == 0)
        c = compare_strings(object_name(a), object_name(b));
    return c;
}
