/*
 * test_log.c - JSON log lines: fields, escaping, levels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "log.h"

/* Reads the sink back as JSON lines. */
static cJSON *line_at(FILE *sink, int index)
{
    char buf[4096];
    int i = 0;

    rewind(sink);
    while (fgets(buf, sizeof(buf), sink) != NULL) {
        if (i++ == index)
            return cJSON_Parse(buf);
    }
    return NULL;
}

static void test_fields_and_escaping(void **state)
{
    FILE *sink = tmpfile();
    struct log_ids ids = {.event_id = "e1", .request_id = "r1"};
    cJSON *line;

    (void)state;
    log_init("tally", LB_LOG_DEBUG, sink);
    log_write(LB_LOG_WARN, &ids, "quote \" newline \n tab \t %d", 42);
    line = line_at(sink, 0);
    assert_non_null(line);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(line, "level")), "warn");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(line, "service")), "tally");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(line, "msg")),
                        "quote \" newline \n tab \t 42");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(line, "event_id")), "e1");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(line, "request_id")), "r1");
    assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(line, "ts"))), 24);
    cJSON_Delete(line);
    log_init("-", LB_LOG_INFO, NULL);
    fclose(sink);
}

static void test_levels(void **state)
{
    FILE *sink = tmpfile();
    enum log_level level;
    cJSON *line;

    (void)state;
    assert_int_equal(log_level_parse("warn", &level), LB_OK);
    assert_int_equal(level, LB_LOG_WARN);
    assert_int_equal(log_level_parse("verbose", &level), LB_EINVAL);
    log_init("tally", LB_LOG_WARN, sink);
    log_info("dropped");
    log_error("kept");
    line = line_at(sink, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(line, "msg")), "kept");
    assert_null(cJSON_GetObjectItem(line, "event_id")); /* absent ids are left out */
    assert_null(line_at(sink, 1));
    cJSON_Delete(line);
    log_init("-", LB_LOG_INFO, NULL);
    fclose(sink);
}

static void test_long_message(void **state)
{
    FILE *sink = tmpfile();
    char *big = malloc(3000);
    cJSON *line;

    (void)state;
    memset(big, 'x', 2999);
    big[2999] = '\0';
    log_init("tally", LB_LOG_INFO, sink);
    log_info("%s", big);
    line = line_at(sink, 0);
    assert_int_equal(strlen(cJSON_GetStringValue(cJSON_GetObjectItem(line, "msg"))), 2999);
    cJSON_Delete(line);
    free(big);
    log_init("-", LB_LOG_INFO, NULL);
    fclose(sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields_and_escaping),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_long_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
