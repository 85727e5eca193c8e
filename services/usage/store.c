/*
 * store.c - usage's tables; all of its SQL is here.
 *
 * Times are ms since the epoch; a time that is "not set" is NULL in the
 * database (so the sweep's partial indexes hold only the rows they need)
 * and 0 in the row structs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"

const struct store_migration usage_migrations[] = {
    {1, "CREATE TABLE users ("
        "  tenant TEXT NOT NULL,"
        "  user TEXT NOT NULL,"
        "  org TEXT NOT NULL,"
        "  customer TEXT NOT NULL,"
        "  known INTEGER NOT NULL,"      /* 1 once user_created is applied */
        "  email TEXT,"                  /* personal: NULL once purged */
        "  display_name TEXT,"           /* personal: NULL once purged */
        "  seat_count INTEGER NOT NULL," /* rows of seats for this user */
        "  created_ms INTEGER NOT NULL,"
        "  last_active_ms INTEGER NOT NULL,"
        "  released_ms INTEGER,"        /* inactivity release */
        "  license_removed_ms INTEGER," /* retention starts here */
        "  purged_ms INTEGER,"
        "  deleted_ms INTEGER,"
        "  PRIMARY KEY (tenant, user)"
        ") WITHOUT ROWID;"
        /* The sweep's two queries read only the rows they may act on. */
        "CREATE INDEX users_due_release ON users (last_active_ms, tenant, user) "
        "  WHERE seat_count > 0 AND released_ms IS NULL AND deleted_ms IS NULL;"
        "CREATE INDEX users_due_purge ON users (license_removed_ms, tenant, user) "
        "  WHERE purged_ms IS NULL AND license_removed_ms IS NOT NULL;"
        "CREATE TABLE devices ("
        "  tenant TEXT NOT NULL,"
        "  device TEXT NOT NULL,"
        "  org TEXT NOT NULL,"
        "  customer TEXT NOT NULL,"
        "  kind TEXT NOT NULL,"
        "  hostname TEXT NOT NULL,"
        "  os TEXT NOT NULL,"
        "  installed INTEGER NOT NULL,"
        "  user TEXT," /* NULL: associated with nobody */
        "  installed_ms INTEGER NOT NULL,"
        "  uninstalled_ms INTEGER,"
        "  last_seen_ms INTEGER NOT NULL," /* heartbeats write only this column */
        "  PRIMARY KEY (tenant, device)"
        ") WITHOUT ROWID;"
        "CREATE INDEX devices_by_state ON devices (tenant, customer, installed, user);"
        "CREATE INDEX devices_by_customer ON devices (tenant, customer, device);"
        "CREATE INDEX devices_by_user ON devices (tenant, user) WHERE user IS NOT NULL;"
        "CREATE TABLE seats ("
        "  tenant TEXT NOT NULL,"
        "  subscription TEXT NOT NULL,"
        "  user TEXT NOT NULL,"
        "  grp TEXT NOT NULL," /* '' when assigned without a group */
        "  customer TEXT NOT NULL,"
        "  assigned_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, subscription, user, grp)"
        ") WITHOUT ROWID;"
        "CREATE INDEX seats_by_user ON seats (tenant, user, subscription);"
        "CREATE TABLE subscriptions ("
        "  tenant TEXT NOT NULL,"
        "  subscription TEXT NOT NULL,"
        "  customer TEXT NOT NULL,"
        "  package TEXT NOT NULL,"
        "  seat_basis TEXT NOT NULL,"
        "  quantity INTEGER NOT NULL,"
        "  status TEXT NOT NULL,"
        "  over INTEGER NOT NULL DEFAULT 0," /* over-consumption last reported */
        "  updated_ms INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, subscription)"
        ") WITHOUT ROWID;"
        "CREATE INDEX subscriptions_by_customer ON subscriptions (tenant, customer, subscription);"
        "CREATE TABLE scans ("
        "  tenant TEXT NOT NULL,"
        "  key TEXT NOT NULL,"
        "  day TEXT NOT NULL,"
        "  org TEXT NOT NULL,"
        "  scans INTEGER NOT NULL,"
        "  PRIMARY KEY (tenant, key, day, org)"
        ") WITHOUT ROWID;"},
    /*
     * The journal (journal.c, decisions D20): every user, device and subscription row has a
     * revision; the triggers note each row a change touches (not heartbeat times, not the
     * revision itself) in journal_dirty, and the change's handler announces those rows in
     * state_changed before the dirty list is emptied. A device's user is noted too, before
     * and after the change: what covers a user's devices is part of the user's record.
     * Keep it so: a handler that changed a user row in place would not be announced.
     */
    {2, "ALTER TABLE users ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;"
        /* When the personal fields were last written (user_created / user_updated): a sweep
         * purges only what existed at its time, so a tick read again after newer data (a
         * rebuild) does not purge it. */
        "ALTER TABLE users ADD COLUMN personal_ms INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE devices ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE subscriptions ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;"
        /* kind: 1 user, 2 device, 3 subscription (enum usage_kind). */
        "CREATE TABLE journal_dirty ("
        "  kind INTEGER NOT NULL, tenant TEXT NOT NULL, id TEXT NOT NULL,"
        "  PRIMARY KEY (tenant, kind, id)"
        ") WITHOUT ROWID;"
        "CREATE TRIGGER users_journal_insert AFTER INSERT ON users BEGIN"
        "  INSERT OR IGNORE INTO journal_dirty VALUES (1, NEW.tenant, NEW.user); END;"
        /* No UPDATE trigger on users: every change a handler makes writes the whole row
         * (usage_store_user_put); the in-place updates are the heartbeat's time, the sweep's
         * release and purge (announced by their own events, each with the revision: a sweep
         * over a million users notes nothing) and the revision itself. */
        /* INSERT OR REPLACE: the row replaced is still there before the insert. */
        "CREATE TRIGGER devices_journal_replace BEFORE INSERT ON devices BEGIN"
        "  INSERT OR IGNORE INTO journal_dirty SELECT 1, tenant, user FROM devices"
        "  WHERE tenant = NEW.tenant AND device = NEW.device AND user IS NOT NULL; END;"
        "CREATE TRIGGER devices_journal_insert AFTER INSERT ON devices BEGIN"
        "  INSERT OR IGNORE INTO journal_dirty VALUES (2, NEW.tenant, NEW.device);"
        "  INSERT OR IGNORE INTO journal_dirty SELECT 1, NEW.tenant, NEW.user"
        "  WHERE NEW.user IS NOT NULL; END;"
        "CREATE TRIGGER devices_journal_update AFTER UPDATE OF org, customer, kind, hostname, os,"
        "  installed, user, installed_ms, uninstalled_ms ON devices BEGIN"
        "  INSERT OR IGNORE INTO journal_dirty VALUES (2, NEW.tenant, NEW.device);"
        "  INSERT OR IGNORE INTO journal_dirty SELECT 1, OLD.tenant, OLD.user"
        "  WHERE OLD.user IS NOT NULL;"
        "  INSERT OR IGNORE INTO journal_dirty SELECT 1, NEW.tenant, NEW.user"
        "  WHERE NEW.user IS NOT NULL; END;"
        "CREATE TRIGGER seats_journal_insert AFTER INSERT ON seats BEGIN"
        "  INSERT OR IGNORE INTO journal_dirty VALUES (1, NEW.tenant, NEW.user); END;"
        "CREATE TRIGGER seats_journal_delete AFTER DELETE ON seats BEGIN"
        "  INSERT OR IGNORE INTO journal_dirty VALUES (1, OLD.tenant, OLD.user); END;"
        "CREATE TRIGGER subscriptions_journal_insert AFTER INSERT ON subscriptions BEGIN"
        "  INSERT OR IGNORE INTO journal_dirty VALUES (3, NEW.tenant, NEW.subscription); END;"
        "CREATE TRIGGER subscriptions_journal_update AFTER UPDATE OF customer, package,"
        "  seat_basis, quantity, status, over, updated_ms ON subscriptions BEGIN"
        "  INSERT OR IGNORE INTO journal_dirty VALUES (3, NEW.tenant, NEW.subscription); END;"
        /* Platform events whose effect a restore brought back: not applied again. */
        "CREATE TABLE restored_causes (cause TEXT PRIMARY KEY) WITHOUT ROWID;"
        /* enum usage_phase: a database this migration starts empty is new (1), else done (3). */
        "CREATE TABLE restore (id INTEGER PRIMARY KEY CHECK (id = 1), phase INTEGER NOT NULL);"
        "INSERT INTO restore (id, phase) SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM users) OR "
        "EXISTS (SELECT 1 FROM devices) OR EXISTS (SELECT 1 FROM subscriptions) THEN 3 ELSE 1 "
        "END;"}, /* The runtime orders a rebuild now (D28): no phase of its own. */
    {3, "DROP TABLE restore;"},
};
const size_t usage_migration_count = sizeof(usage_migrations) / sizeof(usage_migrations[0]);

