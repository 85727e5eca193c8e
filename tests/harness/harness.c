/*
 * harness.c - processes, sockets and waits for integration tests.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* Poll interval of the waits. */
#define POLL_MS 20
/* Largest HTTP response read. */
#define HTTP_MAX (4 * 1024 * 1024)

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);

    return v && v[0] ? v : fallback;
}

void harness_tmpdir(char ret_dir[256], const char *tag)
{
    snprintf(ret_dir, 256, "%s/lb-%s-XXXXXX", env_or("TMPDIR", "/tmp"), tag);
    if (mkdtemp(ret_dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void harness_rmdir(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int harness_free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        fail_msg("cannot find a free port: %s", strerror(errno));
    port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

static bool port_open(int port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;

    if (fd >= 0)
        close(fd);
    return ok;
}

/* Forks and execs argv with stdout and stderr appended to log_path. */
static pid_t spawn(char *const argv[], const char *log_path, const char *const *env)
{
    pid_t pid = fork();

    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);

        /* A test that fails (or is killed) before its teardown takes its servers with it:
         * orphans left running would load the machine for every later test and bench. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid;
}

static void nats_write_config(struct nats_server *ns, const char *extra)
{
    char path[300];
    FILE *f;

    snprintf(path, sizeof(path), "%s/nats.conf", ns->dir);
    f = fopen(path, "w");
    if (f == NULL)
        fail_msg("cannot write %s", path);
    fprintf(f,
            "listen: 127.0.0.1:%d\n"
            "max_payload: 2MB\n"
            "jetstream { store_dir: \"%s/js\" }\n"
            "%s\n%s\n",
            ns->port, ns->dir, ns->cluster, extra ? extra : "");
    fclose(f);
}

static void nats_launch(struct nats_server *ns, const char *extra)
{
    char conf[300];
    char log[300];
    char *argv[] = {(char *)env_or("LB_NATS_SERVER", "nats-server"), "-c", conf, NULL};
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;

    nats_write_config(ns, extra);
    snprintf(conf, sizeof(conf), "%s/nats.conf", ns->dir);
    snprintf(log, sizeof(log), "%s/nats.log", ns->dir);
    ns->pid = spawn(argv, log, NULL);
    while (!port_open(ns->port)) {
        if (now_ms() > deadline || waitpid(ns->pid, NULL, WNOHANG) == ns->pid)
            fail_msg("nats-server did not start on port %d (see %s)", ns->port, log);
        nats_Sleep(POLL_MS);
    }
}

void harness_nats_start(struct nats_server *ns, const char *extra_config)
{
    memset(ns, 0, sizeof(*ns));
    harness_tmpdir(ns->dir, "nats");
    ns->port = harness_free_port();
    snprintf(ns->url, sizeof(ns->url), "nats://127.0.0.1:%d", ns->port);
    nats_launch(ns, extra_config);
}

void harness_nats_restart(struct nats_server *ns, const char *extra_config)
{
    nats_launch(ns, extra_config);
}

void harness_nats_stop(struct nats_server *ns)
{
    if (ns->pid > 0) {
        kill(ns->pid, SIGTERM);
        waitpid(ns->pid, NULL, 0);
        ns->pid = 0;
    }
    if (ns->dir[0] != '\0' && getenv("LB_KEEP_TMP") == NULL)
        harness_rmdir(ns->dir);
}

void harness_nats_cluster_start(struct nats_server nodes[HARNESS_CLUSTER_SIZE], char ret_urls[256])
{
    harness_nats_cluster_start_with(nodes, ret_urls, NULL);
}

void harness_nats_cluster_start_with(struct nats_server nodes[HARNESS_CLUSTER_SIZE],
                                     char ret_urls[256], const char *extra_config)
{
    int routes[HARNESS_CLUSTER_SIZE];
    size_t used = 0;
    int64_t deadline;

    for (int i = 0; i < HARNESS_CLUSTER_SIZE; i++) {
        memset(&nodes[i], 0, sizeof(nodes[i]));
        harness_tmpdir(nodes[i].dir, "node");
        nodes[i].port = harness_free_port();
        routes[i] = harness_free_port();
        snprintf(nodes[i].url, sizeof(nodes[i].url), "nats://127.0.0.1:%d", nodes[i].port);
        used += (size_t)snprintf(ret_urls + used, 256 - used, "%s%s", i ? "," : "", nodes[i].url);
    }
    for (int i = 0; i < HARNESS_CLUSTER_SIZE; i++) {
        int a = routes[(i + 1) % HARNESS_CLUSTER_SIZE];
        int b = routes[(i + 2) % HARNESS_CLUSTER_SIZE];

        snprintf(nodes[i].cluster, sizeof(nodes[i].cluster),
                 "server_name: n%d\ncluster { name: lb, listen: 127.0.0.1:%d, routes: "
                 "[nats-route://127.0.0.1:%d, nats-route://127.0.0.1:%d] }",
                 i + 1, routes[i], a, b);
    }
    for (int i = 0; i < HARNESS_CLUSTER_SIZE; i++)
        nats_launch(&nodes[i], extra_config);
    /* JetStream answers once the cluster has elected its meta leader. */
    deadline = now_ms() + HARNESS_WAIT_MS;
    for (;;) {
        natsConnection *nc = harness_connect(&nodes[0]);
        jsCtx *js = harness_js(nc);
        jsAccountInfo *info = NULL;
        natsStatus s = js_GetAccountInfo(&info, js, NULL, NULL);

        jsAccountInfo_Destroy(info);
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
        if (s == NATS_OK)
            return;
        if (now_ms() > deadline)
            fail_msg("the JetStream cluster did not form");
        nats_Sleep(100);
    }
}

natsConnection *harness_connect(const struct nats_server *ns)
{
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, ns->url);

    if (s != NATS_OK)
        fail_msg("connect %s: %s", ns->url, natsStatus_GetText(s));
    return nc;
}

jsCtx *harness_js(natsConnection *nc)
{
    jsCtx *js = NULL;
    natsStatus s = natsConnection_JetStream(&js, nc, NULL);

    if (s != NATS_OK)
        fail_msg("JetStream context: %s", natsStatus_GetText(s));
    return js;
}

/* Spawns lb-<name> with one optional argument (e.g. --rebuild). */
static void spawn_service(struct service_proc *p, const char *name, const struct nats_server *ns,
                          const char *data_dir, const char *const *env, const char *arg)
{
    static char vars[5][320];
    const char *all[32];
    char binary[512];
    char argument[64];
    char *argv[] = {binary, arg ? argument : NULL, NULL};
    size_t n = 0;

    if (p->http_port == 0)
        p->http_port = harness_free_port();
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->data_dir, sizeof(p->data_dir), "%s", data_dir);
    snprintf(p->log_path, sizeof(p->log_path), "%s/%s.log", data_dir, name);
    mkdir(data_dir, 0750);
    snprintf(binary, sizeof(binary), "%s/lb-%s", env_or("LB_BINARY_DIR", "build"), name);
    snprintf(argument, sizeof(argument), "%s", arg ? arg : "");
    snprintf(vars[0], sizeof(vars[0]), "LB_NATS_URL=%s", ns->url);
    snprintf(vars[1], sizeof(vars[1]), "LB_DATA_DIR=%s", data_dir);
    snprintf(vars[2], sizeof(vars[2]), "LB_HTTP_PORT=%d", p->http_port);
    snprintf(vars[3], sizeof(vars[3]), "LB_LOG_LEVEL=%s", env_or("LB_TEST_LOG_LEVEL", "info"));
    snprintf(vars[4], sizeof(vars[4]), "LB_SHUTDOWN_TIMEOUT=10s");
    for (size_t i = 0; i < 5; i++)
        all[n++] = vars[i];
    for (const char *const *e = env; e && *e && n < 31; e++)
        all[n++] = *e;
    all[n] = NULL;
    p->pid = spawn(argv, p->log_path, all);
}

void harness_service_spawn(struct service_proc *p, const char *name, const struct nats_server *ns,
                           const char *data_dir, const char *const *env)
{
    spawn_service(p, name, ns, data_dir, env, NULL);
}

void harness_service_start(struct service_proc *p, const char *name, const struct nats_server *ns,
                           const char *data_dir, const char *const *env)
{
    harness_service_start_args(p, name, ns, data_dir, env, NULL);
}

void harness_service_start_args(struct service_proc *p, const char *name,
                                const struct nats_server *ns, const char *data_dir,
                                const char *const *env, const char *arg)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;

    spawn_service(p, name, ns, data_dir, env, arg);
    for (;;) {
        char *body = NULL;
        int status = harness_http_get(p->http_port, "/readyz", &body);

        free(body);
        if (status == 200)
            return;
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid)
            fail_msg("lb-%s exited during start-up (see %s)", name, p->log_path);
        if (now_ms() > deadline)
            fail_msg("lb-%s not ready after %d ms (see %s)", name, HARNESS_WAIT_MS, p->log_path);
        nats_Sleep(POLL_MS);
    }
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int harness_service_wait_exit(struct service_proc *p, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);

        if (r == p->pid) {
            p->pid = 0;
            /* A sanitizer report in a service fails the test that ran it. */
            if (harness_log_contains(p, "Sanitizer") || harness_log_contains(p, "runtime error:"))
                fail_msg("lb-%s reported a sanitizer error (see %s)", p->name, p->log_path);
            return exit_code(status);
        }
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            p->pid = 0;
            fail_msg("lb-%s did not exit within %d ms", p->name, timeout_ms);
        }
        nats_Sleep(POLL_MS);
    }
}

