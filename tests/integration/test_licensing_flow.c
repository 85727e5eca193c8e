/*
 * test_licensing_flow.c - the licensing service against a real nats-server,
 * driven only through its subjects: the catalog, issuing, activation and
 * deactivation, limits, notes, conversion, renewal, history; listing and
 * "shown under"; authorization across trees and sibling branches; commerce
 * orders and scan counts (exactly once, dead letters, out-of-order input);
 * the expiring/expired sweep on the virtual clock through jumps and a
 * restart; bad input on every endpoint. Every reply, emitted event and dead
 * letter seen is validated against schemas/ by the contract's JSON Schema
 * tooling (Ajv, tests/contract) at the end of each test.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "envelope.h"
#include "harness.h"

#define T0         "2026-11-22T10:00:00.000Z"
#define TENANT     "dist-1"
#define KEY        "7KQ2-M4XP-T9RB-C3VN"
#define CALLER_FMT "\"tenant\":\"%s\",\"caller\":{\"org\":\"%s\",\"user\":\"ana@example\"}"

static const char *const service_env[] = {"LB_CLOCK=virtual", "LB_ACK_WAIT=300ms", NULL};

struct fixture {
    struct nats_server ns;
    struct service_proc svc;
    natsConnection *nc;
    jsCtx *js;
    char data[256];
    char seen_path[300]; /* JSON lines {schema, doc} validated at teardown */
    FILE *seen;
    int events; /* consumed events published so far that will be applied */
    int ticks;
};

/* ---- plumbing ------------------------------------------------------------------ */

static void seen_add(struct fixture *f, const char *schema, const char *doc, size_t len)
{
    fprintf(f->seen, "{\"schema\":\"%s\",\"doc\":%.*s}\n", schema, (int)len, doc);
}

static void publish(struct fixture *f, const char *domain, const char *tenant, const char *name,
                    const char *id, const char *time, const char *data)
{
    char subject[256];
    char type[128];
    char *event;

    snprintf(subject, sizeof(subject), "lb.evt.%s.%s.%s", domain, tenant, name);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    event = harness_event(id, type, tenant, time, data);
    harness_js_publish(f->js, subject, id, event, strlen(event));
    free(event);
}

/*
 * Waits until the consumed platform events published so far are applied:
 * the runtime's count also holds licensing's own events consumed back
 * (decisions D22), which licensing counts apart (it counts them in the
 * handler, before the runtime does: the difference never runs ahead).
 */
static void wait_applied(struct fixture *f)
{
    int64_t deadline = clock_wall_ms() + HARNESS_WAIT_MS;
    double applied;
    double own;

    for (;;) {
        applied = harness_metric(f->svc.http_port, "lb_events_applied_total");
        own = harness_metric(f->svc.http_port, "lb_licensing_own_events_total");
        if (applied - (own > 0 ? own : 0) >= f->events)
            return;
        if (clock_wall_ms() > deadline)
            fail_msg("applied %g events (%g own), expected %d platform events", applied, own,
                     f->events);
        nats_Sleep(20);
    }
}

static void org(struct fixture *f, const char *tenant, const char *id, const char *parent,
                const char *kind)
{
    char data[256];
    char eid[32];

    snprintf(data, sizeof(data),
             "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"%s\",\"kind\":\"%s\"}", id,
             parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
    snprintf(eid, sizeof(eid), "01JORG%020d", ++f->events);
    publish(f, "directory", tenant, "org_created", eid, T0, data);
}

/* Moves the virtual clock to T0 + `days` and waits until it is applied. */
static void tick_days(struct fixture *f, int days)
{
    int64_t t0;
    int64_t at;
    char now[32];
    char data[64];
    char id[32];
    char *event;

    assert_int_equal(envelope_parse_time(T0, &t0), LB_OK);
    at = t0 + (int64_t)days * 86400000LL;
    envelope_format_time(at, now);
    snprintf(data, sizeof(data), "{\"now\":\"%s\"}", now);
    snprintf(id, sizeof(id), "01JTICK%019d", ++f->ticks);
    f->events++; /* ticks count as applied events */
    event = harness_event(id, "licensebus.clock.tick.v1", "_sys", now, data);
    harness_js_publish(f->js, "lb.evt.clock._sys.tick", id, event, strlen(event));
    free(event);
    harness_wait_metric(f->svc.http_port, "lb_virtual_clock_seconds", (double)at / 1000.0);
}

/* Sends a request; returns the parsed reply and records it for validation. */
static cJSON *call(struct fixture *f, const char *endpoint, const char *body)
{
    char subject[128];
    char schema[128];
    natsMsg *reply;
    cJSON *json;

    snprintf(subject, sizeof(subject), "lb.api.licensing.%s", endpoint);
    reply = harness_request(f->nc, subject, body, strlen(body));
    json = harness_reply_json(reply);
    if (cJSON_GetObjectItemCaseSensitive(json, "error") != NULL)
        snprintf(schema, sizeof(schema), "error.json");
    else
        snprintf(schema, sizeof(schema), "api/licensing.%s.reply.json", endpoint);
    seen_add(f, schema, natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    natsMsg_Destroy(reply);
    return json;
}

static cJSON *vcall(struct fixture *f, const char *endpoint, const char *fmt, va_list ap)
{
    char body[8192];

    vsnprintf(body, sizeof(body), fmt, ap);
    return call(f, endpoint, body);
}

/* A successful request; the reply is the caller's. */
static cJSON *ok(struct fixture *f, const char *endpoint, const char *fmt, ...)
{
    va_list ap;
    cJSON *json;
    cJSON *error;

    va_start(ap, fmt);
    json = vcall(f, endpoint, fmt, ap);
    va_end(ap);
    error = cJSON_GetObjectItemCaseSensitive(json, "error");
    if (error != NULL)
        fail_msg("%s failed: %s", endpoint, cJSON_PrintUnformatted(error));
    return json;
}

/* A refused request: its code, and a message containing `needle`. */
static void refused(struct fixture *f, const char *endpoint, const char *code, const char *needle,
                    const char *fmt, ...)
{
    va_list ap;
    cJSON *json;
    cJSON *error;
    const char *message;

    va_start(ap, fmt);
    json = vcall(f, endpoint, fmt, ap);
    va_end(ap);
    error = cJSON_GetObjectItemCaseSensitive(json, "error");
    if (error == NULL)
        fail_msg("%s succeeded, expected %s", endpoint, code);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(error, "code")), code);
    message = cJSON_GetStringValue(cJSON_GetObjectItem(error, "message"));
    if (strstr(message, needle) == NULL)
        fail_msg("%s: message \"%s\" lacks \"%s\"", endpoint, message, needle);
    cJSON_Delete(json);
}

