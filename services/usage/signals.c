/*
 * signals.c - heartbeats, the hottest path: many signals of one device, and
 * the signals of one user's devices, in a batch become one write each.
 *
 * The first heartbeat of a device in a batch takes the full path (the
 * device must exist; a released user may be taken back, with its event).
 * When that leaves nothing a later signal could change but times (the user
 * is active, or there is none), the device goes into a small table in the
 * service's state, and the batch's later heartbeats of it only move the
 * time kept there. Likewise the first signal of a live, unreleased user in
 * a batch only reads the user and puts it in a second table: the signals of
 * the user's other devices in the batch move its time there. The runtime
 * calls usage_flush_signals before anything else reads the database
 * (another event, a request, a sweep) and before the batch commits: one
 * last-seen write per device and one last-activity write per user.
 */
#include <string.h>

#include "usage.h"

/* Devices (and users) deferred per batch; past 3/4 full, signals take the full path. */
#define PENDING_SLOTS ((size_t)4096)

/* A device or a user whose time a batch moves in memory. */
struct pending_signal {
    char tenant[USAGE_ORG_MAX + 1];
    char id[USAGE_ID_MAX + 1];   /* the device, or the user */
    char user[USAGE_ID_MAX + 1]; /* devices: the user their signals cover, "" for none */
    int64_t written_ms;          /* what the database holds */
    int64_t seen_ms;             /* the latest signal of the batch */
};

/* An open-addressing table of pending signals, cleared by each flush. */
struct pending_table {
    struct pending_signal slots[PENDING_SLOTS];
    bool used[PENDING_SLOTS];
    unsigned order[PENDING_SLOTS]; /* used slots, in arrival order */
    size_t count;
};

struct usage_state {
    struct usage_restore restore; /* restore.c's */
    double *metric_deferred;      /* device signals that only moved a kept time */
    double *metric_writes;        /* device last-seen writes the flushes made */
    double *metric_user_deferred; /* signals whose user write was folded into the flush */
    struct pending_table devices;
    struct pending_table users;
};

const size_t usage_state_size = sizeof(struct usage_state);

struct usage_restore *usage_restore_of(struct service *svc)
{
    struct usage_state *st = service_state(svc);

    return &st->restore;
}

/* FNV-1a over `text`, continuing from `h`. */
static uint64_t fnv1a(uint64_t h, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return h;
}

