/*
 * service.c - a service's life: configure, open, connect, serve, drain, exit.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "orgtree.h"
#include "outbox.h"
#include "runtime.h"

/* How often a ready service checks that its consumers still exist. */
#define CONSUMER_CHECK_MS 5000
/* The periodic tick's longest interval. */
#define TICK_MAX_MS 1000
/* How often shutdown checks whether the drain is complete. */
#define SHUTDOWN_POLL_MS 10

#define RT(field) offsetof(struct runtime_config, field)

/* Settings shared by every service; docs/operations.md lists them. */
static const struct config_entry runtime_config_table[] = {
    {"LB_NATS_URL", "nats://127.0.0.1:4222", CONFIG_STRING, RT(nats_url), 0, 0,
     "NATS server URL(s), comma-separated"},
    {"LB_NATS_USER", "", CONFIG_STRING, RT(nats_user), 0, 0, "NATS user (from the Secret)"},
    {"LB_NATS_PASSWORD", "", CONFIG_STRING, RT(nats_password), 0, 0, "NATS password"},
    {"LB_NATS_CREDS", "", CONFIG_STRING, RT(nats_creds), 0, 0, "NATS credentials file (NKey/JWT)"},
    {"LB_NATS_CA", "", CONFIG_STRING, RT(nats_ca), 0, 0, "CA bundle; setting it turns TLS on"},
    {"LB_DATA_DIR", "./data", CONFIG_STRING, RT(data_dir), 0, 0,
     "directory of the service's SQLite database (<service>.db)"},
    {"LB_LOG_LEVEL", "info", CONFIG_STRING, RT(log_level), 0, 0, "debug, info, warn or error"},
    {"LB_CLOCK", "wall", CONFIG_STRING, RT(clock), 0, 0,
     "wall, or virtual (moved only by lb.evt.clock._sys.tick events)"},
    {"LB_HTTP_PORT", "-1", CONFIG_INT, RT(http_port), -1, 65535,
     "port of /healthz /readyz /metrics; -1 = the service's default, 0 = any free port"},
    {"LB_HTTP_BIND_ALL", "false", CONFIG_BOOL, RT(http_bind_all), 0, 0,
     "listen on all interfaces (Kubernetes) instead of 127.0.0.1"},
    {"LB_STREAM_REPLICAS", "1", CONFIG_INT, RT(stream_replicas), 1, 5,
     "JetStream replicas of created streams (3 in a cluster)"},
    {"LB_DUPLICATE_WINDOW", "2m", CONFIG_MILLIS, RT(duplicate_window_ms), 1000, 86400000,
     "how long streams remember Nats-Msg-Ids"},
    {"LB_ACK_WAIT", "30s", CONFIG_MILLIS, RT(ack_wait_ms), 100, 3600000,
     "first redelivery delay of an unacked event (BackOff doubles it each time)"},
    {"LB_MAX_DELIVER", "5", CONFIG_INT, RT(max_deliver), 2, 100,
     "deliveries after which an event is dead-lettered as poison"},
    {"LB_MAX_ACK_PENDING", "1024", CONFIG_INT, RT(max_ack_pending), 1, 100000,
     "unacked events in flight per consumer"},
    {"LB_FETCH_BATCH", "256", CONFIG_INT, RT(fetch_batch), 1, 4096, "events per pull"},
    {"LB_SWEEP_INTERVAL", "10s", CONFIG_MILLIS, RT(sweep_interval_ms), 10, 3600000,
     "how often clock-driven transitions run on the wall clock"},
    {"LB_OUTBOX_RETRY", "1s", CONFIG_MILLIS, RT(outbox_retry_ms), 10, 60000,
     "how often unpublished outbox rows are retried"},
    {"LB_SHUTDOWN_TIMEOUT", "20s", CONFIG_MILLIS, RT(shutdown_timeout_ms), 100, 600000,
     "longest drain on SIGTERM before exiting anyway"},
    {"LB_SQLITE_BUSY_TIMEOUT", "5s", CONFIG_MILLIS, RT(busy_timeout_ms), 0, 600000,
     "wait for a lock held by another process (e.g. a backup)"},
    {"LB_SQLITE_SYNC_FULL", "true", CONFIG_BOOL, RT(sqlite_sync_full), 0, 0,
     "fsync every commit (acks follow commits, so this is the durable choice)"},
    {"LB_SQLITE_CHECKPOINT_PAGES", "1000", CONFIG_INT, RT(checkpoint_pages), 0, 1000000,
     "WAL pages after which a thread of its own checkpoints, so no batch waits for it; "
     "0 = SQLite's automatic checkpoint inside the commit"},
    {"LB_PARTITION", "", CONFIG_STRING, RT(partition), 0, 0,
     "k/N: serve only the tenants NATS maps to partition k of N (docs/decisions.md D16); "
     "empty: every tenant"},
    {"LB_FAULT", "", CONFIG_STRING, RT(fault), 0, 0,
     "tests only: crash_before_publish or crash_after_publish"},
};

