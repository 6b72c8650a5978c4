/* The Flink observer: for each FlinkDeployment whose JobManager Deployment exists, polls its REST API in the
 * background and keeps the last answer, which the next reconcile receives as observed.flink (docs/policy-api.md).
 * A reconcile never waits for Flink: it reads what was observed last. When an answer differs from the one before
 * in what a policy decides on (reachable or not, the jobs and their states, a savepoint's progress), the key is
 * handed to `changed` so that it is reconciled again.
 *
 * Polling: every FLINK_OBSERVER_FAST seconds while the cluster is in transition (unreachable, no job yet, a job
 * starting, restarting or failing, a savepoint in flight), every FLINK_OBSERVER_STEADY seconds once every job is
 * RUNNING or finished. One call per cluster at a time; each is bounded by FLINK_REST_TIMEOUT_MS, so a JobManager
 * that never answers costs one pending call and delays nothing else. */
#ifndef FLINKOP_FLINK_OBSERVER_H
#define FLINKOP_FLINK_OBSERVER_H

#include <cjson/cJSON.h>

#define FLINK_OBSERVER_FAST 2.0
#define FLINK_OBSERVER_STEADY 10.0

struct ev_loop;
struct flink_rest;
struct flink_observer;

struct flink_observer_opts {
    struct ev_loop *loop;
    struct flink_rest *rest;                      /* borrowed; must outlive the observer */
    void (*changed)(void *ud, const char *key);   /* the observation of key changed: reconcile it again */
    void *ud;
};

/* Returns NULL when out of memory. */
struct flink_observer *flink_observer_new(const struct flink_observer_opts *o);

/* Stops every poll (no callbacks) and frees what was observed. */
void flink_observer_free(struct flink_observer *o);

/* Starts polling the JobManager of key ("FlinkDeployment/ns/name", cluster ns/name) when `wanted`, at once for a
 * key not polled before; stops it and forgets what was observed when not. Cheap to repeat on every reconcile. */
void flink_observer_track(struct flink_observer *o, const char *key, const char *ns, const char *name, int wanted);

/* observed.flink for key: a new tree the caller frees, or NULL while nothing has been observed. */
cJSON *flink_observer_get(const struct flink_observer *o, const char *key);

#endif
