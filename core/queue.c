/* The work queue. Each key has one item, found by hash, that lives while the key is waiting, in flight, delayed or
 * has failures counted. Invariant (client-go's): an item is in the FIFO exactly when it is dirty and not in flight;
 * a delayed item sits in a min-heap by ready time, and one ev_timer is armed for the heap's top. */
#include "queue.h"

#include <ev.h>
#include <math.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BASE_DELAY 0.005
#define DEFAULT_MAX_DELAY 1000.0
#define NOT_DELAYED SIZE_MAX

struct item {
    char *key;
    struct item *next;  /* hash chain */
    int dirty;          /* needs (more) work: waiting in the FIFO, or re-queued when its processing is done */
    int processing;     /* handed out by queue_get, queue_done not called yet */
    unsigned failures;  /* rate-limited adds since the last queue_forget */
    size_t heap_pos;    /* index in the delay heap, or NOT_DELAYED */
    double ready_at;    /* ev_now time the delayed add is due; meaningful only while in the heap */
};

struct queue {
    struct ev_loop *loop;
    ev_timer timer;
    double base_delay, max_delay;
    queue_ready_fn *ready;
    void *ready_data;

    struct item **buckets; /* power-of-two count, chained */
    size_t nbuckets, nitems;

    struct item **fifo; /* a ring */
    size_t fifo_head, fifo_len, fifo_cap;

    struct item **heap; /* min-heap by ready_at */
    size_t heap_len, heap_cap;

    size_t in_flight;
    int shut_down;
};

static void queue_on_timer(struct ev_loop *loop, ev_timer *w, int revents);

/* FNV-1a: short keys, no adversary (keys are object names the API server gave us). */
static size_t key_hash(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)h;
}

/* The key's item, or NULL when the queue knows nothing about it. */
static struct item *item_find(const struct queue *q, const char *key)
{
    for (struct item *it = q->buckets[key_hash(key) & (q->nbuckets - 1)]; it; it = it->next)
        if (strcmp(it->key, key) == 0)
            return it;
    return NULL;
}

/* Doubles the bucket array once items outnumber buckets; on allocation failure the table just stays denser. */
static void table_grow(struct queue *q)
{
    size_t n = q->nbuckets * 2;
    struct item **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (size_t i = 0; i < q->nbuckets; i++) {
        struct item *it = q->buckets[i], *next;
        for (; it; it = next) {
            next = it->next;
            size_t h = key_hash(it->key) & (n - 1);
            it->next = b[h];
            b[h] = it;
        }
    }
    free(q->buckets);
    q->buckets = b;
    q->nbuckets = n;
}

/* The key's item, made (idle) when it has none. NULL when out of memory. */
static struct item *item_get(struct queue *q, const char *key)
{
    struct item *it = item_find(q, key);
    if (it)
        return it;
    it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    size_t len = strlen(key);
    if (!(it->key = malloc(len + 1))) {
        free(it);
        return NULL;
    }
    memcpy(it->key, key, len + 1);
    it->heap_pos = NOT_DELAYED;
    if (q->nitems >= q->nbuckets)
        table_grow(q);
    size_t h = key_hash(key) & (q->nbuckets - 1);
    it->next = q->buckets[h];
    q->buckets[h] = it;
    q->nitems++;
    return it;
}

/* Frees an item nothing refers to any more. The caller must not touch `it` (or its key) afterwards. */
static void item_release_if_idle(struct queue *q, struct item *it)
{
    if (it->dirty || it->processing || it->failures || it->heap_pos != NOT_DELAYED)
        return;
    struct item **link = &q->buckets[key_hash(it->key) & (q->nbuckets - 1)];
    while (*link != it)
        link = &(*link)->next;
    *link = it->next;
    q->nitems--;
    free(it->key);
    free(it);
}

/* Appends to the ring, doubling it (unwrapped) when full; -1 when out of memory, the ring unchanged. */
static int fifo_push(struct queue *q, struct item *it)
{
    if (q->fifo_len == q->fifo_cap) {
        size_t cap = q->fifo_cap ? q->fifo_cap * 2 : 16;
        struct item **f = malloc(cap * sizeof *f);
        if (!f)
            return -1;
        for (size_t i = 0; i < q->fifo_len; i++)
            f[i] = q->fifo[(q->fifo_head + i) % q->fifo_cap];
        free(q->fifo);
        q->fifo = f;
        q->fifo_cap = cap;
        q->fifo_head = 0;
    }
    q->fifo[(q->fifo_head + q->fifo_len) % q->fifo_cap] = it;
    q->fifo_len++;
    return 0;
}

/* The oldest waiting item, or NULL. */
static struct item *fifo_pop(struct queue *q)
{
    if (q->fifo_len == 0)
        return NULL;
    struct item *it = q->fifo[q->fifo_head];
    q->fifo_head = (q->fifo_head + 1) % q->fifo_cap;
    q->fifo_len--;
    return it;
}

