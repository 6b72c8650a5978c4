#include "rbac_ceiling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "object.h"
#include "strutil.h"
#include "yaml_io.h"

#define RBAC_GROUP "rbac.authorization.k8s.io"

struct rbac_ceiling {
    cJSON *everywhere;   /* PolicyRules that hold in every namespace */
    cJSON *by_namespace; /* namespace -> PolicyRules that hold there only */
    char *source;        /* how messages name the ceiling */
};

/* One PolicyRule, its lists borrowed; an absent list is NULL. */
struct rule_view {
    const cJSON *groups, *resources, *verbs, *names, *urls;
};

/* One atomic grant, as Kubernetes breaks a rule down: a resource tuple (url NULL; name NULL for all names) or a
 * non-resource tuple (url and verb only). */
struct tuple {
    const char *group, *resource, *verb, *name, *url;
};

/* The list member `key` of a rule: NULL when absent or null, else it must be an array of strings. */
static int rule_list(const cJSON *rule, const char *key, const cJSON **out, char *why, size_t whylen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rule, key), *s;
    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsArray(v)) {
        snprintf(why, whylen, "%s must be a list of strings", key);
        return -1;
    }
    cJSON_ArrayForEach(s, v)
    {
        if (!cJSON_IsString(s)) {
            snprintf(why, whylen, "%s must be a list of strings", key);
            return -1;
        }
    }
    *out = v;
    return 0;
}

static int rule_view(const cJSON *rule, struct rule_view *v, char *why, size_t whylen)
{
    if (!cJSON_IsObject(rule)) {
        snprintf(why, whylen, "a rule must be a table of apiGroups, resources, verbs");
        return -1;
    }
    return rule_list(rule, "apiGroups", &v->groups, why, whylen) ||
                   rule_list(rule, "resources", &v->resources, why, whylen) ||
                   rule_list(rule, "verbs", &v->verbs, why, whylen) ||
                   rule_list(rule, "resourceNames", &v->names, why, whylen) ||
                   rule_list(rule, "nonResourceURLs", &v->urls, why, whylen)
               ? -1
               : 0;
}

static int list_has(const cJSON *list, const char *s)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        if (strcmp(e->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

static int list_empty(const cJSON *list)
{
    return list == NULL || list->child == NULL;
}

/* "*" covers every resource; "*\/scale" covers the scale subresource of every resource; otherwise only the exact
 * name: "deployments" does not cover "deployments/finalizers". */
static int resource_covered(const cJSON *owned, const char *resource)
{
    if (list_has(owned, "*") || list_has(owned, resource))
        return 1;
    const char *slash = strchr(resource, '/');
    if (slash == NULL)
        return 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, owned)
    {
        if (e->valuestring[0] == '*' && strcmp(e->valuestring + 1, slash) == 0)
            return 1;
    }
    return 0;
}

/* An owned URL covers itself, and ending in "*" every URL that starts with what precedes its trailing stars. */
static int url_covered(const cJSON *owned, const char *url)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, owned)
    {
        const char *u = e->valuestring;
        size_t n = strlen(u);
        if (strcmp(u, url) == 0)
            return 1;
        if (n > 0 && u[n - 1] == '*') {
            while (n > 0 && u[n - 1] == '*')
                n--;
            if (strncmp(u, url, n) == 0)
                return 1;
        }
    }
    return 0;
}

/* ruleCovers for one tuple. A "*" in the tuple is a plain string here, so only a "*" in the owner covers it. */
static int tuple_covered_by(const struct rule_view *o, const struct tuple *t)
{
    if (!list_has(o->verbs, "*") && !list_has(o->verbs, t->verb))
        return 0;
    if (t->url)
        return url_covered(o->urls, t->url) && list_empty(o->names);
    if (!list_has(o->groups, "*") && !list_has(o->groups, t->group))
        return 0;
    if (!resource_covered(o->resources, t->resource))
        return 0;
    return t->name ? list_empty(o->names) || list_has(o->names, t->name) : list_empty(o->names);
}

/* Whether some rule of `owners` (checked when the ceiling was made) covers t. */
static int owners_cover(const cJSON *owners, const struct tuple *t)
{
    const cJSON *r;
    char why[128];
    cJSON_ArrayForEach(r, owners)
    {
        struct rule_view o;
        if (rule_view(r, &o, why, sizeof why) == 0 && tuple_covered_by(&o, t))
            return 1;
    }
    return 0;
}

