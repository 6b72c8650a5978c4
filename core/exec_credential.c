/* Credential plugins (see exec_credential.h): the ExecCredential in and out, and the cache that decides when the
 * plugin runs. */
#include "exec_credential.h"

#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "json_text.h"
#include "object.h"
#include "strutil.h"
#include "subprocess.h"

#define EXEC_DEFAULT_TIMEOUT_S 60.0
#define EXEC_MAX_STDOUT ((size_t)1 << 20)
#define EXEC_RETRY_MAX_S 30.0
#define EXEC_STDERR_LINE 200
#define EXEC_MAX_CA ((size_t)1 << 20)

extern char **environ;

void exec_credential_free(struct exec_credential *c)
{
    if (!c)
        return;
    strutil_free_secret(c->token);
    free(c->cert_pem);
    strutil_free_secret(c->key_pem);
    memset(c, 0, sizeof *c);
}

/* A certificate and key in PEM that belong together, checked now so that a bad pair is the plugin's error and
 * not a TLS failure later. */
static int pem_pair_check(const char *cert, const char *key, char *err, size_t errlen)
{
    BIO *cb = BIO_new_mem_buf(cert, -1), *kb = BIO_new_mem_buf(key, -1);
    X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    int rc = -1;
    if (!x)
        strutil_errf(err, errlen, "status.clientCertificateData: not a PEM certificate");
    else if (!k)
        strutil_errf(err, errlen, "status.clientKeyData: not a PEM private key");
    else if (X509_check_private_key(x, k) != 1)
        strutil_errf(err, errlen, "status.clientKeyData: not the key of status.clientCertificateData");
    else
        rc = 0;
    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(kb);
    BIO_free(cb);
    return rc;
}

/* The checks client-go makes on a plugin's answer, in its order. */
static int status_read(const cJSON *st, struct exec_credential *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"token", "clientCertificateData", "clientKeyData", "expirationTimestamp"};
    const char *v[4];
    for (int i = 0; i < 4; i++) {
        if (object_member_string(st, keys[i], &v[i])) {
            strutil_errf(err, errlen, "status.%s: must be a string", keys[i]);
            return -1;
        }
    }
    if (!v[0] && !v[1] && !v[2]) {
        strutil_errf(err, errlen, "status: no token and no clientCertificateData/clientKeyData");
        return -1;
    }
    if (!v[1] != !v[2]) {
        strutil_errf(err, errlen, "status: %s without %s", v[1] ? "clientCertificateData" : "clientKeyData",
                     v[1] ? "clientKeyData" : "clientCertificateData");
        return -1;
    }
    if (v[3] && strutil_rfc3339_parse(v[3], &out->expiry)) {
        strutil_errf(err, errlen, "status.expirationTimestamp: \"%.64s\" is not an RFC 3339 time", v[3]);
        return -1;
    }
    if (v[1] && pem_pair_check(v[1], v[2], err, errlen))
        return -1;
    if ((v[0] && !(out->token = strutil_dup(v[0]))) || (v[1] && !(out->cert_pem = strutil_dup(v[1]))) ||
        (v[2] && !(out->key_pem = strutil_dup(v[2])))) {
        strutil_errf(err, errlen, "out of memory");
        return -1;
    }
    out->cert_pem_len = v[1] ? strlen(v[1]) : 0;
    out->key_pem_len = v[2] ? strlen(v[2]) : 0;
    return 0;
}

int exec_credential_parse(const char *text, size_t len, const char *api_version, struct exec_credential *out,
                          char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    cJSON *root = len ? cJSON_ParseWithLength(text, len) : NULL;
    const char *api = NULL, *kind = NULL;
    int rc = -1;
    if (!len) {
        strutil_errf(err, errlen, "printed nothing on standard output");
    } else if (!cJSON_IsObject(root)) {
        strutil_errf(err, errlen, "standard output is not a JSON object");
    } else if (object_member_string(root, "apiVersion", &api) || object_member_string(root, "kind", &kind) ||
               !kind || strcmp(kind, "ExecCredential") != 0) {
        strutil_errf(err, errlen, "standard output is not an ExecCredential (kind)");
    } else if (!api || strcmp(api, api_version) != 0) {
        strutil_errf(err, errlen, "apiVersion \"%.80s\" is not the configured %s", api ? api : "", api_version);
    } else if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, "status"))) {
        strutil_errf(err, errlen, "no status in the ExecCredential");
    } else {
        rc = status_read(cJSON_GetObjectItemCaseSensitive(root, "status"), out, err, errlen);
    }
    cJSON_Delete(root);
    if (rc)
        exec_credential_free(out);
    return rc;
}

