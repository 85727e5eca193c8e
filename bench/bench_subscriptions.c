/*
 * bench_subscriptions.c - the subscriptions service (build/lb-subscriptions)
 * measured against raw baselines in the same run on the same machine.
 *
 *   membership   N group_member_added events of one attached group (each
 *                assigns a seat: one seat row and one seat_assigned event),
 *                published while the service is stopped, then consumed from
 *                its start: events/s applied and acked; raw baseline: a bare
 *                pull consumer fetching the same N messages (256 a fetch,
 *                one ack each, no database)
 *   entitled     the entitlement query for users holding a seat, paced at
 *                5,000 queries/s for 10 s, then 128 in flight, once the service
 *                is idle (its consumers, its own stream included, and its
 *                outbox drained); raw baseline: a bare libnats responder the
 *                same way; and the service's own time per query ($SRV.STATS)
 *   trial sweep  1,000,000 subscriptions (500,000 in_trial, of which 10,000
 *                due) written straight into the service's SQLite database
 *                while it is stopped (its own schema: the real migrations ran
 *                at its first start); then one clock tick, timed until the
 *                10,000 conversions are committed (lb_events_applied_total)
 *                and until their events are published (lb_outbox_published_total)
 *
 * It starts its own nats-server and lb-subscriptions (LB_CLOCK=virtual)
 * through tests/harness. Targets (issue 4): entitled p99 < 1 ms at 5,000/s,
 * the sweep < 1 s. Usage: bench_subscriptions [--quick]  (a tenth of the work)
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
static int pipelined_count = 50000;
static int member_count = 100000;
static int sub_count = 1000000;
static int due_count = 10000;

#define ENTITLED_RATE    5000
#define REQUEST_WINDOW   128
#define T0               "2026-11-22T10:00:00.000Z"
#define DAY_MS           86400000LL
#define TENANT           "dist-1"
#define MSP              "\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"msp-3\",\"user\":\"bench\"}"
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

/* ---- measuring ---------------------------------------------------------------------- */

struct figure {
    double per_sec;
    double p50_us;
    double p99_us;
    double max_us;
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
    size_t p50 = (size_t)n / 2;
    size_t p99 = (size_t)n * 99 / 100;

    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    fig->p50_us = (double)lat[p50] / 1000.0;
    fig->p99_us = (double)lat[p99] / 1000.0;
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
    atomic_int unexpected; /* replies without "entitled":true (raw echoes excepted) */
    bool check;
    char first_error[256];
};

static void on_paced_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct paced *p = closure;
    int64_t now = clock_mono_ns();
    const char *dot = strrchr(natsMsg_GetSubject(msg), '.');
    int i = dot ? (int)strtol(dot + 1, NULL, 10) : -1;

    (void)nc;
    (void)sub;
    if (i >= 0 && i < p->count)
        p->lat[i] = now - __atomic_load_n(&p->sent[i], __ATOMIC_ACQUIRE);
    if (is_error_reply(msg) && atomic_fetch_add(&p->errors, 1) == 0)
        snprintf(p->first_error, sizeof(p->first_error), "%.*s", natsMsg_GetDataLength(msg),
                 natsMsg_GetData(msg));
    else if (p->check && strstr(natsMsg_GetData(msg), "\"entitled\":true") == NULL)
        atomic_fetch_add(&p->unexpected, 1);
    natsMsg_Destroy(msg);
    atomic_fetch_add(&p->received, 1);
}

/*
 * `count` requests at `rate` per second, each sent at its time whatever the
 * replies do (no coordinated omission); latency from send to reply.
 */
static void measure_paced(natsConnection *nc, const char *subject, int rate, int count,
                          body_fn make, bool check, struct figure *fig)
{
    static int run;
    struct paced p = {.count = count, .check = check};
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
        int len = make(NULL, i, body, sizeof(body));

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
    if (atomic_load(&p.errors) > 0)
        fail_msg("%d errors on %s, first: %s", atomic_load(&p.errors), subject, p.first_error);
    if (atomic_load(&p.unexpected) > 0)
        fail_msg("%d replies on %s were not entitled", atomic_load(&p.unexpected), subject);
    percentiles(p.lat, count, fig);
    free(p.sent);
    free(p.lat);
}

