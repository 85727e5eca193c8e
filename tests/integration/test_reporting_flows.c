/*
 * test_reporting_flows.c - reporting against a real nats-server: the read
 * model built from directory, licensing, subscriptions, usage, agents and
 * signals events (published here in the shapes those producers define),
 * every query, authorization through filters, bad input, the lag, org moves
 * (the shown-under choice and the overview's counts follow the tree), and a
 * rebuild from the streams on an empty database giving byte-identical
 * replies.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

#define TENANT "dist-1"
#define CALLER "\"tenant\":\"dist-1\",\"caller\":{\"org\":\"msp-3\",\"user\":\"ana@msp3.example\"}"
#define NOW    "2026-11-22T10:00:00.000Z"

static const char *const env[] = {"LB_CLOCK=virtual", "LB_ACK_WAIT=1s", NULL};

struct fixture {
    struct nats_server ns;
    struct service_proc svc;
    natsConnection *nc;
    jsCtx *js;
    char data[256];
    int events;
};

static struct fixture *fx;

static void publish(const char *domain, const char *tenant, const char *name, const char *time,
                    const char *data)
{
    char id[32], type[128], subject[256];
    char *ev;

    snprintf(id, sizeof(id), "01JREP00000000000000%06d", ++fx->events);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    snprintf(subject, sizeof(subject), "lb.evt.%s.%s.%s", domain, tenant, name);
    ev = harness_event(id, type, tenant, time, data);
    harness_js_publish(fx->js, subject, id, ev, strlen(ev));
    free(ev);
}

static void org(const char *id, const char *parent, const char *kind)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"Org %s\",\"kind\":\"%s\"}", id,
             parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
    publish("directory", TENANT, "org_created", "2026-11-01T00:00:00.000Z", data);
}

static void product(const char *id, const char *delivery, bool shown)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"product\":{\"id\":\"%s\",\"name\":\"Product %s\",\"delivery\":\"%s\","
             "\"limit_kind\":\"instances\",\"shown\":%s,\"version\":1},\"installers\":[]}",
             id, id, delivery, shown ? "true" : "false");
    publish("licensing", "_sys", "product_added", "2026-11-01T00:00:00.000Z", data);
}

static void license(const char *name, const char *id, const char *key, const char *prod,
                    const char *delivery, const char *exp, const char *orgs, int version,
                    int deployed, const char *deployment)
{
    char data[2048];

    snprintf(
        data, sizeof(data),
        "{\"license\":{\"id\":\"%s\",\"key\":\"%s\",\"tenant\":\"dist-1\",\"product\":\"%s\","
        "\"delivery\":\"%s\",\"limit_kind\":\"instances\",\"type\":\"purchased\","
        "\"status\":\"active\",\"started\":true,\"start\":\"2026-01-01\",\"expiration\":\"%s\","
        "\"limit\":5,\"deployed\":%d,\"scans_used\":%d,\"note\":\"PO, \\\"1\\\"\",\"orgs\":%s,"
        "\"version\":%d,\"issued_at\":\"" NOW "\",\"updated_at\":\"" NOW "\"},"
        "\"actor\":{\"org\":\"msp-3\",\"user\":\"ana\"},\"before\":null,\"after\":{\"deployed\":%d}"
        "%s%s}",
        id, key, prod, delivery, exp, deployed, deployed * 100, orgs, version, deployed,
        deployment ? ",\"deployment\":" : "", deployment ? deployment : "");
    publish("licensing", TENANT, name, "2026-11-02T00:00:00.000Z", data);
}

static void tick(const char *now)
{
    char data[64];

    snprintf(data, sizeof(data), "{\"now\":\"%s\"}", now);
    publish("clock", "_sys", "tick", now, data);
}

/* Waits until every published event has been applied or ignored. */
static void settle(void)
{
    for (int i = 0; i < 400; i++) {
        double n = harness_metric(fx->svc.http_port, "lb_events_applied_total") +
                   harness_metric(fx->svc.http_port, "lb_events_ignored_total") +
                   harness_metric(fx->svc.http_port, "lb_events_dead_lettered_total");
        if (n >= fx->events)
            return;
        usleep(50000);
    }
    fail_msg("events not applied: %d published", fx->events);
}

static cJSON *ask(const char *endpoint, const char *body)
{
    char subject[128];
    natsMsg *reply;
    cJSON *json;

    snprintf(subject, sizeof(subject), "lb.api.reporting.%s", endpoint);
    reply = harness_request(fx->nc, subject, body, strlen(body));
    json = harness_reply_json(reply);
    natsMsg_Destroy(reply);
    return json;
}

static char *ask_raw(const char *endpoint, const char *body)
{
    char subject[128];
    natsMsg *reply;
    char *text;

    snprintf(subject, sizeof(subject), "lb.api.reporting.%s", endpoint);
    reply = harness_request(fx->nc, subject, body, strlen(body));
    text = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    natsMsg_Destroy(reply);
    return text;
}

static void expect_error(const char *endpoint, const char *body, const char *code,
                         const char *needle)
{
    cJSON *r = ask(endpoint, body);
    cJSON *e = cJSON_GetObjectItem(r, "error");
    cJSON *c = cJSON_GetObjectItem(e, "code");
    cJSON *m = cJSON_GetObjectItem(e, "message");

    if (c == NULL || strcmp(c->valuestring, code) != 0 ||
        (needle && (m == NULL || strstr(m->valuestring, needle) == NULL)))
        fail_msg("%s %s: expected %s (%s), got %s", endpoint, body, code, needle ? needle : "",
                 cJSON_PrintUnformatted(r));
    cJSON_Delete(r);
}

