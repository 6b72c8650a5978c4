#include "dryrun.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "object.h"
#include "render.h"
#include "yaml_io.h"

#define DEFAULT_NAMESPACE "default"

/* A Flink resource found in the input, borrowed from its stream. */
struct resource {
    cJSON *obj;
    const char *file;
    int line;
};

struct dryrun {
    const struct dryrun_opts *o;
    FILE *diag;
    struct yaml_stream *streams; /* one per input file */
    struct resource *resources;
    size_t resource_count;
    cJSON *namespaces; /* name -> Namespace object: from the input, or made up */
    cJSON *ctx;
    cJSON *plan;       /* every object to print */
    struct policy *policy;
    int refused;       /* an input or an output was refused: print nothing */
};

static int is_flink_kind(const cJSON *obj, const char *kind)
{
    const char *k = object_kind(obj), *api = object_api_version(obj);
    return k && api && strcmp(k, kind) == 0 && strncmp(api, "flink.apache.org/", 17) == 0;
}

/* Gives a resource without metadata.namespace the namespace kubectl would give it. */
static const char *resource_namespace(cJSON *obj)
{
    const char *ns = object_namespace(obj);
    if (ns)
        return ns;
    cJSON *metadata = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    cJSON *s = cJSON_AddStringToObject(metadata, "namespace", DEFAULT_NAMESPACE);
    return s ? s->valuestring : NULL;
}

static int namespace_note(struct dryrun *d, const char *name, cJSON *from_input)
{
    cJSON *have = cJSON_GetObjectItemCaseSensitive(d->namespaces, name);
    if (have && !from_input)
        return 0;
    cJSON *ns = from_input ? cJSON_Duplicate(from_input, 1) : cJSON_CreateObject();
    if (ns == NULL)
        return -1;
    if (!from_input) {
        cJSON *metadata = cJSON_AddObjectToObject(ns, "metadata");
        if (!cJSON_AddStringToObject(ns, "apiVersion", "v1") || !cJSON_AddStringToObject(ns, "kind", "Namespace") ||
            !metadata || !cJSON_AddStringToObject(metadata, "name", name)) {
            cJSON_Delete(ns);
            return -1;
        }
    }
    if (have)
        return cJSON_ReplaceItemInObjectCaseSensitive(d->namespaces, name, ns) ? 0 : (cJSON_Delete(ns), -1);
    return cJSON_AddItemToObject(d->namespaces, name, ns) ? 0 : (cJSON_Delete(ns), -1);
}

/* Sorts the input's documents into Flink resources, namespaces, and kinds the dry-run does not handle. */
static int inputs_classify(struct dryrun *d)
{
    size_t total = 0;
    for (size_t f = 0; f < d->o->file_count; f++)
        total += d->streams[f].count;
    d->resources = calloc(total ? total : 1, sizeof *d->resources);
    if (d->resources == NULL)
        return -1;
    for (size_t f = 0; f < d->o->file_count; f++) {
        const char *file = d->o->files[f];
        for (size_t i = 0; i < d->streams[f].count; i++) {
            cJSON *obj = d->streams[f].docs[i].value;
            int line = d->streams[f].docs[i].line;
            const char *kind = object_kind(obj), *name = object_name(obj);
            if (!cJSON_IsObject(obj) || kind == NULL || name == NULL) {
                fprintf(d->diag, "%s:%d: not a Kubernetes object (needs kind and metadata.name)\n", file, line);
                d->refused = 1;
                continue;
            }
            if (strcmp(kind, "Namespace") == 0) {
                if (namespace_note(d, name, obj) != 0)
                    return -1;
                continue;
            }
            if (!is_flink_kind(obj, "FlinkDeployment") && !is_flink_kind(obj, "FlinkSessionJob")) {
                fprintf(d->diag, "%s:%d: %s %s: not handled by the dry-run yet, skipped\n", file, line, kind, name);
                continue;
            }
            const char *ns = resource_namespace(obj);
            if (ns == NULL)
                return -1;
            if (!context_watches(&d->o->ctx, ns)) {
                fprintf(d->diag, "%s:%d: %s %s/%s: namespace %s is not watched, ignored\n", file, line, kind, ns,
                        name, ns);
                continue;
            }
            if (namespace_note(d, ns, NULL) != 0)
                return -1;
            d->resources[d->resource_count++] = (struct resource){obj, file, line};
        }
    }
    return 0;
}

