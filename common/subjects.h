/*
 * subjects.h - the NATS subject naming scheme, defined once.
 *
 *   lb.evt.<domain>.<tenant>.<name>   events (JetStream stream LB_<DOMAIN>)
 *   lb.api.<service>.<endpoint>       requests and replies (queue group <service>)
 *   lb.dlq.<service>                  dead letters (stream LB_DLQ)
 *
 * The CloudEvents type of an event on lb.evt.<domain>.<tenant>.<name> is
 * "licensebus.<domain>.<name>.v<N>". Tokens are ASCII letters, digits, '_'
 * and '-'; a tenant starts with a letter or digit, except the reserved
 * tenant "_sys" used by platform-wide events such as clock ticks.
 */
#ifndef LB_SUBJECTS_H
#define LB_SUBJECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

/* Longest token (domain, tenant, name, service, endpoint), in bytes. */
#define SUBJECT_TOKEN_MAX 64
/* Longest subject built from these tokens, with its NUL. */
#define SUBJECT_MAX 272

/* The tenant of platform-wide events. */
#define SUBJECT_SYSTEM_TENANT "_sys"

/* Most partitions a deployment may have (docs/decisions.md D16). */
#define SUBJECT_PARTITIONS_MAX 1024

/*
 * The parts of an event subject. Publishers use lb.evt.<domain>.<tenant>.<name>;
 * in a partitioned deployment NATS maps it to ...<name>.<partition> before the
 * stream stores it.
 */
struct event_subject {
    char domain[SUBJECT_TOKEN_MAX + 1]; /* producer: a service or platform source */
    char tenant[SUBJECT_TOKEN_MAX + 1]; /* org id, or SUBJECT_SYSTEM_TENANT */
    char name[SUBJECT_TOKEN_MAX + 1];   /* event name, e.g. license_issued */
    int partition;                      /* the partition token, or -1 when absent */
};

/* True when `token` is a valid domain, name, service or endpoint token. */
bool subject_token_valid(const char *token);

/* True when `tenant` is a valid org id or the system tenant. */
bool subject_tenant_valid(const char *tenant);

/* Builds "lb.evt.<domain>.<tenant>.<name>" into ret_subject (SUBJECT_MAX). */
enum lb_err subject_event(char ret_subject[SUBJECT_MAX], const char *domain, const char *tenant,
                          const char *name);

/* Splits an event subject; LB_EINVAL with a reason if it is not one. */
enum lb_err subject_parse_event(const char *subject, struct event_subject *ret_parts,
                                struct lb_why *why);

/*
 * The tenant a request subject names: lb.api.<service>.<endpoint>.<tenant>
 * (the form partitioned deployments route on; NATS may append .<k>).
 * ret_tenant is "" for the plain lb.api.<service>.<endpoint>; LB_EINVAL
 * when the tenant token is not a valid tenant or extra tokens follow.
 */
enum lb_err subject_request_tenant(const char *subject, char ret_tenant[SUBJECT_TOKEN_MAX + 1],
                                   struct lb_why *why);

/* Builds "lb.api.<service>.<endpoint>". */
enum lb_err subject_api(char ret_subject[SUBJECT_MAX], const char *service, const char *endpoint);

/* Builds "lb.dlq.<service>". */
enum lb_err subject_dead_letter(char ret_subject[SUBJECT_MAX], const char *service);

/* The stream name for a domain: "LB_" + upper-cased domain ('-' becomes '_'). */
enum lb_err subject_stream_name(char ret_name[SUBJECT_MAX], const char *domain);

#endif
