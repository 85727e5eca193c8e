/*
 * reporting.h - the reporting service: a read model built only from events.
 *
 * Consumes licensing (license snapshots, products), subscriptions
 * (subscriptions, seats, customers), usage (released, retaken, purged),
 * directory (org tree, users), agents (devices) and signals (heartbeats,
 * coalesced per device and calendar month), and answers the portal's
 * questions: the Customer Organizations view, the overview chart data,
 * license history, consumption, billable-active users and devices, and the
 * downloads (.xlsx through libxlsxwriter, CSV) fetched in chunks.
 *
 * Source map: main.c (tables), rules.c (pure rules: statuses, dates,
 * months, cursors, CSV cells, base64; no I/O), store.c (all SQL), events.c
 * (consumed events), api.c (queries), export.c (files), sweeps.c (export
 * expiry). docs/services/reporting.md says why.
 *
 * Ownership: cJSON trees returned by functions here belong to the caller
 * (cJSON_Delete); strings in structs are fixed arrays.
 */
#ifndef REPORTING_H
#define REPORTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "orgtree.h"
#include "service.h"

/* Input limits; each is tested at the limit and one past it. */
#define REP_ORG_MAX          64   /* org id: a subject token */
#define REP_ENTITY_MAX       128  /* user, device, license, subscription, group ids */
#define REP_KEY_MAX          64   /* license key */
#define REP_PRODUCT_MAX      64   /* product id */
#define REP_NAME_MAX         200  /* product, package and org names */
#define REP_NOTE_MAX         1000 /* license note */
#define REP_TEXT_MAX         253  /* host names, versions, emails */
#define REP_LICENSE_ORGS_MAX 16   /* orgs one license may be assigned to */
#define REP_CURSOR_MAX       520  /* an opaque cursor: hex of an org path */
#define REP_PAGE_DEFAULT     50   /* orgs (customers) per page */
#define REP_PAGE_MAX         200
#define REP_ROWS_PER_PAGE    2000 /* license rows one customer_orgs page may carry */
#define REP_HISTORY_DEFAULT  100
#define REP_HISTORY_MAX      1000
#define REP_TOP_DEFAULT      20 /* rows of the overview's ranked lists */
#define REP_TOP_MAX          100
#define REP_DAYS_MAX         3660   /* expiring_within_days */
#define REP_ACTIVE_PAGE_MAX  50     /* customers per billable_active page */
#define REP_ACTIVE_ROWS_MAX  5000   /* users + devices one billable_active page may carry */
#define REP_CHUNK_BYTES      393216 /* raw bytes per export chunk (384 KiB): 512 KiB in base64 */
#define REP_PATH_SIZE        1100   /* bytes of an org path buffer; longer paths are refused */
#define REP_PART_VALUES      4      /* what a rep_part sums: a count and three values */
#define REP_REPAIR_BATCH     10000  /* subscriptions one sweep gives their scope path */
#define REP_DAY_MS           86400000LL
#define REP_NO_TIME          INT64_MIN

/* The service's own settings. */
struct rep_config {
    int64_t expiring_window_ms; /* a license is Expiring this long before its expiration */
    int64_t trial_soon_ms;      /* "trials ending soon" look-ahead */
    int64_t export_ttl_ms;      /* an export file lives this long */
    int64_t export_rows_max;    /* largest export, in data rows */
};

/* ---- rules.c: pure rules, no I/O ---- */

/* "active", "expiring" or "expired" at `now_ms` (expires_ms is the first invalid instant). */
const char *rep_status_at(int64_t expires_ms, int64_t now_ms, int64_t window_ms);
bool rep_status_valid(const char *status);
/* "YYYY-MM-DD" <-> 00:00Z of that day; parse refuses impossible dates. */
bool rep_date_parse(const char *text, int64_t *ret_ms);
void rep_date_format(int64_t ms, char ret_text[16]);
/* "YYYY-MM" -> [start, end) of that calendar month, UTC. */
bool rep_month_parse(const char *text, int64_t *ret_start_ms, int64_t *ret_end_ms);
/* The "YYYY-MM" of `ms`. */
void rep_month_of(int64_t ms, char ret_month[8]);
/* Opaque cursors: the hex of a string (an org path). decode refuses anything else. */
bool rep_cursor_encode(const char *text, char *ret, size_t size);
bool rep_cursor_decode(const char *cursor, char *ret, size_t size);
/* Writes one CSV cell (RFC 4180 quoting; a leading = + - @ is neutralised with '). */
void rep_csv_cell(FILE *f, const char *text, bool last);
/* Standard base64 of `len` bytes into `out` (needs 4*ceil(len/3)+1 bytes); returns its length. */
size_t rep_base64(const unsigned char *in, size_t len, char *out);
/* Whether `id` is a valid export id (26 Crockford base32 characters). */
bool rep_export_id_valid(const char *id);

