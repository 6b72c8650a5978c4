/* The RBAC ceiling: the most a policy may grant. Every Role a policy emits must lie within it, and a RoleBinding
 * may bind only a Role of the same answer or a role the ceiling allows to bind. Coverage is Kubernetes' own
 * (k8s.io/component-helpers/auth/rbac/validation, Covers and ruleCovers), the check the API server makes before it
 * lets the operator create a Role, so a policy is refused here, with its line, rather than by a 403 later. */
#ifndef FLINKOP_RBAC_CEILING_H
#define FLINKOP_RBAC_CEILING_H

#include <stddef.h>
#include <cjson/cJSON.h>

struct rbac_ceiling;

/* A ceiling from a document: a list of PolicyRules, or an object with `rules` (a ClusterRole or Role manifest).
 * The rules hold in every namespace. `source` names it in messages ("--rbac-ceiling FILE"). Returns the ceiling
 * (free with rbac_ceiling_free), or NULL with the reason in err. */
struct rbac_ceiling *rbac_ceiling_from_json(const cJSON *doc, const char *source, char *err, size_t errlen);

/* The same from a YAML file holding one such document. */
struct rbac_ceiling *rbac_ceiling_load_file(const char *path, char *err, size_t errlen);

/* What an install grants the operator: `objects` is rbac.operator()'s answer. The operator is every ServiceAccount
 * it emits; a ClusterRoleBinding naming one grants its ClusterRole's rules in every namespace, a RoleBinding its
 * Role's (or ClusterRole's) rules in the binding's namespace. A binding to a role the answer does not hold grants
 * nothing here (its rules are unknown). Returns the ceiling, or NULL with the reason in err. */
struct rbac_ceiling *rbac_ceiling_from_install(const cJSON *objects, const char *source, char *err, size_t errlen);

void rbac_ceiling_free(struct rbac_ceiling *c);

/* Whether the ceiling's rules in namespace `ns` cover every (group, resource, verb[, resourceName]) and (URL, verb)
 * tuple of PolicyRule `rule`. Returns 1 covered; 0 not, with the first uncovered tuple in why
 * (`verb "get" on "secrets" (group "")`); -1 when `rule` is not a PolicyRule (a field that is not a list of
 * strings), with the field in why. */
int rbac_ceiling_covers(const struct rbac_ceiling *c, const char *ns, const cJSON *rule, char *why, size_t whylen);

/* What a refusal points at: the path below the object, in Lua's terms ("rules.2", "roleRef"; "" for the whole
 * object), the value there (borrowed), and the reason. */
struct rbac_finding {
    char path[32];
    const cJSON *at;
    char why[768];
};

/* Checks one emitted object of a namespaced answer (already stamped with its namespace) against the ceiling:
 * each rule of a Role must be covered; a RoleBinding's roleRef must name a Role in `answer` (the whole list the
 * object came from), or a Role or ClusterRole the ceiling grants verb "bind" on, by name. Other kinds pass.
 * Returns 0, or -1 with *f filled. */
int rbac_ceiling_check_object(const struct rbac_ceiling *c, const cJSON *obj, const cJSON *answer,
                              struct rbac_finding *f);

#endif
