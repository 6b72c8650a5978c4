/* probe: the HTTP server runs on an ev_loop in this process; each client is a forked child doing plain blocking
 * socket calls, which sends back what it saw through a pipe the loop also watches. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probe.h"

struct fixture {
    struct ev_loop *loop;
    struct probe *p;
    int ready;
    int metrics_calls;
    size_t metrics_size; /* 0: a short fixed text */
};

static int is_ready(void *data, char *reason, size_t len)
{
    struct fixture *f = data;
    if (!f->ready)
        snprintf(reason, len, "caches not synced: flinkdeployments");
    return f->ready;
}

static char *render(void *data)
{
    struct fixture *f = data;
    f->metrics_calls++;
    if (f->metrics_size == 0) {
        const char *text = "# TYPE flinkop_queue_depth gauge\nflinkop_queue_depth 0\n";
        char *copy = malloc(strlen(text) + 1);
        return copy ? strcpy(copy, text) : NULL;
    }
    char *big = malloc(f->metrics_size + 1);
    if (big) {
        memset(big, 'm', f->metrics_size);
        big[f->metrics_size] = '\0';
    }
    return big;
}

static int setup_with(void **state, double idle)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || !(f->loop = ev_loop_new(EVFLAG_AUTO))) {
        free(f);
        return -1;
    }
    struct probe_opts o = {.host = "127.0.0.1", .port = 0, .ready = is_ready, .metrics = render, .data = f,
                           .idle_timeout = idle};
    char err[256];
    if (!(f->p = probe_start(f->loop, &o, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        ev_loop_destroy(f->loop);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, 0); }
static int setup_short_idle(void **state) { return setup_with(state, 0.2); }

static int teardown(void **state)
{
    struct fixture *f = *state;
    probe_stop(f->p);
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

/* ---- the child side: blocking calls, no cmocka ---- */

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        _exit(3);
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the server may close on us: that is what some tests check */
        s += w;
        n -= (size_t)w;
    }
}

