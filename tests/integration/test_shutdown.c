/*
 * test_shutdown.c - SIGTERM drains: requests already sent are answered,
 * consumed events are applied and acked, the process exits 0, and a restart
 * finds nothing to redo.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define REQUESTS 200
#define EVENTS   200

static void test_sigterm_drains(void **state)
{
    struct nats_server ns;
    struct service_proc tally = {0};
    char data[256];
    natsConnection *nc;
    natsSubscription *inbox_sub = NULL;
    jsCtx *js;
    char inbox[64];
    int replies = 0;

    (void)state;
    harness_nats_start(&ns, NULL);
    harness_tmpdir(data, "data");
    harness_service_start(&tally, "tally", &ns, data, NULL);
    nc = harness_connect(&ns);
    js = harness_js(nc);
    for (int i = 0; i < EVENTS; i++) {
        char id[32];
        char *event;

        snprintf(id, sizeof(id), "01JDRAIN000000000000000%03d", i);
        event = harness_event(id, "licensebus.sample.increment.v1", "acme", "2026-11-22T10:00:00Z",
                              "{\"counter\":\"events\",\"amount\":1}");
        harness_js_publish(js, "lb.evt.sample.acme.increment", id, event, strlen(event));
        free(event);
    }
    snprintf(inbox, sizeof(inbox), "_INBOX.drain.%d", (int)getpid());
    assert_int_equal(natsConnection_SubscribeSync(&inbox_sub, nc, inbox), NATS_OK);
    for (int i = 0; i < REQUESTS; i++) {
        const char *body = "{\"tenant\":\"acme\",\"counter\":\"requests\",\"amount\":1}";

        assert_int_equal(natsConnection_PublishRequestString(nc, "lb.api.tally.add", inbox, body),
                         NATS_OK);
    }
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    assert_int_equal(harness_service_stop(&tally, SIGTERM, HARNESS_WAIT_MS), 0);
    assert_true(harness_log_contains(&tally, "\"stopped\""));
    for (;;) {
        natsMsg *m = NULL;

        if (natsSubscription_NextMsg(&m, inbox_sub, 1000) != NATS_OK)
            break;
        replies++;
        natsMsg_Destroy(m);
    }
    assert_int_equal(replies, REQUESTS);

    /* Everything it acked stays applied; nothing is applied twice after the restart. */
    tally.http_port = 0;
    harness_service_start(&tally, "tally", &ns, data, NULL);
    {
        natsMsg *reply = harness_request(nc, "lb.api.tally.get",
                                         "{\"tenant\":\"acme\",\"counter\":\"requests\"}",
                                         strlen("{\"tenant\":\"acme\",\"counter\":\"requests\"}"));
        cJSON *json = harness_reply_json(reply);

        assert_int_equal(cJSON_GetObjectItem(json, "value")->valuedouble, REQUESTS);
        cJSON_Delete(json);
        natsMsg_Destroy(reply);
    }
    /* Events not acked before the stop arrive again; the total is exact either way. */
    for (int64_t deadline = nats_Now() + HARNESS_WAIT_MS;;) {
        natsMsg *reply =
            harness_request(nc, "lb.api.tally.get", "{\"tenant\":\"acme\",\"counter\":\"events\"}",
                            strlen("{\"tenant\":\"acme\",\"counter\":\"events\"}"));
        cJSON *json = harness_reply_json(reply);
        cJSON *value = cJSON_GetObjectItem(json, "value");
        bool done = value != NULL && value->valuedouble == EVENTS;

        assert_true(value == NULL || value->valuedouble <= EVENTS);
        cJSON_Delete(json);
        natsMsg_Destroy(reply);
        if (done)
            break;
        if (nats_Now() > deadline)
            fail_msg("the events counter never reached %d", EVENTS);
        nats_Sleep(20);
    }
    assert_int_equal(harness_metric(tally.http_port, "lb_events_duplicate_total"), 0);
    assert_int_equal(harness_service_stop(&tally, SIGTERM, HARNESS_WAIT_MS), 0);
    natsSubscription_Destroy(inbox_sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    harness_nats_stop(&ns);
    harness_rmdir(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_drains),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
