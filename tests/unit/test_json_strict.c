/*
 * test_json_strict.c - strict JSON at the boundary: what cJSON 1.7.15 accepts
 * silently is refused here, with a reason naming the key or the byte.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_strict.h"

static enum lb_err parse_n(const char *text, size_t len, struct lb_why *why)
{
    cJSON *json = NULL;
    enum lb_err err = json_parse_strict(text, len, &json, why);

    assert_true((err == LB_OK) == (json != NULL));
    cJSON_Delete(json);
    return err;
}

static enum lb_err parse(const char *text)
{
    return parse_n(text, strlen(text), NULL);
}

/* The text is refused with LB_EINVAL and a reason that contains `reason`. */
static void assert_refused_n(const char *text, size_t len, const char *reason)
{
    struct lb_why why = {{0}};

    assert_int_equal(parse_n(text, len, &why), LB_EINVAL);
    if (strstr(why.text, reason) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\" for %.*s", why.text, reason, (int)len, text);
}

static void assert_refused(const char *text, const char *reason)
{
    assert_refused_n(text, strlen(text), reason);
}

/* "[[[...]]]" nested `depth` deep; the caller frees it. */
static char *nested_arrays(size_t depth)
{
    char *text = malloc(depth * 2 + 1);

    assert_non_null(text);
    for (size_t i = 0; i < depth; i++) {
        text[i] = '[';
        text[depth * 2 - 1 - i] = ']';
    }
    text[depth * 2] = '\0';
    return text;
}

static void test_valid_documents(void **state)
{
    cJSON *json = NULL;
    const char *text = "{\"a\":1,\"b\":[true,false,null,\"x\"],\"c\":{\"d\":-0.5e-3}}";

    (void)state;
    assert_int_equal(json_parse_strict(text, strlen(text), &json, NULL), LB_OK);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(json, "b")));
    cJSON_Delete(json);
    assert_int_equal(parse(" \t\r\n[1, 2]\n "), LB_OK);
    assert_int_equal(parse("\"a string with \\\" and [ { inside\""), LB_OK);
    assert_int_equal(parse("\"escapes \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude00\""),
                     LB_OK);
    assert_int_equal(parse("\"raw UTF-8: \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""), LB_OK);
    assert_int_equal(parse("0"), LB_OK);
    assert_int_equal(parse("-0"), LB_OK);
    assert_int_equal(parse("null"), LB_OK);
    assert_int_equal(parse("{}"), LB_OK);
    assert_int_equal(parse("[]"), LB_OK);
}

static void test_malformed(void **state)
{
    (void)state;
    assert_refused_n("", 0, "empty");
    assert_refused_n(NULL, 0, "empty");
    assert_refused("   ", "expected a value at byte 3, found the end");
    assert_refused("{", "expected a string key at byte 1, found the end");
    assert_refused("{\"a\":}", "expected a value at byte 5, found '}'");
    assert_refused("{\"a\" 1}", "expected ':' at byte 5");
    assert_refused("{a:1}", "expected a string key at byte 1");
    assert_refused("[1,]", "expected a value at byte 3, found ']'");
    assert_refused("{\"a\":1,}", "expected a string key at byte 7");
    assert_refused("[1 2]", "expected ',' or ']' at byte 3");
    assert_refused("{\"a\":1 \"b\":2}", "expected ',' or '}' at byte 7");
    assert_refused("[tru]", "expected true at byte 1");
    assert_refused("[nul", "expected null at byte 1");
    assert_refused("'a'", "expected a value at byte 0, found '''");
    assert_refused("\"open", "string at byte 0 is not closed");
}

/* Everything cJSON 1.7.15 takes although RFC 8259 does not. */
static void test_what_cjson_relaxes(void **state)
{
    (void)state;
    assert_refused("[01]", "leading zero at byte 1");
    assert_refused("[-01]", "leading zero at byte 1");
    assert_refused("[1.]", "expected a digit after '.' at byte 3");
    assert_refused("[-.5]", "expected a digit at byte 2");
    assert_refused("[1.e5]", "expected a digit after '.' at byte 3");
    assert_refused("[1e]", "expected a digit in the exponent at byte 3");
    assert_refused("[1e+]", "expected a digit in the exponent at byte 4");
    assert_refused("[+1]", "expected a value at byte 1");
    assert_refused("[- 1]", "expected a digit at byte 2");
    assert_refused("\x01[1]", "found byte 0x01");
    assert_refused("\xef\xbb\xbf[1]", "found byte 0xef"); /* a byte-order mark */
    assert_refused("[\"a\x01\"]", "control character 0x01 in string at byte 3");
    assert_refused("[\"tab\there\"]", "control character 0x09");
    assert_refused("[\"\\u0000x\"]", "\\u0000 at byte 2");
    assert_refused("{\"a\\u0000b\":1}", "\\u0000 at byte 3");
    assert_refused("[\"\\x41\"]", "bad escape sequence at byte 2");
    assert_refused("[\"\\u12G4\"]", "bad escape sequence at byte 2");
    assert_refused("[\"\\ud800\"]", "unpaired surrogate \\ud800 at byte 2");
    assert_refused("[\"\\ud800\\u0041\"]", "unpaired surrogate \\ud800");
    assert_refused("[\"\\udc00\"]", "unpaired surrogate \\udc00");
    assert_refused("[\"\xff\"]", "invalid UTF-8 at byte 2");
    assert_refused("[\"\xc0\xaf\"]", "invalid UTF-8");         /* overlong '/' */
    assert_refused("[\"\xed\xa0\x80\"]", "invalid UTF-8");     /* a surrogate, encoded */
    assert_refused("[\"\xf4\x90\x80\x80\"]", "invalid UTF-8"); /* past U+10FFFF */
    assert_refused("[\"\xe2\x82\"]", "invalid UTF-8");         /* cut short */
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    assert_refused("{\"a\":1} x", "unexpected bytes after the JSON value at byte 8");
    assert_refused("{\"a\":1}{}", "unexpected bytes after the JSON value at byte 7");
    assert_refused_n("{}\0", 3, "unexpected bytes after the JSON value at byte 2");
    assert_refused("1 2", "at byte 2");
    assert_int_equal(parse("{\"a\":1} \r\n\t"), LB_OK);
}

static void test_not_nul_terminated(void **state)
{
    /* Exactly sized heap copies, so the sanitizer build catches a read past the end. */
    const char *texts[] = {"{}", "[1,2.5e3]", "\"abc\"", "true", "[-12]", "{\"k\":\"v\"}"};

    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        size_t len = strlen(texts[i]);
        char *exact = malloc(len);

        assert_non_null(exact);
        memcpy(exact, texts[i], len);
        assert_int_equal(parse_n(exact, len, NULL), LB_OK);
        assert_int_equal(parse_n(exact, len - 1, NULL), LB_EINVAL); /* cut one byte short */
        free(exact);
    }
}

