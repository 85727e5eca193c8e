/*
 * test_subscriptions_rebuild.c - a rebuilt subscriptions database answers
 * like the original (issue 7 item 4, docs/decisions.md D23), on a real
 * nats-server, driven only through subjects.
 *
 * A realistic mix makes state through every path: directory org, group,
 * membership and user events, agents installs and uninstalls, package_add
 * and package_update, customers from the directory or by command,
 * subscription_create, set_quantity, suspend and reactivate, cancel, a
 * trial converted by hand and one by the sweep (clock ticks), groups
 * attached to two subscriptions, members joining before and after an
 * attachment and leaving, a group deleted while attached, a user deleted,
 * inactivation refused while an agent is installed, then allowed. Every
 * query's reply is recorded; the service is rebuilt with --rebuild and,
 * after one more change, with `lbctl rebuild subscriptions`; once it has
 * caught up with every stream each reply must be byte-identical, the
 * LB_SUBSCRIPTIONS stream must hold exactly the same messages (nothing
 * emitted twice, nothing new), and anything the rebuilding service
 * published on the way must be a byte-identical copy of a stored event.
 * Both with customers registered from the directory and by command; and on
 * the wall clock, where sweeps do not come at replayed times, a restore
 * spanning many sweeps converts no trial a second time.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "envelope.h"
#include "harness.h"
#include "ids.h"

#define SUBS_EVENT_ID_PREFIX "01JSUBSR"
#include "subscriptions_fixture.h"

#define T    "\"tenant\":\"" TENANT "\","
#define DIST "\"caller\":{\"org\":\"dist-1\",\"user\":\"dee@dist1.example\"}"

/* A rebuild reads the own stream to its end before anything else (D28). */
#define REBUILD_ENV "LB_ACK_WAIT=2s"
static const char *const env_by_directory[] = {"LB_CLOCK=virtual", REBUILD_ENV, NULL};
static const char *const env_by_command[] = {"LB_CLOCK=virtual", REBUILD_ENV,
                                             "LB_SUBSCRIPTIONS_AUTO_CUSTOMERS=false", NULL};

/* Sends a command that must succeed. */
#define OK(...) ok_reply(req(f, __VA_ARGS__))

static void ok_reply(cJSON *reply)
{
    assert_ok(reply);
    cJSON_Delete(reply);
}

static void group(struct fixture *f, const char *id, const char *org)
{
    char data[160];

    snprintf(data, sizeof(data), "{\"group\":\"%s\",\"org\":\"%s\",\"name\":\"%s\"}", id, org, id);
    apply(f, "directory", "group_created", data);
}

static void member(struct fixture *f, bool added, const char *grp, const char *user)
{
    char data[160];

    snprintf(data, sizeof(data), "{\"group\":\"%s\",\"user\":\"%s\"}", grp, user);
    apply(f, "directory", added ? "group_member_added" : "group_member_removed", data);
}

static void device(struct fixture *f, const char *id, const char *org)
{
    char data[200];

    if (org == NULL) {
        snprintf(data, sizeof(data), "{\"device\":\"%s\"}", id);
        apply(f, "agents", "device_uninstalled", data);
        return;
    }
    snprintf(data, sizeof(data),
             "{\"device\":\"%s\",\"org\":\"%s\",\"kind\":\"business\",\"hostname\":\"h-%s\"}", id,
             org, id);
    apply(f, "agents", "device_installed", data);
}

static void create(struct fixture *f, const char *id, const char *customer, const char *caller,
                   const char *package, const char *basis, int quantity, const char *trial_end)
{
    char trial[80] = "";

    if (trial_end != NULL)
        snprintf(trial, sizeof(trial), ",\"trial_end\":\"%s\"", trial_end);
    OK("subscription_create",
       "{" T
       "%s,\"customer\":\"%s\",\"package\":\"%s\",\"seat_basis\":\"%s\",\"quantity\":%d%s%s%s%s}",
       caller, customer, package, basis, quantity, trial, id ? ",\"subscription\":\"" : "",
       id ? id : "", id ? "\"" : "");
}

static void sub_cmd(struct fixture *f, const char *endpoint, const char *sub)
{
    OK(endpoint, "{" T MSP ",\"subscription\":\"%s\"}", sub);
}

