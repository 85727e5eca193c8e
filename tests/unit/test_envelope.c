/*
 * test_envelope.c - the CloudEvents envelope: required attributes, time,
 * tenant, extensions, size limit, subject checks, build/parse round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"

#define GOOD_HEAD "\"specversion\":\"1.0\",\"id\":\"e1\",\"source\":\"/t\","
#define GOOD                                                                                       \
    "{" GOOD_HEAD "\"type\":\"licensebus.sample.increment.v1\",\"time\":\"2026-11-22T10:00:00Z\"," \
    "\"tenant\":\"acme\",\"data\":{\"n\":1}}"

static enum lb_err parse(const char *text, struct lb_why *why)
{
    struct envelope e = {0};
    enum lb_err err = envelope_parse(text, strlen(text), &e, why);

    envelope_release(&e);
    return err;
}

static void assert_refused(const char *text, const char *reason_part)
{
    struct lb_why why = {{0}};

    assert_int_not_equal(parse(text, &why), LB_OK);
    if (strstr(why.text, reason_part) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", why.text, reason_part);
}

static void test_valid(void **state)
{
    struct envelope e = {0};

    (void)state;
    assert_int_equal(envelope_parse(GOOD, strlen(GOOD), &e, NULL), LB_OK);
    assert_string_equal(e.id, "e1");
    assert_string_equal(e.tenant, "acme");
    assert_int_equal(e.time_ms, 1795341600000LL);
    assert_non_null(e.data);
    envelope_release(&e);
    envelope_release(&e); /* released twice is harmless */
}

static void test_missing_attributes(void **state)
{
    const char *names[] = {"specversion", "id", "source", "type", "time", "tenant"};
    char text[512];

    (void)state;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct envelope e = {0};
        cJSON *json = cJSON_Parse(GOOD);
        char *printed;
        struct lb_why why = {{0}};

        cJSON_DeleteItemFromObject(json, names[i]);
        printed = cJSON_PrintUnformatted(json);
        snprintf(text, sizeof(text), "%s", printed);
        assert_int_equal(envelope_parse(text, strlen(text), &e, &why), LB_EINVAL);
        assert_non_null(strstr(why.text, names[i]));
        free(printed);
        cJSON_Delete(json);
    }
}

static void test_bad_attributes(void **state)
{
    (void)state;
    assert_refused("[]", "JSON object");
    assert_refused("{" GOOD_HEAD "\"specversion\":\"0.3\"}", "duplicate key");
    assert_refused("{\"specversion\":\"0.3\",\"id\":\"e\",\"source\":\"/t\",\"type\":\"t\","
                   "\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"acme\"}",
                   "\"specversion\" must be");
    assert_refused("{" GOOD_HEAD
                   "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"a.b\"}",
                   "tenant");
    assert_refused("{" GOOD_HEAD
                   "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"_x\"}",
                   "tenant");
    assert_refused("{" GOOD_HEAD "\"type\":\"t\",\"time\":\"yesterday\",\"tenant\":\"a\"}",
                   "RFC 3339");
    assert_refused("{" GOOD_HEAD
                   "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"a\","
                   "\"data\":[1]}",
                   "\"data\" must be a JSON object");
    assert_refused("{" GOOD_HEAD
                   "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"a\","
                   "\"data_base64\":\"AA==\"}",
                   "data_base64");
    assert_refused("{" GOOD_HEAD
                   "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"a\","
                   "\"Trace\":\"x\"}",
                   "extension attribute \"Trace\"");
    assert_refused("{" GOOD_HEAD
                   "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"a\","
                   "\"trace\":{}}",
                   "string, number or boolean");
    assert_refused("{" GOOD_HEAD
                   "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"a\","
                   "\"datacontenttype\":\"text/plain\"}",
                   "application/json");
    assert_refused("{\"specversion\":\"1.0\",\"id\":\"has space\",\"source\":\"/t\",\"type\":\"t\","
                   "\"time\":\"2026-11-22T10:00:00Z\",\"tenant\":\"a\"}",
                   "printable");
    assert_int_equal(parse("{" GOOD_HEAD "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\","
                           "\"tenant\":\"_sys\",\"traceparent\":\"00-ab\",\"seq\":3}",
                           NULL),
                     LB_OK);
}

