/*
 * store.c - reporting's read model; all of its SQL is here.
 *
 * The tables are projections of events (docs/services/reporting.md):
 * rep_licenses holds the newest snapshot of each license, rep_shown one row
 * per (license, org it is shown under) with the org's path, so every view of
 * a subtree is one index range; rep_activity coalesces heartbeats into one
 * row per device and calendar month. lb_org (the runtime's org tree) gives
 * names, kinds and paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "reporting.h"

const struct store_migration rep_migrations[] = {
    {1, "CREATE TABLE rep_products ("
        "  id TEXT PRIMARY KEY, name TEXT NOT NULL, delivery TEXT NOT NULL,"
        "  shown INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE rep_licenses ("
        "  tenant TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, product TEXT NOT NULL,"
        "  version INTEGER NOT NULL, PRIMARY KEY (tenant, id)) WITHOUT ROWID;"
        "CREATE INDEX rep_licenses_by_key ON rep_licenses (tenant, key);"
        /* One row per org a license is shown under (the sub-org rule), denormalized. */
        "CREATE TABLE rep_shown ("
        "  tenant TEXT NOT NULL, org_path TEXT NOT NULL, license TEXT NOT NULL,"
        "  org TEXT NOT NULL, key TEXT NOT NULL, product TEXT NOT NULL, delivery TEXT NOT NULL,"
        "  type TEXT NOT NULL, start_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
        "  lim INTEGER NOT NULL, deployed INTEGER NOT NULL, scans_used INTEGER NOT NULL,"
        "  note TEXT NOT NULL, PRIMARY KEY (tenant, org_path, license)) WITHOUT ROWID;"
        "CREATE INDEX rep_shown_by_license ON rep_shown (tenant, license);"
        "CREATE TABLE rep_history ("
        "  tenant TEXT NOT NULL, license TEXT NOT NULL, time_ms INTEGER NOT NULL,"
        "  event_id TEXT NOT NULL, change TEXT NOT NULL, actor_org TEXT, actor_user TEXT,"
        "  version INTEGER NOT NULL, before TEXT, after TEXT,"
        "  PRIMARY KEY (tenant, license, time_ms, event_id)) WITHOUT ROWID;"
        "CREATE TABLE rep_deployments ("
        "  tenant TEXT NOT NULL, license TEXT NOT NULL, instance TEXT NOT NULL,"
        "  host TEXT NOT NULL, product_version TEXT NOT NULL, activated_ms INTEGER,"
        "  last_seen_ms INTEGER, active INTEGER NOT NULL, version INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, license, instance)) WITHOUT ROWID;"
        "CREATE TABLE rep_customers ("
        "  tenant TEXT NOT NULL, org TEXT NOT NULL, status TEXT NOT NULL,"
        "  login_enabled INTEGER NOT NULL, billing TEXT NOT NULL, version INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, org)) WITHOUT ROWID;"
        "CREATE TABLE rep_subscriptions ("
        "  tenant TEXT NOT NULL, id TEXT NOT NULL, customer TEXT NOT NULL,"
        "  package TEXT NOT NULL, seat_basis TEXT NOT NULL, status TEXT NOT NULL,"
        "  quantity INTEGER NOT NULL, trial_end_ms INTEGER, billing_start_ms INTEGER,"
        "  billing_end_ms INTEGER, version INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, id)) WITHOUT ROWID;"
        "CREATE INDEX rep_subscriptions_by_customer ON rep_subscriptions (tenant, customer);"
        "CREATE TABLE rep_seats ("
        "  tenant TEXT NOT NULL, subscription TEXT NOT NULL, user TEXT NOT NULL,"
        "  grp TEXT NOT NULL, PRIMARY KEY (tenant, subscription, user)) WITHOUT ROWID;"
        "CREATE INDEX rep_seats_by_user ON rep_seats (tenant, user);"
        "CREATE TABLE rep_users ("
        "  tenant TEXT NOT NULL, id TEXT NOT NULL, org TEXT NOT NULL, customer TEXT NOT NULL,"
        "  name TEXT NOT NULL, email TEXT NOT NULL, deleted INTEGER NOT NULL DEFAULT 0,"
        "  released INTEGER NOT NULL DEFAULT 0, purged INTEGER NOT NULL DEFAULT 0,"
        "  PRIMARY KEY (tenant, id)) WITHOUT ROWID;"
        "CREATE INDEX rep_users_by_customer ON rep_users (tenant, customer);"
        "CREATE TABLE rep_usage_counts ("
        "  tenant TEXT NOT NULL, customer TEXT NOT NULL, released INTEGER NOT NULL DEFAULT 0,"
        "  retaken INTEGER NOT NULL DEFAULT 0, purged INTEGER NOT NULL DEFAULT 0,"
        "  PRIMARY KEY (tenant, customer)) WITHOUT ROWID;"
        "CREATE TABLE rep_devices ("
        "  tenant TEXT NOT NULL, id TEXT NOT NULL, org TEXT NOT NULL, customer TEXT NOT NULL,"
        "  kind TEXT NOT NULL, hostname TEXT NOT NULL, user TEXT,"
        "  installed INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (tenant, id)) WITHOUT ROWID;"
        "CREATE INDEX rep_devices_by_customer ON rep_devices (tenant, customer, user);"
        /* Heartbeats coalesced: one row per device and calendar month, the last signal. */
        "CREATE TABLE rep_activity ("
        "  tenant TEXT NOT NULL, month TEXT NOT NULL, device TEXT NOT NULL,"
        "  last_ms INTEGER NOT NULL, PRIMARY KEY (tenant, month, device)) WITHOUT ROWID;"
        "CREATE TABLE rep_progress ("
        "  domain TEXT PRIMARY KEY, newest_ms INTEGER NOT NULL, applied_wall_ms INTEGER NOT NULL,"
        "  lag_ms INTEGER NOT NULL, max_lag_ms INTEGER NOT NULL, events INTEGER NOT NULL)"
        "  WITHOUT ROWID;"
        "CREATE TABLE rep_exports ("
        "  id TEXT PRIMARY KEY, tenant TEXT NOT NULL, org TEXT NOT NULL, report TEXT NOT NULL,"
        "  format TEXT NOT NULL, bytes INTEGER NOT NULL, chunks INTEGER NOT NULL,"
        "  rows INTEGER NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL)"
        "  WITHOUT ROWID;"
        "CREATE INDEX rep_exports_by_expiry ON rep_exports (expires_ms);"},
    /*
     * The overview without a scan per request (docs/performance.md): counts
     * per scope maintained as events arrive. A migration runs before the
     * runtime's lb_org exists on a new database, so it reads only reporting's
     * own tables; subscriptions get their scope path from the sweep
     * (rep_store_subscriptions_repair).
     */
    {2, /* Every org each license is assigned to: moves recompute the shown-under choice. */
     "CREATE TABLE rep_assigned ("
     "  tenant TEXT NOT NULL, license TEXT NOT NULL, org TEXT NOT NULL,"
     "  PRIMARY KEY (tenant, license, org)) WITHOUT ROWID;"
     "CREATE INDEX rep_assigned_by_org ON rep_assigned (tenant, org);"
     "INSERT INTO rep_assigned (tenant, license, org) "
     "  SELECT DISTINCT tenant, license, org FROM rep_shown;"
     /* Each license once under every ancestor-or-self scope of the orgs it is shown under. */
     "CREATE TABLE rep_overview ("
     "  tenant TEXT NOT NULL, scope_path TEXT NOT NULL, product TEXT NOT NULL,"
     "  delivery TEXT NOT NULL, expires_ms INTEGER NOT NULL, licenses INTEGER NOT NULL,"
     "  deployed INTEGER NOT NULL, lim INTEGER NOT NULL, scans_used INTEGER NOT NULL,"
     "  PRIMARY KEY (tenant, scope_path, product, delivery, expires_ms)) WITHOUT ROWID;"
     "INSERT INTO rep_overview (tenant, scope_path, product, delivery, expires_ms, licenses,"
     "  deployed, lim, scans_used) "
     "WITH RECURSIVE cut (tenant, license, path, pos) AS ("
     "  SELECT tenant, license, org_path, instr(substr(org_path, 2), '/') + 1 FROM rep_shown"
     "  UNION SELECT tenant, license, path, pos + instr(substr(path, pos + 1), '/') FROM cut"
     "  WHERE instr(substr(path, pos + 1), '/') > 0),"
     " scopes AS (SELECT DISTINCT tenant, license, substr(path, 1, pos) AS scope FROM cut),"
     " one AS (SELECT tenant, license, product, delivery, expires_ms, deployed, lim,"
     "  scans_used FROM rep_shown GROUP BY tenant, license) "
     "SELECT c.tenant, c.scope, o.product, o.delivery, o.expires_ms, COUNT(*), SUM(o.deployed),"
     "  SUM(o.lim), SUM(o.scans_used) FROM scopes c JOIN one o ON o.tenant = c.tenant"
     "  AND o.license = c.license GROUP BY 1, 2, 3, 4, 5;"
     /* The soonest expirations of a scope: one index range per expiration day. */
     "CREATE INDEX rep_shown_by_expiry ON rep_shown (tenant, expires_ms, org_path);"
     /* Subscriptions: seats counted as they come, the customer's path as scope. */
     "ALTER TABLE rep_subscriptions ADD COLUMN seats INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE rep_subscriptions ADD COLUMN customer_path TEXT;"
     "UPDATE rep_subscriptions SET seats = (SELECT COUNT(*) FROM rep_seats e"
     "  WHERE e.tenant = rep_subscriptions.tenant AND e.subscription = rep_subscriptions.id);"
     "CREATE INDEX rep_subscriptions_unplaced ON rep_subscriptions (tenant, id)"
     "  WHERE customer_path IS NULL;"
     "CREATE INDEX rep_subscriptions_by_over ON rep_subscriptions"
     "  (tenant, seats - quantity DESC, customer, id, customer_path) WHERE status != 'cancelled';"
     "CREATE INDEX rep_subscriptions_trials ON rep_subscriptions"
     "  (tenant, trial_end_ms, customer, id, customer_path) WHERE status = 'in_trial';"
     /* Subscriptions not cancelled, once under every ancestor-or-self of their customer. */
     "CREATE TABLE rep_seat_totals ("
     "  tenant TEXT NOT NULL, scope_path TEXT NOT NULL, package TEXT NOT NULL,"
     "  subscriptions INTEGER NOT NULL, purchased INTEGER NOT NULL, consumed INTEGER NOT NULL,"
     "  PRIMARY KEY (tenant, scope_path, package)) WITHOUT ROWID;"},
};
const size_t rep_migration_count = sizeof(rep_migrations) / sizeof(rep_migrations[0]);

/* ---- helpers ---- */

static void bind_text(sqlite3_stmt *st, int i, const char *text)
{
    if (text == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
}

static void bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
    if (ms == REP_NO_TIME)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, ms);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t != NULL ? (const char *)t : "";
}

static enum lb_err step_failed(struct store *s, sqlite3_stmt *st, int rc, const char *what,
                               struct lb_why *why)
{
    sqlite3_reset(st);
    return lb_fail(why, store_err(rc), "%s: %s", what, sqlite3_errmsg(store_db(s)));
}

static bool add_time(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    char text[32];

    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return cJSON_AddNullToObject(o, name) != NULL;
    envelope_format_time(sqlite3_column_int64(st, col), text);
    return cJSON_AddStringToObject(o, name, text) != NULL;
}

static bool add_date(cJSON *o, const char *name, int64_t ms)
{
    char text[16];

    rep_date_format(ms, text);
    return cJSON_AddStringToObject(o, name, text) != NULL;
}

/* The end of a subtree's path range: "/a/b/" -> "/a/b0" ('0' follows '/'). */
static void range_end(const char *path, char *ret, size_t size)
{
    size_t n = strlen(path);

    (void)snprintf(ret, size, "%s", path);
    if (n > 0 && n < size)
        ret[n - 1] = '0';
}

/* ---- applying events ---- */

enum lb_err rep_store_product_put(struct store *s, const char *id, const char *name,
                                  const char *delivery, bool shown, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_products (id, name, delivery, shown) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, delivery = excluded.delivery, "
        "shown = excluded.shown";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, id);
    bind_text(st, 2, name);
    bind_text(st, 3, delivery);
    sqlite3_bind_int(st, 4, shown);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_license_put(struct store *s, const char *tenant, const struct rep_license *l,
                                  bool *ret_applied, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_licenses (tenant, id, key, product, version) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, id) DO UPDATE SET key = excluded.key, product = excluded.product, "
        "version = excluded.version WHERE excluded.version >= rep_licenses.version";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    enum lb_err err;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, l->id);
    bind_text(st, 3, l->key);
    bind_text(st, 4, l->product);
    sqlite3_bind_int64(st, 5, l->version);
    err = store_step_done(s, st, why);
    if (err == LB_OK)
        *ret_applied = sqlite3_changes(store_db(s)) > 0;
    return err;
}

