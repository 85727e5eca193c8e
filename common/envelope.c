/*
 * envelope.c - CloudEvents 1.0 structured JSON: validation and building.
 *
 * envelope_parse checks the bytes with json_parse_strict, then the context
 * attributes against one table, then the extensions. envelope_build makes
 * the JSON with cJSON (working around its lossy printing of numbers) after
 * checking the tree against the same rules, so a service never emits an
 * event its consumers would refuse.
 *
 * Times: RFC 3339 with 'T' (or 't'), whole seconds, an optional fraction of
 * up to 9 digits (cut to milliseconds, not rounded), and Z or +-hh:mm. Leap
 * seconds (:60) and times before 1970-01-01T00:00:00Z are refused: epoch
 * milliseconds cannot hold the first, and the second is always a producer's
 * bug (an unset time such as Go's year 1). Dates are converted with Howard
 * Hinnant's days-from-civil arithmetic, exact for the proleptic Gregorian
 * calendar and free of timegm, TZ and locks.
 */
#include "envelope.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "subjects.h"

/* Longest extension attribute name (CloudEvents: "SHOULD NOT exceed 20"). */
#define EXTENSION_NAME_MAX 20

/* Event times accepted: 1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z. */
#define TIME_MIN_MS 0LL
#define TIME_MAX_MS 253402300799999LL
/* Earliest time envelope_format_time writes: 0000-01-01T00:00:00.000Z. */
#define TIME_FORMAT_MIN_MS (-62167219200000LL)
/* Most digits after the seconds' decimal point (nanoseconds). */
#define TIME_FRACTION_DIGITS_MAX 9
/* Characters of a refused time quoted in a reason. */
#define REASON_TIME_MAX 40

#define MS_PER_SECOND   1000LL
#define SECONDS_PER_DAY 86400LL
#define MS_PER_DAY      (MS_PER_SECOND * SECONDS_PER_DAY)

/* The only specversion and datacontenttype accepted. */
#define SPECVERSION       "1.0"
#define DATA_CONTENT_TYPE "application/json"

/* Every type reads "licensebus.<domain>.<name>.v<N>". */
#define TYPE_PREFIX "licensebus."

/* The context attributes this envelope knows; any other member but data is an extension. */
enum attribute {
    ATTR_SPECVERSION,
    ATTR_ID,
    ATTR_SOURCE,
    ATTR_TYPE,
    ATTR_TIME,
    ATTR_TENANT,
    ATTR_SUBJECT,
    ATTR_DATACONTENTTYPE,
    ATTR_DATASCHEMA,
    ATTR_COUNT,
};

/* What every known attribute must be: a string of 1..max_len bytes. */
struct attribute_rule {
    const char *name; /* the JSON member */
    bool required;    /* refused when absent */
    size_t max_len;   /* longest value in bytes; 0 when only ENVELOPE_MAX_BYTES bounds it */
};

static const struct attribute_rule attribute_rules[ATTR_COUNT] = {
    [ATTR_SPECVERSION] = {"specversion", true, 0},
    [ATTR_ID] = {"id", true, ENVELOPE_ID_MAX},
    [ATTR_SOURCE] = {"source", true, ENVELOPE_SOURCE_MAX},
    [ATTR_TYPE] = {"type", true, ENVELOPE_TYPE_MAX},
    [ATTR_TIME] = {"time", true, 0},
    [ATTR_TENANT] = {"tenant", true, SUBJECT_TOKEN_MAX},
    [ATTR_SUBJECT] = {"subject", false, 0},
    [ATTR_DATACONTENTTYPE] = {"datacontenttype", false, 0},
    [ATTR_DATASCHEMA] = {"dataschema", false, 0},
};

/* ---- time ------------------------------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static bool is_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;                                   /* [0, 399] */
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* The date `z` days after 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *ret_y, int *ret_m, int *ret_d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = floor_div(z, 146097);
    doe = z - era * 146097;                                      /* [0, 146096] */
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    mp = (5 * doy + 2) / 153;                                    /* [0, 11], March first */
    *ret_d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *ret_m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *ret_y = yoe + era * 400 + (*ret_m <= 2);
}

