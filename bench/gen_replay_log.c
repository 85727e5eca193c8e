/*
 * gen_replay_log.c - writes a large, realistic, deterministic event log
 * (docs/replay.md format) for bench_replay and for anyone who wants to load
 * a system through `lbctl replay`.
 *
 *   gen_replay_log [--events N] [--customers C] > log.ndjson
 *
 * The log is one day of a distributor's tree as the platform would send it:
 *   a clock tick at the day's start, then
 *   directory  the distributor, 10 MSPs, C customers; N/100 users spread
 *              over the customers
 *   agents     two devices per user (one business, one personal), each
 *              installed and then associated with its user
 *   then, hour by hour, a clock tick and that hour's heartbeats (every
 *   event left, round robin over the devices, in time order), and at the
 *   end requests whose expected replies the generator knows: each sampled
 *   device's owner, state and last signal.
 * The same arguments always write the same bytes (ids derive from the
 * line's time and number).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "ids.h"

#define TENANT          "dist-gen"
#define MSPS            10
#define HOURS           24
#define DEVICES_SAMPLED 5
#define T0_MS           1793577600000LL /* 2026-11-02T00:00:00Z */
#define HOUR_MS         3600000LL

struct gen {
    long events;           /* event lines still to write (ticks included) */
    long written;          /* event lines written */
    int customers;         /* customer orgs */
    int users;             /* users, N/100 */
    int devices;           /* 2 per user */
    int64_t *last_seen_ms; /* per device: its last heartbeat's time, 0 = none */
};

/* One event line; `data` is a JSON object's text. */
static void event(struct gen *g, int64_t time_ms, const char *source, const char *type,
                  const char *data)
{
    char id[ID_LEN + 1];
    char when[32];
    char salt[32];

    snprintf(salt, sizeof(salt), "%ld", g->written);
    id_derive(id, time_ms, "gen_replay_log", salt);
    envelope_format_time(time_ms, when);
    printf("{\"event\":{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"%s\","
           "\"type\":\"licensebus.%s.v1\",\"time\":\"%s\",\"tenant\":\"" TENANT "\","
           "\"data\":%s}}\n",
           id, source, type, when, data);
    g->written++;
}

static void directory_and_agents(struct gen *g, int64_t t)
{
    char data[512];

    snprintf(data, sizeof(data),
             "{\"org\":\"" TENANT "\",\"parent\":null,\"name\":\"Gen Distribution\","
             "\"kind\":\"distributor\"}");
    event(g, t, "/platform/directory", "directory.org_created", data);
    for (int m = 0; m < MSPS; m++) {
        snprintf(data, sizeof(data),
                 "{\"org\":\"msp-%d\",\"parent\":\"" TENANT "\",\"name\":\"MSP %d\","
                 "\"kind\":\"msp\"}",
                 m, m);
        event(g, t, "/platform/directory", "directory.org_created", data);
    }
    for (int c = 0; c < g->customers; c++) {
        snprintf(data, sizeof(data),
                 "{\"org\":\"cust-%d\",\"parent\":\"msp-%d\",\"name\":\"Customer %d\","
                 "\"kind\":\"customer\"}",
                 c, c % MSPS, c);
        event(g, t, "/platform/directory", "directory.org_created", data);
    }
    for (int u = 0; u < g->users; u++) {
        snprintf(data, sizeof(data),
                 "{\"user\":\"u-%d\",\"org\":\"cust-%d\",\"email\":\"user%d@cust%d.example\","
                 "\"display_name\":\"User %d\"}",
                 u, u % g->customers, u, u % g->customers, u);
        event(g, t, "/platform/directory", "directory.user_created", data);
    }
    /* Device d-(2u) is user u's business laptop, d-(2u+1) their personal phone. */
    for (int d = 0; d < g->devices; d++) {
        int u = d / 2;

        snprintf(
            data, sizeof(data),
            "{\"device\":\"d-%d\",\"org\":\"cust-%d\",\"kind\":\"%s\",\"hostname\":\"host-%d\","
            "\"os\":\"%s\"}",
            d, u % g->customers, d % 2 ? "personal" : "business", d, d % 2 ? "android" : "windows");
        event(g, t, "/platform/agents", "agents.device_installed", data);
    }
    for (int d = 0; d < g->devices; d++) {
        snprintf(data, sizeof(data), "{\"device\":\"d-%d\",\"user\":\"u-%d\"}", d, d / 2);
        event(g, t, "/platform/agents", "agents.device_associated", data);
    }
}

