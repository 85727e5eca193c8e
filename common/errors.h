/*
 * errors.h - the project's status codes.
 *
 * Every fallible function in licensebus returns an `enum lb_err` (0 = OK).
 * The codes map one-to-one onto the `code` string of error replies and onto
 * the numeric `Nats-Service-Error-Code` header of the NATS service protocol,
 * so a failure deep in `common/` reaches the caller with the same meaning.
 */
#ifndef LB_ERRORS_H
#define LB_ERRORS_H

#include <stdbool.h>

enum lb_err {
    LB_OK = 0,
    LB_EINVAL,       /* malformed input: not JSON, wrong shape, bad value */
    LB_ETOOBIG,      /* input larger than a named limit */
    LB_ENOTFOUND,    /* the thing asked for does not exist */
    LB_ECONFLICT,    /* valid request that contradicts the current state */
    LB_EFORBIDDEN,   /* the caller may not act on this tenant or object */
    LB_EUNSUPPORTED, /* unknown event type, endpoint or version */
    LB_EUNAVAILABLE, /* a dependency (NATS, JetStream) is not reachable now */
    LB_ENOMEM,       /* an allocation failed */
    LB_EIO,          /* the database or the file system failed */
    LB_EINTERNAL,    /* a bug: an invariant did not hold */
};

/* Longest reason text kept with a failure; longer reasons end in "...". */
#define LB_WHY_MAX 256

/*
 * Why something failed, in words for the error reply and the log line.
 * Filled by the function that fails; the caller owns the storage.
 */
struct lb_why {
    char text[LB_WHY_MAX];
};

/*
 * Formats a reason into `why` (which may be NULL) and returns `err`, so a
 * failing function can write `return lb_fail(why, LB_EINVAL, "...", ...)`.
 * A reason that does not fit is cut and marked with a trailing "...".
 */
enum lb_err lb_fail(struct lb_why *why, enum lb_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The stable wire name of a code, e.g. "invalid_request". Never NULL. */
const char *lb_err_code(enum lb_err err);

/* The numeric code for the Nats-Service-Error-Code header (HTTP-like). */
int lb_err_status(enum lb_err err);

/* True when retrying the same work later may succeed (I/O, unavailable). */
bool lb_err_is_transient(enum lb_err err);

#endif
