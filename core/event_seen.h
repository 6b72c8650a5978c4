/* The Events the daemon posted, by dedupe key (d->events_sent in sync.c), so a condition that persists bumps one
 * Event's count instead of adding another; and the rule that forgets them. */
#ifndef FLINKOP_EVENT_SEEN_H
#define FLINKOP_EVENT_SEEN_H

#include <stddef.h>
#include <time.h>

#include "strmap.h"

/* kube-apiserver's default --event-ttl. Each create or update of an Event restarts its TTL, so an Event we have not
 * written for this long is gone from the API. */
#define EVENT_TTL_SECONDS 3600

struct event_seen {
    char *name;      /* the Event's name once created; NULL while the create is in flight */
    double count;
    time_t written;  /* when we last created or bumped it */
};

/* Frees a value of the map. */
void event_seen_free(void *seen);

/* Removes and frees the entries last written more than max_age seconds before now. Returns how many went. */
size_t event_seen_prune(struct strmap *sent, time_t now, double max_age);

#endif