/* REQUEST_WINDOW requests in flight: throughput. */
static void measure_pipelined(natsConnection *nc, const char *subject, int count, body_fn make,
                              struct figure *fig)
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
            int len = make(NULL, sent, body, sizeof(body));

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

static void call(natsConnection *nc, const char *endpoint, const char *body)
{
    char subject[128];
    natsMsg *reply;

    snprintf(subject, sizeof(subject), "lb.api.subscriptions.%s", endpoint);
    reply = harness_request(nc, subject, body, strlen(body));
    if (is_error_reply(reply))
        fail_msg("%s failed: %.*s", endpoint, natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
}

/* Waits (up to `timeout_ms`, polling every `poll_ms`) until `sample` >= `value`. */
static void wait_metric(int port, const char *sample, double value, int timeout_ms, int poll_ms)
{
    int64_t deadline = clock_mono_ns() + (int64_t)timeout_ms * 1000000;

    while (harness_metric(port, sample) < value) {
        if (clock_mono_ns() > deadline)
            fail_msg("%s stayed at %.0f < %.0f", sample, harness_metric(port, sample), value);
        sleep_until(clock_mono_ns() + (int64_t)poll_ms * 1000000);
    }
}

static void publish_event(jsCtx *js, const char *subject, const char *type, const char *time,
                          const char *data)
{
    char id[ID_LEN + 1];
    char *event;
    natsMsg *msg = NULL;

    id_new(id, clock_wall_ms());
    event = harness_event(id, type, strstr(type, ".clock.") ? "_sys" : TENANT, time, data);
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

static void directory(jsCtx *js, const char *name, const char *data)
{
    char subject[128];
    char type[128];

    snprintf(subject, sizeof(subject), "lb.evt.directory." TENANT ".%s", name);
    snprintf(type, sizeof(type), "licensebus.directory.%s.v1", name);
    publish_event(js, subject, type, T0, data);
}

static void org(jsCtx *js, const char *id, const char *parent, const char *kind)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"%s\",\"kind\":\"%s\"}", id,
             parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
    directory(js, "org_created", data);
}

static void tick(jsCtx *js, int64_t at_ms)
{
    char now[32];
    char data[64];

    envelope_format_time(at_ms, now);
    snprintf(data, sizeof(data), "{\"now\":\"%s\"}", now);
    publish_event(js, "lb.evt.clock._sys.tick", "licensebus.clock.tick.v1", now, data);
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

static void print_rss(const struct service_proc *svc, const char *when)
{
    printf("  service RSS %s: VmRSS %ld KiB, VmHWM %ld KiB\n", when, proc_kib(svc->pid, "VmRSS"),
           proc_kib(svc->pid, "VmHWM"));
}

static const char *const service_env[] = {"LB_CLOCK=virtual", "LB_LOG_LEVEL=warn", NULL};

/* ---- membership ingestion ------------------------------------------------------------- */

/* Raw: a bare pull consumer reads the same messages from LB_DIRECTORY, acks each. */
static double raw_consume(natsConnection *nc, int count)
{
    jsCtx *js = async_js(nc);
    natsSubscription *sub = NULL;
    int got = 0;
    int64_t t;

    if (js_PullSubscribe(&sub, js, "lb.evt.directory." TENANT ".group_member_added", "bench-raw",
                         NULL, NULL, NULL) != NATS_OK)
        fail_msg("raw pull subscribe failed");
    t = clock_mono_ns();
    while (got < count) {
        natsMsgList list = {0};

        if (natsSubscription_Fetch(&list, sub, 256, 5000, NULL) != NATS_OK)
            fail_msg("raw fetch stalled at %d", got);
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], NULL);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    natsConnection_Flush(nc);
    t = clock_mono_ns() - t;
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    return count / ((double)t / 1e9);
}

static void bench_membership(natsConnection *nc, jsCtx *js, const struct nats_server *ns,
                             struct service_proc *svc, const char *data_dir)
{
    char data[256];
    int64_t t;
    double publish_rate, raw, applied, published;

    harness_service_stop(svc, SIGTERM, 30000);
    t = clock_mono_ns();
    for (int i = 0; i < member_count; i++) {
        snprintf(data, sizeof(data), "{\"group\":\"g-1\",\"user\":\"u-%d\"}", i);
        directory(js, "group_member_added", data);
    }
    publish_complete(js);
    publish_rate = member_count / ((double)(clock_mono_ns() - t) / 1e9);
    raw = raw_consume(nc, member_count);
    t = clock_mono_ns();
    harness_service_start(svc, "subscriptions", ns, data_dir, service_env);
    wait_metric(svc->http_port, "lb_events_applied_total", member_count, SEED_TIMEOUT_MS, 10);
    applied = member_count / ((double)(clock_mono_ns() - t) / 1e9);
    wait_metric(svc->http_port, "lb_outbox_published_total", member_count, SEED_TIMEOUT_MS, 10);
    published = member_count / ((double)(clock_mono_ns() - t) / 1e9);
    printf("group_member_added ingestion: %d events of one attached group (each assigns a seat and "
           "emits seat_assigned), queued while the service was stopped\n",
           member_count);
    printf("  raw JetStream async publish (seeding)  %8.0f events/s\n", publish_rate);
    printf("  raw pull fetch 256 + ack, no database  %8.0f events/s\n", raw);
    printf("  service applied and acked              %8.0f events/s   ratio %.2f (from its "
           "start, start-up included)\n",
           applied, applied / raw);
    printf("  ... and its %d seat_assigned published %8.0f events/s\n", member_count, published);
    print_rss(svc, "after ingestion");
}

/*
 * Waits until the service has nothing left to do: each of its durable consumers that exists
 * has nothing pending or unacked (it also reads back its own stream: the seat events the
 * ingestion emitted), and its outbox is empty. So the entitlement figures are of queries alone.
 */
static void wait_idle(jsCtx *js, const struct service_proc *svc)
{
    static const char *const consumers[][2] = {
        {"LB_SUBSCRIPTIONS", "subscriptions-subscriptions"},
        {"LB_DIRECTORY", "subscriptions-directory"},
        {"LB_AGENTS", "subscriptions-agents"},
        {"LB_CLOCK", "subscriptions-clock"},
    };
    int64_t deadline = clock_mono_ns() + (int64_t)SEED_TIMEOUT_MS * 1000000;

    for (;;) {
        bool idle = harness_metric(svc->http_port, "lb_outbox_pending") == 0;

        for (size_t i = 0; idle && i < sizeof(consumers) / sizeof(consumers[0]); i++) {
            jsConsumerInfo *ci = NULL;
            jsErrCode jerr = 0;

            if (js_GetConsumerInfo(&ci, js, consumers[i][0], consumers[i][1], NULL, &jerr) ==
                NATS_OK)
                idle = ci->NumPending == 0 && ci->NumAckPending == 0;
            jsConsumerInfo_Destroy(ci);
        }
        if (idle)
            return;
        if (clock_mono_ns() > deadline)
            fail_msg("the service did not settle");
        sleep_until(clock_mono_ns() + 20000000);
    }
}

/* ---- entitlement ---------------------------------------------------------------------- */

static int entitled_body(void *ctx, int i, char *buf, size_t size)
{
    (void)ctx;
    return snprintf(buf, size,
                    "{" MSP ",\"customer\":\"cust-7\",\"user\":\"u-%d\",\"feature\":\"%s\"}",
                    (int)(((unsigned)i * 2654435761u) % (unsigned)member_count),
                    i % 2 ? "file_sandbox" : "web_protection");
}

/* The service's own count and time of entitled requests ($SRV.STATS: parse, savepoint, handler,
 * reply JSON, on its loop thread; not the wait in its queue nor the batch's BEGIN/COMMIT). */
static void entitled_stats(natsConnection *nc, double *ret_requests, double *ret_ns)
{
    natsMsg *reply = harness_request(nc, "$SRV.STATS.subscriptions", "", 0);
    cJSON *stats = harness_reply_json(reply);
    const cJSON *e;

    *ret_requests = 0;
    *ret_ns = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(stats, "endpoints"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "name")), "entitled") == 0) {
            *ret_requests += cJSON_GetObjectItem(e, "num_requests")->valuedouble;
            *ret_ns += cJSON_GetObjectItem(e, "processing_time")->valuedouble;
        }
    }
    cJSON_Delete(stats);
    natsMsg_Destroy(reply);
}

