/*
 * test_nats_security.c - deploy/nats/auth.conf on a real nats-server: each
 * service runs with only its own permissions, cannot publish on another
 * service's subjects, platform publishers cannot call operator commands
 * (lb.adm.>), and read-only clients can only query.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

/* The asynchronous errors the server sent a client (permission violations). */
struct violations {
    pthread_mutex_t lock;
    int count;
    char last[512];
};

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    struct violations *v = closure;
    const char *text = NULL;

    (void)sub;
    natsConnection_GetLastError(nc, &text);
    pthread_mutex_lock(&v->lock);
    if (err == NATS_NOT_PERMITTED) {
        v->count++;
        snprintf(v->last, sizeof(v->last), "%s", text ? text : "");
    }
    pthread_mutex_unlock(&v->lock);
}

static natsConnection *connect_as(const struct nats_server *ns, const char *user,
                                  struct violations *v)
{
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    char url[128];

    snprintf(url, sizeof(url), "nats://%s:pw-%s@127.0.0.1:%d", user, user, ns->port);
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetErrorHandler(o, on_error, v);
    if (natsConnection_Connect(&nc, o) != NATS_OK)
        fail_msg("%s cannot connect", user);
    natsOptions_Destroy(o);
    return nc;
}

/* Waits for one more permission violation naming `subject`. */
static void assert_denied(struct violations *v, int before, const char *subject)
{
    int64_t deadline = nats_Now() + HARNESS_WAIT_MS;

    for (;;) {
        bool seen;

        pthread_mutex_lock(&v->lock);
        seen = v->count > before && strstr(v->last, subject) != NULL;
        pthread_mutex_unlock(&v->lock);
        if (seen)
            return;
        if (nats_Now() > deadline)
            fail_msg("no permission violation for %s (last: %s)", subject, v->last);
        nats_Sleep(10);
    }
}

static void test_permissions(void **state)
{
    const char *const users[] = {"TALLY",     "PLATFORM", "READER",        "ADMIN",
                                 "LICENSING", "USAGE",    "SUBSCRIPTIONS", "REPORTING"};
    const char *const tally_env[] = {"LB_NATS_USER=tally", "LB_NATS_PASSWORD=pw-tally", NULL};
    struct violations v = {0};
    struct nats_server ns;
    struct service_proc tally = {0};
    char path[512];
    char data[256];
    char *auth;
    natsConnection *platform, *as_tally, *reader, *admin;
    natsMsg *reply = NULL;
    int before;

    (void)state;
    pthread_mutex_init(&v.lock, NULL);
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        char name[64], value[64], lower[16];

        for (size_t k = 0; k <= strlen(users[i]); k++)
            lower[k] =
                (char)(users[i][k] >= 'A' && users[i][k] <= 'Z' ? users[i][k] + 32 : users[i][k]);
        snprintf(name, sizeof(name), "LB_NATS_PASSWORD_%s", users[i]);
        snprintf(value, sizeof(value), "pw-%s", lower);
        setenv(name, value, 1);
    }
    snprintf(path, sizeof(path), "%s/deploy/nats/auth.conf", getenv("LB_SOURCE_DIR"));
    auth = harness_slurp(path);
    assert_non_null(auth);
    harness_nats_start(&ns, auth);
    free(auth);
    harness_tmpdir(data, "data");

    /* The service's own permissions are enough for everything it does. */
    harness_service_start(&tally, "tally", &ns, data, tally_env);
    platform = connect_as(&ns, "platform", &v);
    assert_int_equal(natsConnection_RequestString(&reply, platform, "lb.api.tally.add",
                                                  "{\"tenant\":\"acme\",\"counter\":\"c\","
                                                  "\"amount\":1}",
                                                  HARNESS_WAIT_MS),
                     NATS_OK);
    assert_non_null(strstr(natsMsg_GetData(reply), "\"value\":1"));
    natsMsg_Destroy(reply);

    /* Under its own permissions the service consumes and emits through JetStream. */
    {
        jsCtx *js = harness_js(platform);
        char *event =
            harness_event("01JSEC00000000000000000001", "licensebus.sample.increment.v1", "acme",
                          "2026-11-22T10:00:00Z", "{\"counter\":\"c\",\"amount\":5}");

        harness_js_publish(js, "lb.evt.sample.acme.increment", "01JSEC00000000000000000001", event,
                           strlen(event));
        free(event);
        harness_wait_metric(tally.http_port, "lb_events_applied_total", 1);
        jsCtx_Destroy(js);
    }
    admin = connect_as(&ns, "admin", &v);
    {
        jsCtx *js = harness_js(admin);

        assert_int_equal(
            harness_wait_stream(js, "LB_TALLY", "lb.evt.tally.acme.counter_changed", 2), 2);
        jsCtx_Destroy(js);
    }

    /* A platform publisher cannot call operator commands or emit a service's events. */
    before = v.count;
    natsConnection_PublishString(platform, "lb.adm.tally.rebuild", "{}");
    assert_denied(&v, before, "lb.adm.tally.rebuild");
    /* ...nor change the catalogs, which are the operators'. */
    before = v.count;
    natsConnection_PublishString(platform, "lb.api.licensing.product_add", "{}");
    assert_denied(&v, before, "lb.api.licensing.product_add");
    before = v.count;
    natsConnection_PublishString(platform, "lb.api.subscriptions.package_update", "{}");
    assert_denied(&v, before, "lb.api.subscriptions.package_update");
    before = v.count;
    natsConnection_PublishString(platform, "lb.evt.tally.acme.counter_changed", "{}");
    assert_denied(&v, before, "lb.evt.tally.acme.counter_changed");

    /* A service cannot publish on another service's subjects or answer its requests. */
    as_tally = connect_as(&ns, "tally", &v);
    before = v.count;
    natsConnection_PublishString(as_tally, "lb.evt.licensing.acme.license_issued", "{}");
    assert_denied(&v, before, "lb.evt.licensing.acme.license_issued");
    before = v.count;
    natsSubscription *sub = NULL;
    natsConnection_SubscribeSync(&sub, as_tally, "lb.api.licensing.>");
    assert_denied(&v, before, "lb.api.licensing.>");
    natsSubscription_Destroy(sub);

    /* A read-only client queries but cannot command. */
    reader = connect_as(&ns, "reader", &v);
    assert_int_equal(natsConnection_RequestString(&reply, reader, "lb.api.tally.get",
                                                  "{\"tenant\":\"acme\",\"counter\":\"c\"}",
                                                  HARNESS_WAIT_MS),
                     NATS_OK);
    natsMsg_Destroy(reply);
    before = v.count;
    natsConnection_PublishString(reader, "lb.api.tally.add", "{}");
    assert_denied(&v, before, "lb.api.tally.add");

    /* The operator may: tally (allowed to listen on lb.adm.tally.>) schedules a rebuild and
     * exits by itself. */
    before = v.count;
    assert_int_equal(
        natsConnection_RequestString(&reply, admin, "lb.adm.tally.rebuild", "{}", HARNESS_WAIT_MS),
        NATS_OK);
    assert_non_null(strstr(natsMsg_GetData(reply), "rebuild_scheduled"));
    natsMsg_Destroy(reply);
    assert_int_equal(v.count, before);

    assert_int_equal(harness_service_wait_exit(&tally, HARNESS_WAIT_MS), 0);
    natsConnection_Destroy(platform);
    natsConnection_Destroy(as_tally);
    natsConnection_Destroy(reader);
    natsConnection_Destroy(admin);
    harness_nats_stop(&ns);
    harness_rmdir(data);
    pthread_mutex_destroy(&v.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permissions),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
