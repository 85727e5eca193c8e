/*
 * test_reporting_store.c - reporting's SQL on an in-memory database: the
 * overview read from its maintained counts (rep_overview, rep_seat_totals)
 * answers exactly what the direct count over every row of the scope answered
 * (the reference below is the statements the service ran before the counts
 * existed), for every scope of a tree with a sub-org shared key, expired,
 * expiring and hidden licenses, several products, subscriptions and seats,
 * through updates and org moves both ways; a move recomputes the shown-under
 * choice; migration 2 of a database made by migration 1 gives the same
 * answers; every statement of store.c reads through an index, never the
 * whole tenant.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"
#include "orgtree.h"
#include "reporting.h"

#define T   "dist-1"
#define DAY REP_DAY_MS

static int64_t now_ms;
static int event_seq;

static struct store *open_store(size_t reporting_steps)
{
    struct store_options opts = {.path = ":memory:"};
    struct store *s = NULL;

    assert_int_equal(store_open(&opts, &s, NULL), LB_OK);
    assert_int_equal(store_migrate(s, "reporting", rep_migrations, reporting_steps, NULL), LB_OK);
    assert_int_equal(store_migrate(s, "orgtree", orgtree_migrations, orgtree_migration_count, NULL),
                     LB_OK);
    return s;
}

static int setup(void **state)
{
    assert_int_equal(envelope_parse_time("2026-11-22T10:00:00.000Z", &now_ms), LB_OK);
    *state = open_store(rep_migration_count);
    return 0;
}

static int teardown(void **state)
{
    store_close(*state);
    return 0;
}

static void org_event(struct store *s, const char *name, const char *data)
{
    char text[1024];
    struct envelope ev = {0};
    struct lb_why why = {{0}};

    snprintf(
        text, sizeof(text),
        "{\"specversion\":\"1.0\",\"id\":\"01JREPSTORE000000000%06d\",\"source\":\"/platform/"
        "directory\",\"type\":\"licensebus.directory.%s.v1\",\"time\":\"2026-11-01T00:00:00Z\","
        "\"tenant\":\"" T "\",\"data\":%s}",
        ++event_seq, name, data);
    assert_int_equal(envelope_parse(text, strlen(text), &ev, &why), LB_OK);
    if (orgtree_apply(s, &ev, &why) != LB_OK)
        fail_msg("%s %s: %s", name, data, why.text);
    if (strcmp(name, "org_moved") == 0) {
        const char *org = cJSON_GetStringValue(cJSON_GetObjectItem(ev.data, "org"));

        if (rep_store_org_moved(s, T, org, &why) != LB_OK)
            fail_msg("org_moved %s: %s", org, why.text);
    }
    envelope_release(&ev);
}

static void org(struct store *s, const char *id, const char *parent, const char *kind)
{
    char data[256];

    snprintf(data, sizeof(data),
             "{\"org\":\"%s\",\"parent\":%s%s%s,\"name\":\"Org %s\",\"kind\":\"%s\"}", id,
             parent ? "\"" : "", parent ? parent : "null", parent ? "\"" : "", id, kind);
    org_event(s, "org_created", data);
}

static void move(struct store *s, const char *id, const char *parent)
{
    char data[128];

    snprintf(data, sizeof(data), "{\"org\":\"%s\",\"parent\":\"%s\"}", id, parent);
    org_event(s, "org_moved", data);
}

/* License `id` with key K-<id>; `orgs` comma-separated; `expiration` the last valid day. */
static void license(struct store *s, const char *id, const char *product, const char *expiration,
                    const char *orgs, int64_t deployed, int64_t version)
{
    struct rep_license l = {0};
    struct lb_why why = {{0}};
    char list[256];
    bool applied = false;

    snprintf(l.id, sizeof(l.id), "%s", id);
    snprintf(l.key, sizeof(l.key), "K-%s", id);
    snprintf(l.product, sizeof(l.product), "%s", product);
    snprintf(l.delivery, sizeof(l.delivery), "%s",
             strcmp(product, "cloud") == 0 ? "cloud" : "on_premises");
    snprintf(l.type, sizeof(l.type), "purchased");
    assert_true(rep_date_parse("2026-01-01", &l.start_ms));
    assert_true(rep_date_parse(expiration, &l.expires_ms));
    l.expires_ms += DAY;
    l.limit = strcmp(product, "cloud") == 0 ? 1000 : 5;
    l.deployed = strcmp(product, "cloud") == 0 ? 0 : deployed;
    l.scans_used = strcmp(product, "cloud") == 0 ? deployed * 100 : 0;
    l.version = version;
    snprintf(list, sizeof(list), "%s", orgs);
    for (char *save = NULL, *o = strtok_r(list, ",", &save); o != NULL;
         o = strtok_r(NULL, ",", &save))
        snprintf(l.orgs[l.org_count++], REP_ORG_MAX + 1, "%s", o);
    assert_int_equal(rep_store_license_put(s, T, &l, &applied, &why), LB_OK);
    assert_true(applied);
    if (rep_store_license_place(s, T, &l, &why) != LB_OK)
        fail_msg("placing %s: %s", id, why.text);
}

