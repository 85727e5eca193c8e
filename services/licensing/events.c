/*
 * events.c - licensing's emitted events (one per license change, carrying
 * the license's full state and data.state: its revision, the sweep's
 * markers and the cause), its history, issuing a license, and the consumed
 * platform events: commerce orders and scan counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ids.h"
#include "json_strict.h"
#include "licensing.h"
#include "subjects.h"

static const char *limit_kind(enum lic_delivery d)
{
    return d == LIC_CLOUD ? "scans" : "instances";
}

cJSON *lic_license_json(const struct license *l, int64_t now_ms, int64_t window_ms)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *orgs = cJSON_AddArrayToObject(o, "orgs");
    char start[16];
    char expiration[16];
    char issued[32];
    char updated[32];
    bool ok = orgs != NULL;

    lic_date_format(l->start_ms, start);
    lic_date_format(l->expires_ms - LIC_DAY_MS, expiration);
    envelope_format_time(l->issued_ms, issued);
    envelope_format_time(l->updated_ms, updated);
    for (size_t i = 0; ok && i < l->org_count; i++)
        ok = cJSON_AddItemToArray(orgs, cJSON_CreateString(l->orgs[i]));
    ok = ok && cJSON_AddStringToObject(o, "id", l->id) &&
         cJSON_AddStringToObject(o, "key", l->key) &&
         cJSON_AddStringToObject(o, "tenant", l->tenant) &&
         cJSON_AddStringToObject(o, "product", l->product) &&
         cJSON_AddStringToObject(o, "delivery", lic_delivery_name(l->delivery)) &&
         cJSON_AddStringToObject(o, "limit_kind", limit_kind(l->delivery)) &&
         cJSON_AddStringToObject(o, "type", lic_type_name(l->type)) &&
         cJSON_AddStringToObject(o, "status",
                                 lic_status_name(lic_status_at(l, now_ms, window_ms))) &&
         cJSON_AddBoolToObject(o, "started", lic_started(l, now_ms)) &&
         cJSON_AddStringToObject(o, "start", start) &&
         cJSON_AddStringToObject(o, "expiration", expiration) &&
         cJSON_AddNumberToObject(o, "limit", (double)l->limit) &&
         cJSON_AddNumberToObject(o, "deployed", (double)l->deployed) &&
         cJSON_AddNumberToObject(o, "scans_used", (double)l->scans_used) &&
         cJSON_AddStringToObject(o, "note", l->note) &&
         cJSON_AddNumberToObject(o, "version", (double)l->version) &&
         cJSON_AddStringToObject(o, "issued_at", issued) &&
         cJSON_AddStringToObject(o, "updated_at", updated);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *lic_product_json(const struct product *p)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddStringToObject(o, "id", p->id) ||
        !cJSON_AddStringToObject(o, "name", p->name) ||
        !cJSON_AddStringToObject(o, "delivery", lic_delivery_name(p->delivery)) ||
        !cJSON_AddStringToObject(o, "limit_kind", limit_kind(p->delivery)) ||
        !cJSON_AddBoolToObject(o, "shown", p->shown) ||
        !cJSON_AddNumberToObject(o, "version", (double)p->version)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *actor_json(const struct actor *a)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || (a->org != NULL && !cJSON_AddStringToObject(o, "org", a->org)) ||
        !cJSON_AddStringToObject(o, "user", a->user)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/*
 * Adds `v` (borrowed, may be NULL: null) as `name` by reference: printing it
 * needs no copy, and deleting `o` leaves `v` alone. `o` must be printed
 * (or copied) and deleted before `v`.
 */
static bool add_ref(cJSON *o, const char *name, const cJSON *v)
{
    /* cJSON takes a non-const item, but a reference never changes it. */
    union {
        const cJSON *borrowed;
        cJSON *item;
    } ref = {.borrowed = v};

    if (v == NULL)
        return cJSON_AddNullToObject(o, name) != NULL;
    return cJSON_AddItemReferenceToObject(o, name, ref.item);
}

cJSON *lic_history_entry(const char *event_id, const char *name, const char *time,
                         const cJSON *actor, const cJSON *before, const cJSON *after,
                         const cJSON *deployment)
{
    cJSON *entry = cJSON_CreateObject();

    if (entry == NULL || !cJSON_AddStringToObject(entry, "event_id", event_id) ||
        !cJSON_AddStringToObject(entry, "change", name) ||
        !cJSON_AddStringToObject(entry, "time", time) || !add_ref(entry, "actor", actor) ||
        !add_ref(entry, "before", before) || !add_ref(entry, "after", after) ||
        (deployment != NULL && !add_ref(entry, "deployment", deployment))) {
        cJSON_Delete(entry);
        return NULL;
    }
    return entry;
}

