/*
 * api.c - request handlers for customers and subscriptions: decode,
 * authorize, apply the rules (rules.c), store, emit, reply.
 *
 * Authorization (docs/decisions.md D17, docs/services/subscriptions.md):
 * every request's caller acts only inside its subtree. Registering,
 * inactivating and reactivating customers and every subscription command
 * are MSP-console actions: the caller's org must be strictly above the
 * customer. Reads and group attachments are also open to the customer's own
 * admins. A subscription that does not exist and one outside the caller's
 * reach get the same `forbidden`.
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "ids.h"
#include "json_strict.h"
#include "subjects.h"
#include "subscriptions.h"

/* ---- shared request helpers ------------------------------------------------ */

enum lb_err subs_req_caller(struct service *svc, const struct request *req,
                            const char *const *known, struct caller *ret_caller, struct lb_why *why)
{
    enum lb_err err = json_check_members(req->body, known, why);

    if (err != LB_OK)
        return err;
    return caller_decode(service_store(svc), req->body, ret_caller, why);
}

enum lb_err subs_req_org(const struct request *req, const char *name, const char **ret_org,
                         struct lb_why *why)
{
    enum lb_err err = json_get_string(req->body, name, SUBS_ORG_MAX, ret_org, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (!subject_tenant_valid(*ret_org))
        return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not a valid org id", name, *ret_org);
    return LB_OK;
}

enum lb_err subs_req_entity(const struct request *req, const char *name, const char **ret_id,
                            struct lb_why *why)
{
    enum lb_err err = json_get_string(req->body, name, SUBS_ENTITY_MAX, ret_id, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (!subs_entity_id_valid(*ret_id))
        return lb_fail(why, LB_EINVAL,
                       "%s: \"%s\" must be 1-%d of [A-Za-z0-9_.:@-], starting "
                       "with a letter or digit",
                       name, *ret_id, SUBS_ENTITY_MAX);
    return LB_OK;
}

/* The caller's org must be strictly above `customer` (an MSP, reseller or distributor). */
static enum lb_err require_above(struct store *s, const struct caller *caller, const char *customer,
                                 const char *action, struct lb_why *why)
{
    enum lb_err err = caller_may_act_on(s, caller, customer, why);

    if (err != LB_OK)
        return err;
    if (strcmp(caller->org, customer) == 0)
        return lb_fail(why, LB_EFORBIDDEN,
                       "only an org above customer %s (its MSP, reseller or distributor) may %s",
                       customer, action);
    return LB_OK;
}

enum lb_err subs_req_sub(struct service *svc, const struct request *req,
                         const struct caller *caller, bool msp_only, const char *action,
                         struct subscription *ret_sub, struct lb_why *why)
{
    struct store *s = service_store(svc);
    const char *id;
    enum lb_err err;

    err = subs_req_entity(req, "subscription", &id, why);
    if (err != LB_OK)
        return err;
    err = subs_store_sub_get(s, caller->tenant, id, ret_sub, why);
    if (err == LB_OK)
        err = caller_may_act_on(s, caller, ret_sub->customer, why);
    /* The same answer for "elsewhere" and "does not exist" (D17). */
    if (err == LB_ENOTFOUND || err == LB_EFORBIDDEN)
        return lb_fail(why, LB_EFORBIDDEN, "subscription %s is not within the subtree of %s", id,
                       caller->org);
    if (err == LB_OK && msp_only)
        err = require_above(s, caller, ret_sub->customer, action, why);
    return err;
}

/* The live customer `org` must be registered and active for `action`. */
static enum lb_err require_active_customer(struct store *s, const char *tenant, const char *org,
                                           const char *action, struct lb_why *why)
{
    struct customer c;
    enum lb_err err = subs_store_customer_get(s, tenant, org, &c, why);

    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_ENOTFOUND, "org %s is not a registered customer", org);
    if (err == LB_OK && !c.active)
        return lb_fail(why, LB_ECONFLICT, "cannot %s: customer %s is inactive", action, org);
    return err;
}

cJSON *subs_sub_reply(struct service *svc, const char *tenant, const struct subscription *sub,
                      struct lb_why *why)
{
    char created[32];
    char updated[32];
    int64_t seats = 0;
    cJSON *reply = subs_sub_json(sub);
    cJSON *groups = NULL;

