/*
 * store.c - SQLite open, migrations, statement cache, transactions.
 */
#include "store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Statements a store caches before it grows its table. */
#define STORE_STMT_INITIAL 32

struct stmt_entry {
    const char *sql;    /* the caller's constant; the cache key */
    sqlite3_stmt *stmt; /* prepared once, reused */
};

struct store {
    sqlite3 *db;
    struct stmt_entry *stmts;          /* open-addressed by sql address */
    size_t stmt_cap;                   /* slots; a power of two */
    size_t stmt_count;                 /* used slots */
    struct checkpointer *checkpointer; /* NULL: SQLite checkpoints inside the commit */
};

/* The runtime's own tables: applied ids, outbox, virtual clock. */
static const struct store_migration runtime_migrations[] = {
    {1, "CREATE TABLE lb_applied ("
        "  event_id TEXT PRIMARY KEY," /* CloudEvents id = Nats-Msg-Id */
        "  digest INTEGER NOT NULL,"   /* FNV-1a of the payload: same id, other bytes = refused */
        "  applied_at INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "CREATE TABLE lb_outbox ("
        "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        "  msg_id TEXT NOT NULL,"
        "  subject TEXT NOT NULL,"
        "  payload BLOB NOT NULL,"
        "  created_at INTEGER NOT NULL"
        ");"
        "CREATE TABLE lb_clock ("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  now_ms INTEGER NOT NULL"
        ");"},
    {2, "CREATE TABLE lb_requests ("
        "  request_id TEXT PRIMARY KEY," /* the Lb-Request-Id header */
        "  endpoint TEXT NOT NULL,"
        "  digest INTEGER NOT NULL," /* FNV-1a of the body: same id, other body = refused */
        "  reply BLOB NOT NULL,"     /* returned again to a retry */
        "  applied_at INTEGER NOT NULL"
        ") WITHOUT ROWID;"},
};

enum lb_err store_err(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW:
        return LB_OK;
    case SQLITE_CONSTRAINT:
        return LB_ECONFLICT;
    case SQLITE_NOMEM:
        return LB_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
        return LB_EIO;
    default:
        return LB_EINTERNAL;
    }
}

static enum lb_err store_fail(struct store *s, int rc, struct lb_why *why, const char *what)
{
    return lb_fail(why, store_err(rc), "%s: %s", what, sqlite3_errmsg(s->db));
}

enum lb_err store_exec(struct store *s, const char *sql, struct lb_why *why)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    if (rc != SQLITE_OK)
        return store_fail(s, rc, why, "sqlite");
    return LB_OK;
}

enum lb_err store_open(const struct store_options *opts, struct store **ret_store,
                       struct lb_why *why)
{
    struct store *s;
    enum lb_err err;
    int rc;

    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory opening %s", opts->path);
    s->stmt_cap = STORE_STMT_INITIAL;
    s->stmts = calloc(s->stmt_cap, sizeof(*s->stmts));
    if (s->stmts == NULL) {
        err = lb_fail(why, LB_ENOMEM, "out of memory opening %s", opts->path);
        goto fail;
    }
    rc = sqlite3_open_v2(opts->path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        err = lb_fail(why, LB_EIO, "cannot open database %s: %s", opts->path,
                      s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, opts->busy_timeout_ms);
    sqlite3_extended_result_codes(s->db, 1);
    err = store_exec(s, "PRAGMA journal_mode=WAL", why);
    if (err == LB_OK)
        err = store_exec(
            s, opts->sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", why);
    if (err == LB_OK)
        err = store_exec(s, "PRAGMA foreign_keys=ON", why);
    /* Each message's savepoint journals the pages it changes; past 64 KiB (every batch of a
     * few writes) SQLite spilled that journal to a temporary file: two write() calls per page,
     * most of the loop's system time. Kept in memory, it costs only the batch's own pages. */
    if (err == LB_OK)
        err = store_exec(s, "PRAGMA temp_store=MEMORY", why);
    if (err == LB_OK && opts->checkpoint_pages > 0 && strcmp(opts->path, ":memory:") != 0)
        err = checkpointer_start(s->db, opts->path, opts->checkpoint_pages, &s->checkpointer, why);
    if (err == LB_OK)
        err = store_exec(s,
                         "CREATE TABLE IF NOT EXISTS lb_migrations ("
                         "  component TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID",
                         why);
    if (err == LB_OK)
        err = store_migrate(s, "runtime", runtime_migrations,
                            sizeof(runtime_migrations) / sizeof(runtime_migrations[0]), why);
    if (err != LB_OK)
        goto fail;
    *ret_store = s;
    return LB_OK;

fail:
    store_close(s);
    return err;
}

void store_close(struct store *s)
{
    if (s == NULL)
        return;
    checkpointer_stop(s->checkpointer);
    for (size_t i = 0; s->stmts != NULL && i < s->stmt_cap; i++)
        sqlite3_finalize(s->stmts[i].stmt);
    free(s->stmts);
    sqlite3_close(s->db);
    free(s);
}

struct checkpoint_stats store_checkpoint_stats(struct store *s)
{
    if (s == NULL || s->checkpointer == NULL)
        return (struct checkpoint_stats){0};
    return checkpointer_stats(s->checkpointer);
}

sqlite3 *store_db(struct store *s)
{
    return s->db;
}

static size_t stmt_slot(const struct store *s, const char *sql)
{
    size_t mask = s->stmt_cap - 1;
    size_t i = ((uintptr_t)sql >> 3) * 0x9E3779B97F4A7C15ull & mask;

    while (s->stmts[i].sql != NULL && s->stmts[i].sql != sql)
        i = (i + 1) & mask;
    return i;
}

/* Doubles the cache when it is half full, keeping probe chains short. */
static enum lb_err stmt_grow(struct store *s)
{
    struct stmt_entry *old = s->stmts;
    size_t old_cap = s->stmt_cap;

    s->stmts = calloc(old_cap * 2, sizeof(*s->stmts));
    if (s->stmts == NULL) {
        s->stmts = old;
        return LB_ENOMEM;
    }
    s->stmt_cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].sql != NULL)
            s->stmts[stmt_slot(s, old[i].sql)] = old[i];
    }
    free(old);
    return LB_OK;
}

