/* The apiserver client (see kube.h): auth headers, rate limiting, retries, and watch-stream decoding.
 *
 * A call moves QUEUED (waiting for a limiter token) -> RUNNING (an http request) -> done, or RUNNING -> WAITING
 * (Retry-After timer) -> QUEUED again. With a credential plugin, an attempt that finds no valid credential moves to
 * CREDENTIAL (waiting for the plugin's run) and then RUNNING; a 401 sends it back there once. Failures found while
 * starting an attempt are reported from a 0-delay timer so that no callback ever runs before kube_request has
 * returned the handle. */
#include "kube.h"

#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exec_credential.h"
#include "http.h"
#include "log.h"
#include "strutil.h"
#include "version.h"

#define KUBE_DEFAULT_QPS 20.0
#define KUBE_DEFAULT_BURST 40
#define KUBE_DEFAULT_ATTEMPTS 5
#define KUBE_DEFAULT_TIMEOUT_MS 60000L
#define KUBE_MAX_RETRY_AFTER_S 60
#define KUBE_APPLY_PATCH "application/apply-patch+yaml"

enum call_state { CALL_QUEUED, CALL_RUNNING, CALL_WAITING, CALL_FAILING, CALL_CREDENTIAL };

struct kube_call;

/* A FIFO of calls: the rate limiter's, or the calls waiting for a plugin credential. A call is in one at most. */
struct call_fifo {
    struct kube_call *head, *tail;
};

struct kube_call {
    struct kube *k;
    enum call_state state;
    char *method, *url, *body, *content_type;
    const char *verb;
    int idempotent, watch, attempts;
    struct http_request *req;
    ev_timer timer;              /* Retry-After wait, or a deferred failure */
    char *fail_msg;              /* for CALL_FAILING */
    kube_done_fn done;
    struct kube_watch_callbacks wcb;
    void *ud;
    struct http_lines lines;
    int depth;                   /* > 0 while user callbacks run from inside the watch stream */
    int cancelled, in_final;
    int end_status;              /* set by an ERROR event or a framing error */
    char *end_msg;
    struct kube_call *prev, *next;   /* every live call */
    struct kube_call *qnext;         /* in `fifo` */
    struct call_fifo *fifo;          /* the FIFO the call is in, or NULL */
    unsigned cred_gen;               /* the plugin credential the last attempt carried */
    int auth_retried;                /* a 401 already sent it back for a fresh credential */
};

struct kube {
    struct ev_loop *loop;
    struct kube_config *cfg;
    struct http_client *http;
    struct kube_opts o;
    struct http_tls tls;
    double tokens;
    ev_tstamp last;
    ev_timer qtimer;
    struct kube_call *calls;
    struct call_fifo limiter, cred_wait;
    struct exec_plugin *exec;        /* NULL unless the user is a credential plugin */
};

static void call_attempt(struct kube_call *c);
static int call_unauthorized(struct kube_call *c);
static void kube_pump(struct kube *k);

/* True when query (a&b=c form) has watch=1 or watch=true. */
static int query_is_watch(const char *q)
{
    while (q && *q) {
        size_t n = strcspn(q, "&");
        if ((n == 7 && strncmp(q, "watch=1", 7) == 0) || (n == 10 && strncmp(q, "watch=true", 10) == 0))
            return 1;
        q += n;
        if (*q == '&')
            q++;
    }
    return 0;
}

/* A GET names a collection when the resource part of the path (after /api/V or /apis/G/V, and after
 * namespaces/NS for namespaced kinds) is one segment. namespaces/NS/status and /finalize are objects. */
static int path_is_collection(const char *path)
{
    const char *seg[16];
    size_t len[16], n = 0;
    for (const char *p = path; *p && n < 16;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t l = strcspn(p, "/");
        seg[n] = p;
        len[n++] = l;
        p += l;
    }
    size_t base;
    if (n >= 1 && len[0] == 3 && strncmp(seg[0], "api", 3) == 0)
        base = 2;
    else if (n >= 1 && len[0] == 4 && strncmp(seg[0], "apis", 4) == 0)
        base = 3;
    else
        return 0;
    if (n <= base)
        return 0;
    size_t r = base, rn = n - base;
    if (rn >= 3 && len[r] == 10 && strncmp(seg[r], "namespaces", 10) == 0) {
        r += 2;
        rn -= 2;
        if (rn == 1 && ((len[r] == 6 && strncmp(seg[r], "status", 6) == 0) ||
                        (len[r] == 8 && strncmp(seg[r], "finalize", 8) == 0)))
            return 0;
    }
    return rn == 1;
}

