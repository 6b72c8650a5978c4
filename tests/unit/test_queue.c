/* queue: client-go workqueue semantics on a libev loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

struct fixture {
    struct ev_loop *loop;
    struct queue *q;
    int ready_calls;
    int break_after; /* ev_break once ready_calls reaches it (0: never) */
    ev_timer guard;  /* a failing test ends instead of hanging */
};

static void on_ready(struct queue *q, void *data)
{
    (void)q;
    struct fixture *f = data;
    f->ready_calls++;
    if (f->break_after && f->ready_calls >= f->break_after)
        ev_break(f->loop, EVBREAK_ONE);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

static int setup_with(void **state, double base, double max)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    struct queue_opts o = {.base_delay = base, .max_delay = max, .ready = on_ready, .ready_data = f};
    f->q = f->loop ? queue_new(f->loop, &o) : NULL;
    if (!f->q) {
        if (f->loop)
            ev_loop_destroy(f->loop);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, 0, 0); }
static int setup_small_backoff(void **state) { return setup_with(state, 1, 10); }

static int teardown(void **state)
{
    struct fixture *f = *state;
    queue_free(f->q);
    ev_timer_stop(f->loop, &f->guard);
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

/* Runs the loop until `ready_calls` reaches n (or 2 s pass); returns the seconds it took. */
static double run_until_ready(struct fixture *f, int n)
{
    f->break_after = n;
    ev_timer_init(&f->guard, on_guard, 2.0, 0);
    ev_timer_start(f->loop, &f->guard);
    ev_now_update(f->loop);
    double start = ev_now(f->loop);
    if (f->ready_calls < n)
        ev_run(f->loop, 0);
    ev_timer_stop(f->loop, &f->guard);
    ev_now_update(f->loop);
    return ev_now(f->loop) - start;
}

static void test_duplicate_adds_coalesce(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(queue_add(f->q, "FlinkDeployment/ns/a"), 0);
    assert_int_equal(queue_add(f->q, "FlinkDeployment/ns/b"), 0);
    assert_int_equal(queue_add(f->q, "FlinkDeployment/ns/a"), 0);
    assert_int_equal(queue_len(f->q), 2);
    assert_int_equal(f->ready_calls, 2);
    assert_string_equal(queue_get(f->q), "FlinkDeployment/ns/a");
    assert_string_equal(queue_get(f->q), "FlinkDeployment/ns/b");
    assert_null(queue_get(f->q));
    queue_done(f->q, "FlinkDeployment/ns/a");
    queue_done(f->q, "FlinkDeployment/ns/b");
    assert_null(queue_get(f->q));
}

static void test_key_is_copied(void **state)
{
    struct fixture *f = *state;
    char key[] = "FlinkDeployment/ns/a";
    assert_int_equal(queue_add(f->q, key), 0);
    key[0] = 'X';
    assert_string_equal(queue_get(f->q), "FlinkDeployment/ns/a");
}

static void test_key_in_flight_is_not_handed_out_twice(void **state)
{
    struct fixture *f = *state;
    queue_add(f->q, "k/ns/a");
    assert_string_equal(queue_get(f->q), "k/ns/a");
    assert_int_equal(queue_add(f->q, "k/ns/a"), 0);
    assert_null(queue_get(f->q));
    assert_int_equal(queue_len(f->q), 0);
    assert_int_equal(queue_in_flight(f->q), 1);
}

static void test_key_added_while_in_flight_comes_back_after_done(void **state)
{
    struct fixture *f = *state;
    queue_add(f->q, "k/ns/a");
    const char *key = queue_get(f->q);
    assert_string_equal(key, "k/ns/a");
    queue_add(f->q, "k/ns/a");
    queue_add(f->q, "k/ns/a");
    assert_int_equal(f->ready_calls, 1);
    queue_done(f->q, key); /* the borrowed pointer itself */
    assert_int_equal(f->ready_calls, 2);
    assert_int_equal(queue_len(f->q), 1);
    assert_int_equal(queue_in_flight(f->q), 0);
    key = queue_get(f->q);
    assert_string_equal(key, "k/ns/a");
    queue_done(f->q, key);
    assert_null(queue_get(f->q));
    assert_int_equal(queue_len(f->q), 0);
}

static void test_done_for_key_not_in_flight_is_noop(void **state)
{
    struct fixture *f = *state;
    queue_done(f->q, "k/ns/never");
    queue_add(f->q, "k/ns/a");
    queue_done(f->q, "k/ns/a"); /* waiting, not in flight */
    assert_int_equal(queue_len(f->q), 1);
    assert_int_equal(queue_in_flight(f->q), 0);
}

static void test_rate_limited_backoff_doubles_and_caps(void **state)
{
    struct fixture *f = *state; /* base 1 s, cap 10 s */
    const double want[] = {1, 2, 4, 8, 10, 10};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        double d = -1;
        assert_int_equal(queue_add_rate_limited(f->q, "k/ns/a", &d), 0);
        assert_true(d == want[i]);
        assert_int_equal(queue_num_requeues(f->q, "k/ns/a"), i + 1);
    }
    /* Backoff is per key. */
    double d = -1;
    assert_int_equal(queue_add_rate_limited(f->q, "k/ns/b", &d), 0);
    assert_true(d == 1);
    assert_int_equal(queue_delayed_len(f->q), 2);
    assert_int_equal(queue_len(f->q), 0);
}

