/*
 * test_subscriptions_bad_input.c - the subscriptions service refuses bad
 * input precisely and applies nothing of it: malformed, oversized, unknown
 * and out-of-range request members; callers outside their subtree (another
 * MSP, a customer admin doing an MSP's job, an unknown org, another tenant)
 * on every endpoint; duplicates; and bad, wrong-tenant, unknown, duplicate
 * and out-of-order events, dead-lettered with their reason or recorded as
 * documented. Replies and events are validated against schemas/.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"
#include "harness.h"
#include "ids.h"

#define SUBS_EVENT_ID_PREFIX "01JSUBSB"
#include "subscriptions_fixture.h"

/* ---- tests ------------------------------------------------------------------ */

#define OTHER "\"caller\":{\"org\":\"msp-4\",\"user\":\"eve@msp4.example\"}"

/* A request whose body is sent as is (not necessarily JSON); the reply's error code. */
static void raw_error(struct fixture *f, const char *endpoint, const char *body, size_t len,
                      const char *code, const char *part)
{
    char subject[128];
    natsMsg *reply;

    snprintf(subject, sizeof(subject), "lb.api.subscriptions.%s", endpoint);
    reply = harness_request(f->nc, subject, body, len);
    {
        cJSON *json = harness_reply_json(reply);
        char *text = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));

        record(f, "error.json", text);
        free(text);
        assert_error(json, code, part);
    }
    natsMsg_Destroy(reply);
}

static void make_sub1(struct fixture *f)
{
    cJSON *r = req(f, "subscription_create",
                   "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":"
                   "\"core_plus\",\"seat_basis\":\"users\",\"quantity\":10,"
                   "\"subscription\":\"sub-1\"}");

    assert_ok(r);
    cJSON_Delete(r);
    apply(f, "directory", "group_created", "{\"group\":\"g-a\",\"org\":\"cust-7\",\"name\":\"A\"}");
    apply(f, "directory", "group_created", "{\"group\":\"g-8\",\"org\":\"cust-8\",\"name\":\"8\"}");
}

static void test_malformed_requests(void **state)
{
    struct fixture *f = *state;
    char *big;
    cJSON *r;

#define CREATE(extra)                                                                              \
    req(f, "subscription_create",                                                                  \
        "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core\","         \
        "\"seat_basis\":\"users\"" extra "}")
    make_sub1(f);
    raw_error(f, "subscription_get", "{not json", 9, "invalid_request", "");
    raw_error(f, "subscription_get", "[1,2]", 5, "invalid_request", "JSON object");
    raw_error(
        f, "subscription_get",
        "{\"tenant\":\"" TENANT "\",\"tenant\":\"x\"," ADMIN ",\"subscription\":\"sub-1\"}",
        strlen("{\"tenant\":\"" TENANT "\",\"tenant\":\"x\"," ADMIN ",\"subscription\":\"sub-1\"}"),
        "invalid_request", "tenant");
    big = malloc(65537);
    memset(big, ' ', 65537);
    memcpy(big, "{}", 2);
    raw_error(f, "subscription_get", big, 65537, "too_large", "65536");
    free(big);
    assert_error(CREATE(",\"quantity\":5,\"colour\":\"red\""), "invalid_request", "colour");
    assert_error(CREATE(""), "invalid_request", "quantity");
    assert_error(CREATE(",\"quantity\":0"), "invalid_request", "quantity");
    assert_error(CREATE(",\"quantity\":1000001"), "invalid_request", "quantity");
    assert_error(CREATE(",\"quantity\":\"5\""), "invalid_request", "quantity");
    assert_error(CREATE(",\"quantity\":2.5"), "invalid_request", "quantity");
    assert_error(CREATE(",\"quantity\":5,\"trial_end\":\"2026-11-21T10:00:00Z\""),
                 "invalid_request", "not in the future");
    assert_error(CREATE(",\"quantity\":5,\"trial_end\":\"tomorrow\""), "invalid_request",
                 "RFC 3339");
    assert_error(CREATE(",\"quantity\":5,\"trial_end\":\"2028-11-21T10:00:00Z\""),
                 "invalid_request", "at most 365 days");
    assert_error(CREATE(",\"quantity\":5,\"subscription\":\"bad id\""), "invalid_request",
                 "subscription");
    assert_error(req(f, "subscription_create",
                     "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":"
                     "\"core\",\"seat_basis\":\"seats\",\"quantity\":5}"),
                 "invalid_request", "seat_basis");
    assert_error(req(f, "subscription_create",
                     "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":"
                     "\"gold\",\"seat_basis\":\"users\",\"quantity\":5}"),
                 "not_found", "no package \"gold\"");
    r = CREATE(",\"quantity\":1000000"); /* at the limit */
    assert_ok(r);
    cJSON_Delete(r);
    assert_error(req(f, "subscription_set_quantity",
                     "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-1\","
                     "\"quantity\":1000001}"),
                 "invalid_request", "outside [1, 1000000]");
    assert_error(req(f, "entitled",
                     "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"user\":\"u1\","
                     "\"device\":\"d1\",\"feature\":\"web_protection\"}"),
                 "invalid_request", "not both");
    assert_error(req(f, "entitled",
                     "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\","
                     "\"feature\":\"Web\"}"),
                 "invalid_request", "feature");
    assert_error(
        req(f, "subscription_get", "{\"tenant\":\"" TENANT "\",\"subscription\":\"sub-1\"}"),
        "invalid_request", "caller");
    /* Nothing half-applied: sub-1 is as it was, one event. */
    r = req(f, "subscription_get",
            "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\"}");
    assert_int_equal(num(r, "version"), 1);
    assert_int_equal(num(r, "quantity"), 10);
    cJSON_Delete(r);
}

