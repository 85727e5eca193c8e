/*
 * log.c - JSON log lines. The sink, the minimum level and the service name
 * are the only process-wide state; a mutex keeps lines whole.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_sink;
static enum log_level log_min = LB_LOG_INFO;
static char log_service[64] = "-";

void log_init(const char *service, enum log_level min_level, FILE *sink)
{
    pthread_mutex_lock(&log_lock);
    snprintf(log_service, sizeof(log_service), "%s", service);
    log_min = min_level;
    log_sink = sink;
    pthread_mutex_unlock(&log_lock);
}

enum lb_err log_level_parse(const char *text, enum log_level *ret_level)
{
    for (int i = LB_LOG_DEBUG; i <= LB_LOG_ERROR; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return LB_OK;
        }
    }
    return LB_EINVAL;
}

static void format_now(char ret[64])
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(ret, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void log_write(enum log_level level, const struct log_ids *ids, const char *fmt, ...)
{
    char when[64];
    va_list ap;
    char *msg;
    char *line = NULL;
    cJSON *root;
    int n;

    if (level < log_min)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    msg = malloc((size_t)n + 1);
    if (msg == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    format_now(when);
    root = cJSON_CreateObject();
    pthread_mutex_lock(&log_lock);
    if (root && cJSON_AddStringToObject(root, "ts", when) &&
        cJSON_AddStringToObject(root, "level", level_names[level]) &&
        cJSON_AddStringToObject(root, "service", log_service) &&
        cJSON_AddStringToObject(root, "msg", msg) &&
        (ids == NULL || ids->event_id == NULL ||
         cJSON_AddStringToObject(root, "event_id", ids->event_id)) &&
        (ids == NULL || ids->request_id == NULL ||
         cJSON_AddStringToObject(root, "request_id", ids->request_id)))
        line = cJSON_PrintUnformatted(root);
    if (line != NULL) {
        FILE *sink = log_sink ? log_sink : stderr;
        size_t len = strlen(line);

        line[len] = '\n'; /* replaces the NUL: written with its length below */
        fwrite(line, 1, len + 1, sink);
        fflush(sink);
    }
    pthread_mutex_unlock(&log_lock);
    free(line);
    cJSON_Delete(root);
    free(msg);
}
