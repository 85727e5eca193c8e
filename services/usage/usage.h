/*
 * usage.h - the usage service: users, devices, signals, consumption,
 * inactivity release and retention.
 *
 * It learns users (directory), devices and their associations (agents),
 * heartbeats (signals), scan counts (scanning) and subscriptions and their
 * seats (subscriptions), all from events; it answers consumption, user,
 * device and scan queries, and offers one command (device_associate). Its
 * clock-driven sweep releases the license of users with no signal for
 * LB_USAGE_INACTIVE_AFTER and purges personal fields LB_USAGE_RETENTION
 * after a license is removed. docs/services/usage.md states the rules.
 *
 * Files: main.c (tables), api.c (requests), events.c (consumed events),
 * consumption.c (counting and over-consumption transitions), sweeps.c
 * (clock-driven), rules.c (pure rules, no I/O), store.c (all SQL).
 *
 * Ownership: rows are plain values copied out of SQLite; struct consumption
 * owns its `subs` array (consumption_release frees it).
 */
#ifndef USAGE_H
#define USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service.h"

/* Longest user, device, subscription, group and package id (common.json entity_id). */
#define USAGE_ID_MAX 128
/* Longest org id (common.json org_id). */
#define USAGE_ORG_MAX      64
#define USAGE_EMAIL_MAX    254
#define USAGE_NAME_MAX     200
#define USAGE_HOSTNAME_MAX 253
#define USAGE_OS_MAX       64
#define USAGE_REASON_MAX   64
/* Longest license key (common.json license_key). */
#define USAGE_KEY_MAX 64
/* One user's allowance: devices covered by one license. */
#define USAGE_BUSINESS_PER_USER 1
#define USAGE_PERSONAL_PER_USER 2
/* Largest purchased quantity of a subscription, and scans of one event. */
#define USAGE_QUANTITY_MAX 1000000000
#define USAGE_SCANS_MAX    1000000000
/* Page sizes of device_list. */
#define USAGE_LIST_LIMIT_DEFAULT 100
#define USAGE_LIST_LIMIT_MAX     500
/* Widest scans query: days with by=day, days with by=month. */
#define USAGE_SCAN_DAYS_BY_DAY   366
#define USAGE_SCAN_DAYS_BY_MONTH 3660
/* Users released (or purged) by one sweep at most; the next sweep goes on. */
#define USAGE_SWEEP_BATCH 50000
/* Subscriptions listed in one user_get reply at most. */
#define USAGE_USER_SEATS_MAX 100

/* The service's own settings. */
struct usage_config {
    int64_t inactive_after_ms; /* no signal this long: the license is released */
    int64_t retention_ms;      /* personal fields kept this long after the license is removed */
};

enum device_kind { DEVICE_BUSINESS, DEVICE_PERSONAL };
enum seat_basis { BASIS_USERS, BASIS_DEVICES, BASIS_BOTH };
enum sub_status { SUB_IN_TRIAL, SUB_ACTIVE, SUB_SUSPENDED, SUB_CANCELLED };

/* A user as usage knows it. Times are ms since the epoch; 0 = never / not set. */
struct user_row {
    char id[USAGE_ID_MAX + 1];
    char org[USAGE_ORG_MAX + 1];
    char customer[USAGE_ORG_MAX + 1]; /* the customer org the user counts under */
    bool known;                       /* user_created applied (else only seen in a seat) */
    bool has_email;
    char email[USAGE_EMAIL_MAX + 1];
    bool has_name;
    char display_name[USAGE_NAME_MAX + 1];
    int64_t seat_count;         /* seats held (subscription x group) */
    int64_t created_ms;         /* when usage first learnt of the user */
    int64_t last_active_ms;     /* last signal of any device, or creation / last seat */
    int64_t released_ms;        /* inactivity release, 0 while not released */
    int64_t license_removed_ms; /* start of the retention period, 0 while licensed */
    int64_t purged_ms;          /* personal fields deleted, 0 when not */
    int64_t deleted_ms;         /* deleted in the directory, 0 while live */
    int64_t rev;                /* revision, announced with each change (journal.c) */
    int64_t personal_ms;        /* email / display name last written (0: never) */
};

