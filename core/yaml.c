/* YAML streams to cJSON trees and back, with libyaml's event parser and emitter.
 *
 * Plain scalars are typed as sigs.k8s.io/yaml (go-yaml v2, YAML 1.1) types them, so a manifest means here what it
 * means to `kubectl apply`. The writer quotes every string that a YAML 1.1 or 1.2 reader could take for another
 * type, so what we print reads back, here and in kubectl, as the tree we printed. */

/* libyaml's <yaml.h> comes first and this file is compiled without -Icore: our own header is also named yaml.h. */
#include <yaml.h>

#include "yaml_io.h"
#include "json_text.h"
#include "strutil.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Caps that keep hostile input from exhausting memory (alias bombs) or the C stack (deep nesting). */
#define MAX_NODES 1000000
#define MAX_DEPTH 1000
/* Doubles hold every integer up to 2^53 exactly; past it only some, and the rest would become a neighbour. */
#define EXACT_INT_LIMIT 9007199254740992ULL

/* ---------------------------------------------------------------------------------------------------------------
 * Scalar typing, shared by the reader (to type plain scalars) and the writer (to know what must be quoted). */

enum kind { K_STRING, K_NULL, K_BOOL, K_NUMBER, K_TOO_BIG };

struct scalar {
    enum kind kind;
    int boolean;
    double number;
};

