/*
 * dispatch.c - the loop thread's batches.
 *
 * Everything the NATS threads receive lands in one queue; dispatch_drain
 * takes the whole queue (several wake-ups may arrive as one callback) and
 * handles it as one batch:
 *
 *   BEGIN
 *     per message: SAVEPOINT, handle, RELEASE or ROLLBACK TO
 *   COMMIT
 *   reply to requests, ack or nak consumed messages
 *   publish the outbox (events emitted and dead letters written above)
 *
 * Nothing leaves the service before the commit: a reply or an ack always
 * describes durable state. The events a batch emitted are durable in the
 * outbox by then; they are published right after the replies.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applied.h"
#include "dead_letter.h"
#include "envelope.h"
#include "json_strict.h"
#include "log.h"
#include "orgtree.h"
#include "outbox.h"
#include "runtime.h"

/* The clock event type the runtime applies itself in virtual-clock mode. */
#define CLOCK_TICK_TYPE "licensebus.clock.tick.v1"
/* How long the publisher waits for acks when its window is full or at shutdown. */
#define OUTBOX_ACK_WAIT_MS 5000
/* Longest Lb-Request-Id kept; a longer one is replaced by a fresh id. */
#define REQUEST_ID_MAX 128

void dispatch_enqueue(struct service *svc, struct work *w)
{
    uv_mutex_lock(&svc->queue_lock);
    if (svc->queue_tail != NULL)
        svc->queue_tail->next = w;
    else
        svc->queue_head = w;
    svc->queue_tail = w;
    uv_mutex_unlock(&svc->queue_lock);
}

/* Runs on a libnats thread: queue the request and wake the loop. */
void dispatch_on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct endpoint_state *ep = closure;
    struct work *w = calloc(1, sizeof(*w));

    (void)nc;
    (void)sub;
    if (w == NULL) {
        /* The requester times out; there is no memory to say more. */
        natsMsg_Destroy(msg);
        return;
    }
    w->kind = WORK_REQUEST;
    w->msg = msg;
    w->endpoint = ep;
    dispatch_enqueue(ep->svc, w);
    uv_async_send(&ep->svc->wake);
}

int64_t service_now_ms(const struct service *svc)
{
    return clock_now_ms(&svc->clock);
}

struct store *service_store(struct service *svc)
{
    return svc->store;
}

void *service_state(struct service *svc)
{
    return svc->state;
}

/*
 * Writes what idempotent handlers coalesced (def->flush), once something
 * else is about to look at the database. A failure dooms the batch.
 */
static void flush_coalesced(struct service *svc)
{
    struct lb_why why = {{0}};

    if (!svc->coalesced || svc->def->flush == NULL)
        return;
    svc->coalesced = false;
    if (svc->def->flush(svc, &why) != LB_OK) {
        log_error("cannot write the coalesced changes: %s", why.text);
        svc->flush_failed = true;
    }
}

const void *service_config(const struct service *svc)
{
    return svc->service_config;
}

enum lb_err service_emit(struct service *svc, const char *tenant, const char *name, int version,
                         const cJSON *data, char ret_id[ID_LEN + 1], struct lb_why *why)
{
    char subject[SUBJECT_MAX];
    char type[ENVELOPE_TYPE_MAX + 1];
    char salt[SUBJECT_TOKEN_MAX + 32];
    char source[SUBJECT_TOKEN_MAX + 16];
    char id[ID_LEN + 1];
    struct envelope_spec spec;
    int64_t now = svc->cause_time_ms > 0 ? svc->cause_time_ms : service_now_ms(svc);
    char *text = NULL;
    enum lb_err err;

    err = subject_event(subject, svc->def->name, tenant, name);
    if (err != LB_OK)
        return lb_fail(why, err, "cannot emit %s for tenant \"%s\": invalid subject token", name,
                       tenant);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v%d", svc->def->name, name, version);
    snprintf(salt, sizeof(salt), "%s/%u", name, svc->emit_index++);
    snprintf(source, sizeof(source), "/licensebus/%s", svc->def->name);
    id_derive(id, now, svc->cause_id ? svc->cause_id : "", salt);
    spec = (struct envelope_spec){
        .id = id, .source = source, .type = type, .tenant = tenant, .time_ms = now};
    err = envelope_build(&spec, data, &text);
    if (err != LB_OK)
        return lb_fail(why, err, "cannot build event %s", type);
    err = outbox_add(svc->store, subject, id, text, strlen(text), now, why);
    free(text);
    if (err != LB_OK)
        return err;
    svc->outbox_dirty = true;
    if (ret_id != NULL)
        memcpy(ret_id, id, sizeof(id));
    return LB_OK;
}

