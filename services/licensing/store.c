/*
 * store.c - licensing's tables; all of its SQL is here.
 *
 * Licenses are keyed by their derived, time-ordered id (appends), unique by
 * key. license_orgs is keyed (tenant, org, license) so the licenses of an
 * org are one index range in issue order (the listing's sort and cursor).
 * The sweep reads licenses_by_next, an index on the time of each license's
 * next transition, so a sweep costs one range read of what is due.
 *
 * Migration 2: license_orgs carries a copy of each license's expires_ms and
 * `live` (0 once license_expired is recorded), with a partial index of the
 * live rows in key order, so the default listing reads only live rows and
 * filters expiry on the index before joining licenses; licenses.rev orders
 * a restore (D22); restored_causes serves the rebuild.
 * Migration 3 makes that index covering (it holds `live` too).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "json_strict.h"
#include "licensing.h"

const struct store_migration lic_migrations[] = {
    {1, "CREATE TABLE products ("
        "  id TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL,"
        "  delivery INTEGER NOT NULL," /* enum lic_delivery */
        "  shown INTEGER NOT NULL,"
        "  version INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "CREATE TABLE installers ("
        "  product TEXT NOT NULL,"
        "  pos INTEGER NOT NULL," /* order given by the catalog admin */
        "  version TEXT NOT NULL,"
        "  platform TEXT NOT NULL,"
        "  link TEXT NOT NULL,"
        "  checksum TEXT NOT NULL,"
        "  PRIMARY KEY (product, pos)"
        ") WITHOUT ROWID;"
        "CREATE TABLE licenses ("
        "  id TEXT PRIMARY KEY,"
        "  tenant TEXT NOT NULL,"
        "  key TEXT NOT NULL UNIQUE,"
        "  product TEXT NOT NULL,"
        "  delivery INTEGER NOT NULL,"
        "  type INTEGER NOT NULL,"
        "  start_ms INTEGER NOT NULL,"
        "  expires_ms INTEGER NOT NULL,"
        "  lim INTEGER NOT NULL,"
        "  deployed INTEGER NOT NULL,"
        "  scans_used INTEGER NOT NULL,"
        "  note TEXT NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  issued_ms INTEGER NOT NULL,"
        "  updated_ms INTEGER NOT NULL,"
        "  expiring_for INTEGER NOT NULL," /* expires_ms whose license_expiring was emitted */
        "  expired_for INTEGER NOT NULL,"  /* expires_ms whose license_expired was emitted */
        "  next_ms INTEGER"                /* next sweep transition; NULL: none */
        ") WITHOUT ROWID;"
        "CREATE INDEX licenses_by_next ON licenses (next_ms) WHERE next_ms IS NOT NULL;"
        "CREATE TABLE license_orgs ("
        "  tenant TEXT NOT NULL,"
        "  org TEXT NOT NULL,"
        "  key TEXT NOT NULL," /* the listing's order and cursor */
        "  license TEXT NOT NULL,"
        "  PRIMARY KEY (tenant, org, key)"
        ") WITHOUT ROWID;"
        "CREATE INDEX license_orgs_by_license ON license_orgs (license);"
        "CREATE TABLE deployments ("
        "  license TEXT NOT NULL,"
        "  instance TEXT NOT NULL,"
        "  host TEXT NOT NULL,"
        "  product_version TEXT NOT NULL,"
        "  who TEXT NOT NULL,"
        "  activated_ms INTEGER NOT NULL,"
        "  last_seen_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (license, instance)"
        ") WITHOUT ROWID;"
        "CREATE TABLE history ("
        "  license TEXT NOT NULL,"
        "  seq INTEGER NOT NULL," /* 1, 2, ... per license */
        "  event_id TEXT NOT NULL,"
        "  change TEXT NOT NULL,"
        "  time_ms INTEGER NOT NULL,"
        "  entry TEXT NOT NULL," /* the history entry as JSON */
        "  PRIMARY KEY (license, seq)"
        ") WITHOUT ROWID;"},
    {2, "ALTER TABLE licenses ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;"
        "UPDATE licenses SET rev = version;"
        "ALTER TABLE license_orgs ADD COLUMN expires_ms INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE license_orgs ADD COLUMN live INTEGER NOT NULL DEFAULT 1;"
        "UPDATE license_orgs SET expires_ms = (SELECT l.expires_ms FROM licenses l "
        "  WHERE l.id = license_orgs.license);"
        "UPDATE license_orgs SET live = 0 WHERE license IN "
        "  (SELECT id FROM licenses WHERE expired_for = expires_ms);"
        /* The default listing: live rows of an org in key order, expiry on the index. */
        "CREATE INDEX license_orgs_live ON license_orgs (tenant, org, key, expires_ms, license) "
        "  WHERE live = 1;"
        /* Consumed events whose effect a restore brought back (used once, then deleted). */
        "CREATE TABLE restored_causes (cause TEXT PRIMARY KEY) WITHOUT ROWID;"
        /* enum lic_phase: a database made by this migration's first run is new (1). */
        "CREATE TABLE restore (id INTEGER PRIMARY KEY CHECK (id = 1), phase INTEGER NOT NULL);"
        "INSERT INTO restore (id, phase) SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM licenses) "
        "  OR EXISTS (SELECT 1 FROM products) THEN 0 ELSE 1 END;"},
    /* SQLite does not count a partial index's WHERE column as covered: with `live` in it, the
     * listing reads the index alone until the join (no table probe per expired row). */
    {3, "DROP INDEX license_orgs_live;"
        "CREATE INDEX license_orgs_live ON license_orgs (tenant, org, key, expires_ms, license, "
        "  live) WHERE live = 1;"},
    /* The runtime orders a rebuild now (D28): no phase of its own. */
    {4, "DROP TABLE restore;"},
    /* History entries appended at the table's end (a rowid in arrival order) and found through
     * a small index: as a WITHOUT ROWID table keyed (license, seq), each entry landed in the
     * middle of a full leaf, and the rebalancing rewrote 3.6 pages per activation on average
     * (1 now: the index leaf; the table's last page is shared by the batch). */
    {5, "CREATE TABLE history_log ("
        "  id INTEGER PRIMARY KEY,"
        "  license TEXT NOT NULL,"
        "  seq INTEGER NOT NULL," /* 1, 2, ... per license */
        "  event_id TEXT NOT NULL,"
        "  change TEXT NOT NULL,"
        "  time_ms INTEGER NOT NULL,"
        "  entry TEXT NOT NULL" /* the history entry as JSON */
        ");"
        "INSERT INTO history_log (license, seq, event_id, change, time_ms, entry) "
        "  SELECT license, seq, event_id, change, time_ms, entry FROM history "
        "  ORDER BY time_ms, license, seq;"
        "DROP TABLE history;"
        "ALTER TABLE history_log RENAME TO history;"
        "CREATE UNIQUE INDEX history_by_license ON history (license, seq);"},
};
const size_t lic_migration_count = sizeof(lic_migrations) / sizeof(lic_migrations[0]);

