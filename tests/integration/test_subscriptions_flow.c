/*
 * test_subscriptions_flow.c - the subscriptions service on a real
 * nats-server, driven only through its subjects: customers from directory
 * events, the subscription lifecycle, seats following group membership
 * (out-of-order membership included), entitlements, inactivation refused
 * while agents are installed, and the trial sweep on the virtual clock
 * (exactly once through a jump, a backwards tick, a restart and a replay).
 * Every reply and every emitted event is validated against schemas/ by the
 * contract tools (node + Ajv) at the end of each test.
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

#define SUBS_EVENT_ID_PREFIX "01JSUBSF"
#include "subscriptions_fixture.h"

/* Waits for `count` events `name`, then returns them all. */
static cJSON *wait_events(struct fixture *f, const char *name, size_t count)
{
    char filter[128];

    snprintf(filter, sizeof(filter), SUBS "%s", name);
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", filter, count);
    return events(f, name);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_lifecycle(void **state)
{
    struct fixture *f = *state;
    cJSON *r;
    cJSON *list;

    /* Customers came from the directory's org_created of kind customer. */
    list = wait_events(f, "customer_changed", 2);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "customer"), "cust-7");
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "actor"), "directory");
    cJSON_Delete(list);
    r = req(f, "customer_get", "{\"tenant\":\"" TENANT "\"," ADMIN ",\"customer\":\"cust-7\"}");
    assert_ok(r);
    assert_string_equal(str(r, "status"), "active");
    assert_string_equal(str(r, "billing"), "running");
    cJSON_Delete(r);

    r = req(f, "subscription_create",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core_plus\","
            "\"seat_basis\":\"users\",\"quantity\":50,\"trial_end\":\"2026-12-22T10:00:00Z\","
            "\"subscription\":\"sub-1\"}");
    assert_ok(r);
    assert_string_equal(str(r, "status"), "in_trial");
    assert_string_equal(str(r, "trial_end"), "2026-12-22T10:00:00.000Z");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "billing_start")));
    cJSON_Delete(r);
#define SUB1 "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-1\"}"
    r = req(f, "subscription_convert", SUB1);
    assert_ok(r);
    assert_string_equal(str(r, "status"), "active");
    assert_string_equal(str(r, "billing_start"), T0); /* converted by hand: now */
    cJSON_Delete(r);
    r = req(f, "subscription_set_quantity",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-1\",\"quantity\":75}");
    assert_ok(r);
    assert_int_equal(num(r, "quantity"), 75);
    assert_int_equal(num(r, "version"), 3);
    cJSON_Delete(r);
    /* The same quantity again changes nothing and emits nothing. */
    r = req(f, "subscription_set_quantity",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-1\",\"quantity\":75}");
    assert_int_equal(num(r, "version"), 3);
    cJSON_Delete(r);
    r = req(f, "subscription_suspend", SUB1);
    assert_string_equal(str(r, "status"), "suspended");
    cJSON_Delete(r);
    r = req(f, "subscription_reactivate", SUB1);
    assert_string_equal(str(r, "status"), "active");
    cJSON_Delete(r);
    r = req(f, "subscription_cancel", SUB1);
    assert_string_equal(str(r, "status"), "cancelled");
    assert_string_equal(str(r, "billing_end"), T0);
    cJSON_Delete(r);
    /* A conversion after cancellation is a conflict with a precise message. */
    assert_error(req(f, "subscription_convert", SUB1), "conflict",
                 "cannot convert subscription sub-1: it is cancelled; only an in_trial "
                 "subscription can be converted");
    r = req(f, "subscription_list",
            "{\"tenant\":\"" TENANT "\"," ADMIN ",\"customer\":\"cust-7\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "subscriptions")), 1);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
    cJSON_Delete(r);

    list = wait_events(f, "subscription_changed", 6);
    {
        static const char *const changes[] = {"created",   "converted",   "quantity_changed",
                                              "suspended", "reactivated", "cancelled"};

        assert_int_equal(cJSON_GetArraySize(list), 6);
        for (int i = 0; i < 6; i++) {
            const cJSON *ev = cJSON_GetArrayItem(list, i);

            assert_string_equal(str(ev, "change"), changes[i]);
            assert_int_equal(num(ev, "version"), i + 1);
            assert_string_equal(str(ev, "actor"), "ana@msp3.example");
            assert_string_equal(str(ev, "customer"), "cust-7");
        }
    }
    cJSON_Delete(list);

    /* Without an id, the new id is derived from the request id. */
    r = req(f, "subscription_create",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core\","
            "\"seat_basis\":\"devices\",\"quantity\":3}");
    assert_ok(r);
    assert_int_equal(strlen(str(r, "subscription")), ID_LEN);
    assert_string_equal(str(r, "status"), "active");
    cJSON_Delete(r);
}

