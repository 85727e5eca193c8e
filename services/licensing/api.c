/*
 * api.c - licensing's request handlers: decode, authorize, apply the rules,
 * store, record the change, reply.
 *
 * Product catalog commands (product_add, product_update) carry no caller:
 * NATS permissions restrict their subjects to the catalog admin. Every other
 * request carries `tenant` and `caller`, and acts only on licenses having at
 * least one assigned org inside the caller's subtree; any other license,
 * existing or not, is the same `forbidden`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "json_strict.h"
#include "licensing.h"
#include "subjects.h"

static int64_t window_ms(const struct service *svc)
{
    return ((const struct lic_config *)service_config(svc))->expiring_window_ms;
}

static enum lb_err oom(struct lb_why *why)
{
    return lb_fail(why, LB_ENOMEM, "out of memory");
}

/* Checks the members and decodes the caller of a product request. */
static enum lb_err open_request(struct service *svc, const struct request *req,
                                const char *const *known, struct caller *ret_caller,
                                struct lb_why *why)
{
    enum lb_err err = json_check_members(req->body, known, why);

    if (err == LB_OK)
        err = caller_decode(service_store(svc), req->body, ret_caller, why);
    return err;
}

/* LB_OK when one of the license's orgs is inside the caller's subtree, else forbidden. */
static enum lb_err may_act_on_license(struct service *svc, const struct caller *c,
                                      const struct license *l, struct lb_why *why)
{
    struct lb_why ignored;

    if (strcmp(l->tenant, c->tenant) == 0) {
        for (size_t i = 0; i < l->org_count; i++) {
            enum lb_err err = caller_may_act_on(service_store(svc), c, l->orgs[i], &ignored);

            if (err == LB_OK)
                return LB_OK;
            if (err != LB_EFORBIDDEN)
                return lb_fail(why, err, "%s", ignored.text);
        }
    }
    return lb_fail(why, LB_EFORBIDDEN, "key: license %s is not within the caller's organizations",
                   l->key);
}

/* Reads `key` and loads the license the caller may act on. */
static enum lb_err find_license(struct service *svc, const struct caller *c, const cJSON *body,
                                struct license *ret, struct lb_why *why)
{
    const char *key;
    enum lb_err err;

    memset(ret, 0, sizeof(*ret)); /* defined output on every path, failures included */
    err = json_get_string(body, "key", LIC_KEY_MAX, &key, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "key: %s", why->text);
    if (!lic_key_valid(key))
        return lb_fail(why, LB_EINVAL,
                       "key: \"%s\" is not 2-8 groups of 4-8 of [A-Z0-9] joined by '-'", key);
    err = lic_store_get_by_key(service_store(svc), key, ret, why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_EFORBIDDEN,
                       "key: license %s is not within the caller's organizations", key);
    if (err != LB_OK)
        return err;
    return may_act_on_license(svc, c, ret, why);
}

/* Reads an entity id member (instance ids). */
static enum lb_err get_entity(const cJSON *body, const char *name, const char **ret,
                              struct lb_why *why)
{
    enum lb_err err = json_get_string(body, name, LIC_ENTITY_MAX, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (!lic_entity_valid(*ret))
        return lb_fail(why, LB_EINVAL, "%s: \"%s\" must be 1-128 of [A-Za-z0-9_.:@-]", name, *ret);
    return LB_OK;
}

/* Reads an org id member and checks the caller may act on it. */
static enum lb_err get_org(struct service *svc, const struct caller *c, const cJSON *body,
                           const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(body, "org", SUBJECT_TOKEN_MAX, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "org: %s", why->text);
    if (strcmp(*ret, SUBJECT_SYSTEM_TENANT) == 0 || !subject_tenant_valid(*ret))
        return lb_fail(why, LB_EINVAL, "org: \"%s\" is not an org id", *ret);
    return caller_may_act_on(service_store(svc), c, *ret, why);
}

/*
 * A reply {license: ...} (plus `extra` as `name` when given, which it takes).
 * `snapshot` (taken, may be NULL: built here) is the license's JSON as the
 * change's event carries it: a change's time is now, so it is the same.
 */
static enum lb_err reply_license(struct service *svc, const struct license *l, cJSON *snapshot,
                                 const char *name, cJSON *extra, cJSON **ret_reply,
                                 struct lb_why *why)
{
    cJSON *reply = cJSON_CreateObject();

    if (snapshot == NULL)
        snapshot = lic_license_json(l, service_now_ms(svc), window_ms(svc));

