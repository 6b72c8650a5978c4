/* yaml: reading streams the way kubectl types them, errors with positions, and a writer whose output reads back to
 * the same tree. */
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
#include "yaml_io.h"

#define EXAMPLES "../shared/reference/flink-kubernetes-operator/examples/"

static char err[1024];

/* The one document of `text`, detached from its stream; the caller deletes it. */
static cJSON *parse_doc(const char *text)
{
    struct yaml_stream s;
    int rc = yaml_stream_parse(text, strlen(text), "t.yaml", &s, err, sizeof err);
    if (rc)
        print_error("unexpected error: %s\n", err);
    assert_int_equal(rc, 0);
    assert_int_equal(s.count, 1);
    cJSON *v = s.docs[0].value;
    s.docs[0].value = NULL;
    yaml_stream_free(&s);
    return v;
}

/* Parses text that must fail and returns the message. */
static const char *parse_error(const char *text, size_t len)
{
    struct yaml_stream s;
    err[0] = '\0';
    assert_int_equal(yaml_stream_parse(text, len, "t.yaml", &s, err, sizeof err), -1);
    assert_int_equal(s.count, 0);
    assert_null(s.docs);
    return err;
}

static cJSON *json(const char *text)
{
    cJSON *v = cJSON_Parse(text);
    assert_non_null(v);
    return v;
}

/* The YAML document reads as the JSON text says. */
static void assert_yaml_is(const char *yaml, const char *want_json)
{
    cJSON *got = parse_doc(yaml), *want = json(want_json);
    if (!json_equal(got, want)) {
        char *g = json_print_sorted(got);
        print_error("%s\nread as %s, want %s\n", yaml, g, want_json);
        free(g);
    }
    assert_true(json_equal(got, want));
    cJSON_Delete(got);
    cJSON_Delete(want);
}

/* Emits v, reads it back, and checks the tree is the same; returns the YAML for more checks (caller frees). */
static char *roundtrip(const cJSON *v)
{
    char *text = yaml_emit(v);
    assert_non_null(text);
    struct yaml_stream s;
    int rc = yaml_stream_parse(text, strlen(text), "emitted", &s, err, sizeof err);
    if (rc)
        print_error("emitted YAML does not parse: %s\n%s", err, text);
    assert_int_equal(rc, 0);
    assert_int_equal(s.count, 1);
    if (!json_equal(v, s.docs[0].value)) {
        char *a = json_print_sorted(v), *b = json_print_sorted(s.docs[0].value);
        print_error("round trip changed the tree:\n%s\nYAML:\n%s\nread back:\n%s\n", a, text, b);
        free(a);
        free(b);
    }
    assert_true(json_equal(v, s.docs[0].value));
    yaml_stream_free(&s);
    return text;
}

/* The YAML for {"v": s}. */
static char *emit_value_string(const char *s)
{
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "v", s);
    char *text = roundtrip(v);
    cJSON_Delete(v);
    return text;
}

static void assert_emits(const char *s, const char *want)
{
    char *text = emit_value_string(s);
    assert_string_equal(text, want);
    free(text);
}

static void assert_emits_double_quoted(const char *s)
{
    char *text = emit_value_string(s);
    if (strncmp(text, "v: \"", 4) != 0)
        print_error("%s was not double-quoted: %s", s, text);
    assert_true(strncmp(text, "v: \"", 4) == 0);
    free(text);
}

/* ---- reader: typing ---- */

static void test_parse_types_plain_scalars_like_kubernetes(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"null", "null"},      {"Null", "null"},     {"NULL", "null"},       {"~", "null"},
        {"", "null"},          {"true", "true"},     {"True", "true"},       {"TRUE", "true"},
        {"false", "false"},    {"False", "false"},   {"FALSE", "false"},     {"0", "0"},
        {"-0", "0"},           {"+1", "1"},          {"42", "42"},           {"-17", "-17"},
        {"1.5", "1.5"},        {"1e3", "1000"},      {"1E3", "1000"},        {"-1.5e-3", "-0.0015"},
        {".5", "0.5"},         {"-.5", "-0.5"},      {"1.", "1"},            {"6.02e+23", "6.02e23"},
        {"abc", "\"abc\""},    {"yess", "\"yess\""}, {"TRUE1", "\"TRUE1\""}, {"nan", "\"nan\""},
        {"inf", "\"inf\""},    {".Nan", "\".Nan\""}, {"0x", "\"0x\""},       {"0xG", "\"0xG\""},
        {"1e", "\"1e\""},      {"1e400", "\"1e400\""}, {"2001-12-14", "\"2001-12-14\""},
        {"1:30", "\"1:30\""},  {"v2_2", "\"v2_2\""}, {"2048m", "\"2048m\""}, {"_1", "\"_1\""},
        {"flink:2.2", "\"flink:2.2\""}, {"1.2.3", "\"1.2.3\""}, {"0o8", "\"0o8\""},
        /* After a leading '.', Go's ParseFloat takes underscores only between digits. */
        {".5_0", "0.5"},       {".5e1_0", "5e9"},   {".5__0", "\".5__0\""}, {"._5", "\"._5\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[128], want[128];
        snprintf(yaml, sizeof yaml, "v: %s\n", cases[i][0]);
        snprintf(want, sizeof want, "{\"v\": %s}", cases[i][1]);
        assert_yaml_is(yaml, want);
    }
}

