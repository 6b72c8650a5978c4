/* Kubernetes client configuration from service-account files or a kubeconfig (see kubeconfig.h). */
#include "kubeconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "json_text.h"
#include "object.h"
#include "strutil.h"
#include "yaml_io.h"

#define KUBE_CONFIG_MAX_FILE ((size_t)4 << 20)
#define KUBE_CONFIG_MAX_TOKEN ((size_t)64 << 10)

/* Reads a whole (small) file into a NUL-terminated buffer the caller frees. What it read is wiped on failure: the
 * file may hold a token or a key. */
static int file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        strutil_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    struct strbuf b = {0};
    int rc = strbuf_read(&b, f, max);
    if (rc && errno == EFBIG)
        strutil_errf(err, errlen, "%s: larger than %zu bytes", path, max);
    else if (rc && errno == ENOMEM)
        strutil_errf(err, errlen, "%s: out of memory", path);
    else if (rc)
        strutil_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    else
        *out = strbuf_take(&b, len); /* never NULL after a read: the bytes and their NUL are already there */
    strbuf_free_secret(&b);
    fclose(f);
    return rc;
}

/* Reads a token file: trailing whitespace dropped, must not be empty. The token is never put in err. */
static char *token_read(const char *path, char *err, size_t errlen)
{
    char *t;
    size_t n;
    if (file_read(path, KUBE_CONFIG_MAX_TOKEN, &t, &n, err, errlen))
        return NULL;
    while (n && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' ' || t[n - 1] == '\t'))
        t[--n] = '\0';
    if (!n || strpbrk(t, "\r\n")) {
        strutil_errf(err, errlen, "%s: %s", path, n ? "token spans several lines" : "empty token");
        strutil_free_secret(t);
        return NULL;
    }
    return t;
}

/* Decodes base64 (newlines allowed) with OpenSSL's decoder into NUL-terminated PEM text; checks it is PEM. */
static int pem_from_base64(const char *b64, char **out, size_t *outlen)
{
    size_t in = strlen(b64);
    if (in > (size_t)INT_MAX - 4)
        return -1;
    unsigned char *buf = malloc(in / 4 * 3 + 4);
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    int n = 0, fin = 0, rc = -1;
    if (!buf || !ctx)
        goto out;
    EVP_DecodeInit(ctx);
    if (EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)b64, (int)in) < 0)
        goto out;
    if (EVP_DecodeFinal(ctx, buf + n, &fin) < 0)
        goto out;
    n += fin;
    buf[n] = '\0';
    if (memchr(buf, '\0', (size_t)n) || !strstr((char *)buf, "-----BEGIN "))
        goto out;
    *out = (char *)buf;
    *outlen = (size_t)n;
    buf = NULL;
    rc = 0;
out:
    EVP_ENCODE_CTX_free(ctx);
    free(buf);
    return rc;
}

/* A path from the kubeconfig, made relative to the kubeconfig's directory unless absolute; a leading "./" is
 * dropped, as Go's filepath.Join would, so messages show the path a user expects. */
static char *path_resolve(const char *dir, const char *p)
{
    while (dir && p[0] == '.' && p[1] == '/') {
        p += 2;
        while (*p == '/')
            p++;
    }
    if (p[0] == '/' || !dir)
        return strutil_dup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", dir, p);
    return r;
}

/* One file of a (possibly merged) kubeconfig. */
struct kc_file {
    char *path;
    char *dir;                /* for relative paths inside it */
    struct yaml_stream s;
    const cJSON *root;        /* NULL for an empty file */
};

/* Everything one kubeconfig read needs for messages and relative paths. file and dir are those of the file that
 * defines the stanza being read. */
struct kc_read {
    struct kc_file *files;
    size_t nfiles;
    const char *file;
    const char *dir;
    struct kube_config *cfg;
    char *exec_ext;           /* the cluster's exec extension as JSON text, for provideClusterInfo */
    char *err;
    size_t errlen;
};

/* Looks up the "name"d entry of a kubeconfig list (clusters, users, contexts) and returns its inner object. As in
 * kubectl, the first file that defines the name wins, whole; k->file and k->dir become that file's. */
