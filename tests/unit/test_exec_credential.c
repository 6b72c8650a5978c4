/* exec_credential: what a credential plugin prints, what it is told, and running it: real shell scripts as
 * plugins, run as child processes on libev's default loop. Certificates come from the openssl command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "exec_credential.h"
#include "kubeconfig.h"

#include "../loop_until.h"
#include "../scratch_dir.h"

#define V1 "client.authentication.k8s.io/v1"
#define V1BETA1 "client.authentication.k8s.io/v1beta1"
#define SECRET "s3cr3t-plugin-T0KEN"
#define INFO_PLAIN "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}"
#define CA_PEM "-----BEGIN CERTIFICATE-----\nQ0FDQUNB\n-----END CERTIFICATE-----\n"

static char dir[256];
static char *cert_pem, *key_pem, *other_key_pem;

/* ---- helpers ---- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Writes DIR/name (mode 0755 when it is a script) and returns its path (static buffer, one per call site use). */
static const char *put(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, text[0] == '#' ? 0755 : 0644);
    return path;
}

/* A script that appends a line to DIR/runs on every run, then runs `body`. */
static const char *plugin(const char *name, const char *body)
{
    char text[4096];
    snprintf(text, sizeof text, "#!/bin/sh\necho run >> '%s/runs'\n%s\n", dir, body);
    return put(name, text);
}

static int runs_on_disk(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/runs", dir);
    char *t = slurp(path);
    int n = 0;
    for (char *p = t; p && *p; p++)
        n += *p == '\n';
    free(t);
    return n;
}

/* Loads a kubeconfig whose user "ci" runs `command` (apiVersion v1); `extra` lines go into the exec mapping. */
static void load(struct kube_config *c, const char *command, const char *extra)
{
    char text[4096], err[512] = "";
    snprintf(text, sizeof text,
             "current-context: x\n"
             "contexts: [{name: x, context: {cluster: c, user: ci}}]\n"
             "clusters:\n"
             "- name: c\n"
             "  cluster:\n"
             "    server: https://127.0.0.1:6443\n"
             "    certificate-authority: ca.crt\n"
             "    extensions: [{name: client.authentication.k8s.io/exec, extension: {big: 1000000000000000}}]\n"
             "users:\n"
             "- name: ci\n"
             "  user:\n"
             "    exec:\n"
             "      apiVersion: " V1 "\n"
             "      interactiveMode: Never\n"
             "      command: %s\n"
             "%s",
             command, extra);
    put("ca.crt", CA_PEM);
    const char *path = put("config", text);
    if (kube_config_load_file(c, path, NULL, err, sizeof err))
        fail_msg("%s", err);
}

struct seen {
    int runs_ended, ok;
    char err[2048];
};

static void on_run(void *ud, const struct exec_credential *cred, const char *err)
{
    struct seen *s = ud;
    s->runs_ended++;
    s->ok = cred != NULL;
    snprintf(s->err, sizeof s->err, "%s", err ? err : "");
}


static void assert_contains(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("\"%s\" does not contain \"%s\"", text, want);
}

/* ---- fixtures ---- */

