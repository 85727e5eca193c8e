/*
 * catch_up.c - a service reads its own domains only to rebuild a new
 * database (decision D28).
 *
 * Licensing, subscriptions and usage emit, for every change of the state
 * their commands make, an event carrying that state (D20), so a new
 * database gets it back by reading their own stream. In normal operation
 * those events change nothing, so reading them would only cost: their own
 * consumers exist only while a new database catches up.
 *
 * A new database (made by this start) reads only its own consumers: the
 * service's other domains, its clock and its sweeps wait, and requests are
 * refused, so nothing acts on a half-restored state. The tick asks each
 * one's backlog (not delivered plus not acknowledged); at zero its fetcher
 * stops and the consumer is deleted. When none is left the other consumers
 * start, from the beginning of their streams. Any other start deletes a
 * leftover own consumer and never reads its own domains.
 *
 * A catch-up that stops before its end starts over at the next start: a
 * marker file next to the database (<db>.catching-up, made before the
 * first own event is read, removed at the end) tells the runtime to
 * discard the partial database (service.c). Going on instead would apply
 * own events out of order: what the stop left delivered but unacknowledged
 * comes back only after AckWait, behind later events.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "runtime.h"

static bool produces(const struct service *svc, const char *domain)
{
    for (const char *const *d = svc->def->produces; d != NULL && *d != NULL; d++) {
        if (strcmp(*d, domain) == 0)
            return true;
    }
    return false;
}

static void marker_path(const struct service *svc, char *ret, size_t size)
{
    snprintf(ret, size, "%s/%s.db" CATCH_UP_MARKER, svc->cfg.data_dir, svc->def->name);
}

/* The marker is made (and synced) before the own consumers start. */
static enum lb_err make_marker(const struct service *svc, struct lb_why *why)
{
    char path[4200];
    int fd;

    marker_path(svc, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || fsync(fd) != 0) {
        int saved = errno;

        if (fd >= 0)
            close(fd);
        return lb_fail(why, LB_EIO, "cannot make %s: %s", path, strerror(saved));
    }
    close(fd);
    return LB_OK;
}

enum lb_err catch_up_plan(struct service *svc, struct lb_why *why)
{
    for (size_t i = 0; i < svc->fetcher_count; i++) {
        struct fetcher *f = &svc->fetchers[i];

        f->own = produces(svc, f->domain);
        f->catch_up = f->own && svc->new_database;
        svc->catching_up = svc->catching_up || f->catch_up;
    }
    if (!svc->catching_up)
        return LB_OK;
    log_warn("new database: reading its own stream to the end before anything else");
    return make_marker(svc, why);
}

bool catch_up_holds(const struct service *svc, const struct fetcher *f)
{
    if (f->own)
        return !f->catch_up;
    return svc->catching_up;
}

/* A consumer that has delivered and seen acknowledged everything stops. */
static void check_backlog(struct service *svc, struct fetcher *f)
{
    struct lb_why why = {{0}};
    uint64_t backlog = 0;
    bool exists = false;

    if (bus_consumer_backlog(svc->bus, &f->consumer, &exists, &backlog, &why) != LB_OK) {
        log_debug("catch-up of %s: %s", f->durable, why.text);
        return;
    }
    if (exists && backlog == 0)
        atomic_store(&f->retire, true);
}

/* A stopped fetcher: its consumer goes (retried by the next tick if that fails). */
static void finish(struct service *svc, struct fetcher *f)
{
    struct lb_why why = {{0}};

    fetcher_join(f);
    if (bus_delete_consumer(svc->bus, &f->consumer, &why) != LB_OK) {
        log_error("catch-up of %s: %s (retried)", f->durable, why.text);
        return;
    }
    f->catch_up = false;
    log_info("caught up with %s", f->durable);
}

/* The end of the catch-up: the next start keeps the database. */
static bool remove_marker(const struct service *svc)
{
    char path[4200];

    marker_path(svc, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT) {
        log_error("cannot remove %s: %s (retried)", path, strerror(errno));
        return false;
    }
    return true;
}

bool catch_up_check(struct service *svc)
{
    bool left = false;

    if (!svc->catching_up || !svc->ready)
        return false;
    for (size_t i = 0; i < svc->fetcher_count; i++) {
        struct fetcher *f = &svc->fetchers[i];

        if (!f->catch_up)
            continue;
        if (f->started && !atomic_load(&f->retire))
            check_backlog(svc, f);
        if (!f->started || (atomic_load(&f->retire) && atomic_load(&f->exited)))
            finish(svc, f);
        left = left || f->catch_up;
    }
    if (left || !remove_marker(svc))
        return false;
    svc->catching_up = false;
    log_warn("own stream read to its end: starting the other consumers, serving requests");
    return true;
}
