/*
 * test_json_strict.c - strict JSON at the boundary: what cJSON accepts
 * silently is refused here, with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_strict.h"

static enum lb_err parse(const char *text, struct lb_why *why)
{
    cJSON *json = NULL;
    enum lb_err err = json_parse_strict(text, strlen(text), &json, why);

    cJSON_Delete(json);
    return err;
}

static void assert_refused(const char *text, const char *reason_part)
{
    struct lb_why why = {{0}};

    assert_int_equal(parse(text, &why), LB_EINVAL);
    if (strstr(why.text, reason_part) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" for %s", why.text, reason_part, text);
}

static void test_valid_documents(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"a\":1,\"b\":[true,null,\"x\"],\"c\":{\"d\":-0.5}}", NULL), LB_OK);
    assert_int_equal(parse("  [1, 2]\n", NULL), LB_OK);
    assert_int_equal(parse("\"a string with \\\" and [ { inside\"", NULL), LB_OK);
}

static void test_malformed(void **state)
{
    (void)state;
    assert_refused("", "empty");
    assert_refused("{", "not valid JSON");
    assert_refused("{\"a\":}", "not valid JSON");
    assert_refused("{\"a\":1} x", "after the JSON value");
    assert_refused("{\"a\":1}{}", "after the JSON value");
}

static void test_not_nul_terminated(void **state)
{
    const char text[] = {'{', '}', 'x'};
    cJSON *json = NULL;

    (void)state;
    assert_int_equal(json_parse_strict(text, 2, &json, NULL), LB_OK);
    cJSON_Delete(json);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    assert_refused("{\"id\":1,\"id\":2}", "duplicate key \"id\"");
    assert_refused("{\"a\":{\"b\":1,\"c\":2,\"b\":3}}", "duplicate key \"b\" in object at depth 2");
    assert_refused("[{\"k\":1,\"k\":1}]", "duplicate key");
    assert_int_equal(parse("{\"k\":1,\"K\":1}", NULL), LB_OK); /* keys are case-sensitive */
}

/* 2^53 is the limit: at it accepted, one past refused, whatever the form. */
static void test_number_limits(void **state)
{
    (void)state;
    assert_int_equal(parse("[9007199254740992, -9007199254740992]", NULL), LB_OK);
    assert_refused("[9007199254740993]", "exceeds 2^53");
    assert_refused("[-9007199254740993]", "exceeds 2^53");
    assert_refused("{\"n\":18446744073709551616}", "exceeds 2^53 at byte 5");
    assert_refused("[1e300]", "exceeds 2^53");
    assert_refused("[9.1e15]", "exceeds 2^53");
    assert_int_equal(parse("[0.5, 1e3, 9.0e15, 1234567890123456]", NULL), LB_OK);
}

static char *nested(int depth)
{
    char *text = malloc((size_t)depth * 2 + 1);

    for (int i = 0; i < depth; i++) {
        text[i] = '[';
        text[depth * 2 - 1 - i] = ']';
    }
    text[depth * 2] = '\0';
    return text;
}

static void test_depth_limit(void **state)
{
    char *at_limit = nested(JSON_MAX_DEPTH);
    char *past = nested(JSON_MAX_DEPTH + 1);

    (void)state;
    assert_int_equal(parse(at_limit, NULL), LB_OK);
    assert_refused(past, "nesting deeper than 32");
    free(at_limit);
    free(past);
}

static void test_get_int(void **state)
{
    cJSON *json = cJSON_Parse("{\"a\":5,\"f\":1.5,\"s\":\"5\",\"big\":100}");
    struct lb_why why = {{0}};
    int64_t v = 0;

    (void)state;
    assert_int_equal(json_get_int(json, "a", 0, 10, &v, &why), LB_OK);
    assert_int_equal(v, 5);
    assert_int_equal(json_get_int(json, "a", 0, 5, &v, &why), LB_OK); /* at the bound */
    assert_int_equal(json_get_int(json, "a", 0, 4, &v, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "outside"));
    assert_int_equal(json_get_int(json, "f", 0, 10, &v, &why), LB_EINVAL);
    assert_int_equal(json_get_int(json, "s", 0, 10, &v, &why), LB_EINVAL);
    assert_int_equal(json_get_int(json, "missing", 0, 10, &v, &why), LB_ENOTFOUND);
    cJSON_Delete(json);
}

static void test_get_string(void **state)
{
    cJSON *json = cJSON_Parse("{\"s\":\"abcd\",\"e\":\"\",\"n\":1}");
    const char *v = NULL;

    (void)state;
    assert_int_equal(json_get_string(json, "s", 4, &v, NULL), LB_OK); /* at the limit */
    assert_string_equal(v, "abcd");
    assert_int_equal(json_get_string(json, "s", 3, &v, NULL), LB_EINVAL); /* one past */
    assert_int_equal(json_get_string(json, "e", 4, &v, NULL), LB_EINVAL);
    assert_int_equal(json_get_string(json, "n", 4, &v, NULL), LB_EINVAL);
    assert_int_equal(json_get_string(json, "x", 4, &v, NULL), LB_ENOTFOUND);
    cJSON_Delete(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_documents),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_number_limits),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_get_int),
        cmocka_unit_test(test_get_string),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
