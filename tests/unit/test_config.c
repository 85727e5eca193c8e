/*
 * test_config.c - settings tables: defaults, kinds, duration units, bounds
 * at the limit and one past, and the reasons given for refused values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

struct settings {
    char *url;
    int64_t port;
    bool flag;
    int64_t wait_ms;
    char *name;
};

static const struct config_entry table[] = {
    {"T_URL", "nats://127.0.0.1:4222", CONFIG_STRING, offsetof(struct settings, url), 0, 0, "url"},
    {"T_PORT", "8080", CONFIG_INT, offsetof(struct settings, port), 1, 65535, "port"},
    {"T_FLAG", "false", CONFIG_BOOL, offsetof(struct settings, flag), 0, 0, "flag"},
    {"T_WAIT", "30s", CONFIG_MILLIS, offsetof(struct settings, wait_ms), 1, 86400000, "wait"},
    {"T_NAME", NULL, CONFIG_STRING, offsetof(struct settings, name), 0, 0, "name"},
};
#define N (sizeof(table) / sizeof(table[0]))

/* The full int64 range, to reach the overflow checks rather than the bounds. */
struct wide {
    int64_t n;
    int64_t ms;
};

static const struct config_entry wide_table[] = {
    {"T_N", "0", CONFIG_INT, offsetof(struct wide, n), INT64_MIN, INT64_MAX, "n"},
    {"T_MS", "0", CONFIG_MILLIS, offsetof(struct wide, ms), INT64_MIN, INT64_MAX, "ms"},
};
#define WIDE_N (sizeof(wide_table) / sizeof(wide_table[0]))

static const char *const variables[] = {"T_URL",  "T_PORT", "T_FLAG", "T_WAIT",
                                        "T_NAME", "T_N",    "T_MS",   "LB_HTTP_PORT"};

static int clear(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(variables) / sizeof(variables[0]); i++)
        unsetenv(variables[i]);
    return 0;
}

static void test_defaults(void **state)
{
    struct settings s = {0};

    (void)state;
    assert_int_equal(config_load(table, N, &s, NULL), LB_OK);
    assert_string_equal(s.url, "nats://127.0.0.1:4222");
    assert_int_equal(s.port, 8080);
    assert_false(s.flag);
    assert_int_equal(s.wait_ms, 30000);
    assert_string_equal(s.name, ""); /* a NULL fallback is the empty string */
    config_release(table, N, &s);
    assert_null(s.url);
    assert_null(s.name);
    config_release(table, N, &s); /* released twice: the NULLs are freed harmlessly */
}

static void test_strings_taken_verbatim(void **state)
{
    struct settings s = {0};

    (void)state;
    setenv("T_URL", "nats://a:1, nats://b:2", 1);
    setenv("T_NAME", "", 1); /* set but empty is not unset */
    assert_int_equal(config_load(table, N, &s, NULL), LB_OK);
    assert_string_equal(s.url, "nats://a:1, nats://b:2");
    assert_string_equal(s.name, "");
    config_release(table, N, &s);
}

/* Loads `table` with `env` set to `value` and returns the field the row fills. */
static int64_t load_int(const char *env, const char *value)
{
    struct settings s = {0};
    struct lb_why why = {{0}};
    int64_t result;

    setenv(env, value, 1);
    if (config_load(table, N, &s, &why) != LB_OK)
        fail_msg("%s=%s refused: %s", env, value, why.text);
    result = strcmp(env, "T_PORT") == 0 ? s.port : s.wait_ms;
    config_release(table, N, &s);
    unsetenv(env);
    return result;
}

static bool load_flag(const char *value)
{
    struct settings s = {0};
    struct lb_why why = {{0}};
    bool result;

    setenv("T_FLAG", value, 1);
    if (config_load(table, N, &s, &why) != LB_OK)
        fail_msg("T_FLAG=%s refused: %s", value, why.text);
    result = s.flag;
    config_release(table, N, &s);
    unsetenv("T_FLAG");
    return result;
}

