/*
 * subjects.c - building and splitting licensebus subjects.
 */
#include "subjects.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

bool subject_token_valid(const char *token)
{
    size_t len = strlen(token);

    if (len == 0 || len > SUBJECT_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!token_char(token[i]))
            return false;
    }
    return true;
}

bool subject_tenant_valid(const char *tenant)
{
    if (strcmp(tenant, SUBJECT_SYSTEM_TENANT) == 0)
        return true;
    return subject_token_valid(tenant) && isalnum((unsigned char)tenant[0]);
}

/* Joins `prefix` and the non-NULL tokens with dots into ret_subject. */
static enum lb_err join(char ret_subject[SUBJECT_MAX], const char *prefix, const char *a,
                        const char *b, const char *c)
{
    int n = snprintf(ret_subject, SUBJECT_MAX, "%s.%s%s%s%s%s", prefix, a, b ? "." : "", b ? b : "",
                     c ? "." : "", c ? c : "");

    return n < 0 || n >= SUBJECT_MAX ? LB_EINVAL : LB_OK;
}

enum lb_err subject_event(char ret_subject[SUBJECT_MAX], const char *domain, const char *tenant,
                          const char *name)
{
    if (!subject_token_valid(domain) || !subject_tenant_valid(tenant) || !subject_token_valid(name))
        return LB_EINVAL;
    return join(ret_subject, "lb.evt", domain, tenant, name);
}

enum lb_err subject_api(char ret_subject[SUBJECT_MAX], const char *service, const char *endpoint)
{
    if (!subject_token_valid(service) || !subject_token_valid(endpoint))
        return LB_EINVAL;
    return join(ret_subject, "lb.api", service, endpoint, NULL);
}

enum lb_err subject_dead_letter(char ret_subject[SUBJECT_MAX], const char *service)
{
    if (!subject_token_valid(service))
        return LB_EINVAL;
    return join(ret_subject, "lb.dlq", service, NULL, NULL);
}

enum lb_err subject_stream_name(char ret_name[SUBJECT_MAX], const char *domain)
{
    size_t len = strlen(domain);

    if (!subject_token_valid(domain))
        return LB_EINVAL;
    memcpy(ret_name, "LB_", 3);
    for (size_t i = 0; i < len; i++)
        ret_name[3 + i] = (char)(domain[i] == '-' ? '_' : toupper((unsigned char)domain[i]));
    ret_name[3 + len] = '\0';
    return LB_OK;
}

/* Copies the token that starts at *p up to the next '.' or the end. */
static bool take_token(const char **p, char ret_token[SUBJECT_TOKEN_MAX + 1])
{
    const char *dot = strchr(*p, '.');
    size_t len = dot ? (size_t)(dot - *p) : strlen(*p);

    if (len == 0 || len > SUBJECT_TOKEN_MAX)
        return false;
    memcpy(ret_token, *p, len);
    ret_token[len] = '\0';
    *p += len + (dot ? 1 : 0);
    return dot != NULL || **p == '\0';
}

enum lb_err subject_parse_event(const char *subject, struct event_subject *ret_parts,
                                struct lb_why *why)
{
    struct event_subject parts;
    const char *p = subject;

    if (strncmp(subject, "lb.evt.", 7) != 0)
        return lb_fail(why, LB_EINVAL, "subject %.80s is not an event subject (lb.evt.*)", subject);
    p += 7;
    if (!take_token(&p, parts.domain) || !take_token(&p, parts.tenant) ||
        !take_token(&p, parts.name) || *p != '\0' || p[-1] == '.')
        return lb_fail(why, LB_EINVAL, "subject %.80s is not lb.evt.<domain>.<tenant>.<name>",
                       subject);
    if (!subject_token_valid(parts.domain) || !subject_token_valid(parts.name))
        return lb_fail(why, LB_EINVAL, "subject %.80s has an invalid domain or name token",
                       subject);
    if (!subject_tenant_valid(parts.tenant))
        return lb_fail(why, LB_EINVAL, "subject %.80s has an invalid tenant token", subject);
    *ret_parts = parts;
    return LB_OK;
}
