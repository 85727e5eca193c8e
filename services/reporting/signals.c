/*
 * signals.c - heartbeats, reporting's hottest input, coalesced per batch.
 *
 * A heartbeat only moves a device's last signal of its calendar month
 * forward (rep_activity keeps the latest), so it is idempotent by
 * construction: the runtime records no applied id for it, and the
 * heartbeats of a batch only move times in a table in the service's state.
 * The runtime calls rep_flush_signals before anything else reads the
 * database (another event, a request, a sweep) and before the batch
 * commits: one rep_activity write per device and month, and one progress
 * write for the whole batch. A redelivered heartbeat moves nothing, but is
 * counted again in the status' `events` (docs/services/reporting.md).
 */
#include <string.h>

#include "ids.h"
#include "json_strict.h"
#include "reporting.h"

/* Device-months kept per batch; past 3/4 full, a heartbeat is written at once. */
#define SIGNAL_SLOTS ((size_t)4096)
/* "tenant/month/device": the key of a kept time. */
#define SIGNAL_KEY_MAX (REP_ORG_MAX + 1 + 7 + 1 + REP_ENTITY_MAX)

struct kept_signal {
    char key[SIGNAL_KEY_MAX + 1]; /* compared whole */
    char tenant[REP_ORG_MAX + 1];
    char device[REP_ENTITY_MAX + 1];
    int64_t last_ms; /* the latest heartbeat of the batch in that month */
};

struct rep_state {
    struct kept_signal slots[SIGNAL_SLOTS];
    bool used[SIGNAL_SLOTS];
    unsigned order[SIGNAL_SLOTS]; /* used slots, in arrival order */
    size_t count;
    int64_t heartbeats; /* applied since the last flush, for the progress row */
    int64_t newest_ms;  /* the newest of them */
};

const size_t rep_state_size = sizeof(struct rep_state);

/* The slot of `key`: the one holding it, or the free one where it goes. */
static size_t slot_of(const struct rep_state *st, const char *key, size_t len)
{
    size_t i = (size_t)id_digest(key, len) & (SIGNAL_SLOTS - 1);

    while (st->used[i] && strcmp(st->slots[i].key, key) != 0)
        i = (i + 1) & (SIGNAL_SLOTS - 1);
    return i;
}

/* Keeps `time_ms` for the device's month; false when the table is too full to take it. */
static bool keep(struct rep_state *st, const char *tenant, const char *device, int64_t time_ms)
{
    char month[8];
    char key[SIGNAL_KEY_MAX + 1];
    struct kept_signal *k;
    int len;
    size_t i;

    rep_month_of(time_ms, month);
    len = snprintf(key, sizeof(key), "%s/%s/%s", tenant, month, device);
    if (len < 0 || (size_t)len >= sizeof(key))
        return false;
    i = slot_of(st, key, (size_t)len);
    k = &st->slots[i];
    if (st->used[i]) {
        if (time_ms > k->last_ms)
            k->last_ms = time_ms;
        return true;
    }
    if (st->count >= SIGNAL_SLOTS / 4 * 3)
        return false;
    memcpy(k->key, key, (size_t)len + 1);
    snprintf(k->tenant, sizeof(k->tenant), "%s", tenant);
    snprintf(k->device, sizeof(k->device), "%s", device);
    k->last_ms = time_ms;
    st->used[i] = true;
    st->order[st->count++] = (unsigned)i;
    return true;
}

enum lb_err rep_on_heartbeat(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    struct rep_state *st = service_state(svc);
    const char *device;
    enum lb_err err;

    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    err = json_get_string(ev->data, "device", REP_ENTITY_MAX, &device, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "device: %s", err == LB_ENOTFOUND ? "missing" : why->text);
    if (!keep(st, ev->tenant, device, ev->time_ms)) {
        err = rep_store_signal(service_store(svc), ev->tenant, device, ev->time_ms, why);
        if (err != LB_OK)
            return err;
    }
    st->heartbeats++;
    if (ev->time_ms > st->newest_ms)
        st->newest_ms = ev->time_ms;
    return LB_OK;
}

enum lb_err rep_flush_signals(struct service *svc, struct lb_why *why)
{
    struct rep_state *st = service_state(svc);
    struct store *s = service_store(svc);
    enum lb_err err = LB_OK;

    for (size_t n = 0; err == LB_OK && n < st->count; n++) {
        const struct kept_signal *k = &st->slots[st->order[n]];

        err = rep_store_signal(s, k->tenant, k->device, k->last_ms, why);
    }
    if (err == LB_OK && st->heartbeats > 0)
        err = rep_progress_of(svc, "signals", st->newest_ms, st->heartbeats, why);
    for (size_t n = 0; n < st->count; n++)
        st->used[st->order[n]] = false;
    st->count = 0;
    st->heartbeats = 0;
    st->newest_ms = 0;
    return err;
}
