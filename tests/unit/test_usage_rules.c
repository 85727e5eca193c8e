/*
 * test_usage_rules.c - usage's pure rules: ids, keys and dates at their
 * limits, the device allowance of one license, and how a customer's
 * consumption is split among its subscriptions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "usage.h"

static void test_entity_ids(void **state)
{
    char id[USAGE_ID_MAX + 2];

    (void)state;
    assert_true(usage_entity_id_valid("u-100"));
    assert_true(usage_entity_id_valid("dev:01.a@b_c"));
    assert_false(usage_entity_id_valid(""));
    assert_false(usage_entity_id_valid("-u"));
    assert_false(usage_entity_id_valid("u 1"));
    assert_false(usage_entity_id_valid("u/1"));
    memset(id, 'a', USAGE_ID_MAX);
    id[USAGE_ID_MAX] = '\0';
    assert_true(usage_entity_id_valid(id)); /* at the limit */
    id[USAGE_ID_MAX] = 'a';
    id[USAGE_ID_MAX + 1] = '\0';
    assert_false(usage_entity_id_valid(id)); /* one past */
}

static void test_license_keys(void **state)
{
    (void)state;
    assert_true(usage_license_key_valid("7KQ2-M4XP-T9RB-C3VN"));
    assert_true(usage_license_key_valid("ABCD-EFGH"));
    assert_false(usage_license_key_valid("ABCD"));       /* one group */
    assert_false(usage_license_key_valid("ABC-EFGH"));   /* group too short */
    assert_false(usage_license_key_valid("abcd-efgh"));  /* lowercase */
    assert_false(usage_license_key_valid("ABCD-EFGH-")); /* empty last group */
    assert_false(usage_license_key_valid("ABCDEFGHI-ABCD"));
    /* 8 groups of 7 + 7 dashes = 63 bytes: at the group limit; 9 groups: one past. */
    assert_true(
        usage_license_key_valid("AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA"));
    assert_false(usage_license_key_valid("AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"));
}

static void test_dates(void **state)
{
    int64_t ms = 0;

    (void)state;
    assert_true(usage_date_parse("2026-11-22", &ms));
    assert_int_equal(ms, 1795305600000LL);
    assert_true(usage_date_parse("2028-02-29", NULL));
    assert_false(usage_date_parse("2026-02-29", NULL)); /* not a leap year */
    assert_false(usage_date_parse("2026-02-30", NULL));
    assert_false(usage_date_parse("2026-13-01", NULL));
    assert_false(usage_date_parse("2026-1-01", NULL));
    assert_false(usage_date_parse("2026-11-22T", NULL));
    assert_false(usage_date_parse("", NULL));
}

static void test_names(void **state)
{
    enum device_kind kind;
    enum seat_basis basis;
    enum sub_status status;

    (void)state;
    assert_true(device_kind_parse("personal", &kind));
    assert_int_equal(kind, DEVICE_PERSONAL);
    assert_false(device_kind_parse("Personal", &kind));
    assert_true(seat_basis_parse("both", &basis));
    assert_int_equal(basis, BASIS_BOTH);
    assert_false(seat_basis_parse("seats", &basis));
    assert_true(sub_status_parse("in_trial", &status));
    assert_string_equal(sub_status_name(status), "in_trial");
    assert_false(sub_status_parse("trial", &status));
}

static void test_allowance(void **state)
{
    struct lb_why why = {{0}};

    (void)state;
    assert_int_equal(usage_allowance_check(DEVICE_BUSINESS, 0, 2, &why), LB_OK);
    assert_int_equal(usage_allowance_check(DEVICE_BUSINESS, 1, 0, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "1 business device"));
    assert_int_equal(usage_allowance_check(DEVICE_PERSONAL, 1, 1, &why), LB_OK); /* the 2nd */
    assert_int_equal(usage_allowance_check(DEVICE_PERSONAL, 0, 2, &why), LB_ECONFLICT); /* 3rd */
    assert_non_null(strstr(why.text, "2 personal device"));
}

