/*
 * counter.c - the rules of a counter, without I/O.
 */
#include <string.h>

#include "tally.h"

bool counter_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > TALLY_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

enum lb_err counter_apply(struct counter *c, int64_t amount, int64_t now_ms, struct lb_why *why)
{
    int64_t value = c->value + amount; /* |value|, |amount| <= 2^53: cannot overflow int64 */

    if (amount == 0)
        return lb_fail(why, LB_EINVAL, "amount must not be 0");
    if (amount > TALLY_AMOUNT_MAX || amount < -TALLY_AMOUNT_MAX)
        return lb_fail(why, LB_EINVAL, "amount %lld is outside [-%d, %d]", (long long)amount,
                       TALLY_AMOUNT_MAX, TALLY_AMOUNT_MAX);
    if (value > TALLY_VALUE_MAX || value < -TALLY_VALUE_MAX)
        return lb_fail(why, LB_ECONFLICT, "counter would leave [-2^53, 2^53]");
    c->value = value;
    c->version++;
    c->updated_ms = now_ms;
    return LB_OK;
}
