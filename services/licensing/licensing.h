/*
 * licensing.h - the licensing service: key-based product licenses.
 *
 * Owns the product catalog (products and their installers) and the licenses
 * of every tenant: keys, types, dates, purchased limits, notes, assigned
 * orgs, deployments (activations) and scan counts, plus each license's
 * history. Every change is one event in domain "licensing" carrying the
 * changed entity's full state and its revision, so readers can build their
 * models from events, and licensing itself rebuilds from them (D22).
 *
 * Files: main.c (the tables), api.c (request handlers), events.c (consumed
 * platform events and the builders of emitted ones), restore.c (its own
 * events consumed back: the rebuild), sweeps.c (expiring/expired),
 * license.c (pure rules, no I/O), store.c (all SQL).
 *
 * Ownership: struct license and struct product are plain values; cJSON
 * trees returned by builders are the caller's (cJSON_Delete).
 */
#ifndef LICENSING_H
#define LICENSING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "orgtree.h"
#include "service.h"

/* Limits of what requests and events may carry; each is tested at the limit and past it. */
#define LIC_PRODUCT_ID_MAX 64              /* product id: [a-z0-9][a-z0-9_-]* */
#define LIC_NAME_MAX       200             /* product name */
#define LIC_NOTE_MAX       1000            /* license note, bytes */
#define LIC_ORGS_MAX       16              /* orgs one license may be assigned to */
#define LIC_INSTALLERS_MAX 32              /* installers of one product */
#define LIC_KEY_MAX        64              /* license key, as in common.json#/$defs/license_key */
#define LIC_ENTITY_MAX     128             /* instance ids, as in common.json#/$defs/entity_id */
#define LIC_HOST_MAX       253             /* deployment host name */
#define LIC_VERSION_MAX    64              /* product or installer version */
#define LIC_PLATFORM_MAX   64              /* installer platform */
#define LIC_LINK_MAX       2048            /* installer download link */
#define LIC_CHECKSUM_MAX   128             /* installer checksum */
#define LIC_INSTANCES_MAX  100000          /* purchased instance limit of an on-premises license */
#define LIC_SCANS_MAX      1000000000000LL /* scan limit of a cloud license */
#define LIC_PAGE_DEFAULT   100
#define LIC_PAGE_MAX       1000
#define LIC_DAY_MS         86400000LL

/* Generated keys: 4 groups of 4 from an alphabet without 0/O, 1/I/L or U. */
#define LIC_KEY_ALPHABET "23456789ABCDEFGHJKMNPQRSTVWXYZ"

/* The service's own settings. */
struct lic_config {
    int64_t expiring_window_ms; /* a license is Expiring this long before its expiration */
};

/* The service's memory (service_state), owned by the loop thread. */
struct lic_state {
    double *metric_own;      /* lb_licensing_own_events_total */
    double *metric_restored; /* lb_licensing_restored_total */
    double *metric_skipped;  /* lb_licensing_restored_skips_total */
};

enum lic_delivery { LIC_ON_PREMISES, LIC_CLOUD };
enum lic_type { LIC_EVALUATION, LIC_PURCHASED };
enum lic_status { LIC_ACTIVE, LIC_EXPIRING, LIC_EXPIRED };

/* A catalog product (its installers are rows of their own). */
struct product {
    char id[LIC_PRODUCT_ID_MAX + 1];
    char name[LIC_NAME_MAX + 1];
    enum lic_delivery delivery; /* cloud products count scans; on-premises count instances */
    bool shown;                 /* listed on the customer page (license_list) */
    int64_t version;            /* 1 when added, +1 per update */
};

/* One installer of a product. */
struct installer {
    char version[LIC_VERSION_MAX + 1];
    char platform[LIC_PLATFORM_MAX + 1];
    char link[LIC_LINK_MAX + 1];
    char checksum[LIC_CHECKSUM_MAX + 1];
};

/* What the row held when it was read, so lic_store_put writes only what changed. */
struct lic_stored {
    bool present;       /* the row exists (else lic_store_put inserts) */
    int64_t next_ms;    /* its next_ms (INT64_MAX: none) */
    int64_t expires_ms; /* as copied into license_orgs */
    bool live;          /* as copied into license_orgs: license_expired not yet recorded */
};

