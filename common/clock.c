/*
 * clock.c - wall and virtual time.
 */
#include "clock.h"

#include <string.h>
#include <time.h>

enum lb_err clock_mode_parse(const char *text, enum clock_mode *ret_mode)
{
    if (strcmp(text, "wall") == 0) {
        *ret_mode = CLOCK_WALL;
        return LB_OK;
    }
    if (strcmp(text, "virtual") == 0) {
        *ret_mode = CLOCK_VIRTUAL;
        return LB_OK;
    }
    return LB_EINVAL;
}

void clock_init(struct clock *c, enum clock_mode mode, int64_t start_ms)
{
    c->mode = mode;
    c->virtual_ms = start_ms;
}

int64_t clock_now_ms(const struct clock *c)
{
    if (c->mode == CLOCK_VIRTUAL)
        return c->virtual_ms;
    return clock_wall_ms();
}

bool clock_advance(struct clock *c, int64_t to_ms)
{
    if (c->mode != CLOCK_VIRTUAL || to_ms <= c->virtual_ms)
        return false;
    c->virtual_ms = to_ms;
    return true;
}

int64_t clock_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