static void test_duplicate_keys(void **state)
{
    char big[4096];
    size_t n = 0;

    (void)state;
    assert_refused("{\"id\":1,\"id\":2}", "duplicate key \"id\" in object at depth 1");
    assert_refused("{\"a\":{\"b\":1,\"c\":2,\"b\":3}}", "duplicate key \"b\" in object at depth 2");
    assert_refused("[{\"k\":1,\"k\":1}]", "duplicate key \"k\" in object at depth 2");
    assert_refused("{\"x\":[[{\"a\":{},\"a\":[]}]]}", "duplicate key \"a\" in object at depth 4");
    /* Keys are compared after unescaping. */
    assert_refused("{\"ab\":1,\"a\\u0062\":2}", "duplicate key \"ab\"");
    assert_refused("{\"\\u00e9\":1,\"\xc3\xa9\":2}", "duplicate key");
    assert_int_equal(parse("{\"k\":1,\"K\":1}"), LB_OK); /* keys are case-sensitive */
    assert_int_equal(parse("{\"a\":{\"k\":1},\"b\":{\"k\":1}}"), LB_OK);
    /* A large object is sorted rather than compared pairwise: same verdicts. */
    big[n++] = '{';
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(big + n, sizeof(big) - n, "\"k%d\":%d,", i, i);
    memcpy(big + n, "\"k0\":0}", 8);
    assert_refused(big, "duplicate key \"k0\" in object at depth 1");
    memcpy(big + n, "\"k200\":0}", 10);
    assert_int_equal(parse(big), LB_OK);
}

