/*
 * restore.c - usage's own events read back: the journal (journal.c) applied
 * upsert-if-newer, and the restore of a rebuilt database.
 *
 * usage reads its own domain only while a new database catches up (D28):
 * the runtime reads the usage stream to its end before it starts the
 * platform consumers, the clock and the sweeps, and refuses requests until
 * then, because each would act on a half-restored database and decide or
 * emit what the original never did. state_changed rows and the revisions
 * the sweep's events carry are applied when newer than the row; they
 * restore every row in the order the original wrote them and name the
 * platform events that caused them. Then the service serves: a platform
 * event a restored change named is acked without being applied again, any
 * other (a heartbeat, one the original never saw) is applied as usual.
 * Scan counts are never journaled (each adds once, in any order).
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "json_strict.h"
#include "usage.h"

static enum lb_err init_metrics(struct service *svc, struct usage_restore *r, struct lb_why *why)
{
    if (r->metric_own != NULL)
        return LB_OK;
    r->metric_own =
        service_metric(svc, false, "lb_usage_own_events_total",
                       "Events of its own domain read back (a new database catching up)");
    r->metric_restored = service_metric(svc, false, "lb_usage_restored_total",
                                        "Rows its own events brought back (a restore)");
    r->metric_skipped =
        service_metric(svc, false, "lb_usage_restored_skips_total",
                       "Platform events not applied again: their effect came with a restore");
    if (r->metric_own == NULL || r->metric_restored == NULL || r->metric_skipped == NULL) {
        r->metric_own = NULL;
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    return LB_OK;
}

enum lb_err usage_restore_covered(struct service *svc, const struct envelope *ev,
                                  bool *ret_restored, struct lb_why *why)
{
    struct usage_restore *r = usage_restore_of(svc);
    enum lb_err err = init_metrics(svc, r, why);

    if (err == LB_OK)
        err = usage_store_cause_take(service_store(svc), ev->id, ret_restored, why);
    if (err == LB_OK && *ret_restored)
        (*r->metric_skipped)++;
    return err;
}

/* ---- decoding the journal's rows ------------------------------------------------------- */

static enum lb_err take_text(const cJSON *o, const char *name, char *dst, size_t size,
                             struct lb_why *why)
{
    const char *text;
    enum lb_err err = json_get_string(o, name, size - 1, &text, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    (void)snprintf(dst, size, "%s", text);
    return LB_OK;
}

/* A string or null (""). */
static enum lb_err take_text_or_null(const cJSON *o, const char *name, char *dst, size_t size,
                                     bool *ret_present, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, name);

    *ret_present = !cJSON_IsNull(item);
    if (!*ret_present) {
        dst[0] = '\0';
        return LB_OK;
    }
    return take_text(o, name, dst, size, why);
}

/* A time or null (0). */
static enum lb_err take_time(const cJSON *o, const char *name, int64_t *ret, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, name);

    *ret = 0;
    if (cJSON_IsNull(item))
        return LB_OK;
    if (!cJSON_IsString(item) || envelope_parse_time(item->valuestring, ret) != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: not a time", name);
    return LB_OK;
}

static enum lb_err take_bool(const cJSON *o, const char *name, bool *ret, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!cJSON_IsBool(item))
        return lb_fail(why, LB_EINVAL, "%s: not a boolean", name);
    *ret = cJSON_IsTrue(item);
    return LB_OK;
}

static enum lb_err take_rev(const cJSON *o, int64_t *ret, struct lb_why *why)
{
    enum lb_err err = json_get_int(o, "rev", 1, JSON_MAX_SAFE_INTEGER, ret, why);

    return err == LB_OK ? LB_OK : lb_fail(why, LB_EINVAL, "rev: %s", why->text);
}

/* Whether a row at `rev` is newer than what the database holds. */
static enum lb_err is_newer(struct store *s, enum usage_kind kind, const char *tenant,
                            const char *id, int64_t rev, bool *ret_newer, struct lb_why *why)
{
    int64_t stored = 0;
    bool present = false;
    enum lb_err err = usage_store_rev_get(s, kind, tenant, id, &stored, &present, why);

    *ret_newer = err == LB_OK && (!present || stored < rev);
    return err;
}

