/*
 * sweeps.c - licensing's clock-driven transitions: a license passing into
 * Expiring (LB_LICENSING_EXPIRING_WINDOW before its expiration) and into
 * Expired emits license_expiring and license_expired, once per expiration
 * date. The markers (expiring_for, expired_for = the expiration they were
 * emitted for) are written in the same transaction as the events, so a
 * restart, a clock jump or a replay emits each exactly once; a renewal
 * moves the expiration and so re-arms both. A jump past both emits both,
 * in order. Only licenses whose next_ms is due are read (an index range).
 * While a rebuild restores the licensing stream the sweep does nothing: the
 * markers come back with the license events (data.state), so nothing the
 * original emitted is emitted again.
 */
#include <stdio.h>
#include <string.h>

#include "licensing.h"

/* Licenses handled per query; the sweep loops until none is due. */
#define SWEEP_BATCH 256

static enum lb_err transition(struct service *svc, struct license *l, const char *name,
                              int64_t at_ms, struct lb_why *why)
{
    const struct actor actor = {.org = NULL, .user = "sweep"};
    char id[40];
    const struct lic_cause cause = {.kind = "sweep", .id = id};
    cJSON *before = cJSON_CreateObject();
    cJSON *after = cJSON_CreateObject();
    bool expired = strcmp(name, "license_expired") == 0;
    enum lb_err err = LB_OK;

    if (before == NULL || after == NULL ||
        !cJSON_AddStringToObject(before, "status", expired ? "expiring" : "active") ||
        !cJSON_AddStringToObject(after, "status", expired ? "expired" : "expiring"))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    /* The runtime's cause of a sweep's events (dispatch_sweep). */
    (void)snprintf(id, sizeof(id), "sweep@%lld", (long long)at_ms);
    if (err == LB_OK)
        err = lic_record(svc, l,
                         &(struct lic_change){.name = name,
                                              .actor = &actor,
                                              .cause = &cause,
                                              .time_ms = at_ms,
                                              .before = before,
                                              .after = after,
                                              .history = true},
                         NULL, why);
    cJSON_Delete(before);
    cJSON_Delete(after);
    return err;
}

static enum lb_err sweep_one(struct service *svc, const char *id, int64_t now_ms, int64_t window_ms,
                             struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct license l;
    enum lb_err err = lic_store_get_by_id(s, id, &l, why);
    bool changed = false;

    if (err != LB_OK)
        return err;
    if (l.expired_for != l.expires_ms && l.expiring_for != l.expires_ms &&
        now_ms >= l.expires_ms - window_ms) {
        l.expiring_for = l.expires_ms;
        l.rev++;
        changed = true;
        err = lic_store_put(s, &l, lic_next_transition(&l, window_ms), why);
        if (err == LB_OK)
            err = transition(svc, &l, "license_expiring", now_ms, why);
    }
    if (err == LB_OK && l.expired_for != l.expires_ms && now_ms >= l.expires_ms) {
        l.expired_for = l.expires_ms;
        l.rev++;
        changed = true;
        err = lic_store_put(s, &l, lic_next_transition(&l, window_ms), why);
        if (err == LB_OK)
            err = transition(svc, &l, "license_expired", now_ms, why);
    }
    /* Due by a next_ms computed with another window setting: recompute it, emit nothing. */
    if (err == LB_OK && !changed)
        err = lic_store_put(s, &l, lic_next_transition(&l, window_ms), why);
    return err;
}

enum lb_err lic_sweep(struct service *svc, int64_t now_ms, struct lb_why *why)
{
    const struct lic_config *cfg = service_config(svc);
    char ids[SWEEP_BATCH][27];
    enum lb_err err;
    int n;

    do {
        err = lic_store_due_ids(service_store(svc), now_ms, SWEEP_BATCH, ids, &n, why);
        for (int i = 0; err == LB_OK && i < n; i++)
            err = sweep_one(svc, ids[i], now_ms, cfg->expiring_window_ms, why);
    } while (err == LB_OK && n == SWEEP_BATCH);
    return err;
}
