/*
 * test_log.c - JSON log lines: the default sink, field order, escaping,
 * levels, long messages and whole lines from concurrent writers. Every
 * line written is read back and parsed with cJSON.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "log.h"

/* Writers and lines per writer in the concurrency test. */
#define WRITERS          4
#define LINES_PER_WRITER 200
/* Length of each concurrent message: longer than a stdio buffer, so a torn write would show. */
#define WRITER_MESSAGE_LEN 5000
/* A message far longer than any fixed buffer a logger might use. */
#define LONG_MESSAGE_LEN 100000

/* A sink in memory; `text` and `len` are current after each fflush. */
struct capture {
    FILE *sink;
    char *text;
    size_t len;
};

static void capture_open(struct capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->sink = open_memstream(&c->text, &c->len);
    assert_non_null(c->sink);
}

static void capture_close(struct capture *c)
{
    log_init("-", LB_LOG_INFO, NULL); /* the sink must outlive its use */
    fclose(c->sink);
    free(c->text);
}

/* The number of lines written; each must end in a newline. */
static size_t count_lines(const char *text, size_t len)
{
    size_t n = 0;

    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    assert_true(len == 0 || text[len - 1] == '\n');
    return n;
}

/* Parses line `index` (from 0) of `text`; NULL when there is no such line. */
static cJSON *parse_line(const char *text, size_t len, size_t index)
{
    const char *p = text;
    const char *end = text + len;

    for (size_t i = 0; i < index && p < end; i++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (p == NULL)
            return NULL;
        p++;
    }
    if (p >= end)
        return NULL;
    return cJSON_ParseWithLength(p, (size_t)((const char *)memchr(p, '\n', (size_t)(end - p)) - p));
}

static const char *field(const cJSON *line, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(line, key));
}

/* Asserts the keys of `line` are exactly `keys`, in that order. */
static void assert_keys(const cJSON *line, const char *const *keys, size_t n)
{
    size_t i = 0;
    const cJSON *item;

    cJSON_ArrayForEach(item, line)
    {
        assert_true(i < n);
        assert_string_equal(item->string, keys[i]);
        assert_true(cJSON_IsString(item));
        i++;
    }
    assert_int_equal(i, n);
}

/* Checks "YYYY-MM-DDTHH:MM:SS.mmmZ" and that it is within a minute of now. */
static void assert_timestamp_now(const char *ts)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    struct tm tm = {0};
    time_t when;

    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen(shape));
    for (size_t i = 0; shape[i] != '\0'; i++) {
        if (shape[i] == 'd')
            assert_true(ts[i] >= '0' && ts[i] <= '9');
        else
            assert_int_equal(ts[i], shape[i]);
    }
    assert_non_null(strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm));
    when = timegm(&tm);
    assert_true(when > time(NULL) - 60 && when < time(NULL) + 60);
}

/* Must run first: before log_init the sink is stderr, the level info, the service "-". */
static void test_defaults_before_init(void **state)
{
    FILE *err_copy = tmpfile();
    int saved = dup(STDERR_FILENO);
    char buf[4096];
    size_t len;
    cJSON *line;

    (void)state;
    assert_non_null(err_copy);
    fflush(stderr);
    assert_true(dup2(fileno(err_copy), STDERR_FILENO) >= 0);
    log_debug("below the default level");
    log_info("at the default level");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(err_copy);
    len = fread(buf, 1, sizeof(buf) - 1, err_copy);
    buf[len] = '\0';
    fclose(err_copy);

    assert_int_equal(count_lines(buf, len), 1);
    line = parse_line(buf, len, 0);
    assert_non_null(line);
    assert_string_equal(field(line, "service"), "-");
    assert_string_equal(field(line, "level"), "info");
    assert_string_equal(field(line, "msg"), "at the default level");
    cJSON_Delete(line);
}

