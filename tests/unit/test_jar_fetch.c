/* Session jobs' jars: URI schemes, file names and file:// paths, the configuration from the environment, the checks
 * of an operator's own file, and real downloads from python3's http.server on 127.0.0.1 (a file, a 404, the size
 * cap, a refused connection). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "jar_fetch.h"

static void test_schemes_are_told_apart(void **state)
{
    (void)state;
    assert_int_equal(jar_fetch_scheme("https://repo1.maven.org/x.jar"), JAR_SCHEME_HTTP);
    assert_int_equal(jar_fetch_scheme("HTTP://h/x.jar"), JAR_SCHEME_HTTP);
    assert_int_equal(jar_fetch_scheme("file:///opt/x.jar"), JAR_SCHEME_FILE);
    assert_int_equal(jar_fetch_scheme("s3://bucket/x.jar"), JAR_SCHEME_OTHER);
    assert_int_equal(jar_fetch_scheme("local:///opt/flink/x.jar"), JAR_SCHEME_OTHER);
    assert_int_equal(jar_fetch_scheme("httpx://h/x.jar"), JAR_SCHEME_OTHER);
    assert_int_equal(jar_fetch_scheme(NULL), JAR_SCHEME_OTHER);
}

static void test_a_jar_is_named_by_the_last_segment_without_query(void **state)
{
    (void)state;
    char name[32];
    assert_int_equal(jar_fetch_name("https://h/a/b/app-1.0.jar?token=s#f", name, sizeof name), 0);
    assert_string_equal(name, "app-1.0.jar");
    assert_int_equal(jar_fetch_name("file:///x.jar", name, sizeof name), 0);
    assert_string_equal(name, "x.jar");
    assert_int_equal(jar_fetch_name("https://h/a/", name, sizeof name), -1);
    assert_int_equal(jar_fetch_name("https://h/a/a-name-longer-than-thirty-two-bytes.jar", name, sizeof name), -1);
}

static void test_messages_show_no_password_or_token_of_a_uri(void **state)
{
    (void)state;
    char shown[64];
    jar_fetch_shown("https://user:pw@repo.example/a/app.jar?token=s#x", shown, sizeof shown);
    assert_string_equal(shown, "https://repo.example/a/app.jar");
    jar_fetch_shown("http://repo.example/a@b/app.jar", shown, sizeof shown);
    assert_string_equal(shown, "http://repo.example/a@b/app.jar");
    jar_fetch_shown("s3://bucket/app.jar", shown, sizeof shown);
    assert_string_equal(shown, "s3://bucket/app.jar");
}

static void test_a_file_uri_is_a_local_absolute_path(void **state)
{
    (void)state;
    char path[64], err[128];
    assert_int_equal(jar_fetch_local_path("file:///opt/my%20jobs/a.jar", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/opt/my jobs/a.jar");
    assert_int_equal(jar_fetch_local_path("file://localhost/opt/a.jar", path, sizeof path, err, sizeof err), 0);
    assert_string_equal(path, "/opt/a.jar");
    assert_int_equal(jar_fetch_local_path("file://other-host/opt/a.jar", path, sizeof path, err, sizeof err), -1);
    assert_non_null(strstr(err, "operator's own host"));
    assert_int_equal(jar_fetch_local_path("file:///a%00.jar", path, sizeof path, err, sizeof err), -1);
    assert_int_equal(jar_fetch_local_path("file:///a%zz.jar", path, sizeof path, err, sizeof err), -1);
}

static void test_the_jar_directory_and_cap_come_from_the_environment(void **state)
{
    (void)state;
    struct jar_fetch_config c;
    char err[256];
    setenv("FLINKOP_JAR_DIR", "/var/cache/jars", 1);
    unsetenv("FLINKOP_JAR_MAX_BYTES");
    assert_int_equal(jar_fetch_config_env(&c, err, sizeof err), 0);
    assert_string_equal(c.dir, "/var/cache/jars");
    assert_true(c.max_bytes == JAR_FETCH_DEFAULT_MAX_BYTES);
    setenv("FLINKOP_JAR_MAX_BYTES", "1024", 1);
    assert_int_equal(jar_fetch_config_env(&c, err, sizeof err), 0);
    assert_true(c.max_bytes == 1024);
    setenv("FLINKOP_JAR_MAX_BYTES", "10MiB", 1);
    assert_int_equal(jar_fetch_config_env(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "FLINKOP_JAR_MAX_BYTES"));
    unsetenv("FLINKOP_JAR_MAX_BYTES");
    setenv("FLINKOP_JAR_DIR", "relative/dir", 1);
    assert_int_equal(jar_fetch_config_env(&c, err, sizeof err), -1);
    assert_non_null(strstr(err, "FLINKOP_JAR_DIR"));
    unsetenv("FLINKOP_JAR_DIR");
}

/* ---- files and downloads ---- */

static char dir[64];
static pid_t server;
static int port;

static void write_file(const char *name, size_t bytes)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < bytes; i++)
        fputc((int)(i * 7 % 251), f);
    fclose(f);
}

/* A port nobody listens on right now, which python3 then takes (or a refused connection when it is kept free). */
static int unused_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int p = fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof a) && !getsockname(fd, (struct sockaddr *)&a, &al)
                ? ntohs(a.sin_port) : -1;
    close(fd);
    return p;
}

static int listening(int p)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

