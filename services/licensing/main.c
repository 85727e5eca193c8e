/*
 * main.c - runs the licensing service with its tables; nothing else.
 */
#include <stddef.h>

#include "licensing.h"

#define ENDPOINT(name, fn, what)                                                                   \
    {                                                                                              \
#name, fn, "api/licensing." #name ".request.json", "api/licensing." #name ".reply.json",   \
            what                                                                                   \
    }

static const struct service_endpoint endpoints[] = {
    ENDPOINT(product_add, lic_product_add, "Adds a product to the catalog (catalog admin only)"),
    ENDPOINT(product_update, lic_product_update,
             "Changes a product's name, visibility or installers (catalog admin only)"),
    ENDPOINT(product_installers, lic_product_installers, "Lists a product's installers"),
    ENDPOINT(license_issue, lic_license_issue, "Issues a license; emits license_issued"),
    ENDPOINT(license_renew, lic_license_renew, "Moves a license's expiration later"),
    ENDPOINT(license_set_limit, lic_license_set_limit, "Changes the purchased limit"),
    ENDPOINT(license_set_note, lic_license_set_note, "Changes the note"),
    ENDPOINT(license_convert, lic_license_convert, "Converts an evaluation license to purchased"),
    ENDPOINT(license_assign, lic_license_assign, "Assigns a license to one more org"),
    ENDPOINT(license_unassign, lic_license_unassign, "Removes an org from a license"),
    ENDPOINT(license_activate, lic_license_activate, "Binds a deployment to a license"),
    ENDPOINT(license_deactivate, lic_license_deactivate, "Frees a deployment's slot"),
    ENDPOINT(license_checkin, lic_license_checkin, "Records that a deployment was seen"),
    ENDPOINT(license_get, lic_license_get, "A license with its deployments"),
    ENDPOINT(license_list, lic_license_list, "The licenses shown under an org, paged"),
    ENDPOINT(license_history, lic_license_history, "A license's full history, oldest first"),
    ENDPOINT(license_shown_under, lic_license_shown_under,
             "The orgs a license is shown under (the deepest assigned ones)"),
};

/* Its own events come back (D22): applied only when newer than the row, so they are idempotent
 * and need no applied-id record. */
#define OWN(name, fn)                                                                              \
    {                                                                                              \
        "licensebus.licensing." #name ".v1", fn, true                                              \
    }

static const struct service_event events[] = {
    {"licensebus.commerce.license_ordered.v1", lic_on_ordered, false},
    {"licensebus.scanning.scans_counted.v1", lic_on_scans, false},
    OWN(license_issued, lic_on_own_license),
    OWN(license_assigned, lic_on_own_license),
    OWN(license_unassigned, lic_on_own_license),
    OWN(license_activated, lic_on_own_license),
    OWN(license_deactivated, lic_on_own_license),
    OWN(license_checked_in, lic_on_own_license),
    OWN(license_renewed, lic_on_own_license),
    OWN(license_converted, lic_on_own_license),
    OWN(license_limit_changed, lic_on_own_license),
    OWN(license_note_changed, lic_on_own_license),
    OWN(license_expiring, lic_on_own_license),
    OWN(license_expired, lic_on_own_license),
    OWN(scan_limit_reached, lic_on_own_license),
    OWN(license_scans_counted, lic_on_own_license),
    OWN(product_added, lic_on_own_product),
    OWN(product_updated, lic_on_own_product),
};

static const char *const consumes[] = {"licensing", "directory", "commerce", "scanning", NULL};

/* Directory types licensing has no use for: acked and counted, not dead-lettered (D18). The
 * org types are applied by the runtime (org_tree). */
static const char *const ignores[] = {
    "licensebus.directory.user_created.v1",         "licensebus.directory.user_updated.v1",
    "licensebus.directory.user_deleted.v1",         "licensebus.directory.group_created.v1",
    "licensebus.directory.group_deleted.v1",        "licensebus.directory.group_member_added.v1",
    "licensebus.directory.group_member_removed.v1", NULL};
static const char *const produces[] = {"licensing", NULL};

static const struct config_entry config[] = {
    {"LB_LICENSING_EXPIRING_WINDOW", "30d", CONFIG_MILLIS,
     offsetof(struct lic_config, expiring_window_ms), 1, 366LL * 86400000LL,
     "a license is Expiring this long before its expiration"},
};

static const struct service_def licensing = {
    .name = "licensing",
    .description = "Key-based product licenses: catalog, issue, activation, history",
    .default_http_port = 8091,
    .migrations = lic_migrations,
    .org_tree = true,
    .endpoints = endpoints,
    .endpoint_count = sizeof(endpoints) / sizeof(endpoints[0]),
    .consumes = consumes,
    .events = events,
    .event_count = sizeof(events) / sizeof(events[0]),
    .ignores = ignores,
    .produces = produces,
    .sweep = lic_sweep,
    .state_size = sizeof(struct lic_state),
    .config = config,
    .config_count = sizeof(config) / sizeof(config[0]),
    .config_size = sizeof(struct lic_config),
};

int main(int argc, char **argv)
{
    struct service_def def = licensing;

    def.migration_count = lic_migration_count;
    return service_main(&def, argc, argv);
}
