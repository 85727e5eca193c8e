/*
 * events.c - the events reporting's read model is built from.
 *
 * Every handler validates what it reads (a malformed event is dead-lettered
 * with the member named), applies it, and records the lag bookkeeping.
 * Streams are read in parallel, so an event may arrive before the org, user
 * or device it refers to: that is LB_EUNAVAILABLE (the runtime retries it
 * with back-off, then dead-letters it). Snapshots carry versions, so an
 * older snapshot arriving late changes nothing.
 */
#include <string.h>

#include "clock.h"
#include "envelope.h"
#include "json_strict.h"
#include "reporting.h"
#include "subjects.h"

/* "licensebus.<domain>.<name>.vN" -> domain and name. */
static void type_parts(const char *type, char ret_domain[SUBJECT_TOKEN_MAX + 1],
                       char ret_name[SUBJECT_TOKEN_MAX + 1])
{
    const char *d = strchr(type, '.');
    const char *n = d ? strchr(d + 1, '.') : NULL;
    const char *v = n ? strrchr(n + 1, '.') : NULL;

    ret_domain[0] = ret_name[0] = '\0';
    if (d == NULL || n == NULL || v == NULL)
        return;
    (void)snprintf(ret_domain, SUBJECT_TOKEN_MAX + 1, "%.*s", (int)(n - d - 1), d + 1);
    (void)snprintf(ret_name, SUBJECT_TOKEN_MAX + 1, "%.*s", (int)(v - n - 1), n + 1);
}

enum lb_err rep_progress_of(struct service *svc, const char *domain, int64_t newest_ms,
                            int64_t events, struct lb_why *why)
{
    /* The same lag on /metrics, for alerts: one process runs one service, so one slot. */
    static double *lag_seconds;
    int64_t wall = clock_wall_ms();

    if (lag_seconds == NULL)
        lag_seconds = service_metric(svc, true, "lb_reporting_lag_seconds",
                                     "Wall time minus the time of the last event applied");
    if (lag_seconds != NULL)
        *lag_seconds = wall > newest_ms ? (double)(wall - newest_ms) / 1000.0 : 0;
    return rep_store_progress(service_store(svc), domain, newest_ms, wall, events, why);
}

enum lb_err rep_progress(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    char domain[SUBJECT_TOKEN_MAX + 1];
    char name[SUBJECT_TOKEN_MAX + 1];

    type_parts(ev->type, domain, name);
    return rep_progress_of(svc, domain, ev->time_ms, 1, why);
}

static enum lb_err need_data(const struct envelope *ev, struct lb_why *why)
{
    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    return LB_OK;
}

/* A required string member of `obj` (named `where` in reasons), 1..max bytes. */
static enum lb_err get_str(const cJSON *obj, const char *where, const char *name, size_t max,
                           const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(obj, name, max, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s%s: %s", where, name,
                       err == LB_ENOTFOUND ? "missing" : why->text);
    return LB_OK;
}

/* An optional string member: NULL when absent (or null). */
static enum lb_err get_opt_str(const cJSON *obj, const char *where, const char *name, size_t max,
                               const char **ret, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);

    *ret = NULL;
    if (item == NULL || cJSON_IsNull(item))
        return LB_OK;
    if (!cJSON_IsString(item) || strlen(item->valuestring) > max)
        return lb_fail(why, LB_EINVAL, "%s%s: must be a string of at most %zu bytes", where, name,
                       max);
    *ret = item->valuestring;
    return LB_OK;
}

static enum lb_err get_int(const cJSON *obj, const char *where, const char *name, int64_t min,
                           int64_t max, int64_t *ret, struct lb_why *why)
{
    enum lb_err err = json_get_int(obj, name, min, max, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s%s: %s", where, name,
                       err == LB_ENOTFOUND ? "missing" : why->text);
    return LB_OK;
}