/* 2^53 is the limit: at it accepted, one past refused, whatever the form of the literal. */
static void test_number_limits(void **state)
{
    (void)state;
    assert_int_equal(parse("9007199254740992"), LB_OK);
    assert_int_equal(parse("-9007199254740992"), LB_OK);
    assert_int_equal(parse("[9007199254740992.0, 9.007199254740992e15, 90071992547409920e-1]"),
                     LB_OK);
    assert_int_equal(parse("[0.5, 1e3, 9.0e15, 1234567890123456, 0.0e999999999999999999]"), LB_OK);
    assert_int_equal(parse("[1e-400, 0.000000000000000000000000000001, 1E+15, 123e-2]"), LB_OK);
    assert_refused("[9007199254740993]", "number 9007199254740993 exceeds 2^53 at byte 1");
    assert_refused("{\"id\":\"x\",\"n\":[1,9007199254740993]}",
                   "number 9007199254740993 exceeds 2^53 at byte 17");
    assert_refused("[-9007199254740993]", "number -9007199254740993 exceeds 2^53");
    assert_refused("[9007199254740992.5]", "exceeds 2^53");
    assert_refused("[9.007199254740993e15]", "exceeds 2^53");
    assert_refused("[9007199254740992.0000000001]", "exceeds 2^53");
    assert_refused("{\"n\":18446744073709551616}", "exceeds 2^53 at byte 5");
    assert_refused("[1e300]", "number 1e300 exceeds 2^53");
    assert_refused("[1E16]", "exceeds 2^53");
    assert_refused("[9.1e15]", "exceeds 2^53");
    assert_refused("[1e99999999999999999999]", "exceeds 2^53");
    assert_refused("[12345678901234567890123456789012345678901234567890]",
                   "number 1234567890123456789012345678901234567890... exceeds");
}

static void test_depth_limit(void **state)
{
    char *at_limit = nested_arrays(JSON_MAX_DEPTH);
    char *past = nested_arrays(JSON_MAX_DEPTH + 1);
    char objects[JSON_MAX_DEPTH * 8 + 8];
    size_t n = 0;

    (void)state;
    assert_int_equal(parse(at_limit), LB_OK);
    assert_refused(past, "nesting deeper than 32 at byte 32");
    free(at_limit);
    free(past);
    /* Objects count the same way: 32 levels of {"a":...} then one more. */
    for (int i = 0; i < JSON_MAX_DEPTH; i++) {
        memcpy(objects + n, "{\"a\":", 5);
        n += 5;
    }
    objects[n] = '1';
    memset(objects + n + 1, '}', JSON_MAX_DEPTH);
    objects[n + 1 + JSON_MAX_DEPTH] = '\0';
    assert_int_equal(parse(objects), LB_OK);
    objects[n] = '[';
    memcpy(objects + n + 1, "]", 1);
    memset(objects + n + 2, '}', JSON_MAX_DEPTH);
    objects[n + 2 + JSON_MAX_DEPTH] = '\0';
    assert_refused(objects, "nesting deeper than 32 at byte 160");
    /* Brackets inside strings do not count. */
    assert_int_equal(parse("[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]"), LB_OK);
}

static void *failing_malloc(size_t size)
{
    (void)size;
    return NULL;
}

/* Valid JSON that cJSON cannot build for want of memory is LB_ENOMEM, not LB_EINVAL. */
static void test_out_of_memory(void **state)
{
    cJSON_Hooks hooks = {.malloc_fn = failing_malloc, .free_fn = free};
    struct lb_why why = {{0}};

    (void)state;
    cJSON_InitHooks(&hooks);
    assert_int_equal(parse_n("{\"a\":1}", 7, &why), LB_ENOMEM);
    cJSON_InitHooks(NULL);
    assert_non_null(strstr(why.text, "out of memory"));
    assert_int_equal(parse("{\"a\":1}"), LB_OK);
}

/* A tree of `depth` nested arrays built by code; the caller deletes it. */
static cJSON *nested_tree(int depth)
{
    cJSON *top = cJSON_CreateArray();
    cJSON *inner = top;

    for (int i = 1; i < depth; i++) {
        cJSON *next = cJSON_CreateArray();

        cJSON_AddItemToArray(inner, next);
        inner = next;
    }
    return top;
}