const char *kube_verb(const char *method, const char *path, const char *query)
{
    if (query_is_watch(query))
        return "watch";
    if (!method || strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
        return path && path_is_collection(path) ? "list" : "get";
    if (strcmp(method, "POST") == 0)
        return "create";
    if (strcmp(method, "PUT") == 0)
        return "update";
    if (strcmp(method, "PATCH") == 0)
        return "patch";
    if (strcmp(method, "DELETE") == 0)
        return "delete";
    return "other";
}

static void kube_count(struct kube *k, const char *verb, int code)
{
    if (k->o.on_response)
        k->o.on_response(k->o.on_response_ud, verb, code);
}

static void fifo_push(struct call_fifo *f, struct kube_call *c)
{
    c->fifo = f;
    c->qnext = NULL;
    if (f->tail)
        f->tail->qnext = c;
    else
        f->head = c;
    f->tail = c;
}

/* Takes c out of whichever FIFO holds it. */
static void fifo_remove(struct kube_call *c)
{
    struct call_fifo *f = c->fifo;
    if (!f)
        return;
    struct kube_call **pp = &f->head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    if (*pp)
        *pp = c->qnext;
    if (f->tail == c)
        f->tail = prev;
    c->qnext = NULL;
    c->fifo = NULL;
}

/* Frees a call that no longer has a running http request; unlinks it from every list first. */
static void call_free(struct kube_call *c)
{
    struct kube *k = c->k;
    fifo_remove(c);
    ev_timer_stop(k->loop, &c->timer);
    if (c->prev)
        c->prev->next = c->next;
    else
        k->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->method);
    free(c->url);
    free(c->body);
    free(c->content_type);
    free(c->fail_msg);
    free(c->end_msg);
    http_lines_free(&c->lines);
    free(c);
}

/* Calls done (plain) or on_end (watch) once, then frees the call. */
static void call_finish(struct kube_call *c, int status, const char *body, size_t body_len, const char *error)
{
    c->in_final = 1;
    if (c->watch) {
        if (c->wcb.on_end)
            c->wcb.on_end(c->ud, status, error);
    } else if (c->done) {
        struct kube_response r = {.status = status, .body = body ? body : "", .body_len = body ? body_len : 0,
                                  .error = error, .attempts = c->attempts};
        c->done(c->ud, &r);
    }
    call_free(c);
}

/* Timer: a Retry-After wait ended (queue again) or a deferred failure is due (report it). */
static void call_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct kube_call *c = w->data;
    if (c->state == CALL_FAILING) {
        char msgbuf[512];
        snprintf(msgbuf, sizeof msgbuf, "%s", c->fail_msg ? c->fail_msg : "failed");
        kube_count(c->k, c->verb, 0);
        call_finish(c, 0, NULL, 0, msgbuf);
        return;
    }
    c->state = CALL_QUEUED;
    if (c->watch) {
        call_attempt(c);
        return;
    }
    fifo_push(&c->k->limiter, c);
    kube_pump(c->k);
}

/* Reports `what` from the loop rather than from the current stack. */
static void call_fail_later(struct kube_call *c, const char *what)
{
    free(c->fail_msg);
    c->fail_msg = strutil_dup(what);
    c->state = CALL_FAILING;
    ev_timer_stop(c->k->loop, &c->timer);
    ev_timer_set(&c->timer, 0., 0.);
    ev_timer_start(c->k->loop, &c->timer);
}

/* Adds tokens for the time since the last refill, up to the burst. */
static void kube_refill(struct kube *k)
{
    ev_tstamp now = ev_now(k->loop);
    if (now > k->last) {
        k->tokens += (now - k->last) * k->o.qps;
        if (k->tokens > k->o.burst)
            k->tokens = k->o.burst;
    }
    k->last = now;
}