static enum lb_err restore_user(struct store *s, const char *tenant, const cJSON *o,
                                bool *ret_applied, struct lb_why *why)
{
    const cJSON *seats = cJSON_GetObjectItemCaseSensitive(o, "seats");
    const cJSON *item;
    struct user_row u = {0};
    bool newer = false;
    enum lb_err err;

    err = take_text(o, "user", u.id, sizeof(u.id), why);
    if (err == LB_OK)
        err = take_rev(o, &u.rev, why);
    if (err == LB_OK)
        err = is_newer(s, USAGE_KIND_USER, tenant, u.id, u.rev, &newer, why);
    if (err != LB_OK || !newer)
        return err;
    err = take_text(o, "org", u.org, sizeof(u.org), why);
    if (err == LB_OK)
        err = take_text(o, "customer", u.customer, sizeof(u.customer), why);
    if (err == LB_OK)
        err = take_bool(o, "known", &u.known, why);
    if (err == LB_OK)
        err = take_text_or_null(o, "email", u.email, sizeof(u.email), &u.has_email, why);
    if (err == LB_OK)
        err = take_text_or_null(o, "display_name", u.display_name, sizeof(u.display_name),
                                &u.has_name, why);
    if (err == LB_OK)
        err = take_time(o, "created_at", &u.created_ms, why);
    if (err == LB_OK)
        err = take_time(o, "last_active", &u.last_active_ms, why);
    if (err == LB_OK)
        err = take_time(o, "released_at", &u.released_ms, why);
    if (err == LB_OK)
        err = take_time(o, "license_removed_at", &u.license_removed_ms, why);
    if (err == LB_OK)
        err = take_time(o, "purged_at", &u.purged_ms, why);
    if (err == LB_OK)
        err = take_time(o, "deleted_at", &u.deleted_ms, why);
    if (err == LB_OK)
        err = take_time(o, "personal_at", &u.personal_ms, why);
    if (err == LB_OK && !cJSON_IsArray(seats))
        err = lb_fail(why, LB_EINVAL, "seats: not a list");
    if (err != LB_OK)
        return err;
    u.seat_count = cJSON_GetArraySize(seats);
    err = usage_store_user_put(s, tenant, &u, why);
    if (err == LB_OK)
        err = usage_store_user_seats_clear(s, tenant, u.id, why);
    cJSON_ArrayForEach(item, seats)
    {
        struct seat_row seat;
        bool grouped;

        if (err == LB_OK)
            err =
                take_text(item, "subscription", seat.subscription, sizeof(seat.subscription), why);
        if (err == LB_OK)
            err = take_text_or_null(item, "group", seat.group, sizeof(seat.group), &grouped, why);
        if (err == LB_OK)
            err = take_text(item, "customer", seat.customer, sizeof(seat.customer), why);
        if (err == LB_OK)
            err = take_time(item, "assigned_at", &seat.assigned_ms, why);
        if (err == LB_OK)
            err = usage_store_seat_add(s, tenant, seat.subscription, u.id, seat.group,
                                       seat.customer, seat.assigned_ms, why);
    }
    *ret_applied = err == LB_OK;
    return err;
}