/* The hours: a tick at each hour's start, then its share of heartbeats in time order. */
static void hours_of_signals(struct gen *g)
{
    long left = g->events - g->written - HOURS;
    long device = 0;

    for (int h = 0; h < HOURS; h++) {
        int64_t start = T0_MS + (h + 1) * HOUR_MS;
        long share = left / (HOURS - h);
        char when[32];

        envelope_format_time(start, when);
        printf("{\"tick\":\"%s\"}\n", when);
        g->written++;
        for (long i = 0; i < share; i++) {
            int64_t t = start + i * HOUR_MS / (share + 1);
            char data[64];

            snprintf(data, sizeof(data), "{\"device\":\"d-%ld\"}", device);
            event(g, t, "/platform/signals", "signals.heartbeat", data);
            g->last_seen_ms[device] = t;
            device = (device + 1) % g->devices;
        }
        left -= share;
    }
}

/* Requests whose replies follow from the log: a sample of devices, first to last. */
static void expectations(const struct gen *g)
{
    for (int k = 0; k < DEVICES_SAMPLED; k++) {
        int d = (int)((long)k * (g->devices - 1) / (DEVICES_SAMPLED - 1));
        int u = d / 2;
        char seen[32];

        envelope_format_time(g->last_seen_ms[d], seen);
        printf(
            "{\"request\":{\"subject\":\"lb.api.usage.device_get\",\"body\":{\"tenant\":\"" TENANT
            "\",\"caller\":{\"org\":\"msp-%d\",\"user\":\"bench@msp.example\"},"
            "\"device\":\"d-%d\"}},\"expect\":{\"reply\":{\"device\":\"d-%d\","
            "\"customer\":\"cust-%d\",\"user\":\"u-%d\",\"state\":\"installed\","
            "\"consumes\":false,\"last_seen\":\"%s\"}}}\n",
            (u % g->customers) % MSPS, d, d, u % g->customers, u, seen);
    }
}

int main(int argc, char **argv)
{
    struct gen g = {.events = 1000000, .customers = 100};

    for (int i = 1; i + 1 < argc; i += 2) {
        char *end;
        long v = strtol(argv[i + 1], &end, 10);

        if (*end != '\0' || v < 1) {
            fprintf(stderr, "gen_replay_log: %s takes a positive number\n", argv[i]);
            return 2;
        }
        if (strcmp(argv[i], "--events") == 0) {
            g.events = v;
        } else if (strcmp(argv[i], "--customers") == 0 && v <= 100000) {
            g.customers = (int)v;
        } else {
            fprintf(stderr, "usage: gen_replay_log [--events N] [--customers C]\n");
            return 2;
        }
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "usage: gen_replay_log [--events N] [--customers C]\n");
        return 2;
    }
    g.users = (int)(g.events / 100);
    if (g.users < g.customers)
        g.users = g.customers;
    g.devices = 2 * g.users;
    if (g.events < 2 + MSPS + g.customers + g.users + 2L * g.devices + HOURS + g.devices) {
        fprintf(stderr, "gen_replay_log: --events is too small for the tree and one heartbeat "
                        "per device\n");
        return 2;
    }
    g.last_seen_ms = calloc((size_t)g.devices, sizeof(*g.last_seen_ms));
    if (g.last_seen_ms == NULL)
        return 1;
    printf("{\"comment\":\"generated by gen_replay_log --events %ld --customers %d: %d users, %d "
           "devices, %d hours of heartbeats\"}\n",
           g.events, g.customers, g.users, g.devices, HOURS);
    {
        char start[32];

        envelope_format_time(T0_MS, start);
        printf("{\"tick\":\"%s\"}\n", start);
        g.written++;
    }
    directory_and_agents(&g, T0_MS + 60000);
    hours_of_signals(&g);
    expectations(&g);
    free(g.last_seen_ms);
    return fflush(stdout) == 0 ? 0 : 1;
}