static void test_fields_in_order(void **state)
{
    static const char *const all[] = {"ts", "level", "service", "msg", "event_id", "request_id"};
    static const char *const bare[] = {"ts", "level", "service", "msg"};
    static const char *const event_only[] = {"ts", "level", "service", "msg", "event_id"};
    static const char *const request_only[] = {"ts", "level", "service", "msg", "request_id"};
    struct log_ids both = {.event_id = "e1", .request_id = "r1"};
    struct log_ids event = {.event_id = "e2"};
    struct log_ids request = {.request_id = "r3"};
    struct log_ids none = {0};
    struct capture c;
    cJSON *line;

    (void)state;
    capture_open(&c);
    log_init("tally", LB_LOG_DEBUG, c.sink);
    log_write(LB_LOG_WARN, &both, "with both ids");
    log_write(LB_LOG_INFO, NULL, "no ids");
    log_write(LB_LOG_INFO, &event, "event only");
    log_write(LB_LOG_INFO, &request, "request only");
    log_write(LB_LOG_INFO, &none, "both NULL");
    assert_int_equal(count_lines(c.text, c.len), 5);

    line = parse_line(c.text, c.len, 0);
    assert_keys(line, all, 6);
    assert_timestamp_now(field(line, "ts"));
    assert_string_equal(field(line, "level"), "warn");
    assert_string_equal(field(line, "service"), "tally");
    assert_string_equal(field(line, "msg"), "with both ids");
    assert_string_equal(field(line, "event_id"), "e1");
    assert_string_equal(field(line, "request_id"), "r1");
    cJSON_Delete(line);
    line = parse_line(c.text, c.len, 1);
    assert_keys(line, bare, 4);
    cJSON_Delete(line);
    line = parse_line(c.text, c.len, 2);
    assert_keys(line, event_only, 5);
    assert_string_equal(field(line, "event_id"), "e2");
    cJSON_Delete(line);
    line = parse_line(c.text, c.len, 3);
    assert_keys(line, request_only, 5);
    assert_string_equal(field(line, "request_id"), "r3");
    cJSON_Delete(line);
    line = parse_line(c.text, c.len, 4);
    assert_keys(line, bare, 4);
    cJSON_Delete(line);
    capture_close(&c);
}

static void test_escaping(void **state)
{
    struct log_ids ids = {.event_id = "id \"quoted\"\n", .request_id = "back\\slash"};
    struct capture c;
    cJSON *line;

    (void)state;
    capture_open(&c);
    log_init("ta\"lly\n", LB_LOG_DEBUG, c.sink);
    log_write(LB_LOG_ERROR, &ids,
              "quote \" newline \n tab \t cr \r bs \\ ctl \x01 utf8 \xc3\xa9 %d", 42);
    /* Every newline in the values is escaped: one physical line. */
    assert_int_equal(count_lines(c.text, c.len), 1);
    line = parse_line(c.text, c.len, 0);
    assert_non_null(line);
    assert_string_equal(field(line, "msg"),
                        "quote \" newline \n tab \t cr \r bs \\ ctl \x01 utf8 \xc3\xa9 42");
    assert_string_equal(field(line, "service"), "ta\"lly\n");
    assert_string_equal(field(line, "event_id"), "id \"quoted\"\n");
    assert_string_equal(field(line, "request_id"), "back\\slash");
    cJSON_Delete(line);
    capture_close(&c);
}

static void test_levels(void **state)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    struct capture c;

    (void)state;
    for (int min = LB_LOG_DEBUG; min <= LB_LOG_ERROR; min++) {
        size_t written = 0;

        capture_open(&c);
        log_init("tally", (enum log_level)min, c.sink);
        log_debug("d");
        log_info("i");
        log_warn("w");
        log_error("e");
        /* Exactly the levels at or above the minimum, in order. */
        assert_int_equal(count_lines(c.text, c.len), LB_LOG_ERROR - min + 1);
        for (int level = min; level <= LB_LOG_ERROR; level++) {
            cJSON *line = parse_line(c.text, c.len, written++);

            assert_string_equal(field(line, "level"), names[level]);
            cJSON_Delete(line);
        }
        capture_close(&c);
    }
}

static void test_out_of_range_level_is_error(void **state)
{
    struct capture c;
    cJSON *line;

    (void)state;
    capture_open(&c);
    log_init("tally", LB_LOG_ERROR, c.sink);
    log_write((enum log_level)(LB_LOG_ERROR + 1), NULL, "past the last level");
    line = parse_line(c.text, c.len, 0);
    assert_non_null(line);
    assert_string_equal(field(line, "level"), "error");
    cJSON_Delete(line);
    capture_close(&c);
}

static void test_level_parse(void **state)
{
    static const struct {
        const char *text;
        enum log_level level;
    } good[] = {
        {"debug", LB_LOG_DEBUG}, {"info", LB_LOG_INFO}, {"warn", LB_LOG_WARN},
        {"error", LB_LOG_ERROR}, {"INFO", LB_LOG_INFO}, {"Warn", LB_LOG_WARN},
    };
    static const char *const bad[] = {"", "verbose", "warning", "info ", "err", "0"};
    enum log_level level;

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(log_level_parse(good[i].text, &level), LB_OK);
        assert_int_equal(level, good[i].level);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        level = LB_LOG_ERROR;
        assert_int_equal(log_level_parse(bad[i], &level), LB_EINVAL);
        assert_int_equal(level, LB_LOG_ERROR); /* untouched on failure */
    }
    assert_int_equal(log_level_parse(NULL, &level), LB_EINVAL);
}

