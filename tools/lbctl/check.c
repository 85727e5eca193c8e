/*
 * check.c - what lbctl checks before anything leaves: envelopes, schemas,
 * subjects; and how it knows the system has applied what it sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbctl.h"
#include "subjects.h"

/* How often lbctl_wait_quiet looks at the consumers when little is left (the second look). */
#define QUIET_POLL_MS 20
/* The longest it waits between two looks while much is left. */
#define QUIET_POLL_MAX_MS 250

enum lb_err lbctl_check_schema(struct lbctl *ctl, const char *path, const cJSON *json,
                               struct lb_why *why)
{
    if (ctl->schemas == NULL && schema_set_open(ctl->schema_dir, &ctl->schemas, why) != LB_OK)
        return LB_ENOMEM;
    return schema_validate(ctl->schemas, path, json, why);
}

/* Splits "licensebus.<domain>.<name>.v<N>" into its parts. */
static enum lb_err split_type(const char *type, char *domain, char *name, int *version,
                              struct lb_why *why)
{
    char number[16];
    char *end = NULL;
    long v;

    if (sscanf(type, "licensebus.%64[A-Za-z0-9_-].%64[A-Za-z0-9_-].v%15[0-9]", domain, name,
               number) != 3 ||
        (v = strtol(number, &end, 10)) < 1 || v > 1000000 || *end != '\0')
        return lb_fail(why, LB_EINVAL, "type %.128s is not licensebus.<domain>.<name>.v<N>", type);
    *version = (int)v;
    return LB_OK;
}

enum lb_err lbctl_event_subject(const struct envelope *ev, char *ret_subject, size_t size,
                                struct lb_why *why)
{
    char domain[SUBJECT_TOKEN_MAX + 1], name[SUBJECT_TOKEN_MAX + 1];
    int version;
    enum lb_err err = split_type(ev->type, domain, name, &version, why);

    if (err != LB_OK)
        return err;
    if ((size_t)snprintf(ret_subject, size, "lb.evt.%s.%s.%s", domain, ev->tenant, name) >= size)
        return lb_fail(why, LB_EINVAL, "subject too long");
    return LB_OK;
}

enum lb_err lbctl_check_event(struct lbctl *ctl, const char *text, size_t len, const char *subject,
                              struct envelope *ev, struct lb_why *why)
{
    char domain[SUBJECT_TOKEN_MAX + 1], name[SUBJECT_TOKEN_MAX + 1], path[200];
    int version = 0;
    enum lb_err err;

    err = envelope_parse(text, len, ev, why);
    if (err == LB_OK && subject != NULL)
        err = envelope_check_subject(ev, subject, why);
    if (err == LB_OK)
        err = split_type(ev->type, domain, name, &version, why);
    if (err == LB_OK) {
        snprintf(path, sizeof(path), "events/%s.%s.v%d.json", domain, name, version);
        err = lbctl_check_schema(ctl, path, ev->root, why);
        if (err == LB_ENOTFOUND)
            err = lb_fail(why, LB_EUNSUPPORTED, "no schema for %s (%s)", ev->type, path);
        else if (err != LB_OK)
            err = lb_fail(why, err, "%s: %s", path, why->text);
    }
    if (err != LB_OK)
        envelope_release(ev);
    return err;
}

/*
 * Adds the stream's last sequence to *total and its consumers' work left (pending and unacked)
 * to *left, and tells whether a consumer still has work.
 */
static enum lb_err stream_busy(struct lbctl *ctl, const jsStreamInfo *si, uint64_t *total,
                               uint64_t *left, bool *ret_busy, char *who, size_t who_size)
{
    jsConsumerInfoList *list = NULL;

    *total += si->State.LastSeq;
    if (js_Consumers(&list, ctl->js, si->Config->Name, NULL, NULL) != NATS_OK)
        return LB_OK; /* no consumer */
    for (int i = 0; i < list->Count; i++) {
        const jsConsumerInfo *ci = list->List[i];

        *left += ci->NumPending + (uint64_t)ci->NumAckPending;
        if (ci->NumPending > 0 || ci->NumAckPending > 0) {
            *ret_busy = true;
            snprintf(who, who_size, "%s on %s: %llu pending, %lld unacked", ci->Name,
                     si->Config->Name, (unsigned long long)ci->NumPending,
                     (long long)ci->NumAckPending);
        }
    }
    jsConsumerInfoList_Destroy(list);
    return LB_OK;
}

/*
 * Quiet = no consumer of an LB_* stream has anything pending or unacked,
 * twice in a row with the same stream positions: a service acks only after
 * it committed and sent what it emitted, and the second look sees those
 * emissions land (and their consumers take them). Each look lists every
 * stream and consumer, which costs the server and lbctl about as much as a
 * few hundred events: while much is left, the next look waits for about
 * half the time the consumers' last rate says they need (at most
 * QUIET_POLL_MAX_MS), so the services get the machine.
 */
static int64_t next_look_ms(uint64_t left, uint64_t left_before, int64_t elapsed_ms)
{
    double rate;
    int64_t wait_ms;

    if (left_before == UINT64_MAX || left >= left_before || elapsed_ms <= 0)
        return QUIET_POLL_MS;
    rate = (double)(left_before - left) / (double)elapsed_ms; /* messages per ms */
    wait_ms = (int64_t)((double)left / rate / 2.0);
    if (wait_ms < QUIET_POLL_MS)
        return QUIET_POLL_MS;
    return wait_ms > QUIET_POLL_MAX_MS ? QUIET_POLL_MAX_MS : wait_ms;
}

enum lb_err lbctl_wait_quiet(struct lbctl *ctl, int timeout_ms, struct lb_why *why)
{
    int64_t deadline = nats_Now() + timeout_ms;
    uint64_t previous = UINT64_MAX;
    uint64_t left_before = UINT64_MAX;
    int64_t looked_ms = nats_Now();
    char who[256] = "";

    for (;;) {
        jsStreamInfoList *list = NULL;
        uint64_t total = 0;
        uint64_t left = 0;
        bool busy = false;
        natsStatus s = js_Streams(&list, ctl->js, NULL, NULL);
        int64_t now_ms = nats_Now();
        int64_t wait_ms;

        if (s != NATS_OK && s != NATS_NOT_FOUND)
            return lb_fail(why, LB_EUNAVAILABLE, "cannot list streams: %s", natsStatus_GetText(s));
        for (int i = 0; list != NULL && i < list->Count; i++) {
            if (strncmp(list->List[i]->Config->Name, "LB_", 3) == 0)
                stream_busy(ctl, list->List[i], &total, &left, &busy, who, sizeof(who));
        }
        jsStreamInfoList_Destroy(list);
        if (!busy && total == previous)
            return LB_OK;
        previous = busy ? UINT64_MAX : total;
        if (now_ms > deadline)
            return lb_fail(why, LB_EUNAVAILABLE, "the system did not settle in %d ms%s%s",
                           timeout_ms, busy ? ": " : "", who);
        wait_ms = busy ? next_look_ms(left, left_before, now_ms - looked_ms) : QUIET_POLL_MS;
        left_before = busy ? left : UINT64_MAX;
        looked_ms = now_ms;
        nats_Sleep(wait_ms);
    }
}
