/*
 * test_scenarios.c - runs every event log in tests/scenarios/ end to end:
 * a fresh nats-server, the services the log's `scenario` header names (all
 * services when it names none) on the virtual clock, and `lbctl replay`,
 * which checks the expectations written in the log. When <log>.expected
 * exists, the replay's output must equal it byte for byte.
 */
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define SERVICES_MAX 8

static const char *const virtual_clock[] = {"LB_CLOCK=virtual", NULL};

/* The services a log's header asks for, else every service built. */
static size_t services_of(const char *log, char names[SERVICES_MAX][32])
{
    char *text = harness_slurp(log);
    char *nl = text ? strchr(text, '\n') : NULL;
    cJSON *header, *list, *item;
    size_t n = 0;

    assert_non_null(text);
    if (nl != NULL)
        *nl = '\0';
    header = cJSON_Parse(text);
    list = cJSON_GetObjectItem(cJSON_GetObjectItem(header, "scenario"), "services");
    cJSON_ArrayForEach(item, list)
    {
        if (cJSON_IsString(item) && n < SERVICES_MAX)
            snprintf(names[n++], 32, "%s", item->valuestring);
    }
    cJSON_Delete(header);
    free(text);
    if (list == NULL) {
        char dir[512];
        DIR *d;
        struct dirent *e;

        snprintf(dir, sizeof(dir), "%s/services", getenv("LB_SOURCE_DIR"));
        d = opendir(dir);
        assert_non_null(d);
        while ((e = readdir(d)) != NULL && n < SERVICES_MAX) {
            char binary[600];

            snprintf(binary, sizeof(binary), "%s/lb-%s", getenv("LB_BINARY_DIR"), e->d_name);
            if (e->d_name[0] != '.' && access(binary, X_OK) == 0)
                snprintf(names[n++], 32, "%.31s", e->d_name);
        }
        closedir(d);
    }
    return n;
}

static int run_scenario(const char *log, const char *name)
{
    struct nats_server ns;
    struct service_proc procs[SERVICES_MAX];
    char names[SERVICES_MAX][32], data[256], command[2048], out[400], expected[900];
    size_t n = services_of(log, names);
    char *want, *got;
    int status;

    memset(procs, 0, sizeof(procs));
    for (size_t i = 0; i < n; i++) {
        char binary[600];

        snprintf(binary, sizeof(binary), "%s/lb-%s", getenv("LB_BINARY_DIR"), names[i]);
        if (access(binary, X_OK) != 0) {
            /* A build with LB_ONLY_SERVICES leaves it out; the full build (CI) runs it. */
            printf("--- %s: skipped, lb-%s is not built\n", name, names[i]);
            return -1;
        }
    }
    harness_nats_start(&ns, NULL);
    harness_tmpdir(data, "scenario");
    for (size_t i = 0; i < n; i++)
        harness_service_start(&procs[i], names[i], &ns, data, virtual_clock);
    snprintf(out, sizeof(out), "%s/replay.out", data);
    snprintf(command, sizeof(command), "%s/lbctl --url %s replay %s >%s 2>&1",
             getenv("LB_BINARY_DIR"), ns.url, log, out);
    status = system(command);
    status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    got = harness_slurp(out);
    printf("--- %s (services:", name);
    for (size_t i = 0; i < n; i++)
        printf(" %s", names[i]);
    printf(") exit %d\n%s", status, got ? got : "");
    snprintf(expected, sizeof(expected), "%s.expected", log);
    want = harness_slurp(expected);
    if (status == 0 && want != NULL && strcmp(want, got) != 0) {
        printf("--- differs from %s\n", expected);
        status = 100;
    }
    free(want);
    free(got);
    for (size_t i = 0; i < n; i++) {
        if (harness_log_contains(&procs[i], "AddressSanitizer") ||
            harness_log_contains(&procs[i], "runtime error:"))
            status = 101;
        harness_service_stop(&procs[i], SIGTERM, HARNESS_WAIT_MS);
    }
    harness_nats_stop(&ns);
    harness_rmdir(data);
    return status;
}

static void test_every_scenario(void **state)
{
    char dir[512];
    struct dirent **entries;
    int count, failed = 0, ran = 0;

    (void)state;
    snprintf(dir, sizeof(dir), "%s/tests/scenarios", getenv("LB_SOURCE_DIR"));
    count = scandir(dir, &entries, NULL, alphasort);
    assert_true(count > 0);
    for (int i = 0; i < count; i++) {
        const char *name = entries[i]->d_name;
        size_t len = strlen(name);

        if (len > 7 && strcmp(name + len - 7, ".ndjson") == 0) {
            char log[800];

            snprintf(log, sizeof(log), "%s/%s", dir, name);
            int status = run_scenario(log, name);

            if (status > 0) {
                printf("FAILED: %s\n", name);
                failed++;
            }
            ran += status >= 0;
        }
        free(entries[i]);
    }
    free(entries);
    printf("%d scenario(s), %d failed\n", ran, failed);
    assert_true(ran > 0);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_scenario),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
