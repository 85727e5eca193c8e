/*
 * metrics.c - a small Prometheus registry: families in registration order,
 * each with its samples in creation order. Samples are allocated one by one
 * so the slot pointers handed out never move. metrics_slot also returns
 * NULL for a name that is not a valid Prometheus metric name.
 */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sample {
    struct sample *next;
    char *labels; /* without braces; "" for none */
    double value;
};

struct family {
    struct family *next;
    char *name;
    char *help;
    enum metric_type type;
    struct sample *samples;
    struct sample **samples_tail;
};

struct metrics {
    struct family *families;
    struct family **families_tail;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));

    if (m != NULL)
        m->families_tail = &m->families;
    return m;
}

void metrics_free(struct metrics *m)
{
    struct family *f, *next_f;
    struct sample *s, *next_s;

    if (m == NULL)
        return;
    for (f = m->families; f != NULL; f = next_f) {
        next_f = f->next;
        for (s = f->samples; s != NULL; s = next_s) {
            next_s = s->next;
            free(s->labels);
            free(s);
        }
        free(f->name);
        free(f->help);
        free(f);
    }
    free(m);
}

static bool name_valid(const char *name)
{
    if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') ||
          name[0] == '_' || name[0] == ':'))
        return false;
    for (const char *p = name + 1; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == ':'))
            return false;
    }
    return true;
}

static struct family *family_get(struct metrics *m, enum metric_type type, const char *name,
                                 const char *help)
{
    struct family *f;

    for (f = m->families; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (f->name == NULL || f->help == NULL) {
        free(f->name);
        free(f->help);
        free(f);
        return NULL;
    }
    f->type = type;
    f->samples_tail = &f->samples;
    *m->families_tail = f;
    m->families_tail = &f->next;
    return f;
}

double *metrics_slot(struct metrics *m, enum metric_type type, const char *name, const char *help,
                     const char *labels)
{
    struct family *f;
    struct sample *s;

    if (!name_valid(name))
        return NULL;
    f = family_get(m, type, name, help);
    if (f == NULL)
        return NULL;
    if (labels == NULL)
        labels = "";
    for (s = f->samples; s != NULL; s = s->next) {
        if (strcmp(s->labels, labels) == 0)
            return &s->value;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->labels = strdup(labels);
    if (s->labels == NULL) {
        free(s);
        return NULL;
    }
    *f->samples_tail = s;
    f->samples_tail = &s->next;
    return &s->value;
}

/* A growing text buffer; `failed` sticks once an allocation fails. */
struct text {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
};

static void text_append(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_append(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->failed)
        return;
    va_start(ap, fmt);
    n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->failed = true;
        return;
    }
    if (t->buf == NULL || t->len + (size_t)n + 1 > t->cap) {
        size_t cap = (t->cap ? t->cap : 1024);
        char *grown;

        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        grown = realloc(t->buf, cap);
        if (grown == NULL) {
            t->failed = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
        va_start(ap, fmt);
        vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
    }
    t->len += (size_t)n;
}

static void append_help(struct text *t, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            text_append(t, "\\\\");
        else if (*p == '\n')
            text_append(t, "\\n");
        else
            text_append(t, "%c", *p);
    }
}

static void append_value(struct text *t, double v)
{
    if (isnan(v))
        text_append(t, "NaN\n");
    else if (isinf(v))
        text_append(t, v > 0 ? "+Inf\n" : "-Inf\n");
    else if (v == floor(v) && fabs(v) < 1e15)
        text_append(t, "%.0f\n", v);
    else
        text_append(t, "%.17g\n", v);
}

enum lb_err metrics_render(const struct metrics *m, char **ret_text, size_t *ret_len)
{
    struct text t = {0};

    text_append(&t, "%s", "");
    for (const struct family *f = m->families; f != NULL; f = f->next) {
        text_append(&t, "# HELP %s ", f->name);
        append_help(&t, f->help);
        text_append(&t, "\n# TYPE %s %s\n", f->name,
                    f->type == METRIC_COUNTER ? "counter" : "gauge");
        for (const struct sample *s = f->samples; s != NULL; s = s->next) {
            if (s->labels[0] != '\0')
                text_append(&t, "%s{%s} ", f->name, s->labels);
            else
                text_append(&t, "%s ", f->name);
            append_value(&t, s->value);
        }
    }
    if (t.failed) {
        free(t.buf);
        return LB_ENOMEM;
    }
    *ret_text = t.buf;
    *ret_len = t.len;
    return LB_OK;
}
