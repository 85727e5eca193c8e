/*
 * restore.c - usage's own events read back: the journal (journal.c) applied
 * upsert-if-newer, and the restore of a rebuilt database.
 *
 * usage consumes its own domain. state_changed rows and the revisions the
 * sweep's events carry are applied only when newer than the row: in normal
 * operation the row is at that revision already (a read, nothing written).
 *
 * A rebuild (LB_USAGE_RESTORE on a new database; --rebuild and `lbctl
 * rebuild` set it) restores first: until the usage stream has brought
 * nothing new for LB_USAGE_RESTORE_QUIET, platform events (heartbeats
 * included), sweeps and requests are refused as "retry later", because each
 * would act on a half-restored database and decide or emit what the
 * original never did. The own events restore every row in the order the
 * original wrote them and name the platform events that caused them. Then
 * the service serves: a platform event a restored change named is acked
 * without being applied again, any other (a heartbeat, one the original
 * never saw) is applied as usual. Scan counts are never refused (each adds
 * once, in any order) and never journaled.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "envelope.h"
#include "json_strict.h"
#include "log.h"
#include "usage.h"

static enum lb_err init_metrics(struct service *svc, struct usage_restore *r, struct lb_why *why)
{
    if (r->metric_own != NULL)
        return LB_OK;
    r->metric_own = service_metric(svc, false, "lb_usage_own_events_total",
                                   "Events of its own domain read back (applied when newer)");
    r->metric_restored = service_metric(svc, false, "lb_usage_restored_total",
                                        "Rows its own events brought back (a restore)");
    r->metric_skipped =
        service_metric(svc, false, "lb_usage_restored_skips_total",
                       "Platform events not applied again: their effect came with a restore");
    r->metric_restoring = service_metric(svc, true, "lb_usage_restoring",
                                         "1 while a rebuilt database restores from its stream");
    if (r->metric_own == NULL || r->metric_restored == NULL || r->metric_skipped == NULL ||
        r->metric_restoring == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    return LB_OK;
}

/* The database's phase; a new one is decided on first use, by LB_USAGE_RESTORE. */
static enum lb_err current_phase(struct service *svc, enum usage_phase *ret, struct lb_why *why)
{
    const struct usage_config *cfg = service_config(svc);
    struct usage_restore *r = usage_restore_of(svc);
    enum lb_err err;

    if (r->phase_known) {
        *ret = r->phase;
        return LB_OK;
    }
    err = init_metrics(svc, r, why);
    if (err == LB_OK)
        err = usage_store_phase_get(service_store(svc), &r->phase, why);
    if (err == LB_OK && r->phase == USAGE_PHASE_NEW) {
        r->phase = cfg->restore ? USAGE_PHASE_RESTORING : USAGE_PHASE_DONE;
        err = usage_store_phase_set(service_store(svc), r->phase, why);
        if (err == LB_OK && r->phase == USAGE_PHASE_RESTORING)
            log_warn("new database: restoring from the usage stream before anything else");
    }
    if (err != LB_OK)
        return err;
    *r->metric_restoring = r->phase == USAGE_PHASE_RESTORING;
    r->phase_known = true;
    *ret = r->phase;
    return LB_OK;
}

enum lb_err usage_restore_gate(struct service *svc, struct lb_why *why)
{
    const struct usage_config *cfg = service_config(svc);
    struct usage_restore *r = usage_restore_of(svc);
    enum usage_phase phase;
    enum lb_err err;
    int64_t now;
    int64_t since;

    if (r->phase_known && r->phase == USAGE_PHASE_DONE)
        return LB_OK; /* every heartbeat comes here: one branch */
    err = current_phase(svc, &phase, why);
    if (err != LB_OK || phase != USAGE_PHASE_RESTORING)
        return err;
    now = clock_wall_ms();
    if (r->first_check_ms == 0)
        r->first_check_ms = now;
    since = r->last_restored_ms > r->first_check_ms ? r->last_restored_ms : r->first_check_ms;
    if (now - since < cfg->restore_quiet_ms)
        return lb_fail(why, LB_EUNAVAILABLE,
                       "the service is restoring its database from the usage stream (a "
                       "rebuild); retry later");
    /* A failed write leaves the phase as it was: the next look finishes it. */
    err = usage_store_phase_set(service_store(svc), USAGE_PHASE_DONE, why);
    if (err != LB_OK)
        return err;
    r->phase = USAGE_PHASE_DONE;
    *r->metric_restoring = 0;
    log_warn("restore complete: %.0f rows restored; serving", *r->metric_restored);
    return LB_OK;
}

enum lb_err usage_restore_covered(struct service *svc, const struct envelope *ev,
                                  bool *ret_restored, struct lb_why *why)
{
    struct usage_restore *r = usage_restore_of(svc);
    enum lb_err err = usage_store_cause_take(service_store(svc), ev->id, ret_restored, why);

    if (err == LB_OK && *ret_restored && r->metric_skipped != NULL)
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

/* Counts what a restore brought back, and remembers when (the restore ends once quiet). */
static void restored(struct usage_restore *r, size_t rows)
{
    if (r->metric_own != NULL)
        (*r->metric_own)++;
    if (rows == 0)
        return;
    if (r->metric_restored != NULL)
        *r->metric_restored += (double)rows;
    r->last_restored_ms = clock_wall_ms();
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
    enum usage_phase phase;
    size_t rows = 0;
    enum lb_err err = current_phase(svc, &phase, why);

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
    /* The platform event that made this change must not apply again when it comes. Normal
     * operation (nothing restored, not restoring) applied it already: no record is needed. */
    if (err == LB_OK && (phase == USAGE_PHASE_RESTORING || rows > 0) && kind != NULL &&
        strcmp(kind, "event") == 0 && cause_id != NULL)
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
    enum usage_phase phase;
    enum lb_err err = current_phase(svc, &phase, why);

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
    enum usage_phase phase;
    enum lb_err err = current_phase(svc, &phase, why);

    (void)ev;
    if (err == LB_OK)
        restored(usage_restore_of(svc), 0);
    return err;
}