#define RUNTIME_CONFIG_COUNT (sizeof(runtime_config_table) / sizeof(runtime_config_table[0]))

static void print_help(const struct service_def *def)
{
    printf("lb-%s - %s\n\nUsage: lb-%s [--help | --version | --rebuild]\n\n"
           "Runs until SIGTERM or SIGINT. --rebuild moves the database aside\n"
           "(<service>.db.before-rebuild) and rebuilds it from the streams.\n"
           "Settings come from the environment:\n\n",
           def->name, def->description, def->name);
    for (size_t i = 0; i < RUNTIME_CONFIG_COUNT; i++)
        printf("  %-24s %s (default \"%s\")\n", runtime_config_table[i].env,
               runtime_config_table[i].doc, runtime_config_table[i].fallback);
    for (size_t i = 0; i < def->config_count; i++)
        printf("  %-24s %s (default \"%s\")\n", def->config[i].env, def->config[i].doc,
               def->config[i].fallback);
}

enum lb_err runtime_load_clock(struct service *svc, struct lb_why *why)
{
    static const char sql[] = "SELECT now_ms FROM lb_clock WHERE id = 1";
    sqlite3_stmt *stmt;
    int rc;

    if (svc->clock.mode != CLOCK_VIRTUAL)
        return LB_OK;
    stmt = store_stmt(svc->store, sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    rc = sqlite3_step(stmt);
    svc->clock.virtual_ms = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return lb_fail(why, store_err(rc), "reading the virtual clock");
    return LB_OK;
}

static double *counter(struct service *svc, const char *name, const char *help, const char *labels)
{
    return metrics_slot(svc->metrics, METRIC_COUNTER, name, help, labels);
}

static double *gauge(struct service *svc, const char *name, const char *help)
{
    return metrics_slot(svc->metrics, METRIC_GAUGE, name, help, "");
}

double *service_metric(struct service *svc, bool is_gauge, const char *name, const char *help)
{
    return is_gauge ? gauge(svc, name, help) : counter(svc, name, help, "");
}

static enum lb_err register_metrics(struct service *svc)
{
    char labels[SUBJECT_MAX];

    svc->metrics = metrics_new();
    if (svc->metrics == NULL)
        return LB_ENOMEM;
    for (size_t i = 0; i < svc->def->endpoint_count; i++) {
        struct endpoint_state *ep = &svc->endpoints[i];

        snprintf(labels, sizeof(labels), "endpoint=\"%s\"", ep->def->name);
        ep->metric_requests = counter(svc, "lb_requests_total", "Requests received", labels);
        ep->metric_errors =
            counter(svc, "lb_request_errors_total", "Requests answered with an error", labels);
        if (ep->metric_requests == NULL || ep->metric_errors == NULL)
            return LB_ENOMEM;
    }
    svc->metric_applied = counter(svc, "lb_events_applied_total", "Events applied", "");
    svc->metric_duplicates =
        counter(svc, "lb_events_duplicate_total", "Redelivered or replayed events skipped", "");
    svc->metric_ignored = counter(svc, "lb_events_ignored_total",
                                  "Events of a consumed domain the service has no use for", "");
    svc->metric_dead_letters =
        counter(svc, "lb_events_dead_lettered_total", "Events sent to the dead-letter subject", "");
    svc->metric_redeliveries =
        counter(svc, "lb_events_redelivered_total", "Deliveries after the first", "");
    svc->metric_published =
        counter(svc, "lb_outbox_published_total", "Outbox rows published and acked", "");
    svc->metric_batches = counter(svc, "lb_batches_total", "Batches applied by the loop", "");
    svc->metric_outbox_pending = gauge(svc, "lb_outbox_pending", "Outbox rows not yet published");
    svc->metric_connected = gauge(svc, "lb_nats_connected", "1 while connected to NATS");
    svc->metric_ready = gauge(
        svc, "lb_ready", "1 when ready: streams and consumers ensured, a new database caught up");
    svc->metric_virtual_now =
        gauge(svc, "lb_virtual_clock_seconds", "Virtual clock (0 on the wall clock)");
    svc->metric_checkpoints = counter(svc, "lb_sqlite_checkpoints_total",
                                      "WAL checkpoints run by the checkpoint thread", "");
    svc->metric_checkpoint_backstops = counter(
        svc, "lb_sqlite_checkpoint_backstops_total",
        "WAL checkpoints the loop thread ran itself (the checkpoint thread fell behind)", "");
    if (!svc->metric_checkpoints || !svc->metric_checkpoint_backstops || !svc->metric_applied ||
        !svc->metric_duplicates || !svc->metric_ignored || !svc->metric_dead_letters ||
        !svc->metric_redeliveries || !svc->metric_published || !svc->metric_batches ||
        !svc->metric_outbox_pending || !svc->metric_connected || !svc->metric_ready ||
        !svc->metric_virtual_now)
        return LB_ENOMEM;
    return LB_OK;
}

/*
 * Reads LB_PARTITION "k/N" (empty: every tenant). N must equal the partition
 * count of the NATS subject mapping (deploy/nats/partitions.conf).
 */
static enum lb_err parse_partition(struct service *svc, struct lb_why *why)
{
    const char *text = svc->cfg.partition;
    char *slash = NULL, *end = NULL;
    long k, n;