/* go-yaml v2's resolve table: YAML 1.1 booleans (y/n, yes/no, on/off too), nulls and the float specials. */
static const struct {
    const char *text;
    enum kind kind;
    int boolean;
    double number;
} words[] = {
    {"", K_NULL, 0, 0},        {"~", K_NULL, 0, 0},       {"null", K_NULL, 0, 0},     {"Null", K_NULL, 0, 0},
    {"NULL", K_NULL, 0, 0},    {"y", K_BOOL, 1, 0},       {"Y", K_BOOL, 1, 0},        {"yes", K_BOOL, 1, 0},
    {"Yes", K_BOOL, 1, 0},     {"YES", K_BOOL, 1, 0},     {"true", K_BOOL, 1, 0},     {"True", K_BOOL, 1, 0},
    {"TRUE", K_BOOL, 1, 0},    {"on", K_BOOL, 1, 0},      {"On", K_BOOL, 1, 0},       {"ON", K_BOOL, 1, 0},
    {"n", K_BOOL, 0, 0},       {"N", K_BOOL, 0, 0},       {"no", K_BOOL, 0, 0},       {"No", K_BOOL, 0, 0},
    {"NO", K_BOOL, 0, 0},      {"false", K_BOOL, 0, 0},   {"False", K_BOOL, 0, 0},    {"FALSE", K_BOOL, 0, 0},
    {"off", K_BOOL, 0, 0},     {"Off", K_BOOL, 0, 0},     {"OFF", K_BOOL, 0, 0},      {".nan", K_NUMBER, 0, NAN},
    {".NaN", K_NUMBER, 0, NAN}, {".NAN", K_NUMBER, 0, NAN}, {".inf", K_NUMBER, 0, INFINITY},
    {".Inf", K_NUMBER, 0, INFINITY}, {".INF", K_NUMBER, 0, INFINITY}, {"+.inf", K_NUMBER, 0, INFINITY},
    {"+.Inf", K_NUMBER, 0, INFINITY}, {"+.INF", K_NUMBER, 0, INFINITY}, {"-.inf", K_NUMBER, 0, -INFINITY},
    {"-.Inf", K_NUMBER, 0, -INFINITY}, {"-.INF", K_NUMBER, 0, -INFINITY},
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int digit_value(char c)
{
    if (is_digit(c))
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
}

/* An integer as Go's strconv.ParseInt(s, 0, 64) spells it (go-yaml uses that): sign, then a 0x/0o/0b prefix or a
 * bare leading 0 for octal (YAML 1.1's 0755), else decimal. */
struct go_int {
    int neg, base, overflow;   /* overflow: past 2^64 - 1, so mag is not the value */
    unsigned long long mag;
    const char *digits;        /* after sign and prefix */
};

/* Returns 1 when `s` is such an integer and fills *v. */
static int parse_go_int(const char *s, struct go_int *v)
{
    *v = (struct go_int){.base = 10};
    if (*s == '+' || *s == '-')
        v->neg = *s++ == '-';
    if (s[0] == '0' && s[1]) {
        char p = (char)(s[1] | 0x20);
        v->base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 8;
        s += v->base == 8 && p != 'o' ? 1 : 2;
    }
    if (!*s)
        return 0;
    v->digits = s;
    for (; *s; s++) {
        int d = digit_value(*s);
        if (d >= v->base)
            return 0;
        if (v->mag > (~0ULL - (unsigned)d) / (unsigned)v->base)
            v->overflow = 1;
        else
            v->mag = v->mag * (unsigned)v->base + (unsigned)d;
    }
    return 1;
}

/* The magnitude as a double, or -1 when a double cannot hold it exactly: refusing beats silently rounding
 * (9007199254740993 would become ...992). Up to 2^53 every integer fits; past it only some do. */
static double exact_magnitude(const struct go_int *v)
{
    if (!v->overflow) {
        double d = (double)v->mag;
        if (v->mag <= EXACT_INT_LIMIT)
            return d;
        return d < 18446744073709551616.0 && (unsigned long long)d == v->mag ? d : -1;
    }
    if (v->base != 10)
        return -1;
    /* Past 2^64 a decimal is exact when the double's full expansion spells the same digits. */
    double d = strtod(v->digits, NULL);
    char buf[400];
    if (isinf(d) || snprintf(buf, sizeof buf, "%.0f", d) >= (int)sizeof buf)
        return -1;
    return strcmp(buf, v->digits) == 0 ? d : -1;
}

/* go-yaml's float pattern: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static int is_yaml_float(const char *s)
{
    if (*s == '+' || *s == '-')
        s++;
    if (*s == '.') {
        if (!is_digit(*++s))
            return 0;
        while (is_digit(*s))
            s++;
    } else {
        if (!is_digit(*s))
            return 0;
        while (is_digit(*s))
            s++;
        if (*s == '.')
            for (s++; is_digit(*s);)
                s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!is_digit(*s))
            return 0;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

/* A float in go-yaml's syntax; one that overflows a double stays a string, as Go's ParseFloat error makes it. */
static int resolve_float(const char *s, struct scalar *out)
{
    if (!is_yaml_float(s))
        return 0;
    double d = strtod(s, NULL);
    if (isinf(d))
        return 0;
    out->kind = K_NUMBER;
    out->number = d;
    return 1;
}

/* An integer in Go's syntax, else a float; integers a double cannot hold exactly are refused. */
static void resolve_number(const char *plain, struct scalar *out)
{
    struct go_int v;
    if (!parse_go_int(plain, &v)) {
        resolve_float(plain, out);
        return;
    }
    double d = exact_magnitude(&v);
    if (d < 0) {
        out->kind = K_TOO_BIG;
        return;
    }
    out->kind = K_NUMBER;
    out->number = v.neg && d != 0 ? -d : d;
}

/* Types the text of a plain scalar (no NUL inside) as go-yaml v2 does. Returns 0 only when out of memory. */
static int resolve_plain(const char *s, size_t len, struct scalar *out)
{
    out->kind = K_STRING;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strlen(words[i].text) == len && memcmp(words[i].text, s, len) == 0) {
            out->kind = words[i].kind;
            out->boolean = words[i].boolean;
            out->number = words[i].number;
            return 1;
        }
    }
    if (!len || !(is_digit(s[0]) || s[0] == '+' || s[0] == '-' || s[0] == '.'))
        return 1;
    char small[64], *buf = len < sizeof small ? small : malloc(len + 1);
    if (!buf)
        return 0;
    /* go-yaml drops every underscore from a number that starts with a digit or sign; one starting with '.' goes to
     * Go's ParseFloat, which takes underscores only between digits. */
    size_t n = 0;
    int underscores_ok = 1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '_')
            buf[n++] = s[i];
        else if (s[0] == '.' && !(is_digit(s[i - 1]) && i + 1 < len && is_digit(s[i + 1])))
            underscores_ok = 0;
    }
    buf[n] = '\0';
    if (s[0] != '.')
        resolve_number(buf, out);
    else if (underscores_ok)
        resolve_float(buf, out);
    if (buf != small)
        free(buf);
    return 1;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Reader */