static void col_copy(sqlite3_stmt *stmt, int col, char *dst, size_t size)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);

    snprintf(dst, size, "%s", text != NULL ? (const char *)text : "");
}

static void bind_time(sqlite3_stmt *stmt, int i, int64_t ms)
{
    if (ms == 0)
        sqlite3_bind_null(stmt, i);
    else
        sqlite3_bind_int64(stmt, i, ms);
}

/*
 * Binds without a copy: every caller steps the statement while `text` lives,
 * and store_stmt clears the bindings before the statement is used again.
 */
static void bind_text(sqlite3_stmt *stmt, int i, const char *text)
{
    sqlite3_bind_text(stmt, i, text, -1, SQLITE_STATIC);
}

static enum lb_err step_fail(struct store *s, int rc, const char *what, struct lb_why *why)
{
    return lb_fail(why, store_err(rc), "%s: %s", what, sqlite3_errmsg(store_db(s)));
}

/* ---- users ------------------------------------------------------------------ */

enum lb_err usage_store_user_get(struct store *s, const char *tenant, const char *user,
                                 struct user_row *ret, struct lb_why *why)
{
    static const char sql[] =
        "SELECT org, customer, known, email, display_name, seat_count, created_ms, "
        "last_active_ms, released_ms, license_removed_ms, purged_ms, deleted_ms, rev, personal_ms "
        "FROM users WHERE tenant = ? AND user = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        struct user_row u = {0};

        /* `user` may point into *ret: copy it before clearing *ret. */
        snprintf(u.id, sizeof(u.id), "%s", user);
        *ret = u;
        col_copy(stmt, 0, ret->org, sizeof(ret->org));
        col_copy(stmt, 1, ret->customer, sizeof(ret->customer));
        ret->known = sqlite3_column_int(stmt, 2) != 0;
        ret->has_email = sqlite3_column_type(stmt, 3) != SQLITE_NULL;
        col_copy(stmt, 3, ret->email, sizeof(ret->email));
        ret->has_name = sqlite3_column_type(stmt, 4) != SQLITE_NULL;
        col_copy(stmt, 4, ret->display_name, sizeof(ret->display_name));
        ret->seat_count = sqlite3_column_int64(stmt, 5);
        ret->created_ms = sqlite3_column_int64(stmt, 6);
        ret->last_active_ms = sqlite3_column_int64(stmt, 7);
        ret->released_ms = sqlite3_column_int64(stmt, 8);
        ret->license_removed_ms = sqlite3_column_int64(stmt, 9);
        ret->purged_ms = sqlite3_column_int64(stmt, 10);
        ret->deleted_ms = sqlite3_column_int64(stmt, 11);
        ret->rev = sqlite3_column_int64(stmt, 12);
        ret->personal_ms = sqlite3_column_int64(stmt, 13);
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "user \"%s\" is unknown", user);
    if (rc != SQLITE_ROW)
        return step_fail(s, rc, "reading a user", why);
    return LB_OK;
}

