/*
 * test_usage_flows.c - the usage service against a real nats-server, on the
 * virtual clock: users, devices and the association rule, consumption and
 * over-consumption per subscription, authorization by subtree, inactivity
 * release (30 d) and retake, retention purge (90 d), each exactly once
 * through clock jumps, replays and a restart; bad input dead-lettered or
 * refused with a precise reason; every reply and emitted event checked
 * against schemas/ by Ajv (tests/contract's tools); heartbeat ingestion rate.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "envelope.h"
#include "harness.h"

#define TENANT "dist-1"
#define T0     "2026-11-22T10:00:00.000Z"
#define DAY_MS 86400000LL
/* The runtime's request limit (SERVICE_REQUEST_MAX_BYTES), in bytes. */
#define REQUEST_MAX ((size_t)64 * 1024)

static const char *const virtual_env[] = {"LB_CLOCK=virtual", "LB_USAGE_INACTIVE_AFTER=30d",
                                          "LB_USAGE_RETENTION=90d", NULL};

struct fixture {
    struct nats_server ns;
    struct service_proc usage;
    natsConnection *nc;
    jsCtx *js;
    char data[256];
    char checks[300]; /* JSON lines {schema, doc} checked by Ajv at teardown */
    int seq;
    double published; /* events the service should have handled */
    int64_t t0;
    char last_domain[32]; /* domain of the last event published */
};

static void start_nats_and_client(struct fixture *f)
{
    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "usage");
    snprintf(f->checks, sizeof(f->checks), "%s/checks.jsonl", f->data);
    f->nc = harness_connect(&f->ns);
    f->js = harness_js(f->nc);
    assert_int_equal(envelope_parse_time(T0, &f->t0), LB_OK);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    start_nats_and_client(f);
    harness_service_start(&f->usage, "usage", &f->ns, f->data, virtual_env);
    *state = f;
    return 0;
}

static void check_schemas(struct fixture *f)
{
    char script[400];
    char cmd[1200];
    FILE *out;
    const char *src = getenv("LB_SOURCE_DIR");

    if (src == NULL || access(f->checks, R_OK) != 0)
        return;
    snprintf(script, sizeof(script), "%s/check.mjs", f->data);
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
            "console.log(`usage: ${n} messages valid against schemas/`);\n",
            src, f->checks);
    fclose(out);
    snprintf(cmd, sizeof(cmd), "node %s", script);
    assert_int_equal(system(cmd), 0); // NOLINT(cert-env33-c): the test's own checker script
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    check_schemas(f);
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->usage.pid > 0)
        harness_service_stop(&f->usage, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    free(f);
    return 0;
}

static void record_check(struct fixture *f, const char *schema, const char *json, size_t len)
{
    FILE *out = fopen(f->checks, "a");

    assert_non_null(out);
    fprintf(out, "{\"schema\":\"%s\",\"doc\":%.*s}\n", schema, (int)len, json);
    fclose(out);
}

static double metric(struct fixture *f, const char *name)
{
    double v = harness_metric(f->usage.http_port, name);

    return v < 0 ? 0 : v;
}

/* The durable consumers of usage, one per consumed stream (its own is read only by a new
 * database, until the end: D28). */
static const char *const consumers[][2] = {
    {"LB_DIRECTORY", "usage-directory"},
    {"LB_AGENTS", "usage-agents"},
    {"LB_SIGNALS", "usage-signals"},
    {"LB_SCANNING", "usage-scanning"},
    {"LB_SUBSCRIPTIONS", "usage-subscriptions"},
    {"LB_CLOCK", "usage-clock"},
};

/* True when no consumer of usage has anything pending or unacknowledged (acks follow commits:
 * what was published is applied, dead-lettered or skipped) and its outbox is empty (what it
 * emitted is stored). */
static bool consumers_idle(struct fixture *f)
{
    if (harness_metric(f->usage.http_port, "lb_outbox_pending") != 0)
        return false;
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

/* Waits until the service has handled every event published so far. */
static void settle(struct fixture *f)
{
    int64_t deadline = clock_wall_ms() + HARNESS_WAIT_MS;

    while (!consumers_idle(f)) {
        if (clock_wall_ms() > deadline)
            fail_msg("usage has not handled the %.0f events published", f->published);
        usleep(10000);
    }
}

/* Publishes an event of `domain`.`name` at T0 + `at_ms`, with a fresh id; returns nothing. */
static void pub_at(struct fixture *f, const char *domain, const char *tenant, const char *name,
                   int64_t at_ms, const char *data)
{
    char id[32];
    char type[128];
    char subject[160];
    char time[32];
    char *event;

    /* Streams are ordered, domains are not: as lbctl replay does, let the service apply one
     * domain's events before another's (a device install before its signals, an org before
     * its devices), so the tests see no race the platform's order would not cause. */
    if (f->usage.pid > 0 && f->last_domain[0] != '\0' && strcmp(f->last_domain, domain) != 0)
        settle(f);
    snprintf(f->last_domain, sizeof(f->last_domain), "%s", domain);
    snprintf(id, sizeof(id), "01JUSAGE%018d", ++f->seq);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    snprintf(subject, sizeof(subject), "lb.evt.%s.%s.%s", domain, tenant, name);
    envelope_format_time(f->t0 + at_ms, time);
    event = harness_event(id, type, tenant, time, data);
    harness_js_publish(f->js, subject, id, event, strlen(event));
    free(event);
    f->published++;
}

static void pub(struct fixture *f, const char *domain, const char *name, const char *data)
{
    pub_at(f, domain, TENANT, name, 0, data);
}

/* Moves the virtual clock to T0 + `days` and waits until it is applied (with its sweep). */
static void tick(struct fixture *f, double days)
{
    char data[64];
    char now[32];

    envelope_format_time(f->t0 + (int64_t)(days * DAY_MS), now);
    snprintf(data, sizeof(data), "{\"now\":\"%s\"}", now);
    pub_at(f, "clock", "_sys", "tick", (int64_t)(days * DAY_MS), data);
    settle(f);
}

static const char *code_of(const cJSON *reply)
{
    const cJSON *error = cJSON_GetObjectItem(reply, "error");
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(error, "code"));

    return code != NULL ? code : "ok";
}

