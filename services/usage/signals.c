/*
 * signals.c - heartbeats, the hottest path: many signals of one device in a
 * batch become one write.
 *
 * The first heartbeat of a device in a batch takes the full path (the
 * device must exist; a released user may be taken back, with its event).
 * When that leaves nothing a later signal could change but times (the user
 * is active, or there is none), the device goes into a small table in the
 * service's state, and the batch's later heartbeats of it only move the
 * time kept there. The runtime calls usage_flush_signals before anything
 * else reads the database (another event, a request, a sweep) and before
 * the batch commits: one last-seen write per device and one per user.
 */
#include <string.h>

#include "usage.h"

/* Devices deferred per batch; past 3/4 full, heartbeats take the full path. */
#define PENDING_SLOTS ((size_t)4096)

struct pending_signal {
    char tenant[USAGE_ORG_MAX + 1];
    char device[USAGE_ID_MAX + 1];
    char user[USAGE_ID_MAX + 1]; /* "" when the signal covers no user */
    int64_t written_ms;          /* what the database holds */
    int64_t seen_ms;             /* the latest signal of the batch */
};

struct usage_state {
    double *metric_deferred; /* signals that only moved a kept time */
    double *metric_writes;   /* last-seen writes the flushes made */
    struct pending_signal slots[PENDING_SLOTS];
    bool used[PENDING_SLOTS];
    unsigned order[PENDING_SLOTS]; /* used slots, in arrival order */
    size_t count;
};

const size_t usage_state_size = sizeof(struct usage_state);

/* FNV-1a over `text`, continuing from `h`. */
static uint64_t fnv1a(uint64_t h, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h;
}

static size_t slot_of(const struct usage_state *st, const char *tenant, const char *device,
                      bool *ret_found)
{
    /* tenant, a byte no id holds, then device: (a, bc) and (ab, c) differ. */
    uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ULL, tenant) ^ '/', device);
    size_t i = (size_t)h & (PENDING_SLOTS - 1);

    while (st->used[i] &&
           (strcmp(st->slots[i].device, device) != 0 || strcmp(st->slots[i].tenant, tenant) != 0))
        i = (i + 1) & (PENDING_SLOTS - 1);
    *ret_found = st->used[i];
    return i;
}

/* Copies a string the caller validated to fit (ids and org ids are bounded at the boundary). */
static void copy_id(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);

    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

bool usage_signal_deferred(struct service *svc, const char *tenant, const char *device, int64_t t)
{
    struct usage_state *st = service_state(svc);
    bool found;
    size_t i = slot_of(st, tenant, device, &found);

    if (!found)
        return false;
    if (t > st->slots[i].seen_ms)
        st->slots[i].seen_ms = t;
    if (st->metric_deferred == NULL)
        st->metric_deferred = service_metric(svc, false, "lb_usage_signals_coalesced_total",
                                             "Heartbeats folded into their device's one write");
    if (st->metric_deferred != NULL)
        (*st->metric_deferred)++;
    return true;
}

void usage_signal_defer(struct service *svc, const char *tenant, const char *device,
                        const char *user, int64_t written_ms)
{
    struct usage_state *st = service_state(svc);
    struct pending_signal *p;
    bool found;
    size_t i;

    if (st->count >= PENDING_SLOTS / 4 * 3)
        return;
    i = slot_of(st, tenant, device, &found);
    if (found)
        return;
    p = &st->slots[i];
    copy_id(p->tenant, sizeof(p->tenant), tenant);
    copy_id(p->device, sizeof(p->device), device);
    copy_id(p->user, sizeof(p->user), user);
    p->written_ms = written_ms;
    p->seen_ms = written_ms;
    st->used[i] = true;
    st->order[st->count++] = (unsigned)i;
}

enum lb_err usage_flush_signals(struct service *svc, struct lb_why *why)
{
    struct usage_state *st = service_state(svc);
    struct store *s = service_store(svc);
    enum lb_err err = LB_OK;

    for (size_t k = 0; k < st->count; k++) {
        struct pending_signal *p = &st->slots[st->order[k]];
        bool moved;

        if (err == LB_OK && p->seen_ms > p->written_ms) {
            if (st->metric_writes == NULL)
                st->metric_writes =
                    service_metric(svc, false, "lb_usage_signal_flush_writes_total",
                                   "Devices whose coalesced heartbeats a flush wrote");
            if (st->metric_writes != NULL)
                (*st->metric_writes)++;
            err = usage_store_device_seen(s, p->tenant, p->device, p->seen_ms, why);
            if (err == LB_OK && p->user[0] != '\0')
                err = usage_store_user_touch(s, p->tenant, p->user, p->seen_ms, &moved, why);
        }
        st->used[st->order[k]] = false;
    }
    st->count = 0;
    return err;
}
