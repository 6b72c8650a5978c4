/* json_text: sorted compact JSON, exact numbers, deep equality. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"

static const char *fmt(double d)
{
    static char buf[32];
    return json_number_format(d, buf, sizeof buf);
}

/* Parses JSON text that the test itself wrote; failing to parse it is a bug in the test. */
static cJSON *parse(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    assert_non_null(v);
    return v;
}

static void assert_prints(const char *json_in, const char *want)
{
    cJSON *v = parse(json_in);
    char *got = json_print_sorted(v);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
    cJSON_Delete(v);
}

static void test_number_format_prints_1e15_as_integer(void **state)
{
    (void)state;
    assert_string_equal(fmt(1e15), "1000000000000000");
    assert_string_equal(fmt(1e14), "100000000000000");
    assert_string_equal(fmt(9007199254740991.0), "9007199254740991");
    assert_string_equal(fmt(-9007199254740991.0), "-9007199254740991");
}

static void test_number_format_prints_small_integers_plainly(void **state)
{
    (void)state;
    assert_string_equal(fmt(0), "0");
    assert_string_equal(fmt(-0.0), "0");
    assert_string_equal(fmt(42), "42");
    assert_string_equal(fmt(-3), "-3");
    assert_string_equal(fmt(2.0), "2");
}

static void test_number_format_uses_shortest_roundtrip_form(void **state)
{
    (void)state;
    assert_string_equal(fmt(0.5), "0.5");
    assert_string_equal(fmt(0.1), "0.1");
    assert_string_equal(fmt(1.5e-7), "1.5e-07");
    assert_string_equal(fmt(1e300), "1e+300");
    assert_string_equal(fmt(0.1 + 0.2), "0.30000000000000004");
    assert_string_equal(fmt(1.0 / 3.0), "0.3333333333333333");
    assert_string_equal(fmt(-2.5), "-2.5");
}

static void test_number_format_prints_integers_past_2_pow_53_in_exact_form(void **state)
{
    (void)state;
    /* 2^53 and beyond are no longer "%lld" territory, but the text must still read back to the same double. */
    assert_string_equal(fmt(9007199254740992.0), "9007199254740992");
    assert_string_equal(fmt(1e16), "1e+16");
    assert_true(strtod(fmt(1e20), NULL) == 1e20);
    assert_true(strtod(fmt(-1.8446744073709552e19), NULL) == -1.8446744073709552e19);
}

static void test_number_format_prints_nonfinite_as_null(void **state)
{
    (void)state;
    assert_string_equal(fmt(NAN), "null");
    assert_string_equal(fmt(INFINITY), "null");
    assert_string_equal(fmt(-INFINITY), "null");
}

/* xorshift64*: a fixed-seed generator so a failure reproduces. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void test_number_format_roundtrips_random_doubles(void **state)
{
    (void)state;
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 200000; i++) {
        uint64_t bits = next_random(&seed);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (!isfinite(d))
            continue;
        const char *s = fmt(d);
        assert_true(strtod(s, NULL) == d);
        assert_true(strlen(s) < 32);
    }
    for (int i = 0; i < 100000; i++) { /* integers and halves, where the integer form matters most */
        double d = (double)(int64_t)(next_random(&seed) >> 11) / ((i & 1) ? 1.0 : 2.0);
        assert_true(strtod(fmt(d), NULL) == d);
    }
}

static void test_number_format_respects_small_buffers(void **state)
{
    (void)state;
    char buf[4];
    json_number_format(123456, buf, sizeof buf);
    assert_string_equal(buf, "123");
    assert_ptr_equal(json_number_format(1, buf, 0), buf); /* no write at all */
}

static void test_print_sorted_sorts_keys_at_every_level(void **state)
{
    (void)state;
    assert_prints("{\"b\":1,\"a\":{\"z\":true,\"y\":[{\"d\":null,\"c\":false}]},\"B\":\"x\"}",
                  "{\"B\":\"x\",\"a\":{\"y\":[{\"c\":false,\"d\":null}],\"z\":true},\"b\":1}");
}

static void test_print_sorted_keeps_array_order(void **state)
{
    (void)state;
    assert_prints("[3,1,2,\"b\",\"a\"]", "[3,1,2,\"b\",\"a\"]");
    assert_prints("[]", "[]");
    assert_prints("{}", "{}");
}

