/*
 * rules.c - the rules of subscriptions without I/O: names, statuses and the
 * transitions between them, trial conversion, quantities.
 *
 * Status transitions (anything else is a conflict):
 *
 *   in_trial --convert--> active        (billing starts now)
 *   in_trial --sweep----> active        (at trial end; billing starts at trial end)
 *   in_trial|active --suspend--> suspended
 *   suspended --reactivate--> in_trial  (trial still running, never converted)
 *   suspended --reactivate--> active    (otherwise; billing starts now if it never did)
 *   in_trial|active|suspended --cancel--> cancelled (billing ends now; final)
 */
#include <string.h>

#include "subscriptions.h"

static const char *const basis_names[] = {"users", "devices", "both"};
static const char *const status_names[] = {"in_trial", "active", "suspended", "cancelled"};
static const char *const command_names[] = {"convert", "suspend", "reactivate", "cancel"};

const char *seat_basis_name(enum seat_basis b)
{
    return (unsigned)b < 3 ? basis_names[b] : "?";
}

bool seat_basis_parse(const char *text, enum seat_basis *ret_basis)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(text, basis_names[i]) == 0) {
            *ret_basis = (enum seat_basis)i;
            return true;
        }
    }
    return false;
}

const char *sub_status_name(enum sub_status s)
{
    return (unsigned)s < 4 ? status_names[s] : "?";
}

bool sub_status_parse(const char *text, enum sub_status *ret_status)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(text, status_names[i]) == 0) {
            *ret_status = (enum sub_status)i;
            return true;
        }
    }
    return false;
}

const char *sub_command_name(enum sub_command c)
{
    return (unsigned)c < 4 ? command_names[c] : "?";
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_lower(c) || is_digit(c) || (c >= 'A' && c <= 'Z');
}

bool subs_name_id_valid(const char *text)
{
    size_t len = strlen(text);

    if (len == 0 || len > SUBS_NAME_ID_MAX || !is_lower(text[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        if (!is_lower(text[i]) && !is_digit(text[i]) && text[i] != '_')
            return false;
    }
    return true;
}

bool subs_entity_id_valid(const char *text)
{
    size_t len = strlen(text);

    if (len == 0 || len > SUBS_ENTITY_MAX || !is_alnum(text[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        if (!is_alnum(text[i]) && strchr("_.:@-", text[i]) == NULL)
            return false;
    }
    return true;
}

bool seat_basis_counts_users(enum seat_basis b)
{
    return b == SEAT_USERS || b == SEAT_BOTH;
}

bool seat_basis_counts_devices(enum seat_basis b)
{
    return b == SEAT_DEVICES || b == SEAT_BOTH;
}

bool sub_status_grants(enum sub_status s)
{
    return s == SUB_IN_TRIAL || s == SUB_ACTIVE;
}

static enum lb_err refuse(const struct subscription *sub, enum sub_command cmd, const char *only,
                          struct lb_why *why)
{
    return lb_fail(why, LB_ECONFLICT, "cannot %s subscription %s: it is %s; only %s",
                   sub_command_name(cmd), sub->id, sub_status_name(sub->status), only);
}

enum lb_err sub_transition(struct subscription *sub, enum sub_command cmd, int64_t now_ms,
                           const char **ret_change, struct lb_why *why)
{
    switch (cmd) {
    case CMD_CONVERT:
        if (sub->status != SUB_IN_TRIAL)
            return refuse(sub, cmd, "an in_trial subscription can be converted", why);
        sub->status = SUB_ACTIVE;
        sub->billing_start_ms = now_ms;
        *ret_change = "converted";
        return LB_OK;
    case CMD_SUSPEND:
        if (sub->status != SUB_IN_TRIAL && sub->status != SUB_ACTIVE)
            return refuse(sub, cmd, "an in_trial or active subscription can be suspended", why);
        sub->status = SUB_SUSPENDED;
        *ret_change = "suspended";
        return LB_OK;
    case CMD_REACTIVATE:
        if (sub->status != SUB_SUSPENDED)
            return refuse(sub, cmd, "a suspended subscription can be reactivated", why);
        if (sub->billing_start_ms == SUBS_NO_TIME && sub->trial_end_ms != SUBS_NO_TIME &&
            sub->trial_end_ms > now_ms) {
            sub->status = SUB_IN_TRIAL;
        } else {
            sub->status = SUB_ACTIVE;
            if (sub->billing_start_ms == SUBS_NO_TIME)
                sub->billing_start_ms = now_ms;
        }
        *ret_change = "reactivated";
        return LB_OK;
    case CMD_CANCEL:
        if (sub->status == SUB_CANCELLED)
            return refuse(sub, cmd, "a subscription that is not cancelled yet can be cancelled",
                          why);
        sub->status = SUB_CANCELLED;
        sub->billing_end_ms = now_ms;
        *ret_change = "cancelled";
        return LB_OK;
    }
    return lb_fail(why, LB_EINTERNAL, "unknown command %d", (int)cmd);
}

bool sub_trial_due(const struct subscription *sub, int64_t now_ms)
{
    return sub->status == SUB_IN_TRIAL && sub->trial_end_ms != SUBS_NO_TIME &&
           sub->trial_end_ms <= now_ms;
}

void sub_convert_at_trial_end(struct subscription *sub)
{
    sub->status = SUB_ACTIVE;
    sub->billing_start_ms = sub->trial_end_ms;
}

enum lb_err sub_set_quantity(struct subscription *sub, int64_t quantity, struct lb_why *why)
{
    if (quantity < 1 || quantity > SUBS_QUANTITY_MAX)
        return lb_fail(why, LB_EINVAL, "quantity %lld is outside [1, %d]", (long long)quantity,
                       SUBS_QUANTITY_MAX);
    if (sub->status == SUB_CANCELLED)
        return lb_fail(why, LB_ECONFLICT,
                       "cannot change the quantity of subscription %s: it is cancelled", sub->id);
    sub->quantity = quantity;
    return LB_OK;
}
