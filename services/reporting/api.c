/*
 * api.c - reporting's queries: decode, authorize (the caller's subtree, also
 * through every filter), read the model, reply.
 *
 * Every request carries tenant and caller {org, user}; an `org` filter must
 * lie inside the caller's subtree, else forbidden (the same answer whether
 * the org exists elsewhere or not at all).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "envelope.h"
#include "ids.h"
#include "json_strict.h"
#include "reporting.h"

/* Decodes tenant, caller and the optional `org` filter into a scope. */
static enum lb_err decode_scope(struct service *svc, const struct request *req,
                                const char *const *known, struct caller *ret_caller,
                                struct rep_scope *sc, struct lb_why *why)
{
    const struct rep_config *cfg = service_config(svc);
    struct store *s = service_store(svc);
    const char *org = NULL;
    enum lb_err err = json_check_members(req->body, known, why);

    if (err == LB_OK)
        err = caller_decode(s, req->body, ret_caller, why);
    if (err != LB_OK)
        return err;
    err = json_get_string(req->body, "org", REP_ORG_MAX, &org, why);
    if (err == LB_ENOTFOUND)
        org = ret_caller->org;
    else if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "org: %s", why->text);
    err = caller_may_act_on(s, ret_caller, org, why);
    if (err != LB_OK)
        return err;
    memset(sc, 0, sizeof(*sc));
    sc->tenant = ret_caller->tenant;
    (void)snprintf(sc->org, sizeof(sc->org), "%s", org);
    sc->now_ms = service_now_ms(svc);
    sc->window_ms = cfg->expiring_window_ms;
    return rep_store_org_path(s, sc->tenant, org, sc->path, sizeof(sc->path), why);
}

/* An optional integer member with its default. */
static enum lb_err opt_int(const cJSON *body, const char *name, int64_t min, int64_t max,
                           int64_t fallback, int64_t *ret, struct lb_why *why)
{
    enum lb_err err = json_get_int(body, name, min, max, ret, why);

    if (err == LB_ENOTFOUND) {
        *ret = fallback;
        return LB_OK;
    }
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    return LB_OK;
}

/* An optional string member that must be one of `names`; NULL when absent. */
static enum lb_err opt_enum(const cJSON *body, const char *name, const char *const *names,
                            const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(body, name, 32, ret, why);

    if (err == LB_ENOTFOUND) {
        *ret = NULL;
        return LB_OK;
    }
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    for (const char *const *n = names; *n != NULL; n++) {
        if (strcmp(*ret, *n) == 0)
            return LB_OK;
    }
    return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not one of the accepted values", name, *ret);
}

/* The optional opaque `cursor`: an org path inside the scope. */
static enum lb_err opt_cursor(const cJSON *body, const struct rep_scope *sc, char *ret, size_t size,
                              struct lb_why *why)
{
    const char *text;
    enum lb_err err = json_get_string(body, "cursor", REP_CURSOR_MAX, &text, why);

    ret[0] = '\0';
    if (err == LB_ENOTFOUND)
        return LB_OK;
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "cursor: %s", why->text);
    if (!rep_cursor_decode(text, ret, size))
        return lb_fail(why, LB_EINVAL, "cursor: not a cursor this service returned");
    /* A cursor from another scope would skip orgs or probe paths: refuse it. */
    if (strncmp(ret, sc->path, strlen(sc->path)) != 0)
        return lb_fail(why, LB_EINVAL, "cursor: belongs to another query");
    return LB_OK;
}

static cJSON *reply_head(const struct rep_scope *sc)
{
    cJSON *reply = cJSON_CreateObject();
    char now[32];

    envelope_format_time(sc->now_ms, now);
    if (reply == NULL || !cJSON_AddStringToObject(reply, "tenant", sc->tenant) ||
        !cJSON_AddStringToObject(reply, "org", sc->org) ||
        !cJSON_AddStringToObject(reply, "as_of", now)) {
        cJSON_Delete(reply);
        return NULL;
    }
    return reply;
}