/* A license, as stored. */
struct license {
    char id[27];               /* derived from its cause (ids.h id_derive) */
    char tenant[65];           /* root org of the tree it belongs to */
    char key[LIC_KEY_MAX + 1]; /* unique across the service */
    char product[LIC_PRODUCT_ID_MAX + 1];
    enum lic_delivery delivery; /* the product's, copied at issue */
    enum lic_type type;
    int64_t start_ms;   /* first valid instant (00:00Z of the start date) */
    int64_t expires_ms; /* first invalid instant (00:00Z the day after expiration) */
    int64_t limit;      /* purchased instances, or the scan limit */
    int64_t deployed;   /* active deployments (on-premises) */
    int64_t scans_used; /* scans counted (cloud) */
    char note[LIC_NOTE_MAX + 1];
    char orgs[LIC_ORGS_MAX][65]; /* assigned orgs, sorted */
    size_t org_count;
    bool orgs_changed; /* since it was read: lic_store_put rewrites license_orgs */
    int64_t version;   /* 1 when issued, +1 per change */
    int64_t rev; /* +1 per stored change, scan counts and check-ins included (restore order) */
    int64_t issued_ms, updated_ms;
    int64_t expiring_for; /* expires_ms whose license_expiring was emitted, else 0 */
    int64_t expired_for;  /* expires_ms whose license_expired was emitted, else 0 */
    struct lic_stored stored;
};

/* A deployment bound to a license by an activation. */
struct deployment {
    char instance[LIC_ENTITY_MAX + 1];
    char host[LIC_HOST_MAX + 1];
    char product_version[LIC_VERSION_MAX + 1];
    char who[129];
    int64_t activated_ms, last_seen_ms;
};

/* Who made a change, for events and history. */
struct actor {
    const char *org;  /* the caller's org, or NULL for the platform */
    const char *user; /* the caller's user, or the platform source ("commerce", "sweep", ...) */
};

/* What made a change: data.state.cause of its event. */
struct lic_cause {
    const char *kind; /* "request", "event" (a consumed event) or "sweep" */
    const char *id;   /* the request id, the event id, or "sweep@<ms>" */
};

/* One recorded change of a license (lic_record). */
struct lic_change {
    const char *name; /* event name, e.g. "license_activated" */
    const struct actor *actor;
    const struct lic_cause *cause;
    int64_t time_ms;         /* when; the license's status in the event is computed at it */
    const cJSON *before;     /* the values the change touched (borrowed, may be NULL) */
    const cJSON *after;      /* borrowed, may be NULL */
    const cJSON *deployment; /* borrowed, may be NULL: added as member `deployment` */
    bool history;            /* appended to the license's history (not scan counts, check-ins) */
};

/* ---- license.c: pure rules, no I/O ---- */
const char *lic_delivery_name(enum lic_delivery d);
bool lic_delivery_parse(const char *text, enum lic_delivery *ret);
const char *lic_type_name(enum lic_type t);
bool lic_type_parse(const char *text, enum lic_type *ret);
const char *lic_status_name(enum lic_status s);
/* The status at `now_ms`: Expired from expiration on, Expiring within `window_ms` of it. */
enum lic_status lic_status_at(const struct license *l, int64_t now_ms, int64_t window_ms);
bool lic_started(const struct license *l, int64_t now_ms);
/* When the sweep must next look at `l` (expiring, then expired), or INT64_MAX for never. */
int64_t lic_next_transition(const struct license *l, int64_t window_ms);
bool lic_product_id_valid(const char *id);
bool lic_key_valid(const char *key);
bool lic_entity_valid(const char *id);
/* Key number `attempt` for a cause: deterministic, 4 groups of 4 of LIC_KEY_ALPHABET. */
void lic_key_generate(const char *cause, unsigned attempt, char ret_key[20]);
/* "YYYY-MM-DD" <-> ms of 00:00Z that day; parse refuses impossible dates. */
bool lic_date_parse(const char *text, int64_t *ret_ms);
void lic_date_format(int64_t ms, char ret_text[16]);
/* May instance `instance` of `product` be activated on `l` at `now_ms`? `known` = it already is. */
enum lb_err lic_check_activation(const struct license *l, const char *product, bool known,
                                 int64_t now_ms, struct lb_why *why);