static const cJSON *kc_find(struct kc_read *k, const char *list, const char *name, const char *inner)
{
    for (size_t i = 0; i < k->nfiles; i++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(k->files[i].root, list);
        const cJSON *it;
        cJSON_ArrayForEach(it, arr)
        {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
            if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
                const cJSON *o = cJSON_GetObjectItemCaseSensitive(it, inner);
                k->file = k->files[i].path;
                k->dir = k->files[i].dir;
                return cJSON_IsObject(o) ? o : NULL;
            }
        }
    }
    return NULL;
}

/* Reads string field `key` of `obj`; where is the field's owner in messages, e.g. `clusters["c"].cluster`. */
static int kc_str(struct kc_read *k, const cJSON *obj, const char *where, const char *key, const char **out)
{
    if (object_member_string(obj, key, out)) {
        strutil_errf(k->err, k->errlen, "%s: %s.%s: must be a string", k->file, where, key);
        return -1;
    }
    return 0;
}

static int kc_oom(struct kc_read *k)
{
    strutil_errf(k->err, k->errlen, "%s: out of memory", k->file);
    return -1;
}

/* One piece of TLS material: `key`-data (base64 PEM) wins over `key` (a path relative to the file). */
static int kc_pem(struct kc_read *k, const cJSON *obj, const char *where, const char *key, char **file,
                  char **pem, size_t *pem_len)
{
    char dkey[64];
    const char *data, *path;
    snprintf(dkey, sizeof dkey, "%s-data", key);
    if (kc_str(k, obj, where, dkey, &data) || kc_str(k, obj, where, key, &path))
        return -1;
    if (data) {
        if (pem_from_base64(data, pem, pem_len)) {
            strutil_errf(k->err, k->errlen, "%s: %s.%s: not base64-encoded PEM", k->file, where, dkey);
            return -1;
        }
    } else if (path) {
        if (!(*file = path_resolve(k->dir, path)))
            return kc_oom(k);
    }
    return 0;
}

/* Fields we do not support are refused by name rather than silently ignored. */
static int kc_refuse(struct kc_read *k, const cJSON *obj, const char *where, const char *key, const char *why)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v) || (cJSON_IsString(v) && !v->valuestring[0]))
        return 0;
    strutil_errf(k->err, k->errlen, "%s: %s.%s: %s", k->file, where, key, why);
    return -1;
}

/* The cluster's "client.authentication.k8s.io/exec" extension, kept as JSON text for an exec plugin that asks for
 * the cluster's details (provideClusterInfo). */
static int kc_exec_extension(struct kc_read *k, const cJSON *cl)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(cl, "extensions"))
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
        const cJSON *ext = cJSON_GetObjectItemCaseSensitive(it, "extension");
        if (cJSON_IsString(n) && strcmp(n->valuestring, "client.authentication.k8s.io/exec") == 0 && ext) {
            if (!(k->exec_ext = json_print_sorted(ext)))
                return kc_oom(k);
            break;
        }
    }
    return 0;
}

static int kc_cluster(struct kc_read *k, const char *name, const char *ctx_where)
{
    char where[300];
    const char *server, *ctx_file = k->file;
    const cJSON *cl = kc_find(k, "clusters", name, "cluster");
    if (!cl) {
        strutil_errf(k->err, k->errlen, "%s: clusters: no cluster named \"%s\" (from %s.cluster)", ctx_file, name,
                     ctx_where);
        return -1;
    }
    snprintf(where, sizeof where, "clusters[\"%s\"].cluster", name);
    const cJSON *insecure = cJSON_GetObjectItemCaseSensitive(cl, "insecure-skip-tls-verify");
    if (cJSON_IsTrue(insecure)) {
        strutil_errf(k->err, k->errlen, "%s: %s.insecure-skip-tls-verify: true is refused, flinkop always verifies TLS",
             k->file, where);
        return -1;
    }
    if (kc_refuse(k, cl, where, "tls-server-name", "is not supported") ||
        kc_refuse(k, cl, where, "proxy-url", "is not supported") || kc_str(k, cl, where, "server", &server))
        return -1;
    if (!server) {
        strutil_errf(k->err, k->errlen, "%s: %s.server: missing", k->file, where);
        return -1;
    }
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        strutil_errf(k->err, k->errlen, "%s: %s.server: \"%s\" is not an http(s):// URL", k->file, where, server);
        return -1;
    }
    if (!(k->cfg->server = strutil_dup(server)))
        return kc_oom(k);
    size_t n = strlen(k->cfg->server);
    while (n > 8 && k->cfg->server[n - 1] == '/')
        k->cfg->server[--n] = '\0';
    if (kc_exec_extension(k, cl))
        return -1;
    return kc_pem(k, cl, where, "certificate-authority", &k->cfg->ca_file, &k->cfg->ca_pem, &k->cfg->ca_pem_len);
}