static void seed(void)
{
    org("dist-1", NULL, "distributor");
    org("msp-3", "dist-1", "msp");
    org("cust-7", "msp-3", "customer");
    org("sub-7a", "cust-7", "suborg");
    org("cust-8", "msp-3", "customer");
    org("msp-4", "dist-1", "msp");
    org("cust-9", "msp-4", "customer");
    publish("directory", TENANT, "user_created", "2026-11-01T00:00:00.000Z",
            "{\"user\":\"u-1\",\"org\":\"sub-7a\",\"email\":\"u1@x.example\",\"display_name\":\"U "
            "One\"}");
    settle();
    product("core", "on_premises", true);
    product("cloud", "cloud", true);
    product("access", "on_premises", false);
    license("license_issued", "L1", "AAAA-0001", "core", "on_premises", "2027-10-31",
            "[\"cust-7\",\"sub-7a\"]", 1, 0, NULL);
    license("license_activated", "L1", "AAAA-0001", "core", "on_premises", "2027-10-31",
            "[\"cust-7\",\"sub-7a\"]", 2, 1,
            "{\"instance\":\"inst-1\",\"host\":\"h1.example\",\"product_version\":\"5.1\","
            "\"who\":\"ana\",\"activated_at\":\"2026-11-02T00:00:00.000Z\",\"last_seen\":null}");
    license("license_issued", "L2", "AAAA-0002", "cloud", "cloud", "2026-12-10", "[\"cust-7\"]", 1,
            0, NULL);
    license("license_issued", "L3", "AAAA-0003", "access", "on_premises", "2027-10-31",
            "[\"cust-7\"]", 1, 0, NULL);
    license("license_issued", "L4", "AAAA-0004", "core", "on_premises", "2027-10-31",
            "[\"cust-9\"]", 1, 0, NULL);
    license("license_issued", "L5", "AAAA-0005", "core", "on_premises", "2026-01-31",
            "[\"cust-8\"]", 1, 0, NULL);
    publish(
        "subscriptions", TENANT, "subscription_changed", "2026-11-02T00:00:00.000Z",
        "{\"subscription\":\"sub-1\",\"customer\":\"cust-7\",\"package\":\"core_plus\","
        "\"seat_basis\":\"users\",\"quantity\":1,\"status\":\"in_trial\","
        "\"trial_end\":\"2026-11-30T00:00:00.000Z\",\"billing_start\":null,\"billing_end\":null,"
        "\"version\":1,\"change\":\"created\",\"actor\":\"ana\"}");
    publish(
        "subscriptions", TENANT, "seat_assigned", "2026-11-02T00:00:00.000Z",
        "{\"subscription\":\"sub-1\",\"customer\":\"cust-7\",\"user\":\"u-1\",\"group\":\"g-1\"}");
    publish("subscriptions", TENANT, "customer_changed", "2026-11-02T00:00:00.000Z",
            "{\"customer\":\"cust-7\",\"status\":\"active\",\"login_enabled\":true,"
            "\"billing\":\"running\",\"change\":\"created\",\"version\":1,\"actor\":\"ana\"}");
    publish(
        "agents", TENANT, "device_installed", "2026-11-02T00:00:00.000Z",
        "{\"device\":\"d-1\",\"org\":\"sub-7a\",\"kind\":\"business\",\"hostname\":\"ana-pc\"}");
    publish("agents", TENANT, "device_installed", "2026-11-02T00:00:00.000Z",
            "{\"device\":\"d-2\",\"org\":\"cust-7\",\"kind\":\"personal\",\"hostname\":\"kiosk\"}");
    publish("agents", TENANT, "device_installed", "2026-11-02T00:00:00.000Z",
            "{\"device\":\"d-3\",\"org\":\"cust-7\",\"kind\":\"business\",\"hostname\":\"old\"}");
    settle();
    publish("usage", TENANT, "device_associated", "2026-11-03T00:00:00.000Z",
            "{\"device\":\"d-1\",\"user\":\"u-1\",\"actor\":\"ana\"}");
    publish("agents", TENANT, "device_uninstalled", "2026-11-03T00:00:00.000Z",
            "{\"device\":\"d-3\"}");
    publish("agents", TENANT, "device_associated", "2026-11-03T00:00:00.000Z",
            "{\"device\":\"d-2\",\"user\":\"u-1\"}"); /* ignored: usage decides */
    for (int i = 0; i < 5; i++) {
        char t[32];

        snprintf(t, sizeof(t), "2026-11-%02dT08:00:00.000Z", 4 + i);
        publish("signals", TENANT, "heartbeat", t, "{\"device\":\"d-1\"}");
    }
    publish("signals", TENANT, "heartbeat", "2026-10-30T08:00:00.000Z", "{\"device\":\"d-1\"}");
    publish("signals", TENANT, "heartbeat", "2026-11-06T09:00:00.000Z", "{\"device\":\"d-2\"}");
    publish("usage", TENANT, "license_released", "2026-11-04T00:00:00.000Z",
            "{\"user\":\"u-1\",\"customer\":\"cust-7\",\"inactive_since\":\"2026-10-01T00:00:00."
            "000Z\",\"seats\":1}");
    publish("usage", TENANT, "license_retaken", "2026-11-05T00:00:00.000Z",
            "{\"user\":\"u-1\",\"customer\":\"cust-7\",\"device\":\"d-1\",\"signal_at\":\"2026-11-"
            "05T00:00:00.000Z\",\"released_at\":\"2026-11-04T00:00:00.000Z\"}");
    tick(NOW);
    settle();
}

