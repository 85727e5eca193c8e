/*
 * store.c - the subscriptions service's tables; all of its SQL is here.
 *
 * Every per-tenant table is keyed (tenant, ...) so a tenant's rows are one
 * index range. Lookups on the hot paths (entitlement, membership events,
 * the trial sweep) are index lookups; the trial sweep reads a partial index
 * holding only in_trial subscriptions, ordered by trial end; an entitlement
 * is one statement. rebuild_marks is one row: the watermarks of D23.
 */
#include <stdio.h>
#include <string.h>

#include "subscriptions.h"

const struct store_migration subs_migrations[] = {
    {1, "CREATE TABLE packages ("
        "  id TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  updated_ms INTEGER NOT NULL"
        ") WITHOUT ROWID;"
        "CREATE TABLE package_features ("
        "  package TEXT NOT NULL,"
        "  feature TEXT NOT NULL,"
        "  PRIMARY KEY (package, feature)"
        ") WITHOUT ROWID;"
        "CREATE INDEX package_features_by_feature ON package_features (feature, package);"
        "CREATE TABLE customers ("
        "  tenant TEXT NOT NULL,"
        "  org TEXT NOT NULL,"
        "  active INTEGER NOT NULL,"
        "  version INTEGER NOT NULL,"
        "  updated_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, org)"
        ") WITHOUT ROWID;"
        "CREATE TABLE subscriptions ("
        "  tenant TEXT NOT NULL,"
        "  id TEXT NOT NULL,"
        "  customer TEXT NOT NULL,"
        "  package TEXT NOT NULL,"
        "  basis INTEGER NOT NULL,"
        "  quantity INTEGER NOT NULL,"
        "  status INTEGER NOT NULL," /* enum sub_status */
        "  trial_end_ms INTEGER,"
        "  billing_start_ms INTEGER,"
        "  billing_end_ms INTEGER,"
        "  version INTEGER NOT NULL,"
        "  created_ms INTEGER NOT NULL,"
        "  updated_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, id)"
        ") WITHOUT ROWID;"
        "CREATE INDEX subscriptions_by_customer ON subscriptions (tenant, customer, id);"
        /* Only in_trial rows, by trial end: the sweep finds due trials without a scan. */
        "CREATE INDEX subscriptions_trial_due ON subscriptions (trial_end_ms, tenant, id) "
        "  WHERE status = 0;"
        "CREATE TABLE groups ("
        "  tenant TEXT NOT NULL,"
        "  id TEXT NOT NULL,"
        "  org TEXT NOT NULL," /* '' for a tombstone of a group never seen alive */
        "  deleted INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, id)"
        ") WITHOUT ROWID;"
        "CREATE TABLE members ("
        "  tenant TEXT NOT NULL,"
        "  grp TEXT NOT NULL,"
        "  user TEXT NOT NULL,"
        "  PRIMARY KEY (tenant, grp, user)"
        ") WITHOUT ROWID;"
        "CREATE INDEX members_by_user ON members (tenant, user, grp);"
        "CREATE TABLE attachments ("
        "  tenant TEXT NOT NULL,"
        "  subscription TEXT NOT NULL,"
        "  grp TEXT NOT NULL,"
        "  PRIMARY KEY (tenant, subscription, grp)"
        ") WITHOUT ROWID;"
        "CREATE INDEX attachments_by_group ON attachments (tenant, grp, subscription);"
        "CREATE TABLE seats ("
        "  tenant TEXT NOT NULL,"
        "  subscription TEXT NOT NULL,"
        "  user TEXT NOT NULL,"
        "  grp TEXT NOT NULL," /* the granting group: the smallest attached group holding user */
        "  PRIMARY KEY (tenant, subscription, user)"
        ") WITHOUT ROWID;"
        "CREATE INDEX seats_by_user ON seats (tenant, user, subscription);"
        "CREATE TABLE devices ("
        "  tenant TEXT NOT NULL,"
        "  id TEXT NOT NULL,"
        "  org TEXT NOT NULL," /* '' when only an uninstall was seen */
        "  installed INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, id)"
        ") WITHOUT ROWID;"
        "CREATE INDEX devices_installed_by_org ON devices (tenant, org) WHERE installed = 1;"},
    /* The seed catalog (docs/services/subscriptions.md); package_update changes it. */
    {2, "INSERT INTO packages (id, name, version, updated_ms) VALUES "
        "  ('core', 'Core', 1, 0), ('core_plus', 'Core+', 1, 0);"
        "INSERT INTO package_features (package, feature) VALUES "
        "  ('core', 'web_protection'), ('core', 'url_filtering'),"
        "  ('core', 'phishing_protection'), ('core', 'usage_reports'),"
        "  ('core_plus', 'web_protection'), ('core_plus', 'url_filtering'),"
        "  ('core_plus', 'phishing_protection'), ('core_plus', 'usage_reports'),"
        "  ('core_plus', 'file_upload_control'), ('core_plus', 'file_download_control'),"
        "  ('core_plus', 'file_sandbox');"},
    /* Where this database is, and the newest watermarks read back from its own stream (D23). */
    {3, "CREATE TABLE rebuild_marks ("
        "  id INTEGER PRIMARY KEY CHECK (id = 1),"
        "  directory_last TEXT,"                     /* last directory event applied here */
        "  directory_mark TEXT,"                     /* newest directory watermark read back */
        "  directory_mark_reached INTEGER NOT NULL," /* ... and applied here since */
        "  sweep_last INTEGER,"                      /* time of the last sweep */
        "  sweep_mark INTEGER"                       /* newest sweep watermark read back */
        ");"
        "INSERT INTO rebuild_marks (id, directory_mark_reached) VALUES (1, 1);"},
};
const size_t subs_migration_count = sizeof(subs_migrations) / sizeof(subs_migrations[0]);

