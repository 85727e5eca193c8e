/*
 * runtime.h - the inside of struct service, shared by the runtime's files
 * (service.c lifecycle, dispatch.c batches, fetcher.c pull threads,
 * discovery.c $SRV protocol, ops.c HTTP). Services never include it.
 */
#ifndef LB_RUNTIME_H
#define LB_RUNTIME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>
#include <uv.h>

#include "bus.h"
#include "clock.h"
#include "http.h"
#include "ids.h"
#include "metrics.h"
#include "pull.h"
#include "service.h"
#include "store.h"
#include "subjects.h"

/* Next to a database that is still catching up with its own stream (catch_up.c). */
#define CATCH_UP_MARKER ".catching-up"

/* $SRV.{PING,INFO,STATS} each as bare, .<name> and .<name>.<id>. */
#define DISCOVERY_SUBS 9

/* Settings every service reads from the environment (see runtime_config_table). */
struct runtime_config {
    char *nats_url;
    char *nats_user;
    char *nats_password;
    char *nats_creds;
    char *nats_ca;
    char *data_dir;
    char *log_level;
    char *clock;
    char *fault;
    char *partition;
    int64_t http_port;
    bool http_bind_all;
    int64_t stream_replicas;
    int64_t duplicate_window_ms;
    int64_t ack_wait_ms;
    int64_t max_deliver;
    int64_t max_ack_pending;
    int64_t fetch_batch;
    int64_t sweep_interval_ms;
    int64_t outbox_retry_ms;
    int64_t shutdown_timeout_ms;
    int64_t busy_timeout_ms;
    bool sqlite_sync_full;
    int64_t checkpoint_pages;
};

/* What a discovery subscription's callback needs to queue its verb. */
struct discovery_closure {
    struct service *svc;
    int verb; /* enum discovery_verb in discovery.c */
};

/* An endpoint and its counters (for $SRV.STATS and /metrics). */
struct endpoint_state {
    struct service *svc;
    const struct service_endpoint *def;
    char subject[SUBJECT_MAX];        /* lb.api.<service>.<endpoint>, or its partition form */
    char tenant_subject[SUBJECT_MAX]; /* unpartitioned: <subject>.> (tenant-bearing requests) */
    natsSubscription *sub;
    natsSubscription *tenant_sub;
    int64_t num_requests;
    int64_t num_errors;
    int64_t processing_ns;
    char last_error[LB_WHY_MAX + 32]; /* "<code>: <reason>" */
    double *metric_requests;
    double *metric_errors;
};

/* A durable pull consumer and the thread that fetches from it. */
struct fetcher {
    struct service *svc;
    struct bus_consumer consumer;
    char stream[SUBJECT_MAX];
    char durable[SUBJECT_MAX];
    char filter[SUBJECT_MAX];
    char domain[SUBJECT_TOKEN_MAX + 1];
    struct pull *pull; /* receives for the consumer (pull.h) */
    uv_thread_t thread;
    bool started;
    atomic_bool exited;
    bool own;           /* reads a domain the service produces (catch_up.c) */
    bool catch_up;      /* ... and runs until it has delivered everything */
    atomic_bool retire; /* it has: the thread stops (read by the fetcher thread) */
};

enum work_kind { WORK_REQUEST, WORK_EVENT, WORK_DISCOVERY };

/* What happens to a consumed message after the batch commits. */
enum disposition { DISPOSE_NONE, DISPOSE_ACK, DISPOSE_NAK };

/* How a consumed message ended, counted once its batch commits. */
enum work_outcome {
    OUTCOME_NONE,
    OUTCOME_APPLIED,
    OUTCOME_DUPLICATE,
    OUTCOME_IGNORED,
    OUTCOME_DEAD_LETTER,
    OUTCOME_RETRY
};

/* One queued message and, once handled, its outcome. */
struct work {
    struct work *next;
    enum work_kind kind;
    natsMsg *msg;                    /* owned */
    struct endpoint_state *endpoint; /* WORK_REQUEST */
    struct fetcher *fetcher;         /* WORK_EVENT */
    int discovery_verb;              /* WORK_DISCOVERY: enum in discovery.c */
    char *reply;                     /* reply body to send after commit; owned */
    bool replied;                    /* answered early: it read only committed state */
    enum lb_err reply_err;           /* LB_OK, or the error reply's code */
    enum disposition disposition;
    enum work_outcome outcome;
    int64_t nak_delay_ms;
};