static int group_setup(void **state)
{
    (void)state;
    if (scratch_dir_make(dir, sizeof dir, "exec") || scratch_dir_self_signed(dir, "c", "flinkop-exec-test") ||
        scratch_dir_run(dir, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out other.key"))
        return -1;
    char p[300];
    snprintf(p, sizeof p, "%s/c.crt", dir);
    cert_pem = slurp(p);
    snprintf(p, sizeof p, "%s/c.key", dir);
    key_pem = slurp(p);
    snprintf(p, sizeof p, "%s/other.key", dir);
    other_key_pem = slurp(p);
    return cert_pem && key_pem && other_key_pem ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    free(cert_pem);
    free(key_pem);
    free(other_key_pem);
    return scratch_dir_remove(dir);
}

/* Each test starts with no runs recorded. */
static int setup(void **state)
{
    (void)state;
    char p[300];
    snprintf(p, sizeof p, "%s/runs", dir);
    unlink(p);
    return 0;
}

/* ---- parsing ---- */

static void test_parse_reads_v1_token_and_rfc3339_expiry(void **state)
{
    (void)state;
    struct exec_credential c;
    char err[256] = "";
    const char *out = "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false},"
                      "\"status\":{\"token\":\"" SECRET "\",\"expirationTimestamp\":\"2030-01-02T03:04:05Z\"}}";
    assert_int_equal(exec_credential_parse(out, strlen(out), V1, &c, err, sizeof err), 0);
    assert_string_equal(c.token, SECRET);
    assert_null(c.cert_pem);
    assert_int_equal(c.expiry, 1893553445);
    exec_credential_free(&c);

    out = "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\","
          "\"expirationTimestamp\":\"2030-01-02T03:04:05.123456+02:00\"}}";
    assert_int_equal(exec_credential_parse(out, strlen(out), V1, &c, err, sizeof err), 0);
    assert_int_equal(c.expiry, 1893546245);
    exec_credential_free(&c);

    out = "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\","
          "\"expirationTimestamp\":\"1999-12-31T23:59:59-05:30\"}}";
    assert_int_equal(exec_credential_parse(out, strlen(out), V1, &c, err, sizeof err), 0);
    assert_int_equal(c.expiry, 946704599);
    exec_credential_free(&c);

    out = "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"t\"}}";
    assert_int_equal(exec_credential_parse(out, strlen(out), V1, &c, err, sizeof err), 0);
    assert_int_equal(c.expiry, 0); /* no expiry: kept until a 401 */
    exec_credential_free(&c);
}

static void test_parse_reads_v1beta1_client_certificate(void **state)
{
    (void)state;
    struct exec_credential c;
    char err[256] = "";
    cJSON *root = cJSON_CreateObject(), *st = cJSON_AddObjectToObject(root, "status");
    cJSON_AddStringToObject(root, "apiVersion", V1BETA1);
    cJSON_AddStringToObject(root, "kind", "ExecCredential");
    cJSON_AddStringToObject(st, "clientCertificateData", cert_pem);
    cJSON_AddStringToObject(st, "clientKeyData", key_pem);
    char *out = cJSON_PrintUnformatted(root);
    if (exec_credential_parse(out, strlen(out), V1BETA1, &c, err, sizeof err))
        fail_msg("%s", err);
    assert_null(c.token);
    assert_string_equal(c.cert_pem, cert_pem);
    assert_int_equal(c.cert_pem_len, strlen(cert_pem));
    assert_string_equal(c.key_pem, key_pem);
    exec_credential_free(&c);
    free(out);

    /* A key that is not the certificate's is refused now, not as a TLS failure later. */
    cJSON_ReplaceItemInObject(st, "clientKeyData", cJSON_CreateString(other_key_pem));
    out = cJSON_PrintUnformatted(root);
    assert_int_equal(exec_credential_parse(out, strlen(out), V1BETA1, &c, err, sizeof err), -1);
    assert_string_equal(err, "status.clientKeyData: not the key of status.clientCertificateData");
    free(out);
    cJSON_Delete(root);
}

static void test_parse_refuses_what_client_go_refuses_without_echoing_the_output(void **state)
{
    (void)state;
    static const struct {
        const char *out, *want;
    } cases[] = {
        {"", "printed nothing on standard output"},
        {"token: " SECRET "\n", "standard output is not a JSON object"},
        {"{\"apiVersion\":\"" V1 "\",\"status\":{\"token\":\"" SECRET "\"}}", "not an ExecCredential (kind)"},
        {"{\"apiVersion\":\"" V1BETA1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" SECRET "\"}}",
         "apiVersion \"" V1BETA1 "\" is not the configured " V1},
        {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\"}", "no status in the ExecCredential"},
        {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{}}",
         "status: no token and no clientCertificateData/clientKeyData"},
        {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":[\"" SECRET "\"]}}",
         "status.token: must be a string"},
        {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"clientKeyData\":\"k\"}}",
         "status: clientKeyData without clientCertificateData"},
        {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"c\","
         "\"clientKeyData\":\"k\"}}",
         "status.clientCertificateData: not a PEM certificate"},
        {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" SECRET "\","
         "\"expirationTimestamp\":\"tomorrow\"}}",
         "status.expirationTimestamp: \"tomorrow\" is not an RFC 3339 time"},
        {"{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"" SECRET "\","
         "\"expirationTimestamp\":\"2030-01-02 03:04:05Z\"}}",
         "is not an RFC 3339 time"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct exec_credential c;
        char err[256] = "";
        assert_int_equal(exec_credential_parse(cases[i].out, strlen(cases[i].out), V1, &c, err, sizeof err), -1);
        assert_contains(err, cases[i].want);
        assert_null(strstr(err, SECRET));
        assert_null(c.token);
    }
}

/* ---- what the plugin is told ---- */

static void test_exec_info_is_not_interactive_and_has_the_cluster_only_when_asked(void **state)
{
    (void)state;
    struct kube_config c;
    char err[256] = "";
    load(&c, "/bin/true", "");
    char *info = exec_credential_info(&c, err, sizeof err);
    assert_string_equal(info, INFO_PLAIN);
    free(info);
    kube_config_free(&c);

    load(&c, "/bin/true", "      provideClusterInfo: true\n");
    info = exec_credential_info(&c, err, sizeof err);
    assert_non_null(info);
    cJSON *j = cJSON_Parse(info);
    const cJSON *cl = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "cluster");
    assert_string_equal(cJSON_GetObjectItem(cl, "server")->valuestring, "https://127.0.0.1:6443");
    /* base64 of CA_PEM, read from the certificate-authority file */
    assert_string_equal(cJSON_GetObjectItem(cl, "certificate-authority-data")->valuestring,
                        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClEwRkRRVU5CCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K");
    /* The extension's numbers are written exactly (cJSON would print 1e+15). */
    assert_non_null(strstr(info, "\"config\":{\"big\":1000000000000000}"));
    cJSON_Delete(j);
    free(info);
    kube_config_free(&c);
}

/* ---- running it ---- */

#define PRINT_TOKEN(tok) \
    "printf '{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"}}\\n' " tok

