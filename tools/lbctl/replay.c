/*
 * replay.c - `lbctl replay [--wait MS] [--stats] LOG|-`: an event log into a running
 * system, in order, deterministically (docs/replay.md).
 *
 * The whole log is read and checked first (every event against its schema,
 * every request body against its endpoint's), so a bad line publishes
 * nothing. Then each step runs once the system has applied the previous
 * ones: before a request, a tick, an explicit wait, and whenever the next
 * event is of another domain (streams are ordered; domains are not).
 * Each reply is printed canonically, so two replays compare byte for byte.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "ids.h"
#include "json_strict.h"
#include "lbctl.h"
#include "subjects.h"

/* Default of --wait: how long the system may take to apply one step. */
#define REPLAY_WAIT_MS 30000
/* Longest log line. */
#define LINE_MAX_BYTES ((size_t)1024 * 1024)
/* Threads checking a log, and the length from which a log is split between them. */
#define CHECK_THREADS     2
#define CHECK_SPLIT_LINES 10000
/* Events of one domain in a row are published asynchronously, this many unacked at most. */
#define PUBLISH_WINDOW 4096

enum step_kind { STEP_EVENT, STEP_TICK, STEP_REQUEST, STEP_WAIT };

/* One line to run; a log of a million events holds a million of these, so they stay small. */
struct step {
    enum step_kind kind;
    int line;
    char *subject;      /* events, ticks, requests; owned */
    const char *domain; /* events and ticks: the subject's <domain> token (into subject) */
    size_t domain_len;
    char *id;           /* events and ticks: the Nats-Msg-Id; owned */
    char *reply_schema; /* requests; owned */
    char *payload;      /* event text, or request body; owned */
    cJSON *expect;      /* requests: {"reply": ...} or {"error": code}; owned */
};

struct replay {
    struct lbctl *ctl;
    struct step *steps;
    size_t count;
    size_t cap;
    int wait_ms;
    int failures;
    bool stats;              /* --stats: a summary line on stderr */
    jsCtx *async_js;         /* publishes runs of events with PUBLISH_WINDOW in flight */
    atomic_int async_errors; /* publishes of the current run the stream refused or lost */
    uint64_t log_digest;     /* request ids are replay-<digest>-L<line>: stable per log */
    size_t events;           /* event and tick lines, for --stats */
    size_t requests;         /* request lines, for --stats */
    size_t waits;            /* quiescence waits, for --stats */
    int64_t waited_ms;       /* time spent in them */
    int64_t publish_ms;      /* time spent publishing */
};

static void free_steps(struct replay *r)
{
    for (size_t i = 0; i < r->count; i++) {
        free(r->steps[i].subject);
        free(r->steps[i].id);
        free(r->steps[i].reply_schema);
        free(r->steps[i].payload);
        cJSON_Delete(r->steps[i].expect);
    }
    free(r->steps);
}

/* Keeps `subject` (and its domain token) and `id` in the step. */
static enum lb_err keep_names(struct step *st, const char *subject, const char *id,
                              struct lb_why *why)
{
    st->subject = strdup(subject);
    st->id = id ? strdup(id) : NULL;
    if (st->subject == NULL || (id != NULL && st->id == NULL))
        return lb_fail(why, LB_ENOMEM, "out of memory");
    if (strncmp(st->subject, "lb.evt.", 7) == 0) {
        st->domain = st->subject + 7;
        st->domain_len = strcspn(st->domain, ".");
    }
    return LB_OK;
}

static bool same_domain(const struct step *a, const struct step *b)
{
    return a->domain != NULL && b->domain != NULL && a->domain_len == b->domain_len &&
           memcmp(a->domain, b->domain, a->domain_len) == 0;
}

/* ---- reading the log ------------------------------------------------------------------------ */

static enum lb_err read_event(struct replay *r, struct step *st, const cJSON *event,
                              struct lb_why *why)
{
    struct envelope ev = {0};
    char subject[SUBJECT_MAX];
    enum lb_err err;

