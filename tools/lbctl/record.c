/*
 * record.c - `lbctl record [--from SEQ] DOMAIN...`: streams to an event log.
 *
 * The log is NDJSON (docs/replay.md): one {"event": ...} line per stored
 * event, the domains' streams merged in the order JetStream stored them.
 * Record the platform's inputs (directory, agents, signals, scanning,
 * commerce, clock), not the services' own events: a replay makes those
 * again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "lbctl.h"
#include "subjects.h"

struct recorded {
    int64_t time_ns;
    size_t domain; /* index in argv: ties keep the order given */
    uint64_t seq;
    char *line; /* {"event": ...} */
};

static int by_time(const void *a, const void *b)
{
    const struct recorded *x = a, *y = b;

    if (x->time_ns != y->time_ns)
        return x->time_ns < y->time_ns ? -1 : 1;
    if (x->domain != y->domain)
        return x->domain < y->domain ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One stored message as a log line, or NULL (with a warning) when it is not an event. */
static char *log_line(natsMsg *m, const char *stream)
{
    struct lb_why why = {{0}};
    cJSON *event = NULL;
    cJSON *line;
    char *text;

    if (json_parse_strict(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &event, &why) !=
        LB_OK) {
        fprintf(stderr, "lbctl: skipped %s #%llu: %s\n", stream,
                (unsigned long long)natsMsg_GetSequence(m), why.text);
        return NULL;
    }
    line = cJSON_CreateObject();
    cJSON_AddItemToObject(line, "event", event);
    text = json_print(line);
    cJSON_Delete(line);
    return text;
}

static int record_stream(struct lbctl *ctl, const char *domain, size_t index, uint64_t from,
                         struct recorded **all, size_t *count)
{
    char stream[SUBJECT_MAX];
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;

    if (!subject_token_valid(domain) || subject_stream_name(stream, domain) != LB_OK) {
        fprintf(stderr, "lbctl: %s is not a domain\n", domain);
        return LBCTL_USAGE;
    }
    if (js_GetStreamInfo(&si, ctl->js, stream, NULL, &jerr) != NATS_OK) {
        fprintf(stderr, "lbctl: no stream %s\n", stream);
        return LBCTL_NATS;
    }
    for (uint64_t seq = si->State.FirstSeq > from ? si->State.FirstSeq : from;
         si->State.Msgs > 0 && seq <= si->State.LastSeq; seq++) {
        natsMsg *m = NULL;
        struct recorded *grown;
        char *line;

        if (js_GetMsg(&m, ctl->js, stream, seq, NULL, &jerr) != NATS_OK)
            continue; /* deleted */
        line = log_line(m, stream);
        if (line != NULL && (grown = realloc(*all, (*count + 1) * sizeof(**all))) != NULL) {
            *all = grown;
            grown[(*count)++] = (struct recorded){natsMsg_GetTime(m), index, seq, line};
        } else {
            free(line);
        }
        natsMsg_Destroy(m);
    }
    jsStreamInfo_Destroy(si);
    return LBCTL_OK;
}

int lbctl_record(struct lbctl *ctl, int argc, char **argv)
{
    struct recorded *all = NULL;
    size_t count = 0;
    uint64_t from = 0;
    int i = 1;
    int status = LBCTL_OK;

    if (argc > 2 && strcmp(argv[1], "--from") == 0) {
        char *end;

        from = strtoull(argv[2], &end, 10);
        if (*end != '\0') {
            fprintf(stderr, "lbctl: --from takes a stream sequence\n");
            return LBCTL_USAGE;
        }
        i = 3;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: lbctl record [--from SEQ] DOMAIN...\n");
        return LBCTL_USAGE;
    }
    for (; i < argc && status == LBCTL_OK; i++)
        status = record_stream(ctl, argv[i], (size_t)i, from, &all, &count);
    if (count > 0)
        qsort(all, count, sizeof(*all), by_time);
    for (size_t k = 0; k < count; k++) {
        if (status == LBCTL_OK)
            printf("%s\n", all[k].line);
        free(all[k].line);
    }
    free(all);
    if (status == LBCTL_OK)
        fprintf(stderr, "lbctl: recorded %zu events\n", count);
    return status;
}