static const char *str(const cJSON *obj, const char *path1, const char *path2)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, path1);

    if (path2 != NULL)
        o = cJSON_GetObjectItemCaseSensitive(o, path2);
    return cJSON_GetStringValue(o);
}

static double num(const cJSON *obj, const char *path1, const char *path2)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, path1);

    if (path2 != NULL)
        o = cJSON_GetObjectItemCaseSensitive(o, path2);
    assert_true(cJSON_IsNumber(o));
    return o->valuedouble;
}

/* Events now in LB_LICENSING on lb.evt.licensing.*.<name> (">" for all). */
static size_t events_named(struct fixture *f, const char *tenant, const char *name)
{
    char filter[128];
    natsMsg **msgs;
    size_t n;

    /* A reply or an applied count means committed and sent; an empty outbox means stored. */
    harness_wait_metric_at_most(f->svc.http_port, "lb_outbox_pending", 0);
    snprintf(filter, sizeof(filter), "lb.evt.licensing.%s.%s", tenant, name);
    n = harness_stream_messages(f->js, "LB_LICENSING", filter, &msgs);
    harness_free_messages(msgs, n);
    return n;
}

/* Records every emitted event and dead letter, and runs the schema validator on all. */
static void validate_all(struct fixture *f)
{
    natsMsg **msgs;
    size_t n;
    char cmd[1200];
    const char *src = getenv("LB_SOURCE_DIR");

    n = harness_stream_messages(f->js, "LB_LICENSING", "lb.evt.licensing.>", &msgs);
    for (size_t i = 0; i < n; i++) {
        const char *subject = natsMsg_GetSubject(msgs[i]);
        char schema[128];

        snprintf(schema, sizeof(schema), "events/licensing.%s.v1.json", strrchr(subject, '.') + 1);
        seen_add(f, schema, natsMsg_GetData(msgs[i]), (size_t)natsMsg_GetDataLength(msgs[i]));
    }
    harness_free_messages(msgs, n);
    n = harness_stream_messages(f->js, "LB_DLQ", "lb.dlq.licensing", &msgs);
    for (size_t i = 0; i < n; i++)
        seen_add(f, "dead_letter.json", natsMsg_GetData(msgs[i]),
                 (size_t)natsMsg_GetDataLength(msgs[i]));
    harness_free_messages(msgs, n);
    fclose(f->seen);
    f->seen = NULL;
    assert_non_null(src);
    snprintf(cmd, sizeof(cmd),
             "cd '%s/tests/contract' && node --input-type=module -e \""
             "import {loadAjv, validator} from './lib.mjs';"
             "import {readFileSync} from 'node:fs';"
             "const {ajv} = loadAjv(); let n = 0;"
             "for (const line of readFileSync(process.argv[1], 'utf8').split('\\n')) {"
             "  if (!line) continue; const {schema, doc} = JSON.parse(line);"
             "  validator(ajv, schema)(doc, schema); n++; }"
             "console.log('validated ' + n + ' messages against schemas/');\" '%s'",
             src, f->seen_path);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "licensing");
    snprintf(f->seen_path, sizeof(f->seen_path), "%s/seen.jsonl", f->data);
    f->seen = fopen(f->seen_path, "w");
    assert_non_null(f->seen);
    harness_service_start(&f->svc, "licensing", &f->ns, f->data, service_env);
    f->nc = harness_connect(&f->ns);
    f->js = harness_js(f->nc);
    tick_days(f, 0);
    /* dist-1 -> msp-3 -> {cust-7 -> sub-7a, cust-8}; dist-2 -> cust-9 (another tree). */
    org(f, TENANT, TENANT, NULL, "distributor");
    org(f, TENANT, "msp-3", TENANT, "msp");
    org(f, TENANT, "cust-7", "msp-3", "customer");
    org(f, TENANT, "sub-7a", "cust-7", "suborg");
    org(f, TENANT, "cust-8", "msp-3", "customer");
    org(f, "dist-2", "dist-2", NULL, "distributor");
    org(f, "dist-2", "cust-9", "dist-2", "customer");
    wait_applied(f);
    cJSON_Delete(
        ok(f, "product_add",
           "{\"product\":\"core\",\"name\":\"MetaDefender Core\",\"delivery\":\"on_premises\","
           "\"shown\":true,\"installers\":[{\"version\":\"5.10.1\",\"platform\":\"linux\","
           "\"link\":\"https://dl.example/core.tgz\",\"checksum\":\"sha256:ab\"}]}"));
    cJSON_Delete(ok(f, "product_add",
                    "{\"product\":\"cloud\",\"name\":\"MetaDefender Cloud\",\"delivery\":\"cloud\","
                    "\"shown\":true}"));
    cJSON_Delete(ok(f, "product_add",
                    "{\"product\":\"access\",\"name\":\"IT Access\",\"delivery\":\"on_premises\","
                    "\"shown\":false}"));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->seen != NULL)
        fclose(f->seen);
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->svc.pid > 0)
        harness_service_stop(&f->svc, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    free(f);
    return 0;
}

