/*
 * streams.c - `lbctl streams`: the LB_* streams and their consumers' lag.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lbctl.h"

static cJSON *describe_consumers(struct lbctl *ctl, const char *stream)
{
    jsConsumerInfoList *list = NULL;
    cJSON *out = cJSON_CreateArray();

    if (js_Consumers(&list, ctl->js, stream, NULL, NULL) != NATS_OK)
        return out;
    for (int i = 0; i < list->Count; i++) {
        const jsConsumerInfo *ci = list->List[i];
        cJSON *c = cJSON_CreateObject();

        cJSON_AddStringToObject(c, "name", ci->Name);
        cJSON_AddNumberToObject(c, "pending", (double)ci->NumPending);
        cJSON_AddNumberToObject(c, "unacked", (double)ci->NumAckPending);
        cJSON_AddNumberToObject(c, "redelivered", (double)ci->NumRedelivered);
        cJSON_AddItemToArray(out, c);
    }
    jsConsumerInfoList_Destroy(list);
    return out;
}

int lbctl_streams(struct lbctl *ctl, int argc, char **argv)
{
    jsStreamInfoList *list = NULL;
    jsErrCode jerr = 0;
    cJSON *all = cJSON_CreateArray();
    const cJSON *s;
    natsStatus st;

    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: lbctl streams\n");
        cJSON_Delete(all);
        return LBCTL_USAGE;
    }
    st = js_Streams(&list, ctl->js, NULL, &jerr);
    if (st != NATS_OK && st != NATS_NOT_FOUND) {
        fprintf(stderr, "lbctl: cannot list streams: %s\n", natsStatus_GetText(st));
        cJSON_Delete(all);
        return LBCTL_NATS;
    }
    for (int i = 0; list != NULL && i < list->Count; i++) {
        const jsStreamInfo *si = list->List[i];
        cJSON *o;

        if (strncmp(si->Config->Name, "LB_", 3) != 0)
            continue;
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "stream", si->Config->Name);
        cJSON_AddNumberToObject(o, "messages", (double)si->State.Msgs);
        cJSON_AddNumberToObject(o, "bytes", (double)si->State.Bytes);
        cJSON_AddNumberToObject(o, "replicas", (double)si->Config->Replicas);
        cJSON_AddItemToObject(o, "consumers", describe_consumers(ctl, si->Config->Name));
        cJSON_AddItemToArray(all, o);
    }
    jsStreamInfoList_Destroy(list);
    if (ctl->json) {
        char *text = cJSON_PrintUnformatted(all);

        printf("%s\n", text ? text : "[]");
        free(text);
    } else {
        printf("%-14s %10s %12s %3s  %s\n", "STREAM", "MESSAGES", "BYTES", "R",
               "CONSUMERS (pending/unacked/redelivered)");
        cJSON_ArrayForEach(s, all)
        {
            const cJSON *c;

            printf("%-14s %10.0f %12.0f %3.0f ",
                   cJSON_GetStringValue(cJSON_GetObjectItem(s, "stream")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(s, "messages")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(s, "bytes")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(s, "replicas")));
            cJSON_ArrayForEach(c, cJSON_GetObjectItem(s, "consumers"))
            {
                printf(" %s %.0f/%.0f/%.0f", cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")),
                       cJSON_GetNumberValue(cJSON_GetObjectItem(c, "pending")),
                       cJSON_GetNumberValue(cJSON_GetObjectItem(c, "unacked")),
                       cJSON_GetNumberValue(cJSON_GetObjectItem(c, "redelivered")));
            }
            printf("\n");
        }
    }
    cJSON_Delete(all);
    return LBCTL_OK;
}
