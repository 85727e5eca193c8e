/*
 * test_usage_rebuild.c - a rebuilt usage database answers every query like
 * the original (decisions D20; docs/services/usage.md, "Rebuild"), against a
 * real nats-server, driven only through subjects on the virtual clock:
 * directory users (an update, a creation seen twice, a deletion),
 * subscriptions and seats (one for a user not known yet), agents installs
 * and associations (a third personal device refused, an association seen
 * twice, detachments, uninstalls), heartbeats, scan counts, the
 * device_associate command (and one it refuses), and clock ticks through an
 * over-consumption a release ends, a 30-day release, a retake by a signal,
 * 90-day purges and new personal data after one. The replies of every
 * query are recorded; the service is rebuilt twice (with --rebuild, then
 * with `lbctl rebuild usage`) and must give the same bytes without emitting
 * anything into LB_USAGE again: the streams' duplicate window is one second,
 * so an event emitted a second time would be stored a second time. Every
 * message in LB_USAGE is checked against its schema (Ajv).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "envelope.h"
#include "harness.h"

#define TENANT      "dist-1"
#define T0          "2026-11-22T10:00:00.000Z"
#define DAY_MS      86400000LL
#define HOUR_MS     3600000LL
#define QUERIES     64
#define POLL_MS     20
#define CATCH_UP_MS 90000
#define CALLER(org) "\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"" org "\",\"user\":\"ana\"}"
#define KEY         "7KQ2-M4XP-T9RB-C3VN"
/* Platform events of the story usage journals (all but org events, heartbeats, scans, ticks). */
#define JOURNALED 38

static const char *const service_env[] = {"LB_CLOCK=virtual",
                                          "LB_ACK_WAIT=300ms",
                                          "LB_MAX_DELIVER=20",
                                          "LB_DUPLICATE_WINDOW=1s",
                                          "LB_USAGE_INACTIVE_AFTER=30d",
                                          "LB_USAGE_RETENTION=90d",
                                          NULL};

/* The durable consumers of usage once it serves: its own stream is read only by a new database,
 * until the end (D28). */
static const char *const consumers[][2] = {
    {"LB_DIRECTORY", "usage-directory"},
    {"LB_AGENTS", "usage-agents"},
    {"LB_SIGNALS", "usage-signals"},
    {"LB_SCANNING", "usage-scanning"},
    {"LB_SUBSCRIPTIONS", "usage-subscriptions"},
    {"LB_CLOCK", "usage-clock"},
};

struct fixture {
    struct nats_server ns;
    struct service_proc svc;
    natsConnection *nc;
    jsCtx *js;
    char data[256];
    int64_t t0;
    int events;                /* platform events published (ticks included) */
    char last_domain[32];      /* domain of the last one */
    char *queries[QUERIES][2]; /* {endpoint, body} */
    char *replies[QUERIES];    /* as the original answered */
    int query_count;
};

/* ---- plumbing ------------------------------------------------------------------------ */

static double metric(struct fixture *f, const char *name)
{
    double v = harness_metric(f->svc.http_port, name);

    return v < 0 ? 0 : v;
}

static bool consumers_idle(struct fixture *f);

/* Waits until everything published so far is handled (and usage's own events read back). */
static void settle(struct fixture *f)
{
    int64_t deadline = clock_wall_ms() + HARNESS_WAIT_MS;

    while (!consumers_idle(f)) {
        if (clock_wall_ms() > deadline)
            fail_msg("usage has not handled the %d events published", f->events);
        nats_Sleep(POLL_MS);
    }
}

/* Publishes domain.name at T0 + at_ms. Streams are ordered, domains are not: as lbctl replay
 * does, the service applies one domain's events before another's come. */