    if (!cJSON_IsObject(event))
        return lb_fail(why, LB_EINVAL, "event: must be a CloudEvent object");
    st->payload = json_print((cJSON *)event);
    if (st->payload == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    err = lbctl_check_event(r->ctl, st->payload, strlen(st->payload), NULL, &ev, why);
    if (err != LB_OK)
        return err;
    err = lbctl_event_subject(&ev, subject, sizeof(subject), why);
    if (err == LB_OK)
        err = keep_names(st, subject, ev.id, why);
    envelope_release(&ev);
    return err;
}

/* A tick is a clock event whose id derives from its time, so replays publish the same one. */
static enum lb_err read_tick(struct replay *r, struct step *st, const cJSON *tick,
                             struct lb_why *why)
{
    struct envelope_spec spec = {.source = "/lbctl/replay",
                                 .type = "licensebus.clock.tick.v1",
                                 .tenant = SUBJECT_SYSTEM_TENANT};
    char id[ID_LEN + 1];
    cJSON *data;
    int64_t ms;
    enum lb_err err;

    if (!cJSON_IsString(tick) || envelope_parse_time(tick->valuestring, &ms) != LB_OK)
        return lb_fail(why, LB_EINVAL, "tick: must be an RFC 3339 time");
    id_derive(id, ms, "lbctl-replay-tick", tick->valuestring);
    spec.id = id;
    spec.time_ms = ms;
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "now", tick->valuestring);
    err = envelope_build(&spec, data, &st->payload);
    cJSON_Delete(data);
    if (err != LB_OK)
        return lb_fail(why, err, "tick: cannot build the clock event");
    {
        struct envelope ev = {0};

        err = lbctl_check_event(r->ctl, st->payload, strlen(st->payload), NULL, &ev, why);
        if (err == LB_OK)
            envelope_release(&ev);
    }
    if (err == LB_OK)
        err = keep_names(st, "lb.evt.clock._sys.tick", id, why);
    return err;
}

