/*
 * dead_letter.h - where input that cannot be applied goes.
 *
 * A bad event is never dropped silently: it is written, with the reason,
 * to the outbox for lb.dlq.<service> (stream LB_DLQ) in the transaction
 * that consumes it, then acked. The body follows schemas/dead_letter.json:
 * the original bytes travel as `payload` when they are UTF-8, else as
 * `payload_base64`.
 */
#ifndef LB_DEAD_LETTER_H
#define LB_DEAD_LETTER_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "store.h"

/* One refused message. Strings are borrowed; optional ones may be NULL. */
struct dead_letter {
    const char *service;  /* who refused it */
    enum lb_err code;     /* why, as a code */
    const char *reason;   /* why, in words */
    const char *subject;  /* where it arrived */
    const char *stream;   /* optional */
    uint64_t stream_seq;  /* 0 when unknown */
    uint64_t deliveries;  /* how many times it was delivered */
    const char *event_id; /* optional: the CloudEvents id, when it could be read */
    const void *payload;  /* the original bytes */
    size_t len;
    int64_t now_ms;
};

/* Queues the dead letter in the outbox; call inside the consuming transaction. */
enum lb_err dead_letter_add(struct store *s, const struct dead_letter *dl, struct lb_why *why);

/* The JSON body alone (malloc'd, caller frees), e.g. for tests. NULL when out of memory. */
char *dead_letter_body(const struct dead_letter *dl);

#endif
