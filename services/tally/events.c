/*
 * events.c - tally's consumed event and the change every input goes through.
 */
#include "json_strict.h"
#include "tally.h"

enum lb_err tally_change(struct service *svc, const char *tenant, const char *name, int64_t amount,
                         const char *cause_kind, const char *cause_id, struct counter *ret_counter,
                         struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct counter c = {0};
    cJSON *data = NULL;
    cJSON *cause;
    enum lb_err err;

    err = tally_store_get(s, tenant, name, &c, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = counter_apply(&c, amount, service_now_ms(svc), why);
    if (err == LB_OK)
        err = tally_store_put(s, tenant, name, &c, why);
    if (err != LB_OK)
        return err;
    data = cJSON_CreateObject();
    cause = cJSON_AddObjectToObject(data, "cause");
    if (cause == NULL || !cJSON_AddStringToObject(data, "counter", name) ||
        !cJSON_AddNumberToObject(data, "value", (double)c.value) ||
        !cJSON_AddNumberToObject(data, "delta", (double)amount) ||
        !cJSON_AddNumberToObject(data, "version", (double)c.version) ||
        !cJSON_AddStringToObject(cause, "kind", cause_kind) ||
        !cJSON_AddStringToObject(cause, "id", cause_id))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = service_emit(svc, tenant, "counter_changed", 1, data, NULL, why);
    cJSON_Delete(data);
    if (err == LB_OK && ret_counter != NULL)
        *ret_counter = c;
    return err;
}

enum lb_err tally_on_increment(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"counter", "amount", NULL};
    const char *name;
    int64_t amount;
    enum lb_err err;

    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "increment has no data");
    err = json_check_members(ev->data, known, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "data: %s", why->text);
    err = json_get_string(ev->data, "counter", TALLY_NAME_MAX, &name, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "counter: %s", why->text);
    if (!counter_name_valid(name))
        return lb_fail(why, LB_EINVAL, "counter: \"%s\" must be 1-%d of [a-z0-9_-]", name,
                       TALLY_NAME_MAX);
    err = json_get_int(ev->data, "amount", -TALLY_AMOUNT_MAX, TALLY_AMOUNT_MAX, &amount, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "amount: %s", why->text);
    return tally_change(svc, ev->tenant, name, amount, "event", ev->id, NULL, why);
}