static int setup(void **state)
{
    fx = calloc(1, sizeof(*fx));
    harness_nats_start(&fx->ns, NULL);
    harness_tmpdir(fx->data, "reporting");
    harness_service_start(&fx->svc, "reporting", &fx->ns, fx->data, env);
    fx->nc = harness_connect(&fx->ns);
    fx->js = harness_js(fx->nc);
    seed();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    jsCtx_Destroy(fx->js);
    natsConnection_Destroy(fx->nc);
    if (fx->svc.pid > 0)
        harness_service_stop(&fx->svc, SIGKILL, 5000);
    harness_nats_stop(&fx->ns);
    if (getenv("LB_KEEP_DATA") == NULL)
        harness_rmdir(fx->data);
    free(fx);
    return 0;
}

static cJSON *find(cJSON *array, const char *member, const char *value)
{
    cJSON *item;

    cJSON_ArrayForEach(item, array)
    {
        cJSON *m = cJSON_GetObjectItem(item, member);

        if (m != NULL && cJSON_IsString(m) && strcmp(m->valuestring, value) == 0)
            return item;
    }
    return NULL;
}

static void test_customer_orgs(void **state)
{
    cJSON *r = ask("customer_orgs", "{" CALLER "}");
    cJSON *orgs = cJSON_GetObjectItem(r, "orgs");
    cJSON *c7, *s7, *c8, *lic;

    (void)state;
    assert_non_null(orgs);
    assert_int_equal(cJSON_GetArraySize(orgs), 3); /* cust-7, sub-7a, cust-8; not cust-9 */
    assert_null(find(orgs, "org", "cust-9"));
    c7 = find(orgs, "org", "cust-7");
    s7 = find(orgs, "org", "sub-7a");
    c8 = find(orgs, "org", "cust-8");
    assert_non_null(c7);
    assert_non_null(s7);
    assert_non_null(c8);
    /* The key on both cust-7 and sub-7a is shown under sub-7a only; the hidden product never. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c7, "on_premises")), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s7, "on_premises")), 1);
    lic = cJSON_GetArrayItem(cJSON_GetObjectItem(s7, "on_premises"), 0);
    assert_string_equal(cJSON_GetObjectItem(lic, "key")->valuestring, "AAAA-0001");
    assert_int_equal(cJSON_GetObjectItem(lic, "deployed")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(lic, "purchased")->valueint, 5);
    assert_string_equal(cJSON_GetObjectItem(lic, "status")->valuestring, "active");
    assert_string_equal(cJSON_GetObjectItem(lic, "expiration")->valuestring, "2027-10-31");
    /* Cloud: expiration within 30 days of the virtual now: expiring, with scans. */
    lic = cJSON_GetArrayItem(cJSON_GetObjectItem(c7, "cloud"), 0);
    assert_non_null(lic);
    assert_string_equal(cJSON_GetObjectItem(lic, "status")->valuestring, "expiring");
    assert_int_equal(cJSON_GetObjectItem(lic, "scan_limit")->valueint, 5);
    /* Expired hidden by default. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c8, "on_premises")), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "next_cursor")));
    cJSON_Delete(r);

    r = ask("customer_orgs", "{" CALLER ",\"include_expired\":true}");
    c8 = find(cJSON_GetObjectItem(r, "orgs"), "org", "cust-8");
    lic = cJSON_GetArrayItem(cJSON_GetObjectItem(c8, "on_premises"), 0);
    assert_string_equal(cJSON_GetObjectItem(lic, "status")->valuestring, "expired");
    cJSON_Delete(r);

    /* A license filter leaves out orgs without a match. */
    r = ask("customer_orgs", "{" CALLER ",\"status\":\"expiring\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "orgs")), 1);
    cJSON_Delete(r);
    r = ask("customer_orgs", "{" CALLER ",\"expiring_within_days\":400,\"product\":\"core\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "orgs")), 1);
    cJSON_Delete(r);

    /* Paging: one org per page, three pages, then null. */
    {
        char body[1024];
        char cursor[600] = "";
        int pages = 0;

        for (;;) {
            cJSON *next;

            snprintf(body, sizeof(body), "{" CALLER ",\"limit\":1%s%s%s}",
                     cursor[0] ? ",\"cursor\":\"" : "", cursor, cursor[0] ? "\"" : "");
            r = ask("customer_orgs", body);
            assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "orgs")), 1);
            pages++;
            next = cJSON_GetObjectItem(r, "next_cursor");
            if (cJSON_IsNull(next)) {
                cJSON_Delete(r);
                break;
            }
            snprintf(cursor, sizeof(cursor), "%s", next->valuestring);
            cJSON_Delete(r);
            assert_true(pages < 5);
        }
        assert_int_equal(pages, 3);
    }
}