/*
 * What the running handler reacts to. `time_ms` is the causing event's time
 * (0 for requests and sweeps): events emitted in reaction to a consumed
 * event carry its time and derive their ids from it, so applying the same
 * event again (a rebuild, a moved partition) emits byte-identical events,
 * which consumers downstream recognize as duplicates.
 */
static void set_cause(struct service *svc, const char *cause_id, int64_t time_ms)
{
    svc->cause_id = cause_id;
    svc->cause_time_ms = time_ms;
    svc->emit_index = 0;
}

/* ---- requests ---------------------------------------------------------- */

/* A request on lb.api.<service>.<endpoint>.<tenant> may act on that tenant only. */
static enum lb_err check_subject_tenant(const char *subject, const cJSON *body, struct lb_why *why)
{
    char tenant[SUBJECT_TOKEN_MAX + 1];
    const char *claimed = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(body, "tenant"));
    enum lb_err err = subject_request_tenant(subject, tenant, why);

    if (err != LB_OK || tenant[0] == '\0' || claimed == NULL || strcmp(claimed, tenant) == 0)
        return err;
    return lb_fail(why, LB_EFORBIDDEN,
                   "tenant \"%.64s\" of the request differs from tenant \"%s\" of its subject",
                   claimed, tenant);
}

/*
 * With an Lb-Request-Id (`given`), a request that changed something is
 * recorded with its reply: a retry gets that reply back and changes nothing
 * again, and the events it emitted derive their ids from the request id and
 * the service's clock, so a replay of the same requests emits the same ids.
 */
static enum lb_err run_endpoint(struct service *svc, struct work *w, const char *request_id,
                                bool given, struct lb_why *why)
{
    uint64_t digest = 0;
    int changes_before;
    const char *data = natsMsg_GetData(w->msg);
    int len = natsMsg_GetDataLength(w->msg);
    struct request req = {.endpoint = w->endpoint->def->name, .request_id = request_id};
    cJSON *body = NULL;
    cJSON *reply = NULL;
    enum lb_err err;

    if (len > SERVICE_REQUEST_MAX_BYTES)
        return lb_fail(why, LB_ETOOBIG, "request of %d bytes exceeds the limit of %d bytes", len,
                       SERVICE_REQUEST_MAX_BYTES);
    err = json_parse_strict(data ? data : "", (size_t)len, &body, why);
    if (err != LB_OK)
        return err;
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return lb_fail(why, LB_EINVAL, "request body must be a JSON object");
    }
    req.body = body;
    err = check_subject_tenant(natsMsg_GetSubject(w->msg), body, why);
    if (err != LB_OK) {
        cJSON_Delete(body);
        return err;
    }
    if (given) {
        enum applied_state state;

        digest = id_digest(data ? data : "", (size_t)len);
        err = applied_request_check(svc->store, request_id, req.endpoint, digest, &state, &w->reply,
                                    why);
        if (err == LB_OK && state == APPLIED_CONFLICT)
            err = lb_fail(why, LB_ECONFLICT,
                          "request id %.128s was already used for another request", request_id);
        if (err != LB_OK || state == APPLIED_DUPLICATE)
            goto done;
    }
    flush_coalesced(svc);
    err = store_savepoint(svc->store, why);
    if (err != LB_OK)
        goto done;
    /* The request id is the cause: given, it makes ids stable; made up, fresh (D19). */
    set_cause(svc, request_id, 0);
    changes_before = sqlite3_total_changes(store_db(svc->store));
    err = w->endpoint->def->handler(svc, &req, &reply, why);
    set_cause(svc, NULL, 0);
    if (err == LB_OK && reply == NULL)
        err = lb_fail(why, LB_EINTERNAL, "endpoint %s produced no reply", req.endpoint);
    if (err == LB_OK && (w->reply = json_print(reply)) == NULL)
        err = lb_fail(why, LB_ENOMEM, "out of memory serializing the reply");
    if (err == LB_OK && given && sqlite3_total_changes(store_db(svc->store)) != changes_before)
        err = applied_request_record(svc->store, request_id, req.endpoint, digest, w->reply,
                                     service_now_ms(svc), why);
    if (err == LB_OK)
        err = store_release(svc->store, why);
    if (err != LB_OK) {
        store_rollback_to(svc->store);
        free(w->reply);
        w->reply = NULL;
    }
