/* The informer cache and the no-write comparison: what decides whether the operator touches the API server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cache.h"
#include "diff.h"
#include "kinds.h"
#include "strmap.h"

static cJSON *parse(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    assert_non_null(v);
    return v;
}

static cJSON *configmap(const char *ns, const char *name, const char *value)
{
    char text[256];
    snprintf(text, sizeof text, "{\"kind\":\"ConfigMap\",\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\"},"
                                "\"data\":{\"k\":\"%s\"}}", ns, name, value);
    return parse(text);
}

static void test_cache_keeps_latest_object_per_namespace_and_name(void **state)
{
    (void)state;
    struct cache *c = cache_new();
    assert_int_equal(cache_put(c, configmap("a", "x", "1")), 0);
    assert_int_equal(cache_put(c, configmap("b", "x", "2")), 0);
    assert_int_equal(cache_put(c, configmap("a", "x", "3")), 0);
    assert_int_equal(cache_count(c), 2);
    const cJSON *got = cache_get(c, "a", "x");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(got, "data"), "k")->valuestring, "3");
    cache_remove(c, "a", "x");
    assert_null(cache_get(c, "a", "x"));
    assert_non_null(cache_get(c, "b", "x"));
    cache_free(c);
}

static void count_gone(void *ud, const cJSON *obj)
{
    (void)obj;
    (*(int *)ud)++;
}

static void test_relist_reports_objects_deleted_during_a_watch_gap(void **state)
{
    (void)state;
    struct cache *c = cache_new();
    cache_put(c, configmap("a", "kept", "1"));
    cache_put(c, configmap("a", "deleted-while-away", "1"));
    cJSON *items = cJSON_CreateArray();
    cJSON_AddItemToArray(items, configmap("a", "kept", "2"));
    cJSON_AddItemToArray(items, configmap("a", "new", "1"));
    int gone = 0;
    assert_int_equal(cache_replace(c, items, count_gone, &gone), 0);
    assert_int_equal(gone, 1);
    assert_int_equal(cache_count(c), 2);
    assert_null(cache_get(c, "a", "deleted-while-away"));
    assert_non_null(cache_get(c, "a", "new"));
    cJSON_Delete(items);
    cache_free(c);
}

static void test_strmap_survives_growth(void **state)
{
    (void)state;
    struct strmap *m = strmap_new();
    char key[32];
    int failed;
    static int values[1000];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_null(strmap_put(m, key, &values[i], &failed));
        assert_false(failed);
    }
    assert_int_equal(strmap_count(m), 1000);
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_ptr_equal(strmap_get(m, key), &values[i]);
    }
    assert_ptr_equal(strmap_remove(m, "k7"), &values[7]);
    assert_null(strmap_get(m, "k7"));
    strmap_free(m, NULL);
}

static void test_server_defaults_do_not_count_as_a_difference(void **state)
{
    (void)state;
    cJSON *desired = parse("{\"spec\":{\"replicas\":1,\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}}}");
    cJSON *live = parse("{\"metadata\":{\"uid\":\"u\"},\"spec\":{\"replicas\":1,\"revisionHistoryLimit\":10,"
                        "\"template\":{\"spec\":{\"containers\":[{\"name\":\"c\",\"terminationMessagePath\":\"/x\"}]}}}}");
    assert_true(diff_satisfied(desired, live));
    cJSON_Delete(desired);
    cJSON_Delete(live);
}

static void test_a_changed_field_is_named_by_its_path(void **state)
{
    (void)state;
    char path[128];
    cJSON *desired = parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"flink:2.2\"}]}}}}");
    cJSON *live = parse("{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"image\":\"flink:1.20\"}]}}}}");
    assert_false(diff_satisfied(desired, live));
    assert_int_equal(diff_first(desired, live, path, sizeof path), 1);
    assert_string_equal(path, "spec.template.spec.containers[0].image");
    cJSON_Delete(desired);
    cJSON_Delete(live);
}

static void test_a_list_of_another_length_differs(void **state)
{
    (void)state;
    cJSON *desired = parse("{\"rules\":[{\"verbs\":[\"get\"]}]}");
    cJSON *live = parse("{\"rules\":[{\"verbs\":[\"get\"]},{\"verbs\":[\"list\"]}]}");
    assert_false(diff_satisfied(desired, live));
    cJSON_Delete(desired);
    cJSON_Delete(live);
}

static void test_canonical_quantities_are_not_a_difference(void **state)
{
    (void)state;
    cJSON *desired = parse("{\"resources\":{\"limits\":{\"memory\":\"2048Mi\",\"cpu\":\"1000m\"}}}");
    cJSON *live = parse("{\"resources\":{\"limits\":{\"memory\":\"2Gi\",\"cpu\":\"1\"}}}");
    assert_true(diff_satisfied(desired, live));
    cJSON *bigger = parse("{\"resources\":{\"limits\":{\"memory\":\"3Gi\",\"cpu\":\"1\"}}}");
    assert_false(diff_satisfied(desired, bigger));
    /* Outside resource maps a string is a string: "1.0" is not "1". */
    cJSON *tag = parse("{\"version\":\"1.0\"}"), *tag_live = parse("{\"version\":\"1\"}");
    assert_false(diff_satisfied(tag, tag_live));
    cJSON_Delete(desired);
    cJSON_Delete(live);
    cJSON_Delete(bigger);
    cJSON_Delete(tag);
    cJSON_Delete(tag_live);
}

