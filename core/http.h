/* HTTP(S) client driven by one libev loop: libcurl's multi socket interface with ev_io and ev_timer watchers
 * (the shape of curl's docs/examples/multi-event.c). Nothing here blocks the loop: requests start, stream and
 * finish from the loop's callbacks.
 *
 * TLS is always verified (peer and host name); there is no insecure mode. When a CA is given, only that CA is
 * trusted (the system store is not consulted). HTTP/1.1 only; redirects are not followed unless a request asks;
 * http:// and https:// are the only protocols.
 *
 * Ownership: the client owns every request it started. A request handle is valid from http_request_start until
 * its on_done callback returns or until http_request_cancel is called, whichever is first; http_client_free
 * cancels every request still running (no callbacks are called). */
#ifndef FLINKOP_HTTP_H
#define FLINKOP_HTTP_H

#include <stddef.h>
#include <time.h>

#include "strutil.h"

struct ev_loop;
struct http_client;
struct http_request;

/* TLS material. For each of CA, client certificate and client key give either a file path or PEM data (data
 * wins when both are set). All of it is copied by http_request_start. */
struct http_tls {
    const char *ca_file;
    const char *ca_pem;
    size_t ca_pem_len;
    const char *cert_file;
    const char *cert_pem;
    size_t cert_pem_len;
    const char *key_file;
    const char *key_pem;
    size_t key_pem_len;
};

struct http_request_opts {
    const char *method;              /* "GET" when NULL */
    const char *url;                 /* http:// or https:// */
    const char *const *headers;      /* NULL-terminated "Name: value" lines, or NULL; copied */
    const char *body;                /* request body, or NULL for none; copied */
    size_t body_len;
    long timeout_ms;                 /* whole transfer; 0 = no limit (watches) */
    long connect_timeout_ms;         /* 0 = 10 s */
    long low_speed_limit;            /* bytes/s; abort when slower than this ... */
    long low_speed_time_s;           /* ... for this many seconds; 0 = off */
    size_t max_body;                 /* cap on a buffered body; 0 = 256 MiB */
    const struct http_tls *tls;      /* NULL = system CAs, no client certificate */
    const struct http_form_file *form; /* a multipart/form-data body of one file part instead of `body`, or NULL */
    int follow_redirects;            /* follow up to 5 redirects (to http:// or https:// only); 0 = none */
};

/* One file sent as the only part of a multipart/form-data body. The file is read while it is sent, never held in
 * memory; the strings are copied by http_request_start. */
struct http_form_file {
    const char *path;      /* the file to send */
    const char *field;     /* the part's name, e.g. "jarfile" */
    const char *filename;  /* the file name the part carries */
    const char *type;      /* its Content-Type, or NULL */
};

/* What on_done sees. Everything is borrowed and valid only during the callback. */
struct http_response {
    long status;           /* HTTP status of the final response; 0 when none arrived */
    const char *body;      /* buffered body, NUL-terminated ("" when streamed to on_chunk or empty) */
    size_t body_len;
    const char *error;     /* NULL when the transfer completed, else what failed (curl's text) */
    long retry_after_s;    /* Retry-After in seconds (>= 0), or -1 when absent or unreadable */
};

struct http_callbacks {
    /* Streams a 2xx response's body as it arrives, or NULL to buffer the whole body for on_done. A non-2xx
     * body is always buffered (it carries the Status that says why). Return 0 to go on; nonzero aborts the
     * transfer (on_done then reports an error). May call http_request_cancel on any request. */
    int (*on_chunk)(void *ud, const char *data, size_t len);
    /* Called exactly once when the request finishes, unless it was cancelled first. After it returns the
     * request is freed; calling http_request_cancel on it from inside on_done is a harmless no-op. */
    void (*on_done)(void *ud, const struct http_response *resp);
};

/* Makes a client that runs on `loop` (which must outlive it). Returns NULL with a message in err on failure. */
struct http_client *http_client_new(struct ev_loop *loop, char *err, size_t errlen);

/* Cancels every request still running (no callbacks) and frees the client. Not from inside a callback. */
void http_client_free(struct http_client *c);

/* Starts a request. Everything in opts is copied. Returns the handle, or NULL with "what: why" in err (no
 * callback is called then). Safe to call from inside callbacks: the transfer then starts once libcurl returns. */
struct http_request *http_request_start(struct http_client *c, const struct http_request_opts *opts,
                                        const struct http_callbacks *cb, void *ud, char *err, size_t errlen);

/* Stops a request and frees it; no callback is called for it afterwards. Safe from inside any callback. */
void http_request_cancel(struct http_request *r);

/* Parses a Retry-After value: delta-seconds ("120") or an HTTP-date ("Fri, 31 Dec 1999 23:59:59 GMT"),
 * the latter relative to `now` (a date in the past gives 0). Returns seconds >= 0, or -1 when unreadable. */
long http_retry_after_parse(const char *value, time_t now);

/* Splits a streamed body into lines ('\n'-terminated, a trailing '\r' dropped, blank lines skipped), e.g. the
 * JSON-lines framing of a Kubernetes watch. Lines may arrive split across chunks or several in one chunk. */
struct http_lines {
    struct strbuf line; /* the incomplete last line so far */
    size_t max_line;    /* longest line accepted, in bytes */
};

/* Called with each complete line (NUL-terminated, `len` bytes, writable, valid during the call). Return 0 to
 * go on, nonzero to stop http_lines_feed at once (it then returns 1). */
typedef int (*http_line_fn)(void *ud, char *line, size_t len);

/* Prepares an empty splitter; max_line 0 means 16 MiB. */
void http_lines_init(struct http_lines *l, size_t max_line);

/* Feeds a chunk. Returns 0 when every complete line was delivered, 1 when a callback asked to stop, -1 with
 * "line longer than N bytes" or "out of memory" in err (then free it; init makes it usable again). */
int http_lines_feed(struct http_lines *l, const char *data, size_t len, http_line_fn fn, void *ud, char *err,
                    size_t errlen);

/* Delivers a last line that had no '\n' (a stream ended mid-line), then empties the splitter. Same returns. */
int http_lines_finish(struct http_lines *l, http_line_fn fn, void *ud, char *err, size_t errlen);

/* Frees the buffer; the splitter may be initialised again. */
void http_lines_free(struct http_lines *l);

#endif
