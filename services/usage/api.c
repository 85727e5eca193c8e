/*
 * api.c - usage's request handlers: decode, authorize (the caller's
 * subtree, docs/decisions.md D17), read or apply, reply.
 *
 * Something outside the caller's subtree and something that does not exist
 * get the same `forbidden` answer, so a caller cannot probe other trees.
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "json_strict.h"
#include "orgtree.h"
#include "subjects.h"
#include "usage.h"

/* ---- helpers ------------------------------------------------------------------ */

/* Every endpoint starts here: refused while a rebuilt database restores (its answers would be
 * half-restored), then the body's members and the caller. */
static enum lb_err decode_request(struct service *svc, const cJSON *body, const char *const *known,
                                  struct caller *ret_caller, struct lb_why *why)
{
    enum lb_err err = json_check_members(body, known, why);

    if (err == LB_OK)
        err = caller_decode(service_store(svc), body, ret_caller, why);
    return err;
}

static enum lb_err get_id(const cJSON *body, const char *name, const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(body, name, USAGE_ID_MAX, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (!usage_entity_id_valid(*ret))
        return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not a valid id (1-%d of [A-Za-z0-9_.:@-])",
                       name, *ret, USAGE_ID_MAX);
    return LB_OK;
}

static enum lb_err get_org(const cJSON *body, const char *name, const char **ret,
                           struct lb_why *why)
{
    enum lb_err err = json_get_string(body, name, USAGE_ORG_MAX, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (!subject_tenant_valid(*ret))
        return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not a valid org id", name, *ret);
    return LB_OK;
}

/*
 * LB_OK when `org` (NULL: the thing does not exist) is in the caller's
 * subtree; else the same forbidden answer either way.
 */
static enum lb_err visible(struct store *s, const struct caller *caller, const char *org,
                           const char *what, const char *id, struct lb_why *why)
{
    enum lb_err err = org != NULL ? caller_may_act_on(s, caller, org, why) : LB_EFORBIDDEN;

    if (err == LB_EFORBIDDEN)
        return lb_fail(why, LB_EFORBIDDEN, "%s \"%s\" is not in the subtree of caller org \"%s\"",
                       what, id, caller->org);
    return err;
}

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

static cJSON *device_json(const struct device_row *d)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddStringToObject(o, "device", d->id) ||
        !cJSON_AddStringToObject(o, "org", d->org) ||
        !cJSON_AddStringToObject(o, "customer", d->customer) ||
        !cJSON_AddStringToObject(o, "kind", device_kind_name(d->kind)) ||
        !cJSON_AddStringToObject(o, "hostname", d->hostname) ||
        !add_text_or_null(o, "os", d->os[0] != '\0', d->os) ||
        !cJSON_AddStringToObject(o, "state", d->installed ? "installed" : "uninstalled") ||
        !add_text_or_null(o, "user", d->user[0] != '\0', d->user) ||
        !cJSON_AddBoolToObject(o, "consumes", d->installed && d->user[0] == '\0') ||
        !add_time(o, "installed_at", d->installed_ms) ||
        !add_time(o, "uninstalled_at", d->uninstalled_ms) ||
        !add_time(o, "last_seen", d->last_seen_ms)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static enum lb_err add_device(const struct device_row *d, void *arg)
{
    cJSON *item = device_json(d);

    if (item == NULL || !cJSON_AddItemToArray(arg, item)) {
        cJSON_Delete(item);
        return LB_ENOMEM;
    }
    return LB_OK;
}

static const char *user_state(const struct user_row *u)
{
    if (u->deleted_ms != 0)
        return "deleted";
    if (u->released_ms != 0)
        return "released";
    return u->seat_count > 0 ? "licensed" : "unlicensed";
}

static enum lb_err reply_oom(cJSON *reply, struct lb_why *why)
{
    cJSON_Delete(reply);
    return lb_fail(why, LB_ENOMEM, "out of memory");
}

/* ---- consumption ------------------------------------------------------------------- */

static cJSON *sub_json(const struct sub_usage *sub)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddStringToObject(o, "subscription", sub->id) ||
        !cJSON_AddStringToObject(o, "package", sub->package) ||
        !cJSON_AddStringToObject(o, "seat_basis", seat_basis_name(sub->basis)) ||
        !cJSON_AddStringToObject(o, "status", sub_status_name(sub->status)) ||
        !cJSON_AddNumberToObject(o, "quantity", (double)sub->quantity) ||
        !cJSON_AddNumberToObject(o, "users", (double)sub->users) ||
        !cJSON_AddNumberToObject(o, "devices", (double)sub->devices) ||
        !cJSON_AddNumberToObject(o, "consumed", (double)sub->consumed) ||
        !cJSON_AddBoolToObject(o, "over", sub->over)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

enum lb_err usage_api_consumption(struct service *svc, const struct request *req, cJSON **ret_reply,
                                  struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "customer", NULL};
    struct store *s = service_store(svc);
    struct consumption c = {0};
    struct caller caller;
    const char *customer;
    char at[32];
    cJSON *reply = NULL;
    cJSON *subs;
    enum lb_err err;

