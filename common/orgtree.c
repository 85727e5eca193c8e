/*
 * orgtree.c - the org tree learnt from directory events, and the subtree
 * rule every product request is authorized by.
 *
 * Each org row keeps its materialized path "/root/child/.../org/", so "is X
 * inside Y" is a prefix test and a subtree is one index range, in path
 * order (parents before children). A move rewrites the paths of the moved
 * subtree in one statement.
 */
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "json_strict.h"
#include "orgtree.h"
#include "subjects.h"

/* Org ids are subject tokens: [A-Za-z0-9_-], none of them special to GLOB. */
const struct store_migration orgtree_migrations[] = {
    {1, "CREATE TABLE lb_org ("
        "  tenant TEXT NOT NULL,"
        "  id TEXT NOT NULL,"
        "  parent TEXT NOT NULL," /* '' for the root */
        "  name TEXT NOT NULL,"
        "  kind INTEGER NOT NULL,"
        "  path TEXT NOT NULL," /* '/root/.../id/' */
        "  deleted INTEGER NOT NULL DEFAULT 0,"
        "  PRIMARY KEY (tenant, id)"
        ") WITHOUT ROWID;"
        "CREATE INDEX lb_org_by_path ON lb_org (tenant, path);"},
};
const size_t orgtree_migration_count = sizeof(orgtree_migrations) / sizeof(orgtree_migrations[0]);

static const char *const kind_names[] = {"distributor", "reseller", "msp", "customer", "suborg"};

/* How deep a kind sits: a child sits deeper than its parent (sub-orgs nest). */
static const int kind_rank[] = {0, 1, 1, 2, 3};

const char *org_kind_name(enum org_kind kind)
{
    return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : NULL;
}

bool org_kind_parse(const char *name, enum org_kind *ret_kind)
{
    for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(kind_names[i], name) == 0) {
            *ret_kind = (enum org_kind)i;
            return true;
        }
    }
    return false;
}

static bool kind_may_hold(enum org_kind parent, enum org_kind child)
{
    return kind_rank[child] > kind_rank[parent] || (parent == ORG_SUBORG && child == ORG_SUBORG);
}

static enum lb_err read_org(struct store *s, const char *tenant, const char *id,
                            struct org *ret_org, char *ret_path, size_t path_size,
                            struct lb_why *why)
{
    static const char sql[] = "SELECT parent, name, kind, path, deleted FROM lb_org "
                              "WHERE tenant = ? AND id = ?";
    sqlite3_stmt *stmt = store_stmt(s, sql, why);
    int rc;

    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        memset(ret_org, 0, sizeof(*ret_org));
        (void)snprintf(ret_org->id, sizeof(ret_org->id), "%s", id);
        (void)snprintf(ret_org->parent, sizeof(ret_org->parent), "%s",
                       (const char *)sqlite3_column_text(stmt, 0));
        (void)snprintf(ret_org->name, sizeof(ret_org->name), "%s",
                       (const char *)sqlite3_column_text(stmt, 1));
        ret_org->kind = (enum org_kind)sqlite3_column_int(stmt, 2);
        if (ret_path != NULL)
            (void)snprintf(ret_path, path_size, "%s", (const char *)sqlite3_column_text(stmt, 3));
        ret_org->deleted = sqlite3_column_int(stmt, 4) != 0;
    }
    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE)
        return lb_fail(why, LB_ENOTFOUND, "no org \"%s\" in tenant \"%s\"", id, tenant);
    if (rc != SQLITE_ROW)
        return lb_fail(why, store_err(rc), "reading org: %s", sqlite3_errmsg(store_db(s)));
    return LB_OK;
}

enum lb_err orgtree_get(struct store *s, const char *tenant, const char *id, struct org *ret_org,
                        struct lb_why *why)
{
    return read_org(s, tenant, id, ret_org, NULL, 0, why);
}

