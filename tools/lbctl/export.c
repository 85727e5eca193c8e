/*
 * export.c - `lbctl export --out FILE REQUEST|-`: a report download.
 *
 * Sends the request to lb.api.reporting.export (which builds the file and
 * answers its id and chunk count), then fetches every chunk with
 * lb.api.reporting.export_chunk under the same tenant and caller, decodes
 * it and writes the file. The byte count of the reply is checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_strict.h"
#include "lbctl.h"

/* Decodes base64 `in` into `out` (room for 3/4 of its length); -1 when malformed. */
static long base64_decode(const char *in, unsigned char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned bits = 0;
    int have = 0;
    long n = 0;

    for (const char *p = in; *p != '\0' && *p != '='; p++) {
        const char *at = strchr(alphabet, *p);

        if (at == NULL)
            return -1;
        bits = (bits << 6) | (unsigned)(at - alphabet);
        have += 6;
        if (have >= 8) {
            have -= 8;
            out[n++] = (unsigned char)(bits >> have);
        }
    }
    return n;
}

/* Sends `body` to lb.api.reporting.<endpoint>; the parsed reply, or NULL after saying why. */
static cJSON *ask(struct lbctl *ctl, const char *endpoint, const cJSON *body, int *ret_status)
{
    char subject[64];
    char *text = json_print((cJSON *)body);
    natsMsg *reply = NULL;
    const char *code = NULL;
    struct lb_why why = {{0}};
    cJSON *json = NULL;
    natsStatus s;

    snprintf(subject, sizeof(subject), "lb.api.reporting.%s", endpoint);
    s = text ? natsConnection_RequestString(&reply, ctl->nc, subject, text, ctl->timeout_ms)
             : NATS_NO_MEMORY;
    free(text);
    if (s != NATS_OK) {
        fprintf(stderr, "lbctl: %s: %s\n", subject,
                s == NATS_NO_RESPONDERS ? "no reporting service answers" : natsStatus_GetText(s));
        *ret_status = LBCTL_NATS;
        return NULL;
    }
    if (natsMsgHeader_Get(reply, "Nats-Service-Error-Code", &code) == NATS_OK && code != NULL) {
        fprintf(stderr, "lbctl: %s: %.*s\n", subject, natsMsg_GetDataLength(reply),
                natsMsg_GetData(reply));
        *ret_status = LBCTL_REPLY_ERROR;
    } else if (json_parse_strict(natsMsg_GetData(reply), (size_t)natsMsg_GetDataLength(reply),
                                 &json, &why) != LB_OK) {
        fprintf(stderr, "lbctl: %s: the reply is not JSON: %s\n", subject, why.text);
        *ret_status = LBCTL_REPLY_ERROR;
    }
    natsMsg_Destroy(reply);
    return json;
}

static int fetch_chunks(struct lbctl *ctl, const cJSON *request, const cJSON *made, FILE *out)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(made, "export_id"));
    double chunks = cJSON_GetNumberValue(cJSON_GetObjectItem(made, "chunks"));
    double bytes = cJSON_GetNumberValue(cJSON_GetObjectItem(made, "bytes"));
    cJSON *ask_chunk = cJSON_CreateObject();
    long written = 0;
    int status = LBCTL_OK;

    cJSON_AddItemToObject(ask_chunk, "tenant",
                          cJSON_Duplicate(cJSON_GetObjectItem(request, "tenant"), true));
    cJSON_AddItemToObject(ask_chunk, "caller",
                          cJSON_Duplicate(cJSON_GetObjectItem(request, "caller"), true));
    cJSON_AddStringToObject(ask_chunk, "export_id", id ? id : "");
    cJSON_AddNumberToObject(ask_chunk, "index", 0);
    for (int i = 0; status == LBCTL_OK && i < (int)chunks; i++) {
        cJSON *chunk;
        const char *data;
        unsigned char *raw;
        long n;

        cJSON_SetNumberValue(cJSON_GetObjectItem(ask_chunk, "index"), i);
        chunk = ask(ctl, "export_chunk", ask_chunk, &status);
        data = cJSON_GetStringValue(cJSON_GetObjectItem(chunk, "data"));
        raw = data ? malloc(strlen(data) / 4 * 3 + 3) : NULL;
        n = raw ? base64_decode(data, raw) : -1;
        if (status == LBCTL_OK && (n < 0 || fwrite(raw, 1, (size_t)n, out) != (size_t)n)) {
            fprintf(stderr, "lbctl: chunk %d is not base64 or cannot be written\n", i);
            status = LBCTL_REPLY_ERROR;
        }
        written += n > 0 ? n : 0;
        free(raw);
        cJSON_Delete(chunk);
    }
    cJSON_Delete(ask_chunk);
    if (status == LBCTL_OK && (double)written != bytes) {
        fprintf(stderr, "lbctl: got %ld bytes, the export has %.0f\n", written, bytes);
        status = LBCTL_REPLY_ERROR;
    }
    return status;
}

int lbctl_export(struct lbctl *ctl, int argc, char **argv)
{
    struct lb_why why = {{0}};
    cJSON *request = NULL;
    cJSON *made;
    size_t len = 0;
    char *text;
    FILE *out;
    int status = LBCTL_OK;

    if (argc != 4 || strcmp(argv[1], "--out") != 0) {
        fprintf(stderr, "usage: lbctl export --out FILE REQUEST|-\n");
        return LBCTL_USAGE;
    }
    text = strcmp(argv[3], "-") == 0 ? lbctl_read_input("-", LBCTL_DOCUMENT_MAX, &len)
                                     : strdup(argv[3]);
    if (text == NULL) {
        fprintf(stderr, "lbctl: cannot read the request\n");
        return LBCTL_USAGE;
    }
    if (json_parse_strict(text, strlen(text), &request, &why) != LB_OK ||
        lbctl_check_schema(ctl, "api/reporting.export.request.json", request, &why) != LB_OK) {
        fprintf(stderr, "lbctl: not sent: %s\n", why.text);
        free(text);
        cJSON_Delete(request);
        return LBCTL_INVALID;
    }
    free(text);
    made = ask(ctl, "export", request, &status);
    if (status == LBCTL_OK) {
        out = fopen(argv[2], "wb");
        if (out == NULL) {
            fprintf(stderr, "lbctl: cannot write %s\n", argv[2]);
            status = LBCTL_USAGE;
        } else {
            status = fetch_chunks(ctl, request, made, out);
            if (fclose(out) != 0 && status == LBCTL_OK)
                status = LBCTL_USAGE;
        }
    }
    if (status == LBCTL_OK) {
        char *summary = cJSON_PrintUnformatted(made);

        if (ctl->json)
            printf("%s\n", summary ? summary : "{}");
        else
            printf("wrote %s: %.0f bytes, %.0f rows (%s)\n", argv[2],
                   cJSON_GetNumberValue(cJSON_GetObjectItem(made, "bytes")),
                   cJSON_GetNumberValue(cJSON_GetObjectItem(made, "rows")),
                   cJSON_GetStringValue(cJSON_GetObjectItem(made, "content_type")));
        free(summary);
    }
    cJSON_Delete(made);
    cJSON_Delete(request);
    return status;
}
