/*
 * envelope.h - the CloudEvents 1.0 envelope (structured JSON mode).
 *
 * Every event on the bus is one JSON object with the CloudEvents required
 * attributes (specversion "1.0", id, source, type), plus `time` (RFC 3339,
 * required here because replays order and date everything by it) and the
 * extension attribute `tenant` (the org id, also a token of the subject).
 * `data` is a JSON object; `datacontenttype`, when present, is
 * "application/json". The JSON Schema of this shape is schemas/envelope.json.
 *
 * Ownership: a parsed envelope owns its cJSON tree; every `const char *`
 * field borrows from it and lives until envelope_release.
 */
#ifndef LB_ENVELOPE_H
#define LB_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "errors.h"

/* Largest event accepted, in bytes (the NATS default max_payload). */
#define ENVELOPE_MAX_BYTES (1024 * 1024)
/* Longest id, source and type, in bytes. */
#define ENVELOPE_ID_MAX     128
#define ENVELOPE_SOURCE_MAX 256
#define ENVELOPE_TYPE_MAX   128

/* A parsed, validated event. */
struct envelope {
    cJSON *root;              /* the whole event; owned */
    const char *id;           /* unique per source; also the Nats-Msg-Id */
    const char *source;       /* URI-reference of the producer, e.g. "/licensebus/licensing" */
    const char *type;         /* "licensebus.<domain>.<name>.v<N>" */
    const char *tenant;       /* org id or "_sys" */
    const char *time;         /* RFC 3339 text as received */
    int64_t time_ms;          /* `time` as milliseconds since the epoch, UTC */
    const char *subject_attr; /* the optional CloudEvents `subject`, or NULL */
    cJSON *data;              /* the payload object, or NULL when absent; borrowed */
};

/* What envelope_build needs; all strings are copied. */
struct envelope_spec {
    const char *id;
    const char *source;
    const char *type;
    const char *tenant;
    int64_t time_ms;          /* rendered as RFC 3339 UTC with milliseconds */
    const char *subject_attr; /* optional, NULL to omit */
};

/*
 * Parses and validates `len` bytes (see json_parse_strict for what the JSON
 * itself must satisfy). Refuses with LB_ETOOBIG above ENVELOPE_MAX_BYTES and
 * LB_EINVAL with a reason naming the attribute for anything else: missing
 * or empty required attribute, wrong specversion, bad time, bad tenant,
 * `data` that is not an object, an extension name that is not lowercase
 * alphanumeric. On success *ret is filled; on failure it is untouched.
 */
enum lb_err envelope_parse(const char *bytes, size_t len, struct envelope *ret, struct lb_why *why);

/* Frees what envelope_parse allocated; safe on a zeroed envelope. */
void envelope_release(struct envelope *e);

/*
 * Checks that an event received on `subject` belongs there: the subject is
 * an event subject, its tenant token equals the `tenant` attribute, and its
 * domain and name match the type ("licensebus.<domain>.<name>.v<N>").
 */
enum lb_err envelope_check_subject(const struct envelope *e, const char *subject,
                                   struct lb_why *why);

/*
 * Serializes a new event from `spec` and `data` (borrowed, may be NULL) as
 * compact JSON. *ret_text is malloc'd and owned by the caller.
 */
enum lb_err envelope_build(const struct envelope_spec *spec, const cJSON *data, char **ret_text);

/* Parses RFC 3339 (e.g. "2026-11-22T19:20:52.123Z", "...+02:00"). */
enum lb_err envelope_parse_time(const char *text, int64_t *ret_ms);

/* Formats ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (25 bytes with NUL). */
void envelope_format_time(int64_t ms, char ret_text[32]);

#endif
