/*
 * config.h - settings from environment variables, described as a table.
 *
 * Each setting is a row {variable, default, kind, bounds, where, doc}; a
 * service loads its table into a plain struct at start-up. Unset variables
 * take the documented local default, so a bare `lb-<service>` runs against
 * a local nats-server. docs/operations.md lists every variable.
 */
#ifndef LB_CONFIG_H
#define LB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "errors.h"

enum config_kind {
    CONFIG_STRING, /* char *, malloc'd; freed by config_release */
    CONFIG_INT,    /* int64_t within [min, max] */
    CONFIG_BOOL,   /* bool: 1/0, true/false, yes/no, on/off */
    CONFIG_MILLIS, /* int64_t milliseconds; accepts "250ms", "30s", "5m", "2h", "30d" or a bare ms
                      number */
};

/* One setting. */
struct config_entry {
    const char *env;      /* variable name, e.g. "LB_NATS_URL" */
    const char *fallback; /* default, as the text a user would set; NULL = empty string */
    enum config_kind kind;
    size_t offset;    /* offsetof the field in the destination struct */
    int64_t min, max; /* inclusive bounds for CONFIG_INT and CONFIG_MILLIS */
    const char *doc;  /* one line for docs and --help */
};

/*
 * Loads every row of `table` into `dest`. Fails with LB_EINVAL and a reason
 * naming the variable on the first unparsable or out-of-bounds value; on
 * failure nothing allocated remains (dest's strings are released).
 */
enum lb_err config_load(const struct config_entry *table, size_t n, void *dest, struct lb_why *why);

/* Frees the strings config_load put in `dest`. */
void config_release(const struct config_entry *table, size_t n, void *dest);

#endif