    svc->partition = -1;
    svc->partitions = 0;
    if (text == NULL || *text == '\0')
        return LB_OK;
    k = strtol(text, &slash, 10);
    n = *slash == '/' ? strtol(slash + 1, &end, 10) : 0;
    if (slash == text || *slash != '/' || end == slash + 1 || *end != '\0' || n < 1 ||
        n > SUBJECT_PARTITIONS_MAX || k < 0 || k >= n)
        return lb_fail(why, LB_EINVAL, "LB_PARTITION: \"%s\" is not k/N with 0 <= k < N <= %d",
                       text, SUBJECT_PARTITIONS_MAX);
    svc->partition = (int)k;
    svc->partitions = (int)n;
    return LB_OK;
}

/* One consumer: all of a domain, its partition k, or its platform-wide (_sys) events. */
static enum lb_err plan_fetcher(struct service *svc, const char *domain, const char *part,
                                struct lb_why *why)
{
    struct fetcher *f = &svc->fetchers[svc->fetcher_count];
    int64_t step = svc->cfg.ack_wait_ms;

    f->svc = svc;
    if (subject_stream_name(f->stream, domain) != LB_OK)
        return lb_fail(why, LB_EINVAL, "invalid domain %s", domain);
    if (part == NULL) {
        snprintf(f->durable, sizeof(f->durable), "%s-%s", svc->def->name, domain);
        snprintf(f->filter, sizeof(f->filter), "lb.evt.%s.>", domain);
    } else if (strcmp(part, SUBJECT_SYSTEM_TENANT) == 0) {
        snprintf(f->durable, sizeof(f->durable), "%s-%s-p%d-sys", svc->def->name, domain,
                 svc->partition);
        snprintf(f->filter, sizeof(f->filter), "lb.evt.%s._sys.>", domain);
    } else {
        snprintf(f->durable, sizeof(f->durable), "%s-%s-p%s", svc->def->name, domain, part);
        snprintf(f->filter, sizeof(f->filter), "lb.evt.%s.*.*.%s", domain, part);
    }
    snprintf(f->domain, sizeof(f->domain), "%s", domain);
    f->consumer = (struct bus_consumer){
        .stream = f->stream,
        .durable = f->durable,
        .filter_subject = f->filter,
        .ack_wait_ms = svc->cfg.ack_wait_ms,
        .max_deliver = svc->cfg.max_deliver,
        .max_ack_pending = svc->cfg.max_ack_pending,
    };
    /* BackOff needs fewer steps than deliveries: ack_wait, then doubling. */
    for (int64_t k = 0; k < svc->cfg.max_deliver - 1 && k < BUS_BACKOFF_MAX; k++) {
        f->consumer.backoff_ms[k] = step;
        step *= 2;
    }
    atomic_init(&f->exited, false);
    atomic_init(&f->retire, false);
    svc->fetcher_count++;
    return LB_OK;
}

/*
 * One consumer per consumed domain, plus the clock in virtual mode. A
 * partition k reads lb.evt.<domain>.*.*.<k> (the token NATS appends) and,
 * separately, the domain's platform-wide _sys events, which every
 * partition needs; clock ticks are all _sys.
 */
static enum lb_err plan_fetchers(struct service *svc, struct lb_why *why)
{
    const char *const *consumes = svc->def->consumes;
    char part[16];
    size_t n = 0;
    enum lb_err err = LB_OK;

    while (consumes != NULL && consumes[n] != NULL)
        n++;
    svc->fetchers = calloc(2 * n + 1, sizeof(*svc->fetchers));
    if (svc->fetchers == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    snprintf(part, sizeof(part), "%d", svc->partition);
    for (size_t i = 0; err == LB_OK && i < n; i++) {
        if (svc->partition < 0) {
            err = plan_fetcher(svc, consumes[i], NULL, why);
        } else {
            err = plan_fetcher(svc, consumes[i], part, why);
            if (err == LB_OK)
                err = plan_fetcher(svc, consumes[i], SUBJECT_SYSTEM_TENANT, why);
        }
    }
    if (err == LB_OK && svc->clock.mode == CLOCK_VIRTUAL)
        err = plan_fetcher(svc, "clock", svc->partition < 0 ? NULL : SUBJECT_SYSTEM_TENANT, why);
    return err;
}

static enum lb_err ensure_domain_stream(struct service *svc, const char *domain, struct lb_why *why)
{
    char name[SUBJECT_MAX];
    char subject[SUBJECT_MAX];
    struct bus_stream s;

