/*
 * test_tally_counter.c - tally's pure rules: names, amounts, the 2^53 range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "tally.h"

static void test_names(void **state)
{
    char name[TALLY_NAME_MAX + 2];

    (void)state;
    assert_true(counter_name_valid("scans_2026-q4"));
    assert_false(counter_name_valid(""));
    assert_false(counter_name_valid("Scans"));
    assert_false(counter_name_valid("a.b"));
    memset(name, 'a', TALLY_NAME_MAX);
    name[TALLY_NAME_MAX] = '\0';
    assert_true(counter_name_valid(name)); /* at the limit */
    name[TALLY_NAME_MAX] = 'a';
    name[TALLY_NAME_MAX + 1] = '\0';
    assert_false(counter_name_valid(name)); /* one past */
}

static void test_apply(void **state)
{
    struct counter c = {0};
    struct lb_why why = {{0}};

    (void)state;
    assert_int_equal(counter_apply(&c, 5, 1000, &why), LB_OK);
    assert_int_equal(c.value, 5);
    assert_int_equal(c.version, 1);
    assert_int_equal(c.updated_ms, 1000);
    assert_int_equal(counter_apply(&c, -TALLY_AMOUNT_MAX, 2000, &why), LB_OK); /* at the limit */
    assert_int_equal(c.version, 2);
    assert_int_equal(counter_apply(&c, TALLY_AMOUNT_MAX + 1, 3000, &why), LB_EINVAL);
    assert_int_equal(counter_apply(&c, 0, 3000, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "0"));
    assert_int_equal(c.version, 2); /* refused changes leave it as it was */
    assert_int_equal(c.updated_ms, 2000);
}

static void test_value_range(void **state)
{
    struct counter c = {.value = TALLY_VALUE_MAX - 1, .version = 9};
    struct lb_why why = {{0}};

    (void)state;
    assert_int_equal(counter_apply(&c, 1, 1, &why), LB_OK); /* reaches 2^53 */
    assert_int_equal(counter_apply(&c, 1, 2, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "2^53"));
    assert_int_equal(c.value, TALLY_VALUE_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_value_range),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
