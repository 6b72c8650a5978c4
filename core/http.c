/* HTTP over libcurl's multi socket interface on a libev loop (see http.h).
 *
 * The loop shape is curl's docs/examples/multi-event.c: libcurl tells us which sockets to watch (on_socket) and
 * when to wake it (on_timer_change); our ev_io / ev_timer callbacks call curl_multi_socket_action, then collect
 * finished transfers. Two traps avoided: the timer is armed in fractional seconds (never timeout_ms / 1000 in
 * integer arithmetic), and libcurl is never called from inside its own timer callback, even for a 0 timeout.
 *
 * User code runs inside libcurl only through on_chunk (from the write callback). libcurl refuses to add or
 * remove handles from there, so while `depth` > 0 starts and cancels are only recorded, and client_settle
 * carries them out once libcurl has returned. */
#include "http.h"

#include <ctype.h>
#include <ev.h>
#include <curl/curl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_DEFAULT_MAX_BODY ((size_t)256 << 20)
#define HTTP_DEFAULT_MAX_LINE ((size_t)16 << 20)

struct http_sock {
    ev_io io;
    curl_socket_t fd;
    struct http_client *c;
    struct http_sock *prev, *next;
};

struct http_client {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;
    int depth;                   /* > 0 while inside curl_multi_socket_action */
    struct http_request *reqs;   /* every live request: running, waiting to be added, or cancelled */
    struct http_sock *socks;
};

struct http_request {
    struct http_client *c;
    CURL *easy;
    struct curl_slist *headers;
    curl_mime *mime;            /* a multipart body (http_request_opts.form), or NULL */
    char *body;
    struct strbuf resp;         /* buffered response body */
    size_t max;
    long retry_after;
    int added;                  /* the easy handle is in the multi */
    int cancelled;              /* waiting for client_settle to free it; no more callbacks */
    int in_done;                /* inside on_done: cancel is a no-op */
    int stream_decided, stream_ok;
    int overflow, aborted;
    struct http_callbacks cb;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
    struct http_request *prev, *next;
};

static void client_settle(struct http_client *c);

static void msg(char *err, size_t errlen, const char *text)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", text);
}

/* Unlinks and frees a request, taking its handle out of the multi first. Callers ensure libcurl is not on the
 * stack (depth == 0). */
static void request_free(struct http_request *r)
{
    struct http_client *c = r->c;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->added)
        curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_mime_free(r->mime);
    curl_slist_free_all(r->headers);
    free(r->body);
    strbuf_free(&r->resp);
    free(r);
}

/* Appends to the buffered body, keeping it NUL-terminated; fails past the cap. */
static int request_append(struct http_request *r, const char *p, size_t n)
{
    if (n > r->max - r->resp.len) {
        r->overflow = 1;
        return -1;
    }
    return strbuf_append(&r->resp, p, n);
}

/* libcurl's write callback: streams a 2xx body to on_chunk, buffers anything else. Returning a short count
 * aborts the transfer, which is how a cancel or a refusing consumer stops it from in here. */
static size_t request_on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct http_request *r = ud;
    size_t n = size * nmemb;
    if (r->cancelled)
        return 0;
    if (r->cb.on_chunk && !r->stream_decided) {
        long code = 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
        r->stream_ok = code >= 200 && code < 300;
        r->stream_decided = 1;
    }
    if (r->cb.on_chunk && r->stream_ok) {
        int rc = r->cb.on_chunk(r->ud, p, n);
        if (r->cancelled)
            return 0;
        if (rc) {
            r->aborted = 1;
            return 0;
        }
        return n;
    }
    return request_append(r, p, n) == 0 ? n : 0;
}

/* libcurl's header callback: keeps the Retry-After of the last response (a new status line resets it). */
static size_t request_on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct http_request *r = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        r->retry_after = -1;
    } else if (n > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
        char v[128];
        size_t vl = n - (sizeof name - 1);
        if (vl >= sizeof v)
            vl = sizeof v - 1;
        memcpy(v, p + sizeof name - 1, vl);
        v[vl] = '\0';
        r->retry_after = http_retry_after_parse(v, time(NULL));
    }
    return n;
}