static enum lb_err read_request(struct replay *r, struct step *st, const cJSON *request,
                                const cJSON *expect, struct lb_why *why)
{
    static const char *const known[] = {"subject", "body", NULL};
    static const char *const expect_known[] = {"reply", "error", NULL};
    char service[SUBJECT_TOKEN_MAX + 1], endpoint[SUBJECT_TOKEN_MAX + 1], path[200];
    const char *subject = NULL;
    const cJSON *body;
    enum lb_err err;

    if (!cJSON_IsObject(request) || json_check_members(request, known, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "request: must be {subject, body}%s%s",
                       why->text[0] ? ": " : "", why->text);
    err = json_get_string(request, "subject", SUBJECT_MAX - 1, &subject, why);
    if (err != LB_OK ||
        sscanf(subject, "lb.api.%64[A-Za-z0-9_-].%64[A-Za-z0-9_-]", service, endpoint) != 2)
        return lb_fail(why, LB_EINVAL, "request: subject must be lb.api.<service>.<endpoint>");
    body = cJSON_GetObjectItemCaseSensitive(request, "body");
    if (!cJSON_IsObject(body))
        return lb_fail(why, LB_EINVAL, "request: body must be an object");
    err = keep_names(st, subject, NULL, why);
    if (err != LB_OK)
        return err;
    snprintf(path, sizeof(path), "api/%s.%s.request.json", service, endpoint);
    err = lbctl_check_schema(r->ctl, path, body, why);
    if (err != LB_OK)
        return lb_fail(why, err, "request body (%s): %s", path, why->text);
    snprintf(path, sizeof(path), "api/%s.%s.reply.json", service, endpoint);
    st->reply_schema = strdup(path);
    if (st->reply_schema == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    if (expect != NULL) {
        if (!cJSON_IsObject(expect) || json_check_members(expect, expect_known, why) != LB_OK ||
            cJSON_GetArraySize(expect) != 1)
            return lb_fail(why, LB_EINVAL, "expect: must be {\"reply\": ...} or {\"error\": code}");
        st->expect = cJSON_Duplicate(expect, true);
    }
    st->payload = json_print((cJSON *)body);
    return st->payload ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
}

static enum lb_err read_line(struct replay *r, struct step *st, const char *text, size_t len,
                             struct lb_why *why)
{
    static const char *const known[] = {"event", "tick",    "request",  "expect",
                                        "wait",  "comment", "scenario", NULL};
    cJSON *line = NULL;
    const cJSON *item;
    enum lb_err err = json_parse_strict(text, len, &line, why);

    if (err == LB_OK && (!cJSON_IsObject(line) || json_check_members(line, known, why) != LB_OK))
        err = lb_fail(why, LB_EINVAL,
                      "a line is one object: event, tick, request (+expect), "
                      "wait or comment%s%s",
                      why->text[0] ? ": " : "", why->text);
    if (err != LB_OK) {
        cJSON_Delete(line);
        return err;
    }
    if ((item = cJSON_GetObjectItemCaseSensitive(line, "event")) != NULL) {
        st->kind = STEP_EVENT;
        err = read_event(r, st, item, why);
    } else if ((item = cJSON_GetObjectItemCaseSensitive(line, "tick")) != NULL) {
        st->kind = STEP_TICK;
        err = read_tick(r, st, item, why);
    } else if ((item = cJSON_GetObjectItemCaseSensitive(line, "request")) != NULL) {
        st->kind = STEP_REQUEST;
        err = read_request(r, st, item, cJSON_GetObjectItemCaseSensitive(line, "expect"), why);
    } else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(line, "wait"))) {
        st->kind = STEP_WAIT;
    } else if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(line, "comment")) ||
               cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(line, "scenario"))) {
        /* a comment, or the header the scenario runner reads (which services to start) */
        st->kind = STEP_WAIT;
        st->line = -1; /* nothing to do */
    } else {
        err = lb_fail(why, LB_EINVAL, "nothing to do on this line");
    }
    if (err == LB_OK && st->kind != STEP_REQUEST &&
        cJSON_GetObjectItemCaseSensitive(line, "expect") != NULL)
        err = lb_fail(why, LB_EINVAL, "expect: only a request has an expectation");
    cJSON_Delete(line);
    return err;
}

/* One non-blank line of the log. */
struct log_line {
    const char *text;
    size_t len;
    int number;
};

/* Appends the step read from `line` to r->steps (comments add nothing). */
static enum lb_err add_step(struct replay *r, const struct log_line *line, struct lb_why *why)
{
    struct step *st;
    enum lb_err err;

    if (r->count == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        struct step *grown = realloc(r->steps, cap * sizeof(*grown));

        if (grown == NULL)
            return lb_fail(why, LB_ENOMEM, "out of memory");
        r->steps = grown;
        r->cap = cap;
    }
    st = &r->steps[r->count];
    memset(st, 0, sizeof(*st));
    st->line = line->number;
    err = read_line(r, st, line->text, line->len, why);
    if (err != LB_OK) {
        r->count++; /* so that free_steps frees what it holds */
        return err;
    }
    if (st->line < 0) { /* a comment */
        free(st->payload);
        return LB_OK;
    }
    r->events += st->kind == STEP_EVENT || st->kind == STEP_TICK;
    r->requests += st->kind == STEP_REQUEST;
    r->count++;
    return LB_OK;
}

/*
 * One checker's share of the log. Schema sets load files and compile
 * patterns as they go, so each checker has its own.
 */
struct check_job {
    struct replay part;
    struct lbctl ctl;
    const struct log_line *lines;
    size_t first, last;
    int failed_line; /* 0, or the line refused */
    struct lb_why why;
};

static void check_lines(void *arg)
{
    struct check_job *job = arg;

    for (size_t i = job->first; i < job->last; i++) {
        if (add_step(&job->part, &job->lines[i], &job->why) != LB_OK) {
            job->failed_line = job->lines[i].number;
            return;
        }
    }
}

