/*
 * test_subscriptions_flow.c - the subscriptions service on a real
 * nats-server, driven only through its subjects: customers from directory
 * events, the subscription lifecycle, seats following group membership
 * (out-of-order membership included), entitlements, inactivation refused
 * while agents are installed, and the trial sweep on the virtual clock
 * (exactly once through a jump, a backwards tick, a restart and a replay).
 * Every reply and every emitted event is validated against schemas/ by the
 * contract tools (node + Ajv) at the end of each test.
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
#include "ids.h"

#define TENANT "dist-1"
#define T0     "2026-11-22T10:00:00.000Z"
#define MSP    "\"caller\":{\"org\":\"msp-3\",\"user\":\"ana@msp3.example\"}"
#define ADMIN  "\"caller\":{\"org\":\"cust-7\",\"user\":\"bo@acme.example\"}"
#define SUBS   "lb.evt.subscriptions." TENANT "."

static const char *const env[] = {"LB_CLOCK=virtual", NULL};

struct fixture {
    struct nats_server ns;
    struct service_proc svc;
    natsConnection *nc;
    jsCtx *js;
    char data[256];
    char seen_path[300]; /* JSON lines {schema, doc} validated at teardown */
    FILE *seen;
    int seq;
    int ticks;
    double applied;
};

static int64_t t0_ms(void)
{
    int64_t t;

    assert_int_equal(envelope_parse_time(T0, &t), LB_OK);
    return t;
}

static void record(struct fixture *f, const char *schema, const char *doc)
{
    fprintf(f->seen, "{\"schema\":\"%s\",\"doc\":%s}\n", schema, doc);
}

/* Publishes a platform event and waits until it is applied. */
static void apply(struct fixture *f, const char *domain, const char *name, const char *data)
{
    char id[32];
    char subject[128];
    char type[128];
    char *event;

    snprintf(id, sizeof(id), "01JSUBSF%018d", ++f->seq);
    snprintf(subject, sizeof(subject), "lb.evt.%s." TENANT ".%s", domain, name);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    event = harness_event(id, type, TENANT, T0, data);
    harness_js_publish(f->js, subject, id, event, strlen(event));
    free(event);
    f->applied++;
    harness_wait_metric(f->svc.http_port, "lb_events_applied_total", f->applied);
}

/* Moves the virtual clock to T0 + `offset_min` minutes and waits until it is applied. */
static void tick(struct fixture *f, int offset_min)
{
    int64_t to = t0_ms() + (int64_t)offset_min * 60000;
    char now[32];
    char data[64];
    char id[32];
    char *event;

    envelope_format_time(to, now);
    snprintf(data, sizeof(data), "{\"now\":\"%s\"}", now);
    snprintf(id, sizeof(id), "01JSUBSTICK%015d", ++f->ticks);
    event = harness_event(id, "licensebus.clock.tick.v1", "_sys", now, data);
    harness_js_publish(f->js, "lb.evt.clock._sys.tick", id, event, strlen(event));
    free(event);
    f->applied++;
    harness_wait_metric(f->svc.http_port, "lb_events_applied_total", f->applied);
}

static void org(struct fixture *f, const char *id, const char *parent, const char *kind)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"%s\",\"kind\":\"%s\"}", id,
             parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
    apply(f, "directory", "org_created", data);
}

/* dist-1 -> msp-3 -> cust-7 -> site-7 ; dist-1 -> msp-4 -> cust-8 */
static void tree(struct fixture *f)
{
    org(f, "dist-1", NULL, "distributor");
    org(f, "msp-3", "dist-1", "msp");
    org(f, "msp-4", "dist-1", "msp");
    org(f, "cust-7", "msp-3", "customer");
    org(f, "cust-8", "msp-4", "customer");
    org(f, "site-7", "cust-7", "suborg");
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int fd;

    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "data");
    harness_service_start(&f->svc, "subscriptions", &f->ns, f->data, env);
    f->nc = harness_connect(&f->ns);
    f->js = harness_js(f->nc);
    snprintf(f->seen_path, sizeof(f->seen_path), "/tmp/lb-subs-seen-XXXXXX");
    fd = mkstemp(f->seen_path);
    assert_true(fd >= 0);
    f->seen = fdopen(fd, "w");
    *state = f;
    tick(f, 0);
    tree(f);
    return 0;
}

