/* kb_fts: the kb_hits() FTS5 function (see kb_fts.h): per row of a full-text query, the hits
 * of every phrase in every column, Latin phrases only where they are words. */
#include "kb/kb_fts.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/utf8.h"
#include "kb/kb_doc.h"
#include "kb/kb_query.h"

/* A walk through one column's text: ch characters lie before byte offset off. */
struct column_cursor {
    const char *text;
    int len;
    int ch, off;
    bool loaded;
};

/* Letters and digits that continue a word after a Latin term may be an ending ("refunds",
 * "enhancement"), unless there are so many that it is another word ("pass" in "password"). */
static int max_suffix(unsigned chars)
{
    return chars >= 6 ? 5 : 3;
}

/* Moves the cursor to the byte where character io starts (c->ch counts the characters, that
 * is the UTF-8 lead bytes, before c->off). Eight bytes at a time while character io is not
 * among them: a hit far into a long body should not cost a loop turn per byte. */
static bool cursor_seek(struct column_cursor *c, int io)
{
    if (io < c->ch)
        c->ch = c->off = 0;
    while (c->off + 8 <= c->len) {
        uint64_t x;
        memcpy(&x, c->text + c->off, 8);
        /* Continuation bytes are 10xxxxxx: bit 7 set, bit 6 clear. */
        uint64_t cont = x & ~(x << 1) & 0x8080808080808080ULL;
        int leads = 8 - __builtin_popcountll(cont);
        if (c->ch + leads > io)
            break;
        c->ch += leads;
        c->off += 8;
    }
    for (; c->off < c->len; c->off++) {
        if (((unsigned char)c->text[c->off] & 0xC0) == 0x80)
            continue;
        if (c->ch == io)
            return true;
        c->ch++;
    }
    return false;
}

/* Whether a Latin phrase of plen characters at character io of the column is a word (or a
 * word with an ending): no letter or digit right before it, few right after. */
static bool word_match(struct column_cursor *c, int io, unsigned plen)
{
    if (!cursor_seek(c, io))
        return false; /* the text is shorter than the index says: count nothing */
    if (c->off > 0 && kb_ascii_alnum((unsigned char)c->text[c->off - 1]))
        return false; /* inside a word: "paris" in "comparison" */
    size_t rest = (size_t)(c->len - c->off);
    int end = c->off + (int)utf8_prefix_chars(c->text + c->off, rest, plen);
    int more = 0;
    while (end + more < c->len && kb_ascii_alnum((unsigned char)c->text[end + more]))
        if (++more > max_suffix(plen))
            return false;
    return true;
}

/* kb_hits(docs_fts, kinds) (see kb_fts.h). A Latin phrase's hits are checked by word_match:
 * the trigram tokenizer's positions are character offsets into the column, so the column's
 * text tells what surrounds a hit. */
static void fts_hits(const Fts5ExtensionApi *api, Fts5Context *fc, sqlite3_context *ctx,
                     int nval, sqlite3_value **val)
{
    int nphrase = api->xPhraseCount(fc);
    if (nphrase < 0 || nphrase > KB_MAX_TERMS) {
        sqlite3_result_error(ctx, "kb_hits: too many phrases", -1);
        return;
    }
    const unsigned char *kinds = nval > 0 ? sqlite3_value_blob(val[0]) : NULL;
    int nkinds = nval > 0 ? sqlite3_value_bytes(val[0]) : 0;
    uint16_t counts[KB_MAX_TERMS][KB_FIELDS];
    memset(counts, 0, sizeof counts);
    struct column_cursor col[KB_FIELDS];
    memset(col, 0, sizeof col);

    int ninst = 0;
    if (api->xInstCount(fc, &ninst) != SQLITE_OK) {
        sqlite3_result_error(ctx, "kb_hits: xInstCount failed", -1);
        return;
    }
    for (int i = 0; i < ninst; i++) {
        int ip, ic, io;
        if (api->xInst(fc, i, &ip, &ic, &io) != SQLITE_OK || ip < 0 || ip >= nphrase ||
            ic < 0 || ic >= KB_FIELDS || io < 0)
            continue;
        if (kinds && ip < nkinds && kinds[ip]) {
            struct column_cursor *c = &col[ic];
            if (!c->loaded) {
                c->loaded = true;
                if (api->xColumnText(fc, ic, &c->text, &c->len) != SQLITE_OK || !c->text)
                    c->text = NULL, c->len = 0;
            }
            if (!word_match(c, io, kinds[ip]))
                continue;
        }
        if (counts[ip][ic] < UINT16_MAX)
            counts[ip][ic]++;
    }
    sqlite3_result_blob(ctx, counts, (int)((size_t)nphrase * sizeof counts[0]),
                        SQLITE_TRANSIENT);
}

int kb_fts_register(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    if (!api || api->iVersion < 2)
        return -1;
    return api->xCreateFunction(api, "kb_hits", NULL, fts_hits, NULL) == SQLITE_OK ? 0 : -1;
}
