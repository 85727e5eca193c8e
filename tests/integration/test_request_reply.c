/*
 * test_request_reply.c - the request path of a real service on a real
 * nats-server: replies, the uniform error shape with the NATS service error
 * headers, input limits, and the discovery protocol.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "service.h"

struct fixture {
    struct nats_server ns;
    struct service_proc tally;
    natsConnection *nc;
    char data[256];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "data");
    harness_service_start(&f->tally, "tally", &f->ns, f->data, NULL);
    f->nc = harness_connect(&f->ns);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    natsConnection_Destroy(f->nc);
    if (f->tally.pid > 0)
        harness_service_stop(&f->tally, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    free(f);
    return 0;
}

/* Sends `body` to lb.api.tally.<endpoint> and returns the parsed reply. */
static cJSON *call(struct fixture *f, const char *endpoint, const char *body, natsMsg **ret_msg)
{
    char subject[64];
    natsMsg *reply;
    cJSON *json;

    snprintf(subject, sizeof(subject), "lb.api.tally.%s", endpoint);
    reply = harness_request(f->nc, subject, body, strlen(body));
    json = harness_reply_json(reply);
    if (ret_msg != NULL)
        *ret_msg = reply;
    else
        natsMsg_Destroy(reply);
    return json;
}

/* Asserts an error reply: body code and message, and both NATS service headers. */
static void assert_error(struct fixture *f, const char *endpoint, const char *body,
                         const char *code, const char *status, const char *message_part)
{
    natsMsg *reply;
    cJSON *json = call(f, endpoint, body, &reply);
    cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
    const char *header = NULL;
    const char *message;

    assert_non_null(error);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(error, "code")), code);
    message = cJSON_GetStringValue(cJSON_GetObjectItem(error, "message"));
    assert_non_null(message);
    if (strstr(message, message_part) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", message, message_part);
    assert_int_equal(natsMsgHeader_Get(reply, "Nats-Service-Error-Code", &header), NATS_OK);
    assert_string_equal(header, status);
    assert_int_equal(natsMsgHeader_Get(reply, "Nats-Service-Error", &header), NATS_OK);
    assert_string_equal(header, message);
    cJSON_Delete(json);
    natsMsg_Destroy(reply);
}

static void test_add_then_get(void **state)
{
    struct fixture *f = *state;
    cJSON *reply;

    reply = call(f, "add", "{\"tenant\":\"acme\",\"counter\":\"scans\",\"amount\":5}", NULL);
    assert_int_equal(cJSON_GetObjectItem(reply, "value")->valuedouble, 5);
    assert_int_equal(cJSON_GetObjectItem(reply, "version")->valuedouble, 1);
    cJSON_Delete(reply);
    reply = call(f, "add", "{\"tenant\":\"acme\",\"counter\":\"scans\",\"amount\":-2}", NULL);
    assert_int_equal(cJSON_GetObjectItem(reply, "value")->valuedouble, 3);
    cJSON_Delete(reply);
    reply = call(f, "get", "{\"tenant\":\"acme\",\"counter\":\"scans\"}", NULL);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reply, "tenant")), "acme");
    assert_int_equal(cJSON_GetObjectItem(reply, "value")->valuedouble, 3);
    assert_int_equal(cJSON_GetObjectItem(reply, "version")->valuedouble, 2);
    cJSON_Delete(reply);
}

/* Sends `body` to lb.api.tally.add with the header Lb-Request-Id: `id`. */
static cJSON *add_with_id(struct fixture *f, const char *id, const char *body)
{
    natsMsg *msg = NULL, *reply = NULL;
    cJSON *json;

    assert_int_equal(natsMsg_Create(&msg, "lb.api.tally.add", NULL, body, (int)strlen(body)),
                     NATS_OK);
    assert_int_equal(natsMsgHeader_Set(msg, "Lb-Request-Id", id), NATS_OK);
    assert_int_equal(natsConnection_RequestMsg(&reply, f->nc, msg, 5000), NATS_OK);
    json = harness_reply_json(reply);
    natsMsg_Destroy(reply);
    natsMsg_Destroy(msg);
    return json;
}