/* Every event in LB_SUBSCRIPTIONS goes to the validation file too. */
static void record_stream(struct fixture *f)
{
    natsMsg **msgs;
    size_t n = harness_stream_messages(f->js, "LB_SUBSCRIPTIONS", "lb.evt.subscriptions.>", &msgs);

    for (size_t i = 0; i < n; i++) {
        const char *subject = natsMsg_GetSubject(msgs[i]);
        const char *name = strrchr(subject, '.') + 1;
        char schema[128];
        char *doc = strndup(natsMsg_GetData(msgs[i]), (size_t)natsMsg_GetDataLength(msgs[i]));

        snprintf(schema, sizeof(schema), "events/subscriptions.%s.v1.json", name);
        record(f, schema, doc);
        free(doc);
    }
    harness_free_messages(msgs, n);
}

/* Validates everything recorded with the contract's own Ajv set-up. */
static void validate_seen(struct fixture *f)
{
    const char *src = getenv("LB_SOURCE_DIR");
    char cmd[2048];
    int rc;

    fclose(f->seen);
    f->seen = NULL;
    if (src == NULL || system("command -v node >/dev/null 2>&1") != 0) {
        print_message("      (node or LB_SOURCE_DIR missing: messages not validated)\n");
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "cd '%s/tests/contract' && node --input-type=module -e \""
             "import { loadAjv, validator } from './lib.mjs';"
             "import { readFileSync } from 'node:fs';"
             "const { ajv } = loadAjv(); let n = 0;"
             "for (const line of readFileSync('%s', 'utf8').split('\\n').filter(Boolean)) {"
             "  const { schema, doc } = JSON.parse(line);"
             "  validator(ajv, schema)(doc, schema + ' #' + n); n++; }"
             "console.log('      ' + n + ' messages valid against schemas/');\"",
             src, f->seen_path);
    rc = system(cmd);
    assert_int_equal(rc, 0);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->seen != NULL) {
        record_stream(f);
        validate_seen(f);
    }
    unlink(f->seen_path);
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->svc.pid > 0)
        harness_service_stop(&f->svc, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    free(f);
    return 0;
}

/* Sends a request (printf-style body); returns the parsed reply, recorded for validation. */
static cJSON *req(struct fixture *f, const char *endpoint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cJSON *req(struct fixture *f, const char *endpoint, const char *fmt, ...)
{
    char body[4096];
    char subject[128];
    char schema[128];
    va_list ap;
    natsMsg *reply;
    cJSON *json;
    char *text;

    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    snprintf(subject, sizeof(subject), "lb.api.subscriptions.%s", endpoint);
    reply = harness_request(f->nc, subject, body, strlen(body));
    json = harness_reply_json(reply);
    text = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    if (cJSON_GetObjectItem(json, "error") != NULL)
        snprintf(schema, sizeof(schema), "error.json");
    else
        snprintf(schema, sizeof(schema), "api/subscriptions.%s.reply.json", endpoint);
    record(f, schema, text);
    free(text);
    natsMsg_Destroy(reply);
    return json;
}

static const char *str(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));

    return s ? s : "(none)";
}

