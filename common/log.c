/*
 * log.c - JSON log lines.
 *
 * Each call builds one object with cJSON (so quotes, newlines and control
 * characters in messages are escaped correctly) and writes it, newline
 * included, with a single fwrite under a mutex, so lines written from
 * several threads never interleave. The sink, the minimum level and the
 * service name are the only process-wide state; the mutex guards them.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

/* Room for "YYYY-MM-DDTHH:MM:SS.mmmZ" with any int year, plus the NUL. */
#define LOG_TS_MAX 80

/* The service name written before log_init, or when copying the name failed. */
#define LOG_SERVICE_UNSET "-"

/* Indexed by enum log_level. */
static const char *const level_names[] = {"debug", "info", "warn", "error"};
#define LEVEL_COUNT (sizeof(level_names) / sizeof(level_names[0]))

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_sink;    /* NULL = stderr; guarded by log_lock */
static char *log_service; /* malloc'd; NULL = LOG_SERVICE_UNSET; guarded by log_lock */
static atomic_int log_min_level = LB_LOG_INFO; /* read without the lock on every call */

/* Replaces the service name, level and sink; safe to call again (tests do). */
void log_init(const char *service, enum log_level min_level, FILE *sink)
{
    char *copy = strdup(service != NULL ? service : LOG_SERVICE_UNSET);

    pthread_mutex_lock(&log_lock);
    free(log_service);
    log_service = copy;
    log_sink = sink;
    atomic_store(&log_min_level, (int)min_level);
    pthread_mutex_unlock(&log_lock);
}

/* Accepts the level names in any case; *ret_level is untouched on failure. */
enum lb_err log_level_parse(const char *text, enum log_level *ret_level)
{
    if (text == NULL)
        return LB_EINVAL;
    for (size_t i = 0; i < LEVEL_COUNT; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *ret_level = (enum log_level)i;
            return LB_OK;
        }
    }
    return LB_EINVAL;
}

/* Writes the wall-clock time in UTC as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
static void format_now(char ret[LOG_TS_MAX])
{
    struct timespec now;
    struct tm tm;

    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || gmtime_r(&now.tv_sec, &tm) == NULL) {
        snprintf(ret, LOG_TS_MAX, "%s", "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(ret, LOG_TS_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(now.tv_nsec / 1000000));
}

/* Formats the message into a heap string of exactly the needed size; NULL if that fails. */
static char *format_message(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *format_message(const char *fmt, va_list ap)
{
    va_list again;
    char *msg;
    int n;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) {
        va_end(again);
        return NULL;
    }
    msg = malloc((size_t)n + 1);
    if (msg != NULL && vsnprintf(msg, (size_t)n + 1, fmt, again) != n) {
        free(msg);
        msg = NULL;
    }
    va_end(again);
    return msg;
}

/* Builds the line's object; NULL when out of memory. Called under log_lock. */
static cJSON *build_line(enum log_level level, const struct log_ids *ids, const char *msg)
{
    char when[LOG_TS_MAX];
    cJSON *line = cJSON_CreateObject();

    format_now(when);
    if (line == NULL || !cJSON_AddStringToObject(line, "ts", when) ||
        !cJSON_AddStringToObject(line, "level", level_names[level]) ||
        !cJSON_AddStringToObject(line, "service",
                                 log_service != NULL ? log_service : LOG_SERVICE_UNSET) ||
        !cJSON_AddStringToObject(line, "msg", msg))
        goto fail;
    if (ids != NULL && ids->event_id != NULL &&
        !cJSON_AddStringToObject(line, "event_id", ids->event_id))
        goto fail;
    if (ids != NULL && ids->request_id != NULL &&
        !cJSON_AddStringToObject(line, "request_id", ids->request_id))
        goto fail;
    return line;

fail:
    cJSON_Delete(line);
    return NULL;
}

/*
 * Drops the line below the minimum level; otherwise formats the message to
 * its full length and writes one JSON line. Levels out of range count as
 * the nearest one.
 */
void log_write(enum log_level level, const struct log_ids *ids, const char *fmt, ...)
{
    va_list ap;
    char *msg;
    cJSON *line;
    char *text = NULL;

    if ((int)level < LB_LOG_DEBUG)
        level = LB_LOG_DEBUG;
    if ((int)level > LB_LOG_ERROR)
        level = LB_LOG_ERROR;
    if ((int)level < atomic_load(&log_min_level))
        return;
    va_start(ap, fmt);
    msg = format_message(fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_lock);
    /* A message that cannot be formatted is logged as its format, not dropped. */
    line = build_line(level, ids, msg != NULL ? msg : fmt);
    if (line != NULL)
        text = cJSON_PrintUnformatted(line);
    if (text != NULL) {
        FILE *sink = log_sink != NULL ? log_sink : stderr;
        size_t len = strlen(text);

        text[len] = '\n'; /* replaces the NUL: the line goes out by length, in one fwrite */
        fwrite(text, 1, len + 1, sink);
        fflush(sink);
    }
    pthread_mutex_unlock(&log_lock);

    free(text);
    cJSON_Delete(line);
    free(msg);
}