/* A device as usage knows it. */
struct device_row {
    char id[USAGE_ID_MAX + 1];
    char org[USAGE_ORG_MAX + 1];
    char customer[USAGE_ORG_MAX + 1];
    enum device_kind kind;
    char hostname[USAGE_HOSTNAME_MAX + 1];
    char os[USAGE_OS_MAX + 1];
    bool installed;
    char user[USAGE_ID_MAX + 1]; /* "" when associated with no user */
    int64_t installed_ms;
    int64_t uninstalled_ms; /* 0 while installed */
    int64_t last_seen_ms;   /* last heartbeat's time, 0 when never seen */
    int64_t rev;            /* revision, announced with each change (journal.c) */
};

/* One subscription's share of a customer's consumption. */
struct sub_usage {
    char id[USAGE_ID_MAX + 1];
    char package[USAGE_ID_MAX + 1];
    enum seat_basis basis;
    enum sub_status status;
    int64_t quantity;   /* purchased seats */
    int64_t users;      /* input: live, unreleased seat holders; output: users counted */
    int64_t devices;    /* output: device units attributed to it */
    int64_t consumed;   /* output: users + devices */
    bool over;          /* output: consumed > quantity (never for cancelled) */
    bool reported_over; /* over-consumption last reported (stored marker) */
    int64_t rev;        /* the subscription row's revision when read */
};

/* A subscription as usage stores it (the journal's view of the row). */
struct sub_row {
    char id[USAGE_ID_MAX + 1];
    char customer[USAGE_ORG_MAX + 1];
    char package[USAGE_ID_MAX + 1];
    enum seat_basis basis;
    enum sub_status status;
    int64_t quantity;
    bool over; /* over-consumption last reported */
    int64_t updated_ms;
    int64_t rev;
};

/* One seat a user holds. */
struct seat_row {
    char subscription[USAGE_ID_MAX + 1];
    char group[USAGE_ID_MAX + 1]; /* "" when assigned without a group */
    char customer[USAGE_ORG_MAX + 1];
    int64_t assigned_ms;
};

/* What a journal entry is about (the journal_dirty kinds). */
enum usage_kind { USAGE_KIND_USER = 1, USAGE_KIND_DEVICE = 2, USAGE_KIND_SUBSCRIPTION = 3 };

/* A row a change touched. */
struct usage_key {
    enum usage_kind kind;
    char tenant[USAGE_ORG_MAX + 1];
    char id[USAGE_ID_MAX + 1];
};

/* What caused a journal entry. */
enum usage_cause { USAGE_CAUSE_EVENT, USAGE_CAUSE_SIGNAL, USAGE_CAUSE_REQUEST };

/* A customer's consumption at one time. */
struct consumption {
    struct sub_usage *subs; /* owned; ordered by subscription id */
    size_t n;
    int64_t licensed_users;       /* distinct users counted by any subscription */
    int64_t unassociated_devices; /* installed, no user: one license each */
    int64_t associated_devices;   /* installed, covered by their user's license */
    int64_t uninstalled_devices;  /* on record for audit, consume nothing */
    int64_t unattributed;         /* device units no subscription takes */
    int64_t consumed;             /* sum of the subscriptions' consumed + unattributed */
    int64_t purchased;            /* sum of quantities of subscriptions not cancelled */
    bool over;
};

/* ---- rules.c: pure rules, no I/O ------------------------------------------ */

