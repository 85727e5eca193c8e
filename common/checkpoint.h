/*
 * checkpoint.h - WAL checkpoints on a thread of their own.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses the
 * threshold, on the committing thread: every thousand pages or so, one batch
 * of the loop thread copies the whole WAL back into the database and fsyncs
 * it, and every request queued behind that batch waits (docs/performance.md,
 * "Where the activation time goes"). A checkpointer turns the connection's
 * automatic checkpoint off and does the same work from a second connection
 * on its own thread, in PASSIVE mode: it never waits for, nor blocks, the
 * writer. The loop thread only wakes it from the WAL hook after a commit.
 *
 * A WAL is reused from its start (reset) only when a write transaction
 * begins while every frame is already copied back. Under a steady load a
 * passive checkpoint may keep finishing just after the next commit, so the
 * WAL could grow for ever: once a commit leaves it at CHECKPOINT_BACKSTOP_FACTOR
 * times the threshold, the writer itself runs a RESTART checkpoint right
 * after that commit (from the WAL hook, as SQLite's automatic checkpoint
 * does), which copies what is left and lets the next write reset the WAL.
 * The passive runs have copied nearly everything by then, so that stall is
 * short (the frames since the last run and an fsync); SQLite's automatic
 * checkpoint instead copies the whole WAL inside every thousandth page's
 * commit. (The RESTART ran on the thread first; it then held the write lock
 * while the loop's deferred transaction, already reading, asked for it, and
 * SQLite answers that with SQLITE_BUSY at once: decision D24.)
 *
 * Ownership: the checkpointer owns its thread and its connection; the
 * writer's connection stays the caller's and must outlive it.
 */
#ifndef LB_CHECKPOINT_H
#define LB_CHECKPOINT_H

#include <stdint.h>

#include <sqlite3.h>

#include "errors.h"

/* WAL size, in multiples of the threshold, at which the writer checkpoints itself. */
#define CHECKPOINT_BACKSTOP_FACTOR 4

struct checkpointer;

/* What a checkpointer has done, for metrics and tests. */
struct checkpoint_stats {
    uint64_t runs;     /* checkpoints run by the thread */
    uint64_t backstop; /* RESTART checkpoints the writer ran itself (past the backstop) */
    uint64_t resets;   /* times the writer found the WAL reused from its start */
    int wal_frames;    /* the WAL's size after the last commit */
    int copied_frames; /* frames of the WAL copied back by the last checkpoint */
};

/*
 * Starts checkpointing the database `path` that `writer` (the loop thread's
 * connection, in WAL mode) writes, whenever its WAL holds `pages` frames or
 * more after a commit.
 */
enum lb_err checkpointer_start(sqlite3 *writer, const char *path, int pages,
                               struct checkpointer **ret_checkpointer, struct lb_why *why);

/* A snapshot of what it has done; callable from any thread. */
struct checkpoint_stats checkpointer_stats(struct checkpointer *c);

/*
 * Stops the thread (after the checkpoint in progress, if any), closes its
 * connection and gives the writer back SQLite's automatic checkpoint.
 * NULL is a no-op.
 */
void checkpointer_stop(struct checkpointer *c);

#endif
