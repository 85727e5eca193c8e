/*
 * ops.c - what operators and Kubernetes ask over HTTP.
 *
 *   /healthz  200 while the loop thread runs (it answers this itself)
 *   /readyz   200 when NATS is connected, the streams and consumers are
 *             ensured, the database is open and, if it is new, has read
 *             its own stream to the end (D28); 503 with the failing checks
 *   /metrics  Prometheus text format
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox.h"
#include "runtime.h"

static void respond_json(struct http_response *ret, int status, cJSON *body)
{
    ret->status = status;
    ret->content_type = "application/json";
    ret->body = cJSON_PrintUnformatted(body);
    ret->body_len = ret->body ? strlen(ret->body) : 0;
    cJSON_Delete(body);
}

static void refresh_gauges(struct service *svc)
{
    int64_t pending = 0;
    struct checkpoint_stats checkpoints = store_checkpoint_stats(svc->store);

    *svc->metric_checkpoints = (double)checkpoints.runs;
    *svc->metric_checkpoint_backstops = (double)checkpoints.backstop;
    *svc->metric_connected = bus_is_connected(svc->bus) ? 1 : 0;
    *svc->metric_ready = svc->ready && !svc->catching_up ? 1 : 0;
    if (outbox_pending(svc->store, &pending, NULL) == LB_OK)
        *svc->metric_outbox_pending = (double)pending;
    *svc->metric_virtual_now =
        svc->clock.mode == CLOCK_VIRTUAL ? (double)svc->clock.virtual_ms / 1000.0 : 0;
}

/* The database answers a trivial query (the file is open and readable). */
static bool database_answers(struct service *svc)
{
    static const char sql[] = "SELECT 1";
    sqlite3_stmt *stmt;
    bool ok;

    if (svc->store == NULL)
        return false;
    stmt = store_stmt(svc->store, sql, NULL);
    if (stmt == NULL)
        return false;
    ok = sqlite3_step(stmt) == SQLITE_ROW;
    sqlite3_reset(stmt);
    return ok;
}

void ops_handle(void *ctx, const char *path, struct http_response *ret)
{
    struct service *svc = ctx;
    cJSON *body = cJSON_CreateObject();

    if (strcmp(path, "/healthz") == 0) {
        cJSON_AddStringToObject(body, "status", "ok");
        cJSON_AddStringToObject(body, "service", svc->def->name);
        respond_json(ret, 200, body);
    } else if (strcmp(path, "/readyz") == 0) {
        bool nats = bus_is_connected(svc->bus);
        bool database = database_answers(svc);
        cJSON *checks = cJSON_AddObjectToObject(body, "checks");

        bool ready = nats && svc->ready && database && !svc->catching_up;

        cJSON_AddBoolToObject(body, "ready", ready);
        cJSON_AddBoolToObject(checks, "nats", nats);
        cJSON_AddBoolToObject(checks, "jetstream", svc->ready);
        cJSON_AddBoolToObject(checks, "database", database);
        cJSON_AddBoolToObject(checks, "caught_up", !svc->catching_up);
        respond_json(ret, ready ? 200 : 503, body);
    } else if (strcmp(path, "/metrics") == 0) {
        cJSON_Delete(body);
        refresh_gauges(svc);
        ret->content_type = "text/plain; version=0.0.4";
        if (metrics_render(svc->metrics, &ret->body, &ret->body_len) == LB_OK) {
            ret->status = 200;
        } else {
            ret->status = 500;
            ret->body = NULL;
            ret->body_len = 0;
        }
    } else {
        cJSON_AddStringToObject(body, "error", "not found");
        respond_json(ret, 404, body);
    }
}
