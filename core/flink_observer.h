/* The Flink observer: for each FlinkDeployment whose JobManager Deployment exists, polls its REST API in the
 * background and keeps the last answer, which the next reconcile receives as observed.flink (docs/policy-api.md).
 * A reconcile never waits for Flink: it reads what was observed last. When an answer differs from the one before
 * in what a policy decides on (reachable or not, the jobs and their states, a savepoint's progress), the key is
 * handed to `changed` so that it is reconciled again.
 *
 * Polling: every FLINK_OBSERVER_FAST seconds while the cluster is in transition (unreachable, no job yet, a job
 * starting, restarting or failing, a savepoint or checkpoint in flight), every FLINK_OBSERVER_STEADY seconds once
 * every job is RUNNING or finished. One call per cluster at a time; each is bounded by FLINK_REST_TIMEOUT_MS, so a JobManager
 * that never answers costs one pending call and delays nothing else.
 *
 * Actions: what reconcile() asks in result.actions (docs/policy-api.md), performed once the reconcile's writes have
 * succeeded, so that its status (which records the intent) is stored before anything is done to the job:
 *   stop       POST /jobs/<job_id>/stop {targetDirectory, drain: false, triggerId}: stop with a savepoint
 *   savepoint  POST /jobs/<job_id>/savepoints {target-directory, cancel-job: false, triggerId}
 *   checkpoint POST /jobs/<job_id>/checkpoints {checkpointType, triggerId}: a manual checkpoint (Flink 1.17 and
 *              later), its progress polled with GET /jobs/<job_id>/checkpoints/<trigger_id> and reported as
 *              observed.flink.checkpoints[trigger_id]; a trigger the JobManager answers 404 for has FAILED
 *   cancel     PATCH /jobs/<job_id>?mode=cancel
 *   submit     GET /jars, then POST /jars/<id>/run {jobId, entryClass, programArgsList, parallelism, savepointPath}
 *              for the newest jar the JobManager lists under jar_name (a FlinkSessionJob's job); when it lists
 *              none, jar_uri is fetched (core/jar_fetch.h) and uploaded with POST /jars/upload first
 *   delete_ha_configmaps  not Flink's: the core deletes the resource's HA ConfigMaps through the Kubernetes API
 * A savepoint's progress is polled with GET /jobs/<job_id>/savepoints/<trigger_id> and reported as
 * observed.flink.savepoints[trigger_id]. The trigger id comes from the policy and makes the trigger idempotent in
 * Flink: asking again with the same id (every reconcile does, until the status records the result; a restarted
 * operator does too) is the same operation, never a second savepoint. This process sends a trigger once after it
 * was accepted; a cancel at most every FLINK_OBSERVER_STEADY seconds. A submission carries the job id the policy
 * fixed, so Flink refuses a second run of it; it is sent at most every FLINK_OBSERVER_STEADY seconds, and not for
 * 3 * FLINK_OBSERVER_STEADY seconds once accepted; after n failures in a row, not for FLINK_OBSERVER_STEADY * 2^(n-1)
 * seconds (at most 5 min), so a jar that cannot be fetched is not fetched again and again. What became of it is
 * observed.flink.submissions[job_id].
 *
 * Flink forgets a finished trigger after minutes (rest.async.store-duration). For a stop or savepoint action that
 * says when its trigger was recorded (triggered_at), a trigger this process has not sent yet is first looked for in
 * GET /jobs/<job_id>/checkpoints (latest.savepoint, triggered since), and so is one the JobManager answers 404 for
 * while it is polled; found, it is COMPLETED with that location and nothing is sent.
 *
 * A FlinkSessionJob has no JobManager of its own: it sees, and acts through, the observation of its session
 * cluster (flink_observer_cluster_key). */
#ifndef FLINKOP_FLINK_OBSERVER_H
#define FLINKOP_FLINK_OBSERVER_H

#include <stddef.h>
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

/* Returns NULL, with why in err, when out of memory or when FLINKOP_JAR_DIR / FLINKOP_JAR_MAX_BYTES is unusable. */
struct flink_observer *flink_observer_new(const struct flink_observer_opts *o, char *err, size_t errlen);

/* Stops every poll (no callbacks) and frees what was observed. */
void flink_observer_free(struct flink_observer *o);

/* Starts polling the JobManager of key ("FlinkDeployment/ns/name", cluster ns/name) when `wanted`, at once for a
 * key not polled before; stops it and forgets what was observed when not. Cheap to repeat on every reconcile. */
void flink_observer_track(struct flink_observer *o, const char *key, const char *ns, const char *name, int wanted);

/* Performs the actions of key's reconcile (a list checked by flink_observer_action_check). Actions for a key that
 * is not tracked (no JobManager Deployment) are dropped with a log line. */
void flink_observer_act(struct flink_observer *o, const char *key, const cJSON *actions);

/* Checks one action of a policy's answer: {type = stop | savepoint | checkpoint | cancel, job_id, trigger_id (stop,
 * savepoint and checkpoint), target_directory (optional), checkpoint_type (checkpoint only, optional: FULL,
 * INCREMENTAL or CONFIGURED; FULL when left out)}; {type = submit, job_id, jar_name, jar_uri (its last path
 * segment is jar_name), entry_class, args, parallelism, savepoint_path}; {type = delete_ha_configmaps}. Returns 0,
 * or -1 with why in err. A stop or savepoint may say triggered_at (epoch ms, see above). */
int flink_observer_action_check(const cJSON *action, char *err, size_t errlen);

/* The observer key whose JobManager answers for resource: "FlinkDeployment/ns/name" for a FlinkDeployment,
 * "FlinkDeployment/ns/<spec.deploymentName>" for a FlinkSessionJob. Returns 0, or -1 (other kinds, no name, too
 * long). */
int flink_observer_cluster_key(const cJSON *resource, char *buf, size_t len);

/* observed.flink for key: a new tree the caller frees, or NULL while nothing has been observed. */
cJSON *flink_observer_get(const struct flink_observer *o, const char *key);

#endif