static double num(const cJSON *o, const char *name)
{
    const cJSON *n = cJSON_GetObjectItem(o, name);

    return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

/* Asserts an error reply with `code` whose message contains `part`. */
static void assert_error(cJSON *reply, const char *code, const char *part)
{
    const cJSON *error = cJSON_GetObjectItem(reply, "error");

    if (error == NULL)
        fail_msg("expected error %s, got a reply", code);
    if (strcmp(str(error, "code"), code) != 0 || strstr(str(error, "message"), part) == NULL)
        fail_msg("expected %s \"...%s...\", got %s \"%s\"", code, part, str(error, "code"),
                 str(error, "message"));
    cJSON_Delete(reply);
}

static void assert_ok(cJSON *reply)
{
    const cJSON *error = cJSON_GetObjectItem(reply, "error");

    if (error != NULL)
        fail_msg("unexpected error %s: %s", str(error, "code"), str(error, "message"));
}

/* The data of every event `name` in the stream, in order (a cJSON array; caller frees). */
static cJSON *events(struct fixture *f, const char *name)
{
    char filter[128];
    natsMsg **msgs;
    size_t n;
    cJSON *list = cJSON_CreateArray();

    snprintf(filter, sizeof(filter), SUBS "%s", name);
    n = harness_stream_messages(f->js, "LB_SUBSCRIPTIONS", filter, &msgs);
    for (size_t i = 0; i < n; i++) {
        cJSON *ev =
            cJSON_ParseWithLength(natsMsg_GetData(msgs[i]), (size_t)natsMsg_GetDataLength(msgs[i]));

        cJSON_AddItemToArray(list, cJSON_DetachItemFromObject(ev, "data"));
        cJSON_Delete(ev);
    }
    harness_free_messages(msgs, n);
    return list;
}

/* Waits for `count` events `name`, then returns them all. */
static cJSON *wait_events(struct fixture *f, const char *name, size_t count)
{
    char filter[128];

    snprintf(filter, sizeof(filter), SUBS "%s", name);
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", filter, count);
    return events(f, name);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_lifecycle(void **state)
{
    struct fixture *f = *state;
    cJSON *r;
    cJSON *list;

    /* Customers came from the directory's org_created of kind customer. */
    list = wait_events(f, "customer_changed", 2);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "customer"), "cust-7");
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "actor"), "directory");
    cJSON_Delete(list);
    r = req(f, "customer_get", "{\"tenant\":\"" TENANT "\"," ADMIN ",\"customer\":\"cust-7\"}");
    assert_ok(r);
    assert_string_equal(str(r, "status"), "active");
    assert_string_equal(str(r, "billing"), "running");
    cJSON_Delete(r);

    r = req(f, "subscription_create",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core_plus\","
            "\"seat_basis\":\"users\",\"quantity\":50,\"trial_end\":\"2026-12-22T10:00:00Z\","
            "\"subscription\":\"sub-1\"}");
    assert_ok(r);
    assert_string_equal(str(r, "status"), "in_trial");
    assert_string_equal(str(r, "trial_end"), "2026-12-22T10:00:00.000Z");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(r, "billing_start")));
    cJSON_Delete(r);
#define SUB1 "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-1\"}"
    r = req(f, "subscription_convert", SUB1);
    assert_ok(r);
    assert_string_equal(str(r, "status"), "active");
    assert_string_equal(str(r, "billing_start"), T0); /* converted by hand: now */
    cJSON_Delete(r);
    r = req(f, "subscription_set_quantity",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-1\",\"quantity\":75}");
    assert_ok(r);
    assert_int_equal(num(r, "quantity"), 75);
    assert_int_equal(num(r, "version"), 3);
    cJSON_Delete(r);
    /* The same quantity again changes nothing and emits nothing. */
    r = req(f, "subscription_set_quantity",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-1\",\"quantity\":75}");
    assert_int_equal(num(r, "version"), 3);
    cJSON_Delete(r);
    r = req(f, "subscription_suspend", SUB1);
    assert_string_equal(str(r, "status"), "suspended");
    cJSON_Delete(r);
    r = req(f, "subscription_reactivate", SUB1);
    assert_string_equal(str(r, "status"), "active");
    cJSON_Delete(r);
    r = req(f, "subscription_cancel", SUB1);
    assert_string_equal(str(r, "status"), "cancelled");
    assert_string_equal(str(r, "billing_end"), T0);
    cJSON_Delete(r);
    /* A conversion after cancellation is a conflict with a precise message. */
    assert_error(req(f, "subscription_convert", SUB1), "conflict",
                 "cannot convert subscription sub-1: it is cancelled; only an in_trial "
                 "subscription can be converted");
    r = req(f, "subscription_list",
            "{\"tenant\":\"" TENANT "\"," ADMIN ",\"customer\":\"cust-7\"}");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "subscriptions")), 1);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
    cJSON_Delete(r);

    list = wait_events(f, "subscription_changed", 6);
    {
        static const char *const changes[] = {"created",   "converted",   "quantity_changed",
                                              "suspended", "reactivated", "cancelled"};

        assert_int_equal(cJSON_GetArraySize(list), 6);
        for (int i = 0; i < 6; i++) {
            const cJSON *ev = cJSON_GetArrayItem(list, i);

            assert_string_equal(str(ev, "change"), changes[i]);
            assert_int_equal(num(ev, "version"), i + 1);
            assert_string_equal(str(ev, "actor"), "ana@msp3.example");
            assert_string_equal(str(ev, "customer"), "cust-7");
        }
    }
    cJSON_Delete(list);

    /* Without an id, the new id is derived from the request id. */
    r = req(f, "subscription_create",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core\","
            "\"seat_basis\":\"devices\",\"quantity\":3}");
    assert_ok(r);
    assert_int_equal(strlen(str(r, "subscription")), ID_LEN);
    assert_string_equal(str(r, "status"), "active");
    cJSON_Delete(r);
}