static void subscription(struct store *s, const char *id, const char *customer, const char *package,
                         int64_t quantity, const char *status, int64_t trial_days, int64_t version)
{
    struct rep_subscription sub = {.id = id,
                                   .customer = customer,
                                   .package = package,
                                   .basis = "users",
                                   .status = status,
                                   .quantity = quantity,
                                   .version = version,
                                   .trial_end_ms =
                                       trial_days ? now_ms + trial_days * DAY : REP_NO_TIME,
                                   .billing_start_ms = REP_NO_TIME,
                                   .billing_end_ms = REP_NO_TIME};
    struct lb_why why = {{0}};

    if (rep_store_subscription_put(s, T, &sub, &why) != LB_OK)
        fail_msg("subscription %s: %s", id, why.text);
}

static void seat(struct store *s, const char *sub, const char *user, const char *group,
                 bool assigned)
{
    assert_int_equal(rep_store_seat(s, T, sub, user, group, assigned, NULL), LB_OK);
}

static void product(struct store *s, const char *id, bool shown)
{
    assert_int_equal(rep_store_product_put(s, id, id,
                                           strcmp(id, "cloud") == 0 ? "cloud" : "on_premises",
                                           shown, NULL),
                     LB_OK);
}

static void scope_of(struct store *s, const char *org, struct rep_scope *sc)
{
    memset(sc, 0, sizeof(*sc));
    sc->tenant = T;
    snprintf(sc->org, sizeof(sc->org), "%s", org);
    sc->now_ms = now_ms;
    sc->window_ms = 30 * DAY;
    assert_int_equal(rep_store_org_path(s, T, org, sc->path, sizeof(sc->path), NULL), LB_OK);
}

/* ---- the reference: the direct count over every row of the scope ---------------------- */

#define REF_SCOPE_LICENSES                                                                         \
    "(SELECT DISTINCT r.license, r.key, r.product, r.delivery, r.expires_ms, r.deployed, "         \
    "r.lim, r.scans_used FROM rep_shown r WHERE r.tenant = ?1 AND r.org_path >= ?2 "               \
    "AND r.org_path < ?3) d LEFT JOIN rep_products p ON p.id = d.product "                         \
    "WHERE COALESCE(p.shown, 1) = 1"
#define REF_SCOPE_SUBSCRIPTIONS                                                                    \
    "FROM rep_subscriptions s JOIN lb_org o ON o.tenant = s.tenant AND o.id = s.customer "         \
    "WHERE s.tenant = ?1 AND o.path >= ?2 AND o.path < ?3 AND s.status != 'cancelled'"
#define REF_SEATS_USED                                                                             \
    "(SELECT COUNT(*) FROM rep_seats e WHERE e.tenant = s.tenant AND e.subscription = s.id)"

static sqlite3_stmt *ref_stmt(struct store *s, const char *sql, const struct rep_scope *sc)
{
    sqlite3_stmt *st = NULL;
    char hi[REP_PATH_SIZE];

    if (sqlite3_prepare_v2(store_db(s), sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(store_db(s)));
    snprintf(hi, sizeof(hi), "%s", sc->path);
    hi[strlen(hi) - 1] = '0';
    sqlite3_bind_text(st, 1, sc->tenant, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, sc->path, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, hi, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 4, sc->now_ms);
    sqlite3_bind_int64(st, 5, sc->window_ms);
    return st;
}

static const char *text_of(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);

    return t != NULL ? (const char *)t : "";
}

static void add_day(cJSON *o, const char *name, int64_t ms)
{
    char text[16];

    rep_date_format(ms, text);
    cJSON_AddStringToObject(o, name, text);
}

