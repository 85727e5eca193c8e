/*
 * events.c - usage's consumed events: users (directory), devices and their
 * associations (agents), heartbeats (signals), scan counts (scanning),
 * subscriptions and seats (subscriptions); and the association rule shared
 * with the device_associate command.
 *
 * Times recorded from an event are the event's `time`, so a replay records
 * the same values. Platform events refuse unknown members; the
 * subscriptions service's subscription_changed may grow members and they
 * are ignored there only (its interface says so).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "subjects.h"
#include "usage.h"

/* ---- decoding ------------------------------------------------------------------ */

static enum lb_err decode_data(const struct envelope *ev, const char *const *known,
                               struct lb_why *why)
{
    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    if (known != NULL && json_check_members(ev->data, known, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "data: %s", why->text);
    return LB_OK;
}

static enum lb_err get_id(const cJSON *obj, const char *name, const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(obj, name, USAGE_ID_MAX, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (!usage_entity_id_valid(*ret))
        return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not a valid id (1-%d of [A-Za-z0-9_.:@-])",
                       name, *ret, USAGE_ID_MAX);
    return LB_OK;
}

static enum lb_err get_org(const cJSON *obj, const char *name, const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(obj, name, USAGE_ORG_MAX, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (!subject_tenant_valid(*ret))
        return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not a valid org id", name, *ret);
    return LB_OK;
}

/* An optional string member: *ret NULL when absent. */
static enum lb_err get_optional(const cJSON *obj, const char *name, size_t max, const char **ret,
                                struct lb_why *why)
{
    enum lb_err err = json_get_string(obj, name, max, ret, why);

    if (err == LB_ENOTFOUND) {
        *ret = NULL;
        return LB_OK;
    }
    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    return LB_OK;
}

static enum lb_err get_text(const cJSON *obj, const char *name, size_t min, size_t max,
                            const char **ret, struct lb_why *why)
{
    enum lb_err err = json_get_string(obj, name, max, ret, why);

    if (err != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (strlen(*ret) < min)
        return lb_fail(why, LB_EINVAL, "%s: shorter than %zu bytes", name, min);
    return LB_OK;
}

/* ---- device owners ----------------------------------------------------------------- */

/*
 * Announces who owns a device now (`user` "" for nobody), for the services
 * that follow ownership (reporting): a change through the agents (an
 * association applied, a refusal that ended the previous one, a detachment),
 * a reinstall, or the owner's deletion. The device_associate command
 * announces its own change as device_associated. Handlers emit it after
 * anything else they emit, so the events they emitted before it existed
 * keep their derived ids (a rebuild re-emits them byte for byte, D16).
 */
static enum lb_err owner_changed(struct service *svc, const char *tenant, const char *device,
                                 const char *user, const char *previous, const char *reason,
                                 struct lb_why *why)
{
    cJSON *data = cJSON_CreateObject();
    enum lb_err err = LB_OK;

    if (data == NULL || !cJSON_AddStringToObject(data, "device", device) ||
        (user[0] != '\0' ? cJSON_AddStringToObject(data, "user", user)
                         : cJSON_AddNullToObject(data, "user")) == NULL ||
        (previous[0] != '\0' ? cJSON_AddStringToObject(data, "previous_user", previous)
                             : cJSON_AddNullToObject(data, "previous_user")) == NULL ||
        !cJSON_AddStringToObject(data, "reason", reason))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = service_emit(svc, tenant, "device_owner_changed", 1, data, NULL, why);
    cJSON_Delete(data);
    return err;
}

/* The devices a deleted user owned, to announce once they are detached. */
struct owned_devices {
    char (*ids)[USAGE_ID_MAX + 1];
    size_t count, size;
};

static enum lb_err collect_owned(const struct device_row *d, void *arg)
{
    struct owned_devices *o = arg;

    if (o->count == o->size) {
        size_t size = o->size ? 2 * o->size : 8;
        void *ids = realloc(o->ids, size * sizeof(*o->ids));

        if (ids == NULL)
            return LB_ENOMEM;
        o->ids = ids;
        o->size = size;
    }
    snprintf(o->ids[o->count++], USAGE_ID_MAX + 1, "%s", d->id);
    return LB_OK;
}

/* ---- users (directory) -------------------------------------------------------------- */

enum lb_err usage_on_user_created(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why)
{
    static const char *const known[] = {"user", "org", "email", "display_name", NULL};
    struct store *s = service_store(svc);
    const char *id, *org, *email, *name;
    char customer[USAGE_ORG_MAX + 1];
    char old_customer[USAGE_ORG_MAX + 1] = "";
    struct user_row u;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "user", &id, why);
    if (err == LB_OK)
        err = get_org(ev->data, "org", &org, why);
    if (err == LB_OK)
        err = get_text(ev->data, "email", 3, USAGE_EMAIL_MAX, &email, why);
    if (err == LB_OK)
        err = get_text(ev->data, "display_name", 1, USAGE_NAME_MAX, &name, why);
    if (err == LB_OK)
        err = usage_customer_of(s, ev->tenant, org, customer, why);
    if (err != LB_OK)
        return err;
    err = usage_store_user_get(s, ev->tenant, id, &u, why);
    if (err == LB_ENOTFOUND) {
        memset(&u, 0, sizeof(u));
        snprintf(u.id, sizeof(u.id), "%s", id);
        u.created_ms = ev->time_ms;
        u.last_active_ms = ev->time_ms;
    } else if (err != LB_OK) {
        return err;
    } else if (u.deleted_ms != 0) {
        return lb_fail(why, LB_ECONFLICT,
                       "user \"%s\" was deleted; a deleted user is not re-created", id);
    } else if (u.known) {
        if (strcmp(u.org, org) == 0 && u.has_email && strcmp(u.email, email) == 0 && u.has_name &&
            strcmp(u.display_name, name) == 0)
            return LB_OK; /* the same creation again, under another id */
        return lb_fail(
            why, LB_ECONFLICT,
            "user \"%s\" already exists with other fields (changes come as user_updated)", id);
    } else {
        /* Known so far only from a seat (subscriptions ran ahead): complete it. */
        snprintf(old_customer, sizeof(old_customer), "%s", u.customer);
    }
    snprintf(u.org, sizeof(u.org), "%s", org);
    snprintf(u.customer, sizeof(u.customer), "%s", customer);
    u.known = true;
    u.has_email = u.has_name = true;
    snprintf(u.email, sizeof(u.email), "%s", email);
    snprintf(u.display_name, sizeof(u.display_name), "%s", name);
    u.personal_ms = ev->time_ms;
    err = usage_store_user_put(s, ev->tenant, &u, why);
    if (err == LB_OK && old_customer[0] != '\0' && strcmp(old_customer, customer) != 0)
        err = usage_recheck(svc, ev->tenant, old_customer, why);
    if (err == LB_OK && old_customer[0] != '\0')
        err = usage_recheck(svc, ev->tenant, customer, why);
    return err;
}

enum lb_err usage_on_user_updated(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why)
{
    static const char *const known[] = {"user", "email", "display_name", NULL};
    struct store *s = service_store(svc);
    const char *id, *email = NULL, *name = NULL;
    struct user_row u;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "user", &id, why);
    if (err == LB_OK)
        err = get_optional(ev->data, "email", USAGE_EMAIL_MAX, &email, why);
    if (err == LB_OK && email != NULL && strlen(email) < 3)
        err = lb_fail(why, LB_EINVAL, "email: shorter than 3 bytes");
    if (err == LB_OK)
        err = get_optional(ev->data, "display_name", USAGE_NAME_MAX, &name, why);
    if (err == LB_OK && email == NULL && name == NULL)
        err = lb_fail(why, LB_EINVAL, "user_updated changes nothing (no email, no display_name)");
    if (err == LB_OK)
        err = usage_store_user_get(s, ev->tenant, id, &u, why);
    if (err != LB_OK)
        return err;
    if (u.deleted_ms != 0)
        return lb_fail(why, LB_ECONFLICT, "user \"%s\" is deleted", id);
    if (!u.known)
        return lb_fail(why, LB_ECONFLICT, "user \"%s\" was not created yet (user_created first)",
                       id);
    if (email != NULL) {
        u.has_email = true;
        snprintf(u.email, sizeof(u.email), "%s", email);
    }
    if (name != NULL) {
        u.has_name = true;
        snprintf(u.display_name, sizeof(u.display_name), "%s", name);
    }
    /* New personal data starts a new retention: it is purged again when due (by a sweep at
     * or after this time). */
    u.purged_ms = 0;
    u.personal_ms = ev->time_ms;
    return usage_store_user_put(s, ev->tenant, &u, why);
}

enum lb_err usage_on_user_deleted(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why)
{
    static const char *const known[] = {"user", NULL};
    struct store *s = service_store(svc);
    struct owned_devices owned = {0};
    const char *id;
    struct user_row u;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "user", &id, why);
    if (err == LB_OK)
        err = usage_store_user_get(s, ev->tenant, id, &u, why);
    if (err != LB_OK)
        return err;
    if (u.deleted_ms != 0)
        return lb_fail(why, LB_ECONFLICT, "user \"%s\" is already deleted", id);
    u.deleted_ms = ev->time_ms;
    /* Deletion removes the license: retention of the personal fields starts now. */
    if (u.license_removed_ms == 0)
        u.license_removed_ms = ev->time_ms;
    err = usage_store_user_put(s, ev->tenant, &u, why);
    if (err == LB_OK)
        err = usage_store_each_owned_device(s, ev->tenant, id, collect_owned, &owned, why);
    if (err == LB_OK)
        err = usage_store_detach_all(s, ev->tenant, id, why);
    if (err == LB_OK)
        err = usage_recheck(svc, ev->tenant, u.customer, why);
    /* Announced after what this handler emitted before, so those events keep their ids. */
    for (size_t i = 0; err == LB_OK && i < owned.count; i++)
        err = owner_changed(svc, ev->tenant, owned.ids[i], "", id, "user_deleted", why);
    free(owned.ids);
    return err;
}

