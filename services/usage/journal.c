/*
 * journal.c - usage's own stream as the journal of its database
 * (docs/decisions.md D20; docs/services/usage.md, "Rebuild").
 *
 * A rebuild replays every stream usage consumes, each through its own
 * consumer, so they interleave in any order; but usage's rules depend on
 * order (an association needs its device and its user, a release needs the
 * heartbeats before it), and the device_associate command is in no stream
 * at all. So every change is announced: after each platform event (other
 * than heartbeats and scan counts), each changing command and each retake,
 * state_changed carries the full state and revision of every user, device
 * and subscription row it touched (the triggers of store.c note them in
 * journal_dirty), and the id of the event that caused it. A platform event
 * that changed nothing still announces itself (no rows), so that a rebuild
 * knows it was applied. Sweeps announce their own changes in their events
 * (license_released, user_purged, overconsumption_*: each with the row's
 * revision), so a sweep over a million users writes no snapshots.
 *
 * restore.c reads these back: in normal operation each is a no-op (the row
 * is at that revision already); in a rebuild they restore the database in
 * the order the original made it, and the causes they name are not applied
 * again. Heartbeats and scan counts are not journaled: they are applied
 * again after the restore (last-seen only moves forward; each count once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "usage.h"

/* Rows per state_changed: a change touching more (a deletion detaching many devices) is split. */
#define JOURNAL_ROWS_PER_EVENT 50

static bool add_time(cJSON *obj, const char *name, int64_t ms)
{
    char text[32];

    if (ms == 0)
        return cJSON_AddNullToObject(obj, name) != NULL;
    envelope_format_time(ms, text);
    return cJSON_AddStringToObject(obj, name, text) != NULL;
}

static bool add_text_or_null(cJSON *obj, const char *name, bool present, const char *text)
{
    if (!present)
        return cJSON_AddNullToObject(obj, name) != NULL;
    return cJSON_AddStringToObject(obj, name, text) != NULL;
}

static enum lb_err add_seat(const struct seat_row *seat, void *arg)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddStringToObject(o, "subscription", seat->subscription) ||
        !add_text_or_null(o, "group", seat->group[0] != '\0', seat->group) ||
        !cJSON_AddStringToObject(o, "customer", seat->customer) ||
        !add_time(o, "assigned_at", seat->assigned_ms) || !cJSON_AddItemToArray(arg, o)) {
        cJSON_Delete(o);
        return LB_ENOMEM;
    }
    return LB_OK;
}

static enum lb_err user_json(struct store *s, const char *tenant, const char *id, cJSON *list,
                             struct lb_why *why)
{
    struct user_row u;
    cJSON *o;
    cJSON *seats;
    enum lb_err err = usage_store_user_get(s, tenant, id, &u, why);

    if (err != LB_OK)
        return err;
    o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "user", u.id) ||
        !cJSON_AddStringToObject(o, "org", u.org) ||
        !cJSON_AddStringToObject(o, "customer", u.customer) ||
        !cJSON_AddBoolToObject(o, "known", u.known) ||
        !add_text_or_null(o, "email", u.has_email, u.email) ||
        !add_text_or_null(o, "display_name", u.has_name, u.display_name) ||
        !add_time(o, "created_at", u.created_ms) || !add_time(o, "last_active", u.last_active_ms) ||
        !add_time(o, "released_at", u.released_ms) ||
        !add_time(o, "license_removed_at", u.license_removed_ms) ||
        !add_time(o, "purged_at", u.purged_ms) || !add_time(o, "deleted_at", u.deleted_ms) ||
        !add_time(o, "personal_at", u.personal_ms) ||
        (seats = cJSON_AddArrayToObject(o, "seats")) == NULL ||
        !cJSON_AddNumberToObject(o, "rev", (double)u.rev) || !cJSON_AddItemToArray(list, o)) {
        cJSON_Delete(o);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    return usage_store_each_user_seat(s, tenant, id, add_seat, seats, why);
}

static enum lb_err device_json(struct store *s, const char *tenant, const char *id, cJSON *list,
                               struct lb_why *why)
{
    struct device_row d;
    cJSON *o;
    enum lb_err err = usage_store_device_get(s, tenant, id, &d, why);