/* What the service answered before rep_overview: the same shape, built from every row. */
static cJSON *reference_overview(struct store *s, const struct rep_scope *sc, int64_t top,
                                 int64_t trial_soon_ms)
{
    static const char licenses_sql[] =
        "SELECT d.product, COALESCE(p.name, d.product), d.delivery, "
        "CASE WHEN ?4 >= d.expires_ms THEN 'expired' WHEN ?4 >= d.expires_ms - ?5 "
        "THEN 'expiring' ELSE 'active' END AS status, COUNT(*), SUM(d.deployed), SUM(d.lim), "
        "SUM(d.scans_used) FROM " REF_SCOPE_LICENSES " GROUP BY d.product, status "
        "ORDER BY d.product, status";
    static const char counts_sql[] =
        "SELECT COALESCE(SUM(d.expires_ms > ?4 AND d.expires_ms <= ?4 + 30 * 86400000), 0), "
        "COALESCE(SUM(d.expires_ms > ?4 AND d.expires_ms <= ?4 + 60 * 86400000), 0), "
        "COALESCE(SUM(d.expires_ms > ?4 AND d.expires_ms <= ?4 + 90 * 86400000), 0) "
        "FROM " REF_SCOPE_LICENSES;
    static const char list_sql[] =
        "SELECT r.license, r.key, r.product, COALESCE(p.name, r.product), MIN(r.org), "
        "r.expires_ms FROM rep_shown r LEFT JOIN rep_products p ON p.id = r.product "
        "WHERE r.tenant = ?1 AND r.org_path >= ?2 AND r.org_path < ?3 AND r.expires_ms > ?4 "
        "AND r.expires_ms <= ?4 + 90 * 86400000 AND COALESCE(p.shown, 1) = 1 "
        "GROUP BY r.license ORDER BY r.expires_ms, r.key LIMIT ?6";
    static const char totals_sql[] =
        "SELECT s.package, COUNT(*), SUM(s.quantity), SUM(" REF_SEATS_USED
        ") " REF_SCOPE_SUBSCRIPTIONS " GROUP BY s.package ORDER BY s.package";
    static const char top_sql[] =
        "SELECT s.customer, o.name, s.id, s.package, s.seat_basis, "
        "s.status, s.quantity, " REF_SEATS_USED " AS used " REF_SCOPE_SUBSCRIPTIONS
        " ORDER BY used - s.quantity DESC, s.customer, s.id LIMIT ?6";
    static const char trials_sql[] =
        "SELECT s.customer, o.name, s.id, s.package, s.trial_end_ms " REF_SCOPE_SUBSCRIPTIONS
        " AND s.status = 'in_trial' AND s.trial_end_ms <= ?4 + ?5 "
        "ORDER BY s.trial_end_ms, s.customer, s.id LIMIT ?6";
    cJSON *reply = cJSON_CreateObject();
    cJSON *by_status = cJSON_AddObjectToObject(reply, "by_status");
    cJSON *products = cJSON_AddArrayToObject(reply, "by_product");
    cJSON *exp, *soonest, *seats, *packages, *ranked, *trials;
    double totals[3] = {0, 0, 0};
    cJSON *cur = NULL;
    char cur_id[REP_PRODUCT_MAX + 1] = "";
    sqlite3_stmt *st = ref_stmt(s, licenses_sql, sc);

    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *status = text_of(st, 3);
        int si = strcmp(status, "active") == 0 ? 0 : strcmp(status, "expiring") == 0 ? 1 : 2;
        double n = (double)sqlite3_column_int64(st, 4);
        bool cloud = strcmp(text_of(st, 2), "cloud") == 0;
        cJSON *counts;

        totals[si] += n;
        if (cur == NULL || strcmp(cur_id, text_of(st, 0)) != 0) {
            cur = cJSON_CreateObject();
            cJSON_AddItemToArray(products, cur);
            counts = cJSON_AddObjectToObject(cur, "by_status");
            cJSON_AddStringToObject(cur, "product", text_of(st, 0));
            cJSON_AddStringToObject(cur, "name", text_of(st, 1));
            cJSON_AddStringToObject(cur, "delivery", text_of(st, 2));
            cJSON_AddNumberToObject(counts, "active", 0);
            cJSON_AddNumberToObject(counts, "expiring", 0);
            cJSON_AddNumberToObject(counts, "expired", 0);
            cJSON_AddNumberToObject(cur, "licenses", 0);
            cJSON_AddNumberToObject(cur, cloud ? "scans_used" : "deployed", 0);
            cJSON_AddNumberToObject(cur, cloud ? "scan_limit" : "purchased", 0);
            snprintf(cur_id, sizeof(cur_id), "%s", text_of(st, 0));
        }
        counts = cJSON_GetObjectItem(cur, "by_status");
        cJSON_SetNumberValue(cJSON_GetObjectItem(counts, status), n);
        cJSON_SetNumberValue(cJSON_GetObjectItem(cur, "licenses"),
                             cJSON_GetObjectItem(cur, "licenses")->valuedouble + n);
        if (si != 2) {
            cJSON *used = cJSON_GetObjectItem(cur, cloud ? "scans_used" : "deployed");
            cJSON *limit = cJSON_GetObjectItem(cur, cloud ? "scan_limit" : "purchased");

            assert_true(used != NULL && limit != NULL); /* one delivery per product */
            if (used != NULL && limit != NULL) {
                cJSON_SetNumberValue(used, used->valuedouble +
                                               (double)sqlite3_column_int64(st, cloud ? 7 : 5));
                cJSON_SetNumberValue(limit,
                                     limit->valuedouble + (double)sqlite3_column_int64(st, 6));
            }
        }
    }
    sqlite3_finalize(st);
    cJSON_AddNumberToObject(by_status, "active", totals[0]);
    cJSON_AddNumberToObject(by_status, "expiring", totals[1]);
    cJSON_AddNumberToObject(by_status, "expired", totals[2]);
    exp = cJSON_AddObjectToObject(reply, "expiring");
    st = ref_stmt(s, counts_sql, sc);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    cJSON_AddNumberToObject(exp, "within_30_days", (double)sqlite3_column_int64(st, 0));
    cJSON_AddNumberToObject(exp, "within_60_days", (double)sqlite3_column_int64(st, 1));
    cJSON_AddNumberToObject(exp, "within_90_days", (double)sqlite3_column_int64(st, 2));
    sqlite3_finalize(st);
    soonest = cJSON_AddArrayToObject(exp, "soonest");
    st = ref_stmt(s, list_sql, sc);
    sqlite3_bind_int64(st, 6, top);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddItemToArray(soonest, o);
        cJSON_AddStringToObject(o, "license", text_of(st, 0));
        cJSON_AddStringToObject(o, "key", text_of(st, 1));
        cJSON_AddStringToObject(o, "product", text_of(st, 2));
        cJSON_AddStringToObject(o, "product_name", text_of(st, 3));
        cJSON_AddStringToObject(o, "org", text_of(st, 4));
        add_day(o, "expiration", sqlite3_column_int64(st, 5) - DAY);
    }
    sqlite3_finalize(st);
    seats = cJSON_AddObjectToObject(reply, "seats");
    packages = cJSON_AddArrayToObject(seats, "by_package");
    ranked = cJSON_AddArrayToObject(seats, "by_subscription");
    trials = cJSON_AddArrayToObject(reply, "trials_ending");
    st = ref_stmt(s, totals_sql, sc);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddItemToArray(packages, o);
        cJSON_AddStringToObject(o, "package", text_of(st, 0));
        cJSON_AddNumberToObject(o, "subscriptions", (double)sqlite3_column_int64(st, 1));
        cJSON_AddNumberToObject(o, "purchased", (double)sqlite3_column_int64(st, 2));
        cJSON_AddNumberToObject(o, "consumed", (double)sqlite3_column_int64(st, 3));
    }
    sqlite3_finalize(st);
    st = ref_stmt(s, top_sql, sc);
    sqlite3_bind_int64(st, 6, top);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        cJSON_AddItemToArray(ranked, o);
        cJSON_AddStringToObject(o, "customer", text_of(st, 0));
        cJSON_AddStringToObject(o, "customer_name", text_of(st, 1));
        cJSON_AddStringToObject(o, "subscription", text_of(st, 2));
        cJSON_AddStringToObject(o, "package", text_of(st, 3));
        cJSON_AddStringToObject(o, "seat_basis", text_of(st, 4));
        cJSON_AddStringToObject(o, "status", text_of(st, 5));
        cJSON_AddNumberToObject(o, "purchased", (double)sqlite3_column_int64(st, 6));
        cJSON_AddNumberToObject(o, "consumed", (double)sqlite3_column_int64(st, 7));
    }
    sqlite3_finalize(st);
    st = ref_stmt(s, trials_sql, sc);
    sqlite3_bind_int64(st, 5, trial_soon_ms);
    sqlite3_bind_int64(st, 6, top);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        char end[32];

        cJSON_AddItemToArray(trials, o);
        cJSON_AddStringToObject(o, "customer", text_of(st, 0));
        cJSON_AddStringToObject(o, "customer_name", text_of(st, 1));
        cJSON_AddStringToObject(o, "subscription", text_of(st, 2));
        cJSON_AddStringToObject(o, "package", text_of(st, 3));
        envelope_format_time(sqlite3_column_int64(st, 4), end);
        cJSON_AddStringToObject(o, "trial_end", end);
    }
    sqlite3_finalize(st);
    return reply;
}

