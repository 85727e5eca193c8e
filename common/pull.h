/*
 * pull.h - JetStream pull consumption, by hand.
 *
 * Why not natsSubscription_Fetch: in libnats 3.4.1 a Fetch that starts
 * while messages of an earlier pull request are still arriving shortens its
 * own batch and then no longer stops at it, writing past the list it
 * allocated. Under load this corrupted the heap (AddressSanitizer: a
 * heap-buffer-overflow reading that list; the services then crashed on a
 * work queue whose items had been overwritten). Here a plain subscription
 * on an inbox of our own receives what our pull requests ask for; there is
 * no list to overrun: each message is handed on as it arrives, whichever
 * request it answers.
 *
 * The protocol: a request on $JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>
 * with {"batch":N,"expires":<ns>} and the inbox as its reply subject; the
 * server sends up to N messages (reply subject $JS.ACK.<stream>.<consumer>.
 * <delivered>.<stream seq>.<consumer seq>.<time>.<pending>) and may end a
 * request early with a status message (404 no messages, 408 expired, 409
 * conflict). An ack is a publish of "+ACK" on the message's reply subject.
 *
 * Ownership: a message handed to `take` is the callee's (natsMsg_Destroy);
 * the pull owns its subscription. One thread uses a pull at a time.
 */
#ifndef LB_PULL_H
#define LB_PULL_H

#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#include "errors.h"
#include "subjects.h"

struct pull;

/* Which consumer, and how much to ask for at a time. */
struct pull_options {
    const char *stream;   /* stream name */
    const char *consumer; /* durable consumer name */
    int batch;            /* messages per request */
    int expires_ms;       /* how long the server keeps a request open */
};

/* What a consumed message's reply subject says about it. */
struct pull_meta {
    char stream[SUBJECT_TOKEN_MAX + 1];
    uint64_t stream_seq;
    uint64_t deliveries; /* 1 on the first delivery */
};

/* Subscribes to an inbox of its own on `nc` (which must outlive the pull). */
enum lb_err pull_open(natsConnection *nc, const struct pull_options *opts, struct pull **ret_pull,
                      struct lb_why *why);

/*
 * Waits up to `wait_ms` for messages, asking the server for more whenever
 * no request is outstanding, and hands each one to take(ctx, msg). Returns
 * once it has handed on everything queued so far (at least one message,
 * at most a batch), or when `wait_ms` has passed; the number handed on.
 */
int pull_receive(struct pull *p, int wait_ms, void (*take)(void *ctx, natsMsg *msg), void *ctx);

/* Unsubscribes; NULL is a no-op. Messages already handed on stay valid. */
void pull_close(struct pull *p);

/* Reads a consumed message's reply subject; false when it is not a JetStream delivery. */
bool pull_meta(const natsMsg *msg, struct pull_meta *ret_meta);

/* Acknowledges a consumed message (the server will not deliver it again). */
natsStatus pull_ack(natsConnection *nc, const natsMsg *msg);

/* Asks for a redelivery after `delay_ms`. */
natsStatus pull_nak(natsConnection *nc, const natsMsg *msg, int64_t delay_ms);

#endif