/* A path holds at most 64 levels of 65 bytes; deeper trees are refused. */
#define ORG_PATH_MAX ((size_t)64 * 65)

/*
 * The first path after every path that starts with `path` ("/a/b/" -> "/a/b0"): a subtree
 * is the index range [path, end). A GLOB on a bound pattern would scan the whole tenant.
 */
static void subtree_end(const char *path, char ret_end[ORG_PATH_MAX + 1])
{
    size_t n = strlen(path);

    (void)snprintf(ret_end, ORG_PATH_MAX + 1, "%s", path);
    if (n > 0)
        ret_end[n - 1]++;
}

/* Appends "<id>/" to `path` (of ORG_PATH_MAX + 1 bytes); false when the tree is too deep. */
static bool append_to_path(char *path, const char *id)
{
    size_t used = strlen(path);

    return (size_t)snprintf(path + used, ORG_PATH_MAX + 1 - used, "%s/", id) <
           ORG_PATH_MAX + 1 - used;
}

enum lb_err orgtree_within(struct store *s, const char *tenant, const char *ancestor,
                           const char *org, bool *ret_within, struct lb_why *why)
{
    char ancestor_path[ORG_PATH_MAX + 1];
    char org_path[ORG_PATH_MAX + 1];
    struct org a = {0};
    struct org o = {0};
    enum lb_err err;

    *ret_within = false;
    err = read_org(s, tenant, ancestor, &a, ancestor_path, sizeof(ancestor_path), why);
    if (err == LB_OK)
        err = read_org(s, tenant, org, &o, org_path, sizeof(org_path), why);
    if (err == LB_ENOTFOUND)
        return LB_OK;
    if (err != LB_OK)
        return err;
    *ret_within =
        !a.deleted && !o.deleted && strncmp(org_path, ancestor_path, strlen(ancestor_path)) == 0;
    return LB_OK;
}

/* Checks the org id in member `name` of `obj` and returns it. */
static enum lb_err get_org_id(const cJSON *obj, const char *name, const char **ret_id,
                              struct lb_why *why)
{
    enum lb_err err = json_get_string(obj, name, SUBJECT_TOKEN_MAX, ret_id, why);

    if (err != LB_OK)
        return lb_fail(why, err == LB_ENOTFOUND ? LB_EINVAL : err, "%s: %s", name, why->text);
    if (!subject_tenant_valid(*ret_id) || strcmp(*ret_id, SUBJECT_SYSTEM_TENANT) == 0)
        return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not an org id", name, *ret_id);
    return LB_OK;
}

enum lb_err caller_decode(struct store *s, const cJSON *body, struct caller *ret_caller,
                          struct lb_why *why)
{
    static const char *const known[] = {"org", "user", NULL};
    const cJSON *caller = cJSON_GetObjectItemCaseSensitive(body, "caller");
    struct org org = {0};
    enum lb_err err;

    err = get_org_id(body, "tenant", &ret_caller->tenant, why);
    if (err != LB_OK)
        return err;
    if (!cJSON_IsObject(caller))
        return lb_fail(why, LB_EINVAL, "caller: must be an object {org, user}");
    err = json_check_members(caller, known, why);
    if (err == LB_OK)
        err = get_org_id(caller, "org", &ret_caller->org, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "caller: %s", why->text);
    err = json_get_string(caller, "user", 128, &ret_caller->user, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "caller: user: %s", why->text);
    err = orgtree_get(s, ret_caller->tenant, ret_caller->org, &org, why);
    if (err == LB_ENOTFOUND || (err == LB_OK && org.deleted))
        return lb_fail(why, LB_EFORBIDDEN, "caller org \"%s\" is not an org of tenant \"%s\"",
                       ret_caller->org, ret_caller->tenant);
    return err;
}

enum lb_err caller_may_act_on(struct store *s, const struct caller *caller, const char *org,
                              struct lb_why *why)
{
    bool within;
    enum lb_err err = orgtree_within(s, caller->tenant, caller->org, org, &within, why);

