/* Test scaffolding shared by the unit tests and tests/transport_probe.c: run a libev loop until the callbacks under
 * test have counted enough, with a deadline so that a callback that never comes fails the test instead of hanging
 * it. Header-only (static functions) because each test program is built from one source file. */
#ifndef FLINKOP_TESTS_LOOP_UNTIL_H
#define FLINKOP_TESTS_LOOP_UNTIL_H

#include <ev.h>

static inline void loop_until_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    *(int *)w->data = 1;
}

/* Runs `loop` until *count reaches `want` or `seconds` pass. Returns 0, or -1 when the deadline passed first (a
 * count of 0 with want 1 and a short deadline is how a test just lets the loop run for a while). */
static inline int loop_until(struct ev_loop *loop, const int *count, int want, double seconds)
{
    int timed_out = 0;
    ev_timer deadline;
    ev_timer_init(&deadline, loop_until_deadline, seconds, 0.);
    deadline.data = &timed_out;
    ev_timer_start(loop, &deadline);
    while (*count < want && !timed_out)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &deadline);
    return timed_out ? -1 : 0;
}

#endif
