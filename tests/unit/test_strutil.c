/* strutil's growable byte buffer: what it holds after appends, who owns the bytes, and how it fails. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

/* A temporary file holding `n` bytes of `byte`, rewound for reading. */
static FILE *file_of(size_t n, char byte)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(fputc(byte, f), EOF);
    rewind(f);
    return f;
}

/* What a freed or taken buffer promises: it owns nothing and starts over on the next append. */
static void assert_empty(const struct strbuf *b)
{
    assert_null(b->data);
    assert_int_equal(b->len, 0);
    assert_int_equal(b->cap, 0);
    assert_false(b->failed);
}

static void test_strbuf_keeps_every_byte_and_the_nul_across_growth(void **state)
{
    (void)state;
    struct strbuf b = {0};
    char want[10000];
    size_t n = 0;
    for (int i = 0; n + 7 <= sizeof want; i++) {
        /* Pieces of 1 to 7 bytes, NUL bytes among them: the buffer is for bytes, not only for C strings. */
        char piece[7];
        size_t len = (size_t)(i % 7) + 1;
        for (size_t j = 0; j < len; j++)
            piece[j] = (char)((i + (int)j) % 5 == 0 ? '\0' : 'a' + (i + (int)j) % 26);
        assert_int_equal(strbuf_append(&b, piece, len), 0);
        memcpy(want + n, piece, len);
        n += len;
        assert_int_equal(b.len, n);
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_true(b.cap > b.len);
    assert_memory_equal(b.data, want, n);
    strbuf_free(&b);
    assert_empty(&b);
}

static void test_strbuf_appendf_formats_text_longer_than_the_first_allocation(void **state)
{
    (void)state;
    struct strbuf b = {0};
    char want[1200];
    assert_int_equal(strbuf_appends(&b, "x="), 0);
    assert_int_equal(strbuf_appendf(&b, "%0*d|%s", 1000, 42, "end"), 0);
    snprintf(want, sizeof want, "x=%0*d|%s", 1000, 42, "end");
    assert_string_equal(b.data, want);
    assert_int_equal(b.len, strlen(want));
    strbuf_free(&b);
}

static void test_strbuf_take_hands_the_string_over_and_leaves_the_buffer_empty(void **state)
{
    (void)state;
    struct strbuf b = {0};
    size_t len = 99;
    char *s = strbuf_take(&b, &len);
    assert_string_equal(s, ""); /* nothing appended is still a string, never NULL */
    assert_int_equal(len, 0);
    free(s);

    assert_int_equal(strbuf_appends(&b, "first"), 0);
    s = strbuf_take(&b, &len);
    assert_string_equal(s, "first");
    assert_int_equal(len, 5);
    assert_empty(&b);
    assert_int_equal(strbuf_appends(&b, "second"), 0); /* reusable after take */
    assert_string_equal(b.data, "second");
    assert_string_equal(s, "first"); /* the taken bytes are the caller's, untouched by later appends */
    free(s);
    strbuf_free(&b);
}

static void test_strbuf_failure_latches_and_take_returns_null(void **state)
{
    (void)state;
    struct strbuf b = {0};
    assert_int_equal(strbuf_appends(&b, "kept"), 0);
    /* More than any allocation can hold: refused without touching what is there. */
    assert_int_equal(strbuf_append(&b, "x", SIZE_MAX - 2), -1);
    assert_true(b.failed);
    assert_int_equal(b.len, 4);
    assert_string_equal(b.data, "kept");
    assert_int_equal(strbuf_appends(&b, "more"), -1);
    assert_int_equal(strbuf_appendf(&b, "%d", 1), -1);
    assert_int_equal(b.len, 4);
    assert_null(strbuf_take(&b, NULL));
    assert_empty(&b); /* take frees the spoilt bytes and leaves the buffer reusable */
    assert_int_equal(strbuf_appends(&b, "again"), 0);
    assert_string_equal(b.data, "again");
    strbuf_free(&b);
}

static void test_strbuf_read_takes_a_file_of_exactly_max_bytes(void **state)
{
    (void)state;
    struct strbuf b = {0};
    FILE *f = file_of(100000, 'z');
    assert_int_equal(strbuf_read(&b, f, 100000), 0);
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.data[99999], 'z');
    assert_int_equal(b.data[100000], '\0');
    fclose(f);
    strbuf_free(&b);

    f = file_of(0, 'z');
    assert_int_equal(strbuf_read(&b, f, 100000), 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    fclose(f);
    strbuf_free(&b);
}

/* Reads f (then closes it) and checks the read fails with want_errno, having read at most one byte past max. */
static void assert_read_fails(FILE *f, size_t max, int want_errno)
{
    struct strbuf b = {0};
    assert_non_null(f);
    errno = 0;
    assert_int_equal(strbuf_read(&b, f, max), -1);
    assert_int_equal(errno, want_errno);
    assert_true(b.len <= max + 1);
    fclose(f);
    strbuf_free_secret(&b);
    assert_empty(&b);
}

static void test_strbuf_read_refuses_one_byte_over_max(void **state)
{
    (void)state;
    assert_read_fails(file_of(100001, 'z'), 100000, EFBIG);
}

static void test_strbuf_read_appends_after_what_the_buffer_holds(void **state)
{
    (void)state;
    struct strbuf b = {0};
    FILE *f = file_of(3, 'z');
    assert_int_equal(strbuf_appends(&b, "ab"), 0);
    assert_int_equal(strbuf_read(&b, f, SIZE_MAX), 0);
    assert_string_equal(b.data, "abzzz");
    fclose(f);
    strbuf_free(&b);
}

static void test_strbuf_read_reports_the_read_error(void **state)
{
    (void)state;
    assert_read_fails(fopen("/", "rb"), 100000, EISDIR); /* opening a directory works; reading it fails */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strbuf_keeps_every_byte_and_the_nul_across_growth),
        cmocka_unit_test(test_strbuf_appendf_formats_text_longer_than_the_first_allocation),
        cmocka_unit_test(test_strbuf_take_hands_the_string_over_and_leaves_the_buffer_empty),
        cmocka_unit_test(test_strbuf_failure_latches_and_take_returns_null),
        cmocka_unit_test(test_strbuf_read_takes_a_file_of_exactly_max_bytes),
        cmocka_unit_test(test_strbuf_read_refuses_one_byte_over_max),
        cmocka_unit_test(test_strbuf_read_appends_after_what_the_buffer_holds),
        cmocka_unit_test(test_strbuf_read_reports_the_read_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
