/* kb_doc: one knowledge-base document, parsed from its bytes. No I/O (the import reads the
 * files), so tests/fuzz/fuzz_kb_doc.c drives it directly.
 *
 * A document is a Markdown file with optional front matter between "---" lines: "title:",
 * "url:" (or "source:"), "keywords:" (comma-separated search terms, indexed with a weight of
 * their own; tests/bedrock-sim reads the same files), "lang:". The title is the front
 * matter's, else the first "# " heading, else the file name; the text is the body without
 * front matter. */
#ifndef NOVA_KB_DOC_H
#define NOVA_KB_DOC_H

#include <stddef.h>

#define KB_DOC_MAX_BYTES (1024u * 1024u)   /* larger files are refused at import */

/* The fields a document is searched by; also the column numbers of the full-text index. */
enum kb_field { KB_FIELD_TITLE, KB_FIELD_KEYWORDS, KB_FIELD_BODY, KB_FIELDS };

/* One parsed Markdown document (kb_doc_parse). Strings are owned by the doc; all are non-NULL
 * after a successful parse ("" when the front matter has no such key, except title). */
struct kb_doc {
    char *title, *url, *keywords, *lang, *body;
};
/* Parses one document's bytes (no I/O). name is the file name, the title of last resort (a
 * ".md" ending dropped). A UTF-8 byte order mark is skipped, CRLF line ends become LF, the body
 * is trimmed of blank lines at both ends. url must be http(s):// (it becomes a link on the
 * page); lang is a tag of letters, digits and '-' (lower-cased). Returns 0, or -1 with errstr
 * and d zeroed (not UTF-8, NUL inside, larger than KB_DOC_MAX_BYTES, unterminated front
 * matter, a field too long or malformed, no text). */
int kb_doc_parse(const char *text, size_t len, const char *name, struct kb_doc *d,
                 char *errstr, size_t errlen);
void kb_doc_free(struct kb_doc *d);

#endif
