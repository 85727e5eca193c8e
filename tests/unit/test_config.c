/*
 * test_config.c - settings tables: defaults, kinds, units, bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

struct settings {
    char *url;
    int64_t port;
    bool flag;
    int64_t wait_ms;
};

static const struct config_entry table[] = {
    {"T_URL", "nats://127.0.0.1:4222", CONFIG_STRING, offsetof(struct settings, url), 0, 0, "url"},
    {"T_PORT", "8080", CONFIG_INT, offsetof(struct settings, port), 1, 65535, "port"},
    {"T_FLAG", "false", CONFIG_BOOL, offsetof(struct settings, flag), 0, 0, "flag"},
    {"T_WAIT", "30s", CONFIG_MILLIS, offsetof(struct settings, wait_ms), 1, 86400000, "wait"},
};
#define N (sizeof(table) / sizeof(table[0]))

static int clear(void **state)
{
    (void)state;
    unsetenv("T_URL");
    unsetenv("T_PORT");
    unsetenv("T_FLAG");
    unsetenv("T_WAIT");
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
    config_release(table, N, &s);
    assert_null(s.url);
}

static void test_values(void **state)
{
    struct settings s = {0};
    static const struct {
        const char *text;
        int64_t ms;
    } durations[] = {
        {"250ms", 250}, {"250", 250}, {"5m", 300000}, {"2h", 7200000}, {"1d", 86400000}};

    (void)state;
    setenv("T_URL", "nats://a:1,nats://b:2", 1);
    setenv("T_PORT", "65535", 1); /* at the limit */
    setenv("T_FLAG", "YES", 1);
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        setenv("T_WAIT", durations[i].text, 1);
        assert_int_equal(config_load(table, N, &s, NULL), LB_OK);
        assert_int_equal(s.wait_ms, durations[i].ms);
        assert_string_equal(s.url, "nats://a:1,nats://b:2");
        assert_int_equal(s.port, 65535);
        assert_true(s.flag);
        config_release(table, N, &s);
    }
}

static void assert_refused(const char *env, const char *value, const char *reason_part)
{
    struct settings s = {0};
    struct lb_why why = {{0}};

    setenv(env, value, 1);
    assert_int_equal(config_load(table, N, &s, &why), LB_EINVAL);
    if (strstr(why.text, reason_part) == NULL || strstr(why.text, env) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" or the variable", why.text, reason_part);
    assert_null(s.url); /* nothing allocated stays behind */
    unsetenv(env);
}

static void test_refused(void **state)
{
    (void)state;
    assert_refused("T_PORT", "65536", "above the maximum 65535"); /* one past */
    assert_refused("T_PORT", "0", "below the minimum 1");
    assert_refused("T_PORT", "80x", "not an integer");
    assert_refused("T_PORT", "", "not an integer");
    assert_refused("T_PORT", "99999999999999999999", "not an integer");
    assert_refused("T_FLAG", "maybe", "not a boolean");
    assert_refused("T_WAIT", "3w", "unknown unit");
    assert_refused("T_WAIT", "2d", "above the maximum");
    assert_refused("T_WAIT", "9223372036854775807d", "too large");
    assert_refused("T_WAIT", "0ms", "below the minimum");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear),
        cmocka_unit_test_setup(test_values, clear),
        cmocka_unit_test_setup(test_refused, clear),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
