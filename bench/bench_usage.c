/*
 * bench_usage.c - the usage service (build/lb-usage) measured against a raw
 * baseline in the same run on the same machine.
 *
 *   ingestion  N devices (over a few customers, each associated with a user)
 *              installed through directory + agents events and applied; then
 *              a backlog of heartbeats (round robin over the devices, each
 *              newer than the last) published with async JetStream publish
 *              WHILE THE SERVICE IS STOPPED, and timed from the service's
 *              start until lb_events_applied_total counts them all (applied,
 *              committed, acked; start-up included). Repeated for a few
 *              LB_FETCH_BATCH / LB_MAX_ACK_PENDING settings.
 *              Raw baseline, same messages, same run: a plain C loop pulling
 *              256 at a time, parsing each event (cJSON), coalescing per
 *              device, one SQLite transaction per fetched batch upserting
 *              last_seen per device (WAL, synchronous=FULL as the service),
 *              then acking each message after the commit.
 *   sweep      (on a fresh nats-server, so that nothing but the tick is
 *              consumed) the inactivity sweep over 1,000,000 users (1,000 customers of
 *              1,000 users; half of them hold a seat; 10,000 of those are
 *              due), written straight into usage.db while the service is
 *              stopped, into the schema its own migrations made at a first
 *              start; then one clock tick (LB_CLOCK=virtual), timed until the
 *              10,000 releases are committed (lb_events_applied_total counts
 *              the tick) and their events published (lb_outbox_published_total)
 *   RSS        VmHWM / VmRSS of lb-usage (/proc/<pid>/status) under each load
 *
 * Targets (issue 5 item 11): ingestion >= 50 % of raw and >= 50,000
 * signals/s; the sweep < 1 s. Usage: bench_usage [--quick] [--ingestion | --sweep]
 * (--quick: a tenth; --ingestion, --sweep: that run only; LB_BINARY_DIR picks the lb-usage
 * to measure)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "clock.h"
#include "envelope.h"
#include "harness.h"
#include "ids.h"

/* Sizes of each run (--quick divides them by 10). */
static int device_count = 10000;
static int heartbeat_count = 500000;
static int user_total = 1000000;
static int due_count = 10000;
/* --ingestion, --sweep: that run only (e.g. to compare two builds through LB_BINARY_DIR). */
static bool ingestion_only;
static bool sweep_only;

#define CUSTOMERS       10   /* customers of the ingestion run */
#define SWEEP_CUSTOMERS 1000 /* customers of the sweep run */
#define RAW_BATCH       256
#define T0              "2026-11-22T10:00:00.000Z"
#define DAY_MS          86400000LL
#define TENANT          "dist-1"
#define SEED_TIMEOUT_MS 600000

/* The runtime settings tried for the ingestion run. */
static const struct setting {
    const char *fetch_batch;
    const char *max_ack_pending;
} settings[] = {
    {"256", "1024"},   /* the runtime's defaults */
    {"256", "4096"},   /* usage's defaults (services/usage/main.c) */
    {"1024", "8192"},  /* larger batches: fewer commits */
    {"4096", "16384"}, /* the largest batch the runtime accepts */
};
#define SETTING_COUNT (sizeof(settings) / sizeof(settings[0]))

/* ---- helpers ------------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static long proc_kib(pid_t pid, const char *field)
{
    char path[64];
    char line[256];
    long kib = -1;
    size_t n = strlen(field);
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kib = strtol(line + n + 1, NULL, 10);
            break;
        }
    if (f)
        fclose(f);
    return kib;
}

/* CPU time (user + system) the process has used so far, in seconds; -1 when unreadable. */
static double proc_cpu_s(pid_t pid)
{
    char path[64];
    char buf[1024];
    unsigned long utime = 0, stime = 0;
    const char *p;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime): the 12th and 13th after the command name's ")". */
    p = strrchr(buf, ')');
    for (int field = 3; p != NULL && field <= 15; field++) {
        char *end;

        p = strchr(p + 1, ' ');
        if (p != NULL && field == 14)
            utime = strtoul(p + 1, &end, 10);
        else if (p != NULL && field == 15)
            stime = strtoul(p + 1, &end, 10);
    }
    if (p == NULL)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double metric0(int port, const char *sample)
{
    double v = harness_metric(port, sample);

    return v < 0 ? 0 : v;
}

/* Platform events the service is done with (applied, duplicate, dead-lettered or ignored);
 * its own events, read back only while a new database catches up (D28), are not counted. */
static double handled(int port)
{
    return metric0(port, "lb_events_applied_total") + metric0(port, "lb_events_duplicate_total") +
           metric0(port, "lb_events_dead_lettered_total") +
           metric0(port, "lb_events_ignored_total") - metric0(port, "lb_usage_own_events_total");
}