/* Splits the text into its non-blank lines; false (said on stderr) for one too long. */
static bool split_lines(char *text, struct log_line **ret_lines, size_t *ret_count)
{
    struct log_line *lines = NULL;
    size_t count = 0, cap = 0;
    int number = 0;

    for (char *line = text, *next; line != NULL; line = next) {
        char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);

        number++;
        next = end ? end + 1 : NULL;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (strspn(line, " \t") >= len)
            continue;
        if (len > LINE_MAX_BYTES) {
            fprintf(stderr, "lbctl: line %d: longer than %zu bytes\n", number, LINE_MAX_BYTES);
            free(lines);
            return false;
        }
        if (count == cap) {
            struct log_line *grown = realloc(lines, (cap = cap ? 2 * cap : 1024) * sizeof(*grown));

            if (grown == NULL) {
                free(lines);
                return false;
            }
            lines = grown;
        }
        lines[count++] = (struct log_line){line, len, number};
    }
    *ret_lines = lines;
    *ret_count = count;
    return true;
}

/*
 * Reads and checks every line, on CHECK_THREADS threads for a long log
 * (the services are idle meanwhile: nothing is sent before the whole log
 * is checked); the first bad line is reported and nothing is sent.
 */
static int read_log(struct replay *r, char *text)
{
    struct check_job jobs[CHECK_THREADS];
    uv_thread_t threads[CHECK_THREADS];
    bool started[CHECK_THREADS] = {false};
    struct log_line *lines = NULL;
    size_t count = 0;
    size_t n;
    int failed = 0;
    int status = LBCTL_OK;

    if (!split_lines(text, &lines, &count))
        return LBCTL_INVALID;
    n = count >= CHECK_SPLIT_LINES ? CHECK_THREADS : 1;
    for (size_t j = 0; j < n; j++) {
        memset(&jobs[j], 0, sizeof(jobs[j]));
        jobs[j].part.ctl = &jobs[j].ctl;
        jobs[j].ctl = *r->ctl;
        jobs[j].lines = lines;
        jobs[j].ctl.schemas = NULL;
        jobs[j].first = count * j / n;
        jobs[j].last = count * (j + 1) / n;
    }
    for (size_t j = 1; j < n; j++) {
        started[j] = uv_thread_create(&threads[j], check_lines, &jobs[j]) == 0;
        if (!started[j])
            check_lines(&jobs[j]); /* no thread: check it here */
    }
    check_lines(&jobs[0]);
    for (size_t j = 1; j < n; j++) {
        if (started[j])
            uv_thread_join(&threads[j]);
    }
    for (size_t j = 0; j < n; j++) {
        if (jobs[j].failed_line != 0 && failed == 0) {
            failed = jobs[j].failed_line;
            fprintf(stderr, "lbctl: line %d: %s\n", failed, jobs[j].why.text);
        }
    }
    for (size_t j = 0; j < n; j++) {
        struct step *grown = NULL;

        if (failed == 0 && jobs[j].part.count > 0 &&
            (grown = realloc(r->steps, (r->count + jobs[j].part.count) * sizeof(*grown))) == NULL)
            failed = -1;
        if (failed == 0 && jobs[j].part.count > 0) {
            memcpy(grown + r->count, jobs[j].part.steps, jobs[j].part.count * sizeof(*grown));
            r->steps = grown;
            r->count += jobs[j].part.count;
            r->cap = r->count;
            r->events += jobs[j].part.events;
            r->requests += jobs[j].part.requests;
            free(jobs[j].part.steps);
        } else {
            free_steps(&jobs[j].part);
        }
        schema_set_free(jobs[j].ctl.schemas);
    }
    if (failed != 0)
        status = LBCTL_INVALID;
    free(lines);
    return status;
}

/* ---- running it ----------------------------------------------------------------------------- */