/* An optional RFC 3339 time (or null): REP_NO_TIME when absent. */
static enum lb_err get_time(const cJSON *obj, const char *where, const char *name, int64_t *ret,
                            struct lb_why *why)
{
    const char *text = NULL;
    enum lb_err err = get_opt_str(obj, where, name, 64, &text, why);

    *ret = REP_NO_TIME;
    if (err != LB_OK || text == NULL)
        return err;
    if (envelope_parse_time(text, ret) != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s%s: \"%s\" is not an RFC 3339 time", where, name, text);
    return LB_OK;
}

static enum lb_err get_org(const cJSON *obj, const char *where, const char *name, const char **ret,
                           struct lb_why *why)
{
    enum lb_err err = get_str(obj, where, name, REP_ORG_MAX, ret, why);

    if (err == LB_OK && !subject_token_valid(*ret))
        return lb_fail(why, LB_EINVAL, "%s%s: \"%s\" is not an org id", where, name, *ret);
    return err;
}

/* ---- licensing ---- */

static enum lb_err decode_license(const cJSON *o, const char *tenant, struct rep_license *l,
                                  struct lb_why *why)
{
    static const char w[] = "license.";
    const char *text;
    const cJSON *orgs;
    const cJSON *org;
    enum lb_err err;

    memset(l, 0, sizeof(*l));
    if (!cJSON_IsObject(o))
        return lb_fail(why, LB_EINVAL, "license: missing or not an object");
    if ((err = get_str(o, w, "id", REP_ENTITY_MAX, &text, why)) != LB_OK)
        return err;
    (void)snprintf(l->id, sizeof(l->id), "%s", text);
    if ((err = get_opt_str(o, w, "tenant", REP_ORG_MAX, &text, why)) != LB_OK)
        return err;
    if (text != NULL && strcmp(text, tenant) != 0)
        return lb_fail(why, LB_EFORBIDDEN, "license.tenant: %s is not the event's tenant %s", text,
                       tenant);
    if ((err = get_str(o, w, "key", REP_KEY_MAX, &text, why)) != LB_OK)
        return err;
    (void)snprintf(l->key, sizeof(l->key), "%s", text);
    if ((err = get_str(o, w, "product", REP_PRODUCT_MAX, &text, why)) != LB_OK)
        return err;
    (void)snprintf(l->product, sizeof(l->product), "%s", text);
    if ((err = get_str(o, w, "delivery", 16, &text, why)) != LB_OK)
        return err;
    if (strcmp(text, "on_premises") != 0 && strcmp(text, "cloud") != 0)
        return lb_fail(why, LB_EINVAL, "license.delivery: \"%s\" is not on_premises or cloud",
                       text);
    (void)snprintf(l->delivery, sizeof(l->delivery), "%s", text);
    if ((err = get_str(o, w, "type", 16, &text, why)) != LB_OK)
        return err;
    if (strcmp(text, "evaluation") != 0 && strcmp(text, "purchased") != 0)
        return lb_fail(why, LB_EINVAL, "license.type: \"%s\" is not evaluation or purchased", text);
    (void)snprintf(l->type, sizeof(l->type), "%s", text);
    if ((err = get_str(o, w, "start", 10, &text, why)) != LB_OK)
        return err;
    if (!rep_date_parse(text, &l->start_ms))
        return lb_fail(why, LB_EINVAL, "license.start: \"%s\" is not a date", text);
    if ((err = get_str(o, w, "expiration", 10, &text, why)) != LB_OK)
        return err;
    if (!rep_date_parse(text, &l->expires_ms))
        return lb_fail(why, LB_EINVAL, "license.expiration: \"%s\" is not a date", text);
    l->expires_ms += REP_DAY_MS; /* the expiration date is the last valid day */
    if ((err = get_int(o, w, "limit", 0, JSON_MAX_SAFE_INTEGER, &l->limit, why)) != LB_OK ||
        (err = get_int(o, w, "deployed", 0, JSON_MAX_SAFE_INTEGER, &l->deployed, why)) != LB_OK ||
        (err = get_int(o, w, "scans_used", 0, JSON_MAX_SAFE_INTEGER, &l->scans_used, why)) !=
            LB_OK ||
        (err = get_int(o, w, "version", 1, JSON_MAX_SAFE_INTEGER, &l->version, why)) != LB_OK)
        return err;
    if ((err = get_opt_str(o, w, "note", REP_NOTE_MAX, &text, why)) != LB_OK)
        return err;
    (void)snprintf(l->note, sizeof(l->note), "%s", text != NULL ? text : "");
    orgs = cJSON_GetObjectItemCaseSensitive(o, "orgs");
    if (!cJSON_IsArray(orgs))
        return lb_fail(why, LB_EINVAL, "license.orgs: missing or not an array");
    if (cJSON_GetArraySize(orgs) > REP_LICENSE_ORGS_MAX)
        return lb_fail(why, LB_ETOOBIG, "license.orgs: more than %d orgs", REP_LICENSE_ORGS_MAX);
    cJSON_ArrayForEach(org, orgs)
    {
        if (!cJSON_IsString(org) || !subject_token_valid(org->valuestring))
            return lb_fail(why, LB_EINVAL, "license.orgs: every item must be an org id");
        (void)snprintf(l->orgs[l->org_count++], REP_ORG_MAX + 1, "%s", org->valuestring);
    }
    return LB_OK;
}

