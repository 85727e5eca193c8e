/*
 * bench_reporting.c - the reporting service (build/lb-reporting) on a large
 * distributor: read-model ingestion, the Customer Organizations and overview
 * queries, and the large .xlsx export.
 *
 *   ingestion  dist-1 -> 10 MSPs -> 10,000 customer orgs (directory
 *              org_created), 5 products (licensing product_added), 200,000
 *              licenses, 20 per customer (licensing license_issued with the
 *              snapshot in data.license, as licensing emits it), published
 *              with async JetStream publish while the service runs; events/s
 *              from the first publish until lb_events_applied_total counts
 *              them all. Raw baseline, same run: a bare pull consumer (fetch
 *              256, ack each, no database) over the same license messages.
 *              Then 2 subscriptions per customer (subscriptions
 *              subscription_changed; 1 in 10 in trial, ending over the next
 *              30 days) and 5 seats each (seat_assigned): what the overview's
 *              seat and trial charts read.
 *   queries    as the distributor (caller org dist-1), sequential requests:
 *              customer_orgs first page (default limit 50), a filtered page
 *              (status expiring), a deep page (cursor after ~90 % of the
 *              orgs), 200 samples each, and overview of the whole
 *              distributor, of one MSP (a tenth) and of one customer, 200
 *              samples each; p50 / p99 / max
 *   export     a customer org holding 10 licenses with 10,000 deployments
 *              each (100,000 license_activated events); its Active
 *              Deployment Report as .xlsx: seconds of the request, and the
 *              service's peak RSS during it (VmHWM reset through
 *              /proc/<pid>/clear_refs just before); then the same report
 *              over the whole distributor (200,010 key rows + 100,000
 *              deployment rows), for scale
 *
 * It starts its own nats-server and lb-reporting (LB_CLOCK=virtual, one tick
 * to T0) through tests/harness. Targets (issue 6 item 8): queries p99 <
 * 100 ms; the export < 3 s with RSS < 100 MB. Usage: bench_reporting [--quick]
 * (a tenth of the orgs, licenses and deployments; a quarter of the samples)
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

#include "clock.h"
#include "envelope.h"
#include "harness.h"
#include "ids.h"

/* Sizes of each run (--quick divides them by 10). */
static int customer_count = 10000;
static int license_count = 200000;
static int deployment_count = 100000;
static int samples = 200;

#define MSPS               10
#define PRODUCTS           5
#define SUBS_PER_CUSTOMER  2
#define SEATS_PER_SUB      5
#define EXPORT_LICENSES    10
#define RAW_BATCH          256
#define T0                 "2026-11-22T10:00:00.000Z"
#define DAY_MS             86400000LL
#define TENANT             "dist-1"
#define DIST               "\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"" TENANT "\",\"user\":\"bench\"}"
#define SEED_TIMEOUT_MS    900000
#define REQUEST_TIMEOUT_MS 60000

static const char *const products[PRODUCTS] = {"core", "vault", "kiosk", "email-gw", "cloud-scan"};

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

/* Resets the peak RSS (VmHWM) of a process of ours to its current RSS. */
static void reset_hwm(pid_t pid)
{
    char path[64];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
    f = fopen(path, "w");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fputs("5", f);
    fclose(f);
}

static double metric0(int port, const char *sample)
{
    double v = harness_metric(port, sample);

    return v < 0 ? 0 : v;
}

