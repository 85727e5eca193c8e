/*
 * log.h - one JSON object per line on stderr.
 *
 *   {"ts":"2026-11-22T19:20:52.123Z","level":"info","service":"licensing",
 *    "msg":"...","event_id":"...","request_id":"..."}
 *
 * The sink and the minimum level are the only process-wide state. Log once,
 * where an error is handled, never at every layer.
 */
#ifndef LB_LOG_H
#define LB_LOG_H

#include <stdio.h>

#include "errors.h"

enum log_level { LB_LOG_DEBUG, LB_LOG_INFO, LB_LOG_WARN, LB_LOG_ERROR };

/* Identifiers that tie a line to the message being handled; each may be NULL. */
struct log_ids {
    const char *event_id;
    const char *request_id;
};

/* Sets the service name, the minimum level and the sink (NULL = stderr). */
void log_init(const char *service, enum log_level min_level, FILE *sink);

/* Parses "debug", "info", "warn" or "error". */
enum lb_err log_level_parse(const char *text, enum log_level *ret_level);

/* Writes one line if `level` passes the minimum; `ids` may be NULL. */
void log_write(enum log_level level, const struct log_ids *ids, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_write(LB_LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)  log_write(LB_LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_write(LB_LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_write(LB_LOG_ERROR, NULL, __VA_ARGS__)

#endif
