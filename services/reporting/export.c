/*
 * export.c - the downloads: the Active Deployment Report (a sheet of key
 * information and a sheet of active deployments) and the consumption
 * report, as .xlsx (libxlsxwriter, constant-memory mode: rows stream to a
 * temporary file, so a 100,000-row export stays small in memory) or CSV.
 *
 * Files live next to the database, in <LB_DATA_DIR>/reporting-exports/, named
 * by export id; export_chunk reads them back in REP_CHUNK_BYTES pieces and
 * the sweep deletes them when they expire. Columns are described as data.
 */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <xlsxwriter.h>

#include "envelope.h"
#include "reporting.h"

enum col_kind { COL_TEXT, COL_NUMBER, COL_DATE, COL_TIME };

struct column {
    const char *header;
    enum col_kind kind;
    double width;
};

static const struct column key_columns[] = {
    {"Organization", COL_TEXT, 30}, {"Org ID", COL_TEXT, 16},
    {"Product", COL_TEXT, 28},      {"License Key", COL_TEXT, 24},
    {"Status", COL_TEXT, 10},       {"Type", COL_TEXT, 12},
    {"Start Date", COL_DATE, 12},   {"Expiration Date", COL_DATE, 15},
    {"Deployed", COL_NUMBER, 10},   {"Purchased", COL_NUMBER, 10},
    {"Note", COL_TEXT, 40},
};

static const struct column deployment_columns[] = {
    {"Organization", COL_TEXT, 30},    {"Org ID", COL_TEXT, 16},
    {"Product", COL_TEXT, 28},         {"License Key", COL_TEXT, 24},
    {"Instance", COL_TEXT, 28},        {"Host", COL_TEXT, 28},
    {"Product Version", COL_TEXT, 16}, {"Activated (UTC)", COL_TIME, 20},
    {"Last Seen (UTC)", COL_TIME, 20},
};

static const struct column consumption_columns[] = {
    {"Customer ID", COL_TEXT, 16},
    {"Customer", COL_TEXT, 30},
    {"Subscription", COL_TEXT, 20},
    {"Package", COL_TEXT, 14},
    {"Seat Basis", COL_TEXT, 11},
    {"Status", COL_TEXT, 11},
    {"Quantity", COL_NUMBER, 10},
    {"Licensed Users", COL_NUMBER, 14},
    {"Business Devices", COL_NUMBER, 16},
    {"Personal Devices", COL_NUMBER, 16},
    {"Uninstalled Devices", COL_NUMBER, 19},
    {"Unassociated Devices", COL_NUMBER, 20},
    {"Released Users", COL_NUMBER, 14},
    {"Purged Users", COL_NUMBER, 12},
};

#define COLUMNS(c) (c), sizeof(c) / sizeof((c)[0])

enum lb_err rep_export_dir(struct store *s, char *ret_dir, size_t size, struct lb_why *why)
{
    const char *db = sqlite3_db_filename(store_db(s), "main");
    char copy[1024];

    if (db == NULL || db[0] == '\0')
        return lb_fail(why, LB_EIO, "exports need a database file (not in memory)");
    (void)snprintf(copy, sizeof(copy), "%s", db);
    if ((size_t)snprintf(ret_dir, size, "%s/reporting-exports", dirname(copy)) >= size)
        return lb_fail(why, LB_EINVAL, "export directory path too long");
    if (mkdir(ret_dir, 0700) != 0 && errno != EEXIST)
        return lb_fail(why, LB_EIO, "cannot create %s: %s", ret_dir, strerror(errno));
    return LB_OK;
}

void rep_export_path(const char *dir, const char *id, const char *format, char *ret, size_t size)
{
    (void)snprintf(ret, size, "%s/%s.%s", dir, id, format);
}

/* What the row callbacks write into. */
struct sink {
    const struct column *cols;
    size_t ncols;
    FILE *csv;            /* CSV, or */
    lxw_worksheet *sheet; /* xlsx */
    lxw_format *date_fmt;
    lxw_format *time_fmt;
    lxw_row_t next_row;
    int64_t rows; /* data rows written, all sheets */
    int64_t rows_max;
};