static void test_authorization(void **state)
{
    (void)state;
    /* An org filter elsewhere, nowhere, or above the caller: the same forbidden. */
    expect_error("customer_orgs", "{" CALLER ",\"org\":\"cust-9\"}", "forbidden", NULL);
    expect_error("customer_orgs", "{" CALLER ",\"org\":\"nope\"}", "forbidden", NULL);
    expect_error("customer_orgs", "{" CALLER ",\"org\":\"dist-1\"}", "forbidden", NULL);
    expect_error("overview", "{" CALLER ",\"org\":\"msp-4\"}", "forbidden", NULL);
    expect_error("consumption", "{" CALLER ",\"org\":\"cust-9\"}", "forbidden", NULL);
    expect_error("billable_active", "{" CALLER ",\"org\":\"cust-9\",\"month\":\"2026-11\"}",
                 "forbidden", NULL);
    expect_error("export",
                 "{" CALLER ",\"org\":\"cust-9\",\"report\":\"consumption\",\"format\":\"csv\"}",
                 "forbidden", NULL);
    expect_error("license_history", "{" CALLER ",\"key\":\"AAAA-0004\"}", "forbidden", NULL);
    expect_error("license_history", "{" CALLER ",\"key\":\"ZZZZ-9999\"}", "forbidden", NULL);
    expect_error("export",
                 "{" CALLER
                 ",\"report\":\"active_deployments\",\"format\":\"csv\",\"key\":\"AAAA-0004\"}",
                 "forbidden", NULL);
    expect_error("customer_orgs",
                 "{\"tenant\":\"dist-1\",\"caller\":{\"org\":\"ghost\",\"user\":\"x\"}}",
                 "forbidden", NULL);
    expect_error("customer_orgs",
                 "{\"tenant\":\"other\",\"caller\":{\"org\":\"msp-3\",\"user\":\"x\"}}",
                 "forbidden", NULL);
    /* A cursor of another scope is refused, not followed. */
    {
        char cursor[128];
        char body[512];
        const char *path = "/dist-1/msp-4/cust-9/";
        char *c = cursor;

        for (const char *p = path; *p; p++, c += 2)
            snprintf(c, 3, "%02x", (unsigned char)*p);
        snprintf(body, sizeof(body), "{" CALLER ",\"cursor\":\"%s\"}", cursor);
        expect_error("customer_orgs", body, "invalid_request", "cursor");
    }
    /* The distributor sees both branches. */
    {
        cJSON *r = ask("customer_orgs",
                       "{\"tenant\":\"dist-1\",\"caller\":{\"org\":\"dist-1\",\"user\":\"d\"}}");

        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "orgs")), 4);
        cJSON_Delete(r);
    }
}

static void test_bad_input(void **state)
{
    char big[70000];

    (void)state;
    expect_error("customer_orgs", "not json", "invalid_request", NULL);
    expect_error("customer_orgs", "{" CALLER ",\"colour\":1}", "invalid_request", "colour");
    expect_error("customer_orgs", "{" CALLER ",\"limit\":0}", "invalid_request", "limit");
    expect_error("customer_orgs", "{" CALLER ",\"limit\":201}", "invalid_request", "limit");
    expect_error("customer_orgs", "{" CALLER ",\"status\":\"Active\"}", "invalid_request",
                 "status");
    expect_error("customer_orgs", "{" CALLER ",\"sort\":\"name\"}", "invalid_request", "sort");
    expect_error("customer_orgs", "{" CALLER ",\"include_expired\":1}", "invalid_request",
                 "include_expired");
    expect_error("customer_orgs", "{" CALLER ",\"expiring_within_days\":3661}", "invalid_request",
                 "expiring");
    expect_error("customer_orgs", "{" CALLER ",\"cursor\":\"zz\"}", "invalid_request", "cursor");
    expect_error("customer_orgs", "{" CALLER ",\"limit\":1,\"limit\":2}", "invalid_request", NULL);
    expect_error("customer_orgs", "{\"tenant\":\"dist-1\"}", "invalid_request", "caller");
    expect_error("billable_active", "{" CALLER "}", "invalid_request", "month");
    expect_error("billable_active", "{" CALLER ",\"month\":\"2026-13\"}", "invalid_request",
                 "month");
    expect_error("license_history", "{" CALLER "}", "invalid_request", "key");
    expect_error("license_history", "{" CALLER ",\"key\":\"AAAA-0001\",\"cursor\":\"0\"}",
                 "invalid_request", "cursor");
    expect_error("export", "{" CALLER ",\"report\":\"everything\",\"format\":\"csv\"}",
                 "invalid_request", "report");
    expect_error("export", "{" CALLER ",\"report\":\"consumption\"}", "invalid_request", "format");
    expect_error("export",
                 "{" CALLER ",\"report\":\"consumption\",\"format\":\"xlsx\",\"sheet\":\"keys\"}",
                 "invalid_request", "sheet");
    expect_error("export_chunk", "{" CALLER ",\"export_id\":\"../../etc/passwd\",\"index\":0}",
                 "invalid_request", "export_id");
    expect_error("export_chunk",
                 "{" CALLER ",\"export_id\":\"01JD8Z3T2V6Q9R8S7T6V5W4X70\",\"index\":0}",
                 "not_found", NULL);
    expect_error("overview", "{" CALLER ",\"top\":101}", "invalid_request", "top");
    memset(big, ' ', sizeof(big));
    memcpy(big, "{" CALLER "}", strlen("{" CALLER "}"));
    big[sizeof(big) - 1] = '\0';
    expect_error("overview", big, "too_large", NULL);
}