/*
 * The "shown under" rule: of a license's assigned orgs (their materialized
 * paths "/root/.../org/"), one is shown only when no other assigned org lies
 * below it. Sets ret_shown[i] for each of the n paths.
 */
void lic_shown_under(const char *const *paths, size_t n, bool *ret_shown);

/* ---- store.c: the only file that knows the tables ---- */
extern const struct store_migration lic_migrations[];
extern const size_t lic_migration_count;
enum lb_err lic_store_product_get(struct store *s, const char *id, struct product *ret,
                                  struct lb_why *why);
enum lb_err lic_store_product_put(struct store *s, const struct product *p, struct lb_why *why);
enum lb_err lic_store_installers_set(struct store *s, const char *product,
                                     const struct installer *list, size_t n, struct lb_why *why);
/* The installers of `product`, newest first, as a JSON array (caller frees). */
enum lb_err lic_store_installers_json(struct store *s, const char *product, cJSON **ret,
                                      struct lb_why *why);
enum lb_err lic_store_get_by_key(struct store *s, const char *key, struct license *ret,
                                 struct lb_why *why);
enum lb_err lic_store_get_by_id(struct store *s, const char *id, struct license *ret,
                                struct lb_why *why);
/*
 * Inserts (l->stored.present false) or updates the license row, and its
 * license_orgs rows when the orgs, the expiration or liveness changed;
 * next = lic_next_transition. On success l->stored describes the new row.
 */
enum lb_err lic_store_put(struct store *s, struct license *l, int64_t next_ms, struct lb_why *why);
/* The stored rev of license `id`; *ret_present false (and *ret_rev 0) when there is none. */
enum lb_err lic_store_rev(struct store *s, const char *id, int64_t *ret_rev, bool *ret_present,
                          struct lb_why *why);
enum lb_err lic_store_org_path(struct store *s, const char *tenant, const char *org, char *ret_path,
                               size_t size, struct lb_why *why);
enum lb_err lic_store_deployment_get(struct store *s, const char *license, const char *instance,
                                     struct deployment *ret, struct lb_why *why);
enum lb_err lic_store_deployment_put(struct store *s, const char *license,
                                     const struct deployment *d, struct lb_why *why);
/* Inserts a new deployment; *ret_added false (nothing written) when the instance is there. */
enum lb_err lic_store_deployment_add(struct store *s, const char *license,
                                     const struct deployment *d, bool *ret_added,
                                     struct lb_why *why);
enum lb_err lic_store_deployment_delete(struct store *s, const char *license, const char *instance,
                                        struct lb_why *why);
enum lb_err lic_store_deployments_json(struct store *s, const char *license, cJSON **ret,
                                       struct lb_why *why);
/* Appends `entry` (its JSON text, len bytes) to the license's history as the next seq. */
enum lb_err lic_store_history_add(struct store *s, const char *license, const char *event_id,
                                  const char *change, int64_t time_ms, const char *entry,
                                  size_t len, struct lb_why *why);
/* History entries with seq > after_seq, oldest first, at most `limit`; sets *ret_more. */
enum lb_err lic_store_history_json(struct store *s, const char *license, int64_t after_seq,
                                   int limit, cJSON **ret, bool *ret_more, struct lb_why *why);
/* Called by lic_store_list for each license listed; a failure stops the listing. */
typedef enum lb_err (*lic_list_fn)(void *ctx, const struct license *l, struct lb_why *why);
/*
 * The licenses shown under `org` (see lic_shown_under), in key order, after
 * key `after_key`, at most `limit`: `fn` gets each one. Expired ones only
 * with `include_expired`. *ret_count is how many were listed.
 */
enum lb_err lic_store_list(struct store *s, const char *tenant, const char *org,
                           const char *after_key, bool include_expired, int64_t now_ms, int limit,
                           lic_list_fn fn, void *ctx, int *ret_count, struct lb_why *why);
/* Ids of licenses whose next transition is due at `now_ms`, at most `max`. */
enum lb_err lic_store_due_ids(struct store *s, int64_t now_ms, int max, char (*ret_ids)[27],
                              int *ret_count, struct lb_why *why);
