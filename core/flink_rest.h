/* A client of Flink's REST API (the JobManager's port 8081), asynchronous on the daemon's loop through core/http.h:
 * every call is one attempt with a short timeout and no retries (the observer polls again), and nothing blocks.
 *
 * A JobManager is addressed by a URL template with `{name}` and `{namespace}` placeholders; the default is the rest
 * Service the policy makes, http://{name}-rest.{namespace}:8081. `flinkop run --flink-rest-override TEMPLATE` (a
 * test and debug flag) sends the calls elsewhere, e.g. to tests/flink_rest_standin.py at
 * http://127.0.0.1:PORT/{namespace}/{name}.
 *
 * The parsers read the response shapes of Flink's REST reference (rest_v1_dispatcher: /jobs/overview,
 * /jobs/:jobid/exceptions, /jobs/:jobid/stop, /jobs/:jobid/savepoints/:triggerid, /jobs/:jobid/checkpoints,
 * /jobs/:jobid/checkpoints/:triggerid) into
 * the small JSON values the policy sees as observed.flink (docs/policy-api.md). */
#ifndef FLINKOP_FLINK_REST_H
#define FLINKOP_FLINK_REST_H

#include <stddef.h>
#include <cjson/cJSON.h>

#define FLINK_REST_DEFAULT_URL "http://{name}-rest.{namespace}:8081"
#define FLINK_REST_TIMEOUT_MS 5000L
#define FLINK_REST_UPLOAD_TIMEOUT_MS 600000L

struct ev_loop;
struct http_client;
struct flink_rest;
struct flink_rest_call;

/* What a call's done callback sees; borrowed for the duration of the callback. */
struct flink_rest_answer {
    long status;        /* HTTP status; 0 when no answer arrived */
    const cJSON *body;  /* the JSON body of a 2xx answer, or NULL */
    const char *error;  /* NULL for a 2xx JSON answer, else "GET http://...: why" */
};

typedef void (*flink_rest_done_fn)(void *ud, const struct flink_rest_answer *a);

/* Checks a URL template: http:// or https://, placeholders only {name} and {namespace}. Returns 0, or -1 with why. */
int flink_rest_template_check(const char *template, char *err, size_t errlen);

/* A client on `loop` for `template` (NULL: FLINK_REST_DEFAULT_URL; copied). NULL with why in err on failure. */
struct flink_rest *flink_rest_new(struct ev_loop *loop, const char *template, char *err, size_t errlen);

/* Cancels every call in flight (no callbacks) and frees the client. Not from inside a callback. */
void flink_rest_free(struct flink_rest *r);

/* The base URL of the JobManager of FlinkDeployment ns/name into buf. Returns 0, or -1 when it does not fit. */
int flink_rest_base(const struct flink_rest *r, const char *ns, const char *name, char *buf, size_t len);

/* Starts METHOD base+path (path begins with '/', already escaped) with a JSON body or NULL. done is called exactly
 * once from the loop, never before this returns, unless the call is cancelled first. Returns NULL with why in err
 * when the call cannot start (then done is never called). */
struct flink_rest_call *flink_rest_request(struct flink_rest *r, const char *ns, const char *name,
                                           const char *method, const char *path, const char *body,
                                           flink_rest_done_fn done, void *ud, char *err, size_t errlen);

/* Starts POST base/jars/upload of the jar `file` as Flink's JarUploadHandler takes it: multipart/form-data, one
 * part "jarfile" named `filename`, Content-Type application/x-java-archive. The file is streamed from disk and must
 * stay until done is called. The answer is {"filename": ".../<jarid>", "status": "success"}. Bounded by
 * FLINK_REST_UPLOAD_TIMEOUT_MS and by 30 s without progress. Otherwise as flink_rest_request. */
struct flink_rest_call *flink_rest_upload(struct flink_rest *r, const char *ns, const char *name, const char *file,
                                          const char *filename, flink_rest_done_fn done, void *ud, char *err,
                                          size_t errlen);

/* The HTTP client the calls go through (borrowed), for other transfers on the same loop (core/jar_fetch.h). */
struct http_client *flink_rest_http(struct flink_rest *r);

/* Stops a call and frees it; no callback runs for it afterwards. A no-op inside its own done callback. */
void flink_rest_call_cancel(struct flink_rest_call *c);

/* Whether s is a Flink JobID or trigger ID: 32 hexadecimal digits. Anything else never goes into a URL. */
int flink_rest_is_id(const char *s);

/* /jobs/overview -> a new array of {id, name, state, start_time} (start_time in epoch milliseconds), newest first.
 * Returns NULL with why in err when the body is not of that shape. */
cJSON *flink_rest_jobs_parse(const cJSON *overview, char *err, size_t errlen);

/* /jobs/:jobid/exceptions -> a new {class, message} of the newest root exception (message: the first line of its
 * stack trace after the class name), or NULL when the body names none. */
cJSON *flink_rest_failure_parse(const cJSON *exceptions);

/* /jobs/:jobid/savepoints/:triggerid -> a new {status = IN_PROGRESS | COMPLETED | FAILED, location, failure}, or
 * NULL with why in err when the body is not of that shape. */
cJSON *flink_rest_savepoint_parse(const cJSON *body, char *err, size_t errlen);

/* /jobs/:jobid/checkpoints/:triggerid (Flink 1.17 and later) -> a new {status = IN_PROGRESS | COMPLETED (with
 * checkpoint_id) | FAILED (with failure: the first line of operation.failureCause)}, or NULL with why in err when
 * the body is not of that shape. */
cJSON *flink_rest_checkpoint_parse(const cJSON *body, char *err, size_t errlen);

/* /jobs/:jobid/checkpoints -> a new {status = COMPLETED, location, trigger_timestamp} of latest.savepoint when it
 * completed with an external_path and was triggered at or after since_ms (epoch milliseconds), else NULL. The
 * fallback for a savepoint trigger the JobManager no longer knows (it keeps finished operations for minutes only). */
cJSON *flink_rest_checkpoints_savepoint(const cJSON *checkpoints, double since_ms);

#endif
