/*
 * consumption.c - which customer an org counts under, a customer's
 * consumption now, and the over-consumption transitions it reports.
 *
 * Over-consumption is reported per subscription, once per transition: the
 * subscription's stored marker says what was last reported, and the event
 * and the new marker are written in the same transaction, so a replay or a
 * redelivery reports nothing twice.
 */
#include <stdio.h>
#include <string.h>

#include "orgtree.h"
#include "usage.h"

/* Deepest org tree walked up from an org to its customer. */
#define ORG_DEPTH_MAX 64

enum lb_err usage_customer_of(struct store *s, const char *tenant, const char *org,
                              char ret_customer[USAGE_ORG_MAX + 1], struct lb_why *why)
{
    char id[USAGE_ORG_MAX + 1];
    struct org o;
    enum lb_err err;

    snprintf(id, sizeof(id), "%s", org);
    for (int depth = 0; depth < ORG_DEPTH_MAX; depth++) {
        err = orgtree_get(s, tenant, id, &o, why);
        if (err == LB_ENOTFOUND || (err == LB_OK && o.deleted))
            return lb_fail(why, LB_ECONFLICT,
                           "org \"%s\" is not a live org of tenant \"%s\" (unknown, deleted or of "
                           "another tenant)",
                           id, tenant);
        if (err != LB_OK)
            return err;
        if (o.kind == ORG_CUSTOMER) {
            snprintf(ret_customer, USAGE_ORG_MAX + 1, "%s", o.id);
            return LB_OK;
        }
        if (o.parent[0] == '\0' || o.kind != ORG_SUBORG)
            break;
        snprintf(id, sizeof(id), "%s", o.parent);
    }
    /* No customer above (e.g. an MSP's own staff): the org counts for itself. */
    snprintf(ret_customer, USAGE_ORG_MAX + 1, "%s", org);
    return LB_OK;
}

enum lb_err usage_consumption(struct store *s, const char *tenant, const char *customer,
                              struct consumption *ret, struct lb_why *why)
{
    enum lb_err err = usage_store_consumption(s, tenant, customer, ret, why);

    if (err == LB_OK)
        consumption_attribute(ret);
    return err;
}

static enum lb_err report(struct service *svc, const char *tenant, const char *customer,
                          const struct sub_usage *sub, struct lb_why *why)
{
    cJSON *data = cJSON_CreateObject();
    enum lb_err err = LB_OK;

    if (data == NULL || !cJSON_AddStringToObject(data, "customer", customer) ||
        !cJSON_AddStringToObject(data, "subscription", sub->id) ||
        !cJSON_AddStringToObject(data, "package", sub->package) ||
        !cJSON_AddStringToObject(data, "seat_basis", seat_basis_name(sub->basis)) ||
        !cJSON_AddStringToObject(data, "status", sub_status_name(sub->status)) ||
        !cJSON_AddNumberToObject(data, "quantity", (double)sub->quantity) ||
        !cJSON_AddNumberToObject(data, "consumed", (double)sub->consumed) ||
        !cJSON_AddNumberToObject(data, "users", (double)sub->users) ||
        !cJSON_AddNumberToObject(data, "devices", (double)sub->devices) ||
        !cJSON_AddNumberToObject(data, "rev", (double)(sub->rev + 1)))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = service_emit(svc, tenant,
                           sub->over ? "overconsumption_started" : "overconsumption_ended", 1, data,
                           NULL, why);
    if (err == LB_OK)
        err = usage_store_subscription_mark(service_store(svc), tenant, sub->id, sub->over, why);
    cJSON_Delete(data);
    return err;
}

enum lb_err usage_recheck(struct service *svc, const char *tenant, const char *customer,
                          struct lb_why *why)
{
    struct consumption c = {0};
    enum lb_err err;

    if (customer[0] == '\0')
        return LB_OK;
    err = usage_consumption(service_store(svc), tenant, customer, &c, why);
    for (size_t i = 0; err == LB_OK && i < c.n; i++) {
        if (c.subs[i].over != c.subs[i].reported_over)
            err = report(svc, tenant, customer, &c.subs[i], why);
    }
    consumption_release(&c);
    return err;
}