static char *overview_text(struct store *s, const char *scope_org, int64_t top)
{
    struct rep_scope sc;
    struct lb_why why = {{0}};
    cJSON *reply = cJSON_CreateObject();
    char *text;

    scope_of(s, scope_org, &sc);
    if (rep_store_overview(s, &sc, top, 14 * DAY, reply, &why) != LB_OK)
        fail_msg("overview of %s: %s", scope_org, why.text);
    text = cJSON_PrintUnformatted(reply);
    cJSON_Delete(reply);
    return text;
}

static const char *const scopes[] = {"dist-1", "msp-3",  "msp-4",  "cust-7", "sub-7a",
                                     "sub-7b", "cust-8", "cust-9", "sub-9a"};

/* Every scope, top 20 and top 2: the counts answer what the direct count answers. */
static void assert_same_as_direct(struct store *s, const char *when)
{
    for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
        for (int64_t top = 2; top <= 20; top += 18) {
            struct rep_scope sc;
            cJSON *ref;
            char *want, *got = overview_text(s, scopes[i], top);

            scope_of(s, scopes[i], &sc);
            ref = reference_overview(s, &sc, top, 14 * DAY);
            want = cJSON_PrintUnformatted(ref);
            if (strcmp(want, got) != 0)
                fail_msg("%s, overview of %s (top %d):\n  direct %s\n  counts %s", when, scopes[i],
                         (int)top, want, got);
            cJSON_Delete(ref);
            cJSON_free(want);
            cJSON_free(got);
        }
    }
}

