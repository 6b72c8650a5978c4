/* Asking the API server what a ServiceAccount may do: the (group, resource, verb) tuples a set of RBAC rules
 * stands for, which bindings reach an account, and the SubjectAccessReview requests and answers. Shared by the
 * daemon's check of user-made RBAC (access_check.c) and `flinkop audit` (audit.c). No I/O here. */
#ifndef FLINKOP_ACCESS_REVIEW_H
#define FLINKOP_ACCESS_REVIEW_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* One thing to ask about. "*" is kept literally: a review for verb "*" is allowed only by a rule granting "*". */
struct access_tuple {
    char group[254];    /* "" for the core group */
    char resource[254]; /* "pods", or with its subresource "deployments/finalizers" */
    char verb[64];
    char name[254];     /* one of a rule's resourceNames, or "" for any object */
};

/* A list without repeats, in the order of first insertion. Start from a zeroed struct. */
struct access_tuples {
    struct access_tuple *items;
    size_t count, cap;
};

/* Adds a tuple unless it is there already. Returns 0, or -1 when out of memory or a field does not fit. */
int access_tuples_add(struct access_tuples *ts, const char *group, const char *resource, const char *verb,
                      const char *name);

/* Adds every tuple a list of RBAC rules names: apiGroups x resources x verbs (x resourceNames when given). Rules
 * with nonResourceURLs only are skipped: they are not about resources. Returns 0 or -1 as access_tuples_add. */
int access_tuples_add_rules(struct access_tuples *ts, const cJSON *rules);

/* The index of a tuple in the list, or -1. */
long access_tuples_find(const struct access_tuples *ts, const struct access_tuple *t);

void access_tuples_free(struct access_tuples *ts);

/* The tuple as kubectl names resources: "pods", "deployments.apps/finalizers", "*.*", with "[NAME]" for one
 * object. Returns buf. */
const char *access_tuple_resource(const struct access_tuple *t, char *buf, size_t len);

/* Whether group, resource or verb is "*". */
int access_tuple_has_wildcard(const struct access_tuple *t);

/* Whether any rule uses "*" in apiGroups, resources or verbs. */
int access_rules_have_wildcard(const cJSON *rules);

/* Whether one of the RBAC rules allows t, matching as the API server's RBAC authorizer does: "*" in any list,
 * a resource "*" followed by a subresource, resourceNames. */
int access_rules_cover(const cJSON *rules, const struct access_tuple *t);

/* Whether a RoleBinding or ClusterRoleBinding applies to ServiceAccount sa_ns/sa_name: as a ServiceAccount subject
 * (its namespace defaulting to the binding's), as the user system:serviceaccount:NS:NAME, or through a group every
 * such account is in (system:serviceaccounts, system:serviceaccounts:NS, system:authenticated). */
int access_binding_covers(const cJSON *binding, const char *sa_ns, const char *sa_name);

/* The Role (in the binding's namespace) or ClusterRole in the array `objects` that binding's roleRef names, or
 * NULL when it is not there. */
const cJSON *access_binding_role(const cJSON *objects, const cJSON *binding);

/* Whether subject (an item of a binding's subjects) is a ServiceAccount; sets *ns (defaulting to the binding's
 * namespace) and *name, borrowed from the trees. */
int access_subject_account(const cJSON *subject, const cJSON *binding, const char **ns, const char **name);

/* Where a review goes: a LocalSubjectAccessReview in scope_ns, or a cluster-wide SubjectAccessReview when
 * scope_ns is NULL. Returns 0, or -1 when buf is too small. */
int access_review_path(const char *scope_ns, char *buf, size_t len);

/* The review asking whether ServiceAccount sa_ns/sa_name (with its groups) may do t, in scope_ns or, when NULL,
 * in every namespace. Returns a malloc'd JSON text the caller frees, or NULL when out of memory. */
char *access_review_body(const char *scope_ns, const char *sa_ns, const char *sa_name, const struct access_tuple *t);

/* The answer of a review: 1 allowed, 0 not allowed, -1 when it is not a review with a status. */
int access_review_allowed(const cJSON *answer);

#endif
