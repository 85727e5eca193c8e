/*
 * bench_replay.c - `lbctl replay` of a generated 1,000,000-event log into
 * the whole system, against raw JetStream publish + consume of the same
 * messages in the same run (issue 7 item 6).
 *
 *   log       build/bench/gen_replay_log --events N: one day of a
 *             distributor's tree (orgs, users, two devices per user
 *             installed and associated, then 24 hourly ticks with that
 *             hour's heartbeats) and device_get requests with expected
 *             replies at the end
 *   replay    nats-server, lb-licensing, lb-subscriptions, lb-usage and
 *             lb-reporting (virtual clock) started through tests/harness;
 *             `lbctl replay --stats LOG` timed from its start to its exit:
 *             the whole log checked against the schemas, published in order,
 *             every service quiet after each step, the expectations met
 *             (exit 0 required). Printed: events/s end to end, the check
 *             and run phases, each process's CPU seconds and peak RSS.
 *   raw       on the same nats-server, the same event payloads published
 *             asynchronously (4,096 in flight) to a stream of their own
 *             while one pull consumer (fetch 256, ack each) drains it;
 *             timed from the first publish until the last message is acked
 *
 * Target: >= 30,000 events/s end to end. Usage: bench_replay [--quick]
 * (a tenth of the events).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "harness.h"

static long event_count = 1000000;

#define RAW_BATCH      256
#define RAW_WINDOW     4096
#define RAW_TIMEOUT_MS 600000
#define TARGET_PER_S   30000.0

static const char *const services[] = {"licensing", "subscriptions", "usage", "reporting"};
#define SERVICE_COUNT (sizeof(services) / sizeof(services[0]))

/* ---- processes ------------------------------------------------------------------------ */

static long proc_kib(pid_t pid, const char *field)
{
    char path[64];
    char line[256];
    long kib = -1;
    size_t n = strlen(field);
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            sscanf(line + n + 1, "%ld", &kib);
            break;
        }
    if (f)
        fclose(f);
    return kib;
}

/* CPU seconds (user + system) a process has used so far. */
static double proc_cpu_s(pid_t pid)
{
    char path[64];
    char buf[1024];
    unsigned long utime = 0, stime = 0;
    FILE *f;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime);
    fclose(f);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* Runs a shell command, returns its exit status; *ret_rusage gets its resource use. */
static int run_timed(const char *command, struct rusage *ret_rusage)
{
    pid_t pid = fork();
    int status = 0;

    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &status, 0, ret_rusage) != pid)
        fail_msg("cannot run %s", command);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- the raw baseline --------------------------------------------------------------------- */

/* The event payloads of the log: each `{"event":X}` line gives X, each tick line is kept whole. */
static char **log_payloads(const char *path, size_t *ret_count)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    size_t n = 0, room = 1024;
    char **out = malloc(room * sizeof(*out));
    ssize_t len;

    assert_non_null(f);
    while ((len = getline(&line, &cap, f)) > 0) {
        if (strncmp(line, "{\"event\":", 9) == 0 && len > 11) {
            if (n == room)
                out = realloc(out, (room *= 2) * sizeof(*out));
            out[n++] = strndup(line + 9, (size_t)len - 11); /* drop the wrapper and "}\n" */
        } else if (strncmp(line, "{\"tick\":", 8) == 0) {
            if (n == room)
                out = realloc(out, (room *= 2) * sizeof(*out));
            out[n++] = strndup(line, (size_t)len - 1);
        }
    }
    free(line);
    fclose(f);
    *ret_count = n;
    return out;
}

struct raw_consumer {
    natsSubscription *sub;
    size_t expected;
    size_t acked;
};

