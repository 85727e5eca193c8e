/*
 * catalog.c - the platform-wide package catalog (package_add,
 * package_update, package_list) and the entitlement query (entitled).
 *
 * Packages carry no tenant and no caller: who may change the catalog is
 * decided by NATS permissions on lb.api.subscriptions.package_* (operators
 * only); their events go to tenant "_sys". The entitlement query is answered
 * from this service's own tables with a handful of index lookups.
 */
#include <stdio.h>
#include <string.h>

#include "json_strict.h"
#include "subjects.h"
#include "subscriptions.h"

/* The actor of catalog changes (no caller on these requests). */
#define ACTOR_OPERATOR "operator"

/* ---- packages ------------------------------------------------------------ */

static enum lb_err get_package_id(const struct request *req, const char **ret_id,
                                  struct lb_why *why)
{
    enum lb_err err = json_get_string(req->body, "package", SUBS_NAME_ID_MAX, ret_id, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "package: %s", why->text);
    if (!subs_name_id_valid(*ret_id))
        return lb_fail(why, LB_EINVAL,
                       "package: \"%s\" must be 1-%d of [a-z0-9_], starting with a letter", *ret_id,
                       SUBS_NAME_ID_MAX);
    return LB_OK;
}

/* Checks `features` (an array of 1..SUBS_FEATURES_MAX distinct feature ids). */
static enum lb_err check_features(const cJSON *features, struct lb_why *why)
{
    const cJSON *f;
    int n = 0;

    if (!cJSON_IsArray(features))
        return lb_fail(why, LB_EINVAL, "features: must be an array of feature ids");
    cJSON_ArrayForEach(f, features)
    {
        if (++n > SUBS_FEATURES_MAX)
            return lb_fail(why, LB_ETOOBIG, "features: more than %d", SUBS_FEATURES_MAX);
        if (!cJSON_IsString(f) || !subs_name_id_valid(f->valuestring))
            return lb_fail(why, LB_EINVAL,
                           "features[%d]: must be 1-%d of [a-z0-9_], starting with a letter", n - 1,
                           SUBS_NAME_ID_MAX);
        for (const cJSON *g = features->child; g != f; g = g->next) {
            if (strcmp(g->valuestring, f->valuestring) == 0)
                return lb_fail(why, LB_EINVAL, "features: \"%s\" is listed twice", f->valuestring);
        }
    }
    if (n == 0)
        return lb_fail(why, LB_EINVAL, "features: must not be empty");
    return LB_OK;
}