/* Seats follow membership; several attached groups give one seat; order does not matter. */
static void test_groups_and_seats(void **state)
{
    struct fixture *f = *state;
    cJSON *r;
    cJSON *list;

#define ENTITLED(user, feature)                                                                    \
    req(f, "entitled",                                                                             \
        "{\"tenant\":\"" TENANT "\",\"caller\":{\"org\":\"dist-1\",\"user\":\"svc:usage\"},"       \
        "\"customer\":\"cust-7\",\"user\":\"" user "\",\"feature\":\"" feature "\"}")
    apply(f, "directory", "group_created", "{\"group\":\"g-a\",\"org\":\"cust-7\",\"name\":\"A\"}");
    apply(f, "directory", "group_created", "{\"group\":\"g-b\",\"org\":\"site-7\",\"name\":\"B\"}");
    /* A membership of a group not created yet is recorded anyway. */
    apply(f, "directory", "group_member_added", "{\"group\":\"g-z\",\"user\":\"u3\"}");
    apply(f, "directory", "group_member_added", "{\"group\":\"g-a\",\"user\":\"u1\"}");
    apply(f, "directory", "group_member_added", "{\"group\":\"g-b\",\"user\":\"u1\"}");
    apply(f, "directory", "group_member_added", "{\"group\":\"g-b\",\"user\":\"u2\"}");
    r = req(f, "subscription_create",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core_plus\","
            "\"seat_basis\":\"users\",\"quantity\":10,\"subscription\":\"sub-1\"}");
    assert_ok(r);
    cJSON_Delete(r);
    r = ENTITLED("u1", "file_sandbox");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "entitled")));
    assert_string_equal(str(r, "reason"), "no_seat");
    cJSON_Delete(r);

#define GROUP(endpoint, group)                                                                     \
    req(f, endpoint,                                                                               \
        "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-1\",\"group\":\"" group       \
        "\"}")
    /* The customer's own admin attaches groups. */
    r = GROUP("group_attach", "g-b");
    assert_ok(r);
    assert_int_equal(num(r, "seats_assigned"), 2);
    cJSON_Delete(r);
    r = GROUP("group_attach", "g-a");
    assert_int_equal(num(r, "seats_assigned"), 2); /* u1 is covered already: one seat */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "groups")), 2);
    cJSON_Delete(r);
    list = wait_events(f, "seat_assigned", 2);
    assert_int_equal(cJSON_GetArraySize(list), 2);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "user"), "u1");
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "group"), "g-b");
    cJSON_Delete(list);

    r = ENTITLED("u1", "file_sandbox");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "entitled")));
    assert_string_equal(str(r, "reason"), "seat");
    assert_string_equal(str(r, "subscription"), "sub-1");
    cJSON_Delete(r);
    r = ENTITLED("u1", "teleport");
    assert_string_equal(str(r, "reason"), "unknown_feature");
    cJSON_Delete(r);

    /* u1 leaves g-a but g-b still holds them: no event. u4 joins g-a later: assigned. */
    apply(f, "directory", "group_member_removed", "{\"group\":\"g-a\",\"user\":\"u1\"}");
    apply(f, "directory", "group_member_added", "{\"group\":\"g-a\",\"user\":\"u4\"}");
    list = wait_events(f, "seat_assigned", 3);
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "user"), "u4");
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "group"), "g-a");
    cJSON_Delete(list);
    /* A repeated add and the removal of a non-member change nothing. */
    apply(f, "directory", "group_member_added", "{\"group\":\"g-a\",\"user\":\"u4\"}");
    apply(f, "directory", "group_member_removed", "{\"group\":\"g-a\",\"user\":\"u9\"}");

    r = GROUP("group_detach", "g-b"); /* u1 and u2 lose their seat, u4 keeps it */
    assert_int_equal(num(r, "seats_assigned"), 1);
    cJSON_Delete(r);
    list = wait_events(f, "seat_unassigned", 2);
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "user"), "u1");
    assert_string_equal(str(cJSON_GetArrayItem(list, 0), "reason"), "group_detached");
    assert_string_equal(str(cJSON_GetArrayItem(list, 1), "user"), "u2");
    cJSON_Delete(list);

    /* The membership recorded before its group existed assigns u3 once g-z is attached. */
    apply(f, "directory", "group_created", "{\"group\":\"g-z\",\"org\":\"cust-7\",\"name\":\"Z\"}");
    r = GROUP("group_attach", "g-z");
    assert_int_equal(num(r, "seats_assigned"), 2);
    cJSON_Delete(r);
    apply(f, "directory", "user_deleted", "{\"user\":\"u3\"}");
    apply(f, "directory", "group_deleted", "{\"group\":\"g-a\"}");
    list = wait_events(f, "seat_unassigned", 4);
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "user"), "u3");
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "reason"), "user_deleted");
    assert_string_equal(str(cJSON_GetArrayItem(list, 3), "user"), "u4");
    assert_string_equal(str(cJSON_GetArrayItem(list, 3), "reason"), "group_deleted");
    cJSON_Delete(list);

    /* Cancelling unassigns what is left. */
    apply(f, "directory", "group_member_added", "{\"group\":\"g-z\",\"user\":\"u5\"}");
    r = req(f, "subscription_cancel", SUB1);
    assert_int_equal(num(r, "seats_assigned"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "groups")), 0);
    cJSON_Delete(r);
    list = wait_events(f, "seat_unassigned", 5);
    assert_int_equal(cJSON_GetArraySize(list), 5);
    assert_string_equal(str(cJSON_GetArrayItem(list, 4), "user"), "u5");
    assert_string_equal(str(cJSON_GetArrayItem(list, 4), "reason"), "subscription_cancelled");
    cJSON_Delete(list);
    list = events(f, "seat_assigned");
    assert_int_equal(cJSON_GetArraySize(list), 5); /* u1, u2, u4, u3, u5 */
    cJSON_Delete(list);
}