/* Starts queued calls while tokens last, then sleeps until the next token is due. */
static void kube_pump(struct kube *k)
{
    ev_timer_stop(k->loop, &k->qtimer);
    if (k->o.qps > 0)
        kube_refill(k);
    while (k->limiter.head && (k->o.qps <= 0 || k->tokens >= 1.0)) {
        struct kube_call *c = k->limiter.head;
        fifo_remove(c);
        if (k->o.qps > 0)
            k->tokens -= 1.0;
        call_attempt(c);
    }
    if (k->limiter.head) {
        ev_timer_set(&k->qtimer, (1.0 - k->tokens) / k->o.qps, 0.);
        ev_timer_start(k->loop, &k->qtimer);
    }
}

static void kube_on_qtimer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    kube_pump(w->data);
}

/* An ERROR event's Status ends the watch with its code and message. */
static void watch_error_event(struct kube_call *c, const cJSON *ev)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "message");
    c->end_status = cJSON_IsNumber(code) && code->valuedouble >= 100 && code->valuedouble < 600
                        ? (int)code->valuedouble
                        : 500;
    free(c->end_msg);
    c->end_msg = strutil_dup(cJSON_IsString(m) ? m->valuestring : "watch ERROR event without a Status message");
}

/* One line of the watch stream: decode it and hand it on. Returns nonzero to stop the stream (ERROR event, a
 * broken line, or the consumer cancelled the watch). */
static int watch_on_line(void *ud, char *line, size_t len)
{
    struct kube_call *c = ud;
    cJSON *ev = cJSON_ParseWithLength(line, len);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "type");
    if (!ev || !cJSON_IsString(type) || !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(ev, "object"))) {
        c->end_status = 0;
        free(c->end_msg);
        c->end_msg = strutil_dup(ev ? "watch event without a type or an object" : "watch event is not JSON");
        cJSON_Delete(ev);
        return 1;
    }
    if (strcmp(type->valuestring, "ERROR") == 0) {
        watch_error_event(c, ev);
        cJSON_Delete(ev);
        return 1;
    }
    if (c->wcb.on_event)
        c->wcb.on_event(c->ud, ev);
    cJSON_Delete(ev);
    return c->cancelled;
}

/* Ends the watch from inside the stream: stops the transfer (http defers that safely) and calls on_end. */
static void watch_end_now(struct kube_call *c)
{
    char m[512];
    snprintf(m, sizeof m, "%s", c->end_msg ? c->end_msg : "watch ended");
    if (c->req) {
        http_request_cancel(c->req);
        c->req = NULL;
    }
    kube_count(c->k, "watch", 200);
    call_finish(c, c->end_status, NULL, 0, m);
}

/* http on_chunk for watches: split into lines, decode, deliver. */
static int watch_on_chunk(void *ud, const char *data, size_t len)
{
    struct kube_call *c = ud;
    char err[128];
    c->depth++;
    int rc = http_lines_feed(&c->lines, data, len, watch_on_line, c, err, sizeof err);
    c->depth--;
    if (c->cancelled) {
        call_free(c); /* kube_call_cancel already cancelled the http request */
        return 1;
    }
    if (rc < 0) {
        char m[200];
        snprintf(m, sizeof m, "watch event %s", err);
        free(c->end_msg);
        c->end_msg = strutil_dup(m);
        c->end_status = 0;
    }
    if (rc) {
        watch_end_now(c);
        return 1;
    }
    return 0;
}

/* The Status message of an error body, else a short prefix of the body itself. */
static void status_message(const char *body, size_t len, char *out, size_t outlen)
{
    cJSON *st = cJSON_ParseWithLength(body, len);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(st, "message");
    if (cJSON_IsString(m))
        snprintf(out, outlen, "%s", m->valuestring);
    else
        snprintf(out, outlen, "%.200s", len ? body : "no body");
    cJSON_Delete(st);
}

/* http on_done for watches. A stream that ends normally may still hold a last line without its newline. */
static void watch_on_done(void *ud, const struct http_response *resp)
{
    struct kube_call *c = ud;
    char m[600];
    c->req = NULL;
    if (resp->error) {
        snprintf(m, sizeof m, "watch %s: %s", c->url, resp->error);
        kube_count(c->k, "watch", 0);
        call_finish(c, 0, NULL, 0, m);
        return;
    }
    if (resp->status < 200 || resp->status >= 300) {
        kube_count(c->k, "watch", (int)resp->status);
        if (resp->status == 401 && call_unauthorized(c))
            return;
        status_message(resp->body, resp->body_len, m, sizeof m);
        call_finish(c, (int)resp->status, NULL, 0, m);
        return;
    }
    char err[128];
    c->depth++;
    int rc = http_lines_finish(&c->lines, watch_on_line, c, err, sizeof err);
    c->depth--;
    if (c->cancelled) {
        call_free(c);
        return;
    }
    kube_count(c->k, "watch", (int)resp->status);
    if (rc) {
        call_finish(c, c->end_status, NULL, 0, c->end_msg ? c->end_msg : "watch ended");
        return;
    }
    call_finish(c, (int)resp->status, NULL, 0, NULL);
}