enum lb_err usage_store_user_put(struct store *s, const char *tenant, const struct user_row *u,
                                 struct lb_why *why)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO users (tenant, user, org, customer, known, email, display_name, "
        "seat_count, created_ms, last_active_ms, released_ms, license_removed_ms, purged_ms, "
        "deleted_ms, rev, personal_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, u->id);
    bind_text(stmt, 3, u->org);
    bind_text(stmt, 4, u->customer);
    sqlite3_bind_int(stmt, 5, u->known);
    if (u->has_email)
        bind_text(stmt, 6, u->email);
    if (u->has_name)
        bind_text(stmt, 7, u->display_name);
    sqlite3_bind_int64(stmt, 8, u->seat_count);
    sqlite3_bind_int64(stmt, 9, u->created_ms);
    sqlite3_bind_int64(stmt, 10, u->last_active_ms);
    bind_time(stmt, 11, u->released_ms);
    bind_time(stmt, 12, u->license_removed_ms);
    bind_time(stmt, 13, u->purged_ms);
    bind_time(stmt, 14, u->deleted_ms);
    sqlite3_bind_int64(stmt, 15, u->rev);
    sqlite3_bind_int64(stmt, 16, u->personal_ms);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_user_recount(struct store *s, const char *tenant, const char *user,
                                     struct lb_why *why)
{
    static const char sql[] =
        "UPDATE users SET seat_count = "
        "(SELECT COUNT(*) FROM seats WHERE seats.tenant = ?1 AND seats.user = ?2) "
        "WHERE tenant = ?1 AND user = ?2";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_user_touch(struct store *s, const char *tenant, const char *user, int64_t t,
                                   bool *ret_moved, struct lb_why *why)
{
    /* Only forward: a late or replayed signal changes nothing and writes nothing. */
    static const char sql[] = "UPDATE users SET last_active_ms = ?1 "
                              "WHERE tenant = ?2 AND user = ?3 AND last_active_ms < ?1";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, t);
    bind_text(stmt, 2, tenant);
    bind_text(stmt, 3, user);
    err = store_step_done(s, stmt, why);
    if (err == LB_OK && ret_moved != NULL)
        *ret_moved = sqlite3_changes(store_db(s)) > 0;
    return err;
}

enum lb_err usage_store_user_activity(struct store *s, const char *tenant, const char *user,
                                      struct user_activity *ret, struct lb_why *why)
{
    static const char sql[] = "SELECT last_active_ms, released_ms, deleted_ms FROM users "
                              "WHERE tenant = ? AND user = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        ret->last_active_ms = sqlite3_column_int64(stmt, 0);
        ret->released_ms = sqlite3_column_int64(stmt, 1);
        ret->deleted_ms = sqlite3_column_int64(stmt, 2);
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "user \"%s\" is unknown", user);
    if (rc != SQLITE_ROW)
        return step_fail(s, rc, "reading a user's activity", why);
    return LB_OK;
}

enum lb_err usage_store_user_release(struct store *s, const char *tenant, const char *user,
                                     int64_t now_ms, struct lb_why *why)
{
    /* Two columns in place, not the whole row replaced (delete + insert) as user_put does. */
    static const char sql[] = "UPDATE users SET released_ms = ?1, license_removed_ms = ?1, "
                              "rev = rev + 1 WHERE tenant = ?2 AND user = ?3";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, now_ms);
    bind_text(stmt, 2, tenant);
    bind_text(stmt, 3, user);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_user_purge(struct store *s, const char *tenant, const char *user,
                                   int64_t now_ms, struct lb_why *why)
{
    static const char sql[] = "UPDATE users SET email = NULL, display_name = NULL, purged_ms = ?, "
                              "rev = rev + 1 WHERE tenant = ? AND user = ?";
    sqlite3_stmt *stmt;
    enum lb_err err;

    /* Overwrite freed bytes with zeros, so the old values are not left in free space. */
    err = store_exec(s, "PRAGMA secure_delete = ON", why);
    if (err != LB_OK)
        return err;
    stmt = store_stmt(s, sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, now_ms);
    bind_text(stmt, 2, tenant);
    bind_text(stmt, 3, user);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_user_seats(struct store *s, const char *tenant, const char *user,
                                   char ret_subs[][USAGE_ID_MAX + 1], size_t max, size_t *ret_n,
                                   struct lb_why *why)
{
    static const char sql[] = "SELECT DISTINCT subscription FROM seats "
                              "WHERE tenant = ? AND user = ? ORDER BY subscription";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    size_t n = 0;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        col_copy(stmt, 0, ret_subs[n++], USAGE_ID_MAX + 1);
    if (n == max)
        rc = SQLITE_DONE;
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE)
        return step_fail(s, rc, "listing seats", why);
    *ret_n = n;
    return LB_OK;
}

/* ---- devices ------------------------------------------------------------------- */

#define DEVICE_COLUMNS                                                                             \
    "device, org, customer, kind, hostname, os, installed, user, installed_ms, uninstalled_ms, "   \
    "last_seen_ms, rev"

static void read_device(sqlite3_stmt *stmt, struct device_row *d)
{
    char kind[16];

    memset(d, 0, sizeof(*d));
    col_copy(stmt, 0, d->id, sizeof(d->id)); /* from the row: callers' ids may alias *d */
    col_copy(stmt, 1, d->org, sizeof(d->org));
    col_copy(stmt, 2, d->customer, sizeof(d->customer));
    col_copy(stmt, 3, kind, sizeof(kind));
    if (!device_kind_parse(kind, &d->kind))
        d->kind = DEVICE_BUSINESS; /* only this file writes the column: always valid */
    col_copy(stmt, 4, d->hostname, sizeof(d->hostname));
    col_copy(stmt, 5, d->os, sizeof(d->os));
    d->installed = sqlite3_column_int(stmt, 6) != 0;
    col_copy(stmt, 7, d->user, sizeof(d->user));
    d->installed_ms = sqlite3_column_int64(stmt, 8);
    d->uninstalled_ms = sqlite3_column_int64(stmt, 9);
    d->last_seen_ms = sqlite3_column_int64(stmt, 10);
    d->rev = sqlite3_column_int64(stmt, 11);
}

