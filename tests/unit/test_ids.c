/*
 * test_ids.c - ULIDs sort by time, derived ids are stable, digests differ.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "ids.h"

static void test_new_ids(void **state)
{
    char a[ID_LEN + 1], b[ID_LEN + 1], c[ID_LEN + 1];

    (void)state;
    id_new(a, 1795341600000LL);
    id_new(b, 1795341600000LL);
    id_new(c, 1795341600001LL);
    assert_int_equal(strlen(a), ID_LEN);
    assert_string_not_equal(a, b);                     /* random tails */
    assert_memory_equal(a, b, 10);                     /* same millisecond, same time prefix */
    assert_true(strcmp(a, c) < 0 && strcmp(b, c) < 0); /* time order is string order */
    assert_int_equal(strspn(a, "0123456789ABCDEFGHJKMNPQRSTVWXYZ"), ID_LEN);
}

static void test_known_time_prefix(void **state)
{
    char id[ID_LEN + 1];

    (void)state;
    id_new(id, 0);
    assert_memory_equal(id, "0000000000", 10);
    id_new(id, 281474976710655LL); /* 2^48 - 1: the largest ULID time */
    assert_memory_equal(id, "7ZZZZZZZZZ", 10);
}

static void test_derived_ids(void **state)
{
    char a[ID_LEN + 1], b[ID_LEN + 1], c[ID_LEN + 1], d[ID_LEN + 1];

    (void)state;
    id_derive(a, 1000, "parent", "salt/0");
    id_derive(b, 1000, "parent", "salt/0");
    id_derive(c, 1000, "parent", "salt/1");
    id_derive(d, 1000, "parenT", "salt/0");
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    id_derive(c, 2000, "parent", "salt/0");
    assert_true(strcmp(a, c) < 0);
    assert_memory_not_equal(a + 10, "0000000000000000", 16); /* the hash fills the tail */
}

static void test_digest(void **state)
{
    (void)state;
    assert_int_equal(id_digest("", 0), 14695981039346656037ULL); /* FNV-1a offset basis */
    assert_int_equal(id_digest("a", 1), 0xaf63dc4c8601ec8cULL);  /* FNV-1a 64 test vector */
    assert_int_not_equal(id_digest("{\"a\":1}", 7), id_digest("{\"a\":2}", 7));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_ids),
        cmocka_unit_test(test_known_time_prefix),
        cmocka_unit_test(test_derived_ids),
        cmocka_unit_test(test_digest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
