/* informer: its retry backoff, against a python3 stand-in for kube-apiserver on 127.0.0.1 that fails and recovers
 * on cue; what a write's answer read after newer watch events does to the cache, against one that watches on cue
 * (tests skip without python3). */
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

/* Lists nothing (at resourceVersion 1); the watch brings what follows a Deployment's creation by the operator (rv 3):
 * the deployment controller's status (rv 4), and another Deployment made (rv 5) and deleted (rv 6); then it stays
 * open. */
static const char standin_watch[] =
    "import http.server, sys, time\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    protocol_version = 'HTTP/1.1'\n"
    "    def log_message(self, *a): pass\n"
    "    def chunk(self, d):\n"
    "        self.wfile.write(b'%x\\r\\n%s\\r\\n' % (len(d), d)); self.wfile.flush()\n"
    "    def event(self, t, name, rv, status):\n"
    "        self.chunk(b'{\"type\":\"%s\",\"object\":{\"metadata\":{\"name\":\"%s\",\"namespace\":\"a\",'\n"
    "                   b'\"resourceVersion\":\"%d\"},\"status\":%s}}\\n' % (t, name, rv, status))\n"
    "    def do_GET(self):\n"
    "        if 'watch=' not in self.path:\n"
    "            body = b'{\"kind\":\"DeploymentList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}'\n"
    "            self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers()\n"
    "            self.wfile.write(body); return\n"
    "        self.send_response(200); self.send_header('Transfer-Encoding', 'chunked'); self.end_headers()\n"
    "        self.event(b'ADDED', b'app', 3, b'{}')\n"
    "        self.event(b'MODIFIED', b'app', 4, b'{\"observedGeneration\":1}')\n"
    "        self.event(b'ADDED', b'gone', 5, b'{}')\n"
    "        self.event(b'DELETED', b'gone', 6, b'{}')\n"
    "        time.sleep(30)\n"
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

/* Starts a stand-in (`script`); returns its pid and sets *port, or 0 when python3 cannot run it. */
static pid_t standin_start(const char *script, int *port)
{
    char dir[] = "/tmp/flinkop-informer-XXXXXX", portfile[64];
    if (!mkdtemp(dir))
        return 0;
    snprintf(portfile, sizeof portfile, "%s/port", dir);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("python3", "python3", "-c", script, portfile, (char *)NULL);
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

/* A client of the stand-in listening on a port: its loop and its connection. */
struct client {
    struct ev_loop *loop;
    struct kube_config cfg;
    struct kube *kube;
};

static void client_open(struct client *c, int port)
{
    char server[64], err[256];
    memset(c, 0, sizeof *c);
    c->loop = ev_loop_new(EVFLAG_AUTO);
    snprintf(server, sizeof server, "http://127.0.0.1:%d", port);
    c->cfg.server = strdup(server);
    c->cfg.token = strdup("test-token");
    c->kube = kube_new(c->loop, &c->cfg, NULL, err, sizeof err);
}

/* Runs inf until its handler breaks the loop, or 20 s have passed. */
static void informer_run(struct client *c, struct informer *inf)
{
    ev_timer guard;
    ev_timer_init(&guard, guard_fire, 20, 0);
    ev_timer_start(c->loop, &guard);
    informer_start(inf);
    ev_run(c->loop, 0);
    ev_timer_stop(c->loop, &guard);
}

static void client_close(struct client *c, struct informer *inf)
{
    informer_free(inf);
    kube_free(c->kube);
    kube_config_free(&c->cfg);
    ev_loop_destroy(c->loop);
}

/* client-go's reflector resets its backoff once it is connected again; so must we: a watch that delivers an event
 * ends the outage, and the next outage retries first after the shortest delay (0.5 s x jitter 0.75-1.25), not
 * after the 2 s the two failures of the first would have grown it to. */
static void test_informer_backoff_restarts_from_the_shortest_after_a_watch_recovers(void **state)
{
    (void)state;
    int port;
    pid_t pid = standin_start(standin_apiserver, &port);
    if (pid == 0)
        skip();
    struct client c;
    client_open(&c, port);
    assert_non_null(c.kube);
    struct seen s = {.loop = c.loop, .again_after = -1};
    struct informer_handler h = {on_change, on_restart};
    struct informer *inf = informer_new(c.loop, c.kube, kind_lookup("ConfigMap"), NULL, NULL, &h, &s);
    assert_non_null(inf);
    informer_run(&c, inf);
    client_close(&c, inf);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(s.restarts, 3); /* two 500s, one lost connection */
    print_message("the watch was retried %.2f s after the connection was lost\n", s.again_after);
    assert_true(s.again_after >= 0);
    assert_true(s.again_after < 1.0);
}

static void on_deleted(void *ud, const struct kind_info *kind, const char *type, const cJSON *obj)
{
    (void)kind;
    (void)obj;
    if (strcmp(type, "DELETED") == 0)
        ev_break(ud, EVBREAK_ALL);
}

/* An object as a write's answer carries it: name and resourceVersion, no status (the apply set none). */
static cJSON *written(const char *name, const char *rv)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(meta, "name", name);
    cJSON_AddStringToObject(meta, "namespace", "a");
    cJSON_AddStringToObject(meta, "resourceVersion", rv);
    return o;
}

