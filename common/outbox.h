/*
 * outbox.h - events leave a service only through its outbox.
 *
 * A handler writes its state change and the events it emits in one SQLite
 * transaction (outbox_add). After the commit the runtime publishes the
 * pending rows in order with Nats-Msg-Id = event id (outbox_publish) and,
 * once the stream has acked them, deletes them (outbox_forget). A crash
 * before the publish loses nothing (the rows are still there at restart); a
 * crash after it duplicates nothing (the stream drops a repeated
 * Nats-Msg-Id inside its duplicate window, and consumers record applied ids).
 * Dead letters use the same path, so they are never lost either.
 */
#ifndef LB_OUTBOX_H
#define LB_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "errors.h"
#include "store.h"

/* Rows published per outbox_publish call. */
#define OUTBOX_BATCH 1024

/* Queues a message; call inside the transaction that makes the change. */
enum lb_err outbox_add(struct store *s, const char *subject, const char *msg_id,
                       const void *payload, size_t len, int64_t now_ms, struct lb_why *why);

/*
 * Publishes up to OUTBOX_BATCH pending rows in order and waits for the
 * stream's acks. On success *ret_last_seq is the last row acked (0 when
 * none were pending) and *ret_count their number. When any publish is
 * refused or times out, nothing counts as published (they are retried:
 * re-publishing an acked row is harmless).
 */
enum lb_err outbox_publish(struct store *s, struct bus *b, int64_t *ret_last_seq, size_t *ret_count,
                           struct lb_why *why);

/* Deletes the rows up to and including `last_seq`, which the stream has acked. */
enum lb_err outbox_forget(struct store *s, int64_t last_seq, struct lb_why *why);

/* Rows still waiting to be published. */
enum lb_err outbox_pending(struct store *s, int64_t *ret_count, struct lb_why *why);

#endif