/* One plugin under test: the kubeconfig, the source, what its runs reported. */
struct fixture {
    struct kube_config cfg;
    struct exec_plugin *p;
    struct seen s;
    unsigned gen;
    char err[1024];
};

/* A source for user "ci" whose plugin is the script `name` running `body`; `extra` goes into the exec mapping. */
static void start(struct fixture *f, const char *name, const char *body, const char *extra, double timeout_s)
{
    memset(f, 0, sizeof *f);
    load(&f->cfg, plugin(name, body), extra);
    f->p = exec_plugin_new(ev_default_loop(0), &f->cfg, timeout_s, on_run, &f->s, f->err, sizeof f->err);
    if (!f->p)
        fail_msg("%s", f->err);
}

static void stop(struct fixture *f)
{
    exec_plugin_free(f->p);
    kube_config_free(&f->cfg);
}

/* exec_plugin_get, which must answer `want`; returns the credential when READY. */
static const struct exec_credential *get(struct fixture *f, enum exec_plugin_state want)
{
    const struct exec_credential *cred;
    f->err[0] = '\0';
    enum exec_plugin_state got = exec_plugin_get(f->p, &cred, &f->gen, f->err, sizeof f->err);
    if (got != want)
        fail_msg("exec_plugin_get gave %d, want %d (%s)", got, want, f->err);
    return cred;
}

/* Asks for a credential, which starts a run, and waits for run number `n` to end. */
static void run(struct fixture *f, int n)
{
    get(f, EXEC_PLUGIN_PENDING);
    loop_until(ev_default_loop(0), &f->s.runs_ended, n, 10);
    assert_int_equal(f->s.runs_ended, n);
}

static void test_plugin_runs_once_for_waiting_callers_with_env_args_and_exec_info(void **state)
{
    (void)state;
    struct fixture f;
    char path[300];
    setenv("FOO", "ours", 1); /* the plugin's env wins over ours */
    start(&f, "ok.sh",
          "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$(dirname \"$0\")/info\"\n" PRINT_TOKEN("\"tok-$1-$FOO\""),
          "      args: [first, second]\n      env: [{name: FOO, value: theirs}]\n", 5);
    unsetenv("FOO");
    get(&f, EXEC_PLUGIN_PENDING);
    get(&f, EXEC_PLUGIN_PENDING);
    run(&f, 1);
    assert_true(f.s.ok);
    assert_string_equal(get(&f, EXEC_PLUGIN_READY)->token, "tok-first-theirs");
    get(&f, EXEC_PLUGIN_READY);
    assert_int_equal(runs_on_disk(), 1);
    assert_int_equal(exec_plugin_runs(f.p), 1);
    snprintf(path, sizeof path, "%s/info", dir);
    char *info = slurp(path);
    assert_string_equal(info, INFO_PLAIN);
    free(info);
    stop(&f);
}

