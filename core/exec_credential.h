/* client-go credential plugins (kubeconfig users[].user.exec): running the plugin and reading what it prints.
 *
 * As in client-go: the plugin runs with our environment plus its `env`, and KUBERNETES_EXEC_INFO holding an
 * ExecCredential of its apiVersion whose spec says interactive: false (a daemon has no terminal; the plugin's
 * standard input is /dev/null) and, with provideClusterInfo, spec.cluster (server, certificate-authority-data, and
 * the cluster's "client.authentication.k8s.io/exec" extension as config). It must exit 0 and print an
 * ExecCredential of the same apiVersion whose status holds a token, or clientCertificateData and clientKeyData
 * (PEM), or both, and optionally expirationTimestamp (RFC 3339). The credential is kept until it expires or until
 * the apiserver answers 401 to it; then the plugin runs again.
 *
 * The plugin runs as a child process on the loop (core/subprocess.h), never blocking it, and is killed after a
 * timeout. Messages name the kubeconfig file and user, the command, and the first line of the plugin's standard
 * error; they never hold the plugin's standard output (it carries the token), and the token is cut out of the
 * standard error line should the plugin have printed it there. */
#ifndef FLINKOP_EXEC_CREDENTIAL_H
#define FLINKOP_EXEC_CREDENTIAL_H

#include <stddef.h>
#include <time.h>

#include "kubeconfig.h"

struct ev_loop;
struct exec_plugin;

/* An ExecCredential's status. Never print token or key_pem. */
struct exec_credential {
    char *token;             /* NULL when the plugin gave a client certificate only */
    char *cert_pem;          /* PEM, NUL-terminated; cert_pem and key_pem are both set or both NULL */
    size_t cert_pem_len;
    char *key_pem;
    size_t key_pem_len;
    time_t expiry;           /* expirationTimestamp; 0 when none (then valid until a 401) */
};

/* Reads a plugin's standard output (`len` bytes). api_version is the configured one, which the output must carry.
 * Returns 0 and fills *out (free with exec_credential_free), or -1 with what is wrong in err (never the output's
 * text), e.g. `status.expirationTimestamp: "tomorrow" is not an RFC 3339 time`. */
int exec_credential_parse(const char *text, size_t len, const char *api_version, struct exec_credential *out,
                          char *err, size_t errlen);

/* Zeroes and frees the fields; safe on an empty credential and twice. */
void exec_credential_free(struct exec_credential *c);

/* The KUBERNETES_EXEC_INFO value for cfg->exec: compact JSON the caller frees, or NULL with a message in err (the
 * CA file named by cfg cannot be read, no memory). */
char *exec_credential_info(const struct kube_config *cfg, char *err, size_t errlen);

enum exec_plugin_state {
    EXEC_PLUGIN_READY,       /* *cred is the credential to use */
    EXEC_PLUGIN_PENDING,     /* the plugin is running; on_run is called when it ends */
    EXEC_PLUGIN_FAILED,      /* the last run failed and the retry delay has not passed: err says why */
};

/* Called after each run, from the loop: cred is the new credential (borrowed) and err NULL, or cred NULL and err
 * the failure. The callback may call exec_plugin_get (but not exec_plugin_free). */
typedef void (*exec_plugin_fn)(void *ud, const struct exec_credential *cred, const char *err);

/* The credential source for cfg->exec (which must be set). cfg is borrowed and must outlive the plugin; loop must
 * be ev_default_loop() (child processes). timeout_s <= 0 means 60 s. Returns NULL with a message in err. */
struct exec_plugin *exec_plugin_new(struct ev_loop *loop, const struct kube_config *cfg, double timeout_s,
                                    exec_plugin_fn on_run, void *ud, char *err, size_t errlen);

/* The credential to send now. A missing, expired or rejected credential starts a run (one at a time: every caller
 * waits for the same run) and gives PENDING. After a failed run, callers get FAILED with its message until a retry
 * delay has passed (1 s, doubling per failure in a row, at most 30 s); the next get then runs the plugin again.
 * *generation identifies the credential for exec_plugin_reject. *cred is borrowed until the next run ends. */
enum exec_plugin_state exec_plugin_get(struct exec_plugin *p, const struct exec_credential **cred,
                                       unsigned *generation, char *err, size_t errlen);

/* The apiserver answered 401 to a request sent with credential `generation`. When that is still the current one it
 * is dropped, so the next get runs the plugin; a 401 to an older credential changes nothing, so a burst of 401s
 * for one credential runs the plugin once. */
void exec_plugin_reject(struct exec_plugin *p, unsigned generation);

/* How many times the plugin was started. */
unsigned exec_plugin_runs(const struct exec_plugin *p);

/* Kills a running plugin and frees everything; no callback runs. Not from inside on_run. */
void exec_plugin_free(struct exec_plugin *p);

#endif
