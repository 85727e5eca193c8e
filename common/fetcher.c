/*
 * fetcher.c - one thread per durable pull consumer.
 *
 * libnats 3.4.1 has no asynchronous pull, so each consumer gets a thread
 * that blocks in natsSubscription_Fetch, queues what arrives and wakes the
 * loop. It never touches the database: acks are sent by the loop after the
 * batch commits. The server bounds what is in flight (MaxAckPending).
 */
#include <stdlib.h>

#include "log.h"
#include "runtime.h"

/* How long one fetch waits for messages; also bounds how long a stop takes. */
#define FETCH_WAIT_MS 500
/* Pause after a fetch error (e.g. while reconnecting). */
#define FETCH_RETRY_MS 250

static void queue_batch(struct fetcher *f, natsMsgList *list)
{
    for (int i = 0; i < list->Count; i++) {
        struct work *w = calloc(1, sizeof(*w));

        if (w == NULL)
            break; /* unqueued messages stay unacked and are redelivered */
        w->kind = WORK_EVENT;
        w->msg = list->Msgs[i];
        w->fetcher = f;
        list->Msgs[i] = NULL;
        dispatch_enqueue(f->svc, w);
    }
    uv_async_send(&f->svc->wake);
}

static void fetcher_run(void *arg)
{
    struct fetcher *f = arg;
    struct service *svc = f->svc;
    int batch = (int)svc->cfg.fetch_batch;

    while (!atomic_load(&svc->stopping)) {
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus s;

        s = natsSubscription_Fetch(&list, f->sub, batch, FETCH_WAIT_MS, &jerr);
        if (list.Count > 0)
            queue_batch(f, &list);
        natsMsgList_Destroy(&list);
        if (s != NATS_OK && s != NATS_TIMEOUT)
            nats_Sleep(FETCH_RETRY_MS);
    }
    atomic_store(&f->exited, true);
    uv_async_send(&svc->wake);
}

enum lb_err fetcher_start(struct fetcher *f, struct lb_why *why)
{
    enum lb_err err = bus_pull_subscribe(f->svc->bus, &f->consumer, &f->sub, why);

    if (err != LB_OK)
        return err;
    if (uv_thread_create(&f->thread, fetcher_run, f) != 0) {
        natsSubscription_Destroy(f->sub);
        f->sub = NULL;
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
    natsSubscription_Destroy(f->sub);
    f->sub = NULL;
}