static void test_parse_treats_yaml11_yes_no_on_off_y_n_as_bools(void **state)
{
    (void)state;
    assert_yaml_is("[yes, Yes, YES, on, On, ON, y, Y]", "[true, true, true, true, true, true, true, true]");
    assert_yaml_is("[no, No, NO, off, Off, OFF, n, N]", "[false, false, false, false, false, false, false, false]");
    assert_yaml_is("[yEs, oN, nO]", "[\"yEs\", \"oN\", \"nO\"]");
}

static void test_parse_reads_octal_hex_binary_and_underscores_as_integers(void **state)
{
    (void)state;
    assert_yaml_is("[0755, 0o17, 0O17, 0x1F, 0X1f, -0x10, +0x10, 0b101, -0b11, 1_000, 1__0, 0_7]",
                   "[493, 15, 15, 31, 31, -16, 16, 5, -3, 1000, 10, 7]");
    /* Go reads 08 as a malformed octal, then go-yaml takes it as the float 8; 1_000.5 loses its underscore too. */
    assert_yaml_is("[08, 09.5, 1_000.5]", "[8, 9.5, 1000.5]");
}

static void test_parse_reads_float_specials(void **state)
{
    (void)state;
    cJSON *v = parse_doc("[.inf, .Inf, .INF, +.inf, -.inf, -.INF, .nan, .NaN, .NAN]");
    double want[] = {INFINITY, INFINITY, INFINITY, INFINITY, -INFINITY, -INFINITY, NAN, NAN, NAN};
    for (int i = 0; i < 9; i++) {
        cJSON *n = cJSON_GetArrayItem(v, i);
        assert_true(cJSON_IsNumber(n));
        if (isnan(want[i]))
            assert_true(isnan(n->valuedouble));
        else
            assert_true(n->valuedouble == want[i]);
    }
    cJSON_Delete(v);
}

static void test_parse_keeps_quoted_true_as_string(void **state)
{
    (void)state;
    assert_yaml_is("a: \"true\"\nb: 'yes'\nc: \"1\"\nd: 'null'\ne: \"\"\nf: '0755'\ng: \"~\"\n",
                   "{\"a\":\"true\",\"b\":\"yes\",\"c\":\"1\",\"d\":\"null\",\"e\":\"\",\"f\":\"0755\",\"g\":\"~\"}");
}

static void test_parse_str_tag_keeps_string(void **state)
{
    (void)state;
    assert_yaml_is("a: !!str 5\nb: !!str true\nc: !!str\nd: ! 12\ne: !custom 7\n",
                   "{\"a\":\"5\",\"b\":\"true\",\"c\":\"\",\"d\":\"12\",\"e\":\"7\"}");
}

static void test_parse_core_tags_type_quoted_text(void **state)
{
    (void)state;
    assert_yaml_is("a: !!int \"5\"\nb: !!float '1.5'\nc: !!bool \"yes\"\nd: !!null ''\n",
                   "{\"a\":5,\"b\":1.5,\"c\":true,\"d\":null}");
}

static void test_parse_core_tag_that_does_not_fit_is_an_error(void **state)
{
    (void)state;
    assert_string_equal(parse_error("a: !!int abc\n", 13), "t.yaml:1:4: \"abc\" is not a valid !!int");
    assert_non_null(strstr(parse_error("a: !!binary aGk=\n", 17), "t.yaml:1:4: !!binary"));
}

static void test_parse_block_literals_are_strings(void **state)
{
    (void)state;
    assert_yaml_is("a: |\n  123\nb: >-\n  true\nc: |-\n  null\nd: >\n  folded\n  text\n",
                   "{\"a\":\"123\\n\",\"b\":\"true\",\"c\":\"null\",\"d\":\"folded text\\n\"}");
}

static void test_parse_accepts_integers_a_double_holds_exactly(void **state)
{
    (void)state;
    cJSON *v = parse_doc("[9007199254740992, -9007199254740992, 9007199254740991, 0x20000000000000, 9007199254740994, "
                         "18014398509481984, 100000000000000000000]");
    static const double want[] = {9007199254740992.0, -9007199254740992.0, 9007199254740991.0, 9007199254740992.0,
                                  9007199254740994.0, 18014398509481984.0, 1e20};
    for (int i = 0; i < 7; i++)
        assert_true(cJSON_GetArrayItem(v, i)->valuedouble == want[i]);
    cJSON_Delete(v);
}

static void test_parse_refuses_integers_too_large_to_keep_exactly(void **state)
{
    (void)state;
    assert_string_equal(parse_error("n: 9007199254740993\n", 20),
                        "t.yaml:1:4: integer 9007199254740993 is too large to keep exactly");
    assert_string_equal(parse_error("- -9007199254740993\n", 20),
                        "t.yaml:1:3: integer -9007199254740993 is too large to keep exactly");
    const char *huge = "x:\n  n: 123456789012345678901234567890\n";
    assert_string_equal(parse_error(huge, strlen(huge)),
                        "t.yaml:2:6: integer 123456789012345678901234567890 is too large to keep exactly");
    assert_non_null(strstr(parse_error("0x20000000000001", 16), "too large"));
    /* As a float the same magnitude is fine: the text did not promise an exact integer. */
    assert_yaml_is("9.007199254740993e15", "9007199254740992");
}

