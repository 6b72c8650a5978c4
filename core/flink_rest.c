/* Flink REST API calls on the loop (see flink_rest.h). A call owns its http request; the client keeps every live
 * call in a list so that flink_rest_free can cancel them. */
#include "flink_rest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "strutil.h"
#include "version.h"

#define FLINK_REST_MAX_BODY ((size_t)4 << 20) /* a jobs overview of thousands of jobs still fits */

struct flink_rest {
    struct http_client *http;
    char *template;
    struct flink_rest_call *calls;
};

struct flink_rest_call {
    struct flink_rest *r;
    struct http_request *req;
    char what[600]; /* "GET http://...": the prefix of every error */
    flink_rest_done_fn done;
    void *ud;
    int in_done;
    struct flink_rest_call *prev, *next;
};

int flink_rest_template_check(const char *t, char *err, size_t errlen)
{
    if (t == NULL || (strncmp(t, "http://", 7) != 0 && strncmp(t, "https://", 8) != 0)) {
        strutil_errf(err, errlen, "\"%.200s\": expected an http:// or https:// URL", t ? t : "");
        return -1;
    }
    for (const char *p = strchr(t, '{'); p; p = strchr(p + 1, '{')) {
        if (strncmp(p, "{name}", 6) != 0 && strncmp(p, "{namespace}", 11) != 0) {
            strutil_errf(err, errlen, "\"%.200s\": the only placeholders are {name} and {namespace}", t);
            return -1;
        }
    }
    return 0;
}

struct flink_rest *flink_rest_new(struct ev_loop *loop, const char *t, char *err, size_t errlen)
{
    if (t == NULL)
        t = FLINK_REST_DEFAULT_URL;
    if (flink_rest_template_check(t, err, errlen) != 0)
        return NULL;
    struct flink_rest *r = calloc(1, sizeof *r);
    if (r == NULL || (r->template = strutil_dup(t)) == NULL) {
        free(r);
        strutil_errf(err, errlen, "flink rest: out of memory");
        return NULL;
    }
    if ((r->http = http_client_new(loop, err, errlen)) == NULL) {
        free(r->template);
        free(r);
        return NULL;
    }
    return r;
}