/* Remembers that the effect of consumed event `cause` came back with a restore. */
enum lb_err lic_store_cause_add(struct store *s, const char *cause, struct lb_why *why);
/* Was the effect of `cause` restored? Forgets it (*ret_restored true) if so: it is used once. */
enum lb_err lic_store_cause_take(struct store *s, const char *cause, bool *ret_restored,
                                 struct lb_why *why);

/* ---- events.c: emitting changes, consumed events ---- */
/* The license as JSON (its full state at `now_ms`); NULL when out of memory. */
cJSON *lic_license_json(const struct license *l, int64_t now_ms, int64_t window_ms);
cJSON *lic_product_json(const struct product *p);
/*
 * Records change `c` of `l` (already stored): emits licensing.<name>.v1
 * with the license's full state and data.state, and appends the change to
 * the license's history when c->history. *ret_snapshot (optional) receives
 * the license's JSON as emitted (the caller's), for a reply.
 */
enum lb_err lic_record(struct service *svc, const struct license *l, const struct lic_change *c,
                       cJSON **ret_snapshot, struct lb_why *why);
/*
 * The history entry of a change, as stored and replied (without its seq).
 * It refers to actor/before/after/deployment (borrowed, not copied): print
 * and delete it before they go.
 */
cJSON *lic_history_entry(const char *event_id, const char *name, const char *time,
                         const cJSON *actor, const cJSON *before, const cJSON *after,
                         const cJSON *deployment);
/* What license_issue and a commerce order carry. */
struct issue_spec {
    const char *tenant;
    const char *product;
    const char *key; /* NULL: generate */
    enum lic_type type;
    int64_t start_ms, expires_ms, limit;
    const char *note;
    const char *orgs[LIC_ORGS_MAX];
    size_t org_count;
};
/*
 * Issues a license for `cause` (request or event id) at `time_ms`. LB_ECONFLICT for a
 * taken key or unknown product; orgs must already be checked.
 */
enum lb_err lic_issue(struct service *svc, const struct issue_spec *spec,
                      const struct lic_cause *cause, const struct actor *actor, int64_t time_ms,
                      struct license *ret, cJSON **ret_snapshot, struct lb_why *why);
/* Decodes the issue members shared by license_issue and license_ordered. */
enum lb_err lic_decode_issue(const cJSON *obj, struct issue_spec *ret, struct lb_why *why);
enum lb_err lic_on_ordered(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err lic_on_scans(struct service *svc, const struct envelope *ev, struct lb_why *why);

/* ---- restore.c: its own events consumed back (D22) ---- */
/* Applies an own license event if it is newer than the row (a rebuild); else nothing. */
enum lb_err lic_on_own_license(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err lic_on_own_product(struct service *svc, const struct envelope *ev, struct lb_why *why);
/*
 * For a consumed platform event: *ret_restored true when its effect came
 * back with the restore (its own event was applied), so it must not apply
 * again.
 */
enum lb_err lic_restore_covered(struct service *svc, const struct envelope *ev, bool *ret_restored,
                                struct lb_why *why);

/* ---- sweeps.c ---- */
enum lb_err lic_sweep(struct service *svc, int64_t now_ms, struct lb_why *why);

/* ---- api.c: one handler per endpoint ---- */
#define LIC_ENDPOINT(fn)                                                                           \
    enum lb_err fn(struct service *svc, const struct request *req, cJSON **ret_reply,              \
                   struct lb_why *why)
LIC_ENDPOINT(lic_product_add);
LIC_ENDPOINT(lic_product_update);
LIC_ENDPOINT(lic_product_installers);
LIC_ENDPOINT(lic_license_issue);
LIC_ENDPOINT(lic_license_renew);
LIC_ENDPOINT(lic_license_set_limit);
LIC_ENDPOINT(lic_license_set_note);
LIC_ENDPOINT(lic_license_convert);
LIC_ENDPOINT(lic_license_assign);
LIC_ENDPOINT(lic_license_unassign);
LIC_ENDPOINT(lic_license_activate);
LIC_ENDPOINT(lic_license_deactivate);
LIC_ENDPOINT(lic_license_checkin);
LIC_ENDPOINT(lic_license_get);
LIC_ENDPOINT(lic_license_list);
LIC_ENDPOINT(lic_license_history);
LIC_ENDPOINT(lic_license_shown_under);

#endif