/* Seats follow membership; several attached groups give one seat; order does not matter. */
static void test_groups_and_seats(void **state)
{
    struct fixture *f = *state;
    cJSON *r;
    cJSON *list;

#define ENTITLED(user, feature)                                                                    \
    req(f, "entitled",                                                                             \
        "{\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"dist-1\",\"user\":\"svc:usage\"},"       \
        "\"customer\":\"cust-7\",\"user\":\"" user "\",\"feature\":\"" feature "\"}")
    apply(f, "directory", "group_created", "{\"group\":\"g-a\",\"org\":\"cust-7\",\"name\":\"A\"}");
    apply(f, "directory", "group_created", "{\"group\":\"g-b\",\"org\":\"site-7\",\"name\":\"B\"}");
    /* A membership of a group not created yet is recorded anyway. */
    apply(f, "directory", "group_member_added", "{\"group\":\"g-z\",\"user\":\"u3\"}");
    apply(f, "directory", "group_member_added", "{\"group\":\"g-a\",\"user\":\"u1\"}");
    apply(f, "directory", "group_member_added", "{\"group\":\"g-b\",\"user\":\"u1\"}");
    apply(f, "directory", "group_member_added", "{\"group\":\"g-b\",\"user\":\"u2\"}");
    r = req(f, "subscription_create",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core_plus\","
            "\"seat_basis\":\"users\",\"quantity\":10,\"subscription\":\"sub-1\"}");
    assert_ok(r);
    cJSON_Delete(r);
    r = ENTITLED("u1", "file_sandbox");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "entitled")));
    assert_string_equal(str(r, "reason"), "no_seat");
    cJSON_Delete(r);

#define GROUP(endpoint, group)                                                                     \
    req(f, endpoint,                                                                               \
        "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\",\"group\":\"" group       \
        "\"}")
    /* The customer's own admin attaches groups. */
    r = GROUP("group_attach", "g-b");
    assert_ok(r);
    assert_int_equal(num(r, "seats_assigned"), 2);
    cJSON_Delete(r);
    r = GROUP("group_attach", "g-a");
    assert_int_equal(num(r, "seats_assigned"), 2); /* u1 is covered already: one seat */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "groups")), 2);
    cJSON_Delete(r);
    list = wait_events(f, "seat_assigned", 2);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "user"), "u1");
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "group"), "g-b");
    cJSON_Delete(list);

    r = ENTITLED("u1", "file_sandbox");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "entitled")));
    assert_string_equal(str(r, "reason"), "seat");
    assert_string_equal(str(r, "subscription"), "sub-1");
    cJSON_Delete(r);
    r = ENTITLED("u1", "teleport");
    assert_string_equal(str(r, "reason"), "unknown_feature");
    cJSON_Delete(r);

    /* u1 leaves g-a but g-b still holds them: no event. u4 joins g-a later: assigned. */
    apply(f, "directory", "group_member_removed", "{\"group\":\"g-a\",\"user\":\"u1\"}");
    apply(f, "directory", "group_member_added", "{\"group\":\"g-a\",\"user\":\"u4\"}");
    list = wait_events(f, "seat_assigned", 3);
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "user"), "u4");
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "group"), "g-a");
    cJSON_Delete(list);
    /* A repeated add and the removal of a non-member change nothing. */
    apply(f, "directory", "group_member_added", "{\"group\":\"g-a\",\"user\":\"u4\"}");
    apply(f, "directory", "group_member_removed", "{\"group\":\"g-a\",\"user\":\"u9\"}");

    r = GROUP("group_detach", "g-b"); /* u1 and u2 lose their seat, u4 keeps it */
    assert_int_equal(num(r, "seats_assigned"), 1);
    cJSON_Delete(r);
    list = wait_events(f, "seat_unassigned", 2);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "user"), "u1");
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "reason"), "group_detached");
    assert_string_equal(str(cJSON_GetArrayItem(list, 1), "user"), "u2");
    cJSON_Delete(list);

    /* The membership recorded before its group existed assigns u3 once g-z is attached. */
    apply(f, "directory", "group_created", "{\"group\":\"g-z\",\"org\":\"cust-7\",\"name\":\"Z\"}");
    r = GROUP("group_attach", "g-z");
    assert_int_equal(num(r, "seats_assigned"), 2);
    cJSON_Delete(r);
    apply(f, "directory", "user_deleted", "{\"user\":\"u3\"}");
    apply(f, "directory", "group_deleted", "{\"group\":\"g-a\"}");
    list = wait_events(f, "seat_unassigned", 4);
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "user"), "u3");
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "reason"), "user_deleted");
    assert_string_equal(str(cJSON_GetArrayItem(list, 3), "user"), "u4");
    assert_string_equal(str(cJSON_GetArrayItem(list, 3), "reason"), "group_deleted");
    cJSON_Delete(list);

    /* Cancelling unassigns what is left. */
    apply(f, "directory", "group_member_added", "{\"group\":\"g-z\",\"user\":\"u5\"}");
    r = req(f, "subscription_cancel", SUB1);
    assert_int_equal(num(r, "seats_assigned"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "groups")), 0);
    cJSON_Delete(r);
    list = wait_events(f, "seat_unassigned", 5);
    assert_int_equal(cJSON_GetArraySize(list), 5);
    assert_string_equal(str(cJSON_GetArrayItem(list, 4), "user"), "u5");
    assert_string_equal(str(cJSON_GetArrayItem(list, 4), "reason"), "subscription_cancelled");
    cJSON_Delete(list);
    list = events(f, "seat_assigned");
    assert_int_equal(cJSON_GetArraySize(list), 5); /* u1, u2, u4, u3, u5 */
    cJSON_Delete(list);
}