/* Waits until lb_events_applied_total >= count; fails on a dead letter. */
static void wait_applied(const struct service_proc *svc, double count)
{
    int64_t deadline = clock_mono_ns() + (int64_t)SEED_TIMEOUT_MS * 1000000;

    while (metric0(svc->http_port, "lb_events_applied_total") < count) {
        if (metric0(svc->http_port, "lb_events_dead_lettered_total") > 0)
            fail_msg("reporting dead-lettered %.0f events (see %s)",
                     metric0(svc->http_port, "lb_events_dead_lettered_total"), svc->log_path);
        if (clock_mono_ns() > deadline)
            fail_msg("reporting applied %.0f of %.0f events",
                     metric0(svc->http_port, "lb_events_applied_total"), count);
        sleep_ms(20);
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

/* An event of lb.evt.<domain>.dist-1.<name>, or of raw.<domain>... when `raw`. */
static void domain_event(jsCtx *js, bool raw, const char *domain, const char *name, int64_t at_ms,
                         const char *data)
{
    char subject[128];
    char type[128];

    snprintf(subject, sizeof(subject), "%s.%s." TENANT ".%s", raw ? "raw" : "lb.evt", domain, name);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    publish_at(js, subject, type, TENANT, at_ms, data);
}

static void date_of(int64_t ms, char ret[16])
{
    char text[32];

    envelope_format_time(ms, text);
    snprintf(ret, 16, "%.10s", text);
}

/* ---- seeding ------------------------------------------------------------------------- */

static void org(jsCtx *js, int64_t t0, const char *id, const char *parent, const char *kind)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"Org %s\",\"kind\":\"%s\"}", id,
             parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
    domain_event(js, false, "directory", "org_created", t0, data);
}

/*
 * License i: customer i / 20, product i % 5 (cloud-scan is cloud), 1 in 10 expired
 * (up to 300 days ago), 1 in 20 expiring within 30 days, the rest 60..1060 days
 * ahead; 1 in 5 an evaluation.
 */
static void license_json(int i, int64_t t0, char *buf, size_t size)
{
    int per = license_count / customer_count;
    const char *product = products[i % PRODUCTS];
    bool cloud = i % PRODUCTS == PRODUCTS - 1;
    int64_t expires;
    char start[16], expiration[16];

    if (i % 10 == 0)
        expires = t0 - (1 + i % 300) * DAY_MS;
    else if (i % 20 == 1)
        expires = t0 + (1 + i % 29) * DAY_MS;
    else
        expires = t0 + (60 + i % 1000) * DAY_MS;
    date_of(expires - 365 * DAY_MS, start);
    date_of(expires, expiration);
    snprintf(buf, size,
             "{\"license\":{\"id\":\"L-%07d\",\"key\":\"K%03d-%04d-%04d-BNCH\",\"tenant\":\"" TENANT
             "\",\"product\":\"%s\",\"delivery\":\"%s\",\"limit_kind\":\"%s\",\"type\":\"%s\","
             "\"status\":\"active\",\"started\":true,\"start\":\"%s\",\"expiration\":\"%s\","
             "\"limit\":%d,\"deployed\":%d,\"scans_used\":%d,\"note\":\"PO %d\",\"orgs\":"
             "[\"cust-%05d\"],\"version\":1,\"issued_at\":\"" T0 "\",\"updated_at\":\"" T0 "\"},"
             "\"actor\":{\"org\":\"" TENANT "\",\"user\":\"bench\"},\"before\":null,\"after\":"
             "{\"type\":\"purchased\",\"orgs\":[\"cust-%05d\"]}}",
             i, i % 1000, (i / 1000) % 10000, i % 10000, product, cloud ? "cloud" : "on_premises",
             cloud ? "scans" : "instances", (i / PRODUCTS) % 5 == 2 ? "evaluation" : "purchased",
             start, expiration, cloud ? 100000 : 10, cloud ? 0 : i % 10, cloud ? i % 50000 : 0, i,
             i / per, i / per);
}

static void publish_licenses(jsCtx *js, bool raw, int64_t t0)
{
    char data[2048];

    for (int i = 0; i < license_count; i++) {
        license_json(i, t0, data, sizeof(data));
        domain_event(js, raw, "licensing", "license_issued", t0, data);
    }
    publish_complete(js);
}

/* Raw: a bare pull consumer over the license messages (fetch 256, ack each, no database). */
static double raw_consume(natsConnection *nc, jsCtx *js, int64_t t0)
{
    jsStreamConfig cfg;
    jsStreamInfo *si = NULL;
    const char *subjects[] = {"raw.licensing.>"};
    natsSubscription *sub = NULL;
    int got = 0;
    int64_t t;

    jsStreamConfig_Init(&cfg);
    cfg.Name = "RAW_LICENSING";
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    if (js_AddStream(&si, js, &cfg, NULL, NULL) != NATS_OK)
        fail_msg("cannot create stream RAW_LICENSING");
    jsStreamInfo_Destroy(si);
    publish_licenses(js, true, t0);
    if (js_PullSubscribe(&sub, js, "raw.licensing.>", "raw", NULL, NULL, NULL) != NATS_OK)
        fail_msg("raw pull subscribe failed");
    t = clock_mono_ns();
    while (got < license_count) {
        natsMsgList list = {0};

        if (natsSubscription_Fetch(&list, sub, RAW_BATCH, 5000, NULL) != NATS_OK)
            fail_msg("raw fetch stalled at %d", got);
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], NULL);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    natsConnection_Flush(nc);
    t = clock_mono_ns() - t;
    natsSubscription_Destroy(sub);
    js_DeleteStream(js, "RAW_LICENSING", NULL, NULL);
    return license_count / ((double)t / 1e9);
}

