/*
 * test_subscriptions_store.c - the subscriptions tables without NATS: the
 * seeded catalog, the seat rule (smallest attached group holding the user),
 * entitlement lookups, and the trial sweep reading its partial index (no
 * scan), checked with EXPLAIN QUERY PLAN and on 20,000 subscriptions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "clock.h"
#include "subscriptions.h"

static int setup(void **state)
{
    struct store_options opts = {.path = ":memory:"};
    struct store *s = NULL;

    assert_int_equal(store_open(&opts, &s, NULL), LB_OK);
    assert_int_equal(store_migrate(s, "subscriptions", subs_migrations, subs_migration_count, NULL),
                     LB_OK);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    return 0;
}

static struct subscription make_sub(const char *id, enum sub_status status, int64_t trial_end)
{
    struct subscription sub = {
        .package = "core_plus",
        .customer = "cust-7",
        .basis = SEAT_USERS,
        .quantity = 5,
        .status = status,
        .trial_end_ms = trial_end,
        .billing_start_ms = SUBS_NO_TIME,
        .billing_end_ms = SUBS_NO_TIME,
        .version = 1,
    };

    (void)snprintf(sub.id, sizeof(sub.id), "%s", id);
    return sub;
}

static void test_seed_catalog(void **state)
{
    struct store *s = *state;
    char name[SUBS_PACKAGE_NAME_MAX + 1];
    int64_t version = 0;
    bool known = false;
    cJSON *features = cJSON_CreateArray();

    assert_int_equal(subs_store_package_get(s, "core_plus", name, sizeof(name), &version, NULL),
                     LB_OK);
    assert_string_equal(name, "Core+");
    assert_int_equal(subs_store_features_json(s, "core_plus", features, NULL), LB_OK);
    assert_int_equal(cJSON_GetArraySize(features), 7);
    cJSON_Delete(features);
    features = cJSON_CreateArray();
    assert_int_equal(subs_store_features_json(s, "core", features, NULL), LB_OK);
    for (int i = 0; i < cJSON_GetArraySize(features); i++) /* Core+ only */
        assert_null(strstr(cJSON_GetArrayItem(features, i)->valuestring, "file_"));
    cJSON_Delete(features);
    assert_int_equal(subs_store_feature_known(s, "file_sandbox", &known, NULL), LB_OK);
    assert_true(known);
    assert_int_equal(subs_store_feature_known(s, "teleport", &known, NULL), LB_OK);
    assert_false(known);
}

static void member(struct store *s, const char *group, const char *user)
{
    bool changed = false;

    assert_int_equal(subs_store_member_add(s, "t", group, user, &changed, NULL), LB_OK);
}

static void test_seat_grantor(void **state)
{
    struct store *s = *state;
    char group[SUBS_ENTITY_MAX + 1];
    bool changed = false;

    member(s, "g-b", "u1");
    member(s, "g-a", "u1");
    member(s, "g-c", "u2");
    assert_int_equal(subs_store_seat_grantor(s, "t", "sub", "u1", group, NULL), LB_ENOTFOUND);
    assert_int_equal(subs_store_attach(s, "t", "sub", "g-b", &changed, NULL), LB_OK);
    assert_true(changed);
    assert_int_equal(subs_store_attach(s, "t", "sub", "g-b", &changed, NULL), LB_OK);
    assert_false(changed); /* attached already */
    assert_int_equal(subs_store_seat_grantor(s, "t", "sub", "u1", group, NULL), LB_OK);
    assert_string_equal(group, "g-b");
    assert_int_equal(subs_store_attach(s, "t", "sub", "g-a", &changed, NULL), LB_OK);
    assert_int_equal(subs_store_seat_grantor(s, "t", "sub", "u1", group, NULL), LB_OK);
    assert_string_equal(group, "g-a"); /* the smallest attached group holding u1 */
    assert_int_equal(subs_store_seat_grantor(s, "t", "sub", "u2", group, NULL), LB_ENOTFOUND);
    assert_int_equal(subs_store_seat_grantor(s, "other", "sub", "u1", group, NULL), LB_ENOTFOUND);
}

