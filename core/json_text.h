/* JSON text that we write ourselves, because cJSON's printer mangles numbers: it prints 10^15 as 1e+15 and
 * integers above 2^53 lossily. Integral values print as integers, others with the shortest round-trip form. */
#ifndef FLINKOP_JSON_TEXT_H
#define FLINKOP_JSON_TEXT_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* Compact JSON, object keys sorted (strcmp order), so the same tree always prints the same text. Escapes only
 * what JSON requires (quote, backslash, control characters); UTF-8 is written as is. NaN and infinities print as
 * null. A NULL value prints "null". Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *json_print_sorted(const cJSON *value);

/* Writes the number `d` into buf as JSON/YAML would show it: "42", "-3", "1000000000000000", "0.5", "1e+300".
 * Integral values below 2^53 in magnitude print as integers (-0 prints "0"); others with the shortest of %.15g,
 * %.16g, %.17g that reads back to the same double. NaN and infinities print "null", as JSON has no form for them
 * (the YAML writer prints .nan/.inf/-.inf itself). 32 bytes of buf are always enough. Returns buf. */
const char *json_number_format(double d, char *buf, size_t buflen);

/* Deep equality of two JSON values, ignoring object key order; arrays compare in order, numbers as doubles (so 1
 * equals 1.0, and NaN equals NaN so an unchanged value never looks changed). Two NULLs are equal. */
int json_equal(const cJSON *a, const cJSON *b);

#endif
