/*
 * api.c - tally's request handlers: decode, apply the rules, store, reply.
 */
#include <string.h>

#include "json_strict.h"
#include "subjects.h"
#include "tally.h"

/* Reads and checks the {tenant, counter} every request carries. */
static enum lb_err decode_key(const cJSON *body, const char **ret_tenant, const char **ret_name,
                              struct lb_why *why)
{
    enum lb_err err;

    err = json_get_string(body, "tenant", SUBJECT_TOKEN_MAX, ret_tenant, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "tenant: %s", why->text);
    if (!subject_tenant_valid(*ret_tenant))
        return lb_fail(why, LB_EINVAL, "tenant: \"%s\" is not a valid org id", *ret_tenant);
    err = json_get_string(body, "counter", TALLY_NAME_MAX, ret_name, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "counter: %s", why->text);
    if (!counter_name_valid(*ret_name))
        return lb_fail(why, LB_EINVAL, "counter: \"%s\" must be 1-%d of [a-z0-9_-]", *ret_name,
                       TALLY_NAME_MAX);
    return LB_OK;
}

static cJSON *counter_reply(const char *tenant, const char *name, const struct counter *c)
{
    cJSON *reply = cJSON_CreateObject();

    if (reply == NULL || !cJSON_AddStringToObject(reply, "tenant", tenant) ||
        !cJSON_AddStringToObject(reply, "counter", name) ||
        !cJSON_AddNumberToObject(reply, "value", (double)c->value) ||
        !cJSON_AddNumberToObject(reply, "version", (double)c->version)) {
        cJSON_Delete(reply);
        return NULL;
    }
    return reply;
}

enum lb_err tally_add(struct service *svc, const struct request *req, cJSON **ret_reply,
                      struct lb_why *why)
{
    static const char *const known[] = {"tenant", "counter", "amount", NULL};
    const char *tenant = NULL;
    const char *name = NULL;
    struct counter c;
    int64_t amount;
    enum lb_err err;

    err = json_check_members(req->body, known, why);
    if (err == LB_OK)
        err = decode_key(req->body, &tenant, &name, why);
    if (err != LB_OK)
        return err;
    err = json_get_int(req->body, "amount", -TALLY_AMOUNT_MAX, TALLY_AMOUNT_MAX, &amount, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "amount: %s", why->text);
    err = tally_change(svc, tenant, name, amount, "request", req->request_id, &c, why);
    if (err != LB_OK)
        return err;
    *ret_reply = counter_reply(tenant, name, &c);
    return *ret_reply ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
}

enum lb_err tally_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                      struct lb_why *why)
{
    static const char *const known[] = {"tenant", "counter", NULL};
    const char *tenant = NULL;
    const char *name = NULL;
    struct counter c;
    enum lb_err err;

    err = json_check_members(req->body, known, why);
    if (err == LB_OK)
        err = decode_key(req->body, &tenant, &name, why);
    if (err == LB_OK)
        err = tally_store_get(service_store(svc), tenant, name, &c, why);
    if (err != LB_OK)
        return err;
    *ret_reply = counter_reply(tenant, name, &c);
    return *ret_reply ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
}