static void test_best_sub(void **state)
{
    struct store *s = *state;
    struct subscription a = make_sub("sub-a", SUB_SUSPENDED, SUBS_NO_TIME);
    struct subscription b = make_sub("sub-b", SUB_ACTIVE, SUBS_NO_TIME);
    struct subscription dev = make_sub("sub-d", SUB_ACTIVE, SUBS_NO_TIME);
    char id[SUBS_ENTITY_MAX + 1];
    enum sub_status status;

    dev.basis = SEAT_DEVICES;
    dev.quantity = 3;
    (void)snprintf(dev.package, sizeof(dev.package), "core");
    assert_int_equal(subs_store_sub_put(s, "t", &a, NULL), LB_OK);
    assert_int_equal(subs_store_sub_put(s, "t", &b, NULL), LB_OK);
    assert_int_equal(subs_store_sub_put(s, "t", &dev, NULL), LB_OK);
    assert_int_equal(subs_store_seat_set(s, "t", "sub-a", "u1", "g", NULL), LB_OK);
    /* u1 holds a seat of the suspended one only. */
    assert_int_equal(
        subs_store_best_sub(s, "t", "cust-7", "u1", "file_sandbox", WANT_USERS, id, &status, NULL),
        LB_OK);
    assert_string_equal(id, "sub-a");
    assert_int_equal(status, SUB_SUSPENDED);
    /* A granting status wins over a suspended one with a smaller id. */
    assert_int_equal(subs_store_seat_set(s, "t", "sub-b", "u1", "g", NULL), LB_OK);
    assert_int_equal(
        subs_store_best_sub(s, "t", "cust-7", "u1", "file_sandbox", WANT_USERS, id, &status, NULL),
        LB_OK);
    assert_string_equal(id, "sub-b");
    /* Devices: only the devices-basis one counts, and Core has no sandbox. */
    assert_int_equal(subs_store_best_sub(s, "t", "cust-7", NULL, "file_sandbox", WANT_DEVICES, id,
                                         &status, NULL),
                     LB_ENOTFOUND);
    assert_int_equal(subs_store_best_sub(s, "t", "cust-7", NULL, "web_protection", WANT_DEVICES, id,
                                         &status, NULL),
                     LB_OK);
    assert_string_equal(id, "sub-d");
    /* Another customer or tenant: nothing. */
    assert_int_equal(
        subs_store_best_sub(s, "t", "cust-8", NULL, "web_protection", WANT_ANY, id, &status, NULL),
        LB_ENOTFOUND);
    assert_int_equal(subs_store_best_sub(s, "u", "cust-7", "u1", "web_protection", WANT_USERS, id,
                                         &status, NULL),
                     LB_ENOTFOUND);
}

/* Collects the plan's detail lines. */
static void plan(struct store *s, const char *sql, char *ret, size_t size)
{
    sqlite3_stmt *stmt = NULL;

    ret[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &stmt, NULL), SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        size_t len = strlen(ret);

        (void)snprintf(ret + len, size - len, "%s; ", (const char *)sqlite3_column_text(stmt, 3));
    }
    sqlite3_finalize(stmt);
}

static void test_query_plans(void **state)
{
    struct store *s = *state;
    char text[1024];

    plan(s,
         "EXPLAIN QUERY PLAN SELECT tenant, id FROM subscriptions INDEXED BY "
         "subscriptions_trial_due WHERE status = 0 AND trial_end_ms <= 5 "
         "ORDER BY trial_end_ms, tenant, id LIMIT 256",
         text, sizeof(text));
    print_message("      sweep plan: %s\n", text);
    assert_non_null(strstr(text, "INDEX subscriptions_trial_due (trial_end_ms<?)"));
    assert_null(strstr(text, "TEMP B-TREE"));
    plan(s,
         "EXPLAIN QUERY PLAN SELECT s.id, s.status FROM seats st "
         "JOIN subscriptions s ON s.tenant = st.tenant AND s.id = st.subscription "
         "JOIN package_features f ON f.package = s.package AND f.feature = 'x' "
         "WHERE st.tenant = 't' AND st.user = 'u' AND s.customer = 'c' AND s.status <> 3 "
         "AND s.basis IN (0, 2) ORDER BY s.status IN (0, 1) DESC, s.id LIMIT 1",
         text, sizeof(text));
    assert_null(strstr(text, "SCAN")); /* every table through an index */
}

/* 20,000 subscriptions of which 200 are due: the due ones come in order, nothing else. */
static void test_trials_due(void **state)
{
    static char tenants[SUBS_SWEEP_CHUNK][SUBS_ORG_MAX + 1];
    static char ids[SUBS_SWEEP_CHUNK][SUBS_ENTITY_MAX + 1];
    struct store *s = *state;
    int64_t start;
    int n = -1;

    assert_int_equal(store_begin(s, NULL), LB_OK);
    for (int i = 0; i < 20000; i++) {
        char id[32];
        struct subscription sub;

        (void)snprintf(id, sizeof(id), "sub-%05d", i);
        /* Every 100th trial ends at 1000 + i; the others in the far future or not in trial. */
        sub = make_sub(id, i % 3 == 1 ? SUB_ACTIVE : SUB_IN_TRIAL,
                       i % 100 == 0 ? 1000 + i : 1000000000);
        if (i % 100 == 0)
            sub.status = SUB_IN_TRIAL;
        assert_int_equal(subs_store_sub_put(s, "t", &sub, NULL), LB_OK);
    }
    assert_int_equal(store_commit(s, NULL), LB_OK);
    start = clock_mono_ns();
    assert_int_equal(subs_store_trials_due(s, 999999, SUBS_SWEEP_CHUNK, tenants, ids, &n, NULL),
                     LB_OK);
    print_message("      200 due among 20,000: found in %.3f ms\n",
                  (double)(clock_mono_ns() - start) / 1e6);
    assert_int_equal(n, 200);
    assert_string_equal(ids[0], "sub-00000");
    assert_string_equal(ids[199], "sub-19900");
    assert_int_equal(subs_store_trials_due(s, 1000, SUBS_SWEEP_CHUNK, tenants, ids, &n, NULL),
                     LB_OK);
    assert_int_equal(n, 1); /* trial_end <= now, the boundary included */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seed_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seat_grantor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_best_sub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trials_due, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
