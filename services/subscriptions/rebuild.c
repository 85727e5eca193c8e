/*
 * rebuild.c - the service's own events read back (docs/decisions.md D23).
 *
 * Commands make state no consumed stream holds (packages, customers made or
 * changed by command, subscriptions, their groups). Every change of it
 * emits a snapshot (package_changed, customer_changed, subscription_changed:
 * the entity's full state and its version), and the service consumes its
 * own domain: a snapshot newer than the row is applied, anything else
 * changes nothing. In normal operation the row is at that version already;
 * after a rebuild (an empty database, every stream replayed) the rows come
 * back from the snapshots.
 *
 * A new database reads the own stream to its end before anything else
 * (D28): the runtime starts the directory, agents and clock consumers, the
 * sweeps and the requests only then, from the beginning of their streams.
 * Two things keep the platform events read again from changing results or
 * emitting twice:
 *
 *  - Derived state is order-free: seats are recomputed from the stored
 *    attachments and memberships whenever either changes (groups.c), and a
 *    snapshot never checks rules (an inactivation comes back whatever the
 *    agents stream says).
 *  - Watermarks: each snapshot carries what its database had applied when
 *    the change was made (the last directory event, the last sweep). Read
 *    back first, they tell the rebuilding database that those events were
 *    applied before and their effects are in the own stream: until the
 *    directory reaches the mark, directory events are applied quietly
 *    (mirrored state and seats change, nothing is emitted, attachments and
 *    customers are left to the snapshots), and sweeps at or before the
 *    sweep mark are skipped. Past the marks, events are applied as usual.
 *
 * What a watermark holds depends on the cause, so that an event emitted
 * again in reaction to the same cause is byte-identical: a directory event's
 * snapshots carry that event's id only, a sweep's its time only, a
 * request's both.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "applied.h"
#include "json_strict.h"
#include "subjects.h"
#include "subscriptions.h"

struct subs_state *subs_state(struct service *svc)
{
    struct subs_state *st = service_state(svc);

    assert(st != NULL); /* main.c sizes it */
    return st;
}

bool subs_quiet(struct service *svc)
{
    return subs_state(svc)->quiet;
}

/*
 * Counts a directory event or a sweep replayed quietly when `quiet`
 * (lb_subscriptions_quiet_replays_total, made at the first event or sweep).
 */
static void count_quiet(struct service *svc, bool quiet)
{
    struct subs_state *st = subs_state(svc);

    if (st->quiet_replays == NULL)
        st->quiet_replays = service_metric(svc, false, "lb_subscriptions_quiet_replays_total",
                                           "Directory events and sweeps a rebuild replayed without "
                                           "emitting: the own stream held their events (D23)");
    if (quiet && st->quiet_replays != NULL)
        (*st->quiet_replays)++;
}

enum lb_err subs_add_watermark(struct service *svc, cJSON *data, struct lb_why *why)
{
    const struct subs_state *st = subs_state(svc);
    char directory[ENVELOPE_ID_MAX + 1] = "";
    char time[32];
    int64_t sweep_ms = SUBS_NO_TIME;
    cJSON *mark;
    enum lb_err err;

