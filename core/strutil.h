/* String helpers the API client, the kubeconfig reader and the credential plugin code share. */
#ifndef FLINKOP_STRUTIL_H
#define FLINKOP_STRUTIL_H

#include <stddef.h>
#include <stdio.h>
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

/* A growable byte buffer. Zero-initialise it ({0}); data stays NULL until the first append and is NUL-terminated
 * at len after every append, so text built in it is a C string (binary bytes are kept too). The buffer owns data
 * until strbuf_take hands it to the caller; strbuf_free releases it. `failed` latches the first allocation
 * failure: later appends do nothing, so a builder may check once at the end. A caller may set it too, to spoil a
 * text that must not be used (strbuf_take then returns NULL). */
struct strbuf {
    char *data;
    size_t len, cap;
    int failed;
};

/* Appends n bytes of p. Returns 0, or -1 when out of memory or already failed (the buffer is then unchanged). */
int strbuf_append(struct strbuf *b, const void *p, size_t n);

/* Appends a NUL-terminated string; same returns as strbuf_append. */
int strbuf_appends(struct strbuf *b, const char *s);

/* Appends printf-style text; same returns as strbuf_append. */
int strbuf_appendf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends everything f has left. Returns 0, or -1 with errno EFBIG when the buffer would hold more than max bytes,
 * ENOMEM when out of memory, or the read error's errno (the bytes read so far stay in the buffer). */
int strbuf_read(struct strbuf *b, FILE *f, size_t max);

/* Hands the bytes to the caller, who frees them: a malloc'd NUL-terminated string ("" when nothing was appended),
 * its length in *len when len is not NULL. Returns NULL when out of memory or failed (the bytes are freed then).
 * Either way the buffer is left empty and reusable. */
char *strbuf_take(struct strbuf *b, size_t *len);

/* Frees the bytes and leaves the buffer empty and reusable. */
void strbuf_free(struct strbuf *b);

/* strbuf_free for bytes that may hold a secret: the whole allocation is overwritten first. */
void strbuf_free_secret(struct strbuf *b);

#endif
