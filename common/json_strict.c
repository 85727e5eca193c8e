/*
 * json_strict.c - strict JSON at the service boundary.
 *
 * Two passes. First a validating scanner reads the raw bytes once: it checks
 * the RFC 8259 grammar, which cJSON 1.7.15 relaxes (it takes 01, 1., -.5, a
 * BOM, control bytes as whitespace, raw control characters and invalid UTF-8
 * in strings, and turns "\u0000" into a silently shortened string). It also
 * limits nesting and judges every number literal from its digits. It names
 * the byte where the text goes wrong. Only then does cJSON build the tree.
 * Because the text is known to be valid, cJSON can fail only for want of
 * memory, so we never need cJSON_GetErrorPtr, which is a process-wide global.
 * Last, a walk of the tree refuses duplicate keys, comparing them after
 * unescaping.
 *
 * Byte offsets in reasons count from 0.
 */
#include "json_strict.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Digits of JSON_MAX_SAFE_INTEGER, the largest magnitude accepted. */
#define SAFE_INTEGER_TEXT   "9007199254740992"
#define SAFE_INTEGER_DIGITS 16

/* Exponents beyond this are clamped: the number is far out of range either way. */
#define EXPONENT_CLAMP 1000000

/* Characters of an offending number literal quoted in a reason. */
#define REASON_NUMBER_MAX 40

/* Objects with at most this many keys are checked pairwise; larger ones are sorted. */
#define KEYS_PAIRWISE_MAX 16

/* The scanner's position in the input. */
struct scanner {
    const char *text;   /* the input, not NUL-terminated */
    size_t len;         /* bytes in text */
    size_t pos;         /* next byte to read */
    struct lb_why *why; /* where a failure is described; may be NULL */
};

/*
 * What the scanner keeps of a number literal to judge its magnitude exactly.
 * The value of the literal is 0.d1d2d3... x 10^point, where d1 is the first
 * nonzero digit.
 */
struct number_shape {
    char lead[SAFE_INTEGER_DIGITS]; /* the first significant digits */
    size_t significant;             /* significant digits seen, from d1 on */
    size_t last_nonzero;            /* 1 + the index of the last nonzero one; 0 for zero */
    int64_t point;                  /* the decimal exponent described above */
};

/* The byte at the cursor, or -1 at the end of the input. */
static int peek(const struct scanner *s)
{
    return s->pos < s->len ? (unsigned char)s->text[s->pos] : -1;
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static void skip_whitespace(struct scanner *s)
{
    for (int c = peek(s); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = peek(s))
        s->pos++;
}

/* Fails with what the grammar expected at the cursor and what is there. */
static enum lb_err unexpected(const struct scanner *s, const char *expected)
{
    int c = peek(s);

    if (c < 0)
        return lb_fail(s->why, LB_EINVAL, "not valid JSON: expected %s at byte %zu, found the end",
                       expected, s->pos);
    if (c > ' ' && c < 0x7f)
        return lb_fail(s->why, LB_EINVAL, "not valid JSON: expected %s at byte %zu, found '%c'",
                       expected, s->pos, c);
    return lb_fail(s->why, LB_EINVAL, "not valid JSON: expected %s at byte %zu, found byte 0x%02x",
                   expected, s->pos, (unsigned)c);
}

/* Reads exactly `word` (true, false or null). */
static enum lb_err scan_literal(struct scanner *s, const char *word)
{
    size_t n = strlen(word);

    if (s->len - s->pos < n || memcmp(s->text + s->pos, word, n) != 0)
        return unexpected(s, word);
    s->pos += n;
    return LB_OK;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), or 0. */
static size_t utf8_sequence(const unsigned char *p, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    size_t n;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        lo = p[0] == 0xe0 ? 0xa0 : lo; /* no overlong forms */
        hi = p[0] == 0xed ? 0x9f : hi; /* no surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        lo = p[0] == 0xf0 ? 0x90 : lo; /* no overlong forms */
        hi = p[0] == 0xf4 ? 0x8f : hi; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    }
    return n;
}