/* http on_done for plain requests: count, retry when allowed, else report. */
static void request_on_done(void *ud, const struct http_response *resp)
{
    struct kube_call *c = ud;
    struct kube *k = c->k;
    c->req = NULL;
    int code = resp->error ? 0 : (int)resp->status;
    kube_count(k, c->verb, code);
    if (code == 401 && call_unauthorized(c))
        return;
    if (code && (code == 429 || code >= 500) && resp->retry_after_s >= 0 && c->idempotent &&
        c->attempts < k->o.max_attempts) {
        long s = resp->retry_after_s > KUBE_MAX_RETRY_AFTER_S ? KUBE_MAX_RETRY_AFTER_S : resp->retry_after_s;
        c->state = CALL_WAITING;
        ev_timer_set(&c->timer, (double)s, 0.);
        ev_timer_start(k->loop, &c->timer);
        return;
    }
    if (resp->error) {
        char m[700];
        snprintf(m, sizeof m, "%s %s: %s", c->method, c->url, resp->error);
        call_finish(c, 0, NULL, 0, m);
        return;
    }
    call_finish(c, code, resp->body, resp->body_len, NULL);
}

/* Appends "Name: value" to a header list; the caller frees each line. */
static char *header_line(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "%s: %s", name, value);
    return h;
}

/* What one attempt authenticates with: a bearer token (or NULL) and the TLS material. */
struct attempt_auth {
    const char *token;
    struct http_tls tls;
};

/* Fills *a for c's next attempt. Returns 0; or 1 when c now waits for the credential plugin (the attempt is made
 * when its run ends); or -1 with why in err. */
static int call_auth(struct kube_call *c, struct attempt_auth *a, char *err, size_t errlen)
{
    struct kube *k = c->k;
    const struct exec_credential *cred;
    a->tls = k->tls;
    if (!k->exec) {
        a->token = kube_config_token(k->cfg, time(NULL), err, errlen);
        return !a->token && err[0] ? -1 : 0;
    }
    switch (exec_plugin_get(k->exec, &cred, &c->cred_gen, err, errlen)) {
    case EXEC_PLUGIN_PENDING:
        c->state = CALL_CREDENTIAL;
        fifo_push(&k->cred_wait, c);
        return 1;
    case EXEC_PLUGIN_FAILED:
        return -1;
    case EXEC_PLUGIN_READY:
        break;
    }
    a->token = cred->token;
    if (cred->cert_pem) {
        a->tls.cert_file = a->tls.key_file = NULL;
        a->tls.cert_pem = cred->cert_pem;
        a->tls.cert_pem_len = cred->cert_pem_len;
        a->tls.key_pem = cred->key_pem;
        a->tls.key_pem_len = cred->key_pem_len;
    }
    return 0;
}

/* Starts one HTTP attempt with fresh credentials. The Authorization line is wiped once http has copied it. */
static void call_attempt(struct kube_call *c)
{
    struct kube *k = c->k;
    char err[1200] = "";
    struct attempt_auth a;
    int wait = call_auth(c, &a, err, sizeof err);
    if (wait) {
        if (wait < 0)
            call_fail_later(c, err);
        return;
    }
    char *auth = NULL;
    if (a.token) {
        size_t n = strlen(a.token) + sizeof "Authorization: Bearer ";
        if ((auth = malloc(n)))
            snprintf(auth, n, "Authorization: Bearer %s", a.token);
    }
    char *ctype = c->body ? header_line("Content-Type", c->content_type) : NULL;
    const char *headers[5];
    size_t h = 0;
    headers[h++] = "Accept: application/json";
    headers[h++] = "User-Agent: flinkop/" FLINKOP_VERSION;
    if (auth)
        headers[h++] = auth;
    if (ctype)
        headers[h++] = ctype;
    headers[h] = NULL;
    if ((a.token && !auth) || (c->body && !ctype)) {
        free(ctype);
        call_fail_later(c, "out of memory");
        return;
    }
    struct http_request_opts o = {
        .method = c->method,
        .url = c->url,
        .headers = headers,
        .body = c->body,
        .body_len = c->body ? strlen(c->body) : 0,
        .timeout_ms = c->watch ? 0 : k->o.timeout_ms,
        .tls = &a.tls,
    };
    struct http_callbacks cb = c->watch ? (struct http_callbacks){watch_on_chunk, watch_on_done}
                                        : (struct http_callbacks){NULL, request_on_done};
    c->attempts++;
    c->state = CALL_RUNNING;
    c->req = http_request_start(k->http, &o, &cb, c, err, sizeof err);
    strutil_free_secret(auth);
    free(ctype);
    if (!c->req)
        call_fail_later(c, err);
}