static void test_rate_limited_defaults_are_client_go_s(void **state)
{
    struct fixture *f = *state; /* 5 ms doubling, capped at 1000 s */
    double d = 0;
    queue_add_rate_limited(f->q, "k/ns/a", &d);
    assert_true(d == 0.005);
    queue_add_rate_limited(f->q, "k/ns/a", &d);
    assert_true(d == 0.01);
    for (int i = 0; i < 100; i++)
        queue_add_rate_limited(f->q, "k/ns/a", &d);
    assert_true(d == 1000);
}

static void test_rate_limited_key_comes_back_after_its_delay(void **state)
{
    struct fixture *f = *state; /* 5 ms */
    double d = 0;
    queue_add_rate_limited(f->q, "k/ns/a", &d);
    assert_null(queue_get(f->q));
    double took = run_until_ready(f, 1);
    assert_int_equal(f->ready_calls, 1);
    assert_true(took < 1.0);
    assert_string_equal(queue_get(f->q), "k/ns/a");
}

static void test_forget_resets_backoff(void **state)
{
    struct fixture *f = *state; /* base 1 s, cap 10 s */
    double d = 0;
    queue_add_rate_limited(f->q, "k/ns/a", &d);
    queue_add_rate_limited(f->q, "k/ns/a", &d);
    queue_add_rate_limited(f->q, "k/ns/a", &d);
    assert_true(d == 4);
    queue_forget(f->q, "k/ns/a");
    assert_int_equal(queue_num_requeues(f->q, "k/ns/a"), 0);
    queue_add_rate_limited(f->q, "k/ns/a", &d);
    assert_true(d == 1);
    queue_forget(f->q, "k/ns/unknown"); /* no-op */
}

static void test_add_after_earliest_wins(void **state)
{
    struct fixture *f = *state;
    /* A later, shorter delay moves the key up... */
    queue_add_after(f->q, "k/ns/a", 30);
    queue_add_after(f->q, "k/ns/a", 0.02);
    /* ...and a later, longer one does not push it back. */
    queue_add_after(f->q, "k/ns/b", 0.04);
    queue_add_after(f->q, "k/ns/b", 30);
    assert_int_equal(queue_delayed_len(f->q), 2);
    assert_int_equal(queue_len(f->q), 0);

    double took = run_until_ready(f, 1);
    assert_true(took < 1.0);
    assert_string_equal(queue_get(f->q), "k/ns/a");
    assert_null(queue_get(f->q));

    took = run_until_ready(f, 2);
    assert_true(took < 1.0);
    assert_string_equal(queue_get(f->q), "k/ns/b");
    assert_int_equal(queue_delayed_len(f->q), 0);
    assert_int_equal(f->ready_calls, 2);
}

static void test_add_after_orders_keys_by_due_time(void **state)
{
    struct fixture *f = *state;
    queue_add_after(f->q, "k/ns/late", 0.06);
    queue_add_after(f->q, "k/ns/soon", 0.02);
    queue_add_after(f->q, "k/ns/mid", 0.04);
    run_until_ready(f, 3);
    assert_string_equal(queue_get(f->q), "k/ns/soon");
    assert_string_equal(queue_get(f->q), "k/ns/mid");
    assert_string_equal(queue_get(f->q), "k/ns/late");
}

static void test_add_after_zero_adds_at_once(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(queue_add_after(f->q, "k/ns/a", 0), 0);
    assert_int_equal(queue_add_after(f->q, "k/ns/b", -1), 0);
    assert_int_equal(queue_len(f->q), 2);
    assert_int_equal(queue_delayed_len(f->q), 0);
}

static void test_delayed_key_coalesces_with_waiting_key(void **state)
{
    struct fixture *f = *state;
    queue_add(f->q, "k/ns/a");
    queue_add_after(f->q, "k/ns/a", 0.01);
    ev_run(f->loop, 0); /* returns once the delayed add is due and delivered: it coalesces */
    assert_int_equal(f->ready_calls, 1);
    assert_int_equal(queue_len(f->q), 1);
    assert_int_equal(queue_delayed_len(f->q), 0);
}

