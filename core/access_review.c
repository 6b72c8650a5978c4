#include "access_review.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_text.h"
#include "object.h"

#define SA_PREFIX "system:serviceaccount:"
#define SA_GROUP "system:serviceaccounts"

static int field_set(char *dst, size_t len, const char *src)
{
    size_t n = strlen(src);
    if (n >= len)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

long access_tuples_find(const struct access_tuples *ts, const struct access_tuple *t)
{
    for (size_t i = 0; i < ts->count; i++) {
        const struct access_tuple *o = &ts->items[i];
        if (strcmp(o->group, t->group) == 0 && strcmp(o->resource, t->resource) == 0 &&
            strcmp(o->verb, t->verb) == 0 && strcmp(o->name, t->name) == 0)
            return (long)i;
    }
    return -1;
}

int access_tuples_add(struct access_tuples *ts, const char *group, const char *resource, const char *verb,
                      const char *name)
{
    struct access_tuple t;
    if (field_set(t.group, sizeof t.group, group) || field_set(t.resource, sizeof t.resource, resource) ||
        field_set(t.verb, sizeof t.verb, verb) || field_set(t.name, sizeof t.name, name ? name : ""))
        return -1;
    if (access_tuples_find(ts, &t) >= 0)
        return 0;
    if (ts->count == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 32;
        struct access_tuple *grown = realloc(ts->items, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        ts->items = grown;
        ts->cap = cap;
    }
    ts->items[ts->count++] = t;
    return 0;
}

static const cJSON *list_at(const cJSON *rule, const char *key)
{
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(rule, key);
    return cJSON_IsArray(l) ? l : NULL;
}

int access_tuples_add_rules(struct access_tuples *ts, const cJSON *rules)
{
    const cJSON *rule;
    cJSON_ArrayForEach(rule, rules)
    {
        const cJSON *groups = list_at(rule, "apiGroups"), *resources = list_at(rule, "resources");
        const cJSON *verbs = list_at(rule, "verbs"), *names = list_at(rule, "resourceNames");
        const cJSON *g, *r, *v, *n;
        cJSON_ArrayForEach(g, groups) cJSON_ArrayForEach(r, resources) cJSON_ArrayForEach(v, verbs)
        {
            if (!cJSON_IsString(g) || !cJSON_IsString(r) || !cJSON_IsString(v))
                continue;
            if (cJSON_GetArraySize(names) == 0 && access_tuples_add(ts, g->valuestring, r->valuestring,
                                                                    v->valuestring, "") != 0)
                return -1;
            cJSON_ArrayForEach(n, names)
            {
                if (cJSON_IsString(n) &&
                    access_tuples_add(ts, g->valuestring, r->valuestring, v->valuestring, n->valuestring) != 0)
                    return -1;
            }
        }
    }
    return 0;
}

void access_tuples_free(struct access_tuples *ts)
{
    free(ts->items);
    *ts = (struct access_tuples){0};
}

const char *access_tuple_resource(const struct access_tuple *t, char *buf, size_t len)
{
    size_t plural = strcspn(t->resource, "/");
    snprintf(buf, len, "%.*s%s%s%s%s%s%s", (int)plural, t->resource, *t->group ? "." : "", t->group,
             t->resource + plural, *t->name ? "[" : "", t->name, *t->name ? "]" : "");
    return buf;
}

int access_tuple_has_wildcard(const struct access_tuple *t)
{
    return strcmp(t->group, "*") == 0 || strcmp(t->resource, "*") == 0 || strcmp(t->verb, "*") == 0;
}

static int list_has(const cJSON *list, const char *s)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, list)
    {
        if (cJSON_IsString(e) && strcmp(e->valuestring, s) == 0)
            return 1;
    }
    return 0;
}

int access_rules_have_wildcard(const cJSON *rules)
{
    const cJSON *rule;
    cJSON_ArrayForEach(rule, rules)
    {
        if (list_has(list_at(rule, "apiGroups"), "*") || list_has(list_at(rule, "resources"), "*") ||
            list_has(list_at(rule, "verbs"), "*"))
            return 1;
    }
    return 0;
}

/* As rbac/v1's ResourceMatches: "*", the exact "resource/subresource", or "*" + "/subresource". */
static int resource_matches(const cJSON *resources, const char *wanted)
{
    const char *sub = strchr(wanted, '/');
    const cJSON *e;
    cJSON_ArrayForEach(e, resources)
    {
        if (!cJSON_IsString(e))
            continue;
        const char *r = e->valuestring;
        if (strcmp(r, "*") == 0 || strcmp(r, wanted) == 0 || (sub && r[0] == '*' && strcmp(r + 1, sub) == 0))
            return 1;
    }
    return 0;
}

int access_rules_cover(const cJSON *rules, const struct access_tuple *t)
{
    const cJSON *rule;
    cJSON_ArrayForEach(rule, rules)
    {
        const cJSON *groups = list_at(rule, "apiGroups"), *verbs = list_at(rule, "verbs");
        const cJSON *names = list_at(rule, "resourceNames");
        if (!(list_has(groups, "*") || list_has(groups, t->group)) ||
            !(list_has(verbs, "*") || list_has(verbs, t->verb)))
            continue;
        if (!resource_matches(list_at(rule, "resources"), t->resource))
            continue;
        if (cJSON_GetArraySize(names) == 0 || (*t->name && list_has(names, t->name)))
            return 1;
    }
    return 0;
}

static const char *string_of(const cJSON *obj, const char *key)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