    if (reply == NULL || snapshot == NULL || !cJSON_AddItemToObject(reply, "license", snapshot)) {
        cJSON_Delete(reply);
        cJSON_Delete(snapshot);
        cJSON_Delete(extra);
        return oom(why);
    }
    if (name != NULL && !cJSON_AddItemToObject(reply, name, extra)) {
        cJSON_Delete(reply);
        cJSON_Delete(extra);
        return oom(why);
    }
    *ret_reply = reply;
    return LB_OK;
}

/* What a license command needs to record its change. */
struct command {
    const struct request *req;
    const struct caller *caller;
};

/*
 * Stores a changed license (version and rev +1, unless `terms` is false: a
 * check-in changes only rev) and records change `name`; *ret_snapshot
 * (optional) gets the license's JSON for the reply.
 */
static enum lb_err save(struct service *svc, const struct command *cmd, struct license *l,
                        const char *name, bool terms, const cJSON *before, const cJSON *after,
                        const cJSON *deployment, cJSON **ret_snapshot, struct lb_why *why)
{
    const struct actor actor = {.org = cmd->caller->org, .user = cmd->caller->user};
    const struct lic_cause cause = {.kind = "request", .id = cmd->req->request_id};
    int64_t now = service_now_ms(svc);
    enum lb_err err;

    if (terms) {
        l->version++;
        l->updated_ms = now;
    }
    l->rev++;
    err = lic_store_put(service_store(svc), l, lic_next_transition(l, window_ms(svc)), why);
    if (err == LB_OK)
        err = lic_record(svc, l,
                         &(struct lic_change){.name = name,
                                              .actor = &actor,
                                              .cause = &cause,
                                              .time_ms = now,
                                              .before = before,
                                              .after = after,
                                              .deployment = deployment,
                                              .history = terms},
                         ret_snapshot, why);
    return err;
}

/* {name: value} objects for before/after. */
static cJSON *one_number(const char *name, int64_t value)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && !cJSON_AddNumberToObject(o, name, (double)value)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *one_string(const char *name, const char *value)
{
    cJSON *o = cJSON_CreateObject();

    if (o != NULL && !cJSON_AddStringToObject(o, name, value)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *orgs_value(const struct license *l)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(o, "orgs");
    bool ok = list != NULL;

    for (size_t i = 0; ok && i < l->org_count; i++)
        ok = cJSON_AddItemToArray(list, cJSON_CreateString(l->orgs[i]));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Saves a change of terms with before/after built by the caller (it frees them), and replies. */
static enum lb_err save_change(struct service *svc, const struct command *cmd, struct license *l,
                               const char *name, cJSON *before, cJSON *after, cJSON *deployment,
                               bool reply_deployment, cJSON **ret_reply, struct lb_why *why)
{
    cJSON *snapshot = NULL;
    enum lb_err err = before && after
                          ? save(svc, cmd, l, name, true, before, after, deployment, &snapshot, why)
                          : oom(why);

    cJSON_Delete(before);
    cJSON_Delete(after);
    if (err == LB_OK && reply_deployment)
        return reply_license(svc, l, snapshot, "deployment", deployment, ret_reply, why);
    cJSON_Delete(deployment);
    if (err == LB_OK)
        return reply_license(svc, l, snapshot, NULL, NULL, ret_reply, why);
    cJSON_Delete(snapshot);
    return err;
}

/* ---- products --------------------------------------------------------------- */

static enum lb_err decode_installers(const cJSON *list, struct installer *ret, size_t *ret_n,
                                     struct lb_why *why)
{
    static const char *const known[] = {"version", "platform", "link", "checksum", NULL};
    static const size_t max[] = {LIC_VERSION_MAX, LIC_PLATFORM_MAX, LIC_LINK_MAX, LIC_CHECKSUM_MAX};
    const cJSON *item;
    size_t n = 0;

    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > LIC_INSTALLERS_MAX)
        return lb_fail(why, LB_EINVAL, "installers: must be an array of at most %d installers",
                       LIC_INSTALLERS_MAX);
    cJSON_ArrayForEach(item, list)
    {
        char *fields[] = {ret[n].version, ret[n].platform, ret[n].link, ret[n].checksum};
        enum lb_err err = cJSON_IsObject(item) ? json_check_members(item, known, why)
                                               : lb_fail(why, LB_EINVAL, "not an object");

        if (err != LB_OK)
            return lb_fail(why, LB_EINVAL, "installers[%zu]: %s", n, why->text);
        for (int f = 0; f < 4; f++) {
            const char *text;

            err = json_get_string(item, known[f], max[f], &text, why);
            if (err != LB_OK)
                return lb_fail(why, LB_EINVAL, "installers[%zu].%s: %s", n, known[f], why->text);
            (void)snprintf(fields[f], max[f] + 1, "%s", text);
        }
        if (strncmp(ret[n].link, "https://", 8) != 0)
            return lb_fail(why, LB_EINVAL, "installers[%zu].link: must be an https:// URL", n);
        n++;
    }
    *ret_n = n;
    return LB_OK;
}

static enum lb_err get_product_id(const cJSON *body, const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(body, "product", LIC_PRODUCT_ID_MAX, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "product: %s", why->text);
    if (!lic_product_id_valid(*ret))
        return lb_fail(why, LB_EINVAL,
                       "product: \"%s\" must be 1-64 of [a-z0-9_-], starting "
                       "with a letter or digit",
                       *ret);
    return LB_OK;
}

static enum lb_err get_bool(const cJSON *body, const char *name, bool *ret, struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (item == NULL)
        return LB_ENOTFOUND;
    if (!cJSON_IsBool(item))
        return lb_fail(why, LB_EINVAL, "%s: must be true or false", name);
    *ret = cJSON_IsTrue(item);
    return LB_OK;
}

/* Emits product_<name> (tenant _sys) and replies {product, installers}. */
static enum lb_err product_done(struct service *svc, const struct product *p, const char *name,
                                const struct product *before, cJSON **ret_reply, struct lb_why *why)
{
    cJSON *installers = NULL;
    cJSON *data;
    enum lb_err err = lic_store_installers_json(service_store(svc), p->id, &installers, why);

    if (err != LB_OK)
        return err;
    data = cJSON_CreateObject();
    if (data == NULL || !cJSON_AddItemToObject(data, "installers", installers)) {
        cJSON_Delete(data);
        cJSON_Delete(installers);
        return oom(why);
    }
    if (!cJSON_AddItemToObject(data, "product", lic_product_json(p)) ||
        (before != NULL && !cJSON_AddItemToObject(data, "before", lic_product_json(before))))
        err = oom(why);
    if (err == LB_OK)
        err = service_emit(svc, SUBJECT_SYSTEM_TENANT, name, 1, data, NULL, why);
    if (err != LB_OK) {
        cJSON_Delete(data);
        return err;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(data, "before");
    *ret_reply = data;
    return LB_OK;
}

LIC_ENDPOINT(lic_product_add)
{
    static const char *const known[] = {"product", "name", "delivery", "shown", "installers", NULL};
    struct product p = {0};
    struct product existing;
    struct installer list[LIC_INSTALLERS_MAX];
    const cJSON *installers = cJSON_GetObjectItemCaseSensitive(req->body, "installers");
    size_t n = 0;
    const char *text;
    enum lb_err err;

    err = json_check_members(req->body, known, why);
    if (err == LB_OK)
        err = get_product_id(req->body, &text, why);
    if (err != LB_OK)
        return err;
    (void)snprintf(p.id, sizeof(p.id), "%s", text);
    err = json_get_string(req->body, "name", LIC_NAME_MAX, &text, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "name: %s", why->text);
    (void)snprintf(p.name, sizeof(p.name), "%s", text);
    err = json_get_string(req->body, "delivery", 16, &text, why);
    if (err != LB_OK || !lic_delivery_parse(text, &p.delivery))
        return lb_fail(why, LB_EINVAL, "delivery: must be \"on_premises\" or \"cloud\"");
    err = get_bool(req->body, "shown", &p.shown, why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "shown: missing");
    if (err != LB_OK)
        return err;
    if (installers != NULL) {
        err = decode_installers(installers, list, &n, why);
        if (err != LB_OK)
            return err;
    }
    err = lic_store_product_get(service_store(svc), p.id, &existing, why);
    if (err == LB_OK)
        return lb_fail(why, LB_ECONFLICT,
                       "product: %s is already in the catalog; use "
                       "product_update",
                       p.id);
    if (err != LB_ENOTFOUND)
        return err;
    p.version = 1;
    err = lic_store_product_put(service_store(svc), &p, why);
    if (err == LB_OK)
        err = lic_store_installers_set(service_store(svc), p.id, list, n, why);
    if (err != LB_OK)
        return err;
    return product_done(svc, &p, "product_added", NULL, ret_reply, why);
}

LIC_ENDPOINT(lic_product_update)
{
    static const char *const known[] = {"product", "name", "shown", "installers", NULL};
    struct product p;
    struct product before;
    struct installer list[LIC_INSTALLERS_MAX];
    const cJSON *installers = cJSON_GetObjectItemCaseSensitive(req->body, "installers");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(req->body, "name");
    size_t n = 0;
    const char *text;
    bool shown = false;
    enum lb_err err;

    if (cJSON_GetObjectItemCaseSensitive(req->body, "delivery") != NULL)
        return lb_fail(why, LB_EINVAL, "delivery: cannot change (licenses count by it)");
    err = json_check_members(req->body, known, why);
    if (err == LB_OK)
        err = get_product_id(req->body, &text, why);
    if (err != LB_OK)
        return err;
    err = lic_store_product_get(service_store(svc), text, &p, why);
    if (err != LB_OK)
        return err;
    before = p;
    if (name == NULL && installers == NULL &&
        cJSON_GetObjectItemCaseSensitive(req->body, "shown") == NULL)
        return lb_fail(why, LB_EINVAL, "nothing to update: give name, shown or installers");
    if (name != NULL) {
        err = json_get_string(req->body, "name", LIC_NAME_MAX, &text, why);
        if (err != LB_OK)
            return lb_fail(why, LB_EINVAL, "name: %s", why->text);
        (void)snprintf(p.name, sizeof(p.name), "%s", text);
    }
    err = get_bool(req->body, "shown", &shown, why);
    if (err == LB_OK)
        p.shown = shown;
    else if (err != LB_ENOTFOUND)
        return err;
    if (installers != NULL) {
        err = decode_installers(installers, list, &n, why);
        if (err == LB_OK)
            err = lic_store_installers_set(service_store(svc), p.id, list, n, why);
        if (err != LB_OK)
            return err;
    }
    p.version++;
    err = lic_store_product_put(service_store(svc), &p, why);
    if (err != LB_OK)
        return err;
    return product_done(svc, &p, "product_updated", &before, ret_reply, why);
}

LIC_ENDPOINT(lic_product_installers)
{
    static const char *const known[] = {"tenant", "caller", "product", NULL};
    struct caller c;
    struct product p;
    const char *id;
    cJSON *installers = NULL;
    cJSON *reply;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = get_product_id(req->body, &id, why);
    if (err == LB_OK)
        err = lic_store_product_get(service_store(svc), id, &p, why);
    if (err == LB_OK)
        err = lic_store_installers_json(service_store(svc), id, &installers, why);
    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddItemToObject(reply, "product", lic_product_json(&p)) ||
        !cJSON_AddItemToObject(reply, "installers", installers)) {
        cJSON_Delete(reply);
        cJSON_Delete(installers);
        return oom(why);
    }
    *ret_reply = reply;
    return LB_OK;
}

/* ---- license commands --------------------------------------------------------- */

LIC_ENDPOINT(lic_license_issue)
{
    static const char *const known[] = {"tenant",     "caller", "product", "key",  "type", "start",
                                        "expiration", "limit",  "note",    "orgs", NULL};
    struct caller c;
    struct issue_spec spec;
    struct license l;
    struct actor actor;
    cJSON *snapshot = NULL;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = lic_decode_issue(req->body, &spec, why);
    for (size_t i = 0; err == LB_OK && i < spec.org_count; i++) {
        err = caller_may_act_on(service_store(svc), &c, spec.orgs[i], why);
        if (err != LB_OK)
            err = lb_fail(why, err, "orgs[%zu]: %s", i, why->text);
    }
    if (err != LB_OK)
        return err;
    spec.tenant = c.tenant;
    actor.org = c.org;
    actor.user = c.user;
    err = lic_issue(svc, &spec, &(struct lic_cause){.kind = "request", .id = req->request_id},
                    &actor, service_now_ms(svc), &l, &snapshot, why);
    if (err != LB_OK)
        return err;
    return reply_license(svc, &l, snapshot, NULL, NULL, ret_reply, why);
}

LIC_ENDPOINT(lic_license_renew)
{
    static const char *const known[] = {"tenant", "caller", "key", "expiration", NULL};
    struct caller c;
    struct license l;
    const char *text;
    char old[16];
    int64_t day_ms;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err != LB_OK)
        return err;
    err = json_get_string(req->body, "expiration", 10, &text, why);
    if (err != LB_OK || !lic_date_parse(text, &day_ms))
        return lb_fail(why, LB_EINVAL, "expiration: must be a date YYYY-MM-DD");
    lic_date_format(l.expires_ms - LIC_DAY_MS, old);
    if (day_ms + LIC_DAY_MS <= l.expires_ms)
        return lb_fail(why, LB_ECONFLICT,
                       "expiration: %s is not after the current expiration %s; a renewal "
                       "extends a license",
                       text, old);
    l.expires_ms = day_ms + LIC_DAY_MS;
    return save_change(svc, &(struct command){req, &c}, &l, "license_renewed",
                       one_string("expiration", old), one_string("expiration", text), NULL, false,
                       ret_reply, why);
}

LIC_ENDPOINT(lic_license_set_limit)
{
    static const char *const known[] = {"tenant", "caller", "key", "limit", NULL};
    struct caller c;
    struct license l;
    int64_t limit;
    int64_t old;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err != LB_OK)
        return err;
    err = json_get_int(req->body, "limit", 1,
                       l.delivery == LIC_CLOUD ? LIC_SCANS_MAX : LIC_INSTANCES_MAX, &limit, why);
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "limit: %s", why->text);
    if (l.delivery == LIC_ON_PREMISES && limit < l.deployed)
        return lb_fail(why, LB_ECONFLICT,
                       "limit: %lld is below the %lld deployed instances; deactivate some first",
                       (long long)limit, (long long)l.deployed);
    if (limit == l.limit) /* nothing changes: no event */
        return reply_license(svc, &l, NULL, NULL, NULL, ret_reply, why);
    old = l.limit;
    l.limit = limit;
    return save_change(svc, &(struct command){req, &c}, &l, "license_limit_changed",
                       one_number("limit", old), one_number("limit", limit), NULL, false, ret_reply,
                       why);
}

