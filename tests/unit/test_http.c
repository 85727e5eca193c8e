/*
 * test_http.c - the HTTP endpoint on a libuv loop, queried by a real
 * client from another thread while the loop runs.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"

struct client {
    int port;
    const char *request;
    char response[4096];
    uv_async_t *done;
};

static void handler(void *ctx, const char *path, struct http_response *ret)
{
    int *calls = ctx;

    (*calls)++;
    ret->status = strcmp(path, "/healthz") == 0 ? 200 : 404;
    ret->content_type = "application/json";
    ret->body = strdup(ret->status == 200 ? "{\"status\":\"ok\"}" : "{}");
    ret->body_len = strlen(ret->body);
}

static void client_run(void *arg)
{
    struct client *c = arg;
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)c->port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t len = 0;
    ssize_t n;

    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        write(fd, c->request, strlen(c->request)) > 0) {
        while (len < sizeof(c->response) - 1 &&
               (n = read(fd, c->response + len, sizeof(c->response) - 1 - len)) > 0)
            len += (size_t)n;
    }
    c->response[len] = '\0';
    close(fd);
    uv_async_send(c->done);
}

static void on_done(uv_async_t *handle)
{
    uv_close((uv_handle_t *)handle, NULL);
    http_server_close(handle->data);
}

/* Runs one request against a fresh server and returns the raw response. */
static void roundtrip(const char *request, struct client *c, int *calls)
{
    uv_loop_t loop;
    uv_async_t done;
    uv_thread_t thread;
    struct http_server *server = NULL;

    uv_loop_init(&loop);
    assert_int_equal(http_server_start(&loop, 0, false, handler, calls, &server, NULL), LB_OK);
    uv_async_init(&loop, &done, on_done);
    done.data = server;
    c->port = http_server_port(server);
    c->request = request;
    c->done = &done;
    assert_true(c->port > 0);
    uv_thread_create(&thread, client_run, c);
    uv_run(&loop, UV_RUN_DEFAULT); /* ends when the server and the async handle are closed */
    uv_thread_join(&thread);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_get(void **state)
{
    struct client c = {0};
    int calls = 0;

    (void)state;
    roundtrip("GET /healthz HTTP/1.0\r\n\r\n", &c, &calls);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(c.response, "HTTP/1.0 200") ? c.response : strstr(c.response, " 200 "));
    assert_non_null(strstr(c.response, "Content-Type: application/json"));
    assert_non_null(strstr(c.response, "{\"status\":\"ok\"}"));
}

static void test_not_found_and_query(void **state)
{
    struct client c = {0};
    int calls = 0;

    (void)state;
    roundtrip("GET /nope?x=1 HTTP/1.0\r\n\r\n", &c, &calls);
    assert_non_null(strstr(c.response, " 404 "));
}

static void test_post_refused(void **state)
{
    struct client c = {0};
    int calls = 0;

    (void)state;
    roundtrip("POST /healthz HTTP/1.0\r\nContent-Length: 0\r\n\r\n", &c, &calls);
    assert_int_equal(calls, 0);
    assert_non_null(strstr(c.response, " 405 "));
    assert_non_null(strstr(c.response, "Allow: GET"));
}

static void test_port_in_use(void **state)
{
    uv_loop_t loop;
    struct http_server *a = NULL;
    struct http_server *b = NULL;
    struct lb_why why = {{0}};
    int calls = 0;

    (void)state;
    uv_loop_init(&loop);
    assert_int_equal(http_server_start(&loop, 0, false, handler, &calls, &a, NULL), LB_OK);
    assert_int_equal(
        http_server_start(&loop, http_server_port(a), false, handler, &calls, &b, &why), LB_EIO);
    assert_non_null(strstr(why.text, "in use"));
    assert_int_equal(http_server_start(&loop, 65536, false, handler, &calls, &b, &why), LB_EINVAL);
    http_server_close(a);
    http_server_close(NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_not_found_and_query),
        cmocka_unit_test(test_post_refused),
        cmocka_unit_test(test_port_in_use),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