/*
 * Waits until the service handled `count` events (polling every `poll_ms`);
 * returns the largest VmRSS seen meanwhile (KiB).
 */
static long wait_handled(const struct service_proc *svc, double count, int poll_ms)
{
    int64_t deadline = clock_mono_ns() + (int64_t)SEED_TIMEOUT_MS * 1000000;
    long rss_max = 0;

    for (;;) {
        long rss = proc_kib(svc->pid, "VmRSS");

        if (rss > rss_max)
            rss_max = rss;
        if (handled(svc->http_port) >= count)
            break;
        if (clock_mono_ns() > deadline)
            fail_msg("usage handled %.0f of %.0f events", handled(svc->http_port), count);
        sleep_ms(poll_ms);
    }
    return rss_max;
}

/* Waits until `durable` on `stream` has nothing pending or unacknowledged (acks follow
 * commits). Robust where counting is not: a batch retried after a failed commit. */
static void wait_consumer_idle(jsCtx *js, const char *stream, const char *durable)
{
    int64_t deadline = clock_mono_ns() + (int64_t)SEED_TIMEOUT_MS * 1000000;

    for (;;) {
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        bool idle = js_GetConsumerInfo(&ci, js, stream, durable, NULL, &jerr) == NATS_OK &&
                    ci->NumPending == 0 && ci->NumAckPending == 0;

        jsConsumerInfo_Destroy(ci);
        if (idle)
            return;
        if (clock_mono_ns() > deadline)
            fail_msg("%s on %s did not catch up", durable, stream);
        sleep_ms(20);
    }
}

static void wait_metric_at_most(int port, const char *sample, double value)
{
    int64_t deadline = clock_mono_ns() + (int64_t)SEED_TIMEOUT_MS * 1000000;

    while (harness_metric(port, sample) > value) {
        if (clock_mono_ns() > deadline)
            fail_msg("%s stayed at %.0f > %.0f", sample, harness_metric(port, sample), value);
        sleep_ms(20);
    }
}

static void wait_metric(int port, const char *sample, double value, int poll_ms)
{
    int64_t deadline = clock_mono_ns() + (int64_t)SEED_TIMEOUT_MS * 1000000;

    while (harness_metric(port, sample) < value) {
        if (clock_mono_ns() > deadline)
            fail_msg("%s stayed at %.0f < %.0f", sample, harness_metric(port, sample), value);
        sleep_ms(poll_ms);
    }
}

static jsCtx *async_js(natsConnection *nc)
{
    jsOptions jo;
    jsCtx *js = NULL;

    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    jo.PublishAsync.StallWait = SEED_TIMEOUT_MS;
    natsConnection_JetStream(&js, nc, &jo);
    return js;
}

static void publish_complete(jsCtx *js)
{
    jsPubOptions po;

    jsPubOptions_Init(&po);
    po.MaxWait = SEED_TIMEOUT_MS;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK)
        fail_msg("publish acks did not come");
}

/* Publishes one CloudEvent asynchronously (a fresh id, also its Nats-Msg-Id). */
static void publish_at(jsCtx *js, const char *subject, const char *type, const char *tenant,
                       int64_t at_ms, const char *data)
{
    char id[ID_LEN + 1];
    char time[32];
    char *event;
    natsMsg *msg = NULL;

    id_new(id, clock_wall_ms());
    envelope_format_time(at_ms, time);
    event = harness_event(id, type, tenant, time, data);
    natsMsg_Create(&msg, subject, NULL, event, (int)strlen(event));
    natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
    if (js_PublishMsgAsync(js, &msg, NULL) != NATS_OK)
        fail_msg("async publish on %s failed", subject);
    natsMsg_Destroy(msg);
    free(event);
}

static void domain_event(jsCtx *js, const char *domain, const char *name, int64_t at_ms,
                         const char *data)
{
    char subject[128];
    char type[128];

    snprintf(subject, sizeof(subject), "lb.evt.%s." TENANT ".%s", domain, name);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    publish_at(js, subject, type, TENANT, at_ms, data);
}

static void tick(jsCtx *js, int64_t at_ms)
{
    char now[32];
    char data[64];

    envelope_format_time(at_ms, now);
    snprintf(data, sizeof(data), "{\"now\":\"%s\"}", now);
    publish_at(js, "lb.evt.clock._sys.tick", "licensebus.clock.tick.v1", "_sys", at_ms, data);
}

