/*
 * test_nats_configs.c - every NATS configuration in deploy/nats is accepted
 * by the real nats-server (`nats-server -t`), with the environment it is
 * given in production (node name, namespace, passwords, TLS files).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "harness.h"

/* Runs `nats-server -t -c <file>` and returns its exit status. */
static int check_config(const char *file)
{
    char command[1024];

    snprintf(command, sizeof(command), "%s -t -c %s/deploy/nats/%s >/dev/null 2>&1",
             getenv("LB_NATS_SERVER") ? getenv("LB_NATS_SERVER") : "nats-server",
             getenv("LB_SOURCE_DIR"), file);
    return system(command);
}

static void test_configs(void **state)
{
    char certs[256], command[1024], path[300];

    (void)state;
    harness_tmpdir(certs, "certs");
    snprintf(command, sizeof(command),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=nats "
             "-keyout %s/tls.key -out %s/tls.crt >/dev/null 2>&1",
             certs, certs);
    assert_int_equal(system(command), 0);
    snprintf(path, sizeof(path), "%s/tls.crt", certs);
    setenv("NATS_TLS_CERT", path, 1);
    snprintf(path, sizeof(path), "%s/tls.key", certs);
    setenv("NATS_TLS_KEY", path, 1);
    setenv("SERVER_NAME", "nats-0", 1);
    setenv("NATS_NAMESPACE", "licensebus", 1);
    setenv("LB_NATS_PASSWORD_TALLY", "t", 1);
    setenv("LB_NATS_PASSWORD_LICENSING", "l", 1);
    setenv("LB_NATS_PASSWORD_SUBSCRIPTIONS", "s", 1);
    setenv("LB_NATS_PASSWORD_USAGE", "u", 1);
    setenv("LB_NATS_PASSWORD_REPORTING", "r", 1);
    setenv("LB_NATS_PASSWORD_PLATFORM", "p", 1);
    setenv("LB_NATS_PASSWORD_READER", "r", 1);
    setenv("LB_NATS_PASSWORD_ADMIN", "a", 1);

    assert_int_equal(check_config("local.conf"), 0);
    assert_int_equal(check_config("cluster.conf"), 0);
    assert_int_equal(check_config("partitions.conf"), 0);
    /* The check is real: a missing password variable makes the file invalid. */
    unsetenv("LB_NATS_PASSWORD_ADMIN");
    assert_int_not_equal(check_config("cluster.conf"), 0);
    harness_rmdir(certs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
