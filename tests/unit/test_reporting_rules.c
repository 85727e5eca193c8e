/*
 * test_reporting_rules.c - reporting's pure rules: statuses from dates,
 * dates and months, cursors, CSV cells, base64, export ids, and what a change
 * does to the per-scope counts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reporting.h"

#define DAY REP_DAY_MS

static void test_status(void **state)
{
    (void)state;
    assert_string_equal(rep_status_at(100 * DAY, 0, 30 * DAY), "active");
    assert_string_equal(rep_status_at(100 * DAY, 70 * DAY - 1, 30 * DAY), "active");
    assert_string_equal(rep_status_at(100 * DAY, 70 * DAY, 30 * DAY), "expiring"); /* the edge */
    assert_string_equal(rep_status_at(100 * DAY, 100 * DAY - 1, 30 * DAY), "expiring");
    assert_string_equal(rep_status_at(100 * DAY, 100 * DAY, 30 * DAY), "expired");
    assert_string_equal(rep_status_at(100 * DAY, 100 * DAY, 0), "expired");
    assert_true(rep_status_valid("expiring"));
    assert_false(rep_status_valid("Expiring"));
}

static void test_dates(void **state)
{
    int64_t ms, start, end;
    char text[16];
    char month[8];

    (void)state;
    assert_true(rep_date_parse("2026-11-22", &ms));
    rep_date_format(ms, text);
    assert_string_equal(text, "2026-11-22");
    assert_true(rep_date_parse("2028-02-29", &ms));
    assert_false(rep_date_parse("2026-02-29", &ms)); /* not a leap year */
    assert_false(rep_date_parse("2026-13-01", &ms));
    assert_false(rep_date_parse("2026-1-01", &ms));
    assert_false(rep_date_parse("2026-01-01T00", &ms));
    assert_false(rep_date_parse("", &ms));
    assert_true(rep_month_parse("2026-12", &start, &end));
    assert_true(rep_date_parse("2026-12-01", &ms));
    assert_int_equal(start, ms);
    assert_true(rep_date_parse("2027-01-01", &ms));
    assert_int_equal(end, ms);
    assert_true(rep_month_parse("2028-02", &start, &end));
    assert_int_equal(end - start, 29 * DAY);
    assert_false(rep_month_parse("2026-00", &start, &end));
    assert_false(rep_month_parse("2026-1", &start, &end));
    assert_false(rep_month_parse("2026-11-01", &start, &end));
    rep_month_of(end - 1, month);
    assert_string_equal(month, "2028-02");
    rep_month_of(end, month);
    assert_string_equal(month, "2028-03");
}

static void test_cursor(void **state)
{
    char enc[64];
    char dec[64];

    (void)state;
    assert_true(rep_cursor_encode("/d/c/", enc, sizeof(enc)));
    assert_string_equal(enc, "2f642f632f");
    assert_true(rep_cursor_decode(enc, dec, sizeof(dec)));
    assert_string_equal(dec, "/d/c/");
    assert_false(rep_cursor_encode("/d/c/", enc, 10));           /* does not fit */
    assert_false(rep_cursor_decode("2f64", dec, sizeof(dec)));   /* not a path */
    assert_false(rep_cursor_decode("2f6", dec, sizeof(dec)));    /* odd */
    assert_false(rep_cursor_decode("2F642F", dec, sizeof(dec))); /* upper case */
    assert_false(rep_cursor_decode("2f002f", dec, sizeof(dec))); /* NUL */
    assert_false(rep_cursor_decode("", dec, sizeof(dec)));
    assert_false(rep_cursor_decode(enc, dec, 5)); /* too long for the buffer */
}

static char *csv(const char *cell, bool last)
{
    static char buf[256];
    FILE *f = fmemopen(buf, sizeof(buf), "w");

    rep_csv_cell(f, cell, last);
    fclose(f);
    return buf;
}

static void test_csv(void **state)
{
    (void)state;
    assert_string_equal(csv("plain", false), "plain,");
    assert_string_equal(csv("a,b", true), "\"a,b\"\r\n");
    assert_string_equal(csv("say \"hi\"", false), "\"say \"\"hi\"\"\",");
    assert_string_equal(csv("=HYPERLINK(1)", false), "'=HYPERLINK(1),");
    assert_string_equal(csv("@SUM", false), "'@SUM,");
    assert_string_equal(csv("-3", false), "-3,");
    assert_string_equal(csv(NULL, true), "\r\n");
}

