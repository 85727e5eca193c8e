/*
 * bench_licensing.c - the licensing service (build/lb-licensing) measured
 * against a raw libnats responder in the same run on the same machine.
 *
 *   activation   license_activate paced at 2,000 req/s for 10 s (distinct
 *                instances over 100 licenses, so every one succeeds: a
 *                deployment row, a history row and an outbox event each),
 *                then as fast as it goes (128 in flight); the raw echo
 *                responder the same way, and raw.durable: the same responder
 *                appending each body to a SQLite table (WAL, synchronous=FULL)
 *                before it replies, the floor of any durable reply here
 *   listing      license_list over ONE org holding 100,000 licenses (seeded
 *                through commerce license_ordered events published async to
 *                JetStream: the seeding rate is printed too), first page,
 *                every page of a walk, include_expired, and a second org of
 *                100,000 licenses of which 99 % are expired; the listing SQL
 *                run directly on the service's database (read-only, WAL) is
 *                the raw baseline of a page
 *
 * It starts its own nats-server and lb-licensing (LB_CLOCK=virtual, one tick
 * to 2026-11-22) through tests/harness, as the integration tests do. Targets
 * (issue 3): activation p99 < 2 ms at 2,000 req/s, a listing < 100 ms.
 * Usage: bench_licensing [--quick] [--activation]   (--quick: a tenth of the work;
 * --activation: the activation figures only, e.g. under perf)
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "clock.h"
#include "envelope.h"
#include "harness.h"
#include "ids.h"

/* Sizes of each run (--quick divides them by 10). */
static int paced_seconds = 10;
static int pipelined_count = 20000;
static int list_licenses = 100000;
static bool activation_only; /* --activation: skip the listing (for profiling) */

#define ACTIVATION_RATE  2000
#define REQUEST_WINDOW   128
#define ACTIVATION_KEYS  100
#define PAGE_REPEATS     200
#define EXPIRED_REPEATS  50
#define T0               "2026-11-22T10:00:00.000Z"
#define TENANT           "dist-1"
#define CALLER           "\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"msp-3\",\"user\":\"bench\"}"
#define SEED_TIMEOUT_MS  600000
#define REPLY_TIMEOUT_MS 60000

/* ---- raw responder (a child process) ------------------------------------------------ */

static void raw_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                           natsMsg_GetDataLength(msg));
    natsMsg_Destroy(msg);
}

/*
 * raw.durable: the floor of a reply that waits for durable state. Each
 * request's body is appended to a SQLite table (WAL, synchronous=FULL, the
 * service's settings) in its own transaction, then echoed: one fsync per
 * request, nothing else. libnats delivers one subscription's messages on one
 * thread, so the connection is never shared.
 */
static void raw_on_durable(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    sqlite3_stmt *insert = closure;

    (void)sub;
    sqlite3_bind_blob(insert, 1, natsMsg_GetData(msg), natsMsg_GetDataLength(msg), SQLITE_STATIC);
    if (sqlite3_step(insert) == SQLITE_DONE)
        natsConnection_Publish(nc, natsMsg_GetReply(msg), natsMsg_GetData(msg),
                               natsMsg_GetDataLength(msg));
    sqlite3_reset(insert);
    natsMsg_Destroy(msg);
}