static const char *message_of(const cJSON *reply)
{
    const cJSON *error = cJSON_GetObjectItem(reply, "error");
    const char *message = cJSON_GetStringValue(cJSON_GetObjectItem(error, "message"));

    return message != NULL ? message : "";
}

/* Sends a request; returns the reply (checked against its schema when not an error). */
static cJSON *request(struct fixture *f, const char *endpoint, const char *body)
{
    char subject[128];
    char schema[128];
    natsMsg *reply;
    cJSON *json;

    snprintf(subject, sizeof(subject), "lb.api.usage.%s", endpoint);
    reply = harness_request(f->nc, subject, body, strlen(body));
    json = harness_reply_json(reply);
    if (cJSON_GetObjectItem(json, "error") == NULL) {
        snprintf(schema, sizeof(schema), "api/usage.%s.reply.json", endpoint);
        record_check(f, schema, natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    }
    /* A request the service took as well-formed must be valid against its schema too. */
    snprintf(schema, sizeof(schema), "api/usage.%s.request.json", endpoint);
    if (strcmp(code_of(json), "invalid_request") != 0 && strcmp(code_of(json), "too_large") != 0 &&
        strstr(body, "\"nope\"") == NULL)
        record_check(f, schema, body, strlen(body));
    natsMsg_Destroy(reply);
    return json;
}

static int64_t num(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItem(obj, name);

    if (!cJSON_IsNumber(item))
        fail_msg("no number %s", name);
    return (int64_t)item->valuedouble;
}

/* Events of `name` in LB_USAGE (each checked against its schema). */
static size_t usage_events(struct fixture *f, const char *name, cJSON **ret_last_data)
{
    char filter[128];
    char schema[128];
    natsMsg **msgs;
    size_t n;

    snprintf(filter, sizeof(filter), "lb.evt.usage.%s.%s", TENANT, name);
    snprintf(schema, sizeof(schema), "events/usage.%s.v1.json", name);
    n = harness_stream_messages(f->js, "LB_USAGE", filter, &msgs);
    for (size_t i = 0; i < n; i++)
        record_check(f, schema, natsMsg_GetData(msgs[i]), (size_t)natsMsg_GetDataLength(msgs[i]));
    if (ret_last_data != NULL && n > 0) {
        cJSON *ev = cJSON_ParseWithLength(natsMsg_GetData(msgs[n - 1]),
                                          (size_t)natsMsg_GetDataLength(msgs[n - 1]));

        *ret_last_data = cJSON_DetachItemFromObject(ev, "data");
        cJSON_Delete(ev);
    }
    harness_free_messages(msgs, n);
    return n;
}

static size_t wait_events(struct fixture *f, const char *name, size_t count)
{
    char filter[128];

    snprintf(filter, sizeof(filter), "lb.evt.usage.%s.%s", TENANT, name);
    return harness_wait_stream(f->js, "LB_USAGE", filter, count);
}

/* Waits for the dead letter whose reason mentions `needle`, with `code` (harness). */
static void assert_dead_letter(struct fixture *f, const char *code, const char *needle)
{
    cJSON_Delete(harness_wait_dead_letter(f->js, "usage", code, needle));
}

/* dist-1 -> msp-3 -> {cust-7 -> site-1, cust-8}; dist-2 -> cust-9 (another tenant). */
static void org_tree(struct fixture *f)
{
    pub(f, "directory", "org_created",
        "{\"org\":\"dist-1\",\"parent\":null,\"name\":\"Dist\",\"kind\":\"distributor\"}");
    pub(f, "directory", "org_created",
        "{\"org\":\"msp-3\",\"parent\":\"dist-1\",\"name\":\"MSP\",\"kind\":\"msp\"}");
    pub(f, "directory", "org_created",
        "{\"org\":\"cust-7\",\"parent\":\"msp-3\",\"name\":\"Acme\",\"kind\":\"customer\"}");
    pub(f, "directory", "org_created",
        "{\"org\":\"site-1\",\"parent\":\"cust-7\",\"name\":\"Acme Lab\",\"kind\":\"suborg\"}");
    pub(f, "directory", "org_created",
        "{\"org\":\"cust-8\",\"parent\":\"msp-3\",\"name\":\"Other\",\"kind\":\"customer\"}");
    pub_at(f, "directory", "dist-2", "org_created", 0,
           "{\"org\":\"dist-2\",\"parent\":null,\"name\":\"D2\",\"kind\":\"distributor\"}");
    pub_at(f, "directory", "dist-2", "org_created", 0,
           "{\"org\":\"cust-9\",\"parent\":\"dist-2\",\"name\":\"C9\",\"kind\":\"customer\"}");
}

static void user(struct fixture *f, const char *id, const char *org)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"user\":\"%s\",\"org\":\"%s\",\"email\":\"%s@acme.example\",\"display_name\":"
             "\"Person %s\"}",
             id, org, id, id);
    pub(f, "directory", "user_created", data);
}

static void device(struct fixture *f, const char *id, const char *org, const char *kind)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"device\":\"%s\",\"org\":\"%s\",\"kind\":\"%s\",\"hostname\":\"host-%s\"}", id, org,
             kind, id);
    pub(f, "agents", "device_installed", data);
}

static void associate(struct fixture *f, const char *dev, const char *usr)
{
    char data[128];

    snprintf(data, sizeof(data), "{\"device\":\"%s\",\"user\":\"%s\"}", dev, usr);
    pub(f, "agents", "device_associated", data);
}