enum lb_err rep_store_org_path(struct store *s, const char *tenant, const char *org, char *ret_path,
                               size_t size, struct lb_why *why)
{
    static const char sql[] = "SELECT path FROM lb_org WHERE tenant = ? AND id = ?";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, org);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && (size_t)snprintf(ret_path, size, "%s", col_text(st, 0)) >= size) {
        sqlite3_reset(st);
        return lb_fail(why, LB_ETOOBIG, "org %s: its path is longer than %zu bytes", org, size - 1);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "org %s is not known in tenant %s", org, tenant);
    if (rc != SQLITE_ROW)
        return lb_fail(why, store_err(rc), "reading org: %s", sqlite3_errmsg(store_db(s)));
    return LB_OK;
}

enum lb_err rep_store_customer_of(struct store *s, const char *tenant, const char *org,
                                  char ret_customer[REP_ORG_MAX + 1], struct lb_why *why)
{
    /* The deepest customer at or above the org: one index lookup per level, deepest first. */
    static const char sql[] = "SELECT id FROM lb_org INDEXED BY lb_org_by_path "
                              "WHERE tenant = ? AND path = ? AND kind = 3";
    char path[REP_PATH_SIZE];
    enum lb_err err = rep_store_org_path(s, tenant, org, path, sizeof(path), why);

    if (err != LB_OK)
        return err;
    ret_customer[0] = '\0';
    for (size_t len = strlen(path); len > 1 && ret_customer[0] == '\0'; len--) {
        sqlite3_stmt *st;
        int rc;

        if (path[len - 1] != '/')
            continue;
        st = store_stmt(s, sql, why);
        if (st == NULL)
            return LB_EINTERNAL;
        bind_text(st, 1, tenant);
        sqlite3_bind_text(st, 2, path, (int)len, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            (void)snprintf(ret_customer, REP_ORG_MAX + 1, "%s", col_text(st, 0));
        sqlite3_reset(st);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return lb_fail(why, store_err(rc), "finding customer: %s", sqlite3_errmsg(store_db(s)));
    }
    return LB_OK;
}

/* ---- the overview's counts: rep_overview (licenses), rep_seat_totals (subscriptions) ---- */

/*
 * A license as the overview counts it: its values under the orgs it is shown
 * under. `part.paths` point into `paths`: never copy one by value.
 */
struct license_part {
    struct rep_part part; /* v: 1, deployed, lim, scans_used */
    char paths[REP_LICENSE_ORGS_MAX][REP_PATH_SIZE];
    char product[REP_PRODUCT_MAX + 1];
    char delivery[16];
    int64_t expires_ms;
};

/* What overview_add changes: the old and new key of one license. */
struct license_change {
    struct store *s;
    const char *tenant;
    const struct license_part *from, *to;
};

static enum lb_err overview_add(void *arg, const char *scope, size_t len, bool new_key,
                                const int64_t d[REP_PART_VALUES], struct lb_why *why)
{
    static const char add[] =
        "INSERT INTO rep_overview (tenant, scope_path, product, delivery, expires_ms, licenses, "
        "deployed, lim, scans_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
        "ON CONFLICT (tenant, scope_path, product, delivery, expires_ms) DO UPDATE SET "
        "licenses = licenses + ?6, deployed = deployed + ?7, lim = lim + ?8, "
        "scans_used = scans_used + ?9";
    static const char drop[] =
        "DELETE FROM rep_overview WHERE tenant = ?1 AND scope_path = ?2 AND product = ?3 "
        "AND delivery = ?4 AND expires_ms = ?5 AND licenses <= 0";
    const struct license_change *c = arg;
    const struct license_part *key = new_key ? c->to : c->from;
    enum lb_err err = LB_OK;

    /* A license leaving the scope may leave an empty row: drop it (the second pass). */
    for (int pass = 0; err == LB_OK && pass < (d[0] < 0 ? 2 : 1); pass++) {
        sqlite3_stmt *st = store_stmt(c->s, pass == 0 ? add : drop, why);

        if (st == NULL)
            return LB_EINTERNAL;
        bind_text(st, 1, c->tenant);
        sqlite3_bind_text(st, 2, scope, (int)len, SQLITE_TRANSIENT);
        bind_text(st, 3, key->product);
        bind_text(st, 4, key->delivery);
        sqlite3_bind_int64(st, 5, key->expires_ms);
        for (int k = 0; pass == 0 && k < REP_PART_VALUES; k++)
            sqlite3_bind_int64(st, 6 + k, d[k]);
        err = store_step_done(c->s, st, why);
    }
    return err;
}

/* The license's contribution as stored: the rows it is shown under now (none: npaths 0). */
static enum lb_err license_part_read(struct store *s, const char *tenant, const char *license,
                                     struct license_part *ret, struct lb_why *why)
{
    static const char sql[] = "SELECT org_path, product, delivery, expires_ms, deployed, lim, "
                              "scans_used FROM rep_shown INDEXED BY rep_shown_by_license "
                              "WHERE tenant = ? AND license = ?";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    int rc;

    memset(ret, 0, sizeof(*ret));
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, license);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && ret->part.npaths < REP_LICENSE_ORGS_MAX) {
        size_t i = ret->part.npaths++;

        (void)snprintf(ret->paths[i], sizeof(ret->paths[i]), "%s", col_text(st, 0));
        ret->part.paths[i] = ret->paths[i];
        (void)snprintf(ret->product, sizeof(ret->product), "%s", col_text(st, 1));
        (void)snprintf(ret->delivery, sizeof(ret->delivery), "%s", col_text(st, 2));
        ret->expires_ms = sqlite3_column_int64(st, 3);
        ret->part.v[0] = 1;
        ret->part.v[1] = sqlite3_column_int64(st, 4);
        ret->part.v[2] = sqlite3_column_int64(st, 5);
        ret->part.v[3] = sqlite3_column_int64(st, 6);
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return step_failed(s, st, rc, "reading where a license is shown", why);
    sqlite3_reset(st);
    return LB_OK;
}

/* Whether the part holds `path`. */
static bool part_has(const struct rep_part *p, const char *path)
{
    for (size_t i = 0; i < p->npaths; i++) {
        if (strcmp(p->paths[i], path) == 0)
            return true;
    }
    return false;
}

/* rep_assigned := the license's orgs (written only when they changed). */
static enum lb_err assigned_put(struct store *s, const char *tenant, const struct rep_license *l,
                                struct lb_why *why)
{
    static const char sel[] = "SELECT org FROM rep_assigned WHERE tenant = ? AND license = ?";
    static const char del[] = "DELETE FROM rep_assigned WHERE tenant = ? AND license = ?";
    static const char ins[] =
        "INSERT OR IGNORE INTO rep_assigned (tenant, license, org) VALUES (?, ?, ?)";
    sqlite3_stmt *st = store_stmt(s, sel, why);
    size_t distinct = 0, stored = 0;
    bool same = true;
    enum lb_err err;
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    for (size_t i = 0; i < l->org_count; i++) {
        bool again = false;

        for (size_t j = 0; j < i && !again; j++)
            again = strcmp(l->orgs[i], l->orgs[j]) == 0;
        distinct += !again;
    }
    bind_text(st, 1, tenant);
    bind_text(st, 2, l->id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool known = false;

        for (size_t i = 0; i < l->org_count && !known; i++)
            known = strcmp(l->orgs[i], col_text(st, 0)) == 0;
        same = same && known;
        stored++;
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "reading assigned orgs", why);
    sqlite3_reset(st);
    if (same && stored == distinct)
        return LB_OK;
    st = store_stmt(s, del, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, l->id);
    err = store_step_done(s, st, why);
    for (size_t i = 0; err == LB_OK && i < l->org_count; i++) {
        st = store_stmt(s, ins, why);
        if (st == NULL)
            return LB_EINTERNAL;
        bind_text(st, 1, tenant);
        bind_text(st, 2, l->id);
        bind_text(st, 3, l->orgs[i]);
        err = store_step_done(s, st, why);
    }
    return err;
}

/* Binds the snapshot's values to ?3..?12 of the statements below. */
static void bind_license_values(sqlite3_stmt *st, const struct rep_license *l)
{
    bind_text(st, 3, l->key);
    bind_text(st, 4, l->product);
    bind_text(st, 5, l->delivery);
    bind_text(st, 6, l->type);
    sqlite3_bind_int64(st, 7, l->start_ms);
    sqlite3_bind_int64(st, 8, l->expires_ms);
    sqlite3_bind_int64(st, 9, l->limit);
    sqlite3_bind_int64(st, 10, l->deployed);
    sqlite3_bind_int64(st, 11, l->scans_used);
    bind_text(st, 12, l->note);
}

/* Writes the rows of `to` for the license, in place of those of `from`. */
static enum lb_err shown_put(struct store *s, const char *tenant, const struct rep_license *l,
                             const struct license_part *from, const struct license_part *to,
                             const char *const *to_orgs, struct lb_why *why)
{
    static const char upd[] =
        "UPDATE rep_shown SET key = ?3, product = ?4, delivery = ?5, type = ?6, start_ms = ?7, "
        "expires_ms = ?8, lim = ?9, deployed = ?10, scans_used = ?11, note = ?12 "
        "WHERE tenant = ?1 AND license = ?2";
    static const char del[] = "DELETE FROM rep_shown WHERE tenant = ?1 AND license = ?2";
    static const char ins[] =
        "INSERT OR REPLACE INTO rep_shown (tenant, license, key, product, delivery, type, "
        "start_ms, expires_ms, lim, deployed, scans_used, note, org_path, org) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    bool same_rows = from->part.npaths > 0;
    sqlite3_stmt *st;
    enum lb_err err;

    for (size_t i = 0; same_rows && i < from->part.npaths; i++)
        same_rows = part_has(&to->part, from->paths[i]);
    for (size_t i = 0; same_rows && i < to->part.npaths; i++)
        same_rows = part_has(&from->part, to->paths[i]);
    /* Shown where it was (most changes: deployments, notes, renewals): one update. */
    st = store_stmt(s, same_rows ? upd : del, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, l->id);
    if (same_rows)
        bind_license_values(st, l);
    err = store_step_done(s, st, why);
    for (size_t i = 0; !same_rows && err == LB_OK && i < to->part.npaths; i++) {
        st = store_stmt(s, ins, why);
        if (st == NULL)
            return LB_EINTERNAL;
        bind_text(st, 1, tenant);
        bind_text(st, 2, l->id);
        bind_license_values(st, l);
        bind_text(st, 13, to->paths[i]);
        bind_text(st, 14, to_orgs[i]);
        err = store_step_done(s, st, why);
    }
    return err;
}

enum lb_err rep_store_license_place(struct store *s, const char *tenant,
                                    const struct rep_license *l, struct lb_why *why)
{
    char paths[REP_LICENSE_ORGS_MAX][REP_PATH_SIZE];
    const char *to_orgs[REP_LICENSE_ORGS_MAX] = {0};
    struct license_part from, to;
    struct license_change change = {s, tenant, &from, &to};
    bool same_key;
    enum lb_err err;

    for (size_t i = 0; i < l->org_count; i++) {
        err = rep_store_org_path(s, tenant, l->orgs[i], paths[i], sizeof(paths[i]), why);
        /* Streams are read in parallel: the org may come later. Retry then. */
        if (err == LB_ENOTFOUND)
            return lb_fail(why, LB_EUNAVAILABLE, "license %s: org %s is not known yet", l->id,
                           l->orgs[i]);
        if (err != LB_OK)
            return err;
    }
    memset(&to, 0, sizeof(to));
    (void)snprintf(to.product, sizeof(to.product), "%s", l->product);
    (void)snprintf(to.delivery, sizeof(to.delivery), "%s", l->delivery);
    to.expires_ms = l->expires_ms;
    to.part.v[0] = 1;
    to.part.v[1] = l->deployed;
    to.part.v[2] = l->limit;
    to.part.v[3] = l->scans_used;
    for (size_t i = 0; i < l->org_count; i++) {
        bool below = false;

        /* Shown only where no other assigned org lies below this one (and once per org). */
        for (size_t j = 0; j < l->org_count && !below; j++)
            below = j != i && strlen(paths[j]) > strlen(paths[i]) &&
                    strncmp(paths[j], paths[i], strlen(paths[i])) == 0;
        if (below || part_has(&to.part, paths[i]))
            continue;
        (void)snprintf(to.paths[to.part.npaths], REP_PATH_SIZE, "%s", paths[i]);
        to.part.paths[to.part.npaths] = to.paths[to.part.npaths];
        to_orgs[to.part.npaths++] = l->orgs[i];
    }
    err = license_part_read(s, tenant, l->id, &from, why);
    if (err == LB_OK)
        err = shown_put(s, tenant, l, &from, &to, to_orgs, why);
    same_key = strcmp(from.product, to.product) == 0 && strcmp(from.delivery, to.delivery) == 0 &&
               from.expires_ms == to.expires_ms;
    if (err == LB_OK)
        err = rep_part_diff(&from.part, &to.part, same_key, overview_add, &change, why);
    return err == LB_OK ? assigned_put(s, tenant, l, why) : err;
}

/* The license as stored, to place again (values from rep_shown, orgs from rep_assigned). */
static enum lb_err license_load(struct store *s, const char *tenant, const char *id,
                                struct rep_license *ret, struct lb_why *why)
{
    static const char values[] =
        "SELECT key, product, delivery, type, start_ms, expires_ms, lim, deployed, scans_used, "
        "note FROM rep_shown INDEXED BY rep_shown_by_license WHERE tenant = ? AND license = ? "
        "LIMIT 1";
    static const char orgs[] =
        "SELECT org FROM rep_assigned WHERE tenant = ? AND license = ? ORDER BY org";
    sqlite3_stmt *st = store_stmt(s, values, why);
    int rc;

