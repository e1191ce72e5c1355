/* product: the glossary, synonyms, prompts, prices and knowledge base of a child (see product.h). */
#include "product.h"

#include <stdlib.h>
#include <string.h>

#include "core/errstr.h"

static char *render(const struct product *p, enum prompt_kind k, const char *glossary_text,
                    const char *source, const char *target)
{
    const struct prompt_var vars[] = {
        {"glossary", glossary_text},
        {"source_language", source ? source : ""},
        {"target_language", target ? target : ""},
    };
    struct buf out;
    buf_init(&out, 4u * 1024u * 1024u);
    if (prompt_render(p->prompts, k, vars, sizeof vars / sizeof vars[0], &out) < 0) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out, NULL);
}

int product_load(struct product *p, const struct nova_config *cfg, bool open_kb, char *errstr,
                 size_t errlen)
{
    char err[512];
    memset(p, 0, sizeof *p);
    if (price_table_load(cfg->prices_file, &p->prices, err, sizeof err) < 0) {
        errstr_set(errstr, errlen, "NOVA_PRICES_FILE: %s", err);
        goto fail;
    }
    p->glossary = glossary_load_file(cfg->glossary_file, err, sizeof err);
    if (!p->glossary) {
        errstr_set(errstr, errlen, "NOVA_GLOSSARY_FILE: %s", err);
        goto fail;
    }
    if (cfg->synonyms_file[0]) {
        p->synonyms = synonyms_load_file(cfg->synonyms_file, err, sizeof err);
        if (!p->synonyms) {
            errstr_set(errstr, errlen, "NOVA_SYNONYMS_FILE: %s", err);
            goto fail;
        }
    }
    p->prompts = prompt_templates_load(cfg->prompts_dir, err, sizeof err);
    if (!p->prompts) {
        errstr_set(errstr, errlen, "NOVA_PROMPTS_DIR: %s", err);
        goto fail;
    }
    struct buf g;
    buf_init(&g, GLOSSARY_MAX_BYTES);
    int grc = glossary_format(p->glossary, &g);
    const char *gtext = buf_cstr(&g);
    p->system_prompt = grc < 0 ? NULL : render(p, PROMPT_SYSTEM, gtext, NULL, NULL);
    p->translate_to_ko = grc < 0 ? NULL : render(p, PROMPT_TRANSLATE, gtext, "English", "Korean");
    p->translate_to_en = grc < 0 ? NULL : render(p, PROMPT_TRANSLATE, gtext, "Korean", "English");
    buf_free(&g);
    if (!p->system_prompt || !p->translate_to_ko || !p->translate_to_en) {
        errstr_set(errstr, errlen, "NOVA_PROMPTS_DIR: the prompts with the glossary are too long");
        goto fail;
    }
    job_prompt_name(p->system_prompt, strlen(p->system_prompt), p->system_sha256);
    job_prompt_name(p->translate_to_ko, strlen(p->translate_to_ko), p->translate_to_ko_sha256);
    job_prompt_name(p->translate_to_en, strlen(p->translate_to_en), p->translate_to_en_sha256);
    if (!p->system_sha256[0] || !p->translate_to_ko_sha256[0] || !p->translate_to_en_sha256[0]) {
        errstr_set(errstr, errlen, "the prompts' SHA-256 could not be computed");
        goto fail;
    }
    if (open_kb && cfg->kb_backend == KB_LOCAL) {
        p->kb = kb_local_open(cfg->kb_db, false, err, sizeof err);
        if (!p->kb) {
            errstr_set(errstr, errlen,
                       "NOVA_KB_DB: %s (build the index with `novactl kb import DIR`)", err);
            goto fail;
        }
    }
    return 0;
fail:
    product_free(p);
    return -1;
}

void product_free(struct product *p)
{
    if (p->kb)
        kb_local_close(p->kb);
    prompt_templates_free(p->prompts);
    glossary_free(p->glossary);
    synonyms_free(p->synonyms);
    free(p->system_prompt);
    free(p->translate_to_ko);
    free(p->translate_to_en);
    memset(p, 0, sizeof *p);
}

const char *product_translate_prompt(const struct product *p, enum lang target)
{
    return target == LANG_KO ? p->translate_to_ko : p->translate_to_en;
}

const char *product_translate_prompt_sha256(const struct product *p, enum lang target)
{
    return target == LANG_KO ? p->translate_to_ko_sha256 : p->translate_to_en_sha256;
}
