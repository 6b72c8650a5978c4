/* `flinkop run`: the in-cluster daemon. One libev loop drives the informers, the work queue, the policy calls,
 * the writes to the API server and the probe server; nothing blocks it. */
#ifndef FLINKOP_DAEMON_H
#define FLINKOP_DAEMON_H

#include "context.h"
#include "plan.h"
#include "policy.h"

/* The policy ConfigMap `flinkop install` makes, read by `flinkop run` when no --script-dir is given. */
#define DAEMON_POLICY_CONFIGMAP "flinkop-policy"

struct daemon_opts {
    const char *script_dir;       /* the policies from a directory, or NULL: from policy_configmap */
    const char *policy_configmap; /* "NS/NAME"; NULL with script_dir: OPERATOR_NS/flinkop-policy */
    const char *kubeconfig;       /* NULL: $KUBECONFIG, in-cluster, ~/.kube/config */
    const char *context;
    struct context_opts ctx;      /* operator_namespace NULL: the config's namespace */
    const char *probe_host;
    int probe_port;
    double resync_seconds;
    double kube_qps;
    int max_prune_percent;        /* a new policy deleting more of what we own is refused; 0 means 20 */
    int leader_elect;             /* campaign for a Lease; only the leader writes */
    const char *lease_name;       /* NULL: "flinkop-leader", in the operator namespace */
    struct policy_limits limits;
    const char *rbac_ceiling;     /* --rbac-ceiling FILE; NULL: what rbac.operator() grants the operator */
    struct plan *plan;            /* `flinkop plan`: collect the writes here instead of making them, then stop */
    const char *flink_rest_url;   /* --flink-rest-override: JobManager URL template; NULL: FLINK_REST_DEFAULT_URL */
};

/* Runs until SIGTERM or SIGINT. Returns the exit status: 0 after a clean stop, 2 when it could not start. */
int daemon_run(const struct daemon_opts *o);

#endif