static void test_plugin_runs_again_once_the_credential_expires(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "expiring.sh",
          "exp=$(date -u -d \"@$(( $(date +%s) + 2 ))\" +%Y-%m-%dT%H:%M:%SZ)\n"
          "printf '{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\","
          "\"status\":{\"token\":\"t\",\"expirationTimestamp\":\"%s\"}}' \"$exp\"",
          "", 5);
    run(&f, 1);
    time_t expiry = get(&f, EXEC_PLUGIN_READY)->expiry;
    assert_true(expiry >= time(NULL) && expiry <= time(NULL) + 3);
    assert_int_equal(runs_on_disk(), 1);
    while (time(NULL) < expiry) {
        int never = 0;
        loop_until(ev_default_loop(0), &never, 1, 0.2);
    }
    run(&f, 2);
    get(&f, EXEC_PLUGIN_READY);
    assert_int_equal(runs_on_disk(), 2);
    stop(&f);
}

static void test_plugin_runs_once_per_rejected_credential(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "reject.sh", PRINT_TOKEN("\"t$(wc -l < \"$(dirname \"$0\")/runs\")\""), "", 5);
    run(&f, 1);
    assert_string_equal(get(&f, EXEC_PLUGIN_READY)->token, "t1");
    unsigned first = f.gen;
    /* A burst of 401s for one credential: one run. */
    for (int i = 0; i < 5; i++)
        exec_plugin_reject(f.p, first);
    get(&f, EXEC_PLUGIN_PENDING);
    exec_plugin_reject(f.p, first);
    loop_until(ev_default_loop(0), &f.s.runs_ended, 2, 10);
    assert_string_equal(get(&f, EXEC_PLUGIN_READY)->token, "t2");
    assert_true(f.gen != first);
    /* A late 401 to the old credential changes nothing. */
    exec_plugin_reject(f.p, first);
    get(&f, EXEC_PLUGIN_READY);
    assert_int_equal(runs_on_disk(), 2);
    stop(&f);
}

static void test_plugin_failure_names_file_user_command_and_first_stderr_line(void **state)
{
    (void)state;
    struct fixture f;
    char want[1024];
    start(&f, "fail.sh", "echo 'token service unavailable' >&2\necho 'second line' >&2\nexit 3", "", 5);
    run(&f, 1);
    assert_false(f.s.ok);
    snprintf(want, sizeof want,
             "%s/config: users[\"ci\"].user.exec: %s/fail.sh exited with status 3 (stderr: token service unavailable)",
             dir, dir);
    assert_string_equal(f.s.err, want);
    /* Callers right after a failure get it at once; the plugin is not run again before the retry delay. */
    get(&f, EXEC_PLUGIN_FAILED);
    assert_string_equal(f.err, want);
    assert_int_equal(runs_on_disk(), 1);
    /* After the delay (1 s for a first failure) it runs again. */
    int never = 0;
    loop_until(ev_default_loop(0), &never, 1, 1.1);
    run(&f, 2);
    assert_int_equal(runs_on_disk(), 2);
    stop(&f);
}

static void test_plugin_output_and_token_never_reach_the_message(void **state)
{
    (void)state;
    struct fixture f;
    /* Not JSON: the message says so without quoting what was printed. */
    start(&f, "notjson.sh", "echo 'token: " SECRET "'", "", 5);
    run(&f, 1);
    assert_contains(f.s.err, "notjson.sh printed no valid ExecCredential: standard output is not a JSON object");
    assert_null(strstr(f.s.err, SECRET));
    stop(&f);

    /* A plugin that fails after printing its token, and echoes the token on standard error. */
    start(&f, "leaky.sh", PRINT_TOKEN("'" SECRET "'") "\necho \"refused " SECRET " for now\" >&2\nexit 1", "", 5);
    run(&f, 1);
    assert_contains(f.s.err, "leaky.sh exited with status 1 (stderr: refused [redacted] for now)");
    assert_null(strstr(f.s.err, SECRET));
    stop(&f);
}

