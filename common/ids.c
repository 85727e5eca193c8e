/*
 * ids.c - ULIDs (Crockford base32), derived ids and FNV-1a digests.
 */
#include "ids.h"

#include <stdbool.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME  1099511628211ULL

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

uint64_t id_digest(const void *bytes, size_t len)
{
    return fnv1a(FNV_OFFSET, bytes, len);
}

/* Writes 48 bits of time and 80 bits of `tail` as 26 base32 characters. */
static void encode(char ret_id[ID_LEN + 1], int64_t time_ms, const unsigned char tail[10])
{
    unsigned char b[16];
    uint64_t t = time_ms < 0 ? 0 : (uint64_t)time_ms;

    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(t >> (40 - 8 * i));
    memcpy(b + 6, tail, 10);
    /* 128 bits as 26 groups of 5, the first group holding the top 3 bits. */
    for (int i = 0; i < ID_LEN; i++) {
        int bit = i == 0 ? 0 : 3 + 5 * (i - 1); /* first bit of group i, counting from the top */
        int width = i == 0 ? 3 : 5;
        unsigned v = 0;

        for (int k = 0; k < width; k++) {
            int pos = bit + k;

            v = (v << 1) | ((b[pos / 8] >> (7 - pos % 8)) & 1u);
        }
        ret_id[i] = crockford[v];
    }
    ret_id[ID_LEN] = '\0';
}

/* splitmix64: a fast, well-mixed sequence; seeded from getrandom once per thread. */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;
    static _Thread_local bool seeded;
    uint64_t z;

    if (!seeded) {
        struct timespec ts;

        if (getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state)) {
            /* No entropy source: time and the state's address still differ per thread. */
            clock_gettime(CLOCK_REALTIME, &ts);
            state = fnv1a(FNV_OFFSET, &ts, sizeof(ts)) ^ (uint64_t)(uintptr_t)&state;
        }
        seeded = true;
    }
    z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void id_new(char ret_id[ID_LEN + 1], int64_t time_ms)
{
    unsigned char tail[10];
    uint64_t a = next_random();
    uint64_t b = next_random();

    memcpy(tail, &a, 8);
    memcpy(tail + 8, &b, 2);
    encode(ret_id, time_ms, tail);
}

void id_derive(char ret_id[ID_LEN + 1], int64_t time_ms, const char *parent, const char *salt)
{
    unsigned char tail[10];
    uint64_t a = fnv1a(FNV_OFFSET, parent, strlen(parent) + 1);
    uint64_t b;

    a = fnv1a(a, salt, strlen(salt));
    /* A second pass from another offset gives 16 more independent bits. */
    b = fnv1a(FNV_OFFSET ^ 0x5bd1e9955bd1e995ULL, salt, strlen(salt) + 1);
    b = fnv1a(b, parent, strlen(parent));
    memcpy(tail, &a, 8);
    memcpy(tail + 8, &b, 2);
    encode(ret_id, time_ms, tail);
}