/* Every heap write goes through here so an item always knows its own position (for decrease-key). */
static void heap_place(struct queue *q, size_t i, struct item *it)
{
    q->heap[i] = it;
    it->heap_pos = i;
}

/* Restores heap order after heap[i] got earlier (or was appended). */
static void heap_up(struct queue *q, size_t i)
{
    struct item *it = q->heap[i];
    while (i > 0 && q->heap[(i - 1) / 2]->ready_at > it->ready_at) {
        heap_place(q, i, q->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_place(q, i, it);
}

/* Restores heap order after heap[i] got later (a moved last element). */
static void heap_down(struct queue *q, size_t i)
{
    struct item *it = q->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->heap_len)
            break;
        if (c + 1 < q->heap_len && q->heap[c + 1]->ready_at < q->heap[c]->ready_at)
            c++;
        if (q->heap[c]->ready_at >= it->ready_at)
            break;
        heap_place(q, i, q->heap[c]);
        i = c;
    }
    heap_place(q, i, it);
}

/* Adds a delayed item; -1 when out of memory, the heap unchanged. */
static int heap_push(struct queue *q, struct item *it)
{
    if (q->heap_len == q->heap_cap) {
        size_t cap = q->heap_cap ? q->heap_cap * 2 : 16;
        struct item **h = realloc(q->heap, cap * sizeof *h);
        if (!h)
            return -1;
        q->heap = h;
        q->heap_cap = cap;
    }
    heap_place(q, q->heap_len++, it);
    heap_up(q, it->heap_pos);
    return 0;
}

/* Removes and returns the earliest delayed item; the heap must not be empty. */
static struct item *heap_pop(struct queue *q)
{
    struct item *top = q->heap[0];
    top->heap_pos = NOT_DELAYED;
    if (--q->heap_len > 0) {
        heap_place(q, 0, q->heap[q->heap_len]);
        heap_down(q, 0);
    }
    return top;
}

/* Arms the one timer for the earliest delayed add, or stops it when nothing is delayed. */
static void timer_rearm(struct queue *q)
{
    ev_timer_stop(q->loop, &q->timer);
    if (q->heap_len == 0 || q->shut_down)
        return;
    double after = q->heap[0]->ready_at - ev_now(q->loop);
    ev_timer_set(&q->timer, after > 0 ? after : 0, 0);
    ev_timer_start(q->loop, &q->timer);
}

struct queue *queue_new(struct ev_loop *loop, const struct queue_opts *opts)
{
    struct queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->nbuckets = 64;
    if (!(q->buckets = calloc(q->nbuckets, sizeof *q->buckets))) {
        free(q);
        return NULL;
    }
    q->loop = loop;
    q->base_delay = opts && opts->base_delay > 0 ? opts->base_delay : DEFAULT_BASE_DELAY;
    q->max_delay = opts && opts->max_delay > 0 ? opts->max_delay : DEFAULT_MAX_DELAY;
    q->ready = opts ? opts->ready : NULL;
    q->ready_data = opts ? opts->ready_data : NULL;
    ev_timer_init(&q->timer, queue_on_timer, 0, 0);
    q->timer.data = q;
    return q;
}

void queue_free(struct queue *q)
{
    if (!q)
        return;
    ev_timer_stop(q->loop, &q->timer);
    for (size_t i = 0; i < q->nbuckets; i++) {
        struct item *it = q->buckets[i], *next;
        for (; it; it = next) {
            next = it->next;
            free(it->key);
            free(it);
        }
    }
    free(q->buckets);
    free(q->fifo);
    free(q->heap);
    free(q);
}

/* Marks the item dirty and queues it unless it is in flight; 1 when it became ready (the caller then tells the
 * ready callback, once its own state is consistent), 0 when nothing changed, -1 when out of memory. */
static int item_add(struct queue *q, struct item *it)
{
    if (it->dirty)
        return 0;
    if (it->processing) {
        it->dirty = 1;
        return 0;
    }
    if (fifo_push(q, it) < 0)
        return -1;
    it->dirty = 1;
    return 1;
}

/* Called only once the queue is consistent, so the callback may use the queue. */
static void notify_ready(struct queue *q)
{
    if (q->ready)
        q->ready(q, q->ready_data);
}

/* The start every add shares: a key is required, a shut-down queue takes nothing, else the key's item (made if new).
 * Returns 0 with *it set (NULL after shutdown: the add is a no-op), or -1 for an empty key or out of memory. */
static int add_target(struct queue *q, const char *key, struct item **it)
{
    *it = NULL;
    if (!key || !*key)
        return -1;
    if (q->shut_down)
        return 0;
    *it = item_get(q, key);
    return *it ? 0 : -1;
}