static void publish(struct fixture *f, const char *domain, const char *tenant, const char *name,
                    int64_t at_ms, const char *data)
{
    char subject[256];
    char type[128];
    char time[32];
    char id[32];
    char *event;

    if (f->last_domain[0] != '\0' && strcmp(f->last_domain, domain) != 0)
        settle(f);
    snprintf(f->last_domain, sizeof(f->last_domain), "%s", domain);
    snprintf(subject, sizeof(subject), "lb.evt.%s.%s.%s", domain, tenant, name);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    snprintf(id, sizeof(id), "01JUREBUILD%015d", ++f->events);
    envelope_format_time(f->t0 + at_ms, time);
    event = harness_event(id, type, tenant, time, data);
    harness_js_publish(f->js, subject, id, event, strlen(event));
    free(event);
}

static void pub(struct fixture *f, const char *domain, const char *name, int64_t at_ms,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void pub(struct fixture *f, const char *domain, const char *name, int64_t at_ms,
                const char *fmt, ...)
{
    char data[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(data, sizeof(data), fmt, ap);
    va_end(ap);
    publish(f, domain, TENANT, name, at_ms, data);
}

/* Moves the virtual clock to T0 + days and waits until the service is there (its sweep run). */
static void tick(struct fixture *f, double days)
{
    int64_t at = (int64_t)(days * (double)DAY_MS);
    char now[32];

    envelope_format_time(f->t0 + at, now);
    pub(f, "clock", "tick", at, "{\"now\":\"%s\"}", now);
    settle(f);
    harness_wait_metric(f->svc.http_port, "lb_virtual_clock_seconds",
                        (double)(f->t0 + at) / 1000.0);
}

static void org(struct fixture *f, const char *id, const char *parent, const char *kind)
{
    pub(f, "directory", "org_created", 0,
        "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"%s\",\"kind\":\"%s\"}", id,
        parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
}

static void user(struct fixture *f, const char *id, const char *org_id, int64_t at_ms)
{
    pub(f, "directory", "user_created", at_ms,
        "{\"user\":\"%s\",\"org\":\"%s\",\"email\":\"%s@acme.example\",\"display_name\":\"Person "
        "%s\"}",
        id, org_id, id, id);
}

static void device(struct fixture *f, const char *id, const char *org_id, const char *kind,
                   int64_t at_ms)
{
    pub(f, "agents", "device_installed", at_ms,
        "{\"device\":\"%s\",\"org\":\"%s\",\"kind\":\"%s\",\"hostname\":\"host-%s\"%s}", id, org_id,
        kind, id, strcmp(kind, "business") == 0 ? ",\"os\":\"Windows 11\"" : "");
}

static void associate(struct fixture *f, const char *dev, const char *usr, int64_t at_ms)
{
    pub(f, "agents", "device_associated", at_ms, "{\"device\":\"%s\",\"user\":\"%s\"}", dev, usr);
}

static void subscription(struct fixture *f, const char *id, const char *customer, const char *basis,
                         int quantity)
{
    pub(f, "subscriptions", "subscription_changed", 0,
        "{\"subscription\":\"%s\",\"customer\":\"%s\",\"package\":\"core\",\"seat_basis\":\"%s\","
        "\"quantity\":%d,\"status\":\"active\",\"trial_end\":null,\"billing_start\":"
        "\"2026-11-01T00:00:00Z\",\"billing_end\":null,\"change\":\"created\",\"actor\":\"ops\"}",
        id, customer, basis, quantity);
}

static void seat(struct fixture *f, const char *name, const char *sub, const char *customer,
                 const char *usr, const char *group, int64_t at_ms)
{
    pub(f, "subscriptions", name, at_ms,
        "{\"subscription\":\"%s\",\"customer\":\"%s\",\"user\":\"%s\",\"group\":%s%s%s%s}", sub,
        customer, usr, group ? "\"" : "", group ? group : "null", group ? "\"" : "",
        strcmp(name, "seat_unassigned") == 0 ? ",\"reason\":\"left_group\"" : "");
}

static void heartbeat(struct fixture *f, const char *dev, int64_t at_ms)
{
    pub(f, "signals", "heartbeat", at_ms, "{\"device\":\"%s\"}", dev);
}

/* The raw reply to a request. */
static char *request(struct fixture *f, const char *endpoint, const char *body)
{
    char subject[128];
    natsMsg *reply;
    char *text;

    snprintf(subject, sizeof(subject), "lb.api.usage.%s", endpoint);
    reply = harness_request(f->nc, subject, body, strlen(body));
    text = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    natsMsg_Destroy(reply);
    assert_non_null(text);
    return text;
}

/* Adds a query whose reply must survive the rebuilds. */
static void query(struct fixture *f, const char *endpoint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void query(struct fixture *f, const char *endpoint, const char *fmt, ...)
{
    char body[1024];
    va_list ap;

    assert_true(f->query_count < QUERIES);
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    f->queries[f->query_count][0] = strdup(endpoint);
    f->queries[f->query_count][1] = strdup(body);
    f->query_count++;
}

/* True when no consumer of usage has anything pending or unacknowledged. */
static bool consumers_idle(struct fixture *f)
{
    for (size_t i = 0; i < sizeof(consumers) / sizeof(consumers[0]); i++) {
        jsConsumerInfo *ci = NULL;
        jsErrCode jerr = 0;
        bool idle;

        if (js_GetConsumerInfo(&ci, f->js, consumers[i][0], consumers[i][1], NULL, &jerr) !=
            NATS_OK)
            return false;
        idle = ci->NumPending == 0 && ci->NumAckPending == 0;
        jsConsumerInfo_Destroy(ci);
        if (!idle)
            return false;
    }
    return true;
}

static uint64_t stream_messages(struct fixture *f, const char *stream)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    uint64_t n;

    assert_int_equal(js_GetStreamInfo(&si, f->js, stream, NULL, &jerr), NATS_OK);
    n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

/*
 * Waits until the service answers (a rebuild refuses requests while it
 * restores) and every consumer has been idle twice in a row with LB_USAGE
 * unchanged between the two looks.
 */
static void wait_caught_up(struct fixture *f)
{
    int64_t deadline = clock_wall_ms() + CATCH_UP_MS;
    uint64_t last = UINT64_MAX;
    int idle = 0;

    for (;;) {
        char *reply = request(f, "device_get", "{" CALLER("msp-3") ",\"device\":\"d-1\"}");
        bool serving = strstr(reply, "\"unavailable\"") == NULL;

        free(reply);
        if (serving && consumers_idle(f)) {
            uint64_t now = stream_messages(f, "LB_USAGE");

            idle = now == last ? idle + 1 : 1;
            last = now;
            if (idle == 2)
                return;
        } else {
            idle = 0;
        }
        if (clock_wall_ms() > deadline)
            fail_msg("usage did not catch up within %d ms", CATCH_UP_MS);
        nats_Sleep((int64_t)POLL_MS * 10);
    }
}

/* The ids of the messages in LB_USAGE, in stream order, as one string. */
static char *usage_ids(struct fixture *f)
{
    natsMsg **msgs;
    size_t n = harness_stream_messages(f->js, "LB_USAGE", "lb.evt.usage.>", &msgs);
    size_t size = n * 28 + 1;
    char *ids = calloc(1, size);

    assert_non_null(ids);
    for (size_t i = 0; i < n; i++) {
        const char *id = NULL;

        assert_int_equal(natsMsgHeader_Get(msgs[i], "Nats-Msg-Id", &id), NATS_OK);
        strncat(ids, id, size - strlen(ids) - 1);
        strncat(ids, "\n", size - strlen(ids) - 1);
    }
    harness_free_messages(msgs, n);
    return ids;
}

/* Messages in LB_USAGE of type `name`. */
static size_t usage_events(struct fixture *f, const char *name)
{
    char filter[128];
    natsMsg **msgs;
    size_t n;

    snprintf(filter, sizeof(filter), "lb.evt.usage." TENANT ".%s", name);
    n = harness_stream_messages(f->js, "LB_USAGE", filter, &msgs);
    harness_free_messages(msgs, n);
    return n;
}

/* Every message in LB_USAGE is valid against its schema (Ajv, tests/contract's tools). */
static void check_usage_schemas(struct fixture *f)
{
    const char *src = getenv("LB_SOURCE_DIR");
    char lines[300], script[300], cmd[700];
    natsMsg **msgs;
    size_t n;
    FILE *out;

    if (src == NULL)
        return;
    snprintf(lines, sizeof(lines), "%s/usage-events.jsonl", f->data);
    snprintf(script, sizeof(script), "%s/check.mjs", f->data);
    out = fopen(lines, "w");
    assert_non_null(out);
    n = harness_stream_messages(f->js, "LB_USAGE", "lb.evt.usage.>", &msgs);
    for (size_t i = 0; i < n; i++) {
        const char *subject = natsMsg_GetSubject(msgs[i]);
        const char *name = strrchr(subject, '.') + 1;

        fprintf(out, "{\"schema\":\"events/usage.%s.v1.json\",\"doc\":%.*s}\n", name,
                natsMsg_GetDataLength(msgs[i]), natsMsg_GetData(msgs[i]));
    }
    harness_free_messages(msgs, n);
    fclose(out);
    out = fopen(script, "w");
    assert_non_null(out);
    fprintf(out,
            "import { readFileSync } from 'node:fs';\n"
            "import { loadAjv, validator } from '%s/tests/contract/lib.mjs';\n"
            "const { ajv } = loadAjv();\n"
            "let n = 0;\n"
            "for (const line of readFileSync('%s', 'utf8').split('\\n')) {\n"
            "  if (!line) continue;\n"
            "  const { schema, doc } = JSON.parse(line);\n"
            "  validator(ajv, schema)(doc, schema); n++;\n"
            "}\n"
            "console.log(`usage rebuild: ${n} LB_USAGE messages valid against schemas/`);\n",
            src, lines);
    fclose(out);
    snprintf(cmd, sizeof(cmd), "node %s", script);
    assert_int_equal(system(cmd), 0); // NOLINT(cert-env33-c): the test's own checker script
}

/* Every recorded query must answer as it did. */
static void assert_same_answers(struct fixture *f, const char *when)
{
    for (int i = 0; i < f->query_count; i++) {
        char *now = request(f, f->queries[i][0], f->queries[i][1]);

        if (strcmp(now, f->replies[i]) != 0)
            fail_msg("%s: %s %s answers differently:\nbefore: %s\nafter:  %s", when,
                     f->queries[i][0], f->queries[i][1], f->replies[i], now);
        free(now);
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_int_equal(envelope_parse_time(T0, &f->t0), LB_OK);
    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "usage-rebuild");
    harness_service_start(&f->svc, "usage", &f->ns, f->data, service_env);
    f->nc = harness_connect(&f->ns);
    f->js = harness_js(f->nc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < f->query_count; i++) {
        free(f->queries[i][0]);
        free(f->queries[i][1]);
        free(f->replies[i]);
    }
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->svc.pid > 0)
        harness_service_stop(&f->svc, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    free(f);
    return 0;
}

/* ---- the story ------------------------------------------------------------------------- */

static void command(struct fixture *f, const char *body, const char *want_code)
{
    char *reply = request(f, "device_associate", body);

    if (want_code == NULL ? strstr(reply, "\"error\"") != NULL : strstr(reply, want_code) == NULL)
        fail_msg("device_associate %s: %s", body, reply);
    free(reply);
}

static void drive_a_realistic_mix(struct fixture *f)
{
    tick(f, 0);
    /* dist-1 -> msp-3 -> {cust-7 -> site-1, cust-8} */
    org(f, TENANT, NULL, "distributor");
    org(f, "msp-3", TENANT, "msp");
    org(f, "cust-7", "msp-3", "customer");
    org(f, "site-1", "cust-7", "suborg");
    org(f, "cust-8", "msp-3", "customer");
    user(f, "u-1", "cust-7", 0);
    user(f, "u-2", "site-1", 0);
    user(f, "u-3", "cust-7", 0);
    user(f, "u-5", "cust-7", 0);
    pub(f, "directory", "user_updated", HOUR_MS,
        "{\"user\":\"u-3\",\"email\":\"third@acme.example\"}");
    user(f, "u-1", "cust-7", 0); /* the same creation again, another id: changes nothing */

    /* Seats; u-4 is seated before the directory knows it (another stream ran ahead). */
    subscription(f, "sub-1", "cust-7", "both", 4);
    subscription(f, "sub-2", "cust-7", "users", 1);
    subscription(f, "sub-8", "cust-8", "users", 5);
    seat(f, "seat_assigned", "sub-1", "cust-7", "u-1", "g-1", 0);
    seat(f, "seat_assigned", "sub-1", "cust-7", "u-2", "g-1", 0);
    seat(f, "seat_assigned", "sub-1", "cust-7", "u-5", NULL, 0);
    seat(f, "seat_assigned", "sub-2", "cust-7", "u-3", NULL, 0);
    seat(f, "seat_assigned", "sub-8", "cust-8", "u-4", "g-8", 0);
    seat(f, "seat_unassigned", "sub-2", "cust-7", "u-9", NULL, 0); /* never had one: nothing */
    user(f, "u-4", "cust-8", HOUR_MS);

    /* Devices and associations: a third personal device refused, one seen twice, detachments
     * (one of a pair that is not associated). */
    device(f, "d-1", "cust-7", "business", 0);
    device(f, "d-2", "cust-7", "personal", 0);
    device(f, "d-3", "cust-7", "personal", 0);
    device(f, "d-4", "cust-7", "personal", 0);
    device(f, "d-5", "site-1", "business", 0);
    device(f, "d-6", "cust-7", "business", 0);
    device(f, "d-7", "cust-8", "business", 0);
    associate(f, "d-1", "u-1", HOUR_MS);
    associate(f, "d-2", "u-1", HOUR_MS);
    associate(f, "d-3", "u-1", HOUR_MS);
    associate(f, "d-4", "u-1", HOUR_MS); /* refused: u-1 has 2 personal devices */
    associate(f, "d-5", "u-2", HOUR_MS);
    associate(f, "d-7", "u-4", HOUR_MS);
    associate(f, "d-1", "u-1", 2 * HOUR_MS); /* already so */
    pub(f, "agents", "device_detached", 3 * HOUR_MS, "{\"device\":\"d-3\",\"user\":\"u-1\"}");
    pub(f, "agents", "device_detached", 3 * HOUR_MS, "{\"device\":\"d-6\",\"user\":\"u-3\"}");

    /* Signals, one late; scan counts. */
    heartbeat(f, "d-1", DAY_MS);
    heartbeat(f, "d-2", DAY_MS + HOUR_MS);
    heartbeat(f, "d-5", 2 * DAY_MS);
    heartbeat(f, "d-6", 3 * DAY_MS);
    heartbeat(f, "d-7", 20 * DAY_MS);
    heartbeat(f, "d-1", DAY_MS / 2);
    pub(f, "scanning", "scans_counted", DAY_MS,
        "{\"key\":\"" KEY "\",\"org\":\"cust-7\",\"day\":\"2026-11-22\",\"scans\":100}");
    pub(f, "scanning", "scans_counted", 2 * DAY_MS,
        "{\"key\":\"" KEY "\",\"org\":\"site-1\",\"day\":\"2026-11-23\",\"scans\":5}");
    pub(f, "scanning", "scans_counted", 9 * DAY_MS,
        "{\"key\":\"" KEY "\",\"org\":\"cust-8\",\"day\":\"2026-12-01\",\"scans\":7}");
    settle(f);

    /* The command: the refused device goes to u-3 (no stream holds that); one it refuses. */
    command(f, "{" CALLER("cust-7") ",\"device\":\"d-4\",\"user\":\"u-3\"}", NULL);
    command(f, "{" CALLER("cust-7") ",\"device\":\"d-6\",\"user\":\"u-1\"}", "conflict");
    harness_wait_stream(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".device_associated", 1);
    /* sub-1: u-1, u-2, u-5 and two devices of nobody (d-3, d-6) = 5 > 4. */
    harness_wait_stream(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".overconsumption_started", 1);

    /* Day 31: u-3 and u-5 (nothing since their seats) released; sub-1 back at 4: ended. */
    tick(f, 29);
    tick(f, 31);
    harness_wait_stream(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".license_released", 2);
    harness_wait_stream(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".overconsumption_ended", 1);
    /* Day 40: u-1 and u-2 released (last signals on days 1 and 2); a signal of u-3's device
     * takes its license back. */
    tick(f, 40);
    heartbeat(f, "d-4", 40 * DAY_MS);
    settle(f);
    harness_wait_stream(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".license_retaken", 1);
    /* Retention starts: a deletion, a last seat unassigned; uninstalls keep the audit. */
    pub(f, "directory", "user_deleted", 45 * DAY_MS, "{\"user\":\"u-2\"}");
    seat(f, "seat_unassigned", "sub-8", "cust-8", "u-4", "g-8", 50 * DAY_MS);
    pub(f, "agents", "device_uninstalled", 51 * DAY_MS, "{\"device\":\"d-7\"}");
    pub(f, "agents", "device_uninstalled", 52 * DAY_MS, "{\"device\":\"d-6\"}");
    associate(f, "d-3", "u-5", 53 * DAY_MS);
    /* Day 136: u-5 (released on day 31), u-1 and u-2 (day 40) purged; u-3 released again.
     * Day 141: u-4 (last seat gone on day 50) purged. */
    tick(f, 136);
    tick(f, 141);
    harness_wait_stream(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".user_purged", 4);
    /* New personal data after a purge: kept, purged again when due; u-1 back by a signal. */
    pub(f, "directory", "user_updated", 142 * DAY_MS,
        "{\"user\":\"u-5\",\"display_name\":\"Back Again\"}");
    heartbeat(f, "d-2", 142 * DAY_MS);
    settle(f);
    wait_caught_up(f);
}

static void record_queries(struct fixture *f)
{
    static const char *const users[] = {"u-1", "u-2", "u-3", "u-4", "u-5", "u-9"};
    static const char *const devices[] = {"d-1", "d-2", "d-3", "d-4", "d-5", "d-6", "d-7"};

    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
        query(f, "user_get", "{" CALLER("msp-3") ",\"user\":\"%s\"}", users[i]);
    for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
        query(f, "device_get", "{" CALLER("msp-3") ",\"device\":\"%s\"}", devices[i]);
    query(f, "device_get", "{" CALLER("site-1") ",\"device\":\"d-5\"}");
    query(f, "device_list", "{" CALLER("msp-3") ",\"customer\":\"cust-7\"}");
    query(f, "device_list",
          "{" CALLER("msp-3") ",\"customer\":\"cust-7\",\"state\":\"installed\"}");
    query(f, "device_list",
          "{" CALLER("msp-3") ",\"customer\":\"cust-7\",\"state\":\"uninstalled\"}");
    query(f, "device_list", "{" CALLER("msp-3") ",\"customer\":\"cust-7\",\"limit\":2}");
    query(f, "device_list",
          "{" CALLER("msp-3") ",\"customer\":\"cust-7\",\"limit\":2,\"after\":\"d-2\"}");
    query(f, "device_list", "{" CALLER("msp-3") ",\"customer\":\"cust-8\"}");
    query(f, "consumption", "{" CALLER("msp-3") ",\"customer\":\"cust-7\"}");
    query(f, "consumption", "{" CALLER("msp-3") ",\"customer\":\"cust-8\"}");
    query(f, "scans",
          "{" CALLER("msp-3") ",\"key\":\"" KEY
                              "\",\"from\":\"2026-11-01\",\"to\":\"2026-12-31\"}");
    query(f, "scans",
          "{" CALLER("site-1") ",\"key\":\"" KEY
                               "\",\"from\":\"2026-11-01\",\"to\":\"2026-12-31\",\"by\":\"day\"}");
    for (int i = 0; i < f->query_count; i++) {
        f->replies[i] = request(f, f->queries[i][0], f->queries[i][1]);
        /* Only the unknown user is refused (forbidden, as anything outside the subtree). */
        if (i != 5)
            assert_null(strstr(f->replies[i], "\"error\""));
    }
}

static void test_rebuild_answers_like_the_original(void **state)
{
    struct fixture *f = *state;
    uint64_t dead_letters;
    char *ids_before;
    char *ids_after;
    char *reply;

    drive_a_realistic_mix(f);
    record_queries(f);
    ids_before = usage_ids(f);
    dead_letters = stream_messages(f, "LB_DLQ");
    assert_int_equal(dead_letters, 0);
    assert_int_equal(metric(f, "lb_usage_restored_total"), 0);
    /* What the original did: the refusal, the purges, the retake, every change journaled. */
    assert_int_equal(usage_events(f, "device_association_refused"), 1);
    assert_int_equal(usage_events(f, "license_released"), 5);
    assert_int_equal(usage_events(f, "user_purged"), 4);
    assert_true(usage_events(f, "state_changed") > 30);

    /* 1. --rebuild: the database moves aside and comes back from the streams. */
    assert_int_equal(harness_service_stop(&f->svc, SIGTERM, HARNESS_WAIT_MS), 0);
    f->svc.http_port = 0;
    harness_service_start_args(&f->svc, "usage", &f->ns, f->data, service_env, "--rebuild");
    wait_caught_up(f);
    assert_true(harness_log_contains(&f->svc, "reading its own stream to the end"));
    assert_true(harness_log_contains(&f->svc, "caught up with usage-usage"));
    assert_true(metric(f, "lb_usage_restored_total") > 0);
    /* Every journaled platform event (38: users, seats, devices, not heartbeats, scans, orgs
     * or ticks) came back with its change: none applied again. */
    assert_int_equal(metric(f, "lb_usage_restored_skips_total"), JOURNALED);
    assert_same_answers(f, "after --rebuild");
    ids_after = usage_ids(f);
    assert_string_equal(ids_after, ids_before);
    free(ids_after);

    /* 2. lbctl rebuild: the service drains and exits; restarted, it rebuilds. */
    {
        char command_line[1024];
        int status;

        snprintf(command_line, sizeof(command_line),
                 "%s/lbctl --url %s rebuild usage >/dev/null 2>&1", getenv("LB_BINARY_DIR"),
                 f->ns.url);
        status = system(command_line); // NOLINT(cert-env33-c): the operator's tool, as run
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_int_equal(harness_service_wait_exit(&f->svc, HARNESS_WAIT_MS), 0);
    f->svc.http_port = 0;
    harness_service_start(&f->svc, "usage", &f->ns, f->data, service_env);
    wait_caught_up(f);
    assert_true(harness_log_contains(&f->svc, "reading its own stream to the end"));
    assert_int_equal(metric(f, "lb_usage_restored_skips_total"), JOURNALED);
    assert_same_answers(f, "after lbctl rebuild");
    ids_after = usage_ids(f);
    assert_string_equal(ids_after, ids_before);
    free(ids_after);
    assert_int_equal(stream_messages(f, "LB_DLQ"), dead_letters);

    /* The rebuilt service goes on from there: a later tick releases nothing again (u-1, back
     * on day 142, is due on day 172) and purges u-5's new name (released on day 31). */
    tick(f, 150);
    harness_wait_stream(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".user_purged", 5);
    assert_int_equal(usage_events(f, "license_released"), 5);
    reply = request(f, "user_get", "{" CALLER("msp-3") ",\"user\":\"u-5\"}");
    assert_non_null(strstr(reply, "\"display_name\":null"));
    free(reply);
    check_usage_schemas(f);
    free(ids_before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rebuild_answers_like_the_original, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