/* No inactivation while agents are installed; then login and billing stop. */
static void test_customer_inactivation(void **state)
{
    struct fixture *f = *state;
    cJSON *r;
    cJSON *list;

#define CUST(endpoint)                                                                             \
    req(f, endpoint, "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\"}")
    apply(f, "agents", "device_installed",
          "{\"device\":\"d-1\",\"org\":\"site-7\",\"kind\":\"business\",\"hostname\":\"h1\"}");
    apply(f, "agents", "device_installed",
          "{\"device\":\"d-2\",\"org\":\"cust-7\",\"kind\":\"personal\",\"hostname\":\"h2\","
          "\"os\":\"linux\"}");
    r = req(f, "subscription_create",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core\","
            "\"seat_basis\":\"devices\",\"quantity\":5,\"subscription\":\"sub-d\"}");
    cJSON_Delete(r);
    r = req(f, "entitled",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"device\":\"d-1\","
            "\"feature\":\"web_protection\"}");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "entitled")));
    assert_string_equal(str(r, "reason"), "device_covered");
    cJSON_Delete(r);
    assert_error(CUST("customer_inactivate"), "conflict",
                 "customer cust-7 still has 2 agent(s) installed");
    apply(f, "agents", "device_uninstalled", "{\"device\":\"d-1\"}");
    apply(f, "agents", "device_uninstalled", "{\"device\":\"d-9\"}"); /* never seen: recorded */
    assert_error(CUST("customer_inactivate"), "conflict", "still has 1 agent(s) installed");
    apply(f, "agents", "device_uninstalled", "{\"device\":\"d-2\"}");
    r = CUST("customer_inactivate");
    assert_ok(r);
    assert_string_equal(str(r, "status"), "inactive");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "login_enabled")));
    assert_string_equal(str(r, "billing"), "stopped");
    cJSON_Delete(r);
    list = wait_events(f, "customer_changed", 3);
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "change"), "inactivated");
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "billing"), "stopped");
    cJSON_Delete(list);
    /* Nothing was deleted: the subscription is there, granting nothing. */
    r = req(f, "entitled",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\","
            "\"feature\":\"web_protection\"}");
    assert_string_equal(str(r, "reason"), "customer_inactive");
    cJSON_Delete(r);
    assert_error(req(f, "subscription_create",
                     "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":"
                     "\"core\",\"seat_basis\":\"users\",\"quantity\":1}"),
                 "conflict", "customer cust-7 is inactive");
    assert_error(CUST("customer_inactivate"), "conflict", "inactive already");
    r = CUST("customer_reactivate");
    assert_string_equal(str(r, "status"), "active");
    cJSON_Delete(r);
    r = req(f, "entitled",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"device\":\"d-2\","
            "\"feature\":\"web_protection\"}");
    assert_string_equal(str(r, "reason"), "device_not_installed");
    cJSON_Delete(r);
}

