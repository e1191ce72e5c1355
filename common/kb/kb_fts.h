/* kb_fts: kb_hits(), the FTS5 function the full-text query of a search counts its hits with,
 * registered on every connection the store opens.
 *
 * kb_hits(docs_fts, kinds) returns a blob of uint16 counts [phrase][column] of the row's hits.
 * kinds, built by the search, is a blob of one byte per phrase: 0 counts every hit; n > 0
 * marks a Latin phrase of n characters that counts only where it is a word, endings allowed
 * ("refunds"; the trigram index alone would find "paris" in "comparison"). */
#ifndef NOVA_KB_FTS_H
#define NOVA_KB_FTS_H

#include <sqlite3.h>

/* Registers kb_hits() on db. 0, or -1 when SQLite lacks FTS5. */
int kb_fts_register(sqlite3 *db);

#endif
