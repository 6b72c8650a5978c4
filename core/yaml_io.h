/* YAML in and out of cJSON trees.
 *
 * The reader turns a multi-document YAML stream into cJSON values, typing plain scalars the way Kubernetes'
 * YAML decoder does (null, booleans, integers, floats; quoted scalars are always strings). The writer prints a
 * cJSON value as block-style YAML that `kubectl apply -f -` reads back to the same value: strings that a YAML
 * reader would take for another type ("true", "1", "", "null", "0755", "a: b") are quoted, keys are sorted.
 *
 * Typing of plain (unquoted, untagged) scalars follows sigs.k8s.io/yaml, i.e. go-yaml v2 and YAML 1.1; it was
 * checked against sigs.k8s.io/yaml v1.6.0 on ~20,000 generated scalars:
 *   null:    "", ~, null, Null, NULL
 *   bool:    true True TRUE yes Yes YES on On ON y Y / false False FALSE no No NO off Off OFF n N
 *   integer: Go's ParseInt syntax after dropping every '_': optional sign, then 0x.. hex, 0o.. or 0.. octal
 *            (0755 is 493), 0b.. binary, or decimal. "08" is not octal and reads as the float 8, as in go-yaml.
 *   float:   [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?  (1.5, 1e3, .5, 1.), and .inf/.Inf/.INF, +.inf,
 *            -.inf, .nan/.NaN/.NAN. A float too large for a double (1e400) stays a string, as in go-yaml.
 *   string:  anything else, including dates (2001-12-14) and 1:30 (go-yaml keeps those strings too).
 * Quoted scalars, block scalars (| and >), and scalars tagged !!str, ! or an unknown tag are strings. A scalar
 * tagged !!int, !!float, !!bool or !!null is typed like plain text and must match its tag; !!binary is refused.
 *
 * Where we differ from kubectl, we refuse rather than guess:
 *   - an integer a double cannot hold exactly (9007199254740993, anything past 2^64) is an error, where go-yaml
 *     keeps an int64 or rounds to a float; integers up to 2^53, and larger ones a double holds exactly, are fine;
 *   - merge keys (<<), aliases or collections as mapping keys, anchors on keys, and NUL characters are errors;
 *   - duplicate keys are errors ("name:line:col: duplicate key \"x\""), also when one is written 1 and one "1";
 *   - a non-string scalar key keeps its text: `1:` is key "1", `yes:` is key "yes" (kubectl would make it "true").
 * Aliases are deep copies. A stream may hold at most 1,000,000 nodes, alias copies included ("billion laughs"
 * inputs fail fast), and nest at most 1000 levels deep. Anchors are scoped to their document.
 */
#ifndef FLINKOP_YAML_H
#define FLINKOP_YAML_H

#include <stddef.h>
#include <cjson/cJSON.h>

/* One document of a stream and where it starts in its source. */
struct yaml_doc {
    cJSON *value; /* owned by the yaml_stream; never NULL and never a JSON null */
    int line;     /* 1-based line of the document's first node (not of its `---`) */
};

struct yaml_stream {
    struct yaml_doc *docs;
    size_t count;
};

/* Parses every document of `text` (`len` bytes; no terminating NUL needed). `name` is used in messages only.
 * Documents whose value is null (a stream of comments, `---` alone, or a bare `null`/`~`) are skipped. Returns 0
 * and fills *out (free with yaml_stream_free), or -1 with `name:line:column: what is wrong` in err (1-based;
 * libyaml's own problem and context for malformed or truncated input, "name: out of memory" without a position)
 * and *out empty. err is always NUL-terminated and truncated to errlen. */
int yaml_stream_parse(const char *text, size_t len, const char *name, struct yaml_stream *out, char *err,
                      size_t errlen);

/* Reads and parses a file; path "-" reads standard input, named "<stdin>" in messages. Same contract as
 * yaml_stream_parse; a file that cannot be read gives "path: cannot read: <strerror>". */
int yaml_stream_read_file(const char *path, struct yaml_stream *out, char *err, size_t errlen);

/* Frees every document and empties *s; safe on an empty stream, and to call twice. */
void yaml_stream_free(struct yaml_stream *s);

/* Prints `value` as one YAML document (no leading `---`; a `...` line may end it after a string that keeps
 * trailing newlines). Block style, indent 2, no line folding, UTF-8 unescaped; `{}` and `[]` for empties. Object
 * keys are printed sorted (strcmp). A string is double-quoted when a YAML 1.1 or 1.2 reader (ours, go-yaml,
 * PyYAML) could read its plain form as anything else: null/bool words above, anything number- or date-like,
 * leading/trailing blanks, a leading indicator (-?:,[]{}#&*!|>'"%@`), ": " or " #" inside, a trailing ':', "<<"
 * and "=". Multi-line strings use a literal block (|, |-, |+) unless a line ends in blanks, the text starts with
 * a blank or newline, or holds a CR; then double quotes. Numbers print with json_number_format, NaN and
 * infinities as .nan/.inf/-.inf; a NULL value prints as null. Whatever is printed reads back (yaml_stream_parse)
 * to a json_equal tree. Returns a malloc'd NUL-terminated string the caller frees, or NULL when out of memory or
 * when the tree has no YAML form: a string that is not UTF-8, a repeated key in one object, a cJSON_Raw item. */
char *yaml_emit(const cJSON *value);

#endif
