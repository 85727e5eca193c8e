/*
 * schema.c - a JSON Schema (2020-12) validator for the keywords the
 * contract uses; see schema.h for the list and the rules.
 *
 * Files are parsed once and kept by their path relative to the set's
 * directory; a $ref resolves against the directory of the file it is in.
 * Patterns are compiled once. The instance pointer of the first violation
 * is built on the way down, so the reason names the member at fault.
 */
#include "schema.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "json_strict.h"
#include "simple_pattern.h"

/* Deepest schema nesting followed ($ref chains included). */
#define SCHEMA_DEPTH_MAX 64
/* Longest instance pointer kept in a reason. */
#define POINTER_MAX 256

struct loaded_file {
    char *path; /* relative to the set's directory, normalized */
    cJSON *root;
};

struct compiled_pattern {
    char *source;                /* the ECMA-262 text */
    struct simple_pattern *fast; /* the same without a regex engine, when it has that form */
    regex_t re;
    regex_t refused; /* a leading negative lookahead "^(?!X)": what must not match */
    bool has_refused;
    bool usable; /* false when neither `fast` nor POSIX can express it */
};

struct schema_set {
    char *dir;
    struct loaded_file *files;
    size_t file_count;
    struct compiled_pattern *patterns;
    size_t pattern_count;
    struct resolved_ref *refs; /* open-addressed by the $ref string's address */
    size_t ref_cap;            /* slots; a power of two, or 0 */
    size_t ref_count;
};

/* A followed $ref: where it leads (files are never unloaded, so the pointers stay valid). */
struct resolved_ref {
    const char *ref;   /* the $ref string inside a loaded schema: the key */
    const char *file;  /* the target's file path (a loaded_file's) */
    const cJSON *node; /* the target */
};

struct walk {
    struct schema_set *set;
    struct lb_why *why;
    char pointer[POINTER_MAX]; /* where in the instance we are */
    int depth;
};

/* Keywords that only annotate. */
static const char *const annotations[] = {
    "$schema",         "$id",     "$comment", "$defs",     "title",      "description",
    "examples",        "default", "readOnly", "writeOnly", "deprecated", "contentMediaType",
    "contentEncoding", NULL,
};

/* Keywords this validator checks. */
static const char *const checked[] = {
    "$ref",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "type",
    "const",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "format",
    "uniqueItems",
    NULL,
};

static bool listed(const char *const *list, const char *name)
{
    for (; *list != NULL; list++) {
        if (strcmp(*list, name) == 0)
            return true;
    }
    return false;
}

enum lb_err schema_set_open(const char *dir, struct schema_set **ret_set, struct lb_why *why)
{
    struct schema_set *set = calloc(1, sizeof(*set));

    if (set == NULL || (set->dir = strdup(dir)) == NULL) {
        free(set);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    *ret_set = set;
    return LB_OK;
}

void schema_set_free(struct schema_set *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->file_count; i++) {
        free(set->files[i].path);
        cJSON_Delete(set->files[i].root);
    }
    for (size_t i = 0; i < set->pattern_count; i++) {
        if (set->patterns[i].usable && set->patterns[i].fast == NULL)
            regfree(&set->patterns[i].re);
        if (set->patterns[i].has_refused)
            regfree(&set->patterns[i].refused);
        free(set->patterns[i].fast);
        free(set->patterns[i].source);
    }
    free(set->files);
    free(set->patterns);
    free(set->refs);
    free(set->dir);
    free(set);
}

/* ---- files and references -------------------------------------------------------------- */