static enum lb_err step_error(struct store *s, int rc, const char *what, struct lb_why *why)
{
    return lb_fail(why, store_err(rc), "%s: %s", what, sqlite3_errmsg(store_db(s)));
}

static void bind_text(sqlite3_stmt *stmt, int i, const char *text)
{
    sqlite3_bind_text(stmt, i, text, -1, SQLITE_TRANSIENT);
}

static void bind_time(sqlite3_stmt *stmt, int i, int64_t ms)
{
    if (ms == SUBS_NO_TIME)
        sqlite3_bind_null(stmt, i);
    else
        sqlite3_bind_int64(stmt, i, ms);
}

static int64_t column_time(sqlite3_stmt *stmt, int i)
{
    return sqlite3_column_type(stmt, i) == SQLITE_NULL ? SUBS_NO_TIME
                                                       : sqlite3_column_int64(stmt, i);
}

static void copy_column(char *dst, size_t size, sqlite3_stmt *stmt, int i)
{
    const char *text = (const char *)sqlite3_column_text(stmt, i);

    (void)snprintf(dst, size, "%s", text ? text : "");
}

/* Runs a one-row lookup: LB_OK with the row current, LB_ENOTFOUND, or an error (reset). */
static enum lb_err step_one(struct store *s, sqlite3_stmt *stmt, const char *what,
                            struct lb_why *why)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW)
        return LB_OK;
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return LB_ENOTFOUND;
    return step_error(s, rc, what, why);
}

/* ---- packages ------------------------------------------------------------ */

enum lb_err subs_store_package_get(struct store *s, const char *id, char ret_name[],
                                   size_t name_size, int64_t *ret_version, struct lb_why *why)
{
    static const char sql[] = "SELECT name, version FROM packages WHERE id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, id);
    err = step_one(s, stmt, "reading a package", why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, err, "no package \"%s\"", id);
    if (err != LB_OK)
        return err;
    copy_column(ret_name, name_size, stmt, 0);
    *ret_version = sqlite3_column_int64(stmt, 1);
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_package_put(struct store *s, const char *id, const char *name,
                                   int64_t version, int64_t now_ms, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO packages (id, name, version, updated_ms) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET name = excluded.name, version = excluded.version, "
        "updated_ms = excluded.updated_ms";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, id);
    bind_text(stmt, 2, name);
    sqlite3_bind_int64(stmt, 3, version);
    sqlite3_bind_int64(stmt, 4, now_ms);
    return store_step_done(s, stmt, why);
}

enum lb_err subs_store_package_count(struct store *s, int64_t *ret_count, struct lb_why *why)
{
    static const char sql[] = "SELECT count(*) FROM packages";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    err = step_one(s, stmt, "counting packages", why);
    if (err != LB_OK)
        return err == LB_ENOTFOUND ? LB_EINTERNAL : err;
    *ret_count = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_features_clear(struct store *s, const char *package, struct lb_why *why)
{
    static const char sql[] = "DELETE FROM package_features WHERE package = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, package);
    return store_step_done(s, stmt, why);
}

enum lb_err subs_store_feature_add(struct store *s, const char *package, const char *feature,
                                   struct lb_why *why)
{
    static const char sql[] = "INSERT INTO package_features (package, feature) VALUES (?, ?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, package);
    bind_text(stmt, 2, feature);
    return store_step_done(s, stmt, why);
}

enum lb_err subs_store_features_json(struct store *s, const char *package, cJSON *into,
                                     struct lb_why *why)
{
    static const char sql[] =
        "SELECT feature FROM package_features WHERE package = ? ORDER BY feature";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, package);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!cJSON_AddItemToArray(into,
                                  cJSON_CreateString((const char *)sqlite3_column_text(stmt, 0))))
            err = lb_fail(why, LB_ENOMEM, "out of memory");
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_error(s, rc, "listing features", why);
    return err;
}

