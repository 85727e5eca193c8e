/*
 * test_subjects.c - the naming scheme: build, split, refuse with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "subjects.h"

/* A token of `len` copies of `c` (len <= SUBJECT_TOKEN_MAX + 1). */
static const char *token_of(char buf[SUBJECT_TOKEN_MAX + 2], char c, size_t len)
{
    memset(buf, c, len);
    buf[len] = '\0';
    return buf;
}

static void assert_parse_refused(const char *subject, const char *reason)
{
    struct event_subject parts;
    struct lb_why why = {{0}};

    memset(&parts, 0x5a, sizeof(parts));
    assert_int_equal(subject_parse_event(subject, &parts, &why), LB_EINVAL);
    assert_int_equal((unsigned char)parts.domain[0], 0x5a); /* untouched on failure */
    if (strstr(why.text, reason) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" for %s", why.text, reason, subject);
}

static void test_tokens(void **state)
{
    char buf[SUBJECT_TOKEN_MAX + 2];

    (void)state;
    assert_true(subject_token_valid(token_of(buf, 'a', SUBJECT_TOKEN_MAX)));      /* at the limit */
    assert_false(subject_token_valid(token_of(buf, 'a', SUBJECT_TOKEN_MAX + 1))); /* one past */
    assert_true(subject_token_valid("a"));
    assert_true(subject_token_valid("Az09_-"));
    assert_true(subject_token_valid("_leading-underscore"));
    assert_false(subject_token_valid(""));
    assert_false(subject_token_valid(NULL));
    assert_false(subject_token_valid("a.b"));
    assert_false(subject_token_valid("*"));
    assert_false(subject_token_valid(">"));
    assert_false(subject_token_valid("a*"));
    assert_false(subject_token_valid("a b"));
    assert_false(subject_token_valid("a\tb"));
    assert_false(subject_token_valid("caf\xc3\xa9"));
}

static void test_tenants(void **state)
{
    char buf[SUBJECT_TOKEN_MAX + 2];

    (void)state;
    assert_true(subject_tenant_valid("acme-01"));
    assert_true(subject_tenant_valid("0rg"));
    assert_true(subject_tenant_valid("A_b"));
    assert_true(subject_tenant_valid(SUBJECT_SYSTEM_TENANT));
    assert_true(subject_tenant_valid(token_of(buf, 'o', SUBJECT_TOKEN_MAX)));
    assert_false(subject_tenant_valid(token_of(buf, 'o', SUBJECT_TOKEN_MAX + 1)));
    assert_false(subject_tenant_valid("_acme"));
    assert_false(subject_tenant_valid("_sy"));
    assert_false(subject_tenant_valid("_sys_"));
    assert_false(subject_tenant_valid("_SYS"));
    assert_false(subject_tenant_valid("-acme"));
    assert_false(subject_tenant_valid(""));
    assert_false(subject_tenant_valid(NULL));
    assert_false(subject_tenant_valid("ac.me"));
}

static void test_build(void **state)
{
    char s[SUBJECT_MAX];
    char d[SUBJECT_TOKEN_MAX + 2], t[SUBJECT_TOKEN_MAX + 2], n[SUBJECT_TOKEN_MAX + 2];

    (void)state;
    assert_int_equal(subject_event(s, "licensing", "acme", "license_issued"), LB_OK);
    assert_string_equal(s, "lb.evt.licensing.acme.license_issued");
    assert_int_equal(subject_event(s, "clock", "_sys", "tick"), LB_OK);
    assert_string_equal(s, "lb.evt.clock._sys.tick");
    assert_int_equal(subject_api(s, "tally", "add"), LB_OK);
    assert_string_equal(s, "lb.api.tally.add");
    assert_int_equal(subject_dead_letter(s, "tally"), LB_OK);
    assert_string_equal(s, "lb.dlq.tally");
    assert_int_equal(subject_stream_name(s, "user-groups"), LB_OK);
    assert_string_equal(s, "LB_USER_GROUPS");
    assert_int_equal(subject_stream_name(s, "Sample_2"), LB_OK);
    assert_string_equal(s, "LB_SAMPLE_2");
    /* The longest tokens still fit. */
    token_of(d, 'd', SUBJECT_TOKEN_MAX);
    token_of(t, 't', SUBJECT_TOKEN_MAX);
    token_of(n, 'n', SUBJECT_TOKEN_MAX);
    assert_int_equal(subject_event(s, d, t, n), LB_OK);
    assert_int_equal(strlen(s), 7 + 3 * SUBJECT_TOKEN_MAX + 2);
    assert_int_equal(subject_stream_name(s, d), LB_OK);
    assert_int_equal(strlen(s), 3 + SUBJECT_TOKEN_MAX);
    token_of(d, 'd', SUBJECT_TOKEN_MAX + 1);
    assert_int_equal(subject_event(s, d, "acme", "x"), LB_EINVAL);
    assert_int_equal(subject_stream_name(s, d), LB_EINVAL);
    /* Bad tokens are refused by every builder. */
    assert_int_equal(subject_event(s, "licensing", "ac.me", "x"), LB_EINVAL);
    assert_int_equal(subject_event(s, "licensing", "_x", "x"), LB_EINVAL);
    assert_int_equal(subject_event(s, "licensing", "acme", ">"), LB_EINVAL);
    assert_int_equal(subject_event(s, "", "acme", "x"), LB_EINVAL);
    assert_int_equal(subject_api(s, "tally", "a*"), LB_EINVAL);
    assert_int_equal(subject_api(s, "ta lly", "add"), LB_EINVAL);
    assert_int_equal(subject_dead_letter(s, "a.b"), LB_EINVAL);
    assert_int_equal(subject_stream_name(s, ""), LB_EINVAL);
}

