/*
 * subjects.c - building and splitting licensebus subjects.
 *
 * Builders check every token, so a subject built here is always one that
 * subject_parse_event (or the API and dead-letter schemes) accepts.
 */
#include "subjects.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The first two tokens of every event subject. */
#define EVENT_PREFIX     "lb.evt."
#define EVENT_PREFIX_LEN (sizeof(EVENT_PREFIX) - 1)

/* Turns the value of a macro into a string literal, e.g. for SUBJECT_TOKEN_MAX. */
#define STRINGIFY(x)  #x
#define MACRO_TEXT(x) STRINGIFY(x)

/* Characters of a subject quoted in a reason. */
#define REASON_SUBJECT_MAX 80

/* Tokens after the prefix: domain, tenant, name, and the optional partition. */
#define EVENT_TOKENS     3
#define EVENT_TOKENS_MAX 4

/* Prefix of every stream name. */
#define STREAM_PREFIX     "LB_"
#define STREAM_PREFIX_LEN (sizeof(STREAM_PREFIX) - 1)

/* One token of a subject being split: it points into the subject. */
struct token {
    const char *start; /* first byte */
    size_t len;        /* bytes up to the next '.' or the end */
};

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_token_char(char c)
{
    return is_alnum(c) || c == '_' || c == '-';
}

/* Why `len` bytes at `t` are not a token, or NULL when they are one. */
static const char *token_problem(const char *t, size_t len)
{
    if (len == 0)
        return "is empty";
    if (len > SUBJECT_TOKEN_MAX)
        return "is longer than " MACRO_TEXT(SUBJECT_TOKEN_MAX) " bytes";
    for (size_t i = 0; i < len; i++) {
        if (!is_token_char(t[i]))
            return "has a character outside [A-Za-z0-9_-]";
    }
    return NULL;
}

/* Why `len` bytes at `t` are not a tenant, or NULL when they are one. */
static const char *tenant_problem(const char *t, size_t len)
{
    const char *problem;

    if (len == strlen(SUBJECT_SYSTEM_TENANT) && memcmp(t, SUBJECT_SYSTEM_TENANT, len) == 0)
        return NULL;
    problem = token_problem(t, len);
    if (problem != NULL)
        return problem;
    if (!is_alnum(t[0]))
        return "must start with a letter or digit (or be _sys)";
    return NULL;
}

bool subject_token_valid(const char *token)
{
    return token != NULL && token_problem(token, strnlen(token, SUBJECT_TOKEN_MAX + 1)) == NULL;
}

bool subject_tenant_valid(const char *tenant)
{
    return tenant != NULL && tenant_problem(tenant, strnlen(tenant, SUBJECT_TOKEN_MAX + 1)) == NULL;
}