/* Base64 of a whole buffer, as Go's encoding/json writes a []byte. */
static char *base64_of(const char *data, size_t len)
{
    char *out = len <= 0x3fffffff ? malloc(4 * ((len + 2) / 3) + 1) : NULL;
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data, (int)len);
    return out;
}

/* The CA the plugin is told about: inline data, or the file's contents (read once, when the plugin is set up). */
static char *ca_base64(const struct kube_config *cfg, char *err, size_t errlen)
{
    if (cfg->ca_pem)
        return base64_of(cfg->ca_pem, cfg->ca_pem_len);
    FILE *f = fopen(cfg->ca_file, "rb");
    char *buf = malloc(EXEC_MAX_CA + 1), *out = NULL;
    size_t n = f && buf ? fread(buf, 1, EXEC_MAX_CA + 1, f) : 0;
    if (!f || !buf || ferror(f) || n > EXEC_MAX_CA)
        strutil_errf(err, errlen, "%s: cannot read: %s", cfg->ca_file,
                     !f || ferror(f) ? strerror(errno) : buf ? "too large" : "out of memory");
    else if (!(out = base64_of(buf, n)))
        strutil_errf(err, errlen, "%s: out of memory", cfg->ca_file);
    if (f)
        fclose(f);
    free(buf);
    return out;
}

/* spec.cluster for provideClusterInfo: the fields of the Cluster type we have. */
static cJSON *cluster_info(const struct kube_config *cfg, char *err, size_t errlen)
{
    cJSON *c = cJSON_CreateObject();
    char *ca = NULL;
    if (!c || !cJSON_AddStringToObject(c, "server", cfg->server))
        goto oom;
    if (cfg->ca_pem || cfg->ca_file) {
        if (!(ca = ca_base64(cfg, err, errlen))) {
            cJSON_Delete(c);
            return NULL;
        }
        if (!cJSON_AddStringToObject(c, "certificate-authority-data", ca))
            goto oom;
        free(ca);
        ca = NULL;
    }
    if (cfg->exec->cluster_config) {
        cJSON *conf = cJSON_Parse(cfg->exec->cluster_config);
        if (!conf || !cJSON_AddItemToObject(c, "config", conf)) {
            cJSON_Delete(conf);
            goto oom;
        }
    }
    return c;
oom:
    free(ca);
    cJSON_Delete(c);
    strutil_errf(err, errlen, "%s: out of memory", cfg->exec->where);
    return NULL;
}

char *exec_credential_info(const struct kube_config *cfg, char *err, size_t errlen)
{
    const struct kube_config_exec *e = cfg->exec;
    cJSON *root = cJSON_CreateObject(), *spec = cJSON_CreateObject();
    char *text = NULL;
    if (!root || !spec || !cJSON_AddStringToObject(root, "apiVersion", e->api_version) ||
        !cJSON_AddStringToObject(root, "kind", "ExecCredential") || !cJSON_AddFalseToObject(spec, "interactive")) {
        cJSON_Delete(spec);
        goto oom;
    }
    cJSON_AddItemToObject(root, "spec", spec);
    if (e->provide_cluster_info) {
        cJSON *cl = cluster_info(cfg, err, errlen);
        if (!cl) {
            cJSON_Delete(root);
            return NULL;
        }
        cJSON_AddItemToObject(spec, "cluster", cl);
    }
    /* Our own printer: the extension may hold numbers cJSON would print wrongly. */
    if ((text = json_print_sorted(root)))
        goto out;
oom:
    strutil_errf(err, errlen, "%s: out of memory", e->where);
out:
    cJSON_Delete(root);
    return text;
}

/* ---- the cache and the runs ---- */

struct exec_plugin {
    struct ev_loop *loop;
    const struct kube_config_exec *e;
    double timeout_s;
    char **envp;                 /* owned strings */
    const char **argv;           /* borrowed from e */
    struct subprocess *run;
    struct exec_credential cred; /* valid when have_cred */
    int have_cred;
    unsigned generation, runs;
    int failures;                /* failed runs in a row */
    ev_tstamp retry_at;
    char last_err[1024];
    exec_plugin_fn on_run;
    void *ud;
};

/* Whether environment line `line` sets one of the names in `env`. */
static int env_overridden(const char *line, char *const *env)
{
    size_t n = strcspn(line, "=");
    for (size_t i = 0; env[i]; i++)
        if (strncmp(env[i], line, n) == 0 && env[i][n] == '=')
            return 1;
    return 0;
}