/* common.json entity_id: 1-128 of [A-Za-z0-9_.:@-], starting with a letter or digit. */
bool usage_entity_id_valid(const char *id);
/* common.json license_key: 2-8 groups of 4-8 [A-Z0-9] joined by '-', at most 64 bytes. */
bool usage_license_key_valid(const char *key);
/* A real calendar day "YYYY-MM-DD"; *ret_ms (optional) gets its midnight UTC. */
bool usage_date_parse(const char *text, int64_t *ret_ms);

const char *device_kind_name(enum device_kind kind);
bool device_kind_parse(const char *text, enum device_kind *ret);
const char *seat_basis_name(enum seat_basis basis);
bool seat_basis_parse(const char *text, enum seat_basis *ret);
const char *sub_status_name(enum sub_status status);
bool sub_status_parse(const char *text, enum sub_status *ret);

/*
 * Whether a user holding `business` and `personal` installed devices may be
 * associated with one more of `kind`. LB_ECONFLICT with the reason otherwise.
 */
enum lb_err usage_allowance_check(enum device_kind kind, int64_t business, int64_t personal,
                                  struct lb_why *why);

/*
 * Splits a customer's consumption among its subscriptions (docs/services/
 * usage.md, "Counting"): each subscription counts its users when its basis
 * includes users and it is not cancelled; the `device_units` (installed
 * devices with no user) go to the subscriptions whose basis includes
 * devices and which are in_trial or active, in order, each up to its free
 * quantity, the rest to the last of them. Fills users/devices/consumed/over
 * of each and the totals of `c` (which must hold the device counts).
 */
void consumption_attribute(struct consumption *c);

/* Whether the user is licensed now: holds a seat, not released, not deleted. */
bool user_is_licensed(const struct user_row *u);

/* ---- store.c: the only file that knows the tables ---------------------------- */

extern const struct store_migration usage_migrations[];
extern const size_t usage_migration_count;

enum lb_err usage_store_user_get(struct store *s, const char *tenant, const char *user,
                                 struct user_row *ret, struct lb_why *why);
/* Inserts or replaces the whole row. */
enum lb_err usage_store_user_put(struct store *s, const char *tenant, const struct user_row *u,
                                 struct lb_why *why);
/* Recounts seat_count from the seats table. */
enum lb_err usage_store_user_recount(struct store *s, const char *tenant, const char *user,
                                     struct lb_why *why);
/* Moves last_active_ms forward to `t` (never back); *ret_moved says whether it moved. */
enum lb_err usage_store_user_touch(struct store *s, const char *tenant, const char *user, int64_t t,
                                   bool *ret_moved, struct lb_why *why);
/* What a signal needs to know of its user. */
struct user_activity {
    int64_t last_active_ms;
    int64_t released_ms; /* 0 while not released */
    int64_t deleted_ms;  /* 0 while live */
};
/* Reads the user's activity; LB_ENOTFOUND for an unknown user. */
enum lb_err usage_store_user_activity(struct store *s, const char *tenant, const char *user,
                                      struct user_activity *ret, struct lb_why *why);
/* The sweep's release: released_ms = license_removed_ms = now_ms. */
enum lb_err usage_store_user_release(struct store *s, const char *tenant, const char *user,
                                     int64_t now_ms, struct lb_why *why);
/* Deletes email and display name for good (secure_delete on) and sets purged_ms. */
enum lb_err usage_store_user_purge(struct store *s, const char *tenant, const char *user,
                                   int64_t now_ms, struct lb_why *why);
/* Up to `max` ids of the subscriptions `user` holds a seat of, by id. */
enum lb_err usage_store_user_seats(struct store *s, const char *tenant, const char *user,
                                   char ret_subs[][USAGE_ID_MAX + 1], size_t max, size_t *ret_n,
                                   struct lb_why *why);

enum lb_err usage_store_device_get(struct store *s, const char *tenant, const char *device,
                                   struct device_row *ret, struct lb_why *why);
enum lb_err usage_store_device_put(struct store *s, const char *tenant, const struct device_row *d,
                                   struct lb_why *why);