static void test_overview_history_consumption(void **state)
{
    cJSON *r = ask("overview", "{" CALLER "}");
    cJSON *st = cJSON_GetObjectItem(r, "by_status");
    cJSON *core;

    (void)state;
    /* L1 (active), L2 (expiring), L5 (expired); L3 hidden, L4 elsewhere. */
    assert_int_equal(cJSON_GetObjectItem(st, "active")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(st, "expiring")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(st, "expired")->valueint, 1);
    core = find(cJSON_GetObjectItem(r, "by_product"), "product", "core");
    assert_int_equal(cJSON_GetObjectItem(core, "deployed")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(core, "purchased")->valueint,
                     5); /* expired L5 not counted */
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(r, "expiring"), "within_30_days")->valueint, 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "trials_ending")), 1);
    assert_int_equal(cJSON_GetObjectItem(
                         cJSON_GetArrayItem(
                             cJSON_GetObjectItem(cJSON_GetObjectItem(r, "seats"), "by_package"), 0),
                         "consumed")
                         ->valueint,
                     1);
    cJSON_Delete(r);

    r = ask("license_history", "{" CALLER ",\"key\":\"AAAA-0001\",\"limit\":1}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "entries")), 1);
    assert_string_equal(cJSON_GetObjectItem(r, "next_cursor")->valuestring, "1");
    cJSON_Delete(r);
    r = ask("license_history", "{" CALLER ",\"key\":\"AAAA-0001\",\"cursor\":\"1\"}");
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "entries"), 0), "change")
            ->valuestring,
        "license_activated");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "next_cursor")));
    cJSON_Delete(r);
    /* The expired license's history is there too. */
    r = ask("license_history", "{" CALLER ",\"key\":\"AAAA-0005\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "entries")), 1);
    cJSON_Delete(r);

    r = ask("consumption", "{" CALLER "}");
    {
        cJSON *c7 = find(cJSON_GetObjectItem(r, "customers"), "customer", "cust-7");
        cJSON *dev = cJSON_GetObjectItem(c7, "devices");
        cJSON *users = cJSON_GetObjectItem(c7, "users");

        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "customers")), 2);
        assert_int_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c7, "subscriptions"), 0),
                                "licensed_users")
                ->valueint,
            1);
        assert_int_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(dev, "business"), "installed")->valueint, 1);
        assert_int_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(dev, "business"), "uninstalled")->valueint, 1);
        assert_int_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(dev, "personal"), "installed")->valueint, 1);
        assert_int_equal(cJSON_GetObjectItem(dev, "unassociated")->valueint, 1);
        assert_int_equal(cJSON_GetObjectItem(users, "released")->valueint, 1);
        assert_int_equal(cJSON_GetObjectItem(users, "retaken")->valueint, 1);
        assert_int_equal(cJSON_GetObjectItem(users, "released_now")->valueint, 0);
    }
    cJSON_Delete(r);

    r = ask("billable_active", "{" CALLER ",\"month\":\"2026-11\"}");
    {
        cJSON *c7 = find(cJSON_GetObjectItem(r, "customers"), "customer", "cust-7");
        cJSON *u = cJSON_GetArrayItem(cJSON_GetObjectItem(c7, "users"), 0);

        assert_string_equal(cJSON_GetObjectItem(u, "user")->valuestring, "u-1");
        assert_string_equal(cJSON_GetObjectItem(u, "last_signal")->valuestring,
                            "2026-11-08T08:00:00.000Z");
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(u, "seats"), 0), "group")
                ->valuestring,
            "g-1");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c7, "unassociated_devices")), 1);
        assert_int_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c7, "subscriptions"), 0),
                                "active_users")
                ->valueint,
            1);
    }
    cJSON_Delete(r);
    /* October: only d-1's one signal. */
    r = ask("billable_active", "{" CALLER ",\"month\":\"2026-10\"}");
    {
        cJSON *c7 = find(cJSON_GetObjectItem(r, "customers"), "customer", "cust-7");

        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c7, "users")), 1);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c7, "unassociated_devices")), 0);
    }
    cJSON_Delete(r);
}

/* Fetches an export's chunks into `path`; returns its bytes. */
static long fetch_export(const char *export_body, const char *path)
{
    cJSON *r = ask("export", export_body);
    cJSON *id = cJSON_GetObjectItem(r, "export_id");
    int chunks;
    FILE *f = fopen(path, "wb");
    long total = 0;

    if (id == NULL)
        fail_msg("export: %s", cJSON_PrintUnformatted(r));
    chunks = cJSON_GetObjectItem(r, "chunks")->valueint;
    for (int i = 0; i < chunks; i++) {
        char body[512];
        char cmd[1024];
        cJSON *c;
        FILE *p;

        snprintf(body, sizeof(body), "{" CALLER ",\"export_id\":\"%s\",\"index\":%d}",
                 id->valuestring, i);
        c = ask("export_chunk", body);
        assert_non_null(cJSON_GetObjectItem(c, "data"));
        total += cJSON_GetObjectItem(c, "bytes")->valueint;
        snprintf(cmd, sizeof(cmd), "base64 -d >> %s", path);
        p = popen(cmd, "w");
        fputs(cJSON_GetObjectItem(c, "data")->valuestring, p);
        pclose(p);
        cJSON_Delete(c);
    }
    fclose(f);
    assert_int_equal(total, cJSON_GetObjectItem(r, "bytes")->valueint);
    cJSON_Delete(r);
    return total;
}