static void attach(struct fixture *f, bool on, const char *sub, const char *grp)
{
    OK(on ? "group_attach" : "group_detach",
       "{" T ADMIN ",\"subscription\":\"%s\",\"group\":\"%s\"}", sub, grp);
}

/* The mix: every way the service's state is made. */
static void drive(struct fixture *f, bool auto_customers)
{
    if (!auto_customers) {
        OK("customer_create", "{" T MSP ",\"customer\":\"cust-7\"}");
        OK("customer_create", "{" T DIST ",\"customer\":\"cust-8\"}");
    }
    OK("package_add", "{\"package\":\"core_max\",\"name\":\"Core Max\",\"features\":["
                      "\"web_protection\",\"file_sandbox\",\"dlp\"]}");
    OK("package_update", "{\"package\":\"core\",\"name\":\"Core 2027\"}");
    OK("package_update", "{\"package\":\"core_plus\",\"features\":[\"web_protection\","
                         "\"url_filtering\",\"file_sandbox\",\"dlp\"]}");

    device(f, "d-1", "site-7");
    device(f, "d-2", "cust-7");
    device(f, "d-8", "cust-8");
    device(f, "d-1", NULL);

    group(f, "g-a", "cust-7");
    group(f, "g-b", "site-7");
    group(f, "g-c", "cust-7");
    group(f, "g-d", "cust-7");
    group(f, "g-8", "cust-8");
    member(f, true, "g-z", "u3"); /* before g-z exists */
    member(f, true, "g-a", "u1");
    member(f, true, "g-a", "u2");
    member(f, true, "g-b", "u1");
    member(f, true, "g-c", "u5"); /* before g-c is attached */
    member(f, true, "g-8", "u8");

    create(f, "sub-1", "cust-7", MSP, "core_plus", "users", 10, "2026-12-22T10:00:00Z");
    create(f, "sub-2", "cust-7", MSP, "core", "devices", 5, NULL);
    create(f, "sub-3", "cust-7", MSP, "core", "both", 3, "2026-11-22T10:10:00Z");
    create(f, "sub-4", "cust-7", MSP, "core_plus", "users", 2, "2026-12-10T10:00:00Z");
    create(f, "sub-5", "cust-7", MSP, "core", "users", 2, NULL);
    create(f, "sub-8", "cust-8", DIST, "core_max", "users", 4, NULL);
    create(f, NULL, "cust-7", MSP, "core", "users", 1, NULL); /* id derived from the request */
    OK("subscription_set_quantity", "{" T MSP ",\"subscription\":\"sub-1\",\"quantity\":20}");
    sub_cmd(f, "subscription_suspend", "sub-2");
    sub_cmd(f, "subscription_reactivate", "sub-2");
    sub_cmd(f, "subscription_suspend", "sub-4");
    sub_cmd(f, "subscription_reactivate", "sub-4"); /* back in trial */
    sub_cmd(f, "subscription_convert", "sub-4");    /* by hand */

    attach(f, true, "sub-1", "g-a");
    attach(f, true, "sub-1", "g-b");
    attach(f, true, "sub-5", "g-a"); /* one group, two subscriptions */
    attach(f, true, "sub-1", "g-c"); /* u5 joined before: seated now */
    OK("group_attach", "{" T DIST ",\"subscription\":\"sub-8\",\"group\":\"g-8\"}");
    member(f, true, "g-a", "u4");     /* joins later: a seat in sub-1 and in sub-5 */
    member(f, false, "g-a", "u2");    /* leaves: both seats go */
    member(f, false, "g-c", "u5");    /* joined before the attachment, leaves after */
    attach(f, false, "sub-1", "g-b"); /* u1 stays seated through g-a */
    attach(f, true, "sub-1", "g-d");
    attach(f, false, "sub-1", "g-d");
    member(f, true, "g-d", "u6"); /* joins a group detached again: no seat */
    group(f, "g-z", "cust-7");
    attach(f, true, "sub-4", "g-z"); /* u3, a member before g-z existed */
    apply(f, "directory", "user_deleted", "{\"user\":\"u3\"}");
    apply(f, "directory", "group_deleted", "{\"group\":\"g-a\"}"); /* attached to sub-1, sub-5 */
    sub_cmd(f, "subscription_cancel", "sub-5");

    tick(f, 15); /* sub-3's trial ended at 10:10: the sweep converts it */
    tick(f, 24 * 60);

    assert_error(req(f, "customer_inactivate", "{" T DIST ",\"customer\":\"cust-8\"}"), "conflict",
                 "still has 1 agent(s) installed");
    device(f, "d-8", NULL);
    OK("customer_inactivate", "{" T DIST ",\"customer\":\"cust-8\"}");
    OK("customer_reactivate", "{" T DIST ",\"customer\":\"cust-8\"}");
    OK("customer_inactivate", "{" T DIST ",\"customer\":\"cust-8\"}");

    org(f, "cust-9", "msp-3", "customer"); /* registered late */
    if (!auto_customers)
        OK("customer_create", "{" T MSP ",\"customer\":\"cust-9\"}");
    create(f, "sub-9", "cust-9", MSP, "core", "users", 1, NULL);
}