struct anchor {
    char *name;
    const cJSON *node; /* borrowed: lives in the document being read */
    size_t nodes;
    int height;
};

struct reader {
    yaml_parser_t parser;
    const char *name;
    const char *text;
    size_t len;
    char *err;
    size_t errlen;
    struct anchor *anchors;
    size_t nanchors, capanchors;
    size_t nodes; /* made so far in this stream, alias copies included */
};

/* A node built from the events, with its size and height for the alias caps. */
struct built {
    cJSON *value;
    size_t nodes;
    int height;
};

static int fail_at(struct reader *r, yaml_mark_t mark, const char *fmt, ...)
{
    int n = snprintf(r->err, r->errlen, "%s:%zu:%zu: ", r->name, mark.line + 1, mark.column + 1);
    if (n >= 0 && (size_t)n < r->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int fail_oom(struct reader *r)
{
    snprintf(r->err, r->errlen, "%s: out of memory", r->name);
    return -1;
}

/* libyaml's reader reports a byte offset only: turn it into the line and column every other message has. */
static yaml_mark_t mark_of_offset(const struct reader *r, size_t offset)
{
    yaml_mark_t m = {0};
    for (size_t i = 0; i < offset && i < r->len; i++) {
        if (r->text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else if (((unsigned char)r->text[i] & 0xC0) != 0x80) {
            m.column++;
        }
    }
    return m;
}

static int fail_parser(struct reader *r)
{
    const yaml_parser_t *p = &r->parser;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return fail_oom(r);
    case YAML_READER_ERROR:
        if (p->problem_value != -1)
            return fail_at(r, mark_of_offset(r, p->problem_offset), "%s (byte 0x%02x)", problem, p->problem_value);
        return fail_at(r, mark_of_offset(r, p->problem_offset), "%s", problem);
    default:
        if (p->context)
            return fail_at(r, p->problem_mark, "%s (%s at line %zu column %zu)", problem, p->context,
                           p->context_mark.line + 1, p->context_mark.column + 1);
        return fail_at(r, p->problem_mark, "%s", problem);
    }
}

static int next_event(struct reader *r, yaml_event_t *ev)
{
    return yaml_parser_parse(&r->parser, ev) ? 0 : fail_parser(r);
}

/* Every node made counts towards MAX_NODES, so no input can make us allocate without bound. */
static int count_nodes(struct reader *r, yaml_mark_t mark, size_t n)
{
    if (n > MAX_NODES - r->nodes)
        return fail_at(r, mark, "more than %d nodes (alias expansion included); refusing to expand further",
                       MAX_NODES);
    r->nodes += n;
    return 0;
}

static void forget_anchors(struct reader *r)
{
    for (size_t i = 0; i < r->nanchors; i++)
        free(r->anchors[i].name);
    r->nanchors = 0;
}

static int remember_anchor(struct reader *r, const char *name, const struct built *b)
{
    if (r->nanchors == r->capanchors) {
        size_t cap = r->capanchors ? r->capanchors * 2 : 8;
        struct anchor *a = realloc(r->anchors, cap * sizeof *a);
        if (!a)
            return fail_oom(r);
        r->anchors = a;
        r->capanchors = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return fail_oom(r);
    r->anchors[r->nanchors++] = (struct anchor){copy, b->value, b->nodes, b->height};
    return 0;
}

static int parse_node(struct reader *r, yaml_event_t *ev, int depth, struct built *out);

static int tag_is(const char *tag, const char *want)
{
    return tag && strcmp(tag, want) == 0;
}

/* Explicit core tags (!!int "5") are resolved like plain text and must agree with what they claim. */
static int check_tag(struct reader *r, const yaml_event_t *ev, const struct scalar *sc)
{
    const char *tag = (const char *)ev->data.scalar.tag;
    int ok = tag_is(tag, YAML_INT_TAG) || tag_is(tag, YAML_FLOAT_TAG) ? sc->kind == K_NUMBER
             : tag_is(tag, YAML_BOOL_TAG)                             ? sc->kind == K_BOOL
             : tag_is(tag, YAML_NULL_TAG)                             ? sc->kind == K_NULL
                                                                      : 1;
    if (ok)
        return 0;
    const char *prefix = "tag:yaml.org,2002:";
    return fail_at(r, ev->start_mark, "\"%s\" is not a valid !!%s", (const char *)ev->data.scalar.value,
                   tag + strlen(prefix));
}

/* How a scalar is typed: quoted, block, !!str- or !-tagged and unknown-tagged scalars are strings (as in go-yaml);
 * plain ones and those with a core tag go through resolve_plain. */
static int type_scalar(struct reader *r, const yaml_event_t *ev, struct scalar *sc)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    sc->kind = K_STRING;
    if (tag_is(tag, "tag:yaml.org,2002:binary"))
        return fail_at(r, ev->start_mark, "!!binary scalars are not supported");
    int core = tag_is(tag, YAML_INT_TAG) || tag_is(tag, YAML_FLOAT_TAG) || tag_is(tag, YAML_BOOL_TAG) ||
               tag_is(tag, YAML_NULL_TAG);
    if (!core && (tag || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE))
        return 0;
    if (!resolve_plain(text, len, sc))
        return fail_oom(r);
    if (sc->kind == K_TOO_BIG)
        return fail_at(r, ev->start_mark, "integer %s is too large to keep exactly", text);
    return core ? check_tag(r, ev, sc) : 0;
}

static int parse_scalar(struct reader *r, const yaml_event_t *ev, struct built *out)
{
    const char *text = (const char *)ev->data.scalar.value;
    if (memchr(text, '\0', ev->data.scalar.length))
        return fail_at(r, ev->start_mark, "strings cannot hold NUL characters");
    struct scalar sc;
    if (type_scalar(r, ev, &sc) || count_nodes(r, ev->start_mark, 1))
        return -1;
    switch (sc.kind) {
    case K_NULL: out->value = cJSON_CreateNull(); break;
    case K_BOOL: out->value = cJSON_CreateBool(sc.boolean); break;
    case K_NUMBER: out->value = cJSON_CreateNumber(sc.number); break;
    default: out->value = cJSON_CreateString(text); break;
    }
    out->nodes = 1;
    out->height = 1;
    return out->value ? 0 : fail_oom(r);
}

static int parse_alias(struct reader *r, const yaml_event_t *ev, int depth, struct built *out)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const struct anchor *a = NULL;
    for (size_t i = r->nanchors; i-- > 0;) /* the latest definition of a name wins */
        if (strcmp(r->anchors[i].name, name) == 0) {
            a = &r->anchors[i];
            break;
        }
    if (!a)
        return fail_at(r, ev->start_mark, "unknown alias *%s", name);
    if (depth + a->height - 1 > MAX_DEPTH)
        return fail_at(r, ev->start_mark, "alias *%s nests deeper than %d levels", name, MAX_DEPTH);
    if (count_nodes(r, ev->start_mark, a->nodes))
        return -1;
    out->value = cJSON_Duplicate(a->node, 1);
    out->nodes = a->nodes;
    out->height = a->height;
    return out->value ? 0 : fail_oom(r);
}

static int parse_sequence(struct reader *r, const yaml_event_t *start, int depth, struct built *out)
{
    if (count_nodes(r, start->start_mark, 1))
        return -1;
    cJSON *arr = cJSON_CreateArray();
    if (!arr)
        return fail_oom(r);
    size_t nodes = 1;
    int height = 0;
    for (;;) {
        yaml_event_t ev;
        struct built child;
        if (next_event(r, &ev))
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (parse_node(r, &ev, depth + 1, &child))
            goto fail;
        cJSON_AddItemToArray(arr, child.value); /* cannot fail: both pointers are set */
        nodes += child.nodes;
        if (child.height > height)
            height = child.height;
    }
    *out = (struct built){arr, nodes, height + 1};
    return 0;
fail:
    cJSON_Delete(arr);
    return -1;
}

/* A key of the mapping being read, and where it was, for the duplicate check. */
struct key_seen {
    const char *key; /* borrowed from the member cJSON copied it into */
    yaml_mark_t mark;
    size_t index;
};

static int key_seen_cmp(const void *a, const void *b)
{
    const struct key_seen *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->index < y->index ? -1 : x->index > y->index;
}

/* Duplicate keys are an error (the API server rejects them too); sorting keeps huge mappings O(n log n). The
 * message names the first repeat in document order. */
static int check_duplicates(struct reader *r, struct key_seen *keys, size_t n)
{
    qsort(keys, n, sizeof *keys, key_seen_cmp);
    const struct key_seen *first = NULL;
    for (size_t i = 1; i < n; i++)
        if (strcmp(keys[i - 1].key, keys[i].key) == 0 && (!first || keys[i].index < first->index))
            first = &keys[i];
    return first ? fail_at(r, first->mark, "duplicate key \"%s\"", first->key) : 0;
}

/* Mapping keys must be plain text: non-string scalars keep their text ("1", "true"); collections and aliases are
 * refused, as is the merge key, whose semantics we do not implement. */
static int check_key(struct reader *r, const yaml_event_t *k)
{
    if (k->type == YAML_ALIAS_EVENT)
        return fail_at(r, k->start_mark, "aliases cannot be mapping keys");
    if (k->type != YAML_SCALAR_EVENT)
        return fail_at(r, k->start_mark, "mapping keys must be scalars");
    if (k->data.scalar.anchor)
        return fail_at(r, k->start_mark, "anchors on mapping keys are not supported");
    if (memchr(k->data.scalar.value, '\0', k->data.scalar.length))
        return fail_at(r, k->start_mark, "keys cannot hold NUL characters");
    if (k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp((const char *)k->data.scalar.value, "<<") == 0)
        return fail_at(r, k->start_mark, "merge keys (<<) are not supported");
    return 0;
}

/* Reads one key and its value into obj; returns 1 at the end of the mapping, 0 after a member, -1 on error. */
static int parse_member(struct reader *r, cJSON *obj, int depth, struct key_seen *seen, size_t *nodes, int *height)
{
    yaml_event_t k, v;
    struct built child;
    if (next_event(r, &k))
        return -1;
    if (k.type == YAML_MAPPING_END_EVENT) {
        yaml_event_delete(&k);
        return 1;
    }
    int rc = -1;
    if (check_key(r, &k) || next_event(r, &v))
        goto out;
    if (parse_node(r, &v, depth + 1, &child))
        goto out;
    if (!cJSON_AddItemToObject(obj, (const char *)k.data.scalar.value, child.value)) {
        cJSON_Delete(child.value);
        fail_oom(r);
        goto out;
    }
    seen->key = child.value->string;
    seen->mark = k.start_mark;
    *nodes += child.nodes;
    if (child.height > *height)
        *height = child.height;
    rc = 0;
out:
    yaml_event_delete(&k);
    return rc;
}

static int parse_mapping(struct reader *r, const yaml_event_t *start, int depth, struct built *out)
{
    if (count_nodes(r, start->start_mark, 1))
        return -1;
    cJSON *obj = cJSON_CreateObject();
    struct key_seen *keys = NULL;
    size_t nkeys = 0, cap = 0, nodes = 1;
    int height = 0, rc;
    if (!obj)
        return fail_oom(r);
    for (;;) {
        if (nkeys == cap) {
            cap = cap ? cap * 2 : 16;
            struct key_seen *k = realloc(keys, cap * sizeof *k);
            if (!k) {
                fail_oom(r);
                goto fail;
            }
            keys = k;
        }
        rc = parse_member(r, obj, depth, &keys[nkeys], &nodes, &height);
        if (rc < 0)
            goto fail;
        if (rc > 0)
            break;
        keys[nkeys].index = nkeys;
        nkeys++;
    }
    if (check_duplicates(r, keys, nkeys))
        goto fail;
    free(keys);
    *out = (struct built){obj, nodes, height + 1};
    return 0;
fail:
    free(keys);
    cJSON_Delete(obj);
    return -1;
}

/* Builds the node that starts with *ev, consuming its events; *ev is deleted on every path. */
static int parse_node(struct reader *r, yaml_event_t *ev, int depth, struct built *out)
{
    int rc;
    const char *anchor = NULL;
    if (depth > MAX_DEPTH) {
        rc = fail_at(r, ev->start_mark, "nested deeper than %d levels", MAX_DEPTH);
        goto out;
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        anchor = (const char *)ev->data.scalar.anchor;
        rc = parse_scalar(r, ev, out);
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = (const char *)ev->data.sequence_start.anchor;
        rc = parse_sequence(r, ev, depth, out);
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = (const char *)ev->data.mapping_start.anchor;
        rc = parse_mapping(r, ev, depth, out);
        break;
    case YAML_ALIAS_EVENT:
        rc = parse_alias(r, ev, depth, out);
        break;
    default:
        rc = fail_at(r, ev->start_mark, "unexpected YAML event");
        break;
    }
    if (rc == 0 && anchor && remember_anchor(r, anchor, out)) {
        cJSON_Delete(out->value);
        rc = -1;
    }
out:
    yaml_event_delete(ev);
    return rc;
}

static int add_document(struct reader *r, struct yaml_stream *s, cJSON *value, int line)
{
    struct yaml_doc *d = realloc(s->docs, (s->count + 1) * sizeof *d);
    if (!d) {
        cJSON_Delete(value);
        return fail_oom(r);
    }
    s->docs = d;
    s->docs[s->count++] = (struct yaml_doc){value, line};
    return 0;
}

/* Reads one document after its DOCUMENT-START event; anchors do not outlive it (YAML scopes them so). */
static int read_document(struct reader *r, struct yaml_stream *s)
{
    yaml_event_t ev;
    struct built root;
    if (next_event(r, &ev))
        return -1;
    int line = (int)ev.start_mark.line + 1;
    if (parse_node(r, &ev, 1, &root))
        return -1;
    forget_anchors(r);
    if (next_event(r, &ev)) { /* DOCUMENT-END */
        cJSON_Delete(root.value);
        return -1;
    }
    yaml_event_delete(&ev);
    if (cJSON_IsNull(root.value)) { /* `---` alone, only comments, or a bare null: nothing to apply */
        cJSON_Delete(root.value);
        return 0;
    }
    return add_document(r, s, root.value, line);
}

static int read_stream(struct reader *r, struct yaml_stream *s)
{
    yaml_event_t ev;
    if (next_event(r, &ev)) /* STREAM-START */
        return -1;
    yaml_event_delete(&ev);
    for (;;) {
        if (next_event(r, &ev))
            return -1;
        yaml_event_type_t type = ev.type;
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            return 0;
        if (read_document(r, s))
            return -1;
    }
}

int yaml_stream_parse(const char *text, size_t len, const char *name, struct yaml_stream *out, char *err,
                      size_t errlen)
{
    struct reader r = {.name = name ? name : "<input>", .text = text, .len = len, .err = err, .errlen = errlen};
    out->docs = NULL;
    out->count = 0;
    if (!yaml_parser_initialize(&r.parser))
        return fail_oom(&r);
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
    int rc = read_stream(&r, out);
    yaml_parser_delete(&r.parser);
    forget_anchors(&r);
    free(r.anchors);
    if (rc)
        yaml_stream_free(out);
    return rc;
}

/* Slurps a stream into a malloc'd buffer (caller frees); returns -1 with errno set on a read error. */
static int read_all(FILE *f, char **data, size_t *len)
{
    struct strbuf b = {0};
    if (strbuf_read(&b, f, SIZE_MAX)) {
        int e = errno;
        strbuf_free(&b);
        errno = e;
        return -1;
    }
    *data = strbuf_take(&b, len); /* never NULL after a read: the bytes and their NUL are already there */
    return 0;
}

int yaml_stream_read_file(const char *path, struct yaml_stream *out, char *err, size_t errlen)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    char *data = NULL;
    size_t len = 0;
    out->docs = NULL;
    out->count = 0;
    errno = 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    int rc = f ? read_all(f, &data, &len) : -1;
    int e = errno;
    if (f && !is_stdin)
        fclose(f);
    if (rc) {
        snprintf(err, errlen, "%s: cannot read: %s", name, strerror(e ? e : EIO));
        return -1;
    }
    rc = yaml_stream_parse(data, len, name, out, err, errlen);
    free(data);
    return rc;
}