static void subscription_of(struct fixture *f, const char *id, const char *customer,
                            const char *basis, int quantity, const char *status)
{
    char data[512];

    snprintf(data, sizeof(data),
             "{\"subscription\":\"%s\",\"customer\":\"%s\",\"package\":\"core\","
             "\"seat_basis\":\"%s\",\"quantity\":%d,\"status\":\"%s\",\"trial_end\":null,"
             "\"billing_start\":\"2026-11-01T00:00:00Z\",\"billing_end\":null,\"change\":"
             "\"created\",\"actor\":\"ops\",\"future_member\":1}",
             id, customer, basis, quantity, status);
    pub(f, "subscriptions", "subscription_changed", data);
}

static void subscription(struct fixture *f, const char *id, const char *basis, int quantity,
                         const char *status)
{
    subscription_of(f, id, "cust-7", basis, quantity, status);
}

static void seat_of(struct fixture *f, const char *name, const char *sub, const char *customer,
                    const char *usr)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"subscription\":\"%s\",\"customer\":\"%s\",\"user\":\"%s\",\"group\":"
             "\"g-1\"%s}",
             sub, customer, usr,
             strcmp(name, "seat_unassigned") == 0 ? ",\"reason\":\"left_group\"" : "");
    pub(f, "subscriptions", name, data);
}

static void seat(struct fixture *f, const char *name, const char *sub, const char *usr)
{
    seat_of(f, name, sub, "cust-7", usr);
}

static void heartbeat_at(struct fixture *f, const char *dev, int64_t at_ms)
{
    char data[128];

    snprintf(data, sizeof(data), "{\"device\":\"%s\"}", dev);
    pub_at(f, "signals", TENANT, "heartbeat", at_ms, data);
}

#define CALLER(org) "\"tenant\":\"dist-1\",\"caller\":{\"org\":\"" org "\",\"user\":\"ana\"}"

static cJSON *consumption(struct fixture *f, const char *caller_org)
{
    char body[256];

    snprintf(body, sizeof(body),
             "{\"tenant\":\"dist-1\",\"caller\":{\"org\":\"%s\",\"user\":\"ana\"},"
             "\"customer\":\"cust-7\"}",
             caller_org);
    return request(f, "consumption", body);
}

/* ---- the main flows ------------------------------------------------------------- */

static void test_association_and_consumption(void **state)
{
    struct fixture *f = *state;
    cJSON *reply;
    cJSON *data = NULL;
    const cJSON *sub;

    org_tree(f);
    user(f, "u-1", "cust-7");
    user(f, "u-2", "site-1"); /* a sub-org's user counts under its customer */
    device(f, "d-1", "cust-7", "business");
    device(f, "d-2", "cust-7", "personal");
    device(f, "d-3", "cust-7", "personal");
    device(f, "d-4", "cust-7", "personal");
    device(f, "d-5", "site-1", "business");
    subscription(f, "sub-1", "both", 2, "active");
    seat(f, "seat_assigned", "sub-1", "u-1");
    associate(f, "d-1", "u-1");
    associate(f, "d-2", "u-1");
    associate(f, "d-3", "u-1");
    associate(f, "d-4", "u-1"); /* a third personal device: refused, stays unassociated */
    settle(f);
    assert_int_equal(metric(f, "lb_events_dead_lettered_total"), 0);
    assert_int_equal(wait_events(f, "device_association_refused", 1), 1);
    usage_events(f, "device_association_refused", &data);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "reason")),
                        "allowance_exceeded");
    assert_non_null(
        strstr(cJSON_GetStringValue(cJSON_GetObjectItem(data, "message")), "2 personal device"));
    cJSON_Delete(data);

    /* u-1 = 1, d-4 and d-5 (no user) = 1 each: 3 > 2 purchased, shown and announced. */
    reply = consumption(f, "msp-3");
    assert_string_equal(code_of(reply), "ok");
    assert_int_equal(num(reply, "consumed"), 3);
    assert_int_equal(num(reply, "purchased"), 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(reply, "over")));
    assert_int_equal(num(reply, "licensed_users"), 1);
    assert_int_equal(num(reply, "unassociated_devices"), 2);
    assert_int_equal(num(reply, "associated_devices"), 3);
    sub = cJSON_GetArrayItem(cJSON_GetObjectItem(reply, "subscriptions"), 0);
    assert_int_equal(num(sub, "users"), 1);
    assert_int_equal(num(sub, "devices"), 2);
    cJSON_Delete(reply);
    assert_int_equal(wait_events(f, "overconsumption_started", 1), 1);

    /* Uninstalled: kept for audit, consumes nothing: back under, announced once. */
    pub(f, "agents", "device_uninstalled", "{\"device\":\"d-5\"}");
    settle(f);
    assert_int_equal(wait_events(f, "overconsumption_ended", 1), 1);
    reply = request(f, "device_get", "{" CALLER("cust-7") ",\"device\":\"d-5\"}");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "state")), "uninstalled");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(reply, "consumes")));
    cJSON_Delete(reply);

    /* The command refuses beyond the allowance with a precise error, and changes nothing. */
    reply =
        request(f, "device_associate", "{" CALLER("msp-3") ",\"device\":\"d-4\",\"user\":\"u-1\"}");
    assert_string_equal(code_of(reply), "conflict");
    assert_non_null(strstr(message_of(reply), "2 personal device"));
    cJSON_Delete(reply);
    reply = request(f, "device_associate",
                    "{" CALLER("cust-7") ",\"device\":\"d-4\",\"user\":\"u-2\"}");
    assert_string_equal(code_of(reply), "ok");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "user")), "u-2");
    cJSON_Delete(reply);
    assert_int_equal(wait_events(f, "device_associated", 1), 1);

    /* Lists, paged. */
    reply = request(f, "device_list",
                    "{" CALLER("cust-7") ",\"customer\":\"cust-7\",\"state\":\"installed\","
                                         "\"limit\":2}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(reply, "devices")), 2);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "next")), "d-2");
    cJSON_Delete(reply);
    reply = request(f, "device_list",
                    "{" CALLER("cust-7") ",\"customer\":\"cust-7\",\"state\":\"installed\","
                                         "\"limit\":2,\"after\":\"d-2\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(reply, "devices")), 2);
    cJSON_Delete(reply);
    reply = request(f, "user_get", "{" CALLER("msp-3") ",\"user\":\"u-1\"}");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "state")), "licensed");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(reply, "devices")), 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "email")),
                        "u-1@acme.example");
    cJSON_Delete(reply);

    /* Scans per license and month, only the caller's subtree. */
    pub(f, "scanning", "scans_counted",
        "{\"key\":\"7KQ2-M4XP-T9RB-C3VN\",\"org\":\"cust-7\",\"day\":\"2026-11-22\",\"scans\":"
        "100}");
    pub(f, "scanning", "scans_counted",
        "{\"key\":\"7KQ2-M4XP-T9RB-C3VN\",\"org\":\"site-1\",\"day\":\"2026-11-23\",\"scans\":5}");
    pub(f, "scanning", "scans_counted",
        "{\"key\":\"7KQ2-M4XP-T9RB-C3VN\",\"org\":\"cust-8\",\"day\":\"2026-12-01\",\"scans\":7}");
    settle(f);
    reply = request(f, "scans",
                    "{" CALLER("msp-3") ",\"key\":\"7KQ2-M4XP-T9RB-C3VN\",\"from\":\"2026-11-01\","
                                        "\"to\":\"2026-12-31\"}");
    assert_int_equal(num(reply, "total"), 112);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(reply, "periods")), 2);
    cJSON_Delete(reply);
    reply = request(f, "scans",
                    "{" CALLER("site-1") ",\"key\":\"7KQ2-M4XP-T9RB-C3VN\",\"from\":\"2026-11-01\","
                                         "\"to\":\"2026-12-31\",\"by\":\"day\"}");
    assert_int_equal(num(reply, "total"), 5);
    cJSON_Delete(reply);
}

