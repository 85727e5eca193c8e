/*
 * fetcher.c - one thread per durable pull consumer.
 *
 * libnats 3.4.1 has no asynchronous pull, so each consumer gets a thread
 * that blocks receiving (pull.c: our own pull requests, not libnats'
 * Fetch, whose batch list can overflow), queues what arrives and wakes the
 * loop. It never touches the database: acks are sent by the loop after the
 * batch commits. The server bounds what is in flight (MaxAckPending).
 */
#include <stdlib.h>

#include "log.h"
#include "runtime.h"

/* How long one receive waits for messages; also bounds how long a stop takes. */
#define FETCH_WAIT_MS 500

/* Hands one message to the loop's queue (pull_receive calls it for each). */
static void queue_message(void *ctx, natsMsg *msg)
{
    struct fetcher *f = ctx;
    struct work *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        /* Unqueued, it stays unacked and is redelivered after AckWait. */
        natsMsg_Destroy(msg);
        return;
    }
    w->kind = WORK_EVENT;
    w->msg = msg;
    w->fetcher = f;
    dispatch_enqueue(f->svc, w);
}

static void fetcher_run(void *arg)
{
    struct fetcher *f = arg;
    struct service *svc = f->svc;

    while (!atomic_load(&svc->stopping) && !atomic_load(&f->retire)) {
        if (pull_receive(f->pull, FETCH_WAIT_MS, queue_message, f) > 0)
            uv_async_send(&svc->wake);
    }
    atomic_store(&f->exited, true);
    uv_async_send(&svc->wake);
}

enum lb_err fetcher_start(struct fetcher *f, struct lb_why *why)
{
    struct pull_options opts = {
        .stream = f->consumer.stream,
        .consumer = f->consumer.durable,
        .batch = (int)f->svc->cfg.fetch_batch,
        .expires_ms = FETCH_WAIT_MS,
    };
    enum lb_err err = pull_open(bus_conn(f->svc->bus), &opts, &f->pull, why);

    if (err != LB_OK)
        return err;
    if (uv_thread_create(&f->thread, fetcher_run, f) != 0) {
        pull_close(f->pull);
        f->pull = NULL;
        return lb_fail(why, LB_ENOMEM, "cannot start the fetcher thread of %s", f->durable);
    }
    f->started = true;
    return LB_OK;
}

void fetcher_join(struct fetcher *f)
{
    if (!f->started)
        return;
    uv_thread_join(&f->thread);
    f->started = false;
    pull_close(f->pull);
    f->pull = NULL;
}