/* ---- what is compared ------------------------------------------------------------ */

#define ENT(who, what, feature)                                                                    \
    {                                                                                              \
        "entitled", "{" T DIST ",\"customer\":\"" who "\"" what ",\"feature\":\"" feature "\"}"    \
    }
#define USER(u)   ",\"user\":\"" u "\""
#define DEVICE(d) ",\"device\":\"" d "\""

static const char *const queries[][2] = {
    {"package_list", "{}"},
    {"customer_get", "{" T MSP ",\"customer\":\"cust-7\"}"},
    {"customer_get", "{" T DIST ",\"customer\":\"cust-8\"}"},
    {"customer_get", "{" T MSP ",\"customer\":\"cust-9\"}"},
    {"subscription_list", "{" T MSP ",\"customer\":\"cust-7\"}"},
    {"subscription_list", "{" T DIST ",\"customer\":\"cust-8\"}"},
    {"subscription_list", "{" T MSP ",\"customer\":\"cust-9\"}"},
    {"subscription_get", "{" T MSP ",\"subscription\":\"sub-1\"}"},
    {"subscription_get", "{" T MSP ",\"subscription\":\"sub-2\"}"},
    {"subscription_get", "{" T MSP ",\"subscription\":\"sub-3\"}"},
    {"subscription_get", "{" T MSP ",\"subscription\":\"sub-4\"}"},
    {"subscription_get", "{" T MSP ",\"subscription\":\"sub-5\"}"},
    {"subscription_get", "{" T DIST ",\"subscription\":\"sub-8\"}"},
    {"subscription_get", "{" T MSP ",\"subscription\":\"sub-9\"}"},
    {"subscription_get", "{" T MSP ",\"subscription\":\"sub-404\"}"},
    ENT("cust-7", USER("u1"), "file_sandbox"),
    ENT("cust-7", USER("u1"), "dlp"),
    ENT("cust-7", USER("u1"), "url_filtering"),
    ENT("cust-7", USER("u2"), "web_protection"),
    ENT("cust-7", USER("u3"), "web_protection"),
    ENT("cust-7", USER("u4"), "web_protection"),
    ENT("cust-7", USER("u5"), "web_protection"),
    ENT("cust-7", USER("u6"), "web_protection"),
    ENT("cust-7", USER("u7"), "web_protection"),
    ENT("cust-7", USER("u7"), "phishing_protection"),
    ENT("cust-8", USER("u8"), "dlp"),
    ENT("cust-7", DEVICE("d-1"), "web_protection"),
    ENT("cust-7", DEVICE("d-2"), "web_protection"),
    ENT("cust-7", DEVICE("d-2"), "file_sandbox"),
    ENT("cust-8", DEVICE("d-8"), "web_protection"),
    ENT("cust-7", "", "dlp"),
    ENT("cust-7", "", "web_protection"),
    ENT("cust-7", "", "teleport"),
    ENT("cust-9", "", "web_protection"),
};
#define QUERIES (sizeof(queries) / sizeof(queries[0]))