/* Reads until EOF or error into a malloc'd buffer; *len gets the size. */
static char *recv_all(int fd, size_t *len)
{
    size_t cap = 4096;
    char *buf = malloc(cap);
    *len = 0;
    for (;;) {
        if (*len + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        if (!buf)
            _exit(4);
        ssize_t n = recv(fd, buf + *len, cap - *len - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        *len += (size_t)n;
    }
    buf[*len] = '\0';
    return buf;
}

/* One request on a fresh connection; the whole answer goes to the pipe. */
static void child_one_request(int port, int out, const void *arg)
{
    const char *req = arg;
    int fd = client_connect(port);
    send_all(fd, req, strlen(req));
    size_t len;
    char *resp = recv_all(fd, &len);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(out, resp + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(5);
        off += (size_t)w;
    }
}

/* Connects and says nothing after a partial line: the server's idle timeout must close it. */
static void child_idle(int port, int out, const void *arg)
{
    (void)arg;
    int fd = client_connect(port);
    send_all(fd, "GET /healthz HTTP/1.1\r\n", 23);
    size_t len;
    char *resp = recv_all(fd, &len);
    dprintf(out, "closed after %zu bytes", len);
    (void)resp;
}

/* A head larger than 8 KiB that never ends. */
static void child_oversize(int port, int out, const void *arg)
{
    (void)arg;
    int fd = client_connect(port);
    char big[9000];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /healthz HTTP/1.1\r\nX-Pad: ", 30);
    send_all(fd, big, sizeof big);
    size_t len;
    char *resp = recv_all(fd, &len);
    dprintf(out, "closed after %zu bytes", len);
    (void)resp;
}

/* A silent client and a slow reader of a large answer are both open while another client asks /healthz. */
static void child_slow_clients(int port, int out, const void *arg)
{
    (void)arg;
    int silent = client_connect(port);
    send_all(silent, "GET /he", 7);
    int slow = client_connect(port);
    send_all(slow, "GET /metrics HTTP/1.1\r\n\r\n", 25);
    struct timespec pause = {0, 100 * 1000 * 1000};
    nanosleep(&pause, NULL); /* the server fills the slow reader's socket and must move on */
    int quick = client_connect(port);
    send_all(quick, "GET /healthz HTTP/1.1\r\n\r\n", 25);
    size_t len;
    char *resp = recv_all(quick, &len);
    int quick_ok = strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0;
    char *big = recv_all(slow, &len);
    const char *body = strstr(big, "\r\n\r\n");
    dprintf(out, "quick=%d slow_body=%zu", quick_ok, body ? len - (size_t)(body + 4 - big) : 0);
    close(silent);
}

/* Many connections open at once, each with a request, answers read afterwards. */
static void child_many(int port, int out, const void *arg)
{
    int n = *(const int *)arg, ok = 0;
    int *fds = malloc((size_t)n * sizeof *fds);
    if (!fds)
        _exit(4);
    for (int i = 0; i < n; i++) {
        fds[i] = client_connect(port);
        send_all(fds[i], "GET /healthz HTTP/1.1\r\n\r\n", 25);
    }
    for (int i = 0; i < n; i++) {
        size_t len;
        char *resp = recv_all(fds[i], &len);
        ok += strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0;
        free(resp);
    }
    dprintf(out, "%d", ok);
}

/* ---- the parent side: runs the loop until the child's pipe closes ---- */

struct exchange {
    char *out;
    size_t len, cap;
    ev_io pipe_io;
    ev_timer guard;
};

static void on_pipe(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct exchange *x = w->data;
    if (x->len + 4096 > x->cap) {
        x->cap = (x->len + 4096) * 2;
        x->out = realloc(x->out, x->cap);
        assert_non_null(x->out);
    }
    ssize_t n = read(w->fd, x->out + x->len, x->cap - x->len - 1);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        ev_break(loop, EVBREAK_ONE);
        return;
    }
    x->len += (size_t)n;
    x->out[x->len] = '\0';
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

/* Forks `child`, serves until it is done, and returns what it wrote (malloc'd); *elapsed gets the seconds. */
static char *exchange(struct fixture *f, void (*child)(int, int, const void *), const void *arg, double *elapsed)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child(probe_port(f->p), fds[1], arg);
        _exit(0); /* no atexit, no leak check of the forked copy */
    }
    close(fds[1]);
    struct exchange x = {0};
    x.cap = 4096;
    x.out = calloc(1, x.cap);
    assert_non_null(x.out);
    ev_io_init(&x.pipe_io, on_pipe, fds[0], EV_READ);
    x.pipe_io.data = &x;
    ev_timer_init(&x.guard, on_guard, 10.0, 0);
    ev_io_start(f->loop, &x.pipe_io);
    ev_timer_start(f->loop, &x.guard);
    ev_now_update(f->loop);
    double start = ev_now(f->loop);
    ev_run(f->loop, 0);
    ev_now_update(f->loop);
    if (elapsed)
        *elapsed = ev_now(f->loop) - start;
    ev_io_stop(f->loop, &x.pipe_io);
    ev_timer_stop(f->loop, &x.guard);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return x.out;
}

static char *get(struct fixture *f, const char *request) { return exchange(f, child_one_request, request, NULL); }

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    assert_non_null(b);
    return b + 4;
}

static void test_healthz_answers_ok(void **state)
{
    struct fixture *f = *state;
    assert_true(probe_port(f->p) > 0);
    char *r = get(f, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(r, "\r\nConnection: close\r\n"));
    assert_non_null(strstr(r, "\r\nContent-Length: 3\r\n"));
    assert_string_equal(body_of(r), "ok\n");
    free(r);
    r = get(f, "GET /healthz?verbose HTTP/1.0\n\n");
    assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
    free(r);
    assert_int_equal(probe_clients(f->p), 0);
}

