/* flinkop's command line: parses options and hands over to the command that does the work. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "check.h"
#include "daemon.h"
#include "log.h"
#include "dryrun.h"
#include "flink_rest.h"
#include "install.h"
#include "version.h"

static const char usage[] =
    "usage: flinkop --dry-run [--script-dir DIR] -f FILE [-f FILE ...] [--watch-namespaces a,b]\n"
    "                         [--operator-namespace NS]\n"
    "       flinkop --dry-run [--script-dir DIR] --install [--watch-namespaces a,b] [--operator-namespace NS]\n"
    "       flinkop check [--script-dir DIR] [--rbac-ceiling FILE]\n"
    "       flinkop install [--script-dir DIR] [--watch-namespaces a,b] [--operator-namespace NS] [--image IMAGE]\n"
    "                       [--crd-dir DIR] [--only crds,operator,policy]\n"
    "       flinkop plan [--script-dir DIR] [--kubeconfig FILE] [--context NAME] [--watch-namespaces a,b]\n"
    "                    [--operator-namespace NS]\n"
    "       flinkop run [--script-dir DIR | --policy-configmap NS/NAME] [--kubeconfig FILE] [--context NAME] [--watch-namespaces a,b]\n"
    "                   [--operator-namespace NS] [--probe-address HOST:PORT] [--resync-interval S]\n"
    "                   [--log-level debug|info|warn|error] [--leader-elect [--lease-name NAME]]\n"
    "                   [--flink-rest-override URL]\n"
    "       flinkop audit [--script-dir DIR] [--kubeconfig FILE] [--context NAME] [--watch-namespaces a,b]\n"
    "                     [--operator-namespace NS]\n"
    "       flinkop --help | --version\n"
    "\n"
    "  --dry-run                print what the policies would create for the resources in FILEs, as YAML for\n"
    "                           `kubectl apply -f -`; talks to no cluster\n"
    "  -f, --filename FILE      a YAML file of FlinkDeployments, FlinkSessionJobs, Namespaces; - is stdin\n"
    "  --script-dir DIR         the policies: DIR/rbac.lua, DIR/reconcile.lua, modules in DIR/scripts (default .)\n"
    "  --install                print the operator's own install objects from rbac.lua's operator()\n"
    "  --watch-namespaces LIST  namespaced scope: only these namespaces (default: cluster scope)\n"
    "  --operator-namespace NS  the namespace the operator runs in (default: default)\n"
    "  --policy-memory MIB      memory cap of a policy's Lua state (default 64)\n"
    "  --policy-instructions N  Lua instructions one policy call may run (default 50000000)\n"
    "  --rbac-ceiling FILE      the most a policy may grant in a Role: a YAML list of PolicyRules or a ClusterRole\n"
    "                           (default: what rbac.lua operator() grants the operator)\n"
    "  check                    load the policies and run their `tests` tables\n"
    "  install                  print the whole install (CRDs, namespace, operator RBAC and Deployment, policy\n"
    "                           ConfigMap) for `kubectl apply --server-side -f -`\n"
    "  --image IMAGE            (install) the operator's container image (default flinkop:VERSION)\n"
    "  --crd-dir DIR            (install) the CRD files to include (default SCRIPT_DIR/deploy/crds)\n"
    "  --only PARTS             (install) some of: crds, operator (namespace, RBAC, Deployment), policy\n"
    "  plan                     read-only: what the policies in DIR would create, change (field by field) and\n"
    "                           delete in the live cluster; exit 0 no change, 1 changes, 2 errors\n"
    "  run                      the operator daemon: watch the cluster, apply what the policies want\n"
    "  --kubeconfig FILE        (run, audit) cluster access; default $KUBECONFIG, in-cluster, ~/.kube/config\n"
    "  --context NAME           (run, audit) kubeconfig context; default its current-context\n"
    "  --probe-address H:P      (run) /healthz, /readyz, /metrics (default 0.0.0.0:8085)\n"
    "  --resync-interval S      (run) seconds between full resyncs (default 60)\n"
    "  --kube-qps N             (run) API requests per second, client side (default 20)\n"
    "  --log-level LEVEL        (run) debug, info, warn or error (default info)\n"
    "  --policy-configmap NS/N  (run) read the policies from this ConfigMap and reload them when it changes\n"
    "                           (default without --script-dir: OPERATOR_NS/flinkop-policy)\n"
    "  --max-prune-percent N    (run) refuse a new policy that would delete more than N%% of what flinkop\n"
    "                           owns (default 20; the ConfigMap annotation flinkop.apache.org/max-prune-percent\n"
    "                           overrides it)\n"
    "  --leader-elect           (run) hold a Lease in the operator namespace; only the leader writes\n"
    "  --lease-name NAME        (run) the Lease's name (default flinkop-leader)\n"
    "  audit                    what the operator's and the managed ServiceAccounts may do (SubjectAccessReviews)\n"
    "                           next to what rbac.lua intends; exit 1 when a permission is MISSING or EXTRA\n"
    "  --flink-rest-override URL\n"
    "                           (run) for tests and debugging: send every JobManager REST call to URL instead of\n"
    "                           http://{name}-rest.{namespace}:8081 ({name} and {namespace} are filled in)\n"
    "\n"
    "Exit status: 0 done; 1 an input or policy output was refused (nothing printed); 2 cannot run.\n";

enum {
    OPT_SCRIPT_DIR = 256, OPT_WATCH, OPT_OPERATOR_NS, OPT_INSTALL, OPT_DRY_RUN, OPT_MEMORY, OPT_INSTRUCTIONS,
    OPT_KUBECONFIG, OPT_CONTEXT, OPT_PROBE, OPT_RESYNC, OPT_QPS, OPT_LOG_LEVEL, OPT_LEADER_ELECT,
    OPT_LEASE_NAME, OPT_IMAGE, OPT_CRD_DIR, OPT_POLICY_CM, OPT_MAX_PRUNE, OPT_ONLY
};

enum { OPT_RBAC_CEILING = 400, OPT_FLINK_REST };

static const struct option options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {"filename", required_argument, NULL, 'f'},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"script-dir", required_argument, NULL, OPT_SCRIPT_DIR},
    {"watch-namespaces", required_argument, NULL, OPT_WATCH},
    {"operator-namespace", required_argument, NULL, OPT_OPERATOR_NS},
    {"install", no_argument, NULL, OPT_INSTALL},
    {"policy-memory", required_argument, NULL, OPT_MEMORY},
    {"policy-instructions", required_argument, NULL, OPT_INSTRUCTIONS},
    {"kubeconfig", required_argument, NULL, OPT_KUBECONFIG},
    {"context", required_argument, NULL, OPT_CONTEXT},
    {"probe-address", required_argument, NULL, OPT_PROBE},
    {"resync-interval", required_argument, NULL, OPT_RESYNC},
    {"kube-qps", required_argument, NULL, OPT_QPS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"leader-elect", no_argument, NULL, OPT_LEADER_ELECT},
    {"lease-name", required_argument, NULL, OPT_LEASE_NAME},
    {"image", required_argument, NULL, OPT_IMAGE},
    {"policy-configmap", required_argument, NULL, OPT_POLICY_CM},
    {"max-prune-percent", required_argument, NULL, OPT_MAX_PRUNE},
    {"crd-dir", required_argument, NULL, OPT_CRD_DIR},
    {"only", required_argument, NULL, OPT_ONLY},
    {"rbac-ceiling", required_argument, NULL, OPT_RBAC_CEILING},
    {"flink-rest-override", required_argument, NULL, OPT_FLINK_REST},
    {NULL, 0, NULL, 0},
};

struct cli {
    const char *command; /* "dry-run", "check" or "run" */
    struct dryrun_opts dry;
    struct daemon_opts run;
    struct install_opts install;
    int log_level_set;
    const char **files;
};

