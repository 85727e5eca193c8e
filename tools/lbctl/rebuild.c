/*
 * rebuild.c - `lbctl rebuild SERVICE`: schedule a rebuild from the streams.
 */
#include <stdio.h>
#include <string.h>

#include "lbctl.h"
#include "subjects.h"

int lbctl_rebuild(struct lbctl *ctl, int argc, char **argv)
{
    char subject[SUBJECT_MAX];
    natsMsg *reply = NULL;
    const char *code = NULL;
    natsStatus s;

    if (argc != 2 || !subject_token_valid(argv[1])) {
        fprintf(stderr, "usage: lbctl rebuild SERVICE\n");
        return LBCTL_USAGE;
    }
    snprintf(subject, sizeof(subject), "lb.adm.%s.rebuild", argv[1]);
    s = natsConnection_Request(&reply, ctl->nc, subject, "{}", 2, ctl->timeout_ms);
    if (s != NATS_OK) {
        fprintf(stderr, "lbctl: %s: %s\n", subject,
                s == NATS_NO_RESPONDERS ? "no running instance of that service"
                                        : natsStatus_GetText(s));
        return LBCTL_NATS;
    }
    if (natsMsgHeader_Get(reply, "Nats-Service-Error-Code", &code) == NATS_OK && code != NULL) {
        fprintf(stderr, "lbctl: %.*s\n", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
        natsMsg_Destroy(reply);
        return LBCTL_REPLY_ERROR;
    }
    printf("%.*s\n", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    if (!ctl->json)
        printf("%s drains and exits; its next start rebuilds the database from the streams\n",
               argv[1]);
    natsMsg_Destroy(reply);
    return LBCTL_OK;
}