static void bench_entitled(natsConnection *nc, const struct service_proc *svc)
{
    int paced = ENTITLED_RATE * paced_seconds;
    struct figure raw = {0}, ent = {0};
    double n0, ns0, n1, ns1, n2, ns2;

    measure_paced(nc, "raw.echo", ENTITLED_RATE, paced, entitled_body, false, &raw);
    entitled_stats(nc, &n0, &ns0);
    measure_paced(nc, "lb.api.subscriptions.entitled", ENTITLED_RATE, paced, entitled_body, true,
                  &ent);
    entitled_stats(nc, &n1, &ns1);
    printf("entitled (a user with a seat; customer with %d seats) paced at %d/s for %d s (%d "
           "queries, every answer entitled)\n",
           member_count, ENTITLED_RATE, paced_seconds, paced);
    printf("  sustained   raw %8.0f q/s   service %8.0f q/s\n", raw.per_sec, ent.per_sec);
    printf("  latency     raw p50 %6.0f p99 %6.0f max %6.0f us | service p50 %6.0f p99 %6.0f max "
           "%6.0f us | p99 x%.1f (+%.0f us)\n",
           raw.p50_us, raw.p99_us, raw.max_us, ent.p50_us, ent.p99_us, ent.max_us,
           ent.p99_us / raw.p99_us, ent.p99_us - raw.p99_us);
    printf("  target p99 < 1000 us at 5000/s: %s (p99 %.0f us)\n",
           ent.p99_us < 1000.0 ? "MET" : "NOT MET", ent.p99_us);
    printf("  service time per query on its loop ($SRV.STATS: parse, savepoint, handler, reply "
           "JSON): %.1f us average\n",
           n1 > n0 ? (ns1 - ns0) / (n1 - n0) / 1000.0 : 0);
    measure_pipelined(nc, "raw.echo", pipelined_count, entitled_body, &raw);
    measure_pipelined(nc, "lb.api.subscriptions.entitled", pipelined_count, entitled_body, &ent);
    entitled_stats(nc, &n2, &ns2);
    printf("entitled throughput (%d in flight, %d queries): raw %8.0f q/s   service %8.0f q/s   "
           "ratio %.2f; service time %.1f us average\n",
           REQUEST_WINDOW, pipelined_count, raw.per_sec, ent.per_sec, ent.per_sec / raw.per_sec,
           n2 > n1 ? (ns2 - ns1) / (n2 - n1) / 1000.0 : 0);
    print_rss(svc, "after entitlement");
}

