/*
 * test_nats_tls.c - TLS on the client connection, with a certificate the
 * test makes: a service given LB_NATS_CA connects over TLS and serves; a
 * client without TLS is refused by the server.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static void test_tls(void **state)
{
    struct nats_server ns;
    struct service_proc tally = {0};
    char certs[256], command[1024], tls[1024], ca_env[300], data[256];
    const char *env[] = {ca_env, NULL};
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    natsMsg *reply = NULL;
    char url[64];

    (void)state;
    harness_tmpdir(certs, "certs");
    snprintf(command, sizeof(command),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s/cert.pem "
             ">/dev/null 2>&1",
             certs, certs);
    assert_int_equal(system(command), 0);
    snprintf(tls, sizeof(tls), "tls { cert_file: \"%s/cert.pem\", key_file: \"%s/key.pem\" }",
             certs, certs);
    harness_nats_start(&ns, tls);
    harness_tmpdir(data, "data");

    /* The service trusts the test's CA and serves over TLS. */
    snprintf(ca_env, sizeof(ca_env), "LB_NATS_CA=%s/cert.pem", certs);
    harness_service_start(&tally, "tally", &ns, data, env);
    snprintf(url, sizeof(url), "tls://127.0.0.1:%d", ns.port);
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetSecure(o, true);
    snprintf(command, sizeof(command), "%s/cert.pem", certs);
    assert_int_equal(natsOptions_LoadCATrustedCertificates(o, command), NATS_OK);
    assert_int_equal(natsConnection_Connect(&nc, o), NATS_OK);
    assert_int_equal(natsConnection_RequestString(&reply, nc, "lb.api.tally.add",
                                                  "{\"tenant\":\"acme\",\"counter\":\"c\","
                                                  "\"amount\":3}",
                                                  HARNESS_WAIT_MS),
                     NATS_OK);
    assert_non_null(strstr(natsMsg_GetData(reply), "\"value\":3"));
    natsMsg_Destroy(reply);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);

    /* Without TLS the server refuses the connection. */
    nc = NULL;
    assert_int_not_equal(natsConnection_ConnectTo(&nc, ns.url), NATS_OK);
    assert_null(nc);

    assert_int_equal(harness_service_stop(&tally, SIGTERM, HARNESS_WAIT_MS), 0);
    harness_nats_stop(&ns);
    harness_rmdir(data);
    harness_rmdir(certs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