    envelope_format_time(sub->created_ms, created);
    envelope_format_time(sub->updated_ms, updated);
    if (reply == NULL || !cJSON_AddStringToObject(reply, "created", created) ||
        !cJSON_AddStringToObject(reply, "updated", updated) ||
        (groups = cJSON_AddArrayToObject(reply, "groups")) == NULL) {
        cJSON_Delete(reply);
        (void)lb_fail(why, LB_ENOMEM, "out of memory");
        return NULL;
    }
    if (subs_store_attached_groups_json(service_store(svc), tenant, sub->id, groups, why) !=
            LB_OK ||
        subs_store_seat_count(service_store(svc), tenant, sub->id, &seats, why) != LB_OK ||
        !cJSON_AddNumberToObject(reply, "seats_assigned", (double)seats)) {
        cJSON_Delete(reply);
        if (why->text[0] == '\0')
            (void)lb_fail(why, LB_ENOMEM, "out of memory");
        return NULL;
    }
    return reply;
}

static enum lb_err reply_sub(struct service *svc, const char *tenant,
                             const struct subscription *sub, cJSON **ret_reply, struct lb_why *why)
{
    why->text[0] = '\0';
    *ret_reply = subs_sub_reply(svc, tenant, sub, why);
    return *ret_reply ? LB_OK : LB_ENOMEM;
}

/* ---- customers ---------------------------------------------------------- */

struct agent_count {
    struct store *s;
    const char *tenant;
    int64_t total;
    struct lb_why *why;
};

static enum lb_err count_org_agents(const struct org *org, void *arg)
{
    struct agent_count *c = arg;
    int64_t n = 0;
    enum lb_err err = subs_store_installed_in_org(c->s, c->tenant, org->id, &n, c->why);

    c->total += n;
    return err;
}

/* Agents installed in the customer's org and its sub-orgs (an index lookup per org). */
static enum lb_err installed_agents(struct store *s, const char *tenant, const char *customer,
                                    int64_t *ret_count, struct lb_why *why)
{
    struct agent_count c = {.s = s, .tenant = tenant, .why = why};
    enum lb_err err = orgtree_each_in_subtree(s, tenant, customer, count_org_agents, &c, why);

    if (err == LB_OK)
        *ret_count = c.total;
    return err;
}

static enum lb_err customer_reply(struct store *s, const char *tenant, const struct customer *c,
                                  cJSON **ret_reply, struct lb_why *why)
{
    int64_t agents = 0;
    enum lb_err err = installed_agents(s, tenant, c->org, &agents, why);
    cJSON *reply;

    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddStringToObject(reply, "customer", c->org) ||
        !cJSON_AddStringToObject(reply, "status", c->active ? "active" : "inactive") ||
        !cJSON_AddBoolToObject(reply, "login_enabled", c->active) ||
        !cJSON_AddStringToObject(reply, "billing", c->active ? "running" : "stopped") ||
        !cJSON_AddNumberToObject(reply, "installed_agents", (double)agents) ||
        !cJSON_AddNumberToObject(reply, "version", (double)c->version)) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    *ret_reply = reply;
    return LB_OK;
}

static const char *const customer_members[] = {"tenant", "caller", "customer", NULL};

enum lb_err subs_customer_create(struct service *svc, const struct request *req, cJSON **ret_reply,
                                 struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct caller caller;
    const char *org;
    struct org o;
    struct customer c;
    enum lb_err err;

    err = subs_req_caller(svc, req, customer_members, &caller, why);
    if (err == LB_OK)
        err = subs_req_org(req, "customer", &org, why);
    if (err == LB_OK)
        err = require_above(s, &caller, org, "register a customer", why);
    if (err == LB_OK)
        err = orgtree_get(s, caller.tenant, org, &o, why);
    if (err != LB_OK)
        return err;
    if (o.kind != ORG_CUSTOMER)
        return lb_fail(why, LB_ECONFLICT, "org %s is a %s, not a customer", org,
                       org_kind_name(o.kind));
    err = subs_store_customer_get(s, caller.tenant, org, &c, why);
    if (err == LB_OK)
        return lb_fail(why, LB_ECONFLICT, "customer %s is registered already (%s)", org,
                       c.active ? "active" : "inactive");
    if (err != LB_ENOTFOUND)
        return err;
    err =
        subs_customer_register(svc, caller.tenant, org, caller.user, service_now_ms(svc), &c, why);
    if (err != LB_OK)
        return err;
    return customer_reply(s, caller.tenant, &c, ret_reply, why);
}

