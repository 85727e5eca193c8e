/*
 * events.c - the platform events subscriptions consumes (directory: orgs of
 * kind customer, groups, membership, deleted users; agents: installed and
 * uninstalled devices) and the builders of the events it emits.
 *
 * What is recorded and what is dead-lettered (docs/services/subscriptions.md):
 * membership is directory state mirrored as it comes, so a membership of a
 * group never heard of is recorded (a later group_created and attachment
 * then assign the member), a repeated add or a removal of a non-member is a
 * no-op; an add to a group the directory deleted, a group_created that
 * moves a live group to another org, and malformed data are dead-lettered.
 *
 * Every directory handler runs through subs_directory_event (rebuild.c),
 * which records the event as the last one applied (the watermark of what is
 * emitted next) and tells a quiet replay from new history (D23). Emitters
 * emit nothing when quiet.
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "json_strict.h"
#include "subjects.h"
#include "subscriptions.h"

/* Actor of changes made by consumed directory events. */
#define ACTOR_DIRECTORY "directory"

/* ---- emitted events -------------------------------------------------------- */

static bool add_time(cJSON *obj, const char *name, int64_t ms)
{
    char text[32];

    if (ms == SUBS_NO_TIME)
        return cJSON_AddNullToObject(obj, name) != NULL;
    envelope_format_time(ms, text);
    return cJSON_AddStringToObject(obj, name, text) != NULL;
}

cJSON *subs_sub_json(const struct subscription *sub)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || !cJSON_AddStringToObject(o, "subscription", sub->id) ||
        !cJSON_AddStringToObject(o, "customer", sub->customer) ||
        !cJSON_AddStringToObject(o, "package", sub->package) ||
        !cJSON_AddStringToObject(o, "seat_basis", seat_basis_name(sub->basis)) ||
        !cJSON_AddNumberToObject(o, "quantity", (double)sub->quantity) ||
        !cJSON_AddStringToObject(o, "status", sub_status_name(sub->status)) ||
        !add_time(o, "trial_end", sub->trial_end_ms) ||
        !add_time(o, "billing_start", sub->billing_start_ms) ||
        !add_time(o, "billing_end", sub->billing_end_ms) ||
        !cJSON_AddNumberToObject(o, "version", (double)sub->version)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/*
 * The full state, so that a rebuild restores the subscription from this
 * event alone (D23): the reply's members but seats_assigned (derived), then
 * change, actor and the watermark.
 */
