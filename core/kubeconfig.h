/* Where the apiserver is and who we are to it: in-cluster service-account files or kubeconfig files.
 *
 * Supported kubeconfig subset: `--kubeconfig FILE` (that file alone), else every file of a colon-separated
 * $KUBECONFIG merged as kubectl merges them (the first file to set current-context wins; the first file to define a
 * cluster, user or context name wins, whole; missing files are skipped), else $HOME/.kube/config. Then
 * current-context or an explicit context; clusters[].cluster.server, certificate-authority or
 * certificate-authority-data; users[].user client-certificate(-data), client-key(-data), token, tokenFile, or exec
 * (a client-go credential plugin, client.authentication.k8s.io/v1 or v1beta1; run by core/exec_credential.h).
 * Relative paths (certificate-authority, client-certificate, client-key, tokenFile, and an exec command that holds
 * a '/') are relative to the directory of the file that defines them. Refused with a message naming the file and
 * the field: insecure-skip-tls-verify: true (TLS is always verified), auth-provider, username/password,
 * tls-server-name, proxy-url, an exec plugin with interactiveMode: Always (a daemon has no terminal) or combined
 * with another credential in the same user.
 *
 * Token text never appears in any message this module writes. */
#ifndef FLINKOP_KUBECONFIG_H
#define FLINKOP_KUBECONFIG_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Default directory of the in-cluster service-account files. */
#define KUBE_CONFIG_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* How often a token file is checked for a new token, at most (bound tokens rotate). */
#define KUBE_CONFIG_TOKEN_RECHECK_S 10

/* A users[].user.exec stanza, checked; core/exec_credential.h runs it. */
struct kube_config_exec {
    char *where;          /* `FILE: users["NAME"].user.exec`, the start of every message about the plugin */
    char *api_version;    /* "client.authentication.k8s.io/v1" or "client.authentication.k8s.io/v1beta1" */
    char *command;        /* as written, or made absolute against the file's directory when it holds a '/' */
    char **args;          /* NULL-terminated, never NULL */
    char **env;           /* NULL-terminated "NAME=value" lines, never NULL */
    char *install_hint;   /* NULL when none */
    int provide_cluster_info;
    char *cluster_config; /* JSON text of the cluster's "client.authentication.k8s.io/exec" extension, or NULL */
};

struct kube_config {
    char *source;     /* "in-cluster (DIR)" or the kubeconfig files read, joined with ':': for messages */
    char *context;    /* the context used (kubeconfig only), else NULL */
    char *server;     /* "https://host:port", no trailing '/' */
    char *namespace;  /* the context's or pod's namespace; "default" when none */
    /* TLS: a file path or PEM data (NUL-terminated, *_len bytes) for each; NULL when absent. */
    char *ca_file, *ca_pem;
    size_t ca_pem_len;
    char *cert_file, *cert_pem;
    size_t cert_pem_len;
    char *key_file, *key_pem;
    size_t key_pem_len;
    /* Bearer token: a fixed one, or a file re-read when it changes. Never print either's contents. */
    char *token;
    char *token_file;
    /* Or a credential plugin (then token, token_file and the client certificate are all NULL). */
    struct kube_config_exec *exec;
    /* token_file cache (private to kube_config_token) */
    char *token_cached;
    time_t token_checked;
    struct timespec token_mtime;
    ino_t token_ino;
    dev_t token_dev;
    off_t token_size;
};

/* Reads the in-cluster configuration: DIR/token (as a token file), DIR/ca.crt, DIR/namespace (optional), and
 * KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT. dir NULL means KUBE_CONFIG_SA_DIR. Returns 0 and fills *out
 * (free with kube_config_free), or -1 with a message in err and *out empty. */
int kube_config_load_in_cluster(struct kube_config *out, const char *dir, char *err, size_t errlen);

/* Reads a kubeconfig: `path` alone, else the files of $KUBECONFIG merged, else $HOME/.kube/config. `context` NULL
 * means the merged current-context. Same contract as kube_config_load_in_cluster; messages name the file and field,
 * e.g. `/home/u/.kube/config: users["ci"].user.client-key-data: not valid base64`; a $KUBECONFIG whose files are
 * all missing is an error that lists them. source is the files read, joined with ':'. */
int kube_config_load_file(struct kube_config *out, const char *path, const char *context, char *err,
                          size_t errlen);

/* Picks a source the way controller-runtime does: an explicit path, else $KUBECONFIG, else in-cluster when
 * KUBERNETES_SERVICE_HOST is set, else $HOME/.kube/config. */
int kube_config_load(struct kube_config *out, const char *path, const char *context, char *err, size_t errlen);

/* The bearer token to send now, or NULL when the config has none (err then stays ""), or NULL with a message in
 * err when the token file cannot be read and no earlier token is known. A token file is stat()ed at most once per
 * KUBE_CONFIG_TOKEN_RECHECK_S seconds of `now`, and re-read when its inode, size or mtime changed; when a re-read
 * fails the last good token is kept. The pointer is borrowed until the next call or kube_config_free. */
const char *kube_config_token(struct kube_config *cfg, time_t now, char *err, size_t errlen);

/* Frees every field and empties *cfg (token buffers are zeroed first); safe on an empty config and twice. */
void kube_config_free(struct kube_config *cfg);

#endif