static enum lb_err step_fail(struct store *s, int rc, const char *what, struct lb_why *why)
{
    return lb_fail(why, store_err(rc), "%s: %s", what, sqlite3_errmsg(store_db(s)));
}

static void copy_text(char *dst, size_t size, sqlite3_stmt *stmt, int col)
{
    const unsigned char *t = sqlite3_column_text(stmt, col);

    (void)snprintf(dst, size, "%s", t ? (const char *)t : "");
}

enum lb_err lic_store_product_get(struct store *s, const char *id, struct product *ret,
                                  struct lb_why *why)
{
    static const char sql[] = "SELECT name, delivery, shown, version FROM products WHERE id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        (void)snprintf(ret->id, sizeof(ret->id), "%s", id);
        copy_text(ret->name, sizeof(ret->name), stmt, 0);
        ret->delivery = sqlite3_column_int(stmt, 1) ? LIC_CLOUD : LIC_ON_PREMISES;
        ret->shown = sqlite3_column_int(stmt, 2) != 0;
        ret->version = sqlite3_column_int64(stmt, 3);
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "product: no product \"%s\" in the catalog", id);
    return rc == SQLITE_ROW ? LB_OK : step_fail(s, rc, "reading product", why);
}

enum lb_err lic_store_product_put(struct store *s, const struct product *p, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO products (id, name, delivery, shown, version) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, delivery = excluded.delivery, "
        "shown = excluded.shown, version = excluded.version";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, p->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 3, (int)p->delivery);
    sqlite3_bind_int(stmt, 4, p->shown ? 1 : 0);
    sqlite3_bind_int64(stmt, 5, p->version);
    return store_step_done(s, stmt, why);
}

