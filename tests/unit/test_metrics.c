/*
 * test_metrics.c - the Prometheus text rendering, exactly.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

#include <cmocka.h>

#include "metrics.h"

static void test_render(void **state)
{
    struct metrics *m = metrics_new();
    double *add = metrics_slot(m, METRIC_COUNTER, "lb_requests_total", "Requests\nreceived \\",
                               "endpoint=\"add\"");
    double *get =
        metrics_slot(m, METRIC_COUNTER, "lb_requests_total", "ignored", "endpoint=\"get\"");
    double *pending = metrics_slot(m, METRIC_GAUGE, "lb_outbox_pending", "Rows", "");
    char *text = NULL;
    size_t len = 0;

    (void)state;
    *add += 3;
    *get = 0.25;
    *pending = 7;
    assert_ptr_equal(add,
                     metrics_slot(m, METRIC_COUNTER, "lb_requests_total", "", "endpoint=\"add\""));
    assert_int_equal(metrics_render(m, &text, &len), LB_OK);
    assert_string_equal(text, "# HELP lb_requests_total Requests\\nreceived \\\\\n"
                              "# TYPE lb_requests_total counter\n"
                              "lb_requests_total{endpoint=\"add\"} 3\n"
                              "lb_requests_total{endpoint=\"get\"} 0.25\n"
                              "# HELP lb_outbox_pending Rows\n"
                              "# TYPE lb_outbox_pending gauge\n"
                              "lb_outbox_pending 7\n");
    free(text);
    metrics_free(m);
    metrics_free(NULL);
}

static void test_special_values_and_names(void **state)
{
    struct metrics *m = metrics_new();
    char *text = NULL;
    size_t len = 0;

    (void)state;
    *metrics_slot(m, METRIC_GAUGE, "a", "", "") = NAN;
    *metrics_slot(m, METRIC_GAUGE, "b", "", "") = INFINITY;
    *metrics_slot(m, METRIC_GAUGE, "c", "", "") = 1795341600.5;
    assert_null(metrics_slot(m, METRIC_GAUGE, "9starts_with_digit", "", ""));
    assert_null(metrics_slot(m, METRIC_GAUGE, "has-dash", "", ""));
    assert_int_equal(metrics_render(m, &text, &len), LB_OK);
    assert_string_equal(text, "# HELP a \n# TYPE a gauge\na NaN\n"
                              "# HELP b \n# TYPE b gauge\nb +Inf\n"
                              "# HELP c \n# TYPE c gauge\nc 1795341600.5\n");
    free(text);
    metrics_free(m);
}

static void test_empty(void **state)
{
    struct metrics *m = metrics_new();
    char *text = NULL;
    size_t len = 1;

    (void)state;
    assert_int_equal(metrics_render(m, &text, &len), LB_OK);
    assert_int_equal(len, 0);
    free(text);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_special_values_and_names),
        cmocka_unit_test(test_empty),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