static char *print_member(const cJSON *data, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, name);

    return v != NULL && !cJSON_IsNull(v) ? cJSON_PrintUnformatted(v) : NULL;
}

static enum lb_err apply_deployment(struct store *s, const char *tenant, const char *change,
                                    const struct rep_license *l, const cJSON *d, struct lb_why *why)
{
    static const char w[] = "deployment.";
    const char *instance, *host, *version;
    int64_t activated, seen;
    bool active = strcmp(change, "license_deactivated") != 0;
    enum lb_err err;

    if (!cJSON_IsObject(d))
        return lb_fail(why, LB_EINVAL, "deployment: not an object");
    if ((err = get_str(d, w, "instance", REP_ENTITY_MAX, &instance, why)) != LB_OK ||
        (err = get_opt_str(d, w, "host", REP_TEXT_MAX, &host, why)) != LB_OK ||
        (err = get_opt_str(d, w, "product_version", REP_TEXT_MAX, &version, why)) != LB_OK ||
        (err = get_time(d, w, "activated_at", &activated, why)) != LB_OK ||
        (err = get_time(d, w, "last_seen", &seen, why)) != LB_OK)
        return err;
    return rep_store_deployment_put(s, tenant, l->id, instance, host, version, activated, seen,
                                    active, l->version, why);
}

enum lb_err rep_on_license(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    struct store *s = service_store(svc);
    char domain[SUBJECT_TOKEN_MAX + 1];
    char change[SUBJECT_TOKEN_MAX + 1];
    struct rep_license l;
    const cJSON *actor;
    const cJSON *deployment;
    const char *actor_org = NULL;
    const char *actor_user = NULL;
    char *before = NULL;
    char *after = NULL;
    bool applied = false;
    enum lb_err err;

    if ((err = need_data(ev, why)) != LB_OK)
        return err;
    type_parts(ev->type, domain, change);
    err =
        decode_license(cJSON_GetObjectItemCaseSensitive(ev->data, "license"), ev->tenant, &l, why);
    if (err != LB_OK)
        return err;
    actor = cJSON_GetObjectItemCaseSensitive(ev->data, "actor");
    if (cJSON_IsObject(actor)) {
        if ((err = get_opt_str(actor, "actor.", "org", REP_ORG_MAX, &actor_org, why)) != LB_OK ||
            (err = get_opt_str(actor, "actor.", "user", REP_ENTITY_MAX, &actor_user, why)) != LB_OK)
            return err;
    } else if (actor != NULL && !cJSON_IsNull(actor)) {
        return lb_fail(why, LB_EINVAL, "actor: not an object");
    }
    err = rep_store_license_put(s, ev->tenant, &l, &applied, why);
    if (err == LB_OK && applied)
        err = rep_store_license_place(s, ev->tenant, &l, why);
    deployment = cJSON_GetObjectItemCaseSensitive(ev->data, "deployment");
    if (err == LB_OK && deployment != NULL && !cJSON_IsNull(deployment))
        err = apply_deployment(s, ev->tenant, change, &l, deployment, why);
    if (err != LB_OK)
        return err;
    /* Scans counted and check-ins move usage, not the license's terms: not in its history. */
    if (strcmp(change, "license_scans_counted") == 0 || strcmp(change, "license_checked_in") == 0)
        return rep_progress(svc, ev, why);
    before = print_member(ev->data, "before");
    after = print_member(ev->data, "after");
    err =
        rep_store_history_add(s, ev->tenant, l.id, ev->time_ms, ev->id, change, actor_org,
                              actor_user != NULL ? actor_user : "", l.version, before, after, why);
    cJSON_free(before);
    cJSON_free(after);
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}