static void test_exports(void **state)
{
    char path[512];
    char cmd[1400];
    char *text;
    FILE *f;
    long n;

    (void)state;
    snprintf(path, sizeof(path), "%s/adr.csv", fx->data);
    fetch_export("{" CALLER
                 ",\"report\":\"active_deployments\",\"format\":\"csv\",\"sheet\":\"keys\"}",
                 path);
    f = fopen(path, "rb");
    text = calloc(1, 65536);
    n = (long)fread(text, 1, 65535, f);
    fclose(f);
    assert_true(n > 0);
    assert_non_null(strstr(text, "Organization,Org ID,Product,License Key,Status"));
    assert_non_null(strstr(text, "AAAA-0001"));
    assert_non_null(strstr(text, "\"PO, \"\"1\"\"\"")); /* quoted */
    assert_null(strstr(text, "AAAA-0003"));             /* hidden product */
    assert_null(strstr(text, "AAAA-0004"));             /* another branch */
    free(text);

    snprintf(path, sizeof(path), "%s/adr.xlsx", fx->data);
    fetch_export("{" CALLER ",\"report\":\"active_deployments\",\"format\":\"xlsx\"}", path);
    snprintf(
        cmd, sizeof(cmd),
        "node %s/tests/contract/xlsx_check.mjs %s "
        "'{\"sheets\":[\"License Keys\",\"Active Deployments\"],"
        "\"cells\":[[\"License Keys\",\"D1\",\"License Key\"],[\"License Keys\",\"I2\",1],"
        "[\"Active Deployments\",\"E2\",\"inst-1\"],[\"License Keys\",\"H2\",\"date:2027-10-31\"]],"
        "\"rows\":{\"License Keys\":3,\"Active Deployments\":2}}'",
        getenv("LB_SOURCE_DIR"), path);
    assert_int_equal(system(cmd), 0);

    snprintf(path, sizeof(path), "%s/cons.xlsx", fx->data);
    fetch_export("{" CALLER ",\"report\":\"consumption\",\"format\":\"xlsx\"}", path);
    snprintf(
        cmd, sizeof(cmd),
        "node %s/tests/contract/xlsx_check.mjs %s "
        "'{\"sheets\":[\"Consumption\"],\"cells\":[[\"Consumption\",\"A2\",\"cust-7\"],"
        "[\"Consumption\",\"H2\",1],[\"Consumption\",\"L2\",1]],\"rows\":{\"Consumption\":3}}'",
        getenv("LB_SOURCE_DIR"), path);
    assert_int_equal(system(cmd), 0);

    /* The operator's way: lbctl export fetches the chunks and writes the same workbook. */
    snprintf(path, sizeof(path), "%s/lbctl.xlsx", fx->data);
    snprintf(cmd, sizeof(cmd),
             "%s/lbctl --url %s export --out %s '{" CALLER
             ",\"report\":\"active_deployments\",\"format\":\"xlsx\"}' >/dev/null && "
             "node %s/tests/contract/xlsx_check.mjs %s "
             "'{\"sheets\":[\"License Keys\",\"Active Deployments\"],"
             "\"rows\":{\"License Keys\":3,\"Active Deployments\":2}}'",
             getenv("LB_BINARY_DIR"), fx->ns.url, path, getenv("LB_SOURCE_DIR"), path);
    assert_int_equal(system(cmd), 0);
    /* ...and refuses a request outside the contract before it leaves (exit 3). */
    snprintf(cmd, sizeof(cmd),
             "%s/lbctl --url %s export --out %s '{" CALLER
             ",\"report\":\"everything\",\"format\":\"xlsx\"}' 2>/dev/null",
             getenv("LB_BINARY_DIR"), fx->ns.url, path);
    assert_int_equal(WEXITSTATUS(system(cmd)), 3);
}

