/*
 * bench_foundation.c - what common/ costs, measured against raw baselines
 * in the same run on the same machine.
 *
 *   request/reply     raw libnats responder  vs  a runtime endpoint
 *   consume           raw pull fetch + ack   vs  runtime consume-apply-ack
 *                                                (one SQLite upsert per event)
 *   SQLite upsert     raw sqlite3 batches    vs  the same through store.c
 *   outbox publish    raw async JetStream    vs  service_emit + commit + publish
 *
 * It starts its own nats-server (as the tests do) and runs the responders
 * and the bench service as child processes of this same binary. It prints
 * throughput, p50/p99 latency and RSS, and each common figure as a ratio of
 * its baseline. Usage: bench_foundation [--quick]
 * (Started through the link lb-bench-serve, the binary is the bench service.)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "harness.h"
#include "ids.h"
#include "json_strict.h"
#include "service.h"
#include "store.h"

/* Sizes of each run (--quick divides them by 10). */
static int request_count = 20000;
static int latency_count = 2000;
static int event_count = 100000;
static int upsert_count = 200000;
static int emit_count = 100000;

/* Requests in flight in the pipelined run. */
#define REQUEST_WINDOW 128
/* Rows per transaction in the SQLite runs. */
#define UPSERT_BATCH 256
/* Events emitted per "emit" request. */
#define EMIT_PER_REQUEST 1000

/* ---- the bench service: the same work, through the runtime ---------------- */

static const struct store_migration bench_migrations[] = {
    {1, "CREATE TABLE kv (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"},
};

static enum lb_err bench_echo(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why)
{
    (void)svc;
    (void)why;
    *ret_reply = cJSON_Duplicate(req->body, true);
    return LB_OK;
}

static enum lb_err bench_emit(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why)
{
    int64_t count;
    cJSON *data = cJSON_CreateObject();
    enum lb_err err = json_get_int(req->body, "count", 1, 100000, &count, why);

    cJSON_AddNumberToObject(data, "n", 0);
    for (int64_t i = 0; err == LB_OK && i < count; i++) {
        cJSON_SetNumberValue(cJSON_GetObjectItem(data, "n"), (double)i);
        err = service_emit(svc, "bench", "emitted", 1, data, NULL, why);
    }
    cJSON_Delete(data);
    if (err == LB_OK)
        *ret_reply = cJSON_CreateObject();
    return err;
}

static enum lb_err bench_apply(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char sql[] = "INSERT INTO kv (key, value) VALUES (?, 1) "
                              "ON CONFLICT (key) DO UPDATE SET value = value + 1";
    sqlite3_stmt *stmt = store_stmt(service_store(svc), sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, ev->id, -1, SQLITE_STATIC);
    return store_step_done(service_store(svc), stmt, why);
}

static const struct service_endpoint bench_endpoints[] = {
    {"echo", bench_echo, "-", "-", "replies with its request"},
    {"emit", bench_emit, "-", "-", "emits {count} events"},
};
static const struct service_event bench_events[] = {{"licensebus.benchin.put.v1", bench_apply}};
static const char *const bench_consumes[] = {"benchin", NULL};
static const char *const bench_produces[] = {"bench", NULL};

static const struct service_def bench_def = {
    .name = "bench",
    .description = "bench service",
    .default_http_port = 0,
    .migrations = bench_migrations,
    .migration_count = 1,
    .endpoints = bench_endpoints,
    .endpoint_count = 2,
    .consumes = bench_consumes,
    .events = bench_events,
    .event_count = 1,
    .produces = bench_produces,
};

/* ---- raw responder ------------------------------------------------------------ */

static void raw_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                           natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

static int run_raw_responder(const char *url)
{
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsOptions *o = NULL;
    sigset_t set;
    int sig;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetSendAsap(o, true);
    if (natsConnection_Connect(&nc, o) != NATS_OK ||
        natsConnection_QueueSubscribe(&sub, nc, "raw.echo", "raw", raw_on_request, NULL) != NATS_OK)
        return 1;
    natsConnection_Flush(nc);
    sigwait(&set, &sig);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    return 0;
}

/* ---- measuring ------------------------------------------------------------------- */

