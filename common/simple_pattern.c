/*
 * simple_pattern.c - anchored runs of character classes (see simple_pattern.h).
 */
#include "simple_pattern.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Characters an escape may stand for literally. */
static const char escapable[] = ".-+*?()[]{}|/\\^$=:@!,";

static void set_add(struct simple_atom *a, unsigned c)
{
    a->set[c >> 6] |= (uint64_t)1 << (c & 63);
}

static bool set_has(const struct simple_atom *a, unsigned char c)
{
    return c < 128 && (a->set[c >> 6] >> (c & 63) & 1) != 0;
}

static bool sets_meet(const struct simple_atom *a, const struct simple_atom *b)
{
    return (a->set[0] & b->set[0]) != 0 || (a->set[1] & b->set[1]) != 0;
}

static bool printable(char c)
{
    return c > 0x20 && c < 0x7f;
}

/* A bracket class starting after '['; *p is left after ']'. */
static bool parse_class(const char **p, struct simple_atom *a)
{
    const char *s = *p;

    if (*s == '^' || *s == ']')
        return false; /* negated or empty: not ours */
    while (*s != ']') {
        char lo = *s;
        char hi;

        if (lo == '\0')
            return false;
        if (lo == '\\') {
            if (s[1] == 'd') {
                for (unsigned c = '0'; c <= '9'; c++)
                    set_add(a, c);
                s += 2;
                continue;
            }
            if (s[1] == '\0' || strchr(escapable, s[1]) == NULL)
                return false;
            lo = s[1];
            s++;
        } else if (!printable(lo)) {
            return false;
        }
        s++;
        hi = lo;
        if (s[0] == '-' && s[1] != ']' && s[1] != '\0') {
            hi = s[1];
            if (hi == '\\' || !printable(hi) || hi < lo)
                return false;
            s += 2;
        }
        for (unsigned c = (unsigned char)lo; c <= (unsigned char)hi; c++)
            set_add(a, c);
    }
    *p = s + 1;
    return true;
}

static bool parse_count(const char **p, int *ret)
{
    char *end;
    long v = strtol(*p, &end, 10);

    if (end == *p || v < 0 || v > 100000)
        return false;
    *ret = (int)v;
    *p = end;
    return true;
}

/* A quantifier after an atom, if any. */
static bool parse_quantifier(const char **p, struct simple_atom *a)
{
    const char *s = *p;

    a->min = a->max = 1;
    if (*s == '+') {
        a->max = INT32_MAX;
        s++;
    } else if (*s == '*') {
        a->min = 0;
        a->max = INT32_MAX;
        s++;
    } else if (*s == '?') {
        a->min = 0;
        s++;
    } else if (*s == '{') {
        s++;
        if (!parse_count(&s, &a->min))
            return false;
        a->max = a->min;
        if (*s == ',') {
            s++;
            a->max = INT32_MAX;
            if (*s != '}' && !parse_count(&s, &a->max))
                return false;
        }
        if (*s != '}' || a->max < a->min)
            return false;
        s++;
    }
    if (*s == '?' || *s == '+' || *s == '*' || *s == '{')
        return false; /* lazy or possessive: not ours */
    *p = s;
    return true;
}

/* One alternative from `s` up to `end`. */
static bool parse_alt(const char *s, const char *end, struct simple_alt *alt)
{
    while (s < end) {
        struct simple_atom *a;

        if (alt->count == SIMPLE_PATTERN_ATOMS)
            return false;
        a = &alt->atoms[alt->count];
        memset(a, 0, sizeof(*a));
        if (*s == '[') {
            s++;
            if (!parse_class(&s, a))
                return false;
        } else if (*s == '\\') {
            if (s[1] == 'd') {
                for (unsigned c = '0'; c <= '9'; c++)
                    set_add(a, c);
            } else if (s[1] != '\0' && strchr(escapable, s[1]) != NULL) {
                set_add(a, (unsigned char)s[1]);
            } else {
                return false;
            }
            s += 2;
        } else if (printable(*s) && strchr(".()|*+?{}^$[]", *s) == NULL) {
            set_add(a, (unsigned char)*s);
            s++;
        } else {
            return false;
        }
        if (!parse_quantifier(&s, a) || s > end)
            return false;
        alt->count++;
    }
    return true;
}

