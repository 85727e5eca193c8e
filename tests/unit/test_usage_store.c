/*
 * test_usage_store.c - usage's SQL on an in-memory database: last-seen only
 * moves forward, counts per customer, the sweep's queries use their partial
 * indexes and select only what is due, and a purge really removes the
 * personal fields; the journal's triggers note what a change touches (not
 * heartbeat times) and revisions move one at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "orgtree.h"
#include "usage.h"

#define T "dist-1"

static int setup(void **state)
{
    struct store_options opts = {.path = ":memory:"};
    struct store *s = NULL;

    assert_int_equal(store_open(&opts, &s, NULL), LB_OK);
    assert_int_equal(store_migrate(s, "orgtree", orgtree_migrations, orgtree_migration_count, NULL),
                     LB_OK);
    assert_int_equal(store_migrate(s, "usage", usage_migrations, usage_migration_count, NULL),
                     LB_OK);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    return 0;
}

static void put_user(struct store *s, const char *id, int64_t seats, int64_t last_active)
{
    struct user_row u = {.known = true,
                         .has_email = true,
                         .has_name = true,
                         .seat_count = seats,
                         .created_ms = 1,
                         .last_active_ms = last_active};
    struct lb_why why = {{0}};

    snprintf(u.id, sizeof(u.id), "%s", id);
    snprintf(u.org, sizeof(u.org), "cust-7");
    snprintf(u.customer, sizeof(u.customer), "cust-7");
    snprintf(u.email, sizeof(u.email), "%s@acme.example", id);
    snprintf(u.display_name, sizeof(u.display_name), "Name of %s", id);
    assert_int_equal(usage_store_user_put(s, T, &u, &why), LB_OK);
}

static void put_device(struct store *s, const char *id, const char *user, bool installed)
{
    struct device_row d = {.kind = DEVICE_PERSONAL, .installed = installed, .installed_ms = 1};
    struct lb_why why = {{0}};

    snprintf(d.id, sizeof(d.id), "%s", id);
    snprintf(d.org, sizeof(d.org), "cust-7");
    snprintf(d.customer, sizeof(d.customer), "cust-7");
    snprintf(d.hostname, sizeof(d.hostname), "host-%s", id);
    snprintf(d.user, sizeof(d.user), "%s", user);
    assert_int_equal(usage_store_device_put(s, T, &d, &why), LB_OK);
}

static void test_last_seen_only_forward(void **state)
{
    struct store *s = *state;
    struct device_row d;
    struct lb_why why = {{0}};
    bool moved = true;

    put_device(s, "d-1", "", true);
    assert_int_equal(usage_store_device_seen(s, T, "d-1", 5000, &why), LB_OK);
    assert_int_equal(usage_store_device_seen(s, T, "d-1", 3000, &why), LB_OK); /* late */
    assert_int_equal(usage_store_device_get(s, T, "d-1", &d, &why), LB_OK);
    assert_int_equal(d.last_seen_ms, 5000);
    put_user(s, "u-1", 1, 100);
    assert_int_equal(usage_store_user_touch(s, T, "u-1", 50, &moved, &why), LB_OK);
    assert_false(moved);
    assert_int_equal(usage_store_user_touch(s, T, "u-1", 200, &moved, &why), LB_OK);
    assert_true(moved);
    assert_int_equal(usage_store_device_get(s, T, "d-404", &d, &why), LB_ENOTFOUND);
}