/* Issues KEY-like license `key` for `product` to `orgs` (a JSON array text) as msp-3. */
static void issue(struct fixture *f, const char *key, const char *product, const char *orgs,
                  const char *start, const char *expiration, int limit)
{
    cJSON_Delete(ok(f, "license_issue",
                    "{" CALLER_FMT ",\"product\":\"%s\",\"key\":\"%s\",\"type\":\"evaluation\","
                    "\"start\":\"%s\",\"expiration\":\"%s\",\"limit\":%d,\"orgs\":%s}",
                    TENANT, "msp-3", product, key, start, expiration, limit, orgs));
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_license_lifecycle(void **state)
{
    struct fixture *f = *state;
    cJSON *r;
    const char *generated;
    char gen_key[32];

    /* Issue with a generated key: readable groups, Active, nothing deployed. */
    r = ok(f, "license_issue",
           "{" CALLER_FMT ",\"product\":\"core\",\"type\":\"purchased\",\"start\":\"2026-11-01\","
           "\"expiration\":\"2027-10-31\",\"limit\":3,\"orgs\":[\"cust-7\"]}",
           TENANT, "msp-3");
    generated = str(r, "license", "key");
    assert_int_equal(strlen(generated), 19);
    snprintf(gen_key, sizeof(gen_key), "%s", generated);
    assert_string_equal(str(r, "license", "status"), "active");
    cJSON_Delete(r);

    issue(f, KEY, "core", "[\"cust-7\"]", "2026-11-01", "2027-10-31", 2);
    refused(
        f, "license_issue", "conflict", "already taken",
        "{" CALLER_FMT ",\"product\":\"core\",\"key\":\"%s\",\"type\":\"evaluation\","
        "\"start\":\"2026-11-01\",\"expiration\":\"2027-10-31\",\"limit\":1,\"orgs\":[\"cust-7\"]}",
        TENANT, "msp-3", KEY);
    refused(
        f, "license_issue", "conflict", "no product \"nope\"",
        "{" CALLER_FMT ",\"product\":\"nope\",\"type\":\"evaluation\","
        "\"start\":\"2026-11-01\",\"expiration\":\"2027-10-31\",\"limit\":1,\"orgs\":[\"cust-7\"]}",
        TENANT, "msp-3");

    /* Activation: idempotent per instance, bounded by the purchased limit. */
#define ACTIVATE(instance, host)                                                                   \
    "{" CALLER_FMT ",\"key\":\"" KEY "\",\"product\":\"core\",\"instance\":\"" instance            \
    "\",\"host\":\"" host "\",\"product_version\":\"5.10.1\"}",                                    \
        TENANT, "cust-7"
    r = ok(f, "license_activate", ACTIVATE("vm-1", "h1"));
    assert_int_equal(num(r, "license", "deployed"), 1);
    assert_string_equal(str(r, "deployment", "who"), "ana@example");
    cJSON_Delete(r);
    r = ok(f, "license_activate", ACTIVATE("vm-1", "h1"));
    assert_int_equal(num(r, "license", "deployed"), 1);
    cJSON_Delete(r);
    refused(f, "license_activate", "conflict", "already activated on host h1",
            ACTIVATE("vm-1", "other-host"));
    cJSON_Delete(ok(f, "license_activate", ACTIVATE("vm-2", "h2")));
    refused(f, "license_activate", "conflict", "all 2 purchased instances are deployed",
            ACTIVATE("vm-3", "h3"));
    refused(f, "license_activate", "conflict", "is for product \"core\", not \"cloud\"",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"product\":\"cloud\",\"instance\":\"vm-9\","
            "\"host\":\"h\",\"product_version\":\"1\"}",
            TENANT, "cust-7");
    refused(f, "license_set_limit", "conflict", "below the 2 deployed",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"limit\":1}", TENANT, "msp-3");
    r = ok(f, "license_deactivate", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"instance\":\"vm-1\"}",
           TENANT, "cust-7");
    assert_int_equal(num(r, "license", "deployed"), 1);
    cJSON_Delete(r);
    refused(f, "license_deactivate", "not_found", "vm-1 is not activated",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"instance\":\"vm-1\"}", TENANT, "cust-7");
    cJSON_Delete(ok(f, "license_activate", ACTIVATE("vm-3", "h3")));

    /* Check-in: last_seen moves with the clock; no event. */
    tick_days(f, 1);
    r = ok(f, "license_checkin",
           "{" CALLER_FMT ",\"key\":\"" KEY
           "\",\"instance\":\"vm-3\",\"product_version\":\"5.11\"}",
           TENANT, "cust-7");
    assert_string_equal(str(r, "deployment", "last_seen"), "2026-11-23T10:00:00.000Z");
    assert_string_equal(str(r, "deployment", "product_version"), "5.11");
    cJSON_Delete(r);
    refused(f, "license_checkin", "not_found", "vm-1",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"instance\":\"vm-1\"}", TENANT, "cust-7");

    /* Limit, note, conversion, renewal. */
    r = ok(f, "license_set_limit", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"limit\":5}", TENANT,
           "msp-3");
    assert_int_equal(num(r, "license", "limit"), 5);
    cJSON_Delete(r);
    cJSON_Delete(ok(f, "license_set_limit", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"limit\":5}",
                    TENANT, "msp-3")); /* unchanged: no event */
    cJSON_Delete(ok(f, "license_set_note", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"note\":\"PO 1\"}",
                    TENANT, "msp-3"));
    r = ok(f, "license_convert", "{" CALLER_FMT ",\"key\":\"" KEY "\"}", TENANT, "msp-3");
    assert_string_equal(str(r, "license", "type"), "purchased");
    cJSON_Delete(r);
    refused(f, "license_convert", "conflict", "already a purchased",
            "{" CALLER_FMT ",\"key\":\"" KEY "\"}", TENANT, "msp-3");
    refused(f, "license_renew", "conflict", "is not after the current expiration 2027-10-31",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"expiration\":\"2027-10-31\"}", TENANT, "msp-3");
    r = ok(f, "license_renew", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"expiration\":\"2028-10-31\"}",
           TENANT, "msp-3");
    assert_string_equal(str(r, "license", "expiration"), "2028-10-31");
    cJSON_Delete(r);

    /* get: deployments; history: every change, oldest first, paged. */
    r = ok(f, "license_get", "{" CALLER_FMT ",\"key\":\"" KEY "\"}", TENANT, "cust-7");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "deployments")), 2);
    assert_int_equal(num(r, "license", "version"), 9);
    cJSON_Delete(r);
    r = ok(f, "license_history", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"limit\":4}", TENANT,
           "msp-3");
    {
        cJSON *entries = cJSON_GetObjectItem(r, "entries");
        const char *cursor = str(r, "next_cursor", NULL);
        cJSON *r2;

        assert_int_equal(cJSON_GetArraySize(entries), 4);
        assert_string_equal(str(cJSON_GetArrayItem(entries, 0), "change", NULL), "license_issued");
        assert_string_equal(str(cJSON_GetArrayItem(entries, 1), "change", NULL),
                            "license_activated");
        assert_non_null(cursor);
        r2 = ok(f, "license_history",
                "{" CALLER_FMT ",\"key\":\"" KEY "\",\"limit\":100,\"cursor\":\"%s\"}", TENANT,
                "msp-3", cursor);
        entries = cJSON_GetObjectItem(r2, "entries");
        assert_int_equal(cJSON_GetArraySize(entries), 5);
        assert_string_equal(str(cJSON_GetArrayItem(entries, 4), "change", NULL), "license_renewed");
        assert_string_equal(str(cJSON_GetArrayItem(entries, 4), "before", "expiration"),
                            "2027-10-31");
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(r2, "next_cursor")));
        cJSON_Delete(r2);
    }
    cJSON_Delete(r);

    /* One event per change: 2 issued + 3 activated + 1 deactivated + limit, note, convert, renew,
     * and the check-in that moved last_seen (D22: every change is an event). */
    assert_int_equal(harness_wait_stream(f->js, "LB_LICENSING", "lb.evt.licensing.dist-1.>", 11),
                     11);
    assert_int_equal(events_named(f, TENANT, "license_activated"), 3);
    assert_int_equal(events_named(f, TENANT, "license_checked_in"), 1);
    assert_int_equal(events_named(f, "_sys", "product_added"), 3);

    /* Installers of a product. */
    r = ok(f, "product_installers", "{" CALLER_FMT ",\"product\":\"core\"}", TENANT, "cust-7");
    assert_string_equal(
        str(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "installers"), 0), "version", NULL),
        "5.10.1");
    cJSON_Delete(r);
    r = ok(f, "product_update", "{\"product\":\"core\",\"installers\":[]}");
    assert_int_equal(num(r, "product", "version"), 2);
    cJSON_Delete(r);
    validate_all(f);
}

