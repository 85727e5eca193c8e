/*
 * test_reporting_export.c - the large download: 100,000 active deployments
 * reach the read model through JetStream (license_activated events, as
 * licensing emits them, published asynchronously), then the Active
 * Deployment Report is built as .xlsx, fetched in chunks and opened with an
 * independent reader (exceljs). Prints the ingestion rate and export time.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "harness.h"

#define ROWS   100000
#define CALLER "\"tenant\":\"dist-1\",\"caller\":{\"org\":\"dist-1\",\"user\":\"d\"}"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void publish_async(jsCtx *js, const char *subject, const char *id, const char *text)
{
    natsMsg *msg = NULL;

    assert_int_equal(natsMsg_Create(&msg, subject, NULL, text, (int)strlen(text)), NATS_OK);
    assert_int_equal(natsMsgHeader_Set(msg, "Nats-Msg-Id", id), NATS_OK);
    assert_int_equal(js_PublishMsgAsync(js, &msg, NULL), NATS_OK);
}

static void test_export_100k(void **state)
{
    static const char *const env[] = {"LB_CLOCK=virtual", NULL};
    struct nats_server ns;
    struct service_proc svc;
    natsConnection *nc;
    jsCtx *js;
    jsOptions o;
    char data[256];
    char path[512];
    char cmd[1024];
    char id[32];
    char *ev;
    char body[2048];
    double t0, t1;
    int n = 0;

    (void)state;
    harness_nats_start(&ns, NULL);
    harness_tmpdir(data, "reporting-export");
    harness_service_start(&svc, "reporting", &ns, data, env);
    nc = harness_connect(&ns);
    jsOptions_Init(&o);
    o.PublishAsync.MaxPending = 4096;
    assert_int_equal(natsConnection_JetStream(&js, nc, &o), NATS_OK);

    ev = harness_event(
        "01JEXP00000000000000000001", "licensebus.directory.org_created.v1", "dist-1",
        "2026-11-01T00:00:00.000Z",
        "{\"org\":\"dist-1\",\"parent\":null,\"name\":\"Dist\",\"kind\":\"distributor\"}");
    publish_async(js, "lb.evt.directory.dist-1.org_created", "01JEXP00000000000000000001", ev);
    free(ev);
    ev = harness_event("01JEXP00000000000000000002", "licensebus.directory.org_created.v1",
                       "dist-1", "2026-11-01T00:00:00.000Z",
                       "{\"org\":\"cust-1\",\"parent\":\"dist-1\",\"name\":\"Big "
                       "Customer\",\"kind\":\"customer\"}");
    publish_async(js, "lb.evt.directory.dist-1.org_created", "01JEXP00000000000000000002", ev);
    free(ev);
    assert_int_equal(js_PublishAsyncComplete(js, NULL), NATS_OK);
    harness_wait_metric(svc.http_port, "lb_events_applied_total", 2);

    t0 = now_s();
    for (n = 0; n < ROWS; n++) {
        snprintf(id, sizeof(id), "01JEXP1%019d", n);
        snprintf(body, sizeof(body),
                 "{\"license\":{\"id\":\"L1\",\"key\":\"BIGK-0001\",\"tenant\":\"dist-1\","
                 "\"product\":\"core\",\"delivery\":\"on_premises\",\"limit_kind\":\"instances\","
                 "\"type\":\"purchased\",\"status\":\"active\",\"started\":true,"
                 "\"start\":\"2026-01-01\",\"expiration\":\"2027-12-31\",\"limit\":100000,"
                 "\"deployed\":%d,\"scans_used\":0,\"note\":\"\",\"orgs\":[\"cust-1\"],"
                 "\"version\":%d,\"issued_at\":\"2026-11-01T00:00:00.000Z\","
                 "\"updated_at\":\"2026-11-01T00:00:00.000Z\"},\"actor\":{\"user\":\"bulk\"},"
                 "\"before\":{\"deployed\":%d},\"after\":{\"deployed\":%d},"
                 "\"deployment\":{\"instance\":\"inst-%06d\",\"host\":\"host-%06d.example\","
                 "\"product_version\":\"5.10.1\",\"who\":\"bulk\","
                 "\"activated_at\":\"2026-11-02T10:00:00.000Z\",\"last_seen\":null}}",
                 n + 1, n + 1, n, n + 1, n, n);
        ev = harness_event(id, "licensebus.licensing.license_activated.v1", "dist-1",
                           "2026-11-02T10:00:00.000Z", body);
        publish_async(js, "lb.evt.licensing.dist-1.license_activated", id, ev);
        free(ev);
    }
    assert_int_equal(js_PublishAsyncComplete(js, NULL), NATS_OK);
    t1 = now_s();
    printf("# published %d events in %.2f s\n", ROWS, t1 - t0);
    for (int i = 0; i < 2400 && harness_metric(svc.http_port, "lb_events_applied_total") < ROWS + 2;
         i++)
        usleep(100000);
    assert_true(harness_metric(svc.http_port, "lb_events_applied_total") >= ROWS + 2);
    t1 = now_s();
    printf("# read model ingested %d events in %.2f s: %.0f events/s\n", ROWS, t1 - t0,
           ROWS / (t1 - t0));

    {
        natsMsg *reply;
        cJSON *r, *eid;
        FILE *f;
        int chunks;
        long total = 0;
        const char *req = "{" CALLER ",\"report\":\"active_deployments\",\"format\":\"xlsx\"}";

        t0 = now_s();
        reply = harness_request(nc, "lb.api.reporting.export", req, strlen(req));
        t1 = now_s();
        r = harness_reply_json(reply);
        natsMsg_Destroy(reply);
        eid = cJSON_GetObjectItem(r, "export_id");
        if (eid == NULL)
            fail_msg("export: %s", cJSON_PrintUnformatted(r));
        printf("# xlsx export of %d deployment rows built in %.2f s, %d bytes\n", ROWS, t1 - t0,
               cJSON_GetObjectItem(r, "bytes")->valueint);
        assert_int_equal(cJSON_GetObjectItem(r, "rows")->valueint, ROWS + 1);
        chunks = cJSON_GetObjectItem(r, "chunks")->valueint;
        snprintf(path, sizeof(path), "%s/big.xlsx", data);
        f = fopen(path, "wb");
        fclose(f);
        for (int i = 0; i < chunks; i++) {
            char q[512];
            cJSON *c;
            FILE *p;

            snprintf(q, sizeof(q), "{" CALLER ",\"export_id\":\"%s\",\"index\":%d}",
                     eid->valuestring, i);
            reply = harness_request(nc, "lb.api.reporting.export_chunk", q, strlen(q));
            assert_true(natsMsg_GetDataLength(reply) < 1024 * 1024);
            c = harness_reply_json(reply);
            natsMsg_Destroy(reply);
            total += cJSON_GetObjectItem(c, "bytes")->valueint;
            snprintf(cmd, sizeof(cmd), "base64 -d >> %s", path);
            p = popen(cmd, "w");
            fputs(cJSON_GetObjectItem(c, "data")->valuestring, p);
            pclose(p);
            cJSON_Delete(c);
        }
        assert_int_equal(total, cJSON_GetObjectItem(r, "bytes")->valueint);
        cJSON_Delete(r);
    }
    snprintf(cmd, sizeof(cmd),
             "node %s/tests/contract/xlsx_check.mjs %s "
             "'{\"sheets\":[\"License Keys\",\"Active Deployments\"],"
             "\"cells\":[[\"License Keys\",\"J2\",100000],[\"License Keys\",\"D2\",\"BIGK-0001\"],"
             "[\"Active Deployments\",\"E2\",\"inst-000000\"],"
             "[\"Active Deployments\",\"E100001\",\"inst-099999\"]],"
             "\"rows\":{\"License Keys\":2,\"Active Deployments\":100001}}'",
             getenv("LB_SOURCE_DIR"), path);
    assert_int_equal(system(cmd), 0);

    {
        char status[64], line[256];
        FILE *f;

        snprintf(status, sizeof(status), "/proc/%d/status", (int)svc.pid);
        f = fopen(status, "r");
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            if (strncmp(line, "VmHWM:", 6) == 0)
                printf("# lb-reporting peak RSS %s", line + 6);
        }
        if (f != NULL)
            fclose(f);
    }
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    assert_int_equal(harness_service_stop(&svc, SIGTERM, HARNESS_WAIT_MS), 0);
    harness_nats_stop(&ns);
    harness_rmdir(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_100k),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
