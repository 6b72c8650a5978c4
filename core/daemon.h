/* `flinkop run`: the in-cluster daemon. One libev loop drives the informers, the work queue, the policy calls,
 * the writes to the API server and the probe server; nothing blocks it. */
#ifndef FLINKOP_DAEMON_H
#define FLINKOP_DAEMON_H

#include "context.h"
#include "policy.h"

struct daemon_opts {
    const char *script_dir;
    const char *kubeconfig;       /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
    const char *context;
    struct context_opts ctx;      /* operator_namespace NULL: the config's namespace */
    const char *probe_host;
    int probe_port;
    double resync_seconds;
    double kube_qps;
    struct policy_limits limits;
    const char *rbac_ceiling;     /* --rbac-ceiling FILE; NULL: what rbac.operator() grants the operator */
};

/* Runs until SIGTERM or SIGINT. Returns the exit status: 0 after a clean stop, 2 when it could not start. */
int daemon_run(const struct daemon_opts *o);

#endif