int harness_service_stop(struct service_proc *p, int sig, int timeout_ms)
{
    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    return harness_service_wait_exit(p, timeout_ms);
}

bool harness_log_contains(const struct service_proc *p, const char *needle)
{
    FILE *f = fopen(p->log_path, "r");
    char line[8192];
    bool found = false;

    if (f == NULL)
        return false;
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

int harness_http_get(int port, const char *path, char **ret_body)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char request[512];
    char *buf = NULL;
    size_t len = 0;
    int status = 0;
    int fd;

    *ret_body = NULL;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0)
        goto done;
    snprintf(request, sizeof(request), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (write(fd, request, strlen(request)) < 0)
        goto done;
    buf = malloc(HTTP_MAX + 1);
    if (buf == NULL)
        goto done;
    for (;;) {
        ssize_t n = read(fd, buf + len, HTTP_MAX - len);

        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &status) == 1) {
        char *body = strstr(buf, "\r\n\r\n");

        if (body != NULL)
            *ret_body = strdup(body + 4);
    }
done:
    free(buf);
    if (fd >= 0)
        close(fd);
    return status;
}

double harness_metric(int port, const char *sample)
{
    char *body = NULL;
    double value = -1;
    size_t n = strlen(sample);

    if (harness_http_get(port, "/metrics", &body) == 200 && body != NULL) {
        for (char *line = body; line && *line;
             line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
            if (strncmp(line, sample, n) == 0 && line[n] == ' ') {
                value = strtod(line + n + 1, NULL);
                break;
            }
        }
    }
    free(body);
    return value;
}