/* Our environment, then the plugin's env (which wins: glibc's getenv would see a duplicate's first value), then
 * KUBERNETES_EXEC_INFO. */
static char **envp_build(char *const *env, const char *info)
{
    size_t n = 0, m = 0, k = 0;
    while (environ && environ[n])
        n++;
    while (env[m])
        m++;
    char **out = calloc(n + m + 2, sizeof *out);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) != 0 && !env_overridden(environ[i], env) &&
            !(out[k++] = strutil_dup(environ[i])))
            goto oom;
    for (size_t i = 0; i < m; i++)
        if (!(out[k++] = strutil_dup(env[i])))
            goto oom;
    size_t len = strlen(info) + sizeof "KUBERNETES_EXEC_INFO=";
    if (!(out[k] = malloc(len)))
        goto oom;
    snprintf(out[k], len, "KUBERNETES_EXEC_INFO=%s", info);
    return out;
oom:
    for (size_t i = 0; out[i]; i++)
        free(out[i]);
    free(out);
    return NULL;
}

struct exec_plugin *exec_plugin_new(struct ev_loop *loop, const struct kube_config *cfg, double timeout_s,
                                    exec_plugin_fn on_run, void *ud, char *err, size_t errlen)
{
    const struct kube_config_exec *e = cfg->exec;
    size_t nargs = 0;
    while (e->args[nargs])
        nargs++;
    char *info = exec_credential_info(cfg, err, errlen);
    if (!info)
        return NULL;
    struct exec_plugin *p = calloc(1, sizeof *p);
    if (!p || !(p->envp = envp_build(e->env, info)) || !(p->argv = calloc(nargs + 2, sizeof *p->argv))) {
        free(info);
        exec_plugin_free(p);
        strutil_errf(err, errlen, "%s: out of memory", e->where);
        return NULL;
    }
    free(info);
    p->argv[0] = e->command;
    for (size_t i = 0; i < nargs; i++)
        p->argv[i + 1] = e->args[i];
    p->loop = loop;
    p->e = e;
    p->timeout_s = timeout_s > 0 ? timeout_s : EXEC_DEFAULT_TIMEOUT_S;
    p->on_run = on_run;
    p->ud = ud;
    return p;
}

/* The first non-blank line of the plugin's standard error, shortened, with both secrets (either may be NULL) cut
 * out wherever they appear. */
static void stderr_line(const char *text, const char *const secrets[2], char *out, size_t outlen)
{
    while (*text == '\n' || *text == '\r' || *text == ' ' || *text == '\t')
        text++;
    size_t n = strcspn(text, "\r\n"), o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen && o < EXEC_STDERR_LINE;) {
        size_t cut = 0;
        for (int j = 0; j < 2 && !cut; j++) {
            size_t slen = secrets[j] ? strlen(secrets[j]) : 0;
            if (slen && n - i >= slen && strncmp(text + i, secrets[j], slen) == 0)
                cut = slen;
        }
        if (cut) {
            o += (size_t)snprintf(out + o, outlen - o, "[redacted]");
            i += cut;
        } else {
            out[o++] = text[i++];
        }
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}

/* The token the output would carry, if it parses that far: only to cut it out of the stderr line. */
static char *stdout_token(const char *text, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(text, len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "status"), "token");
    char *tok = cJSON_IsString(t) && t->valuestring[0] ? strutil_dup(t->valuestring) : NULL;
    cJSON_Delete(root);
    return tok;
}

/* Why a finished run gave no credential, or "" when it gave one in *cred. */
static void run_outcome(struct exec_plugin *p, const struct subprocess_result *r, struct exec_credential *cred,
                        char *why, size_t whylen)
{
    why[0] = '\0';
    if (r->timed_out)
        snprintf(why, whylen, "timed out after %g s and was killed", p->timeout_s);
    else if (!r->exited)
        snprintf(why, whylen, "was killed by signal %d", r->signal);
    else if (r->exit_status != 0)
        snprintf(why, whylen, "exited with status %d", r->exit_status);
    else if (r->stdout_truncated)
        snprintf(why, whylen, "printed more than %zu bytes", EXEC_MAX_STDOUT);
    else {
        char perr[400];
        if (exec_credential_parse(r->out, r->out_len, p->e->api_version, cred, perr, sizeof perr) == 0) {
            /* Taken as it is, an expired credential would make every request run the plugin again at once. */
            if (!cred->expiry || (double)cred->expiry > ev_time())
                return;
            exec_credential_free(cred);
            snprintf(perr, sizeof perr, "status.expirationTimestamp has already passed");
        }
        snprintf(why, whylen, "printed no valid ExecCredential: %s", perr);
    }
}

