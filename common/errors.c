/*
 * errors.c - names and numbers of the project's status codes.
 */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct err_info {
    const char *code; /* wire name in error replies */
    int status;       /* Nats-Service-Error-Code */
    bool transient;   /* worth retrying */
};

static const struct err_info err_table[] = {
    [LB_OK] = {"ok", 200, false},
    [LB_EINVAL] = {"invalid_request", 400, false},
    [LB_ETOOBIG] = {"too_large", 413, false},
    [LB_ENOTFOUND] = {"not_found", 404, false},
    [LB_ECONFLICT] = {"conflict", 409, false},
    [LB_EFORBIDDEN] = {"forbidden", 403, false},
    [LB_EUNSUPPORTED] = {"unsupported", 501, false},
    [LB_EUNAVAILABLE] = {"unavailable", 503, true},
    [LB_ENOMEM] = {"out_of_memory", 500, true},
    [LB_EIO] = {"io_error", 500, true},
    [LB_EINTERNAL] = {"internal", 500, false},
};

static const struct err_info *err_lookup(enum lb_err err)
{
    if ((unsigned)err >= sizeof(err_table) / sizeof(err_table[0]))
        return &err_table[LB_EINTERNAL];
    return &err_table[err];
}

const char *lb_err_code(enum lb_err err)
{
    return err_lookup(err)->code;
}

int lb_err_status(enum lb_err err)
{
    return err_lookup(err)->status;
}

bool lb_err_is_transient(enum lb_err err)
{
    return err_lookup(err)->transient;
}

enum lb_err lb_fail(struct lb_why *why, enum lb_err err, const char *fmt, ...)
{
    char text[LB_WHY_MAX];
    va_list ap;
    int n;

    if (why == NULL)
        return err;
    /* Formatted aside first: callers may pass why->text itself as an argument. */
    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        text[0] = '\0';
    else if ((size_t)n >= sizeof(text))
        memcpy(text + sizeof(text) - 4, "...", 4);
    memcpy(why->text, text, sizeof(text));
    return err;
}