static void test_print_sorted_escapes_quotes_backslashes_and_control_chars(void **state)
{
    (void)state;
    cJSON *v = cJSON_CreateString("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f end");
    char *got = json_print_sorted(v);
    assert_string_equal(got, "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f end\"");
    cJSON *back = parse(got);
    assert_true(json_equal(v, back));
    free(got);
    cJSON_Delete(back);
    cJSON_Delete(v);
}

static void test_print_sorted_escapes_keys_too(void **state)
{
    (void)state;
    cJSON *v = cJSON_CreateObject();
    cJSON_AddNumberToObject(v, "a\"b\n", 1);
    char *got = json_print_sorted(v);
    assert_string_equal(got, "{\"a\\\"b\\n\":1}");
    free(got);
    cJSON_Delete(v);
}

static void test_print_sorted_keeps_utf8_unescaped(void **state)
{
    (void)state;
    assert_prints("{\"k\":\"h\\u00e9llo \\u2603 \\ud83d\\ude00\"}", "{\"k\":\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"}");
}

static void test_print_sorted_prints_numbers_exactly(void **state)
{
    (void)state;
    assert_prints("[1e15,9007199254740991,-0.5,0.1,1e300,-7]",
                  "[1000000000000000,9007199254740991,-0.5,0.1,1e+300,-7]");
}

static void test_print_sorted_prints_nonfinite_numbers_as_null(void **state)
{
    (void)state;
    cJSON *v = cJSON_CreateArray();
    cJSON_AddItemToArray(v, cJSON_CreateNumber(NAN));
    cJSON_AddItemToArray(v, cJSON_CreateNumber(-INFINITY));
    char *got = json_print_sorted(v);
    assert_string_equal(got, "[null,null]");
    free(got);
    cJSON_Delete(v);
}

static void test_print_sorted_prints_null_pointer_as_null(void **state)
{
    (void)state;
    char *got = json_print_sorted(NULL);
    assert_string_equal(got, "null");
    free(got);
}

static void test_print_sorted_is_independent_of_insertion_order(void **state)
{
    (void)state;
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    char key[16];
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cJSON_AddNumberToObject(a, key, i);
        snprintf(key, sizeof key, "k%d", 499 - i);
        cJSON_AddNumberToObject(b, key, 499 - i);
    }
    char *ta = json_print_sorted(a), *tb = json_print_sorted(b);
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void test_print_sorted_output_parses_back_equal(void **state)
{
    (void)state;
    const char *docs[] = {
        "{\"apiVersion\":\"flink.apache.org/v1beta1\",\"kind\":\"FlinkDeployment\",\"spec\":{\"job\":{\"parallelism\":2,"
        "\"args\":[\"--a\",\"b c\"]},\"flinkConfiguration\":{\"x.y\":\"1\"},\"ratio\":0.75}}",
        "[null,true,false,\"\",\"\\u0000\",[[]],{\"\":{}}]",
        "\"just a string with \\\"quotes\\\"\"",
        "-1.25e-300",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        cJSON *v = parse(docs[i]);
        char *text = json_print_sorted(v);
        cJSON *back = parse(text);
        assert_true(json_equal(v, back));
        free(text);
        cJSON_Delete(back);
        cJSON_Delete(v);
    }
}

static int equal_text(const char *a, const char *b)
{
    cJSON *x = parse(a), *y = parse(b);
    int eq = json_equal(x, y);
    assert_int_equal(eq, json_equal(y, x)); /* symmetric */
    cJSON_Delete(x);
    cJSON_Delete(y);
    return eq;
}

static void test_equal_ignores_key_order(void **state)
{
    (void)state;
    assert_true(equal_text("{\"a\":1,\"b\":{\"c\":[1,2],\"d\":\"x\"}}", "{\"b\":{\"d\":\"x\",\"c\":[1,2]},\"a\":1}"));
}

static void test_equal_respects_array_order_and_length(void **state)
{
    (void)state;
    assert_false(equal_text("[1,2]", "[2,1]"));
    assert_false(equal_text("[1,2]", "[1,2,3]"));
    assert_false(equal_text("[]", "[null]"));
    assert_true(equal_text("[[],{}]", "[[],{}]"));
}

