/*
 * rules.c - usage's pure rules: identifiers, the device allowance of one
 * license, and how a customer's consumption is split among subscriptions.
 * No I/O: unit-tested in tests/unit/test_usage_rules.c.
 */
#include <string.h>

#include "envelope.h"
#include "usage.h"

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool usage_entity_id_valid(const char *id)
{
    size_t len = strlen(id);

    if (len == 0 || len > USAGE_ID_MAX || !is_alnum(id[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        if (!is_alnum(id[i]) && strchr("_.:@-", id[i]) == NULL)
            return false;
    }
    return true;
}

bool usage_license_key_valid(const char *key)
{
    size_t len = strlen(key);
    size_t group = 0;
    size_t groups = 1;

    if (len > USAGE_KEY_MAX)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = key[i];

        if (c == '-' || c == '\0') {
            if (group < 4 || group > 8)
                return false;
            if (c == '-')
                groups++;
            group = 0;
        } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
            group++;
        } else {
            return false;
        }
    }
    return groups >= 2 && groups <= 8;
}

bool usage_date_parse(const char *text, int64_t *ret_ms)
{
    char full[32];
    char back[32];
    int64_t ms;

    if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (size_t i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return false;
    }
    memcpy(full, text, 10);
    memcpy(full + 10, "T00:00:00Z", 11);
    if (envelope_parse_time(full, &ms) != LB_OK)
        return false;
    /* A day that does not exist (02-30) normalizes to another: refuse it. */
    envelope_format_time(ms, back);
    if (strncmp(back, text, 10) != 0)
        return false;
    if (ret_ms != NULL)
        *ret_ms = ms;
    return true;
}

static const char *const kind_names[] = {"business", "personal"};
static const char *const basis_names[] = {"users", "devices", "both"};
static const char *const status_names[] = {"in_trial", "active", "suspended", "cancelled"};

static bool parse_name(const char *text, const char *const *names, int n, int *ret)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(text, names[i]) == 0) {
            *ret = i;
            return true;
        }
    }
    return false;
}

const char *device_kind_name(enum device_kind kind)
{
    return kind_names[kind];
}

bool device_kind_parse(const char *text, enum device_kind *ret)
{
    int i;

    if (!parse_name(text, kind_names, 2, &i))
        return false;
    *ret = (enum device_kind)i;
    return true;
}

const char *seat_basis_name(enum seat_basis basis)
{
    return basis_names[basis];
}

bool seat_basis_parse(const char *text, enum seat_basis *ret)
{
    int i;

    if (!parse_name(text, basis_names, 3, &i))
        return false;
    *ret = (enum seat_basis)i;
    return true;
}

const char *sub_status_name(enum sub_status status)
{
    return status_names[status];
}

bool sub_status_parse(const char *text, enum sub_status *ret)
{
    int i;

    if (!parse_name(text, status_names, 4, &i))
        return false;
    *ret = (enum sub_status)i;
    return true;
}

enum lb_err usage_allowance_check(enum device_kind kind, int64_t business, int64_t personal,
                                  struct lb_why *why)
{
    if (kind == DEVICE_BUSINESS && business >= USAGE_BUSINESS_PER_USER)
        return lb_fail(why, LB_ECONFLICT,
                       "the user already has %lld business device(s); one license covers %d "
                       "business and %d personal devices",
                       (long long)business, USAGE_BUSINESS_PER_USER, USAGE_PERSONAL_PER_USER);
    if (kind == DEVICE_PERSONAL && personal >= USAGE_PERSONAL_PER_USER)
        return lb_fail(why, LB_ECONFLICT,
                       "the user already has %lld personal device(s); one license covers %d "
                       "business and %d personal devices",
                       (long long)personal, USAGE_BUSINESS_PER_USER, USAGE_PERSONAL_PER_USER);
    return LB_OK;
}

static bool counts_users(const struct sub_usage *sub)
{
    return sub->status != SUB_CANCELLED && sub->basis != BASIS_DEVICES;
}

static bool takes_devices(const struct sub_usage *sub)
{
    return (sub->status == SUB_IN_TRIAL || sub->status == SUB_ACTIVE) && sub->basis != BASIS_USERS;
}

void consumption_attribute(struct consumption *c)
{
    int64_t left = c->unassociated_devices;
    size_t last = c->n;

    c->consumed = 0;
    c->purchased = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct sub_usage *sub = &c->subs[i];

        if (!counts_users(sub))
            sub->users = 0;
        sub->devices = 0;
        if (takes_devices(sub)) {
            int64_t room = sub->quantity - sub->users;
            int64_t take = room <= 0 ? 0 : (room < left ? room : left);

            sub->devices = take;
            left -= take;
            last = i;
        }
    }
    /* What no subscription has room for goes to the last one that takes devices. */
    if (last < c->n) {
        c->subs[last].devices += left;
        left = 0;
    }
    c->unattributed = left;
    for (size_t i = 0; i < c->n; i++) {
        struct sub_usage *sub = &c->subs[i];

        sub->consumed = sub->users + sub->devices;
        sub->over = sub->status != SUB_CANCELLED && sub->consumed > sub->quantity;
        c->consumed += sub->consumed;
        if (sub->status != SUB_CANCELLED)
            c->purchased += sub->quantity;
    }
    c->consumed += c->unattributed;
    c->over = c->consumed > c->purchased;
}

bool user_is_licensed(const struct user_row *u)
{
    return u->seat_count > 0 && u->released_ms == 0 && u->deleted_ms == 0;
}
