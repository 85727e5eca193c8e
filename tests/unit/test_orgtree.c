/*
 * test_orgtree.c - the org tree learnt from directory events and the
 * subtree rule: creation, moves, renames, deletions, refusals, callers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "orgtree.h"
#include "store.h"

static int setup(void **state)
{
    struct store_options opts = {.path = ":memory:"};
    struct store *s = NULL;

    assert_int_equal(store_open(&opts, &s, NULL), LB_OK);
    assert_int_equal(store_migrate(s, "orgtree", orgtree_migrations, orgtree_migration_count, NULL),
                     LB_OK);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    return 0;
}

/* Applies directory event `name` with `data` (JSON text) for `tenant`. */
static enum lb_err apply(struct store *s, const char *tenant, const char *name, const char *data,
                         struct lb_why *why)
{
    static int seq;
    char text[1024];
    struct envelope ev = {0};
    enum lb_err err;

    snprintf(text, sizeof(text),
             "{\"specversion\":\"1.0\",\"id\":\"e%d\",\"source\":\"/platform/directory\","
             "\"type\":\"licensebus.directory.%s.v1\",\"time\":\"2026-11-22T10:00:00Z\","
             "\"tenant\":\"%s\",\"data\":%s}",
             ++seq, name, tenant, data);
    err = envelope_parse(text, strlen(text), &ev, why);
    assert_int_equal(err, LB_OK);
    err = orgtree_apply(s, &ev, why);
    envelope_release(&ev);
    return err;
}

#define CREATE(s, org, parent, kind)                                                               \
    assert_int_equal(apply(s, "dist", "org_created",                                               \
                           "{\"org\":\"" org "\",\"parent\":" parent ",\"name\":\"" org            \
                           "\",\"kind\":\"" kind "\"}",                                            \
                           NULL),                                                                  \
                     LB_OK)

/* dist -> msp1 -> cust1 -> sub1 -> sub2 ; dist -> msp2 -> cust2 */
static void build_tree(struct store *s)
{
    CREATE(s, "dist", "null", "distributor");
    CREATE(s, "msp1", "\"dist\"", "msp");
    CREATE(s, "msp2", "\"dist\"", "msp");
    CREATE(s, "cust1", "\"msp1\"", "customer");
    CREATE(s, "cust2", "\"msp2\"", "customer");
    CREATE(s, "sub1", "\"cust1\"", "suborg");
    CREATE(s, "sub2", "\"sub1\"", "suborg");
}

static bool within(struct store *s, const char *ancestor, const char *org)
{
    bool w = true;

    assert_int_equal(orgtree_within(s, "dist", ancestor, org, &w, NULL), LB_OK);
    return w;
}

static void test_subtree_rule(void **state)
{
    struct store *s = *state;

    build_tree(s);
    assert_true(within(s, "dist", "sub2"));
    assert_true(within(s, "msp1", "msp1"));
    assert_true(within(s, "cust1", "sub2"));
    assert_false(within(s, "msp1", "cust2"));
    assert_false(within(s, "sub2", "cust1"));
    assert_false(within(s, "msp1", "nope"));
    assert_false(within(s, "nope", "msp1"));
}

static void test_create_is_idempotent_and_refuses_conflicts(void **state)
{
    struct store *s = *state;
    struct lb_why why = {{0}};

    build_tree(s);
    CREATE(s, "cust1", "\"msp1\"", "customer"); /* the same fact again */
    assert_int_equal(apply(s, "dist", "org_created",
                           "{\"org\":\"cust1\",\"parent\":\"msp2\",\"name\":\"x\","
                           "\"kind\":\"customer\"}",
                           &why),
                     LB_ECONFLICT);
    assert_non_null(strstr(why.text, "already exists"));
    /* orphan: the parent is unknown */
    assert_int_equal(apply(s, "dist", "org_created",
                           "{\"org\":\"c9\",\"parent\":\"ghost\",\"name\":\"x\","
                           "\"kind\":\"customer\"}",
                           &why),
                     LB_ECONFLICT);
    assert_non_null(strstr(why.text, "ghost"));
    /* a root that is not the tenant */
    assert_int_equal(apply(s, "dist", "org_created",
                           "{\"org\":\"other\",\"parent\":null,\"name\":\"x\","
                           "\"kind\":\"distributor\"}",
                           &why),
                     LB_EINVAL);
    /* an msp under a customer */
    assert_int_equal(apply(s, "dist", "org_created",
                           "{\"org\":\"m9\",\"parent\":\"cust1\",\"name\":\"x\",\"kind\":\"msp\"}",
                           &why),
                     LB_ECONFLICT);
    assert_non_null(strstr(why.text, "cannot be under"));
    /* malformed data */
    assert_int_equal(apply(s, "dist", "org_created",
                           "{\"org\":\"c9\",\"parent\":\"msp1\",\"name\":\"x\",\"kind\":\"king\"}",
                           &why),
                     LB_EINVAL);
    assert_int_equal(apply(s, "dist", "org_created",
                           "{\"org\":\"c9\",\"parent\":\"msp1\",\"name\":\"x\","
                           "\"kind\":\"customer\",\"extra\":1}",
                           &why),
                     LB_EINVAL);
    assert_non_null(strstr(why.text, "extra"));
    assert_int_equal(apply(s, "dist", "org_created",
                           "{\"org\":\"a.b\",\"parent\":\"msp1\",\"name\":\"x\","
                           "\"kind\":\"customer\"}",
                           &why),
                     LB_EINVAL);
    assert_int_equal(apply(s, "dist", "org_created",
                           "{\"org\":\"c9\",\"name\":\"x\","
                           "\"kind\":\"customer\"}",
                           &why),
                     LB_EINVAL);
}

