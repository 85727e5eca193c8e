/*
 * test_reconnect.c - NATS goes away and comes back: the service reports
 * not ready meanwhile, reconnects by itself (unlimited reconnects), becomes
 * ready again and serves requests and events as before.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

/* Waits until /readyz answers `status`. */
static void wait_ready_status(int port, int status)
{
    int64_t deadline = nats_Now() + HARNESS_WAIT_MS;

    for (;;) {
        char *body = NULL;
        int seen = harness_http_get(port, "/readyz", &body);

        free(body);
        if (seen == status)
            return;
        if (nats_Now() > deadline)
            fail_msg("/readyz stayed %d, expected %d", seen, status);
        nats_Sleep(20);
    }
}

static void test_nats_restart(void **state)
{
    const char *body = "{\"tenant\":\"acme\",\"counter\":\"c\",\"amount\":2}";
    struct nats_server ns;
    struct service_proc tally = {0};
    char data[256];
    natsConnection *nc;
    jsCtx *js;
    natsMsg *reply;
    cJSON *json;

    (void)state;
    harness_nats_start(&ns, NULL);
    harness_tmpdir(data, "data");
    harness_service_start(&tally, "tally", &ns, data, NULL);
    nc = harness_connect(&ns);
    natsMsg_Destroy(harness_request(nc, "lb.api.tally.add", body, strlen(body)));
    natsConnection_Destroy(nc);

    kill(ns.pid, SIGKILL);
    waitpid(ns.pid, NULL, 0);
    wait_ready_status(tally.http_port, 503);
    assert_int_equal(harness_metric(tally.http_port, "lb_nats_connected"), 0);

    harness_nats_restart(&ns, NULL);
    wait_ready_status(tally.http_port, 200);
    nc = harness_connect(&ns);
    js = harness_js(nc);
    reply = harness_request(nc, "lb.api.tally.add", body, strlen(body));
    json = harness_reply_json(reply);
    assert_int_equal(cJSON_GetObjectItem(json, "value")->valuedouble, 4);
    cJSON_Delete(json);
    natsMsg_Destroy(reply);
    /* Both changes are in the stream, the second sent after the reconnect. */
    assert_int_equal(harness_wait_stream(js, "LB_TALLY", "lb.evt.tally.acme.counter_changed", 2),
                     2);
    assert_int_equal(harness_service_stop(&tally, SIGTERM, HARNESS_WAIT_MS), 0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    harness_nats_stop(&ns);
    harness_rmdir(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nats_restart),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
