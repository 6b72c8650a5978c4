/* What the daemon's modules share: the loop, the client, the informers, the queue. Internal to daemon.c and
 * sync.c; nothing else includes it. */
#ifndef FLINKOP_DAEMON_STATE_H
#define FLINKOP_DAEMON_STATE_H

#include <ev.h>
#include <cjson/cJSON.h>

#include "access_check.h"
#include "daemon.h"
#include "flink_observer.h"
#include "flink_rest.h"
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
    struct policy *policy;     /* NULL until a policy ConfigMap first loads */
    char policy_hash[20];      /* short SHA-256 of the running policy's files */
    char refused_hash[40];     /* the last refusal (hash:guard limit), so a relist does not repeat its Event */
    char *policy_cm_ns, *policy_cm_name; /* --policy-configmap; NULL with --script-dir */
    struct informer *policy_informer;    /* watches that one ConfigMap */
    struct metrics *metrics;
    struct probe *probe;
    struct queue *queue;
    struct informer **informers;
    size_t informer_count;
    cJSON *ctx;
    char **watch;              /* namespaced scope: the watched namespaces (NULL: cluster scope); watch_scope.c */
    size_t watch_count;
    char **draining;           /* left the watch list; watched until nothing of theirs is left */
    size_t draining_count;
    struct strmap *forbidden_told; /* watched namespaces whose refusal (403) was reported */
    struct strmap *events_sent; /* dedupe key -> struct event_seen * (event_seen.h) */
    struct access_check *access; /* checks of user-made RBAC (access_check.c) */
    struct flink_rest *flink_rest;     /* the JobManagers' REST API; NULL in `plan` */
    struct flink_observer *flink;      /* observed.flink; NULL in `plan` */
    ev_idle worker;
    ev_timer resync, drain;
    ev_signal sigterm, sigint;
    ev_tstamp stop_started;
    int stopping, releasing;
    int planned;               /* `plan`: every key has been queued */
};

/* The cached object kind/ns/name from whichever informer holds it, or NULL. Sets *from to that informer. */
const cJSON *daemon_lookup(const struct daemon *d, const char *kind, const char *ns, const char *name,
                           struct informer **from);

/* Reconciles one queue key ("FlinkDeployment/ns/name", "FlinkSessionJob/ns/name", "Namespace/name"). Starts the
 * writes it needs and calls queue_done (and the retry bookkeeping) when the last one finished. */
void sync_key(struct daemon *d, const char *key);

/* Posts a Kubernetes Event about obj that no queue key owns (the policy ConfigMap). Best effort. */
void sync_event(struct daemon *d, const cJSON *obj, const char *type, const char *reason, const char *message);

/* Queues every key the caches know and starts the worker: after a resync tick, a new leader, a new policy. */
void daemon_requeue_all(struct daemon *d);

/* A policy ConfigMap arrived or changed (policy_reload.c): load, test and check it, and swap it in or refuse it. */
void policy_reload_offer(struct daemon *d, const cJSON *configmap);

/* A new informer of kind (in ns, NULL: all) with the daemon's handlers, added to d->informers, not started. */
struct informer *daemon_informer_add(struct daemon *d, const struct kind_info *kind, const char *ns,
                                     const char *selector);

/* watch_scope.c: the namespaced scope's watch list, changeable at run time. scope_start copies --watch-namespaces;
 * scope_watch_namespace makes (and with start, starts) one namespace's informers; scope_change applies the policy
 * ConfigMap's `watch-namespaces` key; scope_tick (each resync) drains namespaces that left the list and reports
 * watched namespaces that refuse the operator. */
int scope_start(struct daemon *d);
int scope_watch_namespace(struct daemon *d, const char *ns, int start);
void scope_change(struct daemon *d, const cJSON *configmap);
void scope_tick(struct daemon *d);
void scope_free(struct daemon *d);

#endif