/* The Flink resources the input holds in namespace `ns`: {FlinkDeployment: [names], FlinkSessionJob: [names]}. */
static cJSON *namespace_inventory(const struct dryrun *d, const char *ns)
{
    cJSON *inv = cJSON_CreateObject();
    cJSON *fd = cJSON_AddArrayToObject(inv, "FlinkDeployment");
    cJSON *sj = cJSON_AddArrayToObject(inv, "FlinkSessionJob");
    if (inv == NULL || fd == NULL || sj == NULL) {
        cJSON_Delete(inv);
        return NULL;
    }
    for (size_t i = 0; i < d->resource_count; i++) {
        const cJSON *r = d->resources[i].obj;
        if (strcmp(object_namespace(r), ns) != 0)
            continue;
        cJSON *name = cJSON_CreateString(object_name(r));
        if (name == NULL || !cJSON_AddItemToArray(strcmp(object_kind(r), "FlinkDeployment") == 0 ? fd : sj, name)) {
            cJSON_Delete(name);
            cJSON_Delete(inv);
            return NULL;
        }
    }
    return inv;
}

/* Moves a checked answer's objects into the plan. */
static void plan_take(struct dryrun *d, cJSON *objects)
{
    while (objects && objects->child)
        cJSON_AddItemToArray(d->plan, cJSON_DetachItemViaPointer(objects, objects->child));
}

static int plan_namespace(struct dryrun *d, cJSON *ns_obj)
{
    char err[2048];
    struct render_result r;
    cJSON *inventory = namespace_inventory(d, object_name(ns_obj));
    if (inventory == NULL)
        return -1;
    if (render_namespace(d->policy, ns_obj, d->ctx, inventory, &r, err, sizeof err) != 0) {
        fprintf(d->diag, "%s\n", err);
        d->refused = 1;
    } else {
        plan_take(d, r.objects);
        render_result_free(&r);
    }
    cJSON_Delete(inventory);
    return 0;
}

/* Reports status.error of a reconcile answer; returns whether there was one. */
static int status_refuses(struct dryrun *d, const struct resource *r, const cJSON *status)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(status, "error");
    if (!cJSON_IsString(error) || error->valuestring[0] == '\0')
        return 0;
    /* Upstream keeps status.error as a JSON document; a person wants its message. */
    cJSON *doc = cJSON_Parse(error->valuestring);
    const char *message = object_string_at(doc, "message");
    fprintf(d->diag, "%s:%d: %s %s/%s: %s\n", r->file, r->line, object_kind(r->obj), object_namespace(r->obj),
            object_name(r->obj), message ? message : error->valuestring);
    cJSON_Delete(doc);
    return 1;
}

/* Tells the user what the policy decided besides objects: the lifecycle state and the events it would record. */
static void report_outcome(struct dryrun *d, const struct resource *r, const struct render_result *res)
{
    const char *state = object_string_at(res->status, "lifecycleState");
    fprintf(d->diag, "%s:%d: %s %s/%s: lifecycleState %s\n", r->file, r->line, object_kind(r->obj),
            object_namespace(r->obj), object_name(r->obj), state ? state : "(none)");
    const cJSON *e;
    if (!cJSON_IsArray(res->events))
        return;
    cJSON_ArrayForEach(e, res->events)
    {
        const char *type = object_string_at(e, "type"), *reason = object_string_at(e, "reason");
        const char *message = object_string_at(e, "message");
        fprintf(d->diag, "%s:%d: %s %s/%s: event %s %s: %s\n", r->file, r->line, object_kind(r->obj),
                object_namespace(r->obj), object_name(r->obj), type ? type : "?", reason ? reason : "?",
                message ? message : "");
    }
}

static int plan_resource(struct dryrun *d, const struct resource *r)
{
    char err[2048];
    struct render_result res;
    cJSON *observed = cJSON_CreateObject();
    if (observed == NULL || cJSON_AddObjectToObject(observed, "objects") == NULL) {
        cJSON_Delete(observed);
        return -1;
    }
    int rc = render_resource(d->policy, r->obj, observed, d->ctx, &res, err, sizeof err);
    cJSON_Delete(observed);
    if (rc == 1) {
        fprintf(d->diag, "%s:%d: %s %s/%s: not handled yet (reconcile.lua has no function for it), skipped\n",
                r->file, r->line, object_kind(r->obj), object_namespace(r->obj), object_name(r->obj));
        return 0;
    }
    if (rc != 0) {
        fprintf(d->diag, "%s:%d: %s\n", r->file, r->line, err);
        d->refused = 1;
        return 0;
    }
    if (status_refuses(d, r, res.status)) {
        d->refused = 1;
    } else {
        report_outcome(d, r, &res);
        plan_take(d, res.objects);
    }
    render_result_free(&res);
    return 0;
}