LIC_ENDPOINT(lic_license_set_note)
{
    static const char *const known[] = {"tenant", "caller", "key", "note", NULL};
    const cJSON *note = cJSON_GetObjectItemCaseSensitive(req->body, "note");
    struct caller c;
    struct license l;
    char old[LIC_NOTE_MAX + 1];
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err != LB_OK)
        return err;
    if (!cJSON_IsString(note))
        return lb_fail(why, LB_EINVAL, "note: must be a string (\"\" clears it)");
    if (strlen(note->valuestring) > LIC_NOTE_MAX)
        return lb_fail(why, LB_EINVAL, "note: longer than %d bytes", LIC_NOTE_MAX);
    if (strcmp(note->valuestring, l.note) == 0)
        return reply_license(svc, &l, NULL, NULL, NULL, ret_reply, why);
    memcpy(old, l.note, sizeof(old));
    (void)snprintf(l.note, sizeof(l.note), "%s", note->valuestring);
    return save_change(svc, &(struct command){req, &c}, &l, "license_note_changed",
                       one_string("note", old), one_string("note", l.note), NULL, false, ret_reply,
                       why);
}

LIC_ENDPOINT(lic_license_convert)
{
    static const char *const known[] = {"tenant", "caller", "key", NULL};
    struct caller c;
    struct license l;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err != LB_OK)
        return err;
    if (l.type == LIC_PURCHASED)
        return lb_fail(why, LB_ECONFLICT, "key: license %s is already a purchased license", l.key);
    l.type = LIC_PURCHASED;
    return save_change(svc, &(struct command){req, &c}, &l, "license_converted",
                       one_string("type", "evaluation"), one_string("type", "purchased"), NULL,
                       false, ret_reply, why);
}

