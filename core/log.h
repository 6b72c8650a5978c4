/* Structured logs: one logfmt line per event, `ts=... level=... msg="..." key=value ...`, secrets redacted. */
#ifndef FLINKOP_LOG_H
#define FLINKOP_LOG_H

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

/* Not LOG_INFO etc.: <syslog.h> defines those as macros. */
enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Parses "debug", "info", "warn" (or "warning"), "error" for --log-level. Returns 0, or -1 when `s` is none of them
 * (then *out is unchanged). */
int log_level_parse(const char *s, enum log_level *out);

/* "debug", "info", "warn", "error". */
const char *log_level_name(enum log_level level);

/* Events below `level` are dropped. The default is info. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Whether an event at `level` would be written: lets a caller skip building costly values. */
int log_enabled(enum log_level level);

/* Where lines go; NULL restores stderr (the default). The stream is borrowed: the caller keeps it open. */
void log_set_output(FILE *out);

/* The clock for `ts=`; NULL restores clock_gettime(CLOCK_REALTIME). Tests pin it to get exact lines. */
void log_set_clock(void (*now)(struct timespec *ts));

/* Writes one line: ts, level, msg, then the key/value pairs given as const char * arguments ending with a NULL key,
 * e.g. log_msg(LOG_LEVEL_INFO, "watch restarted", "resource", "pods", "after", "410", NULL).
 * Values are quoted (with \" \\ \n \r \t \xHH escapes) when empty or when they hold a space, '=', '"' or a control
 * character, so an event is always one line; msg is always quoted. A NULL value prints as "". The value of a key
 * named token, authorization, password or secret (any case, also as the last part of a name such as bearer_token
 * or proxy-authorization) prints as "[redacted]". Keys are written with unsafe characters replaced by '_'. */
void log_msg(enum log_level level, const char *msg, ...);
void log_vmsg(enum log_level level, const char *msg, va_list pairs);

/* log_msg about one object: adds `object=namespace/name` (just `name` when namespace is NULL or empty, for
 * cluster-scoped objects) right after msg, so every line about an object can be found by grepping for it. */
void log_object(enum log_level level, const char *ns, const char *name, const char *msg, ...);

#endif