/* ---- devices (agents) ----------------------------------------------------------------- */

enum lb_err usage_on_device_installed(struct service *svc, const struct envelope *ev,
                                      struct lb_why *why)
{
    static const char *const known[] = {"device", "org", "kind", "hostname", "os", NULL};
    struct store *s = service_store(svc);
    const char *id, *org, *kind_text, *hostname, *os = NULL;
    char customer[USAGE_ORG_MAX + 1];
    char old_customer[USAGE_ORG_MAX + 1] = "";
    char old_user[USAGE_ID_MAX + 1] = "";
    enum device_kind kind;
    struct device_row d;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "device", &id, why);
    if (err == LB_OK)
        err = get_org(ev->data, "org", &org, why);
    if (err == LB_OK)
        err = get_text(ev->data, "kind", 1, 16, &kind_text, why);
    if (err == LB_OK && !device_kind_parse(kind_text, &kind))
        err = lb_fail(why, LB_EINVAL, "kind: \"%s\" is not business or personal", kind_text);
    if (err == LB_OK)
        err = get_text(ev->data, "hostname", 1, USAGE_HOSTNAME_MAX, &hostname, why);
    if (err == LB_OK && cJSON_GetObjectItemCaseSensitive(ev->data, "os") != NULL) {
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(ev->data, "os");

        if (!cJSON_IsString(item) || strlen(item->valuestring) > USAGE_OS_MAX)
            err = lb_fail(why, LB_EINVAL, "os: must be a string of at most %d bytes", USAGE_OS_MAX);
        else
            os = item->valuestring;
    }
    if (err == LB_OK)
        err = usage_customer_of(s, ev->tenant, org, customer, why);
    if (err != LB_OK)
        return err;
    err = usage_store_device_get(s, ev->tenant, id, &d, why);
    if (err == LB_OK && d.installed) {
        if (strcmp(d.org, org) != 0 || d.kind != kind)
            return lb_fail(why, LB_ECONFLICT,
                           "device \"%s\" is already installed in org \"%s\" as %s", id, d.org,
                           device_kind_name(d.kind));
        /* Installed again where it is: only its description may change. */
    } else if (err == LB_OK) {
        /* A reinstall: a new life for the device, associated with nobody until told. */
        snprintf(old_customer, sizeof(old_customer), "%s", d.customer);
        snprintf(old_user, sizeof(old_user), "%s", d.user);
        d.installed = true;
        d.user[0] = '\0';
        d.installed_ms = ev->time_ms;
        d.uninstalled_ms = 0;
    } else if (err == LB_ENOTFOUND) {
        memset(&d, 0, sizeof(d));
        snprintf(d.id, sizeof(d.id), "%s", id);
        d.installed = true;
        d.installed_ms = ev->time_ms;
    } else {
        return err;
    }
    snprintf(d.org, sizeof(d.org), "%s", org);
    snprintf(d.customer, sizeof(d.customer), "%s", customer);
    d.kind = kind;
    snprintf(d.hostname, sizeof(d.hostname), "%s", hostname);
    snprintf(d.os, sizeof(d.os), "%s", os != NULL ? os : "");
    err = usage_store_device_put(s, ev->tenant, &d, why);
    if (err == LB_OK && old_customer[0] != '\0' && strcmp(old_customer, customer) != 0)
        err = usage_recheck(svc, ev->tenant, old_customer, why);
    if (err == LB_OK)
        err = usage_recheck(svc, ev->tenant, customer, why);
    if (err == LB_OK && old_user[0] != '\0')
        err = owner_changed(svc, ev->tenant, id, "", old_user, "reinstalled", why);
    return err;
}

