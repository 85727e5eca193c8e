/*
 * test_clock.c - the virtual clock and a clock-driven sweep: the transition
 * happens at the virtual time the clock events say, exactly once, through a
 * clock jump, a redelivered tick and a restart, with the same id each time.
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

#define T0   "2026-11-22T10:00:00.000Z"
#define IDLE "lb.evt.tally.acme.counter_idle"

static const char *const virtual_env[] = {"LB_CLOCK=virtual", "LB_TALLY_IDLE_AFTER=1h", NULL};

struct fixture {
    struct nats_server ns;
    struct service_proc tally;
    natsConnection *nc;
    jsCtx *js;
    char data[256];
    int ticks;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "data");
    harness_service_start(&f->tally, "tally", &f->ns, f->data, virtual_env);
    f->nc = harness_connect(&f->ns);
    f->js = harness_js(f->nc);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->tally.pid > 0)
        harness_service_stop(&f->tally, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    free(f);
    return 0;
}

/* Publishes a tick to `offset_min` minutes after T0 and waits until it is applied. */
static void tick(struct fixture *f, int offset_min)
{
    int64_t t0;
    char now[32];
    char data[64];
    char id[32];
    char *event;

    assert_int_equal(envelope_parse_time(T0, &t0), LB_OK);
    envelope_format_time(t0 + (int64_t)offset_min * 60000, now);
    snprintf(data, sizeof(data), "{\"now\":\"%s\"}", now);
    snprintf(id, sizeof(id), "01JTICK0000000000000%06d", ++f->ticks);
    event = harness_event(id, "licensebus.clock.tick.v1", "_sys", now, data);
    harness_js_publish(f->js, "lb.evt.clock._sys.tick", id, event, strlen(event));
    free(event);
    harness_wait_metric(f->tally.http_port, "lb_virtual_clock_seconds",
                        (double)(t0 + (int64_t)offset_min * 60000) / 1000.0);
}

static void add(struct fixture *f)
{
    const char *body = "{\"tenant\":\"acme\",\"counter\":\"c\",\"amount\":1}";
    natsMsg *reply = harness_request(f->nc, "lb.api.tally.add", body, strlen(body));

    natsMsg_Destroy(reply);
}

static size_t idle_events(struct fixture *f)
{
    natsMsg **msgs;
    size_t n = harness_stream_messages(f->js, "LB_TALLY", IDLE, &msgs);

    harness_free_messages(msgs, n);
    return n;
}

static void test_idle_exactly_once(void **state)
{
    struct fixture *f = *state;
    natsMsg **msgs;
    char expected[ID_LEN + 1];
    int64_t t0;
    const char *id = NULL;
    size_t n;

    tick(f, 0);
    add(f);      /* changed at T0 */
    tick(f, 30); /* not idle yet */
    assert_int_equal(idle_events(f), 0);
    tick(f, 120); /* idle since T0 for 2 h: reported */
    assert_int_equal(harness_wait_stream(f->js, "LB_TALLY", IDLE, 1), 1);
    tick(f, 600); /* a jump: still reported only once */
    tick(f, 300); /* backwards: ignored */
    assert_int_equal(harness_service_stop(&f->tally, SIGTERM, HARNESS_WAIT_MS), 0);
    f->tally.http_port = 0;
    harness_service_start(&f->tally, "tally", &f->ns, f->data, virtual_env);
    tick(f, 700);
    assert_int_equal(idle_events(f), 1);

    /* The id is derived from the sweep's virtual time: the same in every replay. */
    assert_int_equal(envelope_parse_time(T0, &t0), LB_OK);
    n = harness_stream_messages(f->js, "LB_TALLY", IDLE, &msgs);
    assert_int_equal(n, 1);
    assert_int_equal(natsMsgHeader_Get(msgs[0], "Nats-Msg-Id", &id), NATS_OK);
    {
        char cause[64];

        snprintf(cause, sizeof(cause), "sweep@%lld", (long long)(t0 + 120 * 60000));
        id_derive(expected, t0 + 120 * 60000, cause, "counter_idle/0");
    }
    assert_string_equal(id, expected);
    harness_free_messages(msgs, n);

    /* A new change is a new idle period. */
    add(f);
    tick(f, 800);
    assert_int_equal(harness_wait_stream(f->js, "LB_TALLY", IDLE, 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_idle_exactly_once, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