static void call_unlink_free(struct flink_rest_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->r->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

void flink_rest_free(struct flink_rest *r)
{
    if (r == NULL)
        return;
    while (r->calls) {
        http_request_cancel(r->calls->req);
        call_unlink_free(r->calls);
    }
    http_client_free(r->http);
    free(r->template);
    free(r);
}

int flink_rest_base(const struct flink_rest *r, const char *ns, const char *name, char *buf, size_t len)
{
    size_t n = 0;
    for (const char *p = r->template; *p; p++) {
        const char *put = NULL;
        if (strncmp(p, "{name}", 6) == 0) {
            put = name;
            p += 5;
        } else if (strncmp(p, "{namespace}", 11) == 0) {
            put = ns;
            p += 10;
        }
        size_t add = put ? strlen(put) : 1;
        if (n + add >= len)
            return -1;
        memcpy(buf + n, put ? put : p, add);
        n += add;
    }
    while (n > 0 && buf[n - 1] == '/') /* the paths bring their own slash */
        n--;
    buf[n] = '\0';
    return 0;
}

/* Only a 2xx answer with a JSON body is an answer; everything else is an error saying what came back. */
static void call_on_done(void *ud, const struct http_response *resp)
{
    struct flink_rest_call *c = ud;
    char why[900];
    cJSON *body = NULL;
    struct flink_rest_answer a = {.status = resp->status};
    if (resp->error) {
        snprintf(why, sizeof why, "%s: %s", c->what, resp->error);
        a.error = why;
    } else if (resp->status < 200 || resp->status >= 300) {
        snprintf(why, sizeof why, "%s: HTTP %ld: %.200s", c->what, resp->status, resp->body);
        a.error = why;
    } else if ((body = cJSON_ParseWithLength(resp->body, resp->body_len)) == NULL) {
        snprintf(why, sizeof why, "%s: the answer is not JSON", c->what);
        a.error = why;
    }
    a.body = body;
    c->in_done = 1;
    c->done(c->ud, &a);
    cJSON_Delete(body);
    call_unlink_free(c);
}

/* Starts one call of method base+path with the request options o (url, method and what are filled in here). */
static struct flink_rest_call *call_start(struct flink_rest *r, const char *ns, const char *name, const char *method,
                                          const char *path, struct http_request_opts *o, flink_rest_done_fn done,
                                          void *ud, char *err, size_t errlen)
{
    char url[512];
    if (flink_rest_base(r, ns, name, url, sizeof url) != 0 || strlen(url) + strlen(path) >= sizeof url) {
        strutil_errf(err, errlen, "flink rest: URL of %s/%s too long", ns, name);
        return NULL;
    }
    strcat(url, path);
    struct flink_rest_call *c = calloc(1, sizeof *c);
    if (c == NULL) {
        strutil_errf(err, errlen, "flink rest: out of memory");
        return NULL;
    }
    c->r = r;
    c->done = done;
    c->ud = ud;
    snprintf(c->what, sizeof c->what, "%s %s", method, url);
    o->method = method;
    o->url = url;
    static const struct http_callbacks cb = {NULL, call_on_done};
    c->next = r->calls;
    if (r->calls)
        r->calls->prev = c;
    r->calls = c;
    if ((c->req = http_request_start(r->http, o, &cb, c, err, errlen)) == NULL) {
        call_unlink_free(c);
        return NULL;
    }
    return c;
}

struct flink_rest_call *flink_rest_request(struct flink_rest *r, const char *ns, const char *name,
                                           const char *method, const char *path, const char *body,
                                           flink_rest_done_fn done, void *ud, char *err, size_t errlen)
{
    static const char *const json_headers[] = {"Accept: application/json", "Content-Type: application/json",
                                               "User-Agent: flinkop/" FLINKOP_VERSION, NULL};
    struct http_request_opts o = {.headers = json_headers, .body = body, .body_len = body ? strlen(body) : 0,
                                  .timeout_ms = FLINK_REST_TIMEOUT_MS, .connect_timeout_ms = FLINK_REST_TIMEOUT_MS,
                                  .max_body = FLINK_REST_MAX_BODY};
    return call_start(r, ns, name, method, path, &o, done, ud, err, errlen);
}

struct flink_rest_call *flink_rest_upload(struct flink_rest *r, const char *ns, const char *name, const char *file,
                                          const char *filename, flink_rest_done_fn done, void *ud, char *err,
                                          size_t errlen)
{
    static const char *const headers[] = {"Accept: application/json", "User-Agent: flinkop/" FLINKOP_VERSION, NULL};
    const struct http_form_file form = {.path = file, .field = "jarfile", .filename = filename,
                                        .type = "application/x-java-archive"};
    /* A jar of hundreds of MiB takes longer than a poll: bounded by a stall of 30 s, not by a short total. */
    struct http_request_opts o = {.headers = headers, .form = &form, .timeout_ms = FLINK_REST_UPLOAD_TIMEOUT_MS,
                                  .connect_timeout_ms = FLINK_REST_TIMEOUT_MS, .low_speed_limit = 1,
                                  .low_speed_time_s = 30, .max_body = FLINK_REST_MAX_BODY};
    return call_start(r, ns, name, "POST", "/jars/upload", &o, done, ud, err, errlen);
}

struct http_client *flink_rest_http(struct flink_rest *r)
{
    return r->http;
}

void flink_rest_call_cancel(struct flink_rest_call *c)
{
    if (c == NULL || c->in_done)
        return;
    http_request_cancel(c->req);
    call_unlink_free(c);
}

int flink_rest_is_id(const char *s)
{
    size_t n = 0;
    for (; s && isxdigit((unsigned char)s[n]); n++)
        ;
    return s && n == 32 && s[n] == '\0';
}

static const char *string_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A JSON number that is a whole number of milliseconds, or -1. */
static double millis_member(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9007199254740992.0 ? v->valuedouble : -1;
}

static int job_newer_first(const void *a, const void *b)
{
    double x = millis_member(*(cJSON *const *)a, "start_time"), y = millis_member(*(cJSON *const *)b, "start_time");
    if (x != y)
        return x > y ? -1 : 1;
    return strcmp(string_member(*(cJSON *const *)a, "id"), string_member(*(cJSON *const *)b, "id"));
}

/* Detaches the items of an array into a sorted array of the same items. */
static cJSON *array_sorted(cJSON *list, int (*cmp)(const void *, const void *))
{
    int n = cJSON_GetArraySize(list);
    cJSON **items = n > 0 ? calloc((size_t)n, sizeof *items) : NULL;
    cJSON *out = cJSON_CreateArray();
    if ((n > 0 && items == NULL) || out == NULL) {
        free(items);
        cJSON_Delete(out);
        cJSON_Delete(list);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        items[i] = cJSON_DetachItemFromArray(list, 0);
    if (n > 1)
        qsort(items, (size_t)n, sizeof *items, cmp);
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(out, items[i]);
    free(items);
    cJSON_Delete(list);
    return out;
}

cJSON *flink_rest_jobs_parse(const cJSON *overview, char *err, size_t errlen)
{
    const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(overview, "jobs"), *j;
    if (!cJSON_IsArray(jobs)) {
        strutil_errf(err, errlen, "/jobs/overview: no \"jobs\" list in the answer");
        return NULL;
    }
    cJSON *out = cJSON_CreateArray();
    cJSON_ArrayForEach(j, jobs)
    {
        const char *id = string_member(j, "jid"), *state = string_member(j, "state");
        const char *name = string_member(j, "name");
        double start = millis_member(j, "start-time");
        if (!flink_rest_is_id(id) || state == NULL) {
            strutil_errf(err, errlen, "/jobs/overview: a job without a 32-digit \"jid\" or a \"state\"");
            cJSON_Delete(out);
            return NULL;
        }
        cJSON *job = cJSON_CreateObject();
        cJSON_AddItemToArray(out, job);
        cJSON_AddStringToObject(job, "id", id);
        cJSON_AddStringToObject(job, "name", name ? name : "");
        cJSON_AddStringToObject(job, "state", state);
        if (start >= 0)
            cJSON_AddNumberToObject(job, "start_time", start);
    }
    cJSON *sorted = array_sorted(out, job_newer_first);
    if (sorted == NULL)
        strutil_errf(err, errlen, "out of memory");
    return sorted;
}

cJSON *flink_rest_failure_parse(const cJSON *exceptions)
{
    const cJSON *entries = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(exceptions, "exceptionHistory"), "entries");
    const cJSON *e, *newest = NULL;
    cJSON_ArrayForEach(e, entries)
    {
        if (string_member(e, "exceptionName") &&
            (newest == NULL || millis_member(e, "timestamp") > millis_member(newest, "timestamp")))
            newest = e;
    }
    if (newest == NULL)
        return NULL;
    const char *cls = string_member(newest, "exceptionName"), *trace = string_member(newest, "stacktrace");
    char line[512] = "";
    if (trace) {
        /* "java.lang.RuntimeException: boom\n\tat ...": the message is what follows "<class>: " on line one. */
        size_t n = strcspn(trace, "\r\n"), cl = strlen(cls);
        const char *m = trace;
        if (n >= cl + 2 && strncmp(trace, cls, cl) == 0 && trace[cl] == ':' && trace[cl + 1] == ' ') {
            m += cl + 2;
            n -= cl + 2;
        }
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), m);
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "class", cls);
    cJSON_AddStringToObject(out, "message", line);
    return out;
}