static enum lb_err customer_set_active(struct service *svc, const struct request *req, bool active,
                                       cJSON **ret_reply, struct lb_why *why)
{
    struct store *s = service_store(svc);
    const char *action = active ? "reactivate a customer" : "inactivate a customer";
    struct caller caller;
    const char *org;
    struct customer c;
    int64_t agents = 0;
    enum lb_err err;

    err = subs_req_caller(svc, req, customer_members, &caller, why);
    if (err == LB_OK)
        err = subs_req_org(req, "customer", &org, why);
    if (err == LB_OK)
        err = require_above(s, &caller, org, action, why);
    if (err == LB_OK)
        err = subs_store_customer_get(s, caller.tenant, org, &c, why);
    if (err != LB_OK)
        return err;
    if (c.active == active)
        return lb_fail(why, LB_ECONFLICT, "customer %s is %s already", org,
                       active ? "active" : "inactive");
    if (!active) {
        err = installed_agents(s, caller.tenant, org, &agents, why);
        if (err != LB_OK)
            return err;
        if (agents > 0)
            return lb_fail(why, LB_ECONFLICT,
                           "customer %s still has %lld agent(s) installed: uninstall them before "
                           "inactivating it",
                           org, (long long)agents);
    }
    c.active = active;
    c.version++;
    c.updated_ms = service_now_ms(svc);
    err = subs_store_customer_put(s, caller.tenant, &c, why);
    if (err == LB_OK)
        err = subs_emit_customer_changed(svc, caller.tenant, &c,
                                         active ? "reactivated" : "inactivated", caller.user, why);
    if (err != LB_OK)
        return err;
    return customer_reply(s, caller.tenant, &c, ret_reply, why);
}

enum lb_err subs_customer_inactivate(struct service *svc, const struct request *req,
                                     cJSON **ret_reply, struct lb_why *why)
{
    return customer_set_active(svc, req, false, ret_reply, why);
}

enum lb_err subs_customer_reactivate(struct service *svc, const struct request *req,
                                     cJSON **ret_reply, struct lb_why *why)
{
    return customer_set_active(svc, req, true, ret_reply, why);
}

enum lb_err subs_customer_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct caller caller;
    const char *org;
    struct customer c;
    enum lb_err err;

    err = subs_req_caller(svc, req, customer_members, &caller, why);
    if (err == LB_OK)
        err = subs_req_org(req, "customer", &org, why);
    if (err == LB_OK)
        err = caller_may_act_on(s, &caller, org, why);
    if (err == LB_OK)
        err = subs_store_customer_get(s, caller.tenant, org, &c, why);
    if (err != LB_OK)
        return err;
    return customer_reply(s, caller.tenant, &c, ret_reply, why);
}

/* ---- subscriptions ------------------------------------------------------ */

