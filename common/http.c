/*
 * http.c - libmicrohttpd on the libuv loop.
 *
 * MHD runs without a thread of its own (MHD_USE_EPOLL, no internal polling
 * thread). Its epoll descriptor sits under a uv_poll handle: when any of its
 * sockets is ready the descriptor turns readable and the loop calls MHD_run.
 * After each run a one-shot timer is set to MHD_get_timeout, so idle
 * connections time out and work MHD has left pending is picked up. Handlers
 * therefore run on the loop thread and may read service state without locks.
 */
#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "log.h"

/* Idle connections are closed after this many seconds. */
#define HTTP_CONNECTION_TIMEOUT_S 10
/* Connections served at once; further clients wait in the listen backlog. */
#define HTTP_CONNECTION_LIMIT 64
/* Highest port number. */
#define HTTP_PORT_MAX 65535
/* Statuses a handler may answer with; anything else becomes 500 with no body. */
#define HTTP_STATUS_MIN 200
#define HTTP_STATUS_MAX 599
/* Sent for a status outside that range, or when the handler sets none. */
#define HTTP_STATUS_BAD_HANDLER 500

struct http_server {
    struct MHD_Daemon *daemon; /* NULL once stopped */
    uv_poll_t poll;            /* watches MHD's epoll descriptor */
    uv_timer_t timer;          /* one-shot, set to MHD_get_timeout after each run */
    int open_handles;          /* the server is freed when this drops to 0 */
    http_handler_fn handler;
    void *ctx;                    /* handed to `handler` */
    int port;                     /* the port actually bound */
    bool starting;                /* MHD messages go to start_error, not the log */
    char start_error[LB_WHY_MAX]; /* MHD's first message while starting, e.g. a bind error */
};

static const char method_not_allowed_body[] = "only GET is served\n";

/*
 * MHD's error messages. While starting, the first one is kept for the
 * failure reason. Afterwards there is no caller to return them to, so they
 * become log lines, at debug level: most are about a client's malformed
 * request, and any client could otherwise fill the log at warn. The
 * signature is MHD_LogCallback.
 */
static void on_mhd_message(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void on_mhd_message(void *cls, const char *fmt, va_list ap)
{
    struct http_server *s = cls;
    char text[LB_WHY_MAX];
    size_t len;

    if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
        return;
    len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    if (!s->starting) {
        log_debug("HTTP server: %s", text);
        return;
    }
    if (s->start_error[0] == '\0')
        snprintf(s->start_error, sizeof(s->start_error), "%s", text);
}

/* Queues `resp` with `status` and drops this function's reference to it. */
static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp)
{
    enum MHD_Result ret;

    if (resp == NULL)
        return MHD_NO; /* MHD closes the connection */
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result refuse_method(struct MHD_Connection *conn)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof(method_not_allowed_body) - 1,
                                        (void *)method_not_allowed_body, MHD_RESPMEM_PERSISTENT);

    if (resp != NULL &&
        (MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET") != MHD_YES ||
         MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES)) {
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    return queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
}

/*
 * Turns the handler's answer into an MHD response, which takes the body;
 * the body is freed here when no response takes it.
 */
static struct MHD_Response *make_response(struct http_response *r)
{
    struct MHD_Response *resp;

    if (r->status < HTTP_STATUS_MIN || r->status > HTTP_STATUS_MAX) {
        r->status = HTTP_STATUS_BAD_HANDLER;
        r->content_type = NULL;
        r->body_len = 0;
    }
    if (r->body == NULL || r->body_len == 0) {
        free(r->body); /* MHD would not take an empty buffer's ownership */
        r->body = NULL;
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(r->body_len, r->body, MHD_RESPMEM_MUST_FREE);
        if (resp == NULL)
            free(r->body);
    }
    r->body = NULL;
    if (resp != NULL && r->content_type != NULL &&
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type) != MHD_YES) {
        MHD_destroy_response(resp);
        return NULL;
    }
    return resp;
}

/* Marks a GET whose headers have been seen (MHD's per-request pointer). */
static const char request_started = 's';

/*
 * The signature is libmicrohttpd's MHD_AccessHandlerCallback. MHD calls it
 * once when the headers are in, then for each piece of body, then once more
 * at the end. Other methods are refused at once (MHD then closes the
 * connection, unread body and all); a GET is answered at the end, after any
 * body was read and dropped, so the connection can be kept alive.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct http_server *s = cls;
    struct http_response r = {.status = HTTP_STATUS_BAD_HANDLER};

    (void)version;
    (void)upload_data;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
        return refuse_method(conn);
    if (*req_cls == NULL) {
        *req_cls = (void *)&request_started;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* a GET's body means nothing here */
        return MHD_YES;
    }
    /* MHD has already split the query string off `url`. */
    s->handler(s->ctx, url, &r);
    return queue(conn, (unsigned)r.status, make_response(&r));
}

