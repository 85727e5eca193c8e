/*
 * restore.c - licensing consumes its own domain (decisions D20, D22).
 *
 * Every licensing event carries the changed entity's full state and its
 * revision (data.license with data.state.rev; data.product with its
 * version), and is applied here only when it is newer than the row. In
 * normal operation the row is already at that revision: one read, nothing
 * written. After a rebuild emptied the database, the licenses, products,
 * deployments and history come back, in the stream's order.
 *
 * Own events are consumed only while a new database catches up (D28): the
 * runtime reads the licensing stream to its end before it starts the
 * platform consumers, the clock and the sweeps, and refuses requests until
 * then, so nothing acts on a half-restored state. Afterwards a platform
 * event whose effect came back (an own event named it as its cause) is
 * acknowledged without being applied again; any other is applied as usual.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "json_strict.h"
#include "licensing.h"
#include "log.h"
#include "subjects.h"

/* Own license events that are not in the license's history. */
static bool has_history(const char *name)
{
    return strcmp(name, "license_scans_counted") != 0 && strcmp(name, "license_checked_in") != 0;
}

static struct lic_state *lic_state(struct service *svc)
{
    return service_state(svc);
}

static int64_t window_ms(const struct service *svc)
{
    return ((const struct lic_config *)service_config(svc))->expiring_window_ms;
}

/* The restore's counters, made on first use. */
static enum lb_err ensure_metrics(struct service *svc, struct lb_why *why)
{
    struct lic_state *st = lic_state(svc);

    if (st->metric_own != NULL)
        return LB_OK;
    st->metric_own =
        service_metric(svc, false, "lb_licensing_own_events_total",
                       "Events of its own domain consumed back (a new database catching up)");
    st->metric_restored = service_metric(svc, false, "lb_licensing_restored_total",
                                         "Own events that changed the database (a restore)");
    st->metric_skipped =
        service_metric(svc, false, "lb_licensing_restored_skips_total",
                       "Platform events not applied again: their effect came with a restore");
    if (st->metric_own == NULL || st->metric_restored == NULL || st->metric_skipped == NULL) {
        st->metric_own = NULL;
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    return LB_OK;
}

enum lb_err lic_restore_covered(struct service *svc, const struct envelope *ev, bool *ret_restored,
                                struct lb_why *why)
{
    enum lb_err err = ensure_metrics(svc, why);

    if (err == LB_OK)
        err = lic_store_cause_take(service_store(svc), ev->id, ret_restored, why);
    if (err == LB_OK && *ret_restored)
        (*lic_state(svc)->metric_skipped)++;
    return err;
}

/* ---- decoding an own event ------------------------------------------------------------- */

/* Copies string member `name` (1..size-1 bytes). */
static enum lb_err take_text(const cJSON *o, const char *name, char *dst, size_t size,
                             struct lb_why *why)
{
    const char *text;
    enum lb_err err = json_get_string(o, name, size - 1, &text, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "license.%s: %s", name, why->text);
    (void)snprintf(dst, size, "%s", text);
    return LB_OK;
}

static enum lb_err take_int(const cJSON *o, const char *name, int64_t *ret, struct lb_why *why)
{
    enum lb_err err = json_get_int(o, name, 0, JSON_MAX_SAFE_INTEGER, ret, why);

    return err == LB_OK ? LB_OK : lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
}

static enum lb_err take_time(const cJSON *o, const char *name, int64_t *ret, struct lb_why *why)
{
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    if (text == NULL || envelope_parse_time(text, ret) != LB_OK)
        return lb_fail(why, LB_EINVAL, "license.%s: not a time", name);
    return LB_OK;
}

static enum lb_err take_date(const cJSON *o, const char *name, int64_t *ret, struct lb_why *why)
{
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    if (text == NULL || !lic_date_parse(text, ret))
        return lb_fail(why, LB_EINVAL, "license.%s: not a date", name);
    return LB_OK;
}

/* Fills `l` (whose `stored` is kept) from data.license and data.state of an own event. */
static enum lb_err decode_license(const cJSON *o, const cJSON *state, struct license *l,
                                  struct lb_why *why)
{
    const cJSON *orgs = cJSON_GetObjectItemCaseSensitive(o, "orgs");
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(o, "note");
    const cJSON *org;
    char text[16];
    enum lb_err err;

