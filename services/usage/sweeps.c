/*
 * sweeps.c - usage's clock-driven transitions, run in one transaction per
 * sweep (the tick's on the virtual clock). Its jobs, in order:
 *
 *   1. inactivity release: a licensed user whose last activity is at least
 *      LB_USAGE_INACTIVE_AFTER old is released (license_released);
 *   2. over-consumption: each customer touched by (1) is recounted
 *      (overconsumption_ended when a release brings it under);
 *   3. retention purge: a user whose license was removed at least
 *      LB_USAGE_RETENTION ago loses email and display name for good
 *      (user_purged).
 *
 * Each transition is recorded in the user's row (released_ms, purged_ms) in
 * the same transaction as its event, and the queries select only rows not
 * yet transitioned, so a restart, a clock jump or a replay emits each
 * exactly once. Each event carries the row's new revision: it is the
 * sweep's entry in the journal (journal.c), read back by restore.c. At most USAGE_SWEEP_BATCH users
 * per job and sweep; the next sweep goes on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "usage.h"

/*
 * Customers to recount after the releases, each once, in first-touched order;
 * hashed (10,000 releases over 1,000 customers made a linear search 5 million
 * comparisons).
 */
struct customer_set {
    struct user_key *items; /* `user` holds the customer id */
    size_t n;
    size_t cap;
    size_t *slots;   /* open addressing: index + 1 into items, 0 when free */
    size_t slot_cap; /* a power of two, at least twice `n` */
};

static size_t customer_hash(const char *tenant, const char *customer)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const unsigned char *p = (const unsigned char *)tenant; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h = (h ^ '/') * 0x100000001b3ULL;
    for (const unsigned char *p = (const unsigned char *)customer; *p != '\0'; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (size_t)h;
}

/* The slot of (tenant, customer): holding it, or the free one it would take. */
static size_t customer_slot(const struct customer_set *set, const char *tenant,
                            const char *customer)
{
    size_t mask = set->slot_cap - 1;
    size_t i = customer_hash(tenant, customer) & mask;

    while (set->slots[i] != 0) {
        const struct user_key *k = &set->items[set->slots[i] - 1];

        if (strcmp(k->user, customer) == 0 && strcmp(k->tenant, tenant) == 0)
            break;
        i = (i + 1) & mask;
    }
    return i;
}

static enum lb_err customer_set_add(struct customer_set *set, const char *tenant,
                                    const char *customer, struct lb_why *why)
{
    size_t slot;

    if (2 * (set->n + 1) > set->slot_cap) {
        size_t more = set->slot_cap == 0 ? 64 : set->slot_cap * 2;
        size_t *grown = calloc(more, sizeof(*grown));

        if (grown == NULL)
            return lb_fail(why, LB_ENOMEM, "out of memory");
        free(set->slots);
        set->slots = grown;
        set->slot_cap = more;
        for (size_t i = 0; i < set->n; i++)
            set->slots[customer_slot(set, set->items[i].tenant, set->items[i].user)] = i + 1;
    }
    slot = customer_slot(set, tenant, customer);
    if (set->slots[slot] != 0)
        return LB_OK;
    if (set->n == set->cap) {
        size_t more = set->cap == 0 ? 16 : set->cap * 2;
        struct user_key *grown = realloc(set->items, more * sizeof(*grown));

        if (grown == NULL)
            return lb_fail(why, LB_ENOMEM, "out of memory");
        set->items = grown;
        set->cap = more;
    }
    snprintf(set->items[set->n].tenant, sizeof(set->items[0].tenant), "%s", tenant);
    snprintf(set->items[set->n].user, sizeof(set->items[0].user), "%s", customer);
    set->slots[slot] = ++set->n;
    return LB_OK;
}

static enum lb_err release(struct service *svc, const struct due_user *u, int64_t now_ms,
                           struct customer_set *touched, struct lb_why *why)
{
    char since[32];
    cJSON *data;
    enum lb_err err;

