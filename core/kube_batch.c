#include "kube_batch.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strutil.h"

struct item {
    struct kube_batch *b;
    char *method, *path, *query, *body;
    struct kube_call *call;
    struct kube_batch_result result;
};

struct kube_batch {
    struct ev_loop *loop;
    struct kube *k;
    int max_in_flight, in_flight, finished;
    size_t count, cap, next, answered;
    struct item **items;
    kube_batch_done_fn done;
    void *ud;
    ev_timer later; /* starts the batch from the loop */
};

static void pump(struct kube_batch *b);

static void start_now(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    pump(w->data);
}

struct kube_batch *kube_batch_new(struct ev_loop *loop, struct kube *k, int max_in_flight, kube_batch_done_fn done,
                                  void *ud)
{
    struct kube_batch *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->loop = loop;
    b->k = k;
    b->max_in_flight = max_in_flight > 0 ? max_in_flight : 1;
    b->done = done;
    b->ud = ud;
    ev_timer_init(&b->later, start_now, 0., 0.);
    b->later.data = b;
    return b;
}

long kube_batch_add(struct kube_batch *b, const char *method, const char *path, const char *query, const char *body)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct item **grown = realloc(b->items, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        b->items = grown;
        b->cap = cap;
    }
    struct item *it = calloc(1, sizeof *it);
    if (it == NULL)
        return -1;
    it->b = b;
    it->method = strutil_dup(method);
    it->path = strutil_dup(path);
    it->query = strutil_dup(query);
    it->body = strutil_dup(body);
    if (!it->method || !it->path || (query && !it->query) || (body && !it->body)) {
        free(it->method);
        free(it->path);
        free(it->query);
        free(it->body);
        free(it);
        return -1;
    }
    b->items[b->count] = it;
    return (long)b->count++;
}

/* Keeps the error short: the Status message when the server sent one, else the start of the body. */
static void result_set(struct kube_batch_result *r, const struct kube_response *resp)
{
    r->status = resp->status;
    r->json = cJSON_ParseWithLength(resp->body, resp->body_len);
    if (resp->status >= 200 && resp->status < 300)
        return;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(r->json, "message");
    if (resp->error)
        snprintf(r->error, sizeof r->error, "%s", resp->error);
    else if (cJSON_IsString(msg))
        snprintf(r->error, sizeof r->error, "HTTP %d: %s", resp->status, msg->valuestring);
    else
        snprintf(r->error, sizeof r->error, "HTTP %d: %.200s", resp->status, resp->body);
}

static void item_done(void *ud, const struct kube_response *resp)
{
    struct item *it = ud;
    struct kube_batch *b = it->b;
    it->call = NULL;
    result_set(&it->result, resp);
    b->in_flight--;
    b->answered++;
    pump(b); /* b may be freed inside */
}

/* Starts requests up to the bound; reports the batch when the last one has answered. */
static void pump(struct kube_batch *b)
{
    char err[256];
    while (b->in_flight < b->max_in_flight && b->next < b->count) {
        struct item *it = b->items[b->next++];
        it->call = kube_request(b->k, it->method, it->path, it->query, it->body, NULL, item_done, it, err, sizeof err);
        if (it->call == NULL) {
            snprintf(it->result.error, sizeof it->result.error, "%s %s: %s", it->method, it->path, err);
            b->answered++;
        } else {
            b->in_flight++;
        }
    }
    if (b->answered == b->count && !b->finished) {
        b->finished = 1;
        b->done(b->ud, b);
    }
}

/* The first requests go out from the loop too, so that done can never run inside this call. */
void kube_batch_start(struct kube_batch *b)
{
    ev_timer_start(b->loop, &b->later);
}

size_t kube_batch_count(const struct kube_batch *b)
{
    return b->count;
}

const struct kube_batch_result *kube_batch_result(const struct kube_batch *b, size_t i)
{
    return i < b->count ? &b->items[i]->result : NULL;
}

void kube_batch_free(struct kube_batch *b)
{
    if (b == NULL)
        return;
    ev_timer_stop(b->loop, &b->later);
    for (size_t i = 0; i < b->count; i++) {
        struct item *it = b->items[i];
        if (it->call)
            kube_call_cancel(it->call);
        free(it->method);
        free(it->path);
        free(it->query);
        free(it->body);
        cJSON_Delete(it->result.json);
        free(it);
    }
    free(b->items);
    free(b);
}