/* Heartbeat i of a backlog: device i % device_count, at base + i ms (always newer). */
static void heartbeats(jsCtx *js, const char *subject, int64_t base_ms)
{
    char data[64];

    for (int i = 0; i < heartbeat_count; i++) {
        snprintf(data, sizeof(data), "{\"device\":\"d-%05d\"}", i % device_count);
        publish_at(js, subject, "licensebus.signals.heartbeat.v1", TENANT, base_ms + i, data);
    }
    publish_complete(js);
}

static void start_usage(struct service_proc *svc, const struct nats_server *ns, const char *data,
                        const struct setting *set)
{
    char fetch[64];
    char pending[64];
    /* Without a setting, the service's own defaults. */
    const char *env[] = {"LB_CLOCK=virtual", "LB_LOG_LEVEL=warn", set ? fetch : NULL, pending,
                         NULL};

    if (set != NULL) {
        snprintf(fetch, sizeof(fetch), "LB_FETCH_BATCH=%s", set->fetch_batch);
        snprintf(pending, sizeof(pending), "LB_MAX_ACK_PENDING=%s", set->max_ack_pending);
    }
    harness_service_start(svc, "usage", ns, data, env);
}

/* ---- (a) ingestion -------------------------------------------------------------------- */

/* dist-1 -> cust-0..9; device_count/2 users, each with one business and one personal device. */
static void install_devices(jsCtx *js, const struct service_proc *svc, int64_t t0)
{
    char data[256];
    int users = device_count / 2;
    int64_t t = clock_mono_ns();

    domain_event(js, "directory", "org_created", t0,
                 "{\"org\":\"" TENANT "\",\"parent\":null,\"name\":\"Dist\",\"kind\":"
                 "\"distributor\"}");
    for (int c = 0; c < CUSTOMERS; c++) {
        snprintf(data, sizeof(data),
                 "{\"org\":\"cust-%d\",\"parent\":\"" TENANT "\",\"name\":\"Customer %d\","
                 "\"kind\":\"customer\"}",
                 c, c);
        domain_event(js, "directory", "org_created", t0, data);
    }
    for (int u = 0; u < users; u++) {
        snprintf(data, sizeof(data),
                 "{\"user\":\"u-%05d\",\"org\":\"cust-%d\",\"email\":\"u%d@c%d.example\","
                 "\"display_name\":\"User %d\"}",
                 u, u % CUSTOMERS, u, u % CUSTOMERS, u);
        domain_event(js, "directory", "user_created", t0, data);
    }
    publish_complete(js);
    wait_consumer_idle(js, "LB_DIRECTORY", "usage-directory");
    /* Devices and their associations: one stream (agents), so in order. */
    for (int d = 0; d < device_count; d++) {
        snprintf(data, sizeof(data),
                 "{\"device\":\"d-%05d\",\"org\":\"cust-%d\",\"kind\":\"%s\",\"hostname\":"
                 "\"host-%05d\"}",
                 d, (d / 2) % CUSTOMERS, d % 2 ? "personal" : "business", d);
        domain_event(js, "agents", "device_installed", t0, data);
        snprintf(data, sizeof(data), "{\"device\":\"d-%05d\",\"user\":\"u-%05d\"}", d, d / 2);
        domain_event(js, "agents", "device_associated", t0, data);
    }
    publish_complete(js);
    wait_consumer_idle(js, "LB_AGENTS", "usage-agents");
    /* ... and usage's own events (its journal) stored before the service stops. */
    wait_metric_at_most(svc->http_port, "lb_outbox_pending", 0);
    if (metric0(svc->http_port, "lb_events_dead_lettered_total") > 0)
        fail_msg("installing devices dead-lettered %.0f events",
                 metric0(svc->http_port, "lb_events_dead_lettered_total"));
    printf("  installed %d devices of %d users over %d customers (directory + agents events, "
           "%.0f events applied): %.1f s\n",
           device_count, users, CUSTOMERS, 1 + CUSTOMERS + users + 2.0 * device_count,
           (double)(clock_mono_ns() - t) / 1e9);
}

/* One device seen in a raw batch: its latest heartbeat. */
struct raw_seen {
    char device[64];
    int64_t ms;
};

/*
 * The raw baseline: pull 256, parse, coalesce per device, one transaction of
 * upserts, commit, ack each. The table holds the installed devices already.
 */
