/* The Kubernetes API client: requests and watches over core/http.h, authenticated from core/kubeconfig.h.
 *
 * Every request carries Authorization: Bearer (when the config has a token; a token file is re-read as it
 * rotates), Accept: application/json and User-Agent: flinkop/<version>, and uses the config's TLS material.
 * With a credential plugin (kubeconfig exec, core/exec_credential.h) the token or client certificate is the
 * plugin's: requests wait (without failing) while it runs, fail with its message when it fails, and a 401 makes it
 * run again (once per credential) and the request try once more with the new credential.
 * Requests pass a client-side token-bucket rate limiter (queued on an ev_timer, never blocking); watches bypass
 * it. A 429 or 5xx answer that carries Retry-After is retried after that delay (capped at 60 s, up to
 * max_attempts in all) when the verb is idempotent: GET, HEAD, DELETE, and PATCH with the server-side-apply
 * content type (application/apply-patch+yaml). Retries pass the limiter again.
 *
 * Handles: a kube_call is valid until its final callback (done, or a watch's on_end) returns or until
 * kube_call_cancel; after a cancel no callback runs. kube_free cancels every call (no callbacks) and must not be
 * called from inside a callback. */
#ifndef FLINKOP_KUBE_H
#define FLINKOP_KUBE_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "kubeconfig.h"

struct ev_loop;
struct kube;
struct kube_call;

struct kube_opts {
    double qps;          /* sustained requests per second; 0 means 20, < 0 means no limit */
    int burst;           /* bucket size; 0 means 40 */
    int max_attempts;    /* attempts in all for a retryable answer; 0 means 5 */
    long timeout_ms;     /* per attempt of a plain request; 0 means 60000 (watches have none) */
    long exec_timeout_ms; /* a credential plugin run is killed after this; 0 means 60000 */
    /* Counting hook, called once per HTTP attempt: verb is one of get, list, watch, create, update, patch,
     * delete (kube_verb); code is the HTTP status, or 0 when no complete response arrived. May be NULL. */
    void (*on_response)(void *ud, const char *verb, int code);
    void *on_response_ud;
};

/* What a plain request's done callback sees; borrowed for the duration of the callback. */
struct kube_response {
    int status;          /* HTTP status of the last attempt; 0 when it got no complete response */
    const char *body;    /* NUL-terminated response body ("" when none) */
    size_t body_len;
    const char *error;   /* NULL, or why no response arrived: "GET https://...: <transport error>" */
    int attempts;        /* how many attempts were made (1 when not retried) */
};

typedef void (*kube_done_fn)(void *ud, const struct kube_response *resp);

struct kube_watch_callbacks {
    /* One decoded watch event {"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": {...}}. The tree is owned by
     * the watch and freed when the callback returns; detach items from it to keep them. */
    void (*on_event)(void *ud, cJSON *event);
    /* The stream ended; called once. status: 200 for a stream the server closed normally (e.g. timeoutSeconds),
     * the HTTP status of a refused watch (410 Gone, 403, ...), the `code` of an in-stream ERROR event's Status
     * (so an expired resourceVersion gives 410 both ways), or 0 for a transport or framing error. err is NULL
     * for a normal end, else what went wrong (the Status message when the server gave one). */
    void (*on_end)(void *ud, int status, const char *err);
};

/* Makes a client. cfg is borrowed and must outlive the kube (its token cache is updated in place); loop must
 * outlive it too, and be ev_default_loop() when cfg has a credential plugin (it runs as a child process). opts may
 * be NULL for the defaults. Returns NULL with a message in err on failure. */
struct kube *kube_new(struct ev_loop *loop, struct kube_config *cfg, const struct kube_opts *opts, char *err,
                      size_t errlen);

/* Cancels every call (no callbacks) and frees the client. */
void kube_free(struct kube *k);

/* Starts a request: method ("GET", "POST", "PUT", "PATCH", "DELETE"), path beginning with '/' and already
 * escaped ("/api/v1/namespaces/x/configmaps"), query without '?' or NULL, body (NUL-terminated, or NULL) with its
 * content_type (NULL means application/json). done is called exactly once unless the call is cancelled first,
 * always from the loop, never before kube_request returns. Returns NULL with a message in err when the request
 * cannot be made at all (bad arguments, unreadable token file). */
struct kube_call *kube_request(struct kube *k, const char *method, const char *path, const char *query,
                               const char *body, const char *content_type, kube_done_fn done, void *ud, char *err,
                               size_t errlen);

/* Starts a watch: GET path?watch=1&query, streamed, no timeout, not rate limited. Put resourceVersion,
 * timeoutSeconds (randomise it, 5-10 min) and allowWatchBookmarks=true in query. An ERROR event is not passed to
 * on_event: it ends the watch with on_end(Status.code, Status.message). Callbacks may cancel this or any call. */
struct kube_call *kube_watch_start(struct kube *k, const char *path, const char *query,
                                   const struct kube_watch_callbacks *cb, void *ud, char *err, size_t errlen);

/* Stops a call wherever it is (queued, running, waiting to retry) and frees it; no callback runs for it again.
 * Safe from inside any callback; a no-op inside the call's own final callback. */
void kube_call_cancel(struct kube_call *call);

/* The metrics verb of a request: "watch" when query has watch=1/true; GET on a collection path is "list", on
 * anything else "get"; POST "create", PUT "update", PATCH "patch", DELETE "delete"; any other method "other". */
const char *kube_verb(const char *method, const char *path, const char *query);

#endif