/* Reads the four hex digits of a \u escape at p (which has at least 4 bytes). */
static bool read_hex4(const char *p, unsigned *ret)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++) {
        char c = p[i];

        if (c >= '0' && c <= '9')
            v = v * 16 + (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v = v * 16 + (unsigned)(c - 'A' + 10);
        else
            return false;
    }
    *ret = v;
    return true;
}

/* Reads "\uXXXX" at the cursor into *ret. */
static bool scan_u_escape(struct scanner *s, unsigned *ret)
{
    if (s->len - s->pos < 6 || s->text[s->pos] != '\\' || s->text[s->pos + 1] != 'u' ||
        !read_hex4(s->text + s->pos + 2, ret))
        return false;
    s->pos += 6;
    return true;
}

/* Reads one escape sequence; the cursor is on the backslash. */
static enum lb_err scan_escape(struct scanner *s)
{
    size_t at = s->pos;
    unsigned unit, low;

    if (s->pos + 1 < s->len && strchr("\"\\/bfnrt", s->text[s->pos + 1]) != NULL &&
        s->text[s->pos + 1] != '\0') {
        s->pos += 2;
        return LB_OK;
    }
    if (!scan_u_escape(s, &unit))
        return lb_fail(s->why, LB_EINVAL, "not valid JSON: bad escape sequence at byte %zu", at);
    if (unit == 0)
        return lb_fail(s->why, LB_EINVAL, "string contains \\u0000 at byte %zu", at);
    if (unit >= 0xdc00 && unit <= 0xdfff)
        return lb_fail(s->why, LB_EINVAL, "unpaired surrogate \\u%04x at byte %zu", unit, at);
    if (unit >= 0xd800 && unit <= 0xdbff &&
        (!scan_u_escape(s, &low) || low < 0xdc00 || low > 0xdfff))
        return lb_fail(s->why, LB_EINVAL, "unpaired surrogate \\u%04x at byte %zu", unit, at);
    return LB_OK;
}

/* Reads a string; the cursor is on the opening quote. */
static enum lb_err scan_string(struct scanner *s)
{
    size_t start = s->pos;
    enum lb_err err;

    s->pos++;
    for (;;) {
        int c = peek(s);
        size_t n;

        if (c < 0)
            return lb_fail(s->why, LB_EINVAL, "not valid JSON: string at byte %zu is not closed",
                           start);
        if (c == '"') {
            s->pos++;
            return LB_OK;
        }
        if (c < 0x20)
            return lb_fail(s->why, LB_EINVAL,
                           "not valid JSON: control character 0x%02x in string at byte %zu",
                           (unsigned)c, s->pos);
        if (c == '\\') {
            err = scan_escape(s);
            if (err != LB_OK)
                return err;
        } else if (c < 0x80) {
            s->pos++;
        } else {
            n = utf8_sequence((const unsigned char *)s->text + s->pos, s->len - s->pos);
            if (n == 0)
                return lb_fail(s->why, LB_EINVAL, "string has invalid UTF-8 at byte %zu", s->pos);
            s->pos += n;
        }
    }
}

/* Adds one digit, from the first nonzero one on, to the shape of a number. */
static void shape_add_digit(struct number_shape *m, char digit)
{
    if (m->significant < SAFE_INTEGER_DIGITS)
        m->lead[m->significant] = digit;
    m->significant++;
    if (digit != '0')
        m->last_nonzero = m->significant;
}

/* True when the number's magnitude is at most JSON_MAX_SAFE_INTEGER. */
static bool shape_is_safe(const struct number_shape *m)
{
    char lead[SAFE_INTEGER_DIGITS];
    int cmp;

    if (m->last_nonzero == 0 || m->point < SAFE_INTEGER_DIGITS)
        return true; /* zero, or below 10^15 */
    if (m->point > SAFE_INTEGER_DIGITS)
        return false; /* at least 10^16 */
    /* Sixteen digits before the point: compare them with 2^53, digit by digit. */
    memset(lead, '0', sizeof(lead));
    memcpy(lead, m->lead,
           m->significant < SAFE_INTEGER_DIGITS ? m->significant : SAFE_INTEGER_DIGITS);
    cmp = memcmp(lead, SAFE_INTEGER_TEXT, SAFE_INTEGER_DIGITS);
    return cmp < 0 || (cmp == 0 && m->last_nonzero <= SAFE_INTEGER_DIGITS);
}

