/*
 * test_lbctl.c - the operator CLI against a real nats-server and lb-tally:
 * each verb's output and exit code, and refusals before anything leaves.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "harness.h"

struct fixture {
    struct nats_server ns;
    struct service_proc tally;
    char data[256];
    char out[65536];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "data");
    harness_service_start(&f->tally, "tally", &f->ns, f->data, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    harness_service_stop(&f->tally, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    free(f);
    return 0;
}

/* Runs lbctl with `args` (shell words) and stdout+stderr into f->out; returns its exit code. */
static int lbctl(struct fixture *f, const char *args)
{
    char command[2048];
    FILE *p;
    size_t len;
    int status;

    snprintf(command, sizeof(command), "%s/lbctl --url %s %s 2>&1", getenv("LB_BINARY_DIR"),
             f->ns.url, args);
    p = popen(command, "r");
    assert_non_null(p);
    len = fread(f->out, 1, sizeof(f->out) - 1, p);
    f->out[len] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void assert_output(struct fixture *f, const char *needle)
{
    if (strstr(f->out, needle) == NULL)
        fail_msg("lbctl printed \"%s\", without \"%s\"", f->out, needle);
}

static void test_usage(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(lbctl(f, "--help"), 0);
    assert_output(f, "Exit codes");
    assert_int_equal(lbctl(f, "publish --help"), 0);
    assert_output(f, "Nats-Msg-Id");
    assert_int_equal(lbctl(f, "frobnicate"), 2);
    assert_output(f, "unknown verb frobnicate");
    assert_int_equal(lbctl(f, "request"), 2);
    assert_int_equal(lbctl(f, "--timeout 0 services"), 2);
}

static void test_request(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(lbctl(f, "request lb.api.tally.add "
                              "'{\"tenant\":\"acme\",\"counter\":\"c\",\"amount\":7}'"),
                     0);
    assert_output(f, "\"value\":7");
    assert_int_equal(lbctl(f, "request lb.api.tally.get '{\"tenant\":\"acme\",\"counter\":\"x\"}'"),
                     5);
    assert_output(f, "\"code\":\"not_found\"");
    assert_int_equal(lbctl(f, "--timeout 500 request lb.api.nobody.here"), 4);
    assert_output(f, "no service answers");
}

static void test_publish(void **state)
{
    struct fixture *f = *state;
    char path[300], args[512];
    FILE *file;

    snprintf(path, sizeof(path), "%s/event.json", f->data);
    file = fopen(path, "w");
    fputs("{\"specversion\":\"1.0\",\"id\":\"01JCLI0000000000000000001\",\"source\":\"/cli\","
          "\"type\":\"licensebus.sample.increment.v1\",\"time\":\"2026-11-22T10:00:00Z\","
          "\"tenant\":\"acme\",\"data\":{\"counter\":\"cli\",\"amount\":4}}",
          file);
    fclose(file);
    snprintf(args, sizeof(args), "--json publish lb.evt.sample.acme.increment %s", path);
    assert_int_equal(lbctl(f, args), 0);
    assert_output(f, "\"stream\":\"LB_SAMPLE\"");
    assert_output(f, "\"duplicate\":false");
    assert_int_equal(lbctl(f, args), 0); /* the same id again: the stream keeps one */
    assert_output(f, "\"duplicate\":true");
    harness_wait_metric(f->tally.http_port, "lb_events_applied_total", 1);

    /* Refused before it leaves: another tenant's subject, or not an event at all. */
    snprintf(args, sizeof(args), "publish lb.evt.sample.other.increment %s", path);
    assert_int_equal(lbctl(f, args), 3);
    assert_output(f, "tenant");
    assert_int_equal(lbctl(f, "publish lb.evt.sample.acme.increment /dev/null"), 3);
    assert_output(f, "not published");

    assert_int_equal(lbctl(f, "--json streams"), 0);
    assert_output(f, "\"stream\":\"LB_SAMPLE\",\"messages\":1");
    assert_output(f, "\"name\":\"tally-sample\"");
}

static void test_services(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(lbctl(f, "services"), 0);
    assert_output(f, "tally");
    assert_int_equal(lbctl(f, "--json services"), 0);
    assert_output(f, "\"type\":\"io.nats.micro.v1.stats_response\"");
}

static void test_nats_down(void **state)
{
    char command[512];

    (void)state;
    snprintf(command, sizeof(command),
             "%s/lbctl --url nats://127.0.0.1:1 --timeout 500 services >/dev/null 2>&1",
             getenv("LB_BINARY_DIR"));
    assert_int_equal(WEXITSTATUS(system(command)), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_services, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nats_down, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
