/*
 * test_replay.c - deterministic replay, recording and rebuilding, with the
 * real lbctl, nats-server and lb-tally on the virtual clock:
 *  - the same log replayed into two fresh systems, the second time with a
 *    SIGKILL of the service in the middle, prints byte-identical replies
 *    and leaves byte-identical emitted events in the stream;
 *  - a log with one bad line publishes nothing;
 *  - `lbctl record` output replays into a fresh system;
 *  - `lbctl rebuild` (and `--rebuild`) rebuild a database from the streams
 *    that answers as the original did.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define LOG_FILE "tests/scenarios/tally_counters.ndjson"

/* A SIGKILLed service's unacked events come back after the ack wait; lbctl's own wait is 30 s. */
static const char *const virtual_clock[] = {"LB_CLOCK=virtual", "LB_ACK_WAIT=1s", NULL};

struct system {
    struct nats_server ns;
    struct service_proc tally;
    char data[256];
};

static void system_start(struct system *s)
{
    memset(s, 0, sizeof(*s));
    harness_nats_start(&s->ns, NULL);
    harness_tmpdir(s->data, "data");
    harness_service_start(&s->tally, "tally", &s->ns, s->data, virtual_clock);
}

static void system_stop(struct system *s)
{
    if (s->tally.pid > 0)
        harness_service_stop(&s->tally, SIGKILL, 5000);
    harness_nats_stop(&s->ns);
    harness_rmdir(s->data);
}

static int lbctl(const struct system *s, const char *args, const char *out_path)
{
    return harness_lbctl_wait(harness_lbctl_spawn(&s->ns, args, out_path));
}

static void test_replay_is_deterministic_across_a_kill(void **state)
{
    struct system a, b;
    char dir[256], out_a[300], out_b[300], rec_a[300], rec_b[300];
    pid_t pid;

    (void)state;
    harness_tmpdir(dir, "replay");
    snprintf(out_a, sizeof(out_a), "%s/a.out", dir);
    snprintf(out_b, sizeof(out_b), "%s/b.out", dir);
    snprintf(rec_a, sizeof(rec_a), "%s/a.rec", dir);
    snprintf(rec_b, sizeof(rec_b), "%s/b.rec", dir);

    system_start(&a);
    assert_int_equal(lbctl(&a, "replay " LOG_FILE, out_a), 0);
    assert_int_equal(lbctl(&a, "record tally", rec_a), 0);
    system_stop(&a);

    /* B: the service is killed once some of the log has been applied, and restarted. */
    system_start(&b);
    pid = harness_lbctl_spawn(&b.ns, "replay " LOG_FILE, out_b);
    harness_wait_metric(b.tally.http_port, "lb_events_applied_total", 3);
    harness_service_stop(&b.tally, SIGKILL, 5000);
    harness_service_start(&b.tally, "tally", &b.ns, b.data, virtual_clock);
    assert_int_equal(harness_lbctl_wait(pid), 0);
    assert_int_equal(lbctl(&b, "record tally", rec_b), 0);
    system_stop(&b);

    harness_assert_same_file(out_a, out_b); /* the replies */
    harness_assert_same_file(rec_a, rec_b); /* every event emitted, ids and times included */
    harness_rmdir(dir);
}