static enum lb_err finish(cJSON *reply, const char *next, enum lb_err err, cJSON **ret_reply,
                          struct lb_why *why)
{
    if (err == LB_OK && next != NULL &&
        (next[0] != '\0' ? cJSON_AddStringToObject(reply, "next_cursor", next)
                         : cJSON_AddNullToObject(reply, "next_cursor")) == NULL)
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err != LB_OK) {
        cJSON_Delete(reply);
        return err;
    }
    *ret_reply = reply;
    return LB_OK;
}

REP_ENDPOINT(rep_customer_orgs)
{
    static const char *const known[] = {
        "tenant",          "caller", "org",   "status", "product", "type", "expiring_within_days",
        "include_expired", "sort",   "order", "limit",  "cursor",  NULL};
    static const char *const statuses[] = {"active", "expiring", "expired", NULL};
    static const char *const types[] = {"evaluation", "purchased", NULL};
    static const char *const sorts[] = {"expiration", "product", "status", "start", "key", NULL};
    static const char *const orders[] = {"asc", "desc", NULL};
    struct caller caller;
    struct rep_scope sc = {0};
    struct rep_filter f;
    const char *order = NULL;
    const cJSON *inc;
    int64_t days;
    char next[REP_CURSOR_MAX + 1];
    cJSON *reply;
    cJSON *orgs;
    enum lb_err err;

    memset(&f, 0, sizeof(f));
    err = decode_scope(svc, req, known, &caller, &sc, why);
    if (err == LB_OK)
        err = opt_enum(req->body, "status", statuses, &f.status, why);
    if (err == LB_OK)
        err = opt_enum(req->body, "type", types, &f.type, why);
    if (err == LB_OK)
        err = opt_enum(req->body, "sort", sorts, &f.sort, why);
    if (err == LB_OK)
        err = opt_enum(req->body, "order", orders, &order, why);
    if (err == LB_OK)
        err = opt_int(req->body, "expiring_within_days", 0, REP_DAYS_MAX, -1, &days, why);
    if (err == LB_OK)
        err = opt_int(req->body, "limit", 1, REP_PAGE_MAX, REP_PAGE_DEFAULT, &f.limit, why);
    if (err == LB_OK)
        err = opt_cursor(req->body, &sc, f.after_path, sizeof(f.after_path), why);
    if (err != LB_OK)
        return err;
    err = json_get_string(req->body, "product", REP_PRODUCT_MAX, &f.product, why);
    if (err == LB_ENOTFOUND)
        f.product = NULL;
    else if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "product: %s", why->text);
    inc = cJSON_GetObjectItemCaseSensitive(req->body, "include_expired");
    if (inc != NULL && !cJSON_IsBool(inc))
        return lb_fail(why, LB_EINVAL, "include_expired: must be true or false");
    f.include_expired = cJSON_IsTrue(inc);
    f.expiring_within_ms = days < 0 ? -1 : days * REP_DAY_MS;
    if (f.sort == NULL)
        f.sort = "expiration";
    f.descending = order != NULL && strcmp(order, "desc") == 0;
    reply = reply_head(&sc);
    orgs = reply ? cJSON_AddArrayToObject(reply, "orgs") : NULL;
    if (orgs == NULL) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = rep_store_customer_orgs(service_store(svc), &sc, &f, orgs, next, sizeof(next), why);
    return finish(reply, next, err, ret_reply, why);
}