static void test_list_and_shown_under(void **state)
{
    struct fixture *f = *state;
    cJSON *r;
    cJSON *list;

    issue(f, "AAAA-0001", "core", "[\"cust-7\",\"sub-7a\"]", "2026-11-01", "2027-10-31", 1);
    issue(f, "AAAA-0002", "core", "[\"cust-7\"]", "2026-11-01", "2027-10-31", 1);
    issue(f, "AAAA-0003", "core", "[\"cust-7\"]", "2026-01-01", "2026-06-30", 1);   /* expired */
    issue(f, "AAAA-0004", "access", "[\"cust-7\"]", "2026-11-01", "2027-10-31", 1); /* hidden */
    issue(f, "AAAA-0005", "core", "[\"cust-7\",\"cust-8\"]", "2026-11-01", "2027-10-31", 1);

    r = ok(f, "license_shown_under", "{" CALLER_FMT ",\"key\":\"AAAA-0001\"}", TENANT, "msp-3");
    list = cJSON_GetObjectItem(r, "orgs");
    assert_int_equal(cJSON_GetArraySize(list), 1);
    assert_string_equal(cJSON_GetArrayItem(list, 0)->valuestring, "sub-7a");
    cJSON_Delete(r);
    r = ok(f, "license_shown_under", "{" CALLER_FMT ",\"key\":\"AAAA-0005\"}", TENANT, "cust-8");
    list = cJSON_GetObjectItem(r, "orgs"); /* cust-8's view: only its own org */
    assert_int_equal(cJSON_GetArraySize(list), 1);
    assert_string_equal(cJSON_GetArrayItem(list, 0)->valuestring, "cust-8");
    cJSON_Delete(r);

    /* cust-7's list: 0002 and 0005 (0001 shows under sub-7a, 0003 expired, 0004 hidden). */
    r = ok(f, "license_list", "{" CALLER_FMT ",\"org\":\"cust-7\"}", TENANT, "msp-3");
    list = cJSON_GetObjectItem(r, "licenses");
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "key", NULL), "AAAA-0002");
    assert_string_equal(str(cJSON_GetArrayItem(list, 1), "key", NULL), "AAAA-0005");
    cJSON_Delete(r);
    r = ok(f, "license_list", "{" CALLER_FMT ",\"org\":\"cust-7\",\"include_expired\":true}",
           TENANT, "msp-3");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "licenses")), 3);
    cJSON_Delete(r);
    r = ok(f, "license_list", "{" CALLER_FMT ",\"org\":\"sub-7a\"}", TENANT, "sub-7a");
    list = cJSON_GetObjectItem(r, "licenses");
    assert_int_equal(cJSON_GetArraySize(list), 1);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "key", NULL), "AAAA-0001");
    cJSON_Delete(r);

    /* Paging: one at a time, with the cursor. */
    r = ok(f, "license_list", "{" CALLER_FMT ",\"org\":\"cust-7\",\"limit\":1}", TENANT, "msp-3");
    {
        char cursor[64];
        cJSON *r2;

        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "licenses")), 1);
        snprintf(cursor, sizeof(cursor), "%s", str(r, "next_cursor", NULL));
        r2 = ok(f, "license_list",
                "{" CALLER_FMT ",\"org\":\"cust-7\",\"limit\":1,\"cursor\":\"%s\"}", TENANT,
                "msp-3", cursor);
        assert_string_equal(
            str(cJSON_GetArrayItem(cJSON_GetObjectItem(r2, "licenses"), 0), "key", NULL),
            "AAAA-0005");
        assert_true(cJSON_IsNull(cJSON_GetObjectItem(r2, "next_cursor")));
        cJSON_Delete(r2);
    }
    cJSON_Delete(r);

    /* Assign / unassign move where a key is shown. */
    cJSON_Delete(ok(f, "license_unassign",
                    "{" CALLER_FMT ",\"key\":\"AAAA-0001\",\"org\":\"sub-7a\"}", TENANT, "msp-3"));
    refused(f, "license_unassign", "conflict", "only org",
            "{" CALLER_FMT ",\"key\":\"AAAA-0001\",\"org\":\"cust-7\"}", TENANT, "msp-3");
    refused(f, "license_unassign", "conflict", "is not assigned to sub-7a",
            "{" CALLER_FMT ",\"key\":\"AAAA-0001\",\"org\":\"sub-7a\"}", TENANT, "msp-3");
    r = ok(f, "license_list", "{" CALLER_FMT ",\"org\":\"cust-7\"}", TENANT, "msp-3");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "licenses")), 3);
    cJSON_Delete(r);
    r = ok(f, "license_assign", "{" CALLER_FMT ",\"key\":\"AAAA-0001\",\"org\":\"sub-7a\"}", TENANT,
           "msp-3");
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "license"), "orgs")), 2);
    cJSON_Delete(r);
    cJSON_Delete(ok(f, "license_assign",
                    "{" CALLER_FMT ",\"key\":\"AAAA-0001\",\"org\":\"sub-7a\"}", TENANT,
                    "msp-3")); /* already: no event */
    assert_int_equal(events_named(f, TENANT, "license_assigned"), 1);
    assert_int_equal(events_named(f, TENANT, "license_unassigned"), 1);
    validate_all(f);
}