static void test_move_carries_the_subtree(void **state)
{
    struct store *s = *state;
    struct lb_why why = {{0}};
    struct org o;

    build_tree(s);
    assert_int_equal(apply(s, "dist", "org_moved", "{\"org\":\"cust1\",\"parent\":\"msp2\"}", NULL),
                     LB_OK);
    assert_true(within(s, "msp2", "sub2"));
    assert_false(within(s, "msp1", "sub1"));
    assert_int_equal(orgtree_get(s, "dist", "cust1", &o, NULL), LB_OK);
    assert_string_equal(o.parent, "msp2");
    assert_int_equal(orgtree_get(s, "dist", "sub1", &o, NULL), LB_OK);
    assert_string_equal(o.parent, "cust1"); /* only the moved org's parent changes */
    /* moving again to the same place is a no-op */
    assert_int_equal(apply(s, "dist", "org_moved", "{\"org\":\"cust1\",\"parent\":\"msp2\"}", NULL),
                     LB_OK);
    /* under its own descendant */
    assert_int_equal(apply(s, "dist", "org_moved", "{\"org\":\"sub1\",\"parent\":\"sub2\"}", &why),
                     LB_ECONFLICT);
    assert_non_null(strstr(why.text, "under itself"));
    assert_int_equal(apply(s, "dist", "org_moved", "{\"org\":\"dist\",\"parent\":\"msp1\"}", &why),
                     LB_ECONFLICT);
    assert_int_equal(apply(s, "dist", "org_moved", "{\"org\":\"ghost\",\"parent\":\"msp1\"}", &why),
                     LB_ECONFLICT);
}

static void test_rename_and_delete(void **state)
{
    struct store *s = *state;
    struct lb_why why = {{0}};
    struct org o;

    build_tree(s);
    assert_int_equal(apply(s, "dist", "org_renamed", "{\"org\":\"cust1\",\"name\":\"Acme\"}", NULL),
                     LB_OK);
    assert_int_equal(orgtree_get(s, "dist", "cust1", &o, NULL), LB_OK);
    assert_string_equal(o.name, "Acme");
    assert_int_equal(apply(s, "dist", "org_deleted", "{\"org\":\"sub1\"}", &why), LB_ECONFLICT);
    assert_non_null(strstr(why.text, "sub-org"));
    assert_int_equal(apply(s, "dist", "org_deleted", "{\"org\":\"sub2\"}", NULL), LB_OK);
    assert_int_equal(apply(s, "dist", "org_deleted", "{\"org\":\"sub2\"}", NULL), LB_OK);
    assert_false(within(s, "cust1", "sub2"));
    assert_int_equal(orgtree_get(s, "dist", "sub2", &o, NULL), LB_OK);
    assert_true(o.deleted);
    assert_int_equal(apply(s, "dist", "org_renamed", "{\"org\":\"sub2\",\"name\":\"x\"}", &why),
                     LB_ECONFLICT);
}

static void test_tenants_are_separate(void **state)
{
    struct store *s = *state;
    bool w = true;

    build_tree(s);
    assert_int_equal(apply(s, "other", "org_created",
                           "{\"org\":\"other\",\"parent\":null,\"name\":\"o\","
                           "\"kind\":\"distributor\"}",
                           NULL),
                     LB_OK);
    assert_int_equal(orgtree_within(s, "other", "other", "cust1", &w, NULL), LB_OK);
    assert_false(w);
}