done:
    cJSON_Delete(reply);
    cJSON_Delete(body);
    return err;
}

static void handle_request(struct service *svc, struct work *w)
{
    struct endpoint_state *ep = w->endpoint;
    const char *reply_to = natsMsg_GetReply(w->msg);
    const char *header_id = NULL;
    char made_id[ID_LEN + 1];
    const char *request_id;
    bool given = true;
    struct lb_why why = {{0}};
    int64_t start = clock_mono_ns();
    enum lb_err err;

    if (natsMsgHeader_Get(w->msg, "Lb-Request-Id", &header_id) != NATS_OK || header_id == NULL ||
        header_id[0] == '\0' || strlen(header_id) > REQUEST_ID_MAX) {
        id_new(made_id, clock_wall_ms());
        header_id = made_id;
        given = false;
    }
    request_id = header_id;
    ep->num_requests++;
    (*ep->metric_requests)++;
    if (reply_to == NULL || reply_to[0] == '\0')
        err = lb_fail(&why, LB_EINVAL, "request on %s has no reply subject", ep->subject);
    else if (svc->catching_up)
        err = lb_fail(&why, LB_EUNAVAILABLE,
                      "the service is rebuilding its database from its own stream; retry later");
    else
        err = run_endpoint(svc, w, request_id, given, &why);
    if (err != LB_OK) {
        struct log_ids ids = {.request_id = request_id};

        w->reply_err = err;
        free(w->reply);
        w->reply = strdup(why.text[0] ? why.text : lb_err_code(err));
        ep->num_errors++;
        (*ep->metric_errors)++;
        snprintf(ep->last_error, sizeof(ep->last_error), "%s: %s", lb_err_code(err), why.text);
        log_write(lb_err_is_transient(err) ? LB_LOG_ERROR : LB_LOG_WARN, &ids, "%s refused: %s: %s",
                  ep->subject, lb_err_code(err), why.text);
    }
    ep->processing_ns += clock_mono_ns() - start;
}

/* ---- consumed events ------------------------------------------------------ */

/* What is known of a consumed message before its envelope is read. */
struct delivery {
    const char *subject;
    const char *data;
    size_t len;
    const char *stream;
    uint64_t stream_seq;
    uint64_t deliveries;
};

/* Redelivery delay after a transient failure: the consumer's back-off step. */
static int64_t retry_delay_ms(const struct service *svc, uint64_t deliveries)
{
    const struct bus_consumer *c = &svc->fetchers[0].consumer;
    uint64_t i = deliveries > 0 ? deliveries - 1 : 0;

    if (i >= BUS_BACKOFF_MAX || c->backoff_ms[i] == 0)
        return svc->cfg.ack_wait_ms;
    return c->backoff_ms[i];
}

static void dead_letter(struct service *svc, struct work *w, const struct delivery *d,
                        const char *event_id, enum lb_err code, const char *reason)
{
    struct dead_letter dl = {
        .service = svc->def->name,
        .code = code,
        .reason = reason,
        .subject = d->subject,
        .stream = d->stream,
        .stream_seq = d->stream_seq,
        .deliveries = d->deliveries,
        .event_id = event_id,
        .payload = d->data,
        .len = d->len,
        .now_ms = service_now_ms(svc),
    };
    struct log_ids ids = {.event_id = event_id};
    struct lb_why why = {{0}};

    if (dead_letter_add(svc->store, &dl, &why) != LB_OK) {
        /* Cannot record it now: leave it to redelivery rather than lose it. */
        log_write(LB_LOG_ERROR, &ids, "cannot dead-letter message %s/%llu: %s",
                  d->stream ? d->stream : "-", (unsigned long long)d->stream_seq, why.text);
        w->disposition = DISPOSE_NAK;
        w->nak_delay_ms = retry_delay_ms(svc, d->deliveries);
        w->outcome = OUTCOME_RETRY;
        return;
    }
    svc->outbox_dirty = true;
    log_write(LB_LOG_WARN, &ids, "dead-lettered %s (%s/%llu): %s: %s", d->subject,
              d->stream ? d->stream : "-", (unsigned long long)d->stream_seq, lb_err_code(code),
              reason);
    w->disposition = DISPOSE_ACK;
    w->outcome = OUTCOME_DEAD_LETTER;
}

