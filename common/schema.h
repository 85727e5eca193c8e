/*
 * schema.h - validates JSON against the contract's JSON Schema (2020-12)
 * files, so a tool can refuse a message before it leaves (lbctl publish,
 * replay) with the same verdict the contract tests reach with Ajv.
 *
 * Supported: boolean schemas, $ref (to the same file or another one under
 * the set's directory, with a JSON-pointer fragment), allOf, anyOf, oneOf,
 * not, type, const, enum, properties, required, additionalProperties,
 * patternProperties, items, minItems, maxItems, uniqueItems, minLength, maxLength,
 * pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum, format
 * date-time; annotations are ignored. A keyword outside that list is an
 * error (LB_EUNSUPPORTED), never silently skipped. Patterns are ECMA-262
 * translated to POSIX extended expressions (plus a leading negative
 * lookahead "^(?!X)Y", which the envelope's extension names use); any other
 * pattern POSIX cannot express is LB_EUNSUPPORTED too.
 */
#ifndef LB_SCHEMA_H
#define LB_SCHEMA_H

#include <cjson/cJSON.h>

#include "errors.h"

struct schema_set;

/* Schemas under `dir` (e.g. the repository's schemas/), loaded when first used. */
enum lb_err schema_set_open(const char *dir, struct schema_set **ret_set, struct lb_why *why);
void schema_set_free(struct schema_set *set);

/*
 * Validates `instance` against the schema file `path` (relative to the
 * set's directory, e.g. "events/tally.counter_changed.v1.json"). LB_OK when
 * valid; LB_EINVAL with "<json pointer>: <reason>" for the first violation
 * found; LB_ENOTFOUND when the file does not exist.
 */
enum lb_err schema_validate(struct schema_set *set, const char *path, const cJSON *instance,
                            struct lb_why *why);

#endif