enum lb_err subs_subscription_create(struct service *svc, const struct request *req,
                                     cJSON **ret_reply, struct lb_why *why)
{
    static const char *const known[] = {"tenant",    "caller",       "customer",
                                        "package",   "seat_basis",   "quantity",
                                        "trial_end", "subscription", NULL};
    const struct subs_config *cfg = service_config(svc);
    struct store *s = service_store(svc);
    int64_t now = service_now_ms(svc);
    struct subscription sub = {.trial_end_ms = SUBS_NO_TIME,
                               .billing_start_ms = SUBS_NO_TIME,
                               .billing_end_ms = SUBS_NO_TIME,
                               .version = 1,
                               .created_ms = now,
                               .updated_ms = now};
    struct subscription existing;
    struct caller caller;
    const char *org;
    const char *text;
    char pkg_name[SUBS_PACKAGE_NAME_MAX + 1];
    int64_t pkg_version;
    enum lb_err err;

    err = subs_req_caller(svc, req, known, &caller, why);
    if (err == LB_OK)
        err = subs_req_org(req, "customer", &org, why);
    if (err != LB_OK)
        return err;
    if (json_get_string(req->body, "package", SUBS_NAME_ID_MAX, &text, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "package: %s", why->text);
    if (!subs_name_id_valid(text))
        return lb_fail(why, LB_EINVAL,
                       "package: \"%s\" must be 1-%d of [a-z0-9_], starting with "
                       "a letter",
                       text, SUBS_NAME_ID_MAX);
    (void)snprintf(sub.package, sizeof(sub.package), "%s", text);
    if (json_get_string(req->body, "seat_basis", 16, &text, why) != LB_OK ||
        !seat_basis_parse(text, &sub.basis))
        return lb_fail(why, LB_EINVAL, "seat_basis: must be \"users\", \"devices\" or \"both\"");
    err = json_get_int(req->body, "quantity", 1, SUBS_QUANTITY_MAX, &sub.quantity, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "quantity: %s", why->text);
    err = json_get_string(req->body, "trial_end", 64, &text, why);
    if (err == LB_OK && envelope_parse_time(text, &sub.trial_end_ms) != LB_OK)
        return lb_fail(why, LB_EINVAL, "trial_end: \"%s\" is not an RFC 3339 time", text);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "trial_end: %s", why->text);
    if (sub.trial_end_ms != SUBS_NO_TIME && sub.trial_end_ms <= now)
        return lb_fail(why, LB_EINVAL, "trial_end: %s is not in the future", text);
    if (sub.trial_end_ms != SUBS_NO_TIME && sub.trial_end_ms - now > cfg->trial_max_ms)
        return lb_fail(why, LB_EINVAL, "trial_end: a trial may last at most %lld days",
                       (long long)(cfg->trial_max_ms / 86400000));
    err = json_get_string(req->body, "subscription", SUBS_ENTITY_MAX, &text, why);
    if (err == LB_ENOTFOUND) {
        /* Derived from the request, never random: a replay makes the same id. */
        id_derive(sub.id, now, req->request_id, "subscription");
    } else {
        err = subs_req_entity(req, "subscription", &text, why);
        if (err != LB_OK)
            return err;
        (void)snprintf(sub.id, sizeof(sub.id), "%s", text);
    }
    err = require_above(s, &caller, org, "create a subscription", why);
    if (err == LB_OK)
        err = require_active_customer(s, caller.tenant, org, "create a subscription", why);
    if (err == LB_OK)
        err = subs_store_package_get(s, sub.package, pkg_name, sizeof(pkg_name), &pkg_version, why);
    if (err != LB_OK)
        return err;
    err = subs_store_sub_get(s, caller.tenant, sub.id, &existing, why);
    if (err == LB_OK)
        return lb_fail(why, LB_ECONFLICT, "subscription %s exists already", sub.id);
    if (err != LB_ENOTFOUND)
        return err;
    (void)snprintf(sub.customer, sizeof(sub.customer), "%s", org);
    if (sub.trial_end_ms != SUBS_NO_TIME) {
        sub.status = SUB_IN_TRIAL;
    } else {
        sub.status = SUB_ACTIVE;
        sub.billing_start_ms = now;
    }
    err = subs_store_sub_put(s, caller.tenant, &sub, why);
    if (err == LB_OK)
        err = subs_emit_subscription_changed(svc, caller.tenant, &sub, "created", caller.user, why);
    if (err != LB_OK)
        return err;
    return reply_sub(svc, caller.tenant, &sub, ret_reply, why);
}

enum lb_err subs_subscription_set_quantity(struct service *svc, const struct request *req,
                                           cJSON **ret_reply, struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "subscription", "quantity", NULL};
    struct subscription sub;
    struct caller caller;
    int64_t quantity;
    enum lb_err err;

    err = subs_req_caller(svc, req, known, &caller, why);
    if (err != LB_OK)
        return err;
    /* Range checked by the rule, so the limit is stated once. */
    err = json_get_int(req->body, "quantity", -JSON_MAX_SAFE_INTEGER, JSON_MAX_SAFE_INTEGER,
                       &quantity, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "quantity: %s", why->text);
    err = subs_req_sub(svc, req, &caller, true, "change a subscription's quantity", &sub, why);
    if (err != LB_OK)
        return err;
    if (quantity == sub.quantity && sub.status != SUB_CANCELLED)
        return reply_sub(svc, caller.tenant, &sub, ret_reply, why); /* nothing changes */
    err = sub_set_quantity(&sub, quantity, why);
    if (err == LB_OK)
        err = require_active_customer(service_store(svc), caller.tenant, sub.customer,
                                      "change a subscription's quantity", why);
    if (err != LB_OK)
        return err;
    sub.version++;
    sub.updated_ms = service_now_ms(svc);
    err = subs_store_sub_put(service_store(svc), caller.tenant, &sub, why);
    if (err == LB_OK)
        err = subs_emit_subscription_changed(svc, caller.tenant, &sub, "quantity_changed",
                                             caller.user, why);
    if (err != LB_OK)
        return err;
    return reply_sub(svc, caller.tenant, &sub, ret_reply, why);
}