    if (subject_stream_name(name, domain) != LB_OK)
        return lb_fail(why, LB_EINVAL, "invalid domain %s", domain);
    snprintf(subject, sizeof(subject), "lb.evt.%s.>", domain);
    s = (struct bus_stream){name, subject, (int)svc->cfg.stream_replicas,
                            svc->cfg.duplicate_window_ms};
    return bus_ensure_stream(svc->bus, &s, why);
}

/* Ensures streams and consumers and starts the fetchers; retried by the tick until it works. */
static enum lb_err setup_jetstream(struct service *svc, struct lb_why *why)
{
    struct bus_stream dlq = {"LB_DLQ", "lb.dlq.>", (int)svc->cfg.stream_replicas,
                             svc->cfg.duplicate_window_ms};
    enum lb_err err;

    if (!bus_is_connected(svc->bus))
        return lb_fail(why, LB_EUNAVAILABLE, "not connected to NATS yet");
    err = bus_ensure_stream(svc->bus, &dlq, why);
    for (const char *const *d = svc->def->produces; err == LB_OK && d && *d; d++)
        err = ensure_domain_stream(svc, *d, why);
    for (const char *const *d = svc->def->consumes; err == LB_OK && d && *d; d++)
        err = ensure_domain_stream(svc, *d, why);
    if (err == LB_OK && svc->clock.mode == CLOCK_VIRTUAL)
        err = ensure_domain_stream(svc, "clock", why);
    /* A new database (a new volume, a moved partition) rebuilds from the streams. */
    for (size_t i = 0; err == LB_OK && svc->new_database && i < svc->fetcher_count; i++)
        err = bus_delete_consumer(svc->bus, &svc->fetchers[i].consumer, why);
    if (err == LB_OK && svc->new_database) {
        log_info("new database: consumers start from the beginning of their streams");
        svc->new_database = false;
    }
    /* An own consumer exists only while a new database catches up (D28). */
    for (size_t i = 0; err == LB_OK && i < svc->fetcher_count; i++) {
        struct fetcher *f = &svc->fetchers[i];

        if (f->own && !f->catch_up)
            err = bus_delete_consumer(svc->bus, &f->consumer, why);
        else
            err = bus_ensure_consumer(svc->bus, &f->consumer, why);
    }
    for (size_t i = 0; err == LB_OK && i < svc->fetcher_count; i++) {
        if (!svc->fetchers[i].started && !catch_up_holds(svc, &svc->fetchers[i]))
            err = fetcher_start(&svc->fetchers[i], why);
    }
    if (err != LB_OK)
        return err;
    svc->ready = true;
    log_info("ready: %zu consumers, clock %s%s", svc->fetcher_count,
             svc->clock.mode == CLOCK_VIRTUAL ? "virtual" : "wall",
             svc->catching_up ? "; catching up with its own stream first" : "");
    return LB_OK;
}

/*
 * A consumer deleted under a running service (by an operator, or a NATS
 * store wiped and restored) would leave its fetcher pulling from nothing.
 * Re-creating it lets the pulls, which name the consumer, flow again; the
 * applied-id record absorbs what the new consumer delivers a second time.
 */
static void check_consumers(struct service *svc, int64_t wall_ms)
{
    struct lb_why why = {{0}};

    if (!svc->ready || wall_ms - svc->last_consumer_check_ms < CONSUMER_CHECK_MS)
        return;
    svc->last_consumer_check_ms = wall_ms;
    for (size_t i = 0; i < svc->fetcher_count; i++) {
        const struct bus_consumer *c = &svc->fetchers[i].consumer;
        bool exists = true;

        if (!svc->fetchers[i].started || atomic_load(&svc->fetchers[i].retire))
            continue;
        if (bus_consumer_backlog(svc->bus, c, &exists, NULL, &why) != LB_OK || exists)
            continue;
        log_warn("consumer %s on %s disappeared; re-creating it", c->durable, c->stream);
        if (ensure_domain_stream(svc, svc->fetchers[i].domain, &why) != LB_OK ||
            bus_ensure_consumer(svc->bus, c, &why) != LB_OK)
            log_error("cannot re-create consumer %s: %s", c->durable, why.text);
    }
}

static void on_wake(uv_async_t *handle)
{
    dispatch_drain(handle->data);
}

/*
 * The periodic tick. Its jobs:
 *  1. finish JetStream setup if NATS was not there at start;
 *  2. retry publishing outbox rows a failed publish left behind, and delete
 *     acked rows no batch has deleted yet (the service is idle);
 *  3. every CONSUMER_CHECK_MS, re-create a consumer that disappeared;
 *  4. run the clock-driven sweep on the wall clock when it is due
 *     (on the virtual clock, clock events run it instead);
 *  5. while a new database reads its own stream, see whether it reached the
 *     end, and then start the other consumers (catch_up.c).
 */
static void on_tick(uv_timer_t *timer)
{
    struct service *svc = timer->data;
    struct lb_why why = {{0}};
    int64_t now = clock_now_ms(&svc->clock);

    if (!svc->ready && setup_jetstream(svc, &why) != LB_OK)
        log_debug("JetStream not ready yet: %s", why.text);
    if (catch_up_check(svc) && setup_jetstream(svc, &why) != LB_OK) {
        log_warn("starting the other consumers: %s (retried)", why.text);
        svc->ready = false;
    }
    dispatch_flush_outbox(svc);
    dispatch_forget_outbox(svc);
    check_consumers(svc, clock_wall_ms());
    if (svc->clock.mode == CLOCK_WALL && svc->def->sweep != NULL && !svc->catching_up &&
        now - svc->last_sweep_ms >= svc->cfg.sweep_interval_ms) {
        if (store_begin(svc->store, &why) != LB_OK) {
            log_error("sweep postponed: %s", why.text);
            return;
        }
        if (dispatch_sweep(svc, now) == LB_OK && store_commit(svc->store, &why) == LB_OK) {
            dispatch_flush_outbox(svc);
            return;
        }
        store_rollback(svc->store);
    }
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static bool drain_complete(struct service *svc)
{
    for (size_t i = 0; i < svc->fetcher_count; i++) {
        if (svc->fetchers[i].started && !atomic_load(&svc->fetchers[i].exited))
            return false;
    }
    for (size_t i = 0; i < svc->def->endpoint_count; i++) {
        if (svc->endpoints[i].sub != NULL && natsSubscription_IsValid(svc->endpoints[i].sub))
            return false;
        if (svc->endpoints[i].tenant_sub != NULL &&
            natsSubscription_IsValid(svc->endpoints[i].tenant_sub))
            return false;
    }
    for (size_t i = 0; i < DISCOVERY_SUBS; i++) {
        if (svc->discovery_subs[i] != NULL && natsSubscription_IsValid(svc->discovery_subs[i]))
            return false;
    }
    if (svc->rebuild_sub != NULL && natsSubscription_IsValid(svc->rebuild_sub))
        return false;
    return true;
}

/* Polls until requests and fetchers have drained, then closes every handle. */
static void on_shutdown_poll(uv_timer_t *timer)
{
    struct service *svc = timer->data;
    bool complete = drain_complete(svc);

    dispatch_drain(svc);
    if (!complete && clock_wall_ms() < svc->shutdown_deadline_ms)
        return;
    if (!complete)
        log_warn("shutdown timeout: exiting before the drain completed");
    for (size_t i = 0; i < svc->fetcher_count; i++)
        fetcher_join(&svc->fetchers[i]);
    dispatch_drain(svc); /* what arrived while joining */
    dispatch_finish_outbox(svc);
    atomic_store(&svc->closing, true);
    http_server_close(svc->http);
    svc->http = NULL;
    uv_walk(&svc->loop, close_handle, NULL);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct service *svc = handle->data;

    if (atomic_load(&svc->stopping))
        return;
    log_info("signal %d: draining", signum);
    atomic_store(&svc->stopping, true);
    svc->ready = false;
    uv_timer_stop(&svc->tick);
    for (size_t i = 0; i < svc->def->endpoint_count; i++) {
        if (svc->endpoints[i].sub != NULL)
            natsSubscription_Drain(svc->endpoints[i].sub);
        if (svc->endpoints[i].tenant_sub != NULL)
            natsSubscription_Drain(svc->endpoints[i].tenant_sub);
    }
    if (svc->rebuild_sub != NULL)
        natsSubscription_Drain(svc->rebuild_sub);
    /* Draining lets callbacks already running finish before the loop closes its handles. */
    for (size_t i = 0; i < DISCOVERY_SUBS; i++) {
        if (svc->discovery_subs[i] != NULL)
            natsSubscription_Drain(svc->discovery_subs[i]);
    }
    svc->shutdown_deadline_ms = clock_wall_ms() + svc->cfg.shutdown_timeout_ms;
    uv_timer_start(&svc->shutdown, on_shutdown_poll, 0, SHUTDOWN_POLL_MS);
}

/* Moves <db>, <db>-wal and <db>-shm aside to <db>.before-rebuild... (kept for an operator). */
/*
 * Moves the database and its WAL files to <file>.before-rebuild, or removes them when `aside`
 * is false.
 */
static enum lb_err clear_database(const char *path, bool aside, struct lb_why *why)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        char from[4200], to[4300];
        int rc;

        snprintf(from, sizeof(from), "%s%s", path, suffixes[i]);
        snprintf(to, sizeof(to), "%s.before-rebuild%s", path, suffixes[i]);
        rc = aside ? rename(from, to) : unlink(from);
        if (rc != 0 && errno != ENOENT)
            return lb_fail(why, LB_EIO, "cannot %s %s: %s", aside ? "move aside" : "remove", from,
                           strerror(errno));
    }
    if (aside)
        log_warn("rebuild: %s moved to %s.before-rebuild; rebuilding from the streams", path, path);
    else
        log_warn("%s was not caught up with its own stream when the service stopped: "
                 "discarded, rebuilt from the start",
                 path);
    return LB_OK;
}

static enum lb_err open_database(struct service *svc, struct lb_why *why)
{
    struct store_options opts = {.sync_full = svc->cfg.sqlite_sync_full,
                                 .busy_timeout_ms = (int)svc->cfg.busy_timeout_ms,
                                 .checkpoint_pages = (int)svc->cfg.checkpoint_pages};
    char path[4096];
    enum lb_err err;