static double raw_ingest(natsConnection *nc, jsCtx *js, const char *data_dir, int64_t base_ms,
                         double *ret_cpu_us)
{
    static const char upsert[] =
        "INSERT INTO devices (tenant, device, last_seen_ms) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (tenant, device) DO UPDATE SET last_seen_ms = excluded.last_seen_ms "
        "WHERE excluded.last_seen_ms > devices.last_seen_ms";
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    const char *subjects[] = {"raw.sig.>"};
    natsSubscription *sub = NULL;
    struct raw_seen seen[RAW_BATCH];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char path[300];
    char device[16];
    int got = 0;
    double cpu;
    int64_t t;

    jsStreamConfig_Init(&cfg);
    cfg.Name = "RAW_SIGNALS";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    if (js_AddStream(&si, js, &cfg, NULL, NULL) != NATS_OK)
        fail_msg("cannot create stream RAW_SIGNALS");
    jsStreamInfo_Destroy(si);
    t = clock_mono_ns();
    heartbeats(js, "raw.sig." TENANT ".heartbeat", base_ms);
    printf("  published %d heartbeats (raw stream): %.0f events/s\n", heartbeat_count,
           heartbeat_count / ((double)(clock_mono_ns() - t) / 1e9));

    snprintf(path, sizeof(path), "%s/raw.db", data_dir);
    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE devices (tenant TEXT NOT NULL, device TEXT NOT NULL,"
                 " last_seen_ms INTEGER NOT NULL, PRIMARY KEY (tenant, device)) WITHOUT ROWID",
                 NULL, NULL, NULL);
    if (sqlite3_prepare_v2(db, upsert, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int d = 0; d < device_count; d++) {
        snprintf(device, sizeof(device), "d-%05d", d);
        sqlite3_bind_text(stmt, 1, TENANT, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, device, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, 1);
        sqlite3_step(stmt);
        sqlite3_reset(stmt);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

    if (js_PullSubscribe(&sub, js, "raw.sig.>", "raw", NULL, NULL, NULL) != NATS_OK)
        fail_msg("raw pull subscribe failed");
    cpu = proc_cpu_s(getpid());
    t = clock_mono_ns();
    while (got < heartbeat_count) {
        natsMsgList list = {0};
        int n = 0;

        if (natsSubscription_Fetch(&list, sub, RAW_BATCH, 5000, NULL) != NATS_OK)
            fail_msg("raw fetch stalled at %d", got);
        for (int i = 0; i < list.Count; i++) {
            cJSON *ev = cJSON_ParseWithLength(natsMsg_GetData(list.Msgs[i]),
                                              (size_t)natsMsg_GetDataLength(list.Msgs[i]));
            const char *dev = cJSON_GetStringValue(
                cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "data"), "device"));
            const char *time = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "time"));
            int64_t ms = 0;
            int k;

            if (dev == NULL || time == NULL || envelope_parse_time(time, &ms) != LB_OK) {
                cJSON_Delete(ev);
                fail_msg("raw: a malformed heartbeat");
                continue; /* not reached: fail_msg ends the test */
            }
            for (k = 0; k < n && strcmp(seen[k].device, dev) != 0; k++)
                ;
            if (k == n) {
                snprintf(seen[n].device, sizeof(seen[n].device), "%s", dev);
                seen[n++].ms = ms;
            } else if (ms > seen[k].ms) {
                seen[k].ms = ms;
            }
            cJSON_Delete(ev);
        }
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (int k = 0; k < n; k++) {
            sqlite3_bind_text(stmt, 1, TENANT, -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 2, seen[k].device, -1, SQLITE_STATIC);
            sqlite3_bind_int64(stmt, 3, seen[k].ms);
            if (sqlite3_step(stmt) != SQLITE_DONE)
                fail_msg("raw upsert: %s", sqlite3_errmsg(db));
            sqlite3_reset(stmt);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            fail_msg("raw commit: %s", sqlite3_errmsg(db));
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], NULL);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    natsConnection_Flush(nc);
    t = clock_mono_ns() - t;
    *ret_cpu_us = (proc_cpu_s(getpid()) - cpu) * 1e6 / heartbeat_count;
    natsSubscription_Destroy(sub);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    js_DeleteStream(js, "RAW_SIGNALS", NULL, NULL);
    return heartbeat_count / ((double)t / 1e9);
}

struct ingest_result {
    double per_sec;
    long rss_max_kib;
    long hwm_kib;
    double coalesced;
    double users_coalesced;
    double flush_writes;
    double cpu_us; /* the service's CPU time per signal (start-up included), in µs */
    double batches;
};

/* The backlog published while the service is stopped, then consumed from its start. */
static void service_ingest(jsCtx *js, const struct nats_server *ns, struct service_proc *svc,
                           const char *data_dir, const struct setting *set, int64_t base_ms,
                           struct ingest_result *r)
{
    int64_t t;

