/*
 * bus.c - NATS connections, JetStream administration, replies.
 *
 * Two connections (D26): the prompt one writes each message to the socket
 * as it is published (SendAsap: replies, requests and the outbox's events
 * leave at once, events before the reply they caused); the bulk one lets
 * libnats' flusher write what accumulated (about 1 ms later), so the acks
 * of a batch leave in a few writes, not one system call (and one server
 * read) each.
 */
#include "bus.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* How long a JetStream API call or publish ack may take. */
#define BUS_JS_WAIT_MS 5000
/* Pause between reconnect attempts. */
#define BUS_RECONNECT_WAIT_MS 500
#define NS_PER_MS             1000000LL

struct bus {
    natsConnection *nc;   /* prompt: subscriptions, replies, pull requests, the outbox */
    natsConnection *bulk; /* batched: acks and naks of consumed messages */
    jsCtx *js;            /* on `nc` */
    atomic_uint_fast64_t publish_acks;     /* async publishes the stream stored */
    atomic_uint_fast64_t publish_refusals; /* async publishes it refused or timed out */
    void (*on_ack)(void *ctx);             /* wakes the owner; runs on a libnats thread */
    void *on_ack_ctx;
};

enum lb_err bus_err(natsStatus s)
{
    switch (s) {
    case NATS_OK:
        return LB_OK;
    case NATS_NO_MEMORY:
        return LB_ENOMEM;
    case NATS_NOT_FOUND:
        return LB_ENOTFOUND;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_MAX_PAYLOAD:
        return LB_EINVAL;
    default:
        return LB_EUNAVAILABLE;
    }
}

static enum lb_err nats_fail(struct lb_why *why, natsStatus s, const char *what)
{
    return lb_fail(why, bus_err(s), "%s: %s", what, natsStatus_GetText(s));
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)closure;
    if (natsConnection_IsClosed(nc) || natsConnection_IsDraining(nc))
        return; /* our own close at shutdown, not an outage */
    log_warn("disconnected from NATS; reconnecting");
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    char url[256] = "";

    (void)closure;
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    log_info("reconnected to NATS at %s", url);
}

/* Called on a libnats thread for every async publish: counts the outcome, wakes the owner. */
static void on_publish_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    struct bus *b = closure;

    (void)js;
    if (pae != NULL) {
        atomic_fetch_add(&b->publish_refusals, 1);
        log_warn("JetStream refused a publish to %s: %s", natsMsg_GetSubject(pae->Msg),
                 pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
    } else {
        atomic_fetch_add(&b->publish_acks, 1);
    }
    (void)pa; /* owned by libnats, valid only during this call */
    natsMsg_Destroy(msg);
    if (b->on_ack != NULL)
        b->on_ack(b->on_ack_ctx);
}

/* Most servers in LB_NATS_URL. */
#define BUS_SERVERS_MAX 16

natsStatus bus_set_servers(natsOptions *o, const char *url)
{
    const char *servers[BUS_SERVERS_MAX];
    char *copy;
    char *save = NULL;
    int n = 0;
    natsStatus s;

    if (strchr(url, ',') == NULL)
        return natsOptions_SetURL(o, url);
    copy = strdup(url);
    if (copy == NULL)
        return NATS_NO_MEMORY;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL && n < BUS_SERVERS_MAX;
         tok = strtok_r(NULL, ",", &save))
        servers[n++] = tok;
    s = n > 0 ? natsOptions_SetServers(o, servers, n) : NATS_INVALID_ARG;
    free(copy); /* SetServers copied the strings */
    return s;
}