static int org_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

LIC_ENDPOINT(lic_license_assign)
{
    static const char *const known[] = {"tenant", "caller", "key", "org", NULL};
    struct caller c;
    struct license l;
    const char *org;
    cJSON *before;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err == LB_OK)
        err = get_org(svc, &c, req->body, &org, why);
    if (err != LB_OK)
        return err;
    for (size_t i = 0; i < l.org_count; i++) {
        if (strcmp(l.orgs[i], org) == 0) /* already assigned: nothing changes, no event */
            return reply_license(svc, &l, NULL, NULL, NULL, ret_reply, why);
    }
    if (l.org_count == LIC_ORGS_MAX)
        return lb_fail(why, LB_ECONFLICT, "org: license %s is already assigned to %d orgs", l.key,
                       LIC_ORGS_MAX);
    before = orgs_value(&l);
    (void)snprintf(l.orgs[l.org_count++], sizeof(l.orgs[0]), "%s", org);
    qsort(l.orgs, l.org_count, sizeof(l.orgs[0]), org_cmp);
    l.orgs_changed = true;
    return save_change(svc, &(struct command){req, &c}, &l, "license_assigned", before,
                       orgs_value(&l), NULL, false, ret_reply, why);
}

LIC_ENDPOINT(lic_license_unassign)
{
    static const char *const known[] = {"tenant", "caller", "key", "org", NULL};
    struct caller c;
    struct license l;
    const char *org;
    cJSON *before;
    size_t at = LIC_ORGS_MAX;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err == LB_OK)
        err = get_org(svc, &c, req->body, &org, why);
    if (err != LB_OK)
        return err;
    for (size_t i = 0; i < l.org_count; i++) {
        if (strcmp(l.orgs[i], org) == 0)
            at = i;
    }
    if (at == LIC_ORGS_MAX)
        return lb_fail(why, LB_ECONFLICT, "org: license %s is not assigned to %s", l.key, org);
    if (l.org_count == 1)
        return lb_fail(why, LB_ECONFLICT,
                       "org: %s is the only org of license %s; a license keeps at least one", org,
                       l.key);
    before = orgs_value(&l);
    memmove(l.orgs[at], l.orgs[at + 1], (l.org_count - at - 1) * sizeof(l.orgs[0]));
    l.org_count--;
    l.orgs_changed = true;
    return save_change(svc, &(struct command){req, &c}, &l, "license_unassigned", before,
                       orgs_value(&l), NULL, false, ret_reply, why);
}