/* A retried command with its Lb-Request-Id gets the first reply and changes nothing again. */
static void test_request_id_makes_commands_idempotent(void **state)
{
    struct fixture *f = *state;
    const char *body = "{\"tenant\":\"acme\",\"counter\":\"retry\",\"amount\":4}";
    cJSON *first = add_with_id(f, "req-1", body);
    cJSON *again = add_with_id(f, "req-1", body);
    cJSON *other, *now;

    assert_int_equal(cJSON_GetObjectItem(first, "value")->valuedouble, 4);
    assert_true(cJSON_Compare(first, again, true));
    other = add_with_id(f, "req-1", "{\"tenant\":\"acme\",\"counter\":\"retry\",\"amount\":5}");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(other, "error"), "code")),
        "conflict");
    now = call(f, "get", "{\"tenant\":\"acme\",\"counter\":\"retry\"}", NULL);
    assert_int_equal(cJSON_GetObjectItem(now, "value")->valuedouble, 4);
    assert_int_equal(cJSON_GetObjectItem(now, "version")->valuedouble, 1);
    /* One change, one event. */
    {
        jsCtx *js = harness_js(f->nc);

        assert_int_equal(
            harness_wait_stream(js, "LB_TALLY", "lb.evt.tally.acme.counter_changed", 1), 1);
        nats_Sleep(200);
        assert_int_equal(
            harness_wait_stream(js, "LB_TALLY", "lb.evt.tally.acme.counter_changed", 1), 1);
        jsCtx_Destroy(js);
    }
    cJSON_Delete(first);
    cJSON_Delete(again);
    cJSON_Delete(other);
    cJSON_Delete(now);
}

static void test_bad_requests(void **state)
{
    struct fixture *f = *state;

    assert_error(f, "add", "not json", "invalid_request", "400", "");
    assert_error(f, "add", "", "invalid_request", "400", "");
    assert_error(f, "add", "[1,2]", "invalid_request", "400", "JSON object");
    assert_error(f, "add", "{\"tenant\":\"acme\",\"counter\":\"x\"}", "invalid_request", "400",
                 "amount");
    assert_error(f, "add", "{\"tenant\":\"acme\",\"counter\":\"x\",\"amount\":0}",
                 "invalid_request", "400", "amount");
    assert_error(f, "add", "{\"tenant\":\"acme\",\"counter\":\"x\",\"amount\":9007199254740993}",
                 "invalid_request", "400", "2^53");
    assert_error(f, "add",
                 "{\"tenant\":\"acme\",\"tenant\":\"evil\",\"counter\":\"x\",\"amount\":1}",
                 "invalid_request", "400", "duplicate");
    assert_error(f, "add", "{\"tenant\":\"ac.me\",\"counter\":\"x\",\"amount\":1}",
                 "invalid_request", "400", "tenant");
    assert_error(f, "add", "{\"tenant\":\"acme\",\"counter\":\"X Y\",\"amount\":1}",
                 "invalid_request", "400", "counter");
    assert_error(f, "add", "{\"tenant\":\"acme\",\"counter\":\"x\",\"amount\":1,\"extra\":1}",
                 "invalid_request", "400", "extra");
    assert_error(f, "get", "{\"tenant\":\"acme\",\"counter\":\"missing\"}", "not_found", "404",
                 "missing");
}

/* The request limit, at the limit and one past it. */
static void test_request_size_limit(void **state)
{
    struct fixture *f = *state;
    const char *head = "{\"tenant\":\"acme\",\"counter\":\"big\",\"pad\":\"";
    size_t limit = SERVICE_REQUEST_MAX_BYTES;
    char *body = malloc(limit + 2);

    assert_non_null(body);
    for (size_t size = limit; size <= limit + 1; size++) {
        memset(body, 'x', size);
        memcpy(body, head, strlen(head));
        memcpy(body + size - 2, "\"}", 2);
        body[size] = '\0';
        if (size == limit) /* read in full: refused for its content, not its size */
            assert_error(f, "get", body, "invalid_request", "400", "pad");
        else
            assert_error(f, "get", body, "too_large", "413", "65536");
    }
    free(body);
}