/* The heartbeat's write: last_seen_ms = max(last_seen_ms, t). */
enum lb_err usage_store_device_seen(struct store *s, const char *tenant, const char *device,
                                    int64_t t, struct lb_why *why);
/* What a heartbeat needs to know of its device after moving last_seen_ms. */
struct device_signal {
    bool moved;                  /* last_seen_ms moved forward to the heartbeat's time */
    bool installed;              /* installed now */
    char user[USAGE_ID_MAX + 1]; /* "" when associated with no user */
    int64_t last_seen_ms;        /* after the heartbeat */
};
/*
 * The heartbeat's write: last_seen_ms = t when t is newer, and what the
 * heartbeat needs of the device (one read, one write when the time moves).
 * LB_ENOTFOUND for an unknown device.
 */
enum lb_err usage_store_device_signal(struct store *s, const char *tenant, const char *device,
                                      int64_t t, struct device_signal *ret, struct lb_why *why);
/* Installed devices associated with `user`, by kind, excluding `except` (may be NULL). */
enum lb_err usage_store_user_device_counts(struct store *s, const char *tenant, const char *user,
                                           const char *except, int64_t *ret_business,
                                           int64_t *ret_personal, struct lb_why *why);
/* Detaches every device of `user`. */
enum lb_err usage_store_detach_all(struct store *s, const char *tenant, const char *user,
                                   struct lb_why *why);
typedef enum lb_err (*usage_device_fn)(const struct device_row *d, void *arg);
/* Installed devices associated with `user`, by id. */
enum lb_err usage_store_each_user_device(struct store *s, const char *tenant, const char *user,
                                         usage_device_fn fn, void *arg, struct lb_why *why);
/* Every device associated with `user`, installed or not, by id. */
enum lb_err usage_store_each_owned_device(struct store *s, const char *tenant, const char *user,
                                          usage_device_fn fn, void *arg, struct lb_why *why);
/*
 * A page of the customer's devices with id > `after` ("" for the first),
 * `state` 1 installed, 0 uninstalled, -1 both; up to `limit`, by id.
 */
enum lb_err usage_store_each_customer_device(struct store *s, const char *tenant,
                                             const char *customer, int state, const char *after,
                                             int64_t limit, usage_device_fn fn, void *arg,
                                             struct lb_why *why);

/* Inserts the seat if absent. */
enum lb_err usage_store_seat_add(struct store *s, const char *tenant, const char *subscription,
                                 const char *user, const char *group, const char *customer,
                                 int64_t t, struct lb_why *why);
enum lb_err usage_store_seat_remove(struct store *s, const char *tenant, const char *subscription,
                                    const char *user, const char *group, struct lb_why *why);

/* Upserts a subscription's state (keeps its over-consumption marker). ret_old_customer gets the
 * customer it had, "" when new. */
enum lb_err usage_store_subscription_put(struct store *s, const char *tenant,
                                         const struct sub_usage *sub, const char *customer,
                                         int64_t t, char ret_old_customer[USAGE_ORG_MAX + 1],
                                         struct lb_why *why);
/* True when a subscription of the customer is marked over-consumed (last reported). */
enum lb_err usage_store_customer_any_over(struct store *s, const char *tenant, const char *customer,
                                          bool *ret_any, struct lb_why *why);
enum lb_err usage_store_subscription_mark(struct store *s, const char *tenant,
                                          const char *subscription, bool over, struct lb_why *why);

/* Reads the counts of `customer` into `c` (subs malloc'd), before consumption_attribute. */
enum lb_err usage_store_consumption(struct store *s, const char *tenant, const char *customer,
                                    struct consumption *ret, struct lb_why *why);
void consumption_release(struct consumption *c);

/* Adds `scans` to (key, day, org). */
enum lb_err usage_store_scans_add(struct store *s, const char *tenant, const char *key,
                                  const char *day, const char *org, int64_t scans,
                                  struct lb_why *why);
