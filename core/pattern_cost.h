/* An upper bound on the work Lua's pattern matcher may do, computed before it runs. The matcher runs in C, where
 * the sandbox's instruction hook cannot stop it, so the sandbox refuses a string.find/match/gmatch/gsub call whose
 * bound is too high instead of letting a backtracking pattern run for minutes. */
#ifndef FLINKOP_PATTERN_COST_H
#define FLINKOP_PATTERN_COST_H

#include <stddef.h>

/* At most how many item comparisons matching pattern p (plen bytes) against subject s (slen bytes) may take: the
 * start positions tried (1 when anchored with ^ and anchoring applies, else slen + 1), times, for every quantified
 * item (* + - ?), one more than the longest run of subject characters that item's class can take (1 for ?; %b
 * counts as the whole subject), times the pattern's length. This is how Lua's matcher backtracks: a quantifier
 * retries the rest of the pattern for each length it can take, and an item only ever takes a run of characters of
 * its class. */
double pattern_cost(const char *p, size_t plen, const char *s, size_t slen, int can_anchor);

#endif
