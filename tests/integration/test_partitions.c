/*
 * test_partitions.c - scale-out by tenant (docs/decisions.md D16) on a real
 * 3-node JetStream cluster whose nodes map subjects with
 * deploy/nats/partitions.conf (here with 2 partitions). Two tally
 * instances, LB_PARTITION=0/2 and 1/2, split the tenants between them with
 * no overlap and answer tenant-bearing requests for their own tenants; then
 * partition 1 "moves" (stopped, started on an empty volume behind another
 * node) and rebuilds the same state from the stream; the events it emits
 * again on the way are byte-identical to the first ones.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"

#define TENANTS    20
#define PARTITIONS 2
#define TIME       "2026-11-22T10:00:00Z"

/* deploy/nats/partitions.conf with its partition count set to PARTITIONS. */
static char *mapping_config(void)
{
    char path[512];
    char *text, *at;

    snprintf(path, sizeof(path), "%s/deploy/nats/partitions.conf", getenv("LB_SOURCE_DIR"));
    text = harness_slurp(path);
    assert_non_null(text);
    /* "partition(4," twice: the shipped count becomes PARTITIONS. */
    while ((at = strstr(text, "partition(4,")) != NULL)
        at[10] = '0' + PARTITIONS;
    return text;
}

static void publish(jsCtx *js, const char *tenant, int seq, int amount)
{
    char id[32], subject[128], data[64];
    char *event;

    snprintf(id, sizeof(id), "01JPART%s0000000000%05d", tenant + 1, seq);
    snprintf(subject, sizeof(subject), "lb.evt.sample.%s.increment", tenant);
    snprintf(data, sizeof(data), "{\"counter\":\"seats\",\"amount\":%d}", amount);
    event = harness_event(id, "licensebus.sample.increment.v1", tenant, TIME, data);
    harness_js_publish(js, subject, id, event, strlen(event));
    free(event);
}

static void tenant_name(char ret[8], int i)
{
    snprintf(ret, 8, "t%02d", i);
}

