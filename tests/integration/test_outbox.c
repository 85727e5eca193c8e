/*
 * test_outbox.c - a service killed with SIGKILL between its commit and its
 * publish loses nothing and duplicates nothing: on restart it publishes
 * what it committed, and the stream holds each event once.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

struct fixture {
    struct nats_server ns;
    struct service_proc tally;
    natsConnection *nc;
    jsCtx *js;
    char data[256];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "data");
    f->nc = harness_connect(&f->ns);
    f->js = harness_js(f->nc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->tally.pid > 0)
        harness_service_stop(&f->tally, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    free(f);
    return 0;
}

static const char add_body[] = "{\"tenant\":\"acme\",\"counter\":\"c\",\"amount\":4}";

/*
 * Sends an add to a service that kills itself in its outbox. Before the
 * publish, it dies before replying (the reply follows the publish); after
 * it, the reply may or may not have left.
 */
/* The reply leaves before the outbox is published, so either crash may come after it. */
static void add_and_expect_crash(struct fixture *f)
{
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_Request(&reply, f->nc, "lb.api.tally.add", add_body,
                                          (int)strlen(add_body), 2000);

    assert_true(s == NATS_OK || s == NATS_TIMEOUT || s == NATS_NO_RESPONDERS);
    natsMsg_Destroy(reply);
    assert_int_equal(harness_service_wait_exit(&f->tally, HARNESS_WAIT_MS), 128 + SIGKILL);
}

static size_t changed_events(struct fixture *f, char ret_ids[][32])
{
    natsMsg **msgs;
    size_t n =
        harness_stream_messages(f->js, "LB_TALLY", "lb.evt.tally.acme.counter_changed", &msgs);

    for (size_t i = 0; i < n; i++) {
        const char *id = NULL;

        assert_int_equal(natsMsgHeader_Get(msgs[i], "Nats-Msg-Id", &id), NATS_OK);
        snprintf(ret_ids[i], 32, "%s", id);
    }
    harness_free_messages(msgs, n);
    return n;
}

static void test_crash_before_publish(void **state)
{
    struct fixture *f = *state;
    const char *const fault[] = {"LB_FAULT=crash_before_publish", NULL};
    char ids[8][32];
    natsMsg *reply;
    cJSON *json;

    harness_service_start(&f->tally, "tally", &f->ns, f->data, fault);
    add_and_expect_crash(f);
    /* Committed, not published. */
    assert_int_equal(changed_events(f, ids), 0);
    harness_service_start(&f->tally, "tally", &f->ns, f->data, NULL);
    assert_int_equal(harness_wait_stream(f->js, "LB_TALLY", "lb.evt.tally.acme.counter_changed", 1),
                     1);
    reply = harness_request(f->nc, "lb.api.tally.get", "{\"tenant\":\"acme\",\"counter\":\"c\"}",
                            strlen("{\"tenant\":\"acme\",\"counter\":\"c\"}"));
    json = harness_reply_json(reply);
    assert_int_equal(cJSON_GetObjectItem(json, "value")->valuedouble, 4);
    cJSON_Delete(json);
    natsMsg_Destroy(reply);
    harness_wait_metric(f->tally.http_port, "lb_outbox_published_total", 1);
    harness_wait_metric_at_most(f->tally.http_port, "lb_outbox_pending", 0);
    assert_int_equal(changed_events(f, ids), 1);
}

static void test_crash_after_publish(void **state)
{
    struct fixture *f = *state;
    const char *const fault[] = {"LB_FAULT=crash_after_publish", NULL};
    char before[8][32];
    char after[8][32];

    harness_service_start(&f->tally, "tally", &f->ns, f->data, fault);
    add_and_expect_crash(f);
    /* Published, but the outbox row is still there: the restart publishes it again. */
    assert_int_equal(changed_events(f, before), 1);
    harness_service_start(&f->tally, "tally", &f->ns, f->data, NULL);
    harness_wait_metric(f->tally.http_port, "lb_outbox_published_total", 1);
    harness_wait_metric_at_most(f->tally.http_port, "lb_outbox_pending", 0);
    assert_int_equal(changed_events(f, after), 1);
    assert_string_equal(before[0], after[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_crash_before_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_after_publish, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