enum lb_err usage_store_device_get(struct store *s, const char *tenant, const char *device,
                                   struct device_row *ret, struct lb_why *why)
{
    static const char sql[] =
        "SELECT " DEVICE_COLUMNS " FROM devices WHERE tenant = ? AND device = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, device);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        read_device(stmt, ret);
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "device \"%s\" is unknown", device);
    if (rc != SQLITE_ROW)
        return step_fail(s, rc, "reading a device", why);
    return LB_OK;
}

enum lb_err usage_store_device_put(struct store *s, const char *tenant, const struct device_row *d,
                                   struct lb_why *why)
{
    static const char sql[] = "INSERT OR REPLACE INTO devices (tenant, " DEVICE_COLUMNS
                              ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, d->id);
    bind_text(stmt, 3, d->org);
    bind_text(stmt, 4, d->customer);
    bind_text(stmt, 5, device_kind_name(d->kind));
    bind_text(stmt, 6, d->hostname);
    bind_text(stmt, 7, d->os);
    sqlite3_bind_int(stmt, 8, d->installed);
    if (d->user[0] != '\0')
        bind_text(stmt, 9, d->user);
    sqlite3_bind_int64(stmt, 10, d->installed_ms);
    bind_time(stmt, 11, d->uninstalled_ms);
    sqlite3_bind_int64(stmt, 12, d->last_seen_ms);
    sqlite3_bind_int64(stmt, 13, d->rev);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_device_seen(struct store *s, const char *tenant, const char *device,
                                    int64_t t, struct lb_why *why)
{
    /* last_seen = max(last_seen, t), written only when it moves: idempotent by construction. */
    static const char sql[] = "UPDATE devices SET last_seen_ms = ?1 "
                              "WHERE tenant = ?2 AND device = ?3 AND last_seen_ms < ?1";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, t);
    bind_text(stmt, 2, tenant);
    bind_text(stmt, 3, device);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_device_signal(struct store *s, const char *tenant, const char *device,
                                      int64_t t, struct device_signal *ret, struct lb_why *why)
{
    /* A read of three columns and a write when the time moves: measured about three times
     * cheaper than one UPDATE ... RETURNING, which buffers its rows in an ephemeral table. */
    static const char get[] = "SELECT user, installed, last_seen_ms FROM devices "
                              "WHERE tenant = ? AND device = ?";
    static const char move[] = "UPDATE devices SET last_seen_ms = ?1 "
                               "WHERE tenant = ?2 AND device = ?3 AND last_seen_ms < ?1";
    sqlite3_stmt *stmt = store_stmt(s, get, why);
    struct device_signal sig = {0};
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, device);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        col_copy(stmt, 0, sig.user, sizeof(sig.user));
        sig.installed = sqlite3_column_int(stmt, 1) != 0;
        sig.last_seen_ms = sqlite3_column_int64(stmt, 2);
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "device \"%s\" is unknown", device);
    if (rc != SQLITE_ROW)
        return step_fail(s, rc, "reading a device", why);
    if (t > sig.last_seen_ms) {
        enum lb_err err;

        stmt = store_stmt(s, move, why);
        if (stmt == NULL)
            return LB_EINTERNAL;
        sqlite3_bind_int64(stmt, 1, t);
        bind_text(stmt, 2, tenant);
        bind_text(stmt, 3, device);
        err = store_step_done(s, stmt, why);
        if (err != LB_OK)
            return err;
        sig.moved = true;
        sig.last_seen_ms = t;
    }
    *ret = sig;
    return LB_OK;
}

enum lb_err usage_store_user_device_counts(struct store *s, const char *tenant, const char *user,
                                           const char *except, int64_t *ret_business,
                                           int64_t *ret_personal, struct lb_why *why)
{
    static const char sql[] =
        "SELECT coalesce(SUM(kind = 'business'), 0), coalesce(SUM(kind = 'personal'), 0) "
        "FROM devices INDEXED BY devices_by_user "
        "WHERE tenant = ? AND user = ? AND installed = 1 AND device != ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    bind_text(stmt, 3, except != NULL ? except : "");
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *ret_business = sqlite3_column_int64(stmt, 0);
        *ret_personal = sqlite3_column_int64(stmt, 1);
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW)
        return step_fail(s, rc, "counting a user's devices", why);
    return LB_OK;
}

enum lb_err usage_store_detach_all(struct store *s, const char *tenant, const char *user,
                                   struct lb_why *why)
{
    static const char sql[] = "UPDATE devices SET user = NULL WHERE tenant = ? AND user = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    return store_step_done(s, stmt, why);
}

static enum lb_err each_device(struct store *s, sqlite3_stmt *stmt, usage_device_fn fn, void *arg,
                               struct lb_why *why)
{
    enum lb_err err = LB_OK;
    int rc;

    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct device_row d;

        read_device(stmt, &d);
        err = fn(&d, arg);
        if (err != LB_OK)
            lb_fail(why, err, "listing devices stopped");
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_fail(s, rc, "listing devices", why);
    return err;
}

enum lb_err usage_store_each_user_device(struct store *s, const char *tenant, const char *user,
                                         usage_device_fn fn, void *arg, struct lb_why *why)
{
    static const char sql[] = "SELECT " DEVICE_COLUMNS " FROM devices INDEXED BY devices_by_user "
                              "WHERE tenant = ? AND user = ? AND installed = 1 ORDER BY device";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    return each_device(s, stmt, fn, arg, why);
}

enum lb_err usage_store_each_owned_device(struct store *s, const char *tenant, const char *user,
                                          usage_device_fn fn, void *arg, struct lb_why *why)
{
    static const char sql[] = "SELECT " DEVICE_COLUMNS " FROM devices INDEXED BY devices_by_user "
                              "WHERE tenant = ? AND user = ? ORDER BY device";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    return each_device(s, stmt, fn, arg, why);
}

