/* The memory of posted Events: entries not written for longer than the Event TTL are forgotten, the rest kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_seen.h"

static void remember(struct strmap *m, const char *key, const char *name, time_t written)
{
    struct event_seen *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->name = name ? strdup(name) : NULL;
    e->count = 1;
    e->written = written;
    int failed = 0;
    assert_null(strmap_put(m, key, e, &failed));
    assert_int_equal(failed, 0);
}

static void test_prune_forgets_events_not_written_for_longer_than_the_ttl(void **state)
{
    (void)state;
    struct strmap *m = strmap_new();
    time_t now = 1000000;
    remember(m, "FlinkDeployment/a/gone|uid-1|Warning|Failed|x", "gone.1", now - EVENT_TTL_SECONDS - 1);
    remember(m, "FlinkDeployment/a/old|uid-2|Normal|Deployed|y", "old.1", now - 5 * EVENT_TTL_SECONDS);
    remember(m, "FlinkDeployment/a/live|uid-3|Normal|Deployed|z", "live.1", now - 60);
    remember(m, "FlinkDeployment/a/edge|uid-4|Normal|Deployed|z", "edge.1", now - EVENT_TTL_SECONDS);
    remember(m, "FlinkDeployment/a/new|uid-5|Normal|Deployed|z", NULL, now); /* create in flight */

    assert_int_equal(event_seen_prune(m, now, EVENT_TTL_SECONDS), 2);
    assert_int_equal(strmap_count(m), 3);
    assert_null(strmap_get(m, "FlinkDeployment/a/gone|uid-1|Warning|Failed|x"));
    assert_null(strmap_get(m, "FlinkDeployment/a/old|uid-2|Normal|Deployed|y"));
    const struct event_seen *live = strmap_get(m, "FlinkDeployment/a/live|uid-3|Normal|Deployed|z");
    assert_non_null(live);
    assert_string_equal(live->name, "live.1");
    assert_non_null(strmap_get(m, "FlinkDeployment/a/edge|uid-4|Normal|Deployed|z"));
    assert_non_null(strmap_get(m, "FlinkDeployment/a/new|uid-5|Normal|Deployed|z"));
    strmap_free(m, event_seen_free);
}

static void test_prune_of_many_stale_entries_empties_the_map(void **state)
{
    (void)state;
    struct strmap *m = strmap_new();
    char key[64];
    for (int i = 0; i < 100; i++) { /* past the first growth of the key list */
        snprintf(key, sizeof key, "FlinkDeployment/a/fd-%d|uid|Normal|Deployed|m", i);
        remember(m, key, "e", 0);
    }
    assert_int_equal(event_seen_prune(m, 2 * EVENT_TTL_SECONDS, EVENT_TTL_SECONDS), 100);
    assert_int_equal(strmap_count(m), 0);
    assert_int_equal(event_seen_prune(m, 2 * EVENT_TTL_SECONDS, EVENT_TTL_SECONDS), 0);
    strmap_free(m, event_seen_free);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prune_forgets_events_not_written_for_longer_than_the_ttl),
        cmocka_unit_test(test_prune_of_many_stale_entries_empties_the_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
