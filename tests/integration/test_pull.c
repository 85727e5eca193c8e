/*
 * test_pull.c - pull consumption by hand (common/pull.c) against a real
 * nats-server: every message arrives once, across batches and requests
 * that end early; acks are seen by the server; a nak comes back after its
 * delay as a second delivery; the reply subject's metadata is read in both
 * of its formats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "pull.h"

#define MESSAGES 25
#define BATCH    10

struct taken {
    natsMsg *msgs[4 * MESSAGES];
    int count;
};

static void take(void *ctx, natsMsg *msg)
{
    struct taken *t = ctx;

    if (t->count < 4 * MESSAGES)
        t->msgs[t->count++] = msg;
    else
        natsMsg_Destroy(msg);
}

static void add_stream_and_consumer(jsCtx *js)
{
    jsStreamConfig sc;
    jsConsumerConfig cc;
    jsErrCode jerr = 0;
    const char *subjects[] = {"pt.>"};

    jsStreamConfig_Init(&sc);
    sc.Name = "PT";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    assert_int_equal(js_AddStream(NULL, js, &sc, NULL, &jerr), NATS_OK);
    jsConsumerConfig_Init(&cc);
    cc.Durable = "pt";
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = (int64_t)30 * 1000 * 1000000;
    assert_int_equal(js_AddConsumer(NULL, js, "PT", &cc, NULL, &jerr), NATS_OK);
}

static uint64_t ack_floor(jsCtx *js)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    uint64_t floor;

    assert_int_equal(js_GetConsumerInfo(&ci, js, "PT", "pt", NULL, &jerr), NATS_OK);
    floor = ci->AckFloor.Stream;
    jsConsumerInfo_Destroy(ci);
    return floor;
}

static void test_every_message_once_then_acked_and_nakked(void **state)
{
    struct nats_server ns;
    natsConnection *nc;
    jsCtx *js;
    struct pull *p = NULL;
    struct pull_options opts = {
        .stream = "PT", .consumer = "pt", .batch = BATCH, .expires_ms = 200};
    struct taken t = {0};
    struct pull_meta meta;
    bool seen[MESSAGES + 1] = {false};

    (void)state;
    harness_nats_start(&ns, NULL);
    nc = harness_connect(&ns);
    js = harness_js(nc);
    add_stream_and_consumer(js);
    for (int i = 1; i <= MESSAGES; i++) {
        char id[16];

        snprintf(id, sizeof(id), "m%d", i);
        harness_js_publish(js, "pt.x", id, id, strlen(id));
    }
    assert_int_equal(pull_open(nc, &opts, &p, NULL), LB_OK);
    /* A call hands on at most a batch; requests of 10 bring the 25 over several calls. */
    for (int calls = 0; t.count < MESSAGES && calls < 50; calls++)
        assert_true(pull_receive(p, 1000, take, &t) <= BATCH);
    assert_int_equal(t.count, MESSAGES);
    /* Nothing more: a receive waits its time and hands on nothing. */
    assert_int_equal(pull_receive(p, 300, take, &t), 0);
    for (int i = 0; i < MESSAGES; i++) {
        assert_true(pull_meta(t.msgs[i], &meta));
        assert_string_equal(meta.stream, "PT");
        assert_int_equal(meta.deliveries, 1);
        assert_true(meta.stream_seq >= 1 && meta.stream_seq <= MESSAGES);
        assert_false(seen[meta.stream_seq]); /* once each */
        seen[meta.stream_seq] = true;
    }
    /* All but the last acked: the server's ack floor reaches 24. */
    for (int i = 0; i < MESSAGES - 1; i++)
        assert_int_equal(pull_ack(nc, t.msgs[i]), NATS_OK);
    natsConnection_Flush(nc);
    for (int waited = 0; ack_floor(js) < MESSAGES - 1 && waited < 100; waited++)
        nats_Sleep(20);
    assert_true(ack_floor(js) >= MESSAGES - 2);
    /* The last one nakked with a delay comes back as its second delivery. */
    pull_meta(t.msgs[MESSAGES - 1], &meta);
    assert_int_equal(pull_nak(nc, t.msgs[MESSAGES - 1], 100), NATS_OK);
    {
        struct taken again = {0};
        struct pull_meta second;

        for (int calls = 0; again.count == 0 && calls < 20; calls++)
            pull_receive(p, 500, take, &again);
        assert_int_equal(again.count, 1);
        assert_true(pull_meta(again.msgs[0], &second));
        assert_int_equal(second.stream_seq, meta.stream_seq);
        assert_int_equal(second.deliveries, 2);
        assert_int_equal(pull_ack(nc, again.msgs[0]), NATS_OK);
        natsMsg_Destroy(again.msgs[0]);
    }
    for (int i = 0; i < t.count; i++)
        natsMsg_Destroy(t.msgs[i]);
    pull_close(p);
    pull_close(NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    harness_nats_stop(&ns);
}

static void test_metadata_formats(void **state)
{
    static const struct {
        const char *reply;
        bool ok;
        const char *stream;
        uint64_t deliveries, seq;
    } cases[] = {
        {"$JS.ACK.LB_SIGNALS.usage-signals.3.1207.1190.1796197471716470466.12", true, "LB_SIGNALS",
         3, 1207},
        {"$JS.ACK.hub.ACCHASH.LB_AGENTS.usage-agents.1.42.40.1796197471716470466.0.xyz", true,
         "LB_AGENTS", 1, 42},
        {"$JS.ACK.LB_X.c.1.2", false, NULL, 0, 0},
        {"_INBOX.abc", false, NULL, 0, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        natsMsg *msg = NULL;
        struct pull_meta meta;

        assert_int_equal(natsMsg_Create(&msg, "lb.evt.x", cases[i].reply, "{}", 2), NATS_OK);
        assert_int_equal(pull_meta(msg, &meta), cases[i].ok);
        if (cases[i].ok) {
            assert_string_equal(meta.stream, cases[i].stream);
            assert_int_equal(meta.deliveries, cases[i].deliveries);
            assert_int_equal(meta.stream_seq, cases[i].seq);
        }
        natsMsg_Destroy(msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_message_once_then_acked_and_nakked),
        cmocka_unit_test(test_metadata_formats),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
