/*
 * envelope.c - CloudEvents 1.0 structured JSON: validation and building.
 */
#include "envelope.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "subjects.h"

/* Longest extension attribute name (CloudEvents recommends 20). */
#define EXTENSION_NAME_MAX 20

static const char *const known_attributes[] = {
    "specversion",     "id",         "source", "type", "time", "tenant", "subject",
    "datacontenttype", "dataschema", "data",   NULL,
};

/* ---- time ------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *ret_y, unsigned *ret_m, unsigned *ret_d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *ret_d = doy - (153 * mp + 2) / 5 + 1;
    *ret_m = mp < 10 ? mp + 3 : mp - 9;
    *ret_y = (int)(yoe + era * 400 + (*ret_m <= 2));
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Reads exactly `n` digits. */
static bool digits(const char **p, int n, int *ret)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *ret = v;
    return true;
}

enum lb_err envelope_parse_time(const char *text, int64_t *ret_ms)
{
    const char *p = text;
    int y, mo, d, h, mi, s, ms = 0, off = 0;

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || (*p != 'T' && *p != 't') || !(++p) || !digits(&p, 2, &h) ||
        *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &s))
        return LB_EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        s > 59)
        return LB_EINVAL;
    if (*p == '.') {
        int n = 0;

        p++;
        while (*p >= '0' && *p <= '9' && n < 9) {
            if (n < 3)
                ms = ms * 10 + (*p - '0');
            p++;
            n++;
        }
        if (n == 0 || (*p >= '0' && *p <= '9'))
            return LB_EINVAL;
        for (int k = n; k < 3; k++)
            ms *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh, om;

        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return LB_EINVAL;
        off = sign * (oh * 60 + om);
    } else {
        return LB_EINVAL;
    }
    if (*p != '\0')
        return LB_EINVAL;
    *ret_ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + (int64_t)h * 3600 +
                (int64_t)mi * 60 + s) -
               (int64_t)off * 60) *
                  1000 +
              ms;
    return LB_OK;
}

void envelope_format_time(int64_t ms, char ret_text[32])
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    int64_t rem = secs - days * 86400;
    char text[96];
    size_t len;
    int y;
    unsigned m, d;

    civil_from_days(days, &y, &m, &d);
    snprintf(text, sizeof(text), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60), (int)(ms - secs * 1000));
    len = strnlen(text, 31); /* 24 characters for years 0000-9999 */
    memcpy(ret_text, text, len);
    ret_text[len] = '\0';
}

/* ---- parse -------------------------------------------------------------------------- */

static bool is_known(const char *name)
{
    for (const char *const *k = known_attributes; *k; k++) {
        if (strcmp(*k, name) == 0)
            return true;
    }
    return false;
}

static bool extension_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > EXTENSION_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return false;
    }
    return true;
}

static bool printable_no_space(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
            return false;
    }
    return true;
}

/* A required string attribute of 1..max bytes. */
static enum lb_err required(const cJSON *root, const char *name, size_t max, const char **ret,
                            struct lb_why *why)
{
    enum lb_err err = json_get_string(root, name, max, ret, why);

    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "CloudEvents attribute \"%s\" is required", name);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "CloudEvents attribute %s", why->text);
    return LB_OK;
}

static enum lb_err check_attributes(const cJSON *root, struct lb_why *why)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, root)
    {
        if (is_known(item->string))
            continue;
        if (!extension_name_valid(item->string))
            return lb_fail(why, LB_EINVAL, "extension attribute \"%.40s\" must be 1-%d of [a-z0-9]",
                           item->string, EXTENSION_NAME_MAX);
        if (!cJSON_IsString(item) && !cJSON_IsNumber(item) && !cJSON_IsBool(item))
            return lb_fail(why, LB_EINVAL,
                           "extension attribute \"%s\" must be a string, number or boolean",
                           item->string);
    }
    return LB_OK;
}

static enum lb_err optional_string(const cJSON *root, const char *name, const char **ret,
                                   struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);

    *ret = NULL;
    if (item == NULL)
        return LB_OK;
    if (!cJSON_IsString(item))
        return lb_fail(why, LB_EINVAL, "CloudEvents attribute \"%s\" must be a string", name);
    *ret = item->valuestring;
    return LB_OK;
}

static enum lb_err validate(cJSON *root, struct envelope *e, struct lb_why *why)
{
    const char *specversion;
    const char *content_type;
    const char *dataschema;
    cJSON *data;
    enum lb_err err;