/* Room for the items of an optional list and a NULL after them; `what` says what the list must hold. */
static int kc_list_alloc(struct kc_read *k, const cJSON *arr, const char *where, const char *what, char ***out)
{
    int n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (arr && !cJSON_IsNull(arr) && !cJSON_IsArray(arr)) {
        strutil_errf(k->err, k->errlen, "%s: %s: must be a list of %s", k->file, where, what);
        return -1;
    }
    if (!(*out = calloc((size_t)n + 1, sizeof **out)))
        return kc_oom(k);
    return 0;
}

/* A NULL-terminated copy of a list of strings; where names the list in messages. */
static int kc_str_list(struct kc_read *k, const cJSON *arr, const char *where, char ***out)
{
    if (kc_list_alloc(k, arr, where, "strings", out))
        return -1;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (!cJSON_IsString(it)) {
            strutil_errf(k->err, k->errlen, "%s: %s[%d]: must be a string", k->file, where, i);
            return -1;
        }
        if (!((*out)[i++] = strutil_dup(it->valuestring)))
            return kc_oom(k);
    }
    return 0;
}

/* exec.env: a list of {name, value}, kept as "NAME=value" lines. */
static int kc_exec_env(struct kc_read *k, const cJSON *arr, const char *where, char ***out)
{
    char w[440];
    snprintf(w, sizeof w, "%s.env", where);
    if (kc_list_alloc(k, arr, w, "{name, value}", out))
        return -1;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const char *name, *value;
        snprintf(w, sizeof w, "%s.env[%d]", where, i);
        if (kc_str(k, it, w, "name", &name) || kc_str(k, it, w, "value", &value))
            return -1;
        if (!name || strchr(name, '=')) {
            strutil_errf(k->err, k->errlen, "%s: %s.name: %s", k->file, w, name ? "must not hold '='" : "missing");
            return -1;
        }
        size_t len = strlen(name) + (value ? strlen(value) : 0) + 2;
        if (!((*out)[i] = malloc(len)))
            return kc_oom(k);
        snprintf((*out)[i++], len, "%s=%s", name, value ? value : "");
    }
    return 0;
}

/* users[].user.exec, checked as client-go checks it. A daemon has no terminal: interactiveMode Always is refused
 * here rather than when the plugin first runs. */