/* Joins `base`'s directory and `rel`, resolving "." and ".." (never above the set's root). */
static bool join_path(char *out, size_t size, const char *base, const char *rel)
{
    char joined[512];
    char *parts[64];
    size_t n = 0, used = 0;
    const char *slash = strrchr(base, '/');
    int len = slash != NULL ? (int)(slash - base) : 0;

    if ((size_t)snprintf(joined, sizeof(joined), "%.*s%s%s", len, base, len ? "/" : "", rel) >=
        sizeof(joined))
        return false;
    for (char *save = NULL, *t = strtok_r(joined, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (strcmp(t, ".") == 0)
            continue;
        if (strcmp(t, "..") == 0) {
            if (n == 0)
                return false;
            n--;
        } else if (n < 64) {
            parts[n++] = t;
        } else {
            return false;
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + used, size - used, "%s%s", i ? "/" : "", parts[i]);

        if (w < 0 || (size_t)w >= size - used)
            return false;
        used += (size_t)w;
    }
    return n > 0;
}

/*
 * Refuses, once when a file is loaded, a schema using a keyword this
 * validator does not check (rather than silently passing what it would
 * not check), and walks every subschema the same way.
 */
static enum lb_err vet_schema(const cJSON *schema, const char *file, int depth, struct lb_why *why)
{
    static const char *const maps[] = {"properties", "patternProperties", "$defs", NULL};
    static const char *const single[] = {"items", "not", "additionalProperties", NULL};
    static const char *const lists[] = {"allOf", "anyOf", "oneOf", NULL};
    const cJSON *kw;
    const cJSON *sub;
    enum lb_err err = LB_OK;

    if (cJSON_IsBool(schema))
        return LB_OK;
    if (!cJSON_IsObject(schema))
        return lb_fail(why, LB_EINVAL, "schema in %s is neither an object nor a boolean", file);
    if (depth > SCHEMA_DEPTH_MAX)
        return lb_fail(why, LB_EINVAL, "schema in %s nests deeper than %d", file, SCHEMA_DEPTH_MAX);
    cJSON_ArrayForEach(kw, schema)
    {
        if (!listed(checked, kw->string) && !listed(annotations, kw->string) &&
            strncmp(kw->string, "x-", 2) != 0)
            return lb_fail(why, LB_EUNSUPPORTED, "schema keyword %s (in %s) is not supported",
                           kw->string, file);
        /* Subschemas: the members of a map keyword, the items of a list keyword, or one. */
        if ((listed(maps, kw->string) && cJSON_IsObject(kw)) ||
            (listed(lists, kw->string) && cJSON_IsArray(kw))) {
            cJSON_ArrayForEach(sub, kw)
            {
                if (err == LB_OK)
                    err = vet_schema(sub, file, depth + 1, why);
            }
        } else if (listed(single, kw->string)) {
            err = vet_schema(kw, file, depth + 1, why);
        }
        if (err != LB_OK)
            return err;
    }
    return LB_OK;
}

static enum lb_err load_file(struct schema_set *set, const char *path, const cJSON **ret_root,
                             struct lb_why *why)
{
    char full[1024];
    struct loaded_file *grown;
    FILE *f;
    char *text = NULL;
    long size;
    cJSON *root = NULL;
    enum lb_err err;

    for (size_t i = 0; i < set->file_count; i++) {
        if (strcmp(set->files[i].path, path) == 0) {
            *ret_root = set->files[i].root;
            return LB_OK;
        }
    }
    snprintf(full, sizeof(full), "%s/%s", set->dir, path);
    f = fopen(full, "rb");
    if (f == NULL)
        return lb_fail(why, LB_ENOTFOUND, "no schema %s", full);
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (text = malloc((size_t)size + 1)) != NULL &&
        fread(text, 1, (size_t)size, f) == (size_t)size)
        err = json_parse_strict(text, (size_t)size, &root, why);
    else
        err = lb_fail(why, LB_EIO, "cannot read %s", full);
    fclose(f);
    free(text);
    if (err == LB_OK && (err = vet_schema(root, path, 0, why)) != LB_OK)
        cJSON_Delete(root);
    if (err != LB_OK)
        return lb_fail(why, err, "schema %s: %s", path, why->text);
    grown = realloc(set->files, (set->file_count + 1) * sizeof(*grown));
    if (grown == NULL) {
        cJSON_Delete(root);
        return lb_fail(why, LB_ENOMEM, "out of memory");
    }
    set->files = grown;
    grown[set->file_count].path = strdup(path);
    grown[set->file_count].root = root;
    set->file_count++;
    *ret_root = root;
    return LB_OK;
}

/* Follows a JSON pointer fragment ("/$defs/x") inside `root`. */
static const cJSON *follow_pointer(const cJSON *root, const char *fragment)
{
    char token[256];
    const cJSON *node = root;

    while (node != NULL && *fragment == '/') {
        size_t n = 0;

        fragment++;
        while (*fragment != '\0' && *fragment != '/' && n + 1 < sizeof(token)) {
            if (fragment[0] == '~' && (fragment[1] == '0' || fragment[1] == '1')) {
                token[n++] = fragment[1] == '0' ? '~' : '/';
                fragment += 2;
            } else {
                token[n++] = *fragment++;
            }
        }
        token[n] = '\0';
        node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, (int)strtol(token, NULL, 10))
                                   : cJSON_GetObjectItemCaseSensitive(node, token);
    }
    return *fragment == '\0' ? node : NULL;
}

