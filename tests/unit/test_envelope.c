/*
 * test_envelope.c - the CloudEvents envelope: required attributes, limits,
 * time, tenant, data, extensions, size, subject checks, build/parse round trip.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"
#include "json_strict.h"
#include "subjects.h"

/* 2026-11-22T10:00:00.000Z */
#define T0 1795341600000LL

#define GOOD                                                                                       \
    "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"/t\","                                    \
    "\"type\":\"licensebus.sample.increment.v1\",\"time\":\"2026-11-22T10:00:00Z\","               \
    "\"tenant\":\"acme\",\"data\":{\"n\":1}}"

/* The size limit as a size_t. */
#define MAX_BYTES ((size_t)ENVELOPE_MAX_BYTES)

/* Longest extension attribute name, as documented in schemas/envelope.json. */
#define EXTENSION_NAME_MAX 20

static enum lb_err parse(const char *text, struct lb_why *why)
{
    struct envelope e = {0};
    enum lb_err err = envelope_parse(text, strlen(text), &e, why);

    assert_true((err == LB_OK) == (e.root != NULL));
    envelope_release(&e);
    return err;
}

static void assert_refused(const char *text, const char *reason)
{
    struct lb_why why = {{0}};

    assert_int_equal(parse(text, &why), LB_EINVAL);
    if (strstr(why.text, reason) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" for %s", why.text, reason, text);
}

/*
 * GOOD with member `name` set to `value` (added when absent), or removed when
 * `value` is NULL. The caller frees the text.
 */
static char *good_with(const char *name, cJSON *value)
{
    cJSON *json = cJSON_Parse(GOOD);
    char *text;

    assert_non_null(json);
    cJSON_DeleteItemFromObjectCaseSensitive(json, name);
    if (value != NULL)
        cJSON_AddItemToObject(json, name, value);
    text = cJSON_PrintUnformatted(json);
    assert_non_null(text);
    cJSON_Delete(json);
    return text;
}

static enum lb_err parse_with(const char *name, cJSON *value, struct lb_why *why)
{
    char *text = good_with(name, value);
    enum lb_err err = parse(text, why);

    free(text);
    return err;
}

static void assert_with_refused(const char *name, cJSON *value, const char *reason)
{
    struct lb_why why = {{0}};

    assert_int_equal(parse_with(name, value, &why), LB_EINVAL);
    if (strstr(why.text, reason) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" for %s", why.text, reason, name);
}

static void assert_with_ok(const char *name, cJSON *value)
{
    struct lb_why why = {{0}};

    if (parse_with(name, value, &why) != LB_OK)
        fail_msg("%s refused: %s", name, why.text);
}

/* A string of `len` copies of `c`; the caller frees it. */
static char *repeat(char c, size_t len)
{
    char *s = malloc(len + 1);

    assert_non_null(s);
    memset(s, c, len);
    s[len] = '\0';
    return s;
}

static void test_valid(void **state)
{
    struct envelope e = {0};

    (void)state;
    assert_int_equal(envelope_parse(GOOD, strlen(GOOD), &e, NULL), LB_OK);
    assert_string_equal(e.id, "e1");
    assert_string_equal(e.source, "/t");
    assert_string_equal(e.type, "licensebus.sample.increment.v1");
    assert_string_equal(e.tenant, "acme");
    assert_string_equal(e.time, "2026-11-22T10:00:00Z");
    assert_int_equal(e.time_ms, T0);
    assert_null(e.subject_attr);
    assert_non_null(e.data);
    assert_int_equal(cJSON_GetObjectItem(e.data, "n")->valuedouble, 1);
    envelope_release(&e);
    assert_null(e.root);
    envelope_release(&e); /* released twice is harmless */
    envelope_release(NULL);
}

static void test_optional_attributes(void **state)
{
    const char *text = "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"/t\",\"type\":\"x\","
                       "\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"_sys\",\"subject\":\"c/1\","
                       "\"datacontenttype\":\"application/json\",\"dataschema\":\"s.json\"}";
    struct envelope e = {0};

    (void)state;
    assert_int_equal(envelope_parse(text, strlen(text), &e, NULL), LB_OK);
    assert_string_equal(e.subject_attr, "c/1");
    assert_string_equal(e.type, "x"); /* any type parses; the subject check judges it */
    assert_null(e.data);              /* data is optional */
    envelope_release(&e);
}