enum lb_err rep_on_product(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char w[] = "product.";
    const cJSON *p;
    const cJSON *shown;
    const char *id, *name, *delivery;
    enum lb_err err;

    if ((err = need_data(ev, why)) != LB_OK)
        return err;
    p = cJSON_GetObjectItemCaseSensitive(ev->data, "product");
    if (!cJSON_IsObject(p))
        return lb_fail(why, LB_EINVAL, "product: missing or not an object");
    if ((err = get_str(p, w, "id", REP_PRODUCT_MAX, &id, why)) != LB_OK ||
        (err = get_str(p, w, "name", REP_NAME_MAX, &name, why)) != LB_OK ||
        (err = get_str(p, w, "delivery", 16, &delivery, why)) != LB_OK)
        return err;
    if (strcmp(delivery, "on_premises") != 0 && strcmp(delivery, "cloud") != 0)
        return lb_fail(why, LB_EINVAL, "product.delivery: \"%s\" is not on_premises or cloud",
                       delivery);
    shown = cJSON_GetObjectItemCaseSensitive(p, "shown");
    if (!cJSON_IsBool(shown))
        return lb_fail(why, LB_EINVAL, "product.shown: missing or not a boolean");
    err = rep_store_product_put(service_store(svc), id, name, delivery, cJSON_IsTrue(shown), why);
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}

/* ---- subscriptions ---- */

static bool one_of(const char *text, const char *const *names)
{
    for (; *names != NULL; names++) {
        if (strcmp(text, *names) == 0)
            return true;
    }
    return false;
}

enum lb_err rep_on_subscription(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char *const bases[] = {"users", "devices", "both", NULL};
    static const char *const statuses[] = {"in_trial", "active", "suspended", "cancelled", NULL};
    struct rep_subscription sub = {0};
    const cJSON *d = ev->data;
    enum lb_err err;

    if ((err = need_data(ev, why)) != LB_OK)
        return err;
    if ((err = get_str(d, "", "subscription", REP_ENTITY_MAX, &sub.id, why)) != LB_OK ||
        (err = get_org(d, "", "customer", &sub.customer, why)) != LB_OK ||
        (err = get_str(d, "", "package", REP_PRODUCT_MAX, &sub.package, why)) != LB_OK ||
        (err = get_str(d, "", "seat_basis", 16, &sub.basis, why)) != LB_OK ||
        (err = get_str(d, "", "status", 16, &sub.status, why)) != LB_OK ||
        (err = get_int(d, "", "quantity", 0, JSON_MAX_SAFE_INTEGER, &sub.quantity, why)) != LB_OK ||
        (err = get_time(d, "", "trial_end", &sub.trial_end_ms, why)) != LB_OK ||
        (err = get_time(d, "", "billing_start", &sub.billing_start_ms, why)) != LB_OK ||
        (err = get_time(d, "", "billing_end", &sub.billing_end_ms, why)) != LB_OK)
        return err;
    if (!one_of(sub.basis, bases))
        return lb_fail(why, LB_EINVAL, "seat_basis: \"%s\" is not users, devices or both",
                       sub.basis);
    if (!one_of(sub.status, statuses))
        return lb_fail(why, LB_EINVAL, "status: \"%s\" is not a subscription status", sub.status);
    err = json_get_int(d, "version", 1, JSON_MAX_SAFE_INTEGER, &sub.version, why);
    if (err == LB_ENOTFOUND)
        sub.version = 0; /* unversioned: the latest applied wins */
    else if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "version: %s", why->text);
    err = rep_store_subscription_put(service_store(svc), ev->tenant, &sub, why);
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}