    memset(ret, 0, sizeof(*ret));
    if (st == NULL)
        return LB_EINTERNAL;
    (void)snprintf(ret->id, sizeof(ret->id), "%s", id);
    bind_text(st, 1, tenant);
    bind_text(st, 2, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        (void)snprintf(ret->key, sizeof(ret->key), "%s", col_text(st, 0));
        (void)snprintf(ret->product, sizeof(ret->product), "%s", col_text(st, 1));
        (void)snprintf(ret->delivery, sizeof(ret->delivery), "%s", col_text(st, 2));
        (void)snprintf(ret->type, sizeof(ret->type), "%s", col_text(st, 3));
        ret->start_ms = sqlite3_column_int64(st, 4);
        ret->expires_ms = sqlite3_column_int64(st, 5);
        ret->limit = sqlite3_column_int64(st, 6);
        ret->deployed = sqlite3_column_int64(st, 7);
        ret->scans_used = sqlite3_column_int64(st, 8);
        (void)snprintf(ret->note, sizeof(ret->note), "%s", col_text(st, 9));
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "license %s is shown nowhere", id);
    if (rc != SQLITE_ROW)
        return lb_fail(why, store_err(rc), "reading license: %s", sqlite3_errmsg(store_db(s)));
    st = store_stmt(s, orgs, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, id);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && ret->org_count < REP_LICENSE_ORGS_MAX)
        (void)snprintf(ret->orgs[ret->org_count++], REP_ORG_MAX + 1, "%s", col_text(st, 0));
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return step_failed(s, st, rc, "reading assigned orgs", why);
    sqlite3_reset(st);
    return LB_OK;
}

/* A subscription as the seat totals count it (nothing while cancelled or not placed). */
struct sub_part {
    struct rep_part part; /* v: 1, quantity, seats; paths[0] points at `path` */
    char path[REP_PATH_SIZE];
    char package[REP_PRODUCT_MAX + 1];
};

struct sub_change {
    struct store *s;
    const char *tenant;
    const struct sub_part *from, *to;
};

static enum lb_err totals_add(void *arg, const char *scope, size_t len, bool new_key,
                              const int64_t d[REP_PART_VALUES], struct lb_why *why)
{
    static const char add[] =
        "INSERT INTO rep_seat_totals (tenant, scope_path, package, subscriptions, purchased, "
        "consumed) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (tenant, scope_path, package) "
        "DO UPDATE SET subscriptions = subscriptions + ?4, purchased = purchased + ?5, "
        "consumed = consumed + ?6";
    static const char drop[] = "DELETE FROM rep_seat_totals WHERE tenant = ?1 AND scope_path = ?2 "
                               "AND package = ?3 AND subscriptions <= 0";
    const struct sub_change *c = arg;
    const struct sub_part *key = new_key ? c->to : c->from;
    enum lb_err err = LB_OK;

    for (int pass = 0; err == LB_OK && pass < (d[0] < 0 ? 2 : 1); pass++) {
        sqlite3_stmt *st = store_stmt(c->s, pass == 0 ? add : drop, why);

        if (st == NULL)
            return LB_EINTERNAL;
        bind_text(st, 1, c->tenant);
        sqlite3_bind_text(st, 2, scope, (int)len, SQLITE_TRANSIENT);
        bind_text(st, 3, key->package);
        for (int k = 0; pass == 0 && k < 3; k++)
            sqlite3_bind_int64(st, 4 + k, d[k]);
        err = store_step_done(c->s, st, why);
    }
    return err;
}

static enum lb_err sub_part_read(struct store *s, const char *tenant, const char *id,
                                 struct sub_part *ret, struct lb_why *why)
{
    static const char sql[] = "SELECT package, status, quantity, seats, customer_path "
                              "FROM rep_subscriptions WHERE tenant = ? AND id = ?";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    int rc;

    memset(ret, 0, sizeof(*ret));
    ret->part.paths[0] = ret->path;
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && strcmp(col_text(st, 1), "cancelled") != 0 &&
        sqlite3_column_type(st, 4) != SQLITE_NULL) {
        (void)snprintf(ret->package, sizeof(ret->package), "%s", col_text(st, 0));
        (void)snprintf(ret->path, sizeof(ret->path), "%s", col_text(st, 4));
        ret->part.npaths = 1;
        ret->part.v[0] = 1;
        ret->part.v[1] = sqlite3_column_int64(st, 2);
        ret->part.v[2] = sqlite3_column_int64(st, 3);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return lb_fail(why, store_err(rc), "reading subscription: %s", sqlite3_errmsg(store_db(s)));
    return LB_OK;
}

/* Moves the seat totals from what `from` counted to what the subscription counts now. */
static enum lb_err totals_follow(struct store *s, const char *tenant, const char *id,
                                 const struct sub_part *from, struct lb_why *why)
{
    struct sub_part to;
    struct sub_change change = {s, tenant, from, &to};
    enum lb_err err = sub_part_read(s, tenant, id, &to, why);

    if (err != LB_OK)
        return err;
    return rep_part_diff(&from->part, &to.part, strcmp(from->package, to.package) == 0, totals_add,
                         &change, why);
}

enum lb_err rep_store_org_moved(struct store *s, const char *tenant, const char *org,
                                struct lb_why *why)
{
    /* What was assigned or subscribed under the moved subtree (the tree has moved already). */
    static const char licenses[] =
        "SELECT DISTINCT license FROM rep_assigned INDEXED BY rep_assigned_by_org "
        "WHERE tenant = ?1 AND org IN "
        "(SELECT id FROM lb_org WHERE tenant = ?1 AND path >= ?2 AND path < ?3) ORDER BY license";
    static const char subs[] =
        "SELECT id FROM rep_subscriptions INDEXED BY rep_subscriptions_by_customer "
        "WHERE tenant = ?1 AND customer IN "
        "(SELECT id FROM lb_org WHERE tenant = ?1 AND path >= ?2 AND path < ?3) ORDER BY id";
    static const char repath[] =
        "UPDATE rep_subscriptions SET customer_path = (SELECT o.path FROM lb_org o "
        "WHERE o.tenant = rep_subscriptions.tenant AND o.id = rep_subscriptions.customer) "
        "WHERE tenant = ? AND id = ?";
    char path[REP_PATH_SIZE];
    char hi[REP_PATH_SIZE];
    char(*ids)[REP_ENTITY_MAX + 1] = NULL;
    size_t n = 0, size = 0;
    enum lb_err err = rep_store_org_path(s, tenant, org, path, sizeof(path), why);

    range_end(path, hi, sizeof(hi));
    for (int kind = 0; err == LB_OK && kind < 2; kind++) {
        sqlite3_stmt *st = store_stmt(s, kind == 0 ? licenses : subs, why);
        int rc;

        if (st == NULL) {
            err = LB_EINTERNAL;
            break;
        }
        n = 0;
        bind_text(st, 1, tenant);
        bind_text(st, 2, path);
        bind_text(st, 3, hi);
        /* Collected first: placing writes the tables this reads. */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (n == size) {
                size_t bigger = size ? 2 * size : 64;
                void *more = realloc(ids, bigger * sizeof(*ids));

                if (more == NULL) {
                    sqlite3_reset(st);
                    free(ids);
                    return lb_fail(why, LB_ENOMEM, "out of memory");
                }
                ids = more;
                size = bigger;
            }
            (void)snprintf(ids[n++], REP_ENTITY_MAX + 1, "%s", col_text(st, 0));
        }
        if (rc != SQLITE_DONE)
            err = step_failed(s, st, rc, "listing what an org move touches", why);
        else
            sqlite3_reset(st);
        for (size_t i = 0; err == LB_OK && i < n; i++) {
            if (kind == 0) {
                /* The shown-under choice and every count above it, from the new tree. */
                struct rep_license l;

                err = license_load(s, tenant, ids[i], &l, why);
                if (err == LB_OK)
                    err = rep_store_license_place(s, tenant, &l, why);
                else if (err == LB_ENOTFOUND)
                    err = LB_OK; /* assigned, shown nowhere: nothing to move */
            } else {
                struct sub_part from;

                err = sub_part_read(s, tenant, ids[i], &from, why);
                st = err == LB_OK ? store_stmt(s, repath, why) : NULL;
                if (err == LB_OK && st == NULL)
                    err = LB_EINTERNAL;
                if (err == LB_OK) {
                    bind_text(st, 1, tenant);
                    bind_text(st, 2, ids[i]);
                    err = store_step_done(s, st, why);
                }
                if (err == LB_OK)
                    err = totals_follow(s, tenant, ids[i], &from, why);
            }
        }
    }
    free(ids);
    return err;
}

enum lb_err rep_store_subscriptions_repair(struct store *s, size_t max, size_t *ret_placed,
                                           struct lb_why *why)
{
    static const char sel[] =
        "SELECT tenant, id FROM rep_subscriptions WHERE customer_path IS NULL LIMIT ?";
    static const char place[] =
        "UPDATE rep_subscriptions SET customer_path = (SELECT o.path FROM lb_org o "
        "WHERE o.tenant = rep_subscriptions.tenant AND o.id = rep_subscriptions.customer) "
        "WHERE tenant = ?1 AND id = ?2 AND customer_path IS NULL AND EXISTS (SELECT 1 "
        "FROM lb_org o WHERE o.tenant = ?1 AND o.id = rep_subscriptions.customer)";
    char(*keys)[2][REP_ENTITY_MAX + 1] = NULL;
    sqlite3_stmt *st = store_stmt(s, sel, why);
    size_t n = 0;
    enum lb_err err = LB_OK;
    int rc;

