/*
 * ids.c - ULIDs (Crockford base32), derived ids and FNV-1a digests.
 *
 * An id is 128 bits written as 26 base32 characters, most significant first:
 * 48 bits of milliseconds since the epoch, then an 80-bit tail. The 130 bits
 * of 26 characters hold the 128 behind two zero bits, so the first character
 * is 0-7. Because the time comes first and the alphabet is in ASCII order,
 * ids sort as strings in time order.
 */
#include "ids.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* FNV-1a 64 parameters (Fowler, Noll, Vo). */
#define FNV_OFFSET_BASIS 0xcbf29ce484222325ULL
#define FNV_PRIME        0x100000001b3ULL

/* Offset basis of the second hash of id_derive, so both passes differ. */
#define DERIVE_SECOND_BASIS (FNV_OFFSET_BASIS ^ 0x9e3779b97f4a7c15ULL)

/* Largest time an id holds: 2^48 - 1 ms, in the year 10889. */
#define ID_TIME_MAX ((1LL << 48) - 1)

/* Bytes of the whole id and of its tail. */
#define ID_BYTES      16
#define ID_TAIL_BYTES 10

static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static uint64_t fnv1a(uint64_t h, const void *bytes, size_t len)
{
    const unsigned char *p = bytes;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/*
 * Spreads every input bit over every output bit (MurmurHash3's finalizer).
 * FNV-1a alone leaves the top bits unchanged by a change in the last byte,
 * and salts such as "x/0" and "x/1" differ only there.
 */
static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* Stores `v` big-endian in `n` bytes (its low n*8 bits), the same on every platform. */
static void put_be(unsigned char *out, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (unsigned char)v;
        v >>= 8;
    }
}

/* Writes the time, clamped to [0, ID_TIME_MAX], and the tail as 26 characters. */
static void encode(char ret_id[ID_LEN + 1], int64_t time_ms,
                   const unsigned char tail[ID_TAIL_BYTES])
{
    unsigned char b[ID_BYTES];
    unsigned __int128 v = 0; /* GCC and Clang: the id as one number, 5 bits per character */

    if (time_ms < 0)
        time_ms = 0;
    if (time_ms > ID_TIME_MAX)
        time_ms = ID_TIME_MAX;
    put_be(b, (uint64_t)time_ms, ID_BYTES - ID_TAIL_BYTES);
    memcpy(b + ID_BYTES - ID_TAIL_BYTES, tail, ID_TAIL_BYTES);
    for (int i = 0; i < ID_BYTES; i++)
        v = v << 8 | b[i];
    for (int i = ID_LEN - 1; i >= 0; i--) {
        ret_id[i] = crockford[(unsigned)(v & 31u)];
        v >>= 5;
    }
    ret_id[ID_LEN] = '\0';
}

uint64_t id_digest(const void *bytes, size_t len)
{
    return fnv1a(FNV_OFFSET_BASIS, bytes, len);
}

/* Seeds `state` from the kernel's random source; false when it cannot. */
static bool random_seed(uint64_t *state)
{
    unsigned char *p = (unsigned char *)state;
    size_t got = 0;

    while (got < sizeof(*state)) {
        ssize_t n = getrandom(p + got, sizeof(*state) - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* splitmix64 (Steele, Lea, Flood): well mixed, and no system call per id. */
static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Hashes one 64-bit value into `h`. */
static uint64_t fnv1a_u64(uint64_t h, uint64_t v)
{
    unsigned char b[8];

    put_be(b, v, 8);
    return fnv1a(h, b, sizeof(b));
}

/*
 * A tail for when getrandom(2) fails (seccomp, very old kernels): a hash of
 * both clocks to the nanosecond, the process id and an address that ASLR
 * moves. Unique in practice, but not unpredictable.
 */
static void fallback_tail(unsigned char tail[ID_TAIL_BYTES], const void *where)
{
    struct timespec real = {0}, mono = {0};
    uint64_t h = FNV_OFFSET_BASIS;

    (void)clock_gettime(CLOCK_REALTIME, &real);
    (void)clock_gettime(CLOCK_MONOTONIC, &mono);
    h = fnv1a_u64(h, (uint64_t)real.tv_sec);
    h = fnv1a_u64(h, (uint64_t)real.tv_nsec);
    h = fnv1a_u64(h, (uint64_t)mono.tv_sec);
    h = fnv1a_u64(h, (uint64_t)mono.tv_nsec);
    h = fnv1a_u64(h, (uint64_t)getpid());
    h = fnv1a_u64(h, (uint64_t)(uintptr_t)where);
    put_be(tail, mix64(h), 8);
    put_be(tail + 8, mix64(h ^ DERIVE_SECOND_BASIS), 2);
}

/*
 * The tail comes from a per-thread splitmix64 sequence seeded once from
 * getrandom(2) (a syscall per id cost 12% of the outbox path), or from
 * fallback_tail when the kernel cannot give entropy.
 */
void id_new(char ret_id[ID_LEN + 1], int64_t time_ms)
{
    static _Thread_local uint64_t state;
    static _Thread_local int seeded; /* 0 unseeded, 1 seeded, -1 no entropy */
    unsigned char tail[ID_TAIL_BYTES];

    if (seeded == 0)
        seeded = random_seed(&state) ? 1 : -1;
    if (seeded < 0) {
        fallback_tail(tail, ret_id);
    } else {
        put_be(tail, splitmix64(&state), 8);
        put_be(tail + 8, splitmix64(&state), 2);
    }
    encode(ret_id, time_ms, tail);
}

/*
 * The tail is 64 bits of one hash of "<parent>\0<salt>" and 16 of a second
 * hash of the same bytes from another offset basis, both mixed. The NUL keeps
 * ("ab", "c") and ("a", "bc") apart. NULL counts as "".
 */
void id_derive(char ret_id[ID_LEN + 1], int64_t time_ms, const char *parent, const char *salt)
{
    unsigned char tail[ID_TAIL_BYTES];
    const char *p = parent != NULL ? parent : "";
    const char *s = salt != NULL ? salt : "";
    uint64_t a = fnv1a(FNV_OFFSET_BASIS, p, strlen(p) + 1);
    uint64_t b = fnv1a(DERIVE_SECOND_BASIS, p, strlen(p) + 1);

    a = fnv1a(a, s, strlen(s));
    b = fnv1a(b, s, strlen(s));
    put_be(tail, mix64(a), 8);
    put_be(tail + 8, mix64(b), 2);
    encode(ret_id, time_ms, tail);
}