/* Customer c's subscriptions: sub-<c>-0 (core, users) and sub-<c>-1 (core_plus, both). */
static void publish_subscriptions(jsCtx *js, int64_t t0)
{
    char data[1024];

    for (int c = 0; c < customer_count; c++) {
        for (int k = 0; k < SUBS_PER_CUSTOMER; k++) {
            int n = c * SUBS_PER_CUSTOMER + k;
            bool trial = n % 10 == 3;
            char end[32];
            char trial_end[40] = "null";

            if (trial) {
                envelope_format_time(t0 + (1 + n % 30) * DAY_MS, end);
                snprintf(trial_end, sizeof(trial_end), "\"%s\"", end);
            }
            snprintf(data, sizeof(data),
                     "{\"subscription\":\"sub-%05d-%d\",\"customer\":\"cust-%05d\","
                     "\"package\":\"%s\",\"seat_basis\":\"%s\",\"quantity\":%d,"
                     "\"status\":\"%s\",\"trial_end\":%s,\"billing_start\":null,"
                     "\"billing_end\":null,\"version\":1,\"change\":\"created\","
                     "\"actor\":\"bench\"}",
                     c, k, c, k == 0 ? "core" : "core_plus", k == 0 ? "users" : "both", 2 + n % 7,
                     trial ? "in_trial" : "active", trial_end);
            domain_event(js, false, "subscriptions", "subscription_changed", t0, data);
        }
    }
    for (int c = 0; c < customer_count; c++) {
        for (int k = 0; k < SUBS_PER_CUSTOMER; k++) {
            for (int u = 0; u < SEATS_PER_SUB; u++) {
                snprintf(data, sizeof(data),
                         "{\"subscription\":\"sub-%05d-%d\",\"customer\":\"cust-%05d\","
                         "\"user\":\"u-%05d-%d\",\"group\":\"g-%05d\"}",
                         c, k, c, c, u, c);
                domain_event(js, false, "subscriptions", "seat_assigned", t0, data);
            }
        }
    }
    publish_complete(js);
}

/* 10 licenses of cust-export, each activated on deployment_count / 10 instances. */
static void publish_deployments(jsCtx *js, int64_t t0)
{
    int per = deployment_count / EXPORT_LICENSES;
    char data[2048];

    for (int n = 0; n < per; n++) {
        for (int l = 0; l < EXPORT_LICENSES; l++) {
            snprintf(data, sizeof(data),
                     "{\"license\":{\"id\":\"LX-%02d\",\"key\":\"EXPT-%04d-0000-BNCH\",\"tenant\":"
                     "\"" TENANT "\",\"product\":\"core\",\"delivery\":\"on_premises\","
                     "\"limit_kind\":\"instances\",\"type\":\"purchased\",\"status\":\"active\","
                     "\"started\":true,\"start\":\"2026-01-01\",\"expiration\":\"2027-12-31\","
                     "\"limit\":%d,\"deployed\":%d,\"scans_used\":0,\"note\":\"\",\"orgs\":"
                     "[\"cust-export\"],\"version\":%d,\"issued_at\":\"" T0 "\","
                     "\"updated_at\":\"" T0 "\"},\"actor\":{\"user\":\"bulk\"},"
                     "\"before\":{\"deployed\":%d},\"after\":{\"deployed\":%d},"
                     "\"deployment\":{\"instance\":\"inst-%02d-%06d\",\"host\":"
                     "\"host-%02d-%06d.example\",\"product_version\":\"5.10.1\",\"who\":\"bulk\","
                     "\"activated_at\":\"" T0 "\",\"last_seen\":null}}",
                     l, l, per, n + 1, n + 1, n, n + 1, l, n, l, n);
            domain_event(js, false, "licensing", "license_activated", t0, data);
        }
    }
    publish_complete(js);
}

/* ---- queries ------------------------------------------------------------------------- */