static void run_failed(struct exec_plugin *p);

static void on_done(void *ud, const struct subprocess_result *r)
{
    struct exec_plugin *p = ud;
    struct exec_credential cred;
    char why[512], line[EXEC_STDERR_LINE + 16];
    p->run = NULL;
    memset(&cred, 0, sizeof cred);
    run_outcome(p, r, &cred, why, sizeof why);
    if (!why[0]) {
        exec_credential_free(&p->cred);
        p->cred = cred;
        p->have_cred = 1;
        p->generation++;
        p->failures = 0;
        p->on_run(p->ud, &p->cred, NULL);
        return;
    }
    char *tok = stdout_token(r->out, r->out_len);
    const char *secrets[2] = {tok, p->have_cred ? p->cred.token : NULL};
    stderr_line(r->err, secrets, line, sizeof line);
    strutil_free_secret(tok);
    snprintf(p->last_err, sizeof p->last_err, "%s: %s %s%s%s%s", p->e->where, p->e->command, why,
             line[0] ? " (stderr: " : "", line, line[0] ? ")" : "");
    run_failed(p);
    p->on_run(p->ud, NULL, p->last_err);
}

/* Failed runs in a row push the next run back: 1 s, 2 s, 4 s ... at most EXEC_RETRY_MAX_S. */
static void run_failed(struct exec_plugin *p)
{
    p->failures++;
    double delay = p->failures > 5 ? EXEC_RETRY_MAX_S : (double)(1 << (p->failures - 1));
    p->retry_at = ev_now(p->loop) + (delay < EXEC_RETRY_MAX_S ? delay : EXEC_RETRY_MAX_S);
}

/* Starts a run; a plugin that cannot even start counts as a failed run. */
static enum exec_plugin_state run_start(struct exec_plugin *p, char *err, size_t errlen)
{
    char why[512];
    struct subprocess_opts o = {.file = p->e->command, .argv = p->argv, .envp = (const char *const *)p->envp,
                                .timeout_s = p->timeout_s, .max_stdout = EXEC_MAX_STDOUT};
    p->runs++;
    p->run = subprocess_start(p->loop, &o, on_done, p, why, sizeof why);
    if (p->run)
        return EXEC_PLUGIN_PENDING;
    /* why is "COMMAND: not found" or "COMMAND: <strerror>"; the hint's first line says how to get it. */
    const char *hint = p->e->install_hint;
    int hlen = hint ? (int)strcspn(hint, "\n") : 0;
    snprintf(p->last_err, sizeof p->last_err, "%s: %s%s%.*s%s", p->e->where, why, hint ? " (installHint: " : "",
             hlen > 200 ? 200 : hlen, hint ? hint : "", hint ? ")" : "");
    run_failed(p);
    strutil_errf(err, errlen, "%s", p->last_err);
    return EXEC_PLUGIN_FAILED;
}

enum exec_plugin_state exec_plugin_get(struct exec_plugin *p, const struct exec_credential **cred,
                                       unsigned *generation, char *err, size_t errlen)
{
    *cred = NULL;
    if (p->have_cred && p->cred.expiry && ev_time() >= (double)p->cred.expiry) {
        exec_credential_free(&p->cred);
        p->have_cred = 0;
    }
    if (p->have_cred) {
        *cred = &p->cred;
        *generation = p->generation;
        return EXEC_PLUGIN_READY;
    }
    if (p->run)
        return EXEC_PLUGIN_PENDING;
    if (p->failures && ev_now(p->loop) < p->retry_at) {
        strutil_errf(err, errlen, "%s", p->last_err);
        return EXEC_PLUGIN_FAILED;
    }
    return run_start(p, err, errlen);
}

void exec_plugin_reject(struct exec_plugin *p, unsigned generation)
{
    if (p->have_cred && generation == p->generation) {
        exec_credential_free(&p->cred);
        p->have_cred = 0;
    }
}

unsigned exec_plugin_runs(const struct exec_plugin *p) { return p->runs; }

void exec_plugin_free(struct exec_plugin *p)
{
    if (!p)
        return;
    subprocess_cancel(p->run);
    exec_credential_free(&p->cred);
    for (size_t i = 0; p->envp && p->envp[i]; i++)
        strutil_free_secret(p->envp[i]);
    free(p->envp);
    free(p->argv);
    free(p);
}