void harness_wait_metric(int port, const char *sample, double value)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;
    double seen;

    while ((seen = harness_metric(port, sample)) < value) {
        if (now_ms() > deadline)
            fail_msg("%s stayed at %g, expected >= %g", sample, seen, value);
        nats_Sleep(POLL_MS);
    }
}

void harness_wait_metric_at_most(int port, const char *sample, double value)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;
    double seen;

    while ((seen = harness_metric(port, sample)) > value || seen < 0) {
        if (now_ms() > deadline)
            fail_msg("%s stayed at %g, expected <= %g", sample, seen, value);
        nats_Sleep(POLL_MS);
    }
}

/* True when no consumer named <service>-... of an LB_* stream has anything pending or unacked. */
static bool consumers_idle(jsCtx *js, const char *service)
{
    jsStreamInfoList *streams = NULL;
    size_t prefix = strlen(service);
    bool idle = true;

    if (js_Streams(&streams, js, NULL, NULL) != NATS_OK)
        return false;
    for (int i = 0; idle && i < streams->Count; i++) {
        jsConsumerInfoList *list = NULL;

        if (strncmp(streams->List[i]->Config->Name, "LB_", 3) != 0 ||
            js_Consumers(&list, js, streams->List[i]->Config->Name, NULL, NULL) != NATS_OK)
            continue;
        for (int k = 0; idle && k < list->Count; k++) {
            const jsConsumerInfo *ci = list->List[k];

            if (strncmp(ci->Name, service, prefix) == 0 && ci->Name[prefix] == '-')
                idle = ci->NumPending == 0 && ci->NumAckPending == 0;
        }
        jsConsumerInfoList_Destroy(list);
    }
    jsStreamInfoList_Destroy(streams);
    return idle;
}