enum lb_err usage_store_each_customer_device(struct store *s, const char *tenant,
                                             const char *customer, int state, const char *after,
                                             int64_t limit, usage_device_fn fn, void *arg,
                                             struct lb_why *why)
{
    static const char sql[] = "SELECT " DEVICE_COLUMNS " FROM devices "
                              "WHERE tenant = ?1 AND customer = ?2 AND device > ?3 "
                              "AND (?4 < 0 OR installed = ?4) ORDER BY device LIMIT ?5";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, customer);
    bind_text(stmt, 3, after);
    sqlite3_bind_int(stmt, 4, state);
    sqlite3_bind_int64(stmt, 5, limit);
    return each_device(s, stmt, fn, arg, why);
}

/* ---- seats and subscriptions --------------------------------------------------- */

enum lb_err usage_store_seat_add(struct store *s, const char *tenant, const char *subscription,
                                 const char *user, const char *group, const char *customer,
                                 int64_t t, struct lb_why *why)
{
    static const char sql[] = "INSERT OR IGNORE INTO seats "
                              "(tenant, subscription, user, grp, customer, assigned_ms) "
                              "VALUES (?, ?, ?, ?, ?, ?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, subscription);
    bind_text(stmt, 3, user);
    bind_text(stmt, 4, group);
    bind_text(stmt, 5, customer);
    sqlite3_bind_int64(stmt, 6, t);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_seat_remove(struct store *s, const char *tenant, const char *subscription,
                                    const char *user, const char *group, struct lb_why *why)
{
    static const char sql[] = "DELETE FROM seats WHERE tenant = ? AND subscription = ? "
                              "AND user = ? AND grp = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, subscription);
    bind_text(stmt, 3, user);
    bind_text(stmt, 4, group);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_subscription_put(struct store *s, const char *tenant,
                                         const struct sub_usage *sub, const char *customer,
                                         int64_t t, char ret_old_customer[USAGE_ORG_MAX + 1],
                                         struct lb_why *why)
{
    static const char get[] =
        "SELECT customer FROM subscriptions WHERE tenant = ? AND subscription = ?";
    static const char put[] =
        "INSERT INTO subscriptions (tenant, subscription, customer, package, seat_basis, "
        "quantity, status, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (tenant, subscription) DO UPDATE SET customer = excluded.customer, "
        "package = excluded.package, seat_basis = excluded.seat_basis, "
        "quantity = excluded.quantity, status = excluded.status, updated_ms = excluded.updated_ms";
    sqlite3_stmt *stmt = store_stmt(s, get, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub->id);
    rc = sqlite3_step(stmt);
    ret_old_customer[0] = '\0';
    if (rc == SQLITE_ROW)
        col_copy(stmt, 0, ret_old_customer, USAGE_ORG_MAX + 1);
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return step_fail(s, rc, "reading a subscription", why);
    stmt = store_stmt(s, put, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub->id);
    bind_text(stmt, 3, customer);
    bind_text(stmt, 4, sub->package);
    bind_text(stmt, 5, seat_basis_name(sub->basis));
    sqlite3_bind_int64(stmt, 6, sub->quantity);
    bind_text(stmt, 7, sub_status_name(sub->status));
    sqlite3_bind_int64(stmt, 8, t);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_subscription_mark(struct store *s, const char *tenant,
                                          const char *subscription, bool over, struct lb_why *why)
{
    static const char sql[] = "UPDATE subscriptions SET over = ?, rev = rev + 1 "
                              "WHERE tenant = ? AND subscription = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int(stmt, 1, over);
    bind_text(stmt, 2, tenant);
    bind_text(stmt, 3, subscription);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_customer_any_over(struct store *s, const char *tenant, const char *customer,
                                          bool *ret_any, struct lb_why *why)
{
    static const char sql[] = "SELECT 1 FROM subscriptions INDEXED BY subscriptions_by_customer "
                              "WHERE tenant = ? AND customer = ? AND over != 0 LIMIT 1";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, customer);
    rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return step_fail(s, rc, "reading over-consumption markers", why);
    *ret_any = rc == SQLITE_ROW;
    return LB_OK;
}

/* ---- consumption ------------------------------------------------------------------- */

static enum lb_err read_subs(struct store *s, const char *tenant, const char *customer,
                             struct consumption *c, struct lb_why *why)
{
    static const char sql[] =
        "SELECT subscription, package, seat_basis, quantity, status, over, rev FROM subscriptions "
        "INDEXED BY subscriptions_by_customer WHERE tenant = ? AND customer = ? ORDER BY "
        "subscription";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    size_t cap = 0;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, customer);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct sub_usage *sub;
        char text[32];

        if (c->n == cap) {
            size_t more = cap == 0 ? 4 : cap * 2;
            struct sub_usage *grown = realloc(c->subs, more * sizeof(*grown));

            if (grown == NULL) {
                sqlite3_reset(stmt);
                return lb_fail(why, LB_ENOMEM, "out of memory");
            }
            c->subs = grown;
            cap = more;
        }
        sub = &c->subs[c->n++];
        memset(sub, 0, sizeof(*sub));
        col_copy(stmt, 0, sub->id, sizeof(sub->id));
        col_copy(stmt, 1, sub->package, sizeof(sub->package));
        col_copy(stmt, 2, text, sizeof(text));
        if (!seat_basis_parse(text, &sub->basis))
            sub->basis = BASIS_USERS; /* only this file writes the column */
        sub->quantity = sqlite3_column_int64(stmt, 3);
        col_copy(stmt, 4, text, sizeof(text));
        if (!sub_status_parse(text, &sub->status))
            sub->status = SUB_ACTIVE;
        sub->reported_over = sqlite3_column_int(stmt, 5) != 0;
        sub->rev = sqlite3_column_int64(stmt, 6);
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE)
        return step_fail(s, rc, "listing subscriptions", why);
    return LB_OK;
}

static enum lb_err count_one(struct store *s, sqlite3_stmt *stmt, int64_t *ret, struct lb_why *why)
{
    int rc = sqlite3_step(stmt);

    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(stmt, 0);
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW)
        return step_fail(s, rc, "counting", why);
    return LB_OK;
}