enum lb_err lic_store_installers_set(struct store *s, const char *product,
                                     const struct installer *list, size_t n, struct lb_why *why)
{
    static const char del[] = "DELETE FROM installers WHERE product = ?";
    static const char ins[] = "INSERT INTO installers (product, pos, version, platform, link, "
                              "checksum) VALUES (?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *stmt = store_stmt(s, del, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, product, -1, SQLITE_STATIC);
    err = store_step_done(s, stmt, why);
    for (size_t i = 0; err == LB_OK && i < n; i++) {
        stmt = store_stmt(s, ins, why);
        if (stmt == NULL)
            return LB_EINTERNAL;
        sqlite3_bind_text(stmt, 1, product, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, (int64_t)i);
        sqlite3_bind_text(stmt, 3, list[i].version, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, list[i].platform, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 5, list[i].link, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 6, list[i].checksum, -1, SQLITE_STATIC);
        err = store_step_done(s, stmt, why);
    }
    return err;
}

enum lb_err lic_store_installers_json(struct store *s, const char *product, cJSON **ret,
                                      struct lb_why *why)
{
    static const char sql[] = "SELECT version, platform, link, checksum FROM installers "
                              "WHERE product = ? ORDER BY pos";
    static const char *const names[] = {"version", "platform", "link", "checksum"};
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    cJSON *list = cJSON_CreateArray();
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL || list == NULL) {
        cJSON_Delete(list);
        return stmt == NULL ? LB_EINTERNAL : lb_fail(why, LB_ENOMEM, "out of memory");
    }
    sqlite3_bind_text(stmt, 1, product, -1, SQLITE_STATIC);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        cJSON *item = cJSON_CreateObject();

        if (item == NULL || !cJSON_AddItemToArray(list, item))
            err = lb_fail(why, LB_ENOMEM, "out of memory");
        for (int c = 0; err == LB_OK && c < 4; c++) {
            if (!cJSON_AddStringToObject(item, names[c],
                                         (const char *)sqlite3_column_text(stmt, c)))
                err = lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_fail(s, rc, "listing installers", why);
    if (err != LB_OK) {
        cJSON_Delete(list);
        return err;
    }
    *ret = list;
    return LB_OK;
}

#define LICENSE_COLUMNS                                                                            \
    "id, tenant, key, product, delivery, type, start_ms, expires_ms, lim, deployed, scans_used, "  \
    "note, version, issued_ms, updated_ms, expiring_for, expired_for, next_ms, rev"
/* The same columns of licenses as `l` in a join. */
#define LICENSE_COLUMNS_L                                                                          \
    "l.id, l.tenant, l.key, l.product, l.delivery, l.type, l.start_ms, l.expires_ms, l.lim, "      \
    "l.deployed, l.scans_used, l.note, l.version, l.issued_ms, l.updated_ms, l.expiring_for, "     \
    "l.expired_for, l.next_ms, l.rev"

/* The license's orgs as one text "a,b,c" (org ids hold no comma), read with its row. */
#define LICENSE_ORGS(table)                                                                        \
    "(SELECT group_concat(o.org, ',') FROM license_orgs o WHERE o.license = " table ".id)"