static void test_parse_non_string_keys_become_their_text(void **state)
{
    (void)state;
    assert_yaml_is("1: a\ntrue: b\nnull: c\n~: d\n1.5: e\n0x10: f\nyes: g\n\"q\": h\n",
                   "{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\",\"~\":\"d\",\"1.5\":\"e\",\"0x10\":\"f\",\"yes\":\"g\","
                   "\"q\":\"h\"}");
}

static void test_parse_reads_flow_and_block_collections(void **state)
{
    (void)state;
    assert_yaml_is("a: {b: [1, {c: d}], e: []}\nf:\n- x\n- - p\n  - q\ng: {}\n",
                   "{\"a\":{\"b\":[1,{\"c\":\"d\"}],\"e\":[]},\"f\":[\"x\",[\"p\",\"q\"]],\"g\":{}}");
}

static void test_parse_keeps_unicode(void **state)
{
    (void)state;
    assert_yaml_is("k: h\xc3\xa9llo \xe2\x98\x83\n\"\\u00e9\": \"\\U0001F600\"\n",
                   "{\"k\":\"h\\u00e9llo \\u2603\",\"\\u00e9\":\"\\ud83d\\ude00\"}");
}

/* ---- reader: structure and limits ---- */

static void test_duplicate_key_is_an_error(void **state)
{
    (void)state;
    assert_string_equal(parse_error("a: 1\nb: 2\na: 3\n", 15), "t.yaml:3:1: duplicate key \"a\"");
    const char *nested = "x:\n  k: 1\n  j: 2\n  k: 2\n";
    assert_string_equal(parse_error(nested, strlen(nested)), "t.yaml:4:3: duplicate key \"k\"");
    /* 1 and "1" are the same key once keys are text. */
    assert_string_equal(parse_error("{1: a, \"1\": b}", 14), "t.yaml:1:8: duplicate key \"1\"");
}

static void test_duplicate_key_names_the_first_repeat_in_document_order(void **state)
{
    (void)state;
    const char *text = "z: 1\na: 1\nz: 2\na: 2\n";
    assert_string_equal(parse_error(text, strlen(text)), "t.yaml:3:1: duplicate key \"z\"");
}

static void test_collection_key_is_an_error(void **state)
{
    (void)state;
    assert_string_equal(parse_error("? [a]\n: 1\n", 10), "t.yaml:1:3: mapping keys must be scalars");
    assert_string_equal(parse_error("{{a: 1}: 2}", 11), "t.yaml:1:2: mapping keys must be scalars");
}

static void test_merge_key_is_refused(void **state)
{
    (void)state;
    const char *text = "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2\n";
    assert_string_equal(parse_error(text, strlen(text)), "t.yaml:3:3: merge keys (<<) are not supported");
    assert_yaml_is("\"<<\": 1", "{\"<<\":1}"); /* quoted, it is an ordinary key */
}

static void test_truncated_yaml_reports_line_and_column(void **state)
{
    (void)state;
    assert_string_equal(parse_error("a: \"unterminated\n", 17),
                        "t.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar at line 1 "
                        "column 4)");
    assert_string_equal(parse_error("k: [1, 2\n", 9),
                        "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at line 1 "
                        "column 4)");
    /* A stream cut short mid-line: only the first len bytes count, and libyaml puts the end of the stream at the
     * start of the line after the last one. */
    const char *text = "a:\n  b: [x, y]\n";
    assert_string_equal(parse_error(text, 10), "t.yaml:3:1: did not find expected ',' or ']' (while parsing a flow "
                                              "sequence at line 2 column 6)");
}

static void test_malformed_yaml_reports_line_and_column(void **state)
{
    (void)state;
    assert_string_equal(parse_error("a: 1\n b: 2\n", 11), "t.yaml:2:3: mapping values are not allowed in this context");
    assert_string_equal(parse_error("- a\nb: 1\n", 9),
                        "t.yaml:2:1: did not find expected '-' indicator (while parsing a block collection at line "
                        "1 column 1)");
    assert_non_null(strstr(parse_error("a:\n\t- b\n", 8), "t.yaml:2:1: found character that cannot start any token"));
}

static void test_invalid_utf8_reports_line_and_column(void **state)
{
    (void)state;
    assert_string_equal(parse_error("a: 1\nb: x\xff\n", 11), "t.yaml:2:5: invalid leading UTF-8 octet (byte 0xff)");
}

static void test_nul_in_string_is_refused(void **state)
{
    (void)state;
    assert_string_equal(parse_error("a: \"x\\0y\"\n", 10), "t.yaml:1:4: strings cannot hold NUL characters");
}

static void test_alias_is_deep_copied(void **state)
{
    (void)state;
    cJSON *v = parse_doc("a: &x {b: [1, 2], c: s}\nd: *x\ne: &y 5\nf: [*y, *x]\n");
    cJSON *want = json("{\"a\":{\"b\":[1,2],\"c\":\"s\"},\"d\":{\"b\":[1,2],\"c\":\"s\"},\"e\":5,"
                       "\"f\":[5,{\"b\":[1,2],\"c\":\"s\"}]}");
    assert_true(json_equal(v, want));
    /* A copy, not a shared node: changing one leaves the other alone. */
    cJSON_SetValuestring(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "d"), "c"), "changed");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "a"), "c")->valuestring, "s");
    cJSON_Delete(want);
    cJSON_Delete(v);
}