/* Hands a finished transfer to on_done and frees it. */
static void request_finish(struct http_request *r, CURLcode rc)
{
    long status = 0;
    char what[64 + CURL_ERROR_SIZE];
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(r->c->multi, r->easy);
    r->added = 0;

    struct http_response resp = {.status = status, .body = r->resp.data ? r->resp.data : "", .body_len = r->resp.len,
                                 .error = NULL, .retry_after_s = r->retry_after};
    if (rc != CURLE_OK) {
        if (r->overflow)
            snprintf(what, sizeof what, "response body larger than %zu bytes", r->max);
        else if (r->aborted)
            snprintf(what, sizeof what, "stopped by the body consumer");
        else if (rc == CURLE_WRITE_ERROR)
            snprintf(what, sizeof what, "out of memory buffering the response");
        else
            snprintf(what, sizeof what, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        resp.error = what;
    }
    r->in_done = 1;
    if (r->cb.on_done)
        r->cb.on_done(r->ud, &resp);
    request_free(r);
}

/* Adds a request's handle to the multi; on failure the request finishes with that error. */
static void request_add(struct http_request *r)
{
    CURLMcode mc = curl_multi_add_handle(r->c->multi, r->easy);
    if (mc == CURLM_OK) {
        r->added = 1;
        return;
    }
    snprintf(r->errbuf, sizeof r->errbuf, "cannot start the transfer: %s", curl_multi_strerror(mc));
    r->in_done = 1;
    struct http_response resp = {.status = 0, .body = "", .error = r->errbuf, .retry_after_s = -1};
    if (r->cb.on_done)
        r->cb.on_done(r->ud, &resp);
    request_free(r);
}

/* Does what was deferred while libcurl was on the stack: frees cancelled requests, adds new ones. Restarts from
 * the list head after each step because a callback may have changed the list. */
static void client_apply_deferred(struct http_client *c)
{
    for (;;) {
        struct http_request *r = c->reqs;
        while (r && !(r->cancelled || !r->added))
            r = r->next;
        if (!r)
            return;
        if (r->cancelled)
            request_free(r);
        else
            request_add(r);
    }
}

/* Runs after every call into libcurl that may finish transfers: applies deferred work, then reports each finished
 * transfer. on_done may start or cancel requests; curl_multi_remove_handle drops a cancelled one's pending
 * message, so info_read never returns a freed handle. */
static void client_settle(struct http_client *c)
{
    if (c->depth)
        return;
    client_apply_deferred(c);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct http_request *r = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r)
            request_finish(r, rc);
        client_apply_deferred(c);
    }
}

/* Lets libcurl act on a socket event or a timeout, then settles. */
static void client_drive(struct http_client *c, curl_socket_t fd, int flags)
{
    int running = 0;
    c->depth++;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    c->depth--;
    client_settle(c);
}

static void sock_on_event(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct http_sock *s = w->data;
    struct http_client *c = s->c; /* s may be freed inside client_drive */
    int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    client_drive(c, s->fd, flags);
}

static void client_on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    client_drive(w->data, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: keeps one ev_io per socket libcurl cares about, in the direction it asks for. */
static int client_on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)e;
    struct http_client *c = userp;
    struct http_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            ev_io_stop(c->loop, &s->io);
            if (s->prev)
                s->prev->next = s->next;
            else
                c->socks = s->next;
            if (s->next)
                s->next->prev = s->prev;
            free(s);
        }
        return 0;
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        s->c = c;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
        ev_io_init(&s->io, sock_on_event, fd, events);
        s->io.data = s;
    } else {
        ev_io_stop(c->loop, &s->io);
        ev_io_set(&s->io, fd, events);
    }
    ev_io_start(c->loop, &s->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms the ev_timer. A 0 timeout fires on the next loop iteration; calling
 * curl_multi_socket_action from here would re-enter libcurl. */
static int client_on_timer_change(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct http_client *c = userp;
    ev_timer_stop(c->loop, &c->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(c->loop, &c->timer);
    }
    return 0;
}

/* One client per loop; curl_global_init is reference-counted and thread-safe in libcurl >= 7.84. */
struct http_client *http_client_new(struct ev_loop *loop, char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        msg(err, errlen, "http: curl_global_init failed");
        return NULL;
    }
    struct http_client *c = calloc(1, sizeof *c);
    if (!c || !(c->multi = curl_multi_init())) {
        free(c);
        curl_global_cleanup();
        msg(err, errlen, "http: out of memory");
        return NULL;
    }
    c->loop = loop;
    ev_timer_init(&c->timer, client_on_timeout, 0., 0.);
    c->timer.data = c;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, client_on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, client_on_timer_change);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
}

