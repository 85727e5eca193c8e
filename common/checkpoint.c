/*
 * checkpoint.c - WAL checkpoints on a thread of their own (see checkpoint.h).
 */
#include "checkpoint.h"

#include <stdlib.h>

#include <uv.h>

/* SQLite's own automatic checkpoint threshold, given back to the writer on stop. */
#define SQLITE_DEFAULT_AUTOCHECKPOINT 1000
/* How long a RESTART checkpoint waits for the writer's transaction to end, in ms. */
#define CHECKPOINT_BUSY_TIMEOUT_MS 5000

struct checkpointer {
    sqlite3 *writer;               /* the loop thread's connection; not ours */
    sqlite3 *db;                   /* ours: used by the thread only */
    int pages;                     /* WAL frames that ask for a checkpoint */
    uv_thread_t thread;            /* runs checkpoint_thread */
    uv_mutex_t lock;               /* guards the fields below */
    uv_cond_t wake;                /* signalled when pending or stopping is set */
    bool pending;                  /* a commit left the WAL at or above `pages` */
    bool stopping;                 /* checkpointer_stop was called */
    struct checkpoint_stats stats; /* what has been done */
};

/*
 * Runs on the writer's thread after each commit (no transaction open any
 * more), with the WAL's size in frames. Past the backstop the writer runs
 * the RESTART itself: on its own connection it takes no lock another
 * connection holds while waiting for one (a RESTART on the thread's
 * connection held the write lock while the loop's deferred transaction,
 * already reading, asked for it: SQLITE_BUSY without the busy handler).
 */
static int on_wal_commit(void *ctx, sqlite3 *db, const char *name, int frames)
{
    struct checkpointer *c = ctx;
    bool backstop = frames >= c->pages * CHECKPOINT_BACKSTOP_FACTOR;

    uv_mutex_lock(&c->lock);
    /* A smaller WAL than after the previous commit: this commit started it over. */
    if (frames < c->stats.wal_frames)
        c->stats.resets++;
    c->stats.wal_frames = frames;
    if (frames >= c->pages && !backstop) {
        c->pending = true;
        uv_cond_signal(&c->wake);
    }
    uv_mutex_unlock(&c->lock);
    if (backstop &&
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL) == SQLITE_OK) {
        uv_mutex_lock(&c->lock);
        c->stats.backstop++;
        uv_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

static void checkpoint_thread(void *arg)
{
    struct checkpointer *c = arg;

    uv_mutex_lock(&c->lock);
    for (;;) {
        int wal_frames = 0;
        int copied = 0;
        int rc;

        while (!c->pending && !c->stopping)
            uv_cond_wait(&c->wake, &c->lock);
        if (c->stopping)
            break;
        c->pending = false;
        uv_mutex_unlock(&c->lock);
        /* PASSIVE copies what no reader still needs and takes no lock the writer waits on. */
        rc =
            sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal_frames, &copied);
        uv_mutex_lock(&c->lock);
        if (rc == SQLITE_OK) {
            c->stats.runs++;
            c->stats.copied_frames = copied;
        }
    }
    uv_mutex_unlock(&c->lock);
}

static enum lb_err open_connection(struct checkpointer *c, const char *path, struct lb_why *why)
{
    int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);

    if (rc != SQLITE_OK)
        return lb_fail(why, LB_EIO, "checkpointer cannot open %s: %s", path,
                       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
    sqlite3_busy_timeout(c->db, CHECKPOINT_BUSY_TIMEOUT_MS);
    /* A connection that has not read the database yet does not know it is in WAL mode, and
     * its checkpoints would do nothing: asking the journal mode makes it look. */
    rc = sqlite3_exec(c->db, "PRAGMA journal_mode", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return lb_fail(why, LB_EIO, "checkpointer cannot read %s: %s", path, sqlite3_errmsg(c->db));
    return LB_OK;
}

enum lb_err checkpointer_start(sqlite3 *writer, const char *path, int pages,
                               struct checkpointer **ret_checkpointer, struct lb_why *why)
{
    struct checkpointer *c = calloc(1, sizeof(*c));
    enum lb_err err;

    if (c == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory starting the checkpointer");
    c->writer = writer;
    c->pages = pages > 0 ? pages : 1;
    err = open_connection(c, path, why);
    if (err != LB_OK)
        goto fail_db;
    if (uv_mutex_init(&c->lock) != 0) {
        err = lb_fail(why, LB_EINTERNAL, "checkpointer: cannot create its lock");
        goto fail_db;
    }
    if (uv_cond_init(&c->wake) != 0) {
        err = lb_fail(why, LB_EINTERNAL, "checkpointer: cannot create its condition");
        goto fail_lock;
    }
    if (uv_thread_create(&c->thread, checkpoint_thread, c) != 0) {
        err = lb_fail(why, LB_EINTERNAL, "checkpointer: cannot start its thread");
        goto fail_cond;
    }
    /* Replaces SQLite's automatic checkpoint, which is itself a WAL hook. */
    sqlite3_wal_hook(writer, on_wal_commit, c);
    *ret_checkpointer = c;
    return LB_OK;

fail_cond:
    uv_cond_destroy(&c->wake);
fail_lock:
    uv_mutex_destroy(&c->lock);
fail_db:
    sqlite3_close(c->db);
    free(c);
    return err;
}

struct checkpoint_stats checkpointer_stats(struct checkpointer *c)
{
    struct checkpoint_stats stats;

    uv_mutex_lock(&c->lock);
    stats = c->stats;
    uv_mutex_unlock(&c->lock);
    return stats;
}

void checkpointer_stop(struct checkpointer *c)
{
    if (c == NULL)
        return;
    uv_mutex_lock(&c->lock);
    c->stopping = true;
    uv_cond_signal(&c->wake);
    uv_mutex_unlock(&c->lock);
    uv_thread_join(&c->thread);
    sqlite3_wal_autocheckpoint(c->writer, SQLITE_DEFAULT_AUTOCHECKPOINT);
    sqlite3_close(c->db);
    uv_cond_destroy(&c->wake);
    uv_mutex_destroy(&c->lock);
    free(c);
}