static int org_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Reads LICENSE_COLUMNS (0-18) and LICENSE_ORGS (19) of the current row. */
static void read_license(sqlite3_stmt *stmt, struct license *l)
{
    const char *orgs = (const char *)sqlite3_column_text(stmt, 19);

    memset(l, 0, sizeof(*l));
    copy_text(l->id, sizeof(l->id), stmt, 0);
    copy_text(l->tenant, sizeof(l->tenant), stmt, 1);
    copy_text(l->key, sizeof(l->key), stmt, 2);
    copy_text(l->product, sizeof(l->product), stmt, 3);
    l->delivery = sqlite3_column_int(stmt, 4) ? LIC_CLOUD : LIC_ON_PREMISES;
    l->type = sqlite3_column_int(stmt, 5) ? LIC_PURCHASED : LIC_EVALUATION;
    l->start_ms = sqlite3_column_int64(stmt, 6);
    l->expires_ms = sqlite3_column_int64(stmt, 7);
    l->limit = sqlite3_column_int64(stmt, 8);
    l->deployed = sqlite3_column_int64(stmt, 9);
    l->scans_used = sqlite3_column_int64(stmt, 10);
    copy_text(l->note, sizeof(l->note), stmt, 11);
    l->version = sqlite3_column_int64(stmt, 12);
    l->issued_ms = sqlite3_column_int64(stmt, 13);
    l->updated_ms = sqlite3_column_int64(stmt, 14);
    l->expiring_for = sqlite3_column_int64(stmt, 15);
    l->expired_for = sqlite3_column_int64(stmt, 16);
    l->rev = sqlite3_column_int64(stmt, 18);
    l->stored.present = true;
    l->stored.next_ms =
        sqlite3_column_type(stmt, 17) == SQLITE_NULL ? INT64_MAX : sqlite3_column_int64(stmt, 17);
    l->stored.expires_ms = l->expires_ms;
    l->stored.live = l->expired_for != l->expires_ms;
    while (orgs != NULL && *orgs != '\0' && l->org_count < LIC_ORGS_MAX) {
        size_t n = strcspn(orgs, ",");

        (void)snprintf(l->orgs[l->org_count++], sizeof(l->orgs[0]), "%.*s", (int)n, orgs);
        orgs += n + (orgs[n] == ',');
    }
    qsort(l->orgs, l->org_count, sizeof(l->orgs[0]), org_cmp);
}

static enum lb_err get_license(struct store *s, const char *sql, const char *value,
                               struct license *ret, struct lb_why *why)
{
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, value, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        read_license(stmt, ret);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "no license %s", value);
    if (rc != SQLITE_ROW)
        return step_fail(s, rc, "reading license", why);
    return LB_OK;
}

enum lb_err lic_store_get_by_key(struct store *s, const char *key, struct license *ret,
                                 struct lb_why *why)
{
    static const char sql[] =
        "SELECT " LICENSE_COLUMNS ", " LICENSE_ORGS("licenses") " FROM licenses WHERE key = ?";

    return get_license(s, sql, key, ret, why);
}

enum lb_err lic_store_get_by_id(struct store *s, const char *id, struct license *ret,
                                struct lb_why *why)
{
    static const char sql[] =
        "SELECT " LICENSE_COLUMNS ", " LICENSE_ORGS("licenses") " FROM licenses WHERE id = ?";

    return get_license(s, sql, id, ret, why);
}

/* Binds the columns shared by the insert and the updates (?1..?17, ?19 rev). */
static void bind_license(sqlite3_stmt *stmt, const struct license *l)
{
    sqlite3_bind_text(stmt, 1, l->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, l->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, l->key, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, l->product, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 5, (int)l->delivery);
    sqlite3_bind_int(stmt, 6, (int)l->type);
    sqlite3_bind_int64(stmt, 7, l->start_ms);
    sqlite3_bind_int64(stmt, 8, l->expires_ms);
    sqlite3_bind_int64(stmt, 9, l->limit);
    sqlite3_bind_int64(stmt, 10, l->deployed);
    sqlite3_bind_int64(stmt, 11, l->scans_used);
    sqlite3_bind_text(stmt, 12, l->note, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 13, l->version);
    sqlite3_bind_int64(stmt, 14, l->issued_ms);
    sqlite3_bind_int64(stmt, 15, l->updated_ms);
    sqlite3_bind_int64(stmt, 16, l->expiring_for);
    sqlite3_bind_int64(stmt, 17, l->expired_for);
    sqlite3_bind_int64(stmt, 19, l->rev);
}