/* Whether `actual` has everything `expected` has (objects: members; arrays: item by item). */
static bool contains(const cJSON *expected, const cJSON *actual)
{
    const cJSON *e;

    if (cJSON_IsObject(expected)) {
        if (!cJSON_IsObject(actual))
            return false;
        cJSON_ArrayForEach(e, expected)
        {
            if (!contains(e, cJSON_GetObjectItemCaseSensitive(actual, e->string)))
                return false;
        }
        return true;
    }
    if (cJSON_IsArray(expected)) {
        const cJSON *a = actual ? actual->child : NULL;

        if (!cJSON_IsArray(actual) || cJSON_GetArraySize(expected) != cJSON_GetArraySize(actual))
            return false;
        cJSON_ArrayForEach(e, expected)
        {
            if (a == NULL || !contains(e, a))
                return false;
            a = a->next;
        }
        return true;
    }
    return actual != NULL && cJSON_Compare(expected, actual, true);
}

static int wait_quiet(struct replay *r, const struct step *st)
{
    struct lb_why why = {{0}};
    int64_t start = nats_Now();
    enum lb_err err = lbctl_wait_quiet(r->ctl, r->wait_ms, &why);

    r->waits++;
    r->waited_ms += nats_Now() - start;
    if (err == LB_OK)
        return LBCTL_OK;
    fprintf(stderr, "lbctl: line %d: %s\n", st->line, why.text);
    return LBCTL_NATS;
}

static int publish(struct replay *r, const struct step *st)
{
    int64_t deadline = nats_Now() + r->wait_ms;
    jsPubOptions po;

    if (st->payload == NULL)
        return LBCTL_INVALID;
    jsPubOptions_Init(&po);
    po.MsgId = st->id;
    po.MaxWait = r->ctl->timeout_ms;
    for (;;) {
        jsPubAck *ack = NULL;
        jsErrCode jerr = 0;
        natsStatus s = js_Publish(&ack, r->ctl->js, st->subject, st->payload,
                                  (int)strlen(st->payload), &po, &jerr);

        jsPubAck_Destroy(ack);
        if (s == NATS_OK)
            return LBCTL_OK;
        if (nats_Now() > deadline) {
            fprintf(stderr, "lbctl: line %d: publish failed: %s (JetStream error %d)\n", st->line,
                    natsStatus_GetText(s), (int)jerr);
            return LBCTL_NATS;
        }
        nats_Sleep(100);
    }
}

/* Checks the reply against the contract and the log's expectation; prints it. */
static void judge(struct replay *r, const struct step *st, natsMsg *reply)
{
    struct lb_why why = {{0}};
    const char *code_header = NULL;
    bool is_error = natsMsgHeader_Get(reply, "Nats-Service-Error-Code", &code_header) == NATS_OK;
    cJSON *json = NULL;
    char *text;

    if (json_parse_strict(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply), &json,
                          &why) != LB_OK) {
        printf("L%d %.*s\n", st->line, natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
        fprintf(stderr, "lbctl: line %d: the reply is not strict JSON: %s\n", st->line, why.text);
        r->failures++;
        return;
    }
    text = json_print(json);
    printf("L%d %s\n", st->line, text ? text : "null");
    free(text);
    if (lbctl_check_schema(r->ctl, is_error ? "error.json" : st->reply_schema, json, &why) !=
        LB_OK) {
        fprintf(stderr, "lbctl: line %d: the reply breaks %s: %s\n", st->line,
                is_error ? "error.json" : st->reply_schema, why.text);
        r->failures++;
    }
    if (st->expect != NULL) {
        const cJSON *want_reply = cJSON_GetObjectItemCaseSensitive(st->expect, "reply");
        const cJSON *want_error = cJSON_GetObjectItemCaseSensitive(st->expect, "error");
        const char *code =
            cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "error"), "code"));
        bool ok = want_reply != NULL ? !is_error && contains(want_reply, json)
                                     : is_error && code != NULL && cJSON_IsString(want_error) &&
                                           strcmp(code, want_error->valuestring) == 0;

        if (!ok) {
            char *want = cJSON_PrintUnformatted(st->expect);

            fprintf(stderr, "lbctl: line %d: expected %s\n", st->line, want ? want : "?");
            free(want);
            r->failures++;
        }
    }
    cJSON_Delete(json);
}

