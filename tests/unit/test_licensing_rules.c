/*
 * test_licensing_rules.c - licensing's pure rules: status from dates and the
 * expiring window, the sweep's next transition, keys (format and
 * deterministic generation), dates, activation checks and "shown under".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "licensing.h"

#define DAY    LIC_DAY_MS
#define WINDOW (30 * DAY)

static struct license make(int64_t start, int64_t expires)
{
    struct license l;

    memset(&l, 0, sizeof(l));
    snprintf(l.key, sizeof(l.key), "AAAA-BBBB");
    snprintf(l.product, sizeof(l.product), "core");
    l.start_ms = start;
    l.expires_ms = expires;
    l.limit = 2;
    return l;
}

static void test_status_boundaries(void **state)
{
    struct license l = make(0, 100 * DAY);

    (void)state;
    assert_int_equal(lic_status_at(&l, 0, WINDOW), LIC_ACTIVE);
    assert_int_equal(lic_status_at(&l, 70 * DAY - 1, WINDOW), LIC_ACTIVE);
    assert_int_equal(lic_status_at(&l, 70 * DAY, WINDOW), LIC_EXPIRING);
    assert_int_equal(lic_status_at(&l, 100 * DAY - 1, WINDOW), LIC_EXPIRING);
    assert_int_equal(lic_status_at(&l, 100 * DAY, WINDOW), LIC_EXPIRED);
    assert_int_equal(lic_status_at(&l, 100 * DAY, 1), LIC_EXPIRED);
    assert_false(lic_started(&l, -1));
    assert_true(lic_started(&l, 0));
    assert_string_equal(lic_status_name(LIC_EXPIRING), "expiring");
}

static void test_next_transition(void **state)
{
    struct license l = make(0, 100 * DAY);

    (void)state;
    assert_int_equal(lic_next_transition(&l, WINDOW), 70 * DAY);
    l.expiring_for = l.expires_ms;
    assert_int_equal(lic_next_transition(&l, WINDOW), 100 * DAY);
    l.expired_for = l.expires_ms;
    assert_int_equal(lic_next_transition(&l, WINDOW), INT64_MAX);
    /* A renewal moves the expiration: both transitions are armed again. */
    l.expires_ms = 200 * DAY;
    assert_int_equal(lic_next_transition(&l, WINDOW), 170 * DAY);
}

static void test_key_format(void **state)
{
    char key[20];
    char again[20];
    char other[20];

    (void)state;
    assert_true(lic_key_valid("7KQ2-M4XP-T9RB-C3VN"));
    assert_true(lic_key_valid("ABCD-EFGH"));
    /* 64 characters (the limit) and 65. */
    assert_true(lic_key_valid("ABCDEFGH-ABCDEFGH-ABCDEFGH-ABCDEFGH-ABCDEFGH-ABCDEFGH-ABCDE-ABCD"));
    assert_false(
        lic_key_valid("ABCDEFGH-ABCDEFGH-ABCDEFGH-ABCDEFGH-ABCDEFGH-ABCDEFGH-ABCDE-ABCDE"));
    /* 9 groups. */
    assert_false(lic_key_valid("ABCD-ABCD-ABCD-ABCD-ABCD-ABCD-ABCD-ABCD-ABCD"));
    assert_false(lic_key_valid("ABCD"));
    assert_false(lic_key_valid("ABC-DEFG"));
    assert_false(lic_key_valid("abcd-efgh"));
    assert_false(lic_key_valid("ABCD--EFGH"));
    assert_false(lic_key_valid("ABCD-EFGH-"));
    assert_false(lic_key_valid("ABCDEFGHI-ABCD"));
    assert_false(lic_key_valid("A-B-C-D-E-F-G-H-I"));
    lic_key_generate("01JD8Z3T2V6Q9R8S7T6V5W4X41", 0, key);
    lic_key_generate("01JD8Z3T2V6Q9R8S7T6V5W4X41", 0, again);
    lic_key_generate("01JD8Z3T2V6Q9R8S7T6V5W4X41", 1, other);
    assert_string_equal(key, again);
    assert_string_not_equal(key, other);
    assert_int_equal(strlen(key), 19);
    assert_true(lic_key_valid(key));
    for (size_t i = 0; i < 19; i++) {
        if (i % 5 == 4)
            assert_int_equal(key[i], '-');
        else
            assert_non_null(strchr(LIC_KEY_ALPHABET, key[i]));
    }
}