enum lb_err usage_on_device_uninstalled(struct service *svc, const struct envelope *ev,
                                        struct lb_why *why)
{
    static const char *const known[] = {"device", NULL};
    struct store *s = service_store(svc);
    const char *id;
    struct device_row d;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "device", &id, why);
    if (err == LB_OK)
        err = usage_store_device_get(s, ev->tenant, id, &d, why);
    if (err != LB_OK)
        return err;
    if (!d.installed)
        return lb_fail(why, LB_ECONFLICT, "device \"%s\" is already uninstalled", id);
    /* Kept for audit, with the user it had; it consumes nothing and covers no slot. */
    d.installed = false;
    d.uninstalled_ms = ev->time_ms;
    err = usage_store_device_put(s, ev->tenant, &d, why);
    if (err == LB_OK)
        err = usage_recheck(svc, ev->tenant, d.customer, why);
    return err;
}

enum lb_err usage_associate(struct service *svc, const char *tenant, const char *device,
                            const char *user, char ret_reason[USAGE_REASON_MAX + 1],
                            struct lb_why *why)
{
    const struct usage_config *cfg = service_config(svc);
    struct store *s = service_store(svc);
    int64_t business, personal;
    struct device_row d;
    struct user_row u;
    enum lb_err err;

    ret_reason[0] = '\0';
    err = usage_store_device_get(s, tenant, device, &d, why);
    if (err == LB_OK)
        err = usage_store_user_get(s, tenant, user, &u, why);
    if (err != LB_OK)
        return err;
    if (!d.installed) {
        snprintf(ret_reason, USAGE_REASON_MAX + 1, "device_uninstalled");
        return lb_fail(why, LB_ECONFLICT, "device \"%s\" is uninstalled", device);
    }
    if (u.deleted_ms != 0) {
        snprintf(ret_reason, USAGE_REASON_MAX + 1, "user_deleted");
        return lb_fail(why, LB_ECONFLICT, "user \"%s\" is deleted", user);
    }
    if (strcmp(u.customer, d.customer) != 0) {
        snprintf(ret_reason, USAGE_REASON_MAX + 1, "other_customer");
        return lb_fail(why, LB_ECONFLICT,
                       "device \"%s\" counts under customer \"%s\", user \"%s\" under \"%s\"",
                       device, d.customer, user, u.customer);
    }
    if (strcmp(d.user, user) == 0)
        return LB_OK; /* already so */
    err = usage_store_user_device_counts(s, tenant, user, device, &business, &personal, why);
    if (err != LB_OK)
        return err;
    err = usage_allowance_check(d.kind, business, personal, why);
    if (err != LB_OK) {
        snprintf(ret_reason, USAGE_REASON_MAX + 1, "allowance_exceeded");
        return lb_fail(why, err, "device \"%s\" (%s) cannot be associated with user \"%s\": %s",
                       device, device_kind_name(d.kind), user, why->text);
    }
    snprintf(d.user, sizeof(d.user), "%s", user);
    err = usage_store_device_put(s, tenant, &d, why);
    /* The user's activity includes what this device was last seen doing. */
    if (err == LB_OK && d.last_seen_ms > 0)
        err = usage_store_user_touch(s, tenant, user, d.last_seen_ms, NULL, why);
    if (err == LB_OK && u.released_ms != 0 && d.last_seen_ms > u.last_active_ms &&
        d.last_seen_ms > service_now_ms(svc) - cfg->inactive_after_ms) {
        u.last_active_ms = d.last_seen_ms;
        err = usage_retake(svc, tenant, &u, device, d.last_seen_ms, why);
    }
    if (err == LB_OK)
        err = usage_recheck(svc, tenant, d.customer, why);
    return err;
}