/* Queues the item now (see item_add) and tells the ready callback when it became ready. */
static int item_add_now(struct queue *q, struct item *it)
{
    int r = item_add(q, it);
    if (r < 0) {
        item_release_if_idle(q, it);
        return -1;
    }
    if (r > 0)
        notify_ready(q);
    return 0;
}

int queue_add(struct queue *q, const char *key)
{
    struct item *it;
    int rc = add_target(q, key, &it);
    if (rc || !it)
        return rc;
    return item_add_now(q, it);
}

int queue_add_many(struct queue *q, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (queue_add(q, keys[i]) < 0)
            return -1;
    return 0;
}

/* Queues the item once `seconds` have passed; no delay (or NaN) queues it now. */
static int item_add_after(struct queue *q, struct item *it, double seconds)
{
    if (!(seconds > 0)) /* also NaN */
        return item_add_now(q, it);
    double at = ev_now(q->loop) + seconds;
    if (it->heap_pos != NOT_DELAYED) {
        if (at < it->ready_at) { /* the earlier of two delays wins */
            it->ready_at = at;
            heap_up(q, it->heap_pos);
        }
    } else {
        it->ready_at = at;
        if (heap_push(q, it) < 0) {
            item_release_if_idle(q, it);
            return -1;
        }
    }
    if (q->heap[0] == it)
        timer_rearm(q);
    return 0;
}

int queue_add_after(struct queue *q, const char *key, double seconds)
{
    struct item *it;
    int rc = add_target(q, key, &it);
    if (rc || !it)
        return rc;
    return item_add_after(q, it, seconds);
}

/* base * 2^failures, capped; ldexp saturates to infinity rather than overflowing, and the cap catches that. */
static double backoff(const struct queue *q, unsigned failures)
{
    double d = ldexp(q->base_delay, failures > 2000 ? 2000 : (int)failures);
    return d < q->max_delay ? d : q->max_delay;
}

int queue_add_rate_limited(struct queue *q, const char *key, double *delay)
{
    struct item *it;
    int rc = add_target(q, key, &it);
    if (rc || !it)
        return rc;
    double d = backoff(q, it->failures);
    if (it->failures < UINT_MAX)
        it->failures++;
    if (delay)
        *delay = d;
    return item_add_after(q, it, d);
}

void queue_forget(struct queue *q, const char *key)
{
    struct item *it = key ? item_find(q, key) : NULL;
    if (!it)
        return;
    it->failures = 0;
    item_release_if_idle(q, it);
}

unsigned queue_num_requeues(const struct queue *q, const char *key)
{
    const struct item *it = key ? item_find(q, key) : NULL;
    return it ? it->failures : 0;
}

const char *queue_get(struct queue *q)
{
    if (q->shut_down)
        return NULL;
    struct item *it = fifo_pop(q);
    if (!it)
        return NULL;
    it->dirty = 0;
    it->processing = 1;
    q->in_flight++;
    return it->key;
}

void queue_done(struct queue *q, const char *key)
{
    struct item *it = key ? item_find(q, key) : NULL;
    if (!it || !it->processing)
        return;
    it->processing = 0;
    q->in_flight--;
    if (it->dirty && !q->shut_down) {
        /* Re-queue: dirty and not in flight means in the FIFO. */
        if (fifo_push(q, it) == 0) {
            notify_ready(q);
            return;
        }
        /* Out of memory: the re-add is lost, as a failed queue_add would be. */
    }
    it->dirty = 0;
    item_release_if_idle(q, it);
}

size_t queue_len(const struct queue *q) { return q->fifo_len; }
size_t queue_delayed_len(const struct queue *q) { return q->heap_len; }
size_t queue_in_flight(const struct queue *q) { return q->in_flight; }
int queue_is_shut_down(const struct queue *q) { return q->shut_down; }

size_t queue_shutdown(struct queue *q)
{
    if (!q->shut_down) {
        q->shut_down = 1;
        ev_timer_stop(q->loop, &q->timer);
        while (q->heap_len > 0)
            item_release_if_idle(q, heap_pop(q));
    }
    return q->in_flight;
}

/* Moves every delayed add that is due into the queue, then re-arms for the next one. The ready callback may add
 * more delays meanwhile: the loop re-reads the heap's top each time. */
static void queue_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct queue *q = w->data;
    double now = ev_now(loop);
    while (q->heap_len > 0 && !q->shut_down && q->heap[0]->ready_at <= now) {
        struct item *it = heap_pop(q);
        int r = item_add(q, it);
        if (r > 0)
            notify_ready(q);
        else
            item_release_if_idle(q, it); /* r < 0: out of memory, the delayed add is lost */
    }
    timer_rearm(q);
}
