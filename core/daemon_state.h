/* What the daemon's modules share: the loop, the client, the informers, the queue. Internal to daemon.c and
 * sync.c; nothing else includes it. */
#ifndef FLINKOP_DAEMON_STATE_H
#define FLINKOP_DAEMON_STATE_H

#include <ev.h>
#include <cjson/cJSON.h>

#include "access_check.h"
#include "daemon.h"
#include "informer.h"
#include "kube.h"
#include "kubeconfig.h"
#include "lease.h"
#include "metrics.h"
#include "policy.h"
#include "probe.h"
#include "queue.h"
#include "strmap.h"

struct daemon {
    struct ev_loop *loop;
    const struct daemon_opts *o;
    const char *operator_namespace;
    struct kube_config cfg;
    struct kube *kube;
    struct kube *lease_kube;   /* its own client, so queued work never delays a renewal */
    struct lease *lease;       /* NULL without --leader-elect */
    int leading;               /* may write: always without --leader-elect */
    struct policy *policy;
    struct metrics *metrics;
    struct probe *probe;
    struct queue *queue;
    struct informer **informers;
    size_t informer_count;
    cJSON *ctx;
    struct strmap *events_sent; /* dedupe key -> struct event_seen * (sync.c) */
    struct access_check *access; /* checks of user-made RBAC (access_check.c) */
    ev_idle worker;
    ev_timer resync, drain;
    ev_signal sigterm, sigint;
    ev_tstamp stop_started;
    int stopping, releasing;
};

/* The cached object kind/ns/name from whichever informer holds it, or NULL. Sets *from to that informer. */
const cJSON *daemon_lookup(const struct daemon *d, const char *kind, const char *ns, const char *name,
                           struct informer **from);

/* Reconciles one queue key ("FlinkDeployment/ns/name", "FlinkSessionJob/ns/name", "Namespace/name"). Starts the
 * writes it needs and calls queue_done (and the retry bookkeeping) when the last one finished. */
void sync_key(struct daemon *d, const char *key);

/* Frees a value of d->events_sent. */
void event_seen_free(void *seen);

#endif
