/*
 * subscriptions.h - the subscriptions service: a platform-wide catalog of
 * seat-based packages (Core, Core+ ...), the customers of each tenant, their
 * subscriptions (package, seat basis, quantity, status, trial and billing
 * dates), the user groups a subscription is attached to and the seats that
 * follow from group membership, and the entitlement query other services ask
 * on every decision.
 *
 * Source map: main.c (tables), rules.c (pure rules: statuses, transitions,
 * names; no I/O), store.c (all SQL), catalog.c (packages, entitlement),
 * api.c (customers and subscriptions), groups.c (attachments, membership,
 * seats), events.c (consumed platform events, emitted event builders),
 * sweeps.c (trial conversion), rebuild.c (its own events read back: the
 * snapshots a rebuild restores command-made state from, and the watermarks
 * that keep a rebuild from emitting twice; docs/decisions.md D23).
 * docs/services/subscriptions.md says why.
 *
 * Ownership: cJSON trees built here are freed by whoever the function's
 * comment names; strings in structs are fixed arrays (no heap).
 */
#ifndef SUBSCRIPTIONS_H
#define SUBSCRIPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "envelope.h"
#include "orgtree.h"
#include "service.h"

/* Longest package and feature id: [a-z][a-z0-9_]{0,63}. */
#define SUBS_NAME_ID_MAX 64
/* Longest entity id (subscription, group, user, device), as schemas/common.json. */
#define SUBS_ENTITY_MAX 128
/* Longest org id (a subject token). */
#define SUBS_ORG_MAX 64
/* Longest actor (caller.user). */
#define SUBS_ACTOR_MAX 128
/* Longest package display name. */
#define SUBS_PACKAGE_NAME_MAX 200
/* Most features one package may have. */
#define SUBS_FEATURES_MAX 64
/* Most packages in the catalog. */
#define SUBS_PACKAGES_MAX 256
/* Largest quantity of one subscription. */
#define SUBS_QUANTITY_MAX 1000000
/* Most subscriptions one subscription_list reply holds. */
#define SUBS_LIST_MAX 500
/* Subscriptions the trial sweep converts per query (it repeats until none is due). */
#define SUBS_SWEEP_CHUNK 256
/* A null date (stored as SQL NULL, printed as JSON null). */
#define SUBS_NO_TIME INT64_MIN

enum seat_basis { SEAT_USERS, SEAT_DEVICES, SEAT_BOTH };

/* Values are stored: never renumber. */
enum sub_status { SUB_IN_TRIAL = 0, SUB_ACTIVE = 1, SUB_SUSPENDED = 2, SUB_CANCELLED = 3 };

/* The commands that move a subscription's status. */
enum sub_command { CMD_CONVERT, CMD_SUSPEND, CMD_REACTIVATE, CMD_CANCEL };

/*
 * What the running code reacts to. It decides what the watermark of an
 * emitted event holds (rebuild.c) and whether anything is emitted at all.
 * Zero is a request: the runtime calls request handlers directly.
 */
enum subs_context { CTX_REQUEST = 0, CTX_DIRECTORY, CTX_SWEEP, CTX_OWN };

/* The service's in-memory state (service_state): set around consumed events and sweeps. */
struct subs_state {
    enum subs_context context;
    const char *directory_event; /* CTX_DIRECTORY: the event's id (borrowed while it runs) */
    int64_t sweep_ms;            /* CTX_SWEEP: the sweep's time */
    /* Replaying what the own stream already holds (a rebuild, D23): state changes, nothing is
     * emitted, and command-made state (attachments, customers) is left to the snapshots. */
    bool quiet;
    double *quiet_replays; /* lb_subscriptions_quiet_replays_total, made on first use */
};

/* The service's own settings. */
struct subs_config {
    bool auto_customers;  /* an org_created of kind customer registers the customer */
    int64_t trial_max_ms; /* longest trial a subscription_create may ask for */
};