void harness_wait_consumers_idle(jsCtx *js, const char *service)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;
    int idle = 0;

    /* Twice in a row: an ack follows its commit, the second look sees what came after. */
    while (idle < 2) {
        idle = consumers_idle(js, service) ? idle + 1 : 0;
        if (now_ms() > deadline)
            fail_msg("the consumers of %s still have work after %d ms", service, HARNESS_WAIT_MS);
        if (idle < 2)
            nats_Sleep(POLL_MS);
    }
}

natsMsg *harness_request(natsConnection *nc, const char *subject, const char *body, size_t len)
{
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_Request(&reply, nc, subject, body, (int)len, HARNESS_WAIT_MS);

    if (s != NATS_OK)
        fail_msg("request on %s: %s", subject, natsStatus_GetText(s));
    return reply;
}

cJSON *harness_reply_json(natsMsg *reply)
{
    cJSON *json =
        cJSON_ParseWithLength(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply));

    if (json == NULL)
        fail_msg("reply is not JSON: %.*s", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    return json;
}

void harness_js_publish(jsCtx *js, const char *subject, const char *msg_id, const char *data,
                        size_t len)
{
    jsPubOptions po;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    s = js_Publish(&ack, js, subject, data, (int)len, &po, &jerr);
    jsPubAck_Destroy(ack);
    if (s != NATS_OK)
        fail_msg("publish to %s: %s (%d)", subject, natsStatus_GetText(s), (int)jerr);
}

char *harness_event(const char *id, const char *type, const char *tenant, const char *time,
                    const char *data_json)
{
    size_t len =
        256 + strlen(id) + strlen(type) + strlen(time) + strlen(tenant) + strlen(data_json);
    char *text = malloc(len);

    assert_non_null(text);
    snprintf(text, len,
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/tests\","
             "\"type\":\"%s\",\"time\":\"%s\",\"tenant\":\"%s\","
             "\"datacontenttype\":\"application/json\",\"data\":%s}",
             id, type, time, tenant, data_json);
    return text;
}

static bool subject_matches(const char *subject, const char *filter)
{
    size_t n = strlen(filter);

    if (n > 0 && filter[n - 1] == '>')
        return strncmp(subject, filter, n - 1) == 0;
    return strcmp(subject, filter) == 0;
}

