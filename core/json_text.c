/* JSON text written by us: sorted keys, exact integers, shortest round-trip floats (cJSON's printer does neither). */
#include "json_text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

/* Doubles hold every integer up to 2^53 exactly; past it "%lld" would print a value the text never said. */
#define EXACT_INT_LIMIT 9007199254740992.0

const char *json_number_format(double d, char *buf, size_t buflen)
{
    if (buflen == 0)
        return buf;
    if (!isfinite(d)) {
        snprintf(buf, buflen, "null"); /* JSON has no NaN or Infinity */
        return buf;
    }
    if (d == floor(d) && fabs(d) < EXACT_INT_LIMIT) {
        snprintf(buf, buflen, "%lld", (long long)d);
        return buf;
    }
    /* The shortest precision that reads back to the same double; %.17g always does. */
    static const char *const forms[] = {"%.15g", "%.16g", "%.17g"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        snprintf(buf, buflen, forms[i], d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return buf;
}

/* Escapes what JSON requires (quote, backslash, C0 controls) and nothing else: UTF-8 passes through as is. */
static void print_string(struct strbuf *t, const char *s)
{
    strbuf_append(t, "\"", 1);
    const char *run = s;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *rep = NULL;
        switch (*p) {
        case '"': rep = "\\\""; break;
        case '\\': rep = "\\\\"; break;
        case '\b': rep = "\\b"; break;
        case '\f': rep = "\\f"; break;
        case '\n': rep = "\\n"; break;
        case '\r': rep = "\\r"; break;
        case '\t': rep = "\\t"; break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                rep = esc;
            }
        }
        if (!rep)
            continue;
        strbuf_append(t, run, (size_t)((const char *)p - run));
        strbuf_appends(t, rep);
        run = (const char *)p + 1;
    }
    strbuf_appends(t, run);
    strbuf_append(t, "\"", 1);
}

/* Orders object members by key; ties (duplicate keys) keep their original order so output stays deterministic. */
struct member {
    const cJSON *item;
    size_t index;
};

static int member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = strcmp(x->item->string ? x->item->string : "", y->item->string ? y->item->string : "");
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Returns the children of `obj` sorted by key in a malloc'd array (caller frees), *n set; NULL with *n == 0 for
 * an empty object, NULL with *n > 0 when out of memory. */
static struct member *sorted_members(const cJSON *obj, size_t *n)
{
    size_t count = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        count++;
    *n = count;
    if (count == 0)
        return NULL;
    struct member *m = malloc(count * sizeof *m);
    if (!m)
        return NULL;
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next, i++) {
        m[i].item = c;
        m[i].index = i;
    }
    qsort(m, count, sizeof *m, member_cmp);
    return m;
}

static void print_value(struct strbuf *t, const cJSON *v);

static void print_object(struct strbuf *t, const cJSON *obj)
{
    size_t n;
    struct member *m = sorted_members(obj, &n);
    if (n && !m) {
        t->failed = 1;
        return;
    }
    strbuf_append(t, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_append(t, ",", 1);
        print_string(t, m[i].item->string ? m[i].item->string : "");
        strbuf_append(t, ":", 1);
        print_value(t, m[i].item);
    }
    strbuf_append(t, "}", 1);
    free(m);
}

static void print_array(struct strbuf *t, const cJSON *arr)
{
    strbuf_append(t, "[", 1);
    for (const cJSON *c = arr->child; c; c = c->next) {
        if (c != arr->child)
            strbuf_append(t, ",", 1);
        print_value(t, c);
    }
    strbuf_append(t, "]", 1);
}

static void print_value(struct strbuf *t, const cJSON *v)
{
    char num[32];
    switch (v->type & 0xFF) {
    case cJSON_NULL: strbuf_appends(t, "null"); break;
    case cJSON_False: strbuf_appends(t, "false"); break;
    case cJSON_True: strbuf_appends(t, "true"); break;
    case cJSON_Number: strbuf_appends(t, json_number_format(v->valuedouble, num, sizeof num)); break;
    case cJSON_String: print_string(t, v->valuestring ? v->valuestring : ""); break;
    case cJSON_Array: print_array(t, v); break;
    case cJSON_Object: print_object(t, v); break;
    case cJSON_Raw: /* raw JSON text is the caller's promise; print it verbatim as cJSON does */
        if (v->valuestring)
            strbuf_appends(t, v->valuestring);
        else
            t->failed = 1;
        break;
    default: t->failed = 1; break; /* cJSON_Invalid: nothing sensible to print */
    }
}

char *json_print_sorted(const cJSON *value)
{
    struct strbuf t = {0};
    if (value)
        print_value(&t, value);
    else
        strbuf_appends(&t, "null");
    return strbuf_take(&t, NULL);
}

static int number_equal(double a, double b)
{
    /* NaN equals NaN here: a diff must not see a change where the value did not move. */
    return a == b || (isnan(a) && isnan(b));
}

static int array_equal(const cJSON *a, const cJSON *b)
{
    const cJSON *x = a->child, *y = b->child;
    for (; x && y; x = x->next, y = y->next)
        if (!json_equal(x, y))
            return 0;
    return !x && !y;
}

/* Objects are compared through their key-sorted members, so key order never matters and big objects stay
 * O(n log n). */
static int object_equal(const cJSON *a, const cJSON *b)
{
    size_t na, nb;
    struct member *ma = sorted_members(a, &na);
    struct member *mb = sorted_members(b, &nb);
    int eq = na == nb;
    if ((na && !ma) || (nb && !mb)) {
        /* Out of memory: fall back to the quadratic lookup rather than guess. */
        eq = na == nb;
        for (const cJSON *c = a->child; eq && c; c = c->next)
            eq = json_equal(c, cJSON_GetObjectItemCaseSensitive(b, c->string));
        goto out;
    }
    for (size_t i = 0; eq && i < na; i++)
        eq = strcmp(ma[i].item->string ? ma[i].item->string : "", mb[i].item->string ? mb[i].item->string : "") == 0 &&
             json_equal(ma[i].item, mb[i].item);
out:
    free(ma);
    free(mb);
    return eq;
}

int json_equal(const cJSON *a, const cJSON *b)
{
    if (!a || !b)
        return a == b;
    int type = a->type & 0xFF;
    if (type != (b->type & 0xFF))
        return 0;
    switch (type) {
    case cJSON_NULL:
    case cJSON_False:
    case cJSON_True: return 1;
    case cJSON_Number: return number_equal(a->valuedouble, b->valuedouble);
    case cJSON_String:
    case cJSON_Raw: return strcmp(a->valuestring ? a->valuestring : "", b->valuestring ? b->valuestring : "") == 0;
    case cJSON_Array: return array_equal(a, b);
    case cJSON_Object: return object_equal(a, b);
    default: return 0;
    }
}