/* A subscription's state (one row of `subscriptions`). */
struct subscription {
    char id[SUBS_ENTITY_MAX + 1];
    char customer[SUBS_ORG_MAX + 1];
    char package[SUBS_NAME_ID_MAX + 1];
    enum seat_basis basis;
    int64_t quantity;
    enum sub_status status;
    int64_t trial_end_ms;     /* SUBS_NO_TIME when created without a trial */
    int64_t billing_start_ms; /* SUBS_NO_TIME until active */
    int64_t billing_end_ms;   /* SUBS_NO_TIME until cancelled */
    int64_t version;          /* 1 on creation, +1 per change */
    int64_t created_ms;
    int64_t updated_ms;
};

/* A customer's state (one row of `customers`). */
struct customer {
    char org[SUBS_ORG_MAX + 1];
    bool active;
    int64_t version;
    int64_t updated_ms;
};

/* ---- rules.c: pure rules, no I/O ---------------------------------------- */

const char *seat_basis_name(enum seat_basis b);
bool seat_basis_parse(const char *text, enum seat_basis *ret_basis);
const char *sub_status_name(enum sub_status s);
bool sub_status_parse(const char *text, enum sub_status *ret_status);
const char *sub_command_name(enum sub_command c);
/* [a-z][a-z0-9_]{0,63}: package and feature ids. */
bool subs_name_id_valid(const char *text);
/* schemas/common.json entity_id: [A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}. */
bool subs_entity_id_valid(const char *text);
/* Whether seats of this basis count users (users, both) or devices (devices, both). */
bool seat_basis_counts_users(enum seat_basis b);
bool seat_basis_counts_devices(enum seat_basis b);
/* Whether a subscription in this status grants its features (in_trial, active). */
bool sub_status_grants(enum sub_status s);
/*
 * Applies `cmd` at `now_ms` to `sub` (status and dates; not the version):
 * convert in_trial -> active (billing starts now); suspend in_trial|active ->
 * suspended; reactivate suspended -> in_trial while the trial runs and was
 * never converted, else active (billing starts now if it never started);
 * cancel anything but cancelled -> cancelled (billing ends now). Any other
 * move is LB_ECONFLICT with a reason naming the status; `sub` is then
 * untouched. *ret_change is the subscription_changed `change`.
 */
enum lb_err sub_transition(struct subscription *sub, enum sub_command cmd, int64_t now_ms,
                           const char **ret_change, struct lb_why *why);
/* The sweep's automatic conversion: in_trial with trial_end <= now -> active from trial_end. */
bool sub_trial_due(const struct subscription *sub, int64_t now_ms);
void sub_convert_at_trial_end(struct subscription *sub);
/* Quantity rule: 1..SUBS_QUANTITY_MAX, not on a cancelled subscription. */
enum lb_err sub_set_quantity(struct subscription *sub, int64_t quantity, struct lb_why *why);

/* ---- store.c: the only file that knows the tables ------------------------ */

extern const struct store_migration subs_migrations[];
extern const size_t subs_migration_count;

/* Packages (platform-wide). */
enum lb_err subs_store_package_get(struct store *s, const char *id, char ret_name[],
                                   size_t name_size, int64_t *ret_version, struct lb_why *why);
enum lb_err subs_store_package_put(struct store *s, const char *id, const char *name,
                                   int64_t version, int64_t now_ms, struct lb_why *why);
enum lb_err subs_store_package_count(struct store *s, int64_t *ret_count, struct lb_why *why);
enum lb_err subs_store_features_clear(struct store *s, const char *package, struct lb_why *why);
enum lb_err subs_store_feature_add(struct store *s, const char *package, const char *feature,
                                   struct lb_why *why);
/* Appends the package's features, in id order, to the array `into`. */
enum lb_err subs_store_features_json(struct store *s, const char *package, cJSON *into,
                                     struct lb_why *why);
/* Calls `fn` for each package id in order. */
enum lb_err subs_store_each_package(struct store *s,
                                    enum lb_err (*fn)(const char *id, void *arg, struct lb_why *),
                                    void *arg, struct lb_why *why);
/* Whether any package has `feature` (to tell an unknown feature from a missing one). */
enum lb_err subs_store_feature_known(struct store *s, const char *feature, bool *ret_known,
                                     struct lb_why *why);

/* Customers. */
enum lb_err subs_store_customer_get(struct store *s, const char *tenant, const char *org,
                                    struct customer *ret, struct lb_why *why);