static int ceiling_covers_tuple(const struct rbac_ceiling *c, const char *ns, const struct tuple *t)
{
    const cJSON *local = ns ? cJSON_GetObjectItemCaseSensitive(c->by_namespace, ns) : NULL;
    return owners_cover(c->everywhere, t) || owners_cover(local, t);
}

/* Breaks the rule down as Kubernetes' BreakdownRule does and finds the first tuple the ceiling does not cover.
 * Returns 1 when every tuple is covered, else 0 with *t set. A rule without verbs, or without groups and URLs,
 * breaks down into nothing and grants nothing, so it is covered (the API server refuses such a rule anyway). */
static int first_uncovered(const struct rbac_ceiling *c, const char *ns, const struct rule_view *v, struct tuple *t)
{
    const cJSON *g, *r, *verb, *name, *url;
    *t = (struct tuple){0};
    cJSON_ArrayForEach(g, v->groups) cJSON_ArrayForEach(r, v->resources) cJSON_ArrayForEach(verb, v->verbs)
    {
        t->group = g->valuestring;
        t->resource = r->valuestring;
        t->verb = verb->valuestring;
        t->name = NULL;
        if (list_empty(v->names) && !ceiling_covers_tuple(c, ns, t))
            return 0;
        cJSON_ArrayForEach(name, v->names)
        {
            t->name = name->valuestring;
            if (!ceiling_covers_tuple(c, ns, t))
                return 0;
        }
    }
    *t = (struct tuple){0};
    cJSON_ArrayForEach(url, v->urls) cJSON_ArrayForEach(verb, v->verbs)
    {
        t->url = url->valuestring;
        t->verb = verb->valuestring;
        if (!ceiling_covers_tuple(c, ns, t))
            return 0;
    }
    return 1;
}

static void tuple_describe(const struct tuple *t, char *buf, size_t len)
{
    if (t->url)
        snprintf(buf, len, "verb \"%s\" on non-resource URL \"%s\"", t->verb, t->url);
    else if (t->name)
        snprintf(buf, len, "verb \"%s\" on \"%s\" named \"%s\" (group \"%s\")", t->verb, t->resource, t->name,
                 t->group);
    else
        snprintf(buf, len, "verb \"%s\" on \"%s\" (group \"%s\")", t->verb, t->resource, t->group);
}

int rbac_ceiling_covers(const struct rbac_ceiling *c, const char *ns, const cJSON *rule, char *why, size_t whylen)
{
    struct rule_view v;
    struct tuple t;
    if (rule_view(rule, &v, why, whylen) != 0)
        return -1;
    if (first_uncovered(c, ns, &v, &t))
        return 1;
    tuple_describe(&t, why, whylen);
    return 0;
}

/* ---- making a ceiling ---- */

void rbac_ceiling_free(struct rbac_ceiling *c)
{
    if (c == NULL)
        return;
    cJSON_Delete(c->everywhere);
    cJSON_Delete(c->by_namespace);
    free(c->source);
    free(c);
}

static struct rbac_ceiling *ceiling_new(const char *source)
{
    struct rbac_ceiling *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->everywhere = cJSON_CreateArray();
    c->by_namespace = cJSON_CreateObject();
    c->source = strutil_dup(source);
    if (c->everywhere == NULL || c->by_namespace == NULL || c->source == NULL) {
        rbac_ceiling_free(c);
        return NULL;
    }
    return c;
}

/* Copies the checked rules of `rules` (a list; NULL or null adds nothing) into the list `into`. `what` names the
 * list in messages. */