/* A plugin run ended: the calls that waited for it make their attempt, or fail with the run's message. */
static void kube_on_credential(void *ud, const struct exec_credential *cred, const char *err)
{
    struct kube *k = ud;
    if (err) {
        log_msg(LOG_LEVEL_ERROR, "credential plugin failed", "error", err, NULL);
    } else {
        char expires[32] = "none";
        struct tm tm;
        if (cred->expiry && gmtime_r(&cred->expiry, &tm))
            strftime(expires, sizeof expires, "%Y-%m-%dT%H:%M:%SZ", &tm);
        log_msg(LOG_LEVEL_INFO, "credential plugin ran", "plugin", k->cfg->exec->where, "expires", expires,
                "client_certificate", cred->cert_pem ? "yes" : "no", NULL);
    }
    struct call_fifo waiting = k->cred_wait;
    k->cred_wait.head = k->cred_wait.tail = NULL;
    for (struct kube_call *c = waiting.head, *next; c; c = next) {
        next = c->qnext;
        c->fifo = NULL;
        c->qnext = NULL;
        if (err)
            call_fail_later(c, err);
        else
            call_attempt(c);
    }
}

/* A 401 to a credential from the plugin: the credential is dropped (once per credential, however many calls saw
 * the 401) and the call tries once more with the next one. Returns 1 when the call went back to wait for it. */
static int call_unauthorized(struct kube_call *c)
{
    if (!c->k->exec)
        return 0;
    exec_plugin_reject(c->k->exec, c->cred_gen);
    if (c->auth_retried)
        return 0;
    c->auth_retried = 1;
    call_attempt(c);
    return 1;
}

/* Builds a call shared by plain requests and watches; NULL with err on bad arguments or no memory. */
static struct kube_call *call_new(struct kube *k, const char *method, const char *path, const char *query,
                                  char *err, size_t errlen)
{
    if (!method || !path || path[0] != '/') {
        strutil_errf(err, errlen, "kube: request path must begin with '/'");
        return NULL;
    }
    char terr[512];
    if (!kube_config_token(k->cfg, time(NULL), terr, sizeof terr) && terr[0]) {
        strutil_errf(err, errlen, "kube: %s", terr);
        return NULL;
    }
    struct kube_call *c = calloc(1, sizeof *c);
    size_t n = strlen(k->cfg->server) + strlen(path) + (query ? strlen(query) : 0) + 2;
    if (!c || !(c->url = malloc(n)) || !(c->method = strutil_dup(method))) {
        if (c)
            free(c->url);
        free(c);
        strutil_errf(err, errlen, "kube: out of memory");
        return NULL;
    }
    snprintf(c->url, n, "%s%s%s%s", k->cfg->server, path, query && *query ? "?" : "", query ? query : "");
    c->k = k;
    c->verb = kube_verb(method, path, query);
    ev_timer_init(&c->timer, call_on_timer, 0., 0.);
    c->timer.data = c;
    c->next = k->calls;
    if (k->calls)
        k->calls->prev = c;
    k->calls = c;
    return c;
}

