/* The metrics registry. Families are kept sorted by name and each family's series sorted by label text, so render
 * is a straight walk and lookups are binary searches; both arrays grow as needed, nothing is ever dropped. */
#include "metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_text.h"

#define RSS_NAME "process_resident_memory_bytes"

/* Policy evaluations usually take well under a millisecond; the top buckets catch a runaway one near the limit. */
static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                                        5, 10};

struct series {
    char *labels;      /* `{a="x",b="y"}` with names sorted and values escaped, or "" with no labels */
    double value;      /* counter and gauge */
    double sum;        /* histogram */
    uint64_t count;    /* histogram */
    uint64_t *buckets; /* histogram: observations <= bounds[i], cumulative; nbounds of them */
};

struct family {
    char *name, *help;
    enum metrics_type type;
    double *bounds; /* histogram only */
    size_t nbounds;
    struct series *series;
    size_t nseries, cap;
};

struct metrics {
    struct family **fams;
    size_t nfams, cap;
};

struct metrics *metrics_new(void) { return calloc(1, sizeof(struct metrics)); }

/* Frees what a series owns (not the series, which lives in its family's array). */
static void series_clear(struct series *s)
{
    free(s->labels);
    free(s->buckets);
}

static void family_free(struct family *f)
{
    for (size_t i = 0; i < f->nseries; i++)
        series_clear(&f->series[i]);
    free(f->series);
    free(f->bounds);
    free(f->name);
    free(f->help);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nfams; i++)
        family_free(m->fams[i]);
    free(m->fams);
    free(m);
}

/* strdup, which C11 lacks; NULL when out of memory. */
static char *str_copy(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c)
        memcpy(c, s, n);
    return c;
}