/* Frees requests first (their handles leave the multi), then the multi, then any socket watcher libcurl did not
 * remove while closing its connections. */
void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    while (c->reqs)
        request_free(c->reqs);
    curl_multi_cleanup(c->multi);
    while (c->socks) {
        struct http_sock *s = c->socks;
        c->socks = s->next;
        ev_io_stop(c->loop, &s->io);
        free(s);
    }
    ev_timer_stop(c->loop, &c->timer);
    free(c);
    curl_global_cleanup();
}

/* Applies the TLS material; PEM data goes in as blobs that libcurl copies. A given CA replaces the system store. */
static CURLcode request_set_tls(CURL *e, const struct http_tls *t)
{
    CURLcode rc = CURLE_OK;
    if (t->ca_pem) {
        struct curl_blob b = {.data = (void *)t->ca_pem, .len = t->ca_pem_len, .flags = CURL_BLOB_COPY};
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_CAINFO, (char *)NULL);
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL);
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    } else if (t->ca_file) {
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_CAPATH, (char *)NULL);
    }
    if (t->cert_pem) {
        struct curl_blob b = {.data = (void *)t->cert_pem, .len = t->cert_pem_len, .flags = CURL_BLOB_COPY};
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (t->cert_file) {
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert_file);
    }
    if (t->key_pem) {
        struct curl_blob b = {.data = (void *)t->key_pem, .len = t->key_pem_len, .flags = CURL_BLOB_COPY};
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (t->key_file) {
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_SSLKEY, t->key_file);
    }
    return rc;
}

/* A multipart/form-data body of one file part; libcurl reads the file as it sends it (curl_mime_filedata). */
static CURLcode request_set_form(struct http_request *r, const struct http_form_file *f)
{
    curl_mimepart *part;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if ((r->mime = curl_mime_init(r->easy)) == NULL || (part = curl_mime_addpart(r->mime)) == NULL)
        return rc;
    rc = curl_mime_name(part, f->field);
    if (!rc) rc = curl_mime_filedata(part, f->path);
    if (!rc) rc = curl_mime_filename(part, f->filename);
    if (!rc && f->type) rc = curl_mime_type(part, f->type);
    if (!rc) rc = curl_easy_setopt(r->easy, CURLOPT_MIMEPOST, r->mime);
    return rc;
}

/* Sets every option of one transfer. Verification is switched on explicitly, whatever libcurl's defaults. */
static CURLcode request_configure(struct http_request *r, const struct http_request_opts *o)
{
    CURL *e = r->easy;
    const char *method = o->method ? o->method : "GET";
    CURLcode rc = CURLE_OK;
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_URL, o->url);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)r);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, request_on_write);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, request_on_header);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* A transfer ended while its name is still being resolved (a timeout, a cancel) would otherwise wait for the
     * resolver thread inside curl: with a DNS server that does not answer, that blocks the whole loop. */
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
#endif
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms > 0 ? o->timeout_ms : 0L);
    if (!rc) rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                                   o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 10000L);
    if (o->low_speed_time_s > 0) {
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, o->low_speed_limit > 0 ? o->low_speed_limit : 1L);
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
    }
    if (strcmp(method, "GET") == 0) {
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    if (r->body || strcmp(method, "POST") == 0) {
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(r->body ? o->body_len : 0));
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    }
    if (!rc && r->headers) rc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    if (!rc && o->tls) rc = request_set_tls(e, o->tls);
    if (!rc && o->form) rc = request_set_form(r, o->form);
    if (!rc && o->follow_redirects) {
        rc = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
        if (!rc) rc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    return rc;
}

