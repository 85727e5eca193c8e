/*
 * config.c - loading a settings table from the environment.
 *
 * Each row is read with getenv (or its fallback text), parsed by kind and
 * stored at dest + offset. Numbers are parsed with strtoll and a check that
 * the whole text was used; durations are an integer with an optional unit.
 * Reasons name the variable and quote the value, so an operator can fix the
 * deployment from the error line alone.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest part of a value quoted in a reason, so the reason's end stays readable. */
#define CONFIG_QUOTE_MAX 64

/* Longest duration written back in a reason, e.g. "-9223372036854775808ms". */
#define CONFIG_DURATION_TEXT_MAX 32

/* A duration unit and its length in milliseconds. */
struct duration_unit {
    const char *suffix;
    int64_t ms;
};

/* Largest first: format_millis picks the first unit that divides a bound exactly. */
static const struct duration_unit duration_units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};
#define DURATION_UNIT_COUNT (sizeof(duration_units) / sizeof(duration_units[0]))

/* The spellings of a boolean, compared without regard to case. */
static const char *const true_words[] = {"1", "true", "yes", "on"};
static const char *const false_words[] = {"0", "false", "no", "off"};
#define BOOL_WORD_COUNT (sizeof(true_words) / sizeof(true_words[0]))

/* What the leading integer of a value turned out to be. */
enum number_result {
    NUMBER_OK,
    NUMBER_MISSING,   /* no digits where the number should start */
    NUMBER_TOO_LARGE, /* more than INT64_MAX */
    NUMBER_TOO_SMALL, /* less than INT64_MIN */
};

/*
 * Reads the decimal integer at the start of `text` (an optional sign, then
 * digits; no leading blanks). Sets *ret_end past the digits whenever there
 * are digits, so the caller can judge what follows before the range.
 */
static enum number_result read_number(const char *text, int64_t *ret_value, const char **ret_end)
{
    const char *digits = text + (text[0] == '-' || text[0] == '+');
    char *end;
    long long value;

    if (*digits < '0' || *digits > '9')
        return NUMBER_MISSING;
    errno = 0;
    value = strtoll(text, &end, 10);
    *ret_end = end;
    if (errno == ERANGE)
        return value > 0 ? NUMBER_TOO_LARGE : NUMBER_TOO_SMALL;
    *ret_value = value;
    return NUMBER_OK;
}

/* Writes `ms` with the largest unit that divides it exactly, e.g. "30s" or "1d". */
static void format_millis(int64_t ms, char ret[CONFIG_DURATION_TEXT_MAX])
{
    for (size_t i = 0; i < DURATION_UNIT_COUNT; i++) {
        if (ms != 0 && ms % duration_units[i].ms == 0) {
            snprintf(ret, CONFIG_DURATION_TEXT_MAX, "%lld%s",
                     (long long)(ms / duration_units[i].ms), duration_units[i].suffix);
            return;
        }
    }
    snprintf(ret, CONFIG_DURATION_TEXT_MAX, "%lldms", (long long)ms);
}

/* Fails with a reason saying that `text` lies above (or below) the row's bound. */
static enum lb_err fail_bound(const struct config_entry *e, const char *text, bool above,
                              struct lb_why *why)
{
    int64_t bound = above ? e->max : e->min;
    const char *side = above ? "above the maximum" : "below the minimum";
    size_t len = strlen(text);
    const char *cut = len > CONFIG_QUOTE_MAX ? "..." : "";
    char bound_text[CONFIG_DURATION_TEXT_MAX];

    if (e->kind == CONFIG_MILLIS)
        format_millis(bound, bound_text);
    else
        snprintf(bound_text, sizeof(bound_text), "%lld", (long long)bound);
    return lb_fail(why, LB_EINVAL, "%s: \"%.*s%s\" is %s %s", e->env, CONFIG_QUOTE_MAX, text, cut,
                   side, bound_text);
}

/* Fails with a reason of the form `VAR: "value" <problem>`. */
static enum lb_err fail_value(const struct config_entry *e, const char *text, const char *problem,
                              struct lb_why *why)
{
    const char *cut = strlen(text) > CONFIG_QUOTE_MAX ? "..." : "";

    return lb_fail(why, LB_EINVAL, "%s: \"%.*s%s\" %s", e->env, CONFIG_QUOTE_MAX, text, cut,
                   problem);
}

static bool word_in(const char *text, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(text, words[i]) == 0)
            return true;
    }
    return false;
}

static enum lb_err parse_bool(const struct config_entry *e, const char *text, bool *ret,
                              struct lb_why *why)
{
    if (word_in(text, true_words, BOOL_WORD_COUNT)) {
        *ret = true;
        return LB_OK;
    }
    if (word_in(text, false_words, BOOL_WORD_COUNT)) {
        *ret = false;
        return LB_OK;
    }
    return fail_value(e, text, "is not a boolean (true/false, yes/no, on/off, 1/0)", why);
}