/* ---- patterns ----------------------------------------------------------------------------- */

/* ECMA-262 to POSIX ERE for the subset schemas use; false when it cannot be expressed. */
static bool translate_pattern(const char *ecma, char *out, size_t size)
{
    size_t n = 0;

    for (const char *p = ecma; *p != '\0'; p++) {
        const char *add = NULL;
        char one[3] = {0};

        if (p[0] == '(' && p[1] == '?') {
            if (p[2] != ':')
                return false; /* lookaround, named groups */
            add = "(";
            p += 2;
        } else if (p[0] == '\\' && p[1] == 'd') {
            add = "[0-9]";
            p++;
        } else if (p[0] == '\\' && p[1] != '\0') {
            if (strchr("wsWSbBpPu", p[1]) != NULL)
                return false;
            one[0] = p[0];
            one[1] = p[1];
            add = one;
            p++;
        } else {
            one[0] = *p;
            add = one;
        }
        if (n + strlen(add) + 1 > size)
            return false;
        memcpy(out + n, add, strlen(add));
        n += strlen(add);
    }
    out[n] = '\0';
    return true;
}

static struct compiled_pattern *pattern_of(struct schema_set *set, const char *source)
{
    struct compiled_pattern *grown, *cp;
    char posix[1024];

    for (size_t i = 0; i < set->pattern_count; i++) {
        if (strcmp(set->patterns[i].source, source) == 0)
            return &set->patterns[i];
    }
    grown = realloc(set->patterns, (set->pattern_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    set->patterns = grown;
    cp = &grown[set->pattern_count];
    cp->source = strdup(source);
    if (cp->source == NULL)
        return NULL;
    cp->has_refused = false;
    cp->usable = false;
    cp->fast = malloc(sizeof(*cp->fast));
    if (cp->fast != NULL && simple_pattern_compile(source, cp->fast)) {
        cp->usable = true;
        set->pattern_count++;
        return cp;
    }
    free(cp->fast);
    cp->fast = NULL;
    if (strncmp(source, "^(?!", 4) == 0) {
        /* ^(?!X)Y: Y must match and ^X must not (the envelope's extension names). */
        const char *p = source + 4;
        int level = 1;
        char negative[512];

        for (; *p != '\0' && level > 0; p++) {
            if (*p == '\\' && p[1] != '\0')
                p++;
            else if (*p == '(')
                level++;
            else if (*p == ')')
                level--;
        }
        if (level == 0 && (size_t)(p - source) < sizeof(negative)) {
            snprintf(negative, sizeof(negative), "^%.*s", (int)(p - 1 - (source + 4)), source + 4);
            snprintf(posix, sizeof(posix), "^%s", p);
            cp->has_refused = translate_pattern(negative, negative, sizeof(negative)) &&
                              regcomp(&cp->refused, negative, REG_EXTENDED | REG_NOSUB) == 0;
            cp->usable = cp->has_refused && translate_pattern(posix, posix, sizeof(posix)) &&
                         regcomp(&cp->re, posix, REG_EXTENDED | REG_NOSUB) == 0;
            set->pattern_count++;
            return cp;
        }
    }
    cp->usable = translate_pattern(source, posix, sizeof(posix)) &&
                 regcomp(&cp->re, posix, REG_EXTENDED | REG_NOSUB) == 0;
    set->pattern_count++;
    return cp;
}

/* Whether `text` matches; false for a pattern POSIX cannot express. */
static bool matches(const struct compiled_pattern *cp, const char *text)
{
    if (cp->fast != NULL)
        return simple_pattern_match(cp->fast, text);
    return cp->usable && regexec(&cp->re, text, 0, NULL, 0) == 0 &&
           !(cp->has_refused && regexec(&cp->refused, text, 0, NULL, 0) == 0);
}

/* ---- validation --------------------------------------------------------------------------- */

/* The keywords of one schema object, found in one pass over its members. */
struct keywords {
    const cJSON *ref, *type, *constant, *choices;
    const cJSON *all_of, *any_of, *one_of, *not_;
    const cJSON *min_length, *max_length, *pattern, *format;
    const cJSON *bounds[4]; /* minimum, maximum, exclusiveMinimum, exclusiveMaximum */
    const cJSON *properties, *pattern_properties, *additional, *required;
    const cJSON *items, *min_items, *max_items, *unique_items;
};

static void gather_keywords(const cJSON *schema, struct keywords *k)
{
    static const struct {
        const char *name;
        size_t offset;
    } table[] = {
        {"$ref", offsetof(struct keywords, ref)},
        {"type", offsetof(struct keywords, type)},
        {"const", offsetof(struct keywords, constant)},
        {"enum", offsetof(struct keywords, choices)},
        {"allOf", offsetof(struct keywords, all_of)},
        {"anyOf", offsetof(struct keywords, any_of)},
        {"oneOf", offsetof(struct keywords, one_of)},
        {"not", offsetof(struct keywords, not_)},
        {"minLength", offsetof(struct keywords, min_length)},
        {"maxLength", offsetof(struct keywords, max_length)},
        {"pattern", offsetof(struct keywords, pattern)},
        {"format", offsetof(struct keywords, format)},
        {"minimum", offsetof(struct keywords, bounds[0])},
        {"maximum", offsetof(struct keywords, bounds[1])},
        {"exclusiveMinimum", offsetof(struct keywords, bounds[2])},
        {"exclusiveMaximum", offsetof(struct keywords, bounds[3])},
        {"properties", offsetof(struct keywords, properties)},
        {"patternProperties", offsetof(struct keywords, pattern_properties)},
        {"additionalProperties", offsetof(struct keywords, additional)},
        {"required", offsetof(struct keywords, required)},
        {"items", offsetof(struct keywords, items)},
        {"minItems", offsetof(struct keywords, min_items)},
        {"maxItems", offsetof(struct keywords, max_items)},
        {"uniqueItems", offsetof(struct keywords, unique_items)},
    };
    const cJSON *kw;

    memset(k, 0, sizeof(*k));
    cJSON_ArrayForEach(kw, schema)
    {
        /* The first two bytes rule out nearly every entry before strcmp runs. */
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
            const char *name = table[i].name;

            if (name[0] == kw->string[0] && name[1] == kw->string[1] &&
                strcmp(name, kw->string) == 0) {
                *(const cJSON **)((char *)k + table[i].offset) = kw;
                break;
            }
        }
    }
}

static enum lb_err check(struct walk *w, const char *file, const cJSON *schema, const cJSON *inst);

__attribute__((format(printf, 2, 3))) static enum lb_err violation(struct walk *w, const char *fmt,
                                                                   ...)
{
    char reason[LB_WHY_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    return lb_fail(w->why, LB_EINVAL, "%s: %s", w->pointer[0] ? w->pointer : "(root)", reason);
}

/* Descends into member or index `key`, checks, and restores the pointer. */
static enum lb_err check_child(struct walk *w, const char *file, const cJSON *schema,
                               const cJSON *inst, const char *key)
{
    size_t len = strlen(w->pointer);
    enum lb_err err;

    snprintf(w->pointer + len, sizeof(w->pointer) - len, "/%s", key);
    err = check(w, file, schema, inst);
    w->pointer[len] = '\0';
    return err;
}

static bool type_is(const cJSON *inst, const char *type)
{
    if (strcmp(type, "object") == 0)
        return cJSON_IsObject(inst);
    if (strcmp(type, "array") == 0)
        return cJSON_IsArray(inst);
    if (strcmp(type, "string") == 0)
        return cJSON_IsString(inst);
    if (strcmp(type, "boolean") == 0)
        return cJSON_IsBool(inst);
    if (strcmp(type, "null") == 0)
        return cJSON_IsNull(inst);
    if (strcmp(type, "number") == 0)
        return cJSON_IsNumber(inst);
    if (strcmp(type, "integer") == 0)
        return cJSON_IsNumber(inst) && inst->valuedouble == floor(inst->valuedouble);
    return false;
}

static enum lb_err check_type(struct walk *w, const cJSON *type, const cJSON *inst)
{
    const cJSON *t;

    if (cJSON_IsString(type))
        return type_is(inst, type->valuestring)
                   ? LB_OK
                   : violation(w, "must be of type %s", type->valuestring);
    cJSON_ArrayForEach(t, type)
    {
        if (cJSON_IsString(t) && type_is(inst, t->valuestring))
            return LB_OK;
    }
    return violation(w, "has none of the allowed types");
}

static size_t utf8_length(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static enum lb_err check_string(struct walk *w, const struct keywords *k, const cJSON *inst)
{
    const cJSON *min = k->min_length;
    const cJSON *max = k->max_length;
    const cJSON *pattern = k->pattern;
    const cJSON *format = k->format;
    size_t len = min != NULL || max != NULL ? utf8_length(inst->valuestring) : 0;
    int64_t ms;

    if (min != NULL && cJSON_IsNumber(min) && (double)len < min->valuedouble)
        return violation(w, "is shorter than %.0f characters", min->valuedouble);
    if (max != NULL && cJSON_IsNumber(max) && (double)len > max->valuedouble)
        return violation(w, "is longer than %.0f characters", max->valuedouble);
    if (pattern != NULL && cJSON_IsString(pattern)) {
        struct compiled_pattern *cp = pattern_of(w->set, pattern->valuestring);

        if (cp == NULL)
            return lb_fail(w->why, LB_ENOMEM, "out of memory");
        if (!cp->usable)
            return lb_fail(w->why, LB_EUNSUPPORTED, "pattern %s cannot be checked here",
                           pattern->valuestring);
        if (!matches(cp, inst->valuestring))
            return violation(w, "does not match the pattern %s", pattern->valuestring);
    }
    if (format != NULL && cJSON_IsString(format) && strcmp(format->valuestring, "date-time") == 0 &&
        envelope_parse_time(inst->valuestring, &ms) != LB_OK)
        return violation(w, "is not an RFC 3339 date-time");
    return LB_OK;
}

static enum lb_err check_number(struct walk *w, const struct keywords *k, const cJSON *inst)
{
    static const char *const bounds[] = {"minimum", "maximum", "exclusiveMinimum",
                                         "exclusiveMaximum"};
    double v = inst->valuedouble;

    for (int i = 0; i < 4; i++) {
        const cJSON *b = k->bounds[i];
        bool ok;

        if (b == NULL || !cJSON_IsNumber(b))
            continue;
        ok = i == 0   ? v >= b->valuedouble
             : i == 1 ? v <= b->valuedouble
             : i == 2 ? v > b->valuedouble
                      : v < b->valuedouble;
        if (!ok)
            return violation(w, "is outside its %s", bounds[i]);
    }
    return LB_OK;
}

static enum lb_err pattern_matches(struct walk *w, const char *pattern, const char *name,
                                   bool *ret_match)
{
    struct compiled_pattern *cp = pattern_of(w->set, pattern);

    if (cp == NULL)
        return lb_fail(w->why, LB_ENOMEM, "out of memory");
    if (!cp->usable)
        return lb_fail(w->why, LB_EUNSUPPORTED, "pattern %s cannot be checked here", pattern);
    *ret_match = matches(cp, name);
    return LB_OK;
}

static enum lb_err check_object(struct walk *w, const char *file, const struct keywords *k,
                                const cJSON *inst)
{
    const cJSON *props = k->properties;
    const cJSON *patterns = k->pattern_properties;
    const cJSON *additional = k->additional;
    const cJSON *required = k->required;
    const cJSON *item;
    enum lb_err err;

    cJSON_ArrayForEach(item, required)
    {
        if (cJSON_IsString(item) &&
            cJSON_GetObjectItemCaseSensitive(inst, item->valuestring) == NULL)
            return violation(w, "misses the required member \"%s\"", item->valuestring);
    }
    cJSON_ArrayForEach(item, inst)
    {
        const cJSON *sub = cJSON_GetObjectItemCaseSensitive(props, item->string);
        const cJSON *p;
        bool matched = sub != NULL;

        if (sub != NULL && (err = check_child(w, file, sub, item, item->string)) != LB_OK)
            return err;
        cJSON_ArrayForEach(p, patterns)
        {
            bool match = false;

            if ((err = pattern_matches(w, p->string, item->string, &match)) != LB_OK)
                return err;
            if (!match)
                continue;
            matched = true;
            if ((err = check_child(w, file, p, item, item->string)) != LB_OK)
                return err;
        }
        if (matched || additional == NULL)
            continue;
        if (cJSON_IsFalse(additional))
            return violation(w, "has the member \"%s\", which is not allowed", item->string);
        if ((err = check_child(w, file, additional, item, item->string)) != LB_OK)
            return err;
    }
    return LB_OK;
}

static enum lb_err check_array(struct walk *w, const char *file, const struct keywords *k,
                               const cJSON *inst)
{
    const cJSON *items = k->items;
    const cJSON *min = k->min_items;
    const cJSON *max = k->max_items;
    int n = cJSON_GetArraySize(inst);
    const cJSON *item;
    int i = 0;
    enum lb_err err;

    if (min != NULL && cJSON_IsNumber(min) && n < min->valuedouble)
        return violation(w, "has fewer than %.0f items", min->valuedouble);
    if (max != NULL && cJSON_IsNumber(max) && n > max->valuedouble)
        return violation(w, "has more than %.0f items", max->valuedouble);
    if (cJSON_IsTrue(k->unique_items)) {
        for (const cJSON *x = inst->child; x != NULL; x = x->next) {
            for (const cJSON *y = x->next; y != NULL; y = y->next) {
                if (cJSON_Compare(x, y, true))
                    return violation(w, "has equal items (uniqueItems)");
            }
        }
    }
    if (items == NULL)
        return LB_OK;
    cJSON_ArrayForEach(item, inst)
    {
        char index[16];

        snprintf(index, sizeof(index), "%d", i++);
        if ((err = check_child(w, file, items, item, index)) != LB_OK)
            return err;
    }
    return LB_OK;
}

static size_t ref_slot(const struct schema_set *set, const char *ref)
{
    size_t mask = set->ref_cap - 1;
    size_t i = ((uintptr_t)ref >> 3) * 0x9E3779B97F4A7C15ull & mask;

    while (set->refs[i].ref != NULL && set->refs[i].ref != ref)
        i = (i + 1) & mask;
    return i;
}

/* Remembers where `ref` leads; a full cache that cannot grow is only slower. */
static void remember_ref(struct schema_set *set, const char *ref, const char *file,
                         const cJSON *node)
{
    if (2 * (set->ref_count + 1) > set->ref_cap) {
        size_t cap = set->ref_cap ? 2 * set->ref_cap : 64;
        struct resolved_ref *old = set->refs;
        size_t old_cap = set->ref_cap;
        struct resolved_ref *grown = calloc(cap, sizeof(*grown));

        if (grown == NULL)
            return;
        set->refs = grown;
        set->ref_cap = cap;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].ref != NULL)
                set->refs[ref_slot(set, old[i].ref)] = old[i];
        }
        free(old);
    }
    set->refs[ref_slot(set, ref)] = (struct resolved_ref){ref, file, node};
    set->ref_count++;
}

