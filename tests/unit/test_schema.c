/*
 * test_schema.c - the C validator against the contract's own files: every
 * example in schemas/ is valid, and each kind of violation is refused with
 * a reason that names the member at fault.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "schema.h"

static char schema_dir[512];

static int setup(void **state)
{
    struct schema_set *set = NULL;

    snprintf(schema_dir, sizeof(schema_dir), "%s/schemas",
             getenv("LB_SOURCE_DIR") ? getenv("LB_SOURCE_DIR") : ".");
    assert_int_equal(schema_set_open(schema_dir, &set, NULL), LB_OK);
    *state = set;
    return 0;
}

static int teardown(void **state)
{
    schema_set_free(*state);
    return 0;
}

/* Validates every example of schemas/<sub>/<file>.json against its file. */
static int examples_in(struct schema_set *set, const char *sub)
{
    char dir[600];
    DIR *d;
    struct dirent *e;
    int checked = 0;

    snprintf(dir, sizeof(dir), "%s/%s", schema_dir, sub);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char rel[300], path[900];
        struct lb_why why = {{0}};
        FILE *f;
        char *text;
        long size;
        cJSON *root, *example;

        if (strstr(e->d_name, ".json") == NULL)
            continue;
        snprintf(rel, sizeof(rel), "%s%s%s", sub, *sub ? "/" : "", e->d_name);
        snprintf(path, sizeof(path), "%s/%s", schema_dir, rel);
        f = fopen(path, "rb");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        rewind(f);
        text = calloc(1, (size_t)size + 1);
        assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
        fclose(f);
        root = cJSON_Parse(text);
        free(text);
        assert_non_null(root);
        cJSON_ArrayForEach(example, cJSON_GetObjectItem(root, "examples"))
        {
            if (schema_validate(set, rel, example, &why) != LB_OK)
                fail_msg("%s: example refused: %s", rel, why.text);
            checked++;
        }
        cJSON_Delete(root);
    }
    closedir(d);
    return checked;
}

static void test_every_example_is_valid(void **state)
{
    int n = examples_in(*state, "") + examples_in(*state, "events") + examples_in(*state, "api");

    assert_true(n >= 20);
}

/* Validates `json` against `path`; returns the verdict and the reason. */
static enum lb_err verdict(struct schema_set *set, const char *path, const char *json,
                           struct lb_why *why)
{
    cJSON *inst = cJSON_Parse(json);
    enum lb_err err;

    assert_non_null(inst);
    err = schema_validate(set, path, inst, why);
    cJSON_Delete(inst);
    return err;
}

#define EVENT(tenant, data)                                                                        \
    "{\"specversion\":\"1.0\",\"id\":\"01JD8Z3T2V6Q9R8S7T6V5W4X41\",\"source\":\"/p\","            \
    "\"type\":\"licensebus.sample.increment.v1\",\"time\":\"2026-11-22T10:00:00Z\","               \
    "\"tenant\":\"" tenant "\",\"data\":" data "}"

static void assert_refused(struct schema_set *set, const char *path, const char *json,
                           const char *needle)
{
    struct lb_why why = {{0}};

    assert_int_equal(verdict(set, path, json, &why), LB_EINVAL);
    if (strstr(why.text, needle) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", why.text, needle);
}

static void test_violations_are_named(void **state)
{
    struct schema_set *set = *state;
    const char *inc = "events/sample.increment.v1.json";
    struct lb_why why = {{0}};

    assert_int_equal(verdict(set, inc, EVENT("acme", "{\"counter\":\"c\",\"amount\":2}"), &why),
                     LB_OK);
    /* required, through allOf and a $ref to another file */
    assert_refused(set, inc, EVENT("acme", "{\"counter\":\"c\"}"), "/data: misses the required");
    /* additionalProperties false */
    assert_refused(set, inc, EVENT("acme", "{\"counter\":\"c\",\"amount\":2,\"x\":1}"),
                   "\"x\", which is not allowed");
    /* type integer */
    assert_refused(set, inc, EVENT("acme", "{\"counter\":\"c\",\"amount\":2.5}"),
                   "/data/amount: must be of type integer");
    /* minimum / maximum */
    assert_refused(set, inc, EVENT("acme", "{\"counter\":\"c\",\"amount\":2000000}"),
                   "/data/amount: is outside its maximum");
    /* not const */
    assert_refused(set, inc, EVENT("acme", "{\"counter\":\"c\",\"amount\":0}"), "must not match");
    /* pattern */
    assert_refused(set, inc, EVENT("acme", "{\"counter\":\"C!\",\"amount\":1}"),
                   "/data/counter: does not match the pattern");
    assert_refused(set, inc, EVENT("-acme", "{\"counter\":\"c\",\"amount\":1}"), "/tenant");
    /* const type */
    assert_refused(set, inc,
                   "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/p\",\"type\":"
                   "\"licensebus.sample.other.v1\",\"time\":\"2026-11-22T10:00:00Z\","
                   "\"tenant\":\"a\",\"data\":{\"counter\":\"c\",\"amount\":1}}",
                   "/type: must be the constant licensebus.sample.increment.v1");
    /* format date-time */
    assert_refused(set, inc,
                   "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/p\",\"type\":"
                   "\"licensebus.sample.increment.v1\",\"time\":\"yesterday\","
                   "\"tenant\":\"a\",\"data\":{\"counter\":\"c\",\"amount\":1}}",
                   "/time: is not an RFC 3339 date-time");
    /* oneOf (org or null) and enum */
    assert_refused(set, "events/directory.org_created.v1.json",
                   "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/p\",\"type\":"
                   "\"licensebus.directory.org_created.v1\",\"time\":\"2026-11-22T10:00:00Z\","
                   "\"tenant\":\"d\",\"data\":{\"org\":\"o\",\"parent\":5,\"name\":\"n\","
                   "\"kind\":\"msp\"}}",
                   "/data/parent: matches none of the oneOf");
    assert_refused(set, "events/directory.org_created.v1.json",
                   "{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/p\",\"type\":"
                   "\"licensebus.directory.org_created.v1\",\"time\":\"2026-11-22T10:00:00Z\","
                   "\"tenant\":\"d\",\"data\":{\"org\":\"o\",\"parent\":null,\"name\":\"n\","
                   "\"kind\":\"king\"}}",
                   "/data/kind: is not one of the allowed values");
}

static void test_missing_and_unsupported(void **state)
{
    struct schema_set *set = *state;
    struct lb_why why = {{0}};

    assert_int_equal(verdict(set, "events/nope.v1.json", "{}", &why), LB_ENOTFOUND);
    assert_int_equal(verdict(set, "../etc/passwd", "{}", &why), LB_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_example_is_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_violations_are_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_unsupported, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