enum lb_err subs_store_each_package(struct store *s,
                                    enum lb_err (*fn)(const char *id, void *arg, struct lb_why *),
                                    void *arg, struct lb_why *why)
{
    static const char sql[] = "SELECT id FROM packages ORDER BY id";
    char ids[SUBS_PACKAGES_MAX][SUBS_NAME_ID_MAX + 1];
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int n = 0;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    /* Collected first: the callback runs other statements. */
    while (n < SUBS_PACKAGES_MAX && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        copy_column(ids[n++], sizeof(ids[0]), stmt, 0);
    sqlite3_reset(stmt);
    if (n < SUBS_PACKAGES_MAX && rc != SQLITE_DONE)
        return step_error(s, rc, "listing packages", why);
    for (int i = 0; i < n && err == LB_OK; i++)
        err = fn(ids[i], arg, why);
    return err;
}

enum lb_err subs_store_feature_known(struct store *s, const char *feature, bool *ret_known,
                                     struct lb_why *why)
{
    static const char sql[] = "SELECT 1 FROM package_features WHERE feature = ? LIMIT 1";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, feature);
    err = step_one(s, stmt, "looking up a feature", why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    sqlite3_reset(stmt);
    *ret_known = err == LB_OK;
    return LB_OK;
}

/* ---- customers ----------------------------------------------------------- */

enum lb_err subs_store_customer_get(struct store *s, const char *tenant, const char *org,
                                    struct customer *ret, struct lb_why *why)
{
    static const char sql[] =
        "SELECT active, version, updated_ms FROM customers WHERE tenant = ? AND org = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, org);
    err = step_one(s, stmt, "reading a customer", why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, err, "org \"%s\" is not a registered customer", org);
    if (err != LB_OK)
        return err;
    (void)snprintf(ret->org, sizeof(ret->org), "%s", org);
    ret->active = sqlite3_column_int(stmt, 0) != 0;
    ret->version = sqlite3_column_int64(stmt, 1);
    ret->updated_ms = sqlite3_column_int64(stmt, 2);
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_customer_put(struct store *s, const char *tenant, const struct customer *c,
                                    struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO customers (tenant, org, active, version, updated_ms) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, org) DO UPDATE SET active = excluded.active, "
        "version = excluded.version, updated_ms = excluded.updated_ms";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, c->org);
    sqlite3_bind_int(stmt, 3, c->active ? 1 : 0);
    sqlite3_bind_int64(stmt, 4, c->version);
    sqlite3_bind_int64(stmt, 5, c->updated_ms);
    return store_step_done(s, stmt, why);
}

/* ---- subscriptions ------------------------------------------------------- */

#define SUB_COLUMNS                                                                                \
    "id, customer, package, basis, quantity, status, trial_end_ms, billing_start_ms, "             \
    "billing_end_ms, version, created_ms, updated_ms"

static void read_sub(sqlite3_stmt *stmt, struct subscription *sub)
{
    copy_column(sub->id, sizeof(sub->id), stmt, 0);
    copy_column(sub->customer, sizeof(sub->customer), stmt, 1);
    copy_column(sub->package, sizeof(sub->package), stmt, 2);
    sub->basis = (enum seat_basis)sqlite3_column_int(stmt, 3);
    sub->quantity = sqlite3_column_int64(stmt, 4);
    sub->status = (enum sub_status)sqlite3_column_int(stmt, 5);
    sub->trial_end_ms = column_time(stmt, 6);
    sub->billing_start_ms = column_time(stmt, 7);
    sub->billing_end_ms = column_time(stmt, 8);
    sub->version = sqlite3_column_int64(stmt, 9);
    sub->created_ms = sqlite3_column_int64(stmt, 10);
    sub->updated_ms = sqlite3_column_int64(stmt, 11);
}

