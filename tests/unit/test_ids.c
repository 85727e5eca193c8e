/*
 * test_ids.c - ULIDs sort by time, derived ids are stable, digests are FNV-1a.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"

#define CROCKFORD "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

/* Characters holding the 48-bit time. */
#define TIME_CHARS 10

/* 2026-11-22T10:00:00.000Z */
#define T0 1795341600000LL

static void assert_well_formed(const char *id)
{
    assert_int_equal(strlen(id), ID_LEN);
    assert_int_equal(strspn(id, CROCKFORD), ID_LEN);
    assert_true(id[0] >= '0' && id[0] <= '7'); /* 128 bits: the top character holds 3 */
}

static void test_new_ids(void **state)
{
    char a[ID_LEN + 1], b[ID_LEN + 1];

    (void)state;
    id_new(a, T0);
    id_new(b, T0);
    assert_well_formed(a);
    assert_well_formed(b);
    assert_string_not_equal(a, b);         /* random tails */
    assert_memory_equal(a, b, TIME_CHARS); /* same millisecond, same time prefix */
    assert_memory_equal(a, "01M81B5H80", TIME_CHARS);
}

/* Ids made at increasing milliseconds sort increasingly as strings, whatever their tails. */
static void test_time_order(void **state)
{
    static const int64_t times[] = {0,
                                    1,
                                    31,
                                    32,
                                    1000,
                                    999999,
                                    T0 - 1,
                                    T0,
                                    T0 + 1,
                                    T0 + 86400000,
                                    (1LL << 48) - 2,
                                    (1LL << 48) - 1};
    char prev[ID_LEN + 1], next[ID_LEN + 1];

    (void)state;
    for (size_t i = 1; i < sizeof(times) / sizeof(times[0]); i++) {
        for (int k = 0; k < 50; k++) {
            id_new(prev, times[i - 1]);
            id_new(next, times[i]);
            assert_well_formed(next);
            if (strcmp(prev, next) >= 0)
                fail_msg("%s (t=%lld) sorts after %s (t=%lld)", prev, (long long)times[i - 1], next,
                         (long long)times[i]);
        }
    }
}

static void test_time_prefix_bounds(void **state)
{
    char id[ID_LEN + 1];

    (void)state;
    id_new(id, 0);
    assert_memory_equal(id, "0000000000", TIME_CHARS);
    id_new(id, 1);
    assert_memory_equal(id, "0000000001", TIME_CHARS);
    id_new(id, 32);
    assert_memory_equal(id, "0000000010", TIME_CHARS);
    id_new(id, (1LL << 48) - 1); /* the largest ULID time, at the limit */
    assert_memory_equal(id, "7ZZZZZZZZZ", TIME_CHARS);
    id_new(id, 1LL << 48); /* one past: clamped rather than wrapped to 0 */
    assert_memory_equal(id, "7ZZZZZZZZZ", TIME_CHARS);
    id_new(id, -1); /* before the epoch: clamped to 0 */
    assert_memory_equal(id, "0000000000", TIME_CHARS);
}

static void test_derived_ids(void **state)
{
    char a[ID_LEN + 1], b[ID_LEN + 1], c[ID_LEN + 1];

    (void)state;
    id_derive(a, T0, "01JD8Z3T2V6Q9R8S7T6V5W4X3Y", "counter_changed/0");
    id_derive(b, T0, "01JD8Z3T2V6Q9R8S7T6V5W4X3Y", "counter_changed/0");
    assert_well_formed(a);
    assert_string_equal(a, b); /* same inputs, same id */
    /* A fixed value: replays of recorded logs depend on it never changing. */
    assert_string_equal(a, "01M81B5H80KXCNAMNQC895F6A9");
    id_derive(c, T0, "01JD8Z3T2V6Q9R8S7T6V5W4X3Y", "counter_changed/1");
    assert_string_not_equal(a, c);
    assert_memory_not_equal(a + TIME_CHARS, c + TIME_CHARS, 8); /* the last byte spreads */
    id_derive(c, T0, "01JD8Z3T2V6Q9R8S7T6V5W4X3Z", "counter_changed/0");
    assert_string_not_equal(a, c);
    id_derive(c, T0 + 1, "01JD8Z3T2V6Q9R8S7T6V5W4X3Y", "counter_changed/0");
    assert_true(strcmp(a, c) < 0); /* the time prefix keeps time order */
    assert_string_equal(a + TIME_CHARS, c + TIME_CHARS);
    /* The boundary between parent and salt is part of the input. */
    id_derive(b, T0, "ab", "c");
    id_derive(c, T0, "a", "bc");
    assert_string_not_equal(b, c);
    /* NULL counts as "". */
    id_derive(b, T0, NULL, "x");
    id_derive(c, T0, "", "x");
    assert_string_equal(b, c);
}

/* Many salts differing only in their last characters give distinct ids. */
static void test_derived_ids_distinct(void **state)
{
    enum { COUNT = 2000 };
    static char ids[COUNT][ID_LEN + 1];
    char salt[32];

    (void)state;
    for (int i = 0; i < COUNT; i++) {
        snprintf(salt, sizeof(salt), "counter_idle/%d", i);
        id_derive(ids[i], T0, "cause", salt);
        for (int k = 0; k < i; k++) {
            if (strcmp(ids[i], ids[k]) == 0)
                fail_msg("salts %d and %d give the same id %s", i, k, ids[i]);
        }
    }
}

static void test_digest(void **state)
{
    (void)state;
    /* Test vectors of the FNV-1a 64 reference. */
    assert_int_equal(id_digest("", 0), 0xcbf29ce484222325ULL);
    assert_int_equal(id_digest("a", 1), 0xaf63dc4c8601ec8cULL);
    assert_int_equal(id_digest("foobar", 6), 0x85944171f73967e8ULL);
    assert_int_not_equal(id_digest("{\"a\":1}", 7), id_digest("{\"a\":2}", 7));
    assert_int_not_equal(id_digest("ab", 2), id_digest("ab", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_ids),
        cmocka_unit_test(test_time_order),
        cmocka_unit_test(test_time_prefix_bounds),
        cmocka_unit_test(test_derived_ids),
        cmocka_unit_test(test_derived_ids_distinct),
        cmocka_unit_test(test_digest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
