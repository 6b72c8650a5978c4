/* The RBAC ceiling: Kubernetes' coverage rules (wildcards, the core group, subresources, resourceNames, non-resource
 * URLs), ceilings from files and from an install, the checks on emitted Roles and RoleBindings, and the refusal a
 * policy author reads, with the line of the policy that made the refused rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "rbac_ceiling.h"
#include "render.h"

/* JSON written with single quotes, so the tests read like the manifests they stand for. */
static cJSON *J(const char *text)
{
    char *s = strdup(text);
    for (char *c = s; *c; c++)
        if (*c == '\'')
            *c = '"';
    cJSON *v = cJSON_Parse(s);
    if (v == NULL)
        fail_msg("bad test JSON: %s", s);
    free(s);
    return v;
}

static struct rbac_ceiling *ceiling(const char *rules)
{
    char err[512];
    cJSON *doc = J(rules);
    struct rbac_ceiling *c = rbac_ceiling_from_json(doc, "test ceiling", err, sizeof err);
    if (c == NULL)
        fail_msg("ceiling: %s", err);
    cJSON_Delete(doc);
    return c;
}

/* rbac_ceiling_covers on a rule written as JSON; *why gets the uncovered tuple. */
static int covers(const struct rbac_ceiling *c, const char *ns, const char *rule, char *why, size_t whylen)
{
    cJSON *r = J(rule);
    why[0] = '\0';
    int rc = rbac_ceiling_covers(c, ns, r, why, whylen);
    cJSON_Delete(r);
    return rc;
}

static void expect_covered(const struct rbac_ceiling *c, const char *rule)
{
    char why[512];
    int rc = covers(c, "ns", rule, why, sizeof why);
    if (rc != 1)
        fail_msg("%s: expected covered, got %d (%s)", rule, rc, why);
}

static void expect_uncovered(const struct rbac_ceiling *c, const char *rule, const char *tuple)
{
    char why[512];
    int rc = covers(c, "ns", rule, why, sizeof why);
    if (rc != 0)
        fail_msg("%s: expected not covered, got %d (%s)", rule, rc, why);
    if (strcmp(why, tuple) != 0)
        fail_msg("%s: uncovered tuple is '%s', expected '%s'", rule, why, tuple);
}

static void test_a_rule_inside_the_ceiling_is_covered_and_a_missing_verb_is_named(void **state)
{
    (void)state;
    struct rbac_ceiling *c = ceiling("[{'apiGroups':[''],'resources':['pods','configmaps'],'verbs':['get','list']}]");
    expect_covered(c, "{'apiGroups':[''],'resources':['pods'],'verbs':['get']}");
    expect_covered(c, "{'apiGroups':[''],'resources':['configmaps','pods'],'verbs':['list','get']}");
    expect_uncovered(c, "{'apiGroups':[''],'resources':['pods'],'verbs':['get','delete']}",
                     "verb \"delete\" on \"pods\" (group \"\")");
    expect_uncovered(c, "{'apiGroups':[''],'resources':['pods','secrets'],'verbs':['get']}",
                     "verb \"get\" on \"secrets\" (group \"\")");
    rbac_ceiling_free(c);
}

static void test_a_star_is_covered_only_by_a_star(void **state)
{
    (void)state;
    struct rbac_ceiling *all_verbs = ceiling("[{'apiGroups':['apps'],'resources':['deployments'],"
                                             "'verbs':['get','list','watch','create','update','patch','delete',"
                                             "'deletecollection']}]");
    expect_uncovered(all_verbs, "{'apiGroups':['apps'],'resources':['deployments'],'verbs':['*']}",
                     "verb \"*\" on \"deployments\" (group \"apps\")");
    rbac_ceiling_free(all_verbs);

    struct rbac_ceiling *star_verb = ceiling("[{'apiGroups':['apps'],'resources':['deployments'],'verbs':['*']}]");
    expect_covered(star_verb, "{'apiGroups':['apps'],'resources':['deployments'],'verbs':['*','escalate','get']}");
    expect_uncovered(star_verb, "{'apiGroups':['apps'],'resources':['*'],'verbs':['get']}",
                     "verb \"get\" on \"*\" (group \"apps\")");
    rbac_ceiling_free(star_verb);

    struct rbac_ceiling *star_resource = ceiling("[{'apiGroups':[''],'resources':['*'],'verbs':['get']}]");
    expect_covered(star_resource, "{'apiGroups':[''],'resources':['*','secrets','pods/log'],'verbs':['get']}");
    expect_uncovered(star_resource, "{'apiGroups':['apps'],'resources':['deployments'],'verbs':['get']}",
                     "verb \"get\" on \"deployments\" (group \"apps\")");
    rbac_ceiling_free(star_resource);
}