static int kc_exec(struct kc_read *k, const cJSON *ex, const char *user_where)
{
    char where[400];
    const char *api, *cmd, *mode, *hint;
    snprintf(where, sizeof where, "%s.exec", user_where);
    if (!cJSON_IsObject(ex)) {
        strutil_errf(k->err, k->errlen, "%s: %s: must be a mapping", k->file, where);
        return -1;
    }
    if (kc_str(k, ex, where, "apiVersion", &api) || kc_str(k, ex, where, "command", &cmd) ||
        kc_str(k, ex, where, "interactiveMode", &mode) || kc_str(k, ex, where, "installHint", &hint))
        return -1;
    if (!api) {
        strutil_errf(k->err, k->errlen, "%s: %s.apiVersion: missing", k->file, where);
        return -1;
    }
    int v1 = strcmp(api, "client.authentication.k8s.io/v1") == 0;
    if (!v1 && strcmp(api, "client.authentication.k8s.io/v1beta1") != 0) {
        strutil_errf(k->err, k->errlen, "%s: %s.apiVersion: \"%s\" is not client.authentication.k8s.io/v1 or v1beta1",
                     k->file, where, api);
        return -1;
    }
    if (!cmd) {
        strutil_errf(k->err, k->errlen, "%s: %s.command: missing", k->file, where);
        return -1;
    }
    if (!mode && v1) {
        strutil_errf(k->err, k->errlen, "%s: %s.interactiveMode: missing (required by %s: Never or IfAvailable)",
                     k->file, where, api);
        return -1;
    }
    if (mode && strcmp(mode, "Never") != 0 && strcmp(mode, "IfAvailable") != 0) {
        strutil_errf(k->err, k->errlen, "%s: %s.interactiveMode: \"%s\" %s", k->file, where, mode,
                     strcmp(mode, "Always") == 0
                         ? "is not supported: flinkop runs plugins without a terminal (use Never or IfAvailable)"
                         : "is not Never, IfAvailable or Always");
        return -1;
    }
    const cJSON *pci = cJSON_GetObjectItemCaseSensitive(ex, "provideClusterInfo");
    if (pci && !cJSON_IsNull(pci) && !cJSON_IsBool(pci)) {
        strutil_errf(k->err, k->errlen, "%s: %s.provideClusterInfo: must be true or false", k->file, where);
        return -1;
    }
    struct kube_config_exec *e = calloc(1, sizeof *e);
    if (!(k->cfg->exec = e))
        return kc_oom(k);
    size_t wlen = strlen(k->file) + strlen(where) + 3;
    if (!(e->where = malloc(wlen)))
        return kc_oom(k);
    snprintf(e->where, wlen, "%s: %s", k->file, where);
    e->provide_cluster_info = cJSON_IsTrue(pci);
    char argw[420];
    snprintf(argw, sizeof argw, "%s.args", where);
    /* As in client-go, a bare name is looked up in $PATH; one with a '/' is a path relative to this file. */
    if (!(e->api_version = strutil_dup(api)) ||
        !(e->command = strchr(cmd, '/') ? path_resolve(k->dir, cmd) : strutil_dup(cmd)) ||
        (hint && !(e->install_hint = strutil_dup(hint))))
        return kc_oom(k);
    if (kc_str_list(k, cJSON_GetObjectItemCaseSensitive(ex, "args"), argw, &e->args) ||
        kc_exec_env(k, cJSON_GetObjectItemCaseSensitive(ex, "env"), where, &e->env))
        return -1;
    e->cluster_config = e->provide_cluster_info ? k->exec_ext : NULL;
    if (e->cluster_config)
        k->exec_ext = NULL;
    return 0;
}

static int kc_user(struct kc_read *k, const char *name, const char *ctx_where)
{
    char where[300];
    const char *token, *token_file, *ctx_file = k->file;
    struct kube_config *c = k->cfg;
    const cJSON *u = kc_find(k, "users", name, "user");
    if (!u) {
        strutil_errf(k->err, k->errlen, "%s: users: no user named \"%s\" (from %s.user)", ctx_file, name, ctx_where);
        return -1;
    }
    snprintf(where, sizeof where, "users[\"%s\"].user", name);
    if (kc_refuse(k, u, where, "auth-provider", "auth-provider plugins are not supported") ||
        kc_refuse(k, u, where, "username", "basic authentication is not supported") ||
        kc_refuse(k, u, where, "password", "basic authentication is not supported"))
        return -1;
    if (kc_pem(k, u, where, "client-certificate", &c->cert_file, &c->cert_pem, &c->cert_pem_len) ||
        kc_pem(k, u, where, "client-key", &c->key_file, &c->key_pem, &c->key_pem_len))
        return -1;
    int has_cert = c->cert_file || c->cert_pem, has_key = c->key_file || c->key_pem;
    if (has_cert != has_key) {
        strutil_errf(k->err, k->errlen, "%s: %s.%s: missing (needed with %s)", k->file, where,
             has_cert ? "client-key" : "client-certificate", has_cert ? "client-certificate" : "client-key");
        return -1;
    }
    if (kc_str(k, u, where, "token", &token) || kc_str(k, u, where, "tokenFile", &token_file))
        return -1;
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(u, "exec");
    if (ex && !cJSON_IsNull(ex)) {
        /* client-go would silently skip the plugin when the user also has a credential; we say so instead. */
        if (token || token_file || has_cert) {
            strutil_errf(k->err, k->errlen, "%s: %s.exec: cannot be combined with %s in the same user", k->file,
                         where, has_cert ? "a client certificate" : token_file ? "tokenFile" : "token");
            return -1;
        }
        return kc_exec(k, ex, where);
    }
    /* As in client-go, a token file wins over a fixed token. */
    if (token_file) {
        if (!(c->token_file = path_resolve(k->dir, token_file)))
            return kc_oom(k);
    } else if (token && !(c->token = strutil_dup(token))) {
        return kc_oom(k);
    }
    return 0;
}

