/*
 * http.c - libmicrohttpd on the libuv loop: MHD runs without a thread of
 * its own; its epoll descriptor sits under a uv_poll handle and a timer
 * calls MHD_run for its timeouts, so handlers run on the loop thread.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

/* Idle connections are closed after this many seconds. */
#define HTTP_CONNECTION_TIMEOUT_S 10
/* Connections served at once. */
#define HTTP_CONNECTION_LIMIT 64
/* How often MHD_run runs for timeouts. */
#define HTTP_TIMER_MS 500

struct http_server {
    struct MHD_Daemon *daemon;
    uv_poll_t poll;
    uv_timer_t timer;
    int open_handles; /* freed when both close callbacks have run */
    http_handler_fn handler;
    void *ctx;
    int port;
};

/* The signature is libmicrohttpd's MHD_AccessHandlerCallback. */
static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, // NOLINT(readability-non-const-parameter)
                              void **con_cls)
{
    struct http_server *s = cls;
    struct http_response r = {.status = 500, .content_type = "text/plain"};
    struct MHD_Response *resp;
    enum MHD_Result ret;

    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char body[] = "only GET is served\n";

        resp =
            MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "Allow", "GET");
        ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    s->handler(s->ctx, url, &r);
    resp = MHD_create_response_from_buffer(r.body ? r.body_len : 0, r.body ? r.body : (void *)"",
                                           r.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(r.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r.content_type);
    ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
    struct http_server *s = handle->data;

    (void)status;
    (void)events;
    MHD_run(s->daemon);
}

static void on_timer(uv_timer_t *handle)
{
    struct http_server *s = handle->data;

    MHD_run(s->daemon);
}

enum lb_err http_server_start(uv_loop_t *loop, int port, bool bind_all, http_handler_fn handler,
                              void *ctx, struct http_server **ret_server, struct lb_why *why)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    const union MHD_DaemonInfo *info;
    struct http_server *s;

    if (port < 0 || port > 65535)
        return lb_fail(why, LB_EINVAL, "HTTP port %d is out of range", port);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    addr.sin_addr.s_addr = htonl(bind_all ? INADDR_ANY : INADDR_LOOPBACK);
    s->handler = handler;
    s->ctx = ctx;
    s->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL,
                                 answer, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONNECTION_TIMEOUT_S,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNECTION_LIMIT,
                                 MHD_OPTION_END);
    if (s->daemon == NULL) {
        free(s);
        return lb_fail(why, LB_EIO, "cannot listen for HTTP on port %d (in use?)", port);
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL || uv_poll_init(loop, &s->poll, info->epoll_fd) != 0) {
        MHD_stop_daemon(s->daemon);
        free(s);
        return lb_fail(why, LB_EIO, "cannot watch the HTTP server's descriptor");
    }
    uv_timer_init(loop, &s->timer);
    s->poll.data = s->timer.data = s;
    s->open_handles = 2;
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
    uv_timer_start(&s->timer, on_timer, HTTP_TIMER_MS, HTTP_TIMER_MS);
    *ret_server = s;
    return LB_OK;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

static void on_closed(uv_handle_t *handle)
{
    struct http_server *s = handle->data;

    if (--s->open_handles == 0)
        free(s);
}

void http_server_close(struct http_server *s)
{
    if (s == NULL)
        return;
    uv_poll_stop(&s->poll);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    uv_close((uv_handle_t *)&s->poll, on_closed);
    uv_close((uv_handle_t *)&s->timer, on_closed);
}