    if (err != LB_OK)
        return err;
    if (!within)
        return lb_fail(why, LB_EFORBIDDEN, "org \"%.64s\" is outside the subtree of \"%s\"", org,
                       caller->org);
    return LB_OK;
}

enum lb_err orgtree_each_in_subtree(struct store *s, const char *tenant, const char *root,
                                    enum lb_err (*fn)(const struct org *org, void *arg), void *arg,
                                    struct lb_why *why)
{
    static const char sql[] = "SELECT id, parent, name, kind FROM lb_org "
                              "WHERE tenant = ? AND path >= ? AND path < ? AND deleted = 0 "
                              "ORDER BY path";
    char root_path[ORG_PATH_MAX + 1];
    char root_end[ORG_PATH_MAX + 1];
    struct org root_org = {0};
    sqlite3_stmt *stmt;
    enum lb_err err = LB_OK;
    int rc;

    err = read_org(s, tenant, root, &root_org, root_path, sizeof(root_path), why);
    if (err != LB_OK)
        return err;
    if (root_org.deleted)
        return LB_OK;
    subtree_end(root_path, root_end);
    stmt = store_stmt(s, sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, root_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, root_end, -1, SQLITE_STATIC);
    while (err == LB_OK && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct org org = {.kind = (enum org_kind)sqlite3_column_int(stmt, 3)};

        (void)snprintf(org.id, sizeof(org.id), "%s", (const char *)sqlite3_column_text(stmt, 0));
        (void)snprintf(org.parent, sizeof(org.parent), "%s",
                       (const char *)sqlite3_column_text(stmt, 1));
        (void)snprintf(org.name, sizeof(org.name), "%s",
                       (const char *)sqlite3_column_text(stmt, 2));
        err = fn(&org, arg);
    }
    if (err == LB_OK && rc != SQLITE_DONE)
        err = lb_fail(why, store_err(rc), "listing orgs: %s", sqlite3_errmsg(store_db(s)));
    sqlite3_reset(stmt);
    return err;
}

/* ---- directory events ---------------------------------------------------------------------- */

static enum lb_err decode_data(const struct envelope *ev, const char *const *known,
                               struct lb_why *why)
{
    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    if (json_check_members(ev->data, known, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "data: %s", why->text);
    return LB_OK;
}

/* The live parent `id` and its path, or a conflict saying why it cannot hold a child. */
static enum lb_err live_parent(struct store *s, const char *tenant, const char *id,
                               struct org *ret_parent, char *ret_path, struct lb_why *why)
{
    enum lb_err err = read_org(s, tenant, id, ret_parent, ret_path, ORG_PATH_MAX + 1, why);

    if (err == LB_ENOTFOUND || (err == LB_OK && ret_parent->deleted))
        return lb_fail(why, LB_ECONFLICT, "parent org \"%s\" is not a live org of tenant \"%s\"",
                       id, tenant);
    return err;
}

static enum lb_err on_org_created(struct store *s, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"org", "parent", "name", "kind", NULL};
    static const char sql[] = "INSERT INTO lb_org (tenant, id, parent, name, kind, path) "
                              "VALUES (?, ?, ?, ?, ?, ?)";
    const cJSON *parent_item;
    char path[ORG_PATH_MAX + 1];
    const char *id = NULL, *parent = "", *name = NULL, *kind_name = NULL;
    enum org_kind kind;
    struct org existing = {0};
    sqlite3_stmt *stmt;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_org_id(ev->data, "org", &id, why);
    if (err != LB_OK)
        return err;
    err = json_get_string(ev->data, "name", ORG_NAME_MAX, &name, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "name: %s", why->text);
    err = json_get_string(ev->data, "kind", 16, &kind_name, why);
    if (err != LB_OK || !org_kind_parse(kind_name, &kind))
        return lb_fail(why, LB_EINVAL,
                       "kind: must be one of distributor, reseller, msp, "
                       "customer, suborg");
    parent_item = cJSON_GetObjectItemCaseSensitive(ev->data, "parent");
    if (parent_item == NULL)
        return lb_fail(why, LB_EINVAL, "parent: missing (null for the root org)");
    if (!cJSON_IsNull(parent_item) && (err = get_org_id(ev->data, "parent", &parent, why)) != LB_OK)
        return err;

