/*
 * http.h - the operations HTTP endpoint, run on the service's libuv loop.
 *
 * libmicrohttpd is driven from the loop (its epoll descriptor under a
 * uv_poll handle plus a timer), so handlers run on the loop thread and may
 * read service state without locks. Only GET is served.
 */
#ifndef LB_HTTP_H
#define LB_HTTP_H

#include <stdbool.h>

#include <uv.h>

#include "errors.h"

struct http_server;

/* One response; `body` is malloc'd by the handler and freed by the server. */
struct http_response {
    int status;
    const char *content_type;
    char *body;
    size_t body_len;
};

/* Answers a GET of `path` (query string removed). */
typedef void (*http_handler_fn)(void *ctx, const char *path, struct http_response *ret);

/*
 * Listens on 127.0.0.1 or 0.0.0.0 (`bind_all`) at `port` (0 = any free port)
 * and serves every request with `handler`.
 */
enum lb_err http_server_start(uv_loop_t *loop, int port, bool bind_all, http_handler_fn handler,
                              void *ctx, struct http_server **ret_server, struct lb_why *why);

/* The port actually bound. */
int http_server_port(const struct http_server *s);

/* Stops listening and frees the server once its handles are closed; NULL is a no-op. */
void http_server_close(struct http_server *s);

#endif