/* ---- deployments ------------------------------------------------------------- */

static cJSON *deployment_json(const struct deployment *d)
{
    cJSON *o = cJSON_CreateObject();
    char activated[32];
    char seen[32];

    envelope_format_time(d->activated_ms, activated);
    envelope_format_time(d->last_seen_ms, seen);
    if (o == NULL || !cJSON_AddStringToObject(o, "instance", d->instance) ||
        !cJSON_AddStringToObject(o, "host", d->host) ||
        !cJSON_AddStringToObject(o, "product_version", d->product_version) ||
        !cJSON_AddStringToObject(o, "who", d->who) ||
        !cJSON_AddStringToObject(o, "activated_at", activated) ||
        !cJSON_AddStringToObject(o, "last_seen", seen)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static enum lb_err get_text(const cJSON *body, const char *name, size_t max, char *dst, size_t size,
                            struct lb_why *why)
{
    const char *text;
    enum lb_err err = json_get_string(body, name, max, &text, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    (void)snprintf(dst, size, "%s", text);
    return LB_OK;
}

LIC_ENDPOINT(lic_license_activate)
{
    static const char *const known[] = {"tenant", "caller",          "key", "product", "instance",
                                        "host",   "product_version", NULL};
    struct store *s = service_store(svc);
    struct caller c;
    struct license l;
    struct deployment d = {0};
    struct deployment existing;
    struct lb_why refused_why;
    const char *product;
    const char *instance;
    int64_t now = service_now_ms(svc);
    bool added = false;
    enum lb_err refusal;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err == LB_OK)
        err = get_product_id(req->body, &product, why);
    if (err == LB_OK)
        err = get_entity(req->body, "instance", &instance, why);
    if (err == LB_OK)
        err = get_text(req->body, "host", LIC_HOST_MAX, d.host, sizeof(d.host), why);
    if (err == LB_OK)
        err = get_text(req->body, "product_version", LIC_VERSION_MAX, d.product_version,
                       sizeof(d.product_version), why);
    if (err != LB_OK)
        return err;
    (void)snprintf(d.instance, sizeof(d.instance), "%s", instance);
    (void)snprintf(d.who, sizeof(d.who), "%s", c.user);
    d.activated_ms = d.last_seen_ms = now;
    /* A new instance (the usual case) costs one insert; a known one is read back below. */
    err = lic_check_activation(&l, product, false, now, why);
    if (err == LB_OK) {
        err = lic_store_deployment_add(s, l.id, &d, &added, why);
        if (err != LB_OK)
            return err;
        if (added) {
            l.deployed++;
            return save_change(svc, &(struct command){req, &c}, &l, "license_activated",
                               one_number("deployed", l.deployed - 1),
                               one_number("deployed", l.deployed), deployment_json(&d), true,
                               ret_reply, why);
        }
    }
    /* Refused as a new instance (e.g. all deployed), or already there: is it a known one? */
    refusal = err;
    refused_why = *why;
    err = lic_store_deployment_get(s, l.id, instance, &existing, why);
    if (err == LB_ENOTFOUND && refusal != LB_OK) {
        *why = refused_why;
        return refusal;
    }
    if (err == LB_OK)
        err = lic_check_activation(&l, product, true, now, why);
    if (err != LB_OK)
        return err;
    /* The same deployment again: idempotent, no event. Another one under its id: refused. */
    if (strcmp(existing.host, d.host) != 0 ||
        strcmp(existing.product_version, d.product_version) != 0)
        return lb_fail(why, LB_ECONFLICT,
                       "instance: %s is already activated on host %s (version %s); "
                       "deactivate it first",
                       instance, existing.host, existing.product_version);
    return reply_license(svc, &l, NULL, "deployment", deployment_json(&existing), ret_reply, why);
}

LIC_ENDPOINT(lic_license_deactivate)
{
    static const char *const known[] = {"tenant", "caller", "key", "instance", NULL};
    struct store *s = service_store(svc);
    struct caller c;
    struct license l;
    struct deployment d;
    const char *instance;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err == LB_OK)
        err = get_entity(req->body, "instance", &instance, why);
    if (err == LB_OK)
        err = lic_store_deployment_get(s, l.id, instance, &d, why);
    if (err == LB_OK)
        err = lic_store_deployment_delete(s, l.id, instance, why);
    if (err != LB_OK)
        return err;
    l.deployed--;
    return save_change(svc, &(struct command){req, &c}, &l, "license_deactivated",
                       one_number("deployed", l.deployed + 1), one_number("deployed", l.deployed),
                       deployment_json(&d), false, ret_reply, why);
}

LIC_ENDPOINT(lic_license_checkin)
{
    static const char *const known[] = {"tenant",   "caller",          "key",
                                        "instance", "product_version", NULL};
    struct store *s = service_store(svc);
    struct caller c;
    struct license l;
    struct deployment d = {0};
    struct deployment seen;
    const char *instance;
    int64_t now = service_now_ms(svc);
    cJSON *reply;
    cJSON *before = NULL;
    cJSON *after = NULL;
    cJSON *deployment = NULL;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err == LB_OK)
        err = get_entity(req->body, "instance", &instance, why);
    if (err == LB_OK)
        err = lic_store_deployment_get(s, l.id, instance, &d, why);
    seen = d;
    if (err == LB_OK && cJSON_GetObjectItemCaseSensitive(req->body, "product_version") != NULL)
        err = get_text(req->body, "product_version", LIC_VERSION_MAX, seen.product_version,
                       sizeof(seen.product_version), why);
    if (err != LB_OK)
        return err;
    /* Check-ins only move last_seen forward (and may note a new product version): no history,
     * no version, but an event with the deployment, so a rebuild brings it back (D22). */
    if (now > seen.last_seen_ms)
        seen.last_seen_ms = now;
    if (seen.last_seen_ms != d.last_seen_ms ||
        strcmp(seen.product_version, d.product_version) != 0) {
        char was[32];
        char is[32];

        envelope_format_time(d.last_seen_ms, was);
        envelope_format_time(seen.last_seen_ms, is);
        err = lic_store_deployment_put(s, l.id, &seen, why);
        before = one_string("last_seen", was);
        after = one_string("last_seen", is);
        deployment = deployment_json(&seen);
        if (err == LB_OK && (before == NULL || after == NULL || deployment == NULL))
            err = oom(why);
        if (err == LB_OK)
            err = save(svc, &(struct command){req, &c}, &l, "license_checked_in", false, before,
                       after, deployment, NULL, why);
        cJSON_Delete(before);
        cJSON_Delete(after);
        cJSON_Delete(deployment);
        if (err != LB_OK)
            return err;
    }
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddStringToObject(reply, "key", l.key) ||
        !cJSON_AddItemToObject(reply, "deployment", deployment_json(&seen))) {
        cJSON_Delete(reply);
        return oom(why);
    }
    *ret_reply = reply;
    return LB_OK;
}

