/*
 * request.c - `lbctl request SUBJECT [BODY|-]`: one command or query.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbctl.h"

int lbctl_request(struct lbctl *ctl, int argc, char **argv)
{
    natsMsg *reply = NULL;
    const char *code = NULL;
    size_t len = 0;
    char *body;
    natsStatus s;
    int status = LBCTL_OK;

    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: lbctl request SUBJECT [BODY|-]\n");
        return LBCTL_USAGE;
    }
    if (argc == 3 && strcmp(argv[2], "-") == 0) {
        body = lbctl_read_input("-", LBCTL_DOCUMENT_MAX, &len);
    } else {
        body = strdup(argc == 3 ? argv[2] : "{}");
        len = body ? strlen(body) : 0;
    }
    if (body == NULL) {
        fprintf(stderr, "lbctl: cannot read the request body\n");
        return LBCTL_USAGE;
    }
    s = natsConnection_Request(&reply, ctl->nc, argv[1], body, (int)len, ctl->timeout_ms);
    free(body);
    if (s != NATS_OK) {
        fprintf(stderr, "lbctl: %s: %s\n", argv[1],
                s == NATS_NO_RESPONDERS ? "no service answers this subject"
                                        : natsStatus_GetText(s));
        return LBCTL_NATS;
    }
    /* Error replies carry the NATS service error headers; the body is the uniform error. */
    if (natsMsgHeader_Get(reply, "Nats-Service-Error-Code", &code) == NATS_OK && code != NULL)
        status = LBCTL_REPLY_ERROR;
    fwrite(natsMsg_GetData(reply), 1, (size_t)natsMsg_GetDataLength(reply),
           status == LBCTL_OK ? stdout : stderr);
    fputc('\n', status == LBCTL_OK ? stdout : stderr);
    natsMsg_Destroy(reply);
    return status;
}