static natsStatus bus_set_options(natsOptions *o, const struct bus_options *opts, bool prompt)
{
    char name[256];
    natsStatus s = bus_set_servers(o, opts->url);

    snprintf(name, sizeof(name), "%s%s", opts->name ? opts->name : "", prompt ? "" : " (bulk)");
    if (s == NATS_OK)
        s = natsOptions_SetName(o, name);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(o, -1); /* the default gives up after ~2 minutes */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(o, BUS_RECONNECT_WAIT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(o, true, NULL, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(o, prompt);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(o, on_reconnected, NULL);
    if (s == NATS_OK && opts->user != NULL && opts->user[0] != '\0')
        s = natsOptions_SetUserInfo(o, opts->user, opts->password);
    if (s == NATS_OK && opts->creds_file != NULL && opts->creds_file[0] != '\0')
        s = natsOptions_SetUserCredentialsFromFiles(o, opts->creds_file, NULL);
    if (s == NATS_OK && opts->ca_file != NULL && opts->ca_file[0] != '\0') {
        s = natsOptions_SetSecure(o, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(o, opts->ca_file);
    }
    return s;
}

static natsStatus connect_one(const struct bus_options *opts, bool prompt, natsConnection **ret_nc)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);

    if (s == NATS_OK)
        s = bus_set_options(o, opts, prompt);
    if (s == NATS_OK)
        s = natsConnection_Connect(ret_nc, o);
    /* With retry-on-failed-connect, NOT_YET_CONNECTED means "retrying in the background". */
    if (s == NATS_NOT_YET_CONNECTED)
        s = NATS_OK;
    natsOptions_Destroy(o);
    return s;
}

enum lb_err bus_connect(const struct bus_options *opts, struct bus **ret_bus, struct lb_why *why)
{
    jsOptions jo;
    struct bus *b;
    natsStatus s;

    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    s = connect_one(opts, true, &b->nc);
    if (s == NATS_OK)
        s = connect_one(opts, false, &b->bulk);
    if (s != NATS_OK) {
        enum lb_err err = nats_fail(why, s, opts->url);

        bus_free(b);
        return err;
    }
    jsOptions_Init(&jo);
    jo.Wait = BUS_JS_WAIT_MS;
    jo.PublishAsync.MaxPending = opts->async_window;
    jo.PublishAsync.AckHandler = on_publish_ack;
    jo.PublishAsync.AckHandlerClosure = b;
    b->on_ack = opts->on_ack;
    b->on_ack_ctx = opts->on_ack_ctx;
    s = natsConnection_JetStream(&b->js, b->nc, &jo);
    if (s != NATS_OK) {
        enum lb_err err = nats_fail(why, s, "JetStream context");

        bus_free(b);
        return err;
    }
    *ret_bus = b;
    return LB_OK;
}

void bus_free(struct bus *b)
{
    if (b == NULL)
        return;
    jsCtx_Destroy(b->js);
    natsConnection_Close(b->bulk);
    natsConnection_Destroy(b->bulk);
    natsConnection_Close(b->nc);
    natsConnection_Destroy(b->nc);
    free(b);
}

natsConnection *bus_conn(struct bus *b)
{
    return b->nc;
}

natsConnection *bus_bulk_conn(struct bus *b)
{
    return b->bulk;
}

void bus_flush(struct bus *b, int64_t timeout_ms)
{
    natsConnection_FlushTimeout(b->bulk, timeout_ms);
    natsConnection_FlushTimeout(b->nc, timeout_ms);
}

jsCtx *bus_js(struct bus *b)
{
    return b->js;
}

bool bus_is_connected(struct bus *b)
{
    return natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED &&
           natsConnection_Status(b->bulk) == NATS_CONN_STATUS_CONNECTED;
}

void bus_take_publish_outcomes(struct bus *b, uint64_t *ret_acked, uint64_t *ret_refused)
{
    *ret_acked = atomic_exchange(&b->publish_acks, 0);
    *ret_refused = atomic_exchange(&b->publish_refusals, 0);
}

enum lb_err bus_ensure_stream(struct bus *b, const struct bus_stream *def, struct lb_why *why)
{
    jsStreamInfo *si = NULL;
    jsStreamConfig cfg;
    jsErrCode jerr = 0;
    const char *subjects[1] = {def->subject};
    natsStatus s;
    enum lb_err err = LB_OK;

    s = js_GetStreamInfo(&si, b->js, def->name, NULL, &jerr);
    if (s == NATS_OK) {
        if (si->Config->SubjectsLen != 1 || strcmp(si->Config->Subjects[0], def->subject) != 0)
            err = lb_fail(why, LB_ECONFLICT, "stream %s exists with other subjects than %s",
                          def->name, def->subject);
        jsStreamInfo_Destroy(si);
        return err;
    }
    if (s != NATS_NOT_FOUND)
        return lb_fail(why, LB_EUNAVAILABLE, "stream %s: %s (JetStream error %d)", def->name,
                       natsStatus_GetText(s), (int)jerr);
    jsStreamConfig_Init(&cfg);
    cfg.Name = def->name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Retention = js_LimitsPolicy;
    cfg.Replicas = def->replicas;
    cfg.Duplicates = def->duplicate_window_ms * NS_PER_MS;
    s = js_AddStream(&si, b->js, &cfg, NULL, &jerr);
    jsStreamInfo_Destroy(si);
    /* Another service may have created it between our lookup and our add. */
    if (s != NATS_OK && jerr != JSStreamNameExistErr)
        return lb_fail(why, LB_EUNAVAILABLE, "creating stream %s: %s (JetStream error %d)",
                       def->name, natsStatus_GetText(s), (int)jerr);
    return LB_OK;
}

static void consumer_config(const struct bus_consumer *c, jsConsumerConfig *cfg,
                            int64_t backoff_ns[BUS_BACKOFF_MAX])
{
    int n = 0;

    jsConsumerConfig_Init(cfg);
    cfg->Durable = c->durable;
    cfg->Name = c->durable;
    cfg->FilterSubject = c->filter_subject;
    cfg->AckPolicy = js_AckExplicit;
    cfg->DeliverPolicy = js_DeliverAll;
    cfg->AckWait = c->ack_wait_ms * NS_PER_MS;
    cfg->MaxDeliver = c->max_deliver;
    cfg->MaxAckPending = c->max_ack_pending;
    while (n < BUS_BACKOFF_MAX && c->backoff_ms[n] > 0) {
        backoff_ns[n] = c->backoff_ms[n] * NS_PER_MS;
        n++;
    }
    if (n > 0) {
        cfg->BackOff = backoff_ns;
        cfg->BackOffLen = n;
    }
}

enum lb_err bus_ensure_consumer(struct bus *b, const struct bus_consumer *c, struct lb_why *why)
{
    jsConsumerInfo *ci = NULL;
    jsConsumerConfig cfg;
    int64_t backoff_ns[BUS_BACKOFF_MAX];
    jsErrCode jerr = 0;
    natsStatus s;

    consumer_config(c, &cfg, backoff_ns);
    s = js_GetConsumerInfo(&ci, b->js, c->stream, c->durable, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    ci = NULL;
    if (s == NATS_OK)
        s = js_UpdateConsumer(&ci, b->js, c->stream, &cfg, NULL, &jerr);
    else if (s == NATS_NOT_FOUND)
        s = js_AddConsumer(&ci, b->js, c->stream, &cfg, NULL, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK)
        return lb_fail(why, LB_EUNAVAILABLE, "consumer %s on %s: %s (JetStream error %d)",
                       c->durable, c->stream, natsStatus_GetText(s), (int)jerr);
    return LB_OK;
}

enum lb_err bus_consumer_backlog(struct bus *b, const struct bus_consumer *c, bool *ret_exists,
                                 uint64_t *ret_backlog, struct lb_why *why)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_GetConsumerInfo(&ci, b->js, c->stream, c->durable, NULL, &jerr);

    if (s == NATS_OK || s == NATS_NOT_FOUND) {
        *ret_exists = s == NATS_OK;
        if (ret_backlog != NULL)
            *ret_backlog = s == NATS_OK ? ci->NumPending + (uint64_t)ci->NumAckPending : 0;
        jsConsumerInfo_Destroy(ci);
        return LB_OK;
    }
    jsConsumerInfo_Destroy(ci);
    return lb_fail(why, LB_EUNAVAILABLE, "consumer %s on %s: %s (JetStream error %d)", c->durable,
                   c->stream, natsStatus_GetText(s), (int)jerr);
}

enum lb_err bus_delete_consumer(struct bus *b, const struct bus_consumer *c, struct lb_why *why)
{
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteConsumer(b->js, c->stream, c->durable, NULL, &jerr);

    if (s == NATS_OK || s == NATS_NOT_FOUND)
        return LB_OK;
    return lb_fail(why, LB_EUNAVAILABLE, "deleting consumer %s on %s: %s (JetStream error %d)",
                   c->durable, c->stream, natsStatus_GetText(s), (int)jerr);
}

enum lb_err bus_publish_sync(struct bus *b, const char *subject, const char *msg_id,
                             const void *data, size_t len, struct lb_why *why)
{
    jsPubOptions po;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    s = js_Publish(&ack, b->js, subject, data, (int)len, &po, &jerr);
    jsPubAck_Destroy(ack);
    if (s != NATS_OK)
        return lb_fail(why, bus_err(s), "publishing to %s: %s (JetStream error %d)", subject,
                       natsStatus_GetText(s), (int)jerr);
    return LB_OK;
}

enum lb_err bus_reply(struct bus *b, const char *reply_subject, const char *body, size_t len)
{
    return bus_err(natsConnection_Publish(b->nc, reply_subject, body, (int)len));
}

char *bus_error_body(enum lb_err err, const char *message, const cJSON *details)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *error = cJSON_AddObjectToObject(root, "error");
    char *text = NULL;

    if (error != NULL && cJSON_AddStringToObject(error, "code", lb_err_code(err)) != NULL &&
        cJSON_AddStringToObject(error, "message", message) != NULL) {
        cJSON *copy = details ? cJSON_Duplicate(details, true) : NULL;

        if (details == NULL || (copy != NULL && cJSON_AddItemToObject(error, "details", copy)))
            text = cJSON_PrintUnformatted(root);
        else
            cJSON_Delete(copy);
    }
    cJSON_Delete(root);
    return text;
}

enum lb_err bus_reply_error(struct bus *b, const char *reply_subject, enum lb_err err,
                            const char *message, const cJSON *details)
{
    char status[16];
    natsMsg *msg = NULL;
    char *body;
    natsStatus s;

    body = bus_error_body(err, message, details);
    if (body == NULL)
        return LB_ENOMEM;
    snprintf(status, sizeof(status), "%d", lb_err_status(err));
    s = natsMsg_Create(&msg, reply_subject, NULL, body, (int)strlen(body));
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nats-Service-Error", message);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, "Nats-Service-Error-Code", status);
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(b->nc, msg);
    natsMsg_Destroy(msg);
    free(body);
    return bus_err(s);
}
