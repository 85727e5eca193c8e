/*
 * json_strict.h - parse JSON the way a service boundary must.
 *
 * cJSON 1.7.15 silently rounds integers above 2^53, saturates `valueint`,
 * accepts duplicate keys and nests 1000 levels deep. Everything that enters
 * a service from the bus goes through json_parse_strict, which refuses all
 * of these with a reason, before cJSON builds a tree.
 *
 * Ownership: the caller owns the returned tree and frees it with cJSON_Delete.
 */
#ifndef LB_JSON_STRICT_H
#define LB_JSON_STRICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "errors.h"

/* Deepest nesting of objects and arrays accepted (the top level is 1). */
#define JSON_MAX_DEPTH 32

/* Largest magnitude a number may have: 2^53, exact in a double. */
#define JSON_MAX_SAFE_INTEGER 9007199254740992LL

/*
 * Parses exactly `len` bytes of `text` as one JSON value. Rejects, with
 * LB_EINVAL and a reason naming the offending key or byte offset: invalid
 * JSON, trailing bytes after the value, duplicate keys in one object, any
 * number whose magnitude exceeds JSON_MAX_SAFE_INTEGER, and nesting deeper
 * than JSON_MAX_DEPTH. `text` need not be NUL-terminated.
 * On success *ret_json is set; on failure it is left untouched.
 */
enum lb_err json_parse_strict(const char *text, size_t len, cJSON **ret_json, struct lb_why *why);

/*
 * Checks a tree built by code (not by json_parse_strict) against what
 * json_parse_strict guarantees, so that its printed form parses back: unique
 * keys, numbers finite and within JSON_MAX_SAFE_INTEGER, keys and strings in
 * valid UTF-8, nesting within JSON_MAX_DEPTH, no raw items. LB_EINVAL with a
 * reason, or LB_ENOMEM.
 */
enum lb_err json_check_tree(const cJSON *json, struct lb_why *why);

/*
 * Reads member `name` of `obj` as an integer in [min, max]. The member must
 * be a JSON number with no fractional part. LB_ENOTFOUND when absent,
 * LB_EINVAL when of another type, fractional or out of range.
 */
enum lb_err json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max,
                         int64_t *ret_value, struct lb_why *why);

/*
 * Reads member `name` of `obj` as a string of 1..max_len bytes. The returned
 * pointer borrows from `obj`. LB_ENOTFOUND when absent, LB_EINVAL when of
 * another type, empty or longer than max_len.
 */
enum lb_err json_get_string(const cJSON *obj, const char *name, size_t max_len,
                            const char **ret_value, struct lb_why *why);

/*
 * LB_EINVAL when `obj` has a member whose name is not in `known` (a
 * NULL-terminated list): requests refuse unknown members, so a typo is an
 * error, not a silent no-op.
 */
enum lb_err json_check_members(const cJSON *obj, const char *const *known, struct lb_why *why);

/*
 * Prints `tree` as compact JSON with every number exact: cJSON 1.7.15 prints
 * 9007199254740992 as 9.00719925474099e+15. Numbers it would round are
 * replaced in `tree` by raw items first. The text is malloc'd (caller
 * frees); NULL when out of memory.
 */
char *json_print(cJSON *tree);

/* True when json_print would print `tree` without changing it (no number needs raw text). */
bool json_prints_unchanged(const cJSON *tree);

#endif