struct kube_call *kube_request(struct kube *k, const char *method, const char *path, const char *query,
                               const char *body, const char *content_type, kube_done_fn done, void *ud, char *err,
                               size_t errlen)
{
    struct kube_call *c = call_new(k, method, path, query, err, errlen);
    if (!c)
        return NULL;
    c->done = done;
    c->ud = ud;
    if (!content_type)
        content_type = "application/json";
    if (body && (!(c->body = strutil_dup(body)) || !(c->content_type = strutil_dup(content_type)))) {
        call_free(c);
        strutil_errf(err, errlen, "kube: out of memory");
        return NULL;
    }
    c->idempotent = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 || strcmp(method, "DELETE") == 0 ||
                    (strcmp(method, "PATCH") == 0 && strcmp(content_type, KUBE_APPLY_PATCH) == 0);
    c->state = CALL_QUEUED;
    fifo_push(&k->limiter, c);
    kube_pump(k);
    return c;
}

struct kube_call *kube_watch_start(struct kube *k, const char *path, const char *query,
                                   const struct kube_watch_callbacks *cb, void *ud, char *err, size_t errlen)
{
    size_t n = (query ? strlen(query) : 0) + 16;
    char *q = malloc(n);
    if (!q || !cb) {
        free(q);
        strutil_errf(err, errlen, q ? "kube: watch without callbacks" : "kube: out of memory");
        return NULL;
    }
    snprintf(q, n, "watch=1%s%s", query && *query ? "&" : "", query ? query : "");
    struct kube_call *c = call_new(k, "GET", path, q, err, errlen);
    free(q);
    if (!c)
        return NULL;
    c->watch = 1;
    c->wcb = *cb;
    c->ud = ud;
    c->idempotent = 1;
    http_lines_init(&c->lines, 0);
    call_attempt(c);
    return c;
}

void kube_call_cancel(struct kube_call *c)
{
    if (!c || c->in_final || c->cancelled)
        return;
    c->cancelled = 1;
    if (c->req) {
        http_request_cancel(c->req);
        c->req = NULL;
    }
    if (!c->depth)
        call_free(c);
}

struct kube *kube_new(struct ev_loop *loop, struct kube_config *cfg, const struct kube_opts *opts, char *err,
                      size_t errlen)
{
    if (!cfg || !cfg->server) {
        strutil_errf(err, errlen, "kube: no server in the configuration");
        return NULL;
    }
    struct kube *k = calloc(1, sizeof *k);
    if (!k) {
        strutil_errf(err, errlen, "kube: out of memory");
        return NULL;
    }
    if (!(k->http = http_client_new(loop, err, errlen))) {
        free(k);
        return NULL;
    }
    k->loop = loop;
    k->cfg = cfg;
    if (opts)
        k->o = *opts;
    if (k->o.qps == 0)
        k->o.qps = KUBE_DEFAULT_QPS;
    if (k->o.burst <= 0)
        k->o.burst = KUBE_DEFAULT_BURST;
    if (k->o.max_attempts <= 0)
        k->o.max_attempts = KUBE_DEFAULT_ATTEMPTS;
    if (k->o.timeout_ms <= 0)
        k->o.timeout_ms = KUBE_DEFAULT_TIMEOUT_MS;
    k->tokens = k->o.burst;
    k->last = ev_now(loop);
    ev_timer_init(&k->qtimer, kube_on_qtimer, 0., 0.);
    k->qtimer.data = k;
    if (cfg->exec) {
        double t = k->o.exec_timeout_ms > 0 ? k->o.exec_timeout_ms / 1000.0 : 0;
        if (!(k->exec = exec_plugin_new(loop, cfg, t, kube_on_credential, k, err, errlen))) {
            http_client_free(k->http);
            free(k);
            return NULL;
        }
    }
    k->tls = (struct http_tls){
        .ca_file = cfg->ca_file,
        .ca_pem = cfg->ca_pem,
        .ca_pem_len = cfg->ca_pem_len,
        .cert_file = cfg->cert_file,
        .cert_pem = cfg->cert_pem,
        .cert_pem_len = cfg->cert_pem_len,
        .key_file = cfg->key_file,
        .key_pem = cfg->key_pem,
        .key_pem_len = cfg->key_pem_len,
    };
    return k;
}

void kube_free(struct kube *k)
{
    if (!k)
        return;
    while (k->calls) {
        struct kube_call *c = k->calls;
        if (c->req)
            http_request_cancel(c->req);
        c->req = NULL;
        call_free(c);
    }
    ev_timer_stop(k->loop, &k->qtimer);
    exec_plugin_free(k->exec);
    http_client_free(k->http);
    free(k);
}