static void test_the_core_group_is_one_group_and_star_is_every_group(void **state)
{
    (void)state;
    struct rbac_ceiling *core = ceiling("[{'apiGroups':['','apps'],'resources':['pods'],'verbs':['get']}]");
    expect_uncovered(core, "{'apiGroups':['batch'],'resources':['pods'],'verbs':['get']}",
                     "verb \"get\" on \"pods\" (group \"batch\")");
    expect_uncovered(core, "{'apiGroups':['*'],'resources':['pods'],'verbs':['get']}",
                     "verb \"get\" on \"pods\" (group \"*\")");
    rbac_ceiling_free(core);
    struct rbac_ceiling *any = ceiling("[{'apiGroups':['*'],'resources':['pods'],'verbs':['get']}]");
    expect_covered(any, "{'apiGroups':['','*','batch'],'resources':['pods'],'verbs':['get']}");
    rbac_ceiling_free(any);
}

static void test_a_subresource_is_a_resource_of_its_own(void **state)
{
    (void)state;
    struct rbac_ceiling *c = ceiling("[{'apiGroups':['apps'],'resources':['deployments','*/scale'],"
                                     "'verbs':['update']}]");
    expect_uncovered(c, "{'apiGroups':['apps'],'resources':['deployments/finalizers'],'verbs':['update']}",
                     "verb \"update\" on \"deployments/finalizers\" (group \"apps\")");
    expect_covered(c, "{'apiGroups':['apps'],'resources':['deployments/scale','statefulsets/scale'],"
                      "'verbs':['update']}");
    expect_uncovered(c, "{'apiGroups':['apps'],'resources':['statefulsets'],'verbs':['update']}",
                     "verb \"update\" on \"statefulsets\" (group \"apps\")");
    rbac_ceiling_free(c);
}

static void test_resource_names_in_the_ceiling_restrict(void **state)
{
    (void)state;
    struct rbac_ceiling *named = ceiling("[{'apiGroups':[''],'resources':['configmaps'],'verbs':['get'],"
                                         "'resourceNames':['a','b']}]");
    expect_covered(named, "{'apiGroups':[''],'resources':['configmaps'],'verbs':['get'],'resourceNames':['b']}");
    expect_uncovered(named, "{'apiGroups':[''],'resources':['configmaps'],'verbs':['get'],'resourceNames':['a','c']}",
                     "verb \"get\" on \"configmaps\" named \"c\" (group \"\")");
    expect_uncovered(named, "{'apiGroups':[''],'resources':['configmaps'],'verbs':['get']}",
                     "verb \"get\" on \"configmaps\" (group \"\")");
    rbac_ceiling_free(named);
    struct rbac_ceiling *all = ceiling("[{'apiGroups':[''],'resources':['configmaps'],'verbs':['get']}]");
    expect_covered(all, "{'apiGroups':[''],'resources':['configmaps'],'verbs':['get'],'resourceNames':['x']}");
    rbac_ceiling_free(all);
}

static void test_non_resource_urls_match_exactly_or_by_a_trailing_star(void **state)
{
    (void)state;
    struct rbac_ceiling *c = ceiling("[{'nonResourceURLs':['/metrics','/healthz/*'],'verbs':['get']},"
                                     "{'apiGroups':['*'],'resources':['*'],'verbs':['*']}]");
    expect_covered(c, "{'nonResourceURLs':['/metrics','/healthz/ready','/healthz/'],'verbs':['get']}");
    expect_uncovered(c, "{'nonResourceURLs':['/healthz'],'verbs':['get']}",
                     "verb \"get\" on non-resource URL \"/healthz\"");
    expect_uncovered(c, "{'nonResourceURLs':['/metrics'],'verbs':['post']}",
                     "verb \"post\" on non-resource URL \"/metrics\"");
    expect_uncovered(c, "{'nonResourceURLs':['/*'],'verbs':['get']}", "verb \"get\" on non-resource URL \"/*\"");
    rbac_ceiling_free(c);
}