enum lb_err usage_on_device_associated(struct service *svc, const struct envelope *ev,
                                       struct lb_why *why)
{
    static const char *const known[] = {"device", "user", NULL};
    struct store *s = service_store(svc);
    char reason[USAGE_REASON_MAX + 1];
    char previous[USAGE_ID_MAX + 1];
    const char *device, *user;
    struct device_row d;
    cJSON *data;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "device", &device, why);
    if (err == LB_OK)
        err = get_id(ev->data, "user", &user, why);
    if (err == LB_OK)
        err = usage_store_device_get(s, ev->tenant, device, &d, why);
    if (err != LB_OK)
        return err;
    snprintf(previous, sizeof(previous), "%s", d.user);
    err = usage_associate(svc, ev->tenant, device, user, reason, why);
    if (err == LB_OK && strcmp(previous, user) != 0)
        return owner_changed(svc, ev->tenant, device, user, previous, "associated", why);
    if (err != LB_ECONFLICT || reason[0] == '\0')
        return err; /* done, or not applicable (unknown device or user): dead-lettered */
    if (strcmp(reason, "device_uninstalled") == 0)
        return err; /* nothing to leave unassociated: an association after the uninstall */
    /* Refused by a rule: the device stays on record, unassociated, and the refusal is told. */
    data = cJSON_CreateObject();
    if (data == NULL || !cJSON_AddStringToObject(data, "device", device) ||
        !cJSON_AddStringToObject(data, "user", user) ||
        !cJSON_AddStringToObject(data, "reason", reason) ||
        !cJSON_AddStringToObject(data, "message", why->text)) {
        cJSON_Delete(data);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    err = usage_store_device_get(s, ev->tenant, device, &d, why);
    if (err == LB_OK && d.user[0] != '\0') {
        /* The agent says another user took the device: the old association is over. */
        d.user[0] = '\0';
        err = usage_store_device_put(s, ev->tenant, &d, why);
        if (err == LB_OK)
            err = usage_recheck(svc, ev->tenant, d.customer, why);
    }
    if (err == LB_OK)
        err = service_emit(svc, ev->tenant, "device_association_refused", 1, data, NULL, why);
    if (err == LB_OK && previous[0] != '\0')
        err = owner_changed(svc, ev->tenant, device, "", previous, "association_refused", why);
    cJSON_Delete(data);
    return err;
}

