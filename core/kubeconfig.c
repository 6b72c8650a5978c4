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

#include "strutil.h"
#include "yaml_io.h"

#define KUBE_CONFIG_MAX_FILE ((size_t)4 << 20)
#define KUBE_CONFIG_MAX_TOKEN ((size_t)64 << 10)

/* Overwrites then frees memory that may have held a secret. */
static void free_secret(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

/* Reads a whole (small) file into a NUL-terminated buffer the caller frees. */
static int file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        strutil_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = -1;
    if (!buf) {
        strutil_errf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max) {
                strutil_errf(err, errlen, "%s: larger than %zu bytes", path, max);
                goto out;
            }
            char *b = realloc(buf, cap * 2);
            if (!b) {
                strutil_errf(err, errlen, "%s: out of memory", path);
                goto out;
            }
            buf = b;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        strutil_errf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
out:
    if (buf) {
        memset(buf, 0, cap);
        free(buf);
    }
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
        free_secret(t);
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

/* A path from the kubeconfig, made relative to the kubeconfig's directory unless absolute. */
static char *path_resolve(const char *dir, const char *p)
{
    if (p[0] == '/' || !dir)
        return strutil_dup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", dir, p);
    return r;
}

/* Looks up the "name"d entry of a kubeconfig list (clusters, users, contexts) and returns its inner object. */
static const cJSON *named_find(const cJSON *root, const char *list, const char *name, const char *inner)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, list);
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0) {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(it, inner);
            return cJSON_IsObject(o) ? o : NULL;
        }
    }
    return NULL;
}

/* Optional string field: 0 with *out NULL when absent, 0 with the borrowed string, -1 when not a string. */
static int field_str(const cJSON *obj, const char *key, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring[0] ? v->valuestring : NULL;
    return 0;
}

/* Everything one kubeconfig read needs for messages and relative paths. */
struct kc_read {
    const char *file;
    char *dir;
    struct kube_config *cfg;
    char *err;
    size_t errlen;
};

