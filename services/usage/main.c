/*
 * main.c - runs the usage service with its tables; nothing else (but usage's
 * own default of one runtime setting).
 */
#include <stddef.h>
#include <stdlib.h>

#include "usage.h"

/* usage's default LB_MAX_ACK_PENDING (the runtime's is 1024). */
#define USAGE_MAX_ACK_PENDING "4096"

static const struct service_endpoint endpoints[] = {
    {"consumption", usage_api_consumption, "api/usage.consumption.request.json",
     "api/usage.consumption.reply.json",
     "A customer's license consumption now, per subscription, with over-consumption"},
    {"user_get", usage_api_user_get, "api/usage.user_get.request.json",
     "api/usage.user_get.reply.json", "A user: license state, seats, devices, retention"},
    {"device_get", usage_api_device_get, "api/usage.device_get.request.json",
     "api/usage.device_get.reply.json", "A device: state, user, last signal"},
    {"device_list", usage_api_device_list, "api/usage.device_list.request.json",
     "api/usage.device_list.reply.json", "A customer's devices, by state, paged"},
    {"scans", usage_api_scans, "api/usage.scans.request.json", "api/usage.scans.reply.json",
     "Scans counted under a license key, per day or month"},
    {"device_associate", usage_api_device_associate, "api/usage.device_associate.request.json",
     "api/usage.device_associate.reply.json",
     "Associates a device with a user within the allowance; emits device_associated"},
};

/* Platform events go through journal.c (restore gate, restored causes, state_changed). */
static const struct service_event events[] = {
    {"licensebus.directory.user_created.v1", usage_journaled_user_created},
    {"licensebus.directory.user_updated.v1", usage_journaled_user_updated},
    {"licensebus.directory.user_deleted.v1", usage_journaled_user_deleted},
    {"licensebus.agents.device_installed.v1", usage_journaled_device_installed},
    {"licensebus.agents.device_uninstalled.v1", usage_journaled_device_uninstalled},
    {"licensebus.agents.device_associated.v1", usage_journaled_device_associated},
    {"licensebus.agents.device_detached.v1", usage_journaled_device_detached},
    /* last-seen = max(last-seen, t): applying it again changes nothing, so its id is not
     * recorded in lb_applied (the hot path stays at one write or none). */
    {"licensebus.signals.heartbeat.v1", usage_on_heartbeat, true},
    {"licensebus.scanning.scans_counted.v1", usage_on_scans_counted},
    {"licensebus.subscriptions.subscription_changed.v1", usage_journaled_subscription_changed},
    {"licensebus.subscriptions.seat_assigned.v1", usage_journaled_seat_assigned},
    {"licensebus.subscriptions.seat_unassigned.v1", usage_journaled_seat_unassigned},
    /* Its own events read back (restore.c): applied only when newer than the row, so applying
     * one again changes nothing: not recorded in lb_applied either (one read each, normally). */
    {"licensebus.usage.state_changed.v1", usage_on_own_state, true},
    {"licensebus.usage.license_released.v1", usage_on_own_released, true},
    {"licensebus.usage.user_purged.v1", usage_on_own_purged, true},
    {"licensebus.usage.overconsumption_started.v1", usage_on_own_over, true},
    {"licensebus.usage.overconsumption_ended.v1", usage_on_own_over, true},
    /* ... and its others, whose changes state_changed carries: counted, nothing else. */
    {"licensebus.usage.device_association_refused.v1", usage_on_own_other, true},
    {"licensebus.usage.device_associated.v1", usage_on_own_other, true},
    {"licensebus.usage.device_owner_changed.v1", usage_on_own_other, true},
    {"licensebus.usage.license_retaken.v1", usage_on_own_other, true},
};

static const char *const consumes[] = {"directory",     "agents", "signals", "scanning",
                                       "subscriptions", "usage",  NULL};

/* Types of those domains usage has no use for: acked and counted, not dead-lettered (D18). */
static const char *const ignores[] = {
    "licensebus.directory.group_created.v1",        "licensebus.directory.group_deleted.v1",
    "licensebus.directory.group_member_added.v1",   "licensebus.directory.group_member_removed.v1",
    "licensebus.subscriptions.customer_changed.v1", NULL,
};
static const char *const produces[] = {"usage", NULL};

static const struct config_entry config[] = {
    {"LB_USAGE_INACTIVE_AFTER", "30d", CONFIG_MILLIS,
     offsetof(struct usage_config, inactive_after_ms), 60000, 3650LL * 86400000,
     "a licensed user with no signal from any device this long has the license released"},
    {"LB_USAGE_RETENTION", "90d", CONFIG_MILLIS, offsetof(struct usage_config, retention_ms), 60000,
     3650LL * 86400000,
     "a user's email and display name are deleted this long after the license is removed"},
};

static const struct service_def usage = {
    .name = "usage",
    .description = "Users, devices, signals and license consumption; inactivity release and "
                   "retention",
    .default_http_port = 8093,
    .migrations = usage_migrations,
    .org_tree = true,
    .endpoints = endpoints,
    .endpoint_count = sizeof(endpoints) / sizeof(endpoints[0]),
    .consumes = consumes,
    .events = events,
    .event_count = sizeof(events) / sizeof(events[0]),
    .ignores = ignores,
    .produces = produces,
    .sweep = usage_sweep,
    .flush = usage_flush_signals,
    .config = config,
    .config_count = sizeof(config) / sizeof(config[0]),
    .config_size = sizeof(struct usage_config),
};

int main(int argc, char **argv)
{
    struct service_def def = usage;

    /* Heartbeats come in floods: 4096 unacked per consumer (the runtime's default is 1024)
     * lets a batch fill while the previous one commits, measured 10-20 % more signals/s for
     * +2 MiB (docs/performance.md, "Usage"). An operator's setting wins. */
    if (setenv("LB_MAX_ACK_PENDING", USAGE_MAX_ACK_PENDING, 0) != 0)
        return 1;
    def.migration_count = usage_migration_count;
    def.state_size = usage_state_size;
    return service_main(&def, argc, argv);
}
