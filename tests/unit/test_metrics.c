/*
 * test_metrics.c - the Prometheus registry: exact rendered text, value
 * formats, help escaping, name and label validation, stable slots.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* Families and samples created to check that earlier slots do not move. */
#define MANY 1000

/* Renders `m` and checks the text is exactly `expected`. */
static void assert_renders(const struct metrics *m, const char *expected)
{
    char *text = NULL;
    size_t len = 0;

    assert_int_equal(metrics_render(m, &text, &len), LB_OK);
    assert_non_null(text);
    assert_string_equal(text, expected);
    assert_int_equal(len, strlen(expected));
    free(text);
}

static void test_render(void **state)
{
    struct metrics *m = metrics_new();
    double *add = metrics_slot(m, METRIC_COUNTER, "lb_requests_total", "Requests\nreceived \\",
                               "endpoint=\"add\"");
    double *get =
        metrics_slot(m, METRIC_COUNTER, "lb_requests_total", "ignored", "endpoint=\"get\"");
    double *pending = metrics_slot(m, METRIC_GAUGE, "lb_outbox_pending", "Rows", "");

    (void)state;
    assert_non_null(add);
    assert_non_null(get);
    assert_non_null(pending);
    *add += 3;
    *get = 0.25;
    *pending = 7;
    assert_ptr_equal(add,
                     metrics_slot(m, METRIC_COUNTER, "lb_requests_total", "", "endpoint=\"add\""));
    assert_renders(m, "# HELP lb_requests_total Requests\\nreceived \\\\\n"
                      "# TYPE lb_requests_total counter\n"
                      "lb_requests_total{endpoint=\"add\"} 3\n"
                      "lb_requests_total{endpoint=\"get\"} 0.25\n"
                      "# HELP lb_outbox_pending Rows\n"
                      "# TYPE lb_outbox_pending gauge\n"
                      "lb_outbox_pending 7\n");
    metrics_free(m);
    metrics_free(NULL);
}

static void test_help_escapes_only_backslash_and_newline(void **state)
{
    struct metrics *m = metrics_new();

    (void)state;
    *metrics_slot(m, METRIC_GAUGE, "g", "a \"quoted\" {brace}\ttab \\n\n\n", "") = 1;
    assert_renders(m, "# HELP g a \"quoted\" {brace}\ttab \\\\n\\n\\n\n"
                      "# TYPE g gauge\n"
                      "g 1\n");
    metrics_free(m);
}

static void test_values(void **state)
{
    static const struct {
        double value;
        const char *text;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {42, "42"},
        {-3, "-3"},
        {0.1, "0.1"},
        {-2.5, "-2.5"},
        {1.0 / 3.0, "0.3333333333333333"},
        {1795341600.5, "1795341600.5"},
        {1e-7, "1e-07"},
        {9007199254740992.0, "9007199254740992"},   /* 2^53, at the integer limit */
        {18014398509481984.0, "18014398509481984"}, /* 2^54, one power past */
        {1e300, "1e+300"},
        {0.1 + 0.2, "0.30000000000000004"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    char expected[128];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct metrics *m = metrics_new();

        *metrics_slot(m, METRIC_GAUGE, "v", "", "") = cases[i].value;
        snprintf(expected, sizeof(expected), "# HELP v \n# TYPE v gauge\nv %s\n", cases[i].text);
        assert_renders(m, expected);
        metrics_free(m);
    }
}

static void test_names(void **state)
{
    static const char *const good[] = {"a", "_", ":", "lb:rate_5m", "A_Z09", "_total"};
    static const char *const bad[] = {
        "", "9starts_with_digit", "has-dash", "has space", "é", "a.b", "a{b}", "a\n"};
    struct metrics *m = metrics_new();

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_null(metrics_slot(m, METRIC_GAUGE, bad[i], "", ""));
    assert_null(metrics_slot(m, METRIC_GAUGE, NULL, "", ""));
    assert_renders(m, ""); /* nothing was registered */
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_non_null(metrics_slot(m, METRIC_GAUGE, good[i], "", ""));
    metrics_free(m);
}

static void test_labels(void **state)
{
    static const char *const good[] = {
        "", "a=\"\"", "endpoint=\"add\"", "a=\"1\",b=\"2\"", "_x9=\"q \\\" bs \\\\ nl \\n, = { }\"",
    };
    static const char *const bad[] = {
        "a",          "a=b",       "a=\"b",      "=\"b\"",    "9a=\"b\"",
        "a:b=\"c\"",  "a=\"b\"c",  "a=\"b\",",   ",a=\"b\"",  "a=\"b\" ,c=\"d\"",
        "a=\"b\\x\"", "a=\"b\\\"", "a=\"b\nc\"", "a-b=\"c\"", "{a=\"b\"}",
    };
    struct metrics *m = metrics_new();

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (metrics_slot(m, METRIC_COUNTER, "c_total", "", bad[i]) != NULL)
            fail_msg("label set \"%s\" was accepted", bad[i]);
    }
    assert_renders(m, ""); /* a refused label set registers no family either */
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        *metrics_slot(m, METRIC_COUNTER, "c_total", "", good[i]) = (double)i;
    assert_ptr_equal(metrics_slot(m, METRIC_COUNTER, "c_total", "", NULL),
                     metrics_slot(m, METRIC_COUNTER, "c_total", "", "")); /* NULL is "" */
    assert_renders(m, "# HELP c_total \n"
                      "# TYPE c_total counter\n"
                      "c_total 0\n"
                      "c_total{a=\"\"} 1\n"
                      "c_total{endpoint=\"add\"} 2\n"
                      "c_total{a=\"1\",b=\"2\"} 3\n"
                      "c_total{_x9=\"q \\\" bs \\\\ nl \\n, = { }\"} 4\n");
    metrics_free(m);
}

static void test_first_call_fixes_help_and_type(void **state)
{
    struct metrics *m = metrics_new();
    double *first = metrics_slot(m, METRIC_GAUGE, "x", "first help", "");

    (void)state;
    assert_ptr_equal(metrics_slot(m, METRIC_COUNTER, "x", "second help", ""), first);
    *metrics_slot(m, METRIC_COUNTER, "y", NULL, "") = 2; /* NULL help is "" */
    assert_renders(m, "# HELP x first help\n# TYPE x gauge\nx 0\n"
                      "# HELP y \n# TYPE y counter\ny 2\n");
    metrics_free(m);
}

static void test_slots_stay_put(void **state)
{
    struct metrics *m = metrics_new();
    double *first = metrics_slot(m, METRIC_COUNTER, "first_total", "", "k=\"0\"");
    char name[32];
    char labels[32];

    (void)state;
    *first = 5;
    for (int i = 0; i < MANY; i++) {
        snprintf(name, sizeof(name), "family_%d", i);
        snprintf(labels, sizeof(labels), "k=\"%d\"", i + 1);
        assert_non_null(metrics_slot(m, METRIC_GAUGE, name, "", ""));
        assert_non_null(metrics_slot(m, METRIC_COUNTER, "first_total", "", labels));
    }
    *first += 1;
    assert_ptr_equal(metrics_slot(m, METRIC_COUNTER, "first_total", "", "k=\"0\""), first);
    assert_true(*first == 6);
    metrics_free(m);
}

static void test_empty(void **state)
{
    struct metrics *m = metrics_new();

    (void)state;
    assert_renders(m, ""); /* a string, not NULL */
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_help_escapes_only_backslash_and_newline),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_first_call_fixes_help_and_type),
        cmocka_unit_test(test_slots_stay_put),
        cmocka_unit_test(test_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
