/*
 * test_store.c - SQLite through store.c, and the runtime tables on it: the
 * applied-id record, outbox rows and dead-letter entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "applied.h"
#include "dead_letter.h"
#include "outbox.h"
#include "store.h"

static const struct store_migration v1[] = {
    {1, "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER);"},
};
static const struct store_migration v2[] = {
    {1, "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER);"},
    {2, "ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 7;"},
};

struct fixture {
    char path[64];
    struct store *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct store_options opts = {.path = f->path, .sync_full = true, .busy_timeout_ms = 100};

    snprintf(f->path, sizeof(f->path), "/tmp/lb-store-%d.db", (int)getpid());
    unlink(f->path);
    assert_int_equal(store_open(&opts, &f->s, NULL), LB_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char side[80];

    store_close(f->s);
    unlink(f->path);
    snprintf(side, sizeof(side), "%s-wal", f->path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", f->path);
    unlink(side);
    free(f);
    return 0;
}

static void test_wal_and_migrations(void **state)
{
    struct fixture *f = *state;
    struct store_options opts = {.path = f->path, .sync_full = false, .busy_timeout_ms = 100};
    struct lb_why why = {{0}};
    sqlite3_stmt *st;

    st = store_stmt(f->s, "PRAGMA journal_mode", NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_reset(st);
    assert_int_equal(store_migrate(f->s, "svc", v1, 1, NULL), LB_OK);
    assert_int_equal(store_migrate(f->s, "svc", v1, 1, NULL), LB_OK); /* idempotent */
    assert_int_equal(store_migrate(f->s, "svc", v2, 2, NULL), LB_OK);
    st = store_stmt(f->s, "SELECT w FROM t", &why); /* column from version 2 */
    assert_non_null(st);
    /* A build that knows only version 1 refuses the newer database. */
    store_close(f->s);
    assert_int_equal(store_open(&opts, &f->s, NULL), LB_OK);
    assert_int_equal(store_migrate(f->s, "svc", v1, 1, &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "newer"));
}

static void test_statements_and_transactions(void **state)
{
    struct fixture *f = *state;
    static const char insert[] = "INSERT INTO t (k, v) VALUES (?, ?)";
    static const char count[] = "SELECT count(*) FROM t";
    struct lb_why why = {{0}};
    sqlite3_stmt *st;

    assert_int_equal(store_migrate(f->s, "svc", v1, 1, NULL), LB_OK);
    assert_null(store_stmt(f->s, "SELEC nonsense", &why));
    assert_non_null(strstr(why.text, "prepare"));
    assert_int_equal(store_begin(f->s, NULL), LB_OK);
    for (int i = 0; i < 100; i++) { /* more statements than the cache starts with */
        char key[16];

        snprintf(key, sizeof(key), "k%d", i);
        st = store_stmt(f->s, insert, NULL);
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(st, 2, i);
        assert_int_equal(store_step_done(f->s, st, NULL), LB_OK);
    }
    assert_int_equal(store_savepoint(f->s, NULL), LB_OK);
    st = store_stmt(f->s, insert, NULL);
    sqlite3_bind_text(st, 1, "k0", -1, SQLITE_STATIC);
    assert_int_equal(store_step_done(f->s, st, &why), LB_ECONFLICT); /* duplicate key */
    store_rollback_to(f->s);
    assert_int_equal(store_commit(f->s, NULL), LB_OK);
    st = store_stmt(f->s, count, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 100);
    sqlite3_reset(st);
    assert_int_equal(store_begin(f->s, NULL), LB_OK);
    assert_int_equal(store_exec(f->s, "DELETE FROM t", NULL), LB_OK);
    store_rollback(f->s);
    st = store_stmt(f->s, count, NULL);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 100);
    sqlite3_reset(st);
}

static void test_applied_record(void **state)
{
    struct fixture *f = *state;
    enum applied_state seen;

    assert_int_equal(applied_check(f->s, "e1", 42, &seen, NULL), LB_OK);
    assert_int_equal(seen, APPLIED_NEW);
    assert_int_equal(applied_record(f->s, "e1", 42, 1000, NULL), LB_OK);
    assert_int_equal(applied_check(f->s, "e1", 42, &seen, NULL), LB_OK);
    assert_int_equal(seen, APPLIED_DUPLICATE);
    assert_int_equal(applied_check(f->s, "e1", 43, &seen, NULL), LB_OK);
    assert_int_equal(seen, APPLIED_CONFLICT);
    assert_int_equal(applied_record(f->s, "e1", 42, 1000, NULL), LB_ECONFLICT);
}

static void test_outbox_rows(void **state)
{
    struct fixture *f = *state;
    int64_t pending = -1;

    assert_int_equal(outbox_pending(f->s, &pending, NULL), LB_OK);
    assert_int_equal(pending, 0);
    assert_int_equal(store_begin(f->s, NULL), LB_OK);
    assert_int_equal(outbox_add(f->s, "lb.evt.a.t.x", "id1", "{}", 2, 1, NULL), LB_OK);
    assert_int_equal(outbox_add(f->s, "lb.evt.a.t.x", "id2", "{}", 2, 1, NULL), LB_OK);
    store_rollback(f->s); /* rolled back with the change: never published */
    assert_int_equal(outbox_pending(f->s, &pending, NULL), LB_OK);
    assert_int_equal(pending, 0);
    assert_int_equal(outbox_add(f->s, "lb.evt.a.t.x", "id3", "{}", 2, 1, NULL), LB_OK);
    assert_int_equal(outbox_add(f->s, "lb.evt.a.t.x", "id4", "{}", 2, 1, NULL), LB_OK);
    assert_int_equal(outbox_pending(f->s, &pending, NULL), LB_OK);
    assert_int_equal(pending, 2);
    assert_int_equal(outbox_forget(f->s, 1, NULL), LB_OK); /* rolled-back rows left no seq behind */
    assert_int_equal(outbox_pending(f->s, &pending, NULL), LB_OK);
    assert_int_equal(pending, 1);
}

static void test_dead_letter(void **state)
{
    struct fixture *f = *state;
    struct dead_letter dl = {.service = "tally",
                             .code = LB_EINVAL,
                             .reason = "bad \"thing\"",
                             .subject = "lb.evt.sample.acme.increment",
                             .stream = "LB_SAMPLE",
                             .stream_seq = 12,
                             .deliveries = 2,
                             .payload = "not json",
                             .len = 8,
                             .now_ms = 1795341600000LL};
    char *body = dead_letter_body(&dl);
    cJSON *json = cJSON_Parse(body);
    int64_t pending = 0;

    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(json, "payload")), "not json");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "reason"), "code")),
        "invalid_request");
    assert_int_equal(cJSON_GetObjectItem(json, "stream_sequence")->valueint, 12);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(json, "event_id")));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(json, "received_at")),
                        "2026-11-22T10:00:00.000Z");
    cJSON_Delete(json);
    free(body);

    /* Bytes that are not UTF-8 travel as base64. */
    dl.payload = "\xff\xfe\x00\x61";
    dl.len = 4;
    body = dead_letter_body(&dl);
    json = cJSON_Parse(body);
    assert_null(cJSON_GetObjectItem(json, "payload"));
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(json, "payload_base64")),
                        "//4AYQ==");
    cJSON_Delete(json);
    free(body);

    assert_int_equal(dead_letter_add(f->s, &dl, NULL), LB_OK);
    assert_int_equal(outbox_pending(f->s, &pending, NULL), LB_OK);
    assert_int_equal(pending, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wal_and_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statements_and_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_applied_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