size_t harness_stream_messages(jsCtx *js, const char *stream, const char *filter,
                               natsMsg ***ret_msgs)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsMsg **msgs = NULL;
    size_t n = 0;

    *ret_msgs = NULL;
    if (js_GetStreamInfo(&si, js, stream, NULL, &jerr) != NATS_OK)
        return 0;
    if (si->State.Msgs > 0) {
        msgs = calloc(si->State.Msgs, sizeof(*msgs));
        assert_non_null(msgs);
        for (uint64_t seq = si->State.FirstSeq; seq <= si->State.LastSeq; seq++) {
            natsMsg *m = NULL;

            if (js_GetMsg(&m, js, stream, seq, NULL, &jerr) != NATS_OK)
                continue;
            if (n < si->State.Msgs && subject_matches(natsMsg_GetSubject(m), filter))
                msgs[n++] = m;
            else
                natsMsg_Destroy(m);
        }
    }
    jsStreamInfo_Destroy(si);
    *ret_msgs = msgs;
    return n;
}

void harness_free_messages(natsMsg **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        natsMsg_Destroy(msgs[i]);
    free(msgs);
}

size_t harness_wait_stream(jsCtx *js, const char *stream, const char *filter, size_t count)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;

    for (;;) {
        natsMsg **msgs;
        size_t n = harness_stream_messages(js, stream, filter, &msgs);

        harness_free_messages(msgs, n);
        if (n >= count)
            return n;
        if (now_ms() > deadline)
            fail_msg("%s holds %zu messages on %s, expected %zu", stream, n, filter, count);
        nats_Sleep(POLL_MS);
    }
}

/* The dead letter among `msgs` whose reason's message mentions `needle`, parsed, or NULL. */
static cJSON *find_dead_letter(natsMsg **msgs, size_t n, const char *needle)
{
    for (size_t i = 0; i < n; i++) {
        cJSON *dl = cJSON_ParseWithLength(natsMsg_GetData(msgs[i]), natsMsg_GetDataLength(msgs[i]));
        cJSON *reason = cJSON_GetObjectItem(dl, "reason");
        const char *message = cJSON_GetStringValue(cJSON_GetObjectItem(reason, "message"));

        if (message != NULL && strstr(message, needle) != NULL)
            return dl;
        cJSON_Delete(dl);
    }
    return NULL;
}

cJSON *harness_wait_dead_letter(jsCtx *js, const char *service, const char *code,
                                const char *needle)
{
    int64_t deadline = now_ms() + HARNESS_WAIT_MS;
    char subject[128];

    snprintf(subject, sizeof(subject), "lb.dlq.%s", service);
    for (;;) {
        natsMsg **msgs;
        size_t n = harness_stream_messages(js, "LB_DLQ", subject, &msgs);
        cJSON *dl = find_dead_letter(msgs, n, needle);

        harness_free_messages(msgs, n);
        if (dl != NULL) {
            cJSON *reason = cJSON_GetObjectItem(dl, "reason");

            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(reason, "code")), code);
            assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(dl, "service")), service);
            assert_true(cJSON_GetObjectItem(dl, "payload") != NULL ||
                        cJSON_GetObjectItem(dl, "payload_base64") != NULL);
            return dl;
        }
        if (now_ms() > deadline)
            fail_msg("no dead letter %s mentioning \"%s\" among %zu on %s", code, needle, n,
                     subject);
        nats_Sleep(POLL_MS);
    }
}

pid_t harness_lbctl_spawn(const struct nats_server *ns, const char *args, const char *out_path)
{
    char command[2048];
    pid_t pid;

    snprintf(command, sizeof(command), "cd %s && exec %s/lbctl --url %s %s >%s 2>%s.err",
             getenv("LB_SOURCE_DIR"), getenv("LB_BINARY_DIR"), ns->url, args, out_path, out_path);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    return pid;
}

int harness_lbctl_wait(pid_t pid)
{
    int status = 0;

    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *harness_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long size;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    return text;
}

void harness_assert_same_file(const char *a, const char *b)
{
    char *x = harness_slurp(a), *y = harness_slurp(b);

    assert_non_null(x);
    assert_non_null(y);
    if (strcmp(x, y) != 0)
        fail_msg("%s and %s differ:\n--- %s\n--- %s", a, b, x, y);
    assert_true(strlen(x) > 0);
    free(x);
    free(y);
}