static void test_parse(void **state)
{
    struct event_subject p;
    struct lb_why why = {{0}};
    char s[SUBJECT_MAX];
    char t[SUBJECT_TOKEN_MAX + 2];

    (void)state;
    assert_int_equal(subject_parse_event("lb.evt.sample.acme.increment", &p, &why), LB_OK);
    assert_string_equal(p.domain, "sample");
    assert_string_equal(p.tenant, "acme");
    assert_string_equal(p.name, "increment");
    assert_int_equal(p.partition, -1);
    /* In a partitioned deployment NATS appends the tenant's partition. */
    assert_int_equal(subject_parse_event("lb.evt.sample.acme.increment.7", &p, &why), LB_OK);
    assert_string_equal(p.name, "increment");
    assert_int_equal(p.partition, 7);
    assert_int_equal(subject_parse_event("lb.evt.sample.acme.increment.1023", &p, &why), LB_OK);
    assert_int_equal(p.partition, 1023);
    assert_int_equal(subject_parse_event("lb.evt.clock._sys.tick", &p, &why), LB_OK);
    assert_string_equal(p.tenant, "_sys");
    /* Tokens at the limit parse back into the struct's fields. */
    token_of(t, 'x', SUBJECT_TOKEN_MAX);
    snprintf(s, sizeof(s), "lb.evt.%s.%s.%s", t, t, t);
    assert_int_equal(subject_parse_event(s, &p, &why), LB_OK);
    assert_string_equal(p.name, t);
    /* Round trip with the builder. */
    assert_int_equal(subject_event(s, "user-groups", "Org_1", "member-added"), LB_OK);
    assert_int_equal(subject_parse_event(s, &p, &why), LB_OK);
    assert_string_equal(p.domain, "user-groups");
    assert_string_equal(p.tenant, "Org_1");
    assert_string_equal(p.name, "member-added");
}

static void test_parse_refused(void **state)
{
    char s[SUBJECT_MAX + 8];
    char t[SUBJECT_TOKEN_MAX + 2];

    (void)state;
    assert_parse_refused("", "empty");
    assert_parse_refused("lb.api.tally.add", "not an event subject");
    assert_parse_refused("lb.evt", "not an event subject");
    assert_parse_refused("LB.EVT.sample.acme.x", "not an event subject");
    assert_parse_refused("xlb.evt.sample.acme.x", "not an event subject");
    assert_parse_refused(".lb.evt.sample.acme.x", "not an event subject");
    assert_parse_refused("lb.evt.", "empty token at byte 7");
    assert_parse_refused("lb.evt.sample..x", "empty token at byte 14");
    assert_parse_refused("lb.evt.sample.acme.x.", "empty token at byte 21");
    assert_parse_refused("lb.evt..acme.x", "empty token at byte 7");
    assert_parse_refused("lb.evt.sample.acme", "has 4 tokens; an event subject has 5");
    assert_parse_refused("lb.evt.sample.acme.x.y", "the partition token must be a number below");
    assert_parse_refused("lb.evt.sample.acme.x.1024", "the partition token");
    assert_parse_refused("lb.evt.sample.acme.x.01", "the partition token");
    assert_parse_refused("lb.evt.sample.acme.x.-1", "the partition token");
    assert_parse_refused("lb.evt.sample.acme.x.1.2", "has 7 tokens");
    assert_parse_refused("lb.evt.sample.*.x", "wildcard '*'");
    assert_parse_refused("lb.evt.sample.acme.>", "wildcard '>'");
    assert_parse_refused("lb.evt.>", "wildcard '>'");
    assert_parse_refused("lb.evt.*.*.*", "wildcard '*'");
    assert_parse_refused("lb.evt.sample._bad.x", "the tenant token \"_bad\" must start with");
    assert_parse_refused("lb.evt.sample.-bad.x", "the tenant token \"-bad\" must start with");
    assert_parse_refused("lb.evt.sam ple.acme.x", "the domain token \"sam ple\" has a character");
    assert_parse_refused("lb.evt.sample.acme.a*b", "the name token \"a*b\" has a character");
    token_of(t, 'x', SUBJECT_TOKEN_MAX + 1);
    snprintf(s, sizeof(s), "lb.evt.sample.acme.%s", t);
    assert_parse_refused(s, "the name token");
    assert_parse_refused(s, "is longer than 64 bytes");
    /* A subject of SUBJECT_MAX - 1 bytes is judged on its tokens; one more byte is too long. */
    memset(s, 'x', sizeof(s));
    memcpy(s, "lb.evt.", 7);
    s[SUBJECT_MAX - 1] = '\0';
    assert_parse_refused(s, "has 3 tokens"); /* judged on its tokens, not its length */
    s[SUBJECT_MAX - 1] = 'x';
    s[SUBJECT_MAX] = '\0';
    assert_parse_refused(s, "is longer than 271 bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),        cmocka_unit_test(test_tenants),
        cmocka_unit_test(test_build),         cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