enum lb_err rep_on_seat(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    const char *sub, *customer, *user, *group, *reason;
    bool assigned = strstr(ev->type, ".seat_assigned.") != NULL;
    enum lb_err err;

    if ((err = need_data(ev, why)) != LB_OK)
        return err;
    if ((err = get_str(ev->data, "", "subscription", REP_ENTITY_MAX, &sub, why)) != LB_OK ||
        (err = get_org(ev->data, "", "customer", &customer, why)) != LB_OK ||
        (err = get_str(ev->data, "", "user", REP_ENTITY_MAX, &user, why)) != LB_OK ||
        (err = get_str(ev->data, "", "group", REP_ENTITY_MAX, &group, why)) != LB_OK ||
        (err = get_opt_str(ev->data, "", "reason", REP_TEXT_MAX, &reason, why)) != LB_OK)
        return err;
    err = rep_store_seat(service_store(svc), ev->tenant, sub, user, group, assigned, why);
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}

enum lb_err rep_on_customer(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    const char *customer, *status, *billing;
    const cJSON *login;
    int64_t version = 0;
    enum lb_err err;

    if ((err = need_data(ev, why)) != LB_OK)
        return err;
    if ((err = get_org(ev->data, "", "customer", &customer, why)) != LB_OK ||
        (err = get_str(ev->data, "", "status", 16, &status, why)) != LB_OK ||
        (err = get_str(ev->data, "", "billing", 16, &billing, why)) != LB_OK)
        return err;
    login = cJSON_GetObjectItemCaseSensitive(ev->data, "login_enabled");
    if (!cJSON_IsBool(login))
        return lb_fail(why, LB_EINVAL, "login_enabled: missing or not a boolean");
    err = json_get_int(ev->data, "version", 1, JSON_MAX_SAFE_INTEGER, &version, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "version: %s", why->text);
    err = rep_store_customer_put(service_store(svc), ev->tenant, customer, status,
                                 cJSON_IsTrue(login), billing, version, why);
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}

/* ---- usage ---- */

enum lb_err rep_on_usage_user(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    const char *user, *customer;
    const char *what = strstr(ev->type, ".license_released.") != NULL  ? "released"
                       : strstr(ev->type, ".license_retaken.") != NULL ? "retaken"
                                                                       : "purged";
    enum lb_err err;

    if ((err = need_data(ev, why)) != LB_OK)
        return err;
    if ((err = get_str(ev->data, "", "user", REP_ENTITY_MAX, &user, why)) != LB_OK ||
        (err = get_opt_str(ev->data, "", "customer", REP_ORG_MAX, &customer, why)) != LB_OK)
        return err;
    err = rep_store_user_usage(service_store(svc), ev->tenant, user, customer, what, ev->time_ms,
                               why);
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}

/* ---- directory ---- */