static enum lb_err restore_device(struct store *s, const char *tenant, const cJSON *o,
                                  bool *ret_applied, struct lb_why *why)
{
    struct device_row d = {0};
    char kind[16];
    bool newer = false;
    bool present;
    enum lb_err err;

    err = take_text(o, "device", d.id, sizeof(d.id), why);
    if (err == LB_OK)
        err = take_rev(o, &d.rev, why);
    if (err == LB_OK)
        err = is_newer(s, USAGE_KIND_DEVICE, tenant, d.id, d.rev, &newer, why);
    if (err != LB_OK || !newer)
        return err;
    err = take_text(o, "org", d.org, sizeof(d.org), why);
    if (err == LB_OK)
        err = take_text(o, "customer", d.customer, sizeof(d.customer), why);
    if (err == LB_OK)
        err = take_text(o, "kind", kind, sizeof(kind), why);
    if (err == LB_OK && !device_kind_parse(kind, &d.kind))
        err = lb_fail(why, LB_EINVAL, "kind: \"%s\"", kind);
    if (err == LB_OK)
        err = take_text(o, "hostname", d.hostname, sizeof(d.hostname), why);
    if (err == LB_OK)
        err = take_text_or_null(o, "os", d.os, sizeof(d.os), &present, why);
    if (err == LB_OK)
        err = take_bool(o, "installed", &d.installed, why);
    if (err == LB_OK)
        err = take_text_or_null(o, "user", d.user, sizeof(d.user), &present, why);
    if (err == LB_OK)
        err = take_time(o, "installed_at", &d.installed_ms, why);
    if (err == LB_OK)
        err = take_time(o, "uninstalled_at", &d.uninstalled_ms, why);
    if (err == LB_OK)
        err = take_time(o, "last_seen", &d.last_seen_ms, why);
    if (err == LB_OK)
        err = usage_store_device_put(s, tenant, &d, why);
    *ret_applied = err == LB_OK;
    return err;
}

static enum lb_err restore_subscription(struct store *s, const char *tenant, const cJSON *o,
                                        bool *ret_applied, struct lb_why *why)
{
    struct sub_row sub = {0};
    char text[16];
    bool newer = false;
    enum lb_err err;

    err = take_text(o, "subscription", sub.id, sizeof(sub.id), why);
    if (err == LB_OK)
        err = take_rev(o, &sub.rev, why);
    if (err == LB_OK)
        err = is_newer(s, USAGE_KIND_SUBSCRIPTION, tenant, sub.id, sub.rev, &newer, why);
    if (err != LB_OK || !newer)
        return err;
    err = take_text(o, "customer", sub.customer, sizeof(sub.customer), why);
    if (err == LB_OK)
        err = take_text(o, "package", sub.package, sizeof(sub.package), why);
    if (err == LB_OK)
        err = take_text(o, "seat_basis", text, sizeof(text), why);
    if (err == LB_OK && !seat_basis_parse(text, &sub.basis))
        err = lb_fail(why, LB_EINVAL, "seat_basis: \"%s\"", text);
    if (err == LB_OK)
        err = take_text(o, "status", text, sizeof(text), why);
    if (err == LB_OK && !sub_status_parse(text, &sub.status))
        err = lb_fail(why, LB_EINVAL, "status: \"%s\"", text);
    if (err == LB_OK &&
        json_get_int(o, "quantity", 0, USAGE_QUANTITY_MAX, &sub.quantity, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "quantity: %s", why->text);
    if (err == LB_OK)
        err = take_bool(o, "over", &sub.over, why);
    if (err == LB_OK)
        err = take_time(o, "updated_at", &sub.updated_ms, why);
    if (err == LB_OK)
        err = usage_store_subscription_restore(s, tenant, &sub, why);
    *ret_applied = err == LB_OK;
    return err;
}

/* Counts what a restore brought back (the metrics exist: init_metrics ran first). */
static void restored(struct usage_restore *r, size_t rows)
{
    (*r->metric_own)++;
    *r->metric_restored += (double)rows;
}

enum lb_err usage_on_own_state(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    typedef enum lb_err (*restore_fn)(struct store *, const char *, const cJSON *, bool *,
                                      struct lb_why *);
    static const struct {
        const char *list;
        restore_fn restore;
    } lists[] = {
        {"users", restore_user},
        {"devices", restore_device},
        {"subscriptions", restore_subscription},
    };
    struct store *s = service_store(svc);
    const cJSON *cause = cJSON_GetObjectItemCaseSensitive(ev->data, "cause");
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cause, "kind"));
    const char *cause_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cause, "id"));
    size_t rows = 0;
    enum lb_err err = init_metrics(svc, usage_restore_of(svc), why);

    for (size_t i = 0; err == LB_OK && i < sizeof(lists) / sizeof(lists[0]); i++) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(ev->data, lists[i].list);
        const cJSON *row;

        if (!cJSON_IsArray(list))
            return lb_fail(why, LB_EINVAL, "%s: not a list", lists[i].list);
        cJSON_ArrayForEach(row, list)
        {
            bool applied = false;

            if (err == LB_OK)
                err = lists[i].restore(s, ev->tenant, row, &applied, why);
            rows += applied;
        }
    }
    /* The platform event that made this change must not apply again when it comes (own events
     * are read only while a new database catches up, D28). */
    if (err == LB_OK && kind != NULL && strcmp(kind, "event") == 0 && cause_id != NULL)
        err = usage_store_cause_add(s, cause_id, why);
    /* Rows written back are not changes to announce (normal operation wrote none). */
    if (err == LB_OK && rows > 0)
        err = usage_store_dirty_clear(s, why);
    if (err == LB_OK)
        restored(usage_restore_of(svc), rows);
    return err;
}

