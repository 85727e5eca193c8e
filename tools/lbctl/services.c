/*
 * services.c - `lbctl services`: who is running, through $SRV.PING/STATS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lbctl.h"

/* How long to gather PING answers: every instance answers, there is no "last". */
#define GATHER_MS 500

static cJSON *stats_of(struct lbctl *ctl, const char *name, const char *id)
{
    char subject[256];
    natsMsg *reply = NULL;
    cJSON *stats = NULL;

    snprintf(subject, sizeof(subject), "$SRV.STATS.%s.%s", name, id);
    if (natsConnection_RequestString(&reply, ctl->nc, subject, "", ctl->timeout_ms) == NATS_OK)
        stats = cJSON_ParseWithLength(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    natsMsg_Destroy(reply);
    return stats;
}

static void print_row(const cJSON *stats)
{
    const cJSON *ep;
    double requests = 0, errors = 0;

    cJSON_ArrayForEach(ep, cJSON_GetObjectItem(stats, "endpoints"))
    {
        requests += cJSON_GetNumberValue(cJSON_GetObjectItem(ep, "num_requests"));
        errors += cJSON_GetNumberValue(cJSON_GetObjectItem(ep, "num_errors"));
    }
    printf("%-16s %-28s %-8s %-26s %10.0f %8.0f\n",
           cJSON_GetStringValue(cJSON_GetObjectItem(stats, "name")),
           cJSON_GetStringValue(cJSON_GetObjectItem(stats, "id")),
           cJSON_GetStringValue(cJSON_GetObjectItem(stats, "version")),
           cJSON_GetStringValue(cJSON_GetObjectItem(stats, "started")), requests, errors);
}

int lbctl_services(struct lbctl *ctl, int argc, char **argv)
{
    natsSubscription *sub = NULL;
    natsInbox *inbox = NULL;
    cJSON *all = cJSON_CreateArray();
    int64_t deadline;

    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: lbctl services\n");
        cJSON_Delete(all);
        return LBCTL_USAGE;
    }
    if (natsInbox_Create(&inbox) != NATS_OK ||
        natsConnection_SubscribeSync(&sub, ctl->nc, inbox) != NATS_OK ||
        natsConnection_PublishRequestString(ctl->nc, "$SRV.PING", inbox, "") != NATS_OK) {
        fprintf(stderr, "lbctl: cannot send $SRV.PING\n");
        natsSubscription_Destroy(sub);
        natsInbox_Destroy(inbox);
        cJSON_Delete(all);
        return LBCTL_NATS;
    }
    deadline = nats_Now() + GATHER_MS;
    for (int64_t left = GATHER_MS; left > 0; left = deadline - nats_Now()) {
        natsMsg *m = NULL;
        cJSON *ping, *stats;

        if (natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
            break;
        ping = cJSON_ParseWithLength(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        natsMsg_Destroy(m);
        if (!cJSON_IsString(cJSON_GetObjectItem(ping, "name")) ||
            !cJSON_IsString(cJSON_GetObjectItem(ping, "id"))) {
            cJSON_Delete(ping);
            continue;
        }
        stats = stats_of(ctl, cJSON_GetObjectItem(ping, "name")->valuestring,
                         cJSON_GetObjectItem(ping, "id")->valuestring);
        cJSON_AddItemToArray(all, stats ? stats : ping);
        if (stats)
            cJSON_Delete(ping);
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    if (ctl->json) {
        char *text = cJSON_PrintUnformatted(all);

        printf("%s\n", text ? text : "[]");
        free(text);
    } else {
        const cJSON *s;

        printf("%-16s %-28s %-8s %-26s %10s %8s\n", "NAME", "ID", "VERSION", "STARTED", "REQUESTS",
               "ERRORS");
        cJSON_ArrayForEach(s, all) print_row(s);
    }
    cJSON_Delete(all);
    return LBCTL_OK;
}