/* Appends a malloc'd copy of p to a list, unless the list holds it already (kubectl reads a file once). */
static int paths_add(char ***list, size_t *n, const char *p, size_t len)
{
    for (size_t i = 0; i < *n; i++)
        if (strlen((*list)[i]) == len && strncmp((*list)[i], p, len) == 0)
            return 0;
    char **l = realloc(*list, (*n + 2) * sizeof **list);
    if (!l)
        return -1;
    *list = l;
    if (!(l[*n] = strndup(p, len)))
        return -1;
    l[++*n] = NULL;
    return 0;
}

/* The kubeconfig files to read, in precedence order: explicit, the entries of $KUBECONFIG, or ~/.kube/config.
 * *merged is set when they come from $KUBECONFIG (missing files are then skipped). */
static int kc_paths(const char *path, char ***out, size_t *n, int *merged, char *err, size_t errlen)
{
    const char *env = getenv("KUBECONFIG"), *home = getenv("HOME");
    int rc = 0;
    *out = NULL;
    *n = 0;
    *merged = 0;
    if (path && *path) {
        rc = paths_add(out, n, path, strlen(path));
    } else if (env && *env) {
        *merged = 1;
        for (const char *p = env; *p && !rc;) {
            size_t len = strcspn(p, ":");
            if (len)
                rc = paths_add(out, n, p, len);
            p += len;
            if (*p == ':')
                p++;
        }
        if (!rc && !*n) {
            strutil_errf(err, errlen, "kubeconfig: $KUBECONFIG names no file");
            return -1;
        }
    } else if (home && *home) {
        size_t len = strlen(home) + sizeof "/.kube/config";
        char *p = malloc(len);
        if (p)
            snprintf(p, len, "%s/.kube/config", home);
        rc = p ? paths_add(out, n, p, strlen(p)) : -1;
        free(p);
    } else {
        strutil_errf(err, errlen, "kubeconfig: no --kubeconfig, $KUBECONFIG or $HOME to find one");
        return -1;
    }
    if (rc)
        strutil_errf(err, errlen, "kubeconfig: out of memory");
    return rc;
}

static void kc_files_free(struct kc_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(files[i].path);
        free(files[i].dir);
        yaml_stream_free(&files[i].s);
    }
    free(files);
}

/* "a:b:c": the names of the files read, for messages. */
static char *kc_source(const struct kc_read *k)
{
    size_t len = 1;
    for (size_t i = 0; i < k->nfiles; i++)
        len += strlen(k->files[i].path) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < k->nfiles; i++) {
        if (i)
            strcat(s, ":");
        strcat(s, k->files[i].path);
    }
    return s;
}

/* Reads one file into k->files; takes ownership of path. */
static int kc_file_read(struct kc_read *k, char *path)
{
    struct kc_file *f = &k->files[k->nfiles++];
    const char *slash = strrchr(path, '/');
    f->path = path;
    f->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strutil_dup(".");
    if (!f->dir) {
        strutil_errf(k->err, k->errlen, "%s: out of memory", path);
        return -1;
    }
    if (yaml_stream_read_file(path, &f->s, k->err, k->errlen))
        return -1;
    /* An empty file is an empty kubeconfig, as in kubectl. */
    if (f->s.count > 1 || (f->s.count == 1 && !cJSON_IsObject(f->s.docs[0].value))) {
        strutil_errf(k->err, k->errlen, "%s: not a kubeconfig (want one YAML mapping)", path);
        return -1;
    }
    f->root = f->s.count ? f->s.docs[0].value : NULL;
    return 0;
}

/* Reads every file of the list; a missing file of a merged list is skipped, any other problem is an error naming
 * the file. On success k->files holds at least one file. Takes the paths it keeps (sets them NULL in paths). */