static void test_ret_untouched_on_failure(void **state)
{
    struct envelope e;
    struct lb_why why = {{0}};

    (void)state;
    memset(&e, 0x5a, sizeof(e));
    assert_int_equal(envelope_parse("[]", 2, &e, &why), LB_EINVAL);
    assert_string_equal(why.text, "an event must be a JSON object");
    assert_int_equal(((unsigned char *)&e)[0], 0x5a);
    assert_int_equal(envelope_parse("{\"a\":", 5, &e, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "not valid JSON"));
    assert_int_equal(((unsigned char *)&e)[0], 0x5a);
}

static void test_missing_attributes(void **state)
{
    const char *names[] = {"specversion", "id", "source", "type", "time", "tenant"};
    char reason[64];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(reason, sizeof(reason), "CloudEvents attribute \"%s\" is required", names[i]);
        assert_with_refused(names[i], NULL, reason);
    }
}

static void test_attribute_types(void **state)
{
    const char *names[] = {"specversion", "id",      "source",          "type",      "time",
                           "tenant",      "subject", "datacontenttype", "dataschema"};
    char reason[64];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(reason, sizeof(reason), "attribute \"%s\" must be a string", names[i]);
        assert_with_refused(names[i], cJSON_CreateNumber(1), reason);
        assert_with_refused(names[i], cJSON_CreateNull(), reason);
        snprintf(reason, sizeof(reason), "attribute \"%s\" must not be empty", names[i]);
        assert_with_refused(names[i], cJSON_CreateString(""), reason);
    }
}

static void test_specversion(void **state)
{
    (void)state;
    assert_with_refused("specversion", cJSON_CreateString("0.3"),
                        "attribute \"specversion\" must be \"1.0\", not \"0.3\"");
    assert_with_refused("specversion", cJSON_CreateString("1.0 "), "must be \"1.0\"");
    assert_with_refused("specversion", cJSON_CreateNumber(1.0), "must be a string");
    assert_refused("{\"specversion\":\"1.0\",\"specversion\":\"0.3\"}",
                   "duplicate key \"specversion\"");
}

/* id, source, type and tenant at their length limits and one past. */
static void test_length_limits(void **state)
{
    static const struct {
        const char *name;
        size_t max;
        char fill;
    } limits[] = {
        {"id", ENVELOPE_ID_MAX, 'i'},
        {"source", ENVELOPE_SOURCE_MAX, 's'},
        {"type", ENVELOPE_TYPE_MAX, 't'},
        {"tenant", SUBJECT_TOKEN_MAX, 'o'},
    };
    char reason[64];

    (void)state;
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        char *at = repeat(limits[i].fill, limits[i].max);
        char *past = repeat(limits[i].fill, limits[i].max + 1);

        assert_with_ok(limits[i].name, cJSON_CreateString(at));
        snprintf(reason, sizeof(reason), "attribute \"%s\" is longer than %zu bytes",
                 limits[i].name, limits[i].max);
        assert_with_refused(limits[i].name, cJSON_CreateString(past), reason);
        free(at);
        free(past);
    }
}

static void test_id_characters(void **state)
{
    (void)state;
    assert_with_ok("id", cJSON_CreateString("!~a-Z_0:9/#"));
    assert_with_refused("id", cJSON_CreateString("has space"), "printable ASCII without spaces");
    assert_with_refused("id", cJSON_CreateString("tab\there"), "printable ASCII");
    assert_with_refused("id", cJSON_CreateString("del\x7f"), "printable ASCII");
    assert_with_refused("id", cJSON_CreateString("caf\xc3\xa9"), "printable ASCII");
}

static void test_tenant(void **state)
{
    (void)state;
    assert_with_ok("tenant", cJSON_CreateString("_sys"));
    assert_with_ok("tenant", cJSON_CreateString("0rg-A_1"));
    assert_with_refused("tenant", cJSON_CreateString("a.b"), "attribute \"tenant\" \"a.b\"");
    assert_with_refused("tenant", cJSON_CreateString("_x"), "is not an org id");
    assert_with_refused("tenant", cJSON_CreateString("-x"), "is not an org id");
    assert_with_refused("tenant", cJSON_CreateString("*"), "is not an org id");
}