static void test_alias_refers_to_the_latest_anchor_of_that_name(void **state)
{
    (void)state;
    assert_yaml_is("a: &x 1\nb: *x\nc: &x 2\nd: *x\n", "{\"a\":1,\"b\":1,\"c\":2,\"d\":2}");
}

static void test_unknown_alias_is_an_error(void **state)
{
    (void)state;
    assert_string_equal(parse_error("a: *nope\n", 9), "t.yaml:1:4: unknown alias *nope");
    /* Anchors do not cross documents. */
    assert_string_equal(parse_error("a: &x 1\n---\nb: *x\n", 18), "t.yaml:3:4: unknown alias *x");
}

static void test_alias_bomb_is_refused(void **state)
{
    (void)state;
    const char *bomb = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n"
                       "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                       "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                       "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                       "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                       "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                       "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                       "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
                       "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    const char *msg = parse_error(bomb, strlen(bomb));
    assert_non_null(strstr(msg, "more than 1000000 nodes"));
    assert_true(strncmp(msg, "t.yaml:", 7) == 0);
}

/* "[" repeated n times, then "]" n times: n levels of nesting. */
static char *nested_lists(int n, const char *middle)
{
    size_t len = 2 * (size_t)n + strlen(middle) + 1;
    char *s = malloc(len);
    assert_non_null(s);
    memset(s, '[', (size_t)n);
    strcpy(s + n, middle);
    memset(s + n + strlen(middle), ']', (size_t)n);
    s[len - 1] = '\0';
    return s;
}

static void test_deep_nesting_is_refused(void **state)
{
    (void)state;
    char *deep = nested_lists(5000, "");
    assert_non_null(strstr(parse_error(deep, strlen(deep)), "nested deeper than 1000 levels"));
    free(deep);
    char *ok = nested_lists(999, "1");
    cJSON *v = parse_doc(ok);
    cJSON_Delete(v);
    free(ok);
}

static void test_alias_cannot_nest_past_the_depth_limit(void **state)
{
    (void)state;
    char *inner = nested_lists(600, "1"), *outer = nested_lists(600, "*a");
    size_t len = strlen(inner) + strlen(outer) + 32;
    char *text = malloc(len);
    assert_non_null(text);
    snprintf(text, len, "a: &a %s\nb: %s\n", inner, outer);
    assert_non_null(strstr(parse_error(text, strlen(text)), "alias *a nests deeper than 1000 levels"));
    free(text);
    free(inner);
    free(outer);
}

/* ---- reader: streams and files ---- */

static void test_multi_document_stream_keeps_line_numbers(void **state)
{
    (void)state;
    const char *text = "# comment\n"
                       "a: 1\n"
                       "---\n"
                       "b: 2\n"
                       "---\n"
                       "---\n"
                       "# only a comment\n"
                       "---\n"
                       "\n"
                       "c:\n"
                       "  - 3\n"
                       "--- [4]\n";
    struct yaml_stream s;
    assert_int_equal(yaml_stream_parse(text, strlen(text), "m.yaml", &s, err, sizeof err), 0);
    assert_int_equal(s.count, 4);
    assert_int_equal(s.docs[0].line, 2);
    assert_int_equal(s.docs[1].line, 4);
    assert_int_equal(s.docs[2].line, 10);
    assert_int_equal(s.docs[3].line, 12);
    cJSON *want = json("{\"c\":[3]}");
    assert_true(json_equal(s.docs[2].value, want));
    cJSON_Delete(want);
    yaml_stream_free(&s);
    assert_int_equal(s.count, 0);
    yaml_stream_free(&s); /* freeing twice is harmless */
}

static void test_error_in_a_later_document_names_its_line(void **state)
{
    (void)state;
    const char *text = "a: 1\n---\nb: 2\n---\nc: 3\nc: 4\n";
    assert_string_equal(parse_error(text, strlen(text)), "t.yaml:6:1: duplicate key \"c\"");
}

static void test_empty_documents_are_skipped(void **state)
{
    (void)state;
    const char *texts[] = {"", "# nothing\n", "---\n", "---\n---\n...\n", "null\n", "--- ~\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct yaml_stream s;
        assert_int_equal(yaml_stream_parse(texts[i], strlen(texts[i]), "e.yaml", &s, err, sizeof err), 0);
        assert_int_equal(s.count, 0);
        yaml_stream_free(&s);
    }
}

static void test_parse_does_not_need_a_terminating_nul(void **state)
{
    (void)state;
    const char text[] = {'a', ':', ' ', '1', '2'}; /* "a: 12" with no NUL; a length of 4 means "a: 1" */
    struct yaml_stream s;
    assert_int_equal(yaml_stream_parse(text, 4, "n.yaml", &s, err, sizeof err), 0);
    cJSON *want = json("{\"a\":1}");
    assert_true(json_equal(s.docs[0].value, want));
    cJSON_Delete(want);
    yaml_stream_free(&s);
}

static void test_error_message_is_truncated_to_the_buffer(void **state)
{
    (void)state;
    struct yaml_stream s;
    char small[12];
    assert_int_equal(yaml_stream_parse("a: 1\na: 2\n", 10, "t.yaml", &s, small, sizeof small), -1);
    assert_string_equal(small, "t.yaml:2:1:");
}