/* The resourceVersion of a/name in inf's cache, copied to buf ("none" when it is not there). */
static const char *cached_rv(const struct informer *inf, const char *name, char *buf, size_t len)
{
    const cJSON *o = cache_get(informer_cache(inf), "a", name);
    const char *rv = o ? object_string_at(o, "metadata.resourceVersion") : NULL;
    snprintf(buf, len, "%s", rv ? rv : "none");
    return buf;
}

/* The answer of the operator's apply of a Deployment (rv 3) is read after the watch brought the deployment
 * controller's status (rv 4): the cache keeps rv 4, with the status a reconcile decides on (READY or DEPLOYING). A
 * write's answer read after the object's deletion does not bring it back. A write the watch has not reached yet is
 * cached, and so is one whose resourceVersion is no number (the API calls it opaque). */
static void test_informer_keeps_watch_events_newer_than_a_late_write_answer(void **state)
{
    (void)state;
    int port;
    pid_t pid = standin_start(standin_watch, &port);
    if (pid == 0)
        skip();
    struct client c;
    client_open(&c, port);
    struct informer_handler h = {on_deleted, NULL};
    struct informer *inf = c.kube ? informer_new(c.loop, c.kube, kind_lookup("Deployment"), NULL, NULL, &h, c.loop)
                                  : NULL;
    if (inf)
        informer_run(&c, inf);
    kill(pid, SIGKILL); /* before any assertion: a failed one must not leave the stand-in running */
    waitpid(pid, NULL, 0);
    assert_non_null(inf);
    char watched[16], late[16], gone[16], newer[16], opaque[16];
    cached_rv(inf, "app", watched, sizeof watched);
    informer_remember(inf, written("app", "3"));
    informer_remember(inf, written("gone", "5"));
    const cJSON *app = cache_get(informer_cache(inf), "a", "app");
    int has_status = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(app, "status"), "observedGeneration") != NULL;
    cached_rv(inf, "app", late, sizeof late);
    cached_rv(inf, "gone", gone, sizeof gone);
    informer_remember(inf, written("app", "7"));
    cached_rv(inf, "app", newer, sizeof newer);
    informer_remember(inf, written("other", "opaque-1"));
    cached_rv(inf, "other", opaque, sizeof opaque);
    client_close(&c, inf);
    assert_string_equal(watched, "4");
    assert_string_equal(late, "4"); /* the deployment controller's status, not the apply's answer */
    assert_true(has_status);
    assert_string_equal(gone, "none");
    assert_string_equal(newer, "7");
    assert_string_equal(opaque, "opaque-1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_informer_backoff_restarts_from_the_shortest_after_a_watch_recovers),
        cmocka_unit_test(test_informer_keeps_watch_events_newer_than_a_late_write_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