static enum lb_err write_header(struct sink *k, lxw_workbook *wb, const char *name,
                                lxw_format *bold, struct lb_why *why)
{
    if (k->csv != NULL) {
        for (size_t i = 0; i < k->ncols; i++)
            rep_csv_cell(k->csv, k->cols[i].header, i + 1 == k->ncols);
        return LB_OK;
    }
    k->sheet = workbook_add_worksheet(wb, name);
    if (k->sheet == NULL)
        return lb_fail(why, LB_ENOMEM, "cannot add sheet %s", name);
    for (size_t i = 0; i < k->ncols; i++) {
        lxw_format *f = k->cols[i].kind == COL_DATE   ? k->date_fmt
                        : k->cols[i].kind == COL_TIME ? k->time_fmt
                                                      : NULL;

        worksheet_set_column(k->sheet, (lxw_col_t)i, (lxw_col_t)i, k->cols[i].width, f);
    }
    worksheet_freeze_panes(k->sheet, 1, 0);
    for (size_t i = 0; i < k->ncols; i++)
        worksheet_write_string(k->sheet, 0, (lxw_col_t)i, k->cols[i].header, bold);
    k->next_row = 1;
    return LB_OK;
}

static bool to_datetime(const char *text, enum col_kind kind, lxw_datetime *ret)
{
    int64_t ms;

    if (kind == COL_DATE) {
        if (!rep_date_parse(text, &ms))
            return false;
    } else if (envelope_parse_time(text, &ms) != LB_OK) {
        return false;
    }
    /* Fields from the canonical RFC 3339 text: YYYY-MM-DDTHH:MM:SS.mmmZ. */
    {
        char t[32];

        envelope_format_time(ms, t);
        ret->year =
            (uint16_t)((t[0] - '0') * 1000 + (t[1] - '0') * 100 + (t[2] - '0') * 10 + (t[3] - '0'));
        ret->month = (uint8_t)((t[5] - '0') * 10 + (t[6] - '0'));
        ret->day = (uint8_t)((t[8] - '0') * 10 + (t[9] - '0'));
        ret->hour = (uint8_t)((t[11] - '0') * 10 + (t[12] - '0'));
        ret->min = (uint8_t)((t[14] - '0') * 10 + (t[15] - '0'));
        ret->sec = (t[17] - '0') * 10 + (t[18] - '0');
    }
    return true;
}

static enum lb_err write_row(void *arg, const char *const *cells, size_t n, struct lb_why *why)
{
    struct sink *k = arg;

    if (++k->rows > k->rows_max)
        return lb_fail(why, LB_ETOOBIG, "export: more than %lld rows; narrow it with org (or key)",
                       (long long)k->rows_max);
    if (k->csv != NULL) {
        for (size_t i = 0; i < n; i++)
            rep_csv_cell(k->csv, cells[i], i + 1 == n);
        return ferror(k->csv) ? lb_fail(why, LB_EIO, "writing csv: %s", strerror(errno)) : LB_OK;
    }
    for (size_t i = 0; i < n && i < k->ncols; i++) {
        const char *c = cells[i] != NULL ? cells[i] : "";
        lxw_datetime dt;
        lxw_error rc = LXW_NO_ERROR;

        if (c[0] == '\0')
            continue;
        if (k->cols[i].kind == COL_NUMBER)
            rc = worksheet_write_number(k->sheet, k->next_row, (lxw_col_t)i, strtod(c, NULL), NULL);
        else if (k->cols[i].kind != COL_TEXT && to_datetime(c, k->cols[i].kind, &dt))
            rc = worksheet_write_datetime(k->sheet, k->next_row, (lxw_col_t)i, &dt,
                                          k->cols[i].kind == COL_DATE ? k->date_fmt : k->time_fmt);
        else
            rc = worksheet_write_string(k->sheet, k->next_row, (lxw_col_t)i, c, NULL);
        if (rc != LXW_NO_ERROR)
            return lb_fail(why, LB_EIO, "writing cell: %s", lxw_strerror(rc));
    }
    k->next_row++;
    return LB_OK;
}

/* Writes one sheet (or the CSV body) of `report`. */
static enum lb_err write_part(struct store *s, const struct rep_scope *sc, const char *key,
                              const char *part, struct sink *k, lxw_workbook *wb, lxw_format *bold,
                              struct lb_why *why)
{
    const struct rep_row_writer w = {write_row, k};
    enum lb_err err;