static void test_read_file_reports_path_and_strerror(void **state)
{
    (void)state;
    struct yaml_stream s;
    assert_int_equal(yaml_stream_read_file("/nonexistent/flinkop.yaml", &s, err, sizeof err), -1);
    assert_string_equal(err, "/nonexistent/flinkop.yaml: cannot read: No such file or directory");
    assert_int_equal(yaml_stream_read_file("tests/unit", &s, err, sizeof err), -1);
    assert_string_equal(err, "tests/unit: cannot read: Is a directory");
}

static void test_read_file_names_the_file_in_parse_errors(void **state)
{
    (void)state;
    char path[] = "/tmp/flinkop-yaml-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("a: 1\nb: [\n", f);
    fclose(f);
    struct yaml_stream s;
    assert_int_equal(yaml_stream_read_file(path, &s, err, sizeof err), -1);
    assert_true(strncmp(err, path, strlen(path)) == 0);
    assert_true(strncmp(err + strlen(path), ":3:1: ", 6) == 0);
    remove(path);
}

static void test_read_file_reads_stdin_when_path_is_dash(void **state)
{
    (void)state;
    char path[] = "/tmp/flinkop-yaml-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("a: 1\n---\nb: x: y\n", f);
    fclose(f);
    assert_non_null(freopen(path, "r", stdin));
    struct yaml_stream s;
    assert_int_equal(yaml_stream_read_file("-", &s, err, sizeof err), -1);
    assert_string_equal(err, "<stdin>:3:5: mapping values are not allowed in this context");
    remove(path);
}

/* ---- writer ---- */

static void test_emit_quotes_strings_that_look_like_numbers(void **state)
{
    (void)state;
    const char *cases[] = {"1",  "0",      "-1",    "+1",    "1.5",   "0755",       "08",   "1_000", "0x1F",
                           "0o17", "0b101", ".5",   "1e3",   "1E3",   "1e400",      "-.5",  "1.",    "9007199254740993",
                           "2001-12-14", "2001-12-14T21:59:43.10-05:00", "1:30", "0x", "1_2:3", ".inf", "-.inf",
                           ".nan", ".NaN", "+.INF"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_emits_double_quoted(cases[i]);
    assert_emits("0755", "v: \"0755\"\n");
}

static void test_emit_quotes_bool_and_null_words(void **state)
{
    (void)state;
    const char *cases[] = {"true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES", "no",
                           "No",   "NO",   "on",   "On",    "ON",    "off",   "Off", "OFF", "y",   "Y",
                           "n",    "N",    "null", "Null",  "NULL",  "~",     ""};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_emits_double_quoted(cases[i]);
    assert_emits("", "v: \"\"\n");
    assert_emits("yes", "v: \"yes\"\n");
}

static void test_emit_quotes_strings_with_yaml_syntax(void **state)
{
    (void)state;
    const char *cases[] = {" lead", "trail ", "\tx", "x\t", "a: b", "a #b", "a:\tb", "a:",  "-a",   "- a", "?a",
                           "? a",   ":a",     ",a",  "[a",  "]a",   "{a",   "}a",    "#a",  "&a",   "*a",  "!a",
                           "|a",    ">a",     "'a",  "\"a", "%a",   "@a",   "`a",    "<<",  "=",    "---", "-"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_emits_double_quoted(cases[i]);
}

static void test_emit_keeps_ordinary_strings_plain(void **state)
{
    (void)state;
    const char *cases[] = {"hello", "flink:2.2", "local:///opt/flink/examples/streaming/StateMachineExample.jar",
                           "v2_2", "2048m", "a b c", "stateless", "a-b", "a.b", "FlinkDeployment", "yess", "nan",
                           "h\xc3\xa9llo \xe2\x98\x83", "a'b", "a\"b", "100%", "x#y", "a:b"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[256];
        snprintf(want, sizeof want, "v: %s\n", cases[i]);
        assert_emits(cases[i], want);
    }
}

static void test_emit_uses_literal_blocks_for_multiline_strings(void **state)
{
    (void)state;
    assert_emits("a\nb\n", "v: |\n  a\n  b\n");
    assert_emits("a\nb", "v: |-\n  a\n  b\n");
    assert_emits("key: 1\n# not a comment\n", "v: |\n  key: 1\n  # not a comment\n");
    /* Where a block would not keep the text exactly, double quotes do. */
    assert_emits("a \nb", "v: \"a \\nb\"\n");
    assert_emits(" a\nb", "v: \" a\\nb\"\n");
    assert_emits("\na", "v: \"\\na\"\n");
    assert_emits("a\r\nb", "v: \"a\\r\\nb\"\n");
}

static void test_emit_never_folds_long_strings(void **state)
{
    (void)state;
    char longs[4001];
    for (int i = 0; i < 4000; i++)
        longs[i] = i % 7 == 6 ? ' ' : 'a' + i % 26;
    longs[4000] = '\0';
    char *text = emit_value_string(longs);
    assert_int_equal(strchr(text, '\n') - text, (long)strlen(text) - 1); /* one line */
    free(text);
}

static void test_emit_sorts_keys(void **state)
{
    (void)state;
    cJSON *v = json("{\"b\":2,\"a\":{\"z\":1,\"x\":2},\"C\":3}");
    char *text = roundtrip(v);
    assert_string_equal(text, "C: 3\na:\n  x: 2\n  z: 1\nb: 2\n");
    free(text);
    cJSON_Delete(v);
}

static void test_emit_writes_block_style_that_kubectl_reads(void **state)
{
    (void)state;
    cJSON *v = json("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\",\"labels\":{\"app\":"
                    "\"true\"}},\"data\":{\"n\":\"1\",\"conf\":\"a: 1\\nb: 2\\n\"},\"list\":[{\"a\":1,\"b\":[]},[1,2],"
                    "{}]}");
    char *text = roundtrip(v);
    assert_string_equal(text, "apiVersion: v1\n"
                              "data:\n"
                              "  conf: |\n"
                              "    a: 1\n"
                              "    b: 2\n"
                              "  \"n\": \"1\"\n"
                              "kind: ConfigMap\n"
                              "list:\n"
                              "- a: 1\n"
                              "  b: []\n"
                              "- - 1\n"
                              "  - 2\n"
                              "- {}\n"
                              "metadata:\n"
                              "  labels:\n"
                              "    app: \"true\"\n"
                              "  name: x\n");
    free(text);
    cJSON_Delete(v);
}

static void test_emit_empty_containers_in_flow_style(void **state)
{
    (void)state;
    cJSON *v = json("{\"o\":{},\"a\":[]}");
    char *text = roundtrip(v);
    assert_string_equal(text, "a: []\no: {}\n");
    free(text);
    cJSON_Delete(v);
}

static void test_emit_prints_numbers_with_json_number_format(void **state)
{
    (void)state;
    cJSON *v = json("[1e15, 0.1, -2.5, 1e300, 9007199254740991, 0, -0.0]");
    char *text = roundtrip(v);
    assert_string_equal(text, "- 1000000000000000\n- 0.1\n- -2.5\n- 1e+300\n- 9007199254740991\n- 0\n- 0\n");
    free(text);
    cJSON_Delete(v);
}

static void test_emit_prints_nonfinite_numbers_as_yaml_specials(void **state)
{
    (void)state;
    cJSON *v = cJSON_CreateArray();
    cJSON_AddItemToArray(v, cJSON_CreateNumber(NAN));
    cJSON_AddItemToArray(v, cJSON_CreateNumber(INFINITY));
    cJSON_AddItemToArray(v, cJSON_CreateNumber(-INFINITY));
    char *text = roundtrip(v);
    assert_string_equal(text, "- .nan\n- .inf\n- -.inf\n");
    free(text);
    cJSON_Delete(v);
}

static void test_emit_prints_scalars_and_null(void **state)
{
    (void)state;
    cJSON *v = json("{\"t\":true,\"f\":false,\"n\":null}");
    char *text = roundtrip(v);
    assert_string_equal(text, "f: false\n\"n\": null\nt: true\n");
    free(text);
    cJSON_Delete(v);
    text = yaml_emit(NULL);
    assert_string_equal(text, "null\n");
    free(text);
    v = cJSON_CreateString("top");
    text = roundtrip(v);
    assert_string_equal(text, "top\n");
    free(text);
    cJSON_Delete(v);
}

static void test_emit_refuses_what_yaml_cannot_hold(void **state)
{
    (void)state;
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "bad", "\xff\xfe");
    assert_null(yaml_emit(v)); /* not UTF-8 */
    cJSON_Delete(v);
    v = cJSON_CreateObject();
    cJSON_AddNumberToObject(v, "k", 1);
    cJSON_AddNumberToObject(v, "k", 2);
    assert_null(yaml_emit(v)); /* no reader would take a repeated key back */
    cJSON_Delete(v);
    v = cJSON_CreateRaw("{}");
    assert_null(yaml_emit(v));
    cJSON_Delete(v);
}

/* ---- round trips ---- */

static const char *const tricky[] = {
    "", " ", "  ", "\t", "true", "True", "TRUE", "false", "yes", "no", "on", "off", "y", "n", "Y", "N", "null", "Null",
    "~", "0", "00", "0755", "08", "1_000", "0x1F", "0o17", "0b1", ".5", "+1", "-1", "1e3", "1.", "1.5", ".inf",
    "-.inf", ".nan", "1e400", "9007199254740993", "2001-12-14", "1:30", " lead", "trail ", "a: b", "a #b", "a:", "#",
    "-", "--", "---", "...", "- x", "? x", ":x", ",", "[]", "{}", "[a]", "{a: 1}", "&a", "*a", "!a", "!!str", "|", ">",
    "'", "''", "\"", "\"\"", "%TAG", "@x", "`x", "<<", "=", "\\", "\\n", "a\\b", "line\nbreak", "trailing\n",
    "two\n\n", "\n", "\n\n", "\nlead", "cr\rhere", "crlf\r\n", "tab\tin", "\ttab", "a \nb", "bell\x07", "del\x7f",
    "esc\x1b[0m", "h\xc3\xa9llo", "\xe2\x98\x83", "\xf0\x9f\x98\x80", "nel\xc2\x85x", "ls\xe2\x80\xa8x",
    "ps\xe2\x80\xa9x", "bom\xef\xbb\xbfx", "nbsp\xc2\xa0", "\xc2\xa0lead", "x: |\n  y\n", "{{name}}.{{namespace}}",
    "/{{namespace}}/{{name}}(/|$)(.*)", "-Dlog.file=/opt/flink/log/webhook.log -Xms256m", "%d{yyyy-MM-dd} %-5p",
    "${sys:log.file}", "a,b", "a]b", "a}b", "http://x:80/#frag", "k8s.io/a: b", "'quoted'", "\"dq\"",
};

static void test_roundtrip_of_tricky_strings(void **state)
{
    (void)state;
    size_t n = sizeof tricky / sizeof tricky[0];
    for (size_t i = 0; i < n; i++) { /* alone, so a failure names its string */
        char *text = emit_value_string(tricky[i]);
        free(text);
    }
    cJSON *obj = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON_AddStringToObject(obj, tricky[i], tricky[i]); /* as keys too */
        cJSON_AddItemToArray(arr, cJSON_CreateString(tricky[i]));
    }
    cJSON_AddItemToObject(obj, "list of all", arr);
    char *text = roundtrip(obj);
    free(text);
    cJSON_Delete(obj);
}

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static void test_roundtrip_of_random_strings(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        " ", "\t", "\n", "\r", ":", "#", "-", "?", "\"", "'", "\\", "0", "1", "9", "_", ".", "e", "x", "o", "y",
        "n", "~", "[", "]", "{", "}", ",", "&", "*", "!", "|", ">", "%", "@", "`", "<", "=", "a", "Z", "\xc3\xa9",
        "\xe2\x98\x83", "\xe2\x80\xa8", "\xc2\x85", "\x01", "true", "null", "---", "...", ": ", " #", "0x", "e3",
    };
    uint64_t seed = 42;
    cJSON *obj = cJSON_CreateObject();
    for (int i = 0; i < 20000; i++) {
        char s[128] = "";
        int len = (int)(next_random(&seed) % 10);
        for (int j = 0; j < len; j++)
            strcat(s, pieces[next_random(&seed) % (sizeof pieces / sizeof pieces[0])]);
        cJSON *v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, s, s);
        char *text = roundtrip(v);
        free(text);
        cJSON_Delete(v);
        if (!cJSON_GetObjectItemCaseSensitive(obj, s))
            cJSON_AddItemToObject(obj, s, cJSON_CreateString(s));
    }
    char *text = roundtrip(obj); /* and all at once, in one sorted mapping */
    free(text);
    cJSON_Delete(obj);
}