/* The state letter of /proc/PID/stat, or 0 when the process is gone. */
static char proc_state(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' ? rp[2] : 0;
}

/* Whether the sleep the script started (its pid in DIR/sleep.pid) has died, within two seconds. */
static int sleep_child_died(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/sleep.pid", dir);
    char *t = slurp(path);
    long pid = t ? atol(t) : 0;
    free(t);
    for (int i = 0; pid > 0 && i < 20; i++) {
        char st = proc_state(pid);
        if (st == 0 || st == 'Z')
            return 1;
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    return 0;
}

#define SLEEPER "sleep 30 &\necho $! > \"$(dirname \"$0\")/sleep.pid\"\nwait"

static void test_plugin_past_its_timeout_is_killed_with_what_it_started(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "slow.sh", "echo 'asking the IdP' >&2\n" SLEEPER, "", 0.5);
    time_t t0 = time(NULL);
    run(&f, 1);
    assert_true(time(NULL) - t0 <= 3);
    assert_contains(f.s.err, "slow.sh timed out after 0.5 s and was killed (stderr: asking the IdP)");
    assert_true(sleep_child_died());
    stop(&f);
}

static void test_plugin_free_while_running_kills_it(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "cancelled.sh", SLEEPER, "", 30);
    get(&f, EXEC_PLUGIN_PENDING);
    int never = 0;
    loop_until(ev_default_loop(0), &never, 1, 0.3); /* let the script start its sleep */
    time_t t0 = time(NULL);
    stop(&f);
    assert_true(time(NULL) - t0 <= 1);
    assert_int_equal(f.s.runs_ended, 0);
    assert_true(sleep_child_died());
}

static void test_plugin_not_found_fails_at_once_with_the_install_hint(void **state)
{
    (void)state;
    struct fixture f;
    char want[1024];
    memset(&f, 0, sizeof f);
    load(&f.cfg, "bin/no-such-plugin", "      installHint: |\n        run make plugin\n        second line\n");
    f.p = exec_plugin_new(ev_default_loop(0), &f.cfg, 5, on_run, &f.s, f.err, sizeof f.err);
    get(&f, EXEC_PLUGIN_FAILED);
    snprintf(want, sizeof want,
             "%s/config: users[\"ci\"].user.exec: %s/bin/no-such-plugin: not found (installHint: run make plugin)", dir,
             dir);
    assert_string_equal(f.err, want);
    stop(&f);
}

static void test_plugin_giving_an_expired_credential_is_a_failure(void **state)
{
    (void)state;
    struct fixture f;
    start(&f, "stale.sh",
          "printf '{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":"
          "{\"token\":\"t\",\"expirationTimestamp\":\"2001-01-01T00:00:00Z\"}}'",
          "", 5);
    run(&f, 1);
    assert_false(f.s.ok);
    assert_contains(f.s.err, "stale.sh printed no valid ExecCredential: status.expirationTimestamp has already passed");
    stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_reads_v1_token_and_rfc3339_expiry),
        cmocka_unit_test(test_parse_reads_v1beta1_client_certificate),
        cmocka_unit_test(test_parse_refuses_what_client_go_refuses_without_echoing_the_output),
        cmocka_unit_test(test_exec_info_is_not_interactive_and_has_the_cluster_only_when_asked),
        cmocka_unit_test_setup(test_plugin_runs_once_for_waiting_callers_with_env_args_and_exec_info, setup),
        cmocka_unit_test_setup(test_plugin_runs_again_once_the_credential_expires, setup),
        cmocka_unit_test_setup(test_plugin_runs_once_per_rejected_credential, setup),
        cmocka_unit_test_setup(test_plugin_failure_names_file_user_command_and_first_stderr_line, setup),
        cmocka_unit_test_setup(test_plugin_output_and_token_never_reach_the_message, setup),
        cmocka_unit_test_setup(test_plugin_past_its_timeout_is_killed_with_what_it_started, setup),
        cmocka_unit_test_setup(test_plugin_free_while_running_kills_it, setup),
        cmocka_unit_test_setup(test_plugin_not_found_fails_at_once_with_the_install_hint, setup),
        cmocka_unit_test_setup(test_plugin_giving_an_expired_credential_is_a_failure, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