static void test_a_rule_that_grants_nothing_is_covered_by_an_empty_ceiling(void **state)
{
    (void)state;
    struct rbac_ceiling *c = ceiling("[]");
    expect_covered(c, "{}");
    expect_covered(c, "{'apiGroups':[''],'resources':['secrets'],'verbs':[]}");
    expect_covered(c, "{'apiGroups':[],'resources':['secrets'],'verbs':['get']}");
    expect_uncovered(c, "{'apiGroups':[''],'resources':['pods'],'verbs':['get']}",
                     "verb \"get\" on \"pods\" (group \"\")");
    rbac_ceiling_free(c);
}

static void test_a_rule_that_is_not_a_policy_rule_is_refused(void **state)
{
    (void)state;
    char why[256];
    struct rbac_ceiling *c = ceiling("[{'apiGroups':['*'],'resources':['*'],'verbs':['*']}]");
    assert_int_equal(covers(c, "ns", "{'apiGroups':[''],'resources':['pods'],'verbs':'get'}", why, sizeof why), -1);
    assert_string_equal(why, "verbs must be a list of strings");
    assert_int_equal(covers(c, "ns", "{'apiGroups':[''],'resources':[1],'verbs':['get']}", why, sizeof why), -1);
    assert_string_equal(why, "resources must be a list of strings");
    assert_int_equal(covers(c, "ns", "['get']", why, sizeof why), -1);
    rbac_ceiling_free(c);
}

/* Writes `text` to a new temporary file; returns its path (static buffer). */
static const char *temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/flinkop-ceiling-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_a_ceiling_file_is_a_rule_list_or_a_cluster_role(void **state)
{
    (void)state;
    char err[512], why[256];
    const char *path = temp_file("- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n");
    struct rbac_ceiling *c = rbac_ceiling_load_file(path, err, sizeof err);
    unlink(path);
    assert_non_null(c);
    assert_int_equal(covers(c, "ns", "{'apiGroups':[''],'resources':['pods'],'verbs':['get']}", why, sizeof why), 1);
    rbac_ceiling_free(c);

    path = temp_file("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: ceiling\n"
                     "rules:\n- apiGroups: [apps]\n  resources: [deployments]\n  verbs: [get]\n");
    c = rbac_ceiling_load_file(path, err, sizeof err);
    unlink(path);
    assert_non_null(c);
    assert_int_equal(covers(c, "ns", "{'apiGroups':['apps'],'resources':['deployments'],'verbs':['get']}", why,
                            sizeof why),
                     1);
    rbac_ceiling_free(c);

    path = temp_file("kind: ClusterRole\nmetadata:\n  name: nothing\n");
    assert_null(rbac_ceiling_load_file(path, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "expected a list of PolicyRules or a ClusterRole with rules"));
    unlink(path);

    path = temp_file("- apiGroups: [\"\"]\n  resources: pods\n  verbs: [get]\n");
    assert_null(rbac_ceiling_load_file(path, err, sizeof err));
    assert_non_null(strstr(err, "rule 1: resources must be a list of strings"));
    unlink(path);
}

static const char *const INSTALL =
    "[{'apiVersion':'v1','kind':'ServiceAccount','metadata':{'name':'op','namespace':'home'}},"
    " {'apiVersion':'rbac.authorization.k8s.io/v1','kind':'Role','metadata':{'name':'op','namespace':'a'},"
    "  'rules':[{'apiGroups':[''],'resources':['pods'],'verbs':['get']}]},"
    " {'apiVersion':'rbac.authorization.k8s.io/v1','kind':'RoleBinding','metadata':{'name':'op','namespace':'a'},"
    "  'roleRef':{'apiGroup':'rbac.authorization.k8s.io','kind':'Role','name':'op'},"
    "  'subjects':[{'kind':'ServiceAccount','name':'op','namespace':'home'}]},"
    " {'apiVersion':'rbac.authorization.k8s.io/v1','kind':'ClusterRole','metadata':{'name':'leases'},"
    "  'rules':[{'apiGroups':['coordination.k8s.io'],'resources':['leases'],'verbs':['get']}]},"
    " {'apiVersion':'rbac.authorization.k8s.io/v1','kind':'ClusterRoleBinding','metadata':{'name':'leases'},"
    "  'roleRef':{'apiGroup':'rbac.authorization.k8s.io','kind':'ClusterRole','name':'leases'},"
    "  'subjects':[{'kind':'ServiceAccount','name':'op','namespace':'home'}]},"
    " {'apiVersion':'rbac.authorization.k8s.io/v1','kind':'ClusterRole','metadata':{'name':'other'},"
    "  'rules':[{'apiGroups':['*'],'resources':['*'],'verbs':['*']}]},"
    " {'apiVersion':'rbac.authorization.k8s.io/v1','kind':'ClusterRoleBinding','metadata':{'name':'other'},"
    "  'roleRef':{'apiGroup':'rbac.authorization.k8s.io','kind':'ClusterRole','name':'other'},"
    "  'subjects':[{'kind':'ServiceAccount','name':'someone-else','namespace':'home'}]}]";