static void *raw_consume(void *arg)
{
    struct raw_consumer *c = arg;
    int64_t deadline = clock_mono_ns() + (int64_t)RAW_TIMEOUT_MS * 1000000;

    while (c->acked < c->expected && clock_mono_ns() < deadline) {
        natsMsgList list = {0};
        jsErrCode jerr = 0;

        natsSubscription_Fetch(&list, c->sub, RAW_BATCH, 1000, &jerr);
        for (int i = 0; i < list.Count; i++)
            natsMsg_Ack(list.Msgs[i], NULL);
        c->acked += (size_t)list.Count;
        natsMsgList_Destroy(&list);
    }
    return NULL;
}

/* Events/s of publish + consume + ack of the log's payloads through a bare stream. */
static double raw_baseline(const struct nats_server *ns, const char *log_path)
{
    natsConnection *nc = harness_connect(ns);
    jsCtx *js = harness_js(nc);
    jsCtx *pub = NULL;
    jsOptions jo;
    jsStreamConfig sc;
    jsStreamInfo *si = NULL;
    jsSubOptions so;
    jsPubOptions po;
    jsErrCode jerr = 0;
    struct raw_consumer c = {0};
    size_t count = 0;
    char **payloads = log_payloads(log_path, &count);
    pthread_t thread;
    int64_t t0, t1;

    jsStreamConfig_Init(&sc);
    sc.Name = "RAW_REPLAY";
    sc.Subjects = (const char *[]){"raw.>"};
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    assert_int_equal(js_AddStream(&si, js, &sc, NULL, &jerr), NATS_OK);
    jsStreamInfo_Destroy(si);
    jsSubOptions_Init(&so);
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.MaxAckPending = 4 * RAW_BATCH;
    assert_int_equal(js_PullSubscribe(&c.sub, js, "raw.>", "raw-replay", NULL, &so, &jerr),
                     NATS_OK);
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = RAW_WINDOW;
    jo.PublishAsync.StallWait = RAW_TIMEOUT_MS;
    assert_int_equal(natsConnection_JetStream(&pub, nc, &jo), NATS_OK);
    c.expected = count;
    t0 = clock_mono_ns();
    pthread_create(&thread, NULL, raw_consume, &c);
    for (size_t i = 0; i < count; i++) {
        char id[32];

        snprintf(id, sizeof(id), "raw-%zu", i);
        jsPubOptions_Init(&po);
        po.MsgId = id;
        assert_int_equal(
            js_PublishAsync(pub, "raw.events", payloads[i], (int)strlen(payloads[i]), &po),
            NATS_OK);
    }
    jsPubOptions_Init(&po);
    po.MaxWait = RAW_TIMEOUT_MS;
    assert_int_equal(js_PublishAsyncComplete(pub, &po), NATS_OK);
    pthread_join(thread, NULL);
    t1 = clock_mono_ns();
    assert_int_equal(c.acked, count);
    for (size_t i = 0; i < count; i++)
        free(payloads[i]);
    free(payloads);
    natsSubscription_Destroy(c.sub);
    jsCtx_Destroy(pub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return (double)count / ((double)(t1 - t0) / 1e9);
}

/* ---- the replay ---------------------------------------------------------------------------- */

/* The number after "name": in a JSON line. */
static double json_number(const char *text, const char *name)
{
    char key[64];
    const char *p;

    snprintf(key, sizeof(key), "\"%s\":", name);
    p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

static void bench(void **state)
{
    const char *bin = getenv("LB_BINARY_DIR");
    const char *const env[] = {"LB_CLOCK=virtual", "LB_LOG_LEVEL=warn", NULL};
    struct nats_server ns;
    struct service_proc procs[SERVICE_COUNT] = {0};
    char dir[256], data[300], log_path[320], stats_path[320], out_path[320], command[2048];
    char stats[1024] = "";
    double cpu_before[SERVICE_COUNT];
    struct rusage lbctl_use, gen_use;
    int64_t t0, t1;
    double replay_per_s, raw_per_s, cpu_lbctl;
    int status;
    FILE *f;

    (void)state;
    assert_non_null(bin);
    printf("machine: %ld cores; nats-server, the four services and lbctl share them; ratios are "
           "what to compare\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    harness_tmpdir(dir, "bench-replay");
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log_path, sizeof(log_path), "%s/log.ndjson", dir);
    snprintf(stats_path, sizeof(stats_path), "%s/stats.json", dir);
    snprintf(out_path, sizeof(out_path), "%s/replies.txt", dir);
    snprintf(command, sizeof(command), "%s/bench/gen_replay_log --events %ld > %s", bin,
             event_count, log_path);
    t0 = clock_mono_ns();
    assert_int_equal(run_timed(command, &gen_use), 0);
    t1 = clock_mono_ns();
    printf("log: %ld events generated in %.2f s (%s)\n", event_count, (double)(t1 - t0) / 1e9,
           log_path);

    harness_nats_start(&ns, NULL);
    for (size_t i = 0; i < SERVICE_COUNT; i++) {
        harness_service_start(&procs[i], services[i], &ns, data, env);
        cpu_before[i] = proc_cpu_s(procs[i].pid);
    }
    snprintf(command, sizeof(command),
             "%s/lbctl --url %s replay --stats --wait 600000 %s > %s 2> %s", bin, ns.url, log_path,
             out_path, stats_path);
    t0 = clock_mono_ns();
    status = run_timed(command, &lbctl_use);
    t1 = clock_mono_ns();
    f = fopen(stats_path, "r");
    assert_non_null(f);
    while (fgets(stats, sizeof(stats), f) != NULL && stats[0] != '{')
        fprintf(stderr, "lbctl: %s", stats);
    fclose(f);
    if (status != 0)
        fail_msg("lbctl replay exited %d (%s)", status, stats);
    replay_per_s = (double)event_count / ((double)(t1 - t0) / 1e9);
    cpu_lbctl = (double)(lbctl_use.ru_utime.tv_sec + lbctl_use.ru_stime.tv_sec) +
                (double)(lbctl_use.ru_utime.tv_usec + lbctl_use.ru_stime.tv_usec) / 1e6;
    printf("replay: %ld events in %.2f s = %.0f events/s end to end (expectations met)\n",
           event_count, (double)(t1 - t0) / 1e9, replay_per_s);
    printf("  phases: checked in %.2f s, published and applied in %.2f s (of which publishing "
           "%.2f s, %.0f waits for quiet %.2f s)\n",
           json_number(stats, "check_s"), json_number(stats, "run_s"),
           json_number(stats, "publish_s"), json_number(stats, "waits"),
           json_number(stats, "wait_s"));
    printf("  lbctl: %.1f CPU s, peak RSS %ld MiB\n", cpu_lbctl, lbctl_use.ru_maxrss / 1024);
    for (size_t i = 0; i < SERVICE_COUNT; i++)
        printf("  lb-%-14s %6.1f CPU s, VmHWM %ld MiB\n", services[i],
               proc_cpu_s(procs[i].pid) - cpu_before[i], proc_kib(procs[i].pid, "VmHWM") / 1024);
    for (size_t i = 0; i < SERVICE_COUNT; i++)
        assert_int_equal(harness_service_stop(&procs[i], SIGTERM, 30000), 0);

    raw_per_s = raw_baseline(&ns, log_path);
    printf("raw JetStream publish + consume of the same payloads: %.0f events/s\n", raw_per_s);
    printf("ratio replay / raw: %.2f\n", replay_per_s / raw_per_s);
    printf("target >= %.0f events/s end to end: %s (%.0f)\n", TARGET_PER_S,
           replay_per_s >= TARGET_PER_S ? "met" : "NOT MET", replay_per_s);
    harness_nats_stop(&ns);
    harness_rmdir(dir);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(bench)};

    if (argc > 1 && strcmp(argv[1], "--quick") == 0)
        event_count /= 10;
    setvbuf(stdout, NULL, _IOLBF, 0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