/* ---- trial sweep ----------------------------------------------------------------------- */

static sqlite3 *open_db(const char *data_dir)
{
    char path[300];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/subscriptions.db", data_dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("cannot open %s", path);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static int64_t count_rows(sqlite3 *db, const char *sql, int64_t arg)
{
    sqlite3_stmt *stmt = NULL;
    int64_t n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(db));
    sqlite3_bind_int64(stmt, 1, arg);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return n;
}

/* A copy of subs_store_trials_due's SQL (services/subscriptions/store.c). */
static const char due_sql[] = "SELECT tenant, id FROM subscriptions INDEXED BY "
                              "subscriptions_trial_due WHERE status = 0 AND trial_end_ms <= ? "
                              "ORDER BY trial_end_ms, tenant, id LIMIT ?";

/*
 * 1,000,000 subscriptions of 1,000 customers straight into the service's
 * tables (the schema its migrations made): every 100th in_trial and due one
 * hour after T0, 49 of each 100 in_trial until T0 + 30 days, the rest active.
 */
static void seed_subscriptions(sqlite3 *db, int64_t t0)
{
    static const char ins_sub[] =
        "INSERT INTO subscriptions (tenant, id, customer, package, basis, quantity, status, "
        "trial_end_ms, billing_start_ms, billing_end_ms, version, created_ms, updated_ms) "
        "VALUES (?, ?, ?, ?, 0, 10, ?, ?, ?, NULL, 1, ?, ?)";
    static const char ins_cust[] = "INSERT OR IGNORE INTO customers (tenant, org, active, version, "
                                   "updated_ms) VALUES (?, ?, 1, 1, ?)";
    sqlite3_stmt *sub = NULL;
    sqlite3_stmt *cust = NULL;
    char id[32];
    char customer[32];
    int64_t t = clock_mono_ns();

    exec(db, "PRAGMA synchronous=OFF; BEGIN");
    if (sqlite3_prepare_v2(db, ins_sub, -1, &sub, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, ins_cust, -1, &cust, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    for (int i = 0; i < sub_count; i++) {
        int kind = i % 100;
        int64_t created = t0 - 10 * DAY_MS;

        snprintf(id, sizeof(id), "sub-%07d", i);
        snprintf(customer, sizeof(customer), "cust-s%04d", i % 1000);
        sqlite3_bind_text(sub, 1, TENANT, -1, SQLITE_STATIC);
        sqlite3_bind_text(sub, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(sub, 3, customer, -1, SQLITE_STATIC);
        sqlite3_bind_text(sub, 4, i % 2 ? "core" : "core_plus", -1, SQLITE_STATIC);
        if (kind == 0 && i / 100 < due_count) { /* due: trial ended in the first hour after T0 */
            sqlite3_bind_int(sub, 5, 0);
            sqlite3_bind_int64(sub, 6, t0 + 3600000LL * (i / 100) / due_count);
            sqlite3_bind_null(sub, 7);
        } else if (kind < 50) { /* in trial, not due */
            sqlite3_bind_int(sub, 5, 0);
            sqlite3_bind_int64(sub, 6, t0 + 30 * DAY_MS + i);
            sqlite3_bind_null(sub, 7);
        } else { /* active since creation */
            sqlite3_bind_int(sub, 5, 1);
            sqlite3_bind_null(sub, 6);
            sqlite3_bind_int64(sub, 7, created);
        }
        sqlite3_bind_int64(sub, 8, created);
        sqlite3_bind_int64(sub, 9, created);
        if (sqlite3_step(sub) != SQLITE_DONE)
            fail_msg("insert %s: %s", id, sqlite3_errmsg(db));
        sqlite3_reset(sub);
        if (i < 1000) {
            sqlite3_bind_text(cust, 1, TENANT, -1, SQLITE_STATIC);
            sqlite3_bind_text(cust, 2, customer, -1, SQLITE_STATIC);
            sqlite3_bind_int64(cust, 3, created);
            if (sqlite3_step(cust) != SQLITE_DONE)
                fail_msg("insert customer: %s", sqlite3_errmsg(db));
            sqlite3_reset(cust);
        }
    }
    sqlite3_finalize(sub);
    sqlite3_finalize(cust);
    exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
    printf("  seeded %d subscriptions (+1,000 customers) into subscriptions.db directly with "
           "sqlite3 while the service was stopped, into the schema of its own migrations (run at "
           "its first start): %.1f s\n",
           sub_count, (double)(clock_mono_ns() - t) / 1e9);
}

static void print_due_plan(sqlite3 *db, int64_t at)
{
    char sql[sizeof(due_sql) + 32];
    sqlite3_stmt *stmt = NULL;
    int64_t t;
    int rows = 0;

    snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", due_sql);
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    while (sqlite3_step(stmt) == SQLITE_ROW)
        printf("  plan of the due-trials query: %s\n", (const char *)sqlite3_column_text(stmt, 3));
    sqlite3_finalize(stmt);
    if (sqlite3_prepare_v2(db, due_sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg("prepare: %s", sqlite3_errmsg(db));
    t = clock_mono_ns();
    sqlite3_bind_int64(stmt, 1, at);
    sqlite3_bind_int(stmt, 2, 1000000);
    while (sqlite3_step(stmt) == SQLITE_ROW)
        rows++;
    sqlite3_finalize(stmt);
    printf("  finding all %d due trials through it (sqlite3, no service): %.2f ms\n", rows,
           (double)(clock_mono_ns() - t) / 1e6);
}

static void bench_sweep(jsCtx *js, const struct nats_server *ns, struct service_proc *svc,
                        const char *data_dir, int64_t t0)
{
    int64_t at = t0 + DAY_MS;
    sqlite3 *db;
    int64_t t;
    double committed_s, published_s;

    printf("trial sweep over %d subscriptions, %d of them in_trial and due (target < 1 s)\n",
           sub_count, due_count);
    harness_service_stop(svc, SIGTERM, 30000);
    db = open_db(data_dir);
    seed_subscriptions(db, t0);
    print_due_plan(db, at);
    sqlite3_close(db);

    harness_service_start(svc, "subscriptions", ns, data_dir, service_env);
    print_rss(svc, "after its start on the seeded database");
    t = clock_mono_ns();
    tick(js, at);
    publish_complete(js);
    wait_metric(svc->http_port, "lb_events_applied_total", 1, SEED_TIMEOUT_MS, 2);
    committed_s = (double)(clock_mono_ns() - t) / 1e9;
    wait_metric(svc->http_port, "lb_outbox_published_total", due_count, SEED_TIMEOUT_MS, 2);
    published_s = (double)(clock_mono_ns() - t) / 1e9;
    printf("  tick published -> %d conversions committed with their events: %.3f s  (%s)\n",
           due_count, committed_s, committed_s < 1.0 ? "target MET" : "target NOT MET");
    printf("  tick published -> their %d subscription_changed published:     %.3f s\n", due_count,
           published_s);
    print_rss(svc, "after the sweep");

    harness_service_stop(svc, SIGTERM, 30000);
    db = open_db(data_dir);
    if (count_rows(db, "SELECT count(*) FROM subscriptions WHERE status = 0 AND trial_end_ms <= ?",
                   at) != 0 ||
        count_rows(db,
                   "SELECT count(*) FROM subscriptions WHERE status = 1 AND version = 2 AND "
                   "billing_start_ms = trial_end_ms AND trial_end_ms <= ?",
                   at) != due_count)
        fail_msg("the sweep did not convert exactly the %d due trials", due_count);
    printf("  checked in the database afterwards: exactly the %d due trials are active, billing "
           "from their trial end\n",
           due_count);
    sqlite3_close(db);
}

/* ---- orchestration ------------------------------------------------------------------------ */

static void bench(void **state)
{
    struct nats_server ns;
    struct service_proc svc = {0};
    char data[256];
    natsConnection *nc;
    jsCtx *js;
    pid_t raw_pid;
    int64_t t0;

    (void)state;
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    harness_nats_start(&ns, NULL);
    raw_pid = fork();
    if (raw_pid == 0)
        _exit(run_raw_responder(ns.url));
    harness_tmpdir(data, "bench-subscriptions");
    /* The first start runs the service's migrations: the schema the sweep seeding writes into. */
    harness_service_start(&svc, "subscriptions", &ns, data, service_env);
    nc = connect_asap(ns.url);
    js = async_js(nc);
    printf("machine: %ld cores; nats-server, lb-subscriptions (virtual clock) and this client "
           "share them; ratios are what to compare\n",
           sysconf(_SC_NPROCESSORS_ONLN));

    /* The clock at T0; dist-1 -> msp-3 -> cust-7 (a customer), group g-1 of cust-7. */
    assert_int_equal(envelope_parse_time(T0, &t0), LB_OK);
    tick(js, t0);
    org(js, TENANT, NULL, "distributor");
    org(js, "msp-3", TENANT, "msp");
    org(js, "cust-7", "msp-3", "customer");
    directory(js, "group_created", "{\"group\":\"g-1\",\"org\":\"cust-7\",\"name\":\"All\"}");
    publish_complete(js);
    wait_metric(svc.http_port, "lb_events_applied_total", 5, HARNESS_WAIT_MS, 10);
    call(nc, "subscription_create",
         "{" MSP ",\"customer\":\"cust-7\",\"package\":\"core_plus\",\"seat_basis\":\"users\","
         "\"quantity\":1000000,\"subscription\":\"sub-1\"}");
    call(nc, "group_attach", "{" MSP ",\"subscription\":\"sub-1\",\"group\":\"g-1\"}");

    bench_membership(nc, js, &ns, &svc, data);
    wait_idle(js, &svc);
    bench_entitled(nc, &svc);
    bench_sweep(js, &ns, &svc, data, t0);

    kill(raw_pid, SIGTERM);
    waitpid(raw_pid, NULL, 0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    harness_nats_stop(&ns);
    harness_rmdir(data);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest run[] = {cmocka_unit_test(bench)};

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        paced_seconds = 1;
        pipelined_count /= 10;
        member_count /= 10;
        sub_count /= 10;
        due_count /= 10;
    }
    /* harness_service_start runs <LB_BINARY_DIR>/lb-subscriptions: the build directory. */
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