/* The orgs license `id` is shown under, comma-separated, by org. */
static const char *shown_under(struct store *s, const char *id)
{
    static char out[256];
    sqlite3_stmt *st = NULL;

    out[0] = '\0';
    assert_int_equal(sqlite3_prepare_v2(store_db(s),
                                        "SELECT org FROM rep_shown WHERE tenant = 'dist-1' AND "
                                        "license = ? ORDER BY org",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", out[0] ? "," : "",
                 text_of(st, 0));
    sqlite3_finalize(st);
    return out;
}

/*
 * dist-1 -> msp-3 -> cust-7 -> sub-7a -> sub-7b
 *                 -> cust-8
 *        -> msp-4 -> cust-9 -> sub-9a
 */
static void seed(struct store *s)
{
    org(s, "dist-1", NULL, "distributor");
    org(s, "msp-3", "dist-1", "msp");
    org(s, "cust-7", "msp-3", "customer");
    org(s, "sub-7a", "cust-7", "suborg");
    org(s, "sub-7b", "sub-7a", "suborg");
    org(s, "cust-8", "msp-3", "customer");
    org(s, "msp-4", "dist-1", "msp");
    org(s, "cust-9", "msp-4", "customer");
    org(s, "sub-9a", "cust-9", "suborg");
    product(s, "core", true);
    product(s, "cloud", true);
    product(s, "access", false);
    product(s, "vault", true);
    license(s, "L01", "core", "2027-10-31", "cust-7,sub-7a", 1, 1); /* shared: sub-7a only */
    license(s, "L02", "cloud", "2026-12-10", "cust-7", 3, 1);       /* expiring */
    license(s, "L03", "access", "2027-10-31", "cust-7", 1, 1);      /* hidden product */
    license(s, "L04", "core", "2027-10-31", "cust-9", 2, 1);
    license(s, "L05", "core", "2026-01-31", "cust-8", 4, 1);         /* expired */
    license(s, "L06", "vault", "2027-01-15", "cust-8,sub-7a", 1, 1); /* unrelated orgs */
    license(s, "L07", "core", "2027-02-10", "sub-7b,cust-7", 2, 1);  /* deeper sub-org */
    license(s, "L08", "vault", "2026-12-01", "msp-3", 3, 1);         /* at the MSP */
    license(s, "L09", "core", "2026-12-20", "cust-9,sub-9a,cust-8", 1, 1);
    license(s, "L10", "cloud", "2026-11-21", "sub-9a", 5, 1); /* expired yesterday */
    license(s, "L11", "core", "2026-12-20", "cust-7", 0, 1);  /* same day as L09 */
    license(s, "L12", "core", "2027-02-20", "dist-1", 1, 1);  /* at the root */
    subscription(s, "sub-1", "cust-7", "core_plus", 1, "in_trial", 5, 1);
    subscription(s, "sub-2", "cust-8", "core", 10, "active", 0, 1);
    subscription(s, "sub-3", "cust-9", "core", 2, "active", 0, 1);
    subscription(s, "sub-4", "cust-7", "core", 5, "cancelled", 0, 1);
    subscription(s, "sub-5", "cust-9", "core_plus", 3, "in_trial", 20, 1);
    seat(s, "sub-1", "u-1", "g-1", true);
    seat(s, "sub-1", "u-2", "g-1", true);
    seat(s, "sub-2", "u-3", "g-2", true);
    seat(s, "sub-2", "u-4", "g-2", true);
    seat(s, "sub-2", "u-5", "g-2", true);
    seat(s, "sub-4", "u-1", "g-1", true);
    seat(s, "sub-6", "u-9", "g-9", true); /* ahead of its subscription */
}

static void test_overview_counts_match_direct_count(void **state)
{
    struct store *s = *state;

    seed(s);
    assert_string_equal(shown_under(s, "L01"), "sub-7a");
    assert_string_equal(shown_under(s, "L06"), "cust-8,sub-7a");
    assert_string_equal(shown_under(s, "L07"), "sub-7b");
    assert_string_equal(shown_under(s, "L09"), "cust-8,sub-9a");
    assert_same_as_direct(s, "seeded");
    {
        /* One reply read in full: what the distributor's charts show. */
        char *text = overview_text(s, "dist-1", 20);
        cJSON *r = cJSON_Parse(text);
        cJSON *st = cJSON_GetObjectItem(r, "by_status");

        cJSON_free(text);

        assert_int_equal(cJSON_GetObjectItem(st, "active")->valueint, 5);   /* 1, 4, 6, 7, 12 */
        assert_int_equal(cJSON_GetObjectItem(st, "expiring")->valueint, 4); /* 2, 8, 9, 11 */
        assert_int_equal(cJSON_GetObjectItem(st, "expired")->valueint, 2);  /* 5, 10 */
        cJSON_Delete(r);
    }

    /* Changes of every kind. */
    license(s, "L01", "core", "2027-10-31", "cust-7,sub-7a", 3, 2); /* deployed */
    license(s, "L02", "cloud", "2027-12-10", "cust-7", 7, 2);       /* renewed */
    license(s, "L06", "vault", "2027-01-15", "sub-7a", 1, 2);       /* unassigned from cust-8 */
    license(s, "L09", "vault", "2026-12-20", "cust-9,sub-9a,cust-8", 1, 2); /* product */
    license(s, "L11", "core", "2026-12-20", "", 0, 2);                      /* assigned nowhere */
    product(s, "access", true);                                             /* shown now */
    subscription(s, "sub-2", "cust-8", "core", 10, "cancelled", 0, 2);
    subscription(s, "sub-3", "cust-9", "core_plus", 1, "active", 0, 2); /* package, quantity */
    subscription(s, "sub-6", "cust-9", "core", 1, "active", 0, 1);      /* its seat came first */
    seat(s, "sub-3", "u-6", "g-3", true);
    seat(s, "sub-3", "u-7", "g-3", true);
    seat(s, "sub-3", "u-7", "g-4", true); /* another group: one seat still */
    seat(s, "sub-1", "u-2", "g-1", false);
    seat(s, "sub-1", "u-8", "g-1", false); /* never held */
    assert_string_equal(shown_under(s, "L06"), "sub-7a");
    assert_string_equal(shown_under(s, "L11"), "");
    assert_same_as_direct(s, "after updates");

    /* sub-7a moves to cust-8: cust-7 and sub-7a are no longer related, cust-8 and sub-7a are. */
    move(s, "sub-7a", "cust-8");
    assert_string_equal(shown_under(s, "L01"), "cust-7,sub-7a");
    assert_string_equal(shown_under(s, "L07"), "cust-7,sub-7b");
    assert_same_as_direct(s, "after sub-7a moved to cust-8");
    license(s, "L06", "vault", "2027-01-15", "cust-8,sub-7a", 1, 3);
    assert_string_equal(shown_under(s, "L06"), "sub-7a");
    /* A customer moves to another MSP, with its sub-orgs and subscriptions. */
    move(s, "cust-8", "msp-4");
    assert_same_as_direct(s, "after cust-8 moved to msp-4");
    move(s, "cust-7", "msp-4");
    assert_same_as_direct(s, "after cust-7 moved to msp-4");
    /* And back: the choices of the start again. */
    move(s, "sub-7a", "cust-7");
    move(s, "cust-8", "msp-3");
    move(s, "cust-7", "msp-3");
    assert_string_equal(shown_under(s, "L01"), "sub-7a");
    assert_string_equal(shown_under(s, "L06"), "cust-8,sub-7a");
    assert_string_equal(shown_under(s, "L07"), "sub-7b");
    assert_same_as_direct(s, "after moving back");
    /* A move under a deeper sub-org of another branch. */
    move(s, "sub-7b", "sub-9a");
    assert_string_equal(shown_under(s, "L07"), "cust-7,sub-7b");
    assert_same_as_direct(s, "after sub-7b moved under sub-9a");
}

/* Copies every row of `table` from `a` to `b` (the columns `b`'s version has). */
static void copy_rows(struct store *a, struct store *b, const char *table, const char *columns)
{
    char sql[512];
    sqlite3_stmt *from = NULL, *to = NULL;
    int n = 1;

    for (const char *c = columns; *c; c++)
        n += *c == ',';
    snprintf(sql, sizeof(sql), "SELECT %s FROM %s", columns, table);
    assert_int_equal(sqlite3_prepare_v2(store_db(a), sql, -1, &from, NULL), SQLITE_OK);
    snprintf(sql, sizeof(sql), "INSERT INTO %s (%s) VALUES (?", table, columns);
    for (int i = 1; i < n; i++)
        snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), ", ?");
    snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql), ")");
    assert_int_equal(sqlite3_prepare_v2(store_db(b), sql, -1, &to, NULL), SQLITE_OK);
    while (sqlite3_step(from) == SQLITE_ROW) {
        for (int i = 0; i < n; i++)
            sqlite3_bind_value(to, i + 1, sqlite3_column_value(from, i));
        assert_int_equal(sqlite3_step(to), SQLITE_DONE);
        sqlite3_reset(to);
    }
    sqlite3_finalize(from);
    sqlite3_finalize(to);
}