/* Fails for a number past int64 or the row's bounds; `value` is meaningful for NUMBER_OK. */
static enum lb_err check_bounds(const struct config_entry *e, const char *text,
                                enum number_result result, int64_t value, struct lb_why *why)
{
    if (result == NUMBER_TOO_LARGE || (result == NUMBER_OK && value > e->max))
        return fail_bound(e, text, true, why);
    if (result == NUMBER_TOO_SMALL || (result == NUMBER_OK && value < e->min))
        return fail_bound(e, text, false, why);
    return LB_OK;
}

/* Parses an integer that must fill `text`, within the row's bounds. */
static enum lb_err parse_int(const struct config_entry *e, const char *text, int64_t *ret,
                             struct lb_why *why)
{
    const char *end = NULL;
    int64_t value = 0;
    enum number_result result = read_number(text, &value, &end);
    enum lb_err err;

    if (result == NUMBER_MISSING || *end != '\0')
        return fail_value(e, text, "is not an integer", why);
    err = check_bounds(e, text, result, value, why);
    if (err != LB_OK)
        return err;
    *ret = value;
    return LB_OK;
}

/* The unit named by `suffix`; "" is milliseconds. NULL for an unknown unit. */
static const struct duration_unit *find_unit(const char *suffix)
{
    if (suffix[0] == '\0')
        suffix = "ms";
    for (size_t i = 0; i < DURATION_UNIT_COUNT; i++) {
        if (strcmp(suffix, duration_units[i].suffix) == 0)
            return &duration_units[i];
    }
    return NULL;
}

/* Parses "250ms", "30s", "5m", "2h", "30d" or bare milliseconds, within the row's bounds. */
static enum lb_err parse_millis(const struct config_entry *e, const char *text, int64_t *ret,
                                struct lb_why *why)
{
    const struct duration_unit *unit;
    const char *end = NULL;
    int64_t value = 0;
    enum number_result result = read_number(text, &value, &end);
    enum lb_err err;

    if (result == NUMBER_MISSING)
        return fail_value(e, text, "is not a duration (e.g. 250ms, 30s, 5m, 2h, 1d)", why);
    unit = find_unit(end);
    if (unit == NULL)
        return fail_value(e, text, "has an unknown unit (use ms, s, m, h or d)", why);
    if (result == NUMBER_OK) {
        if (value > INT64_MAX / unit->ms)
            result = NUMBER_TOO_LARGE;
        else if (value < INT64_MIN / unit->ms)
            result = NUMBER_TOO_SMALL;
        else
            value *= unit->ms;
    }
    err = check_bounds(e, text, result, value, why);
    if (err != LB_OK)
        return err;
    *ret = value;
    return LB_OK;
}

/* Parses `text` by the row's kind into `field`; on failure `field` is untouched. */
static enum lb_err parse_value(const struct config_entry *e, const char *text, void *field,
                               struct lb_why *why)
{
    char *copy;

    switch (e->kind) {
    case CONFIG_STRING:
        copy = strdup(text);
        if (copy == NULL)
            return lb_fail(why, LB_ENOMEM, "%s: out of memory", e->env);
        *(char **)field = copy;
        return LB_OK;
    case CONFIG_BOOL:
        return parse_bool(e, text, field, why);
    case CONFIG_INT:
        assert(e->min <= e->max);
        return parse_int(e, text, field, why);
    case CONFIG_MILLIS:
        assert(e->min <= e->max);
        return parse_millis(e, text, field, why);
    }
    return lb_fail(why, LB_EINTERNAL, "%s: unknown setting kind %d", e->env, (int)e->kind);
}

/* Loads each row in order; on the first failure releases the rows already loaded. */
enum lb_err config_load(const struct config_entry *table, size_t n, void *dest, struct lb_why *why)
{
    for (size_t i = 0; i < n; i++) {
        const struct config_entry *e = &table[i];
        const char *text = getenv(e->env);
        enum lb_err err;

        if (text == NULL)
            text = e->fallback != NULL ? e->fallback : "";
        err = parse_value(e, text, (char *)dest + e->offset, why);
        if (err != LB_OK) {
            config_release(table, i, dest); /* the rows loaded so far */
            return err;
        }
    }
    return LB_OK;
}

/* Frees and NULLs the string fields; other fields are left as they are. */
void config_release(const struct config_entry *table, size_t n, void *dest)
{
    for (size_t i = 0; i < n; i++) {
        char **field;

        if (table[i].kind != CONFIG_STRING)
            continue;
        field = (char **)((char *)dest + table[i].offset);
        free(*field);
        *field = NULL;
    }
}