void yaml_stream_free(struct yaml_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++)
        cJSON_Delete(s->docs[i].value);
    free(s->docs);
    s->docs = NULL;
    s->count = 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Writer */

/* Numbers in the shape YAML 1.1 and 1.2 readers take for a number, dates (2001-12-14) and sexagesimals (1:30):
 * other readers than ours may type these, so they are quoted even when ours would keep them strings. */
static int looks_numeric(const char *s)
{
    if (is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-')
        return 1;
    if (*s == '+' || *s == '-')
        s++;
    if (!is_digit(*s) && *s != '.')
        return 0;
    int digits = 0;
    for (; *s; s++) {
        if (is_digit(*s))
            digits = 1;
        else if (!strchr("abcdefABCDEF_.:xXoO+-", *s))
            return 0;
    }
    return digits;
}

/* Whether a plain scalar with this text could be read back as anything but this same string. */
static int plain_is_unsafe(const char *s)
{
    size_t len = strlen(s);
    struct scalar sc;
    if (len == 0 || !resolve_plain(s, len, &sc) || sc.kind != K_STRING || looks_numeric(s))
        return 1;
    if (strchr(" \t", s[0]) || strchr(" \t:", s[len - 1]))
        return 1;
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0]))
        return 1;
    if (strstr(s, ": ") || strstr(s, ":\t") || strstr(s, " #") || strstr(s, "\t#"))
        return 1;
    return strcmp(s, "<<") == 0 || strcmp(s, "=") == 0; /* YAML 1.1 merge and value keys */
}