typedef enum lb_err (*usage_scans_fn)(const char *period, const char *org, int64_t scans,
                                      void *arg);
/* Sums of `key`'s scans per (period, org) for days in [from, to]; by_month groups by month. */
enum lb_err usage_store_each_scans(struct store *s, const char *tenant, const char *key,
                                   const char *from, const char *to, bool by_month,
                                   usage_scans_fn fn, void *arg, struct lb_why *why);

/* Users due: (tenant, user) of licensed users inactive since before `before_ms`, or of
 * users whose license was removed before `before_ms` and not purged yet. */
struct user_key {
    char tenant[USAGE_ORG_MAX + 1];
    char user[USAGE_ID_MAX + 1];
};
/* A user due for release, with what the release needs. */
struct due_user {
    char tenant[USAGE_ORG_MAX + 1];
    char user[USAGE_ID_MAX + 1];
    char customer[USAGE_ORG_MAX + 1];
    int64_t last_active_ms;
    int64_t seat_count;
    int64_t rev;
};
enum lb_err usage_store_due_release(struct store *s, int64_t before_ms, size_t max,
                                    struct due_user **ret_users, size_t *ret_n, struct lb_why *why);
/* ... and whose personal fields, written at or before `now_ms`, are still there. */
enum lb_err usage_store_due_purge(struct store *s, int64_t before_ms, int64_t now_ms, size_t max,
                                  struct user_key **ret_keys, size_t *ret_n, struct lb_why *why);

/* The journal: the rows changes touched since the last take (read and emptied). */
enum lb_err usage_store_dirty_take(struct store *s, struct usage_key **ret_keys, size_t *ret_n,
                                   struct lb_why *why);
/* Forgets the rows changes touched (what announces them is not state_changed). */
enum lb_err usage_store_dirty_clear(struct store *s, struct lb_why *why);
/* A row's revision; *ret_present false (and 0) when there is no such row. */
enum lb_err usage_store_rev_get(struct store *s, enum usage_kind kind, const char *tenant,
                                const char *id, int64_t *ret_rev, bool *ret_present,
                                struct lb_why *why);
/* Moves a row to its next revision. */
enum lb_err usage_store_rev_next(struct store *s, enum usage_kind kind, const char *tenant,
                                 const char *id, struct lb_why *why);
typedef enum lb_err (*usage_seat_fn)(const struct seat_row *seat, void *arg);
/* The seats `user` holds, by subscription and group. */
enum lb_err usage_store_each_user_seat(struct store *s, const char *tenant, const char *user,
                                       usage_seat_fn fn, void *arg, struct lb_why *why);
/* Deletes every seat of `user` (a restore writes them again). */
enum lb_err usage_store_user_seats_clear(struct store *s, const char *tenant, const char *user,
                                         struct lb_why *why);
enum lb_err usage_store_subscription_get(struct store *s, const char *tenant, const char *id,
                                         struct sub_row *ret, struct lb_why *why);
/* Writes the whole row as a snapshot has it (restore). */
enum lb_err usage_store_subscription_restore(struct store *s, const char *tenant,
                                             const struct sub_row *sub, struct lb_why *why);
/* What the sweep's events tell, written back at their revision (restore). */
enum lb_err usage_store_restore_release(struct store *s, const char *tenant, const char *user,
                                        int64_t released_ms, int64_t rev, struct lb_why *why);
enum lb_err usage_store_restore_purge(struct store *s, const char *tenant, const char *user,
                                      int64_t purged_ms, int64_t rev, struct lb_why *why);
enum lb_err usage_store_restore_over(struct store *s, const char *tenant, const char *subscription,
                                     bool over, int64_t rev, struct lb_why *why);
/* Platform events whose effect a restore brought back; take removes it and says if it was. */
enum lb_err usage_store_cause_add(struct store *s, const char *cause, struct lb_why *why);
enum lb_err usage_store_cause_take(struct store *s, const char *cause, bool *ret_restored,
                                   struct lb_why *why);