static void test_ids_and_names(void **state)
{
    char id[130];

    (void)state;
    assert_true(lic_product_id_valid("metadefender-core"));
    assert_false(lic_product_id_valid("-core"));
    assert_false(lic_product_id_valid("Core"));
    assert_false(lic_product_id_valid(""));
    memset(id, 'a', 64);
    id[64] = '\0';
    assert_true(lic_product_id_valid(id));
    id[64] = 'a';
    id[65] = '\0';
    assert_false(lic_product_id_valid(id));
    assert_true(lic_entity_valid("vm-01.acme:1@x"));
    assert_false(lic_entity_valid(".vm"));
    assert_false(lic_entity_valid("vm 1"));
    memset(id, 'a', 128);
    id[128] = '\0';
    assert_true(lic_entity_valid(id));
    id[128] = 'a';
    id[129] = '\0';
    assert_false(lic_entity_valid(id));
}

static void test_dates(void **state)
{
    int64_t ms;
    char text[16];

    (void)state;
    assert_true(lic_date_parse("2026-11-22", &ms));
    lic_date_format(ms, text);
    assert_string_equal(text, "2026-11-22");
    assert_int_equal(ms % DAY, 0);
    assert_true(lic_date_parse("2028-02-29", &ms));
    assert_false(lic_date_parse("2027-02-29", &ms));
    assert_false(lic_date_parse("2026-02-30", &ms));
    assert_false(lic_date_parse("2026-13-01", &ms));
    assert_false(lic_date_parse("2026-1-01", &ms));
    assert_false(lic_date_parse("2026-11-22T00:00:00Z", &ms));
    assert_false(lic_date_parse("", &ms));
}

static void test_activation(void **state)
{
    struct license l = make(10 * DAY, 100 * DAY);
    struct lb_why why;

    (void)state;
    assert_int_equal(lic_check_activation(&l, "core", false, 10 * DAY, &why), LB_OK);
    assert_int_equal(lic_check_activation(&l, "other", false, 10 * DAY, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "not \"other\""));
    assert_int_equal(lic_check_activation(&l, "core", false, 10 * DAY - 1, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "not started"));
    assert_int_equal(lic_check_activation(&l, "core", false, 100 * DAY, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "expired"));
    l.deployed = 2;
    assert_int_equal(lic_check_activation(&l, "core", false, 20 * DAY, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "all 2 purchased"));
    /* An instance already bound is not a new one: idempotent even when full. */
    assert_int_equal(lic_check_activation(&l, "core", true, 20 * DAY, &why), LB_OK);
    l.delivery = LIC_CLOUD;
    l.deployed = 0;
    assert_int_equal(lic_check_activation(&l, "core", false, 20 * DAY, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "cloud"));
}

static void test_shown_under(void **state)
{
    /* dist -> msp -> cust -> sub; cust2 a sibling of cust; "/d/m/c/" vs "/d/m/c2/". */
    const char *const paths[] = {"/d/m/c/", "/d/m/c/s/", "/d/m/c2/", "/d/"};
    const char *const one[] = {"/d/m/c/"};
    const char *const prefix[] = {"/d/m/c/", "/d/m/c2/"};
    bool shown[4];

    (void)state;
    lic_shown_under(paths, 4, shown);
    assert_false(shown[0]); /* cust has its sub-org assigned: the sub-org wins */
    assert_true(shown[1]);
    assert_true(shown[2]);  /* a sibling is no descendant */
    assert_false(shown[3]); /* the root has assigned orgs below it */
    lic_shown_under(one, 1, shown);
    assert_true(shown[0]);
    /* "c2" starts with "c" but is not below "c": paths end in '/', so no false prefix. */
    lic_shown_under(prefix, 2, shown);
    assert_true(shown[0]);
    assert_true(shown[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_boundaries),
        cmocka_unit_test(test_next_transition),
        cmocka_unit_test(test_key_format),
        cmocka_unit_test(test_ids_and_names),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_activation),
        cmocka_unit_test(test_shown_under),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