static void test_data(void **state)
{
    (void)state;
    assert_with_ok("data", cJSON_CreateObject());
    assert_with_refused("data", cJSON_CreateIntArray((const int[]){1}, 1),
                        "attribute \"data\" must be a JSON object");
    assert_with_refused("data", cJSON_CreateString("{}"), "must be a JSON object");
    assert_with_refused("data", cJSON_CreateNull(), "must be a JSON object");
    assert_with_refused("data_base64", cJSON_CreateString("AA=="),
                        "attribute \"data_base64\" is not accepted");
    assert_with_refused("datacontenttype", cJSON_CreateString("text/plain"),
                        "attribute \"datacontenttype\" must be \"application/json\"");
    assert_with_refused("datacontenttype", cJSON_CreateString("application/JSON"),
                        "application/json");
    /* What json_parse_strict refuses inside data refuses the whole event. */
    assert_refused("{\"specversion\":\"1.0\",\"data\":{\"n\":9007199254740993}}", "exceeds 2^53");
    assert_refused("{\"specversion\":\"1.0\",\"data\":{\"n\":1,\"n\":2}}",
                   "duplicate key \"n\" in object at depth 2");
}

static void test_extensions(void **state)
{
    char name[EXTENSION_NAME_MAX + 2];

    (void)state;
    assert_with_ok("traceparent", cJSON_CreateString("00-ab"));
    assert_with_ok("seq", cJSON_CreateNumber(3));
    assert_with_ok("replayed", cJSON_CreateTrue());
    memset(name, 'x', EXTENSION_NAME_MAX);
    name[EXTENSION_NAME_MAX] = '\0';
    assert_with_ok(name, cJSON_CreateString("at the limit"));
    name[EXTENSION_NAME_MAX] = 'x';
    name[EXTENSION_NAME_MAX + 1] = '\0';
    assert_with_refused(name, cJSON_CreateString("one past"),
                        "must be named with 1-20 of [a-z0-9]");
    assert_with_refused("Trace", cJSON_CreateString("x"), "extension attribute \"Trace\"");
    assert_with_refused("trace_id", cJSON_CreateString("x"), "extension attribute \"trace_id\"");
    assert_with_refused("", cJSON_CreateString("x"), "extension attribute \"\"");
    assert_with_refused("trace", cJSON_CreateObject(), "must be a string, number or boolean");
    assert_with_refused("trace", cJSON_CreateArray(), "must be a string, number or boolean");
    assert_with_refused("trace", cJSON_CreateNull(), "must be a string, number or boolean");
}

/* An event up to the padding string inside data, and what closes it. */
static const char size_head[] = "{\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"/t\","
                                "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\","
                                "\"tenant\":\"a\",\"data\":{\"pad\":\"";
static const char size_tail[] = "\"}}";

/* An event of exactly `size` bytes, padded inside data; not NUL-terminated. */
static char *event_of_size(size_t size)
{
    char *text = malloc(size);

    assert_non_null(text);
    memset(text, 'x', size);
    memcpy(text, size_head, sizeof(size_head) - 1);
    memcpy(text + size - (sizeof(size_tail) - 1), size_tail, sizeof(size_tail) - 1);
    return text;
}

static void test_size_limit(void **state)
{
    char *at = event_of_size(MAX_BYTES);
    char *past = event_of_size(MAX_BYTES + 1);
    struct envelope e = {0};
    struct lb_why why = {{0}};

    (void)state;
    assert_int_equal(envelope_parse(at, MAX_BYTES, &e, &why), LB_OK);
    assert_int_equal(strlen(cJSON_GetObjectItem(e.data, "pad")->valuestring),
                     MAX_BYTES - (sizeof(size_head) - 1) - (sizeof(size_tail) - 1));
    envelope_release(&e);
    assert_int_equal(envelope_parse(past, MAX_BYTES + 1, &e, &why), LB_ETOOBIG);
    assert_string_equal(why.text, "event of 1048577 bytes exceeds the limit of 1048576 bytes");
    assert_null(e.root);
    free(at);
    free(past);
}