/* The package as package_list and package_changed show it (caller frees). */
static cJSON *package_json(struct store *s, const char *id, struct lb_why *why)
{
    char name[SUBS_PACKAGE_NAME_MAX + 1];
    int64_t version;
    cJSON *o;
    cJSON *features;

    if (subs_store_package_get(s, id, name, sizeof(name), &version, why) != LB_OK)
        return NULL;
    o = cJSON_CreateObject();
    if (o == NULL || !cJSON_AddStringToObject(o, "package", id) ||
        !cJSON_AddStringToObject(o, "name", name) ||
        (features = cJSON_AddArrayToObject(o, "features")) == NULL ||
        !cJSON_AddNumberToObject(o, "version", (double)version)) {
        cJSON_Delete(o);
        (void)lb_fail(why, LB_ENOMEM, "out of memory");
        return NULL;
    }
    if (subs_store_features_json(s, id, features, why) != LB_OK) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Stores name and features, emits package_changed and replies with the package. */
static enum lb_err package_save(struct service *svc, const char *id, const char *name,
                                const cJSON *features, int64_t version, const char *change,
                                cJSON **ret_reply, struct lb_why *why)
{
    struct store *s = service_store(svc);
    const cJSON *f;
    cJSON *event = NULL;
    enum lb_err err;

    why->text[0] = '\0';
    err = subs_store_package_put(s, id, name, version, service_now_ms(svc), why);
    if (err == LB_OK && features != NULL) {
        err = subs_store_features_clear(s, id, why);
        cJSON_ArrayForEach(f, features)
        {
            if (err == LB_OK)
                err = subs_store_feature_add(s, id, f->valuestring, why);
        }
    }
    if (err != LB_OK)
        return err;
    event = package_json(s, id, why);
    if (event == NULL || !cJSON_AddStringToObject(event, "change", change) ||
        !cJSON_AddStringToObject(event, "actor", ACTOR_OPERATOR)) {
        cJSON_Delete(event);
        return why->text[0] ? LB_EIO : lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = subs_add_watermark(svc, event, why);
    if (err == LB_OK)
        err = service_emit(svc, SUBJECT_SYSTEM_TENANT, "package_changed", 1, event, NULL, why);
    cJSON_Delete(event);
    if (err != LB_OK)
        return err;
    *ret_reply = package_json(s, id, why);
    return *ret_reply ? LB_OK : LB_ENOMEM;
}

enum lb_err subs_package_add(struct service *svc, const struct request *req, cJSON **ret_reply,
                             struct lb_why *why)
{
    static const char *const known[] = {"package", "name", "features", NULL};
    struct store *s = service_store(svc);
    const char *id;
    const char *name;
    char old_name[SUBS_PACKAGE_NAME_MAX + 1];
    int64_t version;
    int64_t count;
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(req->body, "features");
    enum lb_err err;

    err = json_check_members(req->body, known, why);
    if (err == LB_OK)
        err = get_package_id(req, &id, why);
    if (err != LB_OK)
        return err;
    if (json_get_string(req->body, "name", SUBS_PACKAGE_NAME_MAX, &name, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "name: %s", why->text);
    err = check_features(features, why);
    if (err != LB_OK)
        return err;
    err = subs_store_package_get(s, id, old_name, sizeof(old_name), &version, why);
    if (err == LB_OK)
        return lb_fail(why, LB_ECONFLICT, "package %s exists already (use package_update)", id);
    if (err != LB_ENOTFOUND)
        return err;
    err = subs_store_package_count(s, &count, why);
    if (err == LB_OK && count >= SUBS_PACKAGES_MAX)
        return lb_fail(why, LB_ECONFLICT, "the catalog holds %d packages, its limit",
                       SUBS_PACKAGES_MAX);
    if (err != LB_OK)
        return err;
    return package_save(svc, id, name, features, 1, "added", ret_reply, why);
}

enum lb_err subs_package_update(struct service *svc, const struct request *req, cJSON **ret_reply,
                                struct lb_why *why)
{
    static const char *const known[] = {"package", "name", "features", NULL};
    const cJSON *features = cJSON_GetObjectItemCaseSensitive(req->body, "features");
    char name[SUBS_PACKAGE_NAME_MAX + 1];
    const char *id;
    const char *new_name = NULL;
    int64_t version;
    enum lb_err err;

    err = json_check_members(req->body, known, why);
    if (err == LB_OK)
        err = get_package_id(req, &id, why);
    if (err != LB_OK)
        return err;
    err = json_get_string(req->body, "name", SUBS_PACKAGE_NAME_MAX, &new_name, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "name: %s", why->text);
    if (features != NULL && (err = check_features(features, why)) != LB_OK)
        return err;
    if (new_name == NULL && features == NULL)
        return lb_fail(why, LB_EINVAL, "nothing to update: give name, features or both");
    err = subs_store_package_get(service_store(svc), id, name, sizeof(name), &version, why);
    if (err != LB_OK)
        return err;
    return package_save(svc, id, new_name ? new_name : name, features, version + 1, "updated",
                        ret_reply, why);
}

struct package_list {
    struct store *s;
    cJSON *array;
};

static enum lb_err list_package(const char *id, void *arg, struct lb_why *why)
{
    struct package_list *l = arg;
    cJSON *p = package_json(l->s, id, why);

    if (p == NULL || !cJSON_AddItemToArray(l->array, p)) {
        cJSON_Delete(p);
        return LB_ENOMEM;
    }
    return LB_OK;
}

enum lb_err subs_package_list(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why)
{
    static const char *const known[] = {NULL};
    struct package_list l = {.s = service_store(svc)};
    cJSON *reply;
    enum lb_err err;

    err = json_check_members(req->body, known, why);
    if (err != LB_OK)
        return err;
    reply = cJSON_CreateObject();
    if (reply == NULL || (l.array = cJSON_AddArrayToObject(reply, "packages")) == NULL) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    why->text[0] = '\0';
    err = subs_store_each_package(l.s, list_package, &l, why);
    if (err != LB_OK) {
        cJSON_Delete(reply);
        return why->text[0] ? err : lb_fail(why, err, "cannot list packages");
    }
    *ret_reply = reply;
    return LB_OK;
}

/* ---- entitlement ----------------------------------------------------------- */

/*
 * {"entitled", "subscription", "reason"}: constant keys and the reason (a
 * literal) by reference, so the reply costs four small allocations.
 */
static enum lb_err entitlement_reply(bool entitled, const char *sub, const char *reason,
                                     cJSON **ret_reply, struct lb_why *why)
{
    cJSON *reply = cJSON_CreateObject();

    if (reply == NULL || !cJSON_AddItemToObjectCS(reply, "entitled", cJSON_CreateBool(entitled)) ||
        !cJSON_AddItemToObjectCS(reply, "subscription",
                                 sub && sub[0] ? cJSON_CreateString(sub) : cJSON_CreateNull()) ||
        !cJSON_AddItemToObjectCS(reply, "reason", cJSON_CreateStringReference(reason))) {
        cJSON_Delete(reply);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    *ret_reply = reply;
    return LB_OK;
}

/* Reads the optional entity member `name` (NULL when absent). */
static enum lb_err optional_entity(const struct request *req, const char *name, const char **ret_id,
                                   struct lb_why *why)
{
    *ret_id = NULL;
    if (cJSON_GetObjectItemCaseSensitive(req->body, name) == NULL)
        return LB_OK;
    return subs_req_entity(req, name, ret_id, why);
}

/*
 * The question, in order: may the caller ask (subtree), is the customer
 * registered and active, does the feature exist, then the user's seat, the
 * device's install or any subscription. One statement answers everything
 * but the subtree and the device (subs_store_entitlement).
 */
enum lb_err subs_entitled(struct service *svc, const struct request *req, cJSON **ret_reply,
                          struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "customer", "feature",
                                        "user",   "device", NULL};
    struct store *s = service_store(svc);
    struct caller caller;
    struct ent_facts facts;
    const char *customer;
    const char *feature;
    const char *user = NULL;
    const char *device = NULL;
    char org[SUBS_ORG_MAX + 1];
    bool installed = false;
    bool within = false;
    enum lb_err err;

    err = subs_req_caller(svc, req, known, &caller, why);
    if (err == LB_OK)
        err = subs_req_org(req, "customer", &customer, why);
    if (err != LB_OK)
        return err;
    if (json_get_string(req->body, "feature", SUBS_NAME_ID_MAX, &feature, why) != LB_OK ||
        !subs_name_id_valid(feature))
        return lb_fail(why, LB_EINVAL, "feature: must be 1-%d of [a-z0-9_], starting with a letter",
                       SUBS_NAME_ID_MAX);
    err = optional_entity(req, "user", &user, why);
    if (err == LB_OK)
        err = optional_entity(req, "device", &device, why);
    if (err != LB_OK)
        return err;
    if (user != NULL && device != NULL)
        return lb_fail(why, LB_EINVAL, "ask about a user or a device, not both");
    err = caller_may_act_on(s, &caller, customer, why);
    if (err == LB_OK)
        err = subs_store_entitlement(s, caller.tenant, customer, user, feature,
                                     device ? WANT_DEVICES : WANT_ANY, &facts, why);
    if (err != LB_OK)
        return err;
    if (!facts.registered)
        return entitlement_reply(false, NULL, "customer_not_registered", ret_reply, why);
    if (!facts.active)
        return entitlement_reply(false, NULL, "customer_inactive", ret_reply, why);
    if (!facts.known_feature)
        return entitlement_reply(false, NULL, "unknown_feature", ret_reply, why);
    if (device != NULL) {
        err = subs_store_device_get(s, caller.tenant, device, org, &installed, why);
        if (err == LB_OK && org[0] != '\0')
            err = orgtree_within(s, caller.tenant, customer, org, &within, why);
        if (err == LB_ENOTFOUND || (err == LB_OK && !within))
            return entitlement_reply(false, NULL, "device_unknown", ret_reply, why);
        if (err != LB_OK)
            return err;
        if (!installed)
            return entitlement_reply(false, NULL, "device_not_installed", ret_reply, why);
    }
    if (facts.sub[0] != '\0' && !sub_status_grants(facts.status))
        return entitlement_reply(false, facts.sub, "subscription_suspended", ret_reply, why);
    if (facts.sub[0] != '\0')
        return entitlement_reply(true, facts.sub,
                                 user     ? "seat"
                                 : device ? "device_covered"
                                          : "subscription",
                                 ret_reply, why);
    if (user != NULL) {
        char sub[SUBS_ENTITY_MAX + 1];
        enum sub_status status;

        /* No seat: tell "the customer has it, this user does not" from "nobody has it". */
        err = subs_store_best_sub(s, caller.tenant, customer, NULL, feature, WANT_USERS, sub,
                                  &status, why);
        if (err != LB_OK && err != LB_ENOTFOUND)
            return err;
        return entitlement_reply(false, NULL, err == LB_OK ? "no_seat" : "no_subscription",
                                 ret_reply, why);
    }
    return entitlement_reply(false, NULL, "no_subscription", ret_reply, why);
}
