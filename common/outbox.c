/*
 * outbox.c - the transactional outbox table (lb_outbox) and its publisher.
 */
#include "outbox.h"

#include <string.h>

enum lb_err outbox_add(struct store *s, const char *subject, const char *msg_id,
                       const void *payload, size_t len, int64_t now_ms, struct lb_why *why)
{
    static const char sql[] = "INSERT INTO lb_outbox (msg_id, subject, payload, created_at) "
                              "VALUES (?, ?, ?, ?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, msg_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, subject, -1, SQLITE_STATIC);
    sqlite3_bind_blob(stmt, 3, payload, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, now_ms);
    return store_step_done(s, stmt, why);
}

static enum lb_err outbox_send_row(struct bus *b, sqlite3_stmt *stmt, struct lb_why *why)
{
    const char *msg_id = (const char *)sqlite3_column_text(stmt, 1);
    const char *subject = (const char *)sqlite3_column_text(stmt, 2);
    const void *payload = sqlite3_column_blob(stmt, 3);
    int len = sqlite3_column_bytes(stmt, 3);
    natsMsg *msg = NULL;
    jsPubOptions po;
    natsStatus st;

    /* A publish lost with its connection (NATS restarted) is never acked: after MaxWait the ack
     * handler hears a timeout, counts a refusal, and the rows are sent again (settle_outbox). */
    jsPubOptions_Init(&po);
    po.MaxWait = OUTBOX_PUBLISH_WAIT_MS;
    st = natsMsg_Create(&msg, subject, NULL, payload, len);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(msg, "Nats-Msg-Id", msg_id);
    if (st == NATS_OK)
        st = js_PublishMsgAsync(bus_js(b), &msg, &po);
    natsMsg_Destroy(msg); /* NULL once libnats took it */
    if (st != NATS_OK)
        return lb_fail(why, bus_err(st), "publishing outbox row to %s: %s", subject,
                       natsStatus_GetText(st));
    return LB_OK;
}

enum lb_err outbox_send(struct store *s, struct bus *b, int64_t after_seq, size_t max,
                        int64_t *ret_last_seq, size_t *ret_count, struct lb_why *why)
{
    static const char sql[] = "SELECT seq, msg_id, subject, payload FROM lb_outbox "
                              "WHERE seq > ? ORDER BY seq LIMIT ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int64_t last_seq = after_seq;
    size_t count = 0;
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, after_seq);
    sqlite3_bind_int64(stmt, 2, (int64_t)max);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        err = outbox_send_row(b, stmt, why);
        if (err != LB_OK)
            break;
        last_seq = sqlite3_column_int64(stmt, 0);
        count++;
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = lb_fail(why, store_err(rc), "reading the outbox: %s", sqlite3_errmsg(store_db(s)));
    /* Rows sent before a failure are in flight all the same: report them. */
    *ret_last_seq = last_seq;
    *ret_count = count;
    return err;
}

enum lb_err outbox_wait(struct bus *b, int64_t timeout_ms, struct lb_why *why)
{
    jsPubOptions po;
    natsStatus st;

    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms;
    st = js_PublishAsyncComplete(bus_js(b), &po);
    if (st != NATS_OK)
        return lb_fail(why, LB_EUNAVAILABLE, "waiting for the stream's acks: %s",
                       natsStatus_GetText(st));
    return LB_OK;
}

enum lb_err outbox_forget(struct store *s, int64_t last_seq, struct lb_why *why)
{
    static const char sql[] = "DELETE FROM lb_outbox WHERE seq <= ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, last_seq);
    return store_step_done(s, stmt, why);
}

enum lb_err outbox_pending(struct store *s, int64_t *ret_count, struct lb_why *why)
{
    static const char sql[] = "SELECT count(*) FROM lb_outbox";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *ret_count = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW)
        return lb_fail(why, store_err(rc), "counting the outbox: %s", sqlite3_errmsg(store_db(s)));
    return LB_OK;
}
