/*
 * lbctl.h - the operator and tester CLI: shared context and the verbs.
 *
 * Exit codes (documented in `lbctl --help` and docs/operations.md):
 *   0 done, 2 usage error, 3 invalid input (refused before it left),
 *   4 NATS unreachable or failed, 5 the service answered with an error.
 */
#ifndef LBCTL_H
#define LBCTL_H

#include <stdbool.h>

#include <nats/nats.h>

enum lbctl_exit {
    LBCTL_OK = 0,
    LBCTL_USAGE = 2,
    LBCTL_INVALID = 3,
    LBCTL_NATS = 4,
    LBCTL_REPLY_ERROR = 5,
};

/* What every verb gets. */
struct lbctl {
    natsConnection *nc; /* connected before the verb runs */
    jsCtx *js;
    bool json;      /* --json: machine-readable output */
    int timeout_ms; /* --timeout */
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

/* Reads a whole file ("-" = stdin); malloc'd, NUL-terminated; NULL on failure. */
char *lbctl_read_input(const char *path, size_t *ret_len);

#endif