/* Rewrites the license's license_orgs rows (its org set changed, or it is new). */
static enum lb_err put_orgs(struct store *s, const struct license *l, bool live, struct lb_why *why)
{
    static const char del_orgs[] = "DELETE FROM license_orgs WHERE license = ?";
    static const char ins_org[] =
        "INSERT INTO license_orgs (tenant, org, key, license, expires_ms, "
        "live) VALUES (?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *stmt;
    enum lb_err err = LB_OK;

    if (l->stored.present) {
        stmt = store_stmt(s, del_orgs, why);
        if (stmt == NULL)
            return LB_EINTERNAL;
        sqlite3_bind_text(stmt, 1, l->id, -1, SQLITE_STATIC);
        err = store_step_done(s, stmt, why);
    }
    for (size_t i = 0; err == LB_OK && i < l->org_count; i++) {
        stmt = store_stmt(s, ins_org, why);
        if (stmt == NULL)
            return LB_EINTERNAL;
        sqlite3_bind_text(stmt, 1, l->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, l->orgs[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 3, l->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, l->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 5, l->expires_ms);
        sqlite3_bind_int(stmt, 6, live ? 1 : 0);
        err = store_step_done(s, stmt, why);
    }
    return err;
}

enum lb_err lic_store_put(struct store *s, struct license *l, int64_t next_ms, struct lb_why *why)
{
    static const char ins[] = "INSERT INTO licenses (" LICENSE_COLUMNS ") VALUES "
                              "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                              "?16, ?17, ?18, ?19)";
    /* id, tenant and key never change, and next_ms (indexed) is set only when it changes:
     * leaving them (and their indexes) alone keeps an update to the license row itself (the
     * hot path of activation). */
    static const char upd[] =
        "UPDATE licenses SET product = ?4, delivery = ?5, "
        "type = ?6, start_ms = ?7, expires_ms = ?8, lim = ?9, deployed = ?10, scans_used = ?11, "
        "note = ?12, version = ?13, issued_ms = ?14, updated_ms = ?15, expiring_for = ?16, "
        "expired_for = ?17, rev = ?19 WHERE id = ?1 AND tenant = ?2 AND key = ?3";
    static const char upd_next[] =
        "UPDATE licenses SET product = ?4, delivery = ?5, "
        "type = ?6, start_ms = ?7, expires_ms = ?8, lim = ?9, deployed = ?10, scans_used = ?11, "
        "note = ?12, version = ?13, issued_ms = ?14, updated_ms = ?15, expiring_for = ?16, "
        "expired_for = ?17, next_ms = ?18, rev = ?19 WHERE id = ?1 AND tenant = ?2 AND key = ?3";
    static const char upd_orgs[] = "UPDATE license_orgs SET expires_ms = ?, live = ? "
                                   "WHERE license = ?";
    bool insert = !l->stored.present;
    bool live = l->expired_for != l->expires_ms;
    const char *sql = insert ? ins : next_ms != l->stored.next_ms ? upd_next : upd;
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_license(stmt, l);
    if (next_ms == INT64_MAX)
        sqlite3_bind_null(stmt, 18);
    else
        sqlite3_bind_int64(stmt, 18, next_ms);
    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc == SQLITE_CONSTRAINT)
        return lb_fail(why, LB_ECONFLICT, "key: license key %s is already taken", l->key);
    if (rc != SQLITE_DONE)
        return step_fail(s, rc, "writing license", why);
    if (insert || l->orgs_changed) {
        err = put_orgs(s, l, live, why);
    } else if (l->expires_ms != l->stored.expires_ms || live != l->stored.live) {
        stmt = store_stmt(s, upd_orgs, why);
        if (stmt == NULL)
            return LB_EINTERNAL;
        sqlite3_bind_int64(stmt, 1, l->expires_ms);
        sqlite3_bind_int(stmt, 2, live ? 1 : 0);
        sqlite3_bind_text(stmt, 3, l->id, -1, SQLITE_STATIC);
        err = store_step_done(s, stmt, why);
    }
    if (err != LB_OK)
        return err;
    l->stored = (struct lic_stored){
        .present = true, .next_ms = next_ms, .expires_ms = l->expires_ms, .live = live};
    l->orgs_changed = false;
    return LB_OK;
}