enum lb_err subs_store_sub_get(struct store *s, const char *tenant, const char *id,
                               struct subscription *ret, struct lb_why *why)
{
    static const char sql[] =
        "SELECT " SUB_COLUMNS " FROM subscriptions WHERE tenant = ? AND id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, id);
    err = step_one(s, stmt, "reading a subscription", why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, err, "no subscription \"%s\"", id);
    if (err != LB_OK)
        return err;
    read_sub(stmt, ret);
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_sub_put(struct store *s, const char *tenant, const struct subscription *sub,
                               struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO subscriptions (tenant, " SUB_COLUMNS ") "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, id) DO UPDATE SET quantity = excluded.quantity, "
        "status = excluded.status, trial_end_ms = excluded.trial_end_ms, "
        "billing_start_ms = excluded.billing_start_ms, billing_end_ms = excluded.billing_end_ms, "
        "version = excluded.version, updated_ms = excluded.updated_ms";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub->id);
    bind_text(stmt, 3, sub->customer);
    bind_text(stmt, 4, sub->package);
    sqlite3_bind_int(stmt, 5, (int)sub->basis);
    sqlite3_bind_int64(stmt, 6, sub->quantity);
    sqlite3_bind_int(stmt, 7, (int)sub->status);
    bind_time(stmt, 8, sub->trial_end_ms);
    bind_time(stmt, 9, sub->billing_start_ms);
    bind_time(stmt, 10, sub->billing_end_ms);
    sqlite3_bind_int64(stmt, 11, sub->version);
    sqlite3_bind_int64(stmt, 12, sub->created_ms);
    sqlite3_bind_int64(stmt, 13, sub->updated_ms);
    return store_step_done(s, stmt, why);
}

enum lb_err subs_store_each_sub_of_customer(struct store *s, const char *tenant,
                                            const char *customer, int limit, subs_sub_fn fn,
                                            void *arg, struct lb_why *why)
{
    static const char sql[] = "SELECT " SUB_COLUMNS " FROM subscriptions "
                              "INDEXED BY subscriptions_by_customer "
                              "WHERE tenant = ? AND customer = ? ORDER BY id LIMIT ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, customer);
    sqlite3_bind_int(stmt, 3, limit);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct subscription sub;

        read_sub(stmt, &sub);
        err = fn(&sub, arg, why); /* read-only callers: the statement stays open */
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_error(s, rc, "listing subscriptions", why);
    return err;
}

enum lb_err subs_store_trials_due(struct store *s, int64_t now_ms, int max,
                                  char (*ret_tenants)[SUBS_ORG_MAX + 1],
                                  char (*ret_ids)[SUBS_ENTITY_MAX + 1], int *ret_count,
                                  struct lb_why *why)
{
    /* `status = 0` selects the partial index subscriptions_trial_due. */
    static const char sql[] = "SELECT tenant, id FROM subscriptions INDEXED BY "
                              "subscriptions_trial_due WHERE status = 0 AND trial_end_ms <= ? "
                              "ORDER BY trial_end_ms, tenant, id LIMIT ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int n = 0;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, now_ms);
    sqlite3_bind_int(stmt, 2, max);
    while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        copy_column(ret_tenants[n], SUBS_ORG_MAX + 1, stmt, 0);
        copy_column(ret_ids[n], SUBS_ENTITY_MAX + 1, stmt, 1);
        n++;
    }
    sqlite3_reset(stmt);
    if (n < max && rc != SQLITE_DONE)
        return step_error(s, rc, "listing due trials", why);
    *ret_count = n;
    return LB_OK;
}

enum lb_err subs_store_seat_count(struct store *s, const char *tenant, const char *sub,
                                  int64_t *ret_count, struct lb_why *why)
{
    static const char sql[] = "SELECT count(*) FROM seats WHERE tenant = ? AND subscription = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub);
    err = step_one(s, stmt, "counting seats", why);
    if (err != LB_OK)
        return err == LB_ENOTFOUND ? LB_EINTERNAL : err;
    *ret_count = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    return LB_OK;
}

/* ---- groups and membership ------------------------------------------------ */

enum lb_err subs_store_group_get(struct store *s, const char *tenant, const char *group,
                                 char ret_org[SUBS_ORG_MAX + 1], bool *ret_deleted,
                                 struct lb_why *why)
{
    static const char sql[] = "SELECT org, deleted FROM groups WHERE tenant = ? AND id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, group);
    err = step_one(s, stmt, "reading a group", why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, err, "no group \"%s\"", group);
    if (err != LB_OK)
        return err;
    copy_column(ret_org, SUBS_ORG_MAX + 1, stmt, 0);
    *ret_deleted = sqlite3_column_int(stmt, 1) != 0;
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_group_put(struct store *s, const char *tenant, const char *group,
                                 const char *org, bool deleted, struct lb_why *why)
{
    static const char sql[] = "INSERT INTO groups (tenant, id, org, deleted) VALUES (?, ?, ?, ?) "
                              "ON CONFLICT (tenant, id) DO UPDATE SET org = excluded.org, "
                              "deleted = excluded.deleted";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, group);
    bind_text(stmt, 3, org);
    sqlite3_bind_int(stmt, 4, deleted ? 1 : 0);
    return store_step_done(s, stmt, why);
}

