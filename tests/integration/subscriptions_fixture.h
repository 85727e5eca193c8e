/*
 * subscriptions_fixture.h - what the subscriptions integration tests share: a
 * real nats-server and lb-subscriptions on the virtual clock, the org tree,
 * requests, emitted events, and validation of every message seen against
 * schemas/ at teardown. Each test defines SUBS_EVENT_ID_PREFIX (8 characters)
 * before including it, so the two files publish distinct event ids.
 */
#ifndef SUBSCRIPTIONS_FIXTURE_H
#define SUBSCRIPTIONS_FIXTURE_H

#include <ctype.h>

#include "clock.h"

#define TENANT "dist-1"
#define T0     "2026-11-22T10:00:00.000Z"
#define MSP    "\"caller\":{\"org\":\"msp-3\",\"user\":\"ana@msp3.example\"}"
#define ADMIN  "\"caller\":{\"org\":\"cust-7\",\"user\":\"bo@acme.example\"}"
#define SUBS   "lb.evt.subscriptions." TENANT "."

static const char *const env[] = {"LB_CLOCK=virtual", NULL};

struct fixture {
    struct nats_server ns;
    struct service_proc svc;
    natsConnection *nc;
    jsCtx *js;
    char data[256];
    char seen_path[300]; /* JSON lines {schema, doc} validated at teardown */
    FILE *seen;
    int seq;
    int ticks;
    double applied;
    const char *const *env; /* the service's settings, for restarts */
};

__attribute__((unused)) static int64_t t0_ms(void)
{
    int64_t t;

    assert_int_equal(envelope_parse_time(T0, &t), LB_OK);
    return t;
}

__attribute__((unused)) static void record(struct fixture *f, const char *schema, const char *doc)
{
    fprintf(f->seen, "{\"schema\":\"%s\",\"doc\":%s}\n", schema, doc);
}

/*
 * Publishes `event` on `subject` and waits until the service's durable
 * consumer of that domain has acked it (it acks after the commit). The
 * service also reads back its own events, so lb_events_applied_total alone
 * cannot tell when a given event is applied.
 */
__attribute__((unused)) static void publish_and_wait(struct fixture *f, const char *domain,
                                                     const char *subject, const char *id,
                                                     const char *event)
{
    char stream[64];
    char durable[64];
    jsPubOptions po;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    uint64_t seq;
    int64_t deadline = clock_wall_ms() + HARNESS_WAIT_MS;

    jsPubOptions_Init(&po);
    po.MsgId = id;
    if (js_Publish(&ack, f->js, subject, event, (int)strlen(event), &po, &jerr) != NATS_OK)
        fail_msg("publish to %s failed (%d)", subject, (int)jerr);
    seq = ack->Sequence;
    jsPubAck_Destroy(ack);
    snprintf(stream, sizeof(stream), "LB_%s", domain);
    for (char *c = stream; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    snprintf(durable, sizeof(durable), "subscriptions-%s", domain);
    for (;;) {
        jsConsumerInfo *ci = NULL;
        bool done = js_GetConsumerInfo(&ci, f->js, stream, durable, NULL, &jerr) == NATS_OK &&
                    ci->AckFloor.Stream >= seq;

        jsConsumerInfo_Destroy(ci);
        if (done)
            break;
        if (clock_wall_ms() > deadline)
            fail_msg("%s/%s never acked %s (stream seq %llu)", stream, durable, id,
                     (unsigned long long)seq);
        nats_Sleep(2);
    }
    f->applied++;
}

/* Publishes a platform event and waits until it is applied. */
__attribute__((unused)) static void apply(struct fixture *f, const char *domain, const char *name,
                                          const char *data)
{
    char id[32];
    char subject[128];
    char type[128];
    char *event;

    snprintf(id, sizeof(id), SUBS_EVENT_ID_PREFIX "%018d", ++f->seq);
    snprintf(subject, sizeof(subject), "lb.evt.%s." TENANT ".%s", domain, name);
    snprintf(type, sizeof(type), "licensebus.%s.%s.v1", domain, name);
    event = harness_event(id, type, TENANT, T0, data);
    publish_and_wait(f, domain, subject, id, event);
    free(event);
}

/* Moves the virtual clock to T0 + `offset_min` minutes and waits until it is applied. */
__attribute__((unused)) static void tick(struct fixture *f, int offset_min)
{
    int64_t to = t0_ms() + (int64_t)offset_min * 60000;
    char now[32];
    char data[64];
    char id[32];
    char *event;

    envelope_format_time(to, now);
    snprintf(data, sizeof(data), "{\"now\":\"%s\"}", now);
    snprintf(id, sizeof(id), "01JSUBSTICK%015d", ++f->ticks);
    event = harness_event(id, "licensebus.clock.tick.v1", "_sys", now, data);
    publish_and_wait(f, "clock", "lb.evt.clock._sys.tick", id, event);
    free(event);
}

__attribute__((unused)) static void org(struct fixture *f, const char *id, const char *parent,
                                        const char *kind)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"%s\",\"kind\":\"%s\"}", id,
             parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
    apply(f, "directory", "org_created", data);
}