struct figure {
    double per_sec;
    double p50_us;
    double p99_us;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Sequential requests: latency percentiles. */
static void measure_latency(natsConnection *nc, const char *subject, struct figure *fig)
{
    const char *body = "{\"tenant\":\"acme\",\"counter\":\"c\"}";
    int64_t *lat = calloc((size_t)latency_count, sizeof(*lat));

    for (int i = 0; i < latency_count; i++) {
        natsMsg *reply = NULL;
        int64_t t = clock_mono_ns();

        if (natsConnection_RequestString(&reply, nc, subject, body, 5000) != NATS_OK)
            fail_msg("request on %s failed", subject);
        lat[i] = clock_mono_ns() - t;
        natsMsg_Destroy(reply);
    }
    qsort(lat, (size_t)latency_count, sizeof(*lat), cmp_i64);
    fig->p50_us = (double)lat[latency_count / 2] / 1000.0;
    fig->p99_us = (double)lat[latency_count * 99 / 100] / 1000.0;
    free(lat);
}

/* Pipelined requests (REQUEST_WINDOW in flight): throughput. */
static void measure_throughput(natsConnection *nc, const char *subject, struct figure *fig)
{
    const char *body = "{\"tenant\":\"acme\",\"counter\":\"c\"}";
    natsSubscription *sub = NULL;
    char inbox[64];
    int sent = 0;
    int received = 0;
    int64_t t;

    snprintf(inbox, sizeof(inbox), "_INBOX.bench.%d", (int)getpid());
    natsConnection_SubscribeSync(&sub, nc, inbox);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    t = clock_mono_ns();
    while (received < request_count) {
        natsMsg *m = NULL;

        while (sent < request_count && sent - received < REQUEST_WINDOW) {
            natsConnection_PublishRequestString(nc, subject, inbox, body);
            sent++;
        }
        if (natsSubscription_NextMsg(&m, sub, 5000) != NATS_OK)
            fail_msg("reply %d of %d on %s never came", received, request_count, subject);
        natsMsg_Destroy(m);
        received++;
    }
    fig->per_sec = request_count / ((double)(clock_mono_ns() - t) / 1e9);
    natsSubscription_Destroy(sub);
}

static void publish_events(jsCtx *js, const char *subject, const char *type, int count)
{
    char id[ID_LEN + 1];
    char *event;
    jsPubOptions po;

    for (int i = 0; i < count; i++) {
        natsMsg *msg = NULL;

        id_new(id, clock_wall_ms());
        event = harness_event(id, type, "acme", "2026-11-22T10:00:00Z", "{\"k\":1}");
        natsMsg_Create(&msg, subject, NULL, event, (int)strlen(event));
        natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
        if (js_PublishMsgAsync(js, &msg, NULL) != NATS_OK)
            fail_msg("async publish failed");
        natsMsg_Destroy(msg);
        free(event);
    }
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK)
        fail_msg("publish acks did not come");
}

static jsCtx *async_js(natsConnection *nc)
{
    jsOptions jo;
    jsCtx *js = NULL;

    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 4096;
    natsConnection_JetStream(&js, nc, &jo);
    return js;
}

static void ensure_stream(jsCtx *js, const char *name, const char *subject)
{
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    const char *subjects[] = {subject};

    jsStreamConfig_Init(&cfg);
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    if (js_AddStream(&si, js, &cfg, NULL, NULL) != NATS_OK)
        fail_msg("cannot create stream %s", name);
    jsStreamInfo_Destroy(si);
}

/* Raw: publish then pull 256 at a time with an ack each, no database. */
static double raw_consume(natsConnection *nc)
{
    jsCtx *js = async_js(nc);
    natsSubscription *sub = NULL;
    int got = 0;
    int64_t t;

    ensure_stream(js, "RAW_IN", "raw.in.>");
    publish_events(js, "raw.in.acme", "licensebus.benchin.put.v1", event_count);
    if (js_PullSubscribe(&sub, js, "raw.in.>", "raw", NULL, NULL, NULL) != NATS_OK)
        fail_msg("raw pull subscribe failed");
    t = clock_mono_ns();
    while (got < event_count) {
        natsMsgList list = {0};

        if (natsSubscription_Fetch(&list, sub, 256, 5000, NULL) != NATS_OK)
            fail_msg("raw fetch stalled at %d", got);
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], NULL);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    natsConnection_Flush(nc);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    return event_count / ((double)(clock_mono_ns() - t) / 1e9);
}

/* Through the runtime: the bench service consumes, applies (an upsert) and acks. */
static double common_consume(natsConnection *nc, int http_port)
{
    jsCtx *js = async_js(nc);
    int64_t t;

    publish_events(js, "lb.evt.benchin.acme.put", "licensebus.benchin.put.v1", event_count);
    t = clock_mono_ns();
    harness_wait_metric(http_port, "lb_events_applied_total", event_count);
    jsCtx_Destroy(js);
    return event_count / ((double)(clock_mono_ns() - t) / 1e9);
}

static double raw_publish(natsConnection *nc)
{
    jsCtx *js = async_js(nc);
    int64_t t;

    ensure_stream(js, "RAW_OUT", "raw.out.>");
    t = clock_mono_ns();
    publish_events(js, "raw.out.acme", "licensebus.bench.emitted.v1", emit_count);
    jsCtx_Destroy(js);
    return emit_count / ((double)(clock_mono_ns() - t) / 1e9);
}

