/* sim_translate: the simulated model's translations. A request whose system prompt asks for a
 * translation ("translat..." and "[in]to Korean" / "[in]to English") and carries no documents is
 * answered with the user's text, glossary names swapped: the glossary lines of the system
 * prompt ("- Paul (폴): ...", glossary_format's shape) map each Korean name to the English one
 * and back, longest first, and a Korean particle right after a name it replaced with English
 * is dropped ("폴이" → "Paul"). Everything else is kept as it is: the simulator cannot
 * translate, but the names — what the glossary is for — come out right, which tests check. */
#ifndef SIM_TRANSLATE_H
#define SIM_TRANSLATE_H

#include <stddef.h>

#include "core/buf.h"

/* 1 into Korean, 0 into English, -1 when system is not a translation prompt. */
int sim_translate_target(const char *system);

/* Appends the "translation" of text[0..n) into out. */
void sim_translate(const char *system, const char *text, size_t n, int into_korean,
                   struct buf *out);

#endif