    *ret_placed = 0;
    if (st == NULL)
        return LB_EINTERNAL;
    keys = calloc(max > 0 ? max : 1, sizeof(*keys));
    if (keys == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    sqlite3_bind_int64(st, 1, (int64_t)max);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < max) {
        (void)snprintf(keys[n][0], REP_ENTITY_MAX + 1, "%s", col_text(st, 0));
        (void)snprintf(keys[n][1], REP_ENTITY_MAX + 1, "%s", col_text(st, 1));
        n++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        err = step_failed(s, st, rc, "listing subscriptions without a scope", why);
    else
        sqlite3_reset(st);
    for (size_t i = 0; err == LB_OK && i < n; i++) {
        struct sub_part none;

        memset(&none, 0, sizeof(none));
        st = store_stmt(s, place, why);
        if (st == NULL) {
            err = LB_EINTERNAL;
            break;
        }
        bind_text(st, 1, keys[i][0]);
        bind_text(st, 2, keys[i][1]);
        err = store_step_done(s, st, why);
        /* A customer the tree does not know (yet) stays unplaced, and uncounted. */
        if (err == LB_OK && sqlite3_changes(store_db(s)) > 0) {
            err = totals_follow(s, keys[i][0], keys[i][1], &none, why);
            *ret_placed += err == LB_OK;
        }
    }
    free(keys);
    return err;
}

enum lb_err rep_store_history_add(struct store *s, const char *tenant, const char *license,
                                  int64_t time_ms, const char *event_id, const char *change,
                                  const char *actor_org, const char *actor_user, int64_t version,
                                  const char *before, const char *after, struct lb_why *why)
{
    static const char sql[] =
        "INSERT OR IGNORE INTO rep_history (tenant, license, time_ms, event_id, change, "
        "actor_org, actor_user, version, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, license);
    sqlite3_bind_int64(st, 3, time_ms);
    bind_text(st, 4, event_id);
    bind_text(st, 5, change);
    bind_text(st, 6, actor_org);
    bind_text(st, 7, actor_user);
    sqlite3_bind_int64(st, 8, version);
    bind_text(st, 9, before);
    bind_text(st, 10, after);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_deployment_put(struct store *s, const char *tenant, const char *license,
                                     const char *instance, const char *host,
                                     const char *product_version, int64_t activated_ms,
                                     int64_t last_seen_ms, bool active, int64_t version,
                                     struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_deployments (tenant, license, instance, host, product_version, "
        "activated_ms, last_seen_ms, active, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, license, instance) DO UPDATE SET host = excluded.host, "
        "product_version = excluded.product_version, "
        "activated_ms = COALESCE(excluded.activated_ms, rep_deployments.activated_ms), "
        "last_seen_ms = COALESCE(excluded.last_seen_ms, rep_deployments.last_seen_ms), "
        "active = excluded.active, version = excluded.version "
        "WHERE excluded.version >= rep_deployments.version";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, license);
    bind_text(st, 3, instance);
    bind_text(st, 4, host != NULL ? host : "");
    bind_text(st, 5, product_version != NULL ? product_version : "");
    bind_time(st, 6, activated_ms);
    bind_time(st, 7, last_seen_ms);
    sqlite3_bind_int(st, 8, active);
    sqlite3_bind_int64(st, 9, version);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_subscription_put(struct store *s, const char *tenant,
                                       const struct rep_subscription *sub, struct lb_why *why)
{
    /* A new row counts the seats that came before it (none, in the stream's order). */
    static const char sql[] =
        "INSERT INTO rep_subscriptions (tenant, id, customer, package, seat_basis, status, "
        "quantity, trial_end_ms, billing_start_ms, billing_end_ms, version, customer_path, seats) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, (SELECT COUNT(*) FROM "
        "rep_seats e WHERE e.tenant = ?1 AND e.subscription = ?2)) "
        "ON CONFLICT (tenant, id) DO UPDATE SET "
        "customer = excluded.customer, package = excluded.package, "
        "seat_basis = excluded.seat_basis, status = excluded.status, "
        "quantity = excluded.quantity, trial_end_ms = excluded.trial_end_ms, "
        "billing_start_ms = excluded.billing_start_ms, billing_end_ms = excluded.billing_end_ms, "
        "version = excluded.version, customer_path = excluded.customer_path "
        "WHERE excluded.version >= rep_subscriptions.version";
    char path[REP_PATH_SIZE];
    struct sub_part from;
    sqlite3_stmt *st;
    enum lb_err err = rep_store_org_path(s, tenant, sub->customer, path, sizeof(path), why);

    /* Streams are read in parallel: the customer may come later. Retry then. */
    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_EUNAVAILABLE, "subscription %s: customer %s is not known yet",
                       sub->id, sub->customer);
    if (err == LB_OK)
        err = sub_part_read(s, tenant, sub->id, &from, why);
    if (err != LB_OK)
        return err;
    st = store_stmt(s, sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, sub->id);
    bind_text(st, 3, sub->customer);
    bind_text(st, 4, sub->package);
    bind_text(st, 5, sub->basis);
    bind_text(st, 6, sub->status);
    sqlite3_bind_int64(st, 7, sub->quantity);
    bind_time(st, 8, sub->trial_end_ms);
    bind_time(st, 9, sub->billing_start_ms);
    bind_time(st, 10, sub->billing_end_ms);
    sqlite3_bind_int64(st, 11, sub->version);
    bind_text(st, 12, path);
    err = store_step_done(s, st, why);
    if (err != LB_OK || sqlite3_changes(store_db(s)) == 0)
        return err; /* an older version: nothing changed */
    return totals_follow(s, tenant, sub->id, &from, why);
}

enum lb_err rep_store_seat(struct store *s, const char *tenant, const char *subscription,
                           const char *user, const char *group, bool assigned, struct lb_why *why)
{
    static const char ins[] = "INSERT OR IGNORE INTO rep_seats (tenant, subscription, user, grp) "
                              "VALUES (?1, ?2, ?3, ?4)";
    static const char regroup[] =
        "UPDATE rep_seats SET grp = ?4 WHERE tenant = ?1 AND subscription = ?2 AND user = ?3";
    static const char del[] =
        "DELETE FROM rep_seats WHERE tenant = ?1 AND subscription = ?2 AND user = ?3";
    static const char count[] =
        "UPDATE rep_subscriptions SET seats = seats + ?3 WHERE tenant = ?1 AND id = ?2";
    sqlite3_stmt *st = store_stmt(s, assigned ? ins : del, why);
    struct sub_part from;
    int64_t delta;
    enum lb_err err;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, subscription);
    bind_text(st, 3, user);
    if (assigned)
        bind_text(st, 4, group);
    err = store_step_done(s, st, why);
    if (err != LB_OK)
        return err;
    delta = sqlite3_changes(store_db(s)) > 0 ? (assigned ? 1 : -1) : 0;
    if (delta == 0 && assigned) {
        /* Held already: the group that granted it may have changed. */
        st = store_stmt(s, regroup, why);
        if (st == NULL)
            return LB_EINTERNAL;
        bind_text(st, 1, tenant);
        bind_text(st, 2, subscription);
        bind_text(st, 3, user);
        bind_text(st, 4, group);
        return store_step_done(s, st, why);
    }
    if (delta == 0)
        return LB_OK;
    err = sub_part_read(s, tenant, subscription, &from, why);
    st = err == LB_OK ? store_stmt(s, count, why) : NULL;
    if (err == LB_OK && st == NULL)
        return LB_EINTERNAL;
    if (err != LB_OK)
        return err;
    bind_text(st, 1, tenant);
    bind_text(st, 2, subscription);
    sqlite3_bind_int64(st, 3, delta);
    err = store_step_done(s, st, why);
    return err == LB_OK ? totals_follow(s, tenant, subscription, &from, why) : err;
}

enum lb_err rep_store_customer_put(struct store *s, const char *tenant, const char *customer,
                                   const char *status, bool login_enabled, const char *billing,
                                   int64_t version, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_customers (tenant, org, status, login_enabled, billing, version) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, org) DO UPDATE SET "
        "status = excluded.status, login_enabled = excluded.login_enabled, "
        "billing = excluded.billing, version = excluded.version "
        "WHERE excluded.version >= rep_customers.version";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, customer);
    bind_text(st, 3, status);
    sqlite3_bind_int(st, 4, login_enabled);
    bind_text(st, 5, billing);
    sqlite3_bind_int64(st, 6, version);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_user_put(struct store *s, const char *tenant, const char *user,
                               const char *org, const char *customer, const char *name,
                               const char *email, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_users (tenant, id, org, customer, name, email) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, id) DO UPDATE SET org = excluded.org, "
        "customer = excluded.customer, name = excluded.name, email = excluded.email";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, user);
    bind_text(st, 3, org);
    bind_text(st, 4, customer);
    bind_text(st, 5, name);
    bind_text(st, 6, email);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_user_update(struct store *s, const char *tenant, const char *user,
                                  const char *name, const char *email, struct lb_why *why)
{
    static const char sql[] = "UPDATE rep_users SET name = COALESCE(?, name), "
                              "email = COALESCE(?, email) WHERE tenant = ? AND id = ?";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, name);
    bind_text(st, 2, email);
    bind_text(st, 3, tenant);
    bind_text(st, 4, user);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_user_deleted(struct store *s, const char *tenant, const char *user,
                                   struct lb_why *why)
{
    static const char sql[] = "UPDATE rep_users SET deleted = 1 WHERE tenant = ? AND id = ?";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, user);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_user_usage(struct store *s, const char *tenant, const char *user,
                                 const char *customer, const char *what, int64_t time_ms,
                                 struct lb_why *why)
{
    static const char find[] = "SELECT customer FROM rep_users WHERE tenant = ? AND id = ?";
    static const char user_sql[] =
        "UPDATE rep_users SET released = CASE ?1 WHEN 'released' THEN 1 WHEN 'retaken' THEN 0 "
        "ELSE released END, purged = CASE ?1 WHEN 'purged' THEN 1 ELSE purged END "
        "WHERE tenant = ?2 AND id = ?3";
    static const char count_sql[] =
        "INSERT INTO rep_usage_counts (tenant, customer, released, retaken, purged) "
        "VALUES (?1, ?2, ?3 = 'released', ?3 = 'retaken', ?3 = 'purged') "
        "ON CONFLICT (tenant, customer) DO UPDATE SET "
        "released = released + (?3 = 'released'), retaken = retaken + (?3 = 'retaken'), "
        "purged = purged + (?3 = 'purged')";
    char found[REP_ORG_MAX + 1] = "";
    sqlite3_stmt *st;
    enum lb_err err;
    int rc;

    (void)time_ms;
    if (customer == NULL) {
        st = store_stmt(s, find, why);
        if (st == NULL)
            return LB_EINTERNAL;
        bind_text(st, 1, tenant);
        bind_text(st, 2, user);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            (void)snprintf(found, sizeof(found), "%s", col_text(st, 0));
        sqlite3_reset(st);
        if (rc == SQLITE_DONE)
            return lb_fail(why, LB_EUNAVAILABLE, "user %s is not known yet", user);
        if (rc != SQLITE_ROW)
            return lb_fail(why, store_err(rc), "reading user: %s", sqlite3_errmsg(store_db(s)));
        customer = found;
    }
    st = store_stmt(s, user_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, what);
    bind_text(st, 2, tenant);
    bind_text(st, 3, user);
    err = store_step_done(s, st, why);
    if (err != LB_OK)
        return err;
    st = store_stmt(s, count_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, customer);
    bind_text(st, 3, what);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_device_put(struct store *s, const char *tenant, const char *device,
                                 const char *org, const char *customer, const char *kind,
                                 const char *hostname, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_devices (tenant, id, org, customer, kind, hostname, installed) "
        "VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (tenant, id) DO UPDATE SET "
        "org = excluded.org, customer = excluded.customer, kind = excluded.kind, "
        "hostname = excluded.hostname, installed = 1";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, device);
    bind_text(st, 3, org);
    bind_text(st, 4, customer);
    bind_text(st, 5, kind);
    bind_text(st, 6, hostname);
    return store_step_done(s, st, why);
}

static enum lb_err device_changed(struct store *s, const char *device, struct lb_why *why)
{
    if (sqlite3_changes(store_db(s)) == 0)
        return lb_fail(why, LB_EUNAVAILABLE, "device %s is not known yet", device);
    return LB_OK;
}

enum lb_err rep_store_device_installed(struct store *s, const char *tenant, const char *device,
                                       bool installed, struct lb_why *why)
{
    static const char sql[] = "UPDATE rep_devices SET installed = ? WHERE tenant = ? AND id = ?";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    enum lb_err err;

    if (st == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int(st, 1, installed);
    bind_text(st, 2, tenant);
    bind_text(st, 3, device);
    err = store_step_done(s, st, why);
    return err == LB_OK ? device_changed(s, device, why) : err;
}

enum lb_err rep_store_device_user(struct store *s, const char *tenant, const char *device,
                                  const char *user, const char *detached_from, struct lb_why *why)
{
    static const char attach[] = "UPDATE rep_devices SET user = ? WHERE tenant = ? AND id = ?";
    static const char detach[] = "UPDATE rep_devices SET user = NULL WHERE tenant = ?1 AND id = ?2 "
                                 "AND (?3 IS NULL OR user IS ?3)";
    static const char exists[] = "SELECT 1 FROM rep_devices WHERE tenant = ? AND id = ?";
    sqlite3_stmt *st;
    enum lb_err err;
    int rc;

    if (user != NULL) {
        st = store_stmt(s, attach, why);
        if (st == NULL)
            return LB_EINTERNAL;
        bind_text(st, 1, user);
        bind_text(st, 2, tenant);
        bind_text(st, 3, device);
        err = store_step_done(s, st, why);
        return err == LB_OK ? device_changed(s, device, why) : err;
    }
    st = store_stmt(s, exists, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, device);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_EUNAVAILABLE, "device %s is not known yet", device);
    if (rc != SQLITE_ROW)
        return lb_fail(why, store_err(rc), "reading device: %s", sqlite3_errmsg(store_db(s)));
    st = store_stmt(s, detach, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, device);
    bind_text(st, 3, detached_from);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_signal(struct store *s, const char *tenant, const char *device,
                             int64_t time_ms, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_activity (tenant, month, device, last_ms) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant, month, device) DO UPDATE SET last_ms = excluded.last_ms "
        "WHERE excluded.last_ms > rep_activity.last_ms";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    char month[8];

    if (st == NULL)
        return LB_EINTERNAL;
    rep_month_of(time_ms, month);
    bind_text(st, 1, tenant);
    bind_text(st, 2, month);
    bind_text(st, 3, device);
    sqlite3_bind_int64(st, 4, time_ms);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_progress(struct store *s, const char *domain, int64_t event_ms,
                               int64_t wall_ms, int64_t events, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_progress (domain, newest_ms, applied_wall_ms, lag_ms, max_lag_ms, events) "
        "VALUES (?1, ?2, ?3, max(?3 - ?2, 0), max(?3 - ?2, 0), ?4) ON CONFLICT (domain) DO UPDATE "
        "SET newest_ms = max(newest_ms, ?2), applied_wall_ms = ?3, lag_ms = max(?3 - ?2, 0), "
        "max_lag_ms = max(max_lag_ms, ?3 - ?2), events = events + ?4";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, domain);
    sqlite3_bind_int64(st, 2, event_ms);
    sqlite3_bind_int64(st, 3, wall_ms);
    sqlite3_bind_int64(st, 4, events);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_progress_json(struct store *s, int64_t wall_ms, cJSON *into,
                                    struct lb_why *why)
{
    static const char sql[] = "SELECT domain, newest_ms, applied_wall_ms, lag_ms, max_lag_ms, "
                              "events FROM rep_progress ORDER BY domain";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        int64_t newest = sqlite3_column_int64(st, 1);

        if (o == NULL || !cJSON_AddItemToArray(into, o) ||
            !cJSON_AddStringToObject(o, "domain", col_text(st, 0)) ||
            !add_time(o, "newest_event", st, 1) || !add_time(o, "applied_at", st, 2) ||
            !cJSON_AddNumberToObject(o, "lag_ms", (double)sqlite3_column_int64(st, 3)) ||
            !cJSON_AddNumberToObject(o, "max_lag_ms", (double)sqlite3_column_int64(st, 4)) ||
            !cJSON_AddNumberToObject(o, "staleness_ms",
                                     (double)(wall_ms > newest ? wall_ms - newest : 0)) ||
            !cJSON_AddNumberToObject(o, "events", (double)sqlite3_column_int64(st, 5))) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "reading progress", why);
    sqlite3_reset(st);
    return LB_OK;
}