static enum lb_err command(struct service *svc, const struct request *req, enum sub_command cmd,
                           cJSON **ret_reply, struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "subscription", NULL};
    char action[64];
    struct subscription sub;
    struct caller caller;
    const char *change = NULL;
    enum lb_err err;

    (void)snprintf(action, sizeof(action), "%s a subscription", sub_command_name(cmd));
    err = subs_req_caller(svc, req, known, &caller, why);
    if (err == LB_OK)
        err = subs_req_sub(svc, req, &caller, true, action, &sub, why);
    if (err == LB_OK)
        err = sub_transition(&sub, cmd, service_now_ms(svc), &change, why);
    /* An inactive customer's subscriptions can still be cancelled, nothing else. */
    if (err == LB_OK && cmd != CMD_CANCEL)
        err = require_active_customer(service_store(svc), caller.tenant, sub.customer, action, why);
    if (err != LB_OK)
        return err;
    sub.version++;
    sub.updated_ms = service_now_ms(svc);
    /* Cancelled: its groups are detached before the event, which shows them so (D23). */
    if (cmd == CMD_CANCEL)
        err = subs_store_detach_all(service_store(svc), caller.tenant, sub.id, why);
    if (err == LB_OK)
        err = subs_store_sub_put(service_store(svc), caller.tenant, &sub, why);
    if (err == LB_OK)
        err = subs_emit_subscription_changed(svc, caller.tenant, &sub, change, caller.user, why);
    if (err == LB_OK && cmd == CMD_CANCEL)
        err = subs_release_all_seats(svc, caller.tenant, &sub, why);
    if (err != LB_OK)
        return err;
    return reply_sub(svc, caller.tenant, &sub, ret_reply, why);
}

enum lb_err subs_subscription_convert(struct service *svc, const struct request *req,
                                      cJSON **ret_reply, struct lb_why *why)
{
    return command(svc, req, CMD_CONVERT, ret_reply, why);
}

enum lb_err subs_subscription_suspend(struct service *svc, const struct request *req,
                                      cJSON **ret_reply, struct lb_why *why)
{
    return command(svc, req, CMD_SUSPEND, ret_reply, why);
}

enum lb_err subs_subscription_reactivate(struct service *svc, const struct request *req,
                                         cJSON **ret_reply, struct lb_why *why)
{
    return command(svc, req, CMD_REACTIVATE, ret_reply, why);
}

enum lb_err subs_subscription_cancel(struct service *svc, const struct request *req,
                                     cJSON **ret_reply, struct lb_why *why)
{
    return command(svc, req, CMD_CANCEL, ret_reply, why);
}

enum lb_err subs_subscription_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                                  struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "subscription", NULL};
    struct subscription sub;
    struct caller caller;
    enum lb_err err;

    err = subs_req_caller(svc, req, known, &caller, why);
    if (err == LB_OK)
        err = subs_req_sub(svc, req, &caller, false, "read a subscription", &sub, why);
    if (err != LB_OK)
        return err;
    return reply_sub(svc, caller.tenant, &sub, ret_reply, why);
}

struct list_ctx {
    cJSON *array;
    int count;
};

static enum lb_err list_one(const struct subscription *sub, void *arg, struct lb_why *why)
{
    struct list_ctx *ctx = arg;
    cJSON *item = subs_sub_json(sub);

    if (item == NULL || !cJSON_AddItemToArray(ctx->array, item)) {
        cJSON_Delete(item);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    ctx->count++;
    return LB_OK;
}

enum lb_err subs_subscription_list(struct service *svc, const struct request *req,
                                   cJSON **ret_reply, struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "customer", NULL};
    struct store *s = service_store(svc);
    struct caller caller;
    struct customer c;
    struct list_ctx ctx = {0};
    const char *org;
    cJSON *reply = NULL;
    enum lb_err err;

    err = subs_req_caller(svc, req, known, &caller, why);
    if (err == LB_OK)
        err = subs_req_org(req, "customer", &org, why);
    if (err == LB_OK)
        err = caller_may_act_on(s, &caller, org, why);
    if (err == LB_OK)
        err = subs_store_customer_get(s, caller.tenant, org, &c, why);
    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddStringToObject(reply, "customer", org) ||
        (ctx.array = cJSON_AddArrayToObject(reply, "subscriptions")) == NULL) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    /* One more than the limit tells whether the list was cut. */
    err = subs_store_each_sub_of_customer(s, caller.tenant, org, SUBS_LIST_MAX + 1, list_one, &ctx,
                                          why);
    if (err == LB_OK && ctx.count > SUBS_LIST_MAX)
        cJSON_DeleteItemFromArray(ctx.array, SUBS_LIST_MAX);
    if (err == LB_OK && !cJSON_AddBoolToObject(reply, "truncated", ctx.count > SUBS_LIST_MAX))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err != LB_OK) {
        cJSON_Delete(reply);
        return err;
    }
    *ret_reply = reply;
    return LB_OK;
}