/* data.state: what a restore needs beyond the license's public state (restore.c). */
static cJSON *state_json(const struct license *l, const struct lic_change *c, const char *when)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *cause = cJSON_AddObjectToObject(o, "cause");

    if (cause == NULL || !cJSON_AddNumberToObject(o, "rev", (double)l->rev) ||
        !cJSON_AddBoolToObject(o, "expiring_reported", l->expiring_for == l->expires_ms) ||
        !cJSON_AddBoolToObject(o, "expired_reported", l->expired_for == l->expires_ms) ||
        !cJSON_AddStringToObject(cause, "kind", c->cause->kind) ||
        !cJSON_AddStringToObject(cause, "id", c->cause->id) ||
        !cJSON_AddStringToObject(o, "recorded_at", when)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Adds `item` (taken, may be NULL) as `name`; false (and `item` freed) when it cannot. */
static bool add_taken(cJSON *o, const char *name, cJSON *item)
{
    if (item == NULL || !cJSON_AddItemToObject(o, name, item)) {
        cJSON_Delete(item);
        return false;
    }
    return true;
}

enum lb_err lic_record(struct service *svc, const struct license *l, const struct lic_change *c,
                       cJSON **ret_snapshot, struct lb_why *why)
{
    const struct lic_config *cfg = service_config(svc);
    cJSON *data = cJSON_CreateObject();
    char event_id[ID_LEN + 1];
    char when[32];
    char *text = NULL;
    enum lb_err err = LB_OK;

    envelope_format_time(c->time_ms, when);
    if (data == NULL ||
        !add_taken(data, "license", lic_license_json(l, c->time_ms, cfg->expiring_window_ms)) ||
        !add_taken(data, "actor", actor_json(c->actor)) || !add_ref(data, "before", c->before) ||
        !add_ref(data, "after", c->after) ||
        (c->deployment != NULL && !add_ref(data, "deployment", c->deployment)) ||
        !add_taken(data, "state", state_json(l, c, when)))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = service_emit(svc, l->tenant, c->name, 1, data, event_id, why);
    if (err == LB_OK && c->history) {
        cJSON *entry = lic_history_entry(event_id, c->name, when,
                                         cJSON_GetObjectItemCaseSensitive(data, "actor"), c->before,
                                         c->after, c->deployment);

        text = entry != NULL ? cJSON_PrintUnformatted(entry) : NULL;
        cJSON_Delete(entry);
        err = text != NULL ? lic_store_history_add(service_store(svc), l->id, event_id, c->name,
                                                   c->time_ms, text, strlen(text), why)
                           : lb_fail(why, LB_ENOMEM, "out of memory");
        free(text);
    }
    if (err == LB_OK && ret_snapshot != NULL)
        *ret_snapshot = cJSON_DetachItemFromObjectCaseSensitive(data, "license");
    cJSON_Delete(data);
    return err;
}

/* The values license_issued reports as `after`. */
static cJSON *issued_values(const struct license *l)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *orgs = cJSON_AddArrayToObject(o, "orgs");
    char start[16];
    char expiration[16];
    bool ok = orgs != NULL;

    lic_date_format(l->start_ms, start);
    lic_date_format(l->expires_ms - LIC_DAY_MS, expiration);
    for (size_t i = 0; ok && i < l->org_count; i++)
        ok = cJSON_AddItemToArray(orgs, cJSON_CreateString(l->orgs[i]));
    ok = ok && cJSON_AddStringToObject(o, "type", lic_type_name(l->type)) &&
         cJSON_AddStringToObject(o, "start", start) &&
         cJSON_AddStringToObject(o, "expiration", expiration) &&
         cJSON_AddNumberToObject(o, "limit", (double)l->limit) &&
         cJSON_AddStringToObject(o, "note", l->note);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int org_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

enum lb_err lic_issue(struct service *svc, const struct issue_spec *spec,
                      const struct lic_cause *cause, const struct actor *actor, int64_t time_ms,
                      struct license *ret, cJSON **ret_snapshot, struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct license l;
    struct license other;
    struct product p;
    cJSON *after;
    enum lb_err err;
    int64_t max;

    err = lic_store_product_get(s, spec->product, &p, why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_ECONFLICT, "%s", why->text);
    if (err != LB_OK)
        return err;
    max = p.delivery == LIC_CLOUD ? LIC_SCANS_MAX : LIC_INSTANCES_MAX;
    if (spec->limit > max)
        return lb_fail(why, LB_EINVAL, "limit: %lld is above %lld, the most %s a license may have",
                       (long long)spec->limit, (long long)max, limit_kind(p.delivery));
    memset(&l, 0, sizeof(l));
    id_derive(l.id, time_ms, cause->id, "license");
    (void)snprintf(l.tenant, sizeof(l.tenant), "%s", spec->tenant);
    (void)snprintf(l.product, sizeof(l.product), "%s", p.id);
    if (spec->key != NULL) {
        (void)snprintf(l.key, sizeof(l.key), "%s", spec->key);
        err = lic_store_get_by_key(s, l.key, &other, why);
        if (err == LB_OK)
            return lb_fail(why, LB_ECONFLICT, "key: license key %s is already taken", l.key);
        if (err != LB_ENOTFOUND)
            return err;
    } else {
        /* Collisions are rare (30^16 keys); the next attempt is as deterministic as the first. */
        for (unsigned attempt = 0;; attempt++) {
            if (attempt == 8)
                return lb_fail(why, LB_EINTERNAL, "no free license key after 8 attempts");
            lic_key_generate(cause->id, attempt, l.key);
            err = lic_store_get_by_key(s, l.key, &other, why);
            if (err == LB_ENOTFOUND)
                break;
            if (err != LB_OK)
                return err;
        }
    }
    l.delivery = p.delivery;
    l.type = spec->type;
    l.start_ms = spec->start_ms;
    l.expires_ms = spec->expires_ms;
    l.limit = spec->limit;
    (void)snprintf(l.note, sizeof(l.note), "%s", spec->note ? spec->note : "");
    for (size_t i = 0; i < spec->org_count; i++)
        (void)snprintf(l.orgs[i], sizeof(l.orgs[i]), "%s", spec->orgs[i]);
    l.org_count = spec->org_count;
    qsort(l.orgs, l.org_count, sizeof(l.orgs[0]), org_cmp);
    l.version = 1;
    l.rev = 1;
    l.issued_ms = l.updated_ms = time_ms;
    err =
        lic_store_put(s, &l,
                      lic_next_transition(
                          &l, ((const struct lic_config *)service_config(svc))->expiring_window_ms),
                      why);
    if (err != LB_OK)
        return err;
    after = issued_values(&l);
    if (after == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    err = lic_record(svc, &l,
                     &(struct lic_change){.name = "license_issued",
                                          .actor = actor,
                                          .cause = cause,
                                          .time_ms = time_ms,
                                          .after = after,
                                          .history = true},
                     ret_snapshot, why);
    cJSON_Delete(after);
    if (err == LB_OK && ret != NULL)
        *ret = l;
    return err;
}

/* Reads optional string `name` of 0..max bytes; *ret stays NULL when absent. */
static enum lb_err get_optional_text(const cJSON *obj, const char *name, size_t max,
                                     const char **ret, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (item == NULL)
        return LB_OK;
    if (!cJSON_IsString(item))
        return lb_fail(why, LB_EINVAL, "%s: must be a string", name);
    if (strlen(item->valuestring) > max)
        return lb_fail(why, LB_EINVAL, "%s: longer than %zu bytes", name, max);
    *ret = item->valuestring;
    return LB_OK;
}

enum lb_err lic_decode_issue(const cJSON *obj, struct issue_spec *ret, struct lb_why *why)
{
    struct issue_spec spec = {0};
    const cJSON *orgs = cJSON_GetObjectItemCaseSensitive(obj, "orgs");
    const cJSON *item;
    const char *text;
    int64_t expiration_ms;
    enum lb_err err;

    *ret = spec; /* defined output on every path, failures included */
    err = json_get_string(obj, "product", LIC_PRODUCT_ID_MAX, &spec.product, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "product: %s", why->text);
    if (!lic_product_id_valid(spec.product))
        return lb_fail(why, LB_EINVAL, "product: \"%s\" is not a product id", spec.product);
    if (cJSON_GetObjectItemCaseSensitive(obj, "key") != NULL) {
        err = json_get_string(obj, "key", LIC_KEY_MAX, &spec.key, why);
        if (err != LB_OK)
            return lb_fail(why, LB_EINVAL, "key: %s", why->text);
        if (!lic_key_valid(spec.key))
            return lb_fail(why, LB_EINVAL,
                           "key: \"%s\" is not 2-8 groups of 4-8 of [A-Z0-9] joined by '-'",
                           spec.key);
    }
    err = json_get_string(obj, "type", 16, &text, why);
    if (err != LB_OK || !lic_type_parse(text, &spec.type))
        return lb_fail(why, LB_EINVAL, "type: must be \"evaluation\" or \"purchased\"");
    err = json_get_string(obj, "start", 10, &text, why);
    if (err != LB_OK || !lic_date_parse(text, &spec.start_ms))
        return lb_fail(why, LB_EINVAL, "start: must be a date YYYY-MM-DD");
    err = json_get_string(obj, "expiration", 10, &text, why);
    if (err != LB_OK || !lic_date_parse(text, &expiration_ms))
        return lb_fail(why, LB_EINVAL, "expiration: must be a date YYYY-MM-DD");
    if (expiration_ms < spec.start_ms)
        return lb_fail(why, LB_EINVAL, "expiration: %s is before the start date", text);
    spec.expires_ms = expiration_ms + LIC_DAY_MS;
    err = json_get_int(obj, "limit", 1, LIC_SCANS_MAX, &spec.limit, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "limit: %s", why->text);
    err = get_optional_text(obj, "note", LIC_NOTE_MAX, &spec.note, why);
    if (err != LB_OK)
        return err;
    if (!cJSON_IsArray(orgs) || cJSON_GetArraySize(orgs) < 1 ||
        cJSON_GetArraySize(orgs) > LIC_ORGS_MAX)
        return lb_fail(why, LB_EINVAL, "orgs: must be an array of 1-%d org ids", LIC_ORGS_MAX);
    cJSON_ArrayForEach(item, orgs)
    {
        if (!cJSON_IsString(item) || strcmp(item->valuestring, SUBJECT_SYSTEM_TENANT) == 0 ||
            !subject_tenant_valid(item->valuestring))
            return lb_fail(why, LB_EINVAL, "orgs[%zu]: not an org id", spec.org_count);
        for (size_t i = 0; i < spec.org_count; i++) {
            if (strcmp(spec.orgs[i], item->valuestring) == 0)
                return lb_fail(why, LB_EINVAL, "orgs[%zu]: %s is listed twice", spec.org_count,
                               item->valuestring);
        }
        spec.orgs[spec.org_count++] = item->valuestring;
    }
    *ret = spec;
    return LB_OK;
}

enum lb_err lic_on_ordered(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"order",      "product", "key",  "type", "start",
                                        "expiration", "limit",   "note", "orgs", NULL};
    const struct actor actor = {.org = NULL, .user = "commerce"};
    const struct lic_cause cause = {.kind = "event", .id = ev->id};
    struct issue_spec spec;
    const char *order;
    bool restored = false;
    enum lb_err err;

    /* An order whose license came back with a rebuild (D22, D28) is done. */
    err = lic_restore_covered(svc, ev, &restored, why);
    if (err != LB_OK || restored)
        return err;
    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "license_ordered has no data");
    err = json_check_members(ev->data, known, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "data: %s", why->text);
    err = json_get_string(ev->data, "order", LIC_ENTITY_MAX, &order, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "order: %s", why->text);
    if (!lic_entity_valid(order))
        return lb_fail(why, LB_EINVAL, "order: \"%s\" is not an entity id", order);
    err = lic_decode_issue(ev->data, &spec, why);
    if (err != LB_OK)
        return err;
    spec.tenant = ev->tenant;
    for (size_t i = 0; i < spec.org_count; i++) {
        struct org o;

        err = orgtree_get(service_store(svc), ev->tenant, spec.orgs[i], &o, why);
        /* The directory stream may not have brought the org yet: retry, then dead-letter. */
        if (err == LB_ENOTFOUND)
            return lb_fail(why, LB_EUNAVAILABLE,
                           "orgs[%zu]: org %s is not known (yet) in tenant %s", i, spec.orgs[i],
                           ev->tenant);
        if (err != LB_OK)
            return err;
        if (o.deleted)
            return lb_fail(why, LB_ECONFLICT, "orgs[%zu]: org %s was deleted", i, spec.orgs[i]);
    }
    return lic_issue(svc, &spec, &cause, &actor, ev->time_ms, NULL, NULL, why);
}

