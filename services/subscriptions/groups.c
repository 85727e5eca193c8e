/*
 * groups.c - seats follow group membership: attaching and detaching
 * subscriptions to user groups (requests) and the directory's group and
 * membership events.
 *
 * The rule (docs/services/subscriptions.md): a user holds ONE seat of a
 * subscription while at least one group attached to it holds the user; the
 * seat is granted by the attached group with the smallest id still holding
 * them. seat_assigned is emitted when the user gets the seat,
 * seat_unassigned when no attached group holds them any more; a change of
 * granting group alone (the user stays covered) emits nothing. Every path
 * goes through subs_seat_refresh, so the result depends only on the stored
 * attachments and memberships, never on the order they arrived in: a
 * rebuild, whose snapshots and directory events interleave arbitrarily,
 * ends with the same seats (D23). Quiet, seats change and nothing is emitted.
 */
#include <string.h>

#include "json_strict.h"
#include "subscriptions.h"

/* Actor of changes made by consumed directory events. */
#define ACTOR_DIRECTORY "directory"

enum lb_err subs_seat_refresh(struct service *svc, const char *tenant, const char *sub_id,
                              const char *user, const char *reason, struct lb_why *why)
{
    struct store *s = service_store(svc);
    char want[SUBS_ENTITY_MAX + 1] = "";
    char have[SUBS_ENTITY_MAX + 1] = "";
    struct subscription sub;
    enum lb_err err;

    err = subs_store_seat_grantor(s, tenant, sub_id, user, want, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = subs_store_seat_get(s, tenant, sub_id, user, have, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    if (strcmp(want, have) == 0)
        return LB_OK;
    err = subs_store_seat_set(s, tenant, sub_id, user, want[0] ? want : NULL, why);
    if (err != LB_OK || (want[0] != '\0' && have[0] != '\0') || subs_quiet(svc))
        return err; /* only the granting group moved, or the stream has the event already */
    err = subs_store_sub_get(s, tenant, sub_id, &sub, why);
    if (err != LB_OK)
        return err;
    if (want[0] != '\0')
        return subs_emit_seat(svc, tenant, true, sub_id, sub.customer, user, want, NULL, why);
    return subs_emit_seat(svc, tenant, false, sub_id, sub.customer, user, have, reason, why);
}

/* What the callbacks below share. */
struct sweep_ctx {
    const char *tenant;
    const char *sub;    /* the subscription, when iterating users */
    const char *user;   /* the user, when iterating subscriptions */
    const char *reason; /* seat_unassigned reason */
};

static enum lb_err refresh_user(struct service *svc, const char *user, void *arg,
                                struct lb_why *why)
{
    const struct sweep_ctx *c = arg;

    return subs_seat_refresh(svc, c->tenant, c->sub, user, c->reason, why);
}

static enum lb_err refresh_sub(struct service *svc, const char *sub, void *arg, struct lb_why *why)
{
    const struct sweep_ctx *c = arg;

    return subs_seat_refresh(svc, c->tenant, sub, c->user, c->reason, why);
}

/* Seats of every member of `group` in `sub`, after an attachment changed. */
static enum lb_err refresh_members(struct service *svc, const char *tenant, const char *sub,
                                   const char *group, const char *reason, struct lb_why *why)
{
    struct sweep_ctx c = {.tenant = tenant, .sub = sub, .reason = reason};

    return subs_store_each_member(service_store(svc), svc, tenant, group, refresh_user, &c, why);
}

enum lb_err subs_release_all_seats(struct service *svc, const char *tenant,
                                   const struct subscription *sub, struct lb_why *why)
{
    struct sweep_ctx c = {.tenant = tenant, .sub = sub->id, .reason = "subscription_cancelled"};

    return subs_store_each_seat_user(service_store(svc), svc, tenant, sub->id, refresh_user, &c,
                                     why);
}

/* Whether the array of strings `list` holds `id`. */
static bool holds(const cJSON *list, const char *id)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, list)
    {
        if (cJSON_IsString(item) && strcmp(item->valuestring, id) == 0)
            return true;
    }
    return false;
}

