/* The deletion finalizer of FlinkDeployments and FlinkSessionJobs, under upstream's names. The daemon adds it to each
 * FlinkDeployment and FlinkSessionJob it reconciles, so that a deleted one is reconciled once more, with metadata.deletionTimestamp set: reconcile.lua
 * then decides the cleanup (cancel the job, let the objects go) and says when it is done
 * (result.remove_finalizer). The daemon also removes it FINALIZER_LIMIT seconds into the deletion whatever the
 * policy says, so that a failing policy or a JobManager that never answers cannot keep a resource, or the
 * namespace it is in, from going.
 *
 * Only our own entry is ever added or removed: the patch carries the whole list as it was with the object's
 * resourceVersion, so when someone changed the list meanwhile the API server refuses it (409) and the reconcile is
 * retried on the new list, never overwriting theirs. */
#ifndef FLINKOP_FINALIZER_H
#define FLINKOP_FINALIZER_H

#include <time.h>
#include <cjson/cJSON.h>

#define FINALIZER_NAME "flinkdeployments.flink.apache.org/finalizer"
#define FINALIZER_SESSION_JOB_NAME "flinksessionjobs.flink.apache.org/finalizer"
#define FINALIZER_LIMIT 60 /* seconds into a deletion after which the finalizer goes regardless */

/* Whether resource is of a kind that carries our finalizer (FlinkDeployment, FlinkSessionJob). */
int finalizer_applies(const cJSON *resource);

/* Whether the resource's metadata.finalizers holds ours (the one of its kind). */
int finalizer_present(const cJSON *resource);

/* Whether the resource is being deleted (metadata.deletionTimestamp is set). */
int finalizer_deleting(const cJSON *resource);

/* Whether the resource has been being deleted for FINALIZER_LIMIT seconds or more at `now`. */
int finalizer_overdue(const cJSON *resource, time_t now);

/* The JSON merge patch (application/merge-patch+json) that adds (add != 0) or removes our finalizer, or NULL when
 * there is nothing to do. A new string the caller frees. */
char *finalizer_patch(const cJSON *resource, int add);

#endif
