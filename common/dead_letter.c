/*
 * dead_letter.c - building and queueing dead letters.
 */
#include "dead_letter.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "envelope.h"
#include "ids.h"
#include "outbox.h"
#include "subjects.h"

/* True when `len` bytes are well-formed UTF-8 without NUL (JSON strings can carry them). */
static bool utf8_valid(const unsigned char *p, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;

        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= len) /* truncated sequence */
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        /* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return false;
        i += n + 1;
    }
    return true;
}

/* Standard base64 with padding. None of our libraries exports an encoder. */
static char *base64_encode(const unsigned char *p, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;

        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = (char)(i + 1 < len ? alphabet[(v >> 6) & 63] : '=');
        out[o++] = (char)(i + 2 < len ? alphabet[v & 63] : '=');
    }
    out[o] = '\0';
    return out;
}

static bool add_payload(cJSON *root, const struct dead_letter *dl)
{
    char *text;
    bool ok;

    if (utf8_valid(dl->payload, dl->len)) {
        text = malloc(dl->len + 1);
        if (text == NULL)
            return false;
        memcpy(text, dl->payload, dl->len);
        text[dl->len] = '\0';
        ok = cJSON_AddStringToObject(root, "payload", text) != NULL;
    } else {
        text = base64_encode(dl->payload, dl->len);
        if (text == NULL)
            return false;
        ok = cJSON_AddStringToObject(root, "payload_base64", text) != NULL;
    }
    free(text);
    return ok;
}

char *dead_letter_body(const struct dead_letter *dl)
{
    char when[32];
    cJSON *root = cJSON_CreateObject();
    cJSON *reason = cJSON_AddObjectToObject(root, "reason");
    char *text = NULL;
    bool ok;

    envelope_format_time(dl->now_ms, when);
    ok = reason != NULL && cJSON_AddStringToObject(root, "service", dl->service) &&
         cJSON_AddStringToObject(reason, "code", lb_err_code(dl->code)) &&
         cJSON_AddStringToObject(reason, "message", dl->reason) &&
         cJSON_AddStringToObject(root, "subject", dl->subject) &&
         (dl->stream ? cJSON_AddStringToObject(root, "stream", dl->stream)
                     : cJSON_AddNullToObject(root, "stream")) &&
         (dl->stream_seq ? cJSON_AddNumberToObject(root, "stream_sequence", (double)dl->stream_seq)
                         : cJSON_AddNullToObject(root, "stream_sequence")) &&
         cJSON_AddNumberToObject(root, "deliveries",
                                 (double)(dl->deliveries ? dl->deliveries : 1)) &&
         cJSON_AddStringToObject(root, "received_at", when) &&
         (dl->event_id ? cJSON_AddStringToObject(root, "event_id", dl->event_id)
                       : cJSON_AddNullToObject(root, "event_id")) &&
         add_payload(root, dl);
    if (ok)
        text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

enum lb_err dead_letter_add(struct store *s, const struct dead_letter *dl, struct lb_why *why)
{
    char subject[SUBJECT_MAX];
    char origin[SUBJECT_MAX + 32];
    char msg_id[ID_LEN + 1];
    enum lb_err err;
    char *body;

    err = subject_dead_letter(subject, dl->service);
    if (err != LB_OK)
        return lb_fail(why, err, "invalid service name %s", dl->service);
    /* Same message, same dead-letter id: a retried dead-lettering is dropped by the stream. */
    snprintf(origin, sizeof(origin), "%s/%llu/%s", dl->stream ? dl->stream : dl->subject,
             (unsigned long long)dl->stream_seq, dl->event_id ? dl->event_id : "");
    id_derive(msg_id, dl->now_ms, origin, "dead-letter");
    body = dead_letter_body(dl);
    if (body == NULL)
        return lb_fail(why, LB_ENOMEM, "out of memory building a dead letter");
    err = outbox_add(s, subject, msg_id, body, strlen(body), dl->now_ms, why);
    free(body);
    return err;
}