static enum lb_err run_changes(struct store *s, sqlite3_stmt *stmt, bool *ret_changed,
                               struct lb_why *why)
{
    enum lb_err err = store_step_done(s, stmt, why);

    if (err == LB_OK && ret_changed != NULL)
        *ret_changed = sqlite3_changes(store_db(s)) > 0;
    return err;
}

enum lb_err subs_store_member_add(struct store *s, const char *tenant, const char *group,
                                  const char *user, bool *ret_changed, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO members (tenant, grp, user) VALUES (?, ?, ?) ON CONFLICT DO NOTHING";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, group);
    bind_text(stmt, 3, user);
    return run_changes(s, stmt, ret_changed, why);
}

enum lb_err subs_store_member_remove(struct store *s, const char *tenant, const char *group,
                                     const char *user, bool *ret_changed, struct lb_why *why)
{
    static const char sql[] = "DELETE FROM members WHERE tenant = ? AND grp = ? AND user = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, group);
    bind_text(stmt, 3, user);
    return run_changes(s, stmt, ret_changed, why);
}

enum lb_err subs_store_members_clear_group(struct store *s, const char *tenant, const char *group,
                                           struct lb_why *why)
{
    static const char sql[] = "DELETE FROM members WHERE tenant = ? AND grp = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, group);
    return store_step_done(s, stmt, why);
}

enum lb_err subs_store_members_clear_user(struct store *s, const char *tenant, const char *user,
                                          struct lb_why *why)
{
    static const char sql[] = "DELETE FROM members WHERE tenant = ? AND user = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    return store_step_done(s, stmt, why);
}

/*
 * Reads the ids a statement yields into memory, then calls `fn` for each:
 * the callbacks write to the tables being read, and SQLite promises nothing
 * about a statement reading rows that another one changes. A cJSON array
 * holds the list (bounded by a group's or subscription's size).
 */
static enum lb_err collect_then_call(struct store *s, sqlite3_stmt *stmt, struct service *svc,
                                     subs_id_fn fn, void *arg, const char *what, struct lb_why *why)
{
    cJSON *ids = cJSON_CreateArray();
    const cJSON *id;
    enum lb_err err = LB_OK;
    int rc = SQLITE_DONE;

    if (ids == NULL) {
        sqlite3_reset(stmt);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!cJSON_AddItemToArray(ids,
                                  cJSON_CreateString((const char *)sqlite3_column_text(stmt, 0))))
            err = lb_fail(why, LB_ENOMEM, "out of memory");
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_error(s, rc, what, why);
    cJSON_ArrayForEach(id, ids)
    {
        if (err != LB_OK)
            break;
        err = fn(svc, id->valuestring, arg, why);
    }
    cJSON_Delete(ids);
    return err;
}

enum lb_err subs_store_each_member(struct store *s, struct service *svc, const char *tenant,
                                   const char *group, subs_id_fn fn, void *arg, struct lb_why *why)
{
    static const char sql[] = "SELECT user FROM members WHERE tenant = ? AND grp = ? ORDER BY user";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, group);
    return collect_then_call(s, stmt, svc, fn, arg, "listing members", why);
}

/* ---- attachments --------------------------------------------------------- */

enum lb_err subs_store_attach(struct store *s, const char *tenant, const char *sub,
                              const char *group, bool *ret_added, struct lb_why *why)
{
    static const char sql[] =
        "INSERT INTO attachments (tenant, subscription, grp) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub);
    bind_text(stmt, 3, group);
    return run_changes(s, stmt, ret_added, why);
}

enum lb_err subs_store_detach(struct store *s, const char *tenant, const char *sub,
                              const char *group, bool *ret_removed, struct lb_why *why)
{
    static const char sql[] =
        "DELETE FROM attachments WHERE tenant = ? AND subscription = ? AND grp = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub);
    bind_text(stmt, 3, group);
    return run_changes(s, stmt, ret_removed, why);
}

