#include "strutil.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRBUF_MIN_CAP 256
#define STRBUF_READ_CHUNK 4096

char *strutil_dup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void strutil_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void strutil_free_secret(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil): timegm is not POSIX. */
static long days_from_civil(long y, long m, long d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int strutil_rfc3339_parse(const char *s, time_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    char t;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &t, &h, &mi, &sec, &n) != 7 || n != 19 ||
        (t != 'T' && t != 't') || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        offset = (*p == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
        p += 6;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    *out = (time_t)(days_from_civil(y, mo, d) * 86400L + h * 3600L + mi * 60L + sec - offset);
    return 0;
}

/* Makes room for n more bytes and the NUL. Capacity doubles, so a run of appends costs amortised O(1) a byte. */
static int strbuf_reserve(struct strbuf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (n < b->cap - b->len)
        return 0;
    if (n > SIZE_MAX - b->len - 1) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + n + 1;
    size_t cap = b->cap ? b->cap : STRBUF_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int strbuf_append(struct strbuf *b, const void *p, size_t n)
{
    if (strbuf_reserve(b, n))
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int strbuf_appends(struct strbuf *b, const char *s)
{
    return strbuf_append(b, s, strlen(s));
}

int strbuf_appendf(struct strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        b->failed = 1;
    if (b->failed || strbuf_reserve(b, (size_t)n))
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

/* Reads straight into the buffer, never more than max + 1 bytes in all: enough to tell "too large" without
 * slurping an endless stream. fread returns short only at end of file or on an error. */
int strbuf_read(struct strbuf *b, FILE *f, size_t max)
{
    for (;;) {
        if (b->len > max) {
            errno = EFBIG;
            return -1;
        }
        if (strbuf_reserve(b, STRBUF_READ_CHUNK)) {
            errno = ENOMEM;
            return -1;
        }
        size_t room = b->cap - b->len - 1, left = max - b->len;
        if (left < room)
            room = left + 1;
        size_t got = fread(b->data + b->len, 1, room, f);
        b->len += got;
        b->data[b->len] = '\0';
        if (got == room)
            continue;
        if (ferror(f)) {
            if (!errno)
                errno = EIO;
            return -1;
        }
        if (b->len > max) {
            errno = EFBIG;
            return -1;
        }
        return 0;
    }
}

char *strbuf_take(struct strbuf *b, size_t *len)
{
    char *out = NULL;
    if (strbuf_reserve(b, 0) == 0) { /* an untouched buffer still gives "" */
        b->data[b->len] = '\0';
        out = b->data;
        if (len)
            *len = b->len;
    } else {
        free(b->data);
    }
    memset(b, 0, sizeof *b);
    return out;
}

void strbuf_free(struct strbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void strbuf_free_secret(struct strbuf *b)
{
    volatile char *p = b->data;
    for (size_t i = 0; i < b->cap; i++)
        p[i] = '\0';
    strbuf_free(b);
}