/* dist-1 -> msp-3 -> cust-7 -> site-7 ; dist-1 -> msp-4 -> cust-8 */
__attribute__((unused)) static void tree(struct fixture *f)
{
    org(f, "dist-1", NULL, "distributor");
    org(f, "msp-3", "dist-1", "msp");
    org(f, "msp-4", "dist-1", "msp");
    org(f, "cust-7", "msp-3", "customer");
    org(f, "cust-8", "msp-4", "customer");
    org(f, "site-7", "cust-7", "suborg");
}

/* Starts nats-server and the service with `service_env`, moves the clock to T0, makes the tree. */
__attribute__((unused)) static int setup_with(void **state, const char *const *service_env)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int fd;

    harness_nats_start(&f->ns, NULL);
    harness_tmpdir(f->data, "data");
    harness_service_start(&f->svc, "subscriptions", &f->ns, f->data, service_env);
    f->env = service_env;
    f->nc = harness_connect(&f->ns);
    f->js = harness_js(f->nc);
    snprintf(f->seen_path, sizeof(f->seen_path), "/tmp/lb-subs-seen-XXXXXX");
    fd = mkstemp(f->seen_path);
    assert_true(fd >= 0);
    f->seen = fdopen(fd, "w");
    *state = f;
    tick(f, 0);
    tree(f);
    return 0;
}

__attribute__((unused)) static int setup(void **state)
{
    return setup_with(state, env);
}

/* Every event in LB_SUBSCRIPTIONS goes to the validation file too. */
__attribute__((unused)) static void record_stream(struct fixture *f)
{
    natsMsg **msgs;
    size_t n = harness_stream_messages(f->js, "LB_SUBSCRIPTIONS", "lb.evt.subscriptions.>", &msgs);

    for (size_t i = 0; i < n; i++) {
        const char *subject = natsMsg_GetSubject(msgs[i]);
        const char *name = strrchr(subject, '.') + 1;
        char schema[128];
        char *doc = strndup(natsMsg_GetData(msgs[i]), (size_t)natsMsg_GetDataLength(msgs[i]));

        snprintf(schema, sizeof(schema), "events/subscriptions.%s.v1.json", name);
        record(f, schema, doc);
        free(doc);
    }
    harness_free_messages(msgs, n);
}

/* Validates everything recorded with the contract's own Ajv set-up. */
__attribute__((unused)) static void validate_seen(struct fixture *f)
{
    const char *src = getenv("LB_SOURCE_DIR");
    char cmd[2048];
    int rc;

    fclose(f->seen);
    f->seen = NULL;
    if (src == NULL || system("command -v node >/dev/null 2>&1") != 0) {
        print_message("      (node or LB_SOURCE_DIR missing: messages not validated)\n");
        unlink(f->seen_path);
        return;
    }
    snprintf(cmd, sizeof(cmd),
             "cd '%s/tests/contract' && node --input-type=module -e \""
             "import { loadAjv, validator } from './lib.mjs';"
             "import { readFileSync } from 'node:fs';"
             "const { ajv } = loadAjv(); let n = 0;"
             "for (const line of readFileSync('%s', 'utf8').split('\\n').filter(Boolean)) {"
             "  const { schema, doc } = JSON.parse(line);"
             "  validator(ajv, schema)(doc, schema + ' #' + n); n++; }"
             "console.log('      ' + n + ' messages valid against schemas/');\"",
             src, f->seen_path);
    rc = system(cmd);
    unlink(f->seen_path);
    assert_int_equal(rc, 0);
}

