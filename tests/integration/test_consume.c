/*
 * test_consume.c - consumed events on a real JetStream: each applied once,
 * whatever is redelivered or replayed; bad events dead-lettered with their
 * reason, never dropped; a poison message ends in the dead-letter stream.
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

#define INCREMENT "licensebus.sample.increment.v1"
#define TIME      "2026-11-22T10:00:00Z"

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
    harness_service_start(&f->tally, "tally", &f->ns, f->data, NULL);
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

static double counter_value(struct fixture *f, const char *tenant, const char *counter)
{
    char body[256];
    natsMsg *reply;
    cJSON *json;
    double value = -1;

    snprintf(body, sizeof(body), "{\"tenant\":\"%s\",\"counter\":\"%s\"}", tenant, counter);
    reply = harness_request(f->nc, "lb.api.tally.get", body, strlen(body));
    json = harness_reply_json(reply);
    if (cJSON_GetObjectItem(json, "value") != NULL)
        value = cJSON_GetObjectItem(json, "value")->valuedouble;
    cJSON_Delete(json);
    natsMsg_Destroy(reply);
    return value;
}

static void publish_increment(struct fixture *f, const char *id, const char *msg_id,
                              const char *counter, int amount)
{
    char data[128];
    char *event;

    snprintf(data, sizeof(data), "{\"counter\":\"%s\",\"amount\":%d}", counter, amount);
    event = harness_event(id, INCREMENT, "acme", TIME, data);
    harness_js_publish(f->js, "lb.evt.sample.acme.increment", msg_id, event, strlen(event));
    free(event);
}

/* Waits for the dead letter whose reason mentions `needle`, with `code` (harness). */
static void assert_dead_letter(struct fixture *f, const char *code, const char *needle)
{
    cJSON_Delete(harness_wait_dead_letter(f->js, "tally", code, needle));
}

static void test_event_applied(void **state)
{
    struct fixture *f = *state;

    publish_increment(f, "01JEVENT000000000000000001", "01JEVENT000000000000000001", "seats", 7);
    harness_wait_metric(f->tally.http_port, "lb_events_applied_total", 1);
    assert_int_equal(counter_value(f, "acme", "seats"), 7);
    /* Its effect is an event of its own, through the outbox. */
    assert_int_equal(harness_wait_stream(f->js, "LB_TALLY", "lb.evt.tally.acme.counter_changed", 1),
                     1);
}

/* The same event delivered twice (the stream cannot tell: no Nats-Msg-Id) is applied once. */
static void test_duplicate_applied_once(void **state)
{
    struct fixture *f = *state;

    publish_increment(f, "01JEVENT000000000000000002", NULL, "dup", 3);
    publish_increment(f, "01JEVENT000000000000000002", NULL, "dup", 3);
    harness_wait_metric(f->tally.http_port, "lb_events_duplicate_total", 1);
    assert_int_equal(harness_metric(f->tally.http_port, "lb_events_applied_total"), 1);
    assert_int_equal(counter_value(f, "acme", "dup"), 3);
}

/* A replay of the whole stream (consumer gone, service restarted) changes nothing. */
static void test_replay_changes_nothing(void **state)
{
    struct fixture *f = *state;
    jsErrCode jerr = 0;

    for (int i = 0; i < 20; i++) {
        char id[32];

        snprintf(id, sizeof(id), "01JREPLAY0000000000000%04d", i);
        publish_increment(f, id, id, "replayed", 1);
    }
    harness_wait_metric(f->tally.http_port, "lb_events_applied_total", 20);
    assert_int_equal(harness_service_stop(&f->tally, SIGTERM, 15000), 0);
    assert_int_equal(js_DeleteConsumer(f->js, "LB_SAMPLE", "tally-sample", NULL, &jerr), NATS_OK);
    harness_service_start(&f->tally, "tally", &f->ns, f->data, NULL);
    harness_wait_metric(f->tally.http_port, "lb_events_duplicate_total", 20);
    assert_int_equal(harness_metric(f->tally.http_port, "lb_events_applied_total"), 0);
    assert_int_equal(counter_value(f, "acme", "replayed"), 20);
}

static void test_bad_events_dead_lettered(void **state)
{
    struct fixture *f = *state;
    char *event;
    char *big;
    size_t big_len = ENVELOPE_MAX_BYTES + 1;

    harness_js_publish(f->js, "lb.evt.sample.acme.increment", NULL, "not json", 8);
    event = harness_event("01JBAD00000000000000000001", INCREMENT, "other", TIME,
                          "{\"counter\":\"x\",\"amount\":1}");
    harness_js_publish(f->js, "lb.evt.sample.acme.increment", NULL, event, strlen(event));
    free(event);
    event = harness_event("01JBAD00000000000000000002", "licensebus.sample.increment.v1", "acme",
                          TIME, "{\"counter\":\"x\",\"amount\":\"many\"}");
    harness_js_publish(f->js, "lb.evt.sample.acme.increment", NULL, event, strlen(event));
    free(event);
    event = harness_event("01JBAD00000000000000000003", "licensebus.sample.unknown.v1", "acme",
                          TIME, "{}");
    harness_js_publish(f->js, "lb.evt.sample.acme.unknown", NULL, event, strlen(event));
    free(event);
    event = harness_event("01JBAD00000000000000000004", INCREMENT, "acme", TIME,
                          "{\"counter\":\"x\",\"amount\":1}");
    harness_js_publish(f->js, "lb.evt.sample.acme.increment", "another-id", event, strlen(event));
    free(event);
    event = harness_event("01JBAD00000000000000000005", INCREMENT, "acme", TIME,
                          "{\"counter\":\"x\",\"amount\":1,\"colour\":\"red\"}");
    harness_js_publish(f->js, "lb.evt.sample.acme.increment", NULL, event, strlen(event));
    free(event);
    /* One byte past the envelope limit (the test server allows 2 MB payloads). */
    big = malloc(big_len);
    assert_non_null(big);
    memset(big, ' ', big_len);
    memcpy(big, "{}", 2);
    harness_js_publish(f->js, "lb.evt.sample.acme.increment", NULL, big, big_len);
    free(big);
    /* Binary garbage travels as base64. */
    harness_js_publish(f->js, "lb.evt.sample.acme.increment", NULL, "\xff\xfe\x00\x01", 4);

    harness_wait_metric(f->tally.http_port, "lb_events_dead_lettered_total", 8);
    assert_int_equal(harness_metric(f->tally.http_port, "lb_events_applied_total"), 0);
    assert_dead_letter(f, "forbidden", "tenant");
    assert_dead_letter(f, "invalid_request", "amount");
    assert_dead_letter(f, "unsupported", "licensebus.sample.unknown.v1");
    assert_dead_letter(f, "invalid_request", "Nats-Msg-Id");
    assert_dead_letter(f, "too_large", "1048576");
    assert_dead_letter(f, "invalid_request", "colour");
    assert_int_equal(harness_wait_stream(f->js, "LB_DLQ", "lb.dlq.tally", 8), 8);
}

