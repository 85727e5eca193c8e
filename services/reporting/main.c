/*
 * main.c - runs the reporting service with its tables; nothing else.
 */
#include <stddef.h>

#include "reporting.h"

static const struct service_endpoint endpoints[] = {
    {"customer_orgs", rep_customer_orgs, "api/reporting.customer_orgs.request.json",
     "api/reporting.customer_orgs.reply.json",
     "The Customer Organizations view: customer orgs and sub-orgs with their licenses"},
    {"overview", rep_overview, "api/reporting.overview.request.json",
     "api/reporting.overview.reply.json", "All the chart data of the overview in one reply"},
    {"license_history", rep_license_history, "api/reporting.license_history.request.json",
     "api/reporting.license_history.reply.json", "The full history of one license"},
    {"consumption", rep_consumption, "api/reporting.consumption.request.json",
     "api/reporting.consumption.reply.json", "Consumption per customer"},
    {"billable_active", rep_billable_active, "api/reporting.billable_active.request.json",
     "api/reporting.billable_active.reply.json",
     "Users and devices active in a calendar month, with the evidence"},
    {"export", rep_export, "api/reporting.export.request.json", "api/reporting.export.reply.json",
     "Builds a download (.xlsx or CSV) to fetch with export_chunk"},
    {"export_chunk", rep_export_chunk, "api/reporting.export_chunk.request.json",
     "api/reporting.export_chunk.reply.json", "One base64 chunk of a built download"},
    {"status", rep_status, "api/reporting.status.request.json", "api/reporting.status.reply.json",
     "How far the read model lags behind each consumed domain"},
};

static const struct service_event events[] = {
    {"licensebus.licensing.license_issued.v1", rep_on_license},
    {"licensebus.licensing.license_renewed.v1", rep_on_license},
    {"licensebus.licensing.license_limit_changed.v1", rep_on_license},
    {"licensebus.licensing.license_note_changed.v1", rep_on_license},
    {"licensebus.licensing.license_converted.v1", rep_on_license},
    {"licensebus.licensing.license_assigned.v1", rep_on_license},
    {"licensebus.licensing.license_unassigned.v1", rep_on_license},
    {"licensebus.licensing.license_activated.v1", rep_on_license},
    {"licensebus.licensing.license_deactivated.v1", rep_on_license},
    {"licensebus.licensing.license_expiring.v1", rep_on_license},
    {"licensebus.licensing.license_expired.v1", rep_on_license},
    {"licensebus.licensing.scan_limit_reached.v1", rep_on_license},
    {"licensebus.licensing.license_scans_counted.v1", rep_on_license}, /* scans_used, no history */
    {"licensebus.licensing.license_checked_in.v1", rep_on_license},    /* last_seen, no history */
    {"licensebus.licensing.product_added.v1", rep_on_product},
    {"licensebus.licensing.product_updated.v1", rep_on_product},
    {"licensebus.subscriptions.subscription_changed.v1", rep_on_subscription},
    {"licensebus.subscriptions.seat_assigned.v1", rep_on_seat},
    {"licensebus.subscriptions.seat_unassigned.v1", rep_on_seat},
    {"licensebus.subscriptions.customer_changed.v1", rep_on_customer},
    {"licensebus.usage.license_released.v1", rep_on_usage_user},
    {"licensebus.usage.license_retaken.v1", rep_on_usage_user},
    {"licensebus.usage.user_purged.v1", rep_on_usage_user},
    {"licensebus.directory.user_created.v1", rep_on_user},
    {"licensebus.directory.user_updated.v1", rep_on_user},
    {"licensebus.directory.user_deleted.v1", rep_on_user},
    {"licensebus.directory.org_moved.v1", rep_on_org_moved},
    {"licensebus.agents.device_installed.v1", rep_on_device},
    {"licensebus.agents.device_uninstalled.v1", rep_on_device},
    {"licensebus.usage.device_associated.v1", rep_on_device},
    {"licensebus.usage.device_owner_changed.v1", rep_on_device},
    {"licensebus.agents.device_detached.v1", rep_on_device},
    {"licensebus.signals.heartbeat.v1", rep_on_heartbeat, true}, /* coalesced: signals.c */
};

static const char *const consumes[] = {"directory",     "agents", "signals", "licensing",
                                       "subscriptions", "usage",  NULL};

/* Types of consumed domains reporting knowingly skips (D18): acked and counted. */
static const char *const ignores[] = {
    "licensebus.directory.group_created.v1",
    "licensebus.directory.group_deleted.v1",
    "licensebus.directory.group_member_added.v1",
    "licensebus.directory.group_member_removed.v1",
    "licensebus.agents.device_associated.v1", /* usage decides: usage.device_associated */
    "licensebus.subscriptions.package_changed.v1",
    "licensebus.usage.overconsumption_started.v1",
    "licensebus.usage.overconsumption_ended.v1",
    "licensebus.usage.device_association_refused.v1",
    "licensebus.usage.state_changed.v1", /* usage's journal, for its own rebuilds */
    NULL,
};

static const struct config_entry config[] = {
    {"LB_REPORTING_EXPIRING_WINDOW", "30d", CONFIG_MILLIS,
     offsetof(struct rep_config, expiring_window_ms), 0, 31536000000LL,
     "a license is Expiring this long before its expiration (as in licensing)"},
    {"LB_REPORTING_TRIAL_SOON", "14d", CONFIG_MILLIS, offsetof(struct rep_config, trial_soon_ms), 0,
     31536000000LL, "the overview lists trials ending within this time"},
    {"LB_REPORTING_EXPORT_TTL", "1h", CONFIG_MILLIS, offsetof(struct rep_config, export_ttl_ms),
     60000, 604800000LL, "an export file can be fetched this long, then the sweep deletes it"},
    {"LB_REPORTING_EXPORT_ROWS_MAX", "1000000", CONFIG_INT,
     offsetof(struct rep_config, export_rows_max), 1, 10000000,
     "largest export, in data rows (all sheets)"},
};

static const struct service_def reporting = {
    .name = "reporting",
    .description = "Reporting: the Customer Organizations view, chart data, consumption and "
                   "downloads, from a read model built only from events",
    .default_http_port = 8094,
    .migrations = rep_migrations,
    .org_tree = true,
    .endpoints = endpoints,
    .endpoint_count = sizeof(endpoints) / sizeof(endpoints[0]),
    .consumes = consumes,
    .events = events,
    .event_count = sizeof(events) / sizeof(events[0]),
    .ignores = ignores,
    .produces = NULL,
    .sweep = rep_sweep,
    .flush = rep_flush_signals,
    .config = config,
    .config_count = sizeof(config) / sizeof(config[0]),
    .config_size = sizeof(struct rep_config),
};

int main(int argc, char **argv)
{
    struct service_def def = reporting;

    def.migration_count = rep_migration_count;
    def.state_size = rep_state_size;
    return service_main(&def, argc, argv);
}
