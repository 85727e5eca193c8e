/*
 * rules.c - reporting's pure rules, without I/O: license status from dates,
 * dates and calendar months, opaque cursors, CSV cells, base64, and what a
 * change of a license or subscription does to the per-scope counts.
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "reporting.h"

const char *rep_status_at(int64_t expires_ms, int64_t now_ms, int64_t window_ms)
{
    if (now_ms >= expires_ms)
        return "expired";
    if (now_ms >= expires_ms - window_ms)
        return "expiring";
    return "active";
}

bool rep_status_valid(const char *status)
{
    return strcmp(status, "active") == 0 || strcmp(status, "expiring") == 0 ||
           strcmp(status, "expired") == 0;
}

bool rep_date_parse(const char *text, int64_t *ret_ms)
{
    char stamp[32];
    char back[16];
    int64_t ms;

    if (strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return false;
    }
    (void)snprintf(stamp, sizeof(stamp), "%sT00:00:00Z", text);
    if (envelope_parse_time(stamp, &ms) != LB_OK)
        return false;
    rep_date_format(ms, back);
    if (strcmp(back, text) != 0) /* 2026-02-30 normalises to March: refuse */
        return false;
    *ret_ms = ms;
    return true;
}

void rep_date_format(int64_t ms, char ret_text[16])
{
    char stamp[32];

    envelope_format_time(ms, stamp);
    memcpy(ret_text, stamp, 10);
    ret_text[10] = '\0';
}

bool rep_month_parse(const char *text, int64_t *ret_start_ms, int64_t *ret_end_ms)
{
    char day[32];
    int64_t start, end;
    int year, month;

    if (strlen(text) != 7)
        return false;
    (void)snprintf(day, sizeof(day), "%s-01", text);
    if (!rep_date_parse(day, &start))
        return false;
    year = (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    month = (text[5] - '0') * 10 + (text[6] - '0');
    if (month == 12) {
        year++;
        month = 1;
    } else {
        month++;
    }
    (void)snprintf(day, sizeof(day), "%04d-%02d-01", year % 10000, month % 100);
    if (!rep_date_parse(day, &end))
        return false;
    *ret_start_ms = start;
    *ret_end_ms = end;
    return true;
}

void rep_month_of(int64_t ms, char ret_month[8])
{
    char stamp[32];

    envelope_format_time(ms, stamp);
    memcpy(ret_month, stamp, 7);
    ret_month[7] = '\0';
}

bool rep_cursor_encode(const char *text, char *ret, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(text);

    if (2 * n + 1 > size)
        return false;
    for (size_t i = 0; i < n; i++) {
        ret[2 * i] = hex[(unsigned char)text[i] >> 4];
        ret[2 * i + 1] = hex[(unsigned char)text[i] & 15];
    }
    ret[2 * n] = '\0';
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

bool rep_cursor_decode(const char *cursor, char *ret, size_t size)
{
    size_t n = strlen(cursor);

    if (n == 0 || n % 2 != 0 || n / 2 + 1 > size)
        return false;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(cursor[2 * i]);
        int lo = hex_value(cursor[2 * i + 1]);

        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        ret[i] = (char)(hi << 4 | lo);
    }
    ret[n / 2] = '\0';
    /* Cursors are org paths: "/root/.../org/". */
    return ret[0] == '/' && ret[n / 2 - 1] == '/';
}

void rep_csv_cell(FILE *f, const char *text, bool last)
{
    const char *t = text != NULL ? text : "";
    bool quote = strpbrk(t, ",\"\r\n") != NULL;
    bool formula = t[0] == '=' || t[0] == '+' || t[0] == '-' || t[0] == '@';

    /* A number such as -3 is data, not a formula. */
    if (formula && t[0] == '-' && t[1] >= '0' && t[1] <= '9')
        formula = false;
    if (quote)
        fputc('"', f);
    if (formula)
        fputc('\'', f);
    for (; *t != '\0'; t++) {
        if (*t == '"')
            fputc('"', f);
        fputc(*t, f);
    }
    if (quote)
        fputc('"', f);
    fputs(last ? "\r\n" : ",", f);
}

size_t rep_base64(const unsigned char *in, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    size_t o = 0;
    size_t i = 0;

    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[i + 1 < len ? v >> 6 & 63 : 64]; /* alphabet[64] is the padding */
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

bool rep_export_id_valid(const char *id)
{
    static const char crockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

    if (strlen(id) != 26)
        return false;
    for (const char *c = id; *c != '\0'; c++) {
        if (strchr(crockford, *c) == NULL)
            return false;
    }
    return true;
}

/* Whether scope[0..len) is an ancestor-or-self of one of the part's paths. */
static bool part_covers(const struct rep_part *p, const char *scope, size_t len)
{
    for (size_t i = 0; i < p->npaths; i++) {
        if (strlen(p->paths[i]) >= len && strncmp(p->paths[i], scope, len) == 0)
            return true;
    }
    return false;
}

/* What rep_part_diff passes along while it walks the scopes of one side. */
struct diff_walk {
    const struct rep_part *from, *to, *other;
    bool same_key, new_side;
    rep_delta_fn fn;
    void *arg;
};

static enum lb_err diff_scope(const struct diff_walk *w, const char *scope, size_t len,
                              struct lb_why *why)
{
    const struct rep_part *side = w->new_side ? w->to : w->from;
    int64_t d[REP_PART_VALUES];
    bool shared = w->same_key && part_covers(w->other, scope, len);
    bool any = false;

    if (shared && w->new_side)
        return LB_OK; /* counted once, from the old side */
    for (int k = 0; k < REP_PART_VALUES; k++) {
        d[k] = shared ? w->to->v[k] - w->from->v[k] : w->new_side ? side->v[k] : -side->v[k];
        any = any || d[k] != 0;
    }
    return any ? w->fn(w->arg, scope, len, shared || w->new_side, d, why) : LB_OK;
}

/* Each distinct '/'-ended prefix of the side's paths, the root's included, once. */
static enum lb_err diff_side(const struct diff_walk *w, struct lb_why *why)
{
    const struct rep_part *p = w->new_side ? w->to : w->from;
    enum lb_err err = LB_OK;

    for (size_t i = 0; err == LB_OK && i < p->npaths; i++) {
        const char *path = p->paths[i];

        if (path[0] == '\0')
            continue;
        for (size_t len = 2; err == LB_OK && path[len - 1] != '\0'; len++) {
            bool seen = false;

            if (path[len - 1] != '/')
                continue;
            for (size_t k = 0; k < i && !seen; k++)
                seen = strlen(p->paths[k]) >= len && strncmp(p->paths[k], path, len) == 0;
            if (!seen)
                err = diff_scope(w, path, len, why);
        }
    }
    return err;
}

enum lb_err rep_part_diff(const struct rep_part *from, const struct rep_part *to, bool same_key,
                          rep_delta_fn fn, void *arg, struct lb_why *why)
{
    struct diff_walk w = {from, to, to, same_key, false, fn, arg};
    enum lb_err err = diff_side(&w, why);

    if (err != LB_OK)
        return err;
    w.new_side = true;
    w.other = from;
    return diff_side(&w, why);
}