    err = take_text(o, "id", l->id, sizeof(l->id), why);
    if (err == LB_OK)
        err = take_text(o, "tenant", l->tenant, sizeof(l->tenant), why);
    if (err == LB_OK)
        err = take_text(o, "key", l->key, sizeof(l->key), why);
    if (err == LB_OK)
        err = take_text(o, "product", l->product, sizeof(l->product), why);
    if (err == LB_OK)
        err = take_text(o, "delivery", text, sizeof(text), why);
    if (err == LB_OK && !lic_delivery_parse(text, &l->delivery))
        err = lb_fail(why, LB_EINVAL, "license.delivery: \"%s\"", text);
    if (err == LB_OK)
        err = take_text(o, "type", text, sizeof(text), why);
    if (err == LB_OK && !lic_type_parse(text, &l->type))
        err = lb_fail(why, LB_EINVAL, "license.type: \"%s\"", text);
    if (err == LB_OK)
        err = take_date(o, "start", &l->start_ms, why);
    if (err == LB_OK)
        err = take_date(o, "expiration", &l->expires_ms, why);
    l->expires_ms += LIC_DAY_MS; /* stored as the first invalid instant */
    if (err == LB_OK)
        err = take_int(o, "limit", &l->limit, why);
    if (err == LB_OK)
        err = take_int(o, "deployed", &l->deployed, why);
    if (err == LB_OK)
        err = take_int(o, "scans_used", &l->scans_used, why);
    if (err == LB_OK)
        err = take_int(o, "version", &l->version, why);
    if (err == LB_OK)
        err = take_time(o, "issued_at", &l->issued_ms, why);
    if (err == LB_OK)
        err = take_time(o, "updated_at", &l->updated_ms, why);
    if (err == LB_OK && (!cJSON_IsString(note) || strlen(note->valuestring) > LIC_NOTE_MAX))
        err = lb_fail(why, LB_EINVAL, "license.note: not a note");
    if (err == LB_OK && (!cJSON_IsArray(orgs) || cJSON_GetArraySize(orgs) < 1 ||
                         cJSON_GetArraySize(orgs) > LIC_ORGS_MAX))
        err = lb_fail(why, LB_EINVAL, "license.orgs: not 1-%d orgs", LIC_ORGS_MAX);
    if (err != LB_OK)
        return err;
    (void)snprintf(l->note, sizeof(l->note), "%s", note->valuestring);
    l->org_count = 0;
    cJSON_ArrayForEach(org, orgs)
    {
        if (!cJSON_IsString(org) || strlen(org->valuestring) >= sizeof(l->orgs[0]))
            return lb_fail(why, LB_EINVAL, "license.orgs: not an org id");
        (void)snprintf(l->orgs[l->org_count++], sizeof(l->orgs[0]), "%s", org->valuestring);
    }
    l->orgs_changed = true;
    /* Events written before data.state existed order by version and carry no markers. */
    l->rev = l->version;
    l->expiring_for = l->expired_for = 0;
    if (state == NULL)
        return LB_OK;
    err = take_int(state, "rev", &l->rev, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "state.%s", why->text);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "expiring_reported")))
        l->expiring_for = l->expires_ms;
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(state, "expired_reported")))
        l->expired_for = l->expires_ms;
    return LB_OK;
}

/* Reads data.deployment of an activation or a check-in. */
static enum lb_err decode_deployment(const cJSON *o, struct deployment *d, struct lb_why *why)
{
    enum lb_err err;

