/*
 * main.c - lbctl: options, the verb table, connection; nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "lbctl.h"

static const struct lbctl_verb verbs[] = {
    {"publish", "publish SUBJECT FILE|-",
     "Validates a CloudEvent (envelope rules, subject and tenant, and its schema "
     "events/<domain>.<name>.v<N>.json) and publishes it to JetStream with Nats-Msg-Id = its "
     "id; prints the stream and sequence.",
     lbctl_publish},
    {"validate", "validate SCHEMA FILE|-",
     "Validates a JSON document against a schema of the contract (a path under the schema "
     "directory, e.g. api/tally.add.request.json); exit 3 with the first violation.",
     lbctl_validate},
    {"request", "request SUBJECT [BODY|-]",
     "Sends a command or query and prints the reply; exit 5 when it is an error reply.",
     lbctl_request},
    {"services", "services",
     "Lists the running service instances through the NATS discovery protocol ($SRV.PING, "
     "$SRV.STATS) with their request and error counts.",
     lbctl_services},
    {"streams", "streams",
     "Shows the licensebus streams (LB_*) with their messages and, per consumer, what is "
     "pending, unacked and redelivered; LB_DLQ holds the dead letters.",
     lbctl_streams},
    {"record", "record [--from SEQ] DOMAIN...",
     "Writes the events of the domains' streams (LB_<DOMAIN>) as an event log (NDJSON, "
     "docs/replay.md) in stream time order, for a later replay.",
     lbctl_record},
    {"replay", "replay [--wait MS] [--stats] LOG|-",
     "Checks a whole event log first (schemas, requests), then publishes it in order, waits "
     "until every service has applied each step, sends its requests and prints each reply "
     "(one line per request: the log line number and the reply); exit 6 when a reply does not "
     "match the expectation written in the log. --stats adds one JSON line on stderr: events, "
     "requests, seconds checking, running, publishing and waiting for quiet, events per second.",
     lbctl_replay},
    {"export", "export --out FILE REQUEST|-",
     "Downloads a report: sends the request (schemas/api/reporting.export.request.json: "
     "report, format xlsx or csv, tenant and caller) to lb.api.reporting.export, fetches every "
     "chunk and writes FILE; checks the byte count.",
     lbctl_export},
    {"rebuild", "rebuild SERVICE",
     "Asks the service's instances (lb.adm.<service>.rebuild) to drain and exit; on its next "
     "start (the supervisor restarts it) it moves its database aside and rebuilds it from the "
     "streams.",
     lbctl_rebuild},
};

#define VERB_COUNT (sizeof(verbs) / sizeof(verbs[0]))

static void usage(FILE *out)
{
    fprintf(out, "Usage: lbctl [--url URL] [--json] [--timeout MS] [--schemas DIR] VERB [ARGS]\n\n"
                 "Verbs:\n");
    for (size_t i = 0; i < VERB_COUNT; i++)
        fprintf(out, "  %-28s %s\n", verbs[i].usage, verbs[i].help);
    fprintf(out,
            "\n--url defaults to $LB_NATS_URL, else nats://127.0.0.1:4222.\n"
            "--schemas DIR (the contract's schemas/) defaults to $LB_SCHEMAS, else "
            "%s.\n"
            "lbctl VERB --help describes one verb.\n"
            "Exit codes: 0 done, 2 usage, 3 invalid input, 4 NATS failed, "
            "5 error reply, 6 expectation not met.\n",
            LB_SCHEMA_DIR);
}

static int connect_nats(struct lbctl *ctl, const char *url)
{
    natsOptions *o = NULL;
    natsStatus s = natsOptions_Create(&o);

    if (s == NATS_OK)
        s = bus_set_servers(o, url);
    if (s == NATS_OK)
        s = natsOptions_SetName(o, "lbctl");
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(o, ctl->timeout_ms);
    if (s == NATS_OK)
        s = natsConnection_Connect(&ctl->nc, o);
    if (s == NATS_OK)
        s = natsConnection_JetStream(&ctl->js, ctl->nc, NULL);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        fprintf(stderr, "lbctl: cannot connect to %s: %s\n", url, natsStatus_GetText(s));
        return LBCTL_NATS;
    }
    return LBCTL_OK;
}

int main(int argc, char **argv)
{
    struct lbctl ctl = {.timeout_ms = 5000, .schema_dir = getenv("LB_SCHEMAS")};
    const char *url = getenv("LB_NATS_URL");
    const struct lbctl_verb *verb = NULL;
    int i = 1;
    int status;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return LBCTL_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            ctl.json = true;
        } else if (strcmp(argv[i], "--schemas") == 0 && i + 1 < argc) {
            ctl.schema_dir = argv[++i];
        } else if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            char *end;
            long ms = strtol(argv[++i], &end, 10);

            if (*end != '\0' || ms < 1 || ms > 600000) {
                fprintf(stderr, "lbctl: --timeout takes 1..600000 ms\n");
                return LBCTL_USAGE;
            }
            ctl.timeout_ms = (int)ms;
        } else {
            fprintf(stderr, "lbctl: unknown option %s\n", argv[i]);
            usage(stderr);
            return LBCTL_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return LBCTL_USAGE;
    }
    for (size_t k = 0; k < VERB_COUNT && verb == NULL; k++) {
        if (strcmp(verbs[k].name, argv[i]) == 0)
            verb = &verbs[k];
    }
    if (verb == NULL) {
        fprintf(stderr, "lbctl: unknown verb %s\n", argv[i]);
        usage(stderr);
        return LBCTL_USAGE;
    }
    if (i + 1 < argc && strcmp(argv[i + 1], "--help") == 0) {
        printf("Usage: lbctl [options] %s\n\n%s\n", verb->usage, verb->help);
        return LBCTL_OK;
    }
    if (ctl.schema_dir == NULL || ctl.schema_dir[0] == '\0')
        ctl.schema_dir = LB_SCHEMA_DIR;
    /* validate needs no server */
    if (strcmp(verb->name, "validate") == 0)
        return verb->run(&ctl, argc - i, argv + i);
    status = connect_nats(&ctl, url != NULL && url[0] != '\0' ? url : "nats://127.0.0.1:4222");
    if (status == LBCTL_OK)
        status = verb->run(&ctl, argc - i, argv + i);
    schema_set_free(ctl.schemas);
    jsCtx_Destroy(ctl.js);
    natsConnection_Destroy(ctl.nc);
    nats_Close();
    return status;
}
