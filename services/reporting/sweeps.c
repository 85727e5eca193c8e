/*
 * sweeps.c - reporting's clock-driven work: exports expire. The rows go in
 * the sweep's transaction; the files go with them (deleting a file twice is
 * harmless, so a replayed or repeated sweep changes nothing more). The read
 * model itself has no time-driven transitions: statuses are computed at the
 * time asked, by the service clock. Each run also gives subscriptions of a
 * database from before migration 2 their scope path (a migration cannot read
 * the org tree: rep_migrations); on any other database there are none.
 */
#include <unistd.h>

#include "reporting.h"

struct expire_ctx {
    char dir[1024];
};

static void remove_file(const char *id, const char *format, void *arg)
{
    struct expire_ctx *ctx = arg;
    char path[1200];

    rep_export_path(ctx->dir, id, format, path, sizeof(path));
    (void)unlink(path);
}

enum lb_err rep_sweep(struct service *svc, int64_t now_ms, struct lb_why *why)
{
    struct store *s = service_store(svc);
    struct expire_ctx ctx;
    size_t placed = 0;
    enum lb_err err = rep_export_dir(s, ctx.dir, sizeof(ctx.dir), why);

    if (err != LB_OK)
        return err;
    err = rep_store_exports_expire(s, now_ms, remove_file, &ctx, why);
    return err == LB_OK ? rep_store_subscriptions_repair(s, REP_REPAIR_BATCH, &placed, why) : err;
}
