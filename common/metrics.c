/*
 * metrics.c - a small Prometheus registry and its text exposition (0.0.4).
 *
 * Families are kept in registration order, each with its samples in
 * creation order. Every sample is allocated on its own, so the value slot
 * handed out by metrics_slot never moves until metrics_free. Names and label
 * sets are checked when a slot is created, so whatever metrics_render writes
 * is valid exposition text.
 */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values of at most this magnitude that are whole are written as integers ("42"). */
#define METRICS_INTEGER_MAX 9007199254740992.0 /* 2^53: every whole double up to here is exact */

/* Room for any double in %.17g ("-2.2250738585072014e-308") plus the NUL. */
#define METRICS_NUMBER_MAX 32

/* First size of the render buffer; it doubles as needed. */
#define METRICS_RENDER_START 1024

/* One value, keyed by its label set. */
struct sample {
    struct sample *next;
    char *labels; /* Prometheus label syntax without braces; "" for none */
    double value; /* the slot handed out by metrics_slot */
};

/* One metric name with its help, its type and its samples. */
struct family {
    struct family *next;
    char *name;
    char *help; /* raw text; escaped when rendered */
    enum metric_type type;
    struct sample *samples;       /* in creation order */
    struct sample **samples_tail; /* where the next sample is linked */
};

struct metrics {
    struct family *families;       /* in registration order */
    struct family **families_tail; /* where the next family is linked */
};

/* An empty registry; NULL when out of memory. */
struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));

    if (m != NULL)
        m->families_tail = &m->families;
    return m;
}

static void family_free(struct family *f)
{
    struct sample *next;

    for (struct sample *s = f->samples; s != NULL; s = next) {
        next = s->next;
        free(s->labels);
        free(s);
    }
    free(f->name);
    free(f->help);
    free(f);
}

/* Frees every family and sample; every slot pointer dies with them. */
void metrics_free(struct metrics *m)
{
    struct family *next;

    if (m == NULL)
        return;
    for (struct family *f = m->families; f != NULL; f = next) {
        next = f->next;
        family_free(f);
    }
    free(m);
}

static bool is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
static bool metric_name_valid(const char *name)
{
    if (!is_letter(name[0]) && name[0] != ':')
        return false;
    for (const char *p = name + 1; *p != '\0'; p++) {
        if (!is_letter(*p) && !is_digit(*p) && *p != ':')
            return false;
    }
    return true;
}

/*
 * A label set without braces: `name="value"` pairs separated by commas,
 * names [a-zA-Z_][a-zA-Z0-9_]*, values escaped as \\, \" and \n; "" is none.
 */
static bool labels_valid(const char *labels)
{
    const char *p = labels;

    if (*p == '\0')
        return true;
    for (;;) {
        if (!is_letter(*p))
            return false;
        while (is_letter(*p) || is_digit(*p))
            p++;
        if (*p++ != '=' || *p++ != '"')
            return false;
        while (*p != '"') {
            if (*p == '\0' || *p == '\n')
                return false;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return false;
            }
            p++;
        }
        p++; /* the closing quote */
        if (*p == '\0')
            return true;
        if (*p++ != ',')
            return false;
    }
}

static struct family *family_find(const struct metrics *m, const char *name)
{
    for (struct family *f = m->families; f != NULL; f = f->next) {
        if (strcmp(f->name, name) == 0)
            return f;
    }
    return NULL;
}

static struct family *family_add(struct metrics *m, enum metric_type type, const char *name,
                                 const char *help)
{
    struct family *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->type = type;
    f->samples_tail = &f->samples;
    f->name = strdup(name);
    f->help = strdup(help);
    if (f->name == NULL || f->help == NULL) {
        family_free(f);
        return NULL;
    }
    *m->families_tail = f;
    m->families_tail = &f->next;
    return f;
}

