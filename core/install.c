#include "install.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "object.h"
#include "render.h"
#include "version.h"
#include "yaml_io.h"

/* Apache-2.0 §4(d): the CRDs we print are upstream's, so their NOTICE travels with them. */
static const char notice[] =
    "# The CustomResourceDefinitions below are copied unmodified from the Apache Flink Kubernetes Operator:\n"
    "#   Apache Flink Kubernetes Operator (flink-kubernetes-operator)\n"
    "#   Copyright 2014-2026 The Apache Software Foundation\n"
    "#   This product includes software developed at The Apache Software Foundation (http://www.apache.org/).\n"
    "# Licensed under the Apache License, Version 2.0.\n";

struct crd {
    char *path;
    char *text;
};

static int crd_cmp(const void *a, const void *b)
{
    return strcmp(((const struct crd *)a)->path, ((const struct crd *)b)->path);
}

static void crds_free(struct crd *crds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(crds[i].path);
        free(crds[i].text);
    }
    free(crds);
}

static char *file_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *text = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)n + 1)) != NULL) {
            *len = fread(text, 1, (size_t)n, f);
            text[*len] = '\0';
            if (*len != (size_t)n) {
                free(text);
                text = NULL;
            }
        }
    }
    fclose(f);
    return text;
}

/* A CRD file must hold exactly one CustomResourceDefinition: anything else would be applied blind. */
static int crd_check(const struct crd *c, char *err, size_t errlen)
{
    struct yaml_stream s;
    char why[1024];
    if (yaml_stream_parse(c->text, strlen(c->text), c->path, &s, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    const char *kind = s.count == 1 ? object_kind(s.docs[0].value) : NULL;
    int ok = kind && strcmp(kind, "CustomResourceDefinition") == 0;
    if (!ok)
        snprintf(err, errlen, "%s: expected one CustomResourceDefinition, found %zu document(s)%s%s", c->path,
                 s.count, kind ? " of kind " : "", kind ? kind : "");
    yaml_stream_free(&s);
    return ok ? 0 : -1;
}

/* Every *.yml / *.yaml of dir, sorted by name, each checked. */
static int crds_read(const char *dir, struct crd **out, size_t *count, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errlen, "%.1024s: cannot read the CRD directory (--crd-dir)", dir);
        return -1;
    }
    struct crd *crds = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), text_len;
        int yml = len > 4 && (strcmp(e->d_name + len - 4, ".yml") == 0 || strcmp(e->d_name + len - 5, ".yaml") == 0);
        /* The directory is also a kustomize base (deploy/crds): its kustomization is not a CRD. */
        if (!yml || strncmp(e->d_name, "kustomization.", 14) == 0)
            continue;
        struct crd *grown = realloc(crds, (n + 1) * sizeof *grown);
        if (grown == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        crds = grown;
        crds[n].text = NULL;
        if ((crds[n].path = malloc(strlen(dir) + len + 2)) == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        sprintf(crds[n].path, "%s/%s", dir, e->d_name);
        n++;
        if ((crds[n - 1].text = file_read(crds[n - 1].path, &text_len)) == NULL) {
            snprintf(err, errlen, "%s: cannot read", crds[n - 1].path);
            rc = -1;
        }
    }
    closedir(d);
    if (rc == 0 && n == 0) {
        snprintf(err, errlen, "%.1024s: no CustomResourceDefinition files (*.yml, *.yaml)", dir);
        rc = -1;
    }
    if (rc == 0)
        qsort(crds, n, sizeof *crds, crd_cmp);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = crd_check(&crds[i], err, errlen);
    if (rc != 0) {
        crds_free(crds, n);
        return -1;
    }
    *out = crds;
    *count = n;
    return 0;
}

/* ConfigMap keys cannot hold '/': a file is stored under its base name, which is also its module name, so the
 * names stay unique (policy_files_check). */
static const char *config_key(const char *file_name)
{
    const char *slash = strrchr(file_name, '/');
    return slash ? slash + 1 : file_name;
}

/* ctx.install: what operator() needs to describe the Deployment. */
static int ctx_add_install(cJSON *ctx, const struct install_opts *o)
{
    char image[128];
    snprintf(image, sizeof image, "flinkop:%s", FLINKOP_VERSION);
    cJSON *install = cJSON_AddObjectToObject(ctx, "install");
    if (install == NULL || !cJSON_AddStringToObject(install, "image", o->image ? o->image : image) ||
        !cJSON_AddStringToObject(install, "policy_configmap", DAEMON_POLICY_CONFIGMAP))
        return -1;
    return 0;
}

static cJSON *policy_configmap(const char *ns, const struct policy_files *files, char *err, size_t errlen)
{
    cJSON *cm = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(cm, "metadata");
    cJSON *data = cJSON_AddObjectToObject(cm, "data");
    int ok = meta && data && cJSON_AddStringToObject(cm, "apiVersion", "v1") &&
             cJSON_AddStringToObject(cm, "kind", "ConfigMap") &&
             cJSON_AddStringToObject(meta, "name", DAEMON_POLICY_CONFIGMAP);
    for (size_t i = 0; ok && i < files->count; i++)
        ok = cJSON_AddStringToObject(data, config_key(files->files[i].name), files->files[i].text) != NULL;
    if (!ok || object_check_and_stamp(cm, ns, 0, "operator", err, errlen) != 0) {
        if (!ok)
            snprintf(err, errlen, "out of memory");
        cJSON_Delete(cm);
        return NULL;
    }
    return cm;
}

