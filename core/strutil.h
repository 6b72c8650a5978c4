/* String helpers the API client, the kubeconfig reader and the credential plugin code share. */
#ifndef FLINKOP_STRUTIL_H
#define FLINKOP_STRUTIL_H

#include <stddef.h>
#include <time.h>

/* A malloc'd copy of s the caller frees, or NULL when s is NULL or memory runs out. */
char *strutil_dup(const char *s);

/* Formats a message into err; a NULL err or zero errlen means the caller wants no message. */
void strutil_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Overwrites a NUL-terminated string that may hold a secret, then frees it; NULL is fine. */
void strutil_free_secret(char *s);

/* Reads RFC 3339 as metav1.Time writes it (2006-01-02T15:04:05Z, with a fraction and/or a ±hh:mm offset) into
 * *out. Returns 0, or -1 when s is not of that form. */
int strutil_rfc3339_parse(const char *s, time_t *out);

#endif