/*
 * Every owner change usage makes other than by the command is announced as
 * device_owner_changed, in order: associations through the agents (a repeat
 * changes nothing), a refusal that ends the previous association, a
 * detachment, a reinstall, and a user's deletion (each of their devices,
 * installed or not). The command announces its own as device_associated.
 */
static void test_owner_changes(void **state)
{
    static const char *const want[][4] = {
        /* device, user, previous_user, reason */
        {"d-1", "u-1", NULL, "associated"},   {"d-2", "u-1", NULL, "associated"},
        {"d-3", "u-2", NULL, "associated"},   {"d-3", NULL, "u-2", "association_refused"},
        {"d-2", NULL, "u-1", "detached"},     {"d-2", "u-1", NULL, "associated"},
        {"d-2", NULL, "u-1", "reinstalled"},  {"d-2", "u-1", NULL, "associated"},
        {"d-1", NULL, "u-1", "user_deleted"}, {"d-2", NULL, "u-1", "user_deleted"},
    };
    size_t n_want = sizeof(want) / sizeof(want[0]);
    struct fixture *f = *state;
    natsMsg **msgs;
    cJSON *reply;
    size_t n;

    org_tree(f);
    user(f, "u-1", "cust-7");
    user(f, "u-2", "cust-7");
    device(f, "d-1", "cust-7", "business");
    device(f, "d-2", "cust-7", "personal");
    device(f, "d-3", "cust-7", "business");
    associate(f, "d-1", "u-1");
    associate(f, "d-1", "u-1"); /* again: no change, nothing announced */
    associate(f, "d-2", "u-1");
    associate(f, "d-3", "u-1"); /* a second business device: refused, it had no owner */
    associate(f, "d-3", "u-2");
    associate(f, "d-3", "u-1"); /* refused again: ends u-2's association */
    pub(f, "agents", "device_detached", "{\"device\":\"d-2\",\"user\":\"u-1\"}");
    pub(f, "agents", "device_detached", "{\"device\":\"d-2\",\"user\":\"u-1\"}"); /* no-op */
    associate(f, "d-2", "u-1");
    pub(f, "agents", "device_uninstalled", "{\"device\":\"d-2\"}");
    device(f, "d-2", "cust-7", "personal"); /* reinstalled: owned by nobody */
    associate(f, "d-2", "u-1");
    pub(f, "agents", "device_uninstalled", "{\"device\":\"d-2\"}"); /* keeps its owner */
    settle(f);
    reply = request(f, "device_associate",
                    "{" CALLER("cust-7") ",\"device\":\"d-3\",\"user\":\"u-2\"}");
    assert_string_equal(code_of(reply), "ok");
    cJSON_Delete(reply);
    assert_int_equal(wait_events(f, "device_associated", 1), 1);
    pub(f, "directory", "user_deleted", "{\"user\":\"u-1\"}");
    settle(f);
    assert_int_equal(metric(f, "lb_events_dead_lettered_total"), 0);
    assert_int_equal(wait_events(f, "device_owner_changed", n_want), n_want);
    assert_int_equal(wait_events(f, "device_association_refused", 2), 2);

    n = harness_stream_messages(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".device_owner_changed",
                                &msgs);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++) {
        cJSON *ev = harness_reply_json(msgs[i]);
        cJSON *data = cJSON_GetObjectItem(ev, "data");

        record_check(f, "events/usage.device_owner_changed.v1.json", natsMsg_GetData(msgs[i]),
                     (size_t)natsMsg_GetDataLength(msgs[i]));
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "device")), want[i][0]);
        for (int k = 1; k <= 2; k++) {
            const cJSON *who = cJSON_GetObjectItem(data, k == 1 ? "user" : "previous_user");

            if (want[i][k] == NULL)
                assert_true(cJSON_IsNull(who));
            else
                assert_string_equal(cJSON_GetStringValue(who), want[i][k]);
        }
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "reason")), want[i][3]);
        cJSON_Delete(ev);
    }
    harness_free_messages(msgs, n);
    /* What usage says now agrees with the last announcement of each device. */
    reply = request(f, "device_get", "{" CALLER("cust-7") ",\"device\":\"d-1\"}");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(reply, "user")));
    cJSON_Delete(reply);
    reply = request(f, "device_get", "{" CALLER("cust-7") ",\"device\":\"d-3\"}");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "user")), "u-2");
    cJSON_Delete(reply);
}