static void test_integers_at_the_limits(void **state)
{
    (void)state;
    assert_int_equal(load_int("T_PORT", "65535"), 65535); /* the maximum */
    assert_int_equal(load_int("T_PORT", "1"), 1);         /* the minimum */
    assert_int_equal(load_int("T_PORT", "+443"), 443);
    assert_int_equal(load_int("T_PORT", "0080"), 80); /* decimal, not octal */
}

static void test_booleans(void **state)
{
    static const char *const yes[] = {"1", "true", "TRUE", "True", "yes", "YES", "on", "On"};
    static const char *const no[] = {"0", "false", "FALSE", "no", "No", "off", "OFF"};

    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(load_flag(yes[i]));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(load_flag(no[i]));
}

static void test_durations(void **state)
{
    static const struct {
        const char *text;
        int64_t ms;
    } cases[] = {
        {"250", 250},   {"250ms", 250},      {"1ms", 1},           {"30s", 30000},
        {"5m", 300000}, {"2h", 7200000},     {"1d", 86400000},     {"86400000", 86400000},
        {"+5s", 5000},  {"1440m", 86400000}, {"86400s", 86400000},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(load_int("T_WAIT", cases[i].text), cases[i].ms);
}

/* Expects `env`=`value` to be refused with exactly `reason`, leaving no string behind. */
static void assert_refused(const char *env, const char *value, const char *reason)
{
    struct settings s = {0};
    struct lb_why why = {{0}};

    setenv(env, value, 1);
    assert_int_equal(config_load(table, N, &s, &why), LB_EINVAL);
    assert_string_equal(why.text, reason);
    assert_null(s.url); /* loaded before the failing row, then released */
    assert_null(s.name);
    unsetenv(env);
}

static void test_refused_integers(void **state)
{
    (void)state;
    assert_refused("T_PORT", "65536",
                   "T_PORT: \"65536\" is above the maximum 65535");        /* one past */
    assert_refused("T_PORT", "0", "T_PORT: \"0\" is below the minimum 1"); /* one past */
    assert_refused("T_PORT", "-1", "T_PORT: \"-1\" is below the minimum 1");
    assert_refused("T_PORT", "80x", "T_PORT: \"80x\" is not an integer");
    assert_refused("T_PORT", "", "T_PORT: \"\" is not an integer");
    assert_refused("T_PORT", " 80", "T_PORT: \" 80\" is not an integer");
    assert_refused("T_PORT", "80 ", "T_PORT: \"80 \" is not an integer");
    assert_refused("T_PORT", "0x50", "T_PORT: \"0x50\" is not an integer");
    assert_refused("T_PORT", "8e1", "T_PORT: \"8e1\" is not an integer");
    assert_refused("T_PORT", "-", "T_PORT: \"-\" is not an integer");
    assert_refused("T_PORT", "99999999999999999999",
                   "T_PORT: \"99999999999999999999\" is above the maximum 65535");
    assert_refused("T_PORT", "-99999999999999999999",
                   "T_PORT: \"-99999999999999999999\" is below the minimum 1");
}

static void test_refused_booleans(void **state)
{
    static const char *const words[] = {"maybe", "", "y", "2", " true", "truee"};

    (void)state;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        struct settings s = {0};
        struct lb_why why = {{0}};

        setenv("T_FLAG", words[i], 1);
        assert_int_equal(config_load(table, N, &s, &why), LB_EINVAL);
        assert_non_null(strstr(why.text, "T_FLAG: \""));
        assert_non_null(strstr(why.text, "is not a boolean"));
        assert_null(s.url);
    }
}