/* Reads exactly `n` digits at *p. */
static bool take_digits(const char **p, int n, int *ret)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *ret = v;
    return true;
}

/* Reads the character `c` at *p. */
static bool take_char(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static enum lb_err time_fail(struct lb_why *why, const char *text, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fails with "time "<text>" is not valid: <what>". */
static enum lb_err time_fail(struct lb_why *why, const char *text, const char *fmt, ...)
{
    char what[LB_WHY_MAX];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return lb_fail(why, LB_EINVAL, "time \"%.*s\" is not a valid RFC 3339 time: %s",
                   REASON_TIME_MAX, text, what);
}

/* Reads ".ddd" (1..9 digits) at *p, if present, as milliseconds. */
static enum lb_err take_fraction(const char **p, const char *text, int *ret_ms, struct lb_why *why)
{
    int digits = 0, ms = 0;

    if (!take_char(p, '.')) {
        *ret_ms = 0;
        return LB_OK;
    }
    for (; is_digit(**p) && digits <= TIME_FRACTION_DIGITS_MAX; (*p)++, digits++) {
        if (digits < 3)
            ms = ms * 10 + (**p - '0');
    }
    if (digits == 0)
        return time_fail(why, text, "no digits after '.'");
    if (digits > TIME_FRACTION_DIGITS_MAX)
        return time_fail(why, text, "more than %d digits after '.'", TIME_FRACTION_DIGITS_MAX);
    for (; digits < 3; digits++)
        ms *= 10;
    *ret_ms = ms;
    return LB_OK;
}

/* Reads "Z" or "+hh:mm" / "-hh:mm" at *p as minutes east of UTC. */
static enum lb_err take_zone(const char **p, const char *text, int *ret_minutes, struct lb_why *why)
{
    int sign, hours, minutes;

    if (take_char(p, 'Z') || take_char(p, 'z')) {
        *ret_minutes = 0;
        return LB_OK;
    }
    if (**p != '+' && **p != '-')
        return time_fail(why, text, "no time zone (Z or +hh:mm)");
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (!take_digits(p, 2, &hours) || !take_char(p, ':') || !take_digits(p, 2, &minutes))
        return time_fail(why, text, "the offset is not +hh:mm or -hh:mm");
    if (hours > 23 || minutes > 59)
        return time_fail(why, text, "offset %02d:%02d is out of range", hours, minutes);
    *ret_minutes = sign * (hours * 60 + minutes);
    return LB_OK;
}

/* envelope_parse_time with a reason. */
static enum lb_err parse_time(const char *text, int64_t *ret_ms, struct lb_why *why)
{
    const char *p = text;
    int year, month, day, hour, minute, second;
    int fraction_ms = 0, offset_minutes = 0;
    int64_t seconds, ms;
    enum lb_err err;

    if (!take_digits(&p, 4, &year) || !take_char(&p, '-') || !take_digits(&p, 2, &month) ||
        !take_char(&p, '-') || !take_digits(&p, 2, &day))
        return time_fail(why, text, "the date is not YYYY-MM-DD");
    if (!take_char(&p, 'T') && !take_char(&p, 't'))
        return time_fail(why, text, "the date is not followed by 'T'");
    if (!take_digits(&p, 2, &hour) || !take_char(&p, ':') || !take_digits(&p, 2, &minute) ||
        !take_char(&p, ':') || !take_digits(&p, 2, &second))
        return time_fail(why, text, "the time of day is not HH:MM:SS");
    err = take_fraction(&p, text, &fraction_ms, why);
    if (err == LB_OK)
        err = take_zone(&p, text, &offset_minutes, why);
    if (err != LB_OK)
        return err;
    if (*p != '\0')
        return time_fail(why, text, "unexpected characters after the time zone");
    if (month < 1 || month > 12)
        return time_fail(why, text, "month %02d is out of range", month);
    if (day < 1 || day > days_in_month(year, month))
        return time_fail(why, text, "day %02d is out of range for %04d-%02d", day, year, month);
    if (hour > 23 || minute > 59)
        return time_fail(why, text, "%02d:%02d is not a time of day", hour, minute);
    if (second == 60)
        return time_fail(why, text, "leap seconds are not accepted");
    if (second > 59)
        return time_fail(why, text, "second %02d is out of range", second);
    seconds = days_from_civil(year, month, day) * SECONDS_PER_DAY + hour * 3600LL + minute * 60LL +
              second - offset_minutes * 60LL;
    ms = seconds * MS_PER_SECOND + fraction_ms;
    if (ms < TIME_MIN_MS)
        return time_fail(why, text, "it is before 1970-01-01T00:00:00Z");
    if (ms > TIME_MAX_MS)
        return time_fail(why, text, "it is after 9999-12-31T23:59:59.999Z");
    *ret_ms = ms;
    return LB_OK;
}

enum lb_err envelope_parse_time(const char *text, int64_t *ret_ms)
{
    if (text == NULL)
        return LB_EINVAL;
    return parse_time(text, ret_ms, NULL);
}

/* Writes `v` as exactly `width` decimal digits (v >= 0 and fits). */
static void put_digits(char *out, int64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/*
 * Times outside 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z have no
 * four-digit year and are clamped to those bounds, so the text is always
 * RFC 3339. (Parsing still refuses anything before 1970.)
 */
void envelope_format_time(int64_t ms, char ret_text[32])
{
    int64_t days, in_day, year;
    int month, day;

    if (ms < TIME_FORMAT_MIN_MS)
        ms = TIME_FORMAT_MIN_MS;
    if (ms > TIME_MAX_MS)
        ms = TIME_MAX_MS;
    days = floor_div(ms, MS_PER_DAY);
    in_day = ms - days * MS_PER_DAY;
    civil_from_days(days, &year, &month, &day);
    memcpy(ret_text, "0000-00-00T00:00:00.000Z", sizeof("0000-00-00T00:00:00.000Z"));
    put_digits(ret_text, year, 4);
    put_digits(ret_text + 5, month, 2);
    put_digits(ret_text + 8, day, 2);
    put_digits(ret_text + 11, in_day / 3600000, 2);
    put_digits(ret_text + 14, in_day / 60000 % 60, 2);
    put_digits(ret_text + 17, in_day / 1000 % 60, 2);
    put_digits(ret_text + 20, in_day % 1000, 3);
}

/* ---- parse ------------------------------------------------------------------------------ */

static bool is_known_attribute(const char *name)
{
    if (strcmp(name, "data") == 0)
        return true;
    for (int i = 0; i < ATTR_COUNT; i++) {
        if (strcmp(attribute_rules[i].name, name) == 0)
            return true;
    }
    return false;
}

/* True for 1..EXTENSION_NAME_MAX of [a-z0-9]. */
static bool extension_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > EXTENSION_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z') || is_digit(name[i])))
            return false;
    }
    return true;
}

/* True when every byte is printable ASCII other than the space ('!'..'~'). */
static bool is_visible_ascii(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s < '!' || *s > '~')
            return false;
    }
    return true;
}

