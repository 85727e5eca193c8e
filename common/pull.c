/*
 * pull.c - JetStream pull consumption, by hand (see pull.h).
 */
#include "pull.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request the server has neither filled nor ended by now is taken as lost (a reconnect). */
#define PULL_REQUEST_GRACE_MS 1000
/* Pause after a 409 (too many waiting requests, a leader change) or a closed subscription. */
#define PULL_PAUSE_MS 50
/* Room for an inbox subject ("_INBOX." and a NUID). */
#define PULL_INBOX_MAX 64
/* Longest $JS.ACK reply subject read; longer ones are not ours to parse. */
#define PULL_REPLY_MAX 512

struct pull {
    natsConnection *nc;         /* not ours */
    natsSubscription *sub;      /* on `inbox` */
    char inbox[PULL_INBOX_MAX]; /* where the server sends what we ask for */
    char next_subject[SUBJECT_MAX + 64];
    int batch;
    int expires_ms;
    bool outstanding;         /* a request is open at the server */
    int received;             /* messages the open request has brought */
    int64_t request_deadline; /* when an open request must have ended */
};

enum lb_err pull_open(natsConnection *nc, const struct pull_options *opts, struct pull **ret_pull,
                      struct lb_why *why)
{
    struct pull *p = calloc(1, sizeof(*p));
    natsInbox *inbox = NULL;
    natsStatus s;

    if (p == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    p->nc = nc;
    p->batch = opts->batch > 0 ? opts->batch : 1;
    p->expires_ms = opts->expires_ms > 0 ? opts->expires_ms : 1;
    snprintf(p->next_subject, sizeof(p->next_subject), "$JS.API.CONSUMER.MSG.NEXT.%s.%s",
             opts->stream, opts->consumer);
    s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        snprintf(p->inbox, sizeof(p->inbox), "%s", inbox);
        s = natsConnection_SubscribeSync(&p->sub, nc, p->inbox);
    }
    /* The server bounds what is in flight (MaxAckPending); the client must not drop any. */
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(p->sub, -1, -1);
    natsInbox_Destroy(inbox);
    if (s != NATS_OK) {
        pull_close(p);
        return lb_fail(why, LB_EUNAVAILABLE, "subscribing to a pull inbox for %s: %s",
                       opts->consumer, natsStatus_GetText(s));
    }
    *ret_pull = p;
    return LB_OK;
}

void pull_close(struct pull *p)
{
    if (p == NULL)
        return;
    natsSubscription_Destroy(p->sub);
    free(p);
}

static void send_request(struct pull *p)
{
    char body[96];

    snprintf(body, sizeof(body), "{\"batch\":%d,\"expires\":%" PRId64 "}", p->batch,
             (int64_t)p->expires_ms * 1000000);
    p->received = 0;
    p->request_deadline = nats_Now() + p->expires_ms + PULL_REQUEST_GRACE_MS;
    /* Not sent (disconnected): the deadline makes the next call try again. */
    p->outstanding =
        natsConnection_PublishRequestString(p->nc, p->next_subject, p->inbox, body) == NATS_OK;
}

/* A message of ours is a delivery (true) or a status ending the open request (false). */
static bool is_delivery(struct pull *p, natsMsg *msg)
{
    const char *reply = natsMsg_GetReply(msg);
    const char *status = NULL;

    if (reply != NULL && strncmp(reply, "$JS.ACK.", 8) == 0)
        return true;
    if (natsMsgHeader_Get(msg, "Status", &status) == NATS_OK && status != NULL) {
        /* 100 is an idle heartbeat; 404, 408 and 409 end the request. */
        if (strcmp(status, "100") != 0)
            p->outstanding = false;
        if (strcmp(status, "409") == 0)
            nats_Sleep(PULL_PAUSE_MS);
    }
    return false;
}

int pull_receive(struct pull *p, int wait_ms, void (*take)(void *ctx, natsMsg *msg), void *ctx)
{
    int64_t deadline = nats_Now() + wait_ms;
    int handed = 0;

    for (;;) {
        int64_t now = nats_Now();
        int64_t timeout;
        natsMsg *msg = NULL;
        natsStatus s;

        if (!p->outstanding || now > p->request_deadline)
            send_request(p);
        /* Once something was handed on, only what is already queued: the loop should see it. */
        timeout = handed > 0 ? 0 : deadline - now;
        if (timeout < 0)
            timeout = 0;
        if (p->outstanding && p->request_deadline - now < timeout)
            timeout = p->request_deadline - now > 0 ? p->request_deadline - now : 0;
        s = natsSubscription_NextMsg(&msg, p->sub, timeout);
        if (s != NATS_OK) {
            if (handed > 0 || nats_Now() >= deadline)
                return handed;
            if (s != NATS_TIMEOUT)
                nats_Sleep(PULL_PAUSE_MS); /* a closed subscription: do not spin */
            continue;
        }
        if (!is_delivery(p, msg)) {
            natsMsg_Destroy(msg);
            continue;
        }
        if (++p->received >= p->batch)
            p->outstanding = false;
        take(ctx, msg);
        /* A full batch goes to the loop even while more keep arriving. */
        if (++handed >= p->batch)
            return handed;
    }
}

bool pull_meta(const natsMsg *msg, struct pull_meta *ret_meta)
{
    const char *reply = natsMsg_GetReply((natsMsg *)msg);
    char copy[PULL_REPLY_MAX];
    char *tokens[16];
    char *save = NULL;
    int n = 0;
    int at;

    if (reply == NULL || strncmp(reply, "$JS.ACK.", 8) != 0 || strlen(reply) >= sizeof(copy))
        return false;
    snprintf(copy, sizeof(copy), "%s", reply + 8);
    for (char *t = strtok_r(copy, ".", &save); t != NULL && n < 16; t = strtok_r(NULL, ".", &save))
        tokens[n++] = t;
    /* v1: <stream>.<consumer>.<delivered>.<sseq>.<cseq>.<time>.<pending>;
     * v2 adds <domain>.<account hash> in front and a random token at the end. */
    if (n == 7)
        at = 0;
    else if (n >= 9)
        at = 2;
    else
        return false;
    snprintf(ret_meta->stream, sizeof(ret_meta->stream), "%s", tokens[at]);
    ret_meta->deliveries = strtoull(tokens[at + 2], NULL, 10);
    ret_meta->stream_seq = strtoull(tokens[at + 3], NULL, 10);
    return true;
}

natsStatus pull_ack(natsConnection *nc, const natsMsg *msg)
{
    const char *reply = natsMsg_GetReply((natsMsg *)msg);

    if (reply == NULL)
        return NATS_INVALID_ARG;
    return natsConnection_PublishString(nc, reply, "+ACK");
}

natsStatus pull_nak(natsConnection *nc, const natsMsg *msg, int64_t delay_ms)
{
    const char *reply = natsMsg_GetReply((natsMsg *)msg);
    char body[64];

    if (reply == NULL)
        return NATS_INVALID_ARG;
    snprintf(body, sizeof(body), "-NAK {\"delay\":%" PRId64 "}", delay_ms * 1000000);
    return natsConnection_PublishString(nc, reply, body);
}