static void test_shutdown_stops_handing_out(void **state)
{
    struct fixture *f = *state;
    queue_add(f->q, "k/ns/a");
    queue_add(f->q, "k/ns/b");
    queue_add_after(f->q, "k/ns/c", 0.01);
    const char *a = queue_get(f->q);
    assert_string_equal(a, "k/ns/a");
    queue_add(f->q, "k/ns/a"); /* dirty while in flight */
    assert_int_equal(queue_shutdown(f->q), 1);
    assert_true(queue_is_shut_down(f->q));
    assert_null(queue_get(f->q));
    assert_int_equal(queue_add(f->q, "k/ns/d"), 0); /* ignored */
    assert_int_equal(queue_add_after(f->q, "k/ns/e", 0.01), 0);
    assert_int_equal(queue_delayed_len(f->q), 0);
    queue_done(f->q, a); /* the in-flight write finishes; its re-add is dropped */
    assert_int_equal(queue_in_flight(f->q), 0);
    assert_null(queue_get(f->q));
    assert_int_equal(queue_shutdown(f->q), 0);
    /* The loop has nothing left to wait for: the delayed add is gone. */
    ev_run(f->loop, 0);
    assert_int_equal(f->ready_calls, 2);
}

static void test_resync_add_many_coalesces_with_waiting_keys(void **state)
{
    struct fixture *f = *state;
    queue_add(f->q, "k/ns/b");
    const char *keys[] = {"k/ns/a", "k/ns/b", "k/ns/c"};
    assert_int_equal(queue_add_many(f->q, keys, 3), 0);
    assert_int_equal(queue_len(f->q), 3);
    assert_string_equal(queue_get(f->q), "k/ns/b");
    assert_string_equal(queue_get(f->q), "k/ns/a");
    assert_string_equal(queue_get(f->q), "k/ns/c");
}

static void test_invalid_keys_are_refused(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(queue_add(f->q, NULL), -1);
    assert_int_equal(queue_add(f->q, ""), -1);
    assert_int_equal(queue_add_after(f->q, "", 1), -1);
    assert_int_equal(queue_add_rate_limited(f->q, NULL, NULL), -1);
    assert_int_equal(queue_len(f->q), 0);
}

static void test_many_keys_keep_fifo_order(void **state)
{
    struct fixture *f = *state;
    char key[64];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k/ns/%d", i);
        assert_int_equal(queue_add(f->q, key), 0);
        if (i % 3 == 0) { /* interleave gets so the ring wraps */
            const char *k = queue_get(f->q);
            assert_non_null(k);
            queue_done(f->q, k);
        }
    }
    int next = 1667; /* 0..1666 were taken above */
    const char *k;
    while ((k = queue_get(f->q)) != NULL) {
        snprintf(key, sizeof key, "k/ns/%d", next++);
        assert_string_equal(k, key);
        queue_done(f->q, k);
    }
    assert_int_equal(next, 5000);
}

/* The ready callback may take the key at once: the queue's state is consistent when it is called. */
static void take_at_once(struct queue *q, void *data)
{
    int *handled = data;
    const char *k = queue_get(q);
    if (k) {
        (*handled)++;
        queue_done(q, k);
    }
}

static void test_ready_callback_may_take_the_key_at_once(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(loop);
    int handled = 0;
    struct queue_opts o = {.ready = take_at_once, .ready_data = &handled};
    struct queue *q = queue_new(loop, &o);
    assert_non_null(q);
    queue_add(q, "k/ns/a");
    queue_add(q, "k/ns/a"); /* already done: a new add, handled again */
    const char *keys[] = {"k/ns/b", "k/ns/c"};
    queue_add_many(q, keys, 2);
    assert_int_equal(handled, 4);
    assert_int_equal(queue_len(q), 0);
    assert_int_equal(queue_in_flight(q), 0);
    queue_add_after(q, "k/ns/d", 0.01);
    ev_run(loop, 0); /* returns when the delayed add has been delivered */
    assert_int_equal(handled, 5);
    queue_free(q);
    ev_loop_destroy(loop);
}

static void test_free_with_pending_delays_and_in_flight_keys(void **state)
{
    struct fixture *f = *state;
    queue_add(f->q, "k/ns/a");
    queue_get(f->q);
    queue_add_after(f->q, "k/ns/b", 60);
    queue_add_rate_limited(f->q, "k/ns/c", NULL);
    /* teardown frees it; ASan reports any leak */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_duplicate_adds_coalesce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_is_copied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_in_flight_is_not_handed_out_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_added_while_in_flight_comes_back_after_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_done_for_key_not_in_flight_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited_backoff_doubles_and_caps, setup_small_backoff, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited_defaults_are_client_go_s, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limited_key_comes_back_after_its_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget_resets_backoff, setup_small_backoff, teardown),
        cmocka_unit_test_setup_teardown(test_add_after_earliest_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_after_orders_keys_by_due_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_after_zero_adds_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delayed_key_coalesces_with_waiting_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_stops_handing_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resync_add_many_coalesces_with_waiting_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_keys_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_keys_keep_fifo_order, setup, teardown),
        cmocka_unit_test(test_ready_callback_may_take_the_key_at_once),
        cmocka_unit_test_setup_teardown(test_free_with_pending_delays_and_in_flight_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