static void test_bad_log_publishes_nothing(void **state)
{
    struct system s;
    char dir[256], log[300], out[300], command[1024];
    char *err;

    (void)state;
    harness_tmpdir(dir, "badlog");
    snprintf(log, sizeof(log), "%s/bad.ndjson", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    /* Line 1 is fine, line 2's amount breaks the schema. */
    snprintf(command, sizeof(command),
             "head -3 %s/" LOG_FILE " > %s && echo '{\"event\":{\"specversion\":\"1.0\","
             "\"id\":\"x1\",\"source\":\"/t\",\"type\":\"licensebus.sample.increment.v1\","
             "\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"acme\",\"data\":{\"counter\":"
             "\"c\",\"amount\":0}}}' >> %s",
             getenv("LB_SOURCE_DIR"), log, log);
    assert_int_equal(system(command), 0);
    system_start(&s);
    snprintf(command, sizeof(command), "replay %s", log);
    assert_int_equal(lbctl(&s, command, out), 3);
    snprintf(command, sizeof(command), "%s.err", out);
    err = harness_slurp(command);
    assert_non_null(err);
    if (strstr(err, "line 4") == NULL || strstr(err, "/data/amount") == NULL)
        fail_msg("lbctl said: %s", err);
    free(err);
    nats_Sleep(300);
    assert_int_equal(harness_metric(s.tally.http_port, "lb_events_applied_total"), 0);
    /* An unmet expectation is exit 6, with the line. */
    snprintf(command, sizeof(command),
             "echo '{\"request\":{\"subject\":\"lb.api.tally.get\",\"body\":{\"tenant\":\"a\","
             "\"counter\":\"c\"}},\"expect\":{\"reply\":{\"value\":1}}}' > %s",
             log);
    assert_int_equal(system(command), 0);
    snprintf(command, sizeof(command), "replay %s", log);
    assert_int_equal(lbctl(&s, command, out), 6);
    /* A long log is checked on several threads: still the first bad line is named, and
     * nothing is sent. */
    snprintf(command, sizeof(command),
             "%s/bench/gen_replay_log --events 30000 | sed -e '15000s/\\\"device\\\":\\\"/&"
             " /' -e '25000s/\\\"device\\\":\\\"/& /' > %s",
             getenv("LB_BINARY_DIR"), log);
    assert_int_equal(system(command), 0);
    snprintf(command, sizeof(command), "replay %s", log);
    assert_int_equal(lbctl(&s, command, out), 3);
    snprintf(command, sizeof(command), "%s.err", out);
    err = harness_slurp(command);
    assert_non_null(err);
    if (strstr(err, "line 15000:") == NULL || strstr(err, "line 25000") != NULL)
        fail_msg("lbctl said: %s", err);
    free(err);
    assert_int_equal(harness_metric(s.tally.http_port, "lb_events_applied_total"), 0);
    system_stop(&s);
    harness_rmdir(dir);
}

static double counter(const struct system *s, const char *tenant, const char *name)
{
    char body[128];
    natsConnection *nc = harness_connect(&s->ns);
    natsMsg *reply;
    cJSON *json;
    double v;

    snprintf(body, sizeof(body), "{\"tenant\":\"%s\",\"counter\":\"%s\"}", tenant, name);
    reply = harness_request(nc, "lb.api.tally.get", body, strlen(body));
    json = harness_reply_json(reply);
    v = cJSON_IsNumber(cJSON_GetObjectItem(json, "value"))
            ? cJSON_GetObjectItem(json, "value")->valuedouble
            : -1;
    cJSON_Delete(json);
    natsMsg_Destroy(reply);
    natsConnection_Destroy(nc);
    return v;
}

static void test_record_then_replay_and_rebuild(void **state)
{
    struct system a, b;
    char dir[256], rec[300], out[300], command[600], aside[400];

    (void)state;
    harness_tmpdir(dir, "record");
    snprintf(rec, sizeof(rec), "%s/inputs.ndjson", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    system_start(&a);
    assert_int_equal(lbctl(&a, "replay " LOG_FILE, out), 0);
    /* The platform's inputs, recorded: increments and clock ticks, in stream order. */
    assert_int_equal(lbctl(&a, "record sample clock", rec), 0);
    system_stop(&a);

    system_start(&b);
    snprintf(command, sizeof(command), "replay %s", rec);
    assert_int_equal(lbctl(&b, command, out), 0);
    assert_int_equal(counter(&b, "acme", "seats"), 5); /* the events' effect, not the add */
    assert_int_equal(counter(&b, "beta", "scans"), 8);

    /* lbctl rebuild: the service drains and exits; restarted, it rebuilds from the streams. */
    assert_int_equal(lbctl(&b, "rebuild tally", out), 0);
    /* Its reply keeps to the contract. */
    snprintf(command, sizeof(command),
             "head -1 %s | %s/lbctl validate api/admin.rebuild.reply.json - >/dev/null", out,
             getenv("LB_BINARY_DIR"));
    assert_int_equal(system(command), 0);
    assert_int_equal(harness_service_wait_exit(&b.tally, HARNESS_WAIT_MS), 0);
    harness_service_start(&b.tally, "tally", &b.ns, b.data, virtual_clock);
    assert_true(harness_log_contains(&b.tally, "rebuilding from the streams"));
    harness_wait_metric(b.tally.http_port, "lb_events_applied_total", 4 + 4);
    assert_int_equal(counter(&b, "acme", "seats"), 5);
    assert_int_equal(counter(&b, "beta", "scans"), 8);
    snprintf(aside, sizeof(aside), "%s/tally.db.before-rebuild", b.data);
    assert_int_equal(access(aside, F_OK), 0);

    /* --rebuild does the same at once. */
    harness_service_stop(&b.tally, SIGTERM, HARNESS_WAIT_MS);
    {
        const char *env[] = {"LB_CLOCK=virtual", NULL};

        harness_service_start_args(&b.tally, "tally", &b.ns, b.data, env, "--rebuild");
    }
    assert_true(harness_log_contains(&b.tally, "rebuilding from the streams"));
    harness_wait_metric(b.tally.http_port, "lb_events_applied_total", 4 + 4);
    assert_int_equal(counter(&b, "beta", "scans"), 8);
    system_stop(&b);
    harness_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_is_deterministic_across_a_kill),
        cmocka_unit_test(test_bad_log_publishes_nothing),
        cmocka_unit_test(test_record_then_replay_and_rebuild),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