enum lb_err subs_store_each_attached_sub(struct store *s, struct service *svc, const char *tenant,
                                         const char *group, subs_id_fn fn, void *arg,
                                         struct lb_why *why)
{
    static const char sql[] = "SELECT subscription FROM attachments WHERE tenant = ? AND grp = ? "
                              "ORDER BY subscription";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, group);
    return collect_then_call(s, stmt, svc, fn, arg, "listing attachments", why);
}

enum lb_err subs_store_attached_groups_json(struct store *s, const char *tenant, const char *sub,
                                            cJSON *into, struct lb_why *why)
{
    static const char sql[] = "SELECT grp FROM attachments WHERE tenant = ? AND subscription = ? "
                              "ORDER BY grp";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!cJSON_AddItemToArray(into,
                                  cJSON_CreateString((const char *)sqlite3_column_text(stmt, 0))))
            err = lb_fail(why, LB_ENOMEM, "out of memory");
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_error(s, rc, "listing attached groups", why);
    return err;
}

enum lb_err subs_store_detach_all(struct store *s, const char *tenant, const char *sub,
                                  struct lb_why *why)
{
    static const char sql[] = "DELETE FROM attachments WHERE tenant = ? AND subscription = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub);
    return store_step_done(s, stmt, why);
}

/* ---- seats --------------------------------------------------------------- */

enum lb_err subs_store_seat_grantor(struct store *s, const char *tenant, const char *sub,
                                    const char *user, char ret_group[SUBS_ENTITY_MAX + 1],
                                    struct lb_why *why)
{
    static const char sql[] = "SELECT min(a.grp) FROM attachments a JOIN members m "
                              "ON m.tenant = a.tenant AND m.grp = a.grp AND m.user = ? "
                              "WHERE a.tenant = ? AND a.subscription = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, user);
    bind_text(stmt, 2, tenant);
    bind_text(stmt, 3, sub);
    err = step_one(s, stmt, "finding a seat's group", why);
    if (err != LB_OK)
        return err == LB_ENOTFOUND ? LB_EINTERNAL : err;
    if (sqlite3_column_type(stmt, 0) == SQLITE_NULL)
        err = LB_ENOTFOUND;
    else
        copy_column(ret_group, SUBS_ENTITY_MAX + 1, stmt, 0);
    sqlite3_reset(stmt);
    return err;
}

enum lb_err subs_store_seat_get(struct store *s, const char *tenant, const char *sub,
                                const char *user, char ret_group[SUBS_ENTITY_MAX + 1],
                                struct lb_why *why)
{
    static const char sql[] =
        "SELECT grp FROM seats WHERE tenant = ? AND subscription = ? AND user = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub);
    bind_text(stmt, 3, user);
    err = step_one(s, stmt, "reading a seat", why);
    if (err != LB_OK)
        return err;
    copy_column(ret_group, SUBS_ENTITY_MAX + 1, stmt, 0);
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_seat_set(struct store *s, const char *tenant, const char *sub,
                                const char *user, const char *group, struct lb_why *why)
{
    static const char put[] =
        "INSERT INTO seats (tenant, subscription, user, grp) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant, subscription, user) DO UPDATE SET grp = excluded.grp";
    static const char del[] =
        "DELETE FROM seats WHERE tenant = ? AND subscription = ? AND user = ?";
    sqlite3_stmt *stmt = store_stmt(s, group ? put : del, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub);
    bind_text(stmt, 3, user);
    if (group != NULL)
        bind_text(stmt, 4, group);
    return store_step_done(s, stmt, why);
}

enum lb_err subs_store_each_seat_user(struct store *s, struct service *svc, const char *tenant,
                                      const char *sub, subs_id_fn fn, void *arg, struct lb_why *why)
{
    static const char sql[] =
        "SELECT user FROM seats WHERE tenant = ? AND subscription = ? ORDER BY user";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub);
    return collect_then_call(s, stmt, svc, fn, arg, "listing seats", why);
}

enum lb_err subs_store_each_seat_of_user(struct store *s, struct service *svc, const char *tenant,
                                         const char *user, subs_id_fn fn, void *arg,
                                         struct lb_why *why)
{
    static const char sql[] =
        "SELECT subscription FROM seats WHERE tenant = ? AND user = ? ORDER BY subscription";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    return collect_then_call(s, stmt, svc, fn, arg, "listing a user's seats", why);
}

/* ---- devices ------------------------------------------------------------- */

