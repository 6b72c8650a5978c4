/* The probe server. Each connection reads one request head into a bounded buffer, answers from the callbacks, writes
 * the answer as the socket accepts it, and closes. Every socket is non-blocking and every wait is an ev_io, so the
 * loop never stalls on a client; an idle timer per connection and a cap on connections bound what clients can hold. */
#include "probe.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_IDLE_TIMEOUT 5.0
#define DEFAULT_MAX_REQUEST 8192
#define DEFAULT_MAX_CLIENTS 256
#define ACCEPT_PAUSE 0.1 /* seconds to stop accepting when out of file descriptors */

struct conn {
    struct probe *p;
    struct conn *prev, *next;
    int fd;
    ev_io io;
    ev_timer idle;
    char *req; /* max_request + 1 bytes, NUL-terminated */
    size_t req_len;
    char *resp;
    size_t resp_len, resp_off;
};

struct probe {
    struct ev_loop *loop;
    int fd, port;
    ev_io accept_io;
    ev_timer accept_pause;
    probe_ready_fn *ready;
    probe_metrics_fn *metrics;
    void *data;
    double idle_timeout;
    size_t max_request, max_clients;
    struct conn *conns;
    size_t nconns;
};

/* Non-blocking so no call can stall the loop; close-on-exec so a child never inherits the socket. */
static int fd_set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -1 : 0;
}

/* Unlinks, stops and frees a connection; the caller must not use it afterwards. */
static void conn_close(struct conn *c)
{
    struct probe *p = c->p;
    ev_io_stop(p->loop, &c->io);
    ev_timer_stop(p->loop, &c->idle);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    p->nconns--;
    free(c->req);
    free(c->resp);
    free(c);
}

/* Stores a whole response (head and body) to write; the connection closes once it is out. -1 when out of memory. */
static int conn_set_response(struct conn *c, int status, const char *reason, const char *type, const char *extra,
                             const char *body, size_t body_len)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
                     status, reason, type, body_len, extra ? extra : "");
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    if (!(c->resp = malloc((size_t)n + body_len)))
        return -1;
    memcpy(c->resp, head, (size_t)n);
    memcpy(c->resp + n, body, body_len);
    c->resp_len = (size_t)n + body_len;
    c->resp_off = 0;
    return 0;
}

/* A plain-text answer. */
static int respond_text(struct conn *c, int status, const char *reason, const char *body, const char *extra)
{
    return conn_set_response(c, status, reason, "text/plain; charset=utf-8", extra, body, strlen(body));
}

/* Answers the request head in c->req. -1 only when out of memory (the caller then just closes). */
static int conn_answer(struct conn *c)
{
    struct probe *p = c->p;
    char *line = c->req;
    line[strcspn(line, "\r\n")] = '\0';
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp1 || !sp2 || sp2 == sp1 + 1 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return respond_text(c, 400, "Bad Request", "bad request\n", NULL);
    *sp1 = *sp2 = '\0';
    char *path = sp1 + 1;
    path[strcspn(path, "?#")] = '\0'; /* probes may add ?verbose; the answer is the same */
    if (strcmp(line, "GET") != 0)
        return respond_text(c, 405, "Method Not Allowed", "method not allowed\n", "Allow: GET\r\n");
    if (strcmp(path, "/healthz") == 0)
        return respond_text(c, 200, "OK", "ok\n", NULL); /* answering at all proves the loop runs */
    if (strcmp(path, "/readyz") == 0) {
        char why[256] = "";
        if (!p->ready || p->ready(p->data, why, sizeof why))
            return respond_text(c, 200, "OK", "ok\n", NULL);
        char body[sizeof why + 1];
        snprintf(body, sizeof body, "%s\n", why[0] ? why : "not ready");
        return respond_text(c, 503, "Service Unavailable", body, NULL);
    }
    if (strcmp(path, "/metrics") == 0 && p->metrics) {
        char *text = p->metrics(p->data);
        if (!text)
            return respond_text(c, 500, "Internal Server Error", "metrics unavailable\n", NULL);
        int r = conn_set_response(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", NULL, text,
                                  strlen(text));
        free(text);
        return r;
    }
    return respond_text(c, 404, "Not Found", "not found\n", NULL);
}

/* The end of the request head, tolerating bare LF line ends. */
static int head_complete(const char *req) { return strstr(req, "\r\n\r\n") || strstr(req, "\n\n"); }