    if (err != LB_OK)
        return err;
    o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "device", d.id) ||
        !cJSON_AddStringToObject(o, "org", d.org) ||
        !cJSON_AddStringToObject(o, "customer", d.customer) ||
        !cJSON_AddStringToObject(o, "kind", device_kind_name(d.kind)) ||
        !cJSON_AddStringToObject(o, "hostname", d.hostname) ||
        !add_text_or_null(o, "os", d.os[0] != '\0', d.os) ||
        !cJSON_AddBoolToObject(o, "installed", d.installed) ||
        !add_text_or_null(o, "user", d.user[0] != '\0', d.user) ||
        !add_time(o, "installed_at", d.installed_ms) ||
        !add_time(o, "uninstalled_at", d.uninstalled_ms) ||
        !add_time(o, "last_seen", d.last_seen_ms) ||
        !cJSON_AddNumberToObject(o, "rev", (double)d.rev) || !cJSON_AddItemToArray(list, o)) {
        cJSON_Delete(o);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    return LB_OK;
}

static enum lb_err subscription_json(struct store *s, const char *tenant, const char *id,
                                     cJSON *list, struct lb_why *why)
{
    struct sub_row sub;
    cJSON *o;
    enum lb_err err = usage_store_subscription_get(s, tenant, id, &sub, why);

    if (err != LB_OK)
        return err;
    o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "subscription", sub.id) ||
        !cJSON_AddStringToObject(o, "customer", sub.customer) ||
        !cJSON_AddStringToObject(o, "package", sub.package) ||
        !cJSON_AddStringToObject(o, "seat_basis", seat_basis_name(sub.basis)) ||
        !cJSON_AddNumberToObject(o, "quantity", (double)sub.quantity) ||
        !cJSON_AddStringToObject(o, "status", sub_status_name(sub.status)) ||
        !cJSON_AddBoolToObject(o, "over", sub.over) || !add_time(o, "updated_at", sub.updated_ms) ||
        !cJSON_AddNumberToObject(o, "rev", (double)sub.rev) || !cJSON_AddItemToArray(list, o)) {
        cJSON_Delete(o);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    return LB_OK;
}

/* A state_changed body: its cause and (empty) lists of rows. */
static cJSON *entry_new(enum usage_cause kind, const char *cause_id)
{
    static const char *const kinds[] = {"event", "signal", "request"};
    cJSON *data = cJSON_CreateObject();
    cJSON *cause = data != NULL ? cJSON_AddObjectToObject(data, "cause") : NULL;

    if (cause == NULL || !cJSON_AddStringToObject(cause, "kind", kinds[kind]) ||
        !add_text_or_null(cause, "id", cause_id != NULL, cause_id) ||
        cJSON_AddArrayToObject(data, "users") == NULL ||
        cJSON_AddArrayToObject(data, "devices") == NULL ||
        cJSON_AddArrayToObject(data, "subscriptions") == NULL) {
        cJSON_Delete(data);
        return NULL;
    }
    return data;
}

/* Emits `*data` (if any) into `tenant` and forgets it. */
static enum lb_err entry_emit(struct service *svc, const char *tenant, cJSON **data,
                              struct lb_why *why)
{
    enum lb_err err = LB_OK;

    if (*data != NULL)
        err = service_emit(svc, tenant, "state_changed", 1, *data, NULL, why);
    cJSON_Delete(*data);
    *data = NULL;
    return err;
}