static void test_size_limit(void **state)
{
    const char *head = "{" GOOD_HEAD "\"type\":\"t\",\"time\":\"2026-11-22T10:00:00Z\","
                       "\"tenant\":\"a\",\"data\":{\"pad\":\"";
    char *text = malloc(ENVELOPE_MAX_BYTES + 2);
    struct envelope e = {0};
    struct lb_why why = {{0}};

    (void)state;
    for (size_t size = ENVELOPE_MAX_BYTES; size <= ENVELOPE_MAX_BYTES + 1; size++) {
        memset(text, 'x', size);
        memcpy(text, head, strlen(head));
        memcpy(text + size - 3, "\"}}", 3);
        if (size == ENVELOPE_MAX_BYTES) {
            assert_int_equal(envelope_parse(text, size, &e, &why), LB_OK);
            envelope_release(&e);
        } else {
            assert_int_equal(envelope_parse(text, size, &e, &why), LB_ETOOBIG);
            assert_non_null(strstr(why.text, "1048576"));
        }
    }
    free(text);
}

static void test_times(void **state)
{
    int64_t ms = 0;

    (void)state;
    assert_int_equal(envelope_parse_time("1970-01-01T00:00:00Z", &ms), LB_OK);
    assert_int_equal(ms, 0);
    assert_int_equal(envelope_parse_time("2026-11-22T12:00:00+02:00", &ms), LB_OK);
    assert_int_equal(ms, 1795341600000LL);
    assert_int_equal(envelope_parse_time("2026-11-22T10:00:00.5Z", &ms), LB_OK);
    assert_int_equal(ms, 1795341600500LL);
    assert_int_equal(envelope_parse_time("2026-11-22T10:00:00.123456789Z", &ms), LB_OK);
    assert_int_equal(ms, 1795341600123LL);
    assert_int_equal(envelope_parse_time("2028-02-29T00:00:00Z", &ms), LB_OK);
    assert_int_equal(envelope_parse_time("2027-02-29T00:00:00Z", &ms), LB_EINVAL);
    assert_int_equal(envelope_parse_time("2026-02-30T00:00:00Z", &ms), LB_EINVAL);
    assert_int_equal(envelope_parse_time("2026-11-22T24:00:00Z", &ms), LB_EINVAL);
    assert_int_equal(envelope_parse_time("2026-11-22T10:00:00", &ms), LB_EINVAL);
    assert_int_equal(envelope_parse_time("2026-11-22 10:00:00Z", &ms), LB_EINVAL);
    assert_int_equal(envelope_parse_time("2026-11-22T10:00:00.Z", &ms), LB_EINVAL);
    assert_int_equal(envelope_parse_time("2026-11-22T10:00:00Zjunk", &ms), LB_EINVAL);
}

static void test_format_time(void **state)
{
    char text[32];
    int64_t back = 0;

    (void)state;
    envelope_format_time(1795341600123LL, text);
    assert_string_equal(text, "2026-11-22T10:00:00.123Z");
    assert_int_equal(envelope_parse_time(text, &back), LB_OK);
    assert_int_equal(back, 1795341600123LL);
    envelope_format_time(951782400000LL, text); /* a leap day */
    assert_string_equal(text, "2000-02-29T00:00:00.000Z");
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
    assert_non_null(strstr(why.text, "tenant"));
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sample.acme.decrement", &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "does not match subject"));
    assert_int_equal(envelope_check_subject(&e, "lb.evt.sample.acme", &why), LB_EINVAL);
    envelope_release(&e);
}

static void test_build_round_trip(void **state)
{
    struct envelope_spec spec = {.id = "01JD8Z3T2V6Q9R8S7T6V5W4X3Y",
                                 .source = "/licensebus/tally",
                                 .type = "licensebus.tally.counter_changed.v1",
                                 .tenant = "acme",
                                 .time_ms = 1795341600000LL};
    cJSON *data = cJSON_Parse("{\"counter\":\"c\",\"value\":1}");
    struct envelope e = {0};
    char *text = NULL;

    (void)state;
    assert_int_equal(envelope_build(&spec, data, &text), LB_OK);
    assert_int_equal(envelope_parse(text, strlen(text), &e, NULL), LB_OK);
    assert_string_equal(e.id, spec.id);
    assert_string_equal(e.time, "2026-11-22T10:00:00.000Z");
    assert_int_equal(cJSON_GetObjectItem(e.data, "value")->valueint, 1);
    assert_int_equal(envelope_check_subject(&e, "lb.evt.tally.acme.counter_changed", NULL), LB_OK);
    envelope_release(&e);
    free(text);
    cJSON_Delete(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),          cmocka_unit_test(test_missing_attributes),
        cmocka_unit_test(test_bad_attributes), cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_times),          cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_check_subject),  cmocka_unit_test(test_build_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