static int rules_add(cJSON *into, const cJSON *rules, const char *what, char *err, size_t errlen)
{
    char why[256];
    int i = 0;
    const cJSON *r;
    if (rules == NULL || cJSON_IsNull(rules))
        return 0;
    if (!cJSON_IsArray(rules)) {
        snprintf(err, errlen, "%s: rules must be a list of PolicyRules", what);
        return -1;
    }
    cJSON_ArrayForEach(r, rules)
    {
        struct rule_view v;
        i++;
        if (rule_view(r, &v, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: rule %d: %s", what, i, why);
            return -1;
        }
        cJSON *copy = cJSON_Duplicate(r, 1);
        if (copy == NULL || !cJSON_AddItemToArray(into, copy)) {
            cJSON_Delete(copy);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

struct rbac_ceiling *rbac_ceiling_from_json(const cJSON *doc, const char *source, char *err, size_t errlen)
{
    const cJSON *rules = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "rules") : doc;
    if (!cJSON_IsArray(rules)) {
        snprintf(err, errlen, "%s: expected a list of PolicyRules or a ClusterRole with rules", source);
        return NULL;
    }
    struct rbac_ceiling *c = ceiling_new(source);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (rules_add(c->everywhere, rules, source, err, errlen) != 0) {
        rbac_ceiling_free(c);
        return NULL;
    }
    return c;
}

struct rbac_ceiling *rbac_ceiling_load_file(const char *path, char *err, size_t errlen)
{
    struct yaml_stream s = {0};
    char source[512];
    if (yaml_stream_read_file(path, &s, err, errlen) != 0)
        return NULL;
    struct rbac_ceiling *c = NULL;
    snprintf(source, sizeof source, "--rbac-ceiling %s", path);
    if (s.count != 1)
        snprintf(err, errlen, "%s: expected one YAML document, found %zu", path, s.count);
    else
        c = rbac_ceiling_from_json(s.docs[0].value, source, err, errlen);
    yaml_stream_free(&s);
    return c;
}

/* The object of `kind` named `name` (in namespace `ns` when given) in a list of objects, or NULL. */
static const cJSON *answer_find(const cJSON *answer, const char *kind, const char *ns, const char *name)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, answer)
    {
        const char *k = object_kind(o), *n = object_name(o), *s = object_namespace(o);
        if (k && n && strcmp(k, kind) == 0 && strcmp(n, name) == 0 && (ns == NULL || (s && strcmp(s, ns) == 0)))
            return o;
    }
    return NULL;
}

/* Whether a binding's subjects name a ServiceAccount the install emits. A subject without a namespace is in the
 * binding's own namespace, as Kubernetes reads it for RoleBindings. */
static int binds_operator(const cJSON *objects, const cJSON *binding)
{
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(binding, "subjects"))
    {
        const char *kind = object_string_at(s, "kind"), *name = object_string_at(s, "name");
        const char *ns = object_string_at(s, "namespace");
        if (ns == NULL)
            ns = object_namespace(binding);
        if (kind && name && ns && strcmp(kind, "ServiceAccount") == 0 &&
            answer_find(objects, "ServiceAccount", ns, name))
            return 1;
    }
    return 0;
}

