/*
 * test_cluster.c - a real 3-node JetStream cluster on loopback, streams
 * with 3 replicas. Under a steady event load one node is killed and later
 * restarted; every event the stream acknowledged is applied exactly once.
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

#define EVENTS     1500
#define KILL_AT    500
#define RESTART_AT 1000

/* Publishes until the stream acks: a retry keeps the id, so the stream stores it once. */
static void publish_acked(jsCtx *js, int i)
{
    char id[32];
    char *event;
    int64_t deadline = nats_Now() + HARNESS_WAIT_MS;
    jsPubOptions po;

    snprintf(id, sizeof(id), "01JCLUSTER00000000000%05d", i);
    event = harness_event(id, "licensebus.sample.increment.v1", "acme", "2026-11-22T10:00:00Z",
                          "{\"counter\":\"load\",\"amount\":1}");
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = 2000;
    for (;;) {
        jsPubAck *ack = NULL;
        natsStatus s = js_Publish(&ack, js, "lb.evt.sample.acme.increment", event,
                                  (int)strlen(event), &po, NULL);

        jsPubAck_Destroy(ack);
        if (s == NATS_OK)
            break;
        if (nats_Now() > deadline)
            fail_msg("event %d was never acked: %s", i, natsStatus_GetText(s));
        nats_Sleep(50);
    }
    free(event);
}

static double counter_value(natsConnection *nc)
{
    const char *body = "{\"tenant\":\"acme\",\"counter\":\"load\"}";
    natsMsg *reply = NULL;
    cJSON *json;
    double value = -1;

    if (natsConnection_Request(&reply, nc, "lb.api.tally.get", body, (int)strlen(body), 5000) !=
        NATS_OK)
        return -1;
    json = cJSON_ParseWithLength(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    if (cJSON_GetObjectItem(json, "value") != NULL)
        value = cJSON_GetObjectItem(json, "value")->valuedouble;
    cJSON_Delete(json);
    natsMsg_Destroy(reply);
    return value;
}

static void test_node_loss_under_load(void **state)
{
    struct nats_server nodes[HARNESS_CLUSTER_SIZE];
    struct service_proc tally = {0};
    struct nats_server all = {0};
    char urls[256], data[256], url_env[300];
    const char *env[] = {"LB_STREAM_REPLICAS=3", url_env, NULL};
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    jsCtx *js;
    int64_t deadline;
    double value = -1;

    (void)state;
    harness_nats_cluster_start(nodes, urls);
    harness_tmpdir(data, "data");
    /* The harness sets LB_NATS_URL from `all`; the later setting wins with all three URLs. */
    snprintf(all.url, sizeof(all.url), "%s", nodes[0].url);
    snprintf(url_env, sizeof(url_env), "LB_NATS_URL=%s", urls);
    harness_service_start(&tally, "tally", &all, data, env);

    natsOptions_Create(&o);
    {
        const char *servers[] = {nodes[0].url, nodes[1].url, nodes[2].url};

        natsOptions_SetServers(o, servers, HARNESS_CLUSTER_SIZE);
    }
    natsOptions_SetMaxReconnect(o, -1);
    natsOptions_SetReconnectWait(o, 100);
    assert_int_equal(natsConnection_Connect(&nc, o), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    for (int i = 0; i < EVENTS; i++) {
        if (i == KILL_AT) {
            kill(nodes[1].pid, SIGKILL);
            waitpid(nodes[1].pid, NULL, 0);
            nodes[1].pid = 0;
        }
        if (i == RESTART_AT)
            harness_nats_restart(&nodes[1], NULL);
        publish_acked(js, i);
    }

    /* Every acked event applied once: the counter is exactly the number of events. */
    deadline = nats_Now() + 60000;
    while ((value = counter_value(nc)) != EVENTS) {
        if (value > EVENTS)
            fail_msg("counter %g: an event was applied twice", value);
        if (nats_Now() > deadline)
            fail_msg("counter stayed at %g of %d", value, EVENTS);
        nats_Sleep(100);
    }
    assert_int_equal(harness_metric(tally.http_port, "lb_events_applied_total"), EVENTS);
    assert_int_equal(harness_service_stop(&tally, SIGTERM, HARNESS_WAIT_MS), 0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    for (int i = 0; i < HARNESS_CLUSTER_SIZE; i++)
        harness_nats_stop(&nodes[i]);
    harness_rmdir(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_loss_under_load),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