static void test_roundtrip_of_numbers(void **state)
{
    (void)state;
    static const double fixed[] = {0, 1, -1, 0.5, 0.1, 1e15, 1e16, 9007199254740991.0, 9007199254740992.0,
                                   -9007199254740992.0, 1e300, -1e-300, 5e-324, 1.7976931348623157e308,
                                   2.2250738585072014e-308, 123456.789, 1e21, 3.14159};
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(fixed[i]));
    uint64_t seed = 7;
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = next_random(&seed);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (i % 2)
            d = (double)(int64_t)(bits >> 11) - 4503599627370496.0; /* integers within ±2^53 */
        if (isfinite(d))
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(d));
    }
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(NAN));
    cJSON_AddItemToArray(arr, cJSON_CreateNumber(-INFINITY));
    char *text = roundtrip(arr);
    free(text);
    cJSON_Delete(arr);
}

static void test_roundtrip_of_long_and_unusual_keys(void **state)
{
    (void)state;
    char longkey[300];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    cJSON *v = cJSON_CreateObject();
    cJSON_AddNumberToObject(v, longkey, 1); /* past libyaml's 128-character simple-key limit */
    cJSON_AddNumberToObject(v, "multi\nline key", 2);
    cJSON_AddNumberToObject(v, "", 3);
    cJSON_AddItemToObject(v, "nested", json("{\"a\":[{\"b\":{\"c\":[[[\"deep\"]]]}}]}"));
    char *text = roundtrip(v);
    free(text);
    cJSON_Delete(v);
}

