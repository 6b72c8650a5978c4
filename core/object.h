/* Reading the identity of a Kubernetes object held as a cJSON tree, and the checks every object a policy emits
 * must pass before the core prints or applies it. */
#ifndef FLINKOP_OBJECT_H
#define FLINKOP_OBJECT_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define OBJECT_MANAGED_BY_LABEL "app.kubernetes.io/managed-by"
#define OBJECT_MANAGED_BY_VALUE "flinkop"
/* Which policy call wants an object: "FlinkDeployment/ns/name", "Namespace/ns" or "operator". Pruning keys on it. */
#define OBJECT_OWNER_ANNOTATION "flinkop.apache.org/owner"

/* Borrowed strings from the tree, or NULL when absent or not a string. */
const char *object_kind(const cJSON *obj);
const char *object_api_version(const cJSON *obj);
const char *object_name(const cJSON *obj);
const char *object_namespace(const cJSON *obj);

/* The string at a dotted path of object keys ("spec.serviceAccount"), or NULL. */
const char *object_string_at(const cJSON *obj, const char *path);

/* An optional string member, as Go's decoding of an `omitempty` string sees it: returns 0 with *out NULL when the
 * member is absent, null or "", 0 with the borrowed string, or -1 (and *out NULL) when it is of another type. */
int object_member_string(const cJSON *obj, const char *key, const char **out);

/* Whether Kubernetes keeps objects of this kind outside namespaces (Namespace, ClusterRole, ...). */
int object_kind_is_cluster_scoped(const char *kind);

/* Checks one emitted object and stamps it as ours. It must be a JSON object with string apiVersion, kind and
 * metadata.name. A namespaced kind must sit in `namespace` (filled in when the policy left it out); a
 * cluster-scoped kind is accepted only when allow_cluster is set. The managed-by label and the owner annotation
 * are set. Returns 0, or -1 with the reason in err. */
int object_check_and_stamp(cJSON *obj, const char *namespace, int allow_cluster, const char *owner, char *err,
                           size_t errlen);

/* Orders objects the way `kubectl apply` needs them created: namespaces, accounts and RBAC before the workloads
 * that use them; then by namespace and name. A qsort comparator over `cJSON *` elements. */
int object_apply_order_compare(const void *a, const void *b);

#endif