enum lb_err usage_journal_commit(struct service *svc, const char *tenant, enum usage_cause kind,
                                 const char *cause_id, bool always, struct lb_why *why)
{
    static const char *const lists[] = {"", "users", "devices", "subscriptions"};
    struct store *s = service_store(svc);
    struct usage_key *keys = NULL;
    const char *entry_tenant = tenant;
    cJSON *data = NULL;
    size_t n = 0;
    size_t rows = 0;
    enum lb_err err = usage_store_dirty_take(s, &keys, &n, why);

    if (err == LB_OK && n == 0 && always && (data = entry_new(kind, cause_id)) == NULL)
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    for (size_t i = 0; err == LB_OK && i < n; i++) {
        const struct usage_key *k = &keys[i];
        cJSON *list;

        /* One tenant per event (a change touches its own tenant's rows), a bounded size. */
        if (data != NULL &&
            (rows == JOURNAL_ROWS_PER_EVENT || strcmp(k->tenant, entry_tenant) != 0))
            err = entry_emit(svc, entry_tenant, &data, why);
        if (err == LB_OK && data == NULL) {
            rows = 0;
            entry_tenant = k->tenant;
            data = entry_new(kind, cause_id);
            if (data == NULL)
                err = lb_fail(why, LB_ENOMEM, "out of memory");
        }
        if (err != LB_OK)
            break;
        list = cJSON_GetObjectItemCaseSensitive(data, lists[k->kind]);
        err = usage_store_rev_next(s, k->kind, k->tenant, k->id, why);
        if (err == LB_OK && k->kind == USAGE_KIND_USER)
            err = user_json(s, k->tenant, k->id, list, why);
        else if (err == LB_OK && k->kind == USAGE_KIND_DEVICE)
            err = device_json(s, k->tenant, k->id, list, why);
        else if (err == LB_OK)
            err = subscription_json(s, k->tenant, k->id, list, why);
        rows++;
    }
    if (err == LB_OK)
        err = entry_emit(svc, entry_tenant, &data, why);
    cJSON_Delete(data);
    free(keys);
    return err;
}

/* ---- platform events, journaled --------------------------------------------------------- */

/*
 * Runs `apply` for a platform event: refused while a restore runs (the event
 * is retried later), skipped when a restore brought its effect back (an own
 * event named it as its cause), else applied and announced (state_changed,
 * also when it changed nothing: a rebuild then knows it was applied).
 */
static enum lb_err journaled(struct service *svc, const struct envelope *ev, service_event_fn apply,
                             struct lb_why *why)
{
    bool restored = false;
    enum lb_err err = usage_restore_covered(svc, ev, &restored, why);

    if (err != LB_OK || restored)
        return err;
    err = apply(svc, ev, why);
    /* On failure the savepoint takes the dirty rows back with the rest. */
    if (err == LB_OK)
        err = usage_journal_commit(svc, ev->tenant, USAGE_CAUSE_EVENT, ev->id, true, why);
    return err;
}

enum lb_err usage_journaled_user_created(struct service *svc, const struct envelope *ev,
                                         struct lb_why *why)
{
    return journaled(svc, ev, usage_on_user_created, why);
}

enum lb_err usage_journaled_user_updated(struct service *svc, const struct envelope *ev,
                                         struct lb_why *why)
{
    return journaled(svc, ev, usage_on_user_updated, why);
}

enum lb_err usage_journaled_user_deleted(struct service *svc, const struct envelope *ev,
                                         struct lb_why *why)
{
    return journaled(svc, ev, usage_on_user_deleted, why);
}

enum lb_err usage_journaled_device_installed(struct service *svc, const struct envelope *ev,
                                             struct lb_why *why)
{
    return journaled(svc, ev, usage_on_device_installed, why);
}

enum lb_err usage_journaled_device_uninstalled(struct service *svc, const struct envelope *ev,
                                               struct lb_why *why)
{
    return journaled(svc, ev, usage_on_device_uninstalled, why);
}

enum lb_err usage_journaled_device_associated(struct service *svc, const struct envelope *ev,
                                              struct lb_why *why)
{
    return journaled(svc, ev, usage_on_device_associated, why);
}

enum lb_err usage_journaled_device_detached(struct service *svc, const struct envelope *ev,
                                            struct lb_why *why)
{
    return journaled(svc, ev, usage_on_device_detached, why);
}

enum lb_err usage_journaled_subscription_changed(struct service *svc, const struct envelope *ev,
                                                 struct lb_why *why)
{
    return journaled(svc, ev, usage_on_subscription_changed, why);
}

enum lb_err usage_journaled_seat_assigned(struct service *svc, const struct envelope *ev,
                                          struct lb_why *why)
{
    return journaled(svc, ev, usage_on_seat_assigned, why);
}

enum lb_err usage_journaled_seat_unassigned(struct service *svc, const struct envelope *ev,
                                            struct lb_why *why)
{
    return journaled(svc, ev, usage_on_seat_unassigned, why);
}