/* A database made by migration 1, migrated: the same answers (subscriptions after the sweep). */
static void test_migration_from_version_1(void **state)
{
    struct store *live = *state;
    struct store *old = open_store(1);
    size_t placed = 0;

    seed(live);
    move(live, "sub-7a", "cust-8"); /* paths that are not the creation order's */
    copy_rows(live, old, "lb_org", "tenant, id, parent, name, kind, path, deleted");
    copy_rows(live, old, "rep_products", "id, name, delivery, shown");
    copy_rows(live, old, "rep_licenses", "tenant, id, key, product, version");
    copy_rows(live, old, "rep_shown",
              "tenant, org_path, license, org, key, product, delivery, type, start_ms, "
              "expires_ms, lim, deployed, scans_used, note");
    copy_rows(live, old, "rep_subscriptions",
              "tenant, id, customer, package, seat_basis, status, quantity, trial_end_ms, "
              "billing_start_ms, billing_end_ms, version");
    copy_rows(live, old, "rep_seats", "tenant, subscription, user, grp");
    assert_int_equal(store_migrate(old, "reporting", rep_migrations, rep_migration_count, NULL),
                     LB_OK);
    assert_int_equal(rep_store_subscriptions_repair(old, REP_REPAIR_BATCH, &placed, NULL), LB_OK);
    assert_int_equal(placed, 5);
    assert_int_equal(rep_store_subscriptions_repair(old, REP_REPAIR_BATCH, &placed, NULL), LB_OK);
    assert_int_equal(placed, 0); /* once */
    for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
        char *want = overview_text(live, scopes[i], 20);
        char *got = overview_text(old, scopes[i], 20);

        if (strcmp(want, got) != 0)
            fail_msg("overview of %s after migration:\n  live     %s\n  migrated %s", scopes[i],
                     want, got);
        cJSON_free(want);
        cJSON_free(got);
    }
    /* Later events maintain the migrated counts like the live ones. */
    license(old, "L04", "core", "2027-10-31", "cust-9", 4, 2);
    license(live, "L04", "core", "2027-10-31", "cust-9", 4, 2);
    seat(old, "sub-3", "u-6", "g-3", true);
    seat(live, "sub-3", "u-6", "g-3", true);
    move(old, "sub-7a", "cust-7");
    move(live, "sub-7a", "cust-7");
    assert_same_as_direct(old, "migrated, then changed");
    /* The limit: migration 1 kept where L06 was shown (sub-7a), not its hidden cust-8. */
    assert_string_equal(shown_under(live, "L06"), "cust-8,sub-7a");
    assert_string_equal(shown_under(old, "L06"), "sub-7a");
    /* Its next snapshot brings the assignment back. */
    license(old, "L06", "vault", "2027-01-15", "cust-8,sub-7a", 1, 2);
    license(live, "L06", "vault", "2027-01-15", "cust-8,sub-7a", 1, 2);
    assert_string_equal(shown_under(old, "L06"), "cust-8,sub-7a");
    for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++) {
        char *want = overview_text(live, scopes[i], 20);
        char *got = overview_text(old, scopes[i], 20);

        assert_string_equal(want, got);
        cJSON_free(want);
        cJSON_free(got);
    }
    store_close(old);
}

