/*
 * sweeps.c - tally's clock-driven transition: a counter unchanged for
 * LB_TALLY_IDLE_AFTER is reported idle, once per change. The report is
 * recorded (idle_version) in the same transaction as the event, so a
 * restart, a clock jump or a replay reports it exactly once.
 */
#include "envelope.h"
#include "tally.h"

static enum lb_err report_idle(struct service *svc, const char *tenant, const char *name,
                               const struct counter *c, struct lb_why *why)
{
    char since[32];
    cJSON *data = cJSON_CreateObject();
    enum lb_err err = LB_OK;

    envelope_format_time(c->updated_ms, since);
    if (data == NULL || !cJSON_AddStringToObject(data, "counter", name) ||
        !cJSON_AddNumberToObject(data, "value", (double)c->value) ||
        !cJSON_AddNumberToObject(data, "version", (double)c->version) ||
        !cJSON_AddStringToObject(data, "idle_since", since))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = service_emit(svc, tenant, "counter_idle", 1, data, NULL, why);
    if (err == LB_OK)
        err = tally_store_mark_idle(service_store(svc), tenant, name, c->version, why);
    cJSON_Delete(data);
    return err;
}

enum lb_err tally_sweep(struct service *svc, int64_t now_ms, struct lb_why *why)
{
    const struct tally_config *cfg = service_config(svc);

    return tally_store_each_idle(service_store(svc), now_ms - cfg->idle_after_ms, svc, report_idle,
                                 why);
}
