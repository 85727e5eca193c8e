/*
 * outbox.h - events leave a service only through its outbox.
 *
 * A handler writes its state change and the events it emits in one SQLite
 * transaction (outbox_add). After the commit the runtime publishes the
 * pending rows in order with Nats-Msg-Id = event id (outbox_send), without
 * waiting, and deletes them (outbox_forget) once the stream has acked every
 * row in flight; the state machine is dispatch_flush_outbox. A crash
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

/* Rows in flight (sent, not yet acked) at most; past it the publisher waits. */
#define OUTBOX_WINDOW 4096
/* How long a sent row waits for the stream's ack before it counts as refused (and is resent). */
#define OUTBOX_PUBLISH_WAIT_MS 5000

/* Queues a message; call inside the transaction that makes the change. */
enum lb_err outbox_add(struct store *s, const char *subject, const char *msg_id,
                       const void *payload, size_t len, int64_t now_ms, struct lb_why *why);

/*
 * Publishes, without waiting for acks, up to `max` pending rows whose seq is
 * above `after_seq`, in order, with Nats-Msg-Id = event id. *ret_last_seq is
 * the last row sent (after_seq when none) and *ret_count their number. The
 * stream's acks are counted by the bus (bus_take_publish_outcomes).
 */
enum lb_err outbox_send(struct store *s, struct bus *b, int64_t after_seq, size_t max,
                        int64_t *ret_last_seq, size_t *ret_count, struct lb_why *why);

/* Waits until every async publish has an outcome, or `timeout_ms` passed. */
enum lb_err outbox_wait(struct bus *b, int64_t timeout_ms, struct lb_why *why);

/* Deletes the rows up to and including `last_seq`, which the stream has acked. */
enum lb_err outbox_forget(struct store *s, int64_t last_seq, struct lb_why *why);

/* Rows still waiting to be published. */
enum lb_err outbox_pending(struct store *s, int64_t *ret_count, struct lb_why *why);

#endif
