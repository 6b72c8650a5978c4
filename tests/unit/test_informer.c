/* informer: its retry backoff, against a python3 stand-in for kube-apiserver on 127.0.0.1 that fails and recovers
 * on cue (tests skip without python3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "informer.h"
#include "kube.h"
#include "kubeconfig.h"
#include "object.h"

/* Lists answer at once. Watches, in order: two 500s (an outage), one that delivers an event and then loses its
 * connection (the outage is over, then a second one starts), then one that delivers `again` and stays open. */
static const char standin_apiserver[] =
    "import http.server, sys, time\n"
    "watches = 0\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a): pass\n"
    "    def chunk(self, d):\n"
    "        self.wfile.write(b'%x\\r\\n%s\\r\\n' % (len(d), d)); self.wfile.flush()\n"
    "    def event(self, name, rv):\n"
    "        self.chunk(b'{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"%s\",\"namespace\":\"a\",'\n"
    "                   b'\"resourceVersion\":\"%d\"}}}\\n' % (name, rv))\n"
    "    def do_GET(self):\n"
    "        global watches\n"
    "        if 'watch=' not in self.path:\n"
    "            body = b'{\"kind\":\"ConfigMapList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}'\n"
    "            self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "            self.wfile.write(body); return\n"
    "        watches += 1\n"
    "        if watches <= 2:\n"
    "            body = b'{\"kind\":\"Status\",\"code\":500,\"message\":\"stand-in outage\"}'\n"
    "            self.send_response(500); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "            self.wfile.write(body); return\n"
    "        self.send_response(200); self.send_header('Transfer-Encoding', 'chunked'); self.end_headers()\n"
    "        if watches == 3:\n"
    "            self.event(b'back', 2); time.sleep(0.2)\n"
    "            self.close_connection = True; return  # no last chunk: a transport error\n"
    "        self.event(b'again', 3); time.sleep(30)\n"
    "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)\n"
    "open(sys.argv[1] + '.tmp', 'w').write(str(s.server_address[1])); __import__('os').rename(sys.argv[1] + '.tmp', sys.argv[1])\n"
    "s.serve_forever()\n";

struct seen {
    struct ev_loop *loop;
    double restarted_at; /* when the last retry was scheduled */
    double again_after;  /* seconds from the last retry's scheduling to the event `again`; <0 until then */
    int restarts;
};

static void on_change(void *ud, const struct kind_info *kind, const char *type, const cJSON *obj)
{
    (void)kind;
    (void)type;
    struct seen *s = ud;
    if (strcmp(object_name(obj), "again") == 0) {
        s->again_after = ev_time() - s->restarted_at;
        ev_break(s->loop, EVBREAK_ALL);
    }
}

static void on_restart(void *ud, const struct kind_info *kind, const char *reason)
{
    (void)kind;
    (void)reason;
    struct seen *s = ud;
    s->restarts++;
    s->restarted_at = ev_time();
}

static void guard_fire(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Starts the stand-in; returns its pid and sets *port, or 0 when python3 cannot run it. */
static pid_t standin_start(int *port)
{
    char dir[] = "/tmp/flinkop-informer-XXXXXX", portfile[64];
    if (!mkdtemp(dir))
        return 0;
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("python3", "python3", "-c", standin_apiserver, portfile, (char *)NULL);
        _exit(127);
    }
    *port = 0;
    for (int i = 0; i < 100 && pid > 0 && *port == 0; i++) {
        FILE *f = fopen(portfile, "r");
        if (f == NULL || fscanf(f, "%d", port) != 1)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        if (f)
            fclose(f);
    }
    unlink(portfile);
    rmdir(dir);
    if (pid > 0 && *port == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 0;
    }
    return pid;
}

/* client-go's reflector resets its backoff once it is connected again; so must we: a watch that delivers an event
 * ends the outage, and the next outage retries first after the shortest delay (0.5 s x jitter 0.75-1.25), not
 * after the 2 s the two failures of the first would have grown it to. */
static void test_informer_backoff_restarts_from_the_shortest_after_a_watch_recovers(void **state)
{
    (void)state;
    int port;
    pid_t pid = standin_start(&port);
    if (pid == 0)
        skip();
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct kube_config cfg = {0};
    char server[64], err[256];
    snprintf(server, sizeof server, "http://127.0.0.1:%d", port);
    cfg.server = strdup(server);
    cfg.token = strdup("test-token");
    struct kube *k = kube_new(loop, &cfg, NULL, err, sizeof err);
    assert_non_null(k);
    struct seen s = {.loop = loop, .again_after = -1};
    struct informer_handler h = {on_change, on_restart};
    struct informer *inf = informer_new(loop, k, kind_lookup("ConfigMap"), NULL, NULL, &h, &s);
    assert_non_null(inf);
    ev_timer guard;
    ev_timer_init(&guard, guard_fire, 20, 0);
    ev_timer_start(loop, &guard);
    informer_start(inf);
    ev_run(loop, 0);
    informer_free(inf);
    kube_free(k);
    kube_config_free(&cfg);
    ev_loop_destroy(loop);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(s.restarts, 3); /* two 500s, one lost connection */
    print_message("the watch was retried %.2f s after the connection was lost\n", s.again_after);
    assert_true(s.again_after >= 0);
    assert_true(s.again_after < 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_informer_backoff_restarts_from_the_shortest_after_a_watch_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