/* The loaded path of a file, which outlives this call (a resolved ref keeps it). */
static const char *loaded_path(const struct schema_set *set, const char *path)
{
    for (size_t i = 0; i < set->file_count; i++) {
        if (strcmp(set->files[i].path, path) == 0)
            return set->files[i].path;
    }
    return NULL;
}

static enum lb_err check_ref(struct walk *w, const char *file, const char *ref, const cJSON *inst)
{
    char target[512];
    const char *hash = strchr(ref, '#');
    const cJSON *root = NULL;
    const cJSON *node;
    const char *kept;
    char path[512];
    enum lb_err err;

    /* Followed once: the schemas do not change while loaded. */
    if (w->set->ref_cap > 0) {
        const struct resolved_ref *r = &w->set->refs[ref_slot(w->set, ref)];

        if (r->ref == ref)
            return check(w, r->file, r->node, inst);
    }
    if (hash == ref) {
        snprintf(target, sizeof(target), "%s", file);
    } else {
        snprintf(path, sizeof(path), "%.*s", hash ? (int)(hash - ref) : (int)strlen(ref), ref);
        if (!join_path(target, sizeof(target), file, path))
            return lb_fail(w->why, LB_EINVAL, "$ref %s leaves the schema directory", ref);
    }
    err = load_file(w->set, target, &root, w->why);
    if (err != LB_OK)
        return err;
    node = hash ? follow_pointer(root, hash + 1) : root;
    if (node == NULL)
        return lb_fail(w->why, LB_EINVAL, "$ref %s (in %s) points at nothing", ref, file);
    kept = loaded_path(w->set, target);
    if (kept != NULL)
        remember_ref(w->set, ref, kept, node);
    return check(w, target, node, inst);
}

