/*
 * test_subscriptions_rules.c - the subscriptions service's pure rules: ids,
 * enums, every status transition (allowed and refused), trial conversion,
 * quantities at and past their limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "subscriptions.h"

#define NOW 1000000

static struct subscription trial(void)
{
    struct subscription s = {
        .id = "sub-1",
        .customer = "cust-7",
        .package = "core",
        .basis = SEAT_USERS,
        .quantity = 10,
        .status = SUB_IN_TRIAL,
        .trial_end_ms = NOW + 5000,
        .billing_start_ms = SUBS_NO_TIME,
        .billing_end_ms = SUBS_NO_TIME,
        .version = 1,
    };
    return s;
}

static void test_names(void **state)
{
    char id[SUBS_ENTITY_MAX + 2];
    char name[SUBS_NAME_ID_MAX + 2];

    (void)state;
    assert_true(subs_name_id_valid("core_plus"));
    assert_false(subs_name_id_valid("Core"));
    assert_false(subs_name_id_valid("1core"));
    assert_false(subs_name_id_valid("core-plus"));
    assert_false(subs_name_id_valid(""));
    memset(name, 'a', SUBS_NAME_ID_MAX);
    name[SUBS_NAME_ID_MAX] = '\0';
    assert_true(subs_name_id_valid(name)); /* at the limit */
    name[SUBS_NAME_ID_MAX] = 'a';
    name[SUBS_NAME_ID_MAX + 1] = '\0';
    assert_false(subs_name_id_valid(name)); /* one past */

    assert_true(subs_entity_id_valid("u-100@acme.example:1"));
    assert_true(subs_entity_id_valid("01JD8Z3T2V6Q9R8S7T6V5W4X41"));
    assert_false(subs_entity_id_valid("-u"));
    assert_false(subs_entity_id_valid("u 1"));
    assert_false(subs_entity_id_valid("u/1"));
    assert_false(subs_entity_id_valid(""));
    memset(id, 'a', SUBS_ENTITY_MAX);
    id[SUBS_ENTITY_MAX] = '\0';
    assert_true(subs_entity_id_valid(id));
    id[SUBS_ENTITY_MAX] = 'a';
    id[SUBS_ENTITY_MAX + 1] = '\0';
    assert_false(subs_entity_id_valid(id));
}

static void test_enums(void **state)
{
    enum seat_basis b;
    enum sub_status s;

    (void)state;
    assert_true(seat_basis_parse("both", &b));
    assert_int_equal(b, SEAT_BOTH);
    assert_false(seat_basis_parse("Users", &b));
    assert_string_equal(seat_basis_name(SEAT_DEVICES), "devices");
    assert_true(sub_status_parse("in_trial", &s));
    assert_int_equal(s, SUB_IN_TRIAL);
    assert_false(sub_status_parse("trial", &s));
    assert_string_equal(sub_status_name(SUB_CANCELLED), "cancelled");
    assert_true(seat_basis_counts_users(SEAT_BOTH) && seat_basis_counts_devices(SEAT_BOTH));
    assert_false(seat_basis_counts_users(SEAT_DEVICES));
    assert_false(seat_basis_counts_devices(SEAT_USERS));
    assert_true(sub_status_grants(SUB_IN_TRIAL) && sub_status_grants(SUB_ACTIVE));
    assert_false(sub_status_grants(SUB_SUSPENDED) || sub_status_grants(SUB_CANCELLED));
}

static void test_convert(void **state)
{
    struct subscription s = trial();
    struct lb_why why = {{0}};
    const char *change = NULL;

    (void)state;
    assert_int_equal(sub_transition(&s, CMD_CONVERT, NOW, &change, &why), LB_OK);
    assert_string_equal(change, "converted");
    assert_int_equal(s.status, SUB_ACTIVE);
    assert_int_equal(s.billing_start_ms, NOW); /* by hand: billing starts now */
    /* Twice: a conflict naming the status, the subscription untouched. */
    assert_int_equal(sub_transition(&s, CMD_CONVERT, NOW + 1, &change, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "it is active"));
    assert_int_equal(s.billing_start_ms, NOW);
}