static double *sample_slot(struct family *f, const char *labels)
{
    struct sample *s;

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

/*
 * Besides running out of memory, returns NULL when `name` is not a valid
 * Prometheus metric name or `labels` is not a valid label set: nothing is
 * registered then, so the rendered text stays valid. NULL help or labels
 * count as "".
 */
double *metrics_slot(struct metrics *m, enum metric_type type, const char *name, const char *help,
                     const char *labels)
{
    struct family *f;

    if (labels == NULL)
        labels = "";
    if (name == NULL || !metric_name_valid(name) || !labels_valid(labels))
        return NULL;
    f = family_find(m, name);
    if (f == NULL)
        f = family_add(m, type, name, help != NULL ? help : "");
    if (f == NULL)
        return NULL;
    return sample_slot(f, labels);
}

/* A growing text buffer; `failed` sticks once an allocation fails. */
struct text {
    char *buf;
    size_t len;
    size_t cap;
    bool failed;
};

/* Makes room for `more` bytes plus a NUL. */
static bool text_reserve(struct text *t, size_t more)
{
    size_t cap = t->cap != 0 ? t->cap : METRICS_RENDER_START;
    char *grown;

    if (t->failed)
        return false;
    if (more > SIZE_MAX / 2 - t->len) {
        t->failed = true;
        return false;
    }
    while (cap < t->len + more + 1)
        cap *= 2;
    if (cap == t->cap)
        return true;
    grown = realloc(t->buf, cap);
    if (grown == NULL) {
        t->failed = true;
        return false;
    }
    t->buf = grown;
    t->cap = cap;
    return true;
}

static void text_add(struct text *t, const char *bytes, size_t n)
{
    if (!text_reserve(t, n))
        return;
    memcpy(t->buf + t->len, bytes, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static void text_add_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

/* Help text escapes backslash and newline (and nothing else) in format 0.0.4. */
static void text_add_help(struct text *t, const char *help)
{
    const char *run = help;

    for (const char *p = help; *p != '\0'; p++) {
        if (*p != '\\' && *p != '\n')
            continue;
        text_add(t, run, (size_t)(p - run));
        text_add_str(t, *p == '\\' ? "\\\\" : "\\n");
        run = p + 1;
    }
    text_add_str(t, run);
}

/*
 * Writes a value as Prometheus does: NaN, +Inf, -Inf; whole numbers without
 * a decimal point or exponent; others in the shortest %g form that reads
 * back as the same double (at most 17 significant digits).
 */
static void format_value(double v, char ret[METRICS_NUMBER_MAX])
{
    if (isnan(v)) {
        snprintf(ret, METRICS_NUMBER_MAX, "%s", "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(ret, METRICS_NUMBER_MAX, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) <= METRICS_INTEGER_MAX) {
        snprintf(ret, METRICS_NUMBER_MAX, "%lld", (long long)v);
        return;
    }
    for (int digits = 15; digits < 17; digits++) {
        snprintf(ret, METRICS_NUMBER_MAX, "%.*g", digits, v);
        if (strtod(ret, NULL) == v)
            return;
    }
    snprintf(ret, METRICS_NUMBER_MAX, "%.17g", v);
}

static void render_family(struct text *t, const struct family *f)
{
    char value[METRICS_NUMBER_MAX];

    text_add_str(t, "# HELP ");
    text_add_str(t, f->name);
    text_add_str(t, " ");
    text_add_help(t, f->help);
    text_add_str(t, "\n# TYPE ");
    text_add_str(t, f->name);
    text_add_str(t, f->type == METRIC_COUNTER ? " counter\n" : " gauge\n");
    for (const struct sample *s = f->samples; s != NULL; s = s->next) {
        text_add_str(t, f->name);
        if (s->labels[0] != '\0') {
            text_add_str(t, "{");
            text_add_str(t, s->labels);
            text_add_str(t, "}");
        }
        format_value(s->value, value);
        text_add_str(t, " ");
        text_add_str(t, value);
        text_add_str(t, "\n");
    }
}

/* Writes HELP, TYPE and the samples of each family; out-params are set on success only. */
enum lb_err metrics_render(const struct metrics *m, char **ret_text, size_t *ret_len)
{
    struct text t = {0};

    text_add(&t, "", 0); /* an empty registry renders as "", not NULL */
    for (const struct family *f = m->families; f != NULL; f = f->next)
        render_family(&t, f);
    if (t.failed) {
        free(t.buf);
        return LB_ENOMEM;
    }
    *ret_text = t.buf;
    *ret_len = t.len;
    return LB_OK;
}
