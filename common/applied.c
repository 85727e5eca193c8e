/*
 * applied.c - lb_applied: one row per applied event id.
 */
#include "applied.h"

#include <stdlib.h>
#include <string.h>

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

enum lb_err applied_request_check(struct store *s, const char *request_id, const char *endpoint,
                                  uint64_t digest, enum applied_state *ret_state, char **ret_reply,
                                  struct lb_why *why)
{
    static const char sql[] = "SELECT endpoint, digest, reply FROM lb_requests "
                              "WHERE request_id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    *ret_state = APPLIED_NEW;
    *ret_reply = NULL;
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, request_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        bool same = strcmp((const char *)sqlite3_column_text(stmt, 0), endpoint) == 0 &&
                    (uint64_t)sqlite3_column_int64(stmt, 1) == digest;

        *ret_state = same ? APPLIED_DUPLICATE : APPLIED_CONFLICT;
        if (same)
            *ret_reply = strndup((const char *)sqlite3_column_blob(stmt, 2),
                                 (size_t)sqlite3_column_bytes(stmt, 2));
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return lb_fail(why, store_err(rc), "looking up request %s: %s", request_id,
                       sqlite3_errmsg(store_db(s)));
    if (*ret_state == APPLIED_DUPLICATE && *ret_reply == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    return LB_OK;
}

enum lb_err applied_request_record(struct store *s, const char *request_id, const char *endpoint,
                                   uint64_t digest, const char *reply, int64_t now_ms,
                                   struct lb_why *why)
{
    static const char sql[] = "INSERT INTO lb_requests "
                              "(request_id, endpoint, digest, reply, applied_at) "
                              "VALUES (?, ?, ?, ?, ?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, endpoint, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, (int64_t)digest);
    sqlite3_bind_blob(stmt, 4, reply, (int)strlen(reply), SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, now_ms);
    return store_step_done(s, stmt, why);
}