static int files_setup(void **state)
{
    (void)state;
    char ps[16];
    snprintf(dir, sizeof dir, "/tmp/flinkop-jars-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    port = unused_port();
    snprintf(ps, sizeof ps, "%d", port);
    if ((server = fork()) == 0) {
        if (freopen("/dev/null", "w", stderr) == NULL || freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execlp("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir, ps, NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !listening(port); i++)
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    if (!listening(port)) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
        server = 0;
    }
    return 0;
}

static int files_teardown(void **state)
{
    (void)state;
    char cmd[128];
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_an_operator_file_is_checked_before_it_is_sent(void **state)
{
    (void)state;
    struct jar_fetch_config c = {.max_bytes = 1000};
    char uri[128], path[128], err[512];
    write_file("small.jar", 1000);
    write_file("big.jar", 1001);
    write_file("token", 10);
    snprintf(uri, sizeof uri, "file://%s/small.jar", dir);
    assert_int_equal(jar_fetch_local(&c, uri, path, sizeof path, err, sizeof err), 0);
    snprintf(uri, sizeof uri, "file://%s/big.jar", dir);
    assert_int_equal(jar_fetch_local(&c, uri, path, sizeof path, err, sizeof err), -1);
    assert_non_null(strstr(err, "the jar is 1001 bytes, more than the cap of 1000 bytes"));
    snprintf(uri, sizeof uri, "file://%s/token", dir);
    assert_int_equal(jar_fetch_local(&c, uri, path, sizeof path, err, sizeof err), -1);
    assert_non_null(strstr(err, "only a file whose name ends in .jar"));
    snprintf(uri, sizeof uri, "file://%s/missing.jar", dir);
    assert_int_equal(jar_fetch_local(&c, uri, path, sizeof path, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
}

struct fetched {
    int done;
    long long bytes;
    char path[256], error[512];
};

static void on_fetched(void *ud, const char *path, long long bytes, const char *error)
{
    struct fetched *f = ud;
    f->done = 1;
    f->bytes = bytes;
    snprintf(f->path, sizeof f->path, "%s", path ? path : "");
    snprintf(f->error, sizeof f->error, "%s", error ? error : "");
}

/* Downloads uri into dir/dl with the cap, on a loop of its own, within 20 s. */
static void fetch(const char *uri, long long cap, struct fetched *f)
{
    struct ev_loop *loop = ev_loop_new(0);
    char err[512];
    struct http_client *http = http_client_new(loop, err, sizeof err);
    struct jar_fetch_config c = {.max_bytes = cap};
    snprintf(c.dir, sizeof c.dir, "%s/dl", dir);
    mkdir(c.dir, 0700);
    memset(f, 0, sizeof *f);
    struct jar_fetch *j = jar_fetch_start(http, &c, uri, on_fetched, f, err, sizeof err);
    assert_non_null(j);
    assert_int_equal(f->done, 0); /* never before start returns */
    for (time_t t0 = time(NULL); !f->done && time(NULL) - t0 < 20;)
        ev_run(loop, EVRUN_ONCE);
    assert_int_equal(f->done, 1);
    http_client_free(http);
    ev_loop_destroy(loop);
}

/* 0 when the downloads left no file in dir/dl, else 1. */
static int left_in_download_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s/dl' | wc -l) -eq 0", dir);
    return system(cmd) == 0 ? 0 : 1;
}

static void test_a_download_streams_the_jar_to_a_file(void **state)
{
    (void)state;
    char uri[128], cmd[512];
    struct fetched f;
    if (server <= 0)
        skip();
    write_file("app.jar", 300000);
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/app.jar", port);
    fetch(uri, 1 << 20, &f);
    assert_string_equal(f.error, "");
    assert_true(f.bytes == 300000);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s/app.jar'", f.path, dir);
    assert_int_equal(system(cmd), 0);
    unlink(f.path);
}

static void test_a_failed_download_names_the_url_and_why_and_leaves_no_file(void **state)
{
    (void)state;
    char uri[128], want[256];
    struct fetched f;
    if (server <= 0)
        skip();
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/missing.jar?token=secret", port);
    fetch(uri, 1 << 20, &f);
    snprintf(want, sizeof want, "GET http://127.0.0.1:%d/missing.jar: HTTP 404", port);
    assert_string_equal(f.error, want);
    assert_int_equal(left_in_download_dir(), 0);

    write_file("huge.jar", 200000);
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/huge.jar", port);
    fetch(uri, 100000, &f);
    assert_non_null(strstr(f.error, "the jar is larger than the cap of 100000 bytes"));
    assert_int_equal(left_in_download_dir(), 0);

    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/app.jar", unused_port());
    fetch(uri, 1 << 20, &f);
    snprintf(want, sizeof want, "GET %s: ", uri);
    assert_memory_equal(f.error, want, strlen(want));
    assert_non_null(strstr(f.error, "onnect"));
    assert_int_equal(left_in_download_dir(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schemes_are_told_apart),
        cmocka_unit_test(test_a_jar_is_named_by_the_last_segment_without_query),
        cmocka_unit_test(test_messages_show_no_password_or_token_of_a_uri),
        cmocka_unit_test(test_a_file_uri_is_a_local_absolute_path),
        cmocka_unit_test(test_the_jar_directory_and_cap_come_from_the_environment),
        cmocka_unit_test(test_an_operator_file_is_checked_before_it_is_sent),
        cmocka_unit_test(test_a_download_streams_the_jar_to_a_file),
        cmocka_unit_test(test_a_failed_download_names_the_url_and_why_and_leaves_no_file),
    };
    return cmocka_run_group_tests(tests, files_setup, files_teardown);
}