    memset(d, 0, sizeof(*d));
    if (!cJSON_IsObject(o))
        return lb_fail(why, LB_EINVAL, "deployment: missing");
    err = take_text(o, "instance", d->instance, sizeof(d->instance), why);
    if (err == LB_OK)
        err = take_text(o, "host", d->host, sizeof(d->host), why);
    if (err == LB_OK)
        err = take_text(o, "product_version", d->product_version, sizeof(d->product_version), why);
    if (err == LB_OK)
        err = take_text(o, "who", d->who, sizeof(d->who), why);
    if (err == LB_OK)
        err = take_time(o, "activated_at", &d->activated_ms, why);
    if (err == LB_OK)
        err = take_time(o, "last_seen", &d->last_seen_ms, why);
    return err;
}

/* The <name> of type licensebus.licensing.<name>.v<N>. */
static void type_name(const char *type, char ret[SUBJECT_TOKEN_MAX + 1])
{
    const char *start = strchr(type + strlen("licensebus."), '.');
    const char *end = start != NULL ? strrchr(type, '.') : NULL;
    size_t n = start != NULL && end > start ? (size_t)(end - start - 1) : 0;

    if (n > SUBJECT_TOKEN_MAX)
        n = 0;
    memcpy(ret, start != NULL ? start + 1 : "", n);
    ret[n] = '\0';
}

/* Appends the event's change to the license's history, as lic_record did. */
static enum lb_err restore_history(struct store *s, const struct envelope *ev, const char *name,
                                   const struct license *l, const cJSON *state, struct lb_why *why)
{
    const char *when = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(state, "recorded_at"));
    cJSON *entry;
    char *text;
    int64_t time_ms;
    enum lb_err err;

    if (when == NULL)
        when = ev->time;
    if (envelope_parse_time(when, &time_ms) != LB_OK)
        return lb_fail(why, LB_EINVAL, "state.recorded_at: not a time");
    entry =
        lic_history_entry(ev->id, name, when, cJSON_GetObjectItemCaseSensitive(ev->data, "actor"),
                          cJSON_GetObjectItemCaseSensitive(ev->data, "before"),
                          cJSON_GetObjectItemCaseSensitive(ev->data, "after"),
                          cJSON_GetObjectItemCaseSensitive(ev->data, "deployment"));
    text = entry != NULL ? cJSON_PrintUnformatted(entry) : NULL;
    cJSON_Delete(entry);
    if (text == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    err = lic_store_history_add(s, l->id, ev->id, name, time_ms, text, strlen(text), why);
    free(text);
    return err;
}

/* The deployment a change made: bound, freed, or seen. */
static enum lb_err restore_deployment(struct store *s, const char *name, const struct license *l,
                                      const cJSON *data, struct lb_why *why)
{
    bool bound = strcmp(name, "license_activated") == 0;
    bool seen = strcmp(name, "license_checked_in") == 0;
    struct deployment d;
    enum lb_err err;

    if (!bound && !seen && strcmp(name, "license_deactivated") != 0)
        return LB_OK;
    err = decode_deployment(cJSON_GetObjectItemCaseSensitive(data, "deployment"), &d, why);
    if (err != LB_OK)
        return err;
    if (bound || seen)
        return lic_store_deployment_put(s, l->id, &d, why);
    return lic_store_deployment_delete(s, l->id, d.instance, why);
}