    if (!cJSON_IsObject(root))
        return lb_fail(why, LB_EINVAL, "an event must be a JSON object");
    if (cJSON_GetObjectItemCaseSensitive(root, "data_base64") != NULL)
        return lb_fail(why, LB_EINVAL, "data_base64 is not accepted: data must be a JSON object");
    err = required(root, "specversion", 8, &specversion, why);
    if (err == LB_OK && strcmp(specversion, "1.0") != 0)
        err = lb_fail(why, LB_EINVAL, "specversion must be \"1.0\", not \"%.8s\"", specversion);
    if (err == LB_OK)
        err = required(root, "id", ENVELOPE_ID_MAX, &e->id, why);
    if (err == LB_OK && !printable_no_space(e->id))
        err = lb_fail(why, LB_EINVAL, "id must be printable ASCII without spaces");
    if (err == LB_OK)
        err = required(root, "source", ENVELOPE_SOURCE_MAX, &e->source, why);
    if (err == LB_OK)
        err = required(root, "type", ENVELOPE_TYPE_MAX, &e->type, why);
    if (err == LB_OK)
        err = required(root, "time", 64, &e->time, why);
    if (err == LB_OK && envelope_parse_time(e->time, &e->time_ms) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "time \"%.40s\" is not an RFC 3339 date-time", e->time);
    if (err == LB_OK)
        err = required(root, "tenant", SUBJECT_TOKEN_MAX, &e->tenant, why);
    if (err == LB_OK && !subject_tenant_valid(e->tenant))
        err = lb_fail(why, LB_EINVAL, "tenant \"%.64s\" is not a valid org id", e->tenant);
    if (err == LB_OK)
        err = optional_string(root, "subject", &e->subject_attr, why);
    if (err == LB_OK)
        err = optional_string(root, "dataschema", &dataschema, why);
    if (err == LB_OK)
        err = optional_string(root, "datacontenttype", &content_type, why);
    if (err == LB_OK && content_type != NULL && strcmp(content_type, "application/json") != 0)
        err = lb_fail(why, LB_EINVAL, "datacontenttype must be application/json");
    if (err != LB_OK)
        return err;
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (data != NULL && !cJSON_IsObject(data))
        return lb_fail(why, LB_EINVAL, "data must be a JSON object");
    e->data = data;
    return check_attributes(root, why);
}

enum lb_err envelope_parse(const char *bytes, size_t len, struct envelope *ret, struct lb_why *why)
{
    struct envelope e = {0};
    enum lb_err err;

    if (len > (size_t)ENVELOPE_MAX_BYTES)
        return lb_fail(why, LB_ETOOBIG, "event of %zu bytes exceeds the limit of %d bytes", len,
                       ENVELOPE_MAX_BYTES);
    err = json_parse_strict(bytes, len, &e.root, why);
    if (err != LB_OK)
        return err;
    err = validate(e.root, &e, why);
    if (err != LB_OK) {
        cJSON_Delete(e.root);
        return err;
    }
    *ret = e;
    return LB_OK;
}

void envelope_release(struct envelope *e)
{
    cJSON_Delete(e->root);
    memset(e, 0, sizeof(*e));
}

enum lb_err envelope_check_subject(const struct envelope *e, const char *subject,
                                   struct lb_why *why)
{
    struct event_subject parts;
    char expected[ENVELOPE_TYPE_MAX + 1];
    size_t n;
    const char *version;
    enum lb_err err;

    err = subject_parse_event(subject, &parts, why);
    if (err != LB_OK)
        return err;
    if (strcmp(parts.tenant, e->tenant) != 0)
        return lb_fail(why, LB_EFORBIDDEN,
                       "tenant \"%.64s\" of the event does not match tenant \"%s\" of its subject",
                       e->tenant, parts.tenant);
    n = (size_t)snprintf(expected, sizeof(expected), "licensebus.%s.%s.v", parts.domain,
                         parts.name);
    version = e->type + n;
    if (n >= sizeof(expected) || strncmp(e->type, expected, n) != 0 || *version < '1' ||
        *version > '9' || strspn(version, "0123456789") != strlen(version))
        return lb_fail(why, LB_EINVAL, "type %.80s does not belong on %.120s (expected %sN)",
                       e->type, subject, expected);
    return LB_OK;
}

enum lb_err envelope_build(const struct envelope_spec *spec, const cJSON *data, char **ret_text)
{
    char when[32];
    cJSON *root = cJSON_CreateObject();
    cJSON *copy = data ? cJSON_Duplicate(data, true) : cJSON_CreateObject();
    char *text = NULL;
    bool ok;

    envelope_format_time(spec->time_ms, when);
    ok = root && copy && cJSON_AddStringToObject(root, "specversion", "1.0") &&
         cJSON_AddStringToObject(root, "id", spec->id) &&
         cJSON_AddStringToObject(root, "source", spec->source) &&
         cJSON_AddStringToObject(root, "type", spec->type) &&
         cJSON_AddStringToObject(root, "time", when) &&
         cJSON_AddStringToObject(root, "tenant", spec->tenant) &&
         (spec->subject_attr == NULL ||
          cJSON_AddStringToObject(root, "subject", spec->subject_attr)) &&
         cJSON_AddStringToObject(root, "datacontenttype", "application/json");
    if (ok && cJSON_AddItemToObject(root, "data", copy)) {
        copy = NULL;
        text = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(copy);
    cJSON_Delete(root);
    if (text == NULL)
        return LB_ENOMEM;
    *ret_text = text;
    return LB_OK;
}
