/*
 * harness.h - real parts for integration tests.
 *
 * Starts a real nats-server (JetStream in a temporary directory, on a free
 * loopback port) and real service processes built by CMake, and offers the
 * few client calls tests need. Failures end the test through cmocka's
 * fail_msg, so tests read as the story they check. Waiting is always for a
 * condition with a deadline (harness_wait_*), never a blind sleep.
 *
 * Ownership: strings and messages returned are the caller's (free /
 * natsMsg_Destroy); the harness owns its processes and directories.
 */
#ifndef LB_HARNESS_H
#define LB_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <nats/nats.h>

/* Default deadline of every wait, in ms. */
#define HARNESS_WAIT_MS 20000

/* A nats-server process. */
struct nats_server {
    pid_t pid;
    int port;
    char dir[256];     /* temporary directory: JetStream store and config */
    char url[64];      /* nats://127.0.0.1:<port> */
    char cluster[512]; /* server_name and cluster block when part of a cluster, else "" */
};

/* A service process. */
struct service_proc {
    pid_t pid;
    char name[32];
    int http_port;
    char data_dir[256];
    char log_path[300]; /* its stderr (JSON log lines) */
};

/* A fresh temporary directory (removed by harness_rmdir). */
void harness_tmpdir(char ret_dir[256], const char *tag);
void harness_rmdir(const char *dir);

/* A TCP port nobody listens on right now. */
int harness_free_port(void);

/*
 * Starts nats-server with JetStream under a new temporary directory; extra
 * configuration lines (may be NULL) are added to its config file.
 */
void harness_nats_start(struct nats_server *ns, const char *extra_config);
/* Restarts it on the same port and store (e.g. after harness_nats_kill). */
void harness_nats_restart(struct nats_server *ns, const char *extra_config);
void harness_nats_stop(struct nats_server *ns);

/* Nodes in a test cluster. */
#define HARNESS_CLUSTER_SIZE 3

/*
 * Starts a JetStream cluster of HARNESS_CLUSTER_SIZE nodes on loopback ports
 * and waits until JetStream answers; ret_urls gets the comma-separated URLs.
 */
void harness_nats_cluster_start(struct nats_server nodes[HARNESS_CLUSTER_SIZE], char ret_urls[256]);
/* Same, with extra configuration lines (e.g. subject mappings) on every node. */
void harness_nats_cluster_start_with(struct nats_server nodes[HARNESS_CLUSTER_SIZE],
                                     char ret_urls[256], const char *extra_config);

/* A client connection (asserts on failure). */
natsConnection *harness_connect(const struct nats_server *ns);
jsCtx *harness_js(natsConnection *nc);

/*
 * Starts build/lb-<name> against `ns` with data in `data_dir`; `env` is a
 * NULL-terminated list of extra "NAME=value" settings (or NULL). Waits
 * until its /readyz answers 200.
 */
void harness_service_start(struct service_proc *p, const char *name, const struct nats_server *ns,
                           const char *data_dir, const char *const *env);
/* Same, with one command-line argument (e.g. "--rebuild"), or NULL. */
void harness_service_start_args(struct service_proc *p, const char *name,
                                const struct nats_server *ns, const char *data_dir,
                                const char *const *env, const char *arg);
/* Same, but does not wait for readiness (for services expected to die). */
void harness_service_spawn(struct service_proc *p, const char *name, const struct nats_server *ns,
                           const char *data_dir, const char *const *env);
/* Sends `sig` and waits up to `timeout_ms`; returns the exit status, or 128+signal. */
int harness_service_stop(struct service_proc *p, int sig, int timeout_ms);
/* Waits for the process to exit by itself; returns as harness_service_stop. */
int harness_service_wait_exit(struct service_proc *p, int timeout_ms);
/* True when the service's log contains `needle`. */
bool harness_log_contains(const struct service_proc *p, const char *needle);

/* GET http://127.0.0.1:<port><path>; returns the status and the malloc'd body (may be NULL). */
int harness_http_get(int port, const char *path, char **ret_body);
/* The value of a sample in /metrics (e.g. "lb_events_applied_total"); -1 when absent. */
double harness_metric(int port, const char *sample);
/* Waits until `sample` >= `value`; asserts on timeout. */
void harness_wait_metric(int port, const char *sample, double value);
/* Waits until `sample` is present and <= `value`; asserts on timeout. */
void harness_wait_metric_at_most(int port, const char *sample, double value);
/* Waits until no consumer of `service` (durables <service>-...) has anything pending or unacked. */
void harness_wait_consumers_idle(jsCtx *js, const char *service);

/* Sends a request and returns the reply (asserts on timeout). */
natsMsg *harness_request(natsConnection *nc, const char *subject, const char *body, size_t len);
/* The reply body parsed as JSON (asserts it is JSON). */
cJSON *harness_reply_json(natsMsg *reply);

/* Publishes to JetStream with Nats-Msg-Id `msg_id` (NULL = no header); asserts the ack. */
void harness_js_publish(jsCtx *js, const char *subject, const char *msg_id, const char *data,
                        size_t len);
/* Builds a CloudEvent (compact JSON, malloc'd) with `data_json` as its data. */
char *harness_event(const char *id, const char *type, const char *tenant, const char *time,
                    const char *data_json);

/* Every message now in `stream` whose subject matches `filter` exactly or, ending in '>', by
 * prefix. */
size_t harness_stream_messages(jsCtx *js, const char *stream, const char *filter,
                               natsMsg ***ret_msgs);
void harness_free_messages(natsMsg **msgs, size_t n);
/* Waits until the stream holds at least `count` such messages; returns how many it holds. */
size_t harness_wait_stream(jsCtx *js, const char *stream, const char *filter, size_t count);

/*
 * Waits for the dead letter of `service` whose reason's message mentions `needle`, asserts its
 * code, service and payload, and returns its parsed body (the caller frees it). Polls: the
 * lb_events_dead_lettered_total metric counts a dead letter at its commit, the DLQ stream holds
 * it once the outbox's publish arrives, a little later.
 */
cJSON *harness_wait_dead_letter(jsCtx *js, const char *service, const char *code,
                                const char *needle);

/* Runs build/lbctl `args` against `ns` from the source tree; stdout to `out_path`, stderr to
 * out_path.err. Returns its pid (harness_lbctl_wait reaps it and gives its exit code). */
pid_t harness_lbctl_spawn(const struct nats_server *ns, const char *args, const char *out_path);
int harness_lbctl_wait(pid_t pid);

/* A whole file, NUL-terminated (the caller frees it); NULL when it does not exist. */
char *harness_slurp(const char *path);
/* Asserts two files hold the same non-empty bytes, showing both when they differ. */
void harness_assert_same_file(const char *a, const char *b);

#endif