static void test_equal_distinguishes_types(void **state)
{
    (void)state;
    assert_false(equal_text("1", "\"1\""));
    assert_false(equal_text("true", "1"));
    assert_false(equal_text("false", "0"));
    assert_false(equal_text("null", "false"));
    assert_false(equal_text("true", "false"));
    assert_false(equal_text("[]", "{}"));
    assert_false(equal_text("\"\"", "null"));
}

static void test_equal_compares_numbers_as_doubles(void **state)
{
    (void)state;
    assert_true(equal_text("1", "1.0"));
    assert_true(equal_text("1e3", "1000"));
    assert_true(equal_text("0", "-0"));
    assert_false(equal_text("0.1", "0.10000000000000002"));
    cJSON *a = cJSON_CreateNumber(NAN), *b = cJSON_CreateNumber(NAN);
    assert_true(json_equal(a, b)); /* an unchanged NaN is not a change */
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void test_equal_detects_missing_extra_and_changed_keys(void **state)
{
    (void)state;
    assert_false(equal_text("{\"a\":1}", "{\"a\":1,\"b\":2}"));
    assert_false(equal_text("{\"a\":1}", "{\"b\":1}"));
    assert_false(equal_text("{\"a\":{\"b\":1}}", "{\"a\":{\"b\":2}}"));
    assert_false(equal_text("{\"a\":\"x\"}", "{\"a\":\"X\"}"));
    assert_true(equal_text("{}", "{}"));
}

static void test_equal_handles_null_pointers(void **state)
{
    (void)state;
    cJSON *v = cJSON_CreateNull();
    assert_true(json_equal(NULL, NULL));
    assert_false(json_equal(v, NULL));
    assert_false(json_equal(NULL, v));
    cJSON_Delete(v);
}

static void test_equal_handles_large_objects(void **state)
{
    (void)state;
    cJSON *a = cJSON_CreateObject(), *b = cJSON_CreateObject();
    char key[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cJSON_AddNumberToObject(a, key, i);
        snprintf(key, sizeof key, "k%d", 19999 - i);
        cJSON_AddNumberToObject(b, key, 19999 - i);
    }
    assert_true(json_equal(a, b));
    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(b, "k777"), -1);
    assert_false(json_equal(a, b));
    cJSON_Delete(a);
    cJSON_Delete(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_number_format_prints_1e15_as_integer),
        cmocka_unit_test(test_number_format_prints_small_integers_plainly),
        cmocka_unit_test(test_number_format_uses_shortest_roundtrip_form),
        cmocka_unit_test(test_number_format_prints_integers_past_2_pow_53_in_exact_form),
        cmocka_unit_test(test_number_format_prints_nonfinite_as_null),
        cmocka_unit_test(test_number_format_roundtrips_random_doubles),
        cmocka_unit_test(test_number_format_respects_small_buffers),
        cmocka_unit_test(test_print_sorted_sorts_keys_at_every_level),
        cmocka_unit_test(test_print_sorted_keeps_array_order),
        cmocka_unit_test(test_print_sorted_escapes_quotes_backslashes_and_control_chars),
        cmocka_unit_test(test_print_sorted_escapes_keys_too),
        cmocka_unit_test(test_print_sorted_keeps_utf8_unescaped),
        cmocka_unit_test(test_print_sorted_prints_numbers_exactly),
        cmocka_unit_test(test_print_sorted_prints_nonfinite_numbers_as_null),
        cmocka_unit_test(test_print_sorted_prints_null_pointer_as_null),
        cmocka_unit_test(test_print_sorted_is_independent_of_insertion_order),
        cmocka_unit_test(test_print_sorted_output_parses_back_equal),
        cmocka_unit_test(test_equal_ignores_key_order),
        cmocka_unit_test(test_equal_respects_array_order_and_length),
        cmocka_unit_test(test_equal_distinguishes_types),
        cmocka_unit_test(test_equal_compares_numbers_as_doubles),
        cmocka_unit_test(test_equal_detects_missing_extra_and_changed_keys),
        cmocka_unit_test(test_equal_handles_null_pointers),
        cmocka_unit_test(test_equal_handles_large_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
