/*
 * sweeps.c - the clock-driven transition: an in_trial subscription whose
 * trial has ended is converted to active, billing from its trial end, with
 * one subscription_changed (change "converted", actor "trial_sweep").
 *
 * Exactly once: the conversion and its event are written in the same
 * transaction and the converted row leaves the partial index the sweep
 * reads, so a restart, a clock jump (many trials due at once) or a replay
 * (ids derived from the sweep's virtual time) converts each trial once. A
 * rebuild skips the sweeps its own stream shows were made (their
 * conversions come back as snapshots, D23), so none is emitted again.
 */
#include "subscriptions.h"

/* The actor written into automatic conversions. */
#define ACTOR_SWEEP "trial_sweep"

static enum lb_err convert_one(struct service *svc, const char *tenant, const char *id,
                               int64_t now_ms, struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct subscription sub;
    enum lb_err err = subs_store_sub_get(s, tenant, id, &sub, why);

    if (err != LB_OK)
        return err;
    if (!sub_trial_due(&sub, now_ms))
        return lb_fail(why, LB_EINTERNAL, "subscription %s listed as due but is not", id);
    sub_convert_at_trial_end(&sub);
    sub.version++;
    sub.updated_ms = now_ms;
    err = subs_store_sub_put(s, tenant, &sub, why);
    if (err == LB_OK)
        err = subs_emit_subscription_changed(svc, tenant, &sub, "converted", ACTOR_SWEEP, why);
    return err;
}

enum lb_err subs_sweep(struct service *svc, int64_t now_ms, struct lb_why *why)
{
    /* About 50 KB: the loop thread's stack holds it (no static state, STYLE 9). */
    char tenants[SUBS_SWEEP_CHUNK][SUBS_ORG_MAX + 1];
    char ids[SUBS_SWEEP_CHUNK][SUBS_ENTITY_MAX + 1];
    struct subs_state *st = subs_state(svc);
    bool old = false;
    enum lb_err err;
    int n;

    /* A sweep the own stream shows was made already: its conversions are in the snapshots read
     * back (a rebuild, D23). */
    err = subs_sweep_is_old(svc, now_ms, &old, why);
    if (err != LB_OK || old)
        return err;
    st->context = CTX_SWEEP;
    st->sweep_ms = now_ms;
    /* Chunks, so no statement reads the index while its rows change; each chunk leaves it. */
    do {
        err = subs_store_trials_due(service_store(svc), now_ms, SUBS_SWEEP_CHUNK, tenants, ids, &n,
                                    why);
        for (int i = 0; i < n && err == LB_OK; i++)
            err = convert_one(svc, tenants[i], ids[i], now_ms, why);
    } while (err == LB_OK && n == SUBS_SWEEP_CHUNK);
    st->context = CTX_REQUEST;
    return err;
}