static struct sub_usage sub(const char *id, enum seat_basis basis, enum sub_status status,
                            int64_t quantity, int64_t users)
{
    struct sub_usage s = {.basis = basis, .status = status, .quantity = quantity, .users = users};

    snprintf(s.id, sizeof(s.id), "%s", id);
    return s;
}

static void test_users_basis(void **state)
{
    struct sub_usage subs[] = {sub("a", BASIS_USERS, SUB_ACTIVE, 5, 6)};
    struct consumption c = {.subs = subs, .n = 1, .unassociated_devices = 3};

    (void)state;
    consumption_attribute(&c);
    assert_int_equal(subs[0].users, 6);
    assert_int_equal(subs[0].devices, 0);
    assert_true(subs[0].over);
    assert_int_equal(c.unattributed, 3); /* no subscription counts devices */
    assert_int_equal(c.consumed, 9);
    assert_int_equal(c.purchased, 5);
    assert_true(c.over);
}

static void test_devices_fill_in_order(void **state)
{
    struct sub_usage subs[] = {
        sub("a", BASIS_BOTH, SUB_ACTIVE, 5, 3),      /* room for 2 devices */
        sub("b", BASIS_DEVICES, SUB_IN_TRIAL, 4, 9), /* users not counted: room 4 */
        sub("c", BASIS_USERS, SUB_ACTIVE, 2, 1),     /* takes no devices */
    };
    struct consumption c = {.subs = subs, .n = 3, .unassociated_devices = 10};

    (void)state;
    consumption_attribute(&c);
    assert_int_equal(subs[0].devices, 2);
    assert_int_equal(subs[0].consumed, 5);
    assert_false(subs[0].over); /* at the limit */
    assert_int_equal(subs[1].users, 0);
    assert_int_equal(subs[1].devices, 8); /* its 4 + the 4 nobody had room for */
    assert_true(subs[1].over);
    assert_int_equal(subs[2].devices, 0);
    assert_int_equal(subs[2].consumed, 1);
    assert_int_equal(c.unattributed, 0);
    assert_int_equal(c.consumed, 14);
    assert_int_equal(c.purchased, 11);
}

static void test_cancelled_and_suspended(void **state)
{
    struct sub_usage subs[] = {
        sub("a", BASIS_BOTH, SUB_CANCELLED, 1, 5),
        sub("b", BASIS_BOTH, SUB_SUSPENDED, 1, 2),
    };
    struct consumption c = {.subs = subs, .n = 2, .unassociated_devices = 1};

    (void)state;
    consumption_attribute(&c);
    assert_int_equal(subs[0].consumed, 0);
    assert_false(subs[0].over);           /* a cancelled subscription is never over */
    assert_int_equal(subs[1].users, 2);   /* a suspended one still counts its users */
    assert_int_equal(subs[1].devices, 0); /* but takes no new devices */
    assert_true(subs[1].over);
    assert_int_equal(c.unattributed, 1);
    assert_int_equal(c.purchased, 1);
    assert_int_equal(c.consumed, 3);
}

static void test_licensed(void **state)
{
    struct user_row u = {.seat_count = 1};

    (void)state;
    assert_true(user_is_licensed(&u));
    u.released_ms = 1;
    assert_false(user_is_licensed(&u));
    u.released_ms = 0;
    u.deleted_ms = 1;
    assert_false(user_is_licensed(&u));
    u.deleted_ms = 0;
    u.seat_count = 0;
    assert_false(user_is_licensed(&u));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entity_ids),
        cmocka_unit_test(test_license_keys),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_allowance),
        cmocka_unit_test(test_users_basis),
        cmocka_unit_test(test_devices_fill_in_order),
        cmocka_unit_test(test_cancelled_and_suspended),
        cmocka_unit_test(test_licensed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