enum lb_err subs_store_device_put(struct store *s, const char *tenant, const char *device,
                                  const char *org, bool installed, struct lb_why *why)
{
    static const char with_org[] =
        "INSERT INTO devices (tenant, id, org, installed) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (tenant, id) DO UPDATE SET org = excluded.org, installed = excluded.installed";
    static const char keep_org[] =
        "INSERT INTO devices (tenant, id, org, installed) VALUES (?, ?, '', ?) "
        "ON CONFLICT (tenant, id) DO UPDATE SET installed = excluded.installed";
    sqlite3_stmt *stmt = store_stmt(s, org ? with_org : keep_org, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, device);
    if (org != NULL) {
        bind_text(stmt, 3, org);
        sqlite3_bind_int(stmt, 4, installed ? 1 : 0);
    } else {
        sqlite3_bind_int(stmt, 3, installed ? 1 : 0);
    }
    return store_step_done(s, stmt, why);
}

enum lb_err subs_store_device_get(struct store *s, const char *tenant, const char *device,
                                  char ret_org[SUBS_ORG_MAX + 1], bool *ret_installed,
                                  struct lb_why *why)
{
    static const char sql[] = "SELECT org, installed FROM devices WHERE tenant = ? AND id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, device);
    err = step_one(s, stmt, "reading a device", why);
    if (err != LB_OK)
        return err;
    copy_column(ret_org, SUBS_ORG_MAX + 1, stmt, 0);
    *ret_installed = sqlite3_column_int(stmt, 1) != 0;
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_installed_in_org(struct store *s, const char *tenant, const char *org,
                                        int64_t *ret_count, struct lb_why *why)
{
    static const char sql[] = "SELECT count(*) FROM devices INDEXED BY devices_installed_by_org "
                              "WHERE tenant = ? AND org = ? AND installed = 1";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, org);
    err = step_one(s, stmt, "counting installed devices", why);
    if (err != LB_OK)
        return err == LB_ENOTFOUND ? LB_EINTERNAL : err;
    *ret_count = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    return LB_OK;
}

/* ---- entitlement --------------------------------------------------------- */

/*
 * The candidates in id order, straight from an index (no sort): the first
 * granting one is the best, else the first. Through the user's seats
 * (seats_by_user, then primary keys) ...
 */
#define BEST_BY_SEAT                                                                               \
    "SELECT s.id, s.status FROM seats st "                                                         \
    "JOIN subscriptions s ON s.tenant = st.tenant AND s.id = st.subscription "                     \
    "JOIN package_features f ON f.package = s.package AND f.feature = ?3 "                         \
    "WHERE st.tenant = ?1 AND st.user = ?2 AND s.customer = ?4 AND s.status <> 3 "                 \
    "AND s.basis IN (0, 2) ORDER BY st.subscription"
/* ... or through the customer's subscriptions (subscriptions_by_customer, forced: the planner
 * would rather walk the tenant's primary key range). */
#define BEST_BY_CUSTOMER                                                                           \
    "SELECT s.id, s.status FROM subscriptions s INDEXED BY subscriptions_by_customer "             \
    "JOIN package_features f ON f.package = s.package AND f.feature = ?3 "                         \
    "WHERE s.tenant = ?1 AND s.customer = ?2 AND s.status <> 3 "                                   \
    "AND (?4 = 0 OR (?4 = 1 AND s.basis IN (0, 2)) OR (?4 = 2 AND s.basis IN (1, 2))) "            \
    "ORDER BY s.id"

const char subs_store_best_by_seat_sql[] = BEST_BY_SEAT;
const char subs_store_best_by_customer_sql[] = BEST_BY_CUSTOMER;