/* Every upstream example parses, and each document survives emit and re-parse unchanged. */
static void test_roundtrip_of_upstream_examples(void **state)
{
    (void)state;
    static const char *const files[] = {
        "advanced-ingress.yaml", "autoscaling/autoscaling-dynamic.yaml", "autoscaling/autoscaling.yaml",
        "basic-checkpoint-ha.yaml", "basic-ingress.yaml", "basic-reactive.yaml",
        "basic-session-deployment-and-job.yaml", "basic-session-deployment-only.yaml",
        "basic-session-job-only.yaml", "basic.yaml", "canary.yaml", "custom-logging.yaml",
        "flink-beam-example/beam-example.yaml", "flink-python-example/python-example.yaml",
        "flink-sql-runner-example/sql-example.yaml", "flink-tls-example/basic-secure-deployment-only.yaml",
        "flink-tls-example/basic-secure-session-job-only.yaml", "flink-tls-example/basic-secure.yaml",
        "flink-tls-example/pre-install.yaml", "hpa/basic-hpa.yaml", "kustomize/conf-override/flink-conf.yaml",
        "kustomize/conf-override/kustomization.yaml", "kustomize/conf-override/patch.yaml",
        "kustomize/sidecar/kustomization.yaml", "kustomize/sidecar/patch.yaml", "kustomize/sidecar/values.yaml",
        "pod-template.yaml", "snapshot/checkpoint.yaml", "snapshot/job-from-savepoint.yaml",
        "snapshot/savepoint-already-exists.yaml", "snapshot/savepoint-job-defaults.yaml",
        "snapshot/savepoint-job-full-spec.yaml",
    };
    size_t docs = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, EXAMPLES "%s", files[i]);
        struct yaml_stream s;
        int rc = yaml_stream_read_file(path, &s, err, sizeof err);
        if (rc)
            print_error("%s\n", err);
        assert_int_equal(rc, 0);
        assert_true(s.count >= 1);
        for (size_t d = 0; d < s.count; d++) {
            char *text = roundtrip(s.docs[d].value);
            free(text);
        }
        docs += s.count;
        yaml_stream_free(&s);
    }
    assert_true(docs >= 32);
}