enum lb_err usage_on_device_detached(struct service *svc, const struct envelope *ev,
                                     struct lb_why *why)
{
    static const char *const known[] = {"device", "user", NULL};
    struct store *s = service_store(svc);
    const char *device, *user;
    struct device_row d;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "device", &device, why);
    if (err == LB_OK)
        err = get_id(ev->data, "user", &user, why);
    if (err == LB_OK)
        err = usage_store_device_get(s, ev->tenant, device, &d, why);
    if (err != LB_OK)
        return err;
    /* Not (or no longer) with that user, e.g. its association was refused: nothing to undo. */
    if (strcmp(d.user, user) != 0)
        return LB_OK;
    d.user[0] = '\0';
    err = usage_store_device_put(s, ev->tenant, &d, why);
    if (err == LB_OK)
        err = usage_recheck(svc, ev->tenant, d.customer, why);
    if (err == LB_OK)
        err = owner_changed(svc, ev->tenant, device, "", user, "detached", why);
    return err;
}

/* ---- signals ------------------------------------------------------------------------- */

enum lb_err usage_retake(struct service *svc, const char *tenant, struct user_row *u,
                         const char *device, int64_t t, struct lb_why *why)
{
    char released[32];
    char seen[32];
    cJSON *data = cJSON_CreateObject();
    enum lb_err err = LB_OK;

    envelope_format_time(u->released_ms, released);
    envelope_format_time(t, seen);
    if (data == NULL || !cJSON_AddStringToObject(data, "user", u->id) ||
        !cJSON_AddStringToObject(data, "customer", u->customer) ||
        !cJSON_AddStringToObject(data, "device", device) ||
        !cJSON_AddStringToObject(data, "signal_at", seen) ||
        !cJSON_AddStringToObject(data, "released_at", released))
        err = lb_fail(why, LB_ENOMEM, "out of memory");
    u->released_ms = 0;
    if (u->seat_count > 0)
        u->license_removed_ms = 0; /* licensed again: retention stops */
    if (err == LB_OK)
        err = usage_store_user_put(service_store(svc), tenant, u, why);
    if (err == LB_OK)
        err = service_emit(svc, tenant, "license_retaken", 1, data, NULL, why);
    if (err == LB_OK)
        err = usage_recheck(svc, tenant, u->customer, why);
    cJSON_Delete(data);
    return err;
}