static void test_an_install_grants_the_operator_what_is_bound_to_it_where_it_is_bound(void **state)
{
    (void)state;
    char err[512], why[256];
    cJSON *objects = J(INSTALL);
    struct rbac_ceiling *c = rbac_ceiling_from_install(objects, "install", err, sizeof err);
    cJSON_Delete(objects);
    assert_non_null(c);
    const char *pods = "{'apiGroups':[''],'resources':['pods'],'verbs':['get']}";
    const char *leases = "{'apiGroups':['coordination.k8s.io'],'resources':['leases'],'verbs':['get']}";
    assert_int_equal(covers(c, "a", pods, why, sizeof why), 1);
    assert_int_equal(covers(c, "b", pods, why, sizeof why), 0);
    assert_int_equal(covers(c, "a", leases, why, sizeof why), 1);
    assert_int_equal(covers(c, "b", leases, why, sizeof why), 1);
    /* "other" is bound to another account: its `*` is not the operator's. */
    assert_int_equal(covers(c, "a", "{'apiGroups':[''],'resources':['secrets'],'verbs':['get']}", why, sizeof why),
                     0);
    rbac_ceiling_free(c);
}

/* rbac_ceiling_check_object on the object at `index` of `answer`; returns the finding's reason ("" when it passes). */
static const char *check(const struct rbac_ceiling *c, const char *answer, int index, char *path)
{
    static struct rbac_finding f;
    cJSON *list = J(answer);
    int rc = rbac_ceiling_check_object(c, cJSON_GetArrayItem(list, index), list, &f);
    cJSON_Delete(list);
    if (path)
        strcpy(path, f.path);
    return rc == 0 ? "" : f.why;
}

#define ROLE_FLINK                                                                                                    \
    "{'kind':'Role','metadata':{'name':'flink','namespace':'t'},"                                                     \
    "'rules':[{'apiGroups':[''],'resources':['pods'],'verbs':['get']}]}"
#define BINDING(kind, name)                                                                                           \
    "{'kind':'RoleBinding','metadata':{'name':'b','namespace':'t'},"                                                  \
    "'roleRef':{'apiGroup':'rbac.authorization.k8s.io','kind':'" kind "','name':'" name "'},"                        \
    "'subjects':[{'kind':'Group','name':'team'}]}"

static void test_a_role_binding_binds_a_role_of_the_answer_or_what_the_ceiling_lets_it_bind(void **state)
{
    (void)state;
    char path[32];
    struct rbac_ceiling *plain = ceiling("[{'apiGroups':[''],'resources':['pods'],'verbs':['get']}]");
    assert_string_equal(check(plain, "[" ROLE_FLINK "," BINDING("Role", "flink") "]", 1, NULL), "");
    assert_string_equal(check(plain, "[" BINDING("ClusterRole", "view") "]", 0, path),
                        "RoleBinding t/b binds ClusterRole view, which this answer does not define; binding it needs "
                        "verb \"bind\" on \"clusterroles\" named \"view\" (group \"rbac.authorization.k8s.io\") in "
                        "the RBAC ceiling (test ceiling)");
    assert_string_equal(path, "roleRef");
    assert_non_null(strstr(check(plain, "[" BINDING("Role", "admins") "]", 0, NULL), "\"bind\" on \"roles\""));
    rbac_ceiling_free(plain);

    struct rbac_ceiling *view = ceiling("[{'apiGroups':['rbac.authorization.k8s.io'],'resources':['clusterroles'],"
                                        "'verbs':['bind'],'resourceNames':['view']}]");
    assert_string_equal(check(view, "[" BINDING("ClusterRole", "view") "]", 0, NULL), "");
    assert_string_not_equal(check(view, "[" BINDING("ClusterRole", "edit") "]", 0, NULL), "");
    rbac_ceiling_free(view);
}

