/*
 * ids.h - time-ordered identifiers and payload digests.
 *
 * Ids are ULIDs (26 Crockford base32 characters): 48 bits of milliseconds
 * then 80 bits of randomness or of a hash. Time order keeps SQLite's b-trees
 * append-only (about 20x faster than random keys on this platform).
 * id_derive makes the same id from the same inputs, so an event emitted in
 * reaction to another one, or by a sweep at a virtual time, is identical in
 * every replay of a log.
 */
#ifndef LB_IDS_H
#define LB_IDS_H

#include <stddef.h>
#include <stdint.h>

/* Characters in an id, without the terminating NUL. */
#define ID_LEN 26

/* A new id for `time_ms` (ms since the epoch) with 80 random bits. */
void id_new(char ret_id[ID_LEN + 1], int64_t time_ms);

/*
 * The id determined by `time_ms`, `parent` (e.g. the causing event's id) and
 * `salt` (e.g. "counter_changed/0"); the same inputs give the same id.
 */
void id_derive(char ret_id[ID_LEN + 1], int64_t time_ms, const char *parent, const char *salt);

/* 64-bit FNV-1a digest of `len` bytes, to tell two payloads apart. */
uint64_t id_digest(const void *bytes, size_t len);

#endif
