/* The offline dry-run: what the policies would create for the resources in some YAML files, printed as one YAML
 * stream ready for `kubectl apply -f -`. Nothing here talks to a cluster. */
#ifndef FLINKOP_DRYRUN_H
#define FLINKOP_DRYRUN_H

#include <stdio.h>

#include "context.h"
#include "policy.h"

struct dryrun_opts {
    const char *script_dir;
    const char *const *files; /* "-" is standard input */
    size_t file_count;
    struct context_opts ctx;
    int install; /* print rbac.operator()'s install objects instead of the files' plan */
    struct policy_limits limits;
    const char *rbac_ceiling; /* --rbac-ceiling FILE; NULL: what rbac.operator() grants the operator */
};

/* Exit status: 0 the plan was printed to `out`; 1 an input or a policy output was refused (reasons on `diag`,
 * nothing on `out`, so a pipe into kubectl applies nothing half-made); 2 the policies or files could not be
 * loaded. */
int dryrun_run(const struct dryrun_opts *o, FILE *out, FILE *diag);

#endif