/* A type of a consumed domain the service lists as ignored is acked and counted, no more. */
static void test_ignored_type(void **state)
{
    struct fixture *f = *state;
    char *event = harness_event("01JIGN00000000000000000001", "licensebus.sample.noted.v1", "acme",
                                TIME, "{\"anything\":true}");

    harness_js_publish(f->js, "lb.evt.sample.acme.noted", NULL, event, strlen(event));
    free(event);
    publish_increment(f, "01JIGN00000000000000000002", NULL, "after", 1);
    harness_wait_metric(f->tally.http_port, "lb_events_applied_total", 1);
    assert_int_equal(harness_metric(f->tally.http_port, "lb_events_ignored_total"), 1);
    assert_int_equal(harness_metric(f->tally.http_port, "lb_events_dead_lettered_total"), 0);
    assert_int_equal(counter_value(f, "acme", "after"), 1);
}

/* The same id with another payload is refused, and the first effect stays. */
static void test_same_id_other_payload(void **state)
{
    struct fixture *f = *state;

    publish_increment(f, "01JSAME0000000000000000001", NULL, "same", 2);
    harness_wait_metric(f->tally.http_port, "lb_events_applied_total", 1);
    publish_increment(f, "01JSAME0000000000000000001", NULL, "same", 50);
    harness_wait_metric(f->tally.http_port, "lb_events_dead_lettered_total", 1);
    assert_dead_letter(f, "conflict", "different payload");
    assert_int_equal(counter_value(f, "acme", "same"), 2);
}

/*
 * A message delivered LB_MAX_DELIVER times without being applied (here: a
 * consumer that naks it, standing in for a service that crashed on it each
 * time) is dead-lettered on its last delivery instead of looping forever.
 */
static void test_poison_message(void **state)
{
    struct fixture *f = *state;
    const char *const env[] = {"LB_MAX_DELIVER=3", "LB_ACK_WAIT=200ms", NULL};
    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsErrCode jerr = 0;

    assert_int_equal(harness_service_stop(&f->tally, SIGTERM, 15000), 0);
    harness_service_start(&f->tally, "tally", &f->ns, f->data, env);
    assert_int_equal(harness_service_stop(&f->tally, SIGTERM, 15000), 0);
    publish_increment(f, "01JPOISON00000000000000001", "01JPOISON00000000000000001", "poison", 1);
    jsSubOptions_Init(&so);
    so.Stream = "LB_SAMPLE";
    so.Consumer = "tally-sample";
    assert_int_equal(
        js_PullSubscribe(&sub, f->js, "lb.evt.sample.>", "tally-sample", NULL, &so, &jerr),
        NATS_OK);
    for (int delivery = 1; delivery < 3; delivery++) {
        natsMsgList list = {0};

        assert_int_equal(natsSubscription_Fetch(&list, sub, 1, HARNESS_WAIT_MS, &jerr), NATS_OK);
        assert_int_equal(list.Count, 1);
        assert_int_equal(natsMsg_Nak(list.Msgs[0], NULL), NATS_OK);
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    harness_service_start(&f->tally, "tally", &f->ns, f->data, env);
    harness_wait_metric(f->tally.http_port, "lb_events_dead_lettered_total", 1);
    assert_dead_letter(f, "internal", "poison");
    assert_int_equal(harness_metric(f->tally.http_port, "lb_events_applied_total"), 0);
}

/* A consumer deleted under the running service is re-created; nothing is applied twice. */
static void test_consumer_recreated(void **state)
{
    struct fixture *f = *state;
    jsErrCode jerr = 0;

    publish_increment(f, "01JGONE0000000000000000001", "01JGONE0000000000000000001", "gone", 1);
    harness_wait_metric(f->tally.http_port, "lb_events_applied_total", 1);
    assert_int_equal(js_DeleteConsumer(f->js, "LB_SAMPLE", "tally-sample", NULL, &jerr), NATS_OK);
    publish_increment(f, "01JGONE0000000000000000002", "01JGONE0000000000000000002", "gone", 1);
    harness_wait_metric(f->tally.http_port, "lb_events_applied_total", 2);
    /* The new consumer starts from the beginning: the first event comes again, skipped. */
    harness_wait_metric(f->tally.http_port, "lb_events_duplicate_total", 1);
    assert_int_equal(counter_value(f, "acme", "gone"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_event_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_applied_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_events_dead_lettered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ignored_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_id_other_payload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poison_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_recreated, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