/* No inactivation while agents are installed; then login and billing stop. */
static void test_customer_inactivation(void **state)
{
    struct fixture *f = *state;
    cJSON *r;
    cJSON *list;

#define CUST(endpoint)                                                                             \
    req(f, endpoint, "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\"}")
    apply(f, "agents", "device_installed",
          "{\"device\":\"d-1\",\"org\":\"site-7\",\"kind\":\"business\",\"hostname\":\"h1\"}");
    apply(f, "agents", "device_installed",
          "{\"device\":\"d-2\",\"org\":\"cust-7\",\"kind\":\"personal\",\"hostname\":\"h2\","
          "\"os\":\"linux\"}");
    r = req(f, "subscription_create",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":\"core\","
            "\"seat_basis\":\"devices\",\"quantity\":5,\"subscription\":\"sub-d\"}");
    cJSON_Delete(r);
    r = req(f, "entitled",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"device\":\"d-1\","
            "\"feature\":\"web_protection\"}");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "entitled")));
    assert_string_equal(str(r, "reason"), "device_covered");
    cJSON_Delete(r);
    assert_error(CUST("customer_inactivate"), "conflict",
                 "customer cust-7 still has 2 agent(s) installed");
    apply(f, "agents", "device_uninstalled", "{\"device\":\"d-1\"}");
    apply(f, "agents", "device_uninstalled", "{\"device\":\"d-9\"}"); /* never seen: recorded */
    assert_error(CUST("customer_inactivate"), "conflict", "still has 1 agent(s) installed");
    apply(f, "agents", "device_uninstalled", "{\"device\":\"d-2\"}");
    r = CUST("customer_inactivate");
    assert_ok(r);
    assert_string_equal(str(r, "status"), "inactive");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "login_enabled")));
    assert_string_equal(str(r, "billing"), "stopped");
    cJSON_Delete(r);
    list = wait_events(f, "customer_changed", 3);
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "change"), "inactivated");
    assert_string_equal(str(cJSON_GetArrayItem(list, 2), "billing"), "stopped");
    cJSON_Delete(list);
    /* Nothing was deleted: the subscription is there, granting nothing. */
    r = req(f, "entitled",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\","
            "\"feature\":\"web_protection\"}");
    assert_string_equal(str(r, "reason"), "customer_inactive");
    cJSON_Delete(r);
    assert_error(req(f, "subscription_create",
                     "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":"
                     "\"core\",\"seat_basis\":\"users\",\"quantity\":1}"),
                 "conflict", "customer cust-7 is inactive");
    assert_error(CUST("customer_inactivate"), "conflict", "inactive already");
    r = CUST("customer_reactivate");
    assert_string_equal(str(r, "status"), "active");
    cJSON_Delete(r);
    r = req(f, "entitled",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"device\":\"d-2\","
            "\"feature\":\"web_protection\"}");
    assert_string_equal(str(r, "reason"), "device_not_installed");
    cJSON_Delete(r);
}