enum lb_err lic_on_own_license(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct lic_state *st = lic_state(svc);
    const cJSON *snapshot = cJSON_GetObjectItemCaseSensitive(ev->data, "license");
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(ev->data, "state");
    const cJSON *cause = cJSON_GetObjectItemCaseSensitive(state, "cause");
    const char *cause_kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cause, "kind"));
    const char *cause_id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cause, "id"));
    char name[SUBJECT_TOKEN_MAX + 1];
    struct license l;
    const char *id;
    int64_t rev = 0;
    int64_t stored_rev = 0;
    bool present = false;
    enum lb_err err = ensure_metrics(svc, why);

    if (err != LB_OK)
        return err;
    if (json_get_string(snapshot, "id", sizeof(l.id) - 1, &id, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "license.id: %s", why->text);
    if (state != NULL
            ? json_get_int(state, "rev", 1, JSON_MAX_SAFE_INTEGER, &rev, why) != LB_OK
            : json_get_int(snapshot, "version", 1, JSON_MAX_SAFE_INTEGER, &rev, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "state.rev: %s", why->text);
    err = lic_store_rev(s, id, &stored_rev, &present, why);
    if (err != LB_OK)
        return err;
    if (present && stored_rev >= rev) {
        (*st->metric_own)++;
        return LB_OK; /* the row is there already: normal operation */
    }
    memset(&l, 0, sizeof(l));
    if (present) {
        err = lic_store_get_by_id(s, id, &l, why);
        if (err != LB_OK)
            return err;
    }
    type_name(ev->type, name);
    err = decode_license(snapshot, state, &l, why);
    if (err == LB_OK)
        err = lic_store_put(s, &l, lic_next_transition(&l, window_ms(svc)), why);
    if (err == LB_OK)
        err = restore_deployment(s, name, &l, ev->data, why);
    if (err == LB_OK && has_history(name))
        err = restore_history(s, ev, name, &l, state, why);
    /* The platform event that made this change must not apply again when it comes. */
    if (err == LB_OK && cause_kind != NULL && strcmp(cause_kind, "event") == 0 && cause_id != NULL)
        err = lic_store_cause_add(s, cause_id, why);
    if (err != LB_OK)
        return err;
    (*st->metric_own)++;
    (*st->metric_restored)++;
    return LB_OK;
}

/* Reads data.installers of a product event. */
static enum lb_err decode_installers(const cJSON *list, struct installer *ret, size_t *ret_n,
                                     struct lb_why *why)
{
    const cJSON *item;
    size_t n = 0;

    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > LIC_INSTALLERS_MAX)
        return lb_fail(why, LB_EINVAL, "installers: not a list of installers");
    cJSON_ArrayForEach(item, list)
    {
        enum lb_err err = take_text(item, "version", ret[n].version, sizeof(ret[n].version), why);

        if (err == LB_OK)
            err = take_text(item, "platform", ret[n].platform, sizeof(ret[n].platform), why);
        if (err == LB_OK)
            err = take_text(item, "link", ret[n].link, sizeof(ret[n].link), why);
        if (err == LB_OK)
            err = take_text(item, "checksum", ret[n].checksum, sizeof(ret[n].checksum), why);
        if (err != LB_OK)
            return err;
        n++;
    }
    *ret_n = n;
    return LB_OK;
}

enum lb_err lic_on_own_product(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct lic_state *st = lic_state(svc);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(ev->data, "product");
    struct installer *list = NULL;
    struct product p = {0};
    struct product stored;
    char delivery[16];
    size_t n = 0;
    enum lb_err err = ensure_metrics(svc, why);

    if (err != LB_OK)
        return err;
    err = take_text(o, "id", p.id, sizeof(p.id), why);
    if (err == LB_OK)
        err = take_int(o, "version", &p.version, why);
    if (err != LB_OK)
        return err;
    err = lic_store_product_get(s, p.id, &stored, why);
    if (err == LB_OK && stored.version >= p.version) {
        (*st->metric_own)++;
        return LB_OK; /* normal operation */
    }
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = take_text(o, "name", p.name, sizeof(p.name), why);
    if (err == LB_OK)
        err = take_text(o, "delivery", delivery, sizeof(delivery), why);
    if (err == LB_OK && !lic_delivery_parse(delivery, &p.delivery))
        err = lb_fail(why, LB_EINVAL, "product.delivery: \"%s\"", delivery);
    if (err == LB_OK && !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "shown")))
        err = lb_fail(why, LB_EINVAL, "product.shown: not a boolean");
    if (err != LB_OK)
        return err;
    p.shown = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "shown"));
    list = calloc(LIC_INSTALLERS_MAX, sizeof(*list));
    if (list == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    err =
        decode_installers(cJSON_GetObjectItemCaseSensitive(ev->data, "installers"), list, &n, why);
    if (err == LB_OK)
        err = lic_store_product_put(s, &p, why);
    if (err == LB_OK)
        err = lic_store_installers_set(s, p.id, list, n, why);
    free(list);
    if (err != LB_OK)
        return err;
    (*st->metric_own)++;
    (*st->metric_restored)++;
    return LB_OK;
}