/* Applied by the runtime itself: moves the virtual clock, then runs the sweep. */
static enum lb_err apply_clock_tick(struct service *svc, const struct envelope *ev,
                                    struct lb_why *why)
{
    static const char sql[] = "INSERT INTO lb_clock (id, now_ms) VALUES (1, ?) "
                              "ON CONFLICT (id) DO UPDATE SET now_ms = excluded.now_ms";
    const char *text;
    int64_t to_ms;
    int64_t before = svc->clock.virtual_ms;
    sqlite3_stmt *stmt;
    enum lb_err err;

    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "clock tick has no data");
    err = json_get_string(ev->data, "now", 64, &text, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "clock tick: %s", why->text);
    if (envelope_parse_time(text, &to_ms) != LB_OK)
        return lb_fail(why, LB_EINVAL, "clock tick: \"now\" is not an RFC 3339 time: %s", text);
    if (!clock_advance(&svc->clock, to_ms))
        return LB_OK; /* the clock never moves back */
    stmt = store_stmt(svc->store, sql, why);
    if (stmt == NULL) {
        err = LB_EINTERNAL;
        goto fail;
    }
    sqlite3_bind_int64(stmt, 1, to_ms);
    err = store_step_done(svc->store, stmt, why);
    if (err == LB_OK)
        err = dispatch_sweep(svc, to_ms);
    if (err != LB_OK)
        goto fail;
    return LB_OK;
fail:
    svc->clock.virtual_ms = before;
    return err;
}

/* The service's handler of `type` (NULL when none); *ret_idempotent: skip the applied-id record. */
static service_event_fn find_handler(const struct service *svc, const char *type,
                                     bool *ret_idempotent)
{
    *ret_idempotent = false;
    if (svc->clock.mode == CLOCK_VIRTUAL && strcmp(type, CLOCK_TICK_TYPE) == 0)
        return apply_clock_tick;
    for (size_t i = 0; i < svc->def->event_count; i++) {
        if (strcmp(svc->def->events[i].type, type) == 0) {
            *ret_idempotent = svc->def->events[i].idempotent;
            return svc->def->events[i].handler;
        }
    }
    return NULL;
}

/* A type the service lists in `ignores`: part of a domain it consumes, of no use to it. */
static bool is_ignored(const struct service *svc, const char *type)
{
    for (const char *const *t = svc->def->ignores; t != NULL && *t != NULL; t++) {
        if (strcmp(*t, type) == 0)
            return true;
    }
    return false;
}

static void apply_event(struct service *svc, struct work *w, const struct delivery *d,
                        const struct envelope *ev)
{
    bool idempotent;
    service_event_fn handler = find_handler(svc, ev->type, &idempotent);
    service_event_fn org_handler = svc->def->org_tree ? orgtree_handler(ev->type) : NULL;
    uint64_t digest = id_digest(d->data, d->len);
    struct log_ids ids = {.event_id = ev->id};
    enum applied_state state = APPLIED_NEW;
    struct lb_why why = {{0}};
    enum lb_err err = LB_OK;

    /* An idempotent type (e.g. a heartbeat: last-seen only moves forward) is not recorded. */
    if (!idempotent)
        err = applied_check(svc->store, ev->id, digest, &state, &why);
    if (err != LB_OK)
        goto retry;
    if (state == APPLIED_DUPLICATE) {
        w->disposition = DISPOSE_ACK;
        w->outcome = OUTCOME_DUPLICATE;
        return;
    }
    if (state == APPLIED_CONFLICT) {
        snprintf(why.text, sizeof(why.text),
                 "event id %s was already applied with a different payload", ev->id);
        dead_letter(svc, w, d, ev->id, LB_ECONFLICT, why.text);
        return;
    }
    if (handler == NULL && org_handler == NULL && is_ignored(svc, ev->type)) {
        w->disposition = DISPOSE_ACK;
        w->outcome = OUTCOME_IGNORED;
        return;
    }
    if (handler == NULL && org_handler == NULL) {
        snprintf(why.text, sizeof(why.text), "no handler for event type %s", ev->type);
        dead_letter(svc, w, d, ev->id, LB_EUNSUPPORTED, why.text);
        return;
    }
    if (!idempotent)
        flush_coalesced(svc);
    err = store_savepoint(svc->store, &why);
    if (err != LB_OK)
        goto retry;
    set_cause(svc, ev->id, ev->time_ms);
    /* The org tree learns first, so the service's own handler sees the new tree. */
    if (org_handler != NULL)
        err = org_handler(svc, ev, &why);
    if (err == LB_OK && handler != NULL)
        err = handler(svc, ev, &why);
    set_cause(svc, NULL, 0);
    if (err == LB_OK && !idempotent)
        err = applied_record(svc->store, ev->id, digest, service_now_ms(svc), &why);
    if (err == LB_OK)
        err = store_release(svc->store, &why);
    if (err == LB_OK) {
        svc->coalesced = svc->coalesced || idempotent;
        w->disposition = DISPOSE_ACK;
        w->outcome = OUTCOME_APPLIED;
        return;
    }
    store_rollback_to(svc->store);
    if (!lb_err_is_transient(err)) {
        dead_letter(svc, w, d, ev->id, err, why.text);
        return;
    }
retry:
    log_write(LB_LOG_ERROR, &ids, "cannot apply %s now, will retry: %s", ev->type, why.text);
    w->disposition = DISPOSE_NAK;
    w->nak_delay_ms = retry_delay_ms(svc, d->deliveries);
    w->outcome = OUTCOME_RETRY;
}