static void test_base64(void **state)
{
    char out[16];

    (void)state;
    assert_int_equal(rep_base64((const unsigned char *)"", 0, out), 0);
    assert_int_equal(rep_base64((const unsigned char *)"f", 1, out), 4);
    assert_string_equal(out, "Zg==");
    rep_base64((const unsigned char *)"fo", 2, out);
    assert_string_equal(out, "Zm8=");
    rep_base64((const unsigned char *)"foo", 3, out);
    assert_string_equal(out, "Zm9v");
    rep_base64((const unsigned char *)"\xff\xfe\xfd\x00", 4, out);
    assert_string_equal(out, "//79AA==");
}

static void test_export_id(void **state)
{
    (void)state;
    assert_true(rep_export_id_valid("01JD8Z3T2V6Q9R8S7T6V5W4X70"));
    assert_false(rep_export_id_valid("01JD8Z3T2V6Q9R8S7T6V5W4X7"));
    assert_false(rep_export_id_valid("01JD8Z3T2V6Q9R8S7T6V5W4X7U")); /* U is not Crockford */
    assert_false(rep_export_id_valid("../../etc/passwd0000000000"));
}

/* rep_part_diff's calls, as "scope new|old d0,d1,d2,d3" lines. */
static char calls[2048];

static enum lb_err record_call(void *arg, const char *scope, size_t len, bool new_key,
                               const int64_t d[REP_PART_VALUES], struct lb_why *why)
{
    size_t used = strlen(calls);

    (void)arg;
    (void)why;
    snprintf(calls + used, sizeof(calls) - used, "%.*s %s %lld,%lld,%lld,%lld\n", (int)len, scope,
             new_key ? "new" : "old", (long long)d[0], (long long)d[1], (long long)d[2],
             (long long)d[3]);
    return LB_OK;
}

static const char *diff(const struct rep_part *from, const struct rep_part *to, bool same_key)
{
    calls[0] = '\0';
    assert_int_equal(rep_part_diff(from, to, same_key, record_call, NULL, NULL), LB_OK);
    return calls;
}

static void test_part_diff(void **state)
{
    struct rep_part none = {.npaths = 0};
    struct rep_part two = {{"/a/b/c/", "/a/b/d/"}, 2, {1, 2, 3, 4}};
    struct rep_part more = {{"/a/b/c/", "/a/b/d/"}, 2, {1, 5, 3, 4}};
    struct rep_part moved = {{"/a/e/"}, 1, {1, 2, 3, 4}};
    struct rep_part root = {{"/a/"}, 1, {1, 2, 3, 4}};

    (void)state;
    /* New: every scope above or at its paths once, the shared ones too. */
    assert_string_equal(diff(&none, &two, true), "/a/ new 1,2,3,4\n/a/b/ new 1,2,3,4\n"
                                                 "/a/b/c/ new 1,2,3,4\n/a/b/d/ new 1,2,3,4\n");
    /* Gone. */
    assert_string_equal(diff(&root, &none, true), "/a/ old -1,-2,-3,-4\n");
    /* The same key and place: the difference only, and nothing when there is none. */
    assert_string_equal(diff(&two, &more, true), "/a/ new 0,3,0,0\n/a/b/ new 0,3,0,0\n"
                                                 "/a/b/c/ new 0,3,0,0\n/a/b/d/ new 0,3,0,0\n");
    assert_string_equal(diff(&two, &two, true), "");
    /* Moved: what both count (/a/) is unchanged; the rest leaves or arrives. */
    assert_string_equal(diff(&two, &moved, true), "/a/b/ old -1,-2,-3,-4\n"
                                                  "/a/b/c/ old -1,-2,-3,-4\n"
                                                  "/a/b/d/ old -1,-2,-3,-4\n"
                                                  "/a/e/ new 1,2,3,4\n");
    /* Another key (e.g. a renewal): out of the old key's counts, into the new one's. */
    assert_string_equal(diff(&root, &root, false), "/a/ old -1,-2,-3,-4\n/a/ new 1,2,3,4\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status),    cmocka_unit_test(test_dates),
        cmocka_unit_test(test_cursor),    cmocka_unit_test(test_csv),
        cmocka_unit_test(test_base64),    cmocka_unit_test(test_export_id),
        cmocka_unit_test(test_part_diff),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