enum lb_err lic_store_rev(struct store *s, const char *id, int64_t *ret_rev, bool *ret_present,
                          struct lb_why *why)
{
    static const char sql[] = "SELECT rev FROM licenses WHERE id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    *ret_present = rc == SQLITE_ROW;
    *ret_rev = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return step_fail(s, rc, "reading license rev", why);
    return LB_OK;
}

enum lb_err lic_store_org_path(struct store *s, const char *tenant, const char *org, char *ret_path,
                               size_t size, struct lb_why *why)
{
    static const char sql[] = "SELECT path FROM lb_org WHERE tenant = ? AND id = ? AND deleted = 0";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, org, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        copy_text(ret_path, size, stmt, 0);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "org %s is not a live org of tenant %s", org, tenant);
    return rc == SQLITE_ROW ? LB_OK : step_fail(s, rc, "reading org", why);
}

enum lb_err lic_store_deployment_get(struct store *s, const char *license, const char *instance,
                                     struct deployment *ret, struct lb_why *why)
{
    static const char sql[] = "SELECT host, product_version, who, activated_ms, last_seen_ms "
                              "FROM deployments WHERE license = ? AND instance = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, license, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, instance, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        (void)snprintf(ret->instance, sizeof(ret->instance), "%s", instance);
        copy_text(ret->host, sizeof(ret->host), stmt, 0);
        copy_text(ret->product_version, sizeof(ret->product_version), stmt, 1);
        copy_text(ret->who, sizeof(ret->who), stmt, 2);
        ret->activated_ms = sqlite3_column_int64(stmt, 3);
        ret->last_seen_ms = sqlite3_column_int64(stmt, 4);
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "instance: %s is not activated on this license",
                       instance);
    return rc == SQLITE_ROW ? LB_OK : step_fail(s, rc, "reading deployment", why);
}

enum lb_err lic_store_deployment_put(struct store *s, const char *license,
                                     const struct deployment *d, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO deployments (license, instance, host, product_version, who, activated_ms, "
        "last_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (license, instance) DO UPDATE SET "
        "host = excluded.host, product_version = excluded.product_version, "
        "last_seen_ms = excluded.last_seen_ms";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, license, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, d->instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, d->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, d->product_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, d->who, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, d->activated_ms);
    sqlite3_bind_int64(stmt, 7, d->last_seen_ms);
    return store_step_done(s, stmt, why);
}

enum lb_err lic_store_deployment_add(struct store *s, const char *license,
                                     const struct deployment *d, bool *ret_added,
                                     struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO deployments (license, instance, host, product_version, who, activated_ms, "
        "last_seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (license, instance) DO NOTHING";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, license, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, d->instance, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, d->host, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, d->product_version, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, d->who, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 6, d->activated_ms);
    sqlite3_bind_int64(stmt, 7, d->last_seen_ms);
    err = store_step_done(s, stmt, why);
    if (err == LB_OK)
        *ret_added = sqlite3_changes(store_db(s)) == 1;
    return err;
}

enum lb_err lic_store_deployment_delete(struct store *s, const char *license, const char *instance,
                                        struct lb_why *why)
{
    static const char sql[] = "DELETE FROM deployments WHERE license = ? AND instance = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, license, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, instance, -1, SQLITE_STATIC);
    return store_step_done(s, stmt, why);
}

