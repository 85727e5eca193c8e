/*
 * json_strict.c - a pre-scan over the raw bytes refuses what cJSON would
 * accept silently (deep nesting, numbers past 2^53); a walk of the parsed
 * tree refuses duplicate keys.
 */
#include "json_strict.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Digits of 2^53; a literal with more integer digits is too large. */
#define SAFE_INTEGER_DIGITS 16

/* Judges a number literal from its text: exact for integers, by value otherwise. */
static bool number_in_range(const char *p, size_t n)
{
    size_t i = 0;
    size_t digits_start;
    size_t int_digits;
    bool integer = true;
    char buf[64];
    double v;

    if (i < n && p[i] == '-')
        i++;
    digits_start = i;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    int_digits = i - digits_start;
    if (i < n)
        integer = false; /* fraction or exponent */
    if (integer) {
        if (int_digits < SAFE_INTEGER_DIGITS)
            return true;
        if (int_digits > SAFE_INTEGER_DIGITS)
            return false;
        return memcmp(p + digits_start, "9007199254740992", SAFE_INTEGER_DIGITS) <= 0;
    }
    if (n >= sizeof(buf))
        return false;
    memcpy(buf, p, n);
    buf[n] = '\0';
    v = strtod(buf, NULL);
    return isfinite(v) && fabs(v) <= (double)JSON_MAX_SAFE_INTEGER;
}

/* Checks depth and number literals; strings are skipped with their escapes. */
static enum lb_err prescan(const char *text, size_t len, struct lb_why *why)
{
    int depth = 0;

    for (size_t i = 0; i < len; i++) {
        char c = text[i];

        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++) {
                if (text[i] == '\\')
                    i++;
            }
        } else if (c == '{' || c == '[') {
            if (++depth > JSON_MAX_DEPTH)
                return lb_fail(why, LB_EINVAL, "nesting deeper than %d at byte %zu", JSON_MAX_DEPTH,
                               i);
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;

            while (i + 1 < len && strchr("+-.eE0123456789", text[i + 1]) != NULL)
                i++;
            if (!number_in_range(text + start, i - start + 1))
                return lb_fail(why, LB_EINVAL, "number %.*s exceeds 2^53 at byte %zu",
                               (int)(i - start + 1 > 32 ? 32 : i - start + 1), text + start, start);
        }
    }
    return LB_OK;
}

static enum lb_err find_duplicates(const cJSON *node, int depth, struct lb_why *why)
{
    for (const cJSON *a = node->child; a != NULL; a = a->next) {
        if (cJSON_IsObject(node)) {
            for (const cJSON *b = a->next; b != NULL; b = b->next) {
                if (strcmp(a->string, b->string) == 0)
                    return lb_fail(why, LB_EINVAL, "duplicate key \"%.64s\" in object at depth %d",
                                   a->string, depth);
            }
        }
        if (a->child != NULL && find_duplicates(a, depth + 1, why) != LB_OK)
            return LB_EINVAL;
    }
    return LB_OK;
}

enum lb_err json_parse_strict(const char *text, size_t len, cJSON **ret_json, struct lb_why *why)
{
    const char *end = NULL;
    cJSON *json;
    enum lb_err err;

    if (len == 0)
        return lb_fail(why, LB_EINVAL, "empty input is not JSON");
    err = prescan(text, len, why);
    if (err != LB_OK)
        return err;
    json = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (json == NULL) {
        const char *at = cJSON_GetErrorPtr();

        return lb_fail(why, LB_EINVAL, "not valid JSON (at byte %zu)",
                       at && at >= text && at <= text + len ? (size_t)(at - text) : (size_t)0);
    }
    while (end != NULL && end < text + len && strchr(" \t\r\n", *end) != NULL && *end != '\0')
        end++;
    if (end != NULL && end < text + len) {
        cJSON_Delete(json);
        return lb_fail(why, LB_EINVAL, "unexpected bytes after the JSON value at byte %zu",
                       (size_t)(end - text));
    }
    err = find_duplicates(json, 1, why);
    if (err != LB_OK) {
        cJSON_Delete(json);
        return err;
    }
    *ret_json = json;
    return LB_OK;
}

enum lb_err json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max,
                         int64_t *ret_value, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    double v;

    if (item == NULL)
        return lb_fail(why, LB_ENOTFOUND, "%s is required", name);
    if (!cJSON_IsNumber(item))
        return lb_fail(why, LB_EINVAL, "%s must be an integer", name);
    v = item->valuedouble;
    if (v != floor(v))
        return lb_fail(why, LB_EINVAL, "%s must be an integer, not %g", name, v);
    if (v < (double)min || v > (double)max)
        return lb_fail(why, LB_EINVAL, "%s %.0f is outside [%lld, %lld]", name, v, (long long)min,
                       (long long)max);
    *ret_value = (int64_t)v;
    return LB_OK;
}

enum lb_err json_get_string(const cJSON *obj, const char *name, size_t max_len,
                            const char **ret_value, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    size_t len;

    if (item == NULL)
        return lb_fail(why, LB_ENOTFOUND, "%s is required", name);
    if (!cJSON_IsString(item))
        return lb_fail(why, LB_EINVAL, "%s must be a string", name);
    len = strlen(item->valuestring);
    if (len == 0)
        return lb_fail(why, LB_EINVAL, "%s must not be empty", name);
    if (len > max_len)
        return lb_fail(why, LB_EINVAL, "%s is longer than %zu bytes", name, max_len);
    *ret_value = item->valuestring;
    return LB_OK;
}