static void assert_time(const char *text, int64_t expected)
{
    int64_t ms = -42;

    if (envelope_parse_time(text, &ms) != LB_OK)
        fail_msg("%s refused", text);
    if (ms != expected)
        fail_msg("%s gives %lld, not %lld", text, (long long)ms, (long long)expected);
}

static void assert_time_refused(const char *text, const char *reason)
{
    int64_t ms = -42;

    assert_int_equal(envelope_parse_time(text, &ms), LB_EINVAL);
    assert_int_equal(ms, -42);
    /* Through envelope_parse, the reason says what is wrong. */
    assert_with_refused("time", cJSON_CreateString(text), reason);
}

static void test_times(void **state)
{
    (void)state;
    assert_time("1970-01-01T00:00:00Z", 0);
    assert_time("2026-11-22T10:00:00Z", T0);
    assert_time("2026-11-22t10:00:00z", T0); /* RFC 3339 allows lower case */
    assert_time("2026-11-22T12:00:00+02:00", T0);
    assert_time("2026-11-22T04:30:00-05:30", T0);
    assert_time("2026-11-22T10:00:00-00:00", T0);
    assert_time("2026-11-23T09:59:00+23:59", T0);
    assert_time("2026-11-22T10:00:00.5Z", T0 + 500);
    assert_time("2026-11-22T10:00:00.05Z", T0 + 50);
    assert_time("2026-11-22T10:00:00.123Z", T0 + 123);
    assert_time("2026-11-22T10:00:00.123456789Z", T0 + 123); /* 9 digits, at the limit; cut */
    assert_time("2026-11-22T10:00:00.999999999Z", T0 + 999);
    assert_time("2028-02-29T00:00:00Z", 1835395200000LL);
    assert_time("2000-02-29T00:00:00Z", 951782400000LL);
    assert_time("2026-12-31T23:59:59.999Z", 1798761599999LL);
    assert_time("1970-01-01T01:00:00+01:00", 0);
    assert_time("9999-12-31T23:59:59.999Z", 253402300799999LL);
    assert_int_equal(envelope_parse_time(NULL, &(int64_t){0}), LB_EINVAL);

    assert_time_refused("2026-11-22T10:00:00.1234567890Z", "more than 9 digits after '.'");
    assert_time_refused("2027-02-29T00:00:00Z", "day 29 is out of range for 2027-02");
    assert_time_refused("2100-02-29T00:00:00Z", "day 29 is out of range for 2100-02");
    assert_time_refused("2026-02-30T00:00:00Z", "day 30 is out of range for 2026-02");
    assert_time_refused("2026-04-31T00:00:00Z", "day 31 is out of range");
    assert_time_refused("2026-11-00T00:00:00Z", "day 00 is out of range");
    assert_time_refused("2026-13-01T00:00:00Z", "month 13 is out of range");
    assert_time_refused("2026-00-01T00:00:00Z", "month 00 is out of range");
    assert_time_refused("2026-11-22T24:00:00Z", "24:00 is not a time of day");
    assert_time_refused("2026-11-22T23:60:00Z", "23:60 is not a time of day");
    assert_time_refused("2026-12-31T23:59:60Z", "leap seconds are not accepted");
    assert_time_refused("2026-11-22T10:00:61Z", "second 61 is out of range");
    assert_time_refused("2026-11-22T10:00:00", "no time zone");
    assert_time_refused("2026-11-22T10:00:00+0200", "the offset is not");
    assert_time_refused("2026-11-22T10:00:00+02", "the offset is not");
    assert_time_refused("2026-11-22T10:00:00+24:00", "offset 24:00 is out of range");
    assert_time_refused("2026-11-22T10:00:00+01:60", "offset 01:60 is out of range");
    assert_time_refused("2026-11-22 10:00:00Z", "not followed by 'T'");
    assert_time_refused("2026-11-22", "not followed by 'T'");
    assert_time_refused("2026-11-22T10:00Z", "HH:MM:SS");
    assert_time_refused("2026-1-22T10:00:00Z", "YYYY-MM-DD");
    assert_time_refused("yesterday", "YYYY-MM-DD");
    assert_time_refused("2026-11-22T10:00:00.Z", "no digits after '.'");
    assert_time_refused("2026-11-22T10:00:00,5Z", "no time zone");
    assert_time_refused("2026-11-22T10:00:00Zjunk", "unexpected characters after the time zone");
    assert_time_refused("1969-12-31T23:59:59.999Z", "before 1970-01-01T00:00:00Z");
    assert_time_refused("1970-01-01T00:30:00+01:00", "before 1970");
    assert_time_refused("0001-01-01T00:00:00Z", "before 1970");
    assert_time_refused("9999-12-31T23:59:59-00:01", "after 9999-12-31T23:59:59.999Z");
}