/* Combinators: allOf (all), anyOf (at least one), oneOf (exactly one), not. */
static enum lb_err check_combinators(struct walk *w, const char *file, const struct keywords *k,
                                     const cJSON *inst)
{
    const cJSON *all = k->all_of;
    const cJSON *any = k->any_of;
    const cJSON *one = k->one_of;
    const cJSON *not = k->not_;
    const cJSON *sub;
    struct lb_why inner = {{0}};
    struct walk trial = *w; /* alternatives are tried with their reasons kept apart */
    enum lb_err err;
    int matches;

    trial.why = &inner;
    cJSON_ArrayForEach(sub, all)
    {
        if ((err = check(w, file, sub, inst)) != LB_OK)
            return err;
    }
    for (int pass = 0; pass < 2; pass++) {
        const cJSON *list = pass == 0 ? any : one;

        if (list == NULL)
            continue;
        matches = 0;
        err = LB_OK;
        cJSON_ArrayForEach(sub, list)
        {
            err = check(&trial, file, sub, inst);
            if (err == LB_OK)
                matches++;
            else if (err != LB_EINVAL)
                break;
        }
        if (err != LB_OK && err != LB_EINVAL)
            return lb_fail(w->why, err, "%s", inner.text);
        if (pass == 0 && matches == 0)
            return violation(w, "matches none of the anyOf alternatives (last: %s)", inner.text);
        if (pass == 1 && matches != 1)
            return matches ? violation(w, "matches more than one oneOf alternative")
                           : violation(w, "matches none of the oneOf alternatives (last: %s)",
                                       inner.text);
    }
    if (not != NULL) {
        err = check(&trial, file, not, inst);
        if (err == LB_OK)
            return violation(w, "matches a schema it must not match");
        if (err != LB_EINVAL)
            return lb_fail(w->why, err, "%s", inner.text);
    }
    return LB_OK;
}

