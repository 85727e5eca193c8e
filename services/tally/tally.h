/*
 * tally.h - the sample service: named counters per tenant.
 *
 * The smallest complete licensebus service, and the template for new ones:
 * request/reply endpoints (api.c), a consumed event (events.c), emitted
 * events through the outbox, a clock-driven sweep (sweeps.c), pure rules
 * (counter.c) and all SQL in one file (store.c). It proves the runtime in
 * the integration and contract tests.
 */
#ifndef TALLY_H
#define TALLY_H

#include <stdbool.h>
#include <stdint.h>

#include "service.h"

/* Longest counter name; names are [a-z0-9_-]. */
#define TALLY_NAME_MAX 64
/* Largest |amount| of one increment. */
#define TALLY_AMOUNT_MAX 1000000
/* Largest |value| of a counter: 2^53, exact in every JSON reader. */
#define TALLY_VALUE_MAX 9007199254740992LL

/* The service's own settings. */
struct tally_config {
    int64_t idle_after_ms; /* a counter unchanged this long is reported idle once */
};

/* A counter's state. */
struct counter {
    int64_t value;
    int64_t version;    /* 1 on creation, +1 per change */
    int64_t updated_ms; /* when it last changed */
};

/* counter.c: pure rules, no I/O. */
bool counter_name_valid(const char *name);
enum lb_err counter_apply(struct counter *c, int64_t amount, int64_t now_ms, struct lb_why *why);

/* store.c: the only file that knows the tables. */
extern const struct store_migration tally_migrations[];
extern const size_t tally_migration_count;
enum lb_err tally_store_get(struct store *s, const char *tenant, const char *name,
                            struct counter *ret_counter, struct lb_why *why);
enum lb_err tally_store_put(struct store *s, const char *tenant, const char *name,
                            const struct counter *c, struct lb_why *why);
/* Calls `fn` for each counter unchanged since `before_ms` and not yet reported idle. */
typedef enum lb_err (*tally_idle_fn)(struct service *svc, const char *tenant, const char *name,
                                     const struct counter *c, struct lb_why *why);
enum lb_err tally_store_each_idle(struct store *s, int64_t before_ms, struct service *svc,
                                  tally_idle_fn fn, struct lb_why *why);
enum lb_err tally_store_mark_idle(struct store *s, const char *tenant, const char *name,
                                  int64_t version, struct lb_why *why);

/* api.c, events.c, sweeps.c */
enum lb_err tally_add(struct service *svc, const struct request *req, cJSON **ret_reply,
                      struct lb_why *why);
enum lb_err tally_get(struct service *svc, const struct request *req, cJSON **ret_reply,
                      struct lb_why *why);
enum lb_err tally_on_increment(struct service *svc, const struct envelope *ev, struct lb_why *why);
enum lb_err tally_change(struct service *svc, const char *tenant, const char *name, int64_t amount,
                         const char *cause_kind, const char *cause_id, struct counter *ret_counter,
                         struct lb_why *why);
enum lb_err tally_sweep(struct service *svc, int64_t now_ms, struct lb_why *why);

#endif