static void assert_format(int64_t ms, const char *expected)
{
    char text[32];

    memset(text, '#', sizeof(text));
    envelope_format_time(ms, text);
    assert_string_equal(text, expected);
}

static void test_format_time(void **state)
{
    char text[32];
    int64_t back = 0;

    (void)state;
    assert_format(0, "1970-01-01T00:00:00.000Z");
    assert_format(T0 + 123, "2026-11-22T10:00:00.123Z");
    assert_format(951782400000LL, "2000-02-29T00:00:00.000Z");
    assert_format(1835395200000LL - 1, "2028-02-28T23:59:59.999Z");
    assert_format(253402300799999LL, "9999-12-31T23:59:59.999Z");
    assert_format(253402300799999LL + 1, "9999-12-31T23:59:59.999Z"); /* clamped */
    assert_format(INT64_MAX, "9999-12-31T23:59:59.999Z");
    assert_format(-1, "1969-12-31T23:59:59.999Z"); /* exact, although parsing refuses it */
    assert_format(-62167219200000LL, "0000-01-01T00:00:00.000Z");
    assert_format(INT64_MIN, "0000-01-01T00:00:00.000Z"); /* clamped */
    /* Format and parse agree over 400 years (a whole Gregorian cycle), day by day plus a bit. */
    for (int64_t ms = 0; ms < 400LL * 366 * 86400000; ms += 86400000LL + 3600123) {
        envelope_format_time(ms, text);
        assert_int_equal(strlen(text), 24);
        assert_int_equal(envelope_parse_time(text, &back), LB_OK);
        assert_int_equal(back, ms);
    }
}

static void test_check_subject(void **state)
{
    struct envelope e = {0};
    struct lb_why why = {{0}};

    (void)state;
    assert_int_equal(envelope_parse(GOOD, strlen(GOOD), &e, NULL), LB_OK);
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sample.acme.increment", &why), LB_OK);
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sample.other.increment", &why),
                     LB_EFORBIDDEN);
    assert_string_equal(
        why.text, "tenant \"acme\" of the event differs from tenant \"other\" of its subject");
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sample.Acme.increment", &why),
                     LB_EFORBIDDEN);
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sample.acme.decrement", &why), LB_EINVAL);
    assert_string_equal(why.text, "type \"licensebus.sample.increment.v1\" does not match subject "
                                  "lb.evt.sample.acme.decrement: expected "
                                  "licensebus.sample.decrement.v<N>");
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sampl.acme.increment", &why), LB_EINVAL);
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sample.acme", &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "has 4 tokens"));
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sample.*.increment", &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "wildcard"));
    envelope_release(&e);
}

