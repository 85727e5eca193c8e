/*
 * test_licensing_store.c - licensing's history table without NATS: entries
 * numbered per license, read back in order, and kept across migration 5
 * (the WITHOUT ROWID table keyed (license, seq) becoming an append-ordered
 * table with an index), checked on a database made by migrations 1-4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "licensing.h"

/* The migrations before the history table was rebuilt. */
#define MIGRATIONS_BEFORE_HISTORY_LOG 4

static struct store *open_memory(size_t migrations)
{
    struct store_options opts = {.path = ":memory:"};
    struct store *s = NULL;

    assert_int_equal(store_open(&opts, &s, NULL), LB_OK);
    assert_int_equal(store_migrate(s, "licensing", lic_migrations, migrations, NULL), LB_OK);
    return s;
}

static void add(struct store *s, const char *license, const char *event_id)
{
    char entry[64];

    snprintf(entry, sizeof(entry), "{\"event_id\":\"%s\"}", event_id);
    assert_int_equal(lic_store_history_add(s, license, event_id, "license_activated", 1, entry,
                                           strlen(entry), NULL),
                     LB_OK);
}

/* Asserts that the history of `license` after `after` is exactly `ids`, in that order. */
static void expect_history(struct store *s, const char *license, int64_t after, int limit,
                           const char *const *ids, int n, bool more)
{
    cJSON *list = NULL;
    bool ret_more = !more;

    assert_int_equal(lic_store_history_json(s, license, after, limit, &list, &ret_more, NULL),
                     LB_OK);
    assert_int_equal(cJSON_GetArraySize(list), n);
    for (int i = 0; i < n; i++) {
        const cJSON *item = cJSON_GetArrayItem(list, i);

        assert_string_equal(cJSON_GetObjectItem(item, "event_id")->valuestring, ids[i]);
        assert_int_equal(cJSON_GetObjectItem(item, "seq")->valuedouble, after + i + 1);
    }
    assert_int_equal(ret_more, more);
    cJSON_Delete(list);
}

static void test_history_numbered_per_license(void **state)
{
    struct store *s = open_memory(lic_migration_count);
    const char *const a[] = {"a1", "a2", "a3"};
    const char *const b[] = {"b1"};

    (void)state;
    add(s, "lic-a", "a1");
    add(s, "lic-b", "b1");
    add(s, "lic-a", "a2");
    add(s, "lic-a", "a3");
    expect_history(s, "lic-a", 0, 10, a, 3, false);
    expect_history(s, "lic-b", 0, 10, b, 1, false);
    expect_history(s, "lic-a", 1, 1, a + 1, 1, true);
    expect_history(s, "lic-none", 0, 10, NULL, 0, false);
    store_close(s);
}

static void test_history_kept_by_migration_5(void **state)
{
    struct store *s = open_memory(MIGRATIONS_BEFORE_HISTORY_LOG);
    const char *const a[] = {"a1", "a2", "a3"};
    const char *const b[] = {"b1", "b2"};
    sqlite3_stmt *plan = NULL;
    bool by_index = false;

    (void)state;
    add(s, "lic-a", "a1");
    add(s, "lic-b", "b1");
    add(s, "lic-a", "a2");
    assert_int_equal(store_migrate(s, "licensing", lic_migrations, lic_migration_count, NULL),
                     LB_OK);
    add(s, "lic-a", "a3");
    add(s, "lic-b", "b2");
    expect_history(s, "lic-a", 0, 10, a, 3, false);
    expect_history(s, "lic-b", 0, 10, b, 2, false);
    /* The same (license, seq) twice is refused by the new unique index. */
    assert_int_not_equal(store_exec(s,
                                    "INSERT INTO history (license, seq, event_id, change, "
                                    "time_ms, entry) VALUES ('lic-a', 1, 'x', 'c', 1, '{}')",
                                    NULL),
                         LB_OK);
    /* A license's history is read through the index, not by scanning every entry. */
    assert_int_equal(sqlite3_prepare_v2(store_db(s),
                                        "EXPLAIN QUERY PLAN SELECT seq, entry FROM history WHERE "
                                        "license = 'lic-a' AND seq > 0 ORDER BY seq",
                                        -1, &plan, NULL),
                     SQLITE_OK);
    while (sqlite3_step(plan) == SQLITE_ROW)
        by_index = by_index ||
                   strstr((const char *)sqlite3_column_text(plan, 3), "history_by_license") != NULL;
    sqlite3_finalize(plan);
    assert_true(by_index);
    store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_numbered_per_license),
        cmocka_unit_test(test_history_kept_by_migration_5),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