static void test_authorization(void **state)
{
    struct fixture *f = *state;
    static const char *const sub_endpoints[] = {
        "subscription_get",        "subscription_convert", "subscription_suspend",
        "subscription_reactivate", "subscription_cancel",
    };
    static const char *const customer_endpoints[] = {
        "customer_get",        "customer_create",   "customer_inactivate",
        "customer_reactivate", "subscription_list",
    };
    cJSON *r;
    cJSON *list;

    make_sub1(f);
    /* Another MSP: forbidden everywhere, the same answer for an existing and a missing id. */
    for (size_t i = 0; i < sizeof(sub_endpoints) / sizeof(sub_endpoints[0]); i++) {
        assert_error(req(f, sub_endpoints[i],
                         "{\"tenant\":\"" TENANT "\"," OTHER ",\"subscription\":\"sub-1\"}"),
                     "forbidden", "subscription sub-1 is not within the subtree of msp-4");
        assert_error(req(f, sub_endpoints[i],
                         "{\"tenant\":\"" TENANT "\"," OTHER ",\"subscription\":\"sub-404\"}"),
                     "forbidden", "subscription sub-404 is not within the subtree of msp-4");
    }
    assert_error(req(f, "subscription_set_quantity",
                     "{\"tenant\":\"" TENANT "\"," OTHER ",\"subscription\":\"sub-1\","
                     "\"quantity\":3}"),
                 "forbidden", "not within the subtree");
    assert_error(req(f, "group_attach",
                     "{\"tenant\":\"" TENANT "\"," OTHER ",\"subscription\":\"sub-1\","
                     "\"group\":\"g-a\"}"),
                 "forbidden", "not within the subtree");
    assert_error(req(f, "group_detach",
                     "{\"tenant\":\"" TENANT "\"," OTHER ",\"subscription\":\"sub-1\","
                     "\"group\":\"g-a\"}"),
                 "forbidden", "not within the subtree");
    for (size_t i = 0; i < sizeof(customer_endpoints) / sizeof(customer_endpoints[0]); i++)
        assert_error(req(f, customer_endpoints[i],
                         "{\"tenant\":\"" TENANT "\"," OTHER ",\"customer\":\"cust-7\"}"),
                     "forbidden", "outside the subtree of \"msp-4\"");
    assert_error(req(f, "subscription_create",
                     "{\"tenant\":\"" TENANT "\"," OTHER ",\"customer\":\"cust-7\",\"package\":"
                     "\"core\",\"seat_basis\":\"users\",\"quantity\":5}"),
                 "forbidden", "outside the subtree");
    assert_error(req(f, "entitled",
                     "{\"tenant\":\"" TENANT "\"," OTHER ",\"customer\":\"cust-7\","
                     "\"feature\":\"web_protection\"}"),
                 "forbidden", "outside the subtree");
    /* A customer admin reads and attaches, but does not do the MSP's commands. */
    assert_error(req(f, "subscription_cancel",
                     "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\"}"),
                 "forbidden", "only an org above customer cust-7");
    assert_error(req(f, "subscription_set_quantity",
                     "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\","
                     "\"quantity\":3}"),
                 "forbidden", "only an org above");
    assert_error(req(f, "customer_inactivate",
                     "{\"tenant\":\"" TENANT "\"," ADMIN ",\"customer\":\"cust-7\"}"),
                 "forbidden", "only an org above");
    assert_error(req(f, "subscription_create",
                     "{\"tenant\":\"" TENANT "\"," ADMIN ",\"customer\":\"cust-7\",\"package\":"
                     "\"core\",\"seat_basis\":\"users\",\"quantity\":5}"),
                 "forbidden", "only an org above");
    /* A sub-org admin is below the customer: not even reads. */
    assert_error(req(f, "subscription_get",
                     "{\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"site-7\",\"user\":\"x\"},"
                     "\"subscription\":\"sub-1\"}"),
                 "forbidden", "not within the subtree of site-7");
    /* Unknown caller org, other tenant. */
    assert_error(req(f, "customer_get",
                     "{\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"ghost\",\"user\":\"x\"},"
                     "\"customer\":\"cust-7\"}"),
                 "forbidden", "caller org \"ghost\" is not an org of tenant");
    assert_error(req(f, "customer_get", "{\"tenant\":\"dist-2\"," MSP ",\"customer\":\"cust-7\"}"),
                 "forbidden", "not an org of tenant \"dist-2\"");
    /* A group of another customer, and an unknown group. */
    assert_error(req(f, "group_attach",
                     "{\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"dist-1\",\"user\":\"d\"},"
                     "\"subscription\":\"sub-1\",\"group\":\"g-8\"}"),
                 "conflict", "outside customer cust-7");
    assert_error(req(f, "group_attach",
                     "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\","
                     "\"group\":\"g-8\"}"),
                 "forbidden", "group g-8 is not a group within the subtree of cust-7");
    assert_error(req(f, "group_attach",
                     "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\","
                     "\"group\":\"g-404\"}"),
                 "forbidden", "group g-404 is not a group within the subtree of cust-7");
    /* Nothing was applied: one subscription_changed, version 1. */
    list = events(f, "subscription_changed");
    assert_int_equal(cJSON_GetArraySize(list), 1);
    cJSON_Delete(list);
    r = req(f, "subscription_get",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-1\"}");
    assert_int_equal(num(r, "version"), 1);
    assert_string_equal(str(r, "status"), "active");
    cJSON_Delete(r);
}

