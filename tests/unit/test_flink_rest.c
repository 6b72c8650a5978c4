/* flink_rest: the JobManager URL template, the parsers of Flink's REST answers (shapes from Flink's REST API
 * reference), and a call to a port nobody listens on, which must come back as an error naming the call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flink_observer.h"
#include "flink_rest.h"

#define JOB_A "a5e0edd8e66b53f1b89c2041f91b8fd2"
#define JOB_B "c9e7d88f3c0b4a6789e012345678abcd"

static cJSON *parse(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    assert_non_null(v);
    return v;
}

static void test_template_accepts_name_and_namespace_only(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(flink_rest_template_check(FLINK_REST_DEFAULT_URL, err, sizeof err), 0);
    assert_int_equal(flink_rest_template_check("http://127.0.0.1:8081/{namespace}/{name}", err, sizeof err), 0);
    assert_int_equal(flink_rest_template_check("ftp://x/{name}", err, sizeof err), -1);
    assert_non_null(strstr(err, "http://"));
    assert_int_equal(flink_rest_template_check("http://{cluster}:8081", err, sizeof err), -1);
    assert_non_null(strstr(err, "{name} and {namespace}"));
}

static void test_base_url_fills_the_default_template_with_the_rest_service(void **state)
{
    (void)state;
    char err[256], url[256];
    struct ev_loop *loop = ev_loop_new(0);
    struct flink_rest *r = flink_rest_new(loop, NULL, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(flink_rest_base(r, "team-a", "basic-example", url, sizeof url), 0);
    assert_string_equal(url, "http://basic-example-rest.team-a:8081");
    assert_int_equal(flink_rest_base(r, "team-a", "basic-example", url, 10), -1);
    flink_rest_free(r);
    r = flink_rest_new(loop, "http://127.0.0.1:9/{namespace}/{name}/", err, sizeof err);
    assert_int_equal(flink_rest_base(r, "team-a", "basic-example", url, sizeof url), 0);
    assert_string_equal(url, "http://127.0.0.1:9/team-a/basic-example");
    flink_rest_free(r);
    ev_loop_destroy(loop);
}

static void test_jobs_overview_becomes_jobs_newest_first(void **state)
{
    (void)state;
    char err[256];
    cJSON *body = parse("{\"jobs\": [{\"jid\": \"" JOB_A "\", \"name\": \"old\", \"state\": \"FINISHED\","
                        " \"start-time\": 1700000000000, \"end-time\": 1700000001000, \"duration\": 1000,"
                        " \"last-modification\": 1700000001000, \"tasks\": {\"finished\": 1}},"
                        " {\"jid\": \"" JOB_B "\", \"name\": \"new\", \"state\": \"RUNNING\","
                        " \"start-time\": 1795607990000, \"end-time\": -1}]}");
    cJSON *jobs = flink_rest_jobs_parse(body, err, sizeof err);
    assert_non_null(jobs);
    assert_int_equal(cJSON_GetArraySize(jobs), 2);
    cJSON *first = cJSON_GetArrayItem(jobs, 0);
    assert_string_equal(cJSON_GetObjectItem(first, "id")->valuestring, JOB_B);
    assert_string_equal(cJSON_GetObjectItem(first, "state")->valuestring, "RUNNING");
    assert_string_equal(cJSON_GetObjectItem(first, "name")->valuestring, "new");
    assert_true(cJSON_GetObjectItem(first, "start_time")->valuedouble == 1795607990000.0);
    assert_null(cJSON_GetObjectItem(first, "end-time"));
    cJSON_Delete(jobs);
    cJSON_Delete(body);
}

static void test_jobs_overview_of_another_shape_is_refused(void **state)
{
    (void)state;
    char err[256];
    cJSON *body = parse("{\"running\": []}");
    assert_null(flink_rest_jobs_parse(body, err, sizeof err));
    assert_non_null(strstr(err, "no \"jobs\" list"));
    cJSON_Delete(body);
    body = parse("{\"jobs\": [{\"jid\": \"../../etc\", \"state\": \"RUNNING\"}]}");
    assert_null(flink_rest_jobs_parse(body, err, sizeof err));
    assert_non_null(strstr(err, "32-digit"));
    cJSON_Delete(body);
}

static void test_failure_is_the_newest_root_exception(void **state)
{
    (void)state;
    cJSON *body = parse("{\"exceptionHistory\": {\"truncated\": false, \"entries\": ["
                        "{\"exceptionName\": \"java.io.IOException\", \"stacktrace\": \"java.io.IOException: old\","
                        " \"timestamp\": 1},"
                        "{\"exceptionName\": \"java.lang.IllegalStateException\","
                        " \"stacktrace\": \"java.lang.IllegalStateException: the source broke\\n\\tat X.y(X.java:1)\","
                        " \"timestamp\": 2}]}}");
    cJSON *f = flink_rest_failure_parse(body);
    assert_non_null(f);
    assert_string_equal(cJSON_GetObjectItem(f, "class")->valuestring, "java.lang.IllegalStateException");
    assert_string_equal(cJSON_GetObjectItem(f, "message")->valuestring, "the source broke");
    cJSON_Delete(f);
    cJSON_Delete(body);
    body = parse("{\"exceptionHistory\": {\"entries\": []}}");
    assert_null(flink_rest_failure_parse(body));
    cJSON_Delete(body);
}

static void test_savepoint_status_reads_progress_location_and_failure(void **state)
{
    (void)state;
    char err[256];
    cJSON *body = parse("{\"status\": {\"id\": \"IN_PROGRESS\"}}");
    cJSON *sp = flink_rest_savepoint_parse(body, err, sizeof err);
    assert_string_equal(cJSON_GetObjectItem(sp, "status")->valuestring, "IN_PROGRESS");
    cJSON_Delete(sp);
    cJSON_Delete(body);
    body = parse("{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": {\"location\": \"s3://sp/savepoint-1\"}}");
    sp = flink_rest_savepoint_parse(body, err, sizeof err);
    assert_string_equal(cJSON_GetObjectItem(sp, "status")->valuestring, "COMPLETED");
    assert_string_equal(cJSON_GetObjectItem(sp, "location")->valuestring, "s3://sp/savepoint-1");
    cJSON_Delete(sp);
    cJSON_Delete(body);
    body = parse("{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": {\"failure-cause\": {\"class\": \"x.Y\","
                 " \"stack-trace\": \"x.Y: disk full\\n\\tat z\"}}}");
    sp = flink_rest_savepoint_parse(body, err, sizeof err);
    assert_string_equal(cJSON_GetObjectItem(sp, "status")->valuestring, "FAILED");
    assert_string_equal(cJSON_GetObjectItem(sp, "failure")->valuestring, "x.Y: disk full");
    cJSON_Delete(sp);
    cJSON_Delete(body);
    body = parse("{\"request-id\": \"" JOB_A "\"}");
    assert_null(flink_rest_savepoint_parse(body, err, sizeof err));
    cJSON_Delete(body);
}

static void test_checkpoint_status_reads_progress_id_and_failure(void **state)
{
    (void)state;
    char err[256];
    cJSON *body = parse("{\"status\": {\"id\": \"IN_PROGRESS\"}}");
    cJSON *cp = flink_rest_checkpoint_parse(body, err, sizeof err);
    assert_string_equal(cJSON_GetObjectItem(cp, "status")->valuestring, "IN_PROGRESS");
    cJSON_Delete(cp);
    cJSON_Delete(body);
    body = parse("{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": {\"checkpointId\": 42}}");
    cp = flink_rest_checkpoint_parse(body, err, sizeof err);
    assert_string_equal(cJSON_GetObjectItem(cp, "status")->valuestring, "COMPLETED");
    assert_int_equal(cJSON_GetObjectItem(cp, "checkpoint_id")->valuedouble, 42);
    cJSON_Delete(cp);
    cJSON_Delete(body);
    body = parse("{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": {\"failureCause\": {\"class\":"
                 " \"org.apache.flink.runtime.checkpoint.CheckpointException\", \"stack-trace\":"
                 " \"org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint expired\\n\\tat z\"}}}");
    cp = flink_rest_checkpoint_parse(body, err, sizeof err);
    assert_string_equal(cJSON_GetObjectItem(cp, "status")->valuestring, "FAILED");
    assert_string_equal(cJSON_GetObjectItem(cp, "failure")->valuestring,
                        "org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint expired");
    cJSON_Delete(cp);
    cJSON_Delete(body);
    body = parse("{\"status\": {\"id\": \"COMPLETED\"}, \"operation\": {}}");
    cp = flink_rest_checkpoint_parse(body, err, sizeof err);
    assert_string_equal(cJSON_GetObjectItem(cp, "status")->valuestring, "FAILED");
    assert_string_equal(cJSON_GetObjectItem(cp, "failure")->valuestring, "no checkpointId");
    cJSON_Delete(cp);
    cJSON_Delete(body);
    body = parse("{\"request-id\": \"" JOB_A "\"}");
    assert_null(flink_rest_checkpoint_parse(body, err, sizeof err));
    assert_string_equal(err, "checkpoint status: no status.id IN_PROGRESS or COMPLETED in the answer");
    cJSON_Delete(body);
}

/* A CheckpointingStatistics of /jobs/:jobid/checkpoints whose latest savepoint was triggered at `at`. */
#define CHECKPOINTS(at)                                                                                              \
    "{\"counts\": {\"restored\": 0, \"total\": 3, \"in_progress\": 0, \"completed\": 3, \"failed\": 0},"         \
    " \"latest\": {\"completed\": {\"className\": \"completed\", \"id\": 3, \"status\": \"COMPLETED\","              \
    " \"is_savepoint\": false, \"trigger_timestamp\": 1795608009000, \"external_path\": \"<checkpoint-not-externally-addressable>\"},"    \
    " \"savepoint\": {\"className\": \"completed\", \"id\": 2, \"status\": \"COMPLETED\", \"is_savepoint\": true,"     \
    " \"trigger_timestamp\": " at ", \"latest_ack_timestamp\": 1795608003000, \"checkpoint_type\": \"SAVEPOINT\","   \
    " \"external_path\": \"file:/sp/savepoint-a5e0ed-1\", \"discarded\": false},"                                  \
    " \"failed\": null, \"restored\": null}, \"history\": []}"

