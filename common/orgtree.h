/*
 * orgtree.h - the org tree a service learns from directory events, and the
 * authorization rule built on it: a caller acts only inside its own subtree.
 *
 * Orgs form trees: distributor -> reseller/MSP -> customer -> sub-org. The
 * root of a tree is the *tenant*: every event and request about an org of
 * that tree carries the root's id as `tenant` (docs/decisions.md D17), so one
 * tree lives in one partition. Services that authorize callers set
 * `org_tree = true` in their service_def (the runtime then creates the
 * lb_org table and applies the directory's org events) and consume the
 * "directory" domain.
 */
#ifndef LB_ORGTREE_H
#define LB_ORGTREE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "service.h"

#define ORG_NAME_MAX 200

/* The kinds of org, root first. */
enum org_kind {
    ORG_DISTRIBUTOR,
    ORG_RESELLER,
    ORG_MSP,
    ORG_CUSTOMER,
    ORG_SUBORG,
};

struct org {
    char id[65];
    char parent[65]; /* "" for the root */
    char name[ORG_NAME_MAX + 1];
    enum org_kind kind;
    bool deleted; /* kept for history; a deleted org authorizes nothing */
};

/* Who sends a request: the `caller` member every product request carries. */
struct caller {
    const char *tenant; /* the tree's root org id (the request's `tenant`) */
    const char *org;    /* the caller's own org: it may act on its subtree only */
    const char *user;   /* who, for history and audit ("actor") */
};

/* The lb_org table (component "orgtree"); the runtime applies it. */
extern const struct store_migration orgtree_migrations[];
extern const size_t orgtree_migration_count;

/*
 * The handler of licensebus.directory.org_{created,moved,renamed,deleted}.v1,
 * or NULL for any other type. The runtime applies it (for services with
 * org_tree set) before the service's own handler of the same type, if any.
 */
service_event_fn orgtree_handler(const char *type);

/* Applies one org event to the tree in `s`; LB_EUNSUPPORTED for other types. */
enum lb_err orgtree_apply(struct store *s, const struct envelope *ev, struct lb_why *why);

/* "distributor" ... "suborg"; NULL for an out-of-range kind. */
const char *org_kind_name(enum org_kind kind);
bool org_kind_parse(const char *name, enum org_kind *ret_kind);

/* Reads org `id` of `tenant` (deleted ones too); LB_ENOTFOUND when unknown. */
enum lb_err orgtree_get(struct store *s, const char *tenant, const char *id, struct org *ret_org,
                        struct lb_why *why);

/* Whether `org` is `ancestor` or below it (both live, in `tenant`'s tree). */
enum lb_err orgtree_within(struct store *s, const char *tenant, const char *ancestor,
                           const char *org, bool *ret_within, struct lb_why *why);

/*
 * Decodes the request's `tenant` and `caller` {org, user} members and checks
 * that the caller's org is a live org of that tenant's tree. A malformed
 * member is LB_EINVAL; an unknown or deleted caller org is LB_EFORBIDDEN.
 */
enum lb_err caller_decode(struct store *s, const cJSON *body, struct caller *ret_caller,
                          struct lb_why *why);

/*
 * LB_OK when `org` is inside the caller's subtree; else LB_EFORBIDDEN (the
 * same answer whether the org exists elsewhere or not at all, so a caller
 * cannot probe other trees).
 */
enum lb_err caller_may_act_on(struct store *s, const struct caller *caller, const char *org,
                              struct lb_why *why);

/*
 * Calls `fn` for each live org of the caller's subtree, the caller's own org
 * first, parents before children; stops at the first error.
 */
enum lb_err orgtree_each_in_subtree(struct store *s, const char *tenant, const char *root,
                                    enum lb_err (*fn)(const struct org *org, void *arg), void *arg,
                                    struct lb_why *why);

#endif