/* Every license endpoint refuses a caller outside the license's orgs, identically. */
static void test_authorization(void **state)
{
    struct fixture *f = *state;
    static const char *const endpoints[] = {
        "license_get",      "license_history",   "license_shown_under", "license_convert",
        "license_renew",    "license_set_limit", "license_set_note",    "license_assign",
        "license_unassign", "license_activate",  "license_deactivate",  "license_checkin"};
    static const char *const extra[] = {
        "",
        "",
        "",
        "",
        ",\"expiration\":\"2030-01-01\"",
        ",\"limit\":9",
        ",\"note\":\"x\"",
        ",\"org\":\"cust-7\"",
        ",\"org\":\"cust-7\"",
        ",\"product\":\"core\",\"instance\":\"i\",\"host\":\"h\",\"product_version\":\"1\"",
        ",\"instance\":\"i\"",
        ",\"instance\":\"i\""};
    /* {tenant, caller org}: a sibling branch, another tree, an unknown org; then an unknown key. */
    static const char *const callers[][2] = {
        {TENANT, "cust-8"}, {"dist-2", "cust-9"}, {TENANT, "nobody"}, {"dist-2", "dist-2"}};

    issue(f, KEY, "core", "[\"cust-7\"]", "2026-11-01", "2027-10-31", 2);
    for (size_t e = 0; e < sizeof(endpoints) / sizeof(endpoints[0]); e++) {
        for (size_t c = 0; c < sizeof(callers) / sizeof(callers[0]); c++)
            refused(f, endpoints[e], "forbidden", "", "{" CALLER_FMT ",\"key\":\"%s\"%s}",
                    callers[c][0], callers[c][1], KEY, extra[e]);
        /* A key that does not exist: the same answer as one elsewhere. */
        refused(f, endpoints[e], "forbidden", "not within the caller's organizations",
                "{" CALLER_FMT ",\"key\":\"ZZZZ-ZZZZ\"%s}", TENANT, "cust-7", extra[e]);
    }
    /* Orgs outside the caller's subtree. */
    refused(f, "license_issue", "forbidden", "orgs[0]",
            "{" CALLER_FMT ",\"product\":\"core\",\"type\":\"evaluation\",\"start\":\"2026-11-01\","
            "\"expiration\":\"2027-10-31\",\"limit\":1,\"orgs\":[\"cust-7\"]}",
            TENANT, "cust-8");
    refused(f, "license_issue", "forbidden", "orgs[0]",
            "{" CALLER_FMT ",\"product\":\"core\",\"type\":\"evaluation\",\"start\":\"2026-11-01\","
            "\"expiration\":\"2027-10-31\",\"limit\":1,\"orgs\":[\"cust-9\"]}",
            TENANT, "msp-3");
    refused(f, "license_list", "forbidden", "", "{" CALLER_FMT ",\"org\":\"cust-7\"}", TENANT,
            "cust-8");
    refused(f, "license_list", "forbidden", "", "{" CALLER_FMT ",\"org\":\"cust-9\"}", TENANT,
            "msp-3");
    refused(f, "license_assign", "forbidden", "",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"org\":\"cust-8\"}", TENANT, "cust-7");
    refused(f, "product_installers", "forbidden", "", "{" CALLER_FMT ",\"product\":\"core\"}",
            "dist-2", "cust-7");
    /* The sub-org sees a license assigned to its parent? No: only licenses with an org inside. */
    refused(f, "license_get", "forbidden", "", "{" CALLER_FMT ",\"key\":\"" KEY "\"}", TENANT,
            "sub-7a");
    /* Nothing of these changed the license. */
    assert_int_equal(events_named(f, TENANT, ">"), 1);
    validate_all(f);
}