/* A literal block keeps text exactly only if no line ends in blanks, the first does not start with one, and
 * there is no CR (a line break to YAML, so it would come back as LF). */
static int literal_is_safe(const char *s)
{
    if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n')
        return 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\r')
            return 0;
        if ((*p == ' ' || *p == '\t') && (p[1] == '\n' || p[1] == '\0'))
            return 0;
    }
    return 1;
}

static yaml_scalar_style_t string_style(const char *s, int is_key)
{
    if (strchr(s, '\n'))
        return !is_key && literal_is_safe(s) ? YAML_LITERAL_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    return plain_is_unsafe(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
}

/* libyaml takes ownership of the event even when it fails, so there is nothing to clean up here. */
static int emit_scalar(yaml_emitter_t *em, const char *text, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text), 1, 1, style))
        return -1; /* invalid UTF-8, or out of memory */
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_string(yaml_emitter_t *em, const char *s, int is_key)
{
    return emit_scalar(em, s ? s : "", string_style(s ? s : "", is_key));
}

static int emit_number(yaml_emitter_t *em, double d)
{
    char buf[32];
    const char *text = isnan(d)   ? ".nan" /* JSON has no form for these; YAML 1.1 does */
                       : isinf(d) ? (d > 0 ? ".inf" : "-.inf")
                                  : json_number_format(d, buf, sizeof buf);
    return emit_scalar(em, text, YAML_PLAIN_SCALAR_STYLE);
}