/* Every query's reply, as bytes (each recorded for validation too). */
static void answer_all(struct fixture *f, char *ret[QUERIES])
{
    for (size_t i = 0; i < QUERIES; i++) {
        char subject[128];
        natsMsg *reply;
        cJSON *json;

        snprintf(subject, sizeof(subject), "lb.api.subscriptions.%s", queries[i][0]);
        reply = harness_request(f->nc, subject, queries[i][1], strlen(queries[i][1]));
        ret[i] = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
        json = harness_reply_json(reply);
        if (cJSON_GetObjectItem(json, "error") != NULL) {
            record(f, "error.json", ret[i]);
        } else {
            snprintf(subject, sizeof(subject), "api/subscriptions.%s.reply.json", queries[i][0]);
            record(f, subject, ret[i]);
        }
        cJSON_Delete(json);
        natsMsg_Destroy(reply);
    }
}

static void free_answers(char *answers[QUERIES])
{
    for (size_t i = 0; i < QUERIES; i++)
        free(answers[i]);
}

/* The LB_SUBSCRIPTIONS stream: "<Nats-Msg-Id> <bytes>" per message, in stream order. */
struct copy {
    char **lines;
    size_t n;
};

static char *line_of(natsMsg *m)
{
    const char *id = NULL;
    size_t len;
    char *line;

    assert_int_equal(natsMsgHeader_Get(m, "Nats-Msg-Id", &id), NATS_OK);
    len = strlen(id) + 2 + (size_t)natsMsg_GetDataLength(m);
    line = malloc(len);
    assert_non_null(line);
    snprintf(line, len, "%s %.*s", id, natsMsg_GetDataLength(m), natsMsg_GetData(m));
    return line;
}

static struct copy stream_copy(struct fixture *f)
{
    natsMsg **msgs;
    struct copy c;

    c.n = harness_stream_messages(f->js, "LB_SUBSCRIPTIONS", "lb.evt.subscriptions.>", &msgs);
    c.lines = calloc(c.n + 1, sizeof(*c.lines));
    for (size_t i = 0; i < c.n; i++)
        c.lines[i] = line_of(msgs[i]);
    harness_free_messages(msgs, c.n);
    return c;
}

static void copy_free(struct copy *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->lines[i]);
    free(c->lines);
}

/* Waits until every consumer of the service acked its stream to the end, twice in a row with
 * nothing left in the outbox. */
static void wait_caught_up(struct fixture *f)
{
    static const char *const consumers[][2] = {
        {"LB_SUBSCRIPTIONS", "subscriptions-subscriptions"},
        {"LB_DIRECTORY", "subscriptions-directory"},
        {"LB_AGENTS", "subscriptions-agents"},
        {"LB_CLOCK", "subscriptions-clock"},
    };
    int64_t deadline = clock_wall_ms() + (int64_t)2 * HARNESS_WAIT_MS;
    int settled = 0;

    while (settled < 2) {
        bool done = harness_metric(f->svc.http_port, "lb_outbox_pending") == 0;

        for (size_t i = 0; done && i < sizeof(consumers) / sizeof(consumers[0]); i++) {
            jsStreamInfo *si = NULL;
            jsConsumerInfo *ci = NULL;
            jsErrCode jerr = 0;

            /* On the wall clock there is no clock consumer. */
            if (js_GetConsumerInfo(&ci, f->js, consumers[i][0], consumers[i][1], NULL, &jerr) !=
                NATS_OK) {
                done = jerr == JSConsumerNotFoundErr || jerr == JSStreamNotFoundErr;
                continue;
            }
            done = js_GetStreamInfo(&si, f->js, consumers[i][0], NULL, &jerr) == NATS_OK &&
                   ci->NumPending == 0 && ci->NumAckPending == 0 &&
                   ci->AckFloor.Stream >= si->State.LastSeq;
            jsStreamInfo_Destroy(si);
            jsConsumerInfo_Destroy(ci);
        }
        settled = done ? settled + 1 : 0;
        if (clock_wall_ms() > deadline)
            fail_msg("the rebuilt service did not catch up with its streams");
        if (settled < 2)
            nats_Sleep(20);
    }
}