/* Sends a request; a service restarting answers "no responders" for a moment: retried. */
static int request(struct replay *r, const struct step *st)
{
    int64_t deadline = nats_Now() + r->wait_ms;

    char request_id[64];
    natsMsg *msg = NULL;

    /* The same log sends the same request ids: replayed twice, a command applies once (D19). */
    snprintf(request_id, sizeof(request_id), "replay-%016llx-L%d",
             (unsigned long long)r->log_digest, st->line);
    if (natsMsg_Create(&msg, st->subject, NULL, st->payload, (int)strlen(st->payload)) != NATS_OK ||
        natsMsgHeader_Set(msg, "Lb-Request-Id", request_id) != NATS_OK) {
        natsMsg_Destroy(msg);
        fprintf(stderr, "lbctl: out of memory\n");
        return LBCTL_NATS;
    }
    for (;;) {
        natsMsg *reply = NULL;
        natsStatus s = natsConnection_RequestMsg(&reply, r->ctl->nc, msg, r->ctl->timeout_ms);

        if (s == NATS_OK) {
            judge(r, st, reply);
            natsMsg_Destroy(reply);
            natsMsg_Destroy(msg);
            return LBCTL_OK;
        }
        if (nats_Now() > deadline) {
            fprintf(stderr, "lbctl: line %d: %s: %s\n", st->line, st->subject,
                    natsStatus_GetText(s));
            natsMsg_Destroy(msg);
            return LBCTL_NATS;
        }
        nats_Sleep(100);
    }
}

/* Counts what the stream refused or never acked in a run (a libnats thread calls it). */
static void on_async_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    struct replay *r = closure;

    (void)js;
    (void)pae;
    atomic_fetch_add(&r->async_errors, 1);
}

/*
 * Publishes events [from, to) of one domain with up to PUBLISH_WINDOW in
 * flight, and waits for every ack. If any was refused or not acked in time,
 * the run is sent again one by one with retries: the stream (Nats-Msg-Id)
 * and the services (applied ids) drop the copies.
 */
static int publish_run(struct replay *r, size_t from, size_t to)
{
    jsPubOptions po;
    natsStatus s = NATS_OK;
    int status = LBCTL_OK;

    if (to - from == 1)
        return publish(r, &r->steps[from]);
    atomic_store(&r->async_errors, 0);
    for (size_t i = from; i < to && s == NATS_OK; i++) {
        const struct step *st = &r->steps[i];

        jsPubOptions_Init(&po);
        po.MsgId = st->id;
        s = js_PublishAsync(r->async_js, st->subject, st->payload, (int)strlen(st->payload), &po);
    }
    jsPubOptions_Init(&po);
    po.MaxWait = r->wait_ms;
    if (s == NATS_OK)
        s = js_PublishAsyncComplete(r->async_js, &po);
    if (s == NATS_OK && atomic_load(&r->async_errors) == 0)
        return LBCTL_OK;
    if (s != NATS_OK) {
        natsMsgList unacked = {0};

        if (js_PublishAsyncGetPendingList(&unacked, r->async_js) == NATS_OK)
            natsMsgList_Destroy(&unacked);
    }
    for (size_t i = from; i < to && status == LBCTL_OK; i++)
        status = publish(r, &r->steps[i]);
    return status;
}

static int run(struct replay *r)
{
    const struct step *previous = NULL; /* the last event or tick sent since the last wait */
    int status = LBCTL_OK;

    for (size_t i = 0; i < r->count && status == LBCTL_OK;) {
        const struct step *st = &r->steps[i];
        size_t end = i + 1;

        /* Events of one domain in a row stay in order in its stream: no wait between them. */
        if (st->kind != STEP_EVENT || (previous != NULL && !same_domain(previous, st)))
            status = wait_quiet(r, st);
        if (status != LBCTL_OK)
            break;
        switch (st->kind) {
        case STEP_EVENT: {
            int64_t start = nats_Now();

            while (end < r->count && r->steps[end].kind == STEP_EVENT &&
                   same_domain(st, &r->steps[end]))
                end++;
            status = publish_run(r, i, end);
            r->publish_ms += nats_Now() - start;
            previous = &r->steps[end - 1];
            break;
        }
        case STEP_TICK:
            status = publish(r, st);
            previous = st;
            break;
        case STEP_REQUEST:
            status = request(r, st); // NOLINT(clang-analyzer-unix.Malloc): free_steps frees them
            previous = NULL;
            break;
        case STEP_WAIT:
            previous = NULL;
            break;
        }
        fflush(stdout);
        i = end;
    }
    if (status == LBCTL_OK && r->count > 0)
        status = wait_quiet(r, &r->steps[r->count - 1]);
    return status;
}