/* Reads digits into the shape; `fraction` tells which side of the point they are on. */
static size_t scan_digits(struct scanner *s, struct number_shape *m, bool fraction)
{
    size_t n = 0;

    for (int c = peek(s); is_digit(c); c = peek(s)) {
        if (m->significant == 0 && c == '0') {
            m->point -= fraction ? 1 : 0; /* leading zeros of 0.00ddd */
        } else {
            shape_add_digit(m, (char)c);
            m->point += fraction ? 0 : 1;
        }
        s->pos++;
        n++;
    }
    return n;
}

/* Reads the exponent digits into *ret, clamped to EXPONENT_CLAMP. */
static size_t scan_exponent(struct scanner *s, int64_t *ret)
{
    int64_t v = 0;
    size_t n = 0;

    for (int c = peek(s); is_digit(c); c = peek(s)) {
        v = v * 10 + (c - '0');
        v = v > EXPONENT_CLAMP ? EXPONENT_CLAMP : v;
        s->pos++;
        n++;
    }
    *ret = v;
    return n;
}

/* Reads a number literal and refuses one whose magnitude exceeds 2^53. */
static enum lb_err scan_number(struct scanner *s)
{
    struct number_shape m = {.significant = 0};
    size_t start = s->pos;
    size_t n;
    int64_t exponent = 0;
    bool negative_exponent = false;

    if (peek(s) == '-')
        s->pos++;
    if (!is_digit(peek(s)))
        return unexpected(s, "a digit");
    if (peek(s) == '0' && s->pos + 1 < s->len && is_digit(s->text[s->pos + 1]))
        return lb_fail(s->why, LB_EINVAL, "not valid JSON: number with a leading zero at byte %zu",
                       start);
    scan_digits(s, &m, false);
    if (peek(s) == '.') {
        s->pos++;
        if (scan_digits(s, &m, true) == 0)
            return unexpected(s, "a digit after '.'");
    }
    if (peek(s) == 'e' || peek(s) == 'E') {
        s->pos++;
        if (peek(s) == '+' || peek(s) == '-')
            negative_exponent = s->text[s->pos++] == '-';
        if (scan_exponent(s, &exponent) == 0)
            return unexpected(s, "a digit in the exponent");
        m.point += negative_exponent ? -exponent : exponent;
    }
    if (shape_is_safe(&m))
        return LB_OK;
    n = s->pos - start;
    return lb_fail(s->why, LB_EINVAL, "number %.*s%s exceeds 2^53 at byte %zu",
                   (int)(n > REASON_NUMBER_MAX ? REASON_NUMBER_MAX : n), s->text + start,
                   n > REASON_NUMBER_MAX ? "..." : "", start);
}

static enum lb_err scan_value(struct scanner *s, int depth);

/* Reads an array; the cursor is on '[' and `depth` counts it. */
static enum lb_err scan_array(struct scanner *s, int depth)
{
    enum lb_err err;

    s->pos++;
    skip_whitespace(s);
    if (peek(s) == ']') {
        s->pos++;
        return LB_OK;
    }
    for (;;) {
        err = scan_value(s, depth);
        if (err != LB_OK)
            return err;
        skip_whitespace(s);
        if (peek(s) == ']') {
            s->pos++;
            return LB_OK;
        }
        if (peek(s) != ',')
            return unexpected(s, "',' or ']'");
        s->pos++;
    }
}

/* Reads an object; the cursor is on '{' and `depth` counts it. */
static enum lb_err scan_object(struct scanner *s, int depth)
{
    enum lb_err err;