/* "HOST:PORT" for the probe server. */
static int parse_address(const char *text, struct daemon_opts *run)
{
    static char host[64];
    const char *colon = strrchr(text, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof host || *end != '\0' || port < 0 ||
        port > 65535) {
        fprintf(stderr, "flinkop: --probe-address \"%s\": expected HOST:PORT\n", text);
        return -1;
    }
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    run->probe_host = host;
    run->probe_port = (int)port;
    return 0;
}

static int parse_positive(const char *text, const char *flag, long long *out)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v <= 0) {
        fprintf(stderr, "flinkop: %s \"%s\": expected a positive whole number\n", flag, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Returns 0 to run, 1 when --help or --version was answered, 2 on a usage error. */
static int cli_parse(struct cli *c, int argc, char **argv)
{
    char err[256];
    long long v;
    int opt;
    if (argc > 1 && (strcmp(argv[1], "check") == 0 || strcmp(argv[1], "run") == 0 ||
                     strcmp(argv[1], "install") == 0 || strcmp(argv[1], "plan") == 0 ||
                     strcmp(argv[1], "audit") == 0)) {
        c->command = argv[1];
        argc--;
        argv++;
    }
    enum log_level level;
    c->run.probe_host = "0.0.0.0";
    c->run.probe_port = 8085;
    c->run.resync_seconds = 60;
    c->files = calloc((size_t)argc, sizeof *c->files);
    if (c->files == NULL)
        return 2;
    c->dry.files = c->files;
    c->dry.script_dir = ".";
    c->dry.ctx.operator_namespace = "default";
    c->dry.ctx.dry_run = 1;
    while ((opt = getopt_long(argc, argv, "hVf:", options, NULL)) != -1) {
        switch (opt) {
        case 'h': fputs(usage, stdout); return 1;
        case 'V': printf("flinkop %s (policy API v%d)\n", FLINKOP_VERSION, FLINKOP_POLICY_API); return 1;
        case 'f': c->files[c->dry.file_count++] = optarg; break;
        case OPT_DRY_RUN: if (c->command == NULL) c->command = "dry-run"; break;
        case OPT_SCRIPT_DIR: c->dry.script_dir = c->run.script_dir = optarg; break;
        case OPT_POLICY_CM: c->run.policy_configmap = optarg; break;
        case OPT_MAX_PRUNE:
            if (parse_positive(optarg, "--max-prune-percent", &v) != 0)
                return 2;
            if (v > 100) {
                fprintf(stderr, "flinkop: --max-prune-percent \"%s\": expected 1 to 100\n", optarg);
                return 2;
            }
            c->run.max_prune_percent = (int)v;
            break;
        case OPT_OPERATOR_NS: c->dry.ctx.operator_namespace = optarg; c->run.ctx.operator_namespace = optarg; break;
        case OPT_KUBECONFIG: c->run.kubeconfig = optarg; break;
        case OPT_CONTEXT: c->run.context = optarg; break;
        case OPT_LEADER_ELECT: c->run.leader_elect = 1; break;
        case OPT_LEASE_NAME: c->run.lease_name = optarg; break;
        case OPT_IMAGE: c->install.image = optarg; break;
        case OPT_CRD_DIR: c->install.crd_dir = optarg; break;
        case OPT_ONLY:
            if (install_parts_parse(optarg, &c->install.parts) != 0) {
                fprintf(stderr, "flinkop: --only \"%s\": expected a list of crds, operator, policy\n", optarg);
                return 2;
            }
            break;
        case OPT_PROBE:
            if (parse_address(optarg, &c->run) != 0)
                return 2;
            break;
        case OPT_RESYNC:
            if (parse_positive(optarg, "--resync-interval", &v) != 0)
                return 2;
            c->run.resync_seconds = (double)v;
            break;
        case OPT_QPS:
            if (parse_positive(optarg, "--kube-qps", &v) != 0)
                return 2;
            c->run.kube_qps = (double)v;
            break;
        case OPT_LOG_LEVEL:
            if (log_level_parse(optarg, &level) != 0) {
                fprintf(stderr, "flinkop: --log-level \"%s\": expected debug, info, warn or error\n", optarg);
                return 2;
            }
            log_set_level(level);
            c->log_level_set = 1;
            break;
        case OPT_INSTALL: c->dry.install = 1; break;
        case OPT_RBAC_CEILING: c->dry.rbac_ceiling = optarg; break;
        case OPT_FLINK_REST:
            if (flink_rest_template_check(optarg, err, sizeof err) != 0) {
                fprintf(stderr, "flinkop: --flink-rest-override %s\n", err);
                return 2;
            }
            c->run.flink_rest_url = optarg;
            break;
        case OPT_WATCH:
            context_free_namespaces(c->dry.ctx.watch_namespaces, c->dry.ctx.watch_count);
            if (context_split_namespaces(optarg, &c->dry.ctx.watch_namespaces, &c->dry.ctx.watch_count, err,
                                         sizeof err) != 0) {
                fprintf(stderr, "flinkop: %s\n", err);
                return 2;
            }
            break;
        case OPT_MEMORY:
            if (parse_positive(optarg, "--policy-memory", &v) != 0)
                return 2;
            c->dry.limits.memory_bytes = (size_t)v << 20;
            break;
        case OPT_INSTRUCTIONS:
            if (parse_positive(optarg, "--policy-instructions", &v) != 0)
                return 2;
            c->dry.limits.instructions = v;
            break;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "flinkop: unexpected argument \"%s\"\n%s", argv[optind], usage);
        return 2;
    }
    if (c->command == NULL) {
        fprintf(stderr, "flinkop: say what to do: --dry-run, check, install or run\n%s", usage);
        return 2;
    }
    if (c->run.script_dir && c->run.policy_configmap) {
        fprintf(stderr, "flinkop: --script-dir and --policy-configmap exclude each other\n");
        return 2;
    }
    /* The ceiling bounds what the policies may grant when they run; install and audit run none of a site's
     * ceiling-checked renders, so taking the flag there would look like a check that never happens. */
    if (c->dry.rbac_ceiling && (strcmp(c->command, "install") == 0 || strcmp(c->command, "audit") == 0)) {
        fprintf(stderr, "flinkop: --rbac-ceiling applies to --dry-run, check, plan and run, not to %s\n", c->command);
        return 2;
    }
    if (strcmp(c->command, "dry-run") == 0 && !c->dry.install && c->dry.file_count == 0) {
        fprintf(stderr, "flinkop: --dry-run needs -f FILE (or --install)\n");
        return 2;
    }
    return 0;
}

/* `plan`: the daemon with its writes collected instead of made, then the collection printed. */
static int plan_run(struct cli *c)
{
    struct plan *plan = plan_new();
    if (plan == NULL)
        return 2;
    c->run.script_dir = c->dry.script_dir;
    c->run.plan = plan;
    c->run.limits = c->dry.limits;
    c->run.rbac_ceiling = c->dry.rbac_ceiling;
    c->run.ctx.watch_namespaces = c->dry.ctx.watch_namespaces;
    c->run.ctx.watch_count = c->dry.ctx.watch_count;
    if (!c->log_level_set)
        log_set_level(LOG_LEVEL_WARN); /* stderr carries problems only; the plan goes to stdout */
    int status = daemon_run(&c->run);
    if (status == 0)
        status = plan_print(plan, stdout);
    plan_free(plan);
    return status;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    int status = cli_parse(&c, argc, argv);
    if (status == 1)
        status = 0;
    else if (status == 0 && strcmp(c.command, "check") == 0)
        status = check_run(c.dry.script_dir, &c.dry.limits, &c.dry.ctx, c.dry.rbac_ceiling, stdout);
    else if (status == 0 && strcmp(c.command, "run") == 0) {
        c.run.limits = c.dry.limits;
        c.run.rbac_ceiling = c.dry.rbac_ceiling;
        c.run.ctx.watch_namespaces = c.dry.ctx.watch_namespaces;
        c.run.ctx.watch_count = c.dry.ctx.watch_count;
        status = daemon_run(&c.run);
    } else if (status == 0 && strcmp(c.command, "plan") == 0) {
        status = plan_run(&c);
    } else if (status == 0 && strcmp(c.command, "install") == 0) {
        c.install.script_dir = c.dry.script_dir;
        c.install.limits = c.dry.limits;
        c.install.ctx = c.dry.ctx;
        c.install.ctx.dry_run = 0;
        status = install_run(&c.install, stdout, stderr);
    } else if (status == 0 && strcmp(c.command, "audit") == 0) {
        struct audit_opts ao = {.script_dir = c.dry.script_dir, .kubeconfig = c.run.kubeconfig,
                                .context = c.run.context, .ctx = c.dry.ctx, .limits = c.dry.limits};
        status = audit_run(&ao, stdout, stderr);
    }
    else if (status == 0)
        status = dryrun_run(&c.dry, stdout, stderr);
    context_free_namespaces(c.dry.ctx.watch_namespaces, c.dry.ctx.watch_count);
    free(c.files);
    return status;
}
