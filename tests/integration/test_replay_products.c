/*
 * test_replay_products.c - deterministic replay of the product services
 * (issue 7 item 3), with the real lbctl, nats-server and services on the
 * virtual clock: a scenario log replayed into two fresh systems, the second
 * time with a SIGKILL of each of its services in the middle (one after the
 * other, each restarted on its database), prints byte-identical replies and
 * leaves byte-identical emitted events in each service's stream, however
 * the kills fell. Time-driven transitions (expiry, trial conversion,
 * inactivity release, purge) are in these logs, so they happen at the
 * log's virtual times in both runs.
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

#define SERVICES_MAX 4

/* A SIGKILLed service's unacked events come back after AckWait: 1 s keeps the test short. */
static const char *const virtual_clock[] = {"LB_CLOCK=virtual", "LB_ACK_WAIT=1s", NULL};

/* A scenario and the services it runs on; `domains` are those they emit into. */
struct case_def {
    const char *log;
    const char *services[SERVICES_MAX + 1];
    const char *domains[SERVICES_MAX + 1];
};

struct system {
    struct nats_server ns;
    struct service_proc procs[SERVICES_MAX];
    size_t count;
    char data[256];
};

static void system_start(struct system *s, const struct case_def *c)
{
    memset(s, 0, sizeof(*s));
    harness_nats_start(&s->ns, NULL);
    harness_tmpdir(s->data, "data");
    for (; c->services[s->count] != NULL; s->count++)
        harness_service_start(&s->procs[s->count], c->services[s->count], &s->ns, s->data,
                              virtual_clock);
}

static void system_stop(struct system *s)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->procs[i].pid > 0)
            harness_service_stop(&s->procs[i], SIGKILL, 5000);
    harness_nats_stop(&s->ns);
    harness_rmdir(s->data);
}

static bool services_built(const struct case_def *c)
{
    for (size_t i = 0; c->services[i] != NULL; i++) {
        char path[600];

        snprintf(path, sizeof(path), "%s/lb-%s", getenv("LB_BINARY_DIR"), c->services[i]);
        if (access(path, X_OK) != 0)
            return false;
    }
    return true;
}

/*
 * Records each domain on its own: one service's stream has one order, but
 * two services reacting to the same event store their reactions in
 * whichever order they commit, which is no part of the contract.
 */
static void record_domains(const struct system *s, const struct case_def *c, const char *dir,
                           const char *run)
{
    for (size_t i = 0; c->domains[i] != NULL; i++) {
        char args[128], path[400];

        snprintf(args, sizeof(args), "record %s", c->domains[i]);
        snprintf(path, sizeof(path), "%s/%s.%s.rec", dir, run, c->domains[i]);
        assert_int_equal(harness_lbctl_wait(harness_lbctl_spawn(&s->ns, args, path)), 0);
    }
}

static void assert_same_records(const struct case_def *c, const char *dir)
{
    for (size_t i = 0; c->domains[i] != NULL; i++) {
        char a[400], b[400];

        snprintf(a, sizeof(a), "%s/a.%s.rec", dir, c->domains[i]);
        snprintf(b, sizeof(b), "%s/b.%s.rec", dir, c->domains[i]);
        harness_assert_same_file(a, b);
    }
}

static void replay_twice(const struct case_def *c)
{
    struct system a, b;
    char dir[256], out_a[300], out_b[300], args[400];
    double applied[SERVICES_MAX];
    pid_t pid;

    if (!services_built(c)) {
        skip();
        return;
    }
    harness_tmpdir(dir, "replay-products");
    snprintf(out_a, sizeof(out_a), "%s/a.out", dir);
    snprintf(out_b, sizeof(out_b), "%s/b.out", dir);
    snprintf(args, sizeof(args), "replay %s", c->log);

    /* A: undisturbed. What each service applied tells B where "the middle" is. */
    system_start(&a, c);
    assert_int_equal(harness_lbctl_wait(harness_lbctl_spawn(&a.ns, args, out_a)), 0);
    for (size_t i = 0; i < a.count; i++) {
        applied[i] = harness_metric(a.procs[i].http_port, "lb_events_applied_total");
        assert_true(applied[i] > 0);
    }
    record_domains(&a, c, dir, "a");
    system_stop(&a);

    /* B: service i is SIGKILLed once it has applied (i+1)/(n+1) of what it applied in A,
     * and restarted on its database while the replay goes on. */
    system_start(&b, c);
    snprintf(args, sizeof(args), "replay %s", c->log);
    pid = harness_lbctl_spawn(&b.ns, args, out_b);
    for (size_t i = 0; i < b.count; i++) {
        double at = applied[i] * (double)(i + 1) / (double)(b.count + 1);

        harness_wait_metric(b.procs[i].http_port, "lb_events_applied_total", at < 1 ? 1 : at);
        harness_service_stop(&b.procs[i], SIGKILL, 5000);
        harness_service_start(&b.procs[i], c->services[i], &b.ns, b.data, virtual_clock);
    }
    assert_int_equal(harness_lbctl_wait(pid), 0);
    record_domains(&b, c, dir, "b");
    system_stop(&b);

    harness_assert_same_file(out_a, out_b); /* every reply, reports included */
    assert_same_records(c, dir);            /* every event each service emitted, ids and times */
    harness_rmdir(dir);
}

/* Licensing: activation up to the limit, then Expiring and Expired from the sweep. */
static void test_licensing_replay_survives_a_kill(void **state)
{
    static const struct case_def c = {
        .log = "tests/scenarios/licensing_evaluation_limit.ndjson",
        .services = {"licensing", NULL},
        .domains = {"licensing", NULL},
    };

    (void)state;
    replay_twice(&c);
}

/* Subscriptions, usage and reporting together: seats from groups, agents' associations,
 * consumption, and reporting's read model of all of it. */
static void test_subscriptions_usage_reporting_replay_survives_kills(void **state)
{
    static const struct case_def c = {
        .log = "tests/scenarios/reporting_consumption_agent_associations.ndjson",
        .services = {"subscriptions", "usage", "reporting", NULL},
        .domains = {"subscriptions", "usage", NULL},
    };

    (void)state;
    replay_twice(&c);
}

/* Usage and reporting through 30 days of silence and a 90-day purge. */
static void test_usage_purge_replay_survives_kills(void **state)
{
    static const struct case_def c = {
        .log = "tests/scenarios/usage_retention_purge.ndjson",
        .services = {"usage", "reporting", NULL},
        .domains = {"usage", NULL},
    };

    (void)state;
    replay_twice(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_licensing_replay_survives_a_kill),
        cmocka_unit_test(test_subscriptions_usage_reporting_replay_survives_kills),
        cmocka_unit_test(test_usage_purge_replay_survives_kills),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