enum lb_err lic_store_deployments_json(struct store *s, const char *license, cJSON **ret,
                                       struct lb_why *why)
{
    static const char sql[] = "SELECT instance, host, product_version, who, activated_ms, "
                              "last_seen_ms FROM deployments WHERE license = ? ORDER BY instance";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    cJSON *list = cJSON_CreateArray();
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL || list == NULL) {
        cJSON_Delete(list);
        return stmt == NULL ? LB_EINTERNAL : lb_fail(why, LB_ENOMEM, "out of memory");
    }
    sqlite3_bind_text(stmt, 1, license, -1, SQLITE_STATIC);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        cJSON *item = cJSON_CreateObject();
        char activated[32];
        char seen[32];

        envelope_format_time(sqlite3_column_int64(stmt, 4), activated);
        envelope_format_time(sqlite3_column_int64(stmt, 5), seen);
        if (item == NULL || !cJSON_AddItemToArray(list, item) ||
            !cJSON_AddStringToObject(item, "instance",
                                     (const char *)sqlite3_column_text(stmt, 0)) ||
            !cJSON_AddStringToObject(item, "host", (const char *)sqlite3_column_text(stmt, 1)) ||
            !cJSON_AddStringToObject(item, "product_version",
                                     (const char *)sqlite3_column_text(stmt, 2)) ||
            !cJSON_AddStringToObject(item, "who", (const char *)sqlite3_column_text(stmt, 3)) ||
            !cJSON_AddStringToObject(item, "activated_at", activated) ||
            !cJSON_AddStringToObject(item, "last_seen", seen))
            err = lb_fail(why, LB_ENOMEM, "out of memory");
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_fail(s, rc, "listing deployments", why);
    if (err != LB_OK) {
        cJSON_Delete(list);
        return err;
    }
    *ret = list;
    return LB_OK;
}