    err = orgtree_get(s, ev->tenant, id, &existing, why);
    if (err == LB_OK) {
        if (strcmp(existing.parent, parent) == 0 && strcmp(existing.name, name) == 0 &&
            existing.kind == kind && !existing.deleted)
            return LB_OK; /* the same fact again */
        return lb_fail(why, LB_ECONFLICT, "org \"%s\" already exists with other attributes", id);
    }
    if (err != LB_ENOTFOUND)
        return err;

    if (*parent == '\0') {
        if (strcmp(id, ev->tenant) != 0)
            return lb_fail(why, LB_EINVAL, "a root org (parent null) must be the tenant \"%s\"",
                           ev->tenant);
        (void)snprintf(path, sizeof(path), "/%s/", id);
    } else {
        struct org p = {0};

        err = live_parent(s, ev->tenant, parent, &p, path, why);
        if (err != LB_OK)
            return err;
        if (!kind_may_hold(p.kind, kind))
            return lb_fail(why, LB_ECONFLICT, "a %s cannot be under a %s", kind_name,
                           org_kind_name(p.kind));
        if (!append_to_path(path, id))
            return lb_fail(why, LB_ECONFLICT, "org tree deeper than 64 levels");
    }
    stmt = store_stmt(s, sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, ev->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, parent, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 5, (int)kind);
    sqlite3_bind_text(stmt, 6, path, -1, SQLITE_STATIC);
    return store_step_done(s, stmt, why);
}

/* Reads data.org and the live org it names. */
static enum lb_err live_org_of(struct store *s, const struct envelope *ev, struct org *ret_org,
                               char *ret_path, struct lb_why *why)
{
    const char *id = NULL;
    enum lb_err err = get_org_id(ev->data, "org", &id, why);

    if (err != LB_OK)
        return err;
    err = read_org(s, ev->tenant, id, ret_org, ret_path, ORG_PATH_MAX + 1, why);
    if (err == LB_ENOTFOUND || (err == LB_OK && ret_org->deleted))
        return lb_fail(why, LB_ECONFLICT, "org \"%s\" is not a live org of tenant \"%s\"", id,
                       ev->tenant);
    return err;
}

static enum lb_err on_org_moved(struct store *s, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"org", "parent", NULL};
    static const char move_sql[] = "UPDATE lb_org SET path = ?3 || substr(path, length(?2) + 1), "
                                   "parent = CASE WHEN id = ?4 THEN ?5 ELSE parent END "
                                   "WHERE tenant = ?1 AND path >= ?2 AND path < ?6";
    char old_path[ORG_PATH_MAX + 1];
    char old_end[ORG_PATH_MAX + 1];
    char new_path[ORG_PATH_MAX + 1];
    const char *parent = NULL;
    struct org org = {0}, p = {0};
    sqlite3_stmt *stmt;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = live_org_of(s, ev, &org, old_path, why);
    if (err == LB_OK)
        err = get_org_id(ev->data, "parent", &parent, why);
    if (err == LB_OK)
        err = live_parent(s, ev->tenant, parent, &p, new_path, why);
    if (err != LB_OK)
        return err;
    if (strcmp(org.parent, parent) == 0)
        return LB_OK; /* already there */
    if (*org.parent == '\0')
        return lb_fail(why, LB_ECONFLICT, "the root org \"%s\" cannot move", org.id);
    if (strncmp(new_path, old_path, strlen(old_path)) == 0)
        return lb_fail(why, LB_ECONFLICT, "org \"%s\" cannot move under itself or its own sub-org",
                       org.id);
    if (!kind_may_hold(p.kind, org.kind))
        return lb_fail(why, LB_ECONFLICT, "a %s cannot be under a %s", org_kind_name(org.kind),
                       org_kind_name(p.kind));
    if (!append_to_path(new_path, org.id))
        return lb_fail(why, LB_ECONFLICT, "org tree deeper than 64 levels");
    stmt = store_stmt(s, move_sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, ev->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, old_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, new_path, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, org.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, parent, -1, SQLITE_STATIC);
    subtree_end(old_path, old_end);
    sqlite3_bind_text(stmt, 6, old_end, -1, SQLITE_STATIC);
    return store_step_done(s, stmt, why);
}

