/* Leader election with a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it: the holder
 * renews the lease every retry period; a candidate takes it over once it has seen the same record, unchanged, for
 * a whole lease duration; a holder that cannot renew within the renew deadline stops leading at once, before any
 * other candidate may take over (renew deadline < lease duration).
 *
 * Expiry is judged by the local monotonic clock from when a record was last seen to change, never by comparing
 * renewTime with our own clock, so clock skew between replicas does not matter. */
#ifndef FLINKOP_LEASE_H
#define FLINKOP_LEASE_H

#include <stddef.h>

struct ev_loop;
struct kube;
struct lease;

struct lease_opts {
    const char *namespace;      /* where the Lease lives: the operator's namespace */
    const char *name;           /* the Lease's name */
    const char *identity;       /* this replica's holderIdentity; unique per process */
    double lease_seconds;       /* 0 means 15 */
    double renew_deadline;      /* 0 means 10 */
    double retry_period;        /* 0 means 2 */
    /* Called when this replica starts (leading = 1) or stops (0) leading. Stopping is reported at once, before
     * the lease could pass to another replica; the callback must stop every write. */
    void (*on_change)(void *ud, int leading);
    void *ud;
};

/* Starts campaigning: the first attempt runs on the next loop iteration. kube is borrowed and must outlive the
 * lease; opts' strings are copied. Returns NULL with a message in err when the options are invalid. */
struct lease *lease_start(struct ev_loop *loop, struct kube *kube, const struct lease_opts *opts, char *err,
                          size_t errlen);

/* Whether this replica holds the lease now. */
int lease_leading(const struct lease *l);

/* Stops campaigning and, when leading, gives the lease up (holderIdentity emptied) so another replica takes over
 * without waiting for expiry. on_change(0) is called when leading. done(ud) is called once the release has been
 * answered (or at once when there is nothing to release), always from the loop. */
void lease_release(struct lease *l, void (*done)(void *ud), void *ud);

/* Stops everything (no callbacks) and frees the lease. */
void lease_free(struct lease *l);

#endif