static void test_a_forgotten_trigger_is_found_in_the_checkpoint_statistics_only_if_taken_since(void **state)
{
    (void)state;
    cJSON *body = parse(CHECKPOINTS("1795608002000"));
    cJSON *sp = flink_rest_checkpoints_savepoint(body, 1795608000000.0);
    assert_non_null(sp);
    assert_string_equal(cJSON_GetObjectItem(sp, "status")->valuestring, "COMPLETED");
    assert_string_equal(cJSON_GetObjectItem(sp, "location")->valuestring, "file:/sp/savepoint-a5e0ed-1");
    cJSON_Delete(sp);
    assert_null(flink_rest_checkpoints_savepoint(body, 1795608002001.0)); /* an older savepoint is not it */
    cJSON_Delete(body);
    body = parse("{\"counts\": {}, \"latest\": {\"completed\": null, \"savepoint\": null}, \"history\": []}");
    assert_null(flink_rest_checkpoints_savepoint(body, 0));
    cJSON_Delete(body);
}

static void test_only_32_hex_digits_are_ids(void **state)
{
    (void)state;
    assert_true(flink_rest_is_id(JOB_A));
    assert_false(flink_rest_is_id("a5e0edd8"));
    assert_false(flink_rest_is_id(JOB_A "0"));
    assert_false(flink_rest_is_id("a5e0edd8e66b53f1b89c2041f91b8fd/"));
    assert_false(flink_rest_is_id(NULL));
}