static enum lb_err count_row(void *arg, const char *const *cells, size_t n, struct lb_why *why)
{
    (void)cells;
    (void)n;
    (void)why;
    (*(int *)arg)++;
    return LB_OK;
}

/* Runs every statement of store.c at least once: events of each kind, then every query. */
static void exercise(struct store *s)
{
    struct rep_scope sc;
    struct rep_filter f = {.sort = "expiration", .limit = 50, .expiring_within_ms = -1};
    struct rep_export e = {.id = "01JD8Z3T2V6Q9R8S7T6V5W4X70",
                           .tenant = T,
                           .org = "dist-1",
                           .report = "consumption",
                           .format = "csv",
                           .expires_ms = 1};
    struct rep_row_writer w;
    char customer[REP_ORG_MAX + 1];
    char license_id[REP_ENTITY_MAX + 1];
    char next[REP_CURSOR_MAX + 1];
    size_t placed;
    bool more;
    int rows = 0;
    int64_t start, end;
    cJSON *out = cJSON_CreateArray();

    w.row = count_row;
    w.arg = &rows;
    seed(s);
    assert_int_equal(rep_store_customer_of(s, T, "sub-7b", customer, NULL), LB_OK);
    assert_string_equal(customer, "cust-7");
    assert_int_equal(rep_store_user_put(s, T, "u-1", "sub-7a", customer, "U", "u@x", NULL), LB_OK);
    assert_int_equal(rep_store_user_update(s, T, "u-1", "V", NULL, NULL), LB_OK);
    assert_int_equal(rep_store_user_usage(s, T, "u-1", NULL, "released", now_ms, NULL), LB_OK);
    assert_int_equal(rep_store_device_put(s, T, "d-1", "sub-7a", customer, "business", "h", NULL),
                     LB_OK);
    assert_int_equal(rep_store_device_user(s, T, "d-1", "u-1", NULL, NULL), LB_OK);
    assert_int_equal(rep_store_device_user(s, T, "d-1", NULL, "u-1", NULL), LB_OK);
    assert_int_equal(rep_store_device_installed(s, T, "d-1", true, NULL), LB_OK);
    assert_int_equal(rep_store_signal(s, T, "d-1", now_ms, NULL), LB_OK);
    assert_int_equal(rep_store_user_deleted(s, T, "u-1", NULL), LB_OK);
    assert_int_equal(rep_store_customer_put(s, T, "cust-7", "active", true, "running", 1, NULL),
                     LB_OK);
    assert_int_equal(rep_store_deployment_put(s, T, "L01", "i-1", "h", "5.1", now_ms, REP_NO_TIME,
                                              true, 1, NULL),
                     LB_OK);
    assert_int_equal(rep_store_history_add(s, T, "L01", now_ms, "01JD8Z3T2V6Q9R8S7T6V5W4X71",
                                           "license_issued", NULL, "", 1, NULL, NULL, NULL),
                     LB_OK);
    assert_int_equal(rep_store_progress(s, "licensing", now_ms, now_ms, 1, NULL), LB_OK);
    move(s, "sub-7a", "cust-8");
    assert_int_equal(rep_store_subscriptions_repair(s, 10, &placed, NULL), LB_OK);
    cJSON_free(overview_text(s, "dist-1", 2));  /* a large scope: by rank */
    cJSON_free(overview_text(s, "cust-9", 20)); /* a small one: its own customers */
    scope_of(s, "dist-1", &sc);
    assert_int_equal(rep_store_customer_orgs(s, &sc, &f, out, next, sizeof(next), NULL), LB_OK);
    f.status = "expiring";
    assert_int_equal(rep_store_customer_orgs(s, &sc, &f, out, next, sizeof(next), NULL), LB_OK);
    assert_int_equal(rep_store_license_find(s, &sc, "K-L01", license_id, NULL), LB_OK);
    assert_int_equal(rep_store_history(s, T, license_id, 0, 10, out, &more, NULL), LB_OK);
    assert_int_equal(rep_store_consumption(s, &sc, 50, "", out, next, sizeof(next), NULL), LB_OK);
    assert_true(rep_month_parse("2026-11", &start, &end));
    assert_int_equal(
        rep_store_billable(s, &sc, start, end, "2026-11", 10, "", out, next, sizeof(next), NULL),
        LB_OK);
    assert_int_equal(rep_store_each_key_row(s, &sc, NULL, &w, NULL), LB_OK);
    assert_int_equal(rep_store_each_deployment_row(s, &sc, NULL, &w, NULL), LB_OK);
    assert_int_equal(rep_store_each_consumption_row(s, &sc, &w, NULL), LB_OK);
    assert_true(rows > 10);
    assert_int_equal(rep_store_export_put(s, &e, NULL), LB_OK);
    assert_int_equal(rep_store_export_get(s, T, e.id, &e, NULL), LB_OK);
    assert_int_equal(rep_store_progress_json(s, now_ms, out, NULL), LB_OK);
    cJSON_Delete(out);
}