    s->pos++;
    skip_whitespace(s);
    if (peek(s) == '}') {
        s->pos++;
        return LB_OK;
    }
    for (;;) {
        skip_whitespace(s);
        if (peek(s) != '"')
            return unexpected(s, "a string key");
        err = scan_string(s);
        if (err != LB_OK)
            return err;
        skip_whitespace(s);
        if (peek(s) != ':')
            return unexpected(s, "':'");
        s->pos++;
        err = scan_value(s, depth);
        if (err != LB_OK)
            return err;
        skip_whitespace(s);
        if (peek(s) == '}') {
            s->pos++;
            return LB_OK;
        }
        if (peek(s) != ',')
            return unexpected(s, "',' or '}'");
        s->pos++;
    }
}

/* Reads one value inside `depth` levels of objects and arrays. */
static enum lb_err scan_value(struct scanner *s, int depth)
{
    int c;

    skip_whitespace(s);
    c = peek(s);
    if ((c == '{' || c == '[') && depth >= JSON_MAX_DEPTH)
        return lb_fail(s->why, LB_EINVAL, "nesting deeper than %d at byte %zu", JSON_MAX_DEPTH,
                       s->pos);
    switch (c) {
    case '{':
        return scan_object(s, depth + 1);
    case '[':
        return scan_array(s, depth + 1);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true");
    case 'f':
        return scan_literal(s, "false");
    case 'n':
        return scan_literal(s, "null");
    default:
        if (c == '-' || is_digit(c))
            return scan_number(s);
        return unexpected(s, "a value");
    }
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Finds a key that occurs twice among the members of `object`; NULL when all differ. */
static enum lb_err find_duplicate_key(const cJSON *object, const char **ret_key)
{
    const char **keys;
    size_t n = 0, i = 0;

    *ret_key = NULL;
    for (const cJSON *a = object->child; a != NULL; a = a->next)
        n++;
    if (n <= KEYS_PAIRWISE_MAX) {
        for (const cJSON *a = object->child; a != NULL; a = a->next) {
            for (const cJSON *b = a->next; b != NULL; b = b->next) {
                if (strcmp(a->string, b->string) == 0) {
                    *ret_key = a->string;
                    return LB_OK;
                }
            }
        }
        return LB_OK;
    }
    /* Pairwise checks of a big object would be quadratic: sort the keys instead. */
    keys = malloc(n * sizeof(*keys));
    if (keys == NULL)
        return LB_ENOMEM;
    for (const cJSON *a = object->child; a != NULL; a = a->next)
        keys[i++] = a->string;
    qsort(keys, n, sizeof(*keys), compare_keys);
    for (i = 1; i < n && *ret_key == NULL; i++) {
        if (strcmp(keys[i - 1], keys[i]) == 0)
            *ret_key = keys[i];
    }
    free(keys);
    return LB_OK;
}

/* Refuses duplicate keys in `node` (at `depth`, the top level being 1) and below it. */
static enum lb_err check_keys(const cJSON *node, int depth, struct lb_why *why)
{
    const char *key;
    enum lb_err err;