static int action_ok(const char *json, char *err, size_t errlen)
{
    cJSON *a = parse(json);
    int rc = flink_observer_action_check(a, err, errlen);
    cJSON_Delete(a);
    return rc;
}

static void test_actions_are_checked_before_anything_is_sent(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(action_ok("{\"type\": \"stop\", \"job_id\": \"" JOB_A "\", \"trigger_id\": \"" JOB_B "\","
                               " \"target_directory\": \"s3://sp\"}", err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"cancel\", \"job_id\": \"" JOB_A "\"}", err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"restart\", \"job_id\": \"" JOB_A "\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "stop, savepoint, checkpoint, cancel, submit or delete_ha_configmaps"));
    assert_int_equal(action_ok("{\"type\": \"savepoint\", \"job_id\": \"" JOB_A "\"}", err, sizeof err), -1);
    assert_string_equal(err, "savepoint action: trigger_id must be 32 hexadecimal digits");
    assert_int_equal(action_ok("{\"type\": \"cancel\", \"job_id\": \"../overview\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "job_id must be a Flink job id"));
    assert_int_equal(action_ok("{\"type\": \"savepoint\", \"job_id\": \"" JOB_A "\", \"trigger_id\": \"" JOB_B "\","
                               " \"triggered_at\": 1795608000000}", err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"stop\", \"job_id\": \"" JOB_A "\", \"trigger_id\": \"" JOB_B "\","
                               " \"triggered_at\": \"now\"}", err, sizeof err), -1);
    assert_string_equal(err, "stop action: triggered_at must be epoch milliseconds");
}

static void test_a_checkpoint_action_names_its_trigger_and_a_known_type(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(action_ok("{\"type\": \"checkpoint\", \"job_id\": \"" JOB_A "\", \"trigger_id\": \"" JOB_B "\"}",
                               err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"checkpoint\", \"job_id\": \"" JOB_A "\", \"trigger_id\": \"" JOB_B "\","
                               " \"checkpoint_type\": \"INCREMENTAL\"}", err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"checkpoint\", \"job_id\": \"" JOB_A "\"}", err, sizeof err), -1);
    assert_string_equal(err, "checkpoint action: trigger_id must be 32 hexadecimal digits");
    assert_int_equal(action_ok("{\"type\": \"checkpoint\", \"job_id\": \"" JOB_A "\", \"trigger_id\": \"" JOB_B "\","
                               " \"checkpoint_type\": \"SAVEPOINT\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "one of FULL, INCREMENTAL or CONFIGURED"));
    assert_int_equal(action_ok("{\"type\": \"savepoint\", \"job_id\": \"" JOB_A "\", \"trigger_id\": \"" JOB_B "\","
                               " \"checkpoint_type\": \"FULL\"}", err, sizeof err), -1);
    assert_string_equal(err, "savepoint action: checkpoint_type is a checkpoint's only, one of FULL, INCREMENTAL or "
                             "CONFIGURED");
}

static void test_a_submission_names_a_plain_jar_file_and_run_arguments(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"job-1.0.jar\","
                               " \"entry_class\": \"a.B\", \"args\": [\"--x\", \"1\"], \"parallelism\": 2,"
                               " \"savepoint_path\": \"s3://sp/1\"}", err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"j.jar\","
                               " \"args\": {}}", err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"../jars\"}",
                               err, sizeof err), -1);
    assert_non_null(strstr(err, "jar_name must be a file name"));
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"j.jar\","
                               " \"args\": [1]}", err, sizeof err), -1);
    assert_string_equal(err, "submit action: args must be a list of strings");
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"j.jar\","
                               " \"parallelism\": 0.5}", err, sizeof err), -1);
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"job\", \"jar_name\": \"j.jar\"}", err,
                               sizeof err), -1);
    /* The HA action carries no selector: the core builds the only one from the resource's name. */
    assert_int_equal(action_ok("{\"type\": \"delete_ha_configmaps\"}", err, sizeof err), 0);
}