sqlite3_stmt *store_stmt(struct store *s, const char *sql, struct lb_why *why)
{
    size_t i = stmt_slot(s, sql);
    sqlite3_stmt *stmt;
    int rc;

    if (s->stmts[i].sql != NULL) {
        stmt = s->stmts[i].stmt;
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
        return stmt;
    }
    if (2 * (s->stmt_count + 1) > s->stmt_cap) {
        if (stmt_grow(s) != LB_OK) {
            lb_fail(why, LB_ENOMEM, "out of memory caching a statement");
            return NULL;
        }
        i = stmt_slot(s, sql);
    }
    rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK) {
        store_fail(s, rc, why, "prepare");
        return NULL;
    }
    s->stmts[i].sql = sql;
    s->stmts[i].stmt = stmt;
    s->stmt_count++;
    return stmt;
}

enum lb_err store_step_done(struct store *s, sqlite3_stmt *stmt, struct lb_why *why)
{
    int rc;

    do {
        rc = sqlite3_step(stmt);
    } while (rc == SQLITE_ROW);
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE)
        return store_fail(s, rc, why, "sqlite");
    return LB_OK;
}

/* Runs one cached transaction-control statement: they run once or more per batch. */
static enum lb_err store_control(struct store *s, const char *sql, struct lb_why *why)
{
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    return store_step_done(s, stmt, why);
}

enum lb_err store_begin(struct store *s, struct lb_why *why)
{
    /* Deferred: read-only batches take no write lock; the service is its database's only writer. */
    static const char sql[] = "BEGIN";

    return store_control(s, sql, why);
}

enum lb_err store_commit(struct store *s, struct lb_why *why)
{
    static const char sql[] = "COMMIT";

    return store_control(s, sql, why);
}

void store_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

enum lb_err store_savepoint(struct store *s, struct lb_why *why)
{
    static const char sql[] = "SAVEPOINT lb_message";

    return store_control(s, sql, why);
}

enum lb_err store_release(struct store *s, struct lb_why *why)
{
    static const char sql[] = "RELEASE lb_message";

    return store_control(s, sql, why);
}

void store_rollback_to(struct store *s)
{
    static const char rollback[] = "ROLLBACK TO lb_message";
    static const char release[] = "RELEASE lb_message";

    /* ROLLBACK TO keeps the savepoint open; RELEASE closes it. */
    store_control(s, rollback, NULL);
    store_control(s, release, NULL);
}

static enum lb_err migration_version(struct store *s, const char *component, int *ret_version,
                                     struct lb_why *why)
{
    static const char sql[] = "SELECT version FROM lb_migrations WHERE component = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, component, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *ret_version = sqlite3_column_int(stmt, 0);
    else if (rc == SQLITE_DONE)
        *ret_version = 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_fail(s, rc, why, "reading schema version");
    return LB_OK;
}

enum lb_err store_migrate(struct store *s, const char *component,
                          const struct store_migration *steps, size_t n, struct lb_why *why)
{
    static const char record[] = "INSERT INTO lb_migrations (component, version) VALUES (?, ?) "
                                 "ON CONFLICT (component) DO UPDATE SET version = excluded.version";
    enum lb_err err;
    int current = 0;

    err = migration_version(s, component, &current, why);
    if (err != LB_OK)
        return err;
    if (n > 0 && current > steps[n - 1].version)
        return lb_fail(why, LB_ECONFLICT,
                       "database schema of %s is at version %d, newer than this build (%d)",
                       component, current, steps[n - 1].version);
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *stmt;

        if (steps[i].version <= current)
            continue;
        err = store_begin(s, why);
        if (err != LB_OK)
            return err;
        err = store_exec(s, steps[i].sql, why);
        if (err == LB_OK) {
            stmt = store_stmt(s, record, why);
            if (stmt == NULL) {
                err = LB_EINTERNAL;
            } else {
                sqlite3_bind_text(stmt, 1, component, -1, SQLITE_STATIC);
                sqlite3_bind_int(stmt, 2, steps[i].version);
                err = store_step_done(s, stmt, why);
            }
        }
        if (err == LB_OK)
            err = store_commit(s, why);
        if (err != LB_OK) {
            store_rollback(s);
            return err;
        }
    }
    return LB_OK;
}