enum lb_err subs_sub_set_groups(struct service *svc, const char *tenant, const char *sub,
                                const cJSON *groups, struct lb_why *why)
{
    struct store *s = service_store(svc);
    cJSON *current = cJSON_CreateArray();
    const cJSON *g;
    bool changed = false;
    enum lb_err err;

    if (current == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    err = subs_store_attached_groups_json(s, tenant, sub, current, why);
    cJSON_ArrayForEach(g, current)
    {
        if (err != LB_OK)
            break;
        if (holds(groups, g->valuestring))
            continue;
        err = subs_store_detach(s, tenant, sub, g->valuestring, &changed, why);
        if (err == LB_OK)
            err = refresh_members(svc, tenant, sub, g->valuestring, "group_detached", why);
    }
    cJSON_ArrayForEach(g, groups)
    {
        if (err != LB_OK)
            break;
        if (holds(current, g->valuestring))
            continue;
        err = subs_store_attach(s, tenant, sub, g->valuestring, &changed, why);
        if (err == LB_OK)
            err = refresh_members(svc, tenant, sub, g->valuestring, "group_detached", why);
    }
    cJSON_Delete(current);
    return err;
}

/* ---- requests: group_attach, group_detach -------------------------------------- */

static enum lb_err attach_or_detach(struct service *svc, const struct request *req, bool attach,
                                    cJSON **ret_reply, struct lb_why *why)
{
    static const char *const known[] = {"tenant", "caller", "subscription", "group", NULL};
    struct store *s = service_store(svc);
    const char *action = attach ? "attach a group" : "detach a group";
    struct subscription sub;
    struct caller caller;
    const char *group;
    char org[SUBS_ORG_MAX + 1];
    bool deleted = false;
    bool within = false;
    bool changed = false;
    enum lb_err err;

    err = subs_req_caller(svc, req, known, &caller, why);
    if (err == LB_OK)
        err = subs_req_entity(req, "group", &group, why);
    if (err == LB_OK)
        err = subs_req_sub(svc, req, &caller, false, action, &sub, why);
    if (err != LB_OK)
        return err;
    if (attach) {
        /* Unknown, deleted or elsewhere: one answer, as for orgs (D17). */
        err = subs_store_group_get(s, caller.tenant, group, org, &deleted, why);
        if (err == LB_OK && !deleted)
            err = orgtree_within(s, caller.tenant, caller.org, org, &within, why);
        if (err == LB_ENOTFOUND || (err == LB_OK && (deleted || !within)))
            return lb_fail(why, LB_EFORBIDDEN, "group %s is not a group within the subtree of %s",
                           group, caller.org);
        if (err == LB_OK)
            err = orgtree_within(s, caller.tenant, sub.customer, org, &within, why);
        if (err != LB_OK)
            return err;
        if (!within)
            return lb_fail(why, LB_ECONFLICT,
                           "group %s belongs to org %s, outside customer %s of subscription %s",
                           group, org, sub.customer, sub.id);
        if (sub.status == SUB_CANCELLED)
            return lb_fail(why, LB_ECONFLICT,
                           "cannot attach a group to subscription %s: it is cancelled", sub.id);
        err = subs_store_attach(s, caller.tenant, sub.id, group, &changed, why);
        if (err == LB_OK && !changed)
            return lb_fail(why, LB_ECONFLICT, "group %s is attached to subscription %s already",
                           group, sub.id);
    } else {
        err = subs_store_detach(s, caller.tenant, sub.id, group, &changed, why);
        if (err == LB_OK && !changed)
            return lb_fail(why, LB_ENOTFOUND, "group %s is not attached to subscription %s", group,
                           sub.id);
    }
    /* The groups are part of the subscription's state: a new version and its event (D23). */
    sub.version++;
    sub.updated_ms = service_now_ms(svc);
    if (err == LB_OK)
        err = subs_store_sub_put(s, caller.tenant, &sub, why);
    if (err == LB_OK)
        err = subs_emit_subscription_changed(svc, caller.tenant, &sub,
                                             attach ? "group_attached" : "group_detached",
                                             caller.user, why);
    if (err == LB_OK)
        err = refresh_members(svc, caller.tenant, sub.id, group, "group_detached", why);
    if (err != LB_OK)
        return err;
    *ret_reply = subs_sub_reply(svc, caller.tenant, &sub, why);
    return *ret_reply ? LB_OK : LB_ENOMEM;
}

enum lb_err subs_group_attach(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why)
{
    return attach_or_detach(svc, req, true, ret_reply, why);
}

enum lb_err subs_group_detach(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why)
{
    return attach_or_detach(svc, req, false, ret_reply, why);
}

/* ---- directory events ------------------------------------------------------------ */

/* Appends `id` to the array `arg` (to act on a list once the statement reading it is done). */
static enum lb_err collect(struct service *svc, const char *id, void *arg, struct lb_why *why)
{
    (void)svc;
    if (!cJSON_AddItemToArray(arg, cJSON_CreateString(id)))
        return lb_fail(why, LB_ENOMEM, "out of memory");
    return LB_OK;
}

/* Detaches the deleted `group` from subscription `sub_id`: a new version and its event. */
static enum lb_err detach_deleted_group(struct service *svc, const struct envelope *ev,
                                        const char *sub_id, const char *group, struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct subscription sub;
    bool removed = false;
    enum lb_err err = subs_store_detach(s, ev->tenant, sub_id, group, &removed, why);

    if (err != LB_OK || !removed)
        return err;
    err = subs_store_sub_get(s, ev->tenant, sub_id, &sub, why);
    if (err != LB_OK)
        return err;
    sub.version++;
    sub.updated_ms = ev->time_ms; /* the event's time: applied again, the same row and event */
    err = subs_store_sub_put(s, ev->tenant, &sub, why);
    if (err == LB_OK)
        err = subs_emit_subscription_changed(svc, ev->tenant, &sub, "group_detached",
                                             ACTOR_DIRECTORY, why);
    return err;
}

/*
 * The group is detached from every subscription (new versions; a quiet
 * replay leaves the attachments to the snapshots read back already), its
 * memberships go, and the seats of its former members follow.
 */
static enum lb_err group_deleted(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"group", NULL};
    static const char *const ids[] = {"group", NULL};
    struct store *s = service_store(svc);
    char org[SUBS_ORG_MAX + 1] = "";
    bool deleted = false;
    const char *v[1] = {NULL};
    cJSON *subs = NULL;
    cJSON *users = NULL;
    const cJSON *sub;
    const cJSON *user;
    enum lb_err err;

    err = subs_event_decode(ev, known, ids, v, why);
    if (err != LB_OK)
        return err;
    err = subs_store_group_get(s, ev->tenant, v[0], org, &deleted, why);
    if (err == LB_OK && deleted)
        return LB_OK; /* deleted already */
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    subs = cJSON_CreateArray();
    users = cJSON_CreateArray();
    err = subs && users ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
    if (err == LB_OK)
        err = subs_store_each_attached_sub(s, svc, ev->tenant, v[0], collect, subs, why);
    if (err == LB_OK)
        err = subs_store_each_member(s, svc, ev->tenant, v[0], collect, users, why);
    cJSON_ArrayForEach(sub, subs)
    {
        if (err == LB_OK && !subs_quiet(svc))
            err = detach_deleted_group(svc, ev, sub->valuestring, v[0], why);
    }
    if (err == LB_OK)
        err = subs_store_members_clear_group(s, ev->tenant, v[0], why);
    cJSON_ArrayForEach(sub, subs)
    {
        cJSON_ArrayForEach(user, users)
        {
            if (err == LB_OK)
                err = subs_seat_refresh(svc, ev->tenant, sub->valuestring, user->valuestring,
                                        "group_deleted", why);
        }
    }
    /* A group never seen alive leaves a tombstone: its later memberships are refused. */
    if (err == LB_OK)
        err = subs_store_group_put(s, ev->tenant, v[0], org, true, why);
    cJSON_Delete(subs);
    cJSON_Delete(users);
    return err;
}

