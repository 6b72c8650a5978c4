/* log: logfmt lines, escaping, redaction, the level threshold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* 2026-11-25T12:00:00.123Z */
static void fixed_clock(struct timespec *ts)
{
    ts->tv_sec = 1795608000;
    ts->tv_nsec = 123456789;
}

struct capture {
    char *text;
    size_t len;
    FILE *out;
};

static int setup(void **state)
{
    struct capture *c = calloc(1, sizeof *c);
    if (!c || !(c->out = open_memstream(&c->text, &c->len))) {
        free(c);
        return -1;
    }
    log_set_output(c->out);
    log_set_clock(fixed_clock);
    log_set_level(LOG_LEVEL_INFO);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct capture *c = *state;
    log_set_output(NULL);
    log_set_clock(NULL);
    log_set_level(LOG_LEVEL_INFO);
    fclose(c->out);
    free(c->text);
    free(c);
    return 0;
}

/* What was logged so far (the stream is flushed after every line). */
static const char *logged(void **state)
{
    struct capture *c = *state;
    fflush(c->out);
    return c->text ? c->text : "";
}

static void test_line_is_logfmt_with_utc_millisecond_timestamp(void **state)
{
    log_msg(LOG_LEVEL_INFO, "reconciled", "kind", "FlinkDeployment", "changes", "2", NULL);
    assert_string_equal(logged(state), "ts=2026-11-25T12:00:00.123Z level=info msg=\"reconciled\" "
                                       "kind=FlinkDeployment changes=2\n");
}

static void test_values_with_spaces_quotes_equals_newlines_are_quoted_and_escaped(void **state)
{
    log_msg(LOG_LEVEL_WARN, "say \"hi\"\nthere", "a", "two words", "b", "x=y", "c", "say \"q\"", "d",
            "line1\nline2\r\t", "e", "", "f", NULL, "g", "back\\slash", "h", "bell\a", NULL);
    assert_string_equal(logged(state),
                        "ts=2026-11-25T12:00:00.123Z level=warn msg=\"say \\\"hi\\\"\\nthere\" a=\"two words\" "
                        "b=\"x=y\" c=\"say \\\"q\\\"\" d=\"line1\\nline2\\r\\t\" e=\"\" f=\"\" g=back\\slash "
                        "h=\"bell\\x07\"\n");
}

static void test_one_event_is_one_line(void **state)
{
    log_msg(LOG_LEVEL_ERROR, "multi\nline\nmessage", "err", "a\nb\nc", "bad key\n=", "v", NULL);
    const char *text = logged(state);
    const char *nl = strchr(text, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], '\0');
    assert_non_null(strstr(text, " bad_key__=v"));
}

static void test_secret_keys_are_redacted(void **state)
{
    log_msg(LOG_LEVEL_INFO, "request", "token", "abc123", "Authorization", "Bearer xyz", "password", "hunter2",
            "bearer_token", "t0k", "proxy-authorization", "Basic zz", "client.secret", "s3", "user", "alice", NULL);
    const char *text = logged(state);
    assert_null(strstr(text, "abc123"));
    assert_null(strstr(text, "xyz"));
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "t0k"));
    assert_null(strstr(text, "zz"));
    assert_null(strstr(text, "s3"));
    assert_non_null(strstr(text, " token=[redacted] Authorization=[redacted] password=[redacted] "
                                 "bearer_token=[redacted] proxy-authorization=[redacted] "
                                 "client.secret=[redacted] user=alice\n"));
}

static void test_threshold_drops_lower_levels(void **state)
{
    log_set_level(LOG_LEVEL_WARN);
    log_msg(LOG_LEVEL_DEBUG, "d", NULL);
    log_msg(LOG_LEVEL_INFO, "i", NULL);
    log_msg(LOG_LEVEL_WARN, "w", NULL);
    log_msg(LOG_LEVEL_ERROR, "e", NULL);
    log_object(LOG_LEVEL_INFO, "ns", "name", "dropped too", NULL);
    assert_string_equal(logged(state), "ts=2026-11-25T12:00:00.123Z level=warn msg=\"w\"\n"
                                       "ts=2026-11-25T12:00:00.123Z level=error msg=\"e\"\n");
    assert_false(log_enabled(LOG_LEVEL_INFO));
    assert_true(log_enabled(LOG_LEVEL_ERROR));
}

static void test_debug_threshold_shows_everything(void **state)
{
    log_set_level(LOG_LEVEL_DEBUG);
    log_msg(LOG_LEVEL_DEBUG, "d", NULL);
    assert_non_null(strstr(logged(state), "level=debug msg=\"d\""));
}

static void test_object_lines_carry_namespace_slash_name(void **state)
{
    log_object(LOG_LEVEL_INFO, "flink", "basic", "applied", "kind", "Deployment", NULL);
    log_object(LOG_LEVEL_INFO, NULL, "flink-role", "applied", NULL);
    assert_string_equal(logged(state),
                        "ts=2026-11-25T12:00:00.123Z level=info msg=\"applied\" object=flink/basic kind=Deployment\n"
                        "ts=2026-11-25T12:00:00.123Z level=info msg=\"applied\" object=flink-role\n");
}

static void test_object_with_long_name_is_not_truncated(void **state)
{
    char name[600];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    log_object(LOG_LEVEL_INFO, "ns", name, "m", NULL);
    const char *text = logged(state);
    const char *at = strstr(text, "object=ns/");
    assert_non_null(at);
    assert_int_equal(strspn(at + 10, "n"), sizeof name - 1);
}

static void test_level_names_parse(void **state)
{
    (void)state;
    enum log_level l = LOG_LEVEL_INFO;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("WARN", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_equal(log_level_parse("warning", &l), 0);
    assert_int_equal(log_level_parse("error", &l), 0);
    assert_int_equal(l, LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse("verbose", &l), -1);
    assert_int_equal(l, LOG_LEVEL_ERROR);
    assert_int_equal(log_level_parse(NULL, &l), -1);
    assert_string_equal(log_level_name(LOG_LEVEL_INFO), "info");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_line_is_logfmt_with_utc_millisecond_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values_with_spaces_quotes_equals_newlines_are_quoted_and_escaped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_one_event_is_one_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_keys_are_redacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threshold_drops_lower_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_debug_threshold_shows_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_lines_carry_namespace_slash_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_with_long_name_is_not_truncated, setup, teardown),
        cmocka_unit_test(test_level_names_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