static enum lb_err decode(struct store *s, const char *json, struct caller *c, struct lb_why *why)
{
    cJSON *body = cJSON_Parse(json);
    enum lb_err err;

    assert_non_null(body);
    err = caller_decode(s, body, c, why);
    if (err == LB_OK) /* the strings borrow from body: check them before it goes */
        err = caller_may_act_on(s, c, "sub2", why);
    cJSON_Delete(body);
    return err;
}

static void test_caller(void **state)
{
    struct store *s = *state;
    struct lb_why why = {{0}};
    struct caller c;

    build_tree(s);
    assert_int_equal(
        decode(s, "{\"tenant\":\"dist\",\"caller\":{\"org\":\"msp1\",\"user\":\"ana\"}}", &c, &why),
        LB_OK);
    assert_int_equal(
        decode(s, "{\"tenant\":\"dist\",\"caller\":{\"org\":\"msp2\",\"user\":\"bo\"}}", &c, &why),
        LB_EFORBIDDEN);
    assert_non_null(strstr(why.text, "outside"));
    assert_int_equal(
        decode(s, "{\"tenant\":\"dist\",\"caller\":{\"org\":\"zzz\",\"user\":\"bo\"}}", &c, &why),
        LB_EFORBIDDEN);
    assert_int_equal(
        decode(s, "{\"tenant\":\"x\",\"caller\":{\"org\":\"msp1\",\"user\":\"bo\"}}", &c, &why),
        LB_EFORBIDDEN);
    assert_int_equal(decode(s, "{\"tenant\":\"dist\"}", &c, &why), LB_EINVAL);
    assert_int_equal(decode(s, "{\"tenant\":\"dist\",\"caller\":{\"org\":\"msp1\"}}", &c, &why),
                     LB_EINVAL);
    assert_int_equal(decode(s,
                            "{\"tenant\":\"dist\",\"caller\":{\"org\":\"msp1\",\"user\":\"a\","
                            "\"role\":\"root\"}}",
                            &c, &why),
                     LB_EINVAL);
    assert_non_null(strstr(why.text, "role"));
    assert_int_equal(
        decode(s, "{\"tenant\":\"_sys\",\"caller\":{\"org\":\"msp1\",\"user\":\"a\"}}", &c, &why),
        LB_EINVAL);
}

struct listing {
    char ids[16][65];
    int n;
};

static enum lb_err collect(const struct org *org, void *arg)
{
    struct listing *l = arg;

    snprintf(l->ids[l->n++], sizeof(l->ids[0]), "%s", org->id);
    return LB_OK;
}

static void test_each_in_subtree(void **state)
{
    struct store *s = *state;
    struct listing l = {0};

    build_tree(s);
    assert_int_equal(orgtree_each_in_subtree(s, "dist", "msp1", collect, &l, NULL), LB_OK);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.ids[0], "msp1");
    assert_string_equal(l.ids[1], "cust1");
    assert_string_equal(l.ids[2], "sub1");
    assert_string_equal(l.ids[3], "sub2");
}

/* A subtree is an index range of paths: "cust1" must not take "cust10" (a longer id) along. */
static void test_subtree_range_stops_at_longer_ids(void **state)
{
    struct store *s = *state;
    struct listing l = {0};

    build_tree(s);
    CREATE(s, "cust10", "\"msp1\"", "customer");
    CREATE(s, "cust1-a", "\"msp1\"", "customer");
    CREATE(s, "sub10", "\"cust10\"", "suborg");
    assert_int_equal(orgtree_each_in_subtree(s, "dist", "cust1", collect, &l, NULL), LB_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.ids[0], "cust1");
    assert_string_equal(l.ids[1], "sub1");
    assert_string_equal(l.ids[2], "sub2");
    /* A move takes exactly its subtree: cust10 and its sub-org stay where they are. */
    assert_int_equal(apply(s, "dist", "org_moved", "{\"org\":\"cust1\",\"parent\":\"msp2\"}", NULL),
                     LB_OK);
    assert_true(within(s, "msp2", "sub2"));
    assert_true(within(s, "msp1", "sub10"));
    assert_true(within(s, "msp1", "cust1-a"));
    assert_false(within(s, "msp2", "cust10"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_subtree_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_is_idempotent_and_refuses_conflicts, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_move_carries_the_subtree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subtree_range_stops_at_longer_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_and_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenants_are_separate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_in_subtree, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