    /* Always a time, also on a virtual clock no tick has moved yet (the epoch). */
    envelope_format_time(service_now_ms(svc), at);
    err = decode_request(svc, req->body, known, &caller, why);
    if (err == LB_OK)
        err = get_org(req->body, "customer", &customer, why);
    if (err == LB_OK)
        err = visible(s, &caller, customer, "customer", customer, why);
    if (err == LB_OK)
        err = usage_consumption(s, caller.tenant, customer, &c, why);
    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddStringToObject(reply, "tenant", caller.tenant) ||
        !cJSON_AddStringToObject(reply, "customer", customer) ||
        !cJSON_AddStringToObject(reply, "at", at) ||
        !cJSON_AddNumberToObject(reply, "consumed", (double)c.consumed) ||
        !cJSON_AddNumberToObject(reply, "purchased", (double)c.purchased) ||
        !cJSON_AddBoolToObject(reply, "over", c.over) ||
        !cJSON_AddNumberToObject(reply, "licensed_users", (double)c.licensed_users) ||
        !cJSON_AddNumberToObject(reply, "unassociated_devices", (double)c.unassociated_devices) ||
        !cJSON_AddNumberToObject(reply, "associated_devices", (double)c.associated_devices) ||
        !cJSON_AddNumberToObject(reply, "uninstalled_devices", (double)c.uninstalled_devices) ||
        !cJSON_AddNumberToObject(reply, "unattributed_devices", (double)c.unattributed) ||
        (subs = cJSON_AddArrayToObject(reply, "subscriptions")) == NULL)
        err = LB_ENOMEM;
    for (size_t i = 0; err == LB_OK && i < c.n; i++) {
        cJSON *item = sub_json(&c.subs[i]);

        if (item == NULL || !cJSON_AddItemToArray(subs, item)) {
            cJSON_Delete(item);
            err = LB_ENOMEM;
        }
    }
    consumption_release(&c);
    if (err != LB_OK)
        return reply_oom(reply, why);
    *ret_reply = reply;
    return LB_OK;
}

/* ---- users and devices ------------------------------------------------------------- */