static void test_duplicates_and_catalog(void **state)
{
    struct fixture *f = *state;
    char body[2048];
    size_t len;
    cJSON *r;
    cJSON *list;

    make_sub1(f);
    assert_error(
        req(f, "customer_create", "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\"}"),
        "conflict", "registered already");
    assert_error(req(f, "customer_create",
                     "{\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"dist-1\",\"user\":\"d\"},"
                     "\"customer\":\"msp-4\"}"),
                 "conflict", "org msp-4 is a msp, not a customer");
    assert_error(req(f, "subscription_create",
                     "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":"
                     "\"core\",\"seat_basis\":\"users\",\"quantity\":5,\"subscription\":"
                     "\"sub-1\"}"),
                 "conflict", "subscription sub-1 exists already");
    r = req(f, "group_attach",
            "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\",\"group\":\"g-a\"}");
    assert_ok(r);
    cJSON_Delete(r);
    assert_error(req(f, "group_attach",
                     "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\","
                     "\"group\":\"g-a\"}"),
                 "conflict", "attached to subscription sub-1 already");
    r = req(f, "group_detach",
            "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\",\"group\":\"g-a\"}");
    assert_ok(r);
    cJSON_Delete(r);
    assert_error(req(f, "group_detach",
                     "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\","
                     "\"group\":\"g-a\"}"),
                 "not_found", "group g-a is not attached to subscription sub-1");

    /* The catalog. */
    assert_error(req(f, "package_add",
                     "{\"package\":\"core\",\"name\":\"Core\",\"features\":[\"web_protection\"]}"),
                 "conflict", "package core exists already");
    assert_error(
        req(f, "package_add", "{\"package\":\"max\",\"name\":\"Max\",\"features\":[\"a\",\"a\"]}"),
        "invalid_request", "\"a\" is listed twice");
    assert_error(req(f, "package_add", "{\"package\":\"max\",\"name\":\"Max\",\"features\":[]}"),
                 "invalid_request", "must not be empty");
    len = (size_t)snprintf(body, sizeof(body),
                           "{\"package\":\"max\",\"name\":\"Max\",\"features\":[");
    for (int i = 0; i < 65; i++)
        len += (size_t)snprintf(body + len, sizeof(body) - len, "%s\"f%d\"", i ? "," : "", i);
    snprintf(body + len, sizeof(body) - len, "]}");
    assert_error(req(f, "package_add", "%s", body), "too_large", "more than 64");
    assert_error(req(f, "package_update", "{\"package\":\"core\"}"), "invalid_request",
                 "nothing to update");
    assert_error(req(f, "package_update", "{\"package\":\"gold\",\"name\":\"Gold\"}"), "not_found",
                 "no package \"gold\"");
    assert_error(req(f, "package_list", "{\"x\":1}"), "invalid_request", "x");
    r = req(
        f, "package_add",
        "{\"package\":\"max\",\"name\":\"Max\",\"features\":[\"web_protection\",\"teleport\"]}");
    assert_ok(r);
    cJSON_Delete(r);
    r = req(f, "package_update",
            "{\"package\":\"core\",\"features\":[\"web_protection\",\"dns\"]}");
    assert_int_equal(num(r, "version"), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "features")), 2);
    cJSON_Delete(r);
    r = req(f, "package_list", "{}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "packages")), 3);
    cJSON_Delete(r);
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", "lb.evt.subscriptions._sys.package_changed", 2);
    /* The new feature is known at once: sub-1 (core_plus) does not have it. */
    r = req(f, "entitled",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"feature\":\"teleport\"}");
    assert_string_equal(str(r, "reason"), "no_subscription");
    cJSON_Delete(r);
    list = events(f, "seat_assigned");
    assert_int_equal(cJSON_GetArraySize(list), 0); /* g-a had no members */
    cJSON_Delete(list);
}

