/* What an access check asks: the tuples RBAC rules stand for, whether rules cover a tuple as the API server's RBAC
 * authorizer decides, which bindings reach a ServiceAccount, and the SubjectAccessReview requests themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "access_review.h"

static cJSON *parse(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    assert_non_null(v);
    return v;
}

static struct access_tuple tuple(const char *group, const char *resource, const char *verb, const char *name)
{
    struct access_tuple t;
    snprintf(t.group, sizeof t.group, "%s", group);
    snprintf(t.resource, sizeof t.resource, "%s", resource);
    snprintf(t.verb, sizeof t.verb, "%s", verb);
    snprintf(t.name, sizeof t.name, "%s", name);
    return t;
}

static void test_rules_expand_to_every_group_resource_verb_once(void **state)
{
    (void)state;
    cJSON *rules = parse("[{\"apiGroups\":[\"\"],\"resources\":[\"pods\",\"configmaps\"],"
                         "\"verbs\":[\"get\",\"create\"]},"
                         "{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"get\"]},"
                         "{\"nonResourceURLs\":[\"/healthz\"],\"verbs\":[\"get\"]},"
                         "{\"apiGroups\":[\"apps\"],\"resources\":[\"deployments/finalizers\"],\"verbs\":[\"update\"],"
                         "\"resourceNames\":[\"a\",\"b\"]}]");
    struct access_tuples ts = {0};
    char buf[600];
    assert_int_equal(access_tuples_add_rules(&ts, rules), 0);
    assert_int_equal(ts.count, 6);
    assert_string_equal(access_tuple_resource(&ts.items[0], buf, sizeof buf), "pods");
    assert_string_equal(ts.items[1].verb, "create");
    assert_string_equal(access_tuple_resource(&ts.items[2], buf, sizeof buf), "configmaps");
    assert_string_equal(access_tuple_resource(&ts.items[4], buf, sizeof buf), "deployments.apps/finalizers[a]");
    struct access_tuple t = tuple("apps", "deployments/finalizers", "update", "b");
    assert_int_equal(access_tuples_find(&ts, &t), 5);
    access_tuples_free(&ts);
    cJSON_Delete(rules);
}

static void test_rules_cover_as_the_rbac_authorizer_matches(void **state)
{
    (void)state;
    cJSON *rules = parse("[{\"apiGroups\":[\"\"],\"resources\":[\"pods\"],\"verbs\":[\"get\"]},"
                         "{\"apiGroups\":[\"apps\"],\"resources\":[\"*/scale\"],\"verbs\":[\"*\"]},"
                         "{\"apiGroups\":[\"\"],\"resources\":[\"secrets\"],\"verbs\":[\"get\"],"
                         "\"resourceNames\":[\"s\"]}]");
    struct access_tuple yes[] = {tuple("", "pods", "get", ""), tuple("apps", "deployments/scale", "patch", ""),
                                 tuple("apps", "deployments/scale", "*", ""), tuple("", "secrets", "get", "s")};
    struct access_tuple no[] = {tuple("", "pods", "create", ""), tuple("", "pods", "*", ""),
                                tuple("apps", "deployments", "get", ""), tuple("", "pods/log", "get", ""),
                                tuple("", "secrets", "get", ""), tuple("", "secrets", "get", "other"),
                                tuple("*", "*", "*", "")};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        assert_true(access_rules_cover(rules, &yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        assert_false(access_rules_cover(rules, &no[i]));
    assert_true(access_rules_have_wildcard(rules));
    assert_true(access_tuple_has_wildcard(&yes[2]));
    assert_false(access_tuple_has_wildcard(&yes[1]));
    cJSON_Delete(rules);
}

static void test_bindings_reach_an_account_directly_or_through_its_groups(void **state)
{
    (void)state;
    cJSON *direct = parse("{\"kind\":\"RoleBinding\",\"metadata\":{\"name\":\"b\",\"namespace\":\"team\"},"
                          "\"subjects\":[{\"kind\":\"ServiceAccount\",\"name\":\"flink\"}]}");
    cJSON *user = parse("{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"c\"},"
                        "\"subjects\":[{\"kind\":\"User\",\"name\":\"system:serviceaccount:team:flink\"}]}");
    cJSON *group = parse("{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"g\"},"
                         "\"subjects\":[{\"kind\":\"Group\",\"name\":\"system:serviceaccounts:team\"}]}");
    cJSON *other = parse("{\"kind\":\"ClusterRoleBinding\",\"metadata\":{\"name\":\"o\"},"
                         "\"subjects\":[{\"kind\":\"Group\",\"name\":\"system:serviceaccounts:teamx\"},"
                         "{\"kind\":\"User\",\"name\":\"system:serviceaccount:team:flinkx\"},"
                         "{\"kind\":\"ServiceAccount\",\"name\":\"flink\",\"namespace\":\"elsewhere\"}]}");
    assert_true(access_binding_covers(direct, "team", "flink"));
    assert_false(access_binding_covers(direct, "other", "flink"));
    assert_true(access_binding_covers(user, "team", "flink"));
    assert_true(access_binding_covers(group, "team", "flink"));
    assert_false(access_binding_covers(other, "team", "flink"));
    const char *ns, *name;
    assert_true(access_subject_account(cJSON_GetArrayItem(cJSON_GetObjectItem(direct, "subjects"), 0), direct, &ns,
                                       &name));
    assert_string_equal(ns, "team");
    assert_string_equal(name, "flink");
    cJSON_Delete(direct);
    cJSON_Delete(user);
    cJSON_Delete(group);
    cJSON_Delete(other);
}

static void test_binding_role_is_found_in_its_namespace_or_cluster_wide(void **state)
{
    (void)state;
    cJSON *objects = parse("[{\"kind\":\"Role\",\"metadata\":{\"name\":\"flink\",\"namespace\":\"a\"}},"
                           "{\"kind\":\"Role\",\"metadata\":{\"name\":\"flink\",\"namespace\":\"b\"}},"
                           "{\"kind\":\"ClusterRole\",\"metadata\":{\"name\":\"flink\"}}]");
    cJSON *rb = parse("{\"kind\":\"RoleBinding\",\"metadata\":{\"name\":\"x\",\"namespace\":\"b\"},"
                      "\"roleRef\":{\"kind\":\"Role\",\"name\":\"flink\"}}");
    cJSON *crb = parse("{\"kind\":\"RoleBinding\",\"metadata\":{\"name\":\"x\",\"namespace\":\"c\"},"
                       "\"roleRef\":{\"kind\":\"ClusterRole\",\"name\":\"flink\"}}");
    cJSON *missing = parse("{\"kind\":\"RoleBinding\",\"metadata\":{\"name\":\"x\",\"namespace\":\"c\"},"
                           "\"roleRef\":{\"kind\":\"Role\",\"name\":\"flink\"}}");
    assert_ptr_equal(access_binding_role(objects, rb), cJSON_GetArrayItem(objects, 1));
    assert_ptr_equal(access_binding_role(objects, crb), cJSON_GetArrayItem(objects, 2));
    assert_null(access_binding_role(objects, missing));
    cJSON_Delete(objects);
    cJSON_Delete(rb);
    cJSON_Delete(crb);
    cJSON_Delete(missing);
}

static void test_review_asks_as_the_account_with_its_groups(void **state)
{
    (void)state;
    char path[256];
    struct access_tuple t = tuple("apps", "deployments/finalizers", "update", "");
    char *local = access_review_body("team", "team", "flink", &t);
    char *cluster = access_review_body(NULL, "op", "flink-operator", &t);
    assert_non_null(local);
    assert_non_null(cluster);
    assert_string_equal(local,
                        "{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"LocalSubjectAccessReview\","
                        "\"metadata\":{\"namespace\":\"team\"},\"spec\":{\"groups\":[\"system:serviceaccounts\","
                        "\"system:serviceaccounts:team\",\"system:authenticated\"],\"resourceAttributes\":{"
                        "\"group\":\"apps\",\"namespace\":\"team\",\"resource\":\"deployments\",\"subresource\":"
                        "\"finalizers\",\"verb\":\"update\"},\"user\":\"system:serviceaccount:team:flink\"}}");
    assert_non_null(strstr(cluster, "\"kind\":\"SubjectAccessReview\",\"metadata\":{}"));
    assert_null(strstr(cluster, "\"namespace\""));
    assert_int_equal(access_review_path("team", path, sizeof path), 0);
    assert_string_equal(path, "/apis/authorization.k8s.io/v1/namespaces/team/localsubjectaccessreviews");
    assert_int_equal(access_review_path(NULL, path, sizeof path), 0);
    assert_string_equal(path, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
    free(local);
    free(cluster);
}

static void test_review_answer_is_allowed_denied_or_unreadable(void **state)
{
    (void)state;
    cJSON *yes = parse("{\"status\":{\"allowed\":true,\"reason\":\"RBAC: allowed\"}}");
    cJSON *no = parse("{\"status\":{\"allowed\":false}}");
    cJSON *bad = parse("{\"kind\":\"Status\",\"code\":403}");
    assert_int_equal(access_review_allowed(yes), 1);
    assert_int_equal(access_review_allowed(no), 0);
    assert_int_equal(access_review_allowed(bad), -1);
    assert_int_equal(access_review_allowed(NULL), -1);
    cJSON_Delete(yes);
    cJSON_Delete(no);
    cJSON_Delete(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_expand_to_every_group_resource_verb_once),
        cmocka_unit_test(test_rules_cover_as_the_rbac_authorizer_matches),
        cmocka_unit_test(test_bindings_reach_an_account_directly_or_through_its_groups),
        cmocka_unit_test(test_binding_role_is_found_in_its_namespace_or_cluster_wide),
        cmocka_unit_test(test_review_asks_as_the_account_with_its_groups),
        cmocka_unit_test(test_review_answer_is_allowed_denied_or_unreadable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