enum lb_err lic_on_scans(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"key", "org", "day", "scans", NULL};
    const struct actor actor = {.org = NULL, .user = "scanning"};
    const struct lic_cause cause = {.kind = "event", .id = ev->id};
    struct store *s = service_store(svc);
    struct license l;
    const char *key;
    const char *org;
    const char *day;
    int64_t scans;
    int64_t day_ms;
    int64_t before;
    bool within = false;
    bool restored = false;
    cJSON *b;
    cJSON *a;
    enum lb_err err;

    /* A count that came back with a rebuild (in its own event's scans_used) is not added
     * again. */
    err = lic_restore_covered(svc, ev, &restored, why);
    if (err != LB_OK || restored)
        return err;
    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "scans_counted has no data");
    err = json_check_members(ev->data, known, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "data: %s", why->text);
    err = json_get_string(ev->data, "key", LIC_KEY_MAX, &key, why);
    if (err != LB_OK || !lic_key_valid(key))
        return lb_fail(why, LB_EINVAL, "key: not a license key");
    err = json_get_string(ev->data, "org", SUBJECT_TOKEN_MAX, &org, why);
    if (err != LB_OK || !subject_tenant_valid(org))
        return lb_fail(why, LB_EINVAL, "org: not an org id");
    err = json_get_string(ev->data, "day", 10, &day, why);
    if (err != LB_OK || !lic_date_parse(day, &day_ms))
        return lb_fail(why, LB_EINVAL, "day: must be a date YYYY-MM-DD");
    err = json_get_int(ev->data, "scans", 1, 1000000000, &scans, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "scans: %s", why->text);
    err = lic_store_get_by_key(s, key, &l, why);
    /* The order may still be on its way through the commerce stream: retry, then dead-letter. */
    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_EUNAVAILABLE, "key: no license %s (yet)", key);
    if (err != LB_OK)
        return err;
    if (strcmp(l.tenant, ev->tenant) != 0)
        return lb_fail(why, LB_EFORBIDDEN, "key: license %s is not of tenant %s", key, ev->tenant);
    if (l.delivery != LIC_CLOUD)
        return lb_fail(why, LB_ECONFLICT, "key: license %s is not a cloud license", key);
    for (size_t i = 0; i < l.org_count && !within; i++) {
        err = orgtree_within(s, l.tenant, l.orgs[i], org, &within, why);
        if (err != LB_OK)
            return err;
    }
    if (!within)
        return lb_fail(why, LB_EFORBIDDEN, "org: %s is not under an org license %s is assigned to",
                       org, key);
    if (l.scans_used > JSON_MAX_SAFE_INTEGER - scans)
        return lb_fail(why, LB_ECONFLICT, "scans: the count of license %s would pass 2^53", key);
    before = l.scans_used;
    l.scans_used += scans;
    l.updated_ms = ev->time_ms > l.updated_ms ? ev->time_ms : l.updated_ms;
    l.rev++;
    err =
        lic_store_put(s, &l,
                      lic_next_transition(
                          &l, ((const struct lic_config *)service_config(svc))->expiring_window_ms),
                      why);
    if (err != LB_OK)
        return err;
    b = cJSON_CreateObject();
    a = cJSON_CreateObject();
    if (b == NULL || a == NULL || !cJSON_AddNumberToObject(b, "scans_used", (double)before) ||
        !cJSON_AddNumberToObject(a, "scans_used", (double)l.scans_used))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    /* Counts are additive, so a crossing is "below before, at or above after", in any order; it
     * is a change of its own (history). Any other count is recorded as license_scans_counted
     * (its event carries the new state; no history, no version: the scans are not a change of
     * the license's terms). */
    if (err == LB_OK)
        err =
            lic_record(svc, &l,
                       &(struct lic_change){.name = before < l.limit && l.scans_used >= l.limit
                                                        ? "scan_limit_reached"
                                                        : "license_scans_counted",
                                            .actor = &actor,
                                            .cause = &cause,
                                            .time_ms = ev->time_ms,
                                            .before = b,
                                            .after = a,
                                            .history = before < l.limit && l.scans_used >= l.limit},
                       NULL, why);
    cJSON_Delete(b);
    cJSON_Delete(a);
    return err;
}