static void test_authorization(void **state)
{
    struct fixture *f = *state;
    cJSON *a;
    cJSON *b;

    org_tree(f);
    user(f, "u-1", "cust-7");
    device(f, "d-1", "cust-7", "business");
    settle(f);
    /* A sibling customer, another tenant's org, an unknown org: all forbidden. */
    a = consumption(f, "cust-8");
    assert_string_equal(code_of(a), "forbidden");
    cJSON_Delete(a);
    a = consumption(f, "cust-9");
    assert_string_equal(code_of(a), "forbidden");
    cJSON_Delete(a);
    a = consumption(f, "nope");
    assert_string_equal(code_of(a), "forbidden");
    cJSON_Delete(a);
    a = request(f, "consumption",
                "{\"tenant\":\"dist-2\",\"caller\":{\"org\":\"cust-9\",\"user\":"
                "\"x\"},\"customer\":\"cust-7\"}");
    assert_string_equal(code_of(a), "forbidden");
    cJSON_Delete(a);
    /* Elsewhere and nonexistent get the same answer: nothing to probe. */
    a = request(f, "user_get", "{" CALLER("cust-8") ",\"user\":\"u-1\"}");
    b = request(f, "user_get", "{" CALLER("cust-8") ",\"user\":\"u-404\"}");
    assert_string_equal(code_of(a), "forbidden");
    assert_string_equal(code_of(b), "forbidden");
    cJSON_Delete(a);
    cJSON_Delete(b);
    a = request(f, "device_get", "{" CALLER("cust-8") ",\"device\":\"d-1\"}");
    assert_string_equal(code_of(a), "forbidden");
    cJSON_Delete(a);
    a = request(f, "device_list", "{" CALLER("cust-8") ",\"customer\":\"cust-7\"}");
    assert_string_equal(code_of(a), "forbidden");
    cJSON_Delete(a);
    a = request(f, "device_associate",
                "{" CALLER("cust-8") ",\"device\":\"d-1\",\"user\":\"u-1\"}");
    assert_string_equal(code_of(a), "forbidden");
    cJSON_Delete(a);
    /* The distributor sees its whole tree. */
    a = request(f, "device_get", "{" CALLER("dist-1") ",\"device\":\"d-1\"}");
    assert_string_equal(code_of(a), "ok");
    cJSON_Delete(a);
}

/* ---- time: inactivity release, retake, retention ------------------------------------ */

static void test_release_retake_purge(void **state)
{
    struct fixture *f = *state;
    cJSON *reply;
    cJSON *data = NULL;
    natsMsg **msgs;
    size_t n;

    tick(f, 0);
    org_tree(f);
    user(f, "u-1", "cust-7");
    device(f, "d-1", "cust-7", "business");
    subscription(f, "sub-1", "users", 1, "active");
    seat(f, "seat_assigned", "sub-1", "u-1");
    associate(f, "d-1", "u-1");
    heartbeat_at(f, "d-1", 1 * DAY_MS); /* last signal: day 1 */
    heartbeat_at(f, "d-1", DAY_MS / 2); /* a late one changes nothing */
    settle(f);
    tick(f, 30.9); /* 29.9 days: still licensed */
    assert_int_equal(usage_events(f, "license_released", NULL), 0);
    tick(f, 31); /* 30 days since the last signal: released */
    assert_int_equal(wait_events(f, "license_released", 1), 1);
    tick(f, 45); /* a jump */
    tick(f, 40); /* backwards: ignored */
    reply = consumption(f, "cust-7");
    assert_int_equal(num(reply, "consumed"), 0);
    cJSON_Delete(reply);
    /* Restart: the release is stored; nothing is released again. */
    assert_int_equal(harness_service_stop(&f->usage, SIGTERM, HARNESS_WAIT_MS), 0);
    f->usage.http_port = 0;
    harness_service_start(&f->usage, "usage", &f->ns, f->data, virtual_env);
    tick(f, 50);
    assert_int_equal(usage_events(f, "license_released", &data), 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "inactive_since")),
                        "2026-11-23T10:00:00.000Z");
    cJSON_Delete(data);

    /* A signal takes the license back, once. */
    heartbeat_at(f, "d-1", 50 * DAY_MS);
    heartbeat_at(f, "d-1", 50 * DAY_MS + 1000);
    settle(f);
    assert_int_equal(wait_events(f, "license_retaken", 1), 1);
    reply = request(f, "user_get", "{" CALLER("cust-7") ",\"user\":\"u-1\"}");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "state")), "licensed");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(reply, "license_removed_at")));
    cJSON_Delete(reply);

    /* Unassigned on day 60: the retention runs 90 days, then the personal fields go. */
    pub_at(f, "subscriptions", TENANT, "seat_unassigned", 60 * DAY_MS,
           "{\"subscription\":\"sub-1\",\"customer\":\"cust-7\",\"user\":\"u-1\",\"group\":"
           "\"g-1\",\"reason\":\"left_group\"}");
    settle(f);
    tick(f, 149);
    assert_int_equal(usage_events(f, "user_purged", NULL), 0);
    tick(f, 150);
    assert_int_equal(wait_events(f, "user_purged", 1), 1);
    tick(f, 400);
    assert_int_equal(usage_events(f, "user_purged", NULL), 1);
    reply = request(f, "user_get", "{" CALLER("cust-7") ",\"user\":\"u-1\"}");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(reply, "email")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(reply, "display_name")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "state")), "unlicensed");
    cJSON_Delete(reply);
    /* No release was emitted for an unlicensed user, and no event twice. */
    assert_int_equal(usage_events(f, "license_released", NULL), 1);
    n = harness_stream_messages(f->js, "LB_DLQ", "lb.dlq.usage", &msgs);
    harness_free_messages(msgs, n);
    assert_int_equal(n, 0);
}

