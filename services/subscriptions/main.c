/*
 * main.c - runs the subscriptions service with its tables; nothing else.
 */
#include <stddef.h>

#include "subscriptions.h"

#define API(name) "api/subscriptions." name ".request.json", "api/subscriptions." name ".reply.json"

static const struct service_endpoint endpoints[] = {
    {"package_add", subs_package_add, API("package_add"),
     "Adds a package to the platform-wide catalog; emits package_changed"},
    {"package_update", subs_package_update, API("package_update"),
     "Changes a package's name or features; emits package_changed"},
    {"package_list", subs_package_list, API("package_list"), "Lists the package catalog"},
    {"entitled", subs_entitled, API("entitled"),
     "Whether a customer, one of its users or devices has a feature now"},
    {"customer_create", subs_customer_create, API("customer_create"),
     "Registers a customer org; emits customer_changed"},
    {"customer_inactivate", subs_customer_inactivate, API("customer_inactivate"),
     "Inactivates a customer with no agent installed (login and billing stop)"},
    {"customer_reactivate", subs_customer_reactivate, API("customer_reactivate"),
     "Reactivates an inactive customer"},
    {"customer_get", subs_customer_get, API("customer_get"), "Reads a customer"},
    {"subscription_create", subs_subscription_create, API("subscription_create"),
     "Creates a subscription (in_trial with trial_end, else active)"},
    {"subscription_set_quantity", subs_subscription_set_quantity, API("subscription_set_quantity"),
     "Changes a subscription's quantity"},
    {"subscription_convert", subs_subscription_convert, API("subscription_convert"),
     "Converts an in_trial subscription to active"},
    {"subscription_suspend", subs_subscription_suspend, API("subscription_suspend"),
     "Suspends an in_trial or active subscription"},
    {"subscription_reactivate", subs_subscription_reactivate, API("subscription_reactivate"),
     "Reactivates a suspended subscription"},
    {"subscription_cancel", subs_subscription_cancel, API("subscription_cancel"),
     "Cancels a subscription (final); unassigns its seats"},
    {"subscription_get", subs_subscription_get, API("subscription_get"), "Reads a subscription"},
    {"subscription_list", subs_subscription_list, API("subscription_list"),
     "Lists a customer's subscriptions"},
    {"group_attach", subs_group_attach, API("group_attach"),
     "Attaches a user group to a subscription; assigns its members"},
    {"group_detach", subs_group_detach, API("group_detach"),
     "Detaches a user group from a subscription; unassigns its members"},
};

static const struct service_event events[] = {
    {"licensebus.directory.org_created.v1", subs_on_org_created},
    {"licensebus.directory.group_created.v1", subs_on_group_created},
    {"licensebus.directory.group_deleted.v1", subs_on_group_deleted},
    {"licensebus.directory.group_member_added.v1", subs_on_member_added},
    {"licensebus.directory.group_member_removed.v1", subs_on_member_removed},
    {"licensebus.directory.user_deleted.v1", subs_on_user_deleted},
    {"licensebus.agents.device_installed.v1", subs_on_device_installed},
    {"licensebus.agents.device_uninstalled.v1", subs_on_device_uninstalled},
    /* Its own snapshots read back (D23): newer than the row or nothing, so applying one twice
     * changes nothing and needs no applied-id record. */
    {"licensebus.subscriptions.subscription_changed.v1", subs_on_own_subscription, true},
    {"licensebus.subscriptions.customer_changed.v1", subs_on_own_customer, true},
    {"licensebus.subscriptions.package_changed.v1", subs_on_own_package, true},
};

/* Its own domain first: a rebuild restores command-made state from it, and the sooner its
 * watermarks are read the less the platform domains replay emits (rebuild.c). */
static const char *const consumes[] = {"subscriptions", "directory", "agents", NULL};

/* Types of those domains subscriptions has no use for: acked and counted (D18). The org
 * tree's own types (org_moved, org_renamed, org_deleted) are applied by the runtime. */
static const char *const ignores[] = {
    "licensebus.directory.user_created.v1",
    "licensebus.directory.user_updated.v1",
    "licensebus.agents.device_associated.v1",
    "licensebus.agents.device_detached.v1",
    /* Seats are recomputed from attachments and memberships, never read back. */
    "licensebus.subscriptions.seat_assigned.v1",
    "licensebus.subscriptions.seat_unassigned.v1",
    NULL,
};
static const char *const produces[] = {"subscriptions", NULL};

static const struct config_entry config[] = {
    {"LB_SUBSCRIPTIONS_AUTO_CUSTOMERS", "true", CONFIG_BOOL,
     offsetof(struct subs_config, auto_customers), 0, 1,
     "register a customer when the directory creates an org of kind customer"},
    {"LB_SUBSCRIPTIONS_TRIAL_MAX", "365d", CONFIG_MILLIS,
     offsetof(struct subs_config, trial_max_ms), 86400000LL, 3650LL * 86400000LL,
     "longest trial subscription_create accepts"},
};

static const struct service_def subscriptions = {
    .name = "subscriptions",
    .description = "Packages, customers, subscriptions, trials, group seats and entitlements",
    .default_http_port = 8092,
    .migrations = subs_migrations,
    .org_tree = true,
    .endpoints = endpoints,
    .endpoint_count = sizeof(endpoints) / sizeof(endpoints[0]),
    .consumes = consumes,
    .events = events,
    .event_count = sizeof(events) / sizeof(events[0]),
    .ignores = ignores,
    .produces = produces,
    .sweep = subs_sweep,
    .state_size = sizeof(struct subs_state),
    .config = config,
    .config_count = sizeof(config) / sizeof(config[0]),
    .config_size = sizeof(struct subs_config),
};

int main(int argc, char **argv)
{
    struct service_def def = subscriptions;

    def.migration_count = subs_migration_count;
    return service_main(&def, argc, argv);
}