/* The reply to tally.get for `tenant` on the tenant-bearing subject (NULL: no answer). */
static cJSON *get_counter(natsConnection *nc, const char *tenant, const char *body_tenant)
{
    char subject[128], body[128];
    natsMsg *reply = NULL;
    cJSON *json;

    snprintf(subject, sizeof(subject), "lb.api.tally.get.%s", tenant);
    snprintf(body, sizeof(body), "{\"tenant\":\"%s\",\"counter\":\"seats\"}", body_tenant);
    if (natsConnection_Request(&reply, nc, subject, body, (int)strlen(body), 5000) != NATS_OK)
        return NULL;
    json = cJSON_ParseWithLength(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    natsMsg_Destroy(reply);
    return json;
}

static double counter_value(natsConnection *nc, const char *tenant)
{
    cJSON *json = get_counter(nc, tenant, tenant);
    cJSON *value = cJSON_GetObjectItem(json, "value");
    double v = cJSON_IsNumber(value) ? value->valuedouble : -1;

    cJSON_Delete(json);
    return v;
}

/* Waits until every tenant's counter is `base + i` (tenant i). */
static void wait_values(natsConnection *nc, int base)
{
    int64_t deadline = nats_Now() + HARNESS_WAIT_MS * 2;

    for (int i = 0; i < TENANTS; i++) {
        char t[8];
        double v;

        tenant_name(t, i);
        while ((v = counter_value(nc, t)) != base + i) {
            if (nats_Now() > deadline)
                fail_msg("tenant %s: counter %g, expected %d", t, v, base + i);
            nats_Sleep(50);
        }
    }
}

/* The tenants in a partition's database, as a bit set. */
static unsigned tenants_in(const char *data_dir)
{
    char path[300];
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    unsigned set = 0;

    snprintf(path, sizeof(path), "%s/tally.db", data_dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT tenant FROM counters", -1, &stmt, NULL),
                     SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW)
        set |= 1u << atoi((const char *)sqlite3_column_text(stmt, 0) + 1);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return set;
}

/* The counter_changed events stored in LB_TALLY, one per line. */
static char *stored_changes(jsCtx *js, size_t expected)
{
    natsMsg **msgs;
    size_t n, used = 0, cap = 1 << 20;
    char *all = calloc(1, cap);

    assert_non_null(all);
    assert_int_equal(harness_wait_stream(js, "LB_TALLY", "lb.evt.tally.>", expected), expected);
    n = harness_stream_messages(js, "LB_TALLY", "lb.evt.tally.>", &msgs);
    assert_int_equal(n, expected);
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(all + used, cap - used, "%.*s\n", natsMsg_GetDataLength(msgs[i]),
                                 natsMsg_GetData(msgs[i]));
    harness_free_messages(msgs, n);
    return all;
}

static void test_tenants_split_and_a_partition_moves(void **state)
{
    struct nats_server nodes[HARNESS_CLUSTER_SIZE];
    struct service_proc part[PARTITIONS] = {{0}};
    struct service_proc moved = {0};
    char urls[256], data[PARTITIONS][256], moved_data[256];
    char *mapping = mapping_config();
    unsigned set[PARTITIONS];
    natsConnection *nc;
    natsSubscription *seen = NULL;
    natsMsg *reply = NULL;
    cJSON *json;
    jsCtx *js;
    double applied[PARTITIONS];
    int64_t deadline;

    (void)state;
    harness_nats_cluster_start_with(nodes, urls, mapping);
    for (int k = 0; k < PARTITIONS; k++) {
        char partition[32];
        const char *env[] = {"LB_STREAM_REPLICAS=3", partition, NULL};

        snprintf(partition, sizeof(partition), "LB_PARTITION=%d/%d", k, PARTITIONS);
        harness_tmpdir(data[k], "part");
        harness_service_start(&part[k], "tally", &nodes[k], data[k], env);
    }
    nc = harness_connect(&nodes[2]);
    js = harness_js(nc);

    /* Tenant i gets 1 then i + 1 - 1 ... its counter ends at i + 1. */
    for (int i = 0; i < TENANTS; i++) {
        char t[8];

        tenant_name(t, i);
        publish(js, t, 0, 1);
        if (i > 0)
            publish(js, t, 1, i);
    }
    wait_values(nc, 1);

    /* Each tenant lives in exactly one partition, and both partitions have some. */
    for (int k = 0; k < PARTITIONS; k++) {
        set[k] = tenants_in(data[k]);
        applied[k] = harness_metric(part[k].http_port, "lb_events_applied_total");
        assert_true(set[k] != 0);
    }
    assert_int_equal(set[0] & set[1], 0);
    assert_int_equal(set[0] | set[1], (1u << TENANTS) - 1);
    assert_int_equal(applied[0] + applied[1], 2 * TENANTS - 1);

    /* Plain subjects have no responder in a partitioned deployment... */
    assert_int_equal(natsConnection_RequestString(&reply, nc, "lb.api.tally.get",
                                                  "{\"tenant\":\"t00\",\"counter\":\"seats\"}",
                                                  1000),
                     NATS_NO_RESPONDERS);
    /* ...and a body may not claim another tenant than its subject. */
    json = get_counter(nc, "t00", "t01");
    assert_non_null(json);
    assert_non_null(cJSON_GetObjectItem(json, "error"));
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "error"), "code")),
        "forbidden");
    cJSON_Delete(json);

    /* Partition 1 moves: stopped, then started on an empty volume behind another node. */
    assert_int_equal(harness_service_stop(&part[1], SIGTERM, HARNESS_WAIT_MS), 0);
    for (int i = 0; i < TENANTS; i++) {
        char t[8];

        tenant_name(t, i);
        publish(js, t, 2, 1); /* while it is away: every counter + 1 */
    }
    /* Everything the moved partition publishes, as core NATS sees it. */
    assert_int_equal(natsConnection_SubscribeSync(&seen, nc, "lb.evt.tally.>"), NATS_OK);
    {
        char partition[32];
        const char *env[] = {"LB_STREAM_REPLICAS=3", partition, NULL};

        snprintf(partition, sizeof(partition), "LB_PARTITION=1/%d", PARTITIONS);
        harness_tmpdir(moved_data, "moved");
        harness_service_start(&moved, "tally", &nodes[2], moved_data, env);
    }
    wait_values(nc, 2);
    assert_true(harness_log_contains(&moved, "new database"));
    assert_int_equal(tenants_in(moved_data), set[1]);
    /* It rebuilt everything of its tenants from the stream: the old events and the new. */
    deadline = nats_Now() + HARNESS_WAIT_MS;
    while (harness_metric(moved.http_port, "lb_events_applied_total") !=
           applied[1] + __builtin_popcount(set[1])) {
        if (nats_Now() > deadline)
            fail_msg("moved partition applied %g events, expected %g",
                     harness_metric(moved.http_port, "lb_events_applied_total"),
                     applied[1] + __builtin_popcount(set[1]));
        nats_Sleep(50);
    }
    /* What it emitted again is byte-identical to what the old instance emitted, so the
     * stream keeps one copy (3 * TENANTS - 1 counter changes in all) and consumers
     * downstream see duplicates, not conflicts. */
    {
        char *stored = stored_changes(js, 3 * TENANTS - 1);
        int republished = 0;
        natsMsg *m = NULL;

        while (natsSubscription_NextMsg(&m, seen, 200) == NATS_OK) {
            char line[4096];

            snprintf(line, sizeof(line), "%.*s\n", natsMsg_GetDataLength(m), natsMsg_GetData(m));
            if (strstr(stored, line) == NULL)
                fail_msg("re-emitted event differs from every stored one: %s", line);
            republished++;
            natsMsg_Destroy(m);
        }
        assert_true(republished >= __builtin_popcount(set[1]) * 2);
        free(stored);
    }
    natsSubscription_Destroy(seen);

    assert_int_equal(harness_service_stop(&moved, SIGTERM, HARNESS_WAIT_MS), 0);
    assert_int_equal(harness_service_stop(&part[0], SIGTERM, HARNESS_WAIT_MS), 0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    for (int i = 0; i < HARNESS_CLUSTER_SIZE; i++)
        harness_nats_stop(&nodes[i]);
    for (int k = 0; k < PARTITIONS; k++)
        harness_rmdir(data[k]);
    harness_rmdir(moved_data);
    free(mapping);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenants_split_and_a_partition_moves),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