/* Greedy is exact when a class of variable count cannot take what follows it. */
static bool greedy_is_exact(const struct simple_alt *alt)
{
    for (int i = 0; i < alt->count; i++) {
        if (alt->atoms[i].min == alt->atoms[i].max)
            continue;
        for (int k = i + 1; k < alt->count; k++) {
            if (sets_meet(&alt->atoms[i], &alt->atoms[k]))
                return false;
            if (alt->atoms[k].min > 0)
                break;
        }
    }
    return true;
}

/* A leading (?!(?:w1|w2|...)$) of plain words: kept as words; *p moves past it. */
static bool parse_refused_words(const char **p, struct simple_pattern *sp)
{
    const char *s = *p + 6; /* after "(?!(?:" */
    const char *close = strstr(s, ")$)");

    if (close == NULL)
        return false;
    while (s < close) {
        size_t n = strcspn(s, "|)");

        if (n == 0 || n > SIMPLE_PATTERN_REFUSED_MAX || s + n > close ||
            sp->refused_count == SIMPLE_PATTERN_REFUSED)
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
                !(s[i] >= '0' && s[i] <= '9') && s[i] != '_')
                return false;
        }
        memcpy(sp->refused[sp->refused_count], s, n);
        sp->refused[sp->refused_count][n] = '\0';
        sp->refused_count++;
        s += n;
        if (*s == '|')
            s++;
    }
    *p = close + 3;
    return true;
}

bool simple_pattern_compile(const char *source, struct simple_pattern *ret_pattern)
{
    size_t len = strlen(source);
    const char *body;
    const char *end;

    memset(ret_pattern, 0, sizeof(*ret_pattern));
    if (len < 2 || source[0] != '^')
        return false;
    body = source + 1;
    end = source + len;
    if (strncmp(body, "(?!(?:", 6) == 0 && !parse_refused_words(&body, ret_pattern))
        return false;
    ret_pattern->anchored_end = end[-1] == '$' && (len < 2 || end[-2] != '\\');
    if (ret_pattern->anchored_end)
        end--;
    if (*body == '(' && end > body + 1 && end[-1] == ')' && ret_pattern->anchored_end) {
        /* ^(A|B|...)$ with no other group inside */
        const char *alt = body + 1;

        end--;
        for (const char *q = alt; q < end; q++) {
            if (*q == '\\' && q + 1 < end) {
                q++;
            } else if (*q == '(' || *q == ')') {
                return false;
            }
        }
        for (const char *q = alt;;) {
            if (q == end || *q == '|') {
                if (ret_pattern->alt_count == SIMPLE_PATTERN_ALTS ||
                    !parse_alt(alt, q, &ret_pattern->alts[ret_pattern->alt_count]))
                    return false;
                ret_pattern->alt_count++;
                if (q == end)
                    break;
                alt = ++q;
            } else {
                q += *q == '\\' && q + 1 < end ? 2 : 1;
            }
        }
    } else {
        if (!parse_alt(body, end, &ret_pattern->alts[0]))
            return false;
        ret_pattern->alt_count = 1;
    }
    for (int i = 0; i < ret_pattern->alt_count; i++) {
        if (!greedy_is_exact(&ret_pattern->alts[i]))
            return false;
    }
    return true;
}

static bool alt_matches(const struct simple_alt *alt, bool anchored_end, const char *text)
{
    const unsigned char *s = (const unsigned char *)text;

    for (int i = 0; i < alt->count; i++) {
        const struct simple_atom *a = &alt->atoms[i];
        int n = 0;

        while (n < a->max && *s != '\0' && set_has(a, *s)) {
            n++;
            s++;
        }
        if (n < a->min)
            return false;
    }
    return !anchored_end || *s == '\0';
}

bool simple_pattern_match(const struct simple_pattern *p, const char *text)
{
    for (int i = 0; i < p->refused_count; i++) {
        if (strcmp(p->refused[i], text) == 0)
            return false;
    }
    for (int i = 0; i < p->alt_count; i++) {
        if (alt_matches(&p->alts[i], p->anchored_end, text))
            return true;
    }
    return false;
}