static size_t converted_by_sweep(struct fixture *f)
{
    cJSON *list = events(f, "subscription_changed");
    const cJSON *ev;
    size_t n = 0;

    cJSON_ArrayForEach(ev, list)
    {
        if (strcmp(str(ev, "change"), "converted") == 0 &&
            strcmp(str(ev, "actor"), "trial_sweep") == 0)
            n++;
    }
    cJSON_Delete(list);
    return n;
}

static void create_trial(struct fixture *f, const char *id, const char *trial_end)
{
    cJSON *r = req(f, "subscription_create",
                   "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":"
                   "\"core\",\"seat_basis\":\"users\",\"quantity\":5,\"trial_end\":\"%s\","
                   "\"subscription\":\"%s\"}",
                   trial_end, id);

    assert_ok(r);
    cJSON_Delete(r);
}

/* Trials convert at their end exactly once: jump, backwards tick, restart, replay. */
static void test_trial_sweep(void **state)
{
    struct fixture *f = *state;
    jsErrCode jerr = 0;
    natsMsg **msgs;
    const char *msg_id = NULL;
    char expected[ID_LEN + 1];
    char cause[64];
    cJSON *r;
    size_t n;

    create_trial(f, "sub-t1", "2026-11-22T10:10:00Z");
    create_trial(f, "sub-t2", "2026-11-22T10:20:00Z");
    create_trial(f, "sub-t3", "2026-11-24T10:00:00Z");
    r = req(f, "subscription_convert",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-t2\"}");
    assert_ok(r);
    cJSON_Delete(r);
    tick(f, 5);
    assert_int_equal(converted_by_sweep(f), 0);
    tick(f, 15); /* sub-t1's trial ended at 10:10 */
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", SUBS "subscription_changed", 5);
    assert_int_equal(converted_by_sweep(f), 1);
    r = req(f, "subscription_get",
            "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-t1\"}");
    assert_string_equal(str(r, "status"), "active");
    assert_string_equal(str(r, "billing_start"), "2026-11-22T10:10:00.000Z"); /* = trial end */
    cJSON_Delete(r);
    tick(f, 3 * 24 * 60); /* a jump of three days: sub-t3 */
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", SUBS "subscription_changed", 6);
    tick(f, 24 * 60); /* backwards: ignored */
    assert_int_equal(harness_service_stop(&f->svc, SIGTERM, HARNESS_WAIT_MS), 0);
    harness_service_start(&f->svc, "subscriptions", &f->ns, f->data, env);
    f->applied = 0;
    tick(f, 4 * 24 * 60);
    assert_int_equal(converted_by_sweep(f), 2);

    /* A replay of every stream from the start changes nothing. */
    assert_int_equal(harness_service_stop(&f->svc, SIGTERM, HARNESS_WAIT_MS), 0);
    assert_int_equal(js_DeleteConsumer(f->js, "LB_CLOCK", "subscriptions-clock", NULL, &jerr),
                     NATS_OK);
    assert_int_equal(
        js_DeleteConsumer(f->js, "LB_DIRECTORY", "subscriptions-directory", NULL, &jerr), NATS_OK);
    harness_service_start(&f->svc, "subscriptions", &f->ns, f->data, env);
    harness_wait_metric(f->svc.http_port, "lb_events_duplicate_total", 6 + f->ticks);
    f->applied = harness_metric(f->svc.http_port, "lb_events_applied_total");
    assert_int_equal(f->applied, 0);
    assert_int_equal(converted_by_sweep(f), 2);

    /* The sweep's event id is derived from its virtual time: the same in every replay. */
    n = harness_stream_messages(f->js, "LB_SUBSCRIPTIONS", SUBS "subscription_changed", &msgs);
    assert_int_equal(n, 6);
    assert_int_equal(natsMsgHeader_Get(msgs[4], "Nats-Msg-Id", &msg_id), NATS_OK);
    snprintf(cause, sizeof(cause), "sweep@%lld", (long long)(t0_ms() + 15 * 60000));
    id_derive(expected, t0_ms() + 15 * 60000, cause, "subscription_changed/0");
    assert_string_equal(msg_id, expected);
    harness_free_messages(msgs, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_and_seats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_customer_inactivation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trial_sweep, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
