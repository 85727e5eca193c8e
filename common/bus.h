/*
 * bus.h - the NATS connection, JetStream streams and consumers, and the
 * wire shape of replies.
 *
 * A bus connects with a connection name, unlimited reconnects and
 * send-asap (the default buffered flush adds ~0.75 ms to every reply), and
 * keeps retrying a first connect that fails so a service can start before
 * its NATS server. Streams and consumers are created, or verified and
 * updated, from the definitions in streams.h. Thread-safe like libnats.
 *
 * Ownership: the bus owns its connection and JetStream context; messages
 * passed to bus_* functions stay the caller's.
 */
#ifndef LB_BUS_H
#define LB_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <nats/nats.h>

#include "errors.h"

/* Most redelivery back-off steps a consumer may have. */
#define BUS_BACKOFF_MAX 8

struct bus;

/* How to reach NATS. */
struct bus_options {
    const char *url;  /* e.g. "nats://127.0.0.1:4222"; comma-separated for a cluster */
    const char *name; /* connection name shown by the server, e.g. "lb-licensing" */
    const char *user; /* optional user/password from the credentials Secret */
    const char *password;
    const char *creds_file;    /* optional NKey/JWT credentials file */
    const char *ca_file;       /* optional CA bundle; turns TLS on */
    int64_t async_window;      /* JetStream async publishes in flight (>= 256 passes 100 k/s) */
    void (*on_ack)(void *ctx); /* optional: called on a libnats thread after each publish ack */
    void *on_ack_ctx;
};

/* A JetStream stream this system uses. */
struct bus_stream {
    const char *name;    /* "LB_TALLY" */
    const char *subject; /* "lb.evt.tally.>" */
    int replicas;        /* 1 locally, 3 in a cluster */
    int64_t duplicate_window_ms;
};

/* A durable pull consumer with explicit acks and bounded redelivery. */
struct bus_consumer {
    const char *stream;
    const char *durable;                 /* "tally" or "tally-clock" */
    const char *filter_subject;          /* "lb.evt.sample.>" */
    int64_t ack_wait_ms;                 /* redelivery when not acked in time */
    int64_t max_deliver;                 /* deliveries before the message is dead-lettered */
    int64_t max_ack_pending;             /* unacked messages in flight */
    int64_t backoff_ms[BUS_BACKOFF_MAX]; /* redelivery delays; 0 ends the list */
};

/*
 * Sets the servers of `o` from a URL or a comma-separated list of URLs.
 * libnats 3.4.1's natsOptions_SetURL does not split a list (it retries the
 * whole string forever), so a list goes through natsOptions_SetServers.
 */
natsStatus bus_set_servers(natsOptions *o, const char *url);

enum lb_err bus_connect(const struct bus_options *opts, struct bus **ret_bus, struct lb_why *why);

/* Closes the connection (after bus_drain if you want pending work out); NULL is a no-op. */
void bus_free(struct bus *b);

/* The prompt connection: subscriptions, replies, pull requests, the outbox (sent at once). */
natsConnection *bus_conn(struct bus *b);
/* The bulk connection: acks and naks, written with whatever else accumulated (D26). */
natsConnection *bus_bulk_conn(struct bus *b);
/* JetStream on the prompt connection: the outbox's publishes and administration. */
jsCtx *bus_js(struct bus *b);
/* Writes what both connections hold and waits for the server to have read it. */
void bus_flush(struct bus *b, int64_t timeout_ms);

/* True while connected (not reconnecting or closed). */
bool bus_is_connected(struct bus *b);

/*
 * Reads and resets how many async publishes the stream acked and refused
 * (or that timed out) since the last call.
 */
void bus_take_publish_outcomes(struct bus *b, uint64_t *ret_acked, uint64_t *ret_refused);

/* Creates the stream, or checks that the existing one has the same subject. */
enum lb_err bus_ensure_stream(struct bus *b, const struct bus_stream *def, struct lb_why *why);

/* Creates or updates the durable consumer so its settings are exactly `c`. */
enum lb_err bus_ensure_consumer(struct bus *b, const struct bus_consumer *c, struct lb_why *why);

/* Deletes the durable consumer (LB_OK when it was not there). */
enum lb_err bus_delete_consumer(struct bus *b, const struct bus_consumer *c, struct lb_why *why);

/*
 * Sets *ret_exists to whether the durable consumer is there and, when
 * ret_backlog is given, *ret_backlog to what it has not delivered plus what
 * it delivered unacknowledged (LB_OK when the answer is known).
 */
enum lb_err bus_consumer_backlog(struct bus *b, const struct bus_consumer *c, bool *ret_exists,
                                 uint64_t *ret_backlog, struct lb_why *why);

/*
 * Publishes `len` bytes to `subject` through JetStream and waits for the
 * stream's ack, with Nats-Msg-Id = msg_id. For tools and tests; services
 * publish through their outbox.
 */
enum lb_err bus_publish_sync(struct bus *b, const char *subject, const char *msg_id,
                             const void *data, size_t len, struct lb_why *why);

/* Sends a JSON reply body. */
enum lb_err bus_reply(struct bus *b, const char *reply_subject, const char *body, size_t len);

/*
 * Sends the uniform error reply: body {"error":{"code","message","details"}}
 * (details omitted when NULL; borrowed) and the NATS service headers
 * Nats-Service-Error (message) and Nats-Service-Error-Code (number).
 */
enum lb_err bus_reply_error(struct bus *b, const char *reply_subject, enum lb_err err,
                            const char *message, const cJSON *details);

/* The error reply body alone; malloc'd, caller frees. NULL when out of memory. */
char *bus_error_body(enum lb_err err, const char *message, const cJSON *details);

/* Maps a libnats status onto the project's codes. */
enum lb_err bus_err(natsStatus s);

#endif
