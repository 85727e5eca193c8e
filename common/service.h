/*
 * service.h - the runtime every licensebus service is made of.
 *
 * A service is described as data (struct service_def): its endpoints, the
 * event types it consumes, the domains it emits into, its schema migrations
 * and its clock-driven sweep. service_main runs it: one libuv loop thread
 * owns the SQLite database and all service state; NATS callbacks and the
 * JetStream fetcher threads only queue messages and wake the loop. The loop
 * applies each drained batch in one transaction (one savepoint per
 * message), commits, publishes the outbox, and only then replies and acks.
 *
 * Handlers run on the loop thread inside that transaction: they read and
 * write through service_store and emit through service_emit, and return an
 * error code with a reason to have their changes rolled back.
 */
#ifndef LB_SERVICE_H
#define LB_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "envelope.h"
#include "errors.h"
#include "store.h"

/* Largest request body accepted, in bytes. */
#define SERVICE_REQUEST_MAX_BYTES (64 * 1024)

struct service;

/* A request as a handler sees it. */
struct request {
    const char *endpoint;   /* endpoint name, e.g. "add" */
    const char *request_id; /* the Lb-Request-Id header, or a fresh one: the cause of the ids
                               service_emit derives, so handlers may derive new entity ids from
                               it too (id_derive) */
    const cJSON *body;      /* the parsed JSON object; borrowed */
};

/* Answers a request: sets *ret_reply (owned by the runtime afterwards) or fails. */
typedef enum lb_err (*service_endpoint_fn)(struct service *svc, const struct request *req,
                                           cJSON **ret_reply, struct lb_why *why);

/* Applies one consumed event. LB_EIO/LB_EUNAVAILABLE mean "retry later". */
typedef enum lb_err (*service_event_fn)(struct service *svc, const struct envelope *ev,
                                        struct lb_why *why);

/* Makes the time-driven transitions due at `now_ms`; must be idempotent. */
typedef enum lb_err (*service_sweep_fn)(struct service *svc, int64_t now_ms, struct lb_why *why);

/* One request/reply endpoint: lb.api.<service>.<name>, queue group <service>. */
struct service_endpoint {
    const char *name;
    service_endpoint_fn handler;
    const char *request_schema; /* path under schemas/, e.g. "api/tally.add.request.json" */
    const char *reply_schema;
    const char *description;
};

/* One consumed event type, e.g. "licensebus.sample.increment.v1". */
struct service_event {
    const char *type;
    service_event_fn handler;
    /* Applying it twice changes nothing (e.g. a heartbeat: last-seen = max): its id is not
     * recorded in lb_applied, which keeps the hottest path at one write or none. */
    bool idempotent;
};

/* A whole service, as data. */
struct service_def {
    const char *name;        /* subject token, database file name, durable consumer name */
    const char *description; /* for $SRV.INFO */
    int default_http_port;   /* for /healthz, /readyz, /metrics */
    const struct store_migration *migrations;
    size_t migration_count;
    bool org_tree; /* keeps the org tree (orgtree.h): creates the lb_org table */
    const struct service_endpoint *endpoints;
    size_t endpoint_count;
    const char *const *consumes; /* domains whose events it reads; NULL-terminated */
    const struct service_event *events;
    size_t event_count;
    /* Types of consumed domains it knowingly skips (acked, counted); NULL-terminated or
     * NULL. Any other type without a handler is dead-lettered as unsupported. */
    const char *const *ignores;
    const char *const *produces; /* domains it emits into; NULL-terminated */
    service_sweep_fn sweep;      /* NULL when the service has no clock-driven work */
    /*
     * Writes what handlers of idempotent events coalesced in service_state (NULL: nothing
     * is coalesced). The runtime calls it, inside the batch's transaction, before anything
     * else is handled after such events (another event, a request, a sweep) and before the
     * batch commits, so nothing ever observes the state without those writes. An error
     * rolls the whole batch back; it is redelivered.
     */
    enum lb_err (*flush)(struct service *svc, struct lb_why *why);
    size_t state_size;                 /* bytes of zeroed memory for service_state, or 0 */
    const struct config_entry *config; /* the service's own settings, or NULL */
    size_t config_count;
    size_t config_size; /* sizeof the struct `config` loads into */
};

/* Runs the service until SIGTERM or SIGINT; returns the process exit status. */
int service_main(const struct service_def *def, int argc, char **argv);

/* The service's database (the loop thread's only). */
struct store *service_store(struct service *svc);

/* The service's own settings (def->config loaded), or NULL. */
const void *service_config(const struct service *svc);

/*
 * A metric of the service's own on /metrics: its value slot, created at 0 on
 * first call and the same slot after (keep the pointer). `gauge` false makes
 * a counter. NULL when out of memory or when `name` is not a metric name.
 * Loop thread only.
 */
double *service_metric(struct service *svc, bool gauge, const char *name, const char *help);

/* The service's own in-memory state (def->state_size zeroed bytes), or NULL. */
void *service_state(struct service *svc);

/* Now, by the service's clock (virtual in tests and replays). */
int64_t service_now_ms(const struct service *svc);

/*
 * Emits event lb.evt.<service>.<tenant>.<name> of type
 * licensebus.<service>.<name>.v<version> with `data` (borrowed) through the
 * outbox, in the current transaction. Its id is derived from what caused it
 * (the consumed event, the request, or the sweep and its time) and the
 * number of events emitted so far for that cause, so replaying the same
 * input emits the same ids. Its `time` is the service's now, except in
 * reaction to a consumed event: then it is that event's time, so applying
 * the same event again emits the same bytes. *ret_id (optional) receives
 * the id.
 */
enum lb_err service_emit(struct service *svc, const char *tenant, const char *name, int version,
                         const cJSON *data, char ret_id[27], struct lb_why *why);

#endif