/* Reads string field `key` of `obj`; where is the field's owner in messages, e.g. `clusters["c"].cluster`. */
static int kc_str(struct kc_read *k, const cJSON *obj, const char *where, const char *key, const char **out)
{
    if (field_str(obj, key, out)) {
        strutil_errf(k->err, k->errlen, "%s: %s.%s: must be a string", k->file, where, key);
        return -1;
    }
    return 0;
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
        if (!(*file = path_resolve(k->dir, path))) {
            strutil_errf(k->err, k->errlen, "%s: out of memory", k->file);
            return -1;
        }
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

static int kc_cluster(struct kc_read *k, const cJSON *root, const char *name, const char *ctx_where)
{
    char where[300];
    const char *server;
    const cJSON *cl = named_find(root, "clusters", name, "cluster");
    if (!cl) {
        strutil_errf(k->err, k->errlen, "%s: clusters: no cluster named \"%s\" (from %s.cluster)", k->file, name, ctx_where);
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
    if (!(k->cfg->server = strutil_dup(server))) {
        strutil_errf(k->err, k->errlen, "%s: out of memory", k->file);
        return -1;
    }
    size_t n = strlen(k->cfg->server);
    while (n > 8 && k->cfg->server[n - 1] == '/')
        k->cfg->server[--n] = '\0';
    return kc_pem(k, cl, where, "certificate-authority", &k->cfg->ca_file, &k->cfg->ca_pem, &k->cfg->ca_pem_len);
}

static int kc_user(struct kc_read *k, const cJSON *root, const char *name, const char *ctx_where)
{
    char where[300];
    const char *token, *token_file;
    struct kube_config *c = k->cfg;
    const cJSON *u = named_find(root, "users", name, "user");
    if (!u) {
        strutil_errf(k->err, k->errlen, "%s: users: no user named \"%s\" (from %s.user)", k->file, name, ctx_where);
        return -1;
    }
    snprintf(where, sizeof where, "users[\"%s\"].user", name);
    if (kc_refuse(k, u, where, "exec", "exec credential plugins are not supported yet") ||
        kc_refuse(k, u, where, "auth-provider", "auth-provider plugins are not supported") ||
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
    /* As in client-go, a token file wins over a fixed token. */
    if (token_file) {
        if (!(c->token_file = path_resolve(k->dir, token_file))) {
            strutil_errf(k->err, k->errlen, "%s: out of memory", k->file);
            return -1;
        }
    } else if (token && !(c->token = strutil_dup(token))) {
        strutil_errf(k->err, k->errlen, "%s: out of memory", k->file);
        return -1;
    }
    return 0;
}

/* The kubeconfig path to read: explicit, first $KUBECONFIG entry, or ~/.kube/config. Caller frees. */
static char *kc_path(const char *path, char *err, size_t errlen)
{
    if (path && *path)
        return strutil_dup(path);
    const char *env = getenv("KUBECONFIG");
    if (env) {
        while (*env == ':')
            env++;
        if (*env) {
            size_t n = strcspn(env, ":");
            char *p = malloc(n + 1);
            if (p) {
                memcpy(p, env, n);
                p[n] = '\0';
            }
            return p;
        }
    }
    const char *home = getenv("HOME");
    if (!home || !*home) {
        strutil_errf(err, errlen, "kubeconfig: no --kubeconfig, $KUBECONFIG or $HOME to find one");
        return NULL;
    }
    size_t n = strlen(home) + sizeof "/.kube/config";
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/.kube/config", home);
    return p;
}

int kube_config_load_file(struct kube_config *out, const char *path, const char *context, char *err,
                          size_t errlen)
{
    struct yaml_stream s = {0};
    struct kc_read k = {.cfg = out, .err = err, .errlen = errlen};
    char ctx_where[300];
    const char *ctxname = context, *clname, *uname, *ns;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    char *file = kc_path(path, err, errlen);
    if (!file) {
        if (err && errlen && !err[0])
            strutil_errf(err, errlen, "kubeconfig: out of memory");
        return -1;
    }
    k.file = file;
    out->source = file;
    const char *slash = strrchr(file, '/');
    k.dir = slash ? strndup(file, slash == file ? 1 : (size_t)(slash - file)) : strutil_dup(".");
    if (!k.dir) {
        strutil_errf(err, errlen, "%s: out of memory", file);
        goto out;
    }
    if (yaml_stream_read_file(file, &s, err, errlen))
        goto out;
    if (s.count != 1 || !cJSON_IsObject(s.docs[0].value)) {
        strutil_errf(err, errlen, "%s: not a kubeconfig (want one YAML mapping)", file);
        goto out;
    }
    const cJSON *root = s.docs[0].value;
    if (!ctxname) {
        if (kc_str(&k, root, "(top level)", "current-context", &ctxname))
            goto out;
        if (!ctxname) {
            strutil_errf(err, errlen, "%s: current-context: not set (name a context with --context)", file);
            goto out;
        }
    }
    const cJSON *ctx = named_find(root, "contexts", ctxname, "context");
    if (!ctx) {
        strutil_errf(err, errlen, "%s: contexts: no context named \"%s\"", file, ctxname);
        goto out;
    }
    snprintf(ctx_where, sizeof ctx_where, "contexts[\"%s\"].context", ctxname);
    if (kc_str(&k, ctx, ctx_where, "cluster", &clname) || kc_str(&k, ctx, ctx_where, "user", &uname) ||
        kc_str(&k, ctx, ctx_where, "namespace", &ns))
        goto out;
    if (!clname) {
        strutil_errf(err, errlen, "%s: %s.cluster: missing", file, ctx_where);
        goto out;
    }
    if (!(out->context = strutil_dup(ctxname)) || !(out->namespace = strutil_dup(ns ? ns : "default"))) {
        strutil_errf(err, errlen, "%s: out of memory", file);
        goto out;
    }
    if (kc_cluster(&k, root, clname, ctx_where))
        goto out;
    if (uname && kc_user(&k, root, uname, ctx_where))
        goto out;
    if (out->token_file && !kube_config_token(out, time(NULL), err, errlen))
        goto out;
    rc = 0;
out:
    yaml_stream_free(&s);
    free(k.dir);
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
    free_secret(cfg->token_cached);
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
    free_secret(cfg->key_pem);
    free_secret(cfg->token);
    free(cfg->token_file);
    free_secret(cfg->token_cached);
    memset(cfg, 0, sizeof *cfg);
}