/*
 * The same durable work written by hand: rows and payloads committed in one
 * SQLite transaction per EMIT_PER_REQUEST, published async, deleted after
 * the acks. It separates what an outbox costs from what common/ adds.
 */
static double raw_outbox(natsConnection *nc, const char *path)
{
    jsCtx *js = async_js(nc);
    sqlite3 *db = NULL;
    sqlite3_stmt *insert = NULL;
    sqlite3_stmt *select = NULL;
    char id[ID_LEN + 1];
    jsPubOptions po;
    int64_t t;

    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT,"
                 " subject TEXT, payload BLOB)",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO outbox (msg_id, subject, payload) VALUES (?, ?, ?)", -1,
                       &insert, NULL);
    sqlite3_prepare_v2(db, "SELECT msg_id, subject, payload FROM outbox ORDER BY seq", -1, &select,
                       NULL);
    jsPubOptions_Init(&po);
    po.MaxWait = 60000;
    t = clock_mono_ns();
    for (int i = 0; i < emit_count; i += EMIT_PER_REQUEST) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (int k = 0; k < EMIT_PER_REQUEST; k++) {
            char *event;

            id_new(id, clock_wall_ms());
            event = harness_event(id, "licensebus.bench.emitted.v1", "acme", "2026-11-22T10:00:00Z",
                                  "{\"n\":1}");
            sqlite3_bind_text(insert, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(insert, 2, "raw.out.acme", -1, SQLITE_STATIC);
            sqlite3_bind_blob(insert, 3, event, (int)strlen(event), SQLITE_TRANSIENT);
            sqlite3_step(insert);
            sqlite3_reset(insert);
            free(event);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        while (sqlite3_step(select) == SQLITE_ROW) {
            natsMsg *msg = NULL;

            natsMsg_Create(&msg, (const char *)sqlite3_column_text(select, 1), NULL,
                           sqlite3_column_blob(select, 2), sqlite3_column_bytes(select, 2));
            natsMsgHeader_Set(msg, "Nats-Msg-Id", (const char *)sqlite3_column_text(select, 0));
            if (js_PublishMsgAsync(js, &msg, NULL) != NATS_OK)
                fail_msg("async publish failed");
            natsMsg_Destroy(msg);
        }
        sqlite3_reset(select);
        if (js_PublishAsyncComplete(js, &po) != NATS_OK)
            fail_msg("publish acks did not come");
        sqlite3_exec(db, "DELETE FROM outbox", NULL, NULL, NULL);
    }
    t = clock_mono_ns() - t;
    sqlite3_finalize(insert);
    sqlite3_finalize(select);
    sqlite3_close(db);
    jsCtx_Destroy(js);
    return emit_count / ((double)t / 1e9);
}

static double common_publish(natsConnection *nc, int http_port)
{
    char body[64];
    int64_t t = clock_mono_ns();

    snprintf(body, sizeof(body), "{\"count\":%d}", EMIT_PER_REQUEST);
    for (int i = 0; i < emit_count / EMIT_PER_REQUEST; i++)
        natsMsg_Destroy(harness_request(nc, "lb.api.bench.emit", body, strlen(body)));
    harness_wait_metric(http_port, "lb_outbox_published_total", emit_count);
    return emit_count / ((double)(clock_mono_ns() - t) / 1e9);
}

/* ---- SQLite ------------------------------------------------------------------------ */

static const char upsert_sql[] = "INSERT INTO kv (key, value) VALUES (?, 1) "
                                 "ON CONFLICT (key) DO UPDATE SET value = value + 1";