static void test_a_role_beyond_the_ceiling_names_the_rule_and_a_star(void **state)
{
    (void)state;
    char path[32];
    struct rbac_ceiling *c = ceiling("[{'apiGroups':[''],'resources':['pods'],'verbs':['get','list']}]");
    assert_string_equal(check(c,
                              "[{'kind':'Role','metadata':{'name':'flink','namespace':'t'},'rules':["
                              "{'apiGroups':[''],'resources':['pods'],'verbs':['get']},"
                              "{'apiGroups':[''],'resources':['pods'],'verbs':['*']}]}]",
                              0, path),
                        "Role t/flink rule 2: verb \"*\" on \"pods\" (group \"\") is beyond the RBAC ceiling (test "
                        "ceiling); only a \"*\" in the ceiling covers a \"*\"");
    assert_string_equal(path, "rules.2");
    rbac_ceiling_free(c);
}

/* ---- through render: the policy line in the refusal ---- */

#define RBAC_HEAD                                                                                                     \
    "local M = {}\n"                                                                      /* 1 */                     \
    "local function rule(groups, resources, verbs)\n"                                     /* 2 */                     \
    "  return { apiGroups = groups, resources = resources, verbs = verbs }\n"            /* 3 */                     \
    "end\n"                                                                               /* 4 */                     \
    "local function role(ns, rules)\n"                                                    /* 5 */                     \
    "  return { apiVersion = 'rbac.authorization.k8s.io/v1', kind = 'Role',\n"            /* 6 */                     \
    "           metadata = { name = 'flink', namespace = ns }, rules = rules }\n"         /* 7 */                     \
    "end\n"                                                                               /* 8 */                     \
    "function M.operator(ctx)\n"                                                          /* 9 */                     \
    "  return {\n"                                                                        /* 10 */                    \
    "    { apiVersion = 'v1', kind = 'ServiceAccount', metadata = { name = 'op', namespace = 'op' } },\n" /* 11 */     \
    "    { apiVersion = 'rbac.authorization.k8s.io/v1', kind = 'ClusterRole', metadata = { name = 'op' },\n" /* 12 */  \
    "      rules = { rule({ '' }, { 'pods' }, { 'get', 'list' }) } },\n"                   /* 13 */                    \
    "    { apiVersion = 'rbac.authorization.k8s.io/v1', kind = 'ClusterRoleBinding', metadata = { name = 'op' },\n"   \
    "      roleRef = { apiGroup = 'rbac.authorization.k8s.io', kind = 'ClusterRole', name = 'op' },\n" /* 15 */       \
    "      subjects = { { kind = 'ServiceAccount', name = 'op', namespace = 'op' } } },\n" /* 16 */                    \
    "  }\n"                                                                               /* 17 */                    \
    "end\n"                                                                               /* 18 */

static struct policy *load(const char *rbac, const char *reconcile)
{
    struct policy_files set = {0};
    char err[2048];
    assert_int_equal(policy_files_add(&set, "rbac.lua", rbac, strlen(rbac), err, sizeof err), 0);
    assert_int_equal(policy_files_add(&set, "reconcile.lua", reconcile, strlen(reconcile), err, sizeof err), 0);
    struct policy *p = policy_load(&set, NULL, err, sizeof err);
    policy_files_free(&set);
    if (p == NULL)
        fail_msg("policy_load: %s", err);
    return p;
}

/* render_namespace for namespace `name`; returns 0 or -1 with the message in err. */
static int render_ns(struct policy *p, const char *name, char *err, size_t errlen)
{
    struct render_result r;
    char text[256];
    snprintf(text, sizeof text, "{'kind':'Namespace','metadata':{'name':'%s'}}", name);
    cJSON *ns = J(text), *ctx = J("{'operator_namespace':'op'}"), *inv = J("{}");
    int rc = render_namespace(p, ns, ctx, inv, &r, err, errlen);
    if (rc == 0)
        render_result_free(&r);
    cJSON_Delete(ns);
    cJSON_Delete(ctx);
    cJSON_Delete(inv);
    return rc;
}

