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

static void test_kubeconfig_env_uses_first_file_of_list(void **state)
{
    (void)state;
    struct kube_config c;
    char err[512] = "", env[700];
    const char *path = write_kubeconfig("", "");
    snprintf(env, sizeof env, ":%s:/nonexistent/second", path);
    setenv("KUBECONFIG", env, 1);
    int rc = kube_config_load_file(&c, NULL, NULL, err, sizeof err);
    unsetenv("KUBECONFIG");
    assert_int_equal(rc, 0);
    assert_string_equal(c.context, "one");
    kube_config_free(&c);
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

static void test_kubeconfig_refuses_exec_plugin_clearly(void **state)
{
    (void)state;
    const char *path = write_kubeconfig("", "    token: " TOKEN "\n    exec: {command: aws, apiVersion: x}\n");
    assert_refused(path, NULL, "users[\"u1\"].user.exec: exec credential plugins are not supported yet");
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
        cmocka_unit_test_setup_teardown(test_kubeconfig_env_uses_first_file_of_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_refuses_insecure_skip_tls_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_names_file_and_missing_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_refuses_exec_plugin_clearly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubeconfig_errors_never_contain_the_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_reads_service_account_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster_names_what_is_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_is_reread_after_it_changes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