enum lb_err usage_store_consumption(struct store *s, const char *tenant, const char *customer,
                                    struct consumption *ret, struct lb_why *why)
{
    /* A seat holder counts while live and not released by inactivity. */
    static const char holders[] = "SELECT COUNT(DISTINCT seats.user) FROM seats JOIN users "
                                  "ON users.tenant = seats.tenant AND users.user = seats.user "
                                  "WHERE seats.tenant = ? AND seats.subscription = ? "
                                  "AND users.deleted_ms IS NULL AND users.released_ms IS NULL";
    /* From the customer's subscriptions to their seats (CROSS JOIN fixes that order): led by
     * seats, SQLite scanned every seat of the tenant per customer (bench_usage's sweep). */
    static const char licensed[] =
        "SELECT COUNT(DISTINCT seats.user) FROM subscriptions b "
        "CROSS JOIN seats ON seats.tenant = b.tenant AND seats.subscription = b.subscription "
        "JOIN users ON users.tenant = seats.tenant AND users.user = seats.user "
        "WHERE b.tenant = ?1 AND b.customer = ?2 AND b.status != 'cancelled' "
        "AND b.seat_basis != 'devices' AND users.deleted_ms IS NULL "
        "AND users.released_ms IS NULL";
    static const char devices[] = "SELECT installed, user IS NULL, COUNT(*) FROM devices "
                                  "WHERE tenant = ? AND customer = ? GROUP BY 1, 2";
    struct consumption c = {0};
    sqlite3_stmt *stmt;
    enum lb_err err;
    int rc;

    err = read_subs(s, tenant, customer, &c, why);
    for (size_t i = 0; err == LB_OK && i < c.n; i++) {
        stmt = store_stmt(s, holders, why);
        if (stmt == NULL) {
            err = LB_EINTERNAL;
            break;
        }
        bind_text(stmt, 1, tenant);
        bind_text(stmt, 2, c.subs[i].id);
        err = count_one(s, stmt, &c.subs[i].users, why);
    }
    if (err == LB_OK) {
        stmt = store_stmt(s, licensed, why);
        if (stmt == NULL)
            err = LB_EINTERNAL;
    }
    if (err == LB_OK) {
        bind_text(stmt, 1, tenant);
        bind_text(stmt, 2, customer);
        err = count_one(s, stmt, &c.licensed_users, why);
    }
    if (err == LB_OK) {
        stmt = store_stmt(s, devices, why);
        if (stmt == NULL)
            err = LB_EINTERNAL;
    }
    if (err == LB_OK) {
        bind_text(stmt, 1, tenant);
        bind_text(stmt, 2, customer);
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
            int64_t n = sqlite3_column_int64(stmt, 2);

            if (sqlite3_column_int(stmt, 0) == 0)
                c.uninstalled_devices += n;
            else if (sqlite3_column_int(stmt, 1) != 0)
                c.unassociated_devices += n;
            else
                c.associated_devices += n;
        }
        sqlite3_reset(stmt);
        if (rc != SQLITE_DONE)
            err = step_fail(s, rc, "counting devices", why);
    }
    if (err != LB_OK) {
        consumption_release(&c);
        return err;
    }
    *ret = c;
    return LB_OK;
}

void consumption_release(struct consumption *c)
{
    if (c == NULL)
        return;
    free(c->subs);
    c->subs = NULL;
    c->n = 0;
}

/* ---- scans ----------------------------------------------------------------------------- */

enum lb_err usage_store_scans_add(struct store *s, const char *tenant, const char *key,
                                  const char *day, const char *org, int64_t scans,
                                  struct lb_why *why)
{
    static const char sql[] = "INSERT INTO scans (tenant, key, day, org, scans) "
                              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, key, day, org) "
                              "DO UPDATE SET scans = scans + excluded.scans";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, key);
    bind_text(stmt, 3, day);
    bind_text(stmt, 4, org);
    sqlite3_bind_int64(stmt, 5, scans);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_each_scans(struct store *s, const char *tenant, const char *key,
                                   const char *from, const char *to, bool by_month,
                                   usage_scans_fn fn, void *arg, struct lb_why *why)
{
    static const char sql[] =
        "SELECT CASE WHEN ?5 THEN substr(day, 1, 7) ELSE day END AS period, org, SUM(scans) "
        "FROM scans WHERE tenant = ?1 AND key = ?2 AND day BETWEEN ?3 AND ?4 "
        "GROUP BY period, org ORDER BY period, org";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, key);
    bind_text(stmt, 3, from);
    bind_text(stmt, 4, to);
    sqlite3_bind_int(stmt, 5, by_month);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        err = fn((const char *)sqlite3_column_text(stmt, 0),
                 (const char *)sqlite3_column_text(stmt, 1), sqlite3_column_int64(stmt, 2), arg);
        if (err != LB_OK)
            lb_fail(why, err, "listing scans stopped");
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_fail(s, rc, "listing scans", why);
    return err;
}

/* ---- the journal and the restore (journal.c, restore.c) ---------------------------------- */

enum lb_err usage_store_dirty_take(struct store *s, struct usage_key **ret_keys, size_t *ret_n,
                                   struct lb_why *why)
{
    /* By tenant, kind and id: the same change announces its rows in the same order. */
    static const char sql[] =
        "SELECT kind, tenant, id FROM journal_dirty ORDER BY tenant, kind, id";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    struct usage_key *keys = NULL;
    size_t n = 0;
    size_t cap = 0;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n == cap) {
            size_t more = cap == 0 ? 8 : cap * 2;
            struct usage_key *grown = realloc(keys, more * sizeof(*grown));

            if (grown == NULL) {
                sqlite3_reset(stmt);
                free(keys);
                return lb_fail(why, LB_ENOMEM, "out of memory");
            }
            keys = grown;
            cap = more;
        }
        keys[n].kind = (enum usage_kind)sqlite3_column_int(stmt, 0);
        col_copy(stmt, 1, keys[n].tenant, sizeof(keys[n].tenant));
        col_copy(stmt, 2, keys[n].id, sizeof(keys[n].id));
        n++;
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        free(keys);
        return step_fail(s, rc, "reading the journal's dirty rows", why);
    }
    if (n > 0) {
        enum lb_err err = usage_store_dirty_clear(s, why);

        if (err != LB_OK) {
            free(keys);
            return err;
        }
    }
    *ret_keys = keys;
    *ret_n = n;
    return LB_OK;
}