static void test_lag_and_dead_letters(void **state)
{
    cJSON *r;
    cJSON *d;
    double before = harness_metric(fx->svc.http_port, "lb_events_dead_lettered_total");

    (void)state;
    r = ask("status", "{" CALLER "}");
    d = find(cJSON_GetObjectItem(r, "domains"), "domain", "licensing");
    assert_non_null(d);
    assert_true(cJSON_GetObjectItem(d, "events")->valueint >= 8);
    assert_true(cJSON_GetObjectItem(d, "lag_ms")->valuedouble >= 0);
    cJSON_Delete(r);
    /* ... and on /metrics (absent would read as -1). */
    assert_true(harness_metric(fx->svc.http_port, "lb_reporting_lag_seconds") >= 0);
    /* Malformed, unknown and wrong-tenant events are dead-lettered with the reason. */
    publish("licensing", TENANT, "license_issued", NOW, "{\"license\":{\"id\":\"L9\"}}");
    publish("licensing", TENANT, "license_exploded", NOW, "{}");
    publish("subscriptions", TENANT, "seat_assigned", NOW, "{\"subscription\":\"s\"}");
    publish("agents", TENANT, "device_installed", NOW,
            "{\"device\":\"d-9\",\"org\":\"cust-7\",\"kind\":\"tablet\",\"hostname\":\"x\"}");
    settle();
    harness_wait_metric(fx->svc.http_port, "lb_events_dead_lettered_total", before + 4);
    /* Counted at the commit; in the stream once the outbox's publish arrives. */
    harness_wait_stream(fx->js, "LB_DLQ", "lb.dlq.reporting", (size_t)before + 4);
    {
        natsMsg **msgs;
        size_t n = harness_stream_messages(fx->js, "LB_DLQ", "lb.dlq.reporting", &msgs);
        bool key = false, unsupported = false, kind = false;

        for (size_t i = 0; i < n; i++) {
            const char *data = natsMsg_GetData(msgs[i]);

            key = key || strstr(data, "license.key: missing") != NULL;
            unsupported = unsupported || strstr(data, "license_exploded") != NULL;
            kind = kind || strstr(data, "tablet") != NULL;
        }
        harness_free_messages(msgs, n);
        assert_true(key);
        assert_true(unsupported);
        assert_true(kind);
    }
}

static void move(const char *id, const char *parent)
{
    char data[128];

    snprintf(data, sizeof(data), "{\"org\":\"%s\",\"parent\":\"%s\"}", id, parent);
    publish("directory", TENANT, "org_moved", "2026-11-03T00:00:00.000Z", data);
    settle();
}

/* The keys (on-premises) listed under `org` in a customer_orgs reply, comma-separated. */
static const char *keys_under(cJSON *reply, const char *org_id)
{
    static char out[256];
    cJSON *o = find(cJSON_GetObjectItem(reply, "orgs"), "org", org_id);
    cJSON *lic;

    out[0] = '\0';
    if (o == NULL)
        return "(not listed)";
    cJSON_ArrayForEach(lic, cJSON_GetObjectItem(o, "on_premises"))
    {
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", out[0] ? "," : "",
                 cJSON_GetObjectItem(lic, "key")->valuestring);
    }
    return out;
}

static int count_of(cJSON *overview, const char *status)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(overview, "by_status"), status)->valueint;
}

/*
 * directory.org_moved through the subjects: which org a license is shown
 * under follows the tree both ways (a key on an org and one of its sub-orgs
 * is shown only under the sub-org), and so do the overview's counts of every
 * scope, subscriptions and trials included; moving back gives back the same
 * bytes.
 */
static void test_org_moves(void **state)
{
    static const char *const msp3 = "{" CALLER "}";
    static const char *const dist =
        "{\"tenant\":\"dist-1\",\"caller\":{\"org\":\"dist-1\",\"user\":\"d\"}}";
    char *orgs_before, *overview_before, *text;
    cJSON *r;

    (void)state;
    /* AAAA-0006 on two unrelated orgs: shown under both. */
    license("license_issued", "L6", "AAAA-0006", "core", "on_premises", "2027-06-30",
            "[\"cust-8\",\"sub-7a\"]", 1, 0, NULL);
    settle();
    orgs_before = ask_raw("customer_orgs", msp3);
    overview_before = ask_raw("overview", msp3);
    r = cJSON_Parse(orgs_before);
    assert_string_equal(keys_under(r, "cust-7"), "");
    assert_string_equal(keys_under(r, "sub-7a"), "AAAA-0006,AAAA-0001"); /* by expiration */
    assert_string_equal(keys_under(r, "cust-8"), "AAAA-0006");
    cJSON_Delete(r);

    /* sub-7a under cust-8: cust-7 and sub-7a are unrelated now, cust-8 and sub-7a related. */
    move("sub-7a", "cust-8");
    r = ask("customer_orgs", msp3);
    assert_string_equal(keys_under(r, "cust-7"), "AAAA-0001");
    assert_string_equal(keys_under(r, "cust-8"), "");
    assert_string_equal(keys_under(r, "sub-7a"), "AAAA-0006,AAAA-0001"); /* by expiration */
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "orgs"), 2), "org")
            ->valuestring,
        "sub-7a"); /* in tree order: after cust-8 now */
    cJSON_Delete(r);
    r = ask("overview", "{" CALLER ",\"org\":\"cust-8\"}");
    assert_int_equal(count_of(r, "active"), 2); /* L1 and L6 through sub-7a */
    assert_int_equal(count_of(r, "expired"), 1);
    cJSON_Delete(r);
    r = ask("overview", "{" CALLER ",\"org\":\"cust-7\"}");
    assert_int_equal(count_of(r, "active"), 1); /* L1, under cust-7 itself now */
    assert_int_equal(count_of(r, "expiring"), 1);
    cJSON_Delete(r);
    r = ask("overview", msp3);
    assert_int_equal(count_of(r, "active"), 2); /* L1 shown twice in the scope: once */
    cJSON_Delete(r);

    /* cust-7 to the other MSP: its subscription, seats and trial go with it. */
    move("cust-7", "msp-4");
    r = ask("overview", msp3);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "seats"), "by_package")), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "trials_ending")), 0);
    assert_int_equal(count_of(r, "active"), 2); /* L1 still, through sub-7a */
    cJSON_Delete(r);
    r = ask("overview", "{\"tenant\":\"dist-1\",\"caller\":{\"org\":\"msp-4\",\"user\":"
                        "\"m\"}}");
    assert_int_equal(cJSON_GetObjectItem(
                         cJSON_GetArrayItem(
                             cJSON_GetObjectItem(cJSON_GetObjectItem(r, "seats"), "by_package"), 0),
                         "consumed")
                         ->valueint,
                     1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "trials_ending")), 1);
    assert_int_equal(count_of(r, "active"), 2); /* L4 of cust-9, L1 under cust-7 */
    cJSON_Delete(r);
    r = ask("overview", dist);
    assert_int_equal(count_of(r, "active"), 3); /* L1, L4, L6: each once */
    cJSON_Delete(r);

    /* Back where they were: the same answers, byte for byte. */
    move("cust-7", "msp-3");
    move("sub-7a", "cust-7");
    text = ask_raw("customer_orgs", msp3);
    assert_string_equal(text, orgs_before);
    free(text);
    text = ask_raw("overview", msp3);
    assert_string_equal(text, overview_before);
    free(text);
    free(orgs_before);
    free(overview_before);
}