enum lb_err subs_store_customer_put(struct store *s, const char *tenant, const struct customer *c,
                                    struct lb_why *why);

/* Subscriptions. */
enum lb_err subs_store_sub_get(struct store *s, const char *tenant, const char *id,
                               struct subscription *ret, struct lb_why *why);
enum lb_err subs_store_sub_put(struct store *s, const char *tenant, const struct subscription *sub,
                               struct lb_why *why);
typedef enum lb_err (*subs_sub_fn)(const struct subscription *sub, void *arg, struct lb_why *why);
/* The customer's subscriptions, in id order, at most `limit`. */
enum lb_err subs_store_each_sub_of_customer(struct store *s, const char *tenant,
                                            const char *customer, int limit, subs_sub_fn fn,
                                            void *arg, struct lb_why *why);
/* Up to `max` in_trial subscriptions with trial_end <= now, oldest first (partial index). */
enum lb_err subs_store_trials_due(struct store *s, int64_t now_ms, int max,
                                  char (*ret_tenants)[SUBS_ORG_MAX + 1],
                                  char (*ret_ids)[SUBS_ENTITY_MAX + 1], int *ret_count,
                                  struct lb_why *why);
/* Seats assigned in a subscription. */
enum lb_err subs_store_seat_count(struct store *s, const char *tenant, const char *sub,
                                  int64_t *ret_count, struct lb_why *why);

/* Groups and membership (mirrored directory state). */
enum lb_err subs_store_group_get(struct store *s, const char *tenant, const char *group,
                                 char ret_org[SUBS_ORG_MAX + 1], bool *ret_deleted,
                                 struct lb_why *why);
/* org "" records a tombstone of a group never seen alive. */
enum lb_err subs_store_group_put(struct store *s, const char *tenant, const char *group,
                                 const char *org, bool deleted, struct lb_why *why);
/* *ret_changed tells whether the row was new (add) or present (remove). */
enum lb_err subs_store_member_add(struct store *s, const char *tenant, const char *group,
                                  const char *user, bool *ret_changed, struct lb_why *why);
enum lb_err subs_store_member_remove(struct store *s, const char *tenant, const char *group,
                                     const char *user, bool *ret_changed, struct lb_why *why);
enum lb_err subs_store_members_clear_group(struct store *s, const char *tenant, const char *group,
                                           struct lb_why *why);
enum lb_err subs_store_members_clear_user(struct store *s, const char *tenant, const char *user,
                                          struct lb_why *why);
/* Each member of `group`, in id order (the list is read before `fn` runs). */
typedef enum lb_err (*subs_id_fn)(struct service *svc, const char *id, void *arg,
                                  struct lb_why *why);
enum lb_err subs_store_each_member(struct store *s, struct service *svc, const char *tenant,
                                   const char *group, subs_id_fn fn, void *arg, struct lb_why *why);

/* Attachments of subscriptions to groups. */
enum lb_err subs_store_attach(struct store *s, const char *tenant, const char *sub,
                              const char *group, bool *ret_added, struct lb_why *why);
enum lb_err subs_store_detach(struct store *s, const char *tenant, const char *sub,
                              const char *group, bool *ret_removed, struct lb_why *why);
/* Each subscription `group` is attached to, in id order. */
enum lb_err subs_store_each_attached_sub(struct store *s, struct service *svc, const char *tenant,
                                         const char *group, subs_id_fn fn, void *arg,
                                         struct lb_why *why);
/* Appends the groups attached to `sub`, in id order, to the array `into`. */
enum lb_err subs_store_attached_groups_json(struct store *s, const char *tenant, const char *sub,
                                            cJSON *into, struct lb_why *why);
enum lb_err subs_store_detach_all(struct store *s, const char *tenant, const char *sub,
                                  struct lb_why *why);

/* Seats: one row per (subscription, user), with the granting group. */
/* The smallest attached group of `sub` that holds `user`; LB_ENOTFOUND when none. */
enum lb_err subs_store_seat_grantor(struct store *s, const char *tenant, const char *sub,
                                    const char *user, char ret_group[SUBS_ENTITY_MAX + 1],
                                    struct lb_why *why);