    harness_service_stop(svc, SIGTERM, 30000);
    js_PurgeStream(js, "LB_SIGNALS", NULL, NULL);
    t = clock_mono_ns();
    heartbeats(js, "lb.evt.signals." TENANT ".heartbeat", base_ms);
    printf("  published %d heartbeats (LB_SIGNALS, service stopped): %.0f events/s\n",
           heartbeat_count, heartbeat_count / ((double)(clock_mono_ns() - t) / 1e9));
    t = clock_mono_ns();
    start_usage(svc, ns, data_dir, set);
    r->rss_max_kib = wait_handled(svc, heartbeat_count, 5);
    r->per_sec = heartbeat_count / ((double)(clock_mono_ns() - t) / 1e9);
    r->hwm_kib = proc_kib(svc->pid, "VmHWM");
    r->coalesced = metric0(svc->http_port, "lb_usage_signals_coalesced_total");
    r->users_coalesced = metric0(svc->http_port, "lb_usage_signal_users_coalesced_total");
    r->flush_writes = metric0(svc->http_port, "lb_usage_signal_flush_writes_total");
    r->cpu_us = proc_cpu_s(svc->pid) * 1e6 / heartbeat_count;
    r->batches = metric0(svc->http_port, "lb_batches_total");
    if (metric0(svc->http_port, "lb_events_applied_total") < heartbeat_count ||
        metric0(svc->http_port, "lb_events_dead_lettered_total") > 0)
        fail_msg("heartbeats: %.0f applied, %.0f dead-lettered",
                 metric0(svc->http_port, "lb_events_applied_total"),
                 metric0(svc->http_port, "lb_events_dead_lettered_total"));
}

static void bench_ingestion(natsConnection *nc, jsCtx *js, const struct nats_server *ns,
                            const char *data_dir, int64_t t0)
{
    struct service_proc svc = {0};
    struct ingest_result best = {0};
    const struct setting *best_set = &settings[0];
    double raw_cpu_us = 0;
    double raw;

    printf("signal ingestion: %d heartbeats over %d devices (targets: >= 50 %% of raw, >= "
           "50,000 signals/s)\n",
           heartbeat_count, device_count);
    start_usage(&svc, ns, data_dir, NULL);
    tick(js, t0);
    publish_complete(js);
    install_devices(js, &svc, t0);

    raw = raw_ingest(nc, js, data_dir, t0 + 1000, &raw_cpu_us);
    printf("  raw: fetch %d + parse + coalesce + one upsert transaction per batch + ack: %.0f "
           "signals/s, %.1f µs CPU each\n",
           RAW_BATCH, raw, raw_cpu_us);
    for (size_t k = 0; k < SETTING_COUNT; k++) {
        struct ingest_result r = {0};

        /* Each round's heartbeats are newer than the last round's: every one moves a time. */
        service_ingest(js, ns, &svc, data_dir, &settings[k],
                       t0 + 1000 + (int64_t)(k + 1) * 2 * heartbeat_count, &r);
        printf("  service LB_FETCH_BATCH=%-4s LB_MAX_ACK_PENDING=%-5s %8.0f signals/s  ratio "
               "%.2f  %.1f µs CPU each  (%.0f batches, %.0f coalesced per device, %.0f per user, "
               "%.0f flush writes; VmRSS max %ld KiB, VmHWM %ld KiB)\n",
               settings[k].fetch_batch, settings[k].max_ack_pending, r.per_sec, r.per_sec / raw,
               r.cpu_us, r.batches, r.coalesced, r.users_coalesced, r.flush_writes, r.rss_max_kib,
               r.hwm_kib);
        if (r.per_sec > best.per_sec) {
            best = r;
            best_set = &settings[k];
        }
    }
    printf("  best: LB_FETCH_BATCH=%s LB_MAX_ACK_PENDING=%s: %.0f signals/s = %.2f of raw "
           "(%s, %s)\n",
           best_set->fetch_batch, best_set->max_ack_pending, best.per_sec, best.per_sec / raw,
           best.per_sec >= 0.5 * raw ? "ratio target MET" : "ratio target NOT MET",
           best.per_sec >= 50000 ? "50k/s target MET" : "50k/s target NOT MET");
    harness_service_stop(&svc, SIGTERM, 30000);
}

/* ---- (b) sweep ---------------------------------------------------------------------------- */

static sqlite3 *open_db(const char *data_dir)
{
    char path[300];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/usage.db", data_dir);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        fail_msg("cannot open %s", path);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
}