static void test_bad_input(void **state)
{
    struct fixture *f = *state;
    char *big = malloc(70000);
    char *note = malloc(1100);

    issue(f, KEY, "core", "[\"cust-7\"]", "2026-11-01", "2027-10-31", 2);
    refused(f, "license_get", "invalid_request", "", "not json");
    refused(f, "license_get", "invalid_request", "", "[1]");
    refused(f, "license_get", "invalid_request", "duplicate",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"key\":\"" KEY "\"}", TENANT, "msp-3");
    refused(f, "license_get", "invalid_request", "extra",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"extra\":1}", TENANT, "msp-3");
    refused(f, "license_get", "invalid_request", "key", "{" CALLER_FMT ",\"key\":\"abc\"}", TENANT,
            "msp-3");
    refused(f, "license_get", "invalid_request", "caller",
            "{\"tenant\":\"" TENANT "\",\"key\":\"" KEY "\"}");
    /* Oversized: past SERVICE_REQUEST_MAX_BYTES. */
    memset(big, ' ', 69999);
    big[0] = '{';
    big[69998] = '}';
    big[69999] = '\0';
    {
        cJSON *r = call(f, "license_get", big);

        assert_string_equal(str(r, "error", "code"), "too_large");
        cJSON_Delete(r);
    }
    /* The note at its limit and one past it. */
    memset(note, 'n', 1001);
    note[1000] = '\0';
    cJSON_Delete(ok(f, "license_set_note", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"note\":\"%s\"}",
                    TENANT, "msp-3", note));
    note[1000] = 'n';
    note[1001] = '\0';
    refused(f, "license_set_note", "invalid_request", "note: longer than 1000",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"note\":\"%s\"}", TENANT, "msp-3", note);
    refused(f, "license_set_limit", "invalid_request", "limit",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"limit\":100001}", TENANT, "msp-3");
    cJSON_Delete(ok(f, "license_set_limit", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"limit\":100000}",
                    TENANT, "msp-3"));
    refused(f, "license_set_limit", "invalid_request", "limit",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"limit\":1.5}", TENANT, "msp-3");
    refused(f, "license_renew", "invalid_request", "expiration",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"expiration\":\"2027-02-30\"}", TENANT, "msp-3");
#define ISSUE_BODY(fields)                                                                         \
    "{" CALLER_FMT ",\"product\":\"core\",\"type\":\"evaluation\",\"limit\":1," fields "}",        \
        TENANT, "msp-3"
    refused(
        f, "license_issue", "invalid_request", "expiration",
        ISSUE_BODY("\"start\":\"2026-11-01\",\"expiration\":\"2026-10-31\",\"orgs\":[\"cust-7\"]"));
    refused(f, "license_issue", "invalid_request", "orgs[1]",
            ISSUE_BODY("\"start\":\"2026-11-01\",\"expiration\":\"2026-12-31\","
                       "\"orgs\":[\"cust-7\",\"cust-7\"]"));
    refused(f, "license_issue", "invalid_request", "orgs",
            ISSUE_BODY("\"start\":\"2026-11-01\",\"expiration\":\"2026-12-31\",\"orgs\":[]"));
    refused(f, "license_issue", "invalid_request", "orgs",
            ISSUE_BODY("\"start\":\"2026-11-01\",\"expiration\":\"2026-12-31\",\"orgs\":["
                       "\"a1\",\"a2\",\"a3\",\"a4\",\"a5\",\"a6\",\"a7\",\"a8\",\"a9\",\"b1\","
                       "\"b2\",\"b3\",\"b4\",\"b5\",\"b6\",\"b7\",\"b8\"]"));
    refused(f, "license_issue", "invalid_request", "type",
            "{" CALLER_FMT
            ",\"product\":\"core\",\"type\":\"free\",\"limit\":1,\"start\":\"2026-11-01\","
            "\"expiration\":\"2026-12-31\",\"orgs\":[\"cust-7\"]}",
            TENANT, "msp-3");
    refused(f, "license_activate", "invalid_request", "instance",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"product\":\"core\",\"instance\":\"a b\","
            "\"host\":\"h\",\"product_version\":\"1\"}",
            TENANT, "msp-3");
    refused(f, "license_list", "invalid_request", "limit",
            "{" CALLER_FMT ",\"org\":\"cust-7\",\"limit\":1001}", TENANT, "msp-3");
    refused(f, "license_list", "invalid_request", "cursor",
            "{" CALLER_FMT ",\"org\":\"cust-7\",\"cursor\":\"x y\"}", TENANT, "msp-3");
    refused(f, "license_history", "invalid_request", "cursor",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"cursor\":\"-1\"}", TENANT, "msp-3");
    refused(f, "license_history", "invalid_request", "cursor",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"cursor\":\"ABC\"}", TENANT, "msp-3");
    refused(f, "product_add", "conflict", "already in the catalog",
            "{\"product\":\"core\",\"name\":\"x\",\"delivery\":\"cloud\",\"shown\":true}");
    refused(f, "product_add", "invalid_request", "delivery",
            "{\"product\":\"p2\",\"name\":\"x\",\"delivery\":\"box\",\"shown\":true}");
    refused(f, "product_add", "invalid_request", "installers[0].link",
            "{\"product\":\"p2\",\"name\":\"x\",\"delivery\":\"cloud\",\"shown\":true,"
            "\"installers\":[{\"version\":\"1\",\"platform\":\"l\",\"link\":\"ftp://x\","
            "\"checksum\":\"c\"}]}");
    refused(f, "product_add", "invalid_request", "caller",
            "{\"product\":\"p2\",\"name\":\"x\",\"delivery\":\"cloud\",\"shown\":true,"
            "\"caller\":{}}");
    refused(f, "product_update", "invalid_request", "delivery",
            "{\"product\":\"core\",\"delivery\":\"cloud\"}");
    refused(f, "product_update", "not_found", "no product", "{\"product\":\"p9\",\"shown\":true}");
    refused(f, "product_update", "invalid_request", "nothing to update", "{\"product\":\"core\"}");
    /* Nothing half-applied: only the one issue, one note and one limit change are events. */
    assert_int_equal(events_named(f, TENANT, ">"), 3);
    free(big);
    free(note);
    validate_all(f);
}