static const char *const RECONCILE_NONE = "return { reconcile = function() return { objects = {} } end }\n";

static void test_a_rule_beyond_the_operators_rules_is_refused_at_the_line_that_built_it(void **state)
{
    (void)state;
    char err[2048];
    struct policy *p = load(RBAC_HEAD "function M.namespace(ns, ctx)\n" /* 19 */
                                      "  return { role(ns.metadata.name, {\n" /* 20 */
                                      "    rule({ '' }, { 'pods' }, { 'list' }),\n" /* 21 */
                                      "    rule({ '' }, { 'secrets' }, { 'get' }),\n" /* 22 */
                                      "  }) }\n"
                                      "end\n"
                                      "return M\n",
                            RECONCILE_NONE);
    assert_int_equal(render_ns(p, "team-a", err, sizeof err), -1);
    assert_string_equal(err, "rbac.lua:22: namespace(team-a): refused: Role team-a/flink rule 2: verb \"get\" on "
                             "\"secrets\" (group \"\") is beyond the RBAC ceiling (the operator's own rules, from "
                             "rbac.lua operator())");
    policy_free(p);
}

static void test_a_rule_written_inline_names_the_line_that_received_its_list(void **state)
{
    (void)state;
    char err[2048];
    struct policy *p = load(RBAC_HEAD "local function job_rules()\n" /* 19 */
                                      "  return {\n" /* 20 */
                                      "    { apiGroups = { '' }, resources = { 'pods' }, verbs = { '*' } },\n" /* 21 */
                                      "  }\n" /* 22 */
                                      "end\n" /* 23 */
                                      "function M.namespace(ns, ctx)\n" /* 24 */
                                      "  local rules = job_rules()\n" /* 25 */
                                      "  return { role(ns.metadata.name, rules) }\n" /* 26 */
                                      "end\n"
                                      "return M\n",
                            RECONCILE_NONE);
    assert_int_equal(render_ns(p, "t", err, sizeof err), -1);
    assert_true(strncmp(err, "rbac.lua:25: namespace(t): refused: Role t/flink rule 1: verb \"*\" on \"pods\"",
                        strlen("rbac.lua:25: namespace(t): refused: Role t/flink rule 1: verb \"*\" on \"pods\"")) ==
                0);
    policy_free(p);
}

static void test_a_policy_that_answers_differently_when_asked_again_gets_no_line(void **state)
{
    (void)state;
    char err[2048];
    struct policy *p = load(RBAC_HEAD "local calls = 0\n" /* 19 */
                                      "function M.namespace(ns, ctx)\n"
                                      "  calls = calls + 1\n"
                                      "  return { role(ns.metadata.name, { rule({ '' }, { 'secrets' }, { 'get', "
                                      "tostring(calls) }) }) }\n"
                                      "end\n"
                                      "return M\n",
                            RECONCILE_NONE);
    assert_int_equal(render_ns(p, "t", err, sizeof err), -1);
    assert_true(strncmp(err, "rbac.lua: namespace(t): refused: Role t/flink rule 1: verb \"get\" on \"secrets\"",
                        strlen("rbac.lua: namespace(t): refused: Role t/flink rule 1")) == 0);
    policy_free(p);
}

static void test_a_role_in_another_namespace_is_refused_at_the_line_that_made_it(void **state)
{
    (void)state;
    char err[2048];
    struct policy *p = load(RBAC_HEAD "function M.namespace(ns, ctx)\n"            /* 19 */
                                      "  local ok = role(ns.metadata.name, {})\n"  /* 20 */
                                      "  local other = role('kube-system', {})\n" /* 21 */
                                      "  return { ok, other }\n"
                                      "end\n"
                                      "return M\n",
                            RECONCILE_NONE);
    assert_int_equal(render_ns(p, "t", err, sizeof err), -1);
    assert_string_equal(err, "rbac.lua:21: namespace(t): refused: Role kube-system/flink is in namespace "
                             "kube-system; this policy call may only emit objects in t");
    policy_free(p);
}