static void test_check_subject_type_forms(void **state)
{
    static const struct {
        const char *type;
        enum lb_err expected;
    } cases[] = {
        {"licensebus.sample.increment.v1", LB_OK},
        {"licensebus.sample.increment.v2", LB_OK},
        {"licensebus.sample.increment.v10", LB_OK},
        {"licensebus.sample.increment.v0", LB_EINVAL},
        {"licensebus.sample.increment.v01", LB_EINVAL},
        {"licensebus.sample.increment.v", LB_EINVAL},
        {"licensebus.sample.increment.v1x", LB_EINVAL},
        {"licensebus.sample.increment.V1", LB_EINVAL},
        {"licensebus.sample.increment.v-1", LB_EINVAL},
        {"licensebus.sample.increment", LB_EINVAL},
        {"licensebus.sample.incrementx.v1", LB_EINVAL},
        {"licensebus.samplex.increment.v1", LB_EINVAL},
        {"com.example.sample.increment.v1", LB_EINVAL},
        {"licensebus.sample.increment.v1.extra", LB_EINVAL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct envelope e = {0};
        char *text = good_with("type", cJSON_CreateString(cases[i].type));
        struct lb_why why = {{0}};

        assert_int_equal(envelope_parse(text, strlen(text), &e, NULL), LB_OK);
        if (envelope_check_subject(&e, "lb.evt.sample.acme.increment", &why) != cases[i].expected)
            fail_msg("type %s: expected %d (%s)", cases[i].type, cases[i].expected, why.text);
        envelope_release(&e);
        free(text);
    }
}

static void test_build_round_trip(void **state)
{
    struct envelope_spec spec = {.id = "01JD8Z3T2V6Q9R8S7T6V5W4X3Y",
                                 .source = "/licensebus/tally",
                                 .type = "licensebus.tally.counter_changed.v1",
                                 .tenant = "acme",
                                 .time_ms = T0 + 7,
                                 .subject_attr = "counters/c"};
    cJSON *data =
        cJSON_Parse("{\"counter\":\"c\",\"value\":9007199254740992,\"tags\":[\"\\u00e9\"]}");
    struct envelope e = {0};
    char *text = NULL;

    (void)state;
    assert_int_equal(envelope_build(&spec, data, &text), LB_OK);
    assert_string_equal(text, "{\"specversion\":\"1.0\",\"id\":\"01JD8Z3T2V6Q9R8S7T6V5W4X3Y\","
                              "\"source\":\"/licensebus/tally\","
                              "\"type\":\"licensebus.tally.counter_changed.v1\","
                              "\"time\":\"2026-11-22T10:00:00.007Z\",\"tenant\":\"acme\","
                              "\"subject\":\"counters/c\",\"datacontenttype\":\"application/json\","
                              "\"data\":{\"counter\":\"c\",\"value\":9007199254740992,"
                              "\"tags\":[\"\xc3\xa9\"]}}");
    assert_int_equal(envelope_parse(text, strlen(text), &e, NULL), LB_OK);
    assert_string_equal(e.id, spec.id);
    assert_string_equal(e.source, spec.source);
    assert_string_equal(e.type, spec.type);
    assert_string_equal(e.tenant, spec.tenant);
    assert_string_equal(e.subject_attr, spec.subject_attr);
    assert_int_equal(e.time_ms, spec.time_ms);
    assert_true(cJSON_Compare(e.data, data, true));
    assert_int_equal(envelope_check_subject(&e, "lb.evt.tally.acme.counter_changed", NULL), LB_OK);
    envelope_release(&e);
    free(text);
    cJSON_Delete(data);
}

/* The caller's data is left as it was, whether it is printed by reference or copied first. */
static void test_build_leaves_data_alone(void **state)
{
    const char *const inputs[] = {"{\"n\":3,\"o\":{\"a\":[1,2]}}",
                                  "{\"n\":9007199254740993,\"o\":{\"f\":0.30000000000000004}}"};
    struct envelope_spec spec = {
        .id = "x", .source = "/s", .type = "licensebus.tally.counter_changed.v1", .tenant = "t"};

    (void)state;
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        cJSON *data = cJSON_Parse(inputs[i]);
        cJSON *before = cJSON_Duplicate(data, true);
        char *text = NULL;

        assert_int_equal(envelope_build(&spec, data, &text), LB_OK);
        assert_true(cJSON_Compare(data, before, true));
        assert_true(cJSON_IsNumber(cJSON_GetObjectItem(data, "n")));
        assert_non_null(strstr(text, i == 0 ? "\"data\":{\"n\":3,\"o\":{\"a\":[1,2]}}"
                                            : "\"n\":9007199254740992"));
        free(text);
        cJSON_Delete(before);
        cJSON_Delete(data);
    }
}

