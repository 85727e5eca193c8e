/*
 * main.c - runs the tally service with its tables; nothing else.
 */
#include <stddef.h>

#include "tally.h"

static const struct service_endpoint endpoints[] = {
    {"add", tally_add, "api/tally.add.request.json", "api/tally.add.reply.json",
     "Adds an amount to a counter, creating it at 0; emits counter_changed"},
    {"get", tally_get, "api/tally.get.request.json", "api/tally.get.reply.json", "Reads a counter"},
};

static const struct service_event events[] = {
    {"licensebus.sample.increment.v1", tally_on_increment},
};

static const char *const consumes[] = {"sample", NULL};

/* Other sample types tally has no use for: acked and counted, not dead-lettered (D18). */
static const char *const ignores[] = {"licensebus.sample.noted.v1", NULL};
static const char *const produces[] = {"tally", NULL};

static const struct config_entry config[] = {
    {"LB_TALLY_IDLE_AFTER", "1h", CONFIG_MILLIS, offsetof(struct tally_config, idle_after_ms), 1,
     31536000000LL, "a counter unchanged this long is reported idle (once per change)"},
};

static const struct service_def tally = {
    .name = "tally",
    .description = "Sample service: named counters per tenant, proving the licensebus runtime",
    .default_http_port = 8089,
    .migrations = tally_migrations,
    .endpoints = endpoints,
    .endpoint_count = sizeof(endpoints) / sizeof(endpoints[0]),
    .consumes = consumes,
    .events = events,
    .event_count = sizeof(events) / sizeof(events[0]),
    .ignores = ignores,
    .produces = produces,
    .sweep = tally_sweep,
    .config = config,
    .config_count = sizeof(config) / sizeof(config[0]),
    .config_size = sizeof(struct tally_config),
};

int main(int argc, char **argv)
{
    struct service_def def = tally;

    def.migration_count = tally_migration_count;
    return service_main(&def, argc, argv);
}