struct service {
    const struct service_def *def;
    struct runtime_config cfg;
    char id[ID_LEN + 1]; /* this instance, for the discovery protocol */
    int64_t started_ms;
    uv_loop_t loop;
    uv_async_t wake; /* NATS callbacks and fetchers wake the loop with it */
    uv_signal_t sigterm;
    uv_signal_t sigint;
    uv_timer_t tick;     /* the periodic tick: see service.c for its jobs */
    uv_timer_t shutdown; /* polls until the drain is complete */
    int64_t shutdown_deadline_ms;
    struct http_server *http;
    struct store *store;
    struct bus *bus;
    struct clock clock;
    struct metrics *metrics;
    struct endpoint_state *endpoints;
    struct fetcher *fetchers;
    size_t fetcher_count;
    int partition;     /* LB_PARTITION k/N: k, or -1 when serving every tenant */
    int partitions;    /* N, or 0 */
    bool new_database; /* created by this start: consumers replay the streams (D16) */
    bool catching_up;  /* own consumers still read a new database's own stream (D28) */
    natsSubscription *discovery_subs[DISCOVERY_SUBS];
    natsSubscription *rebuild_sub; /* lb.adm.<service>.rebuild */
    bool rebuild;                  /* --rebuild: start on a new, empty database */
    void *state;                   /* def->state_size bytes for the service (service_state) */
    bool coalesced;                /* idempotent handlers left writes for def->flush */
    bool flush_failed;             /* a flush failed: the batch must roll back */
    struct discovery_closure discovery_closures[3];
    void *service_config;  /* the service's own settings (def->config), or NULL */
    uv_mutex_t queue_lock; /* guards queue_head/queue_tail */
    struct work *queue_head;
    struct work *queue_tail;
    atomic_bool stopping;           /* read by fetcher threads */
    bool ready;                     /* streams and consumers ensured, fetchers running */
    bool outbox_dirty;              /* rows may be waiting to be published */
    int64_t outbox_sent_up_to;      /* last outbox seq sent */
    int64_t outbox_forgotten_up_to; /* last outbox seq acked: to be deleted */
    int64_t outbox_deleted_up_to;   /* last outbox seq deleted */
    int64_t outbox_in_flight;       /* rows sent whose ack has not been counted */
    bool outbox_refused;            /* a publish was refused: resend when settled */
    atomic_bool closing;            /* handles are closing: publish acks must not wake */
    int64_t last_sweep_ms;
    int64_t last_consumer_check_ms;
    const char *cause_id; /* what the running handler reacts to (service_emit ids) */
    int64_t cause_time_ms;
    unsigned emit_index;
    double *metric_applied;
    double *metric_duplicates;
    double *metric_ignored;
    double *metric_dead_letters;
    double *metric_redeliveries;
    double *metric_published;
    double *metric_outbox_pending;
    double *metric_batches;
    double *metric_connected;
    double *metric_ready;
    double *metric_virtual_now;
    double *metric_checkpoints;
    double *metric_checkpoint_backstops;
};

/* dispatch.c */
void dispatch_enqueue(struct service *svc, struct work *w);
void dispatch_drain(struct service *svc);
void dispatch_flush_outbox(struct service *svc);
void dispatch_finish_outbox(struct service *svc);
void dispatch_forget_outbox(struct service *svc);
void dispatch_on_publish_ack(void *ctx);
enum lb_err dispatch_sweep(struct service *svc, int64_t now_ms);
void dispatch_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure);

/* catch_up.c */
enum lb_err catch_up_plan(struct service *svc, struct lb_why *why);
bool catch_up_holds(const struct service *svc, const struct fetcher *f);
bool catch_up_check(struct service *svc);

/* fetcher.c */
enum lb_err fetcher_start(struct fetcher *f, struct lb_why *why);
void fetcher_join(struct fetcher *f);

/* service.c */
enum lb_err runtime_load_clock(struct service *svc, struct lb_why *why);

/* discovery.c */
enum lb_err discovery_subscribe(struct service *svc, struct lb_why *why);
char *discovery_reply(struct service *svc, int verb);

/* ops.c */
void ops_handle(void *ctx, const char *path, struct http_response *ret);

#endif