static void test_a_submission_fetches_only_a_jar_whose_uri_ends_in_its_name(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"job-1.0.jar\","
                               " \"jar_uri\": \"https://repo/x/job-1.0.jar?t=1\"}", err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"job-1.0.jar\","
                               " \"jar_uri\": \"s3://bucket/job-1.0.jar\"}", err, sizeof err), 0);
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"job-1.0.jar\","
                               " \"jar_uri\": \"file:///etc/passwd\"}", err, sizeof err), -1);
    assert_non_null(strstr(err, "whose last path segment is jar_name"));
    assert_int_equal(action_ok("{\"type\": \"submit\", \"job_id\": \"" JOB_A "\", \"jar_name\": \"j.jar\","
                               " \"jar_uri\": 7}", err, sizeof err), -1);
}

static void test_a_session_job_is_observed_through_its_session_cluster(void **state)
{
    (void)state;
    char key[128];
    cJSON *r = parse("{\"kind\": \"FlinkSessionJob\", \"metadata\": {\"name\": \"j\", \"namespace\": \"a\"},"
                     " \"spec\": {\"deploymentName\": \"session\"}}");
    assert_int_equal(flink_observer_cluster_key(r, key, sizeof key), 0);
    assert_string_equal(key, "FlinkDeployment/a/session");
    cJSON_Delete(r);
    r = parse("{\"kind\": \"FlinkDeployment\", \"metadata\": {\"name\": \"basic\", \"namespace\": \"a\"}}");
    assert_int_equal(flink_observer_cluster_key(r, key, sizeof key), 0);
    assert_string_equal(key, "FlinkDeployment/a/basic");
    cJSON_Delete(r);
    r = parse("{\"kind\": \"FlinkSessionJob\", \"metadata\": {\"name\": \"j\"}, \"spec\": {}}");
    assert_int_equal(flink_observer_cluster_key(r, key, sizeof key), -1);
    cJSON_Delete(r);
}