/* Scans counted and check-ins update the license's usage now, without a history entry. */
static void test_scans_and_check_ins(void **state)
{
    cJSON *r, *c8, *lic;

    (void)state;
    license("license_issued", "L7", "AAAA-0007", "cloud", "cloud", "2027-10-31", "[\"cust-8\"]", 1,
            0, NULL);
    /* The same version (scans are no change of terms), 700 scans used (the helper's 7 x 100). */
    license("license_scans_counted", "L7", "AAAA-0007", "cloud", "cloud", "2027-10-31",
            "[\"cust-8\"]", 1, 7, NULL);
    license("license_checked_in", "L1", "AAAA-0001", "core", "on_premises", "2027-10-31",
            "[\"cust-7\",\"sub-7a\"]", 2, 1,
            "{\"instance\":\"inst-1\",\"host\":\"h1.example\",\"product_version\":\"5.2\","
            "\"who\":\"ana\",\"activated_at\":\"2026-11-02T00:00:00.000Z\","
            "\"last_seen\":\"2026-11-02T00:00:00.000Z\"}");
    settle();
    r = ask("customer_orgs", "{" CALLER "}");
    c8 = find(cJSON_GetObjectItem(r, "orgs"), "org", "cust-8");
    lic = find(cJSON_GetObjectItem(c8, "cloud"), "key", "AAAA-0007");
    assert_non_null(lic);
    assert_int_equal(cJSON_GetObjectItem(lic, "scans_used")->valueint, 700);
    cJSON_Delete(r);
    r = ask("license_history", "{" CALLER ",\"key\":\"AAAA-0007\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "entries")), 1); /* issued */
    cJSON_Delete(r);
    r = ask("license_history", "{" CALLER ",\"key\":\"AAAA-0001\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "entries")), 2); /* no check-in */
    cJSON_Delete(r);
}

/* Stop, start on an empty data dir, replay the streams: the same bytes. */
static void test_rebuild(void **state)
{
    static const char *const queries[][2] = {
        {"customer_orgs", "{" CALLER ",\"include_expired\":true}"},
        {"customer_orgs", "{\"tenant\":\"dist-1\",\"caller\":{\"org\":\"dist-1\",\"user\":\"d\"},"
                          "\"sort\":\"key\",\"order\":\"desc\"}"},
        {"overview", "{" CALLER "}"},
        {"license_history", "{" CALLER ",\"key\":\"AAAA-0001\"}"},
        {"consumption", "{" CALLER "}"},
        {"billable_active", "{" CALLER ",\"month\":\"2026-11\"}"},
    };
    size_t n = sizeof(queries) / sizeof(queries[0]);
    char *before[8];
    char fresh[256];
    double applied;

    (void)state;
    for (size_t i = 0; i < n; i++)
        before[i] = ask_raw(queries[i][0], queries[i][1]);
    applied = harness_metric(fx->svc.http_port, "lb_events_applied_total");
    assert_int_equal(harness_service_stop(&fx->svc, SIGTERM, HARNESS_WAIT_MS), 0);
    harness_tmpdir(fresh, "reporting-rebuild");
    fx->svc.http_port = 0;
    harness_service_start(&fx->svc, "reporting", &fx->ns, fresh, env);
    harness_wait_metric(fx->svc.http_port, "lb_events_applied_total", applied);
    harness_wait_consumers_idle(fx->js, "reporting");
    for (size_t i = 0; i < n; i++) {
        char *after = ask_raw(queries[i][0], queries[i][1]);

        if (strcmp(before[i], after) != 0)
            fail_msg("%s differs after rebuild:\n%s\n%s", queries[i][0], before[i], after);
        free(after);
        free(before[i]);
    }
    harness_rmdir(fresh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_customer_orgs), cmocka_unit_test(test_authorization),
        cmocka_unit_test(test_bad_input),     cmocka_unit_test(test_overview_history_consumption),
        cmocka_unit_test(test_exports),       cmocka_unit_test(test_lag_and_dead_letters),
        cmocka_unit_test(test_org_moves),     cmocka_unit_test(test_scans_and_check_ins),
        cmocka_unit_test(test_rebuild),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
