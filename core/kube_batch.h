/* A batch of API requests run on the event loop with a bounded number in flight, answered together: for the many
 * small reviews and lists of an access check or an audit, which must neither block the loop nor flood the server. */
#ifndef FLINKOP_KUBE_BATCH_H
#define FLINKOP_KUBE_BATCH_H

#include <stddef.h>
#include <cjson/cJSON.h>

#include "kube.h"

struct kube_batch;

/* What one request got, owned by the batch. */
struct kube_batch_result {
    int status;        /* HTTP status; 0 when no response arrived */
    cJSON *json;       /* the parsed body, or NULL when it was not JSON */
    char error[512];   /* "" on 2xx; else the Status message, the transport error, or the body's start */
};

/* Called once when every request has answered; the batch may be freed inside. */
typedef void (*kube_batch_done_fn)(void *ud, struct kube_batch *b);

/* An empty batch on client k (borrowed, as is loop, k's loop; both must outlive the batch), at most max_in_flight
 * requests at a time. Returns NULL when out of memory. */
struct kube_batch *kube_batch_new(struct ev_loop *loop, struct kube *k, int max_in_flight, kube_batch_done_fn done,
                                  void *ud);

/* Adds a request (strings copied; query and body may be NULL, a body is sent as application/json). Only before
 * kube_batch_start. Returns its index, or -1 when out of memory. */
long kube_batch_add(struct kube_batch *b, const char *method, const char *path, const char *query, const char *body);

/* Sends the requests. done runs from the loop once all have answered (an empty batch answers at once), never
 * inside this call. */
void kube_batch_start(struct kube_batch *b);

size_t kube_batch_count(const struct kube_batch *b);
const struct kube_batch_result *kube_batch_result(const struct kube_batch *b, size_t i);

/* Cancels what is still in flight (no callback runs) and frees everything. NULL is a no-op. */
void kube_batch_free(struct kube_batch *b);

#endif
