/* http and kube transport: the watch line splitter, Retry-After, request verbs, and real requests against local
 * servers started by the test (openssl s_server with a CA made here for TLS; a python3 HTTP server for retries
 * and watch streams). No network beyond 127.0.0.1. */
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
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "kube.h"

#include "../loop_until.h"
#include "../scratch_dir.h"

/* ---- line splitter ---- */

struct lines_seen {
    char got[16][64];
    int n;
    int stop_after;
};

static int lines_collect(void *ud, char *line, size_t len)
{
    struct lines_seen *s = ud;
    assert_int_equal(strlen(line), len);
    assert_true(s->n < 16);
    snprintf(s->got[s->n++], sizeof s->got[0], "%s", line);
    return s->stop_after && s->n >= s->stop_after;
}

static void test_lines_joins_a_line_split_across_chunks(void **state)
{
    (void)state;
    struct http_lines l;
    struct lines_seen s = {0};
    char err[128];
    http_lines_init(&l, 0);
    assert_int_equal(http_lines_feed(&l, "{\"type\":\"ADD", 12, lines_collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(http_lines_feed(&l, "ED\"}", 4, lines_collect, &s, err, sizeof err), 0);
    assert_int_equal(http_lines_feed(&l, "\n", 1, lines_collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.got[0], "{\"type\":\"ADDED\"}");
    http_lines_free(&l);
}

static void test_lines_delivers_several_lines_of_one_chunk(void **state)
{
    (void)state;
    struct http_lines l;
    struct lines_seen s = {0};
    char err[128];
    const char *chunk = "one\ntwo\r\n\n\r\nthree\nfour-part";
    http_lines_init(&l, 0);
    assert_int_equal(http_lines_feed(&l, chunk, strlen(chunk), lines_collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.got[0], "one");
    assert_string_equal(s.got[1], "two");
    assert_string_equal(s.got[2], "three");
    assert_int_equal(http_lines_finish(&l, lines_collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.got[3], "four-part");
    http_lines_free(&l);
}

static void test_lines_refuses_a_line_over_the_cap(void **state)
{
    (void)state;
    struct http_lines l;
    struct lines_seen s = {0};
    char err[128] = "";
    http_lines_init(&l, 8);
    assert_int_equal(http_lines_feed(&l, "12345678\n", 9, lines_collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(http_lines_feed(&l, "12345", 5, lines_collect, &s, err, sizeof err), 0);
    assert_int_equal(http_lines_feed(&l, "6789\n", 5, lines_collect, &s, err, sizeof err), -1);
    assert_string_equal(err, "line longer than 8 bytes");
    assert_int_equal(s.n, 1);
    http_lines_free(&l);
}

static void test_lines_stop_when_the_callback_asks(void **state)
{
    (void)state;
    struct http_lines l;
    struct lines_seen s = {.stop_after = 2};
    char err[128];
    http_lines_init(&l, 0);
    assert_int_equal(http_lines_feed(&l, "a\nb\nc\n", 6, lines_collect, &s, err, sizeof err), 1);
    assert_int_equal(s.n, 2);
    http_lines_free(&l);
}

/* ---- Retry-After, verbs ---- */

static void test_retry_after_reads_seconds_and_http_dates(void **state)
{
    (void)state;
    time_t now = curl_getdate("Wed, 21 Oct 2015 07:28:00 GMT", NULL);
    assert_int_equal(http_retry_after_parse("120", now), 120);
    assert_int_equal(http_retry_after_parse(" 1\r\n", now), 1);
    assert_int_equal(http_retry_after_parse("0", now), 0);
    assert_int_equal(http_retry_after_parse("Wed, 21 Oct 2015 07:28:30 GMT\r\n", now), 30);
    assert_int_equal(http_retry_after_parse("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
    assert_int_equal(http_retry_after_parse("", now), -1);
    assert_int_equal(http_retry_after_parse("-5", now), -1);
    assert_int_equal(http_retry_after_parse("12abc", now), -1);
    assert_int_equal(http_retry_after_parse("soon", now), -1);
    assert_int_equal(http_retry_after_parse("99999999999999999999999", now), -1);
}

static void test_kube_verb_names_requests_for_metrics(void **state)
{
    (void)state;
    assert_string_equal(kube_verb("GET", "/api/v1/namespaces", NULL), "list");
    assert_string_equal(kube_verb("GET", "/api/v1/namespaces/x", NULL), "get");
    assert_string_equal(kube_verb("GET", "/api/v1/namespaces/x/status", NULL), "get");
    assert_string_equal(kube_verb("GET", "/api/v1/namespaces/x/configmaps", "limit=5"), "list");
    assert_string_equal(kube_verb("GET", "/api/v1/namespaces/x/configmaps/c", NULL), "get");
    assert_string_equal(kube_verb("GET", "/apis/flink.apache.org/v1beta1/flinkdeployments", NULL), "list");
    assert_string_equal(kube_verb("GET", "/apis/apps/v1/namespaces/x/deployments/d/status", NULL), "get");
    assert_string_equal(kube_verb("GET", "/api/v1/namespaces/x/pods", "watch=1&resourceVersion=5"), "watch");
    assert_string_equal(kube_verb("GET", "/version", NULL), "get");
    assert_string_equal(kube_verb("POST", "/api/v1/namespaces/x/configmaps", NULL), "create");
    assert_string_equal(kube_verb("PUT", "/api/v1/namespaces/x/configmaps/c", NULL), "update");
    assert_string_equal(kube_verb("PATCH", "/api/v1/namespaces/x/configmaps/c", "fieldManager=f"), "patch");
    assert_string_equal(kube_verb("DELETE", "/api/v1/namespaces/x/configmaps/c", NULL), "delete");
}

/* ---- local servers ---- */

static char tmp[256];
static pid_t tls_pid, py_pid;
static int tls_port, py_port;

static int port_free(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &al))
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static int port_wait(int port)
{
    for (int i = 0; i < 100; i++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return 0;
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    return -1;
}

static pid_t spawn(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *null = freopen("/dev/null", "w", stdout);
        (void)null;
        null = freopen("/dev/null", "w", stderr);
        (void)null;
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void stop(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
    }
    *pid = 0;
}

static const char py_server[] =
    "import http.server, json, sys, time\n"
    "hits = {}\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a): pass\n"
    "    def reply(self, code, body, extra=()):\n"
    "        self.send_response(code)\n"
    "        for k, v in extra: self.send_header(k, v)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers(); self.wfile.write(body)\n"
    "    def chunk(self, d):\n"
    "        self.wfile.write(b'%x\\r\\n%s\\r\\n' % (len(d), d)); self.wfile.flush(); time.sleep(0.05)\n"
    "    def do_GET(self):\n"
    "        p = self.path.split('?')[0]\n"
    "        hits[p] = hits.get(p, 0) + 1\n"
    "        if p == '/retry' and hits[p] == 1:\n"
    "            self.reply(429, b'{\"kind\":\"Status\",\"code\":429}', [('Retry-After', '1')])\n"
    "        elif p == '/retry':\n"
    "            self.reply(200, json.dumps({'auth': self.headers.get('Authorization'),\n"
    "                'ua': self.headers.get('User-Agent'), 'query': self.path}).encode())\n"
    "        elif p == '/gone':\n"
    "            self.reply(410, b'{\"kind\":\"Status\",\"code\":410,\"message\":\"too old resource version: 1\"}')\n"
    "        elif p in ('/watch', '/slow'):\n"
    "            self.send_response(200); self.send_header('Transfer-Encoding', 'chunked'); self.end_headers()\n"
    "            self.chunk(b'{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\\n{\"type\":\"MOD')\n"
    "            if p == '/slow': time.sleep(30)\n"
    "            self.chunk(b'IFIED\",\"object\":{\"metadata\":{\"name\":\"a\"}}}\\n')\n"
    "            self.chunk(b'{\"type\":\"BOOKMARK\",\"object\":{}}\\n{\"type\":\"ERROR\",\"object\":'\n"
    "                       b'{\"kind\":\"Status\",\"code\":410,\"message\":\"too old resource version\"}}\\n')\n"
    "            self.chunk(b'')\n"
    "        else:\n"
    "            self.reply(404, b'{}')\n"
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

/* Makes a CA, a server certificate for 127.0.0.1 signed by it, and an unrelated CA; starts s_server and the python
 * server. A missing openssl or python3 leaves its pid 0 and the tests that need it skip. */
static int servers_setup(void **state)
{
    (void)state;
    if (scratch_dir_make(tmp, sizeof tmp, "http"))
        return -1;
    if (scratch_dir_self_signed(tmp, "ca", "flinkop-test-ca") == 0 &&
        scratch_dir_self_signed(tmp, "other", "flinkop-other-ca") == 0 &&
        scratch_dir_run(tmp, "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext && "
                             "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key "
                             "-out srv.csr -subj /CN=localhost && "
                             "openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt "
                             "-days 1 -extfile ext") == 0) {
        char port[16], crt[300], key[300];
        tls_port = port_free();
        snprintf(port, sizeof port, "127.0.0.1:%d", tls_port);
        snprintf(crt, sizeof crt, "%s/srv.crt", tmp);
        snprintf(key, sizeof key, "%s/srv.key", tmp);
        char *argv[] = {"openssl", "s_server", "-accept", port, "-cert", crt, "-key", key, "-www", NULL};
        tls_pid = spawn(argv);
        if (port_wait(tls_port))
            stop(&tls_pid);
    }
    char script[300], port[16];
    snprintf(script, sizeof script, "%s/server.py", tmp);
    FILE *f = fopen(script, "w");
    if (f) {
        fputs(py_server, f);
        fclose(f);
        py_port = port_free();
        snprintf(port, sizeof port, "%d", py_port);
        char *argv[] = {"python3", script, port, NULL};
        py_pid = spawn(argv);
        if (port_wait(py_port))
            stop(&py_pid);
    }
    return 0;
}

static int servers_teardown(void **state)
{
    (void)state;
    stop(&tls_pid);
    stop(&py_pid);
    return scratch_dir_remove(tmp);
}

/* ---- requests against the local servers ---- */

struct got {
    int done;
    long status;
    char body[4096];
    char error[512];
    long retry_after;
    struct http_request *cancel_me;
    int chunks;
};

static void got_done(void *ud, const struct http_response *r)
{
    struct got *g = ud;
    g->done++;
    g->status = r->status;
    g->retry_after = r->retry_after_s;
    snprintf(g->body, sizeof g->body, "%s", r->body);
    snprintf(g->error, sizeof g->error, "%s", r->error ? r->error : "");
}

static void https_get(const struct http_tls *tls, struct got *g)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[256], url[64];
    struct http_client *c = http_client_new(loop, err, sizeof err);
    assert_non_null(c);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/", tls_port);
    struct http_request_opts o = {.url = url, .timeout_ms = 5000, .tls = tls};
    struct http_callbacks cb = {NULL, got_done};
    assert_non_null(http_request_start(c, &o, &cb, g, err, sizeof err));
    loop_until(loop, &g->done, 1, 10);
    assert_int_equal(g->done, 1);
    http_client_free(c);
    ev_loop_destroy(loop);
}

static void test_https_trusts_the_given_ca_file_and_pem(void **state)
{
    (void)state;
    if (!tls_pid)
        skip();
    char ca[300];
    snprintf(ca, sizeof ca, "%s/ca.crt", tmp);
    struct got g = {0};
    struct http_tls tls = {.ca_file = ca};
    https_get(&tls, &g);
    assert_string_equal(g.error, "");
    assert_int_equal(g.status, 200);

    FILE *f = fopen(ca, "r");
    assert_non_null(f);
    char pem[8192];
    size_t n = fread(pem, 1, sizeof pem, f);
    fclose(f);
    struct got g2 = {0};
    struct http_tls tls2 = {.ca_pem = pem, .ca_pem_len = n};
    https_get(&tls2, &g2);
    assert_string_equal(g2.error, "");
    assert_int_equal(g2.status, 200);
}

static void test_https_refuses_a_server_the_ca_did_not_sign(void **state)
{
    (void)state;
    if (!tls_pid)
        skip();
    char ca[300];
    snprintf(ca, sizeof ca, "%s/other.crt", tmp);
    struct got g = {0};
    struct http_tls tls = {.ca_file = ca};
    https_get(&tls, &g);
    assert_int_equal(g.status, 0);
    if (!strstr(g.error, "certificate"))
        fail_msg("unexpected error: %s", g.error);
    /* and with no CA at all the system store does not know our CA either */
    struct got g2 = {0};
    https_get(NULL, &g2);
    assert_int_equal(g2.status, 0);
}

static int cancel_on_chunk(void *ud, const char *data, size_t len)
{
    (void)data;
    (void)len;
    struct got *g = ud;
    g->chunks++;
    http_request_cancel(g->cancel_me);
    return 0;
}

static void test_http_cancel_inside_on_chunk_stops_all_callbacks(void **state)
{
    (void)state;
    if (!py_pid)
        skip();
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[256], url[64];
    struct http_client *c = http_client_new(loop, err, sizeof err);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", py_port);
    struct http_request_opts o = {.url = url};
    struct http_callbacks cb = {cancel_on_chunk, got_done};
    struct got g = {0}, g2 = {0};
    g.cancel_me = http_request_start(c, &o, &cb, &g, err, sizeof err);
    assert_non_null(g.cancel_me);
    /* A second stream stays running when the client is freed: freeing cancels it without callbacks. */
    struct http_callbacks cb2 = {NULL, got_done};
    assert_non_null(http_request_start(c, &o, &cb2, &g2, err, sizeof err));
    loop_until(loop, &g.chunks, 1, 5);
    loop_until(loop, &g.done, 1, 0.5);
    assert_int_equal(g.chunks, 1);
    assert_int_equal(g.done, 0);
    http_client_free(c);
    assert_int_equal(g2.done, 0);
    ev_loop_destroy(loop);
}

/* ---- kube over the python server ---- */

static struct kube_config plain_config(void)
{
    struct kube_config cfg = {0};
    char server[64];
    snprintf(server, sizeof server, "http://127.0.0.1:%d", py_port);
    cfg.server = strdup(server);
    cfg.token = strdup("test-token");
    cfg.namespace = strdup("default");
    return cfg;
}

struct counted {
    char seen[8][32];
    int n;
};

static void count_response(void *ud, const char *verb, int code)
{
    struct counted *c = ud;
    if (c->n < 8)
        snprintf(c->seen[c->n++], sizeof c->seen[0], "%s %d", verb, code);
}

struct kgot {
    int done, status, attempts;
    char body[1024];
    int events;
    char types[8][16];
    int end_status;
    char end_err[256];
};

static void kgot_done(void *ud, const struct kube_response *r)
{
    struct kgot *g = ud;
    g->done = 1;
    g->status = r->status;
    g->attempts = r->attempts;
    snprintf(g->body, sizeof g->body, "%s", r->body);
}

static void test_kube_retries_429_after_retry_after_with_auth_headers(void **state)
{
    (void)state;
    if (!py_pid)
        skip();
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kube_config cfg = plain_config();
    struct counted cnt = {0};
    struct kube_opts opts = {.on_response = count_response, .on_response_ud = &cnt};
    char err[256];
    struct kube *k = kube_new(loop, &cfg, &opts, err, sizeof err);
    assert_non_null(k);
    struct kgot g = {0};
    assert_non_null(kube_request(k, "GET", "/retry", "a=b", NULL, NULL, kgot_done, &g, err, sizeof err));
    assert_int_equal(g.done, 0); /* never called before kube_request returns */
    loop_until(loop, &g.done, 1, 10);
    assert_int_equal(g.status, 200);
    assert_int_equal(g.attempts, 2);
    assert_non_null(strstr(g.body, "\"auth\": \"Bearer test-token\""));
    assert_non_null(strstr(g.body, "\"ua\": \"flinkop/"));
    assert_non_null(strstr(g.body, "/retry?a=b"));
    assert_int_equal(cnt.n, 2);
    assert_string_equal(cnt.seen[0], "get 429");
    assert_string_equal(cnt.seen[1], "get 200");
    kube_free(k);
    kube_config_free(&cfg);
    ev_loop_destroy(loop);
}

static void kgot_event(void *ud, cJSON *ev)
{
    struct kgot *g = ud;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
    if (g->events < 8)
        snprintf(g->types[g->events], sizeof g->types[0], "%s", t->valuestring);
    g->events++;
}

static void kgot_end(void *ud, int status, const char *err)
{
    struct kgot *g = ud;
    g->done = 1;
    g->end_status = status;
    snprintf(g->end_err, sizeof g->end_err, "%s", err ? err : "");
}

static void watch_once(const char *path, struct kgot *g, struct counted *cnt)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kube_config cfg = plain_config();
    struct kube_opts opts = {.on_response = count_response, .on_response_ud = cnt};
    char err[256];
    struct kube *k = kube_new(loop, &cfg, &opts, err, sizeof err);
    assert_non_null(k);
    struct kube_watch_callbacks cb = {kgot_event, kgot_end};
    assert_non_null(kube_watch_start(k, path, "resourceVersion=1", &cb, g, err, sizeof err));
    loop_until(loop, &g->done, 1, 10);
    assert_int_equal(g->done, 1);
    kube_free(k);
    kube_config_free(&cfg);
    ev_loop_destroy(loop);
}

static void test_kube_watch_splits_events_and_ends_with_410_from_error_event(void **state)
{
    (void)state;
    if (!py_pid)
        skip();
    struct kgot g = {0};
    struct counted cnt = {0};
    watch_once("/watch", &g, &cnt);
    assert_int_equal(g.events, 3);
    assert_string_equal(g.types[0], "ADDED");
    assert_string_equal(g.types[1], "MODIFIED");
    assert_string_equal(g.types[2], "BOOKMARK");
    assert_int_equal(g.end_status, 410);
    assert_string_equal(g.end_err, "too old resource version");
    assert_string_equal(cnt.seen[0], "watch 200");
}

static void test_kube_watch_ends_with_410_from_http_status(void **state)
{
    (void)state;
    if (!py_pid)
        skip();
    struct kgot g = {0};
    struct counted cnt = {0};
    watch_once("/gone", &g, &cnt);
    assert_int_equal(g.events, 0);
    assert_int_equal(g.end_status, 410);
    assert_string_equal(g.end_err, "too old resource version: 1");
    assert_string_equal(cnt.seen[0], "watch 410");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_joins_a_line_split_across_chunks),
        cmocka_unit_test(test_lines_delivers_several_lines_of_one_chunk),
        cmocka_unit_test(test_lines_refuses_a_line_over_the_cap),
        cmocka_unit_test(test_lines_stop_when_the_callback_asks),
        cmocka_unit_test(test_retry_after_reads_seconds_and_http_dates),
        cmocka_unit_test(test_kube_verb_names_requests_for_metrics),
        cmocka_unit_test(test_https_trusts_the_given_ca_file_and_pem),
        cmocka_unit_test(test_https_refuses_a_server_the_ca_did_not_sign),
        cmocka_unit_test(test_http_cancel_inside_on_chunk_stops_all_callbacks),
        cmocka_unit_test(test_kube_retries_429_after_retry_after_with_auth_headers),
        cmocka_unit_test(test_kube_watch_splits_events_and_ends_with_410_from_error_event),
        cmocka_unit_test(test_kube_watch_ends_with_410_from_http_status),
    };
    return cmocka_run_group_tests(tests, servers_setup, servers_teardown);
}