static int plan_install(struct dryrun *d)
{
    char err[2048];
    struct render_result r;
    if (render_operator(d->policy, d->ctx, &r, err, sizeof err) != 0) {
        fprintf(d->diag, "%s\n", err);
        d->refused = 1;
        return 0;
    }
    plan_take(d, r.objects);
    render_result_free(&r);
    return 0;
}

/* Two policy calls asking for the same object differently cannot both be applied: refuse. Identical duplicates
 * (already sorted next to each other) are printed once. */
static int plan_print(struct dryrun *d, FILE *out)
{
    size_t n = (size_t)cJSON_GetArraySize(d->plan), i = 0;
    cJSON **objs = calloc(n ? n : 1, sizeof *objs);
    if (objs == NULL)
        return -1;
    for (cJSON *o = d->plan->child; o; o = o->next)
        objs[i++] = o;
    qsort(objs, n, sizeof *objs, object_apply_order_compare);
    for (i = 1; i < n; i++) {
        if (object_apply_order_compare(&objs[i - 1], &objs[i]) == 0 && !cJSON_Compare(objs[i - 1], objs[i], 1)) {
            fprintf(d->diag, "conflict: two policy calls want %s %s/%s with different contents\n",
                    object_kind(objs[i]), object_namespace(objs[i]) ? object_namespace(objs[i]) : "",
                    object_name(objs[i]));
            d->refused = 1;
        }
    }
    int rc = 0;
    for (i = 0; !d->refused && i < n; i++) {
        if (i > 0 && object_apply_order_compare(&objs[i - 1], &objs[i]) == 0)
            continue;
        char *text = yaml_emit(objs[i]);
        if (text == NULL) {
            rc = -1;
            break;
        }
        fprintf(out, "---\n%s", text);
        free(text);
    }
    free(objs);
    return rc;
}

static int dryrun_load(struct dryrun *d)
{
    char err[2048];
    struct policy_files files = {0};
    if (policy_files_read_dir(d->o->script_dir, &files, err, sizeof err) != 0) {
        fprintf(d->diag, "flinkop: %s\n", err);
        return -1;
    }
    d->policy = policy_load(&files, &d->o->limits, err, sizeof err);
    policy_files_free(&files);
    if (d->policy == NULL) {
        fprintf(d->diag, "flinkop: policy refused: %s\n", err);
        return -1;
    }
    if (d->o->rbac_ceiling && render_use_ceiling_file(d->policy, d->o->rbac_ceiling, err, sizeof err) != 0) {
        fprintf(d->diag, "flinkop: %s\n", err);
        return -1;
    }
    d->streams = calloc(d->o->file_count ? d->o->file_count : 1, sizeof *d->streams);
    if (d->streams == NULL)
        return -1;
    for (size_t f = 0; f < d->o->file_count; f++) {
        if (yaml_stream_read_file(d->o->files[f], &d->streams[f], err, sizeof err) != 0) {
            fprintf(d->diag, "%s\n", err);
            return -1;
        }
    }
    return 0;
}

static void dryrun_free(struct dryrun *d)
{
    for (size_t f = 0; d->streams && f < d->o->file_count; f++)
        yaml_stream_free(&d->streams[f]);
    free(d->streams);
    free(d->resources);
    cJSON_Delete(d->namespaces);
    cJSON_Delete(d->ctx);
    cJSON_Delete(d->plan);
    policy_free(d->policy);
}

static int dryrun_plan(struct dryrun *d)
{
    if (d->o->install)
        return plan_install(d);
    if (inputs_classify(d) != 0)
        return -1;
    for (cJSON *ns = d->namespaces->child; ns; ns = ns->next)
        if (plan_namespace(d, ns) != 0)
            return -1;
    for (size_t i = 0; i < d->resource_count; i++)
        if (plan_resource(d, &d->resources[i]) != 0)
            return -1;
    return 0;
}

int dryrun_run(const struct dryrun_opts *o, FILE *out, FILE *diag)
{
    struct dryrun d = {.o = o, .diag = diag};
    int status = 2;
    d.namespaces = cJSON_CreateObject();
    d.plan = cJSON_CreateArray();
    d.ctx = context_new(&o->ctx, time(NULL));
    if (d.namespaces == NULL || d.plan == NULL || d.ctx == NULL || dryrun_load(&d) != 0)
        goto out;
    if (dryrun_plan(&d) != 0 || plan_print(&d, out) != 0) {
        fprintf(diag, "flinkop: out of memory\n");
        goto out;
    }
    status = d.refused ? 1 : 0;
    if (d.refused)
        fprintf(diag, "flinkop: dry-run refused; nothing printed\n");
out:
    dryrun_free(&d);
    return status;
}