static void on_timer(uv_timer_t *handle);

/* Lets MHD do its work, then sets the timer to when it next needs to run. */
static void run_daemon(struct http_server *s)
{
    MHD_UNSIGNED_LONG_LONG timeout_ms;

    MHD_run(s->daemon);
    if (MHD_get_timeout(s->daemon, &timeout_ms) == MHD_YES)
        uv_timer_start(&s->timer, on_timer, (uint64_t)timeout_ms, 0);
    else
        uv_timer_stop(&s->timer);
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
    (void)status; /* an error is MHD's to see: MHD_run reads the descriptor itself */
    (void)events;
    run_daemon(handle->data);
}

static void on_timer(uv_timer_t *handle)
{
    run_daemon(handle->data);
}

static void on_closed(uv_handle_t *handle)
{
    struct http_server *s = handle->data;

    if (--s->open_handles == 0)
        free(s);
}

/* Closes both handles; the last close callback frees `s`. */
static void close_handles(struct http_server *s)
{
    uv_close((uv_handle_t *)&s->poll, on_closed);
    uv_close((uv_handle_t *)&s->timer, on_closed);
}

/* Starts MHD on the address; on failure `s->start_error` says why when MHD said. */
static struct MHD_Daemon *start_daemon(struct http_server *s, const struct sockaddr_in *addr)
{
    struct MHD_Daemon *d;

    s->starting = true;
    d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, ntohs(addr->sin_port), NULL, NULL,
                         on_request, s, /* the logger must be the first option */
                         MHD_OPTION_EXTERNAL_LOGGER, on_mhd_message, s, MHD_OPTION_SOCK_ADDR,
                         (const struct sockaddr *)addr, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
                         (unsigned)HTTP_CONNECTION_LIMIT, MHD_OPTION_END);
    s->starting = false;
    return d;
}

/*
 * Starts MHD on the address, then watches its epoll descriptor from `loop`.
 * On failure nothing stays open and *ret_server is untouched.
 */
enum lb_err http_server_start(uv_loop_t *loop, int port, bool bind_all, http_handler_fn handler,
                              void *ctx, struct http_server **ret_server, struct lb_why *why)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    const char *host = bind_all ? "0.0.0.0" : "127.0.0.1";
    const union MHD_DaemonInfo *info;
    struct http_server *s;
    enum lb_err err;
    int rc;

    if (port < 0 || port > HTTP_PORT_MAX)
        return lb_fail(why, LB_EINVAL, "HTTP port %d is outside 0..%d", port, HTTP_PORT_MAX);
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(bind_all ? INADDR_ANY : INADDR_LOOPBACK);
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory");
    s->handler = handler;
    s->ctx = ctx;
    s->daemon = start_daemon(s, &addr);
    if (s->daemon == NULL) {
        err = lb_fail(why, LB_EIO, "cannot serve HTTP on %s:%d: %s", host, port,
                      s->start_error[0] != '\0' ? s->start_error : "libmicrohttpd refused");
        free(s);
        return err;
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL && info->port != 0 ? info->port : port;
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    rc = info != NULL ? uv_poll_init(loop, &s->poll, info->epoll_fd) : UV_EINVAL;
    if (rc != 0) {
        MHD_stop_daemon(s->daemon);
        free(s);
        return lb_fail(why, LB_EIO, "cannot watch the HTTP server's descriptor: %s",
                       uv_strerror(rc));
    }
    uv_timer_init(loop, &s->timer); /* cannot fail */
    s->poll.data = s;
    s->timer.data = s;
    s->open_handles = 2;
    rc = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (rc != 0) {
        MHD_stop_daemon(s->daemon);
        close_handles(s);
        return lb_fail(why, LB_EIO, "cannot watch the HTTP server's descriptor: %s",
                       uv_strerror(rc));
    }
    *ret_server = s;
    return LB_OK;
}

/* Read back from MHD at start, so port 0 yields the port the kernel chose. */
int http_server_port(const struct http_server *s)
{
    return s->port;
}

/*
 * Must not be called from inside a handler: MHD is running then. Stops
 * watching the descriptor before MHD closes it.
 */
void http_server_close(struct http_server *s)
{
    if (s == NULL)
        return;
    uv_poll_stop(&s->poll);
    uv_timer_stop(&s->timer);
    MHD_stop_daemon(s->daemon);
    s->daemon = NULL;
    close_handles(s);
}