static enum lb_err on_org_renamed(struct store *s, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"org", "name", NULL};
    static const char sql[] = "UPDATE lb_org SET name = ? WHERE tenant = ? AND id = ?";
    const char *name = NULL;
    struct org org = {0};
    sqlite3_stmt *stmt;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = live_org_of(s, ev, &org, NULL, why);
    if (err != LB_OK)
        return err;
    err = json_get_string(ev->data, "name", ORG_NAME_MAX, &name, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "name: %s", why->text);
    stmt = store_stmt(s, sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, ev->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, org.id, -1, SQLITE_STATIC);
    return store_step_done(s, stmt, why);
}

static enum lb_err on_org_deleted(struct store *s, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"org", NULL};
    static const char children_sql[] =
        "SELECT count(*) FROM lb_org WHERE tenant = ? AND parent = ? AND deleted = 0";
    static const char sql[] = "UPDATE lb_org SET deleted = 1 WHERE tenant = ? AND id = ?";
    struct org org = {0};
    const char *id = NULL;
    sqlite3_stmt *stmt;
    int children = 0;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_org_id(ev->data, "org", &id, why);
    if (err == LB_OK)
        err = orgtree_get(s, ev->tenant, id, &org, why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_ECONFLICT, "org \"%s\" is not an org of tenant \"%s\"", id,
                       ev->tenant);
    if (err != LB_OK || org.deleted)
        return err; /* deleting twice changes nothing */
    stmt = store_stmt(s, children_sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, ev->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        children = sqlite3_column_int(stmt, 0);
    sqlite3_reset(stmt);
    if (children > 0)
        return lb_fail(why, LB_ECONFLICT, "org \"%s\" still has %d live sub-org(s)", id, children);
    stmt = store_stmt(s, sql, why);
    if (stmt == NULL)
        return LB_EINTERNAL;
    sqlite3_bind_text(stmt, 1, ev->tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
    return store_step_done(s, stmt, why);
}

static const struct {
    const char *type;
    enum lb_err (*apply)(struct store *s, const struct envelope *ev, struct lb_why *why);
} org_events[] = {
    {"licensebus.directory.org_created.v1", on_org_created},
    {"licensebus.directory.org_moved.v1", on_org_moved},
    {"licensebus.directory.org_renamed.v1", on_org_renamed},
    {"licensebus.directory.org_deleted.v1", on_org_deleted},
};

enum lb_err orgtree_apply(struct store *s, const struct envelope *ev, struct lb_why *why)
{
    for (size_t i = 0; i < sizeof(org_events) / sizeof(org_events[0]); i++) {
        if (strcmp(org_events[i].type, ev->type) == 0)
            return org_events[i].apply(s, ev, why);
    }
    return lb_fail(why, LB_EUNSUPPORTED, "%s is not an org event", ev->type);
}

static enum lb_err apply_org_event(struct service *svc, const struct envelope *ev,
                                   struct lb_why *why)
{
    return orgtree_apply(service_store(svc), ev, why);
}

service_event_fn orgtree_handler(const char *type)
{
    for (size_t i = 0; i < sizeof(org_events) / sizeof(org_events[0]); i++) {
        if (strcmp(org_events[i].type, type) == 0)
            return apply_org_event;
    }
    return NULL;
}