enum lb_err subs_store_best_sub(struct store *s, const char *tenant, const char *customer,
                                const char *user, const char *feature, enum ent_want want,
                                char ret_id[SUBS_ENTITY_MAX + 1], enum sub_status *ret_status,
                                struct lb_why *why)
{
    sqlite3_stmt *stmt =
        store_stmt(s, user ? subs_store_best_by_seat_sql : subs_store_best_by_customer_sql, why);
    enum sub_status status = SUB_CANCELLED;
    bool found = false;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    /* SQLITE_STATIC: the strings outlive the statement's steps and its reset below. */
    sqlite3_bind_text(stmt, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, feature, -1, SQLITE_STATIC);
    if (user != NULL) {
        sqlite3_bind_text(stmt, 2, user, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 4, customer, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(stmt, 2, customer, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 4, (int)want);
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        enum sub_status st = (enum sub_status)sqlite3_column_int(stmt, 1);

        if (!found || (sub_status_grants(st) && !sub_status_grants(status))) {
            copy_column(ret_id, SUBS_ENTITY_MAX + 1, stmt, 0);
            status = st;
            found = true;
        }
        if (sub_status_grants(st))
            break; /* the first granting one: nothing better follows */
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return step_error(s, rc, "looking up an entitlement", why);
    if (!found)
        return LB_ENOTFOUND;
    *ret_status = status;
    return LB_OK;
}

enum lb_err subs_store_entitlement(struct store *s, const char *tenant, const char *customer,
                                   const char *user, const char *feature, enum ent_want want,
                                   struct ent_facts *ret, struct lb_why *why)
{
    static const char sql[] =
        "SELECT active, EXISTS (SELECT 1 FROM package_features WHERE feature = ?3) "
        "FROM customers WHERE tenant = ?1 AND org = ?2";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    struct ent_facts facts = {.status = SUB_CANCELLED};
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, customer, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, feature, -1, SQLITE_STATIC);
    err = step_one(s, stmt, "reading a customer", why);
    if (err == LB_OK) {
        facts.registered = true;
        facts.active = sqlite3_column_int(stmt, 0) != 0;
        facts.known_feature = sqlite3_column_int(stmt, 1) != 0;
        sqlite3_reset(stmt);
    }
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = LB_OK;
    /* The subscription only when it could be the answer. */
    if (facts.active && facts.known_feature)
        err = subs_store_best_sub(s, tenant, customer, user, feature, want, facts.sub,
                                  &facts.status, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    *ret = facts;
    return LB_OK;
}

/* ---- rebuild watermarks (D23) ------------------------------------------------ */

enum lb_err subs_store_marks_directory(struct store *s, const char *event_id, bool *ret_old,
                                       struct lb_why *why)
{
    /* RETURNING sees the new row: "not reached" or "this is the mark" means it was not reached
     * before this event, which is therefore old. */
    static const char sql[] =
        "UPDATE rebuild_marks SET directory_last = ?1, "
        "directory_mark_reached = directory_mark_reached OR coalesce(directory_mark = ?1, 0) "
        "WHERE id = 1 RETURNING directory_mark_reached = 0 OR coalesce(directory_mark = ?1, 0)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, event_id);
    err = step_one(s, stmt, "recording the last directory event", why);
    if (err != LB_OK)
        return err == LB_ENOTFOUND ? lb_fail(why, LB_EINTERNAL, "no rebuild_marks row") : err;
    *ret_old = sqlite3_column_int(stmt, 0) != 0;
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_marks_sweep(struct store *s, int64_t now_ms, bool *ret_old,
                                   struct lb_why *why)
{
    static const char sql[] = "UPDATE rebuild_marks SET sweep_last = ?1 WHERE id = 1 "
                              "RETURNING coalesce(?1 <= sweep_mark, 0)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, now_ms);
    err = step_one(s, stmt, "recording the sweep", why);
    if (err != LB_OK)
        return err == LB_ENOTFOUND ? lb_fail(why, LB_EINTERNAL, "no rebuild_marks row") : err;
    *ret_old = sqlite3_column_int(stmt, 0) != 0;
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_marks_get(struct store *s, char ret_directory[ENVELOPE_ID_MAX + 1],
                                 int64_t *ret_sweep_ms, struct lb_why *why)
{
    static const char sql[] = "SELECT directory_last, sweep_last FROM rebuild_marks WHERE id = 1";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    err = step_one(s, stmt, "reading the watermarks", why);
    if (err != LB_OK)
        return err == LB_ENOTFOUND ? lb_fail(why, LB_EINTERNAL, "no rebuild_marks row") : err;
    copy_column(ret_directory, ENVELOPE_ID_MAX + 1, stmt, 0);
    *ret_sweep_ms = column_time(stmt, 1);
    sqlite3_reset(stmt);
    return LB_OK;
}

enum lb_err subs_store_marks_read(struct store *s, const char *directory, bool reached,
                                  int64_t sweep_ms, struct lb_why *why)
{
    static const char sql[] =
        "UPDATE rebuild_marks SET directory_mark = coalesce(?1, directory_mark), "
        "directory_mark_reached = CASE WHEN ?1 IS NULL THEN directory_mark_reached ELSE ?2 END, "
        "sweep_mark = CASE WHEN ?3 IS NULL THEN sweep_mark "
        "ELSE max(coalesce(sweep_mark, ?3), ?3) END WHERE id = 1";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    if (directory != NULL)
        bind_text(stmt, 1, directory);
    sqlite3_bind_int(stmt, 2, reached ? 1 : 0);
    bind_time(stmt, 3, sweep_ms);
    return store_step_done(s, stmt, why);
}