/* Writes what the socket takes now; EAGAIN waits for EV_WRITE, the end closes the connection. */
static void conn_on_write(struct conn *c)
{
    while (c->resp_off < c->resp_len) {
        ssize_t n = send(c->fd, c->resp + c->resp_off, c->resp_len - c->resp_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* the socket buffer is full: wait for EV_WRITE */
        if (n <= 0) {
            conn_close(c);
            return;
        }
        c->resp_off += (size_t)n;
        ev_timer_again(c->p->loop, &c->idle); /* a slow reader that keeps reading is not idle */
    }
    shutdown(c->fd, SHUT_WR);
    conn_close(c);
}

/* Reads what has arrived; once the head is complete, answers it. A head past max_request closes the connection. */
static void conn_on_read(struct conn *c)
{
    struct probe *p = c->p;
    for (;;) {
        if (c->req_len >= p->max_request) {
            conn_close(c); /* head too large */
            return;
        }
        ssize_t n = recv(c->fd, c->req + c->req_len, p->max_request - c->req_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            conn_close(c); /* the client went away, or an error */
            return;
        }
        c->req_len += (size_t)n;
        c->req[c->req_len] = '\0';
        ev_timer_again(p->loop, &c->idle);
        if (head_complete(c->req))
            break;
    }
    if (conn_answer(c) < 0) {
        conn_close(c);
        return;
    }
    ev_io_stop(p->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(p->loop, &c->io);
    conn_on_write(c); /* usually the whole answer fits in the socket buffer right away */
}

/* One watcher per connection: EV_READ until the head is in, then EV_WRITE. */
static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct conn *c = w->data;
    if (revents & EV_READ)
        conn_on_read(c);
    else if (revents & EV_WRITE)
        conn_on_write(c);
}

/* A client silent for idle_timeout (reading or writing) is dropped. */
static void conn_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_close(w->data);
}

/* Takes an accepted socket; closes it when over the client cap or out of memory. */
static void conn_open(struct probe *p, int fd)
{
    struct conn *c = NULL;
    if (p->nconns >= p->max_clients || fd_set_nonblocking(fd) < 0 || !(c = calloc(1, sizeof *c)) ||
        !(c->req = malloc(p->max_request + 1))) {
        if (c)
            free(c);
        close(fd);
        return;
    }
    c->p = p;
    c->fd = fd;
    c->req[0] = '\0';
    ev_io_init(&c->io, conn_io_cb, fd, EV_READ);
    c->io.data = c;
    ev_init(&c->idle, conn_idle_cb);
    c->idle.repeat = p->idle_timeout;
    c->idle.data = c;
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->nconns++;
    ev_io_start(p->loop, &c->io);
    ev_timer_again(p->loop, &c->idle);
}

/* The pause after running out of descriptors is over. */
static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct probe *p = w->data;
    ev_io_start(loop, &p->accept_io);
}

/* Takes every pending connection; level-triggered, so stopping at EAGAIN loses none. */
static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct probe *p = w->data;
    for (;;) {
        int fd = accept(p->fd, NULL, NULL);
        if (fd >= 0) {
            conn_open(p, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The pending connection stays readable: without a pause the loop would spin on it. */
            ev_io_stop(loop, &p->accept_io);
            ev_timer_set(&p->accept_pause, ACCEPT_PAUSE, 0);
            ev_timer_start(loop, &p->accept_pause);
        }
        return; /* EAGAIN: all taken */
    }
}

/* A listening non-blocking socket on host:port; -1 with a message in err. */
static int listen_on(const char *host, int port, int *bound_port, char *err, size_t errlen)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV; /* numeric: no DNS lookup can block */
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "probe: address %s:%d: %s", host, port, gai_strerror(rc));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 && fd_set_nonblocking(fd) == 0 &&
            bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 128) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "probe: listen on %s:%d: %s", host, port, strerror(saved));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(err, errlen, "probe: getsockname: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                           : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

struct probe *probe_start(struct ev_loop *loop, const struct probe_opts *opts, char *err, size_t errlen)
{
    static const struct probe_opts none = {0};
    if (!opts)
        opts = &none;
    const char *host = opts->host ? opts->host : PROBE_DEFAULT_HOST;
    if (opts->port < 0 || opts->port > 65535) {
        snprintf(err, errlen, "probe: port %d: not in 0..65535", opts->port);
        return NULL;
    }
    struct probe *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "probe: out of memory");
        return NULL;
    }
    if ((p->fd = listen_on(host, opts->port, &p->port, err, errlen)) < 0) {
        free(p);
        return NULL;
    }
    p->loop = loop;
    p->ready = opts->ready;
    p->metrics = opts->metrics;
    p->data = opts->data;
    p->idle_timeout = opts->idle_timeout > 0 ? opts->idle_timeout : DEFAULT_IDLE_TIMEOUT;
    p->max_request = opts->max_request ? opts->max_request : DEFAULT_MAX_REQUEST;
    p->max_clients = opts->max_clients ? opts->max_clients : DEFAULT_MAX_CLIENTS;
    ev_io_init(&p->accept_io, accept_cb, p->fd, EV_READ);
    p->accept_io.data = p;
    ev_init(&p->accept_pause, accept_resume_cb);
    p->accept_pause.data = p;
    ev_io_start(loop, &p->accept_io);
    return p;
}

int probe_port(const struct probe *p) { return p->port; }
size_t probe_clients(const struct probe *p) { return p->nconns; }

void probe_stop(struct probe *p)
{
    if (!p)
        return;
    while (p->conns)
        conn_close(p->conns);
    ev_io_stop(p->loop, &p->accept_io);
    ev_timer_stop(p->loop, &p->accept_pause);
    close(p->fd);
    free(p);
}