static void assert_tree_refused(cJSON *json, const char *reason)
{
    struct lb_why why = {{0}};

    assert_int_equal(json_check_tree(json, &why), LB_EINVAL);
    if (strstr(why.text, reason) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", why.text, reason);
    cJSON_Delete(json);
}

/* Trees built by code are held to what json_parse_strict guarantees. */
static void test_check_tree(void **state)
{
    cJSON *json = cJSON_CreateObject();
    cJSON *tree;

    (void)state;
    cJSON_AddNumberToObject(json, "max", 9007199254740992.0);
    cJSON_AddNumberToObject(json, "min", -9007199254740992.0);
    cJSON_AddStringToObject(json, "utf8", "caf\xc3\xa9 \xf0\x9f\x98\x80");
    cJSON_AddStringToObject(json, "caf\xc3\xa9", "key in UTF-8");
    cJSON_AddStringToObject(json, "control", "tab\there"); /* printed as an escape */
    cJSON_AddItemToObject(json, "list", cJSON_CreateArray());
    cJSON_AddNullToObject(json, "null");
    cJSON_AddTrueToObject(json, "true");
    assert_int_equal(json_check_tree(json, NULL), LB_OK);
    cJSON_Delete(json);
    assert_int_equal(json_check_tree(NULL, NULL), LB_EINVAL);
    assert_int_equal(json_check_tree(cJSON_GetObjectItem(NULL, "x"), NULL), LB_EINVAL);

    tree = nested_tree(JSON_MAX_DEPTH); /* at the limit */
    assert_int_equal(json_check_tree(tree, NULL), LB_OK);
    cJSON_Delete(tree);
    assert_tree_refused(nested_tree(JSON_MAX_DEPTH + 1), "nesting deeper than 32");

    json = cJSON_CreateObject();
    cJSON_AddNumberToObject(json, "n", 9007199254740994.0);
    assert_tree_refused(json, "number 9007199254740994 exceeds 2^53 at depth 2");
    json = cJSON_CreateArray();
    cJSON_AddItemToArray(json, cJSON_CreateNumber(-1e300));
    assert_tree_refused(json, "exceeds 2^53");
    json = cJSON_CreateArray();
    cJSON_AddItemToArray(json, cJSON_CreateNumber(NAN));
    assert_tree_refused(json, "exceeds 2^53");
    json = cJSON_CreateArray();
    cJSON_AddItemToArray(json, cJSON_CreateNumber(INFINITY));
    assert_tree_refused(json, "exceeds 2^53");
    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "s", "bad \xff");
    assert_tree_refused(json, "a string at depth 2 is not valid UTF-8");
    json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "k\xc0\xaf", "overlong key");
    assert_tree_refused(json, "a key at depth 1 is missing or not valid UTF-8");
    json = cJSON_CreateObject();
    cJSON_AddRawToObject(json, "raw", "{\"a\":1,\"a\":2}");
    assert_tree_refused(json, "raw or invalid JSON");
    json = cJSON_CreateObject();
    cJSON_AddNumberToObject(json, "id", 1);
    cJSON_AddNumberToObject(json, "id", 2); /* cJSON does not check */
    assert_tree_refused(json, "duplicate key \"id\" in object at depth 1");
}

static void test_get_int(void **state)
{
    const char *text =
        "{\"a\":5,\"f\":1.5,\"s\":\"5\",\"neg\":-7,\"whole\":3.0,\"big\":9007199254740992,"
        "\"n\":null,\"t\":true}";
    cJSON *json = NULL;
    struct lb_why why = {{0}};
    int64_t v = 42;

    (void)state;
    assert_int_equal(json_parse_strict(text, strlen(text), &json, NULL), LB_OK);
    assert_int_equal(json_get_int(json, "a", 0, 10, &v, &why), LB_OK);
    assert_int_equal(v, 5);
    assert_int_equal(json_get_int(json, "a", 5, 5, &v, &why), LB_OK); /* at both bounds */
    v = 42;
    assert_int_equal(json_get_int(json, "a", 0, 4, &v, &why), LB_EINVAL); /* one past max */
    assert_string_equal(why.text, "\"a\" 5 is outside [0, 4]");
    assert_int_equal(v, 42); /* untouched on failure */
    assert_int_equal(json_get_int(json, "a", 6, 10, &v, &why), LB_EINVAL); /* one below min */
    assert_int_equal(json_get_int(json, "neg", -7, 0, &v, &why), LB_OK);
    assert_int_equal(v, -7);
    assert_int_equal(json_get_int(json, "whole", 0, 10, &v, &why), LB_OK);
    assert_int_equal(v, 3);
    assert_int_equal(json_get_int(json, "big", 0, INT64_MAX, &v, &why), LB_OK);
    assert_int_equal(v, JSON_MAX_SAFE_INTEGER);
    assert_int_equal(json_get_int(json, "big", 0, JSON_MAX_SAFE_INTEGER - 1, &v, &why), LB_EINVAL);
    assert_int_equal(json_get_int(json, "f", 0, 10, &v, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "must be an integer, not 1.5"));
    assert_int_equal(json_get_int(json, "s", 0, 10, &v, &why), LB_EINVAL);
    assert_string_equal(why.text, "\"s\" must be an integer");
    assert_int_equal(json_get_int(json, "n", 0, 10, &v, &why), LB_EINVAL);
    assert_int_equal(json_get_int(json, "t", 0, 10, &v, &why), LB_EINVAL);
    assert_int_equal(json_get_int(json, "missing", 0, 10, &v, &why), LB_ENOTFOUND);
    assert_string_equal(why.text, "\"missing\" is required");
    assert_int_equal(json_get_int(json, "A", 0, 10, &v, NULL), LB_ENOTFOUND); /* case-sensitive */
    assert_int_equal(json_get_int(NULL, "a", 0, 10, &v, NULL), LB_ENOTFOUND);
    assert_int_equal(json_get_int(cJSON_GetObjectItem(json, "a"), "a", 0, 10, &v, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "not inside a JSON object"));
    cJSON_Delete(json);
}