/* ---- consumption.c ----------------------------------------------------------- */

/* The customer org `org` counts under (nearest customer ancestor, else itself). */
enum lb_err usage_customer_of(struct store *s, const char *tenant, const char *org,
                              char ret_customer[USAGE_ORG_MAX + 1], struct lb_why *why);
/* Counts `customer` now (c must be released by the caller). */
enum lb_err usage_consumption(struct store *s, const char *tenant, const char *customer,
                              struct consumption *ret, struct lb_why *why);
/* Recounts `customer` and emits overconsumption_started/_ended for each transition. */
enum lb_err usage_recheck(struct service *svc, const char *tenant, const char *customer,
                          struct lb_why *why);

/* ---- events.c ------------------------------------------------------------------ */

enum lb_err usage_on_user_created(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why);
enum lb_err usage_on_user_updated(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why);
enum lb_err usage_on_user_deleted(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why);
enum lb_err usage_on_device_installed(struct service *svc, const struct envelope *ev,
                                      struct lb_why *why);
enum lb_err usage_on_device_uninstalled(struct service *svc, const struct envelope *ev,
                                        struct lb_why *why);
enum lb_err usage_on_device_associated(struct service *svc, const struct envelope *ev,
                                       struct lb_why *why);
enum lb_err usage_on_device_detached(struct service *svc, const struct envelope *ev,
                                     struct lb_why *why);
enum lb_err usage_on_heartbeat(struct service *svc, const struct envelope *ev, struct lb_why *why);

/* signals.c: heartbeats coalesced per device and per user within a batch */
extern const size_t usage_state_size;
/* True when the device's signals are deferred in this batch (its time is kept). */
bool usage_signal_deferred(struct service *svc, const char *tenant, const char *device, int64_t t);
/* Defers the device's later signals of this batch; `written_ms` is its last-seen now. */
void usage_signal_defer(struct service *svc, const char *tenant, const char *device,
                        const char *user, int64_t written_ms);
/* True when the user's signals are deferred in this batch (its time is kept). */
bool usage_signal_user_deferred(struct service *svc, const char *tenant, const char *user,
                                int64_t t);
/* Defers the live, unreleased user's writes of this batch (`written_ms` is its last activity
 * now) and records `t`; false when the batch's table is full (write at once). */
bool usage_signal_user_defer(struct service *svc, const char *tenant, const char *user,
                             int64_t written_ms, int64_t t);
/* The runtime's flush: one last-seen write per deferred device and user. */
enum lb_err usage_flush_signals(struct service *svc, struct lb_why *why);
enum lb_err usage_on_scans_counted(struct service *svc, const struct envelope *ev,
                                   struct lb_why *why);
enum lb_err usage_on_subscription_changed(struct service *svc, const struct envelope *ev,
                                          struct lb_why *why);
enum lb_err usage_on_seat_assigned(struct service *svc, const struct envelope *ev,
                                   struct lb_why *why);
enum lb_err usage_on_seat_unassigned(struct service *svc, const struct envelope *ev,
                                     struct lb_why *why);

/*
 * Associates `device` with `user` under the allowance. LB_OK when done (or
 * already so). When a rule refuses it, returns LB_ECONFLICT with the reason
 * in `why` and the reason code ("user_deleted", "other_customer",
 * "allowance_exceeded", "device_uninstalled") in ret_reason; the device is
 * left as it was. LB_ENOTFOUND for an unknown device or user.
 */
enum lb_err usage_associate(struct service *svc, const char *tenant, const char *device,
                            const char *user, char ret_reason[USAGE_REASON_MAX + 1],
                            struct lb_why *why);

/* Emits license_retaken and clears the release of `u` (a signal came back). */
enum lb_err usage_retake(struct service *svc, const char *tenant, struct user_row *u,
                         const char *device, int64_t t, struct lb_why *why);

