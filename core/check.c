#include "check.h"

#include <string.h>
#include <time.h>

#include "render.h"

#define CHECK_NAMESPACE "flinkop-check" /* a sample namespace holding a FlinkDeployment */

struct check_tally {
    FILE *out;
    int passed, failed;
};

static void report_line(void *ud, const char *line)
{
    struct check_tally *t = ud;
    t->passed += strncmp(line, "ok - ", 5) == 0;
    fprintf(t->out, "%s\n", line);
}

static void guardrail_report(struct check_tally *t, int ok, const char *what)
{
    fprintf(t->out, "%s - RBAC guardrails: %s\n", ok ? "ok" : "not ok", what);
    t->passed += ok;
    t->failed += !ok;
}

/* A Namespace object named `name`, and an inventory in which it holds one FlinkDeployment (in scope for the
 * default rbac.lua, as for most policies). */
static int sample_namespace(const char *name, cJSON **ns, cJSON **inventory)
{
    *ns = cJSON_CreateObject();
    *inventory = cJSON_CreateObject();
    cJSON *metadata = cJSON_AddObjectToObject(*ns, "metadata");
    cJSON *fds = cJSON_AddArrayToObject(*inventory, "FlinkDeployment");
    cJSON *fd = cJSON_CreateString(CHECK_NAMESPACE);
    if (!cJSON_AddStringToObject(*ns, "apiVersion", "v1") || !cJSON_AddStringToObject(*ns, "kind", "Namespace") ||
        !metadata || !cJSON_AddStringToObject(metadata, "name", name) || !fds || !fd) {
        cJSON_Delete(fd);
        return -1;
    }
    cJSON_AddItemToArray(fds, fd);
    return 0;
}

/* namespace() for one sample namespace, under the ceiling p uses now; `within` says what that ceiling is. */
static void guardrail_namespace(struct check_tally *t, struct policy *p, cJSON *ctx, const char *name,
                                const char *within)
{
    char err[2048], line[2400];
    struct render_result r;
    cJSON *ns = NULL, *inventory = NULL;
    if (sample_namespace(name, &ns, &inventory) != 0) {
        guardrail_report(t, 0, "out of memory");
    } else if (render_namespace(p, ns, ctx, inventory, &r, err, sizeof err) != 0) {
        guardrail_report(t, 0, err);
    } else {
        snprintf(line, sizeof line, "rbac.lua: namespace(%s): %d objects within %s", name,
                 cJSON_GetArraySize(r.objects), within);
        guardrail_report(t, 1, line);
        render_result_free(&r);
    }
    cJSON_Delete(ns);
    cJSON_Delete(inventory);
}

/* The namespaces namespace() is tried on: the operator's own and, in cluster scope, a sample one; in namespaced
 * scope every watched one; the operator namespace once. */
static void guardrail_each_namespace(struct check_tally *t, struct policy *p, cJSON *ctx,
                                     const struct context_opts *co, const char *within)
{
    guardrail_namespace(t, p, ctx, co->operator_namespace, within);
    if (co->watch_namespaces == NULL)
        guardrail_namespace(t, p, ctx, CHECK_NAMESPACE, within);
    for (size_t i = 0; co->watch_namespaces && i < co->watch_count; i++)
        if (strcmp(co->watch_namespaces[i], co->operator_namespace) != 0)
            guardrail_namespace(t, p, ctx, co->watch_namespaces[i], within);
}

/* The checks the daemon makes on rbac.lua's answers, made once for sample namespaces: operator() must be accepted,
 * and namespace() must stay within the ceiling and, when the ceiling is a file, within what operator() grants the
 * operator too, since the API server refuses the operator a Role beyond its own rights. */
static void check_guardrails(const struct policy_files *files, const struct policy_limits *limits,
                             const struct context_opts *co, const char *rbac_ceiling, struct check_tally *t)
{
    char err[2048], line[2400];
    struct render_result install;
    struct policy *p = policy_load(files, limits, err, sizeof err);
    cJSON *ctx = context_new(co, time(NULL));
    if (p == NULL || ctx == NULL) {
        guardrail_report(t, 0, p ? "out of memory" : err);
        goto out;
    }
    if (render_operator(p, ctx, &install, err, sizeof err) != 0) {
        guardrail_report(t, 0, err);
        goto out;
    }
    snprintf(line, sizeof line, "rbac.lua: operator(): %d install objects accepted",
             cJSON_GetArraySize(install.objects));
    render_result_free(&install);
    guardrail_report(t, 1, line);
    if (rbac_ceiling) {
        if (render_use_ceiling_file(p, rbac_ceiling, err, sizeof err) != 0) {
            guardrail_report(t, 0, err);
            goto out;
        }
        snprintf(line, sizeof line, "the RBAC ceiling (--rbac-ceiling %s)", rbac_ceiling);
        guardrail_each_namespace(t, p, ctx, co, line);
        render_use_ceiling(p, NULL);
    }
    guardrail_each_namespace(t, p, ctx, co, "what operator() grants the operator");
out:
    cJSON_Delete(ctx);
    policy_free(p);
}

int check_run(const char *script_dir, const struct policy_limits *limits, const struct context_opts *ctx,
              const char *rbac_ceiling, FILE *out)
{
    char err[2048];
    struct policy_files files = {0};
    if (policy_files_read_dir(script_dir, &files, err, sizeof err) != 0) {
        fprintf(out, "flinkop: %s\n", err);
        return 2;
    }
    int status = 2;
    struct policy *p = policy_load(&files, limits, err, sizeof err);
    if (p == NULL) {
        fprintf(out, "flinkop: policy refused: %s\n", err);
        goto out;
    }
    policy_free(p);
    struct check_tally tally = {out, 0, 0};
    int failed = policy_run_tests(&files, limits, report_line, &tally, err, sizeof err);
    if (failed < 0) {
        fprintf(out, "flinkop: policy refused: %s\n", err);
        goto out;
    }
    check_guardrails(&files, limits, ctx, rbac_ceiling, &tally);
    failed += tally.failed;
    fprintf(out, "check: %d passed, %d failed\n", tally.passed, failed);
    status = failed ? 1 : 0;
out:
    policy_files_free(&files);
    return status;
}
