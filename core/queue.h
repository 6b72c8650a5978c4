/* The work queue, with client-go workqueue semantics: keys ("kind/namespace/name") coalesce while waiting, a key is
 * never handed out twice at once, delayed and rate-limited (per-key exponential backoff) adds ride on one ev_timer. */
#ifndef FLINKOP_QUEUE_H
#define FLINKOP_QUEUE_H

#include <stddef.h>

struct ev_loop;
struct queue;

/* Called each time a key becomes ready to hand out (added, re-queued by queue_done, or its delay ran out), after
 * the queue's state is consistent again. It may call queue_get/queue_done/queue_add; it must not free the queue.
 * The daemon's usual answer is to start an ev_idle that drains queue_get. */
typedef void queue_ready_fn(struct queue *q, void *data);

struct queue_opts {
    double base_delay;      /* first rate-limited delay, seconds; 0 means 0.005 (client-go's default) */
    double max_delay;       /* cap of the doubling, seconds; 0 means 1000 */
    queue_ready_fn *ready;  /* may be NULL */
    void *ready_data;
};

/* A new empty queue whose delayed adds run on `loop` (borrowed; it must outlive the queue). `opts` may be NULL for
 * the defaults. Returns NULL when out of memory. The caller frees it with queue_free. */
struct queue *queue_new(struct ev_loop *loop, const struct queue_opts *opts);

/* Stops the timer and frees every key; keys handed out by queue_get are invalid afterwards. NULL is a no-op. */
void queue_free(struct queue *q);

/* Marks `key` (copied) as needing work. A key already waiting is not added twice; a key in flight is marked dirty
 * and comes back when queue_done is called for it. Ignored after queue_shutdown. Returns 0, or -1 when out of
 * memory or when key is NULL or empty. */
int queue_add(struct queue *q, const char *key);

/* queue_add for each of `n` keys (the periodic resync). Returns 0, or -1 at the first key that failed (the keys
 * before it were added). */
int queue_add_many(struct queue *q, const char *const *keys, size_t n);

/* queue_add after `seconds` (at once when <= 0). A key already waiting for a delay keeps the earlier of the two
 * times. Returns 0 or -1 as queue_add. */
int queue_add_after(struct queue *q, const char *key, double seconds);

/* queue_add_after with the key's backoff: base_delay * 2^failures, capped at max_delay; each call counts one more
 * failure. The chosen delay goes to *delay when delay is not NULL. Returns 0 or -1 as queue_add. */
int queue_add_rate_limited(struct queue *q, const char *key, double *delay);

/* Resets the key's failure count (call it when a reconcile succeeds). Does not cancel a pending delayed add. */
void queue_forget(struct queue *q, const char *key);

/* How many failures the key has counted since it was last forgotten. */
unsigned queue_num_requeues(const struct queue *q, const char *key);

/* The next ready key, now in flight, or NULL when none is ready or after queue_shutdown. The string is borrowed
 * and stays valid until queue_done for it: call queue_forget/queue_add_rate_limited before queue_done. */
const char *queue_get(struct queue *q);

/* Ends the key's processing; if it was added meanwhile it is queued again, unless the queue is shut down. `key`
 * may be the pointer queue_get returned. Calling it for a key not in flight is a no-op. */
void queue_done(struct queue *q, const char *key);

/* Keys waiting to be handed out (not the delayed ones, not those in flight): the queue-depth gauge. After
 * queue_shutdown, the keys that will never be handed out. */
size_t queue_len(const struct queue *q);

/* Keys waiting for a delay to run out. */
size_t queue_delayed_len(const struct queue *q);

/* Keys handed out and not yet done. */
size_t queue_in_flight(const struct queue *q);

/* Stops handing out keys and drops every delayed add; later adds are ignored. Returns the in-flight count, so the
 * daemon can let those writes finish (queue_done still works) before it exits. Idempotent. */
size_t queue_shutdown(struct queue *q);

int queue_is_shut_down(const struct queue *q);

#endif
