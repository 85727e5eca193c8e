/*
 * config.c - loading a settings table from the environment.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct unit {
    const char *suffix;
    int64_t ms;
};

static const struct unit units[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"", 1},
};

static enum lb_err parse_int(const char *text, int64_t *ret, const char **ret_end)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (end == text || errno == ERANGE)
        return LB_EINVAL;
    *ret = v;
    *ret_end = end;
    return LB_OK;
}

static enum lb_err parse_value(const struct config_entry *e, const char *text, void *field,
                               struct lb_why *why)
{
    const char *end;
    int64_t v;

    switch (e->kind) {
    case CONFIG_STRING: {
        char *copy = strdup(text);

        if (copy == NULL)
            return lb_fail(why, LB_ENOMEM, "%s: out of memory", e->env);
        *(char **)field = copy;
        return LB_OK;
    }
    case CONFIG_BOOL:
        if (!strcasecmp(text, "1") || !strcasecmp(text, "true") || !strcasecmp(text, "yes") ||
            !strcasecmp(text, "on"))
            *(bool *)field = true;
        else if (!strcasecmp(text, "0") || !strcasecmp(text, "false") || !strcasecmp(text, "no") ||
                 !strcasecmp(text, "off"))
            *(bool *)field = false;
        else
            return lb_fail(why, LB_EINVAL, "%s: \"%.64s\" is not a boolean (true/false)", e->env,
                           text);
        return LB_OK;
    case CONFIG_INT:
        if (parse_int(text, &v, &end) != LB_OK || *end != '\0')
            return lb_fail(why, LB_EINVAL, "%s: \"%.64s\" is not an integer", e->env, text);
        break;
    case CONFIG_MILLIS: {
        const struct unit *u = NULL;

        if (parse_int(text, &v, &end) != LB_OK)
            return lb_fail(why, LB_EINVAL, "%s: \"%.64s\" is not a duration (e.g. 30s)", e->env,
                           text);
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && u == NULL; i++) {
            if (strcmp(end, units[i].suffix) == 0)
                u = &units[i];
        }
        if (u == NULL)
            return lb_fail(why, LB_EINVAL, "%s: \"%.64s\" has an unknown unit (ms, s, m, h, d)",
                           e->env, text);
        if (v > INT64_MAX / u->ms || v < INT64_MIN / u->ms)
            return lb_fail(why, LB_EINVAL, "%s: \"%.64s\" is too large", e->env, text);
        v *= u->ms;
        break;
    }
    default:
        return lb_fail(why, LB_EINTERNAL, "%s: unknown kind", e->env);
    }
    if (v < e->min)
        return lb_fail(why, LB_EINVAL, "%s: \"%.64s\" is below the minimum %lld", e->env, text,
                       (long long)e->min);
    if (v > e->max)
        return lb_fail(why, LB_EINVAL, "%s: \"%.64s\" is above the maximum %lld", e->env, text,
                       (long long)e->max);
    *(int64_t *)field = v;
    return LB_OK;
}

enum lb_err config_load(const struct config_entry *table, size_t n, void *dest, struct lb_why *why)
{
    for (size_t i = 0; i < n; i++) {
        const char *text = getenv(table[i].env);
        enum lb_err err;

        if (text == NULL)
            text = table[i].fallback ? table[i].fallback : "";
        err = parse_value(&table[i], text, (char *)dest + table[i].offset, why);
        if (err != LB_OK) {
            config_release(table, i, dest);
            return err;
        }
    }
    return LB_OK;
}

void config_release(const struct config_entry *table, size_t n, void *dest)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].kind == CONFIG_STRING) {
            char **field = (char **)((char *)dest + table[i].offset);

            free(*field);
            *field = NULL;
        }
    }
}