static int emit_value(yaml_emitter_t *em, const cJSON *v);

static int member_cmp(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* Members in key order; a tree with a repeated key is refused, as no reader would take that YAML back. */
static int emit_members(yaml_emitter_t *em, const cJSON *obj)
{
    size_t n = 0, i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        n++;
    const cJSON **m = malloc(n * sizeof *m);
    if (!m)
        return -1;
    for (const cJSON *c = obj->child; c; c = c->next)
        m[i++] = c;
    qsort(m, n, sizeof *m, member_cmp);
    int rc = 0;
    for (i = 0; rc == 0 && i < n; i++) {
        if (i && member_cmp(&m[i - 1], &m[i]) == 0)
            rc = -1;
        else
            rc = emit_string(em, m[i]->string, 1) || emit_value(em, m[i]);
    }
    free(m);
    return rc;
}

/* Block style, except flow `{}` and `[]` for empties, which have no block form. */
static int emit_collection(yaml_emitter_t *em, const cJSON *v)
{
    yaml_event_t ev;
    int is_obj = cJSON_IsObject(v), empty = v->child == NULL;
    int ok = is_obj ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                          empty ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE)
                    : yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                           empty ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE);
    if (!ok || !yaml_emitter_emit(em, &ev))
        return -1;
    if (is_obj && !empty && emit_members(em, v))
        return -1;
    for (const cJSON *c = is_obj ? NULL : v->child; c; c = c->next)
        if (emit_value(em, c))
            return -1;
    ok = is_obj ? yaml_mapping_end_event_initialize(&ev) : yaml_sequence_end_event_initialize(&ev);
    return ok && yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_value(yaml_emitter_t *em, const cJSON *v)
{
    switch (v ? v->type & 0xFF : cJSON_NULL) {
    case cJSON_NULL: return emit_scalar(em, "null", YAML_PLAIN_SCALAR_STYLE);
    case cJSON_False: return emit_scalar(em, "false", YAML_PLAIN_SCALAR_STYLE);
    case cJSON_True: return emit_scalar(em, "true", YAML_PLAIN_SCALAR_STYLE);
    case cJSON_Number: return emit_number(em, v->valuedouble);
    case cJSON_String: return emit_string(em, v->valuestring, 0);
    case cJSON_Array:
    case cJSON_Object: return emit_collection(em, v);
    default: return -1; /* cJSON_Raw and cJSON_Invalid have no YAML form */
    }
}