/* The first line of a SerializedThrowable's stack trace ({"class", "stack-trace", ...}), else its class, else
 * `none`. */
static void throwable_line(const cJSON *cause, const char *none, char *buf, size_t len)
{
    const char *cls = string_member(cause, "class"), *trace = string_member(cause, "stack-trace");
    const char *text = trace ? trace : (cls ? cls : none);
    snprintf(buf, len, "%.*s", (int)strcspn(text, "\r\n"), text);
}

/* The answer of an asynchronous operation ({"status": {"id"}, "operation": {...}}): NULL with err when status.id is
 * neither IN_PROGRESS nor COMPLETED; {status = IN_PROGRESS}; {status = COMPLETED, <result_key> = result} when the
 * operation has a result (taken; NULL when none) and no failure cause under cause_key; else {status = FAILED,
 * failure}, the cause's first line, else `none`. */
static cJSON *operation_parse(const cJSON *body, const char *what, const char *cause_key, const char *result_key,
                              cJSON *result, const char *none, char *err, size_t errlen)
{
    const char *status = string_member(cJSON_GetObjectItemCaseSensitive(body, "status"), "id");
    const cJSON *cause = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, "operation"),
                                                          cause_key);
    if (status == NULL || (strcmp(status, "IN_PROGRESS") != 0 && strcmp(status, "COMPLETED") != 0)) {
        cJSON_Delete(result);
        strutil_errf(err, errlen, "%s status: no status.id IN_PROGRESS or COMPLETED in the answer", what);
        return NULL;
    }
    cJSON *out = cJSON_CreateObject();
    if (strcmp(status, "IN_PROGRESS") == 0) {
        cJSON_AddStringToObject(out, "status", "IN_PROGRESS");
        cJSON_Delete(result);
    } else if (result && !(cause && !cJSON_IsNull(cause))) {
        cJSON_AddStringToObject(out, "status", "COMPLETED");
        cJSON_AddItemToObject(out, result_key, result);
    } else {
        /* A failure cause is a SerializedThrowable: {"class", "stack-trace", ...}. */
        char why[512];
        throwable_line(cause, none, why, sizeof why);
        cJSON_AddStringToObject(out, "status", "FAILED");
        cJSON_AddStringToObject(out, "failure", why);
        cJSON_Delete(result);
    }
    return out;
}

