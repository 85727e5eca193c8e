/*
 * test_errors.c - status codes, their wire names and numbers, lb_fail, and
 * the error reply body built from them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "clock.h"
#include "errors.h"

static void test_codes(void **state)
{
    (void)state;
    assert_string_equal(lb_err_code(LB_EINVAL), "invalid_request");
    assert_int_equal(lb_err_status(LB_EINVAL), 400);
    assert_string_equal(lb_err_code(LB_ENOTFOUND), "not_found");
    assert_int_equal(lb_err_status(LB_ETOOBIG), 413);
    assert_int_equal(lb_err_status(LB_EFORBIDDEN), 403);
    assert_true(lb_err_is_transient(LB_EIO));
    assert_false(lb_err_is_transient(LB_EINVAL));
    assert_string_equal(lb_err_code((enum lb_err)999), "internal"); /* out of range */
}

static void test_fail(void **state)
{
    struct lb_why why = {{0}};
    char long_text[LB_WHY_MAX * 2];

    (void)state;
    assert_int_equal(lb_fail(&why, LB_ECONFLICT, "x=%d", 5), LB_ECONFLICT);
    assert_string_equal(why.text, "x=5");
    assert_int_equal(lb_fail(NULL, LB_EIO, "ignored"), LB_EIO);
    /* A reason may prefix the reason already there. */
    lb_fail(&why, LB_EINVAL, "tenant: %s", why.text);
    assert_string_equal(why.text, "tenant: x=5");
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    lb_fail(&why, LB_EINVAL, "%s", long_text);
    assert_int_equal(strlen(why.text), LB_WHY_MAX - 1);
    assert_string_equal(why.text + LB_WHY_MAX - 4, "..."); /* cut, and says so */
}

static void test_error_body(void **state)
{
    cJSON *details = cJSON_Parse("{\"field\":\"amount\"}");
    char *body = bus_error_body(LB_EINVAL, "amount: \"x\" is not a number", details);
    cJSON *json = cJSON_Parse(body);
    cJSON *error = cJSON_GetObjectItem(json, "error");

    (void)state;
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(error, "code")),
                        "invalid_request");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(error, "message")),
                        "amount: \"x\" is not a number");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(error, "details"), "field")),
        "amount");
    cJSON_Delete(json);
    free(body);
    body = bus_error_body(LB_ENOTFOUND, "gone", NULL);
    assert_string_equal(body, "{\"error\":{\"code\":\"not_found\",\"message\":\"gone\"}}");
    free(body);
    cJSON_Delete(details);
}

static void test_clock(void **state)
{
    struct clock c;
    enum clock_mode mode;

    (void)state;
    assert_int_equal(clock_mode_parse("virtual", &mode), LB_OK);
    assert_int_equal(clock_mode_parse("sundial", &mode), LB_EINVAL);
    clock_init(&c, CLOCK_VIRTUAL, 1000);
    assert_int_equal(clock_now_ms(&c), 1000);
    assert_true(clock_advance(&c, 5000));
    assert_false(clock_advance(&c, 5000)); /* same time: no move */
    assert_false(clock_advance(&c, 10));   /* never backwards */
    assert_int_equal(clock_now_ms(&c), 5000);
    clock_init(&c, CLOCK_WALL, 0);
    assert_false(clock_advance(&c, 1));
    assert_true(clock_now_ms(&c) > 1795000000000LL - 365LL * 86400000 * 10); /* a real date */
    assert_true(clock_mono_ns() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_fail),
        cmocka_unit_test(test_error_body),
        cmocka_unit_test(test_clock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
