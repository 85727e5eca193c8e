/*
 * input.c - reading what the user hands lbctl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbctl.h"

char *lbctl_read_input(const char *path, size_t max, size_t *ret_len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);

    if (f == NULL || buf == NULL) {
        free(buf);
        return NULL;
    }
    for (;;) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);

        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            char *grown = cap < max ? realloc(buf, cap * 2) : NULL;

            if (grown == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    if (f != stdin)
        fclose(f);
    if (buf != NULL) {
        buf[len] = '\0';
        *ret_len = len;
    }
    return buf;
}
