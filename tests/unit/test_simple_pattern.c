/*
 * test_simple_pattern.c - the regex-free matcher (simple_pattern.c) agrees
 * with a POSIX regex on every pattern of the contract it accepts, for
 * texts that are near misses as well as matches; it refuses the forms it
 * cannot match exactly.
 */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "simple_pattern.h"

/* ECMA-262 (the subset below) to POSIX ERE: \d is the only difference. */
static void to_posix(const char *ecma, char *out, size_t size)
{
    size_t n = 0;

    for (const char *p = ecma; *p != '\0' && n + 6 < size; p++) {
        if (p[0] == '\\' && p[1] == 'd') {
            memcpy(out + n, "[0-9]", 5);
            n += 5;
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

static void assert_agrees(const char *pattern, const char *const *texts)
{
    struct simple_pattern sp;
    char posix[512];
    regex_t re;

    if (!simple_pattern_compile(pattern, &sp))
        fail_msg("%s should compile", pattern);
    to_posix(pattern, posix, sizeof(posix));
    assert_int_equal(regcomp(&re, posix, REG_EXTENDED | REG_NOSUB), 0);
    for (const char *const *t = texts; *t != NULL; t++) {
        bool want = regexec(&re, *t, 0, NULL, 0) == 0;

        if (simple_pattern_match(&sp, *t) != want)
            fail_msg("%s on \"%s\": regex says %d", pattern, *t, want);
    }
    regfree(&re);
}

static void test_contract_patterns_agree_with_regex(void **state)
{
    static const char *const ids[] = {"a", "A-1_b", "", "-a", "a b", "a.b", "é", "x-", NULL};
    static const char *const times[] = {"2026-11-22T10:00:00.000Z",  "2026-11-22T10:00:00Z",
                                        "2026-11-22T10:00:00.000",   "2026-1-22T10:00:00.000Z",
                                        "x2026-11-22T10:00:00.000Z", NULL};
    static const char *const types[] = {"licensebus.usage.device_get.v1",
                                        "licensebus.usage.device_get.v10",
                                        "licensebus.usage.device_get.v0",
                                        "licensebus..x.v1",
                                        "licensebus.a.b.v",
                                        "licensebusxa.b.v1",
                                        NULL};
    static const char *const tenants[] = {"_sys", "acme", "dist-1", "_sysx", "-a", "", NULL};
    static const char *const ulids[] = {"01JD8Z3T2V6Q9R8S7T6V5W4X41", "01JD8Z3T2V6Q9R8S7T6V5W4X4",
                                        "01JD8Z3T2V6Q9R8S7T6V5W4XIL", NULL};
    static const char *const counts[] = {"1", "12345678901234567890", "0", "01", "", NULL};
    static const char *const b64[] = {"", "QUJD", "QUI=", "QQ==", "Q===", "Q-Q", NULL};
    static const char *const urls[] = {"https://x", "http://x", "https:/", NULL};
    static const char *const visible[] = {"a", "~!", "a b", "", NULL};
    static const char *const keys[] = {"AB12-CD34", "ABCD", "AB-12", NULL};

    (void)state;
    assert_agrees("^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", ids);
    assert_agrees("^[a-zA-Z0-9_-]+$", ids);
    assert_agrees("^[a-z][a-z0-9_]{0,63}$", ids);
    assert_agrees("^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$", ids);
    assert_agrees("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$", times);
    assert_agrees("^licensebus\\.[A-Za-z0-9_-]{1,64}\\.[A-Za-z0-9_-]{1,64}\\.v[1-9][0-9]*$", types);
    assert_agrees("^([A-Za-z0-9][A-Za-z0-9_-]{0,63}|_sys)$", tenants);
    assert_agrees("^[0-9A-HJKMNP-TV-Z]{26}$", ulids);
    assert_agrees("^[1-9][0-9]{0,19}$", counts);
    assert_agrees("^[A-Za-z0-9+/]*={0,2}$", b64);
    assert_agrees("^https://", urls);
    assert_agrees("^[!-~]+$", visible);
    assert_agrees("^[0-9A-Z-]{1,64}$", keys);
}

/* The envelope's extension names: a lookahead refusing the standard attributes. */
static void test_refused_words(void **state)
{
    struct simple_pattern sp;

    (void)state;
    assert_true(simple_pattern_compile(
        "^(?!(?:specversion|id|source|type|time|tenant|subject|datacontenttype|dataschema|data)$)"
        "[a-z0-9]{1,20}$",
        &sp));
    assert_true(simple_pattern_match(&sp, "traceparent"));
    assert_true(simple_pattern_match(&sp, "ids")); /* a refused word's prefix or extension */
    assert_true(simple_pattern_match(&sp, "datax"));
    assert_false(simple_pattern_match(&sp, "id")); /* refused */
    assert_false(simple_pattern_match(&sp, "data"));
    assert_false(simple_pattern_match(&sp, "Trace"));                  /* outside the class */
    assert_false(simple_pattern_compile("^(?!(?:a.b)$)[a-z]+$", &sp)); /* not plain words */
}

static void test_other_forms_are_left_to_the_regex_engine(void **state)
{
    static const char *const refused[] = {
        "^[A-Z0-9]{4,8}(-[A-Z0-9]{4,8}){1,7}$", /* a group with a count */
        "^([0-9a-f]{2})+$",
        "^[0-9]{4}-(0[1-9]|1[0-2])$", /* a group inside */
        "^[^a]+$",                    /* negated class */
        "^a.b$",                      /* any character */
        "^(?!x)[a-z]+$",              /* lookahead other than refused words */
        "^[a-z]+[a-z0-9]$",           /* greedy would be wrong: the first run takes the last */
        "abc$",                       /* not anchored at the start */
        "^\\w+$",
    };
    struct simple_pattern sp;

    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (simple_pattern_compile(refused[i], &sp))
            fail_msg("%s should be left to the regex engine", refused[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract_patterns_agree_with_regex),
        cmocka_unit_test(test_refused_words),
        cmocka_unit_test(test_other_forms_are_left_to_the_regex_engine),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