/* --stats: where the time went, as one JSON line on stderr. */
static void print_stats(const struct replay *r, int64_t start_ms, int64_t checked_ms,
                        int64_t end_ms)
{
    double total = (double)(end_ms - start_ms) / 1000.0;

    fprintf(stderr,
            "{\"events\":%zu,\"requests\":%zu,\"check_s\":%.3f,\"run_s\":%.3f,"
            "\"publish_s\":%.3f,\"waits\":%zu,\"wait_s\":%.3f,\"total_s\":%.3f,"
            "\"events_per_s\":%.0f}\n",
            r->events, r->requests, (double)(checked_ms - start_ms) / 1000.0,
            (double)(end_ms - checked_ms) / 1000.0, (double)r->publish_ms / 1000.0, r->waits,
            (double)r->waited_ms / 1000.0, total, total > 0 ? (double)r->events / total : 0);
}

int lbctl_replay(struct lbctl *ctl, int argc, char **argv)
{
    struct replay r = {.ctl = ctl, .wait_ms = REPLAY_WAIT_MS};
    int64_t start_ms = nats_Now();
    int64_t checked_ms;
    jsOptions jo;
    size_t len = 0;
    char *text;
    int status;

    for (; argc > 2; argc--, argv++) {
        if (strcmp(argv[1], "--stats") == 0) {
            r.stats = true;
        } else if (strcmp(argv[1], "--wait") == 0 && argc > 3) {
            char *end;
            long ms = strtol(argv[2], &end, 10);

            if (*end != '\0' || ms < 1 || ms > 3600000) {
                fprintf(stderr, "lbctl: --wait takes 1..3600000 ms\n");
                return LBCTL_USAGE;
            }
            r.wait_ms = (int)ms;
            argc--;
            argv++;
        } else {
            break;
        }
    }
    if (argc != 2) {
        fprintf(stderr, "usage: lbctl replay [--wait MS] [--stats] LOG|-\n");
        return LBCTL_USAGE;
    }
    text = lbctl_read_input(argv[1], LBCTL_LOG_MAX, &len);
    if (text == NULL) {
        fprintf(stderr, "lbctl: cannot read %s\n", argv[1]);
        return LBCTL_USAGE;
    }
    if (strlen(text) != len) {
        fprintf(stderr, "lbctl: %s holds a NUL byte\n", argv[1]);
        free(text);
        return LBCTL_INVALID;
    }
    r.log_digest = id_digest(text, len);
    status = read_log(&r, text);
    free(text);
    checked_ms = nats_Now();
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = PUBLISH_WINDOW;
    jo.PublishAsync.ErrHandler = on_async_error;
    jo.PublishAsync.ErrHandlerClosure = &r;
    jo.PublishAsync.StallWait = r.wait_ms;
    if (status == LBCTL_OK && natsConnection_JetStream(&r.async_js, ctl->nc, &jo) != NATS_OK) {
        fprintf(stderr, "lbctl: cannot open a JetStream context\n");
        status = LBCTL_NATS;
    }
    if (status == LBCTL_OK)
        status = run(&r);
    if (status == LBCTL_OK && r.failures > 0) {
        fprintf(stderr, "lbctl: %d expectation(s) not met\n", r.failures);
        status = LBCTL_EXPECTATION;
    }
    if (r.stats)
        print_stats(&r, start_ms, checked_ms, nats_Now());
    jsCtx_Destroy(r.async_js);
    free_steps(&r);
    return status;
}