static size_t slot_of(const struct pending_table *t, const char *tenant, const char *id,
                      bool *ret_found)
{
    /* tenant, a byte no id holds, then the id: (a, bc) and (ab, c) differ. */
    uint64_t h = fnv1a(fnv1a(0xcbf29ce484222325ULL, tenant) ^ '/', id);
    size_t i = (size_t)h & (PENDING_SLOTS - 1);

    while (t->used[i] &&
           (strcmp(t->slots[i].id, id) != 0 || strcmp(t->slots[i].tenant, tenant) != 0))
        i = (i + 1) & (PENDING_SLOTS - 1);
    *ret_found = t->used[i];
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

/* The entry of (tenant, id), or NULL. */
static struct pending_signal *pending_find(struct pending_table *t, const char *tenant,
                                           const char *id)
{
    bool found;
    size_t i = slot_of(t, tenant, id, &found);

    return found ? &t->slots[i] : NULL;
}

/* Adds (tenant, id) at `written_ms`; false when the table is (3/4) full or holds it already. */
static bool pending_add(struct pending_table *t, const char *tenant, const char *id,
                        const char *user, int64_t written_ms)
{
    struct pending_signal *p;
    bool found;
    size_t i;

    if (t->count >= PENDING_SLOTS / 4 * 3)
        return false;
    i = slot_of(t, tenant, id, &found);
    if (found)
        return false;
    p = &t->slots[i];
    copy_id(p->tenant, sizeof(p->tenant), tenant);
    copy_id(p->id, sizeof(p->id), id);
    copy_id(p->user, sizeof(p->user), user);
    p->written_ms = written_ms;
    p->seen_ms = written_ms;
    t->used[i] = true;
    t->order[t->count++] = (unsigned)i;
    return true;
}

static void pending_clear(struct pending_table *t)
{
    for (size_t k = 0; k < t->count; k++)
        t->used[t->order[k]] = false;
    t->count = 0;
}

static void count(struct service *svc, double **slot, const char *name, const char *help)
{
    if (*slot == NULL)
        *slot = service_metric(svc, false, name, help);
    if (*slot != NULL)
        (**slot)++;
}

bool usage_signal_deferred(struct service *svc, const char *tenant, const char *device, int64_t t)
{
    struct usage_state *st = service_state(svc);
    struct pending_signal *p = pending_find(&st->devices, tenant, device);

    if (p == NULL)
        return false;
    if (t > p->seen_ms)
        p->seen_ms = t;
    count(svc, &st->metric_deferred, "lb_usage_signals_coalesced_total",
          "Heartbeats folded into their device's one write");
    return true;
}

void usage_signal_defer(struct service *svc, const char *tenant, const char *device,
                        const char *user, int64_t written_ms)
{
    struct usage_state *st = service_state(svc);

    pending_add(&st->devices, tenant, device, user, written_ms);
}

bool usage_signal_user_deferred(struct service *svc, const char *tenant, const char *user,
                                int64_t t)
{
    struct usage_state *st = service_state(svc);
    struct pending_signal *p = pending_find(&st->users, tenant, user);

    if (p == NULL)
        return false;
    if (t > p->seen_ms)
        p->seen_ms = t;
    count(svc, &st->metric_user_deferred, "lb_usage_signal_users_coalesced_total",
          "Heartbeats whose user's last-activity write was folded into one per batch");
    return true;
}

bool usage_signal_user_defer(struct service *svc, const char *tenant, const char *user,
                             int64_t written_ms, int64_t t)
{
    struct usage_state *st = service_state(svc);

    struct pending_signal *p;

    if (!pending_add(&st->users, tenant, user, "", written_ms))
        return false;
    /* The first signal of the user in the batch: its write moves to the flush, not counted. */
    p = pending_find(&st->users, tenant, user);
    if (p != NULL && t > p->seen_ms)
        p->seen_ms = t;
    return true;
}

enum lb_err usage_flush_signals(struct service *svc, struct lb_why *why)
{
    struct usage_state *st = service_state(svc);
    struct store *s = service_store(svc);
    enum lb_err err = LB_OK;

    for (size_t k = 0; err == LB_OK && k < st->devices.count; k++) {
        struct pending_signal *p = &st->devices.slots[st->devices.order[k]];
        struct pending_signal *u;

        if (p->seen_ms <= p->written_ms)
            continue;
        count(svc, &st->metric_writes, "lb_usage_signal_flush_writes_total",
              "Devices whose coalesced heartbeats a flush wrote");
        err = usage_store_device_seen(s, p->tenant, p->id, p->seen_ms, why);
        if (err != LB_OK || p->user[0] == '\0')
            continue;
        /* The user's own entry collects its devices' times; without one, write it now. */
        u = pending_find(&st->users, p->tenant, p->user);
        if (u != NULL && p->seen_ms > u->seen_ms)
            u->seen_ms = p->seen_ms;
        else if (u == NULL)
            err = usage_store_user_touch(s, p->tenant, p->user, p->seen_ms, NULL, why);
    }
    for (size_t k = 0; err == LB_OK && k < st->users.count; k++) {
        const struct pending_signal *u = &st->users.slots[st->users.order[k]];

        if (u->seen_ms > u->written_ms)
            err = usage_store_user_touch(s, u->tenant, u->id, u->seen_ms, NULL, why);
    }
    pending_clear(&st->devices);
    pending_clear(&st->users);
    return err;
}
