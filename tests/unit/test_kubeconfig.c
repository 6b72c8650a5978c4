/* kubeconfig: kubeconfig files and in-cluster service-account files become a kube_config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "kubeconfig.h"

#define TOKEN "s3cr3t-T0KEN-value"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nQ0FDQUNB\n-----END CERTIFICATE-----\n"
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n"
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n"

static char dir[256];

/* Writes a file under the test's temp dir and returns its full path (static buffer per call site use). */
static const char *put(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Base64 of s, by OpenSSL (a test helper; the code under test decodes). */
static char *b64(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/flinkop-kubeconfig-XXXXXX");
    assert_non_null(mkdtemp(dir));
    unsetenv("KUBECONFIG");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A kubeconfig with two contexts; `cluster_extra` and `user_extra` are spliced into cluster "c1" and user "u1". */
static const char *write_kubeconfig(const char *cluster_extra, const char *user_extra)
{
    char *ca = b64(CA_PEM), *cert = b64(CERT_PEM), *key = b64(KEY_PEM);
    char text[8192];
    snprintf(text, sizeof text,
             "apiVersion: v1\n"
             "kind: Config\n"
             "current-context: one\n"
             "contexts:\n"
             "- name: one\n"
             "  context: {cluster: c1, user: u1, namespace: flink}\n"
             "- name: two\n"
             "  context: {cluster: c2, user: u2}\n"
             "clusters:\n"
             "- name: c1\n"
             "  cluster:\n"
             "    server: https://127.0.0.1:6443/\n"
             "    certificate-authority-data: %s\n"
             "%s"
             "- name: c2\n"
             "  cluster:\n"
             "    server: https://other.example:443\n"
             "    certificate-authority: pki/ca.crt\n"
             "users:\n"
             "- name: u1\n"
             "  user:\n"
             "    client-certificate-data: %s\n"
             "    client-key-data: %s\n"
             "%s"
             "- name: u2\n"
             "  user:\n"
             "    client-certificate: pki/admin.crt\n"
             "    client-key: /abs/admin.key\n"
             "    tokenFile: tok\n",
             ca, cluster_extra, cert, key, user_extra);
    free(ca);
    free(cert);
    free(key);
    put("tok", TOKEN "\n");
    return put("config", text);
}

static void test_kubeconfig_reads_inline_data_of_current_context(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "";
    const char *path = write_kubeconfig("", "    token: " TOKEN "\n");
    assert_int_equal(kube_config_load_file(&c, path, NULL, err, sizeof err), 0);
    assert_string_equal(c.context, "one");
    assert_string_equal(c.server, "https://127.0.0.1:6443");
    assert_string_equal(c.namespace, "flink");
    assert_string_equal(c.ca_pem, CA_PEM);
    assert_int_equal(c.ca_pem_len, strlen(CA_PEM));
    assert_string_equal(c.cert_pem, CERT_PEM);
    assert_string_equal(c.key_pem, KEY_PEM);
    assert_null(c.ca_file);
    assert_string_equal(kube_config_token(&c, time(NULL), err, sizeof err), TOKEN);
    kube_config_free(&c);
}

static void test_kubeconfig_context_flag_picks_another_context_with_relative_paths(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", want[600];
    const char *path = write_kubeconfig("", "");
    assert_int_equal(kube_config_load_file(&c, path, "two", err, sizeof err), 0);
    assert_string_equal(c.context, "two");
    assert_string_equal(c.server, "https://other.example:443");
    assert_string_equal(c.namespace, "default");
    snprintf(want, sizeof want, "%s/pki/ca.crt", dir);
    assert_string_equal(c.ca_file, want);
    snprintf(want, sizeof want, "%s/pki/admin.crt", dir);
    assert_string_equal(c.cert_file, want);
    assert_string_equal(c.key_file, "/abs/admin.key");
    snprintf(want, sizeof want, "%s/tok", dir);
    assert_string_equal(c.token_file, want);
    assert_null(c.ca_pem);
    assert_string_equal(kube_config_token(&c, time(NULL), err, sizeof err), TOKEN);
    kube_config_free(&c);
}

/* Writes DIR/sub/name (making sub) and returns its path in a static buffer of the caller's choosing. */
static void put_in(const char *sub, const char *name, const char *text, char *path, size_t len)
{
    char d[400];
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    mkdir(d, 0700);
    snprintf(path, len, "%s/%s", d, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* kube_config_load_file(path, no context) with $KUBECONFIG set to env for the call. */
static int load_with_env(const char *env, const char *path, struct kube_config *c, char *err, size_t errlen)
{
    setenv("KUBECONFIG", env, 1);
    int rc = kube_config_load_file(c, path, NULL, err, errlen);
    unsetenv("KUBECONFIG");
    return rc;
}

static void test_kubeconfig_env_list_first_context_and_first_definition_win(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", one[600], two[600], three[600], env[2000], want[700];
    /* one: no current-context; defines context main and cluster c (CA relative to one's directory). */
    put_in("a", "one", "contexts: [{name: main, context: {cluster: c, user: u, namespace: from-one}}]\n"
                       "clusters: [{name: c, cluster: {server: 'https://one:6443', certificate-authority: ca.crt}}]\n",
           one, sizeof one);
    /* two: sets current-context first; its own main, c and (winning) user u with paths relative to two's dir. */
    put_in("b", "two", "current-context: main\n"
                       "contexts: [{name: main, context: {cluster: other, user: other}}]\n"
                       "clusters: [{name: c, cluster: {server: 'https://two:6443'}}]\n"
                       "users: [{name: u, user: {client-certificate: u.crt, client-key: keys/u.key}}]\n",
           two, sizeof two);
    /* three: a later current-context and a later user u lose. */
    put_in("c", "three", "current-context: other\nusers: [{name: u, user: {token: " TOKEN "}}]\n", three,
           sizeof three);
    snprintf(env, sizeof env, "%s:%s:%s", one, two, three);
    if (load_with_env(env, NULL, &c, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(c.context, "main");
    assert_string_equal(c.namespace, "from-one");
    assert_string_equal(c.server, "https://one:6443");
    snprintf(want, sizeof want, "%s/a/ca.crt", dir);
    assert_string_equal(c.ca_file, want);
    snprintf(want, sizeof want, "%s/b/u.crt", dir);
    assert_string_equal(c.cert_file, want);
    snprintf(want, sizeof want, "%s/b/keys/u.key", dir);
    assert_string_equal(c.key_file, want);
    assert_null(c.token); /* three's u lost, whole */
    assert_string_equal(c.source, env);
    kube_config_free(&c);
}

static void test_kubeconfig_env_list_skips_missing_files_but_names_them_when_all_are_missing(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", env[700];
    const char *path = write_kubeconfig("", "");
    snprintf(env, sizeof env, ":/nonexistent/first::%s:/nonexistent/second", path);
    if (load_with_env(env, NULL, &c, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(c.context, "one");
    assert_string_equal(c.source, path);
    kube_config_free(&c);

    assert_int_equal(load_with_env("/nonexistent/first:/nonexistent/second", NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "kubeconfig: no file of $KUBECONFIG exists: /nonexistent/first, /nonexistent/second");
}

static void test_kubeconfig_explicit_file_is_read_alone(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", other[600];
    const char *path = write_kubeconfig("", "");
    put_in("x", "other", "current-context: two\n", other, sizeof other);
    if (load_with_env(other, path, &c, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(c.context, "one"); /* other's current-context is not merged in */
    kube_config_free(&c);
    assert_int_equal(kube_config_load_file(&c, "/nonexistent/explicit", NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/explicit: cannot read"));
}

static void test_kubeconfig_env_list_stops_at_a_broken_file(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", broken[600], env[1400];
    const char *path = write_kubeconfig("", "");
    put_in("y", "broken", "users: [unclosed\n", broken, sizeof broken);
    snprintf(env, sizeof env, "%s:%s", path, broken);
    assert_int_equal(load_with_env(env, NULL, &c, err, sizeof err), -1);
    if (!strstr(err, broken))
        fail_msg("error \"%s\" does not name %s", err, broken);
}

/* Loads a kubeconfig expected to fail; checks the message names what it must and never holds the token. */
static void assert_refused(const char *path, const char *context, const char *want)
{
    struct kube_config c;
    char err[512] = "";
    assert_int_equal(kube_config_load_file(&c, path, context, err, sizeof err), -1);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"", err, want);
    assert_null(strstr(err, TOKEN));
    assert_null(c.server);
}

static void test_kubeconfig_refuses_insecure_skip_tls_verify(void **state)
{
    (void)state;
    const char *path = write_kubeconfig("    insecure-skip-tls-verify: true\n", "    token: " TOKEN "\n");
    assert_refused(path, NULL, "clusters[\"c1\"].cluster.insecure-skip-tls-verify: true is refused");
    assert_refused(path, NULL, dir);
}

static void test_kubeconfig_names_file_and_missing_field(void **state)
{
    (void)state;
    const char *path = put("noserver", "current-context: x\n"
                                       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                                       "clusters: [{name: c, cluster: {certificate-authority: ca}}]\n"
                                       "users: [{name: u, user: {token: " TOKEN "}}]\n");
    char want[600];
    snprintf(want, sizeof want, "%s: clusters[\"c\"].cluster.server: missing", path);
    assert_refused(path, NULL, want);
    assert_refused(path, "nope", "contexts: no context named \"nope\"");
    path = put("nokey", "current-context: x\n"
                        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                        "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                        "users: [{name: u, user: {client-certificate: a.crt, token: " TOKEN "}}]\n");
    assert_refused(path, NULL, "users[\"u\"].user.client-key: missing");
    path = put("nocontext", "contexts: []\n");
    assert_refused(path, NULL, "current-context: not set");
}

static void test_kubeconfig_reads_exec_stanza_with_relative_command(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", want[600];
    const char *path = put("exec", "current-context: x\n"
                                   "contexts: [{name: x, context: {cluster: c, user: ci}}]\n"
                                   "clusters:\n"
                                   "- name: c\n"
                                   "  cluster:\n"
                                   "    server: https://h\n"
                                   "    extensions:\n"
                                   "    - {name: other, extension: {a: 1}}\n"
                                   "    - {name: client.authentication.k8s.io/exec, extension: {audience: x, n: 7}}\n"
                                   "users:\n"
                                   "- name: ci\n"
                                   "  user:\n"
                                   "    exec:\n"
                                   "      apiVersion: client.authentication.k8s.io/v1\n"
                                   "      command: bin/get-token\n"
                                   "      args: [--cluster, c]\n"
                                   "      env: [{name: A, value: '1'}, {name: EMPTY}]\n"
                                   "      interactiveMode: IfAvailable\n"
                                   "      provideClusterInfo: true\n"
                                   "      installHint: get it from the wiki\n");
    if (kube_config_load_file(&c, path, NULL, err, sizeof err))
        fail_msg("%s", err);
    assert_non_null(c.exec);
    assert_null(c.token);
    snprintf(want, sizeof want, "%s/bin/get-token", dir);
    assert_string_equal(c.exec->command, want);
    assert_string_equal(c.exec->api_version, "client.authentication.k8s.io/v1");
    assert_string_equal(c.exec->args[0], "--cluster");
    assert_string_equal(c.exec->args[1], "c");
    assert_null(c.exec->args[2]);
    assert_string_equal(c.exec->env[0], "A=1");
    assert_string_equal(c.exec->env[1], "EMPTY=");
    assert_null(c.exec->env[2]);
    assert_true(c.exec->provide_cluster_info);
    assert_string_equal(c.exec->cluster_config, "{\"audience\":\"x\",\"n\":7}");
    assert_string_equal(c.exec->install_hint, "get it from the wiki");
    snprintf(want, sizeof want, "%s: users[\"ci\"].user.exec", path);
    assert_string_equal(c.exec->where, want);
    kube_config_free(&c);

    /* A bare command is looked up in $PATH when it runs; v1beta1 needs no interactiveMode. */
    path = put("exec2", "current-context: x\n"
                        "contexts: [{name: x, context: {cluster: c, user: ci}}]\n"
                        "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                        "users: [{name: ci, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1,"
                        " command: aws-iam-authenticator}}}]\n");
    if (kube_config_load_file(&c, path, NULL, err, sizeof err))
        fail_msg("%s", err);
    assert_string_equal(c.exec->command, "aws-iam-authenticator");
    assert_null(c.exec->args[0]);
    assert_null(c.exec->cluster_config);
    kube_config_free(&c);
}

/* A kubeconfig whose user "ci" has `user_body` (flow-style YAML of the user mapping). */
static const char *user_kubeconfig(const char *user_body)
{
    char text[2048];
    snprintf(text, sizeof text,
             "current-context: x\n"
             "contexts: [{name: x, context: {cluster: c, user: ci}}]\n"
             "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
             "users: [{name: ci, user: %s}]\n",
             user_body);
    return put("user", text);
}

static void test_kubeconfig_refuses_exec_stanzas_client_go_refuses(void **state)
{
    (void)state;
    assert_refused(user_kubeconfig("{exec: {command: x}}"), NULL, "users[\"ci\"].user.exec.apiVersion: missing");
    assert_refused(user_kubeconfig("{exec: {command: x, apiVersion: client.authentication.k8s.io/v1alpha1}}"), NULL,
                   "exec.apiVersion: \"client.authentication.k8s.io/v1alpha1\" is not client.authentication.k8s.io/v1");
    assert_refused(user_kubeconfig("{exec: {apiVersion: client.authentication.k8s.io/v1beta1}}"), NULL,
                   "exec.command: missing");
    assert_refused(user_kubeconfig("{exec: {command: x, apiVersion: client.authentication.k8s.io/v1}}"), NULL,
                   "exec.interactiveMode: missing (required by client.authentication.k8s.io/v1");
    assert_refused(user_kubeconfig("{exec: {command: x, apiVersion: client.authentication.k8s.io/v1,"
                                   " interactiveMode: Always}}"),
                   NULL, "exec.interactiveMode: \"Always\" is not supported: flinkop runs plugins without a terminal");
    assert_refused(user_kubeconfig("{exec: {command: x, apiVersion: client.authentication.k8s.io/v1beta1,"
                                   " env: [{value: v}]}}"),
                   NULL, "exec.env[0].name: missing");
    assert_refused(user_kubeconfig("{exec: {command: x, apiVersion: client.authentication.k8s.io/v1beta1,"
                                   " args: [ok, [2]]}}"),
                   NULL, "exec.args[1]: must be a string");
    assert_refused(user_kubeconfig("{token: " TOKEN ", exec: {command: x,"
                                   " apiVersion: client.authentication.k8s.io/v1beta1}}"),
                   NULL, "users[\"ci\"].user.exec: cannot be combined with token in the same user");
}

static void test_kubeconfig_errors_never_contain_the_token(void **state)
{
    (void)state;
    /* bad base64, a token that is not a string, an unterminated quote around the token, a bad server */
    const char *p = put("badb64", "current-context: x\n"
                                  "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                                  "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                                  "users: [{name: u, user: {token: " TOKEN ", client-certificate-data: '%%%',"
                                  " client-key-data: '%%%'}}]\n");
    assert_refused(p, NULL, "users[\"u\"].user.client-certificate-data: not base64-encoded PEM");
    p = put("numtok", "current-context: x\n"
                                  "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                                  "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                                  "users: [{name: u, user: {token: [" TOKEN "]}}]\n");
    assert_refused(p, NULL, "users[\"u\"].user.token: must be a string");
    p = put("quote", "current-context: x\nusers: [{name: u, user: {token: \"" TOKEN "\n");
    assert_refused(p, NULL, "quote");
    p = put("badserver", "current-context: x\n"
                         "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                         "clusters: [{name: c, cluster: {server: 'h:1'}}]\n"
                         "users: [{name: u, user: {token: " TOKEN "}}]\n");
    assert_refused(p, NULL, "server: \"h:1\" is not an http(s):// URL");
    p = put("emptytokfile", "current-context: x\n"
                            "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                            "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
                            "users: [{name: u, user: {tokenFile: missing-token}}]\n");
    assert_refused(p, NULL, "missing-token: cannot read");
}

/* Writes the service-account files of a pod into the temp dir and points the env at a service. */
static void put_service_account(const char *host)
{
    put("token", TOKEN "\n");
    put("ca.crt", CA_PEM);
    put("namespace", "flink-ops\n");
    setenv("KUBERNETES_SERVICE_HOST", host, 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
}

static void test_in_cluster_reads_service_account_dir(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", want[600];
    put_service_account("10.96.0.1");
    assert_int_equal(kube_config_load_in_cluster(&c, dir, err, sizeof err), 0);
    assert_string_equal(c.server, "https://10.96.0.1:443");
    assert_string_equal(c.namespace, "flink-ops");
    snprintf(want, sizeof want, "%s/ca.crt", dir);
    assert_string_equal(c.ca_file, want);
    assert_string_equal(kube_config_token(&c, time(NULL), err, sizeof err), TOKEN);
    kube_config_free(&c);

    put_service_account("fd00::1");
    assert_int_equal(kube_config_load_in_cluster(&c, dir, err, sizeof err), 0);
    assert_string_equal(c.server, "https://[fd00::1]:443");
    kube_config_free(&c);
}

static void test_in_cluster_names_what_is_missing(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", want[600];
    put_service_account("10.96.0.1");
    unsetenv("KUBERNETES_SERVICE_PORT");
    assert_int_equal(kube_config_load_in_cluster(&c, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "KUBERNETES_SERVICE_PORT"));
    put_service_account("10.96.0.1");
    snprintf(want, sizeof want, "%s/ca.crt", dir);
    unlink(want);
    assert_int_equal(kube_config_load_in_cluster(&c, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, want));
    put_service_account("10.96.0.1");
    put("token", "\n");
    assert_int_equal(kube_config_load_in_cluster(&c, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "token: empty token"));
}

/* The token file's limit is exact: 64 KiB is read, one byte more is refused with the limit named. */
static void test_in_cluster_refuses_a_token_file_over_64_KiB(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "";
    size_t max = (size_t)64 << 10;
    char *big = malloc(max + 2);
    assert_non_null(big);
    memset(big, 'a', max + 1);
    big[max + 1] = '\0';
    put_service_account("10.96.0.1");
    put("token", big);
    assert_int_equal(kube_config_load_in_cluster(&c, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "token: larger than 65536 bytes"));

    big[max] = '\0';
    put("token", big);
    assert_int_equal(kube_config_load_in_cluster(&c, dir, err, sizeof err), 0);
    assert_string_equal(kube_config_token(&c, time(NULL), err, sizeof err), big);
    kube_config_free(&c);
    free(big);
}

static void test_token_file_is_reread_after_it_changes(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", path[600];
    put_service_account("10.96.0.1");
    assert_int_equal(kube_config_load_in_cluster(&c, dir, err, sizeof err), 0);
    time_t t = time(NULL) + 100;
    assert_string_equal(kube_config_token(&c, t, err, sizeof err), TOKEN);
    /* Rotate the way kubelet does: a new file renamed over the old one. */
    put("token.new", "rotated-token-2\n");
    snprintf(path, sizeof path, "%s/token", dir);
    char newpath[600];
    snprintf(newpath, sizeof newpath, "%s/token.new", dir);
    assert_int_equal(rename(newpath, path), 0);
    assert_string_equal(kube_config_token(&c, t + 5, err, sizeof err), TOKEN); /* not re-checked yet */
    assert_string_equal(kube_config_token(&c, t + 10, err, sizeof err), "rotated-token-2");
    /* A token file that disappears keeps the last good token. */
    unlink(path);
    assert_string_equal(kube_config_token(&c, t + 30, err, sizeof err), "rotated-token-2");
    assert_string_equal(err, "");
    kube_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kubeconfig_reads_inline_data_of_current_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_context_flag_picks_another_context_with_relative_paths,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_env_list_first_context_and_first_definition_win, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_kubeconfig_env_list_skips_missing_files_but_names_them_when_all_are_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_explicit_file_is_read_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_env_list_stops_at_a_broken_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_refuses_insecure_skip_tls_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_names_file_and_missing_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_reads_exec_stanza_with_relative_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_refuses_exec_stanzas_client_go_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_errors_never_contain_the_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_reads_service_account_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_names_what_is_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_refuses_a_token_file_over_64_KiB, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_is_reread_after_it_changes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