    if (mkdir(svc->cfg.data_dir, 0750) != 0 && errno != EEXIST)
        return lb_fail(why, LB_EIO, "cannot create %s: %s", svc->cfg.data_dir, strerror(errno));
    if ((size_t)snprintf(path, sizeof(path), "%s/%s.db", svc->cfg.data_dir, svc->def->name) >=
        sizeof(path))
        return lb_fail(why, LB_EINVAL, "LB_DATA_DIR is too long");
    opts.path = path;
    /*
     * A catch-up that did not finish starts over: its consumer may have delivered later own
     * events before the ones the stop left unacknowledged (those come back only after AckWait),
     * and own events must be applied in stream order (D28). Checked first, so that a rebuild
     * asked meanwhile does not move the partial database over the one kept aside.
     */
    {
        char marker[4200];

        snprintf(marker, sizeof(marker), "%s" CATCH_UP_MARKER, path);
        if (access(marker, F_OK) == 0) {
            err = clear_database(path, false, why);
            if (err != LB_OK)
                return err;
        }
    }
    /* A rebuild is asked by --rebuild or by the marker lb.adm.<service>.rebuild leaves. */
    {
        char marker[4200];

        snprintf(marker, sizeof(marker), "%s.rebuild", path);
        if (svc->rebuild || access(marker, F_OK) == 0) {
            err = clear_database(path, true, why);
            if (err != LB_OK)
                return err;
            if (unlink(marker) != 0 && errno != ENOENT)
                return lb_fail(why, LB_EIO, "cannot remove %s: %s", marker, strerror(errno));
        }
    }
    svc->new_database = access(path, F_OK) != 0;
    err = store_open(&opts, &svc->store, why);
    if (err == LB_OK)
        err = store_migrate(svc->store, svc->def->name, svc->def->migrations,
                            svc->def->migration_count, why);
    if (err == LB_OK && svc->def->org_tree)
        err =
            store_migrate(svc->store, "orgtree", orgtree_migrations, orgtree_migration_count, why);
    return err;
}

static enum lb_err subscribe_endpoints(struct service *svc, struct lb_why *why)
{
    svc->endpoints = calloc(svc->def->endpoint_count + 1, sizeof(*svc->endpoints));
    if (svc->endpoints == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    for (size_t i = 0; i < svc->def->endpoint_count; i++) {
        struct endpoint_state *ep = &svc->endpoints[i];

        ep->svc = svc;
        ep->def = &svc->def->endpoints[i];
        if (subject_api(ep->subject, svc->def->name, ep->def->name) != LB_OK)
            return lb_fail(why, LB_EINVAL, "invalid endpoint name %s", ep->def->name);
        /* lb.api.<service>.<endpoint>.<tenant> reaches the tenant's partition through the
         * NATS mapping, which appends .<k>; unpartitioned, both forms are served. */
        if ((size_t)snprintf(ep->tenant_subject, sizeof(ep->tenant_subject), "%s.>", ep->subject) >=
            sizeof(ep->tenant_subject))
            return lb_fail(why, LB_EINVAL, "endpoint subject %s is too long", ep->subject);
        if (svc->partition >= 0) {
            char plain[SUBJECT_MAX];

            memcpy(plain, ep->subject, sizeof(plain));
            if ((size_t)snprintf(ep->subject, sizeof(ep->subject), "%s.*.%d", plain,
                                 svc->partition) >= sizeof(ep->subject))
                return lb_fail(why, LB_EINVAL, "endpoint subject %s is too long", plain);
            ep->tenant_subject[0] = '\0';
        }
    }
    return LB_OK;
}

/*
 * lb.adm.<service>.rebuild (operators, `lbctl rebuild`): leaves a marker next
 * to the database and drains as on SIGTERM; the supervisor restarts the
 * process, which then moves the database aside and rebuilds it from the
 * streams. Runs on a libnats thread: it touches only the file system.
 */
static void on_rebuild_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg,
                               void *closure)
{
    struct service *svc = closure;
    char marker[4200], body[512];
    FILE *f;

    (void)nc;
    (void)sub;
    snprintf(marker, sizeof(marker), "%s/%s.db.rebuild", svc->cfg.data_dir, svc->def->name);
    f = fopen(marker, "w");
    if (f == NULL) {
        snprintf(body, sizeof(body), "cannot write %.300s: %s", marker, strerror(errno));
        if (natsMsg_GetReply(msg) != NULL)
            bus_reply_error(svc->bus, natsMsg_GetReply(msg), LB_EIO, body, NULL);
        natsMsg_Destroy(msg);
        return;
    }
    fclose(f);
    snprintf(body, sizeof(body),
             "{\"service\":\"%s\",\"instance\":\"%s\",\"status\":\"rebuild_scheduled\"}",
             svc->def->name, svc->id);
    if (natsMsg_GetReply(msg) != NULL)
        bus_reply(svc->bus, natsMsg_GetReply(msg), body, strlen(body));
    natsMsg_Destroy(msg);
    log_warn("rebuild requested: draining; the next start rebuilds from the streams");
    kill(getpid(), SIGTERM);
}

static enum lb_err start_subscriptions(struct service *svc, struct lb_why *why)
{
    char rebuild_subject[SUBJECT_MAX];
    natsStatus rs;

