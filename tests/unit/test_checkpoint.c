/*
 * test_checkpoint.c - WAL checkpoints on their own thread (checkpoint.c),
 * through store.c: the thread copies the WAL back while the writer goes
 * on, the WAL is reused from its start once copied, a WAL past the backstop
 * is restarted, and nothing committed is lost on the way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"

/* WAL pages that ask for a checkpoint in these tests. */
#define TEST_PAGES 32
/* Longest wait for the thread, in ms. */
#define WAIT_MS 10000

static const struct store_migration schema[] = {
    {1, "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL);"},
};

struct fixture {
    char path[64];
    struct store *s;
};

static void remove_files(const char *path)
{
    char side[80];

    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

static struct store *open_store(const char *path, int pages)
{
    struct store_options opts = {
        .path = path, .sync_full = false, .busy_timeout_ms = 100, .checkpoint_pages = pages};
    struct store *s = NULL;

    assert_int_equal(store_open(&opts, &s, NULL), LB_OK);
    assert_int_equal(store_migrate(s, "test", schema, 1, NULL), LB_OK);
    return s;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    snprintf(f->path, sizeof(f->path), "/tmp/lb-checkpoint-%d.db", (int)getpid());
    remove_files(f->path);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    store_close(f->s);
    remove_files(f->path);
    free(f);
    return 0;
}

/* Commits `n` transactions of `rows` 4 KiB rows each (two WAL pages or more per row). */
static void commit_rows(struct store *s, int from, int n, int rows)
{
    static const char insert[] = "INSERT INTO t (k, v) VALUES (?, zeroblob(4096))";

    for (int i = 0; i < n; i++) {
        assert_int_equal(store_begin(s, NULL), LB_OK);
        for (int r = 0; r < rows; r++) {
            sqlite3_stmt *st = store_stmt(s, insert, NULL);

            assert_non_null(st);
            sqlite3_bind_int(st, 1, from + i * rows + r);
            assert_int_equal(store_step_done(s, st, NULL), LB_OK);
        }
        assert_int_equal(store_commit(s, NULL), LB_OK);
    }
}

static int64_t count_rows(struct store *s)
{
    sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM t", NULL);
    int64_t n;

    assert_non_null(st);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return n;
}

static off_t wal_bytes(const char *path)
{
    char wal[80];
    struct stat st;

    snprintf(wal, sizeof(wal), "%s-wal", path);
    return stat(wal, &st) == 0 ? st.st_size : 0;
}

/* Waits until the thread has run more than `runs` checkpoints and the last one copied the
 * whole WAL as the last commit left it. */
static struct checkpoint_stats wait_caught_up(struct store *s, uint64_t runs)
{
    struct timespec pause = {0, 1000000};
    struct checkpoint_stats stats = store_checkpoint_stats(s);

    for (int waited = 0;
         (stats.runs <= runs || stats.copied_frames != stats.wal_frames) && waited < WAIT_MS;
         waited++) {
        nanosleep(&pause, NULL);
        stats = store_checkpoint_stats(s);
    }
    assert_true(stats.runs > runs);
    assert_int_equal(stats.copied_frames, stats.wal_frames);
    return stats;
}

static void test_thread_checkpoints_and_the_wal_is_reused(void **state)
{
    struct fixture *f = *state;
    struct checkpoint_stats stats = {0};
    int rows = 0;

    f->s = open_store(f->path, TEST_PAGES);
    /* Each round passes the threshold; once the thread has copied everything, the next
     * write reuses the WAL from its start, so its file stays near one round's size
     * however much is written (~1,100 pages here). */
    for (int round = 0; round < 12; round++) {
        commit_rows(f->s, rows, TEST_PAGES, 1);
        rows += TEST_PAGES;
        stats = wait_caught_up(f->s, stats.runs);
    }
    assert_int_equal(stats.backstop, 0);
    assert_true(stats.resets >= 10);
    assert_true(wal_bytes(f->path) < (off_t)(CHECKPOINT_BACKSTOP_FACTOR * TEST_PAGES) * 4200);
    assert_int_equal(count_rows(f->s), rows);
    /* Closed and reopened: every committed row is in the database. */
    store_close(f->s);
    f->s = open_store(f->path, TEST_PAGES);
    assert_int_equal(count_rows(f->s), rows);
}

static void test_a_wal_past_the_backstop_is_restarted(void **state)
{
    struct fixture *f = *state;
    struct checkpoint_stats stats;

    f->s = open_store(f->path, TEST_PAGES);
    /* One commit that leaves the WAL past the backstop at once: the writer restarts it
     * before the commit returns. */
    commit_rows(f->s, 0, 1, CHECKPOINT_BACKSTOP_FACTOR * TEST_PAGES);
    stats = store_checkpoint_stats(f->s);
    assert_true(stats.backstop >= 1);
    /* The next write finds the WAL fully copied back and starts it over. */
    commit_rows(f->s, CHECKPOINT_BACKSTOP_FACTOR * TEST_PAGES, 1, 1);
    assert_true(store_checkpoint_stats(f->s).resets >= 1);
    assert_int_equal(count_rows(f->s), CHECKPOINT_BACKSTOP_FACTOR * TEST_PAGES + 1);
}

/*
 * A batch opens a deferred transaction, reads, then writes: SQLite refuses that upgrade at
 * once (no busy handler) if another connection holds the write lock. The checkpoints, the
 * thread's and the backstop's, must never make it fail, however often they run.
 */
static void test_read_then_write_never_meets_a_lock(void **state)
{
    static const char read[] = "SELECT count(*) FROM t WHERE k < 10";
    static const char insert[] = "INSERT INTO t (k, v) VALUES (?, zeroblob(4096))";
    struct fixture *f = *state;
    int rows = 0;

    f->s = open_store(f->path, 8); /* the thread runs after nearly every commit */
    for (int i = 0; i < 600; i++) {
        sqlite3_stmt *st;

        assert_int_equal(store_begin(f->s, NULL), LB_OK);
        st = store_stmt(f->s, read, NULL);
        assert_non_null(st);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        sqlite3_reset(st);
        for (int r = 0; r < 1 + i % 40; r++) {
            st = store_stmt(f->s, insert, NULL);
            assert_non_null(st);
            sqlite3_bind_int(st, 1, rows++);
            assert_int_equal(store_step_done(f->s, st, NULL), LB_OK);
        }
        assert_int_equal(store_commit(f->s, NULL), LB_OK);
    }
    assert_true(store_checkpoint_stats(f->s).runs > 0);
    assert_true(store_checkpoint_stats(f->s).backstop > 0);
    assert_int_equal(count_rows(f->s), rows);
}

static void test_zero_pages_leaves_checkpoints_to_sqlite(void **state)
{
    struct fixture *f = *state;
    struct checkpoint_stats stats;

    f->s = open_store(f->path, 0);
    commit_rows(f->s, 0, 4 * TEST_PAGES, 1);
    stats = store_checkpoint_stats(f->s);
    assert_int_equal(stats.runs, 0);
    assert_int_equal(stats.backstop, 0);
    assert_int_equal(count_rows(f->s), 4 * TEST_PAGES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thread_checkpoints_and_the_wal_is_reused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_wal_past_the_backstop_is_restarted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_then_write_never_meets_a_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_pages_leaves_checkpoints_to_sqlite, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