REP_ENDPOINT(rep_overview)
{
    static const char *const known[] = {"tenant", "caller", "org", "top", NULL};
    const struct rep_config *cfg = service_config(svc);
    struct caller caller;
    struct rep_scope sc = {0};
    int64_t top;
    cJSON *reply;
    enum lb_err err;

    err = decode_scope(svc, req, known, &caller, &sc, why);
    if (err == LB_OK)
        err = opt_int(req->body, "top", 1, REP_TOP_MAX, REP_TOP_DEFAULT, &top, why);
    if (err != LB_OK)
        return err;
    reply = reply_head(&sc);
    if (reply == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    err = rep_store_overview(service_store(svc), &sc, top, cfg->trial_soon_ms, reply, why);
    return finish(reply, NULL, err, ret_reply, why);
}

REP_ENDPOINT(rep_license_history)
{
    static const char *const known[] = {"tenant", "caller", "key", "limit", "cursor", NULL};
    struct caller caller;
    struct rep_scope sc = {0};
    char license[REP_ENTITY_MAX + 1];
    const char *key;
    const char *cursor = NULL;
    int64_t limit, offset = 0;
    bool more = false;
    char next[32] = "";
    cJSON *reply;
    cJSON *entries;
    enum lb_err err;

    err = decode_scope(svc, req, known, &caller, &sc, why);
    if (err == LB_OK)
        err = opt_int(req->body, "limit", 1, REP_HISTORY_MAX, REP_HISTORY_DEFAULT, &limit, why);
    if (err != LB_OK)
        return err;
    err = json_get_string(req->body, "key", REP_KEY_MAX, &key, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "key: %s", err == LB_ENOTFOUND ? "missing" : why->text);
    err = json_get_string(req->body, "cursor", 20, &cursor, why);
    if (err == LB_OK) {
        char *end;

        errno = 0;
        offset = strtoll(cursor, &end, 10);
        if (errno != 0 || *end != '\0' || offset < 1 || cursor[0] < '1' || cursor[0] > '9')
            return lb_fail(why, LB_EINVAL, "cursor: not a cursor this service returned");
    } else if (err != LB_ENOTFOUND) {
        return lb_fail(why, LB_EINVAL, "cursor: %s", why->text);
    }
    err = rep_store_license_find(service_store(svc), &sc, key, license, why);
    if (err != LB_OK)
        return err;
    reply = reply_head(&sc);
    entries = reply ? cJSON_AddArrayToObject(reply, "entries") : NULL;
    if (entries == NULL || !cJSON_AddStringToObject(reply, "key", key) ||
        !cJSON_AddStringToObject(reply, "license", license)) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = rep_store_history(service_store(svc), sc.tenant, license, offset, limit, entries, &more,
                            why);
    if (more)
        (void)snprintf(next, sizeof(next), "%lld", (long long)offset + (long long)limit);
    return finish(reply, next, err, ret_reply, why);
}

REP_ENDPOINT(rep_consumption)
{
    static const char *const known[] = {"tenant", "caller", "org", "limit", "cursor", NULL};
    struct caller caller;
    struct rep_scope sc = {0};
    char after[1100];
    char next[REP_CURSOR_MAX + 1];
    int64_t limit;
    cJSON *reply;
    cJSON *customers;
    enum lb_err err;

    err = decode_scope(svc, req, known, &caller, &sc, why);
    if (err == LB_OK)
        err = opt_int(req->body, "limit", 1, REP_PAGE_MAX, REP_PAGE_DEFAULT, &limit, why);
    if (err == LB_OK)
        err = opt_cursor(req->body, &sc, after, sizeof(after), why);
    if (err != LB_OK)
        return err;
    reply = reply_head(&sc);
    customers = reply ? cJSON_AddArrayToObject(reply, "customers") : NULL;
    if (customers == NULL) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = rep_store_consumption(service_store(svc), &sc, limit, after, customers, next,
                                sizeof(next), why);
    return finish(reply, next, err, ret_reply, why);
}

REP_ENDPOINT(rep_billable_active)
{
    static const char *const known[] = {"tenant", "caller", "org", "month",
                                        "limit",  "cursor", NULL};
    struct caller caller;
    struct rep_scope sc = {0};
    char after[1100];
    char next[REP_CURSOR_MAX + 1];
    const char *month;
    int64_t limit, start, end;
    cJSON *reply;
    cJSON *customers;
    enum lb_err err;

    err = decode_scope(svc, req, known, &caller, &sc, why);
    if (err == LB_OK)
        err = opt_int(req->body, "limit", 1, REP_ACTIVE_PAGE_MAX, 10, &limit, why);
    if (err == LB_OK)
        err = opt_cursor(req->body, &sc, after, sizeof(after), why);
    if (err != LB_OK)
        return err;
    err = json_get_string(req->body, "month", 7, &month, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "month: %s", err == LB_ENOTFOUND ? "missing" : why->text);
    if (!rep_month_parse(month, &start, &end))
        return lb_fail(why, LB_EINVAL, "month: \"%s\" is not YYYY-MM", month);
    reply = reply_head(&sc);
    customers = reply ? cJSON_AddArrayToObject(reply, "customers") : NULL;
    if (customers == NULL || !cJSON_AddStringToObject(reply, "month", month)) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = rep_store_billable(service_store(svc), &sc, start, end, month, limit, after, customers,
                             next, sizeof(next), why);
    return finish(reply, next, err, ret_reply, why);
}

static cJSON *export_json(const struct rep_export *e)
{
    cJSON *o = cJSON_CreateObject();
    char expires[32];

    envelope_format_time(e->expires_ms, expires);
    if (o == NULL || !cJSON_AddStringToObject(o, "export_id", e->id) ||
        !cJSON_AddStringToObject(o, "report", e->report) ||
        !cJSON_AddStringToObject(o, "format", e->format) ||
        !cJSON_AddStringToObject(o, "content_type",
                                 strcmp(e->format, "csv") == 0
                                     ? "text/csv; charset=utf-8"
                                     : "application/vnd.openxmlformats-officedocument."
                                       "spreadsheetml.sheet") ||
        !cJSON_AddNumberToObject(o, "bytes", (double)e->bytes) ||
        !cJSON_AddNumberToObject(o, "chunks", (double)e->chunks) ||
        !cJSON_AddNumberToObject(o, "chunk_bytes", REP_CHUNK_BYTES) ||
        !cJSON_AddNumberToObject(o, "rows", (double)e->rows) ||
        !cJSON_AddStringToObject(o, "expires_at", expires)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

REP_ENDPOINT(rep_export)
{
    static const char *const known[] = {"tenant", "caller", "org",   "report",
                                        "format", "key",    "sheet", NULL};
    static const char *const reports[] = {"active_deployments", "consumption", NULL};
    static const char *const formats[] = {"xlsx", "csv", NULL};
    static const char *const sheets[] = {"keys", "deployments", NULL};
    const struct rep_config *cfg = service_config(svc);
    struct store *s = service_store(svc);
    struct caller caller;
    struct rep_scope sc = {0};
    struct rep_export e;
    const char *report, *format, *sheet, *key = NULL;
    char license[REP_ENTITY_MAX + 1];
    enum lb_err err;

    memset(&e, 0, sizeof(e));
    err = decode_scope(svc, req, known, &caller, &sc, why);
    if (err == LB_OK)
        err = opt_enum(req->body, "report", reports, &report, why);
    if (err == LB_OK)
        err = opt_enum(req->body, "format", formats, &format, why);
    if (err == LB_OK)
        err = opt_enum(req->body, "sheet", sheets, &sheet, why);
    if (err != LB_OK)
        return err;
    if (report == NULL)
        return lb_fail(why, LB_EINVAL, "report: missing");
    if (format == NULL)
        return lb_fail(why, LB_EINVAL, "format: missing");
    err = json_get_string(req->body, "key", REP_KEY_MAX, &key, why);
    if (err == LB_ENOTFOUND)
        key = NULL;
    else if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "key: %s", why->text);
    if (key != NULL && strcmp(report, "active_deployments") != 0)
        return lb_fail(why, LB_EINVAL, "key: only the active_deployments report takes a key");
    if (sheet != NULL && !(strcmp(report, "active_deployments") == 0 && strcmp(format, "csv") == 0))
        return lb_fail(why, LB_EINVAL, "sheet: only a csv active_deployments report takes a sheet");
    if (key != NULL && (err = rep_store_license_find(s, &sc, key, license, why)) != LB_OK)
        return err;
    id_derive(e.id, sc.now_ms, req->request_id, "export");
    (void)snprintf(e.tenant, sizeof(e.tenant), "%s", sc.tenant);
    (void)snprintf(e.org, sizeof(e.org), "%s", sc.org);
    (void)snprintf(e.report, sizeof(e.report), "%s", report);
    (void)snprintf(e.format, sizeof(e.format), "%s", format);
    e.created_ms = sc.now_ms;
    e.expires_ms = sc.now_ms + cfg->export_ttl_ms;
    err = rep_export_build(s, &sc, key, sheet != NULL ? sheet : "deployments", cfg->export_rows_max,
                           &e, why);
    if (err == LB_OK)
        err = rep_store_export_put(s, &e, why);
    if (err != LB_OK) {
        char dir[1024];
        char path[1200];

        /* Nothing half-made survives: the row rolls back, the file goes. */
        if (rep_export_dir(s, dir, sizeof(dir), NULL) == LB_OK) {
            rep_export_path(dir, e.id, e.format, path, sizeof(path));
            (void)unlink(path);
        }
        return err;
    }
    *ret_reply = export_json(&e);
    return *ret_reply ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
}

REP_ENDPOINT(rep_export_chunk)
{
    static const char *const known[] = {"tenant", "caller", "export_id", "index", NULL};
    struct store *s = service_store(svc);
    struct caller caller;
    struct rep_export e;
    const char *id;
    int64_t index;
    char dir[1024];
    char path[1200];
    unsigned char *raw = NULL;
    char *text = NULL;
    ssize_t got = 0;
    int fd;
    enum lb_err err = json_check_members(req->body, known, why);

    if (err == LB_OK)
        err = caller_decode(s, req->body, &caller, why);
    if (err != LB_OK)
        return err;
    err = json_get_string(req->body, "export_id", 26, &id, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "export_id: %s",
                       err == LB_ENOTFOUND ? "missing" : why->text);
    if (!rep_export_id_valid(id))
        return lb_fail(why, LB_EINVAL, "export_id: \"%s\" is not an export id", id);
    err = json_get_int(req->body, "index", 0, 1000000, &index, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "index: %s", err == LB_ENOTFOUND ? "missing" : why->text);
    err = rep_store_export_get(s, caller.tenant, id, &e, why);
    /* Another subtree's export is as invisible as a missing one. */
    if (err == LB_OK && caller_may_act_on(s, &caller, e.org, why) != LB_OK)
        err = lb_fail(why, LB_ENOTFOUND, "export_id: no export %s (never made, or expired)", id);
    if (err != LB_OK)
        return err;
    if (index >= e.chunks)
        return lb_fail(why, LB_EINVAL, "index: %lld is past the last chunk (%lld chunks)",
                       (long long)index, (long long)e.chunks);
    err = rep_export_dir(s, dir, sizeof(dir), why);
    if (err != LB_OK)
        return err;
    rep_export_path(dir, e.id, e.format, path, sizeof(path));
    raw = malloc(REP_CHUNK_BYTES);
    text = malloc(REP_CHUNK_BYTES / 3 * 4 + 8);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (raw == NULL || text == NULL)
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    else if (fd < 0)
        err = lb_fail(why, LB_EIO, "export %s: %s", id, strerror(errno));
    else
        got = pread(fd, raw, REP_CHUNK_BYTES, (off_t)(index * REP_CHUNK_BYTES));
    if (err == LB_OK && got < 0)
        err = lb_fail(why, LB_EIO, "export %s: %s", id, strerror(errno));
    if (fd >= 0)
        (void)close(fd);
    if (err == LB_OK) {
        cJSON *reply = cJSON_CreateObject();

        rep_base64(raw, (size_t)got, text);
        if (reply == NULL || !cJSON_AddStringToObject(reply, "export_id", id) ||
            !cJSON_AddNumberToObject(reply, "index", (double)index) ||
            !cJSON_AddNumberToObject(reply, "chunks", (double)e.chunks) ||
            !cJSON_AddNumberToObject(reply, "bytes", (double)got) ||
            !cJSON_AddStringToObject(reply, "data", text)) {
            cJSON_Delete(reply);
            err = lb_fail(why, LB_ENOMEM, "out of memory");
        } else {
            *ret_reply = reply;
        }
    }
    free(raw);
    free(text);
    return err;
}

REP_ENDPOINT(rep_status)
{
    static const char *const known[] = {"tenant", "caller", NULL};
    struct caller caller;
    cJSON *reply;
    cJSON *domains;
    char now[32];
    enum lb_err err = json_check_members(req->body, known, why);

    if (err == LB_OK)
        err = caller_decode(service_store(svc), req->body, &caller, why);
    if (err != LB_OK)
        return err;
    envelope_format_time(service_now_ms(svc), now);
    reply = cJSON_CreateObject();
    domains = reply ? cJSON_AddArrayToObject(reply, "domains") : NULL;
    if (domains == NULL || !cJSON_AddStringToObject(reply, "as_of", now)) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = rep_store_progress_json(service_store(svc), clock_wall_ms(), domains, why);
    return finish(reply, NULL, err, ret_reply, why);
}
