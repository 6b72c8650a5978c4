/* The daemon's check of RBAC a user made by hand. When a namespace's policy wants a ServiceAccount, Role or
 * RoleBinding that already exists without our label, the daemon leaves it as it is (sync.c) and this module asks
 * the API server, with one LocalSubjectAccessReview per tuple, whether every ServiceAccount the policy's
 * RoleBindings name may do what the policy's Roles grant. Missing permissions give a Warning log line, a Warning
 * Event on the user's object and flinkop_access_missing{namespace}; enough gives one Info line. The user's objects
 * are never written.
 *
 * A check runs only when the conflicting objects (by resourceVersion) or the policy's RBAC for the namespace
 * changed since the last one, so a converged resync sends no review. sync.c reports each namespace reconcile:
 * begin, every conflict, end. */
#ifndef FLINKOP_ACCESS_CHECK_H
#define FLINKOP_ACCESS_CHECK_H

#include <cjson/cJSON.h>

#include "kube.h"
#include "metrics.h"

struct ev_loop;
struct access_check;

/* loop, kube and metrics are borrowed and must outlive the checker (free it before the client). The Event is
 * written only while *may_write (leader election) is set. Returns NULL when out of memory. */
struct access_check *access_check_new(struct ev_loop *loop, struct kube *kube, struct metrics *metrics,
                                      const int *may_write);

/* Cancels checks in flight (no callback runs) and frees everything. NULL is a no-op. */
void access_check_free(struct access_check *ac);

/* A reconcile of work key "Namespace/NAME" is about to apply `desired`, what rbac.lua wants there (copied). */
void access_check_begin(struct access_check *ac, const char *key, const cJSON *desired);

/* During that reconcile: `live` (copied), an object it wants, exists without our label. Other keys and kinds
 * than ServiceAccount, Role and RoleBinding are ignored. */
void access_check_conflict(struct access_check *ac, const char *key, const cJSON *live);

/* The reconcile of key finished; ok when all its requests succeeded (else the round is ignored). Starts a check
 * when the conflicts differ from those checked last; forgets the namespace when it has none left. Any key is
 * accepted: a key no begin was reported for is ignored. */
void access_check_end(struct access_check *ac, const char *key, int ok);

#endif