/* Builds the transfer, then adds it now or, from inside a libcurl callback, at the next settle. */
struct http_request *http_request_start(struct http_client *c, const struct http_request_opts *o,
                                        const struct http_callbacks *cb, void *ud, char *err, size_t errlen)
{
    if (!o || !o->url || !cb) {
        msg(err, errlen, "http: request without a URL or callbacks");
        return NULL;
    }
    struct http_request *r = calloc(1, sizeof *r);
    if (!r || !(r->easy = curl_easy_init())) {
        free(r);
        msg(err, errlen, "http: out of memory");
        return NULL;
    }
    r->c = c;
    r->cb = *cb;
    r->ud = ud;
    r->retry_after = -1;
    r->max = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
    int oom = 0;
    if (o->body) {
        r->body = malloc(o->body_len + 1);
        if (r->body) {
            memcpy(r->body, o->body, o->body_len);
            r->body[o->body_len] = '\0';
        } else {
            oom = 1;
        }
    }
    for (const char *const *h = o->headers; h && *h && !oom; h++) {
        struct curl_slist *n = curl_slist_append(r->headers, *h);
        if (!n)
            oom = 1;
        else
            r->headers = n;
    }
    if (!oom && (o->body || o->form)) {
        /* No "Expect: 100-continue" round trip for large bodies. */
        struct curl_slist *n = curl_slist_append(r->headers, "Expect:");
        if (!n)
            oom = 1;
        else
            r->headers = n;
    }
    CURLcode rc = oom ? CURLE_OUT_OF_MEMORY : request_configure(r, o);
    if (rc != CURLE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "http: %s %s: %s", o->method ? o->method : "GET", o->url,
                     curl_easy_strerror(rc));
        curl_easy_cleanup(r->easy);
        curl_mime_free(r->mime);
        curl_slist_free_all(r->headers);
        free(r->body);
        free(r);
        return NULL;
    }
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
    if (!c->depth) {
        CURLMcode mc = curl_multi_add_handle(c->multi, r->easy);
        if (mc != CURLM_OK) {
            if (err && errlen)
                snprintf(err, errlen, "http: %s: %s", o->url, curl_multi_strerror(mc));
            request_free(r);
            return NULL;
        }
        r->added = 1;
    }
    return r;
}

/* Frees at once when libcurl is not on the stack; otherwise marks the request so the write callback aborts it
 * and client_settle frees it. Either way no callback runs for it again. */
void http_request_cancel(struct http_request *r)
{
    if (!r || r->in_done || r->cancelled)
        return;
    r->cancelled = 1;
    if (!r->c->depth)
        request_free(r);
}

long http_retry_after_parse(const char *value, time_t now)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (isdigit((unsigned char)*value)) {
        long s = 0;
        const char *p = value;
        for (; isdigit((unsigned char)*p); p++) {
            if (s > (LONG_MAX - 9) / 10)
                return -1;
            s = s * 10 + (*p - '0');
        }
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        return *p ? -1 : s;
    }
    if (!*value || *value == '-' || *value == '+')
        return -1;
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return -1;
    return t > now ? (long)(t - now) : 0;
}

void http_lines_init(struct http_lines *l, size_t max_line)
{
    memset(l, 0, sizeof *l);
    l->max_line = max_line ? max_line : HTTP_DEFAULT_MAX_LINE;
}

/* Appends to the partial line; the cap is checked before anything is copied. */
static int lines_append(struct http_lines *l, const char *p, size_t n, char *err, size_t errlen)
{
    if (n > l->max_line - l->line.len) {
        if (err && errlen)
            snprintf(err, errlen, "line longer than %zu bytes", l->max_line);
        return -1;
    }
    if (strbuf_append(&l->line, p, n)) {
        msg(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Delivers the buffered line (without its '\r'), then empties the buffer; blank lines are not delivered. The
 * buffer is emptied before the callback runs (the line's bytes stay in place for it), so the splitter is already
 * consistent whatever the callback does. */
static int lines_emit(struct http_lines *l, http_line_fn fn, void *ud)
{
    char *line = l->line.data;
    size_t n = l->line.len;
    l->line.len = 0;
    if (n && line[n - 1] == '\r')
        n--;
    if (!n)
        return 0;
    line[n] = '\0';
    return fn(ud, line, n) ? 1 : 0;
}

int http_lines_feed(struct http_lines *l, const char *data, size_t len, http_line_fn fn, void *ud, char *err,
                    size_t errlen)
{
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        if (lines_append(l, data, n, err, errlen))
            return -1;
        if (!nl)
            return 0;
        data += n + 1;
        len -= n + 1;
        if (lines_emit(l, fn, ud))
            return 1;
    }
    return 0;
}

int http_lines_finish(struct http_lines *l, http_line_fn fn, void *ud, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return l->line.len ? lines_emit(l, fn, ud) : 0;
}

void http_lines_free(struct http_lines *l)
{
    strbuf_free(&l->line);
    memset(l, 0, sizeof *l);
}
