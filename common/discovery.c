/*
 * discovery.c - the NATS service-discovery protocol (ADR-32, micro v1).
 *
 * libnats 3.4.1 does not implement it, so the runtime answers
 * $SRV.<VERB>, $SRV.<VERB>.<name> and $SRV.<VERB>.<name>.<id> for PING,
 * INFO and STATS itself, so `nats micro ls|info|stats` lists every
 * licensebus service. Every instance answers (no queue group). Replies
 * follow the io.nats.micro.v1 response schemas; INFO always carries
 * `description`, because standard tooling rejects a whole listing when one
 * reply lacks a field.
 */
#include <stdio.h>
#include <stdlib.h>

#include "envelope.h"
#include "runtime.h"

enum discovery_verb { VERB_PING, VERB_INFO, VERB_STATS };

static const char *const verb_names[] = {"PING", "INFO", "STATS"};
static const char *const verb_types[] = {
    "io.nats.micro.v1.ping_response",
    "io.nats.micro.v1.info_response",
    "io.nats.micro.v1.stats_response",
};

static void on_discovery(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct discovery_closure *dc = closure;
    struct work *w = calloc(1, sizeof(*w));

    (void)nc;
    (void)sub;
    if (w == NULL) {
        natsMsg_Destroy(msg);
        return;
    }
    w->kind = WORK_DISCOVERY;
    w->msg = msg;
    w->discovery_verb = dc->verb;
    dispatch_enqueue(dc->svc, w);
    uv_async_send(&dc->svc->wake);
}

enum lb_err discovery_subscribe(struct service *svc, struct lb_why *why)
{
    char subject[SUBJECT_MAX];
    size_t n = 0;

    for (int verb = VERB_PING; verb <= VERB_STATS; verb++) {
        svc->discovery_closures[verb] = (struct discovery_closure){.svc = svc, .verb = verb};
        for (int form = 0; form < 3; form++) {
            natsStatus s;

            if (form == 0)
                snprintf(subject, sizeof(subject), "$SRV.%s", verb_names[verb]);
            else if (form == 1)
                snprintf(subject, sizeof(subject), "$SRV.%s.%s", verb_names[verb], svc->def->name);
            else
                snprintf(subject, sizeof(subject), "$SRV.%s.%s.%s", verb_names[verb],
                         svc->def->name, svc->id);
            s = natsConnection_Subscribe(&svc->discovery_subs[n++], bus_conn(svc->bus), subject,
                                         on_discovery, &svc->discovery_closures[verb]);
            if (s != NATS_OK)
                return lb_fail(why, bus_err(s), "subscribing to %s: %s", subject,
                               natsStatus_GetText(s));
        }
    }
    return LB_OK;
}

static bool add_identity(cJSON *root, const struct service *svc, int verb)
{
    cJSON *meta;

    if (!cJSON_AddStringToObject(root, "type", verb_types[verb]) ||
        !cJSON_AddStringToObject(root, "name", svc->def->name) ||
        !cJSON_AddStringToObject(root, "id", svc->id) ||
        !cJSON_AddStringToObject(root, "version", LB_VERSION) ||
        (meta = cJSON_AddObjectToObject(root, "metadata")) == NULL)
        return false;
    /* Which tenants this instance serves (D16): "k/N". */
    return svc->partition < 0 || cJSON_AddStringToObject(meta, "partition", svc->cfg.partition);
}

static bool add_info_endpoint(cJSON *list, const struct endpoint_state *ep, const char *queue)
{
    cJSON *e = cJSON_CreateObject();
    cJSON *meta;

    if (e == NULL || !cJSON_AddItemToArray(list, e))
        return false;
    meta = cJSON_AddObjectToObject(e, "metadata");
    return meta && cJSON_AddStringToObject(e, "name", ep->def->name) &&
           cJSON_AddStringToObject(e, "subject", ep->subject) &&
           cJSON_AddStringToObject(e, "queue_group", queue) &&
           cJSON_AddStringToObject(meta, "request_schema", ep->def->request_schema) &&
           cJSON_AddStringToObject(meta, "reply_schema", ep->def->reply_schema) &&
           cJSON_AddStringToObject(meta, "description", ep->def->description);
}

static bool add_stats_endpoint(cJSON *list, const struct endpoint_state *ep, const char *queue)
{
    cJSON *e = cJSON_CreateObject();
    int64_t average = ep->num_requests ? ep->processing_ns / ep->num_requests : 0;

    if (e == NULL || !cJSON_AddItemToArray(list, e))
        return false;
    return cJSON_AddStringToObject(e, "name", ep->def->name) &&
           cJSON_AddStringToObject(e, "subject", ep->subject) &&
           cJSON_AddStringToObject(e, "queue_group", queue) &&
           cJSON_AddNumberToObject(e, "num_requests", (double)ep->num_requests) &&
           cJSON_AddNumberToObject(e, "num_errors", (double)ep->num_errors) &&
           cJSON_AddStringToObject(e, "last_error", ep->last_error) &&
           cJSON_AddNumberToObject(e, "processing_time", (double)ep->processing_ns) &&
           cJSON_AddNumberToObject(e, "average_processing_time", (double)average);
}

char *discovery_reply(struct service *svc, int verb)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *list = NULL;
    char started[32];
    char *text = NULL;
    bool ok = root && add_identity(root, svc, verb);

    if (ok && verb == VERB_INFO)
        ok = cJSON_AddStringToObject(root, "description", svc->def->description) != NULL;
    if (ok && verb == VERB_STATS) {
        envelope_format_time(svc->started_ms, started);
        ok = cJSON_AddStringToObject(root, "started", started) != NULL;
    }
    if (ok && verb != VERB_PING)
        ok = (list = cJSON_AddArrayToObject(root, "endpoints")) != NULL;
    for (size_t i = 0; ok && list && i < svc->def->endpoint_count; i++) {
        const struct endpoint_state *ep = &svc->endpoints[i];

        ok = verb == VERB_INFO ? add_info_endpoint(list, ep, svc->def->name)
                               : add_stats_endpoint(list, ep, svc->def->name);
    }
    if (ok)
        text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}
