/*
 * store.h - a service's SQLite database.
 *
 * Opens the file in WAL mode, applies schema migrations by version (per
 * component, so the runtime's own tables and the service's tables evolve
 * independently), hands out cached prepared statements, and wraps
 * transactions and savepoints. Only the service's loop thread touches it.
 *
 * Ownership: statements returned by store_stmt belong to the store (reset
 * and unbound for each caller; never finalize them).
 */
#ifndef LB_STORE_H
#define LB_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "checkpoint.h"
#include "errors.h"

struct store;

/* One schema step: run once, in order, in its own transaction. */
struct store_migration {
    int version;     /* 1, 2, 3 ... strictly increasing */
    const char *sql; /* one or more statements */
};

/* How the database is opened. */
struct store_options {
    const char *path;     /* file path; ":memory:" for throwaway tests */
    bool sync_full;       /* PRAGMA synchronous=FULL (else NORMAL) */
    int busy_timeout_ms;  /* how long to wait on a lock held by another process */
    int checkpoint_pages; /* WAL pages after which a thread of its own checkpoints (checkpoint.h);
                             0: SQLite's automatic checkpoint, inside the commit */
};

/* Opens (creating if needed) and applies the runtime's own migrations. */
enum lb_err store_open(const struct store_options *opts, struct store **ret_store,
                       struct lb_why *why);

/* Finalizes cached statements and closes; NULL is a no-op. */
void store_close(struct store *s);

/*
 * Applies the migrations of `component` above its recorded version. Refuses
 * a database whose recorded version is newer than the code knows.
 */
enum lb_err store_migrate(struct store *s, const char *component,
                          const struct store_migration *steps, size_t n, struct lb_why *why);

/* The raw handle, for sqlite3_* calls on statements from store_stmt. */
sqlite3 *store_db(struct store *s);

/*
 * A prepared statement for `sql` (a string constant: it is cached by its
 * address), reset and with bindings cleared. NULL on a prepare error, with
 * the reason in `why`.
 */
sqlite3_stmt *store_stmt(struct store *s, const char *sql, struct lb_why *why);

/* Runs a statement to completion, ignoring rows, and resets it. */
enum lb_err store_step_done(struct store *s, sqlite3_stmt *stmt, struct lb_why *why);

/* Runs SQL text with no parameters (schema, pragmas, transaction control). */
enum lb_err store_exec(struct store *s, const char *sql, struct lb_why *why);

/* BEGIN (deferred) / COMMIT / ROLLBACK. Rollback never fails visibly. */
enum lb_err store_begin(struct store *s, struct lb_why *why);
enum lb_err store_commit(struct store *s, struct lb_why *why);
void store_rollback(struct store *s);

/* Savepoints nest inside a transaction; one per applied message. */
enum lb_err store_savepoint(struct store *s, struct lb_why *why);
enum lb_err store_release(struct store *s, struct lb_why *why);
void store_rollback_to(struct store *s);

/* What the background checkpointer has done (all zero without one, or for NULL). */
struct checkpoint_stats store_checkpoint_stats(struct store *s);

/* Maps an SQLite result code onto the project's codes. */
enum lb_err store_err(int sqlite_rc);

#endif