    envelope_format_time(u->last_active_ms, since);
    err = usage_store_user_release(service_store(svc), u->tenant, u->user, now_ms, why);
    if (err != LB_OK)
        return err;
    data = cJSON_CreateObject();
    if (data == NULL || !cJSON_AddStringToObject(data, "user", u->user) ||
        !cJSON_AddStringToObject(data, "customer", u->customer) ||
        !cJSON_AddStringToObject(data, "inactive_since", since) ||
        !cJSON_AddNumberToObject(data, "seats", (double)u->seat_count) ||
        !cJSON_AddNumberToObject(data, "rev", (double)(u->rev + 1)))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = service_emit(svc, u->tenant, "license_released", 1, data, NULL, why);
    cJSON_Delete(data);
    if (err == LB_OK)
        err = customer_set_add(touched, u->tenant, u->customer, why);
    return err;
}

static enum lb_err purge(struct service *svc, const struct user_key *k, int64_t now_ms,
                         struct lb_why *why)
{
    struct store *s = service_store(svc);
    char removed[32];
    struct user_row u;
    cJSON *data;
    cJSON *what;
    enum lb_err err;

    err = usage_store_user_get(s, k->tenant, k->user, &u, why);
    if (err != LB_OK)
        return err;
    envelope_format_time(u.license_removed_ms, removed);
    err = usage_store_user_purge(s, k->tenant, k->user, now_ms, why);
    if (err != LB_OK)
        return err;
    data = cJSON_CreateObject();
    what = cJSON_AddArrayToObject(data, "what");
    if (what == NULL || !cJSON_AddStringToObject(data, "user", u.id) ||
        !cJSON_AddStringToObject(data, "customer", u.customer) ||
        !cJSON_AddStringToObject(data, "license_removed_at", removed) ||
        !cJSON_AddNumberToObject(data, "rev", (double)(u.rev + 1)) ||
        !cJSON_AddItemToArray(what, cJSON_CreateString("email")) ||
        !cJSON_AddItemToArray(what, cJSON_CreateString("display_name")))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = service_emit(svc, k->tenant, "user_purged", 1, data, NULL, why);
    cJSON_Delete(data);
    return err;
}

enum lb_err usage_sweep(struct service *svc, int64_t now_ms, struct lb_why *why)
{
    const struct usage_config *cfg = service_config(svc);
    struct store *s = service_store(svc);
    struct customer_set touched = {0};
    struct due_user *due = NULL;
    struct user_key *keys = NULL;
    size_t n = 0;
    enum lb_err err;

    err = usage_store_due_release(s, now_ms - cfg->inactive_after_ms, USAGE_SWEEP_BATCH, &due, &n,
                                  why);
    for (size_t i = 0; err == LB_OK && i < n; i++)
        err = release(svc, &due[i], now_ms, &touched, why);
    free(due);
    /* A release only lowers a customer's counts (its devices stay covered by the user), so it
     * can end an over-consumption but never start one: only customers with a subscription
     * marked over need the recount (which reads every seat of the customer). */
    for (size_t i = 0; err == LB_OK && i < touched.n; i++) {
        bool any_over = false;

        err = usage_store_customer_any_over(s, touched.items[i].tenant, touched.items[i].user,
                                            &any_over, why);
        if (err == LB_OK && any_over)
            err = usage_recheck(svc, touched.items[i].tenant, touched.items[i].user, why);
    }
    free(touched.items);
    free(touched.slots);
    if (err == LB_OK)
        err = usage_store_due_purge(s, now_ms - cfg->retention_ms, now_ms, USAGE_SWEEP_BATCH, &keys,
                                    &n, why);
    for (size_t i = 0; err == LB_OK && i < n; i++)
        err = purge(svc, &keys[i], now_ms, why);
    free(keys);
    /* Their events carry the revisions (restore.c): no state_changed for a sweep. */
    if (err == LB_OK)
        err = usage_store_dirty_clear(s, why);
    return err;
}