    snprintf(rebuild_subject, sizeof(rebuild_subject), "lb.adm.%s.rebuild", svc->def->name);
    rs = natsConnection_Subscribe(&svc->rebuild_sub, bus_conn(svc->bus), rebuild_subject,
                                  on_rebuild_request, svc);
    if (rs != NATS_OK)
        return lb_fail(why, bus_err(rs), "subscribing to %s: %s", rebuild_subject,
                       natsStatus_GetText(rs));
    for (size_t i = 0; i < svc->def->endpoint_count; i++) {
        struct endpoint_state *ep = &svc->endpoints[i];
        natsStatus s = natsConnection_QueueSubscribe(&ep->sub, bus_conn(svc->bus), ep->subject,
                                                     svc->def->name, dispatch_on_request, ep);

        if (s == NATS_OK && ep->tenant_subject[0] != '\0')
            s = natsConnection_QueueSubscribe(&ep->tenant_sub, bus_conn(svc->bus),
                                              ep->tenant_subject, svc->def->name,
                                              dispatch_on_request, ep);

        if (s != NATS_OK)
            return lb_fail(why, bus_err(s), "subscribing to %s: %s", ep->subject,
                           natsStatus_GetText(s));
    }
    return discovery_subscribe(svc, why);
}

static enum lb_err start_loop(struct service *svc, struct lb_why *why)
{
    int port = svc->cfg.http_port < 0 ? svc->def->default_http_port : (int)svc->cfg.http_port;
    int64_t tick = svc->cfg.outbox_retry_ms;
    enum lb_err err;