enum lb_err usage_api_user_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                               struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "user", NULL};
    struct store *s = service_store(svc);
    char seats[USAGE_USER_SEATS_MAX][USAGE_ID_MAX + 1];
    struct caller caller;
    struct user_row u;
    const char *id;
    size_t n = 0;
    cJSON *reply = NULL;
    cJSON *list = NULL;
    cJSON *devices = NULL;
    enum lb_err err;

    err = decode_request(svc, req->body, known, &caller, why);
    if (err == LB_OK)
        err = get_id(req->body, "user", &id, why);
    if (err != LB_OK)
        return err;
    err = usage_store_user_get(s, caller.tenant, id, &u, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = visible(s, &caller, err == LB_OK ? u.org : NULL, "user", id, why);
    if (err == LB_OK)
        err = usage_store_user_seats(s, caller.tenant, id, seats, USAGE_USER_SEATS_MAX, &n, why);
    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddStringToObject(reply, "user", u.id) ||
        !cJSON_AddStringToObject(reply, "org", u.org) ||
        !cJSON_AddStringToObject(reply, "customer", u.customer) ||
        !cJSON_AddStringToObject(reply, "state", user_state(&u)) ||
        !cJSON_AddBoolToObject(reply, "licensed", user_is_licensed(&u)) ||
        !cJSON_AddBoolToObject(reply, "known", u.known) ||
        !add_text_or_null(reply, "email", u.has_email, u.email) ||
        !add_text_or_null(reply, "display_name", u.has_name, u.display_name) ||
        !add_time(reply, "last_active", u.last_active_ms) ||
        !add_time(reply, "released_at", u.released_ms) ||
        !add_time(reply, "license_removed_at", u.license_removed_ms) ||
        !add_time(reply, "purged_at", u.purged_ms) ||
        !add_time(reply, "deleted_at", u.deleted_ms) ||
        (list = cJSON_AddArrayToObject(reply, "subscriptions")) == NULL ||
        (devices = cJSON_AddArrayToObject(reply, "devices")) == NULL)
        return reply_oom(reply, why);
    for (size_t i = 0; i < n; i++) {
        if (!cJSON_AddItemToArray(list, cJSON_CreateString(seats[i])))
            return reply_oom(reply, why);
    }
    err = usage_store_each_user_device(s, caller.tenant, id, add_device, devices, why);
    if (err != LB_OK) {
        cJSON_Delete(reply);
        return err;
    }
    *ret_reply = reply;
    return LB_OK;
}

enum lb_err usage_api_device_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                                 struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "device", NULL};
    struct store *s = service_store(svc);
    struct caller caller;
    struct device_row d;
    const char *id;
    enum lb_err err;

    err = decode_request(svc, req->body, known, &caller, why);
    if (err == LB_OK)
        err = get_id(req->body, "device", &id, why);
    if (err != LB_OK)
        return err;
    err = usage_store_device_get(s, caller.tenant, id, &d, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = visible(s, &caller, err == LB_OK ? d.org : NULL, "device", id, why);
    if (err != LB_OK)
        return err;
    *ret_reply = device_json(&d);
    return *ret_reply ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
}

enum lb_err usage_api_device_list(struct service *svc, const struct request *req, cJSON **ret_reply,
                                  struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "customer", "state",
                                        "after",  "limit",  NULL};
    struct store *s = service_store(svc);
    struct caller caller;
    const char *customer, *state_text = "all", *after = "";
    int64_t limit = USAGE_LIST_LIMIT_DEFAULT;
    int state = -1;
    cJSON *reply = NULL;
    cJSON *list = NULL;
    int count;
    enum lb_err err;

    err = decode_request(svc, req->body, known, &caller, why);
    if (err == LB_OK)
        err = get_org(req->body, "customer", &customer, why);
    if (err == LB_OK && cJSON_GetObjectItemCaseSensitive(req->body, "state") != NULL) {
        err = json_get_string(req->body, "state", 16, &state_text, why);
        if (err != LB_OK)
            err = lb_fail(why, LB_EINVAL, "state: %s", why->text);
        else if (strcmp(state_text, "installed") == 0)
            state = 1;
        else if (strcmp(state_text, "uninstalled") == 0)
            state = 0;
        else if (strcmp(state_text, "all") != 0)
            err = lb_fail(why, LB_EINVAL, "state: \"%s\" is not installed, uninstalled or all",
                          state_text);
    }
    if (err == LB_OK && cJSON_GetObjectItemCaseSensitive(req->body, "after") != NULL)
        err = get_id(req->body, "after", &after, why);
    if (err == LB_OK && cJSON_GetObjectItemCaseSensitive(req->body, "limit") != NULL &&
        json_get_int(req->body, "limit", 1, USAGE_LIST_LIMIT_MAX, &limit, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "limit: %s", why->text);
    if (err == LB_OK)
        err = visible(s, &caller, customer, "customer", customer, why);
    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddStringToObject(reply, "customer", customer) ||
        !cJSON_AddStringToObject(reply, "state", state_text) ||
        (list = cJSON_AddArrayToObject(reply, "devices")) == NULL)
        return reply_oom(reply, why);
    err = usage_store_each_customer_device(s, caller.tenant, customer, state, after, limit,
                                           add_device, list, why);
    if (err != LB_OK) {
        cJSON_Delete(reply);
        return err;
    }
    /* A full page may have more after it: `next` is the cursor to ask with. */
    count = cJSON_GetArraySize(list);
    if (count == limit) {
        const cJSON *last = cJSON_GetArrayItem(list, count - 1);

        if (!cJSON_AddStringToObject(
                reply, "next",
                cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "device"))))
            return reply_oom(reply, why);
    } else if (!cJSON_AddNullToObject(reply, "next")) {
        return reply_oom(reply, why);
    }
    *ret_reply = reply;
    return LB_OK;
}