/*
 * What one entity (a license, a subscription) adds to the per-scope counts
 * of the overview: v[0] (1) and its values, once under every scope above or
 * at one of its org paths ("/root/.../org/"), however many of its paths lie
 * under that scope. npaths 0: it adds nothing.
 */
struct rep_part {
    const char *paths[REP_LICENSE_ORGS_MAX];
    size_t npaths;
    int64_t v[REP_PART_VALUES];
};
/* One scope's change: `scope`'s first `len` bytes; under the new key, else the old one. */
typedef enum lb_err (*rep_delta_fn)(void *arg, const char *scope, size_t len, bool new_key,
                                    const int64_t delta[REP_PART_VALUES], struct lb_why *why);
/*
 * Turns `from` into `to`: calls fn once per scope whose counts change. With
 * `same_key` (both count under the same key, e.g. product and expiration), a
 * scope of both gets one call with to - from (none when that is zero);
 * otherwise a scope loses -from under the old key and gains +to under the new.
 */
enum lb_err rep_part_diff(const struct rep_part *from, const struct rep_part *to, bool same_key,
                          rep_delta_fn fn, void *arg, struct lb_why *why);

/* ---- store.c: the only file that knows the tables ---- */

extern const struct store_migration rep_migrations[];
extern const size_t rep_migration_count;

/* A license snapshot as the licensing events carry it. */
struct rep_license {
    char id[REP_ENTITY_MAX + 1];
    char key[REP_KEY_MAX + 1];
    char product[REP_PRODUCT_MAX + 1];
    char delivery[16]; /* on_premises | cloud */
    char type[16];     /* evaluation | purchased */
    int64_t start_ms, expires_ms;
    int64_t limit, deployed, scans_used, version;
    char note[REP_NOTE_MAX + 1];
    char orgs[REP_LICENSE_ORGS_MAX][REP_ORG_MAX + 1];
    size_t org_count;
};

enum lb_err rep_store_product_put(struct store *s, const char *id, const char *name,
                                  const char *delivery, bool shown, struct lb_why *why);
/* Stores the snapshot if newer than the stored one; *ret_applied says whether it was. */
enum lb_err rep_store_license_put(struct store *s, const char *tenant, const struct rep_license *l,
                                  bool *ret_applied, struct lb_why *why);
/*
 * Replaces the license's rows under the orgs it is shown under (the sub-org
 * rule), its assigned orgs, and its share of the overview's counts.
 */
enum lb_err rep_store_license_place(struct store *s, const char *tenant,
                                    const struct rep_license *l, struct lb_why *why);
enum lb_err rep_store_history_add(struct store *s, const char *tenant, const char *license,
                                  int64_t time_ms, const char *event_id, const char *change,
                                  const char *actor_org, const char *actor_user, int64_t version,
                                  const char *before, const char *after, struct lb_why *why);
/* A deployment seen at license version `version`; older news changes nothing. */
enum lb_err rep_store_deployment_put(struct store *s, const char *tenant, const char *license,
                                     const char *instance, const char *host,
                                     const char *product_version, int64_t activated_ms,
                                     int64_t last_seen_ms, bool active, int64_t version,
                                     struct lb_why *why);
/* The org path of `org`, LB_ENOTFOUND when the tree does not know it (yet). */
enum lb_err rep_store_org_path(struct store *s, const char *tenant, const char *org, char *ret_path,
                               size_t size, struct lb_why *why);
/* The nearest customer at or above `org` ("" when none), LB_ENOTFOUND for an unknown org. */
enum lb_err rep_store_customer_of(struct store *s, const char *tenant, const char *org,
                                  char ret_customer[REP_ORG_MAX + 1], struct lb_why *why);
/*
 * After `org` moved (the tree has moved already): places again every license
 * assigned in its subtree (the shown-under choice may change both ways) and
 * moves the counts of the subscriptions of its customers.
 */
enum lb_err rep_store_org_moved(struct store *s, const char *tenant, const char *org,
                                struct lb_why *why);
