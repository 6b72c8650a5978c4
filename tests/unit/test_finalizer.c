/* finalizer: the patches that add and remove ours and touch no one else's entry, and the deletion deadline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "finalizer.h"
#include "strutil.h"

static cJSON *parse(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    assert_non_null(v);
    return v;
}

static void assert_patch(const char *resource, int add, const char *want)
{
    cJSON *r = parse(resource);
    char *got = finalizer_patch(r, add);
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
    cJSON_Delete(r);
}

static void test_adding_keeps_other_finalizers_and_names_the_version(void **state)
{
    (void)state;
    assert_patch("{\"kind\": \"FlinkDeployment\", \"metadata\": {\"name\": \"a\", \"resourceVersion\": \"42\"}}", 1,
                 "{\"metadata\":{\"finalizers\":[\"" FINALIZER_NAME "\"],\"resourceVersion\":\"42\"}}");
    assert_patch("{\"kind\": \"FlinkDeployment\", \"metadata\": {\"resourceVersion\": \"7\", \"finalizers\": [\"example.com/keep\"]}}", 1,
                 "{\"metadata\":{\"finalizers\":[\"example.com/keep\",\"" FINALIZER_NAME "\"],"
                 "\"resourceVersion\":\"7\"}}");
}

static void test_removing_takes_out_ours_only(void **state)
{
    (void)state;
    assert_patch("{\"kind\": \"FlinkDeployment\", \"metadata\": {\"resourceVersion\": \"9\", \"finalizers\": [\"" FINALIZER_NAME
                 "\", \"example.com/keep\"]}}",
                 0, "{\"metadata\":{\"finalizers\":[\"example.com/keep\"],\"resourceVersion\":\"9\"}}");
}

static void test_nothing_to_do_is_no_patch(void **state)
{
    (void)state;
    assert_patch("{\"kind\": \"FlinkDeployment\", \"metadata\": {\"resourceVersion\": \"9\", \"finalizers\": [\"" FINALIZER_NAME "\"]}}", 1, NULL);
    assert_patch("{\"kind\": \"FlinkDeployment\", \"metadata\": {\"resourceVersion\": \"9\"}}", 0, NULL);
    assert_patch("{\"kind\": \"FlinkDeployment\", \"metadata\": {}}", 1, NULL); /* no version to make it safe: not written */
}

static void test_a_session_job_gets_its_own_finalizer_and_other_kinds_none(void **state)
{
    (void)state;
    assert_patch("{\"kind\": \"FlinkSessionJob\", \"metadata\": {\"resourceVersion\": \"3\"}}", 1,
                 "{\"metadata\":{\"finalizers\":[\"" FINALIZER_SESSION_JOB_NAME "\"],\"resourceVersion\":\"3\"}}");
    assert_patch("{\"kind\": \"FlinkSessionJob\", \"metadata\": {\"resourceVersion\": \"3\", \"finalizers\": [\""
                 FINALIZER_NAME "\"]}}",
                 0, NULL); /* the FlinkDeployment's name on a session job is not ours to remove */
    assert_patch("{\"kind\": \"ConfigMap\", \"metadata\": {\"resourceVersion\": \"3\"}}", 1, NULL);
}

static void test_a_deletion_is_overdue_after_the_limit(void **state)
{
    (void)state;
    time_t t0;
    assert_int_equal(strutil_rfc3339_parse("2026-11-25T12:00:00Z", &t0), 0);
    cJSON *r = parse("{\"metadata\": {\"deletionTimestamp\": \"2026-11-25T12:00:00Z\"}}");
    assert_true(finalizer_deleting(r));
    assert_false(finalizer_overdue(r, t0 + FINALIZER_LIMIT - 1));
    assert_true(finalizer_overdue(r, t0 + FINALIZER_LIMIT));
    cJSON_Delete(r);
    r = parse("{\"metadata\": {\"deletionTimestamp\": \"yesterday\"}}");
    assert_true(finalizer_overdue(r, t0));
    cJSON_Delete(r);
    r = parse("{\"metadata\": {}}");
    assert_false(finalizer_deleting(r));
    assert_false(finalizer_overdue(r, t0 + 1000));
    cJSON_Delete(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adding_keeps_other_finalizers_and_names_the_version),
        cmocka_unit_test(test_removing_takes_out_ours_only),
        cmocka_unit_test(test_nothing_to_do_is_no_patch),
        cmocka_unit_test(test_a_session_job_gets_its_own_finalizer_and_other_kinds_none),
        cmocka_unit_test(test_a_deletion_is_overdue_after_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