/* ---- queries ------------------------------------------------------------------ */

LIC_ENDPOINT(lic_license_get)
{
    static const char *const known[] = {"tenant", "caller", "key", NULL};
    struct caller c;
    struct license l;
    cJSON *deployments = NULL;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err == LB_OK)
        err = lic_store_deployments_json(service_store(svc), l.id, &deployments, why);
    if (err != LB_OK)
        return err;
    return reply_license(svc, &l, NULL, "deployments", deployments, ret_reply, why);
}

/* Reads the optional page `limit` (default LIC_PAGE_DEFAULT). */
static enum lb_err get_page_limit(const cJSON *body, int *ret, struct lb_why *why)
{
    int64_t limit = LIC_PAGE_DEFAULT;
    enum lb_err err = json_get_int(body, "limit", 1, LIC_PAGE_MAX, &limit, why);

    if (err != LB_OK && err != LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "limit: %s", why->text);
    *ret = (int)limit;
    return LB_OK;
}

/* Reads the optional `cursor` (NULL when absent). */
static enum lb_err get_cursor(const cJSON *body, const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(body, "cursor", LIC_KEY_MAX, ret, why);

    if (err == LB_ENOTFOUND) {
        *ret = NULL;
        return LB_OK;
    }
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "cursor: %s", why->text);
    for (const char *p = *ret; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'Z') || *p == '-'))
            return lb_fail(why, LB_EINVAL, "cursor: not a cursor this service returned");
    }
    return LB_OK;
}