static void test_long_message(void **state)
{
    char *big = malloc(LONG_MESSAGE_LEN + 1);
    struct capture c;
    cJSON *line;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', LONG_MESSAGE_LEN);
    big[LONG_MESSAGE_LEN - 1] = '!';
    big[LONG_MESSAGE_LEN] = '\0';
    capture_open(&c);
    log_init("tally", LB_LOG_INFO, c.sink);
    log_info("<%s>", big);
    line = parse_line(c.text, c.len, 0);
    assert_non_null(line);
    assert_int_equal(strlen(field(line, "msg")), LONG_MESSAGE_LEN + 2); /* nothing cut */
    assert_string_equal(field(line, "msg") + LONG_MESSAGE_LEN, "!>");
    cJSON_Delete(line);
    capture_close(&c);
    free(big);
}

static void test_init_again(void **state)
{
    struct capture first;
    struct capture second;
    cJSON *line;

    (void)state;
    capture_open(&first);
    capture_open(&second);
    log_init("one", LB_LOG_INFO, first.sink);
    log_info("to the first");
    log_init("two", LB_LOG_WARN, second.sink);
    log_info("dropped by the new level");
    log_warn("to the second");
    assert_int_equal(count_lines(first.text, first.len), 1);
    assert_int_equal(count_lines(second.text, second.len), 1);
    line = parse_line(second.text, second.len, 0);
    assert_string_equal(field(line, "service"), "two");
    assert_string_equal(field(line, "msg"), "to the second");
    cJSON_Delete(line);
    capture_close(&first);
    capture_close(&second);
}

struct writer {
    int id;
    pthread_barrier_t *start;
};

static void *writer_run(void *arg)
{
    struct writer *w = arg;
    char *message = malloc(WRITER_MESSAGE_LEN + 1);

    if (message == NULL)
        return NULL;
    memset(message, 'a' + w->id, WRITER_MESSAGE_LEN);
    message[WRITER_MESSAGE_LEN] = '\0';
    pthread_barrier_wait(w->start);
    for (int i = 0; i < LINES_PER_WRITER; i++)
        log_info("%d %s", w->id, message);
    free(message);
    return NULL;
}

static void test_concurrent_lines_stay_whole(void **state)
{
    pthread_t threads[WRITERS];
    struct writer writers[WRITERS];
    pthread_barrier_t start;
    int per_writer[WRITERS] = {0};
    FILE *sink = tmpfile(); /* a real file: stdio buffering as in production */
    char *text;
    long size;

    (void)state;
    assert_non_null(sink);
    log_init("tally", LB_LOG_INFO, sink);
    pthread_barrier_init(&start, NULL, WRITERS);
    for (int i = 0; i < WRITERS; i++) {
        writers[i] = (struct writer){.id = i, .start = &start};
        assert_int_equal(pthread_create(&threads[i], NULL, writer_run, &writers[i]), 0);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    log_init("-", LB_LOG_INFO, NULL);

    fseek(sink, 0, SEEK_END);
    size = ftell(sink);
    rewind(sink);
    text = malloc((size_t)size);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, sink), (size_t)size);
    fclose(sink);
    assert_int_equal(count_lines(text, (size_t)size), WRITERS * LINES_PER_WRITER);
    for (const char *p = text; p < text + size;) {
        const char *eol = memchr(p, '\n', (size_t)(text + size - p));
        cJSON *line = cJSON_ParseWithLength(p, (size_t)(eol - p));
        const char *msg;
        int id;

        assert_non_null(line);
        p = eol + 1;
        msg = field(line, "msg");
        id = msg[0] - '0';
        assert_true(id >= 0 && id < WRITERS);
        assert_int_equal(strlen(msg), WRITER_MESSAGE_LEN + 2);
        assert_int_equal(strspn(msg + 2, (char[]){(char)('a' + id), '\0'}), WRITER_MESSAGE_LEN);
        per_writer[id]++;
        cJSON_Delete(line);
    }
    for (int i = 0; i < WRITERS; i++)
        assert_int_equal(per_writer[i], LINES_PER_WRITER);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_before_init),
        cmocka_unit_test(test_fields_in_order),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_out_of_range_level_is_error),
        cmocka_unit_test(test_level_parse),
        cmocka_unit_test(test_long_message),
        cmocka_unit_test(test_init_again),
        cmocka_unit_test(test_concurrent_lines_stay_whole),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