static void handle_event(struct service *svc, struct work *w)
{
    struct pull_meta meta;
    struct delivery d = {
        .subject = natsMsg_GetSubject(w->msg),
        .data = natsMsg_GetData(w->msg),
        .len = (size_t)natsMsg_GetDataLength(w->msg),
        .deliveries = 1,
    };
    struct envelope ev = {0};
    const char *msg_id = NULL;
    struct lb_why why = {{0}};
    enum lb_err err;

    if (d.data == NULL)
        d.data = "";
    if (pull_meta(w->msg, &meta)) {
        d.stream = meta.stream;
        d.stream_seq = meta.stream_seq;
        d.deliveries = meta.deliveries;
    }
    if (d.deliveries > 1)
        (*svc->metric_redeliveries)++;
    if ((int64_t)d.deliveries >= svc->cfg.max_deliver) {
        snprintf(why.text, sizeof(why.text), "not applied after %llu deliveries (poison message)",
                 (unsigned long long)d.deliveries);
        dead_letter(svc, w, &d, NULL, LB_EINTERNAL, why.text);
        goto done;
    }
    err = envelope_parse(d.data, d.len, &ev, &why);
    if (err == LB_OK)
        err = envelope_check_subject(&ev, d.subject, &why);
    if (err == LB_OK && natsMsgHeader_Get(w->msg, "Nats-Msg-Id", &msg_id) == NATS_OK &&
        msg_id != NULL && strcmp(msg_id, ev.id) != 0)
        err = lb_fail(&why, LB_EINVAL, "Nats-Msg-Id %.64s differs from the event id %.64s", msg_id,
                      ev.id);
    if (err != LB_OK) {
        dead_letter(svc, w, &d, ev.id, err, why.text);
        goto done;
    }
    apply_event(svc, w, &d, &ev);
done:
    envelope_release(&ev);
}

/* ---- sweeps and the outbox ------------------------------------------------ */

enum lb_err dispatch_sweep(struct service *svc, int64_t now_ms)
{
    char cause[64];
    struct lb_why why = {{0}};
    enum lb_err err;

    if (svc->def->sweep == NULL)
        return LB_OK;
    flush_coalesced(svc);
    /* Sweep ids derive from the time of the sweep, so a replay emits the same ids. */
    snprintf(cause, sizeof(cause), "sweep@%lld", (long long)now_ms);
    set_cause(svc, cause, 0);
    err = svc->def->sweep(svc, now_ms, &why);
    set_cause(svc, NULL, 0);
    if (err != LB_OK)
        log_error("sweep at %lld failed: %s: %s", (long long)now_ms, lb_err_code(err), why.text);
    svc->last_sweep_ms = now_ms;
    return err;
}

/*
 * Counts the stream's acks. When nothing is in flight any more, the rows
 * sent are all stored: they may be forgotten (dispatch_forget_outbox deletes
 * them in the next transaction); or, if any was refused, everything not yet
 * forgotten is sent again (the stream drops the copies it already has).
 */