static void test_commerce_and_scans(void **state)
{
    struct fixture *f = *state;
    static const char order[] =
        "{\"order\":\"ord-1\",\"product\":\"cloud\",\"key\":\"CLOU-D001\",\"type\":\"purchased\","
        "\"start\":\"2026-11-01\",\"expiration\":\"2027-10-31\",\"limit\":1000,"
        "\"orgs\":[\"cust-7\"]}";
    cJSON *r;

    publish(f, "commerce", TENANT, "license_ordered", "01JORDER0000000000000000001", T0, order);
    f->events++;
    /* The same event again (a replay): applied once. */
    publish(f, "commerce", TENANT, "license_ordered", "01JORDER0000000000000000001", T0, order);
    wait_applied(f);
    r = ok(f, "license_get", "{" CALLER_FMT ",\"key\":\"CLOU-D001\"}", TENANT, "cust-7");
    assert_string_equal(str(r, "license", "limit_kind"), "scans");
    cJSON_Delete(r);
    r = ok(f, "license_history", "{" CALLER_FMT ",\"key\":\"CLOU-D001\"}", TENANT, "cust-7");
    {
        cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "entries"), 0);

        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "entries")), 1);
        assert_string_equal(str(first, "actor", "user"), "commerce");
        assert_string_equal(str(first, "time", NULL), T0); /* the order's time */
    }
    cJSON_Delete(r);
    /* Commerce without a key: generated from the event id, the same in every replay. */
    publish(f, "commerce", TENANT, "license_ordered", "01JORDER0000000000000000002", T0,
            "{\"order\":\"ord-2\",\"product\":\"core\",\"type\":\"evaluation\","
            "\"start\":\"2026-11-01\",\"expiration\":\"2026-12-31\",\"limit\":1,"
            "\"orgs\":[\"cust-8\"]}");
    f->events++;
    /* Out of order: an org the directory has not announced yet is retried, then applied. */
    publish(
        f, "commerce", TENANT, "license_ordered", "01JORDER0000000000000000003", T0,
        "{\"order\":\"ord-3\",\"product\":\"core\",\"key\":\"LATE-0001\",\"type\":\"evaluation\","
        "\"start\":\"2026-11-01\",\"expiration\":\"2026-12-31\",\"limit\":1,"
        "\"orgs\":[\"cust-late\"]}");
    f->events++;
    harness_wait_metric(f->svc.http_port, "lb_events_redelivered_total", 1);
    org(f, TENANT, "cust-late", "msp-3", "customer");
    wait_applied(f);
    r = ok(f, "license_get", "{" CALLER_FMT ",\"key\":\"LATE-0001\"}", TENANT, "cust-late");
    cJSON_Delete(r);
    assert_int_equal(events_named(f, TENANT, "license_issued"), 3);

    /* Bad orders are dead-lettered: unknown product, unknown member, taken key. */
    publish(f, "commerce", TENANT, "license_ordered", "01JORDER0000000000000000004", T0,
            "{\"order\":\"ord-4\",\"product\":\"nope\",\"type\":\"evaluation\","
            "\"start\":\"2026-11-01\",\"expiration\":\"2026-12-31\",\"limit\":1,"
            "\"orgs\":[\"cust-8\"]}");
    publish(f, "commerce", TENANT, "license_ordered", "01JORDER0000000000000000005", T0,
            "{\"order\":\"ord-5\",\"product\":\"core\",\"type\":\"evaluation\",\"bonus\":1,"
            "\"start\":\"2026-11-01\",\"expiration\":\"2026-12-31\",\"limit\":1,"
            "\"orgs\":[\"cust-8\"]}");
    publish(f, "commerce", TENANT, "license_ordered", "01JORDER0000000000000000006", T0, order);
    harness_wait_metric(f->svc.http_port, "lb_events_dead_lettered_total", 3);

    /* Scans: the limit crossing is reported once; more scans do not report again. */
    publish(f, "scanning", TENANT, "scans_counted", "01JSCANS000000000000000001", T0,
            "{\"key\":\"CLOU-D001\",\"org\":\"cust-7\",\"day\":\"2026-11-22\",\"scans\":600}");
    publish(f, "scanning", TENANT, "scans_counted", "01JSCANS000000000000000002", T0,
            "{\"key\":\"CLOU-D001\",\"org\":\"sub-7a\",\"day\":\"2026-11-22\",\"scans\":500}");
    publish(f, "scanning", TENANT, "scans_counted", "01JSCANS000000000000000002", T0,
            "{\"key\":\"CLOU-D001\",\"org\":\"sub-7a\",\"day\":\"2026-11-22\",\"scans\":500}");
    publish(f, "scanning", TENANT, "scans_counted", "01JSCANS000000000000000003", T0,
            "{\"key\":\"CLOU-D001\",\"org\":\"cust-7\",\"day\":\"2026-11-22\",\"scans\":5}");
    f->events += 3;
    wait_applied(f);
    r = ok(f, "license_get", "{" CALLER_FMT ",\"key\":\"CLOU-D001\"}", TENANT, "cust-7");
    assert_int_equal(num(r, "license", "scans_used"), 1105);
    cJSON_Delete(r);
    assert_int_equal(events_named(f, TENANT, "scan_limit_reached"), 1);
    /* Scans refused: another org, an on-premises license, bad data, another tenant. */
    publish(f, "scanning", TENANT, "scans_counted", "01JSCANS000000000000000004", T0,
            "{\"key\":\"CLOU-D001\",\"org\":\"cust-8\",\"day\":\"2026-11-22\",\"scans\":5}");
    publish(f, "scanning", TENANT, "scans_counted", "01JSCANS000000000000000005", T0,
            "{\"key\":\"LATE-0001\",\"org\":\"cust-late\",\"day\":\"2026-11-22\",\"scans\":5}");
    publish(f, "scanning", TENANT, "scans_counted", "01JSCANS000000000000000006", T0,
            "{\"key\":\"CLOU-D001\",\"org\":\"cust-7\",\"day\":\"2026-11-22\",\"scans\":0}");
    publish(f, "scanning", "dist-2", "scans_counted", "01JSCANS000000000000000008", T0,
            "{\"key\":\"CLOU-D001\",\"org\":\"cust-9\",\"day\":\"2026-11-22\",\"scans\":5}");
    harness_wait_metric(f->svc.http_port, "lb_events_dead_lettered_total", 7);
    r = ok(f, "license_get", "{" CALLER_FMT ",\"key\":\"CLOU-D001\"}", TENANT, "cust-7");
    assert_int_equal(num(r, "license", "scans_used"), 1105);
    cJSON_Delete(r);
    /* A raised limit can be crossed again. */
    cJSON_Delete(ok(f, "license_set_limit", "{" CALLER_FMT ",\"key\":\"CLOU-D001\",\"limit\":2000}",
                    TENANT, "msp-3"));
    publish(f, "scanning", TENANT, "scans_counted", "01JSCANS000000000000000007", T0,
            "{\"key\":\"CLOU-D001\",\"org\":\"cust-7\",\"day\":\"2026-11-23\",\"scans\":900}");
    f->events++;
    wait_applied(f);
    assert_int_equal(events_named(f, TENANT, "scan_limit_reached"), 2);
    refused(f, "license_activate", "conflict", "cloud license",
            "{" CALLER_FMT ",\"key\":\"CLOU-D001\",\"product\":\"cloud\",\"instance\":\"i\","
            "\"host\":\"h\",\"product_version\":\"1\"}",
            TENANT, "cust-7");
    validate_all(f);
}