    /* A directory event and a sweep are their own watermark; a request reads where we are. */
    if (st->context == CTX_DIRECTORY) {
        (void)snprintf(directory, sizeof(directory), "%s", st->directory_event);
    } else if (st->context == CTX_SWEEP) {
        sweep_ms = st->sweep_ms;
    } else {
        err = subs_store_marks_get(service_store(svc), directory, &sweep_ms, why);
        if (err != LB_OK)
            return err;
    }
    mark = cJSON_AddObjectToObject(data, "watermark");
    if (mark == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    if (directory[0] != '\0' && !cJSON_AddStringToObject(mark, "directory", directory))
        return lb_fail(why, LB_ENOMEM, "out of memory");
    if (sweep_ms != SUBS_NO_TIME) {
        envelope_format_time(sweep_ms, time);
        if (!cJSON_AddStringToObject(mark, "sweep", time))
            return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    return LB_OK;
}

enum lb_err subs_directory_event(struct service *svc, const struct envelope *ev,
                                 service_event_fn apply, struct lb_why *why)
{
    struct subs_state *st = subs_state(svc);
    bool old = false;
    enum lb_err err = subs_store_marks_directory(service_store(svc), ev->id, &old, why);

    if (err != LB_OK)
        return err;
    count_quiet(svc, old);
    st->context = CTX_DIRECTORY;
    st->directory_event = ev->id;
    st->quiet = old;
    err = apply(svc, ev, why);
    st->context = CTX_REQUEST;
    st->directory_event = NULL;
    st->quiet = false;
    return err;
}

enum lb_err subs_sweep_is_old(struct service *svc, int64_t now_ms, bool *ret_old,
                              struct lb_why *why)
{
    bool old = false;
    enum lb_err err = subs_store_marks_sweep(service_store(svc), now_ms, &old, why);

    if (err != LB_OK)
        return err;
    count_quiet(svc, old);
    *ret_old = old;
    return LB_OK;
}

/* ---- decoding snapshots ---------------------------------------------------------- */

/* Member `name`: an RFC 3339 time, or null (SUBS_NO_TIME); absent is LB_ENOTFOUND. */
static enum lb_err get_time(const cJSON *data, const char *name, int64_t *ret_ms,
                            struct lb_why *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(data, name);

    if (item == NULL)
        return LB_ENOTFOUND;
    if (cJSON_IsNull(item)) {
        *ret_ms = SUBS_NO_TIME;
        return LB_OK;
    }
    if (!cJSON_IsString(item) || envelope_parse_time(item->valuestring, ret_ms) != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: must be an RFC 3339 time or null", name);
    return LB_OK;
}

static enum lb_err get_version(const cJSON *data, int64_t *ret_version, struct lb_why *why)
{
    if (json_get_int(data, "version", 1, JSON_MAX_SAFE_INTEGER, ret_version, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "version: %s", why->text);
    return LB_OK;
}

/* Copies string member `name` (at most size - 1 bytes) that `valid` accepts. */
static enum lb_err get_id(const cJSON *data, const char *name, bool (*valid)(const char *),
                          char *ret, size_t size, struct lb_why *why)
{
    const char *text;

    if (json_get_string(data, name, size - 1, &text, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "%s: %s", name, why->text);
    if (!valid(text))
        return lb_fail(why, LB_EINVAL, "%s: \"%s\" is not a valid id", name, text);
    (void)snprintf(ret, size, "%s", text);
    return LB_OK;
}

static bool valid_org(const char *text)
{
    return subject_tenant_valid(text);
}

/* An array of at most `max` ids that `valid` accepts. */
static enum lb_err check_ids(const cJSON *list, const char *name, int max,
                             bool (*valid)(const char *), struct lb_why *why)
{
    const cJSON *item;
    int n = 0;

    if (!cJSON_IsArray(list))
        return lb_fail(why, LB_EINVAL, "%s: must be an array", name);
    cJSON_ArrayForEach(item, list)
    {
        if (++n > max || !cJSON_IsString(item) || !valid(item->valuestring))
            return lb_fail(why, LB_EINVAL, "%s[%d]: not a valid id, or more than %d", name, n - 1,
                           max);
    }
    return LB_OK;
}

/*
 * The watermark of a snapshot just applied: the newest marks (snapshots are
 * read in the order they were made). A directory mark already applied here
 * is reached: this database is past it.
 */
static enum lb_err read_watermark(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why)
{
    const cJSON *mark = cJSON_GetObjectItemCaseSensitive(ev->data, "watermark");
    const char *directory = NULL;
    int64_t sweep_ms = SUBS_NO_TIME;
    enum applied_state state = APPLIED_NEW;
    enum lb_err err;

    if (mark == NULL)
        return LB_OK; /* written before D23 */
    if (!cJSON_IsObject(mark))
        return lb_fail(why, LB_EINVAL, "watermark: must be an object");
    err = json_get_string(mark, "directory", ENVELOPE_ID_MAX, &directory, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "watermark: directory: %s", why->text);
    err = get_time(mark, "sweep", &sweep_ms, why);
    if (err != LB_OK && err != LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "watermark: %s", why->text);
    /* Only presence matters: any digest other than the event's reads as "applied". */
    if (directory != NULL) {
        err = applied_check(service_store(svc), directory, 0, &state, why);
        if (err != LB_OK)
            return err;
    }
    return subs_store_marks_read(service_store(svc), directory, state != APPLIED_NEW, sweep_ms,
                                 why);
}

/* ---- the snapshots ---------------------------------------------------------------- */

static enum lb_err decode_subscription(const struct envelope *ev, struct subscription *ret,
                                       struct lb_why *why)
{
    const cJSON *d = ev->data;
    const char *text;
    enum lb_err err;

    err = get_id(d, "subscription", subs_entity_id_valid, ret->id, sizeof(ret->id), why);
    if (err == LB_OK)
        err = get_id(d, "customer", valid_org, ret->customer, sizeof(ret->customer), why);
    if (err == LB_OK)
        err = get_id(d, "package", subs_name_id_valid, ret->package, sizeof(ret->package), why);
    if (err != LB_OK)
        return err;
    if (json_get_string(d, "seat_basis", 16, &text, why) != LB_OK ||
        !seat_basis_parse(text, &ret->basis))
        return lb_fail(why, LB_EINVAL, "seat_basis: must be users, devices or both");
    if (json_get_string(d, "status", 16, &text, why) != LB_OK ||
        !sub_status_parse(text, &ret->status))
        return lb_fail(why, LB_EINVAL, "status: not a subscription status");
    if (json_get_int(d, "quantity", 1, SUBS_QUANTITY_MAX, &ret->quantity, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "quantity: %s", why->text);
    err = get_version(d, &ret->version, why);
    if (err == LB_OK)
        err = get_time(d, "trial_end", &ret->trial_end_ms, why);
    if (err == LB_OK)
        err = get_time(d, "billing_start", &ret->billing_start_ms, why);
    if (err == LB_OK)
        err = get_time(d, "billing_end", &ret->billing_end_ms, why);
    if (err == LB_ENOTFOUND)
        return lb_fail(why, LB_EINVAL, "trial_end, billing_start and billing_end are required");
    if (err != LB_OK)
        return err;
    /* Written before D23 without them: the event's time. */
    err = get_time(d, "updated", &ret->updated_ms, why);
    if (err == LB_ENOTFOUND || (err == LB_OK && ret->updated_ms == SUBS_NO_TIME))
        ret->updated_ms = ev->time_ms;
    else if (err != LB_OK)
        return err;
    err = get_time(d, "created", &ret->created_ms, why);
    if (err == LB_ENOTFOUND || (err == LB_OK && ret->created_ms == SUBS_NO_TIME))
        ret->created_ms = SUBS_NO_TIME; /* the row's, or the event's time */
    else if (err != LB_OK)
        return err;
    return LB_OK;
}

static enum lb_err own_subscription(struct service *svc, const struct envelope *ev,
                                    struct lb_why *why)
{
    struct store *s = service_store(svc);
    const cJSON *groups = cJSON_GetObjectItemCaseSensitive(ev->data, "groups");
    struct subscription sub = {0};
    struct subscription have;
    cJSON *none = NULL;
    enum lb_err err;

    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    err = decode_subscription(ev, &sub, why);
    if (err == LB_OK && groups != NULL)
        err = check_ids(groups, "groups", INT32_MAX, subs_entity_id_valid, why);
    if (err != LB_OK)
        return err;
    err = subs_store_sub_get(s, ev->tenant, sub.id, &have, why);
    if (err == LB_OK && have.version >= sub.version)
        return LB_OK; /* this database has it, or a newer state */
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    if (sub.created_ms == SUBS_NO_TIME)
        sub.created_ms = err == LB_OK ? have.created_ms : ev->time_ms;
    err = subs_store_sub_put(s, ev->tenant, &sub, why);
    /* A snapshot written before D23 has no groups: only a cancellation detaches them. */
    if (err == LB_OK && groups == NULL && sub.status == SUB_CANCELLED) {
        none = cJSON_CreateArray();
        groups = none;
        err = none ? LB_OK : lb_fail(why, LB_ENOMEM, "out of memory");
    }
    if (err == LB_OK && groups != NULL)
        err = subs_sub_set_groups(svc, ev->tenant, sub.id, groups, why);
    cJSON_Delete(none);
    if (err == LB_OK)
        err = read_watermark(svc, ev, why);
    return err;
}

static enum lb_err own_customer(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct customer c = {.updated_ms = ev->time_ms};
    struct customer have;
    const char *status;
    enum lb_err err;

    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    err = get_id(ev->data, "customer", valid_org, c.org, sizeof(c.org), why);
    if (err == LB_OK)
        err = get_version(ev->data, &c.version, why);
    if (err != LB_OK)
        return err;
    if (json_get_string(ev->data, "status", 16, &status, why) != LB_OK ||
        (strcmp(status, "active") != 0 && strcmp(status, "inactive") != 0))
        return lb_fail(why, LB_EINVAL, "status: must be active or inactive");
    c.active = strcmp(status, "active") == 0;
    err = subs_store_customer_get(s, ev->tenant, c.org, &have, why);
    if (err == LB_OK && have.version >= c.version)
        return LB_OK;
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = subs_store_customer_put(s, ev->tenant, &c, why);
    if (err == LB_OK)
        err = read_watermark(svc, ev, why);
    return err;
}

static enum lb_err own_package(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    struct store *s = service_store(svc);
    char id[SUBS_NAME_ID_MAX + 1];
    char have_name[SUBS_PACKAGE_NAME_MAX + 1];
    const char *name;
    const cJSON *features =
        ev->data ? cJSON_GetObjectItemCaseSensitive(ev->data, "features") : NULL;
    const cJSON *f;
    int64_t version = 0;
    int64_t have = 0;
    enum lb_err err;

    if (ev->data == NULL)
        return lb_fail(why, LB_EINVAL, "%s has no data", ev->type);
    err = get_id(ev->data, "package", subs_name_id_valid, id, sizeof(id), why);
    if (err == LB_OK)
        err = get_version(ev->data, &version, why);
    if (err == LB_OK)
        err = check_ids(features, "features", SUBS_FEATURES_MAX, subs_name_id_valid, why);
    if (err != LB_OK)
        return err;
    if (json_get_string(ev->data, "name", SUBS_PACKAGE_NAME_MAX, &name, why) != LB_OK)
        return lb_fail(why, LB_EINVAL, "name: %s", why->text);
    err = subs_store_package_get(s, id, have_name, sizeof(have_name), &have, why);
    if (err == LB_OK && have >= version)
        return LB_OK;
    if (err != LB_OK && err != LB_ENOTFOUND)
        return err;
    err = subs_store_package_put(s, id, name, version, ev->time_ms, why);
    if (err == LB_OK)
        err = subs_store_features_clear(s, id, why);
    cJSON_ArrayForEach(f, features)
    {
        if (err == LB_OK)
            err = subs_store_feature_add(s, id, f->valuestring, why);
    }
    if (err == LB_OK)
        err = read_watermark(svc, ev, why);
    return err;
}

/* Runs a snapshot's handler quietly: what it restores was emitted once already. */
static enum lb_err own_event(struct service *svc, const struct envelope *ev, service_event_fn apply,
                             struct lb_why *why)
{
    struct subs_state *st = subs_state(svc);
    enum lb_err err;

    st->context = CTX_OWN;
    st->quiet = true;
    err = apply(svc, ev, why);
    st->context = CTX_REQUEST;
    st->quiet = false;
    return err;
}

enum lb_err subs_on_own_subscription(struct service *svc, const struct envelope *ev,
                                     struct lb_why *why)
{
    return own_event(svc, ev, own_subscription, why);
}

enum lb_err subs_on_own_customer(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    return own_event(svc, ev, own_customer, why);
}

enum lb_err subs_on_own_package(struct service *svc, const struct envelope *ev, struct lb_why *why)
{
    return own_event(svc, ev, own_package, why);
}