static void test_build_without_data(void **state)
{
    struct envelope_spec spec = {
        .id = "x", .source = "/s", .type = "licensebus.clock.tick.v1", .tenant = "_sys"};
    struct envelope e = {0};
    char *text = NULL;

    (void)state;
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_OK);
    assert_null(strstr(text, "\"subject\""));
    assert_int_equal(envelope_parse(text, strlen(text), &e, NULL), LB_OK);
    assert_string_equal(e.time, "1970-01-01T00:00:00.000Z");
    assert_non_null(e.data);
    assert_null(e.data->child); /* {} */
    envelope_release(&e);
    free(text);
}

/* envelope_build refuses what envelope_parse would refuse, and leaves *ret_text alone. */
static void test_build_refused(void **state)
{
    const struct envelope_spec good = {
        .id = "x", .source = "/s", .type = "t", .tenant = "acme", .time_ms = T0};
    struct envelope_spec spec;
    char sentinel[] = "untouched";
    char *text = sentinel;
    char *long_id = repeat('i', ENVELOPE_ID_MAX + 1);
    cJSON *data;

    (void)state;
    spec = good;
    spec.id = "has space";
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    spec = good;
    spec.id = long_id;
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    spec = good;
    spec.tenant = "_bad";
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    spec = good;
    spec.source = "";
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    spec = good;
    spec.subject_attr = "";
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    spec = good;
    spec.type = NULL;
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    spec = good;
    spec.time_ms = -1;
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    spec.time_ms = 253402300799999LL + 1;
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    spec.time_ms = 253402300799999LL; /* at the limit */
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_OK);
    free(text);
    text = sentinel;
    assert_int_equal(envelope_build(NULL, NULL, &text), LB_EINVAL);

    data = cJSON_CreateArray();
    assert_int_equal(envelope_build(&good, data, &text), LB_EINVAL);
    cJSON_Delete(data);
    data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "n", 9007199254740994.0); /* past 2^53 */
    assert_int_equal(envelope_build(&good, data, &text), LB_EINVAL);
    cJSON_Delete(data);
    data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "n", 1);
    cJSON_AddNumberToObject(data, "n", 2); /* cJSON does not check */
    assert_int_equal(envelope_build(&good, data, &text), LB_EINVAL);
    cJSON_Delete(data);
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "s", "bad \xff");
    assert_int_equal(envelope_build(&good, data, &text), LB_EINVAL);
    cJSON_Delete(data);
    data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "nan", NAN);
    assert_int_equal(envelope_build(&good, data, &text), LB_EINVAL);
    cJSON_Delete(data);
    data = cJSON_CreateObject();
    cJSON_AddRawToObject(data, "raw", "1");
    assert_int_equal(envelope_build(&good, data, &text), LB_EINVAL);
    cJSON_Delete(data);
    spec = good;
    spec.source = "/caf\xc3"; /* cut UTF-8 */
    assert_int_equal(envelope_build(&spec, NULL, &text), LB_EINVAL);
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "big", long_id);
    cJSON_AddItemToObject(data, "pad", cJSON_CreateString("")); /* fine */
    assert_int_equal(envelope_build(&good, data, &text), LB_OK);
    free(text);
    text = sentinel;
    cJSON_Delete(data);
    assert_string_equal(text, "untouched");
    free(long_id);
}

/* data nested `levels` deep below the data object itself; the caller deletes it. */
static cJSON *deep_data(int levels)
{
    cJSON *data = cJSON_CreateObject();
    cJSON *inner = cJSON_CreateArray();

    cJSON_AddItemToObject(data, "deep", inner);
    for (int i = 1; i < levels; i++) {
        cJSON *next = cJSON_CreateArray();

        cJSON_AddItemToArray(inner, next);
        inner = next;
    }
    return data;
}

/* The event is at depth 1 and data at 2, so data may nest JSON_MAX_DEPTH - 2 more levels. */
static void test_build_depth_limit(void **state)
{
    const struct envelope_spec spec = {
        .id = "x", .source = "/s", .type = "t", .tenant = "acme", .time_ms = T0};
    cJSON *data = deep_data(JSON_MAX_DEPTH - 2);
    struct envelope e = {0};
    char *text = NULL;

    (void)state;
    assert_int_equal(envelope_build(&spec, data, &text), LB_OK); /* at the limit */
    assert_int_equal(envelope_parse(text, strlen(text), &e, NULL), LB_OK);
    envelope_release(&e);
    free(text);
    text = NULL;
    cJSON_Delete(data);
    data = deep_data(JSON_MAX_DEPTH - 1); /* one past */
    assert_int_equal(envelope_build(&spec, data, &text), LB_EINVAL);
    assert_null(text);
    cJSON_Delete(data);
}