/* ---- scans ------------------------------------------------------------------------ */

/* Sums the rows of the caller's subtree into one entry per period. */
struct scans_acc {
    struct store *s;
    const struct caller *caller;
    cJSON *periods;
    int64_t total;
    enum lb_err err;
    struct lb_why *why;
};

static enum lb_err add_scans(const char *period, const char *org, int64_t scans, void *arg)
{
    struct scans_acc *acc = arg;
    enum lb_err err = caller_may_act_on(acc->s, acc->caller, org, acc->why);
    cJSON *last;
    cJSON *count;

    if (err == LB_EFORBIDDEN)
        return LB_OK; /* another branch's use of the key: not the caller's to see */
    if (err != LB_OK)
        return err;
    acc->total += scans;
    last = cJSON_GetArrayItem(acc->periods, cJSON_GetArraySize(acc->periods) - 1);
    if (last != NULL &&
        strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(last, "period")), period) ==
            0) {
        count = cJSON_GetObjectItemCaseSensitive(last, "scans");
        if (count == NULL)
            return LB_EINTERNAL; /* every period this function made has its count */
        cJSON_SetNumberValue(count, count->valuedouble + (double)scans);
        return LB_OK;
    }
    last = cJSON_CreateObject();
    if (last == NULL || !cJSON_AddStringToObject(last, "period", period) ||
        !cJSON_AddNumberToObject(last, "scans", (double)scans) ||
        !cJSON_AddItemToArray(acc->periods, last)) {
        cJSON_Delete(last);
        return LB_ENOMEM;
    }
    return LB_OK;
}