static void test_paths_reach_core_and_group_kinds(void **state)
{
    (void)state;
    char buf[256];
    assert_int_equal(kind_path(kind_lookup("Deployment"), "ns", "x", buf, sizeof buf), 0);
    assert_string_equal(buf, "/apis/apps/v1/namespaces/ns/deployments/x");
    assert_int_equal(kind_path(kind_lookup("ConfigMap"), NULL, NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "/api/v1/configmaps");
    assert_int_equal(kind_path(kind_lookup("Namespace"), "ignored", "team-a", buf, sizeof buf), 0);
    assert_string_equal(buf, "/api/v1/namespaces/team-a");
    assert_int_equal(kind_path(kind_lookup("FlinkDeployment"), "ns", NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "/apis/flink.apache.org/v1beta1/namespaces/ns/flinkdeployments");
    assert_null(kind_lookup("NoSuchKind"));
}

struct collected {
    char lines[512];
};

static void collect(void *ud, const char *path, const cJSON *desired, const cJSON *live)
{
    struct collected *c = ud;
    size_t n = strlen(c->lines);
    snprintf(c->lines + n, sizeof c->lines - n, "%s%s:%s;", path, live ? "~" : "+",
             cJSON_IsString(desired) ? desired->valuestring : "?");
}

static void test_an_empty_list_the_server_omitted_is_not_a_difference(void **state)
{
    (void)state;
    cJSON *desired = parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"env\":[],\"securityContext\":{}}]}}");
    cJSON *live = parse("{\"spec\":{\"containers\":[{\"name\":\"c\"}]}}");
    cJSON *full = parse("{\"spec\":{\"containers\":[{\"name\":\"c\",\"env\":[{\"name\":\"A\"}]}]}}");
    assert_true(diff_satisfied(desired, live));
    assert_false(diff_satisfied(desired, full)); /* live holds env entries the policy no longer wants */
    cJSON_Delete(desired);
    cJSON_Delete(live);
    cJSON_Delete(full);
}

static void test_every_difference_is_reported_with_its_path(void **state)
{
    (void)state;
    cJSON *desired = parse("{\"metadata\":{\"labels\":{\"a\":\"1\",\"b\":\"2\"}},"
                           "\"spec\":{\"image\":\"x:2\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}}");
    cJSON *live = parse("{\"metadata\":{\"labels\":{\"a\":\"1\"}},"
                        "\"spec\":{\"image\":\"x:1\",\"resources\":{\"limits\":{\"memory\":\"1024Mi\"}}}}");
    struct collected c = {""};
    assert_int_equal(diff_each(desired, live, collect, &c), 2);
    assert_string_equal(c.lines, "metadata.labels.b+:2;spec.image~:x:2;");
    c.lines[0] = '\0';
    assert_int_equal(diff_each(desired, desired, collect, &c), 0);
    assert_string_equal(c.lines, "");
    cJSON_Delete(desired);
    cJSON_Delete(live);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_keeps_latest_object_per_namespace_and_name),
        cmocka_unit_test(test_relist_reports_objects_deleted_during_a_watch_gap),
        cmocka_unit_test(test_strmap_survives_growth),
        cmocka_unit_test(test_server_defaults_do_not_count_as_a_difference),
        cmocka_unit_test(test_a_changed_field_is_named_by_its_path),
        cmocka_unit_test(test_a_list_of_another_length_differs),
        cmocka_unit_test(test_canonical_quantities_are_not_a_difference),
        cmocka_unit_test(test_paths_reach_core_and_group_kinds),
        cmocka_unit_test(test_every_difference_is_reported_with_its_path),
        cmocka_unit_test(test_an_empty_list_the_server_omitted_is_not_a_difference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