/*
 * The hot path. A signal only moves last-seen times forward (idempotent by
 * construction) and writes nothing when they do not move; it emits only when
 * it brings a released user back. The first signal of a device in a batch
 * reads the device and moves its time (two statements) and, for the first
 * device of a live user in the batch, reads the user; the user's write and
 * the batch's later signals of either are folded into the flush (signals.c).
 */
enum lb_err usage_on_heartbeat(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"device", NULL};
    const struct usage_config *cfg = service_config(svc);
    struct store *s = service_store(svc);
    struct device_signal d;
    struct user_activity ua;
    struct user_row u;
    const char *device;
    bool moved = false;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "device", &device, why);
    if (err != LB_OK)
        return err;
    /* A later signal of a device already seen in this batch only moves a time. */
    if (usage_signal_deferred(svc, ev->tenant, device, ev->time_ms))
        return LB_OK;
    err = usage_store_device_signal(s, ev->tenant, device, ev->time_ms, &d, why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_ENOTFOUND,
                       "heartbeat for device \"%s\", which is not installed in tenant \"%s\" "
                       "(signal before its device_installed?)",
                       device, ev->tenant);
    if (err != LB_OK)
        return err;
    /* An uninstalled device's late signal is recorded for audit but covers no user. */
    if (d.user[0] == '\0' || !d.installed) {
        usage_signal_defer(svc, ev->tenant, device, "", d.last_seen_ms);
        return LB_OK;
    }
    /* Another device of a user already read in this batch: its time only. */
    if (usage_signal_user_deferred(svc, ev->tenant, d.user, ev->time_ms)) {
        usage_signal_defer(svc, ev->tenant, device, d.user, d.last_seen_ms);
        return LB_OK;
    }
    err = usage_store_user_activity(s, ev->tenant, d.user, &ua, why);
    if (err == LB_ENOTFOUND) {
        usage_signal_defer(svc, ev->tenant, device, "", d.last_seen_ms);
        return LB_OK;
    }
    if (err != LB_OK)
        return err;
    /* Live and holding (or needing) no release: nothing but times can change in this batch. */
    if (ua.released_ms == 0 && ua.deleted_ms == 0) {
        if (!usage_signal_user_defer(svc, ev->tenant, d.user, ua.last_active_ms, ev->time_ms))
            err = usage_store_user_touch(s, ev->tenant, d.user, ev->time_ms, NULL, why);
        if (err == LB_OK)
            usage_signal_defer(svc, ev->tenant, device, d.user, d.last_seen_ms);
        return err;
    }
    err = usage_store_user_touch(s, ev->tenant, d.user, ev->time_ms, &moved, why);
    if (err != LB_OK || ua.deleted_ms != 0) {
        /* A deleted user's devices are detached; a late signal covers nobody after it. */
        if (err == LB_OK)
            usage_signal_defer(svc, ev->tenant, device, "", d.last_seen_ms);
        return err;
    }
    /* Released: a signal inside the inactivity window takes the license back. */
    if (moved && ev->time_ms > service_now_ms(svc) - cfg->inactive_after_ms) {
        err = usage_store_user_get(s, ev->tenant, d.user, &u, why);
        if (err == LB_OK)
            err = usage_retake(svc, ev->tenant, &u, device, ev->time_ms, why);
        /* The retake is a change like any other: announced (journal.c). */
        if (err == LB_OK)
            err = usage_journal_commit(svc, ev->tenant, USAGE_CAUSE_SIGNAL, ev->id, false, why);
        if (err == LB_OK)
            usage_signal_defer(svc, ev->tenant, device, d.user, d.last_seen_ms);
    }
    return err;
}

