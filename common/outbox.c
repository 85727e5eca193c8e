/*
 * outbox.c - the transactional outbox table (lb_outbox) and its publisher.
 */
#include "outbox.h"

#include <string.h>

/* How long to wait for the stream to ack a published batch. */
#define OUTBOX_ACK_WAIT_MS 5000

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

/* Drops what libnats still holds after a failed batch, so it is not sent twice. */
static void outbox_abandon(struct bus *b)
{
    natsMsgList pending = {0};

    if (js_PublishAsyncGetPendingList(&pending, bus_js(b)) == NATS_OK)
        natsMsgList_Destroy(&pending);
}

static enum lb_err outbox_send_row(struct bus *b, sqlite3_stmt *stmt, struct lb_why *why)
{
    const char *msg_id = (const char *)sqlite3_column_text(stmt, 1);
    const char *subject = (const char *)sqlite3_column_text(stmt, 2);
    const void *payload = sqlite3_column_blob(stmt, 3);
    int len = sqlite3_column_bytes(stmt, 3);
    natsMsg *msg = NULL;
    natsStatus st;

    st = natsMsg_Create(&msg, subject, NULL, payload, len);
    if (st == NATS_OK)
        st = natsMsgHeader_Set(msg, "Nats-Msg-Id", msg_id);
    if (st == NATS_OK)
        st = js_PublishMsgAsync(bus_js(b), &msg, NULL);
    natsMsg_Destroy(msg); /* NULL once libnats took it */
    if (st != NATS_OK)
        return lb_fail(why, bus_err(st), "publishing outbox row to %s: %s", subject,
                       natsStatus_GetText(st));
    return LB_OK;
}

enum lb_err outbox_publish(struct store *s, struct bus *b, int64_t *ret_last_seq, size_t *ret_count,
                           struct lb_why *why)
{
    static const char sql[] = "SELECT seq, msg_id, subject, payload FROM lb_outbox "
                              "ORDER BY seq LIMIT ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    jsPubOptions po;
    int64_t last_seq = 0;
    size_t count = 0;
    enum lb_err err = LB_OK;
    natsStatus st;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int(stmt, 1, OUTBOX_BATCH);
    bus_take_publish_errors(b);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        err = outbox_send_row(b, stmt, why);
        if (err != LB_OK)
            break;
        last_seq = sqlite3_column_int64(stmt, 0);
        count++;
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = lb_fail(why, store_err(rc), "reading the outbox: %s", sqlite3_errmsg(store_db(s)));
    if (count == 0 && err == LB_OK) {
        *ret_last_seq = 0;
        *ret_count = 0;
        return LB_OK;
    }
    jsPubOptions_Init(&po);
    po.MaxWait = OUTBOX_ACK_WAIT_MS;
    st = js_PublishAsyncComplete(bus_js(b), &po);
    if (err == LB_OK && st != NATS_OK)
        err = lb_fail(why, LB_EUNAVAILABLE, "waiting for the stream to ack %zu events: %s", count,
                      natsStatus_GetText(st));
    if (err == LB_OK && bus_take_publish_errors(b) > 0)
        err = lb_fail(why, LB_EUNAVAILABLE, "the stream refused some of %zu events", count);
    if (err != LB_OK) {
        outbox_abandon(b);
        return err;
    }
    *ret_last_seq = last_seq;
    *ret_count = count;
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