/* What license_list builds while the store lists. */
struct listing {
    const struct service *svc;
    int64_t now_ms;
    int limit;                      /* licenses in the page; one more tells there is a next page */
    int listed;                     /* licenses added so far */
    cJSON *licenses;                /* the reply's array */
    char last_key[LIC_KEY_MAX + 1]; /* the key of the page's last license: the next cursor */
};

static enum lb_err list_one(void *ctx, const struct license *l, struct lb_why *why)
{
    struct listing *page = ctx;

    if (page->listed == page->limit)
        return LB_OK; /* the one past the page: only says there is more */
    if (!cJSON_AddItemToArray(page->licenses,
                              lic_license_json(l, page->now_ms, window_ms(page->svc))))
        return oom(why);
    memcpy(page->last_key, l->key, sizeof(page->last_key));
    page->listed++;
    return LB_OK;
}

LIC_ENDPOINT(lic_license_list)
{
    static const char *const known[] = {"tenant", "caller", "org", "include_expired",
                                        "limit",  "cursor", NULL};
    struct listing page = {.svc = svc, .now_ms = service_now_ms(svc), .limit = LIC_PAGE_DEFAULT};
    struct caller c;
    const char *org;
    const char *cursor;
    bool include_expired = false;
    int n = 0;
    cJSON *reply = NULL;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = get_org(svc, &c, req->body, &org, why);
    if (err == LB_OK) {
        err = get_bool(req->body, "include_expired", &include_expired, why);
        err = err == LB_ENOTFOUND ? LB_OK : err;
    }
    if (err == LB_OK)
        err = get_page_limit(req->body, &page.limit, why);
    if (err == LB_OK)
        err = get_cursor(req->body, &cursor, why);
    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    page.licenses = cJSON_AddArrayToObject(reply, "licenses");
    if (page.licenses == NULL || !cJSON_AddStringToObject(reply, "org", org))
        err = oom(why);
    if (err == LB_OK)
        err =
            lic_store_list(service_store(svc), c.tenant, org, cursor ? cursor : "", include_expired,
                           page.now_ms, page.limit + 1, list_one, &page, &n, why);
    if (err == LB_OK && !cJSON_AddItemToObject(reply, "next_cursor",
                                               n > page.limit ? cJSON_CreateString(page.last_key)
                                                              : cJSON_CreateNull()))
        err = oom(why);
    if (err != LB_OK) {
        cJSON_Delete(reply);
        return err;
    }
    *ret_reply = reply;
    return LB_OK;
}