enum lb_err rep_on_user(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    struct store *s = service_store(svc);
    char customer[REP_ORG_MAX + 1];
    const char *user, *org, *email, *name;
    enum lb_err err;

    if ((err = need_data(ev, why)) != LB_OK)
        return err;
    if ((err = get_str(ev->data, "", "user", REP_ENTITY_MAX, &user, why)) != LB_OK)
        return err;
    if (strstr(ev->type, ".user_deleted.") != NULL) {
        err = rep_store_user_deleted(s, ev->tenant, user, why);
    } else if (strstr(ev->type, ".user_updated.") != NULL) {
        if ((err = get_opt_str(ev->data, "", "email", REP_TEXT_MAX, &email, why)) != LB_OK ||
            (err = get_opt_str(ev->data, "", "display_name", REP_NAME_MAX, &name, why)) != LB_OK)
            return err;
        err = rep_store_user_update(s, ev->tenant, user, name, email, why);
    } else {
        if ((err = get_org(ev->data, "", "org", &org, why)) != LB_OK ||
            (err = get_str(ev->data, "", "email", REP_TEXT_MAX, &email, why)) != LB_OK ||
            (err = get_str(ev->data, "", "display_name", REP_NAME_MAX, &name, why)) != LB_OK)
            return err;
        err = rep_store_customer_of(s, ev->tenant, org, customer, why);
        if (err == LB_ENOTFOUND)
            return lb_fail(why, LB_EUNAVAILABLE, "user %s: org %s is not known yet", user, org);
        if (err == LB_OK)
            err = rep_store_user_put(s, ev->tenant, user, org, customer, name, email, why);
    }
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}

enum lb_err rep_on_org_moved(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    const char *org;
    enum lb_err err = need_data(ev, why);

    /* The runtime moved the tree first (and checked the event): follow it. */
    if (err == LB_OK)
        err = get_org(ev->data, "", "org", &org, why);
    if (err == LB_OK)
        err = rep_store_org_moved(service_store(svc), ev->tenant, org, why);
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}

/* ---- agents (heartbeats: signals.c) ---- */

enum lb_err rep_on_device(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    struct store *s = service_store(svc);
    char customer[REP_ORG_MAX + 1];
    const char *device, *org, *kind, *host, *user;
    enum lb_err err;

    if ((err = need_data(ev, why)) != LB_OK)
        return err;
    if ((err = get_str(ev->data, "", "device", REP_ENTITY_MAX, &device, why)) != LB_OK)
        return err;
    if (strstr(ev->type, ".device_installed.") != NULL) {
        if ((err = get_org(ev->data, "", "org", &org, why)) != LB_OK ||
            (err = get_str(ev->data, "", "kind", 16, &kind, why)) != LB_OK ||
            (err = get_str(ev->data, "", "hostname", REP_TEXT_MAX, &host, why)) != LB_OK)
            return err;
        if (strcmp(kind, "business") != 0 && strcmp(kind, "personal") != 0)
            return lb_fail(why, LB_EINVAL, "kind: \"%s\" is not business or personal", kind);
        err = rep_store_customer_of(s, ev->tenant, org, customer, why);
        if (err == LB_ENOTFOUND)
            return lb_fail(why, LB_EUNAVAILABLE, "device %s: org %s is not known yet", device, org);
        if (err == LB_OK)
            err = rep_store_device_put(s, ev->tenant, device, org, customer, kind, host, why);
    } else if (strstr(ev->type, ".device_uninstalled.") != NULL) {
        err = rep_store_device_installed(s, ev->tenant, device, false, why);
    } else if (strstr(ev->type, ".device_owner_changed.") != NULL) {
        /* Usage decided; its stream orders every owner change: the owner now, whoever it was. */
        if (cJSON_GetObjectItemCaseSensitive(ev->data, "user") == NULL)
            return lb_fail(why, LB_EINVAL, "user: missing");
        if ((err = get_opt_str(ev->data, "", "user", REP_ENTITY_MAX, &user, why)) != LB_OK)
            return err;
        err = rep_store_device_user(s, ev->tenant, device, user, NULL, why);
    } else {
        bool attach = strstr(ev->type, ".device_associated.") != NULL;

        if ((err = get_str(ev->data, "", "user", REP_ENTITY_MAX, &user, why)) != LB_OK)
            return err;
        err = rep_store_device_user(s, ev->tenant, device, attach ? user : NULL,
                                    attach ? NULL : user, why);
    }
    return err == LB_OK ? rep_progress(svc, ev, why) : err;
}