enum lb_err subs_on_group_deleted(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why)
{
    return subs_directory_event(svc, ev, group_deleted, why);
}

static enum lb_err membership(struct service *svc, const struct envelope *ev, bool added,
                              struct lb_why *why)
{
    static const char *const known[] = {"group", "user", NULL};
    static const char *const ids[] = {"group", "user", NULL};
    struct store *s = service_store(svc);
    struct sweep_ctx c = {.tenant = ev->tenant};
    char org[SUBS_ORG_MAX + 1];
    bool deleted = false;
    bool changed = false;
    const char *v[2] = {NULL, NULL};
    enum lb_err err;

    err = subs_event_decode(ev, known, ids, v, why);
    if (err != LB_OK)
        return err;
    err = subs_store_group_get(s, ev->tenant, v[0], org, &deleted, why);
    if (err == LB_OK && deleted && added)
        return lb_fail(why, LB_ECONFLICT, "group %s was deleted: user %s cannot join it", v[0],
                       v[1]);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    /* Recorded even for a group not seen yet: a later attachment assigns the member. */
    if (added)
        err = subs_store_member_add(s, ev->tenant, v[0], v[1], &changed, why);
    else
        err = subs_store_member_remove(s, ev->tenant, v[0], v[1], &changed, why);
    if (err != LB_OK || !changed)
        return err; /* a repeated add, or the removal of a non-member: nothing changes */
    c.user = v[1];
    c.reason = "member_removed";
    return subs_store_each_attached_sub(s, svc, ev->tenant, v[0], refresh_sub, &c, why);
}

static enum lb_err member_added(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    return membership(svc, ev, true, why);
}

static enum lb_err member_removed(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why)
{
    return membership(svc, ev, false, why);
}

enum lb_err subs_on_member_added(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    return subs_directory_event(svc, ev, member_added, why);
}

enum lb_err subs_on_member_removed(struct service *svc, const struct envelope *ev,
                                   struct lb_why *why)
{
    return subs_directory_event(svc, ev, member_removed, why);
}

static enum lb_err user_deleted(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    static const char *const known[] = {"user", NULL};
    static const char *const ids[] = {"user", NULL};
    struct store *s = service_store(svc);
    struct sweep_ctx c = {.tenant = ev->tenant, .reason = "user_deleted"};
    const char *v[1] = {NULL};
    enum lb_err err;

    err = subs_event_decode(ev, known, ids, v, why);
    if (err != LB_OK)
        return err;
    c.user = v[0];
    err = subs_store_members_clear_user(s, ev->tenant, v[0], why);
    if (err == LB_OK)
        err = subs_store_each_seat_of_user(s, svc, ev->tenant, v[0], refresh_sub, &c, why);
    return err;
}

enum lb_err subs_on_user_deleted(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    return subs_directory_event(svc, ev, user_deleted, why);
}