/* A request nobody can answer (no reply subject) must not hurt the service. */
static void test_publish_without_reply(void **state)
{
    struct fixture *f = *state;
    const char *body = "{\"tenant\":\"acme\",\"counter\":\"noreply\",\"amount\":1}";
    cJSON *reply;

    assert_int_equal(natsConnection_PublishString(f->nc, "lb.api.tally.add", body), NATS_OK);
    reply = call(f, "add", "{\"tenant\":\"acme\",\"counter\":\"after\",\"amount\":1}", NULL);
    assert_int_equal(cJSON_GetObjectItem(reply, "value")->valuedouble, 1);
    cJSON_Delete(reply);
    harness_wait_metric(f->tally.http_port, "lb_request_errors_total{endpoint=\"add\"}", 1);
}

static cJSON *discover(struct fixture *f, const char *subject)
{
    natsMsg *reply = harness_request(f->nc, subject, "", 0);
    cJSON *json = harness_reply_json(reply);

    natsMsg_Destroy(reply);
    return json;
}

static void test_discovery(void **state)
{
    struct fixture *f = *state;
    cJSON *ping = discover(f, "$SRV.PING.tally");
    char subject[128];
    cJSON *info;
    cJSON *stats;
    cJSON *endpoint;
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(ping, "id"));

    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ping, "type")),
                        "io.nats.micro.v1.ping_response");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(ping, "name")), "tally");
    assert_non_null(id);
    snprintf(subject, sizeof(subject), "$SRV.INFO.tally.%s", id);
    info = discover(f, subject);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(info, "type")),
                        "io.nats.micro.v1.info_response");
    assert_non_null(cJSON_GetStringValue(cJSON_GetObjectItem(info, "description")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(info, "endpoints")), 2);
    endpoint = cJSON_GetArrayItem(cJSON_GetObjectItem(info, "endpoints"), 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(endpoint, "subject")),
                        "lb.api.tally.add");
    cJSON_Delete(call(f, "get", "{\"tenant\":\"acme\",\"counter\":\"nothing\"}", NULL));
    stats = discover(f, "$SRV.STATS");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(stats, "type")),
                        "io.nats.micro.v1.stats_response");
    endpoint = cJSON_GetArrayItem(cJSON_GetObjectItem(stats, "endpoints"), 1);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(endpoint, "name")), "get");
    assert_true(cJSON_GetObjectItem(endpoint, "num_requests")->valuedouble >= 1);
    assert_true(cJSON_GetObjectItem(endpoint, "num_errors")->valuedouble >= 1);
    assert_non_null(
        strstr(cJSON_GetStringValue(cJSON_GetObjectItem(endpoint, "last_error")), "not_found"));
    cJSON_Delete(ping);
    cJSON_Delete(info);
    cJSON_Delete(stats);
}

static void test_probes(void **state)
{
    struct fixture *f = *state;
    char *body = NULL;

    assert_int_equal(harness_http_get(f->tally.http_port, "/healthz", &body), 200);
    assert_non_null(strstr(body, "\"ok\""));
    free(body);
    assert_int_equal(harness_http_get(f->tally.http_port, "/readyz", &body), 200);
    assert_non_null(strstr(body, "\"ready\":true"));
    free(body);
    assert_int_equal(harness_http_get(f->tally.http_port, "/metrics", &body), 200);
    assert_non_null(strstr(body, "# TYPE lb_requests_total counter"));
    assert_non_null(strstr(body, "lb_nats_connected 1"));
    free(body);
    assert_int_equal(harness_http_get(f->tally.http_port, "/nope", &body), 404);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_then_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_id_makes_commands_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_size_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_without_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_probes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