/* Trees built by code rather than parsed can hold what the parser refuses. */
static void test_get_int_built_trees(void **state)
{
    cJSON *json = cJSON_CreateObject();
    int64_t v = 42;

    (void)state;
    cJSON_AddNumberToObject(json, "huge", 1e300);
    cJSON_AddNumberToObject(json, "past", 9007199254740994.0);
    cJSON_AddNumberToObject(json, "low", -1e19);
    assert_int_equal(json_get_int(json, "huge", INT64_MIN, INT64_MAX, &v, NULL), LB_EINVAL);
    assert_int_equal(json_get_int(json, "past", INT64_MIN, INT64_MAX, &v, NULL), LB_EINVAL);
    assert_int_equal(json_get_int(json, "low", INT64_MIN, INT64_MAX, &v, NULL), LB_EINVAL);
    assert_int_equal(v, 42);
    cJSON_Delete(json);
}

static void test_get_string(void **state)
{
    const char *text = "{\"s\":\"abcd\",\"e\":\"\",\"n\":1,\"u\":\"\\u00e9\"}";
    cJSON *json = NULL;
    struct lb_why why = {{0}};
    const char *v = NULL;

    (void)state;
    assert_int_equal(json_parse_strict(text, strlen(text), &json, NULL), LB_OK);
    assert_int_equal(json_get_string(json, "s", 4, &v, &why), LB_OK); /* at the limit */
    assert_string_equal(v, "abcd");
    v = NULL;
    assert_int_equal(json_get_string(json, "s", 3, &v, &why), LB_EINVAL); /* one past */
    assert_string_equal(why.text, "\"s\" is longer than 3 bytes");
    assert_null(v);
    assert_int_equal(json_get_string(json, "u", 2, &v, &why), LB_OK); /* bytes, not characters */
    assert_int_equal(json_get_string(json, "u", 1, &v, &why), LB_EINVAL);
    assert_int_equal(json_get_string(json, "e", 4, &v, &why), LB_EINVAL);
    assert_string_equal(why.text, "\"e\" must not be empty");
    assert_int_equal(json_get_string(json, "n", 4, &v, &why), LB_EINVAL);
    assert_string_equal(why.text, "\"n\" must be a string");
    assert_int_equal(json_get_string(json, "x", 4, &v, &why), LB_ENOTFOUND);
    assert_int_equal(json_get_string(NULL, "x", 4, &v, NULL), LB_ENOTFOUND);
    cJSON_Delete(json);
}

/* cJSON alone prints 2^53 as 9.00719925474099e+15; json_print keeps every number exact. */
static void test_print_exact(void **state)
{
    cJSON *tree = cJSON_CreateObject();
    char *text;

    (void)state;
    cJSON_AddNumberToObject(tree, "big", 9007199254740992.0);
    cJSON_AddNumberToObject(tree, "third", 0.30000000000000004);
    cJSON_AddNumberToObject(tree, "small", 42);
    cJSON_AddItemToObject(tree, "nested", cJSON_CreateObject());
    cJSON_AddNumberToObject(cJSON_GetObjectItem(tree, "nested"), "n", -9007199254740991.0);
    text = json_print(tree);
    assert_string_equal(text, "{\"big\":9007199254740992,\"third\":0.30000000000000004,"
                              "\"small\":42,\"nested\":{\"n\":-9007199254740991}}");
    free(text);
    cJSON_Delete(tree);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print_exact),         cmocka_unit_test(test_valid_documents),
        cmocka_unit_test(test_malformed),           cmocka_unit_test(test_what_cjson_relaxes),
        cmocka_unit_test(test_trailing_bytes),      cmocka_unit_test(test_not_nul_terminated),
        cmocka_unit_test(test_duplicate_keys),      cmocka_unit_test(test_number_limits),
        cmocka_unit_test(test_depth_limit),         cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_check_tree),          cmocka_unit_test(test_get_int),
        cmocka_unit_test(test_get_int_built_trees), cmocka_unit_test(test_get_string),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