static void test_counts(void **state)
{
    struct store *s = *state;
    struct sub_usage sub = {.basis = BASIS_BOTH, .status = SUB_ACTIVE, .quantity = 2};
    char old[USAGE_ORG_MAX + 1];
    struct consumption c = {0};
    int64_t business = -1, personal = -1;
    struct lb_why why = {{0}};

    snprintf(sub.id, sizeof(sub.id), "sub-1");
    snprintf(sub.package, sizeof(sub.package), "core");
    assert_int_equal(usage_store_subscription_put(s, T, &sub, "cust-7", 1, old, &why), LB_OK);
    assert_string_equal(old, "");
    put_user(s, "u-1", 1, 100);
    put_user(s, "u-2", 1, 100);
    assert_int_equal(usage_store_seat_add(s, T, "sub-1", "u-1", "", "cust-7", 1, &why), LB_OK);
    assert_int_equal(usage_store_seat_add(s, T, "sub-1", "u-1", "", "cust-7", 1, &why), LB_OK);
    assert_int_equal(usage_store_seat_add(s, T, "sub-1", "u-1", "g", "cust-7", 1, &why), LB_OK);
    assert_int_equal(usage_store_seat_add(s, T, "sub-1", "u-2", "", "cust-7", 1, &why), LB_OK);
    assert_int_equal(usage_store_user_recount(s, T, "u-1", &why), LB_OK);
    put_device(s, "d-1", "u-1", true);
    put_device(s, "d-2", "", true);
    put_device(s, "d-3", "", false);
    assert_int_equal(usage_store_user_device_counts(s, T, "u-1", NULL, &business, &personal, &why),
                     LB_OK);
    assert_int_equal(business, 0);
    assert_int_equal(personal, 1);
    assert_int_equal(usage_store_user_device_counts(s, T, "u-1", "d-1", &business, &personal, &why),
                     LB_OK);
    assert_int_equal(personal, 0);
    assert_int_equal(usage_store_consumption(s, T, "cust-7", &c, &why), LB_OK);
    consumption_attribute(&c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.subs[0].users, 2); /* u-1 counted once despite two groups */
    assert_int_equal(c.subs[0].devices, 1);
    assert_true(c.subs[0].over);
    assert_int_equal(c.unassociated_devices, 1);
    assert_int_equal(c.associated_devices, 1);
    assert_int_equal(c.uninstalled_devices, 1);
    assert_int_equal(c.licensed_users, 2);
    consumption_release(&c);
    {
        struct user_row u;

        assert_int_equal(usage_store_user_get(s, T, "u-1", &u, &why), LB_OK);
        assert_int_equal(u.seat_count, 2);
    }
}