/*
 * A release can end an over-consumption (never start one): the sweep recounts
 * the customers it released users of that have a subscription marked over,
 * and reports the end once. Here cust-7's sub-1 (users and devices, 2 seats)
 * counts u-1, u-2 and an unassociated device: 3 > 2. u-2 has no signal for
 * 30 days: released, and sub-1 is back at 2. cust-8, not over, has a user
 * released too: nothing to report there.
 */
static void test_release_ends_overconsumption(void **state)
{
    struct fixture *f = *state;
    cJSON *reply;
    cJSON *data = NULL;
    const cJSON *sub;
    natsMsg **msgs;
    char at[32];
    size_t n;

    tick(f, 0);
    org_tree(f);
    user(f, "u-1", "cust-7");
    user(f, "u-2", "cust-7");
    user(f, "u-8", "cust-8");
    device(f, "d-1", "cust-7", "business");
    device(f, "d-9", "cust-7", "business"); /* no user: a license of its own */
    associate(f, "d-1", "u-1");
    subscription(f, "sub-1", "both", 2, "active");
    subscription_of(f, "sub-8", "cust-8", "users", 5, "active");
    seat(f, "seat_assigned", "sub-1", "u-1");
    seat(f, "seat_assigned", "sub-1", "u-2");
    seat_of(f, "seat_assigned", "sub-8", "cust-8", "u-8");
    heartbeat_at(f, "d-1", 20 * DAY_MS); /* u-1 stays active; u-2 and u-8 never signal */
    settle(f);
    assert_int_equal(wait_events(f, "overconsumption_started", 1), 1);
    reply = consumption(f, "cust-7");
    assert_int_equal(num(reply, "consumed"), 3);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(reply, "over")));
    cJSON_Delete(reply);

    tick(f, 29.9);
    assert_int_equal(usage_events(f, "license_released", NULL), 0);
    assert_int_equal(usage_events(f, "overconsumption_ended", NULL), 0);
    tick(f, 31); /* u-2 and u-8: 31 days since their seats; u-1: 11 days since its signal */
    assert_int_equal(wait_events(f, "license_released", 2), 2);
    assert_int_equal(wait_events(f, "overconsumption_ended", 1), 1);
    usage_events(f, "overconsumption_ended", &data);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "subscription")), "sub-1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(data, "customer")), "cust-7");
    assert_int_equal(num(data, "quantity"), 2);
    assert_int_equal(num(data, "consumed"), 2);
    assert_int_equal(num(data, "users"), 1);
    assert_int_equal(num(data, "devices"), 1);
    cJSON_Delete(data);
    /* Emitted by the sweep: at the tick's time, after the release that caused it. */
    n = harness_stream_messages(f->js, "LB_USAGE", "lb.evt.usage." TENANT ".>", &msgs);
    envelope_format_time(f->t0 + 31 * DAY_MS, at);
    {
        cJSON *last = harness_reply_json(msgs[n - 1]);

        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(last, "type")),
                            "licensebus.usage.overconsumption_ended.v1");
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(last, "time")), at);
        cJSON_Delete(last);
    }
    harness_free_messages(msgs, n);
    reply = consumption(f, "cust-7");
    assert_int_equal(num(reply, "consumed"), 2);
    assert_int_equal(num(reply, "licensed_users"), 1);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(reply, "over")));
    sub = cJSON_GetArrayItem(cJSON_GetObjectItem(reply, "subscriptions"), 0);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(sub, "over")));
    cJSON_Delete(reply);
    reply = request(f, "user_get", "{" CALLER("cust-7") ",\"user\":\"u-2\"}");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "state")), "released");
    cJSON_Delete(reply);
    reply = request(f, "user_get", "{" CALLER("cust-7") ",\"user\":\"u-1\"}");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "state")), "licensed");
    cJSON_Delete(reply);

    /* Once: later sweeps (and cust-8, never over) report nothing more. */
    tick(f, 45);
    assert_int_equal(usage_events(f, "overconsumption_ended", NULL), 1);
    assert_int_equal(usage_events(f, "overconsumption_started", NULL), 1);
    assert_int_equal(usage_events(f, "license_released", NULL), 2);
    assert_int_equal(metric(f, "lb_events_dead_lettered_total"), 0);
}

/* ---- bad input ------------------------------------------------------------------------ */