static void assert_same_answers(char *const before[QUERIES], char *const after[QUERIES],
                                const char *how)
{
    for (size_t i = 0; i < QUERIES; i++) {
        if (strcmp(before[i], after[i]) != 0)
            fail_msg("after %s, %s %s answers\n  %s\ninstead of\n  %s", how, queries[i][0],
                     queries[i][1], after[i], before[i]);
    }
}

enum how { BY_FLAG, BY_LBCTL };

/*
 * Rebuilds the service, waits until it caught up, and checks the stream: the
 * same messages, and whatever it published on the way a copy of one of them.
 */
static void rebuild(struct fixture *f, enum how how, const struct copy *before)
{
    natsSubscription *tap = NULL;
    natsMsg *m = NULL;
    struct copy after;
    size_t copies = 0;

    /* Every publish on the subjects, including those the stream drops as duplicates. */
    assert_int_equal(natsConnection_SubscribeSync(&tap, f->nc, "lb.evt.subscriptions.>"), NATS_OK);
    natsSubscription_SetPendingLimits(tap, -1, -1);
    natsConnection_Flush(f->nc);
    assert_int_equal(truncate(f->svc.log_path, 0), 0);
    if (how == BY_LBCTL) {
        char command[1024];

        snprintf(command, sizeof(command), "%s/lbctl --url %s rebuild subscriptions >/dev/null",
                 getenv("LB_BINARY_DIR"), f->ns.url);
        assert_int_equal(system(command), 0);
        assert_int_equal(harness_service_wait_exit(&f->svc, HARNESS_WAIT_MS), 0);
        harness_service_start(&f->svc, "subscriptions", &f->ns, f->data, f->env);
    } else {
        assert_int_equal(harness_service_stop(&f->svc, SIGTERM, HARNESS_WAIT_MS), 0);
        harness_service_start_args(&f->svc, "subscriptions", &f->ns, f->data, f->env, "--rebuild");
    }
    assert_true(harness_log_contains(&f->svc, "rebuilding from the streams"));
    wait_caught_up(f);

    after = stream_copy(f);
    for (size_t i = 0; i < after.n && i < before->n; i++)
        if (strcmp(after.lines[i], before->lines[i]) != 0)
            fail_msg("LB_SUBSCRIPTIONS message %zu changed:\n  %s\ninstead of\n  %s", i,
                     after.lines[i], before->lines[i]);
    if (after.n != before->n)
        fail_msg("LB_SUBSCRIPTIONS holds %zu messages after the rebuild, %zu before (new: %s)",
                 after.n, before->n, after.n > before->n ? after.lines[before->n] : "-");
    natsConnection_Flush(f->nc);
    while (natsSubscription_NextMsg(&m, tap, 100) == NATS_OK) {
        char *line = line_of(m);
        bool stored = false;

        for (size_t i = 0; !stored && i < before->n; i++)
            stored = strcmp(line, before->lines[i]) == 0;
        if (!stored)
            fail_msg("the rebuilding service published an event that is not in the stream as "
                     "such:\n  %s",
                     line);
        free(line);
        natsMsg_Destroy(m);
        copies++;
    }
    natsSubscription_Destroy(tap);
    copy_free(&after);
    print_message("      rebuilt (%s): %zu messages, all as before; %zu published again as "
                  "byte-identical copies; %g directory events or sweeps replayed quietly, %g "
                  "deliveries retried after the restore\n",
                  how == BY_FLAG ? "--rebuild" : "lbctl rebuild", before->n, copies,
                  harness_metric(f->svc.http_port, "lb_subscriptions_quiet_replays_total"),
                  harness_metric(f->svc.http_port, "lb_events_redelivered_total"));
}