struct figure {
    double p50_ms;
    double p99_ms;
    double max_ms;
    int bytes;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static natsMsg *request(natsConnection *nc, const char *endpoint, const char *body)
{
    char subject[128];
    natsMsg *reply = NULL;

    snprintf(subject, sizeof(subject), "lb.api.reporting.%s", endpoint);
    if (natsConnection_RequestString(&reply, nc, subject, body, REQUEST_TIMEOUT_MS) != NATS_OK)
        fail_msg("%s: no reply", endpoint);
    if (natsMsg_GetDataLength(reply) > 9 && strncmp(natsMsg_GetData(reply), "{\"error\"", 8) == 0)
        fail_msg("%s failed: %.*s", endpoint, natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    return reply;
}

static void measure(natsConnection *nc, const char *endpoint, const char *body, int count,
                    struct figure *fig)
{
    int64_t *lat = calloc((size_t)count, sizeof(*lat));
    size_t p50 = (size_t)count / 2;
    size_t p99 = (size_t)count * 99 / 100;

    natsMsg_Destroy(request(nc, endpoint, body)); /* warm: statements prepared, pages cached */
    for (int i = 0; i < count; i++) {
        int64_t t = clock_mono_ns();
        natsMsg *reply = request(nc, endpoint, body);

        lat[i] = clock_mono_ns() - t;
        fig->bytes = natsMsg_GetDataLength(reply);
        natsMsg_Destroy(reply);
    }
    qsort(lat, (size_t)count, sizeof(*lat), cmp_i64);
    fig->p50_ms = (double)lat[p50] / 1e6;
    fig->p99_ms = (double)lat[p99] / 1e6;
    fig->max_ms = (double)lat[count - 1] / 1e6;
    free(lat);
}

/* Orgs and licenses in a customer_orgs reply; its next cursor into `ret_cursor` ("" if none). */
static void page_counts(natsMsg *reply, int *ret_orgs, int *ret_licenses, char *ret_cursor,
                        size_t size)
{
    cJSON *r = harness_reply_json(reply);
    cJSON *orgs = cJSON_GetObjectItem(r, "orgs");
    const char *next = cJSON_GetStringValue(cJSON_GetObjectItem(r, "next_cursor"));
    const cJSON *o;

    *ret_orgs = cJSON_GetArraySize(orgs);
    *ret_licenses = 0;
    cJSON_ArrayForEach(o, orgs)
    {
        *ret_licenses += cJSON_GetArraySize(cJSON_GetObjectItem(o, "on_premises")) +
                         cJSON_GetArraySize(cJSON_GetObjectItem(o, "cloud"));
    }
    snprintf(ret_cursor, size, "%s", next != NULL ? next : "");
    cJSON_Delete(r);
}

static void print_figure(const char *what, const struct figure *f)
{
    printf("  %-44s p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  (%d bytes)  %s\n", what, f->p50_ms,
           f->p99_ms, f->max_ms, f->bytes, f->p99_ms < 100 ? "target MET" : "target NOT MET");
}

static void bench_queries(natsConnection *nc)
{
    const char *first = "{" DIST "}";
    const char *filtered = "{" DIST ",\"status\":\"expiring\"}";
    char deep[512];
    char cursor[256] = "";
    char body[512];
    struct figure fig = {0};
    int orgs_seen = 0;
    int pages = 0;
    int n_orgs, n_licenses;
    int64_t t;
    natsMsg *reply;

    printf("queries as the distributor (%d sequential requests each after one warm-up; target "
           "p99 < 100 ms)\n",
           samples);
    reply = request(nc, "customer_orgs", first);
    page_counts(reply, &n_orgs, &n_licenses, cursor, sizeof(cursor));
    natsMsg_Destroy(reply);
    printf("  first page holds %d orgs and %d licenses\n", n_orgs, n_licenses);
    reply = request(nc, "customer_orgs", filtered);
    page_counts(reply, &n_orgs, &n_licenses, cursor, sizeof(cursor));
    natsMsg_Destroy(reply);
    printf("  filtered page (status expiring) holds %d orgs and %d licenses\n", n_orgs, n_licenses);

    /* Walk the pages (default limit) to ~90 % of the orgs: the cursor of a deep page. */
    t = clock_mono_ns();
    cursor[0] = '\0';
    while (orgs_seen < customer_count * 9 / 10) {
        if (cursor[0] == '\0')
            snprintf(body, sizeof(body), "{" DIST "}");
        else
            snprintf(body, sizeof(body), "{" DIST ",\"cursor\":\"%s\"}", cursor);
        reply = request(nc, "customer_orgs", body);
        page_counts(reply, &n_orgs, &n_licenses, cursor, sizeof(cursor));
        natsMsg_Destroy(reply);
        orgs_seen += n_orgs;
        pages++;
        if (cursor[0] == '\0' && orgs_seen < customer_count * 9 / 10)
            fail_msg("the walk ended after %d orgs", orgs_seen);
    }
    printf("  walked %d pages (%d orgs) in %.2f s to reach a deep cursor\n", pages, orgs_seen,
           (double)(clock_mono_ns() - t) / 1e9);
    snprintf(deep, sizeof(deep), "{" DIST ",\"cursor\":\"%s\"}", cursor);
    reply = request(nc, "customer_orgs", deep);
    page_counts(reply, &n_orgs, &n_licenses, body, sizeof(body));
    natsMsg_Destroy(reply);
    printf("  deep page (after org %d) holds %d orgs and %d licenses\n", orgs_seen, n_orgs,
           n_licenses);

    measure(nc, "customer_orgs", first, samples, &fig);
    print_figure("customer_orgs, first page (limit 50)", &fig);
    measure(nc, "customer_orgs", filtered, samples, &fig);
    print_figure("customer_orgs, filtered (status expiring)", &fig);
    measure(nc, "customer_orgs", deep, samples, &fig);
    print_figure("customer_orgs, deep page (limit 50)", &fig);
    measure(nc, "overview", first, samples, &fig);
    print_figure("overview, the whole distributor", &fig);
    measure(nc, "overview", "{" DIST ",\"org\":\"msp-03\"}", samples, &fig);
    print_figure("overview, one MSP (a tenth of the orgs)", &fig);
    measure(nc, "overview", "{" DIST ",\"org\":\"cust-00042\"}", samples, &fig);
    print_figure("overview, one customer", &fig);
}

/* ---- export -------------------------------------------------------------------------- */

static void export_once(natsConnection *nc, const struct service_proc *svc, const char *what,
                        const char *body, bool target)
{
    natsMsg *reply;
    cJSON *r;
    double seconds;
    long before = proc_kib(svc->pid, "VmRSS");
    long hwm;
    int64_t t;

    reset_hwm(svc->pid);
    t = clock_mono_ns();
    reply = request(nc, "export", body);
    seconds = (double)(clock_mono_ns() - t) / 1e9;
    hwm = proc_kib(svc->pid, "VmHWM");
    r = harness_reply_json(reply);
    natsMsg_Destroy(reply);
    printf("  %s: %.0f rows, %.0f bytes in %.0f chunks: %.2f s; VmRSS before %ld KiB, peak "
           "(VmHWM) %ld KiB",
           what, cJSON_GetNumberValue(cJSON_GetObjectItem(r, "rows")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(r, "bytes")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(r, "chunks")), seconds, before, hwm);
    if (target)
        printf("  (%s, %s)", seconds < 3 ? "< 3 s MET" : "< 3 s NOT MET",
               hwm < 100L * 1024 ? "< 100 MB MET" : "< 100 MB NOT MET");
    printf("\n");
    cJSON_Delete(r);
}

/* ---- orchestration ------------------------------------------------------------------------ */

static void bench(void **state)
{
    static const char *const env[] = {"LB_CLOCK=virtual", "LB_LOG_LEVEL=warn", NULL};
    struct nats_server ns;
    struct service_proc svc = {0};
    char data[256];
    char id[32];
    char parent[32];
    char tick[64];
    char what[128];
    natsConnection *nc;
    jsCtx *js;
    double applied = 0;
    double raw, secs;
    int64_t t0, t;

    (void)state;
    prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    assert_int_equal(envelope_parse_time(T0, &t0), LB_OK);
    harness_nats_start(&ns, NULL);
    harness_tmpdir(data, "bench-reporting");
    harness_service_start(&svc, "reporting", &ns, data, env);
    nc = harness_connect(&ns);
    js = async_js(nc);
    printf("machine: %ld cores; nats-server, lb-reporting (virtual clock) and this client share "
           "them; ratios are what to compare\n",
           sysconf(_SC_NPROCESSORS_ONLN));

    snprintf(tick, sizeof(tick), "{\"now\":\"%s\"}", T0);
    publish_at(js, "lb.evt.clock._sys.tick", "licensebus.clock.tick.v1", "_sys", t0, tick);
    publish_complete(js);
    wait_applied(&svc, applied += 1);

    printf("read-model ingestion (service running, async publish; events/s from the first "
           "publish to the last applied)\n");
    t = clock_mono_ns();
    org(js, t0, TENANT, NULL, "distributor");
    for (int m = 0; m < MSPS; m++) {
        snprintf(id, sizeof(id), "msp-%02d", m);
        org(js, t0, id, TENANT, "msp");
    }
    for (int c = 0; c < customer_count; c++) {
        snprintf(id, sizeof(id), "cust-%05d", c);
        snprintf(parent, sizeof(parent), "msp-%02d", c % MSPS);
        org(js, t0, id, parent, "customer");
    }
    org(js, t0, "cust-export", TENANT, "customer");
    publish_complete(js);
    wait_applied(&svc, applied += 2 + MSPS + customer_count);
    secs = (double)(clock_mono_ns() - t) / 1e9;
    printf("  %d org_created: %.1f s, %.0f events/s\n", 2 + MSPS + customer_count, secs,
           (2 + MSPS + customer_count) / secs);
    for (int p = 0; p < PRODUCTS; p++) {
        char pd[512];
        bool cloud = p == PRODUCTS - 1;

        snprintf(pd, sizeof(pd),
                 "{\"product\":{\"id\":\"%s\",\"name\":\"Product %s\",\"delivery\":\"%s\","
                 "\"limit_kind\":\"%s\",\"shown\":true,\"version\":1},\"installers\":[]}",
                 products[p], products[p], cloud ? "cloud" : "on_premises",
                 cloud ? "scans" : "instances");
        domain_event(js, false, "licensing", "product_added", t0, pd);
    }
    publish_complete(js);
    wait_applied(&svc, applied += PRODUCTS);

    raw = raw_consume(nc, js, t0);
    t = clock_mono_ns();
    publish_licenses(js, false, t0);
    wait_applied(&svc, applied += license_count);
    secs = (double)(clock_mono_ns() - t) / 1e9;
    printf("  %d license_issued (20 per customer): %.1f s, %.0f events/s; raw pull+ack of the "
           "same messages %.0f events/s; ratio %.2f\n",
           license_count, secs, license_count / secs, raw, license_count / secs / raw);
    t = clock_mono_ns();
    publish_subscriptions(js, t0);
    wait_applied(&svc, applied += customer_count * SUBS_PER_CUSTOMER * (1 + SEATS_PER_SUB));
    secs = (double)(clock_mono_ns() - t) / 1e9;
    printf("  %d subscription_changed + %d seat_assigned: %.1f s, %.0f events/s\n",
           customer_count * SUBS_PER_CUSTOMER, customer_count * SUBS_PER_CUSTOMER * SEATS_PER_SUB,
           secs, customer_count * SUBS_PER_CUSTOMER * (1 + SEATS_PER_SUB) / secs);
    t = clock_mono_ns();
    publish_deployments(js, t0);
    wait_applied(&svc, applied + deployment_count);
    secs = (double)(clock_mono_ns() - t) / 1e9;
    printf("  %d license_activated (deployments of cust-export): %.1f s, %.0f events/s\n",
           deployment_count, secs, deployment_count / secs);
    printf("  lb-reporting after ingestion: VmRSS %ld KiB, VmHWM %ld KiB\n",
           proc_kib(svc.pid, "VmRSS"), proc_kib(svc.pid, "VmHWM"));

    bench_queries(nc);

    printf("exports (.xlsx, built inside the request; targets < 3 s, peak RSS < 100 MB)\n");
    snprintf(what, sizeof(what), "active_deployments of cust-export (%d deployment rows)",
             deployment_count);
    export_once(nc, &svc, what,
                "{" DIST ",\"org\":\"cust-export\",\"report\":\"active_deployments\","
                "\"format\":\"xlsx\"}",
                true);
    export_once(nc, &svc, "active_deployments of the whole distributor",
                "{" DIST ",\"report\":\"active_deployments\",\"format\":\"xlsx\"}", false);

    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    harness_service_stop(&svc, SIGTERM, 30000);
    harness_nats_stop(&ns);
    harness_rmdir(data);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest run[] = {cmocka_unit_test(bench)};

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        customer_count /= 10;
        license_count /= 10;
        deployment_count /= 10;
        samples /= 4;
    }
    /* harness_service_start runs <LB_BINARY_DIR>/lb-reporting: the build directory. */
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