/* Adds what one binding of the install grants the operator, if it binds the operator to a role the install holds. */
static int install_binding_add(struct rbac_ceiling *c, const cJSON *objects, const cJSON *b, char *err, size_t errlen)
{
    const char *kind = object_kind(b), *ns = object_namespace(b);
    const char *ref_kind = object_string_at(b, "roleRef.kind"), *ref_name = object_string_at(b, "roleRef.name");
    int cluster_wide = strcmp(kind, "ClusterRoleBinding") == 0;
    if (ref_kind == NULL || ref_name == NULL || (!cluster_wide && ns == NULL) || !binds_operator(objects, b))
        return 0;
    const cJSON *role = NULL;
    if (strcmp(ref_kind, "ClusterRole") == 0)
        role = answer_find(objects, "ClusterRole", NULL, ref_name);
    else if (!cluster_wide)
        role = answer_find(objects, ref_kind, ns, ref_name);
    if (role == NULL)
        return 0;
    cJSON *into = c->everywhere;
    if (!cluster_wide) {
        into = cJSON_GetObjectItemCaseSensitive(c->by_namespace, ns);
        if (into == NULL && (into = cJSON_AddArrayToObject(c->by_namespace, ns)) == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    char what[400];
    snprintf(what, sizeof what, "%s %s%s%s", object_kind(role), object_namespace(role) ? object_namespace(role) : "",
             object_namespace(role) ? "/" : "", ref_name);
    return rules_add(into, cJSON_GetObjectItemCaseSensitive(role, "rules"), what, err, errlen);
}

struct rbac_ceiling *rbac_ceiling_from_install(const cJSON *objects, const char *source, char *err, size_t errlen)
{
    struct rbac_ceiling *c = ceiling_new(source);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, objects)
    {
        const char *kind = object_kind(o);
        if (kind && (strcmp(kind, "ClusterRoleBinding") == 0 || strcmp(kind, "RoleBinding") == 0) &&
            install_binding_add(c, objects, o, err, errlen) != 0) {
            rbac_ceiling_free(c);
            return NULL;
        }
    }
    return c;
}

/* ---- checks on emitted objects ---- */

static int role_check(const struct rbac_ceiling *c, const cJSON *role, struct rbac_finding *f)
{
    const char *ns = object_namespace(role), *name = object_name(role);
    const cJSON *rules = cJSON_GetObjectItemCaseSensitive(role, "rules"), *r;
    char why[256], tuple[512];
    int i = 0;
    if (rules == NULL || cJSON_IsNull(rules) || (cJSON_IsObject(rules) && rules->child == NULL))
        return 0; /* no rules, or {} for an empty Lua table: grants nothing */
    if (!cJSON_IsArray(rules)) {
        snprintf(f->path, sizeof f->path, "rules");
        f->at = rules;
        snprintf(f->why, sizeof f->why, "Role %s/%s: rules must be a list", ns, name);
        return -1;
    }
    cJSON_ArrayForEach(r, rules)
    {
        struct rule_view v;
        struct tuple t;
        i++;
        snprintf(f->path, sizeof f->path, "rules.%d", i);
        f->at = r;
        if (rule_view(r, &v, why, sizeof why) != 0) {
            snprintf(f->why, sizeof f->why, "Role %s/%s rule %d: %s", ns, name, i, why);
            return -1;
        }
        if (first_uncovered(c, ns, &v, &t))
            continue;
        tuple_describe(&t, tuple, sizeof tuple);
        int wild = strcmp(t.verb, "*") == 0 || (t.resource && strcmp(t.resource, "*") == 0) ||
                   (t.group && strcmp(t.group, "*") == 0);
        snprintf(f->why, sizeof f->why, "Role %s/%s rule %d: %s is beyond the RBAC ceiling (%s)%s", ns, name, i,
                 tuple, c->source, wild ? "; only a \"*\" in the ceiling covers a \"*\"" : "");
        return -1;
    }
    return 0;
}

/* A RoleBinding may bind a Role of the same answer, whose rules role_check sees. Any other role's rules are out of
 * sight, so binding it takes what Kubernetes itself would take without them: verb "bind" on that role, by name. */
static int binding_check(const struct rbac_ceiling *c, const cJSON *b, const cJSON *answer, struct rbac_finding *f)
{
    const char *ns = object_namespace(b), *name = object_name(b);
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(b, "roleRef");
    const char *kind = object_string_at(ref, "kind"), *ref_name = object_string_at(ref, "name");
    const char *group = object_string_at(ref, "apiGroup");
    snprintf(f->path, sizeof f->path, "roleRef");
    f->at = ref;
    if (kind == NULL || ref_name == NULL || group == NULL || strcmp(group, RBAC_GROUP) != 0 ||
        (strcmp(kind, "Role") != 0 && strcmp(kind, "ClusterRole") != 0)) {
        snprintf(f->why, sizeof f->why,
                 "RoleBinding %s/%s: roleRef must have apiGroup " RBAC_GROUP ", kind Role or ClusterRole, and a name",
                 ns, name);
        return -1;
    }
    if (strcmp(kind, "Role") == 0 && answer_find(answer, "Role", ns, ref_name))
        return 0;
    const char *resource = strcmp(kind, "Role") == 0 ? "roles" : "clusterroles";
    struct tuple t = {RBAC_GROUP, resource, "bind", ref_name, NULL};
    if (ceiling_covers_tuple(c, ns, &t))
        return 0;
    snprintf(f->why, sizeof f->why,
             "RoleBinding %s/%s binds %s %s, which this answer does not define; binding it needs verb \"bind\" on "
             "\"%s\" named \"%s\" (group \"" RBAC_GROUP "\") in the RBAC ceiling (%s)",
             ns, name, kind, ref_name, resource, ref_name, c->source);
    return -1;
}

int rbac_ceiling_check_object(const struct rbac_ceiling *c, const cJSON *obj, const cJSON *answer,
                              struct rbac_finding *f)
{
    const char *kind = object_kind(obj);
    *f = (struct rbac_finding){0};
    if (kind && strcmp(kind, "Role") == 0)
        return role_check(c, obj, f);
    if (kind && strcmp(kind, "RoleBinding") == 0)
        return binding_check(c, obj, answer, f);
    return 0;
}