    if (strcmp(part, "keys") == 0) {
        k->cols = key_columns;
        k->ncols = sizeof(key_columns) / sizeof(key_columns[0]);
        err = write_header(k, wb, "License Keys", bold, why);
        return err == LB_OK ? rep_store_each_key_row(s, sc, key, &w, why) : err;
    }
    if (strcmp(part, "deployments") == 0) {
        k->cols = deployment_columns;
        k->ncols = sizeof(deployment_columns) / sizeof(deployment_columns[0]);
        err = write_header(k, wb, "Active Deployments", bold, why);
        return err == LB_OK ? rep_store_each_deployment_row(s, sc, key, &w, why) : err;
    }
    k->cols = consumption_columns;
    k->ncols = sizeof(consumption_columns) / sizeof(consumption_columns[0]);
    err = write_header(k, wb, "Consumption", bold, why);
    return err == LB_OK ? rep_store_each_consumption_row(s, sc, &w, why) : err;
}

static enum lb_err build_xlsx(struct store *s, const struct rep_scope *sc, const char *key,
                              const char *dir, const char *path, struct sink *k, const char *report,
                              struct lb_why *why)
{
    lxw_workbook_options opts = {.constant_memory = LXW_TRUE, .tmpdir = (char *)dir};
    lxw_workbook *wb = workbook_new_opt(path, &opts);
    lxw_format *bold;
    enum lb_err err = LB_OK;
    lxw_error rc;

    if (wb == NULL)
        return lb_fail(why, LB_EIO, "cannot create workbook %s", path);
    bold = workbook_add_format(wb);
    k->date_fmt = workbook_add_format(wb);
    k->time_fmt = workbook_add_format(wb);
    format_set_bold(bold);
    format_set_bottom(bold, LXW_BORDER_THIN);
    format_set_num_format(k->date_fmt, "yyyy-mm-dd");
    format_set_num_format(k->time_fmt, "yyyy-mm-dd hh:mm:ss");
    workbook_set_properties(
        wb, &(lxw_doc_properties){.title = (char *)report, .company = (char *)"licensebus"});
    if (strcmp(report, "active_deployments") == 0) {
        err = write_part(s, sc, key, "keys", k, wb, bold, why);
        if (err == LB_OK)
            err = write_part(s, sc, key, "deployments", k, wb, bold, why);
    } else {
        err = write_part(s, sc, key, "consumption", k, wb, bold, why);
    }
    rc = workbook_close(wb);
    if (err == LB_OK && rc != LXW_NO_ERROR)
        err = lb_fail(why, LB_EIO, "closing workbook: %s", lxw_strerror(rc));
    return err;
}

enum lb_err rep_export_build(struct store *s, const struct rep_scope *sc, const char *key,
                             const char *sheet, int64_t rows_max, struct rep_export *e,
                             struct lb_why *why)
{
    struct sink k = {.rows_max = rows_max};
    char dir[1024];
    char path[1200];
    struct stat st;
    enum lb_err err = rep_export_dir(s, dir, sizeof(dir), why);

    if (err != LB_OK)
        return err;
    rep_export_path(dir, e->id, e->format, path, sizeof(path));
    if (strcmp(e->format, "xlsx") == 0) {
        err = build_xlsx(s, sc, key, dir, path, &k, e->report, why);
    } else {
        k.csv = fopen(path, "we");
        if (k.csv == NULL)
            return lb_fail(why, LB_EIO, "cannot create %s: %s", path, strerror(errno));
        err = write_part(s, sc, key, strcmp(e->report, "consumption") == 0 ? "consumption" : sheet,
                         &k, NULL, NULL, why);
        if (fclose(k.csv) != 0 && err == LB_OK)
            err = lb_fail(why, LB_EIO, "writing %s: %s", path, strerror(errno));
    }
    if (err == LB_OK && stat(path, &st) != 0)
        err = lb_fail(why, LB_EIO, "cannot stat %s: %s", path, strerror(errno));
    if (err != LB_OK) {
        (void)remove(path);
        return err;
    }
    e->bytes = (int64_t)st.st_size;
    e->chunks = e->bytes == 0 ? 1 : (e->bytes + REP_CHUNK_BYTES - 1) / REP_CHUNK_BYTES;
    e->rows = k.rows;
    return LB_OK;
}