/*
 * Gives up to `max` subscriptions without a scope path (a database from
 * before migration 2) their customer's path and counts them; *ret_placed says
 * how many.
 */
enum lb_err rep_store_subscriptions_repair(struct store *s, size_t max, size_t *ret_placed,
                                           struct lb_why *why);

struct rep_subscription {
    const char *id, *customer, *package, *basis, *status;
    int64_t quantity, version, trial_end_ms, billing_start_ms, billing_end_ms;
};
enum lb_err rep_store_subscription_put(struct store *s, const char *tenant,
                                       const struct rep_subscription *sub, struct lb_why *why);
enum lb_err rep_store_seat(struct store *s, const char *tenant, const char *subscription,
                           const char *user, const char *group, bool assigned, struct lb_why *why);
enum lb_err rep_store_customer_put(struct store *s, const char *tenant, const char *customer,
                                   const char *status, bool login_enabled, const char *billing,
                                   int64_t version, struct lb_why *why);
enum lb_err rep_store_user_put(struct store *s, const char *tenant, const char *user,
                               const char *org, const char *customer, const char *name,
                               const char *email, struct lb_why *why);
enum lb_err rep_store_user_update(struct store *s, const char *tenant, const char *user,
                                  const char *name, const char *email, struct lb_why *why);
enum lb_err rep_store_user_deleted(struct store *s, const char *tenant, const char *user,
                                   struct lb_why *why);
/* Usage news about a user: what is "released", "retaken" or "purged". */
enum lb_err rep_store_user_usage(struct store *s, const char *tenant, const char *user,
                                 const char *customer, const char *what, int64_t time_ms,
                                 struct lb_why *why);
enum lb_err rep_store_device_put(struct store *s, const char *tenant, const char *device,
                                 const char *org, const char *customer, const char *kind,
                                 const char *hostname, struct lb_why *why);
enum lb_err rep_store_device_installed(struct store *s, const char *tenant, const char *device,
                                       bool installed, struct lb_why *why);
/* user NULL detaches: only from `detached_from`, or from anyone when that is NULL too. */
enum lb_err rep_store_device_user(struct store *s, const char *tenant, const char *device,
                                  const char *user, const char *detached_from, struct lb_why *why);
/* One heartbeat: the device's row of that calendar month keeps the latest signal. */
enum lb_err rep_store_signal(struct store *s, const char *tenant, const char *device,
                             int64_t time_ms, struct lb_why *why);
/* Lag bookkeeping: the newest applied event of `domain`, and `events` more applied. */
enum lb_err rep_store_progress(struct store *s, const char *domain, int64_t event_ms,
                               int64_t wall_ms, int64_t events, struct lb_why *why);
enum lb_err rep_store_progress_json(struct store *s, int64_t wall_ms, cJSON *into,
                                    struct lb_why *why);

/* A query's scope: the caller's (or the filtered) org and its path. */
struct rep_scope {
    const char *tenant;
    char org[REP_ORG_MAX + 1];
    char path[1100];
    int64_t now_ms;
    int64_t window_ms;
};

/* customer_orgs filters and paging. */
struct rep_filter {
    const char *status;         /* NULL = any */
    const char *product;        /* NULL = any */
    const char *type;           /* NULL = any */
    int64_t expiring_within_ms; /* <0 = no filter */
    bool include_expired;
    const char *sort; /* expiration | product | status | start | key */
    bool descending;
    int64_t limit;
    char after_path[1100]; /* "" = first page */
};
enum lb_err rep_store_customer_orgs(struct store *s, const struct rep_scope *sc,
                                    const struct rep_filter *f, cJSON *orgs, char *ret_next,
                                    size_t next_size, struct lb_why *why);
enum lb_err rep_store_overview(struct store *s, const struct rep_scope *sc, int64_t top,
                               int64_t trial_soon_ms, cJSON *reply, struct lb_why *why);
/* The license shown under some org of the scope: LB_EFORBIDDEN otherwise. */
enum lb_err rep_store_license_find(struct store *s, const struct rep_scope *sc, const char *key,
                                   char ret_license[REP_ENTITY_MAX + 1], struct lb_why *why);
enum lb_err rep_store_history(struct store *s, const char *tenant, const char *license,
                              int64_t after_seq, int64_t limit, cJSON *entries, bool *ret_more,
                              struct lb_why *why);
enum lb_err rep_store_consumption(struct store *s, const struct rep_scope *sc, int64_t limit,
                                  const char *after_path, cJSON *customers, char *ret_next,
                                  size_t next_size, struct lb_why *why);