static void test_refused_durations(void **state)
{
    (void)state;
    assert_refused("T_WAIT", "3w", "T_WAIT: \"3w\" has an unknown unit (use ms, s, m, h or d)");
    assert_refused("T_WAIT", "5S", "T_WAIT: \"5S\" has an unknown unit (use ms, s, m, h or d)");
    assert_refused("T_WAIT", "5 s", "T_WAIT: \"5 s\" has an unknown unit (use ms, s, m, h or d)");
    assert_refused("T_WAIT", "1.5s", "T_WAIT: \"1.5s\" has an unknown unit (use ms, s, m, h or d)");
    assert_refused("T_WAIT", "5sec", "T_WAIT: \"5sec\" has an unknown unit (use ms, s, m, h or d)");
    assert_refused("T_WAIT", "s", "T_WAIT: \"s\" is not a duration (e.g. 250ms, 30s, 5m, 2h, 1d)");
    assert_refused("T_WAIT", "", "T_WAIT: \"\" is not a duration (e.g. 250ms, 30s, 5m, 2h, 1d)");
    /* Bounds are 1ms and 1d: one past each, in several units. */
    assert_refused("T_WAIT", "86400001", "T_WAIT: \"86400001\" is above the maximum 1d");
    assert_refused("T_WAIT", "86400001ms", "T_WAIT: \"86400001ms\" is above the maximum 1d");
    assert_refused("T_WAIT", "2d", "T_WAIT: \"2d\" is above the maximum 1d");
    assert_refused("T_WAIT", "25h", "T_WAIT: \"25h\" is above the maximum 1d");
    assert_refused("T_WAIT", "0ms", "T_WAIT: \"0ms\" is below the minimum 1ms");
    assert_refused("T_WAIT", "0", "T_WAIT: \"0\" is below the minimum 1ms");
    assert_refused("T_WAIT", "-1s", "T_WAIT: \"-1s\" is below the minimum 1ms");
    /* The multiplication by the unit overflows int64. */
    assert_refused("T_WAIT", "9223372036854775807d",
                   "T_WAIT: \"9223372036854775807d\" is above the maximum 1d");
}

static void test_overflow_at_int64(void **state)
{
    struct wide w = {0};
    struct lb_why why = {{0}};

    (void)state;
    /* At the int64 limits: accepted. */
    setenv("T_N", "9223372036854775807", 1);
    setenv("T_MS", "106751991167d", 1); /* INT64_MAX / 86400000 days */
    assert_int_equal(config_load(wide_table, WIDE_N, &w, &why), LB_OK);
    assert_true(w.n == INT64_MAX);
    assert_true(w.ms == INT64_C(106751991167) * 86400000);
    setenv("T_N", "-9223372036854775808", 1);
    setenv("T_MS", "-106751991167d", 1);
    assert_int_equal(config_load(wide_table, WIDE_N, &w, &why), LB_OK);
    assert_true(w.n == INT64_MIN);
    assert_true(w.ms == -INT64_C(106751991167) * 86400000);
    setenv("T_MS", "9223372036854775807ms", 1);
    assert_int_equal(config_load(wide_table, WIDE_N, &w, &why), LB_OK);
    assert_true(w.ms == INT64_MAX);

    /* One past: refused, never wrapped. */
    setenv("T_N", "9223372036854775808", 1);
    assert_int_equal(config_load(wide_table, WIDE_N, &w, &why), LB_EINVAL);
    assert_string_equal(why.text,
                        "T_N: \"9223372036854775808\" is above the maximum 9223372036854775807");
    setenv("T_N", "-9223372036854775809", 1);
    assert_int_equal(config_load(wide_table, WIDE_N, &w, &why), LB_EINVAL);
    assert_string_equal(why.text,
                        "T_N: \"-9223372036854775809\" is below the minimum -9223372036854775808");
    setenv("T_N", "0", 1);
    setenv("T_MS", "106751991168d", 1);
    assert_int_equal(config_load(wide_table, WIDE_N, &w, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "T_MS: \"106751991168d\" is above the maximum"));
    setenv("T_MS", "-106751991168d", 1);
    assert_int_equal(config_load(wide_table, WIDE_N, &w, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "T_MS: \"-106751991168d\" is below the minimum"));
}

