/*
 * store.c - tally's tables; all of its SQL is here.
 */
#include "tally.h"

const struct store_migration tally_migrations[] = {
    {1, "CREATE TABLE counters ("
        "  tenant TEXT NOT NULL,"
        "  name TEXT NOT NULL,"
        "  value INTEGER NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  updated_ms INTEGER NOT NULL,"
        "  idle_version INTEGER NOT NULL DEFAULT 0," /* version last reported idle */
        "  PRIMARY KEY (tenant, name)"
        ") WITHOUT ROWID;"
        "CREATE INDEX counters_by_update ON counters (updated_ms);"},
};
const size_t tally_migration_count = sizeof(tally_migrations) / sizeof(tally_migrations[0]);

enum lb_err tally_store_get(struct store *s, const char *tenant, const char *name,
                            struct counter *ret_counter, struct lb_why *why)
{
    static const char sql[] = "SELECT value, version, updated_ms FROM counters "
                              "WHERE tenant = ? AND name = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        ret_counter->value = sqlite3_column_int64(stmt, 0);
        ret_counter->version = sqlite3_column_int64(stmt, 1);
        ret_counter->updated_ms = sqlite3_column_int64(stmt, 2);
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "no counter \"%s\" for tenant \"%s\"", name, tenant);
    if (rc != SQLITE_ROW)
        return lb_fail(why, store_err(rc), "reading counter: %s", sqlite3_errmsg(store_db(s)));
    return LB_OK;
}

enum lb_err tally_store_put(struct store *s, const char *tenant, const char *name,
                            const struct counter *c, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO counters (tenant, name, value, version, updated_ms) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, name) DO UPDATE SET value = excluded.value, "
        "version = excluded.version, updated_ms = excluded.updated_ms";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, c->value);
    sqlite3_bind_int64(stmt, 4, c->version);
    sqlite3_bind_int64(stmt, 5, c->updated_ms);
    return store_step_done(s, stmt, why);
}

enum lb_err tally_store_each_idle(struct store *s, int64_t before_ms, struct service *svc,
                                  tally_idle_fn fn, struct lb_why *why)
{
    /* Ordered, so a replay reports idle counters (and derives their ids) in the same order. */
    static const char sql[] = "SELECT tenant, name, value, version, updated_ms FROM counters "
                              "WHERE updated_ms <= ? AND idle_version < version "
                              "ORDER BY updated_ms, tenant, name";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, before_ms);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct counter c = {
            .value = sqlite3_column_int64(stmt, 2),
            .version = sqlite3_column_int64(stmt, 3),
            .updated_ms = sqlite3_column_int64(stmt, 4),
        };

        err = fn(svc, (const char *)sqlite3_column_text(stmt, 0),
                 (const char *)sqlite3_column_text(stmt, 1), &c, why);
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = lb_fail(why, store_err(rc), "listing idle counters: %s", sqlite3_errmsg(store_db(s)));
    return err;
}

enum lb_err tally_store_mark_idle(struct store *s, const char *tenant, const char *name,
                                  int64_t version, struct lb_why *why)
{
    static const char sql[] = "UPDATE counters SET idle_version = ? WHERE tenant = ? AND name = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, version);
    sqlite3_bind_text(stmt, 2, tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 3, name, -1, SQLITE_TRANSIENT);
    return store_step_done(s, stmt, why);
}