enum lb_err rep_store_billable(struct store *s, const struct rep_scope *sc, int64_t month_start,
                               int64_t month_end, const char *month, int64_t limit,
                               const char *after_path, cJSON *customers, char *ret_next,
                               size_t next_size, struct lb_why *why);

/* Rows of the downloads, streamed to a writer. */
struct rep_row_writer {
    /* Called once per row; `cells` are texts or NULL, `nums` the numeric cells (see export.c). */
    enum lb_err (*row)(void *arg, const char *const *cells, size_t n, struct lb_why *why);
    void *arg;
};
enum lb_err rep_store_each_key_row(struct store *s, const struct rep_scope *sc, const char *key,
                                   const struct rep_row_writer *w, struct lb_why *why);
enum lb_err rep_store_each_deployment_row(struct store *s, const struct rep_scope *sc,
                                          const char *key, const struct rep_row_writer *w,
                                          struct lb_why *why);
enum lb_err rep_store_each_consumption_row(struct store *s, const struct rep_scope *sc,
                                           const struct rep_row_writer *w, struct lb_why *why);

struct rep_export {
    char id[27];
    char tenant[REP_ORG_MAX + 1];
    char org[REP_ORG_MAX + 1];
    char report[32];
    char format[8];
    int64_t bytes, chunks, rows, created_ms, expires_ms;
};
enum lb_err rep_store_export_put(struct store *s, const struct rep_export *e, struct lb_why *why);
enum lb_err rep_store_export_get(struct store *s, const char *tenant, const char *id,
                                 struct rep_export *ret, struct lb_why *why);
/* Deletes exports expired at `now_ms`; calls `fn` for each (to remove its file). */
enum lb_err rep_store_exports_expire(struct store *s, int64_t now_ms,
                                     void (*fn)(const char *id, const char *format, void *arg),
                                     void *arg, struct lb_why *why);

/* ---- export.c ---- */
/* The directory export files live in (next to the database), created on demand. */
enum lb_err rep_export_dir(struct store *s, char *ret_dir, size_t size, struct lb_why *why);
void rep_export_path(const char *dir, const char *id, const char *format, char *ret, size_t size);
/* Builds the file for `e` (id, report, format set) and fills bytes, chunks and rows. */
enum lb_err rep_export_build(struct store *s, const struct rep_scope *sc, const char *key,
                             const char *sheet, int64_t rows_max, struct rep_export *e,
                             struct lb_why *why);

/* ---- events.c: one handler per consumed type ---- */
enum lb_err rep_on_license(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err rep_on_product(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err rep_on_subscription(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err rep_on_seat(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err rep_on_customer(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err rep_on_usage_user(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err rep_on_user(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err rep_on_org_moved(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err rep_on_device(struct service *svc, const struct envelope *ev, struct lb_why *why);
/* Records the lag bookkeeping of every applied event (wrapped by the handlers). */
enum lb_err rep_progress(struct service *svc, const struct envelope *ev, struct lb_why *why);
/* ... of `events` events of `domain`, the newest at `newest_ms` (and lb_reporting_lag_seconds). */
enum lb_err rep_progress_of(struct service *svc, const char *domain, int64_t newest_ms,
                            int64_t events, struct lb_why *why);

/* ---- signals.c: heartbeats, coalesced per batch ---- */
enum lb_err rep_on_heartbeat(struct service *svc, const struct envelope *ev, struct lb_why *why);
/* Writes the batch's coalesced heartbeats (the runtime's flush). */
enum lb_err rep_flush_signals(struct service *svc, struct lb_why *why);
extern const size_t rep_state_size;

/* ---- sweeps.c ---- */
enum lb_err rep_sweep(struct service *svc, int64_t now_ms, struct lb_why *why);

/* ---- api.c: one handler per endpoint ---- */
#define REP_ENDPOINT(fn)                                                                           \
    enum lb_err fn(struct service *svc, const struct request *req, cJSON **ret_reply,              \
                   struct lb_why *why)
REP_ENDPOINT(rep_customer_orgs);
REP_ENDPOINT(rep_overview);
REP_ENDPOINT(rep_license_history);
REP_ENDPOINT(rep_consumption);
REP_ENDPOINT(rep_billable_active);
REP_ENDPOINT(rep_export);
REP_ENDPOINT(rep_export_chunk);
REP_ENDPOINT(rep_status);

#endif