static void test_a_file_ceiling_replaces_the_operators_rules(void **state)
{
    (void)state;
    char err[2048];
    struct policy *p = load(RBAC_HEAD "function M.namespace(ns, ctx)\n"
                                      "  return { role(ns.metadata.name, { rule({ '' }, { 'pods' }, { 'get' }) }) }\n"
                                      "end\n"
                                      "return M\n",
                            RECONCILE_NONE);
    assert_int_equal(render_ns(p, "t", err, sizeof err), 0);
    render_use_ceiling(p, ceiling("[{'apiGroups':[''],'resources':['configmaps'],'verbs':['get']}]"));
    assert_int_equal(render_ns(p, "t", err, sizeof err), -1);
    assert_non_null(strstr(err, "rbac.lua:20: namespace(t): refused: Role t/flink rule 1: verb \"get\" on \"pods\""));
    assert_non_null(strstr(err, "(test ceiling)"));
    render_use_ceiling(p, NULL);
    assert_int_equal(render_ns(p, "t", err, sizeof err), 0);
    policy_free(p);
}

static void test_a_role_from_reconcile_is_held_to_the_ceiling_too(void **state)
{
    (void)state;
    char err[2048];
    struct render_result r;
    struct policy *p = load(RBAC_HEAD "function M.namespace() return {} end\nreturn M\n",
                            "local function extra_role(ns)\n" /* 1 */
                            "  return { apiVersion = 'rbac.authorization.k8s.io/v1', kind = 'Role',\n"
                            "           metadata = { name = 'extra', namespace = ns },\n"
                            "           rules = { { apiGroups = { '' }, resources = { 'pods' },\n"
                            "                       verbs = { 'watch' } } } }\n"
                            "end\n"
                            "return { reconcile = function(resource, observed, ctx)\n" /* 7 */
                            "  return { objects = { extra_role(resource.metadata.namespace) } }\n" /* 8 */
                            "end }\n");
    cJSON *fd = J("{'apiVersion':'flink.apache.org/v1beta1','kind':'FlinkDeployment',"
                  "'metadata':{'name':'x','namespace':'t'}}");
    cJSON *observed = J("{'objects':{}}"), *ctx = J("{'operator_namespace':'op'}");
    assert_int_equal(render_resource(p, fd, observed, ctx, &r, err, sizeof err), -1);
    assert_string_equal(err, "reconcile.lua:8: reconcile(FlinkDeployment/t/x): refused: Role t/extra rule 1: verb "
                             "\"watch\" on \"pods\" (group \"\") is beyond the RBAC ceiling (the operator's own rules, "
                             "from rbac.lua operator())");
    cJSON_Delete(fd);
    cJSON_Delete(observed);
    cJSON_Delete(ctx);
    policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_rule_inside_the_ceiling_is_covered_and_a_missing_verb_is_named),
        cmocka_unit_test(test_a_star_is_covered_only_by_a_star),
        cmocka_unit_test(test_the_core_group_is_one_group_and_star_is_every_group),
        cmocka_unit_test(test_a_subresource_is_a_resource_of_its_own),
        cmocka_unit_test(test_resource_names_in_the_ceiling_restrict),
        cmocka_unit_test(test_non_resource_urls_match_exactly_or_by_a_trailing_star),
        cmocka_unit_test(test_a_rule_that_grants_nothing_is_covered_by_an_empty_ceiling),
        cmocka_unit_test(test_a_rule_that_is_not_a_policy_rule_is_refused),
        cmocka_unit_test(test_a_ceiling_file_is_a_rule_list_or_a_cluster_role),
        cmocka_unit_test(test_an_install_grants_the_operator_what_is_bound_to_it_where_it_is_bound),
        cmocka_unit_test(test_a_role_binding_binds_a_role_of_the_answer_or_what_the_ceiling_lets_it_bind),
        cmocka_unit_test(test_a_role_beyond_the_ceiling_names_the_rule_and_a_star),
        cmocka_unit_test(test_a_rule_beyond_the_operators_rules_is_refused_at_the_line_that_built_it),
        cmocka_unit_test(test_a_rule_written_inline_names_the_line_that_received_its_list),
        cmocka_unit_test(test_a_policy_that_answers_differently_when_asked_again_gets_no_line),
        cmocka_unit_test(test_a_role_in_another_namespace_is_refused_at_the_line_that_made_it),
        cmocka_unit_test(test_a_file_ceiling_replaces_the_operators_rules),
        cmocka_unit_test(test_a_role_from_reconcile_is_held_to_the_ceiling_too),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
