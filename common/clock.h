/*
 * clock.h - where services get the time.
 *
 * In production the clock is the wall clock. In tests and replays it is a
 * virtual clock that only clock events move (lb.evt.clock._sys.tick), and
 * only forward, so the time-driven transitions of a replayed log happen at
 * the virtual times the log says, whatever the wall clock does. The runtime
 * persists the virtual time with the events it applies (see service.c).
 */
#ifndef LB_CLOCK_H
#define LB_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "errors.h"

enum clock_mode { CLOCK_WALL, CLOCK_VIRTUAL };

/* A plain value: copy it, embed it. */
struct clock {
    enum clock_mode mode;
    int64_t virtual_ms; /* virtual now, ms since the epoch; unused in wall mode */
};

/* Parses "wall" or "virtual". */
enum lb_err clock_mode_parse(const char *text, enum clock_mode *ret_mode);

/* A clock in `mode`; a virtual clock starts at `start_ms`. */
void clock_init(struct clock *c, enum clock_mode mode, int64_t start_ms);

/* Now, in ms since the epoch. */
int64_t clock_now_ms(const struct clock *c);

/*
 * Moves a virtual clock to `to_ms`. Returns true when it moved; a time at or
 * before now changes nothing (clock events may be redelivered or replayed).
 * A wall clock never moves this way and returns false.
 */
bool clock_advance(struct clock *c, int64_t to_ms);

/* Wall time in ms, whatever the mode: for logs and latency figures only. */
int64_t clock_wall_ms(void);

/* Monotonic time in ns: for measuring durations. */
int64_t clock_mono_ns(void);

#endif
