/* The probe server: a tiny non-blocking HTTP/1.1 server on the daemon's libev loop for /healthz, /readyz and
 * /metrics. One request per connection (Connection: close); a slow or silent client never stalls the others. */
#ifndef FLINKOP_PROBE_H
#define FLINKOP_PROBE_H

#include <stddef.h>

#define PROBE_DEFAULT_HOST "0.0.0.0"
#define PROBE_DEFAULT_PORT 8085

struct ev_loop;
struct probe;

/* Whether the daemon is ready; when not, writes why (one line of text) into reason. Nonzero means ready. */
typedef int probe_ready_fn(void *data, char *reason, size_t reasonlen);

/* The /metrics body: a malloc'd string the probe frees, or NULL (then the answer is 500). */
typedef char *probe_metrics_fn(void *data);

struct probe_opts {
    const char *host;            /* numeric address to bind; NULL means PROBE_DEFAULT_HOST */
    int port;                    /* 0 picks a free port (see probe_port) */
    probe_ready_fn *ready;       /* NULL: always ready */
    probe_metrics_fn *metrics;   /* NULL: /metrics answers 404 */
    void *data;                  /* passed to both callbacks */
    double idle_timeout;         /* seconds a client may stay silent; 0 means 5 */
    size_t max_request;          /* bytes of request head; 0 means 8192; more and the connection is closed */
    size_t max_clients;          /* open connections at once; 0 means 256; more are closed at accept */
};

/* Binds and listens on host:port and serves on `loop` (borrowed; it must outlive the probe). Returns the probe,
 * which the caller frees with probe_stop, or NULL with a message in err (bind failure, bad address, out of memory). */
struct probe *probe_start(struct ev_loop *loop, const struct probe_opts *opts, char *err, size_t errlen);

/* The port actually bound (the one picked when opts->port was 0). */
int probe_port(const struct probe *p);

/* Connections open right now. */
size_t probe_clients(const struct probe *p);

/* Closes the listener and every connection, and frees the probe. NULL is a no-op. */
void probe_stop(struct probe *p);

#endif