static size_t converted_by_sweep(struct fixture *f)
{
    cJSON *list = events(f, "subscription_changed");
    const cJSON *ev;
    size_t n = 0;

    cJSON_ArrayForEach(ev, list)
    {
        if (strcmp(str(ev, "change"), "converted") == 0 &&
            strcmp(str(ev, "actor"), "trial_sweep") == 0)
            n++;
    }
    cJSON_Delete(list);
    return n;
}

static void create_trial(struct fixture *f, const char *id, const char *trial_end)
{
    cJSON *r = req(f, "subscription_create",
                   "{\"tenant\":\"" TENANT "\"," MSP ",\"customer\":\"cust-7\",\"package\":"
                   "\"core\",\"seat_basis\":\"users\",\"quantity\":5,\"trial_end\":\"%s\","
                   "\"subscription\":\"%s\"}",
                   trial_end, id);

    assert_ok(r);
    cJSON_Delete(r);
}

/* Trials convert at their end exactly once: jump, backwards tick, restart, replay. */
static void test_trial_sweep(void **state)
{
    struct fixture *f = *state;
    jsErrCode jerr = 0;
    natsMsg **msgs;
    const char *msg_id = NULL;
    char expected[ID_LEN + 1];
    char cause[64];
    cJSON *r;
    size_t n;

    create_trial(f, "sub-t1", "2026-11-22T10:10:00Z");
    create_trial(f, "sub-t2", "2026-11-22T10:20:00Z");
    create_trial(f, "sub-t3", "2026-11-24T10:00:00Z");
    r = req(f, "subscription_convert",
            "{\"tenant\":\"" TENANT "\"," MSP ",\"subscription\":\"sub-t2\"}");
    assert_ok(r);
    cJSON_Delete(r);
    tick(f, 5);
    assert_int_equal(converted_by_sweep(f), 0);
    tick(f, 15); /* sub-t1's trial ended at 10:10 */
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", SUBS "subscription_changed", 5);
    assert_int_equal(converted_by_sweep(f), 1);
    r = req(f, "subscription_get",
            "{\"tenant\":\"" TENANT "\"," ADMIN ",\"subscription\":\"sub-t1\"}");
    assert_string_equal(str(r, "status"), "active");
    assert_string_equal(str(r, "billing_start"), "2026-11-22T10:10:00.000Z"); /* = trial end */
    cJSON_Delete(r);
    tick(f, 3 * 24 * 60); /* a jump of three days: sub-t3 */
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", SUBS "subscription_changed", 6);
    tick(f, 24 * 60); /* backwards: ignored */
    assert_int_equal(harness_service_stop(&f->svc, SIGTERM, HARNESS_WAIT_MS), 0);
    harness_service_start(&f->svc, "subscriptions", &f->ns, f->data, env);
    f->applied = 0;
    tick(f, 4 * 24 * 60);
    assert_int_equal(converted_by_sweep(f), 2);

    /* A replay of every stream from the start changes nothing. */
    assert_int_equal(harness_service_stop(&f->svc, SIGTERM, HARNESS_WAIT_MS), 0);
    assert_int_equal(js_DeleteConsumer(f->js, "LB_CLOCK", "subscriptions-clock", NULL, &jerr),
                     NATS_OK);
    assert_int_equal(
        js_DeleteConsumer(f->js, "LB_DIRECTORY", "subscriptions-directory", NULL, &jerr), NATS_OK);
    harness_service_start(&f->svc, "subscriptions", &f->ns, f->data, env);
    harness_wait_metric(f->svc.http_port, "lb_events_duplicate_total", 6 + f->ticks);
    f->applied = harness_metric(f->svc.http_port, "lb_events_applied_total");
    assert_int_equal(f->applied, 0);
    assert_int_equal(converted_by_sweep(f), 2);

    /* The sweep's event id is derived from its virtual time: the same in every replay. */
    n = harness_stream_messages(f->js, "LB_SUBSCRIPTIONS", SUBS "subscription_changed", &msgs);
    assert_int_equal(n, 6);
    assert_int_equal(natsMsgHeader_Get(msgs[4], "Nats-Msg-Id", &msg_id), NATS_OK);
    snprintf(cause, sizeof(cause), "sweep@%lld", (long long)(t0_ms() + 15 * 60000));
    id_derive(expected, t0_ms() + 15 * 60000, cause, "subscription_changed/0");
    assert_string_equal(msg_id, expected);
    harness_free_messages(msgs, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups_and_seats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_customer_inactivation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trial_sweep, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