static void test_readyz_is_503_with_reason_until_ready(void **state)
{
    struct fixture *f = *state;
    char *r = get(f, "GET /readyz HTTP/1.1\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0);
    assert_string_equal(body_of(r), "caches not synced: flinkdeployments\n");
    free(r);
    f->ready = 1;
    r = get(f, "GET /readyz HTTP/1.1\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_string_equal(body_of(r), "ok\n");
    free(r);
}

static void test_metrics_serves_the_rendered_text(void **state)
{
    struct fixture *f = *state;
    char *r = get(f, "GET /metrics HTTP/1.1\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
    assert_string_equal(body_of(r), "# TYPE flinkop_queue_depth gauge\nflinkop_queue_depth 0\n");
    assert_int_equal(f->metrics_calls, 1);
    free(r);
}

static void test_unknown_path_is_404_and_other_methods_405(void **state)
{
    struct fixture *f = *state;
    char *r = get(f, "GET /nope HTTP/1.1\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 404 Not Found\r\n", 24) == 0);
    free(r);
    r = get(f, "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 405 Method Not Allowed\r\n", 33) == 0);
    assert_non_null(strstr(r, "\r\nAllow: GET\r\n"));
    free(r);
    r = get(f, "nonsense\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 400 Bad Request\r\n", 26) == 0);
    free(r);
}

static void test_oversize_request_is_closed(void **state)
{
    struct fixture *f = *state;
    char *r = exchange(f, child_oversize, NULL, NULL);
    assert_string_equal(r, "closed after 0 bytes");
    free(r);
    assert_int_equal(probe_clients(f->p), 0);
}

static void test_idle_client_is_closed(void **state)
{
    struct fixture *f = *state; /* idle timeout 0.2 s */
    double took = 0;
    char *r = exchange(f, child_idle, NULL, &took);
    assert_string_equal(r, "closed after 0 bytes");
    assert_true(took >= 0.15 && took < 3);
    free(r);
    assert_int_equal(probe_clients(f->p), 0);
}

static void test_slow_clients_do_not_stall_others(void **state)
{
    struct fixture *f = *state;
    f->metrics_size = 8 * 1024 * 1024; /* far more than a socket buffer holds */
    double took = 0;
    char *r = exchange(f, child_slow_clients, NULL, &took);
    assert_string_equal(r, "quick=1 slow_body=8388608");
    assert_true(took < 3);
    free(r);
}

static void test_many_concurrent_clients(void **state)
{
    struct fixture *f = *state;
    int n = 100;
    char *r = exchange(f, child_many, &n, NULL);
    assert_string_equal(r, "100");
    free(r);
    assert_int_equal(probe_clients(f->p), 0);
}

static void test_bad_address_is_an_error(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(loop);
    char err[256] = "";
    struct probe_opts o = {.host = "not-an-address", .port = 0};
    assert_null(probe_start(loop, &o, err, sizeof err));
    assert_non_null(strstr(err, "not-an-address"));
    o.host = "127.0.0.1";
    o.port = 70000;
    assert_null(probe_start(loop, &o, err, sizeof err));
    ev_loop_destroy(loop);
}

static void test_port_in_use_is_an_error(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    struct probe_opts o = {.host = "127.0.0.1", .port = probe_port(f->p)};
    assert_null(probe_start(f->loop, &o, err, sizeof err));
    assert_non_null(strstr(err, "listen on 127.0.0.1:"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_healthz_answers_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readyz_is_503_with_reason_until_ready, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_serves_the_rendered_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_path_is_404_and_other_methods_405, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_request_is_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_client_is_closed, setup_short_idle, teardown),
        cmocka_unit_test_setup_teardown(test_slow_clients_do_not_stall_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_concurrent_clients, setup, teardown),
        cmocka_unit_test(test_bad_address_is_an_error),
        cmocka_unit_test_setup_teardown(test_port_in_use_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
