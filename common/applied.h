/*
 * applied.h - the record of applied event ids (exactly-once effect).
 *
 * A consumed event is applied and its id recorded in the same transaction;
 * the message is acked only after that transaction commits. A redelivered
 * or replayed event finds its id here and changes nothing. JetStream forgets
 * Nats-Msg-Ids after its duplicate window (2 minutes by default), so this
 * table, not the stream, is what makes replays safe.
 */
#ifndef LB_APPLIED_H
#define LB_APPLIED_H

#include <stdint.h>

#include "errors.h"
#include "store.h"

enum applied_state {
    APPLIED_NEW,       /* never applied: apply it */
    APPLIED_DUPLICATE, /* applied before with the same payload: ack and skip */
    APPLIED_CONFLICT,  /* applied before with another payload: dead-letter */
};

/* Looks `event_id` up; `digest` is id_digest of the payload bytes. */
enum lb_err applied_check(struct store *s, const char *event_id, uint64_t digest,
                          enum applied_state *ret_state, struct lb_why *why);

/* Records `event_id` as applied; call in the transaction that applied it. */
enum lb_err applied_record(struct store *s, const char *event_id, uint64_t digest, int64_t now_ms,
                           struct lb_why *why);

/*
 * Requests that changed something are recorded by their Lb-Request-Id, with
 * the reply they got: a retry with the same id and body gets the same reply
 * and changes nothing again (*ret_reply, malloc'd); the same id with
 * another endpoint or body is APPLIED_CONFLICT.
 */
enum lb_err applied_request_check(struct store *s, const char *request_id, const char *endpoint,
                                  uint64_t digest, enum applied_state *ret_state, char **ret_reply,
                                  struct lb_why *why);

/* Records a request that changed something; call in its transaction. */
enum lb_err applied_request_record(struct store *s, const char *request_id, const char *endpoint,
                                   uint64_t digest, const char *reply, int64_t now_ms,
                                   struct lb_why *why);

#endif