struct answer_seen {
    int calls;
    long status;
    char error[512];
};

static void answer_note(void *ud, const struct flink_rest_answer *a)
{
    struct answer_seen *s = ud;
    s->calls++;
    s->status = a->status;
    snprintf(s->error, sizeof s->error, "%s", a->error ? a->error : "");
}

/* A port that was just free: bound, read back, closed. */
static int closed_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_a_refused_call_reports_what_it_asked(void **state)
{
    (void)state;
    char err[256], template[128], want[128];
    int port = closed_port();
    snprintf(template, sizeof template, "http://127.0.0.1:%d/{namespace}/{name}", port);
    struct ev_loop *loop = ev_loop_new(0);
    struct flink_rest *r = flink_rest_new(loop, template, err, sizeof err);
    struct answer_seen seen = {0};
    assert_non_null(flink_rest_request(r, "ns", "fd", "GET", "/jobs/overview", NULL, answer_note, &seen, err,
                                       sizeof err));
    assert_int_equal(seen.calls, 0); /* never before the request returns */
    ev_run(loop, 0);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.status, 0);
    snprintf(want, sizeof want, "GET http://127.0.0.1:%d/ns/fd/jobs/overview: ", port);
    assert_memory_equal(seen.error, want, strlen(want));
    flink_rest_free(r);
    ev_loop_destroy(loop);
}

static void test_a_cancelled_call_calls_nothing(void **state)
{
    (void)state;
    char err[256], template[128];
    snprintf(template, sizeof template, "http://127.0.0.1:%d", closed_port());
    struct ev_loop *loop = ev_loop_new(0);
    struct flink_rest *r = flink_rest_new(loop, template, err, sizeof err);
    struct answer_seen seen = {0};
    struct flink_rest_call *c =
        flink_rest_request(r, "ns", "fd", "GET", "/jobs/overview", NULL, answer_note, &seen, err, sizeof err);
    flink_rest_call_cancel(c);
    ev_run(loop, 0);
    assert_int_equal(seen.calls, 0);
    /* and one left in flight is cancelled by free, again without a callback */
    assert_non_null(flink_rest_request(r, "ns", "fd", "GET", "/jobs/overview", NULL, answer_note, &seen, err,
                                       sizeof err));
    flink_rest_free(r);
    assert_int_equal(seen.calls, 0);
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_template_accepts_name_and_namespace_only),
        cmocka_unit_test(test_base_url_fills_the_default_template_with_the_rest_service),
        cmocka_unit_test(test_jobs_overview_becomes_jobs_newest_first),
        cmocka_unit_test(test_jobs_overview_of_another_shape_is_refused),
        cmocka_unit_test(test_failure_is_the_newest_root_exception),
        cmocka_unit_test(test_savepoint_status_reads_progress_location_and_failure),
        cmocka_unit_test(test_checkpoint_status_reads_progress_id_and_failure),
        cmocka_unit_test(test_a_forgotten_trigger_is_found_in_the_checkpoint_statistics_only_if_taken_since),
        cmocka_unit_test(test_only_32_hex_digits_are_ids),
        cmocka_unit_test(test_actions_are_checked_before_anything_is_sent),
        cmocka_unit_test(test_a_checkpoint_action_names_its_trigger_and_a_known_type),
        cmocka_unit_test(test_a_submission_names_a_plain_jar_file_and_run_arguments),
        cmocka_unit_test(test_a_submission_fetches_only_a_jar_whose_uri_ends_in_its_name),
        cmocka_unit_test(test_a_session_job_is_observed_through_its_session_cluster),
        cmocka_unit_test(test_a_refused_call_reports_what_it_asked),
        cmocka_unit_test(test_a_cancelled_call_calls_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