/* ---- scans --------------------------------------------------------------------------- */

enum lb_err usage_on_scans_counted(struct service *svc, const struct envelope *ev,
                                   struct lb_why *why)
{
    static const char *const known[] = {"key", "org", "day", "scans", NULL};
    const char *key, *org, *day;
    int64_t scans;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_text(ev->data, "key", 1, USAGE_KEY_MAX, &key, why);
    if (err == LB_OK && !usage_license_key_valid(key))
        err = lb_fail(why, LB_EINVAL, "key: \"%s\" is not a license key", key);
    if (err == LB_OK)
        err = get_org(ev->data, "org", &org, why);
    if (err == LB_OK)
        err = get_text(ev->data, "day", 1, 10, &day, why);
    if (err == LB_OK && !usage_date_parse(day, NULL))
        err = lb_fail(why, LB_EINVAL, "day: \"%s\" is not a date YYYY-MM-DD", day);
    if (err == LB_OK && json_get_int(ev->data, "scans", 1, USAGE_SCANS_MAX, &scans, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "scans: %s", why->text);
    if (err != LB_OK)
        return err;
    return usage_store_scans_add(service_store(svc), ev->tenant, key, day, org, scans, why);
}

/* ---- subscriptions ----------------------------------------------------------------------- */

enum lb_err usage_on_subscription_changed(struct service *svc, const struct envelope *ev,
                                          struct lb_why *why)
{
    struct store *s = service_store(svc);
    const char *id, *customer, *package, *basis, *status;
    char old_customer[USAGE_ORG_MAX + 1];
    struct sub_usage sub = {0};
    int64_t quantity;
    enum lb_err err;

    /* Its producer may add members: this event alone ignores unknown ones. */
    err = decode_data(ev, NULL, why);
    if (err == LB_OK)
        err = get_id(ev->data, "subscription", &id, why);
    if (err == LB_OK)
        err = get_org(ev->data, "customer", &customer, why);
    if (err == LB_OK)
        err = get_id(ev->data, "package", &package, why);
    if (err == LB_OK)
        err = get_text(ev->data, "seat_basis", 1, 16, &basis, why);
    if (err == LB_OK && !seat_basis_parse(basis, &sub.basis))
        err = lb_fail(why, LB_EINVAL, "seat_basis: \"%s\" is not users, devices or both", basis);
    if (err == LB_OK)
        err = get_text(ev->data, "status", 1, 16, &status, why);
    if (err == LB_OK && !sub_status_parse(status, &sub.status))
        err = lb_fail(why, LB_EINVAL,
                      "status: \"%s\" is not in_trial, active, suspended or cancelled", status);
    if (err == LB_OK &&
        json_get_int(ev->data, "quantity", 0, USAGE_QUANTITY_MAX, &quantity, why) != LB_OK)
        err = lb_fail(why, LB_EINVAL, "quantity: %s", why->text);
    if (err != LB_OK)
        return err;
    snprintf(sub.id, sizeof(sub.id), "%s", id);
    snprintf(sub.package, sizeof(sub.package), "%s", package);
    sub.quantity = quantity;
    err =
        usage_store_subscription_put(s, ev->tenant, &sub, customer, ev->time_ms, old_customer, why);
    if (err == LB_OK && old_customer[0] != '\0' && strcmp(old_customer, customer) != 0)
        err = usage_recheck(svc, ev->tenant, old_customer, why);
    if (err == LB_OK)
        err = usage_recheck(svc, ev->tenant, customer, why);
    return err;
}

/* Reads {subscription, customer, user, group} of a seat event; group may be null or absent. */
static enum lb_err decode_seat(const struct envelope *ev, const char *const *known,
                               const char **ret_sub, const char **ret_customer,
                               const char **ret_user, const char **ret_group, struct lb_why *why)
{
    const cJSON *group;
    enum lb_err err;

    err = decode_data(ev, known, why);
    if (err == LB_OK)
        err = get_id(ev->data, "subscription", ret_sub, why);
    if (err == LB_OK)
        err = get_org(ev->data, "customer", ret_customer, why);
    if (err == LB_OK)
        err = get_id(ev->data, "user", ret_user, why);
    if (err != LB_OK)
        return err;
    group = cJSON_GetObjectItemCaseSensitive(ev->data, "group");
    *ret_group = "";
    if (group != NULL && !cJSON_IsNull(group))
        err = get_id(ev->data, "group", ret_group, why);
    return err;
}

/* Applies a seat change to the user's count and licensed state. */
static enum lb_err seat_changed(struct service *svc, const struct envelope *ev, struct user_row *u,
                                struct lb_why *why)
{
    struct store *s = service_store(svc);
    bool was = user_is_licensed(u);
    enum lb_err err;