enum lb_err usage_store_dirty_clear(struct store *s, struct lb_why *why)
{
    static const char sql[] = "DELETE FROM journal_dirty";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    return store_step_done(s, stmt, why);
}

/* The statements of each kind's revision: read, and move to the next. */
static const char *rev_sql(enum usage_kind kind, bool next)
{
    static const char *const get[] = {
        "SELECT rev FROM users WHERE tenant = ? AND user = ?",
        "SELECT rev FROM devices WHERE tenant = ? AND device = ?",
        "SELECT rev FROM subscriptions WHERE tenant = ? AND subscription = ?",
    };
    static const char *const bump[] = {
        "UPDATE users SET rev = rev + 1 WHERE tenant = ? AND user = ?",
        "UPDATE devices SET rev = rev + 1 WHERE tenant = ? AND device = ?",
        "UPDATE subscriptions SET rev = rev + 1 WHERE tenant = ? AND subscription = ?",
    };
    int i = kind == USAGE_KIND_USER ? 0 : kind == USAGE_KIND_DEVICE ? 1 : 2;

    return next ? bump[i] : get[i];
}

enum lb_err usage_store_rev_get(struct store *s, enum usage_kind kind, const char *tenant,
                                const char *id, int64_t *ret_rev, bool *ret_present,
                                struct lb_why *why)
{
    sqlite3_stmt *stmt = store_stmt(s, rev_sql(kind, false), why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, id);
    rc = sqlite3_step(stmt);
    *ret_present = rc == SQLITE_ROW;
    *ret_rev = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return step_fail(s, rc, "reading a revision", why);
    return LB_OK;
}

enum lb_err usage_store_rev_next(struct store *s, enum usage_kind kind, const char *tenant,
                                 const char *id, struct lb_why *why)
{
    sqlite3_stmt *stmt = store_stmt(s, rev_sql(kind, true), why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, id);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_each_user_seat(struct store *s, const char *tenant, const char *user,
                                       usage_seat_fn fn, void *arg, struct lb_why *why)
{
    static const char sql[] = "SELECT subscription, grp, customer, assigned_ms FROM seats "
                              "WHERE tenant = ? AND user = ? ORDER BY subscription, grp";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err = LB_OK;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct seat_row seat;

        col_copy(stmt, 0, seat.subscription, sizeof(seat.subscription));
        col_copy(stmt, 1, seat.group, sizeof(seat.group));
        col_copy(stmt, 2, seat.customer, sizeof(seat.customer));
        seat.assigned_ms = sqlite3_column_int64(stmt, 3);
        err = fn(&seat, arg);
        if (err != LB_OK)
            lb_fail(why, err, "listing seats stopped");
    }
    sqlite3_reset(stmt);
    if (err == LB_OK && rc != SQLITE_DONE)
        err = step_fail(s, rc, "listing a user's seats", why);
    return err;
}

enum lb_err usage_store_user_seats_clear(struct store *s, const char *tenant, const char *user,
                                         struct lb_why *why)
{
    static const char sql[] = "DELETE FROM seats WHERE tenant = ? AND user = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, user);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_subscription_get(struct store *s, const char *tenant, const char *id,
                                         struct sub_row *ret, struct lb_why *why)
{
    static const char sql[] = "SELECT customer, package, seat_basis, quantity, status, over, "
                              "updated_ms, rev FROM subscriptions "
                              "WHERE tenant = ? AND subscription = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    struct sub_row row = {0};
    char text[32];
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, id);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        snprintf(row.id, sizeof(row.id), "%s", id);
        col_copy(stmt, 0, row.customer, sizeof(row.customer));
        col_copy(stmt, 1, row.package, sizeof(row.package));
        col_copy(stmt, 2, text, sizeof(text));
        if (!seat_basis_parse(text, &row.basis))
            row.basis = BASIS_USERS; /* only this file writes the column */
        row.quantity = sqlite3_column_int64(stmt, 3);
        col_copy(stmt, 4, text, sizeof(text));
        if (!sub_status_parse(text, &row.status))
            row.status = SUB_ACTIVE;
        row.over = sqlite3_column_int(stmt, 5) != 0;
        row.updated_ms = sqlite3_column_int64(stmt, 6);
        row.rev = sqlite3_column_int64(stmt, 7);
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "subscription \"%s\" is unknown", id);
    if (rc != SQLITE_ROW)
        return step_fail(s, rc, "reading a subscription", why);
    *ret = row;
    return LB_OK;
}

