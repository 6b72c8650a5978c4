/* logfmt lines, built whole in memory and written with one fwrite so concurrent writers never interleave a line. */
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "strutil.h"

static enum log_level threshold = LOG_LEVEL_INFO;
static FILE *output; /* NULL means stderr, which is not a constant initializer */
static void (*clock_fn)(struct timespec *ts);

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, enum log_level *out)
{
    if (!s)
        return -1;
    for (int i = LOG_LEVEL_DEBUG; i <= LOG_LEVEL_ERROR; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return level >= LOG_LEVEL_DEBUG && level <= LOG_LEVEL_ERROR ? level_names[level] : "unknown";
}

void log_set_level(enum log_level level) { threshold = level; }
enum log_level log_get_level(void) { return threshold; }
int log_enabled(enum log_level level) { return level >= threshold; }
void log_set_output(FILE *out) { output = out; }
void log_set_clock(void (*now)(struct timespec *ts)) { clock_fn = now; }

/* A value needs quotes when a logfmt reader would otherwise split it or see a line end in it. */
static int needs_quotes(const char *v)
{
    if (!*v)
        return 1;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == '"' || *p == '=' || *p == 0x7f)
            return 1;
    return 0;
}

/* Quoted form: the escapes keep every byte below 0x20 (newlines above all) off the line as raw bytes. */
static void line_quoted(struct strbuf *l, const char *v)
{
    strbuf_append(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        switch (*p) {
        case '"': strbuf_append(l, "\\\"", 2); break;
        case '\\': strbuf_append(l, "\\\\", 2); break;
        case '\n': strbuf_append(l, "\\n", 2); break;
        case '\r': strbuf_append(l, "\\r", 2); break;
        case '\t': strbuf_append(l, "\\t", 2); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                strbuf_appendf(l, "\\x%02x", *p);
            } else {
                strbuf_append(l, (const char *)p, 1);
            }
        }
    }
    strbuf_append(l, "\"", 1);
}

/* A value as logfmt wants it: bare when safe, quoted and escaped otherwise. */
static void line_value(struct strbuf *l, const char *v)
{
    if (!v)
        v = "";
    if (needs_quotes(v))
        line_quoted(l, v);
    else
        strbuf_appends(l, v);
}

/* Keys come from our code, but a bad one must still not break the line: unsafe bytes become '_'. */
static void line_key(struct strbuf *l, const char *k)
{
    strbuf_append(l, " ", 1);
    if (!*k) {
        strbuf_append(l, "_", 1);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)k; *p; p++) {
        int bad = *p <= ' ' || *p == '"' || *p == '=' || *p == 0x7f;
        strbuf_append(l, bad ? "_" : (const char *)p, 1);
    }
}

/* Whether the key names a secret: the whole key, or its last part after '.', '_' or '-', is a secret word. */
static int key_is_secret(const char *k)
{
    static const char *const words[] = {"token", "authorization", "password", "secret"};
    const char *last = k;
    for (const char *p = k; *p; p++)
        if (*p == '.' || *p == '_' || *p == '-')
            last = p + 1;
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasecmp(k, words[i]) == 0 || strcasecmp(last, words[i]) == 0)
            return 1;
    return 0;
}

/* RFC 3339 in UTC with milliseconds, e.g. 2026-11-25T12:00:00.123Z. */
static void line_timestamp(struct strbuf *l)
{
    struct timespec ts = {0, 0};
    struct tm tm;
    if (clock_fn)
        clock_fn(&ts);
    else
        clock_gettime(CLOCK_REALTIME, &ts);
    if (!gmtime_r(&ts.tv_sec, &tm)) {
        strbuf_appends(l, "ts=unknown");
        return;
    }
    strbuf_appendf(l, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                   tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((ts.tv_nsec / 1000000L) % 1000));
}

/* Builds and writes one event; `object` (may be NULL) goes right after msg. */
static void log_write(enum log_level level, const char *msg, const char *object, va_list pairs)
{
    if (!log_enabled(level))
        return;
    FILE *out = output ? output : stderr;
    struct strbuf l = {0};
    line_timestamp(&l);
    strbuf_appends(&l, " level=");
    strbuf_appends(&l, log_level_name(level));
    strbuf_appends(&l, " msg=");
    line_quoted(&l, msg ? msg : "");
    if (object) {
        line_key(&l, "object");
        strbuf_append(&l, "=", 1);
        line_value(&l, object);
    }
    const char *key;
    while ((key = va_arg(pairs, const char *)) != NULL) {
        const char *val = va_arg(pairs, const char *);
        line_key(&l, key);
        strbuf_append(&l, "=", 1);
        line_value(&l, key_is_secret(key) ? "[redacted]" : val);
    }
    strbuf_append(&l, "\n", 1);
    if (l.failed) {
        /* Out of memory: still say that an event was lost, without its (unknown-size) contents. */
        fprintf(out, "level=error msg=\"log: out of memory, event dropped\"\n");
    } else {
        fwrite(l.data, 1, l.len, out);
    }
    fflush(out);
    strbuf_free(&l);
}

void log_vmsg(enum log_level level, const char *msg, va_list pairs)
{
    va_list ap;
    va_copy(ap, pairs);
    log_write(level, msg, NULL, ap);
    va_end(ap);
}

void log_msg(enum log_level level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    log_write(level, msg, NULL, ap);
    va_end(ap);
}

void log_object(enum log_level level, const char *ns, const char *name, const char *msg, ...)
{
    if (!log_enabled(level))
        return;
    char small[256];
    char *heap = NULL;
    size_t need = (ns ? strlen(ns) : 0) + (name ? strlen(name) : 0) + 2;
    char *buf = need <= sizeof small ? small : (heap = malloc(need));
    if (buf && ns && *ns)
        snprintf(buf, need, "%s/%s", ns, name ? name : "");
    else if (buf)
        snprintf(buf, need, "%s", name ? name : "");
    /* Out of memory: the event still goes out, only the object is lost. */
    const char *object = buf ? buf : "?";
    va_list ap;
    va_start(ap, msg);
    log_write(level, msg, object, ap);
    va_end(ap);
    free(heap);
}