    if (cJSON_IsObject(node)) {
        err = find_duplicate_key(node, &key);
        if (err != LB_OK)
            return lb_fail(why, err, "out of memory checking keys at depth %d", depth);
        if (key != NULL)
            return lb_fail(why, LB_EINVAL, "duplicate key \"%.64s\" in object at depth %d", key,
                           depth);
    }
    for (const cJSON *child = node->child; child != NULL; child = child->next) {
        if (cJSON_IsObject(child) || cJSON_IsArray(child)) {
            err = check_keys(child, depth + 1, why);
            if (err != LB_OK)
                return err;
        }
    }
    return LB_OK;
}

/* True when the C string `s` is valid UTF-8. */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);

    for (size_t i = 0; i < len;) {
        size_t n = p[i] < 0x80 ? 1 : utf8_sequence(p + i, len - i);

        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* Checks one item of a tree built by code; containers are at `depth`. */
static enum lb_err check_item(const cJSON *item, int depth, struct lb_why *why)
{
    if (cJSON_IsNumber(item)) {
        if (!isfinite(item->valuedouble) || fabs(item->valuedouble) > (double)JSON_MAX_SAFE_INTEGER)
            return lb_fail(why, LB_EINVAL, "number %.17g exceeds 2^53 at depth %d",
                           item->valuedouble, depth);
        return LB_OK;
    }
    if (cJSON_IsString(item)) {
        if (item->valuestring == NULL || !utf8_valid(item->valuestring))
            return lb_fail(why, LB_EINVAL, "a string at depth %d is not valid UTF-8", depth);
        return LB_OK;
    }
    if (cJSON_IsBool(item) || cJSON_IsNull(item))
        return LB_OK;
    if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
        return lb_fail(why, LB_EINVAL, "an item at depth %d is raw or invalid JSON", depth);
    if (depth > JSON_MAX_DEPTH)
        return lb_fail(why, LB_EINVAL, "nesting deeper than %d", JSON_MAX_DEPTH);
    for (const cJSON *child = item->child; child != NULL; child = child->next) {
        enum lb_err err;

        if (cJSON_IsObject(item) && (child->string == NULL || !utf8_valid(child->string)))
            return lb_fail(why, LB_EINVAL, "a key at depth %d is missing or not valid UTF-8",
                           depth);
        err = check_item(child, depth + 1, why);
        if (err != LB_OK)
            return err;
    }
    return LB_OK;
}

enum lb_err json_check_tree(const cJSON *json, struct lb_why *why)
{
    enum lb_err err;

    if (json == NULL)
        return lb_fail(why, LB_EINVAL, "no JSON value");
    err = check_item(json, 1, why);
    if (err != LB_OK)
        return err;
    return check_keys(json, 1, why);
}

enum lb_err json_parse_strict(const char *text, size_t len, cJSON **ret_json, struct lb_why *why)
{
    struct scanner s = {.text = text, .len = len, .pos = 0, .why = why};
    cJSON *json;
    enum lb_err err;

    if (text == NULL || len == 0)
        return lb_fail(why, LB_EINVAL, "empty input is not JSON");
    err = scan_value(&s, 0);
    if (err != LB_OK)
        return err;
    skip_whitespace(&s);
    if (s.pos < len)
        return lb_fail(why, LB_EINVAL, "unexpected bytes after the JSON value at byte %zu", s.pos);
    /* The text is valid JSON, so cJSON fails only when an allocation does. */
    json = cJSON_ParseWithLengthOpts(text, len, NULL, false);
    if (json == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory building a JSON tree of %zu bytes", len);
    err = check_keys(json, 1, why);
    if (err != LB_OK) {
        cJSON_Delete(json);
        return err;
    }
    *ret_json = json;
    return LB_OK;
}

/* Finds member `name` of `obj`; a NULL `obj` has no members, anything else must be an object. */
static enum lb_err get_member(const cJSON *obj, const char *name, const cJSON **ret_item,
                              struct lb_why *why)
{
    const cJSON *item;

    if (obj != NULL && !cJSON_IsObject(obj))
        return lb_fail(why, LB_EINVAL, "cannot read \"%s\": not inside a JSON object", name);
    item = cJSON_GetObjectItemCaseSensitive(obj, name); /* NULL when obj is NULL */
    if (item == NULL)
        return lb_fail(why, LB_ENOTFOUND, "\"%s\" is required", name);
    *ret_item = item;
    return LB_OK;
}

enum lb_err json_get_int(const cJSON *obj, const char *name, int64_t min, int64_t max,
                         int64_t *ret_value, struct lb_why *why)
{
    const cJSON *item = NULL;
    enum lb_err err = get_member(obj, name, &item, why);
    double v;
    int64_t n;

    if (err != LB_OK || item == NULL)
        return err != LB_OK ? err : LB_EINTERNAL;
    if (!cJSON_IsNumber(item))
        return lb_fail(why, LB_EINVAL, "\"%s\" must be an integer", name);
    v = item->valuedouble;
    /* Trees not built by json_parse_strict may hold NaN, infinities or huge values. */
    if (!isfinite(v) || fabs(v) > (double)JSON_MAX_SAFE_INTEGER)
        return lb_fail(why, LB_EINVAL, "\"%s\" is beyond 2^53", name);
    if (v != trunc(v))
        return lb_fail(why, LB_EINVAL, "\"%s\" must be an integer, not %.17g", name, v);
    n = (int64_t)v;
    if (n < min || n > max)
        return lb_fail(why, LB_EINVAL, "\"%s\" %lld is outside [%lld, %lld]", name, (long long)n,
                       (long long)min, (long long)max);
    *ret_value = n;
    return LB_OK;
}

enum lb_err json_get_string(const cJSON *obj, const char *name, size_t max_len,
                            const char **ret_value, struct lb_why *why)
{
    const cJSON *item = NULL;
    enum lb_err err = get_member(obj, name, &item, why);
    size_t len;

    if (err != LB_OK || item == NULL)
        return err != LB_OK ? err : LB_EINTERNAL;
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return lb_fail(why, LB_EINVAL, "\"%s\" must be a string", name);
    len = strlen(item->valuestring);
    if (len == 0)
        return lb_fail(why, LB_EINVAL, "\"%s\" must not be empty", name);
    if (len > max_len)
        return lb_fail(why, LB_EINVAL, "\"%s\" is longer than %zu bytes", name, max_len);
    *ret_value = item->valuestring;
    return LB_OK;
}

/* Integers below this magnitude have at most 15 digits. */
#define EXACT_15_DIGITS_BELOW 1e15

enum lb_err json_check_members(const cJSON *obj, const char *const *known, struct lb_why *why)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, obj)
    {
        bool found = false;

        for (const char *const *k = known; *k && !found; k++)
            found = strcmp(*k, item->string) == 0;
        if (!found)
            return lb_fail(why, LB_EINVAL, "unknown member \"%.64s\"", item->string);
    }
    return LB_OK;
}