static int kc_files_read(struct kc_read *k, char **paths, size_t n, int merged)
{
    if (!(k->files = calloc(n, sizeof *k->files))) {
        strutil_errf(k->err, k->errlen, "kubeconfig: out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (merged && stat(paths[i], &st) != 0 && errno == ENOENT)
            continue;
        char *p = paths[i];
        paths[i] = NULL;
        if (kc_file_read(k, p))
            return -1;
    }
    if (k->nfiles)
        return 0;
    /* Every file was missing: name them all. */
    if (!k->err || !k->errlen)
        return -1;
    size_t off = (size_t)snprintf(k->err, k->errlen, "kubeconfig: no file of $KUBECONFIG exists:");
    for (size_t i = 0; i < n && off < k->errlen; i++)
        off += (size_t)snprintf(k->err + off, k->errlen - off, "%s %s", i ? "," : "", paths[i]);
    return -1;
}

/* The first file that sets current-context wins, as in kubectl. */
static int kc_current_context(struct kc_read *k, const char **out)
{
    for (size_t i = 0; i < k->nfiles; i++) {
        k->file = k->files[i].path;
        if (kc_str(k, k->files[i].root, "(top level)", "current-context", out))
            return -1;
        if (*out)
            return 0;
    }
    strutil_errf(k->err, k->errlen, "%s: current-context: not set (name a context with --context)", k->cfg->source);
    return -1;
}

int kube_config_load_file(struct kube_config *out, const char *path, const char *context, char *err,
                          size_t errlen)
{
    struct kc_read k = {.cfg = out, .err = err, .errlen = errlen};
    char ctx_where[300], **paths = NULL;
    const char *ctxname = context, *clname, *uname, *ns;
    size_t npaths = 0;
    int merged, rc = -1;
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (kc_paths(path, &paths, &npaths, &merged, err, errlen) || kc_files_read(&k, paths, npaths, merged))
        goto out;
    if (!(out->source = kc_source(&k))) {
        strutil_errf(err, errlen, "kubeconfig: out of memory");
        goto out;
    }
    if (!ctxname && kc_current_context(&k, &ctxname))
        goto out;
    const cJSON *ctx = kc_find(&k, "contexts", ctxname, "context");
    if (!ctx) {
        strutil_errf(err, errlen, "%s: contexts: no context named \"%s\"", out->source, ctxname);
        goto out;
    }
    snprintf(ctx_where, sizeof ctx_where, "contexts[\"%s\"].context", ctxname);
    if (kc_str(&k, ctx, ctx_where, "cluster", &clname) || kc_str(&k, ctx, ctx_where, "user", &uname) ||
        kc_str(&k, ctx, ctx_where, "namespace", &ns))
        goto out;
    if (!clname) {
        strutil_errf(err, errlen, "%s: %s.cluster: missing", k.file, ctx_where);
        goto out;
    }
    if (!(out->context = strutil_dup(ctxname)) || !(out->namespace = strutil_dup(ns ? ns : "default"))) {
        kc_oom(&k);
        goto out;
    }
    const char *ctx_file = k.file;
    if (kc_cluster(&k, clname, ctx_where))
        goto out;
    k.file = ctx_file;
    if (uname && kc_user(&k, uname, ctx_where))
        goto out;
    if (out->token_file && !kube_config_token(out, time(NULL), err, errlen))
        goto out;
    rc = 0;
out:
    for (size_t i = 0; i < npaths; i++)
        free(paths[i]);
    free(paths);
    kc_files_free(k.files, k.nfiles);
    free(k.exec_ext);
    if (rc)
        kube_config_free(out);
    return rc;
}

int kube_config_load_in_cluster(struct kube_config *out, const char *dir, char *err, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST"), *port = getenv("KUBERNETES_SERVICE_PORT");
    char *ns = NULL, buf[600];
    size_t nslen;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (!dir)
        dir = KUBE_CONFIG_SA_DIR;
    if (!host || !*host || !port || !*port) {
        strutil_errf(err, errlen, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
        return -1;
    }
    snprintf(buf, sizeof buf, "in-cluster (%s)", dir);
    out->source = strutil_dup(buf);
    snprintf(buf, sizeof buf, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    out->server = strutil_dup(buf);
    snprintf(buf, sizeof buf, "%s/ca.crt", dir);
    out->ca_file = strutil_dup(buf);
    snprintf(buf, sizeof buf, "%s/token", dir);
    out->token_file = strutil_dup(buf);
    if (!out->source || !out->server || !out->ca_file || !out->token_file) {
        strutil_errf(err, errlen, "in-cluster: out of memory");
        goto out;
    }
    FILE *f = fopen(out->ca_file, "rb");
    if (!f) {
        strutil_errf(err, errlen, "%s: cannot read: %s", out->ca_file, strerror(errno));
        goto out;
    }
    fclose(f);
    if (!kube_config_token(out, time(NULL), err, errlen))
        goto out;
    snprintf(buf, sizeof buf, "%s/namespace", dir);
    struct stat st;
    if (stat(buf, &st) == 0) { /* the namespace file is optional */
        if (file_read(buf, 4096, &ns, &nslen, err, errlen))
            goto out;
        while (nslen && strchr(" \t\r\n", ns[nslen - 1]))
            ns[--nslen] = '\0';
    }
    out->namespace = (ns && *ns) ? ns : strutil_dup("default");
    if (out->namespace != ns)
        free(ns);
    ns = NULL;
    if (!out->namespace) {
        strutil_errf(err, errlen, "in-cluster: out of memory");
        goto out;
    }
    if (err && errlen)
        err[0] = '\0';
    rc = 0;
out:
    if (rc)
        kube_config_free(out);
    return rc;
}

int kube_config_load(struct kube_config *out, const char *path, const char *context, char *err, size_t errlen)
{
    const char *env = getenv("KUBECONFIG");
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    if ((path && *path) || (env && *env) || context || !host || !*host)
        return kube_config_load_file(out, path, context, err, errlen);
    return kube_config_load_in_cluster(out, NULL, err, errlen);
}

/* Re-reads the token file when it may have rotated; see kubeconfig.h for the contract. */
const char *kube_config_token(struct kube_config *cfg, time_t now, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!cfg->token_file)
        return cfg->token;
    if (cfg->token_cached && now >= cfg->token_checked && now - cfg->token_checked < KUBE_CONFIG_TOKEN_RECHECK_S)
        return cfg->token_cached;
    cfg->token_checked = now;
    struct stat st;
    if (stat(cfg->token_file, &st) != 0) {
        if (cfg->token_cached)
            return cfg->token_cached;
        strutil_errf(err, errlen, "%s: cannot read: %s", cfg->token_file, strerror(errno));
        return NULL;
    }
    if (cfg->token_cached && st.st_ino == cfg->token_ino && st.st_dev == cfg->token_dev &&
        st.st_size == cfg->token_size && st.st_mtim.tv_sec == cfg->token_mtime.tv_sec &&
        st.st_mtim.tv_nsec == cfg->token_mtime.tv_nsec)
        return cfg->token_cached;
    char *t = token_read(cfg->token_file, err, errlen);
    if (!t) {
        if (cfg->token_cached) {
            if (err && errlen)
                err[0] = '\0';
            return cfg->token_cached;
        }
        return NULL;
    }
    strutil_free_secret(cfg->token_cached);
    cfg->token_cached = t;
    cfg->token_ino = st.st_ino;
    cfg->token_dev = st.st_dev;
    cfg->token_size = st.st_size;
    cfg->token_mtime = st.st_mtim;
    return t;
}

void kube_config_free(struct kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->source);
    free(cfg->context);
    free(cfg->server);
    free(cfg->namespace);
    free(cfg->ca_file);
    free(cfg->ca_pem);
    free(cfg->cert_file);
    free(cfg->cert_pem);
    free(cfg->key_file);
    strutil_free_secret(cfg->key_pem);
    strutil_free_secret(cfg->token);
    free(cfg->token_file);
    strutil_free_secret(cfg->token_cached);
    if (cfg->exec) {
        struct kube_config_exec *e = cfg->exec;
        for (size_t i = 0; e->args && e->args[i]; i++)
            free(e->args[i]);
        for (size_t i = 0; e->env && e->env[i]; i++)
            strutil_free_secret(e->env[i]); /* plugin settings may hold secrets */
        free(e->args);
        free(e->env);
        free(e->where);
        free(e->api_version);
        free(e->command);
        free(e->install_hint);
        free(e->cluster_config);
        free(e);
    }
    memset(cfg, 0, sizeof *cfg);
}
