/*
 * simple_pattern.h - the patterns the contract uses most, matched without
 * a regex engine.
 *
 * Most `pattern`s in schemas/ are anchored runs of ASCII character classes
 * with counts: ids (`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`), event types,
 * times, ULIDs, possibly as a top-level alternation (`^(A|B)$`), possibly
 * after a lookahead refusing whole words (`^(?!(?:id|type)$)[a-z]+$`, the
 * envelope's extension names, checked for every member). glibc's
 * regexec spends microseconds on each; `lbctl replay` checks a log of a
 * million events before sending any, so here they are a table of classes
 * walked once. A pattern outside that form (groups with counts, negated
 * classes, `.`, lookarounds) is left to the regex engine.
 *
 * Matching is greedy without backtracking, which is exact only when no
 * class of variable count can take what the next class needs: compile
 * accepts a pattern only if that holds.
 */
#ifndef LB_SIMPLE_PATTERN_H
#define LB_SIMPLE_PATTERN_H

#include <stdbool.h>
#include <stdint.h>

/* Most classes in one alternative, and alternatives in a pattern. */
#define SIMPLE_PATTERN_ATOMS 48
#define SIMPLE_PATTERN_ALTS  4
/* Most words a leading `(?!(?:w1|w2|...)$)` may refuse, and their longest. */
#define SIMPLE_PATTERN_REFUSED     16
#define SIMPLE_PATTERN_REFUSED_MAX 31

/* One character class (ASCII only) and how many of it. */
struct simple_atom {
    uint64_t set[2]; /* bit c: character c belongs */
    int min;
    int max; /* INT32_MAX: no bound */
};

/* A sequence of classes. */
struct simple_alt {
    struct simple_atom atoms[SIMPLE_PATTERN_ATOMS];
    int count;
};

/* A compiled pattern: any alternative matches the start of the text (the whole text when
 * anchored at the end). */
struct simple_pattern {
    struct simple_alt alts[SIMPLE_PATTERN_ALTS];
    int alt_count;
    bool anchored_end;
    char refused[SIMPLE_PATTERN_REFUSED][SIMPLE_PATTERN_REFUSED_MAX + 1]; /* whole texts refused */
    int refused_count;
};

/* Compiles an ECMA-262 pattern; false when it is not of the simple form. */
bool simple_pattern_compile(const char *source, struct simple_pattern *ret_pattern);

/* Whether `text` matches (as ECMA-262 `RegExp.test` would). */
bool simple_pattern_match(const struct simple_pattern *p, const char *text);

#endif