    if (svc->cfg.sweep_interval_ms < tick)
        tick = svc->cfg.sweep_interval_ms;
    if (tick > TICK_MAX_MS)
        tick = TICK_MAX_MS;
    if (uv_loop_init(&svc->loop) != 0 || uv_mutex_init(&svc->queue_lock) != 0)
        return lb_fail(why, LB_ENOMEM, "cannot start the event loop");
    svc->loop.data = svc; /* marks the loop as initialized for the cleanup path */
    uv_async_init(&svc->loop, &svc->wake, on_wake);
    uv_signal_init(&svc->loop, &svc->sigterm);
    uv_signal_init(&svc->loop, &svc->sigint);
    uv_timer_init(&svc->loop, &svc->tick);
    uv_timer_init(&svc->loop, &svc->shutdown);
    svc->wake.data = svc->sigterm.data = svc->sigint.data = svc;
    svc->tick.data = svc->shutdown.data = svc;
    uv_signal_start(&svc->sigterm, on_signal, SIGTERM);
    uv_signal_start(&svc->sigint, on_signal, SIGINT);
    uv_timer_start(&svc->tick, on_tick, (uint64_t)tick, (uint64_t)tick);
    err = http_server_start(&svc->loop, port, svc->cfg.http_bind_all, ops_handle, svc, &svc->http,
                            why);
    if (err != LB_OK)
        return err;
    log_info("HTTP probes and metrics on port %d", http_server_port(svc->http));
    return LB_OK;
}

static enum lb_err service_start(struct service *svc, struct lb_why *why)
{
    struct bus_options bopts;
    char conn_name[SUBJECT_MAX];
    enum clock_mode mode;
    enum lb_err err;