enum lb_err subs_store_seat_get(struct store *s, const char *tenant, const char *sub,
                                const char *user, char ret_group[SUBS_ENTITY_MAX + 1],
                                struct lb_why *why);
/* group NULL deletes the seat. */
enum lb_err subs_store_seat_set(struct store *s, const char *tenant, const char *sub,
                                const char *user, const char *group, struct lb_why *why);
/* Each user holding a seat of `sub`; each subscription `user` holds a seat of (id order). */
enum lb_err subs_store_each_seat_user(struct store *s, struct service *svc, const char *tenant,
                                      const char *sub, subs_id_fn fn, void *arg,
                                      struct lb_why *why);
enum lb_err subs_store_each_seat_of_user(struct store *s, struct service *svc, const char *tenant,
                                         const char *user, subs_id_fn fn, void *arg,
                                         struct lb_why *why);

/* Devices (installed agents). */
/* org NULL keeps the recorded org (an uninstall of a device never seen installed records ""). */
enum lb_err subs_store_device_put(struct store *s, const char *tenant, const char *device,
                                  const char *org, bool installed, struct lb_why *why);
enum lb_err subs_store_device_get(struct store *s, const char *tenant, const char *device,
                                  char ret_org[SUBS_ORG_MAX + 1], bool *ret_installed,
                                  struct lb_why *why);
enum lb_err subs_store_installed_in_org(struct store *s, const char *tenant, const char *org,
                                        int64_t *ret_count, struct lb_why *why);

/* Entitlement lookups (indexed, no scans). */
enum ent_want { WANT_ANY, WANT_USERS, WANT_DEVICES };
/*
 * The best subscription of `customer` that is not cancelled, includes
 * `feature`, counts users (WANT_USERS) or devices (WANT_DEVICES) or anything
 * (WANT_ANY), and, when `user` is not NULL, in which `user` holds a seat. A
 * granting status (in_trial, active) wins over suspended; then the smallest
 * id. LB_ENOTFOUND when there is none.
 */
enum lb_err subs_store_best_sub(struct store *s, const char *tenant, const char *customer,
                                const char *user, const char *feature, enum ent_want want,
                                char ret_id[SUBS_ENTITY_MAX + 1], enum sub_status *ret_status,
                                struct lb_why *why);

/* What the store tells about an entitlement (subs_store_entitlement). */
struct ent_facts {
    bool registered;    /* the customer is registered */
    bool active;        /* ... and active */
    bool known_feature; /* some package of the catalog has the feature */
    char
        sub[SUBS_ENTITY_MAX + 1]; /* the best subscription as subs_store_best_sub picks it, or "" */
    enum sub_status status;       /* its status */
};
/*
 * The whole entitlement lookup (the hot path): the customer's row and
 * whether the feature exists in one statement, then, only when both allow
 * an answer, the best subscription (subs_store_best_sub: through the user's
 * seats when `user` is not NULL, else the customer's subscriptions counting
 * `want`). `ret->sub` is "" when there is none.
 */
enum lb_err subs_store_entitlement(struct store *s, const char *tenant, const char *customer,
                                   const char *user, const char *feature, enum ent_want want,
                                   struct ent_facts *ret, struct lb_why *why);
/* subs_store_best_sub's SQL (seats, then the customer's), for the plan checks of the unit tests. */
extern const char subs_store_best_by_seat_sql[];
extern const char subs_store_best_by_customer_sql[];

/* Rebuild watermarks (rebuild.c, D23): one row. */
/*
 * Records `event_id` as the last directory event applied here; *ret_old is
 * true when it comes at or before the newest directory watermark read back
 * from the own stream and not reached yet (a rebuild replaying history).
 */
enum lb_err subs_store_marks_directory(struct store *s, const char *event_id, bool *ret_old,
                                       struct lb_why *why);
/* Records a sweep at `now_ms`; *ret_old: at or before the newest sweep watermark read back. */
enum lb_err subs_store_marks_sweep(struct store *s, int64_t now_ms, bool *ret_old,
                                   struct lb_why *why);
/* Where this database is: the last directory event applied ("" when none), the last sweep. */
enum lb_err subs_store_marks_get(struct store *s, char ret_directory[ENVELOPE_ID_MAX + 1],
                                 int64_t *ret_sweep_ms, struct lb_why *why);
