/*
 * test_subscriptions_store.c - the subscriptions tables without NATS: the
 * seeded catalog, the seat rule (smallest attached group holding the user),
 * entitlement lookups (the one-statement entitlement included), the
 * rebuild watermarks (D23), and the trial sweep reading its partial index
 * (no scan), checked with EXPLAIN QUERY PLAN and on 20,000 subscriptions.
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

/* The entitlement in one statement: customer, feature and best subscription together. */
static void test_entitlement(void **state)
{
    struct store *s = *state;
    struct subscription a = make_sub("sub-a", SUB_SUSPENDED, SUBS_NO_TIME);
    struct subscription b = make_sub("sub-b", SUB_ACTIVE, SUBS_NO_TIME);
    struct customer c = {.org = "cust-7", .active = true, .version = 1};
    struct ent_facts facts;

    assert_int_equal(
        subs_store_entitlement(s, "t", "cust-7", "u1", "file_sandbox", WANT_USERS, &facts, NULL),
        LB_OK);
    assert_false(facts.registered);
    assert_int_equal(subs_store_customer_put(s, "t", &c, NULL), LB_OK);
    assert_int_equal(subs_store_sub_put(s, "t", &a, NULL), LB_OK);
    assert_int_equal(subs_store_sub_put(s, "t", &b, NULL), LB_OK);
    assert_int_equal(
        subs_store_entitlement(s, "t", "cust-7", "u1", "teleport", WANT_USERS, &facts, NULL),
        LB_OK);
    assert_true(facts.registered && facts.active);
    assert_false(facts.known_feature);
    assert_string_equal(facts.sub, "");
    /* A seat in the suspended one only, then in the active one too: the active one wins. */
    assert_int_equal(subs_store_seat_set(s, "t", "sub-a", "u1", "g", NULL), LB_OK);
    assert_int_equal(
        subs_store_entitlement(s, "t", "cust-7", "u1", "file_sandbox", WANT_USERS, &facts, NULL),
        LB_OK);
    assert_true(facts.known_feature);
    assert_string_equal(facts.sub, "sub-a");
    assert_int_equal(facts.status, SUB_SUSPENDED);
    assert_int_equal(subs_store_seat_set(s, "t", "sub-b", "u1", "g", NULL), LB_OK);
    assert_int_equal(
        subs_store_entitlement(s, "t", "cust-7", "u1", "file_sandbox", WANT_USERS, &facts, NULL),
        LB_OK);
    assert_string_equal(facts.sub, "sub-b");
    /* Without a user, the customer's subscriptions; no device basis among them. */
    assert_int_equal(
        subs_store_entitlement(s, "t", "cust-7", NULL, "web_protection", WANT_ANY, &facts, NULL),
        LB_OK);
    assert_string_equal(facts.sub, "sub-b");
    assert_int_equal(subs_store_entitlement(s, "t", "cust-7", NULL, "web_protection", WANT_DEVICES,
                                            &facts, NULL),
                     LB_OK);
    assert_string_equal(facts.sub, "");
    c.active = false;
    assert_int_equal(subs_store_customer_put(s, "t", &c, NULL), LB_OK);
    assert_int_equal(
        subs_store_entitlement(s, "t", "cust-7", "u1", "file_sandbox", WANT_USERS, &facts, NULL),
        LB_OK);
    assert_true(facts.registered);
    assert_false(facts.active);
}

/* The watermarks of D23: directory events up to the newest mark read back are old. */
static void test_marks(void **state)
{
    struct store *s = *state;
    char last[ENVELOPE_ID_MAX + 1];
    int64_t sweep = 0;
    bool old = true;

    assert_int_equal(subs_store_marks_get(s, last, &sweep, NULL), LB_OK);
    assert_string_equal(last, "");
    assert_int_equal(sweep, SUBS_NO_TIME);
    /* No mark read: nothing is old. */
    assert_int_equal(subs_store_marks_directory(s, "e1", &old, NULL), LB_OK);
    assert_false(old);
    assert_int_equal(subs_store_marks_sweep(s, 100, &old, NULL), LB_OK);
    assert_false(old);
    assert_int_equal(subs_store_marks_get(s, last, &sweep, NULL), LB_OK);
    assert_string_equal(last, "e1");
    assert_int_equal(sweep, 100);
    /* A mark ahead (e4, not applied yet): e2, e3 and e4 itself are old, e5 is not. */
    assert_int_equal(subs_store_marks_read(s, "e4", false, 300, NULL), LB_OK);
    assert_int_equal(subs_store_marks_directory(s, "e2", &old, NULL), LB_OK);
    assert_true(old);
    assert_int_equal(subs_store_marks_directory(s, "e3", &old, NULL), LB_OK);
    assert_true(old);
    assert_int_equal(subs_store_marks_directory(s, "e4", &old, NULL), LB_OK);
    assert_true(old);
    assert_int_equal(subs_store_marks_directory(s, "e5", &old, NULL), LB_OK);
    assert_false(old);
    /* Sweeps at or before the sweep mark are old; a mark never goes back. */
    assert_int_equal(subs_store_marks_read(s, NULL, false, 200, NULL), LB_OK);
    assert_int_equal(subs_store_marks_sweep(s, 300, &old, NULL), LB_OK);
    assert_true(old);
    assert_int_equal(subs_store_marks_sweep(s, 301, &old, NULL), LB_OK);
    assert_false(old);
    /* A mark already applied here (reached) makes nothing old. */
    assert_int_equal(subs_store_marks_read(s, "e5", true, SUBS_NO_TIME, NULL), LB_OK);
    assert_int_equal(subs_store_marks_directory(s, "e6", &old, NULL), LB_OK);
    assert_false(old);
    assert_int_equal(subs_store_marks_get(s, last, &sweep, NULL), LB_OK);
    assert_string_equal(last, "e6");
    assert_int_equal(sweep, 301);
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
    /* The entitlement's candidates come straight from an index, in id order: no scan, no sort. */
    {
        char sql[2048];

        (void)snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", subs_store_best_by_seat_sql);
        plan(s, sql, text, sizeof(text));
        print_message("      seat plan: %s\n", text);
        assert_null(strstr(text, "SCAN"));
        assert_null(strstr(text, "TEMP B-TREE"));
        assert_non_null(strstr(text, "COVERING INDEX seats_by_user (tenant=? AND user=?)"));
        (void)snprintf(sql, sizeof(sql), "EXPLAIN QUERY PLAN %s", subs_store_best_by_customer_sql);
        plan(s, sql, text, sizeof(text));
        print_message("      customer plan: %s\n", text);
        assert_null(strstr(text, "SCAN"));
        assert_null(strstr(text, "TEMP B-TREE"));
        assert_non_null(strstr(text, "INDEX subscriptions_by_customer (tenant=? AND customer=?)"));
    }
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
        cmocka_unit_test_setup_teardown(test_entitlement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trials_due, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