static void test_due_and_purge(void **state)
{
    struct store *s = *state;
    struct user_key *keys = NULL;
    struct due_user *due = NULL;
    struct user_row u;
    size_t n = 0;
    struct lb_why why = {{0}};
    sqlite3_stmt *stmt;
    char plan[512] = "";

    put_user(s, "u-old", 1, 100);
    put_user(s, "u-new", 1, 900);
    put_user(s, "u-none", 0, 100); /* no seat: nothing to release */
    assert_int_equal(usage_store_due_release(s, 500, 10, &due, &n, &why), LB_OK);
    assert_int_equal(n, 1);
    assert_string_equal(due[0].user, "u-old");
    assert_string_equal(due[0].customer, "cust-7");
    assert_int_equal(due[0].last_active_ms, 100);
    assert_int_equal(due[0].seat_count, 1);
    free(due);

    /* The sweep reads an index, not the table. */
    assert_int_equal(sqlite3_prepare_v2(store_db(s),
                                        "EXPLAIN QUERY PLAN SELECT tenant, user FROM users INDEXED "
                                        "BY users_due_release WHERE seat_count > 0 AND released_ms "
                                        "IS NULL AND deleted_ms IS NULL AND last_active_ms <= 5 "
                                        "ORDER BY last_active_ms, tenant, user",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    while (sqlite3_step(stmt) == SQLITE_ROW)
        snprintf(plan + strlen(plan), sizeof(plan) - strlen(plan), "%s;",
                 (const char *)sqlite3_column_text(stmt, 3));
    sqlite3_finalize(stmt);
    assert_non_null(strstr(plan, "users_due_release"));
    assert_null(strstr(plan, "TEMP B-TREE"));

    assert_int_equal(usage_store_user_get(s, T, "u-old", &u, &why), LB_OK);
    u.released_ms = 600;
    u.license_removed_ms = 600;
    u.personal_ms = 800; /* written after: a sweep at 799 does not purge it (a replayed tick) */
    assert_int_equal(usage_store_user_put(s, T, &u, &why), LB_OK);
    assert_int_equal(usage_store_due_release(s, 5000, 10, &due, &n, &why), LB_OK);
    assert_int_equal(n, 1); /* released once: only u-new is due now */
    assert_string_equal(due[0].user, "u-new");
    free(due);
    assert_int_equal(usage_store_due_purge(s, 599, 599, 10, &keys, &n, &why), LB_OK);
    assert_int_equal(n, 0);
    free(keys);
    assert_int_equal(usage_store_due_purge(s, 600, 799, 10, &keys, &n, &why), LB_OK);
    assert_int_equal(n, 0);
    free(keys);
    assert_int_equal(usage_store_due_purge(s, 600, 800, 10, &keys, &n, &why), LB_OK);
    assert_int_equal(n, 1);
    free(keys);
    assert_int_equal(usage_store_user_purge(s, T, "u-old", 700, &why), LB_OK);
    assert_int_equal(usage_store_due_purge(s, 9000, 9000, 10, &keys, &n, &why), LB_OK);
    assert_int_equal(n, 0); /* purged once */
    free(keys);

    /* Really gone: NULL in the row, not hidden. */
    assert_int_equal(sqlite3_prepare_v2(store_db(s),
                                        "SELECT email IS NULL AND display_name IS NULL, purged_ms "
                                        "FROM users WHERE user = 'u-old'",
                                        -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(stmt, 0), 1);
    assert_int_equal(sqlite3_column_int64(stmt, 1), 700);
    sqlite3_finalize(stmt);
    assert_int_equal(usage_store_user_get(s, T, "u-old", &u, &why), LB_OK);
    assert_false(u.has_email);
    assert_false(u.has_name);
}

static enum lb_err collect(const char *period, const char *org, int64_t scans, void *arg)
{
    char *out = arg;

    snprintf(out + strlen(out), 256 - strlen(out), "%s/%s=%lld;", period, org, (long long)scans);
    return LB_OK;
}

static void test_scans(void **state)
{
    struct store *s = *state;
    struct lb_why why = {{0}};
    char out[256] = "";

    assert_int_equal(usage_store_scans_add(s, T, "ABCD-EFGH", "2026-11-22", "cust-7", 10, &why),
                     LB_OK);
    assert_int_equal(usage_store_scans_add(s, T, "ABCD-EFGH", "2026-11-22", "cust-7", 5, &why),
                     LB_OK);
    assert_int_equal(usage_store_scans_add(s, T, "ABCD-EFGH", "2026-11-23", "sub-1", 1, &why),
                     LB_OK);
    assert_int_equal(usage_store_scans_add(s, T, "ABCD-EFGH", "2026-12-01", "cust-7", 7, &why),
                     LB_OK);
    assert_int_equal(usage_store_each_scans(s, T, "ABCD-EFGH", "2026-11-01", "2026-11-30", false,
                                            collect, out, &why),
                     LB_OK);
    assert_string_equal(out, "2026-11-22/cust-7=15;2026-11-23/sub-1=1;");
    out[0] = '\0';
    assert_int_equal(usage_store_each_scans(s, T, "ABCD-EFGH", "2026-11-01", "2026-12-31", true,
                                            collect, out, &why),
                     LB_OK);
    assert_string_equal(out, "2026-11/cust-7=15;2026-11/sub-1=1;2026-12/cust-7=7;");
}

/* The dirty rows, as "kind:id" joined by spaces, taken (the list is empty after). */
static void assert_dirty(struct store *s, const char *want)
{
    struct usage_key *keys = NULL;
    struct lb_why why = {{0}};
    char got[512] = "";
    size_t n = 0;

    assert_int_equal(usage_store_dirty_take(s, &keys, &n, &why), LB_OK);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(got);

        snprintf(got + len, sizeof(got) - len, "%s%d:%s", i ? " " : "", (int)keys[i].kind,
                 keys[i].id);
    }
    free(keys);
    assert_string_equal(got, want);
    assert_int_equal(usage_store_dirty_take(s, &keys, &n, &why), LB_OK);
    assert_int_equal(n, 0);
    free(keys);
}

static void test_journal_notes_changes(void **state)
{
    struct store *s = *state;
    struct device_signal sig;
    struct user_activity ua;
    struct lb_why why = {{0}};
    struct user_row u;
    int64_t rev = 0;
    bool present = false;

    put_user(s, "u-1", 0, 10);
    put_user(s, "u-2", 0, 10);
    put_device(s, "d-1", "u-1", true);
    assert_dirty(s, "1:u-1 1:u-2 2:d-1");
    /* Heartbeat writes (last-seen, last activity) are not changes to announce. */
    assert_int_equal(usage_store_device_signal(s, T, "d-1", 500, &sig, &why), LB_OK);
    assert_true(sig.moved);
    assert_int_equal(usage_store_user_touch(s, T, "u-1", 500, NULL, &why), LB_OK);
    assert_int_equal(usage_store_device_seen(s, T, "d-1", 600, &why), LB_OK);
    assert_int_equal(usage_store_user_activity(s, T, "u-1", &ua, &why), LB_OK);
    assert_int_equal(ua.last_active_ms, 500);
    assert_dirty(s, "");
    /* A device moving to another user notes it and both users. */
    put_device(s, "d-1", "u-2", true);
    assert_dirty(s, "1:u-1 1:u-2 2:d-1");
    assert_int_equal(usage_store_detach_all(s, T, "u-2", &why), LB_OK);
    assert_dirty(s, "1:u-2 2:d-1");
    /* Seats note their user; a subscription's marker notes it. */
    assert_int_equal(usage_store_seat_add(s, T, "sub-1", "u-1", "", "cust-7", 5, &why), LB_OK);
    assert_dirty(s, "1:u-1");
    assert_int_equal(usage_store_seat_remove(s, T, "sub-1", "u-1", "", &why), LB_OK);
    assert_dirty(s, "1:u-1");
    {
        struct sub_usage sub = {.basis = BASIS_USERS, .status = SUB_ACTIVE, .quantity = 1};
        char old[USAGE_ORG_MAX + 1];

        snprintf(sub.id, sizeof(sub.id), "sub-1");
        snprintf(sub.package, sizeof(sub.package), "core");
        assert_int_equal(usage_store_subscription_put(s, T, &sub, "cust-7", 5, old, &why), LB_OK);
        assert_dirty(s, "3:sub-1");
        assert_int_equal(usage_store_subscription_mark(s, T, "sub-1", true, &why), LB_OK);
        assert_dirty(s, "3:sub-1");
        assert_int_equal(
            usage_store_rev_get(s, USAGE_KIND_SUBSCRIPTION, T, "sub-1", &rev, &present, &why),
            LB_OK);
        assert_true(present);
        assert_int_equal(rev, 1); /* the mark moved it; the put kept it */
    }
    /* Revisions: one at a time, kept by whole-row writes, absent rows say so. */
    assert_int_equal(usage_store_rev_next(s, USAGE_KIND_USER, T, "u-1", &why), LB_OK);
    assert_int_equal(usage_store_rev_next(s, USAGE_KIND_USER, T, "u-1", &why), LB_OK);
    assert_int_equal(usage_store_user_get(s, T, "u-1", &u, &why), LB_OK);
    assert_int_equal(u.rev, 2);
    assert_int_equal(usage_store_user_put(s, T, &u, &why), LB_OK);
    assert_int_equal(usage_store_rev_get(s, USAGE_KIND_USER, T, "u-1", &rev, &present, &why),
                     LB_OK);
    assert_int_equal(rev, 2);
    assert_int_equal(usage_store_rev_get(s, USAGE_KIND_DEVICE, T, "d-404", &rev, &present, &why),
                     LB_OK);
    assert_false(present);
    /* A release moves the revision with it; a restored cause is taken once. */
    assert_int_equal(usage_store_user_release(s, T, "u-1", 900, &why), LB_OK);
    assert_int_equal(usage_store_user_get(s, T, "u-1", &u, &why), LB_OK);
    assert_int_equal(u.rev, 3);
    assert_int_equal(usage_store_cause_add(s, "01JCAUSE", &why), LB_OK);
    assert_int_equal(usage_store_cause_take(s, "01JCAUSE", &present, &why), LB_OK);
    assert_true(present);
    assert_int_equal(usage_store_cause_take(s, "01JCAUSE", &present, &why), LB_OK);
    assert_false(present);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_last_seen_only_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_due_and_purge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_notes_changes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