enum lb_err usage_api_scans(struct service *svc, const struct request *req, cJSON **ret_reply,
                            struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "key", "from", "to", "by", NULL};
    struct store *s = service_store(svc);
    struct caller caller;
    const char *key, *from, *to, *by = "month";
    int64_t from_ms = 0, to_ms = 0, days;
    struct scans_acc acc = {0};
    cJSON *reply = NULL;
    enum lb_err err;

    err = decode_request(svc, req->body, known, &caller, why);
    if (err == LB_OK && json_get_string(req->body, "key", USAGE_KEY_MAX, &key, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "key: %s", why->text);
    if (err == LB_OK && !usage_license_key_valid(key))
        err = lb_fail(why, LB_EINVAL, "key: \"%s\" is not a license key", key);
    if (err == LB_OK && (json_get_string(req->body, "from", 10, &from, why) != LB_OK ||
                         !usage_date_parse(from, &from_ms)))
        err = lb_fail(why, LB_EINVAL, "from: must be a date YYYY-MM-DD");
    if (err == LB_OK &&
        (json_get_string(req->body, "to", 10, &to, why) != LB_OK || !usage_date_parse(to, &to_ms)))
        err = lb_fail(why, LB_EINVAL, "to: must be a date YYYY-MM-DD");
    if (err == LB_OK && cJSON_GetObjectItemCaseSensitive(req->body, "by") != NULL &&
        (json_get_string(req->body, "by", 8, &by, why) != LB_OK ||
         (strcmp(by, "day") != 0 && strcmp(by, "month") != 0)))
        err = lb_fail(why, LB_EINVAL, "by: must be \"day\" or \"month\"");
    if (err != LB_OK)
        return err;
    days = (to_ms - from_ms) / 86400000 + 1;
    if (days < 1)
        return lb_fail(why, LB_EINVAL, "to (%s) is before from (%s)", to, from);
    if (days > (strcmp(by, "day") == 0 ? USAGE_SCAN_DAYS_BY_DAY : USAGE_SCAN_DAYS_BY_MONTH))
        return lb_fail(why, LB_ETOOBIG, "%lld days is wider than %d days by %s", (long long)days,
                       strcmp(by, "day") == 0 ? USAGE_SCAN_DAYS_BY_DAY : USAGE_SCAN_DAYS_BY_MONTH,
                       by);
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddStringToObject(reply, "key", key) ||
        !cJSON_AddStringToObject(reply, "from", from) ||
        !cJSON_AddStringToObject(reply, "to", to) || !cJSON_AddStringToObject(reply, "by", by) ||
        (acc.periods = cJSON_AddArrayToObject(reply, "periods")) == NULL)
        return reply_oom(reply, why);
    acc.s = s;
    acc.caller = &caller;
    acc.why = why;
    err = usage_store_each_scans(s, caller.tenant, key, from, to, strcmp(by, "month") == 0,
                                 add_scans, &acc, why);
    if (err == LB_OK && !cJSON_AddNumberToObject(reply, "total", (double)acc.total))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err != LB_OK) {
        cJSON_Delete(reply);
        return err;
    }
    *ret_reply = reply;
    return LB_OK;
}

/* ---- the command -------------------------------------------------------------------- */

enum lb_err usage_api_device_associate(struct service *svc, const struct request *req,
                                       cJSON **ret_reply, struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "device", "user", NULL};
    struct store *s = service_store(svc);
    char reason[USAGE_REASON_MAX + 1];
    struct caller caller;
    struct device_row d;
    struct user_row u;
    const char *device, *user;
    cJSON *data = NULL;
    enum lb_err err;

    err = decode_request(svc, req->body, known, &caller, why);
    if (err == LB_OK)
        err = get_id(req->body, "device", &device, why);
    if (err == LB_OK)
        err = get_id(req->body, "user", &user, why);
    if (err != LB_OK)
        return err;
    err = usage_store_device_get(s, caller.tenant, device, &d, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = visible(s, &caller, err == LB_OK ? d.org : NULL, "device", device, why);
    if (err != LB_OK)
        return err;
    err = usage_store_user_get(s, caller.tenant, user, &u, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = visible(s, &caller, err == LB_OK ? u.org : NULL, "user", user, why);
    if (err == LB_OK)
        err = usage_associate(svc, caller.tenant, device, user, reason, why);
    if (err != LB_OK)
        return err;
    data = cJSON_CreateObject();
    if (data == NULL || !cJSON_AddStringToObject(data, "device", device) ||
        !cJSON_AddStringToObject(data, "user", user) ||
        !cJSON_AddStringToObject(data, "actor", caller.user)) {
        cJSON_Delete(data);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = service_emit(svc, caller.tenant, "device_associated", 1, data, NULL, why);
    cJSON_Delete(data);
    /* The command's change, in full, for a rebuild (journal.c): no stream holds it else. */
    if (err == LB_OK)
        err = usage_journal_commit(svc, caller.tenant, USAGE_CAUSE_REQUEST, req->request_id, false,
                                   why);
    if (err == LB_OK)
        err = usage_store_device_get(s, caller.tenant, device, &d, why);
    if (err != LB_OK)
        return err;
    *ret_reply = device_json(&d);
    return *ret_reply ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
}
