/*
 * lbctl.h - the operator and tester CLI: shared context and the verbs.
 *
 * Exit codes (documented in `lbctl --help` and docs/operations.md):
 *   0 done, 2 usage error, 3 invalid input (refused before it left),
 *   4 NATS unreachable or failed, 5 the service answered with an error,
 *   6 a replayed log's expectation was not met.
 */
#ifndef LBCTL_H
#define LBCTL_H

#include <stdbool.h>

#include <cjson/cJSON.h>
#include <nats/nats.h>

#include "envelope.h"
#include "schema.h"

enum lbctl_exit {
    LBCTL_OK = 0,
    LBCTL_USAGE = 2,
    LBCTL_INVALID = 3,
    LBCTL_NATS = 4,
    LBCTL_REPLY_ERROR = 5,
    LBCTL_EXPECTATION = 6,
};

/* What every verb gets. */
struct lbctl {
    natsConnection *nc; /* connected before the verb runs */
    jsCtx *js;
    bool json;                  /* --json: machine-readable output */
    int timeout_ms;             /* --timeout */
    const char *schema_dir;     /* --schemas, $LB_SCHEMAS, or the source tree's */
    struct schema_set *schemas; /* opened on first use */
};

/* A verb: runs with its own arguments (argv[0] is the verb). */
struct lbctl_verb {
    const char *name;
    const char *usage;
    const char *help;
    int (*run)(struct lbctl *ctl, int argc, char **argv);
};

int lbctl_publish(struct lbctl *ctl, int argc, char **argv);
int lbctl_request(struct lbctl *ctl, int argc, char **argv);
int lbctl_services(struct lbctl *ctl, int argc, char **argv);
int lbctl_streams(struct lbctl *ctl, int argc, char **argv);
int lbctl_validate(struct lbctl *ctl, int argc, char **argv);
int lbctl_record(struct lbctl *ctl, int argc, char **argv);
int lbctl_replay(struct lbctl *ctl, int argc, char **argv);
int lbctl_rebuild(struct lbctl *ctl, int argc, char **argv);
int lbctl_export(struct lbctl *ctl, int argc, char **argv);

/*
 * Checks an event as every service would (envelope rules; its subject, when
 * given) and against its schema, schemas/events/<domain>.<name>.v<N>.json.
 * On LB_OK *ev holds it (envelope_release it).
 */
enum lb_err lbctl_check_event(struct lbctl *ctl, const char *text, size_t len, const char *subject,
                              struct envelope *ev, struct lb_why *why);

/* Validates `json` against schemas/<path>; LB_ENOTFOUND when there is no such schema. */
enum lb_err lbctl_check_schema(struct lbctl *ctl, const char *path, const cJSON *json,
                               struct lb_why *why);

/* The event subject of a checked event: lb.evt.<domain>.<tenant>.<name>. */
enum lb_err lbctl_event_subject(const struct envelope *ev, char *ret_subject, size_t size,
                                struct lb_why *why);

/* Waits until every consumer of every LB_* stream has nothing pending or unacked. */
enum lb_err lbctl_wait_quiet(struct lbctl *ctl, int timeout_ms, struct lb_why *why);

/* Largest document read (an event or a request is far smaller). */
#define LBCTL_DOCUMENT_MAX ((size_t)16 * 1024 * 1024)
/* Largest event log read by replay (a million events take ~220 MB). */
#define LBCTL_LOG_MAX ((size_t)4 * 1024 * 1024 * 1024)

/*
 * Reads a whole file ("-" = stdin) of at most about `max` bytes; malloc'd,
 * NUL-terminated; NULL on failure.
 */
char *lbctl_read_input(const char *path, size_t max, size_t *ret_len);

#endif