static int64_t count_rows(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    if (sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
}

/*
 * SWEEP_CUSTOMERS customers of user_total/SWEEP_CUSTOMERS users each (contiguous ids),
 * one users-basis subscription each; even users hold a seat of it; users whose
 * number is a multiple of 100 (so due_count of them, spread over every customer) were
 * last active 31 days before `now`, the others 1 day before.
 */
static void seed_users(sqlite3 *db, int64_t now)
{
    static const char ins_user[] =
        "INSERT INTO users (tenant, user, org, customer, known, email, display_name, seat_count, "
        "created_ms, last_active_ms) VALUES (?1, ?2, ?3, ?3, 1, ?4, ?5, ?6, ?7, ?8)";
    static const char ins_seat[] = "INSERT INTO seats (tenant, subscription, user, grp, customer, "
                                   "assigned_ms) VALUES (?1, ?2, ?3, 'g-1', ?4, ?5)";
    static const char ins_sub[] =
        "INSERT INTO subscriptions (tenant, subscription, customer, package, seat_basis, "
        "quantity, status, over, updated_ms) VALUES (?1, ?2, ?3, 'core', 'users', ?4, 'active', "
        "0, ?5)";
    sqlite3_stmt *user = NULL, *seat = NULL, *sub = NULL;
    int per_customer = user_total / SWEEP_CUSTOMERS;
    int64_t created = now - 60 * DAY_MS;
    char id[32], customer[32], subscription[32], email[64], name[64];
    char *triggers;
    char *drops;
    int64_t t = clock_mono_ns();

    exec(db, "PRAGMA synchronous=OFF; BEGIN");
    /* The journal's triggers (services/usage/store.c) would note a million rows and leave their
     * pages free among the users': a seeded database has nothing to announce. Off while
     * seeding, as they were made (a build without them, through LB_BINARY_DIR, has none). */
    triggers = sqlite3_mprintf("%s", "");
    drops = sqlite3_mprintf("%s", "");
    {
        sqlite3_stmt *list = NULL;

        if (sqlite3_prepare_v2(db, "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'", -1,
                               &list, NULL) != SQLITE_OK)
            fail_msg("listing triggers: %s", sqlite3_errmsg(db));
        while (sqlite3_step(list) == SQLITE_ROW) {
            char *t_more = sqlite3_mprintf("%s%s;", triggers, sqlite3_column_text(list, 1));
            char *d_more =
                sqlite3_mprintf("%sDROP TRIGGER %s;", drops, sqlite3_column_text(list, 0));

            sqlite3_free(triggers);
            sqlite3_free(drops);
            triggers = t_more;
            drops = d_more;
        }
        sqlite3_finalize(list);
    }
    exec(db, drops);
    sqlite3_free(drops);
    if (sqlite3_prepare_v2(db, ins_user, -1, &user, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ins_seat, -1, &seat, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ins_sub, -1, &sub, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    for (int i = 0; i < user_total; i++) {
        bool licensed = i % 2 == 0;
        bool due = i % (user_total / due_count) == 0;

        snprintf(id, sizeof(id), "u-%07d", i);
        snprintf(customer, sizeof(customer), "cust-%04d", i / per_customer);
        snprintf(subscription, sizeof(subscription), "sub-%04d", i / per_customer);
        snprintf(email, sizeof(email), "user%d@c%d.example", i, i / per_customer);
        snprintf(name, sizeof(name), "User %d", i);
        if (i % per_customer == 0) {
            sqlite3_bind_text(sub, 1, TENANT, -1, SQLITE_STATIC);
            sqlite3_bind_text(sub, 2, subscription, -1, SQLITE_STATIC);
            sqlite3_bind_text(sub, 3, customer, -1, SQLITE_STATIC);
            sqlite3_bind_int64(sub, 4, per_customer);
            sqlite3_bind_int64(sub, 5, created);
            if (sqlite3_step(sub) != SQLITE_DONE)
                fail_msg("insert subscription: %s", sqlite3_errmsg(db));
            sqlite3_reset(sub);
        }
        sqlite3_bind_text(user, 1, TENANT, -1, SQLITE_STATIC);
        sqlite3_bind_text(user, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(user, 3, customer, -1, SQLITE_STATIC);
        sqlite3_bind_text(user, 4, email, -1, SQLITE_STATIC);
        sqlite3_bind_text(user, 5, name, -1, SQLITE_STATIC);
        sqlite3_bind_int(user, 6, licensed ? 1 : 0);
        sqlite3_bind_int64(user, 7, created);
        sqlite3_bind_int64(user, 8, due ? now - 31 * DAY_MS : now - DAY_MS);
        if (sqlite3_step(user) != SQLITE_DONE)
            fail_msg("insert user: %s", sqlite3_errmsg(db));
        sqlite3_reset(user);
        if (licensed) {
            sqlite3_bind_text(seat, 1, TENANT, -1, SQLITE_STATIC);
            sqlite3_bind_text(seat, 2, subscription, -1, SQLITE_STATIC);
            sqlite3_bind_text(seat, 3, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(seat, 4, customer, -1, SQLITE_STATIC);
            sqlite3_bind_int64(seat, 5, created);
            if (sqlite3_step(seat) != SQLITE_DONE)
                fail_msg("insert seat: %s", sqlite3_errmsg(db));
            sqlite3_reset(seat);
        }
    }
    sqlite3_finalize(user);
    sqlite3_finalize(seat);
    sqlite3_finalize(sub);
    exec(db, triggers);
    sqlite3_free(triggers);
    exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
    printf("  seeded %d users (%d licensed, %d of them due) of %d customers into usage.db with "
           "sqlite3 while the service was stopped (schema of its own migrations): %.1f s\n",
           user_total, user_total / 2, due_count, SWEEP_CUSTOMERS,
           (double)(clock_mono_ns() - t) / 1e9);
}

/* The sweep's query (services/usage/store.c usage_store_due_release, less `rev`, which older
 * builds compared through LB_BINARY_DIR lack), planned and timed alone. */
static const char due_sql[] =
    "SELECT tenant, user, customer, last_active_ms, seat_count FROM users "
    "INDEXED BY users_due_release "
    "WHERE seat_count > 0 AND released_ms IS NULL AND deleted_ms IS NULL "
    "AND last_active_ms <= ? ORDER BY last_active_ms, tenant, user LIMIT ?";

/* A recount the sweep makes per customer touched (usage_store_consumption's first query). */
static const char holders_sql[] = "SELECT COUNT(DISTINCT seats.user) FROM seats JOIN users "
                                  "ON users.tenant = seats.tenant AND users.user = seats.user "
                                  "WHERE seats.tenant = ? AND seats.subscription = ? "
                                  "AND users.deleted_ms IS NULL AND users.released_ms IS NULL";

/* The customer's licensed users (the second recount query, as fixed in services/usage/store.c). */
static const char licensed_sql[] =
    "SELECT COUNT(DISTINCT seats.user) FROM subscriptions b "
    "CROSS JOIN seats ON seats.tenant = b.tenant AND seats.subscription = b.subscription "
    "JOIN users ON users.tenant = seats.tenant AND users.user = seats.user "
    "WHERE b.tenant = ?1 AND b.customer = ?2 AND b.status != 'cancelled' "
    "AND b.seat_basis != 'devices' AND users.deleted_ms IS NULL "
    "AND users.released_ms IS NULL";

/* Runs `sql` (?1 tenant, ?2 = `prefix` + each customer number) for every customer; ms. */
static double time_per_customer(sqlite3 *db, const char *sql, const char *prefix)
{
    sqlite3_stmt *stmt = NULL;
    int64_t t;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    t = clock_mono_ns();
    for (int c = 0; c < SWEEP_CUSTOMERS; c++) {
        char arg[32];

        snprintf(arg, sizeof(arg), "%s%04d", prefix, c);
        sqlite3_bind_text(stmt, 1, TENANT, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, arg, -1, SQLITE_TRANSIENT);
        sqlite3_step(stmt);
        sqlite3_reset(stmt);
    }
    sqlite3_finalize(stmt);
    return (double)(clock_mono_ns() - t) / 1e6;
}

static void print_plans(sqlite3 *db, int64_t before)
{
    const char *const queries[] = {due_sql, holders_sql, licensed_sql};
    const char *const names[] = {"due-release", "seat-holders recount", "licensed-users recount"};
    sqlite3_stmt *stmt = NULL;
    char sql[1024];
    int64_t t;
    int rows = 0;

    for (size_t q = 0; q < 3; q++) {
        snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", queries[q]);
        if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
            fail_msg("prepare: %s", sqlite3_errmsg(db));
        while (sqlite3_step(stmt) == SQLITE_ROW)
            printf("  plan of the %s query: %s\n", names[q],
                   (const char *)sqlite3_column_text(stmt, 3));
        sqlite3_finalize(stmt);
    }
    if (sqlite3_prepare_v2(db, due_sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    t = clock_mono_ns();
    sqlite3_bind_int64(stmt, 1, before);
    sqlite3_bind_int(stmt, 2, 1000000);
    while (sqlite3_step(stmt) == SQLITE_ROW)
        rows++;
    sqlite3_finalize(stmt);
    printf("  finding the %d due users through it (sqlite3, no service): %.2f ms\n", rows,
           (double)(clock_mono_ns() - t) / 1e6);
    printf("  the recounts of all %d customers (sqlite3, no service): seat holders %.1f ms, "
           "licensed users %.1f ms\n",
           SWEEP_CUSTOMERS, time_per_customer(db, holders_sql, "sub-"),
           time_per_customer(db, licensed_sql, "cust-"));
}

static void bench_sweep(natsConnection *nc, const struct nats_server *ns, const char *data_dir,
                        int64_t t0)
{
    struct service_proc svc = {0};
    jsCtx *js = async_js(nc);
    int64_t now = t0 + 2 * DAY_MS;
    sqlite3 *db;
    int64_t t;
    double committed_s, published_s;

    printf("inactivity sweep over %d users, %d of them due (target < 1 s)\n", user_total,
           due_count);
    /* The first start runs the migrations: the schema the seeding writes into. */
    start_usage(&svc, ns, data_dir, NULL);
    harness_service_stop(&svc, SIGTERM, 30000);
    db = open_db(data_dir);
    seed_users(db, now);
    print_plans(db, now - 30 * DAY_MS);
    sqlite3_close(db);

    start_usage(&svc, ns, data_dir, NULL);
    printf("  lb-usage after its start on the seeded database: VmRSS %ld KiB\n",
           proc_kib(svc.pid, "VmRSS"));
    t = clock_mono_ns();
    tick(js, now);
    publish_complete(js);
    wait_metric(svc.http_port, "lb_events_applied_total", 1, 2);
    committed_s = (double)(clock_mono_ns() - t) / 1e9;
    wait_metric(svc.http_port, "lb_outbox_published_total", due_count, 2);
    published_s = (double)(clock_mono_ns() - t) / 1e9;
    printf("  tick published -> %d releases committed with their events: %.3f s  (%s)\n", due_count,
           committed_s, committed_s < 1.0 ? "target MET" : "target NOT MET");
    printf("  tick published -> their %d license_released published:  %.3f s\n", due_count,
           published_s);
    printf("  lb-usage after the sweep: VmRSS %ld KiB, VmHWM %ld KiB\n", proc_kib(svc.pid, "VmRSS"),
           proc_kib(svc.pid, "VmHWM"));
    harness_service_stop(&svc, SIGTERM, 30000);

    db = open_db(data_dir);
    if (count_rows(db, "SELECT count(*) FROM users WHERE released_ms IS NOT NULL") != due_count ||
        count_rows(db, "SELECT count(*) FROM users WHERE released_ms IS NOT NULL AND "
                       "last_active_ms > released_ms - 30 * 86400000") != 0)
        fail_msg("the sweep did not release exactly the %d due users", due_count);
    printf("  checked in the database afterwards: exactly the %d due users are released\n",
           due_count);
    sqlite3_close(db);
    jsCtx_Destroy(js);
}

/* ---- orchestration ------------------------------------------------------------------------ */

static void bench(void **state)
{
    struct nats_server ns;
    char data[256];
    char sweep_data[256];
    natsConnection *nc;
    jsCtx *js;
    int64_t t0;

    (void)state;
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    assert_int_equal(envelope_parse_time(T0, &t0), LB_OK);
    harness_nats_start(&ns, NULL);
    harness_tmpdir(data, "bench-usage");
    harness_tmpdir(sweep_data, "bench-usage-sweep");
    nc = harness_connect(&ns);
    js = async_js(nc);
    printf("machine: %ld cores; nats-server, lb-usage (virtual clock) and this client share "
           "them; ratios are what to compare\n",
           sysconf(_SC_NPROCESSORS_ONLN));

    if (!sweep_only)
        bench_ingestion(nc, js, &ns, data, t0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    harness_nats_stop(&ns);
    if (ingestion_only) {
        harness_rmdir(data);
        harness_rmdir(sweep_data);
        return;
    }

    /* A fresh nats-server: a service on an empty database replays the streams it consumes,
     * which would run beside the sweep (and count in lb_events_applied_total). */
    harness_nats_start(&ns, NULL);
    nc = harness_connect(&ns);
    bench_sweep(nc, &ns, sweep_data, t0);
    natsConnection_Destroy(nc);
    harness_nats_stop(&ns);
    harness_rmdir(data);
    harness_rmdir(sweep_data);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest run[] = {cmocka_unit_test(bench)};

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            device_count /= 10;
            heartbeat_count /= 10;
            user_total /= 10;
            due_count /= 10;
        } else if (strcmp(argv[i], "--ingestion") == 0) {
            ingestion_only = true;
        } else if (strcmp(argv[i], "--sweep") == 0) {
            sweep_only = true;
        } else {
            fprintf(stderr, "usage: bench_usage [--quick] [--ingestion | --sweep]\n");
            return 2;
        }
    }
    /* harness_service_start runs <LB_BINARY_DIR>/lb-usage: the build directory. */
    if (getenv("LB_BINARY_DIR") == NULL) {
        char exe[512];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        char *slash;

        exe[n > 0 ? n : 0] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        setenv("LB_BINARY_DIR", exe, 1);
    }
    return cmocka_run_group_tests(run, NULL, NULL);
}
