/* product: what a nova-fcgi child knows about the product it serves, loaded once per child
 * (a SIGHUP reload starts children that load it afresh): the glossary, the prompt templates
 * and the search's synonyms, the prompt templates with the system prompts rendered once (byte-identical on every request, so Bedrock can
 * cache them), the price table, and the local knowledge base handle.
 *
 * Each rendered prompt has its name, the hex SHA-256 of its bytes: the answer jobs carry the
 * name ("system_sha256", job.h) and the prompt itself is stored once in Redis under
 * nova:prompt:<name> (store.h). A reload with a changed glossary or template renders other
 * bytes, so its jobs name another prompt; the old one stays for the jobs still queued.
 *
 * Everything here is immutable after product_load and shared by all threads of a child; the
 * knowledge-base handle does its own locking. */
#ifndef NOVA_PRODUCT_H
#define NOVA_PRODUCT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "kb/kb_local.h"
#include "product/glossary.h"
#include "product/lang.h"
#include "product/price.h"
#include "product/prompt.h"
#include "product/synonyms.h"
#include "redis/job.h"

struct product {
    struct glossary *glossary;
    struct synonyms *synonyms; /* NOVA_SYNONYMS_FILE; NULL when it is "" */
    struct prompt_templates *prompts;
    char *system_prompt;       /* system.txt with the glossary: every answer job */
    char *translate_to_ko;     /* translate.txt, English → Korean */
    char *translate_to_en;     /* translate.txt, Korean → English */
    char system_sha256[JOB_SHA256_HEX + 1];          /* their names */
    char translate_to_ko_sha256[JOB_SHA256_HEX + 1];
    char translate_to_en_sha256[JOB_SHA256_HEX + 1];
    struct price_table prices;
    struct kb_local *kb;       /* NOVA_KB_BACKEND=local; NULL for bedrock */
};

/* Loads every part named by cfg. open_kb opens the local index (read-only; children do, after
 * fork: SQLite handles must not cross one). Returns 0, or -1 with errstr naming the file and
 * the variable that points at it. */
int product_load(struct product *p, const struct nova_config *cfg, bool open_kb, char *errstr,
                 size_t errlen);
void product_free(struct product *p);

/* The translation system prompt for a target language, and its name. */
const char *product_translate_prompt(const struct product *p, enum lang target);
const char *product_translate_prompt_sha256(const struct product *p, enum lang target);

#endif
