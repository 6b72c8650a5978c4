#include "kinds.h"

#include <stdio.h>
#include <string.h>

static const struct kind_info kinds[] = {
    {"Namespace", "v1", "namespaces", 0, 0},
    {"ServiceAccount", "v1", "serviceaccounts", 1, 1},
    {"ConfigMap", "v1", "configmaps", 1, 1},
    {"Secret", "v1", "secrets", 1, 0},
    {"Service", "v1", "services", 1, 1},
    {"Pod", "v1", "pods", 1, 0},
    {"Event", "v1", "events", 1, 0},
    {"Role", "rbac.authorization.k8s.io/v1", "roles", 1, 1},
    {"RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings", 1, 1},
    {"ClusterRole", "rbac.authorization.k8s.io/v1", "clusterroles", 0, 0},
    {"ClusterRoleBinding", "rbac.authorization.k8s.io/v1", "clusterrolebindings", 0, 0},
    {"Deployment", "apps/v1", "deployments", 1, 1},
    {"Ingress", "networking.k8s.io/v1", "ingresses", 1, 1},
    {"Lease", "coordination.k8s.io/v1", "leases", 1, 0},
    {"FlinkDeployment", "flink.apache.org/v1beta1", "flinkdeployments", 1, 0},
    {"FlinkSessionJob", "flink.apache.org/v1beta1", "flinksessionjobs", 1, 0},
};

const struct kind_info *kind_lookup(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return &kinds[i];
    return NULL;
}

const struct kind_info *kind_at(size_t i)
{
    return i < sizeof kinds / sizeof *kinds ? &kinds[i] : NULL;
}

int kind_path(const struct kind_info *k, const char *ns, const char *name, char *buf, size_t buflen)
{
    /* The core group lives under /api, every other group under /apis. */
    const char *root = strchr(k->api_version, '/') ? "/apis/" : "/api/";
    int n;
    if (k->namespaced && ns && *ns)
        n = snprintf(buf, buflen, "%s%s/namespaces/%s/%s%s%s", root, k->api_version, ns, k->plural, name ? "/" : "",
                     name ? name : "");
    else
        n = snprintf(buf, buflen, "%s%s/%s%s%s", root, k->api_version, k->plural, name ? "/" : "", name ? name : "");
    return n < 0 || (size_t)n >= buflen ? -1 : 0;
}