static void test_reason_of_the_runbook(void **state)
{
    static const struct config_entry ports[] = {
        {"LB_HTTP_PORT", "-1", CONFIG_INT, 0, -1, 65535, "HTTP port; -1 = none"},
    };
    int64_t port = 0;
    struct lb_why why = {{0}};

    (void)state;
    setenv("LB_HTTP_PORT", "99999", 1);
    assert_int_equal(config_load(ports, 1, &port, &why), LB_EINVAL);
    assert_string_equal(why.text, "LB_HTTP_PORT: \"99999\" is above the maximum 65535");
    assert_int_equal(port, 0); /* the failing row's field is untouched */
    unsetenv("LB_HTTP_PORT");
    assert_int_equal(config_load(ports, 1, &port, NULL), LB_OK); /* why may be NULL */
    assert_int_equal(port, -1);
}

/* CONFIG_QUOTE_MAX in config.c: the longest part of a value quoted in a reason. */
#define QUOTE_MAX 64

static void test_long_value_quoted_in_part(void **state)
{
    char value[QUOTE_MAX + 2];
    char expected[LB_WHY_MAX];

    (void)state;
    /* At the limit: 64 characters are quoted whole. */
    memset(value, '7', QUOTE_MAX);
    value[QUOTE_MAX - 1] = 'x';
    value[QUOTE_MAX] = '\0';
    snprintf(expected, sizeof(expected), "T_PORT: \"%s\" is not an integer", value);
    assert_refused("T_PORT", value, expected);
    /* One past: 65 characters are cut to 64 and marked. */
    value[QUOTE_MAX - 1] = '7';
    value[QUOTE_MAX] = 'x';
    value[QUOTE_MAX + 1] = '\0';
    snprintf(expected, sizeof(expected), "T_PORT: \"%.*s...\" is not an integer", QUOTE_MAX, value);
    assert_refused("T_PORT", value, expected);
}

static void test_nothing_left_on_a_late_failure(void **state)
{
    struct settings s = {0};
    struct lb_why why = {{0}};

    (void)state;
    setenv("T_URL", "nats://x", 1);
    setenv("T_NAME", "svc", 1);
    setenv("T_WAIT", "forever", 1); /* after T_URL was copied */
    assert_int_equal(config_load(table, N, &s, &why), LB_EINVAL);
    assert_null(s.url);
    assert_null(s.name); /* after the failing row: never loaded */
}

static void test_unknown_kind(void **state)
{
    static const struct config_entry odd[] = {
        {"T_N", "1", (enum config_kind)42, 0, 0, 0, "a kind no parser knows"},
    };
    int64_t n = 0;
    struct lb_why why = {{0}};

    (void)state;
    assert_int_equal(config_load(odd, 1, &n, &why), LB_EINTERNAL);
    assert_non_null(strstr(why.text, "T_N"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear),
        cmocka_unit_test_setup(test_strings_taken_verbatim, clear),
        cmocka_unit_test_setup(test_integers_at_the_limits, clear),
        cmocka_unit_test_setup(test_booleans, clear),
        cmocka_unit_test_setup(test_durations, clear),
        cmocka_unit_test_setup(test_refused_integers, clear),
        cmocka_unit_test_setup(test_refused_booleans, clear),
        cmocka_unit_test_setup(test_refused_durations, clear),
        cmocka_unit_test_setup(test_overflow_at_int64, clear),
        cmocka_unit_test_setup(test_reason_of_the_runbook, clear),
        cmocka_unit_test_setup(test_long_value_quoted_in_part, clear),
        cmocka_unit_test_setup(test_nothing_left_on_a_late_failure, clear),
        cmocka_unit_test_setup(test_unknown_kind, clear),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