    if (clock_mode_parse(svc->cfg.clock, &mode) != LB_OK)
        return lb_fail(why, LB_EINVAL, "LB_CLOCK: \"%s\" is neither wall nor virtual",
                       svc->cfg.clock);
    clock_init(&svc->clock, mode, 0);
    svc->started_ms = clock_wall_ms();
    id_new(svc->id, svc->started_ms);
    err = parse_partition(svc, why);
    if (err == LB_OK && svc->def->state_size > 0 &&
        (svc->state = calloc(1, svc->def->state_size)) == NULL)
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = open_database(svc, why);
    if (err == LB_OK)
        err = runtime_load_clock(svc, why);
    if (err == LB_OK)
        err = subscribe_endpoints(svc, why);
    if (err == LB_OK)
        err = register_metrics(svc) == LB_OK ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = plan_fetchers(svc, why);
    if (err == LB_OK)
        err = catch_up_plan(svc, why);
    if (err != LB_OK)
        return err;
    if (svc->partition >= 0)
        snprintf(conn_name, sizeof(conn_name), "lb-%s-p%d", svc->def->name, svc->partition);
    else
        snprintf(conn_name, sizeof(conn_name), "lb-%s", svc->def->name);
    bopts = (struct bus_options){
        .url = svc->cfg.nats_url,
        .name = conn_name,
        .user = svc->cfg.nats_user,
        .password = svc->cfg.nats_password,
        .creds_file = svc->cfg.nats_creds,
        .ca_file = svc->cfg.nats_ca,
        .async_window = OUTBOX_WINDOW,
        .on_ack = dispatch_on_publish_ack,
        .on_ack_ctx = svc,
    };
    err = bus_connect(&bopts, &svc->bus, why);
    if (err == LB_OK)
        err = start_loop(svc, why);
    if (err == LB_OK)
        err = start_subscriptions(svc, why);
    if (err != LB_OK)
        return err;
    svc->outbox_dirty = true; /* rows a previous run committed but did not publish */
    if (setup_jetstream(svc, why) != LB_OK)
        log_warn("JetStream not ready yet, retrying: %s", why->text);
    return LB_OK;
}

static void service_release(struct service *svc)
{
    for (size_t i = 0; i < svc->fetcher_count; i++)
        fetcher_join(&svc->fetchers[i]);
    for (size_t i = 0; svc->endpoints && i < svc->def->endpoint_count; i++) {
        natsSubscription_Destroy(svc->endpoints[i].sub);
        natsSubscription_Destroy(svc->endpoints[i].tenant_sub);
    }
    for (size_t i = 0; i < DISCOVERY_SUBS; i++)
        natsSubscription_Destroy(svc->discovery_subs[i]);
    natsSubscription_Destroy(svc->rebuild_sub);
    if (svc->bus != NULL)
        bus_flush(svc->bus, 1000);
    bus_free(svc->bus);
    store_close(svc->store);
    metrics_free(svc->metrics);
    free(svc->fetchers);
    free(svc->endpoints);
    free(svc->state);
    if (svc->service_config != NULL)
        config_release(svc->def->config, svc->def->config_count, svc->service_config);
    free(svc->service_config);
    config_release(runtime_config_table, RUNTIME_CONFIG_COUNT, &svc->cfg);
}

static int load_config(struct service *svc, struct lb_why *why)
{
    enum log_level level;
    enum lb_err err;

    err = config_load(runtime_config_table, RUNTIME_CONFIG_COUNT, &svc->cfg, why);
    if (err != LB_OK)
        return err;
    if (svc->def->config_count > 0) {
        svc->service_config = calloc(1, svc->def->config_size);
        if (svc->service_config == NULL)
            return lb_fail(why, LB_ENOMEM, "out of memory");
        err = config_load(svc->def->config, svc->def->config_count, svc->service_config, why);
        if (err != LB_OK) {
            free(svc->service_config);
            svc->service_config = NULL;
            return err;
        }
    }
    if (log_level_parse(svc->cfg.log_level, &level) != LB_OK)
        return lb_fail(why, LB_EINVAL, "LB_LOG_LEVEL: \"%s\" is not debug, info, warn or error",
                       svc->cfg.log_level);
    log_init(svc->def->name, level, NULL);
    return LB_OK;
}

int service_main(const struct service_def *def, int argc, char **argv)
{
    struct service *svc;
    struct lb_why why = {{0}};
    int status = 0;

    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        print_help(def);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("lb-%s %s\n", def->name, LB_VERSION);
        return 0;
    }
    log_init(def->name, LB_LOG_INFO, NULL);
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "--rebuild") != 0)) {
        log_error("unknown argument %s (try --help)", argv[1]);
        return 2;
    }
    svc = calloc(1, sizeof(*svc));
    if (svc == NULL)
        return 1;
    svc->def = def;
    svc->rebuild = argc == 2;
    atomic_init(&svc->stopping, false);
    atomic_init(&svc->closing, false);
    signal(SIGPIPE, SIG_IGN);
    if (load_config(svc, &why) != LB_OK) {
        log_error("configuration: %s", why.text);
        free(svc);
        return 2;
    }
    if (service_start(svc, &why) != LB_OK) {
        log_error("cannot start: %s", why.text);
        status = 1;
        if (svc->loop.data == svc) {
            atomic_store(&svc->closing, true);
            http_server_close(svc->http);
            svc->http = NULL;
            uv_walk(&svc->loop, close_handle, NULL);
        }
    } else {
        log_info("started %s %s (instance %s)", def->name, LB_VERSION, svc->id);
        uv_run(&svc->loop, UV_RUN_DEFAULT);
        log_info("stopped");
    }
    if (svc->loop.data == svc) {
        uv_run(&svc->loop, UV_RUN_DEFAULT); /* let close callbacks run */
        uv_loop_close(&svc->loop);
        uv_mutex_destroy(&svc->queue_lock);
    }
    service_release(svc);
    free(svc);
    return status;
}
