/*
 * license.c - the rules of licenses, without I/O: status from dates, keys,
 * dates, activation checks and the "shown under" rule.
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "ids.h"
#include "licensing.h"

static const char *const delivery_names[] = {"on_premises", "cloud"};
static const char *const type_names[] = {"evaluation", "purchased"};
static const char *const status_names[] = {"active", "expiring", "expired"};

const char *lic_delivery_name(enum lic_delivery d)
{
    return delivery_names[d];
}

bool lic_delivery_parse(const char *text, enum lic_delivery *ret)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(text, delivery_names[i]) == 0) {
            *ret = (enum lic_delivery)i;
            return true;
        }
    }
    return false;
}

const char *lic_type_name(enum lic_type t)
{
    return type_names[t];
}

bool lic_type_parse(const char *text, enum lic_type *ret)
{
    for (int i = 0; i < 2; i++) {
        if (strcmp(text, type_names[i]) == 0) {
            *ret = (enum lic_type)i;
            return true;
        }
    }
    return false;
}

const char *lic_status_name(enum lic_status s)
{
    return status_names[s];
}

enum lic_status lic_status_at(const struct license *l, int64_t now_ms, int64_t window_ms)
{
    if (now_ms >= l->expires_ms)
        return LIC_EXPIRED;
    if (now_ms >= l->expires_ms - window_ms)
        return LIC_EXPIRING;
    return LIC_ACTIVE;
}

bool lic_started(const struct license *l, int64_t now_ms)
{
    return now_ms >= l->start_ms;
}

int64_t lic_next_transition(const struct license *l, int64_t window_ms)
{
    if (l->expired_for == l->expires_ms)
        return INT64_MAX;
    if (l->expiring_for != l->expires_ms)
        return l->expires_ms - window_ms;
    return l->expires_ms;
}

static bool in_range(char c, char lo, char hi)
{
    return c >= lo && c <= hi;
}

bool lic_product_id_valid(const char *id)
{
    size_t len = strlen(id);

    if (len == 0 || len > LIC_PRODUCT_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool alnum = in_range(c, 'a', 'z') || in_range(c, '0', '9');

        if (!alnum && (i == 0 || (c != '_' && c != '-')))
            return false;
    }
    return true;
}

bool lic_key_valid(const char *key)
{
    size_t len = strlen(key);
    size_t group = 0;
    size_t groups = 1;

    if (len < 9 || len > LIC_KEY_MAX)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = key[i];

        if (c == '-' || c == '\0') {
            if (group < 4 || group > 8)
                return false;
            if (c == '-')
                groups++;
            group = 0;
        } else if (in_range(c, 'A', 'Z') || in_range(c, '0', '9')) {
            group++;
        } else {
            return false;
        }
    }
    return groups >= 2 && groups <= 8;
}

bool lic_entity_valid(const char *id)
{
    size_t len = strlen(id);

    if (len == 0 || len > LIC_ENTITY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool alnum = in_range(c, 'a', 'z') || in_range(c, 'A', 'Z') || in_range(c, '0', '9');

        if (!alnum && (i == 0 || strchr("_.:@-", c) == NULL))
            return false;
    }
    return true;
}

void lic_key_generate(const char *cause, unsigned attempt, char ret_key[20])
{
    const size_t base = sizeof(LIC_KEY_ALPHABET) - 1;
    char salt[160];
    uint64_t bits[2];
    size_t out = 0;

    for (int half = 0; half < 2; half++) {
        int n = snprintf(salt, sizeof(salt), "license-key/%u/%d/%s", attempt, half, cause);

        bits[half] = id_digest(salt, (size_t)n < sizeof(salt) ? (size_t)n : sizeof(salt) - 1);
    }
    /* 8 characters from each 64-bit digest: 30^8 < 2^40, so each draws on fresh bits. */
    for (int i = 0; i < 16; i++) {
        uint64_t *b = &bits[i / 8];

        if (i > 0 && i % 4 == 0)
            ret_key[out++] = '-';
        ret_key[out++] = LIC_KEY_ALPHABET[*b % base];
        *b /= base;
    }
    ret_key[out] = '\0';
}

bool lic_date_parse(const char *text, int64_t *ret_ms)
{
    char stamp[32];
    char back[16];
    int64_t ms;

    if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !in_range(text[i], '0', '9'))
            return false;
    }
    (void)snprintf(stamp, sizeof(stamp), "%sT00:00:00Z", text);
    if (envelope_parse_time(stamp, &ms) != LB_OK)
        return false;
    /* A date the parser normalized (e.g. 02-30 into 03-02) is refused. */
    lic_date_format(ms, back);
    if (strcmp(back, text) != 0)
        return false;
    *ret_ms = ms;
    return true;
}

void lic_date_format(int64_t ms, char ret_text[16])
{
    char stamp[32];

    envelope_format_time(ms, stamp);
    memcpy(ret_text, stamp, 10);
    ret_text[10] = '\0';
}

enum lb_err lic_check_activation(const struct license *l, const char *product, bool known,
                                 int64_t now_ms, struct lb_why *why)
{
    char date[16];

    if (strcmp(l->product, product) != 0)
        return lb_fail(why, LB_ECONFLICT, "product: license %s is for product \"%s\", not \"%s\"",
                       l->key, l->product, product);
    if (l->delivery == LIC_CLOUD)
        return lb_fail(why, LB_ECONFLICT,
                       "license %s is a cloud license: it counts scans and binds no deployment",
                       l->key);
    if (!lic_started(l, now_ms)) {
        lic_date_format(l->start_ms, date);
        return lb_fail(why, LB_ECONFLICT, "license %s is not started yet: it starts on %s", l->key,
                       date);
    }
    if (now_ms >= l->expires_ms) {
        lic_date_format(l->expires_ms - LIC_DAY_MS, date);
        return lb_fail(why, LB_ECONFLICT, "license %s expired: its expiration date was %s", l->key,
                       date);
    }
    if (!known && l->deployed >= l->limit)
        return lb_fail(why, LB_ECONFLICT,
                       "license %s: all %lld purchased instances are deployed; deactivate one "
                       "or raise the limit",
                       l->key, (long long)l->limit);
    return LB_OK;
}

void lic_shown_under(const char *const *paths, size_t n, bool *ret_shown)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(paths[i]);

        ret_shown[i] = true;
        for (size_t j = 0; j < n && ret_shown[i]; j++) {
            if (j != i && strlen(paths[j]) > len && strncmp(paths[j], paths[i], len) == 0)
                ret_shown[i] = false;
        }
    }
}