static void test_convert_after_cancel(void **state)
{
    struct subscription s = trial();
    struct lb_why why = {{0}};
    const char *change = NULL;

    (void)state;
    assert_int_equal(sub_transition(&s, CMD_CANCEL, NOW, &change, &why), LB_OK);
    assert_string_equal(change, "cancelled");
    assert_int_equal(s.billing_end_ms, NOW);
    assert_int_equal(sub_transition(&s, CMD_CONVERT, NOW, &change, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "cannot convert subscription sub-1: it is cancelled"));
    assert_non_null(strstr(why.text, "only an in_trial subscription can be converted"));
    assert_int_equal(sub_transition(&s, CMD_CANCEL, NOW, &change, &why), LB_ECONFLICT);
    assert_int_equal(sub_transition(&s, CMD_SUSPEND, NOW, &change, &why), LB_ECONFLICT);
    assert_int_equal(sub_transition(&s, CMD_REACTIVATE, NOW, &change, &why), LB_ECONFLICT);
    assert_int_equal(s.status, SUB_CANCELLED);
}

static void test_suspend_reactivate(void **state)
{
    struct subscription s = trial();
    struct lb_why why = {{0}};
    const char *change = NULL;

    (void)state;
    assert_int_equal(sub_transition(&s, CMD_REACTIVATE, NOW, &change, &why), LB_ECONFLICT);
    assert_int_equal(sub_transition(&s, CMD_SUSPEND, NOW, &change, &why), LB_OK);
    assert_string_equal(change, "suspended");
    assert_int_equal(sub_transition(&s, CMD_SUSPEND, NOW, &change, &why), LB_ECONFLICT);
    assert_int_equal(sub_transition(&s, CMD_CONVERT, NOW, &change, &why), LB_ECONFLICT);
    /* Trial still running, never converted: back to in_trial, no billing. */
    assert_int_equal(sub_transition(&s, CMD_REACTIVATE, NOW + 1, &change, &why), LB_OK);
    assert_string_equal(change, "reactivated");
    assert_int_equal(s.status, SUB_IN_TRIAL);
    assert_true(s.billing_start_ms == SUBS_NO_TIME);
    /* Suspended across the trial end: reactivated as active, billing from now. */
    assert_int_equal(sub_transition(&s, CMD_SUSPEND, NOW + 2, &change, &why), LB_OK);
    assert_int_equal(sub_transition(&s, CMD_REACTIVATE, NOW + 9000, &change, &why), LB_OK);
    assert_int_equal(s.status, SUB_ACTIVE);
    assert_int_equal(s.billing_start_ms, NOW + 9000);
    /* An active one suspended and reactivated keeps its billing start. */
    assert_int_equal(sub_transition(&s, CMD_SUSPEND, NOW + 10000, &change, &why), LB_OK);
    assert_int_equal(sub_transition(&s, CMD_REACTIVATE, NOW + 20000, &change, &why), LB_OK);
    assert_int_equal(s.billing_start_ms, NOW + 9000);
}

static void test_trial_due(void **state)
{
    struct subscription s = trial();

    (void)state;
    assert_false(sub_trial_due(&s, NOW + 4999));
    assert_true(sub_trial_due(&s, NOW + 5000)); /* at trial end */
    sub_convert_at_trial_end(&s);
    assert_int_equal(s.status, SUB_ACTIVE);
    assert_int_equal(s.billing_start_ms, NOW + 5000); /* billing from the trial end */
    assert_false(sub_trial_due(&s, NOW + 99999));     /* once */
    s = trial();
    s.status = SUB_SUSPENDED;
    assert_false(sub_trial_due(&s, NOW + 99999)); /* a suspended trial is not converted */
}

static void test_quantity(void **state)
{
    struct subscription s = trial();
    struct lb_why why = {{0}};
    const char *change;

    (void)state;
    assert_int_equal(sub_set_quantity(&s, SUBS_QUANTITY_MAX, &why), LB_OK); /* at the limit */
    assert_int_equal(sub_set_quantity(&s, SUBS_QUANTITY_MAX + 1, &why), LB_EINVAL);
    assert_int_equal(sub_set_quantity(&s, 0, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "outside [1, 1000000]"));
    assert_int_equal(sub_set_quantity(&s, 1, &why), LB_OK);
    assert_int_equal(s.quantity, 1);
    assert_int_equal(sub_transition(&s, CMD_CANCEL, NOW, &change, &why), LB_OK);
    assert_int_equal(sub_set_quantity(&s, 5, &why), LB_ECONFLICT);
    assert_int_equal(s.quantity, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_convert_after_cancel),
        cmocka_unit_test(test_suspend_reactivate),
        cmocka_unit_test(test_trial_due),
        cmocka_unit_test(test_quantity),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
