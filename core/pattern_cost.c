#include "pattern_cost.h"

#include <ctype.h>
#include <string.h>

/* Past this the caller refuses anyway: stop multiplying (and scanning the subject) early. */
#define COST_CEILING 1e18

/* Whether c is in the %-class cl (Lua's match_class): %a %c %d %g %l %p %s %u %w %x, upper case for the
 * complement; any other character stands for itself. */
static int class_has(int c, int cl)
{
    int res;
    switch (tolower(cl)) {
    case 'a': res = isalpha(c); break;
    case 'c': res = iscntrl(c); break;
    case 'd': res = isdigit(c); break;
    case 'g': res = isgraph(c); break;
    case 'l': res = islower(c); break;
    case 'p': res = ispunct(c); break;
    case 's': res = isspace(c); break;
    case 'u': res = isupper(c); break;
    case 'w': res = isalnum(c); break;
    case 'x': res = isxdigit(c); break;
    default: return cl == c;
    }
    return isupper(cl) ? !res : res != 0;
}

/* Whether c is in the set p[0] == '[' .. p[end] == ']' (Lua's matchbracketclass). */
static int set_has(int c, const char *p, size_t end)
{
    int in = 1;
    size_t i = 1;
    if (p[i] == '^') {
        in = 0;
        i++;
    }
    for (; i < end; i++) {
        if (p[i] == '%' && i + 1 < end) {
            if (class_has(c, (unsigned char)p[++i]))
                return in;
        } else if (i + 2 < end && p[i + 1] == '-') {
            if ((unsigned char)p[i] <= c && c <= (unsigned char)p[i + 2])
                return in;
            i += 2;
        } else if ((unsigned char)p[i] == c) {
            return in;
        }
    }
    return !in;
}

/* Where the single-character class starting at p[i] ends (one past it), or 0 when the pattern is malformed. */
static size_t class_end(const char *p, size_t plen, size_t i)
{
    if (p[i] == '%')
        return i + 2 <= plen ? i + 2 : 0;
    if (p[i] != '[')
        return i + 1;
    i++;
    if (i < plen && p[i] == '^')
        i++;
    do { /* the first character of a set is a member even when it is ']' */
        if (i >= plen)
            return 0;
        if (p[i++] == '%')
            i++;
    } while (i >= plen || p[i] != ']');
    return i + 1;
}

static int item_has(int c, const char *item, size_t len)
{
    if (item[0] == '.')
        return 1;
    if (item[0] == '%')
        return class_has(c, (unsigned char)item[1]);
    if (item[0] == '[')
        return set_has(c, item, len - 1);
    return (unsigned char)item[0] == c;
}

/* The longest run of subject characters the item can take in a row. */
static size_t longest_run(const char *item, size_t len, const char *s, size_t slen)
{
    size_t best = 0, run = 0;
    for (size_t i = 0; i < slen; i++) {
        run = item_has((unsigned char)s[i], item, len) ? run + 1 : 0;
        if (run > best)
            best = run;
    }
    return best;
}

double pattern_cost(const char *p, size_t plen, const char *s, size_t slen, int can_anchor)
{
    double factor = 1;
    size_t i = 0;
    int anchored = can_anchor && plen > 0 && p[0] == '^';
    if (anchored)
        i = 1;
    while (i < plen && factor < COST_CEILING) {
        if (p[i] == '(' || p[i] == ')' || (p[i] == '$' && i + 1 == plen)) {
            i++;
            continue;
        }
        if (p[i] == '%' && i + 1 < plen && p[i + 1] == 'b') { /* %bxy: balanced, may span the subject */
            factor *= (double)slen + 1;
            i += 4;
            continue;
        }
        if (p[i] == '%' && i + 1 < plen && p[i + 1] == 'f') { /* %f[set]: a frontier, zero width */
            size_t end = i + 2 < plen ? class_end(p, plen, i + 2) : 0;
            if (end == 0)
                return 0; /* malformed: Lua says so itself */
            i = end;
            continue;
        }
        size_t end = class_end(p, plen, i);
        if (end == 0)
            return 0;
        char q = end < plen ? p[end] : '\0';
        if (q == '*' || q == '+' || q == '-') {
            factor *= (double)longest_run(p + i, end - i, s, slen) + 1;
            end++;
        } else if (q == '?') {
            factor *= 2;
            end++;
        }
        i = end;
    }
    return (anchored ? 1 : (double)slen + 1) * factor * (double)(plen ? plen : 1);
}