__attribute__((unused)) static int teardown(void **state)
{
    struct fixture *f = *state;
    bool validate = f->seen != NULL;

    if (validate)
        record_stream(f);
    jsCtx_Destroy(f->js);
    natsConnection_Destroy(f->nc);
    if (f->svc.pid > 0)
        harness_service_stop(&f->svc, SIGKILL, 5000);
    harness_nats_stop(&f->ns);
    harness_rmdir(f->data);
    /* Last: a failed validation ends the teardown, with every process stopped already. */
    if (validate)
        validate_seen(f);
    else
        unlink(f->seen_path);
    free(f);
    return 0;
}

/* Sends a request (printf-style body); returns the parsed reply, recorded for validation. */
__attribute__((unused)) static cJSON *req(struct fixture *f, const char *endpoint, const char *fmt,
                                          ...) __attribute__((format(printf, 3, 4)));
__attribute__((unused)) static cJSON *req(struct fixture *f, const char *endpoint, const char *fmt,
                                          ...)
{
    char body[4096];
    char subject[128];
    char schema[128];
    va_list ap;
    natsMsg *reply;
    cJSON *json;
    char *text;

    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    snprintf(subject, sizeof(subject), "lb.api.subscriptions.%s", endpoint);
    reply = harness_request(f->nc, subject, body, strlen(body));
    json = harness_reply_json(reply);
    text = strndup(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));
    if (cJSON_GetObjectItem(json, "error") != NULL)
        snprintf(schema, sizeof(schema), "error.json");
    else
        snprintf(schema, sizeof(schema), "api/subscriptions.%s.reply.json", endpoint);
    record(f, schema, text);
    free(text);
    natsMsg_Destroy(reply);
    return json;
}

static const char *str(const cJSON *o, const char *name)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, name));

    return s ? s : "(none)";
}

__attribute__((unused)) static double num(const cJSON *o, const char *name)
{
    const cJSON *n = cJSON_GetObjectItem(o, name);

    return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

/* Asserts an error reply with `code` whose message contains `part`. */
__attribute__((unused)) static void assert_error(cJSON *reply, const char *code, const char *part)
{
    const cJSON *error = cJSON_GetObjectItem(reply, "error");

    if (error == NULL)
        fail_msg("expected error %s, got a reply", code);
    if (strcmp(str(error, "code"), code) != 0 || strstr(str(error, "message"), part) == NULL)
        fail_msg("expected %s \"...%s...\", got %s \"%s\"", code, part, str(error, "code"),
                 str(error, "message"));
    cJSON_Delete(reply);
}

__attribute__((unused)) static void assert_ok(cJSON *reply)
{
    const cJSON *error = cJSON_GetObjectItem(reply, "error");

    if (error != NULL)
        fail_msg("unexpected error %s: %s", str(error, "code"), str(error, "message"));
}

/* The data of every event `name` in the stream, in order (a cJSON array; caller frees). */
__attribute__((unused)) static cJSON *events(struct fixture *f, const char *name)
{
    char filter[128];
    natsMsg **msgs;
    size_t n;
    cJSON *list = cJSON_CreateArray();

    snprintf(filter, sizeof(filter), SUBS "%s", name);
    n = harness_stream_messages(f->js, "LB_SUBSCRIPTIONS", filter, &msgs);
    for (size_t i = 0; i < n; i++) {
        cJSON *ev =
            cJSON_ParseWithLength(natsMsg_GetData(msgs[i]), (size_t)natsMsg_GetDataLength(msgs[i]));

        cJSON_AddItemToArray(list, cJSON_DetachItemFromObject(ev, "data"));
        cJSON_Delete(ev);
    }
    harness_free_messages(msgs, n);
    return list;
}

#endif