/* ---- journal.c: every change announced (state_changed) --------------------------------- */

/*
 * Announces the rows changes touched since the last commit (the triggers'
 * journal_dirty), at their next revision, in state_changed events of
 * `tenant` naming the cause; with `always`, an entry without rows too.
 */
enum lb_err usage_journal_commit(struct service *svc, const char *tenant, enum usage_cause kind,
                                 const char *cause_id, bool always, struct lb_why *why);

/* The platform handlers of events.c, refused while restoring, skipped when restored, journaled. */
enum lb_err usage_journaled_user_created(struct service *svc, const struct envelope *ev,
                                         struct lb_why *why);
enum lb_err usage_journaled_user_updated(struct service *svc, const struct envelope *ev,
                                         struct lb_why *why);
enum lb_err usage_journaled_user_deleted(struct service *svc, const struct envelope *ev,
                                         struct lb_why *why);
enum lb_err usage_journaled_device_installed(struct service *svc, const struct envelope *ev,
                                             struct lb_why *why);
enum lb_err usage_journaled_device_uninstalled(struct service *svc, const struct envelope *ev,
                                               struct lb_why *why);
enum lb_err usage_journaled_device_associated(struct service *svc, const struct envelope *ev,
                                              struct lb_why *why);
enum lb_err usage_journaled_device_detached(struct service *svc, const struct envelope *ev,
                                            struct lb_why *why);
enum lb_err usage_journaled_subscription_changed(struct service *svc, const struct envelope *ev,
                                                 struct lb_why *why);
enum lb_err usage_journaled_seat_assigned(struct service *svc, const struct envelope *ev,
                                          struct lb_why *why);
enum lb_err usage_journaled_seat_unassigned(struct service *svc, const struct envelope *ev,
                                            struct lb_why *why);

/* ---- restore.c: own events read back; a rebuilt database restores first ----------------- */

/* The restore's part of the service state (signals.c holds it). */
struct usage_restore {
    double *metric_own;      /* own events read back */
    double *metric_restored; /* rows they brought back */
    double *metric_skipped;  /* platform events not applied again */
};
struct usage_restore *usage_restore_of(struct service *svc);

/* *ret_restored: a restore brought this platform event's effect back (take: once). */
enum lb_err usage_restore_covered(struct service *svc, const struct envelope *ev,
                                  bool *ret_restored, struct lb_why *why);
/* Own events: state_changed rows, and the revisions of the sweep's events. */
enum lb_err usage_on_own_state(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err usage_on_own_released(struct service *svc, const struct envelope *ev,
                                  struct lb_why *why);
enum lb_err usage_on_own_purged(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err usage_on_own_over(struct service *svc, const struct envelope *ev, struct lb_why *why);
/* Its other events: counted (lb_usage_own_events_total), nothing else. */
enum lb_err usage_on_own_other(struct service *svc, const struct envelope *ev, struct lb_why *why);

/* ---- api.c ---------------------------------------------------------------------- */

enum lb_err usage_api_consumption(struct service *svc, const struct request *req, cJSON **ret_reply,
                                  struct lb_why *why);
enum lb_err usage_api_user_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                               struct lb_why *why);
enum lb_err usage_api_device_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                                 struct lb_why *why);
enum lb_err usage_api_device_list(struct service *svc, const struct request *req, cJSON **ret_reply,
                                  struct lb_why *why);
enum lb_err usage_api_scans(struct service *svc, const struct request *req, cJSON **ret_reply,
                            struct lb_why *why);
enum lb_err usage_api_device_associate(struct service *svc, const struct request *req,
                                       cJSON **ret_reply, struct lb_why *why);

/* ---- sweeps.c -------------------------------------------------------------------- */

enum lb_err usage_sweep(struct service *svc, int64_t now_ms, struct lb_why *why);

#endif