static void settle_outbox(struct service *svc)
{
    uint64_t acked;
    uint64_t refused;

    bus_take_publish_outcomes(svc->bus, &acked, &refused);
    svc->outbox_in_flight -= (int64_t)(acked + refused);
    *svc->metric_published += (double)acked;
    if (refused > 0)
        svc->outbox_refused = true;
    if (svc->outbox_in_flight > 0 || svc->outbox_sent_up_to == svc->outbox_forgotten_up_to)
        return;
    if (svc->outbox_refused) {
        svc->outbox_sent_up_to = svc->outbox_forgotten_up_to;
        svc->outbox_refused = false;
        svc->outbox_dirty = true;
        return;
    }
    if (strcmp(svc->cfg.fault, "crash_after_publish") == 0)
        raise(SIGKILL); /* test-only: die between the stream's ack and forgetting the rows */
    svc->outbox_forgotten_up_to = svc->outbox_sent_up_to;
}

void dispatch_forget_outbox(struct service *svc)
{
    struct lb_why why = {{0}};

    if (svc->outbox_deleted_up_to == svc->outbox_forgotten_up_to)
        return;
    /* Cumulative: if the enclosing transaction rolls back, the next call deletes these too. */
    if (outbox_forget(svc->store, svc->outbox_forgotten_up_to, &why) != LB_OK) {
        log_error("cannot clear the published outbox rows: %s", why.text);
        return;
    }
    svc->outbox_deleted_up_to = svc->outbox_forgotten_up_to;
}

void dispatch_flush_outbox(struct service *svc)
{
    struct lb_why why = {{0}};
    int64_t pending = 0;

    settle_outbox(svc);
    if (!svc->outbox_dirty)
        return;
    if (strcmp(svc->cfg.fault, "crash_before_publish") == 0 &&
        outbox_pending(svc->store, &pending, &why) == LB_OK && pending > 0)
        raise(SIGKILL); /* test-only: die between commit and publish */
    for (;;) {
        size_t room = (size_t)(OUTBOX_WINDOW - svc->outbox_in_flight);
        int64_t last_seq;
        size_t count;
        enum lb_err err;

        if (room == 0) {
            /* The window is full: wait for the stream before sending more. */
            if (outbox_wait(svc->bus, OUTBOX_ACK_WAIT_MS, &why) != LB_OK) {
                log_warn("outbox not published yet, will retry: %s", why.text);
                return;
            }
            settle_outbox(svc);
            if (svc->outbox_in_flight >= OUTBOX_WINDOW)
                return; /* acks not counted yet: the next wake-up goes on */
            continue;
        }
        err = outbox_send(svc->store, svc->bus, svc->outbox_sent_up_to, room, &last_seq, &count,
                          &why);
        svc->outbox_in_flight += (int64_t)count;
        svc->outbox_sent_up_to = last_seq;
        if (err != LB_OK) {
            log_warn("outbox not published yet, will retry: %s", why.text);
            return;
        }
        if (count < room)
            break;
    }
    svc->outbox_dirty = false;
}

void dispatch_finish_outbox(struct service *svc)
{
    struct lb_why why = {{0}};

    dispatch_flush_outbox(svc);
    if (svc->outbox_in_flight > 0 && outbox_wait(svc->bus, OUTBOX_ACK_WAIT_MS, &why) != LB_OK)
        log_warn("exiting with outbox rows unacked (published at the next start): %s", why.text);
    settle_outbox(svc);
    dispatch_forget_outbox(svc);
}

/* Runs on a libnats thread after each publish ack: the loop counts it. */
void dispatch_on_publish_ack(void *ctx)
{
    struct service *svc = ctx;

    if (!atomic_load(&svc->closing))
        uv_async_send(&svc->wake);
}

/* ---- the batch -------------------------------------------------------------- */

static struct work *take_queue(struct service *svc)
{
    struct work *head;

    uv_mutex_lock(&svc->queue_lock);
    head = svc->queue_head;
    svc->queue_head = NULL;
    svc->queue_tail = NULL;
    uv_mutex_unlock(&svc->queue_lock);
    return head;
}

/* A batch that could not commit: refuse its requests and redeliver its events. */
static void fail_batch(struct service *svc, struct work *head, const char *reason)
{
    for (struct work *w = head; w != NULL; w = w->next) {
        if (w->kind == WORK_REQUEST && w->reply_err == LB_OK) {
            free(w->reply);
            w->reply = strdup(reason);
            w->reply_err = LB_EUNAVAILABLE;
        } else if (w->kind == WORK_EVENT) {
            w->disposition = DISPOSE_NAK;
            w->nak_delay_ms = svc->cfg.ack_wait_ms / 10;
            w->outcome = OUTCOME_RETRY;
        }
    }
}