static enum lb_err check(struct walk *w, const char *file, const cJSON *schema, const cJSON *inst)
{
    struct keywords k;
    const cJSON *ref, *type, *constant, *choices;
    enum lb_err err = LB_OK;

    if (cJSON_IsTrue(schema))
        return LB_OK;
    if (cJSON_IsFalse(schema))
        return violation(w, "is not allowed here");
    if (!cJSON_IsObject(schema))
        return lb_fail(w->why, LB_EINVAL, "schema in %s is neither an object nor a boolean", file);
    if (++w->depth > SCHEMA_DEPTH_MAX) {
        w->depth--;
        return lb_fail(w->why, LB_EINVAL, "schema nesting deeper than %d (a $ref loop?)",
                       SCHEMA_DEPTH_MAX);
    }
    /* Every keyword here is one vet_schema accepted when the file was loaded. */
    gather_keywords(schema, &k);
    ref = k.ref;
    type = k.type;
    constant = k.constant;
    choices = k.choices;
    if (ref != NULL && cJSON_IsString(ref))
        err = check_ref(w, file, ref->valuestring, inst);
    if (err == LB_OK && type != NULL)
        err = check_type(w, type, inst);
    if (err == LB_OK && constant != NULL && !cJSON_Compare(constant, inst, true))
        err = violation(w, "must be the constant %s",
                        cJSON_IsString(constant) ? constant->valuestring : "given by the schema");
    if (err == LB_OK && choices != NULL) {
        const cJSON *c;
        bool found = false;

        cJSON_ArrayForEach(c, choices) found = found || cJSON_Compare(c, inst, true);
        if (!found)
            err = violation(w, "is not one of the allowed values");
    }
    if (err == LB_OK)
        err = check_combinators(w, file, &k, inst);
    if (err == LB_OK && cJSON_IsString(inst))
        err = check_string(w, &k, inst);
    if (err == LB_OK && cJSON_IsNumber(inst))
        err = check_number(w, &k, inst);
    if (err == LB_OK && cJSON_IsObject(inst))
        err = check_object(w, file, &k, inst);
    if (err == LB_OK && cJSON_IsArray(inst))
        err = check_array(w, file, &k, inst);
    w->depth--;
    return err;
}

enum lb_err schema_validate(struct schema_set *set, const char *path, const cJSON *instance,
                            struct lb_why *why)
{
    struct walk w = {.set = set, .why = why};
    char normalized[512];
    const cJSON *root = NULL;
    enum lb_err err;

    if (!join_path(normalized, sizeof(normalized), "", path))
        return lb_fail(why, LB_EINVAL, "schema path %s is not under the schema directory", path);
    err = load_file(set, normalized, &root, why);
    if (err != LB_OK)
        return err;
    return check(&w, normalized, root, instance);
}
