/*
 * test_subjects.c - the naming scheme: build, split, refuse.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "subjects.h"

static void test_tokens(void **state)
{
    char at_limit[SUBJECT_TOKEN_MAX + 2];

    (void)state;
    memset(at_limit, 'a', SUBJECT_TOKEN_MAX);
    at_limit[SUBJECT_TOKEN_MAX] = '\0';
    assert_true(subject_token_valid(at_limit));
    at_limit[SUBJECT_TOKEN_MAX] = 'a';
    at_limit[SUBJECT_TOKEN_MAX + 1] = '\0';
    assert_false(subject_token_valid(at_limit)); /* one past the limit */
    assert_false(subject_token_valid(""));
    assert_false(subject_token_valid("a.b"));
    assert_false(subject_token_valid("*"));
    assert_false(subject_token_valid(">"));
    assert_false(subject_token_valid("a b"));
    assert_true(subject_tenant_valid("acme-01"));
    assert_true(subject_tenant_valid("_sys"));
    assert_false(subject_tenant_valid("_acme"));
    assert_false(subject_tenant_valid("-acme"));
}

static void test_build(void **state)
{
    char s[SUBJECT_MAX];

    (void)state;
    assert_int_equal(subject_event(s, "licensing", "acme", "license_issued"), LB_OK);
    assert_string_equal(s, "lb.evt.licensing.acme.license_issued");
    assert_int_equal(subject_api(s, "tally", "add"), LB_OK);
    assert_string_equal(s, "lb.api.tally.add");
    assert_int_equal(subject_dead_letter(s, "tally"), LB_OK);
    assert_string_equal(s, "lb.dlq.tally");
    assert_int_equal(subject_stream_name(s, "user-groups"), LB_OK);
    assert_string_equal(s, "LB_USER_GROUPS");
    assert_int_equal(subject_event(s, "licensing", "ac.me", "x"), LB_EINVAL);
    assert_int_equal(subject_api(s, "tally", "a*"), LB_EINVAL);
}

static void test_parse(void **state)
{
    struct event_subject p;
    struct lb_why why = {{0}};

    (void)state;
    assert_int_equal(subject_parse_event("lb.evt.sample.acme.increment", &p, &why), LB_OK);
    assert_string_equal(p.domain, "sample");
    assert_string_equal(p.tenant, "acme");
    assert_string_equal(p.name, "increment");
    assert_int_equal(subject_parse_event("lb.evt.clock._sys.tick", &p, &why), LB_OK);
    assert_int_equal(subject_parse_event("lb.api.tally.add", &p, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "not an event subject"));
    assert_int_equal(subject_parse_event("lb.evt.sample.acme", &p, &why), LB_EINVAL);
    assert_int_equal(subject_parse_event("lb.evt.sample.acme.x.y", &p, &why), LB_EINVAL);
    assert_int_equal(subject_parse_event("lb.evt.sample..x", &p, &why), LB_EINVAL);
    assert_int_equal(subject_parse_event("lb.evt.sample.acme.x.", &p, &why), LB_EINVAL);
    assert_int_equal(subject_parse_event("lb.evt.sample.*.x", &p, &why), LB_EINVAL);
    assert_int_equal(subject_parse_event("lb.evt.sample._bad.x", &p, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "tenant"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