enum lb_err usage_store_subscription_restore(struct store *s, const char *tenant,
                                             const struct sub_row *sub, struct lb_why *why)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO subscriptions (tenant, subscription, customer, package, "
        "seat_basis, quantity, status, over, updated_ms, rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
        "?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, tenant);
    bind_text(stmt, 2, sub->id);
    bind_text(stmt, 3, sub->customer);
    bind_text(stmt, 4, sub->package);
    bind_text(stmt, 5, seat_basis_name(sub->basis));
    sqlite3_bind_int64(stmt, 6, sub->quantity);
    bind_text(stmt, 7, sub_status_name(sub->status));
    sqlite3_bind_int(stmt, 8, sub->over);
    sqlite3_bind_int64(stmt, 9, sub->updated_ms);
    sqlite3_bind_int64(stmt, 10, sub->rev);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_restore_release(struct store *s, const char *tenant, const char *user,
                                        int64_t released_ms, int64_t rev, struct lb_why *why)
{
    static const char sql[] = "UPDATE users SET released_ms = ?1, license_removed_ms = ?1, "
                              "rev = ?2 WHERE tenant = ?3 AND user = ?4";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, released_ms);
    sqlite3_bind_int64(stmt, 2, rev);
    bind_text(stmt, 3, tenant);
    bind_text(stmt, 4, user);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_restore_purge(struct store *s, const char *tenant, const char *user,
                                      int64_t purged_ms, int64_t rev, struct lb_why *why)
{
    static const char sql[] = "UPDATE users SET email = NULL, display_name = NULL, "
                              "purged_ms = ?1, rev = ?2 WHERE tenant = ?3 AND user = ?4";
    sqlite3_stmt *stmt;
    enum lb_err err = store_exec(s, "PRAGMA secure_delete = ON", why);

    if (err != LB_OK)
        return err;
    stmt = store_stmt(s, sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, purged_ms);
    sqlite3_bind_int64(stmt, 2, rev);
    bind_text(stmt, 3, tenant);
    bind_text(stmt, 4, user);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_restore_over(struct store *s, const char *tenant, const char *subscription,
                                     bool over, int64_t rev, struct lb_why *why)
{
    static const char sql[] = "UPDATE subscriptions SET over = ?, rev = ? "
                              "WHERE tenant = ? AND subscription = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int(stmt, 1, over);
    sqlite3_bind_int64(stmt, 2, rev);
    bind_text(stmt, 3, tenant);
    bind_text(stmt, 4, subscription);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_cause_add(struct store *s, const char *cause, struct lb_why *why)
{
    static const char sql[] = "INSERT OR IGNORE INTO restored_causes (cause) VALUES (?)";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, cause);
    return store_step_done(s, stmt, why);
}

enum lb_err usage_store_cause_take(struct store *s, const char *cause, bool *ret_restored,
                                   struct lb_why *why)
{
    static const char sql[] = "DELETE FROM restored_causes WHERE cause = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    enum lb_err err;

    if (stmt == NULL)
        return LB_EINTERNAL;
    bind_text(stmt, 1, cause);
    err = store_step_done(s, stmt, why);
    if (err == LB_OK)
        *ret_restored = sqlite3_changes(store_db(s)) > 0;
    return err;
}

/* ---- the sweep's queries ----------------------------------------------------------------- */

static enum lb_err collect_keys(struct store *s, sqlite3_stmt *stmt, size_t max,
                                struct user_key **ret_keys, size_t *ret_n, struct lb_why *why)
{
    struct user_key *keys = NULL;
    size_t n = 0;
    size_t cap = 0;
    int rc;

    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW && n < max) {
        if (n == cap) {
            size_t more = cap == 0 ? 64 : cap * 2;
            struct user_key *grown = realloc(keys, more * sizeof(*grown));

            if (grown == NULL) {
                sqlite3_reset(stmt);
                free(keys);
                return lb_fail(why, LB_ENOMEM, "out of memory");
            }
            keys = grown;
            cap = more;
        }
        col_copy(stmt, 0, keys[n].tenant, sizeof(keys[n].tenant));
        col_copy(stmt, 1, keys[n].user, sizeof(keys[n].user));
        n++;
    }
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        free(keys);
        return step_fail(s, rc, "listing due users", why);
    }
    *ret_keys = keys;
    *ret_n = n;
    return LB_OK;
}

enum lb_err usage_store_due_release(struct store *s, int64_t before_ms, size_t max,
                                    struct due_user **ret_users, size_t *ret_n, struct lb_why *why)
{
    /* Ordered, so a replay releases (and derives ids) in the same order. What the release
     * needs of the user comes with it: one lookup per user, not two. */
    static const char sql[] =
        "SELECT tenant, user, customer, last_active_ms, seat_count, rev "
        "FROM users INDEXED BY users_due_release "
        "WHERE seat_count > 0 AND released_ms IS NULL AND deleted_ms IS NULL "
        "AND last_active_ms <= ? ORDER BY last_active_ms, tenant, user LIMIT ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    struct due_user *users = NULL;
    size_t n = 0;
    size_t cap = 0;
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, before_ms);
    sqlite3_bind_int64(stmt, 2, (int64_t)max);
    while (n < max && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct due_user *u;

        if (n == cap) {
            size_t more = cap == 0 ? 64 : cap * 2;
            struct due_user *grown = realloc(users, more * sizeof(*grown));

            if (grown == NULL) {
                sqlite3_reset(stmt);
                free(users);
                return lb_fail(why, LB_ENOMEM, "out of memory");
            }
            users = grown;
            cap = more;
        }
        u = &users[n++];
        col_copy(stmt, 0, u->tenant, sizeof(u->tenant));
        col_copy(stmt, 1, u->user, sizeof(u->user));
        col_copy(stmt, 2, u->customer, sizeof(u->customer));
        u->last_active_ms = sqlite3_column_int64(stmt, 3);
        u->seat_count = sqlite3_column_int64(stmt, 4);
        u->rev = sqlite3_column_int64(stmt, 5);
    }
    if (n == max)
        rc = SQLITE_DONE;
    sqlite3_reset(stmt);
    if (rc != SQLITE_DONE) {
        free(users);
        return step_fail(s, rc, "listing users due for release", why);
    }
    *ret_users = users;
    *ret_n = n;
    return LB_OK;
}

enum lb_err usage_store_due_purge(struct store *s, int64_t before_ms, int64_t now_ms, size_t max,
                                  struct user_key **ret_keys, size_t *ret_n, struct lb_why *why)
{
    static const char sql[] = "SELECT tenant, user FROM users INDEXED BY users_due_purge "
                              "WHERE purged_ms IS NULL AND license_removed_ms IS NOT NULL "
                              "AND license_removed_ms <= ?1 AND personal_ms <= ?2 "
                              "ORDER BY license_removed_ms, tenant, user LIMIT ?3";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_int64(stmt, 1, before_ms);
    sqlite3_bind_int64(stmt, 2, now_ms);
    sqlite3_bind_int64(stmt, 3, (int64_t)max);
    return collect_keys(s, stmt, max, ret_keys, ret_n, why);
}