static void count_outcome(struct service *svc, const struct work *w)
{
    switch (w->outcome) {
    case OUTCOME_APPLIED:
        (*svc->metric_applied)++;
        break;
    case OUTCOME_DUPLICATE:
        (*svc->metric_duplicates)++;
        break;
    case OUTCOME_IGNORED:
        (*svc->metric_ignored)++;
        break;
    case OUTCOME_DEAD_LETTER:
        (*svc->metric_dead_letters)++;
        break;
    default:
        break;
    }
}

static void finish(struct service *svc, struct work *w)
{
    const char *reply_to = natsMsg_GetReply(w->msg);

    switch (w->kind) {
    case WORK_REQUEST:
        if (reply_to == NULL || reply_to[0] == '\0')
            break;
        if (w->reply_err == LB_OK)
            bus_reply(svc->bus, reply_to, w->reply, strlen(w->reply));
        else
            bus_reply_error(svc->bus, reply_to, w->reply_err,
                            w->reply ? w->reply : lb_err_code(w->reply_err), NULL);
        break;
    case WORK_EVENT:
        count_outcome(svc, w);
        if (w->disposition == DISPOSE_ACK)
            pull_ack(bus_bulk_conn(svc->bus), w->msg);
        else if (w->disposition == DISPOSE_NAK)
            pull_nak(bus_bulk_conn(svc->bus), w->msg, w->nak_delay_ms);
        break;
    case WORK_DISCOVERY:
        if (reply_to != NULL && reply_to[0] != '\0' && w->reply != NULL)
            bus_reply(svc->bus, reply_to, w->reply, strlen(w->reply));
        break;
    }
}

void dispatch_drain(struct service *svc)
{
    struct work *head = take_queue(svc);
    struct lb_why why = {{0}};
    struct work *next;
    int changes;
    enum lb_err err;

    if (head == NULL) {
        dispatch_flush_outbox(svc);
        return;
    }
    (*svc->metric_batches)++;
    err = store_begin(svc->store, &why);
    if (err != LB_OK) {
        log_error("cannot start a transaction: %s", why.text);
        fail_batch(svc, head, "the service cannot write its database now; retry later");
        goto send;
    }
    /* Acked outbox rows are deleted with this batch: no commit of their own. */
    dispatch_forget_outbox(svc);
    changes = sqlite3_total_changes(store_db(svc->store));
    for (struct work *w = head; w != NULL; w = w->next) {
        if (w->kind == WORK_REQUEST)
            handle_request(svc, w);
        else if (w->kind == WORK_EVENT)
            handle_event(svc, w);
        else
            w->reply = discovery_reply(svc, w->discovery_verb);
        /* While the batch has written nothing, a reply rests on committed state only: it
         * need not wait for the commit (a query behind no write is answered at once). */
        if (w->kind != WORK_EVENT && sqlite3_total_changes(store_db(svc->store)) == changes) {
            finish(svc, w);
            w->replied = true;
        }
    }
    /* What idempotent handlers coalesced (e.g. one last-seen per device) is written now. */
    flush_coalesced(svc);
    if (svc->flush_failed) {
        svc->flush_failed = false;
        err = lb_fail(&why, LB_EIO, "a coalesced write failed");
    }
    if (err == LB_OK)
        err = store_commit(svc->store, &why);
    if (err != LB_OK) {
        log_error("cannot commit a batch: %s", why.text);
        store_rollback(svc->store);
        fail_batch(svc, head, "the service cannot write its database now; retry later");
        if (runtime_load_clock(svc, &why) != LB_OK)
            log_error("cannot reload the virtual clock: %s", why.text);
        goto send;
    }
send:
    for (struct work *w = head; w != NULL; w = next) {
        next = w->next;
        if (!w->replied)
            finish(svc, w);
        natsMsg_Destroy(w->msg);
        free(w->reply);
        free(w);
    }
    /* After the replies: the events are durable in the outbox already, and a requester
     * should not wait for their publishing (a failed batch wrote none). */
    if (err == LB_OK)
        dispatch_flush_outbox(svc);
}