/* libyaml's output handler: 1 when the bytes were kept, 0 (which fails the emitter) when out of memory. */
static int write_out(void *data, unsigned char *buffer, size_t size)
{
    return strbuf_append(data, buffer, size) == 0;
}

static int emit_event(yaml_emitter_t *em, int ok, yaml_event_t *ev)
{
    return ok && yaml_emitter_emit(em, ev) ? 0 : -1;
}

static int emit_document(yaml_emitter_t *em, const cJSON *value)
{
    yaml_event_t ev;
    if (emit_event(em, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING), &ev) ||
        emit_event(em, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1), &ev) || emit_value(em, value) ||
        emit_event(em, yaml_document_end_event_initialize(&ev, 1), &ev) ||
        emit_event(em, yaml_stream_end_event_initialize(&ev), &ev))
        return -1;
    return yaml_emitter_flush(em) ? 0 : -1;
}

char *yaml_emit(const cJSON *value)
{
    yaml_emitter_t em;
    struct strbuf out = {0};
    if (!yaml_emitter_initialize(&em))
        return NULL;
    yaml_emitter_set_output(&em, write_out, &out);
    yaml_emitter_set_indent(&em, 2);
    yaml_emitter_set_width(&em, -1); /* never fold long strings */
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_break(&em, YAML_LN_BREAK);
    int rc = emit_document(&em, value);
    yaml_emitter_delete(&em);
    if (rc) {
        strbuf_free(&out);
        return NULL;
    }
    return strbuf_take(&out, NULL);
}
