#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "json_text.h"
#include "object.h"

struct entry {
    enum plan_action action;
    cJSON *desired, *live;
};

struct plan {
    struct entry *entries;
    size_t count;
    size_t errors;
};

struct plan *plan_new(void)
{
    return calloc(1, sizeof(struct plan));
}

void plan_free(struct plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->count; i++) {
        cJSON_Delete(p->entries[i].desired);
        cJSON_Delete(p->entries[i].live);
    }
    free(p->entries);
    free(p);
}

int plan_add(struct plan *p, enum plan_action action, const cJSON *desired, const cJSON *live)
{
    struct entry *grown = realloc(p->entries, (p->count + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    p->entries = grown;
    struct entry *e = &p->entries[p->count];
    *e = (struct entry){action, desired ? cJSON_Duplicate(desired, 1) : NULL, live ? cJSON_Duplicate(live, 1) : NULL};
    if ((desired && !e->desired) || (live && !e->live)) {
        cJSON_Delete(e->desired);
        cJSON_Delete(e->live);
        return -1;
    }
    p->count++;
    return 0;
}

void plan_error(struct plan *p, const char *what)
{
    (void)what; /* the caller has logged it where it happened */
    p->errors++;
}

static const cJSON *entry_object(const struct entry *e)
{
    return e->desired ? e->desired : e->live;
}

static int entry_compare(const void *a, const void *b)
{
    const cJSON *x = entry_object(a), *y = entry_object(b);
    const char *xn = object_namespace(x) ? object_namespace(x) : "", *yn = object_namespace(y) ? object_namespace(y) : "";
    int c = strcmp(xn, yn);
    if (c == 0)
        c = strcmp(object_kind(x), object_kind(y));
    return c ? c : strcmp(object_name(x), object_name(y));
}

static void value_print(FILE *out, const cJSON *v)
{
    char *text = v ? json_print_sorted(v) : NULL;
    fputs(text ? text : "(none)", out);
    free(text);
}

static void field_print(void *ud, const char *path, const cJSON *desired, const cJSON *live)
{
    FILE *out = ud;
    fprintf(out, "    %c %s: ", live ? '~' : '+', path);
    if (live) {
        value_print(out, live);
        fputs(" -> ", out);
    }
    value_print(out, desired);
    fputc('\n', out);
}

int plan_print(const struct plan *p, FILE *out)
{
    static const char *const verb[] = {"create", "update", "delete", "conflict"};
    static const char mark[] = {'+', '~', '-', '!'};
    size_t counts[4] = {0};
    struct entry *sorted = malloc((p->count ? p->count : 1) * sizeof *sorted);
    if (sorted == NULL)
        return 2;
    if (p->count)
        memcpy(sorted, p->entries, p->count * sizeof *sorted);
    qsort(sorted, p->count, sizeof *sorted, entry_compare);
    for (size_t i = 0; i < p->count; i++) {
        const struct entry *e = &sorted[i];
        const cJSON *o = entry_object(e);
        counts[e->action]++;
        fprintf(out, "%c %s %s %s%s%s", mark[e->action], verb[e->action], object_kind(o),
                object_namespace(o) ? object_namespace(o) : "", object_namespace(o) ? "/" : "", object_name(o));
        if (e->action == PLAN_CONFLICT)
            fputs(": exists without the managed-by label; left untouched", out);
        fputc('\n', out);
        if (e->action == PLAN_UPDATE)
            diff_each(e->desired, e->live, field_print, out);
    }
    free(sorted);
    fprintf(out, "plan: %zu to create, %zu to change, %zu to delete, %zu conflict(s)%s\n", counts[PLAN_CREATE],
            counts[PLAN_UPDATE], counts[PLAN_DELETE], counts[PLAN_CONFLICT],
            p->errors ? "; INCOMPLETE: errors above" : "");
    if (p->errors)
        return 2;
    return counts[PLAN_CREATE] + counts[PLAN_UPDATE] + counts[PLAN_DELETE] ? 1 : 0;
}