enum lb_err lic_store_history_add(struct store *s, const char *license, const char *event_id,
                                  const char *change, int64_t time_ms, const char *entry,
                                  size_t len, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO history (license, seq, event_id, change, time_ms, entry) VALUES (?1, "
        "(SELECT COALESCE(MAX(seq), 0) + 1 FROM history WHERE license = ?1), ?2, ?3, ?4, ?5)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, license, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, event_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, change, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, time_ms);
    sqlite3_bind_text(stmt, 5, entry, (int)len, SQLITE_STATIC);
    return store_step_done(s, stmt, why);
}

enum lb_err lic_store_history_json(struct store *s, const char *license, int64_t after_seq,
                                   int limit, cJSON **ret, bool *ret_more, struct lb_why *why)
{
    static const char sql[] = "SELECT seq, entry FROM history WHERE license = ? AND seq > ? "
                              "ORDER BY seq LIMIT ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    cJSON *list = cJSON_CreateArray();
    enum lb_err err = LB_OK;
    int rows = 0;
    int rc;

    if (stmt == NULL || list == NULL) {
        cJSON_Delete(list);
        return stmt == NULL ? LB_EINTERNAL : lb_fail(why, LB_ENOMEM, "out of memory");
    }
    sqlite3_bind_text(stmt, 1, license, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, after_seq);
    sqlite3_bind_int(stmt, 3, limit + 1);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW && ++rows <= limit) {
        cJSON *item = cJSON_Parse((const char *)sqlite3_column_text(stmt, 1));

        if (item == NULL || !cJSON_AddItemToArray(list, item) ||
            !cJSON_AddNumberToObject(item, "seq", (double)sqlite3_column_int64(stmt, 0)))
            err = lb_fail(why, LB_ENOMEM, "out of memory");
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = step_fail(s, rc, "reading history", why);
    if (err != LB_OK) {
        cJSON_Delete(list);
        return err;
    }
    *ret = list;
    *ret_more = rows > limit;
    return LB_OK;
}

/*
 * The licenses assigned to `org` that no other live assigned org lies below
 * (lic_shown_under), of products shown on the customer page, in key order.
 * The default listing reads the live rows of license_orgs_live and checks
 * the expiry on that index (a license expired since the last sweep is still
 * live there) before it joins licenses; include_expired reads the primary key.
 */
#define LIST_SHOWN                                                                                 \
    "AND NOT EXISTS (SELECT 1 FROM license_orgs o2 JOIN lb_org g ON g.tenant = o2.tenant "         \
    "  AND g.id = o2.org WHERE o2.license = lo.license AND o2.org <> lo.org "                      \
    "  AND g.deleted = 0 AND g.path GLOB ?5) "                                                     \
    "AND EXISTS (SELECT 1 FROM products p WHERE p.id = l.product AND p.shown = 1) "                \
    "ORDER BY lo.key LIMIT ?6"

enum lb_err lic_store_list(struct store *s, const char *tenant, const char *org,
                           const char *after_key, bool include_expired, int64_t now_ms, int limit,
                           lic_list_fn fn, void *ctx, int *ret_count, struct lb_why *why)
{
    static const char live_sql[] = "SELECT " LICENSE_COLUMNS_L ", " LICENSE_ORGS(
        "l") " FROM license_orgs lo "
             "INDEXED BY license_orgs_live "
             "JOIN licenses l ON l.id = lo.license "
             "WHERE lo.tenant = ?1 AND lo.org = ?2 AND lo.live = 1 AND lo.key > ?3 "
             "AND lo.expires_ms > ?4 " LIST_SHOWN;
    static const char all_sql[] =
        "SELECT " LICENSE_COLUMNS_L
        ", " LICENSE_ORGS("l") " FROM license_orgs lo "
                               "JOIN licenses l ON l.id = lo.license "
                               "WHERE lo.tenant = ?1 AND lo.org = ?2 AND lo.key > ?3 " LIST_SHOWN;
    char path[4200];
    sqlite3_stmt *stmt;
    enum lb_err err;
    int n = 0;
    int rc = SQLITE_DONE;

    err = lic_store_org_path(s, tenant, org, path, sizeof(path) - 2, why);
    if (err != LB_OK)
        return err;
    path[strlen(path) + 1] = '\0';
    path[strlen(path)] = '*';
    stmt = store_stmt(s, include_expired ? all_sql : live_sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, org, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, after_key, -1, SQLITE_STATIC);
    if (!include_expired)
        sqlite3_bind_int64(stmt, 4, now_ms);
    sqlite3_bind_text(stmt, 5, path, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 6, limit);
    while (err == LB_OK && n < limit && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct license l;

        read_license(stmt, &l);
        err = fn(ctx, &l, why);
        n++;
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        return step_fail(s, rc, "listing licenses", why);
    if (err == LB_OK)
        *ret_count = n;
    return err;
}

enum lb_err lic_store_due_ids(struct store *s, int64_t now_ms, int max, char (*ret_ids)[27],
                              int *ret_count, struct lb_why *why)
{
    /* Ordered, so a replay handles due licenses (and derives their ids) in the same order. */
    static const char sql[] = "SELECT id FROM licenses WHERE next_ms IS NOT NULL AND next_ms <= ? "
                              "ORDER BY next_ms, id LIMIT ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int n = 0;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, now_ms);
    sqlite3_bind_int(stmt, 2, max);
    while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        copy_text(ret_ids[n++], 27, stmt, 0);
    sqlite3_reset(stmt);
    if (n < max && rc != SQLITE_DONE)
        return step_fail(s, rc, "listing due licenses", why);
    *ret_count = n;
    return LB_OK;
}

enum lb_err lic_store_cause_add(struct store *s, const char *cause, struct lb_why *why)
{
    static const char sql[] = "INSERT OR IGNORE INTO restored_causes (cause) VALUES (?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, cause, -1, SQLITE_STATIC);
    return store_step_done(s, stmt, why);
}

enum lb_err lic_store_cause_take(struct store *s, const char *cause, bool *ret_restored,
                                 struct lb_why *why)
{
    static const char find[] = "SELECT 1 FROM restored_causes WHERE cause = ?";
    static const char del[] = "DELETE FROM restored_causes WHERE cause = ?";
    sqlite3_stmt *stmt = store_stmt(s, find, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, cause, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return step_fail(s, rc, "reading restored causes", why);
    *ret_restored = rc == SQLITE_ROW;
    if (rc == SQLITE_DONE)
        return LB_OK;
    stmt = store_stmt(s, del, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, cause, -1, SQLITE_STATIC);
    return store_step_done(s, stmt, why);
}