/* ---- queries ---- */

/* The filters customer_orgs applies to rep_shown r (parameters ?5-?11). */
#define LICENSE_STATUS                                                                             \
    "(CASE WHEN ?8 >= r.expires_ms THEN 'expired' WHEN ?8 >= r.expires_ms - ?10 "                  \
    "THEN 'expiring' ELSE 'active' END)"
#define LICENSE_FILTER                                                                             \
    " AND COALESCE(p.shown, 1) = 1 AND (?5 IS NULL OR r.product = ?5)"                             \
    " AND (?6 IS NULL OR r.type = ?6) AND (?7 OR ?9 = 'expired' OR r.expires_ms > ?8)"             \
    " AND (?9 IS NULL OR " LICENSE_STATUS " = ?9)"                                                 \
    " AND (?11 < 0 OR (r.expires_ms > ?8 AND r.expires_ms <= ?8 + ?11))"

static void bind_filter(sqlite3_stmt *st, const struct rep_scope *sc, const struct rep_filter *f)
{
    bind_text(st, 5, f->product);
    bind_text(st, 6, f->type);
    sqlite3_bind_int(st, 7, f->include_expired);
    sqlite3_bind_int64(st, 8, sc->now_ms);
    bind_text(st, 9, f->status);
    sqlite3_bind_int64(st, 10, sc->window_ms);
    sqlite3_bind_int64(st, 11, f->expiring_within_ms);
    bind_text(st, 12, f->sort);
}

#define LICENSE_ROWS(dir)                                                                          \
    "SELECT r.license, r.product, COALESCE(p.name, r.product), r.key, " LICENSE_STATUS ", "        \
    "r.start_ms, r.expires_ms, r.deployed, r.lim, r.scans_used, r.type, r.note, r.delivery "       \
    "FROM rep_shown r LEFT JOIN rep_products p ON p.id = r.product "                               \
    "WHERE r.tenant = ?1 AND r.org_path = ?2" LICENSE_FILTER " ORDER BY "                          \
    "CASE ?12 WHEN 'product' THEN COALESCE(p.name, r.product) WHEN 'key' THEN r.key "              \
    "WHEN 'status' THEN (CASE WHEN ?8 >= r.expires_ms THEN 2 WHEN ?8 >= r.expires_ms - ?10 "       \
    "THEN 1 ELSE 0 END) ELSE 0 END " dir ", "                                                      \
    "CASE ?12 WHEN 'start' THEN r.start_ms ELSE r.expires_ms END " dir ", r.key " dir " LIMIT ?13"