static void test_bad_events(void **state)
{
    struct fixture *f = *state;
    char big[600];
    char data[800];
    cJSON *reply;

    org_tree(f);
    user(f, "u-1", "cust-7");
    device(f, "d-1", "cust-7", "business");
    settle(f);
    double dead = metric(f, "lb_events_dead_lettered_total");

    /* Out of order: a signal before its device exists, an association before the install. */
    heartbeat_at(f, "d-404", 0);
    associate(f, "d-405", "u-1");
    /* Unknown user, wrong kind, unknown member, malformed id, oversized hostname. */
    associate(f, "d-1", "u-404");
    pub(f, "agents", "device_installed",
        "{\"device\":\"d-9\",\"org\":\"cust-7\",\"kind\":\"tablet\",\"hostname\":\"h\"}");
    pub(f, "agents", "device_installed",
        "{\"device\":\"d-9\",\"org\":\"cust-7\",\"kind\":\"business\",\"hostname\":\"h\","
        "\"colour\":\"red\"}");
    pub(f, "signals", "heartbeat", "{\"device\":\"bad id\"}");
    memset(big, 'h', 254);
    big[254] = '\0';
    snprintf(data, sizeof(data),
             "{\"device\":\"d-9\",\"org\":\"cust-7\",\"kind\":\"business\",\"hostname\":\"%s\"}",
             big);
    pub(f, "agents", "device_installed", data);
    /* An org of another tenant's tree. */
    pub(f, "agents", "device_installed",
        "{\"device\":\"d-9\",\"org\":\"cust-9\",\"kind\":\"business\",\"hostname\":\"h\"}");
    /* Uninstall twice; delete twice. */
    pub(f, "agents", "device_uninstalled", "{\"device\":\"d-1\"}");
    pub(f, "agents", "device_uninstalled", "{\"device\":\"d-1\"}");
    user(f, "u-2", "cust-7");
    pub(f, "directory", "user_deleted", "{\"user\":\"u-2\"}");
    pub(f, "directory", "user_deleted", "{\"user\":\"u-2\"}");
    /* Scans out of range, a day that does not exist. */
    pub(f, "scanning", "scans_counted",
        "{\"key\":\"ABCD-EFGH\",\"org\":\"cust-7\",\"day\":\"2026-02-30\",\"scans\":1}");
    pub(f, "scanning", "scans_counted",
        "{\"key\":\"ABCD-EFGH\",\"org\":\"cust-7\",\"day\":\"2026-02-01\",\"scans\":1000000001}");
    /* A subscription with an unknown basis. */
    pub(f, "subscriptions", "subscription_changed",
        "{\"subscription\":\"s\",\"customer\":\"cust-7\",\"package\":\"core\",\"seat_basis\":"
        "\"seats\",\"quantity\":1,\"status\":\"active\"}");
    settle(f);
    assert_int_equal(metric(f, "lb_events_dead_lettered_total") - dead, 13);
    assert_dead_letter(f, "not_found", "signal before its device_installed");
    assert_dead_letter(f, "not_found", "device \"d-405\" is unknown");
    assert_dead_letter(f, "not_found", "user \"u-404\" is unknown");
    assert_dead_letter(f, "invalid_request", "tablet");
    assert_dead_letter(f, "invalid_request", "colour");
    assert_dead_letter(f, "invalid_request", "not a valid id");
    assert_dead_letter(f, "invalid_request", "hostname");
    assert_dead_letter(f, "conflict", "org \"cust-9\" is not a live org of tenant \"dist-1\"");
    assert_dead_letter(f, "conflict", "already uninstalled");
    assert_dead_letter(f, "conflict", "already deleted");
    assert_dead_letter(f, "invalid_request", "2026-02-30");
    assert_dead_letter(f, "invalid_request", "scans");
    assert_dead_letter(f, "invalid_request", "seats");

    /* An association to a deleted user: applied as a refusal, the device kept unassociated. */
    device(f, "d-2", "cust-7", "personal");
    associate(f, "d-2", "u-2");
    /* Duplicate: the same event id again changes nothing. */
    {
        char *event = harness_event("01JUSAGEDUP000000000000001",
                                    "licensebus.agents.device_installed.v1", TENANT, T0,
                                    "{\"device\":\"d-3\",\"org\":\"cust-7\",\"kind\":\"personal\","
                                    "\"hostname\":\"h3\"}");

        harness_js_publish(f->js, "lb.evt.agents.dist-1.device_installed", NULL, event,
                           strlen(event));
        harness_js_publish(f->js, "lb.evt.agents.dist-1.device_installed", NULL, event,
                           strlen(event));
        f->published += 2;
        free(event);
    }
    /* A wrong tenant: the subject says dist-1, the event dist-2. */
    {
        char *event = harness_event("01JUSAGEWRONG0000000000001", "licensebus.signals.heartbeat.v1",
                                    "dist-2", T0, "{\"device\":\"d-2\"}");

        harness_js_publish(f->js, "lb.evt.signals.dist-1.heartbeat", NULL, event, strlen(event));
        f->published++;
        free(event);
    }
    /* Group events are of no use here: acked and counted, not dead-lettered (D18). */
    pub(f, "directory", "group_created",
        "{\"group\":\"g-1\",\"org\":\"cust-7\",\"name\":\"Sales\"}");
    settle(f);
    assert_int_equal(metric(f, "lb_events_duplicate_total"), 1);
    assert_int_equal(metric(f, "lb_events_ignored_total"), 1);
    assert_dead_letter(f, "forbidden", "dist-2");
    assert_int_equal(wait_events(f, "device_association_refused", 1), 1);
    reply = request(f, "device_get", "{" CALLER("cust-7") ",\"device\":\"d-2\"}");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(reply, "user")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(reply, "consumes")));
    cJSON_Delete(reply);
}