/*
 * Takes the watermark of a snapshot read back: `directory` (NULL: none) as
 * the newest directory mark, `reached` when that event is applied already;
 * `sweep_ms` (SUBS_NO_TIME: none) raises the sweep mark.
 */
enum lb_err subs_store_marks_read(struct store *s, const char *directory, bool reached,
                                  int64_t sweep_ms, struct lb_why *why);

/* ---- events.c: emitted events ---------------------------------------------- */

enum lb_err subs_emit_subscription_changed(struct service *svc, const char *tenant,
                                           const struct subscription *sub, const char *change,
                                           const char *actor, struct lb_why *why);
enum lb_err subs_emit_customer_changed(struct service *svc, const char *tenant,
                                       const struct customer *c, const char *change,
                                       const char *actor, struct lb_why *why);
enum lb_err subs_emit_seat(struct service *svc, const char *tenant, bool assigned, const char *sub,
                           const char *customer, const char *user, const char *group,
                           const char *reason, struct lb_why *why);
/* The subscription as the replies and subscription_changed show it (caller frees). */
cJSON *subs_sub_json(const struct subscription *sub);
/*
 * Checks an event's data members against `known` and reads the entity ids
 * named in `ids` (NULL-terminated) into ret_values (borrowed from ev).
 */
enum lb_err subs_event_decode(const struct envelope *ev, const char *const *known,
                              const char *const *ids, const char **ret_values, struct lb_why *why);
/* Registers `org` as an active customer at `now_ms` and emits customer_changed "created". */
enum lb_err subs_customer_register(struct service *svc, const char *tenant, const char *org,
                                   const char *actor, int64_t now_ms, struct customer *ret,
                                   struct lb_why *why);

/* ---- rebuild.c: the own stream read back (D23) ------------------------------ */

/* The service's state (struct subs_state); quiet: emit nothing, leave command state alone. */
struct subs_state *subs_state(struct service *svc);
bool subs_quiet(struct service *svc);
/*
 * Adds member "watermark" to an emitted event's data: what this database
 * had applied when the change was made, as far as the cause makes it
 * deterministic (a request: the last directory event and the last sweep; a
 * directory event: itself; a sweep: its time).
 */
enum lb_err subs_add_watermark(struct service *svc, cJSON *data, struct lb_why *why);
/*
 * Runs `apply` for a directory event, quiet when the own stream showed that
 * this database's predecessor applied it already (it comes at or before the
 * newest directory watermark read back and not reached yet).
 */
enum lb_err subs_directory_event(struct service *svc, const struct envelope *ev,
                                 service_event_fn apply, struct lb_why *why);
/*
 * Whether the sweep at `now_ms` is one the own stream shows was made (its
 * conversions come back as snapshots), or, on the wall clock, comes while
 * snapshots are still being restored (a rebuild); records it either way.
 * On the virtual clock a sweep while restoring is LB_EUNAVAILABLE: its tick
 * is retried once the restore is over.
 */
enum lb_err subs_sweep_is_old(struct service *svc, int64_t now_ms, bool *ret_old,
                              struct lb_why *why);

/* ---- groups.c: seats follow membership ------------------------------------ */

/*
 * Makes the seat of `user` in subscription `sub` match the attachments and
 * memberships now stored: assigns it (seat_assigned) when an attached group
 * holds the user, unassigns it (seat_unassigned with `reason`) when none
 * does any more, and otherwise only moves it to the smallest granting group.
 */
enum lb_err subs_seat_refresh(struct service *svc, const char *tenant, const char *sub,
                              const char *user, const char *reason, struct lb_why *why);
/* Unassigns every seat of `sub` (on cancellation, once its groups are detached). */
enum lb_err subs_release_all_seats(struct service *svc, const char *tenant,
                                   const struct subscription *sub, struct lb_why *why);
/*
 * Makes the groups attached to `sub` exactly `groups` (an array of ids, from
 * a snapshot read back) and the seats of their members follow.
 */
enum lb_err subs_sub_set_groups(struct service *svc, const char *tenant, const char *sub,
                                const cJSON *groups, struct lb_why *why);

