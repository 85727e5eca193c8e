/*
 * applied.c - lb_applied: one row per applied event id.
 */
#include "applied.h"

enum lb_err applied_check(struct store *s, const char *event_id, uint64_t digest,
                          enum applied_state *ret_state, struct lb_why *why)
{
    static const char sql[] = "SELECT digest FROM lb_applied WHERE event_id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, event_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *ret_state = (uint64_t)sqlite3_column_int64(stmt, 0) == digest ? APPLIED_DUPLICATE
                                                                       : APPLIED_CONFLICT;
    else if (rc == SQLITE_DONE)
        *ret_state = APPLIED_NEW;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return lb_fail(why, store_err(rc), "looking up applied id %s: %s", event_id,
                       sqlite3_errmsg(store_db(s)));
    return LB_OK;
}

enum lb_err applied_record(struct store *s, const char *event_id, uint64_t digest, int64_t now_ms,
                           struct lb_why *why)
{
    static const char sql[] = "INSERT INTO lb_applied (event_id, digest, applied_at) "
                              "VALUES (?, ?, ?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, (int64_t)digest);
    sqlite3_bind_int64(stmt, 3, now_ms);
    return store_step_done(s, stmt, why);
}