enum lb_err subs_emit_subscription_changed(struct service *svc, const char *tenant,
                                           const struct subscription *sub, const char *change,
                                           const char *actor, struct lb_why *why)
{
    cJSON *data;
    cJSON *groups = NULL;
    enum lb_err err;

    if (subs_quiet(svc))
        return LB_OK;
    data = subs_sub_json(sub);
    if (data == NULL || !add_time(data, "created", sub->created_ms) ||
        !add_time(data, "updated", sub->updated_ms) ||
        (groups = cJSON_AddArrayToObject(data, "groups")) == NULL ||
        !cJSON_AddStringToObject(data, "change", change) ||
        !cJSON_AddStringToObject(data, "actor", actor)) {
        cJSON_Delete(data);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = subs_store_attached_groups_json(service_store(svc), tenant, sub->id, groups, why);
    if (err == LB_OK)
        err = subs_add_watermark(svc, data, why);
    if (err == LB_OK)
        err = service_emit(svc, tenant, "subscription_changed", 1, data, NULL, why);
    cJSON_Delete(data);
    return err;
}

enum lb_err subs_emit_customer_changed(struct service *svc, const char *tenant,
                                       const struct customer *c, const char *change,
                                       const char *actor, struct lb_why *why)
{
    cJSON *data;
    enum lb_err err;

    if (subs_quiet(svc))
        return LB_OK;
    data = cJSON_CreateObject();
    if (data == NULL || !cJSON_AddStringToObject(data, "customer", c->org) ||
        !cJSON_AddStringToObject(data, "status", c->active ? "active" : "inactive") ||
        !cJSON_AddBoolToObject(data, "login_enabled", c->active) ||
        !cJSON_AddStringToObject(data, "billing", c->active ? "running" : "stopped") ||
        !cJSON_AddStringToObject(data, "change", change) ||
        !cJSON_AddNumberToObject(data, "version", (double)c->version) ||
        !cJSON_AddStringToObject(data, "actor", actor)) {
        cJSON_Delete(data);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = subs_add_watermark(svc, data, why);
    if (err == LB_OK)
        err = service_emit(svc, tenant, "customer_changed", 1, data, NULL, why);
    cJSON_Delete(data);
    return err;
}

enum lb_err subs_emit_seat(struct service *svc, const char *tenant, bool assigned, const char *sub,
                           const char *customer, const char *user, const char *group,
                           const char *reason, struct lb_why *why)
{
    cJSON *data;
    enum lb_err err;

    if (subs_quiet(svc))
        return LB_OK;
    data = cJSON_CreateObject();
    if (data == NULL || !cJSON_AddStringToObject(data, "subscription", sub) ||
        !cJSON_AddStringToObject(data, "customer", customer) ||
        !cJSON_AddStringToObject(data, "user", user) ||
        !cJSON_AddStringToObject(data, "group", group) ||
        (!assigned && !cJSON_AddStringToObject(data, "reason", reason))) {
        cJSON_Delete(data);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = service_emit(svc, tenant, assigned ? "seat_assigned" : "seat_unassigned", 1, data, NULL,
                       why);
    cJSON_Delete(data);
    return err;
}

enum lb_err subs_customer_register(struct service *svc, const char *tenant, const char *org,
                                   const char *actor, int64_t now_ms, struct customer *ret,
                                   struct lb_why *why)
{
    struct customer c = {.active = true, .version = 1, .updated_ms = now_ms};
    enum lb_err err;

    (void)snprintf(c.org, sizeof(c.org), "%s", org);
    err = subs_store_customer_put(service_store(svc), tenant, &c, why);
    if (err == LB_OK)
        err = subs_emit_customer_changed(svc, tenant, &c, "created", actor, why);
    if (err == LB_OK && ret != NULL)
        *ret = c;
    return err;
}

/* ---- decoding ---------------------------------------------------------------- */

enum lb_err subs_event_decode(const struct envelope *ev, const char *const *known,
                              const char *const *ids, const char **ret_values, struct lb_why *why)
{
    enum lb_err err;

    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    err = json_check_members(ev->data, known, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "data: %s", why->text);
    for (int i = 0; ids[i] != NULL; i++) {
        err = json_get_string(ev->data, ids[i], SUBS_ENTITY_MAX, &ret_values[i], why);
        if (err != LB_OK)
            return lb_fail(why, LB_EINVAL, "%s: %s", ids[i], why->text);
        if (!subs_entity_id_valid(ret_values[i]))
            return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not a valid id", ids[i], ret_values[i]);
    }
    return LB_OK;
}

/* ---- directory: orgs ----------------------------------------------------------- */

static enum lb_err org_created(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    const struct subs_config *cfg = service_config(svc);
    const char *org = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev->data, "org"));
    struct org o;
    struct customer c;
    enum lb_err err;

    /* The runtime applied (and validated) the org already: read it back from the tree. A quiet
     * replay leaves the customer to its snapshot, read back already (D23). */
    if (!cfg->auto_customers || org == NULL || subs_quiet(svc))
        return LB_OK;
    err = orgtree_get(service_store(svc), ev->tenant, org, &o, why);
    if (err != LB_OK || o.kind != ORG_CUSTOMER || o.deleted)
        return err;
    err = subs_store_customer_get(service_store(svc), ev->tenant, org, &c, why);
    if (err != LB_ENOTFOUND)
        return err; /* registered already (a repeat, or by command): nothing changes */
    /* At the event's time, not the clock's: applied again, it makes the same row and event. */
    return subs_customer_register(svc, ev->tenant, org, ACTOR_DIRECTORY, ev->time_ms, NULL, why);
}

enum lb_err subs_on_org_created(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    return subs_directory_event(svc, ev, org_created, why);
}

/* ---- directory: groups and membership ----------------------------------------- */

static enum lb_err group_created(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"group", "org", "name", NULL};
    static const char *const ids[] = {"group", NULL};
    struct store *s = service_store(svc);
    const char *v[1] = {NULL};
    const char *org;
    const char *name;
    char old_org[SUBS_ORG_MAX + 1];
    bool deleted;
    struct org o;
    enum lb_err err;

    err = subs_event_decode(ev, known, ids, v, why);
    if (err == LB_OK && json_get_string(ev->data, "org", SUBS_ORG_MAX, &org, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "org: %s", why->text);
    if (err == LB_OK && json_get_string(ev->data, "name", 200, &name, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "name: %s", why->text);
    if (err != LB_OK)
        return err;
    err = orgtree_get(s, ev->tenant, org, &o, why);
    if (err == LB_ENOTFOUND || (err == LB_OK && o.deleted))
        return lb_fail(why, LB_ECONFLICT, "group %s: org \"%s\" is not a live org of tenant %s",
                       v[0], org, ev->tenant);
    if (err != LB_OK)
        return err;
    err = subs_store_group_get(s, ev->tenant, v[0], old_org, &deleted, why);
    if (err == LB_OK && !deleted && strcmp(old_org, org) != 0)
        return lb_fail(why, LB_ECONFLICT, "group %s exists already, in org %s", v[0], old_org);
    if (err == LB_OK && !deleted)
        return LB_OK; /* the same group again */
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    return subs_store_group_put(s, ev->tenant, v[0], org, false, why);
}

enum lb_err subs_on_group_created(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why)
{
    return subs_directory_event(svc, ev, group_created, why);
}

/* ---- agents: installed devices ------------------------------------------------ */

enum lb_err subs_on_device_installed(struct service *svc, const struct envelope *ev,
                                     struct lb_why *why)
{
    static const char *const known[] = {"device", "org", "kind", "hostname", "os", NULL};
    static const char *const ids[] = {"device", NULL};
    const char *v[1] = {NULL};
    const char *org;
    const char *kind;
    const char *hostname;
    enum lb_err err;

    err = subs_event_decode(ev, known, ids, v, why);
    if (err == LB_OK && json_get_string(ev->data, "org", SUBS_ORG_MAX, &org, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "org: %s", why->text);
    if (err == LB_OK && !subject_tenant_valid(org))
        err = lb_fail(why, LB_EINVAL, "org: \"%s\" is not a valid org id", org);
    if (err == LB_OK && (json_get_string(ev->data, "kind", 16, &kind, why) != LB_OK ||
                         (strcmp(kind, "business") != 0 && strcmp(kind, "personal") != 0)))
        err = lb_fail(why, LB_EINVAL, "kind: must be \"business\" or \"personal\"");
    if (err == LB_OK && json_get_string(ev->data, "hostname", 253, &hostname, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "hostname: %s", why->text);
    if (err != LB_OK)
        return err;
    /* The org may not be known yet: agents and directory are separate streams. */
    return subs_store_device_put(service_store(svc), ev->tenant, v[0], org, true, why);
}

enum lb_err subs_on_device_uninstalled(struct service *svc, const struct envelope *ev,
                                       struct lb_why *why)
{
    static const char *const known[] = {"device", NULL};
    static const char *const ids[] = {"device", NULL};
    const char *v[1] = {NULL};
    enum lb_err err;

    err = subs_event_decode(ev, known, ids, v, why);
    if (err != LB_OK)
        return err;
    /* An uninstall of a device never seen installed is recorded (org unknown) and counts nothing.
     */
    return subs_store_device_put(service_store(svc), ev->tenant, v[0], NULL, false, why);
}