/* Waits for the dead letter whose reason mentions `needle`, with `code` (harness). */
static void assert_dead_letter(struct fixture *f, const char *code, const char *needle)
{
    cJSON_Delete(harness_wait_dead_letter(f->js, "subscriptions", code, needle));
}

/* Publishes an event expected to be refused (type from the subject; `tenant` attribute). */
static void publish(struct fixture *f, const char *domain, const char *name, const char *tenant,
                    const char *data, const char *id)
{
    char made[32];
    char subject[128];
    char type[128];
    char *event;

    if (id == NULL) {
        snprintf(made, sizeof(made), "01JSUBSB%018d", ++f->seq);
        id = made;
    }
    snprintf(subject, sizeof(subject), "lb.evt.%s." TENANT ".%s", domain, name);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    event = harness_event(id, type, tenant, T0, data);
    harness_js_publish(f->js, subject, NULL, event, strlen(event));
    free(event);
}

static void test_bad_events(void **state)
{
    struct fixture *f = *state;
    cJSON *r;

    make_sub1(f);
    publish(f, "directory", "group_member_added", TENANT, "{\"group\":\"g-a\"}", NULL);
    publish(f, "directory", "group_member_added", TENANT,
            "{\"group\":\"g-a\",\"user\":\"u1\",\"colour\":\"red\"}", NULL);
    publish(f, "directory", "group_member_added", TENANT, "{\"group\":\"g-a\",\"user\":\"u 1\"}",
            NULL);
    publish(f, "directory", "group_member_added", "dist-2", "{\"group\":\"g-a\",\"user\":\"u1\"}",
            NULL);
    publish(f, "directory", "group_created", TENANT,
            "{\"group\":\"g-x\",\"org\":\"nowhere\",\"name\":\"X\"}", NULL);
    publish(f, "directory", "group_created", TENANT,
            "{\"group\":\"g-a\",\"org\":\"cust-8\",\"name\":\"A\"}", NULL);
    publish(f, "directory", "group_renamed", TENANT, "{\"group\":\"g-a\",\"name\":\"B\"}", NULL);
    publish(f, "agents", "device_installed", TENANT,
            "{\"device\":\"d-1\",\"org\":\"cust-7\",\"kind\":\"tablet\",\"hostname\":\"h\"}", NULL);
    publish(f, "agents", "device_uninstalled", TENANT, "{}", NULL);
    harness_wait_metric(f->svc.http_port, "lb_events_dead_lettered_total", 9);
    assert_dead_letter(f, "invalid_request", "user:");
    assert_dead_letter(f, "invalid_request", "colour");
    assert_dead_letter(f, "invalid_request", "\"u 1\" is not a valid id");
    assert_dead_letter(f, "forbidden", "tenant");
    assert_dead_letter(f, "conflict", "org \"nowhere\" is not a live org");
    assert_dead_letter(f, "conflict", "group g-a exists already, in org cust-7");
    assert_dead_letter(f, "unsupported", "licensebus.directory.group_renamed.v1");
    assert_dead_letter(f, "invalid_request", "kind");
    assert_dead_letter(f, "invalid_request", "device:");

    /* Ignored types are acked and counted, not dead-lettered (D18). */
    publish(f, "directory", "user_created", TENANT,
            "{\"user\":\"u1\",\"org\":\"cust-7\",\"email\":\"a@b.c\",\"display_name\":\"A\"}",
            NULL);
    publish(f, "agents", "device_associated", TENANT, "{\"device\":\"d-1\",\"user\":\"u1\"}", NULL);
    harness_wait_metric(f->svc.http_port, "lb_events_ignored_total", 2);

    /* A membership event repeated under the same id (no Nats-Msg-Id) is applied once. */
    publish(f, "directory", "group_member_added", TENANT, "{\"group\":\"g-a\",\"user\":\"u1\"}",
            "01JSUBSDUP0000000000000001");
    publish(f, "directory", "group_member_added", TENANT, "{\"group\":\"g-a\",\"user\":\"u1\"}",
            "01JSUBSDUP0000000000000001");
    harness_wait_metric(f->svc.http_port, "lb_events_duplicate_total", 1);
    /* The same id with other bytes is a conflict. */
    publish(f, "directory", "group_member_added", TENANT, "{\"group\":\"g-a\",\"user\":\"u2\"}",
            "01JSUBSDUP0000000000000001");
    harness_wait_metric(f->svc.http_port, "lb_events_dead_lettered_total", 10);
    assert_dead_letter(f, "conflict", "different payload");

    /* Out of order: deleting a group never seen leaves a tombstone; a later add is refused. */
    f->applied = harness_metric(f->svc.http_port, "lb_events_applied_total");
    apply(f, "directory", "group_deleted", "{\"group\":\"g-ghost\"}");
    publish(f, "directory", "group_member_added", TENANT, "{\"group\":\"g-ghost\",\"user\":\"u1\"}",
            NULL);
    harness_wait_metric(f->svc.http_port, "lb_events_dead_lettered_total", 11);
    assert_dead_letter(f, "conflict", "group g-ghost was deleted");

    /* Nothing of it was applied: u1 holds no seat, u2 is no member. */
    r = req(f, "group_attach",
            "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\",\"group\":\"g-a\"}");
    assert_int_equal(num(r, "seats_assigned"), 1); /* u1, from the one applied add */
    cJSON_Delete(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_malformed_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_authorization, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_and_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_events, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