static enum lb_err org_licenses(struct store *s, const struct rep_scope *sc,
                                const struct rep_filter *f, const char *path, cJSON *org,
                                int64_t *ret_rows, struct lb_why *why)
{
    static const char asc[] = LICENSE_ROWS("ASC");
    static const char desc[] = LICENSE_ROWS("DESC");
    sqlite3_stmt *st = store_stmt(s, f->descending ? desc : asc, why);
    cJSON *onprem = cJSON_AddArrayToObject(org, "on_premises");
    cJSON *cloud = cJSON_AddArrayToObject(org, "cloud");
    int64_t rows = 0;
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    if (onprem == NULL || cloud == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    bind_text(st, 1, sc->tenant);
    bind_text(st, 2, path);
    bind_filter(st, sc, f);
    sqlite3_bind_int64(st, 13, REP_ROWS_PER_PAGE + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool is_cloud = strcmp(col_text(st, 12), "cloud") == 0;
        cJSON *o = cJSON_CreateObject();
        bool ok;

        if (++rows > REP_ROWS_PER_PAGE) {
            cJSON_Delete(o);
            sqlite3_reset(st);
            return cJSON_AddTrueToObject(org, "more_licenses")
                       ? (*ret_rows = rows - 1, LB_OK)
                       : lb_fail(why, LB_ENOMEM, "out of memory");
        }
        ok = o != NULL && cJSON_AddItemToArray(is_cloud ? cloud : onprem, o) &&
             cJSON_AddStringToObject(o, "license", col_text(st, 0)) &&
             cJSON_AddStringToObject(o, "product", col_text(st, 1)) &&
             cJSON_AddStringToObject(o, "product_name", col_text(st, 2)) &&
             cJSON_AddStringToObject(o, "key", col_text(st, 3)) &&
             cJSON_AddStringToObject(o, "status", col_text(st, 4)) &&
             add_date(o, "start", sqlite3_column_int64(st, 5)) &&
             add_date(o, "expiration", sqlite3_column_int64(st, 6) - REP_DAY_MS) &&
             cJSON_AddStringToObject(o, "type", col_text(st, 10)) &&
             cJSON_AddStringToObject(o, "note", col_text(st, 11));
        if (ok && is_cloud)
            ok = cJSON_AddNumberToObject(o, "scans_used", (double)sqlite3_column_int64(st, 9)) &&
                 cJSON_AddNumberToObject(o, "scan_limit", (double)sqlite3_column_int64(st, 8));
        else if (ok)
            ok = cJSON_AddNumberToObject(o, "deployed", (double)sqlite3_column_int64(st, 7)) &&
                 cJSON_AddNumberToObject(o, "purchased", (double)sqlite3_column_int64(st, 8));
        if (!ok) {
            if (o != NULL && o->next == NULL && o->prev == NULL)
                cJSON_Delete(o);
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "listing licenses", why);
    sqlite3_reset(st);
    *ret_rows = rows;
    return LB_OK;
}

static bool add_org(cJSON *o, sqlite3_stmt *st)
{
    static const char *const kinds[] = {"distributor", "reseller", "msp", "customer", "suborg"};
    int kind = sqlite3_column_int(st, 2);

    return cJSON_AddStringToObject(o, "org", col_text(st, 0)) &&
           cJSON_AddStringToObject(o, "name", col_text(st, 1)) &&
           cJSON_AddStringToObject(o, "kind", kind >= 0 && kind <= 4 ? kinds[kind] : "?") &&
           cJSON_AddStringToObject(o, "parent", col_text(st, 3));
}

enum lb_err rep_store_customer_orgs(struct store *s, const struct rep_scope *sc,
                                    const struct rep_filter *f, cJSON *orgs, char *ret_next,
                                    size_t next_size, struct lb_why *why)
{
    static const char sql[] =
        "SELECT o.id, o.name, o.kind, o.parent, o.path FROM lb_org o "
        "WHERE o.tenant = ?1 AND o.path >= ?2 AND o.path < ?3 AND o.kind >= 3 "
        "AND o.deleted = 0 AND (?4 = 0 OR EXISTS (SELECT 1 FROM rep_shown r "
        "LEFT JOIN rep_products p ON p.id = r.product WHERE r.tenant = ?1 "
        "AND r.org_path = o.path" LICENSE_FILTER ")) ORDER BY o.path LIMIT ?13";
    char lo[1104];
    char hi[1100];
    char paths[REP_PAGE_MAX + 1][1100];
    int64_t total = 0;
    int count = 0;
    bool filtered =
        f->status != NULL || f->product != NULL || f->type != NULL || f->expiring_within_ms >= 0;
    sqlite3_stmt *st = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    ret_next[0] = '\0';
    if (f->after_path[0] != '\0') {
        /* Strictly after the cursor: the smallest string above it. */
        (void)snprintf(lo, sizeof(lo), "%s%c", f->after_path, 1);
        if (strcmp(lo, sc->path) < 0)
            (void)snprintf(lo, sizeof(lo), "%s", sc->path);
    } else {
        (void)snprintf(lo, sizeof(lo), "%s", sc->path);
    }
    range_end(sc->path, hi, sizeof(hi));
    bind_text(st, 1, sc->tenant);
    bind_text(st, 2, lo);
    bind_text(st, 3, hi);
    sqlite3_bind_int(st, 4, filtered);
    bind_filter(st, sc, f);
    sqlite3_bind_int64(st, 13, f->limit + 1);
    /* Collect the page's orgs first: the statement is reused by nothing else meanwhile,
     * but the license query must not run while this one is open on the same rows. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o;

        if (count == f->limit) {
            (void)rep_cursor_encode(paths[count - 1], ret_next, next_size);
            break;
        }
        o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(orgs, o) || !add_org(o, st)) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
        (void)snprintf(paths[count], sizeof(paths[count]), "%s", col_text(st, 4));
        count++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return step_failed(s, st, rc, "listing orgs", why);
    sqlite3_reset(st);
    /* Now each org's licenses; a page stops early once it holds REP_ROWS_PER_PAGE rows. */
    for (int i = 0; err == LB_OK && i < count; i++) {
        cJSON *o = cJSON_GetArrayItem(orgs, i);
        int64_t rows = 0;

        err = org_licenses(s, sc, f, paths[i], o, &rows, why);
        total += rows;
        if (err == LB_OK && total >= REP_ROWS_PER_PAGE && i + 1 < count) {
            while (cJSON_GetArraySize(orgs) > i + 1)
                cJSON_DeleteItemFromArray(orgs, i + 1);
            (void)rep_cursor_encode(paths[i], ret_next, next_size);
            break;
        }
    }
    return err;
}

static void bind_scope(sqlite3_stmt *st, const struct rep_scope *sc)
{
    char hi[REP_PATH_SIZE];

    range_end(sc->path, hi, sizeof(hi));
    bind_text(st, 1, sc->tenant);
    bind_text(st, 2, sc->path);
    bind_text(st, 3, hi);
    sqlite3_bind_int64(st, 4, sc->now_ms);
    sqlite3_bind_int64(st, 5, sc->window_ms);
}

/* The expiration days (exact expires_ms values) the scope's soonest list looks at. */
struct expiry_days {
    int64_t *ms;
    size_t count, size;
};

static bool days_add(struct expiry_days *d, int64_t ms)
{
    for (size_t i = 0; i < d->count; i++) {
        if (d->ms[i] == ms)
            return true;
    }
    if (d->count == d->size) {
        size_t size = d->size ? 2 * d->size : 128;
        int64_t *more = realloc(d->ms, size * sizeof(*more));

        if (more == NULL)
            return false;
        d->ms = more;
        d->size = size;
    }
    d->ms[d->count++] = ms;
    return true;
}

static int cmp_ms(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* One product of by_product, its counters created at 0. */
static cJSON *product_entry(cJSON *products, sqlite3_stmt *st, bool cloud)
{
    cJSON *cur = cJSON_CreateObject();
    cJSON *counts = cur != NULL && cJSON_AddItemToArray(products, cur)
                        ? cJSON_AddObjectToObject(cur, "by_status")
                        : NULL;

    if (counts == NULL || !cJSON_AddStringToObject(cur, "product", col_text(st, 0)) ||
        !cJSON_AddStringToObject(cur, "name", col_text(st, 1)) ||
        !cJSON_AddStringToObject(cur, "delivery", col_text(st, 2)) ||
        !cJSON_AddNumberToObject(counts, "active", 0) ||
        !cJSON_AddNumberToObject(counts, "expiring", 0) ||
        !cJSON_AddNumberToObject(counts, "expired", 0) ||
        !cJSON_AddNumberToObject(cur, "licenses", 0) ||
        !cJSON_AddNumberToObject(cur, cloud ? "scans_used" : "deployed", 0) ||
        !cJSON_AddNumberToObject(cur, cloud ? "scan_limit" : "purchased", 0))
        return NULL;
    return cur;
}

static void add_to(cJSON *o, const char *name, double n)
{
    cJSON *item = cJSON_GetObjectItem(o, name);

    if (item != NULL)
        cJSON_SetNumberValue(item, item->valuedouble + n);
}

/*
 * Counts by status and product, deployed vs purchased, and what expires in
 * 30/60/90 days, from the scope's rows of rep_overview (products x distinct
 * expiration days; the status of each row computed now). Collects the
 * expiration days of the next 90 days into `days` for the soonest list.
 */
static enum lb_err overview_counts(struct store *s, const struct rep_scope *sc, cJSON *reply,
                                   struct expiry_days *days, struct lb_why *why)
{
    static const char sql[] =
        "SELECT o.product, COALESCE(p.name, o.product), o.delivery, o.expires_ms, o.licenses, "
        "o.deployed, o.lim, o.scans_used FROM rep_overview o "
        "LEFT JOIN rep_products p ON p.id = o.product "
        "WHERE o.tenant = ?1 AND o.scope_path = ?2 AND COALESCE(p.shown, 1) = 1 "
        "ORDER BY o.product, o.delivery, o.expires_ms";
    static const char *const names[] = {"active", "expiring", "expired"};
    sqlite3_stmt *st = store_stmt(s, sql, why);
    cJSON *by_status = cJSON_AddObjectToObject(reply, "by_status");
    cJSON *products = cJSON_AddArrayToObject(reply, "by_product");
    double totals[3] = {0, 0, 0};
    double within[3] = {0, 0, 0}; /* 30, 60, 90 days */
    cJSON *cur = NULL;
    bool cloud = false;
    char cur_id[REP_PRODUCT_MAX + 1] = "";
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    if (by_status == NULL || products == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    bind_text(st, 1, sc->tenant);
    bind_text(st, 2, sc->path);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t expires = sqlite3_column_int64(st, 3);
        double n = (double)sqlite3_column_int64(st, 4);
        const char *status = rep_status_at(expires, sc->now_ms, sc->window_ms);
        int si = strcmp(status, "active") == 0 ? 0 : strcmp(status, "expiring") == 0 ? 1 : 2;

        if (cur == NULL || strcmp(cur_id, col_text(st, 0)) != 0) {
            /* A product's fields follow the delivery of its first row. */
            cloud = strcmp(col_text(st, 2), "cloud") == 0;
            cur = product_entry(products, st, cloud);
            if (cur == NULL) {
                sqlite3_reset(st);
                return lb_fail(why, LB_ENOMEM, "out of memory");
            }
            (void)snprintf(cur_id, sizeof(cur_id), "%s", col_text(st, 0));
        }
        totals[si] += n;
        add_to(cJSON_GetObjectItem(cur, "by_status"), names[si], n);
        add_to(cur, "licenses", n);
        /* Deployed vs purchased (and scans) count licenses that are not expired. */
        if (si != 2) {
            add_to(cur, cloud ? "scans_used" : "deployed",
                   (double)sqlite3_column_int64(st, cloud ? 7 : 5));
            add_to(cur, cloud ? "scan_limit" : "purchased", (double)sqlite3_column_int64(st, 6));
        }
        for (int w = 0; w < 3; w++) {
            if (expires > sc->now_ms && expires <= sc->now_ms + (int64_t)(w + 1) * 30 * REP_DAY_MS)
                within[w] += n;
        }
        if (expires > sc->now_ms && expires <= sc->now_ms + 90 * REP_DAY_MS &&
            !days_add(days, expires)) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "counting licenses", why);
    sqlite3_reset(st);
    for (int i = 0; i < 3; i++) {
        if (!cJSON_AddNumberToObject(by_status, names[i], totals[i]))
            return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    {
        cJSON *exp = cJSON_AddObjectToObject(reply, "expiring");

        if (exp == NULL || !cJSON_AddNumberToObject(exp, "within_30_days", within[0]) ||
            !cJSON_AddNumberToObject(exp, "within_60_days", within[1]) ||
            !cJSON_AddNumberToObject(exp, "within_90_days", within[2]))
            return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    return LB_OK;
}

/*
 * The `top` licenses of the scope expiring soonest (next 90 days), by
 * expiration then key: one index range of rep_shown (tenant, expires_ms,
 * org_path) per expiration day the scope has, until the list is full.
 */
static enum lb_err overview_soonest(struct store *s, const struct rep_scope *sc, int64_t top,
                                    struct expiry_days *days, cJSON *reply, struct lb_why *why)
{
    static const char sql[] =
        "SELECT r.license, r.key, r.product, COALESCE(p.name, r.product), MIN(r.org) "
        "FROM rep_shown r INDEXED BY rep_shown_by_expiry LEFT JOIN rep_products p "
        "ON p.id = r.product "
        "WHERE r.tenant = ?1 AND r.expires_ms = ?6 AND r.org_path >= ?2 AND r.org_path < ?3 "
        "AND COALESCE(p.shown, 1) = 1 GROUP BY r.license ORDER BY r.key, r.license LIMIT ?7";
    cJSON *soonest = cJSON_AddArrayToObject(cJSON_GetObjectItem(reply, "expiring"), "soonest");
    int64_t listed = 0;

    if (soonest == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    if (days->count > 1)
        qsort(days->ms, days->count, sizeof(*days->ms), cmp_ms);
    for (size_t d = 0; d < days->count && listed < top; d++) {
        sqlite3_stmt *st = store_stmt(s, sql, why);
        int rc;

        if (st == NULL)
            return LB_EINTERNAL;
        bind_scope(st, sc);
        sqlite3_bind_int64(st, 6, days->ms[d]);
        sqlite3_bind_int64(st, 7, top - listed);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();

            listed++;
            if (o == NULL || !cJSON_AddItemToArray(soonest, o) ||
                !cJSON_AddStringToObject(o, "license", col_text(st, 0)) ||
                !cJSON_AddStringToObject(o, "key", col_text(st, 1)) ||
                !cJSON_AddStringToObject(o, "product", col_text(st, 2)) ||
                !cJSON_AddStringToObject(o, "product_name", col_text(st, 3)) ||
                !cJSON_AddStringToObject(o, "org", col_text(st, 4)) ||
                !add_date(o, "expiration", days->ms[d] - REP_DAY_MS)) {
                sqlite3_reset(st);
                return lb_fail(why, LB_ENOMEM, "out of memory");
            }
        }
        if (rc != SQLITE_DONE)
            return step_failed(s, st, rc, "listing expiring licenses", why);
        sqlite3_reset(st);
    }
    return LB_OK;
}

/* The name of a subscription's customer (ranked lists: their few rows only). */
#define CUSTOMER_NAME                                                                              \
    "COALESCE((SELECT o.name FROM lb_org o WHERE o.tenant = s.tenant AND o.id = s.customer), '')"
#define SEATS_USED                                                                                 \
    "(SELECT COUNT(*) FROM rep_seats e WHERE e.tenant = s.tenant AND e.subscription = s.id)"

/*
 * Seats consumed vs purchased per package (rep_seat_totals: one row per
 * package of the scope), the most over-consumed subscriptions and the trials
 * ending soon. A large scope reads those two in their order from the
 * tenant's indexes (rep_subscriptions_by_over, rep_subscriptions_trials)
 * until it has `top` of its own: about top x tenant / scope rows. A small
 * scope reads its own subscriptions, customer by customer, and sorts them:
 * about scope rows. The counts say which is fewer.
 */
static enum lb_err overview_seats(struct store *s, const struct rep_scope *sc, int64_t top,
                                  int64_t trial_soon_ms, cJSON *reply, struct lb_why *why)
{
    static const char totals_sql[] =
        "SELECT package, subscriptions, purchased, consumed FROM rep_seat_totals "
        "WHERE tenant = ?1 AND scope_path = ?2 ORDER BY package";
    static const char top_sql[] =
        "SELECT s.customer, " CUSTOMER_NAME ", s.id, s.package, s.seat_basis, s.status, "
        "s.quantity, s.seats FROM rep_subscriptions s "
        "WHERE s.tenant = ?1 AND s.status != 'cancelled' AND s.customer_path >= ?2 "
        "AND s.customer_path < ?3 ORDER BY s.seats - s.quantity DESC, s.customer, s.id LIMIT ?6";
    static const char trials_sql[] =
        "SELECT s.customer, " CUSTOMER_NAME ", s.id, s.package, s.trial_end_ms "
        "FROM rep_subscriptions s WHERE s.tenant = ?1 AND s.status = 'in_trial' "
        "AND s.trial_end_ms <= ?4 + ?5 AND s.customer_path >= ?2 AND s.customer_path < ?3 "
        "ORDER BY s.trial_end_ms, s.customer, s.id LIMIT ?6";
    static const char tenant_sql[] = "SELECT COALESCE(SUM(subscriptions), 0) FROM rep_seat_totals "
                                     "WHERE tenant = ?1 AND scope_path = '/' || ?1 || '/'";
#define SCOPE_CUSTOMERS                                                                            \
    "FROM rep_subscriptions s INDEXED BY rep_subscriptions_by_customer WHERE s.tenant = ?1 "       \
    "AND s.customer IN (SELECT o.id FROM lb_org o WHERE o.tenant = ?1 AND o.path >= ?2 "           \
    "AND o.path < ?3) AND s.customer_path >= ?2 AND s.customer_path < ?3 "
    static const char scope_top_sql[] =
        "SELECT s.customer, " CUSTOMER_NAME ", s.id, s.package, s.seat_basis, s.status, "
        "s.quantity, s.seats " SCOPE_CUSTOMERS "AND s.status != 'cancelled' "
        "ORDER BY s.seats - s.quantity DESC, s.customer, s.id LIMIT ?6";
    static const char scope_trials_sql[] =
        "SELECT s.customer, " CUSTOMER_NAME ", s.id, s.package, s.trial_end_ms " SCOPE_CUSTOMERS
        "AND s.status = 'in_trial' AND s.trial_end_ms <= ?4 + ?5 "
        "ORDER BY s.trial_end_ms, s.customer, s.id LIMIT ?6";
#undef SCOPE_CUSTOMERS
    cJSON *seats = cJSON_AddObjectToObject(reply, "seats");
    cJSON *packages = seats ? cJSON_AddArrayToObject(seats, "by_package") : NULL;
    cJSON *ranked = seats ? cJSON_AddArrayToObject(seats, "by_subscription") : NULL;
    cJSON *trials = cJSON_AddArrayToObject(reply, "trials_ending");
    int64_t in_scope = 0, in_tenant = 0;
    bool by_rank;
    sqlite3_stmt *st;
    int rc;

    if (packages == NULL || ranked == NULL || trials == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    st = store_stmt(s, totals_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, sc->tenant);
    bind_text(st, 2, sc->path);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        if (o == NULL || !cJSON_AddItemToArray(packages, o) ||
            !cJSON_AddStringToObject(o, "package", col_text(st, 0)) ||
            !cJSON_AddNumberToObject(o, "subscriptions", (double)sqlite3_column_int64(st, 1)) ||
            !cJSON_AddNumberToObject(o, "purchased", (double)sqlite3_column_int64(st, 2)) ||
            !cJSON_AddNumberToObject(o, "consumed", (double)sqlite3_column_int64(st, 3))) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
        in_scope += sqlite3_column_int64(st, 1);
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "counting seats", why);
    sqlite3_reset(st);
    st = store_stmt(s, tenant_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, sc->tenant);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return step_failed(s, st, rc, "counting subscriptions", why);
    in_tenant = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    by_rank = in_scope * in_scope >= top * in_tenant;
    st = store_stmt(s, by_rank ? top_sql : scope_top_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_scope(st, sc);
    sqlite3_bind_int64(st, 6, top);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        if (o == NULL || !cJSON_AddItemToArray(ranked, o) ||
            !cJSON_AddStringToObject(o, "customer", col_text(st, 0)) ||
            !cJSON_AddStringToObject(o, "customer_name", col_text(st, 1)) ||
            !cJSON_AddStringToObject(o, "subscription", col_text(st, 2)) ||
            !cJSON_AddStringToObject(o, "package", col_text(st, 3)) ||
            !cJSON_AddStringToObject(o, "seat_basis", col_text(st, 4)) ||
            !cJSON_AddStringToObject(o, "status", col_text(st, 5)) ||
            !cJSON_AddNumberToObject(o, "purchased", (double)sqlite3_column_int64(st, 6)) ||
            !cJSON_AddNumberToObject(o, "consumed", (double)sqlite3_column_int64(st, 7))) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "ranking seats", why);
    sqlite3_reset(st);
    st = store_stmt(s, by_rank ? trials_sql : scope_trials_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_scope(st, sc);
    sqlite3_bind_int64(st, 5, trial_soon_ms);
    sqlite3_bind_int64(st, 6, top);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();

        if (o == NULL || !cJSON_AddItemToArray(trials, o) ||
            !cJSON_AddStringToObject(o, "customer", col_text(st, 0)) ||
            !cJSON_AddStringToObject(o, "customer_name", col_text(st, 1)) ||
            !cJSON_AddStringToObject(o, "subscription", col_text(st, 2)) ||
            !cJSON_AddStringToObject(o, "package", col_text(st, 3)) ||
            !add_time(o, "trial_end", st, 4)) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "listing trials", why);
    sqlite3_reset(st);
    return LB_OK;
}

enum lb_err rep_store_overview(struct store *s, const struct rep_scope *sc, int64_t top,
                               int64_t trial_soon_ms, cJSON *reply, struct lb_why *why)
{
    struct expiry_days days = {0};
    enum lb_err err = overview_counts(s, sc, reply, &days, why);

    if (err == LB_OK)
        err = overview_soonest(s, sc, top, &days, reply, why);
    free(days.ms);
    if (err == LB_OK)
        err = overview_seats(s, sc, top, trial_soon_ms, reply, why);
    return err;
}

enum lb_err rep_store_license_find(struct store *s, const struct rep_scope *sc, const char *key,
                                   char ret_license[REP_ENTITY_MAX + 1], struct lb_why *why)
{
    static const char sql[] =
        "SELECT r.license FROM rep_licenses l JOIN rep_shown r ON r.tenant = l.tenant "
        "AND r.license = l.id WHERE l.tenant = ?1 AND l.key = ?4 AND r.org_path >= ?2 "
        "AND r.org_path < ?3 LIMIT 1";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_scope(st, sc);
    bind_text(st, 4, key);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        (void)snprintf(ret_license, REP_ENTITY_MAX + 1, "%s", col_text(st, 0));
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_EFORBIDDEN, "key: license %s is not in the caller's subtree", key);
    if (rc != SQLITE_ROW)
        return lb_fail(why, store_err(rc), "finding license: %s", sqlite3_errmsg(store_db(s)));
    return LB_OK;
}

static bool add_json_text(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    cJSON *v = NULL;

    if (sqlite3_column_type(st, col) != SQLITE_NULL)
        v = cJSON_Parse(col_text(st, col));
    if (v == NULL)
        v = cJSON_CreateNull();
    if (v == NULL || !cJSON_AddItemToObject(o, name, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

enum lb_err rep_store_history(struct store *s, const char *tenant, const char *license,
                              int64_t after_seq, int64_t limit, cJSON *entries, bool *ret_more,
                              struct lb_why *why)
{
    static const char sql[] =
        "SELECT time_ms, event_id, change, actor_org, actor_user, version, before, after "
        "FROM rep_history WHERE tenant = ? AND license = ? "
        "ORDER BY time_ms, event_id LIMIT ? OFFSET ?";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    int64_t n = 0;
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, license);
    sqlite3_bind_int64(st, 3, limit + 1);
    sqlite3_bind_int64(st, 4, after_seq);
    *ret_more = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o;
        cJSON *actor;

        if (++n > limit) {
            *ret_more = true;
            break;
        }
        o = cJSON_CreateObject();
        actor = o != NULL && cJSON_AddItemToArray(entries, o) ? cJSON_AddObjectToObject(o, "actor")
                                                              : NULL;
        if (actor == NULL || !add_time(o, "time", st, 0) ||
            !cJSON_AddStringToObject(o, "event_id", col_text(st, 1)) ||
            !cJSON_AddStringToObject(o, "change", col_text(st, 2)) ||
            (sqlite3_column_type(st, 3) != SQLITE_NULL &&
             !cJSON_AddStringToObject(actor, "org", col_text(st, 3))) ||
            !cJSON_AddStringToObject(actor, "user", col_text(st, 4)) ||
            !cJSON_AddNumberToObject(o, "version", (double)sqlite3_column_int64(st, 5)) ||
            !add_json_text(o, "before", st, 6) || !add_json_text(o, "after", st, 7)) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return step_failed(s, st, rc, "reading history", why);
    sqlite3_reset(st);
    return LB_OK;
}

/* Customers (kind customer) of the scope after `after_path`, at most limit + 1. */
static const char customers_sql[] =
    "SELECT o.id, o.name, o.kind, o.parent, o.path, COALESCE(c.status, 'active') "
    "FROM lb_org o LEFT JOIN rep_customers c ON c.tenant = o.tenant AND c.org = o.id "
    "WHERE o.tenant = ?1 AND o.path > ?2 AND o.path >= ?4 AND o.path < ?3 AND o.kind = 3 "
    "AND o.deleted = 0 ORDER BY o.path LIMIT ?5";

struct customer_ref {
    char id[REP_ORG_MAX + 1];
    char path[1100];
};

/* Lists the page's customers into `out` (objects with org, name, kind, parent, status). */
static enum lb_err page_customers(struct store *s, const struct rep_scope *sc, int64_t limit,
                                  const char *after_path, cJSON *out, struct customer_ref *refs,
                                  int *ret_count, char *ret_next, size_t next_size,
                                  struct lb_why *why)
{
    sqlite3_stmt *st = store_stmt(s, customers_sql, why);
    char hi[1100];
    int count = 0;
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    range_end(sc->path, hi, sizeof(hi));
    ret_next[0] = '\0';
    bind_text(st, 1, sc->tenant);
    bind_text(st, 2, after_path);
    bind_text(st, 3, hi);
    bind_text(st, 4, sc->path);
    sqlite3_bind_int64(st, 5, limit + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *o;

        if (count == limit) {
            (void)rep_cursor_encode(refs[count - 1].path, ret_next, next_size);
            break;
        }
        o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(out, o) ||
            !cJSON_AddStringToObject(o, "customer", col_text(st, 0)) ||
            !cJSON_AddStringToObject(o, "name", col_text(st, 1)) ||
            !cJSON_AddStringToObject(o, "parent", col_text(st, 3)) ||
            !cJSON_AddStringToObject(o, "status", col_text(st, 5))) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
        (void)snprintf(refs[count].id, sizeof(refs[count].id), "%s", col_text(st, 0));
        (void)snprintf(refs[count].path, sizeof(refs[count].path), "%s", col_text(st, 4));
        count++;
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return step_failed(s, st, rc, "listing customers", why);
    sqlite3_reset(st);
    *ret_count = count;
    return LB_OK;
}

static enum lb_err customer_consumption(struct store *s, const char *tenant, const char *customer,
                                        cJSON *o, struct lb_why *why)
{
    static const char subs_sql[] =
        "SELECT s.id, s.package, s.seat_basis, s.status, s.quantity, " SEATS_USED
        " FROM rep_subscriptions s INDEXED BY rep_subscriptions_by_customer "
        "WHERE s.tenant = ? AND s.customer = ? ORDER BY s.id";
    static const char devices_sql[] = "SELECT COALESCE(SUM(kind = 'business' AND installed), 0), "
                                      "COALESCE(SUM(kind = 'personal' AND installed), 0), "
                                      "COALESCE(SUM(kind = 'business' AND NOT installed), 0), "
                                      "COALESCE(SUM(kind = 'personal' AND NOT installed), 0), "
                                      "COALESCE(SUM(installed AND user IS NULL), 0) "
                                      "FROM rep_devices INDEXED BY rep_devices_by_customer "
                                      "WHERE tenant = ? AND customer = ?";
    static const char users_sql[] =
        "SELECT COALESCE(SUM(NOT deleted AND NOT purged), 0), "
        "COALESCE(SUM(released AND NOT purged), 0), "
        "(SELECT released FROM rep_usage_counts u WHERE u.tenant = ?1 AND u.customer = ?2), "
        "(SELECT retaken FROM rep_usage_counts u WHERE u.tenant = ?1 AND u.customer = ?2), "
        "(SELECT purged FROM rep_usage_counts u WHERE u.tenant = ?1 AND u.customer = ?2) "
        "FROM rep_users INDEXED BY rep_users_by_customer WHERE tenant = ?1 AND customer = ?2";
    cJSON *subs = cJSON_AddArrayToObject(o, "subscriptions");
    cJSON *devices = cJSON_AddObjectToObject(o, "devices");
    cJSON *users = cJSON_AddObjectToObject(o, "users");
    sqlite3_stmt *st;
    int rc;

    if (subs == NULL || devices == NULL || users == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    st = store_stmt(s, subs_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, customer);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *x = cJSON_CreateObject();

        if (x == NULL || !cJSON_AddItemToArray(subs, x) ||
            !cJSON_AddStringToObject(x, "subscription", col_text(st, 0)) ||
            !cJSON_AddStringToObject(x, "package", col_text(st, 1)) ||
            !cJSON_AddStringToObject(x, "seat_basis", col_text(st, 2)) ||
            !cJSON_AddStringToObject(x, "status", col_text(st, 3)) ||
            !cJSON_AddNumberToObject(x, "quantity", (double)sqlite3_column_int64(st, 4)) ||
            !cJSON_AddNumberToObject(x, "licensed_users", (double)sqlite3_column_int64(st, 5))) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "listing subscriptions", why);
    sqlite3_reset(st);
    st = store_stmt(s, devices_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, customer);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return step_failed(s, st, rc, "counting devices", why);
    {
        cJSON *b = cJSON_AddObjectToObject(devices, "business");
        cJSON *p = cJSON_AddObjectToObject(devices, "personal");
        bool ok =
            b != NULL && p != NULL &&
            cJSON_AddNumberToObject(b, "installed", (double)sqlite3_column_int64(st, 0)) &&
            cJSON_AddNumberToObject(b, "uninstalled", (double)sqlite3_column_int64(st, 2)) &&
            cJSON_AddNumberToObject(p, "installed", (double)sqlite3_column_int64(st, 1)) &&
            cJSON_AddNumberToObject(p, "uninstalled", (double)sqlite3_column_int64(st, 3)) &&
            cJSON_AddNumberToObject(devices, "unassociated", (double)sqlite3_column_int64(st, 4));
        sqlite3_reset(st);
        if (!ok)
            return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    st = store_stmt(s, users_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, customer);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        return step_failed(s, st, rc, "counting users", why);
    {
        bool ok =
            cJSON_AddNumberToObject(users, "known", (double)sqlite3_column_int64(st, 0)) &&
            cJSON_AddNumberToObject(users, "released_now", (double)sqlite3_column_int64(st, 1)) &&
            cJSON_AddNumberToObject(users, "released", (double)sqlite3_column_int64(st, 2)) &&
            cJSON_AddNumberToObject(users, "retaken", (double)sqlite3_column_int64(st, 3)) &&
            cJSON_AddNumberToObject(users, "purged", (double)sqlite3_column_int64(st, 4));
        sqlite3_reset(st);
        if (!ok)
            return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    return LB_OK;
}

enum lb_err rep_store_consumption(struct store *s, const struct rep_scope *sc, int64_t limit,
                                  const char *after_path, cJSON *customers, char *ret_next,
                                  size_t next_size, struct lb_why *why)
{
    struct customer_ref refs[REP_PAGE_MAX + 1];
    int count = 0;
    enum lb_err err =
        page_customers(s, sc, limit, after_path, customers, refs, &count, ret_next, next_size, why);

    for (int i = 0; err == LB_OK && i < count; i++)
        err =
            customer_consumption(s, sc->tenant, refs[i].id, cJSON_GetArrayItem(customers, i), why);
    return err;
}

/* A subscription of the customer and its billable counts for the month. */
struct billable_sub {
    char id[REP_ENTITY_MAX + 1];
    int64_t users, devices;
};

static enum lb_err user_seats(struct store *s, const char *tenant, const char *user, cJSON *o,
                              struct billable_sub *subs, int nsubs, int64_t devices,
                              struct lb_why *why)
{
    static const char sql[] =
        "SELECT e.subscription, COALESCE(s.package, ''), e.grp "
        "FROM rep_seats e INDEXED BY rep_seats_by_user "
        "LEFT JOIN rep_subscriptions s ON s.tenant = e.tenant AND s.id = e.subscription "
        "WHERE e.tenant = ? AND e.user = ? ORDER BY e.subscription";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    cJSON *seats = cJSON_AddArrayToObject(o, "seats");
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    if (seats == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    bind_text(st, 1, tenant);
    bind_text(st, 2, user);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *x = cJSON_CreateObject();

        if (x == NULL || !cJSON_AddItemToArray(seats, x) ||
            !cJSON_AddStringToObject(x, "subscription", col_text(st, 0)) ||
            !cJSON_AddStringToObject(x, "package", col_text(st, 1)) ||
            !cJSON_AddStringToObject(x, "group", col_text(st, 2))) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
        for (int i = 0; i < nsubs; i++) {
            if (strcmp(subs[i].id, col_text(st, 0)) == 0) {
                subs[i].users++;
                subs[i].devices += devices;
            }
        }
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "reading seats", why);
    sqlite3_reset(st);
    return LB_OK;
}

#define BILLABLE_SUBS_MAX 64

static enum lb_err customer_billable(struct store *s, const char *tenant, const char *customer,
                                     const char *month, cJSON *o, int64_t *rows, struct lb_why *why)
{
    static const char subs_sql[] =
        "SELECT id, package, seat_basis, status FROM rep_subscriptions "
        "INDEXED BY rep_subscriptions_by_customer WHERE tenant = ? AND customer = ? "
        "ORDER BY id LIMIT 64";
    static const char devices_sql[] =
        "SELECT d.id, d.kind, d.hostname, d.user, a.last_ms "
        "FROM rep_devices d INDEXED BY rep_devices_by_customer CROSS JOIN rep_activity a "
        "ON a.tenant = d.tenant AND a.month = ?3 AND a.device = d.id "
        "WHERE d.tenant = ?1 AND d.customer = ?2 ORDER BY d.user IS NOT NULL, d.user, d.id";
    struct billable_sub subs[BILLABLE_SUBS_MAX] = {{{0}}};
    cJSON *subs_json = cJSON_AddArrayToObject(o, "subscriptions");
    cJSON *users = cJSON_AddArrayToObject(o, "users");
    cJSON *loose = cJSON_AddArrayToObject(o, "unassociated_devices");
    cJSON *user = NULL;
    char user_id[REP_ENTITY_MAX + 1] = "";
    int64_t user_devices = 0;
    int nsubs = 0;
    sqlite3_stmt *st;
    enum lb_err err = LB_OK;
    int rc;

    if (subs_json == NULL || users == NULL || loose == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    st = store_stmt(s, devices_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, customer);
    bind_text(st, 3, month);
    /* Devices first (users grouped), seats after: one open statement at a time per table. */
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool owned = sqlite3_column_type(st, 3) != SQLITE_NULL;
        cJSON *d = cJSON_CreateObject();
        bool ok = d != NULL;

        (*rows)++;
        if (owned && (user == NULL || strcmp(user_id, col_text(st, 3)) != 0)) {
            user = cJSON_CreateObject();
            ok = ok && user != NULL && cJSON_AddItemToArray(users, user) &&
                 cJSON_AddStringToObject(user, "user", col_text(st, 3)) &&
                 cJSON_AddNumberToObject(user, "last_signal", 0) &&
                 cJSON_AddArrayToObject(user, "devices") != NULL;
            (void)snprintf(user_id, sizeof(user_id), "%s", col_text(st, 3));
        }
        ok = ok && cJSON_AddItemToArray(owned ? cJSON_GetObjectItem(user, "devices") : loose, d) &&
             cJSON_AddStringToObject(d, "device", col_text(st, 0)) &&
             cJSON_AddStringToObject(d, "kind", col_text(st, 1)) &&
             cJSON_AddStringToObject(d, "hostname", col_text(st, 2)) &&
             add_time(d, "last_signal", st, 4);
        if (ok && owned) {
            /* The user's evidence: the latest signal of any of their devices. */
            cJSON *last = cJSON_GetObjectItem(user, "last_signal");

            if (last->valuedouble < (double)sqlite3_column_int64(st, 4))
                cJSON_SetNumberValue(last, (double)sqlite3_column_int64(st, 4));
        }
        if (!ok) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "listing active devices", why);
    sqlite3_reset(st);
    st = store_stmt(s, subs_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, customer);
    while (nsubs < BILLABLE_SUBS_MAX && sqlite3_step(st) == SQLITE_ROW) {
        (void)snprintf(subs[nsubs].id, sizeof(subs[nsubs].id), "%s", col_text(st, 0));
        subs[nsubs].users = subs[nsubs].devices = 0;
        nsubs++;
    }
    sqlite3_reset(st);
    /* Each user: the time of the latest signal as text, and the seats that make them billable. */
    for (cJSON *u = users->child; err == LB_OK && u != NULL; u = u->next) {
        cJSON *last = cJSON_GetObjectItem(u, "last_signal");
        char text[32];

        envelope_format_time((int64_t)last->valuedouble, text);
        user_devices = cJSON_GetArraySize(cJSON_GetObjectItem(u, "devices"));
        if (!cJSON_ReplaceItemInObject(u, "last_signal", cJSON_CreateString(text)))
            return lb_fail(why, LB_ENOMEM, "out of memory");
        err = user_seats(s, tenant, cJSON_GetObjectItem(u, "user")->valuestring, u, subs, nsubs,
                         user_devices, why);
    }
    if (err != LB_OK)
        return err;
    st = store_stmt(s, subs_sql, why);
    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, customer);
    for (int i = 0; i < nsubs && sqlite3_step(st) == SQLITE_ROW; i++) {
        cJSON *x = cJSON_CreateObject();

        if (x == NULL || !cJSON_AddItemToArray(subs_json, x) ||
            !cJSON_AddStringToObject(x, "subscription", col_text(st, 0)) ||
            !cJSON_AddStringToObject(x, "package", col_text(st, 1)) ||
            !cJSON_AddStringToObject(x, "seat_basis", col_text(st, 2)) ||
            !cJSON_AddStringToObject(x, "status", col_text(st, 3)) ||
            !cJSON_AddNumberToObject(x, "active_users", (double)subs[i].users) ||
            !cJSON_AddNumberToObject(x, "active_devices", (double)subs[i].devices)) {
            sqlite3_reset(st);
            return lb_fail(why, LB_ENOMEM, "out of memory");
        }
    }
    sqlite3_reset(st);
    return LB_OK;
}

enum lb_err rep_store_billable(struct store *s, const struct rep_scope *sc, int64_t month_start,
                               int64_t month_end, const char *month, int64_t limit,
                               const char *after_path, cJSON *customers, char *ret_next,
                               size_t next_size, struct lb_why *why)
{
    struct customer_ref refs[REP_ACTIVE_PAGE_MAX + 1];
    int64_t rows = 0;
    int count = 0;
    enum lb_err err =
        page_customers(s, sc, limit, after_path, customers, refs, &count, ret_next, next_size, why);

    (void)month_start;
    (void)month_end;
    for (int i = 0; err == LB_OK && i < count; i++) {
        err = customer_billable(s, sc->tenant, refs[i].id, month, cJSON_GetArrayItem(customers, i),
                                &rows, why);
        /* Keep the reply bounded: end the page early, the cursor continues after it. */
        if (err == LB_OK && rows >= REP_ACTIVE_ROWS_MAX && i + 1 < count) {
            while (cJSON_GetArraySize(customers) > i + 1)
                cJSON_DeleteItemFromArray(customers, i + 1);
            (void)rep_cursor_encode(refs[i].path, ret_next, next_size);
            break;
        }
    }
    return err;
}

/* ---- export rows ---- */

enum lb_err rep_store_each_key_row(struct store *s, const struct rep_scope *sc, const char *key,
                                   const struct rep_row_writer *w, struct lb_why *why)
{
    static const char sql[] =
        "SELECT o.name, r.org, COALESCE(p.name, r.product), r.key, r.type, r.start_ms, "
        "r.expires_ms, r.deployed, r.lim, r.note FROM rep_shown r "
        "JOIN lb_org o ON o.tenant = r.tenant AND o.id = r.org "
        "LEFT JOIN rep_products p ON p.id = r.product WHERE r.tenant = ?1 AND r.org_path >= ?2 "
        "AND r.org_path < ?3 AND r.delivery = 'on_premises' AND COALESCE(p.shown, 1) = 1 "
        "AND (?6 IS NULL OR r.key = ?6) ORDER BY r.org_path, r.key";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_scope(st, sc);
    bind_text(st, 6, key);
    while (err == LB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char start[16], exp[16], deployed[24], lim[24];
        const char *cells[11];

        rep_date_format(sqlite3_column_int64(st, 5), start);
        rep_date_format(sqlite3_column_int64(st, 6) - REP_DAY_MS, exp);
        (void)snprintf(deployed, sizeof(deployed), "%lld", (long long)sqlite3_column_int64(st, 7));
        (void)snprintf(lim, sizeof(lim), "%lld", (long long)sqlite3_column_int64(st, 8));
        cells[0] = col_text(st, 0);
        cells[1] = col_text(st, 1);
        cells[2] = col_text(st, 2);
        cells[3] = col_text(st, 3);
        cells[4] = rep_status_at(sqlite3_column_int64(st, 6), sc->now_ms, sc->window_ms);
        cells[5] = col_text(st, 4);
        cells[6] = start;
        cells[7] = exp;
        cells[8] = deployed;
        cells[9] = lim;
        cells[10] = col_text(st, 9);
        err = w->row(w->arg, cells, 11, why);
    }
    sqlite3_reset(st);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = lb_fail(why, store_err(rc), "listing keys: %s", sqlite3_errmsg(store_db(s)));
    return err;
}

enum lb_err rep_store_each_deployment_row(struct store *s, const struct rep_scope *sc,
                                          const char *key, const struct rep_row_writer *w,
                                          struct lb_why *why)
{
    static const char sql[] =
        "SELECT o.name, r.org, COALESCE(p.name, r.product), r.key, d.instance, d.host, "
        "d.product_version, d.activated_ms, d.last_seen_ms FROM rep_shown r "
        "JOIN lb_org o ON o.tenant = r.tenant AND o.id = r.org "
        "JOIN rep_deployments d ON d.tenant = r.tenant AND d.license = r.license AND d.active "
        "LEFT JOIN rep_products p ON p.id = r.product WHERE r.tenant = ?1 AND r.org_path >= ?2 "
        "AND r.org_path < ?3 AND r.delivery = 'on_premises' AND COALESCE(p.shown, 1) = 1 "
        "AND (?6 IS NULL OR r.key = ?6) ORDER BY r.org_path, r.license, d.instance";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_scope(st, sc);
    bind_text(st, 6, key);
    while (err == LB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char activated[32] = "", seen[32] = "";
        const char *cells[9];

        if (sqlite3_column_type(st, 7) != SQLITE_NULL)
            envelope_format_time(sqlite3_column_int64(st, 7), activated);
        if (sqlite3_column_type(st, 8) != SQLITE_NULL)
            envelope_format_time(sqlite3_column_int64(st, 8), seen);
        for (int i = 0; i < 7; i++)
            cells[i] = col_text(st, i);
        cells[7] = activated;
        cells[8] = seen;
        err = w->row(w->arg, cells, 9, why);
    }
    sqlite3_reset(st);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = lb_fail(why, store_err(rc), "listing deployments: %s", sqlite3_errmsg(store_db(s)));
    return err;
}

enum lb_err rep_store_each_consumption_row(struct store *s, const struct rep_scope *sc,
                                           const struct rep_row_writer *w, struct lb_why *why)
{
    static const char sql[] =
        "SELECT o.id, o.name, COALESCE(s.id, ''), COALESCE(s.package, ''), "
        "COALESCE(s.seat_basis, ''), COALESCE(s.status, ''), COALESCE(s.quantity, 0), "
        "(SELECT COUNT(*) FROM rep_seats e WHERE e.tenant = o.tenant AND e.subscription = s.id), "
        "(SELECT COUNT(*) FROM rep_devices d INDEXED BY rep_devices_by_customer "
        "WHERE d.tenant = o.tenant AND d.customer = o.id "
        " AND d.kind = 'business' AND d.installed), "
        "(SELECT COUNT(*) FROM rep_devices d INDEXED BY rep_devices_by_customer "
        "WHERE d.tenant = o.tenant AND d.customer = o.id "
        " AND d.kind = 'personal' AND d.installed), "
        "(SELECT COUNT(*) FROM rep_devices d INDEXED BY rep_devices_by_customer "
        "WHERE d.tenant = o.tenant AND d.customer = o.id "
        " AND NOT d.installed), "
        "(SELECT COUNT(*) FROM rep_devices d INDEXED BY rep_devices_by_customer "
        "WHERE d.tenant = o.tenant AND d.customer = o.id "
        " AND d.installed AND d.user IS NULL), "
        "COALESCE((SELECT released FROM rep_usage_counts u WHERE u.tenant = o.tenant "
        " AND u.customer = o.id), 0), "
        "COALESCE((SELECT purged FROM rep_usage_counts u WHERE u.tenant = o.tenant "
        " AND u.customer = o.id), 0) "
        "FROM lb_org o LEFT JOIN rep_subscriptions s INDEXED BY rep_subscriptions_by_customer "
        "ON s.tenant = o.tenant AND s.customer = o.id "
        "WHERE o.tenant = ?1 AND o.path >= ?2 AND o.path < ?3 AND o.kind = 3 AND o.deleted = 0 "
        "ORDER BY o.path, s.id";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_scope(st, sc);
    while (err == LB_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *cells[14];

        for (int i = 0; i < 14; i++)
            cells[i] = col_text(st, i);
        err = w->row(w->arg, cells, 14, why);
    }
    sqlite3_reset(st);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = lb_fail(why, store_err(rc), "listing consumption: %s", sqlite3_errmsg(store_db(s)));
    return err;
}

/* ---- exports ---- */

enum lb_err rep_store_export_put(struct store *s, const struct rep_export *e, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO rep_exports (id, tenant, org, report, format, bytes, chunks, rows, "
        "created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *st = store_stmt(s, sql, why);

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, e->id);
    bind_text(st, 2, e->tenant);
    bind_text(st, 3, e->org);
    bind_text(st, 4, e->report);
    bind_text(st, 5, e->format);
    sqlite3_bind_int64(st, 6, e->bytes);
    sqlite3_bind_int64(st, 7, e->chunks);
    sqlite3_bind_int64(st, 8, e->rows);
    sqlite3_bind_int64(st, 9, e->created_ms);
    sqlite3_bind_int64(st, 10, e->expires_ms);
    return store_step_done(s, st, why);
}

enum lb_err rep_store_export_get(struct store *s, const char *tenant, const char *id,
                                 struct rep_export *ret, struct lb_why *why)
{
    static const char sql[] = "SELECT org, report, format, bytes, chunks, rows, created_ms, "
                              "expires_ms FROM rep_exports WHERE tenant = ? AND id = ?";
    sqlite3_stmt *st = store_stmt(s, sql, why);
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    bind_text(st, 1, tenant);
    bind_text(st, 2, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        (void)snprintf(ret->id, sizeof(ret->id), "%s", id);
        (void)snprintf(ret->tenant, sizeof(ret->tenant), "%s", tenant);
        (void)snprintf(ret->org, sizeof(ret->org), "%s", col_text(st, 0));
        (void)snprintf(ret->report, sizeof(ret->report), "%s", col_text(st, 1));
        (void)snprintf(ret->format, sizeof(ret->format), "%s", col_text(st, 2));
        ret->bytes = sqlite3_column_int64(st, 3);
        ret->chunks = sqlite3_column_int64(st, 4);
        ret->rows = sqlite3_column_int64(st, 5);
        ret->created_ms = sqlite3_column_int64(st, 6);
        ret->expires_ms = sqlite3_column_int64(st, 7);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "export_id: no export %s (never made, or expired)", id);
    if (rc != SQLITE_ROW)
        return lb_fail(why, store_err(rc), "reading export: %s", sqlite3_errmsg(store_db(s)));
    return LB_OK;
}

enum lb_err rep_store_exports_expire(struct store *s, int64_t now_ms,
                                     void (*fn)(const char *id, const char *format, void *arg),
                                     void *arg, struct lb_why *why)
{
    static const char sel[] = "SELECT id, format FROM rep_exports WHERE expires_ms <= ? "
                              "ORDER BY expires_ms, id";
    static const char del[] = "DELETE FROM rep_exports WHERE expires_ms <= ?";
    sqlite3_stmt *st = store_stmt(s, sel, why);
    int rc;

    if (st == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(st, 1, now_ms);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(col_text(st, 0), col_text(st, 1), arg);
    if (rc != SQLITE_DONE)
        return step_failed(s, st, rc, "listing expired exports", why);
    sqlite3_reset(st);
    st = store_stmt(s, del, why);
    if (st == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(st, 1, now_ms);
    return store_step_done(s, st, why);
}