static void test_expiry_sweep(void **state)
{
    struct fixture *f = *state;
    cJSON *r;

    /* Expires at the end of 2027-01-01, i.e. T0 + 41 days (T0 is 2026-11-22T10:00Z). */
    issue(f, KEY, "core", "[\"cust-7\"]", "2026-12-01", "2027-01-01", 1);
    refused(f, "license_activate", "conflict", "not started yet: it starts on 2026-12-01",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"product\":\"core\",\"instance\":\"i\","
            "\"host\":\"h\",\"product_version\":\"1\"}",
            TENANT, "cust-7");
    r = ok(f, "license_get", "{" CALLER_FMT ",\"key\":\"" KEY "\"}", TENANT, "cust-7");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "license"), "started")));
    cJSON_Delete(r);
    tick_days(f, 5);
    assert_int_equal(events_named(f, TENANT, "license_expiring"), 0);
    tick_days(f, 12); /* within 30 days of expiry */
    assert_int_equal(
        harness_wait_stream(f->js, "LB_LICENSING", "lb.evt.licensing.dist-1.license_expiring", 1),
        1);
    r = ok(f, "license_get", "{" CALLER_FMT ",\"key\":\"" KEY "\"}", TENANT, "cust-7");
    assert_string_equal(str(r, "license", "status"), "expiring");
    cJSON_Delete(r);
    tick_days(f, 200); /* a jump far past expiry */
    assert_int_equal(
        harness_wait_stream(f->js, "LB_LICENSING", "lb.evt.licensing.dist-1.license_expired", 1),
        1);
    refused(f, "license_activate", "conflict", "expired: its expiration date was 2027-01-01",
            "{" CALLER_FMT ",\"key\":\"" KEY "\",\"product\":\"core\",\"instance\":\"i\","
            "\"host\":\"h\",\"product_version\":\"1\"}",
            TENANT, "cust-7");
    /* A restart and more ticks: nothing twice. */
    assert_int_equal(harness_service_stop(&f->svc, SIGTERM, HARNESS_WAIT_MS), 0);
    f->svc.http_port = 0;
    harness_service_start(&f->svc, "licensing", &f->ns, f->data, service_env);
    tick_days(f, 210);
    tick_days(f, 150); /* backwards: ignored */
    assert_int_equal(events_named(f, TENANT, "license_expiring"), 1);
    assert_int_equal(events_named(f, TENANT, "license_expired"), 1);
    /* The default listing hides it; renewal re-arms both transitions. */
    r = ok(f, "license_list", "{" CALLER_FMT ",\"org\":\"cust-7\"}", TENANT, "msp-3");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "licenses")), 0);
    cJSON_Delete(r);
    r = ok(f, "license_renew", "{" CALLER_FMT ",\"key\":\"" KEY "\",\"expiration\":\"2027-07-31\"}",
           TENANT, "msp-3");
    assert_string_equal(str(r, "license", "status"), "active");
    cJSON_Delete(r);
    tick_days(f, 240);
    assert_int_equal(
        harness_wait_stream(f->js, "LB_LICENSING", "lb.evt.licensing.dist-1.license_expiring", 2),
        2);
    assert_int_equal(events_named(f, TENANT, "license_expired"), 1);
    r = ok(f, "license_history", "{" CALLER_FMT ",\"key\":\"" KEY "\"}", TENANT, "cust-7");
    {
        cJSON *entries = cJSON_GetObjectItem(r, "entries");
        cJSON *expired = cJSON_GetArrayItem(entries, 2);

        assert_int_equal(cJSON_GetArraySize(entries), 5);
        assert_string_equal(str(cJSON_GetArrayItem(entries, 1), "change", NULL),
                            "license_expiring");
        assert_string_equal(str(cJSON_GetArrayItem(entries, 1), "after", "status"), "expiring");
        assert_string_equal(str(expired, "change", NULL), "license_expired");
        assert_string_equal(str(expired, "before", "status"), "expiring");
        assert_string_equal(str(expired, "after", "status"), "expired");
        assert_string_equal(str(expired, "actor", "user"), "sweep");
        /* The sweep's events carry the sweep's virtual time. */
        assert_string_equal(str(expired, "time", NULL), "2027-06-10T10:00:00.000Z");
    }
    cJSON_Delete(r);
    validate_all(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_license_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_shown_under, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorization, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commerce_and_scans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry_sweep, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