static int emit(FILE *out, const cJSON *obj)
{
    char *text = yaml_emit(obj);
    if (text == NULL)
        return -1;
    fprintf(out, "---\n%s", text);
    free(text);
    return 0;
}

/* The operator namespace, then the operator() objects in apply order, then the policy ConfigMap. */
/* objects (NULL: none, nor the namespace) and the configmap (NULL: none). */
static int objects_emit(FILE *out, const char *ns, cJSON *objects, const cJSON *configmap)
{
    size_t n = objects ? (size_t)cJSON_GetArraySize(objects) : 0, i = 0;
    cJSON **sorted = calloc(n ? n : 1, sizeof *sorted);
    cJSON *namespace = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(namespace, "metadata");
    int rc = sorted && meta && cJSON_AddStringToObject(namespace, "apiVersion", "v1") &&
                     cJSON_AddStringToObject(namespace, "kind", "Namespace") &&
                     cJSON_AddStringToObject(meta, "name", ns)
                 ? 0
                 : -1;
    for (cJSON *o = objects ? objects->child : NULL; rc == 0 && o; o = o->next)
        sorted[i++] = o;
    if (rc == 0 && objects) {
        qsort(sorted, n, sizeof *sorted, object_apply_order_compare);
        rc = emit(out, namespace);
    }
    for (i = 0; rc == 0 && i < n; i++)
        rc = emit(out, sorted[i]);
    if (rc == 0 && configmap)
        rc = emit(out, configmap);
    free(sorted);
    cJSON_Delete(namespace);
    return rc;
}

int install_run(const struct install_opts *o, FILE *out, FILE *diag)
{
    char err[2048], crd_dir[4096];
    struct policy_files files = {0};
    struct policy *policy = NULL;
    struct crd *crds = NULL;
    size_t crd_count = 0;
    struct render_result r = {0};
    cJSON *ctx = NULL, *configmap = NULL;
    int status = 2;
    snprintf(crd_dir, sizeof crd_dir, "%s/deploy/crds", o->script_dir);
    if (policy_files_read_dir(o->script_dir, &files, err, sizeof err) != 0 ||
        (policy = policy_load(&files, &o->limits, err, sizeof err)) == NULL) {
        fprintf(diag, "flinkop: policy refused: %s\n", err);
        goto out;
    }
    status = 1;
    if ((ctx = context_new(&o->ctx, time(NULL))) == NULL || ctx_add_install(ctx, o) != 0) {
        fprintf(diag, "flinkop: out of memory\n");
        status = 2;
        goto out;
    }
    unsigned parts = o->parts ? o->parts : INSTALL_CRDS | INSTALL_OPERATOR | INSTALL_POLICY;
    if (((parts & INSTALL_CRDS) && crds_read(o->crd_dir ? o->crd_dir : crd_dir, &crds, &crd_count, err, sizeof err) != 0) ||
        render_operator(policy, ctx, &r, err, sizeof err) != 0 ||
        (configmap = policy_configmap(o->ctx.operator_namespace, &files, err, sizeof err)) == NULL) {
        fprintf(diag, "%s\nflinkop: install refused; nothing printed\n", err);
        goto out;
    }
    fprintf(out, "# Generated by flinkop %s install%s%s%s%s: %s scope, operator namespace %s.\n", FLINKOP_VERSION,
            o->parts ? " --only" : "", o->parts & INSTALL_CRDS ? " crds" : "", o->parts & INSTALL_OPERATOR ? " operator" : "",
            o->parts & INSTALL_POLICY ? " policy" : "", o->ctx.watch_namespaces ? "namespaced" : "cluster",
            o->ctx.operator_namespace);
    if (crd_count)
        fputs(notice, out);
    for (size_t i = 0; i < crd_count; i++)
        fprintf(out, "---\n%s%s", crds[i].text, crds[i].text[0] && crds[i].text[strlen(crds[i].text) - 1] != '\n' ? "\n" : "");
    if (objects_emit(out, o->ctx.operator_namespace, parts & INSTALL_OPERATOR ? r.objects : NULL,
                     parts & INSTALL_POLICY ? configmap : NULL) != 0) {
        fprintf(diag, "flinkop: out of memory\n");
        status = 2;
        goto out;
    }
    status = 0;
out:
    render_result_free(&r);
    cJSON_Delete(configmap);
    cJSON_Delete(ctx);
    crds_free(crds, crd_count);
    policy_free(policy);
    policy_files_free(&files);
    return status;
}

int install_parts_parse(const char *list, unsigned *parts)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"crds", INSTALL_CRDS}, {"operator", INSTALL_OPERATOR}, {"policy", INSTALL_POLICY}};
    *parts = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ","), i;
        for (i = 0; i < sizeof names / sizeof *names; i++)
            if (len == strlen(names[i].name) && strncmp(p, names[i].name, len) == 0)
                break;
        if (i == sizeof names / sizeof *names)
            return -1;
        *parts |= names[i].bit;
        p += len + (p[len] == ',');
    }
    return *parts ? 0 : -1;
}