/* Reads {<id_name>, rev} of a sweep's event; *ret_newer when the row is behind it. */
static enum lb_err sweep_event(struct service *svc, const struct envelope *ev, enum usage_kind kind,
                               const char *id_name, char id[USAGE_ID_MAX + 1], int64_t *ret_rev,
                               bool *ret_newer, struct lb_why *why)
{
    enum lb_err err = init_metrics(svc, usage_restore_of(svc), why);

    *ret_newer = false;
    if (err == LB_OK && ev->data == NULL)
        err = lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    if (err == LB_OK)
        err = take_text(ev->data, id_name, id, USAGE_ID_MAX + 1, why);
    if (err != LB_OK)
        return err;
    /* Written before revisions: nothing to compare with, and normal operation applied it. */
    if (cJSON_GetObjectItemCaseSensitive(ev->data, "rev") == NULL)
        return LB_OK;
    err = take_rev(ev->data, ret_rev, why);
    if (err == LB_OK)
        err = is_newer(service_store(svc), kind, ev->tenant, id, *ret_rev, ret_newer, why);
    return err;
}

enum lb_err usage_on_own_released(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why)
{
    char user[USAGE_ID_MAX + 1];
    int64_t rev = 0;
    bool newer;
    enum lb_err err = sweep_event(svc, ev, USAGE_KIND_USER, "user", user, &rev, &newer, why);

    if (err == LB_OK && newer)
        err = usage_store_restore_release(service_store(svc), ev->tenant, user, ev->time_ms, rev,
                                          why);
    if (err == LB_OK && newer)
        err = usage_store_dirty_clear(service_store(svc), why);
    if (err == LB_OK)
        restored(usage_restore_of(svc), newer);
    return err;
}

enum lb_err usage_on_own_purged(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    char user[USAGE_ID_MAX + 1];
    int64_t rev = 0;
    bool newer;
    enum lb_err err = sweep_event(svc, ev, USAGE_KIND_USER, "user", user, &rev, &newer, why);

    if (err == LB_OK && newer)
        err =
            usage_store_restore_purge(service_store(svc), ev->tenant, user, ev->time_ms, rev, why);
    if (err == LB_OK && newer)
        err = usage_store_dirty_clear(service_store(svc), why);
    if (err == LB_OK)
        restored(usage_restore_of(svc), newer);
    return err;
}

enum lb_err usage_on_own_over(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    char sub[USAGE_ID_MAX + 1];
    int64_t rev = 0;
    bool newer;
    bool over = strstr(ev->type, ".overconsumption_started.") != NULL;
    enum lb_err err =
        sweep_event(svc, ev, USAGE_KIND_SUBSCRIPTION, "subscription", sub, &rev, &newer, why);

    if (err == LB_OK && newer)
        err = usage_store_restore_over(service_store(svc), ev->tenant, sub, over, rev, why);
    if (err == LB_OK && newer)
        err = usage_store_dirty_clear(service_store(svc), why);
    if (err == LB_OK)
        restored(usage_restore_of(svc), newer);
    return err;
}

enum lb_err usage_on_own_other(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    enum lb_err err = init_metrics(svc, usage_restore_of(svc), why);

    (void)ev;
    if (err == LB_OK)
        restored(usage_restore_of(svc), 0);
    return err;
}
