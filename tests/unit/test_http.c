/*
 * test_http.c - the HTTP endpoint on a libuv loop, queried by a real client
 * (blocking sockets, another thread) while the main thread runs the loop.
 * The client wakes the loop with uv_async_send when it is done; the loop
 * then closes the server and runs until every handle is closed, so a leak
 * or a handle left open fails the test (uv_loop_close, ASan).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "log.h"

/* Largest response the client keeps. */
#define RESPONSE_MAX 8192
/* Requests one client sends, each on its own connection. */
#define EXCHANGES_MAX 8
/* The client gives up on a silent server after this many seconds. */
#define CLIENT_TIMEOUT_S 10

/* What the handler answers and what it saw. */
struct site {
    int calls;
    char last_path[256];
    int status;      /* answered for every path but /healthz; 0 = 404 */
    bool null_body;  /* answer with no body at all */
    bool empty_body; /* answer with a malloc'd body of length 0 */
};

struct exchange {
    const char *request;
    char response[RESPONSE_MAX];
};

struct client {
    int port;
    struct exchange *exchanges;
    size_t n;
    uv_async_t done;
    struct http_server *server; /* closed when the client is done */
};

static void handler(void *ctx, const char *path, struct http_response *ret)
{
    struct site *site = ctx;
    const char *body;

    site->calls++;
    snprintf(site->last_path, sizeof(site->last_path), "%s", path);
    if (strcmp(path, "/healthz") == 0) {
        ret->status = 200;
        body = "{\"status\":\"ok\"}";
    } else {
        ret->status = site->status != 0 ? site->status : 404;
        body = "{\"error\":\"not found\"}";
    }
    ret->content_type = "application/json";
    if (site->null_body)
        return;
    if (site->empty_body) {
        ret->body = malloc(1);
        ret->body_len = 0;
        return;
    }
    ret->body = strdup(body);
    ret->body_len = strlen(body);
}

/* Sends one request on a fresh connection and reads until the server closes. */
static void exchange_run(int port, struct exchange *ex)
{
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval timeout = {.tv_sec = CLIENT_TIMEOUT_S};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t len = 0;
    ssize_t n;

    ex->response[0] = '\0';
    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        write(fd, ex->request, strlen(ex->request)) == (ssize_t)strlen(ex->request)) {
        if (ex->request[0] == '\0')
            shutdown(fd, SHUT_WR); /* a client that hangs up without asking */
        while (len < sizeof(ex->response) - 1 &&
               (n = read(fd, ex->response + len, sizeof(ex->response) - 1 - len)) > 0)
            len += (size_t)n;
    }
    ex->response[len] = '\0';
    close(fd);
}

static void client_run(void *arg)
{
    struct client *c = arg;

    for (size_t i = 0; i < c->n; i++)
        exchange_run(c->port, &c->exchanges[i]);
    uv_async_send(&c->done);
}

static void on_client_done(uv_async_t *handle)
{
    struct client *c = handle->data;

    http_server_close(c->server);
    uv_close((uv_handle_t *)handle, NULL);
}

