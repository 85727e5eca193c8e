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

    if (time_ms < 0)
        time_ms = 0;
    if (time_ms > ID_TIME_MAX)
        time_ms = ID_TIME_MAX;
    put_be(b, (uint64_t)time_ms, ID_BYTES - ID_TAIL_BYTES);
    memcpy(b + ID_BYTES - ID_TAIL_BYTES, tail, ID_TAIL_BYTES);
    for (int i = 0; i < ID_LEN; i++) {
        int first = 5 * i - 2; /* bit of b where character i starts; < 0 is the padding */
        unsigned v = 0;

        for (int k = first; k < first + 5; k++) {
            unsigned bit = k < 0 ? 0 : (b[k / 8] >> (7 - k % 8)) & 1u;

            v = v << 1 | bit;
        }
        ret_id[i] = crockford[v];
    }
    ret_id[ID_LEN] = '\0';
}

uint64_t id_digest(const void *bytes, size_t len)
{
    return fnv1a(FNV_OFFSET_BASIS, bytes, len);
}

/* Fills `tail` from the kernel's random source; false when it cannot. */
static bool random_tail(unsigned char tail[ID_TAIL_BYTES])
{
    size_t got = 0;

    while (got < ID_TAIL_BYTES) {
        ssize_t n = getrandom(tail + got, ID_TAIL_BYTES - got, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
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

void id_new(char ret_id[ID_LEN + 1], int64_t time_ms)
{
    unsigned char tail[ID_TAIL_BYTES];

    if (!random_tail(tail))
        fallback_tail(tail, ret_id);
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
