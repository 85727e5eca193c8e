/*
 * publish.c - `lbctl publish SUBJECT FILE|-`: validate, then publish.
 */
#include <stdio.h>
#include <stdlib.h>

#include "envelope.h"
#include "lbctl.h"

int lbctl_publish(struct lbctl *ctl, int argc, char **argv)
{
    struct envelope ev = {0};
    struct lb_why why = {{0}};
    jsPubOptions po;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    size_t len = 0;
    char *text;
    natsStatus s;
    int status = LBCTL_OK;

    if (argc != 3) {
        fprintf(stderr, "usage: lbctl publish SUBJECT FILE|-\n");
        return LBCTL_USAGE;
    }
    text = lbctl_read_input(argv[2], LBCTL_DOCUMENT_MAX, &len);
    if (text == NULL) {
        fprintf(stderr, "lbctl: cannot read %s\n", argv[2]);
        return LBCTL_USAGE;
    }
    /* The services' rules and the contract's schema: refused here, never a dead letter. */
    if (lbctl_check_event(ctl, text, len, argv[1], &ev, &why) != LB_OK) {
        fprintf(stderr, "lbctl: not published: %s\n", why.text);
        status = LBCTL_INVALID;
        goto done;
    }
    jsPubOptions_Init(&po);
    po.MsgId = ev.id;
    po.MaxWait = ctl->timeout_ms;
    s = js_Publish(&ack, ctl->js, argv[1], text, (int)len, &po, &jerr);
    if (s != NATS_OK) {
        fprintf(stderr, "lbctl: publish failed: %s (JetStream error %d)\n", natsStatus_GetText(s),
                (int)jerr);
        status = LBCTL_NATS;
        goto done;
    }
    if (ctl->json)
        printf("{\"stream\":\"%s\",\"sequence\":%llu,\"duplicate\":%s,\"id\":\"%s\"}\n",
               ack->Stream, (unsigned long long)ack->Sequence, ack->Duplicate ? "true" : "false",
               ev.id);
    else
        printf("published %s to %s #%llu%s\n", ev.id, ack->Stream,
               (unsigned long long)ack->Sequence,
               ack->Duplicate ? " (duplicate: already stored)" : "");
done:
    jsPubAck_Destroy(ack);
    envelope_release(&ev);
    free(text);
    return status;
}