/* Reads a known attribute by its rule: absent (NULL) or a string of 1..max_len bytes. */
static enum lb_err read_attribute(const cJSON *root, const struct attribute_rule *rule,
                                  const char **ret_value, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, rule->name);
    size_t len;

    if (item == NULL) {
        if (rule->required)
            return lb_fail(why, LB_EINVAL, "CloudEvents attribute \"%s\" is required", rule->name);
        *ret_value = NULL;
        return LB_OK;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return lb_fail(why, LB_EINVAL, "attribute \"%s\" must be a string", rule->name);
    len = strlen(item->valuestring);
    if (len == 0)
        return lb_fail(why, LB_EINVAL, "attribute \"%s\" must not be empty", rule->name);
    if (rule->max_len != 0 && len > rule->max_len)
        return lb_fail(why, LB_EINVAL, "attribute \"%s\" is longer than %zu bytes", rule->name,
                       rule->max_len);
    *ret_value = item->valuestring;
    return LB_OK;
}

/* Checks the members that are not known attributes: extensions, and no data_base64. */
static enum lb_err check_extensions(const cJSON *root, struct lb_why *why)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, root)
    {
        const char *name = item->string;

        if (is_known_attribute(name))
            continue;
        if (strcmp(name, "data_base64") == 0)
            return lb_fail(why, LB_EINVAL,
                           "attribute \"data_base64\" is not accepted: data must be a JSON object");
        if (!extension_name_valid(name))
            return lb_fail(why, LB_EINVAL,
                           "extension attribute \"%.40s\" must be named with 1-%d of [a-z0-9]",
                           name, EXTENSION_NAME_MAX);
        if (!cJSON_IsString(item) && !cJSON_IsNumber(item) && !cJSON_IsBool(item))
            return lb_fail(why, LB_EINVAL,
                           "extension attribute \"%s\" must be a string, number or boolean", name);
    }
    return LB_OK;
}

