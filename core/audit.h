/* `flinkop audit`: what the operator's ServiceAccount and each ServiceAccount the operator manages may really do,
 * asked of the API server with one SubjectAccessReview per (resource, verb), next to what the policies intended.
 *
 * The intended rules come from rbac.lua: operator(ctx), and namespace(ns, ctx) for every namespace holding a
 * ServiceAccount with our managed-by label (cluster scope) or every watched namespace. For each account and each
 * place its bindings reach (cluster-wide, or a namespace), the tuples asked about are those of the intended rules,
 * a fixed list of sensitive ones (secrets, pods/exec, nodes, escalate and bind on roles, "*") so over-grants show,
 * and those of any live rule with "*" bound to the account. A row is flagged MISSING (intended, not allowed),
 * EXTRA (allowed, not intended) or WILDCARD (a "*" intended or allowed). */
#ifndef FLINKOP_AUDIT_H
#define FLINKOP_AUDIT_H

#include <stdio.h>

#include "context.h"
#include "policy.h"

struct audit_opts {
    const char *script_dir;
    const char *kubeconfig; /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
    const char *context;
    struct context_opts ctx;
    struct policy_limits limits;
};

/* Prints one table per account and place to out, problems to diag. Exit status: 0 no MISSING or EXTRA row, 1 some,
 * 2 the policies, the cluster configuration or a request failed. */
int audit_run(const struct audit_opts *o, FILE *out, FILE *diag);

#endif