static sqlite3_stmt *open_raw_durable(const char *path, sqlite3 **ret_db)
{
    sqlite3_stmt *insert = NULL;

    if (sqlite3_open(path, ret_db) != SQLITE_OK ||
        sqlite3_exec(*ret_db,
                     "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                     "CREATE TABLE requests (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(*ret_db, "INSERT INTO requests (body) VALUES (?)", -1, &insert, NULL) !=
            SQLITE_OK)
        return NULL;
    return insert;
}

static int run_raw_responder(const char *url, const char *durable_path)
{
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    natsSubscription *durable_sub = NULL;
    natsOptions *o = NULL;
    sqlite3 *db = NULL;
    sqlite3_stmt *insert = open_raw_durable(durable_path, &db);
    sigset_t set;
    int sig;

    /* Dies with the bench, whatever happens to it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0UL, 0UL, 0UL);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetSendAsap(o, true);
    if (insert == NULL || natsConnection_Connect(&nc, o) != NATS_OK ||
        natsConnection_QueueSubscribe(&sub, nc, "raw.echo", "raw", raw_on_request, NULL) !=
            NATS_OK ||
        natsConnection_QueueSubscribe(&durable_sub, nc, "raw.durable", "raw", raw_on_durable,
                                      insert) != NATS_OK)
        return 1;
    natsConnection_Flush(nc);
    sigwait(&set, &sig);
    natsSubscription_Destroy(durable_sub);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    return 0;
}

/* ---- measuring ---------------------------------------------------------------------- */

struct figure {
    double per_sec;
    double p50_us;
    double p99_us;
    double max_us;
    int errors;
};

/* Writes the body of request `i` into buf; returns its length. */
typedef int (*body_fn)(void *ctx, int i, char *buf, size_t size);

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static void percentiles(int64_t *lat, int n, struct figure *fig)
{
    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    fig->p50_us = (double)lat[n / 2] / 1000.0;
    fig->p99_us = (double)lat[(int64_t)n * 99 / 100] / 1000.0;
    fig->max_us = (double)lat[n - 1] / 1000.0;
}

static bool is_error_reply(natsMsg *msg)
{
    const char *v = NULL;

    return natsMsgHeader_Get(msg, "Nats-Service-Error", &v) == NATS_OK;
}

static void sleep_until(int64_t mono_ns)
{
    struct timespec ts = {.tv_sec = mono_ns / 1000000000, .tv_nsec = mono_ns % 1000000000};

    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

struct paced {
    int64_t *sent;
    int64_t *lat;
    int count;
    atomic_int received;
    atomic_int errors;
    char first_error[256];
};

static void on_paced_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct paced *p = closure;
    int64_t now = clock_mono_ns();
    const char *dot = strrchr(natsMsg_GetSubject(msg), '.');
    int i = dot ? atoi(dot + 1) : -1;

    (void)nc;
    (void)sub;
    if (i >= 0 && i < p->count)
        p->lat[i] = now - __atomic_load_n(&p->sent[i], __ATOMIC_ACQUIRE);
    if (is_error_reply(msg) && atomic_fetch_add(&p->errors, 1) == 0)
        snprintf(p->first_error, sizeof(p->first_error), "%.*s", natsMsg_GetDataLength(msg),
                 natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
    atomic_fetch_add(&p->received, 1);
}

/*
 * `count` requests at `rate` per second, each sent at its time whatever the
 * replies do (no coordinated omission); latency from send to reply.
 */
static void measure_paced(natsConnection *nc, const char *subject, int rate, int count,
                          body_fn make, void *ctx, struct figure *fig)
{
    static int run;
    struct paced p = {.count = count};
    natsSubscription *sub = NULL;
    char prefix[64];
    char wildcard[80];
    char reply[96];
    char body[1024];
    int64_t t0;
    int64_t deadline;

    p.sent = calloc((size_t)count, sizeof(*p.sent));
    p.lat = calloc((size_t)count, sizeof(*p.lat));
    snprintf(prefix, sizeof(prefix), "_INBOX.lbpace.%d.%d", (int)getpid(), ++run);
    snprintf(wildcard, sizeof(wildcard), "%s.*", prefix);
    if (natsConnection_Subscribe(&sub, nc, wildcard, on_paced_reply, &p) != NATS_OK)
        fail_msg("cannot subscribe to %s", wildcard);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsConnection_Flush(nc);
    t0 = clock_mono_ns() + 1000000;
    for (int i = 0; i < count; i++) {
        int len = make(ctx, i, body, sizeof(body));

        sleep_until(t0 + (int64_t)i * 1000000000 / rate);
        snprintf(reply, sizeof(reply), "%s.%d", prefix, i);
        __atomic_store_n(&p.sent[i], clock_mono_ns(), __ATOMIC_RELEASE);
        if (natsConnection_PublishRequest(nc, subject, reply, body, len) != NATS_OK)
            fail_msg("publish %d on %s failed", i, subject);
    }
    deadline = clock_mono_ns() + (int64_t)REPLY_TIMEOUT_MS * 1000000;
    while (atomic_load(&p.received) < count && clock_mono_ns() < deadline)
        sleep_until(clock_mono_ns() + 1000000);
    if (atomic_load(&p.received) < count)
        fail_msg("%d of %d replies on %s", atomic_load(&p.received), count, subject);
    fig->per_sec = count / ((double)(clock_mono_ns() - t0) / 1e9);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    fig->errors = atomic_load(&p.errors);
    if (fig->errors > 0)
        fail_msg("%d errors on %s, first: %s", fig->errors, subject, p.first_error);
    percentiles(p.lat, count, fig);
    free(p.sent);
    free(p.lat);
}

/* REQUEST_WINDOW requests in flight: throughput. */
static void measure_pipelined(natsConnection *nc, const char *subject, int count, body_fn make,
                              void *ctx, struct figure *fig)
{
    natsSubscription *sub = NULL;
    char inbox[64];
    char body[1024];
    int sent = 0;
    int received = 0;
    int64_t t;

    snprintf(inbox, sizeof(inbox), "_INBOX.lbpipe.%d", (int)getpid());
    natsConnection_SubscribeSync(&sub, nc, inbox);
    natsSubscription_SetPendingLimits(sub, -1, -1);
    natsConnection_Flush(nc);
    t = clock_mono_ns();
    while (received < count) {
        natsMsg *m = NULL;

        while (sent < count && sent - received < REQUEST_WINDOW) {
            int len = make(ctx, sent, body, sizeof(body));

            natsConnection_PublishRequest(nc, subject, inbox, body, len);
            sent++;
        }
        if (natsSubscription_NextMsg(&m, sub, REPLY_TIMEOUT_MS) != NATS_OK)
            fail_msg("reply %d of %d on %s never came", received, count, subject);
        if (is_error_reply(m))
            fail_msg("error on %s: %.*s", subject, natsMsg_GetDataLength(m), natsMsg_GetData(m));
        natsMsg_Destroy(m);
        received++;
    }
    fig->per_sec = count / ((double)(clock_mono_ns() - t) / 1e9);
    natsSubscription_Destroy(sub);
}

/* ---- the service ---------------------------------------------------------------------- */

static natsConnection *connect_asap(const char *url)
{
    natsConnection *nc = NULL;
    natsOptions *o = NULL;

    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetSendAsap(o, true);
    if (natsConnection_Connect(&nc, o) != NATS_OK)
        fail_msg("cannot connect to %s", url);
    natsOptions_Destroy(o);
    return nc;
}

static cJSON *call(natsConnection *nc, const char *endpoint, const char *body)
{
    char subject[128];
    natsMsg *reply;
    cJSON *json;

    snprintf(subject, sizeof(subject), "lb.api.licensing.%s", endpoint);
    reply = harness_request(nc, subject, body, strlen(body));
    if (is_error_reply(reply))
        fail_msg("%s failed: %.*s", endpoint, natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    json = harness_reply_json(reply);
    natsMsg_Destroy(reply);
    return json;
}

/* Waits (up to `timeout_ms`) until `sample` >= `value`; the harness's own wait is 20 s. */
static void wait_metric(int port, const char *sample, double value, int timeout_ms)
{
    int64_t deadline = clock_mono_ns() + (int64_t)timeout_ms * 1000000;

    while (harness_metric(port, sample) < value) {
        if (clock_mono_ns() > deadline)
            fail_msg("%s stayed at %.0f < %.0f", sample, harness_metric(port, sample), value);
        sleep_until(clock_mono_ns() + 20000000);
    }
}

/*
 * Waits until `count` consumed platform events are applied (licensing reads
 * its own events only while a new database catches up, D28).
 */
static void wait_platform(int port, double count, int timeout_ms)
{
    wait_metric(port, "lb_events_applied_total", count, timeout_ms);
}

static void publish_event(jsCtx *js, const char *subject, const char *type, const char *data)
{
    char id[ID_LEN + 1];
    char *event;
    natsMsg *msg = NULL;

    id_new(id, clock_wall_ms());
    event = harness_event(id, type, strstr(type, ".clock.") ? "_sys" : TENANT, T0, data);
    natsMsg_Create(&msg, subject, NULL, event, (int)strlen(event));
    natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
    if (js_PublishMsgAsync(js, &msg, NULL) != NATS_OK)
        fail_msg("async publish on %s failed", subject);
    natsMsg_Destroy(msg);
    free(event);
}

static void publish_complete(jsCtx *js)
{
    jsPubOptions po;

    jsPubOptions_Init(&po);
    po.MaxWait = SEED_TIMEOUT_MS;
    if (js_PublishAsyncComplete(js, &po) != NATS_OK)
        fail_msg("publish acks did not come");
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

static void org(jsCtx *js, const char *id, const char *parent, const char *kind)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"%s\",\"kind\":\"%s\"}", id,
             parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
    publish_event(js, "lb.evt.directory." TENANT ".org_created",
                  "licensebus.directory.org_created.v1", data);
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
            kib = atol(line + n + 1);
            break;
        }
    if (f)
        fclose(f);
    return kib;
}

/* What the service wrote (wchar: bytes handed to write/pwrite; syscw: those calls) and its batches.
 */
struct io_sample {
    double wchar;
    double syscw;
    double batches;
};

static void io_sample(const struct service_proc *svc, struct io_sample *ret)
{
    char path[64];
    char line[128];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/io", (int)svc->pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "wchar:", 6) == 0)
            ret->wchar = atof(line + 6);
        else if (strncmp(line, "syscw:", 6) == 0)
            ret->syscw = atof(line + 6);
    }
    if (f)
        fclose(f);
    ret->batches = harness_metric(svc->http_port, "lb_batches_total");
}

static void print_io(const struct io_sample *a, const struct io_sample *b, int requests)
{
    printf("  where it goes: %.1f requests per batch (one commit each), %.1f KiB written and %.1f "
           "write calls per request (WAL pages, checkpoints, log)\n",
           requests / (b->batches - a->batches), (b->wchar - a->wchar) / 1024.0 / requests,
           (b->syscw - a->syscw) / requests);
}

/* ---- activation ------------------------------------------------------------------------- */

static int raw_body(void *ctx, int i, char *buf, size_t size)
{
    (void)ctx;
    return snprintf(buf, size,
                    "{" CALLER ",\"key\":\"BNCH-%04d-ACTV-0000\",\"product\":\"core\","
                    "\"instance\":\"raw-%d\",\"host\":\"host-%d\",\"product_version\":\"5.10.1\"}",
                    i % ACTIVATION_KEYS, i, i);
}

static int activate_body(void *ctx, int i, char *buf, size_t size)
{
    return snprintf(buf, size,
                    "{" CALLER ",\"key\":\"BNCH-%04d-ACTV-0000\",\"product\":\"core\","
                    "\"instance\":\"%s-%d\",\"host\":\"host-%d\",\"product_version\":\"5.10.1\"}",
                    i % ACTIVATION_KEYS, (const char *)ctx, i, i);
}

/* A read-only request at the same rate: the floor of the service's path with nothing to write. */
static int get_body(void *ctx, int i, char *buf, size_t size)
{
    (void)ctx;
    return snprintf(buf, size, "{" CALLER ",\"key\":\"BNCH-%04d-ACTV-0000\"}", i % ACTIVATION_KEYS);
}

/* `who` names the second figure (the service, or another raw responder). */
static void print_latency(const char *what, const char *who, const struct figure *raw,
                          const struct figure *svc)
{
    printf("%-34s raw p50 %7.0f p99 %7.0f max %7.0f us | %s p50 %7.0f p99 %7.0f max %7.0f "
           "us | p99 x%.1f (+%.0f us)\n",
           what, raw->p50_us, raw->p99_us, raw->max_us, who, svc->p50_us, svc->p99_us, svc->max_us,
           svc->p99_us / raw->p99_us, svc->p99_us - raw->p99_us);
}

static void bench_activation(natsConnection *nc, const struct service_proc *svc)
{
    int paced = ACTIVATION_RATE * paced_seconds;
    struct figure raw = {0}, durable = {0}, act = {0}, get = {0};
    struct io_sample io[2] = {{0}};
    char body[1024];

    /* 100 purchased licenses of 100,000 instances: every activation below succeeds. */
    for (int k = 0; k < ACTIVATION_KEYS; k++) {
        snprintf(body, sizeof(body),
                 "{" CALLER ",\"product\":\"core\",\"key\":\"BNCH-%04d-ACTV-0000\","
                 "\"type\":\"purchased\",\"start\":\"2026-01-01\",\"expiration\":\"2027-12-31\","
                 "\"limit\":100000,\"orgs\":[\"cust-act\"]}",
                 k);
        cJSON_Delete(call(nc, "license_issue", body));
    }
    measure_paced(nc, "raw.echo", ACTIVATION_RATE, paced, raw_body, NULL, &raw);
    measure_paced(nc, "raw.durable", ACTIVATION_RATE, paced, raw_body, NULL, &durable);
    measure_paced(nc, "lb.api.licensing.license_get", ACTIVATION_RATE, paced, get_body, NULL, &get);
    io_sample(svc, &io[0]);
    measure_paced(nc, "lb.api.licensing.license_activate", ACTIVATION_RATE, paced, activate_body,
                  "paced", &act);
    io_sample(svc, &io[1]);
    printf("license_activate paced at %d/s for %d s (%d requests, all succeeded)\n",
           ACTIVATION_RATE, paced_seconds, paced);
    printf("  sustained                        raw %8.0f req/s   service %8.0f req/s\n",
           raw.per_sec, act.per_sec);
    print_latency("  latency", "service", &raw, &act);
    print_latency("  a read-only license_get, same rate", "service", &raw, &get);
    print_latency("  raw.durable, same rate", "durable", &raw, &durable);
    printf(
        "  activation against the floor of a durable reply (raw.durable): p50 x%.1f, p99 x%.1f\n",
        act.p50_us / durable.p50_us, act.p99_us / durable.p99_us);
    printf("  target p99 < 2000 us at 2000/s:  %s (p99 %.0f us)\n",
           act.p99_us < 2000.0 ? "MET" : "NOT MET", act.p99_us);
    print_io(&io[0], &io[1], paced);
    measure_pipelined(nc, "raw.echo", pipelined_count, raw_body, NULL, &raw);
    io_sample(svc, &io[0]);
    measure_pipelined(nc, "lb.api.licensing.license_activate", pipelined_count, activate_body,
                      "pipe", &act);
    io_sample(svc, &io[1]);
    printf("license_activate throughput (%d in flight, %d requests)\n", REQUEST_WINDOW,
           pipelined_count);
    printf("  raw %8.0f req/s   service %8.0f req/s   ratio %.2f\n", raw.per_sec, act.per_sec,
           act.per_sec / raw.per_sec);
    print_io(&io[0], &io[1], pipelined_count);
    printf("  service RSS after activation: VmRSS %ld KiB, VmHWM %ld KiB\n",
           proc_kib(svc->pid, "VmRSS"), proc_kib(svc->pid, "VmHWM"));
}

/* ---- listing ---------------------------------------------------------------------------- */

/* Publishes `count` orders for `org` (every 100th valid, the rest expired when `expired`). */
static double seed_orders(natsConnection *nc, const struct service_proc *svc, const char *org_id,
                          bool expired, double *applied)
{
    jsCtx *js = async_js(nc);
    char data[512];
    int64_t t = clock_mono_ns();

    for (int i = 0; i < list_licenses; i++) {
        bool old = expired && i % 100 != 0;

        snprintf(data, sizeof(data),
                 "{\"order\":\"ord-%s-%d\",\"product\":\"core\",\"type\":\"purchased\","
                 "\"start\":\"%s\",\"expiration\":\"%s\",\"limit\":5,\"orgs\":[\"%s\"]}",
                 org_id, i, old ? "2025-01-01" : "2026-01-01", old ? "2026-01-31" : "2027-12-31",
                 org_id);
        publish_event(js, "lb.evt.commerce." TENANT ".license_ordered",
                      "licensebus.commerce.license_ordered.v1", data);
    }
    publish_complete(js);
    jsCtx_Destroy(js);
    *applied += list_licenses;
    wait_platform(svc->http_port, *applied, SEED_TIMEOUT_MS);
    return list_licenses / ((double)(clock_mono_ns() - t) / 1e9);
}

struct page {
    int count;
    char next[64];
};

/* One license_list request: its latency in ns, and what it returned. */
static int64_t list_once(natsConnection *nc, const char *org_id, bool include_expired, int limit,
                         const char *cursor, struct page *ret)
{
    char body[512];
    natsMsg *reply = NULL;
    cJSON *json;
    int64_t t;

    snprintf(body, sizeof(body),
             "{" CALLER ",\"org\":\"%s\",\"include_expired\":%s,\"limit\":%d%s%s%s}", org_id,
             include_expired ? "true" : "false", limit, cursor ? ",\"cursor\":\"" : "",
             cursor ? cursor : "", cursor ? "\"" : "");
    t = clock_mono_ns();
    if (natsConnection_Request(&reply, nc, "lb.api.licensing.license_list", body, (int)strlen(body),
                               REPLY_TIMEOUT_MS) != NATS_OK)
        fail_msg("license_list on %s timed out", org_id);
    t = clock_mono_ns() - t;
    if (is_error_reply(reply))
        fail_msg("license_list failed: %.*s", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    json = harness_reply_json(reply);
    ret->count = cJSON_GetArraySize(cJSON_GetObjectItem(json, "licenses"));
    snprintf(ret->next, sizeof(ret->next), "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(json, "next_cursor"))
                 ? cJSON_GetStringValue(cJSON_GetObjectItem(json, "next_cursor"))
                 : "");
    cJSON_Delete(json);
    natsMsg_Destroy(reply);
    return t;
}

/* The same first page `repeats` times. */
static void list_repeat(natsConnection *nc, const char *org_id, bool include_expired, int limit,
                        int repeats, int expect, const char *what)
{
    int64_t *lat = calloc((size_t)repeats, sizeof(*lat));
    struct figure fig = {0};
    struct page page = {0};

    for (int i = 0; i < repeats; i++)
        lat[i] = list_once(nc, org_id, include_expired, limit, NULL, &page);
    if (page.count != expect)
        fail_msg("%s: %d licenses in the page, expected %d", what, page.count, expect);
    percentiles(lat, repeats, &fig);
    printf("  %-52s p50 %8.2f ms  p99 %8.2f ms  (%d rows, %s)\n", what, fig.p50_us / 1000.0,
           fig.p99_us / 1000.0, page.count, fig.p99_us < 100000.0 ? "< 100 ms" : "OVER 100 ms");
    free(lat);
}

/* Every page of the org, `limit` at a time. */
static void list_walk(natsConnection *nc, const char *org_id, bool include_expired, int limit,
                      int expect_total, const char *what)
{
    int cap = expect_total / limit + 2;
    int64_t *lat = calloc((size_t)cap, sizeof(*lat));
    struct figure fig = {0};
    struct page page = {0};
    char cursor[64] = "";
    int pages = 0;
    int total = 0;
    int64_t sum = 0;

    do {
        if (pages == cap)
            fail_msg("%s: more pages than expected", what);
        lat[pages] = list_once(nc, org_id, include_expired, limit, pages ? cursor : NULL, &page);
        sum += lat[pages++];
        total += page.count;
        snprintf(cursor, sizeof(cursor), "%s", page.next);
    } while (cursor[0] != '\0');
    if (total != expect_total)
        fail_msg("%s: walked %d licenses, expected %d", what, total, expect_total);
    percentiles(lat, pages, &fig);
    printf("  %-52s p50 %8.2f ms  p99 %8.2f ms  max %8.2f ms  (%d pages, %.2f s in all)\n", what,
           fig.p50_us / 1000.0, fig.p99_us / 1000.0, fig.max_us / 1000.0, pages, (double)sum / 1e9);
    free(lat);
}

/* Copies of lic_store_list's SQL (services/licensing/store.c): the page without the service. */
#define LIST_SHOWN                                                                                 \
    "AND NOT EXISTS (SELECT 1 FROM license_orgs o2 JOIN lb_org g ON g.tenant = o2.tenant "         \
    "  AND g.id = o2.org WHERE o2.license = lo.license AND o2.org <> lo.org "                      \
    "  AND g.deleted = 0 AND g.path GLOB ?5) "                                                     \
    "AND EXISTS (SELECT 1 FROM products p WHERE p.id = l.product AND p.shown = 1) "                \
    "ORDER BY lo.key LIMIT ?6"
static const char list_sql[] =
    "SELECT l.id, l.key FROM license_orgs lo INDEXED BY license_orgs_live "
    "JOIN licenses l ON l.id = lo.license "
    "WHERE lo.tenant = ?1 AND lo.org = ?2 AND lo.live = 1 AND lo.key > ?3 "
    "AND lo.expires_ms > ?4 " LIST_SHOWN;
static const char list_all_sql[] =
    "SELECT l.id, l.key FROM license_orgs lo JOIN licenses l ON l.id = lo.license "
    "WHERE lo.tenant = ?1 AND lo.org = ?2 AND lo.key > ?3 " LIST_SHOWN;

static double sql_page_ms(sqlite3 *db, const char *org_id, bool include_expired, int limit,
                          int repeats)
{
    sqlite3_stmt *stmt = NULL;
    char path[256] = "";
    int64_t t0;
    int64_t *lat = calloc((size_t)repeats, sizeof(*lat));
    struct figure fig = {0};

    if (sqlite3_prepare_v2(db, "SELECT path FROM lb_org WHERE tenant = ? AND id = ?", -1, &stmt,
                           NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(stmt, 1, TENANT, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, org_id, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        snprintf(path, sizeof(path), "%s*", (const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    if (envelope_parse_time(T0, &t0) != LB_OK ||
        sqlite3_prepare_v2(db, include_expired ? list_all_sql : list_sql, -1, &stmt, NULL) !=
            SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    for (int r = 0; r < repeats; r++) {
        int64_t t = clock_mono_ns();

        sqlite3_bind_text(stmt, 1, TENANT, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, org_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, "", -1, SQLITE_STATIC);
        if (!include_expired)
            sqlite3_bind_int64(stmt, 4, t0);
        sqlite3_bind_text(stmt, 5, path, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 6, limit + 1);
        while (sqlite3_step(stmt) == SQLITE_ROW)
            ;
        sqlite3_reset(stmt);
        lat[r] = clock_mono_ns() - t;
    }
    sqlite3_finalize(stmt);
    percentiles(lat, repeats, &fig);
    free(lat);
    return fig.p50_us / 1000.0;
}

static void print_plan(sqlite3 *db)
{
    char sql[sizeof(list_sql) + 32];
    sqlite3_stmt *stmt = NULL;

    snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", list_sql);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    printf("  plan of the listing SQL:\n");
    while (sqlite3_step(stmt) == SQLITE_ROW)
        printf("    %s\n", (const char *)sqlite3_column_text(stmt, 3));
    sqlite3_finalize(stmt);
}

static void bench_listing(natsConnection *nc, const struct service_proc *svc, double *applied)
{
    int valid_b = (list_licenses + 99) / 100;
    char path[300];
    double rate;
    sqlite3 *db = NULL;

    rate = seed_orders(nc, svc, "cust-a", false, applied);
    printf("seeding: %d commerce orders -> %d licenses of cust-a: %.0f orders/s applied "
           "(published async, each a license, a history row and a license_issued event)\n",
           list_licenses, list_licenses, rate);
    rate = seed_orders(nc, svc, "cust-b", true, applied);
    printf("seeding: %d orders -> cust-b, %d valid and %d expired: %.0f orders/s\n", list_licenses,
           valid_b, list_licenses - valid_b, rate);
    wait_metric(svc->http_port, "lb_outbox_published_total", 2.0 * list_licenses, SEED_TIMEOUT_MS);

    printf("license_list over one org of %d licenses (target < 100 ms)\n", list_licenses);
    list_repeat(nc, "cust-a", false, 100, PAGE_REPEATS, 100, "cust-a first page, limit 100");
    list_repeat(nc, "cust-a", true, 100, PAGE_REPEATS, 100,
                "cust-a first page, limit 100, include_expired");
    list_repeat(nc, "cust-a", false, 1000, PAGE_REPEATS / 4, 1000, "cust-a first page, limit 1000");
    list_walk(nc, "cust-a", false, 1000, list_licenses, "cust-a every page, limit 1000");
    list_walk(nc, "cust-a", false, 100, list_licenses, "cust-a every page, limit 100");
    /* Expired at issue, not swept yet: live in license_orgs, refused by the expiry on the index. */
    list_repeat(nc, "cust-b", false, 100, EXPIRED_REPEATS, valid_b < 100 ? valid_b : 100,
                "cust-b (99% expired, unswept) first page, limit 100");
    list_repeat(nc, "cust-b", false, 1000, EXPIRED_REPEATS, valid_b < 1000 ? valid_b : 1000,
                "cust-b (99% expired, unswept) first page, limit 1000");
    list_repeat(nc, "cust-b", true, 100, PAGE_REPEATS, 100,
                "cust-b (99% expired) first page, include_expired");
    list_walk(nc, "cust-b", false, 1000, valid_b,
              "cust-b (99% expired, unswept) every page, limit 1000");
    /* The steady state: the sweep recorded license_expired, which takes them off the live index. */
    {
        double published = harness_metric(svc->http_port, "lb_outbox_published_total");
        jsCtx *js = async_js(nc);
        int64_t t = clock_mono_ns();

        publish_event(js, "lb.evt.clock._sys.tick", "licensebus.clock.tick.v1",
                      "{\"now\":\"2026-11-22T10:00:01.000Z\"}");
        publish_complete(js);
        jsCtx_Destroy(js);
        wait_metric(svc->http_port, "lb_outbox_published_total",
                    published + 2.0 * (list_licenses - valid_b), SEED_TIMEOUT_MS);
        printf("sweep: %d licenses expired at once (license_expiring + license_expired each) in "
               "%.1f s\n",
               list_licenses - valid_b, (double)(clock_mono_ns() - t) / 1e9);
    }
    list_repeat(nc, "cust-b", false, 100, EXPIRED_REPEATS, valid_b < 100 ? valid_b : 100,
                "cust-b (99% expired, swept) first page, limit 100");
    list_repeat(nc, "cust-b", false, 1000, EXPIRED_REPEATS, valid_b < 1000 ? valid_b : 1000,
                "cust-b (99% expired, swept) first page, limit 1000");
    list_walk(nc, "cust-b", false, 1000, valid_b,
              "cust-b (99% expired, swept) every page, limit 1000");

    /* The page's SQL alone, on the service's own database (read-only; WAL lets both run). */
    snprintf(path, sizeof(path), "file:%s/licensing.db?mode=ro", svc->data_dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK)
        fail_msg("cannot open %s", path);
    printf("  the listing SQL alone (sqlite3 on the same file), p50:\n");
    printf("    cust-a limit 100: %.2f ms; limit 1000: %.2f ms; cust-b (swept) limit 100: %.2f ms; "
           "limit 1000: %.2f ms; cust-b include_expired: %.2f ms\n",
           sql_page_ms(db, "cust-a", false, 100, 50), sql_page_ms(db, "cust-a", false, 1000, 20),
           sql_page_ms(db, "cust-b", false, 100, 10), sql_page_ms(db, "cust-b", false, 1000, 10),
           sql_page_ms(db, "cust-b", true, 100, 50));
    print_plan(db);
    sqlite3_close(db);
    printf("  service RSS after listing: VmRSS %ld KiB, VmHWM %ld KiB\n",
           proc_kib(svc->pid, "VmRSS"), proc_kib(svc->pid, "VmHWM"));
}

/* ---- orchestration ------------------------------------------------------------------------ */

/* What one run starts; the teardown stops it even when a figure fails (no process is left). */
struct run {
    struct nats_server ns;
    struct service_proc svc;
    char data[256];
    natsConnection *nc;
    jsCtx *js;
    pid_t raw_pid;
};

static int setup(void **state)
{
    static const char *const env[] = {"LB_CLOCK=virtual", "LB_LOG_LEVEL=warn", NULL};
    struct run *r = calloc(1, sizeof(*r));
    char durable_path[300];

    assert_non_null(r);
    *state = r;
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    harness_nats_start(&r->ns, NULL);
    harness_tmpdir(r->data, "bench-licensing");
    snprintf(durable_path, sizeof(durable_path), "%s/raw-durable.db", r->data);
    r->raw_pid = fork();
    if (r->raw_pid == 0)
        _exit(run_raw_responder(r->ns.url, durable_path));
    harness_service_start(&r->svc, "licensing", &r->ns, r->data, env);
    r->nc = connect_asap(r->ns.url);
    r->js = async_js(r->nc);
    return 0;
}

static int teardown(void **state)
{
    struct run *r = *state;

    if (r->svc.pid > 0)
        harness_service_stop(&r->svc, SIGTERM, 30000);
    if (r->raw_pid > 0) {
        kill(r->raw_pid, SIGTERM);
        waitpid(r->raw_pid, NULL, 0);
    }
    jsCtx_Destroy(r->js);
    natsConnection_Destroy(r->nc);
    harness_nats_stop(&r->ns);
    if (getenv("LB_KEEP_TMP") == NULL)
        harness_rmdir(r->data);
    free(r);
    return 0;
}

static void bench(void **state)
{
    struct run *r = *state;
    int64_t t0;
    double applied = 0;

    printf("machine: %ld cores; nats-server, lb-licensing (virtual clock) and this client share "
           "them; ratios are what to compare\n",
           sysconf(_SC_NPROCESSORS_ONLN));

    /* The clock at T0, the tree dist-1 -> msp-3 -> {cust-act, cust-a, cust-b}, one product. */
    assert_int_equal(envelope_parse_time(T0, &t0), LB_OK);
    publish_event(r->js, "lb.evt.clock._sys.tick", "licensebus.clock.tick.v1",
                  "{\"now\":\"" T0 "\"}");
    org(r->js, TENANT, NULL, "distributor");
    org(r->js, "msp-3", TENANT, "msp");
    org(r->js, "cust-act", "msp-3", "customer");
    org(r->js, "cust-a", "msp-3", "customer");
    org(r->js, "cust-b", "msp-3", "customer");
    publish_complete(r->js);
    applied = 6;
    wait_platform(r->svc.http_port, applied, HARNESS_WAIT_MS);
    cJSON_Delete(call(r->nc, "product_add",
                      "{\"product\":\"core\",\"name\":\"MetaDefender Core\","
                      "\"delivery\":\"on_premises\",\"shown\":true}"));

    bench_activation(r->nc, &r->svc);
    if (!activation_only)
        bench_listing(r->nc, &r->svc, &applied);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest run[] = {cmocka_unit_test_setup_teardown(bench, setup, teardown)};

    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            paced_seconds = 1;
            pipelined_count /= 10;
            list_licenses /= 10;
        } else if (strcmp(argv[i], "--activation") == 0) {
            activation_only = true;
        }
    }
    /* harness_service_start runs <LB_BINARY_DIR>/lb-licensing: the build directory. */
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