/* Validates the tree of an event and fills `e` (but for e->root) on success. */
static enum lb_err validate(cJSON *root, struct envelope *e, struct lb_why *why)
{
    const char *values[ATTR_COUNT] = {NULL};
    cJSON *data;
    int64_t time_ms = 0;
    enum lb_err err;

    if (!cJSON_IsObject(root))
        return lb_fail(why, LB_EINVAL, "an event must be a JSON object");
    for (int i = 0; i < ATTR_COUNT; i++) {
        err = read_attribute(root, &attribute_rules[i], &values[i], why);
        if (err != LB_OK)
            return err;
    }
    if (strcmp(values[ATTR_SPECVERSION], SPECVERSION) != 0)
        return lb_fail(why, LB_EINVAL,
                       "attribute \"specversion\" must be \"" SPECVERSION "\", not \"%.16s\"",
                       values[ATTR_SPECVERSION]);
    if (!is_visible_ascii(values[ATTR_ID]))
        return lb_fail(why, LB_EINVAL, "attribute \"id\" must be printable ASCII without spaces");
    err = parse_time(values[ATTR_TIME], &time_ms, why);
    if (err != LB_OK)
        return err;
    if (!subject_tenant_valid(values[ATTR_TENANT]))
        return lb_fail(why, LB_EINVAL,
                       "attribute \"tenant\" \"%s\" is not an org id ([A-Za-z0-9][A-Za-z0-9_-]*) "
                       "or _sys",
                       values[ATTR_TENANT]);
    if (values[ATTR_DATACONTENTTYPE] != NULL &&
        strcmp(values[ATTR_DATACONTENTTYPE], DATA_CONTENT_TYPE) != 0)
        return lb_fail(why, LB_EINVAL,
                       "attribute \"datacontenttype\" must be \"" DATA_CONTENT_TYPE "\"");
    data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (data != NULL && !cJSON_IsObject(data))
        return lb_fail(why, LB_EINVAL, "attribute \"data\" must be a JSON object");
    err = check_extensions(root, why);
    if (err != LB_OK)
        return err;
    e->id = values[ATTR_ID];
    e->source = values[ATTR_SOURCE];
    e->type = values[ATTR_TYPE];
    e->tenant = values[ATTR_TENANT];
    e->time = values[ATTR_TIME];
    e->time_ms = time_ms;
    e->subject_attr = values[ATTR_SUBJECT];
    e->data = data;
    return LB_OK;
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
    if (e == NULL)
        return;
    cJSON_Delete(e->root);
    memset(e, 0, sizeof(*e));
}

/* ---- subject ---------------------------------------------------------------------------- */

/* Advances *p past `prefix`, if *p starts with it. */
static bool skip_prefix(const char **p, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strncmp(*p, prefix, n) != 0)
        return false;
    *p += n;
    return true;
}

/* True when `type` is "licensebus.<domain>.<name>.v<N>", N a positive integer. */
static bool type_matches(const char *type, const struct event_subject *parts)
{
    const char *p = type;

    if (!skip_prefix(&p, TYPE_PREFIX) || !skip_prefix(&p, parts->domain) || !skip_prefix(&p, ".") ||
        !skip_prefix(&p, parts->name) || !skip_prefix(&p, ".v"))
        return false;
    if (*p < '1' || *p > '9')
        return false;
    return p[strspn(p, "0123456789")] == '\0';
}