/* Numbers that cJSON 1.7.15 prints lossily come back bit for bit. */
static void test_build_numbers_exact(void **state)
{
    static const double values[] = {9007199254740992.0,
                                    -9007199254740992.0,
                                    9007199254740990.0,
                                    0.1 + 0.2,
                                    1e-300,
                                    123456789.12345679,
                                    4503599627370497.0,
                                    0.0,
                                    -0.5,
                                    1e15,
                                    999999999999999.0};
    const struct envelope_spec spec = {
        .id = "x", .source = "/s", .type = "t", .tenant = "acme", .time_ms = T0};
    cJSON *data = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(data, "list");
    struct envelope e = {0};
    char *text = NULL;
    const cJSON *item;
    size_t i = 0;

    (void)state;
    for (size_t k = 0; k < sizeof(values) / sizeof(values[0]); k++)
        cJSON_AddItemToArray(list, cJSON_CreateNumber(values[k]));
    cJSON_AddNumberToObject(data, "keyed", 0.1 + 0.2); /* keys survive the replacement */
    assert_int_equal(envelope_build(&spec, data, &text), LB_OK);
    assert_non_null(strstr(text, "\"keyed\":0.30000000000000004"));
    assert_int_equal(envelope_parse(text, strlen(text), &e, NULL), LB_OK);
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(e.data, "list"))
    {
        if (item->valuedouble != values[i])
            fail_msg("%.17g came back as %.17g in %s", values[i], item->valuedouble, text);
        i++;
    }
    assert_int_equal(i, sizeof(values) / sizeof(values[0]));
    assert_true(cJSON_GetObjectItem(e.data, "keyed")->valuedouble == 0.1 + 0.2);
    envelope_release(&e);
    free(text);
    cJSON_Delete(data);
}

static void test_build_size_limit(void **state)
{
    const struct envelope_spec spec = {
        .id = "x", .source = "/s", .type = "t", .tenant = "acme", .time_ms = T0};
    const size_t overhead = strlen("{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\","
                                   "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00.000Z\","
                                   "\"tenant\":\"acme\",\"datacontenttype\":\"application/json\","
                                   "\"data\":{\"p\":\"\"}}");
    char *pad = repeat('p', MAX_BYTES - overhead);
    cJSON *data = cJSON_CreateObject();
    char *text = NULL;

    (void)state;
    cJSON_AddStringToObject(data, "p", pad);
    assert_int_equal(envelope_build(&spec, data, &text), LB_OK); /* exactly at the limit */
    assert_int_equal(strlen(text), MAX_BYTES);
    free(text);
    text = NULL;
    cJSON_Delete(data);
    free(pad);
    pad = repeat('p', MAX_BYTES - overhead + 1);
    data = cJSON_CreateObject();
    cJSON_AddStringToObject(data, "p", pad);
    assert_int_equal(envelope_build(&spec, data, &text), LB_ETOOBIG); /* one past */
    assert_null(text);
    cJSON_Delete(data);
    free(pad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_optional_attributes),
        cmocka_unit_test(test_ret_untouched_on_failure),
        cmocka_unit_test(test_missing_attributes),
        cmocka_unit_test(test_attribute_types),
        cmocka_unit_test(test_specversion),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_id_characters),
        cmocka_unit_test(test_tenant),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_check_subject),
        cmocka_unit_test(test_check_subject_type_forms),
        cmocka_unit_test(test_build_round_trip),
        cmocka_unit_test(test_build_leaves_data_alone),
        cmocka_unit_test(test_build_without_data),
        cmocka_unit_test(test_build_refused),
        cmocka_unit_test(test_build_depth_limit),
        cmocka_unit_test(test_build_numbers_exact),
        cmocka_unit_test(test_build_size_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
