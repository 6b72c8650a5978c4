/* The Kubernetes kinds flinkop reads or writes, and the REST paths that reach them. */
#ifndef FLINKOP_KINDS_H
#define FLINKOP_KINDS_H

#include <stddef.h>

struct kind_info {
    const char *kind;        /* "Deployment" */
    const char *api_version; /* "apps/v1" */
    const char *plural;      /* "deployments" */
    int namespaced;
    int ownable; /* a policy may emit it, so the operator watches it under the managed-by label */
};

/* The entry for `kind`, or NULL for a kind flinkop does not know. */
const struct kind_info *kind_lookup(const char *kind);

/* Every known kind by index, for iteration; NULL past the end. */
const struct kind_info *kind_at(size_t i);

/* Writes the collection or object path: "/apis/apps/v1/namespaces/NS/deployments[/NAME]". `ns` is ignored for
 * cluster-scoped kinds; NULL (or "") ns on a namespaced kind gives the all-namespaces path; NULL name gives the
 * collection. Returns 0, or -1 when buf is too small. */
int kind_path(const struct kind_info *k, const char *ns, const char *name, char *buf, size_t buflen);

#endif