/* True when cJSON's first try, 15 significant digits, reads back as exactly `v`. */
static bool prints_exactly_in_15_digits(double v)
{
    char text[32];

    if (fabs(v) < EXACT_15_DIGITS_BELOW && v == trunc(v))
        return true; /* the common case, without formatting */
    (void)snprintf(text, sizeof(text), "%1.15g", v);
    return strtod(text, NULL) == v;
}

/*
 * cJSON 1.7.15 prints a number with 15 significant digits whenever they read
 * back within a relative DBL_EPSILON, so 9007199254740992 is printed as
 * 9.00719925474099e+15 and 0.30000000000000004 as 0.3. Such numbers under
 * `node` are replaced by raw text with 17 digits, which reads back exactly.
 False when out of memory.
 */
static bool print_numbers_exactly(cJSON *node)
{
    cJSON *next;

    for (cJSON *child = node->child; child != NULL; child = next) {
        char text[32];
        cJSON *raw;

        next = child->next;
        if (cJSON_IsObject(child) || cJSON_IsArray(child)) {
            if (!print_numbers_exactly(child))
                return false;
            continue;
        }
        if (!cJSON_IsNumber(child) || prints_exactly_in_15_digits(child->valuedouble))
            continue;
        (void)snprintf(text, sizeof(text), "%.17g", child->valuedouble);
        raw = cJSON_CreateRaw(text);
        if (raw == NULL)
            return false;
        /* The key moves to the replacement, which cJSON_Delete then frees. */
        raw->string = child->string;
        raw->type |= child->type & cJSON_StringIsConst;
        child->string = NULL;
        cJSON_ReplaceItemViaPointer(node, child, raw);
    }
    return true;
}

bool json_prints_unchanged(const cJSON *tree)
{
    for (const cJSON *child = tree->child; child != NULL; child = child->next) {
        if (cJSON_IsObject(child) || cJSON_IsArray(child)) {
            if (!json_prints_unchanged(child))
                return false;
        } else if (cJSON_IsNumber(child) && !prints_exactly_in_15_digits(child->valuedouble)) {
            return false;
        }
    }
    return true;
}

char *json_print(cJSON *tree)
{
    if (!print_numbers_exactly(tree))
        return NULL;
    return cJSON_PrintUnformatted(tree);
}