    err = usage_store_user_recount(s, ev->tenant, u->id, why);
    if (err == LB_OK)
        err = usage_store_user_get(s, ev->tenant, u->id, u, why);
    if (err != LB_OK)
        return err;
    if (user_is_licensed(u))
        u->license_removed_ms = 0;
    else if (was && u->license_removed_ms == 0)
        u->license_removed_ms = ev->time_ms;
    err = usage_store_user_put(s, ev->tenant, u, why);
    if (err == LB_OK)
        err = usage_recheck(svc, ev->tenant, u->customer, why);
    return err;
}

enum lb_err usage_on_seat_assigned(struct service *svc, const struct envelope *ev,
                                   struct lb_why *why)
{
    static const char *const known[] = {"subscription", "customer", "user", "group", NULL};
    struct store *s = service_store(svc);
    const char *sub, *customer, *user, *group;
    struct user_row u;
    enum lb_err err;

    err = decode_seat(ev, known, &sub, &customer, &user, &group, why);
    if (err != LB_OK)
        return err;
    err = usage_store_user_get(s, ev->tenant, user, &u, why);
    if (err == LB_ENOTFOUND) {
        /* The seat ran ahead of user_created (another stream): keep it on a bare record. */
        memset(&u, 0, sizeof(u));
        snprintf(u.id, sizeof(u.id), "%s", user);
        snprintf(u.org, sizeof(u.org), "%s", customer);
        snprintf(u.customer, sizeof(u.customer), "%s", customer);
        u.created_ms = ev->time_ms;
        u.last_active_ms = ev->time_ms;
        err = usage_store_user_put(s, ev->tenant, &u, why);
    }
    if (err != LB_OK)
        return err;
    if (u.known && strcmp(u.customer, customer) != 0)
        return lb_fail(why, LB_ECONFLICT,
                       "seat of subscription \"%s\" for customer \"%s\" given to user \"%s\" of "
                       "customer \"%s\"",
                       sub, customer, user, u.customer);
    err = usage_store_seat_add(s, ev->tenant, sub, user, group, customer, ev->time_ms, why);
    /* A new seat restarts the inactivity period (a user is not released for a seat's first days).
     */
    if (err == LB_OK)
        err = usage_store_user_touch(s, ev->tenant, user, ev->time_ms, NULL, why);
    if (err == LB_OK)
        err = seat_changed(svc, ev, &u, why);
    return err;
}

enum lb_err usage_on_seat_unassigned(struct service *svc, const struct envelope *ev,
                                     struct lb_why *why)
{
    static const char *const known[] = {"subscription", "customer", "user",
                                        "group",        "reason",   NULL};
    struct store *s = service_store(svc);
    const char *sub, *customer, *user, *group, *reason = NULL;
    struct user_row u;
    enum lb_err err;

    err = decode_seat(ev, known, &sub, &customer, &user, &group, why);
    if (err == LB_OK)
        err = get_optional(ev->data, "reason", USAGE_REASON_MAX, &reason, why);
    if (err != LB_OK)
        return err;
    err = usage_store_user_get(s, ev->tenant, user, &u, why);
    if (err == LB_ENOTFOUND)
        return LB_OK; /* never had it here: nothing to remove */
    if (err == LB_OK)
        err = usage_store_seat_remove(s, ev->tenant, sub, user, group, why);
    if (err == LB_OK)
        err = seat_changed(svc, ev, &u, why);
    return err;
}