LIC_ENDPOINT(lic_license_history)
{
    static const char *const known[] = {"tenant", "caller", "key", "limit", "cursor", NULL};
    struct caller c;
    struct license l;
    const char *cursor;
    int64_t after = 0;
    int limit = LIC_PAGE_DEFAULT;
    bool more = false;
    cJSON *entries = NULL;
    cJSON *reply;
    char next[24];
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    if (err == LB_OK)
        err = get_page_limit(req->body, &limit, why);
    if (err == LB_OK)
        err = get_cursor(req->body, &cursor, why);
    if (err == LB_OK && cursor != NULL) {
        char *end;

        after = strtoll(cursor, &end, 10);
        if (*end != '\0' || after < 0)
            err = lb_fail(why, LB_EINVAL, "cursor: not a cursor this service returned");
    }
    if (err == LB_OK)
        err = lic_store_history_json(service_store(svc), l.id, after, limit, &entries, &more, why);
    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    if (reply == NULL || !cJSON_AddStringToObject(reply, "key", l.key) ||
        !cJSON_AddItemToObject(reply, "entries", entries)) {
        cJSON_Delete(reply);
        cJSON_Delete(entries);
        return oom(why);
    }
    (void)snprintf(next, sizeof(next), "%lld", (long long)after + cJSON_GetArraySize(entries));
    if (!cJSON_AddItemToObject(reply, "next_cursor",
                               more ? cJSON_CreateString(next) : cJSON_CreateNull())) {
        cJSON_Delete(reply);
        return oom(why);
    }
    *ret_reply = reply;
    return LB_OK;
}

LIC_ENDPOINT(lic_license_shown_under)
{
    static const char *const known[] = {"tenant", "caller", "key", NULL};
    struct caller c;
    struct license l;
    char paths[LIC_ORGS_MAX][4200];
    const char *live[LIC_ORGS_MAX];
    size_t which[LIC_ORGS_MAX];
    bool shown[LIC_ORGS_MAX];
    size_t n = 0;
    cJSON *reply;
    cJSON *orgs;
    enum lb_err err;

    err = open_request(svc, req, known, &c, why);
    if (err == LB_OK)
        err = find_license(svc, &c, req->body, &l, why);
    for (size_t i = 0; err == LB_OK && i < l.org_count; i++) {
        err = lic_store_org_path(service_store(svc), l.tenant, l.orgs[i], paths[n],
                                 sizeof(paths[n]), why);
        if (err == LB_OK) {
            live[n] = paths[n];
            which[n++] = i;
        } else if (err == LB_ENOTFOUND) { /* a deleted org shows nothing */
            err = LB_OK;
        }
    }
    if (err != LB_OK)
        return err;
    lic_shown_under(live, n, shown);
    reply = cJSON_CreateObject();
    orgs = cJSON_AddArrayToObject(reply, "orgs");
    if (orgs == NULL || !cJSON_AddStringToObject(reply, "key", l.key)) {
        cJSON_Delete(reply);
        return oom(why);
    }
    for (size_t i = 0; i < n; i++) {
        struct lb_why ignored;

        if (shown[i] &&
            caller_may_act_on(service_store(svc), &c, l.orgs[which[i]], &ignored) == LB_OK &&
            !cJSON_AddItemToArray(orgs, cJSON_CreateString(l.orgs[which[i]]))) {
            cJSON_Delete(reply);
            return oom(why);
        }
    }
    *ret_reply = reply;
    return LB_OK;
}