static void test_bad_requests(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *endpoint;
        const char *body;
        const char *code;
        const char *needle;
    } cases[] = {
        {"consumption", "not json", "invalid_request", ""},
        {"consumption", "[]", "invalid_request", "object"},
        {"consumption", "{" CALLER("cust-7") ",\"customer\":\"cust-7\",\"bogus\":1}",
         "invalid_request", "bogus"},
        {"consumption", "{" CALLER("cust-7") "}", "invalid_request", "customer"},
        {"consumption", "{\"tenant\":\"dist-1\",\"customer\":\"cust-7\"}", "invalid_request",
         "caller"},
        {"consumption", "{\"tenant\":\"dist-1\",\"tenant\":\"dist-1\"}", "invalid_request",
         "duplicate"},
        {"user_get", "{" CALLER("cust-7") ",\"user\":\"bad id\"}", "invalid_request", "user"},
        {"device_list", "{" CALLER("cust-7") ",\"customer\":\"cust-7\",\"limit\":0}",
         "invalid_request", "limit"},
        {"device_list", "{" CALLER("cust-7") ",\"customer\":\"cust-7\",\"limit\":501}",
         "invalid_request", "limit"},
        {"device_list", "{" CALLER("cust-7") ",\"customer\":\"cust-7\",\"state\":\"gone\"}",
         "invalid_request", "state"},
        {"scans",
         "{" CALLER(
             "cust-7") ",\"key\":\"ABCD-EFGH\",\"from\":\"2026-12-01\",\"to\":\"2026-11-01\"}",
         "invalid_request", "before"},
        {"scans",
         "{" CALLER(
             "cust-7") ",\"key\":\"ABCD-EFGH\",\"from\":\"2025-01-01\",\"to\":\"2026-01-02\","
                       "\"by\":\"day\"}",
         "too_large", "367 days"},
        {"scans",
         "{" CALLER("cust-7") ",\"key\":\"abcd\",\"from\":\"2026-12-01\",\"to\":\"2026-12-01\"}",
         "invalid_request", "key"},
        {"device_associate", "{" CALLER("cust-7") ",\"device\":\"d-404\",\"user\":\"u-1\"}",
         "forbidden", "d-404"},
    };
    char *big;
    cJSON *reply;

    org_tree(f);
    user(f, "u-1", "cust-7");
    settle(f);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reply = request(f, cases[i].endpoint, cases[i].body);
        if (strcmp(code_of(reply), cases[i].code) != 0)
            fail_msg("case %zu (%s %s): got %s: %s", i, cases[i].endpoint, cases[i].body,
                     code_of(reply), message_of(reply));
        assert_non_null(strstr(message_of(reply), cases[i].needle));
        cJSON_Delete(reply);
    }
    /* One byte past the request limit. */
    big = malloc(REQUEST_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', REQUEST_MAX + 1);
    big[0] = '{';
    big[REQUEST_MAX] = '}';
    big[REQUEST_MAX + 1] = '\0';
    reply = request(f, "consumption", big);
    assert_string_equal(code_of(reply), "too_large");
    cJSON_Delete(reply);
    free(big);
}

/* ---- heartbeat ingestion rate (a figure for the report, not a benchmark) ----------------- */

#define HB_DEVICES 500
#define HB_SIGNALS 20000

static int setup_backlog(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    start_nats_and_client(f);
    *state = f;
    return 0;
}

static void test_heartbeat_rate(void **state)
{
    struct fixture *f = *state;
    static const char *const env[] = {"LB_CLOCK=virtual", "LB_FETCH_BATCH=256",
                                      "LB_MAX_ACK_PENDING=4096", NULL};
    char id[32];
    int64_t start;
    double seconds;

    /* The devices are installed first: a heartbeat that overtook its device's install (another
     * stream) would be dead-lettered (docs/services/usage.md). */
    harness_service_start(&f->usage, "usage", &f->ns, f->data, env);
    org_tree(f);
    user(f, "u-1", "cust-7");
    for (int i = 0; i < HB_DEVICES; i++) {
        snprintf(id, sizeof(id), "d-%d", i);
        device(f, id, "cust-7", "personal");
    }
    associate(f, "d-0", "u-1");
    settle(f);
    assert_int_equal(harness_service_stop(&f->usage, SIGTERM, HARNESS_WAIT_MS), 0);
    f->usage.http_port = 0;
    f->published = 0;
    /* The backlog is published while the service is stopped, so its consumption alone is
     * timed. */
    for (int i = 0; i < HB_SIGNALS; i++) {
        snprintf(id, sizeof(id), "d-%d", i % HB_DEVICES);
        heartbeat_at(f, id, 1000 + i);
    }
    start = clock_mono_ns();
    harness_service_start(&f->usage, "usage", &f->ns, f->data, env);
    settle(f);
    seconds = (double)(clock_mono_ns() - start) / 1e9;
    printf("usage: %d heartbeats over %d devices applied and acked in %.2f s from start: "
           "%.0f events/s\n",
           HB_SIGNALS, HB_DEVICES, seconds, f->published / seconds);
    assert_int_equal(metric(f, "lb_events_dead_lettered_total"), 0);
}

/* Many signals of one device in a batch become one write (services/usage/signals.c). */
static void test_heartbeats_coalesce(void **state)
{
    struct fixture *f = *state;
    static const char *const env[] = {"LB_CLOCK=virtual", "LB_FETCH_BATCH=1024",
                                      "LB_MAX_ACK_PENDING=4096", NULL};
    const int signals = 3000;
    double coalesced, writes, applied;
    char latest[32];
    cJSON *reply;

    harness_service_start(&f->usage, "usage", &f->ns, f->data, env);
    org_tree(f);
    user(f, "u-1", "cust-7");
    device(f, "d-0", "cust-7", "business");
    associate(f, "d-0", "u-1");
    settle(f);
    assert_int_equal(harness_service_stop(&f->usage, SIGTERM, HARNESS_WAIT_MS), 0);
    f->usage.http_port = 0;
    f->published = 0;
    for (int i = 1; i <= signals; i++)
        heartbeat_at(f, "d-0", 1000 + i);
    harness_service_start(&f->usage, "usage", &f->ns, f->data, env);
    settle(f);
    coalesced = metric(f, "lb_usage_signals_coalesced_total");
    writes = metric(f, "lb_usage_signal_flush_writes_total");
    applied = metric(f, "lb_events_applied_total") - metric(f, "lb_usage_own_events_total");
    printf("usage: %d heartbeats of one device: %.0f coalesced, %.0f flush writes, %.0f batches\n",
           signals, coalesced, writes, metric(f, "lb_batches_total"));
    assert_int_equal(applied, signals);
    /* Each batch writes the device once (its first signal) plus at most one flush. */
    assert_true(coalesced >= signals - 2 * metric(f, "lb_batches_total"));
    assert_true(writes <= metric(f, "lb_batches_total"));
    /* And the latest time is what the device and its user show. */
    envelope_format_time(f->t0 + 1000 + signals, latest);
    reply = request(f, "device_get", "{" CALLER("cust-7") ",\"device\":\"d-0\"}");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "last_seen")), latest);
    cJSON_Delete(reply);
    assert_int_equal(metric(f, "lb_events_dead_lettered_total"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_association_and_consumption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorization, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_retake_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release_ends_overconsumption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat_rate, setup_backlog, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeats_coalesce, setup_backlog, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