static int is_alpha_(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static int metric_name_valid(const char *s)
{
    if (!s || !(is_alpha_(*s) || *s == ':'))
        return 0;
    for (s++; *s; s++)
        if (!(is_alpha_(*s) || is_digit(*s) || *s == ':'))
            return 0;
    return 1;
}

/* [a-zA-Z_][a-zA-Z0-9_]*, not starting "__" (reserved by Prometheus). */
static int label_name_valid(const char *s)
{
    if (!s || !is_alpha_(*s) || (s[0] == '_' && s[1] == '_'))
        return 0;
    for (s++; *s; s++)
        if (!(is_alpha_(*s) || is_digit(*s)))
            return 0;
    return 1;
}

/* Index of the family named `name`, or where it would go (with *found = 0). */
static size_t family_index(const struct metrics *m, const char *name, int *found)
{
    size_t lo = 0, hi = m->nfams;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->fams[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static struct family *family_find(const struct metrics *m, const char *name)
{
    int found;
    size_t i = family_index(m, name, &found);
    return found ? m->fams[i] : NULL;
}

/* The family `name` of `type`, created when missing (bounds copied for a histogram). NULL when the name is invalid,
 * the family has another type, or out of memory. */
static struct family *family_get(struct metrics *m, const char *name, enum metrics_type type, const char *help,
                                 const double *bounds, size_t nbounds)
{
    if (!metric_name_valid(name))
        return NULL;
    int found;
    size_t at = family_index(m, name, &found);
    if (found) {
        struct family *f = m->fams[at];
        if (f->type != type)
            return NULL;
        if (!*f->help && help && *help) { /* the first help text given wins, even after a call without one */
            char *h = str_copy(help);
            if (h) {
                free(f->help);
                f->help = h;
            }
        }
        return f;
    }
    if (m->nfams == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct family **f = realloc(m->fams, cap * sizeof *f);
        if (!f)
            return NULL;
        m->fams = f;
        m->cap = cap;
    }
    struct family *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->type = type;
    f->name = str_copy(name);
    f->help = str_copy(help ? help : "");
    if (type == METRICS_HISTOGRAM && nbounds > 0) {
        f->nbounds = nbounds;
        f->bounds = malloc(nbounds * sizeof *f->bounds);
        if (f->bounds)
            memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    }
    if (!f->name || !f->help || (f->nbounds > 0 && !f->bounds)) {
        family_free(f);
        return NULL;
    }
    memmove(&m->fams[at + 1], &m->fams[at], (m->nfams - at) * sizeof *m->fams);
    m->fams[at] = f;
    m->nfams++;
    return f;
}

int metrics_declare(struct metrics *m, const char *name, enum metrics_type type, const char *help)
{
    const double *b = type == METRICS_HISTOGRAM ? default_bounds : NULL;
    size_t nb = type == METRICS_HISTOGRAM ? sizeof default_bounds / sizeof *default_bounds : 0;
    return family_get(m, name, type, help, b, nb) ? 0 : -1;
}

int metrics_declare_histogram(struct metrics *m, const char *name, const char *help, const double *bounds,
                              size_t nbounds)
{
    if (!metric_name_valid(name) || family_find(m, name) || (nbounds > 0 && !bounds))
        return -1;
    for (size_t i = 0; i < nbounds; i++)
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            return -1;
    return family_get(m, name, METRICS_HISTOGRAM, help, bounds, nbounds) ? 0 : -1;
}

/* Label values escape backslash, quote and newline; help text only backslash and newline (format 0.0.4). */
static void put_escaped(FILE *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (*s == '"' && quote)
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* The canonical label text of a NULL-terminated name/value array: names checked and sorted, values escaped.
 * Returns a malloc'd string ("" for no labels), or NULL when a label is invalid or out of memory. */
static char *labels_text(const char *const *labels, int histogram)
{
    size_t n = 0;
    while (labels && labels[2 * n]) {
        if (!labels[2 * n + 1])
            return NULL; /* a name without a value: the array is malformed */
        n++;
    }
    if (n == 0)
        return str_copy("");
    const char **pairs = malloc(n * sizeof *pairs); /* pointers to each pair's name in `labels` */
    if (!pairs)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *name = labels[2 * i];
        if (!label_name_valid(name) || (histogram && strcmp(name, "le") == 0))
            goto out;
        /* Insertion sort: label sets are a handful of names. */
        size_t j = i;
        for (; j > 0 && strcmp(pairs[j - 1], name) > 0; j--)
            pairs[j] = pairs[j - 1];
        if (j > 0 && strcmp(pairs[j - 1], name) == 0)
            goto out; /* repeated name */
        pairs[j] = name;
    }
    if (!(out = open_memstream(&text, &len)))
        goto out;
    fputc('{', out);
    for (size_t i = 0; i < n; i++) {
        const char *value = NULL;
        for (size_t k = 0; k < n; k++)
            if (labels[2 * k] == pairs[i])
                value = labels[2 * k + 1];
        fprintf(out, "%s%s=\"", i ? "," : "", pairs[i]);
        put_escaped(out, value, 1);
        fputc('"', out);
    }
    fputc('}', out);
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(text);
        text = NULL;
    }
out:
    free(pairs);
    return text;
}

/* The series with label text `lt` (taken over by the family when a new series is made, else freed). NULL when out
 * of memory, with lt freed. */
static struct series *series_get(struct family *f, char *lt)
{
    size_t lo = 0, hi = f->nseries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->series[mid].labels, lt);
        if (c == 0) {
            free(lt);
            return &f->series[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (f->nseries == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct series *s = realloc(f->series, cap * sizeof *s);
        if (!s) {
            free(lt);
            return NULL;
        }
        f->series = s;
        f->cap = cap;
    }
    struct series fresh = {.labels = lt};
    if (f->type == METRICS_HISTOGRAM && f->nbounds > 0 && !(fresh.buckets = calloc(f->nbounds, sizeof(uint64_t)))) {
        free(lt);
        return NULL;
    }
    memmove(&f->series[lo + 1], &f->series[lo], (f->nseries - lo) * sizeof *f->series);
    f->series[lo] = fresh;
    f->nseries++;
    return &f->series[lo];
}

/* The series for (name, labels) in a family of `type` with default buckets, created as needed; NULL on error. */
static struct series *lookup(struct metrics *m, const char *name, enum metrics_type type, const char *help,
                             const char *const *labels)
{
    const double *b = type == METRICS_HISTOGRAM ? default_bounds : NULL;
    size_t nb = type == METRICS_HISTOGRAM ? sizeof default_bounds / sizeof *default_bounds : 0;
    struct family *f = family_get(m, name, type, help, b, nb);
    if (!f)
        return NULL;
    char *lt = labels_text(labels, type == METRICS_HISTOGRAM);
    return lt ? series_get(f, lt) : NULL;
}

int metrics_counter_add(struct metrics *m, const char *name, const char *help, const char *const *labels,
                        double value)
{
    if (!(value >= 0))
        return -1;
    struct series *s = lookup(m, name, METRICS_COUNTER, help, labels);
    if (!s)
        return -1;
    s->value += value;
    return 0;
}

int metrics_gauge_set(struct metrics *m, const char *name, const char *help, const char *const *labels,
                      double value)
{
    struct series *s = lookup(m, name, METRICS_GAUGE, help, labels);
    if (!s)
        return -1;
    s->value = value;
    return 0;
}

int metrics_gauge_add(struct metrics *m, const char *name, const char *help, const char *const *labels,
                      double value)
{
    struct series *s = lookup(m, name, METRICS_GAUGE, help, labels);
    if (!s)
        return -1;
    s->value += value;
    return 0;
}

int metrics_histogram_observe(struct metrics *m, const char *name, const char *help, const char *const *labels,
                              double value)
{
    if (isnan(value))
        return -1;
    struct series *s = lookup(m, name, METRICS_HISTOGRAM, help, labels);
    if (!s)
        return -1;
    struct family *f = family_find(m, name);
    for (size_t i = 0; i < f->nbounds; i++)
        if (value <= f->bounds[i])
            s->buckets[i]++;
    s->sum += value;
    s->count++;
    return 0;
}

void metrics_reset(struct metrics *m, const char *name)
{
    struct family *f = family_find(m, name);
    if (!f)
        return;
    for (size_t i = 0; i < f->nseries; i++)
        series_clear(&f->series[i]);
    f->nseries = 0;
}

double metrics_value(const struct metrics *m, const char *name, const char *const *labels)
{
    struct family *f = family_find(m, name);
    if (!f)
        return NAN;
    char *lt = labels_text(labels, f->type == METRICS_HISTOGRAM);
    if (!lt)
        return NAN;
    double v = NAN;
    for (size_t i = 0; i < f->nseries; i++) {
        if (strcmp(f->series[i].labels, lt) == 0) {
            v = f->type == METRICS_HISTOGRAM ? (double)f->series[i].count : f->series[i].value;
            break;
        }
    }
    free(lt);
    return v;
}

/* Sample values as Prometheus writes them: NaN, +Inf, -Inf, integers as integers, others shortest round-trip. */
static void put_number(FILE *out, double v)
{
    char buf[32];
    if (isnan(v))
        fputs("NaN", out);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", out);
    else
        fputs(json_number_format(v, buf, sizeof buf), out);
}

/* `name_suffix{labels,le="bound"} value` for one histogram line; `le` NULL leaves the labels as they are. */
static void put_sample(FILE *out, const char *name, const char *suffix, const char *labels, const char *le,
                       double value)
{
    fprintf(out, "%s%s", name, suffix);
    if (le && *labels)
        fprintf(out, "%.*s,le=\"%s\"}", (int)(strlen(labels) - 1), labels, le);
    else if (le)
        fprintf(out, "{le=\"%s\"}", le);
    else
        fputs(labels, out);
    fputc(' ', out);
    put_number(out, value);
    fputc('\n', out);
}

/* One family: HELP, TYPE, then its series in label order; nothing at all when it has no series. */
static void put_family(FILE *out, const struct family *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    if (f->nseries == 0)
        return;
    fprintf(out, "# HELP %s ", f->name);
    put_escaped(out, f->help, 0);
    fprintf(out, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    for (size_t i = 0; i < f->nseries; i++) {
        const struct series *s = &f->series[i];
        if (f->type != METRICS_HISTOGRAM) {
            put_sample(out, f->name, "", s->labels, NULL, s->value);
            continue;
        }
        for (size_t b = 0; b < f->nbounds; b++) {
            char le[32];
            put_sample(out, f->name, "_bucket", s->labels, json_number_format(f->bounds[b], le, sizeof le),
                       (double)s->buckets[b]);
        }
        put_sample(out, f->name, "_bucket", s->labels, "+Inf", (double)s->count);
        put_sample(out, f->name, "_sum", s->labels, NULL, s->sum);
        put_sample(out, f->name, "_count", s->labels, NULL, (double)s->count);
    }
}

/* Resident set size from /proc/self/statm (second field, in pages); -1 where it cannot be read. */
static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    unsigned long size, resident;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    if (n != 2 || page <= 0)
        return -1;
    return (double)resident * (double)page;
}

char *metrics_render(struct metrics *m)
{
    double rss = resident_bytes();
    if (rss >= 0 && metrics_gauge_set(m, RSS_NAME, "Resident memory size in bytes.", NULL, rss) < 0)
        return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out)
        return NULL;
    for (size_t i = 0; i < m->nfams; i++)
        put_family(out, m->fams[i]);
    int failed = ferror(out);
    if (fclose(out) != 0 || failed) {
        free(text);
        return NULL;
    }
    return text;
}