static void forget(const char *id, const char *format, void *arg)
{
    (void)id;
    (void)format;
    (void)arg;
}

/*
 * Every statement store.c prepared reads through an index. Without ANALYZE
 * data SQLite prefers a table's primary key prefix (tenant = ?, the whole
 * tenant) over a secondary index that is not covering, or that an ORDER BY
 * on the key avoids sorting for; at 200,000 licenses that is a scan per
 * event. The few scans left are of tables that stay small, and the
 * ranking read in its index order.
 */
static void test_statements_read_indexes(void **state)
{
    static const char *const small[] = {
        "SCAN rep_progress",                                             /* a row per domain */
        "SCAN rep_subscriptions USING INDEX rep_subscriptions_unplaced", /* unplaced ones only */
        "USING INDEX rep_subscriptions_by_over (tenant=?)", /* by rank, until top of the scope */
        NULL};
    struct store *s = *state;
    sqlite3_stmt *st = NULL;
    bool by_over = false, trials = false, by_expiry = false;
    int checked = 0;

    exercise(s);
    assert_int_equal(rep_store_exports_expire(s, now_ms, forget, NULL, NULL), LB_OK);
    while ((st = sqlite3_next_stmt(store_db(s), st)) != NULL) {
        const char *sql = sqlite3_sql(st);
        char explain[4096];
        sqlite3_stmt *plan = NULL;

        /* Every statement was reset: none keeps a read snapshot open past its call. */
        if (sqlite3_stmt_busy(st))
            fail_msg("left running: %s", sql);

        /* The runtime's own (the org tree's) statements are not reporting's. */
        if (strstr(sql, "rep_") == NULL || strncmp(sql, "EXPLAIN", 7) == 0)
            continue;
        snprintf(explain, sizeof(explain), "EXPLAIN QUERY PLAN %s", sql);
        assert_int_equal(sqlite3_prepare_v2(store_db(s), explain, -1, &plan, NULL), SQLITE_OK);
        while (sqlite3_step(plan) == SQLITE_ROW) {
            const char *detail = text_of(plan, 3);
            bool allowed = false;

            for (const char *const *a = small; *a != NULL && !allowed; a++)
                allowed = strstr(detail, *a) != NULL;
            if (!allowed && (strncmp(detail, "SCAN ", 5) == 0 || strstr(detail, "(tenant=?)")))
                fail_msg("%s\n  plan: %s", sql, detail);
            by_over = by_over || strstr(detail, "rep_subscriptions_by_over") != NULL;
            trials = trials || strstr(detail, "rep_subscriptions_trials") != NULL;
            by_expiry = by_expiry || strstr(detail, "rep_shown_by_expiry") != NULL;
        }
        sqlite3_finalize(plan);
        checked++;
    }
    assert_true(checked > 40);
    assert_true(by_over);
    assert_true(trials);
    assert_true(by_expiry);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_overview_counts_match_direct_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statements_read_indexes, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