/* Formats a subject whose tokens are already checked; it always fits. */
static enum lb_err format_subject(char ret_subject[SUBJECT_MAX], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum lb_err format_subject(char ret_subject[SUBJECT_MAX], const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(ret_subject, SUBJECT_MAX, fmt, ap);
    va_end(ap);
    return n < 0 || n >= SUBJECT_MAX ? LB_EINTERNAL : LB_OK;
}

enum lb_err subject_event(char ret_subject[SUBJECT_MAX], const char *domain, const char *tenant,
                          const char *name)
{
    if (!subject_token_valid(domain) || !subject_tenant_valid(tenant) || !subject_token_valid(name))
        return LB_EINVAL;
    return format_subject(ret_subject, EVENT_PREFIX "%s.%s.%s", domain, tenant, name);
}

enum lb_err subject_api(char ret_subject[SUBJECT_MAX], const char *service, const char *endpoint)
{
    if (!subject_token_valid(service) || !subject_token_valid(endpoint))
        return LB_EINVAL;
    return format_subject(ret_subject, "lb.api.%s.%s", service, endpoint);
}

enum lb_err subject_dead_letter(char ret_subject[SUBJECT_MAX], const char *service)
{
    if (!subject_token_valid(service))
        return LB_EINVAL;
    return format_subject(ret_subject, "lb.dlq.%s", service);
}

enum lb_err subject_stream_name(char ret_name[SUBJECT_MAX], const char *domain)
{
    size_t len;
    char c;

    if (!subject_token_valid(domain))
        return LB_EINVAL;
    len = strlen(domain);
    memcpy(ret_name, STREAM_PREFIX, STREAM_PREFIX_LEN);
    for (size_t i = 0; i < len; i++) {
        c = domain[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        ret_name[STREAM_PREFIX_LEN + i] = (char)(c == '-' ? '_' : c);
    }
    ret_name[STREAM_PREFIX_LEN + len] = '\0';
    return LB_OK;
}

/* The partition a token names ("0".."SUBJECT_PARTITIONS_MAX-1"), or -1. */
static int partition_number(const char *t, size_t len)
{
    int n = 0;

    if (len == 0 || len > 4 || (len > 1 && t[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (t[i] < '0' || t[i] > '9')
            return -1;
        n = n * 10 + (t[i] - '0');
    }
    return n < SUBJECT_PARTITIONS_MAX ? n : -1;
}

/* Copies a checked token into a field of struct event_subject. */
static void copy_token(char ret_field[SUBJECT_TOKEN_MAX + 1], const struct token *t)
{
    memcpy(ret_field, t->start, t->len);
    ret_field[t->len] = '\0';
}

enum lb_err subject_parse_event(const char *subject, struct event_subject *ret_parts,
                                struct lb_why *why)
{
    static const char *const roles[EVENT_TOKENS] = {"domain", "tenant", "name"};
    struct token tokens[EVENT_TOKENS_MAX];
    struct event_subject parts = {.partition = -1};
    size_t count = 0;
    const char *p;

    if (subject == NULL || subject[0] == '\0')
        return lb_fail(why, LB_EINVAL, "the subject is empty");
    if (strnlen(subject, SUBJECT_MAX) >= SUBJECT_MAX)
        return lb_fail(why, LB_EINVAL, "subject %.*s... is longer than %d bytes",
                       REASON_SUBJECT_MAX, subject, SUBJECT_MAX - 1);
    if (strncmp(subject, EVENT_PREFIX, EVENT_PREFIX_LEN) != 0)
        return lb_fail(why, LB_EINVAL,
                       "subject %.*s is not an event subject (lb.evt.<domain>.<tenant>.<name>)",
                       REASON_SUBJECT_MAX, subject);
    p = subject + EVENT_PREFIX_LEN;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);

        if (len == 0)
            return lb_fail(why, LB_EINVAL, "subject %.*s has an empty token at byte %zu",
                           REASON_SUBJECT_MAX, subject, (size_t)(p - subject));
        if (len == 1 && (*p == '*' || *p == '>'))
            return lb_fail(why, LB_EINVAL,
                           "subject %.*s has the wildcard '%c': events are "
                           "published on concrete subjects",
                           REASON_SUBJECT_MAX, subject, *p);
        if (count < EVENT_TOKENS_MAX)
            tokens[count] = (struct token){.start = p, .len = len};
        count++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (count != EVENT_TOKENS && count != EVENT_TOKENS_MAX)
        return lb_fail(why, LB_EINVAL,
                       "subject %.*s has %zu tokens; an event subject has 5 "
                       "(lb.evt.<domain>.<tenant>.<name>), or 6 with the partition token "
                       "NATS appends",
                       REASON_SUBJECT_MAX, subject, count + 2);
    if (count == EVENT_TOKENS_MAX) {
        parts.partition = partition_number(tokens[3].start, tokens[3].len);
        if (parts.partition < 0)
            return lb_fail(why, LB_EINVAL,
                           "subject %.*s: the partition token must be a number below %d",
                           REASON_SUBJECT_MAX, subject, SUBJECT_PARTITIONS_MAX);
    }
    for (size_t i = 0; i < EVENT_TOKENS; i++) {
        const struct token *t = &tokens[i];
        const char *problem =
            i == 1 ? tenant_problem(t->start, t->len) : token_problem(t->start, t->len);

        if (problem != NULL)
            return lb_fail(why, LB_EINVAL, "subject %.*s: the %s token \"%.*s\" %s",
                           REASON_SUBJECT_MAX, subject, roles[i],
                           (int)(t->len < SUBJECT_TOKEN_MAX ? t->len : SUBJECT_TOKEN_MAX), t->start,
                           problem);
    }
    copy_token(parts.domain, &tokens[0]);
    copy_token(parts.tenant, &tokens[1]);
    copy_token(parts.name, &tokens[2]);
    *ret_parts = parts;
    return LB_OK;
}

enum lb_err subject_request_tenant(const char *subject, char ret_tenant[SUBJECT_TOKEN_MAX + 1],
                                   struct lb_why *why)
{
    struct token tokens[6];
    size_t count = 0;
    const char *p = subject;

    ret_tenant[0] = '\0';
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot != NULL ? (size_t)(dot - p) : strlen(p);

        if (count < 6)
            tokens[count] = (struct token){.start = p, .len = len};
        count++;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (count <= 4)
        return LB_OK; /* lb.api.<service>.<endpoint> */
    if (count > 6 || (count == 6 && partition_number(tokens[5].start, tokens[5].len) < 0))
        return lb_fail(why, LB_EINVAL,
                       "request subject %.*s is not lb.api.<service>.<endpoint>[.<tenant>]",
                       REASON_SUBJECT_MAX, subject);
    if (tenant_problem(tokens[4].start, tokens[4].len) != NULL)
        return lb_fail(why, LB_EINVAL, "request subject %.*s: the tenant token %s",
                       REASON_SUBJECT_MAX, subject, tenant_problem(tokens[4].start, tokens[4].len));
    copy_token(ret_tenant, &tokens[4]);
    return LB_OK;
}
