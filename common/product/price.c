/* price: the price table and the cost of a usage (see price.h). */
#include "product/price.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "core/errstr.h"
#include "core/utf8.h"

/* A price field of one model: 1 set, 0 absent, -1 invalid (errstr set). The members of the
 * price file are read with json_object_object_get_ex, not core's json_get: here a member
 * that is null is a mistake to report, not an absent one to default. */
static int price_field(json_object *m, const char *model, const char *field, double per,
                       double *out, char *errstr, size_t errlen)
{
    json_object *v;
    if (!json_object_object_get_ex(m, field, &v))
        return 0;
    if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)) {
        errstr_set(errstr, errlen, "models.%s.%s: want a number", model, field);
        return -1;
    }
    double x = json_object_get_double(v);
    if (!(x >= 0 && x < 1e6)) {
        errstr_set(errstr, errlen, "models.%s.%s: want a price from 0 to 1e6", model, field);
        return -1;
    }
    *out = x / per;
    return 1;
}

static int price_model_parse(json_object *m, const char *name, double per,
                             struct price_model *pm, char *errstr, size_t errlen)
{
    if (!json_object_is_type(m, json_type_object)) {
        errstr_set(errstr, errlen, "models.%s: want an object", name);
        return -1;
    }
    if (strlen(name) == 0 || strlen(name) >= sizeof pm->name) {
        errstr_set(errstr, errlen, "a model name must be 1..%zu bytes", sizeof pm->name - 1);
        return -1;
    }
    snprintf(pm->name, sizeof pm->name, "%s", name);
    int in = price_field(m, name, "input", per, &pm->input, errstr, errlen);
    int out = in < 0 ? -1 : price_field(m, name, "output", per, &pm->output, errstr, errlen);
    if (in < 0 || out < 0)
        return -1;
    if (in == 0 || out == 0) {
        errstr_set(errstr, errlen, "models.%s: \"input\" and \"output\" are required", name);
        return -1;
    }
    pm->cache_read = pm->input * 0.25;
    pm->cache_write = pm->input;
    if (price_field(m, name, "cache_read", per, &pm->cache_read, errstr, errlen) < 0 ||
        price_field(m, name, "cache_write", per, &pm->cache_write, errstr, errlen) < 0)
        return -1;
    return 0;
}

int price_table_parse(const char *text, size_t len, struct price_table *t, char *errstr,
                      size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (len > PRICE_FILE_MAX || !utf8_valid(text, len)) {
        errstr_set(errstr, errlen, "not UTF-8 text of at most %u bytes", PRICE_FILE_MAX);
        return -1;
    }
    json_tokener *tok = json_tokener_new();
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    int rc = -1;
    json_object *v, *models;
    if (!root || jerr != json_tokener_success) {
        errstr_set(errstr, errlen, "not JSON: %s", json_tokener_error_desc(jerr));
        goto out;
    }
    for (; used < len; used++)
        if (!strchr(" \t\r\n", text[used])) {
            errstr_set(errstr, errlen, "text after the JSON object");
            goto out;
        }
    if (!json_object_is_type(root, json_type_object)) {
        errstr_set(errstr, errlen, "want a JSON object");
        goto out;
    }
    snprintf(t->currency, sizeof t->currency, "USD");
    if (json_object_object_get_ex(root, "currency", &v)) {
        const char *s = json_object_get_string(v);
        if (!json_object_is_type(v, json_type_string) || strlen(s) == 0 ||
            strlen(s) >= sizeof t->currency) {
            errstr_set(errstr, errlen, "currency: want a short string like \"USD\"");
            goto out;
        }
        snprintf(t->currency, sizeof t->currency, "%s", s);
    }
    double per = 1000;
    if (json_object_object_get_ex(root, "per", &v)) {
        per = json_object_is_type(v, json_type_int) ? (double)json_object_get_int64(v) : 0;
        if (per != 1000 && per != 1000000) {
            errstr_set(errstr, errlen, "per: want 1000 or 1000000 (tokens a price is for)");
            goto out;
        }
    }
    if (!json_object_object_get_ex(root, "models", &models) ||
        !json_object_is_type(models, json_type_object) ||
        json_object_object_length(models) == 0) {
        errstr_set(errstr, errlen, "models: want an object of model name → prices");
        goto out;
    }
    json_object_object_foreach(models, name, m) {
        if (t->n_models == PRICE_MAX_MODELS) {
            errstr_set(errstr, errlen, "models: at most %d", PRICE_MAX_MODELS);
            goto out;
        }
        if (price_model_parse(m, name, per, &t->models[t->n_models], errstr, errlen) < 0)
            goto out;
        t->n_models++;
    }
    rc = 0;
out:
    json_object_put(root);
    return rc;
}

int price_table_load(const char *path, struct price_table *t, char *errstr, size_t errlen)
{
    char err[200];
    struct buf text;
    buf_init(&text, PRICE_FILE_MAX);
    int rc = buf_read_file(&text, path, errstr, errlen);
    if (rc == 0 && (rc = price_table_parse(buf_cstr(&text), text.len, t, err, sizeof err)) < 0)
        errstr_set(errstr, errlen, "%s: %s", path, err);
    buf_free(&text);
    return rc;
}

double price_cost(const struct price_table *t, const char *model, const struct token_usage *u)
{
    for (size_t i = 0; i < t->n_models; i++) {
        const struct price_model *p = &t->models[i];
        if (strcmp(model, p->name) == 0)
            return (double)u->input_tokens * p->input +
                   (double)u->cache_read_tokens * p->cache_read +
                   (double)u->cache_write_tokens * p->cache_write +
                   (double)u->output_tokens * p->output;
    }
    return 0;
}

void price_format(double usd, char *out, size_t n)
{
    snprintf(out, n, "%.8f", usd);
    size_t k = strlen(out); /* "0.00012300" → "0.000123"; "0.00000000" → "0" */
    while (k > 1 && out[k - 1] == '0')
        out[--k] = '\0';
    if (k > 0 && out[k - 1] == '.')
        out[--k] = '\0';
}