/* ---- api.c: request helpers shared by the handlers -------------------------- */

/* Refuses unknown members (`known`, NULL-terminated) and decodes tenant and caller. */
enum lb_err subs_req_caller(struct service *svc, const struct request *req,
                            const char *const *known, struct caller *ret_caller,
                            struct lb_why *why);
/* Reads member `name` as an org id / an entity id (LB_EINVAL naming the member). */
enum lb_err subs_req_org(const struct request *req, const char *name, const char **ret_org,
                         struct lb_why *why);
enum lb_err subs_req_entity(const struct request *req, const char *name, const char **ret_id,
                            struct lb_why *why);
/*
 * Reads member "subscription" and loads it for the caller: LB_EFORBIDDEN, the
 * same for "unknown" and "outside the caller's subtree"; with msp_only the
 * caller must be strictly above the subscription's customer (`action` names
 * what was refused).
 */
enum lb_err subs_req_sub(struct service *svc, const struct request *req,
                         const struct caller *caller, bool msp_only, const char *action,
                         struct subscription *ret_sub, struct lb_why *why);
/* A subscription reply: the state plus created, updated, groups, seats_assigned (caller frees). */
cJSON *subs_sub_reply(struct service *svc, const char *tenant, const struct subscription *sub,
                      struct lb_why *why);

/* ---- handlers: api.c, catalog.c, groups.c, events.c, sweeps.c ------------ */

enum lb_err subs_package_add(struct service *svc, const struct request *req, cJSON **ret_reply,
                             struct lb_why *why);
enum lb_err subs_package_update(struct service *svc, const struct request *req, cJSON **ret_reply,
                                struct lb_why *why);
enum lb_err subs_package_list(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why);
enum lb_err subs_entitled(struct service *svc, const struct request *req, cJSON **ret_reply,
                          struct lb_why *why);
enum lb_err subs_customer_create(struct service *svc, const struct request *req, cJSON **ret_reply,
                                 struct lb_why *why);
enum lb_err subs_customer_inactivate(struct service *svc, const struct request *req,
                                     cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_customer_reactivate(struct service *svc, const struct request *req,
                                     cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_customer_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why);
enum lb_err subs_subscription_create(struct service *svc, const struct request *req,
                                     cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_subscription_set_quantity(struct service *svc, const struct request *req,
                                           cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_subscription_convert(struct service *svc, const struct request *req,
                                      cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_subscription_suspend(struct service *svc, const struct request *req,
                                      cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_subscription_reactivate(struct service *svc, const struct request *req,
                                         cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_subscription_cancel(struct service *svc, const struct request *req,
                                     cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_subscription_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                                  struct lb_why *why);
enum lb_err subs_subscription_list(struct service *svc, const struct request *req,
                                   cJSON **ret_reply, struct lb_why *why);
enum lb_err subs_group_attach(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why);
enum lb_err subs_group_detach(struct service *svc, const struct request *req, cJSON **ret_reply,
                              struct lb_why *why);

enum lb_err subs_on_org_created(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err subs_on_group_created(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why);
enum lb_err subs_on_group_deleted(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why);
enum lb_err subs_on_member_added(struct service *svc, const struct envelope *ev,
                                 struct lb_why *why);
enum lb_err subs_on_member_removed(struct service *svc, const struct envelope *ev,
                                   struct lb_why *why);
enum lb_err subs_on_user_deleted(struct service *svc, const struct envelope *ev,
                                 struct lb_why *why);
enum lb_err subs_on_device_installed(struct service *svc, const struct envelope *ev,
                                     struct lb_why *why);
enum lb_err subs_on_device_uninstalled(struct service *svc, const struct envelope *ev,
                                       struct lb_why *why);

enum lb_err subs_on_own_subscription(struct service *svc, const struct envelope *ev,
                                     struct lb_why *why);
enum lb_err subs_on_own_customer(struct service *svc, const struct envelope *ev,
                                 struct lb_why *why);
enum lb_err subs_on_own_package(struct service *svc, const struct envelope *ev, struct lb_why *why);

enum lb_err subs_sweep(struct service *svc, int64_t now_ms, struct lb_why *why);

#endif