static void rebuild_answers_alike(struct fixture *f, bool auto_customers)
{
    char *before[QUERIES];
    char *after[QUERIES];
    struct copy stream;
    size_t seats;
    cJSON *list;

    drive(f, auto_customers);
    answer_all(f, before);
    stream = stream_copy(f);
    assert_true(stream.n > 50);

    rebuild(f, BY_FLAG, &stream);
    answer_all(f, after);
    assert_same_answers(before, after, "--rebuild");
    free_answers(after);
    free_answers(before);
    copy_free(&stream);

    /* The rebuilt service goes on as before: a member joining an attached group gets a seat,
     * announced once. */
    list = events(f, "seat_assigned");
    seats = (size_t)cJSON_GetArraySize(list);
    cJSON_Delete(list);
    member(f, true, "g-c", "u7");
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", SUBS "seat_assigned", seats + 1);
    answer_all(f, before);
    for (size_t i = 0; i < QUERIES; i++) {
        if (strstr(queries[i][1], "\"user\":\"u7\"") && strstr(queries[i][1], "web_protection"))
            assert_non_null(strstr(before[i], "\"entitled\":true"));
    }
    stream = stream_copy(f);

    rebuild(f, BY_LBCTL, &stream);
    answer_all(f, after);
    assert_same_answers(before, after, "lbctl rebuild");
    free_answers(after);
    free_answers(before);
    copy_free(&stream);
    list = events(f, "seat_assigned");
    assert_int_equal(cJSON_GetArraySize(list), seats + 1);
    cJSON_Delete(list);
}

static void test_rebuild_customers_from_directory(void **state)
{
    rebuild_answers_alike(*state, true);
}

static void test_rebuild_customers_by_command(void **state)
{
    rebuild_answers_alike(*state, false);
}

static int setup_by_directory(void **state)
{
    return setup_with(state, env_by_directory);
}

static int setup_by_command(void **state)
{
    return setup_with(state, env_by_command);
}

/* The wall clock, a sweep every 10 ms; rebuilt, one event a fetch: the restore spans many sweeps.
 */
static const char *const env_wall[] = {"LB_CLOCK=wall", "LB_SWEEP_INTERVAL=10ms", REBUILD_ENV,
                                       NULL};
static const char *const env_wall_slow_restore[] = {"LB_CLOCK=wall", "LB_SWEEP_INTERVAL=10ms",
                                                    "LB_FETCH_BATCH=1", REBUILD_ENV, NULL};

static int setup_wall(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int fd;

    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "data");
    harness_service_start(&f->svc, "subscriptions", &f->ns, f->data, env_wall);
    f->env = env_wall_slow_restore; /* for the rebuild */
    f->nc = harness_connect(&f->ns);
    f->js = harness_js(f->nc);
    snprintf(f->seen_path, sizeof(f->seen_path), "/tmp/lb-subs-seen-XXXXXX");
    fd = mkstemp(f->seen_path);
    assert_true(fd >= 0);
    f->seen = fdopen(fd, "w");
    *state = f;
    tree(f);
    return 0;
}

static size_t conversions(struct fixture *f)
{
    cJSON *list = events(f, "subscription_changed");
    const cJSON *ev;
    size_t n = 0;

    cJSON_ArrayForEach(ev, list)
    {
        n += strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(ev, "change")), "converted") == 0;
    }
    cJSON_Delete(list);
    return n;
}

/*
 * On the wall clock a sweep comes every LB_SWEEP_INTERVAL, not at replayed
 * times: a rebuild whose restore spans many sweeps (one event a fetch) must
 * not convert a trial again between its restored creation and its restored
 * conversion, further down the own stream.
 */
static void test_rebuild_wall_clock_sweep(void **state)
{
    struct fixture *f = *state;
    char trial_end[32];
    struct copy stream;

    envelope_format_time(clock_wall_ms() + 6000, trial_end);
    create(f, "sub-t", "cust-7", MSP, "core", "users", 1, trial_end);
    create(f, "sub-q", "cust-7", MSP, "core", "users", 1, NULL);
    for (int q = 2; q <= 120; q++) /* history between the trial's creation and its conversion */
        OK("subscription_set_quantity", "{" T MSP ",\"subscription\":\"sub-q\",\"quantity\":%d}",
           q);
    assert_int_equal(conversions(f), 0); /* the trial has not ended yet */
    harness_wait_stream(f->js, "LB_SUBSCRIPTIONS", SUBS "subscription_changed", 122);
    assert_int_equal(conversions(f), 1);
    stream = stream_copy(f);
    rebuild(f, BY_FLAG, &stream); /* the stream as it was: no second conversion */
    copy_free(&stream);
    assert_int_equal(conversions(f), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rebuild_customers_from_directory, setup_by_directory,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_customers_by_command, setup_by_command,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_wall_clock_sweep, setup_wall, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