/* Serves `n` requests from a client thread on a fresh loop and server. */
static void serve(struct site *site, bool bind_all, struct exchange *exchanges, size_t n)
{
    struct client c = {.exchanges = exchanges, .n = n};
    uv_loop_t loop;
    uv_thread_t thread;
    struct lb_why why = {{0}};

    assert_int_equal(uv_loop_init(&loop), 0);
    if (http_server_start(&loop, 0, bind_all, handler, site, &c.server, &why) != LB_OK)
        fail_msg("start: %s", why.text);
    c.port = http_server_port(c.server);
    assert_true(c.port > 0 && c.port <= 65535);
    assert_int_equal(uv_async_init(&loop, &c.done, on_client_done), 0);
    c.done.data = &c;
    assert_int_equal(uv_thread_create(&thread, client_run, &c), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* returns once every handle is closed */
    assert_int_equal(uv_thread_join(&thread), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* The body: what follows the blank line after the headers. */
static const char *body_of(const char *response)
{
    const char *blank = strstr(response, "\r\n\r\n");

    assert_non_null(blank);
    return blank + 4;
}

/* Asserts the status line is "HTTP/1.x <status> ...". */
static void assert_status(const char *response, int status)
{
    char expected[16];

    snprintf(expected, sizeof(expected), " %d ", status);
    assert_memory_equal(response, "HTTP/1.", 7);
    assert_memory_equal(response + 8, expected, strlen(expected));
}

static void assert_header(const char *response, const char *header)
{
    const char *end = strstr(response, "\r\n\r\n");
    const char *found = strstr(response, header);

    if (found == NULL || found > end)
        fail_msg("no \"%s\" in:\n%s", header, response);
}

static void test_get(void **state)
{
    struct site site = {0};
    struct exchange ex = {.request = "GET /healthz HTTP/1.0\r\n\r\n"};

    (void)state;
    serve(&site, false, &ex, 1);
    assert_int_equal(site.calls, 1);
    assert_string_equal(site.last_path, "/healthz");
    assert_status(ex.response, 200);
    assert_header(ex.response, "\r\nContent-Type: application/json\r\n");
    assert_header(ex.response, "\r\nContent-Length: 15\r\n");
    assert_string_equal(body_of(ex.response), "{\"status\":\"ok\"}");
}

static void test_query_string_removed(void **state)
{
    struct site site = {0};
    struct exchange ex = {.request = "GET /nope?x=1&y=%2F HTTP/1.0\r\n\r\n"};

    (void)state;
    serve(&site, false, &ex, 1);
    assert_string_equal(site.last_path, "/nope");
    assert_status(ex.response, 404);
    assert_string_equal(body_of(ex.response), "{\"error\":\"not found\"}");
}

static void test_other_methods_refused(void **state)
{
    struct site site = {0};
    struct exchange ex[] = {
        {.request = "POST /healthz HTTP/1.0\r\nContent-Length: 0\r\n\r\n"},
        {.request = "DELETE /healthz HTTP/1.0\r\n\r\n"},
        {.request = "PUT /healthz HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"},
        {.request = "HEAD /healthz HTTP/1.0\r\n\r\n"},
    };

    (void)state;
    serve(&site, false, ex, sizeof(ex) / sizeof(ex[0]));
    assert_int_equal(site.calls, 0); /* the handler never sees them */
    for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
        assert_status(ex[i].response, 405);
        assert_header(ex[i].response, "\r\nAllow: GET\r\n");
    }
}

static void test_many_requests_one_server(void **state)
{
    struct site site = {0};
    struct exchange ex[EXCHANGES_MAX];

    (void)state;
    for (size_t i = 0; i < EXCHANGES_MAX; i++)
        ex[i].request = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    serve(&site, true, ex, EXCHANGES_MAX); /* bound to 0.0.0.0, reached on 127.0.0.1 */
    assert_int_equal(site.calls, EXCHANGES_MAX);
    for (size_t i = 0; i < EXCHANGES_MAX; i++) {
        assert_status(ex[i].response, 200);
        assert_string_equal(body_of(ex[i].response), "{\"status\":\"ok\"}");
    }
}

/* Answers /x with `status` and returns the status the client got. */
static void assert_status_sent(int status, int expected)
{
    struct site site = {.status = status};
    struct exchange ex = {.request = "GET /x HTTP/1.0\r\n\r\n"};

    serve(&site, false, &ex, 1);
    assert_status(ex.response, expected);
    if (expected != status)
        assert_string_equal(body_of(ex.response), ""); /* the handler's body is dropped */
}

static void test_handler_status_bounds(void **state)
{
    (void)state;
    assert_status_sent(200, 200); /* HTTP_STATUS_MIN */
    assert_status_sent(199, 500); /* one below */
    assert_status_sent(599, 599); /* HTTP_STATUS_MAX */
    assert_status_sent(600, 500); /* one past */
    assert_status_sent(-1, 500);
    assert_status_sent(503, 503);
}

static void test_empty_bodies(void **state)
{
    struct site null_body = {.null_body = true};
    struct site empty_body = {.empty_body = true};
    struct exchange a = {.request = "GET /healthz HTTP/1.0\r\n\r\n"};
    struct exchange b = {.request = "GET /healthz HTTP/1.0\r\n\r\n"};

    (void)state;
    serve(&null_body, false, &a, 1);
    assert_status(a.response, 200);
    assert_header(a.response, "\r\nContent-Length: 0\r\n");
    assert_string_equal(body_of(a.response), "");
    serve(&empty_body, false, &b, 1); /* the 1-byte buffer is freed (ASan) */
    assert_status(b.response, 200);
    assert_header(b.response, "\r\nContent-Length: 0\r\n");
}

static void test_keep_alive(void **state)
{
    struct site site = {0};
    /* Two requests on one connection, the first with a body to skip; the second closes it. */
    struct exchange ex = {.request = "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                                     "\r\nabcGET /healthz HTTP/1.1\r\nHost: t\r\n"
                                     "Connection: close\r\n\r\n"};
    const char *second;
    const char *close_header;

    (void)state;
    serve(&site, false, &ex, 1);
    assert_int_equal(site.calls, 2);
    assert_status(ex.response, 200);
    second = strstr(ex.response + 1, "HTTP/1.1 200 ");
    assert_non_null(second);
    close_header = strstr(ex.response, "Connection: close");
    assert_true(close_header == NULL || close_header > second); /* the first kept it open */
    assert_string_equal(body_of(second), "{\"status\":\"ok\"}");
}

static void test_bad_requests_and_hangups(void **state)
{
    struct site site = {0};
    struct exchange ex[] = {
        {.request = ""},
        {.request = "garbage\r\n\r\n"},
        {.request = "GET /healthz\r\n\r\n"}, /* no HTTP version */
        {.request = "GET /healthz HTTP/9.9\r\n\r\n"},
        {.request = "GET /healthz HTTP/1.0\r\n\r\n"},
    };

    char *logged = NULL;
    size_t logged_len = 0;
    FILE *sink = open_memstream(&logged, &logged_len);

    (void)state;
    assert_non_null(sink);
    log_init("http-test", LB_LOG_DEBUG, sink);
    serve(&site, false, ex, sizeof(ex) / sizeof(ex[0]));
    log_init("-", LB_LOG_INFO, NULL);
    fclose(sink);
    /* MHD's complaints about clients become debug lines, never raw stderr text. */
    assert_non_null(strstr(logged, "\"level\":\"debug\",\"service\":\"http-test\","
                                   "\"msg\":\"HTTP server: "));
    assert_null(strstr(logged, "\"level\":\"warn\""));
    free(logged);
    assert_string_equal(ex[0].response, "");
    assert_string_equal(ex[1].response, ""); /* MHD hangs up on a line that is not HTTP */
    assert_status(ex[2].response, 400);
    assert_status(ex[3].response, 505);
    assert_status(ex[4].response, 200); /* still serving */
    assert_int_equal(site.calls, 1);
}

static void test_start_failures(void **state)
{
    uv_loop_t loop;
    struct http_server *a = NULL;
    struct http_server *b = NULL;
    struct lb_why why = {{0}};
    struct site site = {0};
    char port_text[16];

    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(http_server_start(&loop, 0, false, handler, &site, &a, NULL), LB_OK);

    /* Two servers cannot share a port; the reason says so and names it. */
    assert_int_equal(http_server_start(&loop, http_server_port(a), false, handler, &site, &b, &why),
                     LB_EIO);
    assert_null(b); /* untouched on failure */
    assert_non_null(strstr(why.text, "in use"));
    snprintf(port_text, sizeof(port_text), ":%d", http_server_port(a));
    assert_non_null(strstr(why.text, port_text));

    /* Ports outside 0..65535 are refused before anything is opened. */
    assert_int_equal(http_server_start(&loop, 65536, false, handler, &site, &b, &why), LB_EINVAL);
    assert_non_null(strstr(why.text, "65536"));
    assert_int_equal(http_server_start(&loop, -1, false, handler, &site, &b, &why), LB_EINVAL);
    assert_null(b);
    /* 65535 is a valid port: refused, if at all, only because it is taken. */
    if (http_server_start(&loop, 65535, false, handler, &site, &b, &why) == LB_OK) {
        assert_int_equal(http_server_port(b), 65535);
        http_server_close(b);
    } else {
        assert_non_null(strstr(why.text, "in use"));
    }

    http_server_close(a);
    http_server_close(NULL);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_query_string_removed),
        cmocka_unit_test(test_other_methods_refused),
        cmocka_unit_test(test_many_requests_one_server),
        cmocka_unit_test(test_handler_status_bounds),
        cmocka_unit_test(test_empty_bodies),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_bad_requests_and_hangups),
        cmocka_unit_test(test_start_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