enum lb_err envelope_check_subject(const struct envelope *e, const char *subject,
                                   struct lb_why *why)
{
    struct event_subject parts;
    enum lb_err err;

    err = subject_parse_event(subject, &parts, why);
    if (err != LB_OK)
        return err;
    if (strcmp(parts.tenant, e->tenant) != 0)
        return lb_fail(why, LB_EFORBIDDEN,
                       "tenant \"%s\" of the event differs from tenant \"%s\" of its subject",
                       e->tenant, parts.tenant);
    if (!type_matches(e->type, &parts))
        return lb_fail(why, LB_EINVAL,
                       "type \"%.64s\" does not match subject %s: expected " TYPE_PREFIX
                       "%s.%s.v<N>",
                       e->type, subject, parts.domain, parts.name);
    return LB_OK;
}

/* ---- build ------------------------------------------------------------------------------ */

/*
 * The event is checked as a tree, not printed and parsed back (which would
 * double the cost of the outbox path): validate() applies envelope_parse's
 * rules to the attributes, json_check_tree those of json_parse_strict to
 * every value, and the printed length is held to ENVELOPE_MAX_BYTES. So what
 * is built here parses back (test_build_* check it byte for byte).
 */
enum lb_err envelope_build(const struct envelope_spec *spec, const cJSON *data, char **ret_text)
{
    char when[32];
    cJSON *root = NULL;
    cJSON *copy = NULL;
    char *text = NULL;
    struct envelope check = {0};
    enum lb_err err = LB_ENOMEM;

    if (spec == NULL || spec->id == NULL || spec->source == NULL || spec->type == NULL ||
        spec->tenant == NULL || (data != NULL && !cJSON_IsObject(data)))
        return LB_EINVAL;
    /* envelope_format_time clamps; a time it would change must not be emitted. */
    if (spec->time_ms < TIME_MIN_MS || spec->time_ms > TIME_MAX_MS)
        return LB_EINVAL;
    envelope_format_time(spec->time_ms, when);
    root = cJSON_CreateObject();
    /* `data` is the caller's: referred to, unless printing it exactly would change it. */
    if (data == NULL)
        copy = cJSON_CreateObject();
    else if (json_prints_unchanged(data))
        copy = cJSON_CreateObjectReference(data->child);
    else
        copy = cJSON_Duplicate(data, true);
    if (root == NULL || copy == NULL)
        goto cleanup;
    if (!cJSON_AddStringToObject(root, "specversion", SPECVERSION) ||
        !cJSON_AddStringToObject(root, "id", spec->id) ||
        !cJSON_AddStringToObject(root, "source", spec->source) ||
        !cJSON_AddStringToObject(root, "type", spec->type) ||
        !cJSON_AddStringToObject(root, "time", when) ||
        !cJSON_AddStringToObject(root, "tenant", spec->tenant) ||
        (spec->subject_attr != NULL &&
         !cJSON_AddStringToObject(root, "subject", spec->subject_attr)) ||
        !cJSON_AddStringToObject(root, "datacontenttype", DATA_CONTENT_TYPE) ||
        !cJSON_AddItemToObject(root, "data", copy))
        goto cleanup;
    copy = NULL; /* root owns it now */
    err = validate(root, &check, NULL);
    if (err == LB_OK)
        err = json_check_tree(root, NULL);
    if (err != LB_OK)
        goto cleanup;
    err = LB_ENOMEM;
    text = json_print(root);
    if (text == NULL)
        goto cleanup;
    if (strlen(text) > (size_t)ENVELOPE_MAX_BYTES) {
        err = LB_ETOOBIG;
        goto cleanup;
    }
    err = LB_OK;
    *ret_text = text;
    text = NULL;
cleanup:
    free(text);
    cJSON_Delete(copy);
    cJSON_Delete(root);
    return err;
}