cJSON *flink_rest_savepoint_parse(const cJSON *body, char *err, size_t errlen)
{
    const char *location = string_member(cJSON_GetObjectItemCaseSensitive(body, "operation"), "location");
    return operation_parse(body, "savepoint", "failure-cause", "location",
                           location ? cJSON_CreateString(location) : NULL, "no location", err, errlen);
}

cJSON *flink_rest_checkpoint_parse(const cJSON *body, char *err, size_t errlen)
{
    double id = millis_member(cJSON_GetObjectItemCaseSensitive(body, "operation"), "checkpointId");
    return operation_parse(body, "checkpoint", "failureCause", "checkpoint_id",
                           id >= 0 ? cJSON_CreateNumber(id) : NULL, "no checkpointId", err, errlen);
}

cJSON *flink_rest_checkpoints_savepoint(const cJSON *checkpoints, double since_ms)
{
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(checkpoints, "latest"),
                                                       "savepoint");
    const char *path = string_member(sp, "external_path"), *status = string_member(sp, "status");
    double triggered = millis_member(sp, "trigger_timestamp");
    if (path == NULL || *path == '\0' || (status && strcmp(status, "COMPLETED") != 0) || triggered < 0 ||
        triggered < since_ms)
        return NULL;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "status", "COMPLETED");
    cJSON_AddStringToObject(out, "location", path);
    cJSON_AddNumberToObject(out, "trigger_timestamp", triggered);
    return out;
}