static void test_upstream_basic_example_reads_as_kubectl_reads_it(void **state)
{
    (void)state;
    struct yaml_stream s;
    assert_int_equal(yaml_stream_read_file(EXAMPLES "basic.yaml", &s, err, sizeof err), 0);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.docs[0].line, 19); /* after the licence header */
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(s.docs[0].value, "spec");
    const cJSON *slots = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "flinkConfiguration"),
                                                          "taskmanager.numberOfTaskSlots");
    assert_true(cJSON_IsNumber(slots) && slots->valuedouble == 2);
    const cJSON *job = cJSON_GetObjectItemCaseSensitive(spec, "job");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(job, "upgradeMode")->valuestring, "stateless");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(spec, "image")->valuestring, "flink:2.2");
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(spec, "jobManager"), "resources"), "requests");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(req, "cpu")->valuestring, "1"); /* quoted in the file */
    yaml_stream_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_types_plain_scalars_like_kubernetes),
        cmocka_unit_test(test_parse_treats_yaml11_yes_no_on_off_y_n_as_bools),
        cmocka_unit_test(test_parse_reads_octal_hex_binary_and_underscores_as_integers),
        cmocka_unit_test(test_parse_reads_float_specials),
        cmocka_unit_test(test_parse_keeps_quoted_true_as_string),
        cmocka_unit_test(test_parse_str_tag_keeps_string),
        cmocka_unit_test(test_parse_core_tags_type_quoted_text),
        cmocka_unit_test(test_parse_core_tag_that_does_not_fit_is_an_error),
        cmocka_unit_test(test_parse_block_literals_are_strings),
        cmocka_unit_test(test_parse_accepts_integers_a_double_holds_exactly),
        cmocka_unit_test(test_parse_refuses_integers_too_large_to_keep_exactly),
        cmocka_unit_test(test_parse_non_string_keys_become_their_text),
        cmocka_unit_test(test_parse_reads_flow_and_block_collections),
        cmocka_unit_test(test_parse_keeps_unicode),
        cmocka_unit_test(test_duplicate_key_is_an_error),
        cmocka_unit_test(test_duplicate_key_names_the_first_repeat_in_document_order),
        cmocka_unit_test(test_collection_key_is_an_error),
        cmocka_unit_test(test_merge_key_is_refused),
        cmocka_unit_test(test_truncated_yaml_reports_line_and_column),
        cmocka_unit_test(test_malformed_yaml_reports_line_and_column),
        cmocka_unit_test(test_invalid_utf8_reports_line_and_column),
        cmocka_unit_test(test_nul_in_string_is_refused),
        cmocka_unit_test(test_alias_is_deep_copied),
        cmocka_unit_test(test_alias_refers_to_the_latest_anchor_of_that_name),
        cmocka_unit_test(test_unknown_alias_is_an_error),
        cmocka_unit_test(test_alias_bomb_is_refused),
        cmocka_unit_test(test_deep_nesting_is_refused),
        cmocka_unit_test(test_alias_cannot_nest_past_the_depth_limit),
        cmocka_unit_test(test_multi_document_stream_keeps_line_numbers),
        cmocka_unit_test(test_error_in_a_later_document_names_its_line),
        cmocka_unit_test(test_empty_documents_are_skipped),
        cmocka_unit_test(test_parse_does_not_need_a_terminating_nul),
        cmocka_unit_test(test_error_message_is_truncated_to_the_buffer),
        cmocka_unit_test(test_read_file_reports_path_and_strerror),
        cmocka_unit_test(test_read_file_names_the_file_in_parse_errors),
        cmocka_unit_test(test_read_file_reads_stdin_when_path_is_dash),
        cmocka_unit_test(test_emit_quotes_strings_that_look_like_numbers),
        cmocka_unit_test(test_emit_quotes_bool_and_null_words),
        cmocka_unit_test(test_emit_quotes_strings_with_yaml_syntax),
        cmocka_unit_test(test_emit_keeps_ordinary_strings_plain),
        cmocka_unit_test(test_emit_uses_literal_blocks_for_multiline_strings),
        cmocka_unit_test(test_emit_never_folds_long_strings),
        cmocka_unit_test(test_emit_sorts_keys),
        cmocka_unit_test(test_emit_writes_block_style_that_kubectl_reads),
        cmocka_unit_test(test_emit_empty_containers_in_flow_style),
        cmocka_unit_test(test_emit_prints_numbers_with_json_number_format),
        cmocka_unit_test(test_emit_prints_nonfinite_numbers_as_yaml_specials),
        cmocka_unit_test(test_emit_prints_scalars_and_null),
        cmocka_unit_test(test_emit_refuses_what_yaml_cannot_hold),
        cmocka_unit_test(test_roundtrip_of_tricky_strings),
        cmocka_unit_test(test_roundtrip_of_random_strings),
        cmocka_unit_test(test_roundtrip_of_numbers),
        cmocka_unit_test(test_roundtrip_of_long_and_unusual_keys),
        cmocka_unit_test(test_roundtrip_of_upstream_examples),
        cmocka_unit_test(test_upstream_basic_example_reads_as_kubectl_reads_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
