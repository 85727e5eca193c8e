/*
 * ids.c - ULIDs (Crockford base32), derived ids and FNV-1a digests.
 */
#include "ids.h"

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

void id_new(char ret_id[ID_LEN + 1], int64_t time_ms)
{
    unsigned char tail[10];
    size_t got = 0;

    while (got < sizeof(tail)) {
        ssize_t n = getrandom(tail + got, sizeof(tail) - got, 0);

        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof(tail)) {
        /* No entropy source: still unique enough within a process via time and address. */
        struct timespec ts;
        uint64_t h;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        h = fnv1a(FNV_OFFSET, &ts, sizeof(ts));
        uintptr_t where = (uintptr_t)ret_id;

        h = fnv1a(h, &where, sizeof(where));
        memcpy(tail, &h, 8);
        memcpy(tail + 8, &ts.tv_nsec, 2);
    }
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
