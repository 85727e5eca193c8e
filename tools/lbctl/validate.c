/*
 * validate.c - `lbctl validate SCHEMA FILE|-`: a document against the contract.
 */
#include <stdio.h>
#include <stdlib.h>

#include "json_strict.h"
#include "lbctl.h"

int lbctl_validate(struct lbctl *ctl, int argc, char **argv)
{
    struct lb_why why = {{0}};
    cJSON *json = NULL;
    size_t len = 0;
    char *text;
    enum lb_err err;

    if (argc != 3) {
        fprintf(stderr, "usage: lbctl validate SCHEMA FILE|-\n");
        return LBCTL_USAGE;
    }
    text = lbctl_read_input(argv[2], LBCTL_DOCUMENT_MAX, &len);
    if (text == NULL) {
        fprintf(stderr, "lbctl: cannot read %s\n", argv[2]);
        return LBCTL_USAGE;
    }
    err = json_parse_strict(text, len, &json, &why);
    if (err == LB_OK)
        err = lbctl_check_schema(ctl, argv[1], json, &why);
    cJSON_Delete(json);
    free(text);
    schema_set_free(ctl->schemas);
    ctl->schemas = NULL;
    if (err == LB_ENOTFOUND) {
        fprintf(stderr, "lbctl: %s\n", why.text);
        return LBCTL_USAGE;
    }
    if (err != LB_OK) {
        fprintf(stderr, "lbctl: invalid: %s\n", why.text);
        return LBCTL_INVALID;
    }
    printf("valid against %s\n", argv[1]);
    return LBCTL_OK;
}