int access_subject_account(const cJSON *subject, const cJSON *binding, const char **ns, const char **name)
{
    const char *kind = string_of(subject, "kind");
    if (kind == NULL || strcmp(kind, "ServiceAccount") != 0 || string_of(subject, "name") == NULL)
        return 0;
    *name = string_of(subject, "name");
    *ns = string_of(subject, "namespace") ? string_of(subject, "namespace") : object_namespace(binding);
    return *ns != NULL;
}

/* Whether one subject names the account, directly or through a group it is in. */
static int subject_covers(const cJSON *subject, const cJSON *binding, const char *sa_ns, const char *sa_name)
{
    const char *kind = string_of(subject, "kind"), *name = string_of(subject, "name"), *ns, *n;
    if (kind == NULL || name == NULL)
        return 0;
    if (access_subject_account(subject, binding, &ns, &n))
        return strcmp(ns, sa_ns) == 0 && strcmp(n, sa_name) == 0;
    if (strcmp(kind, "User") == 0) {
        size_t p = strlen(SA_PREFIX), l = strlen(sa_ns);
        return strncmp(name, SA_PREFIX, p) == 0 && strncmp(name + p, sa_ns, l) == 0 && name[p + l] == ':' &&
               strcmp(name + p + l + 1, sa_name) == 0;
    }
    if (strcmp(kind, "Group") == 0) {
        size_t g = strlen(SA_GROUP);
        return strcmp(name, SA_GROUP) == 0 || strcmp(name, "system:authenticated") == 0 ||
               (strncmp(name, SA_GROUP ":", g + 1) == 0 && strcmp(name + g + 1, sa_ns) == 0);
    }
    return 0;
}

int access_binding_covers(const cJSON *binding, const char *sa_ns, const char *sa_name)
{
    const cJSON *subject;
    cJSON_ArrayForEach(subject, cJSON_GetObjectItemCaseSensitive(binding, "subjects"))
    {
        if (subject_covers(subject, binding, sa_ns, sa_name))
            return 1;
    }
    return 0;
}

const cJSON *access_binding_role(const cJSON *objects, const cJSON *binding)
{
    const cJSON *ref = cJSON_GetObjectItemCaseSensitive(binding, "roleRef");
    const char *kind = string_of(ref, "kind"), *name = string_of(ref, "name");
    const char *ns = object_namespace(binding);
    const cJSON *o;
    if (kind == NULL || name == NULL)
        return NULL;
    int cluster = strcmp(kind, "ClusterRole") == 0;
    cJSON_ArrayForEach(o, objects)
    {
        const char *okind = object_kind(o), *oname = object_name(o), *ons = object_namespace(o);
        if (okind == NULL || oname == NULL || strcmp(okind, kind) != 0 || strcmp(oname, name) != 0)
            continue;
        if (cluster || (ns && ons && strcmp(ns, ons) == 0))
            return o;
    }
    return NULL;
}

int access_review_path(const char *scope_ns, char *buf, size_t len)
{
    int n = scope_ns ? snprintf(buf, len, "/apis/authorization.k8s.io/v1/namespaces/%s/localsubjectaccessreviews",
                                scope_ns)
                     : snprintf(buf, len, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

char *access_review_body(const char *scope_ns, const char *sa_ns, const char *sa_name, const struct access_tuple *t)
{
    char user[600], group[300];
    size_t plural = strcspn(t->resource, "/");
    char *resource = strndup(t->resource, plural);
    snprintf(user, sizeof user, SA_PREFIX "%s:%s", sa_ns, sa_name);
    snprintf(group, sizeof group, SA_GROUP ":%s", sa_ns);
    cJSON *review = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(review, "metadata");
    cJSON *spec = cJSON_AddObjectToObject(review, "spec");
    cJSON *attrs = cJSON_AddObjectToObject(spec, "resourceAttributes");
    cJSON *groups = cJSON_AddArrayToObject(spec, "groups");
    int ok = resource && meta && attrs && groups &&
             cJSON_AddStringToObject(review, "apiVersion", "authorization.k8s.io/v1") &&
             cJSON_AddStringToObject(review, "kind", scope_ns ? "LocalSubjectAccessReview" : "SubjectAccessReview") &&
             cJSON_AddStringToObject(spec, "user", user) &&
             cJSON_AddItemToArray(groups, cJSON_CreateString(SA_GROUP)) &&
             cJSON_AddItemToArray(groups, cJSON_CreateString(group)) &&
             cJSON_AddItemToArray(groups, cJSON_CreateString("system:authenticated")) &&
             cJSON_AddStringToObject(attrs, "group", t->group) &&
             cJSON_AddStringToObject(attrs, "resource", resource) &&
             cJSON_AddStringToObject(attrs, "verb", t->verb);
    if (ok && t->resource[plural] == '/')
        ok = cJSON_AddStringToObject(attrs, "subresource", t->resource + plural + 1) != NULL;
    if (ok && *t->name)
        ok = cJSON_AddStringToObject(attrs, "name", t->name) != NULL;
    if (ok && scope_ns)
        ok = cJSON_AddStringToObject(meta, "namespace", scope_ns) &&
             cJSON_AddStringToObject(attrs, "namespace", scope_ns);
    char *body = ok ? json_print_sorted(review) : NULL;
    cJSON_Delete(review);
    free(resource);
    return body;
}

int access_review_allowed(const cJSON *answer)
{
    const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(answer, "status"), "allowed");
    return cJSON_IsBool(allowed) ? cJSON_IsTrue(allowed) : -1;
}