static double raw_sqlite(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    char key[ID_LEN + 1];
    int64_t t;

    sqlite3_open(path, &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                 "CREATE TABLE kv (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(db, upsert_sql, -1, &stmt, NULL);
    t = clock_mono_ns();
    for (int i = 0; i < upsert_count; i += UPSERT_BATCH) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (int k = 0; k < UPSERT_BATCH; k++) {
            id_new(key, clock_wall_ms());
            sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
            sqlite3_step(stmt);
            sqlite3_reset(stmt);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    t = clock_mono_ns() - t;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return upsert_count / ((double)t / 1e9);
}

static double common_sqlite(const char *path)
{
    struct store_options opts = {.path = path, .sync_full = true, .busy_timeout_ms = 1000};
    struct store *s = NULL;
    char key[ID_LEN + 1];
    int64_t t;

    if (store_open(&opts, &s, NULL) != LB_OK ||
        store_migrate(s, "bench", bench_migrations, 1, NULL) != LB_OK)
        fail_msg("cannot open %s", path);
    t = clock_mono_ns();
    for (int i = 0; i < upsert_count; i += UPSERT_BATCH) {
        store_begin(s, NULL);
        for (int k = 0; k < UPSERT_BATCH; k++) {
            sqlite3_stmt *stmt = store_stmt(s, upsert_sql, NULL);

            id_new(key, clock_wall_ms());
            sqlite3_bind_text(stmt, 1, key, -1, SQLITE_STATIC);
            store_step_done(s, stmt, NULL);
        }
        store_commit(s, NULL);
    }
    t = clock_mono_ns() - t;
    store_close(s);
    return upsert_count / ((double)t / 1e9);
}

/* ---- orchestration --------------------------------------------------------------------- */

static long rss_kib(pid_t pid)
{
    char path[64];
    char line[256];
    long kib = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

static void print_ratio(const char *what, const char *unit, double raw, double common)
{
    printf("%-26s raw %12.0f %-8s common %12.0f %-8s ratio %5.2f\n", what, raw, unit, common, unit,
           common / raw);
}

static void bench(void **state)
{
    struct nats_server ns;
    struct service_proc svc = {0};
    char data[256];
    char path[300];
    natsConnection *nc;
    pid_t raw_pid;
    struct figure raw_req = {0}, common_req = {0};
    double raw, common, raw_by_hand;
    const char *self = getenv("LB_BENCH_SELF");
    const char *const env[] = {"LB_LOG_LEVEL=warn", NULL};

    (void)state;
    harness_nats_start(&ns, NULL);
    harness_tmpdir(data, "bench");
    nc = harness_connect(&ns);

    raw_pid = fork();
    if (raw_pid == 0)
        _exit(run_raw_responder(ns.url));
    /* The bench service is this binary in --serve mode, started like any service. */
    setenv("LB_BINARY_DIR", self, 1);
    harness_service_start(&svc, "bench-serve", &ns, data, env);

    measure_latency(nc, "raw.echo", &raw_req);
    measure_latency(nc, "lb.api.bench.echo", &common_req);
    measure_throughput(nc, "raw.echo", &raw_req);
    measure_throughput(nc, "lb.api.bench.echo", &common_req);
    printf("machine: %ld cores; figures from one run, ratios are what to compare\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("request p50 latency        raw %10.1f us   common %10.1f us   (+%.1f us)\n",
           raw_req.p50_us, common_req.p50_us, common_req.p50_us - raw_req.p50_us);
    printf("request p99 latency        raw %10.1f us   common %10.1f us\n", raw_req.p99_us,
           common_req.p99_us);
    print_ratio("request/reply throughput", "req/s", raw_req.per_sec, common_req.per_sec);

    raw = raw_consume(nc);
    common = common_consume(nc, svc.http_port);
    print_ratio("consume-apply-ack", "events/s", raw, common);

    raw = raw_publish(nc);
    snprintf(path, sizeof(path), "%s/outbox.db", data);
    raw_by_hand = raw_outbox(nc, path);
    common = common_publish(nc, svc.http_port);
    print_ratio("outbox vs bare publish", "events/s", raw, common);
    print_ratio("outbox vs hand outbox", "events/s", raw_by_hand, common);

    snprintf(path, sizeof(path), "%s/raw.db", data);
    raw = raw_sqlite(path);
    snprintf(path, sizeof(path), "%s/common.db", data);
    common = common_sqlite(path);
    print_ratio("SQLite batched upsert", "rows/s", raw, common);

    printf("service RSS after the run  %ld KiB\n", rss_kib(svc.pid));
    harness_service_stop(&svc, SIGTERM, 30000);
    kill(raw_pid, SIGTERM);
    waitpid(raw_pid, NULL, 0);
    natsConnection_Destroy(nc);
    harness_nats_stop(&ns);
    harness_rmdir(data);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest run[] = {cmocka_unit_test(bench)};
    char self[512];

    if (strstr(argv[0], "lb-bench-serve") != NULL)
        return service_main(&bench_def, 1, argv);
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        request_count /= 10;
        latency_count /= 10;
        event_count /= 10;
        upsert_count /= 10;
        emit_count /= 10;
    }
    /* harness_service_start runs <LB_BINARY_DIR>/lb-<name>: point it at a link to us. */
    snprintf(self, sizeof(self), "/tmp/lb-bench-%d", (int)getpid());
    mkdir(self, 0700);
    {
        char link[600];
        char exe[512];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

        exe[n > 0 ? n : 0] = '\0';
        snprintf(link, sizeof(link), "%s/lb-bench-serve", self);
        if (symlink(exe, link) != 0)
            return 1;
    }
    setenv("LB_BENCH_SELF", self, 1);
    return cmocka_run_group_tests(run, NULL, NULL);
}
